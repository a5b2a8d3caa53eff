// SPDX-License-Identifier: GPL-2.0
/*
 * koffload: the advisory cache. Handlers PUBLISH decisions ahead of time;
 * kernel callers read them without a round trip, also where they may not
 * wait (atomic context, IRQs off, reclaim). Lookups take no lock and
 * allocate nothing: entries are RCU-protected and replaced, never changed
 * in place. An entry belongs to the binding that published it: lookups
 * miss while the mode is off or shadow, while nothing is bound, and for
 * entries of an earlier binding, and unbinding flushes the cache.
 */

#include <linux/jhash.h>
#include <linux/log2.h>
#include <linux/random.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "koffload_internal.h"

/* Buckets a full cache scans for expired entries on one publish. */
#define KOFFLOAD_CACHE_REAP_SCAN	16

/**
 * struct koffload_cache_entry - one published decision
 * @kce_node: in ks_cache
 * @kce_rcu: frees the entry after readers are done
 * @kce_expires_ns: CLOCK_MONOTONIC time after which lookups miss it
 * @kce_gen: ks_bind_gen of the binding that published it
 * @kce_hash: jhash of the key
 * @kce_key_len: key length
 * @kce_len: payload length
 * @kce_key: the key
 * @kce_data: the payload
 */
struct koffload_cache_entry {
	struct hlist_node	kce_node;
	struct rcu_head		kce_rcu;
	u64			kce_expires_ns;
	u32			kce_gen;
	u32			kce_hash;
	u16			kce_key_len;
	u16			kce_len;
	u8			kce_key[KOFFLOAD_KEY_MAX];
	u8			kce_data[];
};

static u32 koffload_cache_hash(const void *key, u32 key_len)
{
	return jhash(key, key_len, 0);
}

static struct hlist_head *koffload_cache_bucket(struct koffload_subsys *ks,
						u32 hash)
{
	return &ks->ks_cache[hash_32(hash, ks->ks_cache_bits)];
}

/**
 * koffload_cache_init - allocate the cache of a subsystem being registered
 * @ks: the subsystem; ks_cache_entries set
 *
 * One bucket per entry of capacity (rounded up to a power of two), so
 * chains stay short for lookups from reclaim context.
 *
 * Return: 0, or %-ENOMEM.
 */
int koffload_cache_init(struct koffload_subsys *ks)
{
	u32 i;

	ks->ks_cache_bits = max_t(u32, order_base_2(ks->ks_cache_entries), 1);
	ks->ks_cache = kvmalloc_array(BIT(ks->ks_cache_bits),
				      sizeof(*ks->ks_cache), GFP_KERNEL);
	if (!ks->ks_cache)
		return -ENOMEM;
	for (i = 0; i < BIT(ks->ks_cache_bits); i++)
		INIT_HLIST_HEAD(&ks->ks_cache[i]);
	ks->ks_pcpu = alloc_percpu(struct koffload_subsys_pcpu);
	if (!ks->ks_pcpu) {
		kvfree(ks->ks_cache);
		ks->ks_cache = NULL;
		return -ENOMEM;
	}
	ks->ks_cache_count = 0;
	ks->ks_cache_cursor = 0;
	koffload_alloc_note(KOFFLOAD_ALLOC_CACHE_TABLE, 1);
	return 0;
}

static struct koffload_cache_entry *
koffload_cache_find(struct koffload_subsys *ks, const void *key, u32 key_len,
		    u32 hash)
{
	struct koffload_cache_entry *e;

	hlist_for_each_entry_rcu(e, koffload_cache_bucket(ks, hash), kce_node,
				 lockdep_is_held(&ks->ks_cache_lock))
		if (e->kce_hash == hash && e->kce_key_len == key_len &&
		    !memcmp(e->kce_key, key, key_len))
			return e;
	return NULL;
}

/* Drop @e from the cache; ks_cache_lock held. */
static void koffload_cache_drop(struct koffload_subsys *ks,
				struct koffload_cache_entry *e)
{
	hlist_del_rcu(&e->kce_node);
	ks->ks_cache_count--;
	kfree_rcu(e, kce_rcu);
	koffload_alloc_note(KOFFLOAD_ALLOC_CACHE_ENTRY, -1);
}

/*
 * Reap the expired and stale entries of one bucket, ks_cache_lock held.
 * Returns how many were dropped.
 */
static u32 koffload_cache_reap_bucket(struct koffload_subsys *ks,
				      struct hlist_head *head, u64 now,
				      u32 gen)
{
	struct koffload_cache_entry *e;
	struct hlist_node *tmp;
	u32 n = 0;

	hlist_for_each_entry_safe(e, tmp, head, kce_node) {
		if (e->kce_expires_ns <= now || e->kce_gen != gen) {
			koffload_cache_drop(ks, e);
			n++;
		}
	}
	return n;
}

/*
 * A full cache: reap a bounded run of buckets from a moving cursor, so a
 * publish costs O(KOFFLOAD_CACHE_REAP_SCAN) buckets, never the whole
 * table. ks_cache_lock held.
 */
static bool koffload_cache_make_room(struct koffload_subsys *ks, u64 now,
				     u32 gen)
{
	u32 mask = BIT(ks->ks_cache_bits) - 1;
	u32 i, freed = 0;

	for (i = 0; i < KOFFLOAD_CACHE_REAP_SCAN && i <= mask; i++) {
		freed += koffload_cache_reap_bucket(ks,
						    &ks->ks_cache[ks->ks_cache_cursor],
						    now, gen);
		ks->ks_cache_cursor = (ks->ks_cache_cursor + 1) & mask;
	}
	return freed > 0;
}

/**
 * koffload_cache_entry_new - allocate an entry for koffload_cache_publish()
 * @key: cache key
 * @key_len: its length, 1..KOFFLOAD_KEY_MAX
 * @data: the decision payload
 * @len: its length, at most KOFFLOAD_PAYLOAD_MAX
 * @ttl_ms: lifetime, more than zero
 *
 * Process context (the PUBLISH doit, before it takes any lock); may sleep.
 * Charged to the publisher's memory cgroup.
 *
 * Return: the entry, ERR_PTR(-EINVAL) for bad lengths, ERR_PTR(-ENOMEM).
 */
struct koffload_cache_entry *koffload_cache_entry_new(const void *key,
						      u32 key_len,
						      const void *data,
						      u32 len, u32 ttl_ms)
{
	struct koffload_cache_entry *e;

	if (!key_len || key_len > KOFFLOAD_KEY_MAX ||
	    len > KOFFLOAD_PAYLOAD_MAX || !ttl_ms)
		return ERR_PTR(-EINVAL);
	e = kmalloc(struct_size(e, kce_data, len), GFP_KERNEL_ACCOUNT);
	if (!e)
		return ERR_PTR(-ENOMEM);
	e->kce_expires_ns = ktime_get_ns() + (u64)ttl_ms * NSEC_PER_MSEC;
	e->kce_hash = koffload_cache_hash(key, key_len);
	e->kce_key_len = key_len;
	e->kce_len = len;
	memcpy(e->kce_key, key, key_len);
	if (len)
		memcpy(e->kce_data, data, len);
	koffload_alloc_note(KOFFLOAD_ALLOC_CACHE_ENTRY, 1);
	return e;
}

KOFFLOAD_EXPORT_FOR_TEST(koffload_cache_entry_new);

/**
 * koffload_cache_entry_free - free an entry that never entered the cache
 * @e: from koffload_cache_entry_new(), or NULL
 *
 * Any context; takes no lock. Keeps the test builds' allocation counter
 * true for entries a failed PUBLISH drops.
 */
void koffload_cache_entry_free(struct koffload_cache_entry *e)
{
	koffload_alloc_freed(KOFFLOAD_ALLOC_CACHE_ENTRY, e);
	kfree(e);
}

/**
 * koffload_cache_publish - insert, replace or delete an advisory decision
 * @ks: the subsystem
 * @key: cache key, 1..KOFFLOAD_KEY_MAX bytes
 * @key_len: its length
 * @e: from koffload_cache_entry_new() for @key, or NULL to delete @key;
 *	consumed whatever the result
 * @gen: the binding generation the publisher was checked against
 *
 * Any context that may take a BH-disabling spinlock; allocates nothing
 * (the PUBLISH doit calls it with koffload_registry_mutex held).
 *
 * Return:
 *   %0: done
 *   %-EINVAL: bad key length
 *   %-ENOENT: @e is NULL and there was no such entry
 *   %-ENOSPC: the cache is full of live entries
 */
int koffload_cache_publish(struct koffload_subsys *ks, const void *key,
			   u32 key_len, struct koffload_cache_entry *e,
			   u32 gen)
{
	u32 hash = koffload_cache_hash(key, key_len);
	struct koffload_cache_entry *old;
	u64 now = ktime_get_ns();
	int err;

	if (!key_len || key_len > KOFFLOAD_KEY_MAX) {
		koffload_cache_entry_free(e);
		return -EINVAL;
	}
	if (e)
		e->kce_gen = gen;

	spin_lock_bh(&ks->ks_cache_lock);
	old = koffload_cache_find(ks, key, key_len, hash);
	err = 0;
	if (old && e) {
		hlist_replace_rcu(&old->kce_node, &e->kce_node);
		kfree_rcu(old, kce_rcu);
		koffload_alloc_note(KOFFLOAD_ALLOC_CACHE_ENTRY, -1);
	} else if (old) {
		koffload_cache_drop(ks, old);
	} else if (!e) {
		err = -ENOENT;
	} else {
		/* the bucket we touch anyway first, then a bounded scan */
		if (ks->ks_cache_count >= ks->ks_cache_entries)
			koffload_cache_reap_bucket(ks,
						   koffload_cache_bucket(ks, hash),
						   now, gen);
		if (ks->ks_cache_count >= ks->ks_cache_entries)
			koffload_cache_make_room(ks, now, gen);
		if (ks->ks_cache_count >= ks->ks_cache_entries) {
			err = -ENOSPC;
		} else {
			hlist_add_head_rcu(&e->kce_node,
					   koffload_cache_bucket(ks, hash));
			ks->ks_cache_count++;
		}
	}
	spin_unlock_bh(&ks->ks_cache_lock);

	if (err)
		koffload_cache_entry_free(e);
	return err;
}

KOFFLOAD_EXPORT_FOR_TEST(koffload_cache_publish);

/* Canary mode samples lookups as it samples calls; never in NMI. */
static bool koffload_cache_mode_allows(struct koffload_subsys *ks)
{
	switch (READ_ONCE(ks->ks_mode)) {
	case KOFFLOAD_MODE_ON:
		return true;
	case KOFFLOAD_MODE_CANARY:
		return !in_nmi() && get_random_u32_below(KOFFLOAD_PERMILLE) <
				    READ_ONCE(ks->ks_canary_permille);
	default:
		return false;
	}
}

/**
 * koffload_cache_lookup - read a published decision without waiting
 * @ks: a registered subsystem
 * @key: cache key
 * @key_len: its length, 1..KOFFLOAD_KEY_MAX
 * @buf: where to copy the payload
 * @buf_size: size of @buf
 *
 * Safe in any context, including atomic context, IRQs off, hardirq,
 * reclaim and NOFS/NOIO scopes: it takes no lock, allocates nothing and
 * never sleeps. Only decisions of the handler bound now count, and only
 * in mode on (or canary, for the sampled fraction of lookups). Counts a
 * hit or a miss on @ks (per CPU).
 *
 * Return:
 *   >= 0: hit; the number of payload bytes copied to @buf
 *   %-ENOENT: no live entry of the bound handler for @key (never
 *	published, deleted, expired, of an earlier binding, mode off or
 *	shadow, nothing bound), or @ks is not registered
 *   %-EMSGSIZE: the payload is larger than @buf_size; nothing copied
 *   %-EINVAL: bad key length
 */
int koffload_cache_lookup(struct koffload_subsys *ks, const void *key,
			  u32 key_len, void *buf, u32 buf_size)
{
	struct koffload_cache_entry *e;
	int ret = -ENOENT;
	u32 gen;

	if (!key_len || key_len > KOFFLOAD_KEY_MAX)
		return -EINVAL;

	rcu_read_lock();
	if (koffload_state(ks) != KOFFLOAD_KS_LIVE) {
		rcu_read_unlock();
		return -ENOENT;
	}
	gen = READ_ONCE(ks->ks_bind_gen);
	if (READ_ONCE(ks->ks_portid) && koffload_cache_mode_allows(ks)) {
		e = koffload_cache_find(ks, key, key_len,
					koffload_cache_hash(key, key_len));
		/* the NMI-safe read of CLOCK_MONOTONIC */
		if (e && e->kce_gen == gen &&
		    e->kce_expires_ns > ktime_get_mono_fast_ns()) {
			ret = -EMSGSIZE;
			if (e->kce_len <= buf_size) {
				memcpy(buf, e->kce_data, e->kce_len);
				ret = e->kce_len;
			}
		}
	}
	if (ret >= 0)
		this_cpu_inc(ks->ks_pcpu->kpc_cache_hits);
	else
		this_cpu_inc(ks->ks_pcpu->kpc_cache_misses);
	rcu_read_unlock();
	return ret;
}
EXPORT_SYMBOL_GPL(koffload_cache_lookup);

/**
 * koffload_cache_flush - drop every entry
 * @ks: the subsystem
 *
 * Process context. Called when a binding ends and when the mode turns
 * off or shadow, so no earlier decision survives a rollback.
 */
void koffload_cache_flush(struct koffload_subsys *ks)
{
	struct koffload_cache_entry *e;
	struct hlist_node *tmp;
	u32 i;

	spin_lock_bh(&ks->ks_cache_lock);
	for (i = 0; i < BIT(ks->ks_cache_bits); i++)
		hlist_for_each_entry_safe(e, tmp, &ks->ks_cache[i], kce_node)
			koffload_cache_drop(ks, e);
	spin_unlock_bh(&ks->ks_cache_lock);
}

KOFFLOAD_EXPORT_FOR_TEST(koffload_cache_flush);

/**
 * koffload_cache_destroy - free the cache of an unregistered subsystem
 * @ks: the subsystem; no lookup or publish may be running (an RCU grace
 *	period has passed since it was unregistered)
 */
void koffload_cache_destroy(struct koffload_subsys *ks)
{
	koffload_cache_flush(ks);
	/* the entries' kfree_rcu callbacks do not touch the table */
	kvfree(ks->ks_cache);
	ks->ks_cache = NULL;
	free_percpu(ks->ks_pcpu);
	ks->ks_pcpu = NULL;
	koffload_alloc_note(KOFFLOAD_ALLOC_CACHE_TABLE, -1);
}

/**
 * koffload_cache_hits - sum of the per-CPU hit counters
 * @ks: a registered subsystem
 *
 * Return: advisory cache lookups that found a live entry.
 */
u64 koffload_cache_hits(const struct koffload_subsys *ks)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(per_cpu_ptr(ks->ks_pcpu, cpu)->kpc_cache_hits);
	return sum;
}

/**
 * koffload_cache_misses - sum of the per-CPU miss counters
 * @ks: a registered subsystem
 *
 * Return: advisory cache lookups that found nothing usable.
 */
u64 koffload_cache_misses(const struct koffload_subsys *ks)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(per_cpu_ptr(ks->ks_pcpu, cpu)->kpc_cache_misses);
	return sum;
}
