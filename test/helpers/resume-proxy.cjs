'use strict';
// A byte pipe for test/resume.test.ts, run as its own process so that the test can kill it with SIGKILL:
// every connection through it then dies at once, with whatever it held in memory or in its socket
// buffers lost, as when a network path between the two ends fails. argv: <listen path> <target path>
// It knows nothing of frames. Prints 'listening' once clients can connect.
const fs = require('node:fs');
const net = require('node:net');

const [, , from, to] = process.argv;

// A killed predecessor left its socket file behind.
try {
  fs.unlinkSync(from);
} catch {
  // None there.
}

const server = net.createServer((client) => {
  const upstream = net.connect(to);
  client.pipe(upstream);
  upstream.pipe(client);
  // Either side failing ends both, as a broken path would.
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', end);
  upstream.on('error', end);
  client.on('close', end);
  upstream.on('close', end);
});
server.listen(from, () => process.stdout.write('listening\n'));
