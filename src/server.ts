import dns = require('node:dns');
import { EventEmitter } from 'node:events';
import { listenConfig, type ListenOptions } from './config';
import { channels, debug } from './debug';
import { resolveEndpoint, unixAddressBytes, type Endpoint, type ResolvedEndpoint } from './endpoint';
import { F_HEARTBEAT, F_RESUME, F_RESUMED, PROTOCOL_VERSION, type Hello } from './envelope';
import { ErrorCodes, TransportError, ipcError, systemError } from './errors';
import { acceptHandshake, answerHello } from './handshake';
import { Session } from './session';
import { NativeStream, StreamKind, constants, newStream, type NativeOwner } from './native';
import { Transport, peerOf, type Peer } from './transport';
import { bindFile, checkDirectory, checkExisting, ensurePrivateDir, pathTooLong, unlinkIfOurs, type BoundFile } from './unix';

type Handle = NativeStream;
type Config = ReturnType<typeof listenConfig>;

/**
 * Accepts connections on one endpoint. Each becomes a Transport, announced by `'connection'` (or
 * yielded by async iteration). Events: `connection`, `refused` (a peer `allowPeer` turned away, with its
 * credentials), `acceptError` (the OS failed to hand over a connection; the server goes on), `close`.
 */
export class Server extends EventEmitter {
  /** The endpoint clients connect to; for `tcp:host:0`, the port the OS chose. */
  readonly endpoint: string;

  #handle: Handle;
  #config: Config;
  #kind: number;
  #file: string | null;
  #bound: BoundFile | null;
  #connections = new Set<Transport | ServerSession>();
  #sessions = new Map<string, ServerSession>();
  #closePromise: Promise<void> | null = null;
  #handleClosed: Promise<void>;
  #sameUserOnly: boolean;

  /** @internal */
  constructor(handle: Handle, config: Config, kind: number, endpoint: string, file: string | null, bound: BoundFile | null, sameUserOnly: boolean) {
    super();
    this.#handle = handle;
    this.#config = config;
    this.#kind = kind;
    this.endpoint = endpoint;
    this.#file = file;
    this.#bound = bound;
    this.#sameUserOnly = sameUserOnly;
    let onClosed!: () => void;
    this.#handleClosed = new Promise<void>((resolve) => (onClosed = resolve));
    const owner: NativeOwner = {
      onFrames() {},
      onEnd() {},
      onWrite() {},
      onShutdown() {},
      onConnection: (status) => this.#onConnection(status),
      onConnect() {},
      onClose: () => onClosed(),
    };
    handle.owner = owner;
  }

  /** Open connections. */
  get connections(): number {
    return this.#connections.size;
  }

  get listening(): boolean {
    return this.#closePromise === null;
  }

  #onConnection(status: number): void {
    if (status < 0) {
      const err = systemError('accept', status, this.endpoint);
      debug('accept failed on %s: %s', this.endpoint, err.message);
      this.emit('acceptError', err);
      return;
    }
    const c = this.#config;
    const client = newStream(this.#kind, c);
    const r = this.#handle.accept(client);
    if (r === constants.UV_EACCES) {
      // A Windows named-pipe client from another machine: refused before anything is read.
      client.close();
      debug('refused a remote client on %s', this.endpoint);
      this.emit('refused', null);
      return;
    }
    if (r < 0) {
      client.close();
      this.emit('acceptError', systemError('accept', r, this.endpoint));
      return;
    }
    let peer: Peer | null = null;
    if (this.#kind === StreamKind.PIPE) peer = peerOf(client.peerCred(true));
    // The check runs before reading starts, so a refused peer never has a frame read.
    let allowed = true;
    if (this.#sameUserOnly && (peer === null || peer.uid !== process.getuid?.())) allowed = false;
    if (allowed && c.allowPeer !== undefined) {
      try {
        allowed = c.allowPeer(peer) === true;
      } catch (err) {
        // A throwing check refuses the peer; the exception still reaches the process as uncaught.
        client.close();
        throw err;
      }
    }
    if (!allowed || this.#closePromise !== null) {
      client.close();
      if (!allowed) {
        debug('refused peer %o on %s', peer, this.endpoint);
        this.emit('refused', peer);
      }
      return;
    }
    const t = new Transport(client, c, this.endpoint, peer);
    this.#connections.add(t);
    t.once('close', () => this.#connections.delete(t));
    if (c.envelope) this.#handshake(t);
    else this.emit('connection', t);
  }

  /**
   * With heartbeat or resume, a client's first frame must be its hello (src/envelope.ts). We answer
   * with ours, then hand over a heartbeat transport, or a resumable session: a new one is announced by
   * 'connection', a known one takes the connection over silently and replays what its client missed.
   */
  #handshake(t: Transport): void {
    const c = this.#config;
    const refuse = (why: string): void => {
      debug('handshake refused on %s: %s', this.endpoint, why);
      this.emit('handshakeError', ipcError(ErrorCodes.HANDSHAKE, `${this.endpoint}: ${why}`, { address: this.endpoint }));
    };
    acceptHandshake(t, refuse, (hello) => {
      if ((hello.flags & F_RESUME) === 0 || !c.resume) {
        answerHello(t, { version: PROTOCOL_VERSION, flags: F_HEARTBEAT | (c.resume ? F_RESUME : 0), session: hello.session, received: 0, first: 1, window: 0 }, false);
        if ((hello.flags & F_RESUME) !== 0) {
          // The client gives up (the server does not resume), and still nobody listens to this transport.
          t.on('error', () => {});
          return;
        }
        this.emit('connection', t);
        return;
      }
      const key = hello.session.toString('hex');
      let session = this.#sessions.get(key);
      // A session id is 128 random bits, but it also travels in the clear: a connection from another
      // user does not take over a session even with the right id.
      if (session !== undefined && !samePeer(session.peer, t.peer)) {
        refuse('the session belongs to another peer (user)');
        t.destroy();
        return;
      }
      this.#connections.delete(t);
      const known = session !== undefined;
      if (session === undefined) {
        const created = new ServerSession(this.endpoint, c, hello.session, t.peer);
        session = created;
        this.#sessions.set(key, created);
        this.#connections.add(created);
        created.once('close', () => {
          this.#sessions.delete(key);
          this.#connections.delete(created);
        });
      }
      answerHello(t, session.hello(F_HEARTBEAT | F_RESUME | (known ? F_RESUMED : 0)), true);
      session.adopt(t, hello, !known);
      if (!known) this.emit('connection', session);
    });
  }

  /**
   * Stops accepting, removes the socket file (if it is still ours), closes every open connection as
   * `Transport.close()` does, and resolves when all are closed. Idempotent.
   */
  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      this.#handle.close();
      await this.#handleClosed;
      if (this.#file !== null && this.#bound !== null) unlinkIfOurs(this.#file, this.#bound);
      await Promise.all([...this.#connections].map((t) => t.close()));
      debug('server closed %s', this.endpoint);
      this.emit('close');
      if (channels.serverClose.hasSubscribers) channels.serverClose.publish({ server: this });
    })();
    return this.#closePromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  ref(): this {
    if (this.#closePromise === null) this.#handle.ref();
    return this;
  }

  unref(): this {
    if (this.#closePromise === null) this.#handle.unref();
    return this;
  }

  /** Yields each new connection until the server closes. */
  [Symbol.asyncIterator](): AsyncIterableIterator<Transport> {
    const queue: Transport[] = [];
    let waiting: ((r: IteratorResult<Transport>) => void) | null = null;
    let done = this.#closePromise !== null;
    const onConnection = (t: Transport): void => {
      if (waiting !== null) {
        const w = waiting;
        waiting = null;
        w({ value: t, done: false });
      } else queue.push(t);
    };
    const onClose = (): void => {
      done = true;
      cleanup();
      if (waiting !== null) {
        const w = waiting;
        waiting = null;
        w({ value: undefined, done: true });
      }
    };
    const cleanup = (): void => {
      this.off('connection', onConnection);
      this.off('close', onClose);
    };
    this.on('connection', onConnection);
    this.on('close', onClose);
    const it: AsyncIterableIterator<Transport> = {
      next: () => {
        if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (waiting = resolve));
      },
      return: async () => {
        done = true;
        cleanup();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }
}

/** Whether a connection comes from the user (Unix) that opened a session; unknown credentials match. */
function samePeer(a: Peer | null, b: Peer | null): boolean {
  if (a === null || b === null || a.uid === undefined || b.uid === undefined) return true;
  return a.uid === b.uid;
}

/**
 * The server's side of a resumable session (`listen(..., { resume: true })`): a transport that
 * outlives its client's connections. While the client is away, frames sent are queued; the session
 * waits `resumeTimeout` for it, then closes, reporting what it could not deliver as `'drop'` events
 * (reason `'expired'`). Events: `disconnect` (cause), `reconnect`, and a transport's own.
 */
export class ServerSession extends Session {
  readonly peer: Peer | null;
  #resumeTimeout: number;
  #expiry: NodeJS.Timeout | null = null;

  /** @internal */
  constructor(endpoint: string, config: Config, id: Buffer, peer: Peer | null) {
    super(endpoint, config, config.queue, true, id);
    this.peer = peer;
    this.#resumeTimeout = config.resumeTimeout;
  }

  /** @internal A connection of this session's client, after the handshake. */
  adopt(t: Transport, hello: Hello, fresh: boolean): void {
    const old = this.conn;
    if (old !== null) {
      // The client came back before we saw its old connection drop: that one is dead.
      this.conn = null;
      old.destroy();
      // Its own 'close' no longer reaches the session, which has moved on: say here that it dropped.
      this.emit('disconnect', null);
    }
    if (this.#expiry !== null) {
      clearTimeout(this.#expiry);
      this.#expiry = null;
    }
    const again = !fresh;
    this.attach(t, hello, fresh);
    if (again) this.emit('reconnect');
  }

  protected override onDetached(err: Error | null): void {
    this.emit('disconnect', err);
    if (this.peerEnded) return;
    this.#expiry = setTimeout(() => {
      this.#expiry = null;
      debug('session on %s expired: its client did not come back within %d ms', this.endpoint, this.#resumeTimeout);
      this.dropAll('expired');
      this.destroy();
    }, this.#resumeTimeout);
    if (this.unrefd) this.#expiry.unref();
  }

  protected override onClosed(): void {
    if (this.#expiry !== null) clearTimeout(this.#expiry);
    this.#expiry = null;
  }
}

/**
 * Starts a server. Options are checked at the call; a failure to bind rejects (`EADDRINUSE` for a live
 * server on the path, ERR_IPC_NOT_A_SOCKET for a file that is not a socket, ERR_IPC_PATH_TOO_LONG).
 */
export function listen(endpoint: Endpoint, options?: ListenOptions): Promise<Server> {
  const ep = resolveEndpoint(endpoint);
  const config = listenConfig(options);
  if (ep.kind === 'unix') return listenUnix(ep, config);
  if (ep.kind === 'pipe') return listenPipe(ep, config);
  return listenTcp(ep, config);
}

async function listenPipe(ep: ResolvedEndpoint & { kind: 'pipe' }, config: Config): Promise<Server> {
  // libuv creates each pipe instance with FILE_FLAG_FIRST_PIPE_INSTANCE for the first, so a name that
  // another server already serves fails here with EADDRINUSE.
  const handle = newStream(StreamKind.PIPE, config);
  let r = handle.bindPipe(ep.path);
  if (r === 0) r = handle.listen(config.backlog);
  if (r < 0) {
    handle.close();
    throw systemError('listen', r, ep.display);
  }
  const server = new Server(handle, config, StreamKind.PIPE, ep.display, null, null, false);
  announce(server);
  return server;
}

async function listenUnix(ep: ResolvedEndpoint & { kind: 'unix' }, config: Config): Promise<Server> {
  const bytes = unixAddressBytes(ep);
  const tooLong = pathTooLong(bytes, ep.display);
  if (tooLong !== null) throw tooLong;
  const handle = newStream(StreamKind.PIPE, config);
  let bound: BoundFile | null = null;
  try {
    if (ep.abstract) {
      const r = handle.bindUnix(bytes);
      if (r < 0) throw systemError('listen', r, ep.display);
    } else {
      if (ep.privateDir !== undefined) {
        const bad = ensurePrivateDir(ep.privateDir, ep.display);
        if (bad !== null) throw bad;
      }
      const unsafe = checkDirectory(ep.path, ep.display);
      if (unsafe !== null) throw unsafe;
      const existing = checkExisting(ep.path, ep.display);
      if (existing !== null) throw existing;
      const b = bindFile(handle, ep.path, config.mode, ep.display);
      if (b instanceof Error) throw b;
      bound = b;
    }
    const r = handle.listen(config.backlog);
    if (r < 0) throw systemError('listen', r, ep.display);
  } catch (e) {
    handle.close();
    if (bound !== null) unlinkIfOurs(ep.path, bound);
    throw e;
  }
  // An abstract socket has no file mode: by default only our own user may talk to it.
  const sameUserOnly = config.sameUserOnly ?? ep.abstract;
  const server = new Server(handle, config, StreamKind.PIPE, ep.display, ep.abstract ? null : ep.path, bound, sameUserOnly);
  announce(server);
  return server;
}

async function listenTcp(ep: ResolvedEndpoint & { kind: 'tcp' }, config: Config): Promise<Server> {
  let ip: string;
  try {
    ip = (await dns.promises.lookup(ep.host)).address;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'ENOTFOUND';
    throw new TransportError(`getaddrinfo ${code} ${ep.host}`, code, { syscall: 'getaddrinfo', address: ep.display });
  }
  const handle = newStream(StreamKind.TCP, config);
  let r = handle.bindTcp(ip, ep.port);
  if (r === 0) r = handle.listen(config.backlog);
  if (r < 0) {
    handle.close();
    throw systemError('listen', r, ep.display);
  }
  const name = handle.sockName();
  const port = name?.[1] ?? ep.port;
  const host = ip.includes(':') ? `[${ip}]` : ip;
  const server = new Server(handle, config, StreamKind.TCP, `tcp:${host}:${port}`, null, null, config.sameUserOnly ?? false);
  announce(server);
  return server;
}

function announce(server: Server): void {
  debug('listening on %s', server.endpoint);
  if (channels.listen.hasSubscribers) channels.listen.publish({ server });
}
