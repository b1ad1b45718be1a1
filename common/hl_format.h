/* hl_format.h — the heapline trace format (version 3), shared by the writer in
 * preload/ and the reader in report/.  docs/trace-format.md describes it in
 * prose; this header is its single definition in code.
 *
 * File   = header (16 bytes) then blocks.
 * Header = "HEAPLINE" | u32 version (LE) | u32 flags (0).
 * Block  = u32 HL_BLOCK_MAGIC | u32 compressed size | u32 raw size | a zstd
 *          frame (with content checksum) holding `raw size` bytes of records.
 * A record never spans two blocks, so a reader can stop at the last complete
 * block of a truncated file and lose only what followed it.
 *
 * Only static inline helpers live here: both sides compile them, neither
 * allocates.
 */
#ifndef HL_FORMAT_H
#define HL_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HL_MAGIC	 "HEAPLINE"
#define HL_MAGIC_LEN	 8
#define HL_VERSION	 3 /* what the writer writes; readers take 1 to 3 */
/* Version 2: a NODE names its parent by (id - parent id), and event
 * pointers chain per thread (HL_PTR_CHAINS chains, chosen by thread id).
 * Version 3 adds ALLOC_SEQ, FREE_SEQ and BIND: a block may be named by its
 * allocation's ordinal instead of its address (docs/trace-format.md,
 * "Blocks by ordinal"). */
#define HL_PTR_CHAINS	 64
/* The writer frees by ordinal (FREE_SEQ) only blocks among the last
 * HL_SEQ_WINDOW allocations; a reader may count on it for speed, never for
 * correctness (a larger d is still valid). */
#define HL_SEQ_WINDOW	 (1u << 15)
/* Version 3: a block's zstd frame may refer to at most this many bytes of
 * the records before it (the preceding blocks', joined), as its prefix. */
#define HL_PREFIX_MAX	 (1u << 20)
#define HL_HEADER_LEN	 16
#define HL_BLOCK_MAGIC	 0x4b4c4248u /* "HBLK" little-endian */
#define HL_BLOCK_HDR_LEN 12
#define HL_BLOCK_MAX_RAW (4u << 20) /* a writer never produces more per block */

/* Record types.  Types below HL_REC_SIZED have a fixed layout every reader
 * of this version knows; types from HL_REC_SIZED on carry a uvarint payload
 * length first, so a reader skips the ones it does not know. */
enum hl_rec_type {
	HL_REC_NODE = 0x01,	    /* uv (id - parent) (v1: uv parent), sv (ip - parent ip);
				       id = previous + 1 */
	HL_REC_THREAD = 0x02,	    /* uv thread id: following events come from it */
	HL_REC_TIME = 0x03,	    /* uv ms since previous TIME (first: since start), uv rss KiB */
	HL_REC_BIND = 0x04,	    /* v3: uv d, sv delta on the bind chain: the block of
				       ordinal (allocations so far + 1 - d) is at this
				       address from now on */
	HL_REC_ALLOC = 0x10,	    /* + hl_fn: uv node, sv ptr delta, uv size */
	HL_REC_FREE = 0x20,	    /* + hl_fn: uv node, sv ptr delta */
	HL_REC_FREE_SEQ = 0x28,	    /* v3, + hl_fn (< 8): uv node, uv d: frees the block of
				       ordinal (allocations so far + 1 - d) */
	HL_REC_REALLOC_FAIL = 0x30, /* sv ptr delta: the preceding realloc-free of
				       this thread did not happen */
	HL_REC_ALLOC_SEQ = 0x31,    /* v3, + hl_fn: uv node, uv size: no address, the
				       block is named by its ordinal */
	HL_REC_SIZED = 0x40,
	HL_REC_INFO = 0x40,	     /* see docs: process identity */
	HL_REC_MODULE_LOAD = 0x41,   /* uv id, uv bias, uv lo, uv hi, str path, str build-id */
	HL_REC_MODULE_UNLOAD = 0x42, /* uv id */
	HL_REC_LOST = 0x43,	     /* uv events dropped (lossy mode only) */
	HL_REC_END = 0x44,	     /* uv reason (enum hl_end), uv ms since start */
	HL_REC_LEAKS = 0x45,	     /* leak scan result, see docs/trace-format.md */
};

/* Classes of blocks live at the end (memcheck's), from the reachability
 * scan of HEAPLINE_LEAK_SCAN mode. */
enum hl_leak_class {
	HL_LEAK_DEFINITE = 0,
	HL_LEAK_INDIRECT = 1,
	HL_LEAK_POSSIBLE = 2,
	HL_LEAK_REACHABLE = 3,
};

/* Flags of a LEAKS record: how far its classes can be trusted. */
enum hl_leaks_flag {
	HL_LEAKS_WHOLE_STACK = 1 << 0,	/* a running thread's stack was scanned whole
					   (its sp was unknown): stale values count */
	HL_LEAKS_PROC_MEM = 1 << 1,	/* memory read through /proc/self/mem */
	HL_LEAKS_SELF_SCANNED = 1 << 2, /* some profiler memory may have been roots */
	HL_LEAKS_FAILED = 1 << 3,	/* the scan could not run: no classes */
};

/* Which allocator entry point made an event (low nibble of ALLOC/FREE). */
enum hl_fn {
	HL_FN_MALLOC = 0,
	HL_FN_CALLOC = 1,
	HL_FN_REALLOC = 2,
	HL_FN_REALLOCARRAY = 3,
	HL_FN_POSIX_MEMALIGN = 4,
	HL_FN_ALIGNED_ALLOC = 5,
	HL_FN_MEMALIGN = 6,
	HL_FN_VALLOC = 7,
	HL_FN_PVALLOC = 8,
	HL_FN_FREE = 0, /* for FREE records: plain free() */
	HL_FN_COUNT = 9,
};

/* INFO's flags. */
enum hl_info_flag {
	HL_INFO_LOSSY = 1,	/* lossy mode: events may have been dropped */
	HL_INFO_OWN_MALLOC = 2, /* the process's malloc was not heapline's: a module
				   before it in symbol lookup (the executable)
				   defines one, and its calls were not seen */
};

enum hl_end {
	HL_END_EXIT = 0,  /* normal exit: destructors ran */
	HL_END_EXEC = 1,  /* the image was replaced by execve */
	HL_END_UEXIT = 2, /* _exit / _Exit called directly */
	HL_END_ABORT = 3, /* abort() */
	HL_END_SIGNAL = 4, /* a signal the process sent itself whose default action
			      ends it (kill(getpid()), raise); the END record then
			      also holds the signal's number */
	HL_END_QUICK_EXIT = 5, /* quick_exit(): at_quick_exit handlers, no
				  destructors; their events follow the END */
	HL_END_CRASH = 6, /* a fatal signal no hook saw coming (a fault, glibc's
			     abort inside free on a corrupt heap); the END
			     record then also holds the signal's number */
};

/* Whether an END of this reason holds a signal's number after its time. */
static inline int hl_end_has_signal(uint64_t reason)
{
	return reason == HL_END_SIGNAL || reason == HL_END_CRASH;
}

/* ---- varints (LEB128) and zigzag --------------------------------------- */

#define HL_VARINT_MAX 10

static inline size_t hl_put_uv(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static inline uint64_t hl_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t hl_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline size_t hl_put_sv(uint8_t *p, int64_t v)
{
	return hl_put_uv(p, hl_zigzag(v));
}

/* Decode a uvarint from [*pp, end).  Returns 0 on success, -1 if the input
 * ends early or the value overflows 64 bits (a corrupt trace). */
static inline int hl_get_uv(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	unsigned shift = 0;
	for (;;) {
		if (p >= end || shift > 63)
			return -1;
		uint8_t b = *p++;
		if (shift == 63 && b > 1)
			return -1;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
		shift += 7;
	}
	*pp = p;
	*out = v;
	return 0;
}

static inline int hl_get_sv(const uint8_t **pp, const uint8_t *end, int64_t *out)
{
	uint64_t u;
	if (hl_get_uv(pp, end, &u))
		return -1;
	*out = hl_unzigzag(u);
	return 0;
}

static inline void hl_put_u32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t hl_get_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
