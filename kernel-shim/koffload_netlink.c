// SPDX-License-Identifier: GPL-2.0
/*
 * koffload: the generic netlink family and the release notifier.
 *
 * Commands that bind, reply, publish or change a mode need CAP_NET_ADMIN
 * (GENL_ADMIN_PERM); replies, publishes and unbinds are also accepted
 * only from the socket bound to the subsystem: the sending socket
 * (NETLINK_CB(skb).sk) is compared, never its port id, which another
 * socket may take while a closing one is being released. Only the
 * initial network namespace.
 *
 * Every doit runs in the sender's process context. Changes of a binding
 * (BIND, UNBIND, the release notifier) hold koffload_registry_mutex; REPLY
 * takes only RCU and ks_lock, so answers never wait behind a BIND.
 */

#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/sock.h>

#include "koffload_internal.h"
#include "koffload_nl_gen.h"

/**
 * koffload_nl_request - build a REQUEST message for the bound handler
 * @ks: the subsystem
 * @kc: the call: op, payload and the caller's default
 * @id: request id (0 for shadow requests, which take no reply)
 * @deadline_ns: absolute CLOCK_MONOTONIC deadline
 * @flags: KOFFLOAD_REQ_FLAG_*
 * @gfp: the caller's allocation context
 *
 * Return: the message, or NULL when it could not be allocated.
 */
struct sk_buff *koffload_nl_request(const struct koffload_subsys *ks,
				    const struct koffload_call *kc, u64 id,
				    u64 deadline_ns, u32 flags, gfp_t gfp)
{
	bool has_default = flags & KOFFLOAD_REQ_FLAG_HAS_DEFAULT;
	struct sk_buff *skb;
	size_t size;
	void *hdr;

	size = nla_total_size_64bit(sizeof(u64)) * 2 +
	       nla_total_size(sizeof(u32)) * 3 +
	       nla_total_size(kc->kc_req_len) +
	       (has_default ? nla_total_size(kc->kc_default_len) : 0);
	skb = genlmsg_new(size, gfp);
	if (!skb)
		return NULL;
	hdr = genlmsg_put(skb, 0, 0, &koffload_family, 0, KOFFLOAD_CMD_REQUEST);
	if (!hdr)
		goto err;
	if (nla_put_u64_64bit(skb, KOFFLOAD_A_REQ_ID, id, KOFFLOAD_A_PAD) ||
	    nla_put_u32(skb, KOFFLOAD_A_SUBSYS_ID, ks->ks_id) ||
	    nla_put_u32(skb, KOFFLOAD_A_OP, kc->kc_op) ||
	    nla_put_u64_64bit(skb, KOFFLOAD_A_DEADLINE_NS, deadline_ns,
			      KOFFLOAD_A_PAD) ||
	    nla_put_u32(skb, KOFFLOAD_A_FLAGS, flags) ||
	    nla_put(skb, KOFFLOAD_A_PAYLOAD, kc->kc_req_len, kc->kc_req))
		goto err;
	if (has_default &&
	    nla_put(skb, KOFFLOAD_A_DEFAULT, kc->kc_default_len, kc->kc_default))
		goto err;
	genlmsg_end(skb, hdr);
	/* test builds: as if the allocation had failed */
	return koffload_fault_request(skb);
err:
	kfree_skb(skb);
	return NULL;
}

/*
 * Look a subsystem up by the id attribute, which the caller checked is
 * present; the caller holds koffload_registry_mutex.
 */
static struct koffload_subsys *koffload_nl_subsys(struct genl_info *info)
{
	struct koffload_subsys *ks;

	ks = xa_load(&koffload_subsystems,
		     nla_get_u32(info->attrs[KOFFLOAD_A_SUBSYS_ID]));
	if (!ks)
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[KOFFLOAD_A_SUBSYS_ID],
				    "no such subsystem");
	return ks;
}

static int koffload_nl_put_counters(struct sk_buff *skb, int attr,
				    const u64 *vals, int n)
{
	struct nlattr *nest;
	int i;

	nest = nla_nest_start(skb, attr);
	if (!nest)
		return -EMSGSIZE;
	/*
	 * Plain 8-byte puts: a pad attribute inside the nest would need a
	 * type of its own, and every type here is an outcome or counter.
	 */
	for (i = 0; i < n; i++) {
		if (nla_put(skb, i + 1, sizeof(vals[i]), &vals[i]))
			goto err;
	}
	nla_nest_end(skb, nest);
	return 0;
err:
	nla_nest_cancel(skb, nest);
	return -EMSGSIZE;
}

/* The counters of @ks as the wire reports them. */
struct koffload_nl_stats {
	u64	kns_outcomes[KOFFLOAD_OUTCOME_MAX + 1];
	u64	kns_counters[KOFFLOAD_COUNTER_MAX + 1];
};

static void koffload_nl_read_stats(struct koffload_subsys *ks,
				   struct koffload_nl_stats *st)
{
	int i;

	for (i = 0; i <= KOFFLOAD_OUTCOME_MAX; i++)
		st->kns_outcomes[i] = atomic64_read(&ks->ks_outcomes[i]);
	for (i = 0; i <= KOFFLOAD_COUNTER_MAX; i++)
		st->kns_counters[i] = atomic64_read(&ks->ks_counters[i]);
	/* the lookup fast path counts per CPU */
	st->kns_counters[KOFFLOAD_COUNTER_CACHE_HITS] = koffload_cache_hits(ks);
	st->kns_counters[KOFFLOAD_COUNTER_CACHE_MISSES] =
		koffload_cache_misses(ks);
}

/*
 * One subsystem's description. The handler's port id and pid go only to
 * a CAP_NET_ADMIN reader (@admin); anyone may learn whether one is bound.
 * koffload_registry_mutex held, so the binding is stable.
 */
static int koffload_nl_fill_subsys(struct sk_buff *skb,
				   struct koffload_subsys *ks, u32 portid,
				   u32 seq, int flags, u8 cmd, bool admin)
{
	u32 bound_portid, bound_pid, mode, permille, pending, circuit;
	struct koffload_nl_stats *st;
	unsigned long lflags;
	void *hdr;
	int err = -EMSGSIZE;

	st = kmalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	koffload_alloc_note(KOFFLOAD_ALLOC_STATS, 1);
	spin_lock_irqsave(&ks->ks_lock, lflags);
	bound_portid = ks->ks_portid;
	mode = ks->ks_mode;
	permille = ks->ks_canary_permille;
	pending = ks->ks_nr_pending;
	circuit = ks->ks_circuit;
	spin_unlock_irqrestore(&ks->ks_lock, lflags);
	/* as the reader's pid namespace sees it; 0 when it cannot */
	bound_pid = pid_nr_ns(ks->ks_bound_tgid, task_active_pid_ns(current));
	koffload_nl_read_stats(ks, st);

	hdr = genlmsg_put(skb, portid, seq, &koffload_family, flags, cmd);
	if (!hdr)
		goto out_free;
	if (nla_put_u32(skb, KOFFLOAD_A_SUBSYS_ID, ks->ks_id) ||
	    nla_put_string(skb, KOFFLOAD_A_SUBSYS_NAME, ks->ks_name) ||
	    nla_put_u32(skb, KOFFLOAD_A_BOUND, !!bound_portid) ||
	    (admin && (nla_put_u32(skb, KOFFLOAD_A_PORTID, bound_portid) ||
		       nla_put_u32(skb, KOFFLOAD_A_BOUND_PID, bound_pid))) ||
	    nla_put_u32(skb, KOFFLOAD_A_MODE, mode) ||
	    nla_put_u32(skb, KOFFLOAD_A_CANARY_PERMILLE, permille) ||
	    nla_put_u32(skb, KOFFLOAD_A_DEADLINE_MS,
			koffload_effective_timeout_ms(ks, 0)) ||
	    nla_put_u32(skb, KOFFLOAD_A_MAX_INFLIGHT,
			koffload_effective_inflight(ks)) ||
	    nla_put_u32(skb, KOFFLOAD_A_PENDING, pending) ||
	    nla_put_u32(skb, KOFFLOAD_A_CIRCUIT, circuit) ||
	    nla_put_u32(skb, KOFFLOAD_A_NR_OPS, ks->ks_nr_ops) ||
	    nla_put_u32(skb, KOFFLOAD_A_PAYLOAD_MAX, KOFFLOAD_PAYLOAD_MAX) ||
	    nla_put_u32(skb, KOFFLOAD_A_INFLIGHT_MAX, KOFFLOAD_INFLIGHT_MAX) ||
	    nla_put_u32(skb, KOFFLOAD_A_DEADLINE_MAX_MS,
			KOFFLOAD_DEADLINE_MAX_MS) ||
	    koffload_nl_put_counters(skb, KOFFLOAD_A_OUTCOMES, st->kns_outcomes,
				     KOFFLOAD_OUTCOME_MAX + 1) ||
	    koffload_nl_put_counters(skb, KOFFLOAD_A_COUNTERS, st->kns_counters,
				     KOFFLOAD_COUNTER_MAX + 1)) {
		genlmsg_cancel(skb, hdr);
		goto out_free;
	}
	genlmsg_end(skb, hdr);
	err = 0;
out_free:
	kfree(st);
	koffload_alloc_note(KOFFLOAD_ALLOC_STATS, -1);
	return err;
}

static struct sk_buff *koffload_nl_subsys_msg(struct genl_info *info,
					      struct koffload_subsys *ks,
					      u8 cmd)
{
	struct sk_buff *msg;
	int err;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return ERR_PTR(-ENOMEM);
	err = koffload_nl_fill_subsys(msg, ks, info->snd_portid, info->snd_seq,
				      0, cmd, true);
	if (err) {
		nlmsg_free(msg);
		return ERR_PTR(err);
	}
	return msg;
}

/* The handler-given policy of a binding, to restore a failed rebind. */
struct koffload_nl_policy_state {
	u32	kps_mode;
	u32	kps_permille;
	u32	kps_cap_deadline_ms;
	u32	kps_cap_inflight;
};

static void koffload_nl_policy_save(struct koffload_subsys *ks,
				    struct koffload_nl_policy_state *p)
{
	p->kps_mode = ks->ks_mode;
	p->kps_permille = ks->ks_canary_permille;
	p->kps_cap_deadline_ms = ks->ks_cap_deadline_ms;
	p->kps_cap_inflight = ks->ks_cap_inflight;
}

static void koffload_nl_policy_set(struct koffload_subsys *ks,
				   const struct koffload_nl_policy_state *p)
{
	unsigned long flags;

	spin_lock_irqsave(&ks->ks_lock, flags);
	WRITE_ONCE(ks->ks_mode, p->kps_mode);
	WRITE_ONCE(ks->ks_canary_permille, p->kps_permille);
	WRITE_ONCE(ks->ks_cap_deadline_ms, p->kps_cap_deadline_ms);
	WRITE_ONCE(ks->ks_cap_inflight, p->kps_cap_inflight);
	spin_unlock_irqrestore(&ks->ks_lock, flags);
}

/*
 * BIND. The mode and canary fraction are the administrator's, kept across
 * bindings: a BIND changes them only when it carries them. The deadline
 * and in-flight caps are the handler's own and stated by every BIND. A
 * binding whose handler is already dead (closing socket, exited process)
 * is released first. When the reply cannot be sent, the BIND is undone.
 */
static int koffload_nl_bind_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct koffload_nl_policy_state old, want;
	struct nlattr **attrs = info->attrs;
	struct sock *sk = NETLINK_CB(skb).sk;
	struct koffload_subsys *ks;
	struct sk_buff *msg;
	bool fresh;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, KOFFLOAD_A_SUBSYS_NAME) ||
	    GENL_REQ_ATTR_CHECK(info, KOFFLOAD_A_VERSION))
		return -EINVAL;
	if (nla_get_u32(attrs[KOFFLOAD_A_VERSION]) != KOFFLOAD_FAMILY_VERSION) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[KOFFLOAD_A_VERSION],
				    "unsupported koffload protocol version");
		return -EPROTO;
	}

	mutex_lock(&koffload_registry_mutex);
	ks = koffload_find_by_name(nla_data(attrs[KOFFLOAD_A_SUBSYS_NAME]));
	err = -ENOENT;
	if (!ks) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[KOFFLOAD_A_SUBSYS_NAME],
				    "no such subsystem");
		goto out_unlock;
	}
	/*
	 * A dead binding is released first, also when the sender holds its
	 * socket (passed on by a binder that has exited): the sender then
	 * binds afresh, as itself.
	 */
	if (koffload_binding_dead(ks)) {
		if (koffload_unbind(ks, KOFFLOAD_OUTCOME_HANDLER_DIED))
			koffload_count(ks, KOFFLOAD_COUNTER_RELEASES);
	} else if (ks->ks_sk && !koffload_bound_to(ks, sk)) {
		err = -EBUSY;
		NL_SET_ERR_MSG(info->extack, "subsystem already has a handler");
		goto out_unlock;
	}

	koffload_nl_policy_save(ks, &old);
	want = old;
	if (attrs[KOFFLOAD_A_MODE])
		want.kps_mode = nla_get_u32(attrs[KOFFLOAD_A_MODE]);
	if (attrs[KOFFLOAD_A_CANARY_PERMILLE])
		want.kps_permille =
			nla_get_u32(attrs[KOFFLOAD_A_CANARY_PERMILLE]);
	want.kps_cap_deadline_ms = attrs[KOFFLOAD_A_DEADLINE_MS] ?
		nla_get_u32(attrs[KOFFLOAD_A_DEADLINE_MS]) : 0;
	want.kps_cap_inflight = attrs[KOFFLOAD_A_MAX_INFLIGHT] ?
		nla_get_u32(attrs[KOFFLOAD_A_MAX_INFLIGHT]) : 0;

	fresh = !ks->ks_sk;
	if (fresh)
		koffload_bind(ks, sk, info->snd_portid);
	koffload_nl_policy_set(ks, &want);
	if (want.kps_mode == KOFFLOAD_MODE_OFF ||
	    want.kps_mode == KOFFLOAD_MODE_SHADOW)
		koffload_cache_flush(ks);

	msg = koffload_nl_subsys_msg(info, ks, KOFFLOAD_CMD_BIND);
	err = IS_ERR(msg) ? PTR_ERR(msg) : genlmsg_reply(msg, info);
	if (err) {
		/* a handler that never learnt it is bound must not be */
		if (fresh)
			koffload_unbind(ks, KOFFLOAD_OUTCOME_HANDLER_DIED);
		koffload_nl_policy_set(ks, &old);
		goto out_unlock;
	}
	if (fresh)
		koffload_count(ks, KOFFLOAD_COUNTER_BINDS);
out_unlock:
	mutex_unlock(&koffload_registry_mutex);
	return err;
}

static int koffload_nl_unbind_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct koffload_subsys *ks;
	int err = -ENOENT;

	if (GENL_REQ_ATTR_CHECK(info, KOFFLOAD_A_SUBSYS_ID))
		return -EINVAL;
	mutex_lock(&koffload_registry_mutex);
	ks = koffload_nl_subsys(info);
	if (!ks)
		goto out_unlock;
	err = -EPERM;
	if (!koffload_bound_to(ks, NETLINK_CB(skb).sk)) {
		NL_SET_ERR_MSG(info->extack, "socket is not bound to subsystem");
		goto out_unlock;
	}
	koffload_unbind(ks, KOFFLOAD_OUTCOME_HANDLER_DIED);
	err = 0;
out_unlock:
	mutex_unlock(&koffload_registry_mutex);
	return err;
}

static int koffload_nl_reply_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct nlattr *payload = attrs[KOFFLOAD_A_PAYLOAD];
	int err;

	if (GENL_REQ_ATTR_CHECK(info, KOFFLOAD_A_REQ_ID) ||
	    GENL_REQ_ATTR_CHECK(info, KOFFLOAD_A_STATUS))
		return -EINVAL;
	/* test builds may damage the reply here, past the policy's checks */
	err = koffload_complete_reply(koffload_fault_id(nla_get_u64(attrs[KOFFLOAD_A_REQ_ID])),
				      NETLINK_CB(skb).sk,
				      koffload_fault_status(nla_get_u32(attrs[KOFFLOAD_A_STATUS])),
				      payload ? nla_data(payload) : NULL,
				      koffload_fault_len(payload ? nla_len(payload) : 0));
	switch (err) {
	case -EPERM:
		NL_SET_ERR_MSG(info->extack, "socket is not the bound handler");
		break;
	case -ENOENT:
		/*
		 * Counted already. Unless the handler asked for an ack, do
		 * not answer: in a timeout storm, error acks echoing each
		 * late reply would crowd REQUESTs out of its buffer.
		 */
		if (!(info->nlhdr->nlmsg_flags & NLM_F_ACK))
			return 0;
		NL_SET_ERR_MSG(info->extack, "no such pending request");
		break;
	case -EMSGSIZE:
		NL_SET_ERR_MSG_ATTR(info->extack, payload,
				    "payload larger than the caller's buffer");
		break;
	}
	return err;
}

static int koffload_nl_publish_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct nlattr *payload = attrs[KOFFLOAD_A_PAYLOAD];
	struct nlattr *key = attrs[KOFFLOAD_A_CACHE_KEY];
	struct koffload_cache_entry *e = NULL;
	struct koffload_subsys *ks;
	u32 ttl_ms;
	int err;

	if (GENL_REQ_ATTR_CHECK(info, KOFFLOAD_A_SUBSYS_ID) ||
	    GENL_REQ_ATTR_CHECK(info, KOFFLOAD_A_CACHE_KEY) ||
	    GENL_REQ_ATTR_CHECK(info, KOFFLOAD_A_CACHE_TTL_MS))
		return -EINVAL;
	ttl_ms = nla_get_u32(attrs[KOFFLOAD_A_CACHE_TTL_MS]);
	if (ttl_ms && GENL_REQ_ATTR_CHECK(info, KOFFLOAD_A_PAYLOAD))
		return -EINVAL;
	if (!nla_len(key)) {
		NL_SET_ERR_MSG_ATTR(info->extack, key, "empty cache key");
		return -EINVAL;
	}

	/* allocated first: nothing may sleep in reclaim under the mutex */
	if (ttl_ms) {
		e = koffload_cache_entry_new(nla_data(key), nla_len(key),
					     nla_data(payload), nla_len(payload),
					     ttl_ms);
		if (IS_ERR(e))
			return PTR_ERR(e);
	}
	/*
	 * The registry mutex keeps @ks registered and its binding stable: the
	 * entry belongs to this binding's generation.
	 */
	mutex_lock(&koffload_registry_mutex);
	ks = koffload_nl_subsys(info);
	err = -ENOENT;
	if (!ks)
		goto out_unlock;
	err = -EPERM;
	if (!koffload_bound_to(ks, NETLINK_CB(skb).sk) ||
	    koffload_binding_dead(ks)) {
		NL_SET_ERR_MSG(info->extack, "socket is not the bound handler");
		goto out_unlock;
	}
	err = koffload_cache_publish(ks, nla_data(key), nla_len(key), e,
				     ks->ks_bind_gen);
	e = NULL;
	if (err == -ENOSPC)
		NL_SET_ERR_MSG(info->extack, "advisory cache is full");
out_unlock:
	mutex_unlock(&koffload_registry_mutex);
	koffload_cache_entry_free(e);
	return err;
}

static int koffload_nl_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	bool admin = netlink_capable(skb, CAP_NET_ADMIN);
	struct nlattr **attrs = info->attrs;
	struct koffload_subsys *ks = NULL;
	struct sk_buff *msg;
	int err;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&koffload_registry_mutex);
	if (attrs[KOFFLOAD_A_SUBSYS_ID])
		ks = xa_load(&koffload_subsystems,
			     nla_get_u32(attrs[KOFFLOAD_A_SUBSYS_ID]));
	else if (attrs[KOFFLOAD_A_SUBSYS_NAME])
		ks = koffload_find_by_name(nla_data(attrs[KOFFLOAD_A_SUBSYS_NAME]));
	else
		NL_SET_ERR_MSG(info->extack, "need subsys-id or subsys-name");
	err = ks ? koffload_nl_fill_subsys(msg, ks, info->snd_portid,
					   info->snd_seq, 0,
					   KOFFLOAD_CMD_GET_SUBSYS, admin) :
		   -ENOENT;
	mutex_unlock(&koffload_registry_mutex);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return genlmsg_reply(msg, info);
}

static int koffload_nl_get_dumpit(struct sk_buff *skb,
				  struct netlink_callback *cb)
{
	bool admin = netlink_capable(cb->skb, CAP_NET_ADMIN);
	struct koffload_subsys *ks;
	unsigned long id = cb->args[0];
	int err = 0;

	mutex_lock(&koffload_registry_mutex);
	xa_for_each_start(&koffload_subsystems, id, ks, id) {
		err = koffload_nl_fill_subsys(skb, ks,
					      NETLINK_CB(cb->skb).portid,
					      cb->nlh->nlmsg_seq, NLM_F_MULTI,
					      KOFFLOAD_CMD_GET_SUBSYS, admin);
		if (err)
			break;
		cb->args[0] = id + 1;
	}
	mutex_unlock(&koffload_registry_mutex);
	/* a full skb ends this round; the dump resumes at args[0] */
	if (err == -EMSGSIZE && skb->len)
		return skb->len;
	return err ?: skb->len;
}

/* SET-MODE: off and shadow also flush the cache, so a rollback is one. */
static int koffload_nl_set_mode_doit(struct sk_buff *skb,
				     struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct koffload_subsys *ks;
	unsigned long flags;
	u32 mode;
	int err = -ENOENT;

	if (GENL_REQ_ATTR_CHECK(info, KOFFLOAD_A_SUBSYS_ID) ||
	    GENL_REQ_ATTR_CHECK(info, KOFFLOAD_A_MODE))
		return -EINVAL;
	mode = nla_get_u32(attrs[KOFFLOAD_A_MODE]);
	mutex_lock(&koffload_registry_mutex);
	ks = koffload_nl_subsys(info);
	if (ks) {
		spin_lock_irqsave(&ks->ks_lock, flags);
		WRITE_ONCE(ks->ks_mode, mode);
		if (attrs[KOFFLOAD_A_CANARY_PERMILLE])
			WRITE_ONCE(ks->ks_canary_permille,
				   nla_get_u32(attrs[KOFFLOAD_A_CANARY_PERMILLE]));
		spin_unlock_irqrestore(&ks->ks_lock, flags);
		if (mode == KOFFLOAD_MODE_OFF || mode == KOFFLOAD_MODE_SHADOW)
			koffload_cache_flush(ks);
		err = 0;
	}
	mutex_unlock(&koffload_registry_mutex);
	return err;
}

static const struct genl_ops koffload_nl_ops[] = {
	{
		.cmd	= KOFFLOAD_CMD_BIND,
		.doit	= koffload_nl_bind_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KOFFLOAD_CMD_UNBIND,
		.doit	= koffload_nl_unbind_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KOFFLOAD_CMD_REPLY,
		.doit	= koffload_nl_reply_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KOFFLOAD_CMD_PUBLISH,
		.doit	= koffload_nl_publish_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= KOFFLOAD_CMD_GET_SUBSYS,
		.doit	= koffload_nl_get_doit,
		.dumpit	= koffload_nl_get_dumpit,
	},
	{
		.cmd	= KOFFLOAD_CMD_SET_MODE,
		.doit	= koffload_nl_set_mode_doit,
		.flags	= GENL_ADMIN_PERM,
	},
};

struct genl_family koffload_family __ro_after_init = {
	.name		= KOFFLOAD_FAMILY_NAME,
	.version	= KOFFLOAD_FAMILY_VERSION,
	.maxattr	= KOFFLOAD_A_MAX,
	.policy		= koffload_nl_policy,
	.netnsok	= false,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.ops		= koffload_nl_ops,
	.n_ops		= ARRAY_SIZE(koffload_nl_ops),
};

/*
 * Rule 6: a handler's socket closing (exit, crash, kill) ends its
 * binding at once, so its pending calls fall back now. Runs from
 * netlink_release() in a blocking notifier chain, in process context,
 * after the socket was orphaned: only a bound socket that is dead is
 * released, never a live newcomer that took the same port id since.
 */
static int koffload_nl_release(struct notifier_block *nb, unsigned long event,
			       void *ptr)
{
	struct netlink_notify *n = ptr;
	struct koffload_subsys *ks;
	unsigned long id;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC ||
	    !n->portid || !net_eq(n->net, &init_net))
		return NOTIFY_DONE;

	/*
	 * Every genl socket closing comes here: take the mutex only for a
	 * port some subsystem is bound to. A socket being released cannot be
	 * bound anew meanwhile (a BIND needs its sender's file), so a miss
	 * here stays a miss.
	 */
	rcu_read_lock();
	xa_for_each(&koffload_subsystems, id, ks)
		if (READ_ONCE(ks->ks_portid) == n->portid)
			break;
	rcu_read_unlock();
	if (!ks)
		return NOTIFY_DONE;

	mutex_lock(&koffload_registry_mutex);
	xa_for_each(&koffload_subsystems, id, ks) {
		if (ks->ks_sk && ks->ks_portid == n->portid &&
		    sock_flag(ks->ks_sk, SOCK_DEAD) &&
		    koffload_unbind(ks, KOFFLOAD_OUTCOME_HANDLER_DIED))
			koffload_count(ks, KOFFLOAD_COUNTER_RELEASES);
	}
	mutex_unlock(&koffload_registry_mutex);
	return NOTIFY_DONE;
}

static struct notifier_block koffload_nl_notifier = {
	.notifier_call = koffload_nl_release,
};

/**
 * koffload_nl_init - register the family and the release notifier
 *
 * Return: 0, or the errno of the registration that failed.
 */
int koffload_nl_init(void)
{
	int err;

	err = netlink_register_notifier(&koffload_nl_notifier);
	if (err)
		return err;
	err = genl_register_family(&koffload_family);
	if (err)
		goto out_notifier;
	return 0;

out_notifier:
	netlink_unregister_notifier(&koffload_nl_notifier);
	return err;
}

/**
 * koffload_nl_exit - undo koffload_nl_init()
 */
void koffload_nl_exit(void)
{
	genl_unregister_family(&koffload_family);
	netlink_unregister_notifier(&koffload_nl_notifier);
}
