// The remote-write client's options, checked once (checkRemoteWriteOptions), and its credentials
// (Credentials): how they are read, re-read on rotation, sent, and kept out of every message.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as tlsModule from 'node:tls';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../package-root';
import { ConfigError, InvalidSeriesError } from '../errors';
import { validateSeries } from '../store';
import type { RemoteWriteOptions } from './remote-write';

const DEFAULTS = {
  timeoutMs: 30_000,
  maxSamplesPerSend: 2000,
  maxRetries: 10,
  minBackoffMs: 30,
  maxBackoffMs: 5000,
  maxInFlight: 1,
} as const;

/** Headers whose values are credentials: never shown in a message, even when a receiver echoes them. */
const SECRET_HEADER_RE = /authorization|token|key|secret|password|passwd|cookie|session|signature|credential/;

/** Longest Retry-After honoured. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;
/** Most of a response body kept (the rest is read and discarded). */
export const MAX_BODY_KEPT = 64 * 1024;
export const BODY_LOGGED = 512;
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Headers the protocol owns; `headers` may not set them. */
const RESERVED_HEADERS = new Set([
  'content-encoding',
  'content-type',
  'x-prometheus-remote-write-version',
  'user-agent',
  'content-length',
  'transfer-encoding',
  'connection',
  // HTTP's own: the client sets them (Host from the URL), or they would change how the request is framed.
  'host',
  'expect',
  'te',
  'trailer',
  'upgrade',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
]);

let packageVersion: string | undefined;
function rondoVersion(): string {
  if (packageVersion === undefined) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown };
      packageVersion = typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      packageVersion = 'unknown';
    }
  }
  return packageVersion;
}

type Logger = (level: 'warn' | 'error', message: string) => void;

const defaultLogger: Logger = (level, message) => {
  process.stderr.write(`rondo remote-write ${level}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
};

function positive(name: string, value: unknown, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value)))
    throw new ConfigError(`remote-write ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${String(value)}`);
  if (value > MAX_TIMER_MS) throw new ConfigError(`remote-write ${name} is ${value}; the limit is ${MAX_TIMER_MS}`);
  return value;
}

function readSecretFile(what: string, file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`remote-write ${what} ${JSON.stringify(file)} cannot be read (${code}); check the path and its permissions`);
  }
  const secret = text.trim();
  if (secret === '') throw new ConfigError(`remote-write ${what} ${JSON.stringify(file)} is empty`);
  return secret;
}

export type Auth =
  | { kind: 'none' }
  | { kind: 'bearer'; token: string; file?: string }
  | { kind: 'basic'; username: string; password: string; file?: string };

/** The options as the client uses them: every value checked, every default applied. */
export interface CheckedOptions {
  url: URL;
  externalLabels: Record<string, string>;
  auth: Auth;
  /** Secrets known at construction (credentials, secret headers, query values): never shown. */
  redactions: string[];
  headers: Record<string, string>;
  timeoutMs: number;
  maxSamplesPerSend: number;
  maxRetries: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  maxInFlight: number;
  userAgent: string;
  logger: Logger;
  /** For https: URLs, what node:https gets (files already read). */
  tls: CheckedTls;
  /** The proxy the requests go through (from the proxy option or the environment), or null. */
  proxy: URL | null;
}

export interface CheckedTls {
  /** The files ca, cert and key were read from, to read again when they change. */
  files?: { ca?: string; cert?: string; key?: string };
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  rejectUnauthorized: boolean;
}

/** Checks every option; a bad one is a ConfigError naming it and what it takes. */
export function checkRemoteWriteOptions(options: RemoteWriteOptions): CheckedOptions {
  if (options === null || typeof options !== 'object') throw new ConfigError('remote-write options must be an object with at least { url }');
  const redactions: string[] = [];
  const url = checkUrl(options.url);
  // Some receivers take a key in the query string: it is sent, never shown (nor echoed back).
  for (const value of url.searchParams.values()) redactions.push(value);

  let externalLabels: Record<string, string>;
  try {
    externalLabels = validateSeries('externalLabels', options.externalLabels ?? {});
  } catch (e) {
    if (e instanceof InvalidSeriesError) throw new ConfigError(`remote-write ${e.message}`);
    throw e;
  }

  const auth = checkAuth(options, redactions);
  const headers = checkHeaders(options.headers, auth, redactions);

  const timeoutMs = positive('timeoutMs', options.timeoutMs, DEFAULTS.timeoutMs, false);
  const maxSamplesPerSend = positive('maxSamplesPerSend', options.maxSamplesPerSend, DEFAULTS.maxSamplesPerSend, true);
  let maxRetries: number = DEFAULTS.maxRetries;
  if (options.maxRetries !== undefined) {
    if (typeof options.maxRetries !== 'number' || !Number.isInteger(options.maxRetries) || options.maxRetries < 0)
      throw new ConfigError(`remote-write maxRetries must be a non-negative integer, got ${String(options.maxRetries)}`);
    maxRetries = options.maxRetries;
  }
  const minBackoffMs = positive('minBackoffMs', options.minBackoffMs, DEFAULTS.minBackoffMs, false);
  const maxBackoffMs = positive('maxBackoffMs', options.maxBackoffMs, Math.max(DEFAULTS.maxBackoffMs, minBackoffMs), false);
  if (maxBackoffMs < minBackoffMs)
    throw new ConfigError(`remote-write maxBackoffMs (${maxBackoffMs}) is less than minBackoffMs (${minBackoffMs})`);
  const maxInFlight = positive('maxInFlight', options.maxInFlight, DEFAULTS.maxInFlight, true);

  if (options.userAgent !== undefined && (typeof options.userAgent !== 'string' || options.userAgent === ''))
    throw new ConfigError('remote-write userAgent must be a non-empty string');
  const userAgent = options.userAgent ?? `rondo/${rondoVersion()}`;
  try {
    http.validateHeaderValue('User-Agent', userAgent);
  } catch {
    throw new ConfigError('remote-write userAgent holds characters not allowed in a header');
  }
  if (options.logger !== undefined && typeof options.logger !== 'function')
    throw new ConfigError('remote-write logger must be a function (level, message) => void');

  const tls = checkTls(options.tls, url);
  const proxy = checkProxy(options.proxy, url, redactions);

  return {
    url,
    externalLabels,
    tls,
    proxy,
    auth,
    redactions,
    headers,
    timeoutMs,
    maxSamplesPerSend,
    maxRetries,
    minBackoffMs,
    maxBackoffMs,
    maxInFlight,
    userAgent,
    logger: options.logger ?? defaultLogger,
  };
}

function checkUrl(text: unknown): URL {
  if (typeof text !== 'string' || text === '')
    throw new ConfigError('remote-write url must be a string like "http://127.0.0.1:9090/api/v1/write"');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError('remote-write url is not a valid URL; expected e.g. "http://127.0.0.1:9090/api/v1/write"');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ConfigError(`remote-write url must use http: or https:, not ${url.protocol}`);
  if (url.username !== '' || url.password !== '')
    throw new ConfigError('remote-write url must not hold credentials; use the basicAuth or bearerToken options');
  if (url.hash !== '') url.hash = '';
  return url;
}

function readFileOption(what: string, file: unknown): Buffer {
  if (typeof file !== 'string' || file === '') throw new ConfigError(`remote-write ${what} must be a path to a PEM file`);
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`remote-write ${what} ${JSON.stringify(file)} cannot be read (${code}); check the path and its permissions`);
  }
}

const TLS_KEYS = new Set(['caFile', 'certFile', 'keyFile', 'serverName', 'insecureSkipVerify']);

function checkTls(given: RemoteWriteOptions['tls'], url: URL): CheckedTls {
  const tls: CheckedTls = { rejectUnauthorized: true };
  if (given === undefined) return tls;
  if (given === null || typeof given !== 'object' || Array.isArray(given))
    throw new ConfigError('remote-write tls must be an object { caFile?, certFile?, keyFile?, serverName?, insecureSkipVerify? }');
  for (const k of Object.keys(given))
    if (!TLS_KEYS.has(k)) throw new ConfigError(`remote-write tls has no option ${JSON.stringify(k)}; it takes caFile, certFile, keyFile, serverName and insecureSkipVerify`);
  const { caFile, certFile, keyFile, serverName, insecureSkipVerify } = given;
  const any = caFile !== undefined || certFile !== undefined || keyFile !== undefined || serverName !== undefined || insecureSkipVerify !== undefined;
  if (any && url.protocol !== 'https:')
    throw new ConfigError(`remote-write tls options need an https: url; ${url.origin} is plain http`);
  const files: NonNullable<CheckedTls['files']> = {};
  if (caFile !== undefined) {
    tls.ca = readFileOption('tls.caFile', caFile);
    files.ca = caFile as string;
  }
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new ConfigError('remote-write tls.certFile and tls.keyFile go together: give both (the client certificate and its private key)');
  if (certFile !== undefined) {
    tls.cert = readFileOption('tls.certFile', certFile);
    files.cert = certFile as string;
  }
  if (keyFile !== undefined) {
    tls.key = readFileOption('tls.keyFile', keyFile);
    files.key = keyFile as string;
  }
  if (Object.keys(files).length > 0) tls.files = files;
  if (serverName !== undefined) {
    if (typeof serverName !== 'string' || serverName === '' || !/^[A-Za-z0-9.*-]+$/.test(serverName))
      throw new ConfigError(`remote-write tls.serverName must be a host name, got ${JSON.stringify(serverName)}`);
    tls.servername = serverName;
  }
  try {
    // Fails now, with the option named, rather than at the first connection.
    tlsContext(tls);
  } catch (e) {
    throw new ConfigError(`remote-write tls: the PEM files given cannot be used (${(e as Error).message}); certFile and keyFile must be a certificate and its own key, caFile certificates`);
  }
  if (insecureSkipVerify !== undefined) {
    // Only the literal true turns verification off: a string "false" from a config file must not.
    if (insecureSkipVerify !== true && insecureSkipVerify !== false)
      throw new ConfigError(`remote-write tls.insecureSkipVerify must be true or false, got ${JSON.stringify(insecureSkipVerify)}`);
    if (insecureSkipVerify && caFile !== undefined)
      throw new ConfigError('remote-write tls.insecureSkipVerify and tls.caFile contradict each other: with a CA file the certificate can be verified, so drop insecureSkipVerify');
    tls.rejectUnauthorized = !insecureSkipVerify;
  }
  return tls;
}

/** A secure context of the CA, certificate and key: throws if they are not PEM or do not pair. */
export function tlsContext(t: { ca?: Buffer; cert?: Buffer; key?: Buffer }): void {
  if (t.ca === undefined && t.cert === undefined && t.key === undefined) return;
  tlsModule.createSecureContext({
    ...(t.ca !== undefined ? { ca: t.ca } : {}),
    ...(t.cert !== undefined ? { cert: t.cert } : {}),
    ...(t.key !== undefined ? { key: t.key } : {}),
  });
}

function checkProxy(given: RemoteWriteOptions['proxy'], url: URL, redactions: string[]): URL | null {
  let text: string | undefined;
  let from: string;
  if (given === false || given === null) return null;
  if (given === undefined) {
    const env = proxyFromEnv(url, process.env);
    if (env === undefined) return null;
    text = env.value;
    from = `the environment variable ${env.name}`;
  } else if (typeof given === 'string' && given !== '') {
    text = given;
    from = 'the proxy option';
  } else throw new ConfigError('remote-write proxy must be a URL like "http://proxy:3128", or false for none');
  let proxy: URL;
  try {
    // "proxy:3128" without a scheme is taken as http://, as curl and Go do.
    proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    throw new ConfigError(`remote-write proxy from ${from} is not a valid URL; expected e.g. http://proxy:3128`);
  }
  if (proxy.protocol !== 'http:')
    throw new ConfigError(`remote-write proxy from ${from} must be an http:// proxy (it carries https through a CONNECT tunnel), not ${proxy.protocol}`);
  if (proxy.password !== '') redactions.push(decodeURIComponent(proxy.password));
  return proxy;
}

/**
 * The proxy the environment sets for `url`, as curl and Go read it: https_proxy / HTTPS_PROXY
 * for https: URLs, http_proxy / HTTP_PROXY for http: ones (lower case first), unless the host is
 * in no_proxy / NO_PROXY or is loopback. Undefined for none.
 */
export function proxyFromEnv(url: URL, env: NodeJS.ProcessEnv): { name: string; value: string } | undefined {
  const names = url.protocol === 'https:' ? ['https_proxy', 'HTTPS_PROXY'] : ['http_proxy', 'HTTP_PROXY'];
  let found: { name: string; value: string } | undefined;
  for (const name of names) {
    const v = env[name];
    if (v !== undefined && v.trim() !== '') {
      found = { name, value: v.trim() };
      break;
    }
  }
  if (found === undefined) return undefined;
  // A receiver on this host's loopback cannot be reached through another host's proxy (Go's
  // rule too); an explicit proxy option still applies.
  if (isLoopback(url)) return undefined;
  const noProxy = env['no_proxy'] ?? env['NO_PROXY'] ?? '';
  return bypassesProxy(url, noProxy) ? undefined : found;
}

/** localhost, *.localhost, 127.0.0.0/8 and ::1. */
export function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1') return true;
  return net.isIPv4(host) && host.startsWith('127.');
}

/**
 * Whether NO_PROXY's list (comma- or space-separated) covers `url`: "*" covers every host; a
 * name covers itself and its subdomains (".example.com" and "example.com" alike); an IP
 * address or CIDR block (10.0.0.0/8, fd00::/8) covers the addresses in it; an entry with
 * ":port" only that port.
 */
export function bypassesProxy(url: URL, noProxy: string): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const hostIp = net.isIP(host);
  for (let entry of noProxy.split(/[\s,]+/)) {
    entry = entry.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    let entryPort: string | undefined;
    const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracket !== null) {
      entry = bracket[1]!;
      entryPort = bracket[2];
    } else if (net.isIP(entry) !== 6 && !entry.includes('/') && /:\d+$/.test(entry)) {
      entryPort = entry.slice(entry.lastIndexOf(':') + 1);
      entry = entry.slice(0, entry.lastIndexOf(':'));
    }
    if (entryPort !== undefined && entryPort !== port) continue;
    if (entry.includes('/')) {
      const [addr, bits] = entry.split('/') as [string, string];
      const family = net.isIP(addr);
      if (family === 0 || hostIp !== family || !/^\d+$/.test(bits)) continue;
      const list = new net.BlockList();
      try {
        list.addSubnet(addr, Number(bits), family === 4 ? 'ipv4' : 'ipv6');
      } catch {
        continue;
      }
      if (list.check(host, family === 4 ? 'ipv4' : 'ipv6')) return true;
      continue;
    }
    const name = entry.replace(/^\*?\./, '');
    if (host === name || (hostIp === 0 && host.endsWith(`.${name}`))) return true;
  }
  return false;
}

function checkAuth(options: RemoteWriteOptions, redactions: string[]): Auth {
  const { bearerToken, bearerTokenFile, basicAuth } = options;
  const hasBearer = bearerToken !== undefined || bearerTokenFile !== undefined;
  if (hasBearer && basicAuth !== undefined) throw new ConfigError('remote-write takes either bearer auth or basic auth, not both');
  if (bearerToken !== undefined && bearerTokenFile !== undefined)
    throw new ConfigError('remote-write takes either bearerToken or bearerTokenFile, not both');
  if (bearerToken !== undefined) {
    if (typeof bearerToken !== 'string' || bearerToken === '' || /[\r\n]/.test(bearerToken))
      throw new ConfigError('remote-write bearerToken must be a non-empty string on one line');
    redactions.push(bearerToken);
    return { kind: 'bearer', token: bearerToken };
  }
  if (bearerTokenFile !== undefined) {
    if (typeof bearerTokenFile !== 'string' || bearerTokenFile === '') throw new ConfigError('remote-write bearerTokenFile must be a path');
    const token = readSecretFile('bearerTokenFile', bearerTokenFile);
    redactions.push(token);
    return { kind: 'bearer', token, file: bearerTokenFile };
  }
  if (basicAuth === undefined) return { kind: 'none' };
  if (basicAuth === null || typeof basicAuth !== 'object')
    throw new ConfigError('remote-write basicAuth must be { username, password } or { username, passwordFile }');
  const { username, password, passwordFile } = basicAuth;
  if (typeof username !== 'string' || username === '' || username.includes(':') || /[\r\n]/.test(username))
    throw new ConfigError('remote-write basicAuth.username must be a non-empty string without ":"');
  if (password !== undefined && passwordFile !== undefined)
    throw new ConfigError('remote-write basicAuth takes either password or passwordFile, not both');
  if (password !== undefined && typeof password !== 'string') throw new ConfigError('remote-write basicAuth.password must be a string');
  if (passwordFile !== undefined) {
    if (typeof passwordFile !== 'string' || passwordFile === '') throw new ConfigError('remote-write basicAuth.passwordFile must be a path');
    const secret = readSecretFile('basicAuth.passwordFile', passwordFile);
    redactions.push(secret);
    return { kind: 'basic', username, password: secret, file: passwordFile };
  }
  redactions.push(password ?? '');
  return { kind: 'basic', username, password: password ?? '' };
}

function checkHeaders(given: unknown, auth: Auth, redactions: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  if (given === undefined) return headers;
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new ConfigError('remote-write headers must be an object of strings');
  for (const [name, value] of Object.entries(given as Record<string, unknown>)) {
    const lower = name.toLowerCase();
    if (RESERVED_HEADERS.has(lower)) throw new ConfigError(`remote-write headers may not set ${name}: the remote-write protocol sets it`);
    if (lower === 'authorization' && auth.kind !== 'none')
      throw new ConfigError('remote-write headers may not set Authorization when bearer or basic auth is configured');
    if (typeof value !== 'string') throw new ConfigError(`remote-write header ${name} must be a string`);
    try {
      http.validateHeaderName(name);
      http.validateHeaderValue(name, value);
    } catch {
      throw new ConfigError(`remote-write header ${JSON.stringify(name)} has an invalid name or value`);
    }
    headers[name] = value;
    if (SECRET_HEADER_RE.test(lower)) redactions.push(value);
  }
  return headers;
}

/**
 * The client's credentials: the Authorization header of each send (a token or password file is
 * read again before each, so a rotated one is picked up), and redaction of every secret it has
 * seen from the messages the client writes or throws.
 */
export class Credentials {
  readonly #auth: Auth;
  #lastSecret: string | undefined;
  readonly #secrets = new Set<string>();

  constructor(auth: Auth, redactions: readonly string[]) {
    this.#auth = auth;
    this.#lastSecret = auth.kind === 'bearer' ? auth.token : auth.kind === 'basic' ? auth.password : undefined;
    for (const r of redactions) this.#addRedaction(r);
  }

  /** The Authorization header for the next send, or undefined without auth. */
  async authorization(log: Logger): Promise<string | undefined> {
    const auth = this.#auth;
    if (auth.kind === 'none') return undefined;
    let secret = this.#lastSecret;
    if (auth.file !== undefined) {
      // Re-read each send so a rotated token is picked up; keep the last good one if unreadable.
      try {
        const fresh = (await fs.promises.readFile(auth.file, 'utf8')).trim();
        if (fresh !== '') {
          if (fresh !== this.#lastSecret) {
            this.#lastSecret = fresh;
            this.#addRedaction(fresh);
          }
          secret = fresh;
        }
      } catch (e) {
        log('warn', `cannot re-read ${JSON.stringify(auth.file)} (${(e as NodeJS.ErrnoException).code ?? 'error'}); using the last one read`);
      }
    }
    if (auth.kind === 'bearer') return `Bearer ${secret ?? ''}`;
    const basic = Buffer.from(`${auth.username}:${secret ?? ''}`, 'utf8').toString('base64');
    this.#addRedaction(basic);
    return `Basic ${basic}`;
  }

  /** `text` with every known credential (and its Basic encoding) replaced. */
  redact(text: string): string {
    let out = text;
    for (const s of this.#secrets) if (out.includes(s)) out = out.split(s).join('<redacted>');
    return out;
  }

  /** The auth as toJSON() shows it: the kind, the user and files, never a secret. */
  describe(): Record<string, unknown> {
    const auth = this.#auth;
    if (auth.kind === 'bearer') return { type: 'bearer', token: '<redacted>', ...(auth.file !== undefined ? { file: auth.file } : {}) };
    if (auth.kind === 'basic')
      return { type: 'basic', username: auth.username, password: '<redacted>', ...(auth.file !== undefined ? { passwordFile: auth.file } : {}) };
    return { type: 'none' };
  }

  #addRedaction(secret: string): void {
    // Very short secrets would mangle messages if scrubbed, and say nothing if shown.
    if (secret.length >= 3) this.#secrets.add(secret);
  }
}
