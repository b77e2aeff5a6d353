// glibc compatibility of the prebuilt binaries (binding.gyp: portable=1, set by
// scripts/prebuild.sh; never in a build from source, which runs on the glibc it was built on).
//
// A binary linked on a newer glibc asks the dynamic linker for the newest version of each symbol
// it calls: built on Debian 12 (glibc 2.36) the addons asked for pthread_once@GLIBC_2.34,
// stat64@GLIBC_2.33, __libc_single_threaded@GLIBC_2.32 ..., and glibc 2.31 (Debian 11,
// Ubuntu 20.04) then refuses to load them. binding.gyp links with -Wl,--wrap=<symbol> for each
// such symbol, which sends every reference to it (ours and those of the static libstdc++) to
// __wrap_<symbol> here, and each of these calls the symbol's old version, which glibc 2.36 still
// exports for old binaries (the same code). scripts/prebuild.sh fails if a built addon still
// needs a version newer than GLIBC_2.31; test/install.test.ts checks the shipped files.
#if defined(__linux__) && defined(__x86_64__)
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if !defined(__GLIBC__)
#error "native/portable/glibc_compat.cc is for glibc: build without portable=1"
#endif

extern "C" {

// The old versions, by names of their own: each .symver sends the references to that name to
// the symbol's given version (x86_64's first version is GLIBC_2.2.5; in glibc before 2.34 these
// pthread functions were libpthread's, which Node's process has loaded).
int rondo_old_pthread_once(pthread_once_t*, void (*)(void));
int rondo_old_pthread_kill(pthread_t, int);
int rondo_old_pthread_sigmask(int, const sigset_t*, sigset_t*);
int rondo_old_pthread_setname_np(pthread_t, const char*);
int rondo_old_pthread_key_create(pthread_key_t*, void (*)(void*));
int rondo_old_pthread_key_create2(pthread_key_t*, void (*)(void*));
int rondo_old_pthread_key_delete(pthread_key_t);
void* rondo_old_pthread_getspecific(pthread_key_t);
int rondo_old_pthread_setspecific(pthread_key_t, const void*);
int rondo_old_pthread_create(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
int rondo_old_pthread_join(pthread_t, void**);
int rondo_old_pthread_detach(pthread_t);
int rondo_old_pthread_cond_clockwait(pthread_cond_t*, pthread_mutex_t*, clockid_t, const struct timespec*);
// Before 2.33 stat and fstat were inline wrappers around these, with the ABI version 1 on x86_64.
int rondo_old_xstat64(int, const char*, struct stat64*);
int rondo_old_fxstat64(int, int, struct stat64*);
int rondo_old_lxstat64(int, const char*, struct stat64*);
__asm__(".symver rondo_old_pthread_once,pthread_once@GLIBC_2.2.5");
__asm__(".symver rondo_old_pthread_kill,pthread_kill@GLIBC_2.2.5");
__asm__(".symver rondo_old_pthread_sigmask,pthread_sigmask@GLIBC_2.2.5");
__asm__(".symver rondo_old_pthread_key_create,__pthread_key_create@GLIBC_2.2.5");
__asm__(".symver rondo_old_pthread_key_create2,pthread_key_create@GLIBC_2.2.5");
__asm__(".symver rondo_old_pthread_key_delete,pthread_key_delete@GLIBC_2.2.5");
__asm__(".symver rondo_old_pthread_getspecific,pthread_getspecific@GLIBC_2.2.5");
__asm__(".symver rondo_old_pthread_setspecific,pthread_setspecific@GLIBC_2.2.5");
__asm__(".symver rondo_old_pthread_create,pthread_create@GLIBC_2.2.5");
__asm__(".symver rondo_old_pthread_join,pthread_join@GLIBC_2.2.5");
__asm__(".symver rondo_old_pthread_detach,pthread_detach@GLIBC_2.2.5");
__asm__(".symver rondo_old_pthread_setname_np,pthread_setname_np@GLIBC_2.12");
__asm__(".symver rondo_old_pthread_cond_clockwait,pthread_cond_clockwait@GLIBC_2.30");
__asm__(".symver rondo_old_xstat64,__xstat64@GLIBC_2.2.5");
__asm__(".symver rondo_old_fxstat64,__fxstat64@GLIBC_2.2.5");
__asm__(".symver rondo_old_lxstat64,__lxstat64@GLIBC_2.2.5");

#define RONDO_HIDDEN __attribute__((visibility("hidden")))
static const int kStatVer = 1;  // _STAT_VER_LINUX on x86_64

RONDO_HIDDEN int __wrap_pthread_once(pthread_once_t* o, void (*f)(void)) { return rondo_old_pthread_once(o, f); }
RONDO_HIDDEN int __wrap_pthread_kill(pthread_t t, int sig) { return rondo_old_pthread_kill(t, sig); }
RONDO_HIDDEN int __wrap_pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  return rondo_old_pthread_sigmask(how, set, old);
}
RONDO_HIDDEN int __wrap_pthread_setname_np(pthread_t t, const char* name) { return rondo_old_pthread_setname_np(t, name); }
RONDO_HIDDEN int __wrap_pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock,
                                               const struct timespec* at) {
  return rondo_old_pthread_cond_clockwait(c, m, clock, at);
}
// libstdc++ asks whether threads are in use by whether this (weak) symbol resolves; with this
// definition they always are, as they are in Node's process.
RONDO_HIDDEN int __wrap___pthread_key_create(pthread_key_t* k, void (*d)(void*)) { return rondo_old_pthread_key_create(k, d); }
RONDO_HIDDEN int __wrap_pthread_key_create(pthread_key_t* k, void (*d)(void*)) { return rondo_old_pthread_key_create2(k, d); }
RONDO_HIDDEN int __wrap_pthread_key_delete(pthread_key_t k) { return rondo_old_pthread_key_delete(k); }
RONDO_HIDDEN void* __wrap_pthread_getspecific(pthread_key_t k) { return rondo_old_pthread_getspecific(k); }
RONDO_HIDDEN int __wrap_pthread_setspecific(pthread_key_t k, const void* v) { return rondo_old_pthread_setspecific(k, v); }
RONDO_HIDDEN int __wrap_pthread_create(pthread_t* t, const pthread_attr_t* a, void* (*f)(void*), void* arg) {
  return rondo_old_pthread_create(t, a, f, arg);
}
RONDO_HIDDEN int __wrap_pthread_join(pthread_t t, void** r) { return rondo_old_pthread_join(t, r); }
RONDO_HIDDEN int __wrap_pthread_detach(pthread_t t) { return rondo_old_pthread_detach(t); }
RONDO_HIDDEN int __wrap_stat64(const char* p, struct stat64* st) { return rondo_old_xstat64(kStatVer, p, st); }
RONDO_HIDDEN int __wrap_stat(const char* p, struct stat* st) {
  return rondo_old_xstat64(kStatVer, p, reinterpret_cast<struct stat64*>(st));
}
RONDO_HIDDEN int __wrap_fstat64(int fd, struct stat64* st) { return rondo_old_fxstat64(kStatVer, fd, st); }
RONDO_HIDDEN int __wrap_fstat(int fd, struct stat* st) {
  return rondo_old_fxstat64(kStatVer, fd, reinterpret_cast<struct stat64*>(st));
}
RONDO_HIDDEN int __wrap_lstat64(const char* p, struct stat64* st) { return rondo_old_lxstat64(kStatVer, p, st); }
RONDO_HIDDEN int __wrap_lstat(const char* p, struct stat* st) {
  return rondo_old_lxstat64(kStatVer, p, reinterpret_cast<struct stat64*>(st));
}

// glibc 2.36's arc4random, which libstdc++'s std::random_device calls, made from getrandom
// (glibc 2.25) as glibc makes it: the kernel's random bytes, /dev/urandom without getrandom(2),
// abort when neither gives them.
RONDO_HIDDEN uint32_t __wrap_arc4random(void) {
  uint32_t v = 0;
  char* p = reinterpret_cast<char*>(&v);
  size_t got = 0;
  while (got < sizeof v) {
    ssize_t n = getrandom(p + got, sizeof v - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno == ENOSYS) {
      int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
      if (fd < 0) abort();
      while (got < sizeof v) {
        ssize_t r = read(fd, p + got, sizeof v - got);
        if (r > 0) got += static_cast<size_t>(r);
        else if (!(r < 0 && errno == EINTR)) abort();
      }
      close(fd);
    } else if (!(n < 0 && errno == EINTR)) {
      abort();
    }
  }
  return v;
}

// libstdc++'s headers (ext/atomicity.h) read glibc 2.32's __libc_single_threaded to skip atomic
// reference counting in a single-threaded process. This definition, the addon's own, says "not
// single-threaded" always: the counts stay atomic, as they were before glibc 2.32.
RONDO_HIDDEN char __libc_single_threaded = 0;

}  // extern "C"
#endif
