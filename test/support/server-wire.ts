// Test helpers for rondo serve: a small remote-write encoder (with exact stale-marker bits),
// snappy framing through snappyjs (an independent implementation), and HTTP requests.
import * as http from 'node:http';
import * as https from 'node:https';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const snappy = require('snappyjs') as { compress(b: Uint8Array): Uint8Array; uncompress(b: Uint8Array): Uint8Array };

export const STALE_NAN = Buffer.from([0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f]);

function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(Math.trunc(n)));
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
function field(no: number, wire: number): number[] {
  return varint(no * 8 + wire);
}
function lenField(no: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([...field(no, 2), ...varint(body.length)]), body]);
}

export interface WireSeries {
  labels: Record<string, string>; // with __name__
  samples: Array<{ value: number | 'stale'; ts: number }>;
}

/** A remote-write 1.0 WriteRequest, with metadata types ('counter' | 'gauge') by family. */
export function encodeWrite(series: WireSeries[], metadata: Record<string, 'counter' | 'gauge'> = {}): Buffer {
  const parts: Buffer[] = [];
  for (const s of series) {
    const body: Buffer[] = [];
    for (const name of Object.keys(s.labels).sort())
      body.push(lenField(1, Buffer.concat([lenField(1, Buffer.from(name)), lenField(2, Buffer.from(s.labels[name]!))])));
    for (const p of s.samples) {
      const d = Buffer.alloc(8);
      if (p.value === 'stale') STALE_NAN.copy(d);
      else d.writeDoubleLE(p.value);
      body.push(lenField(2, Buffer.concat([Buffer.from(field(1, 1)), d, Buffer.from([...field(2, 0), ...varint(p.ts)])])));
    }
    parts.push(lenField(1, Buffer.concat(body)));
  }
  for (const [family, type] of Object.entries(metadata))
    parts.push(lenField(3, Buffer.concat([Buffer.from([...field(1, 0), type === 'counter' ? 1 : 2]), lenField(2, Buffer.from(family))])));
  return Buffer.concat(parts);
}

export function snappyCompress(b: Uint8Array): Buffer {
  return Buffer.from(snappy.compress(b));
}
export function snappyUncompress(b: Uint8Array): Buffer {
  return Buffer.from(snappy.uncompress(b));
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

/** One HTTP(S) request; never throws for a status. */
export function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string; ca?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const lib = u.protocol === 'https:' ? https : http;
    const req = lib.request(
      u,
      { method: options.method ?? (options.body === undefined ? 'GET' : 'POST'), headers: options.headers, agent: false, ...(options.ca !== undefined ? { ca: options.ca } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(20_000, () => req.destroy(new Error(`${url} timed out`)));
    req.on('error', reject);
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}

/** POST a WriteRequest, snappy-compressed, as a remote-write client does. */
export function postWrite(base: string, raw: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return request(`${base}/api/v1/write`, {
    body: snappyCompress(raw),
    headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy', 'X-Prometheus-Remote-Write-Version': '0.1.0', ...headers },
  });
}
