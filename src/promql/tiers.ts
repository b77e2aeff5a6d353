// Tier choice: which of a schema's tiers answers a selector.
import type { Aggregation, TierInfo } from '../store';

/** What a selector reads of each bucket: an aggregate, or 'avg-weighted' (avg_over_time's). */
export type TierNeed = Aggregation | 'avg-weighted';

/**
 * True when the tier can give what is needed of a gauge: tier 0 everything; a consolidated tier
 * the aggregates it keeps, avg also from sum and count, avg-weighted from avg or from sum and
 * count, and samples (last) always: a tier that keeps no last gives its consolidate instead.
 */
export function tierKeeps(t: TierInfo, need: TierNeed | undefined): boolean {
  if (need === undefined || need === 'last' || t.index === 0) return true;
  const a = t.aggregates;
  const sumCount = a.includes('sum') && a.includes('count');
  if (need === 'avg-weighted' || need === 'avg') return a.includes('avg') || sumCount;
  return a.includes(need);
}

/**
 * Among the tiers that keep what is needed (`need`; tier 0 keeps everything): the finest whose
 * ring still covers `needStart` (its oldest interval is at or before it) and whose interval is at
 * most `stepMs` (Infinity for instant queries); failing that the finest covering tier; failing
 * that the tier that reaches furthest back; tier 0 when all are empty.
 */
export function chooseTier(tiers: readonly TierInfo[], needStart: number, stepMs: number, need?: TierNeed): TierInfo | undefined {
  const usable = tiers.filter((t) => tierKeeps(t, need));
  const covering = usable.filter((t) => t.oldest !== null && t.oldest <= needStart);
  const fine = covering.filter((t) => t.intervalMs <= stepMs);
  const byInterval = (a: TierInfo, b: TierInfo): number => a.intervalMs - b.intervalMs;
  if (fine.length > 0) return fine.sort(byInterval)[0];
  if (covering.length > 0) return covering.sort(byInterval)[0];
  const held = usable.filter((t) => t.oldest !== null);
  if (held.length > 0) return held.sort((a, b) => (a.oldest as number) - (b.oldest as number) || a.intervalMs - b.intervalMs)[0];
  return tiers[0];
}
