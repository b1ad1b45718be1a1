/* format.h — how the text printers write numbers, paths and titles: sizes
 * in a chosen unit memory_profiler's way ("168.000 MiB"), source paths
 * relative to the current directory when they are below it, and the
 * underlined section titles every view opens with.  Pure formatting. */
#ifndef HL_REPORT_FORMAT_H
#define HL_REPORT_FORMAT_H

#include <stdint.h>
#include <stdio.h>

enum hl_unit { HL_UNIT_B, HL_UNIT_KIB, HL_UNIT_MIB, HL_UNIT_GIB, HL_UNIT_AUTO };

/* "B", "KiB", "MiB", "GiB" or "auto" <-> the enum.  parse: 0 or -EINVAL. */
int hl_unit_parse(const char *s, enum hl_unit *out);
const char *hl_unit_name(enum hl_unit u);
/* A concrete unit: u itself, or for HL_UNIT_AUTO the largest unit of which
 * max_abs holds at least one (so a column's values share one unit). */
enum hl_unit hl_unit_pick(enum hl_unit u, uint64_t max_abs);

/* A size as memory_profiler prints it: '{0:<precision+4>.<precision>f} MiB'.
 * Bytes (HL_UNIT_B) are whole: "176160768 B".  Returns buf. */
const char *hl_fmt_size(char *buf, size_t len, int64_t bytes, enum hl_unit u, int precision);
/* "0.095 s" */
const char *hl_fmt_ms(char *buf, size_t len, uint64_t ms);
/* "6 (SIGABRT)", or "6" for a number without a name.  Returns buf. */
const char *hl_fmt_signal(char *buf, size_t len, int sig);
/* A source path as shown: relative to the current directory when below it
 * ("examples/lists.c"), else as given.  NULL shows as "??".  Returns buf or
 * path itself. */
const char *hl_fmt_path(char *buf, size_t len, const char *path);

/* "Text\n====" with the rule as long as the text. */
/* s to f with control characters as C escapes (\n, \t, \x01): a command
 * line (argv may hold any byte) on one line of a text report. */
void hl_fput_visible(FILE *f, const char *s);
void hl_fmt_title(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
