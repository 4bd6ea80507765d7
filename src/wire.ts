// Walking back through bytes this package framed itself (a send batch): where each frame's payload
// starts and ends. Used to hand back frames a connection never wrote, and to replay a resumable
// session from a given frame. The bytes are our own output, so they are well formed by construction.

/** Framing codes, as the transport numbers them. */
export const LENGTH_PREFIXED = 0;
export const LINES = 1;
export const CONTENT_LENGTH = 2;

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const CONTENT_LENGTH_PREFIX = 'Content-Length: '.length;

/** The frame at `pos`: [payload start, payload end, start of the next frame]. */
export function frameAt(buf: Buffer, pos: number, framing: number): [number, number, number] {
  if (framing === LENGTH_PREFIXED) {
    const end = pos + 4 + buf.readUInt32BE(pos);
    return [pos + 4, end, end];
  }
  if (framing === CONTENT_LENGTH) {
    const sep = buf.indexOf(CRLFCRLF, pos);
    const start = sep + 4;
    const end = start + Number.parseInt(buf.toString('latin1', pos + CONTENT_LENGTH_PREFIX, sep), 10);
    return [start, end, end];
  }
  const end = buf.indexOf(0x0a, pos);
  return [pos, end, end + 1];
}
