export { connect } from './connect';
export { listen, Server } from './server';
export { Transport, type Peer, type TransportState, type TransportStats } from './transport';
export { TransportError, ErrorCodes } from './errors';
export { resolveEndpoint, type Endpoint, type ResolvedEndpoint } from './endpoint';
export { DEFAULTS, setBusyPoll, type ConnectOptions, type ListenOptions, type TransportOptions, type Framing } from './config';
export { MAX_UNIX_PATH } from './unix';
export { busyPollStats } from './busy-poll';
