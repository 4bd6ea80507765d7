// A carrier made of two native streams, one read and one written: a child's stdout and stdin
// (spawnStdio), or this process's own stdin and stdout (openStdio). The transport over it sees one
// carrier; each stream reports straight to the transport's own callbacks (no extra call per frame or
// per write completion), except close, which is reported once both streams are closed.
import type { Carrier, CarrierOwner } from './carrier';
import type { NativeStream } from './native';

export class StdioCarrier implements Carrier {
  /**
   * False for openStdio: its stdout is a duplicate of a descriptor other code shares, and shutting a
   * socket down would end it for all of them. The transport then closes once its writes are out.
   */
  readonly halfClose: boolean;
  readonly reader: NativeStream;
  readonly writer: NativeStream;
  #owner: CarrierOwner | null = null;

  constructor(reader: NativeStream, writer: NativeStream, halfClose: boolean) {
    this.reader = reader;
    this.writer = writer;
    this.halfClose = halfClose;
  }

  get owner(): CarrierOwner | null {
    return this.#owner;
  }

  set owner(owner: CarrierOwner | null) {
    this.#owner = owner;
    if (owner === null) {
      this.reader.owner = null;
      this.writer.owner = null;
      return;
    }
    let open = 2;
    const onClose = (): void => {
      if (--open === 0) owner.onClose();
    };
    const noConnect = (): void => {};
    // The native binding's owner also has the listener's and connector's callbacks; neither fires on
    // a stream that is already connected.
    const streamOwner = {
      onFrames: owner.onFrames,
      onEnd: owner.onEnd,
      onWrite: owner.onWrite,
      onShutdown: owner.onShutdown,
      onConnection: noConnect,
      onConnect: noConnect,
      onClose,
    };
    this.reader.owner = streamOwner;
    this.writer.owner = { ...streamOwner };
  }

  readStart(): number {
    return this.reader.readStart();
  }

  readStop(): number {
    return this.reader.readStop();
  }

  write(buf: Uint8Array, buf2OrLength?: Uint8Array | number): number {
    return this.writer.write(buf, buf2OrLength);
  }

  shutdown(): number {
    return this.writer.shutdown();
  }

  close(): void {
    this.reader.close();
    this.writer.close();
  }

  writeQueueSize(): number {
    return this.writer.writeQueueSize();
  }

  flushSync(timeoutMs: number, batch?: Uint8Array, length?: number): number {
    return batch === undefined ? this.writer.flushSync(timeoutMs) : this.writer.flushSync(timeoutMs, batch, length);
  }

  ref(): void {
    this.reader.ref();
    this.writer.ref();
  }

  unref(): void {
    this.reader.unref();
    this.writer.unref();
  }

  idleTime(): number {
    return Math.min(this.reader.idleTime(), this.writer.idleTime());
  }

  busyPollTime(): number {
    // The reader is where polling pays (it waits for the peer's frames); the writer's window is the same.
    return this.reader.busyPollTime();
  }

  setBusyPoll(microseconds: number): void {
    this.reader.setBusyPoll(microseconds);
    this.writer.setBusyPoll(microseconds);
  }

  partialAge(): number {
    return this.reader.partialAge();
  }
}
