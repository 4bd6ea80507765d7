// spawnStdio's restart policy: a child that dies is spawned again, frames sent while it is down go to
// the next one, and the policy's limits end the transport with the child's own exit as the reason; a
// transport ended before it took its first child does not leave that child running.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnStdio, type ReconnectingTransport } from '../dist/index.js';
import { WAIT_MS, cleanupAll, code, onCleanup, tempDir, waitFor } from './helpers/common';

const CHILD = path.join(__dirname, 'helpers', 'stdio-child.cjs');

afterEach(cleanupAll);

function restarting(mode: string[], restart: object | true): ReconnectingTransport {
  const r = spawnStdio(process.execPath, [CHILD, ...mode], { restart } as never) as ReconnectingTransport;
  onCleanup(() => r.destroy());
  return r;
}

function pidOf(r: ReconnectingTransport): number {
  return (r.connection as unknown as { pid: number }).pid;
}

describe('spawnStdio({ restart })', () => {
  it('respawns a child that exits with a failure; frames sent while it is down reach the next child', async () => {
    // Each child echoes two lines, then exits with code 9.
    const r = restarting(['exit-after', '9', '2'], { maxRestarts: 2, restartDelay: 10 });
    const got: string[] = [];
    r.on('message', (m: Buffer) => got.push(m.toString()));
    const events: string[] = [];
    r.on('disconnect', () => events.push('disconnect'));
    r.on('reconnect', () => events.push('reconnect'));
    await once(r, 'connect');
    const pids = [pidOf(r)];
    r.on('reconnect', () => pids.push(pidOf(r)));
    let failure: unknown = null;
    r.on('error', (e) => (failure = e));

    r.send('a0');
    r.send('a1');
    await once(r, 'disconnect');
    // No child now: these wait in the queue for the second one.
    r.send('b0');
    r.send('b1');
    expect(r.stats.queuedFrames).toBe(2);
    await once(r, 'reconnect');
    await waitFor(() => got.length === 4, () => `echoes: ${got.join(',')}`);
    await once(r, 'disconnect');
    const closed = new Promise((resolve) => r.once('close', resolve));
    r.send('c0');
    r.send('c1');
    await closed;

    expect(got).toEqual(['a0', 'a1', 'b0', 'b1', 'c0', 'c1']);
    expect(events).toEqual(['disconnect', 'reconnect', 'disconnect', 'reconnect', 'disconnect']);
    expect(new Set(pids).size).toBe(3);
    // The third death is past maxRestarts: the transport ends with the child's exit as the reason.
    expect(code(failure)).toBe('ERR_IPC_PEER_EXITED');
    expect(failure).toMatchObject({ exitCode: 9, restarts: 2 });
    expect(r.state).toBe('closed');
    expect(() => r.send('late')).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
  });

  it('does not restart a child that exits cleanly', async () => {
    const r = restarting(['burst', '5'], true);
    const got: string[] = [];
    r.on('message', (m: Buffer) => got.push(m.toString()));
    let reconnects = 0;
    r.on('reconnect', () => reconnects++);
    let failed = false;
    r.on('error', () => (failed = true));
    await once(r, 'close');
    expect(got).toEqual([0, 1, 2, 3, 4].map((n) => JSON.stringify({ n })));
    expect(reconnects).toBe(0);
    expect(failed).toBe(false);
  });

  it('respawns a child killed by a signal, with the default delay', async () => {
    const r = restarting(['echo-lines'], true);
    await once(r, 'connect');
    const first = pidOf(r);
    process.kill(first, 'SIGKILL');
    await once(r, 'reconnect');
    expect(pidOf(r)).not.toBe(first);
    r.send('after');
    const [m] = (await once(r, 'message')) as [Buffer];
    expect(m.toString()).toBe('after');
    await r.close();
    expect(r.state).toBe('closed');
  }, WAIT_MS);

  it('still throws at the call for a command that cannot start', () => {
    expect(() => spawnStdio('/nonexistent/command', [], { restart: true })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('checks the policy', () => {
    expect(() => spawnStdio(process.execPath, [CHILD, 'echo-lines'], { restart: { maxRestarts: -1 } })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
    );
    expect(() => spawnStdio(process.execPath, [CHILD, 'echo-lines'], { restart: { every: 1 } as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
  });

  /** Whether process `pid` still exists. */
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  // The child writes its pid to a file, then waits for its stdin to end (as a stdio server does).
  const PID_CHILD = "require('fs').writeFileSync(process.argv[1], String(process.pid)); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));";

  for (const how of ['destroy()', 'close()'] as const) {
    it(`${how} before its first child is taken: the child spawned at the call does not outlive the transport`, async () => {
      const file = path.join(tempDir('sipc-restart-'), 'pid');
      const r = spawnStdio(process.execPath, ['-e', PID_CHILD, file], { restart: true }) as ReconnectingTransport;
      let closes = 0;
      r.on('close', () => closes++);
      r.on('error', () => {});
      if (how === 'destroy()') r.destroy();
      else void r.close();
      await waitFor(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').length > 0, "the child's pid");
      const pid = Number(fs.readFileSync(file, 'utf8'));
      onCleanup(() => {
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      });
      await waitFor(() => closes === 1, "the transport's 'close'");
      await waitFor(() => !alive(pid), `child ${pid} to end`);
      expect(closes).toBe(1);
    });
  }
});
