// Child for test/module-formats.test.ts. argv: <esm specifier> <cjs specifier> <socket dir>
// Loads the package both ways, checks they share one copy, exchanges a frame, and prints a JSON report.
import { createRequire } from 'node:module';
import path from 'node:path';

const [esmSpec, cjsSpec, dir] = process.argv.slice(2);
const require = createRequire(path.join(process.cwd(), 'index.js'));
const esm = await import(esmSpec);
const cjs = require(cjsSpec);

const endpoint = `unix:${path.join(dir, 'formats.sock')}`;
// A server from the ESM export, a client from the CommonJS one.
const server = await esm.listen(endpoint);
const accepted = new Promise((resolve) => server.once('connection', resolve));
const client = await cjs.connect(endpoint);
const peer = await accepted;
const got = new Promise((resolve) => peer.once('message', (m) => resolve(m.toString())));
client.send('across formats');
const message = await got;
let refused = null;
try {
  await cjs.connect(`unix:${path.join(dir, 'nobody.sock')}`);
} catch (e) {
  refused = e;
}
await client.close();
await server.close();

const names = Object.keys(esm).filter((k) => k !== 'default').sort();
process.stdout.write(
  JSON.stringify({
    message,
    names,
    cjsNames: Object.keys(cjs).filter((k) => k !== '__esModule').sort(),
    sameTransport: esm.Transport === cjs.Transport,
    sameServer: esm.Server === cjs.Server,
    clientIsEsmTransport: client instanceof esm.Transport,
    peerIsCjsTransport: peer instanceof cjs.Transport,
    serverIsCjsServer: server instanceof cjs.Server,
    errorIsEsmTransportError: refused instanceof esm.TransportError,
    errorCode: refused && refused.code,
    defaultIsCjs: esm.default === cjs,
    esmResolved: import.meta.resolve(esmSpec),
    cjsResolved: require.resolve(cjsSpec),
  }) + '\n',
);
