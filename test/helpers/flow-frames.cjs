'use strict';
// Numbered frames for the flow tests (test/flow-matrix.test.ts, ./flow-server.cjs, ./flow-client.cjs):
// frame i is `size` bytes, its index as a big-endian uint32 in the first four bytes, the rest a
// pattern that depends on i (a fixed pseudo-random 256-byte cycle, entered at an offset derived from
// i), so a frame that is late, early, repeated, cut or mixed with another is told apart from the
// right one. Making and checking a frame is a copy and a memcmp against one shared buffer, no loop
// per byte.

/** 256 pseudo-random bytes (a fixed LCG: the same in every process). */
const CYCLE = (() => {
  const b = Buffer.alloc(256);
  let x = 0x2545f491;
  for (let k = 0; k < 256; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[k] = x >>> 24;
  }
  return b;
})();

/** The cycle repeated over `size + 256` bytes: frame i's pattern is a window of it. */
function patternFor(size) {
  const b = Buffer.alloc(size + 256);
  for (let k = 0; k < b.length; k += 256) CYCLE.copy(b, k, 0, Math.min(256, b.length - k));
  return b;
}

const offsetOf = (i) => (Math.imul(i, 97) + 13) & 0xff;

/** A maker and a checker of frames of one size. */
function frames(size) {
  if (size < 4) throw new RangeError('frames carry a 4-byte index');
  const pattern = patternFor(size);
  return {
    size,
    /** A new buffer each time: a frame over 16 KiB is sent from the caller's memory, not copied. */
    make(i) {
      const f = Buffer.allocUnsafe(size);
      f.writeUInt32BE(i >>> 0, 0);
      const off = offsetOf(i);
      pattern.copy(f, 4, off + 4, off + size);
      return f;
    },
    /** The index a frame carries (-1 when too short to carry one). */
    indexOf(f) {
      return f.length >= 4 ? f.readUInt32BE(0) : -1;
    },
    /** null when `f` is exactly frame `i`, else what is wrong with it. */
    check(f, i) {
      if (f.length !== size) return `frame #${i}: ${f.length} bytes, not ${size}`;
      const got = f.readUInt32BE(0);
      if (got !== i) return `frame #${i} carried index ${got}`;
      const off = offsetOf(i);
      if (f.compare(pattern, off + 4, off + size, 4, size) !== 0) return `frame #${i}: its content is not frame ${i}'s pattern`;
      return null;
    },
  };
}

/** One JSON object per stdout line, for the test to read with LineChild. */
function say(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** A stats object with only its numeric fields (and undefined kept visible as null). */
function statsOf(t, names) {
  const s = t.stats;
  const out = {};
  for (const n of names) out[n] = s[n] === undefined ? null : s[n];
  return out;
}

/** 'drain', or the transport's end (then there is nothing left to send on, and the test sees why). */
function drainOrClose(t) {
  return new Promise((resolve) => {
    const done = () => {
      t.off('drain', done);
      t.off('close', done);
      resolve();
    };
    t.on('drain', done);
    t.on('close', done);
  });
}

module.exports = { drainOrClose, frames, say, statsOf };
