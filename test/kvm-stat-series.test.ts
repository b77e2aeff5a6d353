// KVM statistics as Prometheus series (src/kvm/stat-series.ts): the names, the scaling from each
// descriptor's base and exponent, and the histograms' buckets against the kernel's own rule for
// which bucket a sample goes to (KVM_STATS_LOG_HIST_UPDATE: array[fls64(v)], the last bucket
// taking the rest; KVM_STATS_LINEAR_HIST_UPDATE: array[v / bucket_size], likewise). No KVM needed.
import { describe, expect, it } from 'vitest';
import { kvmStatSeries, kvmStatSeriesName, kvmStatValue, type KvmStatDescriptor } from '../src/kvm/index';

const desc = (o: Partial<KvmStatDescriptor> & Pick<KvmStatDescriptor, 'name' | 'type'>): KvmStatDescriptor => ({
  unit: 'none',
  base: 10,
  exponent: 0,
  size: 1,
  bucketSize: 0,
  offset: 0,
  ...o,
});

/** fls64: the 1-based index of the highest set bit, 0 for 0. */
const fls64 = (v: bigint): number => (v === 0n ? 0 : v.toString(2).length);

describe('kvmStatSeries', () => {
  it('names by Prometheus rules: base units for the kernel unit suffix, _total on cumulative ones, gauges as they are', () => {
    expect(kvmStatSeriesName('vcpu', desc({ name: 'halt_wait_ns', type: 'cumulative', unit: 'seconds', exponent: -9 }))).toBe('kvm_vcpu_halt_wait_seconds_total');
    expect(kvmStatSeriesName('vcpu', desc({ name: 'exits', type: 'cumulative' }))).toBe('kvm_vcpu_exits_total');
    expect(kvmStatSeriesName('vm', desc({ name: 'pages_4k', type: 'instant' }))).toBe('kvm_vm_pages_4k');
    expect(kvmStatSeriesName('vm', desc({ name: 'max_mmu_rmap_size', type: 'peak' }))).toBe('kvm_vm_max_mmu_rmap_size');
    expect(kvmStatSeriesName('vm', desc({ name: 'guest_mem_kb', type: 'instant', unit: 'bytes', base: 2, exponent: 10 }))).toBe('kvm_vm_guest_mem_bytes');
    expect(kvmStatSeriesName('vcpu', desc({ name: 'halt_wait_hist', type: 'log_hist', unit: 'seconds', exponent: -9, size: 32 }))).toBe('kvm_vcpu_halt_wait_hist_seconds');
  });

  it('scales by base^exponent: nanoseconds to seconds, KiB (2^10) to bytes', () => {
    const d = [
      desc({ name: 'halt_wait_ns', type: 'cumulative', unit: 'seconds', exponent: -9 }),
      desc({ name: 'guest_mem_kb', type: 'instant', unit: 'bytes', base: 2, exponent: 10, offset: 8 }),
    ];
    const [ns, kb] = kvmStatSeries('vm', d);
    const words = [2_500_000_000, 3];
    expect(ns!.kind).toBe('counter');
    expect(kb!.kind).toBe('gauge');
    expect(kvmStatValue(ns!, words)).toBe(2.5);
    expect(kvmStatValue(kb!, words)).toBe(3072);
    expect(ns!.unit).toBe('seconds');
    expect(ns!.help).toMatch(/halt_wait_ns.*10\^-9/);
  });

  it("a log2 histogram's buckets count exactly the samples ≤ le, as the kernel bucketed them; _sum is the paired cumulative statistic", () => {
    const d = [
      desc({ name: 'halt_wait_ns', type: 'cumulative', unit: 'seconds', exponent: -9 }),
      desc({ name: 'halt_wait_hist', type: 'log_hist', unit: 'seconds', exponent: -9, size: 32, offset: 8 }),
    ];
    // Samples in ns, from 0 to past the last bucket's start (2^30 ns), bucketed as the kernel does.
    let seed = 7;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const samples: number[] = [0, 1, 2, 3, 4, 1023, 1024, 2 ** 30 - 1, 2 ** 30, 2 ** 33];
    for (let i = 0; i < 500; i++) samples.push(Math.floor(2 ** (rand() * 34)));
    const words = new Array<number>(33).fill(0);
    for (const v of samples) {
      words[1 + Math.min(fls64(BigInt(v)), 31)]!++;
      words[0]! += v;
    }
    const series = kvmStatSeries('vcpu', d);
    const buckets = series.filter((s) => s.name === 'kvm_vcpu_halt_wait_hist_seconds_bucket');
    expect(buckets.length).toBe(17);
    expect(buckets[buckets.length - 1]!.labels.le).toBe('+Inf');
    for (const b of buckets) {
      const le = b.labels.le === '+Inf' ? Infinity : Number(b.labels.le);
      const want = samples.filter((v) => v / 1e9 <= le).length;
      expect(kvmStatValue(b, words), `le=${b.labels.le}`).toBe(want);
      expect(b.kind).toBe('counter');
    }
    const count = series.find((s) => s.name === 'kvm_vcpu_halt_wait_hist_seconds_count')!;
    const sum = series.find((s) => s.name === 'kvm_vcpu_halt_wait_hist_seconds_sum')!;
    expect(kvmStatValue(count, words)).toBe(samples.length);
    expect(kvmStatValue(sum, words)).toBeCloseTo(samples.reduce((a, v) => a + v, 0) / 1e9, 6);
    // Bounds ascend, and every count is at most the next one's.
    for (let i = 1; i < buckets.length; i++) expect(kvmStatValue(buckets[i]!, words)).toBeGreaterThanOrEqual(kvmStatValue(buckets[i - 1]!, words));
  });

  it("a linear histogram's buckets count the samples ≤ le; without a paired statistic there is no _sum", () => {
    const d = [desc({ name: 'lat_hist', type: 'linear_hist', unit: 'seconds', exponent: -6, size: 8, bucketSize: 10 })];
    const samples = [0, 5, 9, 10, 11, 25, 69, 70, 71, 500];
    const words = new Array<number>(8).fill(0);
    for (const v of samples) words[Math.min(Math.floor(v / 10), 7)]!++;
    const series = kvmStatSeries('vm', d);
    expect(series.some((s) => s.name.endsWith('_sum'))).toBe(false);
    const buckets = series.filter((s) => s.name.endsWith('_bucket'));
    expect(buckets.map((b) => b.labels.le)).toEqual(['0.000009', '0.000019', '0.000029', '0.000039', '0.000049', '0.000059', '0.000069', '+Inf']);
    for (const b of buckets) {
      const le = b.labels.le === '+Inf' ? Infinity : Number(b.labels.le);
      expect(kvmStatValue(b, words), `le=${b.labels.le}`).toBe(samples.filter((v) => v / 1e6 <= le + 1e-15).length);
    }
  });
});
