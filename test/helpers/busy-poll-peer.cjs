'use strict';
// A ping-pong peer for the busy-polling tests, run as its own process (often pinned with taskset).
//   node busy-poll-peer.cjs server PATH BUSYPOLL       echoes every frame; exits when its client leaves
//   node busy-poll-peer.cjs client PATH BUSYPOLL N     N round trips, then prints "DONE <n> <pollms>"
const { connect, listen } = require('../../dist/index.js');

const [role, path, busyPoll, count] = process.argv.slice(2);
const bp = Number(busyPoll);

(async () => {
  if (role === 'server') {
    const server = await listen(`unix:${path}`, { busyPoll: bp });
    server.on('connection', (t) => {
      t.on('message', (f) => t.send(f));
      t.on('close', () => server.close());
    });
    process.stdout.write('READY\n');
    return;
  }
  const n = Number(count);
  const t = await connect(`unix:${path}`, { busyPoll: bp });
  const payload = Buffer.alloc(64, 7);
  let done = 0;
  t.on('message', () => {
    if (++done < n) {
      t.send(payload);
      return;
    }
    process.stdout.write(`DONE ${done} ${t.stats.busyPollTime.toFixed(3)}\n`);
    t.close();
  });
  t.send(payload);
})();
