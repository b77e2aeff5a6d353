// The C loops of bench/native/store-loop.c: compiled once per run with the system's C compiler,
// then run as a child process per round.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const SOURCE = path.join(__dirname, '..', 'native', 'store-loop.c');

/** Compiles store-loop.c into dir; returns the binary's path, or an Error saying why not. */
function buildStoreLoop(dir) {
  const bin = path.join(dir, 'store-loop');
  const cc = process.env.CC || 'cc';
  try {
    execFileSync(cc, ['-O2', '-std=gnu11', '-o', bin, SOURCE, '-lm'], { stdio: ['ignore', 'ignore', 'pipe'] });
    return bin;
  } catch (e) {
    return new Error(`cannot compile ${path.relative(process.cwd(), SOURCE)} with ${cc}: ${String(e.stderr || e.message).trim()}`);
  }
}

/**
 * One run of the loop: `rounds` rounds of `ncols` writes (mode 'limit' or 'checked'), a round
 * every `stepMs` ms of timestamps, chunks of `chunk` writes.
 * Returns { ops, elapsedNs, late, chunkNs }.
 */
function runStoreLoop(bin, mode, { ncols, slots, rounds, stepMs, chunk }) {
  const file = path.join(os.tmpdir(), `rondo-bench-loop-${process.pid}-${mode}.bin`);
  const r = spawnSync(bin, [file, mode, ncols, slots, rounds, stepMs, chunk].map(String), { encoding: 'utf8', maxBuffer: 64 << 20 });
  fs.rmSync(file, { force: true });
  if (r.status !== 0) throw new Error(`store-loop ${mode} failed (${r.status ?? r.signal}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout);
}

module.exports = { buildStoreLoop, runStoreLoop };
