import { ErrorCodes, TransportError } from './errors';
/** What sendJson() and jsonMessages() need of a transport. */
export interface JsonCapable {
  readonly endpoint: string;
  send(frame: Uint8Array): boolean;
  emit(event: 'invalid', err: unknown, frame: Buffer): boolean;
  [Symbol.asyncIterator](): AsyncIterator<Buffer>;
}

// Invalid UTF-8 must be reported, not turned into U+FFFD: a replaced byte inside a string would parse
// and hand the application text the peer never sent.
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Sends `value` as one frame of JSON text. Returns what `send()` returns (false: wait for `'drain'`) and
 * throws what it throws. A value JSON cannot represent (a BigInt, a cycle, `undefined` or a function at
 * the top level) throws a TypeError and sends nothing.
 *
 * Any framing works: `JSON.stringify` without an indent never writes a raw newline, so a value always
 * fits on one line.
 */
export function sendJson(t: JsonCapable, value: unknown): boolean {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw unserialisable((cause as Error)?.message ?? String(cause), cause);
  }
  // JSON.stringify answers undefined, without throwing, for the values that have no JSON form at all.
  if (text === undefined) throw unserialisable(`${typeof value} has no JSON representation`);
  return t.send(Buffer.from(text, 'utf8'));
}

/** Parses one received frame as UTF-8 JSON text; throws a TransportError with code ERR_IPC_INVALID_JSON. */
export function parseJsonFrame(frame: Uint8Array, endpoint: string): unknown {
  let text: string;
  try {
    text = decoder.decode(frame);
  } catch {
    throw new TransportError(`${endpoint} sent a frame of ${frame.length} bytes that is not valid UTF-8`, ErrorCodes.INVALID_JSON, {
      address: endpoint,
    });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new TransportError(`${endpoint} sent a frame that is not JSON: ${(cause as Error).message}`, ErrorCodes.INVALID_JSON, {
      address: endpoint,
      cause,
    });
  }
}

/**
 * Yields each received frame parsed as JSON, with the transport's own flow control (reading stops while
 * `readableHighWaterMark` frames wait unconsumed). A frame that is not JSON, or not valid UTF-8, does not
 * end the stream: it is reported as `t.emit('invalid', err, frame)` (err a TransportError with code
 * ERR_IPC_INVALID_JSON, frame the raw bytes) and the next frame follows. Ends when the transport closes
 * and throws its error; leaving the loop early closes the transport.
 */
export function jsonMessages(t: JsonCapable): AsyncIterableIterator<unknown> {
  const frames = t[Symbol.asyncIterator]();
  const iterator: AsyncIterableIterator<unknown> = {
    next: async (): Promise<IteratorResult<unknown>> => {
      for (;;) {
        const r = await frames.next();
        if (r.done === true) return { value: undefined, done: true };
        try {
          return { value: parseJsonFrame(r.value, t.endpoint), done: false };
        } catch (err) {
          t.emit('invalid', err, r.value);
        }
      }
    },
    return: async (): Promise<IteratorResult<unknown>> => {
      await frames.return?.();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

function unserialisable(reason: string, cause?: unknown): TypeError {
  const err = new TypeError(`The value cannot be sent as JSON: ${reason}`, cause === undefined ? undefined : { cause });
  (err as TypeError & { code: string }).code = 'ERR_INVALID_ARG_VALUE';
  return err;
}
