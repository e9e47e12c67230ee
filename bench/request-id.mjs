// Cost of minting one request id (`newRequestId`, 144 CSPRNG bits from a pooled, pre-encoded buffer), which the
// gateway does for every request, next to what it replaced (a per-process prefix and a counter) and to
// the unpooled ways of drawing 128 random bits. Run after `npm run build`:
//   node bench/request-id.mjs [ids per round, default 2000000]
// Rounds alternate between the variants; the best round of each is reported (the machine is shared).
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import { newRequestId } from '../dist/gateway/headers.js';

const N = Number(process.argv[2] ?? 2_000_000);
const ROUNDS = 5;

const prefix = randomBytes(8).toString('hex');
let seq = 0;
const variants = {
  'newRequestId (pooled randomFillSync, pre-encoded base64url)': () => newRequestId(),
  'old: prefix + counter (64 bits per process)': () => `${prefix}-${(++seq).toString(36)}`,
  'randomBytes(16) per id, base64url': () => randomBytes(16).toString('base64url'),
  'crypto.randomUUID (node pools too)': () => randomUUID(),
};

console.log(`# flywheel request-id benchmark, ${new Date().toISOString()}`);
console.log(`# command: node bench/request-id.mjs ${N}`);
console.log(
  `# machine: ${os.cpus()[0]?.model ?? 'unknown cpu'} x${os.availableParallelism()}, node ${process.version}`,
);
console.log(
  `# load average at start: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);

const best = Object.fromEntries(Object.keys(variants).map((k) => [k, Infinity]));
let sink = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of Object.entries(variants)) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) sink += fn().length;
    const ns = Number(process.hrtime.bigint() - t0) / N;
    best[name] = Math.min(best[name], ns);
  }
}
for (const [name, ns] of Object.entries(best)) console.log(`${ns.toFixed(1).padStart(8)} ns/id  ${name}`);
console.log(
  `# load average at end: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}  (checksum ${sink})`,
);
