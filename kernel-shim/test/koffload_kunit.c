// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of koffload's internals, built only with
 * KOFFLOAD_FAULT_INJECT=y against a kernel with CONFIG_KUNIT (the debug
 * kernel of the fault suite). The suites run when the module loads; their
 * results are in the kernel log (KTAP) and in
 * /sys/kernel/debug/kunit/<suite>/results.
 *
 * - koffload_pending: claiming a pending call is one atomic step: of a
 *   REPLY, the deadline timer and racing claimers (signal, send failure),
 *   exactly one wins, and the pending count drops once.
 * - koffload_circuit: the breaker opens after the threshold, refuses
 *   during the cool-down, lets exactly one probe through after it, and the
 *   probe's outcome closes or reopens it.
 * - koffload_cache: entries expire, belong to their binding's generation,
 *   are reaped to make room, and the allocation counter follows them.
 * - koffload_pb: the protobuf wire helper never writes or reads outside
 *   its buffer and leaves its position unchanged on every error.
 *
 * The subsystems registered here have names no handler binds to and are
 * unregistered before each test ends.
 */

#include <kunit/test.h>
#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/hrtimer.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/koffload_pb.h>
#include <net/sock.h>

#include "../koffload_internal.h"

MODULE_IMPORT_NS(KOFFLOAD_INTERNAL);

/* ---------------------------------------------------------------- helpers */

struct koffload_kunit_ctx {
	struct koffload_subsys	ks;
};

static struct koffload_subsys *koffload_kunit_register(struct kunit *test,
						       const char *name,
						       u32 cache_entries)
{
	struct koffload_kunit_ctx *c = kunit_kzalloc(test, sizeof(*c),
						     GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, c);
	c->ks.ks_name = name;
	c->ks.ks_nr_ops = 1;
	c->ks.ks_circuit_threshold = 3;
	c->ks.ks_circuit_cooldown_ms = 50;
	c->ks.ks_cache_entries = cache_entries;
	KUNIT_ASSERT_EQ(test, koffload_register(&c->ks), 0);
	return &c->ks;
}

/* A pending entry as koffload_upcall() makes one, inserted. */
static void koffload_kunit_pend(struct koffload_subsys *ks,
				struct koffload_pending *kp, u64 id,
				u64 budget_ns, void *resp, u32 resp_size)
{
	unsigned long flags;

	memset(kp, 0, sizeof(*kp));
	kp->kp_ks = ks;
	kp->kp_id = id;
	kp->kp_deadline_ns = ktime_get_ns() + budget_ns;
	kp->kp_resp = resp;
	kp->kp_resp_size = resp_size;
	init_completion(&kp->kp_done);
	INIT_HLIST_NODE(&kp->kp_node);
	hrtimer_init_on_stack(&kp->kp_timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS);
	kp->kp_timer.function = koffload_deadline_fired;
	spin_lock_irqsave(&ks->ks_lock, flags);
	hash_add(ks->ks_pending, &kp->kp_node, kp->kp_id);
	ks->ks_nr_pending++;
	spin_unlock_irqrestore(&ks->ks_lock, flags);
}

/* ---------------------------------------------------------------- pending */

#define KOFFLOAD_KUNIT_RACERS	3
#define KOFFLOAD_KUNIT_ROUNDS	200

/* Fake sockets: only their addresses are compared, never followed. */
static struct sock koffload_kunit_sk, koffload_kunit_other_sk;

struct koffload_kunit_race {
	struct koffload_subsys	*ks;
	struct koffload_pending	*kp;
	atomic_t		go;
	atomic_t		ready;
	atomic_t		done;
	atomic_t		claims;
	atomic_t		replies;
	u32			round;
	bool			stop;
};

/* Racer 0 replies through koffload_complete_reply(), the others claim. */
static int koffload_kunit_racer(void *data)
{
	struct koffload_kunit_race *r = data;
	u32 me = atomic_inc_return(&r->ready) - 1, seen = 0;
	static const u8 answer[4] = { 1, 2, 3, 4 };

	while (!kthread_should_stop()) {
		if ((u32)atomic_read(&r->go) == seen) {
			cpu_relax();
			cond_resched();
			continue;
		}
		seen = atomic_read(&r->go);
		if (READ_ONCE(r->stop))
			break;
		if (me == 0) {
			if (!koffload_complete_reply(r->kp->kp_id,
						     &koffload_kunit_sk,
						     KOFFLOAD_STATUS_OK, answer,
						     sizeof(answer)))
				atomic_inc(&r->replies);
		} else if (koffload_claim(r->ks, r->kp)) {
			atomic_inc(&r->claims);
		}
		atomic_inc(&r->done);
	}
	while (!kthread_should_stop())
		schedule_timeout_interruptible(1);
	return 0;
}

static void koffload_kunit_claim_race(struct kunit *test)
{
	struct koffload_subsys *ks = koffload_kunit_register(test, "kunit_pend", 0);
	struct task_struct *t[KOFFLOAD_KUNIT_RACERS];
	struct koffload_kunit_race r = { .ks = ks };
	struct koffload_pending kp;
	unsigned long flags;
	u8 resp[8];
	u32 i, round, timer_wins = 0;

	/* bound to the fake socket by this process, as a BIND would */
	spin_lock_irqsave(&ks->ks_lock, flags);
	ks->ks_sk = &koffload_kunit_sk;
	ks->ks_bound_tgid = get_pid(task_tgid(current));
	spin_unlock_irqrestore(&ks->ks_lock, flags);

	r.kp = &kp;
	for (i = 0; i < KOFFLOAD_KUNIT_RACERS; i++) {
		t[i] = kthread_run(koffload_kunit_racer, &r, "koffload_kunit/%u", i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(t[i]));
	}
	for (round = 0; round < KOFFLOAD_KUNIT_ROUNDS; round++) {
		u32 claims0 = atomic_read(&r.claims), replies0 = atomic_read(&r.replies);
		u32 won;

		koffload_kunit_pend(ks, &kp, (u64)ks->ks_id << KOFFLOAD_REQ_ID_SHIFT |
				    (round + 1), (round % 20) * 1000, resp,
				    sizeof(resp));
		KUNIT_EXPECT_EQ(test, ks->ks_nr_pending, 1U);
		atomic_set(&r.done, 0);
		/* the deadline timer races the reply and the claimers */
		hrtimer_start(&kp.kp_timer, ns_to_ktime(kp.kp_deadline_ns),
			      HRTIMER_MODE_ABS);
		atomic_inc(&r.go);
		while (atomic_read(&r.done) < KOFFLOAD_KUNIT_RACERS)
			cond_resched();
		/* a claimer's win completes nothing: the caller would do it */
		won = atomic_read(&r.claims) - claims0 +
		      atomic_read(&r.replies) - replies0;
		if (!won) {
			wait_for_completion(&kp.kp_done);
			KUNIT_EXPECT_EQ(test, kp.kp_outcome,
					(u32)KOFFLOAD_OUTCOME_DEADLINE);
			timer_wins++;
			won = 1;
		} else if (atomic_read(&r.replies) != replies0) {
			/* claimed by the reply: completed with it */
			wait_for_completion(&kp.kp_done);
			KUNIT_EXPECT_TRUE(test,
					  kp.kp_outcome == KOFFLOAD_OUTCOME_SERVED ||
					  kp.kp_outcome == KOFFLOAD_OUTCOME_DEADLINE);
			if (kp.kp_outcome == KOFFLOAD_OUTCOME_SERVED)
				KUNIT_EXPECT_EQ(test, kp.kp_resp_len, 4U);
		}
		KUNIT_EXPECT_EQ(test, won, 1U);
		hrtimer_cancel(&kp.kp_timer);
		destroy_hrtimer_on_stack(&kp.kp_timer);
		KUNIT_EXPECT_TRUE(test, kp.kp_claimed);
		KUNIT_EXPECT_EQ(test, ks->ks_nr_pending, 0U);
		KUNIT_EXPECT_TRUE(test, hash_empty(ks->ks_pending));
	}
	WRITE_ONCE(r.stop, true);
	atomic_inc(&r.go);
	for (i = 0; i < KOFFLOAD_KUNIT_RACERS; i++)
		kthread_stop(t[i]);
	kunit_info(test, "%u rounds: timer won %u, reply %u, claimers %u\n",
		   KOFFLOAD_KUNIT_ROUNDS, timer_wins, atomic_read(&r.replies),
		   atomic_read(&r.claims));

	spin_lock_irqsave(&ks->ks_lock, flags);
	put_pid(ks->ks_bound_tgid);
	ks->ks_bound_tgid = NULL;
	ks->ks_sk = NULL;
	spin_unlock_irqrestore(&ks->ks_lock, flags);
	koffload_unregister(ks);
}

/* A reply from any socket but the bound one claims nothing. */
static void koffload_kunit_forged_reply(struct kunit *test)
{
	struct koffload_subsys *ks = koffload_kunit_register(test, "kunit_forge", 0);
	struct sock *other = &koffload_kunit_other_sk;
	struct koffload_pending kp;
	unsigned long flags;
	u64 id, foreign0;
	u8 resp[8];

	spin_lock_irqsave(&ks->ks_lock, flags);
	ks->ks_sk = &koffload_kunit_sk;
	ks->ks_bound_tgid = get_pid(task_tgid(current));
	spin_unlock_irqrestore(&ks->ks_lock, flags);
	id = (u64)ks->ks_id << KOFFLOAD_REQ_ID_SHIFT | 7;
	koffload_kunit_pend(ks, &kp, id, 10 * NSEC_PER_SEC, resp, sizeof(resp));

	foreign0 = atomic64_read(&ks->ks_counters[KOFFLOAD_COUNTER_FOREIGN_REPLIES]);
	KUNIT_EXPECT_EQ(test, koffload_complete_reply(id, other, KOFFLOAD_STATUS_OK,
						      NULL, 0), -EPERM);
	KUNIT_EXPECT_EQ(test, koffload_complete_reply(id, NULL, KOFFLOAD_STATUS_OK,
						      NULL, 0), -EPERM);
	KUNIT_EXPECT_EQ(test, atomic64_read(&ks->ks_counters[KOFFLOAD_COUNTER_FOREIGN_REPLIES]),
			foreign0 + 2);
	KUNIT_EXPECT_FALSE(test, kp.kp_claimed);
	/* another subsystem's id, and an id of no subsystem */
	KUNIT_EXPECT_EQ(test, koffload_complete_reply(id + 1, &koffload_kunit_sk,
						      KOFFLOAD_STATUS_OK, NULL, 0),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, koffload_complete_reply((u64)KOFFLOAD_SUBSYS_ID_MAX <<
						      KOFFLOAD_REQ_ID_SHIFT,
						      &koffload_kunit_sk,
						      KOFFLOAD_STATUS_OK, NULL, 0),
			-ENOENT);
	KUNIT_EXPECT_FALSE(test, kp.kp_claimed);
	/* too long for the caller's buffer: malformed, nothing copied */
	memset(resp, 0xaa, sizeof(resp));
	KUNIT_EXPECT_EQ(test, koffload_complete_reply(id, &koffload_kunit_sk,
						      KOFFLOAD_STATUS_OK, resp,
						      sizeof(resp) + 1),
			-EMSGSIZE);
	KUNIT_EXPECT_EQ(test, kp.kp_outcome, (u32)KOFFLOAD_OUTCOME_MALFORMED);
	KUNIT_EXPECT_EQ(test, kp.kp_resp_len, 0U);
	KUNIT_EXPECT_TRUE(test, completion_done(&kp.kp_done));
	/* a duplicate finds nothing and is counted late */
	KUNIT_EXPECT_EQ(test, koffload_complete_reply(id, &koffload_kunit_sk,
						      KOFFLOAD_STATUS_OK, NULL, 0),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, ks->ks_nr_pending, 0U);
	destroy_hrtimer_on_stack(&kp.kp_timer);

	spin_lock_irqsave(&ks->ks_lock, flags);
	put_pid(ks->ks_bound_tgid);
	ks->ks_bound_tgid = NULL;
	ks->ks_sk = NULL;
	spin_unlock_irqrestore(&ks->ks_lock, flags);
	koffload_unregister(ks);
}

static struct kunit_case koffload_pending_cases[] = {
	KUNIT_CASE(koffload_kunit_claim_race),
	KUNIT_CASE(koffload_kunit_forged_reply),
	{}
};

static struct kunit_suite koffload_pending_suite = {
	.name = "koffload_pending",
	.test_cases = koffload_pending_cases,
};

/* ---------------------------------------------------------------- circuit */

static void koffload_kunit_record(struct koffload_subsys *ks, u32 outcome,
				  bool probe)
{
	unsigned long flags;

	spin_lock_irqsave(&ks->ks_lock, flags);
	koffload_circuit_record(ks, outcome, probe);
	spin_unlock_irqrestore(&ks->ks_lock, flags);
}

static void koffload_kunit_circuit(struct kunit *test)
{
	struct koffload_subsys *ks = koffload_kunit_register(test, "kunit_circ", 0);
	bool probe = false;
	u64 opens0 = atomic64_read(&ks->ks_counters[KOFFLOAD_COUNTER_CIRCUIT_OPENS]);

	/* failures below the threshold, broken by a success, do not open it */
	koffload_kunit_record(ks, KOFFLOAD_OUTCOME_DEADLINE, false);
	koffload_kunit_record(ks, KOFFLOAD_OUTCOME_HANDLER_ERROR, false);
	koffload_kunit_record(ks, KOFFLOAD_OUTCOME_SERVED, false);
	koffload_kunit_record(ks, KOFFLOAD_OUTCOME_MALFORMED, false);
	koffload_kunit_record(ks, KOFFLOAD_OUTCOME_DEADLINE, false);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ks->ks_circuit), (u32)KOFFLOAD_CIRCUIT_CLOSED);
	/* outcomes that say nothing of the handler do not count */
	koffload_kunit_record(ks, KOFFLOAD_OUTCOME_OVERLOAD, false);
	koffload_kunit_record(ks, KOFFLOAD_OUTCOME_SIGNAL, false);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ks->ks_circuit), (u32)KOFFLOAD_CIRCUIT_CLOSED);
	KUNIT_EXPECT_TRUE(test, koffload_circuit_admit(ks, &probe));
	KUNIT_EXPECT_FALSE(test, probe);

	/* the third consecutive failure opens it */
	koffload_kunit_record(ks, KOFFLOAD_OUTCOME_DEADLINE, false);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ks->ks_circuit), (u32)KOFFLOAD_CIRCUIT_OPEN);
	KUNIT_EXPECT_EQ(test, atomic64_read(&ks->ks_counters[KOFFLOAD_COUNTER_CIRCUIT_OPENS]),
			opens0 + 1);
	KUNIT_EXPECT_FALSE(test, koffload_circuit_admit(ks, &probe));
	/* late failures of calls admitted before it opened change nothing */
	koffload_kunit_record(ks, KOFFLOAD_OUTCOME_DEADLINE, false);
	KUNIT_EXPECT_EQ(test, atomic64_read(&ks->ks_counters[KOFFLOAD_COUNTER_CIRCUIT_OPENS]),
			opens0 + 1);

	/* after the cool-down exactly one probe goes through */
	msleep(ks->ks_circuit_cooldown_ms + 20);
	KUNIT_EXPECT_TRUE(test, koffload_circuit_admit(ks, &probe));
	KUNIT_EXPECT_TRUE(test, probe);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ks->ks_circuit), (u32)KOFFLOAD_CIRCUIT_HALF_OPEN);
	probe = false;
	KUNIT_EXPECT_FALSE(test, koffload_circuit_admit(ks, &probe));
	KUNIT_EXPECT_FALSE(test, probe);

	/* a failed probe reopens it for a new cool-down */
	koffload_kunit_record(ks, KOFFLOAD_OUTCOME_DEADLINE, true);
	atomic_set(&ks->ks_probe_out, 0);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ks->ks_circuit), (u32)KOFFLOAD_CIRCUIT_OPEN);
	KUNIT_EXPECT_FALSE(test, koffload_circuit_admit(ks, &probe));

	/* a probe that proves nothing leaves it half open for the next one */
	msleep(ks->ks_circuit_cooldown_ms + 20);
	KUNIT_EXPECT_TRUE(test, koffload_circuit_admit(ks, &probe));
	koffload_kunit_record(ks, KOFFLOAD_OUTCOME_OVERLOAD, true);
	atomic_set(&ks->ks_probe_out, 0);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ks->ks_circuit), (u32)KOFFLOAD_CIRCUIT_HALF_OPEN);

	/* a served probe closes it */
	probe = false;
	KUNIT_EXPECT_TRUE(test, koffload_circuit_admit(ks, &probe));
	KUNIT_EXPECT_TRUE(test, probe);
	koffload_kunit_record(ks, KOFFLOAD_OUTCOME_SERVED, true);
	atomic_set(&ks->ks_probe_out, 0);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ks->ks_circuit), (u32)KOFFLOAD_CIRCUIT_CLOSED);
	probe = false;
	KUNIT_EXPECT_TRUE(test, koffload_circuit_admit(ks, &probe));
	KUNIT_EXPECT_FALSE(test, probe);
	KUNIT_EXPECT_EQ(test, atomic64_read(&ks->ks_counters[KOFFLOAD_COUNTER_CIRCUIT_OPENS]),
			opens0 + 2);
	koffload_unregister(ks);
}

static struct kunit_case koffload_circuit_cases[] = {
	KUNIT_CASE(koffload_kunit_circuit),
	{}
};

static struct kunit_suite koffload_circuit_suite = {
	.name = "koffload_circuit",
	.test_cases = koffload_circuit_cases,
};

/* ---------------------------------------------------------------- cache */

static int koffload_kunit_lookup(struct koffload_subsys *ks, const char *key)
{
	u8 buf[16];

	return koffload_cache_lookup(ks, key, strlen(key), buf, sizeof(buf));
}

/* As the PUBLISH doit does: the entry first, ttl 0 deletes. */
static int koffload_kunit_publish(struct koffload_subsys *ks, const char *key,
				  u32 ttl_ms, u32 gen)
{
	struct koffload_cache_entry *e = NULL;

	if (ttl_ms) {
		e = koffload_cache_entry_new(key, strlen(key), "abcd", 4, ttl_ms);
		if (IS_ERR(e))
			return PTR_ERR(e);
	}
	return koffload_cache_publish(ks, key, strlen(key), e, gen);
}

/* Lookups hit only while something is bound: pretend a port is. */
static struct koffload_subsys *koffload_kunit_cache_subsys(struct kunit *test,
							   const char *name)
{
	struct koffload_subsys *ks = koffload_kunit_register(test, name, 4);

	WRITE_ONCE(ks->ks_portid, 1);
	return ks;
}

static void koffload_kunit_cache_done(struct koffload_subsys *ks)
{
	WRITE_ONCE(ks->ks_portid, 0);
	koffload_unregister(ks);
}

static void koffload_kunit_cache_expiry(struct kunit *test)
{
	struct koffload_subsys *ks = koffload_kunit_cache_subsys(test, "kunit_exp");
	u32 gen = ks->ks_bind_gen;
	u8 small[2];

	KUNIT_EXPECT_EQ(test, koffload_kunit_publish(ks, "k1", 30, gen), 0);
	KUNIT_EXPECT_EQ(test, koffload_kunit_publish(ks, "k2", 10000, gen), 0);
	KUNIT_EXPECT_EQ(test, koffload_kunit_lookup(ks, "k1"), 4);
	KUNIT_EXPECT_EQ(test, koffload_cache_lookup(ks, "k2", 2, small, sizeof(small)),
			-EMSGSIZE);
	msleep(60);
	KUNIT_EXPECT_EQ(test, koffload_kunit_lookup(ks, "k1"), -ENOENT);
	KUNIT_EXPECT_EQ(test, koffload_kunit_lookup(ks, "k2"), 4);
	/* ttl 0 deletes; deleting what is not there says so */
	KUNIT_EXPECT_EQ(test, koffload_kunit_publish(ks, "k2", 0, gen), 0);
	KUNIT_EXPECT_EQ(test, koffload_kunit_lookup(ks, "k2"), -ENOENT);
	KUNIT_EXPECT_EQ(test, koffload_kunit_publish(ks, "k2", 0, gen), -ENOENT);
	/* bad key lengths */
	KUNIT_EXPECT_EQ(test, koffload_cache_publish(ks, "", 0, NULL, gen),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, koffload_kunit_publish(ks, "", 10, gen), -EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(koffload_cache_entry_new("k", 1, "abcd",
							       KOFFLOAD_PAYLOAD_MAX + 1,
							       10)), -EINVAL);
	KUNIT_EXPECT_EQ(test, koffload_cache_lookup(ks, "x", KOFFLOAD_KEY_MAX + 1,
						    small, sizeof(small)), -EINVAL);
	koffload_kunit_cache_done(ks);
}

static void koffload_kunit_cache_generation(struct kunit *test)
{
	struct koffload_subsys *ks = koffload_kunit_cache_subsys(test, "kunit_gen");
	u32 gen = ks->ks_bind_gen;
	unsigned long flags;

	KUNIT_EXPECT_EQ(test, koffload_kunit_publish(ks, "a", 10000, gen), 0);
	KUNIT_EXPECT_EQ(test, koffload_kunit_lookup(ks, "a"), 4);
	/* an entry published under another binding never hits */
	KUNIT_EXPECT_EQ(test, koffload_kunit_publish(ks, "b", 10000, gen + 1), 0);
	KUNIT_EXPECT_EQ(test, koffload_kunit_lookup(ks, "b"), -ENOENT);
	/* a new binding: the old entries miss */
	spin_lock_irqsave(&ks->ks_lock, flags);
	ks->ks_bind_gen++;
	spin_unlock_irqrestore(&ks->ks_lock, flags);
	KUNIT_EXPECT_EQ(test, koffload_kunit_lookup(ks, "a"), -ENOENT);
	KUNIT_EXPECT_EQ(test, koffload_kunit_lookup(ks, "b"), 4);
	/* nothing bound, or mode off: misses */
	WRITE_ONCE(ks->ks_portid, 0);
	KUNIT_EXPECT_EQ(test, koffload_kunit_lookup(ks, "b"), -ENOENT);
	WRITE_ONCE(ks->ks_portid, 1);
	WRITE_ONCE(ks->ks_mode, KOFFLOAD_MODE_OFF);
	KUNIT_EXPECT_EQ(test, koffload_kunit_lookup(ks, "b"), -ENOENT);
	WRITE_ONCE(ks->ks_mode, KOFFLOAD_MODE_ON);
	koffload_cache_flush(ks);
	KUNIT_EXPECT_EQ(test, koffload_kunit_lookup(ks, "b"), -ENOENT);
	KUNIT_EXPECT_EQ(test, ks->ks_cache_count, 0U);
	koffload_kunit_cache_done(ks);
}

static void koffload_kunit_cache_room(struct kunit *test)
{
	struct koffload_subsys *ks = koffload_kunit_cache_subsys(test, "kunit_room");
	u32 gen = ks->ks_bind_gen;
	char key[8];
	int i;

	/* full of live entries: no room */
	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "l%d", i);
		KUNIT_EXPECT_EQ(test, koffload_kunit_publish(ks, key, 10000, gen), 0);
	}
	KUNIT_EXPECT_EQ(test, koffload_kunit_publish(ks, "new", 10000, gen), -ENOSPC);
	/* replacing an entry needs no room */
	KUNIT_EXPECT_EQ(test, koffload_kunit_publish(ks, "l0", 10000, gen), 0);
	KUNIT_EXPECT_EQ(test, ks->ks_cache_count, 4U);
	koffload_cache_flush(ks);

	/* full of expired entries: reaped */
	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "e%d", i);
		KUNIT_EXPECT_EQ(test, koffload_kunit_publish(ks, key, 1, gen), 0);
	}
	msleep(20);
	KUNIT_EXPECT_EQ(test, koffload_kunit_publish(ks, "new", 10000, gen), 0);
	KUNIT_EXPECT_LE(test, ks->ks_cache_count, 4U);
	KUNIT_EXPECT_EQ(test, koffload_kunit_lookup(ks, "new"), 4);
	koffload_cache_flush(ks);

	/* full of an earlier binding's entries: reaped for the new one */
	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "g%d", i);
		KUNIT_EXPECT_EQ(test, koffload_kunit_publish(ks, key, 10000, gen), 0);
	}
	KUNIT_EXPECT_EQ(test, koffload_kunit_publish(ks, "new", 10000, gen + 1), 0);
	KUNIT_EXPECT_LE(test, ks->ks_cache_count, 4U);
	koffload_cache_flush(ks);
	KUNIT_EXPECT_EQ(test, ks->ks_cache_count, 0U);
	koffload_kunit_cache_done(ks);
}

static struct kunit_case koffload_cache_cases[] = {
	KUNIT_CASE(koffload_kunit_cache_expiry),
	KUNIT_CASE(koffload_kunit_cache_generation),
	KUNIT_CASE(koffload_kunit_cache_room),
	{}
};

static struct kunit_suite koffload_cache_suite = {
	.name = "koffload_cache",
	.test_cases = koffload_cache_cases,
};

/* ---------------------------------------------------------------- pb */

static void koffload_kunit_pb_writer(struct kunit *test)
{
	struct koffload_pb_writer w;
	u8 buf[8];
	u8 big[16] = { };

	/* a varint of 300 under field 1: tag + 2 bytes */
	KUNIT_ASSERT_EQ(test, koffload_pb_writer_init(&w, buf, 3), 0);
	KUNIT_EXPECT_EQ(test, koffload_pb_put_varint(&w, 1, 300), 0);
	KUNIT_EXPECT_EQ(test, koffload_pb_writer_finish(&w), 3);
	KUNIT_EXPECT_EQ(test, buf[0], 0x08);
	KUNIT_EXPECT_EQ(test, buf[1], 0xac);
	KUNIT_EXPECT_EQ(test, buf[2], 0x02);
	/* one byte short: nothing written, the error sticks */
	memset(buf, 0, sizeof(buf));
	koffload_pb_writer_init(&w, buf, 2);
	KUNIT_EXPECT_EQ(test, koffload_pb_put_varint(&w, 1, 300), -EMSGSIZE);
	KUNIT_EXPECT_EQ(test, w.kpw_len, 0U);
	KUNIT_EXPECT_EQ(test, buf[0], 0);
	KUNIT_EXPECT_EQ(test, koffload_pb_put_varint(&w, 1, 1), -EMSGSIZE);
	KUNIT_EXPECT_EQ(test, koffload_pb_writer_finish(&w), -EMSGSIZE);
	/* bytes: exactly fitting, then one too many */
	koffload_pb_writer_init(&w, buf, 8);
	KUNIT_EXPECT_EQ(test, koffload_pb_put_bytes(&w, 2, big, 6), 0);
	KUNIT_EXPECT_EQ(test, koffload_pb_writer_finish(&w), 8);
	koffload_pb_writer_init(&w, buf, 8);
	KUNIT_EXPECT_EQ(test, koffload_pb_put_bytes(&w, 2, big, 7), -EMSGSIZE);
	KUNIT_EXPECT_EQ(test, w.kpw_len, 0U);
	/* a length near U32_MAX must not wrap the room check */
	koffload_pb_writer_init(&w, buf, 8);
	KUNIT_EXPECT_EQ(test, koffload_pb_put_bytes(&w, 2, big, U32_MAX), -EMSGSIZE);
	/* bad field numbers */
	koffload_pb_writer_init(&w, buf, 8);
	KUNIT_EXPECT_EQ(test, koffload_pb_put_varint(&w, 0, 1), -EINVAL);
	koffload_pb_writer_init(&w, buf, 8);
	KUNIT_EXPECT_EQ(test, koffload_pb_put_varint(&w, KOFFLOAD_PB_FIELD_MAX + 1, 1),
			-EINVAL);
	/* fixed widths at the edge */
	koffload_pb_writer_init(&w, buf, 4);
	KUNIT_EXPECT_EQ(test, koffload_pb_put_fixed32(&w, 1, 7), -EMSGSIZE);
	koffload_pb_writer_init(&w, buf, 5);
	KUNIT_EXPECT_EQ(test, koffload_pb_put_fixed32(&w, 1, 7), 0);
	koffload_pb_writer_init(&w, buf, 8);
	KUNIT_EXPECT_EQ(test, koffload_pb_put_fixed64(&w, 1, 7), -EMSGSIZE);
	/* too large a buffer is refused */
	KUNIT_EXPECT_EQ(test, koffload_pb_writer_init(&w, buf, (u32)INT_MAX + 1), -EINVAL);
}

static void koffload_kunit_pb_reader(struct kunit *test)
{
	static const u8 trunc_varint[] = { 0x08, 0x80, 0x80 };
	static const u8 long_varint[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
					  0xff, 0xff, 0xff, 0xff, 0x02 };
	static const u8 len_past_end[] = { 0x12, 0x05, 'a', 'b' };
	static const u8 len_huge[] = { 0x12, 0xff, 0xff, 0xff, 0xff, 0x0f };
	static const u8 short_fixed32[] = { 0x0d, 1, 2, 3 };
	static const u8 short_fixed64[] = { 0x09, 1, 2, 3, 4, 5, 6, 7 };
	static const u8 group[] = { 0x0b };
	static const u8 field0[] = { 0x00, 0x01 };
	static const u8 u32_over[] = { 0x08, 0x80, 0x80, 0x80, 0x80, 0x10 };
	struct koffload_pb_reader r;
	const u8 *data;
	u32 field, wire, len, v32;
	u64 v;

	koffload_pb_reader_init(&r, trunc_varint, sizeof(trunc_varint));
	KUNIT_EXPECT_EQ(test, koffload_pb_next(&r, &field, &wire), 1);
	KUNIT_EXPECT_EQ(test, koffload_pb_read_varint(&r, &v), -EBADMSG);
	KUNIT_EXPECT_EQ(test, r.kpr_pos, 1U);

	koffload_pb_reader_init(&r, long_varint, sizeof(long_varint));
	KUNIT_EXPECT_EQ(test, koffload_pb_next(&r, &field, &wire), 1);
	KUNIT_EXPECT_EQ(test, koffload_pb_read_varint(&r, &v), -EBADMSG);
	KUNIT_EXPECT_EQ(test, r.kpr_pos, 1U);

	koffload_pb_reader_init(&r, len_past_end, sizeof(len_past_end));
	KUNIT_EXPECT_EQ(test, koffload_pb_next(&r, &field, &wire), 1);
	KUNIT_EXPECT_EQ(test, wire, (u32)KOFFLOAD_PB_WIRE_LEN);
	KUNIT_EXPECT_EQ(test, koffload_pb_read_bytes(&r, &data, &len), -EBADMSG);
	KUNIT_EXPECT_EQ(test, koffload_pb_skip(&r, wire), -EBADMSG);
	KUNIT_EXPECT_EQ(test, r.kpr_pos, 1U);

	koffload_pb_reader_init(&r, len_huge, sizeof(len_huge));
	KUNIT_EXPECT_EQ(test, koffload_pb_next(&r, &field, &wire), 1);
	KUNIT_EXPECT_EQ(test, koffload_pb_read_bytes(&r, &data, &len), -EBADMSG);
	KUNIT_EXPECT_EQ(test, r.kpr_pos, 1U);

	koffload_pb_reader_init(&r, short_fixed32, sizeof(short_fixed32));
	KUNIT_EXPECT_EQ(test, koffload_pb_next(&r, &field, &wire), 1);
	KUNIT_EXPECT_EQ(test, koffload_pb_read_fixed32(&r, &v32), -EBADMSG);
	KUNIT_EXPECT_EQ(test, koffload_pb_skip(&r, wire), -EBADMSG);
	KUNIT_EXPECT_EQ(test, r.kpr_pos, 1U);

	koffload_pb_reader_init(&r, short_fixed64, sizeof(short_fixed64));
	KUNIT_EXPECT_EQ(test, koffload_pb_next(&r, &field, &wire), 1);
	KUNIT_EXPECT_EQ(test, koffload_pb_read_fixed64(&r, &v), -EBADMSG);
	KUNIT_EXPECT_EQ(test, r.kpr_pos, 1U);

	/* groups and field 0 are refused, position unchanged */
	koffload_pb_reader_init(&r, group, sizeof(group));
	KUNIT_EXPECT_EQ(test, koffload_pb_next(&r, &field, &wire), 1);
	KUNIT_EXPECT_EQ(test, koffload_pb_skip(&r, wire), -EBADMSG);
	koffload_pb_reader_init(&r, field0, sizeof(field0));
	KUNIT_EXPECT_EQ(test, koffload_pb_next(&r, &field, &wire), -EBADMSG);
	KUNIT_EXPECT_EQ(test, r.kpr_pos, 0U);

	/* a varint over U32_MAX is no u32 */
	koffload_pb_reader_init(&r, u32_over, sizeof(u32_over));
	KUNIT_EXPECT_EQ(test, koffload_pb_next(&r, &field, &wire), 1);
	KUNIT_EXPECT_EQ(test, koffload_pb_read_u32(&r, &v32), -EBADMSG);
	KUNIT_EXPECT_EQ(test, r.kpr_pos, 1U);

	/* the empty buffer ends at once */
	koffload_pb_reader_init(&r, NULL, 0);
	KUNIT_EXPECT_EQ(test, koffload_pb_next(&r, &field, &wire), 0);
}

/* Every prefix of a valid message decodes or fails, never reads past it. */
static void koffload_kunit_pb_prefixes(struct kunit *test)
{
	struct koffload_pb_writer w;
	struct koffload_pb_reader r;
	u8 msg[64], *copy;
	u32 field, wire, n, ok = 0;
	int len, rc;

	koffload_pb_writer_init(&w, msg, sizeof(msg));
	koffload_pb_put_varint(&w, 1, U64_MAX);
	koffload_pb_put_bytes(&w, 2, "hello", 5);
	koffload_pb_put_fixed32(&w, 3, 0xdeadbeef);
	koffload_pb_put_fixed64(&w, 4, 1);
	koffload_pb_put_bool(&w, 5, true);
	len = koffload_pb_writer_finish(&w);
	KUNIT_ASSERT_GT(test, len, 0);

	for (n = 0; n <= len; n++) {
		/* exactly n bytes, so KASAN sees any read past the end */
		copy = kunit_kmalloc(test, n ?: 1, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, copy);
		memcpy(copy, msg, n);
		koffload_pb_reader_init(&r, copy, n);
		while ((rc = koffload_pb_next(&r, &field, &wire)) == 1)
			if (koffload_pb_skip(&r, wire))
				break;
		KUNIT_EXPECT_LE(test, r.kpr_pos, n);
		if (rc == 0)
			ok++;
	}
	/* the whole message and the empty prefix parse to the end */
	KUNIT_EXPECT_GE(test, ok, 2U);
}

static struct kunit_case koffload_pb_cases[] = {
	KUNIT_CASE(koffload_kunit_pb_writer),
	KUNIT_CASE(koffload_kunit_pb_reader),
	KUNIT_CASE(koffload_kunit_pb_prefixes),
	{}
};

static struct kunit_suite koffload_pb_suite = {
	.name = "koffload_pb",
	.test_cases = koffload_pb_cases,
};

kunit_test_suites(&koffload_pending_suite, &koffload_circuit_suite,
		  &koffload_cache_suite, &koffload_pb_suite);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("KUnit tests of koffload's internals");
