// npm run demo: records this Node process's own figures every second for a few seconds into a
// store, the way an embedding VMM launcher would, then reads them back and charts them.
// (The KVM demo VMM will take this place; the store part is the same.)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { Store, formatSeries } = require('../dist/src');

const seconds = Number(process.argv[2] ?? 10);
const dir = path.resolve(process.env.RONDO_DEMO_STORE ?? 'demo-metrics');
fs.rmSync(dir, { recursive: true, force: true });

const store = Store.open(dir, {
  schemas: [{ name: 'demo', match: {}, maxSeries: 16, tiers: [
    { interval: '1s', retention: '1h' },
    { interval: '10s', retention: '6h', consolidate: 'avg' },
    { interval: '5m', retention: '7d', consolidate: 'avg', xff: 0.5 },
  ] }],
});
const rss = store.register('process_resident_memory_bytes');
const heap = store.register('nodejs_heap_used_bytes');
const cpu = store.register('process_cpu_seconds_total', {}, { kind: 'counter' });
const lag = store.register('nodejs_eventloop_delay_p99_seconds');
const work = store.register('demo_work_items_total', {}, { kind: 'counter' });

const eld = monitorEventLoopDelay({ resolution: 10 });
eld.enable();
let items = 0;
const start = Date.now();
console.log(`rondo demo: recording this process every second for ${seconds} s into ${dir}`);

// Some work that changes over time: busy for a while every other second.
const busy = setInterval(() => {
  const phase = Math.floor((Date.now() - start) / 1000) % 2;
  const until = Date.now() + (phase === 0 ? 150 : 20);
  const junk = [];
  while (Date.now() < until) { junk.push({ n: items++ }); if (junk.length > 5000) junk.length = 0; }
}, 200);

const tick = () => {
  const now = Date.now();
  const u = process.cpuUsage();
  store.record(rss, process.memoryUsage.rss(), now);
  store.record(heap, process.memoryUsage().heapUsed, now);
  store.record(cpu, (u.user + u.system) / 1e6, now);
  store.record(lag, eld.percentile(99) / 1e9, now);
  store.record(work, items, now);
  eld.reset();
  store.consolidate({ now });
};
tick();
const timer = setInterval(tick, 1000);

setTimeout(() => {
  clearInterval(timer);
  clearInterval(busy);
  tick();
  const end = Date.now();
  const bars = '▁▂▃▄▅▆▇█';
  console.log(`\nrecorded ${((end - start) / 1000).toFixed(1)} s; read back with store.select('{__name__=~".+"}'):\n`);
  for (const r of store.select('{__name__=~".+"}', { start: start - 1000, end })) {
    const vals = r.kind === 'counter' ? store.query(store.find(r.name, r.labels), { start: start - 1000, end, rate: true }).values : r.values;
    const present = Array.from(vals).filter((v) => !Number.isNaN(v));
    const lo = Math.min(...present);
    const hi = Math.max(...present);
    const line = Array.from(vals, (v) => (Number.isNaN(v) ? ' ' : bars[hi === lo ? 3 : Math.round(((v - lo) / (hi - lo)) * 7)])).join('');
    const label = `${formatSeries(r.name, r.labels)}${r.kind === 'counter' ? ' (rate/s)' : ''}`;
    console.log(`${label.padEnd(50)} ${line}  min ${fmt(lo)}  max ${fmt(hi)}  (${present.length} points, step ${r.step / 1000}s)`);
  }
  const info = store.info();
  console.log(`\nstore: ${info.totals.series} series, ${(info.totals.bytes / 1024 / 1024).toFixed(1)} MiB on disk (fixed), tiers ${info.schemas[0].tiers.map((t) => `${t.intervalMs / 1000}s×${t.slots}`).join(' → ')}`);
  store.close();
}, seconds * 1000).unref?.();

function fmt(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(2) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(2) + 'M';
  if (a >= 1e3) return (v / 1e3).toFixed(2) + 'k';
  return a < 0.01 && a > 0 ? v.toExponential(1) : v.toFixed(2);
}
