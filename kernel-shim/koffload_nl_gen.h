/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Generated from proto/koffload.genl.yaml by `npm run gen` (scripts/gen.ts).
 * Do not edit: change the source and regenerate.
 *
 * Attribute policies of the koffload genl family, for kernel 6.1 and later.
 * Include from one .c file only. Ranges use NLA_POLICY_FULL_RANGE
 * throughout: the inline .min/.max of struct nla_policy are s16 in 6.1 and
 * too small for some limits. The range structs are not const because 6.1
 * points at them through a non-const pointer.
 */
#ifndef _KOFFLOAD_NL_GEN_H
#define _KOFFLOAD_NL_GEN_H

#include <net/netlink.h>

#include "include/uapi/linux/koffload.h"

static struct netlink_range_validation koffload_op_max_range = {
	.min	= 0,
	.max	= KOFFLOAD_OP_MAX,
};

static struct netlink_range_validation koffload_status_range = {
	.min	= 0,
	.max	= KOFFLOAD_STATUS_MAX,
};

static struct netlink_range_validation koffload_mode_range = {
	.min	= 0,
	.max	= KOFFLOAD_MODE_MAX,
};

static struct netlink_range_validation koffload_permille_range = {
	.min	= 0,
	.max	= KOFFLOAD_PERMILLE,
};

static struct netlink_range_validation koffload_deadline_max_ms_range = {
	.min	= 0,
	.max	= KOFFLOAD_DEADLINE_MAX_MS,
};

static struct netlink_range_validation koffload_inflight_max_range = {
	.min	= 0,
	.max	= KOFFLOAD_INFLIGHT_MAX,
};

static struct netlink_range_validation koffload_cache_ttl_max_ms_range = {
	.min	= 0,
	.max	= KOFFLOAD_CACHE_TTL_MAX_MS,
};

static struct netlink_range_validation koffload_circuit_range = {
	.min	= 0,
	.max	= KOFFLOAD_CIRCUIT_MAX,
};

static struct netlink_range_validation koffload_bound_range = {
	.min	= 0,
	.max	= 1,
};

static const struct nla_policy koffload_nl_policy[KOFFLOAD_A_MAX + 1] = {
	[KOFFLOAD_A_SUBSYS_NAME]	= { .type = NLA_NUL_STRING, .len = KOFFLOAD_NAME_MAX - 1 },
	[KOFFLOAD_A_SUBSYS_ID]		= { .type = NLA_U32 },
	[KOFFLOAD_A_REQ_ID]		= { .type = NLA_U64 },
	[KOFFLOAD_A_OP]			= NLA_POLICY_FULL_RANGE(NLA_U32, &koffload_op_max_range),
	[KOFFLOAD_A_DEADLINE_NS]	= { .type = NLA_U64 },
	[KOFFLOAD_A_FLAGS]		= NLA_POLICY_MASK(NLA_U32, KOFFLOAD_REQ_FLAG_ALL),
	[KOFFLOAD_A_PAYLOAD]		= { .type = NLA_BINARY, .len = KOFFLOAD_PAYLOAD_MAX },
	[KOFFLOAD_A_STATUS]		= NLA_POLICY_FULL_RANGE(NLA_U32, &koffload_status_range),
	[KOFFLOAD_A_DEFAULT]		= { .type = NLA_BINARY, .len = KOFFLOAD_PAYLOAD_MAX },
	[KOFFLOAD_A_MODE]		= NLA_POLICY_FULL_RANGE(NLA_U32, &koffload_mode_range),
	[KOFFLOAD_A_CANARY_PERMILLE]	= NLA_POLICY_FULL_RANGE(NLA_U32, &koffload_permille_range),
	[KOFFLOAD_A_DEADLINE_MS]	=
		NLA_POLICY_FULL_RANGE(NLA_U32, &koffload_deadline_max_ms_range),
	[KOFFLOAD_A_MAX_INFLIGHT]	=
		NLA_POLICY_FULL_RANGE(NLA_U32, &koffload_inflight_max_range),
	[KOFFLOAD_A_CACHE_KEY]		= { .type = NLA_BINARY, .len = KOFFLOAD_KEY_MAX },
	[KOFFLOAD_A_CACHE_TTL_MS]	=
		NLA_POLICY_FULL_RANGE(NLA_U32, &koffload_cache_ttl_max_ms_range),
	[KOFFLOAD_A_VERSION]		= { .type = NLA_U32 },
	[KOFFLOAD_A_PORTID]		= { .type = NLA_U32 },
	[KOFFLOAD_A_PENDING]		= { .type = NLA_U32 },
	[KOFFLOAD_A_OUTCOMES]		= { .type = NLA_NESTED },
	[KOFFLOAD_A_COUNTERS]		= { .type = NLA_NESTED },
	[KOFFLOAD_A_CIRCUIT]		= NLA_POLICY_FULL_RANGE(NLA_U32, &koffload_circuit_range),
	[KOFFLOAD_A_PAYLOAD_MAX]	= { .type = NLA_U32 },
	[KOFFLOAD_A_INFLIGHT_MAX]	= { .type = NLA_U32 },
	[KOFFLOAD_A_DEADLINE_MAX_MS]	= { .type = NLA_U32 },
	[KOFFLOAD_A_NR_OPS]		= { .type = NLA_U32 },
	[KOFFLOAD_A_BOUND_PID]		= { .type = NLA_U32 },
	[KOFFLOAD_A_BOUND]		= NLA_POLICY_FULL_RANGE(NLA_U32, &koffload_bound_range),
};

#endif /* _KOFFLOAD_NL_GEN_H */
