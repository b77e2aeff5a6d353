// rondo serve --influx-udp / --influx-tcp, the command: the issue's examples verbatim against the
// listeners on InfluxDB's ports (8089 UDP, 8094 TCP) when they are free here, else on free ports
// (said in the test's name). The UDP example runs as the shell line it is, through the real `nc`
// (Debian's netcat-openbsd, which the test script installs); nc keeps listening for an answer
// after sending, so the shell line runs under `timeout`. Also the flags' loopback rule (exit 2)
// and what the start line says.
import { execFile } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../dist/src/index';
import { freePort, freeUdpPort } from './support/receivers';
import { CLI, killServes, startServe, stopServe } from './support/serve-cli';
import { tempDir } from './helpers';

afterAll(killServes);

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}


const wanted = { udp: 8089, tcp: 8094 };

describe('rondo serve with the Influx listeners', async () => {
  const onIssuePorts = (await udpFree(wanted.udp)) && (await tcpFree(wanted.tcp));
  const where = onIssuePorts ? 'on 8089 and 8094, as in the issue' : 'on free ports (8089 or 8094 is busy here)';

  it(`the issue's examples verbatim, ${where}`, async () => {
    const udpPort = onIssuePorts ? wanted.udp : await freeUdpPort();
    const tcpPort = onIssuePorts ? wanted.tcp : await freePort();
    const dir = tempDir('rondo-influx-cli-');
    const { child, line, url } = await startServe([dir, '--listen', '127.0.0.1:0', '--influx-udp', `127.0.0.1:${udpPort}`, '--influx-tcp', `127.0.0.1:${tcpPort}`]);
    expect(line).toBe(`rondo serve: serving ${dir} on ${url} (and Influx line protocol on udp://127.0.0.1:${udpPort}, tcp://127.0.0.1:${tcpPort})`);
    const send = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const s = dgram.createSocket('udp4');
        s.send(Buffer.from(text), udpPort, '127.0.0.1', (e) => {
          s.close();
          if (e) reject(e);
          else resolve();
        });
      });
    // The issue's shell line, verbatim but for the port when 8089 is busy.
    await new Promise<void>((resolve, reject) =>
      execFile(
        'sh',
        ['-c', `echo "test,host=server,region=us-east1 value=0.80 1234567890000000000" | timeout 2 nc -u 127.0.0.1 ${udpPort}; true`],
        { timeout: 10_000 },
        (e) => (e === null ? resolve() : reject(e)),
      ),
    );
    // the same without its 2009 timestamp (server time), over UDP, and another over TCP
    await send('test,host=server,region=us-east1 value=0.80\n');
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(tcpPort, '127.0.0.1', () => s.end('test,host=server,region=us-west1 value=0.90\n'));
      s.on('error', reject);
      s.on('close', () => resolve());
      s.resume();
    });
    let metrics = '';
    for (let i = 0; i < 100 && !/protocol="influx_tcp"\} 1/.test(metrics); i++) {
      await new Promise((r) => setTimeout(r, 50));
      metrics = await (await fetch(`${url}/metrics`)).text();
    }
    expect(metrics).toContain('rondo_ingest_errors_total{protocol="influx_udp",reason="too_old"} 1');
    expect(metrics).toContain('rondo_ingest_points_total{protocol="influx_udp"} 1');
    expect(metrics).toContain('rondo_ingest_points_total{protocol="influx_tcp"} 1');
    const ping = await fetch(`${url}/ping`, { method: 'HEAD' });
    expect(ping.status).toBe(204);
    expect(ping.headers.get('x-influxdb-version')).toMatch(/^1\./);
    expect(await stopServe(child)).toBe(0);
    const store = Store.openReadOnly(dir);
    try {
      const got = store
        .select('test', { start: Date.now() - 120_000, end: Date.now() + 1000 })
        .map((s) => [s.labels.region, [...s.values].filter((v) => v === v)])
        .sort();
      expect(got).toEqual([
        ['us-east1', [0.8]],
        ['us-west1', [0.9]],
      ]);
    } finally {
      store.close();
    }
  });

  it('an Influx listener on a non-loopback address needs --insecure-listen (exit 2)', async () => {
    const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, 'serve', tempDir(), '--influx-udp', '0.0.0.0:0'], { timeout: 15_000 }, (err, _o, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stderr }),
      ),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--influx-udp 0\.0\.0\.0 is not a loopback address.*--insecure-listen/);
  });
});
