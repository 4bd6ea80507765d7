import dns = require('node:dns');
import { connectConfig, type ConnectConfig, type ConnectOptions, type TransportConfig } from './config';
import { F_HEARTBEAT, PROTOCOL_VERSION, SESSION_ID_BYTES } from './envelope';
import { clientHandshake } from './handshake';
import { resolveEndpoint, unixAddressBytes, type Endpoint, type ResolvedEndpoint } from './endpoint';
import { ErrorCodes, TransportError, abortError, ipcError, systemError } from './errors';
import { NativeStream, StreamKind, constants, newStream, type NativeOwner } from './native';
import { Transport, peerOf } from './transport';
import { pathTooLong } from './unix';

const { UV_EAGAIN } = constants;

/**
 * Connects to a server. Options are checked at the call (TypeError/RangeError); a failure to connect
 * rejects with a TransportError in Node's shape (`connect ECONNREFUSED /path`).
 */
export function connect(endpoint: Endpoint, options?: ConnectOptions): Promise<Transport> {
  const ep = resolveEndpoint(endpoint);
  const config = connectConfig(options);
  if (!config.heartbeat) return connectTo(ep, config);
  const started = Date.now();
  return connectTo(ep, config).then(async (t) => {
    // The handshake shares connectTimeout with the connection itself.
    const left = Math.max(1, config.connectTimeout - (Date.now() - started));
    await clientHandshake(t, { version: PROTOCOL_VERSION, flags: F_HEARTBEAT, session: Buffer.alloc(SESSION_ID_BYTES), received: 0, first: 1, window: 0 }, left);
    return t;
  });
}

/** @internal Opens a connection (no handshake). */
export function connectTo(ep: ResolvedEndpoint, config: ConnectConfig): Promise<Transport> {
  return new Promise<Transport>((resolve, reject) => {
    const signal = config.signal;
    let settled = false;
    let timer: NodeJS.Timeout | null = null;
    let pending: NativeStream | null = null;

    const finish = (err: Error | null, transport?: Transport): void => {
      if (settled) return;
      settled = true;
      if (timer !== null) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err !== null) {
        pending?.close();
        reject(err);
      } else resolve(transport!);
    };
    const onAbort = (): void => finish(abortError(signal?.reason));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });

    if (ep.kind === 'unix') connectUnix(ep, config, finish, (t) => (timer = t));
    else if (ep.kind === 'pipe') connectPipe(ep, config, finish, (t) => (timer = t));
    else {
      // A pending connect is abandoned by closing its handle: libuv then drops its request.
      timer = setTimeout(
        () => finish(ipcError(ErrorCodes.CONNECT_TIMEOUT, `connect timed out after ${config.connectTimeout} ms: ${ep.display}`, { address: ep.display, syscall: 'connect' })),
        config.connectTimeout,
      );
      connectTcp(ep, config, finish, (h) => (pending = h), () => settled);
    }
  });
}

function connectUnix(
  ep: ResolvedEndpoint & { kind: 'unix' },
  config: TransportConfig & { connectTimeout: number },
  finish: (err: Error | null, t?: Transport) => void,
  setTimer: (t: NodeJS.Timeout | null) => void,
): void {
  const bytes = unixAddressBytes(ep);
  const tooLong = pathTooLong(bytes, ep.display);
  if (tooLong !== null) return finish(tooLong);
  // EAGAIN: the server's backlog is full.
  connectNow(ep.display, config, finish, setTimer, (handle) => handle.connectUnix(bytes), 'backlog full');
}

function connectPipe(
  ep: ResolvedEndpoint & { kind: 'pipe' },
  config: TransportConfig & { connectTimeout: number },
  finish: (err: Error | null, t?: Transport) => void,
  setTimer: (t: NodeJS.Timeout | null) => void,
): void {
  // EAGAIN: every instance of the pipe is connected to a client that the server has not accepted yet
  // (ERROR_PIPE_BUSY).
  connectNow(ep.display, config, finish, setTimer, (handle) => handle.connectPipe(ep.path), 'all pipe instances busy');
}

/**
 * Connects with a call that completes at once (a Unix socket, a Windows named pipe). EAGAIN means the
 * server is alive but cannot take us yet, so the call is tried again, backing off, until the deadline.
 */
function connectNow(
  display: string,
  config: TransportConfig & { connectTimeout: number },
  finish: (err: Error | null, t?: Transport) => void,
  setTimer: (t: NodeJS.Timeout | null) => void,
  open: (handle: NativeStream) => number,
  busy: string,
): void {
  const deadline = Date.now() + config.connectTimeout;
  let delay = 1;
  const attempt = (): void => {
    setTimer(null);
    const handle = newStream(StreamKind.PIPE, config);
    const r = open(handle);
    if (r === 0) {
      finish(null, new Transport(handle, config, display, peerOf(handle.peerCred(false))));
      return;
    }
    handle.close();
    if (r === UV_EAGAIN) {
      if (Date.now() + delay <= deadline) {
        setTimer(setTimeout(attempt, delay));
        delay = Math.min(delay * 2, 50);
        return;
      }
      finish(ipcError(ErrorCodes.CONNECT_TIMEOUT, `connect timed out after ${config.connectTimeout} ms: ${display} (${busy})`, { address: display, syscall: 'connect' }));
      return;
    }
    finish(systemError('connect', r, display));
  };
  attempt();
}

/** The owner of a handle whose connect is in flight: only the outcome matters. */
function connectingOwner(onConnect: (status: number) => void): NativeOwner {
  return {
    onFrames() {},
    onEnd() {},
    onWrite() {},
    onShutdown() {},
    onConnection() {},
    onConnect,
    onClose() {},
  };
}

function connectTcp(
  ep: ResolvedEndpoint & { kind: 'tcp' },
  config: TransportConfig,
  finish: (err: Error | null, t?: Transport) => void,
  setPending: (h: NativeStream | null) => void,
  settled: () => boolean,
): void {
  dns.lookup(ep.host, (err, address) => {
    if (settled()) return;
    if (err) {
      finish(new TransportError(`getaddrinfo ${err.code ?? 'ENOTFOUND'} ${ep.host}`, err.code ?? 'ENOTFOUND', { syscall: 'getaddrinfo', address: ep.display }));
      return;
    }
    const handle = newStream(StreamKind.TCP, config);
    setPending(handle);
    handle.owner = connectingOwner((status) => {
      if (status < 0) return finish(systemError('connect', status, ep.display));
      setPending(null);
      finish(null, new Transport(handle, config, ep.display, null));
    });
    const r = handle.connectTcp(address, ep.port);
    if (r < 0) finish(systemError('connect', r, ep.display));
  });
}
