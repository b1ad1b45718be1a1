/* hl_ring.h — the lock-free multi-producer, single-consumer event ring.
 * Protocol in hl_ring.c. */
#ifndef HL_RING_H
#define HL_RING_H

#include <stddef.h>
#include <stdint.h>

/* Every record starts with this 8-byte header; payload follows. */
struct hl_ring_hdr {
	uint32_t len;	/* bytes including this header, multiple of 8 */
	uint32_t state; /* HL_RING_EMPTY until committed */
};

#define HL_RING_EMPTY 0u
#define HL_RING_READY 1u
#define HL_RING_PAD   2u

struct hl_ring;

/* Maps a ring of `bytes` (a power of two) plus its control block.
 * Returns NULL if mmap fails. */
struct hl_ring *hl_ring_create(size_t bytes);
void hl_ring_destroy(struct hl_ring *r);

/* Producer side.  Reserves len bytes (header included, rounded up to 8) and
 * returns a pointer to the payload, or NULL if `nowait` is set and the ring
 * is full.  Without nowait, waits for space.  Records larger than a quarter
 * of the ring are refused (NULL). */
void *hl_ring_reserve(struct hl_ring *r, size_t payload_len, int nowait);
/* A producer thread's own state for hl_ring_reserve_hint (zero it for a new
 * ring): its stale copy of the consumer position, which saves a shared
 * cache-line read per record; and the bytes it has claimed and not yet
 * committed, noted right after the claim, before the ring's memory is
 * touched (pending_len 0: none; the caller sets it to 0 just before
 * hl_ring_commit). */
struct hl_ring_producer {
	uint64_t cons_hint;
	uint64_t pending_pos;  /* ring position of the claim */
	uint32_t pending_pad;  /* padding claimed first, at the wrap */
	uint32_t pending_len;  /* the record, header included */
};
void *hl_ring_reserve_hint(struct hl_ring *r, size_t payload_len, int nowait,
			   struct hl_ring_producer *p);
/* Turns p's pending claim into padding the consumer skips, for a thread
 * that will never commit it (a signal handler interrupted its record and
 * is ending the process).  Nothing if none is pending. */
void hl_ring_abandon(struct hl_ring *r, struct hl_ring_producer *p);
/* A producer that has waited ~16 ms for space while the consumer did not
 * move asks give_up(r); nonzero makes its reservation return NULL.  For a
 * process with a copy of the ring and no consumer (hl_ring.c). */
void hl_ring_set_give_up(struct hl_ring *r, int (*give_up)(const struct hl_ring *r));
/* Publishes the record whose payload hl_ring_reserve returned. */
void hl_ring_commit(struct hl_ring *r, void *payload);

/* Consumer side (one thread).  Returns the next committed record's payload
 * and its length, or NULL if the next record is not committed yet. */
void *hl_ring_peek(struct hl_ring *r, size_t *payload_len);
/* Releases the record returned by the last hl_ring_peek. */
void hl_ring_release(struct hl_ring *r);
/* Reserved-but-maybe-uncommitted bytes ahead of the consumer. */
uint64_t hl_ring_backlog(const struct hl_ring *r);
uint64_t hl_ring_produced(const struct hl_ring *r);
uint64_t hl_ring_consumed(const struct hl_ring *r); /* consumer thread only */
/* How many times a producer has found the ring full (and waited, or
 * dropped its event in lossy mode). */
uint64_t hl_ring_full_count(const struct hl_ring *r);

/* Sleeping.  The consumer sleeps at most `ms` unless a producer wakes it
 * (producers do when the ring is half full or a flush is wanted). */
void hl_ring_consumer_sleep(struct hl_ring *r, unsigned ms);
void hl_ring_wake_consumer(struct hl_ring *r);
/* Called by a producer whose hl_ring_reserve waits, between tries. */
size_t hl_ring_size(const struct hl_ring *r);

#endif
