'use strict';
// The client half of test/flow-matrix.test.ts, in its own process. argv[2]: JSON
//   { dist, endpoint, mode: 'plain'|'heartbeat'|'resume'|'resume-cut', size, frames, echo, cuts?, options?, sampleMs? }
// Sends frames 0..frames-1 of `size` bytes (./flow-frames.cjs), waiting for 'drain' whenever send()
// returns false. With `echo`, checks every frame that comes back: exactly `frames` of them, each once,
// in order (the index it carries is the count so far), each with its own content. `cuts`: the frame
// indexes before which the client destroys its current connection (resume-cut), while the session
// lives on; reconnecting() dials again and the session resumes.
// Modes: 'plain' connect(ep), 'heartbeat' connect(ep, { heartbeat: true }), 'resume'/'resume-cut'
// reconnecting(ep, { resume: true }).
// Prints JSON lines: {"event":"progress"} every 200 ms, {"event":"done"} with the verdict once every
// echo is in (without `echo`: once everything is sent and acknowledged), then {"event":"closed"}
// after close(), and exits. With `sampleMs`, samples bufferedBytes and queuedBytes that often, and
// notes when send() returned false (Date.now(), for the test to line up with the server's pause).
const { drainOrClose, frames, say, statsOf } = require('./flow-frames.cjs');

const cfg = JSON.parse(process.argv[2]);
const ipc = require(cfg.dist);
const STATS = ['framesIn', 'framesOut', 'bufferedBytes', 'queuedFrames', 'queuedBytes', 'heldBytes', 'sendCredit', 'reconnects', 'duplicates'];

const fr = frames(cfg.size);
const N = cfg.frames;
let sent = 0;
let received = 0;
let bad = 0;
const mistakes = [];
const errors = [];
const drops = [];
const falseAt = [];
const samples = [];
let cutsDone = 0;
let closedEarly = false;
let t = null;

const errText = (e) => (e && e.code ? `${e.code}: ${e.message}` : String(e));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function open() {
  const o = cfg.options ?? {};
  if (cfg.mode === 'plain') return ipc.connect(cfg.endpoint, o);
  if (cfg.mode === 'heartbeat') return ipc.connect(cfg.endpoint, { heartbeat: true, ...o });
  return Promise.resolve(ipc.reconnecting(cfg.endpoint, { resume: true, initialDelay: 10, maxDelay: 100, ...o }));
}


/** Resolves once a connection is up under the reconnecting transport. */
async function connected() {
  while (t.connection === null && t.state !== 'closed') await sleep(1);
}

let resolveEchoes;
const echoes = new Promise((resolve) => (resolveEchoes = resolve));

function onMessage(f) {
  const why = fr.check(f, received);
  if (why !== null) {
    bad++;
    if (mistakes.length < 5) mistakes.push(why);
  }
  received++;
  if (received === N) resolveEchoes();
}

async function main() {
  t = await open();
  t.on('error', (e) => errors.push(errText(e)));
  t.on('drop', (f, reason) => drops.push(reason));
  t.on('close', () => {
    if (!finishing) closedEarly = true;
  });
  if (cfg.echo) t.on('message', onMessage);
  else t.on('message', () => errors.push('a frame came back from a server that does not echo'));
  if (cfg.sampleMs) {
    const sampler = setInterval(() => {
      const s = t.stats;
      samples.push([Date.now(), s.bufferedBytes, s.queuedBytes === undefined ? null : s.queuedBytes]);
    }, cfg.sampleMs);
    t.on('close', () => clearInterval(sampler));
  }
  const ticker = setInterval(() => say({ event: 'progress', sent, received, cutsDone, stats: statsOf(t, STATS) }), 200);

  const cuts = cfg.cuts ?? [];
  while (sent < N && t.state !== 'closed' && t.state !== 'closing') {
    if (cutsDone < cuts.length && sent >= cuts[cutsDone]) {
      await connected();
      t.connection?.destroy();
      cutsDone++;
      continue;
    }
    if (!t.send(fr.make(sent++))) {
      falseAt.push(Date.now());
      await drainOrClose(t);
    }
  }

  if (cfg.echo) {
    // Every echo, or the transport's end (the test's watchdog catches a stall).
    await Promise.race([echoes, new Promise((resolve) => t.once('close', resolve))]);
    // Room for a frame too many to show up.
    await sleep(50);
  } else {
    // Everything written and, with resume, acknowledged.
    while (t.state !== 'closed' && (t.stats.bufferedBytes > 0 || (t.stats.queuedFrames ?? 0) > 0)) await sleep(5);
  }
  const stats = statsOf(t, STATS);
  say({
    event: 'done',
    sent,
    received,
    bad,
    mistakes,
    errors,
    drops,
    cutsDone,
    closedEarly,
    falses: falseAt.length,
    falseAt: cfg.sampleMs ? falseAt : undefined,
    samples: cfg.sampleMs ? samples : undefined,
    stats,
  });
  clearInterval(ticker);
  finishing = true;
  await t.close();
  say({ event: 'closed', errors });
  process.exit(0);
}

let finishing = false;

main().catch((e) => {
  say({ event: 'fatal', error: errText(e), stack: String(e && e.stack) });
  process.exit(1);
});
