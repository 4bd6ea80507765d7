// Who may connect, and which paths a server may take. The tests that act as two users run as root, on
// Linux only (see AS_ROOT_ON_LINUX); the second user (nobody, uid 65534) is played by a child process
// run through setpriv (or runuser). Its program is plain node:net (test/helpers/hostile-client.js),
// copied into a 0755 temp directory so nobody can read it:
// the socket file's own mode is what must turn it away, not an unreachable directory.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { connect, listen, reconnecting, type Session, type Transport } from '../dist/index.js';
import { cleanupAll, code, LineChild, onCleanup, record, tempDir, waitFor } from './helpers/common';
import {
  DIST_INDEX,
  packageCopyForOtherUsers,
  envForOtherUsers,
  NODE_CLIENT,
  WIRE,
  PY_CLIENT,
  NOBODY_UID,
  asNobody,
  checkServes,
  startServer,
  type TestServer,
} from './helpers/hostile-util';

afterEach(cleanupAll);

type Event = { event: string; code?: string; text?: string; uid?: number; message?: string };

/**
 * Acting as root and as nobody needs root (to become nobody, chown files to it) and Linux (setpriv or
 * runuser from util-linux, nobody = uid 65534, abstract names). CI runners are not root (GitHub's
 * ubuntu-latest runs as `runner`, macOS too), so there the describes gated on this are skipped; the
 * others (no second user needed) run everywhere.
 */
const AS_ROOT_ON_LINUX = process.platform === 'linux' && process.getuid?.() === 0;

let NOBODY: string[] = [];
beforeAll(() => {
  if (!AS_ROOT_ON_LINUX) return; // every describe that uses NOBODY is gated on AS_ROOT_ON_LINUX
  NOBODY = asNobody(); // throws when neither setpriv nor runuser exists: never skip
});

/** A python3 that nobody may run (pyenv shims under /root are not reachable by other users). */
function systemPython(): string {
  for (const p of ['/usr/bin/python3', '/usr/local/bin/python3', '/bin/python3']) {
    const r = spawnSync(NOBODY[0]!, [...NOBODY.slice(1), p, '-c', 'pass']);
    if (r.status === 0) return p;
  }
  throw new Error('no python3 that the nobody user can run was found in /usr/bin, /usr/local/bin or /bin');
}

/**
 * Runs hostile-client.js (or, with `python`, hostile-client.py) as nobody with `args`; resolves with
 * its events once it exits.
 */
async function asNobodyRun(args: string[], python = false): Promise<{ events: Event[]; pid: number; child: LineChild }> {
  const dir = tempDir('sipc-nobody-', 0o755);
  const script = path.join(dir, python ? 'client.py' : 'client.js');
  fs.copyFileSync(python ? PY_CLIENT : NODE_CLIENT, script);
  fs.chmodSync(script, 0o644);
  if (!python) {
    fs.copyFileSync(WIRE, path.join(dir, 'wire.cjs'));
    fs.chmodSync(path.join(dir, 'wire.cjs'), 0o644);
  }
  const interpreter = python ? systemPython() : process.execPath;
  const child = new LineChild(NOBODY[0]!, [...NOBODY.slice(1), interpreter, script, ...args], { env: envForOtherUsers() });
  const pid = child.child.pid!;
  const exit = await child.done();
  const events = child.lines.map((l) => JSON.parse(l) as Event);
  if (events[0]?.event !== 'start') throw new Error(`client did not start: exit ${JSON.stringify(exit)}, stderr ${child.stderr}`);
  // The whole point: the program really ran as nobody.
  expect(events[0].uid).toBe(NOBODY_UID);
  return { events, pid, child };
}

const names = (events: Event[]): string[] => events.map((e) => (e.code ? `${e.event}:${e.code}` : e.event));

/** The server side echoes every frame (for the nobody client's request). */
function echo(ts: TestServer): void {
  ts.echoes = true;
  ts.server.on('connection', (t: Transport) => t.on('message', (m: Buffer) => t.send(m)));
}

// Acts as nobody (root + Linux), see AS_ROOT_ON_LINUX.
describe.runIf(AS_ROOT_ON_LINUX)('socket file mode', () => {
  it('is 0600 by default, and another user gets EACCES on connect while the owner connects', async () => {
    const ts = await startServer({}, 'unix', 0o755);
    expect(fs.statSync(ts.path).mode & 0o7777).toBe(0o600);
    const { events } = await asNobodyRun(['connect', ts.path, 'let me in']);
    expect(names(events)).toEqual(['start', 'error:EACCES', 'close']);
    expect(ts.accepted.length).toBe(0);
    expect(ts.refused).toEqual([]);
    // The owner (root) is served.
    await checkServes(ts);
  });

  it('with mode 0o666 the other user connects and exchanges a frame; its credentials reach the server', async () => {
    const ts = await startServer({ mode: 0o666 }, 'unix', 0o755);
    echo(ts);
    expect(fs.statSync(ts.path).mode & 0o7777).toBe(0o666);
    const { events, pid } = await asNobodyRun(['connect', ts.path, 'hello from nobody']);
    expect(names(events)).toEqual(['start', 'connected', 'frame', 'end', 'close']);
    expect(events[2]!.text).toBe('hello from nobody');
    expect(ts.accepted.length).toBe(1);
    const rec = ts.accepted[0]!;
    expect(rec.t.peer).toEqual({ pid, uid: NOBODY_UID, gid: NOBODY_UID });
    await rec.waitClosed();
    expect(rec.log).toEqual(['message', 'close']);
    expect(rec.messages.map(String)).toEqual(['hello from nobody']);
  });
});

// Acts as nobody (root + Linux), see AS_ROOT_ON_LINUX.
describe.runIf(AS_ROOT_ON_LINUX)('allowPeer', () => {
  it('refusing uid 65534 closes that connection before any frame is read, while root is accepted', async () => {
    const calls: Array<{ pid: number; uid?: number; gid?: number } | null> = [];
    const ts = await startServer(
      {
        mode: 0o666,
        allowPeer: (peer) => {
          calls.push(peer);
          return peer?.uid !== NOBODY_UID;
        },
      },
      'unix',
      0o755,
    );
    echo(ts);
    const { events, pid } = await asNobodyRun(['connect', ts.path, 'please read me']);
    // The kernel completes the connect (it sits in the backlog); then the server closes it unread. The
    // peer sees the end of the stream, or a reset because its frame was never read.
    const seen = names(events);
    const saw = `the nobody client saw ${JSON.stringify(seen)}`;
    expect(seen.slice(0, 2), saw).toEqual(['start', 'connected']);
    expect(seen, saw).not.toContain('frame');
    expect(seen.at(-1), saw).toBe('close');
    // How the end shows depends on timing: a server that closes before the client has written makes the
    // write fail (EPIPE), possibly after the client saw the end of the stream; one that closes with the
    // frame unread resets the connection. Any of these, and nothing else, in any order.
    const ending = seen.slice(2, -1);
    expect(ending.length, saw).toBeGreaterThan(0);
    for (const e of ending) expect(['end', 'error:ECONNRESET', 'error:EPIPE'], saw).toContain(e);
    expect(ts.accepted.length).toBe(0);
    expect(ts.refused).toEqual([{ pid, uid: NOBODY_UID, gid: NOBODY_UID }]);
    expect(calls).toEqual([{ pid, uid: NOBODY_UID, gid: NOBODY_UID }]);

    // Root goes through allowPeer too, and is accepted.
    await checkServes(ts);
    expect(calls.length).toBe(2);
    expect(calls[1]).toEqual({ pid: process.pid, uid: 0, gid: process.getgid!() });
    expect(ts.refused.length).toBe(1);
  });
});

describe.runIf(AS_ROOT_ON_LINUX)('resumable sessions', () => {
  it('a connection from another user cannot take over a session, even with its id', async () => {
    const ts = await startServer({ resume: true, mode: 0o666 }, 'unix', 0o755);
    const errors: string[] = [];
    ts.server.on('handshakeError', (e: { code: string }) => errors.push(e.code));
    const sessions: Session[] = [];
    ts.server.on('connection', (s: Session) => sessions.push(s));
    const client = reconnecting(ts.endpoint, { resume: true });
    onCleanup(() => client.destroy());
    await once(client, 'connect');
    await waitFor(() => sessions.length === 1, 'the session');

    const { events } = await asNobodyRun(['hello', ts.path, client.sessionId.toString('hex')]);
    // Refused before any answer: no hello back, and nothing of the session's.
    expect(names(events).filter((e) => e === 'frame')).toEqual([]);
    expect(errors).toEqual(['ERR_IPC_HANDSHAKE']);
    // The session is untouched and still its owner's.
    expect(sessions[0]!.connection).not.toBeNull();
    client.send('still mine');
    const [frame] = (await once(sessions[0]!, 'message')) as [Buffer];
    expect(frame.toString()).toBe('still mine');
  });

  it('a fresh session id from another user is a new session of its own', async () => {
    const ts = await startServer({ resume: true, mode: 0o666 }, 'unix', 0o755);
    const { events } = await asNobodyRun(['hello', ts.path, '11'.repeat(16)]);
    expect(events.filter((e) => e.event === 'frame').map((e) => (e as { type?: string }).type)).toEqual(['H']);
  });
});

describe('allowPeer that throws', () => {
  it('does not leak the connection: each peer is closed, the exception surfaces, descriptors come back', async () => {
    // In a child process: the exception may well be an uncaught one, which must not take the test
    // runner down with it.
    const dir = tempDir('sipc-hostile-', 0o700);
    const child = new LineChild(process.execPath, [NODE_CLIENT, 'allowpeer-throws', DIST_INDEX, dir, '2']);
    await child.line('{"event":"result"');
    const result = JSON.parse(child.lines.find((l) => l.includes('"result"'))!) as {
      before: number;
      listening: number;
      afterClients: number;
      after: number;
      outcomes: string[];
      surfaced: string[];
      connections: number;
    };
    expect(result.connections).toBe(0);
    // Each peer is told: end of stream (or a reset, its frame being unread), never left hanging.
    for (const o of result.outcomes) expect(['end,close', 'error:ECONNRESET,close', 'error:EPIPE,close']).toContain(o);
    // The exception is not swallowed: it reaches the application once per connection, one way or another.
    expect(result.outcomes.length).toBe(2);
    expect(result.surfaced.filter((s) => s.includes('allowPeer exploded')).length).toBe(2);
    expect(result.afterClients).toBe(result.listening);
    expect(result.after).toBe(result.before);
  });
});

// Acts as nobody (root + Linux), see AS_ROOT_ON_LINUX.
describe.runIf(AS_ROOT_ON_LINUX)('abstract sockets', () => {
  const abstractName = (): string => `sipc-hostile-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;

  it('refuse a peer of another user by default (sameUserOnly), and accept the same user', async () => {
    const name = abstractName();
    const ts = await startServer({}, `unix:@${name}`);
    echo(ts);
    const { events, pid } = await asNobodyRun(['connect', `@${name}`, 'abstract hello'], true);
    const seen = names(events);
    const saw = `the nobody client saw ${JSON.stringify(seen)}`;
    expect(seen.slice(0, 2), saw).toEqual(['start', 'connected']);
    expect(seen, saw).not.toContain('frame');
    const ending = seen.slice(2, -1);
    expect(ending.length, saw).toBeGreaterThan(0);
    for (const e of ending) expect(['end', 'error:ECONNRESET', 'error:EPIPE'], saw).toContain(e);
    expect(ts.accepted.length).toBe(0);
    expect(ts.refused).toEqual([{ pid, uid: NOBODY_UID, gid: NOBODY_UID }]);
    await checkServes(ts);
    expect(ts.refused.length).toBe(1);
  });

  it("server.endpoint of an abstract server is an endpoint connect() accepts", async () => {
    const name = abstractName();
    const ts = await startServer({}, `unix:@${name}`);
    const client = await connect(ts.server.endpoint);
    onCleanup(() => client.destroy());
    const rec = await ts.nth(0);
    client.send('via server.endpoint');
    await rec.waitMessages(1);
    expect(rec.messages[0]!.toString()).toBe('via server.endpoint');
  });

  it('accept a peer of another user with sameUserOnly: false', async () => {
    const name = abstractName();
    const ts = await startServer({ sameUserOnly: false }, `unix:@${name}`);
    echo(ts);
    const { events, pid } = await asNobodyRun(['connect', `@${name}`, 'abstract hello'], true);
    expect(names(events)).toEqual(['start', 'connected', 'frame', 'end', 'close']);
    expect(events[2]!.text).toBe('abstract hello');
    expect(ts.refused).toEqual([]);
    expect(ts.accepted.length).toBe(1);
    expect(ts.accepted[0]!.t.peer).toEqual({ pid, uid: NOBODY_UID, gid: NOBODY_UID });
  });

  it('a file-path socket with sameUserOnly: true refuses another user even when the file mode lets it in', async () => {
    const ts = await startServer({ mode: 0o666, sameUserOnly: true }, 'unix', 0o755);
    const { events, pid } = await asNobodyRun(['connect', ts.path, 'x'], true);
    expect(names(events)).not.toContain('frame');
    expect(ts.accepted.length).toBe(0);
    expect(ts.refused).toEqual([{ pid, uid: NOBODY_UID, gid: NOBODY_UID }]);
    await checkServes(ts);
  });
});

describe('socket paths others could replace', () => {
  it('a directory writable by all users without the sticky bit is refused with ERR_IPC_UNSAFE_PATH, leaving nothing behind', async () => {
    const dir = tempDir('sipc-hostile-', 0o777);
    expect(fs.statSync(dir).mode & 0o7777).toBe(0o777);
    const file = path.join(dir, 's.sock');
    const err = await listen(`unix:${file}`).then(
      (s) => {
        onCleanup(() => s.close());
        return null;
      },
      (e: unknown) => e,
    );
    expect(code(err)).toBe('ERR_IPC_UNSAFE_PATH');
    expect((err as Error).message).toContain(dir);
    expect((err as { address?: string }).address).toBe(file);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('the same directory with the sticky bit (01777, like /tmp) is accepted', async () => {
    const ts = await startServer({}, 'unix', 0o1777);
    expect(fs.statSync(ts.dir).mode & 0o7777).toBe(0o1777);
    expect(fs.lstatSync(ts.path).isSocket()).toBe(true);
    expect(fs.statSync(ts.path).mode & 0o7777).toBe(0o600);
    await checkServes(ts);
    await ts.server.close();
    expect(fs.readdirSync(ts.dir)).toEqual([]);
  });

  const notSockets: Array<[string, (p: string, dir: string) => () => void]> = [
    [
      'a regular file',
      (p) => {
        fs.writeFileSync(p, 'precious data\n', { mode: 0o640 });
        const before = fs.lstatSync(p);
        return () => {
          const after = fs.lstatSync(p);
          expect(after.isFile()).toBe(true);
          expect(after.ino).toBe(before.ino);
          expect(after.mode).toBe(before.mode);
          expect(fs.readFileSync(p, 'utf8')).toBe('precious data\n');
        };
      },
    ],
    [
      'an empty regular file',
      (p) => {
        fs.writeFileSync(p, '');
        const before = fs.lstatSync(p);
        return () => {
          expect(fs.lstatSync(p).ino).toBe(before.ino);
          expect(fs.readFileSync(p).length).toBe(0);
        };
      },
    ],
    [
      'a symbolic link to a file elsewhere',
      (p, dir) => {
        const target = path.join(dir, 'target.txt');
        fs.writeFileSync(target, 'link target\n');
        fs.symlinkSync(target, p);
        return () => {
          expect(fs.lstatSync(p).isSymbolicLink()).toBe(true);
          expect(fs.readlinkSync(p)).toBe(target);
          expect(fs.readFileSync(target, 'utf8')).toBe('link target\n');
        };
      },
    ],
    [
      'a directory',
      (p) => {
        fs.mkdirSync(p);
        fs.writeFileSync(path.join(p, 'inside'), 'x');
        return () => {
          expect(fs.lstatSync(p).isDirectory()).toBe(true);
          expect(fs.readdirSync(p)).toEqual(['inside']);
        };
      },
    ],
    [
      'a FIFO',
      (p) => {
        const r = spawnSync('mkfifo', [p]);
        if (r.status !== 0) throw new Error(`mkfifo failed: ${String(r.stderr)}`);
        const before = fs.lstatSync(p);
        return () => {
          expect(fs.lstatSync(p).isFIFO()).toBe(true);
          expect(fs.lstatSync(p).ino).toBe(before.ino);
        };
      },
    ],
  ];

  it.each(notSockets)('%s at the path is never replaced (ERR_IPC_NOT_A_SOCKET)', async (_name, make) => {
    const dir = tempDir('sipc-hostile-', 0o700);
    const file = path.join(dir, 's.sock');
    const check = make(file, dir);
    const err = await listen(`unix:${file}`).then(
      (s) => {
        onCleanup(() => s.close());
        return null;
      },
      (e: unknown) => e,
    );
    expect(code(err)).toBe('ERR_IPC_NOT_A_SOCKET');
    check();
    // Nothing else was left in the directory (no half-made temp directory).
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('.sipc-'))).toEqual([]);
  });
});

// Acts as nobody (root + Linux), see AS_ROOT_ON_LINUX.
describe.runIf(AS_ROOT_ON_LINUX)('stale socket files of another user', () => {
  /** A socket file nobody listens on: bound by Python and closed without unlinking. */
  function staleSocket(p: string, uid: number): fs.Stats {
    const r = spawnSync('python3', ['-c', 'import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\ns.close()', p]);
    if (r.status !== 0) throw new Error(`could not make a stale socket: ${String(r.stderr)}`);
    fs.chownSync(p, uid, uid);
    const st = fs.lstatSync(p);
    expect(st.isSocket()).toBe(true);
    expect(st.uid).toBe(uid);
    return st;
  }

  /** Runs listen() from the package as nobody; returns its events. */
  async function listenAsNobody(endpoint: string): Promise<Event[]> {
    const index = packageCopyForOtherUsers();
    const probe = spawnSync(NOBODY[0]!, [...NOBODY.slice(1), process.execPath, '-e', `require(${JSON.stringify(index)})`], {
      encoding: 'utf8',
      env: envForOtherUsers(),
    });
    if (probe.status !== 0) throw new Error(`nobody cannot load the package copy at ${index}: ${probe.stderr}`);
    const { events } = await asNobodyRun(['listen', index, endpoint]);
    return events;
  }

  function nobodyDir(): string {
    const dir = tempDir('sipc-hostile-', 0o755);
    fs.chownSync(dir, NOBODY_UID, NOBODY_UID);
    return dir;
  }

  it('a server running as nobody refuses a stale socket owned by root (ERR_IPC_UNSAFE_PATH) and leaves it', async () => {
    const dir = nobodyDir();
    const file = path.join(dir, 's.sock');
    const before = staleSocket(file, 0);
    const events = await listenAsNobody(`unix:${file}`);
    expect(names(events)).toEqual(['start', 'error:ERR_IPC_UNSAFE_PATH']);
    expect(events[1]!.message).toContain('uid 0');
    const after = fs.lstatSync(file);
    expect(after.ino).toBe(before.ino);
    expect(after.uid).toBe(0);
    expect(fs.readdirSync(dir)).toEqual(['s.sock']);
  });

  it('a server running as nobody replaces a stale socket it owns itself', async () => {
    const dir = nobodyDir();
    const file = path.join(dir, 's.sock');
    staleSocket(file, NOBODY_UID);
    const events = await listenAsNobody(`unix:${file}`);
    expect(names(events)).toEqual(['start', 'listening']);
    // It closed again and removed its own file.
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('root is exempt: a root server replaces a stale socket owned by nobody', async () => {
    // The check exempts a server running as uid 0 (it could remove the file anyway); this documents
    // that exemption, since the suite itself runs as root.
    const dir = tempDir('sipc-hostile-', 0o700);
    const file = path.join(dir, 's.sock');
    const before = staleSocket(file, NOBODY_UID);
    const server = await listen(`unix:${file}`);
    onCleanup(() => server.close());
    // (The inode number may be reused for the new file, so ownership and mode tell them apart.)
    const after = fs.lstatSync(file);
    expect(before.uid).toBe(NOBODY_UID);
    expect(after.isSocket()).toBe(true);
    expect(after.uid).toBe(0);
    expect(after.mode & 0o7777).toBe(0o600);
    const ts: TestServer = {
      server,
      endpoint: `unix:${file}`,
      path: file,
      dir,
      accepted: [],
      refused: [],
      nth: async (n) => {
        await waitFor(() => ts.accepted.length > n, 'a connection');
        return ts.accepted[n]!;
      },
    };
    server.on('connection', (t: Transport) => ts.accepted.push(record(t)));
    await checkServes(ts);
  });
});
