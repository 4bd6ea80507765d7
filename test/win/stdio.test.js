'use strict';
// spawnStdio on Windows: the engine spawns node.exe itself with pipes for stdin and stdout (uv_spawn
// with UV_CREATE_PIPE) and frames both ways, as on Unix.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { spawnStdio } = require(path.join(__dirname, '..', '..', 'dist', 'index.js'));

// A child that echoes each line of stdin, written with plain Node.
const ECHO = `
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => {
  pending += c;
  let i;
  while ((i = pending.indexOf('\\n')) !== -1) {
    process.stdout.write(pending.slice(0, i) + '\\n');
    pending = pending.slice(i + 1);
  }
});
process.stdin.on('end', () => process.exit(5));
`;

test('a node.exe child echoes lines through spawnStdio, and close() collects its exit code', async () => {
  const t = spawnStdio(process.execPath, ['-e', ECHO]);
  assert.ok(t.pid > 0);
  const got = [];
  t.on('message', (f) => got.push(f.toString()));
  const sent = Array.from({ length: 300 }, (_, i) => `line ${i}`);
  for (const line of sent) t.send(line);
  while (got.length < sent.length) await new Promise((r) => setTimeout(r, 10));
  assert.deepStrictEqual(got, sent);
  await t.close();
  assert.deepStrictEqual(await t.exited, { code: 5, signal: null });
});

test('a command that does not exist throws ENOENT', () => {
  assert.throws(() => spawnStdio('C:\\\\no\\\\such\\\\program.exe'), (err) => err.code === 'ENOENT');
});
