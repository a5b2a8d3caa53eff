// Generated from proto/koffload.genl.yaml by `npm run gen` (scripts/gen.ts).
// Do not edit: change the source and regenerate.
//
// Wire constants of the koffload genl families. Keys are the spec names
// camel-cased; `<enum>Names` hold the spec names indexed by value,
// `<enum>Keys` the keys. Attribute specs drive the codec in
// src/netlink/codec.ts.

/** Kernel subsystems ask a bound userspace handler for decisions. */
export const KOFFLOAD = {
  familyName: 'koffload',
  version: 1,
  limits: {
    /** subsystem name buffer, NUL included */
    nameMax: 32,
    /** bytes of a request, reply or cache payload */
    payloadMax: 4096,
    /** bytes of an advisory cache key */
    keyMax: 64,
    /** ops per subsystem (op ids 1..ops-max-1) */
    opsMax: 64,
    /** highest op id */
    opMax: 63,
    /** highest in-flight cap a handler may ask for */
    inflightMax: 4096,
    /** highest deadline a subsystem or call may use */
    deadlineMaxMs: 60000,
    /** advisory cache entries per subsystem */
    cacheEntriesMax: 4096,
    /** highest advisory cache TTL */
    cacheTtlMaxMs: 3600000,
    /** canary fraction denominator */
    permille: 1000,
  },
  cmd: {
    /**
     * Make this socket the handler of a subsystem (admin). Request:
     * subsys-name, version, optional mode, canary-permille, deadline-ms,
     * max-inflight. Reply: subsys-id and the kernel limits.
     */
    bind: 1,
    /** Release a binding held by this socket (admin). Request subsys-id. */
    unbind: 2,
    /**
     * Kernel to handler, unicast: req-id, subsys-id, op, deadline-ns, flags,
     * payload, optional default.
     */
    request: 3,
    /**
     * Handler to kernel (admin, bound socket only): req-id, status, optional
     * payload.
     */
    reply: 4,
    /**
     * Put a decision in the advisory cache (admin, bound socket only):
     * subsys-id, cache-key, payload, cache-ttl-ms (0 deletes).
     */
    publish: 5,
    /**
     * One subsystem by subsys-id or subsys-name, or a dump of all: names, ids,
     * whether a handler is bound (its port and pid only for CAP_NET_ADMIN
     * readers), policy, pending, circuit, outcomes and counters.
     */
    getSubsys: 6,
    /** Change a subsystem's mode (admin). subsys-id, mode, canary-permille. */
    setMode: 7,
  },
  attr: {
    subsysName: 1,
    subsysId: 2,
    reqId: 3,
    op: 4,
    /** absolute, CLOCK_MONOTONIC */
    deadlineNs: 5,
    flags: 6,
    payload: 7,
    status: 8,
    /** the kernel's default choice */
    default: 9,
    mode: 10,
    canaryPermille: 11,
    deadlineMs: 12,
    maxInflight: 13,
    cacheKey: 14,
    cacheTtlMs: 15,
    version: 16,
    portid: 17,
    pending: 18,
    /** u64 per outcome, attr type = outcome + 1 */
    outcomes: 19,
    /** u64 per counter, attr type = counter + 1 */
    counters: 20,
    circuit: 21,
    payloadMax: 22,
    inflightMax: 23,
    deadlineMaxMs: 24,
    nrOps: 25,
    boundPid: 26,
    /** alignment padding of u64 attributes */
    pad: 27,
    /**
     * 1 when a handler is bound (portid and bound-pid only for CAP_NET_ADMIN
     * readers)
     */
    bound: 28,
  },
  attrSpec: {
    subsysName: { id: 1, type: 'string', maxLen: 32 },
    subsysId: { id: 2, type: 'u32' },
    reqId: { id: 3, type: 'u64' },
    op: { id: 4, type: 'u32', max: 63 },
    deadlineNs: { id: 5, type: 'u64' },
    flags: { id: 6, type: 'u32', enum: 'reqFlag', mask: 7 },
    payload: { id: 7, type: 'binary', maxLen: 4096 },
    status: { id: 8, type: 'u32', enum: 'status', max: 2 },
    default: { id: 9, type: 'binary', maxLen: 4096 },
    mode: { id: 10, type: 'u32', enum: 'mode', max: 3 },
    canaryPermille: { id: 11, type: 'u32', max: 1000 },
    deadlineMs: { id: 12, type: 'u32', max: 60000 },
    maxInflight: { id: 13, type: 'u32', max: 4096 },
    cacheKey: { id: 14, type: 'binary', maxLen: 64 },
    cacheTtlMs: { id: 15, type: 'u32', max: 3600000 },
    version: { id: 16, type: 'u32' },
    portid: { id: 17, type: 'u32' },
    pending: { id: 18, type: 'u32' },
    outcomes: { id: 19, type: 'nest', nested: 'counters' },
    counters: { id: 20, type: 'nest', nested: 'counters' },
    circuit: { id: 21, type: 'u32', enum: 'circuit', max: 2 },
    payloadMax: { id: 22, type: 'u32' },
    inflightMax: { id: 23, type: 'u32' },
    deadlineMaxMs: { id: 24, type: 'u32' },
    nrOps: { id: 25, type: 'u32' },
    boundPid: { id: 26, type: 'u32' },
    pad: { id: 27, type: 'pad' },
    bound: { id: 28, type: 'u32', max: 1 },
  },
  /** A handler's answer to one REQUEST. */
  status: {
    /** payload holds the decision */
    ok: 0,
    /** use your default */
    decline: 1,
    /** the handler failed */
    error: 2,
  },
  statusNames: ['ok', 'decline', 'error'],
  statusKeys: ['ok', 'decline', 'error'],
  /** Per-subsystem rollout mode, set at BIND and by SET-MODE. */
  mode: {
    /** never ask userspace; every call takes its default */
    off: 0,
    /** send the request without waiting; the caller keeps its default */
    shadow: 1,
    /** ask userspace for a set fraction of calls */
    canary: 2,
    /** ask userspace for every call */
    on: 3,
  },
  modeNames: ['off', 'shadow', 'canary', 'on'],
  modeKeys: ['off', 'shadow', 'canary', 'on'],
  /**
   * How one koffload_call() ended; every call ends in exactly one. Counted per
   * subsystem and reported by GET-SUBSYS.
   */
  outcome: {
    /** the handler's decision was returned */
    served: 0,
    /** the handler said: use your default */
    declined: 1,
    /** no socket is bound to the subsystem */
    noHandler: 2,
    /** the deadline passed before a reply */
    deadline: 3,
    /** atomic context, IRQs off or a gfp that cannot block */
    atomic: 4,
    /** memory reclaim or a NOFS/NOIO scope */
    reclaim: 5,
    /** the caller belongs to the bound handler process */
    recursion: 6,
    /** in-flight cap reached or the handler's socket buffer is full */
    overload: 7,
    /** the REQUEST could not be built or sent */
    sendFailure: 8,
    /** the handler replied with status error */
    handlerError: 9,
    /** the reply was missing fields or did not fit */
    malformed: 10,
    /** the handler's socket closed or it unbound mid-call */
    handlerDied: 11,
    /** too many recent failures; cooling down */
    circuitOpen: 12,
    /** the subsystem or module is going away */
    shutdown: 13,
    /** the caller got a fatal signal */
    signal: 14,
    /** mode off */
    disabled: 15,
    /** mode shadow: sent, not waited for */
    shadow: 16,
    /** mode canary: this call was not sampled */
    canarySkip: 17,
    /** bad arguments from the in-kernel caller */
    invalid: 18,
  },
  outcomeNames: [
    'served',
    'declined',
    'no-handler',
    'deadline',
    'atomic',
    'reclaim',
    'recursion',
    'overload',
    'send-failure',
    'handler-error',
    'malformed',
    'handler-died',
    'circuit-open',
    'shutdown',
    'signal',
    'disabled',
    'shadow',
    'canary-skip',
    'invalid',
  ],
  outcomeKeys: [
    'served',
    'declined',
    'noHandler',
    'deadline',
    'atomic',
    'reclaim',
    'recursion',
    'overload',
    'sendFailure',
    'handlerError',
    'malformed',
    'handlerDied',
    'circuitOpen',
    'shutdown',
    'signal',
    'disabled',
    'shadow',
    'canarySkip',
    'invalid',
  ],
  /** Per-subsystem counters besides outcomes, nested in stats. */
  counter: {
    /** REQUEST messages unicast to the handler */
    requestsSent: 0,
    /** replies for calls already completed or unknown ids */
    lateReplies: 1,
    /** replies from a socket that is not the bound one */
    foreignReplies: 2,
    /** replies that failed validation */
    badReplies: 3,
    /** advisory cache lookups that found a live entry */
    cacheHits: 4,
    /** advisory cache lookups that found nothing live */
    cacheMisses: 5,
    /** times the circuit opened */
    circuitOpens: 6,
    /** successful BINDs */
    binds: 7,
    /** bindings ended by the handler's socket closing */
    releases: 8,
    /** advisory REQUESTs sent by koffload_advise() */
    advisories: 9,
    /**
     * koffload_advise() calls that sent nothing (no handler, mode off, full
     * buffer)
     */
    advisoriesDropped: 10,
  },
  counterNames: [
    'requests-sent',
    'late-replies',
    'foreign-replies',
    'bad-replies',
    'cache-hits',
    'cache-misses',
    'circuit-opens',
    'binds',
    'releases',
    'advisories',
    'advisories-dropped',
  ],
  counterKeys: [
    'requestsSent',
    'lateReplies',
    'foreignReplies',
    'badReplies',
    'cacheHits',
    'cacheMisses',
    'circuitOpens',
    'binds',
    'releases',
    'advisories',
    'advisoriesDropped',
  ],
  /** Circuit breaker state. */
  circuit: {
    closed: 0,
    open: 1,
    halfOpen: 2,
  },
  circuitNames: ['closed', 'open', 'half-open'],
  circuitKeys: ['closed', 'open', 'halfOpen'],
  /** Flags on a REQUEST. */
  reqFlag: {
    /** the kernel is not waiting and req-id is 0: record, do not reply */
    shadow: 1,
    /** the op is advisory: answer through PUBLISH, never block */
    advisory: 2,
    /** the default attribute holds the kernel's own choice */
    hasDefault: 4,
  },
  reqFlagNames: ['shadow', 'advisory', 'has-default'],
  reqFlagKeys: ['shadow', 'advisory', 'hasDefault'],
  reqFlagAll: 7,
} as const;

/**
 * Control family of koffload_test.ko: drives in-kernel callers of the test
 * subsystems so the suites can check koffload_call() from outside.
 */
export const KOFFLOAD_TEST = {
  familyName: 'koffload_test',
  version: 1,
  limits: {
    /** kernel threads one run may start */
    threadsMax: 64,
    /** calls one run may make */
    callsMax: 1000000,
    /** runs kept at once */
    runsMax: 16,
  },
  cmd: {
    /**
     * Start a run (admin): subsys, op, calls, threads, timeout-ms or
     * timeout-us, context, payload, flags, cache-key, resp-size. Reply:
     * run-id. Context self makes no call yet: its reply also carries
     * self-trigger, the debugfs file that the process writes the run id to;
     * that write makes the calls in the writer's own context, outside every
     * genl lock.
     */
    run: 1,
    /**
     * A run's state (admin): run-id. Reply: done, outcomes,
     * outcome-max-wait-ns, max-wait-ns, total-wait-ns, intact, last-payload. A
     * done run is forgotten once read.
     */
    result: 2,
  },
  attr: {
    subsys: 1,
    op: 2,
    calls: 3,
    threads: 4,
    timeoutMs: 5,
    context: 6,
    payload: 7,
    flags: 8,
    runId: 9,
    done: 10,
    /** u64 per koffload outcome, attr type = outcome + 1 */
    outcomes: 11,
    maxWaitNs: 12,
    intact: 13,
    lastPayload: 14,
    totalWaitNs: 15,
    cacheKey: 16,
    /** alignment padding of u64 attributes */
    pad: 17,
    /** size of the reply buffer each call passes (default 4096) */
    respSize: 18,
    /**
     * longest wait by koffload outcome: u64 per outcome, attr type = outcome +
     * 1
     */
    outcomeMaxWaitNs: 19,
    /**
     * deadline of each call in microseconds (kc_timeout_us); wins over
     * timeout-ms
     */
    timeoutUs: 20,
    /**
     * RUN reply for context self: the debugfs file the sender writes the run
     * id to; the write makes the calls
     */
    selfTrigger: 21,
  },
  attrSpec: {
    subsys: { id: 1, type: 'string', maxLen: 32 },
    op: { id: 2, type: 'u32' },
    calls: { id: 3, type: 'u32', max: 1000000 },
    threads: { id: 4, type: 'u32', max: 64 },
    timeoutMs: { id: 5, type: 'u32' },
    context: { id: 6, type: 'u32', enum: 'context', max: 12 },
    payload: { id: 7, type: 'binary', maxLen: 4096 },
    flags: { id: 8, type: 'u32', enum: 'runFlag', mask: 15 },
    runId: { id: 9, type: 'u32' },
    done: { id: 10, type: 'u32' },
    outcomes: { id: 11, type: 'nest' },
    maxWaitNs: { id: 12, type: 'u64' },
    intact: { id: 13, type: 'u64' },
    lastPayload: { id: 14, type: 'binary' },
    totalWaitNs: { id: 15, type: 'u64' },
    cacheKey: { id: 16, type: 'binary', maxLen: 64 },
    pad: { id: 17, type: 'pad' },
    respSize: { id: 18, type: 'u32', max: 4096 },
    outcomeMaxWaitNs: { id: 19, type: 'nest' },
    timeoutUs: { id: 20, type: 'u32', max: 60000000 },
    selfTrigger: { id: 21, type: 'string', maxLen: 64 },
  },
  /** The calling context a run's calls are made in. */
  context: {
    /** kernel thread, GFP_KERNEL */
    normal: 0,
    /** under a spinlock with GFP_ATOMIC */
    atomic: 1,
    /** inside memalloc_noreclaim_save() */
    noreclaim: 2,
    /** inside memalloc_nofs_save() */
    nofs: 3,
    /** synchronously in the RUN command, from the calling process */
    self: 4,
    /** advisory cache lookups inside memalloc_noreclaim_save() */
    cache: 5,
    /**
     * koffload_advise() inside memalloc_noreclaim_save(); intact counts those
     * sent
     */
    advise: 6,
    /** kernel thread with local IRQs disabled, GFP_ATOMIC */
    irqsoff: 7,
    /** from an irq_work, in hard interrupt context, GFP_ATOMIC */
    hardirq: 8,
    /** from a soft hrtimer, in softirq context, GFP_ATOMIC */
    softirq: 9,
    /** inside rcu_read_lock(), GFP_KERNEL */
    rcu: 10,
    /** inside memalloc_noio_save() */
    noio: 11,
    /** a kernel thread flagged PF_MEMALLOC | PF_KSWAPD, as kswapd is */
    kswapd: 12,
  },
  contextNames: [
    'normal',
    'atomic',
    'noreclaim',
    'nofs',
    'self',
    'cache',
    'advise',
    'irqsoff',
    'hardirq',
    'softirq',
    'rcu',
    'noio',
    'kswapd',
  ],
  contextKeys: [
    'normal',
    'atomic',
    'noreclaim',
    'nofs',
    'self',
    'cache',
    'advise',
    'irqsoff',
    'hardirq',
    'softirq',
    'rcu',
    'noio',
    'kswapd',
  ],
  /** Flags on RUN. */
  runFlag: {
    /** count a served reply as intact when it echoes the request */
    checkEcho: 1,
    /** pass the request payload as the kernel's default */
    sendDefault: 2,
    /**
     * send the RUN payload itself as each request, not wrapped in an
     * EchoRequest
     */
    raw: 4,
    /**
     * each call is a koffload_advise() in the run's context; intact counts
     * those sent
     */
    advise: 8,
  },
  runFlagNames: ['check-echo', 'send-default', 'raw', 'advise'],
  runFlagKeys: ['checkEcho', 'sendDefault', 'raw', 'advise'],
  runFlagAll: 15,
} as const;

export type Status = keyof typeof KOFFLOAD.status;
export type StatusName = (typeof KOFFLOAD.statusNames)[number];
export type Mode = keyof typeof KOFFLOAD.mode;
export type ModeName = (typeof KOFFLOAD.modeNames)[number];
export type Outcome = keyof typeof KOFFLOAD.outcome;
export type OutcomeName = (typeof KOFFLOAD.outcomeNames)[number];
export type Counter = keyof typeof KOFFLOAD.counter;
export type CounterName = (typeof KOFFLOAD.counterNames)[number];
export type Circuit = keyof typeof KOFFLOAD.circuit;
export type CircuitName = (typeof KOFFLOAD.circuitNames)[number];
export type ReqFlag = keyof typeof KOFFLOAD.reqFlag;
export type ReqFlagName = (typeof KOFFLOAD.reqFlagNames)[number];
export type Cmd = keyof typeof KOFFLOAD.cmd;
export type Attr = keyof typeof KOFFLOAD.attr;
export type Limit = keyof typeof KOFFLOAD.limits;
export type KoffloadTestContext = keyof typeof KOFFLOAD_TEST.context;
export type KoffloadTestContextName = (typeof KOFFLOAD_TEST.contextNames)[number];
export type KoffloadTestRunFlag = keyof typeof KOFFLOAD_TEST.runFlag;
export type KoffloadTestRunFlagName = (typeof KOFFLOAD_TEST.runFlagNames)[number];
export type KoffloadTestCmd = keyof typeof KOFFLOAD_TEST.cmd;
export type KoffloadTestAttr = keyof typeof KOFFLOAD_TEST.attr;
export type KoffloadTestLimit = keyof typeof KOFFLOAD_TEST.limits;
