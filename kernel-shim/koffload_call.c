// SPDX-License-Identifier: GPL-2.0
/*
 * koffload: the call path. Admission (mode, context, circuit, in-flight
 * cap), the pending table, the wait with deadline, and completion by
 * reply, timeout, release or shutdown, exactly one of which wins.
 */

#include <linux/completion.h>
#include <linux/gfp.h>
#include <linux/jiffies.h>
#include <linux/pid.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/string.h>
#include <net/sock.h>

#include "koffload_internal.h"

/*
 * Request ids are never reused while the module is loaded, across
 * re-registrations too: a REPLY meant for an earlier incarnation of a
 * subsystem id finds nothing.
 */
static atomic64_t koffload_req_seq = ATOMIC64_INIT(0);

/*
 * REQUEST messages are allocated without direct reclaim and without the
 * emergency reserves: a caller under memory pressure falls back
 * (send-failure) instead of stalling in reclaim past its deadline, and a
 * sender in reclaim (koffload_advise()) never eats the reserves.
 */
#define KOFFLOAD_REQ_GFP	(GFP_NOWAIT | __GFP_NOWARN | __GFP_NOMEMALLOC)

/* What admission decided; filled under ks_lock, used without it. */
struct koffload_admit {
	struct sock	*ka_sk;		/* referenced while set */
	u32		ka_portid;
	u32		ka_gen;
	u32		ka_mode;
	u32		ka_timeout_ms;
	u32		ka_inflight_cap;
	bool		ka_own_process;
	bool		ka_probe;
};

static const int koffload_outcome_errno[KOFFLOAD_OUTCOME_MAX + 1] = {
	[KOFFLOAD_OUTCOME_SERVED]	 = 0,
	[KOFFLOAD_OUTCOME_DECLINED]	 = -ENODATA,
	[KOFFLOAD_OUTCOME_NO_HANDLER]	 = -ESRCH,
	[KOFFLOAD_OUTCOME_DEADLINE]	 = -ETIMEDOUT,
	[KOFFLOAD_OUTCOME_ATOMIC]	 = -EWOULDBLOCK,
	[KOFFLOAD_OUTCOME_RECLAIM]	 = -EWOULDBLOCK,
	[KOFFLOAD_OUTCOME_RECURSION]	 = -EDEADLK,
	[KOFFLOAD_OUTCOME_OVERLOAD]	 = -EBUSY,
	[KOFFLOAD_OUTCOME_SEND_FAILURE]	 = -ECOMM,
	[KOFFLOAD_OUTCOME_HANDLER_ERROR] = -EREMOTEIO,
	[KOFFLOAD_OUTCOME_MALFORMED]	 = -EBADMSG,
	[KOFFLOAD_OUTCOME_HANDLER_DIED]	 = -EPIPE,
	[KOFFLOAD_OUTCOME_CIRCUIT_OPEN]	 = -EHOSTDOWN,
	[KOFFLOAD_OUTCOME_SHUTDOWN]	 = -ESHUTDOWN,
	[KOFFLOAD_OUTCOME_SIGNAL]	 = -EINTR,
	[KOFFLOAD_OUTCOME_DISABLED]	 = -EOPNOTSUPP,
	[KOFFLOAD_OUTCOME_SHADOW]	 = -EOPNOTSUPP,
	[KOFFLOAD_OUTCOME_CANARY_SKIP]	 = -EOPNOTSUPP,
	[KOFFLOAD_OUTCOME_INVALID]	 = -EINVAL,
};

/* Outcomes that count against the handler for the circuit breaker. */
static bool koffload_is_failure(u32 outcome)
{
	return outcome == KOFFLOAD_OUTCOME_DEADLINE ||
	       outcome == KOFFLOAD_OUTCOME_HANDLER_ERROR ||
	       outcome == KOFFLOAD_OUTCOME_MALFORMED;
}

static bool koffload_is_success(u32 outcome)
{
	return outcome == KOFFLOAD_OUTCOME_SERVED ||
	       outcome == KOFFLOAD_OUTCOME_DECLINED;
}

/**
 * koffload_effective_timeout_ms - a call's deadline after the handler's cap
 * @ks: the subsystem
 * @timeout_ms: the caller's timeout, or 0 for the subsystem default
 *
 * Return: @timeout_ms (or the subsystem's default timeout), lowered to the
 * bound handler's deadline cap when it asked for one.
 */
u32 koffload_effective_timeout_ms(const struct koffload_subsys *ks,
				  u32 timeout_ms)
{
	u32 cap = READ_ONCE(ks->ks_cap_deadline_ms);

	if (!timeout_ms)
		timeout_ms = ks->ks_timeout_ms;
	return cap ? min(cap, timeout_ms) : timeout_ms;
}

/**
 * koffload_effective_inflight - in-flight cap after the handler's own cap
 * @ks: the subsystem
 *
 * Return: the lower of the subsystem's and the handler's in-flight caps.
 */
u32 koffload_effective_inflight(const struct koffload_subsys *ks)
{
	u32 cap = READ_ONCE(ks->ks_cap_inflight);

	return cap ? min(cap, ks->ks_max_inflight) : ks->ks_max_inflight;
}

/*
 * Rule 1: no wait in atomic context, with IRQs off, inside an RCU read
 * side, or with a gfp that cannot block. The gfp is the caller's word;
 * preempt_count() also catches a caller that holds a spinlock but passed
 * a blocking gfp, where the kernel counts it (CONFIG_PREEMPT_COUNT, as in
 * Debian's kernels).
 */
static bool koffload_ctx_atomic(gfp_t gfp)
{
	if (!gfpflags_allow_blocking(gfp) || irqs_disabled() ||
	    rcu_preempt_depth())
		return true;
	return IS_ENABLED(CONFIG_PREEMPT_COUNT) && preempt_count();
}

/* In reclaim: PF_MEMALLOC or kswapd. Not even a shadow send from here. */
static bool koffload_ctx_in_reclaim(void)
{
	return current->flags & (PF_MEMALLOC | PF_KSWAPD);
}

/*
 * Rule 2: no wait under memory pressure. Reclaim and NOFS/NOIO scopes,
 * or a NOFS/NOIO gfp, mean the caller may hold what the handler needs to
 * make progress.
 */
static bool koffload_ctx_reclaim(gfp_t gfp)
{
	const gfp_t fs_io = __GFP_FS | __GFP_IO;

	if (koffload_ctx_in_reclaim())
		return true;
	return (current_gfp_context(gfp) & fs_io) != fs_io;
}

/* Circuit breaker admission, ks_lock held. */
static u32 koffload_circuit_admit(struct koffload_subsys *ks, bool *probe)
{
	switch (ks->ks_circuit) {
	case KOFFLOAD_CIRCUIT_OPEN:
		if (ktime_before(ktime_get(), ks->ks_open_until))
			return KOFFLOAD_OUTCOME_CIRCUIT_OPEN;
		ks->ks_circuit = KOFFLOAD_CIRCUIT_HALF_OPEN;
		fallthrough;
	case KOFFLOAD_CIRCUIT_HALF_OPEN:
		if (ks->ks_probe_out)
			return KOFFLOAD_OUTCOME_CIRCUIT_OPEN;
		ks->ks_probe_out = true;
		*probe = true;
		break;
	}
	return KOFFLOAD_OUTCOME_SERVED;
}

static void koffload_circuit_open_locked(struct koffload_subsys *ks)
{
	ks->ks_circuit = KOFFLOAD_CIRCUIT_OPEN;
	ks->ks_open_until = ktime_add_ms(ktime_get(),
					 ks->ks_circuit_cooldown_ms);
	koffload_count(ks, KOFFLOAD_COUNTER_CIRCUIT_OPENS);
}

/* Rule 7: feed one call's outcome to the circuit breaker, ks_lock held. */
static void koffload_circuit_record(struct koffload_subsys *ks, u32 outcome,
				    bool probe)
{
	if (probe) {
		ks->ks_probe_out = false;
		if (koffload_is_success(outcome)) {
			ks->ks_circuit = KOFFLOAD_CIRCUIT_CLOSED;
			ks->ks_failures = 0;
		} else if (koffload_is_failure(outcome)) {
			koffload_circuit_open_locked(ks);
		}
		/* anything else proves nothing: the next call probes */
		return;
	}
	if (koffload_is_success(outcome)) {
		ks->ks_failures = 0;
	} else if (koffload_is_failure(outcome) &&
		   ks->ks_circuit == KOFFLOAD_CIRCUIT_CLOSED &&
		   ++ks->ks_failures >= ks->ks_circuit_threshold) {
		koffload_circuit_open_locked(ks);
	}
}

/*
 * Decide, under ks_lock, whether this call may go to userspace. Returns
 * KOFFLOAD_OUTCOME_SERVED to go on, or the fallback outcome. Counts the
 * caller as a user of @ks on success, which koffload_leave() undoes.
 */
static u32 koffload_admit(struct koffload_subsys *ks, gfp_t gfp,
			  u32 timeout_ms, struct koffload_admit *ka)
{
	/* judge the caller's context before ks_lock turns IRQs off */
	bool atomic = koffload_ctx_atomic(gfp);
	bool reclaim = !atomic && koffload_ctx_reclaim(gfp);
	bool in_reclaim = koffload_ctx_in_reclaim();
	unsigned long flags;
	u32 outcome;

	spin_lock_irqsave(&ks->ks_lock, flags);
	if (!ks->ks_registered || ks->ks_shutting) {
		spin_unlock_irqrestore(&ks->ks_lock, flags);
		return KOFFLOAD_OUTCOME_SHUTDOWN;
	}
	ks->ks_users++;
	ka->ka_sk = NULL;
	ka->ka_portid = ks->ks_portid;
	ka->ka_gen = ks->ks_bind_gen;
	ka->ka_mode = ks->ks_mode;
	ka->ka_timeout_ms = koffload_effective_timeout_ms(ks, timeout_ms);
	ka->ka_inflight_cap = koffload_effective_inflight(ks);
	ka->ka_own_process = ks->ks_bound_tgid &&
			     ks->ks_bound_tgid == task_tgid(current);
	ka->ka_probe = false;

	outcome = KOFFLOAD_OUTCOME_SERVED;
	if (!ka->ka_portid)
		outcome = KOFFLOAD_OUTCOME_NO_HANDLER;
	else if (ka->ka_mode == KOFFLOAD_MODE_OFF)
		outcome = KOFFLOAD_OUTCOME_DISABLED;
	else if (ka->ka_mode == KOFFLOAD_MODE_SHADOW)
		outcome = in_reclaim ? KOFFLOAD_OUTCOME_RECLAIM :
				       KOFFLOAD_OUTCOME_SERVED;
	else if (ka->ka_mode == KOFFLOAD_MODE_CANARY &&
		 get_random_u32_below(KOFFLOAD_PERMILLE) >=
		 ks->ks_canary_permille)
		outcome = KOFFLOAD_OUTCOME_CANARY_SKIP;
	else if (atomic)
		outcome = KOFFLOAD_OUTCOME_ATOMIC;
	else if (reclaim)
		outcome = KOFFLOAD_OUTCOME_RECLAIM;
	else if (ka->ka_own_process)
		outcome = KOFFLOAD_OUTCOME_RECURSION;
	else if (fatal_signal_pending(current))
		outcome = KOFFLOAD_OUTCOME_SIGNAL;
	else
		outcome = koffload_circuit_admit(ks, &ka->ka_probe);

	/* the bound socket, to check it is still alive right before a send */
	if (outcome == KOFFLOAD_OUTCOME_SERVED) {
		ka->ka_sk = ks->ks_sk;
		sock_hold(ka->ka_sk);
	}
	spin_unlock_irqrestore(&ks->ks_lock, flags);
	return outcome;
}

/*
 * Record the outcome and stop being a user of @ks. The last user wakes
 * koffload_unregister() inside ks_lock; after the unlock @ks may be gone.
 */
static void koffload_leave_locked(struct koffload_subsys *ks)
{
	if (!--ks->ks_users && ks->ks_shutting)
		wake_up(&ks->ks_drain_wq);
}

static void koffload_leave(struct koffload_subsys *ks, u32 outcome,
			   const struct koffload_admit *ka)
{
	unsigned long flags;

	if (ka->ka_sk)
		sock_put(ka->ka_sk);
	atomic64_inc(&ks->ks_outcomes[outcome]);
	spin_lock_irqsave(&ks->ks_lock, flags);
	/* an outcome of an earlier binding says nothing of this one */
	if (ka->ka_mode != KOFFLOAD_MODE_SHADOW && ka->ka_gen == ks->ks_bind_gen)
		koffload_circuit_record(ks, outcome, ka->ka_probe);
	koffload_leave_locked(ks);
	spin_unlock_irqrestore(&ks->ks_lock, flags);
}

/* Leave without an outcome: koffload_advise() is not a call. */
static void koffload_leave_quietly(struct koffload_subsys *ks,
				   const struct koffload_admit *ka)
{
	unsigned long flags;

	sock_put(ka->ka_sk);
	spin_lock_irqsave(&ks->ks_lock, flags);
	koffload_leave_locked(ks);
	spin_unlock_irqrestore(&ks->ks_lock, flags);
}

/* Rule 9: whoever sets kp_claimed under ks_lock owns the completion. */
static bool koffload_claim(struct koffload_subsys *ks,
			   struct koffload_pending *kp)
{
	unsigned long flags;
	bool won = false;

	spin_lock_irqsave(&ks->ks_lock, flags);
	if (!kp->kp_claimed) {
		kp->kp_claimed = true;
		hash_del(&kp->kp_node);
		ks->ks_nr_pending--;
		won = true;
	}
	spin_unlock_irqrestore(&ks->ks_lock, flags);
	return won;
}

/*
 * End a call we could not claim. Every claimer completes the call before
 * it drops ks_lock, so this never actually sleeps; it orders our reads
 * of the results after the claimer's writes.
 */
static u32 koffload_lost_claim(struct koffload_pending *kp,
			       struct koffload_call *kc)
{
	wait_for_completion(&kp->kp_done);
	kc->kc_resp_len = kp->kp_resp_len;
	return kp->kp_outcome;
}

/*
 * Rule 4: wait for the completion until the deadline, killably. Timer
 * wheel timeouts up to 63 jiffies fire on the jiffy; longer ones may be
 * rounded up by an eighth, so wait in steps no longer than that and the
 * wait never outlasts the deadline (it may end under a jiffy early).
 *
 * Return: > 0 when completed, 0 at the deadline, < 0 on a fatal signal.
 */
static long koffload_wait(struct koffload_pending *kp)
{
	for (;;) {
		s64 left_ns = kp->kp_deadline_ns - ktime_get_ns();
		unsigned long left;
		long ret;

		if (left_ns <= 0)
			return 0;
		left = min_t(unsigned long, nsecs_to_jiffies(left_ns), 63);
		if (!left)
			return 0;
		ret = wait_for_completion_killable_timeout(&kp->kp_done, left);
		if (ret)
			return ret;
	}
}

/*
 * Right before a send: a handler socket that is closing is already
 * orphaned (SOCK_DEAD) before its port id is free for another socket to
 * take, so this leaves only the instant between the two for a request to
 * reach a newcomer on the same port. The release notifier unbinds soon
 * after.
 */
static int koffload_unicast(struct sk_buff *skb,
			    const struct koffload_admit *ka)
{
	if (sock_flag(ka->ka_sk, SOCK_DEAD)) {
		kfree_skb(skb);
		return -ECONNREFUSED;
	}
	return genlmsg_unicast(&init_net, skb, ka->ka_portid);
}

static u32 koffload_send_errno_outcome(int err)
{
	switch (err) {
	case -EAGAIN:
	case -ENOBUFS:
		return KOFFLOAD_OUTCOME_OVERLOAD;	/* rule 5 */
	case -ECONNREFUSED:
		return KOFFLOAD_OUTCOME_HANDLER_DIED;
	default:
		return KOFFLOAD_OUTCOME_SEND_FAILURE;
	}
}

/* Mode shadow: send, do not wait, keep the default. */
static u32 koffload_shadow(struct koffload_subsys *ks,
			   const struct koffload_call *kc,
			   const struct koffload_admit *ka)
{
	struct sk_buff *skb;
	u64 deadline_ns;
	int err;

	deadline_ns = ktime_get_ns() + (u64)ka->ka_timeout_ms * NSEC_PER_MSEC;
	/* id 0: nobody waits, so no reply can be matched */
	skb = koffload_nl_request(ks, kc, 0, deadline_ns,
				  KOFFLOAD_REQ_FLAG_SHADOW, KOFFLOAD_REQ_GFP);
	if (!skb)
		return KOFFLOAD_OUTCOME_SEND_FAILURE;
	err = koffload_unicast(skb, ka);
	if (err)
		return koffload_send_errno_outcome(err);
	koffload_count(ks, KOFFLOAD_COUNTER_REQUESTS_SENT);
	return KOFFLOAD_OUTCOME_SHADOW;
}

/* Register @kp, send the REQUEST and wait for one completion (rule 4). */
static u32 koffload_upcall(struct koffload_subsys *ks,
			   struct koffload_call *kc,
			   const struct koffload_admit *ka)
{
	struct koffload_pending kp = {
		.kp_resp	= kc->kc_resp,
		.kp_resp_size	= kc->kc_resp ? kc->kc_resp_size : 0,
	};
	unsigned long flags;
	struct sk_buff *skb;
	long left;
	int err;

	kp.kp_deadline_ns = ktime_get_ns() +
			    (u64)ka->ka_timeout_ms * NSEC_PER_MSEC;
	init_completion(&kp.kp_done);
	INIT_HLIST_NODE(&kp.kp_node);
	kp.kp_id = ((u64)ks->ks_id << KOFFLOAD_REQ_ID_SHIFT) |
		   (atomic64_inc_return(&koffload_req_seq) &
		    KOFFLOAD_REQ_SEQ_MASK);

	skb = koffload_nl_request(ks, kc, kp.kp_id, kp.kp_deadline_ns,
				  kc->kc_flags & KOFFLOAD_CALL_HAS_DEFAULT ?
				  KOFFLOAD_REQ_FLAG_HAS_DEFAULT : 0,
				  KOFFLOAD_REQ_GFP);
	if (!skb)
		return KOFFLOAD_OUTCOME_SEND_FAILURE;

	/*
	 * Insert before sending: the reply may come back before
	 * genlmsg_unicast() returns. A release, unbind or unregister that ran
	 * since admission changed ks_bind_gen or set ks_shutting; its sweep
	 * is over, so refuse here rather than wait for a handler that is gone.
	 */
	spin_lock_irqsave(&ks->ks_lock, flags);
	if (ks->ks_shutting || ks->ks_bind_gen != ka->ka_gen) {
		u32 outcome = ks->ks_shutting ? KOFFLOAD_OUTCOME_SHUTDOWN :
						KOFFLOAD_OUTCOME_HANDLER_DIED;

		spin_unlock_irqrestore(&ks->ks_lock, flags);
		kfree_skb(skb);
		return outcome;
	}
	hash_add(ks->ks_pending, &kp.kp_node, kp.kp_id);
	ks->ks_nr_pending++;
	spin_unlock_irqrestore(&ks->ks_lock, flags);

	err = koffload_unicast(skb, ka);
	if (err) {
		if (!koffload_claim(ks, &kp))
			return koffload_lost_claim(&kp, kc);
		return koffload_send_errno_outcome(err);
	}
	koffload_count(ks, KOFFLOAD_COUNTER_REQUESTS_SENT);

	left = koffload_wait(&kp);
	if (left > 0) {
		/* the wait consumed the completion: do not wait for it again */
		kc->kc_resp_len = kp.kp_resp_len;
		return kp.kp_outcome;
	}
	if (!koffload_claim(ks, &kp))
		return koffload_lost_claim(&kp, kc);
	return left ? KOFFLOAD_OUTCOME_SIGNAL : KOFFLOAD_OUTCOME_DEADLINE;
}

/**
 * koffload_call - ask the bound handler for a decision
 * @ks: a registered subsystem
 * @kc: the op, request and reply buffer; results are written back to it
 * @gfp: what the caller may do to allocate: GFP_KERNEL where it may sleep,
 *	GFP_ATOMIC (or any non-blocking gfp) where it may not, GFP_NOFS or
 *	GFP_NOIO inside filesystem or block I/O paths
 *
 * Sends a REQUEST to the handler bound to @ks and waits for its REPLY,
 * at most until the call's deadline (kc_timeout_ms, capped by the
 * subsystem's and the handler's limits). Never waits in atomic context,
 * in reclaim or a NOFS/NOIO scope or gfp, in the handler's own process,
 * or past the in-flight cap; a fatal signal ends the wait. Exactly one
 * outcome is written to kc_outcome and counted on @ks; kc_wait_ns is
 * how long the call took. On any non-zero return the caller uses its own
 * default and must not read kc_resp.
 *
 * Return:
 *   %0: served; kc_resp holds kc_resp_len bytes of the handler's reply
 *   %-ENODATA: the handler declined
 *   %-ESRCH: no handler is bound
 *   %-ETIMEDOUT: the deadline passed
 *   %-EWOULDBLOCK: the context may not wait (atomic, reclaim, NOFS/NOIO)
 *   %-EDEADLK: the caller is the bound handler's own process
 *   %-EBUSY: in-flight cap reached or the handler's socket buffer is full
 *   %-ECOMM: the request could not be built or sent
 *   %-EREMOTEIO: the handler reported an error
 *   %-EBADMSG: the reply did not fit in kc_resp
 *   %-EPIPE: the handler died or unbound during the call
 *   %-EHOSTDOWN: the circuit is open after repeated failures
 *   %-ESHUTDOWN: @ks is being unregistered
 *   %-EINTR: the caller got a fatal signal
 *   %-EOPNOTSUPP: mode off, shadow (request sent, not awaited) or an
 *	unsampled canary call
 *   %-EINVAL: bad op or payload sizes
 */
int koffload_call(struct koffload_subsys *ks, struct koffload_call *kc,
		  gfp_t gfp)
{
	struct koffload_admit ka = { .ka_mode = KOFFLOAD_MODE_OFF };
	u64 start = ktime_get_ns();
	u32 outcome;

	kc->kc_resp_len = 0;
	if (!kc->kc_op || kc->kc_op > ks->ks_nr_ops ||
	    kc->kc_req_len > KOFFLOAD_PAYLOAD_MAX || (kc->kc_req_len && !kc->kc_req) ||
	    kc->kc_timeout_ms > KOFFLOAD_DEADLINE_MAX_MS ||
	    ((kc->kc_flags & KOFFLOAD_CALL_HAS_DEFAULT) &&
	     (kc->kc_default_len > KOFFLOAD_PAYLOAD_MAX ||
	      (kc->kc_default_len && !kc->kc_default)))) {
		outcome = KOFFLOAD_OUTCOME_INVALID;
		atomic64_inc(&ks->ks_outcomes[outcome]);
		goto out;
	}

	outcome = koffload_admit(ks, gfp, kc->kc_timeout_ms, &ka);
	if (outcome == KOFFLOAD_OUTCOME_SHUTDOWN) {
		/* not a user, but @ks is the caller's memory: count it */
		atomic64_inc(&ks->ks_outcomes[outcome]);
		goto out;
	}
	if (outcome != KOFFLOAD_OUTCOME_SERVED)
		goto out_leave;

	if (ka.ka_mode == KOFFLOAD_MODE_SHADOW) {
		outcome = koffload_shadow(ks, kc, &ka);
		goto out_leave;
	}

	/* Rule 5: never queue; past the cap, fall back at once. */
	if (atomic_inc_return(&ks->ks_inflight) > ka.ka_inflight_cap) {
		outcome = KOFFLOAD_OUTCOME_OVERLOAD;
	} else {
		outcome = koffload_upcall(ks, kc, &ka);
		if (outcome != KOFFLOAD_OUTCOME_SERVED)
			kc->kc_resp_len = 0;
	}
	atomic_dec(&ks->ks_inflight);
out_leave:
	koffload_leave(ks, outcome, &ka);
out:
	kc->kc_outcome = outcome;
	kc->kc_wait_ns = ktime_get_ns() - start;
	return koffload_outcome_errno[outcome];
}
EXPORT_SYMBOL_GPL(koffload_call);

/**
 * koffload_advise - ask the handler to refresh its advice, without waiting
 * @ks: a registered subsystem
 * @op: op id, 1..ks_nr_ops
 * @req: request payload (protobuf encoding of the op's request type)
 * @req_len: its length, at most KOFFLOAD_PAYLOAD_MAX
 *
 * Sends a REQUEST flagged KOFFLOAD_REQ_FLAG_ADVISORY with request id 0.
 * The handler answers, if at all, by PUBLISHing into the advisory cache,
 * which callers read with koffload_cache_lookup(). Never waits, never
 * enters reclaim nor uses the memory reserves, so it is usable where
 * koffload_call() may not wait: atomic context, reclaim, NOFS/NOIO
 * scopes and the handler's own process. Counted as advisories or
 * advisories-dropped on @ks, not as a call outcome.
 *
 * Return:
 *   %0: sent
 *   %-ESRCH: no handler is bound
 *   %-EOPNOTSUPP: the subsystem is in mode off
 *   %-EBUSY: the handler's socket buffer is full
 *   %-ENOMEM: no memory for the message without reclaim
 *   %-ESHUTDOWN: @ks is being unregistered
 *   %-EINVAL: bad op or payload size
 *   another negative errno: the send failed
 */
int koffload_advise(struct koffload_subsys *ks, u32 op, const void *req,
		    u32 req_len)
{
	struct koffload_call kc = {
		.kc_op		= op,
		.kc_req		= req,
		.kc_req_len	= req_len,
	};
	struct koffload_admit ka = { };
	struct sk_buff *skb;
	unsigned long flags;
	u64 deadline_ns;
	int err;

	if (!op || op > ks->ks_nr_ops || req_len > KOFFLOAD_PAYLOAD_MAX ||
	    (req_len && !req))
		return -EINVAL;

	spin_lock_irqsave(&ks->ks_lock, flags);
	if (!ks->ks_registered || ks->ks_shutting) {
		spin_unlock_irqrestore(&ks->ks_lock, flags);
		return -ESHUTDOWN;
	}
	err = 0;
	if (!ks->ks_portid)
		err = -ESRCH;
	else if (ks->ks_mode == KOFFLOAD_MODE_OFF)
		err = -EOPNOTSUPP;
	if (!err) {
		ks->ks_users++;
		ka.ka_sk = ks->ks_sk;
		sock_hold(ka.ka_sk);
		ka.ka_portid = ks->ks_portid;
		ka.ka_gen = ks->ks_bind_gen;
		ka.ka_mode = KOFFLOAD_MODE_SHADOW;	/* not a circuit sample */
		ka.ka_timeout_ms = koffload_effective_timeout_ms(ks, 0);
	}
	spin_unlock_irqrestore(&ks->ks_lock, flags);
	if (err) {
		koffload_count(ks, KOFFLOAD_COUNTER_ADVISORIES_DROPPED);
		return err;
	}

	deadline_ns = ktime_get_ns() + (u64)ka.ka_timeout_ms * NSEC_PER_MSEC;
	skb = koffload_nl_request(ks, &kc, 0, deadline_ns,
				  KOFFLOAD_REQ_FLAG_ADVISORY, KOFFLOAD_REQ_GFP);
	err = skb ? koffload_unicast(skb, &ka) : -ENOMEM;
	if (err == -EAGAIN || err == -ENOBUFS)
		err = -EBUSY;
	else if (err == -ECONNREFUSED)
		err = -ESRCH;
	koffload_count(ks, err ? KOFFLOAD_COUNTER_ADVISORIES_DROPPED :
		       KOFFLOAD_COUNTER_ADVISORIES);
	koffload_leave_quietly(ks, &ka);
	return err;
}
EXPORT_SYMBOL_GPL(koffload_advise);

/**
 * koffload_complete_reply - complete a pending call with the handler's reply
 * @id: request id from the REPLY
 * @portid: netlink port the REPLY came from
 * @status: enum koffload_status
 * @payload: reply payload (may be NULL when @len is zero)
 * @len: its length
 *
 * Rule 9: the call is claimed, filled and completed under ks_lock, so a
 * caller whose deadline fired either claims it first or finds it done. A
 * reply that comes after the deadline, before the caller woke, ends the
 * call with KOFFLOAD_OUTCOME_DEADLINE; nothing is written to its buffer.
 *
 * Return:
 *   %0: the call was completed with the reply
 *   %-EMSGSIZE: the call was completed as malformed, the payload did not fit
 *   %-EPERM: @portid is not the handler bound to the request's subsystem
 *   %-ENOENT: no such pending call (finished, timed out or never sent)
 */
int koffload_complete_reply(u64 id, u32 portid, u32 status,
			    const void *payload, u32 len)
{
	struct koffload_subsys *ks;
	struct koffload_pending *kp, *found = NULL;
	unsigned long flags;
	u32 outcome;
	int err;

	rcu_read_lock();
	ks = xa_load(&koffload_subsystems, id >> KOFFLOAD_REQ_ID_SHIFT);
	if (!ks) {
		rcu_read_unlock();
		return -ENOENT;
	}
	spin_lock_irqsave(&ks->ks_lock, flags);
	/* Check the sender before the id, so a forged reply claims nothing. */
	if (!ks->ks_portid || ks->ks_portid != portid) {
		koffload_count(ks, KOFFLOAD_COUNTER_FOREIGN_REPLIES);
		err = -EPERM;
		goto out_unlock;
	}
	hash_for_each_possible(ks->ks_pending, kp, kp_node, id) {
		if (kp->kp_id == id) {
			found = kp;
			break;
		}
	}
	err = -ENOENT;
	if (!found) {
		koffload_count(ks, KOFFLOAD_COUNTER_LATE_REPLIES);
		goto out_unlock;
	}
	found->kp_claimed = true;
	hash_del(&found->kp_node);
	ks->ks_nr_pending--;

	if (ktime_get_ns() > found->kp_deadline_ns) {
		koffload_count(ks, KOFFLOAD_COUNTER_LATE_REPLIES);
		outcome = KOFFLOAD_OUTCOME_DEADLINE;
	} else if (status == KOFFLOAD_STATUS_OK && len > found->kp_resp_size) {
		koffload_count(ks, KOFFLOAD_COUNTER_BAD_REPLIES);
		outcome = KOFFLOAD_OUTCOME_MALFORMED;
		err = -EMSGSIZE;
	} else if (status == KOFFLOAD_STATUS_OK) {
		if (len)
			memcpy(found->kp_resp, payload, len);
		found->kp_resp_len = len;
		outcome = KOFFLOAD_OUTCOME_SERVED;
		err = 0;
	} else {
		outcome = status == KOFFLOAD_STATUS_DECLINE ?
			  KOFFLOAD_OUTCOME_DECLINED :
			  KOFFLOAD_OUTCOME_HANDLER_ERROR;
		err = 0;
	}
	found->kp_outcome = outcome;
	complete(&found->kp_done);	/* @found may be gone after this */
out_unlock:
	spin_unlock_irqrestore(&ks->ks_lock, flags);
	rcu_read_unlock();
	return err;
}

/**
 * koffload_bind_locked - make @sk, sent from current, the handler of @ks
 * @ks: the subsystem, ks_lock held
 * @sk: the handler's netlink socket; a reference is taken
 * @portid: its port id
 *
 * A new binding starts with a closed circuit and a new generation, so
 * calls admitted under an earlier binding are not charged to this one.
 */
void koffload_bind_locked(struct koffload_subsys *ks, struct sock *sk,
			  u32 portid)
{
	sock_hold(sk);
	ks->ks_sk = sk;
	ks->ks_bound_tgid = get_pid(task_tgid(current));
	ks->ks_portid = portid;
	ks->ks_bind_gen++;
	ks->ks_circuit = KOFFLOAD_CIRCUIT_CLOSED;
	ks->ks_failures = 0;
	ks->ks_probe_out = false;
}

/**
 * koffload_unbind_locked - drop the binding and end every pending call
 * @ks: the subsystem, ks_lock held
 * @outcome: what the pending calls end with
 *
 * Rule 6: pending calls of a handler that goes away end at once, not at
 * their deadline; they are completed here, under ks_lock (rule 9).
 *
 * Return: the handler's socket, whose reference the caller drops with
 * sock_put() after unlocking, or NULL when nothing was bound.
 */
struct sock *koffload_unbind_locked(struct koffload_subsys *ks, u32 outcome)
{
	struct sock *sk = ks->ks_sk;
	struct koffload_pending *kp;
	struct hlist_node *tmp;
	int bkt;

	put_pid(ks->ks_bound_tgid);
	ks->ks_bound_tgid = NULL;
	ks->ks_sk = NULL;
	ks->ks_portid = 0;
	ks->ks_bind_gen++;
	ks->ks_cap_deadline_ms = 0;
	ks->ks_cap_inflight = 0;
	hash_for_each_safe(ks->ks_pending, bkt, tmp, kp, kp_node) {
		kp->kp_claimed = true;
		hash_del(&kp->kp_node);
		ks->ks_nr_pending--;
		kp->kp_outcome = outcome;
		complete(&kp->kp_done);	/* @kp may be gone after this */
	}
	return sk;
}
