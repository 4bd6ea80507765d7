// The CommonJS build and its ESM wrapper: both load without warnings, share one copy of every class,
// and the package's `exports` map resolves each condition when installed under node_modules.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupAll, killChildren, runNode, tempDir } from './helpers/common';
import { DIST_CJS, DIST_ESM, HELPERS, ROOT } from './helpers/lifetime-util';

const CHILD = path.join(HELPERS, 'lifetime-formats.mjs');
afterEach(async () => {
  killChildren();
  await cleanupAll();
});

const dir = (): string => tempDir('sipc-fmt-');

// The public names every build must export (more may be added; both builds must then agree).
const EXPORTS = ['DEFAULTS', 'ErrorCodes', 'MAX_UNIX_PATH', 'Server', 'Transport', 'TransportError', 'connect', 'listen', 'resolveEndpoint'];

/** A temporary project with node_modules/symphony-ipc-transport linked to this package. */
function project(): string {
  const d = dir();
  fs.mkdirSync(path.join(d, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(d, 'node_modules', 'symphony-ipc-transport'), 'dir');
  fs.writeFileSync(path.join(d, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  return d;
}

describe('module formats', () => {
  it('require() of the CommonJS build works in a fresh process, with nothing on stderr', async () => {
    const code = `
      const ipc = require(${JSON.stringify(DIST_CJS)});
      const t = typeof ipc.connect + ' ' + typeof ipc.listen + ' ' + typeof ipc.Transport;
      console.log(t, Object.keys(ipc).filter((k) => k !== '__esModule').sort().join(','));`;
    const r = await runNode(['-e', code]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [kinds, names] = r.stdout.trim().split(/ (?=[^ ]*$)/);
    expect(kinds).toBe('function function function');
    expect(names!.split(',')).toEqual(expect.arrayContaining(EXPORTS));
  });

  it('import of the ESM build works in a fresh process, with nothing on stderr', async () => {
    const code = `
      const ipc = await import(${JSON.stringify(pathToFileURL(DIST_ESM).href)});
      console.log(typeof ipc.connect, typeof ipc.listen, typeof ipc.default.connect, Object.keys(ipc).filter((k) => k !== 'default').sort().join(','));`;
    const r = await runNode(['--input-type=module', '-e', code]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [kinds, names] = r.stdout.trim().split(/ (?=[^ ]*$)/);
    expect(kinds).toBe('function function function');
    expect(names!.split(',')).toEqual(expect.arrayContaining(EXPORTS));
  });

  it('import and require share one copy of the classes: a transport from either is instanceof the other', async () => {
    const d = dir();
    const r = await runNode([CHILD, pathToFileURL(DIST_ESM).href, DIST_CJS, d], { cwd: d });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    // Every CommonJS export is also a named ESM export.
    expect(report.names).toEqual(report.cjsNames);
    expect(report.names).toEqual(expect.arrayContaining(EXPORTS));
    expect(report).toMatchObject({
      message: 'across formats',
      sameTransport: true,
      sameServer: true,
      clientIsEsmTransport: true,
      peerIsCjsTransport: true,
      serverIsCjsServer: true,
      errorIsEsmTransportError: true,
      errorCode: 'ENOENT',
      defaultIsCjs: true,
    });
  });

  it("the package's exports map resolves import and require by name from node_modules", async () => {
    const d = project();
    const r = await runNode([CHILD, 'symphony-ipc-transport', 'symphony-ipc-transport', d], { cwd: d });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.names).toEqual(report.cjsNames);
    expect(report).toMatchObject({ message: 'across formats', sameTransport: true, clientIsEsmTransport: true, defaultIsCjs: true });
    expect(report.esmResolved).toBe(pathToFileURL(path.join(ROOT, 'dist', 'index.mjs')).href);
    expect(report.cjsResolved).toBe(path.join(ROOT, 'dist', 'index.js'));
  });

  it('the exports map exposes package.json and hides internal files', async () => {
    const d = project();
    const code = `
      const pkg = require('symphony-ipc-transport/package.json');
      let hidden;
      try { require('symphony-ipc-transport/dist/transport.js'); hidden = 'loaded'; } catch (e) { hidden = e.code; }
      console.log(pkg.name, hidden);`;
    const r = await runNode(['-e', code], { cwd: d });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('symphony-ipc-transport ERR_PACKAGE_PATH_NOT_EXPORTED\n');
  });
});
