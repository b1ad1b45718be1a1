/* hl_leakscan.c — the conservative reachability scan of leak-scan mode
 * (HEAPLINE_LEAK_SCAN=1): classifies every block live at the LEAK_SCAN event
 * into memcheck's four classes and writes the result as HL_REC_LEAKS
 * records.  Exports hl_leakscan_run (writer thread) and hl_leakscan_prepare
 * (the thread calling exit), hl_leak.h.  The scan runs on the writer thread;
 * never calls malloc (memory from hl_arena), never dereferences the
 * program's memory: every read goes through process_vm_readv on our own pid
 * (or pread of /proc/self/mem where a seccomp filter forbids it), so a page
 * another thread unmaps meanwhile is a short read, not a crash.  Neither
 * needs ptrace permission: the kernel lets a process inspect itself.
 *
 * Roots (memcheck's: every readable+writable mapping, less the heap):
 *   - every rw mapping of /proc/self/maps — modules' data and bss, the
 *     main thread's static TLS and ld.so's data, the program's own mmaps —
 *     except [heap], devices, glibc's per-thread arenas (found from the
 *     64 MiB windows blocks were allocated in, checked against heap_info),
 *     the live blocks themselves (scanned only when reached), and the
 *     profiler's own memory (its module, ring, arena, the writer's stack),
 *     which holds raw pointers to everything;
 *   - each registered live thread's stack (with its static TLS, at the top
 *     of the mapping) from its stack pointer up: the requester's from the
 *     sp it passed (its callee-saved registers spilled above it); another
 *     thread's from the sp /proc/self/task/TID/syscall shows while it is
 *     blocked in a system call (less memcheck's 128-byte red zone), or the
 *     whole stack if it is running;
 *   - stacks of threads that exited (glibc's stack cache) are not roots.
 * The requester's stack is read from the frame that called exit(): the exit
 * machinery's frames below it (exit, _dl_fini, our destructor) hold nothing
 * of the program's, but their unwritten slots still hold whatever the
 * program's dead frames left there, which memcheck (knowing those bytes are
 * undefined) ignores and a scan cannot tell apart.  The registers that frame
 * had (callee-saved, recovered by unwinding) are roots instead.
 * Registers of other threads are not visible without ptrace: a pointer held
 * only in a register of a thread still running at exit is missed.
 *
 * Classes (memcheck's algorithm, mc_leakcheck.c):
 *   1. mark from the roots: a pointer to a block's start (or an interior
 *      pointer memcheck's heuristics accept: stdstring, length64, newarray)
 *      makes it reachable when the pointing memory is a root or a reachable
 *      block; any other pointer into it makes it possibly lost.  Contents of
 *      marked blocks are scanned transitively; a block seen first as possible
 *      and later as reachable is scanned again.
 *   2. for each block still unreached, in address order (the clique leader):
 *      every unreached block reachable from it, by any pointer, becomes
 *      indirectly lost and joins its clique; the leaders left are
 *      definitely lost.
 * Only 8-byte-aligned words count as pointers, a block is its requested
 * size, and a 0-byte block is pointed to by its own address: as memcheck.
 * glibc's own raw pointers to chunk headers are not taken for pointers into
 * the block before (chunk_header_ptr).
 *
 * Speed: blocks are sorted once (radix), a hash of 4 KiB pages finds the
 * block a word points into, and small blocks are read through a cache of
 * 32 KiB windows (one system call serves the neighbours too). */
#include <errno.h>
#include <fcntl.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "hl_arena.h"
#include "hl_encode.h"
#include "hl_format.h"
#include "hl_leak.h"
#include "hl_ring.h"
#include "hl_state.h"

#define PAGE	       4096u
#define READ_BUF       (1u << 20) /* bytes read per system call at most */
#define WIN_SHIFT      15	  /* block contents are read 32 KiB at a time */
#define WIN_SIZE       (1u << WIN_SHIFT)
#define NWIN	       128 /* windows kept: 4 MiB, direct-mapped */
#define RED_ZONE       128 /* below sp, still the thread's (x86-64 ABI) */
#define ARENA_HEAP_MAX (1ull << HL_LIVE_WINDOW_SHIFT) /* glibc HEAP_MAX_SIZE, 64-bit */
#define PART_ENTRIES   65536			      /* blocks per LEAKS record */

enum { UNREACHED = 0, POSSIBLE, REACHABLE, INDIRECT };

struct range {
	uint64_t lo, hi;
};

struct ranges {
	struct range *v;
	size_t n, cap;
};

struct page_ent {
	uint64_t page;	 /* page number + 1; 0 = empty */
	uint32_t lo, hi; /* blocks [lo, hi) overlap it */
};

struct scan {
	/* live blocks, sorted by address */
	uint64_t n, alloc_n; /* alloc_n: what the arrays were sized for */
	uint64_t *ptr, *size;
	uint8_t *state;
	uint64_t min_ptr, max_end;
	/* page index: 4 KiB page -> the blocks overlapping it, so that most
	 * words that are no pointer cost one probe, and a pointer a short
	 * binary search over its page's blocks */
	struct page_ent *pages;
	uint64_t page_mask; /* capacity - 1; 0 = no index, search everything */
	/* mark stack */
	uint32_t *stack;
	uint64_t top, stack_cap;
	/* memory access */
	pid_t pid;
	int memfd;  /* /proc/self/mem, when process_vm_readv is refused */
	int use_vm; /* 1: process_vm_readv works */
	uint8_t *buf;
	/* a cache of the program's memory for block contents, in aligned
	 * windows: blocks sit packed in the heap, so one system call reads
	 * hundreds of them */
	uint8_t *winmem;
	uint64_t win_base[NWIN];  /* window address + 1; 0 = empty */
	uint32_t win_valid[NWIN]; /* bytes that could be read from its start */
	/* root candidates and exclusions */
	struct ranges maps, excl, stacks_live, roots;
	uint64_t requester_sp;
	uint32_t flags;
	/* statistics */
	uint64_t root_bytes, block_bytes;
	int nomem;
};

/* Set by the requester before it commits the LEAK_SCAN event (the ring's
 * commit/peek order makes it visible to the writer); in our own bss, never
 * a root itself. */
static struct {
	uint64_t regs[8];
	unsigned n;
} request;

uint64_t hl_leakscan_prepare(uint64_t fallback_sp)
{
#if defined(__x86_64__)
	static const int callee_saved[] = {UNW_X86_64_RBX, UNW_X86_64_RBP, UNW_X86_64_R12,
					   UNW_X86_64_R13, UNW_X86_64_R14, UNW_X86_64_R15};
#else
	static const int callee_saved[] = {UNW_REG_SP}; /* TODO: this architecture's */
#endif
	unw_context_t uc;
	unw_cursor_t c;
	unw_proc_info_t pi;
	uint64_t exit_fn = (uint64_t)(uintptr_t)&exit;

	request.n = 0;
	if (unw_getcontext(&uc) || unw_init_local(&c, &uc))
		return fallback_sp;
	for (int depth = 0; depth < 64 && unw_step(&c) > 0; depth++) {
		if (unw_get_proc_info(&c, &pi) || pi.start_ip != exit_fn)
			continue;
		/* c is exit's frame; one more step is its caller's */
		unw_word_t sp, v;
		if (unw_step(&c) <= 0 || unw_get_reg(&c, UNW_REG_SP, &sp))
			return fallback_sp;
		for (unsigned i = 0; i < sizeof(callee_saved) / sizeof(callee_saved[0]); i++)
			if (!unw_get_reg(&c, callee_saved[i], &v))
				request.regs[request.n++] = v;
		return sp;
	}
	return fallback_sp;
}

/* ---- small helpers ----------------------------------------------------------- */

static void *grow(void *p, size_t *cap, size_t elem, size_t need)
{
	if (need <= *cap)
		return p;
	size_t nc = *cap ? *cap * 2 : 64;
	while (nc < need)
		nc *= 2;
	void *q = hl_arena_grow(p, *cap * elem, nc * elem);
	if (q)
		*cap = nc;
	return q;
}

static void ranges_add(struct scan *s, struct ranges *r, uint64_t lo, uint64_t hi)
{
	if (lo >= hi)
		return;
	struct range *v = grow(r->v, &r->cap, sizeof(*v), r->n + 1);
	if (!v) {
		s->nomem = 1;
		return;
	}
	r->v = v;
	r->v[r->n].lo = lo;
	r->v[r->n].hi = hi;
	r->n++;
}

static void ranges_free(struct ranges *r)
{
	hl_arena_free(r->v, r->cap * sizeof(*r->v));
	memset(r, 0, sizeof(*r));
}

/* Sorts by lo (insertion sort: these lists are short) and merges overlaps. */
static void ranges_normalize(struct ranges *r)
{
	for (size_t i = 1; i < r->n; i++) {
		struct range x = r->v[i];
		size_t j = i;
		while (j > 0 && r->v[j - 1].lo > x.lo) {
			r->v[j] = r->v[j - 1];
			j--;
		}
		r->v[j] = x;
	}
	size_t o = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (o && r->v[i].lo <= r->v[o - 1].hi) {
			if (r->v[i].hi > r->v[o - 1].hi)
				r->v[o - 1].hi = r->v[i].hi;
		} else {
			r->v[o++] = r->v[i];
		}
	}
	r->n = o;
}

static uint64_t page_down(uint64_t a)
{
	return a & ~(uint64_t)(PAGE - 1);
}

static uint64_t page_up(uint64_t a)
{
	return (a + PAGE - 1) & ~(uint64_t)(PAGE - 1);
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- reading the program's memory -------------------------------------------- */

/* Reads up to len bytes at addr into dst.  Returns the bytes read from the
 * start (a short count: the page after them is not readable now). */
static size_t read_mem(struct scan *s, void *dst, uint64_t addr, size_t len)
{
	if (s->use_vm) {
		struct iovec l = {dst, len}, r = {(void *)(uintptr_t)addr, len};
		ssize_t n = process_vm_readv(s->pid, &l, 1, &r, 1, 0);
		return n > 0 ? (size_t)n : 0;
	}
	if (s->memfd < 0)
		return 0;
	size_t done = 0;
	while (done < len) {
		ssize_t n =
		    pread(s->memfd, (uint8_t *)dst + done, len - done, (off_t)(addr + done));
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return done;
}

static void open_memory(struct scan *s)
{
	s->pid = getpid();
	s->memfd = -1;
	uint64_t probe = 0, src = 0x5a5a;
	struct iovec l = {&probe, sizeof(probe)}, r = {&src, sizeof(src)};
	if (process_vm_readv(s->pid, &l, 1, &r, 1, 0) == sizeof(probe) && probe == src) {
		s->use_vm = 1;
		return;
	}
	s->memfd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	s->flags |= HL_LEAKS_PROC_MEM;
}

/* ---- the live blocks ----------------------------------------------------------- */

/* LSD radix sort of (ptr, size) by ptr, 16 bits a pass, skipping passes in
 * which every key has the same digit (the high bits of heap addresses). */
static int sort_blocks(struct scan *s, struct hl_live_block *a, uint64_t n)
{
	size_t bytes = (size_t)n * sizeof(*a);
	struct hl_live_block *tmp = hl_arena_alloc(bytes ? bytes : 1);
	uint32_t *count = hl_arena_alloc(65536 * sizeof(uint32_t));
	if (!tmp || !count) {
		hl_arena_free(tmp, bytes ? bytes : 1);
		hl_arena_free(count, 65536 * sizeof(uint32_t));
		return -ENOMEM;
	}
	for (unsigned shift = 0; shift < 64; shift += 16) {
		memset(count, 0, 65536 * sizeof(uint32_t));
		for (uint64_t i = 0; i < n; i++)
			count[(a[i].ptr >> shift) & 0xffff]++;
		if (n && count[(a[0].ptr >> shift) & 0xffff] == n)
			continue;
		uint32_t sum = 0;
		for (unsigned d = 0; d < 65536; d++) {
			uint32_t c = count[d];
			count[d] = sum;
			sum += c;
		}
		for (uint64_t i = 0; i < n; i++)
			tmp[count[(a[i].ptr >> shift) & 0xffff]++] = a[i];
		memcpy(a, tmp, bytes);
	}
	hl_arena_free(tmp, bytes ? bytes : 1);
	hl_arena_free(count, 65536 * sizeof(uint32_t));
	(void)s;
	return 0;
}

static void index_pages(struct scan *s);

static int load_blocks(struct scan *s)
{
	uint64_t n = hl_live_count();
	struct hl_live_block *a = hl_arena_alloc((n ? n : 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	n = hl_live_collect(a, n);
	if (sort_blocks(s, a, n)) {
		hl_arena_free(a, (n ? n : 1) * sizeof(*a));
		return -ENOMEM;
	}
	s->n = s->alloc_n = n;
	s->ptr = hl_arena_alloc((n ? n : 1) * sizeof(uint64_t));
	s->size = hl_arena_alloc((n ? n : 1) * sizeof(uint64_t));
	s->state = hl_arena_alloc(n ? n : 1);
	s->stack_cap = 2 * n + 16;
	s->stack = hl_arena_alloc(s->stack_cap * sizeof(uint32_t));
	if (!s->ptr || !s->size || !s->state || !s->stack) {
		hl_arena_free(a, (n ? n : 1) * sizeof(*a));
		return -ENOMEM;
	}
	s->min_ptr = ~0ull;
	s->max_end = 0;
	for (uint64_t i = 0; i < n; i++) {
		s->ptr[i] = a[i].ptr;
		s->size[i] = a[i].size;
		uint64_t end = a[i].ptr + (a[i].size ? a[i].size : 1);
		if (a[i].ptr < s->min_ptr)
			s->min_ptr = a[i].ptr;
		if (end > s->max_end)
			s->max_end = end;
	}
	hl_arena_free(a, (n ? n : 1) * sizeof(*a));
	index_pages(s);
	return 0;
}

static inline uint64_t page_home(const struct scan *s, uint64_t page)
{
	return (page * 0x9e3779b97f4a7c15ull >> 24) & s->page_mask;
}

/* Builds the page index (optional: without memory for it, every lookup
 * searches all blocks). */
static void index_pages(struct scan *s)
{
	uint64_t npages = 0, last = ~0ull;
	for (uint64_t i = 0; i < s->n; i++) {
		uint64_t first = s->ptr[i] >> 12,
			 end = (s->ptr[i] + (s->size[i] ? s->size[i] : 1) - 1) >> 12;
		npages += end - (first == last ? first : first - 1);
		last = end;
	}
	uint64_t cap = 1024;
	while (cap < 2 * npages)
		cap *= 2;
	s->pages = hl_arena_alloc(cap * sizeof(struct page_ent));
	if (!s->pages)
		return;
	s->page_mask = cap - 1;
	for (uint64_t i = 0; i < s->n; i++) {
		uint64_t first = s->ptr[i] >> 12,
			 end = (s->ptr[i] + (s->size[i] ? s->size[i] : 1) - 1) >> 12;
		for (uint64_t pg = first; pg <= end; pg++) {
			uint64_t h = page_home(s, pg);
			while (s->pages[h].page && s->pages[h].page != pg + 1)
				h = (h + 1) & s->page_mask;
			if (!s->pages[h].page) {
				s->pages[h].page = pg + 1;
				s->pages[h].lo = (uint32_t)i;
			}
			s->pages[h].hi = (uint32_t)i + 1;
		}
	}
}

/* The block whose [ptr, ptr + size) holds v (a 0-byte block: v == ptr), or -1. */
static int64_t find_block(const struct scan *s, uint64_t v)
{
	if (v < s->min_ptr || v >= s->max_end)
		return -1;
	uint64_t lo = 0, hi = s->n; /* first index with ptr > v */
	if (s->page_mask) {
		uint64_t pg = v >> 12, h = page_home(s, pg);
		while (s->pages[h].page != pg + 1) {
			if (!s->pages[h].page)
				return -1; /* no block on this page */
			h = (h + 1) & s->page_mask;
		}
		lo = s->pages[h].lo;
		hi = s->pages[h].hi;
	}
	uint64_t first = lo;
	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;
		if (s->ptr[mid] <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == first)
		return -1;
	uint64_t i = lo - 1;
	if (v - s->ptr[i] < s->size[i] || v == s->ptr[i])
		return (int64_t)i;
	return -1;
}

/* First block index whose end is above addr (blocks do not overlap). */
static uint64_t first_block_after(const struct scan *s, uint64_t addr)
{
	uint64_t lo = 0, hi = s->n;
	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;
		if (s->ptr[mid] + (s->size[mid] ? s->size[mid] : 1) <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* memcheck's heuristics (mc_leakcheck.c, heuristic_reachedness): interior
 * pointers that common code keeps instead of the start pointer.  The
 * multiple-inheritance one needs C++ vtable symbols and is not done. */
static int heuristic_start(struct scan *s, uint64_t i, uint64_t v)
{
	uint64_t off = v - s->ptr[i], sz = s->size[i], w[2];
	if (off != 8 && off != 24)
		return 0;
	if (read_mem(s, w, s->ptr[i], sizeof(w)) != sizeof(w))
		return 0;
	if (off == 24) /* stdstring: length, capacity, refcount, chars */
		return 24 + w[1] + 1 == sz && w[0] <= w[1];
	if (w[0] > 0 && sz - 8 == w[0]) /* length64 */
		return 1;
	return w[0] > 0 && (sz - 8) % w[0] == 0; /* newarray */
}

/* glibc's malloc keeps raw pointers to chunk headers: the arena's top and
 * last-remainder chunks and the bins' fd/bk links (tcache and fastbin links
 * are mangled).  A chunk header sits 16 bytes before its block, which puts
 * it in the last 8 bytes of the previous block's requested size whenever
 * that block fills its chunk, and such a pointer - in libc's main_arena, a
 * root, or stale in a block's uninitialised bytes - would make that block
 * "possibly lost".  memcheck never sees these (its malloc keeps no such
 * pointers, and it ignores undefined bytes), so neither do we: a pointer at
 * exactly request2size(size) - 16 into a block whose next 8 bytes read as an
 * in-use chunk's size field (or whose next block starts 16 bytes on) is not
 * a pointer to that block. */
static int chunk_header_ptr(struct scan *s, uint64_t i, uint64_t v)
{
	uint64_t sz = s->size[i];
	uint64_t csize = sz + 8 + 15 < 32 ? 32 : (sz + 8 + 15) & ~15ull;
	if (v - s->ptr[i] != csize - 16)
		return 0;
	if (i + 1 < s->n && s->ptr[i + 1] == v + 16)
		return 1;
	uint64_t next_size;
	if (read_mem(s, &next_size, v + 8, sizeof(next_size)) != sizeof(next_size))
		return 0;
	return (next_size & 1) && (next_size & ~7ull) >= 32 && !(next_size & 8);
}

static void push(struct scan *s, uint64_t i)
{
	if (s->top < s->stack_cap)
		s->stack[s->top++] = (uint32_t)i;
	else
		s->nomem = 1; /* cannot happen: each block is pushed at most twice */
}

/* ---- scanning words ---------------------------------------------------------- */

/* Phase 1: memory that is a root (prior_definite) or the contents of a block
 * marked reachable (prior_definite) or possibly lost (not). */
static void mark_words(struct scan *s, const uint64_t *w, size_t nw, int prior_definite)
{
	for (size_t k = 0; k < nw; k++) {
		uint64_t v = w[k];
		if (v < s->min_ptr || v >= s->max_end)
			continue;
		int64_t i = find_block(s, v);
		if (i < 0 || s->state[i] == REACHABLE)
			continue;
		int start = v == s->ptr[i];
		if (!start && chunk_header_ptr(s, (uint64_t)i, v))
			continue;
		start = start || heuristic_start(s, (uint64_t)i, v);
		if (start && prior_definite) {
			s->state[i] = REACHABLE;
			push(s, (uint64_t)i);
		} else if (s->state[i] == UNREACHED) {
			s->state[i] = POSSIBLE;
			push(s, (uint64_t)i);
		}
	}
}

/* Phase 2: the contents of a block of the clique led by `leader`. */
static void clique_words(struct scan *s, const uint64_t *w, size_t nw, uint64_t leader)
{
	for (size_t k = 0; k < nw; k++) {
		uint64_t v = w[k];
		if (v < s->min_ptr || v >= s->max_end)
			continue;
		int64_t i = find_block(s, v);
		if (i < 0 || (uint64_t)i == leader || s->state[i] != UNREACHED)
			continue;
		if (v != s->ptr[i] && chunk_header_ptr(s, (uint64_t)i, v))
			continue;
		s->state[i] = INDIRECT;
		push(s, (uint64_t)i);
	}
}

static void scan_words(struct scan *s, const uint8_t *buf, size_t len, int phase, int prior,
		       uint64_t leader)
{
	size_t nw = len / 8;
	if (phase == 1)
		mark_words(s, (const uint64_t *)buf, nw, prior);
	else
		clique_words(s, (const uint64_t *)buf, nw, leader);
}

/* Reads and scans [lo, hi) (lo 8-aligned) in buffer-sized pieces, skipping
 * unreadable pages. */
static void scan_memory(struct scan *s, uint64_t lo, uint64_t hi, int phase, int prior,
			uint64_t leader, uint64_t *counter)
{
	lo = (lo + 7) & ~7ull;
	while (lo + 8 <= hi) {
		size_t want = hi - lo > READ_BUF ? READ_BUF : (size_t)(hi - lo);
		size_t got = read_mem(s, s->buf, lo, want);
		if (got >= 8) {
			scan_words(s, s->buf, got & ~(size_t)7, phase, prior, leader);
			*counter += got & ~(size_t)7;
		}
		if (got == want) {
			lo += want;
		} else {
			/* skip the page that failed */
			lo = page_up(lo + got + 1);
		}
	}
}

/* The bytes of [addr, addr + len) from the window cache, or NULL when
 * they straddle two windows or could not be read (then read them alone). */
static const uint8_t *cached(struct scan *s, uint64_t addr, size_t len)
{
	uint64_t base = addr & ~(uint64_t)(WIN_SIZE - 1);
	/* a big block is read alone: a window around it would mostly be
	 * other blocks, read again and again as windows get evicted */
	if (!s->winmem || len >= WIN_SIZE / 32 || addr + len > base + WIN_SIZE)
		return NULL;
	unsigned w = (unsigned)(base >> WIN_SHIFT) % NWIN;
	uint8_t *mem = s->winmem + (size_t)w * WIN_SIZE;
	if (s->win_base[w] != base + 1) {
		s->win_base[w] = base + 1;
		s->win_valid[w] = (uint32_t)read_mem(s, mem, base, WIN_SIZE);
		s->block_bytes += s->win_valid[w];
	}
	if (addr + len - base > s->win_valid[w])
		return NULL;
	return mem + (addr - base);
}

/* Scans every block on the mark stack until it is empty. */
static void drain_stack(struct scan *s, int phase, uint64_t leader)
{
	while (s->top) {
		uint32_t i = s->stack[--s->top];
		size_t len = (size_t)(s->size[i] & ~7ull);
		int prior = s->state[i] == REACHABLE;
		const uint8_t *p = cached(s, s->ptr[i], len);
		if (p)
			scan_words(s, p, len, phase, prior, leader);
		else
			scan_memory(s, s->ptr[i], s->ptr[i] + len, phase, prior, leader,
				    &s->block_bytes);
	}
}

/* Scans a root range, leaving out the live blocks inside it. */
static void scan_root(struct scan *s, uint64_t lo, uint64_t hi)
{
	uint64_t i = first_block_after(s, lo);
	while (lo < hi) {
		uint64_t gap_end = hi;
		if (i < s->n && s->ptr[i] < hi)
			gap_end = s->ptr[i] > lo ? s->ptr[i] : lo;
		if (gap_end > lo)
			scan_memory(s, lo, gap_end, 1, 1, 0, &s->root_bytes);
		if (i >= s->n || s->ptr[i] >= hi)
			break;
		lo = s->ptr[i] + (s->size[i] ? s->size[i] : 1);
		i++;
	}
	drain_stack(s, 1, 0);
}

/* ---- the root set -------------------------------------------------------------- */

static int parse_hex(const char **pp, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	int n = 0;
	for (;; p++, n++) {
		unsigned d;
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (*p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else
			break;
		v = v << 4 | d;
	}
	*pp = p;
	*out = v;
	return n ? 0 : -1;
}

static int has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* One line of /proc/self/maps: keeps readable+writable mappings that may
 * hold roots. */
static void maps_line(struct scan *s, const char *line)
{
	uint64_t lo, hi;
	const char *p = line;
	if (parse_hex(&p, &lo) || *p++ != '-' || parse_hex(&p, &hi) || *p++ != ' ')
		return;
	if (p[0] != 'r' || p[1] != 'w')
		return;
	/* the path: after five fields */
	for (int f = 0; f < 4 && *p; f++) {
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
	}
	if (*p == '[' && !has_prefix(p, "[stack") && !has_prefix(p, "[anon"))
		return; /* [heap], [vvar], [vsyscall], ... */
	if (has_prefix(p, "/dev/") && !has_prefix(p, "/dev/zero") && !has_prefix(p, "/dev/shm/"))
		return; /* device memory: reading it may have effects */
	ranges_add(s, &s->maps, lo, hi);
}

static void read_maps(struct scan *s)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char *buf = (char *)s->buf;
	size_t have = 0;
	for (;;) {
		ssize_t n = read(fd, buf + have, READ_BUF - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			maps_line(s, line);
			line = nl + 1;
		}
		have = (size_t)(buf + have - line);
		memmove(buf, line, have);
		if (have >= READ_BUF - 1) /* a line longer than the buffer */
			have = 0;
	}
	close(fd);
	ranges_normalize(&s->maps);
}

static void exclude_range(void *ctx, uint64_t lo, uint64_t hi)
{
	struct scan *s = ctx;
	ranges_add(s, &s->excl, lo, hi);
}

static void exclude_arena(void *ctx, uintptr_t lo, uintptr_t hi)
{
	struct scan *s = ctx;
	ranges_add(s, &s->excl, lo, hi);
}

/* glibc's heap_info, at the start of every 64 MiB heap of a thread arena. */
struct heap_info {
	uint64_t ar_ptr, prev, size, mprotect_size;
};

static void exclude_window(void *ctx, uint64_t base)
{
	struct scan *s = ctx;
	struct heap_info h;
	if (read_mem(s, &h, base, sizeof(h)) != sizeof(h))
		return;
	int ok = h.ar_ptr && !(h.ar_ptr & 7) && h.size && !(h.size & (PAGE - 1)) &&
		 h.size <= ARENA_HEAP_MAX && h.mprotect_size >= h.size &&
		 h.mprotect_size <= ARENA_HEAP_MAX && !(h.prev & (ARENA_HEAP_MAX - 1));
	/* an arena's first heap holds its malloc_state right after heap_info */
	if (ok && !h.prev)
		ok = h.ar_ptr > base && h.ar_ptr < base + PAGE;
	if (ok)
		ranges_add(s, &s->excl, base, base + ARENA_HEAP_MAX);
}

/* The sp of a thread blocked in a system call, or 0 (running, or gone). */
static uint64_t thread_sp(int ktid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", ktid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "nr arg1 .. arg6 sp pc", or "-1 sp pc", or "running" */
	const char *tok[10];
	int nt = 0;
	for (char *p = buf; *p && nt < 10;) {
		while (*p == ' ' || *p == '\n')
			p++;
		if (!*p)
			break;
		tok[nt++] = p;
		while (*p && *p != ' ' && *p != '\n')
			p++;
	}
	if (nt < 3 || tok[0][0] == 'r')
		return 0;
	const char *sp = tok[nt - 2];
	uint64_t v;
	if (sp[0] != '0' || sp[1] != 'x')
		return 0;
	sp += 2;
	return parse_hex(&sp, &v) ? 0 : v;
}

static void on_thread(void *ctx, int ktid, uint64_t lo, uint64_t hi, int live)
{
	struct scan *s = ctx;
	ranges_add(s, &s->excl, lo, hi); /* never scanned as plain memory */
	if (!live)
		return;
	uint64_t from = lo;
	if (s->requester_sp >= lo && s->requester_sp < hi) {
		from = s->requester_sp & ~7ull;
	} else {
		uint64_t sp = thread_sp(ktid);
		if (sp > lo + RED_ZONE && sp < hi)
			from = (sp - RED_ZONE) & ~7ull;
		else
			s->flags |= HL_LEAKS_WHOLE_STACK;
	}
	ranges_add(s, &s->stacks_live, from, hi);
}

/* roots = (maps - excl) + (maps & live stacks) */
static void build_roots(struct scan *s)
{
	/* the profiler's own memory */
	ranges_add(s, &s->excl, page_down(hl_state.self_lo), page_up(hl_state.self_hi));
	if (hl_state.ring) /* hl_ring_create: one control page, then the buffer */
		ranges_add(s, &s->excl, (uintptr_t)hl_state.ring,
			   (uintptr_t)hl_state.ring + PAGE + hl_ring_size(hl_state.ring));
	if (hl_arena_foreach_mapping(exclude_arena, s))
		s->flags |= HL_LEAKS_SELF_SCANNED;
	hl_threads_foreach_writer(exclude_range, s); /* ours and fork ancestors' */
	pthread_attr_t attr;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) { /* the writer's stack */
		void *addr;
		size_t size;
		if (pthread_attr_getstack(&attr, &addr, &size) == 0)
			ranges_add(s, &s->excl, (uintptr_t)addr, (uintptr_t)addr + size);
		pthread_attr_destroy(&attr);
	}
	/* malloc's own memory */
	hl_live_foreach_window(exclude_window, s);
	/* thread stacks */
	hl_threads_foreach(on_thread, s);
	int requester_known = 0;
	for (size_t i = 0; i < s->stacks_live.n; i++)
		if (s->requester_sp >= s->stacks_live.v[i].lo &&
		    s->requester_sp < s->stacks_live.v[i].hi)
			requester_known = 1;
	if (!requester_known && s->requester_sp) {
		/* never registered: its stack is the mapping holding sp */
		for (size_t i = 0; i < s->maps.n; i++)
			if (s->requester_sp >= s->maps.v[i].lo &&
			    s->requester_sp < s->maps.v[i].hi) {
				ranges_add(s, &s->excl, s->maps.v[i].lo, s->maps.v[i].hi);
				ranges_add(s, &s->stacks_live, s->requester_sp & ~7ull,
					   s->maps.v[i].hi);
			}
	}
	ranges_normalize(&s->excl);
	ranges_normalize(&s->stacks_live);

	/* maps minus exclusions */
	size_t e = 0;
	for (size_t i = 0; i < s->maps.n; i++) {
		uint64_t lo = s->maps.v[i].lo, hi = s->maps.v[i].hi;
		while (e < s->excl.n && s->excl.v[e].hi <= lo)
			e++;
		for (size_t k = e; k < s->excl.n && s->excl.v[k].lo < hi && lo < hi; k++) {
			if (s->excl.v[k].lo > lo)
				ranges_add(s, &s->roots, lo, s->excl.v[k].lo);
			if (s->excl.v[k].hi > lo)
				lo = s->excl.v[k].hi;
		}
		if (lo < hi)
			ranges_add(s, &s->roots, lo, hi);
	}
	/* plus the live stacks, where mapped */
	for (size_t k = 0; k < s->stacks_live.n; k++)
		for (size_t i = 0; i < s->maps.n; i++) {
			uint64_t lo = s->maps.v[i].lo, hi = s->maps.v[i].hi;
			if (lo < s->stacks_live.v[k].lo)
				lo = s->stacks_live.v[k].lo;
			if (hi > s->stacks_live.v[k].hi)
				hi = s->stacks_live.v[k].hi;
			ranges_add(s, &s->roots, lo, hi);
		}
	ranges_normalize(&s->roots);
}

/* ---- the result ---------------------------------------------------------------- */

static uint8_t class_of(uint8_t state)
{
	switch (state) {
	case REACHABLE:
		return HL_LEAK_REACHABLE;
	case POSSIBLE:
		return HL_LEAK_POSSIBLE;
	case INDIRECT:
		return HL_LEAK_INDIRECT;
	default:
		return HL_LEAK_DEFINITE;
	}
}

static void write_result(struct scan *s, struct hl_enc *e, void (*flush)(void), uint64_t us)
{
	struct hl_leak_stats st = {
	    .scan_us = us,
	    .root_bytes = s->root_bytes,
	    .block_bytes = s->block_bytes,
	    .flags = s->flags,
	};
	uint64_t i = 0;
	do {
		uint64_t n = s->n - i > PART_ENTRIES ? PART_ENTRIES : s->n - i;
		if (hl_enc_room(e) < hl_enc_leaks_max_size(n))
			flush();
		for (uint64_t k = 0; k < n; k++)
			s->state[i + k] = class_of(s->state[i + k]);
		if (hl_enc_leaks(e, s->ptr + i, s->state + i, n, &st))
			return; /* cannot happen after a flush: a part fits a block */
		i += n;
	} while (i < s->n);
}

static void release(struct scan *s)
{
	uint64_t n = s->alloc_n ? s->alloc_n : 1;
	hl_arena_free(s->ptr, n * sizeof(uint64_t));
	hl_arena_free(s->size, n * sizeof(uint64_t));
	hl_arena_free(s->state, n);
	hl_arena_free(s->stack, s->stack_cap * sizeof(uint32_t));
	hl_arena_free(s->buf, READ_BUF);
	hl_arena_free(s->winmem, (size_t)NWIN * WIN_SIZE);
	if (s->pages)
		hl_arena_free(s->pages, (s->page_mask + 1) * sizeof(struct page_ent));
	ranges_free(&s->maps);
	ranges_free(&s->excl);
	ranges_free(&s->stacks_live);
	ranges_free(&s->roots);
	if (s->memfd >= 0)
		close(s->memfd);
}

void hl_leakscan_run(struct hl_enc *e, uint64_t requester_sp, void (*flush)(void))
{
	static struct scan s; /* in our own bss: never a root */
	uint64_t t0 = now_us();

	memset(&s, 0, sizeof(s));
	s.memfd = -1;
	s.requester_sp = requester_sp;
	s.buf = hl_arena_alloc(READ_BUF);
	s.winmem = hl_arena_alloc((size_t)NWIN * WIN_SIZE); /* optional: a speed-up */
	if (!s.buf || load_blocks(&s)) {
		s.nomem = 1;
		goto out;
	}
	if (atomic_load(&hl_state.sandboxed)) {
		/* /proc/self/maps and /proc/self/mem may be what the filter
		 * kills for (hl_writer_sandbox) */
		s.flags |= HL_LEAKS_FAILED;
		goto out;
	}
	open_memory(&s);
	if (!s.use_vm && s.memfd < 0) {
		s.flags |= HL_LEAKS_FAILED; /* memory unreadable */
		goto out;
	}
	read_maps(&s);
	build_roots(&s);
	if (s.nomem)
		goto out;

	/* 1: from the roots: the requester's registers, then memory */
	mark_words(&s, request.regs, request.n, 1);
	drain_stack(&s, 1, 0);
	for (size_t r = 0; r < s.roots.n; r++)
		scan_root(&s, s.roots.v[r].lo, s.roots.v[r].hi);
	/* 2: cliques of the unreached, in address order */
	for (uint64_t i = 0; i < s.n; i++) {
		if (s.state[i] != UNREACHED)
			continue;
		push(&s, i);
		drain_stack(&s, 2, i);
	}
out:
	if (s.nomem)
		s.flags |= HL_LEAKS_FAILED;
	if (s.flags & HL_LEAKS_FAILED)
		s.n = 0; /* no classes rather than wrong ones */
	write_result(&s, e, flush, now_us() - t0);
	release(&s);
}
