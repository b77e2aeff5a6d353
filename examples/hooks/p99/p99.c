/* The "p99" hook in C, for clang's wasm32 target (examples/hooks/build.sh):
 *
 *   clang --target=wasm32 -nostdlib -Wl,--no-entry -Wl,--export-dynamic -O2 -o p99.wasm p99.c
 *
 * It keeps every sample as it is and rolls each bucket of tiers 1 to 7 up to the 99th
 * percentile of its raw points (nearest rank: the ceil(0.99 n)-th smallest), in place of the
 * tier's average. No libc: the module's memory above __heap_base is the host's scratch space.
 * The ABI is in docs/hooks.md ("WebAssembly hooks"). */

#define EXPORT(name) __attribute__((export_name(name)))
#define IMPORT(name) __attribute__((import_module("env"), import_name(name)))

IMPORT("log") void host_log(const char *message, int length);

extern unsigned char __heap_base;

/* Keeps every sample: 0 keeps, 1 drops. */
EXPORT("on_sample") int on_sample(double value, double timestamp, int kind, int source) {
  (void)value; (void)timestamp; (void)kind; (void)source;
  return 0;
}

/* The tiers `rollup` serves: bit t for tier t. */
EXPORT("rollup_tiers") int rollup_tiers(void) { return 0xfe; }

/* Room for the host to write a bucket's points: `bytes` at an 8-aligned address, reused by
 * every call. */
EXPORT("alloc") void *alloc(int bytes) {
  unsigned long base = ((unsigned long)&__heap_base + 7) & ~7ul;
  unsigned long need = base + (unsigned long)bytes;
  unsigned long have = __builtin_wasm_memory_size(0) * 65536ul;
  if (need > have && __builtin_wasm_memory_grow(0, (need - have + 65535) / 65536) == (unsigned long)-1) {
    static const char refused[] = "p99: no memory for the bucket";
    host_log(refused, sizeof refused - 1);
    __builtin_trap();
  }
  return (void *)base;
}

static void sift_down(double *a, int root, int n) {
  for (;;) {
    int child = 2 * root + 1;
    if (child >= n) return;
    if (child + 1 < n && a[child + 1] > a[child]) child++;
    if (!(a[child] > a[root])) return;
    double t = a[root]; a[root] = a[child]; a[child] = t;
    root = child;
  }
}

/* points: n f64 timestamps, then n f64 values. Sorts the values in place (heapsort). */
EXPORT("rollup") double rollup(int tier, double *points, int n) {
  (void)tier;
  if (n <= 0) return __builtin_nan("");
  double *v = points + n;
  for (int i = n / 2 - 1; i >= 0; i--) sift_down(v, i, n);
  for (int end = n - 1; end > 0; end--) {
    double t = v[0]; v[0] = v[end]; v[end] = t;
    sift_down(v, 0, end);
  }
  int rank = (int)__builtin_ceil(0.99 * n);
  return v[rank - 1];
}
