// Requests through an HTTP proxy, written on node:http/net/tls: https targets through a CONNECT
// tunnel (TLS end to end, the proxy sees only the host and port), http targets by asking the
// proxy for the absolute URI. The proxy comes from the proxy option or HTTPS_PROXY / HTTP_PROXY /
// NO_PROXY (remote-write-options.ts).
import * as http from 'node:http';
import * as https from 'node:https';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';

/** The Proxy-Authorization header for a proxy URL with user:password, or undefined. */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (proxy.username === '' && proxy.password === '') return undefined;
  const user = decodeURIComponent(proxy.username);
  const pass = decodeURIComponent(proxy.password);
  return `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
}

/** The proxy as shown in messages: its origin, never its credentials. */
export function proxyForDisplay(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`;
}

/** Why a tunnel could not be opened: the proxy's answer, or its connection's error. */
export class ProxyTunnelError extends Error {
  override name = 'ProxyTunnelError';
  constructor(
    message: string,
    /** The proxy's HTTP status, 0 when it gave none. */
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * An https.Agent whose connections are CONNECT tunnels through `proxy`: each new socket asks the
 * proxy for `CONNECT host:port`, then runs TLS over the tunnel with the agent's TLS options (CA,
 * client certificate, server name), so verification is the same as without a proxy. Keep-alive
 * reuses tunnels like plain sockets.
 */
export class TunnelingAgent extends https.Agent {
  readonly #proxy: URL;
  readonly #timeoutMs: number;

  constructor(proxy: URL, options: https.AgentOptions & { connectTimeoutMs: number }) {
    const { connectTimeoutMs, ...agentOptions } = options;
    super(agentOptions);
    this.#proxy = proxy;
    this.#timeoutMs = connectTimeoutMs;
  }

  // node's Agent calls createConnection(options, callback) and takes the socket from the callback.
  override createConnection(requestOptions: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): undefined {
    const options = requestOptions as tls.ConnectionOptions & { host?: string; port?: number };
    const host = options.host ?? 'localhost';
    const port = options.port ?? 443;
    const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const headers: http.OutgoingHttpHeaders = { Host: target };
    const auth = proxyAuthorization(this.#proxy);
    if (auth !== undefined) headers['Proxy-Authorization'] = auth;
    const shown = proxyForDisplay(this.#proxy);
    let done = false;
    const once = (err: Error | null, socket?: Duplex): void => {
      if (done) return;
      done = true;
      callback?.(err, socket as Duplex);
    };
    const req = http.request({
      host: this.#proxy.hostname.replace(/^\[|\]$/g, ''),
      port: this.#proxy.port === '' ? 80 : Number(this.#proxy.port),
      method: 'CONNECT',
      path: target,
      headers,
      agent: false,
    });
    req.setTimeout(this.#timeoutMs, () => req.destroy(new Error(`no answer to CONNECT within ${this.#timeoutMs} ms`)));
    req.once('connect', (res, socket, head) => {
      req.setTimeout(0);
      if (res.statusCode !== 200) {
        socket.destroy();
        once(new ProxyTunnelError(`proxy ${shown} refused CONNECT ${target} with HTTP ${res.statusCode ?? 0}${res.statusMessage ? ` ${res.statusMessage}` : ''}`, res.statusCode ?? 0));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      const servername = options.servername ?? (/^[\d.]+$|:/.test(host) ? undefined : host);
      const secure = tls.connect({ ...options, socket, ...(servername === undefined ? {} : { servername }) });
      once(null, secure);
    });
    req.once('error', (e) => once(new ProxyTunnelError(`proxy ${shown} could not be used for CONNECT ${target}: ${e.message}`, 0)));
    req.end();
    return undefined;
  }
}
