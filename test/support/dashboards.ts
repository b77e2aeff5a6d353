// The Grafana dashboards of dashboards/: every query they hold (panel targets and template
// variable queries), and Grafana's substitution of template variables, for the dashboard tests.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './built';

export const DASHBOARDS_DIR = path.join(ROOT, 'dashboards');

export interface DashboardVariable {
  name: string;
  type: string;
  /** For query variables: the text of the query (label_values(...), a PromQL expression). */
  query?: string;
  allValue?: string;
  includeAll?: boolean;
}

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export function dashboardFiles(): string[] {
  return fs
    .readdirSync(DASHBOARDS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(DASHBOARDS_DIR, f));
}

export function loadDashboard(file: string): Json {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** Panels, those inside collapsed rows included. */
export function panelsOf(d: Json): Json[] {
  const out: Json[] = [];
  for (const p of d.panels ?? []) {
    out.push(p);
    for (const inner of p.panels ?? []) out.push(inner);
  }
  return out;
}

export function variablesOf(d: Json): DashboardVariable[] {
  return (d.templating?.list ?? []).map((v: Json) => ({
    name: v.name,
    type: v.type,
    ...(v.type === 'query' ? { query: typeof v.query === 'string' ? v.query : v.query?.query ?? v.definition } : {}),
    ...(v.allValue === undefined ? {} : { allValue: v.allValue }),
    ...(v.includeAll === undefined ? {} : { includeAll: v.includeAll }),
  }));
}

export function panelQueries(file: string): PanelQuery[] {
  const d = loadDashboard(file);
  return panelsOf(d).flatMap((p: Json) =>
    (p.targets ?? []).map((t: Json) => ({ dashboard: path.basename(file), panel: p.title, refId: t.refId, expr: t.expr })),
  );
}

/** Grafana's built-in interval variables, as a 1 h dashboard on a 15 s scrape interval has them. */
export const BUILTIN_VALUES: Record<string, string> = {
  __rate_interval: '1m',
  __interval: '15s',
  __range: '1h',
};

/** Substitutes `$name` and `${name}` (longest names first), as Grafana does for Prometheus (a multi-value variable as a|b). */
export function substitute(expr: string, values: Record<string, string>): string {
  const all = { ...BUILTIN_VALUES, ...values };
  let out = expr;
  for (const name of Object.keys(all).sort((a, b) => b.length - a.length)) {
    out = out.split(`\${${name}}`).join(all[name]!).split(`$${name}`).join(all[name]!);
  }
  return out;
}

/** `label_values(selector, label)` or `label_values(label)`: the parts; undefined for another kind of variable query. */
export function parseLabelValues(q: string): { selector?: string; label: string } | undefined {
  const m = /^\s*label_values\(\s*(?:(.*),\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s.exec(q);
  if (m === null) return undefined;
  return { ...(m[1] === undefined ? {} : { selector: m[1] }), label: m[2]! };
}
