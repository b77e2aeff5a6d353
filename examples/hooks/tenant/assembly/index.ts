// The "tenant" hook in AssemblyScript, compiled to WebAssembly (examples/hooks/build.sh, or
// `npx asc examples/hooks/tenant/assembly/index.ts --config examples/hooks/tenant/asconfig.json`).
// Its JavaScript twin, examples/hooks/tenant/tenant.js, decides exactly the same; the tests check
// both on the same 10 000 samples. The ABI is in docs/hooks.md ("WebAssembly hooks").
//
//   - drops every series whose name starts with "debug_";
//   - renames "*_ns" to "*_seconds" and divides the value by 1e9 (nanoseconds to seconds);
//   - caps "wild_total" at 1e12;
//   - adds a "tenant" label from the "vm" label ("acme-7" -> "acme", no "-" -> "default"),
//     unless the sample has a tenant already;
//   - moves StatsD samples to the start of their second;
//   - keeps everything else as it is.

@external("env", "sample_name") declare function sample_name(ptr: usize, cap: i32): i32;
@external("env", "sample_labels") declare function sample_labels(ptr: usize, cap: i32): i32;
@external("env", "set_value") declare function set_value(value: f64): void;
@external("env", "set_timestamp") declare function set_timestamp(timestamp: f64): void;
@external("env", "set_name") declare function set_name(ptr: usize, len: i32): void;
@external("env", "set_labels") declare function set_labels(ptr: usize, len: i32): void;

const KEEP: i32 = 0;
const DROP: i32 = 1;
const SOURCE_STATSD: i32 = 4;

const SCRATCH_CAP: i32 = 1024;
const scratch: usize = memory.data(SCRATCH_CAP, 8);

/** Asks the host for a string or a label set: into the scratch buffer, or a larger one. */
function fetch(name: bool): ArrayBuffer {
  let len = name ? sample_name(scratch, SCRATCH_CAP) : sample_labels(scratch, SCRATCH_CAP);
  const out = new ArrayBuffer(len);
  if (len <= SCRATCH_CAP) {
    memory.copy(changetype<usize>(out), scratch, <usize>len);
  } else {
    len = name ? sample_name(changetype<usize>(out), len) : sample_labels(changetype<usize>(out), len);
  }
  return out;
}

function readString(buf: ArrayBuffer, at: i32, len: i32): string {
  return String.UTF8.decodeUnsafe(changetype<usize>(buf) + <usize>at, <usize>len);
}

export function on_sample(value: f64, timestamp: f64, kind: i32, source: i32): i32 {
  const name = String.UTF8.decode(fetch(true));
  if (name.startsWith("debug_")) return DROP;

  if (name.endsWith("_ns")) {
    const renamed = name.slice(0, name.length - 3) + "_seconds";
    const bytes = String.UTF8.encode(renamed);
    set_name(changetype<usize>(bytes), bytes.byteLength);
    value = value / 1e9;
    set_value(value);
  }
  if (name == "wild_total" && value > 1e12) set_value(1e12);

  // The labels: u32 count, then (u32 length, UTF-8 bytes) for each name and value.
  const labels = fetch(false);
  const base = changetype<usize>(labels);
  const count = load<u32>(base);
  let at: i32 = 4;
  let vm: string | null = null;
  let hasTenant = false;
  for (let i: u32 = 0; i < count; i++) {
    const klen = <i32>load<u32>(base + <usize>at);
    const key = readString(labels, at + 4, klen);
    at += 4 + klen;
    const vlen = <i32>load<u32>(base + <usize>at);
    if (key == "vm") vm = readString(labels, at + 4, vlen);
    if (key == "tenant") hasTenant = true;
    at += 4 + vlen;
  }
  if (vm !== null && !hasTenant) {
    const v = <string>vm;
    const dash = v.lastIndexOf("-");
    const tenant = String.UTF8.encode(dash > 0 ? v.slice(0, dash) : "default");
    const tlen = tenant.byteLength;
    const out = new ArrayBuffer(labels.byteLength + 4 + 6 + 4 + tlen);
    const o = changetype<usize>(out);
    memory.copy(o, base, <usize>labels.byteLength);
    store<u32>(o, count + 1);
    let p = o + <usize>labels.byteLength;
    store<u32>(p, 6);
    store<u8>(p + 4, 0x74); // "tenant"
    store<u8>(p + 5, 0x65);
    store<u8>(p + 6, 0x6e);
    store<u8>(p + 7, 0x61);
    store<u8>(p + 8, 0x6e);
    store<u8>(p + 9, 0x74);
    p += 10;
    store<u32>(p, tlen);
    memory.copy(p + 4, changetype<usize>(tenant), <usize>tlen);
    set_labels(o, out.byteLength);
  }

  if (source == SOURCE_STATSD) {
    const second = Math.floor(timestamp / 1000) * 1000;
    if (second != timestamp) set_timestamp(second);
  }
  return KEEP;
}
