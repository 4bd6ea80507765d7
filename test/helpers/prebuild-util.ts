// Helpers for test/prebuild.test.ts: stage the package's published files in a temp directory, pack
// them, install the tarball into a fresh project under a chosen PATH, and run a round trip there.
import { spawnSync, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run as runChild, type RunResult } from './common';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PKG_NAME = 'symphony-ipc-transport';
/** What `prebuildify --napi --tag-libc` names the Linux x64 build, and where node-gyp-build looks for it. */
export const PREBUILD_REL = path.join('prebuilds', `${process.platform}-${process.arch}`, `${PKG_NAME}.glibc.node`);
export const SOURCE_BUILD_REL = path.join('build', 'Release', 'symphony_ipc.node');
/** Tools whose presence would let node-gyp compile. */
export const COMPILERS = ['cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'make'];

/**
 * `run()` from ./common with the child leading its own process group: npm starts sh, node-gyp, make and
 * compilers below it, and a safety kill (or killChildren()) must take them all.
 */
export function run(cmd: string, args: string[], opts: SpawnOptions & { safetyMs?: number } = {}): Promise<RunResult> {
  return runChild(cmd, args, { detached: true, ...opts });
}

/** The first executable called `name` on `PATH`, or null. */
export function onPath(name: string, PATH = process.env.PATH ?? ''): string | null {
  for (const dir of PATH.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * A directory holding only symlinks to the named tools (node is always this process's node), to be the
 * whole PATH of an install: what a machine without a compiler would offer.
 */
export function binDir(parent: string, tools: string[]): string {
  const dir = path.join(parent, `bin-${tools.join('-')}`);
  fs.mkdirSync(dir);
  fs.symlinkSync(process.execPath, path.join(dir, 'node'));
  for (const tool of tools) {
    const found = tool === 'python3' ? realPython() : onPath(tool);
    if (!found) throw new Error(`${tool} is not on PATH`);
    fs.symlinkSync(fs.realpathSync(found), path.join(dir, tool));
  }
  return dir;
}

/** The python3 interpreter itself: PATH may hold a wrapper script (pyenv's shim) that needs bash. */
function realPython(): string | null {
  const r = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

/**
 * This process's environment without the npm_* variables that `npm test` sets (an outer npm's
 * lifecycle state must not leak into the nested npm), and with PATH replaced when given.
 */
export function cleanEnv(PATH?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // SYMPHONY_IPC_ADDON would make the installed package load another build's addon (npm run test:asan sets it).
    if (!/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'NODE_OPTIONS' && k !== 'SYMPHONY_IPC_ADDON') env[k] = v;
  }
  if (PATH !== undefined) env.PATH = PATH;
  return env;
}

/**
 * Copies the files `npm pack` would publish from this repository into `dir`, leaving out anything the
 * repository's prebuilds/ holds besides .gitkeep (CI fills it before publishing; here each test decides).
 * The .gitignore comes along so that an ignore rule that would drop files from the tarball is caught.
 */
export async function stagePackage(dir: string): Promise<string[]> {
  const r = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, env: cleanEnv() });
  if (r.code !== 0) throw new Error(`npm pack --dry-run failed:\n${r.stderr}`);
  const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  const kept = files.filter((f) => !f.startsWith('prebuilds/') || f === 'prebuilds/.gitkeep');
  for (const f of kept) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
  }
  fs.mkdirSync(path.join(dir, 'prebuilds'), { recursive: true });
  if (fs.existsSync(path.join(ROOT, '.gitignore'))) fs.copyFileSync(path.join(ROOT, '.gitignore'), path.join(dir, '.gitignore'));
  // The build tools (prebuildify, node-gyp, node-addon-api's headers) come from this repository.
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return kept;
}

/** `npm pack` of a staged package into `dest`; returns the tarball's path and the files in it. */
export async function pack(pkgDir: string, dest: string): Promise<{ tarball: string; files: string[]; ms: number }> {
  fs.mkdirSync(dest, { recursive: true });
  // dist/ is already built (the test suite imports it); prepack would only rebuild it.
  const r = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], { cwd: pkgDir, env: cleanEnv() });
  if (r.code !== 0) throw new Error(`npm pack failed:\n${r.stderr}`);
  const info = (JSON.parse(r.stdout) as { filename: string; files: { path: string }[] }[])[0]!;
  return { tarball: path.join(dest, info.filename), files: info.files.map((f) => f.path), ms: r.ms };
}

/** A fresh consumer project with an empty package.json. */
export function project(parent: string, name: string): string {
  const dir = path.join(parent, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, version: '1.0.0', private: true }));
  return dir;
}

/**
 * `npm install <tarball>` in `projDir` with only `PATH` to find tools. The runtime dependencies
 * (node-addon-api, node-gyp-build) come from npm's cache when it has them, else from the registry.
 */
export function npmInstall(projDir: string, tarball: string, PATH: string): Promise<RunResult> {
  const npmCli = fs.realpathSync(onPath('npm')!);
  return run(process.execPath, [npmCli, 'install', tarball, '--no-audit', '--no-fund', '--prefer-offline', '--no-update-notifier'], {
    cwd: projDir,
    env: cleanEnv(PATH),
    safetyMs: 120_000,
  });
}

export interface RoundTrip {
  main: string;
  pkgDir: string;
  resolved: string;
  mapped: string[];
  echoed: string;
  serverMessages: number;
  clientMessages: number;
}

/**
 * Runs test/helpers/prebuild-roundtrip.cjs from inside `projDir` (a copy, so that the package name
 * resolves through projDir/node_modules and not to this repository by self-reference).
 */
export async function roundTrip(projDir: string, PATH: string): Promise<{ result: RunResult; report: RoundTrip | null }> {
  const script = path.join(projDir, 'roundtrip.cjs');
  fs.copyFileSync(path.join(ROOT, 'test', 'helpers', 'prebuild-roundtrip.cjs'), script);
  const sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipc-pb-sock-'));
  try {
    const result = await run(process.execPath, [script, sockDir], { cwd: projDir, env: cleanEnv(PATH), safetyMs: 15_000 });
    const last = result.stdout.trim().split('\n').pop() ?? '';
    let report: RoundTrip | null = null;
    try {
      report = JSON.parse(last) as RoundTrip;
    } catch {
      // left null: the test shows stdout and stderr
    }
    return { result, report };
  } finally {
    fs.rmSync(sockDir, { recursive: true, force: true });
  }
}

/** The directory tree under `dir` as sorted relative paths (for failure messages and exact checks). */
export function listTree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map((p) => p.split(path.sep).join('/')).sort();
}
