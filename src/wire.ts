// Walking back through bytes this package framed itself (a send batch): where each frame's payload
// starts and ends. Used to hand back frames a connection never wrote, and to replay a resumable
// session from a given frame. The bytes are our own output, so they are well formed by construction.

/**
 * The framing codes, defined once for TypeScript and numbered as native/framer.h's FramingMode (the
 * engine is constructed with them). A const enum: the compiler writes the numbers in place, so the send
 * path compares literals, not module properties.
 */
export const enum FramingCode {
  LengthPrefixed = 0,
  Lines = 1,
  ContentLength = 2,
  /** No framing: chunks as they are read (a child's stderr). */
  Raw = 3,
}

/** The code of each framing name of the options. */
export const FRAMING_CODES = {
  'length-prefixed': FramingCode.LengthPrefixed,
  lines: FramingCode.Lines,
  'content-length': FramingCode.ContentLength,
} as const;

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const CONTENT_LENGTH_PREFIX = 'Content-Length: '.length;

/** The frame at `pos`: [payload start, payload end, start of the next frame]. */
export function frameAt(buf: Buffer, pos: number, framing: FramingCode): [number, number, number] {
  if (framing === FramingCode.LengthPrefixed) {
    const end = pos + 4 + buf.readUInt32BE(pos);
    return [pos + 4, end, end];
  }
  if (framing === FramingCode.ContentLength) {
    const sep = buf.indexOf(CRLFCRLF, pos);
    const start = sep + 4;
    const end = start + Number.parseInt(buf.toString('latin1', pos + CONTENT_LENGTH_PREFIX, sep), 10);
    return [start, end, end];
  }
  const end = buf.indexOf(0x0a, pos);
  return [pos, end, end + 1];
}
