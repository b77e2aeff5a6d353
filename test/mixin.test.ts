// The alert mixin (mixin/alerts.yaml): promtool accepts it and its unit tests pass, and
// RondoPushFailing fires for real in a Prometheus scraping an agent whose receiver is down.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent } from '../src/index';
import { ROOT } from './fixtures/build';
import { tempDir } from './helpers';
import { freePort } from './support/receivers';
import { startScrapingPrometheus, type ScrapingPrometheus } from './support/prometheus-rules';
import { promtoolCheck } from './support/promtool';

const MIXIN = path.join(ROOT, 'mixin');
const PROMTOOL = '/usr/bin/promtool';

describe('the alert mixin', () => {
  it('promtool check rules accepts mixin/alerts.yaml', () => {
    const out = execFileSync(PROMTOOL, ['check', 'rules', path.join(MIXIN, 'alerts.yaml')], { encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS: 9 rules found/);
  });

  it('promtool test rules: every alert fires when it should and not when it should not (mixin/tests.yaml)', () => {
    const out = execFileSync(PROMTOOL, ['test', 'rules', 'tests.yaml'], { cwd: MIXIN, encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS/);
  });

  describe('a receiver that is down', () => {
    let agent: Agent | undefined;
    let prom: ScrapingPrometheus | undefined;
    afterAll(async () => {
      await agent?.stop();
      await prom?.stop();
    });

    it('RondoPushFailing fires in a Prometheus scraping the agent with the mixin loaded', async () => {
      const downPort = await freePort(); // nothing listens there
      const started = Date.now();
      agent = await Agent.start({
        dir: tempDir(),
        schemas: [{ name: 'a', match: {}, maxSeries: 64, tiers: [{ interval: '1s', retention: '10m' }] }],
        // Pushes 5 s apart: a scrape between two pushes finds their figures, and the backlog
        // measured at the last tick.
        remoteWrite: { url: `http://127.0.0.1:${downPort}/api/v1/write`, interval: '5s', maxRetries: 0, timeoutMs: 1000 },
        metricsPort: 0,
        onError: () => {},
      });
      const { port } = agent.metricsAddress!;
      prom = await startScrapingPrometheus({ targets: [`127.0.0.1:${port}`], ruleFiles: [path.join(MIXIN, 'alerts.yaml')], job: 'vmm' });
      // The first push fails 5 s after the start, the second 10 s: scrapes 3.5 to 4.5 s after
      // the first find its figures all the same.
      let checked = 0;
      for (const at of [8500, 9000, 9500]) {
        await new Promise((res) => setTimeout(res, Math.max(0, started + at - Date.now())));
        if (Date.now() - started > 9900) break;
        const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(body).toMatch(/^rondo_remote_write_samples_failed_total\{exporter="[^"]+"\} [1-9]/m);
        expect(body).toMatch(/^rondo_agent_errors_total\{source="push"\} [1-9]/m);
        expect(body).toMatch(/^rondo_exporter_backlog_seconds\{exporter="[^"]+"\} [1-9]/m);
        // Described (HELP), and clean by Prometheus's own linter.
        expect(body).toMatch(/^# HELP rondo_exporter_backlog_ratio Share of/m);
        expect(promtoolCheck(body)).toEqual({ code: 0, output: '' });
        checked++;
      }
      expect(checked).toBeGreaterThanOrEqual(2);
      // Pending after two scrapes that show failures, firing after the rule's `for:` (30 s).
      const deadline = Date.now() + 80_000;
      let alerts: Array<{ labels: Record<string, string>; state: string; annotations: Record<string, string> }> = [];
      while (Date.now() < deadline) {
        const r = (await (await fetch(`${prom.api}/api/v1/alerts`)).json()) as { data: { alerts: typeof alerts } };
        alerts = r.data.alerts;
        if (alerts.some((a) => a.labels.alertname === 'RondoPushFailing' && a.state === 'firing')) break;
        await new Promise((res) => setTimeout(res, 1000));
      }
      const firing = alerts.find((a) => a.labels.alertname === 'RondoPushFailing' && a.state === 'firing');
      expect(firing, JSON.stringify(alerts)).toBeDefined();
      expect(firing!.labels).toMatchObject({ severity: 'critical', job: 'vmm', exporter: `rw_127.0.0.1_${downPort}_api_v1_write` });
      expect(firing!.annotations.summary).toContain('cannot push');
      // Nothing else is wrong with this agent.
      expect(alerts.filter((a) => a.state === 'firing').map((a) => a.labels.alertname)).toEqual(['RondoPushFailing']);
    }, 120_000);
  });
});
