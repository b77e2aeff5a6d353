// A small real forward proxy on node:http, as squid or tinyproxy would behave for rondo: absolute-URI
// requests are forwarded (and recorded: method, URI, headers, body), CONNECT opens a TCP tunnel
// (and records its target). Optionally it requires Proxy-Authorization (407 without). Like a real
// proxy it resolves names itself: every *.test name is this host's loopback, so a test can use a
// receiver name the client never resolves (and that is not loopback to it).
import * as http from 'node:http';
import * as net from 'node:net';

export interface ForwardedRequest {
  method: string;
  /** The absolute URI the client asked for. */
  uri: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RecordingProxy {
  /** http://127.0.0.1:PORT (with user:pass@ when credentials are required). */
  url: string;
  /** http://127.0.0.1:PORT, without credentials. */
  bare: string;
  requests: ForwardedRequest[];
  /** host:port of every CONNECT accepted. */
  connects: string[];
  /** Requests and CONNECTs refused with 407. */
  refused: number;
  close(): Promise<void>;
}

/** The proxy's own name resolution: *.test names are 127.0.0.1. */
function resolve(host: string): string {
  return host.endsWith('.test') ? '127.0.0.1' : host;
}

export async function startRecordingProxy(options: { user?: string; password?: string } = {}): Promise<RecordingProxy> {
  const expected =
    options.user === undefined ? undefined : `Basic ${Buffer.from(`${options.user}:${options.password ?? ''}`).toString('base64')}`;
  const sockets = new Set<net.Socket>();
  const state = { requests: [] as ForwardedRequest[], connects: [] as string[], refused: 0 };
  const authorized = (req: http.IncomingMessage): boolean => expected === undefined || req.headers['proxy-authorization'] === expected;

  const server = http.createServer((req, res) => {
    if (!authorized(req)) {
      state.refused++;
      res.writeHead(407, { 'Proxy-Authenticate': 'Basic realm="test"' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      state.requests.push({ method: req.method ?? '', uri: req.url ?? '', headers: req.headers, body });
      let target: URL;
      try {
        target = new URL(req.url ?? '');
      } catch {
        res.writeHead(400).end('absolute URI expected');
        return;
      }
      const headers = { ...req.headers };
      delete headers['proxy-authorization'];
      delete headers['proxy-connection'];
      const up = http.request(
        { host: resolve(target.hostname), port: target.port === '' ? 80 : Number(target.port), path: `${target.pathname}${target.search}`, method: req.method, headers, agent: false },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', (e) => res.writeHead(502).end(`upstream: ${e.message}`));
      up.end(body);
    });
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    if (!authorized(req)) {
      state.refused++;
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
      return;
    }
    const target = req.url ?? '';
    const colon = target.lastIndexOf(':');
    const host = target.slice(0, colon).replace(/^\[|\]$/g, '');
    const port = Number(target.slice(colon + 1));
    const upstream = net.connect(port, resolve(host), () => {
      state.connects.push(target);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const creds = options.user === undefined ? '' : `${encodeURIComponent(options.user)}:${encodeURIComponent(options.password ?? '')}@`;
  return {
    url: `http://${creds}127.0.0.1:${port}`,
    bare: `http://127.0.0.1:${port}`,
    get requests() {
      return state.requests;
    },
    get connects() {
      return state.connects;
    },
    get refused() {
      return state.refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
