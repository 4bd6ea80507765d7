'use strict';

// One benchmark process. The runner starts two of these (or one and the C floor) per case:
//
//   node peer.js echo   IMPL PATH                       server: echo every frame back
//   node peer.js rtt    IMPL PATH '{"n","size","warmup"}' client: ping-pong, print percentiles
//   node peer.js sink   IMPL PATH '{"expect"}'           server: count frames; reply to control
//                                                        frames; print the receive rate once
//                                                        `expect` frames have arrived
//   node peer.js source IMPL PATH '{"size","warmupMs","durationMs"}'
//                                                        client: send as fast as backpressure
//                                                        allows, print the delivered rate
//   node peer.js idle   IMPL PATH '{"size","burstMs","settleMs","idleMs"}'
//                                                        client: ping-pong for burstMs, then
//                                                        print this process's CPU time during
//                                                        the traffic and over idleMs of silence
//                                                        starting settleMs after the last frame
//   node peer.js push   IMPL PATH '{"size"}'             server: send frames to the first client
//                                                        as fast as backpressure allows, until
//                                                        it goes away
//   node peer.js pull   IMPL PATH '{"warmupMs","durationMs"}'
//                                                        client: count the frames the server
//                                                        pushes; print the rate over durationMs,
//                                                        starting warmupMs after the first frame
//
// IMPL is 'ours', 'reconn', 'resume' or 'net' (./transports.js). Every role also takes "busyPoll"
// (microseconds) in its JSON, passed to ours' listen() or connect() (node:net has no such option).
// Servers print READY when they listen; every process prints its result as one JSON line on
// stdout. The protocol matches bench/c/ipc_floor.c: a 1-byte frame is a control frame ("reply with
// your count") and the reply is an 8-byte big-endian count.

const { transports } = require('./transports.js');
const { report, closeSoon, measureRoundTrips } = require('./child.js');

const CONTROL_FRAME = Buffer.from([0x3f]);
const COUNT_LEN = 8;

// Options only ours understands, taken from a role's JSON.
function extraOptions({ busyPoll }) {
  return busyPoll === undefined ? {} : { busyPoll };
}

// Percent of one core this process used between `since` (a process.cpuUsage()) and now.
function cpuPercent(since, wallMs) {
  const { user, system } = process.cpuUsage(since);
  return ((user + system) / 1e3 / wallMs) * 100;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function pingPong(conn, size) {
  const payload = Buffer.alloc(size, 0x61);
  let resolve = null;
  conn.onMessage(() => resolve());
  return () =>
    new Promise((r) => {
      resolve = r;
      conn.send(payload);
    });
}

function countFrame(count) {
  const reply = Buffer.alloc(COUNT_LEN);
  reply.writeBigUInt64BE(BigInt(count));
  return reply;
}

async function echo(impl, sockPath, options) {
  await impl.listen(sockPath, (conn) => {
    conn.onMessage((frame) => conn.send(frame));
  }, extraOptions(options));
  console.log('READY');
}

async function rtt(impl, sockPath, { n, size, warmup, ...options }) {
  const conn = await impl.connect(sockPath, extraOptions(options));
  const latency = await measureRoundTrips(pingPong(conn, size), n, warmup);
  report({ ...latency, size, stats: conn.stats() });
  await closeSoon(conn);
}

async function sink(impl, sockPath, { expect = 0, ...options }) {
  // Timing starts after a tenth of the frames, so start-up and JIT warm-up are left out.
  const startAt = Math.max(1, Math.floor(expect / 10));
  let count = 0;
  let t0 = 0;
  await impl.listen(sockPath, (conn) => {
    conn.onMessage((frame) => {
      if (frame.length === 1) {
        conn.send(countFrame(count));
        return;
      }
      count++;
      if (count === startAt) {
        t0 = performance.now();
      } else if (count === expect) {
        const secs = (performance.now() - t0) / 1e3;
        const frames = expect - startAt;
        report({ frames, size: frame.length, secs, framesPerSec: frames / secs, bytesPerSec: (frames * frame.length) / secs, stats: conn.stats() });
      }
    });
  }, extraOptions(options));
  console.log('READY');
}

async function source(impl, sockPath, { size, warmupMs, durationMs, maxFrames = 50e6, ...options }) {
  const conn = await impl.connect(sockPath, extraOptions(options));
  const payload = Buffer.alloc(size, 0x61);
  let onCount = null;
  conn.onMessage((frame) => {
    if (frame.length === COUNT_LEN && onCount) onCount(Number(frame.readBigUInt64BE(0)));
  });
  const askCount = () =>
    new Promise((resolve) => {
      onCount = resolve;
      conn.send(CONTROL_FRAME);
    });

  // One send() per frame; stop only to wait for 'drain' or, every 1024 frames, to look at the clock.
  const blast = async (ms) => {
    const deadline = performance.now() + ms;
    let sent = 0;
    while (sent < maxFrames) {
      for (let i = 0; i < 1024; i++) {
        sent++;
        if (!conn.send(payload)) await conn.waitDrain();
      }
      if (performance.now() >= deadline) break;
    }
    return sent;
  };

  await blast(warmupMs);
  const before = await askCount();
  const t0 = performance.now();
  const frames = await blast(durationMs);
  const after = await askCount();
  const secs = (performance.now() - t0) / 1e3;
  if (after - before !== frames) {
    throw new Error(`peer counted ${after - before} frames, ${frames} were sent`);
  }
  report({ frames, size, secs, framesPerSec: frames / secs, bytesPerSec: (frames * size) / secs, stats: conn.stats() });
  await closeSoon(conn);
}

// What busy polling costs when nothing happens: after a burst of round trips, the loop must go
// back to sleeping once the window has passed. Measured in this (client) process; the
// connection stays open through the silence, as it would in an application between requests.
async function idle(impl, sockPath, { size, burstMs, settleMs, idleMs, warmup = 2000, ...options }) {
  const conn = await impl.connect(sockPath, extraOptions(options));
  const roundTrip = pingPong(conn, size);
  for (let i = 0; i < warmup; i++) await roundTrip();

  const busySince = process.cpuUsage();
  const t0 = performance.now();
  let trips = 0;
  while (performance.now() - t0 < burstMs) {
    for (let i = 0; i < 256; i++) await roundTrip();
    trips += 256;
  }
  const busyWallMs = performance.now() - t0;
  const busyPct = cpuPercent(busySince, busyWallMs);

  await sleep(settleMs);
  const pollBefore = impl.busyPollStats();
  const idleSince = process.cpuUsage();
  const t1 = performance.now();
  await sleep(idleMs);
  const idleWallMs = performance.now() - t1;
  const idlePct = cpuPercent(idleSince, idleWallMs);
  const pollAfter = impl.busyPollStats();

  report({
    size,
    trips,
    busyWallMs,
    busyPct,
    idleWallMs,
    idlePct,
    // Busy polling the loop did during the silence (ms); 0 when the window closed as it should.
    idlePollMs: pollBefore && pollAfter ? pollAfter.pollTime - pollBefore.pollTime : null,
    pollingAtIdleStart: pollBefore ? pollBefore.active : null,
    stats: conn.stats(),
  });
  await closeSoon(conn);
}

async function push(impl, sockPath, { size, ...options }) {
  const payload = Buffer.alloc(size, 0x61);
  let started = false;
  await impl.listen(sockPath, (conn) => {
    if (started) return;
    started = true;
    (async () => {
      // Sends until the client has gone: then send() throws (closed) or 'drain' never comes.
      for (;;) {
        for (let i = 0; i < 1024; i++) {
          if (!conn.send(payload)) await conn.waitDrain();
        }
      }
    })().catch(() => {});
  }, extraOptions(options));
  console.log('READY');
}

async function pull(impl, sockPath, { warmupMs, durationMs, ...options }) {
  const conn = await impl.connect(sockPath, extraOptions(options));
  let count = 0;
  let size = 0;
  let first = null;
  conn.onMessage((frame) => {
    count++;
    size = frame.length;
    if (first === null) first = performance.now();
  });
  while (first === null) await sleep(1);
  await sleep(Math.max(0, first + warmupMs - performance.now()));
  const before = count;
  const t0 = performance.now();
  await sleep(durationMs);
  const frames = count - before;
  const secs = (performance.now() - t0) / 1e3;
  report({ frames, size, secs, framesPerSec: frames / secs, bytesPerSec: (frames * size) / secs, stats: conn.stats() });
}

const ROLES = { echo, rtt, sink, source, idle, push, pull };

async function main() {
  const [role, implName, sockPath, json] = process.argv.slice(2);
  const impl = transports[implName];
  if (!ROLES[role] || !impl || !sockPath) {
    throw new Error(`usage: peer.js ${Object.keys(ROLES).join('|')} ${Object.keys(transports).join('|')} PATH [JSON]`);
  }
  const options = json ? JSON.parse(json) : {};
  await ROLES[role](impl, sockPath, options);
  // Clients are done once they have reported; servers run until the runner stops them.
  if (role === 'rtt' || role === 'source' || role === 'idle' || role === 'pull') process.exit(0);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
