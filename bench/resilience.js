'use strict';

// What reconnecting() costs while nothing goes wrong: the same traffic through a bare connect()
// ('ours'), a reconnecting() client of a plain server ('reconn'), a resumable session on both ends
// ('resume': reconnecting(ep, { resume: true }) against listen(ep, { resume: true }), so every frame
// carries a sequence number, is kept until acknowledged, and acknowledgements flow back), and
// node:net. Both ends are the implementation under test, because resume needs both ends.
//
//   - Round trip of 64 B frames, both processes on CPU 0 (as bench/rtt.js: the software overhead).
//   - Send: the client sends 64 B frames, one send() each, as fast as backpressure allows, to a
//     server on the other CPU that counts them (as bench/throughput-send.js, but the peer is the
//     same implementation, not the C sink).
//   - Receive: a server on the other CPU pushes 64 B frames and the client counts them.
//
// Throughput is end to end: the rate of the slower of the two processes. node:net writes one
// write() per frame, so its receive case is bounded by its sender.

const { runPair, peerArgv } = require('./lib/procs.js');
const { measureCases, runStandalone } = require('./lib/scenario.js');

const SIZE = 64;
const IMPLS = ['ours', 'reconn', 'resume', 'net'];
const RTT = { n: 10000, size: SIZE, warmup: 5000 };
const SEND = { size: SIZE, warmupMs: 200, durationMs: 500 };
const RECV = { warmupMs: 200, durationMs: 500 };

const TABLE = {
  heading: 'Resilience: reconnecting() and resume against a bare transport',
  columns: IMPLS.map((impl) => ({ impl, label: { ours: 'bare', reconn: 'reconnecting', resume: 'resume', net: 'node:net' }[impl] })),
  ratios: [
    { of: 'reconn', to: 'ours', label: 'reconn/bare' },
    { of: 'resume', to: 'ours', label: 'resume/bare' },
    { of: 'reconn', to: 'net', label: 'reconn/net' },
    { of: 'resume', to: 'net', label: 'resume/net' },
    { of: 'ours', to: 'net', label: 'bare/net' },
  ],
};

function rttCase(impl) {
  return async () => {
    const { client } = await runPair({
      server: { label: `${impl} echo server`, argv: (p) => peerArgv('echo', impl, p), cpu: 0 },
      client: { label: `${impl} rtt client`, argv: (p) => peerArgv('rtt', impl, p, RTT), cpu: 0 },
    });
    return { values: { p50: client.p50 / 1e3, p99: client.p99 / 1e3 }, rssKiB: client.maxRSSKiB, raw: client };
  };
}

function sendCase(impl) {
  return async () => {
    const { client } = await runPair({
      server: { label: `${impl} sink`, argv: (p) => peerArgv('sink', impl, p), cpu: 1 },
      client: { label: `${impl} sender`, argv: (p) => peerArgv('source', impl, p, SEND), cpu: 0 },
    });
    return { values: { rate: client.framesPerSec / 1e6 }, rssKiB: client.maxRSSKiB, raw: client };
  };
}

function recvCase(impl) {
  return async () => {
    const { client } = await runPair({
      server: { label: `${impl} pusher`, argv: (p) => peerArgv('push', impl, p, { size: SIZE }), cpu: 1 },
      client: { label: `${impl} receiver`, argv: (p) => peerArgv('pull', impl, p, RECV), cpu: 0 },
    });
    return { values: { rate: client.framesPerSec / 1e6 }, rssKiB: client.maxRSSKiB, raw: client };
  };
}

const casesOf = (make) => Object.fromEntries(IMPLS.map((impl) => [impl, make(impl)]));
const RATE = [{ key: 'rate', label: 'frames/s', unit: 'M/s', better: 'higher' }];

async function run(options) {
  return [
    await measureCases(
      {
        id: 'resilience-rtt',
        title: 'Round trip 64 B, both processes on CPU 0',
        metrics: [
          { key: 'p50', label: 'p50', unit: 'us', better: 'lower' },
          { key: 'p99', label: 'p99', unit: 'us', better: 'lower' },
        ],
        cases: casesOf(rttCase),
        table: TABLE,
      },
      options,
    ),
    await measureCases(
      { id: 'resilience-send', title: 'Send 64 B frames, client to server (peer: same implementation)', metrics: RATE, cases: casesOf(sendCase), table: TABLE },
      options,
    ),
    await measureCases(
      { id: 'resilience-recv', title: 'Receive 64 B frames, server to client (peer: same implementation)', metrics: RATE, cases: casesOf(recvCase), table: TABLE },
      options,
    ),
  ];
}

module.exports = { run };

if (require.main === module) runStandalone(module.exports);
