/* hl_state.h — what the hooks and the writer share: the ring, the event
 * layout inside it, and the process-wide flags.  One instance, hl_state. */
#ifndef HL_STATE_H
#define HL_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct hl_ring;

/* An event as producers put it in the ring (after the ring's own header). */
enum hl_ev_type {
	HL_EV_ALLOC = 1,
	HL_EV_FREE,
	HL_EV_REALLOC_FAIL,
	HL_EV_MODULES,	  /* payload: a module snapshot of `size` bytes */
	HL_EV_THREAD_END, /* the thread's stack state can go */
	HL_EV_END,	  /* fn = enum hl_end */
	HL_EV_LEAK_SCAN,  /* classify the live blocks (HEAPLINE_LEAK_SCAN) */
};

struct hl_ev {
	uint8_t type;
	uint8_t fn;
	uint16_t common; /* outer frames shared with the thread's previous event */
	uint16_t nnew;	 /* frames in ips[], innermost first */
	uint16_t pad;
	uint32_t tid;
	uint32_t pad2;
	uint64_t ptr;
	uint64_t size;
	uint64_t ips[];
};

struct hl_state {
	_Atomic int active;	  /* recording; 0 = every hook passes through */
	_Atomic int sync;	  /* after our destructor: each event is written at once */
	_Atomic int writer_state; /* 0 none, 1 starting/running, 2 failed, 3 paused */
	_Atomic uint32_t gen;	  /* bumped in a fork child: threads re-register */
	_Atomic uint32_t next_tid;
	_Atomic uint64_t lost;	 /* events dropped in lossy mode */
	_Atomic uint64_t now_ms; /* ms since the trace began, kept by the writer */
	_Atomic int sandboxed;	 /* a seccomp filter went in (hl_sandbox.c) */
	struct hl_ring *ring;
	int pid;       /* the process this state belongs to */
	int is_root;   /* the launched process (names its trace as given) */
	int ctor_done; /* our constructor ran: starting the writer is safe */
	int own_malloc; /* the program's malloc is not ours (hl_init) */
	unsigned depth;
	uint64_t self_lo, self_hi; /* our own code: frames dropped from stacks */
	uint64_t start_ns;	   /* CLOCK_MONOTONIC at trace start */
	uint64_t start_unix_ms;
	pthread_key_t thread_key; /* destructor tells the writer a thread ended */
};

extern struct hl_state hl_state;

uint64_t hl_clock_ns(void);

#endif
