// Placeholder: createPool() is being written (issue 4). The types below are the agreed interface.
import { EventEmitter } from 'node:events';
import type { ConnectOptions } from './config';
import type { Endpoint } from './endpoint';
import type { HealthOptions } from './health';
import type { Transport } from './transport';

export interface PoolOptions extends ConnectOptions {
  min?: number;
  max?: number;
  idleTimeout?: number;
  maxLifetime?: number;
  acquireTimeout?: number;
  maxWaiting?: number;
  validate?: (t: Transport) => boolean | Promise<boolean>;
  health?: HealthOptions | boolean;
}

export interface PoolStats {
  size: number;
  idle: number;
  inUse: number;
  waiting: number;
  created: number;
  destroyed: number;
  reuseRatio: number;
}

export class Pool extends EventEmitter {}

export function createPool(_endpoint: Endpoint | (() => Promise<Transport>), _options?: PoolOptions): Pool {
  throw new Error('createPool() is not written yet');
}
