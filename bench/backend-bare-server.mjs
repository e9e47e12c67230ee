// The baseline of bench/backend.mjs: a bare node:http server that reads the body, parses the JSON and
// answers a small JSON object — what any Node server must do at least, with no framework and no model.
import { Buffer } from 'node:buffer';
import http from 'node:http';

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let input;
    try {
      input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"bad json"}');
      return;
    }
    const y = Number(input.avg_session_duration) || 0;
    const body = JSON.stringify({ engagement_score: y, prediction: y, model_version: 'bare', host: 'bare' });
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(body);
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
