'use strict';

// What every scenario file shares: run each implementation's case a few rounds (interleaved, so
// a noisy moment on the machine does not land on one implementation only), keep the median of
// each metric, and let a scenario file also run on its own (`node bench/rtt.js`).

const { buildFloor, HAS_TASKSET } = require('./procs.js');
const { oursUnavailable } = require('./transports.js');

// 'off' is ours again with an option turned off, for scenarios that compare ours with itself
// (busy polling on as 'ours', off as 'off').
// 'reconn' and 'resume' are ours behind reconnecting(), without and with resume (bench/resilience.js).
// 'cp' is child_process.spawn, the baseline of the stdio scenario (bench/stdio.js).
const IMPLS = ['ours', 'reconn', 'resume', 'off', 'net', 'cp', 'c'];
const IMPL_LABEL = {
  ours: 'ours',
  reconn: 'ours, reconnecting',
  resume: 'ours, resume',
  off: 'ours, off',
  net: 'node:net',
  cp: 'child_process',
  c: 'C floor',
};
const OURS_IMPLS = new Set(['ours', 'reconn', 'resume', 'off']);

function median(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function benchOptions(argv = process.argv.slice(2)) {
  const quick = argv.includes('--quick');
  const rounds = Number(process.env.BENCH_ROUNDS) || (quick ? 1 : 5);
  const skipOurs = oursUnavailable();
  return { rounds, skipOurs, log: (line) => process.stderr.write(`${line}\n`) };
}

// Runs one measurement (a table section). `metrics` lists { key, label, unit, better: 'lower' |
// 'higher' }. `extra` is copied onto the section as is (report.js reads `table` and `targets`
// from it). `cases` maps an implementation to a function that runs
// one round and returns { values: { metric: number }, rssKiB, raw }; a missing entry means the
// implementation has no such case (the C floor has no JS process to weigh, for instance).
async function measureCases({ id, title, metrics, cases, ...extra }, { rounds, skipOurs, log }) {
  const out = { id, title, metrics, ...extra, cases: {} };
  for (const impl of IMPLS) {
    if (!cases[impl]) continue;
    out.cases[impl] = OURS_IMPLS.has(impl) && skipOurs ? { skipped: skipOurs, runs: [] } : { runs: [] };
  }
  for (let round = 1; round <= rounds; round++) {
    for (const impl of Object.keys(out.cases)) {
      const entry = out.cases[impl];
      if (entry.skipped || entry.error) continue;
      log(`  ${id} ${IMPL_LABEL[impl]} (round ${round}/${rounds})`);
      try {
        entry.runs.push(await cases[impl]());
      } catch (err) {
        entry.error = err.message;
        log(`  ${id} ${IMPL_LABEL[impl]} FAILED: ${err.message}`);
      }
    }
  }
  for (const entry of Object.values(out.cases)) {
    if (entry.runs.length === 0) continue;
    entry.median = {};
    for (const m of metrics) entry.median[m.key] = median(entry.runs.map((r) => r.values[m.key]));
    entry.rssKiB = median(entry.runs.map((r) => r.rssKiB));
  }
  return out;
}

// For a scenario with a table of its own whose cases are slow: each section runs at most `maxRounds`
// rounds, and the table's heading (its 'ROUNDS' placeholder) says how many it ran.
function cappedSections(table, maxRounds, options) {
  const rounds = Math.min(options.rounds, maxRounds);
  const titled = { ...table, heading: table.heading.replace('ROUNDS', `${rounds} round(s), medians`) };
  return (spec) => measureCases({ ...spec, table: titled }, { ...options, rounds });
}

// Lets `node bench/<scenario>.js` print its own part of the report.
async function runStandalone(scenario) {
  const { printReport } = require('./report.js');
  buildFloor();
  const options = benchOptions();
  if (!HAS_TASKSET) options.log('taskset not found: processes run unpinned');
  if (options.skipOurs) options.log(`ours skipped: ${options.skipOurs}`);
  const sections = await scenario.run(options);
  printReport(sections);
  const crashed = sections.some((s) => Object.values(s.cases).some((c) => c.error));
  process.exitCode = crashed ? 1 : 0;
}

module.exports = { IMPLS, IMPL_LABEL, median, benchOptions, measureCases, cappedSections, runStandalone };
