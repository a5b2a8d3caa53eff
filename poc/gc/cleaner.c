// SPDX-License-Identifier: GPL-2.0
/*
 * cleaner: the "you can already do this from userspace" baseline of the
 * F2FS GC experiment (docs/poc-gc.md). With no kernel patch, a separate
 * process does the cleaning before F2FS's foreground GC has to: it watches
 * the free segment count, reads every segment's valid block count from
 * /proc/fs/f2fs/DEV/segment_info, and asks F2FS to clean the segment it
 * chose with F2FS_IOC_GARBAGE_COLLECT_RANGE (sync, one segment per call),
 * then writes a checkpoint (F2FS_IOC_WRITE_CHECKPOINT) so that the cleaned
 * segments, prefree until then, become free.
 *
 *   cleaner [--start-free N] [--stop-free M] [--poll-ms P] [--batch B] MNT DEV
 *
 * When /sys/fs/f2fs/DEV/free_segments drops below N (default 50), it
 * cleans segments in ascending order of valid blocks (greedy: the only
 * per-segment state F2FS exports; a segment's age is not visible), B at a
 * time (default 4) from a fresh segment_info each time, each batch followed
 * by a checkpoint, until the count reaches M (default 56); it looks every
 * P ms (default 5). Segments that are free, full, or
 * refused (the current log, -EAGAIN) are skipped. It never writes file
 * data: it holds only a read-only descriptor of MNT, for the ioctls. It
 * runs until SIGTERM or SIGINT, then prints one line
 *   CLEANER polls=.. passes=.. victims=.. skipped=.. checkpoints=.. errors=..
 *     moved_blocks=..
 * (victims: ioctls that cleaned a segment; moved_blocks: the valid blocks
 * those segments held when chosen; all counted from the start) and exits 0.
 * SIGUSR1 prints the same line at once and goes on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/f2fs.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_SEGS	(1 << 20)

static volatile sig_atomic_t stop, report;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		report = 1;
	else
		stop = 1;
}

static long read_long(const char *path)
{
	char buf[64];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

struct seg {
	unsigned int segno;
	unsigned int valid;
};

static int cmp_valid(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	if (x->valid != y->valid)
		return x->valid < y->valid ? -1 : 1;
	return x->segno < y->segno ? -1 : x->segno > y->segno;
}

/*
 * Parses segment_info ("format: segment_type|valid_blocks", then rows of
 * "<first segno> <type>|<valid> <type>|<valid> ..."), keeping the segments
 * with 0 < valid < blocks_per_seg. Returns how many, or -1.
 */
static int read_segments(const char *path, unsigned int blocks_per_seg,
			 struct seg *out, int max)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;
		unsigned long segno;

		segno = strtoul(p, &end, 10);
		if (end == p || *end != ' ')
			continue;	/* a header line */
		p = end;
		for (;;) {
			unsigned long type, valid;

			while (*p == ' ')
				p++;
			type = strtoul(p, &end, 10);
			if (end == p || *end != '|')
				break;
			p = end + 1;
			valid = strtoul(p, &end, 10);
			if (end == p)
				break;
			p = end;
			(void)type;
			if (valid > 0 && valid < blocks_per_seg && n < max) {
				out[n].segno = segno;
				out[n].valid = valid;
				n++;
			}
			segno++;
		}
	}
	fclose(f);
	return n;
}

static void print_counters(unsigned long polls, unsigned long passes,
			   unsigned long victims, unsigned long skipped,
			   unsigned long cps, unsigned long errors,
			   unsigned long moved)
{
	printf("CLEANER polls=%lu passes=%lu victims=%lu skipped=%lu checkpoints=%lu errors=%lu moved_blocks=%lu\n",
	       polls, passes, victims, skipped, cps, errors, moved);
	fflush(stdout);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static long arg_long(const char *s, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < 0) {
		fprintf(stderr, "cleaner: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long start_free = 50, stop_free = 56, poll_ms = 5, batch = 4;
	unsigned long polls = 0, passes = 0, victims = 0, skipped = 0, cps = 0;
	unsigned long errors = 0, moved = 0;
	char free_path[256], seginfo_path[256], mainblk_path[256];
	unsigned int blocks_per_seg = 512;
	long main_blkaddr;
	struct sigaction sa = { .sa_handler = on_signal };
	struct seg *segs;
	int a = 1, fd, cleaning = 0;

	while (a + 1 < argc && !strncmp(argv[a], "--", 2)) {
		if (!strcmp(argv[a], "--start-free"))
			start_free = arg_long(argv[a + 1], "--start-free");
		else if (!strcmp(argv[a], "--stop-free"))
			stop_free = arg_long(argv[a + 1], "--stop-free");
		else if (!strcmp(argv[a], "--poll-ms"))
			poll_ms = arg_long(argv[a + 1], "--poll-ms");
		else if (!strcmp(argv[a], "--batch"))
			batch = arg_long(argv[a + 1], "--batch");
		else
			break;
		a += 2;
	}
	if (argc - a != 2 || stop_free < start_free || batch < 1) {
		fputs("usage: cleaner [--start-free N] [--stop-free M>=N] [--poll-ms P] [--batch B>=1] MNT DEV\n",
		      stderr);
		return 2;
	}
	snprintf(free_path, sizeof(free_path), "/sys/fs/f2fs/%s/free_segments", argv[a + 1]);
	snprintf(mainblk_path, sizeof(mainblk_path), "/sys/fs/f2fs/%s/main_blkaddr", argv[a + 1]);
	snprintf(seginfo_path, sizeof(seginfo_path), "/proc/fs/f2fs/%s/segment_info", argv[a + 1]);
	main_blkaddr = read_long(mainblk_path);
	if (main_blkaddr <= 0 || read_long(free_path) < 0) {
		fprintf(stderr, "cleaner: %s is not a mounted F2FS (no %s)\n", argv[a + 1], mainblk_path);
		return 1;
	}
	fd = open(argv[a], O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		fprintf(stderr, "cleaner: open %s: %s\n", argv[a], strerror(errno));
		return 1;
	}
	segs = calloc(MAX_SEGS, sizeof(*segs));
	if (!segs)
		return 1;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	while (!stop) {
		long free_segs = read_long(free_path);
		int n, i, cleaned = 0;

		if (report) {
			report = 0;
			print_counters(polls, passes, victims, skipped, cps, errors, moved);
		}
		polls++;
		/* Hysteresis: start below N, go on until M. */
		if (free_segs >= stop_free || (!cleaning && free_segs >= start_free) ||
		    free_segs < 0) {
			cleaning = 0;
			sleep_ms(poll_ms);
			continue;
		}
		cleaning = 1;
		passes++;
		/* A fresh snapshot per batch: writes go on meanwhile. */
		n = read_segments(seginfo_path, blocks_per_seg, segs, MAX_SEGS);
		if (n < 0) {
			errors++;
			sleep_ms(poll_ms);
			continue;
		}
		qsort(segs, n, sizeof(*segs), cmp_valid);
		for (i = 0; i < n && cleaned < batch && !stop; i++) {
			struct f2fs_gc_range r = {
				.sync = 1,
				.start = (uint64_t)main_blkaddr +
					 (uint64_t)segs[i].segno * blocks_per_seg,
				.len = 0,
			};

			if (ioctl(fd, F2FS_IOC_GARBAGE_COLLECT_RANGE, &r) == 0) {
				victims++;
				moved += segs[i].valid;
				cleaned++;
			} else if (errno == EAGAIN || errno == EBUSY || errno == ENODATA) {
				skipped++;
			} else {
				errors++;
				break;
			}
		}
		if (cleaned) {
			if (ioctl(fd, F2FS_IOC_WRITE_CHECKPOINT) == 0)
				cps++;
			else
				errors++;
		} else {
			sleep_ms(poll_ms);
		}
	}
	print_counters(polls, passes, victims, skipped, cps, errors, moved);
	return 0;
}
