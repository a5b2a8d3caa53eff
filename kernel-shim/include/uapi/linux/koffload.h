/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Generated from proto/koffload.genl.yaml by `npm run gen` (scripts/gen.ts).
 * Do not edit: change the source and regenerate.
 *
 * Generic netlink families of koffload: names, versions, limits, enums,
 * attributes and commands. Numbering is ABI: append only.
 */
#ifndef _UAPI_LINUX_KOFFLOAD_H
#define _UAPI_LINUX_KOFFLOAD_H

/*
 * Family koffload: Kernel subsystems ask a bound userspace handler for
 * decisions.
 */
#define KOFFLOAD_FAMILY_NAME		"koffload"
#define KOFFLOAD_FAMILY_VERSION		1
/* subsystem name buffer, NUL included */
#define KOFFLOAD_NAME_MAX		32
/* bytes of a request, reply or cache payload */
#define KOFFLOAD_PAYLOAD_MAX		4096
/* bytes of an advisory cache key */
#define KOFFLOAD_KEY_MAX		64
/* ops per subsystem (op ids 1..ops-max-1) */
#define KOFFLOAD_OPS_MAX		64
/* highest op id */
#define KOFFLOAD_OP_MAX			63
/* highest in-flight cap a handler may ask for */
#define KOFFLOAD_INFLIGHT_MAX		4096
/* highest deadline a subsystem or call may use */
#define KOFFLOAD_DEADLINE_MAX_MS	60000
/* advisory cache entries per subsystem */
#define KOFFLOAD_CACHE_ENTRIES_MAX	4096
/* highest advisory cache TTL */
#define KOFFLOAD_CACHE_TTL_MAX_MS	3600000
/* canary fraction denominator */
#define KOFFLOAD_PERMILLE		1000

/**
 * enum koffload_status - A handler's answer to one REQUEST.
 * @KOFFLOAD_STATUS_OK: payload holds the decision
 * @KOFFLOAD_STATUS_DECLINE: use your default
 * @KOFFLOAD_STATUS_ERROR: the handler failed
 * @__KOFFLOAD_STATUS_MAX: one past the last value
 * @KOFFLOAD_STATUS_MAX: the highest value
 */
enum koffload_status {
	KOFFLOAD_STATUS_OK,
	KOFFLOAD_STATUS_DECLINE,
	KOFFLOAD_STATUS_ERROR,

	__KOFFLOAD_STATUS_MAX,
	KOFFLOAD_STATUS_MAX = (__KOFFLOAD_STATUS_MAX - 1)
};

/**
 * enum koffload_mode - Per-subsystem rollout mode, set at BIND and by SET-MODE.
 * @KOFFLOAD_MODE_OFF: never ask userspace; every call takes its default
 * @KOFFLOAD_MODE_SHADOW: send the request without waiting; the caller keeps
 *	its default
 * @KOFFLOAD_MODE_CANARY: ask userspace for a set fraction of calls
 * @KOFFLOAD_MODE_ON: ask userspace for every call
 * @__KOFFLOAD_MODE_MAX: one past the last value
 * @KOFFLOAD_MODE_MAX: the highest value
 */
enum koffload_mode {
	KOFFLOAD_MODE_OFF,
	KOFFLOAD_MODE_SHADOW,
	KOFFLOAD_MODE_CANARY,
	KOFFLOAD_MODE_ON,

	__KOFFLOAD_MODE_MAX,
	KOFFLOAD_MODE_MAX = (__KOFFLOAD_MODE_MAX - 1)
};

/**
 * enum koffload_outcome - How one koffload_call() ended; every call ends in
 * exactly one. Counted per subsystem and reported by GET-SUBSYS.
 * @KOFFLOAD_OUTCOME_SERVED: the handler's decision was returned
 * @KOFFLOAD_OUTCOME_DECLINED: the handler said: use your default
 * @KOFFLOAD_OUTCOME_NO_HANDLER: no socket is bound to the subsystem
 * @KOFFLOAD_OUTCOME_DEADLINE: the deadline passed before a reply
 * @KOFFLOAD_OUTCOME_ATOMIC: atomic context, IRQs off or a gfp that cannot
 *	block
 * @KOFFLOAD_OUTCOME_RECLAIM: memory reclaim or a NOFS/NOIO scope
 * @KOFFLOAD_OUTCOME_RECURSION: the caller belongs to the bound handler process
 * @KOFFLOAD_OUTCOME_OVERLOAD: in-flight cap reached or the handler's socket
 *	buffer is full
 * @KOFFLOAD_OUTCOME_SEND_FAILURE: the REQUEST could not be built or sent
 * @KOFFLOAD_OUTCOME_HANDLER_ERROR: the handler replied with status error
 * @KOFFLOAD_OUTCOME_MALFORMED: the reply was missing fields or did not fit
 * @KOFFLOAD_OUTCOME_HANDLER_DIED: the handler's socket closed or it unbound
 *	mid-call
 * @KOFFLOAD_OUTCOME_CIRCUIT_OPEN: too many recent failures; cooling down
 * @KOFFLOAD_OUTCOME_SHUTDOWN: the subsystem or module is going away
 * @KOFFLOAD_OUTCOME_SIGNAL: the caller got a fatal signal
 * @KOFFLOAD_OUTCOME_DISABLED: mode off
 * @KOFFLOAD_OUTCOME_SHADOW: mode shadow: sent, not waited for
 * @KOFFLOAD_OUTCOME_CANARY_SKIP: mode canary: this call was not sampled
 * @KOFFLOAD_OUTCOME_INVALID: bad arguments from the in-kernel caller
 * @__KOFFLOAD_OUTCOME_MAX: one past the last value
 * @KOFFLOAD_OUTCOME_MAX: the highest value
 */
enum koffload_outcome {
	KOFFLOAD_OUTCOME_SERVED,
	KOFFLOAD_OUTCOME_DECLINED,
	KOFFLOAD_OUTCOME_NO_HANDLER,
	KOFFLOAD_OUTCOME_DEADLINE,
	KOFFLOAD_OUTCOME_ATOMIC,
	KOFFLOAD_OUTCOME_RECLAIM,
	KOFFLOAD_OUTCOME_RECURSION,
	KOFFLOAD_OUTCOME_OVERLOAD,
	KOFFLOAD_OUTCOME_SEND_FAILURE,
	KOFFLOAD_OUTCOME_HANDLER_ERROR,
	KOFFLOAD_OUTCOME_MALFORMED,
	KOFFLOAD_OUTCOME_HANDLER_DIED,
	KOFFLOAD_OUTCOME_CIRCUIT_OPEN,
	KOFFLOAD_OUTCOME_SHUTDOWN,
	KOFFLOAD_OUTCOME_SIGNAL,
	KOFFLOAD_OUTCOME_DISABLED,
	KOFFLOAD_OUTCOME_SHADOW,
	KOFFLOAD_OUTCOME_CANARY_SKIP,
	KOFFLOAD_OUTCOME_INVALID,

	__KOFFLOAD_OUTCOME_MAX,
	KOFFLOAD_OUTCOME_MAX = (__KOFFLOAD_OUTCOME_MAX - 1)
};

/**
 * enum koffload_counter - Per-subsystem counters besides outcomes, nested in
 * stats.
 * @KOFFLOAD_COUNTER_REQUESTS_SENT: REQUEST messages unicast to the handler
 * @KOFFLOAD_COUNTER_LATE_REPLIES: replies for calls already completed or
 *	unknown ids
 * @KOFFLOAD_COUNTER_FOREIGN_REPLIES: replies from a socket that is not the
 *	bound one
 * @KOFFLOAD_COUNTER_BAD_REPLIES: replies that failed validation
 * @KOFFLOAD_COUNTER_CACHE_HITS: advisory cache lookups that found a live entry
 * @KOFFLOAD_COUNTER_CACHE_MISSES: advisory cache lookups that found nothing
 *	live
 * @KOFFLOAD_COUNTER_CIRCUIT_OPENS: times the circuit opened
 * @KOFFLOAD_COUNTER_BINDS: successful BINDs
 * @KOFFLOAD_COUNTER_RELEASES: bindings ended by the handler's socket closing
 * @KOFFLOAD_COUNTER_ADVISORIES: advisory REQUESTs sent by koffload_advise()
 * @KOFFLOAD_COUNTER_ADVISORIES_DROPPED: koffload_advise() calls that sent
 *	nothing (no handler, mode off, full buffer)
 * @__KOFFLOAD_COUNTER_MAX: one past the last value
 * @KOFFLOAD_COUNTER_MAX: the highest value
 */
enum koffload_counter {
	KOFFLOAD_COUNTER_REQUESTS_SENT,
	KOFFLOAD_COUNTER_LATE_REPLIES,
	KOFFLOAD_COUNTER_FOREIGN_REPLIES,
	KOFFLOAD_COUNTER_BAD_REPLIES,
	KOFFLOAD_COUNTER_CACHE_HITS,
	KOFFLOAD_COUNTER_CACHE_MISSES,
	KOFFLOAD_COUNTER_CIRCUIT_OPENS,
	KOFFLOAD_COUNTER_BINDS,
	KOFFLOAD_COUNTER_RELEASES,
	KOFFLOAD_COUNTER_ADVISORIES,
	KOFFLOAD_COUNTER_ADVISORIES_DROPPED,

	__KOFFLOAD_COUNTER_MAX,
	KOFFLOAD_COUNTER_MAX = (__KOFFLOAD_COUNTER_MAX - 1)
};

/**
 * enum koffload_circuit - Circuit breaker state.
 * @KOFFLOAD_CIRCUIT_CLOSED: closed
 * @KOFFLOAD_CIRCUIT_OPEN: open
 * @KOFFLOAD_CIRCUIT_HALF_OPEN: half open
 * @__KOFFLOAD_CIRCUIT_MAX: one past the last value
 * @KOFFLOAD_CIRCUIT_MAX: the highest value
 */
enum koffload_circuit {
	KOFFLOAD_CIRCUIT_CLOSED,
	KOFFLOAD_CIRCUIT_OPEN,
	KOFFLOAD_CIRCUIT_HALF_OPEN,

	__KOFFLOAD_CIRCUIT_MAX,
	KOFFLOAD_CIRCUIT_MAX = (__KOFFLOAD_CIRCUIT_MAX - 1)
};

/**
 * enum koffload_req_flag - Flags on a REQUEST.
 * @KOFFLOAD_REQ_FLAG_SHADOW: the kernel is not waiting and req-id is 0:
 *	record, do not reply
 * @KOFFLOAD_REQ_FLAG_ADVISORY: the op is advisory: answer through PUBLISH,
 *	never block
 * @KOFFLOAD_REQ_FLAG_HAS_DEFAULT: the default attribute holds the kernel's own
 *	choice
 */
enum koffload_req_flag {
	KOFFLOAD_REQ_FLAG_SHADOW = 1,
	KOFFLOAD_REQ_FLAG_ADVISORY = 2,
	KOFFLOAD_REQ_FLAG_HAS_DEFAULT = 4,
};

#define KOFFLOAD_REQ_FLAG_ALL	0x7

/*
 * Attributes of koffload (set attr): Envelope attributes, strictly validated on
 * both sides.
 */
enum {
	KOFFLOAD_A_UNSPEC,
	KOFFLOAD_A_SUBSYS_NAME,		/* string, max KOFFLOAD_NAME_MAX bytes with NUL */
	KOFFLOAD_A_SUBSYS_ID,		/* u32 */
	KOFFLOAD_A_REQ_ID,		/* u64 */
	KOFFLOAD_A_OP,			/* u32, max KOFFLOAD_OP_MAX */
	/* absolute, CLOCK_MONOTONIC */
	KOFFLOAD_A_DEADLINE_NS,		/* u64 */
	KOFFLOAD_A_FLAGS,		/* u32, enum koffload_req_flag */
	KOFFLOAD_A_PAYLOAD,		/* binary, max KOFFLOAD_PAYLOAD_MAX bytes */
	KOFFLOAD_A_STATUS,		/* u32, enum koffload_status */
	/* the kernel's default choice */
	KOFFLOAD_A_DEFAULT,		/* binary, max KOFFLOAD_PAYLOAD_MAX bytes */
	KOFFLOAD_A_MODE,		/* u32, enum koffload_mode */
	KOFFLOAD_A_CANARY_PERMILLE,	/* u32, max KOFFLOAD_PERMILLE */
	KOFFLOAD_A_DEADLINE_MS,		/* u32, max KOFFLOAD_DEADLINE_MAX_MS */
	KOFFLOAD_A_MAX_INFLIGHT,	/* u32, max KOFFLOAD_INFLIGHT_MAX */
	KOFFLOAD_A_CACHE_KEY,		/* binary, max KOFFLOAD_KEY_MAX bytes */
	KOFFLOAD_A_CACHE_TTL_MS,	/* u32, max KOFFLOAD_CACHE_TTL_MAX_MS */
	KOFFLOAD_A_VERSION,		/* u32 */
	KOFFLOAD_A_PORTID,		/* u32 */
	KOFFLOAD_A_PENDING,		/* u32 */
	/* u64 per outcome, attr type = outcome + 1 */
	KOFFLOAD_A_OUTCOMES,		/* nest, of counters */
	/* u64 per counter, attr type = counter + 1 */
	KOFFLOAD_A_COUNTERS,		/* nest, of counters */
	KOFFLOAD_A_CIRCUIT,		/* u32, enum koffload_circuit */
	KOFFLOAD_A_PAYLOAD_MAX,		/* u32 */
	KOFFLOAD_A_INFLIGHT_MAX,	/* u32 */
	KOFFLOAD_A_DEADLINE_MAX_MS,	/* u32 */
	KOFFLOAD_A_NR_OPS,		/* u32 */
	KOFFLOAD_A_BOUND_PID,		/* u32 */
	/* alignment padding of u64 attributes */
	KOFFLOAD_A_PAD,			/* pad */
	/*
	 * 1 when a handler is bound (portid and bound-pid only for
	 * CAP_NET_ADMIN readers)
	 */
	KOFFLOAD_A_BOUND,		/* u32, max 1 */

	__KOFFLOAD_A_MAX,
	KOFFLOAD_A_MAX = (__KOFFLOAD_A_MAX - 1)
};

/* Commands of koffload */
enum {
	KOFFLOAD_CMD_UNSPEC,
	/*
	 * Make this socket the handler of a subsystem (admin). Request:
	 * subsys-name, version, optional mode, canary-permille, deadline-ms,
	 * max-inflight. Reply: subsys-id and the kernel limits. [needs
	 * CAP_NET_ADMIN]
	 */
	KOFFLOAD_CMD_BIND,
	/*
	 * Release a binding held by this socket (admin). Request subsys-id.
	 * [needs CAP_NET_ADMIN]
	 */
	KOFFLOAD_CMD_UNBIND,
	/*
	 * Kernel to handler, unicast: req-id, subsys-id, op, deadline-ns,
	 * flags, payload, optional default.
	 */
	KOFFLOAD_CMD_REQUEST,
	/*
	 * Handler to kernel (admin, bound socket only): req-id, status,
	 * optional payload. [needs CAP_NET_ADMIN]
	 */
	KOFFLOAD_CMD_REPLY,
	/*
	 * Put a decision in the advisory cache (admin, bound socket only):
	 * subsys-id, cache-key, payload, cache-ttl-ms (0 deletes). [needs
	 * CAP_NET_ADMIN]
	 */
	KOFFLOAD_CMD_PUBLISH,
	/*
	 * One subsystem by subsys-id or subsys-name, or a dump of all: names,
	 * ids, whether a handler is bound (its port and pid only for
	 * CAP_NET_ADMIN readers), policy, pending, circuit, outcomes and
	 * counters. [dumpable]
	 */
	KOFFLOAD_CMD_GET_SUBSYS,
	/*
	 * Change a subsystem's mode (admin). subsys-id, mode, canary-permille.
	 * [needs CAP_NET_ADMIN]
	 */
	KOFFLOAD_CMD_SET_MODE,

	__KOFFLOAD_CMD_MAX,
	KOFFLOAD_CMD_MAX = (__KOFFLOAD_CMD_MAX - 1)
};

/*
 * Family koffload_test: Control family of koffload_test.ko: drives in-kernel
 * callers of the test subsystems so the suites can check koffload_call() from
 * outside.
 */
#define KOFFLOAD_TEST_FAMILY_NAME	"koffload_test"
#define KOFFLOAD_TEST_FAMILY_VERSION	1
/* kernel threads one run may start */
#define KOFFLOAD_TEST_THREADS_MAX	64
/* calls one run may make */
#define KOFFLOAD_TEST_CALLS_MAX		1000000
/* runs kept at once */
#define KOFFLOAD_TEST_RUNS_MAX		16

/**
 * enum koffload_test_context - The calling context a run's calls are made in.
 * @KOFFLOAD_TEST_CONTEXT_NORMAL: kernel thread, GFP_KERNEL
 * @KOFFLOAD_TEST_CONTEXT_ATOMIC: under a spinlock with GFP_ATOMIC
 * @KOFFLOAD_TEST_CONTEXT_NORECLAIM: inside memalloc_noreclaim_save()
 * @KOFFLOAD_TEST_CONTEXT_NOFS: inside memalloc_nofs_save()
 * @KOFFLOAD_TEST_CONTEXT_SELF: synchronously in the RUN command, from the
 *	calling process
 * @KOFFLOAD_TEST_CONTEXT_CACHE: advisory cache lookups inside
 *	memalloc_noreclaim_save()
 * @KOFFLOAD_TEST_CONTEXT_ADVISE: koffload_advise() inside
 *	memalloc_noreclaim_save(); intact counts those sent
 * @KOFFLOAD_TEST_CONTEXT_IRQSOFF: kernel thread with local IRQs disabled,
 *	GFP_ATOMIC
 * @KOFFLOAD_TEST_CONTEXT_HARDIRQ: from an irq_work, in hard interrupt context,
 *	GFP_ATOMIC
 * @KOFFLOAD_TEST_CONTEXT_SOFTIRQ: from a soft hrtimer, in softirq context,
 *	GFP_ATOMIC
 * @KOFFLOAD_TEST_CONTEXT_RCU: inside rcu_read_lock(), GFP_KERNEL
 * @KOFFLOAD_TEST_CONTEXT_NOIO: inside memalloc_noio_save()
 * @KOFFLOAD_TEST_CONTEXT_KSWAPD: a kernel thread flagged PF_MEMALLOC |
 *	PF_KSWAPD, as kswapd is
 * @__KOFFLOAD_TEST_CONTEXT_MAX: one past the last value
 * @KOFFLOAD_TEST_CONTEXT_MAX: the highest value
 */
enum koffload_test_context {
	KOFFLOAD_TEST_CONTEXT_NORMAL,
	KOFFLOAD_TEST_CONTEXT_ATOMIC,
	KOFFLOAD_TEST_CONTEXT_NORECLAIM,
	KOFFLOAD_TEST_CONTEXT_NOFS,
	KOFFLOAD_TEST_CONTEXT_SELF,
	KOFFLOAD_TEST_CONTEXT_CACHE,
	KOFFLOAD_TEST_CONTEXT_ADVISE,
	KOFFLOAD_TEST_CONTEXT_IRQSOFF,
	KOFFLOAD_TEST_CONTEXT_HARDIRQ,
	KOFFLOAD_TEST_CONTEXT_SOFTIRQ,
	KOFFLOAD_TEST_CONTEXT_RCU,
	KOFFLOAD_TEST_CONTEXT_NOIO,
	KOFFLOAD_TEST_CONTEXT_KSWAPD,

	__KOFFLOAD_TEST_CONTEXT_MAX,
	KOFFLOAD_TEST_CONTEXT_MAX = (__KOFFLOAD_TEST_CONTEXT_MAX - 1)
};

/**
 * enum koffload_test_run_flag - Flags on RUN.
 * @KOFFLOAD_TEST_RUN_FLAG_CHECK_ECHO: count a served reply as intact when it
 *	echoes the request
 * @KOFFLOAD_TEST_RUN_FLAG_SEND_DEFAULT: pass the request payload as the
 *	kernel's default
 * @KOFFLOAD_TEST_RUN_FLAG_RAW: send the RUN payload itself as each request,
 *	not wrapped in an EchoRequest
 * @KOFFLOAD_TEST_RUN_FLAG_ADVISE: each call is a koffload_advise() in the
 *	run's context; intact counts those sent
 */
enum koffload_test_run_flag {
	KOFFLOAD_TEST_RUN_FLAG_CHECK_ECHO = 1,
	KOFFLOAD_TEST_RUN_FLAG_SEND_DEFAULT = 2,
	KOFFLOAD_TEST_RUN_FLAG_RAW = 4,
	KOFFLOAD_TEST_RUN_FLAG_ADVISE = 8,
};

#define KOFFLOAD_TEST_RUN_FLAG_ALL	0xf

/* Attributes of koffload_test (set attr) */
enum {
	KOFFLOAD_TEST_A_UNSPEC,
	KOFFLOAD_TEST_A_SUBSYS,			/* string, max 32 bytes with NUL */
	KOFFLOAD_TEST_A_OP,			/* u32 */
	KOFFLOAD_TEST_A_CALLS,			/* u32, max KOFFLOAD_TEST_CALLS_MAX */
	KOFFLOAD_TEST_A_THREADS,		/* u32, max KOFFLOAD_TEST_THREADS_MAX */
	KOFFLOAD_TEST_A_TIMEOUT_MS,		/* u32 */
	KOFFLOAD_TEST_A_CONTEXT,		/* u32, enum koffload_test_context */
	KOFFLOAD_TEST_A_PAYLOAD,		/* binary, max 4096 bytes */
	KOFFLOAD_TEST_A_FLAGS,			/* u32, enum koffload_test_run_flag */
	KOFFLOAD_TEST_A_RUN_ID,			/* u32 */
	KOFFLOAD_TEST_A_DONE,			/* u32 */
	/* u64 per koffload outcome, attr type = outcome + 1 */
	KOFFLOAD_TEST_A_OUTCOMES,		/* nest */
	KOFFLOAD_TEST_A_MAX_WAIT_NS,		/* u64 */
	KOFFLOAD_TEST_A_INTACT,			/* u64 */
	KOFFLOAD_TEST_A_LAST_PAYLOAD,		/* binary */
	KOFFLOAD_TEST_A_TOTAL_WAIT_NS,		/* u64 */
	KOFFLOAD_TEST_A_CACHE_KEY,		/* binary, max 64 bytes */
	/* alignment padding of u64 attributes */
	KOFFLOAD_TEST_A_PAD,			/* pad */
	/* size of the reply buffer each call passes (default 4096) */
	KOFFLOAD_TEST_A_RESP_SIZE,		/* u32, max 4096 */
	/*
	 * longest wait by koffload outcome: u64 per outcome, attr type =
	 * outcome + 1
	 */
	KOFFLOAD_TEST_A_OUTCOME_MAX_WAIT_NS,	/* nest */
	/*
	 * deadline of each call in microseconds (kc_timeout_us); wins over
	 * timeout-ms
	 */
	KOFFLOAD_TEST_A_TIMEOUT_US,		/* u32, max 60000000 */
	/*
	 * RUN reply for context self: the debugfs file the sender writes the
	 * run id to; the write makes the calls
	 */
	KOFFLOAD_TEST_A_SELF_TRIGGER,		/* string, max 64 bytes with NUL */

	__KOFFLOAD_TEST_A_MAX,
	KOFFLOAD_TEST_A_MAX = (__KOFFLOAD_TEST_A_MAX - 1)
};

/* Commands of koffload_test */
enum {
	KOFFLOAD_TEST_CMD_UNSPEC,
	/*
	 * Start a run (admin): subsys, op, calls, threads, timeout-ms or
	 * timeout-us, context, payload, flags, cache-key, resp-size. Reply:
	 * run-id. Context self makes no call yet: its reply also carries
	 * self-trigger, the debugfs file that the process writes the run id to;
	 * that write makes the calls in the writer's own context, outside every
	 * genl lock. [needs CAP_NET_ADMIN]
	 */
	KOFFLOAD_TEST_CMD_RUN,
	/*
	 * A run's state (admin): run-id. Reply: done, outcomes,
	 * outcome-max-wait-ns, max-wait-ns, total-wait-ns, intact,
	 * last-payload. A done run is forgotten once read. [needs
	 * CAP_NET_ADMIN]
	 */
	KOFFLOAD_TEST_CMD_RESULT,

	__KOFFLOAD_TEST_CMD_MAX,
	KOFFLOAD_TEST_CMD_MAX = (__KOFFLOAD_TEST_CMD_MAX - 1)
};

#endif /* _UAPI_LINUX_KOFFLOAD_H */
