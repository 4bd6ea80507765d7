'use strict';
// Worker thread for test/worker.test.ts. workerData: { dist, mode, endpoint, ownEndpoint, n }.
const { parentPort, workerData } = require('node:worker_threads');
const ipc = require(workerData.dist);
const { mode, endpoint, ownEndpoint, n } = workerData;

const post = (msg) => parentPort.postMessage(msg);

function collect(t, count) {
  return new Promise((resolve, reject) => {
    const got = [];
    t.on('message', (m) => {
      got.push(m.toString());
      if (got.length === count) resolve(got);
    });
    t.once('error', reject);
  });
}

const modes = {
  // Connects to the main thread's server, sends n frames, counts the echoes, reports, and stays open.
  async 'connect-main'() {
    const t = await ipc.connect(endpoint);
    const echoes = collect(t, n);
    for (let i = 0; i < n; i++) t.send(`w${i}`);
    const got = await echoes;
    post({ type: 'counts', sent: t.stats.framesOut, received: got.length, inOrder: got.every((s, i) => s === `echo:w${i}`) });
  },

  // Listens inside the worker, talks to itself, then echoes whatever the main thread sends; reports
  // and stays open.
  async self() {
    const server = await ipc.listen(ownEndpoint);
    server.on('connection', (t) => t.on('message', (m) => t.send(Buffer.concat([Buffer.from('echo:'), m]))));
    const t = await ipc.connect(ownEndpoint);
    const echoes = collect(t, n);
    for (let i = 0; i < n; i++) t.send(`s${i}`);
    const got = await echoes;
    // A transport with unwritten bytes to a peer that does not read, left open for the terminate.
    const stuck = await ipc.connect(ownEndpoint, { writableHighWaterMark: 64 * 1024 });
    while (stuck.send(Buffer.alloc(16 * 1024 + 1))) {}
    while (server.connections < 2) await new Promise((r) => setTimeout(r, 2));
    post({
      type: 'counts',
      sent: t.stats.framesOut,
      received: got.length,
      inOrder: got.every((s, i) => s === `echo:s${i}`),
      connections: server.connections,
    });
  },

  // Exchanges frames with the main thread, closes everything, and returns: the worker ends by itself.
  async 'normal-exit'() {
    const t = await ipc.connect(endpoint);
    const echoes = collect(t, n);
    for (let i = 0; i < n; i++) t.send(`w${i}`);
    const got = await echoes;
    await t.close();
    post({ type: 'counts', sent: t.stats.framesOut, received: got.length, state: t.state });
  },
};

if (mode === 'transfer') {
  // Handled apart: the check runs inside the 'message' listener, while the frame is fresh.
  (async () => {
    const t = await ipc.connect(endpoint);
    const results = [];
    t.on('message', (frame) => {
      const text = frame.toString();
      const ab = frame.buffer;
      const before = ab.byteLength;
      let threw = null;
      try {
        parentPort.postMessage({ type: 'buffer', ab }, [ab]);
      } catch (e) {
        threw = { name: e.name, code: e.code, message: e.message };
      }
      results.push({ text, before, after: ab.byteLength, textAfter: frame.toString(), threw });
      if (results.length === n) {
        post({ type: 'transfer', results });
        t.close();
      }
    });
    post({ type: 'ready' });
  })().catch((e) => post({ type: 'failed', error: String(e && e.stack) }));
} else {
  modes[mode]().catch((e) => post({ type: 'failed', error: String(e && e.stack) }));
}
