/* For the .gnu_debuglink test: a local function, named only by the symbol
 * table that the stripped binary's separate debug file keeps, blocks in
 * read() on a pipe nobody writes. */
#include <stdio.h>
#include <unistd.h>

static int fds[2];

static __attribute__((noipa)) int only_in_debug(int x)
{
	char buf[1];
	return (int)read(fds[0], buf, 1) + x;
}

int main(int argc, char **argv)
{
	(void)argv;
	if (pipe(fds) != 0)
		return 1;
	printf("ready\n");
	fflush(stdout);
	return only_in_debug(argc) > 0 ? 0 : 2;
}
