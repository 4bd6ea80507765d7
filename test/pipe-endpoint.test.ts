// `pipe:name` on Unix: a socket in an owner-only directory, the same string that means a named pipe on
// Windows (test/win/ covers that side).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, listen, resolveEndpoint } from '../dist/index.js';

const saved = process.env.XDG_RUNTIME_DIR;
const dirs: string[] = [];
afterEach(() => {
  if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
  else process.env.XDG_RUNTIME_DIR = saved;
  while (dirs.length) fs.rmSync(dirs.pop()!, { recursive: true, force: true });
});

function runtimeDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipc-runtime-'));
  dirs.push(dir);
  process.env.XDG_RUNTIME_DIR = dir;
  return dir;
}

describe.runIf(process.platform !== 'win32')('pipe:name on Unix', () => {
  it('maps to name.sock in $XDG_RUNTIME_DIR/symphony-ipc, made 0700, with a 0600 socket, and serves', async () => {
    const runtime = runtimeDir();
    const ep = resolveEndpoint('pipe:editor-core');
    expect(ep).toMatchObject({ kind: 'unix', path: path.join(runtime, 'symphony-ipc', 'editor-core.sock') });
    const server = await listen('pipe:editor-core');
    try {
      const dir = path.join(runtime, 'symphony-ipc');
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      expect(fs.statSync(path.join(dir, 'editor-core.sock')).mode & 0o777).toBe(0o600);
      server.on('connection', (t) => t.on('message', (f: Buffer) => t.send(f)));
      const t = await connect('pipe:editor-core');
      const echoed = new Promise<string>((resolve) => t.once('message', (f: Buffer) => resolve(f.toString())));
      t.send('over pipe:');
      expect(await echoed).toBe('over pipe:');
      await t.close();
    } finally {
      await server.close();
    }
    expect(fs.existsSync(path.join(runtime, 'symphony-ipc', 'editor-core.sock'))).toBe(false);
  });

  it('without $XDG_RUNTIME_DIR uses <tmpdir>/symphony-ipc-<uid>', () => {
    delete process.env.XDG_RUNTIME_DIR;
    const ep = resolveEndpoint('pipe:x');
    expect(ep).toMatchObject({ kind: 'unix', path: path.join(os.tmpdir(), `symphony-ipc-${process.getuid!()}`, 'x.sock') });
  });

  it('refuses a directory that others can enter, and one owned by another user', async () => {
    const runtime = runtimeDir();
    const dir = path.join(runtime, 'symphony-ipc');
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.chmodSync(dir, 0o755);
    await expect(listen('pipe:open-dir')).rejects.toMatchObject({ code: 'ERR_IPC_UNSAFE_PATH' });
    expect(fs.readdirSync(dir)).toEqual([]);
    if (process.getuid!() === 0 && spawnSync('id', ['nobody']).status === 0) {
      fs.chmodSync(dir, 0o700);
      fs.chownSync(dir, 65534, 65534);
      await expect(listen('pipe:their-dir')).rejects.toMatchObject({ code: 'ERR_IPC_UNSAFE_PATH' });
    }
  });

  it('refuses names with path separators or NUL', () => {
    for (const bad of ['pipe:a/b', 'pipe:..', 'pipe:a\\b', 'pipe:a\0b', 'pipe:']) {
      expect(() => resolveEndpoint(bad), bad).toThrow(TypeError);
    }
  });
});
