/* SPDX-License-Identifier: GPL-2.0 */
/*
 * koffload internals shared by the registry, the call path, the netlink
 * family and the advisory cache. Nothing here is exported.
 */
#ifndef _KOFFLOAD_INTERNAL_H
#define _KOFFLOAD_INTERNAL_H

#include <linux/completion.h>
#include <linux/koffload.h>
#include <linux/mutex.h>
#include <linux/xarray.h>
#include <net/genetlink.h>

/*
 * A request id carries the subsystem id in its top bits, so a REPLY finds
 * its subsystem without a global table, and a per-subsystem sequence below
 * that never wraps in practice: ids are never reused while pending.
 */
#define KOFFLOAD_REQ_ID_SHIFT	48
#define KOFFLOAD_REQ_SEQ_MASK	(BIT_ULL(KOFFLOAD_REQ_ID_SHIFT) - 1)
#define KOFFLOAD_SUBSYS_ID_MAX	0xffff

/**
 * struct koffload_pending - one call waiting for its reply
 * @kp_node: in ks_pending while nobody has claimed the call
 * @kp_id: request id
 * @kp_deadline_ns: CLOCK_MONOTONIC time the caller stops waiting
 * @kp_claimed: set under ks_lock by the one who ends the call
 * @kp_done: completed exactly once, by whoever claimed the call
 * @kp_outcome: set by the claimer before @kp_done completes
 * @kp_resp: the caller's reply buffer
 * @kp_resp_size: its size
 * @kp_resp_len: bytes written to @kp_resp when served
 *
 * Lives on the caller's stack. Claiming is setting @kp_claimed (and taking
 * @kp_node out of the hashtable) under ks_lock; a claimer other than the
 * caller fills the results and completes @kp_done before it drops the
 * lock, and a caller that lost the claim waits for that completion before
 * it returns, so the entry never outlives its frame.
 */
struct koffload_pending {
	struct hlist_node	kp_node;
	u64			kp_id;
	u64			kp_deadline_ns;
	bool			kp_claimed;
	struct completion	kp_done;
	u32			kp_outcome;
	void			*kp_resp;
	u32			kp_resp_size;
	u32			kp_resp_len;
};

extern struct xarray koffload_subsystems;
extern struct mutex koffload_registry_mutex;
extern struct genl_family koffload_family;

/* koffload_main.c */
struct koffload_subsys *koffload_find_by_name(const char *name);

/* koffload_call.c */
int koffload_complete_reply(u64 id, u32 portid, u32 status,
			    const void *payload, u32 len);
void koffload_bind_locked(struct koffload_subsys *ks, struct sock *sk,
			  u32 portid);
struct sock *koffload_unbind_locked(struct koffload_subsys *ks, u32 outcome);
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
int koffload_cache_publish(struct koffload_subsys *ks, const void *key,
			   u32 key_len, const void *data, u32 len, u32 ttl_ms);
void koffload_cache_flush(struct koffload_subsys *ks);

static inline void koffload_count(struct koffload_subsys *ks, u32 counter)
{
	atomic64_inc(&ks->ks_counters[counter]);
}

#endif /* _KOFFLOAD_INTERNAL_H */
