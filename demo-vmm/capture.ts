// What rondo captures of short-lived VMs, next to what a scraper would have seen.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runVm, type RunReport } from './vmm';

export interface CaptureRow {
  durationMs: number;
  report: RunReport;
  /** Points of each series rondo recorded over the VM's life (they all have the same count). */
  rondoPoints: number;
  series: number;
  /** Scrapes a scraper with this period would have made while the VM was up: at multiples of
   *  the period (what it would have seen with its actual start and stop), and on average. */
  scrapers: Array<{ periodS: number; aligned: number; expected: number }>;
}

/** Scrape instants k × period within [start, end]. */
export function scrapesWithin(startMs: number, endMs: number, periodMs: number): number {
  return Math.max(0, Math.floor(endMs / periodMs) - Math.ceil(startMs / periodMs) + 1);
}

export async function captureTable(durationsMs: readonly number[], vcpus: number, onRow?: (r: CaptureRow) => void): Promise<CaptureRow[]> {
  const rows: CaptureRow[] = [];
  for (const durationMs of durationsMs) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rondo-capture-'));
    try {
      const report = await runVm({ durationMs, vcpus, storeDir: dir });
      const counts = [...report.pointsPerSeries.values()];
      const row: CaptureRow = {
        durationMs,
        report,
        rondoPoints: Math.min(...counts),
        series: counts.length,
        scrapers: [15, 30].map((periodS) => ({
          periodS,
          aligned: scrapesWithin(report.startedAtMs, report.endedAtMs, periodS * 1000),
          expected: (report.endedAtMs - report.startedAtMs) / (periodS * 1000),
        })),
      };
      rows.push(row);
      onRow?.(row);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows;
}

export function formatCaptureTable(rows: readonly CaptureRow[]): string {
  const out = [
    '| VM | lived | seconds captured | points per series (rondo, 1 s) | 15 s scraper | 30 s scraper |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const s = r.scrapers.map((x) => `${x.aligned} (avg ${x.expected.toFixed(2)})`);
    out.push(
      `| ${r.durationMs / 1000} s | ${r.report.secondsLived.toFixed(2)} s | ${r.report.secondsCaptured}/${r.report.seconds.length} | ` +
        `${r.rondoPoints} in each of ${r.series} series | ${s[0]} | ${s[1]} |`,
    );
  }
  out.push('', 'A scraper sees a VM only at its scrape instants; "avg" is what one with a random phase sees on average.');
  return out.join('\n');
}
