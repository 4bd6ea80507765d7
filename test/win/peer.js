'use strict';
// The other process of the Windows named-pipe tests (test/win/*.test.js), started with child_process.fork
// so it runs under the same node.exe. It reports to the test over the IPC channel and takes commands
// from it.
//
//   node peer.js server <name> <framing>   listen on pipe:<name>; echo every frame of each connection
//   node peer.js client <name> <framing>   connect to pipe:<name>; echo every frame
//   node peer.js stall <name>              listen on pipe:<name>, then block the event loop, so that no
//                                          connection is ever accepted (every pipe instance gets busy)
//   node peer.js net-server <name>         listen on \\.\pipe\<name> with Node's own net
//
// Reports: {event: 'listening', pid}, {event: 'connected', peer}, {event: 'error', code, message},
// {event: 'close', errorCode}. Commands: {cmd: 'close'} closes the connection (close(), graceful),
// {cmd: 'exit'} closes everything and exits.
const { connect, listen } = require('../../dist/index.js');

const [role, name, framing] = process.argv.slice(2);
const endpoint = `pipe:${name}`;
let transport = null;
let server = null;

function report(msg) {
  process.send(msg);
}

function attach(t) {
  transport = t;
  report({ event: 'connected', peer: t.peer });
  t.on('message', (m) => t.send(m));
  t.on('error', (e) => report({ event: 'error', code: e.code, message: e.message }));
  t.on('close', () => report({ event: 'close' }));
}

process.on('message', async (msg) => {
  if (msg.cmd === 'close') await transport.close();
  if (msg.cmd === 'exit') {
    await transport?.close();
    await server?.close();
    process.disconnect();
  }
});

(async () => {
  if (role === 'client') {
    attach(await connect(endpoint, { framing }));
  } else if (role === 'server') {
    server = await listen(endpoint, { framing });
    server.on('connection', attach);
    report({ event: 'listening', pid: process.pid });
  } else if (role === 'net-server') {
    const net = require('node:net');
    server = net.createServer((socket) => socket.pipe(socket));
    await new Promise((resolve, reject) => server.once('error', reject).listen(`\\\\.\\pipe\\${name}`, resolve));
    server.close = ((close) => () => new Promise((resolve) => close.call(server, resolve)))(server.close);
    report({ event: 'listening', pid: process.pid });
  } else if (role === 'stall') {
    server = await listen(endpoint);
    server.on('connection', () => report({ event: 'accepted' }));
    // The report is written to the channel at once; then the loop is held, before it can accept anyone,
    // until the test kills us.
    report({ event: 'listening', pid: process.pid });
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
  } else {
    throw new Error(`unknown role ${role}`);
  }
})().catch((e) => {
  report({ event: 'error', code: e.code, message: e.message });
  process.exitCode = 1;
  process.disconnect();
});
