/* views.h — the printers of `heapline report`, the last stage of the
 * pipeline.  Each view is a titled text section and one member of the
 * process's JSON object (docs/report-json.md); it reads what the earlier
 * stages built (struct hl_view_ctx) and computes nothing the others need.
 * One file per view: view_top.c, view_temp.c, view_leaks.c, view_hist.c,
 * view_chart.c; the summary is summary.c, the line tables linetable.c. */
#ifndef HL_VIEWS_H
#define HL_VIEWS_H

#include <stdio.h>

#include "aggregate.h"
#include "format.h"
#include "json.h"
#include "linetable.h"
#include "replay.h"
#include "sites.h"

/* The command line's choices that printers follow. */
struct hl_view_opts {
	unsigned top;		/* --top: rows per table */
	unsigned stack_depth;	/* --stack-depth: callers shown below a site */
	enum hl_unit unit;	/* --unit (default auto) */
	enum hl_unit line_unit; /* --unit for line tables (default MiB, as memory_profiler) */
	int precision;		/* --precision */
	unsigned columns;	/* --columns: HL_COL_* of linetable.h */
};

/* One trace, through every stage.  Members a view did not ask for (see
 * cmd_report.c's table) may be NULL. */
struct hl_view_ctx {
	const char *path;
	const struct hl_view_opts *o;
	const struct hl_summary *summary;
	const struct hl_agg *agg;
	const struct hl_sites *sites;
	const struct hl_linetables *lines;
};

void hl_view_top_bytes_text(FILE *f, const struct hl_view_ctx *c);
void hl_view_top_bytes_json(struct hl_json *j, const struct hl_view_ctx *c);
void hl_view_top_calls_text(FILE *f, const struct hl_view_ctx *c);
void hl_view_top_calls_json(struct hl_json *j, const struct hl_view_ctx *c);
void hl_view_top_peak_text(FILE *f, const struct hl_view_ctx *c);
void hl_view_top_peak_json(struct hl_json *j, const struct hl_view_ctx *c);

void hl_view_temp_text(FILE *f, const struct hl_view_ctx *c);
void hl_view_temp_json(struct hl_json *j, const struct hl_view_ctx *c);

void hl_view_leaks_text(FILE *f, const struct hl_view_ctx *c);
void hl_view_leaks_json(struct hl_json *j, const struct hl_view_ctx *c);

void hl_view_hist_text(FILE *f, const struct hl_view_ctx *c);
void hl_view_hist_json(struct hl_json *j, const struct hl_view_ctx *c);

void hl_view_chart_text(FILE *f, const struct hl_view_ctx *c);
void hl_view_chart_json(struct hl_json *j, const struct hl_view_ctx *c);

/* Shared by the site views (view_top.c): a site's JSON object, and a table
 * of sites with the given columns. */
enum hl_site_col {
	HL_SCOL_BYTES, /* bytes allocated */
	HL_SCOL_CALLS, /* allocations */
	HL_SCOL_PEAK,  /* bytes live at the global peak */
	HL_SCOL_PEAK_BLOCKS,
	HL_SCOL_LEAKED, /* bytes live at exit */
	HL_SCOL_LEAKED_BLOCKS,
	HL_SCOL_TEMPS,	 /* temporary allocations */
	HL_SCOL_PERCENT, /* the first column's share of `total` */
};

void hl_site_json(struct hl_json *j, const struct hl_site *s, int with_peak);
void hl_sites_print_table(FILE *f, const struct hl_view_ctx *c, const struct hl_site **v, size_t n,
			  const enum hl_site_col *cols, size_t ncols, uint64_t total);

#endif
