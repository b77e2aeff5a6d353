// The Grafana dashboards (dashboards/*.json): importable (the data source input and variable
// Grafana needs), and every query in them parses with Prometheus's own PromQL grammar
// (@prometheus-io/lezer-promql) once the template variables are substituted.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/built';
import { dashboardFiles, loadDashboard, panelQueries, panelsOf, parseLabelValues, substitute, variablesOf, type Json } from './support/dashboards';

const require = createRequire(__filename);
const lezer = require('@prometheus-io/lezer-promql') as {
  parser: { parse(text: string): { iterate(spec: { enter(n: { type: { isError: boolean; name: string }; from: number; to: number }): void }): void } };
};

/** The places lezer's PromQL grammar found an error, as "at N: text"; [] for a query that parses. */
function parseErrors(expr: string): string[] {
  const errors: string[] = [];
  lezer.parser.parse(expr).iterate({
    enter(n) {
      if (n.type.isError) errors.push(`at ${n.from}: ${JSON.stringify(expr.slice(Math.max(0, n.from - 20), n.to + 20))}`);
    },
  });
  return errors;
}

/** Values a user could pick: a real one for each variable (the All value is tried too). */
function pickValues(vars: ReturnType<typeof variablesOf>, all: boolean): Record<string, string> {
  const v: Record<string, string> = {};
  for (const x of vars) if (x.type === 'query') v[x.name] = all ? (x.allValue ?? '.*') : x.name === 'vcpu' ? '0|1' : 'vm1';
  return v;
}

const files = dashboardFiles();

describe('the Grafana dashboards', () => {
  it('there are the two: the VMM view and the agent\'s health, shipped in the package with the mixin', () => {
    expect(files.map((f) => f.split('/').pop())).toEqual(['rondo-agent-health.json', 'rondo-vmm.json']);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toEqual(expect.arrayContaining(['dashboards', 'mixin']));
  });

  describe.each(files)('%s', (file) => {
    const d = loadDashboard(file);
    const vars = variablesOf(d);

    it('is importable into Grafana 9 or later: a DS_PROMETHEUS input, a ${datasource} variable every panel and query variable uses, unique panel ids', () => {
      expect(d.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
      expect(d.__requires).toContainEqual(expect.objectContaining({ type: 'grafana', id: 'grafana' }));
      expect(typeof d.uid).toBe('string');
      expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
      const ds = d.templating.list.find((v: Json) => v.type === 'datasource');
      expect(ds).toMatchObject({ name: 'datasource', query: 'prometheus', current: { value: '${DS_PROMETHEUS}' } });
      const panels = panelsOf(d).filter((p: Json) => p.type !== 'row');
      expect(panels.length).toBeGreaterThan(5);
      for (const p of panels) {
        expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(p.targets.length, p.title).toBeGreaterThan(0);
        for (const t of p.targets) expect(t.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      }
      for (const v of d.templating.list.filter((x: Json) => x.type === 'query')) {
        expect(v.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
        // All matches series without the label too (rondo serve's, an agent's without labels).
        expect(v).toMatchObject({ includeAll: true, allValue: '.*' });
      }
      const ids = panelsOf(d).map((p: Json) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      // No two panels overlap on the grid.
      const cells = new Set<string>();
      for (const p of panelsOf(d)) {
        const g = p.gridPos;
        expect(g.x + g.w, p.title).toBeLessThanOrEqual(24);
        for (let x = g.x; x < g.x + g.w; x++)
          for (let y = g.y; y < g.y + g.h; y++) {
            expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
            cells.add(`${x},${y}`);
          }
      }
    });

    it('every panel query parses as PromQL, with the variables set to real values and to All', () => {
      const queries = panelQueries(file);
      expect(queries.length).toBeGreaterThan(5);
      for (const all of [false, true]) {
        for (const q of queries) {
          const expr = substitute(q.expr, pickValues(vars, all));
          expect(expr, `${q.panel}: a variable was left`).not.toMatch(/\$[a-zA-Z_{]/);
          expect(parseErrors(expr), `${q.panel} ${q.refId}: ${expr}`).toEqual([]);
        }
      }
    });

    it('every template variable query is label_values over a selector that parses, each using only the variables before it', () => {
      const seen = new Set(['datasource']);
      for (const v of vars) {
        if (v.type !== 'query') continue;
        const lv = parseLabelValues(v.query!);
        expect(lv, v.query).toBeDefined();
        const used = [...(lv!.selector ?? '').matchAll(/\$(\w+)/g)].map((m) => m[1]!);
        for (const u of used) expect(seen.has(u), `${v.name} uses $${u}, defined after it`).toBe(true);
        if (lv!.selector !== undefined) {
          const sel = substitute(lv!.selector, pickValues(vars, true));
          expect(parseErrors(sel), `${v.name}: ${sel}`).toEqual([]);
        }
        seen.add(v.name);
      }
    });

    it('the parse check finds a broken query (it can fail)', () => {
      const q = panelQueries(file)[0]!;
      expect(parseErrors(substitute(q.expr.replace(')', ''), pickValues(vars, true))).length).toBeGreaterThan(0);
      expect(parseErrors('sum by (reason) (rate(x[1m])')).not.toEqual([]);
    });
  });
});
