'use strict';

// Receiving 64 B frames: the C source on the other CPU writes N frames as fast as the kernel
// takes them (many frames per write()), and the measured process counts them as they are
// delivered, one 'message' per frame. The rate is timed from the N/10-th frame to the last, so
// start-up and JIT warm-up are left out.

const { runPair, floorArgv, peerArgv } = require('./lib/procs.js');
const { measureCases, runStandalone } = require('./lib/scenario.js');

const SIZE = 64;
const FRAMES = 8_000_000;

function receiverCase(impl) {
  return async () => {
    const { client, server } = await runPair({
      server: { label: `${impl} receiver`, argv: (p) => peerArgv('sink', impl, p, { expect: FRAMES }), cpu: 0 },
      client: { label: 'C source', argv: (p) => floorArgv('source', p, FRAMES, SIZE), cpu: 1 },
      from: 'both',
    });
    if (client.peerCount !== FRAMES) throw new Error(`${impl} receiver counted ${client.peerCount} of ${FRAMES} frames`);
    return { values: { rate: server.framesPerSec / 1e6 }, rssKiB: server.maxRSSKiB, raw: server };
  };
}

async function run(options) {
  return [
    await measureCases(
      {
        id: 'recv-64',
        title: 'Receive 64 B frames (peer: C source)',
        metrics: [{ key: 'rate', label: 'frames/s', unit: 'M/s', better: 'higher' }],
        cases: { ours: receiverCase('ours'), net: receiverCase('net') },
      },
      options,
    ),
  ];
}

module.exports = { run };

if (require.main === module) runStandalone(module.exports);
