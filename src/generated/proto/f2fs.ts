// Generated from proto/f2fs.proto by `npm run gen` (scripts/gen.ts).
// Do not edit: change the source and regenerate.
//
// Typed payloads of koffload.f2fs: for each message X an interface X (as
// decoded: 64-bit integers are bigint, bytes are Uint8Array, absent
// sub-messages undefined), an interface XInit (what encode() accepts: every
// field optional) and a codec value X; the schema `f2fs` lists the ops of enum
// Op.

import { type MessageCodec, type Schema, defineSchema, messageCodec } from '../../runtime/schema.js';

/** Op ids of subsystem f2fs_gc (koffload op = enum value). */
export const Op = {
  OP_UNSPEC: 0,
  /**
   * A GC pass wants a victim. Advisory from foreground GC: answer by
   * publishing a Ranking. A call from background GC: answer with a
   * VictimResponse (or decline: F2FS's own choice).
   */
  OP_VICTIM: 1,
  /**
   * A victim was cleaned: where its blocks went (MovedRequest). Advisory only,
   * never answered; one victim may take several (part 0, 1, ...; the last one
   * says so).
   */
  OP_MOVED: 2,
} as const;

/** enum koffload.f2fs.GcType */
export const GcType = {
  GC_FOREGROUND: 0,
  GC_BACKGROUND: 1,
} as const;

/** Why the kernel did not take a victim from the published ranking. */
export const Fallback = {
  FALLBACK_NONE: 0,
  /** no ranking published (or it expired) */
  FALLBACK_NO_ADVICE: 1,
  /** a ranking, but no entry fits any more (freed, refilled, grown, in use) */
  FALLBACK_STALE: 2,
  /** the ranking did not decode */
  FALLBACK_MALFORMED: 3,
} as const;

/** Decoded koffload.f2fs.VictimRequest. */
export interface VictimRequest {
  dev: number;
  gc_type: number;
  free_segments: number;
  reserved_segments: number;
  /** F2FS's own choice, or 0xffffffff when it has none (yet) */
  kernel_victim: number;
  kernel_victim_valid: number;
  fallback: number;
  /** victims chosen by GC on this filesystem since mount */
  gc_seq: bigint;
}

/** What encode() accepts for koffload.f2fs.VictimRequest. */
export interface VictimRequestInit {
  dev?: number;
  gc_type?: number;
  free_segments?: number;
  reserved_segments?: number;
  /** F2FS's own choice, or 0xffffffff when it has none (yet) */
  kernel_victim?: number;
  kernel_victim_valid?: number;
  fallback?: number;
  /** victims chosen by GC on this filesystem since mount */
  gc_seq?: bigint | number;
}

/** Decoded koffload.f2fs.VictimResponse. */
export interface VictimResponse {
  segno: number;
}

/** What encode() accepts for koffload.f2fs.VictimResponse. */
export interface VictimResponseInit {
  segno?: number;
}

/** Decoded koffload.f2fs.RankedVictim. */
export interface RankedVictim {
  segno: number;
  /** valid blocks when ranked: the kernel skips the entry if it has more now */
  valid: number;
  /** log type (CURSEG_*: 0 hot, 1 warm, 2 cold data) when ranked */
  seg_type: number;
}

/** What encode() accepts for koffload.f2fs.RankedVictim. */
export interface RankedVictimInit {
  segno?: number;
  /** valid blocks when ranked: the kernel skips the entry if it has more now */
  valid?: number;
  /** log type (CURSEG_*: 0 hot, 1 warm, 2 cold data) when ranked */
  seg_type?: number;
}

/** Decoded koffload.f2fs.Ranking. Cache key "r" dev. */
export interface Ranking {
  /** the gc_seq the policy had seen when it ranked */
  gc_seq: bigint;
  victims: RankedVictim[];
}

/** What encode() accepts for koffload.f2fs.Ranking. Cache key "r" dev. */
export interface RankingInit {
  /** the gc_seq the policy had seen when it ranked */
  gc_seq?: bigint | number;
  victims?: RankedVictimInit[];
}

/**
 * Decoded koffload.f2fs.MovedRun. A run of blocks of one file moved to one
 * segment.
 */
export interface MovedRun {
  ino: number;
  first_index: number;
  count: number;
  dest_segno: number;
  /** log type of the destination (CURSEG_*) */
  dest_type: number;
}

/**
 * What encode() accepts for koffload.f2fs.MovedRun. A run of blocks of one
 * file moved to one segment.
 */
export interface MovedRunInit {
  ino?: number;
  first_index?: number;
  count?: number;
  dest_segno?: number;
  /** log type of the destination (CURSEG_*) */
  dest_type?: number;
}

/** Decoded koffload.f2fs.MovedRequest. */
export interface MovedRequest {
  dev: number;
  /** the victim */
  segno: number;
  seg_type: number;
  /** its valid blocks when it was chosen */
  valid: number;
  /** its SIT mtime (seconds, the filesystem's clock) */
  mtime: bigint;
  /** chosen from the published ranking (else by F2FS) */
  from_advice: boolean;
  /** its gc_seq */
  gc_seq: bigint;
  /** requests of one victim: part 0, 1, ...; last is set on the final one */
  part: number;
  last: boolean;
  runs: MovedRun[];
}

/** What encode() accepts for koffload.f2fs.MovedRequest. */
export interface MovedRequestInit {
  dev?: number;
  /** the victim */
  segno?: number;
  seg_type?: number;
  /** its valid blocks when it was chosen */
  valid?: number;
  /** its SIT mtime (seconds, the filesystem's clock) */
  mtime?: bigint | number;
  /** chosen from the published ranking (else by F2FS) */
  from_advice?: boolean;
  /** its gc_seq */
  gc_seq?: bigint | number;
  /** requests of one victim: part 0, 1, ...; last is set on the final one */
  part?: number;
  last?: boolean;
  runs?: MovedRunInit[];
}

/**
 * Decoded koffload.f2fs.MovedResponse. OP_MOVED is advisory: nothing answers
 * it, and the kernel never reads this message. A policy may fill it with what
 * it observed while handling the notice, so that `koffloadd --record` keeps
 * its inputs next to the kernel's (the record of an advisory request holds the
 * handler's response): what scripts/train-f2fs-policy.ts learns from.
 */
export interface MovedResponse {
  /**
   * the policy's clock when it handled the notice: user data blocks written
   * (iostat_info's "fs data" / 4096)
   */
  clock: bigint;
  /**
   * a segment_info poll taken then, if it took one: per segment a
   * little-endian u16, valid blocks | log type << 12
   */
  segment_info: Uint8Array;
}

/**
 * What encode() accepts for koffload.f2fs.MovedResponse. OP_MOVED is advisory:
 * nothing answers it, and the kernel never reads this message. A policy may
 * fill it with what it observed while handling the notice, so that `koffloadd
 * --record` keeps its inputs next to the kernel's (the record of an advisory
 * request holds the handler's response): what scripts/train-f2fs-policy.ts
 * learns from.
 */
export interface MovedResponseInit {
  /**
   * the policy's clock when it handled the notice: user data blocks written
   * (iostat_info's "fs data" / 4096)
   */
  clock?: bigint | number;
  /**
   * a segment_info poll taken then, if it took one: per segment a
   * little-endian u16, valid blocks | log type << 12
   */
  segment_info?: Uint8Array;
}

const descriptor = {
  nested: {
    koffload: {
      nested: {
        f2fs: {
          nested: {
            Op: {
              values: {
                OP_UNSPEC: 0,
                OP_VICTIM: 1,
                OP_MOVED: 2
              }
            },
            GcType: {
              values: {
                GC_FOREGROUND: 0,
                GC_BACKGROUND: 1
              }
            },
            Fallback: {
              values: {
                FALLBACK_NONE: 0,
                FALLBACK_NO_ADVICE: 1,
                FALLBACK_STALE: 2,
                FALLBACK_MALFORMED: 3
              }
            },
            VictimRequest: {
              fields: {
                dev: {
                  type: "uint32",
                  id: 1
                },
                gc_type: {
                  type: "GcType",
                  id: 2
                },
                free_segments: {
                  type: "uint32",
                  id: 3
                },
                reserved_segments: {
                  type: "uint32",
                  id: 4
                },
                kernel_victim: {
                  type: "uint32",
                  id: 5
                },
                kernel_victim_valid: {
                  type: "uint32",
                  id: 6
                },
                fallback: {
                  type: "Fallback",
                  id: 7
                },
                gc_seq: {
                  type: "uint64",
                  id: 8
                }
              }
            },
            VictimResponse: {
              fields: {
                segno: {
                  type: "uint32",
                  id: 1
                }
              }
            },
            RankedVictim: {
              fields: {
                segno: {
                  type: "uint32",
                  id: 1
                },
                valid: {
                  type: "uint32",
                  id: 2
                },
                seg_type: {
                  type: "uint32",
                  id: 3
                }
              }
            },
            Ranking: {
              fields: {
                gc_seq: {
                  type: "uint64",
                  id: 1
                },
                victims: {
                  rule: "repeated",
                  type: "RankedVictim",
                  id: 2
                }
              }
            },
            MovedRun: {
              fields: {
                ino: {
                  type: "uint32",
                  id: 1
                },
                first_index: {
                  type: "uint32",
                  id: 2
                },
                count: {
                  type: "uint32",
                  id: 3
                },
                dest_segno: {
                  type: "uint32",
                  id: 4
                },
                dest_type: {
                  type: "uint32",
                  id: 5
                }
              }
            },
            MovedRequest: {
              fields: {
                dev: {
                  type: "uint32",
                  id: 1
                },
                segno: {
                  type: "uint32",
                  id: 2
                },
                seg_type: {
                  type: "uint32",
                  id: 3
                },
                valid: {
                  type: "uint32",
                  id: 4
                },
                mtime: {
                  type: "uint64",
                  id: 5
                },
                from_advice: {
                  type: "bool",
                  id: 6
                },
                gc_seq: {
                  type: "uint64",
                  id: 7
                },
                part: {
                  type: "uint32",
                  id: 8
                },
                last: {
                  type: "bool",
                  id: 9
                },
                runs: {
                  rule: "repeated",
                  type: "MovedRun",
                  id: 10
                }
              }
            },
            MovedResponse: {
              fields: {
                clock: {
                  type: "uint64",
                  id: 1
                },
                segment_info: {
                  type: "bytes",
                  id: 2
                }
              }
            }
          }
        }
      }
    }
  }
};

/** Ops of koffload.f2fs, from enum Op. */
export interface F2fsOps {
  victim: { op: 1; request: VictimRequest; requestInit: VictimRequestInit; response: VictimResponse; responseInit: VictimResponseInit };
  moved: { op: 2; request: MovedRequest; requestInit: MovedRequestInit; response: MovedResponse; responseInit: MovedResponseInit };
}

/** The schema of proto/f2fs.proto: pass it to definePolicy(). */
export const f2fs: Schema<F2fsOps> = defineSchema<F2fsOps>({
  name: 'f2fs',
  package: 'koffload.f2fs',
  descriptor,
  ops: {
    victim: { op: 1, request: 'VictimRequest', response: 'VictimResponse' },
    moved: { op: 2, request: 'MovedRequest', response: 'MovedResponse' },
  },
});

export const VictimRequest: MessageCodec<VictimRequest, VictimRequestInit> = messageCodec(f2fs, 'VictimRequest');
export const VictimResponse: MessageCodec<VictimResponse, VictimResponseInit> = messageCodec(f2fs, 'VictimResponse');
export const RankedVictim: MessageCodec<RankedVictim, RankedVictimInit> = messageCodec(f2fs, 'RankedVictim');
export const Ranking: MessageCodec<Ranking, RankingInit> = messageCodec(f2fs, 'Ranking');
export const MovedRun: MessageCodec<MovedRun, MovedRunInit> = messageCodec(f2fs, 'MovedRun');
export const MovedRequest: MessageCodec<MovedRequest, MovedRequestInit> = messageCodec(f2fs, 'MovedRequest');
export const MovedResponse: MessageCodec<MovedResponse, MovedResponseInit> = messageCodec(f2fs, 'MovedResponse');
