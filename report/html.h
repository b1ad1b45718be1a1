/* html.h — `heapline report --html FILE`: one self-contained HTML page for
 * one or more traces (docs/html-report.md).  The page is the viewer
 * (report/html_assets/, embedded at build time) plus one JSON blob of
 * aggregated data per process: the summary, memory over time, the top sites,
 * the line tables, a flame graph tree and what was live at ~100 moments.
 * Nothing in it grows with the trace's length, only with distinct stacks.
 *
 *	struct hl_html *h = hl_html_new("report.html");
 *	hl_html_add(h, &view_ctx, trace, replay, stacks, progress_hooks, err, n);
 *	...one call per trace...
 *	hl_html_write(h, err, n);
 *	hl_html_free(h);
 */
#ifndef HL_HTML_H
#define HL_HTML_H

#include <stddef.h>

#include "replay.h"
#include "stacks.h"
#include "views.h"

struct hl_html;

/* NULL if out of memory.  Nothing is written before hl_html_write(). */
struct hl_html *hl_html_new(const char *path);
void hl_html_free(struct hl_html *h);

/* Adds one process.  c must hold every stage: agg with the peak snapshot,
 * sites and lines.  Reads the trace once more for the moments (extra: hooks
 * for that pass, e.g. progress, or NULL).  0, or -1 with a one-line message
 * in err. */
int hl_html_add(struct hl_html *h, const struct hl_view_ctx *c, struct hl_trace *t,
		const struct hl_replay *r, struct hl_stacks *st,
		const struct hl_replay_hooks *extra, char *err, size_t errlen);

/* Writes the page to the path given to hl_html_new(), "-" for stdout.  0,
 * or -1 with a one-line message in err.  *bytes (may be NULL): about the
 * page's size (before escaping). */
int hl_html_write(struct hl_html *h, size_t *bytes, char *err, size_t errlen);

#endif
