// Flow control end to end, in real processes: "Resumable sessions deadlock when the receiver respects
// back-pressure". Each cell of the matrix is a server process (test/helpers/flow-server.cjs) and a
// client process (test/helpers/flow-client.cjs): the client sends N numbered frames, waiting for
// 'drain' whenever send() returns false, the server echoes them in one of four styles, and the client
// checks every echo (exactly N, each once, in order, each with its own content). Cells:
//   session mode  plain (connect/listen), heartbeat, resume (reconnecting + listen { resume }),
//                 resume-cut (resume, the client destroying its connection at 1/3 and 2/3 of the frames)
//   echo style    async-drain, pause-resume, plain-echo, delayed-fifo (see flow-server.cjs)
//   carrier       unix socket, TCP on 127.0.0.1
//   frame size    64 B, 1 KiB, 1 MiB; 20,000 frames each way, capped at 20 MiB each way
// A cell that stops moving fails after STALL_MS without progress, saying how many frames got where
// (the deadlock of envelope version 1 stalled at about 9,800 echoes and never moved again).
// Then one test of a receiver that stops consuming for 5 seconds: back-pressure reaches the sender,
// what each side holds stays bounded, and everything arrives once, in order, after it resumes.
//
// Cells run a few at a time (CONCURRENCY, default 2: one server and one client each), so tests are
// `it.concurrent` and clean up after themselves rather than through afterEach(cleanupAll), which
// would undo the cleanups of the cells still running.
import { afterAll, describe, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LineChild, cleanupAll, sleep } from './helpers/common';
import { DIST_CJS, HELPERS } from './helpers/lifetime-util';

afterAll(cleanupAll);

const SERVER = path.join(HELPERS, 'flow-server.cjs');
const CLIENT = path.join(HELPERS, 'flow-client.cjs');

/** No progress (frames sent, received or echoed, on either side) for this long fails the cell. */
const STALL_MS = 10_000;
/** A cell still moving after this long fails too (a safety net; cells take about a second). */
const CELL_MS = 90_000;
/** Test timeout: the cell, plus waiting for a free slot behind cells that are failing slowly. */
const TEST_TIMEOUT = 150_000;
const CONCURRENCY = Math.max(1, Number(process.env.FLOW_MATRIX_CONCURRENCY ?? 2));

const KiB = 1024;
const MiB = 1024 * KiB;
const MAX_FRAMES = 20_000;
const MAX_BYTES = 20 * MiB;

type Mode = 'plain' | 'heartbeat' | 'resume' | 'resume-cut';
type Style = 'async-drain' | 'pause-resume' | 'plain-echo' | 'delayed-fifo';
type Carrier = 'unix' | 'tcp';

const MODES: Mode[] = ['plain', 'heartbeat', 'resume', 'resume-cut'];
const STYLES: Style[] = ['async-drain', 'pause-resume', 'plain-echo', 'delayed-fifo'];
const CARRIERS: Carrier[] = ['unix', 'tcp'];
const SIZES: [number, string][] = [
  [64, '64 B'],
  [KiB, '1 KiB'],
  [MiB, '1 MiB'],
];

interface Cell {
  name: string;
  mode: Mode;
  style: Style;
  carrier: Carrier;
  size: number;
  frames: number;
}

function cellsOf(mode: Mode): Cell[] {
  const out: Cell[] = [];
  for (const style of STYLES) {
    for (const carrier of CARRIERS) {
      for (const [size, label] of SIZES) {
        out.push({ name: `${mode} · ${style} · ${carrier} · ${label}`, mode, style, carrier, size, frames: Math.min(MAX_FRAMES, Math.floor(MAX_BYTES / size)) });
      }
    }
  }
  return out;
}

// --- running a few cells at a time ------------------------------------------------------------------

let free = CONCURRENCY;
const queue: (() => void)[] = [];

async function inSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (free > 0) free--;
  else await new Promise<void>((resolve) => queue.push(resolve));
  try {
    return await fn();
  } finally {
    const next = queue.shift();
    if (next !== undefined) next();
    else free++;
  }
}

// --- the two processes --------------------------------------------------------------------------------

type Json = Record<string, any>;

/** A helper process's JSON lines: the latest 'progress', and the first of every other event. */
class Peer {
  readonly child: LineChild;
  progress: Json | null = null;
  readonly events = new Map<string, Json>();
  #read = 0;

  constructor(
    readonly role: string,
    script: string,
    config: Json,
  ) {
    this.child = new LineChild(process.execPath, [script, JSON.stringify(config)], { stdin: 'ignore' });
  }

  update(): void {
    const lines = this.child.lines;
    for (; this.#read < lines.length; this.#read++) {
      let v: Json;
      try {
        v = JSON.parse(lines[this.#read]!) as Json;
      } catch {
        continue;
      }
      if (v.event === 'progress') this.progress = v;
      else if (!this.events.has(v.event)) this.events.set(v.event, v);
    }
  }

  has(event: string): boolean {
    return this.events.has(event);
  }

  get(event: string): Json {
    const v = this.events.get(event);
    if (v === undefined) throw new Error(`no '${event}' from the ${this.role}`);
    return v;
  }

  /** Why this process can no longer deliver `event`, or null. */
  hopeless(event: string): string | null {
    if (this.has('fatal')) return `the ${this.role} failed: ${this.get('fatal').error}; stderr: ${this.child.stderr.trim()}`;
    if (this.child.exit !== null && !this.has(event)) {
      return `the ${this.role} exited ${JSON.stringify(this.child.exit)} before '${event}'; last progress ${JSON.stringify(this.progress)}; stderr: ${this.child.stderr.trim()}`;
    }
    return null;
  }

  async stop(): Promise<void> {
    this.child.kill();
    await this.child.exited;
  }
}

interface Watch {
  server: Peer;
  client: Peer;
  /** Frames to move each way. */
  total: number;
}

const n = (v: unknown): number => (typeof v === 'number' ? v : 0);

/** Frames the client sent, the client got back, the server got and the server sent back, so far. */
function counts(w: Watch): { sent: number; echoed: number; atServer: number; fromServer: number } {
  const c = w.client.events.get('done') ?? w.client.progress;
  const s = w.server.events.get('report') ?? w.server.progress;
  return { sent: n(c?.sent), echoed: n(c?.received), atServer: n(s?.received), fromServer: n(s?.sent) };
}

function stallReport(w: Watch, quietMs: number): string {
  const k = counts(w);
  const pending = w.server.progress?.pending ? `, ${w.server.progress.pending} replies pending` : '';
  return (
    `stalled: no frame moved for ${Math.round(quietMs / 1000)} s. ` +
    `Client → server: the client sent ${k.sent} of ${w.total} frames, the server received ${k.atServer}. ` +
    `Server → client: the server sent back ${k.fromServer}${pending}, the client received ${k.echoed} of ${w.total} echoes. ` +
    `Client stats ${JSON.stringify(w.client.progress?.stats ?? null)}; server stats ${JSON.stringify(w.server.progress?.stats ?? null)}`
  );
}

/**
 * Waits until `ready()`, failing when either process dies first, when nothing moves for STALL_MS (the
 * message says how many frames got where) or, as a safety net, after CELL_MS. A pause on purpose
 * must be shorter than STALL_MS.
 */
async function watch(w: Watch, ready: () => boolean, waitingFor: [Peer, string][]): Promise<void> {
  const started = Date.now();
  let last = '';
  let lastChange = started;
  for (;;) {
    w.server.update();
    w.client.update();
    if (ready()) return;
    for (const [peer, event] of waitingFor) {
      const why = peer.hopeless(event);
      if (why !== null) throw new Error(`${why}. ${stallReport(w, Date.now() - lastChange)}`);
    }
    const now = Date.now();
    const key = JSON.stringify(counts(w));
    if (key !== last) {
      last = key;
      lastChange = now;
    } else if (now - lastChange > STALL_MS) {
      throw new Error(stallReport(w, now - lastChange));
    }
    if (now - started > CELL_MS) throw new Error(`still not done after ${CELL_MS / 1000} s (moving, but too slowly). ${stallReport(w, now - lastChange)}`);
    await sleep(50);
  }
}

/** A server and a client process on a fresh endpoint; both are killed and the directory removed afterwards. */
async function withPair<T>(
  carrier: Carrier,
  serverConfig: Json,
  clientConfig: Json,
  fn: (server: Peer, client: Peer) => Promise<T>,
): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sfm-'));
  const peers: Peer[] = [];
  try {
    const endpoint = carrier === 'unix' ? `unix:${path.join(dir, 's.sock')}` : 'tcp:127.0.0.1:0';
    const server = new Peer('server', SERVER, { dist: DIST_CJS, endpoint, ...serverConfig });
    peers.push(server);
    const deadline = Date.now() + STALL_MS;
    for (;;) {
      server.update();
      if (server.has('listening')) break;
      const why = server.hopeless('listening');
      if (why !== null) throw new Error(why);
      if (Date.now() > deadline) throw new Error(`the server did not listen within ${STALL_MS / 1000} s; stderr: ${server.child.stderr}`);
      await sleep(10);
    }
    const client = new Peer('client', CLIENT, { dist: DIST_CJS, endpoint: server.get('listening').endpoint as string, ...clientConfig });
    peers.push(client);
    return await fn(server, client);
  } finally {
    for (const p of peers) await p.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// --- the matrix ---------------------------------------------------------------------------------------

describe.each(MODES)('flow matrix: %s sessions', (mode) => {
  it.concurrent.for(cellsOf(mode).map((c): [string, Cell] => [c.name, c]))(
    '%s',
    { timeout: TEST_TIMEOUT },
    async ([, cell], { expect }) => {
      const N = cell.frames;
      const cuts = mode === 'resume-cut' ? [Math.floor(N / 3), Math.floor((2 * N) / 3)] : undefined;
      await inSlot(() =>
        withPair(
          cell.carrier,
          { mode, style: cell.style },
          { mode, size: cell.size, frames: N, echo: true, cuts },
          async (server, client) => {
            const w: Watch = { server, client, total: N };
            await watch(w, () => client.has('done') && client.has('closed') && server.has('report'), [
              [client, 'closed'],
              [server, 'report'],
            ]);
            const done = client.get('done');
            const report = server.get('report');

            // Every echo: exactly N, each once, in order, each its own frame.
            expect(done.mistakes, 'echoes that were not the frame expected next (index, size or content)').toEqual([]);
            expect(done.bad).toBe(0);
            expect(done.sent).toBe(N);
            expect(done.received).toBe(N);
            expect(done.closedEarly).toBe(false);
            expect(done.errors).toEqual([]);
            expect(done.drops).toEqual([]);
            expect(done.stats.framesIn).toBe(N);
            expect(done.stats.framesOut).toBe(N);
            expect(client.get('closed').errors).toEqual([]);

            // The server: one client session (or connection), N frames in, N out, nothing wrong.
            expect(report.sessions).toBe(1);
            expect(report.received).toBe(N);
            expect(report.sent).toBe(N);
            expect(report.errors).toEqual([]);
            expect(report.drops).toEqual([]);

            if (mode === 'resume-cut') {
              expect(done.cutsDone).toBe(2);
              expect(done.stats.reconnects).toBeGreaterThanOrEqual(2);
              expect(report.reconnects.length).toBeGreaterThanOrEqual(2);
            } else if (mode === 'resume') {
              expect(done.stats.reconnects).toBe(0);
              expect(report.disconnects).toEqual([]);
            }

            await server.child.done();
            await client.child.done();
            expect(server.child.exit).toEqual({ code: 0, signal: null });
            expect(client.child.exit).toEqual({ code: 0, signal: null });
          },
        ),
      );
    },
  );
});

// --- a receiver that stops consuming ------------------------------------------------------------------

describe('resume flow control', () => {
  const SIZE = 64 * KiB;
  const TOTAL = 640; // 40 MiB
  const PAUSE_AT = 80; // after 5 MiB, while the client is sending as fast as it may
  const PAUSE_MS = 5000;
  // Passed on both ends rather than read back: a server session does not expose its configuration.
  const RECEIVE_WINDOW = 1048576;
  // Explicit, and small beside the default 8 MiB, so that the bound on what the server holds means something.
  const MAX_FRAME = 256 * KiB;
  // Explicit, and below the 40 MiB sent, so that a client queue that grew without bound would show.
  const MAX_QUEUE = 16 * MiB;
  const SAMPLE_MS = 100;

  it(
    'a receiver that stops consuming for 5 seconds',
    async ({ expect }) => {
      await inSlot(() =>
        withPair(
          'unix',
          {
            mode: 'resume',
            style: 'sink-pause',
            size: SIZE,
            total: TOTAL,
            pauseAt: PAUSE_AT,
            pauseMs: PAUSE_MS,
            sampleMs: SAMPLE_MS,
            options: { receiveWindow: RECEIVE_WINDOW, maxFrameSize: MAX_FRAME },
          },
          {
            mode: 'resume',
            size: SIZE,
            frames: TOTAL,
            echo: false,
            sampleMs: SAMPLE_MS,
            options: { receiveWindow: RECEIVE_WINDOW, maxFrameSize: MAX_FRAME, maxQueueBytes: MAX_QUEUE },
          },
          async (server, client) => {
            const w: Watch = { server, client, total: TOTAL };
            await watch(w, () => server.has('all-received') && client.has('done') && client.has('closed') && server.has('report'), [
              [server, 'report'],
              [client, 'closed'],
            ]);
            const done = client.get('done');
            const report = server.get('report');
            const pausedAt = report.pausedAt as number;
            const resumedAt = report.resumedAt as number;
            const during = (sample: readonly unknown[]): boolean => (sample[0] as number) >= pausedAt && (sample[0] as number) <= resumedAt;

            // The pause happened, mid-stream, for its 5 s.
            expect(pausedAt).toBeTypeOf('number');
            expect(resumedAt - pausedAt).toBeGreaterThanOrEqual(PAUSE_MS - 50);

            // Nothing errors; every frame arrives once, in order, with its content.
            expect(done.errors).toEqual([]);
            expect(done.drops).toEqual([]);
            expect(done.closedEarly).toBe(false);
            expect(done.sent).toBe(TOTAL);
            expect(report.errors).toEqual([]);
            expect(report.drops).toEqual([]);
            expect(report.sessions).toBe(1);
            expect(report.firstBad).toBeNull();
            expect(report.bad).toBe(0);
            expect(report.received).toBe(TOTAL);
            expect(server.get('all-received').at).toBeGreaterThan(resumedAt);

            // Back-pressure reached the sender while the receiver stood still.
            const falseDuring = (done.falseAt as number[]).filter((t) => t >= pausedAt && t <= resumedAt);
            expect(falseDuring.length, "send() returning false during the pause").toBeGreaterThan(0);

            // What the server's session holds for its stopped consumer: a number, and within the window plus one frame.
            const held = report.samples as [number, number | null][];
            const heldDuring = held.filter(during);
            expect(heldDuring.length, 'samples of heldBytes taken during the pause').toBeGreaterThanOrEqual(30);
            expect(
              held.filter(([, v]) => typeof v !== 'number').length,
              'samples where the server session had no stats.heldBytes (a number of bytes held for its consumer)',
            ).toBe(0);
            const maxHeld = Math.max(...held.map(([, v]) => v ?? Number.POSITIVE_INFINITY));
            const maxHeldDuring = Math.max(...heldDuring.map(([, v]) => v ?? Number.POSITIVE_INFINITY));
            expect(maxHeldDuring, 'bytes held during the pause (the frames that arrived were kept, not refused)').toBeGreaterThan(0);
            expect(maxHeld, `max heldBytes (receiveWindow ${RECEIVE_WINDOW} + maxFrameSize ${MAX_FRAME} + 64)`).toBeLessThanOrEqual(RECEIVE_WINDOW + MAX_FRAME + 64);

            // What the client keeps meanwhile: bounded well below its queue's limit.
            const sent = done.samples as [number, number, number | null][];
            expect(sent.filter(during).length).toBeGreaterThanOrEqual(30);
            expect(sent.filter(([, , q]) => typeof q !== 'number').length, 'client samples without stats.queuedBytes').toBe(0);
            const maxClient = Math.max(...sent.map(([, b, q]) => b + (q ?? 0)));
            expect(maxClient, `max client bufferedBytes + queuedBytes (maxQueueBytes ${MAX_QUEUE})`).toBeLessThan(MAX_QUEUE);

            await server.child.done();
            await client.child.done();
            expect(server.child.exit).toEqual({ code: 0, signal: null });
            expect(client.child.exit).toEqual({ code: 0, signal: null });
          },
        ),
      );
    },
    60_000,
  );
});
