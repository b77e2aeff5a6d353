#!/usr/bin/env node
// rondo-vmm: the demo VMM. Boots the built-in micro-guest or a Linux kernel on KVM with the rondo
// agent embedded.
import { errorLine, flag, parseArgs, UsageError, type ParsedArgs } from './args';
import * as path from 'node:path';
import { parseDuration, ConfigError, loadWasmHook, type Hook } from '../src/index';
import { formatReport, freshStoreDir, runVm } from './vmm';
import { LINUX_DEFAULT_CMDLINE } from '../src/kvm/index';
import { captureTable, formatCaptureTable } from './capture';
import { formatFleet, runFleet } from './fleet';

const USAGE = `usage: rondo-vmm <command> [options]

commands:
  run             boot the micro-guest (or Linux: --kernel), record every second of its life, print a summary
  capture-table   VMs of 5, 10 and 30 s: what rondo captured next to a 15 s and a 30 s scraper
  fleet           N VMs at once, one store each: peak RSS, store size, seconds captured

rondo-vmm <command> --help shows a command's options. Needs /dev/kvm (root, or the kvm group).`;

const RUN_HELP = `usage: rondo-vmm run [--duration 5s] [--vcpus 2] [--store ./vm-metrics] [--remote-write URL]
                    [--external-label k=v]... [--push-interval 5s] [--guest micro|internal-error|fail-entry]
                    [--device /dev/kvm] [--hook FILE]... [--id NAME] [--events-size 1MiB] [--metrics-port 9464]
       rondo-vmm run --kernel <vmlinux|bzImage> [--initrd <cpio>] [--cmdline "..."] [--memory 256M]
                    [--duration <limit>] [--hide-cpuid cx16,...] [--store ./vm-metrics] [--remote-write URL] ...

Linux (--kernel): an uncompressed vmlinux boots through its PVH entry, a bzImage through the
64-bit boot protocol; --initrd is handed over as the initramfs; the console is the UART on
0x3f8. The command line defaults to
  ${LINUX_DEFAULT_CMDLINE}
The VM runs until the guest powers off (reboot=k: the i8042 reset), KVM ends it (an internal
error is reported with its instruction bytes), Ctrl-C, or the --duration limit. One vCPU.
--hide-cpuid clears CPUID features KVM offers (names such as cx16, or leaf:register:bit).
demo-vmm/guest/build.sh builds a kernel and busybox initramfs from Debian's packages.

Boots the built-in micro-guest (long mode, set up by the VMM) whose phases follow the wall clock:
boot banner, CPU, port I/O, MMIO, idle (HLT), shutdown, so a 5 s VM lives 5 s on fast or
emulated KVM. Prints the guest's console; every second goes into the store (exits by reason per
vCPU, exit-handling and run time, every KVM statistic, recorded by native threads; this
process's figures, recorded by the agent's tick);
at the end prints seconds lived and captured, exits by reason and the busiest KVM statistics.

--hook FILE runs a hook (docs/hooks.md: a JavaScript module exporting a hook or an array of
hooks, or a .wasm file: a WebAssembly hook) on every sample the agent records, e.g.
examples/hooks/ns-to-seconds.js (series in nanoseconds to seconds). With a hook, the KVM series are recorded by the agent's tick
rather than by the native threads, which hooks cannot see.
--metrics-port serves the store's latest values on http://127.0.0.1:PORT/metrics while the VM runs
(Prometheus text, or OpenMetrics when the scraper asks; a series leaves it 3 s after its last point,
3 pushes with --remote-write).
The store directory is made anew. With --remote-write the agent pushes on the interval and once
more at the end (with stale markers: the VM is gone). Exit code 1 if the guest ended in error.

The store also keeps the VM's events (docs/events.md): every console line in /vm/<id>/console,
the lifecycle (created, started, vcpu_up, vcpu_exit, ended with the exit reason) in
/vm/<id>/lifecycle, and KVM's details of an internal error or failed entry in /vm/<id>/error.
--id names the VM (default: the store directory's name); --events-size sizes the event ring
(default 1MiB: about 10,000 console lines). Read them with: rondo events <store> --topic /vm/<id>

examples:
  rondo-vmm run --duration 10s
  rondo-vmm run --kernel demo-vmm/guest/out/vmlinux --initrd demo-vmm/guest/out/initramfs.cpio.gz
  rondo-vmm run --vcpus 4 --store /var/lib/vmm/vm1 --remote-write http://127.0.0.1:9090/api/v1/write --external-label instance=vm1
  rondo query ./vm-metrics 'vmm_vcpu_exits_total{vcpu="0"}' --rate --tier 0 --format chart
  rondo events ./vm-metrics --topic /vm/vm-metrics/lifecycle`;

const CAPTURE_HELP = `usage: rondo-vmm capture-table [--vcpus 1] [--durations 5s,10s,30s]

Runs real VMs of each duration one after another (temporary stores) and prints, for each, the
points every series captured next to the scrapes a 15 s and a 30 s scraper would have made
between the VM's actual start and stop (scrapes at multiples of the period), and on average.`;

const FLEET_HELP = `usage: rondo-vmm fleet --vms N --duration D [--vcpus 1] [--store ./fleet-metrics]

Runs N VMs at once in this process, each with its own store (<store>/vm<i>) and agent, and
reports the launcher's peak RSS (in all and per VM), its most threads and open fds, each store's
size on disk, and whether every second of every VM was captured.`;

function int(args: ParsedArgs, name: string, min: number, max: number, dflt: number): number {
  const v = flag(args, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`rondo-vmm: --${name} must be an integer from ${min} to ${max}, not "${v}"`);
  return n;
}

function duration(args: ParsedArgs, name: string, dflt: string): number {
  const v = flag(args, name) ?? dflt;
  try {
    return parseDuration(v, `--${name}`);
  } catch (e) {
    throw new UsageError(`rondo-vmm: ${(e as Error).message.split('\n')[0]}`);
  }
}

function labels(args: ParsedArgs): Record<string, string> | undefined {
  const list = args.values.get('external-label');
  if (list === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`rondo-vmm: --external-label takes name=value, not "${kv}"`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** "256M", "1G", "268435456": bytes. */
function size(args: ParsedArgs, name: string): number | undefined {
  const v = flag(args, name);
  if (v === undefined) return undefined;
  const m = /^(\d+)([KMG]?)(i?B)?$/i.exec(v.trim());
  const unit = m === null ? undefined : SIZE_UNITS[(m[2] ?? '').toUpperCase()];
  if (m === null || unit === undefined) throw new UsageError(`rondo-vmm: --${name} takes a size such as 256M or 1G, not "${v}"`);
  return Number(m[1]) * unit;
}

/** --hook FILE: JavaScript modules exporting a hook or an array of hooks, or WebAssembly hooks
 *  (a .wasm file: checked, metered and given its memory limit by loadWasmHook), as `rondo serve
 *  --hook` loads them (docs/hooks.md). */
async function loadHooks(files: readonly string[]): Promise<Hook[]> {
  const out: Hook[] = [];
  for (const f of files) {
    if (f.endsWith('.wasm')) {
      try {
        out.push(await loadWasmHook(path.resolve(f)));
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        const why = err.code === 'ENOENT' ? 'cannot be read (ENOENT)' : `is not a WebAssembly hook: ${String(err.message).split('\n')[0]}`;
        throw new UsageError(`rondo-vmm run: --hook ${JSON.stringify(f)} ${why}`);
      }
      continue;
    }
    let m: unknown;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      m = require(path.resolve(f));
    } catch (e) {
      throw new UsageError(`rondo-vmm run: --hook ${JSON.stringify(f)} failed to load: ${(e as Error).message.split('\n')[0]}`);
    }
    const o = m as { default?: unknown; hooks?: unknown; name?: unknown };
    const given = typeof o === 'object' && o !== null && typeof o.name !== 'string' ? (o.default ?? o.hooks) : o;
    const list = Array.isArray(given) ? given : [given];
    for (const h of list)
      if (typeof h !== 'object' || h === null || typeof (h as Hook).name !== 'string')
        throw new UsageError(`rondo-vmm run: --hook ${JSON.stringify(f)} must export a hook ({ name, onSample?, rollup? }) or an array of hooks`);
    out.push(...(list as Hook[]));
  }
  return out;
}

async function run(argv: readonly string[]): Promise<number> {
  const args = parseArgs(
    'run',
    argv,
    ['duration', 'vcpus', 'store', 'remote-write', 'external-label', 'push-interval', 'guest', 'device', 'kernel', 'initrd', 'cmdline', 'memory', 'hide-cpuid', 'hook', 'id', 'events-size', 'metrics-port'],
    [],
  );
  if (args.positional.length > 0) throw new UsageError(`rondo-vmm run: unexpected argument "${args.positional[0]}"; see rondo-vmm run --help`);
  const kernel = flag(args, 'kernel');
  const guest = flag(args, 'guest') ?? 'micro';
  if (guest !== 'micro' && guest !== 'internal-error' && guest !== 'fail-entry')
    throw new UsageError(`rondo-vmm run: --guest must be micro, internal-error or fail-entry, not "${guest}"`);
  if (kernel === undefined && (flag(args, 'initrd') !== undefined || flag(args, 'cmdline') !== undefined))
    throw new UsageError('rondo-vmm run: --initrd and --cmdline go with --kernel; see rondo-vmm run --help');
  if (kernel !== undefined && flag(args, 'guest') !== undefined)
    throw new UsageError('rondo-vmm run: --guest picks a built-in guest; with --kernel the guest is Linux');
  const initrd = flag(args, 'initrd');
  const cmdline = flag(args, 'cmdline');
  const memoryBytes = size(args, 'memory');
  const remoteWrite = flag(args, 'remote-write');
  const externalLabels = labels(args);
  const device = flag(args, 'device');
  const vmId = flag(args, 'id');
  if (vmId !== undefined && !/^[A-Za-z0-9._-]+$/.test(vmId))
    throw new UsageError(`rondo-vmm run: --id is letters, digits, '.', '_' or '-' (it goes into the topic /vm/<id>/...), not "${vmId}"`);
  const eventsSize = flag(args, 'events-size');
  const hooks = await loadHooks(args.values.get('hook') ?? []);
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    const report = await runVm({
      ...(kernel === undefined
        ? { durationMs: duration(args, 'duration', '5s'), vcpus: int(args, 'vcpus', 1, 64, 2), guest }
        : {
            kernel,
            vcpus: int(args, 'vcpus', 1, 1, 1),
            ...(flag(args, 'duration') === undefined ? {} : { durationMs: duration(args, 'duration', '0s') }),
            ...(initrd === undefined ? {} : { initrd }),
            ...(cmdline === undefined ? {} : { cmdline }),
            ...(args.values.get('hide-cpuid') === undefined ? {} : { hideCpuid: args.values.get('hide-cpuid')!.flatMap((v) => v.split(',')) }),
          }),
      ...(memoryBytes === undefined ? {} : { memoryBytes }),
      storeDir: freshStoreDir(flag(args, 'store') ?? 'vm-metrics'),
      ...(device === undefined ? {} : { devicePath: device }),
      ...(vmId === undefined ? {} : { vmId }),
      ...(eventsSize === undefined ? {} : { eventsSize: /^\d+$/.test(eventsSize) ? Number(eventsSize) : eventsSize }),
      ...(flag(args, 'metrics-port') === undefined ? {} : { metricsPort: int(args, 'metrics-port', 0, 65535, 0) }),
      ...(remoteWrite === undefined ? {} : { remoteWrite, pushIntervalMs: duration(args, 'push-interval', '5s') }),
      ...(externalLabels === undefined ? {} : { externalLabels }),
      ...(hooks.length === 0 ? {} : { hooks }),
      console: (text) => process.stdout.write(text),
      onError: (source, e) => process.stderr.write(`rondo-vmm: ${source}: ${(e as Error).message?.split('\n')[0] ?? String(e)}\n`),
      signal: abort.signal,
      log: (line) => process.stderr.write(`rondo-vmm: ${line}\n`),
    });
    process.stdout.write(`\n${formatReport(report)}\n`);
    return report.endReason === 'shutdown' || report.endReason === 'stopped' ? 0 : 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

async function capture(argv: readonly string[]): Promise<number> {
  const args = parseArgs('capture-table', argv, ['vcpus', 'durations'], []);
  const durations = (flag(args, 'durations') ?? '5s,10s,30s').split(',').map((d) => {
    try {
      return parseDuration(d.trim(), '--durations');
    } catch (e) {
      throw new UsageError(`rondo-vmm: ${(e as Error).message.split('\n')[0]}`);
    }
  });
  const vcpus = int(args, 'vcpus', 1, 64, 1);
  process.stderr.write(`running ${durations.length} VMs one after another (${durations.reduce((a, b) => a + b, 0) / 1000} s)...\n`);
  const rows = await captureTable(durations, vcpus, (r) => process.stderr.write(`  ${r.durationMs / 1000} s VM done\n`));
  process.stdout.write(`${formatCaptureTable(rows)}\n`);
  return 0;
}

async function fleet(argv: readonly string[]): Promise<number> {
  const args = parseArgs('fleet', argv, ['vms', 'duration', 'vcpus', 'store'], []);
  if (flag(args, 'vms') === undefined || flag(args, 'duration') === undefined)
    throw new UsageError('rondo-vmm fleet: give --vms N and --duration D; see rondo-vmm fleet --help');
  const f = await runFleet({
    vms: int(args, 'vms', 1, 256, 1),
    durationMs: duration(args, 'duration', '5s'),
    vcpus: int(args, 'vcpus', 1, 64, 1),
    baseDir: flag(args, 'store') ?? 'fleet-metrics',
  });
  process.stdout.write(`${formatFleet(f)}\n`);
  return f.everySecondCaptured ? 0 : 1;
}

const COMMANDS: Record<string, { help: string; run: (argv: readonly string[]) => Promise<number> }> = {
  run: { help: RUN_HELP, run },
  'capture-table': { help: CAPTURE_HELP, run: capture },
  fleet: { help: FLEET_HELP, run: fleet },
};

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[name];
  if (cmd === undefined) throw new UsageError(`rondo-vmm: unknown command "${name}"; see rondo-vmm --help`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${cmd.help}\n`);
    return 0;
  }
  return cmd.run(rest);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${errorLine(e)}\n`);
      process.exitCode = e instanceof UsageError || e instanceof ConfigError ? 2 : 1;
    },
  );
}
