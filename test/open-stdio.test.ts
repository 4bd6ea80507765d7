// openStdio: this process as the child of an editor. Real processes: our spawnStdio on the other end,
// or child_process with pipes and files.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStdio, spawnStdio, type StdioTransport } from '../dist/index.js';

const CHILD = path.join(__dirname, 'helpers', 'open-stdio-child.cjs');
const open: StdioTransport[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const t of open.splice(0)) t.destroy();
  while (dirs.length) fs.rmSync(dirs.pop()!, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ipc-openstdio-'));
  dirs.push(d);
  return d;
}

describe.runIf(process.platform !== 'win32')('openStdio', () => {
  for (const framing of ['lines', 'content-length', 'length-prefixed'] as const) {
    it(`echoes ${framing} frames with spawnStdio on the other end, and ends when its stdin ends`, async () => {
      const t = spawnStdio(process.execPath, [CHILD, 'echo', framing], { framing });
      open.push(t);
      const got: string[] = [];
      t.on('message', (f: Buffer) => got.push(f.toString()));
      const sent = Array.from({ length: 2000 }, (_, i) => `frame ${i} ${'é'.repeat(i % 7)}`);
      for (const f of sent) t.send(f);
      while (got.length < sent.length) await new Promise((r) => setTimeout(r, 5));
      expect(got).toEqual(sent);
      await t.close();
      expect(await t.exited).toEqual({ code: 0, signal: null });
    });
  }

  it('writes every frame still queued at process.exit(), past the 64 KiB a pipe holds', async () => {
    const child = spawn(process.execPath, [CHILD, 'flood', '20000'], { stdio: ['pipe', 'pipe', 'inherit'] });
    // Read slowly at first, so the child's writes queue up and exit finds them queued.
    child.stdout.pause();
    await new Promise((r) => setTimeout(r, 200));
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stdout.resume();
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(0);
    const lines = Buffer.concat(chunks).toString().split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.length).toBe(20000);
    expect(lines.every((l, i) => l === `frame ${i} ${'x'.repeat(100)}`)).toBe(true);
  });

  it('reads stdin from a regular file and writes stdout to a regular file', () => {
    const dir = tempDir();
    const input = path.join(dir, 'in.txt');
    const output = path.join(dir, 'out.txt');
    fs.writeFileSync(input, 'one\r\ntwo\n\nthree');
    const inFd = fs.openSync(input, 'r');
    const outFd = fs.openSync(output, 'w');
    const r = spawnSync(process.execPath, [CHILD, 'echo'], { stdio: [inFd, outFd, 'pipe'], timeout: 20_000 });
    fs.closeSync(inFd);
    fs.closeSync(outFd);
    expect(r.status).toBe(0);
    expect(fs.readFileSync(output, 'utf8')).toBe('one\ntwo\nthree\n');
  });

  it('with stdin from /dev/null the transport closes at once and the process exits', () => {
    const r = spawnSync(process.execPath, [CHILD, 'echo'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBe(0);
  });

  it('consoleToStderr keeps console output off the frames', () => {
    const r = spawnSync(process.execPath, [CHILD, 'console'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('the only frame\n');
    expect(r.stderr).toContain('a console.log line');
    expect(r.stderr).toContain('a console.info line');
  });

  it("closing the transport leaves the process's own stdin and stdout open", () => {
    const r = spawnSync(process.execPath, [CHILD, 'after-close'], { input: 'ping\n', encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('ping\nwritten to fd 1 after close\n');
  });

  it('refuses a second open transport on the same stdio, and wrong options', () => {
    // In this (vitest worker) process stdin is whatever the runner gave it; open and close at once.
    const t = openStdio();
    try {
      expect(() => openStdio()).toThrow(expect.objectContaining({ code: 'ERR_IPC_STDIO_IN_USE' }));
    } finally {
      t.destroy();
    }
    expect(() => openStdio({ exitTimeout: -1 })).toThrow(TypeError);
    expect(() => openStdio({ bogus: true } as never)).toThrow(TypeError);
  });
});
