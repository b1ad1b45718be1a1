/* hl_hooks.c — the interposed entry points: the malloc family, dlclose, the
 * exec family, _exit/_Exit/quick_exit/abort; plus init, fork and exit
 * handling.
 * Exports exactly what libheapline.map lists.
 *
 * The hook path is: re-entry guard, real call, record, return.  It never
 * changes what the call returns or errno, whatever the profiler's state.  It
 * allocates nothing through the hooked allocator and takes no lock, except
 * when the unwinder meets a return address for the first time (hl_unwind.c:
 * libdw reads its rule under one lock; libdw's allocations pass through
 * unrecorded, the re-entry guard being held).
 *
 * Ordering (see hl_ring.c): an allocation is reserved in the ring after the
 * real allocator returned; a release is reserved and committed before the
 * real free runs.  realloc is both: its release half before the call, its
 * allocation half (or REALLOC_FAIL) after.
 *
 * Before the real functions are found (dlsym itself calls calloc), requests
 * are served from a small static bootstrap arena whose blocks are never
 * freed and never recorded. */
#include "hl_crash.h"
#include "hl_hooks.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "hl_arena.h"
#include "hl_format.h"
#include "hl_leak.h"
#include "hl_modules.h"
#include "hl_options.h"
#include "hl_output.h"
#include "hl_ring.h"
#include "hl_state.h"
#include "hl_unwind.h"
#include "hl_writer.h"

#define HL_EXPORT   __attribute__((visibility("default")))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

struct hl_state hl_state;

/* A thread's stacks, in memory of their own (mmap'ed at its first event,
 * unmapped at its key destructor): not in static TLS, which glibc carves
 * out of every thread's stack, nor in the hook's frame.  A thread with a
 * small stack that a program fills nearly to its end ran out of it under
 * heapline (4 KiB more than a plain run needed; now a few hundred bytes:
 * examples/small_stack.c). */
struct hl_thread_mem {
	uint64_t prev[HL_DEPTH_MAX];	 /* previous event's stack, outermost first */
	uint64_t buf[HL_DEPTH_MAX + 16]; /* this event's, innermost first */
};

/* Per-thread state in static TLS: no allocation, valid from the first
 * instruction of every thread. */
struct hl_tls {
	int busy;     /* inside a hook: nested calls pass straight through */
	uint32_t gen; /* hl_state.gen when tid was taken */
	uint32_t tid;
	uint32_t prev_len;
	struct hl_ring_producer prod; /* stale cons; the record being written */
	struct hl_thread_mem *mem; /* NULL: none (mmap failed, or the thread ended) */
	int ended;		   /* past its key destructor: no memory taken again */
	int in_real;		   /* in the real allocator, from a recording hook */
};
static __thread struct hl_tls tls __attribute__((tls_model("initial-exec")));

static struct hl_thread_mem *mem_get(void)
{
	struct hl_thread_mem *m =
	    mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return m == MAP_FAILED ? NULL : m;
}

static struct {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*malloc_usable_size)(void *);
	int (*dlclose)(void *);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execv)(const char *, char *const[]);
	int (*execvp)(const char *, char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	void (*_exit)(int) __attribute__((noreturn));
	void (*_Exit)(int) __attribute__((noreturn));
	void (*quick_exit)(int) __attribute__((noreturn));
	void (*abort)(void) __attribute__((noreturn));
} real;

/* 0 = not started, 1 = initialising, 2 = done */
static _Atomic int init_state;

/* ---- bootstrap arena ---------------------------------------------------- */

#define BOOT_SIZE (256 * 1024)
static _Alignas(64) uint8_t boot[BOOT_SIZE];
static _Atomic size_t boot_used;

static int is_boot(const void *p)
{
	return (const uint8_t *)p >= boot && (const uint8_t *)p < boot + BOOT_SIZE;
}

static void *boot_alloc(size_t n, size_t align)
{
	if (align < 16)
		align = 16;
	size_t need = n + align + 16;
	size_t at = atomic_fetch_add(&boot_used, need);
	if (at + need > BOOT_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	uintptr_t p = (uintptr_t)(boot + at + 16);
	p = (p + align - 1) & ~(uintptr_t)(align - 1);
	((size_t *)p)[-1] = n; /* for realloc and malloc_usable_size */
	return (void *)p;
}

static size_t boot_size(const void *p)
{
	return ((const size_t *)p)[-1];
}

/* ---- init --------------------------------------------------------------- */

#define RESOLVE(name) (*(void **)&real.name = dlsym(RTLD_NEXT, #name))

static void thread_key_end(void *arg);
static void fork_child(void);

static void push_modules(void);
static void stack_known(uint64_t lo, uint64_t hi);
static struct hl_ring *ring_new(size_t bytes);

static void hl_init(void)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong(&init_state, &expected, 1))
		return;
	/* dlsym may allocate: those calls see real.* still NULL and use boot. */
	RESOLVE(malloc);
	RESOLVE(free);
	RESOLVE(calloc);
	RESOLVE(realloc);
	RESOLVE(reallocarray);
	RESOLVE(posix_memalign);
	RESOLVE(aligned_alloc);
	RESOLVE(memalign);
	RESOLVE(valloc);
	RESOLVE(pvalloc);
	RESOLVE(malloc_usable_size);
	RESOLVE(dlclose);
	RESOLVE(execve);
	RESOLVE(execv);
	RESOLVE(execvp);
	RESOLVE(execvpe);
	RESOLVE(fexecve);
	RESOLVE(_exit);
	RESOLVE(_Exit);
	RESOLVE(quick_exit);
	RESOLVE(abort);

	hl_options_read();
	hl_state.pid = getpid();
	hl_state.depth = hl_opt.depth;
	hl_state.is_root = hl_opt.root_pid ? hl_opt.root_pid == hl_state.pid : 1;
	int enable = !hl_opt.disabled && real.malloc && real.free && real.calloc && real.realloc;
	if (hl_opt.no_children && hl_opt.root_pid && hl_opt.root_pid != hl_state.pid)
		enable = 0;
	if (enable) {
		struct timeval tv;
		gettimeofday(&tv, NULL);
		hl_state.start_unix_ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
		hl_state.start_ns = hl_clock_ns();
		hl_output_prepare();
		hl_modules_init();
		hl_modules_self_range(&hl_state.self_lo, &hl_state.self_hi);
		/* A malloc the symbol lookup finds before ours (defined by the
		 * executable: a statically linked jemalloc, as rustc's, or
		 * Chromium's PartitionAlloc) takes the program's calls: the
		 * trace says so, rather than let "0 allocations" pass for true. */
		uint64_t m = (uint64_t)(uintptr_t)dlsym(RTLD_DEFAULT, "malloc");
		hl_state.own_malloc = m && (m < hl_state.self_lo || m >= hl_state.self_hi);
		static const struct hl_unwind_hooks uh = {push_modules, stack_known};
		hl_unwind_init(hl_opt.unwind, hl_state.self_lo, hl_state.self_hi, &uh);
		hl_state.ring = ring_new(hl_opt.ring_bytes);
		if (hl_state.ring &&
		    pthread_key_create(&hl_state.thread_key, thread_key_end) == 0 &&
		    pthread_atfork(NULL, NULL, fork_child) == 0) {
			atomic_store(&hl_state.active, 1);
			if (hl_opt.crash)
				hl_crash_install();
		}
	}
	atomic_store(&init_state, 2);
}

/* The writer thread is started by the first event after this (or at the
 * process's end, or before a sandbox), not here unless events are already
 * waiting (constructors that ran before ours allocated): a process that
 * allocates nothing through us stays single-threaded.  Chromium's zygote,
 * whose allocator is its own, checks that it is and died of a failed CHECK
 * (SIGTRAP) under heapline, and with it every page Chromium rendered. */
__attribute__((constructor)) static void hl_ctor(void)
{
	tls.busy++;
	hl_init();
	hl_state.ctor_done = 1;
	if (atomic_load(&hl_state.active) && hl_ring_produced(hl_state.ring))
		hl_writer_start();
	tls.busy--;
}

/* Called by the writer thread on start: nothing it allocates is recorded. */
void hl_hooks_enter_writer(void)
{
	tls.busy = 1;
}

/* ---- recording ---------------------------------------------------------- */

static void register_thread(void)
{
	tls.gen = atomic_load_explicit(&hl_state.gen, memory_order_relaxed);
	tls.tid = atomic_fetch_add_explicit(&hl_state.next_tid, 1, memory_order_relaxed) + 1;
	tls.prev_len = 0;
	tls.prod.cons_hint = 0; /* a new ring after fork starts at 0 */
	tls.prod.pending_len = 0;
	if (!tls.mem && !tls.ended)
		tls.mem = mem_get();
	/* Any non-NULL value makes the key's destructor run at thread exit. */
	pthread_setspecific(hl_state.thread_key, (void *)1);
	hl_unwind_thread_new();
}

/* The unwinder learnt the thread's stack: a root for the leak scan. */
static void stack_known(uint64_t lo, uint64_t hi)
{
	if (hl_opt.leak_scan && hi)
		hl_threads_add_self(lo, hi);
}

static void push_simple(uint8_t type, uint8_t fn, uint64_t ptr)
{
	struct hl_ev *ev = hl_ring_reserve(hl_state.ring, sizeof(*ev), 0);
	if (!ev)
		return;
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->fn = fn;
	ev->tid = tls.tid;
	ev->ptr = ptr;
	hl_ring_commit(hl_state.ring, ev);
}

/* One event into the ring: its stack is unwound into buf (or, with
 * reuse_stack, it is the thread's previous event's: realloc's second half)
 * and, with prev, kept there as the thread's previous stack; without prev
 * the whole stack is sent.  frame: our outermost frame to walk from. */
static inline __attribute__((always_inline)) void record_into(uint8_t type, uint8_t fn,
							      const void *ptr, size_t size,
							      int reuse_stack, uint64_t *buf,
							      uint64_t *prev, int early,
							      const void *frame)
{
	uint32_t n = 0, k, nnew;
	if (reuse_stack) {
		k = tls.prev_len;
		nnew = 0;
	} else {
		/* Outer frames shared with the previous event of this thread:
		 * those the unwinder knows are unchanged (and did not write),
		 * then any further ones that happen to match. */
		unsigned same;
		n = hl_unwind(buf, hl_state.depth, prev, tls.prev_len, &same, frame);
		uint32_t m = tls.prev_len < n ? tls.prev_len : n;
		k = same;
		while (k < m && buf[n - 1 - k] == prev[k])
			k++;
		nnew = n - k;
	}

	int lossy = hl_opt.lossy || early; /* nobody drains yet: never wait */
	/* Read once: a fork in a signal handler may replace it (fork_child). */
	struct hl_ring *ring = hl_state.ring;
	struct hl_ev *ev = hl_ring_reserve_hint(ring, sizeof(*ev) + (size_t)nnew * 8, lossy,
						&tls.prod);
	if (unlikely(!ev)) {
		if (ring == hl_state.ring) /* else the parent's event, in its ring */
			atomic_fetch_add_explicit(&hl_state.lost, 1, memory_order_relaxed);
		tls.prev_len = 0; /* the writer did not see this stack */
		return;
	}
	ev->type = type;
	ev->fn = fn;
	ev->common = (uint16_t)k;
	ev->nnew = (uint16_t)nnew;
	ev->tid = tls.tid;
	ev->ptr = (uint64_t)(uintptr_t)ptr;
	ev->size = size;
	for (uint32_t i = 0; i < nnew; i++) /* usually one or two: no call */
		ev->ips[i] = buf[i];
	/* Cleared first: a signal handler between the two that ends the
	 * process finds nothing to abandon (the writer then waits for the
	 * record a second), never a record already committed. */
	tls.prod.pending_len = 0;
	hl_ring_commit(ring, ev);

	if (prev && !reuse_stack) {
		for (uint32_t i = k; i < n; i++)
			prev[i] = buf[n - 1 - i];
		tls.prev_len = n;
	}
}

/* A thread without memory of its own (past its end, or mmap failed): the
 * stack goes through this frame, the whole of it every time. */
static __attribute__((noinline)) void record_on_stack(uint8_t type, uint8_t fn, const void *ptr,
						      size_t size, int early)
{
	uint64_t buf[HL_DEPTH_MAX + 16];
	tls.prev_len = 0;
	record_into(type, fn, ptr, size, 0, buf, NULL, early, __builtin_frame_address(0));
}

/* Records one event with the calling thread's stack.  With reuse_stack the
 * stack of the thread's previous event is used (realloc's second half). */
static __attribute__((noinline)) void record(uint8_t type, uint8_t fn, const void *ptr, size_t size,
					     int reuse_stack)
{
	if (unlikely(tls.gen != atomic_load_explicit(&hl_state.gen, memory_order_relaxed) ||
		     !tls.tid))
		register_thread();
	/* The first event after our constructor starts the writer (hl_ctor);
	 * before it has run (another library's constructor allocating) events
	 * wait in the ring. */
	int early = 0;
	if (unlikely(atomic_load_explicit(&hl_state.writer_state, memory_order_relaxed) != 1)) {
		if (!hl_state.ctor_done)
			early = 1;
		else if (hl_writer_start())
			return;
	}

	struct hl_thread_mem *mem = tls.mem;
	if (likely(mem))
		record_into(type, fn, ptr, size, reuse_stack, mem->buf, mem->prev, early,
			    __builtin_frame_address(0));
	else
		record_on_stack(type, fn, ptr, size, early);
	if (unlikely(atomic_load_explicit(&hl_state.sync, memory_order_relaxed)))
		hl_writer_flush();
}

static void thread_key_end(void *arg)
{
	(void)arg;
	if (!atomic_load(&hl_state.active) || !tls.tid)
		return;
	tls.busy++;
	if (tls.gen == atomic_load(&hl_state.gen))
		push_simple(HL_EV_THREAD_END, 0, 0);
	if (hl_opt.leak_scan)
		hl_threads_remove_self();
	hl_unwind_thread_end();
	tls.tid = 0;
	tls.prev_len = 0;
	/* Later events of this thread (other destructors, libc's clean-up)
	 * take no memory again: it would never be given back. */
	if (tls.mem)
		munmap(tls.mem, sizeof(*tls.mem));
	tls.mem = NULL;
	tls.ended = 1;
	tls.busy--;
}

/* Gate for every hook: 1 if this call should be recorded. */
static inline int enter(void)
{
	if (unlikely(atomic_load_explicit(&init_state, memory_order_acquire) != 2)) {
		if (atomic_load(&init_state) == 0 && !tls.busy) {
			tls.busy++;
			hl_init();
			tls.busy--;
		}
		/* The call that initialised is recorded like any other (a
		 * library constructor running before ours, libstdc++'s pool). */
		if (atomic_load_explicit(&init_state, memory_order_acquire) != 2)
			return 0;
	}
	if (tls.busy || !atomic_load_explicit(&hl_state.active, memory_order_relaxed))
		return 0;
	tls.busy = 1;
	return 1;
}

static inline void leave(void)
{
	tls.busy = 0;
}

/* A call of the real allocator from a recording hook: a crash in it (glibc
 * aborting on a double free) finds this thread holding nothing of ours. */
#define IN_REAL(...)                                                                               \
	do {                                                                                       \
		tls.in_real = 1;                                                                   \
		__VA_ARGS__;                                                                       \
		tls.in_real = 0;                                                                   \
	} while (0)

/* ---- the allocator ------------------------------------------------------ */

HL_EXPORT void *malloc(size_t n)
{
	if (!enter()) {
		if (unlikely(!real.malloc))
			return boot_alloc(n, 16);
		return real.malloc(n);
	}
	void *p;
	IN_REAL(p = real.malloc(n));
	int e = errno;
	if (p)
		record(HL_EV_ALLOC, HL_FN_MALLOC, p, n, 0);
	errno = e;
	leave();
	return p;
}

HL_EXPORT void free(void *p)
{
	if (!p)
		return;
	if (unlikely(is_boot(p)))
		return;
	if (!enter()) {
		if (likely(real.free != NULL))
			real.free(p);
		return;
	}
	int e = errno;
	record(HL_EV_FREE, HL_FN_FREE, p, 0, 0); /* before the block can be reused */
	errno = e;
	IN_REAL(real.free(p));
	leave();
}

HL_EXPORT void *calloc(size_t n, size_t sz)
{
	if (!enter()) {
		if (unlikely(!real.calloc)) {
			size_t t;
			if (__builtin_mul_overflow(n, sz, &t)) {
				errno = ENOMEM;
				return NULL;
			}
			return boot_alloc(t, 16); /* static memory is zero */
		}
		return real.calloc(n, sz);
	}
	void *p;
	IN_REAL(p = real.calloc(n, sz));
	int e = errno;
	if (p)
		record(HL_EV_ALLOC, HL_FN_CALLOC, p, n * sz, 0);
	errno = e;
	leave();
	return p;
}

static void *realloc_common(void *p, size_t n, size_t elem, int fn)
{
	size_t total;
	int overflow = __builtin_mul_overflow(n, elem, &total);
	if (unlikely(p && is_boot(p))) {
		/* A bootstrap block moves to the real heap (recorded as new). */
		if (overflow) {
			errno = ENOMEM;
			return NULL;
		}
		void *q = malloc(total);
		if (q) {
			size_t old = boot_size(p);
			memcpy(q, p, old < total ? old : total);
		}
		return q;
	}
	if (!enter()) {
		if (unlikely(!real.realloc)) {
			if (overflow) {
				errno = ENOMEM;
				return NULL;
			}
			return boot_alloc(total, 16);
		}
		return fn == HL_FN_REALLOCARRAY && real.reallocarray ? real.reallocarray(p, n, elem)
								     : real.realloc(p, total);
	}
	int e = errno;
	if (p)
		record(HL_EV_FREE, (uint8_t)fn, p, 0, 0);
	errno = e;
	void *q;
	IN_REAL(q = fn == HL_FN_REALLOCARRAY ? real.reallocarray(p, n, elem)
					     : real.realloc(p, total));
	e = errno;
	if (q)
		record(HL_EV_ALLOC, (uint8_t)fn, q, total, p != NULL);
	else if (p && (total != 0 || overflow)) {
		/* failed: p is still the caller's */
		push_simple(HL_EV_REALLOC_FAIL, 0, (uint64_t)(uintptr_t)p);
	}
	/* realloc(p, 0) freed p and returned NULL: the release stands. */
	errno = e;
	leave();
	return q;
}

HL_EXPORT void *realloc(void *p, size_t n)
{
	return realloc_common(p, n, 1, HL_FN_REALLOC);
}

HL_EXPORT void *reallocarray(void *p, size_t n, size_t sz)
{
	return realloc_common(p, n, sz, HL_FN_REALLOCARRAY);
}

static void *aligned_common(size_t align, size_t n, int fn)
{
	if (!enter()) {
		if (unlikely(!real.memalign))
			return boot_alloc(n, align > 4096 ? 4096 : align);
		switch (fn) {
		case HL_FN_ALIGNED_ALLOC:
			return real.aligned_alloc(align, n);
		case HL_FN_VALLOC:
			return real.valloc(n);
		case HL_FN_PVALLOC:
			return real.pvalloc(n);
		default:
			return real.memalign(align, n);
		}
	}
	void *p;
	IN_REAL(p = fn == HL_FN_ALIGNED_ALLOC ? real.aligned_alloc(align, n)
		    : fn == HL_FN_VALLOC      ? real.valloc(n)
		    : fn == HL_FN_PVALLOC     ? real.pvalloc(n)
					      : real.memalign(align, n));
	int e = errno;
	if (p)
		record(HL_EV_ALLOC, (uint8_t)fn, p, n, 0);
	errno = e;
	leave();
	return p;
}

HL_EXPORT void *aligned_alloc(size_t align, size_t n)
{
	return aligned_common(align, n, HL_FN_ALIGNED_ALLOC);
}

HL_EXPORT void *memalign(size_t align, size_t n)
{
	return aligned_common(align, n, HL_FN_MEMALIGN);
}

HL_EXPORT void *valloc(size_t n)
{
	return aligned_common(4096, n, HL_FN_VALLOC);
}

HL_EXPORT void *pvalloc(size_t n)
{
	return aligned_common(4096, n, HL_FN_PVALLOC);
}

HL_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (!enter()) {
		if (unlikely(!real.posix_memalign)) {
			void *p = boot_alloc(n, align > 4096 ? 4096 : align);
			if (!p)
				return ENOMEM;
			*out = p;
			return 0;
		}
		return real.posix_memalign(out, align, n);
	}
	int rc;
	IN_REAL(rc = real.posix_memalign(out, align, n));
	int e = errno;
	if (rc == 0)
		record(HL_EV_ALLOC, HL_FN_POSIX_MEMALIGN, *out, n, 0);
	errno = e;
	leave();
	return rc;
}

HL_EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (is_boot(p))
		return boot_size(p);
	if (unlikely(!real.malloc_usable_size))
		return 0;
	return real.malloc_usable_size(p);
}

/* ---- modules ------------------------------------------------------------ */

/* Puts a snapshot of the loaded modules in the ring, in order with events.
 * Taken before the ring space is reserved: a reserved record holds up the
 * writer until it is committed, and taking the loader's lock may wait for
 * a thread that waits for the writer (one allocating inside a
 * dl_iterate_phdr callback). */
static void push_modules(void)
{
	uint8_t *snap = NULL;
	struct hl_quiet q; /* dl_iterate_phdr holds the loader's lock */
	hl_quiet_begin(&q);
	size_t cap = 0, written = hl_modules_snapshot_fit(&snap, &cap);
	hl_quiet_end(&q);
	struct hl_ev *ev = written ? hl_ring_reserve(hl_state.ring, sizeof(*ev) + written,
						     !hl_state.ctor_done)
				   : NULL;
	if (ev) {
		memset(ev, 0, sizeof(*ev));
		ev->type = HL_EV_MODULES;
		ev->tid = tls.tid;
		memcpy(ev->ips, snap, written);
		ev->size = written;
		hl_ring_commit(hl_state.ring, ev);
	}
	if (snap)
		munmap(snap, cap);
}

/* dlopen is deliberately not interposed: glibc resolves a relative name
 * against the *caller's* RUNPATH, and a wrapper would become the caller.
 * New modules are announced by the thread whose walk meets one first
 * (the unwinder's new_module), or found by the writer when a frame falls outside every
 * known module.  dlclose is interposed so that stacks recorded before an
 * unload are matched with the module that was there (snapshot before and
 * after). */
HL_EXPORT int dlclose(void *handle)
{
	if (!real.dlclose) {
		hl_init();
		if (!real.dlclose)
			return -1;
	}
	int rec = enter();
	if (rec) {
		int e = errno;
		if (!tls.tid || tls.gen != hl_state.gen)
			register_thread();
		push_modules();
		errno = e;
	}
	/* What the library's destructors and the loader free is recorded. */
	if (rec)
		leave();
	int rc = real.dlclose(handle);
	/* Other code may now be where the module was.  libdw frees what it
	 * allocated unseen: not recorded. */
	if (atomic_load(&init_state) == 2) {
		tls.busy++;
		hl_unwind_forget();
		tls.busy--;
	}
	if (rec && enter()) {
		int e = errno;
		push_modules();
		errno = e;
		leave();
	}
	return rc;
}

/* ---- process end, exec, fork -------------------------------------------- */

/* This image's trace has its END (not exec's, which may fail). */
static _Atomic int image_ended;

/* Writes everything so far and an END record (sig: HL_END_SIGNAL's or
 * HL_END_CRASH's number).  Only for the process that owns the state: a
 * vfork child shares our memory but is not us. */
static void finish_end(unsigned reason, unsigned sig)
{
	if (!atomic_load(&hl_state.active) || getpid() != hl_state.pid)
		return;
	int nested = tls.busy > 0; /* a signal handler inside one of our hooks */
	/* A signal handler that interrupted this thread inside a hook, after
	 * its reservation and before its commit, is ending the process (exit,
	 * _exit or abort in a SIGINT or SIGTERM handler): the record would
	 * never be committed, and the writer used to wait for it a second and
	 * then lose the END behind it.  It becomes padding.  Not for exec,
	 * which can fail and return to the hook. */
	if (reason != HL_END_EXEC)
		hl_ring_abandon(hl_state.ring, &tls.prod);
	hl_unwind_report();
	tls.busy++;
	/* (not started, or paused: it starts; running or failed: nothing) */
	if (hl_ring_produced(hl_state.ring) || reason != HL_END_EXEC)
		hl_writer_start();
	if (atomic_load(&hl_state.writer_state) == 1) {
		if (!tls.tid || tls.gen != hl_state.gen)
			register_thread();
		/* A record this thread reserved and has not committed, if
		 * the handler interrupted one, lies from its last noted claim
		 * (the claim is noted just after it is made, and forgotten
		 * just before its commit) to here. */
		uint64_t mine = hl_ring_produced(hl_state.ring);
		push_simple(HL_EV_END, (uint8_t)reason, sig);
		if (nested && reason != HL_END_EXEC)
			hl_writer_flush_end(reason, sig);
		else if (nested)
			hl_writer_flush_exec(tls.prod.pending_pos, mine);
		else
			hl_writer_flush();
	}
	if (reason != HL_END_EXEC)
		atomic_store(&image_ended, 1);
	tls.busy--;
}

static void finish(unsigned reason)
{
	finish_end(reason, 0);
}

/* __libc_freeres ends with clearenv() and frees setenv's strings; a
 * destructor or thread that runs after ours must still see the environment,
 * so it is copied (outside the heap) before and put back after. */
static char **environ_copy(void)
{
	extern char **environ;
	size_t n = 0, bytes = 0;
	if (!environ)
		return NULL;
	for (; environ[n]; n++)
		bytes += strlen(environ[n]) + 1;
	size_t len = (n + 1) * sizeof(char *) + bytes;
	char **copy = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (copy == MAP_FAILED)
		return NULL;
	char *str = (char *)(copy + n + 1);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(environ[i]) + 1;
		memcpy(str, environ[i], l);
		copy[i] = str;
		str += l;
	}
	copy[n] = NULL;
	return copy;
}

/* HEAPLINE_LEAK_SCAN: on a normal exit, release what glibc and libstdc++
 * keep for the whole run, as valgrind does, then have the writer classify
 * what is left.  __libc_freeres flushes stdio first; later output goes out
 * unbuffered.  On _exit and abort there is no freeres: flushing stdio there
 * would print what the program never printed. */
static int is_libstdcxx(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	const char *slash = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
	const char *base = slash ? slash + 1 : info->dlpi_name;
	if (base && !strncmp(base, "libstdc++.so", 12))
		*(int *)arg = 1;
	return *(int *)arg;
}

static void leak_scan(int freeres)
{
	if (freeres) {
		extern char **environ;
		void (*libc_freeres)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "__libc_freeres");
		/* Asked only where it exists: a failed dlsym leaves glibc an
		 * error message (allocated unrecorded, here) that freeres
		 * would free, recorded: two unknown frees in every C program. */
		int cxx = 0;
		dl_iterate_phdr(is_libstdcxx, &cxx);
		void (*cxx_freeres)(void) =
		    cxx ? (void (*)(void))dlsym(RTLD_DEFAULT, "_ZN9__gnu_cxx9__freeresEv") : NULL;
		char **env = environ_copy();
		tls.busy--; /* what freeres frees must be recorded */
		if (cxx_freeres)
			cxx_freeres();
		if (libc_freeres)
			libc_freeres();
		tls.busy++;
		if (env)
			environ = env;
	}
	if (!tls.tid || tls.gen != hl_state.gen)
		register_thread();
	hl_unwind_learn_stack(); /* a thread that never recorded: its stack is a root */
	/* Spill callee-saved registers onto this stack, which the scan reads
	 * from here upwards. */
	__builtin_unwind_init();
	volatile uint64_t sp_mark = 0;
	/* leak scan: start the stack scan at the frame that called exit()
	 * (hl_leakscan_prepare), falling back to here. */
	push_simple(HL_EV_LEAK_SCAN, 0, hl_leakscan_prepare((uint64_t)(uintptr_t)&sp_mark));
	hl_writer_flush();
	(void)sp_mark;
}

static int leak_scan_wanted(void)
{
	return hl_opt.leak_scan && atomic_load(&hl_state.active) && getpid() == hl_state.pid &&
	       atomic_load(&hl_state.writer_state) == 1;
}

__attribute__((destructor)) static void hl_dtor(void)
{
	finish(HL_END_EXIT);
	if (leak_scan_wanted()) {
		tls.busy++;
		leak_scan(1);
		tls.busy--;
	}
	/* From here on (other libraries' destructors, other threads still
	 * running) every event is written before its hook returns. */
	atomic_store(&hl_state.sync, 1);
}

/* A process made by vfork or by clone with CLONE_VM (posix_spawn, Chromium's
 * sandbox: clone(CLONE_VM|CLONE_VFORK|CLONE_SETTLS), then _exit) runs on
 * our memory, maybe with a thread pointer of its own: its _exit and exec
 * get the real call at once, with no look at our thread-local state or
 * errno and no dlsym (the real functions are resolved by hl_init).  Such a
 * child's _exit used to read errno through that thread pointer and crash;
 * its parent, Chromium's sandboxed zygote, then failed a CHECK. */
static inline int not_ours(void)
{
	return getpid() != hl_state.pid;
}

/* exit_group, as glibc's _exit makes it, for before hl_init has found it. */
static __attribute__((noreturn)) void exit_group_now(int status)
{
	for (;;)
		syscall(SYS_exit_group, status);
}

/* _exit, _Exit, abort, a fatal signal to itself: the trace is finished
 * (and, in leak-scan mode, the live blocks classified, without freeres)
 * before the process goes. */
static void end_abruptly(unsigned reason, unsigned sig)
{
	if (not_ours()) /* before errno, which is thread-local */
		return;
	int e = errno;
	finish_end(reason, sig);
	if (leak_scan_wanted()) {
		tls.busy++;
		leak_scan(0);
		tls.busy--;
	}
	errno = e;
}

void hl_hooks_on_crash(int sig)
{
	/* Inside our own code (tls.busy, and not in the real allocator) this
	 * thread may hold what the writer waits for (the unwinder's lock);
	 * the writer thread itself always is. */
	if (not_ours() || !atomic_load(&hl_state.active) || (tls.busy && !tls.in_real) ||
	    atomic_load(&image_ended))
		return;
	/* in leak-scan mode the live blocks are classified too, as on abort
	 * (the scan reads memory through process_vm_readv: a corrupt heap
	 * cannot fault it) */
	end_abruptly(HL_END_CRASH, (unsigned)sig);
}

HL_EXPORT void _exit(int status)
{
	end_abruptly(HL_END_UEXIT, 0);
	real._exit ? real._exit(status) : exit_group_now(status);
}

HL_EXPORT void _Exit(int status)
{
	end_abruptly(HL_END_UEXIT, 0);
	real._Exit ? real._Exit(status) : exit_group_now(status);
}

/* quick_exit runs the at_quick_exit handlers, then calls _exit from inside
 * libc, where the wrapper above never sees it: a run shorter than one block
 * (50 ms) left no trace at all.  The END goes first, as at exit; the
 * handlers' events follow it, each written before its hook returns. */
HL_EXPORT void quick_exit(int status)
{
	end_abruptly(HL_END_QUICK_EXIT, 0);
	if (!not_ours())
		atomic_store(&hl_state.sync, 1);
	real.quick_exit ? real.quick_exit(status) : exit_group_now(status);
}

HL_EXPORT void abort(void)
{
	end_abruptly(HL_END_ABORT, 0);
	if (!real.abort)
		RESOLVE(abort);
	real.abort();
}

void *hl_next_fn(void *_Atomic *slot, const char *name)
{
	void *fn = atomic_load_explicit(slot, memory_order_relaxed);
	if (!fn) {
		fn = dlsym(RTLD_NEXT, name);
		atomic_store_explicit(slot, fn, memory_order_relaxed);
	}
	return fn;
}
#define NEXT(type, name)                                                                           \
	static void *_Atomic next_##name;                                                          \
	type fn = (type)hl_next_fn(&next_##name, #name)

/* A failed assert() aborts from inside glibc, past the abort above: the
 * trace ended with no END and without its last ~50 ms.  The assertion's
 * entry points are finished first, as abort is. */
typedef void (*assert_fail_fn)(const char *, const char *, unsigned, const char *);
typedef void (*assert_perror_fn)(int, const char *, unsigned, const char *);

HL_EXPORT void __assert_fail(const char *expr, const char *file, unsigned line,
			     const char *func)
{
	NEXT(assert_fail_fn, __assert_fail);
	end_abruptly(HL_END_ABORT, 0);
	if (fn)
		fn(expr, file, line, func);
	abort();
}

HL_EXPORT void __assert_perror_fail(int errnum, const char *file, unsigned line,
				    const char *func)
{
	NEXT(assert_perror_fn, __assert_perror_fail);
	end_abruptly(HL_END_ABORT, 0);
	if (fn)
		fn(errnum, file, line, func);
	abort();
}

/* ---- a process that kills itself ---------------------------------------
 *
 * A program that cleans up on SIGINT or SIGTERM and then dies of the same
 * signal, so that its parent sees it (python after a KeyboardInterrupt,
 * bash, make, sort), sends it to itself with the default action restored:
 * kill(getpid(), sig) or raise(sig).  The trace used to end with no END
 * record and without its last ~50 ms (python's whole finalization).  Now
 * it is finished first, as for _exit, with END "signal" and the number. */

/* sig, sent to this process, ends it before the call returns: its action
 * is the default and terminates, and this thread does not block it (the
 * kernel then delivers it here first). */
static int ends_us(int sig)
{
	switch (sig) {
	case SIGCHLD: case SIGCONT: case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
	case SIGURG: case SIGWINCH:
		return 0;
	case SIGKILL:
		return 1;
	}
	if (sig <= 0 || sig >= NSIG)
		return 0;
	struct sigaction sa;
	sigset_t mask;
	return sigaction(sig, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
	       sa.sa_handler == SIG_DFL && pthread_sigmask(SIG_SETMASK, NULL, &mask) == 0 &&
	       !sigismember(&mask, sig);
}

static void before_self_signal(int sig)
{
	if (!atomic_load(&hl_state.active) || getpid() != hl_state.pid || !ends_us(sig))
		return;
	end_abruptly(HL_END_SIGNAL, (unsigned)sig);
}

typedef int (*pid_sig_fn)(pid_t, int);
typedef int (*sig_fn)(int);

HL_EXPORT int kill(pid_t pid, int sig)
{
	NEXT(pid_sig_fn, kill);
	if (!fn)
		return errno = ENOSYS, -1;
	/* this process, or its process group (not -1: that skips the caller) */
	if (sig && (pid == 0 || pid == getpid() || (pid < -1 && -pid == getpgrp())))
		before_self_signal(sig);
	return fn(pid, sig);
}

HL_EXPORT int killpg(pid_t pgrp, int sig)
{
	NEXT(pid_sig_fn, killpg);
	if (!fn)
		return errno = ENOSYS, -1;
	if (sig && (pgrp == 0 || pgrp == getpgrp()))
		before_self_signal(sig);
	return fn(pgrp, sig);
}

HL_EXPORT int raise(int sig)
{
	NEXT(sig_fn, raise);
	if (!fn)
		return errno = ENOSYS, -1;
	before_self_signal(sig);
	return fn(sig);
}

/* Nothing of ours in a vfork or CLONE_VM child (not_ours). */
#define BEFORE_EXEC(name)                                                                          \
	if (!real.name || !not_ours()) {                                                           \
		int saved_errno_ = errno;                                                          \
		if (!real.name)                                                                    \
			hl_init();                                                                 \
		finish(HL_END_EXEC);                                                               \
		errno = saved_errno_;                                                              \
	}

HL_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	BEFORE_EXEC(execve);
	return real.execve(path, argv, envp);
}

HL_EXPORT int execv(const char *path, char *const argv[])
{
	BEFORE_EXEC(execv);
	return real.execv(path, argv);
}

HL_EXPORT int execvp(const char *file, char *const argv[])
{
	BEFORE_EXEC(execvp);
	return real.execvp(file, argv);
}

HL_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	BEFORE_EXEC(execvpe);
	return real.execvpe(file, argv, envp);
}

HL_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	BEFORE_EXEC(fexecve);
	return real.fexecve(fd, argv, envp);
}

/* The execl family: the variadic arguments, counted, then copied into an
 * argv on the caller's stack (ap is left after argv's terminating NULL). */
static size_t count_args(const char *arg0, va_list ap)
{
	size_t n = 1;
	if (!arg0)
		return 0;
	while (va_arg(ap, const char *))
		n++;
	return n;
}

static void fill_args(const char **argv, size_t n, const char *arg0, va_list *ap)
{
	for (size_t i = 0; i < n; i++)
		argv[i] = i ? va_arg(*ap, const char *) : arg0;
	if (n)
		(void)va_arg(*ap, const char *); /* the NULL ending argv */
	argv[n] = NULL;
}

#define COLLECT_ARGS(argv, arg0, ap)                                                               \
	va_start(ap, arg0);                                                                        \
	size_t n_ = count_args(arg0, ap);                                                          \
	va_end(ap);                                                                                \
	const char *argv[n_ + 1];                                                                  \
	va_start(ap, arg0);                                                                        \
	fill_args(argv, n_, arg0, &ap)

HL_EXPORT int execl(const char *path, const char *arg0, ...)
{
	va_list ap;
	COLLECT_ARGS(argv, arg0, ap);
	va_end(ap);
	return execv(path, (char *const *)argv);
}

HL_EXPORT int execlp(const char *file, const char *arg0, ...)
{
	va_list ap;
	COLLECT_ARGS(argv, arg0, ap);
	va_end(ap);
	return execvp(file, (char *const *)argv);
}

HL_EXPORT int execle(const char *path, const char *arg0, ...)
{
	va_list ap;
	COLLECT_ARGS(argv, arg0, ap);
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, (char *const *)argv, envp);
}

/* A producer waited with the writer not moving.  In a process made without
 * fork() (a raw clone system call, _Fork: no atfork handler ran) the state
 * is a copy of the parent's and there is no writer at all: it used to wait
 * for ever once its copy of the ring was full.  Such a process is not
 * profiled: recording stops in it (examples/raw_clone.c).  A ring that is
 * no longer hl_state.ring is the parent's, kept for an event a signal
 * handler's fork interrupted (fork_child): nobody drains it, the event
 * belongs to the parent. */
static int ring_give_up(const struct hl_ring *r)
{
	if (r != hl_state.ring)
		return 1;
	if (getpid() == hl_state.pid)
		return 0;
	atomic_store(&hl_state.active, 0);
	return 1;
}

static struct hl_ring *ring_new(size_t bytes)
{
	struct hl_ring *r = hl_ring_create(bytes);
	if (r)
		hl_ring_set_give_up(r, ring_give_up);
	return r;
}

/* ---- credentials ---------------------------------------------------------- */

/* The trace file is created once the writer has a first block, and with the
 * process's credentials of that moment.  A worker that drops root right
 * after its fork (nginx's, postfix's, apache's) could then no longer create
 * it where its parent could, and its events were lost ("Permission
 * denied").  So before the program changes its user, groups or root
 * directory, the writer is started if need be and a block written, which
 * creates the file; the change applies to the writer thread too, and the
 * file stays open. */
static void before_creds(int is_chroot)
{
	/* Once the trace is tried, never again but for chroot: servers that
	 * switch users per request (seteuid around each one) pay nothing. */
	if (!atomic_load(&hl_state.active) || !hl_state.ctor_done ||
	    (hl_writer_trace_tried() && !is_chroot) || getpid() != hl_state.pid)
		return; /* a vfork child shares our state but is not us */
	int e = errno;
	tls.busy++;
	/* The same goes for the modules' files, which the unwinder opens by
	 * path when it first needs one: open them all while they can be
	 * (examples/chroot_sandbox.c: sshd's pre-auth child). */
	hl_unwind_open_modules();
	if (!hl_writer_trace_tried()) {
		hl_writer_start();
		hl_writer_flush();
	}
	tls.busy--;
	errno = e;
}

/* The function, from the next object (libc); NULL if none. */
#define CREDS_HOOK(ret, name, params, args, is_chroot)                                             \
	HL_EXPORT ret name params                                                                  \
	{                                                                                          \
		static void *_Atomic next;                                                         \
		ret(*fn) params;                                                                   \
		*(void **)&fn = hl_next_fn(&next, #name);                                          \
		if (!fn) {                                                                         \
			errno = ENOSYS;                                                            \
			return -1;                                                                 \
		}                                                                                  \
		before_creds(is_chroot);                                                           \
		return fn args;                                                                    \
	}

CREDS_HOOK(int, setuid, (uid_t u), (u), 0)
CREDS_HOOK(int, seteuid, (uid_t u), (u), 0)
CREDS_HOOK(int, setreuid, (uid_t r, uid_t e), (r, e), 0)
CREDS_HOOK(int, setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s), 0)
CREDS_HOOK(int, setgid, (gid_t g), (g), 0)
CREDS_HOOK(int, setegid, (gid_t g), (g), 0)
CREDS_HOOK(int, setregid, (gid_t r, gid_t e), (r, e), 0)
CREDS_HOOK(int, setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s), 0)
CREDS_HOOK(int, setgroups, (size_t n, const gid_t *list), (n, list), 0)
CREDS_HOOK(int, chroot, (const char *path), (path), 1)

/* Before a seccomp filter goes in (hl_sandbox.c): as before a chroot, the
 * trace file is created and every module's file opened, and the writer
 * gives up what a filter may forbid later (hl_writer_sandbox).  A thread in
 * strict mode may make no system call but read, write and exit: it records
 * nothing more (the ring may have to wait, or wake the writer). */
int hl_hooks_before_single_thread(void)
{
	if (!atomic_load(&hl_state.active) || getpid() != hl_state.pid || tls.busy)
		return 0;
	int e = errno, paused;
	tls.busy++;
	paused = hl_writer_pause();
	tls.busy--;
	errno = e;
	return paused;
}

void hl_hooks_before_sandbox(int strict)
{
	if (!atomic_load(&hl_state.active) || getpid() != hl_state.pid)
		return;
	int e = errno;
	before_creds(1);
	hl_writer_sandbox();
	if (strict)
		tls.busy = 1;
	errno = e;
}

/* In a fork child: a new process, a new trace.  The parent's ring may hold
 * its uncommitted events and its writer thread does not exist here, so all of
 * it is dropped and started afresh (the writer starts at the first event). */
static void fork_child(void)
{
	if (!atomic_load(&hl_state.active))
		return;
	/* A child of a sandboxed process could not create its trace, and the
	 * filter may kill it for trying: it is left unprofiled. */
	if (hl_opt.no_children || atomic_load(&hl_state.sandboxed)) {
		atomic_store(&hl_state.active, 0);
		return;
	}
	struct hl_ring *old = hl_state.ring;
	atomic_store(&image_ended, 0); /* the child's trace is its own */
	hl_writer_forget();
	hl_arena_forget();
	hl_modules_forget();
	hl_live_forget();
	hl_threads_forget();
	hl_unwind_fork_child();
	hl_state.pid = getpid();
	hl_state.is_root = 0;
	hl_state.start_ns = hl_clock_ns();
	struct timeval tv;
	gettimeofday(&tv, NULL);
	hl_state.start_unix_ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
	atomic_store(&hl_state.now_ms, 0);
	atomic_store(&hl_state.lost, 0);
	atomic_store(&hl_state.next_tid, 0);
	atomic_fetch_add(&hl_state.gen, 1);
	atomic_store(&hl_state.sync, 0);
	hl_state.ring = ring_new(hl_ring_size(old));
	/* A signal handler that forked inside one of our hooks returns into it
	 * here: that event goes on into the old ring, which stays mapped
	 * (examples/fork_in_handler.c: the child crashed). */
	if (!tls.busy)
		hl_ring_destroy(old);
	if (!hl_state.ring)
		atomic_store(&hl_state.active, 0);
	tls.tid = 0;
	tls.prev_len = 0;
}
