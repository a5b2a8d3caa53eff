/* SPDX-License-Identifier: GPL-2.0 */
/*
 * koffload internals shared by the registry, the call path, the netlink
 * family and the advisory cache. Nothing here is exported.
 */
#ifndef _KOFFLOAD_INTERNAL_H
#define _KOFFLOAD_INTERNAL_H

#include <linux/completion.h>
#include <linux/hrtimer.h>
#include <linux/koffload.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/xarray.h>
#include <net/genetlink.h>

#include "koffload_fault.h"

/*
 * A request id carries the subsystem id in its top bits, so a REPLY finds
 * its subsystem without a global table, and a per-subsystem sequence below
 * that never wraps in practice: ids are never reused while pending.
 */
#define KOFFLOAD_REQ_ID_SHIFT	48
#define KOFFLOAD_REQ_SEQ_MASK	(BIT_ULL(KOFFLOAD_REQ_ID_SHIFT) - 1)
#define KOFFLOAD_SUBSYS_ID_MAX	0xffff

/**
 * enum koffload_subsys_state - where a subsystem is in its life
 * @KOFFLOAD_KS_UNREGISTERED: not registered (or never was): calls end
 *	with KOFFLOAD_OUTCOME_SHUTDOWN
 * @KOFFLOAD_KS_LIVE: registered
 * @KOFFLOAD_KS_DRAINING: koffload_unregister() is ending pending calls
 *	and waiting for callers to leave
 */
enum koffload_subsys_state {
	KOFFLOAD_KS_UNREGISTERED,
	KOFFLOAD_KS_LIVE,
	KOFFLOAD_KS_DRAINING,
};

/**
 * struct koffload_subsys_pcpu - per-CPU counters of the lookup fast path
 * @kpc_cache_hits: advisory cache lookups that found a live entry
 * @kpc_cache_misses: advisory cache lookups that found none
 */
struct koffload_subsys_pcpu {
	u64	kpc_cache_hits;
	u64	kpc_cache_misses;
};

/**
 * struct koffload_pending - one call waiting for its reply
 * @kp_node: in ks_pending while nobody has claimed the call
 * @kp_ks: the subsystem, for the deadline timer
 * @kp_id: request id
 * @kp_deadline_ns: CLOCK_MONOTONIC time the caller stops waiting
 * @kp_timer: fires at @kp_deadline_ns and ends the call as a deadline
 * @kp_claimed: set under ks_lock by the one who ends the call
 * @kp_done: completed exactly once, by whoever claimed the call, after
 *	it dropped ks_lock
 * @kp_outcome: set by the claimer before @kp_done completes
 * @kp_resp: the caller's reply buffer
 * @kp_resp_size: its size
 * @kp_resp_len: bytes written to @kp_resp when served
 *
 * Lives on the caller's stack. Claiming is setting @kp_claimed (and taking
 * @kp_node out of the hashtable) under ks_lock; the claimer then owns the
 * entry: it fills the results and completes @kp_done after unlocking. The
 * caller returns only after @kp_done completed and @kp_timer was
 * cancelled, so the entry never outlives its frame.
 */
struct koffload_pending {
	struct hlist_node	kp_node;
	struct koffload_subsys	*kp_ks;
	u64			kp_id;
	u64			kp_deadline_ns;
	struct hrtimer		kp_timer;
	bool			kp_claimed;
	struct completion	kp_done;
	u32			kp_outcome;
	void			*kp_resp;
	u32			kp_resp_size;
	u32			kp_resp_len;
};

/**
 * struct koffload_unbound - what an unbind left for after ks_lock
 * @ku_sk: the handler's socket, whose reference is dropped
 * @ku_tgid: the binding process, whose reference is dropped
 * @ku_claimed: pending calls claimed by the unbind, to complete
 * @ku_outcome: what they end with
 */
struct koffload_unbound {
	struct sock		*ku_sk;
	struct pid		*ku_tgid;
	struct hlist_head	ku_claimed;
	u32			ku_outcome;
};

/*
 * Test builds (KOFFLOAD_FAULT_INJECT) let koffload_kunit.ko reach a few
 * internals of the call path; the module that ships keeps them static and
 * exports none of them.
 */
#ifdef KOFFLOAD_FAULT_INJECT
/* KOFFLOAD_EXPORT_FOR_TEST(sym) exports to KOFFLOAD_INTERNAL, see Kbuild */
#define KOFFLOAD_STATIC_UNLESS_TEST
bool koffload_claim(struct koffload_subsys *ks, struct koffload_pending *kp);
enum hrtimer_restart koffload_deadline_fired(struct hrtimer *timer);
bool koffload_circuit_admit(struct koffload_subsys *ks, bool *probe);
void koffload_circuit_record(struct koffload_subsys *ks, u32 outcome,
			     bool probe);
#else
#define KOFFLOAD_STATIC_UNLESS_TEST	static
#define KOFFLOAD_EXPORT_FOR_TEST(sym)
#endif

extern struct xarray koffload_subsystems;
extern wait_queue_head_t koffload_drain_wq;
extern struct mutex koffload_registry_mutex;
extern struct genl_family koffload_family;

/* koffload_main.c */
struct koffload_subsys *koffload_find_by_name(const char *name);

/* koffload_call.c */
int koffload_complete_reply(u64 id, const struct sock *sk, u32 status,
			    const void *payload, u32 len);
void koffload_init_binding(struct koffload_subsys *ks);
void koffload_bind(struct koffload_subsys *ks, struct sock *sk, u32 portid);
bool koffload_unbind(struct koffload_subsys *ks, u32 outcome);
bool koffload_bound_to(struct koffload_subsys *ks, const struct sock *sk);
bool koffload_binding_dead(struct koffload_subsys *ks);
u32 koffload_effective_timeout_ms(const struct koffload_subsys *ks,
				  u32 timeout_ms);
u32 koffload_effective_inflight(const struct koffload_subsys *ks);

/* koffload_netlink.c */
int koffload_nl_init(void);
void koffload_nl_exit(void);
struct sk_buff *koffload_nl_request(const struct koffload_subsys *ks,
				    const struct koffload_call *kc, u64 id,
				    u64 deadline_ns, u32 flags, gfp_t gfp);

/* koffload_cache.c */
int koffload_cache_init(struct koffload_subsys *ks);
struct koffload_cache_entry;
struct koffload_cache_entry *koffload_cache_entry_new(const void *key,
						      u32 key_len,
						      const void *data,
						      u32 len, u32 ttl_ms);
void koffload_cache_entry_free(struct koffload_cache_entry *e);
int koffload_cache_publish(struct koffload_subsys *ks, const void *key,
			   u32 key_len, struct koffload_cache_entry *e,
			   u32 gen);
void koffload_cache_flush(struct koffload_subsys *ks);
void koffload_cache_destroy(struct koffload_subsys *ks);
u64 koffload_cache_hits(const struct koffload_subsys *ks);
u64 koffload_cache_misses(const struct koffload_subsys *ks);

/* The subsystem's state, read without a lock. */
static inline u32 koffload_state(const struct koffload_subsys *ks)
{
	/* pairs with the release in koffload_register(): LIVE implies set up */
	return smp_load_acquire(&ks->ks_state);
}

static inline void koffload_count(struct koffload_subsys *ks, u32 counter)
{
	atomic64_inc(&ks->ks_counters[counter]);
}

#endif /* _KOFFLOAD_INTERNAL_H */
