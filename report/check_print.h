/* check_print.h — the verdict of `heapline check` and its printers: the
 * text report (LSan-style leaks grouped by stack, memcheck's LEAK SUMMARY,
 * "Suppressions used"), JSON, SARIF 2.1.0, and GitHub workflow annotations
 * (docs/check.md describes all four). */
#ifndef HL_CHECK_PRINT_H
#define HL_CHECK_PRINT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "check_judge.h"
#include "check_supp.h"

#define HL_KIND_BIT(k) (1u << (k))
#define HL_GITHUB_MAX  10 /* annotations; GitHub drops the rest silently */

struct hl_check {
	/* options */
	unsigned errors_for; /* kinds that fail the check (HL_KIND_BIT) */
	unsigned show;	     /* kinds whose leaks are listed in text and SARIF */
	uint64_t max_leaked; /* bytes of error kinds allowed */
	uint64_t max_peak;   /* 0: no peak budget */
	int exit_code;	     /* on failure */

	/* the judged traces and the suppressions they used */
	struct hl_judged *traces;
	size_t ntraces;
	struct hl_supp supp;

	/* totals over the traces */
	uint64_t bytes[HL_KIND_COUNT], blocks[HL_KIND_COUNT];
	uint64_t supp_bytes, supp_blocks;
	uint64_t error_bytes, error_blocks;
	uint64_t peak_bytes; /* the largest process peak */
	const struct hl_judged *peak_trace;

	/* the verdict */
	bool ran; /* check -- PROG (not traces) */
	const char *prog;
	int prog_exit; /* PROG's exit status as a shell reports it */
	bool leak_failed, peak_failed, prog_failed, unreadable;
	int exit; /* what heapline check exits with */
};

/* Fills the totals and the verdict from the judged traces. */
void hl_check_decide(struct hl_check *c);

void hl_check_print_text(FILE *f, const struct hl_check *c);
void hl_check_print_json(FILE *f, const struct hl_check *c);
void hl_check_print_sarif(FILE *f, const struct hl_check *c);
/* At most HL_GITHUB_MAX ::error annotations, the biggest leaks first, then
 * one summary line. */
void hl_check_print_github(FILE *f, const struct hl_check *c);

/* The one-line verdict ("heapline check: ..."), without newline. */
void hl_check_verdict(const struct hl_check *c, char *buf, size_t len);

#endif
