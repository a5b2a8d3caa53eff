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
/* Serialises registration, unregistration, BIND and name lookups. */
DEFINE_MUTEX(koffload_registry_mutex);

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

static void koffload_init_state(struct koffload_subsys *ks)
{
	int i;

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
	init_waitqueue_head(&ks->ks_drain_wq);
	hash_init(ks->ks_pending);
	hash_init(ks->ks_cache);
	ks->ks_shutting = false;
	ks->ks_users = 0;
	ks->ks_portid = 0;
	ks->ks_sk = NULL;
	ks->ks_bound_tgid = NULL;
	ks->ks_mode = KOFFLOAD_MODE_ON;
	ks->ks_canary_permille = KOFFLOAD_PERMILLE;
	ks->ks_cap_deadline_ms = 0;
	ks->ks_cap_inflight = 0;
	ks->ks_nr_pending = 0;
	ks->ks_circuit = KOFFLOAD_CIRCUIT_CLOSED;
	ks->ks_failures = 0;
	ks->ks_probe_out = false;
	ks->ks_cache_count = 0;
	atomic_set(&ks->ks_inflight, 0);
	for (i = 0; i <= KOFFLOAD_OUTCOME_MAX; i++)
		atomic64_set(&ks->ks_outcomes[i], 0);
	for (i = 0; i <= KOFFLOAD_COUNTER_MAX; i++)
		atomic64_set(&ks->ks_counters[i], 0);
}

/**
 * koffload_register - make a subsystem available to handlers and callers
 * @ks: the subsystem; name and limits filled in, the rest zeroed
 *
 * The subsystem starts unbound: every call falls back with
 * KOFFLOAD_OUTCOME_NO_HANDLER until a handler binds.
 *
 * Return:
 *   %0: registered; pair with koffload_unregister()
 *   %-EINVAL: bad name or limits, or @ks is already registered
 *   %-EEXIST: another subsystem has this name
 *   %-ENOSPC: no subsystem id left
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
	if (ks->ks_registered)
		goto out_unlock;
	err = -EEXIST;
	if (koffload_find_by_name(ks->ks_name))
		goto out_unlock;

	koffload_init_state(ks);
	err = xa_alloc(&koffload_subsystems, &id, ks,
		       XA_LIMIT(1, KOFFLOAD_SUBSYS_ID_MAX), GFP_KERNEL);
	if (err)
		goto out_unlock;
	ks->ks_id = id;
	spin_lock_irq(&ks->ks_lock);
	ks->ks_registered = true;
	spin_unlock_irq(&ks->ks_lock);
	pr_debug("registered subsystem %s as %u\n", ks->ks_name, id);
out_unlock:
	mutex_unlock(&koffload_registry_mutex);
	return err;
}
EXPORT_SYMBOL_GPL(koffload_register);

static bool koffload_drained(struct koffload_subsys *ks)
{
	unsigned long flags;
	bool drained;

	/*
	 * Read under ks_lock: the last caller drops ks_users and wakes us
	 * inside the lock, so once we see zero it no longer touches @ks.
	 */
	spin_lock_irqsave(&ks->ks_lock, flags);
	drained = !ks->ks_users;
	spin_unlock_irqrestore(&ks->ks_lock, flags);
	return drained;
}

/**
 * koffload_unregister - withdraw a subsystem, completing every pending call
 * @ks: a subsystem passed to koffload_register(), or one that is not
 *	registered (then nothing happens)
 *
 * Pending calls end at once with KOFFLOAD_OUTCOME_SHUTDOWN, as do calls
 * that start while this runs; the bound handler, if any, is released.
 * Returns when no call is inside koffload_call() for @ks any more. The
 * caller must not start new calls on @ks after this returns (until it
 * registers @ks again). Sleeps.
 */
void koffload_unregister(struct koffload_subsys *ks)
{
	struct sock *sk;

	mutex_lock(&koffload_registry_mutex);
	if (!ks->ks_registered) {
		mutex_unlock(&koffload_registry_mutex);
		return;
	}
	spin_lock_irq(&ks->ks_lock);
	ks->ks_shutting = true;
	ks->ks_registered = false;
	sk = koffload_unbind_locked(ks, KOFFLOAD_OUTCOME_SHUTDOWN);
	spin_unlock_irq(&ks->ks_lock);
	if (sk)
		sock_put(sk);

	xa_erase(&koffload_subsystems, ks->ks_id);
	mutex_unlock(&koffload_registry_mutex);

	wait_event(ks->ks_drain_wq, koffload_drained(ks));
	/* netlink handlers found @ks under RCU; let them finish */
	synchronize_rcu();
	koffload_cache_flush(ks);
	pr_debug("unregistered subsystem %s\n", ks->ks_name);
}
EXPORT_SYMBOL_GPL(koffload_unregister);

static int __init koffload_init(void)
{
	return koffload_nl_init();
}

static void __exit koffload_exit(void)
{
	/* Users hold a module reference, so the registry is empty here. */
	WARN_ON(!xa_empty(&koffload_subsystems));
	koffload_nl_exit();
}

module_init(koffload_init);
module_exit(koffload_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Ask userspace for decisions with a deadline and an in-kernel fallback");
MODULE_ALIAS_GENL_FAMILY(KOFFLOAD_FAMILY_NAME);
