/* check_judge.h — the judging stage of `heapline check`: for one trace,
 * joins the leak scan's classes (LEAKS records) with the replay's blocks
 * live at the end, groups them by allocating stack and class, symbolizes
 * the groups, and applies the suppressions.  The printers (check_print.h)
 * and the gate (cmd_check.c) read the result. */
#ifndef HL_CHECK_JUDGE_H
#define HL_CHECK_JUDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "check_supp.h"
#include "replay.h"
#include "stacks.h"

/* memcheck's classes, in its order (= enum hl_leak_class). */
enum hl_kind {
	HL_KIND_DEFINITE,
	HL_KIND_INDIRECT,
	HL_KIND_POSSIBLE,
	HL_KIND_REACHABLE,
	HL_KIND_COUNT,
};

/* "definite", ... as --errors-for spells them; "definitely lost", ... as
 * memcheck's summary does. */
const char *hl_kind_name(enum hl_kind k);
const char *hl_kind_title(enum hl_kind k);

/* One leak: the blocks of one class allocated by one stack. */
struct hl_leak {
	enum hl_kind kind;
	uint64_t node;
	uint64_t bytes, blocks;
	int supp;			/* index of the suppressing rule, or -1 */
	bool detailed;			/* symbolized: frames and supp are set */
	const struct hl_frame **frames; /* innermost first, inlined expanded */
	bool *own;			/* per frame: the program's own code */
	size_t nframes;
	int loc; /* the frame the leak is reported at: the first
		    of the program's own with a file, else the
		    first with a file, else -1 */
	struct hl_judged *trace;
};

struct hl_judged {
	char *path; /* owned copy */
	struct hl_summary sum;
	struct hl_replay *r;
	struct hl_stacks *st;
	bool scanned;	     /* the trace holds a leak scan */
	bool exec_ended;     /* the image was replaced by exec: nothing to judge */
	uint64_t scan_flags; /* enum hl_leaks_flag, OR of its records */
	uint64_t scan_us;
	uint64_t late_blocks; /* live at the end, allocated after the scan:
				 counted as still reachable */
	uint64_t bytes[HL_KIND_COUNT], blocks[HL_KIND_COUNT]; /* not suppressed */
	uint64_t supp_bytes, supp_blocks;
	struct hl_leak *leaks;
	size_t nleaks;
};

/* Reads and judges the trace at path; suppression hits are added to supp's
 * rules.  Only leaks of the kinds in `detail` (bit per enum hl_kind) are
 * symbolized and matched against the suppressions: symbolizing every stack
 * that still reaches its block costs more than the run on big programs,
 * and nobody reads them unless asked (--show-kinds).  The others count in
 * the totals with no frames.  0, or -1 with a one-line message in err. */
int hl_judge_trace(const char *path, struct hl_supp *supp, unsigned detail, struct hl_judged *out,
		   char *err, size_t errlen);
void hl_judged_free(struct hl_judged *j);

#endif
