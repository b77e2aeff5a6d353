// A prom-client Registry as an agent collector: its metrics recorded every tick.
import type { Collector, CollectContext } from '../agent';
import { collectRegistry, type CollectableRegistry } from '../export/prom-client';

export function promClientCollector(registry: CollectableRegistry, labels?: Record<string, string>): Collector {
  return {
    name: 'prom-client',
    async collect(ctx: CollectContext) {
      await collectRegistry(registry, ctx.store, { timestamp: ctx.now, ...(labels === undefined ? {} : { labels }) });
    },
  };
}
