/* export_files.h — `heapline report --folded FILE, --speedscope FILE,
 * --massif FILE`: the report's last stage for viewers other than ours.  It
 * opens the files ("-" is stdout), hands each trace, once through the
 * pipeline, to the writers of export_formats.h, and closes the files.
 *
 *	hl_exports_open(&x, &opts, ntraces, err, sizeof(err));
 *	for each trace: hl_exports_add(x, &input, err, sizeof(err));
 *	hl_exports_close(x, err, sizeof(err));
 *
 * Several traces: folded stacks get the process as their outermost frame,
 * speedscope one profile per process; massif takes one trace. */
#ifndef HL_EXPORT_FILES_H
#define HL_EXPORT_FILES_H

#include <stdbool.h>
#include <stddef.h>

#include "aggregate.h"
#include "export_stacks.h"
#include "replay.h"
#include "stacks.h"
#include "trace_read.h"

struct hl_export_opts {
	const char *folded, *speedscope, *massif; /* paths, "-" for stdout, or NULL */
	enum hl_metric metric;			  /* --metric (folded, speedscope) */
	bool metric_given;
};

/* One trace, after the pipeline's stages: aggregated (with the peak pass
 * when the metric is peak) and with its stacks. */
struct hl_export_input {
	const char *path;
	const struct hl_summary *summary;
	struct hl_trace *trace; /* read once more for massif */
	const struct hl_agg *agg;
	struct hl_stacks *stacks;
};

struct hl_exports;

bool hl_exports_wanted(const struct hl_export_opts *o);
bool hl_exports_to_stdout(const struct hl_export_opts *o);
/* A command-line conflict, as a message for the user, or NULL. */
const char *hl_exports_conflict(const struct hl_export_opts *o, int ntraces);

/* Each: 0, or -1 with a one-line message (naming the file) in err. */
int hl_exports_open(struct hl_exports **out, const struct hl_export_opts *o, int ntraces, char *err,
		    size_t errlen);
int hl_exports_add(struct hl_exports *x, const struct hl_export_input *in, char *err,
		   size_t errlen);
/* Finishes and closes every file, and frees x (NULL is fine). */
int hl_exports_close(struct hl_exports *x, char *err, size_t errlen);

#endif
