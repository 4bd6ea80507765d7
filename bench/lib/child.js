'use strict';

// What every measured child process of the benchmarks shares (bench/lib/peer.js, stdio-parent.js):
// printing its result, closing without hanging the run, and timing round trips with mitata.

const CLOSE_TIMEOUT_MS = 2000;

/** Prints the result as one JSON line on stdout, with this process's peak RSS. */
function report(result) {
  const { maxRSS } = process.resourceUsage();
  process.stdout.write(`${JSON.stringify({ ...result, maxRSSKiB: maxRSS })}\n`);
}

// Waits for close(), but not forever: how long a graceful close takes is not what these processes
// measure, and a close that never finishes must not hang the run.
function closeSoon(conn) {
  return Promise.race([conn.close(), new Promise((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref())]);
}

/**
 * Times `n` round trips after `warmup` unmeasured ones: one sample per round trip (batching off), so
 * the tail percentiles are real round trips, not averages over a batch; gc off, so mitata neither
 * forces collections nor allocates for them.
 */
async function measureRoundTrips(roundTrip, n, warmup) {
  const { measure } = await import('mitata');
  for (let i = 0; i < warmup; i++) await roundTrip();
  const stats = await measure(roundTrip, {
    gc: false,
    batch_threshold: 0,
    warmup_samples: 0,
    min_samples: n,
    max_samples: n,
    min_cpu_time: 0,
  });
  return { n: stats.samples.length, p50: stats.p50, p99: stats.p99, p999: stats.p999, mean: stats.avg };
}

module.exports = { report, closeSoon, measureRoundTrips };
