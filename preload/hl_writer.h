/* hl_writer.h — the background thread that drains the ring into the trace. */
#ifndef HL_WRITER_H
#define HL_WRITER_H

#include <stdint.h>

/* Starts the writer thread once, or again after hl_writer_pause (while it
 * runs, or after it failed, calls return at once).  Returns 0, or -1 if it
 * could not start (recording is then switched off). */
int hl_writer_start(void);
/* Waits until everything committed before the call is in the file.
 * Bounded: gives up after a few seconds rather than hang the program. */
void hl_writer_flush(void);
/* hl_writer_flush for a process ending from inside a hook of the calling
 * thread (a signal handler): a record that thread reserved and will never
 * commit may block the ring.  The writer waits 50 ms for it, not a second,
 * then writes END(reason, sig) itself: the interrupted event is not in the
 * trace (nor counted lost: it never finished). */
void hl_writer_flush_end(unsigned reason, unsigned sig);
/* hl_writer_flush for an exec from inside a hook of the calling thread (a
 * signal handler), which may have reserved a record at a ring position in
 * [lo, hi) that it cannot commit before the handler returns: a record
 * there still uncommitted after 20 ms is taken for that one, and the writer
 * writes END "exec" at once in its place.  If the exec fails, the record
 * follows when the hook commits it, and the END the caller pushed behind
 * it is not written again. */
void hl_writer_flush_exec(uint64_t lo, uint64_t hi);
/* For a call that needs the process single-threaded (unshare or setns of
 * a user namespace): everything so far written, then the writer thread
 * ends and is gone.  Returns 1 if it was running (the next
 * hl_writer_start starts it again on the same trace), 0 if not. */
int hl_writer_pause(void);
/* Whether the writer has tried to create this process's trace file. */
int hl_writer_trace_tried(void);
/* A seccomp filter is about to go in (the trace file is created by then):
 * from now on the writer opens nothing and starts no thread.  RSS is read
 * through /proc/self/statm opened here; the leak scan, which reads
 * /proc/self/maps, does not run. */
void hl_writer_sandbox(void);
/* fork child: forget the parent's writer (its thread does not exist here). */
void hl_writer_forget(void);

#endif
