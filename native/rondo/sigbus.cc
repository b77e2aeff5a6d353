// See sigbus.h. The handler reads the registry with lock-free atomics only and calls only
// async-signal-safe functions (mmap, sigaction, raise).
#include "rondo/sigbus.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mutex>

namespace rondo::sigbus {
namespace {

constexpr int kEntries = 4096;
constexpr uintptr_t kReserved = 1;  // an entry being filled in (never a page-aligned address)

struct Entry {
  std::atomic<uintptr_t> base{0};  // 0: free
  std::atomic<size_t> len{0};
  std::atomic<uint32_t> writable{0};
  std::atomic<uint32_t> damaged{0};
};
static_assert(std::atomic<uintptr_t>::is_always_lock_free && std::atomic<size_t>::is_always_lock_free &&
              std::atomic<uint32_t>::is_always_lock_free);

Entry g_entries[kEntries];
struct sigaction g_prev;
uintptr_t g_page = 4096;  // set before the handler is installed (sysconf is not async-signal-safe)
std::once_flag g_installed;

void Chain(int sig, siginfo_t* info, void* ctx) {
  if ((g_prev.sa_flags & SA_SIGINFO) != 0 && g_prev.sa_sigaction != nullptr) {
    g_prev.sa_sigaction(sig, info, ctx);
    return;
  }
  if (g_prev.sa_handler != SIG_DFL && g_prev.sa_handler != SIG_IGN && g_prev.sa_handler != nullptr) {
    g_prev.sa_handler(sig);
    return;
  }
  // The default action: die of SIGBUS as the process would have without us. (Ignoring a fault's
  // SIGBUS is no option either: the instruction would fault forever.) The signal is blocked while
  // this handler runs, so it is delivered, to the default action, when the handler returns; a
  // fault's instruction would also fault again.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, nullptr);
  raise(SIGBUS);
}

void Handler(int sig, siginfo_t* info, void* ctx) {
  // Only a fault (si_code > 0) has an address; one sent with kill() or raise() is not ours.
  if (info != nullptr && info->si_code > 0) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(info->si_addr);
    for (Entry& e : g_entries) {
      const uintptr_t b = e.base.load(std::memory_order_acquire);
      if (b <= kReserved) continue;
      const size_t n = e.len.load(std::memory_order_acquire);
      if (a < b || a - b >= n) continue;
      const uintptr_t from = a & ~(g_page - 1);
      const int prot = e.writable.load(std::memory_order_relaxed) ? PROT_READ | PROT_WRITE : PROT_READ;
      void* p = mmap(reinterpret_cast<void*>(from), b + n - from, prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
      if (p == MAP_FAILED) break;  // cannot repair: die as before
      e.damaged.store(1, std::memory_order_release);
      return;  // the instruction is retried, on the zero page
    }
  }
  Chain(sig, info, ctx);
}

void Install() {
  const long page = sysconf(_SC_PAGESIZE);
  if (page > 0) g_page = static_cast<uintptr_t>(page);
  // The handler there now, read before ours replaces it, so a SIGBUS racing the install finds it.
  sigaction(SIGBUS, nullptr, &g_prev);
  struct sigaction sa = {};
  sa.sa_sigaction = Handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &g_prev);
}

}  // namespace

int Register(void* base, size_t len, bool writable) {
  std::call_once(g_installed, Install);
  for (int i = 0; i < kEntries; i++) {
    Entry& e = g_entries[i];
    uintptr_t expected = 0;
    if (!e.base.compare_exchange_strong(expected, kReserved, std::memory_order_acq_rel)) continue;
    e.len.store(len, std::memory_order_relaxed);
    e.writable.store(writable ? 1 : 0, std::memory_order_relaxed);
    e.damaged.store(0, std::memory_order_relaxed);
    e.base.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
    return i;
  }
  return -1;
}

void Unregister(int i) {
  if (i < 0 || i >= kEntries) return;
  g_entries[i].base.store(0, std::memory_order_release);
}

std::atomic<uint32_t>* DamageFlag(int i) {
  if (i < 0 || i >= kEntries) return nullptr;
  return &g_entries[i].damaged;
}

void MarkDamaged(int i) {
  if (i >= 0 && i < kEntries) g_entries[i].damaged.store(1, std::memory_order_release);
}

}  // namespace rondo::sigbus
