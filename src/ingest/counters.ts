// What every ingest door counts, for the server's own figures: points stored and inputs refused
// (lines, datagrams, bodies, fields), by protocol and reason. One instance per server; a door
// (the Influx listeners, the StatsD listener) is given it and calls error() and stored().
//
//   rondo_ingest_points_total{protocol}          samples stored
//   rondo_ingest_errors_total{protocol,reason}   what was refused or skipped, and why
export class IngestCounters {
  private readonly errors = new Map<string, number>(); // protocol \0 reason
  private readonly points = new Map<string, number>(); // protocol
  /** Set on every change; the server clears it when it has recorded the figures. */
  changed = true;

  /** Counts n refusals (default 1) of `reason` on `protocol` (e.g. 'influx_udp', 'parse'). */
  error(protocol: string, reason: string, n = 1): void {
    if (!(n > 0)) return;
    const k = `${protocol}\0${reason}`;
    this.errors.set(k, (this.errors.get(k) ?? 0) + n);
    this.changed = true;
  }

  /** Counts n samples stored from `protocol`. */
  stored(protocol: string, n: number): void {
    if (!(n >= 0)) return;
    this.points.set(protocol, (this.points.get(protocol) ?? 0) + n);
    this.changed = true;
  }

  /** Every count of a protocol seen so far, as series: name, labels, value. */
  figures(): Array<{ name: string; labels: Record<string, string>; value: number }> {
    const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
    for (const [protocol, n] of this.points) out.push({ name: 'rondo_ingest_points_total', labels: { protocol }, value: n });
    for (const [k, n] of this.errors) {
      const [protocol, reason] = k.split('\0') as [string, string];
      out.push({ name: 'rondo_ingest_errors_total', labels: { protocol, reason }, value: n });
    }
    return out;
  }

  /** "protocol reason" → count, and protocol → points (for stats() and tests). */
  snapshot(): { errors: Record<string, number>; points: Record<string, number> } {
    return {
      errors: Object.fromEntries([...this.errors].map(([k, n]) => [k.replace('\0', ' '), n])),
      points: Object.fromEntries(this.points),
    };
  }

  /** The Prometheus text lines of both counters (with HELP and TYPE). */
  metricsText(): string {
    const lines: string[] = [];
    lines.push('# HELP rondo_ingest_points_total Samples stored by the ingest doors (Influx line protocol, StatsD), by protocol.');
    lines.push('# TYPE rondo_ingest_points_total counter');
    for (const [protocol, n] of [...this.points].sort()) lines.push(`rondo_ingest_points_total{protocol="${protocol}"} ${n}`);
    lines.push('# HELP rondo_ingest_errors_total Input the ingest doors refused or skipped, by protocol and reason.');
    lines.push('# TYPE rondo_ingest_errors_total counter');
    for (const [k, n] of [...this.errors].sort()) {
      const [protocol, reason] = k.split('\0') as [string, string];
      lines.push(`rondo_ingest_errors_total{protocol="${protocol}",reason="${reason}"} ${n}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
