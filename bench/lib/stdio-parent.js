'use strict';

// The measured process of bench/stdio.js: it spawns bench/lib/stdio-child.js and talks to it over
// the child's stdin and stdout, newline-delimited, then prints its result as one JSON line.
//
//   node stdio-parent.js rtt  IMPL '{"child","n","warmup"}'  ping-pong of one small JSON line
//                                                          (child: echo), print percentiles
//   node stdio-parent.js recv IMPL '{"child","n"}'          count the n lines the child writes
//                                                          (child: source n); rate timed from the
//                                                          n/10-th line to the last
//   node stdio-parent.js send IMPL '{"child","n"}'          send n JSON lines (child: sink n, which
//                                                          counts, times and reports them)
//
// "child" is the child's command line (the runner puts taskset in front to pin it). IMPL:
//   ours  spawnStdio() (framing 'lines'); frames arrive as 'message', sent with send()/sendJson()
//   cp    child_process.spawn(); stdout split with LineSplitter (bench/lib/framing.js), lines
//         written with stdin.write(text + '\n'), 'drain' awaited when write() returns false

const path = require('node:path');
const { spawn } = require('node:child_process');
const { once } = require('node:events');
const { LineSplitter } = require('./framing.js');
const { report, closeSoon, measureRoundTrips } = require('./child.js');

const PACKAGE_ENTRY = path.join(__dirname, '..', '..', 'dist', 'index.js');
const NEWLINE = Buffer.from('\n');

// The same small interface over each parent:
//   frame(line) -> what send() takes for one line (ours: the line; cp: the line and its '\n')
//   send(frame) -> boolean, sendJson(value) -> boolean, onLine(fn), waitDrain(), close(), stats()
const impls = {
  ours(argv) {
    const { spawnStdio } = require(PACKAGE_ENTRY);
    const t = spawnStdio(argv[0], argv.slice(1), { stderr: 'inherit' });
    t.on('error', (err) => fail(err));
    return {
      frame: (line) => line,
      send: (frame) => t.send(frame),
      sendJson: (value) => t.sendJson(value),
      onLine: (fn) => t.on('message', fn),
      waitDrain: () => once(t, 'drain'),
      close: () => t.close(),
      stats: () => ({ ...t.stats }),
    };
  },

  cp(argv) {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    child.on('error', (err) => fail(err));
    child.stdin.on('error', (err) => fail(err));
    let onLine = () => {};
    const splitter = new LineSplitter((line) => onLine(line));
    child.stdout.on('data', (chunk) => splitter.push(chunk));
    child.stdout.on('end', () => splitter.end());
    const closed = once(child, 'close');
    return {
      frame: (line) => Buffer.concat([line, NEWLINE]),
      send: (frame) => child.stdin.write(frame),
      sendJson: (value) => child.stdin.write(`${JSON.stringify(value)}\n`),
      onLine: (fn) => {
        onLine = fn;
      },
      waitDrain: () => once(child.stdin, 'drain'),
      close: () => {
        child.stdin.end();
        return closed;
      },
      stats: () => null,
    };
  },
};

function fail(err) {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
}


async function rtt(conn, { n, warmup }) {
  const line = conn.frame(Buffer.from(JSON.stringify({ jsonrpc: '2.0', method: 'ping', params: { n: 1 } })));
  let resolve = null;
  conn.onLine(() => resolve());
  const roundTrip = () =>
    new Promise((r) => {
      resolve = r;
      conn.send(line);
    });
  report({ ...(await measureRoundTrips(roundTrip, n, warmup)), stats: conn.stats() });
}

async function recv(conn, { n }) {
  const startAt = Math.max(1, Math.floor(n / 10));
  let count = 0;
  let t0 = 0;
  let bytes = 0;
  await new Promise((done) => {
    conn.onLine((line) => {
      count++;
      bytes += line.length;
      if (count === startAt) t0 = performance.now();
      else if (count === n) {
        const secs = (performance.now() - t0) / 1e3;
        report({ lines: n - startAt, secs, linesPerSec: (n - startAt) / secs, bytes, stats: conn.stats() });
        done();
      }
    });
  });
}

async function send(conn, { n }) {
  let result = null;
  const reported = new Promise((resolve) => {
    conn.onLine((line) => resolve((result = JSON.parse(line.toString()))));
  });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    if (!conn.sendJson({ jsonrpc: '2.0', method: 'update', params: { n: i } })) await conn.waitDrain();
  }
  const sendSecs = (performance.now() - t0) / 1e3;
  await reported;
  if (result.count !== n) throw new Error(`child counted ${result.count} of ${n} lines`);
  report({ lines: n, linesPerSec: result.linesPerSec, childSecs: result.secs, sendSecs, stats: conn.stats() });
}

const ROLES = { rtt, recv, send };

async function main() {
  const [role, implName, json] = process.argv.slice(2);
  if (!ROLES[role] || !impls[implName] || !json) {
    throw new Error(`usage: stdio-parent.js ${Object.keys(ROLES).join('|')} ${Object.keys(impls).join('|')} JSON`);
  }
  const options = JSON.parse(json);
  const conn = impls[implName](options.child);
  await ROLES[role](conn, options);
  await closeSoon(conn);
  process.exit(0);
}

main().catch(fail);
