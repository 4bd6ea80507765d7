// A real language server from npm (vscode-json-languageserver) over spawnStdio with content-length
// framing, driven by vscode-jsonrpc's MessageConnection through our adapters.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnStdio } from '../dist/index.js';
import { createMessageConnection } from '../dist/jsonrpc.js';

const SERVER = path.join(__dirname, '..', 'node_modules', 'vscode-json-languageserver', 'bin', 'vscode-json-languageserver');

describe('language server over stdio', () => {
  it('initialize, diagnostics for a broken document, shutdown and exit with code 0', async () => {
    const t = spawnStdio(process.execPath, [SERVER, '--stdio'], { framing: 'content-length' });
    const connection = createMessageConnection(t);
    const diagnostics = new Promise<{ uri: string; diagnostics: { message: string }[] }>((resolve) => {
      connection.onNotification('textDocument/publishDiagnostics', (params: { uri: string; diagnostics: { message: string }[] }) => {
        if (params.diagnostics.length > 0) resolve(params);
      });
    });
    // Requests the server makes of its client (configuration, capability registration) get empty answers.
    connection.onRequest(() => null);
    connection.listen();

    const init = (await connection.sendRequest('initialize', {
      processId: process.pid,
      rootUri: null,
      capabilities: {},
      initializationOptions: { provideFormatter: true },
    })) as { capabilities: Record<string, unknown> };
    expect(init.capabilities).toHaveProperty('textDocumentSync');
    await connection.sendNotification('initialized', {});

    const uri = 'file:///tmp/broken.json';
    await connection.sendNotification('textDocument/didOpen', {
      textDocument: { uri, languageId: 'json', version: 1, text: '{ "a": 1, "b": }' },
    });
    const published = await diagnostics;
    expect(published.uri).toBe(uri);
    expect(published.diagnostics.length).toBeGreaterThan(0);

    await connection.sendRequest('shutdown');
    await connection.sendNotification('exit');
    expect(await t.exited).toEqual({ code: 0, signal: null });
    connection.dispose();
    await t.close();
    expect(t.state).toBe('closed');
  }, 30_000);
});
