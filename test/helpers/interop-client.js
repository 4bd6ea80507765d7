// A client in its own process, for the peer-credential tests: connects with the package, prints the
// peer it sees (`PEER {json}`), sends one frame, prints the echo (`ECHO text`), then closes and exits.
'use strict';
const { connect } = require('../../dist/index.js');

async function main() {
  const t = await connect(process.argv[2]);
  console.log('PEER ' + JSON.stringify(t.peer));
  t.send(process.argv[3] || 'hello from child');
  for await (const frame of t) {
    console.log('ECHO ' + frame.toString());
    break;
  }
  await t.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
