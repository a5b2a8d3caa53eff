// SPDX-License-Identifier: GPL-2.0
/*
 * koffload: the call path. Admission (mode, context, circuit, in-flight
 * cap), the pending table, the wait with deadline, and completion by
 * reply, timeout, release or shutdown, exactly one of which wins.
 *
 * Contexts and locks. koffload_call() may be called from any context,
 * NMI included. The fallbacks that never wait (no handler, mode off,
 * canary skip, atomic, reclaim, recursion, circuit open, shutdown,
 * invalid) are decided from lockless reads inside an RCU read-side
 * section and counted with atomics: no koffload lock is taken and
 * nothing is woken, so a caller that holds scheduler or other core locks
 * cannot deadlock here (rule 1). Only a call that sends takes ks_lock, a
 * leaf lock: nothing else is taken under it, and whoever claims a call
 * completes it after dropping the lock. Nothing is sent with IRQs off, in
 * hardirq or in NMI: a netlink send runs the taps (nlmon), which queue to
 * a device and may run softirqs.
 */

#include <linux/completion.h>
#include <linux/gfp.h>
#include <linux/hardirq.h>
#include <linux/hrtimer.h>
#include <linux/pid.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
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

/* What admission decided; the binding part is taken under ks_lock. */
struct koffload_admit {
	struct sock	*ka_sk;		/* referenced while set */
	u32		ka_portid;
	u32		ka_gen;
	u32		ka_mode;
	u64		ka_budget_ns;
	u32		ka_inflight_cap;
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

/* The call's budget in ns: kc_timeout_us, else kc_timeout_ms, capped. */
static u64 koffload_budget_ns(const struct koffload_subsys *ks,
			      const struct koffload_call *kc)
{
	u32 cap_ms = READ_ONCE(ks->ks_cap_deadline_ms);
	u64 ns;

	if (kc->kc_timeout_us)
		ns = (u64)kc->kc_timeout_us * NSEC_PER_USEC;
	else
		ns = (u64)(kc->kc_timeout_ms ?: ks->ks_timeout_ms) *
		     NSEC_PER_MSEC;
	if (cap_ms)
		ns = min_t(u64, ns, (u64)cap_ms * NSEC_PER_MSEC);
	return ns;
}

/*
 * Rule 1: no send at all with IRQs off, in hardirq or NMI. A netlink
 * unicast delivers to the taps (nlmon) through dev_queue_xmit() and
 * rcu_read_unlock_bh(), which may run softirqs with the caller's IRQs
 * turned back on.
 */
static bool koffload_ctx_nosend(void)
{
	return irqs_disabled() || in_hardirq() || in_nmi();
}

/*
 * Rule 1: no wait in atomic context, inside an RCU read side, or with a
 * gfp that cannot block. The gfp is the caller's word; preempt_count()
 * also catches a caller that holds a spinlock but passed a blocking gfp,
 * where the kernel counts it (CONFIG_PREEMPT_COUNT, as in Debian's).
 */
static bool koffload_ctx_atomic(gfp_t gfp)
{
	if (!gfpflags_allow_blocking(gfp) || rcu_preempt_depth())
		return true;
	return IS_ENABLED(CONFIG_PREEMPT_COUNT) && preempt_count();
}

/*
 * In reclaim: PF_MEMALLOC or kswapd. Not even a shadow send from here. In
 * interrupt context current is whoever was interrupted, not the caller.
 */
static bool koffload_ctx_in_reclaim(void)
{
	return in_task() && (current->flags & (PF_MEMALLOC | PF_KSWAPD));
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
	if (in_task())
		gfp = current_gfp_context(gfp);
	return (gfp & fs_io) != fs_io;
}

/*
 * Rule 7 at admission, without a lock: false while the circuit is open
 * and cooling down, or half open with its probe out. A cooled-down or
 * half-open circuit lets exactly one call through as the probe.
 */
KOFFLOAD_STATIC_UNLESS_TEST
bool koffload_circuit_admit(struct koffload_subsys *ks, bool *probe)
{
	/* pairs with the release in koffload_circuit_open_locked() */
	u32 state = smp_load_acquire(&ks->ks_circuit);

	if (state == KOFFLOAD_CIRCUIT_CLOSED)
		return true;
	if (state == KOFFLOAD_CIRCUIT_OPEN &&
	    (s64)(ktime_get_mono_fast_ns() -
		  atomic64_read(&ks->ks_open_until_ns)) < 0)
		return false;
	if (atomic_cmpxchg(&ks->ks_probe_out, 0, 1))
		return false;
	/*
	 * Only a circuit still open becomes half open: one that closed
	 * meanwhile (a good probe, a new binding) stays closed, and this call
	 * is no probe.
	 */
	if (state == KOFFLOAD_CIRCUIT_OPEN &&
	    cmpxchg(&ks->ks_circuit, state, KOFFLOAD_CIRCUIT_HALF_OPEN) != state &&
	    READ_ONCE(ks->ks_circuit) == KOFFLOAD_CIRCUIT_CLOSED) {
		atomic_set(&ks->ks_probe_out, 0);
		return true;
	}
	*probe = true;
	return true;
}

KOFFLOAD_EXPORT_FOR_TEST(koffload_circuit_admit);

/* ks_lock held. The deadline first: admission reads it after the state. */
static void koffload_circuit_open_locked(struct koffload_subsys *ks)
{
	atomic64_set(&ks->ks_open_until_ns, ktime_get_mono_fast_ns() +
		     (u64)ks->ks_circuit_cooldown_ms * NSEC_PER_MSEC);
	/* an admission that sees OPEN sees the deadline above */
	smp_store_release(&ks->ks_circuit, KOFFLOAD_CIRCUIT_OPEN);
	koffload_count(ks, KOFFLOAD_COUNTER_CIRCUIT_OPENS);
}

/* Rule 7: feed one call's outcome to the circuit breaker, ks_lock held. */
KOFFLOAD_STATIC_UNLESS_TEST
void koffload_circuit_record(struct koffload_subsys *ks, u32 outcome,
			     bool probe)
{
	if (probe) {
		if (koffload_is_success(outcome)) {
			WRITE_ONCE(ks->ks_circuit, KOFFLOAD_CIRCUIT_CLOSED);
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

KOFFLOAD_EXPORT_FOR_TEST(koffload_circuit_record);

/* How the caller may wait, judged before koffload takes RCU itself. */
struct koffload_ctx {
	bool	kx_nosend;
	bool	kx_atomic;
	bool	kx_in_reclaim;
	bool	kx_reclaim;
};

static void koffload_judge(struct koffload_ctx *kx, gfp_t gfp)
{
	kx->kx_nosend = koffload_ctx_nosend();
	kx->kx_atomic = kx->kx_nosend || koffload_ctx_atomic(gfp);
	kx->kx_in_reclaim = koffload_ctx_in_reclaim();
	kx->kx_reclaim = !kx->kx_atomic && koffload_ctx_reclaim(gfp);
}

/*
 * The no-wait fallbacks, decided from lockless reads: the caller is in an
 * RCU read-side section and @ks is live. Returns KOFFLOAD_OUTCOME_SERVED
 * when the call may go on to send (in mode shadow: send without waiting).
 */
static u32 koffload_precheck(struct koffload_subsys *ks,
			     const struct koffload_ctx *kx,
			     struct koffload_admit *ka)
{
	if (!READ_ONCE(ks->ks_portid))
		return KOFFLOAD_OUTCOME_NO_HANDLER;
	ka->ka_mode = READ_ONCE(ks->ks_mode);
	if (ka->ka_mode == KOFFLOAD_MODE_OFF)
		return KOFFLOAD_OUTCOME_DISABLED;
	/* no random numbers, no clock but the fast one, in NMI */
	if (in_nmi())
		return KOFFLOAD_OUTCOME_ATOMIC;
	if (ka->ka_mode == KOFFLOAD_MODE_SHADOW) {
		if (kx->kx_nosend)
			return KOFFLOAD_OUTCOME_ATOMIC;
		return kx->kx_in_reclaim ? KOFFLOAD_OUTCOME_RECLAIM :
					   KOFFLOAD_OUTCOME_SERVED;
	}
	if (ka->ka_mode == KOFFLOAD_MODE_CANARY &&
	    get_random_u32_below(KOFFLOAD_PERMILLE) >=
	    READ_ONCE(ks->ks_canary_permille))
		return KOFFLOAD_OUTCOME_CANARY_SKIP;
	if (kx->kx_atomic)
		return KOFFLOAD_OUTCOME_ATOMIC;
	if (kx->kx_reclaim)
		return KOFFLOAD_OUTCOME_RECLAIM;
	/* rule 3: the pointer is only compared, never followed */
	if (READ_ONCE(ks->ks_bound_tgid) == task_tgid(current))
		return KOFFLOAD_OUTCOME_RECURSION;
	if (fatal_signal_pending(current))
		return KOFFLOAD_OUTCOME_SIGNAL;
	/* the binding a probe belongs to: a probe of another never clears ours */
	ka->ka_gen = READ_ONCE(ks->ks_bind_gen);
	if (!koffload_circuit_admit(ks, &ka->ka_probe))
		return KOFFLOAD_OUTCOME_CIRCUIT_OPEN;
	return KOFFLOAD_OUTCOME_SERVED;
}

/*
 * The binding a send goes to, under ks_lock: a reference on the bound
 * socket, its port and generation, and the call's limits. A handler whose
 * socket is closing, or whose process has exited while the socket lives
 * on (an inherited or passed file descriptor), is dead (rule 6); *exited
 * asks the caller to have the binding cleared.
 */
static u32 koffload_grab(struct koffload_subsys *ks,
			 const struct koffload_call *kc,
			 struct koffload_admit *ka, bool *exited)
{
	u32 outcome = KOFFLOAD_OUTCOME_SERVED;
	unsigned long flags;

	spin_lock_irqsave(&ks->ks_lock, flags);
	if (ks->ks_state != KOFFLOAD_KS_LIVE) {
		outcome = KOFFLOAD_OUTCOME_SHUTDOWN;
	} else if (!ks->ks_sk) {
		outcome = KOFFLOAD_OUTCOME_NO_HANDLER;
	} else if (ka->ka_probe && ka->ka_gen != ks->ks_bind_gen) {
		/* probed one binding, another is bound now */
		outcome = KOFFLOAD_OUTCOME_HANDLER_DIED;
	} else if (sock_flag(ks->ks_sk, SOCK_DEAD)) {
		outcome = KOFFLOAD_OUTCOME_HANDLER_DIED;
	} else if (thread_group_exited(ks->ks_bound_tgid)) {
		outcome = KOFFLOAD_OUTCOME_HANDLER_DIED;
		*exited = true;
	} else {
		ka->ka_sk = ks->ks_sk;
		sock_hold(ka->ka_sk);
		ka->ka_gen = ks->ks_bind_gen;
		ka->ka_portid = ks->ks_portid;
		ka->ka_budget_ns = koffload_budget_ns(ks, kc);
		ka->ka_inflight_cap = koffload_effective_inflight(ks);
	}
	spin_unlock_irqrestore(&ks->ks_lock, flags);
	return outcome;
}

/*
 * Record a waiting call's outcome and stop being a user of @ks. The last
 * user wakes koffload_unregister(), which waits for an RCU grace period
 * after the drain, so @ks stays valid to the end of this function.
 */
static void koffload_leave(struct koffload_subsys *ks, u32 outcome,
			   const struct koffload_admit *ka)
{
	unsigned long flags;

	if (ka->ka_sk)
		sock_put(ka->ka_sk);
	atomic64_inc(&ks->ks_outcomes[outcome]);
	spin_lock_irqsave(&ks->ks_lock, flags);
	/* an outcome of an earlier binding says nothing of this one */
	if (ka->ka_gen == ks->ks_bind_gen) {
		koffload_circuit_record(ks, outcome, ka->ka_probe);
		if (ka->ka_probe)
			atomic_set(&ks->ks_probe_out, 0);
	}
	spin_unlock_irqrestore(&ks->ks_lock, flags);

	rcu_read_lock();
	if (atomic_dec_and_test(&ks->ks_users) &&
	    READ_ONCE(ks->ks_state) == KOFFLOAD_KS_DRAINING)
		wake_up_all(&koffload_drain_wq);
	rcu_read_unlock();
}

/*
 * Rule 9: whoever sets kp_claimed under ks_lock owns the call: it fills
 * the results and completes kp_done after dropping the lock.
 */
KOFFLOAD_STATIC_UNLESS_TEST
bool koffload_claim(struct koffload_subsys *ks, struct koffload_pending *kp)
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

KOFFLOAD_EXPORT_FOR_TEST(koffload_claim);

/* Rule 4: the deadline, exact to the hrtimer, ends a call nobody claimed. */
KOFFLOAD_STATIC_UNLESS_TEST
enum hrtimer_restart koffload_deadline_fired(struct hrtimer *timer)
{
	struct koffload_pending *kp =
		container_of(timer, struct koffload_pending, kp_timer);

	if (koffload_claim(kp->kp_ks, kp)) {
		kp->kp_outcome = KOFFLOAD_OUTCOME_DEADLINE;
		complete(&kp->kp_done);	/* @kp may be gone after this */
	}
	return HRTIMER_NORESTART;
}

KOFFLOAD_EXPORT_FOR_TEST(koffload_deadline_fired);

/*
 * Right before a send: a handler socket that is closing is orphaned
 * (SOCK_DEAD) right after its port id is freed, so this leaves only the
 * instant between the two for a request to reach a newcomer holding the
 * same port id (see the README: residual risks). The release notifier
 * unbinds soon after.
 */
static int koffload_unicast(struct sk_buff *skb,
			    const struct koffload_admit *ka)
{
	if (sock_flag(ka->ka_sk, SOCK_DEAD)) {
		kfree_skb(skb);
		return -ECONNREFUSED;
	}
	if (koffload_should_fail(KOFFLOAD_FAULT_UNICAST)) {
		kfree_skb(skb);
		return -EIO;
	}
	if (koffload_should_fail(KOFFLOAD_FAULT_DROP_REQUEST)) {
		kfree_skb(skb);
		return 0;
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

/*
 * Mode shadow: send, do not wait, keep the default. Runs in the caller's
 * RCU read-side section and never sleeps.
 */
static u32 koffload_shadow(struct koffload_subsys *ks,
			   const struct koffload_call *kc,
			   struct koffload_admit *ka)
{
	struct sk_buff *skb;
	bool exited = false;
	u32 outcome;
	int err;

	outcome = koffload_grab(ks, kc, ka, &exited);
	if (exited)
		schedule_work(&ks->ks_exit_work);
	if (outcome != KOFFLOAD_OUTCOME_SERVED)
		return outcome;

	/* id 0: nobody waits, so no reply can be matched */
	skb = koffload_nl_request(ks, kc, 0, ktime_get_ns() + ka->ka_budget_ns,
				  KOFFLOAD_REQ_FLAG_SHADOW, KOFFLOAD_REQ_GFP);
	if (!skb) {
		outcome = KOFFLOAD_OUTCOME_SEND_FAILURE;
	} else {
		err = koffload_unicast(skb, ka);
		if (err) {
			outcome = koffload_send_errno_outcome(err);
		} else {
			koffload_count(ks, KOFFLOAD_COUNTER_REQUESTS_SENT);
			outcome = KOFFLOAD_OUTCOME_SHADOW;
		}
	}
	sock_put(ka->ka_sk);
	ka->ka_sk = NULL;
	return outcome;
}

/* Register a pending call, send the REQUEST, wait for one completion. */
static u32 koffload_upcall(struct koffload_subsys *ks,
			   struct koffload_call *kc,
			   const struct koffload_admit *ka)
{
	struct koffload_pending kp = {
		.kp_ks		= ks,
		.kp_resp	= kc->kc_resp,
		.kp_resp_size	= kc->kc_resp ? kc->kc_resp_size : 0,
	};
	unsigned long flags;
	struct sk_buff *skb;
	u32 outcome;
	int err;

	kp.kp_deadline_ns = ktime_get_ns() + ka->ka_budget_ns;
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

	hrtimer_init_on_stack(&kp.kp_timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS);
	kp.kp_timer.function = koffload_deadline_fired;

	/*
	 * Insert before sending: the reply may come back before
	 * genlmsg_unicast() returns. A release, unbind or unregister that ran
	 * since admission changed ks_bind_gen or the state; its sweep is
	 * over, so refuse here rather than wait for a handler that is gone.
	 */
	spin_lock_irqsave(&ks->ks_lock, flags);
	if (ks->ks_state != KOFFLOAD_KS_LIVE || ks->ks_bind_gen != ka->ka_gen) {
		outcome = ks->ks_state != KOFFLOAD_KS_LIVE ?
			  KOFFLOAD_OUTCOME_SHUTDOWN :
			  KOFFLOAD_OUTCOME_HANDLER_DIED;
		spin_unlock_irqrestore(&ks->ks_lock, flags);
		kfree_skb(skb);
		goto out_destroy;
	}
	hash_add(ks->ks_pending, &kp.kp_node, kp.kp_id);
	ks->ks_nr_pending++;
	spin_unlock_irqrestore(&ks->ks_lock, flags);
	/* armed before the send, so a slow send still ends on time */
	hrtimer_start(&kp.kp_timer, ns_to_ktime(kp.kp_deadline_ns),
		      HRTIMER_MODE_ABS);

	err = koffload_unicast(skb, ka);
	if (err) {
		if (koffload_claim(ks, &kp)) {
			outcome = koffload_send_errno_outcome(err);
			goto out_cancel;
		}
	} else {
		koffload_count(ks, KOFFLOAD_COUNTER_REQUESTS_SENT);
	}

	/* Rule 4: killable; the deadline timer claims the call on time. */
	if (wait_for_completion_killable(&kp.kp_done)) {
		if (koffload_claim(ks, &kp)) {
			outcome = KOFFLOAD_OUTCOME_SIGNAL;
			goto out_cancel;
		}
		/* the claimer completes now, after dropping ks_lock */
		wait_for_completion(&kp.kp_done);
	}
	outcome = kp.kp_outcome;
	kc->kc_resp_len = kp.kp_resp_len;
out_cancel:
	hrtimer_cancel(&kp.kp_timer);
out_destroy:
	destroy_hrtimer_on_stack(&kp.kp_timer);
	return outcome;
}

/* A call that may wait: the binding, the in-flight cap (rule 5), the upcall. */
static u32 koffload_call_wait(struct koffload_subsys *ks,
			      struct koffload_call *kc,
			      struct koffload_admit *ka)
{
	bool exited = false;
	u32 outcome;

	outcome = koffload_grab(ks, kc, ka, &exited);
	if (exited)
		schedule_work(&ks->ks_exit_work);
	if (outcome != KOFFLOAD_OUTCOME_SERVED)
		return outcome;

	if (atomic_inc_return(&ks->ks_inflight) > ka->ka_inflight_cap) {
		outcome = KOFFLOAD_OUTCOME_OVERLOAD;
	} else {
		outcome = koffload_upcall(ks, kc, ka);
		if (outcome != KOFFLOAD_OUTCOME_SERVED)
			kc->kc_resp_len = 0;
	}
	atomic_dec(&ks->ks_inflight);
	return outcome;
}

static bool koffload_call_invalid(const struct koffload_subsys *ks,
				  const struct koffload_call *kc)
{
	if (!kc->kc_op || kc->kc_op > ks->ks_nr_ops ||
	    kc->kc_req_len > KOFFLOAD_PAYLOAD_MAX ||
	    (kc->kc_req_len && !kc->kc_req) ||
	    kc->kc_timeout_ms > KOFFLOAD_DEADLINE_MAX_MS ||
	    kc->kc_timeout_us > KOFFLOAD_DEADLINE_MAX_MS * USEC_PER_MSEC)
		return true;
	return (kc->kc_flags & KOFFLOAD_CALL_HAS_DEFAULT) &&
	       (kc->kc_default_len > KOFFLOAD_PAYLOAD_MAX ||
		(kc->kc_default_len && !kc->kc_default));
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
 * at most until the call's deadline (kc_timeout_us or kc_timeout_ms,
 * capped by the subsystem's and the handler's limits), kept by an hrtimer
 * on CLOCK_MONOTONIC, so budgets under a jiffy work. Never waits in
 * atomic context, with IRQs off, in an RCU read side, in reclaim or a
 * NOFS/NOIO scope or gfp, in the handler's own process, or past the
 * in-flight cap; a fatal signal ends the wait. Never sends with IRQs off,
 * in hardirq or NMI (mode shadow then ends %-EWOULDBLOCK without a
 * send). Callable in any context, NMI included: the fallbacks that do not
 * wait take no lock. Exactly one outcome is written to kc_outcome and
 * counted on @ks; kc_wait_ns is how long the call took. On any non-zero
 * return the caller uses its own default and must not read kc_resp.
 *
 * Return:
 *   %0: served; kc_resp holds kc_resp_len bytes of the handler's reply
 *   %-ENODATA: the handler declined
 *   %-ESRCH: no handler is bound
 *   %-ETIMEDOUT: the deadline passed
 *   %-EWOULDBLOCK: the context may not wait (atomic, IRQs off, RCU read
 *	side, reclaim, NOFS/NOIO), or may not send in mode shadow
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
 *   %-EINVAL: bad op, payload sizes or timeout
 */
int koffload_call(struct koffload_subsys *ks, struct koffload_call *kc,
		  gfp_t gfp)
{
	struct koffload_admit ka = { };
	u64 start = ktime_get_mono_fast_ns();
	struct koffload_ctx kx;
	u32 outcome;

	kc->kc_resp_len = 0;
	koffload_judge(&kx, gfp);
	/* @ks is touched only inside this section or as a user (ks_users) */
	rcu_read_lock();
	if (koffload_state(ks) != KOFFLOAD_KS_LIVE)
		outcome = KOFFLOAD_OUTCOME_SHUTDOWN;
	else if (koffload_call_invalid(ks, kc))
		outcome = KOFFLOAD_OUTCOME_INVALID;
	else
		outcome = koffload_precheck(ks, &kx, &ka);

	if (outcome == KOFFLOAD_OUTCOME_SERVED &&
	    ka.ka_mode == KOFFLOAD_MODE_SHADOW)
		outcome = koffload_shadow(ks, kc, &ka);
	if (outcome != KOFFLOAD_OUTCOME_SERVED ||
	    ka.ka_mode == KOFFLOAD_MODE_SHADOW) {
		/* no probe was taken: the circuit is the last check */
		atomic64_inc(&ks->ks_outcomes[outcome]);
		rcu_read_unlock();
		goto out;
	}
	atomic_inc(&ks->ks_users);
	rcu_read_unlock();

	outcome = koffload_call_wait(ks, kc, &ka);
	koffload_leave(ks, outcome, &ka);
out:
	kc->kc_outcome = outcome;
	kc->kc_wait_ns = ktime_get_mono_fast_ns() - start;
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
 * Sends a REQUEST flagged KOFFLOAD_REQ_FLAG_ADVISORY with request id 0
 * (also flagged KOFFLOAD_REQ_FLAG_SHADOW in mode shadow, where the advice
 * is only recorded). The handler answers, if at all, by PUBLISHing into
 * the advisory cache, which callers read with koffload_cache_lookup().
 * Never waits, never enters reclaim nor uses the memory reserves, takes
 * no lock before it knows it can send, so it is usable where
 * koffload_call() may not wait: atomic context, reclaim, NOFS/NOIO scopes
 * and the handler's own process. It does not send with IRQs off, in
 * hardirq or NMI. Every return is counted on @ks, as advisories (0) or
 * advisories-dropped (an error), not as a call outcome.
 *
 * Return:
 *   %0: sent
 *   %-ESRCH: no handler is bound (or it died)
 *   %-EOPNOTSUPP: the subsystem is in mode off
 *   %-EWOULDBLOCK: IRQs off, hardirq or NMI: nothing sent
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
	bool nosend = koffload_ctx_nosend();
	struct koffload_admit ka = { };
	struct sk_buff *skb;
	bool exited = false;
	u32 flags, mode;
	int err;

	rcu_read_lock();
	mode = READ_ONCE(ks->ks_mode);
	if (koffload_state(ks) != KOFFLOAD_KS_LIVE)
		err = -ESHUTDOWN;
	else if (!op || op > ks->ks_nr_ops || req_len > KOFFLOAD_PAYLOAD_MAX ||
		 (req_len && !req))
		err = -EINVAL;
	else if (!READ_ONCE(ks->ks_portid))
		err = -ESRCH;
	else if (mode == KOFFLOAD_MODE_OFF)
		err = -EOPNOTSUPP;
	else if (nosend)
		err = -EWOULDBLOCK;
	else
		err = 0;
	if (!err) {
		switch (koffload_grab(ks, &kc, &ka, &exited)) {
		case KOFFLOAD_OUTCOME_SERVED:
			break;
		case KOFFLOAD_OUTCOME_SHUTDOWN:
			err = -ESHUTDOWN;
			break;
		default:
			err = -ESRCH;
			break;
		}
	}
	if (exited)
		schedule_work(&ks->ks_exit_work);
	if (err) {
		koffload_count(ks, KOFFLOAD_COUNTER_ADVISORIES_DROPPED);
		rcu_read_unlock();
		return err;
	}

	flags = KOFFLOAD_REQ_FLAG_ADVISORY;
	if (mode == KOFFLOAD_MODE_SHADOW)
		flags |= KOFFLOAD_REQ_FLAG_SHADOW;
	skb = koffload_nl_request(ks, &kc, 0, ktime_get_ns() + ka.ka_budget_ns,
				  flags, KOFFLOAD_REQ_GFP);
	err = skb ? koffload_unicast(skb, &ka) : -ENOMEM;
	if (err == -EAGAIN || err == -ENOBUFS)
		err = -EBUSY;
	else if (err == -ECONNREFUSED)
		err = -ESRCH;
	koffload_count(ks, err ? KOFFLOAD_COUNTER_ADVISORIES_DROPPED :
		       KOFFLOAD_COUNTER_ADVISORIES);
	sock_put(ka.ka_sk);
	rcu_read_unlock();
	return err;
}
EXPORT_SYMBOL_GPL(koffload_advise);

/**
 * koffload_complete_reply - complete a pending call with the handler's reply
 * @id: request id from the REPLY
 * @sk: the socket the REPLY came from
 * @status: enum koffload_status
 * @payload: reply payload (may be NULL when @len is zero)
 * @len: its length
 *
 * Process context (a genl doit). Rule 9: the call is claimed under
 * ks_lock, so a deadline timer or a signal either claims it first or
 * finds it claimed; the payload is copied and the call completed after
 * the lock is dropped. A reply that comes after the deadline, before the
 * timer claimed the call, ends it with KOFFLOAD_OUTCOME_DEADLINE; nothing
 * is written to its buffer.
 *
 * Return:
 *   %0: the call was completed with the reply
 *   %-EMSGSIZE: the call was completed as malformed, the payload did not fit
 *   %-EPERM: @sk is not the socket bound to the request's subsystem, or
 *	the process that bound it has exited
 *   %-ENOENT: no such pending call (finished, timed out or never sent)
 */
int koffload_complete_reply(u64 id, const struct sock *sk, u32 status,
			    const void *payload, u32 len)
{
	struct koffload_pending *kp, *found = NULL;
	struct koffload_subsys *ks;
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
	/* The sender before the id, so a forged reply claims nothing. */
	if (!ks->ks_sk || ks->ks_sk != sk ||
	    thread_group_exited(ks->ks_bound_tgid)) {
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

	err = 0;
	if (ktime_get_ns() > found->kp_deadline_ns) {
		koffload_count(ks, KOFFLOAD_COUNTER_LATE_REPLIES);
		outcome = KOFFLOAD_OUTCOME_DEADLINE;
		err = -ENOENT;
	} else if (status == KOFFLOAD_STATUS_OK && len > found->kp_resp_size) {
		koffload_count(ks, KOFFLOAD_COUNTER_BAD_REPLIES);
		outcome = KOFFLOAD_OUTCOME_MALFORMED;
		err = -EMSGSIZE;
	} else if (status == KOFFLOAD_STATUS_OK) {
		outcome = KOFFLOAD_OUTCOME_SERVED;
	} else if (status == KOFFLOAD_STATUS_DECLINE) {
		outcome = KOFFLOAD_OUTCOME_DECLINED;
	} else {
		outcome = KOFFLOAD_OUTCOME_HANDLER_ERROR;
	}
	spin_unlock_irqrestore(&ks->ks_lock, flags);

	/* ours alone now: its caller waits for the completion */
	koffload_fault_delay_wakeup();
	if (outcome == KOFFLOAD_OUTCOME_SERVED) {
		if (len)
			memcpy(found->kp_resp, payload, len);
		found->kp_resp_len = len;
	}
	found->kp_outcome = outcome;
	complete(&found->kp_done);	/* @found may be gone after this */
	rcu_read_unlock();
	return err;

out_unlock:
	spin_unlock_irqrestore(&ks->ks_lock, flags);
	rcu_read_unlock();
	return err;
}

KOFFLOAD_EXPORT_FOR_TEST(koffload_complete_reply);

/*
 * Woken from do_notify_pidfd() when the binding process has exited (the
 * whole thread group), with tasklist_lock and the wait queue lock held
 * and IRQs off: only queue the unbind.
 */
static int koffload_exit_wake(struct wait_queue_entry *wait, unsigned int mode,
			      int sync, void *key)
{
	struct koffload_subsys *ks =
		container_of(wait, struct koffload_subsys, ks_exit_wait);

	schedule_work(&ks->ks_exit_work);
	return 0;
}

/*
 * Rule 6 for a handler whose socket outlives its process: the binding
 * ends when the process that bound it has exited. Process context.
 */
static void koffload_exit_work(struct work_struct *work)
{
	struct koffload_subsys *ks =
		container_of(work, struct koffload_subsys, ks_exit_work);

	mutex_lock(&koffload_registry_mutex);
	if (ks->ks_state == KOFFLOAD_KS_LIVE && ks->ks_bound_tgid &&
	    thread_group_exited(ks->ks_bound_tgid) &&
	    koffload_unbind(ks, KOFFLOAD_OUTCOME_HANDLER_DIED))
		koffload_count(ks, KOFFLOAD_COUNTER_RELEASES);
	mutex_unlock(&koffload_registry_mutex);
}

/**
 * koffload_init_binding - set up the binding state of a new subsystem
 * @ks: the subsystem, not yet visible to anyone
 */
void koffload_init_binding(struct koffload_subsys *ks)
{
	ks->ks_sk = NULL;
	ks->ks_bound_tgid = NULL;
	ks->ks_portid = 0;
	INIT_WORK(&ks->ks_exit_work, koffload_exit_work);
	init_waitqueue_func_entry(&ks->ks_exit_wait, koffload_exit_wake);
}

/**
 * koffload_bind - make @sk, sent from current, the handler of @ks
 * @ks: an unbound, registered subsystem
 * @sk: the handler's netlink socket; a reference is taken
 * @portid: its port id
 *
 * Process context, koffload_registry_mutex held (ks_lock is taken here).
 * A new binding starts with a closed circuit and a new generation, so
 * calls admitted under an earlier binding are not charged to this one,
 * and its exit is watched on the pidfd wait queue of current's thread
 * group: do_notify_pidfd() wakes it once the whole group has exited,
 * which cannot have happened yet, as current is part of it.
 */
void koffload_bind(struct koffload_subsys *ks, struct sock *sk, u32 portid)
{
	struct pid *tgid = get_pid(task_tgid(current));
	unsigned long flags;

	lockdep_assert_held(&koffload_registry_mutex);
	add_wait_queue(&tgid->wait_pidfd, &ks->ks_exit_wait);
	sock_hold(sk);
	spin_lock_irqsave(&ks->ks_lock, flags);
	ks->ks_sk = sk;
	WRITE_ONCE(ks->ks_bound_tgid, tgid);
	WRITE_ONCE(ks->ks_portid, portid);
	WRITE_ONCE(ks->ks_bind_gen, ks->ks_bind_gen + 1);
	WRITE_ONCE(ks->ks_circuit, KOFFLOAD_CIRCUIT_CLOSED);
	ks->ks_failures = 0;
	atomic_set(&ks->ks_probe_out, 0);
	spin_unlock_irqrestore(&ks->ks_lock, flags);
}

/* Detach the binding and claim every pending call, ks_lock held. */
static void koffload_unbind_locked(struct koffload_subsys *ks,
				   struct koffload_unbound *ku)
{
	struct koffload_pending *kp;
	struct hlist_node *tmp;
	int bkt;

	ku->ku_sk = ks->ks_sk;
	ku->ku_tgid = ks->ks_bound_tgid;
	ks->ks_sk = NULL;
	WRITE_ONCE(ks->ks_bound_tgid, NULL);
	WRITE_ONCE(ks->ks_portid, 0);
	WRITE_ONCE(ks->ks_bind_gen, ks->ks_bind_gen + 1);
	WRITE_ONCE(ks->ks_cap_deadline_ms, 0);
	WRITE_ONCE(ks->ks_cap_inflight, 0);
	hash_for_each_safe(ks->ks_pending, bkt, tmp, kp, kp_node) {
		kp->kp_claimed = true;
		hash_del(&kp->kp_node);
		hlist_add_head(&kp->kp_node, &ku->ku_claimed);
	}
	ks->ks_nr_pending = 0;
}

/**
 * koffload_unbind - drop the binding and end every pending call
 * @ks: the subsystem
 * @outcome: what the pending calls end with
 *
 * Process context, koffload_registry_mutex held. Rule 6: pending calls of
 * a handler that goes away end at once, not at their deadline; they are
 * claimed under ks_lock and completed after it is dropped (rule 9). The
 * advisory cache entries of the binding are flushed, so a new handler
 * never inherits the old one's decisions.
 *
 * Return: true when something was bound.
 */
bool koffload_unbind(struct koffload_subsys *ks, u32 outcome)
{
	struct koffload_unbound ku = { .ku_outcome = outcome };
	struct koffload_pending *kp;
	struct hlist_node *tmp;
	unsigned long flags;

	lockdep_assert_held(&koffload_registry_mutex);
	spin_lock_irqsave(&ks->ks_lock, flags);
	if (!ks->ks_sk) {
		spin_unlock_irqrestore(&ks->ks_lock, flags);
		return false;
	}
	koffload_unbind_locked(ks, &ku);
	spin_unlock_irqrestore(&ks->ks_lock, flags);

	hlist_for_each_entry_safe(kp, tmp, &ku.ku_claimed, kp_node) {
		kp->kp_outcome = outcome;
		complete(&kp->kp_done);	/* @kp may be gone after this */
	}
	/* no wake-up runs our entry once this returns */
	remove_wait_queue(&ku.ku_tgid->wait_pidfd, &ks->ks_exit_wait);
	put_pid(ku.ku_tgid);
	sock_put(ku.ku_sk);
	koffload_cache_flush(ks);
	return true;
}

/**
 * koffload_bound_to - whether @sk is the socket bound to @ks
 * @ks: the subsystem
 * @sk: a socket the caller holds (the sender of a command)
 *
 * The handler is the bound socket, never its port id: a port id is free
 * for another socket to take while a closing one is still released.
 *
 * Return: true when @sk is bound to @ks.
 */
bool koffload_bound_to(struct koffload_subsys *ks, const struct sock *sk)
{
	return sk && READ_ONCE(ks->ks_sk) == sk;
}

/**
 * koffload_binding_dead - whether the bound handler is gone
 * @ks: the subsystem, koffload_registry_mutex held
 *
 * Return: true when a socket is bound but it is closing, or the process
 * that bound it has exited.
 */
bool koffload_binding_dead(struct koffload_subsys *ks)
{
	lockdep_assert_held(&koffload_registry_mutex);
	return ks->ks_sk && (sock_flag(ks->ks_sk, SOCK_DEAD) ||
			     thread_group_exited(ks->ks_bound_tgid));
}
