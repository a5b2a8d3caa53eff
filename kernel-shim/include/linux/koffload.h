/* SPDX-License-Identifier: GPL-2.0 */
/*
 * koffload: ask a userspace handler for a decision, with a deadline and a
 * safe in-kernel default.
 *
 * An in-kernel user registers a struct koffload_subsys once, then calls
 * koffload_call() where it wants a decision. Every call ends in exactly one
 * outcome (enum koffload_outcome); on any non-zero return the caller runs
 * its own default. Calls never wait past their deadline and never wait at
 * all where waiting could deadlock (atomic context, reclaim, NOFS/NOIO
 * scopes, the handler's own process); such callers may still read the
 * advisory cache with koffload_cache_lookup(), and ask the handler to
 * refresh it with koffload_advise(), which never waits either.
 */
#ifndef _LINUX_KOFFLOAD_H
#define _LINUX_KOFFLOAD_H

#include <linux/atomic.h>
#include <linux/hashtable.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <uapi/linux/koffload.h>

struct koffload_subsys_pcpu;
struct pid;
struct sock;

#define KOFFLOAD_PENDING_BITS	8

/* Defaults used when a struct koffload_subsys leaves a limit at zero. */
#define KOFFLOAD_DEFAULT_TIMEOUT_MS		100
#define KOFFLOAD_DEFAULT_MAX_INFLIGHT		64
#define KOFFLOAD_DEFAULT_CIRCUIT_THRESHOLD	5
#define KOFFLOAD_DEFAULT_CIRCUIT_COOLDOWN_MS	1000
#define KOFFLOAD_DEFAULT_CACHE_ENTRIES		256

/**
 * struct koffload_subsys - an in-kernel user of koffload
 * @ks_name: unique name a handler binds to (< KOFFLOAD_NAME_MAX bytes)
 * @ks_nr_ops: op ids 1..@ks_nr_ops are valid (< KOFFLOAD_OPS_MAX)
 * @ks_timeout_ms: default deadline of a call, from its start
 * @ks_max_inflight: calls waiting on userspace at once; more fall back
 * @ks_circuit_threshold: consecutive failures that open the circuit
 * @ks_circuit_cooldown_ms: how long an open circuit stays open
 * @ks_cache_entries: advisory cache capacity
 *
 * The caller fills the fields above (zero means the KOFFLOAD_DEFAULT_*)
 * and owns the memory. The fields below are private to koffload. While
 * the memory stays valid, calls made on an unregistered subsystem end
 * with KOFFLOAD_OUTCOME_SHUTDOWN and cache lookups miss, so a module may
 * unregister while its own threads are still calling, then stop them.
 *
 * Locking: the binding (ks_sk, ks_portid, ks_bound_tgid, ks_bind_gen)
 * changes only under koffload_registry_mutex and ks_lock both, so either
 * lock keeps it stable; the call path reads it without a lock to decide
 * its no-wait fallbacks. ks_lock is a leaf: nothing else is taken under
 * it, and completions are signalled after it is dropped.
 */
struct koffload_subsys {
	const char	*ks_name;
	u32		ks_nr_ops;
	u32		ks_timeout_ms;
	u32		ks_max_inflight;
	u32		ks_circuit_threshold;
	u32		ks_circuit_cooldown_ms;
	u32		ks_cache_entries;

	/* private */
	spinlock_t		ks_lock;
	u32			ks_id;		/* stable while registered */
	u32			ks_state;	/* enum koffload_subsys_state */
	u32			ks_unreg_seq;	/* unregisters done; never reset */
	atomic_t		ks_users;	/* calls that may wait */
	/* binding */
	u32			ks_portid;	/* 0: no handler bound */
	u32			ks_bind_gen;	/* changes with each (un)bind */
	struct sock		*ks_sk;		/* referenced while bound */
	struct pid		*ks_bound_tgid;	/* referenced while bound */
	struct wait_queue_entry	ks_exit_wait;	/* on the tgid's wait_pidfd */
	struct work_struct	ks_exit_work;	/* unbinds when it has exited */
	u32			ks_mode;	/* set by BIND and SET-MODE */
	u32			ks_canary_permille;
	u32			ks_cap_deadline_ms;
	u32			ks_cap_inflight;
	/* calls waiting for a reply, keyed by request id, under ks_lock */
	DECLARE_HASHTABLE(ks_pending, KOFFLOAD_PENDING_BITS);
	u32			ks_nr_pending;
	/* circuit breaker: read without a lock, changed under ks_lock */
	u32			ks_circuit;
	u32			ks_failures;
	atomic64_t		ks_open_until_ns;
	atomic_t		ks_probe_out;
	/* advisory cache: readers under RCU, writers under ks_cache_lock */
	spinlock_t		ks_cache_lock;
	struct hlist_head	*ks_cache;
	u32			ks_cache_bits;
	u32			ks_cache_count;
	u32			ks_cache_cursor;
	struct koffload_subsys_pcpu __percpu *ks_pcpu;
	/* lockless */
	atomic_t		ks_inflight;
	atomic64_t		ks_outcomes[KOFFLOAD_OUTCOME_MAX + 1];
	atomic64_t		ks_counters[KOFFLOAD_COUNTER_MAX + 1];
};

/* Flags of struct koffload_call::kc_flags */
#define KOFFLOAD_CALL_HAS_DEFAULT	BIT(0)	/* kc_default is set */

/**
 * struct koffload_call - one call's arguments and results
 * @kc_op: op id, 1..ks_nr_ops
 * @kc_flags: KOFFLOAD_CALL_* flags
 * @kc_timeout_ms: deadline from now; zero means the subsystem default.
 *	Either is lowered to the bound handler's deadline cap.
 * @kc_timeout_us: deadline from now in microseconds, for budgets below a
 *	millisecond or between whole milliseconds; when non-zero it is
 *	used instead of @kc_timeout_ms (same cap, same upper limit)
 * @kc_req: request payload (protobuf encoding of the op's request type)
 * @kc_req_len: its length, at most KOFFLOAD_PAYLOAD_MAX
 * @kc_default: the caller's own decision, sent for shadowing and records
 * @kc_default_len: its length, at most KOFFLOAD_PAYLOAD_MAX
 * @kc_resp: buffer for the reply payload
 * @kc_resp_size: its size; a longer reply is malformed
 * @kc_resp_len: out: length of the reply payload when served
 * @kc_outcome: out: enum koffload_outcome
 * @kc_wait_ns: out: time spent inside koffload_call()
 */
struct koffload_call {
	u32		kc_op;
	u32		kc_flags;
	u32		kc_timeout_ms;
	u32		kc_timeout_us;
	const void	*kc_req;
	u32		kc_req_len;
	const void	*kc_default;
	u32		kc_default_len;
	void		*kc_resp;
	u32		kc_resp_size;
	u32		kc_resp_len;
	u32		kc_outcome;
	u64		kc_wait_ns;
};

int koffload_register(struct koffload_subsys *ks);
void koffload_unregister(struct koffload_subsys *ks);
int koffload_call(struct koffload_subsys *ks, struct koffload_call *kc,
		  gfp_t gfp);
int koffload_cache_lookup(struct koffload_subsys *ks, const void *key,
			  u32 key_len, void *buf, u32 buf_size);
int koffload_advise(struct koffload_subsys *ks, u32 op, const void *req,
		    u32 req_len);

#endif /* _LINUX_KOFFLOAD_H */
