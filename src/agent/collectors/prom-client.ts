// A prom-client Registry as an agent collector: its metrics recorded every tick, through
// ctx.record() like every collector's (so the agent's labels, stale markers and error counts apply).
import type { Collector, CollectContext } from '../collector';
import { registrySamples, type CollectableRegistry } from '../../export';

export function promClientCollector(registry: CollectableRegistry, labels?: Record<string, string>): Collector {
  return {
    name: 'prom-client',
    async collect(ctx: CollectContext) {
      const { samples } = await registrySamples(registry, labels);
      for (const s of samples) ctx.record(s.name, s.labels, s.value, s.kind);
    },
  };
}
