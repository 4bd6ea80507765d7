// Builds the framer's standalone C++ test (test/native/framer_test.cc) with the system g++ and runs it,
// once under AddressSanitizer and UndefinedBehaviorSanitizer and once as an optimised release build, since
// some bugs show up in only one of the two. The C++ program does the checking; this file only compiles it
// and reads its verdict.
import { describe, it, expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILD_DIR = path.join(ROOT, 'test', 'native', 'build');
const SOURCES = ['native/framer.cc', 'test/native/framer_test.cc'];
const WARNINGS = ['-std=c++17', '-g', '-Wall', '-Wextra', '-Werror', '-I', 'native'];
const SANITIZERS = '-fsanitize=address,undefined';
const COMPILE_TIMEOUT_MS = 60_000;
const RUN_TIMEOUT_MS = 60_000;
const SUMMARY = /^framer: (\d+) passed, (\d+) failed$/m;

// Without a compiler (a Windows runner, say) there is nothing to build; the test shows as skipped
// rather than failing the whole suite for a missing tool.
const HAVE_GXX = spawnSync('g++', ['--version'], { stdio: 'ignore' }).status === 0;

interface Outcome {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

// spawnSync would block the event loop, so vitest could not report a hang as a timeout.
function run(command: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

async function compile(output: string, flags: string[]): Promise<Outcome> {
  mkdirSync(BUILD_DIR, { recursive: true });
  return run('g++', [...flags, ...WARNINGS, ...SOURCES, '-o', output], COMPILE_TIMEOUT_MS);
}

// A sanitizer report must fail the run, not scroll past: UBSan by default prints and carries on.
const SANITIZER_ENV = {
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
  ASAN_OPTIONS: 'abort_on_error=0:detect_leaks=1',
};

function expectAllPassed(result: Outcome): void {
  const output = `${result.stdout}\n${result.stderr}`;
  const summary = SUMMARY.exec(result.stdout);
  expect(summary, output).not.toBeNull();
  const [, passed, failed] = summary!;
  expect(Number(failed), output).toBe(0);
  expect(Number(passed), output).toBeGreaterThan(50);
  expect(result.signal, output).toBeNull();
  expect(result.status, output).toBe(0);
  expect(result.stderr, output).not.toMatch(/runtime error|AddressSanitizer|LeakSanitizer/);
}

describe.skipIf(!HAVE_GXX)('native framer (standalone C++ test)', () => {
  it(
    'passes under AddressSanitizer and UndefinedBehaviorSanitizer',
    async () => {
      const binary = path.join(BUILD_DIR, 'framer_test_asan');
      let flags = ['-O1', SANITIZERS];
      let built = await compile(binary, flags);
      // A toolchain without the sanitizer runtimes rejects the flag or fails to link; the test is still
      // worth running without them.
      if (built.status !== 0 && /sanitize|asan|ubsan/i.test(built.stderr)) {
        console.warn(`g++ rejected ${SANITIZERS}; building without sanitizers:\n${built.stderr}`);
        flags = ['-O1'];
        built = await compile(binary, flags);
      }
      expect(built.status, built.stderr).toBe(0);

      const result = await run(binary, [], RUN_TIMEOUT_MS, SANITIZER_ENV);
      expectAllPassed(result);
    },
    COMPILE_TIMEOUT_MS + RUN_TIMEOUT_MS,
  );

  it(
    'passes as a release build',
    async () => {
      const binary = path.join(BUILD_DIR, 'framer_test_release');
      const built = await compile(binary, ['-O2', '-DNDEBUG']);
      expect(built.status, built.stderr).toBe(0);

      const result = await run(binary, [], RUN_TIMEOUT_MS);
      expectAllPassed(result);
    },
    COMPILE_TIMEOUT_MS + RUN_TIMEOUT_MS,
  );
});
