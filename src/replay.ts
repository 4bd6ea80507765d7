// The replay log of a resumable session: every frame written and not yet acknowledged by the peer,
// kept as what was written. A connection hands over each send batch that holds sequenced frames once
// it is written (instead of reusing it), and each large frame it wrote from the caller's memory; the
// log keeps them until the peer's acknowledgements pass them. After a reconnect it writes them again,
// from the first frame the peer did not get, as they are: same bytes, same sequence numbers.
//
// Frames are numbered consecutively and written in order, so the log's entries hold consecutive runs,
// and per-frame bookkeeping is a pair of numbers per batch rather than an object per frame.
import { frameCost } from './credit';
import { T_SEQ, readSeq, seqHeaderLength } from './envelope';
import { type RetainSink, type Transport, kLink } from './transport';
import { FramingCode, frameAt } from './wire';

interface Entry {
  /** A whole send batch (framed, enveloped), or one frame's payload (`frame`). */
  bytes: Buffer;
  len: number;
  first: number;
  last: number;
  frame: boolean;
}

export class ReplayLog implements RetainSink {
  #entries: Entry[] = [];
  #head = 0;
  #framing: FramingCode;
  #hex: boolean;
  #seqHeader: number;
  /** Highest sequence number the peer acknowledged. */
  #acked = 0;
  /** Bytes held (whole batches: a partly acknowledged batch counts whole until it is all acknowledged). */
  bytes = 0;

  constructor(framing: FramingCode) {
    this.#framing = framing;
    this.#hex = framing === FramingCode.Lines;
    this.#seqHeader = seqHeaderLength(this.#hex);
  }

  retain(batch: Buffer, len: number, first: number, last: number): void {
    this.#entries.push({ bytes: batch, len, first, last, frame: false });
    this.bytes += len;
  }

  retainFrame(frame: Uint8Array, seq: number): void {
    const bytes = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.length);
    this.#entries.push({ bytes, len: frame.length, first: seq, last: seq, frame: true });
    this.bytes += frame.length;
  }

  /** Frames held that the peer has not acknowledged. */
  get frames(): number {
    if (this.#head === this.#entries.length) return 0;
    const first = Math.max(this.#acked + 1, this.#entries[this.#head]!.first);
    return this.#entries[this.#entries.length - 1]!.last - first + 1;
  }

  /** The oldest sequence number held and not acknowledged, or 0 when none is. */
  get firstHeld(): number {
    if (this.#head === this.#entries.length) return 0;
    return Math.max(this.#acked + 1, this.#entries[this.#head]!.first);
  }

  /** The peer has every frame up to `seq`: entries wholly at or below it are let go. */
  release(seq: number): void {
    if (seq <= this.#acked) return;
    this.#acked = seq;
    while (this.#head < this.#entries.length && this.#entries[this.#head]!.last <= seq) {
      this.bytes -= this.#entries[this.#head]!.len;
      this.#entries[this.#head++] = undefined as unknown as Entry;
    }
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head > 256 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * Writes every frame the peer has not acknowledged on `conn`, in order, before anything else is sent
   * there. Batches go out as they are, the first one from its first unacknowledged frame. Returns
   * what the frames written cost against the peer's credit (src/credit.ts).
   *
   * The replay does not wait for credit: these frames were sent within the credit of the connection
   * that dropped, and the peer's grant on the new one (its window, less what it still holds) covers
   * every frame it did not get, each of which started below the old limit.
   */
  replay(conn: Transport): number {
    let cost = 0;
    for (let i = this.#head; i < this.#entries.length; i++) {
      // A write that failed closed the connection: the rest waits for the next one (kept here).
      if (conn.state !== 'open') return cost;
      const e = this.#entries[i]!;
      if (e.last <= this.#acked) continue;
      if (e.frame) {
        conn[kLink].sendSeq(e.bytes, e.first, true);
        cost += frameCost(e.len);
      } else cost += this.#replayBatch(conn, e, this.#offsetAfter(e, Math.max(this.#acked, e.first - 1)));
    }
    return cost;
  }

  /**
   * The sequenced frames of a batch from `from`, as they are, a run at a time. The control frames among
   * them belonged to the connection that wrote them and mean something else on this one (the server's
   * hello; an acknowledgement of a session the peer no longer knows; a pong of another ping): skipped.
   */
  #replayBatch(conn: Transport, e: Entry, from: number): number {
    let run = -1;
    let pos = from;
    let cost = 0;
    while (pos < e.len) {
      const [start, end, next] = frameAt(e.bytes, pos, this.#framing);
      if (e.bytes[start] === T_SEQ) {
        cost += frameCost(end - start - this.#seqHeader);
        if (run < 0) run = pos;
      } else if (run >= 0) {
        conn[kLink].writeRaw(e.bytes, run, pos);
        run = -1;
      }
      pos = next;
    }
    if (run >= 0) conn[kLink].writeRaw(e.bytes, run, e.len);
    return cost;
  }

  /** Offset in a batch of the first sequenced frame numbered above `seq`. */
  #offsetAfter(e: Entry, seq: number): number {
    let pos = 0;
    while (pos < e.len) {
      const [start, end, next] = frameAt(e.bytes, pos, this.#framing);
      if (e.bytes[start] === T_SEQ && readSeq(e.bytes, start, end - start, this.#hex) > seq) return pos;
      pos = next;
    }
    return e.len;
  }

  /** Payloads of the unacknowledged frames of the oldest entry, which is let go (a full queue). */
  shiftOldest(): Buffer[] {
    const out: Buffer[] = [];
    if (this.#head === this.#entries.length) return out;
    const e = this.#entries[this.#head]!;
    this.#payloads(e, out);
    this.bytes -= e.len;
    this.#entries[this.#head++] = undefined as unknown as Entry;
    // The peer may or may not have had them; what it gets next starts past them (the hello says so).
    this.#acked = Math.max(this.#acked, e.last);
    return out;
  }

  /** Payloads of every unacknowledged frame, oldest first; the log is emptied. */
  takeAll(): Buffer[] {
    const out: Buffer[] = [];
    while (this.#head < this.#entries.length) out.push(...this.shiftOldest());
    this.#entries = [];
    this.#head = 0;
    return out;
  }

  #payloads(e: Entry, out: Buffer[]): void {
    if (e.frame) {
      if (e.first > this.#acked) out.push(e.bytes);
      return;
    }
    let pos = 0;
    while (pos < e.len) {
      const [start, end, next] = frameAt(e.bytes, pos, this.#framing);
      if (e.bytes[start] === T_SEQ && readSeq(e.bytes, start, end - start, this.#hex) > this.#acked) {
        out.push(e.bytes.subarray(start + this.#seqHeader, end));
      }
      pos = next;
    }
  }
}
