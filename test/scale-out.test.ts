// Scale-out with the real parts Debian has: the agents of four stores push through one vmagent,
// which shards series across two single-node VictoriaMetrics; every sample lands on exactly one
// node, and the two together hold everything recorded.
//
// A vmagent with -remoteWrite.shardByURL is run with it. Debian 12's vmagent (1.79) predates the
// flag, so there the shards are made by a per-URL relabeling (-remoteWrite.urlRelabelConfig)
// keeping the series whose label hash (hashmod) is that URL's, as docs/scale-out.md shows.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store, pushTo } from '../src/index';
import { alignedPast, tempDir } from './helpers';
import { getText, startVictoriaMetrics, startVmagent, VMAGENT_BIN, type VictoriaMetricsReceiver, type VmagentRelay } from './support/receivers';

const SCHEMA = [{ name: 'p', match: {}, maxSeries: 16, tiers: [{ interval: '1s', retention: '1h' }] }];
const STORES = 4;
const VMS = 3;
const POINTS = 20;
const t0 = alignedPast(3600_000, 60_000);

/** The relabeling that keeps shard `shard` of 2: series hashed by every label they carry here. */
function shardConfig(dir: string, shard: number): string {
  const file = path.join(dir, `shard-${shard}.yml`);
  fs.writeFileSync(
    file,
    [
      '- action: hashmod',
      '  source_labels: [__name__, store, vm]',
      '  modulus: 2',
      '  target_label: __shard',
      '- action: keep',
      '  source_labels: [__shard]',
      `  regex: "${shard}"`,
      '- action: labeldrop',
      '  regex: __shard',
      '',
    ].join('\n'),
  );
  return file;
}

let nodes: VictoriaMetricsReceiver[];
let relay: VmagentRelay;

beforeAll(async () => {
  if (!fs.existsSync(VMAGENT_BIN)) throw new Error(`the scale-out test needs ${VMAGENT_BIN} (Debian package "victoria-metrics")`);
  nodes = await Promise.all([startVictoriaMetrics(), startVictoriaMetrics()]);
  // A vmagent that has -remoteWrite.shardByURL uses it; Debian 12's shards by relabeling.
  const help = spawnSync(VMAGENT_BIN, ['-help'], { encoding: 'utf8' });
  if (/remoteWrite\.shardByURL\b/.test(`${help.stdout}${help.stderr}`)) {
    relay = await startVmagent(nodes.map((n) => ({ url: n.url })), { extraArgs: ['-remoteWrite.shardByURL'] });
  } else {
    const configDir = tempDir();
    relay = await startVmagent(nodes.map((n, i) => ({ url: n.url, urlRelabelConfig: shardConfig(configDir, i) })));
  }
}, 90_000);

afterAll(async () => {
  await relay?.stop();
  await Promise.all((nodes ?? []).map((n) => n.stop()));
});

/** Every sample a node holds for the test's names, as "series@timestamp=value". */
async function samplesOn(node: VictoriaMetricsReceiver): Promise<Set<string>> {
  await node.flush();
  const text = await getText(`${node.api}/api/v1/export?${new URLSearchParams({ 'match[]': '{__name__=~"so_.*"}', start: '0' })}`);
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const row = JSON.parse(line) as { metric: Record<string, string>; values: number[]; timestamps: number[] };
    const key = `${row.metric['__name__']}{store=${row.metric['store']},vm=${row.metric['vm']}}`;
    row.timestamps.forEach((ts, i) => out.add(`${key}@${ts}=${row.values[i]}`));
  }
  return out;
}

describe('agents pushing through vmagent sharding across two VictoriaMetrics nodes', () => {
  it('puts every sample on exactly one node, and both nodes together hold all of them', async () => {
    const recorded = new Set<string>();
    const dirs: string[] = [];
    for (let s = 0; s < STORES; s++) {
      const dir = tempDir();
      dirs.push(dir);
      const store = Store.open(dir, { schemas: SCHEMA });
      for (let v = 0; v < VMS; v++) {
        const exits = store.register('so_vcpu_exits_total', { vm: `vm${v}` }, { kind: 'counter' });
        const mem = store.register('so_memory_bytes', { vm: `vm${v}` }, { kind: 'gauge' });
        for (let i = 0; i < POINTS; i++) {
          const ts = t0 + i * 1000;
          const e = (s + 1) * 1000 + v * 100 + i;
          const m = (s * VMS + v) * 4096 + i;
          store.record(exits, e, ts);
          store.record(mem, m, ts);
          recorded.add(`so_vcpu_exits_total{store=s${s},vm=vm${v}}@${ts}=${e}`);
          recorded.add(`so_memory_bytes{store=s${s},vm=vm${v}}@${ts}=${m}`);
        }
      }
      store.close();
    }
    // The agents push at once, each with its own store label, as a fleet of hosts would.
    const summaries = await Promise.all(
      dirs.map(async (dir, s) => {
        const store = Store.openReadOnly(dir);
        try {
          return await pushTo(store, relay.url, { externalLabels: { store: `s${s}` }, proxy: false, logger: () => {} });
        } finally {
          store.close();
        }
      }),
    );
    expect(summaries.map((x) => x.samples)).toEqual(dirs.map(() => 2 * VMS * POINTS));

    // vmagent buffers and flushes each second: wait for the union to hold everything.
    let a = new Set<string>();
    let b = new Set<string>();
    await expect
      .poll(
        async () => {
          const got = await Promise.all(nodes.map((n) => samplesOn(n)));
          a = got[0]!;
          b = got[1]!;
          return a.size + b.size;
        },
        { timeout: 30_000, interval: 500 },
      )
      .toBeGreaterThanOrEqual(recorded.size);
    const both = [...a].filter((x) => b.has(x));
    expect(both).toEqual([]);
    expect(new Set([...a, ...b])).toEqual(recorded);
    // Sharded, not all on one node; and a series is never split between nodes.
    expect(a.size).toBeGreaterThan(0);
    expect(b.size).toBeGreaterThan(0);
    const seriesOf = (set: Set<string>): Set<string> => new Set([...set].map((x) => x.slice(0, x.indexOf('@'))));
    const sa = seriesOf(a);
    expect([...seriesOf(b)].filter((x) => sa.has(x))).toEqual([]);
  }, 90_000);
});
