// Busy polling: the window opens with traffic and closes without it, the loop keeps serving timers
// while it polls, a pair sharing one CPU is not starved, and the idle handle never keeps a process
// alive. Counts and states only: the latency figures live in bench/busy-poll.js.
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { busyPollStats, connect, listen, reconnecting, setBusyPoll, type Transport } from '../dist/index.js';
import { cleanupAll, listenAt, onCleanup, sleep, tempDir } from './helpers/common';
import { LINUX } from './helpers/platform';

const PEER = path.join(__dirname, 'helpers', 'busy-poll-peer.cjs');
afterEach(async () => {
  await cleanupAll();
  setBusyPoll(0);
});

function tempSock(): string {
  return path.join(tempDir('ipc-busy-'), 's.sock');
}

/** An echo pair in this process; returns the client. */
async function echoPair(busyPoll: number | undefined): Promise<Transport> {
  const file = tempSock();
  const opts = busyPoll === undefined ? {} : { busyPoll };
  const server = await listenAt(`unix:${file}`, opts);
  server.on('connection', (t) => t.on('message', (f: Buffer) => t.send(f)));
  const t = await connect(`unix:${file}`, opts);
  onCleanup(() => t.close());
  return t;
}

/** Sends n frames one at a time, each after the echo of the previous one. */
function pingPong(t: Transport, n: number): Promise<void> {
  return new Promise((resolve) => {
    let left = n;
    const onMessage = (): void => {
      if (--left === 0) {
        t.off('message', onMessage);
        resolve();
      } else t.send('x');
    };
    t.on('message', onMessage);
    t.send('x');
  });
}

describe('busy polling window', () => {
  it('polls only while frames flow, and stops within a few windows of the last one', async () => {
    const t = await echoPair(2000); // 2 ms window
    expect(t.stats.busyPollTime).toBe(0);
    expect(busyPollStats().active).toBe(false);
    await pingPong(t, 2000);
    const afterTraffic = t.stats.busyPollTime;
    expect(afterTraffic).toBeGreaterThan(0);
    // Many windows later, the loop sleeps again and the figure stops growing.
    await sleep(100);
    const settled = t.stats.busyPollTime;
    expect(busyPollStats().active).toBe(false);
    await sleep(200);
    expect(t.stats.busyPollTime).toBe(settled);
    // Traffic opens the window again.
    await pingPong(t, 200);
    expect(t.stats.busyPollTime).toBeGreaterThan(settled);
  });

  it('reconnecting() passes busyPoll to each connection it makes, resumable or not', async () => {
    for (const resume of [false, true]) {
      const file = tempSock();
      const server = await listen(`unix:${file}`, { resume });
      onCleanup(() => server.close());
      server.on('connection', (s: { on: Transport['on']; send: Transport['send'] }) => s.on('message', (f: Buffer) => s.send(f)));
      const r = reconnecting(`unix:${file}`, { busyPoll: 2000, resume });
      onCleanup(() => r.destroy());
      await once(r, 'connect');
      await pingPong(r as unknown as Transport, 500);
      expect(r.connection!.stats.busyPollTime).toBeGreaterThan(0);
      expect(r.stats.busyPollTime).toBeGreaterThan(0);
    }
  });

  it('never polls for a transport without busyPoll', async () => {
    // An earlier test's window may still be closing.
    while (busyPollStats().active) await sleep(5);
    const before = busyPollStats().pollTime;
    const t = await echoPair(undefined);
    await pingPong(t, 500);
    expect(t.stats.busyPollTime).toBe(0);
    expect(busyPollStats().pollTime).toBe(before);
  });

  it('setBusyPoll() sets the default for transports created afterwards', async () => {
    setBusyPoll(1000);
    const t = await echoPair(undefined);
    await pingPong(t, 500);
    expect(t.stats.busyPollTime).toBeGreaterThan(0);
    setBusyPoll(0);
    const u = await echoPair(undefined);
    await pingPong(u, 200);
    expect(u.stats.busyPollTime).toBe(0);
  });

  it('rejects a negative, fractional or huge window at the call', async () => {
    const file = tempSock();
    expect(() => connect(`unix:${file}`, { busyPoll: -1 })).toThrow(RangeError);
    expect(() => connect(`unix:${file}`, { busyPoll: 1.5 })).toThrow(RangeError);
    expect(() => listen(`unix:${file}`, { busyPoll: 1e12 })).toThrow(RangeError);
    expect(() => setBusyPoll(-5)).toThrow(RangeError);
    expect(() => connect(`unix:${file}`, { busyPoll: '100' as unknown as number })).toThrow(TypeError);
  });

  it('keeps a 10 ms interval timer firing while it polls', async () => {
    const t = await echoPair(100_000); // the window never closes while traffic flows
    let fired = 0;
    const timer = setInterval(() => fired++, 10);
    let rounds = 0;
    const stopAt = Date.now() + 1000;
    await new Promise<void>((resolve) => {
      const onMessage = (): void => {
        rounds++;
        if (Date.now() < stopAt) t.send('x');
        else {
          t.off('message', onMessage);
          resolve();
        }
      };
      t.on('message', onMessage);
      t.send('x');
    });
    clearInterval(timer);
    expect(busyPollStats().active).toBe(true);
    expect(rounds).toBeGreaterThan(100);
    // 100 firings is the nominal count for one second; a loop starved by polling would give almost none.
    expect(fired).toBeGreaterThanOrEqual(50);
  });
});

describe('busy polling and processes', () => {
  const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

  function run(args: string[], pin: string | null): { out: Promise<string>; code: Promise<number | null> } {
    const cmd = pin === null ? [process.execPath, PEER, ...args] : ['taskset', '-c', pin, process.execPath, PEER, ...args];
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    onCleanup(() => child.kill('SIGKILL'));
    let text = '';
    const out = new Promise<string>((resolve) => {
      child.stdout!.on('data', (d) => {
        text += d;
        if (/READY|DONE/.test(text)) resolve(text);
      });
    });
    const code = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    return { out, code };
  }

  // Pinning to one CPU uses taskset (util-linux); macOS has no taskset and no way to pin a process.
  it.runIf(LINUX)('a pair pinned to one CPU completes its round trips (the peer is not starved)', async () => {
    expect(hasTaskset).toBe(true);
    const file = tempSock();
    const server = run(['server', file, '1000'], '0');
    await server.out;
    const client = run(['client', file, '1000', '20000'], '0');
    // Starved by polling (a setImmediate loop takes ~5 ms a round trip here), 20,000 round trips would
    // take minutes; the test timeout is the safety net, not a measurement.
    const text = await client.out;
    expect(text).toMatch(/^DONE 20000 /m);
    expect(Number(/DONE \d+ ([\d.]+)/.exec(text)![1])).toBeGreaterThan(0);
    expect(await client.code).toBe(0);
    // The server closes when its client leaves, and then exits on its own: polling keeps nothing alive.
    expect(await server.code).toBe(0);
  }, 60_000);

  it('a process whose only transports busy-poll exits once they are closed', async () => {
    const file = tempSock();
    const server = run(['server', file, '100000'], null);
    await server.out;
    const client = run(['client', file, '100000', '1000'], null);
    expect(await client.out).toMatch(/^DONE 1000 /m);
    // Both exit with their 100 ms windows still open at the moment of closing.
    expect(await client.code).toBe(0);
    expect(await server.code).toBe(0);
  }, 30_000);
});
