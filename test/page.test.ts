// The live page at / of rondo serve, in a real browser: Debian's chromium, headless, driven by
// puppeteer-core, against `rondo serve --read-only` of a store this test holds open as its writer
// (three hours of known data in three tiers, and a VM's lifecycle and console in its event ring).
// The page must load without console errors, list the store's series, draw the right lines for a
// selector typed in its box, chart the store's values (read back from uPlot's own data), change
// the tier when a drag zooms onto a range another tier answers, and append a point the test
// records while the page is open. Screenshots go to test-artifacts/ (docs/page.png too with
// RONDO_UPDATE_SCREENSHOT=1).
import * as fs from 'node:fs';
import * as path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store, type SeriesHandle } from '../dist/src/index';
import { alignedPast, suiteTempDir, tempDir } from './helpers';
import { killServes, startServe, stopServe, type RunningServe } from './support/serve-cli';

// The callbacks given to page.evaluate and friends run in the browser: its globals, loosely typed
// here (the tests' type check has no DOM library).
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const window: any;
declare const document: any;
type HTMLElement = any;
type HTMLInputElement = any;
type HTMLOptionElement = any;

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(__dirname, '..', 'test-artifacts');
const SCREENSHOT = path.join(__dirname, '..', 'docs', 'page.png');

const SCHEMA = [
  {
    name: 'page',
    match: {},
    maxSeries: 32,
    tiers: [
      { interval: '1s', retention: '10m' },
      { interval: '10s', retention: '1h' },
      { interval: '1m', retention: '1d' },
    ],
  },
];
const HISTORY_S = 3 * 3600;
const ROOMS = ['a', 'b', 'c'];
const SLOPES: Record<string, number> = { x: 5, y: 2 };

let dir: string;
let store: Store;
let serve: RunningServe;
let browser: Browser;
let lastMs: number;
const temp = new Map<string, SeriesHandle>();
let mem: SeriesHandle;

const tempValue = (room: number, i: number): number => 10 * (room + 1) + ((i * 7919 + room * 31) % 100) / 10;

beforeAll(async () => {
  dir = suiteTempDir('rondo-page-');
  store = Store.open(dir, { schemas: SCHEMA, events: { size: '64KiB' } });
  ROOMS.forEach((r) => temp.set(r, store.register('temp', { room: r })));
  const work = Object.keys(SLOPES).map((job) => store.register('work_total', { job }, { kind: 'counter' }));
  mem = store.register('mem_bytes');
  const exits = ['io_in', 'hlt'].map((reason) => store.register('vmm_vcpu_exits_total', { vcpu: '0', reason }, { kind: 'counter' }));
  const run = store.register('vmm_vcpu_run_seconds_total', { vcpu: '0' }, { kind: 'counter' });
  const t0 = alignedPast(HISTORY_S * 1000, 60_000);
  const total = { io: 0, hlt: 0, run: 0 };
  for (let i = 0; i < HISTORY_S; i++) {
    const ts = t0 + i * 1000;
    ROOMS.forEach((r, k) => store.record(temp.get(r)!, tempValue(k, i), ts));
    Object.values(SLOPES).forEach((slope, k) => store.record(work[k]!, slope * i, ts));
    store.record(mem, 1_000_000 + i, ts);
    // The VM's counters grow unevenly, so its view (docs/page.png) has something to show.
    total.io += Math.round(200 + 150 * Math.sin(i / 30));
    total.hlt += i % 7;
    total.run += 0.5 + 0.3 * Math.sin(i / 45);
    store.record(exits[0]!, total.io, ts);
    store.record(exits[1]!, total.hlt, ts);
    store.record(run, total.run, ts);
    if (i % 60 === 59) store.consolidate({ now: ts + 1000 });
  }
  lastMs = t0 + (HISTORY_S - 1) * 1000;
  store.consolidate({ now: lastMs + 1000 });
  // A VM's life in the event ring, as the demo VMM keeps it: lifecycle records and console lines.
  const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;
  store.createTopic('/vm/t1/lifecycle', '{"event": string, "vcpu": int32, "detail": string}');
  const lifeAt = lastMs - 120_000;
  store.append('/vm/t1/lifecycle', { event: 'created', vcpu: -1, detail: 'micro guest, 1 vCPU' }, ns(lifeAt));
  store.append('/vm/t1/lifecycle', { event: 'started', vcpu: -1, detail: '1 vCPU thread started' }, ns(lifeAt + 1000));
  store.append('/vm/t1/lifecycle', { event: 'vcpu_up', vcpu: 0, detail: '' }, ns(lifeAt + 2000));
  for (const [k, line] of ['rondo micro-guest: boot', 'rondo micro-guest: vcpu 0 up', 'rondo micro-guest: bye'].entries()) store.append('/vm/t1/console', line, ns(lifeAt + 2000 + k * 1000));
  store.append('/vm/t1/lifecycle', { event: 'ended', vcpu: 0, detail: 'shutdown' }, ns(lifeAt + 60_000));
  store.flush();
  // The page works with the server read-only: this test is the store's writer.
  serve = await startServe([dir, '--read-only', '--listen', '127.0.0.1:0']);
  browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--headless=new', '--no-sandbox'] });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (serve !== undefined) await stopServe(serve.child);
  killServes();
  store?.close();
});

interface Opened {
  page: Page;
  /** Console errors, page errors and failed requests seen so far. */
  problems: string[];
}

async function open(query: string): Promise<Opened> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  await page.goto(`${serve.url}${query}`);
  await ready(page);
  return { page, problems };
}

/** Waits until the page has drawn its charts for the view (after a load, a zoom, a new query). */
async function ready(page: Page, afterGeneration = 0): Promise<void> {
  await page.waitForFunction((g: number) => {
    const r = (window as unknown as { __rondo?: { ready: boolean; generation: number } }).__rondo;
    return r !== undefined && r.ready && r.generation > g;
  }, { timeout: 20_000 }, afterGeneration);
}

interface ChartView {
  title: string;
  labels: string[];
  tiers: Array<{ tier: number; stepMs: number; agg: string }>;
  tierText: string;
  /** uPlot's data: [xs (seconds), ...one column per line]. */
  data: Array<Array<number | null>>;
}

function charts(page: Page): Promise<ChartView[]> {
  return page.evaluate(() =>
    (window as unknown as { __rondo: { charts: Array<{ title: string; labels: string[]; tiers: never[]; el: HTMLElement; u: { data: Array<ArrayLike<number | null>> } | null }> } }).__rondo.charts.map((c) => ({
      title: c.title,
      labels: c.labels,
      tiers: c.tiers,
      tierText: c.el.querySelector('.tier')!.textContent ?? '',
      data: c.u === null ? [] : c.u.data.map((col) => Array.from(col)),
    })),
  );
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `page-${name}.png`), fullPage: true });
}

/** Drags across a chart's plot from time `from` to `to` (seconds), as a user zooms. */
async function drag(page: Page, chart: number, from: number, to: number): Promise<void> {
  const box = await page.evaluate(
    (i: number, a: number, b: number) => {
      const c = (window as unknown as { __rondo: { charts: Array<{ u: { over: HTMLElement; valToPos(v: number, s: string): number } }> } }).__rondo.charts[i]!;
      const r = c.u.over.getBoundingClientRect();
      return { x1: r.left + c.u.valToPos(a, 'x'), x2: r.left + c.u.valToPos(b, 'x'), y: r.top + r.height / 2 };
    },
    chart,
    from,
    to,
  );
  await page.mouse.move(box.x1, box.y);
  await page.mouse.down();
  await page.mouse.move((box.x1 + box.x2) / 2, box.y, { steps: 4 });
  await page.mouse.move(box.x2, box.y, { steps: 4 });
  await page.mouse.up();
}

const generation = (page: Page): Promise<number> => page.evaluate(() => (window as unknown as { __rondo: { generation: number } }).__rondo.generation);

describe('the page at / of rondo serve', () => {
  it('loads without console errors, lists the store\'s series and charts every metric of a small store', async () => {
    const { page, problems } = await open('/');
    const names = await page.$$eval('#names li', (lis) => lis.map((li) => (li as HTMLElement).dataset.name));
    expect(names).toEqual(['mem_bytes', 'temp', 'vmm_vcpu_exits_total', 'vmm_vcpu_run_seconds_total', 'work_total']);
    const cs = await charts(page);
    expect(cs.map((c) => c.title)).toEqual(['mem_bytes', 'temp', 'vmm_vcpu_exits_total (per second)', 'vmm_vcpu_run_seconds_total (per second)', 'work_total (per second)']);
    expect(cs.map((c) => c.labels.length)).toEqual([1, 3, 2, 1, 2]);
    // Picking a metric in the browser: its series as label filters, one line each.
    const g0 = await generation(page);
    await page.click('#names li[data-name="temp"]');
    await ready(page, g0);
    await page.waitForSelector('#labels select[data-label="room"]');
    const rooms = await page.$$eval('#labels select[data-label="room"] option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(rooms).toEqual(['', ...ROOMS]);
    expect((await charts(page)).map((c) => c.labels)).toEqual([ROOMS.map((r) => `{room="${r}"}`)]);
    expect(new URL(page.url()).searchParams.get('q')).toBe('temp');
    const g = await generation(page);
    await page.select('#labels select[data-label="room"]', 'b');
    await ready(page, g);
    expect(new URL(page.url()).searchParams.get('q')).toBe('temp{room="b"}');
    expect((await charts(page))[0]!.labels).toEqual(['{room="b"}']);
    await shot(page, 'all');
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('completes a selector typed in the box from the labels API and draws a line per series it selects', async () => {
    const { page, problems } = await open('/?range=15m');
    const suggestions = (): Promise<string[]> => page.$$eval('#complete:not([hidden]) li', (lis) => lis.map((li) => li.textContent ?? ''));
    await page.click('#q');
    await page.keyboard.type('te');
    await page.waitForFunction(() => document.querySelectorAll('#complete:not([hidden]) li').length > 0);
    expect(await suggestions()).toEqual(['temp']);
    await page.keyboard.press('Tab');
    await page.keyboard.type('{ro');
    await page.waitForFunction(() => document.querySelector('#complete li')?.textContent === 'room');
    expect(await suggestions()).toEqual(['room']);
    await page.keyboard.press('Tab'); // room="
    await page.waitForFunction(() => document.querySelectorAll('#complete:not([hidden]) li').length === 3);
    expect(await suggestions()).toEqual(ROOMS);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Tab'); // b"
    await page.keyboard.type('}');
    expect(await page.$eval('#q', (i) => (i as HTMLInputElement).value)).toBe('temp{room="b"}');
    let g = await generation(page);
    await page.keyboard.press('Enter');
    await ready(page, g);
    expect((await charts(page)).map((c) => c.labels)).toEqual([['{room="b"}']]);
    expect(new URL(page.url()).searchParams.get('q')).toBe('temp{room="b"}');
    g = await generation(page);
    await page.$eval('#q', (i) => ((i as HTMLInputElement).value = ''));
    await page.type('#q', 'temp{room!="b"}');
    await page.keyboard.press('Escape');
    await page.keyboard.press('Enter');
    await ready(page, g);
    expect((await charts(page)).map((c) => c.labels)).toEqual([['{room="a"}', '{room="c"}']]);
    // An expression is charted as it is, one chart.
    const g2 = await generation(page);
    await page.$eval('#q', (i) => ((i as HTMLInputElement).value = ''));
    await page.type('#q', 'sum by (job) (rate(work_total[1m]))');
    await page.keyboard.press('Escape');
    await page.keyboard.press('Enter');
    await ready(page, g2);
    const sum = await charts(page);
    expect(sum.map((c) => c.labels)).toEqual([['{job="x"}', '{job="y"}']]);
    await shot(page, 'selector');
    expect(problems).toEqual([]);
    // Input the server refuses: its error on the page (a selector's above the charts, an
    // expression's on its chart), and the page goes on.
    const typeAndShow = async (text: string): Promise<void> => {
      const g3 = await generation(page);
      await page.$eval('#q', (i) => ((i as HTMLInputElement).value = ''));
      await page.type('#q', text);
      await page.keyboard.press('Escape');
      await page.keyboard.press('Enter');
      await ready(page, g3);
    };
    await typeAndShow('temp{room=}');
    expect(await page.$eval('#status', (e) => e.className)).toBe('error');
    expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/expected a quoted string after "room"=/);
    await typeAndShow('rate(temp[5m]');
    const errors = await page.$$eval('.chart .error', (els) => els.map((e) => e.textContent));
    expect(errors.length).toBe(1);
    expect(errors[0]).toMatch(/parse error/);
    await typeAndShow('temp{room="a"}');
    expect((await charts(page)).map((c) => c.labels)).toEqual([['{room="a"}']]);
    expect(problems.filter((p) => !/\b400\b/.test(p))).toEqual([]);
    await page.close();
  }, 60_000);

  it("charts the store's values: a gauge's samples, a counter as its rate", async () => {
    const { page, problems } = await open('/?q=temp&range=5m');
    const [c] = await charts(page);
    expect(c!.tiers.map((t) => t.tier)).toEqual([0]);
    expect(c!.tierText).toMatch(/^tier 0 \(1s samples\) · step 1s/);
    let compared = 0;
    for (const room of ROOMS) {
      const col = c!.data[1 + c!.labels.indexOf(`{room="${room}"}`)]!;
      const xs = c!.data[0]!;
      const q = store.query(temp.get(room)!, { start: xs[0]! * 1000, end: xs[xs.length - 1]! * 1000, tier: 0 });
      const byT = new Map<number, number>();
      q.timestamps.forEach((t, i) => (q.values[i] === q.values[i] ? byT.set(t, q.values[i]!) : undefined));
      xs.forEach((x, i) => {
        const want = byT.get(Math.round(x! * 1000));
        if (want === undefined) return;
        expect(col[i]).toBe(want);
        compared++;
      });
    }
    expect(compared).toBeGreaterThan(3 * 150);
    // work_total is a counter: charted as its rate, its slope where the window is inside the data.
    await page.goto(`${serve.url}/?q=work_total&range=15m`);
    await ready(page);
    const [w] = await charts(page);
    expect(w!.title).toBe('work_total (per second)');
    const xs = w!.data[0]!;
    for (const job of Object.keys(SLOPES)) {
      const col = w!.data[1 + w!.labels.indexOf(`{job="${job}"}`)]!;
      let n = 0;
      xs.forEach((x, i) => {
        if (x! * 1000 > lastMs || col[i] === null) return;
        expect(col[i]).toBeCloseTo(SLOPES[job]!, 9);
        n++;
      });
      expect(n).toBeGreaterThan(500);
    }
    // rates=0 (the "rates" box): a counter as recorded, the store's values.
    await page.goto(`${serve.url}/?q=work_total{job="x"}&range=5m&rates=0`);
    await ready(page);
    const [raw] = await charts(page);
    expect(raw!.title).toBe('work_total');
    const rxs = raw!.data[0]!;
    const rq = store.query(store.find('work_total', { job: 'x' })!, { start: rxs[0]! * 1000, end: rxs.at(-1)! * 1000, tier: 0 });
    let rawCompared = 0;
    rq.timestamps.forEach((t, i) => {
      const at = rxs.indexOf(t / 1000);
      if (at < 0 || !(rq.values[i] === rq.values[i])) return;
      expect(raw!.data[1]![at]).toBe(rq.values[i]);
      rawCompared++;
    });
    expect(rawCompared).toBeGreaterThan(150);
    expect(await page.$eval('#rates', (e) => (e as HTMLInputElement).checked)).toBe(false);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('changes the tier when a drag zooms onto a range another tier answers', async () => {
    const { page, problems } = await open('/?q=temp&range=1h');
    // An hour and the lookback before it: only tier 2 (1 m, a day) reaches back that far.
    expect((await charts(page))[0]!.tiers.map((t) => t.tier)).toEqual([2]);
    await shot(page, 'zoom-before');
    const last = lastMs / 1000;
    let g = await generation(page);
    await drag(page, 0, last - 50 * 60, last - 40 * 60);
    await ready(page, g);
    const url = new URL(page.url());
    expect(url.searchParams.get('from')).not.toBeNull();
    expect(Number(url.searchParams.get('to')) - Number(url.searchParams.get('from'))).toBeGreaterThan(500);
    expect(Number(url.searchParams.get('to')) - Number(url.searchParams.get('from'))).toBeLessThan(700);
    // Ten minutes, 40 to 50 minutes ago: tier 1 (10 s buckets, an hour) answers, its buckets'
    // averages (the schema's consolidate) are what the store holds.
    const [z] = await charts(page);
    expect(z!.tiers.map((t) => t.tier)).toEqual([1]);
    expect(z!.tierText).toMatch(/^tier 1 \(10s buckets, avg\)/);
    const q = store.query(temp.get('a')!, { start: z!.data[0]![0]! * 1000, end: z!.data[0]!.at(-1)! * 1000, tier: 1 });
    const col = z!.data[1 + z!.labels.indexOf('{room="a"}')]!;
    let compared = 0;
    q.timestamps.forEach((t, i) => {
      const at = z!.data[0]!.indexOf(t / 1000);
      if (at < 0 || !(q.values[i] === q.values[i])) return;
      expect(col[at]).toBe(q.values[i]);
      compared++;
    });
    expect(compared).toBeGreaterThan(40);
    await shot(page, 'zoom-tier1');
    // The last three minutes of the hour: tier 0 reaches back there.
    g = await generation(page);
    await page.goto(`${serve.url}/?q=temp&range=1h`);
    await ready(page);
    g = await generation(page);
    const now = Date.now() / 1000;
    await drag(page, 0, now - 180, now - 1);
    await ready(page, g);
    expect((await charts(page))[0]!.tiers.map((t) => t.tier)).toEqual([0]);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('appends a point recorded while the page is open, without building the chart again', async () => {
    const { page, problems } = await open('/?q=mem_bytes&range=5m');
    await page.evaluate(() => ((window as unknown as { __rondo: { charts: Array<{ u: { mark?: number } }> } }).__rondo.charts[0]!.u.mark = 1));
    const before = (await charts(page))[0]!;
    const ts = Math.floor(Date.now() / 1000) * 1000;
    store.record(mem, 4242, ts);
    await page.waitForFunction(
      (t: number) => {
        const c = (window as unknown as { __rondo: { charts: Array<{ u: { data: number[][] } }> } }).__rondo.charts[0]!;
        // The page may have charted second t before the point was recorded: a later second
        // shows it (a gauge's sample stands for the 5 minutes after it, as in Prometheus).
        const xs = c.u.data[0]!;
        return xs[xs.length - 1]! > t && c.u.data[1]![xs.length - 1] === 4242;
      },
      { timeout: 15_000 },
      ts / 1000,
    );
    const after = (await charts(page))[0]!;
    expect(after.data[0]!.at(-1)!).toBeGreaterThan(before.data[0]!.at(-1)!);
    expect(await page.evaluate(() => (window as unknown as { __rondo: { charts: Array<{ u: { mark?: number } }> } }).__rondo.charts[0]!.u.mark)).toBe(1);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it("shows a VM's view: its exits and run time, its lifecycle as markers, its console", async () => {
    const { page, problems } = await open('/?vm=t1');
    const cs = await charts(page);
    expect(cs.map((c) => c.title)).toEqual(['vCPU 0: exits by reason (per second)', 'run time (seconds per second, each vCPU)']);
    expect(cs[0]!.labels).toEqual(['hlt', 'io_in']);
    const view = await page.evaluate(() => {
      const r = (window as unknown as { __rondo: { annotations: Array<{ text: string }>; state: { from: number; to: number } } }).__rondo;
      return { annotations: r.annotations.map((a) => a.text), from: r.state.from, to: r.state.to, console: document.querySelector('#console pre')!.textContent };
    });
    expect(view.annotations).toEqual(['created', 'started', 'vcpu_up vcpu 0', 'ended vcpu 0']);
    // The VM has ended: the view is its life.
    expect(view.from).toBeLessThanOrEqual((lastMs - 120_000) / 1000);
    expect(view.to).toBeGreaterThanOrEqual((lastMs - 60_000) / 1000);
    expect(view.to - view.from).toBeLessThan(120);
    expect(view.console).toBe('rondo micro-guest: boot\nrondo micro-guest: vcpu 0 up\nrondo micro-guest: bye');
    await shot(page, 'vm');
    if (process.env.RONDO_UPDATE_SCREENSHOT === '1') await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  it('serves its files without the token and asks for the token its API calls need', async () => {
    const tokenFile = path.join(tempDir('rondo-page-token-'), 'token');
    fs.writeFileSync(tokenFile, 's3cret\n');
    const guarded = await startServe([dir, '--read-only', '--listen', '127.0.0.1:0', '--auth-token-file', tokenFile]);
    try {
      expect((await fetch(`${guarded.url}/`)).status).toBe(200);
      expect((await fetch(`${guarded.url}/assets/app.js`)).status).toBe(200);
      expect((await fetch(`${guarded.url}/api/v1/labels`)).status).toBe(401);
      expect((await fetch(`${guarded.url}/api/v1/rondo/topics`)).status).toBe(401);
      const page = await browser.newPage();
      const prompts: string[] = [];
      page.on('dialog', (d) => {
        prompts.push(d.message());
        void d.accept('s3cret');
      });
      await page.goto(`${guarded.url}/?q=temp&range=5m`);
      await ready(page);
      expect(prompts.length).toBe(1);
      expect(prompts[0]).toContain('token');
      expect((await charts(page)).map((c) => c.labels.length)).toEqual([3]);
      await page.close();
    } finally {
      await stopServe(guarded.child);
    }
  }, 60_000);

  it('answers the event routes with the store\'s events, and bad parameters with 400 bad_data', async () => {
    const get = async (p: string): Promise<{ status: number; body: { status: string; data?: unknown; errorType?: string; error?: string } }> => {
      const r = await fetch(`${serve.url}${p}`);
      return { status: r.status, body: (await r.json()) as never };
    };
    const topics = await get('/api/v1/rondo/topics');
    expect((topics.body.data as Array<{ name: string }>).map((t) => t.name)).toEqual(['/vm/t1/lifecycle', '/vm/t1/console']);
    const last2 = await get('/api/v1/rondo/events?topic=/vm/t1/console&last=2');
    expect((last2.body.data as Array<{ data: string }>).map((e) => e.data)).toEqual(['rondo micro-guest: vcpu 0 up', 'rondo micro-guest: bye']);
    for (const bad of ['/api/v1/rondo/events', '/api/v1/rondo/events?topic=vm', '/api/v1/rondo/events?topic=/vm/&last=1', '/api/v1/rondo/events?topic=/vm&last=0', '/api/v1/rondo/events?topic=/vm&start=x', '/api/v1/rondo/events?topic=/vm&start=10&end=5']) {
      const r = await get(bad);
      expect(r.status, bad).toBe(400);
      expect(r.body.errorType, bad).toBe('bad_data');
    }
    // A store without an event ring: no topics, no events, no error.
    const plain = tempDir('rondo-page-plain-');
    Store.open(plain).close();
    const other = await startServe([plain, '--read-only', '--listen', '127.0.0.1:0']);
    try {
      const r1 = await fetch(`${other.url}/api/v1/rondo/topics`);
      expect(await r1.json()).toEqual({ status: 'success', data: [] });
      const r2 = await fetch(`${other.url}/api/v1/rondo/events?topic=/vm`);
      expect(await r2.json()).toEqual({ status: 'success', data: [] });
    } finally {
      await stopServe(other.child);
    }
    // The page's files: gzipped for a browser, uPlot from its package.
    // Everything / loads, and its size on the wire: docs/page.md's table (a budget of 40 KB).
    const assets = ['/', '/assets/app.js', '/assets/style.css', '/assets/uplot/uPlot.iife.min.js', '/assets/uplot/uPlot.min.css'];
    let wire = 0;
    for (const a of assets) {
      const r = await fetch(`${serve.url}${a}`, { headers: { 'Accept-Encoding': 'gzip' } });
      expect(r.status, a).toBe(200);
      expect(r.headers.get('content-encoding'), a).toBe('gzip');
      wire += Number(r.headers.get('content-length'));
      await r.arrayBuffer();
    }
    console.log(`the page's files: ${wire} bytes gzipped`);
    expect(wire).toBeLessThan(40_000);
  }, 30_000);
});
