// spawnStdio: real children (Node scripts, jq), counted frame by frame.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnStdio, type StdioTransport } from '../dist/index.js';

const CHILD = path.join(__dirname, 'helpers', 'stdio-child.cjs');
const open: StdioTransport[] = [];
afterEach(() => {
  for (const t of open.splice(0)) t.destroy();
});

function child(mode: string, args: (string | number)[] = [], options: Parameters<typeof spawnStdio>[2] = {}): StdioTransport {
  const t = spawnStdio(process.execPath, [CHILD, mode, ...args.map(String)], options);
  open.push(t);
  return t;
}

/** Every event in order: message:<text>, error:<code>, close. */
function record(t: StdioTransport): string[] {
  const events: string[] = [];
  t.on('message', (f: Buffer) => events.push(`message:${f.toString()}`));
  t.on('error', (e: Error & { code?: string }) => events.push(`error:${e.code}`));
  t.on('close', () => events.push('close'));
  return events;
}

describe('spawnStdio', () => {
  it('exchanges lines with a Node child, and close() ends stdin and waits for a clean exit', async () => {
    const t = child('echo-lines');
    expect(t.pid).toBeGreaterThan(0);
    expect(t.peer).toEqual({ pid: t.pid });
    const events = record(t);
    for (let i = 0; i < 500; i++) t.send(`line ${i}`);
    while (events.length < 500) await new Promise((r) => setTimeout(r, 5));
    await t.close();
    expect(await t.exited).toEqual({ code: 0, signal: null });
    expect(events).toEqual([...Array.from({ length: 500 }, (_, i) => `message:line ${i}`), 'close']);
    expect(t.state).toBe('closed');
  });

  it('talks to jq -c --unbuffered, a line-delimited JSON peer written by someone else', async () => {
    expect(spawnSync('jq', ['--version']).status).toBe(0);
    const t = spawnStdio('jq', ['-c', '--unbuffered', '{n: .n, sq: (.n * .n)}']);
    open.push(t);
    const got: unknown[] = [];
    t.on('message', (f: Buffer) => got.push(JSON.parse(f.toString())));
    for (let n = 0; n < 1000; n++) t.send(JSON.stringify({ n, pad: 'x'.repeat(n % 50) }));
    while (got.length < 1000) await new Promise((r) => setTimeout(r, 5));
    expect(got).toEqual(Array.from({ length: 1000 }, (_, n) => ({ n, sq: n * n })));
    await t.close();
    expect(await t.exited).toEqual({ code: 0, signal: null });
  });

  it('carries length-prefixed frames of every size through a child', async () => {
    const t = child('echo-lp', [], { framing: 'length-prefixed' });
    const sizes = [0, 1, 100, 16 * 1024, 70_000, 1024 * 1024];
    const sent = sizes.map((n, i) => Buffer.alloc(n, i + 1));
    const got: Buffer[] = [];
    t.on('message', (f: Buffer) => got.push(Buffer.from(f)));
    for (const f of sent) t.send(f);
    while (got.length < sizes.length) await new Promise((r) => setTimeout(r, 5));
    expect(got.map((b) => b.length)).toEqual(sizes);
    for (let i = 0; i < sizes.length; i++) expect(got[i]!.equals(sent[i]!)).toBe(true);
    await t.close();
  });

  it('throws ENOENT for a command that does not exist and EACCES for one that cannot run', () => {
    expect(() => spawnStdio('/no/such/command-here')).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'spawn' }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipc-stdio-'));
    try {
      const file = path.join(dir, 'not-executable.sh');
      fs.writeFileSync(file, '#!/bin/sh\necho hi\n', { mode: 0o644 });
      // root may execute anything with an x bit: none is set, so EACCES for everyone.
      expect(() => spawnStdio(file)).toThrow(expect.objectContaining({ code: 'EACCES' }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a child that exits on its own: its frames first, then close; later sends throw ERR_IPC_PEER_EXITED with the code', async () => {
    const t = child('exit-after', [3, 2]);
    const events = record(t);
    t.send('a');
    t.send('b');
    expect(await t.exited).toEqual({ code: 3, signal: null });
    await once(t, 'close');
    expect(events).toEqual(['message:a', 'message:b', 'close']);
    expect(() => t.send('c')).toThrow(expect.objectContaining({ code: 'ERR_IPC_PEER_EXITED', exitCode: 3, signal: null }));
  });

  it('frames still unsent when the child exits give one error ERR_IPC_PEER_EXITED with the count, then close', async () => {
    const t = child('exit-after', [0, 1]);
    const events = record(t);
    let err: (Error & { unsent?: number; exitCode?: number }) | undefined;
    t.on('error', (e) => (err = e));
    t.send('first');
    // The child exits after one line. Queue more than its pipe and its reads can take before then,
    // respecting backpressure (the point is the exit, not the cap on buffered bytes).
    const big = 'y'.repeat(60_000);
    let accepted = 0;
    while (t.send(big)) accepted++;
    expect(accepted).toBeGreaterThan(2);
    while (!events.includes('close')) await new Promise((r) => setTimeout(r, 5));
    expect(events.filter((e) => e.startsWith('error:'))).toEqual(['error:ERR_IPC_PEER_EXITED']);
    expect(events.at(-1)).toBe('close');
    expect(err!.exitCode).toBe(0);
    // At least the frames still queued when its pipe filled; never more than were sent.
    expect(err!.unsent).toBeGreaterThan(0);
    expect(err!.unsent).toBeLessThanOrEqual(accepted + 2);
  });

  it('at the end of a child that dies mid-frame: a last line is delivered, a cut length-prefixed frame is ERR_IPC_TRUNCATED', async () => {
    const closed = (t: StdioTransport) => new Promise((resolve) => t.once('close', resolve));
    const lines = child('exit-mid-frame', ['lines']);
    const lineEvents = record(lines);
    await closed(lines);
    expect(lineEvents).toEqual(['message:whole', 'message:hal', 'close']);

    const lp = child('exit-mid-frame', ['length-prefixed'], { framing: 'length-prefixed' });
    const lpEvents = record(lp);
    await closed(lp);
    expect(lpEvents).toEqual(['message:whole', 'error:ERR_IPC_TRUNCATED', 'close']);
  });

  it('drains a chatty stderr, emits its lines and keeps the last 64 KiB', async () => {
    const t = child('stderr-flood', [1_000_000]);
    const lines: string[] = [];
    t.on('stderr', (l: string) => lines.push(l));
    const events = record(t);
    t.send('after the flood');
    while (!events.includes('message:after the flood')) await new Promise((r) => setTimeout(r, 5));
    await t.close();
    expect(lines[0]).toBe('stderr line 0');
    expect(lines.length).toBeGreaterThan(50_000);
    expect(lines.every((l, i) => l === `stderr line ${i}`)).toBe(true);
    const tail = t.stderrTail();
    expect(Buffer.byteLength(tail)).toBe(64 * 1024);
    expect(tail.length).toBeGreaterThan(60 * 1024);
    expect(tail.endsWith(`stderr line ${lines.length - 1}\n`)).toBe(true);
  });

  it('close() of a child that ignores the end of stdin and SIGTERM ends with SIGKILL after two waits', async () => {
    const t = child('ignore-eof', [], { closeTimeout: 200 });
    const stderr: string[] = [];
    t.on('stderr', (l: string) => stderr.push(l));
    const events = record(t);
    t.send('hello');
    while (!events.includes('message:hello')) await new Promise((r) => setTimeout(r, 5));
    await t.close();
    expect(await t.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(stderr).toContain('ignoring SIGTERM');
    expect(events).toEqual(['message:hello', 'close']);
  });

  it('close() waits for a child that exits by itself after stdin ends, and reports its code', async () => {
    const t = child('linger');
    const events = record(t);
    t.send('x');
    await t.close();
    expect(await t.exited).toEqual({ code: 7, signal: null });
    expect(events).toEqual(['message:x', 'close']);
  });

  it('kill() delivers a signal; the transport closes with the signal in exited', async () => {
    const t = child('echo-lines');
    const events = record(t);
    expect(t.kill('SIGKILL')).toBe(true);
    expect(await t.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await once(t, 'close');
    expect(events).toEqual(['close']);
    expect(t.kill('SIGTERM')).toBe(false);
  });

  it('a burst of 100,000 notifications from a child arrives complete and in order through async iteration', async () => {
    const t = child('burst', [100_000], { readableHighWaterMark: 256 });
    let n = 0;
    for await (const frame of t) {
      const { n: got } = JSON.parse(frame.toString()) as { n: number };
      if (got !== n) throw new Error(`frame ${n} was ${got}`);
      n++;
      // A consumer slower than the child: reading pauses, the child blocks, memory stays bounded.
      if (n % 10_000 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    expect(n).toBe(100_000);
    expect(await t.exited).toEqual({ code: 0, signal: null });
  });

  it("stderr 'ignore' and 'inherit' spawn without a stderr pipe", async () => {
    for (const stderr of ['ignore', 'inherit'] as const) {
      const t = child('echo-lines', [], { stderr });
      const got = once(t, 'message');
      t.send('ok');
      expect(String((await got)[0])).toBe('ok');
      expect(t.stderrTail()).toBe('');
      await t.close();
    }
  });

  it('rejects wrong options at the call', () => {
    expect(() => spawnStdio(process.execPath, [], { stderr: 'file' as never })).toThrow(TypeError);
    expect(() => spawnStdio(process.execPath, [], { cwd: 5 as never })).toThrow(TypeError);
    expect(() => spawnStdio(process.execPath, [], { bogus: 1 } as never)).toThrow(TypeError);
    expect(() => spawnStdio('', [])).toThrow(TypeError);
    expect(() => spawnStdio(process.execPath, [1] as never)).toThrow(TypeError);
  });
});
