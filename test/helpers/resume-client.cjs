'use strict';
// A resumable client in its own process, for test/resume.test.ts to kill while its session lives on
// in the server. argv: <dist/index.js> <endpoint>. Prints 'connected' once, then 'got <frame>' for
// each frame received (frames are short text).
const ipc = require(process.argv[2]);

const say = (line) => process.stdout.write(line + '\n');
const t = ipc.reconnecting(process.argv[3], { resume: true, initialDelay: 10, maxDelay: 100 });
t.once('connect', () => say('connected'));
t.on('message', (m) => say(`got ${m.toString()}`));
t.on('error', (e) => say(`error ${e.code}`));
