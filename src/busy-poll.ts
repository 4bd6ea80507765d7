import { busyPollStats as nativeStats } from './native';

export interface BusyPollStats {
  /** Whether the event loop is busy polling right now. */
  active: boolean;
  /** Milliseconds this thread's event loop has spent busy polling, in all. */
  pollTime: number;
}

/** Busy-polling figures for this thread's event loop (every transport together). */
export function busyPollStats(): BusyPollStats {
  const [active, pollTime] = nativeStats();
  return { active, pollTime };
}
