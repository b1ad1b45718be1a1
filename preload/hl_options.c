/* hl_options.c — reads every HEAPLINE_* variable once, through one table,
 * into hl_opt.  Never allocates: getenv and strtoul only.
 *
 * Strings are copied: a program may overwrite its environment strings
 * later (setproctitle in redis, nginx, postgres and sshd writes the title
 * over argv and the environment after copying environ to the heap), and
 * HEAPLINE_SESSION_LOG is read when the trace is created.
 *
 * | variable             | default              | meaning                               |
 * |----------------------|----------------------|---------------------------------------|
 * | HEAPLINE_OUTPUT      | heapline.%e.%p.hlt   | trace path pattern                    |
 * | HEAPLINE_DEPTH       | 256 (1..256)         | frames recorded per event             |
 * | HEAPLINE_NO_CHILDREN | 0                    | 1: profile only HEAPLINE_ROOT_PID     |
 * | HEAPLINE_LOSSY       | 0                    | 1: drop events when the ring is full  |
 * | HEAPLINE_DISABLE     | 0                    | 1: load but record nothing            |
 * | HEAPLINE_ROOT_PID    | (none)               | pid of the launched process           |
 * | HEAPLINE_SESSION_LOG | (none)               | file to append "pid ppid path" to     |
 * | HEAPLINE_RING_KIB    | 2048 (64..1048576)   | ring buffer size                      |
 * | HEAPLINE_LEAK_SCAN   | 0                    | 1: reachability scan at exit (check)  |
 * | HEAPLINE_UNWIND      | fast                 | libunwind: its unw_backtrace only;    |
 * |                      |                      | check: both, differences on stderr    |
 * | HEAPLINE_CRASH       | 1                    | 0: no crash handler (hl_crash.c)      |
 */
#include "hl_options.h"

#include <stdlib.h>
#include <string.h>

struct hl_options hl_opt;

#define STR_MAX 4096 /* a path, as PATH_MAX */
static char strings[3][STR_MAX];
static unsigned nstrings;

enum kind { K_STR, K_BOOL, K_UINT, K_LONG, K_KIB };

static const struct {
	const char *name;
	enum kind kind;
	void *dst;
	unsigned long lo, hi;
} table[] = {
    {"HEAPLINE_OUTPUT", K_STR, &hl_opt.output, 0, 0},
    {"HEAPLINE_DEPTH", K_UINT, &hl_opt.depth, 1, HL_DEPTH_MAX},
    {"HEAPLINE_NO_CHILDREN", K_BOOL, &hl_opt.no_children, 0, 1},
    {"HEAPLINE_LOSSY", K_BOOL, &hl_opt.lossy, 0, 1},
    {"HEAPLINE_DISABLE", K_BOOL, &hl_opt.disabled, 0, 1},
    {"HEAPLINE_ROOT_PID", K_LONG, &hl_opt.root_pid, 1, 0x7fffffff},
    {"HEAPLINE_SESSION_LOG", K_STR, &hl_opt.session_log, 0, 0},
    {"HEAPLINE_RING_KIB", K_KIB, &hl_opt.ring_bytes, 64, 1048576},
    {"HEAPLINE_LEAK_SCAN", K_BOOL, &hl_opt.leak_scan, 0, 1},
    {"HEAPLINE_UNWIND", K_STR, &hl_opt.unwind, 0, 0},
    {"HEAPLINE_CRASH", K_BOOL, &hl_opt.crash, 0, 1},
};

void hl_options_read(void)
{
	nstrings = 0;
	hl_opt.output = "heapline.%e.%p.hlt";
	hl_opt.depth = HL_DEPTH_DEFAULT;
	hl_opt.ring_bytes = 2u << 20;
	hl_opt.crash = 1;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const char *v = getenv(table[i].name);
		if (!v || !*v)
			continue;
		if (table[i].kind == K_STR) {
			size_t len = strlen(v);
			/* one too long for a path keeps pointing at the environment */
			if (len < STR_MAX && nstrings < sizeof(strings) / sizeof(strings[0]))
				v = memcpy(strings[nstrings++], v, len + 1);
			*(const char **)table[i].dst = v;
			continue;
		}
		char *end;
		unsigned long n = strtoul(v, &end, 10);
		if (*end != '\0')
			continue; /* not a number: keep the default */
		if (n < table[i].lo)
			n = table[i].lo;
		if (n > table[i].hi)
			n = table[i].hi;
		switch (table[i].kind) {
		case K_BOOL:
			*(int *)table[i].dst = n != 0;
			break;
		case K_UINT:
			*(unsigned *)table[i].dst = (unsigned)n;
			break;
		case K_LONG:
			*(long *)table[i].dst = (long)n;
			break;
		case K_KIB: {
			/* round down to a power of two: the ring indexes with a mask */
			size_t bytes = (size_t)n << 10, p = 1;
			while (p * 2 <= bytes)
				p *= 2;
			*(size_t *)table[i].dst = p;
			break;
		}
		default:
			break;
		}
	}
}
