/* symprefetch.h — symbols ahead of need: while the replay reads a trace on
 * one core, a second thread reads the same file for its module and stack
 * node records only and resolves, with a symbolizer of its own, every
 * return address that lies in the program's own code (the frames the
 * default views show).  The stacks stage then takes that symbolizer over,
 * its cache full.  Results are the same as resolving on demand: a
 * symbolizer answers each (module, ip) the same whenever it is asked. */
#ifndef HL_SYMPREFETCH_H
#define HL_SYMPREFETCH_H

#include "trace_read.h"

struct hl_symbolizer;
struct hl_symprefetch;

/* Starts it for the trace t, open for the replay: the thread opens t's path
 * again and goes on only if that is the same file (not one that replaced it
 * since).  NULL when it would not help (one CPU), cannot work (not a regular
 * file: a pipe is read once) or could not start: then symbols are resolved
 * on demand, as without it. */
struct hl_symprefetch *hl_symprefetch_start(const struct hl_trace *t);
/* Waits for it to finish and hands over its symbolizer (the caller destroys
 * it), or NULL if it failed.  p is freed. */
struct hl_symbolizer *hl_symprefetch_finish(struct hl_symprefetch *p);
/* Stops it as soon as it can and frees everything (an error path). */
void hl_symprefetch_cancel(struct hl_symprefetch *p);

#endif
