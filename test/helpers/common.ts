// Plumbing every test file needs, in one place: cleanup registration (temp directories, servers,
// transports and child processes undone after each test), our server closed at cleanup, waiting with
// a safety net, a recorder of a transport's events, raw `node:net` peers and everything one received,
// child processes read line by line or run to completion, and descriptor counting (hand-written
// framing is in ./wire.cjs). Each test file gets its own copy of
// this module's state (vitest runs each file in its own process), so registrations never cross files.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { listen, type ListenOptions, type Server, type Transport } from '../../dist/index.js';
import { FD_DIR } from './platform';
import { readLines } from './wire.cjs';

/** Safety net for waits; no test asserts on how long anything took. */
export const WAIT_MS = 10_000;

const cleanups: Array<() => unknown> = [];

/** Registers something to undo in `cleanupAll()`. */
export function onCleanup(fn: () => unknown): void {
  cleanups.push(fn);
}

/**
 * Runs the registered cleanups, latest first (pass it to afterEach). Every cleanup runs even when one
 * fails, so one failure cannot leak the others' sockets and processes; the first failure is then
 * rethrown so that a cleanup that went wrong still fails the test.
 */
export async function cleanupAll(): Promise<void> {
  let first: unknown;
  let failed = false;
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch (e) {
      if (!failed) first = e;
      failed = true;
    }
  }
  if (failed) throw first;
}

/** Our server listening at `endpoint`, closed at cleanup. */
export async function listenAt(endpoint: Parameters<typeof listen>[0], opts: ListenOptions = {}): Promise<Server> {
  const server = await listen(endpoint, opts);
  onCleanup(() => server.close());
  return server;
}

/** A fresh temp directory (mode 0700 unless `mode` is given), removed at cleanup. */
export function tempDir(prefix = 'sipc-test-', mode?: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (mode !== undefined) fs.chmodSync(dir, mode);
  onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A function that gives one fresh temp directory per test: the first call in a test creates it, later
 * calls in the same test return the same one, and cleanup removes it, so the next test starts afresh.
 * For tests that put several sockets side by side and look at the directory as a whole.
 */
export function dirPerTest(prefix: string): () => string {
  let dir: string | undefined;
  return () => {
    if (dir === undefined) {
      dir = tempDir(prefix);
      // Registered after the removal, so it runs first: the next test must not reuse a removed path.
      onCleanup(() => (dir = undefined));
    }
    return dir;
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One turn of the event loop: libuv polls sockets (and reads what is ready) before setImmediate runs. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Polls `cond` until it holds. Throws (with `what`) after `ms`, a safety net only, or at once when
 * `hopeless()` gives a reason why it never will.
 */
export async function waitFor(
  cond: () => boolean,
  what: string,
  { ms = WAIT_MS, hopeless = () => null }: { ms?: number; hopeless?: () => string | null } = {},
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    const why = hopeless();
    if (why !== null) throw new Error(`gave up waiting for ${what}: ${why}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** `promise`, or a rejection with `what` after WAIT_MS if it has not settled by then (a safety net only). */
export async function withTimeout<T>(promise: Promise<T>, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(what())), WAIT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const code = (e: unknown): string | undefined => (e as { code?: string } | undefined)?.code;

export interface Recorder {
  t: Transport;
  messages: Buffer[];
  errors: Error[];
  closes: number;
  /** 'message', 'error', 'close' in the order they happened. */
  log: string[];
  waitMessages(n: number): Promise<void>;
  /** Waits for 'close', then leaves room for a second 'error' or 'close' to show up before counting. */
  waitClosed(): Promise<void>;
}

/** Records every 'message', 'error' and 'close' of a transport from now on. */
export function record(t: Transport): Recorder {
  const rec: Recorder = {
    t,
    messages: [],
    errors: [],
    closes: 0,
    log: [],
    waitMessages: (n) =>
      waitFor(() => rec.messages.length >= n, `${n} messages (have ${rec.messages.length})`, {
        // Once closed, no more frames come: say so at once, with the error if there was one.
        hopeless: () => (rec.closes > 0 ? `closed after ${rec.messages.length} messages${rec.errors[0] ? ` with ${String(rec.errors[0])}` : ''}` : null),
      }),
    waitClosed: async () => {
      await waitFor(() => rec.closes > 0, 'close');
      await sleep(20);
    },
  };
  t.on('message', (m: Buffer) => {
    rec.messages.push(m);
    rec.log.push('message');
  });
  t.on('error', (e: Error) => {
    rec.errors.push(e);
    rec.log.push('error');
  });
  t.on('close', () => {
    rec.closes++;
    rec.log.push('close');
  });
  return rec;
}

/** Records 'error' (as `error <code>`) and 'close' events in order. */
export function recordEvents(t: EventEmitter): string[] {
  const events: string[] = [];
  t.on('error', (e: Error & { code?: string }) => events.push(`error ${e.code}`));
  t.on('close', () => events.push('close'));
  return events;
}

/** What a raw `node:net` peer saw: every byte it received, and whether its side ended and closed. */
export interface RawPeer {
  sock: net.Socket;
  data: Buffer[];
  bytes(): Buffer;
  ended: boolean;
  closed: boolean;
  errors: Error[];
}

/** Watches a raw socket from now on; destroys it at cleanup. */
export function watchSocket(sock: net.Socket): RawPeer {
  const st: RawPeer = { sock, data: [], bytes: () => Buffer.concat(st.data), ended: false, closed: false, errors: [] };
  sock.on('data', (d: Buffer) => st.data.push(d));
  sock.on('end', () => (st.ended = true));
  sock.on('close', () => (st.closed = true));
  // A reset is a legitimate outcome once our side closed on an error; record it instead of throwing.
  sock.on('error', (e) => st.errors.push(e));
  onCleanup(() => {
    sock.destroy();
  });
  return st;
}

/** A raw `node:net` client connected to `target` (a socket path, or `{ host, port }`). */
export async function rawConnect(target: string | { host: string; port: number }, pauseOnConnect = false): Promise<RawPeer> {
  const sock = typeof target === 'string' ? net.connect(target) : net.connect(target.port, target.host);
  if (pauseOnConnect) sock.pause();
  const peer = watchSocket(sock);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return peer;
}

/** Everything a `node:net` socket receives from now until its end; rejects if it fails first. */
export function collect(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

/** Count of this process's open descriptors (see FD_DIR for why counts taken this way compare exactly). */
export function fdCount(): number {
  return fs.readdirSync(FD_DIR).length;
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** A child process whose stdout is read line by line; killed at cleanup if it is still running. */
export class LineChild {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  exit: Exit | null = null;
  readonly exited: Promise<Exit>;
  #waiters: { test: (l: string) => boolean; resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  #seen = 0;

  constructor(command: string, args: string[], opts: { stdin?: 'pipe' | 'ignore'; cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    const stdin = opts.stdin ?? 'pipe';
    this.child = spawn(command, args, { stdio: [stdin, 'pipe', 'pipe'], cwd: opts.cwd, env: opts.env ?? process.env });
    const take = readLines((l) => this.lines.push(l.toString()));
    this.child.stdout!.on('data', (chunk: Buffer) => {
      take(chunk);
      this.#check();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    // A child that exits without reading its stdin makes our writes fail with EPIPE; that is its exit to report.
    this.child.stdin?.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.child.once('close', (c, signal) => {
        this.exit = { code: c, signal };
        this.#check();
        resolve(this.exit);
      });
    });
    onCleanup(async () => {
      if (this.exit === null) {
        this.child.kill('SIGKILL');
        await this.exited;
      }
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Waits for any line (seen before or after this call) starting with `prefix` and returns the first. */
  async line(prefix: string): Promise<string> {
    await waitFor(() => this.lines.some((l) => l.startsWith(prefix)), `'${prefix}' from ${this.child.spawnfile}`, {
      hopeless: () => (this.exit !== null ? `exited ${JSON.stringify(this.exit)}; stdout ${JSON.stringify(this.lines)}; stderr ${this.stderr}` : null),
    });
    return this.lines.find((l) => l.startsWith(prefix))!;
  }

  /** Resolves with the next line (after those already consumed by earlier `next` calls) that starts with `prefix`. */
  next(prefix: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#waiters.push({ test: (l) => l.startsWith(prefix), resolve, reject });
      this.#check();
    });
  }

  #check(): void {
    while (this.#waiters.length > 0) {
      const w = this.#waiters[0]!;
      let found = false;
      while (this.#seen < this.lines.length) {
        const line = this.lines[this.#seen++]!;
        if (w.test(line)) {
          this.#waiters.shift();
          w.resolve(line);
          found = true;
          break;
        }
      }
      if (found) continue;
      if (this.exit !== null) {
        this.#waiters.shift();
        w.reject(new Error(`child exited without the expected line; stdout: ${JSON.stringify(this.lines)}; stderr: ${this.stderr}`));
        continue;
      }
      return;
    }
  }

  send(line: string): void {
    this.child.stdin!.write(line + '\n');
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /** The exit, failing after WAIT_MS (a safety net only). */
  done(): Promise<Exit> {
    return withTimeout(this.exited, () => `child did not exit; stdout ${JSON.stringify(this.lines)}; stderr ${this.stderr}`);
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the safety timeout had to kill the child. */
  killed: boolean;
  ms: number;
}

const running = new Map<ChildProcess, () => void>();

/**
 * Runs a command to completion, collecting its output, and kills it (SIGKILL) if it is still running
 * after `safetyMs`, a safety net only. With `detached`, the child leads its own process group and the
 * whole group is killed: npm starts sh, node-gyp, make and compilers below it.
 */
export function run(cmd: string, args: string[], opts: SpawnOptions & { safetyMs?: number } = {}): Promise<RunResult> {
  const { safetyMs = 60_000, ...spawnOpts } = opts;
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOpts });
    const kill = (): void => {
      try {
        if (spawnOpts.detached) process.kill(-child.pid!, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // Already gone.
      }
    };
    running.set(child, kill);
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      killed = true;
      kill();
    }, safetyMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      running.delete(child);
      reject(e);
    });
    child.on('close', (c, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code: c, signal, stdout, stderr, killed, ms: Date.now() - start });
    });
  });
}

/** `node ...args` through `run()`, with a 15 s safety net unless told otherwise. */
export function runNode(args: string[], opts: SpawnOptions & { safetyMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, args, { safetyMs: 15_000, ...opts });
}

/** Kills every child (or process group) started by `run()` that is still running (for afterEach/afterAll). */
export function killChildren(): void {
  for (const kill of running.values()) kill();
  running.clear();
}
