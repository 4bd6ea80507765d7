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
const mode = process.argv[2];
const arg = (i) => Number(process.argv[3 + i]);

function lines(onLine) {
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    pending += chunk;
    let i;
    while ((i = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, i);
      pending = pending.slice(i + 1);
      onLine(line);
    }
  });
}

switch (mode) {
  case 'echo-lines':
    lines((l) => process.stdout.write(l + '\n'));
    break;
  case 'echo-lp': {
    let buf = Buffer.alloc(0);
    process.stdin.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const n = buf.readUInt32BE(0);
        process.stdout.write(buf.subarray(0, 4 + n));
        buf = buf.subarray(4 + n);
      }
    });
    break;
  }
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
      const whole = Buffer.from('whole');
      const frame = Buffer.concat([Buffer.from([0, 0, 0, whole.length]), whole, Buffer.from([0, 0, 0, 10]), Buffer.from('hal')]);
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
