'use strict';
// reconnecting() and resumable sessions over Windows named pipes. Run by scripts/test-win.sh under
// wine (node --test). The policy is the same TypeScript as on Unix; what differs underneath is the
// pipe itself (a name that exists only while a server holds an instance) and how a failed write
// reports what it did not write.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { once } = require('node:events');
const { listen, reconnecting } = require('../../dist/index.js');
const { uniqueName } = require('./util.js');

test('frames sent while the pipe server is gone arrive, in order, once it is back', async () => {
  const ep = `pipe:${uniqueName('rc')}`;
  const got = [];
  const serve = async () => {
    const s = await listen(ep);
    s.on('connection', (t) => t.on('message', (m) => got.push(m.toString())));
    return s;
  };
  let server = await serve();
  const t = reconnecting(ep, { initialDelay: 20, maxDelay: 100 });
  try {
    await once(t, 'connect');
    t.send('a0');
    t.send('a1');
    while (got.length < 2) await new Promise((r) => setTimeout(r, 5));
    const disconnected = once(t, 'disconnect');
    await server.close();
    await disconnected;
    for (let i = 0; i < 5; i++) t.send(`b${i}`);
    server = await serve();
    await once(t, 'reconnect');
    while (got.length < 7) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(got, ['a0', 'a1', 'b0', 'b1', 'b2', 'b3', 'b4']);
  } finally {
    t.destroy();
    await server.close();
  }
});

test('resume over a named pipe: every frame once, in order, across dropped connections', async () => {
  const ep = `pipe:${uniqueName('resume')}`;
  const server = await listen(ep, { resume: true });
  const got = [];
  server.on('connection', (s) => s.on('message', (m) => got.push(m.readUInt32BE(0))));
  const t = reconnecting(ep, { resume: true, initialDelay: 5, maxDelay: 20 });
  const N = 3000;
  try {
    await once(t, 'connect');
    let reconnects = 0;
    t.on('reconnect', () => reconnects++);
    for (let i = 0; i < N; i++) {
      const b = Buffer.alloc(64);
      b.writeUInt32BE(i, 0);
      t.send(b);
      // Cut the connection under the stream, three times.
      if (i % 1000 === 500) {
        await new Promise((r) => setTimeout(r, 5));
        t.connection?.destroy();
        await once(t, 'reconnect');
      }
    }
    while (got.length < N) await new Promise((r) => setTimeout(r, 5));
    assert.equal(reconnects, 3);
    assert.deepEqual(got, Array.from({ length: N }, (_, i) => i));
  } finally {
    await t.close();
    await server.close();
  }
});
