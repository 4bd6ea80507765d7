'use strict';
// Shared by the Windows named-pipe tests: unique pipe names and the peer process (peer.js).
const { fork } = require('node:child_process');
const { once } = require('node:events');
const path = require('node:path');

let counter = 0;
/** A pipe name no other test (or earlier run) uses. */
function uniqueName(label) {
  return `symphony-win-${label}-${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Starts peer.js in a second node.exe process. `next(event)` resolves with the next report of that
 * kind (reports are queued, so none is missed); `exited` resolves with the exit code.
 */
function startPeer(role, name, framing = 'length-prefixed') {
  const child = fork(path.join(__dirname, 'peer.js'), [role, name, framing], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queues = new Map();
  const waiters = new Map();
  child.on('message', (msg) => {
    const w = waiters.get(msg.event);
    if (w && w.length > 0) w.shift()(msg);
    else {
      if (!queues.has(msg.event)) queues.set(msg.event, []);
      queues.get(msg.event).push(msg);
    }
  });
  const exited = once(child, 'exit').then(([code]) => code);
  const next = (event) => {
    const q = queues.get(event);
    if (q && q.length > 0) return Promise.resolve(q.shift());
    return new Promise((resolve, reject) => {
      if (!waiters.has(event)) waiters.set(event, []);
      waiters.get(event).push(resolve);
      exited.then((code) => reject(new Error(`peer ${role} exited (code ${code}) before reporting '${event}'`)));
    });
  };
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    return exited;
  };
  return { child, next, exited, kill, send: (cmd) => child.send({ cmd }) };
}

/** Resolves with the first `count` 'message' frames of a transport. */
function collect(t, count) {
  const frames = [];
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      frames.push(Buffer.from(m));
      if (frames.length === count) {
        t.off('message', onMessage);
        resolve(frames);
      }
    };
    t.on('message', onMessage);
    t.once('close', () => reject(new Error(`closed after ${frames.length} of ${count} frames`)));
  });
}

module.exports = { uniqueName, startPeer, collect };
