'use strict';

// Busy polling (the busyPoll option): what it buys and what it costs. "on" is ours with
// busyPoll = BUSY_POLL_US on both of our processes (connect() on the client, listen() on the
// server, which passes it to the accepted connection); "off" is ours with busyPoll = 0.
//
//   - Round trip of 64 B frames across CPUs (server CPU 1, client CPU 0), as in rtt.js: on, off,
//     node:net, and the C polling floor (non-blocking reads retried after sched_yield(), both
//     sides), which is the best any busy poller can do here. Polling saves the cross-CPU wake-up.
//   - The same round trip with both processes on CPU 0: polling must not starve the peer it
//     waits for, so on should be no slower than off.
//   - Idle CPU: after a burst of round trips, this process's CPU time over one second of silence
//     that starts SETTLE_MS (many windows) after the last frame, as a percent of one core. Once
//     the window has passed the loop must sleep again. CPU during the burst is there for context.
//   - Throughput of 64 B frames, sending (one send() each, peer: C sink) and receiving (peer: C
//     source), as in throughput-send.js and throughput-recv.js: polling should not cost rate.
//
// At most MAX_ROUNDS rounds per case, so the scenario stays around half a minute.

const { runPair, floorArgv, peerArgv } = require('./lib/procs.js');
const { cappedSections, runStandalone } = require('./lib/scenario.js');

const BUSY_POLL_US = 200;
const SIZE = 64;
const WARMUP = 5000;
const MAX_ROUNDS = 3;
const SETTLE_MS = 10 * Math.ceil(BUSY_POLL_US / 1000);
const IDLE = { size: SIZE, burstMs: 300, settleMs: SETTLE_MS, idleMs: 1000 };
const SENDER = { size: SIZE, warmupMs: 200, durationMs: 600 };
const RECV_FRAMES = 4_000_000;

const ACROSS = { serverCpu: 1, clientCpu: 0, n: 8000 };
const ONE_CPU = { serverCpu: 0, clientCpu: 0, n: 20000 };

// `busyPoll` of each of our cases; node:net and C have no such option.
const SETTING = { ours: BUSY_POLL_US, off: 0 };

const TABLE = {
  heading: `Busy polling (on: busyPoll ${BUSY_POLL_US} us on both our processes; ROUNDS)`,
  columns: [
    { impl: 'ours', label: 'on' },
    { impl: 'off', label: 'off' },
    { impl: 'net', label: 'node:net' },
    { impl: 'c', label: 'C polling' },
  ],
  ratios: [
    { of: 'ours', to: 'off', label: 'on/off' },
    { of: 'ours', to: 'net', label: 'on/net' },
    { of: 'ours', to: 'c', label: 'on/C' },
  ],
};

const LATENCY = [
  { key: 'p50', label: 'p50', unit: 'us', better: 'lower' },
  { key: 'p99', label: 'p99', unit: 'us', better: 'lower' },
  { key: 'p999', label: 'p99.9', unit: 'us', better: 'lower' },
];

// The implementation a case runs in its processes, and the options it passes them.
function peerOf(impl) {
  return impl === 'net' ? { name: 'net', extra: {} } : { name: 'ours', extra: { busyPoll: SETTING[impl] } };
}

function latencyValues(r) {
  return { values: { p50: r.p50 / 1e3, p99: r.p99 / 1e3, p999: r.p999 / 1e3 }, rssKiB: r.maxRSSKiB ?? null, raw: r };
}

function rttCase(impl, { serverCpu, clientCpu, n }) {
  const { name, extra } = peerOf(impl);
  return async () => {
    const { client } = await runPair({
      server: { label: `${impl} echo server`, argv: (p) => peerArgv('echo', name, p, extra), cpu: serverCpu },
      client: { label: `${impl} rtt client`, argv: (p) => peerArgv('rtt', name, p, { n, size: SIZE, warmup: WARMUP, ...extra }), cpu: clientCpu },
    });
    return latencyValues(client);
  };
}

function pollingFloorCase({ serverCpu, clientCpu, n }) {
  return async () => {
    const { client } = await runPair({
      server: { label: 'C polling echo server', argv: (p) => floorArgv('server-poll', p), cpu: serverCpu },
      client: { label: 'C polling rtt client', argv: (p) => floorArgv('client-rtt-poll', p, n, SIZE), cpu: clientCpu },
    });
    return latencyValues(client);
  };
}

function idleCase(impl) {
  const { name, extra } = peerOf(impl);
  return async () => {
    const { client } = await runPair({
      server: { label: `${impl} echo server`, argv: (p) => peerArgv('echo', name, p, extra), cpu: ACROSS.serverCpu },
      client: { label: `${impl} idle client`, argv: (p) => peerArgv('idle', name, p, { ...IDLE, ...extra }), cpu: ACROSS.clientCpu },
    });
    return { values: { idle: client.idlePct, busy: client.busyPct, idlePoll: client.idlePollMs }, rssKiB: client.maxRSSKiB, raw: client };
  };
}

function senderCase(impl) {
  const { name, extra } = peerOf(impl);
  return async () => {
    const { client } = await runPair({
      server: { label: 'C sink', argv: (p) => floorArgv('sink', p), cpu: 1 },
      client: { label: `${impl} sender`, argv: (p) => peerArgv('source', name, p, { ...SENDER, ...extra }), cpu: 0 },
    });
    return { values: { rate: client.framesPerSec / 1e6 }, rssKiB: client.maxRSSKiB, raw: client };
  };
}

function receiverCase(impl) {
  const { name, extra } = peerOf(impl);
  return async () => {
    const { client, server } = await runPair({
      server: { label: `${impl} receiver`, argv: (p) => peerArgv('sink', name, p, { expect: RECV_FRAMES, ...extra }), cpu: 0 },
      client: { label: 'C source', argv: (p) => floorArgv('source', p, RECV_FRAMES, SIZE), cpu: 1 },
      from: 'both',
    });
    if (client.peerCount !== RECV_FRAMES) throw new Error(`${impl} receiver counted ${client.peerCount} of ${RECV_FRAMES} frames`);
    return { values: { rate: server.framesPerSec / 1e6 }, rssKiB: server.maxRSSKiB, raw: server };
  };
}

async function run(options) {
  const section = cappedSections(TABLE, MAX_ROUNDS, options);
  return [
    await section({
      id: 'bp-rtt-across-cpus',
      title: 'Round trip 64 B, server CPU 1, client CPU 0',
      metrics: LATENCY,
      cases: { ours: rttCase('ours', ACROSS), off: rttCase('off', ACROSS), net: rttCase('net', ACROSS), c: pollingFloorCase(ACROSS) },
      targets: [
        { label: 'busyPoll RTT across CPUs p50 vs C polling floor', metric: 'p50', against: 'c', op: '<=', threshold: 2 },
        { label: 'busyPoll RTT across CPUs p99', metric: 'p99', op: '<=', threshold: 20, unit: 'us' },
      ],
    }),
    await section({
      id: 'bp-rtt-one-cpu',
      title: 'Round trip 64 B, both processes on CPU 0',
      metrics: LATENCY,
      cases: { ours: rttCase('ours', ONE_CPU), off: rttCase('off', ONE_CPU), c: pollingFloorCase(ONE_CPU) },
      targets: [{ label: 'busyPoll RTT one CPU p50, on vs off', metric: 'p50', against: 'off', op: '<=', threshold: 1.1 }],
    }),
    await section({
      id: 'bp-idle-cpu',
      title: `CPU of the client (server CPU 1, client CPU 0); idle from ${SETTLE_MS} ms after the last frame`,
      metrics: [
        { key: 'idle', label: 'idle second', unit: '% of a core', better: 'lower' },
        { key: 'busy', label: `during ${IDLE.burstMs} ms of round trips`, unit: '% of a core', better: 'lower' },
        { key: 'idlePoll', label: 'busy polling in the idle second', unit: 'ms', better: 'lower' },
      ],
      cases: { ours: idleCase('ours'), off: idleCase('off') },
      targets: [{ label: 'busyPoll idle CPU', metric: 'idle', op: '<', threshold: 1, unit: '% of a core' }],
    }),
    await section({
      id: 'bp-send-64',
      title: 'Send 64 B frames, one send() each (peer: C sink)',
      metrics: [{ key: 'rate', label: 'frames/s', unit: 'M/s', better: 'higher' }],
      cases: { ours: senderCase('ours'), off: senderCase('off') },
      targets: [{ label: 'busyPoll send 64 B frames/s, on vs off', metric: 'rate', against: 'off', op: '>=', threshold: 1 }],
    }),
    await section({
      id: 'bp-recv-64',
      title: 'Receive 64 B frames (peer: C source)',
      metrics: [{ key: 'rate', label: 'frames/s', unit: 'M/s', better: 'higher' }],
      cases: { ours: receiverCase('ours'), off: receiverCase('off') },
      targets: [{ label: 'busyPoll receive 64 B frames/s, on vs off', metric: 'rate', against: 'off', op: '>=', threshold: 1 }],
    }),
  ];
}

module.exports = { run, BUSY_POLL_US };

if (require.main === module) runStandalone(module.exports);
