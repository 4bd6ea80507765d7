#!/usr/bin/env node
// Soak run (npm run soak; not part of npm test). Two processes, one Unix socket:
//
//   1. frames:      SOAK_FRAMES (default 10,000,000) 64-byte frames each way at once over one
//                   connection, with send()/'drain' flow control; each frame carries its sequence
//                   number and the receiver checks that none is lost, duplicated or reordered.
//   2. connections: SOAK_CONNECTIONS (default 100,000) connections opened by the child, each sending one
//                   frame, waiting for its echo and closing (SOAK_CONCURRENCY at a time, default 8).
//
// Both processes print resident memory (RSS, after a full GC) and their open descriptor count at the
// start, every tenth of each phase, and at the end. The run fails (exit 1) when, in either process and
// either phase, RSS at the end of the phase exceeds RSS at its half-way mark by more than
// SOAK_RSS_MARGIN_MB (default 24 MiB): memory must level off. It also fails when descriptors leak
// (each process ends with as many as it started with), or when a frame is lost or out of order.
//
// Needs the compiled package in dist/ (npm run build:ts).
'use strict';
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const v8 = require('node:v8');
const vm = require('node:vm');
const { connect, listen } = require('../dist/index.js');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const FRAMES = Number(process.env.SOAK_FRAMES ?? 10_000_000);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 100_000);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 8);
const MARGIN = Number(process.env.SOAK_RSS_MARGIN_MB ?? 24) * 1024 * 1024;
const FRAME_SIZE = 64;

const fdCount = () => fs.readdirSync('/proc/self/fd').length;
const mib = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const fmt = (n) => n.toLocaleString('en-US');

/** RSS after a full collection, so garbage not yet collected does not read as growth. */
function sample() {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, buffers: m.arrayBuffers, fds: fdCount() };
}

/** Sends `total` numbered frames on `t`, waiting for 'drain' whenever send() returns false. */
function pump(t, total, done) {
  let seq = 0;
  const buf = Buffer.alloc(FRAME_SIZE, 0x5a);
  const go = () => {
    while (seq < total) {
      buf.writeUInt32BE(seq, 0);
      seq++;
      if (!t.send(buf)) {
        t.once('drain', go);
        return;
      }
    }
    done();
  };
  go();
}

/** Counts frames on `t`, checking their order; calls `milestone(n)` every tenth and `done()` at the end. */
function receive(t, total, milestone, done, fail) {
  let expected = 0;
  const step = Math.max(1, Math.floor(total / 10));
  t.on('message', (m) => {
    if (m.length !== FRAME_SIZE || m.readUInt32BE(0) !== expected) {
      fail(`frame ${expected}: got ${m.length} bytes with sequence ${m.length >= 4 ? m.readUInt32BE(0) : '?'}`);
      return;
    }
    expected++;
    if (expected % step === 0) milestone(expected);
    if (expected === total) done();
  });
}

// --- child: connects, runs both phases from its side, reports samples to the parent ----------------

async function child(endpoint) {
  const report = (msg) => process.send(msg);
  const fail = (why) => {
    report({ type: 'fail', why: `child: ${why}` });
    process.exit(1);
  };
  const start = sample();
  report({ type: 'sample', who: 'child', label: 'start', ...start });

  const t = await connect(endpoint);
  t.on('error', (e) => fail(`data connection: ${e.message}`));
  let sent = false;
  let received = false;
  const framesDone = () => {
    if (sent && received) report({ type: 'framesDone' });
  };
  receive(
    t,
    FRAMES,
    (n) => report({ type: 'sample', who: 'child', label: `frames ${fmt(n)}/${fmt(FRAMES)}`, phase: 'frames', n, ...sample() }),
    () => {
      received = true;
      framesDone();
    },
    fail,
  );
  pump(t, FRAMES, () => {
    sent = true;
    framesDone();
  });

  await new Promise((resolve) => process.once('message', resolve)); // 'connections'

  let opened = 0;
  let finished = 0;
  const step = Math.max(1, Math.floor(CONNECTIONS / 10));
  const one = async (i) => {
    const c = await connect(endpoint);
    const back = new Promise((resolve, reject) => {
      c.once('message', (m) => resolve(m.toString()));
      c.once('error', reject);
      c.once('close', () => reject(new Error('closed before the echo')));
    });
    c.send(`connection ${i}`);
    const text = await back;
    if (text !== `connection ${i}`) throw new Error(`echo of connection ${i} was ${text}`);
    await c.close();
    finished++;
    if (finished % step === 0) {
      report({ type: 'sample', who: 'child', label: `connections ${fmt(finished)}/${fmt(CONNECTIONS)}`, phase: 'connections', n: finished, ...sample() });
    }
  };
  const worker = async () => {
    while (opened < CONNECTIONS) await one(opened++);
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } catch (e) {
    fail(`connection phase: ${e.message}`);
  }
  report({ type: 'connectionsDone' });

  await new Promise((resolve) => process.once('message', resolve)); // 'finish'
  await t.close();
  const end = sample();
  report({ type: 'sample', who: 'child', label: 'end', ...end });
  report({ type: 'childEnd', fdsStart: start.fds, fdsEnd: end.fds });
  process.disconnect();
}

// --- parent: the server side, the report and the verdict -----------------------------------------------

async function parent() {
  // Node keeps a /dev/null descriptor open after its first fork(); fork once before counting so that
  // descriptor is part of the baseline, not a "leak".
  await new Promise((resolve) => fork(__filename, ['--warmup'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }).once('close', resolve));
  const t0 = Date.now();
  const start = sample();
  const failures = [];
  const samples = { parent: {}, child: {} }; // who -> phase -> { half, end }
  const log = (who, label, s) =>
    console.log(`${((Date.now() - t0) / 1000).toFixed(1).padStart(7)}s  ${who.padEnd(6)} ${label.padEnd(34)} rss ${mib(s.rss).padStart(10)}  heap ${mib(s.heap).padStart(9)}  buffers ${mib(s.buffers).padStart(9)}  fds ${s.fds}`);
  const keep = (who, phase, n, total, s) => {
    if (phase === undefined) return;
    const slot = (samples[who][phase] ??= {});
    if (n === Math.floor(total / 2) || (slot.half === undefined && n >= total / 2)) slot.half = s;
    if (n === total) slot.end = s;
  };

  console.log(`soak: ${fmt(FRAMES)} frames of ${FRAME_SIZE} bytes each way, then ${fmt(CONNECTIONS)} connections (${CONCURRENCY} at a time); RSS margin ${mib(MARGIN)}`);
  log('parent', 'start', start);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipc-soak-'));
  const endpoint = `unix:${path.join(dir, 's.sock')}`;
  const server = await listen(endpoint);

  let data = null;
  let echoed = 0;
  let closed = 0;
  const step = Math.max(1, Math.floor(CONNECTIONS / 10));
  let parentFramesDone = false;
  let childFramesDone = false;
  let sentDone = false;
  let receivedDone = false;
  let tFrames = 0;
  let tConnections = 0;

  const c = fork(__filename, ['--child', endpoint], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // 'close', not 'exit': by then the IPC channel's descriptor is closed too.
  const childExit = new Promise((resolve) => c.once('close', (code, signal) => resolve({ code, signal })));
  let childEnd = null;

  const startConnections = () => {
    if (!parentFramesDone || !childFramesDone) return;
    tFrames = Date.now() - t0;
    console.log(`frames phase done in ${(tFrames / 1000).toFixed(1)} s`);
    c.send('connections');
  };

  server.on('connection', (t) => {
    t.on('error', (e) => failures.push(`parent: ${data === t ? 'data connection' : 'echo connection'}: ${e.message}`));
    if (data === null) {
      data = t;
      const parentDone = () => {
        if (sentDone && receivedDone) {
          parentFramesDone = true;
          startConnections();
        }
      };
      receive(
        t,
        FRAMES,
        (n) => {
          const s = sample();
          log('parent', `frames ${fmt(n)}/${fmt(FRAMES)}`, s);
          keep('parent', 'frames', n, FRAMES, s);
        },
        () => {
          receivedDone = true;
          parentDone();
        },
        (why) => {
          failures.push(`parent: ${why}`);
          c.kill();
        },
      );
      pump(t, FRAMES, () => {
        sentDone = true;
        parentDone();
      });
      return;
    }
    t.on('message', (m) => {
      echoed++;
      t.send(m);
    });
    t.on('close', () => {
      closed++;
      if (closed % step === 0) {
        const s = sample();
        log('parent', `connections ${fmt(closed)}/${fmt(CONNECTIONS)}`, s);
        keep('parent', 'connections', closed, CONNECTIONS, s);
      }
    });
  });

  c.on('message', (msg) => {
    if (msg.type === 'sample') {
      log('child', msg.label, msg);
      keep('child', msg.phase, msg.n, msg.phase === 'frames' ? FRAMES : CONNECTIONS, msg);
    } else if (msg.type === 'framesDone') {
      childFramesDone = true;
      startConnections();
    } else if (msg.type === 'connectionsDone') {
      // Let the server side see the last closes before the verdict.
      const waitCloses = () => {
        if (closed < CONNECTIONS && c.connected) return setTimeout(waitCloses, 10);
        tConnections = Date.now() - t0 - tFrames;
        console.log(`connections phase done in ${(tConnections / 1000).toFixed(1)} s`);
        c.send('finish');
      };
      waitCloses();
    } else if (msg.type === 'childEnd') {
      childEnd = msg;
    } else if (msg.type === 'fail') {
      failures.push(msg.why);
    }
  });

  const exit = await childExit;
  if (exit.code !== 0) failures.push(`child exited with ${JSON.stringify(exit)}`);
  if (data !== null) await data.close();
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const end = sample();
  log('parent', 'end', end);

  // Verdict.
  if (echoed !== CONNECTIONS) failures.push(`parent echoed ${fmt(echoed)} frames on ${fmt(closed)} closed connections; expected ${fmt(CONNECTIONS)}`);
  if (server.connections !== 0) failures.push(`server still counts ${server.connections} connections`);
  if (end.fds !== start.fds) failures.push(`parent descriptors: ${start.fds} at start, ${end.fds} at end`);
  if (childEnd === null) failures.push('child never reported its end');
  else if (childEnd.fdsEnd !== childEnd.fdsStart) failures.push(`child descriptors: ${childEnd.fdsStart} at start, ${childEnd.fdsEnd} at end`);
  console.log('\nRSS at the half-way mark and at the end of each phase:');
  for (const who of ['parent', 'child']) {
    for (const phase of ['frames', 'connections']) {
      const s = samples[who][phase];
      if (s?.half === undefined || s?.end === undefined) {
        failures.push(`${who} ${phase}: missing samples`);
        continue;
      }
      const growth = s.end.rss - s.half.rss;
      console.log(`  ${who.padEnd(6)} ${phase.padEnd(11)} half ${mib(s.half.rss).padStart(10)}  end ${mib(s.end.rss).padStart(10)}  growth ${mib(growth).padStart(10)}`);
      if (growth > MARGIN) failures.push(`${who} ${phase}: RSS grew ${mib(growth)} in the second half (margin ${mib(MARGIN)})`);
    }
  }
  console.log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (failures.length > 0) {
    console.error(`\nSOAK FAILED:\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
  console.log('soak passed');
}

if (process.argv[2] === '--warmup') {
  process.disconnect();
} else if (process.argv[2] === '--child') {
  child(process.argv[3]).catch((e) => {
    process.send?.({ type: 'fail', why: `child: ${e.stack ?? e}` });
    process.exit(1);
  });
} else {
  parent().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
