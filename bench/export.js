// The export path: remote-write encoding (protobuf) and snappy compression of the batches an
// exporter makes, the exporter in front of it (with its durable cursor), the
// prometheus-remote-write package encoding the same samples, and pushes to a real Prometheus
// on loopback.
'use strict';
const path = require('node:path');
const snappyjs = require('snappyjs');
const prw = require('prometheus-remote-write');
const { Store, encodeWriteRequest, pushTo } = require('../dist/src');
const { compressSnappy } = require('../dist/src/export/snappy');
const { Samples, interleave, nowNs } = require('./lib/harness');
const { startPrometheus, prometheusInstalled, PROMETHEUS_BIN } = require('./lib/prometheus');

const SERIES = 30;
const BATCH = 2000;

/** The package's input for a batch: one Timeseries per series, label and sample objects. */
function toPackageSeries(series) {
  return series.map((s) => ({
    labels: { __name__: s.name, ...s.labels },
    samples: s.timestamps.map((t, i) => ({ value: s.values[i], timestamp: t })),
  }));
}

async function run({ quick, tmp, progress, prometheus }) {
  const rounds = quick ? 4 : 30;
  const seconds = quick ? 1200 : 3600;
  const pushRounds = quick ? 1 : 3;

  // 30 counters (vCPU exit counts), a point a second for `seconds`, ending a minute ago.
  const store = Store.open(path.join(tmp, 'export'), {
    schemas: [{ name: 'bench', match: {}, maxSeries: 64, tiers: [{ interval: 1000, retention: (seconds + 120) * 1000 }] }],
  });
  const hs = Array.from({ length: SERIES }, (_, i) =>
    store.register('rondo_bench_exits_total', { vcpu: String(i % 4), reason: `reason_${i}` }, { kind: 'counter' }),
  );
  const t0 = (Math.floor(Date.now() / 1000) - seconds - 60) * 1000;
  const values = new Float64Array(SERIES);
  for (let s = 0; s < seconds; s++) {
    for (let i = 0; i < SERIES; i++) values[i] = s * (i + 1) * 7;
    store.recordBatch(t0 + s * 1000, hs, values);
  }
  const until = t0 + seconds * 1000;
  const total = SERIES * seconds;

  // The batches an exporter makes (time order across series), to encode again and again.
  const batches = [];
  {
    const ex = store.exporter('bench-collect');
    for (let b = ex.next({ maxSamples: BATCH, until }); b.samples > 0; b = ex.next({ maxSamples: BATCH, until })) {
      batches.push({ series: b.series, samples: b.samples, pkg: toPackageSeries(b.series) });
      b.commit();
    }
  }
  let bytes = 0;
  let compressed = 0;
  for (const b of batches) {
    const raw = encodeWriteRequest(b.series);
    bytes += raw.length;
    compressed += compressSnappy(raw).length;
  }

  const cases = [];
  const add = (name, kind, samples, round, warm, extra = {}) => cases.push({ name, kind, samples, round, warm, unit: 'samples/s', ...extra });
  /** A case that times op(batch) for every batch, one sample each. */
  const perBatch = (name, op) => {
    const s = new Samples();
    const round = () => {
      for (const b of batches) {
        const t = nowNs();
        op(b);
        s.add(nowNs() - t, 1, b.samples);
      }
    };
    add(name, 'rondo', s, round, () => batches.forEach(op));
  };
  perBatch('remote-write encode + snappy (rondo)', (b) => compressSnappy(encodeWriteRequest(b.series)).length);
  perBatch('remote-write encode + snappyjs\'s compressor', (b) => snappyjs.compress(encodeWriteRequest(b.series)).length);
  {
    // The exporter: next() gathers a batch from the ring, then encode + snappy; commit() moves
    // the durable cursor (its file written, fsync'd and renamed).
    const noCommit = new Samples();
    const withCommit = new Samples();
    let n = 0;
    const drain = (timed) => {
      const ex = store.exporter(`bench-${n++}`);
      for (;;) {
        const t = nowNs();
        const b = ex.next({ maxSamples: BATCH, until });
        if (b.samples === 0) break;
        compressSnappy(encodeWriteRequest(b.series));
        const t1 = nowNs();
        b.commit();
        const t2 = nowNs();
        if (timed) {
          noCommit.add(t1 - t, 1, b.samples);
          withCommit.add(t2 - t, 1, b.samples);
        }
      }
      ex.close();
    };
    add('`exporter.next()` + encode + snappy', 'rondo', noCommit, () => drain(true), () => drain(false));
    add('`exporter.next()` + encode + snappy + `commit()` (cursor file fsync\'d)', 'rondo', withCommit, () => {});
  }
  {
    let body;
    const fetch = async (_url, init) => {
      body = init.body;
      return { status: 200, statusText: 'OK', text: async () => '' };
    };
    const s = new Samples();
    const op = (b) => prw.pushTimeseries(b.pkg, { url: 'http://127.0.0.1:9/api/v1/write', fetch });
    add(
      '`prometheus-remote-write` package: encode + snappy of the same samples',
      'peer',
      s,
      async () => {
        for (const b of batches) {
          const t = nowNs();
          await op(b);
          s.add(nowNs() - t, 1, b.samples);
        }
        if (!(body?.length > 0)) throw new Error('prometheus-remote-write sent nothing');
      },
      async () => {
        for (const b of batches) await op(b);
      },
      { short: 'prometheus-remote-write' },
    );
  }

  let pushNote;
  let stopPrometheus;
  if (prometheus !== false && prometheusInstalled()) {
    progress?.('starting Prometheus');
    const prom = await startPrometheus();
    const s = new Samples();
    let r = 0;
    add(
      `\`pushTo()\` a real Prometheus ${prom.version} on loopback (per batch)`,
      'rondo',
      s,
      async () => {
        if (r >= pushRounds) return;
        // A new exporter and external label each round: new series to Prometheus, never out of order.
        let last = nowNs();
        let sent = 0;
        const summary = await pushTo(store, prom.url, {
          exporter: `bench-push-${r}`,
          until,
          externalLabels: { bench_round: String(r++) },
          onProgress: (p) => {
            const now = nowNs();
            s.add(now - last, 1, p.samples - sent);
            sent = p.samples;
            last = now;
          },
        });
        if (summary.samples !== total || summary.dropped !== 0)
          throw new Error(`push to Prometheus sent ${summary.samples} of ${total} samples (${summary.dropped} dropped)`);
      },
      undefined,
      { noRatio: true },
    );
    stopPrometheus = prom.stop;
    pushNote = `Pushes: ${pushRounds} round${pushRounds > 1 ? 's' : ''} of all ${total} samples to Prometheus ${prom.version} (\`${PROMETHEUS_BIN} --web.enable-remote-write-receiver\`, a new exporter and series each round), batches of ${BATCH}: per batch, the time from one accepted batch to the next (gather, encode, compress, POST, answer, commit). The pushes run in the first ${pushRounds} of the ${rounds} rounds only (each is ${total} samples into a real TSDB), not interleaved through the whole run as the other cases are.`;
  } else {
    pushNote = prometheus === false ? 'The push to Prometheus was left out (--no-prometheus).' : `The push to Prometheus was left out: ${PROMETHEUS_BIN} is not installed (Debian package "prometheus").`;
  }

  try {
    await interleave(cases, rounds, progress);
  } finally {
    await stopPrometheus?.();
    store.close();
  }
  return {
    id: 'export',
    title: 'Export (Prometheus remote-write)',
    unit: 'µs',
    perOp: 'batch',
    cases,
    notes: [
      `The samples: ${SERIES} counters, a point a second for ${seconds / 60} minutes (${total} samples), in the ${batches.length} batches of up to ${BATCH} samples an exporter makes (time order across series): ${(bytes / batches.length / 1024).toFixed(1)} KiB of protobuf and ${(compressed / batches.length / 1024).toFixed(1)} KiB compressed per batch.`,
      `Times are per batch of ${BATCH} samples; throughput in samples per second. The package's input (its label and sample objects) is made before timing; its pushTimeseries() runs with a fetch that keeps the body, so it encodes, compresses and sends nothing. The same batches are encoded round after round: rondo's encoder keeps each series' label bytes (its labels are frozen), as it does in an exporter after the first batch.`,
      pushNote,
    ],
  };
}

module.exports = { run };
