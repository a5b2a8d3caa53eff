/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Generated from proto/koffload.genl.yaml by `npm run gen` (scripts/gen.ts).
 * Do not edit: change the source and regenerate.
 *
 * Attribute policies of the koffload_test genl family, for kernel 6.1 and
 * later. Include from one .c file only. Ranges use NLA_POLICY_FULL_RANGE
 * throughout: the inline .min/.max of struct nla_policy are s16 in 6.1 and
 * too small for some limits. The range structs are not const because 6.1
 * points at them through a non-const pointer.
 */
#ifndef _KOFFLOAD_TEST_NL_GEN_H
#define _KOFFLOAD_TEST_NL_GEN_H

#include <net/netlink.h>

#include "../include/uapi/linux/koffload.h"

static struct netlink_range_validation koffload_test_calls_max_range = {
	.min	= 0,
	.max	= KOFFLOAD_TEST_CALLS_MAX,
};

static struct netlink_range_validation koffload_test_threads_max_range = {
	.min	= 0,
	.max	= KOFFLOAD_TEST_THREADS_MAX,
};

static struct netlink_range_validation koffload_test_context_range = {
	.min	= 0,
	.max	= KOFFLOAD_TEST_CONTEXT_MAX,
};

static struct netlink_range_validation koffload_test_resp_size_range = {
	.min	= 0,
	.max	= 4096,
};

static struct netlink_range_validation koffload_test_timeout_us_range = {
	.min	= 0,
	.max	= 60000000,
};

static const struct nla_policy koffload_test_nl_policy[KOFFLOAD_TEST_A_MAX + 1] = {
	[KOFFLOAD_TEST_A_SUBSYS]		= { .type = NLA_NUL_STRING, .len = 32 - 1 },
	[KOFFLOAD_TEST_A_OP]			= { .type = NLA_U32 },
	[KOFFLOAD_TEST_A_CALLS]			=
		NLA_POLICY_FULL_RANGE(NLA_U32, &koffload_test_calls_max_range),
	[KOFFLOAD_TEST_A_THREADS]		=
		NLA_POLICY_FULL_RANGE(NLA_U32, &koffload_test_threads_max_range),
	[KOFFLOAD_TEST_A_TIMEOUT_MS]		= { .type = NLA_U32 },
	[KOFFLOAD_TEST_A_CONTEXT]		=
		NLA_POLICY_FULL_RANGE(NLA_U32, &koffload_test_context_range),
	[KOFFLOAD_TEST_A_PAYLOAD]		= { .type = NLA_BINARY, .len = 4096 },
	[KOFFLOAD_TEST_A_FLAGS]			=
		NLA_POLICY_MASK(NLA_U32, KOFFLOAD_TEST_RUN_FLAG_ALL),
	[KOFFLOAD_TEST_A_RUN_ID]		= { .type = NLA_U32 },
	[KOFFLOAD_TEST_A_DONE]			= { .type = NLA_U32 },
	[KOFFLOAD_TEST_A_OUTCOMES]		= { .type = NLA_NESTED },
	[KOFFLOAD_TEST_A_MAX_WAIT_NS]		= { .type = NLA_U64 },
	[KOFFLOAD_TEST_A_INTACT]		= { .type = NLA_U64 },
	[KOFFLOAD_TEST_A_LAST_PAYLOAD]		= { .type = NLA_BINARY },
	[KOFFLOAD_TEST_A_TOTAL_WAIT_NS]		= { .type = NLA_U64 },
	[KOFFLOAD_TEST_A_CACHE_KEY]		= { .type = NLA_BINARY, .len = 64 },
	[KOFFLOAD_TEST_A_RESP_SIZE]		=
		NLA_POLICY_FULL_RANGE(NLA_U32, &koffload_test_resp_size_range),
	[KOFFLOAD_TEST_A_OUTCOME_MAX_WAIT_NS]	= { .type = NLA_NESTED },
	[KOFFLOAD_TEST_A_TIMEOUT_US]		=
		NLA_POLICY_FULL_RANGE(NLA_U32, &koffload_test_timeout_us_range),
	[KOFFLOAD_TEST_A_SELF_TRIGGER]		= { .type = NLA_NUL_STRING, .len = 64 - 1 },
};

#endif /* _KOFFLOAD_TEST_NL_GEN_H */
