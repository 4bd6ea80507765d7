'use strict';

// Child processes over stdio: a Node parent spawns a Node child (bench/lib/stdio-child.js, the
// same script for both) and talks to it in newline-delimited JSON over the child's stdin and
// stdout. "ours" is spawnStdio() (framing 'lines', frames received with t.on('message'), sent
// with send()/sendJson()); "child_process" is child_process.spawn() with a hand-written line
// splitter over stdout's 'data' Buffers (indexOf('\n'), the partial tail kept; no readline) and
// stdin.write(text + '\n'). The parent (bench/lib/stdio-parent.js) runs on CPU 0, the child on
// CPU 1 (taskset, when there is one).
//
//   - Round trip: the parent writes one small JSON line, the child echoes it, repeat.
//   - Child to parent: the child writes N lines {"jsonrpc":"2.0","method":"update","params":{"n":i}}
//     as fast as its stdout takes them (built beforehand, ~0.9 MiB per write, so the child is
//     not the bottleneck: it writes about 10-17 M lines/s into a pipe); the parent counts
//     the lines it is handed, timed from the N/10-th to the last.
//   - Parent to child: the parent serialises and sends N such lines (sendJson(v), or
//     stdin.write(JSON.stringify(v) + '\n')), waiting for 'drain' when told to; the child counts
//     them, timed from the N/10-th to the last, and reports.
//
// At most MAX_ROUNDS rounds per case, so the scenario stays within about half a minute.

const path = require('node:path');
const { runOne, pinnedArgv } = require('./lib/procs.js');
const { cappedSections, runStandalone } = require('./lib/scenario.js');

const PARENT = path.join(__dirname, 'lib', 'stdio-parent.js');
const CHILD = path.join(__dirname, 'lib', 'stdio-child.js');
const PARENT_CPU = 0;
const CHILD_CPU = 1;
const MAX_ROUNDS = 3;
const RTT = { n: 10_000, warmup: 5000 };
// Lines per throughput case: the child-to-parent rate is several times the parent-to-child one.
const RECV_LINES = 4_000_000;
const SEND_LINES = 1_000_000;

const TABLE = {
  heading: 'Child process over stdio, newline-delimited JSON (ROUNDS)',
  columns: [
    { impl: 'ours', label: 'spawnStdio' },
    { impl: 'cp', label: 'child_process' },
  ],
  ratios: [{ of: 'ours', to: 'cp', label: 'ours/child_process' }],
};

const LATENCY = [
  { key: 'p50', label: 'p50', unit: 'us', better: 'lower' },
  { key: 'p99', label: 'p99', unit: 'us', better: 'lower' },
  { key: 'p999', label: 'p99.9', unit: 'us', better: 'lower' },
];
const RATE = [{ key: 'rate', label: 'lines/s', unit: 'M/s', better: 'higher' }];

function parentCase(role, impl, childArgs, options, values) {
  return async () => {
    const child = pinnedArgv([process.execPath, CHILD, ...childArgs], CHILD_CPU);
    const result = await runOne({
      label: `${impl} stdio ${role} parent`,
      argv: [process.execPath, PARENT, role, impl, JSON.stringify({ ...options, child })],
      cpu: PARENT_CPU,
    });
    return { values: values(result), rssKiB: result.maxRSSKiB, raw: result };
  };
}

const latencyValues = (r) => ({ p50: r.p50 / 1e3, p99: r.p99 / 1e3, p999: r.p999 / 1e3 });
const rateValues = (r) => ({ rate: r.linesPerSec / 1e6 });

const rttCase = (impl) => parentCase('rtt', impl, ['echo'], RTT, latencyValues);
const recvCase = (impl) => parentCase('recv', impl, ['source', String(RECV_LINES)], { n: RECV_LINES }, rateValues);
const sendCase = (impl) => parentCase('send', impl, ['sink', String(SEND_LINES)], { n: SEND_LINES }, rateValues);

async function run(options) {
  const section = cappedSections(TABLE, MAX_ROUNDS, options);
  return [
    await section({
      id: 'stdio-rtt',
      title: `Round trip of a small JSON line (parent CPU ${PARENT_CPU}, child CPU ${CHILD_CPU})`,
      metrics: LATENCY,
      cases: { ours: rttCase('ours'), cp: rttCase('cp') },
      targets: [
        { label: 'stdio RTT p50 vs child_process', metric: 'p50', against: 'cp', op: '<=', threshold: 1 },
        { label: 'stdio RTT p99 vs child_process', metric: 'p99', against: 'cp', op: '<=', threshold: 1 },
      ],
    }),
    await section({
      id: 'stdio-recv',
      title: `Child to parent: ${RECV_LINES / 1e6}M JSON lines, counted by the parent`,
      metrics: RATE,
      cases: { ours: recvCase('ours'), cp: recvCase('cp') },
      targets: [{ label: 'stdio child-to-parent lines/s vs child_process', metric: 'rate', against: 'cp', op: '>=', threshold: 2 }],
    }),
    await section({
      id: 'stdio-send',
      title: `Parent to child: ${SEND_LINES / 1e6}M JSON lines, serialised by the parent, counted by the child`,
      metrics: RATE,
      cases: { ours: sendCase('ours'), cp: sendCase('cp') },
      targets: [{ label: 'stdio parent-to-child lines/s vs child_process', metric: 'rate', against: 'cp', op: '>=', threshold: 2 }],
    }),
  ];
}

module.exports = { run };

if (require.main === module) runStandalone(module.exports);
