// SPDX-License-Identifier: GPL-2.0
/*
 * koffload: fault points for the fault-injection suite, built only with
 * KOFFLOAD_FAULT_INJECT=y (see koffload_fault.h). Each point is a kernel
 * fault_attr under /sys/kernel/debug/koffload/<name>/, so the suite sets a
 * probability (percent) or a count (times) and may restrict it to tasks
 * whose /proc/<pid>/make-it-fail is 1 (task-filter).
 *
 * Contexts: koffload_should_fail() is called where the point sits: the
 * REQUEST build and the unicast run in the caller's context (process, or
 * softirq and atomic for shadow senders), never with IRQs off; the REPLY
 * points run in the REPLY doit (process context, no lock held).
 * koffload_fault_delay_wakeup() is called only from the REPLY
 * doit after ks_lock was dropped, and busy-waits: the doit is inside an
 * RCU read-side section there.
 */

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fault-inject.h>
#include <linux/seq_file.h>
#include <linux/skbuff.h>

#include "koffload_internal.h"

static struct fault_attr koffload_faults[KOFFLOAD_FAULT_NR] = {
	[0 ... KOFFLOAD_FAULT_NR - 1] = FAULT_ATTR_INITIALIZER,
};

static const char * const koffload_fault_names[KOFFLOAD_FAULT_NR] = {
	[KOFFLOAD_FAULT_REQUEST_ALLOC]	= "fail_request_alloc",
	[KOFFLOAD_FAULT_UNICAST]	= "fail_unicast",
	[KOFFLOAD_FAULT_DROP_REQUEST]	= "drop_request",
	[KOFFLOAD_FAULT_DELAY_WAKEUP]	= "delay_wakeup",
	[KOFFLOAD_FAULT_CORRUPT_STATUS]	= "corrupt_reply_status",
	[KOFFLOAD_FAULT_CORRUPT_LENGTH]	= "corrupt_reply_length",
	[KOFFLOAD_FAULT_CORRUPT_ID]	= "corrupt_reply_id",
};

static const char * const koffload_alloc_names[KOFFLOAD_ALLOC_NR] = {
	[KOFFLOAD_ALLOC_CACHE_ENTRY]	= "cache_entries",
	[KOFFLOAD_ALLOC_CACHE_TABLE]	= "cache_tables",
	[KOFFLOAD_ALLOC_STATS]		= "stats_buffers",
};

/* Live allocations of each kind: allocated minus freed. */
static atomic_long_t koffload_allocs[KOFFLOAD_ALLOC_NR];
static u32 koffload_delay_wakeup_us = 2000;
static struct dentry *koffload_fault_dir;

/**
 * koffload_should_fail - whether fault point @f fires now
 * @f: the fault point
 *
 * Return: true when the point's fault_attr says to fail this time.
 */
bool koffload_should_fail(enum koffload_fault f)
{
	return should_fail(&koffload_faults[f], 1);
}

/**
 * koffload_fault_request - drop a REQUEST just built when
 *	fail_request_alloc fires
 * @skb: the message
 *
 * Any context the REQUEST is built in.
 *
 * Return: @skb, or NULL (and @skb freed) as if its allocation had failed.
 */
struct sk_buff *koffload_fault_request(struct sk_buff *skb)
{
	if (!koffload_should_fail(KOFFLOAD_FAULT_REQUEST_ALLOC))
		return skb;
	kfree_skb(skb);
	return NULL;
}

/**
 * koffload_fault_id - a REPLY's request id, with a sequence bit flipped
 *	when corrupt_reply_id fires (no pending call matches it then)
 * @id: the id as sent
 *
 * Return: the id to look up.
 */
u64 koffload_fault_id(u64 id)
{
	if (koffload_should_fail(KOFFLOAD_FAULT_CORRUPT_ID))
		id ^= BIT_ULL(KOFFLOAD_REQ_ID_SHIFT - 1);
	return id;
}

/**
 * koffload_fault_status - a REPLY's status, unknown when
 *	corrupt_reply_status fires
 * @status: the status as sent (already within the policy's range)
 *
 * Return: the status to act on.
 */
u32 koffload_fault_status(u32 status)
{
	if (koffload_should_fail(KOFFLOAD_FAULT_CORRUPT_STATUS))
		status = KOFFLOAD_STATUS_MAX + 1;
	return status;
}

/**
 * koffload_fault_len - a REPLY's payload length, U32_MAX when
 *	corrupt_reply_length fires
 * @len: the length as sent
 *
 * Return: the length to act on.
 */
u32 koffload_fault_len(u32 len)
{
	if (koffload_should_fail(KOFFLOAD_FAULT_CORRUPT_LENGTH))
		len = U32_MAX;
	return len;
}

/**
 * koffload_fault_delay_wakeup - spin delay_wakeup_us, when the point fires
 *
 * Process context, in an RCU read-side section (the REPLY's), so it
 * busy-waits rather than sleeps; at most 20 ms.
 */
void koffload_fault_delay_wakeup(void)
{
	u32 us = READ_ONCE(koffload_delay_wakeup_us);

	if (!us || !koffload_should_fail(KOFFLOAD_FAULT_DELAY_WAKEUP))
		return;
	us = min_t(u32, us, 20 * USEC_PER_MSEC);
	for (; us >= USEC_PER_MSEC; us -= USEC_PER_MSEC)
		mdelay(1);
	udelay(us);
}

/**
 * koffload_alloc_note - count an allocation (@delta 1) or a free (-1)
 * @kind: what was allocated
 * @delta: +1 or -1
 *
 * Any context.
 */
void koffload_alloc_note(enum koffload_alloc_kind kind, int delta)
{
	atomic_long_add(delta, &koffload_allocs[kind]);
}

static int koffload_allocs_show(struct seq_file *m, void *v)
{
	long total = 0, n;
	int i;

	for (i = 0; i < KOFFLOAD_ALLOC_NR; i++) {
		n = atomic_long_read(&koffload_allocs[i]);
		total += n;
		seq_printf(m, "%s %ld\n", koffload_alloc_names[i], n);
	}
	seq_printf(m, "total %ld\n", total);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(koffload_allocs);

/**
 * koffload_fault_init - create the fault points' debugfs files
 *
 * Process context (module init). Without debugfs the points stay off.
 *
 * Return: 0.
 */
int koffload_fault_init(void)
{
	struct dentry *d;
	int i;

	koffload_fault_dir = debugfs_create_dir("koffload", NULL);
	for (i = 0; i < KOFFLOAD_FAULT_NR; i++) {
		/* no stack dump per fault unless the suite asks for one */
		koffload_faults[i].verbose = 0;
		d = fault_create_debugfs_attr(koffload_fault_names[i],
					      koffload_fault_dir,
					      &koffload_faults[i]);
		if (IS_ERR(d))
			pr_warn("koffload: no debugfs for fault %s\n",
				koffload_fault_names[i]);
	}
	debugfs_create_u32("delay_wakeup_us", 0600, koffload_fault_dir,
			   &koffload_delay_wakeup_us);
	debugfs_create_file("allocs", 0400, koffload_fault_dir, NULL,
			    &koffload_allocs_fops);
	return 0;
}

/**
 * koffload_fault_exit - remove the debugfs files
 *
 * Process context (module exit).
 */
void koffload_fault_exit(void)
{
	debugfs_remove_recursive(koffload_fault_dir);
}
