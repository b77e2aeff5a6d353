// TEMPORARY: an in-memory stand-in for the store's event rings (helper I's branch), written to
// the agreed contract so that the door and the language can be built before the rings land.
// Removed when the event rings are merged.
import type { Store } from '../store';
import type { EventRow, EventSource, TopicRow } from './source';

class MemoryEvents implements EventSource {
  private rows: EventRow[] = [];
  private readonly schemas = new Map<string, string>([['/', 'string']]);
  private last = 0n;

  append(topic: string, data: Buffer, tsNs?: bigint): void {
    if (!this.schemas.has(topic)) this.schemas.set(topic, this.inherited(topic));
    let ts = tsNs ?? BigInt(Date.now()) * 1_000_000n + BigInt(process.hrtime()[1] % 1_000_000);
    if (tsNs === undefined && ts <= this.last) ts = this.last + 1n;
    if (ts > this.last) this.last = ts;
    const row = { tsNs: ts, topic, schema: this.schemas.get(topic)!, data: Buffer.from(data) };
    let i = this.rows.length;
    while (i > 0 && this.rows[i - 1]!.tsNs > ts) i--;
    this.rows.splice(i, 0, row);
  }

  private inherited(topic: string): string {
    for (let t = topic; t.lastIndexOf('/') > 0; ) {
      t = t.slice(0, t.lastIndexOf('/'));
      const s = this.schemas.get(t);
      if (s !== undefined && s !== 'string') return s;
    }
    return 'string';
  }

  events(o: { topic?: string; start?: bigint; end?: bigint; limit?: number }): EventRow[] {
    const out: EventRow[] = [];
    const t = o.topic === undefined || o.topic === '/' ? undefined : o.topic.replace(/\/+$/, '');
    for (const r of this.rows) {
      if (t !== undefined && r.topic !== t && !r.topic.startsWith(`${t}/`)) continue;
      if (o.start !== undefined && r.tsNs < o.start) continue;
      if (o.end !== undefined && r.tsNs >= o.end) continue;
      out.push(r);
      if (o.limit !== undefined && out.length >= o.limit) break;
    }
    return out;
  }

  createTopic(topic: string, schema: string): void {
    if (!this.schemas.has(topic)) this.schemas.set(topic, schema === '' ? this.inherited(topic) : schema);
  }

  topics(): TopicRow[] {
    return [...this.schemas].map(([topic, schema]) => ({ topic, schema }));
  }

  count(): number {
    return this.rows.length;
  }
}

const memories = new WeakMap<Store, MemoryEvents>();

export function standinEvents(store: Store): EventSource {
  let m = memories.get(store);
  if (m === undefined) memories.set(store, (m = new MemoryEvents()));
  return m;
}
