'use strict';

// Large frames, 64 KiB: one process sends, the other receives and counts, both the same
// implementation (ours to ours, node:net to node:net, C to C). Here the kernel's copy dominates,
// so the C floor is the bar. The rate counts a frame once the receiver has counted it.

const { runPair, floorArgv, peerArgv } = require('./lib/procs.js');
const { measureCases, runStandalone } = require('./lib/scenario.js');

const SIZE = 64 * 1024;
const SENDER = { size: SIZE, warmupMs: 200, durationMs: 1000 };
// About half a second for the C floor on this machine (3 GB/s).
const FLOOR_FRAMES = 25_000;

function values(r) {
  return { values: { gbps: r.bytesPerSec / 1e9, rate: r.framesPerSec / 1e3 }, rssKiB: r.maxRSSKiB ?? null, raw: r };
}

function jsCase(impl) {
  return async () => {
    const { client } = await runPair({
      server: { label: `${impl} receiver`, argv: (p) => peerArgv('sink', impl, p), cpu: 1 },
      client: { label: `${impl} sender`, argv: (p) => peerArgv('source', impl, p, SENDER), cpu: 0 },
    });
    return values(client);
  };
}

async function floorCase() {
  const { client } = await runPair({
    server: { label: 'C sink', argv: (p) => floorArgv('sink', p), cpu: 1 },
    client: { label: 'C source', argv: (p) => floorArgv('source', p, FLOOR_FRAMES, SIZE), cpu: 0 },
  });
  return values(client);
}

async function run(options) {
  return [
    await measureCases(
      {
        id: 'large-64k',
        title: '64 KiB frames, sender CPU 0 to receiver CPU 1',
        metrics: [
          { key: 'gbps', label: 'bytes/s', unit: 'GB/s', better: 'higher' },
          { key: 'rate', label: 'frames/s', unit: 'k/s', better: 'higher' },
        ],
        cases: { ours: jsCase('ours'), net: jsCase('net'), c: floorCase },
      },
      options,
    ),
  ];
}

module.exports = { run };

if (require.main === module) runStandalone(module.exports);
