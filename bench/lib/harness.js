// Timing and statistics for the benchmark groups.
//
// An operation shorter than the clock's resolution (a write: a few ns) is timed in chunks of many
// operations; a chunk gives one sample, its time divided by its operations. Slower operations (a
// query, a batch) are timed one by one. Every case of a group runs a share of its samples in each
// round, the cases one after another, so that peers meet the same machine: a busy moment on a
// shared machine touches every case of a round rather than one case's whole run.
'use strict';
const os = require('node:os');

/** Nanoseconds since an arbitrary origin, as a number. */
function nowNs() {
  return Number(process.hrtime.bigint());
}

/** Nearest-rank percentile (q in (0, 1]) of an ascending array. */
function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * The figures of one case: per-operation ns of each sample, and for throughput the operations
 * and the time they took in all.
 */
class Samples {
  constructor() {
    this.ns = [];
    /** Per sample, ns per unit of work. */
    this.nsPerUnit = [];
    this.ops = 0;
    /** Units of work done (writes, samples exported), for the throughput. */
    this.units = 0;
    this.totalNs = 0;
  }
  /** One sample: `ops` operations, doing `units` units of work, took `ns` in all. */
  add(ns, ops, units = ops) {
    this.ns.push(ns / ops);
    if (units > 0) this.nsPerUnit.push(ns / units);
    this.ops += ops;
    this.units += units;
    this.totalNs += ns;
  }
  /**
   * Samples measured elsewhere (native code): per-op ns of each, and the totals. With `parallel`
   * threads each doing such ops at once, a unit of the whole takes 1/parallel of one op's time.
   */
  addMany(perOpNs, ops, totalNs, parallel = 1) {
    for (const x of perOpNs) {
      this.ns.push(x);
      this.nsPerUnit.push(x / parallel);
    }
    this.ops += ops;
    this.units += ops;
    this.totalNs += totalNs;
  }
  summary() {
    const s = Float64Array.from(this.ns).sort();
    const u = Float64Array.from(this.nsPerUnit).sort();
    return {
      samples: s.length,
      ops: this.ops,
      medianNs: percentile(s, 0.5),
      p99Ns: percentile(s, 0.99),
      meanNs: this.ops > 0 ? this.totalNs / this.ops : NaN,
      maxNs: s.length > 0 ? s[s.length - 1] : NaN,
      /** Units per second at the median time per unit. */
      throughput: 1e9 / percentile(u, 0.5),
      /** Units per second over all samples: all the work over all the time. */
      overall: this.totalNs > 0 ? this.units / (this.totalNs / 1e9) : NaN,
    };
  }
}

/**
 * Times `chunks` calls of run(n) into samples, each counted as `ops` operations (run does n
 * operations, or n calls of `ops / n` each). The call of run is all between the clock reads.
 */
function timeChunks(run, n, chunks, samples, ops = n) {
  for (let c = 0; c < chunks; c++) {
    const t0 = nowNs();
    run(n);
    samples.add(nowNs() - t0, ops);
  }
}

/** Runs each case's round() once per round, cases in turn; warm() first for those that have one. */
async function interleave(cases, rounds, progress) {
  for (const c of cases) if (c.warm) await c.warm();
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      progress?.(`${c.name} (round ${r + 1}/${rounds})`);
      await c.round(r);
    }
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What the report says about the machine. */
function machine() {
  const cpus = os.cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    cpu: (cpus[0]?.model ?? 'unknown CPU').trim(),
    cores: cpus.length,
    memoryGiB: os.totalmem() / 2 ** 30,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage: os.loadavg(),
  };
}

module.exports = { nowNs, percentile, Samples, timeChunks, interleave, sleep, machine };
