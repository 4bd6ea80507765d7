'use strict';
// Children for the stdio tests, written with plain Node (not this package), each a peer with one
// behaviour:
//   echo-lines              echoes each line of stdin; exits 0 when stdin ends
//   echo-lp                 echoes each 4-byte length-prefixed frame; exits 0 when stdin ends
//   burst N                 writes N JSON lines {"n":i} to stdout, then exits 0
//   exit-after CODE K       echoes K lines, then exits with CODE without reading more
//   exit-mid-frame [length-prefixed]  writes one whole frame and part of another, then exits 0
//   stderr-flood BYTES      writes BYTES of numbered lines to stderr, then echoes lines
//   ignore-eof              echoes lines, ignores the end of stdin and SIGTERM (only SIGKILL ends it)
//   linger                  echoes lines; at the end of stdin waits 200 ms, then exits 7
// Their framing is ./wire.cjs, which shares no code with the package either.
const { line, lp, lpHeader, readLengthPrefixed, readLines } = require('./wire.cjs');

const mode = process.argv[2];
const arg = (i) => Number(process.argv[3 + i]);

/** Calls `onLine` with each line of stdin, as text without its '\n'. */
function lines(onLine) {
  process.stdin.on('data', readLines((l) => onLine(l.toString())));
}

switch (mode) {
  case 'echo-lines':
    lines((l) => process.stdout.write(line(l)));
    break;
  case 'echo-lp':
    process.stdin.on('data', readLengthPrefixed((f) => process.stdout.write(lp(f))));
    break;
  case 'burst': {
    const n = arg(0);
    let i = 0;
    const more = () => {
      while (i < n) {
        if (!process.stdout.write(`{"n":${i++}}\n`)) return process.stdout.once('drain', more);
      }
      process.stdout.end(() => process.exit(0));
    };
    more();
    break;
  }
  case 'exit-after': {
    let k = 0;
    lines((l) => {
      process.stdout.write(l + '\n');
      if (++k === arg(1)) process.stdout.write('', () => process.exit(arg(0)));
    });
    break;
  }
  case 'exit-mid-frame':
    if (process.argv[3] === 'length-prefixed') {
      // One whole frame, then a header announcing 10 bytes and only 3 of them.
      const frame = Buffer.concat([lp('whole'), lpHeader(10), Buffer.from('hal')]);
      process.stdout.write(frame, () => process.exit(0));
    } else process.stdout.write('whole\nhal', () => process.exit(0));
    break;
  case 'stderr-flood': {
    let line = 0;
    let left = arg(0);
    while (left > 0) {
      const text = `stderr line ${line++}\n`;
      process.stderr.write(text);
      left -= text.length;
    }
    lines((l) => process.stdout.write(l + '\n'));
    break;
  }
  case 'ignore-eof':
    process.on('SIGTERM', () => process.stderr.write('ignoring SIGTERM\n'));
    lines((l) => process.stdout.write(l + '\n'));
    process.stdin.on('end', () => setInterval(() => {}, 1000));
    break;
  case 'linger':
    lines((l) => process.stdout.write(l + '\n'));
    process.stdin.on('end', () => setTimeout(() => process.exit(7), 200));
    break;
  default:
    process.stderr.write(`unknown mode ${mode}\n`);
    process.exit(2);
}
