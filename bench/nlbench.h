/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared pieces of the benchmark's C programs (loadgen.c, responder.c):
 * netlink message building on a flat buffer, attribute walking, and the
 * protobuf wire format of koffload.ktest.EchoRequest/EchoResponse
 * (field numbers from kernel-shim/include/generated/ktest_pb.h).
 */
#ifndef KOFFLOAD_NLBENCH_H
#define KOFFLOAD_NLBENCH_H

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "uapi/linux/koffload.h"
#include "generated/ktest_pb.h"

#define BENCH_FAMILY	0x4b4f	/* the simulator's koffload family id */

static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

struct nlbuf {
	unsigned char *b;
	size_t len, cap;
};

static inline void *nb_put(struct nlbuf *o, size_t n)
{
	void *p = o->b + o->len;

	memset(p, 0, NLMSG_ALIGN(n));
	o->len += NLMSG_ALIGN(n);
	return p;
}

/* Starts a genl message; nb_end() sets its length. */
static inline struct nlmsghdr *nb_begin(struct nlbuf *o, uint16_t type, uint16_t flags,
					uint32_t seq, uint32_t pid, uint8_t cmd)
{
	struct nlmsghdr *h = nb_put(o, NLMSG_HDRLEN);
	struct genlmsghdr *g = nb_put(o, GENL_HDRLEN);

	h->nlmsg_type = type;
	h->nlmsg_flags = flags;
	h->nlmsg_seq = seq;
	h->nlmsg_pid = pid;
	g->cmd = cmd;
	g->version = KOFFLOAD_FAMILY_VERSION;
	return h;
}

static inline void nb_end(struct nlbuf *o, struct nlmsghdr *h)
{
	h->nlmsg_len = (uint32_t)(o->b + o->len - (unsigned char *)h);
}

static inline void nb_attr(struct nlbuf *o, uint16_t type, const void *data, uint16_t len)
{
	struct nlattr *a = (struct nlattr *)(o->b + o->len);

	a->nla_len = NLA_HDRLEN + len;
	a->nla_type = type;
	if (len)
		memcpy(o->b + o->len + NLA_HDRLEN, data, len);
	memset(o->b + o->len + NLA_HDRLEN + len, 0, NLA_ALIGN(a->nla_len) - a->nla_len);
	o->len += NLA_ALIGN(a->nla_len);
}

static inline void nb_u32(struct nlbuf *o, uint16_t type, uint32_t v)
{
	nb_attr(o, type, &v, sizeof(v));
}

static inline void nb_u64(struct nlbuf *o, uint16_t type, uint64_t v)
{
	nb_attr(o, type, &v, sizeof(v));
}

/* The attributes of one genl message, indexed by type (up to max). */
static inline int nl_parse(const struct nlmsghdr *h, const struct nlattr **tb, int max)
{
	const unsigned char *p = (const unsigned char *)h + NLMSG_HDRLEN + GENL_HDRLEN;
	int left = (int)h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;

	memset(tb, 0, sizeof(*tb) * (max + 1));
	if (left < 0)
		return -1;
	while (left >= NLA_HDRLEN) {
		const struct nlattr *a = (const struct nlattr *)p;
		int type = a->nla_type & NLA_TYPE_MASK;

		if (a->nla_len < NLA_HDRLEN || a->nla_len > left)
			return -1;
		if (type <= max)
			tb[type] = a;
		left -= NLA_ALIGN(a->nla_len);
		p += NLA_ALIGN(a->nla_len);
	}
	return 0;
}

static inline const void *nla_data_of(const struct nlattr *a)
{
	return (const unsigned char *)a + NLA_HDRLEN;
}

static inline int nla_len_of(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

/* protobuf wire format */

static inline size_t pb_put_varint(unsigned char *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

static inline size_t pb_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Reads a varint; returns bytes used, 0 when malformed. */
static inline size_t pb_get_varint(const unsigned char *p, size_t left, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	for (i = 0; i < left && i < 10; i++) {
		x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = x;
			return i + 1;
		}
	}
	return 0;
}

/* An EchoRequest/EchoResponse: bytes data = 1; uint64 seq = 2. */
struct echo_msg {
	const unsigned char *data;
	size_t data_len;
	uint64_t seq;
};

/* Decodes an Echo message, skipping unknown fields; -1 when malformed. */
static inline int pb_echo_decode(const unsigned char *p, size_t len, struct echo_msg *m)
{
	size_t off = 0;

	m->data = p;
	m->data_len = 0;
	m->seq = 0;
	while (off < len) {
		uint64_t key, v;
		size_t n = pb_get_varint(p + off, len - off, &key);

		if (!n)
			return -1;
		off += n;
		switch (key & 7) {
		case 0:
			n = pb_get_varint(p + off, len - off, &v);
			if (!n)
				return -1;
			off += n;
			if (key >> 3 == KTEST_ECHO_REQUEST_SEQ_FIELD)
				m->seq = v;
			break;
		case 2:
			n = pb_get_varint(p + off, len - off, &v);
			if (!n || v > len - off - n)
				return -1;
			off += n;
			if (key >> 3 == KTEST_ECHO_REQUEST_DATA_FIELD) {
				m->data = p + off;
				m->data_len = v;
			}
			off += v;
			break;
		case 1:
			if (len - off < 8)
				return -1;
			off += 8;
			break;
		case 5:
			if (len - off < 4)
				return -1;
			off += 4;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

/* Encodes an Echo message (data, then seq, as protobufjs orders them); returns its length. */
static inline size_t pb_echo_encode(unsigned char *p, const unsigned char *data, size_t data_len,
				    uint64_t seq)
{
	size_t n = 0;

	p[n++] = KTEST_ECHO_REQUEST_DATA_FIELD << 3 | 2;
	n += pb_put_varint(p + n, data_len);
	memcpy(p + n, data, data_len);
	n += data_len;
	p[n++] = KTEST_ECHO_REQUEST_SEQ_FIELD << 3 | 0;
	n += pb_put_varint(p + n, seq);
	return n;
}

static inline size_t pb_echo_len(size_t data_len, uint64_t seq)
{
	return 1 + pb_varint_len(data_len) + data_len + 1 + pb_varint_len(seq);
}

#endif /* KOFFLOAD_NLBENCH_H */
