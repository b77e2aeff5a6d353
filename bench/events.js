// Event rings (docs/events.md): ns per append of a 64-byte payload from JavaScript
// (store.append) and from native threads (rondo::EventRing, the dev addon's eventAppends, as the
// VMM's threads would append); and, when the fossil room is built (src/fossil), fire-and-forget
// APPENDs per second over the fossil door on loopback and the latency of
// `all in /vm since ~now - @hour` over a ring of a million events.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Store } = require('../dist/src');
const { devAddon } = require('../dist/src/store/dev-addon');
const { Samples, interleave, nowNs, sleep } = require('./lib/harness');

const PAYLOAD = 64;

function fossilRoom() {
  try {
    return { fossil: require('../dist/src/fossil'), server: require('../dist/src/server') };
  } catch {
    return undefined;
  }
}

/** A fossil frame: the length (of command and data) as 4 bytes big-endian, the command in 8 bytes, the data. */
function frame(cmd, data) {
  const b = Buffer.alloc(12 + data.length);
  b.writeUInt32BE(8 + data.length, 0);
  b.write(cmd, 4, 'latin1');
  data.copy(b, 12);
  return b;
}

// The sending client, in its own process (its own core when there is one): VERSION with the
// fire-and-forget mode, then batches of APPEND frames as fast as the socket takes them.
const CLIENT = `
const net = require('node:net');
const [port, n, hex, hello, per] = process.argv.slice(1);
const one = Buffer.from(hex, 'hex');
const batch = Buffer.concat(Array.from({ length: +per }, () => one));
const s = net.connect(+port, '127.0.0.1', () => s.write(Buffer.from(hello, 'hex')));
s.once('data', () => {
  let sent = 0;
  const go = () => {
    while (sent < +n) {
      sent += +per;
      if (!s.write(batch)) return void s.once('drain', go);
    }
    s.end();
  };
  go();
});
s.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(1); });
s.on('close', () => process.exit(0));`;

async function fireAndForget(room, dir, total, samples) {
  const store = Store.open(dir, { events: { size: '256MiB' } });
  const srv = await room.server.serve(store, { listen: '127.0.0.1:0', fossil: '127.0.0.1:0', recordOwnMetrics: false });
  try {
    const port = srv.fossil.port;
    const topic = Buffer.from('/vm/1/console');
    const body = Buffer.concat([Buffer.from([0, 0, 0, topic.length]), topic, Buffer.alloc(PAYLOAD, 0x61)]);
    const one = frame('APPEND', body);
    const hello = frame('VERSION', Buffer.from('v1.0.0 fire-and-forget'));
    const PER = 4096;
    const n = Math.ceil(total / PER) * PER;
    const before = store.eventStats().appended;
    const t0 = nowNs();
    const child = spawn(process.execPath, ['-e', CLIENT, String(port), String(n), one.toString('hex'), hello.toString('hex'), String(PER)], { stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    // Done when the store holds them all (the client gets no answer to count).
    while (store.eventStats().appended - before < n) {
      await sleep(2);
      if (child.exitCode !== null && child.exitCode !== 0) throw new Error(`the fossil bench client exited with ${child.exitCode}`);
    }
    samples.add(nowNs() - t0, n);
    await exited;
  } finally {
    await srv.close();
    store.close();
  }
}

async function run({ quick, tmp }) {
  const title = 'Event rings: append from JavaScript and native threads, the fossil door';
  const cases = [];
  const notes = [];
  const later = [];
  const payload = Buffer.alloc(PAYLOAD, 0x5a);
  const rounds = quick ? 3 : 10;

  // JavaScript: store.append(topic, Buffer of 64 bytes) into a 64 MiB ring (it wraps: the steady
  // state, oldest overwritten), chunks of calls timed as a whole.
  const jsStore = Store.open(path.join(tmp, 'events-js'), { events: { size: '64MiB' } });
  const js = new Samples();
  const CHUNK = quick ? 20_000 : 100_000;
  cases.push({
    name: '`store.append()` of a 64-byte Buffer, one topic, the clock read per event',
    kind: 'rondo',
    samples: js,
    unit: 'events/s',
    noRatio: true,
    warm: () => {
      for (let i = 0; i < CHUNK; i++) jsStore.append('/vm/1/console', payload);
    },
    round: () => {
      for (let c = 0; c < (quick ? 3 : 10); c++) {
        const t0 = nowNs();
        for (let i = 0; i < CHUNK; i++) jsStore.append('/vm/1/console', payload);
        js.add(nowNs() - t0, CHUNK);
      }
    },
  });
  const jsTs = new Samples();
  let ts = BigInt(Date.now()) * 1_000_000n;
  cases.push({
    name: '`store.append()` of a 64-byte Buffer with its time given (tsNs)',
    kind: 'rondo',
    samples: jsTs,
    unit: 'events/s',
    noRatio: true,
    round: () => {
      for (let c = 0; c < (quick ? 3 : 10); c++) {
        const t0 = nowNs();
        for (let i = 0; i < CHUNK; i++) jsStore.append('/vm/1/console', payload, (ts += 1000n));
        jsTs.add(nowNs() - t0, CHUNK);
      }
    },
  });

  // Native threads through rondo::EventRing on the same kind of ring, attached while the store
  // has it open (as the VMM's threads would be).
  let bench;
  try {
    bench = devAddon().bench;
  } catch (e) {
    notes.push(`Native appends not run: ${e.message.split('\n')[0]} (\`npm run build:native\` builds the dev addon).`);
  }
  const nativeStore = Store.open(path.join(tmp, 'events-native'), { events: { size: '64MiB' } });
  nativeStore.append('/vm/1/console', 'the topic the native threads append to (id 1)');
  const ring = path.join(tmp, 'events-native', 'events.slab');
  const PER = quick ? 100_000 : 1_000_000;
  if (bench?.eventAppends !== undefined) {
    for (const threads of [1, 2]) {
      const s = new Samples();
      cases.push({
        name: `native \`rondo::EventRing::Append\` (C++), ${threads} thread${threads === 1 ? '' : 's'} at once, 64 bytes, the clock read per event`,
        kind: 'rondo',
        samples: s,
        unit: 'events/s',
        noRatio: true,
        warm: () => bench.eventAppends(ring, threads, 10_000, PAYLOAD),
        round: () => {
          const r = bench.eventAppends(ring, threads, PER, PAYLOAD);
          // Per append of one thread; the throughputs are of all threads together (overall: appends over the wall time).
          s.addMany([(r.ns * threads) / r.appends], r.appends, r.ns, threads);
        },
      });
    }
  } else if (bench !== undefined) notes.push('Native appends not run: this dev addon has no eventAppends (an older build).');

  try {
    await interleave(cases, rounds);
  } finally {
    jsStore.close();
    nativeStore.close();
  }

  const room = fossilRoom();
  if (room === undefined) {
    later.push('The fossil door (TCP appends/s) and the query latency were not run: this build has no fossil room (src/fossil).');
  } else {
    // Fire-and-forget APPENDs over loopback, one connection, the client in another process.
    const ff = new Samples();
    const total = quick ? 200_000 : 2_000_000;
    for (let r = 0; r < (quick ? 1 : 3); r++) await fireAndForget(room, path.join(tmp, `events-ff-${r}`), total, ff);
    cases.push({ name: `fire-and-forget APPEND over the fossil door, 64-byte datums, one TCP connection (${total.toLocaleString('en')} a run)`, kind: 'rondo', samples: ff, unit: 'events/s', noRatio: true });

    // `all in /vm since ~now - @hour` over a ring of N events in the last hour, on 16 topics below
    // /vm: evaluated in this process (runQuery over the store, the language alone) and asked over
    // the door by FossilClient (the answer made, sent as one frame and parsed). The datums are 8
    // bytes: fossil answers a query in one frame, and a million 64-byte datums in base64 would
    // not fit the 100 MiB a frame may hold.
    const N = quick ? 100_000 : 1_000_000;
    const QUERY = 'all in /vm since ~now - @hour';
    const qdir = path.join(tmp, 'events-query');
    const store = Store.open(qdir, { events: { size: quick ? '16MiB' : '128MiB' } });
    const small = Buffer.alloc(8, 0x5a);
    const now = BigInt(Date.now()) * 1_000_000n;
    // Spread over the 50 minutes before now, so that all are still within the hour when asked.
    const step = 3_000_000_000_000n / BigInt(N);
    for (let i = 0; i < N; i++) store.append(`/vm/${i % 16}/console`, small, now - 3_000_000_000_000n + BigInt(i + 1) * step);
    const inProc = new Samples();
    const wire = new Samples();
    let gotIn = 0;
    let gotWire = 0;
    const srv = await room.server.serve(store, { listen: '127.0.0.1:0', fossil: '127.0.0.1:0', recordOwnMetrics: false });
    try {
      const source = room.fossil.eventsOf(store);
      for (let r = 0; r < (quick ? 2 : 5); r++) {
        const t0 = nowNs();
        gotIn = room.fossil.runQuery(source, QUERY).length;
        inProc.add(nowNs() - t0, 1, gotIn);
      }
      const client = await room.fossil.FossilClient.connect(`fossil://127.0.0.1:${srv.fossil.port}/default`);
      try {
        for (let r = 0; r < (quick ? 2 : 3); r++) {
          const t0 = nowNs();
          gotWire = (await client.query(QUERY)).length;
          wire.add(nowNs() - t0, 1, gotWire);
        }
      } finally {
        await client.close?.();
      }
    } finally {
      await srv.close();
      store.close();
    }
    cases.push({ name: `\`${QUERY}\` over ${N.toLocaleString('en')} events (${gotIn.toLocaleString('en')} answered), \`runQuery()\` in process`, kind: 'rondo', samples: inProc, unit: 'events/s', noRatio: true });
    cases.push({ name: `\`${QUERY}\` over ${N.toLocaleString('en')} events (${gotWire.toLocaleString('en')} answered), FossilClient over loopback`, kind: 'rondo', samples: wire, unit: 'events/s', noRatio: true });
  }

  const med = (prefix) => cases.find((c) => c.name.startsWith(prefix))?.samples.summary().medianNs;
  const jsNs = med('`store.append()` of a 64-byte Buffer, one');
  notes.unshift(
    `JavaScript append: ${jsNs.toFixed(0)} ns a 64-byte event at the median (goal: 100 ns or less: ${jsNs <= 100 ? 'met' : 'missed'}). Each sample is a chunk of ${CHUNK.toLocaleString('en')} calls timed as a whole; the ring is 64 MiB and wraps, so the figures include overwriting the oldest records.`,
  );
  const n1 = med('native `rondo::EventRing::Append` (C++), 1 thread');
  if (n1 !== undefined)
    notes.push(`Native append: ${n1.toFixed(0)} ns an event from one thread; with two at once each append pays the claim on the shared ring (a compare-and-swap), so the per-append time per thread is shown and the throughput is of both. Each sample is one run of ${PER.toLocaleString('en')} appends a thread, timed natively.`);
  const ffCase = cases.find((c) => c.name.startsWith('fire-and-forget'));
  const q = cases.filter((c) => c.name.startsWith('`all in'));
  if (q.length === 2)
    notes.push(`The query: ${(q[0].samples.summary().medianNs / 1e6).toFixed(0)} ms in process, ${(q[1].samples.summary().medianNs / 1e6).toFixed(0)} ms over the door (median per query; the throughput columns are events answered per second). Each query reads the whole ring (every record is within the hour) and answers every event.`);
  if (ffCase !== undefined) {
    const rate = ffCase.samples.summary().overall;
    notes.push(`Fire-and-forget over TCP: ${(rate / 1e6).toFixed(2)} M events/s overall, from the first byte sent until the store held every event (goal: 1 M events/s or more: ${rate >= 1e6 ? 'met' : 'missed'}).`);
  }
  notes.push(...later);
  return { id: 'events', title, perOp: 'call', cases, notes };
}

module.exports = { run };

if (require.main === module) {
  const tmp = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'rondo-bench-events-'));
  run({ quick: process.argv.includes('--quick'), tmp })
    .then((g) => {
      const { renderGroup } = require('./lib/report');
      for (const c of g.cases) c.summary = c.samples.summary();
      process.stdout.write(`${renderGroup(g)}\n`);
    })
    .finally(() => fs.rmSync(tmp, { recursive: true, force: true }));
}
