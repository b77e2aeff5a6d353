// rondo's live page (docs/page.md): reads the Prometheus HTTP API of `rondo serve` (and its
// /api/v1/rondo/events route for the VM lifecycle and console) and draws uPlot charts, one per
// metric with a line per series. The view is in the URL: ?q=<selector>&range=1h, ?from=&to= once
// zoomed, ?vm=<id> for a VM's view. window.__rondo exposes the charts' uPlot objects (tests).
/* global uPlot */

const RANGES = { '5m': 300, '15m': 900, '1h': 3600, '6h': 21600, '24h': 86400, '7d': 604800 };
const NICE_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400];
const ALL_NAMES_UP_TO = 12;
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const CONSOLE_LINES = 40;

const $ = (id) => document.getElementById(id);

const state = {
  q: '',
  vm: '',
  range: '1h',
  from: null, // seconds, when zoomed (absolute window)
  to: null,
  live: true,
  rates: true, // counters as rates (rates=0 in the URL: as recorded)
};
const page = {
  state,
  kinds: {}, // metric name -> counter | gauge
  names: [],
  vms: [],
  charts: [],
  annotations: [],
  updates: 0,
  ready: false,
  generation: 0,
};
window.__rondo = page;

// ---- the API ----
let token = sessionStorage.getItem('rondo-token');

async function api(path, params = {}) {
  const usp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) for (const x of v) usp.append(k, x);
    else if (v !== undefined && v !== null) usp.set(k, String(v));
  }
  const url = usp.toString() === '' ? path : `${path}?${usp}`;
  for (let attempt = 0; ; attempt++) {
    const used = token;
    const headers = used ? { Authorization: `Bearer ${used}` } : {};
    const r = await fetch(url, { headers });
    // Another call asked for the token meanwhile: again with it.
    if (r.status === 401 && token !== used && attempt < 2) continue;
    if (r.status === 401 && attempt === 0) {
      const t = window.prompt('This rondo serve asks for a token (the content of its --auth-token-file):');
      if (t) {
        token = t.trim();
        sessionStorage.setItem('rondo-token', token);
        continue;
      }
    }
    let body;
    try {
      body = await r.json();
    } catch {
      throw new Error(`${path}: HTTP ${r.status}`);
    }
    if (body.status !== 'success') throw new Error(body.error || `${path}: HTTP ${r.status}`);
    return body.data;
  }
}

// ---- the view in the URL ----
function readUrl() {
  const p = new URLSearchParams(location.search);
  state.q = p.get('q') || '';
  state.vm = p.get('vm') || '';
  state.range = RANGES[p.get('range')] ? p.get('range') : state.vm ? '15m' : '1h';
  state.rates = p.get('rates') !== '0';
  const from = Number(p.get('from'));
  const to = Number(p.get('to'));
  if (p.get('from') && p.get('to') && Number.isFinite(from) && Number.isFinite(to) && to > from) {
    state.from = from;
    state.to = to;
  } else {
    state.from = state.to = null;
  }
}

function writeUrl() {
  const p = new URLSearchParams();
  if (state.vm) p.set('vm', state.vm);
  if (state.q) p.set('q', state.q);
  if (state.from !== null) {
    p.set('from', state.from.toFixed(3));
    p.set('to', state.to.toFixed(3));
  } else p.set('range', state.range);
  if (!state.rates) p.set('rates', '0');
  history.pushState(null, '', `/?${p}`);
}

/** The window shown, seconds: [start, end], aligned on the step. */
function window_() {
  const now = Date.now() / 1000;
  const start = state.from !== null ? state.from : now - RANGES[state.range];
  const end = state.from !== null ? state.to : now;
  return { start, end, zoomed: state.from !== null };
}

function stepFor(start, end) {
  const width = Math.max(300, $('charts').clientWidth - 60);
  const raw = (end - start) / Math.min(width, 1000);
  return NICE_STEPS.find((s) => s >= raw) ?? Math.ceil(raw / 86400) * 86400;
}

function fmtDur(s) {
  if (s % 86400 === 0) return `${s / 86400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

// ---- PromQL text ----
const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** A plain vector selector: { name, inner } (inner: the text inside the braces), else null. */
function splitSelector(q) {
  const m = /^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(?:\{(.*)\})?\s*$/s.exec(q);
  if (m === null || (m[1] === undefined && m[2] === undefined)) return null;
  return { name: m[1] ?? '', inner: (m[2] ?? '').trim() };
}
const quote = (v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
function selectorOf(name, inner) {
  return inner ? `${name}{${inner}}` : name;
}
function labelText(metric, drop = ['__name__']) {
  const parts = Object.entries(metric)
    .filter(([k]) => !drop.includes(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${quote(v)}`);
  return parts.length ? `{${parts.join(', ')}}` : metric.__name__ || '{}';
}

// ---- charts ----
/**
 * A chart: title and queries ({ expr(windowSeconds, stepSeconds), label?(metric) }), each
 * series of each answer a line. counter: the queries are rates.
 */
function makeChart(spec) {
  const el = document.createElement('div');
  el.className = 'chart';
  el.innerHTML = '<h3><span class="title"></span><span class="tier"></span></h3><div class="expr"></div><div class="plot"></div><div class="error"></div>';
  el.querySelector('.title').textContent = spec.title;
  $('charts').appendChild(el);
  const chart = {
    ...spec,
    el,
    u: null,
    keys: [], // line keys, in uPlot's series order (1..)
    labels: [],
    tiers: [],
    stepSec: 0,
    rateWindow: 0,
    tierStepSec: 0,
    lastT: null,
    error: '',
  };
  page.charts.push(chart);
  return chart;
}

function exprsOf(chart, step) {
  // A rate's window takes at least four of the step and of the tier's interval.
  const w = Math.max(4 * step, 4 * chart.tierStepSec, 4);
  chart.rateWindow = w;
  return chart.queries.map((q) => ({ ...q, text: q.expr(fmtDur(Math.ceil(w)), step) }));
}

async function runQueries(chart, start, end, step) {
  const exprs = exprsOf(chart, step);
  const answers = await Promise.all(exprs.map((e) => api('/api/v1/query_range', { query: e.text, start: start.toFixed(3), end: end.toFixed(3), step })));
  const lines = [];
  const tiers = [];
  answers.forEach((a, i) => {
    for (const s of a.result) lines.push({ key: `${i}\u0000${JSON.stringify(s.metric)}`, label: exprs[i].label ? exprs[i].label(s.metric) : labelText(s.metric), values: s.values });
    for (const t of a.rondo?.tiers ?? []) tiers.push(t);
  });
  return { exprs, lines, tiers };
}

function tierText(chart) {
  const seen = new Map();
  for (const t of chart.tiers) seen.set(`${t.tier}/${t.stepMs}`, t);
  const parts = [...seen.values()].map((t) => `tier ${t.tier} (${fmtDur(t.stepMs / 1000)} ${t.tier === 0 ? 'samples' : `buckets, ${t.agg}`})`);
  return `${parts.join(', ') || 'no tier'} · step ${fmtDur(chart.stepSec)}${chart.counter ? ` · rate[${fmtDur(Math.ceil(chart.rateWindow))}]` : ''}`;
}

/** Full load of a chart for the window: query, (re)build its uPlot. */
async function loadChart(chart, gen) {
  const { start, end } = window_();
  const step = stepFor(start, end);
  const s0 = Math.floor(start / step) * step;
  const e0 = Math.floor(end / step) * step;
  let res;
  try {
    res = await runQueries(chart, s0, e0, step);
    // A rate over fewer than four of the tier's buckets: again with a wider window (which may
    // reach back past the tier's ring to a coarser tier: then again).
    for (let tries = 0; chart.counter && tries < 4; tries++) {
      const tierStep = Math.max(0, ...res.tiers.map((t) => t.stepMs / 1000));
      if (4 * tierStep <= chart.rateWindow) break;
      chart.tierStepSec = tierStep;
      res = await runQueries(chart, s0, e0, step);
    }
    chart.error = '';
  } catch (e) {
    chart.error = e.message;
    res = { exprs: exprsOf(chart, step), lines: [], tiers: [] };
  }
  if (gen !== page.generation) return;
  chart.stepSec = step;
  chart.tiers = res.tiers;
  chart.tierStepSec = Math.max(0, ...res.tiers.map((t) => t.stepMs / 1000));
  chart.el.querySelector('.expr').textContent = res.exprs.map((e) => e.text).join('  ·  ');
  chart.el.querySelector('.tier').textContent = tierText(chart);
  chart.el.querySelector('.error').textContent = chart.error;
  chart.keys = res.lines.map((l) => l.key);
  chart.labels = res.lines.map((l) => l.label);
  const xs = [];
  for (let t = s0; t <= e0 + 1e-9; t += step) xs.push(Math.round(t * 1000) / 1000);
  const data = [xs, ...res.lines.map((l) => column(xs, l.values))];
  chart.lastT = xs.length ? xs[xs.length - 1] : null;
  buildPlot(chart, data);
}

/** One-line tick labels in local time: seconds within a short window, the date once it spans days
 *  (uPlot's default two-line labels overlap on narrow charts; the window's dates are above). */
function timeLabels(splits, span) {
  const two = (n) => String(n).padStart(2, '0');
  return splits.map((t) => {
    const d = new Date(t * 1000);
    const hm = `${two(d.getHours())}:${two(d.getMinutes())}`;
    if (span <= 15 * 60) return `${hm}:${two(d.getSeconds())}`;
    if (span <= 2 * 86400) return hm;
    return `${two(d.getMonth() + 1)}-${two(d.getDate())} ${hm}`;
  });
}

function column(xs, values) {
  const byT = new Map(values.map(([t, v]) => [t, Number(v)]));
  return xs.map((t) => (byT.has(t) ? byT.get(t) : null));
}

function buildPlot(chart, data) {
  const plot = chart.el.querySelector('.plot');
  if (chart.u) chart.u.destroy();
  plot.innerHTML = '';
  const width = Math.max(300, plot.clientWidth || $('charts').clientWidth - 20);
  const opts = {
    width,
    height: 220,
    scales: { x: { time: true, range: () => { const w = window_(); return [w.start, w.end]; } } },
    legend: { show: chart.labels.length <= 16 },
    cursor: { drag: { x: true, y: false, setScale: false } },
    series: [{}, ...chart.labels.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 1.25, spanGaps: false, points: { show: false } }))],
    axes: [{ space: 70, values: (u, splits) => timeLabels(splits, u.scales.x.max - u.scales.x.min) }, { size: 70 }],
    hooks: {
      setSelect: [(u) => {
        if (u.select.width < 4) return;
        const from = u.posToVal(u.select.left, 'x');
        const to = u.posToVal(u.select.left + u.select.width, 'x');
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        zoomTo(from, to);
      }],
      draw: [(u) => drawAnnotations(u)],
    },
  };
  chart.u = new uPlot(opts, data, plot);
}

function drawAnnotations(u) {
  if (page.annotations.length === 0) return;
  const ctx = u.ctx;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.font = `${Math.round(10 * devicePixelRatio)}px sans-serif`;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'alphabetic';
  let row = 0;
  let lastX = -Infinity;
  for (const a of page.annotations) {
    const x = u.valToPos(a.time, 'x', true);
    if (!(x >= left && x <= left + width)) continue;
    // Labels close together are stacked, not drawn over each other.
    row = x - lastX < 120 * devicePixelRatio ? row + 1 : 0;
    lastX = x;
    ctx.strokeStyle = a.color;
    ctx.fillStyle = a.color;
    ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    ctx.fillText(a.text, x + 3 * devicePixelRatio, top + (12 + 12 * (row % 8)) * devicePixelRatio);
  }
  ctx.restore();
}

/** Live: the points after the last one, appended to each chart's data (setData, no rebuild). */
async function appendLive(chart, gen) {
  if (chart.lastT === null || chart.u === null) return loadChart(chart, gen);
  const step = chart.stepSec;
  const now = Date.now() / 1000;
  const end = Math.floor(now / step) * step;
  const next = Math.round((chart.lastT + step) * 1000) / 1000;
  if (end < next) return;
  let res;
  try {
    res = await runQueries(chart, next, end, step);
  } catch (e) {
    chart.error = e.message;
    chart.el.querySelector('.error').textContent = chart.error;
    return;
  }
  if (gen !== page.generation) return;
  // A series not seen before: the chart is built again.
  if (res.lines.some((l) => !chart.keys.includes(l.key))) return loadChart(chart, gen);
  const newXs = [];
  for (let t = next; t <= end + 1e-9; t += step) newXs.push(Math.round(t * 1000) / 1000);
  const old = chart.u.data;
  const lowest = now - RANGES[state.range];
  let drop = 0;
  while (drop < old[0].length && old[0][drop] < lowest - step) drop++;
  const byKey = new Map(res.lines.map((l) => [l.key, l.values]));
  const data = [old[0].slice(drop).concat(newXs)];
  chart.keys.forEach((k, i) => data.push(old[i + 1].slice(drop).concat(column(newXs, byKey.get(k) ?? []))));
  chart.lastT = newXs[newXs.length - 1];
  if (res.tiers.length) {
    chart.tiers = res.tiers;
    chart.el.querySelector('.tier').textContent = tierText(chart);
  }
  chart.u.setData(data);
  page.updates++;
}

// ---- annotations: the VM lifecycle ----
async function loadAnnotations() {
  const topics = page.vms.filter((v) => !state.vm || v === state.vm).map((v) => `/vm/${v}/lifecycle`);
  if (topics.length === 0) {
    page.annotations = [];
    return;
  }
  const { start, end } = window_();
  const lists = await Promise.all(topics.map((topic) => api('/api/v1/rondo/events', { topic, start: start.toFixed(3), end: (end + 1).toFixed(3) }).catch(() => [])));
  page.annotations = lists.flat().map((e) => {
    const d = e.data && typeof e.data === 'object' ? e.data : { event: String(e.data) };
    const ev = String(d.event ?? '');
    const who = d.vcpu !== undefined && d.vcpu >= 0 ? ` vcpu ${d.vcpu}` : '';
    const color = ev === 'ended' || ev === 'vcpu_exit' ? '#b00' : '#080';
    return { time: e.time, text: `${ev}${who}${page.vms.length > 1 && !state.vm ? ` (${e.topic.split('/')[2]})` : ''}`, color, event: e };
  });
}

async function loadConsole() {
  const box = $('console');
  if (!state.vm) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const lines = await api('/api/v1/rondo/events', { topic: `/vm/${state.vm}/console`, last: CONSOLE_LINES }).catch(() => []);
  const text = lines.map((e) => (typeof e.data === 'string' ? e.data : JSON.stringify(e.data))).join('\n');
  const pre = box.querySelector('pre');
  if (pre.textContent !== text) {
    pre.textContent = text;
    pre.scrollTop = pre.scrollHeight;
  }
  page.consoleLines = lines.length;
}

// ---- which charts ----
/** One chart per metric name of the selector, a line per series; an expression: one chart. */
async function specsForQuery(q) {
  const sel = splitSelector(q);
  if (sel === null) return [{ title: q, counter: false, queries: [{ expr: () => q }] }];
  const series = await api('/api/v1/series', { 'match[]': [q] });
  const names = [...new Set(series.map((s) => s.__name__))].sort();
  return names.map((name) => metricSpec(name, sel.name === name ? sel.inner : [`__name__=${quote(name)}`, sel.inner].filter(Boolean).join(', '), sel.name === name ? name : ''));
}

function metricSpec(name, inner, shownName = name) {
  const counter = state.rates && page.kinds[name] === 'counter';
  const sel = selectorOf(shownName, inner);
  return {
    title: counter ? `${name} (per second)` : name,
    counter,
    queries: [{ expr: (w) => (counter ? `rate(${sel}[${w}])` : sel) }],
  };
}

async function specsForVm(id) {
  const specs = [];
  const has = (n) => page.names.includes(n);
  const exitsName = page.names.find((n) => /^vmm_vcpu_exits_total$/.test(n));
  if (exitsName) {
    const vcpus = await api(`/api/v1/label/vcpu/values`, { 'match[]': [exitsName] });
    for (const v of vcpus)
      specs.push({ title: `vCPU ${v}: exits by reason (per second)`, counter: true, queries: [{ expr: (w) => `rate(${exitsName}{vcpu=${quote(v)}}[${w}]) > 0`, label: (m) => m.reason ?? labelText(m) }] });
  }
  const runName = page.names.find((n) => /^vmm_vcpu_run_seconds_total$/.test(n));
  if (runName) specs.push({ title: 'run time (seconds per second, each vCPU)', counter: true, queries: [{ expr: (w) => `rate(${runName}[${w}])`, label: (m) => `vcpu ${m.vcpu ?? ''}` }] });
  // The busiest KVM statistics: the counters that grew most over the window.
  // (A histogram's buckets, sum and count are left out: its count says how often, not how much.)
  const kvm = page.names.filter((n) => /^kvm_/.test(n) && !/_(bucket|sum|count)$/.test(n) && page.kinds[n] === 'counter');
  if (kvm.length) {
    const { start, end } = window_();
    const sel = `{__name__=~${quote(kvm.join('|'))}}`;
    const [a, b] = await Promise.all([api('/api/v1/query', { query: sel, time: end.toFixed(3) }), api('/api/v1/query', { query: sel, time: start.toFixed(3) })]);
    const before = new Map(b.result.map((s) => [JSON.stringify(s.metric), Number(s.value[1])]));
    const grew = new Map();
    for (const s of a.result) grew.set(s.metric.__name__, (grew.get(s.metric.__name__) ?? 0) + Number(s.value[1]) - (before.get(JSON.stringify(s.metric)) ?? 0));
    const top = [...grew].filter(([, d]) => d > 0).sort((x, y) => y[1] - x[1]).slice(0, 6).map(([n]) => n);
    if (top.length) specs.push({ title: 'busiest KVM statistics (per second, all vCPUs)', counter: true, queries: top.map((n) => ({ expr: (w) => `sum(rate(${n}[${w}]))`, label: () => n })) });
  }
  if (specs.length === 0 && !has('vmm_vcpu_exits_total')) setStatus(`no demo VMM series in this store for VM ${id}`);
  return specs;
}

// ---- the page ----
function setStatus(text, error = false) {
  const s = $('status');
  s.textContent = text;
  s.className = error ? 'error' : '';
}

async function render() {
  const gen = ++page.generation;
  page.ready = false;
  for (const c of page.charts) c.u?.destroy();
  page.charts = [];
  $('charts').innerHTML = '';
  $('q').value = state.q;
  $('live').checked = state.live;
  $('rates').checked = state.rates;
  for (const b of $('ranges').children) b.classList.toggle('on', state.from === null && b.dataset.range === state.range);
  for (const a of $('vms').querySelectorAll('a')) a.classList.toggle('on', a.dataset.vm === state.vm);
  for (const li of $('names').children) li.classList.toggle('on', li.dataset.name === state.q);
  setStatus(state.from === null ? '' : `${new Date(state.from * 1000).toLocaleString()} to ${new Date(state.to * 1000).toLocaleString()} (drag to zoom further; a range above goes back to live)`);
  let specs = [];
  try {
    if (state.vm) {
      specs = await specsForVm(state.vm);
      if (state.q) specs.push(...(await specsForQuery(state.q)));
    } else if (state.q) {
      specs = await specsForQuery(state.q);
      if (specs.length === 0) setStatus(`no series match ${state.q}`);
    } else if (page.names.length <= ALL_NAMES_UP_TO) {
      specs = page.names.map((n) => metricSpec(n, ''));
      if (specs.length === 0) setStatus('this store holds no series yet');
    } else setStatus(`${page.names.length} metric names: pick one on the left, or type a selector`);
  } catch (e) {
    setStatus(e.message, true);
  }
  if (gen !== page.generation) return;
  await loadAnnotations().catch(() => {});
  const charts = specs.map(makeChart);
  await Promise.all(charts.map((c) => loadChart(c, gen)));
  await loadConsole().catch(() => {});
  if (state.q) loadLabels(state.q).catch(() => {});
  if (gen === page.generation) page.ready = true;
}

function zoomTo(from, to) {
  if (!(to > from)) return;
  state.from = from;
  state.to = to;
  writeUrl();
  render();
}

let ticking = false;
async function tick() {
  if (ticking || !page.ready || !state.live || state.from !== null || document.hidden) return;
  ticking = true;
  const gen = page.generation;
  try {
    await loadAnnotations().catch(() => {});
    await Promise.all(page.charts.map((c) => appendLive(c, gen)));
    for (const c of page.charts) if (c.u) c.u.redraw(false, false);
    await loadConsole().catch(() => {});
  } finally {
    ticking = false;
  }
}

// ---- the series browser ----
function showNames() {
  const f = $('filter').value.trim().toLowerCase();
  const ul = $('names');
  ul.innerHTML = '';
  for (const n of page.names) {
    if (f && !n.toLowerCase().includes(f)) continue;
    const li = document.createElement('li');
    li.dataset.name = n;
    li.title = n;
    li.innerHTML = '<span class="n"></span><span class="name"></span>';
    li.querySelector('.name').textContent = n;
    li.querySelector('.n').textContent = page.kinds[n] === 'counter' ? 'counter' : '';
    li.classList.toggle('on', n === state.q);
    li.addEventListener('click', () => {
      state.q = n;
      writeUrl();
      render();
    });
    ul.appendChild(li);
  }
}

/** Label filters of the selected metric: one select per label, values from the API. */
async function loadLabels(q) {
  const sel = splitSelector(q);
  const box = $('labels');
  box.innerHTML = '';
  if (sel === null || !sel.name) return;
  const series = await api('/api/v1/series', { 'match[]': [sel.name] });
  const values = new Map();
  for (const s of series) for (const [k, v] of Object.entries(s)) if (k !== '__name__') (values.get(k) ?? values.set(k, new Set()).get(k)).add(v);
  const chosen = new Map();
  for (const m of sel.inner.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g)) chosen.set(m[1], m[2]);
  for (const [k, vs] of [...values].sort()) {
    const label = document.createElement('label');
    label.textContent = k;
    const s = document.createElement('select');
    s.dataset.label = k;
    s.add(new Option('(any)', ''));
    for (const v of [...vs].sort()) s.add(new Option(v, v, false, chosen.get(k) === v));
    s.addEventListener('change', () => {
      const parts = [...box.querySelectorAll('select')].filter((x) => x.value !== '').map((x) => `${x.dataset.label}=${quote(x.value)}`);
      state.q = selectorOf(sel.name, parts.join(', '));
      writeUrl();
      render();
    });
    label.appendChild(s);
    box.appendChild(label);
  }
}

// ---- completion in the selector box ----
const complete = { items: [], on: -1, replaceFrom: 0 };

/** What the cursor is in: a metric name, a label name inside braces, or a label's value. */
function completionContext(text, pos) {
  const before = text.slice(0, pos);
  const open = before.lastIndexOf('{');
  const close = before.lastIndexOf('}');
  if (open > close) {
    const metric = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*$/.exec(before.slice(0, open))?.[1] ?? '';
    const inner = before.slice(open + 1);
    const v = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)$/.exec(inner);
    if (v) return { kind: 'value', metric, label: v[1], prefix: v[3], from: pos - v[3].length };
    const l = /(?:^|,)\s*([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(inner);
    if (l) return { kind: 'label', metric, prefix: l[1] ?? '', from: pos - (l[1] ?? '').length };
    return null;
  }
  const n = /([a-zA-Z_:][a-zA-Z0-9_:]*)$/.exec(before);
  return { kind: 'name', prefix: n?.[1] ?? '', from: pos - (n?.[1] ?? '').length };
}

async function suggest() {
  const input = $('q');
  const ctx = completionContext(input.value, input.selectionStart ?? input.value.length);
  let items = [];
  if (ctx !== null) {
    const match = ctx.metric ? { 'match[]': [ctx.metric] } : {};
    try {
      if (ctx.kind === 'name') items = page.names;
      else if (ctx.kind === 'label') items = (await api('/api/v1/labels', match)).filter((l) => l !== '__name__').map((l) => l);
      else items = await api(`/api/v1/label/${encodeURIComponent(ctx.label)}/values`, match);
    } catch {
      items = [];
    }
    items = items.filter((i) => i.startsWith(ctx.prefix) && i !== ctx.prefix).slice(0, 50);
  }
  complete.items = items;
  complete.on = items.length ? 0 : -1;
  complete.ctx = ctx;
  const ul = $('complete');
  ul.innerHTML = '';
  items.forEach((it, i) => {
    const li = document.createElement('li');
    li.textContent = it;
    li.classList.toggle('on', i === complete.on);
    li.addEventListener('mousedown', (e) => {
      e.preventDefault();
      accept(i);
    });
    ul.appendChild(li);
  });
  ul.hidden = items.length === 0;
}

function accept(i) {
  const input = $('q');
  const ctx = complete.ctx;
  const it = complete.items[i];
  if (!ctx || it === undefined) return;
  const pos = input.selectionStart ?? input.value.length;
  let insert = it;
  if (ctx.kind === 'label') insert = `${it}="`;
  else if (ctx.kind === 'value') insert = `${it}"`;
  input.value = input.value.slice(0, ctx.from) + insert + input.value.slice(pos);
  const at = ctx.from + insert.length;
  input.setSelectionRange(at, at);
  $('complete').hidden = true;
  complete.items = [];
  if (ctx.kind !== 'value') suggest();
}

function setupQueryBox() {
  const input = $('q');
  input.addEventListener('input', () => suggest());
  input.addEventListener('keydown', (e) => {
    const ul = $('complete');
    if (ul.hidden || complete.items.length === 0) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      complete.on = (complete.on + (e.key === 'ArrowDown' ? 1 : complete.items.length - 1)) % complete.items.length;
      [...ul.children].forEach((li, i) => li.classList.toggle('on', i === complete.on));
      ul.children[complete.on]?.scrollIntoView({ block: 'nearest' });
    } else if (e.key === 'Tab') {
      e.preventDefault();
      accept(complete.on);
    } else if (e.key === 'Escape') ul.hidden = true;
  });
  input.addEventListener('blur', () => ($('complete').hidden = true));
  $('query').addEventListener('submit', (e) => {
    e.preventDefault();
    $('complete').hidden = true;
    state.q = input.value.trim();
    state.from = state.to = null;
    writeUrl();
    render();
  });
}

function setupRanges() {
  for (const r of Object.keys(RANGES)) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = r;
    b.dataset.range = r;
    b.addEventListener('click', () => {
      state.range = r;
      state.from = state.to = null;
      writeUrl();
      render();
    });
    $('ranges').appendChild(b);
  }
  $('live').addEventListener('change', () => {
    state.live = $('live').checked;
  });
  $('rates').addEventListener('change', () => {
    state.rates = $('rates').checked;
    writeUrl();
    render();
  });
}

/** A VM view without a range in the URL: the VM's life (its lifecycle's first to last record)
 *  when it has ended, else the last 15 minutes, live. */
async function vmWindow() {
  const p = new URLSearchParams(location.search);
  if (!state.vm || p.get('range') || p.get('from')) return;
  const life = await api('/api/v1/rondo/events', { topic: `/vm/${state.vm}/lifecycle` }).catch(() => []);
  if (!life.some((e) => e.data?.event === 'ended')) return;
  const a = life[0].time;
  const b = life[life.length - 1].time;
  const pad = Math.max(5, (b - a) * 0.1);
  state.from = Math.floor(a - pad);
  state.to = Math.ceil(b + pad);
}

async function start() {
  readUrl();
  setupRanges();
  setupQueryBox();
  $('filter').addEventListener('input', showNames);
  let resizing = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      for (const c of page.charts) if (c.u) c.u.setSize({ width: Math.max(300, c.el.querySelector('.plot').clientWidth), height: 220 });
    }, 150);
  });
  window.addEventListener('popstate', () => {
    readUrl();
    render();
  });
  try {
    const [meta, names, topics] = await Promise.all([api('/api/v1/metadata'), api('/api/v1/label/__name__/values'), api('/api/v1/rondo/topics').catch(() => [])]);
    for (const [n, list] of Object.entries(meta)) page.kinds[n] = list[0]?.type ?? 'gauge';
    page.names = names;
    page.vms = [...new Set(topics.map((t) => /^\/vm\/([^/]+)\//.exec(t.name)?.[1]).filter(Boolean))].sort();
  } catch (e) {
    setStatus(e.message, true);
  }
  const nav = $('vms');
  for (const v of page.vms) {
    const a = document.createElement('a');
    a.href = `/?vm=${encodeURIComponent(v)}`;
    a.dataset.vm = v;
    a.textContent = `VM ${v}`;
    nav.appendChild(a);
  }
  showNames();
  await vmWindow();
  await render();
  setInterval(tick, 1000);
}

start();
