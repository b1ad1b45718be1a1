/* hl_output.h — where a process's trace goes: expands HEAPLINE_OUTPUT,
 * creates the file safely and tells the launcher (session log). */
#ifndef HL_OUTPUT_H
#define HL_OUTPUT_H

#include <stddef.h>

/* Resolves a relative pattern against the current directory now, so a later
 * chdir by the program does not move the trace.  Call at init and in a fork
 * child (cheap). */
void hl_output_prepare(void);
/* Creates the trace file (0600; never over an existing name, never through
 * a symlink) with hdr already in it: where the filesystem allows, it gets
 * its name only once the header is written, so a killed process leaves no
 * empty file.  Appends "pid\tppid\tpath" to the session log if any.
 * Returns the fd, or -1 after saying why once on stderr. */
int hl_output_open(int is_root, char *path_out, unsigned long path_cap, const void *hdr,
		   size_t hdr_len);

#endif
