// The official-format InfluxDB clients write into rondo serve: @influxdata/influxdb-client over the
// v2 write API (with and without a token), and the influx CLI of Debian's influxdb-client importing
// a file of lines over the v1 API (it pings first, as it does against influxd). What they wrote is
// read back from the store.
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { InfluxDB, Point, setLogger } from '@influxdata/influxdb-client';
import { Store, type SchemaOptions } from '../src/index';
import { InfluxCatalog } from '../src/ingest';
import { serve, type RondoServer } from '../src/server';
import { ensureReceiversInstalled } from './support/receivers';
import { tempDir } from './helpers';

const SCHEMAS: SchemaOptions[] = [{ name: 'all', match: {}, maxSeries: 100, tiers: [{ interval: '1s', retention: '1h' }] }];

// The client logs every failed write to the console; the tests check the failures themselves.
setLogger({ error: () => {}, warn: () => {} });

const open: Array<{ store: Store; server: RondoServer }> = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.server.close();
    o.store.close();
  }
});

async function start(authToken?: string): Promise<{ store: Store; server: RondoServer }> {
  const store = Store.open(tempDir(), { schemas: SCHEMAS });
  const server = await serve(store, { listen: '127.0.0.1:0', recordOwnMetrics: false, ...(authToken !== undefined ? { authToken } : {}) });
  const o = { store, server };
  open.push(o);
  return o;
}

function values(store: Store, selector: string, fromMs: number): number[][] {
  return store.select(selector, { start: fromMs, end: Date.now() + 1000 }).map((s) => [...s.values].filter((v) => v === v));
}

describe('@influxdata/influxdb-client (v2 write API)', () => {
  it('writes points of every field type; the numeric ones are stored under the naming map', async () => {
    const { store, server } = await start();
    const t0 = Math.floor(Date.now() / 1000) - 30;
    const writeApi = new InfluxDB({ url: server.url, token: 'unused' }).getWriteApi('my-org', 'my-bucket', 's');
    writeApi.useDefaultTags({ vm: 'vm1' });
    for (let i = 0; i < 5; i++)
      writeApi.writePoint(
        new Point('vcpu')
          .tag('cpu', '0')
          .floatField('usage', 10 + i)
          .intField('exits', 100 * i)
          .booleanField('halted', i % 2 === 0)
          .stringField('state', 'running')
          .timestamp(t0 + i),
      );
    writeApi.writePoint(new Point('disk io').tag('dev.name', 'vda').uintField('read-bytes', 4096).timestamp(t0));
    await writeApi.close();
    expect(values(store, 'vcpu_usage{vm="vm1",cpu="0"}', t0 * 1000)).toEqual([[10, 11, 12, 13, 14]]);
    expect(values(store, 'vcpu_exits', t0 * 1000)).toEqual([[0, 100, 200, 300, 400]]);
    expect(values(store, 'vcpu_halted', t0 * 1000)).toEqual([[1, 0, 1, 0, 1]]);
    expect(values(store, 'disk_io_read_bytes{dev_name="vda"}', t0 * 1000)).toEqual([[4096]]);
    const cat = InfluxCatalog.of(store);
    expect(cat.fields('vcpu').map((f) => `${f.field}:${f.type}`)).toEqual(['exits:integer', 'halted:boolean', 'usage:float']);
    expect(cat.fields('disk io').map((f) => `${f.field}:${f.type}`)).toEqual(['read-bytes:unsigned']);
    expect(cat.tagKey('disk_io_read_bytes', 'dev_name')).toBe('dev.name');
    // the string field was not stored, and counted
    expect(server.stats().ingest.errors['influx_http string_field']).toBe(5);
    expect(server.stats().ingest.points.influx_http).toBe(16);
  });

  it('with a token: the client\'s "Authorization: Token" is accepted, a wrong token refused', async () => {
    const { store, server } = await start('s3cret');
    const t0 = Math.floor(Date.now() / 1000) - 10;
    const ok = new InfluxDB({ url: server.url, token: 's3cret' }).getWriteApi('o', 'b', 's');
    ok.writePoint(new Point('m').floatField('v', 1.5).timestamp(t0));
    await ok.close();
    expect(values(store, 'm_v', t0 * 1000)).toEqual([[1.5]]);
    const bad = new InfluxDB({ url: server.url, token: 'wrong', writeOptions: { maxRetries: 0 } }).getWriteApi('o', 'b', 's');
    bad.writePoint(new Point('m').floatField('v', 2).timestamp(t0 + 1));
    await expect(bad.close()).rejects.toThrow(/401|unauthorized/i);
    expect(values(store, 'm_v', t0 * 1000)).toEqual([[1.5]]);
    // /ping needs no token, as influxd's
    expect((await fetch(`${server.url}/ping`)).status).toBe(204);
    expect((await fetch(`${server.url}/write?db=x`, { method: 'POST', body: 'm v=3' })).status).toBe(401);
  });

  it('a bad point is refused with InfluxDB v2\'s error shape, which the client reports', async () => {
    const { server } = await start();
    const writeApi = new InfluxDB({ url: server.url, token: 't', writeOptions: { maxRetries: 0 } }).getWriteApi('o', 'b', 'ns');
    writeApi.writeRecord('bad line without fields');
    await expect(writeApi.close()).rejects.toThrow(/unable to parse 'bad line without fields': invalid field format/);
  });
});

describe('the influx CLI (Debian influxdb-client, v1 /write)', () => {
  it('imports a file of lines into rondo serve', async () => {
    ensureReceiversInstalled();
    const { store, server } = await start();
    const t0 = Math.floor(Date.now() / 1000) - 60;
    const file = path.join(tempDir(), 'import.txt');
    const lines = Array.from({ length: 20 }, (_, i) => `hv,host=hv${i % 2} load=${i / 10},procs=${i}i ${t0 + i}`);
    fs.writeFileSync(file, ['# DML', '# CONTEXT-DATABASE: metrics', ...lines, ''].join('\n'));
    const { stdout, stderr } = await promisify(execFile)(
      'influx',
      ['-host', '127.0.0.1', '-port', String(server.port), '-import', '-path', file, '-precision', 's'],
      { timeout: 30_000 },
    );
    expect(`${stdout}${stderr}`).toMatch(/Processed 20 inserts/);
    expect(`${stdout}${stderr}`).toMatch(/Failed 0 inserts/);
    expect(values(store, 'hv_procs{host="hv0"}', t0 * 1000)).toEqual([[0, 2, 4, 6, 8, 10, 12, 14, 16, 18]]);
    expect(values(store, 'hv_load{host="hv1"}', t0 * 1000)[0]!.length).toBe(10);
  });
});
