// What rondo captures of short-lived VMs, next to what a scraper would have seen.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runVm, type RunReport } from './vmm';

export interface CaptureRow {
  durationMs: number;
  report: RunReport;
  /** Points a series recorded from the VM's first second has: one per second. */
  rondoPoints: number;
  /** Series with a point in every second of the VM's life, of all series in the store (a few,
   *  such as the exit-handling time of a reason, begin only when their first event happens). */
  seriesEverySecond: number;
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
        rondoPoints: Math.max(...counts),
        seriesEverySecond: counts.filter((n) => n === report.seconds.length).length,
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
        `${r.rondoPoints} in each of ${r.seriesEverySecond} of ${r.series} series | ${s[0]} | ${s[1]} |`,
    );
  }
  out.push(
    '',
    'Scrapers: the scrapes at multiples of the period between the VM\'s actual start and stop, and (avg) what a',
    'scraper with a random phase sees on average. The series without a point every second begin with their first',
    'event (e.g. the exit-handling time of the shutdown exit).',
  );
  return out.join('\n');
}
