/* vector_map.cpp — lesson: what the C++ containers allocate.
 *
 * std::vector grows geometrically: push_back on a full vector allocates a
 * new array of twice the capacity (libstdc++: max(size, 1) more), moves the
 * elements and frees the old array.  1000 push_backs without reserve()
 * allocate capacities 1, 2, 4, .., 1024 ints: 11 arrays and 10 frees, and
 * for a moment old and new arrays are live together.  With reserve(1000)
 * first: one array of exactly 4000 bytes, no copy.
 * std::map allocates one node per key: a 32-byte red-black node header
 * (colour, parent, left, right) followed by the pair<const int, int>: 40
 * bytes with libstdc++ on x86-64, checked by the test (4000 bytes in 100
 * allocations).  Destroying the map frees each node: 100 frees.
 *
 * The base is libstdc++'s: before main it mallocs a 72704-byte emergency
 * exception-handling pool and never frees it, so every Mem usage below is
 * 72704 + what this program holds.
 *
 * Exact expected numbers (tests/lessons/expected/vector_map.txt):
 *   grow_vector(1000): push_back line 11 allocations of 4 * 2^k bytes
 *     (k = 0..10: 8188 bytes) and 10 frees (4 .. 2048: 4092 bytes): 21
 *     calls, +4096; Mem usage 72704 + 2048 + 4096 = 78848 (the 4096-byte
 *     array allocated while the 2048-byte one is live).  The destructor,
 *     on the closing brace: -4096, 1 call, live 72704.
 *   reserved_vector(1000): reserve line +4000, 1 call, Mem usage 76704;
 *     push_back line: nothing; closing brace -4000.
 *   fill_map(100): m[i] line 100 calls, +4000, Mem usage 76704; closing
 *     brace: 100 frees, -4000, Mem usage 72704 + 99 * 40 = 76664.
 *   allocations 1 + 11 + 1 + 100 = 113, frees 11 + 1 + 100 = 112,
 *   bytes_allocated 72704 + 8188 + 4000 + 4000 = 88892, peak_bytes 78848,
 *   leaked 72704 in 1 block (libstdc++'s pool).
 */
#include <cstdio>
#include <map>
#include <unistd.h>
#include <vector>

static long grow_vector(int n)
{
	std::vector<int> v;
	for (int i = 0; i < n; i++)
		v.push_back(i);
	return (long)v.capacity();
}

static long reserved_vector(int n)
{
	std::vector<int> v;
	v.reserve(n);
	for (int i = 0; i < n; i++)
		v.push_back(i);
	return (long)v.capacity();
}

static long fill_map(int n)
{
	std::map<int, int> m;
	for (int i = 0; i < n; i++)
		m[i] = i * i;
	return (long)m.size();
}

int main()
{
	char msg[80];
	long grown = grow_vector(1000);
	long reserved = reserved_vector(1000);
	long nodes = fill_map(100);
	int n = snprintf(msg, sizeof msg, "capacity %ld grown, %ld reserved; %ld map nodes\n",
			 grown, reserved, nodes);
	return write(1, msg, (size_t)n) == n ? 0 : 1;
}
