/* cmd_run.c — `heapline run`: reads the command line, has launch.c run PROG
 * under libheapline.so to the end of its process tree, prints one summary
 * line per traced process on stderr, and exits with PROG's own status.
 * Exports hl_cmd_run (commands.h). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "format.h"
#include "hl_format.h"
#include "launch.h"
#include "replay.h"

#define HL_DEPTH_MAX     256
#define HL_EXIT_NOTRUN   127 /* PROG never started (as a shell says) */

static const char usage[] =
	"usage: heapline run [OPTIONS] [--] PROG [ARGS...]\n"
	"\n"
	"Runs PROG with libheapline.so preloaded, follows its children, writes one\n"
	"trace per process, prints a one-line summary per process on stderr, and\n"
	"exits with PROG's exit status (128+N if it died of signal N).\n"
	"\n"
	"options:\n"
	"  -o, --output PATH  trace file name; %p is the pid, %e the program name,\n"
	"                     %% a percent sign;\n"
	"                     the pid is added for other processes if PATH has no %p\n"
	"                     (default: ./heapline.%e.%p.hlt)\n"
	"      --depth N      record at most N frames per stack (1-256, default 256)\n"
	"      --no-children  profile PROG only, not the processes it starts\n"
	"      --lossy        drop events rather than slow PROG down when the\n"
	"                     writer falls behind (the summary counts them)\n"
	"  -q, --quiet        print nothing but errors and why profiling did not happen\n"
	"  -h, --help         print this help\n"
	"\n"
	"environment (read by libheapline.so; set them yourself to use it without\n"
	"the launcher: LD_PRELOAD=/path/libheapline.so HEAPLINE_OUTPUT=FILE prog):\n"
	"  HEAPLINE_OUTPUT        trace path pattern (-o), %p and %e expanded\n"
	"  HEAPLINE_DEPTH         frames per stack (--depth), default and max 256\n"
	"  HEAPLINE_NO_CHILDREN   1: do not profile child processes (--no-children)\n"
	"  HEAPLINE_LOSSY         1: drop events instead of blocking (--lossy)\n"
	"  HEAPLINE_SESSION_LOG   file each process appends 'pid TAB ppid TAB trace'\n"
	"                         to when it creates its trace\n"
	"  HEAPLINE_ROOT_PID      (internal) pid of the process the launcher started\n"
	"  HEAPLINE_DISABLE       1: load but record nothing\n"
	"  HEAPLINE_RING_KIB      event ring size in KiB (default 2048)\n"
	"  HEAPLINE_LIB           read by heapline run: the library to preload\n"
	"                         (default: found next to heapline)\n"
	"\n"
	"Statically linked, setuid and sanitizer-instrumented programs cannot be\n"
	"profiled; heapline says so and runs them unprofiled.\n";

enum {
	OPT_DEPTH = 256,
	OPT_NO_CHILDREN,
	OPT_LOSSY,
};

static const struct option long_opts[] = {
	{"output", required_argument, NULL, 'o'},
	{"depth", required_argument, NULL, OPT_DEPTH},
	{"no-children", no_argument, NULL, OPT_NO_CHILDREN},
	{"lossy", no_argument, NULL, OPT_LOSSY},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int usage_error(const char *what, const char *arg)
{
	if (!arg)
		return hl_cli_usage("run", "%s", what);
	fprintf(stderr, "heapline run: %s '%s' (try 'heapline run --help')\n", what, arg);
	return HL_EXIT_USAGE;
}

/* "512 B", "1.2 KiB", "12.4 MiB" ... */
static const char *human(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", bytes);
		return buf;
	}
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* The program's short name: the executable's basename, else argv[0]'s. */
static const char *short_name(const struct hl_summary *s, char *buf, size_t len)
{
	const char *src = s->exe && *s->exe ? s->exe : s->command;
	const char *base;
	size_t n;

	if (!src || !*src)
		return NULL;
	n = strcspn(src, " ");
	snprintf(buf, len, "%.*s", (int)n, src);
	base = strrchr(buf, '/');
	return base && base[1] ? base + 1 : buf;
}

/* One line per traced process.  An unreadable trace is an error and is
 * printed even with -q. */
static void print_process(const struct hl_launch *l, const struct hl_session_entry *e, bool last,
			  bool quiet)
{
	struct hl_summary s;
	char err[512], name[256], peak[32], leaked[32], sig[32], extra[256] = "";
	int st;
	const char *nm;

	memset(&s, 0, sizeof(s));
	if (hl_summary_of(e->path, &s, err, sizeof(err)) < 0) {
		/* The reader's message usually names the file already. */
		bool named = err[0] && strstr(err, e->path);

		fprintf(stderr, "heapline: pid %d: cannot read its trace: %s%s%s\n", (int)e->pid,
			err[0] ? err : "unknown error", named ? "" : " -> ", named ? "" : e->path);
		return;
	}
	if (quiet)
		goto out;
	if (s.truncated_bytes)
		snprintf(extra, sizeof(extra), ", trace truncated (%" PRIu64 " bytes unreadable)",
			 s.truncated_bytes);
	if (s.lost_events)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			 ", %" PRIu64 " events lost", s.lost_events);
	/* No END: the process died without a word to its writer.  If it was
	 * ours to reap, the wait status says how (an image that ended by exec
	 * has its END: this is the pid's last image). */
	if (s.ended && s.end_reason == HL_END_CRASH)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			 ", crashed: signal %s", hl_fmt_signal(sig, sizeof(sig), (int)s.end_signal));
	if ((!s.ended || (last && s.end_reason == HL_END_EXEC)) &&
	    hl_launch_status_of(l, e->pid, &st) && WIFSIGNALED(st))
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			 s.ended ? ", then its next image died of signal %s before it wrote a trace"
				 : ", killed by signal %s: its last ~60 ms may be missing",
			 hl_fmt_signal(sig, sizeof(sig), WTERMSIG(st)));
	if (s.own_malloc)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			 ", its own malloc took its allocations: not seen");
	nm = short_name(&s, name, sizeof(name));
	fprintf(stderr,
		"heapline: pid %d%s%s%s: %" PRIu64 " %s, %s peak, %s leaked in %" PRIu64
		" %s, %.2f s%s -> %s\n",
		(int)e->pid, nm ? " (" : "", nm ? nm : "", nm ? ")" : "", s.allocations,
		plural(s.allocations, "allocation", "allocations"),
		human(s.peak_bytes, peak, sizeof(peak)), human(s.leaked_bytes, leaked, sizeof(leaked)),
		s.leaked_blocks, plural(s.leaked_blocks, "block", "blocks"),
		(double)s.duration_ms / 1000.0, extra, e->path);
out:
	hl_summary_release(&s);
}

static void print_session(const struct hl_launch *l, const char *prog, bool quiet)
{
	struct hl_session_entry *v;
	size_t n;
	int rc;

	rc = hl_launch_session_read(l, &v, &n);
	if (rc < 0) {
		fprintf(stderr, "heapline: %s: cannot read the session log: %s\n", l->session_log,
			strerror(-rc));
		return;
	}
	/* "-": the library loaded but could not write (it said why). */
	for (size_t i = 0; i < n; i++) {
		bool last = true;

		for (size_t k = i + 1; k < n && last; k++)
			last = v[k].pid != v[i].pid;
		if (strcmp(v[i].path, "-"))
			print_process(l, &v[i], last, quiet);
	}
	/* A process killed by a signal may have had no chance to write; one
	 * that exited normally without a trace never loaded us, or the library
	 * had no descriptor left for the trace or the log (ulimit -n). */
	if (!n && WIFEXITED(l->root_status))
		fprintf(stderr,
			"heapline: no trace was written: %s did not load the preload library "
			"(LD_PRELOAD=%s), or the library could not create or report its trace\n",
			prog, l->lib);
	/* One that died of a signal before its writer wrote a block (a crash
	 * in its first ~50 ms, such as glibc's abort on a double free) left
	 * nothing: say so rather than nothing. */
	const char *base = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;
	for (size_t i = 0; i < l->nreaped; i++) {
		const struct hl_reaped *r = &l->reaped[i];
		bool traced = false, root = r->pid == l->root_pid;
		char sig[32];

		for (size_t k = 0; k < n && !traced; k++)
			traced = v[k].pid == r->pid;
		if (traced || !WIFSIGNALED(r->status))
			continue;
		fprintf(stderr,
			"heapline: pid %d%s%s%s died of signal %s and left no trace: it ended "
			"before its first block (heapline writes one every 50 ms), or did not load "
			"heapline\n",
			(int)r->pid, root ? " (" : "", root ? base : "", root ? ")" : "",
			hl_fmt_signal(sig, sizeof(sig), WTERMSIG(r->status)));
	}
	hl_launch_session_free(v, n);
}

static const char *why_unprofilable(enum hl_prog_kind kind)
{
	switch (kind) {
	case HL_PROG_STATIC:
		return "LD_PRELOAD cannot take effect";
	case HL_PROG_SETUID:
		return "the loader ignores LD_PRELOAD for it";
	case HL_PROG_SANITIZER:
		return "its allocator cannot be replaced by heapline's";
	default:
		return "";
	}
}

int hl_cmd_run(int argc, char **argv)
{
	struct hl_launch l;
	char lib[PATH_MAX], output[2 * PATH_MAX], err[2 * PATH_MAX + 128];
	const char *out_opt = NULL, *detail, *prog;
	enum hl_prog_kind kind;
	bool quiet = false;
	char *end;
	long depth;
	int c, rc;

	memset(&l, 0, sizeof(l));
	opterr = 0;
	optind = 1;
	/* '+': options stop at PROG, whose own options are its business. */
	while ((c = getopt_long(argc, argv, "+:o:qh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (!*optarg)
				return usage_error("empty output path", NULL);
			out_opt = optarg;
			break;
		case OPT_DEPTH:
			errno = 0;
			depth = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || depth < 1 || depth > HL_DEPTH_MAX)
				return usage_error("--depth wants a number from 1 to 256, not", optarg);
			l.depth = (int)depth;
			break;
		case OPT_NO_CHILDREN:
			l.no_children = true;
			break;
		case OPT_LOSSY:
			l.lossy = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default: /* ':' or '?' */
			return hl_cli_bad_option("run", c, argv);
		}
	}
	if (optind >= argc)
		return usage_error("no program to run", NULL);
	prog = argv[optind];

	if (hl_launch_find_lib(lib, sizeof(lib), err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return HL_EXIT_USAGE;
	}
	rc = hl_launch_output_pattern(out_opt, output, sizeof(output));
	if (rc < 0) {
		fprintf(stderr, "heapline run: cannot form the trace path%s%s: %s\n",
			out_opt ? " from " : "", out_opt ? out_opt : "", strerror(-rc));
		return HL_EXIT_USAGE;
	}
	l.lib = lib;
	l.output = output;
	l.profile = true;

	kind = hl_launch_inspect(prog, &detail);
	if (kind != HL_PROG_PROFILABLE) {
		fprintf(stderr, "heapline: %s %s%s: %s; running it without profiling\n", prog,
			kind == HL_PROG_SANITIZER ? "is built with " : "", detail,
			why_unprofilable(kind));
		l.profile = false;
	}

	rc = hl_launch_session_create(&l);
	if (rc < 0) {
		const char *tmp = getenv("TMPDIR");

		fprintf(stderr, "heapline run: cannot create a session directory in %s: %s\n",
			tmp && *tmp ? tmp : "/tmp", strerror(-rc));
		return HL_EXIT_USAGE;
	}
	rc = hl_launch_run(&l, argv + optind);
	if (rc < 0) {
		fprintf(stderr, "heapline: cannot start %s: %s\n", prog, strerror(-rc));
		hl_launch_session_remove(&l);
		return HL_EXIT_NOTRUN;
	}
	if (l.profile && !l.exec_errno)
		print_session(&l, prog, quiet);
	hl_launch_session_remove(&l);
	return hl_launch_exit_code(l.root_status);
}
