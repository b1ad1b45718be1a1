/* launch.h — the process side of `heapline run` (launch.c): finding the
 * preload library, deciding whether PROG can be profiled at all, running it
 * with the HEAPLINE_* environment to the end of its whole process tree, and
 * reading back the session log in which each profiled process named its
 * trace.  Printing is cmd_run.c's job; nothing here writes to stdout, and
 * stderr only from the child when exec fails. */
#ifndef HL_LAUNCH_H
#define HL_LAUNCH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Why PROG cannot be profiled, if it cannot (hl_launch_inspect). */
enum hl_prog_kind {
	HL_PROG_PROFILABLE = 0, /* dynamic, script, or not found (exec will say) */
	HL_PROG_STATIC,         /* ELF without PT_INTERP: no dynamic loader */
	HL_PROG_SETUID,         /* set-id: the loader ignores LD_PRELOAD */
	HL_PROG_SANITIZER,      /* carries a sanitizer runtime and its allocator */
};

struct hl_launch {
	/* Filled by the caller. */
	const char *lib;    /* absolute path of libheapline.so */
	const char *output; /* absolute HEAPLINE_OUTPUT pattern */
	int depth;          /* HEAPLINE_DEPTH; 0 leaves the library's default */
	bool no_children;   /* HEAPLINE_NO_CHILDREN=1 */
	bool lossy;         /* HEAPLINE_LOSSY=1 */
	bool profile;       /* false: run PROG without the heapline environment */
	bool leak_scan;     /* HEAPLINE_LEAK_SCAN=1 (heapline check) */

	/* Filled by hl_launch_session_create / hl_launch_run. */
	char session_dir[PATH_MAX]; /* private temp dir, removed by hl_launch_session_remove */
	char session_log[PATH_MAX]; /* HEAPLINE_SESSION_LOG */
	pid_t root_pid;             /* PROG's pid */
	int root_status;            /* PROG's wait status */
	int exec_errno;             /* nonzero: PROG could not be executed at all */
	struct hl_reaped {          /* every descendant reaped, in order */
		pid_t pid;
		int status;
	} *reaped;                  /* freed by hl_launch_session_remove */
	size_t nreaped, reaped_cap;
};

/* One line of the session log: a process that created a trace. */
struct hl_session_entry {
	pid_t pid;
	pid_t ppid;
	char *path;
};

/* Finds libheapline.so: $HEAPLINE_LIB, the build tree, the install prefix,
 * then ../lib/heapline next to this executable.  Writes its absolute path to
 * buf.  Returns 0, or -errno with a one-line message in err. */
int hl_launch_find_lib(char *buf, size_t len, char *err, size_t errlen);

/* The absolute HEAPLINE_OUTPUT pattern for `-o PATH` (path may be NULL for
 * the default <cwd>/heapline.%e.%p.hlt).  Returns 0 or -errno. */
int hl_launch_output_pattern(const char *path, char *buf, size_t len);

/* Looks at PROG as execvp would find it; *detail names the sanitizer or
 * similar (static string, may be NULL). */
enum hl_prog_kind hl_launch_inspect(const char *prog, const char **detail);

/* Creates the private session dir and an empty log in it.  Returns 0 or -errno. */
int hl_launch_session_create(struct hl_launch *l);

/* Forks and execs argv (argv[0] through PATH), then waits for every
 * descendant, PROG's orphans included.  Returns 0 once all ended, or -errno
 * if PROG could not be started. */
int hl_launch_run(struct hl_launch *l, char **argv);

/* Reads the session log in the order processes wrote it.  *out is an array
 * of *n entries, freed by hl_launch_session_free.  Returns 0 or -errno. */
int hl_launch_session_read(const struct hl_launch *l, struct hl_session_entry **out, size_t *n);
void hl_launch_session_free(struct hl_session_entry *e, size_t n);

/* Removes the session dir and everything in it. */
void hl_launch_session_remove(struct hl_launch *l);

/* The wait status of the last descendant reaped with this pid: true, or
 * false if none was (still running, or not ours). */
bool hl_launch_status_of(const struct hl_launch *l, pid_t pid, int *status);

/* A wait status as a shell reports it: the exit code, or 128 + signal. */
int hl_launch_exit_code(int status);

#endif
