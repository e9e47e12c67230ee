// A floor for bench/gateway.mjs --reference: a byte pipe on net.Socket, no HTTP at all (each client
// connection is piped to one backend connection, round robin). What Node's socket layer alone costs.
//
//   node bench/gateway.mjs --reference pipe=bench/floors/pipe.mjs
import net from 'node:net';
import { URL } from 'node:url';

const port = Number(process.env.FLYWHEEL_BENCH_PORT);
const backends = process.env.FLYWHEEL_BENCH_BACKENDS.split(',').map((u) => new URL(u));
let next = 0;
net
  .createServer({ noDelay: true }, (client) => {
    const b = backends[next++ % backends.length];
    const upstream = net.connect({ host: b.hostname, port: Number(b.port), noDelay: true });
    client.pipe(upstream);
    upstream.pipe(client);
    const done = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) s.on('error', done).on('close', done);
  })
  .listen(port, '127.0.0.1');
