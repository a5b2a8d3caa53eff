/* SPDX-License-Identifier: GPL-2.0 */
/*
 * koffload's fault points and allocation counter, compiled in only when
 * the module is built with KOFFLOAD_FAULT_INJECT=y (Kbuild), for the
 * fault-injection suite on the debug kernel. Without it every hook below
 * is an empty inline and the module is the one that ships.
 *
 * With it, /sys/kernel/debug/koffload/ holds one fault_attr directory per
 * fault point (probability, interval, times, space, verbose, task-filter:
 * Documentation/fault-injection/fault-injection.rst), each off until its
 * probability is set, plus delay_wakeup_us and allocs.
 */
#ifndef _KOFFLOAD_FAULT_H
#define _KOFFLOAD_FAULT_H

#include <linux/types.h>

/**
 * enum koffload_fault - the fault points
 * @KOFFLOAD_FAULT_REQUEST_ALLOC: building a REQUEST fails (send-failure)
 * @KOFFLOAD_FAULT_UNICAST: the unicast fails with -EIO (send-failure)
 * @KOFFLOAD_FAULT_DROP_REQUEST: the REQUEST is dropped after a send that
 *	reported success (the caller meets its deadline)
 * @KOFFLOAD_FAULT_DELAY_WAKEUP: a REPLY that claimed its call waits
 *	delay_wakeup_us (busy, at most 20 ms) before completing it
 * @KOFFLOAD_FAULT_CORRUPT_STATUS: a REPLY's status becomes an unknown
 *	value past validation (handler-error)
 * @KOFFLOAD_FAULT_CORRUPT_LENGTH: a REPLY's payload length grows past the
 *	caller's buffer (malformed)
 * @KOFFLOAD_FAULT_CORRUPT_ID: a REPLY's request id gets a bit flipped (no
 *	call matches; the caller meets its deadline)
 * @KOFFLOAD_FAULT_NR: number of fault points
 */
enum koffload_fault {
	KOFFLOAD_FAULT_REQUEST_ALLOC,
	KOFFLOAD_FAULT_UNICAST,
	KOFFLOAD_FAULT_DROP_REQUEST,
	KOFFLOAD_FAULT_DELAY_WAKEUP,
	KOFFLOAD_FAULT_CORRUPT_STATUS,
	KOFFLOAD_FAULT_CORRUPT_LENGTH,
	KOFFLOAD_FAULT_CORRUPT_ID,
	KOFFLOAD_FAULT_NR,
};

/**
 * enum koffload_alloc_kind - what the allocation counter tracks
 * @KOFFLOAD_ALLOC_CACHE_ENTRY: advisory cache entries
 * @KOFFLOAD_ALLOC_CACHE_TABLE: cache bucket tables and per-CPU counters
 * @KOFFLOAD_ALLOC_STATS: GET's scratch counters
 * @KOFFLOAD_ALLOC_NR: number of kinds
 */
enum koffload_alloc_kind {
	KOFFLOAD_ALLOC_CACHE_ENTRY,
	KOFFLOAD_ALLOC_CACHE_TABLE,
	KOFFLOAD_ALLOC_STATS,
	KOFFLOAD_ALLOC_NR,
};

struct sk_buff;

/*
 * A REQUEST just built: freed, and NULL returned as if the allocation had
 * failed, when fail_request_alloc fires.
 *
 * A REPLY's request id, status and payload length, as the REPLY doit
 * passes them on: damaged when their fault point fires (a bit of the
 * sequence flipped, a status past KOFFLOAD_STATUS_MAX, a length no buffer
 * holds), as they are otherwise.
 */
#ifdef KOFFLOAD_FAULT_INJECT
struct sk_buff *koffload_fault_request(struct sk_buff *skb);
u64 koffload_fault_id(u64 id);
u32 koffload_fault_status(u32 status);
u32 koffload_fault_len(u32 len);
#else
static inline struct sk_buff *koffload_fault_request(struct sk_buff *skb)
{
	return skb;
}

static inline u64 koffload_fault_id(u64 id)
{
	return id;
}

static inline u32 koffload_fault_status(u32 status)
{
	return status;
}

static inline u32 koffload_fault_len(u32 len)
{
	return len;
}
#endif

#ifdef KOFFLOAD_FAULT_INJECT
int koffload_fault_init(void);
void koffload_fault_exit(void);
bool koffload_should_fail(enum koffload_fault f);
void koffload_fault_delay_wakeup(void);
void koffload_alloc_note(enum koffload_alloc_kind kind, int delta);

/* Counts the free of @p, if it is an allocation (not NULL). */
static inline void koffload_alloc_freed(enum koffload_alloc_kind kind,
					const void *p)
{
	if (p)
		koffload_alloc_note(kind, -1);
}
#else
static inline int koffload_fault_init(void)
{
	return 0;
}

static inline void koffload_fault_exit(void)
{
}

static inline bool koffload_should_fail(enum koffload_fault f)
{
	return false;
}

static inline void koffload_fault_delay_wakeup(void)
{
}

static inline void koffload_alloc_note(enum koffload_alloc_kind kind,
				       int delta)
{
}

static inline void koffload_alloc_freed(enum koffload_alloc_kind kind,
					const void *p)
{
}
#endif

#endif /* _KOFFLOAD_FAULT_H */
