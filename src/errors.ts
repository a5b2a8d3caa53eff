/**
 * The one table of koffload's coded errors. Callers and tests branch on
 * `err.code`, never on message text. Each entry carries the message and a
 * "solution" sentence (listed in the docs).
 */
import { constants as osConstants } from 'node:os';

export const ERRORS = {
  KOFFLOAD_ERR_MALFORMED: {
    message: 'malformed netlink message',
    solution:
      'The peer sent bytes that break the wire contract in proto/koffload.genl.yaml; check that the kernel module and the daemon were built from the same spec (`npm run gen:check`).',
  },
  KOFFLOAD_ERR_NO_FAMILY: {
    message: 'generic netlink family not registered',
    solution:
      'Load the kernel module (insmod kernel-shim/koffload.ko, or modprobe koffload), or run against the simulator.',
  },
  KOFFLOAD_ERR_INVALID_ARG: {
    message: 'invalid argument',
    solution: 'Pass a value within the limits of proto/koffload.genl.yaml (exported as KOFFLOAD.limits).',
  },
  KOFFLOAD_ERR_TIMEOUT: {
    message: 'no answer from the kernel in time',
    solution:
      'Check that the module is loaded and responsive; raise timeoutMs if the host is slow (for example a QEMU guest without KVM).',
  },
  KOFFLOAD_ERR_SOCKET: {
    message: 'cannot open or use the netlink socket',
    solution: 'Run on Linux with generic netlink available; binding and admin commands need CAP_NET_ADMIN.',
  },
  KOFFLOAD_ERR_SOCKET_CLOSED: {
    message: 'the netlink socket is closed',
    solution: 'Open a new client; a closed client cannot send or wait for answers.',
  },
  KOFFLOAD_ERR_VERSION: {
    message: 'the kernel speaks another koffload protocol version',
    solution: 'Rebuild the module and the daemon from the same proto/koffload.genl.yaml.',
  },
  KOFFLOAD_ERR_UNKNOWN_SUBSYSTEM: {
    message: 'unknown subsystem',
    solution:
      'Use a subsystem the kernel registers (`koffloadctl status` lists them) and pass its schema from src/generated/proto/ when the schema is not named like the subsystem.',
  },
  KOFFLOAD_ERR_UNKNOWN_OP: {
    message: 'unknown op',
    solution: "Key `ops` by the names of the schema's `enum Op` entries (OP_ECHO -> echo); add new ops to the .proto file and run `npm run gen`.",
  },
  KOFFLOAD_ERR_DUPLICATE_OP: {
    message: 'op registered twice',
    solution: 'Register each op id once per subsystem; remove the second entry or give it its own op in the .proto file.',
  },
  KOFFLOAD_ERR_MISSING_HANDLER: {
    message: 'op without a handler function',
    solution: 'Give every op listed in `ops` a `handler: async (req, ctx) => response | decline()`, or leave the op out (the daemon then declines it).',
  },
  KOFFLOAD_ERR_BAD_LIMITS: {
    message: 'invalid policy limits',
    solution: 'Keep each limit within the bounds documented in docs/policy-guide.md (integers; concurrency >= 1; deadlines within KOFFLOAD.limits.deadlineMaxMs).',
  },
  KOFFLOAD_ERR_SCHEMA_MISMATCH: {
    message: "the op's types do not match the schema",
    solution:
      "Use the request and response codecs the schema assigns to the op (OP_X -> XRequest/XResponse in src/generated/proto/), or drop `op`, `request` and `response` and let the schema supply them.",
  },
  KOFFLOAD_ERR_BAD_POLICY: {
    message: 'not a policy module',
    solution: 'Default-export the result of definePolicy() (or an array of them) from the policy module.',
  },
  KOFFLOAD_ERR_POLICY_NOT_FOUND: {
    message: 'policy module not found',
    solution: 'Check the path given by --policy or the config file (relative paths are resolved against the config file, or the working directory for flags).',
  },
  KOFFLOAD_ERR_BAD_CONFIG: {
    message: 'invalid configuration',
    solution: 'Fix the config file or flags as described in docs/policy-guide.md (configuration reference); `koffloadd --help` lists the flags.',
  },
  KOFFLOAD_ERR_PERMISSION: {
    message: 'needs CAP_NET_ADMIN (root)',
    solution: 'Run koffloadd or the admin commands of koffloadctl as root (or with CAP_NET_ADMIN): binding, replying and changing modes are privileged.',
  },
  KOFFLOAD_ERR_BUSY: {
    message: 'subsystem already has a handler',
    solution: 'Another process is bound to the subsystem (`koffloadctl status` shows its pid); stop it first.',
  },
  KOFFLOAD_ERR_BAD_PAYLOAD: {
    message: 'payload does not decode as its message type',
    solution: 'The kernel and the daemon disagree on the .proto file; rebuild both from the same proto/ (`npm run gen:check`).',
  },
  KOFFLOAD_ERR_BAD_RESPONSE: {
    message: "the handler's response does not match its message type",
    solution: "Return an object with only the response type's fields and values in range (see the XInit interface in src/generated/proto/), or decline().",
  },
  KOFFLOAD_ERR_DECLINE: {
    message: 'declined',
    solution: 'Not a failure: thrown by `throw decline()`, it makes the kernel use its default.',
  },
  KOFFLOAD_ERR_UNSAFE_FILE: {
    message: 'refusing a file that a user other than root or the daemon\'s own could change',
    solution:
      'Make the file and every directory above it owned by root (or the user koffloadd runs as) and not writable by group or others (chown root, chmod go-w); in a sticky directory such as /tmp only entries owned by root or that user are accepted.',
  },
  KOFFLOAD_ERR_CLOCK: {
    message: "cannot relate this process's CLOCK_MONOTONIC to the kernel's",
    solution:
      'koffloadd reads the time-namespace offset from /proc/self/timens_offsets to convert the kernel\'s deadlines; run it where /proc is mounted and that file is readable, or outside a time namespace.',
  },
  KOFFLOAD_ERR_BAD_RECORD: {
    message: 'invalid record file',
    solution: 'Pass a file written by `koffloadd --record` (JSON lines, format in docs/policy-guide.md).',
  },
  KOFFLOAD_ERR_MEMLOCK: {
    message: "cannot lock koffloadd's memory",
    solution:
      'Raise RLIMIT_MEMLOCK to cover the locked mappings (the message gives the size): LimitMEMLOCK=infinity in the systemd unit (deploy/systemd/koffloadd.service), `ulimit -l unlimited` or `prlimit --memlock=unlimited` before starting, or memlock in /etc/security/limits.conf; or grant CAP_IPC_LOCK; or turn mlock off.',
  },
  KOFFLOAD_ERR_LFS_NO_SPACE: {
    message: 'the LFS model ran out of free segments',
    solution:
      'GC found no victim while free space ran out, as F2FS does when every candidate costs UINT_MAX (cost-benefit with all SIT mtimes equal, e.g. a guest clock too fast for whole-second mtimes); lower blocksPerSec, the fill, or fix the hook that returned no victim.',
  },
} as const satisfies Record<string, { message: string; solution: string }>;

export type KoffloadErrorCode = keyof typeof ERRORS;

export interface KoffloadErrorOptions {
  cause?: unknown;
  /** positive errno when the error comes from the kernel or a syscall */
  errno?: number;
}

/** An error of the table above; `detail` says what exactly went wrong. */
export class KoffloadError extends Error {
  readonly code: KoffloadErrorCode;
  readonly solution: string;
  readonly errno: number | undefined;
  /** name of `errno` ('EPERM'), when there is one */
  readonly errnoCode: string | undefined;

  constructor(code: KoffloadErrorCode, detail?: string, options: KoffloadErrorOptions = {}) {
    const base = ERRORS[code].message;
    super(detail ? `${base}: ${detail}` : base, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KoffloadError';
    this.code = code;
    this.solution = ERRORS[code].solution;
    this.errno = options.errno;
    this.errnoCode = options.errno === undefined ? undefined : errnoName(options.errno);
  }
}

/** Malformed wire data; always code KOFFLOAD_ERR_MALFORMED. */
export class WireError extends KoffloadError {
  constructor(detail: string) {
    super('KOFFLOAD_ERR_MALFORMED', detail);
    this.name = 'WireError';
  }
}

const errnoNames = new Map<number, string>();
for (const [name, num] of Object.entries(osConstants.errno)) {
  // first name wins: EAGAIN before EWOULDBLOCK, EDEADLK before EDEADLOCK
  if (!errnoNames.has(num)) errnoNames.set(num, name);
}

/** 'EPERM' for 1; 'E<n>' for numbers without a name. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/**
 * A negative answer of the kernel (or a netlink peer) to one request:
 * NLMSG_ERROR with a nonzero error, or a failed dump. `errno` is positive,
 * `code` its name ('EPERM'), `extack` the extended ack message if the kernel
 * sent one.
 */
export class NetlinkError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly extack: string | undefined;

  constructor(errno: number, what: string, extack?: string) {
    const code = errnoName(errno);
    super(`${what}: ${code}${extack ? ` (${extack})` : ''}`);
    this.name = 'NetlinkError';
    this.errno = errno;
    this.code = code;
    this.extack = extack;
  }

  /** Same as `code`, under the name KoffloadError uses for errno names. */
  get errnoCode(): string {
    return this.code;
  }
}
