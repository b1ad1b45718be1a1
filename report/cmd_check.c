/* cmd_check.c — `heapline check`, the CI gate: runs PROG (and its children)
 * with the leak scan on, or takes recorded traces, judges every trace
 * (check_judge.c: leak classes, stacks, suppressions), decides (leaks of the
 * error kinds over --max-leaked, peak over --max-peak, PROG's own failure)
 * and prints (check_print.c).  Exports hl_cmd_check (commands.h).
 *
 * Exit status: PROG's own when PROG failed; else 2 for a usage error or an
 * unreadable trace; else --exit-code (23) when the gate fails; else 0. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_judge.h"
#include "check_print.h"
#include "check_supp.h"
#include "cli.h"
#include "commands.h"
#include "hl_format.h"
#include "launch.h"

#define DEPTH_MAX    256
#define EXIT_NOTRUN  127
#define DEFAULT_EXIT 23 /* LeakSanitizer's */

static const char usage[] =
    "usage: heapline check [OPTIONS] -- PROG [ARGS...]\n"
    "       heapline check [OPTIONS] TRACE...\n"
    "\n"
    "Runs PROG (and the processes it starts) with libheapline.so and a leak scan\n"
    "at exit, or reads traces recorded with HEAPLINE_LEAK_SCAN=1, classifies the\n"
    "blocks never freed as memcheck does (definitely lost, indirectly lost,\n"
    "possibly lost, still reachable), prints them grouped by allocating stack,\n"
    "and fails when the error kinds leak more than allowed or the peak heap\n"
    "exceeds its budget.  PROG's output is left alone; the report goes to stderr.\n"
    "\n"
    "options:\n"
    "      --errors-for KINDS    kinds that fail the check, comma-separated:\n"
    "                            definite, indirect, possible, reachable, all,\n"
    "                            none (default: definite,indirect)\n"
    "      --show-kinds KINDS    kinds whose leaks are listed (default: the\n"
    "                            --errors-for kinds)\n"
    "      --max-leaked SIZE     bytes of the error kinds allowed (default 0:\n"
    "                            any such block fails)\n"
    "      --max-peak SIZE       peak heap budget of every process, e.g. 64MiB\n"
    "      --suppressions FILE   LeakSanitizer-style 'leak:<pattern>' rules;\n"
    "                            repeatable\n"
    "      --no-default-suppressions\n"
    "                            do not load the shipped default.supp\n"
    "      --exit-code N         exit status when the check fails (default 23;\n"
    "                            0 reports without failing)\n"
    "      --format FMT          text (default, to stderr), json or sarif (to\n"
    "                            stdout)\n"
    "      --report FILE         write the report to FILE instead\n"
    "      --github              also print GitHub Actions annotations on stdout:\n"
    "                            the ten biggest leaks and a summary line\n"
    "  -o, --output PATH         keep the traces (as heapline run -o); by default\n"
    "                            they are written to a temporary directory and\n"
    "                            removed\n"
    "      --depth N             frames per stack (1-256, default 256)\n"
    "      --no-children         check PROG only, not the processes it starts\n"
    "  -h, --help                print this help\n"
    "\n"
    "SIZE: a number of bytes, optionally with K, M, G (KiB, MiB, GiB: powers of\n"
    "1024) or kB, MB, GB (powers of 1000).\n"
    "\n"
    "exit status: PROG's own if PROG failed; 2 for a usage error or an\n"
    "unreadable trace; the --exit-code value if the check failed; else 0.\n";

enum {
	OPT_ERRORS_FOR = 256,
	OPT_SHOW_KINDS,
	OPT_MAX_LEAKED,
	OPT_MAX_PEAK,
	OPT_SUPPRESSIONS,
	OPT_NO_DEFAULT_SUPP,
	OPT_EXIT_CODE,
	OPT_FORMAT,
	OPT_REPORT,
	OPT_GITHUB,
	OPT_DEPTH,
	OPT_NO_CHILDREN,
};

static const struct option long_opts[] = {
    {"errors-for", required_argument, NULL, OPT_ERRORS_FOR},
    {"show-kinds", required_argument, NULL, OPT_SHOW_KINDS},
    {"max-leaked", required_argument, NULL, OPT_MAX_LEAKED},
    {"max-peak", required_argument, NULL, OPT_MAX_PEAK},
    {"suppressions", required_argument, NULL, OPT_SUPPRESSIONS},
    {"no-default-suppressions", no_argument, NULL, OPT_NO_DEFAULT_SUPP},
    {"exit-code", required_argument, NULL, OPT_EXIT_CODE},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"report", required_argument, NULL, OPT_REPORT},
    {"github", no_argument, NULL, OPT_GITHUB},
    {"output", required_argument, NULL, 'o'},
    {"depth", required_argument, NULL, OPT_DEPTH},
    {"no-children", no_argument, NULL, OPT_NO_CHILDREN},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

enum fmt { FMT_TEXT, FMT_JSON, FMT_SARIF };

#define MAX_SUPP_FILES 64

struct opts {
	enum fmt format;
	const char *report;
	bool github;
	const char *output;
	const char *supp_files[MAX_SUPP_FILES];
	size_t nsupp;
	bool no_default_supp;
	bool show_set;
	struct hl_launch l;
};

static int usage_error(const char *what, const char *arg)
{
	if (!arg)
		return hl_cli_usage("check", "%s", what);
	fprintf(stderr, "heapline check: %s '%s' (try 'heapline check --help')\n", what, arg);
	return HL_EXIT_USAGE;
}

/* "definite,indirect" -> bits; -1 if a name is unknown. */
static int parse_kinds(const char *s, unsigned *out)
{
	char buf[256];
	unsigned bits = 0;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "all")) {
			bits |= (1u << HL_KIND_COUNT) - 1;
			continue;
		}
		if (!strcmp(t, "none"))
			continue;
		int k;
		for (k = 0; k < HL_KIND_COUNT; k++)
			if (!strcmp(t, hl_kind_name((enum hl_kind)k)))
				break;
		if (k == HL_KIND_COUNT)
			return -1;
		bits |= HL_KIND_BIT(k);
	}
	*out = bits;
	return 0;
}

/* "64MiB", "1.5G", "100kB", "4096" -> bytes.  0 or -1. */
static int parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		double mult;
	} units[] = {
	    {"", 1},
	    {"B", 1},
	    {"K", 1024.0},
	    {"KiB", 1024.0},
	    {"k", 1024.0},
	    {"M", 1048576.0},
	    {"MiB", 1048576.0},
	    {"G", 1073741824.0},
	    {"GiB", 1073741824.0},
	    {"T", 1099511627776.0},
	    {"TiB", 1099511627776.0},
	    {"kB", 1e3},
	    {"KB", 1e3},
	    {"MB", 1e6},
	    {"GB", 1e9},
	    {"TB", 1e12},
	};
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0 || !isfinite(v))
		return -1;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix))
			continue;
		double b = v * units[i].mult;
		if (b >= 18446744073709551615.0)
			return -1;
		*out = (uint64_t)(b + 0.5);
		return 0;
	}
	return -1;
}

static bool is_trace(const char *path)
{
	char magic[HL_MAGIC_LEN];
	FILE *f = fopen(path, "re");
	bool yes = false;

	if (!f)
		return false;
	yes = fread(magic, 1, sizeof(magic), f) == sizeof(magic) &&
	      !memcmp(magic, HL_MAGIC, HL_MAGIC_LEN);
	fclose(f);
	return yes;
}

static int add_trace(struct hl_check *c, const char *path)
{
	char err[4200];
	struct hl_judged *t = realloc(c->traces, (c->ntraces + 1) * sizeof(*t));

	if (!t) {
		fprintf(stderr, "heapline check: out of memory\n");
		c->unreadable = true;
		return -1;
	}
	c->traces = t;
	if (hl_judge_trace(path, &c->supp, c->errors_for | c->show, &c->traces[c->ntraces], err,
			   sizeof(err))) {
		fprintf(stderr, "heapline check: %s\n", err);
		c->unreadable = true;
		return -1;
	}
	c->ntraces++;
	return 0;
}

static int load_suppressions(struct hl_check *c, const struct opts *o)
{
	char path[4096], err[4200];

	if (!o->no_default_supp) {
		if (hl_supp_default_path(path, sizeof(path))) {
			if (hl_supp_load(&c->supp, path, err, sizeof(err))) {
				fprintf(stderr, "heapline check: %s\n", err);
				return -1;
			}
		} else if (!getenv("HEAPLINE_DEFAULT_SUPP")) {
			fprintf(stderr, "heapline check: warning: the default suppressions "
					"(default.supp) were not found; going on without them\n");
		}
	}
	for (size_t i = 0; i < o->nsupp; i++)
		if (hl_supp_load(&c->supp, o->supp_files[i], err, sizeof(err))) {
			fprintf(stderr, "heapline check: %s\n", err);
			return -1;
		}
	return 0;
}

/* Runs PROG with the leak scan and judges the traces of its process tree.
 * Returns 0, or an exit status when there is nothing to judge. */
static int run_and_judge(struct hl_check *c, struct opts *o, char **argv)
{
	char lib[PATH_MAX], output[2 * PATH_MAX], err[2 * PATH_MAX + 128];
	const char *detail;
	struct hl_launch *l = &o->l;
	struct hl_session_entry *v = NULL;
	size_t n = 0;
	int rc;

	c->ran = true;
	c->prog = argv[0];
	if (hl_launch_find_lib(lib, sizeof(lib), err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return HL_EXIT_USAGE;
	}
	l->lib = lib;
	l->profile = true;
	l->leak_scan = true;
	enum hl_prog_kind kind = hl_launch_inspect(argv[0], &detail);
	if (kind != HL_PROG_PROFILABLE) {
		fprintf(stderr,
			"heapline check: %s %s%s cannot be checked (LD_PRELOAD cannot take "
			"effect); running it unchecked\n",
			argv[0], kind == HL_PROG_SANITIZER ? "is built with " : "",
			detail ? detail : "");
		l->profile = false;
	}
	rc = hl_launch_session_create(l);
	if (rc < 0) {
		fprintf(stderr, "heapline check: cannot create a session directory: %s\n",
			strerror(-rc));
		return HL_EXIT_USAGE;
	}
	if (o->output) {
		rc = hl_launch_output_pattern(o->output, output, sizeof(output));
	} else {
		rc = snprintf(output, sizeof(output), "%s/heapline.%%e.%%p.hlt", l->session_dir) <
			     (int)sizeof(output)
			 ? 0
			 : -ENAMETOOLONG;
	}
	if (rc < 0) {
		fprintf(stderr, "heapline check: cannot form the trace path: %s\n", strerror(-rc));
		hl_launch_session_remove(l);
		return HL_EXIT_USAGE;
	}
	l->output = output;
	rc = hl_launch_run(l, argv);
	if (rc < 0) {
		fprintf(stderr, "heapline check: cannot start %s: %s\n", argv[0], strerror(-rc));
		hl_launch_session_remove(l);
		return EXIT_NOTRUN;
	}
	c->prog_exit = hl_launch_exit_code(l->root_status);
	if (l->exec_errno) {
		hl_launch_session_remove(l);
		return c->prog_exit;
	}
	if (!l->profile) {
		hl_launch_session_remove(l);
		return c->prog_exit ? c->prog_exit : HL_EXIT_USAGE;
	}
	rc = hl_launch_session_read(l, &v, &n);
	if (rc < 0) {
		fprintf(stderr, "heapline check: %s: cannot read the session log: %s\n",
			l->session_log, strerror(-rc));
		hl_launch_session_remove(l);
		return c->prog_exit ? c->prog_exit : HL_EXIT_USAGE;
	}
	for (size_t i = 0; i < n; i++)
		add_trace(c, v[i].path);
	hl_launch_session_free(v, n);
	if (!n) {
		fprintf(stderr,
			"heapline check: no trace was written: %s did not load the preload library "
			"(LD_PRELOAD=%s), or the library could not create or report its trace%s\n",
			argv[0], lib, WIFSIGNALED(l->root_status) ? " or was killed" : "");
		c->unreadable = true;
	}
	/* The traces are judged; the temporary ones go with the session. */
	hl_launch_session_remove(l);
	return 0;
}

static void print_report(const struct hl_check *c, const struct opts *o)
{
	FILE *f = o->format == FMT_TEXT ? stderr : stdout;
	char line[1024];

	fflush(stdout);
	if (o->report) {
		f = fopen(o->report, "we");
		if (!f) {
			fprintf(stderr, "heapline check: %s: cannot write the report: %s\n",
				o->report, strerror(errno));
			f = o->format == FMT_TEXT ? stderr : stdout;
		}
	}
	switch (o->format) {
	case FMT_TEXT:
		hl_check_print_text(f, c);
		break;
	case FMT_JSON:
		hl_check_print_json(f, c);
		break;
	case FMT_SARIF:
		hl_check_print_sarif(f, c);
		break;
	}
	if (f != stderr && f != stdout)
		fclose(f);
	else
		fflush(f);
	if (o->format != FMT_TEXT || (o->report && f != stderr)) {
		/* the verdict always reaches the log */
		hl_check_verdict(c, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
	if (o->github) {
		hl_check_print_github(stdout, c);
		fflush(stdout);
	}
}

int hl_cmd_check(int argc, char **argv)
{
	struct hl_check c;
	struct opts o;
	char *end;
	long num;
	int ch, ret;

	memset(&c, 0, sizeof(c));
	memset(&o, 0, sizeof(o));
	c.errors_for = HL_KIND_BIT(HL_KIND_DEFINITE) | HL_KIND_BIT(HL_KIND_INDIRECT);
	c.exit_code = DEFAULT_EXIT;
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+:o:h", long_opts, NULL)) != -1) {
		switch (ch) {
		case OPT_ERRORS_FOR:
			if (parse_kinds(optarg, &c.errors_for))
				return usage_error(
				    "--errors-for wants kinds among definite, indirect, "
				    "possible, reachable, all, none, not",
				    optarg);
			break;
		case OPT_SHOW_KINDS:
			if (parse_kinds(optarg, &c.show))
				return usage_error(
				    "--show-kinds wants kinds among definite, indirect, "
				    "possible, reachable, all, none, not",
				    optarg);
			o.show_set = true;
			break;
		case OPT_MAX_LEAKED:
			if (parse_size(optarg, &c.max_leaked))
				return usage_error(
				    "--max-leaked wants a size such as 0, 4096 or 1MiB, not",
				    optarg);
			break;
		case OPT_MAX_PEAK:
			if (parse_size(optarg, &c.max_peak) || !c.max_peak)
				return usage_error("--max-peak wants a size such as 64MiB, not",
						   optarg);
			break;
		case OPT_SUPPRESSIONS:
			if (o.nsupp == MAX_SUPP_FILES)
				return usage_error("too many --suppressions files", NULL);
			o.supp_files[o.nsupp++] = optarg;
			break;
		case OPT_NO_DEFAULT_SUPP:
			o.no_default_supp = true;
			break;
		case OPT_EXIT_CODE:
			errno = 0;
			num = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || num < 0 || num > 255)
				return usage_error("--exit-code wants a number from 0 to 255, not",
						   optarg);
			c.exit_code = (int)num;
			break;
		case OPT_FORMAT:
			if (!strcmp(optarg, "text"))
				o.format = FMT_TEXT;
			else if (!strcmp(optarg, "json"))
				o.format = FMT_JSON;
			else if (!strcmp(optarg, "sarif"))
				o.format = FMT_SARIF;
			else
				return usage_error("--format wants text, json or sarif, not",
						   optarg);
			break;
		case OPT_REPORT:
			o.report = optarg;
			break;
		case OPT_GITHUB:
			o.github = true;
			break;
		case 'o':
			if (!*optarg)
				return usage_error("empty output path", NULL);
			o.output = optarg;
			break;
		case OPT_DEPTH:
			errno = 0;
			num = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || num < 1 || num > DEPTH_MAX)
				return usage_error("--depth wants a number from 1 to 256, not",
						   optarg);
			o.l.depth = (int)num;
			break;
		case OPT_NO_CHILDREN:
			o.l.no_children = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default: /* ':' or '?' */
			return hl_cli_bad_option("check", ch, argv);
		}
	}
	if (optind >= argc)
		return usage_error("no program to run and no trace to judge", NULL);
	if (!o.show_set)
		c.show = c.errors_for;
	bool dashdash = !strcmp(argv[optind - 1], "--");
	size_t alen = strlen(argv[optind]);
	bool traces = !dashdash && (is_trace(argv[optind]) ||
				    (alen > 4 && !strcmp(argv[optind] + alen - 4, ".hlt")));
	if (traces && o.output)
		return usage_error("-o applies to a program run, not to traces", NULL);
	if (load_suppressions(&c, &o)) {
		hl_supp_free(&c.supp);
		return HL_EXIT_USAGE;
	}

	if (traces) {
		for (int i = optind; i < argc; i++)
			add_trace(&c, argv[i]);
	} else {
		ret = run_and_judge(&c, &o, argv + optind);
		if (ret) {
			for (size_t i = 0; i < c.ntraces; i++)
				hl_judged_free(&c.traces[i]);
			free(c.traces);
			hl_supp_free(&c.supp);
			return ret;
		}
	}
	hl_check_decide(&c);
	if (c.ntraces || !c.unreadable) /* else the errors said it all */
		print_report(&c, &o);
	ret = c.exit;
	for (size_t i = 0; i < c.ntraces; i++)
		hl_judged_free(&c.traces[i]);
	free(c.traces);
	hl_supp_free(&c.supp);
	return ret;
}
