'use strict';

// Ping-pong round trip of 64 B frames: the client sends one frame, the server echoes it, the
// client waits for it before sending the next. Measured in the client process with mitata, one
// sample per round trip. Run twice: both processes on one CPU (software overhead; no cross-CPU
// wake-up in the way) and on different CPUs (what a wake-up costs, against the C floor).

const { runPair, floorArgv, peerArgv } = require('./lib/procs.js');
const { measureCases, runStandalone } = require('./lib/scenario.js');

const SIZE = 64;
const WARMUP = 5000;
const PLACEMENTS = [
  { id: 'rtt-one-cpu', title: 'Round trip 64 B, both processes on CPU 0', serverCpu: 0, clientCpu: 0, n: 20000 },
  { id: 'rtt-across-cpus', title: 'Round trip 64 B, server CPU 1, client CPU 0', serverCpu: 1, clientCpu: 0, n: 8000 },
];

const METRICS = [
  { key: 'p50', label: 'p50', unit: 'us', better: 'lower' },
  { key: 'p99', label: 'p99', unit: 'us', better: 'lower' },
  { key: 'p999', label: 'p99.9', unit: 'us', better: 'lower' },
];

function latencyValues(r) {
  return { values: { p50: r.p50 / 1e3, p99: r.p99 / 1e3, p999: r.p999 / 1e3 }, rssKiB: r.maxRSSKiB ?? null, raw: r };
}

function jsCase(impl, { serverCpu, clientCpu, n }) {
  return async () => {
    const { client } = await runPair({
      server: { label: `${impl} echo server`, argv: (p) => peerArgv('echo', impl, p), cpu: serverCpu },
      client: { label: `${impl} rtt client`, argv: (p) => peerArgv('rtt', impl, p, { n, size: SIZE, warmup: WARMUP }), cpu: clientCpu },
    });
    return latencyValues(client);
  };
}

function floorCase({ serverCpu, clientCpu, n }) {
  return async () => {
    const { client } = await runPair({
      server: { label: 'C echo server', argv: (p) => floorArgv('server', p), cpu: serverCpu },
      client: { label: 'C rtt client', argv: (p) => floorArgv('client-rtt', p, n, SIZE), cpu: clientCpu },
    });
    return latencyValues(client);
  };
}

async function run(options) {
  const sections = [];
  for (const placement of PLACEMENTS) {
    sections.push(
      await measureCases(
        {
          id: placement.id,
          title: placement.title,
          metrics: METRICS,
          cases: { ours: jsCase('ours', placement), net: jsCase('net', placement), c: floorCase(placement) },
        },
        options,
      ),
    );
  }
  return sections;
}

module.exports = { run };

if (require.main === module) runStandalone(module.exports);
