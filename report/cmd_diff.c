/* cmd_diff.c — `heapline diff OLD NEW`: what grew or shrank between two
 * runs.  Each trace goes through the report pipeline up to its sites
 * (load.c); the sites and the lines they start at are matched by name
 * between the two (diff_table.c) and printed with old, new, delta and
 * percent (diff_print.c).  --fail-on-increase turns it into a CI gate. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "diff_print.h"
#include "diff_table.h"
#include "json.h"

/* --fail-on-increase exceeded: distinct from HL_EXIT_USAGE (bad input). */
#define DIFF_EXIT_INCREASE 1

static const char usage[] =
    "usage: heapline diff [OPTIONS] OLD NEW\n"
    "\n"
    "Compares two traces (say, of the same program before and after a change):\n"
    "the summary, then allocation sites and source lines, largest change first,\n"
    "with the old value, the new, the difference and the percentage, in bytes\n"
    "allocated, bytes live at the global peak and bytes leaked.  A site is the\n"
    "first frame in the program's own code with its callers (as in heapline\n"
    "report); a line is that first frame's file:line.  Both are matched by\n"
    "function, file name and line, never by address, so the two traces may\n"
    "come from different builds.\n"
    "\n"
    "options:\n"
    "  --metric allocated|peak|leaked|calls  the number that orders the rows\n"
    "                         and that --fail-on-increase checks (default peak)\n"
    "  --top N                rows per table (default 10)\n"
    "  --stack-depth N        callers that make up a site (default 5)\n"
    "  --unit B|KiB|MiB|GiB|auto  size unit (default auto, per table)\n"
    "  --precision N          decimals of sizes (default 3)\n"
    "  --fail-on-increase PCT exit 1 when the metric's total (the summary's\n"
    "                         peak heap by default) grew by more than PCT\n"
    "                         percent; from zero to anything counts as more\n"
    "  --format text|json     text for people (default), json for machines\n"
    "                         (docs/diff.md)\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status: 0; 1 when --fail-on-increase was exceeded; 2 for a bad\n"
    "command line or a trace that is missing, not a trace, too new or corrupt.\n";

static int usage_error(const char *fmt, const char *arg)
{
	return hl_cli_usage("diff", fmt, arg);
}

/* A percentage: a finite number >= 0, "10" or "2.5" (a trailing % is fine). */
static int parse_pct(const char *s, double *out)
{
	char *end;
	double v;

	if (!*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (*end == '%')
		end++;
	if (errno || *end || !isfinite(v) || v < 0)
		return -1;
	*out = v;
	return 0;
}

int hl_cmd_diff(int argc, char **argv)
{
	enum { OPT_METRIC = 256, OPT_TOP, OPT_DEPTH, OPT_UNIT, OPT_PRECISION, OPT_FAIL };
	static const struct option longopts[] = {
	    {"format", required_argument, NULL, 'f'},
	    {"metric", required_argument, NULL, OPT_METRIC},
	    {"top", required_argument, NULL, OPT_TOP},
	    {"stack-depth", required_argument, NULL, OPT_DEPTH},
	    {"unit", required_argument, NULL, OPT_UNIT},
	    {"precision", required_argument, NULL, OPT_PRECISION},
	    {"fail-on-increase", required_argument, NULL, OPT_FAIL},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct hl_diff_result d = {
	    .metric = HL_METRIC_PEAK, .top = 10, .unit = HL_UNIT_AUTO, .precision = 3};
	struct hl_loaded side[2];
	struct hl_diff_table sites, lines;
	unsigned depth = 5, u;
	int json = 0, c, ret, status = 0;
	char err[512];

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "text"))
				json = 0;
			else if (!strcmp(optarg, "json"))
				json = 1;
			else
				return usage_error("unknown format '%s', expected text or json",
						   optarg);
			break;
		case OPT_METRIC:
			if (hl_metric_parse(optarg, &d.metric))
				return usage_error(
				    "unknown metric '%s', expected allocated, peak, leaked"
				    " or calls",
				    optarg);
			break;
		case OPT_TOP:
			if (hl_cli_uint(optarg, 1, 1000000, &d.top))
				return usage_error("--top wants a number from 1 up, not '%s'",
						   optarg);
			break;
		case OPT_DEPTH:
			if (hl_cli_uint(optarg, 0, 1000, &depth))
				return usage_error(
				    "--stack-depth wants a number from 0 to 1000, not '%s'",
				    optarg);
			break;
		case OPT_UNIT:
			if (hl_unit_parse(optarg, &d.unit))
				return usage_error(
				    "unknown unit '%s', expected B, KiB, MiB, GiB or auto", optarg);
			break;
		case OPT_PRECISION:
			if (hl_cli_uint(optarg, 0, 9, &u))
				return usage_error(
				    "--precision wants a number from 0 to 9, not '%s'", optarg);
			d.precision = (int)u;
			break;
		case OPT_FAIL:
			if (parse_pct(optarg, &d.gate_pct))
				return usage_error(
				    "--fail-on-increase wants a percentage (0 or more),"
				    " not '%s'",
				    optarg);
			d.gate = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default: /* ':' or '?' */
			return hl_cli_bad_option("diff", c, argv);
		}
	}
	if (argc - optind != 2)
		return usage_error("%s", argc - optind < 2
					     ? "wants two traces, OLD and NEW"
					     : "wants two traces, OLD and NEW, no more");

	/* The peak pass always runs: the diff shows what each site held at
	 * the peak. */
	const struct hl_load_opts lo = {
	    .needs = HL_LOAD_AGG | HL_LOAD_PEAK | HL_LOAD_SITES,
	    .stack_depth = depth,
	};
	if (hl_load(&side[HL_DIFF_OLD], argv[optind], &lo, err, sizeof(err))) {
		fprintf(stderr, "heapline: %s\n", err);
		return HL_EXIT_USAGE;
	}
	if (hl_load(&side[HL_DIFF_NEW], argv[optind + 1], &lo, err, sizeof(err))) {
		fprintf(stderr, "heapline: %s\n", err);
		hl_load_release(&side[HL_DIFF_OLD]);
		return HL_EXIT_USAGE;
	}
	ret = hl_diff_table_build(&sites, side[HL_DIFF_OLD].sites, side[HL_DIFF_NEW].sites,
				  HL_DIFF_BY_SITE, d.metric);
	if (!ret) {
		ret = hl_diff_table_build(&lines, side[HL_DIFF_OLD].sites, side[HL_DIFF_NEW].sites,
					  HL_DIFF_BY_LINE, d.metric);
		if (ret)
			hl_diff_table_release(&sites);
	}
	if (ret) {
		fprintf(stderr, "heapline diff: %s\n", strerror(-ret));
		status = HL_EXIT_USAGE;
		goto out;
	}

	d.side[HL_DIFF_OLD] = &side[HL_DIFF_OLD];
	d.side[HL_DIFF_NEW] = &side[HL_DIFF_NEW];
	d.sites = &sites;
	d.lines = &lines;
	if (d.gate) {
		uint64_t o = hl_diff_summary_value(&side[HL_DIFF_OLD].summary, d.metric);
		uint64_t n = hl_diff_summary_value(&side[HL_DIFF_NEW].summary, d.metric);

		d.failed = hl_diff_percent(o, n) > d.gate_pct;
		if (d.failed)
			status = DIFF_EXIT_INCREASE;
	}
	if (json) {
		struct hl_json j;
		hl_json_init(&j, stdout, 1);
		hl_diff_print_json(&j, &d);
		hl_json_finish(&j);
	} else {
		hl_diff_print_text(stdout, &d);
	}
	hl_diff_table_release(&sites);
	hl_diff_table_release(&lines);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "heapline diff: cannot write the diff: %s\n", strerror(errno));
		status = HL_EXIT_USAGE;
	}
out:
	hl_load_release(&side[HL_DIFF_NEW]);
	hl_load_release(&side[HL_DIFF_OLD]);
	return status;
}
