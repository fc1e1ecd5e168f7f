/* Six 8 MiB areas, two of them touched constantly: workload.py without an interpreter.
 *
 *   workload [--thp on|off] [--access write|read] [--areas 6] [--hot 1,4]
 *
 * Same areas, output line and sweep as workload.py (see there for the mprotect that
 * flushes the TCG TLB before each sweep), but the process has no hot code of its own
 * worth monitoring: Python's workload also keeps a few hot interpreter pages in
 * libpython, which both monitors keep finding and isolating at random, so their
 * region counts (and CPU) drift from run to run. Compiled by guestkit.workload_c.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define AREA (8UL << 20)
#define HUGE (2UL << 20)
#define MAX_AREAS 64

/* An anonymous 8 MiB area (2 MiB aligned for THP) in a mapping of AREA + HUGE at *map. */
static unsigned char *area(int thp, unsigned char **map)
{
	unsigned char *m = mmap(NULL, AREA + HUGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("workload: mmap");
		exit(1);
	}
	*map = m;
	uintptr_t off = thp ? (HUGE - (uintptr_t)m % HUGE) % HUGE : 0;
	madvise(m + off, AREA, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	return m + off;
}

static int usage(const char *why)
{
	fprintf(stderr, "workload: %s\nusage: workload [--thp on|off] [--access write|read] "
			"[--areas N (1..%d)] [--hot I,J,...]\n", why, MAX_AREAS);
	return 2;
}

int main(int argc, char **argv)
{
	int thp = 0, write = 1, nr = 6, hot[MAX_AREAS], nr_hot = 0;
	long pause_us = 0;
	const char *hot_arg = "1,4";
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			return usage("an option without its value");
		const char *v = argv[++i];
		if (!strcmp(argv[i - 1], "--thp") && (!strcmp(v, "on") || !strcmp(v, "off")))
			thp = !strcmp(v, "on");
		else if (!strcmp(argv[i - 1], "--access") &&
			 (!strcmp(v, "write") || !strcmp(v, "read")))
			write = !strcmp(v, "write");
		else if (!strcmp(argv[i - 1], "--areas") && atoi(v) >= 1 && atoi(v) <= MAX_AREAS)
			nr = atoi(v);
		else if (!strcmp(argv[i - 1], "--pause-us") && atol(v) >= 0 && atol(v) <= 1000000)
			pause_us = atol(v);
		else if (!strcmp(argv[i - 1], "--hot"))
			hot_arg = v;
		else
			return usage("unknown option or value out of range");
	}
	for (const char *p = hot_arg; *p && nr_hot < MAX_AREAS; p = strchr(p, ',') ? strchr(p, ',') + 1 : "") {
		hot[nr_hot] = atoi(p);
		if (hot[nr_hot] < 0 || hot[nr_hot] >= nr)
			return usage("--hot: an index out of the areas");
		nr_hot++;
	}
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *maps[MAX_AREAS], *whole[MAX_AREAS];
	for (int i = 0; i < nr; i++) {
		maps[i] = area(thp, &whole[i]);
		for (unsigned long o = 0; o < AREA; o += page)
			maps[i][o] = 1; /* every page populated (written once) */
	}
	printf("{\"pid\": %d, \"areas\": [", getpid());
	for (int i = 0; i < nr; i++)
		printf("%s[%lu, %lu]", i ? ", " : "", (unsigned long)maps[i],
		       (unsigned long)maps[i] + AREA);
	printf("], \"hot\": [");
	for (int i = 0; i < nr_hot; i++)
		printf("%s%d", i ? ", " : "", hot[i]);
	printf("], \"thp\": %s}\n", thp ? "true" : "false");
	fflush(stdout);
	volatile unsigned char sink = 0;
	for (;;) {
		for (int h = 0; h < nr_hot; h++) {
			unsigned char *m = maps[hot[h]];
			/* the whole mapping: part of it would split and merge the VMA each time */
			mprotect(whole[hot[h]], AREA + HUGE, PROT_READ);
			mprotect(whole[hot[h]], AREA + HUGE, PROT_READ | PROT_WRITE);
			for (unsigned long o = 0; o < AREA; o += page) {
				if (write)
					((volatile unsigned char *)m)[o] = 2;
				else
					sink += ((volatile unsigned char *)m)[o];
			}
		}
		if (pause_us) {
			struct timespec ts = {pause_us / 1000000, pause_us % 1000000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
}
