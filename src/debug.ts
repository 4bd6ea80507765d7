import { channel } from 'node:diagnostics_channel';
import { debuglog } from 'node:util';

/** `NODE_DEBUG=symphony-ipc` prints the lifecycle of every transport and server to stderr. */
export const debug = debuglog('symphony-ipc');

/**
 * Lifecycle events on `node:diagnostics_channel`, as Node's own modules and undici publish them:
 * `symphony-ipc:transport:open` `{ transport }`, `symphony-ipc:transport:close` `{ transport, error }`,
 * `symphony-ipc:server:listen` `{ server }`, `symphony-ipc:server:close` `{ server }`.
 */
export const channels = {
  open: channel('symphony-ipc:transport:open'),
  close: channel('symphony-ipc:transport:close'),
  listen: channel('symphony-ipc:server:listen'),
  serverClose: channel('symphony-ipc:server:close'),
};
