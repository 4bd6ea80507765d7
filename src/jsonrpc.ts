// vscode-jsonrpc is an optional peer dependency: only its types are imported here (erased at compile
// time), and the module itself is required on the first call, so this package loads without it.
import type {
  ConnectionOptions,
  DataCallback,
  Disposable,
  Logger,
  Message,
  MessageConnection,
  MessageReader,
  MessageWriter,
} from 'vscode-jsonrpc/node';
import { ErrorCodes, TransportError } from './errors';
import { parseJsonFrame, sendJson } from './json';
import type { Transport } from './transport';

type Rpc = typeof import('vscode-jsonrpc/node');

interface Adapters {
  rpc: Rpc;
  Reader: new (t: Transport) => MessageReader;
  Writer: new (t: Transport) => MessageWriter;
}

let adapters: Adapters | null = null;

/**
 * A vscode-jsonrpc MessageReader that takes each frame of `t` as one JSON-RPC message, in any framing
 * ('content-length' for LSP, 'lines' for newline-delimited peers). A frame that is not JSON is reported
 * through `onError` (ERR_IPC_INVALID_JSON) and reading goes on; the transport's own error, if it fails,
 * goes to `onError` too, then `onClose` when it closes.
 */
export function createMessageReader(t: Transport): MessageReader {
  return new (load().Reader)(t);
}

/**
 * A vscode-jsonrpc MessageWriter that sends each message as one frame of `t`. While `send()` reports
 * backpressure, later messages wait for `'drain'` (in order), and `write()` resolves once its message is
 * accepted without excess. A failed write rejects and is reported through `onError`.
 */
export function createMessageWriter(t: Transport): MessageWriter {
  return new (load().Writer)(t);
}

/** A vscode-jsonrpc MessageConnection over `t`. Call `listen()` on it to start. */
export function createMessageConnection(t: Transport, logger?: Logger, options?: ConnectionOptions): MessageConnection {
  const { rpc, Reader, Writer } = load();
  return rpc.createMessageConnection(new Reader(t), new Writer(t), logger, options);
}

function load(): Adapters {
  if (adapters !== null) return adapters;
  let rpc: Rpc;
  try {
    rpc = require('vscode-jsonrpc/node') as Rpc;
  } catch (cause) {
    const err = new Error('The JSON-RPC adapters need the optional peer dependency vscode-jsonrpc (>=8): npm install vscode-jsonrpc', {
      cause,
    });
    (err as Error & { code: string }).code = (cause as { code?: string })?.code ?? 'MODULE_NOT_FOUND';
    throw err;
  }
  adapters = { rpc, ...defineAdapters(rpc) };
  return adapters;
}

function defineAdapters(rpc: Rpc): Omit<Adapters, 'rpc'> {
  class Reader extends rpc.AbstractMessageReader {
    #t: Transport;
    #callback: DataCallback | null = null;
    #onMessage = (frame: Buffer): void => {
      let msg: unknown;
      try {
        msg = parseJsonFrame(frame, this.#t.endpoint);
      } catch (err) {
        this.fireError(err);
        return;
      }
      this.#callback?.(msg as Message);
    };
    #onError = (err: Error): void => this.fireError(err);
    #onClose = (): void => {
      this.#detach();
      this.fireClose();
    };

    constructor(t: Transport) {
      super();
      this.#t = t;
      // A transport that fails emits 'error', which throws with no listener: the reader takes it from
      // the moment it exists, so it reaches the connection's onError instead.
      t.on('error', this.#onError);
      t.on('close', this.#onClose);
      if (t.state === 'closed') queueMicrotask(this.#onClose);
    }

    listen(callback: DataCallback): Disposable {
      this.#callback = callback;
      this.#t.on('message', this.#onMessage);
      return {
        dispose: () => {
          this.#callback = null;
          this.#t.off('message', this.#onMessage);
        },
      };
    }

    override dispose(): void {
      this.#detach();
      super.dispose();
    }

    #detach(): void {
      this.#callback = null;
      this.#t.off('message', this.#onMessage);
      this.#t.off('error', this.#onError);
      this.#t.off('close', this.#onClose);
    }
  }

  interface Pending {
    msg: Message;
    resolve: () => void;
    reject: (err: unknown) => void;
  }

  class Writer extends rpc.AbstractMessageWriter implements MessageWriter {
    #t: Transport;
    #queue: Pending[] = [];
    #queueHead = 0;
    // Set while the transport holds more than its writableHighWaterMark: the write that filled it, which
    // resolves on 'drain'; later writes wait in #queue behind it.
    #blocked: Pending | null = null;
    #errorCount = 0;
    #onDrain = (): void => this.#flush();
    #onClose = (): void => {
      this.#detach();
      const closed = (): TransportError =>
        new TransportError(`Message not sent: ${this.#t.endpoint} closed`, ErrorCodes.CLOSED, { address: this.#t.endpoint });
      if (this.#blocked !== null) {
        // Its frame was accepted; whether it got out is unknown, but nothing waits behind it any more.
        this.#blocked.resolve();
        this.#blocked = null;
      }
      for (const p of this.#queue.splice(this.#queueHead)) this.#fail(p, closed());
      this.#queue = [];
      this.#queueHead = 0;
      this.fireClose();
    };

    constructor(t: Transport) {
      super();
      this.#t = t;
      t.on('drain', this.#onDrain);
      t.on('close', this.#onClose);
      if (t.state === 'closed') queueMicrotask(this.#onClose);
    }

    write(msg: Message): Promise<void> {
      if (this.#blocked === null && this.#queueHead === this.#queue.length) {
        try {
          if (sendJson(this.#t, msg)) return Promise.resolve();
        } catch (err) {
          this.#errorCount++;
          this.fireError(err, msg, this.#errorCount);
          return Promise.reject(err);
        }
        return new Promise((resolve, reject) => {
          this.#blocked = { msg, resolve, reject };
        });
      }
      return new Promise((resolve, reject) => {
        this.#queue.push({ msg, resolve, reject });
      });
    }

    end(): void {
      void this.#t.close();
    }

    override dispose(): void {
      this.#detach();
      // Nobody listens for errors any more: settle what waits, without reporting.
      this.#blocked?.resolve();
      this.#blocked = null;
      const disposed = new Error('Message not sent: the writer was disposed');
      for (const p of this.#queue.splice(this.#queueHead)) p.reject(disposed);
      this.#queue = [];
      this.#queueHead = 0;
      super.dispose();
    }

    #flush(): void {
      if (this.#blocked !== null) {
        this.#blocked.resolve();
        this.#blocked = null;
      }
      while (this.#queueHead < this.#queue.length) {
        const p = this.#queue[this.#queueHead]!;
        this.#queue[this.#queueHead++] = undefined as unknown as Pending;
        let ok: boolean;
        try {
          ok = sendJson(this.#t, p.msg);
        } catch (err) {
          this.#fail(p, err);
          continue;
        }
        if (!ok) {
          this.#blocked = p;
          return;
        }
        p.resolve();
      }
      this.#queue = [];
      this.#queueHead = 0;
    }

    #fail(p: Pending, err: unknown): void {
      this.#errorCount++;
      this.fireError(err, p.msg, this.#errorCount);
      p.reject(err);
    }

    #detach(): void {
      this.#t.off('drain', this.#onDrain);
      this.#t.off('close', this.#onClose);
    }
  }

  return { Reader, Writer };
}
