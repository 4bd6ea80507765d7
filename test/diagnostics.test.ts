// Diagnostics: NODE_DEBUG=symphony-ipc prints the lifecycle to stderr, and the diagnostics_channel
// channels publish the objects concerned.
import diagnostics_channel from 'node:diagnostics_channel';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, listen, type Server, type Transport } from '../dist/index.js';
import { cleanupAll, killChildren, onCleanup, runNode, tempDir, waitFor } from './helpers/common';
import { DIST_CJS } from './helpers/lifetime-util';

afterEach(async () => {
  killChildren();
  await cleanupAll();
});

const dir = (): string => tempDir('sipc-diag-');

// Listens, connects, exchanges a frame, closes both ends and the server.
const LIFECYCLE = `
  const ipc = require(${JSON.stringify(DIST_CJS)});
  (async () => {
    const ep = 'unix:' + process.argv[1];
    const server = await ipc.listen(ep);
    const accepted = new Promise((r) => server.once('connection', r));
    const client = await ipc.connect(ep);
    const peer = await accepted;
    const got = new Promise((r) => peer.once('message', r));
    client.send('hello');
    await got;
    await client.close();
    await server.close();
    console.log('done');
  })();`;

describe('NODE_DEBUG=symphony-ipc', () => {
  it('prints the lifecycle of servers and transports to stderr', async () => {
    const file = path.join(dir(), 'debug.sock');
    const r = await runNode(['-e', LIFECYCLE, file], { env: { ...process.env, NODE_DEBUG: 'symphony-ipc' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('done\n');
    const lines = r.stderr.split('\n').filter(Boolean);
    const prefix = `SYMPHONY-IPC ${/^SYMPHONY-IPC (\d+):/.exec(lines[0] ?? '')?.[1]}: `;
    expect(lines.every((l) => l.startsWith(prefix))).toBe(true);
    const messages = lines.map((l) => l.slice(prefix.length));
    expect(messages[0]).toBe(`listening on ${file}`);
    // Both ends open, both close, and the server closes last.
    expect(messages.filter((m) => m === `open ${file}`)).toHaveLength(2);
    expect(messages.filter((m) => m === `closed ${file}`)).toHaveLength(2);
    expect(messages.filter((m) => m.startsWith('closing ') || m.startsWith('peer ended '))).not.toHaveLength(0);
    expect(messages.at(-1)).toBe(`server closed ${file}`);
    expect(messages.some((m) => m.startsWith('error'))).toBe(false);
  });

  it('prints nothing without NODE_DEBUG, and an error line with it when a connection fails', async () => {
    const file = path.join(dir(), 'quiet.sock');
    const env = { ...process.env };
    delete env.NODE_DEBUG;
    const quiet = await runNode(['-e', LIFECYCLE, file], { env });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');

    const failing = `
      const ipc = require(${JSON.stringify(DIST_CJS)});
      (async () => {
        const ep = 'unix:' + process.argv[1];
        const server = await ipc.listen(ep, { maxFrameSize: 10 });
        server.on('connection', (t) => t.on('error', () => {}));
        const client = await ipc.connect(ep);
        client.on('close', () => server.close());
        client.send('far more than ten bytes');
      })();`;
    const r = await runNode(['-e', failing, path.join(dir(), 'fail.sock')], { env: { ...process.env, NODE_DEBUG: 'symphony-ipc' } });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^SYMPHONY-IPC \d+: error .*ERR_IPC_FRAME_TOO_LARGE|^SYMPHONY-IPC \d+: error .*larger than maxFrameSize/m);
  });
});

describe('diagnostics_channel', () => {
  it('publishes server:listen, transport:open and transport:close with the right objects', async () => {
    const seen: { channel: string; message: Record<string, unknown> }[] = [];
    const names = ['symphony-ipc:server:listen', 'symphony-ipc:transport:open', 'symphony-ipc:transport:close', 'symphony-ipc:server:close'];
    for (const name of names) {
      const fn = (message: unknown): void => {
        seen.push({ channel: name.slice('symphony-ipc:'.length), message: message as Record<string, unknown> });
      };
      diagnostics_channel.subscribe(name, fn);
      onCleanup(() => diagnostics_channel.unsubscribe(name, fn));
    }

    const endpoint = `unix:${path.join(dir(), 'dc.sock')}`;
    const server: Server = await listen(endpoint);
    onCleanup(() => server.close());
    expect(seen).toEqual([{ channel: 'server:listen', message: { server } }]);
    expect(seen[0]!.message.server).toBe(server);

    const accepted = new Promise<Transport>((resolve) => server.once('connection', resolve));
    const client = await connect(endpoint);
    const peer = await accepted;
    const opens = seen.filter((s) => s.channel === 'transport:open').map((s) => s.message.transport);
    expect(opens).toHaveLength(2);
    expect(opens).toContain(client);
    expect(opens).toContain(peer);

    // A graceful close publishes error: null; a destroy with an error publishes that error.
    await client.close();
    await waitFor(() => peer.state === 'closed', 'the peer to close');
    await waitFor(() => seen.filter((s) => s.channel === 'transport:close').length === 2, 'two close messages');
    const closes = seen.filter((s) => s.channel === 'transport:close').map((s) => s.message);
    expect(closes).toHaveLength(2);
    expect(closes.map((m) => m.transport)).toContain(client);
    expect(closes.map((m) => m.transport)).toContain(peer);
    for (const m of closes) expect(m.error).toBeNull();

    const accepted2 = new Promise<Transport>((resolve) => server.once('connection', resolve));
    const failing = await connect(endpoint);
    const peer2 = await accepted2;
    failing.on('error', () => {});
    const err = new Error('boom');
    failing.destroy(err);
    await waitFor(() => failing.state === 'closed' && peer2.state === 'closed', 'both ends to close');
    await waitFor(() => seen.filter((s) => s.channel === 'transport:close').length === 4, 'four close messages');
    const failed = seen.filter((s) => s.channel === 'transport:close' && s.message.transport === failing);
    expect(failed).toEqual([{ channel: 'transport:close', message: { transport: failing, error: err } }]);
    expect(failed[0]!.message.error).toBe(err);

    await server.close();
    expect(seen.filter((s) => s.channel === 'server:close')).toEqual([{ channel: 'server:close', message: { server } }]);
    // Every channel message came once per object: 2 + 2 opens, 4 closes, one listen, one server close.
    expect(seen.map((s) => s.channel).sort()).toEqual(
      [...Array(4).fill('transport:open'), ...Array(4).fill('transport:close'), 'server:listen', 'server:close'].sort(),
    );
  });
});
