/* diff_table.h — what `heapline diff` compares: the sites of two traces
 * (sites.h), and the source lines those sites start at (the file:line of
 * the first own-code frame), matched between the traces by symbolized names
 * — function, file name (without its directory) and line of every frame —
 * never by address, since addresses differ between builds.  Rows whose
 * numbers all agree are counted, not listed; the rest are sorted by the
 * largest absolute change first. */
#ifndef HL_DIFF_TABLE_H
#define HL_DIFF_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export_stacks.h"
#include "sites.h"

#define HL_DIFF_OLD	 0
#define HL_DIFF_NEW	 1
#define HL_DIFF_NMETRICS 4 /* indexed by enum hl_metric */

struct hl_diff_row {
	const struct hl_frame **frames;	 /* as the newer trace shows them (else the older) */
	unsigned nframes;		 /* a line row: 1 */
	bool present[2];		 /* seen in the old, the new trace */
	uint64_t v[2][HL_DIFF_NMETRICS]; /* [HL_DIFF_OLD/NEW][enum hl_metric] */
};

struct hl_diff_table {
	struct hl_diff_row *v; /* changed rows, largest change first */
	size_t n;
	size_t unchanged; /* rows in both traces with every number equal */
};

/* Rows per site (by) or per line of the sites' first frame.  sort: the
 * metric whose change orders the rows (ties: the other metrics' changes,
 * then the names).  0 or -ENOMEM. */
enum hl_diff_by { HL_DIFF_BY_SITE, HL_DIFF_BY_LINE };
int hl_diff_table_build(struct hl_diff_table *out, const struct hl_sites *old,
			const struct hl_sites *new_, enum hl_diff_by by, enum hl_metric sort);
void hl_diff_table_release(struct hl_diff_table *t);

static inline int64_t hl_diff_delta(const struct hl_diff_row *r, enum hl_metric m)
{
	return (int64_t)(r->v[HL_DIFF_NEW][m] - r->v[HL_DIFF_OLD][m]);
}

#endif
