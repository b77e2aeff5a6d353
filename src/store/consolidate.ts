// Consolidation: fills each coarser tier from the one below it, for the buckets completed since
// its cursor (kept in the slab's header, so a restart resumes). Cost follows the buckets done.
import type { SchemaSpec } from './schema';
import type { TierView } from './query';

/** One schema's tiers, bucket by bucket up to `now` (ms). `ncols`: the columns in use. */
export function consolidateSchema(spec: SchemaSpec, views: readonly TierView[], ncols: number, now: number): void {
  if (ncols === 0) return;
  const tiers = spec.tiers;
  const base = tiers[0];
  if (base === undefined) return;
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
    dst.slab.consolidate(src.slab, from, limit, ncols, t.xff, t.intervalMs / base.intervalMs);
  }
}
