'use strict';
// Named pipes across two node.exe processes: frames both ways in every framing, the peer's pid, a large
// frame, and closing from either side. Run by scripts/test-win.sh under wine (node --test).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { once } = require('node:events');
const crypto = require('node:crypto');
const { connect, listen } = require('../../dist/index.js');
const { uniqueName, startPeer, collect } = require('./util.js');

const FRAMES = {
  'length-prefixed': [Buffer.from('hello'), Buffer.from([0, 10, 13, 255, 0]), crypto.randomBytes(200 * 1024), Buffer.from('last')],
  lines: [Buffer.from('hello'), Buffer.from('with spaces\tand tabs'), Buffer.from('x'.repeat(100 * 1024)), Buffer.from('{"jsonrpc":"2.0","id":1}')],
  'content-length': [Buffer.from('{"jsonrpc":"2.0","id":1}'), Buffer.from([0, 10, 13, 10, 13, 10]), crypto.randomBytes(150 * 1024), Buffer.from('last')],
};

for (const framing of Object.keys(FRAMES)) {
  test(`${framing}: a client process sends frames to this server and gets each back`, async () => {
    const name = uniqueName('srv');
    const server = await listen(`pipe:${name}`, { framing });
    assert.equal(server.endpoint, `\\\\.\\pipe\\${name}`);
    const peer = startPeer('client', name, framing);
    try {
      const [conn] = await once(server, 'connection');
      assert.equal(conn.peer.pid, peer.child.pid, 'the server sees the client process as its peer');
      const connected = await peer.next('connected');
      assert.equal(connected.peer.pid, process.pid, 'the client sees this process as its peer');
      const echoed = collect(conn, FRAMES[framing].length);
      for (const f of FRAMES[framing]) conn.send(f);
      assert.deepEqual(await echoed, FRAMES[framing]);
      assert.equal(conn.stats.framesIn, FRAMES[framing].length);
      assert.equal(conn.stats.framesOut, FRAMES[framing].length);
      // close() here gives 'close' in the other process.
      const closed = once(conn, 'close');
      await conn.close();
      await closed;
      await peer.next('close');
      assert.equal(server.connections, 0);
      assert.throws(() => conn.send(Buffer.from('late')), { code: 'ERR_IPC_CLOSED' });
      peer.send('exit');
      assert.equal(await peer.exited, 0);
    } finally {
      await peer.kill();
      await server.close();
    }
  });

  test(`${framing}: this client sends frames to a server process and gets each back`, async () => {
    const name = uniqueName('cli');
    const peer = startPeer('server', name, framing);
    try {
      const listening = await peer.next('listening');
      const t = await connect(`pipe:${name}`, { framing });
      assert.equal(t.endpoint, `\\\\.\\pipe\\${name}`);
      assert.equal(t.peer.pid, listening.pid, 'the client sees the server process as its peer');
      const connected = await peer.next('connected');
      assert.equal(connected.peer.pid, process.pid, 'the server sees this process as its peer');
      const echoed = collect(t, FRAMES[framing].length);
      for (const f of FRAMES[framing]) t.send(f);
      assert.deepEqual(await echoed, FRAMES[framing]);
      // close() in the other process gives 'close' here, with no 'error'.
      const errors = [];
      t.on('error', (e) => errors.push(e));
      const closed = once(t, 'close');
      peer.send('close');
      await closed;
      await peer.next('close');
      assert.deepEqual(errors, []);
      assert.equal(t.state, 'closed');
      assert.throws(() => t.send(Buffer.from('late')), { code: 'ERR_IPC_CLOSED' });
      peer.send('exit');
      assert.equal(await peer.exited, 0);
    } finally {
      await peer.kill();
    }
  });
}

test('a 4 MiB frame goes to a server process and comes back whole', async () => {
  const name = uniqueName('big');
  const peer = startPeer('server', name);
  try {
    await peer.next('listening');
    const t = await connect(`pipe:${name}`);
    const big = crypto.randomBytes(4 * 1024 * 1024);
    const small = Buffer.from('after');
    const echoed = collect(t, 2);
    t.send(big);
    t.send(small);
    const [back, after] = await echoed;
    assert.equal(back.length, big.length);
    assert.ok(back.equals(big), 'the 4 MiB frame came back byte for byte');
    assert.ok(after.equals(small));
    await t.close();
    peer.send('exit');
    assert.equal(await peer.exited, 0);
  } finally {
    await peer.kill();
  }
});
