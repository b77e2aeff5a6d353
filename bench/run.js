#!/usr/bin/env node
// rondo's benchmark suite: `npm run bench` (the full run, written to BENCHMARKS.md) or
// `npm run bench -- --quick` (a short run, under a minute, printed only).
//
//   node bench/run.js [--quick] [--out FILE] [--group write|read|export|server|capture|reference|ingest|codec|backup|hooks|events ...] [--no-prometheus]
//
// Each group measures rondo's operations next to their peers in the same run, in rounds; it
// prints a markdown table per group with the median and p99 per operation, the throughput, and
// the ratios to each peer and to the physical limit, after a table of rondo's performance targets.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { machine } = require('./lib/harness');
const { render, NOTES_MARKER } = require('./lib/report');

const GROUPS = {
  write: require('./write'),
  read: require('./read'),
  export: require('./export'),
  server: require('./server'),
  capture: require('./capture'),
  reference: require('./reference'),
  ingest: require('./ingest'),
  codec: require('./codec'),
  backup: require('./backup'),
  hooks: require('./hooks'),
  events: require('./events'),
};
const ROOT = path.join(__dirname, '..');
const USAGE = `usage: node bench/run.js [--quick] [--out FILE] [--group write|read|export|server|capture|reference|ingest|codec|backup|hooks|events]... [--no-prometheus]

  --quick          a short run (under a minute): fewer rounds and samples; printed, and written
                   only with --out
  --out FILE       write the report to FILE (default for a full run of every group: BENCHMARKS.md)
  --group G        run only group G (write, read, export, server, capture, reference, ingest, codec,
                   backup, hooks or events); may be given more than once. reference: rondo beside the Rust rondo's own bench
                   binary, named by RONDO_REFERENCE_BIN (skipped, with the reason printed, when it
                   is not set). ingest: Influx line protocol in (TCP, HTTP, UDP) and InfluxQL out,
                   beside InfluxDB (/usr/bin/influxd) and VictoriaMetrics; a peer whose binary is
                   missing, or a door this build of rondo serve lacks, is left out with the reason
  --no-prometheus  leave out the push to a real Prometheus`;

function parseArgs(argv) {
  const o = { quick: false, out: undefined, groups: [], prometheus: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--no-prometheus') o.prometheus = false;
    else if (a === '--out' && i + 1 < argv.length) o.out = argv[++i];
    else if (a === '--group' && i + 1 < argv.length && argv[i + 1] in GROUPS) o.groups.push(argv[++i]);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown or incomplete option "${a}"\n${USAGE}\n`);
      process.exit(2);
    }
  }
  // Only a full run of every group replaces BENCHMARKS.md unless told where to write.
  if (o.out === undefined && !o.quick && o.groups.length === 0) o.out = path.join(ROOT, 'BENCHMARKS.md');
  if (o.groups.length === 0) o.groups = Object.keys(GROUPS);
  return o;
}

/** How the run was asked for, as a reader would type it. */
function commandLine(argv) {
  const args = argv.join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args ? ` -- ${args}` : ''}`;
  return `node bench/run.js${args ? ` ${args}` : ''}`;
}

/** Writes the report to file, keeping what follows NOTES_MARKER in the file it replaces. */
function writeReport(file, markdown) {
  let kept = `${NOTES_MARKER}\n`;
  try {
    const old = fs.readFileSync(file, 'utf8');
    const at = old.indexOf(NOTES_MARKER);
    if (at >= 0) kept = old.slice(at);
  } catch {
    // a new file
  }
  fs.writeFileSync(file, `${markdown}\n${kept}`);
}

async function main() {
  const argv = process.argv.slice(2);
  const opts = parseArgs(argv);
  const started = new Date();
  const m = machine();
  const tty = process.stderr.isTTY === true;
  const progress = (what) => {
    if (tty) process.stderr.write(`\r\x1b[2Kbench: ${what}`);
  };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-bench-'));
  const groups = [];
  let receivers;
  try {
    for (const id of opts.groups) {
      process.stderr.write(`${tty ? '\r\x1b[2K' : ''}bench: ${id}…${tty ? '' : '\n'}`);
      const g = await GROUPS[id].run({ quick: opts.quick, tmp, progress: (w) => progress(`${id}: ${w}`), prometheus: opts.prometheus });
      for (const c of g.cases) c.summary = c.samples.summary();
      groups.push(g);
    }
  } finally {
    if (tty) process.stderr.write('\r\x1b[2K');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const push = groups.find((g) => g.id === 'export')?.cases.find((c) => c.name.includes('Prometheus'));
  if (push) receivers = push.name.match(/Prometheus [^ ]+/)?.[0];
  const markdown = render({
    machine: m,
    command: commandLine(argv),
    started,
    seconds: (Date.now() - started.getTime()) / 1000,
    quick: opts.quick,
    groups,
    receivers,
  });
  process.stdout.write(`${markdown}\n`);
  if (opts.out !== undefined) {
    writeReport(opts.out, markdown);
    process.stderr.write(`bench: written to ${path.relative(process.cwd(), opts.out) || opts.out}\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`bench: ${e?.stack ?? e}\n`);
  process.exit(1);
});
