/* Workload with known sizes for oomtrace's tests and benchmarks.
 * It talks through write(2) only, so that libc never mallocs behind our back.
 *
 *   workload alloc MMAP BRK   on "go": mmap/munmap MMAP, brk +BRK then -BRK/2,
 *                             mremap MMAP -> 2*MMAP, mprotect rw MMAP; prints
 *                             what it did, then waits for a line before exit
 *   workload grow N SIZE BRK KEEP [BIG]   on "go": one anonymous writable mmap of
 *                             BIG (if given), N of SIZE (each unmapped at once unless
 *                             KEEP), brk +BRK in SIZE steps,
 *                             mremap SIZE -> 2*SIZE and a PROT_NONE SIZE made writable;
 *                             prints "grown BYTES" (the growth), then waits for a line
 *   workload hog CHUNK        on "go": maps and touches CHUNK bytes at a time forever
 *   workload threadhog CHUNK  the same in a second thread ("ready PID TID"), once
 *                             the leader thread has exited
 *   workload flood THREADS N SIZE   N mmap+munmap pairs of SIZE per thread; prints counts
 *   workload spin THREADS N    says ready, and on a line THREADS threads each make N
 *                             mprotect calls of length 0 (no lock taken: they
 *                             overlap); prints the count, then waits for a line
 *   workload loop KIND N      N iterations of KIND (mmap, brk, getppid); prints ns/op
 *   workload churn N          N short-lived children one after another (every 10th
 *                             execs "workload exit"); prints how many pids were reused
 *   workload fail MARK        on "go": mmap, munmap, brk, mremap, mprotect each fail once
 *                             (errnos or the unchanged break printed); MARK-byte maps
 *                             before "ready" and after the next line mark the stretch
 *   workload burst N SECS [PAD]   N children alive at once (each maps 1 MiB and
 *                             touches 64 KiB; PAD lengthens their command line); once
 *                             all are forked prints "burst N", and they exit at the
 *                             next line (or SECS later); prints "burst-done" once all
 *                             are reaped
 *   workload group THREADS MB CODE   touches MB MiB, starts THREADS-1 threads that
 *                             block, prints "ready PID"; on a line calls
 *                             exit_group(CODE), so that every thread exits at once
 *   workload service NAME WORKERS MB GROW [ARG...]   a session-leader master named NAME with
 *                             WORKERS forked workers, each touching MB MiB, sharing 8 MiB;
 *                             the master grows GROW MiB/s; prints its pid and the workers'
 *   workload preload NAME WORKERS SHARED PRIVATE   a preloading server: a session-leader
 *                             master named NAME touches SHARED MiB, then forks WORKERS
 *                             workers that share it copy-on-write and each touch PRIVATE
 *                             MiB of their own; prints "preload PID" once all have touched it
 *   workload leaderless SIZE  the main thread calls pthread_exit; another thread maps and
 *                             touches SIZE bytes once it has, prints "ready PID TID" and
 *                             waits for a line, then the process exits
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (write(1, buf, n) != n)
		_exit(3);
}

static void wait_line(void)
{
	char c;

	while (read(0, &c, 1) == 1 && c != '\n')
		;
}

static unsigned long sys_brk(unsigned long addr)
{
	return syscall(SYS_brk, addr);
}

static int do_alloc(unsigned long size, unsigned long brk_size)
{
	void *p, *q, *r;
	unsigned long b0, b1, b2;

	say("ready %d\n", getpid());
	wait_line();
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	say("mmap %p %lu\n", p, size);
	munmap(p, size);
	say("munmap %p %lu\n", p, size);
	b0 = sys_brk(0);
	b1 = sys_brk(b0 + brk_size);
	b2 = sys_brk(b1 - brk_size / 2);
	say("brk %#lx %#lx %#lx\n", b0, b1, b2);
	q = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r = mremap(q, size, 2 * size, MREMAP_MAYMOVE);
	say("mremap %p %p %lu %lu\n", q, r, size, 2 * size);
	mprotect(r, size, PROT_READ | PROT_WRITE);
	say("mprotect %p %lu\n", r, size);
	munmap(r, 2 * size);
	say("done\n");
	wait_line();
	return 0;
}

static int do_grow(long n, unsigned long size, unsigned long brk_size, int keep, unsigned long big)
{
	unsigned long b, grown = 0;
	void *p, *q;
	long i;

	say("ready %d\n", getpid());
	wait_line();
	if (big) {
		p = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 1;
		grown += big;
		if (!keep)
			munmap(p, big);
	}
	for (i = 0; i < n; i++) {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 1;
		grown += size;
		if (!keep)
			munmap(p, size);
	}
	b = sys_brk(0);
	for (i = 0; i + size <= brk_size; i += size, grown += size)
		if (sys_brk(b + i + size) != b + i + size)
			return 1;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	q = mremap(p, size, 2 * size, MREMAP_MAYMOVE);
	if (p == MAP_FAILED || q == MAP_FAILED)
		return 1;
	grown += 2 * size;
	p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || mprotect(p, size, PROT_READ | PROT_WRITE))
		return 1;
	grown += size;
	say("grown %lu\n", grown);
	wait_line();
	return 0;
}

static int err_of(long ret)
{
	return ret == -1 ? errno : 0;
}

/* Each call fails in a known way, on 2 MiB so that a counted one would be
 * streamed: mmap with neither MAP_PRIVATE nor MAP_SHARED (EINVAL), munmap of
 * an unaligned address (EINVAL), brk below the heap (returns the unchanged
 * break), mremap and mprotect of a hole just unmapped (EFAULT, ENOMEM). */
static int do_fail(unsigned long mark)
{
	const unsigned long big = 2 << 20;
	int e[4], failed = 0;
	unsigned long b;
	char *hole;

	if (mmap(NULL, mark, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
		return 1;
	hole = mmap(NULL, big, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hole == MAP_FAILED || munmap(hole, big) != 0)
		return 1;
	say("ready %d\n", getpid());
	wait_line();
	e[0] = err_of(syscall(SYS_mmap, 0, big, PROT_READ | PROT_WRITE, MAP_ANONYMOUS, -1, 0));
	e[1] = err_of(syscall(SYS_munmap, hole + 1, big));
	b = sys_brk(4096);
	e[2] = err_of(syscall(SYS_mremap, hole, 4096, big, 0));
	e[3] = err_of(syscall(SYS_mprotect, hole, big, PROT_READ | PROT_WRITE));
	for (int i = 0; i < 4; i++)
		failed += e[i] != 0;
	failed += b != 4096;
	say("fail mmap=%d munmap=%d brk=%#lx mremap=%d mprotect=%d failed=%d\n", e[0], e[1], b, e[2], e[3], failed);
	wait_line();
	if (mmap(NULL, mark, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
		return 1;
	say("mark\n");
	wait_line();
	return 0;
}

static int hog(unsigned long chunk)
{
	unsigned long total = 0;

	for (;;) {
		char *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return 1;
		memset(p, 0x5a, chunk);
		total += chunk;
		say("hog %lu\n", total);
		usleep(1000);
	}
}

static int do_hog(unsigned long chunk)
{
	say("ready %d\n", getpid());
	wait_line();
	return hog(chunk);
}

static void *hog_thread(void *v)
{
	say("ready %d %ld\n", getpid(), (long)syscall(SYS_gettid));
	wait_line();
	_exit(hog((unsigned long)v));
}

/* The leader exits and a second thread hogs: the OOM killer's victim is
 * then a thread that is not the leader. */
static int do_thread_hog(unsigned long chunk)
{
	pthread_t t;

	if (pthread_create(&t, NULL, hog_thread, (void *)chunk))
		return 1;
	pthread_exit(NULL);
}

struct flood_arg {
	long n, size, ok;
};

static void *flood_thread(void *v)
{
	struct flood_arg *a = v;

	for (long i = 0; i < a->n; i++) {
		void *p = mmap(NULL, a->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED)
			continue;
		if (munmap(p, a->size) == 0)
			a->ok++;
	}
	return NULL;
}

static void *spin_thread(void *v)
{
	struct flood_arg *a = v;
	static char page[4096] __attribute__((aligned(4096)));

	for (long i = 0; i < a->n; i++)
		if (mprotect(page, 0, PROT_READ | PROT_WRITE) == 0)
			a->ok++;
	return NULL;
}

/* Runs fn in threads threads (1..64), each with n and size; returns the sum
 * of their ok counts, or -1 for a bad thread count. */
static long run_threads(int threads, void *(*fn)(void *), long n, long size)
{
	pthread_t t[64];
	struct flood_arg a[64];
	long ok = 0;

	if (threads < 1 || threads > 64)
		return -1;
	for (int i = 0; i < threads; i++) {
		a[i] = (struct flood_arg){.n = n, .size = size};
		pthread_create(&t[i], NULL, fn, &a[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		ok += a[i].ok;
	}
	return ok;
}

static int do_spin(int threads, long n)
{
	long ok;

	if (threads < 1 || threads > 64)
		return 2;
	say("ready %d\n", getpid());
	wait_line();
	ok = run_threads(threads, spin_thread, n, 0);
	say("spin calls=%ld\n", ok);
	wait_line();
	return 0;
}

static int do_flood(int threads, long n, long size)
{
	long ok = run_threads(threads, flood_thread, n, size);

	if (ok < 0)
		return 2;
	say("flood pid=%d pairs=%ld\n", getpid(), ok);
	return 0;
}

static long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static int do_loop(const char *kind, long n)
{
	unsigned long b0 = sys_brk(0);
	long t0 = now_ns();

	for (long i = 0; i < n; i++) {
		if (!strcmp(kind, "mmap")) {
			void *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			munmap(p, 65536);
		} else if (!strcmp(kind, "brk")) {
			sys_brk(b0 + 65536);
			sys_brk(b0);
		} else {
			syscall(SYS_getppid);
		}
	}
	say("%s %.1f ns/op\n", kind, (double)(now_ns() - t0) / n);
	return 0;
}

static void touch(unsigned long bytes)
{
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(4);
	memset(p, 0x5a, bytes);
}

static void *block_forever(void *v)
{
	(void)v;
	for (;;)
		pause();
	return NULL;
}

/* The kill wakes every thread at once; before 6.16 the last to drop the mm
 * also tears down MB MiB between leaving the group and sched_process_exit. */
static int do_group(int threads, long mb, int code)
{
	pthread_t t;

	if (threads < 1 || threads > 64)
		return 2;
	touch(mb << 20);
	for (int i = 1; i < threads; i++)
		if (pthread_create(&t, NULL, block_forever, NULL))
			return 1;
	say("ready %d\n", getpid());
	wait_line();
	syscall(SYS_exit_group, code);
	return 1;
}

static int do_service(const char *name, int workers, long mb, long grow)
{
	char line[256], c;
	int n, off, ready[2];
	char *shared;

	prctl(PR_SET_NAME, name);
	setsid();
	shared = mmap(NULL, 8 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		return 1;
	memset(shared, 0x33, 8 << 20);
	touch(mb << 20);
	off = snprintf(line, sizeof(line), "service %d", getpid());
	if (pipe(ready) < 0)
		return 1;
	for (int i = 0; i < workers; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			touch(mb << 20);
			if (write(ready[1], "", 1) != 1)
				_exit(5);
			for (;;)
				pause();
		}
		off += snprintf(line + off, sizeof(line) - off, " %d", pid);
	}
	for (int i = 0; i < workers; i++) /* every worker has touched its memory */
		if (read(ready[0], &c, 1) != 1)
			return 1;
	say("%s\n", line);
	for (n = 0;; n++) {
		if (grow > 0)
			touch((grow << 20) / 10);
		usleep(100000);
	}
}

static int do_preload(const char *name, int workers, long shared, long private)
{
	int ready[2];
	char c;

	prctl(PR_SET_NAME, name);
	setsid();
	touch(shared << 20); /* the preloaded table */
	if (pipe(ready) < 0)
		return 1;
	for (int i = 0; i < workers; i++) {
		pid_t pid = fork();

		if (pid < 0)
			return 1;
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			touch(private << 20);
			if (write(ready[1], "", 1) != 1)
				_exit(5);
			for (;;)
				pause();
		}
	}
	for (int i = 0; i < workers; i++)
		if (read(ready[0], &c, 1) != 1)
			return 1;
	say("preload %d\n", getpid());
	for (;;)
		pause();
}

static int do_churn(long n)
{
	static unsigned char seen[(4 << 20) / 8];
	long reused = 0;

	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0)
			return 1;
		if (pid == 0) {
			void *p = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			munmap(p, 2 << 20);
			if (i % 10 == 0)
				execl("/proc/self/exe", "workload", "exit", (char *)NULL);
			_exit(0);
		}
		waitpid(pid, NULL, 0);
		if (pid < (4 << 20)) {
			if (seen[pid / 8] & (1 << (pid % 8)))
				reused++;
			seen[pid / 8] |= 1 << (pid % 8);
		}
	}
	say("churn %ld reused=%ld\n", n, reused);
	return 0;
}

static int do_burst(long n, long secs)
{
	int gate[2], release[2];
	long live = 0;
	char c;

	if (pipe(gate) || pipe(release))
		return 1;
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0)
			break;
		if (pid == 0) {
			char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				_exit(1);
			for (long o = 0; o < (64 << 10); o += 4096)
				p[o] = 1;
			close(gate[1]);
			close(release[1]);
			while (read(gate[0], &c, 1) > 0) /* EOF once all are forked */
				;
			alarm(secs); /* a cap, should the line never come */
			while (read(release[0], &c, 1) > 0) /* EOF once the line came */
				;
			_exit(0);
		}
		live++;
	}
	close(gate[1]);
	if (live < n)
		return 1;
	say("burst %ld\n", live);
	wait_line();
	close(release[1]);
	while (wait(NULL) > 0)
		;
	say("burst-done\n");
	return 0;
}

static pthread_t main_thread;

static void *leaderless_thread(void *v)
{
	pthread_join(main_thread, NULL); /* the leader has called pthread_exit */
	touch(*(unsigned long *)v);
	say("ready %d %ld\n", getpid(), (long)syscall(SYS_gettid));
	wait_line();
	exit(0);
}

static int do_leaderless(unsigned long size)
{
	static unsigned long sz;
	pthread_t t;

	sz = size;
	main_thread = pthread_self();
	if (pthread_create(&t, NULL, leaderless_thread, &sz))
		return 1;
	pthread_exit(NULL);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "exit"))
		return 0;
	if (argc == 3 && !strcmp(argv[1], "churn"))
		return do_churn(atol(argv[2]));
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "burst"))
		return do_burst(atol(argv[2]), atol(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "alloc"))
		return do_alloc(strtoul(argv[2], 0, 0), strtoul(argv[3], 0, 0));
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "grow"))
		return do_grow(atol(argv[2]), strtoul(argv[3], 0, 0), strtoul(argv[4], 0, 0), atoi(argv[5]),
			       argc == 7 ? strtoul(argv[6], 0, 0) : 0);
	if (argc == 3 && !strcmp(argv[1], "fail"))
		return do_fail(strtoul(argv[2], 0, 0));
	if (argc == 3 && !strcmp(argv[1], "hog"))
		return do_hog(strtoul(argv[2], 0, 0));
	if (argc == 3 && !strcmp(argv[1], "threadhog"))
		return do_thread_hog(strtoul(argv[2], 0, 0));
	if (argc == 5 && !strcmp(argv[1], "flood"))
		return do_flood(atoi(argv[2]), atol(argv[3]), atol(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "spin"))
		return do_spin(atoi(argv[2]), atol(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "loop"))
		return do_loop(argv[2], atol(argv[3]));
	if (argc == 6 && !strcmp(argv[1], "preload"))
		return do_preload(argv[2], atoi(argv[3]), atol(argv[4]), atol(argv[5]));
	if (argc == 5 && !strcmp(argv[1], "group"))
		return do_group(atoi(argv[2]), atol(argv[3]), atoi(argv[4]));
	if (argc == 3 && !strcmp(argv[1], "leaderless"))
		return do_leaderless(strtoul(argv[2], 0, 0));
	if (argc >= 6 && !strcmp(argv[1], "service")) /* more arguments are ignored */
		return do_service(argv[2], atoi(argv[3]), atol(argv[4]), atol(argv[5]));
	say("usage: workload service NAME WORKERS MB GROW | preload NAME WORKERS SHARED PRIVATE | group THREADS MB CODE | leaderless SIZE | alloc MMAP BRK | grow N SIZE BRK KEEP [BIG] | hog CHUNK | threadhog CHUNK | flood THREADS N SIZE | spin THREADS N | loop KIND N\n");
	return 2;
}
