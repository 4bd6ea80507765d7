'use strict';

// Child processes for the benchmarks: start them pinned to a CPU, wait for READY and for the one
// JSON result line, and make sure none outlives the run (normal end, error, Ctrl-C) and no socket
// file is left behind.

const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const BENCH_DIR = path.join(__dirname, '..');
const FLOOR_SOURCE = path.join(BENCH_DIR, 'c', 'ipc_floor.c');
const FLOOR_BIN = path.join(BENCH_DIR, 'build', 'ipc_floor');
const PEER = path.join(__dirname, 'peer.js');
const STEP_TIMEOUT_MS = 30_000;

const HAS_TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

const children = new Set();
const tempDirs = new Set();

function cleanup() {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    cleanup();
    process.exit(128 + os.constants.signals[signal]);
  });
}

function makeTempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipc-bench-'));
  tempDirs.add(dir);
  return dir;
}

function removeTempDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

// Compiles the C floor when the binary is missing or older than its source.
function buildFloor() {
  const fresh =
    fs.existsSync(FLOOR_BIN) && fs.statSync(FLOOR_BIN).mtimeMs >= fs.statSync(FLOOR_SOURCE).mtimeMs;
  if (!fresh) {
    fs.mkdirSync(path.dirname(FLOOR_BIN), { recursive: true });
    execFileSync('cc', ['-O2', '-o', FLOOR_BIN, FLOOR_SOURCE], { stdio: 'inherit' });
  }
  return FLOOR_BIN;
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// A promise with its settle functions; callers await only the one they need, so neither may
// become an unhandled rejection.
function deferred() {
  const d = {};
  d.promise = new Promise((resolve, reject) => ((d.resolve = resolve), (d.reject = reject)));
  d.promise.catch(() => {});
  return d;
}

// Starts one process. `ready` resolves on its READY line, `result` on its first JSON line; both
// reject if it exits first (with its stderr in the message) or takes longer than the timeout.
function start(label, argv, { cpu } = {}) {
  const command = cpu != null && HAS_TASKSET ? ['taskset', '-c', String(cpu), ...argv] : argv;
  // taskset execs the program, so the child's pid is the program's and killing it is enough.
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);

  let stderr = '';
  const ready = deferred();
  const result = deferred();
  const onFail = (err) => (ready.reject(err), result.reject(err));

  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text) => {
    pending += text;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line === 'READY') ready.resolve();
      else if (line.startsWith('{')) {
        try {
          result.resolve(JSON.parse(line));
        } catch (err) {
          onFail(new Error(`${label}: unreadable result line: ${line}`));
        }
      }
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text) => {
    if (stderr.length < 8192) stderr += text;
  });

  const exited = new Promise((resolve) => {
    // 'close', not 'exit': by then stdout has been read to the end, so a result is never lost.
    child.on('close', (code, signal) => {
      children.delete(child);
      onFail(new Error(`${label} exited (${signal || `code ${code}`}) before answering${stderr ? `:\n${stderr.trim()}` : ''}`));
      resolve({ code, signal });
    });
  });
  child.on('error', (err) => onFail(new Error(`${label}: ${err.message}`)));

  return {
    label,
    ready: () => withTimeout(ready.promise, STEP_TIMEOUT_MS, label),
    result: () => withTimeout(result.promise, STEP_TIMEOUT_MS, label),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// The command line of one side of a case: the C floor or a JS peer.
function floorArgv(mode, sockPath, ...rest) {
  return [FLOOR_BIN, mode, sockPath, ...rest.map(String)];
}

function peerArgv(role, impl, sockPath, options) {
  return [process.execPath, PEER, role, impl, sockPath, ...(options ? [JSON.stringify(options)] : [])];
}

// Runs one server/client case: returns both results that were asked for (`from`: which side
// reports), stops both processes whatever happens, and removes the socket directory.
async function runPair({ server, client, from = 'client' }) {
  const dir = makeTempDir();
  const sockPath = path.join(dir, 's.sock');
  const procs = [];
  try {
    const srv = start(server.label, server.argv(sockPath), { cpu: server.cpu });
    procs.push(srv);
    await srv.ready();
    const cli = start(client.label, client.argv(sockPath), { cpu: client.cpu });
    procs.push(cli);
    const results = await Promise.all([
      from === 'client' || from === 'both' ? cli.result() : null,
      from === 'server' || from === 'both' ? srv.result() : null,
    ]);
    return { client: results[0], server: results[1] };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    removeTempDir(dir);
  }
}

// One process with no socket peer (bench/stdio.js: a parent that spawns its own child); returns
// its result line and stops it whatever happens.
async function runOne({ label, argv, cpu }) {
  const proc = start(label, argv, { cpu });
  try {
    return await proc.result();
  } finally {
    await proc.stop();
  }
}

// `argv` pinned to `cpu` with taskset when there is one (taskset execs it: same pid).
function pinnedArgv(argv, cpu) {
  return cpu != null && HAS_TASKSET ? ['taskset', '-c', String(cpu), ...argv] : argv;
}

module.exports = { HAS_TASKSET, buildFloor, runPair, runOne, pinnedArgv, floorArgv, peerArgv, cleanup };
