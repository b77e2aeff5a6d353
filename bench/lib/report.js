// The report: a markdown table per group (median and p99 per operation, throughput, the ratio
// to the limit), a table of ratios to each peer, and rondo's performance targets with the figures
// reached. BENCHMARKS.md is this report; text after NOTES_MARKER in it is kept on regeneration.
'use strict';

const NOTES_MARKER = '<!-- Text below this line is kept when `npm run bench` rewrites this file. -->';

/** A time in ns, in the unit that suits it, three significant digits or so. */
function fmtTime(ns) {
  if (!Number.isFinite(ns)) return '–';
  if (ns < 1000) return `${ns < 10 ? ns.toFixed(2) : ns < 100 ? ns.toFixed(1) : ns.toFixed(0)} ns`;
  const us = ns / 1000;
  if (us < 1000) return `${us < 10 ? us.toFixed(2) : us < 100 ? us.toFixed(1) : us.toFixed(0)} µs`;
  const ms = us / 1000;
  return `${ms < 10 ? ms.toFixed(2) : ms.toFixed(1)} ms`;
}

/** A rate with its unit, e.g. "188 M writes/s". */
function fmtRate(x, unit) {
  if (!Number.isFinite(x)) return '–';
  const [v, p] = x >= 1e9 ? [x / 1e9, 'G'] : x >= 1e6 ? [x / 1e6, 'M'] : x >= 1e3 ? [x / 1e3, 'k'] : [x, ''];
  const s = v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
  return `${s}${p ? ` ${p}` : ''} ${unit}`;
}

function fmtRatio(x) {
  if (!Number.isFinite(x)) return '–';
  return `${x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0)}×`;
}

/** "27× faster" when rondo takes less time than the peer, "2.0× slower" when more. */
function fmtVersus(rondoNs, peerNs) {
  if (!Number.isFinite(rondoNs) || !Number.isFinite(peerNs)) return '–';
  return rondoNs <= peerNs ? `${fmtRatio(peerNs / rondoNs)} faster` : `${fmtRatio(rondoNs / peerNs)} slower`;
}

function table(head, rows, align) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (align[i] === 'r' ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

/** The markdown of one group: the figures, then the ratios of rondo's rows to each peer and limit. */
function renderGroup(g) {
  const out = [`## ${g.title}`, ''];
  const limit = g.cases.find((c) => c.kind === 'limit');
  const perOp = g.perOp ?? 'operation';
  const head = ['operation', 'kind', `median per ${perOp}`, `p99 per ${perOp}`, 'throughput at the median', 'throughput overall'];
  if (limit) head.push(`÷ ${limit.short}`);
  const rows = g.cases.map((c) => {
    const s = c.summary;
    const cells = [c.name, c.kind, fmtTime(s.medianNs), fmtTime(s.p99Ns), fmtRate(s.throughput, c.unit), fmtRate(s.overall, c.unit)];
    if (limit) cells.push(c.kind === 'limit' || !c.unit.startsWith('writes') && !c.unit.startsWith('values') ? '–' : fmtRatio(s.medianNs / limit.summary.medianNs));
    return cells;
  });
  out.push(table(head, rows, head.map((_, i) => (i < 2 ? 'l' : 'r'))));
  const refs = g.cases.filter((c) => c.kind === 'peer' || c.kind === 'limit');
  const ours = g.cases.filter((c) => c.kind === 'rondo' && !c.noRatio);
  if (refs.length > 0 && ours.length > 0 && ours.every((c) => c.figure !== undefined) && refs.every((c) => c.figure !== undefined)) {
    // Cases of one shape each side (the reference group): each rondo case against its own peer.
    out.push('', 'Ratios, median against median, each shape against the same shape of the reference.', '');
    const rr = ours.map((c) => {
      const p = refs.find((x) => x.figure === c.figure);
      return [c.name, p ? fmtTime(c.summary.medianNs) : '–', p ? fmtTime(p.summary.medianNs) : '–', p ? fmtVersus(c.summary.medianNs, p.summary.medianNs) : '–'];
    });
    out.push(table(['shape', 'rondo', 'reference', 'rondo is'], rr, ['l', 'r', 'r', 'r']));
  } else if (refs.length > 0 && ours.length > 0) {
    out.push('', `Ratios, median against median: how much faster (or slower) each rondo operation is than each ${refs.some((c) => c.kind === 'peer') ? 'peer' : 'reference'}${limit ? ', and how many times the limit it takes' : ''}.`, '');
    const rh = ['rondo operation', ...refs.map((c) => (c.kind === 'limit' ? `× ${c.short}` : `vs ${c.short}`))];
    const rr = ours.map((c) => [
      c.name,
      ...refs.map((p) => (p.kind === 'limit' ? fmtRatio(c.summary.medianNs / p.summary.medianNs) : fmtVersus(c.summary.medianNs, p.summary.medianNs))),
    ]);
    out.push(table(rh, rr, rh.map((_, i) => (i === 0 ? 'l' : 'r'))));
  }
  if (g.pairs?.length) {
    // Figures of one shape on rondo and on peers (the ingest group): throughput against throughput.
    out.push('', 'Ratios, median against median: rondo beside each peer that took the same input in the same run (throughput at the median).', '');
    const rr = g.pairs.map(({ figure, ours, peer }) => [
      figure,
      fmtRate(ours.summary.throughput, ours.unit),
      peer.short,
      fmtRate(peer.summary.throughput, peer.unit),
      fmtVersus(1 / ours.summary.throughput, 1 / peer.summary.throughput),
    ]);
    out.push(table(['figure', 'rondo', 'peer', 'peer\'s figure', 'rondo is'], rr, ['l', 'r', 'l', 'r', 'r']));
  }
  // A group's own tables (markdown), after the figures: e.g. the codecs' bytes per point.
  for (const t of g.tables ?? []) out.push('', t);
  if (g.notes?.length) out.push('', ...g.notes.map((n) => `- ${n}`));
  return out.join('\n');
}

/**
 * rondo's performance targets, each with the figure reached here and whether it is met. The
 * reference figures are the Rust rondo's (the reference design), measured on this project's
 * 2-core machine on 2026-12-06: record() 5.4–5.8 ns, a 600-point query 2.1 µs, consolidate
 * 211 µs a tick; BENCHMARKS.md states them with the table.
 */
const REFERENCE = { recordNs: 5.4, queryNs: 2100 };

function targets(groups) {
  const find = (id, prefix) => groups.find((g) => g.id === id)?.cases.find((c) => c.name.startsWith(prefix))?.summary;
  const rows = [];
  const row = (what, target, figure, status) => rows.push([what, target, figure, status]);
  const ok = (b) => (b ? 'met' : 'missed');

  const r1 = find('write', '`record()`, 1 series');
  const r30 = find('write', '`record()`, 30 series round-robin');
  const rNew = find('write', '`record()`, 30 series, a new row every 30 writes');
  const cBare = find('write', 'C loop storing');
  const gauge = find('write', 'prom-client labelled `gauge.set');
  const native = find('write', 'native `rondo::Writer::Record` (C++), 1 thread');
  const batch = find('write', '`recordBatch()` of 30, per value');
  const frozen = find('write', '`recordBatch()` of 30, frozen');
  const shapes = [
    ['1 series', r1],
    ['30 round-robin', r30],
    ['30 with a new row every round', rNew],
  ].filter(([, r]) => r !== undefined);
  if (shapes.length > 0) {
    const fast = shapes.filter(([, r]) => r.medianNs < REFERENCE.recordNs).map(([n]) => n);
    const slow = shapes.filter(([, r]) => r.medianNs >= REFERENCE.recordNs).map(([n]) => n);
    row(
      'JS `record()`: 1 series, 30 round-robin in one row, 30 with a new row every round (the agent\'s shape)',
      `faster than the Rust rondo's record() (${REFERENCE.recordNs} ns)`,
      shapes.map(([n, r]) => `${n} ${fmtTime(r.medianNs)}`).join(', '),
      slow.length === 0 ? 'met' : fast.length === 0 ? 'missed' : `partly: ${fast.join(' and ')} met; ${slow.join(' and ')} not`,
    );
    if (cBare) {
      const within = shapes.filter(([, r]) => r.medianNs / cBare.medianNs <= 2.5).map(([n]) => n);
      const over = shapes.filter(([, r]) => r.medianNs / cBare.medianNs > 2.5).map(([n]) => n);
      row(
        '… within 2.5× of a bare C loop storing to the same mmap',
        '≤ 2.5×',
        `${shapes.map(([n, r]) => `${n} ${fmtRatio(r.medianNs / cBare.medianNs)}`).join(', ')} the C loop (${fmtTime(cBare.medianNs)})`,
        over.length === 0 ? 'met' : within.length === 0 ? 'missed' : `partly: ${within.join(' and ')} within; ${over.join(' and ')} not`,
      );
    }
    const worst = Math.max(...[r1, r30].filter((r) => r !== undefined).map((r) => r.medianNs));
    if (gauge && Number.isFinite(worst))
      row('… ≥ 10× faster than prom-client\'s labelled `gauge.set()`', '≥ 10×', `${fmtRatio(gauge.medianNs / worst)} (gauge.set: ${fmtTime(gauge.medianNs)})`, ok(gauge.medianNs / worst >= 10));
  }
  if (native) row('native record (C++, from a vCPU thread)', '≤ 4 ns', fmtTime(native.medianNs), ok(native.medianNs <= 4));
  if (batch && frozen)
    row(
      '`recordBatch` of 30 series at one timestamp',
      '≤ 3 ns per value',
      `${fmtTime(batch.medianNs)} (frozen array: ${fmtTime(frozen.medianNs)})`,
      batch.medianNs <= 3 ? 'met' : frozen.medianNs <= 3 ? 'partly: met with a frozen handles array, missed with a plain one' : 'missed',
    );
  // The reference design measured in this run, shape for shape, when its binary was there.
  const refGroup = groups.find((g) => g.id === 'reference');
  if (refGroup) {
    const pairs = refGroup.cases
      .filter((c) => c.kind === 'rondo')
      .map((c) => [c, refGroup.cases.find((p) => p.kind === 'peer' && p.figure === c.figure)])
      .filter(([, p]) => p !== undefined);
    for (const [c, p] of pairs)
      row(
        `${c.name}, against the Rust rondo in this run`,
        'faster than the reference',
        `${fmtTime(c.summary.medianNs)} against ${fmtTime(p.summary.medianNs)} (${fmtVersus(c.summary.medianNs, p.summary.medianNs)})`,
        ok(c.summary.medianNs < p.summary.medianNs),
      );
    if (pairs.length === 0) row('the reference design in this run', 'measured beside rondo', 'not measured: RONDO_REFERENCE_BIN is not set', 'missed');
  }
  const q = find('read', '`query()` of a 600-point');
  if (q) row('query of a 600-point window, values read', `faster than the Rust rondo's query (${fmtTime(REFERENCE.queryNs)})`, fmtTime(q.medianNs), ok(q.medianNs < REFERENCE.queryNs));
  const every = find('read', '`consolidate()` per tick');
  const both = find('read', '`consolidate()`, a tick that fills a 10 s and');
  if (every && both) {
    const worst = Math.max(every.p99Ns, both.medianNs);
    row(
      'consolidate, 30 series × 3 tiers, one tick',
      '≤ 50 µs',
      `median ${fmtTime(every.medianNs)}, p99 ${fmtTime(every.p99Ns)}; a tick filling a 10 s and a 5 min bucket: median ${fmtTime(both.medianNs)}, p99 ${fmtTime(both.p99Ns)}`,
      worst > 50_000 ? 'missed' : both.p99Ns > 50_000 ? 'met at the median (the p99 of the heaviest ticks is over)' : 'met',
    );
  }
  const enc = find('export', 'remote-write encode + snappy (rondo)');
  const pkg = find('export', '`prometheus-remote-write`');
  if (enc) row('remote-write encode + snappy', '≥ 2 M samples/s', fmtRate(enc.throughput, 'samples/s'), ok(enc.throughput >= 2e6));
  if (enc && pkg) row('… against the `prometheus-remote-write` package, same samples', '≥ 3×', `${fmtRatio(enc.throughput / pkg.throughput)} (package: ${fmtRate(pkg.throughput, 'samples/s')})`, ok(enc.throughput / pkg.throughput >= 3));
  const serverCase = (prefix) => groups.find((g) => g.id === 'server')?.cases.filter((c) => c.name.startsWith(prefix)) ?? [];
  const ranges = serverCase('`query_range` 1 h at 15 s');
  const rangeRondo = ranges.find((c) => c.kind === 'rondo')?.summary;
  if (rangeRondo) {
    const peers = ranges.filter((c) => c.kind !== 'rondo');
    const faster = peers.every((c) => c.summary.p99Ns > rangeRondo.p99Ns && c.summary.medianNs > rangeRondo.medianNs);
    row(
      '`query_range` of 1 h at 15 s over one series, over HTTP',
      'p99 < 1 ms, faster than Prometheus and VictoriaMetrics',
      `median ${fmtTime(rangeRondo.medianNs)}, p99 ${fmtTime(rangeRondo.p99Ns)}; ${peers.map((c) => `${c.short}: median ${fmtTime(c.summary.medianNs)}, p99 ${fmtTime(c.summary.p99Ns)}`).join('; ')}`,
      rangeRondo.p99Ns < 1e6 && faster ? 'met' : rangeRondo.p99Ns < 1e6 || faster ? `partly: ${rangeRondo.p99Ns < 1e6 ? 'p99 under 1 ms, not faster than every peer' : 'faster than the peers, p99 over 1 ms'}` : 'missed',
    );
  }
  const qps = serverCase('instant queries').find((c) => c.kind === 'rondo')?.summary;
  if (qps) row('instant queries per second, keep-alive connections', '≥ 10,000/s', fmtRate(qps.overall, 'queries/s'), ok(qps.overall >= 10_000));
  const recv = serverCase('remote-write receive').find((c) => c.kind === 'rondo')?.summary;
  if (recv) row('remote-write receive', '≥ 1 M samples/s', fmtRate(recv.overall, 'samples/s'), ok(recv.overall >= 1e6));
  // Influx line protocol over TCP (issue 16): ≥ 2 M points/s stored, ahead of InfluxDB and VictoriaMetrics.
  const ingest = groups.find((g) => g.id === 'ingest');
  if (ingest) {
    const tcp = ingest.cases.filter((c) => c.door === 'tcp');
    const http = ingest.cases.filter((c) => c.door === 'http');
    const ours = tcp.find((c) => c.kind === 'rondo')?.summary;
    const peers = [...tcp, ...http].filter((c) => c.kind === 'peer');
    // Each peer over TCP, or over HTTP when it has no TCP listener (InfluxDB 1.x).
    const best = new Map();
    for (const c of peers) if (!best.has(c.short)) best.set(c.short, c);
    const beside = [...best.values()].map((c) => `${c.short} ${fmtRate(c.summary.throughput, 'points/s')} (${c.door.toUpperCase()})`);
    if (ours === undefined) row('Influx line protocol over TCP into rondo serve', '≥ 2 M points/s stored, ahead of InfluxDB and VictoriaMetrics', `not measured: this build of rondo serve has no --influx-tcp${beside.length ? `; ${beside.join(', ')}` : ''}`, 'missed');
    else {
      const fast = ours.throughput >= 2e6;
      const ahead = [...best.values()].every((c) => ours.throughput > c.summary.throughput);
      row(
        'Influx line protocol over TCP into rondo serve',
        '≥ 2 M points/s stored, ahead of InfluxDB and VictoriaMetrics',
        `${fmtRate(ours.throughput, 'points/s')}${beside.length ? `; ${beside.join(', ')}` : ''}`,
        fast && ahead ? 'met' : fast || ahead ? `partly: ${fast ? '≥ 2 M points/s, not ahead of every peer' : 'ahead of the peers, under 2 M points/s'}` : 'missed',
      );
    }
  }
  return table(['what', 'target', 'this run', 'status'], rows, ['l', 'l', 'l', 'l']);
}

/** The whole report. */
function render({ machine: m, command, started, seconds, quick, groups, receivers }) {
  const load = m.loadAverage.map((x) => x.toFixed(2)).join(', ');
  const lines = [
    '# rondo benchmarks',
    '',
    `Produced by \`${command}\` on ${started.toISOString().replace(/\.\d+Z$/, 'Z')}, in ${seconds.toFixed(0)} s${quick ? ' (the quick version: fewer rounds and samples)' : ''}.`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB.toFixed(0)} GiB; ${m.platform}; Node.js ${m.node} (V8 ${m.v8})${receivers ? `; ${receivers}` : ''}. Load average at the start: ${load}.`,
    'Figures depend on the machine and its load (this one is shared, and noisy): compare the ratios, taken side by side in one run, more than the absolute figures.',
    '',
    '## Targets',
    '',
    "rondo's own performance targets. Where a target is the reference design's figure (the Rust rondo, measured on this project's 2-core machine on 2026-12-06: `record()` 5.4–5.8 ns a write, a 600-point query 2.1 µs, `consolidate()` 211 µs a tick), rondo is to beat it; the others are bounds rondo sets itself for a VMM's agent. The status is computed from this run's medians.",
    '',
    targets(groups),
    '',
  ];
  for (const g of groups) lines.push(renderGroup(g), '');
  return lines.join('\n');
}

module.exports = { render, renderGroup, NOTES_MARKER, fmtTime, fmtRate };
