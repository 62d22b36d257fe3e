// A C++ program whose memory grows from a named method, Leaker::keep(int),
// which holds what it allocates and then blocks in read() on a pipe nobody
// writes, for the resolver's demangling test.
#include <cstdio>
#include <cstring>
#include <unistd.h>
#include <vector>

static int fds[2];

// One real call, no clone (clang has no noipa; it does not clone here).
#ifdef __clang__
#define NOIPA __attribute__((noinline))
#else
#define NOIPA __attribute__((noipa))
#endif

class Leaker {
public:
	NOIPA int keep(int mb);

private:
	std::vector<char *> held;
};

int Leaker::keep(int mb)
{
	for (int i = 0; i < mb; i++) {
		char *p = new char[1 << 20];
		memset(p, 1, 1 << 20);
		held.push_back(p);
	}
	std::printf("ready\n");
	std::fflush(stdout);
	char buf[1];
	return (int)read(fds[0], buf, 1) + (int)held.size();
}

int main()
{
	if (pipe(fds) != 0)
		return 1;
	Leaker l;
	return l.keep(16) > 0 ? 0 : 2;
}
