'use strict';

// The child process of bench/stdio.js: a plain Node script on stdin and stdout, the same for
// both parents (ours: spawnStdio; child_process.spawn with a line splitter). No readline: stdin
// is read with 'data' and split by hand (LineSplitter, bench/lib/framing.js).
//
//   node stdio-child.js echo        write every line of stdin back to stdout (all the complete
//                                   lines of one read in one write)
//   node stdio-child.js source N    write N lines {"jsonrpc":"2.0","method":"update","params":{"n":i}}
//                                   as fast as stdout takes them (built beforehand, written
//                                   about 0.9 MiB at a time), then wait for stdin to end
//   node stdio-child.js sink N      count the lines of stdin; once N have arrived, write one line
//                                   {"count","secs","linesPerSec"} timed from the N/10-th line
//                                   to the last, so start-up and JIT warm-up are left out
//
// Every mode exits when its stdin ends.

const { LineSplitter } = require('./framing.js');

const NEWLINE = Buffer.from('\n');
const CHUNK_LINES = 16 * 1024;
const POOL = 1024 * 1024;

function echo() {
  const out = [];
  const splitter = new LineSplitter((line) => out.push(line, NEWLINE));
  process.stdin.on('data', (chunk) => {
    splitter.push(chunk);
    if (out.length === 0) return;
    process.stdout.write(out.length === 2 ? Buffer.concat(out, out[0].length + 1) : Buffer.concat(out));
    out.length = 0;
  });
}

// Lines for numbers from..to-1, in one Buffer.
function lines(from, to) {
  let text = '';
  for (let i = from; i < to; i++) text += `{"jsonrpc":"2.0","method":"update","params":{"n":${i}}}\n`;
  return Buffer.from(text, 'latin1');
}

// The first POOL lines are built beforehand, in chunks of CHUNK_LINES (about 0.9 MiB each), and
// written over and over (a larger N repeats their numbers); the last partial chunk is built at
// the end. Building is not on the measured path, and the child stays small.
async function source(n) {
  const chunks = [];
  for (let i = 0; i + CHUNK_LINES <= Math.min(n, POOL); i += CHUNK_LINES) chunks.push(lines(i, i + CHUNK_LINES));
  process.stdin.resume();
  const write = (buf) => (process.stdout.write(buf) ? null : new Promise((resolve) => process.stdout.once('drain', resolve)));
  let sent = 0;
  for (let i = 0; sent + CHUNK_LINES <= n; i = (i + 1) % chunks.length, sent += CHUNK_LINES) await write(chunks[i]);
  if (sent < n) await write(lines(sent, n));
}

function sink(n) {
  const startAt = Math.max(1, Math.floor(n / 10));
  let count = 0;
  let t0 = 0;
  // Counting needs no line contents: each newline ends one line (the parents send no blank ones).
  process.stdin.on('data', (chunk) => {
    let nl = chunk.indexOf(0x0a);
    while (nl !== -1) {
      count++;
      if (count === startAt) t0 = performance.now();
      else if (count === n) {
        const secs = (performance.now() - t0) / 1e3;
        const lines = n - startAt;
        process.stdout.write(`${JSON.stringify({ count, secs, linesPerSec: lines / secs })}\n`);
      }
      nl = chunk.indexOf(0x0a, nl + 1);
    }
  });
}

const [mode, arg] = process.argv.slice(2);
if (mode === 'echo') echo();
else if (mode === 'source') source(Number(arg));
else if (mode === 'sink') sink(Number(arg));
else {
  console.error('usage: stdio-child.js echo | source N | sink N');
  process.exit(2);
}
