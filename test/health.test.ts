// Health monitoring: probes of a silent transport, inbound frames standing in for probes, 'unhealthy'
// after `failures` failed probes in a row and 'healthy' when the peer answers again, rtt statistics,
// option checks, stop() and the transport's close ending the monitor, and timers that never hold the
// process. Peers are real: a server from listen() echoing JSON requests. The ping()/heartbeat path is
// not tested here yet.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, listen, monitor, ErrorCodes, TransportError, type HealthMonitor, type Transport } from '../dist/index.js';
import { healthOptions } from '../dist/health.js';
import { cleanupAll, code, listenAt, onCleanup, runNode, sleep, waitFor } from './helpers/common';
import { DIST_CJS, HELPERS, tempSockets } from './helpers/lifetime-util';

afterEach(cleanupAll);

/** A server and a connected client; the server's end echoes every frame unless told otherwise. */
async function pair(echo = true): Promise<{ client: Transport; peer: Transport }> {
  const sock = tempSockets('sipc-health-').sock();
  const server = await listenAt(sock);
  const accepted = new Promise<Transport>((resolve) => server.once('connection', resolve));
  const client = await connect(sock);
  const peer = await accepted;
  // A paused peer holds its 'close' back; resume it so that cleanup never waits on it.
  onCleanup(() => {
    peer.resume();
    peer.destroy();
    client.destroy();
  });
  if (echo) peer.on('message', (m: Buffer) => {
    if (peer.state === 'open') peer.send(m);
  });
  return { client, peer };
}

/**
 * A probe in the shape of a JSON-RPC request: sends `{ id }` and resolves when a frame with that id comes
 * back. `calls` counts the probes the monitor started.
 */
function echoProbe(client: Transport): { probe: () => Promise<void>; calls: { n: number } } {
  const calls = { n: 0 };
  const waiting = new Map<number, () => void>();
  let nextId = 0;
  client.on('message', (m: Buffer) => {
    const id = (JSON.parse(m.toString()) as { id: number }).id;
    const resolve = waiting.get(id);
    waiting.delete(id);
    resolve?.();
  });
  const probe = (): Promise<void> =>
    new Promise((resolve) => {
      calls.n++;
      const id = ++nextId;
      waiting.set(id, resolve);
      client.send(JSON.stringify({ id }));
    });
  return { probe, calls };
}

/** Counts a monitor's events; `unhealthy` keeps each error with the stats as they were when it came. */
function watch(m: HealthMonitor) {
  const seen = {
    unhealthy: [] as { err: TransportError & { failures?: number; cause?: unknown }; stats: HealthMonitor['stats'] }[],
    healthy: [] as HealthMonitor['stats'][],
  };
  m.on('unhealthy', (err) => seen.unhealthy.push({ err, stats: m.stats }));
  m.on('healthy', () => seen.healthy.push(m.stats));
  onCleanup(() => m.stop());
  return seen;
}

describe('monitor() with a probe', () => {
  it('a probe that answers keeps the transport healthy and fills the rtt statistics', async () => {
    const { client } = await pair();
    const { probe, calls } = echoProbe(client);
    const m = monitor(client, { interval: 20, timeout: 5000, probe });
    const seen = watch(m);
    expect(m.healthy).toBe(true);
    expect(m.stats).toEqual({ healthy: true, probes: 0, failures: 0, consecutiveFailures: 0, rtt: null });

    await waitFor(() => m.stats.probes >= 10 && m.stats.rtt !== null, '10 probes');
    const s = m.stats;
    expect(s.probes).toBe(calls.n);
    expect(s.healthy).toBe(true);
    expect(s.failures).toBe(0);
    expect(s.consecutiveFailures).toBe(0);
    const rtt = s.rtt!;
    expect(rtt.last).toBeGreaterThan(0);
    expect(rtt.mean).toBeGreaterThan(0);
    expect(rtt.p50).toBeGreaterThan(0);
    expect(rtt.p50).toBeLessThanOrEqual(rtt.p99);
    expect(seen.unhealthy).toEqual([]);
    // 'healthy' only follows 'unhealthy'; it is not announced at the start.
    expect(seen.healthy).toEqual([]);
  });

  it('a peer that stops reading: unhealthy once after `failures` timed-out probes, healthy once when it reads again', async () => {
    const { client, peer } = await pair();
    const { probe, calls } = echoProbe(client);
    peer.pause();
    const m = monitor(client, { interval: 20, timeout: 20, failures: 3, probe });
    const seen = watch(m);

    await waitFor(() => seen.unhealthy.length > 0, "'unhealthy'");
    const [{ err, stats }] = seen.unhealthy as [(typeof seen.unhealthy)[0]];
    expect(err).toBeInstanceOf(TransportError);
    expect(err.code).toBe(ErrorCodes.UNHEALTHY);
    expect(err.code).toBe('ERR_IPC_UNHEALTHY');
    expect(err.failures).toBe(3);
    expect(code(err.cause)).toBe('ERR_IPC_PING_TIMEOUT');
    expect(stats).toMatchObject({ healthy: false, probes: 3, failures: 3, consecutiveFailures: 3, rtt: null });
    expect(m.healthy).toBe(false);

    // Still failing: probing goes on, but 'unhealthy' is not repeated.
    await waitFor(() => m.stats.failures >= 6, '6 failed probes');
    expect(seen.unhealthy.length).toBe(1);
    expect(m.stats.consecutiveFailures).toBe(m.stats.failures);
    expect(seen.healthy).toEqual([]);

    peer.resume();
    await waitFor(() => seen.healthy.length > 0, "'healthy'");
    expect(seen.healthy[0]).toMatchObject({ healthy: true, consecutiveFailures: 0 });
    expect(m.healthy).toBe(true);
    const probes = calls.n;
    await waitFor(() => m.stats.rtt !== null && calls.n >= probes + 3, '3 more probes');
    expect(seen.healthy.length).toBe(1);
    expect(seen.unhealthy.length).toBe(1);
    expect(m.stats.healthy).toBe(true);
    expect(m.stats.probes).toBe(calls.n);
  });

  it('frames from the peer count as answers: no probe goes out while the peer streams', async () => {
    const { client, peer } = await pair();
    const { probe, calls } = echoProbe(client);
    let received = 0;
    client.on('message', () => received++);
    // One frame per turn of the event loop, so that every interval sees some.
    let streaming = true;
    const stream = (): void => {
      if (!streaming) return;
      peer.send('{"id":0}');
      setImmediate(stream);
    };
    onCleanup(() => (streaming = false));
    stream();
    const m = monitor(client, { interval: 20, timeout: 5000, failures: 1, probe });
    const seen = watch(m);
    // Ten intervals' worth of streaming.
    await sleep(200);
    expect(received).toBeGreaterThan(0);
    expect(calls.n).toBe(0);
    expect(m.stats.probes).toBe(0);

    // The same monitor probes as soon as the peer falls silent.
    streaming = false;
    await waitFor(() => m.stats.rtt !== null, 'an answered probe once the stream stopped');
    expect(calls.n).toBeGreaterThan(0);
    expect(seen.unhealthy).toEqual([]);
  });

  it('a probe that rejects counts as a failure; any frame from the peer makes it healthy again', async () => {
    const { client, peer } = await pair(false);
    const nope = new Error('no answer');
    let calls = 0;
    const m = monitor(client, {
      interval: 20,
      failures: 2,
      probe: () => {
        calls++;
        return Promise.reject(nope);
      },
    });
    const seen = watch(m);
    await waitFor(() => seen.unhealthy.length > 0, "'unhealthy'");
    expect(seen.unhealthy[0]!.err.cause).toBe(nope);
    expect(seen.unhealthy[0]!.err.failures).toBe(2);
    expect(seen.unhealthy[0]!.stats).toMatchObject({ probes: 2, failures: 2, consecutiveFailures: 2 });
    expect(calls).toBe(2);

    // One frame, unasked for: the peer is alive, though no probe ever succeeded.
    let received = 0;
    client.on('message', () => received++);
    peer.send('hello');
    await waitFor(() => seen.healthy.length > 0, "'healthy'");
    expect(received).toBe(1);
    expect(seen.healthy[0]).toMatchObject({ healthy: true, consecutiveFailures: 0, rtt: null });

    // The probe still fails, so two more make it unhealthy a second time.
    await waitFor(() => seen.unhealthy.length > 1, "a second 'unhealthy'");
    expect(seen.unhealthy[1]!.stats).toMatchObject({ consecutiveFailures: 2, failures: 4, probes: 4 });
    expect(seen.healthy.length).toBe(1);
  });

  it('a probe that throws, or never settles, counts as a failure', async () => {
    const { client } = await pair();
    const boom = new Error('thrown');
    const thrower = monitor(client, {
      interval: 20,
      failures: 1,
      probe: () => {
        throw boom;
      },
    });
    const hanger = monitor(client, { interval: 20, timeout: 10, failures: 1, probe: () => new Promise(() => {}) });
    // Answers, but only after its timeout: a late answer is no answer.
    const late = monitor(client, { interval: 20, timeout: 10, failures: 3, probe: () => sleep(50) });
    const a = watch(thrower);
    const b = watch(hanger);
    const c = watch(late);
    await waitFor(() => a.unhealthy.length > 0 && b.unhealthy.length > 0 && c.unhealthy.length > 0, "'unhealthy' from all three");
    expect(a.unhealthy[0]!.err.cause).toBe(boom);
    expect(a.unhealthy[0]!.stats).toMatchObject({ probes: 1, failures: 1 });
    const timedOut = b.unhealthy[0]!.err.cause as TransportError;
    expect(timedOut).toBeInstanceOf(TransportError);
    expect(timedOut.code).toBe('ERR_IPC_PING_TIMEOUT');
    expect(b.unhealthy[0]!.stats).toMatchObject({ probes: 1, failures: 1 });
    expect(code(c.unhealthy[0]!.err.cause)).toBe('ERR_IPC_PING_TIMEOUT');
    expect(c.unhealthy[0]!.stats).toMatchObject({ probes: 3, failures: 3, consecutiveFailures: 3, rtt: null });
    // Later answers to timed-out probes change nothing.
    await waitFor(() => late.stats.probes >= 6, '6 late probes');
    expect(late.stats.rtt).toBeNull();
    expect(late.stats.consecutiveFailures).toBe(late.stats.failures);
    expect(c.healthy).toEqual([]);
  });
});

describe('monitor() arguments', () => {
  it('without a probe, a transport without heartbeat is refused with a TypeError', async () => {
    const { client } = await pair();
    expect(client.heartbeat).toBe(false);
    let thrown: unknown;
    try {
      monitor(client);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect(code(thrown)).toBe('ERR_INVALID_ARG_VALUE');
    expect((thrown as Error).message).toMatch(/probe/);
    expect((thrown as Error).message).toMatch(/heartbeat: true/);
    expect(() => monitor(client, { interval: 20 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('bad options throw at the call', async () => {
    const { client } = await pair();
    const probe = (): Promise<void> => Promise.resolve();
    const bad: [unknown, string, ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor][] = [
      [{ probe, intervall: 20 }, 'ERR_INVALID_ARG_VALUE', TypeError],
      [{ probe, interval: '20' }, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{ probe, timeout: null }, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{ probe: 'ping' }, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{ probe, interval: 0 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ probe, timeout: -1 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ probe, failures: 1.5 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ probe, interval: 2 ** 31 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ probe, failures: Number.NaN }, 'ERR_OUT_OF_RANGE', RangeError],
      [null, 'ERR_INVALID_ARG_TYPE', TypeError],
      [5, 'ERR_INVALID_ARG_TYPE', TypeError],
    ];
    for (const [options, expected, type] of bad) {
      let thrown: unknown;
      try {
        monitor(client, options as never);
      } catch (e) {
        thrown = e;
      }
      expect(thrown, JSON.stringify(options)).toBeInstanceOf(type);
      expect(code(thrown), JSON.stringify(options)).toBe(expected);
    }
    expect(() => monitor({} as never, { probe })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    // None of these left a monitor behind: the client was never probed.
    expect(client.stats.framesOut).toBe(0);
  });

  it('healthOptions(): true means the defaults, false or undefined none, an object is checked', () => {
    const probe = (): Promise<void> => Promise.resolve();
    expect(healthOptions(true)).toEqual({ interval: 5000, timeout: 1000, failures: 3 });
    expect(healthOptions(false)).toBeNull();
    expect(healthOptions(undefined)).toBeNull();
    expect(healthOptions({ interval: 50 })).toEqual({ interval: 50, timeout: 1000, failures: 3 });
    expect(healthOptions({ probe, failures: 1 })).toEqual({ interval: 5000, timeout: 1000, failures: 1, probe });
    expect(() => healthOptions('yes')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => healthOptions(null)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => healthOptions({ every: 5 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => healthOptions({ timeout: 0 })).toThrow(/options\.health\.timeout/);
  });
});

describe('the monitor stops', () => {
  it('stop() ends probing, forgets a probe in flight, and is idempotent', async () => {
    // Two connections: frames one monitor's probe brings back would count as answers for the other.
    const answeringPair = await pair();
    const hangingPair = await pair();
    const answering = echoProbe(answeringPair.client);
    const a = monitor(answeringPair.client, { interval: 20, timeout: 5000, probe: answering.probe });
    let hung = 0;
    const b = monitor(hangingPair.client, {
      interval: 20,
      timeout: 500,
      failures: 1,
      probe: () => {
        hung++;
        return new Promise(() => {});
      },
    });
    const seenA = watch(a);
    const seenB = watch(b);
    // b's first probe is in flight (it would time out and make b unhealthy after 500 ms): stopped now,
    // that timeout must never count.
    await waitFor(() => hung === 1, "b's first probe");
    b.stop();
    await waitFor(() => answering.calls.n >= 3, "a's probes");
    a.stop();
    a.stop();
    const probes = answering.calls.n;
    await sleep(600);
    expect(answering.calls.n).toBe(probes);
    expect(a.stats.probes).toBe(probes);
    expect(hung).toBe(1);
    expect(b.stats).toMatchObject({ probes: 1, failures: 0, consecutiveFailures: 0, healthy: true });
    expect(seenA.unhealthy).toEqual([]);
    expect(seenB.unhealthy).toEqual([]);
    expect(() => b.stop()).not.toThrow();
  });

  it('closing the transport, from either end, stops it without a failure', async () => {
    for (const closer of ['client', 'peer'] as const) {
      const { client, peer } = await pair();
      const { probe, calls } = echoProbe(client);
      const closeListeners = client.listenerCount('close');
      const m = monitor(client, { interval: 20, timeout: 5000, failures: 1, probe });
      const seen = watch(m);
      expect(client.listenerCount('close')).toBe(closeListeners + 1);
      await waitFor(() => calls.n >= 2, '2 probes');
      let closed = false;
      client.once('close', () => (closed = true));
      if (closer === 'client') await client.close();
      else await peer.close();
      await waitFor(() => closed, "the client's 'close'");
      const probes = calls.n;
      await sleep(150);
      expect(calls.n, closer).toBe(probes);
      expect(m.stats.probes, closer).toBe(probes);
      expect(seen.unhealthy, closer).toEqual([]);
      expect(m.healthy, closer).toBe(true);
      expect(client.listenerCount('close'), closer).toBe(closeListeners);
      m.stop();
    }
  });

  it('a probe that fails because the transport is closing is not counted', async () => {
    const { client } = await pair();
    let fail: ((e: Error) => void) | null = null;
    const m = monitor(client, { interval: 20, failures: 1, timeout: 5000, probe: () => new Promise((_, reject) => (fail = reject)) });
    const seen = watch(m);
    await waitFor(() => fail !== null, 'a probe');
    const closing = client.close();
    expect(client.state).toBe('closing');
    fail!(new TransportError('closed under the probe', 'ERR_IPC_CLOSED'));
    await closing;
    await sleep(20);
    expect(m.stats).toMatchObject({ probes: 1, failures: 0, healthy: true });
    expect(seen.unhealthy).toEqual([]);
  });

  it('a monitor of a transport already closed never probes', async () => {
    const { client } = await pair();
    await client.close();
    let calls = 0;
    const m = monitor(client, {
      interval: 20,
      probe: () => {
        calls++;
        return Promise.resolve();
      },
    });
    watch(m);
    await sleep(100);
    expect(calls).toBe(0);
    expect(m.stats.probes).toBe(0);
  });

  for (const mode of ['close', 'unref'] as const) {
    const what = mode === 'close' ? 'transport closed' : "transport unref'd, monitor running";
    it(`never keeps the process alive (child process, ${what})`, async () => {
      const { dir } = tempSockets('sipc-health-child-');
      const r = await runNode([path.join(HELPERS, 'health-peer.cjs'), DIST_CJS, mode, path.join(dir, 'h.sock')]);
      expect(r.killed, r.stderr).toBe(false);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe('probed true');
      expect(lines[lines.length - 1]).toBe('exit 0 true');
      expect(lines.filter((l) => l.startsWith('unhealthy'))).toEqual([]);
    });
  }
});
