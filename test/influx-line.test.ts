// The Influx line protocol parser (src/ingest/influx-line.ts) rule by rule, with influxd 1.6's
// error words for bad lines; the naming map and catalog; ingestInflux() into a real store
// (types, conflicts, string fields, precisions, the ring's horizon, persistence of the catalog).
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../src/index';
import { ingestInflux, InfluxCatalog, IngestCounters, labelNameOf, metricNameOf, parseInflux } from '../src/ingest';
import { tempDir } from './helpers';

const NOW = 1_700_000_000_000;
const one = (line: string, precision?: string) => {
  const r = parseInflux(line, { nowMs: NOW, ...(precision !== undefined ? { precision } : {}) });
  return r;
};
const point = (line: string, precision?: string) => {
  const r = one(line, precision);
  expect(r.errors).toEqual([]);
  expect(r.points).toHaveLength(1);
  return r.points[0]!;
};
const reason = (line: string, precision?: string) => {
  const r = one(line, precision);
  expect(r.points).toEqual([]);
  expect(r.errors).toHaveLength(1);
  return r.errors[0]!.reason;
};

describe('line protocol: good lines', () => {
  it('measurement, tags, several fields and a timestamp in ns', () => {
    const p = point('cpu,host=a,region=eu usage=1.5,idle=2i,ok=t 1600000000123456789');
    expect(p.measurement).toBe('cpu');
    expect(p.tags).toEqual([
      ['host', 'a'],
      ['region', 'eu'],
    ]);
    expect(p.fields).toEqual([
      { key: 'usage', type: 'float', value: 1.5 },
      { key: 'idle', type: 'integer', value: 2 },
      { key: 'ok', type: 'boolean', value: 1 },
    ]);
    expect(p.timeMs).toBe(1600000000123);
    expect(p.hasTime).toBe(true);
  });

  it('escapes in measurement, tag keys and values, field keys and string values', () => {
    const p = point('m\\,x\\ y,t\\ a\\=b=c\\,d\\ e\\=f f\\ g\\=h\\,i=1,s="q\\"u\\\\o" 1');
    expect(p.measurement).toBe('m,x y');
    expect(p.tags).toEqual([['t a=b', 'c,d e=f']]);
    expect(p.fields[0]).toEqual({ key: 'f g=h,i', type: 'float', value: 1 });
    expect(p.fields[1]).toEqual({ key: 's', type: 'string', value: 'q"u\\o' });
  });

  it('a backslash that escapes nothing stays; `\\"` in a tag value stays as written (influxd)', () => {
    expect(point('m,t=a\\"b\\x v=1').tags).toEqual([['t', 'a\\"b\\x']]);
    expect(point('m\\"x v=1').measurement).toBe('m"x');
  });

  it('a string value may hold spaces, commas, equals signs and newlines', () => {
    const r = one('m s="a b,c=d\ne",v=2 5000000\nm v=3 6000000');
    expect(r.errors).toEqual([]);
    expect(r.points[0]!.fields).toEqual([
      { key: 's', type: 'string', value: 'a b,c=d\ne' },
      { key: 'v', type: 'float', value: 2 },
    ]);
    expect(r.points[1]!.fields[0]!.value).toBe(3);
  });

  it('numbers: floats in every form influxd takes, integers, unsigned', () => {
    const v = (text: string) => point(`m v=${text}`).fields[0]!;
    expect(v('1')).toEqual({ key: 'v', type: 'float', value: 1 });
    expect(v('-1.25')).toEqual({ key: 'v', type: 'float', value: -1.25 });
    expect(v('.5').value).toBe(0.5);
    expect(v('5.').value).toBe(5);
    expect(v('1e3').value).toBe(1000);
    expect(v('-1.5E-2').value).toBe(-0.015);
    expect(v('0.1').value).toBe(0.1);
    expect(v('123456789012.345678').value).toBe(123456789012.345678);
    expect(v('-42i')).toEqual({ key: 'v', type: 'integer', value: -42 });
    expect(v('9223372036854775807i').value).toBe(9223372036854775807);
    expect(v('-9223372036854775808i').value).toBe(-9223372036854775808);
    expect(v('42u')).toEqual({ key: 'v', type: 'unsigned', value: 42 });
    expect(v('18446744073709551615u').value).toBe(18446744073709551615);
  });

  it('booleans in all their spellings', () => {
    for (const t of ['t', 'T', 'true', 'True', 'TRUE']) expect(point(`m b=${t}`).fields[0]).toEqual({ key: 'b', type: 'boolean', value: 1 });
    for (const f of ['f', 'F', 'false', 'False', 'FALSE']) expect(point(`m b=${f}`).fields[0]).toEqual({ key: 'b', type: 'boolean', value: 0 });
  });

  it('precision n, u, ms, s, m, h (ns and us too); anything else is n, as influxd 1.x', () => {
    expect(point('m v=1 1600000000123456789').timeMs).toBe(1600000000123);
    expect(point('m v=1 1600000000123456', 'u').timeMs).toBe(1600000000123);
    expect(point('m v=1 1600000000123456', 'us').timeMs).toBe(1600000000123);
    expect(point('m v=1 1600000000123', 'ms').timeMs).toBe(1600000000123);
    expect(point('m v=1 1600000000', 's').timeMs).toBe(1600000000000);
    expect(point('m v=1 26666666', 'm').timeMs).toBe(26666666 * 60000);
    expect(point('m v=1 444444', 'h').timeMs).toBe(444444 * 3600000);
    expect(point('m v=1 1600000000123456789', 'ns').timeMs).toBe(1600000000123);
    expect(point('m v=1 1600000000123456789', 'xx').timeMs).toBe(1600000000123);
    expect(point('m v=1 -1').timeMs).toBe(-1);
    expect(point('m v=1 0').timeMs).toBe(0);
  });

  it('a missing timestamp is the server time, truncated to the precision', () => {
    const p = point('m v=1');
    expect(p.hasTime).toBe(false);
    expect(p.timeMs).toBe(NOW);
    expect(point('m v=1', 'h').timeMs).toBe(Math.floor(NOW / 3600000) * 3600000);
  });

  it('comments, blank lines, leading whitespace, trailing spaces, CRLF', () => {
    const r = one('# a comment\n\n   \n\t m v=1 1\n  # indented comment\nm v=2 2   \r\nm v=3\r\n');
    expect(r.errors).toEqual([]);
    expect(r.points.map((p) => p.fields[0]!.value)).toEqual([1, 2, 3]);
  });
});

describe('line protocol: bad lines, with influxd 1.6 words', () => {
  const cases: Array<[string, string]> = [
    ['bad', 'missing fields'],
    ['cpu', 'missing fields'],
    [',t=1 v=1', 'missing measurement'],
    ['cpu ', 'invalid field format'],
    ['cpu,=a v=1', 'missing tag key'],
    ['cpu,t v=1', 'missing tag value'],
    ['cpu,t= v=1', 'missing tag value'],
    ['cpu,t=a', 'missing fields'],
    ['cpu,t=a=b v=1', 'invalid tag format'],
    ['cpu,a=1,a=2 v=1', 'duplicate tags'],
    ['cpu,b=1,a=2,b=3 v=1', 'duplicate tags'],
    ['cpu =1', 'missing field key'],
    ['cpu v=1,=2', 'missing field key'],
    ['cpu v=', 'missing field value'],
    ['cpu v=,w=1', 'missing field value'],
    ['cpu v', 'invalid field format'],
    ['cpu v=1,w', 'invalid field format'],
    ['cpu v="abc', 'unbalanced quotes'],
    ['cpu v=1.2.3', 'invalid number'],
    ['cpu v=-', 'invalid number'],
    ['cpu v=.', 'invalid number'],
    ['cpu v=1.5i', 'invalid number'],
    ['cpu v=1e5i', 'invalid number'],
    ['cpu v=-1u', 'invalid number'],
    ['cpu v=NaN', 'invalid number'],
    ['cpu v=nan', 'invalid number'],
    ['cpu v=1x', 'invalid number'],
    ['cpu v=1e', 'invalid float'],
    ['cpu v=1e400', 'invalid float'],
    ['cpu v=+1', 'invalid boolean'],
    ['cpu v=yes', 'invalid boolean'],
    ['cpu v=tru', 'invalid boolean'],
    ['cpu v=tRUE', 'invalid boolean'],
    ['cpu v=Inf', 'invalid boolean'],
    ['cpu v=99999999999999999999i', 'unable to parse integer 99999999999999999999: strconv.ParseInt: parsing "99999999999999999999": value out of range'],
    ['cpu v=1 12a', 'bad timestamp'],
    ['cpu v=1 1.5', 'bad timestamp'],
    ['cpu v=1 12 x', 'point is invalid'],
    ['cpu v=1 1 2', 'point is invalid'],
    ['cpu v=1 -', 'strconv.ParseInt: parsing "-": invalid syntax'],
    ['cpu v=1 99999999999999999999', 'strconv.ParseInt: parsing "99999999999999999999": value out of range'],
    ['cpu v=1 9223372036854775807', 'time outside range -9223372036854775806 - 9223372036854775806'],
  ];
  for (const [line, why] of cases) it(`${JSON.stringify(line)}: ${why}`, () => expect(reason(line)).toBe(why));

  it('a timestamp in s past the ns range is "time outside range"', () => {
    expect(reason('cpu v=1 9300000000', 's')).toBe('time outside range -9223372036854775806 - 9223372036854775806');
  });

  it('a key over 65535 bytes: max key length exceeded', () => {
    expect(reason(`cpu,t=${'x'.repeat(65535)} v=1`)).toBe('max key length exceeded: 65541 > 65535');
  });

  it('good lines around bad ones are kept; each bad line is quoted as written', () => {
    const r = one('a v=1 1\nbad line\nb v=2 2\nc v=\n');
    expect(r.points.map((p) => p.measurement)).toEqual(['a', 'b']);
    expect(r.errors).toEqual([
      { line: 'bad line', reason: 'invalid field format' },
      { line: 'c v=', reason: 'missing field value' },
    ]);
  });
});

describe('naming map', () => {
  it('measurement_field, field "value" → the measurement', () => {
    expect(metricNameOf('cpu', 'usage')).toBe('cpu_usage');
    expect(metricNameOf('cpu', 'value')).toBe('cpu');
    expect(metricNameOf('disk.io', 'read-bytes')).toBe('disk_io_read_bytes');
    expect(metricNameOf('9lives', 'value')).toBe('_9lives');
    expect(metricNameOf('a:b', 'c:d')).toBe('a:b_c:d');
    expect(metricNameOf('température', 'value')).toBe('temp_rature');
  });
  it('tag keys: bad characters → _, a leading digit and a leading __ get a prefix', () => {
    expect(labelNameOf('host')).toBe('host');
    expect(labelNameOf('a.b-c')).toBe('a_b_c');
    expect(labelNameOf('1st')).toBe('_1st');
    expect(labelNameOf('__name__')).toBe('tag__name__');
    expect(labelNameOf('a:b')).toBe('a_b');
  });
});

const SCHEMAS = [{ name: 's', match: {}, maxSeries: 50, tiers: [{ interval: '1s', retention: '1h' }] }];

describe('ingestInflux into a store', () => {
  const nowS = () => Math.floor(Date.now() / 1000) - 60;

  it('stores numeric fields as the naming map says, booleans as 1/0, and says what it refused', () => {
    const store = Store.open(tempDir(), { schemas: SCHEMAS });
    const t = nowS();
    const body = [
      `cpu,host=a,region=us\\ east usage=1.5,idle=2i,ok=t,name="x" ${t}`,
      `cpu,host=a,region=us\\ east usage=2.5,idle=3i,ok=f ${t + 1}`,
      `cpu,host=a,region=us\\ east usage=7i ${t + 2}`,
      'garbage',
      `weird.m,__n=1,a-b=2 value=5 ${t}`,
    ].join('\n');
    const r = ingestInflux(store, Buffer.from(body), { precision: 's' });
    expect(r.lines).toBe(5);
    expect(r.points).toBe(4);
    expect(r.stored).toBe(7);
    expect(r.parseErrors).toEqual(["unable to parse 'garbage': missing fields"]);
    expect(r.dropped).toBe(1);
    expect(r.writeError).toBe('field type conflict: input field "usage" on measurement "cpu" is type integer, already exists as type float');
    expect(r.errors).toEqual({ parse: 1, string_field: 1, type_conflict: 1 });
    const q = (sel: string) => store.select(sel, { start: t * 1000, end: (t + 3) * 1000 }).map((s) => [...s.values].filter((v) => v === v));
    expect(q('cpu_usage{host="a",region="us east"}')).toEqual([[1.5, 2.5]]);
    expect(q('cpu_idle')).toEqual([[2, 3]]);
    expect(q('cpu_ok')).toEqual([[1, 0]]);
    expect(q('weird_m{a_b="2",tag__n="1"}')).toEqual([[5]]);
    const cat = InfluxCatalog.of(store);
    expect(cat.measurements()).toEqual(['cpu', 'weird.m']);
    expect(cat.fields('cpu').map((f) => [f.field, f.type, f.metric])).toEqual([
      ['idle', 'integer', 'cpu_idle'],
      ['ok', 'boolean', 'cpu_ok'],
      ['usage', 'float', 'cpu_usage'],
    ]);
    expect(cat.tagKey('weird_m', 'a_b')).toBe('a-b');
    expect(cat.tagKey('weird_m', 'tag__n')).toBe('__n');
    expect(cat.tagKey('cpu_usage', 'host')).toBe('host');
    const w = cat.view().find((v) => v.measurement === 'weird.m')!;
    expect(w.tags).toEqual({ __n: '1', 'a-b': '2' });
    store.close();
  });

  it('a series not written through Influx is seen as measurement = metric, field value', () => {
    const store = Store.open(tempDir(), { schemas: SCHEMAS });
    store.register('vcpu_exits_total', { reason: 'io' }, { kind: 'counter' });
    const v = InfluxCatalog.of(store).view();
    expect(v.map((x) => [x.measurement, x.field, x.type, x.tags])).toEqual([['vcpu_exits_total', 'value', 'float', { reason: 'io' }]]);
    store.close();
  });

  it('the catalog is persisted, reloaded by a read-only store, and type conflicts survive a restart', () => {
    const dir = tempDir();
    const t = nowS();
    let store = Store.open(dir, { schemas: SCHEMAS });
    ingestInflux(store, Buffer.from(`m,x.y=1 f=1i ${t}`), { precision: 's' });
    const ro = Store.openReadOnly(dir);
    const roCat = InfluxCatalog.of(ro);
    expect(roCat.fields('m').map((f) => f.type)).toEqual(['integer']);
    ingestInflux(store, Buffer.from(`m,x.y=1 g=true ${t}`), { precision: 's' });
    expect(roCat.fields('m').map((f) => `${f.field}:${f.type}`)).toEqual(['f:integer', 'g:boolean']);
    expect(roCat.tagKey('m_f', 'x_y')).toBe('x.y');
    store.close();
    expect(fs.existsSync(path.join(dir, 'influx.json'))).toBe(true);
    store = Store.open(dir, { schemas: SCHEMAS });
    const r = ingestInflux(store, Buffer.from(`m,x.y=1 f=2.5 ${t + 1}`), { precision: 's' });
    expect(r.writeError).toBe('field type conflict: input field "f" on measurement "m" is type float, already exists as type integer');
    expect(r.stored).toBe(0);
    store.close();
    ro.close();
  });

  it('a string field on a field known as a number is a type conflict (the point dropped), else skipped', () => {
    const store = Store.open(tempDir(), { schemas: SCHEMAS });
    const t = nowS();
    const r = ingestInflux(store, Buffer.from(`m v=1,s="a" ${t}\nm v="x",w=2 ${t + 1}`), { precision: 's' });
    expect(r.errors).toEqual({ string_field: 1, type_conflict: 1 });
    expect(r.stored).toBe(1);
    store.close();
  });

  it('the tag key or field key "time" is refused as influxd refuses it', () => {
    const store = Store.open(tempDir(), { schemas: SCHEMAS });
    const t = nowS();
    expect(ingestInflux(store, Buffer.from(`m time=1 ${t}`), { precision: 's' }).writeError).toBe('invalid field name: input field "time" on measurement "m" is invalid');
    expect(ingestInflux(store, Buffer.from(`m,time=x v=1 ${t}`), { precision: 's' }).writeError).toBe('invalid tag key: input tag "time" on measurement "m" is invalid');
    expect(store.series()).toEqual([]);
    store.close();
  });

  it('a field "time" is left out of a point that has other fields, as influxd leaves it', () => {
    const store = Store.open(tempDir(), { schemas: SCHEMAS });
    const t = nowS();
    const r = ingestInflux(store, Buffer.from(`m v=1,time=2 ${t}`), { precision: 's' });
    expect(r.writeError).toBeUndefined();
    expect(r.stored).toBe(1);
    expect(r.errors).toEqual({ time_field: 1 });
    expect(store.series().map((h) => h.name)).toEqual(['m_v']);
    store.close();
  });

  it('names that sanitize to the same metric or label are refused, not merged (name_conflict)', () => {
    const store = Store.open(tempDir(), { schemas: SCHEMAS });
    const t = nowS();
    const r = ingestInflux(store, Buffer.from(`m a-b=1 ${t}\nm a.b=2 ${t}\nn,k-1=x,k.1=y v=1 ${t}\nn,k-1=x v=2 ${t}\nn,k.1=y v=3 ${t + 1}`), { precision: 's' });
    expect(r.errors).toEqual({ name_conflict: 3 });
    expect(r.writeError).toBe('field "a.b" of measurement "m" would be stored as m_a_b, which already holds field "a-b" of measurement "m"');
    expect(r.stored).toBe(2);
    store.close();
  });

  it('newline framing (the TCP door): every newline ends a line, even inside quotes', () => {
    const store = Store.open(tempDir(), { schemas: SCHEMAS });
    const t = nowS();
    const body = Buffer.from(`q s="a\nb",v=1 ${t}\nq2 v=2\n`);
    expect(ingestInflux(store, body, { precision: 's' }).errors).toEqual({ string_field: 1 });
    const framed = ingestInflux(store, body, { precision: 's', newlineFramed: true, maxLineBytes: 16 });
    expect(framed.lines).toBe(3);
    expect(framed.errors).toEqual({ parse: 1, line_too_long: 1 }); // 'q s="a'; 'b",v=1 <t>' (17 bytes)
    expect(framed.stored).toBe(1); // 'q2 v=2'
    store.close();
  });

  it("the issue's 2009 line is refused as too old; the same line now is stored", () => {
    const store = Store.open(tempDir(), { schemas: SCHEMAS });
    const old = ingestInflux(store, Buffer.from('test,host=server,region=us-east1 value=0.80 1234567890000000000\n'));
    expect(old.stored).toBe(0);
    expect(old.errors).toEqual({ too_old: 1 });
    expect(old.writeError).toBe('points beyond retention policy');
    const now = ingestInflux(store, Buffer.from('test,host=server,region=us-east1 value=0.80\n'));
    expect(now.stored).toBe(1);
    const s = store.select('test{host="server",region="us-east1"}', { start: Date.now() - 10_000, end: Date.now() + 1000 });
    expect([...s[0]!.values].filter((v) => v === v)).toEqual([0.8]);
    store.close();
  });

  it('points within one tier-0 interval coalesce: the last one written is kept', () => {
    const store = Store.open(tempDir(), { schemas: SCHEMAS });
    const t = nowS() * 1000;
    ingestInflux(store, Buffer.from(`m v=1 ${t}\nm v=2 ${t + 300}\nm v=3 ${t + 999}`), { precision: 'ms' });
    const s = store.select('m_v', { start: t, end: t + 999 });
    expect([...s[0]!.values].filter((v) => v === v)).toEqual([3]);
    store.close();
  });

  it('a key whose fields come in another order, or other fields, still finds each field its series', () => {
    const store = Store.open(tempDir(), { schemas: SCHEMAS });
    const t = nowS();
    const r = ingestInflux(store, Buffer.from(`k,h=1 a=1,b=2 ${t}\nk,h=1 b=3,a=4 ${t + 1}\nk,h=1 c=5,a=6 ${t + 2}\nk,h=1 a=7i ${t + 3}`), { precision: 's' });
    expect(r.stored).toBe(6);
    expect(r.errors).toEqual({ type_conflict: 1 });
    const q = (sel: string) => store.select(sel, { start: t * 1000, end: (t + 3) * 1000 }).map((x) => [...x.values].filter((v) => v === v));
    expect(q('k_a')).toEqual([[1, 4, 6]]);
    expect(q('k_b')).toEqual([[2, 3]]);
    expect(q('k_c')).toEqual([[5]]);
    store.close();
  });

  it('many points stamped ahead of the clock are all refused as out_of_bounds', () => {
    const store = Store.open(tempDir(), { schemas: SCHEMAS });
    const ahead = Math.floor(Date.now() / 1000) + 3600;
    const lines = Array.from({ length: 2000 }, (_, i) => `f,s=${i % 10} v=${i} ${ahead + (i % 7)}`).join('\n');
    const r = ingestInflux(store, Buffer.from(lines), { precision: 's' });
    expect(r.errors).toEqual({ out_of_bounds: 2000 });
    expect(r.stored).toBe(0);
    store.close();
  });

  it('a timestamp too far in the future is refused (out_of_bounds)', () => {
    const store = Store.open(tempDir(), { schemas: SCHEMAS });
    const r = ingestInflux(store, Buffer.from(`m v=1 ${Math.floor(Date.now() / 1000) + 86400}`), { precision: 's' });
    expect(r.errors).toEqual({ out_of_bounds: 1 });
    store.close();
  });
});

describe('IngestCounters', () => {
  it('counts by protocol and reason and writes the Prometheus text', () => {
    const c = new IngestCounters();
    c.error('influx_udp', 'parse');
    c.error('influx_udp', 'parse', 2);
    c.error('statsd', 'bad_metric');
    c.stored('influx_udp', 5);
    expect(c.snapshot()).toEqual({ errors: { 'influx_udp parse': 3, 'statsd bad_metric': 1 }, points: { influx_udp: 5 } });
    const text = c.metricsText();
    expect(text).toContain('rondo_ingest_errors_total{protocol="influx_udp",reason="parse"} 3');
    expect(text).toContain('rondo_ingest_points_total{protocol="influx_udp"} 5');
    expect(c.figures()).toContainEqual({ name: 'rondo_ingest_errors_total', labels: { protocol: 'statsd', reason: 'bad_metric' }, value: 1 });
  });
});
