'use strict';

// `npm run bench`: every scenario, then one table with absolute numbers and ratios (ours against
// node:net and against the C floor), the busy-polling table (ours with busyPoll on against off,
// node:net and a polling C floor; at most 3 rounds), the child-process table (spawnStdio against
// child_process.spawn; at most 3 rounds), the resilience table (reconnecting() and resume against a
// bare transport and node:net), peak RSS, and the targets. Writes
// everything, raw runs included, to bench/results/latest.json. It only reports: a slow number
// never fails the run; a crashed or hung case does (exit code 1).
//
//   node bench/run.js            five interleaved rounds per case, medians reported
//   node bench/run.js --quick    one round
//   BENCH_ROUNDS=5 node bench/run.js

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { buildFloor, HAS_TASKSET } = require('./lib/procs.js');
const { benchOptions } = require('./lib/scenario.js');
const { printReport } = require('./lib/report.js');

const SCENARIOS = ['rtt', 'throughput-send', 'throughput-recv', 'large-frames', 'busy-poll', 'stdio', 'resilience'];
const RESULTS = path.join(__dirname, 'results', 'latest.json');

async function main() {
  const started = Date.now();
  buildFloor();
  const options = benchOptions();
  const notes = [];
  if (!HAS_TASKSET) notes.push('taskset not found: processes ran unpinned');
  if (options.skipOurs) notes.push(`ours skipped: ${options.skipOurs}`);
  for (const note of notes) options.log(note);

  const sections = [];
  for (const name of SCENARIOS) {
    options.log(`${name}:`);
    sections.push(...(await require(`./${name}.js`).run(options)));
  }

  const seconds = (Date.now() - started) / 1e3;
  console.log(`symphony-ipc-transport benchmarks: Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ` +
    `${options.rounds} round(s) per case, medians; ${seconds.toFixed(0)} s`);
  const targets = printReport(sections);

  fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
  const json = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().map((c) => c.model),
    pinned: HAS_TASKSET,
    rounds: options.rounds,
    seconds,
    notes,
    sections,
    targets,
  };
  fs.writeFileSync(RESULTS, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), RESULTS)}`);

  const crashed = sections.some((s) => Object.values(s.cases).some((c) => c.error));
  process.exitCode = crashed ? 1 : 0;
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exitCode = 1;
});
