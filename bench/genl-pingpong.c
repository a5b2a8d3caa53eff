// SPDX-License-Identifier: GPL-2.0
/*
 * C baseline for bench/echo-rtt.ts: two NETLINK_GENERIC sockets in one
 * process, a responder thread that sends every datagram straight back and
 * a requester that measures the round trip at one in flight and the
 * throughput at K in flight. Message size matches a koffload REQUEST with
 * a 64-byte payload. Needs root (unicast between user ports).
 *
 *   genl-pingpong [rounds] [inflight] [total]
 */
#include <linux/netlink.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG_LEN 140

static int open_sock(unsigned int *port)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t len = sizeof(sa);
	int rcvbuf = 4 << 20;
	int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		perror("netlink socket");
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	*port = sa.nl_pid;
	return fd;
}

static void send_to(int fd, unsigned int port, const char *buf, size_t len)
{
	struct sockaddr_nl to = { .nl_family = AF_NETLINK, .nl_pid = port };

	if (sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		perror("sendto");
		exit(1);
	}
}

struct responder {
	int fd;
	unsigned int peer;
};

static void *respond(void *arg)
{
	struct responder *r = arg;
	char buf[4096];

	for (;;) {
		ssize_t n = recv(r->fd, buf, sizeof(buf), 0);

		if (n <= 0)
			return NULL;
		send_to(r->fd, r->peer, buf, n);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 5000;
	long inflight = argc > 2 ? atol(argv[2]) : 32;
	long total = argc > 3 ? atol(argv[3]) : 50000;
	struct responder r;
	unsigned int rport, qport;
	char msg[MSG_LEN], buf[4096];
	struct nlmsghdr *h = (struct nlmsghdr *)msg;
	pthread_t th;
	long i, sent, got;
	double t0 = 0, rtt_us, per_s;
	int q;

	memset(msg, 0x5a, sizeof(msg));
	h->nlmsg_len = MSG_LEN;
	h->nlmsg_type = 0x4b4f;
	h->nlmsg_flags = NLM_F_REQUEST;
	r.fd = open_sock(&rport);
	q = open_sock(&qport);
	r.peer = qport;
	pthread_create(&th, NULL, respond, &r);

	for (i = 0; i < 200 + rounds; i++) {
		if (i == 200)
			t0 = now_s();
		send_to(q, rport, msg, sizeof(msg));
		if (recv(q, buf, sizeof(buf), 0) <= 0)
			return 1;
	}
	rtt_us = (now_s() - t0) / rounds * 1e6;

	t0 = now_s();
	for (sent = 0; sent < inflight && sent < total; sent++)
		send_to(q, rport, msg, sizeof(msg));
	for (got = 0; got < total; got++) {
		if (recv(q, buf, sizeof(buf), 0) <= 0)
			return 1;
		if (sent < total) {
			send_to(q, rport, msg, sizeof(msg));
			sent++;
		}
	}
	per_s = total / (now_s() - t0);
	printf("c rtt_us=%.1f msg_per_s=%.0f inflight=%ld\n", rtt_us, per_s,
	       inflight);
	return 0;
}
