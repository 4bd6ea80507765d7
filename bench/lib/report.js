'use strict';

// Turns measured sections into the printed report: absolute numbers, ratios against node:net
// and the C floor, peak RSS, and the targets with their measured ratio. It only reports; a
// missed target is a line in the table, never a failure.
//
// A section may bring its own table and targets (busy-poll.js does: ours against ours with the
// option off, and a polling C floor):
//   table:   { heading, columns: [{ impl, label }], ratios: [{ of, to, label }] }; sections with
//            the same heading share one table, printed after the main one, and stay out of the
//            main and RSS tables
//   targets: [{ label, metric, against, op, threshold }], ratio ours / against; or without
//            `against`, an absolute bound on ours' value, in `unit`

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

function ratioOf(section, metric, of, to) {
  const a = section?.cases[of]?.median?.[metric];
  const b = section?.cases[to]?.median?.[metric];
  return a != null && b ? a / b : null;
}

function ratio(section, metric, against) {
  return ratioOf(section, metric, 'ours', against);
}

function meets(value, op, threshold) {
  if (op === '<') return value < threshold;
  if (op === '>') return value > threshold;
  return op === '>=' ? value >= threshold : value <= threshold;
}

function evaluateTargets(sections) {
  const byId = Object.fromEntries(sections.map((s) => [s.id, s]));
  const own = sections.flatMap((s) => (s.targets ?? []).map((t) => ({ ...t, section: s.id })));
  return [...TARGETS, ...own].map((t) => {
    const section = byId[t.section];
    const absolute = t.against == null;
    const measured = absolute ? (section?.cases.ours?.median?.[t.metric] ?? null) : ratio(section, t.metric, t.against);
    let status = 'not measured';
    if (measured != null) status = meets(measured, t.op, t.threshold) ? 'met' : 'missed';
    return { ...t, target: absolute ? `${t.op} ${t.threshold} ${t.unit}` : `${t.op} ${t.threshold}x`, measured, status };
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

// One table for the sections that share a `table` heading: their own columns and ratios.
function ownTable(heading, sections) {
  const { columns, ratios } = sections[0].table;
  const rows = [[heading, ...columns.map((c) => c.label), ...ratios.map((r) => r.label)]];
  for (const s of sections) {
    rows.push([s.title, ...columns.map(() => ''), ...ratios.map(() => '')]);
    for (const m of s.metrics) {
      const r = ({ of, to }) => {
        if (!s.cases[of] || !s.cases[to]) return '';
        const value = ratioOf(s, m.key, of, to);
        return value == null ? '-' : `${fmt(value)}x`;
      };
      rows.push([`  ${m.label} (${m.unit}, ${m.better} is better)`, ...columns.map((c) => cell(s.cases[c.impl], m.key)), ...ratios.map(r)]);
    }
  }
  return table(rows);
}

function printReport(allSections, { print = console.log } = {}) {
  const sections = allSections.filter((s) => !s.table);
  const grouped = new Map();
  for (const s of allSections) {
    if (s.table) grouped.set(s.table.heading, [...(grouped.get(s.table.heading) ?? []), s]);
  }

  const rows = [['', 'ours', IMPL_LABEL.net, IMPL_LABEL.c, 'ours/net', 'ours/C']];
  for (const s of sections) {
    rows.push([s.title, '', '', '', '', '']);
    for (const m of s.metrics) {
      const r = (against) => (s.cases[against] ? fmt(ratio(s, m.key, against)) + (ratio(s, m.key, against) == null ? '' : 'x') : '');
      rows.push([`  ${m.label} (${m.unit}, ${m.better} is better)`, cell(s.cases.ours, m.key), cell(s.cases.net, m.key), cell(s.cases.c, m.key), r('net'), r('c')]);
    }
  }
  if (sections.length) {
    print('');
    print(table(rows));
  }
  for (const [heading, group] of grouped) {
    print('');
    print(ownTable(heading, group));
  }

  const rssRows = [['Peak RSS of the measured process (MiB)', 'ours', IMPL_LABEL.net, 'ours/net']];
  for (const s of sections) {
    const ours = s.cases.ours?.rssKiB;
    const net = s.cases.net?.rssKiB;
    if (ours == null && net == null) continue;
    rssRows.push([`  ${s.title}`, ours == null ? 'n/a' : fmt(ours / 1024), net == null ? '-' : fmt(net / 1024), ours && net ? `${fmt(ours / net)}x` : '']);
  }
  if (rssRows.length > 1) {
    print('');
    print(table(rssRows));
  }

  const targets = evaluateTargets(allSections);
  const targetRows = [['Target (ratio = ours / other)', 'target', 'measured', 'result']];
  for (const t of targets) {
    const measured = t.measured == null ? '-' : t.against == null ? `${fmt(t.measured)} ${t.unit}` : `${fmt(t.measured)}x`;
    targetRows.push([`  ${t.label}`, t.target, measured, t.status]);
  }
  print('');
  print(table(targetRows));

  const problems = [];
  for (const s of allSections) {
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
