// The physical limits of the write path, for bench/: raw C loops storing doubles into an mmap'd
// file shaped like a slab (a 512-byte header, then rows of [stamp f64][seq u64][cells]).
//
//   limit    the least a write can do: the row of the round is known; load its stamp, compare,
//            store the value (the stamp too, once per new row).
//   checked  the same store with the checks record() makes: the timestamp against the cached
//            interval, the column against the row, the value finite, the stamp before and after.
//
// Each run writes `rounds` rounds of `ncols` writes, round r at ts0 + r * step ms (1 s rows, so a
// row lasts 1000 / step rounds), after a warm-up lap of the ring; it times chunks of `chunk`
// writes and prints one JSON line: {"ops":N,"elapsedNs":T,"chunkNs":[per-write ns of each chunk]}.
//
// usage: store-loop FILE limit|checked NCOLS SLOTS ROUNDS STEP_MS CHUNK
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define HEADER_BYTES 512
#define ROW_HEADER_WORDS 2
#define INTERVAL_MS 1000

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

struct ring {
  double* data;
  size_t row_words;
  uint32_t slots;
  uint32_t ncols;
  // the cached row, as rondo::Writer keeps it
  uint64_t start, end;
  double kd;
  double* row;
  uint64_t late;
};

static double* row_of(struct ring* r, uint64_t k) { return r->data + (size_t)(k % r->slots) * r->row_words; }

// Takes the row of interval k: clears its cells, then publishes the stamp (single writer here).
static void claim(struct ring* r, uint64_t k) {
  double* row = row_of(r, k);
  for (size_t w = ROW_HEADER_WORDS; w < r->row_words; w++) row[w] = NAN;
  const double kd = (double)k;
  int64_t bits;
  memcpy(&bits, &kd, 8);
  __atomic_store_n((int64_t*)row, bits, __ATOMIC_RELEASE);
  r->start = k * INTERVAL_MS;
  r->end = r->start + INTERVAL_MS;
  r->kd = kd;
  r->row = row;
}

static inline void put_limit(struct ring* r, uint32_t col, double v) {
  double* row = r->row;
  if (*(volatile double*)row != r->kd) *(volatile double*)row = r->kd;
  ((volatile double*)row)[ROW_HEADER_WORDS + col] = v;
}

static inline void put_checked(struct ring* r, uint32_t col, uint64_t ts, double v) {
  if (ts >= r->start && ts < r->end && col < r->ncols && isfinite(v) && *(volatile double*)r->row == r->kd) {
    volatile double* cell = (volatile double*)r->row + ROW_HEADER_WORDS + col;
    *cell = v;
    if (*(volatile double*)r->row == r->kd) return;
    r->late++;
    return;
  }
  claim(r, ts / INTERVAL_MS);
  ((volatile double*)r->row)[ROW_HEADER_WORDS + col] = v;
}

int main(int argc, char** argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: store-loop FILE limit|checked NCOLS SLOTS ROUNDS STEP_MS CHUNK\n");
    return 2;
  }
  const char* file = argv[1];
  const int checked = strcmp(argv[2], "checked") == 0;
  const uint32_t ncols = (uint32_t)strtoul(argv[3], 0, 10);
  const uint32_t slots = (uint32_t)strtoul(argv[4], 0, 10);
  const uint64_t rounds = strtoull(argv[5], 0, 10);
  const uint64_t step = strtoull(argv[6], 0, 10);
  const uint64_t chunk = strtoull(argv[7], 0, 10);
  if (ncols == 0 || slots == 0 || rounds == 0 || step == 0 || chunk == 0) return 2;
  const size_t row_words = ROW_HEADER_WORDS + ncols;
  const size_t size = HEADER_BYTES + row_words * 8 * (size_t)slots;
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
    perror(file);
    return 1;
  }
  uint8_t* base = mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  struct ring r = {(double*)(base + HEADER_BYTES), row_words, slots, ncols, 1, 0, -1, 0, 0};
  // Timestamps like Date.now(): the warm-up lap (every row of the ring) ends where timing starts.
  const uint64_t warm = (uint64_t)slots * INTERVAL_MS / step;
  uint64_t ts = 1700000000000ull;
  uint64_t* chunk_ns = malloc(sizeof(uint64_t) * (rounds * ncols / chunk + 1));
  size_t nchunks = 0;
  uint64_t done = 0, elapsed = 0, total = 0;
  uint32_t col = 0;
  claim(&r, ts / INTERVAL_MS);
  for (int pass = 0; pass < 2; pass++) {
    const uint64_t ops = (pass == 0 ? warm : rounds) * ncols;
    done = 0;
    while (done < ops) {
      const uint64_t n = ops - done < chunk ? ops - done : chunk;
      const uint64_t t0 = now_ns();
      for (uint64_t i = 0; i < n; i++) {
        const double v = (double)(done + i);
        if (checked) {
          put_checked(&r, col, ts, v);
        } else {
          put_limit(&r, col, v);
        }
        if (++col == ncols) {
          col = 0;
          ts += step;
          if (!checked && ts >= r.end) claim(&r, ts / INTERVAL_MS);
        }
      }
      const uint64_t dt = now_ns() - t0;
      if (pass == 1) {
        elapsed += dt;
        if (n == chunk || ops < chunk) chunk_ns[nchunks++] = dt * 1000 / n;  // ps per write
      }
      done += n;
    }
    total = ops;
  }
  printf("{\"ops\":%llu,\"elapsedNs\":%llu,\"late\":%llu,\"chunkNs\":[", (unsigned long long)total,
         (unsigned long long)elapsed, (unsigned long long)r.late);
  for (size_t i = 0; i < nchunks; i++) printf("%s%.3f", i ? "," : "", chunk_ns[i] / 1000.0);
  printf("]}\n");
  munmap(base, size);
  close(fd);
  unlink(file);
  return 0;
}
