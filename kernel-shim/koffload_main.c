// SPDX-License-Identifier: GPL-2.0
/*
 * koffload: module lifetime and the subsystem registry.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/pid.h>
#include <linux/string.h>
#include <net/sock.h>

#include "koffload_internal.h"

/* Registered subsystems by id; readers use RCU, writers the mutex. */
DEFINE_XARRAY_ALLOC1(koffload_subsystems);
/*
 * Serialises registration, unregistration, every change of a binding
 * (BIND, UNBIND, the release notifier, the exit work), PUBLISH and name
 * lookups. Never taken on the call path.
 */
DEFINE_MUTEX(koffload_registry_mutex);
/* Next subsystem id to try, under koffload_registry_mutex. */
static u32 koffload_next_id;
/*
 * Unregisters wait here: for the last caller to leave, and for a
 * concurrent unregister of the same subsystem to finish. Module-wide, so
 * registering a subsystem again never re-initialises a queue someone
 * sleeps on.
 */
DECLARE_WAIT_QUEUE_HEAD(koffload_drain_wq);

/**
 * koffload_find_by_name - look a registered subsystem up by name
 * @name: NUL-terminated name
 *
 * The caller holds koffload_registry_mutex.
 *
 * Return: the subsystem, or NULL when none has that name.
 */
struct koffload_subsys *koffload_find_by_name(const char *name)
{
	struct koffload_subsys *ks;
	unsigned long id;

	lockdep_assert_held(&koffload_registry_mutex);
	xa_for_each(&koffload_subsystems, id, ks)
		if (!strcmp(ks->ks_name, name))
			return ks;
	return NULL;
}

static int koffload_check_limits(struct koffload_subsys *ks)
{
	size_t len;

	if (!ks->ks_name)
		return -EINVAL;
	len = strnlen(ks->ks_name, KOFFLOAD_NAME_MAX);
	if (!len || len >= KOFFLOAD_NAME_MAX)
		return -EINVAL;
	if (!ks->ks_nr_ops || ks->ks_nr_ops >= KOFFLOAD_OPS_MAX)
		return -EINVAL;
	if (ks->ks_timeout_ms > KOFFLOAD_DEADLINE_MAX_MS ||
	    ks->ks_max_inflight > KOFFLOAD_INFLIGHT_MAX ||
	    ks->ks_cache_entries > KOFFLOAD_CACHE_ENTRIES_MAX ||
	    ks->ks_circuit_cooldown_ms > KOFFLOAD_DEADLINE_MAX_MS)
		return -EINVAL;
	return 0;
}

static int koffload_init_state(struct koffload_subsys *ks)
{
	int i, err;

	if (!ks->ks_timeout_ms)
		ks->ks_timeout_ms = KOFFLOAD_DEFAULT_TIMEOUT_MS;
	if (!ks->ks_max_inflight)
		ks->ks_max_inflight = KOFFLOAD_DEFAULT_MAX_INFLIGHT;
	if (!ks->ks_circuit_threshold)
		ks->ks_circuit_threshold = KOFFLOAD_DEFAULT_CIRCUIT_THRESHOLD;
	if (!ks->ks_circuit_cooldown_ms)
		ks->ks_circuit_cooldown_ms = KOFFLOAD_DEFAULT_CIRCUIT_COOLDOWN_MS;
	if (!ks->ks_cache_entries)
		ks->ks_cache_entries = KOFFLOAD_DEFAULT_CACHE_ENTRIES;

	spin_lock_init(&ks->ks_lock);
	spin_lock_init(&ks->ks_cache_lock);
	hash_init(ks->ks_pending);
	atomic_set(&ks->ks_users, 0);
	/* ks_bind_gen goes on counting: generations never repeat */
	koffload_init_binding(ks);
	ks->ks_mode = KOFFLOAD_MODE_ON;
	ks->ks_canary_permille = KOFFLOAD_PERMILLE;
	ks->ks_cap_deadline_ms = 0;
	ks->ks_cap_inflight = 0;
	ks->ks_nr_pending = 0;
	ks->ks_circuit = KOFFLOAD_CIRCUIT_CLOSED;
	ks->ks_failures = 0;
	atomic64_set(&ks->ks_open_until_ns, 0);
	atomic_set(&ks->ks_probe_out, 0);
	atomic_set(&ks->ks_inflight, 0);
	for (i = 0; i <= KOFFLOAD_OUTCOME_MAX; i++)
		atomic64_set(&ks->ks_outcomes[i], 0);
	for (i = 0; i <= KOFFLOAD_COUNTER_MAX; i++)
		atomic64_set(&ks->ks_counters[i], 0);
	err = koffload_cache_init(ks);
	return err;
}

/**
 * koffload_register - make a subsystem available to handlers and callers
 * @ks: the subsystem; name and limits filled in, the rest zeroed
 *
 * Process context; sleeps. The subsystem starts unbound: every call falls
 * back with KOFFLOAD_OUTCOME_NO_HANDLER until a handler binds. Ids are
 * handed out cyclically, so a REPLY meant for an earlier subsystem does
 * not reach a new one that took its id.
 *
 * Return:
 *   %0: registered; pair with koffload_unregister()
 *   %-EINVAL: bad name or limits, or @ks is registered or draining
 *   %-EEXIST: another subsystem has this name
 *   %-EBUSY: no subsystem id left
 *   %-ENOMEM: out of memory
 */
int koffload_register(struct koffload_subsys *ks)
{
	u32 id;
	int err;

	err = koffload_check_limits(ks);
	if (err)
		return err;

	mutex_lock(&koffload_registry_mutex);
	err = -EINVAL;
	if (READ_ONCE(ks->ks_state) != KOFFLOAD_KS_UNREGISTERED)
		goto out_unlock;
	err = -EEXIST;
	if (koffload_find_by_name(ks->ks_name))
		goto out_unlock;

	err = koffload_init_state(ks);
	if (err)
		goto out_unlock;
	err = xa_alloc_cyclic(&koffload_subsystems, &id, ks,
			      XA_LIMIT(1, KOFFLOAD_SUBSYS_ID_MAX),
			      &koffload_next_id, GFP_KERNEL);
	if (err < 0) {
		koffload_cache_destroy(ks);
		goto out_unlock;
	}
	err = 0;
	ks->ks_id = id;
	/* callers read the state without a lock, the rest after it */
	smp_store_release(&ks->ks_state, KOFFLOAD_KS_LIVE);
	pr_debug("registered subsystem %s as %u\n", ks->ks_name, id);
out_unlock:
	mutex_unlock(&koffload_registry_mutex);
	return err;
}
EXPORT_SYMBOL_GPL(koffload_register);

/**
 * koffload_unregister - withdraw a subsystem, completing every pending call
 * @ks: a subsystem passed to koffload_register(), or one that is not
 *	registered (then nothing happens)
 *
 * Process context; sleeps. Pending calls end at once with
 * KOFFLOAD_OUTCOME_SHUTDOWN, as do calls that start while this runs; the
 * bound handler, if any, is released. Returns when no call is inside
 * koffload_call() for @ks any more, also when another task is
 * unregistering @ks at the same time. The caller must not start new calls
 * on @ks after this returns (until it registers @ks again).
 */
void koffload_unregister(struct koffload_subsys *ks)
{
	u32 seq;

	mutex_lock(&koffload_registry_mutex);
	if (ks->ks_state != KOFFLOAD_KS_LIVE) {
		bool draining = ks->ks_state == KOFFLOAD_KS_DRAINING;

		seq = ks->ks_unreg_seq;
		mutex_unlock(&koffload_registry_mutex);
		/* another unregister is draining: return once it is done */
		if (draining)
			wait_event(koffload_drain_wq,
				   READ_ONCE(ks->ks_unreg_seq) != seq);
		return;
	}
	/* callers that start now end with shutdown; the sweep ends the rest */
	spin_lock_irq(&ks->ks_lock);
	WRITE_ONCE(ks->ks_state, KOFFLOAD_KS_DRAINING);
	spin_unlock_irq(&ks->ks_lock);
	xa_erase(&koffload_subsystems, ks->ks_id);
	koffload_unbind(ks, KOFFLOAD_OUTCOME_SHUTDOWN);
	mutex_unlock(&koffload_registry_mutex);

	/* every caller that saw LIVE is now counted in ks_users, or gone */
	synchronize_rcu();
	wait_event(koffload_drain_wq, !atomic_read(&ks->ks_users));
	/* the last leaver's wake-up, shadow senders, netlink handlers */
	synchronize_rcu();
	cancel_work_sync(&ks->ks_exit_work);

	mutex_lock(&koffload_registry_mutex);
	koffload_cache_destroy(ks);
	WRITE_ONCE(ks->ks_state, KOFFLOAD_KS_UNREGISTERED);
	WRITE_ONCE(ks->ks_unreg_seq, ks->ks_unreg_seq + 1);
	mutex_unlock(&koffload_registry_mutex);
	wake_up_all(&koffload_drain_wq);
	pr_debug("unregistered subsystem %s\n", ks->ks_name);
}
EXPORT_SYMBOL_GPL(koffload_unregister);

static int __init koffload_init(void)
{
	int err;

	err = koffload_fault_init();
	if (err)
		return err;
	err = koffload_nl_init();
	if (err)
		koffload_fault_exit();
	return err;
}

static void __exit koffload_exit(void)
{
	/* Users hold a module reference, so the registry is empty here. */
	WARN_ON(!xa_empty(&koffload_subsystems));
	koffload_nl_exit();
	koffload_fault_exit();
}

module_init(koffload_init);
module_exit(koffload_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Ask userspace for decisions with a deadline and an in-kernel fallback");
MODULE_ALIAS_GENL_FAMILY(KOFFLOAD_FAMILY_NAME);
