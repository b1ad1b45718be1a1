/* demangle.c — symbol names as people read them: hl_demangle() on
 * libiberty's demangler (Debian's libiberty-dev), the one binutils' c++filt
 * and gdb use.  elfutils 0.188 has no demangler of its own, and libstdc++'s
 * abi::__cxa_demangle knows only C++: a Rust symbol came out as
 * "hashbrown::raw::RawTable$LT$T$C$A$GT$::reserve_rehash::h1c3a...", or not
 * at all ("_RNv..." in Rust's v0 scheme). */
#include <stdlib.h>
#include <string.h>

#include <libiberty/demangle.h>

#include "symbolize.h"

char *hl_demangle(const char *mangled)
{
	/* Only symbols: C++ and Rust's legacy scheme "_Z...", Rust's v0
	 * "_R...".  Plain names such as "i" would otherwise demangle as
	 * types ("int"). */
	if (!mangled || (strncmp(mangled, "_Z", 2) != 0 && strncmp(mangled, "__Z", 3) != 0 &&
			 strncmp(mangled, "_R", 2) != 0))
		return NULL;
	/* DMGL_AUTO: Rust's schemes first (a legacy Rust name is a C++ one
	 * ending in its hash, "17h<16 hex digits>E", which goes), then C++ */
	return cplus_demangle(mangled, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
}
