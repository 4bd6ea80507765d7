'use strict';
// The server half of test/flow-matrix.test.ts, in its own process. argv[2]: JSON
//   { dist, endpoint, mode: 'plain'|'heartbeat'|'resume'|'resume-cut', style, options?, ...style's own }
// Styles that echo every frame back (the matrix):
//   'async-drain'   for await (const f of t) if (!t.send(f)) await 'drain'
//   'pause-resume'  t.on('message'): send; when send() returns false, pause() until 'drain', then resume()
//   'plain-echo'    t.on('message', (f) => t.send(f)), back-pressure ignored
//   'delayed-fifo'  each frame answered after a random 0-2 ms, strictly in arrival order, from a FIFO;
//                   paused while more than `fifoHigh` replies wait or send() returned false
// And one that does not echo:
//   'sink-pause'    takes `total` frames of `size` bytes, checking each, and stops taking them (pause())
//                   for `pauseMs` once `pauseAt` have arrived; samples stats.heldBytes every `sampleMs`.
// Prints JSON lines: {"event":"listening","endpoint"} (the port the OS chose, for tcp:...:0), then a
// {"event":"progress"} every 200 ms, and {"event":"report"} when the client's session (or connection)
// closes; then it closes the server and exits. A second session ('connection' twice) is an error: each
// cell has one client session.
const { drainOrClose, frames, say, statsOf } = require('./flow-frames.cjs');

const cfg = JSON.parse(process.argv[2]);
const ipc = require(cfg.dist);

const MODE_OPTIONS = {
  plain: {},
  heartbeat: { heartbeat: true },
  resume: { resume: true },
  'resume-cut': { resume: true },
};
const STATS = ['framesIn', 'framesOut', 'bufferedBytes', 'queuedFrames', 'queuedBytes', 'heldBytes', 'sendCredit', 'duplicates'];

let received = 0;
let sent = 0;
let falses = 0;
let sessions = 0;
let pending = 0; // delayed-fifo: replies waiting
const errors = [];
const drops = [];
const disconnects = [];
const reconnects = [];
let current = null;
let extra = {};

const fail = (what) => errors.push(what);
const errText = (e) => (e && e.code ? `${e.code}: ${e.message}` : String(e));

/** Sends a frame back; false when the caller should wait for 'drain'. */
function echo(t, f) {
  sent++;
  const more = t.send(f);
  if (!more) falses++;
  return more;
}


const styles = {
  'async-drain'(t) {
    (async () => {
      for await (const f of t) {
        received++;
        if (!echo(t, f)) await drainOrClose(t);
      }
    })().catch((e) => fail(`iteration: ${errText(e)}`));
  },

  'pause-resume'(t) {
    let waiting = false;
    t.on('message', (f) => {
      received++;
      if (!echo(t, f) && !waiting) {
        waiting = true;
        t.pause();
        t.once('drain', () => {
          waiting = false;
          t.resume();
        });
      }
    });
  },

  'plain-echo'(t) {
    t.on('message', (f) => {
      received++;
      echo(t, f);
    });
  },

  'delayed-fifo'(t) {
    const high = cfg.fifoHigh ?? 1000;
    const low = Math.floor(high / 2);
    // A FIFO of [frame, due]: replies leave strictly in arrival order, each no earlier than its due time.
    let fifo = [];
    let head = 0;
    let timer = null;
    let blocked = false; // send() returned false: waiting for 'drain'
    let paused = false;
    const steer = () => {
      const want = blocked || fifo.length - head > high;
      if (want && !paused) {
        paused = true;
        t.pause();
      } else if (!want && paused && fifo.length - head < low) {
        paused = false;
        t.resume();
      }
    };
    const flush = () => {
      timer = null;
      const now = performance.now();
      while (!blocked && head < fifo.length && fifo[head][1] <= now) {
        const f = fifo[head][0];
        fifo[head++] = undefined;
        pending = fifo.length - head;
        if (!echo(t, f)) {
          blocked = true;
          drainOrClose(t).then(() => {
            blocked = false;
            flush();
          });
        }
      }
      if (head === fifo.length) {
        fifo = [];
        head = 0;
      } else if (head > 4096 && head * 2 > fifo.length) {
        fifo = fifo.slice(head);
        head = 0;
      }
      pending = fifo.length - head;
      steer();
      arm();
    };
    const arm = () => {
      if (timer !== null || blocked || head >= fifo.length || t.state === 'closed') return;
      timer = setTimeout(flush, Math.max(0, fifo[head][1] - performance.now()));
    };
    t.on('message', (f) => {
      received++;
      fifo.push([f, performance.now() + Math.random() * 2]);
      pending = fifo.length - head;
      steer();
      arm();
    });
    t.on('close', () => {
      if (timer !== null) clearTimeout(timer);
    });
  },

  'sink-pause'(t) {
    const fr = frames(cfg.size);
    const samples = [];
    let pausedAt = null;
    let resumedAt = null;
    let firstBad = null;
    let bad = 0;
    extra = { samples, pauses: () => ({ pausedAt, resumedAt }) };
    const sampler = setInterval(() => {
      const held = t.stats.heldBytes;
      samples.push([Date.now(), held === undefined ? null : held]);
    }, cfg.sampleMs ?? 100);
    t.on('close', () => clearInterval(sampler));
    t.on('message', (f) => {
      const why = fr.check(f, received);
      if (why !== null) {
        bad++;
        firstBad ??= why;
      }
      received++;
      if (received === cfg.pauseAt) {
        t.pause();
        pausedAt = Date.now();
        say({ event: 'paused', at: pausedAt, received });
        setTimeout(() => {
          resumedAt = Date.now();
          say({ event: 'resumed', at: resumedAt, received });
          t.resume();
        }, cfg.pauseMs);
      }
      if (received === cfg.total) say({ event: 'all-received', received, bad, firstBad, at: Date.now() });
    });
    extra.verdict = () => ({ bad, firstBad });
  },
};

function report(why) {
  const out = { event: 'report', why, sessions, received, sent, falses, errors, drops, disconnects, reconnects };
  if (current !== null) out.stats = statsOf(current, STATS);
  if (extra.samples) {
    out.samples = extra.samples;
    Object.assign(out, extra.pauses(), extra.verdict());
  }
  say(out);
}

async function main() {
  const style = styles[cfg.style];
  if (style === undefined) throw new Error(`unknown style ${cfg.style}`);
  const server = await ipc.listen(cfg.endpoint, { ...MODE_OPTIONS[cfg.mode], ...cfg.options });
  server.on('acceptError', (e) => fail(`acceptError: ${errText(e)}`));
  server.on('handshakeError', (e) => fail(`handshakeError: ${errText(e)}`));
  server.on('connection', (t) => {
    sessions++;
    if (sessions > 1) {
      fail(`a second session (${sessions}): the client's session was not resumed`);
      return;
    }
    current = t;
    t.on('error', (e) => fail(`error: ${errText(e)}`));
    t.on('drop', (f, reason) => drops.push(reason));
    t.on('disconnect', (cause) => disconnects.push(cause === null ? null : errText(cause)));
    t.on('reconnect', () => reconnects.push(Date.now()));
    t.once('close', () => {
      report('closed');
      clearInterval(ticker);
      server.close().finally(() => process.exit(0));
    });
    style(t);
  });
  const ticker = setInterval(() => {
    say({ event: 'progress', received, sent, pending, stats: current === null ? null : statsOf(current, STATS) });
  }, 200);
  say({ event: 'listening', endpoint: server.endpoint });
}

main().catch((e) => {
  say({ event: 'fatal', error: errText(e) });
  process.exit(1);
});

// For a test that gives up: report what we have on SIGTERM before going.
process.on('SIGTERM', () => {
  report('SIGTERM');
  process.exit(1);
});
