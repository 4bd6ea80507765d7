'use strict';
// Child process for test/health.test.ts. argv: <dist/index.js> <mode> <socket path>
// Opens a server and a client answering a JSON echo probe, monitors the client with a short interval,
// waits for answered probes, then leaves the monitor running and lets go of everything else. The process
// must then exit on its own: a monitor's timers never keep it alive. Prints one line per milestone.
const [, , dist, mode, sockPath] = process.argv;
const ipc = require(dist);
const say = (line) => process.stdout.write(line + '\n');

async function main() {
  const server = await ipc.listen(`unix:${sockPath}`);
  const accepted = new Promise((resolve) => server.once('connection', resolve));
  const client = await ipc.connect(`unix:${sockPath}`);
  const peer = await accepted;
  peer.on('message', (m) => peer.send(m));

  let nextId = 0;
  const waiting = new Map();
  client.on('message', (m) => {
    const id = JSON.parse(m.toString()).id;
    waiting.get(id)?.();
    waiting.delete(id);
  });
  const probe = () =>
    new Promise((resolve) => {
      const id = ++nextId;
      waiting.set(id, resolve);
      client.send(JSON.stringify({ id }));
    });

  const m = ipc.monitor(client, { interval: 20, timeout: 1000, probe });
  m.on('unhealthy', (e) => say(`unhealthy ${e.code}`));
  await new Promise((resolve) => {
    const check = setInterval(() => {
      if (m.stats.rtt !== null && m.stats.probes >= 2) {
        clearInterval(check);
        resolve();
      }
    }, 5);
  });
  say(`probed ${m.stats.probes >= 2}`);
  process.on('exit', (code) => say(`exit ${code} ${m.stats.healthy}`));

  if (mode === 'close') {
    // Close the transport and the server; the monitor is never stopped by hand.
    await client.close();
    await server.close();
    say(`closed ${client.state}`);
  } else if (mode === 'unref') {
    // Everything stays open but unref'd, with the monitor still probing: only its timers could hold the loop.
    server.unref();
    client.unref();
    peer.unref();
    say('unrefd');
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
}

main().catch((e) => {
  process.stderr.write(`${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
