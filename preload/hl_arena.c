/* hl_arena.c — the profiler's own allocator: size-classed free lists carved
 * from 1 MiB mmap chunks, and a private mmap for anything of 64 KiB or more.
 * Exports hl_arena_*.  Never calls malloc (it is what the hooks would see)
 * and takes no lock: its only user is the writer thread, or init before the
 * writer exists. */
#include "hl_arena.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK	  (1u << 20)
#define LARGE	  (64u << 10)
#define MIN_SHIFT 4  /* 16-byte smallest class */
#define NCLASSES  13 /* 16 B .. 32 KiB */

struct free_block {
	struct free_block *next;
};

static struct free_block *free_lists[NCLASSES];
static uint8_t *chunk_cur, *chunk_end;
static size_t mapped;

/* Every mapping, for hl_arena_foreach_mapping.  Neighbouring mappings are
 * merged into one range (mmap tends to place each below the last), so the
 * table stays short; large blocks leave it when unmapped. */
#define MAX_RANGES 8192
static struct {
	uintptr_t lo, hi;
} ranges[MAX_RANGES];
static size_t nranges;
static int ranges_overflow;

static void range_add(uintptr_t lo, uintptr_t hi)
{
	for (size_t i = nranges; i-- > 0 && i + 8 >= nranges;) {
		if (ranges[i].lo == hi) {
			ranges[i].lo = lo;
			return;
		}
		if (ranges[i].hi == lo) {
			ranges[i].hi = hi;
			return;
		}
	}
	if (nranges == MAX_RANGES) {
		ranges_overflow = 1;
		return;
	}
	ranges[nranges].lo = lo;
	ranges[nranges].hi = hi;
	nranges++;
}

/* Takes [lo, hi) out of whichever range holds it (splitting it if needed). */
static void range_remove(uintptr_t lo, uintptr_t hi)
{
	for (size_t i = 0; i < nranges; i++) {
		if (lo < ranges[i].lo || hi > ranges[i].hi)
			continue;
		uintptr_t old_hi = ranges[i].hi;
		if (lo == ranges[i].lo && hi == old_hi) {
			ranges[i] = ranges[--nranges];
		} else if (lo == ranges[i].lo) {
			ranges[i].lo = hi;
		} else {
			ranges[i].hi = lo;
			if (hi != old_hi)
				range_add(hi, old_hi);
		}
		return;
	}
}

int hl_arena_foreach_mapping(void (*fn)(void *ctx, uintptr_t lo, uintptr_t hi), void *ctx)
{
	for (size_t i = 0; i < nranges; i++)
		fn(ctx, ranges[i].lo, ranges[i].hi);
	return ranges_overflow ? -ENOSPC : 0;
}

static unsigned size_class(size_t n)
{
	unsigned c = 0;
	size_t sz = (size_t)1 << MIN_SHIFT;
	while (sz < n) {
		sz <<= 1;
		c++;
	}
	return c;
}

static void *map_pages(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	mapped += n;
	range_add((uintptr_t)p, (uintptr_t)p + n);
	return p;
}

static size_t page_round(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

void *hl_arena_alloc(size_t n)
{
	if (n == 0)
		n = 1;
	if (n >= LARGE)
		return map_pages(page_round(n)); /* mmap memory is already zeroed */
	unsigned c = size_class(n);
	size_t sz = (size_t)1 << (c + MIN_SHIFT);
	struct free_block *b = free_lists[c];
	if (b) {
		free_lists[c] = b->next;
		memset(b, 0, sz);
		return b;
	}
	if (chunk_cur == NULL || (size_t)(chunk_end - chunk_cur) < sz) {
		/* The tail of the old chunk is abandoned: at most 32 KiB a chunk. */
		chunk_cur = map_pages(CHUNK);
		if (!chunk_cur) {
			chunk_end = NULL;
			return NULL;
		}
		chunk_end = chunk_cur + CHUNK;
	}
	void *p = chunk_cur;
	chunk_cur += sz;
	return p;
}

void hl_arena_free(void *p, size_t n)
{
	if (!p)
		return;
	if (n == 0)
		n = 1;
	if (n >= LARGE) {
		munmap(p, page_round(n));
		mapped -= page_round(n);
		range_remove((uintptr_t)p, (uintptr_t)p + page_round(n));
		return;
	}
	unsigned c = size_class(n);
	struct free_block *b = p;
	b->next = free_lists[c];
	free_lists[c] = b;
}

void *hl_arena_grow(void *p, size_t old_n, size_t new_n)
{
	void *q = hl_arena_alloc(new_n);
	if (!q)
		return NULL;
	if (p) {
		memcpy(q, p, old_n < new_n ? old_n : new_n);
		hl_arena_free(p, old_n);
	}
	return q;
}

void hl_arena_forget(void)
{
	memset(free_lists, 0, sizeof(free_lists));
	chunk_cur = chunk_end = NULL;
	mapped = 0;
}

size_t hl_arena_mapped(void)
{
	return mapped;
}
