/* symbolize_fixture.h — what test_symbolize learns from its fixture
 * libraries: the lines of their allocation sites and function bounds,
 * recorded with __LINE__ so no expected line number is written twice. */
#ifndef HL_SYMBOLIZE_FIXTURE_H
#define HL_SYMBOLIZE_FIXTURE_H

#include <stddef.h>

enum {
	HL_FIX_DIRECT_FIRST,  /* hl_fix_direct: line naming it */
	HL_FIX_DIRECT_MALLOC, /* its malloc call */
	HL_FIX_DIRECT_LAST,   /* its closing brace */
	HL_FIX_HELPER_FIRST,  /* fix_helper (always inlined) */
	HL_FIX_HELPER_MALLOC,
	HL_FIX_HELPER_LAST,
	HL_FIX_INLINED_FIRST, /* hl_fix_inlined, which inlines fix_helper */
	HL_FIX_INLINED_CALL,  /* where it calls fix_helper */
	HL_FIX_INLINED_LAST,
	HL_FIX_NLINES
};

/* symbolize_fixture_lib.c, built -g -O1 */
extern int hl_fix_line[HL_FIX_NLINES];
void *hl_fix_direct(size_t n);
void *hl_fix_inlined(size_t n);

/* symbolize_fixture_lto_a.c and _b.c, built -g -O2 -flto: a call inlined
 * from another unit */
enum { HL_FIXLTO_CALL, HL_FIXLTO_MALLOC, HL_FIXLTO_AFTER, HL_FIXLTO_NLINES };
extern int hl_fixlto_line[HL_FIXLTO_NLINES];
void *hl_fixlto_outer(size_t n);

/* symbolize_fixture_nodebug.c, built -g0, dlopen'd by the test */
void *hl_fixnd_alloc(size_t n);

#endif
