/* hl_unwind.c — the calling thread's stack for every event, exactly as
 * libunwind's unw_backtrace gives it, at a fraction of its cost.
 *
 * Two things make it fast:
 *
 * 1. Rules per return address.  For each return address the DWARF CFI of
 *    its module (read with libdw from .eh_frame, once per address) says how
 *    to find the caller: CFA = RSP or RBP + offset, return address at CFA-8,
 *    RBP unchanged or saved at CFA + offset.  That is the frame shape
 *    libunwind's own fast path (tdep_trace) handles; any other shape (signal
 *    frames, CFA expressions, no CFI, JIT code) makes hl_unwind return -1
 *    and the caller asks libunwind, so those stacks are libunwind's own.
 *    Rules live in one table for all threads, read without locks.
 *
 * 2. The part of the stack that has not changed.  Each thread keeps the
 *    frames of its previous walk (outermost first): for each, its IP, its
 *    RSP and RBP on entry and how it was stepped, and in one list the
 *    addresses and values of the stack words that decided them.  A walk
 *    that reaches a frame with the same IP, RSP and (where it matters) RBP
 *    as a frame of the previous walk re-reads those words above that frame:
 *    each return address, and each saved RBP that some frame further out
 *    uses (an RBP-based CFA; in code without frame pointers, rarely any).
 *    If all are equal, the unwinder would compute exactly the same frames
 *    again — it is a function of the IP, the registers and those words —
 *    so they are reused without rule lookups.  This is exact, not a guess:
 *    a changed word that decides anything sends the walk on the normal
 *    path.  A tight loop deep in a program
 *    walks its own few frames and compares a handful of words for the rest.
 *    Each thread also keeps a small direct-mapped copy of the rules it uses,
 *    so a new frame's rule is usually one load from memory of its own.
 *
 * Safety: the walk reads only what libunwind's fast path reads (stack words
 * at CFA-based addresses of live frames).  The re-reads are limited to the
 * thread's own stack ([lo, hi) from pthread_getattr_np, see learn())
 * above the current
 * frame, which is mapped; a thread running on another stack (sigaltstack,
 * coroutines) walks without them.  Our own frames (the hook, record, this
 * function) are compiled with frame pointers and stepped through those.
 *
 * dlclose may put other code where a module was: hl_unwind_forget empties
 * the rule table and the module list.  dlopen needs nothing: an address
 * only gets a rule once code is there. */
#include "hl_unwind.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#define UNW_LOCAL_ONLY /* the fast local-only unwinder (_UL* symbols) */
#include <libunwind.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hl_options.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

enum hl_unwind_mode { HL_UNWIND_FAST, HL_UNWIND_LIBUNWIND, HL_UNWIND_CHECK };
static enum hl_unwind_mode mode = HL_UNWIND_LIBUNWIND;
static _Atomic uint64_t n_checked, n_differ, n_fallback; /* check mode */
static uint64_t self_lo, self_hi;
static uint64_t getattr_lo, getattr_hi; /* libc's pthread_getattr_np */

/* While the unwinder is in glibc or libdw (a thread's first look at its
 * stack, a new return address's rule, a new module):
 * - asynchronous signals wait.  Those calls allocate, and glibc may hold
 *   malloc's arena lock when a handler runs; a handler that forks then
 *   waited for that lock for ever (glibc's fork takes every arena's), where
 *   the program alone, in tcache, never held it
 *   (examples/fork_in_handler.c: 1 run in ~20 hung).  The same goes for
 *   the loader's lock dl_iterate_phdr holds (a module snapshot, libunwind),
 *   which glibc's fork does not reset: the child waited for it for ever at
 *   its first module snapshot (1 run in ~50).  Faults stay
 *   deliverable: a crash in there is a crash as before.
 * - the thread cannot be cancelled.  They reach cancellation points (open,
 *   read), and a pthread_cancel pending when the thread allocated took
 *   effect there, inside the hook, with fill_lock held: every other thread
 *   then waited for it for ever (examples/cancel_in_hook.c; malloc is no
 *   cancellation point in a plain run). */
void hl_quiet_begin(struct hl_quiet *q)
{
	sigset_t all;
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGSYS);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &q->cancel);
	pthread_sigmask(SIG_BLOCK, &all, &q->mask);
}

void hl_quiet_end(const struct hl_quiet *q)
{
	pthread_sigmask(SIG_SETMASK, &q->mask, NULL);
	pthread_setcancelstate(q->cancel, NULL);
}

/* ---- rules -------------------------------------------------------------- */

enum { R_NONE, R_RSP, R_RBP, R_LAST };

struct rule {
	int32_t cfa_off; /* CFA = (RSP or RBP) + cfa_off */
	int16_t bp_off;	 /* caller's RBP at CFA + bp_off, if bp_saved */
	uint8_t kind;	 /* R_* */
	uint8_t bp_saved;
};

static uint64_t rule_pack(struct rule r)
{
	uint64_t v;
	memcpy(&v, &r, sizeof(v));
	return v;
}

static struct rule rule_unpack(uint64_t v)
{
	struct rule r;
	memcpy(&r, &v, sizeof(r));
	return r;
}

/* Open addressing, linear probing, keyed by return address.  Writers hold
 * fill_lock; readers check the key again after reading the value, so an
 * entry emptied and refilled under them reads as a miss (a miss is always
 * safe: the caller takes the lock and looks again).
 *
 * The table starts at 4096 entries and doubles at half full, up to 65536:
 * a program meets a few thousand return addresses (cc1: 6700), and at
 * 16 bytes an entry spread by a hash every page of a big table was touched
 * (1 MiB of RSS).  A doubling copies into a new mapping and publishes it;
 * the old one stays mapped for readers still in it, its pages given back
 * (zeros: misses).  Full at 65536, it starts over. */
#define RT_MIN_BITS 12
#define RT_MAX_BITS 16
struct rt_ent {
	_Atomic uint64_t key;
	_Atomic uint64_t val;
};
struct rtab {
	uint64_t mask;
	struct rt_ent e[];
};
static struct rtab *_Atomic rt;
static unsigned rt_used;
/* Bumped when the rules are dropped: the threads' saved walks used them. */
static _Atomic unsigned rules_gen;
static pthread_mutex_t fill_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long learned; /* rules computed (fill_lock) */

static inline size_t rt_home(uint64_t ip, uint64_t mask)
{
	return (size_t)((ip * 0x9e3779b97f4a7c15ull) >> 32 & mask);
}

static size_t rt_bytes(uint64_t mask)
{
	return sizeof(struct rtab) + (mask + 1) * sizeof(struct rt_ent);
}

static struct rtab *rt_new(unsigned bits)
{
	uint64_t mask = (1ull << bits) - 1;
	struct rtab *t = mmap(NULL, rt_bytes(mask), PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (t == MAP_FAILED)
		return NULL;
	t->mask = mask;
	return t;
}

static inline int rule_get(uint64_t ip, uint64_t *val)
{
	const struct rtab *t = atomic_load_explicit(&rt, memory_order_acquire);
	for (size_t i = rt_home(ip, t->mask);; i = (i + 1) & t->mask) {
		uint64_t k = atomic_load_explicit(&t->e[i].key, memory_order_acquire);
		if (k == ip) {
			uint64_t v = atomic_load_explicit(&t->e[i].val, memory_order_relaxed);
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(&t->e[i].key, memory_order_relaxed) != ip)
				return 0;
			*val = v;
			return 1;
		}
		if (!k)
			return 0;
	}
}

static void rt_clear(void) /* fill_lock held */
{
	struct rtab *t = atomic_load_explicit(&rt, memory_order_relaxed);
	for (size_t i = 0; i <= t->mask; i++)
		atomic_store_explicit(&t->e[i].key, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	/* The zeroed pages go back to the kernel (but the first, which holds
	 * the mask): the table costs only what is in use. */
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	if (rt_bytes(t->mask) > page)
		madvise((char *)t + page, rt_bytes(t->mask) - page, MADV_DONTNEED);
	rt_used = 0;
}

static void rt_insert(struct rtab *t, uint64_t ip, uint64_t val)
{
	size_t i = rt_home(ip, t->mask);
	while (atomic_load_explicit(&t->e[i].key, memory_order_relaxed))
		i = (i + 1) & t->mask;
	atomic_store_explicit(&t->e[i].val, val, memory_order_relaxed);
	atomic_store_explicit(&t->e[i].key, ip, memory_order_release);
}

static void rt_put(uint64_t ip, uint64_t val) /* fill_lock held */
{
	struct rtab *t = atomic_load_explicit(&rt, memory_order_relaxed);
	if (rt_used >= (t->mask + 1) / 2) {
		struct rtab *n = t->mask + 1 < (1ull << RT_MAX_BITS)
					 ? rt_new((unsigned)__builtin_ctzll(t->mask + 1) + 1)
					 : NULL;
		if (n) {
			for (size_t i = 0; i <= t->mask; i++) {
				uint64_t k = atomic_load_explicit(&t->e[i].key, memory_order_relaxed);
				if (k)
					rt_insert(n, k, atomic_load_explicit(&t->e[i].val,
									memory_order_relaxed));
			}
			atomic_store_explicit(&rt, n, memory_order_release);
			/* left mapped: a reader may be in it; its pages read as
			 * zeros (misses) from here on */
			madvise(t, rt_bytes(t->mask), MADV_DONTNEED);
			t = n;
		} else {
			rt_clear();
		}
	}
	rt_insert(t, ip, val);
	rt_used++;
}

/* ---- modules: their CFI, opened once ------------------------------------- */

struct uw_mod {
	const void *map; /* the loader's link_map */
	uint64_t bias;
	Elf *elf;
	Dwarf_CFI *cfi; /* NULL: no usable CFI (vdso, unreadable file) */
	void *file;	/* libelf's read-only mapping of the file, or NULL */
	size_t file_len;
};
#define MOD_MAX 512
static struct uw_mod mods[MOD_MAX];
static unsigned nmods;

/* Work for the hook layer (hl_unwind_hooks), per thread. */
enum { PENDING_STACK = 1, PENDING_MODULE = 2 };
static __thread unsigned pending __attribute__((tls_model("initial-exec")));
static struct hl_unwind_hooks hooks;

/* Outside fill_lock: the snapshot takes the loader's lock. */
static void announce_module(void)
{
	if (pending & PENDING_MODULE) {
		pending &= ~PENDING_MODULE;
		if (hooks.new_module)
			hooks.new_module();
	}
}

static struct uw_mod *mod_get(const struct link_map *lm) /* fill_lock held */
{
	for (unsigned i = 0; i < nmods; i++)
		if (mods[i].map == lm)
			return &mods[i];
	if (nmods == MOD_MAX)
		return NULL;
	struct uw_mod *m = &mods[nmods++];
	memset(m, 0, sizeof(*m));
	pending |= PENDING_MODULE;
	m->map = lm;
	m->bias = lm->l_addr;
	const char *path = lm->l_name && lm->l_name[0] ? lm->l_name : "/proc/self/exe";
	struct hl_quiet q;
	hl_quiet_begin(&q);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		m->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
		/* Everything is read through the mapping from here on. */
		if (m->elf && elf_cntl(m->elf, ELF_C_FDDONE) == 0) {
			m->cfi = dwarf_getcfi_elf(m->elf);
			/* Without the descriptor, libelf answers only if it
			 * mapped the file (PROT_READ, MAP_PRIVATE, from 0):
			 * then this is that mapping, for hl_unwind_trim. */
			size_t len;
			char *p = elf_rawfile(m->elf, &len);
			if (p && len && !((uintptr_t)p & 4095)) {
				m->file = p;
				m->file_len = len;
			}
		}
		close(fd);
	}
	hl_quiet_end(&q);
	return m;
}

static void mods_drop(void) /* fill_lock held */
{
	for (unsigned i = 0; i < nmods; i++) {
		if (mods[i].cfi)
			dwarf_cfi_end(mods[i].cfi);
		if (mods[i].elf)
			elf_end(mods[i].elf);
	}
	nmods = 0;
}

/* ops is "CFA + off" as libdw spells it: DW_OP_call_frame_cfa, then
 * DW_OP_plus_uconst with a two's complement offset. */
static int cfa_plus(const Dwarf_Op *ops, size_t n, int64_t *off)
{
	if (n == 1 && ops[0].atom == DW_OP_call_frame_cfa) {
		*off = 0;
		return 1;
	}
	if (n == 2 && ops[0].atom == DW_OP_call_frame_cfa && ops[1].atom == DW_OP_plus_uconst) {
		*off = (int64_t)ops[1].number;
		return 1;
	}
	return 0;
}

/* The rule for the frame whose return address is ip (its call is at ip-1).
 * Accepts what libunwind's fast path accepts (x86_64 Gstash_frame.c):
 * CFA on RSP or RBP, RA at CFA-8, RBP same, undefined or at CFA+small,
 * RSP same, undefined, CFA-relative or the CFA itself. */
static struct rule rule_compute(uint64_t ip)
{
	struct rule r = {0, 0, R_NONE, 0};
	struct dl_find_object fo;
	if (_dl_find_object((void *)(uintptr_t)(ip - 1), &fo) != 0 || !fo.dlfo_link_map)
		return r;
	struct uw_mod *m = mod_get(fo.dlfo_link_map);
	if (!m || !m->cfi)
		return r;
	Dwarf_Frame *fr;
	if (dwarf_cfi_addrframe(m->cfi, ip - 1 - m->bias, &fr) != 0)
		return r;
	bool signal = false;
	Dwarf_Op *ops, mem[3];
	size_t n;
	int64_t off;
	if (dwarf_frame_info(fr, NULL, NULL, &signal) < 0 || signal)
		goto out;
	/* The return address: undefined ends the stack (_start, clone). */
	if (dwarf_frame_register(fr, 16, mem, &ops, &n) != 0)
		goto out;
	if (n == 0 && ops == mem) {
		r.kind = R_LAST;
		goto out;
	}
	if (!cfa_plus(ops, n, &off) || off != -8)
		goto out;
	if (dwarf_frame_cfa(fr, &ops, &n) != 0 || n != 1 || ops[0].atom != DW_OP_bregx ||
	    (ops[0].number != 6 && ops[0].number != 7))
		goto out;
	int64_t cfa_off = (int64_t)ops[0].number2;
	if (cfa_off <= -(1 << 29) || cfa_off >= (1 << 29))
		goto out;
	int kind = ops[0].number == 7 ? R_RSP : R_RBP;
	if (dwarf_frame_register(fr, 6, mem, &ops, &n) != 0)
		goto out;
	if (n != 0) {
		if (!cfa_plus(ops, n, &off) || off <= -(1 << 14) || off >= (1 << 14) || off == -1)
			goto out;
		r.bp_saved = 1;
		r.bp_off = (int16_t)off;
	}
	if (dwarf_frame_register(fr, 7, mem, &ops, &n) != 0)
		goto out;
	if (n != 0 && !(n == 2 && ops[0].atom == DW_OP_call_frame_cfa &&
			(ops[1].atom == DW_OP_stack_value ||
			 (ops[1].atom == DW_OP_plus_uconst &&
			  (int64_t)ops[1].number > -(1 << 14) &&
			  (int64_t)ops[1].number < (1 << 14)))))
		goto out;
	r.cfa_off = (int32_t)cfa_off;
	r.kind = (uint8_t)kind;
out:
	free(fr);
	return r;
}

/* Waiting for the lock is safe: a thread takes it only inside a hook, with
 * the re-entry guard held, so a signal handler's allocations on the same
 * thread pass through without coming here; libdw's own allocations do too. */
static void rule_fill(uint64_t ip, uint64_t *val)
{
	struct hl_quiet q;
	/* Quiet from before the lock is taken: a thread cancelled between
	 * the two would leave it held.  (Waiting for it with signals held
	 * is bounded: its holder is in libdw, quiet itself.) */
	hl_quiet_begin(&q);
	pthread_mutex_lock(&fill_lock);
	if (!rule_get(ip, val)) {
		*val = rule_pack(rule_compute(ip));
		rt_put(ip, *val);
		learned++;
	}
	pthread_mutex_unlock(&fill_lock);
	hl_quiet_end(&q);
	announce_module();
}

/* ---- per-thread state ---------------------------------------------------- */

#define UW_MAX (HL_DEPTH_MAX + 16)

/* A frame.  Stepping out of it (once the walk did) read the return address
 * at its CFA - 8 and, if it saves RBP, the caller's RBP at CFA + bp_off: the
 * CFA is the caller's sp, and what the words held the caller's ip and bp. */
struct uw_frame {
	uint64_t ip, sp, bp; /* on entry to the frame */
	int16_t bp_off;
	uint16_t wend; /* words of frames 1.. this one in the thread's w[] */
	uint8_t kind;  /* its rule; R_NONE: not looked up (the walk stopped) */
	uint8_t bp_saved;
	uint8_t bp_matters; /* its RBP decides frames further out */
	uint8_t pad;
};

/* This thread's copy of the rules it uses, direct-mapped by return address. */
#define RC_BITS 8

enum { T_LAST, T_READ, T_MAX };

struct uw_thread {
	uint64_t lo, hi; /* the thread's stack; hi 0: unknown, no reuse */
	unsigned gen;	 /* rules_gen of the rules f was walked with */
	unsigned n;	 /* frames in f */
	int usable;	 /* f may be re-read (all inside [lo, hi), in order) */
	int whole;	 /* the last stack returned was f[0..n), not cut short */
	int tail;	 /* how the walk that built f ended */
	uint64_t tail_cfa, tail_ra; /* T_READ: the word read at tail_cfa-8 */
	unsigned rc_gen;	    /* rules_gen of rc's rules */
	int cut_q;		    /* a walk that returned CUT: its junction in f */
	unsigned cut_m;		    /* ... and its new frames so far, in s */
	uint64_t cut_bad;
	struct uw_frame f[UW_MAX];  /* the previous walk, outermost first */
	/* The stack words that decide f, frame 1's first: for each frame
	 * but the outermost, the return address it was stepped out through,
	 * and the caller's RBP it saved if the caller's RBP matters
	 * (bp_matters).  A word whose value decides nothing is not there. */
	struct {
		const uint64_t *at;
		uint64_t v;
	} w[2 * UW_MAX];
	struct uw_frame s[UW_MAX];  /* this walk's new frames, innermost first */
	struct {
		uint64_t ip, rule;
	} rc[1u << RC_BITS];
};

static __thread struct uw_thread *uwt __attribute__((tls_model("initial-exec")));
static __thread int uwt_failed __attribute__((tls_model("initial-exec")));

static int libunwind_stack(uint64_t *buf, unsigned max);

static struct uw_thread *thread_state(void)
{
	if (uwt_failed)
		return NULL;
	struct uw_thread *t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED) {
		uwt_failed = 1;
		return NULL;
	}
	/* lo = hi = 0 (mmap's zeroes): no re-reads until learn() has the
	 * stack. */
	uwt = t;
	return t;
}

static int in_getattr(const uint64_t *ips, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (ips[i] - getattr_lo < getattr_hi - getattr_lo)
			return 1;
	return 0;
}

/* Asks glibc for the thread's stack, if pending and safe: ips[0..n) is
 * the thread's current stack (cut: at --depth), n 0 for "anywhere but
 * inside pthread_getattr_np" (the leak scan at exit). */
static __attribute__((noinline)) void learn(const uint64_t *ips, unsigned n, int cut)
{
	if (!(pending & PENDING_STACK))
		return;
	/* pthread_getattr_np holds the thread's lock while it allocates
	 * (its cpu set; for the main thread also fopen of /proc/self/maps):
	 * asking it from inside itself would wait on that lock forever. */
	if (in_getattr(ips, n))
		return;
	if (cut && n < 8) { /* a --depth too small to tell: look deeper */
		uint64_t more[8 + 16];
		if (in_getattr(more, (unsigned)libunwind_stack(more, 8)))
			return;
	}
	pthread_attr_t at;
	void *addr;
	size_t size;
	uint64_t lo = 0, hi = 0;
	struct hl_quiet q;
	hl_quiet_begin(&q);
	if (pthread_getattr_np(pthread_self(), &at) == 0) {
		if (pthread_attr_getstack(&at, &addr, &size) == 0) {
			lo = (uint64_t)(uintptr_t)addr;
			hi = lo + size;
		}
		pthread_attr_destroy(&at);
	}
	hl_quiet_end(&q);
	if (uwt) {
		uwt->lo = lo;
		uwt->hi = hi;
		uwt->usable = 0;
	}
	pending &= ~PENDING_STACK;
	if (hooks.stack_known)
		hooks.stack_known(lo, hi);
}

void hl_unwind_thread_new(void)
{
	pending |= PENDING_STACK;
	/* No re-reads (full walks, which learn the stack) until it is known
	 * again: a fork child's registry starts empty. */
	if (uwt)
		uwt->lo = uwt->hi = 0;
}

struct module_list {
	const struct link_map *map[MOD_MAX];
	unsigned n;
};

/* dl_iterate_phdr's callback: each module's link_map, from its first
 * PT_LOAD segment. */
static int list_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct module_list *l = arg;
	(void)size;
	for (int i = 0; i < info->dlpi_phnum && l->n < MOD_MAX; i++) {
		if (info->dlpi_phdr[i].p_type != PT_LOAD)
			continue;
		struct dl_find_object fo;
		if (_dl_find_object((void *)(uintptr_t)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr),
				    &fo) == 0 &&
		    fo.dlfo_link_map)
			l->map[l->n++] = fo.dlfo_link_map;
		break;
	}
	return 0;
}

void hl_unwind_open_modules(void)
{
	if (mode == HL_UNWIND_LIBUNWIND)
		return;
	/* Listed first, opened after: fill_lock is never held while asking
	 * the loader, whose lock a thread allocating inside its own
	 * dl_iterate_phdr callback holds while it waits for fill_lock. */
	struct module_list *l = mmap(NULL, sizeof(*l), PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (l == MAP_FAILED)
		return;
	struct hl_quiet q;
	hl_quiet_begin(&q);
	dl_iterate_phdr(list_one, l);
	hl_quiet_end(&q);
	pthread_mutex_lock(&fill_lock);
	for (unsigned i = 0; i < l->n; i++)
		mod_get(l->map[i]);
	pthread_mutex_unlock(&fill_lock);
	munmap(l, sizeof(*l));
	announce_module();
}

void hl_unwind_learn_stack(void)
{
	learn(NULL, 0, 0);
}

void hl_unwind_thread_end(void)
{
	if (uwt)
		munmap(uwt, sizeof(*uwt));
	uwt = NULL;
	/* What the thread frees after this (other destructors, libc's
	 * thread clean-up) goes to libunwind: a new state would leak. */
	uwt_failed = 1;
}

/* Every stack word that decided frames q..0 of the walk that built f still
 * holds what it held. */
static int suffix_same(const struct uw_thread *t, int q)
{
	uint64_t diff = 0;
	unsigned n = t->f[q].wend, j = 0;
	for (; j + 2 <= n; j += 2)
		diff |= (*t->w[j].at ^ t->w[j].v) | (*t->w[j + 1].at ^ t->w[j + 1].v);
	if (j < n)
		diff |= *t->w[j].at ^ t->w[j].v;
	if (t->tail == T_READ)
		diff |= *(const uint64_t *)(uintptr_t)(t->tail_cfa - 8) ^ t->tail_ra;
	return diff == 0;
}

/* Whether frame x's RBP decides anything further out, given the same for
 * the frame out of it (0 for the outermost).  The last frame of a walk cut
 * at max (kind R_NONE) may be stepped out of by a later walk that goes on
 * from it: its RBP may decide. */
static inline uint8_t bp_matters(const struct uw_frame *x, uint8_t up_matters)
{
	/* By kind and bp_saved: 0 never, 1 always, 2 as the frame out of it. */
	static const uint8_t how[R_LAST + 1][2] = {
	    [R_NONE] = {1, 1}, [R_RSP] = {2, 0}, [R_RBP] = {1, 1}, [R_LAST] = {0, 0}};
	uint8_t h = how[x->kind & 3][x->bp_saved & 1];
	return h == 2 ? up_matters : h;
}


/* This walk's m new frames (s, innermost first) become f[at..at+m), outermost
 * first, out of f[at-1] if at > 0. */
static inline __attribute__((always_inline)) void adopt(struct uw_thread *t, unsigned at,
							  unsigned m)
{
	struct uw_frame *x = &t->f[at];
	const struct uw_frame *src = &t->s[m];
	uint8_t up = 0;
	unsigned nw = 0;
	if (at) {
		up = x[-1].bp_matters;
		nw = x[-1].wend;
	} else if (m) { /* the outermost frame: no step out of it is read again */
		*x = *--src;
		x->wend = 0;
		x->bp_matters = up = bp_matters(x, 0);
		x++;
		m--;
	}
	for (; m; m--, x++) {
		*x = *--src;
		const struct uw_frame *y = x - 1; /* stepped out of x into y */
		t->w[nw].at = (const uint64_t *)(uintptr_t)(y->sp - 8);
		t->w[nw++].v = y->ip;
		if (x->bp_saved & up) {
			t->w[nw].at = (const uint64_t *)(uintptr_t)(y->sp + (int64_t)x->bp_off);
			t->w[nw++].v = y->bp;
		}
		x->wend = (uint16_t)nw;
		x->bp_matters = up = bp_matters(x, up);
	}
}

/* The rule for return address ip: this thread's copy, else the table's. */
static inline uint64_t rule_of(struct uw_thread *t, uint64_t ip)
{
	size_t h = (size_t)((ip * 0x9e3779b97f4a7c15ull) >> (64 - RC_BITS));
	if (likely(t->rc[h].ip == ip))
		return t->rc[h].rule;
	uint64_t v;
	if (unlikely(!rule_get(ip, &v)))
		rule_fill(ip, &v);
	t->rc[h].ip = ip;
	t->rc[h].rule = v;
	return v;
}

/* ---- the walk ------------------------------------------------------------ */

/* Frames q..1 of the previous walk become this walk's s[m..m+q) and
 * out[m..m+q).  Returns the new m.  Out of line: the hot path stays small. */
static __attribute__((noinline)) unsigned take_cut(struct uw_thread *t, int q, unsigned m,
						    uint64_t *out)
{
	for (int i = q; i >= 1; i--) {
		t->s[m] = t->f[i];
		out[m++] = t->f[i].ip;
	}
	return m;
}

static inline int walk(uint64_t *out, unsigned max, unsigned limit, unsigned *same, int write_all,
		const uint64_t *fp);
static int walk_on(uint64_t *out, unsigned max, unsigned limit, unsigned *same, int write_all);
#define CUT (-2) /* walk: walk_on goes on */
static void check(const uint64_t *ours, int n, unsigned max, const uint64_t *prev, unsigned same);

/* The modules of frames libunwind found, as if the walk had met them: a new
 * one is announced to the writer by this thread. */
static void meet_modules(const uint64_t *ips, unsigned n)
{
	const void *last = NULL;
	for (unsigned i = 0; i < n; i++) {
		struct dl_find_object fo;
		if (_dl_find_object((void *)(uintptr_t)(ips[i] - 1), &fo) != 0 ||
		    !fo.dlfo_link_map || fo.dlfo_link_map == last)
			continue;
		last = fo.dlfo_link_map;
		pthread_mutex_lock(&fill_lock);
		mod_get(fo.dlfo_link_map);
		pthread_mutex_unlock(&fill_lock);
		announce_module();
	}
}

/* libunwind's stack without our own frames, at most max of them, at buf[0]. */
static int libunwind_stack(uint64_t *buf, unsigned max)
{
	/* libunwind finds modules with dl_iterate_phdr (the loader's lock)
	 * and checks addresses through a pipe (cancellation points) */
	struct hl_quiet q;
	hl_quiet_begin(&q);
	int got = unw_backtrace((void **)buf, (int)max + 16);
	hl_quiet_end(&q);
	int skip = 0;
	while (skip < got && buf[skip] >= self_lo && buf[skip] < self_hi)
		skip++;
	int n = got - skip < (int)max ? got - skip : (int)max;
	memmove(buf, buf + skip, (size_t)n * 8);
	return n;
}

unsigned hl_unwind(uint64_t *buf, unsigned max, const uint64_t *prev, unsigned prev_len,
		   unsigned *same, const void *frame)
{
	int checking = unlikely(mode == HL_UNWIND_CHECK);
	*same = 0;
	int n = walk(buf, max, prev_len, same, checking, frame);
	if (unlikely(n == CUT))
		n = walk_on(buf, max, prev_len, same, checking);
	if (checking) {
		if (n >= 0)
			check(buf, n, max, prev, *same);
		else
			atomic_fetch_add(&n_fallback, 1);
	}
	if (n <= 0) {
		/* The stack recorded is not the saved walk's: the next walk
		 * must not take the saved frames for the previous stack. */
		if (uwt)
			uwt->usable = 0;
		*same = 0;
	}
	if (n < 0) {
		n = libunwind_stack(buf, max);
		if (mode != HL_UNWIND_LIBUNWIND)
			meet_modules(buf, (unsigned)n);
		learn(buf, (unsigned)n, (unsigned)n == max);
	}
	return (unsigned)n;
}

/* The walk, from our caller's frame (resume 0), or on from where a walk
 * that returned CUT stopped (resume 1).  Two copies, each with resume
 * known, so the first's code is the same as with no resume at all; the
 * first is inlined into hl_unwind (one call less per event: ~35
 * instructions of ~600 in a tight loop), the second is out of line. */
static inline __attribute__((always_inline)) int walk_from(uint64_t *out, unsigned max,
							    unsigned limit, unsigned *same,
							    int write_all, const uint64_t *fp,
							    int resume)
{
	if (mode == HL_UNWIND_LIBUNWIND || max == 0)
		return -1;
	struct uw_thread *t = uwt ? uwt : thread_state();
	if (unlikely(!t))
		return -1;

	unsigned gen = atomic_load_explicit(&rules_gen, memory_order_acquire);
	/* Re-reads stay inside the thread's stack [lo, hi): every frame's RSP
	 * is in it (the first's, then each caller's above the last), and so is
	 * the saved RBP word a step reads, above the frame's RSP. */
	const uint64_t lo = t->lo, hi = t->hi;
	uint64_t ip, sp, bp, bad; /* bad nonzero: some re-read would not */
	unsigned m = 0;
	int q;
	if (likely(!resume)) {
		/* Our own frames all keep RBP as a frame pointer: follow it
		 * from the caller's frame to the first return address outside
		 * this library. */
		for (int i = 0;; i++) {
			uint64_t ra = fp[1];
			if (ra < self_lo || ra >= self_hi) {
				ip = ra;
				sp = (uint64_t)(uintptr_t)(fp + 2);
				bp = fp[0];
				break;
			}
			const uint64_t *next = (const uint64_t *)(uintptr_t)fp[0];
			if (i == 16 || next <= fp ||
			    (uintptr_t)next - (uintptr_t)fp > (1u << 20))
				return -1;
			fp = next;
		}
		if (ip < 0x4000)
			return 0;
		if (unlikely(t->rc_gen != gen)) { /* the rules were dropped */
			memset(t->rc, 0, sizeof(t->rc));
			t->rc_gen = gen;
		}
		bad = sp - lo >= hi - lo;
		q = t->usable && t->gen == gen && !bad ? (int)t->n - 1 : -1;
	} else {
		/* The walk that returned CUT found the previous walk's frames
		 * q..1 to be this stack's, and so is its f[0], which it never
		 * stepped out of (an RBP it got from there in was matched):
		 * go on from f[0]. */
		if (t->gen != gen || t->rc_gen != gen)
			return -1;
		m = take_cut(t, t->cut_q, t->cut_m, out);
		ip = t->f[0].ip;
		sp = t->f[0].sp;
		bp = t->f[0].bp;
		bad = t->cut_bad;
		q = -1;
	}
	int tail;
	uint64_t tail_cfa = 0, tail_ra = 0;
	for (;;) {
		if (q >= 0) {
			while (q >= 0 && t->f[q].sp < sp)
				q--;
			if (q >= 0 && t->f[q].sp == sp && t->f[q].ip == ip &&
			    (!t->f[q].bp_matters || t->f[q].bp == bp) &&
			    m + (unsigned)q + 1 <= UW_MAX && suffix_same(t, q)) {
				if (t->tail == T_MAX && m + (unsigned)q + 1 < max) {
					/* The previous walk stopped at max
					 * before the frames this one needs. */
					t->cut_q = q;
					t->cut_m = m;
					t->cut_bad = bad;
					return CUT;
				}
				/* Frames q..0 of the previous walk are this
				 * stack's from here out.  When they all fit,
				 * they are the previous stack's outermost
				 * frames too: up to limit of them are left out
				 * of out[], for the caller has them. */
				unsigned total = m + (unsigned)q + 1, skip = 0;
				if (total <= max && t->whole) {
					skip = (unsigned)q + 1 < limit ? (unsigned)q + 1 : limit;
					*same = skip;
				}
				t->whole = total <= max;
				if (total > max)
					total = max;
				if (write_all)
					skip = 0;
				for (int i = q, at = (int)m; at < (int)total && i >= (int)skip; i--)
					out[at++] = t->f[i].ip;
				adopt(t, (unsigned)q + 1, m);
				t->usable = t->usable && !bad;
				t->n = (unsigned)q + 1 + m;
				return (int)total;
			}
		}
		struct uw_frame *x = &t->s[m];
		x->ip = ip;
		x->sp = sp;
		x->bp = bp;
		out[m++] = ip;
		if (m == max) {
			x->kind = R_NONE;
			x->bp_saved = 0;
			x->bp_off = 0;
			tail = T_MAX;
			break;
		}
		struct rule r = rule_unpack(rule_of(t, ip));
		x->kind = r.kind;
		x->bp_saved = r.bp_saved;
		x->bp_off = r.bp_off;
		if (r.kind == R_NONE)
			return -1;
		if (r.kind == R_LAST) {
			tail = T_LAST;
			break;
		}
		uint64_t cfa = (r.kind == R_RSP ? sp : bp) + (int64_t)r.cfa_off;
		uint64_t ra = *(const uint64_t *)(uintptr_t)(cfa - 8);
		bad |= (cfa <= sp) | (cfa >= hi);
		if (r.bp_saved) {
			uint64_t a = cfa + (int64_t)r.bp_off;
			bp = *(const uint64_t *)(uintptr_t)a;
			bad |= (a < sp) | (a + 8 > hi);
		}
		sp = cfa;
		if (ra < 0x4000) {
			tail = T_READ;
			tail_cfa = cfa;
			tail_ra = ra;
			break;
		}
		ip = ra;
		if (q >= 0 && sp <= x->sp)
			q = -1; /* the stack runs the wrong way: no reuse */
	}

	/* A full walk: its frames become the thread's.  Before the thread's
	 * stack is known every walk is one (no re-reads): learn it here. */
	if (unlikely(hi == 0))
		learn(out, m, tail == T_MAX);
	adopt(t, 0, m);
	int usable = !bad;
	t->n = m;
	t->whole = 1;
	t->gen = gen;
	t->tail = tail;
	t->tail_cfa = tail_cfa;
	t->tail_ra = tail_ra;
	t->usable = usable;
	return (int)m;
}

static inline __attribute__((always_inline)) int walk(uint64_t *out, unsigned max,
						      unsigned limit, unsigned *same,
						      int write_all, const uint64_t *fp)
{
	return walk_from(out, max, limit, same, write_all, fp, 0);
}

__attribute__((noinline)) static int walk_on(uint64_t *out, unsigned max, unsigned limit,
					    unsigned *same, int write_all)
{
	return walk_from(out, max, limit, same, write_all, NULL, 1);
}

/* ---- set-up, dlclose, fork, check mode ----------------------------------- */


void hl_unwind_init(const char *how, uint64_t lo, uint64_t hi, const struct hl_unwind_hooks *h)
{
	hooks = *h;
	self_lo = lo;
	self_hi = hi;
	void *ga = dlsym(RTLD_NEXT, "pthread_getattr_np");
	const ElfW(Sym) *sym = NULL;
	Dl_info di;
	if (ga && dladdr1(ga, &di, (void **)&sym, RTLD_DL_SYMENT) && sym) {
		getattr_lo = (uint64_t)(uintptr_t)ga;
		getattr_hi = getattr_lo + (sym->st_size ? sym->st_size : 1);
	}
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	mode = HL_UNWIND_FAST;
	if (how && !strcmp(how, "libunwind"))
		mode = HL_UNWIND_LIBUNWIND;
	else if (how && !strcmp(how, "check"))
		mode = HL_UNWIND_CHECK;
	if (mode == HL_UNWIND_LIBUNWIND)
		return;
	struct rtab *t = rt_new(RT_MIN_BITS);
	if (!t || elf_version(EV_CURRENT) == EV_NONE) {
		mode = HL_UNWIND_LIBUNWIND;
		return;
	}
	atomic_store_explicit(&rt, t, memory_order_release);
}

void hl_unwind_forget(void)
{
	if (mode == HL_UNWIND_LIBUNWIND)
		return;
	pthread_mutex_lock(&fill_lock);
	rt_clear();
	mods_drop();
	atomic_fetch_add_explicit(&rules_gen, 1, memory_order_release);
	pthread_mutex_unlock(&fill_lock);
}

void hl_unwind_trim(void)
{
	static unsigned long trimmed;

	if (mode == HL_UNWIND_LIBUNWIND || pthread_mutex_trylock(&fill_lock))
		return;
	if (learned != trimmed) {
		trimmed = learned;
		for (unsigned i = 0; i < nmods; i++)
			if (mods[i].file)
				madvise(mods[i].file, mods[i].file_len, MADV_DONTNEED);
	}
	pthread_mutex_unlock(&fill_lock);
}

void hl_unwind_fork_child(void)
{
	/* Another thread of the parent may have held the lock, or been
	 * inside libdw: start over (the old module handles are left). */
	pthread_mutex_init(&fill_lock, NULL);
	if (mode == HL_UNWIND_LIBUNWIND)
		return;
	rt_clear();
	nmods = 0;
	atomic_store(&n_checked, 0);
	atomic_store(&n_differ, 0);
	atomic_store(&n_fallback, 0);
}

/* Our stack against libunwind's, and the outer frames we claim to share
 * with the previous stack against it. */
static void check(const uint64_t *ours, int n, unsigned max, const uint64_t *prev, unsigned same)
{
	uint64_t theirs[HL_DEPTH_MAX + 16];
	int m = libunwind_stack(theirs, max);
	unsigned i = 0;
	atomic_fetch_add(&n_checked, 1);
	while (i < same && ours[n - 1 - i] == prev[i])
		i++;
	if (n == m && !memcmp(ours, theirs, (size_t)n * 8) && i == same)
		return;
	if (atomic_fetch_add(&n_differ, 1) < 5) {
		char msg[256];
		int len = snprintf(msg, sizeof(msg),
				   "heapline: unwind check: %d frames vs libunwind's %d, first "
				   "%#llx vs %#llx, %u of %u shared outer frames right\n",
				   n, m, n > 0 ? (unsigned long long)ours[0] : 0ull,
				   m > 0 ? (unsigned long long)theirs[0] : 0ull, i, same);
		if (len > 0)
			(void)!write(2, msg, (size_t)len);
	}
}

void hl_unwind_report(void)
{
	if (mode != HL_UNWIND_CHECK)
		return;
	char msg[160];
	int len = snprintf(msg, sizeof(msg),
			   "heapline: unwind check: %llu stacks compared, %llu differ, %llu left "
			   "to libunwind\n",
			   (unsigned long long)atomic_load(&n_checked),
			   (unsigned long long)atomic_load(&n_differ),
			   (unsigned long long)atomic_load(&n_fallback));
	if (len > 0)
		(void)!write(2, msg, (size_t)len);
}
