// Consolidation: fills each coarser tier for the buckets completed since its cursor (kept in the
// slab's header, so a restart resumes). Cost follows the buckets done. A bucket is made from the
// raw points of tier 0 while tier 0 still holds it (every aggregate then exact), and otherwise
// from the tier below (docs/storage-format.md, "Consolidated buckets and the cursor").
import type { SchemaSpec } from './schema';
import type { TierView } from './query';

/**
 * How much of tier 0's ring, at its old end, is not read for a coarser tier: rows there may be
 * taken for new intervals (by native writers) while the bucket is being made.
 */
export function rawMargin(slots: number): number {
  return Math.ceil(slots / 8);
}

/**
 * One schema's tiers, bucket by bucket up to `now` (ms). `ncols`: the columns in use; `kinds[c]`
 * 1 when column c is a counter.
 */
export function consolidateSchema(spec: SchemaSpec, views: readonly TierView[], ncols: number, kinds: Uint8Array, now: number): void {
  if (ncols === 0) return;
  const tiers = spec.tiers;
  const base = tiers[0];
  const raw = views[0];
  if (base === undefined || raw === undefined) return;
  for (let i = 1; i < tiers.length; i++) {
    const t = tiers[i] as (typeof tiers)[number];
    const srcT = tiers[i - 1] as (typeof tiers)[number];
    const dst = views[i] as TierView;
    const src = views[i - 1] as TierView;
    const ratio = t.intervalMs / srcT.intervalMs;
    // Tier 1 takes buckets that have ended; coarser tiers take buckets their source has finished.
    const limit = i === 1 ? Math.floor(now / t.intervalMs) : Math.floor(src.cursor() / ratio);
    const cursor = dst.cursor();
    if (cursor >= limit && cursor !== 0) continue;
    const head = src.head();
    if (head === 0) continue;
    const srcOldest = Math.max(1, head - srcT.slots + 1);
    const from = Math.max(cursor, Math.floor(srcOldest / ratio), limit - t.slots, 1);
    if (from >= limit) continue;
    const expected = t.intervalMs / base.intervalMs;
    if (i === 1) {
      dst.slab.consolidate(src.slab, from, limit, ncols, t.xff, expected, kinds);
      continue;
    }
    // The buckets tier 0 still holds whole (from their first interval on), with a margin, come
    // from it; the older ones from the tier below.
    const rawHead = raw.head();
    const rawOldest = rawHead === 0 ? Infinity : Math.max(1, rawHead - base.slots + 1) + rawMargin(base.slots);
    const split = Math.min(limit, Math.max(from, Math.ceil(rawOldest / expected)));
    if (from < split) dst.slab.consolidate(src.slab, from, split, ncols, t.xff, expected, kinds);
    if (split < limit) dst.slab.consolidate(raw.slab, split, limit, ncols, t.xff, expected, kinds);
  }
}
