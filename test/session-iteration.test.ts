// A reconnecting transport and a resumable server session consumed the way a transport is: async
// iteration with a small readableHighWaterMark (the connection under them stops reading while the
// consumer lags), jsonMessages(), pause()/resume(), and frames that arrived before any listener.
import { afterEach, describe, expect, it } from 'vitest';
import { listen, reconnecting, type ReconnectingTransport, type Server, type Session } from '../dist/index.js';
import { cleanupAll, onCleanup, sleep, waitFor } from './helpers/common';
import { tempSockets } from './helpers/lifetime-util';

afterEach(cleanupAll);

async function pair(resume: boolean, hwm: number): Promise<{ client: ReconnectingTransport; session: Promise<Session> }> {
  const ep = tempSockets('sipc-si-').sock();
  const server: Server = await listen(ep, { resume, readableHighWaterMark: hwm });
  onCleanup(() => server.close());
  const session = new Promise<Session>((resolve) => server.once('connection', resolve));
  const client = reconnecting(ep, { resume, readableHighWaterMark: hwm });
  onCleanup(() => client.destroy());
  return { client, session };
}

describe.each([false, true])('Session consumed like a transport (resume: %s)', (resume) => {
  it('for await with a consumer slower than the sender: every frame, in order, once', async () => {
    const { client, session } = await pair(resume, 8);
    const N = 5000;
    let i = 0;
    const sendAll = async (): Promise<void> => {
      while (i < N) {
        const b = Buffer.alloc(8);
        b.writeUInt32BE(i++, 0);
        if (!client.send(b)) await new Promise((r) => client.once('drain', r));
      }
    };
    const sending = sendAll();
    const s = await session;
    const got: number[] = [];
    for await (const frame of s) {
      got.push(frame.readUInt32BE(0));
      // A consumer that takes its time every so often: the session must stop its connection reading.
      if (got.length % 500 === 0) await sleep(5);
      if (got.length === N) break;
    }
    await sending;
    expect(got).toEqual(Array.from({ length: N }, (_, k) => k));
    // Leaving the loop closed the session; the client follows (resume: a bye; plain: the peer's end).
    expect(s.state).toBe('closed');
  });

  it('jsonMessages() and frames sent before anyone listened', async () => {
    const { client, session } = await pair(resume, 1024);
    for (let k = 0; k < 10; k++) client.sendJson({ k });
    const s = await session;
    await sleep(20); // the frames have arrived; nobody listens yet
    const seen: unknown[] = [];
    for await (const value of s.jsonMessages()) {
      seen.push(value);
      if (seen.length === 10) break;
    }
    expect(seen).toEqual(Array.from({ length: 10 }, (_, k) => ({ k })));
  });

  it('pause() holds frames, resume() delivers them in order', async () => {
    const { client, session } = await pair(resume, 1024);
    const s = await session;
    const got: string[] = [];
    s.on('message', (m: Buffer) => got.push(m.toString()));
    s.pause();
    expect(s.isPaused).toBe(true);
    for (let k = 0; k < 20; k++) client.send(`m${k}`);
    await sleep(30);
    expect(got).toEqual([]);
    s.resume();
    await waitFor(() => got.length === 20, () => `got ${got.length}`);
    expect(got).toEqual(Array.from({ length: 20 }, (_, k) => `m${k}`));
  });
});
