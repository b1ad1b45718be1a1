/* check_supp.h — leak suppressions for `heapline check` in LeakSanitizer's
 * format: one `leak:<template>` rule per line, `#` comments and blank lines
 * ignored.  A template matches a frame's function name, source file or
 * module path; `*` matches any run of characters (`/` included), and, as in
 * LSan, a template matches anywhere in the string unless anchored with a
 * leading `^` or a trailing `$`.  Rules keep their hit counts so the report
 * can show the ones that never matched. */
#ifndef HL_CHECK_SUPP_H
#define HL_CHECK_SUPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hl_frame;

struct hl_supp_rule {
	char *templ;	  /* as written after "leak:" */
	char *pattern;	  /* the fnmatch pattern made of it */
	const char *file; /* the file that holds it */
	unsigned line;
	uint64_t leaks, blocks, bytes; /* what it suppressed */
};

struct hl_supp {
	struct hl_supp_rule *rules;
	size_t n, cap;
	char **files; /* owned paths */
	size_t nfiles;
};

/* Adds the rules of a file.  0, or -1 with a one-line message in err
 * (unreadable file, a line that is not a leak: rule). */
int hl_supp_load(struct hl_supp *s, const char *path, char *err, size_t errlen);
void hl_supp_free(struct hl_supp *s);

/* The first rule matching any of the frames, or -1. */
int hl_supp_match(const struct hl_supp *s, const struct hl_frame *const *frames, size_t n);

/* Where the shipped default list is: $HEAPLINE_DEFAULT_SUPP, the build tree
 * when this heapline runs from it, the install prefix, then
 * ../share/heapline next to this executable.  NULL if none exists. */
const char *hl_supp_default_path(char *buf, size_t len);

#endif
