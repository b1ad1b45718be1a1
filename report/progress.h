/* progress.h — "heapline: reading TRACE: 42%" on stderr while a pass over
 * a trace runs, \r-updated, only when stderr is a terminal and the pass has
 * taken more than a second; the line is erased when the pass ends.  The
 * percentage is of the trace file's bytes read so far.
 *
 *	struct hl_progress p;
 *	hl_progress_begin(&p, "reading", path);
 *	struct hl_replay_hooks h = hl_progress_hooks(&p);
 *	hl_replay_add_hooks(replay, &h);  ...run...
 *	hl_progress_end(&p);
 */
#ifndef HL_PROGRESS_H
#define HL_PROGRESS_H

#include <stdint.h>
#include <time.h>

#include "replay.h"

struct hl_progress {
	int enabled;   /* stderr is a terminal and the file could be found */
	int fd;	       /* the reader's descriptor of the trace, for its offset */
	uint64_t size; /* the file's size */
	const char *label, *path;
	struct timespec start, last;
	size_t calls; /* events (and ticks) since the clock was last read */
	int shown;	/* something is on the line */
};

/* After hl_trace_open(path): the reader's file must be open. */
void hl_progress_begin(struct hl_progress *p, const char *label, const char *path);
struct hl_replay_hooks hl_progress_hooks(struct hl_progress *p);
void hl_progress_end(struct hl_progress *p);

#endif
