/**
 * Per-second rates of monotonic counters.
 */
import { InvalidQueryError } from '../errors';

/**
 * The per-second rate of a counter at each point: the increase since the previous present point
 * divided by the seconds between their timestamps (given in milliseconds).
 *
 * - A missing point (NaN value, or NaN timestamp) gives NaN and is skipped: the next present point
 *   is compared with the last present one before the gap, so the rate spans the gap.
 * - The first present point gives NaN (there is nothing to compare it with).
 * - A value lower than the previous present one is a counter reset: as in Prometheus, the new
 *   value counts as the whole increase since the reset.
 * - A point whose timestamp is not after the previous present point's gives NaN (and becomes the
 *   point the next one is compared with).
 *
 * This is the rate between adjacent samples (like PromQL's irate applied at each point), not
 * PromQL's extrapolated rate() over a window.
 */
export function counterRate(timestamps: Float64Array, values: Float64Array): Float64Array {
  if (timestamps.length !== values.length) {
    throw new InvalidQueryError(
      `counterRate needs one timestamp per value, got ${timestamps.length} timestamps and ${values.length} values`,
    );
  }
  const n = values.length;
  const out = new Float64Array(n);
  let havePrev = false;
  let prevT = 0;
  let prevV = 0;
  for (let i = 0; i < n; i++) {
    const t = timestamps[i] as number;
    const v = values[i] as number;
    if (Number.isNaN(v) || Number.isNaN(t)) {
      out[i] = NaN;
      continue;
    }
    if (!havePrev) {
      out[i] = NaN;
    } else {
      const seconds = (t - prevT) / 1000;
      const increase = v >= prevV ? v - prevV : v;
      out[i] = seconds > 0 ? increase / seconds : NaN;
    }
    havePrev = true;
    prevT = t;
    prevV = v;
  }
  return out;
}
