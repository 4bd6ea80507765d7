'use strict';
// Runs at `npm install`: loads a prebuilt binary when one fits this platform, otherwise compiles the
// addon with node-gyp. A failed compile is turned into a short message that says what to install,
// instead of leaving the user with several screens of node-gyp output.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const bin = require.resolve('node-gyp-build/bin.js');
const res = spawnSync(process.execPath, [bin], { cwd: root, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
if (res.status === 0) process.exit(0);

// node-gyp's own error report ends with a dozen lines of stack frames, versions and paths; the cause
// (`not found: make`, a compiler error, Python not found) comes before them. Keep the cause.
const noise = /^gyp (info|verb|sill|http|WARN) |^gyp ERR! (stack +at |System |command |cwd |node -v |node-gyp -v |\$npm_|not ok)/;
const log = (res.stderr || '')
  .split('\n')
  .map((l) => l.trimEnd())
  .filter((l) => l && !noise.test(l))
  .slice(-12);
const hints = {
  linux: 'a C++ compiler, make and python3 (Debian/Ubuntu: apt-get install g++ make python3; Alpine: apk add g++ make python3)',
  darwin: 'the Xcode command line tools (xcode-select --install)',
  win32: 'Visual Studio Build Tools with the "Desktop development with C++" workload, and Python 3',
};
const need = hints[process.platform] || 'a C++ toolchain, make and python3';
process.stderr.write(
  `\nsymphony-ipc-transport: no prebuilt binary fits ${process.platform}-${process.arch} (Node ${process.version}),\n` +
    `and compiling the addon from source failed. Install ${need}, then run npm install again.\n` +
    (log.length ? `What the build said:\n${log.map((l) => '  ' + l).join('\n')}\n` : ''),
);
process.exit(1);
