// `promtool check metrics` (Debian's prometheus package) on a /metrics body.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export const PROMTOOL_BIN = '/usr/bin/promtool';

export function promtoolInstalled(): boolean {
  try {
    fs.accessSync(PROMTOOL_BIN, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Runs promtool check metrics on `body`: its exit code and everything it printed. */
export function promtoolCheck(body: string): { code: number | null; output: string } {
  if (!promtoolInstalled()) throw new Error(`${PROMTOOL_BIN} is missing: install Debian's "prometheus" package (scripts/ensure-test-deps.sh does)`);
  const r = spawnSync(PROMTOOL_BIN, ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/**
 * promtool check metrics on an OpenMetrics body. promtool (2.42) parses with the Prometheus text
 * parser: `# UNIT` and `# EOF` are comments to it, and an OpenMetrics counter family `x`
 * (HELP and TYPE under `x`, samples `x_total`, as OpenMetrics requires) reads to it as a typed
 * family with no samples and an untyped `x_total` without help. Its findings are returned, less
 * exactly those ("x_total no help text" where the body has `# TYPE x counter`).
 */
export function promtoolCheckOpenMetrics(body: string): { code: number | null; findings: string[] } {
  const { code, output } = promtoolCheck(body);
  const counters = new Set([...body.matchAll(/^# TYPE (\S+) counter$/gm)].map((m) => m[1]!));
  const findings = output
    .split('\n')
    .filter((l) => l !== '')
    .filter((l) => {
      const m = /^(\S+)_total no help text$/.exec(l);
      return m === null || !counters.has(m[1]!);
    });
  return { code, findings };
}
