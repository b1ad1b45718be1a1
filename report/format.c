/* format.c — number, path and title formatting shared by the text printers
 * (format.h).  Sizes follow memory_profiler's show_results(): a float of
 * width precision + 4 with `precision` decimals, a space and the unit. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"

static const char *const unit_names[] = {"B", "KiB", "MiB", "GiB", "auto"};

int hl_unit_parse(const char *s, enum hl_unit *out)
{
	for (unsigned i = 0; i < sizeof(unit_names) / sizeof(unit_names[0]); i++) {
		if (!strcasecmp(s, unit_names[i])) {
			*out = (enum hl_unit)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *hl_unit_name(enum hl_unit u)
{
	return u <= HL_UNIT_AUTO ? unit_names[u] : "?";
}

enum hl_unit hl_unit_pick(enum hl_unit u, uint64_t max_abs)
{
	if (u != HL_UNIT_AUTO)
		return u;
	if (max_abs >= (1ull << 30))
		return HL_UNIT_GIB;
	if (max_abs >= (1ull << 20))
		return HL_UNIT_MIB;
	if (max_abs >= (1ull << 10))
		return HL_UNIT_KIB;
	return HL_UNIT_B;
}

const char *hl_fmt_size(char *buf, size_t len, int64_t bytes, enum hl_unit u, int precision)
{
	if (u == HL_UNIT_AUTO)
		u = hl_unit_pick(u, bytes < 0 ? -(uint64_t)bytes : (uint64_t)bytes);
	if (u == HL_UNIT_B) {
		snprintf(buf, len, "%" PRId64 " B", bytes);
		return buf;
	}
	snprintf(buf, len, "%*.*f %s", precision + 4, precision,
		 (double)bytes / (double)(1ull << (10 * u)), unit_names[u]);
	return buf;
}

const char *hl_fmt_ms(char *buf, size_t len, uint64_t ms)
{
	snprintf(buf, len, "%" PRIu64 ".%03" PRIu64 " s", ms / 1000, ms % 1000);
	return buf;
}

const char *hl_fmt_signal(char *buf, size_t len, int sig)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev)
		snprintf(buf, len, "%d (SIG%s)", sig, abbrev);
	else
		snprintf(buf, len, "%d", sig);
	return buf;
}

const char *hl_fmt_path(char *buf, size_t len, const char *path)
{
	char cwd[4096];
	size_t n;

	if (!path)
		return "??";
	if (path[0] != '/' || !getcwd(cwd, sizeof(cwd)))
		return path;
	n = strlen(cwd);
	if (n > 1 && !strncmp(path, cwd, n) && path[n] == '/' && path[n + 1]) {
		snprintf(buf, len, "%s", path + n + 1);
		return buf;
	}
	return path;
}

void hl_fput_visible(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

void hl_fmt_title(FILE *f, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	for (int i = 0; i < n; i++)
		fputc('=', f);
	fputc('\n', f);
}
