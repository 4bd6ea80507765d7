// The envelope of heartbeat and resume (src/envelope.ts, the README's table), written and read by hand
// in the tests that check the package against its documented wire format, so a test never builds its
// expectations with the code under test. The framing around them is ./wire.cjs.
import { splitLengthPrefixed } from './wire.cjs';

/**
 * The hello, field by field: 'H' 'SIPC' version 2, flags, 16-byte session, received u64, first u64,
 * window u64 (the credit granted on this connection; the default receiveWindow, 8 MiB, unless given).
 */
export function hello(flags: number, session: Buffer, received: number, first: number, window = 8 * 1024 * 1024): Buffer {
  const b = Buffer.alloc(1 + 4 + 1 + 1 + 16 + 8 + 8 + 8);
  b.write('HSIPC', 0, 'latin1');
  b[5] = 2;
  b[6] = flags;
  session.copy(b, 7);
  b.writeBigUInt64BE(BigInt(received), 23);
  b.writeBigUInt64BE(BigInt(first), 31);
  b.writeBigUInt64BE(BigInt(window), 39);
  return b;
}

/** A data frame of a resumable session: 'S', its sequence number (u64), the text. */
export function seqFrame(seq: number, text: string): Buffer {
  const b = Buffer.alloc(9);
  b.write('S', 0, 'latin1');
  b.writeBigUInt64BE(BigInt(seq), 1);
  return Buffer.concat([b, Buffer.from(text)]);
}


/**
 * The envelope frames of a length-prefixed byte stream, each as short text to compare with toEqual:
 * `S<seq> <text>` for a data frame, `H received=<n> first=<n>` for a hello, the type letter alone for
 * any other frame; an incomplete frame at the end is left out.
 */
export function envelopeTexts(bytes: Buffer): string[] {
  return splitLengthPrefixed(bytes).map((f) => {
    const type = String.fromCharCode(f[0]!);
    if (type === 'S') return `S${f.readBigUInt64BE(1)} ${f.subarray(9).toString()}`;
    if (type === 'H') return `H received=${f.readBigUInt64BE(23)} first=${f.readBigUInt64BE(31)}`;
    return type;
  });
}
