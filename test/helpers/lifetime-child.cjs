'use strict';
// Child process for test/lifetime.test.ts. argv: <dist/index.js> <mode> <socket dir> [extra]
// Prints one line per milestone on stdout; the test reads them back.
const path = require('node:path');
const [, , dist, mode, dir, extra] = process.argv;
const ipc = require(dist);
const endpoint = `unix:${path.join(dir, `${mode}.sock`)}`;
const say = (line) => process.stdout.write(line + '\n');

async function pair(opts) {
  const server = await ipc.listen(endpoint, opts);
  const accepted = new Promise((resolve) => server.once('connection', resolve));
  const client = await ipc.connect(endpoint, opts);
  const peer = await accepted;
  return { server, client, peer };
}

function nextMessage(t) {
  return new Promise((resolve) => t.once('message', resolve));
}

const modes = {
  // Both ends and the server closed: nothing is left to keep the loop alive.
  async 'close-both'() {
    const { server, client, peer } = await pair();
    peer.on('message', (m) => peer.send(Buffer.concat([Buffer.from('echo:'), m])));
    client.send('ping');
    say(`got ${(await nextMessage(client)).toString()}`);
    client.on('close', () => say('client close'));
    peer.on('close', () => say('peer close'));
    await client.close();
    await server.close();
    say(`done ${client.state} ${peer.state} ${server.connections}`);
    process.on('exit', (code) => say(`exit ${code}`));
  },

  // Everything open, but unref'd. The unref'd timer below fires only while something else holds the
  // loop, so "held" proves the open transports did, and the exit afterwards proves unref() let go.
  async unref() {
    const { server, client, peer } = await pair();
    peer.on('message', (m) => peer.send(m));
    client.send('ping');
    say(`got ${(await nextMessage(client)).toString()}`);
    client.on('close', () => say('client close'));
    peer.on('close', () => say('peer close'));
    setTimeout(() => {
      say('held');
      client.unref();
      peer.unref();
      server.unref();
    }, 100).unref();
    process.on('exit', (code) => say(`exit ${code} ${client.state} ${peer.state} ${server.listening}`));
  },

  // process.exit() while a server, two transports and unwritten data to a peer that is not reading
  // are all open.
  async 'exit-open'() {
    const { client, peer } = await pair({ writableHighWaterMark: 64 * 1024 });
    peer.pause();
    const chunk = Buffer.alloc(32 * 1024, 7);
    let sent = 0;
    while (client.send(chunk)) sent++;
    for (let i = 0; i < 64; i++) client.send(chunk);
    say(`buffered ${client.stats.bufferedBytes > 0}`);
    process.exit(Number(extra));
  },

  // process.exit() from inside a 'message' listener, that is, inside a call from native code.
  async 'exit-in-callback'() {
    const { client, peer } = await pair();
    peer.on('message', (m) => {
      say(`got ${m.toString()}`);
      process.exit(Number(extra));
    });
    for (let i = 0; i < 100; i++) client.send(`frame ${i}`);
  },

  // Closed transports that nobody references are collected, native handles included.
  async gc() {
    const native = require(path.join(path.dirname(dist), 'native.js'));
    const Original = native.NativeStream;
    let nativeCreated = 0;
    let nativeCollected = 0;
    const nativeRegistry = new FinalizationRegistry(() => nativeCollected++);
    // Counts every native handle the package creates, without keeping any of them alive.
    native.NativeStream = new Proxy(Original, {
      construct(target, args) {
        const h = new target(...args);
        nativeCreated++;
        nativeRegistry.register(h, null);
        return h;
      },
    });
    let collected = 0;
    const registry = new FinalizationRegistry(() => collected++);
    const n = Number(extra);
    const server = await ipc.listen(endpoint);
    let received = 0;
    server.on('connection', (t) => {
      registry.register(t, null);
      t.on('message', () => received++);
    });
    // In its own function, so no suspended frame of this one still holds the last transport.
    const cycle = async (i) => {
      const c = await ipc.connect(endpoint);
      registry.register(c, null);
      c.on('message', () => {});
      c.send(Buffer.alloc(100, i));
      await c.close();
    };
    for (let i = 0; i < n; i++) await cycle(i);
    while (server.connections > 0) await new Promise((r) => setTimeout(r, 5));
    await server.close();
    say(`received ${received}`);
    // The server's own native handle is still referenced here (by `server`): at least all but it go.
    for (let i = 0; i < 200 && (collected < 2 * n || nativeCollected < nativeCreated - 1); i++) {
      global.gc();
      await new Promise((r) => setTimeout(r, 5));
    }
    say(`collected ${collected} of ${2 * n}`);
    say(`native ${nativeCollected} of ${nativeCreated}`);
  },
};

modes[mode]().catch((e) => {
  say(`failed ${e && e.stack}`);
  process.exitCode = 99;
});
