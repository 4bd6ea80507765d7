'use strict';

// Turns measured sections into the printed report: absolute numbers, ratios against node:net
// and the C floor, peak RSS, and the targets with their measured ratio. It only reports; a
// missed target is a line in the table, never a failure.

const { IMPL_LABEL } = require('./scenario.js');

// The ratio is always ours / other on the named metric; `op` says which side of the threshold
// meets the target.
const TARGETS = [
  { label: 'send 64 B frames/s vs node:net', section: 'send-64', metric: 'rate', against: 'net', op: '>=', threshold: 10 },
  { label: 'receive 64 B frames/s vs node:net', section: 'recv-64', metric: 'rate', against: 'net', op: '>=', threshold: 1.3 },
  { label: '64 KiB bytes/s vs C floor', section: 'large-64k', metric: 'gbps', against: 'c', op: '>=', threshold: 0.9 },
  { label: 'RTT one CPU p50 vs node:net', section: 'rtt-one-cpu', metric: 'p50', against: 'net', op: '<=', threshold: 0.6 },
  { label: 'RTT one CPU p99.9 vs node:net', section: 'rtt-one-cpu', metric: 'p999', against: 'net', op: '<=', threshold: 0.5 },
  { label: 'RTT across CPUs p50 vs C floor', section: 'rtt-across-cpus', metric: 'p50', against: 'c', op: '<=', threshold: 1.1 },
];

function fmt(value) {
  if (value == null) return '-';
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function ratio(section, metric, against) {
  const ours = section?.cases.ours?.median?.[metric];
  const other = section?.cases[against]?.median?.[metric];
  return ours != null && other ? ours / other : null;
}

function evaluateTargets(sections) {
  const byId = Object.fromEntries(sections.map((s) => [s.id, s]));
  return TARGETS.map((t) => {
    const section = byId[t.section];
    const measured = ratio(section, t.metric, t.against);
    let status = 'not measured';
    if (measured != null) status = (t.op === '>=' ? measured >= t.threshold : measured <= t.threshold) ? 'met' : 'missed';
    return { ...t, target: `${t.op} ${t.threshold}x`, measured, status };
  });
}

function cell(entry, key) {
  if (!entry) return '';
  if (entry.skipped) return 'n/a';
  if (entry.error && !entry.median) return 'FAILED';
  return fmt(entry.median?.[key]);
}

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  '))
    .join('\n');
}

function printReport(sections, { print = console.log } = {}) {
  const rows = [['', 'ours', IMPL_LABEL.net, IMPL_LABEL.c, 'ours/net', 'ours/C']];
  for (const s of sections) {
    rows.push([s.title, '', '', '', '', '']);
    for (const m of s.metrics) {
      const r = (against) => (s.cases[against] ? fmt(ratio(s, m.key, against)) + (ratio(s, m.key, against) == null ? '' : 'x') : '');
      rows.push([`  ${m.label} (${m.unit}, ${m.better} is better)`, cell(s.cases.ours, m.key), cell(s.cases.net, m.key), cell(s.cases.c, m.key), r('net'), r('c')]);
    }
  }
  print('');
  print(table(rows));

  const rssRows = [['Peak RSS of the measured process (MiB)', 'ours', IMPL_LABEL.net, 'ours/net']];
  for (const s of sections) {
    const ours = s.cases.ours?.rssKiB;
    const net = s.cases.net?.rssKiB;
    if (ours == null && net == null) continue;
    rssRows.push([`  ${s.title}`, ours == null ? 'n/a' : fmt(ours / 1024), net == null ? '-' : fmt(net / 1024), ours && net ? `${fmt(ours / net)}x` : '']);
  }
  print('');
  print(table(rssRows));

  const targets = evaluateTargets(sections);
  const targetRows = [['Target (ratio = ours / other)', 'target', 'measured', 'result']];
  for (const t of targets) targetRows.push([`  ${t.label}`, t.target, t.measured == null ? '-' : `${fmt(t.measured)}x`, t.status]);
  print('');
  print(table(targetRows));

  const problems = [];
  for (const s of sections) {
    for (const [impl, entry] of Object.entries(s.cases)) {
      if (entry.skipped) problems.push(`${IMPL_LABEL[impl]} skipped: ${entry.skipped}`);
      if (entry.error) problems.push(`${s.id} ${IMPL_LABEL[impl]}: FAILED: ${entry.error}`);
    }
  }
  if (problems.length) {
    print('');
    for (const p of [...new Set(problems)]) print(p);
  }
  return targets;
}

module.exports = { TARGETS, evaluateTargets, printReport };
