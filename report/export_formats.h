/* export_formats.h — the three writers behind `heapline report --folded,
 * --speedscope, --massif`, one file each (export_folded.c,
 * export_speedscope.c, export_massif.c).  export_files.c opens the files and
 * calls them; each writer only formats. */
#ifndef HL_EXPORT_FORMATS_H
#define HL_EXPORT_FORMATS_H

#include <stdio.h>

#include "export_stacks.h"
#include "replay.h"
#include "stacks.h"
#include "trace_read.h"

/* Brendan Gregg's folded stacks: "main;f;g 1234\n" per distinct stack (lines
 * that read the same are summed), in the stacks' order.  root, when not
 * NULL, is added as the outermost frame of every line (the process, when
 * several traces share a file).  0 or -EIO. */
int hl_export_folded(FILE *f, const struct hl_export_stacks *s, const char *root);

/* speedscope's file format (https://www.speedscope.app/file-format-schema.json):
 * one "sampled" profile per trace, frames shared between them.  The document
 * is written as traces come (profiles first, the frame table last). */
struct hl_speedscope;
struct hl_speedscope *hl_speedscope_new(FILE *f); /* NULL if out of memory */
/* One profile.  name: its title.  0 or -ENOMEM. */
int hl_speedscope_add(struct hl_speedscope *sp, const char *name, const struct hl_export_stacks *s,
		      struct hl_symbolizer *sym, enum hl_metric m);
/* Ends the document and frees sp.  0, or -EIO if a write failed. */
int hl_speedscope_finish(struct hl_speedscope *sp);

/* valgrind massif's out-file format, as ms_print and massif-visualizer read
 * it: snapshots of the live heap over time (about 100, the peak among them)
 * from a second pass over the trace, every tenth, the peak and the last one
 * with massif's heap tree (threshold 1%, depth 30).  Frames come from st,
 * built on the first pass.  0, or -1 with a one-line message in err. */
int hl_export_massif(FILE *f, struct hl_trace *t, struct hl_stacks *st,
		     const struct hl_summary *sum, char *err, size_t errlen);

#endif
