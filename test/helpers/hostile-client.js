// A small program the access-control tests run as another user (through setpriv). Each event is one
// JSON line on stdout. It is copied into the test's own temp directory first, with ./wire.cjs (its
// hand-written framing) beside it, so that the other user can read both wherever the repository lives.
//
//   node hostile-client.js connect ADDR [FRAME]
//       Connects with plain node:net (ADDR is a socket path, or @name for the abstract namespace).
//       With FRAME, sends it length-prefixed, waits for one length-prefixed frame back, then ends.
//       Events: start {uid}, connected, frame {text}, end, error {code}, close.
//   node hostile-client.js listen DIST_INDEX ENDPOINT
//       Requires the package from DIST_INDEX and listens on ENDPOINT with its defaults.
//       Events: start {uid}, listening, or error {code, message}; then closes the server and exits.
//   node hostile-client.js hello ADDR SESSION_HEX
//       Connects with plain node:net and sends, length-prefixed, a resume hello written by hand (the
//       README's envelope table) claiming session SESSION_HEX, and ends after the first frame back.
//       Events: start, connected, frame {type} (its first byte, as a character), end, error {code}, close.
//   node hostile-client.js allowpeer-throws DIST_INDEX DIR COUNT
//       A server (in DIR) whose allowPeer throws, and COUNT clients one after another; one result event.
'use strict';
const net = require('node:net');
const { lp, readLengthPrefixed } = require('./wire.cjs');

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** Reports how the connection ends, and exits with it; a safety net for a peer left hanging. */
function reportEnd(sock) {
  sock.on('end', () => say({ event: 'end' }));
  sock.on('error', (e) => say({ event: 'error', code: e.code }));
  sock.on('close', () => {
    say({ event: 'close' });
    process.exit(0);
  });
  // A refused peer must be told, not left hanging.
  setTimeout(() => {
    say({ event: 'timeout' });
    process.exit(2);
  }, 8000).unref();
}

const [mode, ...args] = process.argv.slice(2);
say({ event: 'start', uid: process.getuid(), gid: process.getgid() });

if (mode === 'connect') {
  const [addr, frame] = args;
  const sock = net.connect(addr.startsWith('@') ? '\0' + addr.slice(1) : addr);
  let gotFrame = false;
  sock.on('connect', () => {
    say({ event: 'connected' });
    if (frame !== undefined) sock.write(lp(frame));
    else sock.end();
  });
  sock.on(
    'data',
    readLengthPrefixed((f) => {
      if (gotFrame) return;
      gotFrame = true;
      say({ event: 'frame', text: f.toString() });
      sock.end();
    }),
  );
  reportEnd(sock);
} else if (mode === 'hello') {
  const [addr, sessionHex] = args;
  // 'H' 'SIPC' version 2, flags heartbeat|resume, the session, received 0, first 1, window 8 MiB.
  const body = Buffer.concat([
    Buffer.from('HSIPC', 'latin1'),
    Buffer.from([2, 3]),
    Buffer.from(sessionHex, 'hex'),
    Buffer.alloc(8),
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]),
    Buffer.from([0, 0, 0, 0, 0, 0x80, 0, 0]),
  ]);
  const sock = net.connect(addr);
  sock.on('connect', () => {
    say({ event: 'connected' });
    sock.write(lp(body));
  });
  sock.on(
    'data',
    readLengthPrefixed((f) => {
      say({ event: 'frame', type: String.fromCharCode(f[0]) });
      sock.end(); // the answer is all this program came for
    }),
  );
  reportEnd(sock);
} else if (mode === 'listen') {
  const [dist, endpoint] = args;
  const { listen } = require(dist);
  listen(endpoint).then(
    async (server) => {
      say({ event: 'listening' });
      await server.close();
    },
    (e) => say({ event: 'error', code: e.code, message: e.message }),
  );
} else if (mode === 'allowpeer-throws') {
  // A server whose allowPeer throws, and N node:net clients of it. Reports what each client saw, how
  // the exception surfaced, and the descriptor counts (so a leaked socket shows).
  const [dist, dir, count] = args;
  const fs = require('node:fs');
  const { listen } = require(dist);
  // macOS has no /proc; its /dev/fd lists the reading process's descriptors the same way.
  const fds = () => fs.readdirSync(process.platform === 'linux' ? '/proc/self/fd' : '/dev/fd').length;
  const surfaced = [];
  process.on('uncaughtException', (e) => surfaced.push(`uncaught:${e.message}`));
  (async () => {
    const before = fds();
    const file = require('node:path').join(dir, 'throws.sock');
    const server = await listen(`unix:${file}`, {
      allowPeer: () => {
        throw new Error('allowPeer exploded');
      },
    });
    server.on('error', (e) => surfaced.push(`error:${e.message}`));
    server.on('acceptError', (e) => surfaced.push(`acceptError:${e.message}`));
    server.on('refused', () => surfaced.push('refused'));
    let connections = 0;
    server.on('connection', (t) => {
      connections++;
      t.destroy();
    });
    const listening = fds();
    const outcomes = [];
    for (let i = 0; i < Number(count); i++) {
      outcomes.push(
        await new Promise((resolve) => {
          const sock = net.connect(file);
          const seen = [];
          sock.on('connect', () => sock.write(lp('hello')));
          sock.on('end', () => seen.push('end'));
          sock.on('error', (e) => seen.push(`error:${e.code}`));
          sock.on('close', () => resolve(seen.concat('close').join(',')));
          // A peer left hanging is the failure this mode looks for: give up after 2 s.
          setTimeout(() => {
            seen.push('hanging');
            sock.destroy();
          }, 2000).unref();
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 50));
    const afterClients = fds();
    await server.close();
    say({ event: 'result', before, listening, afterClients, after: fds(), outcomes, surfaced, connections });
  })().catch((e) => say({ event: 'error', message: String(e && e.stack) }));
} else {
  say({ event: 'usage' });
  process.exit(2);
}
