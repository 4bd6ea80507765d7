import { getSystemErrorName } from 'node:util';

/** Every error this package raises for I/O or protocol problems, in the shape of Node's own. */
export class TransportError extends Error {
  /** A libuv name (`ECONNREFUSED`) for system errors, `ERR_IPC_*` for ours. */
  readonly code: string;
  /** The negative libuv error number, for system errors. */
  readonly errno?: number;
  /** The operation that failed: `connect`, `bind`, `read`, `write`, ... */
  readonly syscall?: string;
  /** The endpoint the operation was about, as the user gave it. */
  readonly address?: string;

  constructor(message: string, code: string, props: Partial<Record<string, unknown>> = {}) {
    super(message);
    this.name = 'TransportError';
    this.code = code;
    Object.assign(this, props);
  }
}

/** Error codes of this package (system errors keep libuv's names). */
export const ErrorCodes = {
  CLOSED: 'ERR_IPC_CLOSED',
  FRAME_TOO_LARGE: 'ERR_IPC_FRAME_TOO_LARGE',
  INVALID_FRAME: 'ERR_IPC_INVALID_FRAME',
  PROTOCOL: 'ERR_IPC_PROTOCOL',
  TRUNCATED: 'ERR_IPC_TRUNCATED',
  FRAME_TIMEOUT: 'ERR_IPC_FRAME_TIMEOUT',
  UNSAFE_PATH: 'ERR_IPC_UNSAFE_PATH',
  PEER_EXITED: 'ERR_IPC_PEER_EXITED',
  INVALID_JSON: 'ERR_IPC_INVALID_JSON',
  STDIO_IN_USE: 'ERR_IPC_STDIO_IN_USE',
  UNSUPPORTED: 'ERR_IPC_UNSUPPORTED',
  BACKPRESSURE: 'ERR_IPC_BACKPRESSURE',
  FLOW_CONTROL: 'ERR_IPC_FLOW_CONTROL',
  PATH_TOO_LONG: 'ERR_IPC_PATH_TOO_LONG',
  NOT_A_SOCKET: 'ERR_IPC_NOT_A_SOCKET',
  CONNECT_TIMEOUT: 'ERR_IPC_CONNECT_TIMEOUT',
  CLOSE_TIMEOUT: 'ERR_IPC_CLOSE_TIMEOUT',
  RECONNECT_FAILED: 'ERR_IPC_RECONNECT_FAILED',
  QUEUE_FULL: 'ERR_IPC_QUEUE_FULL',
  HANDSHAKE: 'ERR_IPC_HANDSHAKE',
  /** @deprecated Never raised: an expired session shows as `'drop'` events (reason `'expired'`). */
  SESSION_EXPIRED: 'ERR_IPC_SESSION_EXPIRED',
  PING_TIMEOUT: 'ERR_IPC_PING_TIMEOUT',
  UNHEALTHY: 'ERR_IPC_UNHEALTHY',
  POOL_EXHAUSTED: 'ERR_IPC_POOL_EXHAUSTED',
  ACQUIRE_TIMEOUT: 'ERR_IPC_ACQUIRE_TIMEOUT',
  ABORTED: 'ABORT_ERR',
} as const;

/** An error for a failed system call, with the message Node would give: `connect ECONNREFUSED /path`. */
export function systemError(syscall: string, errno: number, address?: string): TransportError {
  let name: string;
  try {
    name = getSystemErrorName(errno);
  } catch {
    name = `Unknown system error ${errno}`;
  }
  const message = address === undefined ? `${syscall} ${name}` : `${syscall} ${name} ${address}`;
  return new TransportError(message, name, { errno, syscall, ...(address === undefined ? {} : { address }) });
}

export function ipcError(code: string, message: string, props: Record<string, unknown> = {}): TransportError {
  return new TransportError(message, code, props);
}

/** Programmer errors: thrown at the call, in Node's shape (`ERR_INVALID_ARG_TYPE` and friends). */
export function argTypeError(name: string, expected: string, actual: unknown): TypeError {
  const err = new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`);
  (err as TypeError & { code: string }).code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

export function argValueError(message: string): TypeError {
  const err = new TypeError(message);
  (err as TypeError & { code: string }).code = 'ERR_INVALID_ARG_VALUE';
  return err;
}

export function outOfRangeError(name: string, range: string, actual: unknown): RangeError {
  const err = new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${describe(actual)}`);
  (err as RangeError & { code: string }).code = 'ERR_OUT_OF_RANGE';
  return err;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'function') return 'function';
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  if (typeof value === 'string') return `'${value.length > 28 ? value.slice(0, 25) + '...' : value}'`;
  return `${typeof value} ${String(value)}`;
}

export function abortError(reason?: unknown): Error {
  const err = new Error('The operation was aborted', { cause: reason });
  err.name = 'AbortError';
  (err as Error & { code: string }).code = ErrorCodes.ABORTED;
  return err;
}
