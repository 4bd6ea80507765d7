'use strict';
// Child process for test/resource-cleanup.test.ts. argv: <dist/index.js> <mode> <socket dir> [args...]
// Runs in a process of its own so that descriptor and memory figures are not disturbed by the test
// runner. Prints one line per milestone on stdout (JSON for measurements); the test reads them back.
// Every mode but the ones that say otherwise ends by itself, without process.exit(): that is part of
// what is checked.
const fs = require('node:fs');
const path = require('node:path');
const [, , dist, mode, dir, ...args] = process.argv;
const ipc = require(dist);
const say = (line) => process.stdout.write(line + '\n');
const FD_DIR = process.platform === 'linux' ? '/proc/self/fd' : '/dev/fd';
const MiB = 1024 * 1024;

const fdCount = () => fs.readdirSync(FD_DIR).length;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `cond` holds; throws after `ms` (a safety net: the test fails on the missing line). */
async function until(cond, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

/** Descriptors and memory after a full garbage collection (the process runs with --expose-gc). */
function measure() {
  for (let i = 0; i < 3; i++) global.gc();
  const m = process.memoryUsage();
  return { fds: fdCount(), rss: +(m.rss / MiB).toFixed(2), heap: +(m.heapUsed / MiB).toFixed(2) };
}

/**
 * A server on `name` in the socket directory that counts what it sees: frames, connections (or
 * sessions), their ends and errors. `onConnection` and `onFrame`, when set, see each one.
 */
async function countingServer(name, options) {
  const server = await ipc.listen(`unix:${path.join(dir, name)}`, options);
  const s = { server, endpoint: server.endpoint, frames: 0, accepted: 0, closes: 0, errors: 0, onFrame: null };
  server.on('connection', (t) => {
    s.accepted++;
    s.onConnection?.(t);
    t.on('message', (m) => {
      s.frames++;
      s.onFrame?.(m);
    });
    t.on('error', () => s.errors++);
    t.on('close', () => s.closes++);
  });
  return s;
}

/** Resolves `expect(text)` once a frame equal to `text` reaches the server `s`. */
function frameWaiter(s) {
  const waiting = new Map();
  s.onFrame = (m) => {
    const text = m.toString();
    waiting.get(text)?.();
    waiting.delete(text);
  };
  return (text) => new Promise((resolve) => waiting.set(text, resolve));
}

const modes = {
  /**
   * args: <kind> <n> <at a time>. n cycles of open, one frame, wait for it at the server, close(),
   * `at a time` cycles side by side. kind: 'reconnecting' (reconnecting() to a plain server),
   * 'heartbeat' (connect() with heartbeat: true), 'resume' (reconnecting() with resume: true; every
   * server-side session must end with its client's close()). Reports descriptors and memory after one
   * warm-up cycle, after 1,000 and after n, each once the server has seen every connection end; then
   * how many of the transports on either side were garbage-collected.
   */
  async cycles() {
    const kind = args[0];
    const n = Number(args[1]);
    const atATime = Number(args[2]);
    // A long resumeTimeout: a session its client's close() failed to end would still be open at the end.
    const listenOpts = { reconnecting: {}, heartbeat: { heartbeat: true }, resume: { resume: true, resumeTimeout: 600_000 } }[kind];
    const s = await countingServer('cycles.sock', listenOpts);
    const arrival = frameWaiter(s);
    let collected = 0;
    const registry = new FinalizationRegistry(() => collected++);
    s.onConnection = (t) => registry.register(t, null);
    let clientErrors = 0;
    let clientCloses = 0;
    let drops = 0;
    const open = async () => {
      if (kind === 'heartbeat') return ipc.connect(s.endpoint, { heartbeat: true });
      return ipc.reconnecting(s.endpoint, kind === 'resume' ? { resume: true } : {});
    };
    // In its own function, so no suspended frame of the loop still holds the last transport.
    const cycle = async (i) => {
      const t = await open();
      registry.register(t, null);
      t.on('error', () => clientErrors++);
      t.on('close', () => clientCloses++);
      t.on('drop', () => drops++);
      const arrived = arrival(`frame ${i}`);
      t.send(`frame ${i}`);
      await arrived;
      await t.close();
    };
    const report = async (at) => {
      await until(() => s.closes === at && s.server.connections === 0, `the server to see ${at} connections end (saw ${s.closes})`);
      const m = measure();
      say(JSON.stringify({ at, ...m, frames: s.frames, accepted: s.accepted, closes: s.closes, clientCloses, clientErrors, serverErrors: s.errors, drops }));
    };
    await cycle(0);
    await report(1);
    for (let i = 1; i < n; ) {
      const batch = [];
      // A batch never straddles cycle 1,000, where the warm figures are taken.
      do batch.push(cycle(i++));
      while (batch.length < atATime && i < n && i !== 1000);
      await Promise.all(batch);
      if (i === 1000 && n > 1000) await report(1000);
    }
    await report(n);
    await s.server.close();
    say(`server closed ${fdCount()}`);
    for (let i = 0; i < 200 && collected < 2 * n; i++) {
      global.gc();
      await sleep(5);
    }
    say(`collected ${collected} of ${2 * n}`);
  },

  /**
   * args: <n>. A pool (min 2, max 4) and n borrows, up to four at a time, each sending one frame the
   * server must receive; every 100th borrow fails validation, so connections are also destroyed and
   * replaced along the way. Then close(). Reports descriptors before the pool and after its close.
   */
  async pool() {
    const n = Number(args[0]);
    const s = await countingServer('pool.sock');
    const arrival = frameWaiter(s);
    const before = measure();
    let validations = 0;
    const pool = ipc.createPool(s.endpoint, { min: 2, max: 4, validate: () => ++validations % 100 !== 0 });
    const evicts = {};
    pool.on('evict', (_t, reason) => (evicts[reason] = (evicts[reason] ?? 0) + 1));
    const borrow = async (i) => {
      const arrived = arrival(`borrow ${i}`);
      if (i % 2 === 0) await pool.use((t) => t.send(`borrow ${i}`));
      else {
        const t = await pool.acquire();
        t.send(`borrow ${i}`);
        pool.release(t);
      }
      await arrived;
    };
    // Batches of 1, 2, 3 and 4 borrowers in turn: the pool grows past min and shrinks back.
    for (let i = 0, size = 1; i < n; size = (size % 4) + 1) {
      const batch = [];
      for (let k = 0; k < size && i < n; k++) batch.push(borrow(i++));
      await Promise.all(batch);
    }
    const open = pool.stats;
    await pool.close();
    await until(() => s.server.connections === 0, 'the server to see every pooled connection end');
    const after = measure();
    say(JSON.stringify({ before, after, frames: s.frames, accepted: s.accepted, closes: s.closes, serverErrors: s.errors, validations, evicts, open, closed: pool.stats }));
    await s.server.close();
  },

  /**
   * A reconnecting transport with resume and health, a pool with health, a heartbeat transport under a
   * monitor and a restarting child process (spawnStdio with restart), all with frames exchanged, then
   * all closed with the server: the process must end by itself. Nothing here calls process.exit().
   */
  async 'close-all'() {
    const s = await countingServer('all.sock', { resume: true });
    const r = ipc.reconnecting(s.endpoint, { resume: true, health: { interval: 20 } });
    await new Promise((resolve) => r.once('connect', resolve));
    r.send('from reconnecting');
    const pool = ipc.createPool(s.endpoint, { heartbeat: true, min: 2, max: 4, health: { interval: 20 } });
    await pool.use((t) => t.send('from pool'));
    const hb = await ipc.connect(s.endpoint, { heartbeat: true });
    const m = ipc.monitor(hb, { interval: 20 });
    hb.send('from heartbeat');
    const stdio = ipc.spawnStdio(process.execPath, ['-e', 'process.stdin.pipe(process.stdout)'], { restart: true });
    const echoed = new Promise((resolve) => stdio.once('message', resolve));
    stdio.send('from stdio');
    await until(() => s.frames === 3, 'the 3 frames at the server');
    // Let the monitors probe at least once, so their timers have run and been re-armed.
    await until(() => m.stats.probes > 0 && r.health !== null && r.health.stats.probes > 0, 'the monitors to probe');
    say(`frames ${s.frames}`);
    say(`echo ${(await echoed).toString()}`);
    await Promise.all([r.close(), pool.close(), hb.close(), stdio.close()]);
    await s.server.close();
    say(`closed ${r.state} ${pool.closed} ${hb.state} ${stdio.state} ${s.server.connections}`);
    process.on('exit', (code) => say(`exit ${code}`));
  },

  /**
   * args: <'ref'|'unref'> <queued>. A reconnecting transport whose server goes away: it dials again and
   * again. With 'ref' it keeps the process alive (the test kills it); with 'unref' the process ends by
   * itself, and each of the `queued` frames sent after the disconnect is reported as a 'drop' with
   * reason 'exit'.
   */
  async disconnected() {
    const [how, queuedArg] = args;
    const queued = Number(queuedArg);
    const s = await countingServer('gone.sock');
    const t = ipc.reconnecting(s.endpoint, { initialDelay: 5, maxDelay: 20 });
    t.on('error', (e) => say(`error ${e.code}`));
    t.on('drop', (frame, reason) => say(`drop ${reason} ${frame.toString()}`));
    t.on('close', () => say('close'));
    await new Promise((resolve) => t.once('connect', resolve));
    await new Promise((resolve) => {
      t.once('disconnect', resolve);
      void s.server.close();
    });
    for (let i = 0; i < queued; i++) t.send(`queued ${i}`);
    say(`disconnected ${t.state} ${t.stats.queuedFrames}`);
    let attempts = 0;
    t.on('reconnecting', () => {
      attempts++;
      if (attempts <= 5) say(`reconnecting ${attempts}`);
    });
    if (how === 'unref') t.unref();
    process.on('exit', (code) => say(`exit ${code} ${t.state}`));
  },

  /**
   * args: <endpoint>. Opens, to the test's server (listening with resume), a resumable reconnecting
   * transport, a pool of heartbeat connections with health, and a heartbeat transport under a monitor,
   * plus a reconnecting transport to nowhere with two frames queued; then sends one more frame on the
   * first and on the heartbeat transport and, in the same tick, calls process.exit(0) with all of them
   * open.
   */
  async 'exit-open'() {
    const endpoint = args[0];
    const r = ipc.reconnecting(endpoint, { resume: true });
    await new Promise((resolve) => r.once('connect', resolve));
    r.send('from reconnecting');
    const pool = ipc.createPool(endpoint, { heartbeat: true, min: 2, max: 4, health: { interval: 20 } });
    const borrowed = await pool.acquire();
    borrowed.send('from pool');
    const hb = await ipc.connect(endpoint, { heartbeat: true });
    ipc.monitor(hb, { interval: 20 });
    hb.send('from heartbeat');
    const nowhere = ipc.reconnecting(`unix:${path.join(dir, 'nobody.sock')}`, { initialDelay: 5, maxDelay: 20 });
    nowhere.on('drop', (frame, reason) => say(`drop ${reason} ${frame.toString()}`));
    nowhere.send('lost 0');
    nowhere.send('lost 1');
    await until(() => pool.stats.size === 2, 'the pool to open 2 connections');
    say(`open ${r.state} ${pool.stats.size} ${hb.state} ${nowhere.stats.queuedFrames}`);
    process.on('exit', (code) => say(`exit ${code}`));
    // Sent in the same tick as the exit: written by the transports' 'exit' hook, not lost.
    r.send('last words');
    hb.send('last words');
    process.exit(0);
  },
};

modes[mode]().catch((e) => {
  say(`failed ${e && e.stack}`);
  process.exitCode = 99;
});
