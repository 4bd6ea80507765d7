'use strict';
// A process that is the child of a test and speaks through openStdio:
//   echo [framing]       echoes every frame; exits when stdin ends
//   flood N              sends N lines, then process.exit(0) at once
//   console              writes with console.log (sent to stderr), then sends one frame and closes
//   after-close          echoes one frame, closes the transport, then writes to fd 1 directly
const fs = require('node:fs');
const path = require('node:path');
const { openStdio } = require(path.join(__dirname, '..', '..', 'dist', 'index.js'));

const [mode, arg] = process.argv.slice(2);
switch (mode) {
  case 'echo': {
    const t = openStdio({ framing: arg || 'lines' });
    t.on('message', (f) => t.send(f));
    break;
  }
  case 'flood': {
    const t = openStdio();
    const n = Number(arg);
    for (let i = 0; i < n; i++) t.send(`frame ${i} ${'x'.repeat(100)}`);
    // Exits with most of it still queued: the exit hook must write it all.
    process.exit(0);
    break;
  }
  case 'console': {
    const t = openStdio({ consoleToStderr: true });
    console.log('a console.log line');
    console.info('a console.info line');
    t.send('the only frame');
    t.close();
    break;
  }
  case 'after-close': {
    const t = openStdio();
    t.once('message', async (f) => {
      t.send(f);
      await t.close();
      // The process's own stdout is still open: only the transport's duplicate was closed.
      fs.writeSync(1, 'written to fd 1 after close\n');
      process.exit(0);
    });
    break;
  }
  default:
    process.exit(2);
}
