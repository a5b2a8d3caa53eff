// SPDX-License-Identifier: GPL-2.0
/*
 * koffload: the advisory cache. Handlers PUBLISH decisions ahead of time;
 * kernel callers read them without a round trip, also where they may not
 * wait (atomic context, reclaim). Lookups take no lock and allocate
 * nothing: entries are RCU-protected and replaced, never changed in place.
 */

#include <linux/jhash.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "koffload_internal.h"

/**
 * struct koffload_cache_entry - one published decision
 * @kce_node: in ks_cache
 * @kce_rcu: frees the entry after readers are done
 * @kce_expires_ns: CLOCK_MONOTONIC time after which lookups miss it
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

static struct koffload_cache_entry *
koffload_cache_find(struct koffload_subsys *ks, const void *key, u32 key_len,
		    u32 hash)
{
	struct koffload_cache_entry *e;

	hash_for_each_possible_rcu(ks->ks_cache, e, kce_node, hash)
		if (e->kce_hash == hash && e->kce_key_len == key_len &&
		    !memcmp(e->kce_key, key, key_len))
			return e;
	return NULL;
}

/* Drop one expired entry to make room; ks_cache_lock held. */
static bool koffload_cache_evict_expired(struct koffload_subsys *ks, u64 now)
{
	struct koffload_cache_entry *e;
	int bkt;

	hash_for_each(ks->ks_cache, bkt, e, kce_node) {
		if (e->kce_expires_ns <= now) {
			hash_del_rcu(&e->kce_node);
			ks->ks_cache_count--;
			kfree_rcu(e, kce_rcu);
			return true;
		}
	}
	return false;
}

/**
 * koffload_cache_publish - insert, replace or delete an advisory decision
 * @ks: the subsystem
 * @key: cache key, 1..KOFFLOAD_KEY_MAX bytes
 * @key_len: its length
 * @data: the decision payload
 * @len: its length, at most KOFFLOAD_PAYLOAD_MAX
 * @ttl_ms: lifetime; zero deletes the entry
 *
 * Process context; may sleep to allocate.
 *
 * Return:
 *   %0: done
 *   %-EINVAL: bad key or payload length
 *   %-ENOENT: @ttl_ms is zero and there was no such entry
 *   %-ENOSPC: the cache is full of live entries
 *   %-ENOMEM: out of memory
 */
int koffload_cache_publish(struct koffload_subsys *ks, const void *key,
			   u32 key_len, const void *data, u32 len, u32 ttl_ms)
{
	u32 hash = koffload_cache_hash(key, key_len);
	struct koffload_cache_entry *old, *e = NULL;
	u64 now = ktime_get_ns();
	int err;

	if (!key_len || key_len > KOFFLOAD_KEY_MAX || len > KOFFLOAD_PAYLOAD_MAX)
		return -EINVAL;
	if (ttl_ms) {
		e = kmalloc(struct_size(e, kce_data, len), GFP_KERNEL);
		if (!e)
			return -ENOMEM;
		e->kce_expires_ns = now + (u64)ttl_ms * NSEC_PER_MSEC;
		e->kce_hash = hash;
		e->kce_key_len = key_len;
		e->kce_len = len;
		memcpy(e->kce_key, key, key_len);
		if (len)
			memcpy(e->kce_data, data, len);
	}

	spin_lock_bh(&ks->ks_cache_lock);
	old = koffload_cache_find(ks, key, key_len, hash);
	err = 0;
	if (old && e) {
		hlist_replace_rcu(&old->kce_node, &e->kce_node);
	} else if (old) {
		hash_del_rcu(&old->kce_node);
		ks->ks_cache_count--;
	} else if (!e) {
		err = -ENOENT;
	} else if (ks->ks_cache_count >= ks->ks_cache_entries &&
		   !koffload_cache_evict_expired(ks, now)) {
		err = -ENOSPC;
	} else {
		hash_add_rcu(ks->ks_cache, &e->kce_node, hash);
		ks->ks_cache_count++;
	}
	spin_unlock_bh(&ks->ks_cache_lock);

	if (old)
		kfree_rcu(old, kce_rcu);
	if (err)
		kfree(e);
	return err;
}

/**
 * koffload_cache_lookup - read a published decision without waiting
 * @ks: a registered subsystem
 * @key: cache key
 * @key_len: its length, 1..KOFFLOAD_KEY_MAX
 * @buf: where to copy the payload
 * @buf_size: size of @buf
 *
 * Safe in any context, including atomic context, IRQs off, reclaim and
 * NOFS/NOIO scopes: it takes no lock, allocates nothing and never sleeps.
 * Counts a hit or a miss on @ks.
 *
 * Return:
 *   >= 0: hit; the number of payload bytes copied to @buf
 *   %-ENOENT: no live entry for @key (never published, deleted or expired)
 *   %-EMSGSIZE: the payload is larger than @buf_size; nothing copied
 *   %-EINVAL: bad key length
 */
int koffload_cache_lookup(struct koffload_subsys *ks, const void *key,
			  u32 key_len, void *buf, u32 buf_size)
{
	struct koffload_cache_entry *e;
	int ret = -ENOENT;

	if (!key_len || key_len > KOFFLOAD_KEY_MAX)
		return -EINVAL;

	rcu_read_lock();
	e = koffload_cache_find(ks, key, key_len,
				koffload_cache_hash(key, key_len));
	/* the NMI-safe read of CLOCK_MONOTONIC: lookups run in any context */
	if (e && e->kce_expires_ns > ktime_get_mono_fast_ns()) {
		ret = -EMSGSIZE;
		if (e->kce_len <= buf_size) {
			memcpy(buf, e->kce_data, e->kce_len);
			ret = e->kce_len;
		}
	}
	rcu_read_unlock();

	koffload_count(ks, ret >= 0 ? KOFFLOAD_COUNTER_CACHE_HITS :
		       KOFFLOAD_COUNTER_CACHE_MISSES);
	return ret;
}
EXPORT_SYMBOL_GPL(koffload_cache_lookup);

/**
 * koffload_cache_flush - free every entry of an unregistered subsystem
 * @ks: the subsystem; no lookups or publishes may be running
 */
void koffload_cache_flush(struct koffload_subsys *ks)
{
	struct koffload_cache_entry *e;
	struct hlist_node *tmp;
	int bkt;

	spin_lock_bh(&ks->ks_cache_lock);
	hash_for_each_safe(ks->ks_cache, bkt, tmp, e, kce_node) {
		hash_del_rcu(&e->kce_node);
		kfree_rcu(e, kce_rcu);
	}
	ks->ks_cache_count = 0;
	spin_unlock_bh(&ks->ks_cache_lock);
}
