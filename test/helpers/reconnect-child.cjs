'use strict';
// Client process for the process-lifetime tests of test/reconnect.test.ts.
// argv: <dist/index.js> <mode> <endpoint> <frames>
// Sends <frames> numbered frames (first four bytes big-endian) through reconnecting() and prints one
// line per milestone; the test reads them back.
const [, , dist, mode, endpoint, count] = process.argv;
const ipc = require(dist);
const say = (line) => process.stdout.write(line + '\n');
const n = Number(count);
// Timers still pending: none may outlive close().
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

function frame(i) {
  const b = Buffer.alloc(64, i & 0xff);
  b.writeUInt32BE(i, 0);
  return b;
}

const r = ipc.reconnecting(endpoint, { initialDelay: 20, maxDelay: 100 });
const drops = [];
r.on('drop', (f, reason) => drops.push(`${reason}:${f.readUInt32BE(0)}`));
r.on('reconnecting', (attempt) => say(`reconnecting ${attempt}`));
r.on('error', (e) => say(`error ${e.code}`));
r.on('close', () => say('close'));
for (let i = 0; i < n; i++) r.send(frame(i));
say(`queued ${r.stats.queuedFrames}`);
// Registered after the first send(), so it runs after the transport's own exit hook.
process.on('exit', (code) => say(`exit ${code} ${r.state} drops [${drops.join(',')}]`));

const modes = {
  // Kept alive by the queued frames until a server appears; closes once they are written.
  'wait-then-close'() {
    r.once('connect', () => {
      say('connect');
      r.close().then(() => say(`closed timers ${timers()}`));
    });
  },
  // unref(): nothing holds the process, so it exits with the frames still queued.
  unref() {
    r.unref();
  },
  // close() at once: it delivers what is queued (a server is there) and then nothing is left open.
  'close-now'() {
    r.close().then(() => say(`closed timers ${timers()}`));
  },
  // Nobody listens and nothing is queued: close() while a reconnect timer is pending.
  'close-while-retrying'() {
    let seen = 0;
    r.on('reconnecting', () => {
      if (++seen === 2) r.close().then(() => say(`closed timers ${timers()}`));
    });
  },
};
modes[mode]();
