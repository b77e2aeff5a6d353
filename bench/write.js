// The write path: record() (the JavaScript fast path), recordBatch(), the same write through a
// plain N-API call, native record through rondo::Writer (C++ threads, as a VMM's vCPU threads
// record), next to peers measured in the same run: prom-client's labelled gauge.set() and
// counter.inc(), hot-shots sending StatsD over UDP to a local socket, fs.writeSync() of one
// line-protocol line, and raw C loops storing into an mmap'd file of the same shape.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const client = require('prom-client');
const { StatsD } = require('hot-shots');
const { Store } = require('../dist/src');
const { addon } = require('../dist/src/store/native');
const { devAddon } = require('../dist/src/store/dev-addon');
const { Samples, timeChunks, interleave, nowNs, sleep } = require('./lib/harness');
const { buildStoreLoop, runStoreLoop } = require('./lib/native-loop');

const SERIES = 30;
const INTERVAL_MS = 1000;
const SLOTS = 600;
const CHUNK = 1024;
/** Peers that cost microseconds a write run fewer, smaller chunks. */
const SLOW_CHUNK = 256;

function openStore(dir, name) {
  const store = Store.open(path.join(dir, name), {
    schemas: [{ name: 'bench', match: {}, maxSeries: 64, tiers: [{ interval: INTERVAL_MS, retention: SLOTS * INTERVAL_MS }] }],
  });
  const hs = [];
  for (let i = 0; i < SERIES; i++) hs.push(store.register('rondo_bench_value', { series: String(i) }));
  return { store, hs };
}

/** An aligned 1 s timestamp `secondsAgo` in the past. */
function pastSecond(secondsAgo) {
  return (Math.floor(Date.now() / INTERVAL_MS) - secondsAgo) * INTERVAL_MS;
}

async function run({ quick, tmp, progress }) {
  const rounds = quick ? 4 : 40;
  const chunks = quick ? 250 : 1500; // per case per round
  const slowChunks = quick ? 12 : 40;
  const cases = [];
  const add = (name, kind, samples, round, warm, extra = {}) => {
    const c = { name, kind, samples, round, warm, ...extra };
    cases.push(c);
    return c;
  };
  const cleanup = [];
  /** A case of single writes, timed in chunks of CHUNK: `share` of the rounds' chunks, after `warmOps`. */
  const addWrites = (name, kind, loop, { share = 1, warmOps = 300_000, ...extra } = {}) => {
    const s = new Samples();
    add(name, kind, s, () => timeChunks(loop, CHUNK, Math.ceil(chunks * share), s), () => loop(warmOps), { unit: 'writes/s', ...extra });
  };

  // ---- rondo: the JavaScript thread ----
  // Steady state: every write goes to the row already taken for the current second.
  const W = openStore(tmp, 'steady');
  cleanup.push(() => W.store.close());
  const ts = pastSecond(5);
  const { store, hs } = W;
  {
    const h = hs[0];
    let v = 0;
    // Loop state in locals: the closure's variables would be loaded and stored every write.
    const loop = (n) => {
      const st = store;
      let x = v;
      for (let i = 0; i < n; i++) st.record(h, x++, ts);
      v = x;
    };
    addWrites('`record()`, 1 series', 'rondo', loop);
  }
  {
    let v = 0;
    let col = 0;
    const loop = (n) => {
      const st = store;
      const handles = hs;
      let x = v;
      let c = col;
      for (let i = 0; i < n; i++) {
        st.record(handles[c], x++, ts);
        if (++c === SERIES) c = 0;
      }
      v = x;
      col = c;
    };
    addWrites('`record()`, 30 series round-robin', 'rondo', loop);
  }
  {
    // As `rondo bench` measures it: each round of 30 writes takes a new row (a native call).
    const M = openStore(tmp, 'new-rows');
    cleanup.push(() => M.store.close());
    const mstore = M.store;
    const mhs = M.hs;
    const totalRows = Math.ceil((300_000 + rounds * chunks * CHUNK) / SERIES) + 10;
    let mts = pastSecond(totalRows + 5);
    let v = 0;
    let col = 0;
    const loop = (n) => {
      const st = mstore;
      const handles = mhs;
      let x = v;
      let c = col;
      let t = mts;
      for (let i = 0; i < n; i++) {
        st.record(handles[c], x++, t);
        if (++c === SERIES) {
          c = 0;
          t += INTERVAL_MS;
        }
      }
      v = x;
      col = c;
      mts = t;
    };
    addWrites('`record()`, 30 series, a new row every 30 writes', 'rondo', loop);
  }
  // Every case has a loop of its own, written out: one loop shared by several cases would see
  // all their types at once, and V8 would compile it for all of them.
  const values = new Float64Array(SERIES).fill(1);
  const perCall = Math.round(CHUNK / SERIES); // calls per chunk: about CHUNK values
  const addBatch = (name, loop) => {
    const s = new Samples();
    add(name, 'rondo', s, () => timeChunks(loop, perCall, chunks, s, perCall * SERIES), () => loop(20_000), { unit: 'values/s' });
  };
  {
    const handles = hs.slice();
    addBatch('`recordBatch()` of 30, per value', (n) => {
      const st = store;
      const vs = values;
      for (let i = 0; i < n; i++) {
        vs[0] = i;
        st.recordBatch(ts, handles, vs);
      }
    });
  }
  {
    const handles = Object.freeze(hs.slice());
    addBatch('`recordBatch()` of 30, frozen array, per value', (n) => {
      const st = store;
      const vs = values;
      for (let i = 0; i < n; i++) {
        vs[1] = i;
        st.recordBatch(ts, handles, vs);
      }
    });
  }
  {
    const B = openStore(tmp, 'batch-rows');
    cleanup.push(() => B.store.close());
    const bstore = B.store;
    const handles = B.hs.slice();
    let bts = pastSecond(20_000 + rounds * chunks * perCall + 10);
    addBatch('`recordBatch()` of 30, a new row every call, per value', (n) => {
      const st = bstore;
      const vs = values;
      let t = bts;
      for (let i = 0; i < n; i++) {
        vs[2] = i;
        st.recordBatch(t, handles, vs);
        t += INTERVAL_MS;
      }
      bts = t;
    });
  }
  {
    // What the fast path saves: the same write as a call into the addon (through a Slab object
    // of its own on the store's tier-0 file).
    const slab = new addon.Slab(store.nativeTarget(hs[0]).file, 'attach');
    cleanup.push(() => slab.close());
    const cols = Int32Array.from(hs, (h) => store.nativeTarget(h).column);
    let v = 0;
    let col = 0;
    const loop = (n) => {
      let x = v;
      let c = col;
      for (let i = 0; i < n; i++) {
        slab.record(cols[c], ts, x++);
        if (++c === SERIES) c = 0;
      }
      v = x;
      col = c;
    };
    addWrites('plain N-API call (`slab.record`), 30 series round-robin', 'rondo', loop, { share: 1 / 4, warmOps: 100_000 });
  }

  // ---- rondo: native threads ----
  {
    const N = openStore(tmp, 'native');
    cleanup.push(() => N.store.close());
    const { file } = N.store.nativeTarget(N.hs[0]);
    const cols = Uint32Array.from(N.hs, (h) => N.store.nativeTarget(h).column);
    const { bench } = devAddon(); // the native bench helpers: `npm run build:native`
    // A round of 30 writes every 1 ms of timestamps: a row (1 s) takes 1000 rounds, as steady as
    // the JavaScript rows above.
    const step = 1;
    const nativeRounds = Math.ceil((chunks * CHUNK) / SERIES);
    const firstWarm = (SLOTS * INTERVAL_MS) / step; // a lap of the ring: every page touched
    let nts = pastSecond(Math.ceil(((firstWarm + 2 * rounds * (nativeRounds + 2000)) * step) / 1000) + 10);
    let warmed = false;
    for (const threads of [1, 2]) {
      const s = new Samples();
      add(
        threads === 1 ? 'native `rondo::Writer::Record` (C++), 1 thread' : 'native `rondo::Writer::Record` (C++), 2 threads, per thread',
        'rondo',
        s,
        async () => {
          const warm = warmed ? 2000 : firstWarm;
          warmed = true;
          const runner = bench.startNative(file, cols, nts, step, threads, warm, nativeRounds, CHUNK);
          while (!runner.done()) await sleep(5);
          const r = runner.join();
          nts += (warm + nativeRounds) * step;
          // Per-write ns of each thread's chunks; throughput of all threads together.
          s.addMany(r.chunkNs, r.ops, r.elapsedNs, threads);
          s.late = (s.late ?? 0) + r.lateWrites;
        },
        undefined,
        { unit: 'writes/s', threads },
      );
    }
  }

  // ---- peers ----
  {
    const registry = new client.Registry();
    const gauge = new client.Gauge({ name: 'bench_gauge', help: 'bench', labelNames: ['vcpu', 'reason'], registers: [registry] });
    const counter = new client.Counter({ name: 'bench_total', help: 'bench', labelNames: ['vcpu', 'reason'], registers: [registry] });
    const labels = Array.from({ length: SERIES }, (_, i) => ({ vcpu: String(i % 4), reason: `r${i}` }));
    const children = labels.map((l) => gauge.labels(l));
    {
      let v = 0;
      let col = 0;
      const loop = (n) => {
        let x = v;
        let c = col;
        for (let i = 0; i < n; i++) {
          gauge.set(labels[c], x++);
          if (++c === SERIES) c = 0;
        }
        v = x;
        col = c;
      };
      addWrites('prom-client labelled `gauge.set(labels, v)`, 30 series', 'peer', loop, { share: 1 / 4, warmOps: 100_000, short: 'prom-client gauge.set' });
    }
    {
      let col = 0;
      const loop = (n) => {
        let c = col;
        for (let i = 0; i < n; i++) {
          counter.inc(labels[c]);
          if (++c === SERIES) c = 0;
        }
        col = c;
      };
      addWrites('prom-client labelled `counter.inc(labels)`, 30 series', 'peer', loop, { share: 1 / 4, warmOps: 100_000, short: 'prom-client counter.inc' });
    }
    {
      let v = 0;
      let col = 0;
      const loop = (n) => {
        let x = v;
        let c = col;
        for (let i = 0; i < n; i++) {
          children[c].set(x++);
          if (++c === SERIES) c = 0;
        }
        v = x;
        col = c;
      };
      addWrites('prom-client `gauge.labels(…)` child kept, `.set(v)`, 30 series', 'peer', loop, { share: 1 / 4, warmOps: 100_000, short: 'prom-client child.set' });
    }
  }
  {
    // StatsD over UDP to a socket on loopback, received in another process (as a StatsD agent
    // would be: not on this event loop); a write counts once hot-shots has sent it.
    const sink = await startUdpSink();
    const statsd = new StatsD({ host: '127.0.0.1', port: sink.port, errorHandler: () => {} });
    cleanup.push(() => new Promise((resolve) => statsd.close(() => sink.stop().then(resolve))));
    const tags = Array.from({ length: SERIES }, (_, i) => [`vcpu:${i % 4}`, `reason:r${i}`]);
    const s = new Samples();
    let col = 0;
    let v = 0;
    const chunk = (n) =>
      new Promise((resolve, reject) => {
        let left = n;
        const done = (err) => {
          if (err) reject(err);
          else if (--left === 0) resolve();
        };
        for (let i = 0; i < n; i++) {
          statsd.gauge('rondo_bench_value', v++, tags[col], done);
          if (++col === SERIES) col = 0;
        }
      });
    add(
      'hot-shots `gauge()`: StatsD over UDP to a local socket (until sent)',
      'peer',
      s,
      async () => {
        for (let c = 0; c < slowChunks; c++) {
          const t0 = nowNs();
          await chunk(SLOW_CHUNK);
          s.add(nowNs() - t0, SLOW_CHUNK);
        }
      },
      async () => {
        for (let c = 0; c < 8; c++) await chunk(SLOW_CHUNK);
      },
      { unit: 'writes/s', short: 'hot-shots UDP' },
    );
  }
  {
    // Appended, as a log is: after each round's truncation the file starts again from empty.
    const file = path.join(tmp, 'lines.txt');
    const fd = fs.openSync(file, 'a');
    cleanup.push(() => fs.closeSync(fd));
    let v = 0;
    let col = 0;
    const nsTs = `${ts}000000`;
    const loop = (n) => {
      for (let i = 0; i < n; i++) {
        fs.writeSync(fd, `rondo_bench_value,series=${col} value=${v++} ${nsTs}\n`);
        if (++col === SERIES) col = 0;
      }
    };
    const s = new Samples();
    add(
      '`fs.writeSync()` of one line-protocol line to a file',
      'peer',
      s,
      () => {
        timeChunks(loop, SLOW_CHUNK, slowChunks, s);
        fs.ftruncateSync(fd, 0);
      },
      () => loop(5_000),
      { unit: 'writes/s', short: 'fs.writeSync' },
    );
  }

  // ---- the physical limit ----
  const bin = buildStoreLoop(tmp);
  const limitNote = bin instanceof Error ? bin.message : undefined;
  if (!(bin instanceof Error)) {
    for (const [mode, name, short] of [
      ['limit', 'C loop storing into an mmap\'d file of the same shape (the physical limit)', 'C loop'],
      ['checked', 'C loop with `record()`\'s checks (interval, column, finite value, stamp before and after)', 'C loop, checked'],
    ]) {
      const s = new Samples();
      add(
        name,
        'limit',
        s,
        () => {
          const r = runStoreLoop(bin, mode, { ncols: SERIES, slots: SLOTS, rounds: Math.ceil((chunks * CHUNK) / SERIES), stepMs: 1, chunk: CHUNK });
          s.addMany(r.chunkNs, r.ops, r.elapsedNs);
        },
        undefined,
        { unit: 'writes/s', short, mode },
      );
    }
  }

  try {
    await interleave(cases, rounds, progress);
  } finally {
    for (const f of cleanup.reverse()) await f();
  }

  const late = cases.reduce((a, c) => a + (c.samples.late ?? 0), 0);
  const notes = [
    `Each round runs every case in turn (${rounds} rounds); a sample is a chunk of ${CHUNK} writes (peers that take microseconds: ${SLOW_CHUNK}) timed as a whole, since one write is shorter than the clock's resolution: median and p99 are over those chunks, per write.`,
    `Steady state: the rows above "a new row" write into the row already taken for their second (a 1 s tier, ${SLOTS} slots, ${SERIES} series of a 64-series schema); native threads and the C loops move on by 1 ms of timestamps every round of ${SERIES} writes, so take a new row every 30,000 writes.`,
    'Batches: one `recordBatch(ts, handles, values)` call writes 30 values; its figures are per value. The same handles array is passed every call (an agent\'s tick), as a plain array or frozen with `Object.freeze`.',
    'Native 2 threads: each thread writes its own 15 series; the time is per write of one thread, both throughputs are those of the two threads together.',
    'The C loops write 30 columns round-robin, as the 30-series cases do; `record()` of 1 series writes one cell again and again, which is a little cheaper than the loops\' shape.',
  ];
  if (late > 0) notes.push(`${late} native writes were refused as late (threads raced past the ring).`);
  if (limitNote) notes.push(`The C loops were not run: ${limitNote}.`);
  return { id: 'write', title: 'Write path', unit: 'ns', cases, notes };
}

/** A UDP socket on 127.0.0.1 in a child process that takes datagrams and drops them. */
async function startUdpSink() {
  const child = spawn(
    process.execPath,
    ['-e', "const s = require('dgram').createSocket('udp4'); s.on('message', () => {}); s.bind(0, '127.0.0.1', () => console.log(s.address().port));"],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the UDP sink exited (${code}) before listening`)));
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
  });
  child.removeAllListeners('exit');
  return {
    port,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

module.exports = { run };
