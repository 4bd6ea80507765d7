'use strict';

// Sending 64 B frames: the measured process sends one frame per send() call, as fast as
// backpressure allows (it waits for 'drain' whenever send() returns false), for a fixed time
// after a warm-up. The peer is the C sink on the other CPU, the same for every sender and far
// faster than any of them. The rate counts a frame only once the sink has counted it: the
// sender asks for the sink's count at the end and checks it.

const { runPair, floorArgv, peerArgv } = require('./lib/procs.js');
const { measureCases, runStandalone } = require('./lib/scenario.js');

const SIZE = 64;
const SENDER = { size: SIZE, warmupMs: 300, durationMs: 1000 };

function senderCase(impl) {
  return async () => {
    const { client } = await runPair({
      server: { label: 'C sink', argv: (p) => floorArgv('sink', p), cpu: 1 },
      client: { label: `${impl} sender`, argv: (p) => peerArgv('source', impl, p, SENDER), cpu: 0 },
    });
    return { values: { rate: client.framesPerSec / 1e6 }, rssKiB: client.maxRSSKiB, raw: client };
  };
}

async function run(options) {
  return [
    await measureCases(
      {
        id: 'send-64',
        title: 'Send 64 B frames, one send() each (peer: C sink)',
        metrics: [{ key: 'rate', label: 'frames/s', unit: 'M/s', better: 'higher' }],
        cases: { ours: senderCase('ours'), net: senderCase('net') },
      },
      options,
    ),
  ];
}

module.exports = { run };

if (require.main === module) runStandalone(module.exports);
