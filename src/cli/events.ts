// rondo events <dir> [--topic /vm/…] [--since -5m] [--until T] [--limit N] [--follow] [--format text|json]
import { InvalidValueError } from '../errors';
import { Store, validateTopic, type EventData, type EventQuery, type EventRecord } from '../store';
import { flag, parseArgs, UsageError } from './common';
import { writeOut } from './format';
import { parseTime, TIME_FORMS } from './time';

export const EVENTS_HELP = `usage: rondo events <dir> [--topic /vm/42] [--since -5m] [--until T] [--limit N]
                   [--follow] [--interval 200ms] [--format text|json]

Prints the records of a store's event ring (docs/events.md), oldest first: the demo VMM's
console lines (/vm/<id>/console), lifecycle (/vm/<id>/lifecycle) and KVM errors
(/vm/<id>/error), or anything appended with store.append() or over the fossil door. Opens the
store read-only: it may be written by a running process meanwhile, and is never changed.

options
  --topic /a/b     that topic and the topics below it (default: every topic)
  --since T        records from T on (inclusive); --until T: before T (exclusive). T is
                   ${TIME_FORMS}
  --limit N        at most N records (the oldest that match); with --follow: stop after N
  --follow         after the records there are, keep printing new ones as they are appended
                   (polling the ring every --interval, 200ms by default) until Ctrl-C (SIGINT)
                   or SIGTERM; not with --until
  --format text    for people (default): time (RFC 3339 UTC, ns), topic, and the datum: a
                   string as it is, other data as JSON, binary as base64:...
  --format json    for machines: one JSON object a line: {"time", "tsNs" (a string of ns),
                   "topic", "type" (fossil's type or schema), "data"}; binary data as base64,
                   integers beyond 2^53 as strings; "origin" on /nonconformant

exit status: 0 ok (and after Ctrl-C with --follow); 1 the store cannot be read (not a store,
damaged, no event ring); 2 a mistake in the command.

examples
  rondo events ./vm-metrics --topic /vm/demo/lifecycle
  rondo events ./vm-metrics --topic /vm/demo/console --since -5m --follow
  rondo events ./vm-metrics --format json | jq -r 'select(.topic | endswith("/lifecycle")) | .data.event'`;

/** RFC 3339 UTC with nanoseconds. */
export function formatNs(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const frac = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // yyyy-mm-ddThh:mm:ss.mmmZ
  return `${iso.slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

/** A datum as JSON can hold it: Buffers as base64 strings, bigints as numbers when exact, else strings. */
function jsonData(d: EventData): unknown {
  if (typeof d === 'bigint') return d >= BigInt(Number.MIN_SAFE_INTEGER) && d <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(d) : d.toString();
  if (d instanceof Uint8Array) return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
  if (Array.isArray(d)) return d.map(jsonData);
  if (typeof d === 'object' && d !== null) return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, jsonData(v as EventData)]));
  return d;
}

/** One record as a line of text. */
export function eventText(r: EventRecord): string {
  let data: string;
  if (typeof r.data === 'string') {
    // A line as the guest wrote it, unless it holds control characters (then quoted, escaped).
    // eslint-disable-next-line no-control-regex
    data = /[\x00-\x08\x0a-\x1f\x7f]/.test(r.data) ? JSON.stringify(r.data) : r.data;
  } else if (r.data instanceof Uint8Array) {
    data = `base64:${jsonData(r.data) as string}`;
  } else data = JSON.stringify(jsonData(r.data));
  return `${formatNs(r.tsNs)}  ${r.topic}  ${data}${r.origin === undefined ? '' : `  (appended to ${r.origin})`}`;
}

/** One record as a line of JSON. */
export function eventJson(r: EventRecord): string {
  return JSON.stringify({
    time: formatNs(r.tsNs),
    tsNs: r.tsNs.toString(),
    topic: r.topic,
    type: r.type,
    data: jsonData(r.data),
    ...(r.origin === undefined ? {} : { origin: r.origin }),
  });
}

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(Number(v)) || Number(v) < 1)
    throw new UsageError(`rondo events: --${name} must be a whole number from 1, not "${v}"`);
  return Number(v);
}

function interval(v: string | undefined): number {
  if (v === undefined) return 200;
  const m = /^(\d+)(ms|s)$/.exec(v.trim());
  const ms = m === null ? NaN : Number(m[1]) * (m[2] === 's' ? 1000 : 1);
  if (!(ms >= 10 && ms <= 60_000)) throw new UsageError(`rondo events: --interval must be from 10ms to 60s (such as 200ms or 1s), not "${v}"`);
  return ms;
}

export async function eventsCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs('events', argv, ['topic', 'since', 'until', 'limit', 'format', 'interval'], ['follow']);
  const format = flag(args, 'format') ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError(`rondo events: --format must be text or json, not "${format}"`);
  const [dir] = args.positional;
  if (dir === undefined || args.positional.length !== 1) throw new UsageError('rondo events: give one store directory; see rondo events --help');
  const topic = flag(args, 'topic');
  if (topic !== undefined) {
    try {
      validateTopic(topic);
    } catch (e) {
      if (e instanceof InvalidValueError) throw new UsageError(`rondo events: --topic: ${e.message}`);
      throw e;
    }
  }
  const now = Date.now();
  const since = flag(args, 'since');
  const until = flag(args, 'until');
  const startMs = since === undefined ? undefined : parseTime('events', 'since', since, now);
  const endMs = until === undefined ? undefined : parseTime('events', 'until', until, now);
  if (startMs !== undefined && endMs !== undefined && endMs <= startMs)
    throw new UsageError(`rondo events: --until (${new Date(endMs).toISOString()}) must be after --since (${new Date(startMs).toISOString()})`);
  const limit = positiveInt('limit', flag(args, 'limit'));
  const follow = args.switches.has('follow');
  if (follow && until !== undefined) throw new UsageError('rondo events: --follow prints new records as they come; it takes no --until');
  if (!follow && flag(args, 'interval') !== undefined) throw new UsageError('rondo events: --interval goes with --follow');
  const pollMs = interval(flag(args, 'interval'));
  const line = format === 'json' ? eventJson : eventText;

  const store = Store.openReadOnly(dir);
  try {
    if (!store.hasEvents) throw new InvalidValueError(`store ${dir} has no event ring (a store gets one when opened with events: { size })`);
    const query: EventQuery = {
      ...(topic === undefined ? {} : { topic }),
      ...(startMs === undefined ? {} : { start: BigInt(startMs) * 1_000_000n }),
      ...(endMs === undefined ? {} : { end: BigInt(endMs) * 1_000_000n }),
    };
    let left = limit ?? Infinity;
    const print = (records: EventRecord[]): void => {
      const take = records.length > left ? records.slice(0, left) : records;
      left -= take.length;
      if (take.length > 0) writeOut(take.map((r) => `${line(r)}\n`).join(''));
    };
    // Read in pages so that a big ring is not decoded in one piece.
    const PAGE = 10_000;
    let next = 0;
    for (;;) {
      const page = store.eventPage({ ...query, after: next, limit: Math.min(PAGE, left) });
      print(page.records);
      const moved = page.next !== next;
      next = page.next;
      if (left <= 0 || page.records.length < Math.min(PAGE, left) || !moved) break;
    }
    if (!follow || left <= 0) return 0;
    await new Promise<void>((resolve, reject) => {
      const stop = () => {
        clearInterval(timer);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      const timer = setInterval(() => {
        try {
          for (;;) {
            const page = store.eventPage({ ...query, after: next, limit: Math.min(PAGE, left) });
            print(page.records);
            next = page.next;
            if (left <= 0) return stop();
            if (page.records.length < Math.min(PAGE, left)) return;
          }
        } catch (e) {
          clearInterval(timer);
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          reject(e);
        }
      }, pollMs);
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    return 0;
  } finally {
    store.close();
  }
}
