// KVM binary statistics as Prometheus series: names by Prometheus's rules (base units, `_total`
// on counters, histograms as `_bucket{le}` / `_sum` / `_count`), values scaled by each
// descriptor's base and exponent. One plan serves both paths: the native capture (the words of
// a statistic's data summed and scaled by C++, capture.cc) and the agent's tick (the same sums
// in JavaScript, from vm.statsWords()).
import type { KvmStatDescriptor } from './vm';

/** One series of a KVM statistic: its value is `scale × Σ words[lo..hi)` of its scope's data. */
export interface KvmStatSeries {
  /** The metric name (for a histogram, `<family>_bucket`, `<family>_sum` or `<family>_count`). */
  name: string;
  /** `{ le }` for a histogram's bucket; otherwise none (the collector adds `vcpu`). */
  labels: Record<string, string>;
  kind: 'counter' | 'gauge';
  /** The metric family: the name without `_bucket`/`_sum`/`_count` (and as given otherwise). */
  family: string;
  help: string;
  /** The unit of the family, when it has one ('seconds', 'bytes', 'cycles'). */
  unit?: string;
  /** The kernel's name of the statistic the value comes from. */
  stat: string;
  /** Words [lo, hi) of the scope's data, the descriptors' words one after the other in descriptor order. */
  lo: number;
  hi: number;
  scale: number;
}

/** A log2 histogram's buckets kept as Prometheus buckets: every LOG_BUCKET_STEP-th bound (and +Inf). */
export const LOG_BUCKET_STEP = 2;

/** Suffixes of a kernel name that spell its unit, dropped before the base unit is put on. */
const UNIT_SUFFIX: Readonly<Record<string, RegExp>> = {
  seconds: /_(ns|us|ms|s|nsec|usec|msec|sec|secs|seconds)$/,
  bytes: /_(bytes|b|kb|kib|mb|mib|gb|gib)$/,
  cycles: /_cycles$/,
};

/** The unit a statistic's series carry in their name: the kernel's unit, for those that have a base unit. */
function unitOf(d: KvmStatDescriptor): string | undefined {
  return d.unit === 'seconds' || d.unit === 'bytes' || d.unit === 'cycles' ? d.unit : undefined;
}

/**
 * The metric family of a KVM statistic: `kvm_<scope>_<name>`, with the kernel's unit suffix
 * (`_ns`, …) replaced by the base unit (`_seconds`, `_bytes`, `_cycles`), and `_total` on a
 * cumulative one. A histogram's family keeps the kernel's `_hist` (`kvm_vcpu_halt_wait_hist_seconds`),
 * so it never meets the family of the cumulative statistic it pairs with.
 */
export function kvmStatSeriesName(scope: 'vm' | 'vcpu', d: Pick<KvmStatDescriptor, 'name' | 'type' | 'unit'>): string {
  const unit = unitOf(d as KvmStatDescriptor);
  let stem = d.name;
  const hist = d.type === 'linear_hist' || d.type === 'log_hist';
  if (unit !== undefined && !hist) stem = stem.replace(UNIT_SUFFIX[unit]!, '');
  let name = `kvm_${scope}_${stem}${unit === undefined ? '' : `_${unit}`}`;
  if (d.type === 'cumulative' && !name.endsWith('_total')) name += '_total';
  return name;
}

/** How a KVM statistic is recorded: cumulative ones as counters (histograms' parts too), the others as gauges. */
export const kvmStatKind = (d: Pick<KvmStatDescriptor, 'type'>): 'counter' | 'gauge' =>
  d.type === 'cumulative' || d.type.endsWith('_hist') ? 'counter' : 'gauge';

const TYPE_WORDS: Readonly<Record<string, string>> = {
  cumulative: 'cumulative',
  instant: 'instant value',
  peak: 'peak value',
  linear_hist: 'linear histogram',
  log_hist: 'log2 histogram',
};

function helpOf(scope: 'vm' | 'vcpu', d: KvmStatDescriptor, scaled: boolean, extra = ''): string {
  const unit = unitOf(d);
  const from = scaled ? `, scaled from the kernel's ${d.base}^${d.exponent} ${d.unit}` : '';
  return `KVM statistic ${d.name} of the ${scope === 'vm' ? 'VM' : 'vCPU'} (${TYPE_WORDS[d.type] ?? d.type}${unit === undefined ? '' : `, in ${unit}`}${from})${extra}.`;
}

/** v × base^exponent, dividing by a power of ten rather than multiplying by its inexact inverse (so 7 ns is 7e-9, not 7.000000000000001e-9). */
function scaleExact(v: number, d: Pick<KvmStatDescriptor, 'base' | 'exponent'>): number {
  return d.exponent < 0 ? v / d.base ** -d.exponent : v * d.base ** d.exponent;
}

/** A bucket bound as Prometheus prints it. */
function leText(v: number): string {
  if (v === Infinity) return '+Inf';
  return String(v);
}

/**
 * Every series of a scope's statistics (the VM's, or one vCPU's), in order. Scalars: one series,
 * value × base^exponent. Histograms (log2: bucket 0 holds 0, bucket i the values in
 * [2^(i-1), 2^i), the last everything above; linear: bucket i holds [i·b, (i+1)·b), the last
 * everything above): a Prometheus histogram, `<family>_bucket{le}` (cumulative counts; le is
 * the bucket's largest integer value, scaled, and +Inf for the last; of a log2 histogram every
 * LOG_BUCKET_STEP-th bound only, 0, 3, 15, 63 … 2^30−1 ns: 16 series where the kernel has 32
 * buckets, each still an exact count), `<family>_count`, and
 * `<family>_sum` when the kernel keeps the sum as the cumulative statistic of the same stem
 * (`halt_wait_hist` and `halt_wait_ns`: kvm_main.c adds each sample to both).
 */
export function kvmStatSeries(scope: 'vm' | 'vcpu', descriptors: readonly KvmStatDescriptor[]): KvmStatSeries[] {
  const out: KvmStatSeries[] = [];
  const start: number[] = [];
  let at = 0;
  for (const d of descriptors) {
    start.push(at);
    at += Math.max(1, d.size);
  }
  descriptors.forEach((d, i) => {
    const lo = start[i]!;
    const scale = d.base ** d.exponent;
    const scaled = d.exponent !== 0;
    const family = kvmStatSeriesName(scope, d);
    const unit = unitOf(d);
    const common = { family, ...(unit === undefined ? {} : { unit }), stat: d.name };
    if (d.type !== 'linear_hist' && d.type !== 'log_hist') {
      out.push({ name: family, labels: {}, kind: kvmStatKind(d), help: helpOf(scope, d, scaled), ...common, lo, hi: lo + 1, scale });
      return;
    }
    const help = helpOf(scope, d, scaled, ': the distribution of its samples');
    const size = Math.max(1, d.size);
    for (let b = 0; b < size; b++) {
      // A log2 histogram keeps every other bound (×4 apart): 16 buckets of KVM's 32, 1 ns to 1 s.
      if (d.type === 'log_hist' && b < size - 1 && b % LOG_BUCKET_STEP !== 0) continue;
      let upper: number;
      if (b === size - 1) upper = Infinity;
      else upper = scaleExact(d.type === 'log_hist' ? 2 ** b - 1 : (b + 1) * Math.max(1, d.bucketSize) - 1, d);
      out.push({ name: `${family}_bucket`, labels: { le: leText(upper) }, kind: 'counter', help, ...common, lo, hi: lo + b + 1, scale: 1 });
    }
    const stem = d.name.replace(/_hist$/, '');
    const sumIdx = d.name.endsWith('_hist')
      ? descriptors.findIndex((s) => s.type === 'cumulative' && s.unit === d.unit && s.size <= 1 && s.name !== d.name && (UNIT_SUFFIX[s.unit]?.test(s.name) ?? false) && s.name.replace(UNIT_SUFFIX[s.unit]!, '') === stem)
      : -1;
    if (sumIdx >= 0) {
      const s = descriptors[sumIdx]!;
      out.push({ name: `${family}_sum`, labels: {}, kind: 'counter', help, ...common, lo: start[sumIdx]!, hi: start[sumIdx]! + 1, scale: s.base ** s.exponent });
    }
    out.push({ name: `${family}_count`, labels: {}, kind: 'counter', help, ...common, lo, hi: lo + size, scale: 1 });
  });
  return out;
}

/** The value of a planned series from its scope's words. */
export function kvmStatValue(s: Pick<KvmStatSeries, 'lo' | 'hi' | 'scale'>, words: ArrayLike<number>): number {
  let v = 0;
  for (let i = s.lo; i < s.hi; i++) v += words[i] ?? 0;
  return s.scale === 1 ? v : s.scale < 1 ? v / Math.round(1 / s.scale) : v * s.scale;
}
