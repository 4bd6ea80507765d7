'use strict';
// Connect and listen errors on Windows named pipes, with the other side in a second node.exe process.
// Run by scripts/test-win.sh under wine (node --test).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { connect, listen } = require('../../dist/index.js');
const { uniqueName, startPeer, collect } = require('./util.js');

function pipePath(name) {
  return `\\\\.\\pipe\\${name}`;
}

test('connect to a name nobody serves rejects with ENOENT', async () => {
  const name = uniqueName('none');
  const err = await connect(`pipe:${name}`).then(
    () => assert.fail('connected to a pipe nobody serves'),
    (e) => e,
  );
  // libuv maps ERROR_FILE_NOT_FOUND from CreateFileW to ENOENT (a Unix socket path with no file gives
  // ENOENT as well).
  assert.equal(err.code, 'ENOENT', `expected ENOENT for a missing pipe, got ${err.code} (${err.message})`);
  assert.equal(err.syscall, 'connect');
  assert.equal(err.address, pipePath(name));
  assert.equal(err.message, `connect ENOENT ${pipePath(name)}`);
});

test('connect by the full \\\\.\\pipe\\ name works like pipe:name', async () => {
  const name = uniqueName('full');
  const server = await listen(pipePath(name));
  try {
    const accepted = new Promise((resolve) => server.once('connection', resolve));
    const t = await connect(pipePath(name));
    const conn = await accepted;
    assert.equal(conn.peer.pid, process.pid);
    await t.close();
  } finally {
    await server.close();
  }
});

test('a name whose server process died is gone: connect rejects with ENOENT', async () => {
  // A Unix socket file outlives its server (connect then gives ECONNREFUSED); a pipe name exists only
  // while some process holds an instance of it.
  const name = uniqueName('dead');
  const peer = startPeer('server', name);
  await peer.next('listening');
  await peer.kill();
  const err = await connect(`pipe:${name}`).then(
    () => assert.fail('connected to the pipe of a dead server'),
    (e) => e,
  );
  assert.equal(err.code, 'ENOENT', `expected ENOENT once the server is gone, got ${err.code} (${err.message})`);
});

// Wine does not refuse a second server on a pipe name (it ignores FILE_FLAG_FIRST_PIPE_INSTANCE, which
// libuv creates the first instance with): Node's own net listens twice there too. scripts/test-win.sh
// sets SYMPHONY_IPC_UNDER_WINE.
const UNDER_WINE = process.env.SYMPHONY_IPC_UNDER_WINE === '1';

/** 'listening' (the server is closed again) or the error code of a listen on the pipe by Node's net. */
async function netListenOutcome(name) {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', (e) => resolve(e.code));
    server.listen(pipePath(name), () => server.close(() => resolve('listening')));
  });
}

/** 'listening' (the server is closed again) or the error of a listen with this package. */
async function listenOutcome(name) {
  try {
    const server = await listen(`pipe:${name}`);
    await server.close();
    return { code: 'listening' };
  } catch (e) {
    return e;
  }
}

test('a second listen on a name another process serves rejects with EADDRINUSE, as in Node\'s net', async () => {
  const name = uniqueName('inuse');
  const peer = startPeer('server', name);
  try {
    await peer.next('listening');
    const ours = await listenOutcome(name);
    assert.equal(ours.code, await netListenOutcome(name), 'this package and Node\'s net agree');
    if (!UNDER_WINE) {
      assert.equal(ours.code, 'EADDRINUSE', `expected EADDRINUSE, got ${ours.code} (${ours.message})`);
      assert.equal(ours.syscall, 'listen');
      assert.equal(ours.message, `listen EADDRINUSE ${pipePath(name)}`);
    }
    // The served name still reaches the first server.
    const t = await connect(`pipe:${name}`);
    assert.equal(t.peer.pid, peer.child.pid);
    await t.close();
  } finally {
    await peer.kill();
  }
});

test('a second listen on a name this process serves rejects with EADDRINUSE, and the first goes on', async () => {
  const name = uniqueName('inuse-self');
  const server = await listen(`pipe:${name}`);
  try {
    const ours = await listenOutcome(name);
    assert.equal(ours.code, await netListenOutcome(name), 'this package and Node\'s net agree');
    if (!UNDER_WINE) assert.equal(ours.code, 'EADDRINUSE', `expected EADDRINUSE, got ${ours.code} (${ours.message})`);
    const accepted = new Promise((resolve) => server.once('connection', resolve));
    const t = await connect(`pipe:${name}`);
    const conn = await accepted;
    assert.equal(conn.peer.pid, process.pid);
    await t.close();
  } finally {
    await server.close();
  }
  // Once the server is closed, the name is free again.
  assert.equal((await listenOutcome(name)).code, 'listening');
});

test('a client of this package talks to a pipe server made with Node\'s net', async () => {
  // The net server echoes bytes, so length-prefixed frames come back as they went.
  const name = uniqueName('net');
  const peer = startPeer('net-server', name);
  try {
    const listening = await peer.next('listening');
    const t = await connect(`pipe:${name}`);
    assert.equal(t.peer.pid, listening.pid);
    const frames = [Buffer.from('one'), Buffer.alloc(70 * 1024, 7), Buffer.from('three')];
    const echoed = collect(t, frames.length);
    for (const f of frames) t.send(f);
    assert.deepEqual(await echoed, frames);
    await t.close();
  } finally {
    await peer.kill();
  }
});

test('connectTimeout ends a connect to a pipe whose instances are all busy', async () => {
  // The server process stops accepting (its loop is blocked). libuv keeps 4 instances of a pipe waiting
  // for clients (uv_pipe_pending_instances' default), so 4 clients connect at the OS level; then every
  // instance is busy (ERROR_PIPE_BUSY), which connect() tries again until connectTimeout.
  const name = uniqueName('busy');
  const peer = startPeer('stall', name);
  const clients = [];
  try {
    await peer.next('listening');
    let err = null;
    for (let i = 0; i < 8 && err === null; i++) {
      try {
        clients.push(await connect(`pipe:${name}`, { connectTimeout: 500 }));
      } catch (e) {
        err = e;
      }
    }
    assert.ok(err !== null, 'all 8 connects succeeded against a server that accepts nothing');
    assert.equal(err.code, 'ERR_IPC_CONNECT_TIMEOUT', `expected ERR_IPC_CONNECT_TIMEOUT, got ${err.code} (${err.message})`);
    assert.equal(err.message, `connect timed out after 500 ms: ${pipePath(name)} (all pipe instances busy)`);
    assert.equal(clients.length, 4, 'connects that succeeded before every instance was busy');
  } finally {
    await peer.kill();
    await Promise.all(clients.map((t) => t.close()));
  }
});

test('a connect given up at connectTimeout on a busy pipe leaves nothing that keeps the process alive', async () => {
  // A child process connects to a pipe whose server accepts nothing, gives up at connectTimeout and
  // must then exit by itself while the server still stalls (libuv's own wait for a busy pipe would hold
  // it for 30 s).
  const name = uniqueName('busy-exit');
  const peer = startPeer('stall', name);
  try {
    await peer.next('listening');
    const { execFile } = require('node:child_process');
    const script = `
      const { connect } = require(${JSON.stringify(require.resolve('../../dist/index.js'))});
      (async () => {
        const held = [];
        for (;;) {
          try { held.push(await connect(${JSON.stringify(`pipe:${name}`)}, { connectTimeout: 300 })); }
          catch (e) { console.log(held.length + ' ' + e.code); for (const t of held) t.destroy(); return; }
        }
      })();`;
    const out = await new Promise((resolve, reject) => {
      execFile(process.execPath, ['-e', script], { timeout: 20_000 }, (e, stdout) => (e ? reject(e) : resolve(stdout)));
    });
    assert.equal(out.trim(), '4 ERR_IPC_CONNECT_TIMEOUT');
  } finally {
    await peer.kill();
  }
});
