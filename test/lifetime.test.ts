// Lifetimes: descriptors, process exit with open or closed handles, unref(), process.exit() with open
// handles, and garbage collection of closed transports.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, listen, type Server, type Transport } from '../dist/index.js';
import { cleanupAll, fdCount, killChildren, onCleanup, runNode, waitFor } from './helpers/common';
import { DIST_CJS, HELPERS, tempSockets } from './helpers/lifetime-util';

const CHILD = path.join(HELPERS, 'lifetime-child.cjs');
afterEach(async () => {
  killChildren();
  await cleanupAll();
});

const sockets = () => tempSockets('sipc-lt-');

function child(mode: string, extra?: string, execArgv: string[] = []) {
  const dir = sockets().dir;
  return runNode([...execArgv, CHILD, DIST_CJS, mode, dir, ...(extra === undefined ? [] : [extra])]);
}

// Lines a crashed or aborting Node prints; none may appear.
const CRASH = /Assertion|FATAL|Segmentation|Aborted|core dumped|napi_|uncaught|Error:/i;

describe('file descriptors', () => {
  it('1,000 connect/send/close cycles leave no descriptor open', async () => {
    const { sock } = sockets();
    const endpoint = sock();
    const server: Server = await listen(endpoint);
    onCleanup(() => server.close());
    let received = 0;
    let serverCloses = 0;
    server.on('connection', (t: Transport) => {
      t.on('message', () => received++);
      t.on('close', () => serverCloses++);
    });

    const cycle = async (i: number): Promise<void> => {
      const c = await connect(endpoint);
      let errors = 0;
      c.on('error', () => errors++);
      c.send(`frame ${i}`);
      await c.close();
      expect(c.state).toBe('closed');
      expect(errors).toBe(0);
    };

    // One warm-up cycle, so descriptors Node opens lazily once (and keeps) are not counted as leaks.
    await cycle(-1);
    await waitFor(() => serverCloses === 1, 'the warm-up connection to close on the server');
    const before = fdCount();

    for (let i = 0; i < 1000; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, k) => cycle(i + k)));
    }
    await waitFor(() => serverCloses === 1001, 'every server-side transport to close');
    expect(received).toBe(1001);
    expect(server.connections).toBe(0);
    expect(fdCount()).toBeLessThanOrEqual(before);

    await server.close();
    // The listening socket was one of the descriptors counted before.
    expect(fdCount()).toBeLessThanOrEqual(before - 1);
  });
});

describe('process exit', () => {
  it('a process exits on its own, code 0, once its transports and server are closed', async () => {
    const r = await child('close-both');
    expect(r.killed).toBe(false);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['got echo:ping', 'peer close', 'client close', 'done closed closed 0', 'exit 0']);
    expect(r.code).toBe(0);
  });

  it('unref() lets a process exit with a server and both transports still open', async () => {
    const r = await child('unref');
    expect(r.killed).toBe(false);
    expect(r.stderr).toBe('');
    // 'held': the open handles kept the loop alive until the unref'd timer ran; no 'close' was emitted.
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['got ping', 'held', 'exit 0 open open true']);
    expect(r.code).toBe(0);
  });

  it('process.exit() with open handles and unwritten data exits cleanly with the given code', async () => {
    const r = await child('exit-open', '7');
    expect(r.killed).toBe(false);
    expect(r.signal).toBeNull();
    expect(r.stderr).not.toMatch(CRASH);
    expect(r.stdout).toBe('buffered true\n');
    expect(r.code).toBe(7);
  });

  it('process.exit() from inside a message listener exits cleanly with the given code', async () => {
    const r = await child('exit-in-callback', '5');
    expect(r.killed).toBe(false);
    expect(r.signal).toBeNull();
    expect(r.stderr).not.toMatch(CRASH);
    expect(r.stdout).toBe('got frame 0\n');
    expect(r.code).toBe(5);
  });
});

describe('garbage collection', () => {
  it('closed transports that nobody references are collected, with their native handles', async () => {
    const n = 100;
    const r = await child('gc', String(n), ['--expose-gc']);
    expect(r.killed).toBe(false);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines[0]).toBe(`received ${n}`);
    // Every client and every server-side transport.
    expect(lines[1]).toBe(`collected ${2 * n} of ${2 * n}`);
    // 2n connection handles plus the server's own, which the child still references.
    const m = /^native (\d+) of (\d+)$/.exec(lines[2] ?? '');
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBe(2 * n + 1);
    expect(Number(m![1])).toBeGreaterThanOrEqual(2 * n);
    expect(r.code).toBe(0);
  });
});
