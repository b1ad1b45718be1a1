/* demangle.cpp — the one C++ file of heapline: exposes libstdc++'s Itanium
 * ABI demangler (abi::__cxa_demangle) to C, as hl_demangle().  elfutils
 * 0.188 has no demangler of its own.  Never throws. */
#include <cstdlib>
#include <cstring>
#include <cxxabi.h>

extern "C" char *hl_demangle(const char *mangled) noexcept;

extern "C" char *hl_demangle(const char *mangled) noexcept
{
	int status = 0;

	/* Only symbols: "_Z..." (and "__Z" on some targets).  Plain names such
	 * as "i" would otherwise demangle as types ("int"). */
	if (!mangled || (strncmp(mangled, "_Z", 2) != 0 && strncmp(mangled, "__Z", 3) != 0))
		return nullptr;
	char *out = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
	if (status != 0) {
		free(out);
		return nullptr;
	}
	return out;
}
