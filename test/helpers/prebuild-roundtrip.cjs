'use strict';
// Copied by test/prebuild.test.ts into a temporary project that installed the packed package, and run
// there: loads 'symphony-ipc-transport' by name, echoes one frame over a Unix socket, and prints one JSON
// line saying which files were loaded. Usage: node roundtrip.cjs <socket-dir>
const fs = require('node:fs');
const path = require('node:path');

const sockDir = process.argv[2];
const main = require.resolve('symphony-ipc-transport');
const pkgDir = path.dirname(require.resolve('symphony-ipc-transport/package.json'));
// The same lookup src/native.ts makes, with the package's own copy of node-gyp-build.
const nodeGypBuild = require(require.resolve('node-gyp-build', { paths: [pkgDir] }));
const resolved = nodeGypBuild.resolve(pkgDir);
const { listen, connect } = require('symphony-ipc-transport');

/** Every addon (.node file) mapped into this process: what was really dlopen()ed. */
function mappedAddons() {
  // macOS has no /proc: there the shared objects dyld loaded come from Node's diagnostic report.
  const all =
    process.platform === 'linux'
      ? fs
          .readFileSync('/proc/self/maps', 'utf8')
          .split('\n')
          .map((line) => line.trim().split(/\s+/).slice(5).join(' '))
      : process.report.getReport().sharedObjects;
  const paths = all.filter((p) => p.endsWith('.node'));
  return [...new Set(paths)];
}

(async () => {
  const endpoint = 'unix:' + path.join(sockDir, 'echo.sock');
  const server = await listen(endpoint);
  let serverMessages = 0;
  server.on('connection', (t) => {
    t.on('message', (m) => {
      serverMessages++;
      t.send(m);
    });
  });
  const client = await connect(endpoint);
  let clientMessages = 0;
  const echoed = await new Promise((resolve, reject) => {
    client.on('error', reject);
    client.on('message', (m) => {
      clientMessages++;
      resolve(Buffer.from(m).toString('utf8'));
    });
    client.send('ping from an installed package');
  });
  await client.close();
  await server.close();
  process.stdout.write(
    JSON.stringify({ main, pkgDir, resolved, mapped: mappedAddons(), echoed, serverMessages, clientMessages }) + '\n',
  );
})().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + '\n');
  process.exit(1);
});
