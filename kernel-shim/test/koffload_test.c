// SPDX-License-Identifier: GPL-2.0
/*
 * koffload_test: in-kernel callers of koffload, driven over Generic Netlink
 * (family "koffload_test") so that the suites can exercise koffload_call()
 * from outside: many concurrent callers, each calling context the
 * deadlock-avoidance rules care about, and unload with calls pending.
 *
 * RUN starts a run: kernel threads make koffload_call()s (or, with flag
 * advise, koffload_advise()s) on subsystem "ktest" or "ktest2", from the
 * run's calling context, and count every call's outcome. For context self
 * the calls are made by the process that sent RUN, when it writes the run
 * id to the debugfs file koffload_test/self: in its own process context,
 * outside every genl lock (a long run inside a genl doit would hold
 * genl's cb_lock and stall every genl user behind a waiting writer).
 * RESULT reads a run's counts; a done run is forgotten once its result
 * has been sent.
 *
 * The interrupt contexts (hardirq through an irq_work, softirq through a
 * soft hrtimer) make one call per interrupt and complete the worker,
 * which waits for it.
 *
 * Lifetime: runs live in koffload_test_runs under koffload_test_lock and
 * are freed only by RESULT (once done) or by module exit, never by their
 * threads. The last thread of a run to finish marks it done; the counts are
 * final when ktr_done reads true.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/hrtimer.h>
#include <linux/irq_work.h>
#include <linux/kstrtox.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/koffload.h>
#include <linux/koffload_pb.h>
#include <net/genetlink.h>
#include <generated/ktest_pb.h>

#include "koffload_test_nl_gen.h"

/* An EchoRequest: data (tag, length, bytes) and seq (tag, varint). */
#define KOFFLOAD_TEST_REQ_SIZE \
	(KOFFLOAD_PAYLOAD_MAX + 2 + 2 * KOFFLOAD_PB_VARINT_MAX)

/**
 * struct koffload_test_worker - one caller of a run
 * @ktw_run: the run
 * @ktw_task: its kernel thread, referenced; NULL for context self
 * @ktw_calls: calls it makes
 * @ktw_lock: held around each call of context atomic; never contended
 * @ktw_req: request buffer, KOFFLOAD_TEST_REQ_SIZE bytes
 * @ktw_resp: reply buffer, KOFFLOAD_PAYLOAD_MAX bytes
 * @ktw_kc: the call an interrupt context makes
 * @ktw_advise_err: what koffload_advise() returned there
 * @ktw_irq_work: makes the call in hardirq context
 * @ktw_timer: makes the call in softirq context
 * @ktw_irq_done: completed by the interrupt once the call is made
 */
struct koffload_test_worker {
	struct koffload_test_run	*ktw_run;
	struct task_struct		*ktw_task;
	u32				ktw_calls;
	spinlock_t			ktw_lock;	/* only disables preemption */
	u8				*ktw_req;
	u8				*ktw_resp;
	struct koffload_call		ktw_kc;
	int				ktw_advise_err;
	struct irq_work			ktw_irq_work;
	struct hrtimer			ktw_timer;
	struct completion		ktw_irq_done;
};

/**
 * struct koffload_test_run - one RUN and its results
 * @ktr_node: in koffload_test_runs, under koffload_test_lock
 * @ktr_id: run id, unique among kept runs, never 0
 * @ktr_ks: subsystem called
 * @ktr_op: op of every call
 * @ktr_calls: calls to make in all
 * @ktr_timeout_ms: kc_timeout_ms of every call
 * @ktr_timeout_us: kc_timeout_us of every call
 * @ktr_resp_size: kc_resp_size of every call
 * @ktr_context: enum koffload_test_context
 * @ktr_flags: KOFFLOAD_TEST_RUN_FLAG_* flags
 * @ktr_data: EchoRequest data, @ktr_data_len bytes (NULL when empty)
 * @ktr_data_len: its length
 * @ktr_key: advisory cache key for context cache
 * @ktr_key_len: its length
 * @ktr_nr_workers: number of @ktr_workers
 * @ktr_workers: the callers
 * @ktr_running: workers that have not finished; the one that drops it to
 *	zero sets @ktr_done
 * @ktr_done: all calls made; written with release, read with acquire, so
 *	that the counts read after it are final
 * @ktr_interrupted: still running when the module began to exit
 * @ktr_self_tgid: context self: the process that sent RUN, referenced
 * @ktr_self_started: context self: its calls began (under koffload_test_lock)
 * @ktr_seq: last EchoRequest seq handed out
 * @ktr_started: koffload_call()s started (none for context cache)
 * @ktr_outcomes: calls ended, by enum koffload_outcome
 * @ktr_max_wait_ns: longest kc_wait_ns (lookup time for context cache)
 * @ktr_outcome_max_ns: longest kc_wait_ns, by outcome
 * @ktr_total_wait_ns: sum of them
 * @ktr_intact: served replies that echoed their request, or cache hits
 * @ktr_last_lock: protects @ktr_has_last, @ktr_last_len and @ktr_last
 * @ktr_has_last: @ktr_last holds a payload
 * @ktr_last_len: its length
 * @ktr_last: the last served reply (or cache hit) payload
 */
struct koffload_test_run {
	struct list_head		ktr_node;
	u32				ktr_id;
	struct koffload_subsys		*ktr_ks;
	u32				ktr_op;
	u32				ktr_calls;
	u32				ktr_timeout_ms;
	u32				ktr_timeout_us;
	u32				ktr_resp_size;
	u32				ktr_context;
	u32				ktr_flags;
	u8				*ktr_data;
	u32				ktr_data_len;
	u8				*ktr_key;
	u32				ktr_key_len;
	u32				ktr_nr_workers;
	struct koffload_test_worker	*ktr_workers;
	atomic_t			ktr_running;
	bool				ktr_done;
	bool				ktr_interrupted;
	struct pid			*ktr_self_tgid;
	bool				ktr_self_started;
	atomic64_t			ktr_seq;
	atomic64_t			ktr_started;
	atomic64_t			ktr_outcomes[KOFFLOAD_OUTCOME_MAX + 1];
	atomic64_t			ktr_max_wait_ns;
	atomic64_t			ktr_outcome_max_ns[KOFFLOAD_OUTCOME_MAX + 1];
	atomic64_t			ktr_total_wait_ns;
	atomic64_t			ktr_intact;
	spinlock_t			ktr_last_lock;	/* the ktr_*last* fields */
	bool				ktr_has_last;
	u32				ktr_last_len;
	u8				ktr_last[KOFFLOAD_PAYLOAD_MAX];
};

/* ks_timeout_ms is set from koffload_test_timeout_ms at init. */
static struct koffload_subsys koffload_test_subsys[] = {
	{
		.ks_name		= "ktest",
		.ks_nr_ops		= KTEST_OP_OP_PICK,
		.ks_max_inflight	= 64,
	},
	{
		.ks_name		= "ktest2",
		.ks_nr_ops		= KTEST_OP_OP_PICK,
		.ks_max_inflight	= 64,
	},
};

module_param_named(max_inflight, koffload_test_subsys[0].ks_max_inflight,
		   uint, 0444);
MODULE_PARM_DESC(max_inflight,
		 "in-flight cap of subsystem ktest (0: koffload's default)");

/*
 * The circuit breaker of ktest, writable at run time: the fault suite
 * raises the threshold so that a failing handler sees every call, instead
 * of the circuit refusing all but a probe a second. koffload reads both
 * under ks_lock when a call ends; a write races nothing but that read.
 */
module_param_named(circuit_threshold, koffload_test_subsys[0].ks_circuit_threshold,
		   uint, 0644);
MODULE_PARM_DESC(circuit_threshold,
		 "consecutive failures that open ktest's circuit (0 at load: koffload's default)");
module_param_named(circuit_cooldown_ms,
		   koffload_test_subsys[0].ks_circuit_cooldown_ms, uint, 0644);
MODULE_PARM_DESC(circuit_cooldown_ms,
		 "how long ktest's circuit stays open (0 at load: koffload's default)");

/* The deadline of calls whose RUN gives no timeout-ms. */
static unsigned int koffload_test_timeout_ms = 200;
module_param_named(timeout_ms, koffload_test_timeout_ms, uint, 0444);
MODULE_PARM_DESC(timeout_ms,
		 "default call deadline of ktest and ktest2 (0: koffload's default)");

static const char * const koffload_test_context_names[] = {
	[KOFFLOAD_TEST_CONTEXT_NORMAL]		= "normal",
	[KOFFLOAD_TEST_CONTEXT_ATOMIC]		= "atomic",
	[KOFFLOAD_TEST_CONTEXT_NORECLAIM]	= "noreclaim",
	[KOFFLOAD_TEST_CONTEXT_NOFS]		= "nofs",
	[KOFFLOAD_TEST_CONTEXT_SELF]		= "self",
	[KOFFLOAD_TEST_CONTEXT_CACHE]		= "cache",
	[KOFFLOAD_TEST_CONTEXT_ADVISE]		= "advise",
	[KOFFLOAD_TEST_CONTEXT_IRQSOFF]		= "irqsoff",
	[KOFFLOAD_TEST_CONTEXT_HARDIRQ]		= "hardirq",
	[KOFFLOAD_TEST_CONTEXT_SOFTIRQ]		= "softirq",
	[KOFFLOAD_TEST_CONTEXT_RCU]		= "rcu",
	[KOFFLOAD_TEST_CONTEXT_NOIO]		= "noio",
	[KOFFLOAD_TEST_CONTEXT_KSWAPD]		= "kswapd",
};

/* Where context self is triggered, under /sys/kernel/debug. */
#define KOFFLOAD_TEST_SELF_FILE	"koffload_test/self"

/* Protects the run table, the id counter and koffload_test_exiting. */
static DEFINE_MUTEX(koffload_test_lock);
static LIST_HEAD(koffload_test_runs);
static u32 koffload_test_nr_runs;
static u32 koffload_test_last_id;
/* Set once by module exit; workers read it without the lock. */
static bool koffload_test_exiting;

static struct genl_family koffload_test_family;
static struct dentry *koffload_test_debugfs;

static bool koffload_test_should_stop(void)
{
	return READ_ONCE(koffload_test_exiting) || kthread_should_stop();
}

static void koffload_test_atomic_max(atomic64_t *max, u64 ns)
{
	s64 old = atomic64_read(max);

	while ((u64)old < ns && !atomic64_try_cmpxchg(max, &old, ns))
		;
}

static void koffload_test_note_wait(struct koffload_test_run *run, u64 ns)
{
	atomic64_add(ns, &run->ktr_total_wait_ns);
	koffload_test_atomic_max(&run->ktr_max_wait_ns, ns);
}

static void koffload_test_keep_last(struct koffload_test_run *run,
				    const void *buf, u32 len)
{
	unsigned long flags;

	len = min_t(u32, len, KOFFLOAD_PAYLOAD_MAX);
	spin_lock_irqsave(&run->ktr_last_lock, flags);
	memcpy(run->ktr_last, buf, len);
	run->ktr_last_len = len;
	run->ktr_has_last = true;
	spin_unlock_irqrestore(&run->ktr_last_lock, flags);
}

/* Encodes the EchoRequest of call @seq; returns its length or -errno. */
static int koffload_test_encode(const struct koffload_test_run *run,
				struct koffload_test_worker *w, u64 seq)
{
	struct koffload_pb_writer pw;

	if (run->ktr_flags & KOFFLOAD_TEST_RUN_FLAG_RAW) {
		/* the payload is the request, already encoded by the suite */
		memcpy(w->ktw_req, run->ktr_data, run->ktr_data_len);
		return run->ktr_data_len;
	}
	koffload_pb_writer_init(&pw, w->ktw_req, KOFFLOAD_TEST_REQ_SIZE);
	/* proto3 leaves empty bytes out */
	if (run->ktr_data_len)
		koffload_pb_put_bytes(&pw, KTEST_ECHO_REQUEST_DATA_FIELD,
				      run->ktr_data, run->ktr_data_len);
	koffload_pb_put_u64(&pw, KTEST_ECHO_REQUEST_SEQ_FIELD, seq);
	return koffload_pb_writer_finish(&pw);
}

/* Whether @buf is an EchoResponse with the run's data and @seq. */
static bool koffload_test_echo_ok(const struct koffload_test_run *run,
				  const void *buf, u32 len, u64 seq)
{
	struct koffload_pb_reader pr;
	const u8 *data = NULL;
	u32 data_len = 0;
	u64 got_seq = 0;
	u32 field, wire;
	int ret;

	koffload_pb_reader_init(&pr, buf, len);
	while ((ret = koffload_pb_next(&pr, &field, &wire)) > 0) {
		if (field == KTEST_ECHO_RESPONSE_DATA_FIELD) {
			if (wire != KOFFLOAD_PB_WIRE_LEN)
				return false;
			ret = koffload_pb_read_bytes(&pr, &data, &data_len);
		} else if (field == KTEST_ECHO_RESPONSE_SEQ_FIELD) {
			if (wire != KOFFLOAD_PB_WIRE_VARINT)
				return false;
			ret = koffload_pb_read_varint(&pr, &got_seq);
		} else {
			ret = koffload_pb_skip(&pr, wire);
		}
		if (ret)
			return false;
	}
	if (ret || got_seq != seq || data_len != run->ktr_data_len)
		return false;
	return !data_len || !memcmp(data, run->ktr_data, data_len);
}

static void koffload_test_record(struct koffload_test_run *run,
				 const struct koffload_call *kc, u64 seq)
{
	u32 len;

	if (WARN_ON_ONCE(kc->kc_outcome > KOFFLOAD_OUTCOME_MAX))
		return;
	atomic64_inc(&run->ktr_outcomes[kc->kc_outcome]);
	koffload_test_note_wait(run, kc->kc_wait_ns);
	koffload_test_atomic_max(&run->ktr_outcome_max_ns[kc->kc_outcome],
				 kc->kc_wait_ns);
	if (kc->kc_outcome != KOFFLOAD_OUTCOME_SERVED)
		return;

	len = min(kc->kc_resp_len, kc->kc_resp_size);
	if ((run->ktr_flags & KOFFLOAD_TEST_RUN_FLAG_CHECK_ECHO) &&
	    koffload_test_echo_ok(run, kc->kc_resp, len, seq))
		atomic64_inc(&run->ktr_intact);
	koffload_test_keep_last(run, kc->kc_resp, len);
}

/*
 * One advisory cache lookup, from a reclaim scope as a caller that may not
 * wait would make it. A miss is not a koffload outcome and is not counted.
 */
static void koffload_test_lookup(struct koffload_test_run *run,
				 struct koffload_test_worker *w)
{
	unsigned int noreclaim;
	u64 start;
	int len;

	noreclaim = memalloc_noreclaim_save();
	start = ktime_get_ns();
	len = koffload_cache_lookup(run->ktr_ks, run->ktr_key,
				    run->ktr_key_len, w->ktw_resp,
				    KOFFLOAD_PAYLOAD_MAX);
	koffload_test_note_wait(run, ktime_get_ns() - start);
	memalloc_noreclaim_restore(noreclaim);
	if (len < 0)
		return;
	atomic64_inc(&run->ktr_intact);
	koffload_test_keep_last(run, w->ktw_resp, len);
}

/* An advice from reclaim context: counted in intact when it was sent. */
static void koffload_test_advise(struct koffload_test_run *run,
				 struct koffload_test_worker *w, int len)
{
	unsigned int noreclaim;
	u64 start;
	int err;

	noreclaim = memalloc_noreclaim_save();
	start = ktime_get_ns();
	err = koffload_advise(run->ktr_ks, run->ktr_op, w->ktw_req, len);
	koffload_test_note_wait(run, ktime_get_ns() - start);
	memalloc_noreclaim_restore(noreclaim);
	if (!err)
		atomic64_inc(&run->ktr_intact);
}

/* The call itself, or an advice with flag advise; in any context. */
static void koffload_test_do(struct koffload_test_run *run,
			     struct koffload_test_worker *w, gfp_t gfp)
{
	struct koffload_call *kc = &w->ktw_kc;

	if (run->ktr_flags & KOFFLOAD_TEST_RUN_FLAG_ADVISE)
		w->ktw_advise_err = koffload_advise(run->ktr_ks, kc->kc_op,
						    kc->kc_req, kc->kc_req_len);
	else
		koffload_call(run->ktr_ks, kc, gfp);
}

static void koffload_test_irq_work(struct irq_work *work)
{
	struct koffload_test_worker *w =
		container_of(work, struct koffload_test_worker, ktw_irq_work);

	koffload_test_do(w->ktw_run, w, GFP_ATOMIC);
	complete(&w->ktw_irq_done);
}

static enum hrtimer_restart koffload_test_softirq(struct hrtimer *timer)
{
	struct koffload_test_worker *w =
		container_of(timer, struct koffload_test_worker, ktw_timer);

	koffload_test_do(w->ktw_run, w, GFP_ATOMIC);
	complete(&w->ktw_irq_done);
	return HRTIMER_NORESTART;
}

/* Makes w->ktw_kc in the run's calling context. */
static void koffload_test_in_context(struct koffload_test_run *run,
				     struct koffload_test_worker *w)
{
	unsigned int scope, pflags;
	unsigned long flags;

	switch (run->ktr_context) {
	case KOFFLOAD_TEST_CONTEXT_ATOMIC:
		spin_lock(&w->ktw_lock);
		koffload_test_do(run, w, GFP_ATOMIC);
		spin_unlock(&w->ktw_lock);
		break;
	case KOFFLOAD_TEST_CONTEXT_IRQSOFF:
		local_irq_save(flags);
		koffload_test_do(run, w, GFP_ATOMIC);
		local_irq_restore(flags);
		break;
	case KOFFLOAD_TEST_CONTEXT_HARDIRQ:
		reinit_completion(&w->ktw_irq_done);
		irq_work_queue(&w->ktw_irq_work);
		wait_for_completion(&w->ktw_irq_done);
		break;
	case KOFFLOAD_TEST_CONTEXT_SOFTIRQ:
		reinit_completion(&w->ktw_irq_done);
		hrtimer_start(&w->ktw_timer, 0, HRTIMER_MODE_REL_SOFT);
		wait_for_completion(&w->ktw_irq_done);
		break;
	case KOFFLOAD_TEST_CONTEXT_RCU:
		rcu_read_lock();
		koffload_test_do(run, w, GFP_KERNEL);
		rcu_read_unlock();
		break;
	case KOFFLOAD_TEST_CONTEXT_NORECLAIM:
		scope = memalloc_noreclaim_save();
		koffload_test_do(run, w, GFP_KERNEL);
		memalloc_noreclaim_restore(scope);
		break;
	case KOFFLOAD_TEST_CONTEXT_NOFS:
		scope = memalloc_nofs_save();
		koffload_test_do(run, w, GFP_KERNEL);
		memalloc_nofs_restore(scope);
		break;
	case KOFFLOAD_TEST_CONTEXT_NOIO:
		scope = memalloc_noio_save();
		koffload_test_do(run, w, GFP_KERNEL);
		memalloc_noio_restore(scope);
		break;
	case KOFFLOAD_TEST_CONTEXT_KSWAPD:
		/* what kswapd runs with; set and cleared by the thread itself */
		pflags = current->flags & (PF_MEMALLOC | PF_KSWAPD);
		current->flags |= PF_MEMALLOC | PF_KSWAPD;
		koffload_test_do(run, w, GFP_KERNEL);
		current->flags = (current->flags & ~(PF_MEMALLOC | PF_KSWAPD)) |
				 pflags;
		break;
	default:
		koffload_test_do(run, w, GFP_KERNEL);
		break;
	}
}

/* One call of @run by @w, in the run's calling context. */
static void koffload_test_call(struct koffload_test_run *run,
			       struct koffload_test_worker *w)
{
	struct koffload_call *kc = &w->ktw_kc;
	u64 start;
	u64 seq;
	int len;

	if (run->ktr_context == KOFFLOAD_TEST_CONTEXT_CACHE) {
		koffload_test_lookup(run, w);
		return;
	}

	seq = atomic64_inc_return(&run->ktr_seq);
	len = koffload_test_encode(run, w, seq);
	/* cannot fail: the policy bounds the data to KOFFLOAD_PAYLOAD_MAX */
	if (WARN_ON_ONCE(len < 0))
		return;

	*kc = (struct koffload_call) {
		.kc_op		= run->ktr_op,
		.kc_timeout_ms	= run->ktr_timeout_ms,
		.kc_timeout_us	= run->ktr_timeout_us,
		.kc_req		= w->ktw_req,
		.kc_req_len	= len,
		.kc_resp	= w->ktw_resp,
		.kc_resp_size	= run->ktr_resp_size,
	};

	if (run->ktr_context == KOFFLOAD_TEST_CONTEXT_ADVISE) {
		koffload_test_advise(run, w, len);
		return;
	}
	if (run->ktr_flags & KOFFLOAD_TEST_RUN_FLAG_SEND_DEFAULT) {
		kc->kc_flags |= KOFFLOAD_CALL_HAS_DEFAULT;
		kc->kc_default = w->ktw_req;
		kc->kc_default_len = len;
	}

	if (run->ktr_flags & KOFFLOAD_TEST_RUN_FLAG_ADVISE) {
		start = ktime_get_ns();
		koffload_test_in_context(run, w);
		koffload_test_note_wait(run, ktime_get_ns() - start);
		if (!w->ktw_advise_err)
			atomic64_inc(&run->ktr_intact);
		return;
	}
	atomic64_inc(&run->ktr_started);
	koffload_test_in_context(run, w);
	koffload_test_record(run, kc, seq);
}

/*
 * The last worker to finish marks the run done. A done run may be freed by
 * RESULT at any time, so no worker touches it after its decrement.
 */
static void koffload_test_worker_done(struct koffload_test_run *run)
{
	if (!atomic_dec_and_test(&run->ktr_running))
		return;
	/* pairs with the acquire in RESULT: done implies final counts */
	smp_store_release(&run->ktr_done, true);
}

static int koffload_test_thread(void *data)
{
	struct koffload_test_worker *w = data;
	struct koffload_test_run *run = w->ktw_run;
	u32 i;

	for (i = 0; i < w->ktw_calls && !koffload_test_should_stop(); i++) {
		koffload_test_call(run, w);
		cond_resched();
	}
	koffload_test_worker_done(run);
	return 0;
}

/* Context self: the calls are made here, by the process that sent RUN. */
static void koffload_test_run_self(struct koffload_test_run *run)
{
	struct koffload_test_worker *w = &run->ktr_workers[0];
	u32 i;

	for (i = 0; i < w->ktw_calls; i++) {
		if (READ_ONCE(koffload_test_exiting) ||
		    fatal_signal_pending(current))
			break;
		koffload_test_call(run, w);
		cond_resched();
	}
	koffload_test_worker_done(run);
}

/*
 * Stops and reaps the run's threads. A thread that never ran is told to
 * stop before it starts; one that finished has left module code once
 * kthread_stop() returns, so the run and the module can go.
 */
static void koffload_test_stop_workers(struct koffload_test_run *run)
{
	u32 i;

	for (i = 0; i < run->ktr_nr_workers; i++) {
		struct task_struct *task = run->ktr_workers[i].ktw_task;

		if (!task)
			continue;
		kthread_stop(task);
		put_task_struct(task);
		run->ktr_workers[i].ktw_task = NULL;
	}
}

static void koffload_test_free(struct koffload_test_run *run)
{
	u32 i;

	if (run->ktr_workers) {
		for (i = 0; i < run->ktr_nr_workers; i++) {
			struct koffload_test_worker *w = &run->ktr_workers[i];

			/* set up (ktw_run set) or zeroed by kcalloc() */
			if (w->ktw_run) {
				/* irq_work_single() writes it after the callback */
				irq_work_sync(&w->ktw_irq_work);
				hrtimer_cancel(&w->ktw_timer);
			}
			kfree(w->ktw_req);
			kfree(w->ktw_resp);
		}
		kfree(run->ktr_workers);
	}
	put_pid(run->ktr_self_tgid);
	kfree(run->ktr_key);
	kfree(run->ktr_data);
	kfree(run);
}

static struct koffload_test_run *koffload_test_find_locked(u32 id)
{
	struct koffload_test_run *run;

	lockdep_assert_held(&koffload_test_lock);
	list_for_each_entry(run, &koffload_test_runs, ktr_node)
		if (run->ktr_id == id)
			return run;
	return NULL;
}

/* Keeps @run in the table and gives it an id. */
static int koffload_test_insert(struct koffload_test_run *run,
				struct genl_info *info)
{
	int err;

	mutex_lock(&koffload_test_lock);
	err = -ESHUTDOWN;
	if (koffload_test_exiting) {
		GENL_SET_ERR_MSG(info, "koffload_test is unloading");
		goto out_unlock;
	}
	err = -EBUSY;
	if (koffload_test_nr_runs >= KOFFLOAD_TEST_RUNS_MAX) {
		GENL_SET_ERR_MSG(info, "too many runs kept; read their results");
		goto out_unlock;
	}
	do {
		if (!++koffload_test_last_id)
			++koffload_test_last_id;
	} while (koffload_test_find_locked(koffload_test_last_id));
	run->ktr_id = koffload_test_last_id;
	list_add_tail(&run->ktr_node, &koffload_test_runs);
	koffload_test_nr_runs++;
	err = 0;
out_unlock:
	mutex_unlock(&koffload_test_lock);
	return err;
}

/*
 * Drops run @id from the table and frees it, if it is still there. Callers
 * name the run by id, not by pointer: once a run is done, another RESULT
 * may have freed it.
 */
static void koffload_test_forget(u32 id)
{
	struct koffload_test_run *run;

	mutex_lock(&koffload_test_lock);
	run = koffload_test_find_locked(id);
	if (run) {
		list_del(&run->ktr_node);
		koffload_test_nr_runs--;
	}
	mutex_unlock(&koffload_test_lock);
	if (run) {
		koffload_test_stop_workers(run);
		koffload_test_free(run);
	}
}

/*
 * Write a run id to koffload_test/self: the writer, which must belong to
 * the process that sent the RUN, makes the run's calls now, in its own
 * process context and outside every genl lock. The open file pins the
 * module (debugfs' proxy holds a reference), so the module cannot exit
 * during a write.
 */
static ssize_t koffload_test_self_write(struct file *file,
					const char __user *ubuf, size_t len,
					loff_t *ppos)
{
	struct koffload_test_run *run;
	ssize_t err;
	u32 id;

	err = kstrtou32_from_user(ubuf, len, 10, &id);
	if (err)
		return err;
	mutex_lock(&koffload_test_lock);
	run = koffload_test_find_locked(id);
	err = -ENOENT;
	if (!run || run->ktr_context != KOFFLOAD_TEST_CONTEXT_SELF)
		goto out_unlock;
	err = -EPERM;
	if (run->ktr_self_tgid != task_tgid(current))
		goto out_unlock;
	err = -EALREADY;
	if (run->ktr_self_started)
		goto out_unlock;
	/* not done until the calls below are: RESULT cannot free it */
	run->ktr_self_started = true;
	mutex_unlock(&koffload_test_lock);

	koffload_test_run_self(run);
	return len;

out_unlock:
	mutex_unlock(&koffload_test_lock);
	return err;
}

static const struct file_operations koffload_test_self_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= koffload_test_self_write,
	.llseek	= no_llseek,
};

static struct koffload_subsys *koffload_test_find_subsys(const struct nlattr *nla)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(koffload_test_subsys); i++)
		if (!nla_strcmp(nla, koffload_test_subsys[i].ks_name))
			return &koffload_test_subsys[i];
	return NULL;
}

/*
 * Write a subsystem name to koffload_test/reregister: two unregisters of
 * it race (this task and a kernel thread), then it is registered again.
 * Read the file for how many callers each unregister left inside
 * koffload_call() (a peek at koffload's private ks_users: both must be 0)
 * and the subsystem's id before and after.
 */
struct koffload_test_unreg {
	struct koffload_subsys	*ktu_ks;
	struct completion	ktu_go;
	struct completion	ktu_done;
	int			ktu_users;
};

static DEFINE_MUTEX(koffload_test_rereg_lock);
static char koffload_test_rereg_result[128];

static int koffload_test_unreg_thread(void *data)
{
	struct koffload_test_unreg *u = data;

	wait_for_completion(&u->ktu_go);
	koffload_unregister(u->ktu_ks);
	u->ktu_users = atomic_read(&u->ktu_ks->ks_users);
	complete(&u->ktu_done);
	return 0;
}

static ssize_t koffload_test_rereg_write(struct file *file,
					 const char __user *ubuf, size_t len,
					 loff_t *ppos)
{
	struct koffload_test_unreg u = { };
	struct koffload_subsys *ks = NULL;
	struct task_struct *task;
	char name[KOFFLOAD_NAME_MAX];
	int users, err;
	unsigned int i;
	u32 old_id;

	if (len >= sizeof(name))
		return -EINVAL;
	if (copy_from_user(name, ubuf, len))
		return -EFAULT;
	name[len] = '\0';
	strim(name);
	for (i = 0; i < ARRAY_SIZE(koffload_test_subsys); i++)
		if (!strcmp(name, koffload_test_subsys[i].ks_name))
			ks = &koffload_test_subsys[i];
	if (!ks)
		return -ENOENT;

	mutex_lock(&koffload_test_rereg_lock);
	u.ktu_ks = ks;
	init_completion(&u.ktu_go);
	init_completion(&u.ktu_done);
	task = kthread_run(koffload_test_unreg_thread, &u, "ktest-unreg");
	if (IS_ERR(task)) {
		mutex_unlock(&koffload_test_rereg_lock);
		return PTR_ERR(task);
	}
	get_task_struct(task);
	old_id = ks->ks_id;
	complete(&u.ktu_go);
	koffload_unregister(ks);
	users = atomic_read(&ks->ks_users);
	/* its unregister ran: a kthread_stop() before its start would skip it */
	wait_for_completion(&u.ktu_done);
	kthread_stop(task);
	put_task_struct(task);
	err = koffload_register(ks);
	scnprintf(koffload_test_rereg_result, sizeof(koffload_test_rereg_result),
		  "users_first=%d users_second=%d old_id=%u new_id=%u err=%d\n",
		  users, u.ktu_users, old_id, err ? 0 : ks->ks_id, err);
	mutex_unlock(&koffload_test_rereg_lock);
	return err ?: len;
}

static ssize_t koffload_test_rereg_read(struct file *file, char __user *ubuf,
					size_t len, loff_t *ppos)
{
	ssize_t ret;

	mutex_lock(&koffload_test_rereg_lock);
	ret = simple_read_from_buffer(ubuf, len, ppos, koffload_test_rereg_result,
				      strlen(koffload_test_rereg_result));
	mutex_unlock(&koffload_test_rereg_lock);
	return ret;
}

static const struct file_operations koffload_test_rereg_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.read	= koffload_test_rereg_read,
	.write	= koffload_test_rereg_write,
	.llseek	= no_llseek,
};

/* Validates RUN's attributes into @run; the policy has checked types. */
static int koffload_test_parse(struct koffload_test_run *run,
			       struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct nlattr *nla;

	if (GENL_REQ_ATTR_CHECK(info, KOFFLOAD_TEST_A_SUBSYS) ||
	    GENL_REQ_ATTR_CHECK(info, KOFFLOAD_TEST_A_CALLS))
		return -EINVAL;

	nla = attrs[KOFFLOAD_TEST_A_SUBSYS];
	run->ktr_ks = koffload_test_find_subsys(nla);
	if (!run->ktr_ks) {
		NL_SET_ERR_MSG_ATTR(info->extack, nla, "no such test subsystem");
		return -ENOENT;
	}

	run->ktr_calls = nla_get_u32(attrs[KOFFLOAD_TEST_A_CALLS]);
	run->ktr_op = KTEST_OP_OP_ECHO;
	if (attrs[KOFFLOAD_TEST_A_OP])
		run->ktr_op = nla_get_u32(attrs[KOFFLOAD_TEST_A_OP]);
	if (attrs[KOFFLOAD_TEST_A_TIMEOUT_MS])
		run->ktr_timeout_ms =
			nla_get_u32(attrs[KOFFLOAD_TEST_A_TIMEOUT_MS]);
	if (attrs[KOFFLOAD_TEST_A_TIMEOUT_US])
		run->ktr_timeout_us =
			nla_get_u32(attrs[KOFFLOAD_TEST_A_TIMEOUT_US]);
	run->ktr_resp_size = KOFFLOAD_PAYLOAD_MAX;
	if (attrs[KOFFLOAD_TEST_A_RESP_SIZE])
		run->ktr_resp_size =
			nla_get_u32(attrs[KOFFLOAD_TEST_A_RESP_SIZE]);

	run->ktr_nr_workers = 1;
	nla = attrs[KOFFLOAD_TEST_A_THREADS];
	if (nla) {
		run->ktr_nr_workers = nla_get_u32(nla);
		if (!run->ktr_nr_workers) {
			NL_SET_ERR_MSG_ATTR(info->extack, nla,
					    "threads must be 1 or more");
			return -EINVAL;
		}
	}

	run->ktr_context = KOFFLOAD_TEST_CONTEXT_NORMAL;
	nla = attrs[KOFFLOAD_TEST_A_CONTEXT];
	if (nla)
		run->ktr_context = nla_get_u32(nla);
	if (run->ktr_context == KOFFLOAD_TEST_CONTEXT_SELF) {
		run->ktr_nr_workers = 1;
		run->ktr_self_tgid = get_pid(task_tgid(current));
	}

	nla = attrs[KOFFLOAD_TEST_A_FLAGS];
	if (nla) {
		run->ktr_flags = nla_get_u32(nla);
		if (run->ktr_flags & ~KOFFLOAD_TEST_RUN_FLAG_ALL) {
			NL_SET_ERR_MSG_ATTR(info->extack, nla, "unknown flags");
			return -EINVAL;
		}
	}

	nla = attrs[KOFFLOAD_TEST_A_PAYLOAD];
	if (nla && nla_len(nla)) {
		run->ktr_data = kmemdup(nla_data(nla), nla_len(nla), GFP_KERNEL);
		if (!run->ktr_data)
			return -ENOMEM;
		run->ktr_data_len = nla_len(nla);
	}

	if (run->ktr_context == KOFFLOAD_TEST_CONTEXT_CACHE) {
		if (GENL_REQ_ATTR_CHECK(info, KOFFLOAD_TEST_A_CACHE_KEY))
			return -EINVAL;
		nla = attrs[KOFFLOAD_TEST_A_CACHE_KEY];
		if (!nla_len(nla)) {
			NL_SET_ERR_MSG_ATTR(info->extack, nla,
					    "cache key must not be empty");
			return -EINVAL;
		}
		run->ktr_key = kmemdup(nla_data(nla), nla_len(nla), GFP_KERNEL);
		if (!run->ktr_key)
			return -ENOMEM;
		run->ktr_key_len = nla_len(nla);
	}
	return 0;
}

/* Allocates the workers and their buffers, and spreads the calls. */
static int koffload_test_alloc_workers(struct koffload_test_run *run)
{
	u32 n = run->ktr_nr_workers;
	u32 i;

	run->ktr_workers = kcalloc(n, sizeof(*run->ktr_workers), GFP_KERNEL);
	if (!run->ktr_workers)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct koffload_test_worker *w = &run->ktr_workers[i];

		w->ktw_run = run;
		w->ktw_calls = run->ktr_calls / n + (i < run->ktr_calls % n);
		spin_lock_init(&w->ktw_lock);
		/* hard: in hardirq context on PREEMPT_RT too */
		w->ktw_irq_work = IRQ_WORK_INIT_HARD(koffload_test_irq_work);
		hrtimer_init(&w->ktw_timer, CLOCK_MONOTONIC,
			     HRTIMER_MODE_REL_SOFT);
		w->ktw_timer.function = koffload_test_softirq;
		init_completion(&w->ktw_irq_done);
		w->ktw_req = kmalloc(KOFFLOAD_TEST_REQ_SIZE, GFP_KERNEL);
		w->ktw_resp = kmalloc(KOFFLOAD_PAYLOAD_MAX, GFP_KERNEL);
		if (!w->ktw_req || !w->ktw_resp)
			return -ENOMEM;
	}
	atomic_set(&run->ktr_running, n);
	return 0;
}

/* Creates the threads without starting them; they start after the reply. */
static int koffload_test_create_threads(struct koffload_test_run *run)
{
	u32 i;

	for (i = 0; i < run->ktr_nr_workers; i++) {
		struct koffload_test_worker *w = &run->ktr_workers[i];
		struct task_struct *task;

		task = kthread_create(koffload_test_thread, w, "ktest/%u.%u",
				      run->ktr_id, i);
		if (IS_ERR(task))
			return PTR_ERR(task);
		/* ours until reaped: the thread may exit before we stop it */
		get_task_struct(task);
		w->ktw_task = task;
	}
	return 0;
}

/*
 * Once the last thread is woken the run may finish and be freed by a
 * RESULT: read nothing from it after that.
 */
static void koffload_test_start_threads(struct koffload_test_run *run)
{
	struct koffload_test_worker *workers = run->ktr_workers;
	u32 n = run->ktr_nr_workers;
	u32 i;

	for (i = 0; i < n; i++)
		wake_up_process(workers[i].ktw_task);
}

static int koffload_test_run_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct koffload_test_run *run;
	struct sk_buff *msg;
	bool self;
	void *hdr;
	u32 id;
	int err;

	run = kzalloc(sizeof(*run), GFP_KERNEL);
	if (!run)
		return -ENOMEM;
	spin_lock_init(&run->ktr_last_lock);

	err = koffload_test_parse(run, info);
	if (err)
		goto out_free;
	err = koffload_test_alloc_workers(run);
	if (err)
		goto out_free;
	err = -ENOMEM;
	msg = genlmsg_new(nla_total_size(sizeof(u32)) +
			  nla_total_size(sizeof(KOFFLOAD_TEST_SELF_FILE)),
			  GFP_KERNEL);
	if (!msg)
		goto out_free;
	err = koffload_test_insert(run, info);
	if (err)
		goto out_free_msg;

	/*
	 * The run is in the table now. Once done, a RESULT naming its id may
	 * free it: from here on @run is only used while it cannot be done
	 * (threads not started yet), and the unwind goes by id.
	 */
	id = run->ktr_id;
	self = run->ktr_context == KOFFLOAD_TEST_CONTEXT_SELF;
	if (!self) {
		err = koffload_test_create_threads(run);
		if (err)
			goto out_forget_free_msg;
	}

	err = -EMSGSIZE;
	hdr = genlmsg_put_reply(msg, info, &koffload_test_family, 0,
				KOFFLOAD_TEST_CMD_RUN);
	if (!hdr || nla_put_u32(msg, KOFFLOAD_TEST_A_RUN_ID, id) ||
	    (self && nla_put_string(msg, KOFFLOAD_TEST_A_SELF_TRIGGER,
				    KOFFLOAD_TEST_SELF_FILE)))
		goto out_forget_free_msg;
	genlmsg_end(msg, hdr);
	/* A run whose id the caller never got could never be read. */
	err = genlmsg_reply(msg, info);
	if (err)
		goto out_forget;

	if (!self)
		koffload_test_start_threads(run);
	return 0;

out_forget_free_msg:
	nlmsg_free(msg);
out_forget:
	koffload_test_forget(id);
	return err;

out_free_msg:
	nlmsg_free(msg);
out_free:
	koffload_test_free(run);
	return err;
}

static size_t koffload_test_result_size(void)
{
	return nla_total_size(sizeof(u32)) +		/* run-id */
	       nla_total_size(sizeof(u32)) +		/* done */
	       3 * nla_total_size_64bit(sizeof(u64)) +	/* waits, intact */
	       2 * nla_total_size(0) +		/* outcomes, their waits */
	       2 * (KOFFLOAD_OUTCOME_MAX + 1) * nla_total_size(sizeof(u64)) +
	       nla_total_size(KOFFLOAD_PAYLOAD_MAX);	/* last-payload */
}

/* One u64 per outcome, attr type = outcome + 1. */
static int koffload_test_put_per_outcome(struct sk_buff *msg, int attr,
					 const atomic64_t *vals)
{
	struct nlattr *nest;
	u32 i;

	nest = nla_nest_start(msg, attr);
	if (!nest)
		return -EMSGSIZE;
	for (i = 0; i <= KOFFLOAD_OUTCOME_MAX; i++) {
		u64 val = atomic64_read(&vals[i]);

		/*
		 * Plain 8-byte puts: a pad attribute inside this nest would
		 * take a type that means an outcome.
		 */
		if (nla_put(msg, i + 1, sizeof(val), &val)) {
			nla_nest_cancel(msg, nest);
			return -EMSGSIZE;
		}
	}
	nla_nest_end(msg, nest);
	return 0;
}

static int koffload_test_fill_result(struct sk_buff *msg,
				     struct genl_info *info,
				     struct koffload_test_run *run, bool done)
{
	void *hdr;
	int err;

	hdr = genlmsg_put_reply(msg, info, &koffload_test_family, 0,
				KOFFLOAD_TEST_CMD_RESULT);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(msg, KOFFLOAD_TEST_A_RUN_ID, run->ktr_id) ||
	    nla_put_u32(msg, KOFFLOAD_TEST_A_DONE, done) ||
	    nla_put_u64_64bit(msg, KOFFLOAD_TEST_A_MAX_WAIT_NS,
			      atomic64_read(&run->ktr_max_wait_ns),
			      KOFFLOAD_TEST_A_PAD) ||
	    nla_put_u64_64bit(msg, KOFFLOAD_TEST_A_TOTAL_WAIT_NS,
			      atomic64_read(&run->ktr_total_wait_ns),
			      KOFFLOAD_TEST_A_PAD) ||
	    nla_put_u64_64bit(msg, KOFFLOAD_TEST_A_INTACT,
			      atomic64_read(&run->ktr_intact),
			      KOFFLOAD_TEST_A_PAD))
		goto err_cancel;

	if (koffload_test_put_per_outcome(msg, KOFFLOAD_TEST_A_OUTCOMES,
					  run->ktr_outcomes) ||
	    koffload_test_put_per_outcome(msg, KOFFLOAD_TEST_A_OUTCOME_MAX_WAIT_NS,
					  run->ktr_outcome_max_ns))
		goto err_cancel;

	spin_lock(&run->ktr_last_lock);
	err = run->ktr_has_last ?
	      nla_put(msg, KOFFLOAD_TEST_A_LAST_PAYLOAD, run->ktr_last_len,
		      run->ktr_last) : 0;
	spin_unlock(&run->ktr_last_lock);
	if (err)
		goto err_cancel;
	genlmsg_end(msg, hdr);
	return 0;

err_cancel:
	genlmsg_cancel(msg, hdr);
	return -EMSGSIZE;
}

static int koffload_test_result_doit(struct sk_buff *skb,
				     struct genl_info *info)
{
	struct koffload_test_run *run;
	struct sk_buff *msg;
	bool done;
	u32 id;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, KOFFLOAD_TEST_A_RUN_ID))
		return -EINVAL;
	id = nla_get_u32(info->attrs[KOFFLOAD_TEST_A_RUN_ID]);

	msg = genlmsg_new(koffload_test_result_size(), GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	mutex_lock(&koffload_test_lock);
	run = koffload_test_find_locked(id);
	if (!run) {
		mutex_unlock(&koffload_test_lock);
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[KOFFLOAD_TEST_A_RUN_ID],
				    "no such run");
		nlmsg_free(msg);
		return -ENOENT;
	}
	/* Before the counts: when done reads true they are final. */
	done = smp_load_acquire(&run->ktr_done);
	err = koffload_test_fill_result(msg, info, run, done);
	mutex_unlock(&koffload_test_lock);
	if (err) {
		nlmsg_free(msg);
		return err;
	}

	err = genlmsg_reply(msg, info);
	if (err || !done)
		return err;

	/* A done run is forgotten once its result went out. */
	koffload_test_forget(id);
	return 0;
}

static const struct genl_small_ops koffload_test_ops[] = {
	{
		.cmd	= KOFFLOAD_TEST_CMD_RUN,
		.doit	= koffload_test_run_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KOFFLOAD_TEST_CMD_RESULT,
		.doit	= koffload_test_result_doit,
		.flags	= GENL_ADMIN_PERM,
	},
};

static struct genl_family koffload_test_family __ro_after_init = {
	.name		= KOFFLOAD_TEST_FAMILY_NAME,
	.version	= KOFFLOAD_TEST_FAMILY_VERSION,
	.maxattr	= KOFFLOAD_TEST_A_MAX,
	.policy		= koffload_test_nl_policy,
	.netnsok	= false,
	/* RESULT is polled while a BIND waits: never hold genl_mutex. */
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.small_ops	= koffload_test_ops,
	.n_small_ops	= ARRAY_SIZE(koffload_test_ops),
	/* Every command gets the strict header and flags checks too. */
	.resv_start_op	= KOFFLOAD_TEST_CMD_RUN,
};

/* One line per run left at unload, so the suite can check every call. */
static void koffload_test_report(struct koffload_test_run *run)
{
	char buf[384];
	u64 ended = 0;
	int len = 0;
	u32 i;

	for (i = 0; i <= KOFFLOAD_OUTCOME_MAX; i++) {
		u64 n = atomic64_read(&run->ktr_outcomes[i]);

		if (!n)
			continue;
		ended += n;
		len += scnprintf(buf + len, sizeof(buf) - len, " %u=%llu",
				 i, n);
	}
	buf[len] = '\0';
	pr_info("run %u %s context %s %s at unload: started=%lld ended=%llu outcomes:%s\n",
		run->ktr_id, run->ktr_ks->ks_name,
		koffload_test_context_names[run->ktr_context],
		run->ktr_interrupted ? "interrupted" : "finished",
		atomic64_read(&run->ktr_started), ended, buf);
}

static int __init koffload_test_init(void)
{
	unsigned int i;
	int err;

	for (i = 0; i < ARRAY_SIZE(koffload_test_subsys); i++) {
		koffload_test_subsys[i].ks_timeout_ms = koffload_test_timeout_ms;
		err = koffload_register(&koffload_test_subsys[i]);
		if (err)
			goto out_unregister;
	}
	/* optional: without debugfs, runs of context self are never triggered */
	koffload_test_debugfs = debugfs_create_dir("koffload_test", NULL);
	debugfs_create_file("self", 0200, koffload_test_debugfs, NULL,
			    &koffload_test_self_fops);
	debugfs_create_file("reregister", 0600, koffload_test_debugfs, NULL,
			    &koffload_test_rereg_fops);
	err = genl_register_family(&koffload_test_family);
	if (err)
		goto out_debugfs;
	return 0;

out_debugfs:
	debugfs_remove_recursive(koffload_test_debugfs);
out_unregister:
	while (i--)
		koffload_unregister(&koffload_test_subsys[i]);
	return err;
}

/*
 * Unload with calls pending. The order matters:
 * 1. exiting: no RUN is accepted and no worker starts another call; the
 *    debugfs files go (none is open: an open one pins the module);
 * 2. koffload_unregister() ends every pending call at once with outcome
 *    shutdown (a call a worker starts during or just after it ends the
 *    same way; the subsystems are static, so still valid);
 * 3. unregistering the family waits for RUN and RESULT handlers in flight
 *    none start after,
 *    so the run table is ours alone;
 * 4. the threads are reaped, each run reported and freed.
 */
static void __exit koffload_test_exit(void)
{
	struct koffload_test_run *run, *tmp;
	unsigned int i;

	mutex_lock(&koffload_test_lock);
	WRITE_ONCE(koffload_test_exiting, true);
	list_for_each_entry(run, &koffload_test_runs, ktr_node) {
		/* pairs with the release in koffload_test_worker_done() */
		run->ktr_interrupted = !smp_load_acquire(&run->ktr_done);
	}
	mutex_unlock(&koffload_test_lock);
	debugfs_remove_recursive(koffload_test_debugfs);

	for (i = 0; i < ARRAY_SIZE(koffload_test_subsys); i++)
		koffload_unregister(&koffload_test_subsys[i]);

	genl_unregister_family(&koffload_test_family);

	list_for_each_entry_safe(run, tmp, &koffload_test_runs, ktr_node) {
		list_del(&run->ktr_node);
		koffload_test_stop_workers(run);
		koffload_test_report(run);
		koffload_test_free(run);
	}
	koffload_test_nr_runs = 0;
}

module_init(koffload_test_init);
module_exit(koffload_test_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("koffload test callers, driven over Generic Netlink");
MODULE_ALIAS_GENL_FAMILY(KOFFLOAD_TEST_FAMILY_NAME);
