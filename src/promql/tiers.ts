// Tier choice: which of a schema's tiers answers a selector.
import type { TierInfo } from '../store';

/**
 * The finest tier whose ring still covers `needStart` (its oldest interval is at or before it)
 * and whose interval is at most `stepMs` (Infinity for instant queries); failing that the finest
 * covering tier; failing that the tier that reaches furthest back; tier 0 when all are empty.
 */
export function chooseTier(tiers: readonly TierInfo[], needStart: number, stepMs: number): TierInfo | undefined {
  const covering = tiers.filter((t) => t.oldest !== null && t.oldest <= needStart);
  const fine = covering.filter((t) => t.intervalMs <= stepMs);
  const byInterval = (a: TierInfo, b: TierInfo): number => a.intervalMs - b.intervalMs;
  if (fine.length > 0) return fine.sort(byInterval)[0];
  if (covering.length > 0) return covering.sort(byInterval)[0];
  const held = tiers.filter((t) => t.oldest !== null);
  if (held.length > 0) return held.sort((a, b) => (a.oldest as number) - (b.oldest as number) || a.intervalMs - b.intervalMs)[0];
  return tiers[0];
}
