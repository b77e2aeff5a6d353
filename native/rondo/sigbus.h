// Surviving a slab file truncated under its mapping.
//
// A MAP_SHARED mapping whose file is cut short (truncate -s 0 from outside, say) raises SIGBUS on
// the next touch of a page past the new end; by default that kills the process and every VM it
// hosts. The slabs register their mappings here. The SIGBUS handler, for a fault inside one,
// maps anonymous zero pages over the rest of that mapping (from the faulting page on) so the
// faulting instruction can be retried, and marks the mapping damaged; the store then refuses
// the slab on its next call (CorruptSlab). A SIGBUS anywhere else goes to the handler that was
// there before (the default one: the process dies as it would have).
//
// Each addon that compiles slab.cc has its own registry and handler; the handlers chain.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace rondo::sigbus {

// Registers [base, base + len) (page-aligned base); writable says how to map the zero pages.
// Installs the handler on first use. Returns the entry's index, or -1 when the registry is full
// (the mapping is then not covered: a truncation kills the process, as before).
int Register(void* base, size_t len, bool writable);
// Forgets entry i (before the mapping goes). -1 is ignored.
void Unregister(int i);
// The damage flag of entry i (0: intact, 1: a truncation was found), or nullptr for -1.
// Stays valid for as long as entry i is registered.
std::atomic<uint32_t>* DamageFlag(int i);
// Marks entry i damaged (a check found the file shorter than its mapping).
void MarkDamaged(int i);

// A mapping's entry, held by what owns the mapping (a slab, an event ring): registered by
// Cover(), forgotten when it goes, which must be before the mapping does (declare it after the
// Mapping member: members go in reverse order).
class Covered {
 public:
  Covered() = default;
  Covered(const Covered&) = delete;
  Covered& operator=(const Covered&) = delete;
  ~Covered() { Unregister(i_); }
  void Cover(void* base, size_t len, bool writable) { i_ = Register(base, len, writable); }
  // True once a truncation of the file was found (by the handler, or Mark()).
  bool damaged() const {
    std::atomic<uint32_t>* f = DamageFlag(i_);
    return f != nullptr && f->load(std::memory_order_acquire) != 0;
  }
  std::atomic<uint32_t>* flag() const { return DamageFlag(i_); }
  void Mark() const { MarkDamaged(i_); }  // the flag is the registry's, not this object's

 private:
  int i_ = -1;
};

}  // namespace rondo::sigbus
