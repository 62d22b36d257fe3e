/* Growth from two named functions, for the growth-stack tests: keep_it
 * allocates and holds, churn_it allocates and frees the same volume. Built
 * with and without frame pointers.
 *
 *   keepchurn NAME MIB WORKERS malloc   names itself NAME, becomes a session
 *       leader and forks WORKERS workers; on a line, every process allocates
 *       MIB MiB from keep_it (held: half in 192 KiB blocks that malloc maps,
 *       half in 16 KiB blocks from the brk heap) and MIB MiB from churn_it
 *       (1 MiB blocks, each freed at once: unmaps oomtrace streams at its default --min-size), interleaved at random; prints
 *       "done PID KEEP CHURN" (bytes asked for), then waits for a line
 *   keepchurn NAME MIB WORKERS mmap     the same, but keep_it maps 256 KiB
 *       blocks itself and there is no churn: one call path, for merging
 *
 * malloc maps blocks of 64 KiB and more (M_MMAP_THRESHOLD, which also stops
 * the threshold from adapting), so both functions' blocks reach the kernel.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEEP_MAP (192 << 10)
#define KEEP_BRK (16 << 10)
#define CHURN (1 << 20)
#define KEEP_MMAP (256 << 10)

static void **kept;
static size_t nkept;

__attribute__((noinline)) void keep_it(size_t size)
{
	char *p = malloc(size);
	if (!p)
		abort();
	memset(p, 1, size);
	kept[nkept++] = p;
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void churn_it(size_t size)
{
	char *p = malloc(size);
	if (!p)
		abort();
	memset(p, 2, size);
	__asm__ volatile("" : : "r"(p) : "memory");
	free(p);
}

__attribute__((noinline)) void keep_mapped(size_t size)
{
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		abort();
	memset(p, 3, size);
	kept[nkept++] = p;
}

/* work allocates; every process calls it from here, so that their stacks
 * are the same. */
__attribute__((noinline)) static void work(size_t total, int mmap_mode, unsigned seed)
{
	size_t keep = 0, churn = 0, keep_map = 0;
	if (mmap_mode) {
		while (keep < total) {
			keep_mapped(KEEP_MMAP);
			keep += KEEP_MMAP;
		}
	} else {
		/* Pick keep or churn at random, in proportion to what each has
		 * left, so neither lines up with the sampling interval. */
		while (keep < total || churn < total) {
			size_t kl = total - keep, cl = total - churn;
			if ((double)rand_r(&seed) / RAND_MAX * (kl + cl) < kl) {
				size_t sz = keep_map <= keep / 2 ? KEEP_MAP : KEEP_BRK;
				keep_it(sz);
				keep += sz;
				if (sz == KEEP_MAP)
					keep_map += sz;
			} else {
				churn_it(CHURN);
				churn += CHURN;
			}
		}
	}
	printf("done %d %zu %zu\n", getpid(), keep, churn);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: keepchurn NAME MIB WORKERS malloc|mmap\n");
		return 2;
	}
	size_t total = (size_t)atoi(argv[2]) << 20;
	int workers = atoi(argv[3]);
	int mmap_mode = strcmp(argv[4], "mmap") == 0;
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	kept = calloc(total / KEEP_BRK + 16, sizeof *kept);
	prctl(PR_SET_NAME, argv[1]);
	setsid();
	char line[64];
	if (!fgets(line, sizeof line, stdin))
		return 1;
	pid_t master = getpid(), pids[64];
	int nw = 0;
	for (int i = 0; i < workers && i < 64; i++) {
		pid_t p = fork();
		if (p == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != master)
				_exit(1);
			break;
		}
		if (p > 0)
			pids[nw++] = p;
	}
	work(total, mmap_mode, (unsigned)getpid());
	if (getpid() != master) {
		for (;;)
			pause();
	}
	fgets(line, sizeof line, stdin);
	for (int i = 0; i < nw; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
	return 0;
}
