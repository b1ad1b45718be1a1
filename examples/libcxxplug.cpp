// libcxxplug.cpp — the C++ plugin cxx_plugin_host.c loads: it throws and
// catches exceptions, so libstdc++ and libgcc_s come in with it.
//
// plug_run(n): n rounds, each making a vector of three strings and, every
// other round, throwing a std::runtime_error caught here.  Returns the
// number caught (n / 2 rounded up).
// plug_unwinder(): the _Unwind_RaiseException this library's references
// bind to (the dynamic linker's answer, as for libstdc++'s own).
#include <unwind.h>

#include <stdexcept>
#include <string>
#include <vector>

extern "C" int plug_run(int n)
{
	int caught = 0;
	for (int i = 0; i < n; i++) {
		try {
			std::vector<std::string> v(3, "a string longer than SSO's 15 bytes");
			if (i % 2 == 0)
				throw std::runtime_error("round " + std::to_string(i));
		} catch (const std::exception &e) {
			caught += e.what()[0] == 'r';
		}
	}
	return caught;
}

extern "C" void *plug_unwinder(void)
{
	return reinterpret_cast<void *>(&_Unwind_RaiseException);
}
