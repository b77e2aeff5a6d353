// rondo fossil-client fossil://host:port/db [--fire-and-forget] [--output text|json] [COMMAND...]
// A client of fossil's protocol, as fossil's own `client` is: the commands of its REPL, one per
// argument list or one per line on stdin.
import * as readline from 'node:readline';
import { FossilClient, FossilError, type FossilEntry } from '../fossil';
import { flag, parseArgs, UsageError } from './common';

export const FOSSIL_CLIENT_HELP = `usage: rondo fossil-client fossil://HOST[:PORT][/DATABASE] [--fire-and-forget] [--output text|json] [COMMAND ...]

Talks fossil's TCP protocol to rondo serve --fossil (or to a fossil server): connects (VERSION,
then USE DATABASE, default "default", port 8001 by default), then runs COMMAND, or, without one,
each line of stdin as a command, as fossil's client does:

  append [TOPIC] DATA         append DATA (the rest of the line, as UTF-8) to TOPIC (default /)
  query QUERY                 run a query (docs/events.md, "The query language")
  use DATABASE                switch databases
  list [databases|topics|schemas]
  create topic TOPIC [SCHEMA] create a topic with a schema (string, int32, [2]float64, ...)
  stats                       the server's figures
  version                     the server's version

options
  --fire-and-forget   connect in fire-and-forget mode (also ?mode=fire-and-forget in the URL):
                      appends get no answer, other commands but use and create are refused.
  --output FORMAT     text (default): one line per entry, TIME TOPIC SCHEMA DATA (DATA decoded
                      by its schema; binary as base64); json: {"results":[{time,topic,schema,data}]}
                      with data in base64, as fossil's client prints -o json.

exit status: 0 every command answered OK; 1 a command got an error (printed as "CODE MESSAGE") or
the server cannot be reached; 2 usage.`;

function shown(e: FossilEntry): string {
  const d = e.data;
  switch (e.schema) {
    case 'string':
      return d.toString('utf8');
    case 'boolean':
      return d.length === 1 ? String(d[0] !== 0) : d.toString('base64');
    case 'int8':
    case 'int16':
    case 'int32':
    case 'int64':
    case 'uint8':
    case 'uint16':
    case 'uint32':
    case 'uint64': {
      const n = Number(e.schema.replace(/\D/g, '')) / 8;
      const unsigned = e.schema.startsWith('u');
      if (d.length !== n) return d.toString('base64');
      if (n === 8) return (unsigned ? d.readBigUInt64LE(0) : d.readBigInt64LE(0)).toString();
      return String(unsigned ? d.readUIntLE(0, n) : d.readIntLE(0, n));
    }
    case 'float32':
      return d.length === 4 ? String(d.readFloatLE(0)) : d.toString('base64');
    case 'float64':
      return d.length === 8 ? String(d.readDoubleLE(0)) : d.toString('base64');
    default:
      return d.toString('base64');
  }
}

async function runOne(c: FossilClient, words: string[], line: string, json: boolean, out: (s: string) => void): Promise<void> {
  const [cmd, ...rest] = words;
  switch (cmd) {
    case 'append': {
      // append [TOPIC] DATA: a first word starting with / is the topic
      const after = line.replace(/^\s*append\s+/, '');
      const m = /^(\/\S*)\s+([\s\S]*)$/.exec(after);
      await c.append(m === null ? '/' : m[1]!, m === null ? after : m[2]!);
      return;
    }
    case 'query': {
      const q = line.replace(/^\s*query\s+/, '');
      const rows = await c.query(q);
      if (json) out(JSON.stringify({ results: rows.map((r) => ({ time: r.time, topic: r.topic, schema: r.schema, data: r.data.toString('base64') })) }));
      else for (const r of rows) out(`${r.time}\t${r.topic}\t${r.schema}\t${shown(r)}`);
      return;
    }
    case 'use':
      if (rest[0] === undefined) throw new UsageError('use DATABASE');
      await c.use(rest[0]);
      return;
    case 'list': {
      const what = (rest[0] ?? '') as '' | 'databases' | 'topics' | 'schemas';
      if (!['', 'databases', 'topics', 'schemas'].includes(what)) throw new UsageError('list [databases|topics|schemas]');
      const items = await c.list(what);
      if (json) out(JSON.stringify({ results: items }));
      else for (const i of items) out(i);
      return;
    }
    case 'create':
      if (rest[0] !== 'topic' || rest[1] === undefined) throw new UsageError('create topic TOPIC [SCHEMA]');
      await c.createTopic(rest[1], rest.slice(2).join(' '));
      return;
    case 'stats': {
      const s = await c.stats();
      const o = { alloc_heap: Number(s.allocHeap), total_mem: Number(s.totalMem), uptime: s.uptime, segments: Number(s.segments), topics: Number(s.topics) };
      out(json ? JSON.stringify(o) : Object.entries(o).map(([k, v]) => `${k}\t${v}`).join('\n'));
      return;
    }
    case 'version': {
      const f = await c.request('VERSION', 'v1.0.0');
      out(`${f.data.readUInt32BE(0)}\t${f.data.subarray(4).toString('utf8')}`);
      return;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)}: append, query, use, list, create, stats, version`);
  }
}

export async function fossilClientCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs('fossil-client', argv, ['output'], ['fire-and-forget']);
  const [url, ...words] = args.positional;
  if (url === undefined) throw new UsageError('rondo fossil-client: give a fossil://host:port/database connection string; see rondo fossil-client --help');
  const output = flag(args, 'output') ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`rondo fossil-client: --output is text or json, not ${JSON.stringify(output)}`);
  let client: FossilClient;
  try {
    client = await FossilClient.connect(url, args.switches.has('fire-and-forget') ? { fireAndForget: true } : {});
  } catch (e) {
    if (e instanceof FossilError) {
      process.stderr.write(`rondo fossil-client: ${e.message}\n`);
      return 1;
    }
    if (/connection string|fossil:\/\/|no host|mode=/.test((e as Error).message)) throw new UsageError(`rondo fossil-client: ${(e as Error).message}`);
    process.stderr.write(`rondo fossil-client: cannot connect to ${url}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
    return 1;
  }
  const out = (s: string): void => {
    process.stdout.write(`${s}\n`);
  };
  let failed = false;
  const one = async (line: string): Promise<void> => {
    const w = line.trim().split(/\s+/).filter((x) => x !== '');
    if (w.length === 0) return;
    try {
      await runOne(client, w, line, output === 'json', out);
    } catch (e) {
      failed = true;
      if (e instanceof FossilError) process.stderr.write(`${e.message}\n`);
      else if (e instanceof UsageError) process.stderr.write(`rondo fossil-client: ${e.message}\n`);
      else throw e;
    }
  };
  try {
    if (words.length > 0) await one(words.join(' '));
    else {
      const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
      for await (const line of rl) {
        if (/^\s*(exit|quit)\s*$/.test(line)) break;
        await one(line);
      }
    }
    if (client.fireAndForget) await client.drain();
  } finally {
    await client.close();
  }
  return failed ? 1 : 0;
}
