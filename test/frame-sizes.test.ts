// Round trips of frames of many sizes through an echo server, ours on both ends, in each framing mode:
// sizes around the 64-byte, 16 KiB (send copy limit) and 64 KiB (read slab) boundaries, and large
// frames that take the exact-size buffer path. Every byte is checked against a deterministic pattern.
import { afterEach, describe, expect, it } from 'vitest';
import type { Framing } from '../dist/index.js';
import { cleanupAll } from './helpers/common';
import { echoPair, linePattern, pattern, sameBytes } from './helpers/framing-peer';

afterEach(cleanupAll);

const MiB = 1024 * 1024;
const SIZES = [0, 1, 63, 64, 65, 1000, 16383, 16384, 16385, 65535, 65536, 65537, MiB, 4 * MiB];
const MODES: Framing[] = ['length-prefixed', 'lines', 'content-length'];

// Lines framing cannot carry an empty frame or a newline; everything else carries any bytes.
const sizesFor = (framing: Framing): number[] => (framing === 'lines' ? SIZES.filter((s) => s > 0) : SIZES);
const payload = (framing: Framing, size: number, seed: number): Buffer =>
  framing === 'lines' ? linePattern(size, seed) : pattern(size, seed);

describe.each(MODES)('%s', (framing) => {
  it.each(sizesFor(framing))('round-trips a frame of %i bytes unchanged', async (size) => {
    const { client, rec } = await echoPair({ framing });
    const sent = payload(framing, size, size + 1);
    client.send(sent);
    await rec.waitMessages(1);
    expect(rec.messages.length).toBe(1);
    expect(sameBytes(rec.messages[0]!, sent)).toBe('equal');
    expect(client.stats.framesIn).toBe(1);
    expect(client.stats.bytesIn).toBe(size);
    expect(rec.errors).toEqual([]);
  });

  it('round-trips every size one after another on one connection, in order', async () => {
    const { client, rec } = await echoPair({ framing });
    const sent = sizesFor(framing).map((size, i) => payload(framing, size, 1000 + i));
    for (const f of sent) client.send(f);
    await rec.waitMessages(sent.length);
    expect(rec.messages.length).toBe(sent.length);
    sent.forEach((f, i) => expect(`${i}: ${sameBytes(rec.messages[i]!, f)}`).toBe(`${i}: equal`));
  });

  it('round-trips many frames of mixed sizes sent back to back without waiting', async () => {
    const { client, rec } = await echoPair({ framing });
    const mix = [0, 1, 5, 63, 64, 65, 200, 1000, 4095, 16383, 16384, 16385, 30_000, 65535, 65536, 65537, 150_000];
    const sizes = framing === 'lines' ? mix.filter((s) => s > 0) : mix;
    const sent: Buffer[] = [];
    // About 12 MiB in 2000 frames, queued in one go: send() returning false (backpressure) only says
    // to slow down; nothing is lost below maxBufferedBytes.
    for (let i = 0; i < 2000; i++) {
      const size = i % 50 === 49 ? sizes[sizes.length - 1]! : sizes[(i * 7) % (sizes.length - 1)]!;
      sent.push(payload(framing, size, 50_000 + i));
    }
    for (const f of sent) client.send(f);
    await rec.waitMessages(sent.length);
    expect(rec.messages.length).toBe(sent.length);
    for (let i = 0; i < sent.length; i++) {
      const verdict = sameBytes(rec.messages[i]!, sent[i]!);
      if (verdict !== 'equal') throw new Error(`frame ${i} (${sent[i]!.length} bytes): ${verdict}`);
    }
    expect(client.stats.framesIn).toBe(sent.length);
    expect(rec.errors).toEqual([]);
  });
});
