// Callbacks from the native engine run through MakeCallback in an async context (STYLE.md, "The native
// boundary"), so AsyncLocalStorage and async_hooks see each transport's events where it was created,
// and an exception thrown by a listener reaches the process as uncaught instead of vanishing.
import { spawnSync } from 'node:child_process';
import { AsyncLocalStorage } from 'node:async_hooks';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, listen } from '../dist/index.js';
import { cleanupAll, tempDir } from './helpers/common';

afterEach(cleanupAll);

function sock(): string {
  return `unix:${path.join(tempDir('ipc-als-'), 's.sock')}`;
}

describe('async context', () => {
  it("keeps the AsyncLocalStorage store of connect() and listen() in each side's events", async () => {
    const als = new AsyncLocalStorage<string>();
    const endpoint = sock();
    const seen: string[] = [];
    const server = await als.run('server', () => listen(endpoint));
    const done = new Promise<void>((resolve) => {
      server.on('connection', (t) => {
        seen.push(`connection:${als.getStore()}`);
        t.on('message', (f: Buffer) => {
          seen.push(`server-message:${als.getStore()}`);
          t.send(f);
        });
      });
      void als.run('client', async () => {
        const t = await connect(endpoint);
        t.on('message', () => {
          seen.push(`client-message:${als.getStore()}`);
          void t.close().then(resolve);
        });
        // Sent from outside the store: what matters is where the transport was made.
        als.exit(() => t.send('ping'));
      });
    });
    await done;
    await server.close();
    expect(seen).toEqual(['connection:server', 'server-message:server', 'client-message:client']);
  });

  it('an exception thrown by a message listener is uncaught, and the transport keeps working', () => {
    // In a child process, so the uncaught exception is the child's to report.
    const script = `
      const { connect, listen } = require(${JSON.stringify(path.resolve(__dirname, '..', 'dist', 'index.js'))});
      const endpoint = ${JSON.stringify(sock())};
      let uncaught = 0;
      process.on('uncaughtException', (err) => { uncaught++; console.log('uncaught:' + err.message); });
      (async () => {
        const server = await listen(endpoint);
        server.on('connection', (t) => t.on('message', (f) => t.send(f)));
        const t = await connect(endpoint);
        let n = 0;
        t.on('message', (f) => {
          n++;
          if (n === 1) throw new Error('listener failed on ' + f.toString());
          console.log('second:' + f.toString() + ' uncaught=' + uncaught);
          t.close().then(() => server.close());
        });
        t.send('one');
        setTimeout(() => t.send('two'), 20);
      })();
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stdout.trim().split('\n')).toEqual(['uncaught:listener failed on one', 'second:two uncaught=1']);
    expect(r.status).toBe(0);
  });
});
