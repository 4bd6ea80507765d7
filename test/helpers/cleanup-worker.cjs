'use strict';
// Worker thread for test/resource-cleanup.test.ts. workerData: { dist, endpoint, mode }.
// Opens, to the main thread's server (listening with resume), a resumable reconnecting transport with
// health, a pool of heartbeat connections with health, and a heartbeat transport under a monitor;
// sends one frame on each, reports, and then ends without closing anything:
//   'terminate': stays open until the main thread terminates it;
//   'exit':      sends one more frame on the reconnecting and the heartbeat transport, then calls
//                process.exit(0) in the same tick, which ends this thread only;
//   'unref':     unrefs the transports and the pool and returns: the thread ends by itself.
const { parentPort, workerData } = require('node:worker_threads');
const ipc = require(workerData.dist);
const { endpoint, mode } = workerData;

async function main() {
  const r = ipc.reconnecting(endpoint, { resume: true, health: { interval: 20 } });
  await new Promise((resolve) => r.once('connect', resolve));
  r.send('worker reconnecting');
  const pool = ipc.createPool(endpoint, { heartbeat: true, min: 2, max: 4, health: { interval: 20 } });
  const borrowed = await pool.acquire();
  borrowed.send('worker pool');
  const hb = await ipc.connect(endpoint, { heartbeat: true });
  const m = ipc.monitor(hb, { interval: 20 });
  hb.send('worker heartbeat');
  while (pool.stats.size < 2) await new Promise((resolve) => setTimeout(resolve, 1));
  // Small frames are written at the end of the tick they were sent in: let them go before ending.
  await new Promise((resolve) => setImmediate(resolve));
  parentPort.postMessage({ type: 'open', states: [r.state, pool.stats.size, hb.state, m.healthy] });
  if (mode === 'exit') {
    // Sent in the same tick as the exit: written by the transports' 'exit' hook, not lost.
    r.send('worker last words');
    hb.send('worker last words');
    process.exit(0);
  }
  if (mode === 'unref') {
    r.unref();
    pool.unref();
    hb.unref();
  }
}

main().catch((e) => parentPort.postMessage({ type: 'failed', error: String(e && e.stack) }));
