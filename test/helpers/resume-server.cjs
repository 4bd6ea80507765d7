'use strict';
// A resumable server in its own process, for test/resume.test.ts to kill and start again.
// argv: <dist/index.js> <endpoint> <framing> <frames to send to each new session>
// Prints 'listening', 'connection', 'reconnect', and 'got <frame>' for each frame received (frames are
// short text). Each new session is sent 'server-1' .. 'server-<n>'.
const ipc = require(process.argv[2]);

const [, , , endpoint, framing, toSend] = process.argv;
const say = (line) => process.stdout.write(line + '\n');

ipc.listen(endpoint, { resume: true, framing }).then((server) => {
  server.on('connection', (session) => {
    say('connection');
    session.on('message', (m) => say(`got ${m.toString()}`));
    session.on('reconnect', () => say('reconnect'));
    for (let i = 1; i <= Number(toSend); i++) session.send(`server-${i}`);
  });
  say('listening');
});
