// SPDX-License-Identifier: GPL-2.0
/*
 * workload: the static overwrite workload of the F2FS GC experiment
 * (npm run poc:gc, docs/poc-gc.md), with a block sequence that is exactly
 * reproducible from its seed, so that a model (src/sim) can regenerate the
 * identical write trace.
 *
 *   workload [--dist D] [--files F] [--fsync-every K] [--fsync last|written]
 *            fill DIR FILL_PCT SEED
 *   workload run DIR OPS SEED
 *   workload [--dist D] [--files F] trace NBLOCKS OPS SEED [FIRST_OP]
 *
 * fill  creates F files (default 16) named f00, f01, ... in DIR, which must
 *       not hold them yet, together NBLOCKS 4 KiB blocks:
 *           NBLOCKS = floor(floor(f_bfree * FILL_PCT / 100) / F) * F
 *       where f_bfree is statfs(DIR)'s free block count before the fill (on
 *       a fresh F2FS: its user capacity, overprovisioning and reserved
 *       blocks excluded). Each file gets NBLOCKS/F blocks, written
 *       sequentially, and is fsynced. Block index b (0 <= b < NBLOCKS) is
 *       block b % (NBLOCKS/F) of file b / (NBLOCKS/F). fill records the
 *       options, SEED and the ops done (0) in DIR/.workload (a few bytes).
 * run   performs OPS 4 KiB pwrite()s at block-aligned offsets. After every
 *       K-th write (default 64, counted over all runs) it fsyncs the file of
 *       that write (--fsync last, the default) or every file written since
 *       the last fsync (--fsync written); at the end of the run, every file
 *       written since its last fsync. Then it updates DIR/.workload. It
 *       continues the write sequence where the previous run in DIR stopped,
 *       so a warm-up run and a measured run are one sequence. SEED and the
 *       options must be those of fill (a mismatch exits 2).
 * trace prints the block index of ops FIRST_OP .. FIRST_OP+OPS-1 (default
 *       FIRST_OP 0) of that sequence, one a line, without any I/O.
 *
 * Distributions (--dist, default hotcold:90/10):
 *   hotcold:W/H  W% of the writes go to the hot set, H% of the blocks
 *                (hotcold:90/10, hotcold:80/20)
 *   zipf         block of rank r (0-based) written with probability
 *                proportional to 1/(r+1)
 *   uniform      every block equally often
 *
 * The sequence, exactly (all arithmetic on unsigned 64-bit integers modulo
 * 2^64 unless said otherwise):
 *
 *   splitmix64 (Steele, Lea, Flood 2014; Vigna's reference code): a state s,
 *   and next() = { s += 0x9e3779b97f4a7c15; z = s;
 *                  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
 *                  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
 *                  return z ^ (z >> 31); }
 *   Two generators: the layout generator starts at s = 2*SEED, the write
 *   generator at s = 2*SEED + 1.
 *
 *   Layout: a permutation P of 0..N-1 (N = NBLOCKS) by a Fisher-Yates
 *   shuffle with the layout generator: P[i] = i; for i = N-1 down to 1:
 *   j = next() % (i + 1); swap P[i] and P[j]. For hotcold, the hot set is
 *   P[0..h-1] with h = floor(N * H / 100), the cold set P[h..N-1]; for zipf,
 *   the block of rank r is P[r]; uniform does not use P (the shuffle still
 *   runs, so every distribution draws the same layout numbers).
 *
 *   Write op k (k = 0, 1, ... counted from the first run) draws exactly two
 *   numbers from the write generator, u1 then u2, so op k uses draws 2k and
 *   2k+1 and a run can start at any op:
 *     hotcold: if u1 % 100 < W: block = P[u2 % h] else P[h + u2 % (N - h)]
 *     uniform: block = u2 % N                                (u1 unused)
 *     zipf:    C[r] = C[r-1] + 1.0 / (r + 1) in IEEE double, summed in order
 *              r = 0..N-1 (C[-1] = 0); t = ((u2 >> 11) * 2^-53) * C[N-1];
 *              r = the smallest r with C[r] > t (N-1 if none); block = P[r]
 *                                                            (u1 unused)
 *
 * At the end of fill and run one line is printed on stdout:
 *   WORKLOAD op=run dist=hotcold:90/10 files=16 nblocks=N ops=OPS first_op=K
 *     writes=.. fsyncs=.. hot_writes=.. elapsed_s=..
 *     write_p50_us=.. write_p99_us=.. write_p999_us=.. write_max_us=..
 *     fsync_p50_us=.. fsync_p99_us=.. fsync_max_us=..
 * (one line; write latencies are of each pwrite(), fsync ones of each
 * fsync() call). Exit status: 0 done, 1 I/O or system error, 2 usage or a
 * state mismatch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define BLOCK_SIZE	4096
#define MAX_FILES	256
#define STATE_NAME	".workload"

enum dist_kind { DIST_HOTCOLD, DIST_ZIPF, DIST_UNIFORM };

struct options {
	enum dist_kind dist;
	unsigned int write_pct;	/* hotcold: W */
	unsigned int hot_pct;	/* hotcold: H */
	unsigned int files;
	unsigned int fsync_every;
	int fsync_all;		/* fsync every file written since the last one */
};

struct gen {
	uint64_t s;
};

static uint64_t next(struct gen *g)
{
	uint64_t z;

	g->s += 0x9e3779b97f4a7c15ULL;
	z = g->s;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct sequence {
	struct options o;
	uint64_t nblocks;
	uint64_t hot;		/* hotcold: h */
	uint64_t *perm;		/* P */
	double *cdf;		/* zipf: C */
	struct gen w;
};

static void die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("workload: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(status);
}

static void dist_name(const struct options *o, char *buf, size_t size)
{
	switch (o->dist) {
	case DIST_HOTCOLD:
		snprintf(buf, size, "hotcold:%u/%u", o->write_pct, o->hot_pct);
		break;
	case DIST_ZIPF:
		snprintf(buf, size, "zipf");
		break;
	case DIST_UNIFORM:
		snprintf(buf, size, "uniform");
		break;
	}
}

static int parse_dist(const char *s, struct options *o)
{
	unsigned int w, h;
	char end;

	if (!strcmp(s, "zipf")) {
		o->dist = DIST_ZIPF;
		return 0;
	}
	if (!strcmp(s, "uniform")) {
		o->dist = DIST_UNIFORM;
		return 0;
	}
	if (sscanf(s, "hotcold:%u/%u%c", &w, &h, &end) == 2 &&
	    w <= 100 && h >= 1 && h <= 99) {
		o->dist = DIST_HOTCOLD;
		o->write_pct = w;
		o->hot_pct = h;
		return 0;
	}
	return -1;
}

static int parse_fsync(const char *s, struct options *o)
{
	if (!strcmp(s, "last"))
		o->fsync_all = 0;
	else if (!strcmp(s, "written"))
		o->fsync_all = 1;
	else
		return -1;
	return 0;
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-')
		die(2, "bad %s '%s'", what, s);
	return v;
}

/* Builds P (and C for zipf) and positions the write generator at op first. */
static void sequence_init(struct sequence *q, const struct options *o,
			  uint64_t nblocks, uint64_t seed, uint64_t first)
{
	struct gen layout = { .s = 2 * seed };
	uint64_t i;

	q->o = *o;
	q->nblocks = nblocks;
	q->perm = malloc(nblocks * sizeof(*q->perm));
	if (!q->perm)
		die(1, "out of memory for %" PRIu64 " blocks", nblocks);
	for (i = 0; i < nblocks; i++)
		q->perm[i] = i;
	for (i = nblocks - 1; i >= 1; i--) {
		uint64_t j = next(&layout) % (i + 1), t = q->perm[i];

		q->perm[i] = q->perm[j];
		q->perm[j] = t;
	}
	q->hot = nblocks * o->hot_pct / 100;
	if (o->dist == DIST_HOTCOLD && (q->hot == 0 || q->hot == nblocks))
		die(2, "%" PRIu64 " blocks are too few for a %u%% hot set",
		    nblocks, o->hot_pct);
	q->cdf = NULL;
	if (o->dist == DIST_ZIPF) {
		double c = 0;

		q->cdf = malloc(nblocks * sizeof(*q->cdf));
		if (!q->cdf)
			die(1, "out of memory for the Zipf table");
		for (i = 0; i < nblocks; i++) {
			c += 1.0 / (double)(i + 1);
			q->cdf[i] = c;
		}
	}
	/* The write generator after 2 * first draws: splitmix64's state is a
	 * counter, so skipping ahead is one multiplication.
	 */
	q->w.s = 2 * seed + 1 + 2 * first * 0x9e3779b97f4a7c15ULL;
}

/* The next op's block; *hot says whether it went to the hot set. */
static uint64_t sequence_next(struct sequence *q, int *hot)
{
	uint64_t u1 = next(&q->w), u2 = next(&q->w);
	uint64_t n = q->nblocks;

	*hot = 0;
	switch (q->o.dist) {
	case DIST_HOTCOLD:
		if (u1 % 100 < q->o.write_pct) {
			*hot = 1;
			return q->perm[u2 % q->hot];
		}
		return q->perm[q->hot + u2 % (n - q->hot)];
	case DIST_UNIFORM:
		return u2 % n;
	case DIST_ZIPF: {
		double t = ((double)(u2 >> 11) * 0x1.0p-53) * q->cdf[n - 1];
		uint64_t lo = 0, hi = n - 1;

		/* smallest r with C[r] > t */
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;

			if (q->cdf[mid] > t)
				hi = mid;
			else
				lo = mid + 1;
		}
		*hot = lo < n / 10;
		return q->perm[lo];
	}
	}
	return 0;
}

struct state {
	struct options o;
	uint64_t seed;
	uint64_t nblocks;
	uint64_t ops_done;
};

static void state_path(const char *dir, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", dir, STATE_NAME);
}

static void state_write(const char *dir, const struct state *st)
{
	char path[PATH_MAX], d[32], buf[256];
	int fd, n;

	state_path(dir, path, sizeof(path));
	dist_name(&st->o, d, sizeof(d));
	n = snprintf(buf, sizeof(buf),
		     "version=1 dist=%s files=%u fsync_every=%u fsync=%s seed=%" PRIu64
		     " nblocks=%" PRIu64 " ops_done=%" PRIu64 "\n",
		     d, st->o.files, st->o.fsync_every,
		     st->o.fsync_all ? "written" : "last", st->seed, st->nblocks,
		     st->ops_done);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, n) != n || fsync(fd) || close(fd))
		die(1, "cannot write %s: %s", path, strerror(errno));
}

static void state_read(const char *dir, struct state *st)
{
	char path[PATH_MAX], d[64], fs[16];
	unsigned int version;
	FILE *f;

	state_path(dir, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		die(2, "cannot read %s (run fill first): %s", path, strerror(errno));
	if (fscanf(f, "version=%u dist=%63s files=%u fsync_every=%u fsync=%15s seed=%" SCNu64
		   " nblocks=%" SCNu64 " ops_done=%" SCNu64,
		   &version, d, &st->o.files, &st->o.fsync_every, fs, &st->seed,
		   &st->nblocks, &st->ops_done) != 8 || version != 1 ||
	    parse_dist(d, &st->o) || !st->o.files || !st->o.fsync_every ||
	    parse_fsync(fs, &st->o))
		die(2, "%s is not a version 1 state file", path);
	fclose(f);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

struct lat {
	uint32_t *ns;	/* each sample, saturated at 2^32-1 ns (4.3 s) */
	uint64_t n, cap, max;
};

static void lat_add(struct lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 4096;
		l->ns = realloc(l->ns, l->cap * sizeof(*l->ns));
		if (!l->ns)
			die(1, "out of memory for latencies");
	}
	l->ns[l->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
	if (ns > l->max)
		l->max = ns;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile p (0 < p <= 100) in microseconds. */
static double lat_pct_us(const struct lat *l, double p)
{
	uint64_t rank;

	if (!l->n)
		return 0;
	rank = (uint64_t)((p / 100.0) * (double)l->n + 0.999999999);
	if (rank < 1)
		rank = 1;
	if (rank > l->n)
		rank = l->n;
	return l->ns[rank - 1] / 1000.0;
}

static void file_path(const char *dir, unsigned int i, char *buf, size_t size)
{
	snprintf(buf, size, "%s/f%02u", dir, i);
}

static void report(const char *op, const struct options *o, uint64_t nblocks,
		   uint64_t ops, uint64_t first, uint64_t writes,
		   uint64_t hot_writes, struct lat *wl, struct lat *fl,
		   uint64_t elapsed_ns)
{
	char d[32];

	dist_name(o, d, sizeof(d));
	qsort(wl->ns, wl->n, sizeof(*wl->ns), cmp_u32);
	qsort(fl->ns, fl->n, sizeof(*fl->ns), cmp_u32);
	printf("WORKLOAD op=%s dist=%s files=%u nblocks=%" PRIu64 " ops=%" PRIu64
	       " first_op=%" PRIu64 " writes=%" PRIu64 " fsyncs=%" PRIu64
	       " hot_writes=%" PRIu64 " elapsed_s=%.3f"
	       " write_p50_us=%.1f write_p99_us=%.1f write_p999_us=%.1f write_max_us=%.1f"
	       " fsync_p50_us=%.1f fsync_p99_us=%.1f fsync_max_us=%.1f\n",
	       op, d, o->files, nblocks, ops, first, writes, fl->n, hot_writes,
	       elapsed_ns / 1e9,
	       lat_pct_us(wl, 50), lat_pct_us(wl, 99), lat_pct_us(wl, 99.9),
	       wl->max / 1000.0,
	       lat_pct_us(fl, 50), lat_pct_us(fl, 99), fl->max / 1000.0);
	fflush(stdout);
}

static void timed_fsync(int fd, struct lat *fl)
{
	uint64_t t0 = now_ns();

	if (fsync(fd))
		die(1, "fsync: %s", strerror(errno));
	lat_add(fl, now_ns() - t0);
}

static int do_fill(const struct options *o, const char *dir, double pct,
		   uint64_t seed)
{
	static char buf[256 * BLOCK_SIZE];
	struct lat wl = { 0 }, fl = { 0 };
	struct state st = { .o = *o, .seed = seed };
	uint64_t cap, per, b, t0 = now_ns();
	struct statfs sf;
	char path[PATH_MAX];
	unsigned int i;

	if (statfs(dir, &sf))
		die(1, "statfs %s: %s", dir, strerror(errno));
	if (sf.f_bsize != BLOCK_SIZE)
		die(1, "%s has %ld-byte blocks, not %d", dir, (long)sf.f_bsize, BLOCK_SIZE);
	cap = sf.f_bfree;
	st.nblocks = (uint64_t)((double)cap * pct / 100.0) / o->files * o->files;
	per = st.nblocks / o->files;
	if (per < 1)
		die(2, "%.2f%% of %" PRIu64 " free blocks is less than a block a file", pct, cap);
	/* The layout must be computable before any I/O: fail early. */
	if (o->dist == DIST_HOTCOLD && st.nblocks * o->hot_pct / 100 == 0)
		die(2, "%" PRIu64 " blocks are too few for a %u%% hot set", st.nblocks, o->hot_pct);

	for (i = 0; i < o->files; i++) {
		int fd;

		file_path(dir, i, path, sizeof(path));
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			die(errno == EEXIST ? 2 : 1, "create %s: %s (fill wants a directory without the workload's files)",
			    path, strerror(errno));
		for (b = 0; b < per;) {
			uint64_t n = per - b < 256 ? per - b : 256, t1;
			ssize_t w;

			memset(buf, (int)(b + i), sizeof(buf));
			t1 = now_ns();
			w = pwrite(fd, buf, n * BLOCK_SIZE, (off_t)(b * BLOCK_SIZE));
			if (w != (ssize_t)(n * BLOCK_SIZE))
				die(1, "write %s: %s", path, w < 0 ? strerror(errno) : "short write");
			lat_add(&wl, now_ns() - t1);
			b += n;
		}
		timed_fsync(fd, &fl);
		if (close(fd))
			die(1, "close %s: %s", path, strerror(errno));
	}
	state_write(dir, &st);
	report("fill", o, st.nblocks, 0, 0, wl.n, 0, &wl, &fl, now_ns() - t0);
	return 0;
}

static int do_run(const struct options *given, int dist_given, const char *dir,
		  uint64_t ops, uint64_t seed)
{
	static char buf[BLOCK_SIZE] __attribute__((aligned(BLOCK_SIZE)));
	struct lat wl = { 0 }, fl = { 0 };
	int fds[MAX_FILES], dirty[MAX_FILES] = { 0 };
	uint64_t per, k, hot_writes = 0, t0;
	struct sequence q;
	struct state st;
	char path[PATH_MAX];
	unsigned int i;

	state_read(dir, &st);
	if (st.seed != seed)
		die(2, "%s was filled with seed %" PRIu64 ", not %" PRIu64, dir, st.seed, seed);
	if (dist_given && (given->dist != st.o.dist ||
			   (given->dist == DIST_HOTCOLD &&
			    (given->write_pct != st.o.write_pct || given->hot_pct != st.o.hot_pct))))
		die(2, "--dist differs from the one %s was filled with", dir);
	if (st.o.files > MAX_FILES || st.nblocks % st.o.files)
		die(2, "bad state: %u files, %" PRIu64 " blocks", st.o.files, st.nblocks);
	per = st.nblocks / st.o.files;
	for (i = 0; i < st.o.files; i++) {
		struct stat sb;

		file_path(dir, i, path, sizeof(path));
		fds[i] = open(path, O_WRONLY);
		if (fds[i] < 0 || fstat(fds[i], &sb))
			die(1, "open %s: %s", path, strerror(errno));
		if ((uint64_t)sb.st_size != per * BLOCK_SIZE)
			die(2, "%s has %lld bytes, the state says %" PRIu64, path,
			    (long long)sb.st_size, per * BLOCK_SIZE);
	}
	sequence_init(&q, &st.o, st.nblocks, seed, st.ops_done);

	t0 = now_ns();
	for (k = 0; k < ops; k++) {
		uint64_t op = st.ops_done + k, b, t1;
		int hot;
		ssize_t w;

		b = sequence_next(&q, &hot);
		hot_writes += hot;
		i = b / per;
		memcpy(buf, &op, sizeof(op));
		t1 = now_ns();
		w = pwrite(fds[i], buf, BLOCK_SIZE, (off_t)((b % per) * BLOCK_SIZE));
		if (w != BLOCK_SIZE)
			die(1, "write f%02u: %s", i, w < 0 ? strerror(errno) : "short write");
		lat_add(&wl, now_ns() - t1);
		dirty[i] = 1;
		if ((op + 1) % st.o.fsync_every == 0 && !st.o.fsync_all) {
			timed_fsync(fds[i], &fl);
			dirty[i] = 0;
		}
		/* --fsync written, and the end of every run: all written files. */
		if (((op + 1) % st.o.fsync_every == 0 && st.o.fsync_all) || k + 1 == ops) {
			for (i = 0; i < st.o.files; i++) {
				if (!dirty[i])
					continue;
				timed_fsync(fds[i], &fl);
				dirty[i] = 0;
			}
		}
	}
	for (i = 0; i < st.o.files; i++)
		close(fds[i]);
	st.ops_done += ops;
	state_write(dir, &st);
	report("run", &st.o, st.nblocks, ops, st.ops_done - ops, wl.n, hot_writes,
	       &wl, &fl, now_ns() - t0);
	return 0;
}

static int do_trace(const struct options *o, uint64_t nblocks, uint64_t ops,
		    uint64_t seed, uint64_t first)
{
	struct sequence q;
	uint64_t k;
	int hot;

	if (nblocks < 2)
		die(2, "NBLOCKS must be at least 2");
	sequence_init(&q, o, nblocks, seed, first);
	for (k = 0; k < ops; k++)
		printf("%" PRIu64 "\n", sequence_next(&q, &hot));
	return fflush(stdout) ? 1 : 0;
}

static void usage(void)
{
	fputs("usage: workload [--dist hotcold:W/H|zipf|uniform] [--files F] [--fsync-every K]\n"
	      "                [--fsync last|written] fill DIR FILL_PCT SEED\n"
	      "       workload run DIR OPS SEED\n"
	      "       workload [--dist D] trace NBLOCKS OPS SEED [FIRST_OP]\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	struct options o = { .dist = DIST_HOTCOLD, .write_pct = 90, .hot_pct = 10,
			     .files = 16, .fsync_every = 64, .fsync_all = 0 };
	int a = 1, dist_given = 0;
	const char *cmd;

	while (a < argc && !strncmp(argv[a], "--", 2)) {
		if (a + 1 >= argc)
			usage();
		if (!strcmp(argv[a], "--dist")) {
			if (parse_dist(argv[a + 1], &o))
				die(2, "bad --dist '%s' (hotcold:W/H, zipf or uniform)", argv[a + 1]);
			dist_given = 1;
		} else if (!strcmp(argv[a], "--files")) {
			o.files = parse_u64(argv[a + 1], "--files");
			if (!o.files || o.files > MAX_FILES)
				die(2, "--files must be 1..%d", MAX_FILES);
		} else if (!strcmp(argv[a], "--fsync")) {
			if (parse_fsync(argv[a + 1], &o))
				die(2, "--fsync must be last or written");
		} else if (!strcmp(argv[a], "--fsync-every")) {
			o.fsync_every = parse_u64(argv[a + 1], "--fsync-every");
			if (!o.fsync_every)
				die(2, "--fsync-every must be at least 1");
		} else {
			usage();
		}
		a += 2;
	}
	if (a >= argc)
		usage();
	cmd = argv[a++];
	if (!strcmp(cmd, "fill") && argc - a == 3) {
		char *end;
		double pct = strtod(argv[a + 1], &end);

		if (*end || !(pct > 0 && pct < 100))
			die(2, "FILL_PCT must be a number between 0 and 100");
		return do_fill(&o, argv[a], pct, parse_u64(argv[a + 2], "SEED"));
	}
	if (!strcmp(cmd, "run") && argc - a == 3)
		return do_run(&o, dist_given, argv[a], parse_u64(argv[a + 1], "OPS"),
			      parse_u64(argv[a + 2], "SEED"));
	if (!strcmp(cmd, "trace") && (argc - a == 3 || argc - a == 4))
		return do_trace(&o, parse_u64(argv[a], "NBLOCKS"),
				parse_u64(argv[a + 1], "OPS"),
				parse_u64(argv[a + 2], "SEED"),
				argc - a == 4 ? parse_u64(argv[a + 3], "FIRST_OP") : 0);
	usage();
	return 2;
}
