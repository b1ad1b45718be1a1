/* hl_encode.h — turns events into trace records (common/hl_format.h) in a
 * block buffer, and keeps the stack trie that gives every distinct call stack
 * an id.  Pure: no I/O, no threads; memory from hl_arena.  Used by the writer
 * and by unit tests. */
#ifndef HL_ENCODE_H
#define HL_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "hl_format.h"

struct hl_enc {
	uint8_t *buf; /* raw block being filled: inside hist, after prev */
	size_t len, cap;
	uint8_t *hist;	 /* HL_PREFIX_MAX + cap bytes: the records kept, then buf */
	uint8_t *prev;	 /* the records kept before buf (prev + prev_len == buf) */
	size_t prev_len; /* at most HL_PREFIX_MAX; 0: none */
	uint64_t prev_ptr;     /* for ptr deltas: the current thread's chain */
	uint64_t chain[HL_PTR_CHAINS]; /* the other chains, by thread id % HL_PTR_CHAINS */
	uint64_t cur_tid;      /* thread of the last event, 0 = none yet */
	uint64_t last_time_ms; /* of the last TIME record */
	/* the stack trie */
	uint32_t *trie;		   /* node ids by hash of (parent, ip): hl_encode.c */
	size_t trie_slots;	   /* a power of two */
	uint64_t *node_ip;	   /* ip of node id i; [0] = 0 (root) */
	uint32_t *node_parent;	   /* parent of node id i */
	size_t nodes, node_cap;	   /* ids in use: 1..nodes */
	uint64_t records;	   /* ALLOC + FREE + REALLOC_FAIL written */
	/* Blocks by ordinal (format v3): the last HL_ENC_WINDOW allocations */
	uint64_t allocs;     /* allocations written: the latest ordinal */
	uint64_t *win;	     /* by ordinal % HL_ENC_WINDOW: ptr | 1 if named by
				ordinal, ptr if by address; 0 if freed */
	uint32_t *win_index; /* 2 * HL_ENC_WINDOW slots: window slot + 1, by ptr */
	uint32_t seq_hits, seq_evictions; /* how the window's blocks left it, lately */
	uint64_t bind_prev;		  /* the BIND records' address chain */
};

/* Allocations a FREE can name by ordinal: the window's size (a power of
 * two; 512 KiB of tables). */
#define HL_ENC_WINDOW HL_SEQ_WINDOW

/* A block written because its time was up, not because it was full (the
 * writer's target is 1 MiB), holds too few records for zstd to find the
 * program's patterns in (gcc's cc1: blocks of ~280 KiB here).  Compressed
 * with the records before as its prefix, cc1's trace is 3x smaller; a full
 * block has history enough, and a prefix would cost zstd time for nothing.
 * (At 512 KiB, a machine twice as fast made cc1's blocks pass it and lose
 * their prefix: 0.62-0.83 MB instead of 0.40.) */
#define HL_ENC_PREFIX_MAX (1u << 20)

/* Returns 0, or -ENOMEM. */
int hl_enc_init(struct hl_enc *e);
void hl_enc_fini(struct hl_enc *e);

/* Space left in the block; callers flush (hl_enc_take) when it runs low. */
static inline size_t hl_enc_room(const struct hl_enc *e)
{
	return e->cap - e->len;
}
/* Hands the filled block to the caller and starts an empty one.  After a
 * block shorter than HL_ENC_PREFIX_MAX, the records before the new one (the
 * last HL_PREFIX_MAX bytes of the blocks taken since the last longer one)
 * are kept as e->prev, for the writer to give zstd as the next frame's
 * prefix; the block handed out is their end, valid until the next take.
 * After a longer block nothing is kept (prev_len 0), and its bytes stay
 * valid only until the next call that writes.  An empty block is not taken
 * at all: prev stays as it was. */
const uint8_t *hl_enc_take(struct hl_enc *e, size_t *len);
/* Right after a take: keep nothing for a prefix (the next frames will not
 * use one), so later takes move no history. */
void hl_enc_forget_prev(struct hl_enc *e);

/* The node for (parent, ip), writing a NODE record if it is new.
 * Returns the id (>= 1), or 0 if memory ran out (the event keeps the
 * shorter stack rather than being lost). */
uint32_t hl_enc_node(struct hl_enc *e, uint32_t parent, uint64_t ip);
/* The node for (parent, ip) if it exists, else 0; writes nothing. */
uint32_t hl_enc_find(struct hl_enc *e, uint32_t parent, uint64_t ip);
/* Node ids are dense: ip and parent of an existing id. */
static inline uint64_t hl_enc_node_ip(const struct hl_enc *e, uint32_t id)
{
	return e->node_ip[id];
}
static inline uint32_t hl_enc_node_parent(const struct hl_enc *e, uint32_t id)
{
	return e->node_parent[id];
}

/* Record writers.  Each needs at most HL_ENC_MAX_EVENT bytes of room. */
#define HL_ENC_MAX_EVENT 64
void hl_enc_thread(struct hl_enc *e, uint64_t tid);
void hl_enc_time(struct hl_enc *e, uint64_t ms, uint64_t rss_kib);
void hl_enc_alloc(struct hl_enc *e, unsigned fn, uint32_t node, uint64_t ptr, uint64_t size);
void hl_enc_free(struct hl_enc *e, unsigned fn, uint32_t node, uint64_t ptr);
void hl_enc_realloc_fail(struct hl_enc *e, uint64_t ptr);
/* BINDs every block of the window still named by ordinal, so that records
 * naming blocks by address (LEAKS) reach them all.  Needs room for
 * HL_ENC_WINDOW BINDs: returns -ENOSPC (having written some) when the
 * block runs low; call again after a flush. */
int hl_enc_bind_all(struct hl_enc *e);
void hl_enc_lost(struct hl_enc *e, uint64_t n);
/* sig: the signal's number, written for HL_END_SIGNAL only. */
void hl_enc_end(struct hl_enc *e, unsigned reason, uint64_t ms, unsigned sig);
void hl_enc_module_unload(struct hl_enc *e, uint64_t id);

/* Sized records with strings: return -ENOSPC if they do not fit. */
int hl_enc_module_load(struct hl_enc *e, uint64_t id, uint64_t bias, uint64_t lo, uint64_t hi,
		       const char *path, const uint8_t *build_id, size_t build_id_len);
/* LEAKS: the leak scan's result, n blocks sorted by address with their
 * enum hl_leak_class, and the scan's statistics (docs/trace-format.md).
 * -ENOSPC if hl_enc_room() is below hl_enc_leaks_max_size(n). */
struct hl_leak_stats {
	uint64_t scan_us;     /* time the scan took */
	uint64_t root_bytes;  /* root memory read */
	uint64_t block_bytes; /* block contents read */
	uint32_t flags;	      /* HL_LEAKS_* in hl_format.h */
};
static inline size_t hl_enc_leaks_max_size(size_t n)
{
	return 16 + (n + 5) * (HL_VARINT_MAX + 1);
}
int hl_enc_leaks(struct hl_enc *e, const uint64_t *ptrs, const uint8_t *classes, size_t n,
		 const struct hl_leak_stats *st);
int hl_enc_info(struct hl_enc *e, uint64_t pid, uint64_t ppid, uint64_t start_unix_ms,
		unsigned depth, unsigned flags, const char *exe, const char *const *argv,
		size_t argc, const char *version);

#endif
