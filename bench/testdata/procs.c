/* Process populations for oomtrace's benchmark (bench/run.sh).
 *
 *   procs hold N             fork N children that pause(); print "ready N" once all
 *                            exist; on SIGTERM/SIGINT kill and reap every child,
 *                            print "held N", exit
 *   procs churn RATE LIFE_MS fork RATE children a second at a steady pace, each
 *                            living LIFE_MS then exiting; print "churning" at start;
 *                            on SIGTERM/SIGINT print "churn forked=K" and exit
 *
 * Children die with their parent (PR_SET_PDEATHSIG), so a killed helper leaves
 * nothing behind. Output goes through write(2) only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
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

static void handle_stop(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* In a new child: die with the parent, default signals. */
static void child_setup(pid_t parent)
{
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
}

static int do_hold(long n)
{
	pid_t self = getpid(), *kids;
	long made = 0;

	kids = calloc(n, sizeof(*kids));
	if (!kids)
		return 1;
	handle_stop();
	for (; made < n && !stop; made++) {
		pid_t pid = fork();

		if (pid < 0) {
			say("fork failed after %ld children: %s\n", made, strerror(errno));
			break;
		}
		if (pid == 0) {
			child_setup(self);
			for (;;)
				pause();
		}
		kids[made] = pid;
	}
	if (made == n && !stop) {
		say("ready %ld\n", made);
		while (!stop)
			pause();
	}
	for (long i = 0; i < made; i++)
		kill(kids[i], SIGKILL);
	for (long i = 0; i < made; i++)
		while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
			;
	say("held %ld\n", made);
	return made == n ? 0 : 1;
}

static int do_churn(long rate, long life_ms)
{
	pid_t self = getpid();
	struct timespec next;
	long period = 1000000000L / rate, forked = 0;

	handle_stop();
	signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
	clock_gettime(CLOCK_MONOTONIC, &next);
	say("churning %ld/s, life %ld ms\n", rate, life_ms);
	while (!stop) {
		pid_t pid = fork();

		if (pid == 0) {
			struct timespec d = {life_ms / 1000, (life_ms % 1000) * 1000000L};

			child_setup(self);
			nanosleep(&d, NULL);
			_exit(0);
		}
		if (pid > 0)
			forked++;
		next.tv_nsec += period;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
	say("churn forked=%ld\n", forked);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "hold") && atol(argv[2]) > 0)
		return do_hold(atol(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "churn") && atol(argv[2]) > 0 && atol(argv[3]) >= 0)
		return do_churn(atol(argv[2]), atol(argv[3]));
	say("usage: procs hold N | churn RATE LIFE_MS\n");
	return 2;
}
