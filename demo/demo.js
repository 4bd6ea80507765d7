'use strict';

// `npm start`: what this package is for, in one command. Two real processes talk over a Unix
// domain socket in a temporary directory, first through symphony-ipc-transport and then, for
// comparison, through node:net with hand-written framing. Prints round-trip latency and how many
// 64-byte frames per second one process can push to the other. Takes a few seconds.

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PEER = path.join(__dirname, 'peer.js');
const STEP_TIMEOUT_MS = 15_000;
// Both processes on one CPU, when taskset is there: the numbers then show what the software
// costs rather than how long this machine takes to wake its other CPU. The second measurement puts
// them on two CPUs, where waking the other one dominates, and turns on busy polling for ours.
const HAVE_TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const pin = (cpu) => (HAVE_TASKSET ? ['taskset', '-c', String(cpu)] : []);
const BUSY_POLL_US = 200;

const children = new Set();
const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipc-demo-'));

function cleanup() {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  fs.rmSync(tempDir, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(128 + os.constants.signals[signal]));
}

// Starts `node demo/peer.js ROLE IMPL SOCK` and resolves with the first line it prints that
// satisfies `isAnswer`; rejects with its stderr if it exits or stalls first.
function startPeer(role, impl, sockPath, isAnswer, cpu = 0, busyPoll = 0) {
  const command = [...pin(cpu), process.execPath, PEER, role, impl, sockPath];
  const env = { ...process.env, DEMO_BUSY_POLL: String(busyPoll) };
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.add(child);
  const answer = new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${impl} ${role}: no answer in ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
    child.stdout.on('data', (text) => {
      out += text;
      const line = out.split('\n').find((l) => isAnswer(l.trim()));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line.trim());
      }
    });
    child.stderr.on('data', (text) => (err += text));
    child.on('close', (code, signal) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`${impl} ${role} exited (${signal || `code ${code}`})${err ? `:\n${err.trim()}` : ''}`));
    });
  });
  return { child, answer };
}

async function measure(impl, { serverCpu = 0, busyPoll = 0 } = {}) {
  const sockPath = path.join(tempDir, `${impl}-${serverCpu}.sock`);
  const server = startPeer('server', impl, sockPath, (line) => line === 'READY', serverCpu, busyPoll);
  try {
    await server.answer;
    const client = startPeer('client', impl, sockPath, (line) => line.startsWith('{'), 0, busyPoll);
    return JSON.parse(await client.answer);
  } finally {
    server.child.kill('SIGTERM');
  }
}

function us(ns) {
  return `${(ns / 1e3).toFixed(1)} us`;
}

// How many times better ours is, worded the right way round either way.
function compare(factor, better, worse) {
  return factor >= 1 ? `${factor.toFixed(1)}x ${better}` : `${(1 / factor).toFixed(1)}x ${worse}`;
}

function perSec(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M/s` : `${(n / 1e3).toFixed(0)} k/s`;
}

async function main() {
  console.log('symphony-ipc-transport demo: a server process and a client process, one Unix socket');
  console.log(
    HAVE_TASKSET
      ? '(64-byte frames, 4-byte length prefix; both processes on CPU 0, then on CPUs 0 and 1)\n'
      : '(64-byte frames, 4-byte length prefix; taskset not found: processes unpinned)\n',
  );

  const ours = await measure('ours');
  const net = await measure('net');
  const rows = [
    ['', 'this package', 'node:net', ''],
    ['round trip p50', us(ours.p50), us(net.p50), compare(net.p50 / ours.p50, 'faster', 'slower')],
    ['round trip p99', us(ours.p99), us(net.p99), compare(net.p99 / ours.p99, 'faster', 'slower')],
    ['frames sent per second', perSec(ours.framesPerSec), perSec(net.framesPerSec), compare(ours.framesPerSec / net.framesPerSec, 'more', 'fewer')],
  ];
  if (HAVE_TASKSET) {
    const oursAcross = await measure('ours', { serverCpu: 1, busyPoll: BUSY_POLL_US });
    const netAcross = await measure('net', { serverCpu: 1 });
    rows.push(
      [`across CPUs, round trip p50 (busyPoll ${BUSY_POLL_US} us)`, us(oursAcross.p50), us(netAcross.p50), compare(netAcross.p50 / oursAcross.p50, 'faster', 'slower')],
      [`across CPUs, round trip p99 (busyPoll ${BUSY_POLL_US} us)`, us(oursAcross.p99), us(netAcross.p99), compare(netAcross.p99 / oursAcross.p99, 'faster', 'slower')],
    );
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const row of rows) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('   '));
  console.log('\nThe full comparison, with the C floor and larger frames: npm run bench');
}

main().catch((err) => {
  console.error(`demo failed: ${err.message}`);
  if (!fs.existsSync(path.join(__dirname, '..', 'dist', 'index.js'))) {
    console.error('dist/index.js is missing: build the package first (npm run build).');
  }
  process.exitCode = 1;
});
