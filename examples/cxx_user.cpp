/* cxx_user.cpp — C++ allocations through operator new/delete, which
 * libstdc++ implements with malloc/free: scalar and array new (with the
 * 8-byte array cookie for a type with a destructor), std::vector growth,
 * std::string beyond the small-string buffer, std::map nodes.
 *
 * Usage: cxx_user [control]   ("control" does nothing: the base)
 * The base is libstdc++'s own: at startup, before libheapline.so's
 * constructor has run, it mallocs its emergency exception-handling pool and
 * never frees it (valgrind frees it through __gnu_cxx::__freeres).  Measured
 * with GCC 12's libstdc++: 1 allocation of 72704 bytes, so the base is
 * allocations 1, frees 0, leaked 72704 bytes in 1 block (the test takes the
 * size from valgrind when it is installed).
 *
 * Exact expected numbers, over the base (libstdc++, x86-64):
 *   new int(5) / delete                      4
 *   new int[10] / delete[]                   40
 *   new Obj[3] / delete[] (16-byte Obj)      56 = 3 * 16 + 8 (cookie)
 *   vector<int> reserve(100), 100 push_back  400
 *   101st push_back: grows to 200            800, then frees the 400
 *   string(100, 'x')                         101 (capacity + NUL)
 *   string("short")                          nothing (small-string buffer)
 *   map<int,int> with 5 keys                 5 * 40 (32-byte node header + pair)
 *   vector, string and map destroyed         frees 800, 101, 5 * 40
 *   new char[1000], kept                     1000, leaked
 *   allocations = base + 12, frees = base + 11, bytes_allocated = base + 2601
 *   peak_bytes = base + 1200 (vector's old 400 and new 800 live at once)
 *   leaked = base + 1000 bytes in 1 more block, end "exit", exit status 0
 */
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

struct Obj {
	long x = 0, y = 0;
	~Obj() { x = y = 0; } /* non-trivial: new[] stores the element count */
};

static char *volatile keep;
static volatile long sink;

static void work()
{
	int *p = new int(5);
	sink = *p;
	delete p;

	int *arr = new int[10];
	arr[0] = 1;
	sink = arr[0];
	delete[] arr;

	Obj *objs = new Obj[3];
	sink = objs[2].x;
	delete[] objs;

	{
		std::vector<int> v;
		v.reserve(100);
		for (int i = 0; i < 100; i++)
			v.push_back(i);
		v.push_back(100); /* capacity 100 -> 200 */

		std::string s(100, 'x');
		std::string small("short");

		std::map<int, int> m;
		for (int i = 0; i < 5; i++)
			m[i] = i;
		sink = v[100] + (long)s.size() + (long)small.size() + m[4];
	}

	keep = new char[1000];
}

int main(int argc, char **argv)
{
	if (!(argc > 1 && std::string(argv[1]) == "control"))
		work();
	return write(1, "cxx_user done\n", 14) == 14 ? 0 : 1;
}
