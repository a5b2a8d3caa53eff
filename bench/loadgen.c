// SPDX-License-Identifier: GPL-2.0
/*
 * loadgen: plays koffload.ko over a userspace NETLINK_GENERIC socket (root
 * may unicast to another port), so any handler (koffloadd, a C daemon) can
 * be measured on the socket path it would use against the module.
 *
 * It answers the family's control plane the way the module does (GET-SUBSYS
 * one and dump, BIND, UNBIND, PUBLISH, SET-MODE, acks and errors, family id
 * BENCH_FAMILY as the simulator uses, so koffloadd finds it through a
 * simulator state file it writes), then keeps K REQUESTs in flight: each one
 * its own datagram, byte-identical to koffload_nl_request()'s (seq 0, pid 0,
 * req-id, subsys-id, op, deadline-ns, flags, payload; x86-64 needs no pad
 * attribute), req-id carrying the subsystem id in its top 16 bits, payload
 * an EchoRequest of P bytes (one less when the answer's seq + 1 needs a
 * longer varint, so the answer fits P too), subsystems taken in turn. Every REPLY is
 * checked: from the bound port, a pending id, status ok, an EchoResponse
 * with the request's data and seq + 1. Latency is taken per request from
 * the send to the receive of its reply.
 *
 *   loadgen [--inflight K] [--payload P] [--subsystems N] [--duration S]
 *	     [--warmup S] [--timeout-ms T] [--rate R] [--state FILE]
 *	     [--responder-pid PID] [--bind-wait S] [--hold] [--label NAME]
 *
 * --rate R sends at most R requests a second (open loop, still at most K
 * in flight); --responder-pid - reads the pid from stdin (one line, sent
 * by whoever starts the responder after loadgen); --hold keeps answering the control plane after the report
 * until stdin closes (koffloadd's metrics and unbind). The report is one
 * line of key=value on stdout; exit status 0 when every reply checked out,
 * 1 when one did not, 2 on a usage or setup error, 3 when not every
 * subsystem got bound in time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nlbench.h"

#ifndef __x86_64__
#warning "REQUESTs are built as on x86-64 (no pad attribute before u64 values)"
#endif

#define MAX_SUBSYS	64
#define MAX_INFLIGHT	4096
#define SLOT_BITS	12
#define RECV_BATCH	64
#define RECV_SLOT	65536
#define REQ_ROOM	(NLMSG_HDRLEN + GENL_HDRLEN + 5 * 12 + NLA_HDRLEN + KOFFLOAD_PAYLOAD_MAX + 8)

struct subsys {
	char name[KOFFLOAD_NAME_MAX];
	uint32_t id;
	uint32_t port;
	uint64_t outcomes[KOFFLOAD_OUTCOME_MAX + 1];
	uint64_t counters[KOFFLOAD_COUNTER_MAX + 1];
};

struct slot {
	uint64_t id;		/* 0: free */
	uint64_t seq;
	uint64_t sent_ns;
	uint64_t deadline_ns;
	uint32_t gen;
	int sub;
};

/* log-linear latency histogram: < 1/128 relative error */
#define HIST_LIN	256
#define HIST_SUB	128
#define HIST_N		(HIST_LIN + 40 * HIST_SUB)
struct hist {
	uint64_t n[HIST_N];
	uint64_t count;
	double sum;
};

static void hist_add(struct hist *h, uint64_t v)
{
	size_t i;

	if (v < HIST_LIN) {
		i = v;
	} else {
		int msb = 63 - __builtin_clzll(v);

		i = HIST_LIN + (size_t)(msb - 8) * HIST_SUB + ((v >> (msb - 7)) & (HIST_SUB - 1));
		if (i >= HIST_N)
			i = HIST_N - 1;
	}
	h->n[i]++;
	h->count++;
	h->sum += (double)v;
}

static double hist_value(size_t i)
{
	int msb;

	if (i < HIST_LIN)
		return (double)i;
	msb = (int)((i - HIST_LIN) / HIST_SUB) + 8;
	return ((double)(HIST_SUB + (i - HIST_LIN) % HIST_SUB) + 0.5) * (double)(1ull << (msb - 7));
}

static double hist_quantile(const struct hist *h, double q)
{
	uint64_t want = (uint64_t)(q * (double)h->count), seen = 0;
	size_t i;

	if (!h->count)
		return 0;
	for (i = 0; i < HIST_N; i++) {
		seen += h->n[i];
		if (seen > want)
			return hist_value(i);
	}
	return hist_value(HIST_N - 1);
}

static struct {
	int inflight, payload, nsubsys, rate, hold, timeout_ms;
	double duration, warmup, bind_wait;
	const char *state, *label;
	int responder_pid;
} opt = {
	.inflight = 32, .payload = 64, .nsubsys = 1, .duration = 5, .warmup = 1,
	.timeout_ms = 1000, .bind_wait = 30, .label = "responder",
};

static int fd;
static uint32_t my_port;
static struct subsys subs[MAX_SUBSYS];
static struct slot slots[MAX_INFLIGHT];
static int free_slots[MAX_INFLIGHT], nfree;
static unsigned char pattern[2 * KOFFLOAD_PAYLOAD_MAX + 256];
static struct hist lat;
static uint64_t seq_next = 1;
static int next_sub;

/* totals over the whole run, and those of the measuring window */
static struct counts {
	uint64_t issued, ok, declined, errors, bad, deadline, overload, late, foreign;
} total, win;
static int measuring;

static void die(const char *what)
{
	perror(what);
	exit(2);
}

/* sends the answers of the control plane (rare: one sendto each) */
static void send_to(uint32_t port, const void *buf, size_t len)
{
	struct sockaddr_nl to = { .nl_family = AF_NETLINK, .nl_pid = port };

	if (sendto(fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)) < 0 &&
	    errno != ECONNREFUSED && errno != EAGAIN)
		perror("sendto (control)");
}

/* NLMSG_ERROR (errno 0: an ACK) with the request's header only, as with NETLINK_CAP_ACK */
static void put_error(struct nlbuf *o, const struct nlmsghdr *req, uint32_t port, int err)
{
	struct nlmsghdr *h = nb_put(o, NLMSG_HDRLEN);
	struct nlmsgerr *e = nb_put(o, sizeof(*e));

	h->nlmsg_type = NLMSG_ERROR;
	h->nlmsg_flags = NLM_F_CAPPED;
	h->nlmsg_seq = req->nlmsg_seq;
	h->nlmsg_pid = port;
	e->error = -err;
	e->msg = *req;
	e->msg.nlmsg_len = NLMSG_HDRLEN;
	h->nlmsg_len = NLMSG_HDRLEN + sizeof(*e);
}

static void put_counters(struct nlbuf *o, uint16_t type, const uint64_t *v, int n)
{
	struct nlattr *nest = (struct nlattr *)(o->b + o->len);
	size_t start = o->len;
	int i;

	nb_put(o, NLA_HDRLEN);
	for (i = 0; i < n; i++)
		nb_u64(o, i + 1, v[i]);
	nest->nla_type = type | NLA_F_NESTED;
	nest->nla_len = (uint16_t)(o->len - start);
}

static int pending_of(int sub)
{
	int i, n = 0;

	for (i = 0; i < opt.inflight; i++)
		n += slots[i].id && slots[i].sub == sub;
	return n;
}

/* What koffload_nl_fill_subsys() puts in a GET-SUBSYS or BIND reply (admin view). */
static void put_subsys(struct nlbuf *o, int i, uint32_t port, uint32_t seq, uint16_t flags, uint8_t cmd)
{
	struct subsys *s = &subs[i];
	struct nlmsghdr *h = nb_begin(o, BENCH_FAMILY, flags, seq, port, cmd);

	nb_u32(o, KOFFLOAD_A_SUBSYS_ID, s->id);
	nb_attr(o, KOFFLOAD_A_SUBSYS_NAME, s->name, strlen(s->name) + 1);
	nb_u32(o, KOFFLOAD_A_BOUND, !!s->port);
	nb_u32(o, KOFFLOAD_A_PORTID, s->port);
	nb_u32(o, KOFFLOAD_A_BOUND_PID, 0);
	nb_u32(o, KOFFLOAD_A_MODE, KOFFLOAD_MODE_ON);
	nb_u32(o, KOFFLOAD_A_CANARY_PERMILLE, KOFFLOAD_PERMILLE);
	nb_u32(o, KOFFLOAD_A_DEADLINE_MS, opt.timeout_ms);
	nb_u32(o, KOFFLOAD_A_MAX_INFLIGHT, KOFFLOAD_INFLIGHT_MAX);
	nb_u32(o, KOFFLOAD_A_PENDING, pending_of(i));
	nb_u32(o, KOFFLOAD_A_CIRCUIT, KOFFLOAD_CIRCUIT_CLOSED);
	nb_u32(o, KOFFLOAD_A_NR_OPS, 2);
	nb_u32(o, KOFFLOAD_A_PAYLOAD_MAX, KOFFLOAD_PAYLOAD_MAX);
	nb_u32(o, KOFFLOAD_A_INFLIGHT_MAX, KOFFLOAD_INFLIGHT_MAX);
	nb_u32(o, KOFFLOAD_A_DEADLINE_MAX_MS, KOFFLOAD_DEADLINE_MAX_MS);
	put_counters(o, KOFFLOAD_A_OUTCOMES, s->outcomes, KOFFLOAD_OUTCOME_MAX + 1);
	put_counters(o, KOFFLOAD_A_COUNTERS, s->counters, KOFFLOAD_COUNTER_MAX + 1);
	nb_end(o, h);
}

static int find_subsys(const struct nlattr **tb)
{
	int i;

	for (i = 0; i < opt.nsubsys; i++) {
		if (tb[KOFFLOAD_A_SUBSYS_ID] && nla_len_of(tb[KOFFLOAD_A_SUBSYS_ID]) == 4 &&
		    *(const uint32_t *)nla_data_of(tb[KOFFLOAD_A_SUBSYS_ID]) == subs[i].id)
			return i;
		if (tb[KOFFLOAD_A_SUBSYS_NAME] &&
		    !strncmp(nla_data_of(tb[KOFFLOAD_A_SUBSYS_NAME]), subs[i].name,
			     nla_len_of(tb[KOFFLOAD_A_SUBSYS_NAME])))
			return i;
	}
	return -1;
}

/*
 * Data bytes of request seq: the EchoRequest is opt.payload bytes, and the
 * answer (seq + 1, whose varint may be a byte longer) fits in as many, so a
 * 4096-byte request never asks for a reply above KOFFLOAD_PAYLOAD_MAX.
 */
static size_t data_len_for(uint64_t seq)
{
	size_t n = (size_t)opt.payload - pb_echo_len(0, seq + 1);

	while (n > 0 && pb_echo_len(n, seq + 1) > (size_t)opt.payload)
		n--;
	return n;
}

static void release_slot(int i)
{
	slots[i].id = 0;
	free_slots[nfree++] = i;
}

#define COUNT(field) do { total.field++; if (measuring) win.field++; } while (0)

static void on_reply(const struct nlmsghdr *h, uint32_t from, uint64_t now)
{
	const struct nlattr *tb[KOFFLOAD_A_MAX + 1];
	struct echo_msg m;
	struct slot *s;
	uint64_t id;
	uint32_t status;
	int i;

	if (nl_parse(h, tb, KOFFLOAD_A_MAX) || !tb[KOFFLOAD_A_REQ_ID] || !tb[KOFFLOAD_A_STATUS] ||
	    nla_len_of(tb[KOFFLOAD_A_REQ_ID]) != 8 || nla_len_of(tb[KOFFLOAD_A_STATUS]) != 4) {
		COUNT(bad);
		return;
	}
	memcpy(&id, nla_data_of(tb[KOFFLOAD_A_REQ_ID]), 8);
	status = *(const uint32_t *)nla_data_of(tb[KOFFLOAD_A_STATUS]);
	i = (int)(id & ((1u << SLOT_BITS) - 1));
	s = &slots[i];
	if (i >= opt.inflight || s->id != id) {
		/* the call already ended (deadline) or never was */
		COUNT(late);
		if ((id >> 48) - 1 < (uint64_t)opt.nsubsys)
			subs[(id >> 48) - 1].counters[KOFFLOAD_COUNTER_LATE_REPLIES]++;
		return;
	}
	if (from != subs[s->sub].port) {
		COUNT(foreign);
		subs[s->sub].counters[KOFFLOAD_COUNTER_FOREIGN_REPLIES]++;
		return;
	}
	if (status == KOFFLOAD_STATUS_OK) {
		int ok = tb[KOFFLOAD_A_PAYLOAD] &&
			 !pb_echo_decode(nla_data_of(tb[KOFFLOAD_A_PAYLOAD]),
					 nla_len_of(tb[KOFFLOAD_A_PAYLOAD]), &m) &&
			 m.seq == s->seq + 1 && m.data_len == data_len_for(s->seq) &&
			 !memcmp(m.data, pattern + (s->seq & 255), m.data_len);

		if (ok) {
			COUNT(ok);
			subs[s->sub].outcomes[KOFFLOAD_OUTCOME_SERVED]++;
		} else {
			COUNT(bad);
			subs[s->sub].outcomes[KOFFLOAD_OUTCOME_MALFORMED]++;
		}
	} else if (status == KOFFLOAD_STATUS_DECLINE) {
		COUNT(declined);
		subs[s->sub].outcomes[KOFFLOAD_OUTCOME_DECLINED]++;
	} else {
		COUNT(errors);
		subs[s->sub].outcomes[KOFFLOAD_OUTCOME_HANDLER_ERROR]++;
	}
	if (measuring)
		hist_add(&lat, now - s->sent_ns);
	release_slot(i);
}

static void on_control(const struct nlmsghdr *h, uint32_t from)
{
	static unsigned char obuf[RECV_SLOT];
	struct nlbuf o = { .b = obuf, .cap = sizeof(obuf) };
	const struct nlattr *tb[KOFFLOAD_A_MAX + 1];
	const struct genlmsghdr *g = NLMSG_DATA(h);
	int i, err = 0;

	if (nl_parse(h, tb, KOFFLOAD_A_MAX)) {
		err = EINVAL;
		goto out;
	}
	switch (g->cmd) {
	case KOFFLOAD_CMD_GET_SUBSYS:
		if ((h->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP) {
			struct nlmsghdr *d;

			for (i = 0; i < opt.nsubsys; i++)
				put_subsys(&o, i, from, h->nlmsg_seq, NLM_F_MULTI, KOFFLOAD_CMD_GET_SUBSYS);
			d = nb_put(&o, NLMSG_HDRLEN);
			*(int *)nb_put(&o, sizeof(int)) = 0;
			d->nlmsg_type = NLMSG_DONE;
			d->nlmsg_flags = NLM_F_MULTI;
			d->nlmsg_seq = h->nlmsg_seq;
			d->nlmsg_pid = from;
			d->nlmsg_len = NLMSG_HDRLEN + sizeof(int);
			send_to(from, o.b, o.len);
			return;
		}
		i = find_subsys(tb);
		if (i < 0) {
			err = ENOENT;
			break;
		}
		put_subsys(&o, i, from, h->nlmsg_seq, 0, KOFFLOAD_CMD_GET_SUBSYS);
		break;
	case KOFFLOAD_CMD_BIND:
		i = find_subsys(tb);
		if (i < 0 || !tb[KOFFLOAD_A_SUBSYS_NAME]) {
			err = ENOENT;
			break;
		}
		if (!tb[KOFFLOAD_A_VERSION] ||
		    *(const uint32_t *)nla_data_of(tb[KOFFLOAD_A_VERSION]) != KOFFLOAD_FAMILY_VERSION) {
			err = EPROTO;
			break;
		}
		if (subs[i].port && subs[i].port != from) {
			err = EBUSY;
			break;
		}
		subs[i].port = from;
		subs[i].counters[KOFFLOAD_COUNTER_BINDS]++;
		put_subsys(&o, i, from, h->nlmsg_seq, 0, KOFFLOAD_CMD_BIND);
		break;
	case KOFFLOAD_CMD_UNBIND:
		i = find_subsys(tb);
		if (i < 0) {
			err = ENOENT;
			break;
		}
		if (subs[i].port != from) {
			err = EPERM;
			break;
		}
		subs[i].port = 0;
		break;
	case KOFFLOAD_CMD_PUBLISH:
	case KOFFLOAD_CMD_SET_MODE:
		break;
	default:
		err = EOPNOTSUPP;
	}
out:
	if (err || (h->nlmsg_flags & NLM_F_ACK))
		put_error(&o, h, from, err);
	if (o.len)
		send_to(from, o.b, o.len);
}

/* Builds REQUEST number seq for subsystem sub into p; returns its length. */
static size_t build_request(unsigned char *p, int sub, uint64_t id, uint64_t seq, uint64_t deadline)
{
	struct nlbuf o = { .b = p, .cap = REQ_ROOM };
	unsigned char pb[KOFFLOAD_PAYLOAD_MAX + 32];
	struct nlmsghdr *h = nb_begin(&o, BENCH_FAMILY, 0, 0, 0, KOFFLOAD_CMD_REQUEST);
	size_t data_len = data_len_for(seq), pl;

	pl = pb_echo_encode(pb, pattern + (seq & 255), data_len, seq);
	nb_u64(&o, KOFFLOAD_A_REQ_ID, id);
	nb_u32(&o, KOFFLOAD_A_SUBSYS_ID, subs[sub].id);
	nb_u32(&o, KOFFLOAD_A_OP, KTEST_OP_OP_ECHO);
	nb_u64(&o, KOFFLOAD_A_DEADLINE_NS, deadline);
	nb_u32(&o, KOFFLOAD_A_FLAGS, 0);
	nb_attr(&o, KOFFLOAD_A_PAYLOAD, pb, (uint16_t)pl);
	nb_end(&o, h);
	return o.len;
}

static unsigned char reqbuf[MAX_INFLIGHT][REQ_ROOM];
static struct mmsghdr smsg[MAX_INFLIGHT];
static struct iovec siov[MAX_INFLIGHT];
static struct sockaddr_nl sto[MAX_INFLIGHT];

/* Fills up to `want` free slots with new REQUESTs, sent with one sendmmsg(). */
static void refill(int want, uint64_t now)
{
	int n = 0, i, sent = 0;
	int idx[MAX_INFLIGHT];

	while (n < want && nfree > 0) {
		int sub = next_sub, s = free_slots[--nfree];
		struct slot *sl = &slots[s];

		next_sub = (next_sub + 1) % opt.nsubsys;
		sl->gen = (sl->gen + 1) & 0xffffffffu;
		sl->id = (uint64_t)subs[sub].id << 48 | (uint64_t)(sl->gen & 0xfffffffu) << SLOT_BITS | (uint64_t)s;
		sl->seq = seq_next++;
		sl->sub = sub;
		sl->deadline_ns = now + (uint64_t)opt.timeout_ms * 1000000ull;
		siov[n].iov_base = reqbuf[n];
		siov[n].iov_len = build_request(reqbuf[n], sub, sl->id, sl->seq, sl->deadline_ns);
		sto[n] = (struct sockaddr_nl){ .nl_family = AF_NETLINK, .nl_pid = subs[sub].port };
		smsg[n].msg_hdr = (struct msghdr){ .msg_name = &sto[n], .msg_namelen = sizeof(sto[n]),
						   .msg_iov = &siov[n], .msg_iovlen = 1 };
		idx[n++] = s;
	}
	if (!n)
		return;
	now = mono_ns();
	for (i = 0; i < n; i++)
		slots[idx[i]].sent_ns = now;
	while (sent < n) {
		int r = sendmmsg(fd, smsg + sent, n - sent, MSG_DONTWAIT);

		if (r > 0) {
			sent += r;
			continue;
		}
		/* the handler's buffer is full: the kernel's call falls back (overload) */
		if (errno == EAGAIN || errno == ENOBUFS || errno == ECONNREFUSED) {
			subs[slots[idx[sent]].sub].outcomes[KOFFLOAD_OUTCOME_OVERLOAD]++;
			COUNT(overload);
			release_slot(idx[sent]);
			sent++;
			continue;
		}
		die("sendmmsg");
	}
	for (i = 0; i < n; i++) {
		subs[slots[idx[i]].sub].counters[KOFFLOAD_COUNTER_REQUESTS_SENT]++;
		COUNT(issued);
	}
}

/* Ends every pending call whose deadline passed: outcome deadline. */
static void expire(uint64_t now)
{
	int i;

	for (i = 0; i < opt.inflight; i++) {
		if (slots[i].id && now >= slots[i].deadline_ns) {
			subs[slots[i].sub].outcomes[KOFFLOAD_OUTCOME_DEADLINE]++;
			COUNT(deadline);
			release_slot(i);
		}
	}
}

static unsigned char rbuf[RECV_BATCH][RECV_SLOT];
static struct mmsghdr rmsg[RECV_BATCH];
static struct iovec riov[RECV_BATCH];
static struct sockaddr_nl rfrom[RECV_BATCH];

/* Reads what is queued; returns the number of datagrams. */
static int receive(void)
{
	int n, i;

	for (i = 0; i < RECV_BATCH; i++) {
		riov[i] = (struct iovec){ .iov_base = rbuf[i], .iov_len = RECV_SLOT };
		rmsg[i].msg_hdr = (struct msghdr){ .msg_name = &rfrom[i], .msg_namelen = sizeof(rfrom[i]),
						   .msg_iov = &riov[i], .msg_iovlen = 1 };
	}
	n = recvmmsg(fd, rmsg, RECV_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		if (errno == ENOBUFS)
			return 0;
		die("recvmmsg");
	}
	{
		uint64_t now = mono_ns();

		for (i = 0; i < n; i++) {
			int left = (int)rmsg[i].msg_len;
			struct nlmsghdr *h;

			for (h = (struct nlmsghdr *)rbuf[i]; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
				const struct genlmsghdr *g = NLMSG_DATA(h);

				if (h->nlmsg_type != BENCH_FAMILY || h->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
					continue;
				if (g->cmd == KOFFLOAD_CMD_REPLY) {
					on_reply(h, rfrom[i].nl_pid, now);
					if (h->nlmsg_flags & NLM_F_ACK)
						on_control(h, rfrom[i].nl_pid);
				} else {
					on_control(h, rfrom[i].nl_pid);
				}
			}
		}
	}
	return n;
}

static uint64_t cpu_ns_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

/* utime + stime of every thread of pid, ns (0 when unreadable) */
static uint64_t cpu_ns_of(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')))
		return 0;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (uint64_t)(ut + st) * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
}

/* VmRSS or VmHWM of pid in kB (0 when unreadable) */
static long mem_kb_of(int pid, const char *key)
{
	char path[64], line[256];
	long v = 0;
	FILE *f;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return v;
}

static void write_state(const char *path)
{
	char tmp[4096], text[256];
	int f, len;

	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, getpid());
	unlink(tmp);
	f = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (f < 0)
		die(tmp);
	fchmod(f, 0644);
	len = snprintf(text, sizeof(text), "{\"pid\":%d,\"portId\":%u,\"familyIds\":{\"koffload\":%d,\"koffloadTest\":%d}}\n",
		       getpid(), my_port, BENCH_FAMILY, 0x4b54);
	if (write(f, text, len) != len || close(f))
		die(tmp);
	if (rename(tmp, path))
		die(path);
}

static int all_bound(void)
{
	int i;

	for (i = 0; i < opt.nsubsys; i++)
		if (!subs[i].port)
			return 0;
	return 1;
}

static int inflight_now(void)
{
	return opt.inflight - nfree;
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen [--inflight 1..4096] [--payload 16..4096] [--subsystems 1..64]\n"
			"               [--duration S] [--warmup S] [--timeout-ms T] [--rate R]\n"
			"               [--state FILE] [--responder-pid PID] [--bind-wait S] [--hold] [--label NAME]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "inflight", 1, NULL, 'k' }, { "payload", 1, NULL, 'p' },
		{ "subsystems", 1, NULL, 'n' }, { "duration", 1, NULL, 'd' },
		{ "warmup", 1, NULL, 'w' }, { "timeout-ms", 1, NULL, 't' },
		{ "rate", 1, NULL, 'r' }, { "state", 1, NULL, 's' },
		{ "responder-pid", 1, NULL, 'P' }, { "bind-wait", 1, NULL, 'b' },
		{ "hold", 0, NULL, 'H' }, { "label", 1, NULL, 'l' }, { NULL, 0, NULL, 0 },
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t sl = sizeof(sa);
	int c, i, size = 8 << 20, one = 1;
	uint64_t t0, t_measure, t_end, cpu0 = 0, rcpu0 = 0, cpu1, rcpu1, started_ns;
	double secs, rate_start = 0;
	uint64_t rate_issued = 0;
	long hwm, rss;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'k': opt.inflight = atoi(optarg); break;
		case 'p': opt.payload = atoi(optarg); break;
		case 'n': opt.nsubsys = atoi(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 't': opt.timeout_ms = atoi(optarg); break;
		case 'r': opt.rate = atoi(optarg); break;
		case 's': opt.state = optarg; break;
		case 'P': opt.responder_pid = strcmp(optarg, "-") ? atoi(optarg) : -1; break;
		case 'b': opt.bind_wait = atof(optarg); break;
		case 'H': opt.hold = 1; break;
		case 'l': opt.label = optarg; break;
		default: usage();
		}
	}
	if (opt.inflight < 1 || opt.inflight > MAX_INFLIGHT || opt.payload < 16 ||
	    opt.payload > KOFFLOAD_PAYLOAD_MAX || opt.nsubsys < 1 || opt.nsubsys > MAX_SUBSYS ||
	    opt.duration <= 0 || opt.timeout_ms < 1 || opt.timeout_ms > KOFFLOAD_DEADLINE_MAX_MS)
		usage();
	for (i = 0; i < (int)sizeof(pattern); i++)
		pattern[i] = (unsigned char)(i * 7 + 3);
	for (i = 0; i < opt.nsubsys; i++) {
		snprintf(subs[i].name, sizeof(subs[i].name), "bench%d", i);
		subs[i].id = i + 1;
	}
	for (i = opt.inflight - 1; i >= 0; i--)
		free_slots[nfree++] = i;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl))
		die("netlink socket");
	my_port = sa.nl_pid;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	if (opt.state)
		write_state(opt.state);
	fprintf(stderr, "loadgen: port %u, %d subsystem(s), waiting for binds\n", my_port, opt.nsubsys);

	t0 = mono_ns();
	while (!all_bound()) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (mono_ns() - t0 > (uint64_t)(opt.bind_wait * 1e9)) {
			fprintf(stderr, "loadgen: not every subsystem was bound within %.0f s\n", opt.bind_wait);
			return 3;
		}
		poll(&p, 1, 100);
		receive();
	}
	if (opt.responder_pid < 0) {
		char line[32];

		if (!fgets(line, sizeof(line), stdin)) {
			fprintf(stderr, "loadgen: no responder pid on stdin\n");
			return 2;
		}
		opt.responder_pid = atoi(line);
	}

	started_ns = mono_ns();
	t_measure = started_ns + (uint64_t)(opt.warmup * 1e9);
	t_end = t_measure + (uint64_t)(opt.duration * 1e9);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = mono_ns();
		int want;

		if (!measuring && now >= t_measure) {
			measuring = 1;
			cpu0 = cpu_ns_self();
			rcpu0 = cpu_ns_of(opt.responder_pid);
			rate_start = (double)now;
			rate_issued = 0;
			/* bench.ts reads koffloadd's counters here, the window's start */
			fprintf(stderr, "loadgen: measuring\n");
		}
		if (now >= t_end)
			break;
		if (opt.rate) {
			double due = ((double)now - (rate_start ? rate_start : (double)started_ns)) / 1e9 * opt.rate;

			want = due > (double)rate_issued ? (int)(due - (double)rate_issued) : 0;
			if (want > nfree)
				want = nfree;
			rate_issued += want;
		} else {
			want = nfree;
		}
		refill(want, now);
		if (!receive()) {
			expire(mono_ns());
			poll(&p, 1, opt.rate ? 1 : 10);
		}
	}
	cpu1 = cpu_ns_self();
	rcpu1 = cpu_ns_of(opt.responder_pid);
	secs = (double)(mono_ns() - t_measure) / 1e9;
	measuring = 0;
	rss = mem_kb_of(opt.responder_pid, "VmRSS:");
	hwm = mem_kb_of(opt.responder_pid, "VmHWM:");

	/* drain: every call still pending ends with a reply or its deadline */
	t0 = mono_ns();
	while (inflight_now() > 0 && mono_ns() - t0 < (uint64_t)opt.timeout_ms * 1000000ull + 500000000ull) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (!receive()) {
			expire(mono_ns());
			poll(&p, 1, 10);
		}
	}
	expire(UINT64_MAX);

	{
		uint64_t done = win.ok + win.declined + win.errors + win.bad;
		uint64_t accounted = total.ok + total.declined + total.errors + total.bad + total.deadline;

		printf("loadgen label=%s inflight=%d payload=%d subsystems=%d duration_s=%.2f msgs=%" PRIu64
		       " msg_per_s=%.0f p50_us=%.2f p99_us=%.2f p999_us=%.2f mean_us=%.2f"
		       " ok=%" PRIu64 " declined=%" PRIu64 " errors=%" PRIu64 " bad=%" PRIu64
		       " deadline=%" PRIu64 " overload=%" PRIu64 " late=%" PRIu64 " foreign=%" PRIu64
		       " gen_cpu_pct=%.1f gen_cpu_us_per_msg=%.3f resp_cpu_pct=%.1f resp_cpu_us_per_msg=%.3f"
		       " resp_rss_mb=%.1f resp_hwm_mb=%.1f total_issued=%" PRIu64 " total_accounted=%" PRIu64
		       " total_ok=%" PRIu64 " total_overload=%" PRIu64 "\n",
		       opt.label, opt.inflight, opt.payload, opt.nsubsys, secs, done, (double)done / secs,
		       hist_quantile(&lat, 0.5) / 1e3, hist_quantile(&lat, 0.99) / 1e3,
		       hist_quantile(&lat, 0.999) / 1e3, lat.count ? lat.sum / (double)lat.count / 1e3 : 0,
		       win.ok, win.declined, win.errors, win.bad, win.deadline, win.overload, win.late,
		       win.foreign, (double)(cpu1 - cpu0) / 1e9 / secs * 100,
		       done ? (double)(cpu1 - cpu0) / 1e3 / (double)done : 0,
		       (double)(rcpu1 - rcpu0) / 1e9 / secs * 100,
		       done ? (double)(rcpu1 - rcpu0) / 1e3 / (double)done : 0,
		       (double)rss / 1024, (double)hwm / 1024, total.issued, accounted, total.ok,
		       total.overload);
		fflush(stdout);
	}
	if (opt.hold) {
		/* keep answering the control plane (metrics dumps, UNBIND) until stdin closes */
		for (;;) {
			struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
			char b[256];

			if (poll(p, 2, -1) < 0 && errno != EINTR)
				break;
			if (p[1].revents && read(0, b, sizeof(b)) <= 0)
				break;
			if (p[0].revents)
				receive();
		}
	}
	if (opt.state)
		unlink(opt.state);
	return total.bad || total.errors || total.foreign ? 1 : 0;
}
