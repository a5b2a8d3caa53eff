// SPDX-License-Identifier: GPL-2.0
/*
 * responder: the C daemons koffloadd is compared with. Each binds its
 * subsystems (BIND with an ack, as koffloadd does) and then serves ECHO
 * REQUESTs doing what the benchmark's TypeScript policy does: decode the
 * EchoRequest, compute the answer (seq + 1, data unchanged; --answer echo
 * keeps seq, for koffload_test's intact check), encode the EchoResponse,
 * send a REPLY with status ok.
 *
 *   responder conv|batch --dest PORT --family ID [--subsystems N | --name NAME]
 *	       [--answer incr|echo] [--batch N]
 *
 * conv:  one recv() and one send() per message, as a conventional daemon
 *	  (ksmbd.mountd's pattern) does.
 * batch: recvmmsg() of up to N datagrams (default 16, 1..64: what
 *	  koffloadd's transport reads in the first crossing of a wake-up), and
 *	  all their replies in one sendmsg(): the limit of this socket path. A
 *	  batch that can hold the whole window in flight makes the two sides
 *	  take turns: at 32 in flight 64 gave 0.40M msg/s here, 16 0.57-0.84M,
 *	  8 0.86-0.90M; at 512 in flight 16 and 64 gave the same (1.0-1.1M).
 *
 * DEST is the port of the koffload family: 0 for the kernel, loadgen's
 * port otherwise. Socket options as koffload's transport sets them: 4 MiB
 * buffers, NETLINK_NO_ENOBUFS, NETLINK_EXT_ACK, NETLINK_CAP_ACK. Prints
 * "BOUND <port>" once every subsystem is bound; runs until SIGTERM or
 * SIGINT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nlbench.h"

#define BATCH		64
#define SLOT		16384
#define OUT_MAX		65536

static int fd, answer_echo, batch = 16;
static uint32_t dest;
static uint16_t family;
static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void send_buf(const void *b, size_t len)
{
	struct sockaddr_nl to = { .nl_family = AF_NETLINK, .nl_pid = dest };

	if (sendto(fd, b, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0 && errno != EINTR) {
		perror("sendto");
		exit(1);
	}
}

/* BINDs `name` and waits for its ack; exits on failure. */
static void bind_one(const char *name, uint32_t seq)
{
	unsigned char b[512], in[8192];
	struct nlbuf o = { .b = b, .cap = sizeof(b) };
	struct nlmsghdr *h = nb_begin(&o, family, NLM_F_REQUEST | NLM_F_ACK, seq, 0, KOFFLOAD_CMD_BIND);

	nb_attr(&o, KOFFLOAD_A_SUBSYS_NAME, name, strlen(name) + 1);
	nb_u32(&o, KOFFLOAD_A_VERSION, KOFFLOAD_FAMILY_VERSION);
	nb_end(&o, h);
	send_buf(o.b, o.len);
	for (;;) {
		ssize_t n = recv(fd, in, sizeof(in), 0);
		int left = (int)n;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("recv (bind)");
			exit(1);
		}
		for (h = (struct nlmsghdr *)in; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR)
				continue;
			if (((struct nlmsgerr *)NLMSG_DATA(h))->error) {
				fprintf(stderr, "responder: BIND %s: %s\n", name,
					strerror(-((struct nlmsgerr *)NLMSG_DATA(h))->error));
				exit(1);
			}
			return;
		}
	}
}

/* Appends the REPLY to one REQUEST to o; false when it is not an answerable ECHO. */
static int answer(const struct nlmsghdr *h, struct nlbuf *o)
{
	const struct nlattr *tb[KOFFLOAD_A_MAX + 1];
	const struct genlmsghdr *g = NLMSG_DATA(h);
	unsigned char pb[KOFFLOAD_PAYLOAD_MAX + 32];
	struct nlmsghdr *r;
	struct echo_msg m;
	uint32_t status = KOFFLOAD_STATUS_OK;
	uint64_t id;
	size_t pl = 0;

	if (h->nlmsg_type != family || g->cmd != KOFFLOAD_CMD_REQUEST || nl_parse(h, tb, KOFFLOAD_A_MAX) ||
	    !tb[KOFFLOAD_A_REQ_ID] || nla_len_of(tb[KOFFLOAD_A_REQ_ID]) != 8)
		return 0;
	memcpy(&id, nla_data_of(tb[KOFFLOAD_A_REQ_ID]), 8);
	if (!id)
		return 0;	/* shadow and advisory requests take no reply */
	if (!tb[KOFFLOAD_A_PAYLOAD] ||
	    pb_echo_decode(nla_data_of(tb[KOFFLOAD_A_PAYLOAD]), nla_len_of(tb[KOFFLOAD_A_PAYLOAD]), &m))
		status = KOFFLOAD_STATUS_DECLINE;
	else
		pl = pb_echo_encode(pb, m.data, m.data_len, answer_echo ? m.seq : m.seq + 1);
	r = nb_begin(o, family, NLM_F_REQUEST, 0, 0, KOFFLOAD_CMD_REPLY);
	nb_u64(o, KOFFLOAD_A_REQ_ID, id);
	nb_u32(o, KOFFLOAD_A_STATUS, status);
	if (status == KOFFLOAD_STATUS_OK)
		nb_attr(o, KOFFLOAD_A_PAYLOAD, pb, (uint16_t)pl);
	nb_end(o, r);
	return 1;
}

static unsigned char in[BATCH][SLOT], out[OUT_MAX + 2 * SLOT];

static void serve_conv(void)
{
	while (!stop) {
		ssize_t n = recv(fd, in[0], SLOT, 0);
		int left = (int)n;
		struct nlmsghdr *h;

		if (n <= 0) {
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			return;
		}
		for (h = (struct nlmsghdr *)in[0]; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			struct nlbuf o = { .b = out, .cap = sizeof(out) };

			if (answer(h, &o))
				send_buf(o.b, o.len);
		}
	}
}

static void serve_batch(void)
{
	static struct mmsghdr msgs[BATCH];
	static struct iovec iov[BATCH];
	int i;

	for (i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ .iov_base = in[i], .iov_len = SLOT };
		msgs[i].msg_hdr = (struct msghdr){ .msg_iov = &iov[i], .msg_iovlen = 1 };
	}
	while (!stop) {
		struct nlbuf o = { .b = out, .cap = sizeof(out) };
		int n = recvmmsg(fd, msgs, batch, MSG_WAITFORONE, NULL);

		if (n <= 0) {
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			return;
		}
		for (i = 0; i < n; i++) {
			int left = (int)msgs[i].msg_len;
			struct nlmsghdr *h;

			for (h = (struct nlmsghdr *)in[i]; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
				answer(h, &o);
				if (o.len >= OUT_MAX) {
					send_buf(o.b, o.len);
					o.len = 0;
				}
			}
		}
		/* every reply of the batch in one datagram */
		if (o.len)
			send_buf(o.b, o.len);
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dest", 1, NULL, 'd' }, { "family", 1, NULL, 'f' }, { "subsystems", 1, NULL, 'n' },
		{ "name", 1, NULL, 'N' }, { "answer", 1, NULL, 'a' }, { "batch", 1, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct sigaction act = { .sa_handler = on_term };
	socklen_t sl = sizeof(sa);
	const char *mode = argc > 1 ? argv[1] : "", *name = NULL;
	int c, i, nsub = 1, size = 4 << 20, one = 1;

	optind = 2;
	family = BENCH_FAMILY;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dest = strtoul(optarg, NULL, 0); break;
		case 'f': family = strtoul(optarg, NULL, 0); break;
		case 'n': nsub = atoi(optarg); break;
		case 'N': name = optarg; break;
		case 'a': answer_echo = !strcmp(optarg, "echo"); break;
		case 'b': batch = atoi(optarg); break;
		default: goto usage;
		}
	}
	if ((strcmp(mode, "conv") && strcmp(mode, "batch")) || nsub < 1 || nsub > 64 ||
	    batch < 1 || batch > BATCH)
		goto usage;
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	signal(SIGPIPE, SIG_IGN);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl)) {
		perror("netlink socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (name) {
		bind_one(name, 1);
	} else {
		for (i = 0; i < nsub; i++) {
			char n[KOFFLOAD_NAME_MAX];

			snprintf(n, sizeof(n), "bench%d", i);
			bind_one(n, i + 1);
		}
	}
	printf("BOUND %u\n", sa.nl_pid);
	fflush(stdout);
	if (!strcmp(mode, "conv"))
		serve_conv();
	else
		serve_batch();
	close(fd);
	return 0;
usage:
	fprintf(stderr, "usage: responder conv|batch --dest PORT --family ID [--subsystems N | --name NAME] [--answer incr|echo] [--batch 1..64]\n");
	return 2;
}
