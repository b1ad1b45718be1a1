/* sites.h — stage 4, after symbols: allocation stacks grouped into sites.
 * A site is the first frame of a stack in the program's own code (the
 * innermost frame if the stack has none) followed by up to `depth` of its
 * callers (never those below main: the C runtime's); stacks that show the
 * same frames (same function, file and line) are one site, whose numbers are
 * the sums of theirs. */
#ifndef HL_SITES_H
#define HL_SITES_H

#include <stdbool.h>
#include <stddef.h>

#include "aggregate.h"
#include "stacks.h"

struct hl_site {
	const struct hl_frame **frames; /* the site's frame first, then its callers */
	unsigned nframes;
	bool own;		/* frames[0] is the program's own code */
	struct hl_node_stats s; /* sums over its stacks (max_live: the largest) */
	size_t stacks;		/* how many distinct stacks it groups */
};

enum hl_site_key { HL_SITE_BYTES, HL_SITE_CALLS, HL_SITE_PEAK, HL_SITE_TEMPS, HL_SITE_LEAKED };

struct hl_sites;

/* Groups every node that allocated.  0 or -errno. */
int hl_sites_build(struct hl_sites **out, struct hl_stacks *st, const struct hl_agg *a,
		   unsigned depth);
void hl_sites_free(struct hl_sites *s);
size_t hl_sites_count(const struct hl_sites *s);
/* Up to n sites with a nonzero key, largest first (ties: more bytes
 * allocated, then the order sites were first seen).  Returns how many. */
size_t hl_sites_top(const struct hl_sites *s, enum hl_site_key k, const struct hl_site **out,
		    size_t n);

#endif
