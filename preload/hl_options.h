/* hl_options.h — the library's settings, read once from HEAPLINE_* variables.
 * The one table of names lives in hl_options.c (and README). */
#ifndef HL_OPTIONS_H
#define HL_OPTIONS_H

#include <stddef.h>

#define HL_DEPTH_DEFAULT 256
#define HL_DEPTH_MAX	 256

struct hl_options {
	const char *output;	 /* HEAPLINE_OUTPUT pattern (%p pid, %e program) */
	unsigned depth;		 /* HEAPLINE_DEPTH */
	int no_children;	 /* HEAPLINE_NO_CHILDREN */
	int lossy;		 /* HEAPLINE_LOSSY */
	int disabled;		 /* HEAPLINE_DISABLE */
	long root_pid;		 /* HEAPLINE_ROOT_PID, 0 if unset */
	const char *session_log; /* HEAPLINE_SESSION_LOG */
	size_t ring_bytes;	 /* HEAPLINE_RING_KIB */
	int leak_scan;		 /* HEAPLINE_LEAK_SCAN: classify leaks at exit */
	const char *unwind;	 /* HEAPLINE_UNWIND: fast, libunwind or check */
	int crash;		 /* HEAPLINE_CRASH: finish the trace on a crash */
};

extern struct hl_options hl_opt;

/* Reads the environment; uses getenv only (no allocation). */
void hl_options_read(void);

#endif
