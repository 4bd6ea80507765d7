'use strict';
// Server process for test/reconnect.test.ts. argv: <dist/index.js> <endpoint> [pauseAt]
// Prints "listening", then "f <n>" for each frame received (n: the frame's first four bytes, big-endian).
// With pauseAt, the connection stops reading after frame pauseAt and prints "paused": whatever the
// client sends after that piles up in the kernel's buffers and then in the client's write queue.
const [, , dist, endpoint, pauseAt] = process.argv;
const ipc = require(dist);
const say = (line) => process.stdout.write(line + '\n');
const stop = pauseAt === undefined ? -1 : Number(pauseAt);

ipc.listen(endpoint).then((server) => {
  server.on('connection', (t) => {
    say('connection');
    t.on('error', (e) => say(`error ${e.code}`));
    t.on('message', (m) => {
      const n = m.readUInt32BE(0);
      say(`f ${n}`);
      if (n === stop) {
        t.pause();
        say('paused');
      }
    });
  });
  say('listening');
});
