// The seam under Transport: what moves a transport's bytes. A Transport (src/transport.ts) frames what
// it sends, hands whole frames to its carrier, and receives frames back already split. It knows nothing
// else of how they travel: a socket or pipe (the native stream, src/native.ts, which satisfies this
// interface as it is, so the socket path pays no extra call), a child's stdout and stdin together
// (src/stdio-carrier.ts), or a pair in one process (src/memory-carrier.ts). A shared-memory ring and a
// NATS subject pair implement the same members.
//
// The contract, which every carrier keeps:
// - write() takes whole frames in the transport's framing (one batch of small frames, or one large
//   frame as a header and its body) and returns at once how many of those bytes it could not hand on
//   yet (0: all of them), or a negative libuv error code. Bytes it holds are reported later, in order,
//   by one onWrite() per write that returned > 0. The caller's memory is only read until write()
//   returns (for the bytes taken) or until that onWrite() (for the bytes held).
// - Frames arrive by onFrames(slab, count): frame i is slab[FRAME_TABLE[2i], +FRAME_TABLE[2i+1]). The
//   transport builds views into `slab` and hands them to the user, so a carrier never writes again into
//   bytes it has delivered. At most FRAMES_PER_CALL frames per call.
// - Reading happens only between readStart() and readStop(); a carrier that cannot stop its source
//   holds what comes (that is where back-pressure reaches the peer).
// - The end of what the peer sends is onEnd(UV_EOF, 0); a framing error onEnd(0, FramerError.*); any
//   other failure onEnd(negative code, 0). After onEnd no more frames come.
// - shutdown() ends what we send once every write is out, and completes by onShutdown(status).
// - close() releases everything; onClose() follows exactly once, asynchronously, and nothing after it.
import { FRAME_TABLE } from './native';

export { FRAME_TABLE };

/** The most frames one onFrames() call may deliver (the size of FRAME_TABLE). */
export const FRAMES_PER_CALL = FRAME_TABLE.length / 2;

/** What a carrier reports to the transport over it. */
export interface CarrierOwner {
  onFrames(slab: ArrayBuffer, count: number): void;
  onEnd(status: number, framerError: number): void;
  /** A held write finished; when it failed, `unwritten` of its bytes never left. */
  onWrite(status: number, bytes: number, unwritten: number): void;
  onShutdown(status: number): void;
  onClose(): void;
}

export interface Carrier {
  /** Set by the transport; callbacks go to it. */
  owner: CarrierOwner | null;
  readStart(): number;
  readStop(): number;
  /** `(batch, length)` or `(head, body)`: the bytes it could not hand on yet, or a negative libuv code. */
  write(buf: Uint8Array, buf2OrLength?: Uint8Array | number): number;
  shutdown(): number;
  close(): void;
  /** Bytes accepted by write() and not handed on yet. */
  writeQueueSize(): number;
  /** At process exit: hands on what is held, then `batch[0, length)`, synchronously within timeoutMs. */
  flushSync(timeoutMs: number, batch?: Uint8Array, length?: number): number;
  /** Whether this carrier keeps the event loop alive. */
  ref(): void;
  unref(): void;
  /** Milliseconds since the last byte in or out. */
  idleTime(): number;
  /** Milliseconds of busy polling on this carrier's behalf (0 where it does not poll). */
  busyPollTime(): number;
  /** Microseconds to poll before sleeping (0: off); a carrier without polling ignores it. */
  setBusyPoll(microseconds: number): void;
  /** Milliseconds since the current partial frame began, or -1 (for frameTimeout). */
  partialAge(): number;
}
