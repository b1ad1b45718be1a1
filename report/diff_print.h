/* diff_print.h — the printers of `heapline diff`: the text tables (summary,
 * sites, lines; old, new, delta and percent per number) and the JSON
 * document of docs/diff.md. */
#ifndef HL_DIFF_PRINT_H
#define HL_DIFF_PRINT_H

#include <stdbool.h>
#include <stdio.h>

#include "load.h"
#include "diff_table.h"
#include "format.h"
#include "json.h"

struct hl_diff_result {
	const struct hl_loaded *side[2]; /* HL_DIFF_OLD, HL_DIFF_NEW */
	const struct hl_diff_table *sites, *lines;
	enum hl_metric metric; /* --metric: the order of the rows, the gate's number */
	unsigned top;	       /* --top: rows per table */
	enum hl_unit unit;     /* --unit */
	int precision;
	/* --fail-on-increase */
	bool gate;
	double gate_pct;
	bool failed;
};

/* The summary's number for a metric: bytes_allocated, peak_bytes,
 * leaked_bytes or allocations. */
uint64_t hl_diff_summary_value(const struct hl_summary *s, enum hl_metric m);
/* (new - old) / old in percent; old == 0: 0 if new is too, else +inf. */
double hl_diff_percent(uint64_t old, uint64_t new_);

void hl_diff_print_text(FILE *f, const struct hl_diff_result *d);
void hl_diff_print_json(struct hl_json *j, const struct hl_diff_result *d);

#endif
