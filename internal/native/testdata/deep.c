/* A known native stack for the resolver's tests: main -> deep_a -> deep_b ->
 * deep_c, which blocks in glibc's read() on a pipe nobody writes. noipa keeps
 * the three functions real calls (no inlining, cloning or tail calls). */
#include <stdio.h>
#include <unistd.h>

static int fds[2];

__attribute__((noipa)) int deep_c(int x)
{
	char buf[1];
	int n = read(fds[0], buf, 1); /* the call line */
	return n + x;
}

__attribute__((noipa)) int deep_b(int x)
{
	return deep_c(x + 1) + 1;
}

__attribute__((noipa)) int deep_a(int x)
{
	return deep_b(x * 2) * 3;
}

int main(int argc, char **argv)
{
	(void)argv;
	if (pipe(fds) != 0)
		return 1;
	printf("ready\n");
	fflush(stdout);
	return deep_a(argc) > 0 ? 0 : 2;
}
