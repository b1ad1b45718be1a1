/* symbolize_fixture_nodebug.c — fixture of test_symbolize: a shared library
 * built with -g0 (symbol table, no DWARF) and dlopen'd by the test, whose
 * allocation site must resolve to "hl_fixnd_alloc+0xN".  Also code after a
 * label without a size (as hand-written assembly and some compilers' cold
 * parts have), which no sized symbol covers: the symbol index must name it
 * as libdwfl does. */
#include <stdlib.h>

#include "symbolize_fixture.h"

void *volatile hl_fixnd_sink;

void *hl_fixnd_alloc(size_t n)
{
	void *p = malloc(n);

	hl_fixnd_sink = p;
	return p;
}

__asm__(".text\n"
	".globl hl_fixnd_label\n"
	".type hl_fixnd_label, @function\n"
	"hl_fixnd_label:\n"
	"\tnop\n\tnop\n\tnop\n\tret\n");
