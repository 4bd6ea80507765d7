'use strict';

// One side of the demo, run as its own process by demo.js:
//
//   node demo/peer.js server ours|net SOCKET_PATH
//   node demo/peer.js client ours|net SOCKET_PATH
//
// The server echoes every frame that starts with 'p' (a ping), counts every other frame, and
// answers a 1-byte '?' frame with its count as an 8-byte big-endian number. The client measures
// round trips, then sends 64-byte frames as fast as the transport lets it for one second and
// prints what it measured as one JSON line.
//
// 'ours' is this package; 'net' is node:net with the length-prefix framing a careful user would
// write by hand (4-byte big-endian length, then the payload).

const net = require('node:net');
const path = require('node:path');
const { once } = require('node:events');

const ROUND_TRIPS = 10_000;
const WARMUP_ROUND_TRIPS = 2_000;
const THROUGHPUT_MS = 1_000;
const FRAME_SIZE = 64;

// ---- the package ----------------------------------------------------------------------------

function oursTransport(t) {
  return {
    send: (payload) => t.send(payload),
    onMessage: (fn) => t.on('message', fn),
    drain: () => once(t, 'drain'),
    close: () => t.close(),
  };
}

// DEMO_BUSY_POLL (microseconds) turns on this package's busy polling for the round trips across CPUs.
const OURS_OPTIONS = { framing: 'length-prefixed', busyPoll: Number(process.env.DEMO_BUSY_POLL || 0) };

const ours = {
  async listen(sockPath, onConnection) {
    const { listen } = require(path.join(__dirname, '..', 'dist', 'index.js'));
    const server = await listen(`unix:${sockPath}`, OURS_OPTIONS);
    server.on('connection', (t) => onConnection(oursTransport(t)));
  },
  async connect(sockPath) {
    const { connect } = require(path.join(__dirname, '..', 'dist', 'index.js'));
    return oursTransport(await connect(`unix:${sockPath}`, OURS_OPTIONS));
  },
};

// ---- node:net with hand-written framing -----------------------------------------------------

function netTransport(socket) {
  let onFrame = () => {};
  // Bytes of an unfinished frame, joined only once enough have arrived to make progress.
  let pending = [];
  let pendingLen = 0;
  let need = 4;
  socket.on('data', (chunk) => {
    if (pendingLen > 0) {
      pending.push(chunk);
      pendingLen += chunk.length;
      if (pendingLen < need) return;
      chunk = Buffer.concat(pending, pendingLen);
      pending = [];
      pendingLen = 0;
    }
    let off = 0;
    while (chunk.length - off >= 4) {
      const len = chunk.readUInt32BE(off);
      if (chunk.length - off - 4 < len) break;
      onFrame(chunk.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    if (off < chunk.length) {
      const rest = chunk.subarray(off);
      pending.push(rest);
      pendingLen = rest.length;
      need = rest.length >= 4 ? 4 + rest.readUInt32BE(0) : 4;
    }
  });
  socket.on('error', () => {});
  return {
    send(payload) {
      const frame = Buffer.allocUnsafe(4 + payload.length);
      frame.writeUInt32BE(payload.length, 0);
      payload.copy(frame, 4);
      return socket.write(frame);
    },
    onMessage: (fn) => (onFrame = fn),
    drain: () => once(socket, 'drain'),
    close: () => new Promise((resolve) => socket.end(resolve)),
  };
}

const netImpl = {
  async listen(sockPath, onConnection) {
    const server = net.createServer((socket) => onConnection(netTransport(socket)));
    server.listen(sockPath);
    await once(server, 'listening');
  },
  async connect(sockPath) {
    const socket = net.connect(sockPath);
    await once(socket, 'connect');
    return netTransport(socket);
  },
};

// ---- the two roles --------------------------------------------------------------------------

const PING = 0x70; // 'p'
const COUNT_REQUEST = Buffer.from('?');

async function server(impl, sockPath) {
  await impl.listen(sockPath, (conn) => {
    let count = 0;
    conn.onMessage((frame) => {
      if (frame[0] === PING) {
        conn.send(frame);
      } else if (frame.length === 1) {
        const reply = Buffer.alloc(8);
        reply.writeBigUInt64BE(BigInt(count));
        conn.send(reply);
      } else {
        count++;
      }
    });
  });
  console.log('READY');
}

function percentile(sorted, q) {
  return sorted[Math.floor(q * (sorted.length - 1))];
}

async function client(impl, sockPath) {
  const conn = await impl.connect(sockPath);
  let onReply = null;
  conn.onMessage((frame) => onReply(frame));
  const request = (payload) =>
    new Promise((resolve) => {
      onReply = resolve;
      conn.send(payload);
    });

  // Round trips: one ping out, wait for the echo, repeat.
  const ping = Buffer.alloc(FRAME_SIZE, PING);
  const times = new Float64Array(ROUND_TRIPS);
  for (let i = 0; i < WARMUP_ROUND_TRIPS; i++) await request(ping);
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const t0 = process.hrtime.bigint();
    await request(ping);
    times[i] = Number(process.hrtime.bigint() - t0);
  }
  times.sort();

  // Throughput: one send() per frame, waiting only when the transport asks us to ('drain').
  // A frame counts once the server has counted it, so we ask for its count at the end.
  const data = Buffer.alloc(FRAME_SIZE, 0x64);
  const before = (await request(COUNT_REQUEST)).readBigUInt64BE(0);
  const t0 = performance.now();
  let sent = 0;
  while (performance.now() - t0 < THROUGHPUT_MS) {
    for (let i = 0; i < 1024; i++) {
      sent++;
      if (!conn.send(data)) await conn.drain();
    }
  }
  const counted = Number((await request(COUNT_REQUEST)).readBigUInt64BE(0) - before);
  const secs = (performance.now() - t0) / 1e3;
  if (counted !== sent) throw new Error(`server counted ${counted} frames, ${sent} were sent`);

  console.log(JSON.stringify({ p50: percentile(times, 0.5), p99: percentile(times, 0.99), framesPerSec: counted / secs }));
  await Promise.race([conn.close(), new Promise((resolve) => setTimeout(resolve, 1000))]);
  process.exit(0);
}

const [role, implName, sockPath] = process.argv.slice(2);
const impl = { ours, net: netImpl }[implName];
const run = { server, client }[role];
if (!impl || !run || !sockPath) {
  console.error('usage: node demo/peer.js server|client ours|net SOCKET_PATH');
  process.exit(2);
}
run(impl, sockPath).catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
