// The envelope: what a frame carries when both ends run this package with `heartbeat` or `resume`.
// Without either, frames are the user's bytes and nothing else. With them, the first byte of every
// frame says what it is, so control frames (ping, pong, acknowledgements, the handshake) travel in
// the same framed stream as data:
//
//   'D' payload                 data (heartbeat only)
//   'S' seq:u64 payload         data with its sequence number (resume)
//   'A' seq:u64                 every data frame up to seq has been delivered (resume)
//   'P' id:u32                  ping
//   'O' id:u32                  pong: the ping's id, echoed
//   'H' hello                   the handshake, first frame each way on every connection (below)
//   'B'                         bye: the session ends on purpose (resume)
//   'W' limit:u64               credit (resume): the peer may start data frames below this cost (src/credit.ts)
//
// Numbers are big-endian. In 'lines' framing a frame may not contain a newline, so the fixed fields
// after the type byte are written as lowercase hexadecimal text (two characters per byte); the payload
// is never encoded. The README documents the same table.

export const T_DATA = 0x44; // 'D'
export const T_SEQ = 0x53; // 'S'
export const T_ACK = 0x41; // 'A'
export const T_PING = 0x50; // 'P'
export const T_PONG = 0x4f; // 'O'
export const T_HELLO = 0x48; // 'H'
export const T_BYE = 0x42; // 'B'
export const T_WINDOW = 0x57; // 'W'

// Version 2 added credit-based flow control to resume: the hello carries the receive window, and 'W'
// frames return credit. A version 1 peer would send past our window and stop reading acknowledgements
// when its consumer is slow (the deadlock version 2 removes), so the handshake refuses it by name.
export const PROTOCOL_VERSION = 2;
const MAGIC = Buffer.from('SIPC', 'latin1');

/** Hello flags. */
export const F_HEARTBEAT = 1;
export const F_RESUME = 2;
/** Server to client: the session id was known, and `received` counts from its earlier connections. */
export const F_RESUMED = 4;

/** A reader accepts frames this much larger than maxFrameSize when the envelope is on. */
export const ENVELOPE_SLACK = 64;

export const SESSION_ID_BYTES = 16;

/**
 * The handshake. The client speaks first, on every connection; the server answers with its own hello
 * before anything else, or closes.
 *
 *   'H' 'SIPC' version:u8 flags:u8 session:16 bytes received:u64 first:u64 window:u64
 *
 * `session` is the client's random id (zeros without resume). `received` is the sequence number of the
 * last data frame the sender of the hello delivered from its peer in this session; `first` is the
 * sequence number of the oldest frame it still holds for replay (the next one it will assign if it
 * holds none). The server's answer echoes the session and sets F_RESUMED when it knew it.
 */
export interface Hello {
  version: number;
  flags: number;
  session: Buffer;
  received: number;
  first: number;
  /**
   * The credit the sender of the hello grants on this connection (resume): its peer may start data
   * frames while their cost (src/credit.ts) stays below it. 0 without resume (no credit is kept).
   */
  window: number;
}

const HELLO_BODY = MAGIC.length + 1 + 1 + SESSION_ID_BYTES + 8 + 8 + 8;

function writeU64(buf: Buffer, value: number, pos: number): void {
  buf.writeUInt32BE(Math.floor(value / 0x1_0000_0000), pos);
  buf.writeUInt32BE(value >>> 0, pos + 4);
}

function readU64(buf: Uint8Array, pos: number): number {
  const b = buf as Buffer;
  return b.readUInt32BE(pos) * 0x1_0000_0000 + b.readUInt32BE(pos + 4);
}

/** A control frame: the type byte, then `body` (hex text in lines framing). */
export function controlFrame(type: number, body: Buffer | null, hex: boolean): Buffer {
  if (body === null || body.length === 0) return Buffer.from([type]);
  if (!hex) {
    const out = Buffer.allocUnsafe(1 + body.length);
    out[0] = type;
    body.copy(out, 1);
    return out;
  }
  const text = body.toString('hex');
  const out = Buffer.allocUnsafe(1 + text.length);
  out[0] = type;
  out.write(text, 1, 'latin1');
  return out;
}

/** The fixed fields of a received control frame, decoded from hex in lines framing; null if malformed. */
export function controlBody(frame: Uint8Array, hex: boolean): Buffer | null {
  const rest = Buffer.from(frame.buffer, frame.byteOffset + 1, frame.length - 1);
  if (!hex) return rest;
  if (rest.length % 2 !== 0) return null;
  const text = rest.toString('latin1');
  if (!/^[0-9a-f]*$/.test(text)) return null;
  return Buffer.from(text, 'hex');
}

export function u64Body(value: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  writeU64(b, value, 0);
  return b;
}

export function u32Body(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}

export function encodeHello(h: Hello, hex: boolean): Buffer {
  const body = Buffer.alloc(HELLO_BODY);
  MAGIC.copy(body, 0);
  body[4] = h.version;
  body[5] = h.flags;
  h.session.copy(body, 6, 0, SESSION_ID_BYTES);
  writeU64(body, h.received, 6 + SESSION_ID_BYTES);
  writeU64(body, h.first, 14 + SESSION_ID_BYTES);
  writeU64(body, h.window, 22 + SESSION_ID_BYTES);
  return controlFrame(T_HELLO, body, hex);
}

/**
 * The hello in a control frame's body, or null when it is not one. A hello of another version is
 * returned with only its version read (its layout may differ), for the handshake to refuse by name.
 */
export function decodeHello(body: Buffer | null): Hello | null {
  if (body === null || body.length < MAGIC.length + 1 || !body.subarray(0, 4).equals(MAGIC)) return null;
  const version = body[4]!;
  if (version !== PROTOCOL_VERSION) return { version, flags: 0, session: Buffer.alloc(SESSION_ID_BYTES), received: 0, first: 0, window: 0 };
  if (body.length !== HELLO_BODY) return null;
  return {
    version: body[4]!,
    flags: body[5]!,
    session: Buffer.from(body.subarray(6, 6 + SESSION_ID_BYTES)),
    received: readU64(body, 6 + SESSION_ID_BYTES),
    first: readU64(body, 14 + SESSION_ID_BYTES),
    window: readU64(body, 22 + SESSION_ID_BYTES),
  };
}

export function readU64Body(body: Buffer | null): number {
  return body !== null && body.length === 8 ? readU64(body, 0) : -1;
}

export function readU32Body(body: Buffer | null): number {
  return body !== null && body.length === 4 ? body.readUInt32BE(0) : -1;
}

/** Length of an 'S' frame's envelope header: the type byte and the sequence number. */
export function seqHeaderLength(hex: boolean): number {
  return hex ? 17 : 9;
}

/** Writes an 'S' header (or, with `type`, an 'A' frame) at `pos` of `buf`; returns the position after it. */
export function writeSeqHeader(buf: Buffer, pos: number, seq: number, hex: boolean, type = T_SEQ): number {
  buf[pos] = type;
  if (!hex) {
    // Byte by byte: this runs once per frame sent with resume, and the Buffer methods check bounds.
    const hi = (seq / 0x1_0000_0000) >>> 0;
    const lo = seq >>> 0;
    buf[pos + 1] = hi >>> 24;
    buf[pos + 2] = (hi >>> 16) & 0xff;
    buf[pos + 3] = (hi >>> 8) & 0xff;
    buf[pos + 4] = hi & 0xff;
    buf[pos + 5] = lo >>> 24;
    buf[pos + 6] = (lo >>> 16) & 0xff;
    buf[pos + 7] = (lo >>> 8) & 0xff;
    buf[pos + 8] = lo & 0xff;
    return pos + 9;
  }
  buf.write(seq.toString(16).padStart(16, '0'), pos + 1, 'latin1');
  return pos + 17;
}

/**
 * The sequence number of the 'S' (or 'A') frame of `len` bytes at `at` in `buf`, or -1 when it is malformed.
 * Read in place: this runs once per frame received with resume.
 */
export function readSeq(buf: Buffer, at: number, len: number, hex: boolean): number {
  if (!hex) {
    if (len < 9) return -1;
    const hi = ((buf[at + 1]! << 24) | (buf[at + 2]! << 16) | (buf[at + 3]! << 8) | buf[at + 4]!) >>> 0;
    const lo = ((buf[at + 5]! << 24) | (buf[at + 6]! << 16) | (buf[at + 7]! << 8) | buf[at + 8]!) >>> 0;
    return hi * 0x1_0000_0000 + lo;
  }
  if (len < 17) return -1;
  const text = buf.toString('latin1', at + 1, at + 17);
  const value = Number.parseInt(text, 16);
  return /^[0-9a-f]{16}$/.test(text) && Number.isSafeInteger(value) ? value : -1;
}
