// A real Prometheus that scrapes given targets and evaluates given rule files, on a free loopback
// port in a temp dir, for the tests of the alert mixin (mixin/alerts.yaml).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suiteTempDir } from '../helpers';
import { freePort, PROMETHEUS_BIN } from './receivers';

export interface ScrapingPrometheus {
  /** Base URL of its HTTP API. */
  api: string;
  dir: string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** Starts Prometheus scraping `targets` (host:port, path /metrics) every `interval` and evaluating `ruleFiles` as often. */
export async function startScrapingPrometheus(o: { targets: string[]; ruleFiles: string[]; interval?: string; job?: string }): Promise<ScrapingPrometheus> {
  const interval = o.interval ?? '1s';
  const dir = suiteTempDir('rondo-prom-rules-');
  const config = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    'rule_files:',
    ...o.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`),
    'scrape_configs:',
    `  - job_name: ${JSON.stringify(o.job ?? 'rondo')}`,
    '    static_configs:',
    `      - targets: [${o.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), `${config}\n`);
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const log = fs.openSync(path.join(dir, 'prometheus.log'), 'a');
    const child = spawn(
      PROMETHEUS_BIN,
      [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: ['ignore', log, log], cwd: dir },
    );
    fs.closeSync(log);
    running.add(child);
    const api = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    while (child.exitCode === null && Date.now() < deadline) {
      try {
        const r = await fetch(`${api}/-/ready`);
        if (r.status === 200)
          return {
            api,
            dir,
            stop: async () => {
              if (child.exitCode === null) {
                const done = new Promise((res) => child.once('exit', res));
                child.kill('SIGTERM');
                await done;
              }
              running.delete(child);
            },
          };
      } catch {
        // not listening yet
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    child.kill('SIGKILL');
    running.delete(child);
    lastError = fs.readFileSync(path.join(dir, 'prometheus.log'), 'utf8').slice(-2000);
    if (!/address already in use/i.test(lastError)) break;
  }
  throw new Error(`prometheus did not start; log:\n${lastError}`);
}
