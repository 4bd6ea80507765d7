'use strict';

// The two JS transports under test behind one small interface, so every scenario runs the exact
// same code against each:
//
//   listen(path, onConnection, extra?) -> Promise<{ close() }>
//   connect(path, extra?)              -> Promise<Conn>
//   Conn: send(payload) -> boolean, onMessage(fn), waitDrain() -> Promise, close() -> Promise,
//         stats() -> object | null
//   busyPollStats() -> { active, pollTime } | null
//
// 'ours' is the package (dist/index.js); 'net' is node:net with the framing in ./framing.js.
// `extra` holds options only ours has (busyPoll); node:net has no such knob and ignores them.
// 'reconn' and 'resume' are ours again behind reconnecting() (bench/resilience.js): 'reconn' a
// reconnecting() client of a plain server, 'resume' a reconnecting(ep, { resume: true }) client of
// listen(ep, { resume: true }), whose 'connection' brings a ServerSession.

const net = require('node:net');
const path = require('node:path');
const { once } = require('node:events');
const { encodeFrame, FrameParser } = require('./framing.js');

const PACKAGE_ENTRY = path.join(__dirname, '..', '..', 'dist', 'index.js');
const OPTIONS = { framing: 'length-prefixed' };

function wrapOurs(t) {
  return {
    send: (payload) => t.send(payload),
    onMessage: (fn) => t.on('message', fn),
    waitDrain: () => once(t, 'drain'),
    close: () => t.close(),
    stats: () => ({ ...t.stats }),
  };
}

const ours = {
  async listen(sockPath, onConnection, extra = {}) {
    const { listen } = require(PACKAGE_ENTRY);
    const server = await listen(`unix:${sockPath}`, { ...OPTIONS, ...extra });
    server.on('connection', (t) => onConnection(wrapOurs(t)));
    return { close: () => server.close() };
  },

  async connect(sockPath, extra = {}) {
    const { connect } = require(PACKAGE_ENTRY);
    return wrapOurs(await connect(`unix:${sockPath}`, { ...OPTIONS, ...extra }));
  },

  busyPollStats: () => require(PACKAGE_ENTRY).busyPollStats(),
};

// A reconnecting() client, handed over once its first connection is up. It gives up after a few
// failed dials instead of retrying forever: the server is listening before any client starts.
async function connectReconnecting(sockPath, options) {
  const { reconnecting } = require(PACKAGE_ENTRY);
  const t = reconnecting(`unix:${sockPath}`, { ...OPTIONS, maxAttempts: 3, ...options });
  await new Promise((resolve, reject) => {
    t.once('connect', resolve);
    t.once('error', reject);
  });
  // As with node:net below: a peer killed by the runner is no failure of the client.
  t.on('error', () => {});
  return wrapOurs(t);
}

const reconn = {
  listen: ours.listen,
  connect: (sockPath, extra = {}) => connectReconnecting(sockPath, extra),
  busyPollStats: ours.busyPollStats,
};

const resume = {
  listen: (sockPath, onConnection, extra = {}) => ours.listen(sockPath, onConnection, { ...extra, resume: true }),
  connect: (sockPath, extra = {}) => connectReconnecting(sockPath, { ...extra, resume: true }),
  busyPollStats: ours.busyPollStats,
};

function wrapNet(socket) {
  let onFrame = () => {};
  const parser = new FrameParser((frame) => onFrame(frame));
  socket.on('data', (chunk) => parser.push(chunk));
  // A peer killed by the runner resets the connection; the scenario's own result decides success.
  socket.on('error', () => {});
  return {
    send: (payload) => socket.write(encodeFrame(payload)),
    onMessage: (fn) => {
      onFrame = fn;
    },
    waitDrain: () => once(socket, 'drain'),
    close: () =>
      new Promise((resolve) => {
        socket.once('close', resolve);
        socket.end();
      }),
    stats: () => null,
  };
}

const netImpl = {
  async listen(sockPath, onConnection) {
    const server = net.createServer((socket) => onConnection(wrapNet(socket)));
    server.listen(sockPath);
    await once(server, 'listening');
    return { close: () => new Promise((resolve) => server.close(resolve)) };
  },

  async connect(sockPath) {
    const socket = net.connect(sockPath);
    await once(socket, 'connect');
    return wrapNet(socket);
  },

  busyPollStats: () => null,
};

// Why 'ours' cannot run, or null when it can. Loaded here, in the runner, only to decide whether
// to schedule the cases; each case loads it again in its own process.
function oursUnavailable() {
  try {
    const api = require(PACKAGE_ENTRY);
    if (typeof api.connect !== 'function' || typeof api.listen !== 'function') {
      return `${PACKAGE_ENTRY} does not export connect() and listen()`;
    }
    return null;
  } catch (err) {
    return `cannot load ${path.relative(process.cwd(), PACKAGE_ENTRY)}: ${err.message.split('\n')[0]}`;
  }
}

module.exports = { transports: { ours, reconn, resume, net: netImpl }, oursUnavailable };
