'use strict';
// The three framings on the wire (the README's table), written by hand for the tests' own peers: the
// .ts tests and the child processes below test/helpers read and write frames through this one file.
// It requires nothing from src/ or dist/, so a peer built on it checks the package's encoder and
// decoder instead of agreeing with them by construction. The Python peers (*.py) are foreign peers
// of their own and keep their own framing.
//
//   length-prefixed  a 4-byte big-endian length, then the payload
//   lines            the payload, then '\n' (a '\r' before it is part of the payload here)
//   content-length   `Content-Length: N\r\n\r\n`, then N bytes of payload

const NEWLINE = Buffer.from('\n');

const bytesOf = (p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength));

// --- length-prefixed ------------------------------------------------------------------------------

/** A length header alone: for a header with no body yet, or one announcing more than will follow. */
function lpHeader(length) {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(length, 0);
  return h;
}

/** Each payload behind its 4-byte big-endian length. */
function lp(...payloads) {
  const parts = [];
  for (const p of payloads) {
    const body = bytesOf(p);
    parts.push(lpHeader(body.length), body);
  }
  return Buffer.concat(parts);
}

/** The whole frames at the start of `bytes`, and the incomplete one behind them (`rest`, maybe empty). */
function takeLengthPrefixed(bytes) {
  const frames = [];
  let pos = 0;
  while (bytes.length - pos >= 4) {
    const n = bytes.readUInt32BE(pos);
    if (bytes.length - pos - 4 < n) break;
    frames.push(bytes.subarray(pos + 4, pos + 4 + n));
    pos += 4 + n;
  }
  return { frames, rest: bytes.subarray(pos) };
}

/** The frames of a length-prefixed byte stream; an incomplete one at the end is left out. */
function splitLengthPrefixed(bytes) {
  return takeLengthPrefixed(bytes).frames;
}

/** The frames of a complete length-prefixed byte stream; throws on a partial frame at the end. */
function parseLengthPrefixed(bytes) {
  const { frames, rest } = takeLengthPrefixed(bytes);
  const pos = bytes.length - rest.length;
  if (rest.length > 0) throw new Error(`partial ${rest.length < 4 ? 'header' : 'frame'} at ${pos}`);
  return frames;
}

/**
 * A reader for a stream that arrives in chunks (pass it to `on('data')`): calls `onFrame` with each
 * whole frame's payload, in order, and keeps a partial frame until the rest of it comes.
 */
function readLengthPrefixed(onFrame) {
  return reader(takeLengthPrefixed, onFrame);
}

// --- lines ----------------------------------------------------------------------------------------

/** Each payload followed by '\n'. */
function line(...payloads) {
  return Buffer.concat(payloads.flatMap((p) => [bytesOf(p), NEWLINE]));
}

/** The whole lines at the start of `bytes` (without their '\n'), and the unterminated rest. */
function takeLines(bytes) {
  const frames = [];
  let pos = 0;
  for (let nl = bytes.indexOf(0x0a, pos); nl !== -1; nl = bytes.indexOf(0x0a, pos)) {
    frames.push(bytes.subarray(pos, nl));
    pos = nl + 1;
  }
  return { frames, rest: bytes.subarray(pos) };
}

/** The lines of a byte stream; an unterminated one at the end is left out. */
function splitLines(bytes) {
  return takeLines(bytes).frames;
}

/** Like readLengthPrefixed, for lines: `onLine` gets each line's bytes without its '\n'. */
function readLines(onLine) {
  return reader(takeLines, onLine);
}

// --- content-length -------------------------------------------------------------------------------

/** Each payload behind its `Content-Length: N\r\n\r\n` header. */
function cl(...payloads) {
  const parts = [];
  for (const p of payloads) {
    const body = bytesOf(p);
    parts.push(Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'latin1'), body);
  }
  return Buffer.concat(parts);
}

/**
 * The whole messages at the start of `bytes`, and the incomplete rest. Strict: each header block must
 * be exactly the one header `Content-Length: N` (what the package writes), else this throws.
 */
function takeContentLength(bytes) {
  const frames = [];
  let pos = 0;
  for (;;) {
    const sep = bytes.indexOf('\r\n\r\n', pos, 'latin1');
    if (sep === -1) break;
    const m = /^Content-Length: (\d+)$/.exec(bytes.toString('latin1', pos, sep));
    if (m === null) throw new Error(`not a Content-Length header: ${bytes.toString('latin1', pos, sep)}`);
    const n = Number(m[1]);
    if (sep + 4 + n > bytes.length) break;
    frames.push(bytes.subarray(sep + 4, sep + 4 + n));
    pos = sep + 4 + n;
  }
  return { frames, rest: bytes.subarray(pos) };
}

/** The messages of a Content-Length byte stream; an incomplete one at the end is left out. */
function splitContentLength(bytes) {
  return takeContentLength(bytes).frames;
}

// --- any framing, by name -------------------------------------------------------------------------

const ENCODE = { 'length-prefixed': lp, lines: line, 'content-length': cl };
const SPLIT = { 'length-prefixed': splitLengthPrefixed, lines: splitLines, 'content-length': splitContentLength };

/** The payloads framed as `framing` ('length-prefixed', 'lines' or 'content-length') frames them. */
function encode(framing, ...payloads) {
  const fn = ENCODE[framing];
  if (fn === undefined) throw new RangeError(`unknown framing ${framing}`);
  return fn(...payloads);
}

/** The whole frames of a byte stream in `framing`; an incomplete one at the end is left out. */
function split(framing, bytes) {
  const fn = SPLIT[framing];
  if (fn === undefined) throw new RangeError(`unknown framing ${framing}`);
  return fn(bytes);
}

/** A chunk reader on top of a `take` function: the one place a partial frame waits for its rest. */
function reader(take, onFrame) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const { frames, rest } = take(buf);
    buf = rest;
    for (const f of frames) onFrame(f);
  };
}

module.exports = {
  cl,
  encode,
  line,
  lp,
  lpHeader,
  parseLengthPrefixed,
  readLengthPrefixed,
  readLines,
  split,
  splitContentLength,
  splitLengthPrefixed,
  splitLines,
};
