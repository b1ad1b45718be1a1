/* symprefetch.h — symbols ahead of need: while the replay reads a trace on
 * one core, a second thread resolves, with a symbolizer of its own, every
 * return address of the trace's stack nodes that lies in the program's own
 * code (the frames the default views show), as the replay hands the nodes
 * and modules over.  The stacks stage then takes that symbolizer over, its
 * cache full.  Results are the same as resolving on demand: a symbolizer
 * answers each (module, ip) the same whenever it is asked. */
#ifndef HL_SYMPREFETCH_H
#define HL_SYMPREFETCH_H

#include "replay.h"

struct hl_symbolizer;
struct hl_symprefetch;

/* Starts it for replay r, which has not run yet: adds r's hooks that feed
 * it.  NULL when it would not help (one CPU) or could not start: then
 * symbols are resolved on demand, as without it. */
struct hl_symprefetch *hl_symprefetch_start(struct hl_replay *r);
/* After the replay: waits for the thread to finish and hands over its
 * symbolizer (the caller destroys it), or NULL if it failed.  p is freed. */
struct hl_symbolizer *hl_symprefetch_finish(struct hl_symprefetch *p);
/* Stops it as soon as it can and frees everything (an error path). */
void hl_symprefetch_cancel(struct hl_symprefetch *p);

#endif
