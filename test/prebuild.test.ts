// Installing the published package: `npm run prebuild` makes an N-API prebuild that node-gyp-build
// loads with no compiler on the machine; without a fitting prebuild the install compiles from source;
// without either it fails with a short message naming what to install. Each case packs the package's
// real file list (package.json `files`) and installs the tarball into a fresh project.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killChildren, type RunResult } from './helpers/common';
import {
  COMPILERS,
  PKG_NAME,
  PREBUILD_REL,
  ROOT,
  SOURCE_BUILD_REL,
  binDir,
  cleanEnv,
  listTree,
  npmInstall,
  pack,
  project,
  roundTrip,
  run,
  stagePackage,
} from './helpers/prebuild-util';

let work: string;
let staged: string;
let emptyTarball: string;
let emptyFiles: string[];
let prebuild: RunResult;
let prebuildTmp: string;
let nodedir: string;
let prebuiltTarball: string;
let prebuiltFiles: string[];
const timings: Record<string, number> = {};

function show(r: RunResult): string {
  return `exit ${r.code} (${r.signal ?? 'no signal'}${r.killed ? ', killed by the safety timeout' : ''})\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** Proves that PATH offers no compiler and no make, asking the shell itself (command -v). */
async function expectNoCompiler(PATH: string): Promise<void> {
  const probe = COMPILERS.map((t) => `command -v ${t} && exit 1;`).join(' ');
  const r = await run('/bin/sh', ['-c', `${probe} exit 0`], { env: cleanEnv(PATH) });
  expect(r.stdout, 'a compiler or make is reachable on the stripped PATH').toBe('');
  expect(r.code).toBe(0);
}

/**
 * Runs a round trip from inside the consumer project `proj` and checks that it went through the package
 * installed there, with the addon at `addonRel` inside it.
 */
async function expectRoundTrip(proj: string, PATH: string, pkgDir: string, addonRel: string): Promise<void> {
  const { result, report } = await roundTrip(proj, PATH);
  expect(result.code, show(result)).toBe(0);
  expect(result.stderr).toBe('');
  expect(report).toEqual({
    main: path.join(pkgDir, 'dist', 'index.js'),
    pkgDir,
    resolved: path.join(pkgDir, addonRel),
    mapped: [path.join(pkgDir, addonRel)],
    echoed: 'ping from an installed package',
    serverMessages: 1,
    clientMessages: 1,
  });
}

/** The package.json script that runs prebuildify (whatever it is called). */
function prebuildScript(): string {
  const { scripts } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const found = Object.entries(scripts).find(([, cmd]) => /^prebuildify /.test(cmd));
  if (!found) throw new Error('package.json has no script running prebuildify');
  return found[0];
}

beforeAll(async () => {
  // By its real path: on macOS the temp directory (/var/folders/...) is reached through the /var ->
  // /private/var symlink, while the installed package reports real paths (require.resolve). On Linux
  // the path is already real.
  work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'sipc-pb-')));
  staged = path.join(work, 'pkg');
  fs.mkdirSync(staged);
  await stagePackage(staged);

  // The tarball with no prebuild for this platform: what a fresh checkout would publish.
  ({ tarball: emptyTarball, files: emptyFiles } = await pack(staged, path.join(work, 'tarballs', 'empty')));

  // The package's own prebuildify script, in the staged copy (it rebuilds build/ where it runs). TMPDIR
  // points at a fresh directory so that any headers node-gyp downloaded would show up there.
  nodedir = (await run('npm', ['config', 'get', 'nodedir'], { env: cleanEnv() })).stdout.trim();
  prebuildTmp = path.join(work, 'prebuild-tmp');
  fs.mkdirSync(prebuildTmp);
  prebuild = await run('npm', ['run', prebuildScript()], { cwd: staged, env: { ...cleanEnv(), TMPDIR: prebuildTmp }, safetyMs: 120_000 });
  timings[`npm run ${prebuildScript()}`] = prebuild.ms;
  if (prebuild.code === 0) {
    const p = await pack(staged, path.join(work, 'tarballs', 'prebuilt'));
    ({ tarball: prebuiltTarball, files: prebuiltFiles } = p);
  }
}, 150_000);

afterAll(() => {
  killChildren();
  if (work) fs.rmSync(work, { recursive: true, force: true });
  // Reported so that a slow install shows up in the log; never asserted.
  console.log(`prebuild.test.ts timings (ms): ${JSON.stringify(timings)}`);
});

describe('prebuilt binaries', () => {
  it('the prebuildify script writes a glibc-tagged N-API prebuild from the local Node headers, downloading nothing', () => {
    expect(prebuild.code, show(prebuild)).toBe(0);
    expect(listTree(path.join(staged, 'prebuilds'))).toEqual(['.gitkeep', `${process.platform}-${process.arch}`, PREBUILD_REL.replace(/^prebuilds\//, '')]);
    // Where npm is configured with local Node headers (npm config nodedir, as on this project's machines,
    // which reach no download site), node-gyp compiled against them and nothing was fetched into
    // prebuildify's header cache ($TMPDIR/prebuildify/node). A CI runner without it downloads headers.
    if (nodedir.startsWith('/')) {
      const configGypi = fs.readFileSync(path.join(staged, 'build', 'config.gypi'), 'utf8');
      expect(configGypi).toContain(`"nodedir": ${JSON.stringify(nodedir)}`);
      expect(fs.existsSync(path.join(prebuildTmp, 'prebuildify'))).toBe(true);
      expect(listTree(path.join(prebuildTmp, 'prebuildify'))).toEqual([]);
    }
    // The tarball carries the prebuild and no build/ directory.
    expect(prebuiltFiles).toContain(PREBUILD_REL);
    expect(prebuiltFiles.filter((f) => f.startsWith('build/'))).toEqual([]);
    expect(emptyFiles.filter((f) => f.startsWith('prebuilds/') || f.startsWith('build/'))).toEqual(['prebuilds/.gitkeep']);
  });

  it('with a prebuild and no compiler on PATH, npm install loads the prebuild and a round trip works', async () => {
    expect(prebuild.code, show(prebuild)).toBe(0);
    // npm runs install scripts with `sh` from PATH, so the shell stays; nothing else does.
    const PATH = binDir(work, ['npm', 'sh']);
    await expectNoCompiler(PATH);
    const proj = project(work, 'with-prebuild');

    const install = await npmInstall(proj, prebuiltTarball, PATH);
    timings['install with prebuild, no compiler'] = install.ms;
    expect(install.code, show(install)).toBe(0);

    const pkgDir = path.join(proj, 'node_modules', PKG_NAME);
    expect(fs.existsSync(path.join(pkgDir, 'build')), 'the install compiled something').toBe(false);
    expect(fs.existsSync(path.join(pkgDir, PREBUILD_REL))).toBe(true);

    await expectRoundTrip(proj, PATH, pkgDir, PREBUILD_REL);
  }, 90_000);

  it('with no fitting prebuild and a compiler, npm install compiles from source and a round trip works', async () => {
    const PATH = process.env.PATH!;
    const proj = project(work, 'from-source');

    const install = await npmInstall(proj, emptyTarball, PATH);
    timings['install from source'] = install.ms;
    expect(install.code, show(install)).toBe(0);

    const pkgDir = path.join(proj, 'node_modules', PKG_NAME);
    expect(fs.existsSync(path.join(pkgDir, SOURCE_BUILD_REL))).toBe(true);
    expect(listTree(path.join(pkgDir, 'prebuilds'))).toEqual(['.gitkeep']);

    await expectRoundTrip(proj, PATH, pkgDir, SOURCE_BUILD_REL);
  }, 120_000);

  it('with no fitting prebuild and no compiler, npm install fails with a short message naming what to install', async () => {
    // A machine without build tools still has a shell and python3; only the compiler and make are missing.
    const PATH = binDir(work, ['npm', 'sh', 'python3']);
    await expectNoCompiler(PATH);
    const proj = project(work, 'no-compiler');

    const install = await npmInstall(proj, emptyTarball, PATH);
    timings['install failing, no compiler'] = install.ms;
    expect(install.code, show(install)).not.toBe(0);
    // What the user reads, without npm's `npm error ` prefix on each line of the script's output.
    const out = (install.stdout + install.stderr).replace(/^npm error /gm, '');
    expect(out).toContain(
      `${PKG_NAME}: no prebuilt binary fits ${process.platform}-${process.arch} (Node ${process.version}),\n` +
        'and compiling the addon from source failed. Install a C++ compiler, make and python3 ' +
        '(Debian/Ubuntu: apt-get install g++ make python3; Alpine: apk add g++ make python3), then run npm install again.\n' +
        'What the build said:\n',
    );
    // The cause on this PATH, kept from node-gyp's report while its stack frames are dropped.
    expect(out).toContain('gyp ERR! stack Error: not found: make');
    expect(out).not.toMatch(/gyp ERR! stack +at /);
    // Short: the message and the cause, not screens of node-gyp output.
    const lines = out.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length, out).toBeLessThanOrEqual(25);
  }, 90_000);
});
