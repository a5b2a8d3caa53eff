// Generated from proto/ktest.proto by `npm run gen` (scripts/gen.ts).
// Do not edit: change the source and regenerate.
//
// Typed payloads of koffload.ktest: for each message X an interface X (as
// decoded: 64-bit integers are bigint, bytes are Uint8Array, absent
// sub-messages undefined), an interface XInit (what encode() accepts: every
// field optional) and a codec value X; the schema `ktest` lists the ops of
// enum Op.

import { type MessageCodec, type Schema, defineSchema, messageCodec } from '../../runtime/schema.js';

/** Op ids of the ktest subsystems (koffload op = enum value). */
export const Op = {
  OP_UNSPEC: 0,
  /** Answer with the same data and seq. */
  OP_ECHO: 1,
  /** Pick a victim among candidates (a stand-in for an LFS GC decision). */
  OP_PICK: 2,
} as const;

/** Decoded koffload.ktest.EchoRequest. */
export interface EchoRequest {
  data: Uint8Array;
  seq: bigint;
}

/** What encode() accepts for koffload.ktest.EchoRequest. */
export interface EchoRequestInit {
  data?: Uint8Array;
  seq?: bigint | number;
}

/** Decoded koffload.ktest.EchoResponse. */
export interface EchoResponse {
  data: Uint8Array;
  seq: bigint;
}

/** What encode() accepts for koffload.ktest.EchoResponse. */
export interface EchoResponseInit {
  data?: Uint8Array;
  seq?: bigint | number;
}

/** Decoded koffload.ktest.Segment. */
export interface Segment {
  id: number;
  valid_blocks: number;
  age_ms: bigint;
}

/** What encode() accepts for koffload.ktest.Segment. */
export interface SegmentInit {
  id?: number;
  valid_blocks?: number;
  age_ms?: bigint | number;
}

/** Decoded koffload.ktest.PickRequest. */
export interface PickRequest {
  candidates: Segment[];
}

/** What encode() accepts for koffload.ktest.PickRequest. */
export interface PickRequestInit {
  candidates?: SegmentInit[];
}

/** Decoded koffload.ktest.PickResponse. */
export interface PickResponse {
  victim_id: number;
}

/** What encode() accepts for koffload.ktest.PickResponse. */
export interface PickResponseInit {
  victim_id?: number;
}

const descriptor = {
  nested: {
    koffload: {
      nested: {
        ktest: {
          nested: {
            Op: {
              values: {
                OP_UNSPEC: 0,
                OP_ECHO: 1,
                OP_PICK: 2
              }
            },
            EchoRequest: {
              fields: {
                data: {
                  type: "bytes",
                  id: 1
                },
                seq: {
                  type: "uint64",
                  id: 2
                }
              }
            },
            EchoResponse: {
              fields: {
                data: {
                  type: "bytes",
                  id: 1
                },
                seq: {
                  type: "uint64",
                  id: 2
                }
              }
            },
            Segment: {
              fields: {
                id: {
                  type: "uint32",
                  id: 1
                },
                valid_blocks: {
                  type: "uint32",
                  id: 2
                },
                age_ms: {
                  type: "uint64",
                  id: 3
                }
              }
            },
            PickRequest: {
              fields: {
                candidates: {
                  rule: "repeated",
                  type: "Segment",
                  id: 1
                }
              }
            },
            PickResponse: {
              fields: {
                victim_id: {
                  type: "uint32",
                  id: 1
                }
              }
            }
          }
        }
      }
    }
  }
};

/** Ops of koffload.ktest, from enum Op. */
export interface KtestOps {
  echo: { op: 1; request: EchoRequest; requestInit: EchoRequestInit; response: EchoResponse; responseInit: EchoResponseInit };
  pick: { op: 2; request: PickRequest; requestInit: PickRequestInit; response: PickResponse; responseInit: PickResponseInit };
}

/** The schema of proto/ktest.proto: pass it to definePolicy(). */
export const ktest: Schema<KtestOps> = defineSchema<KtestOps>({
  name: 'ktest',
  package: 'koffload.ktest',
  descriptor,
  ops: {
    echo: { op: 1, request: 'EchoRequest', response: 'EchoResponse' },
    pick: { op: 2, request: 'PickRequest', response: 'PickResponse' },
  },
});

export const EchoRequest: MessageCodec<EchoRequest, EchoRequestInit> = messageCodec(ktest, 'EchoRequest');
export const EchoResponse: MessageCodec<EchoResponse, EchoResponseInit> = messageCodec(ktest, 'EchoResponse');
export const Segment: MessageCodec<Segment, SegmentInit> = messageCodec(ktest, 'Segment');
export const PickRequest: MessageCodec<PickRequest, PickRequestInit> = messageCodec(ktest, 'PickRequest');
export const PickResponse: MessageCodec<PickResponse, PickResponseInit> = messageCodec(ktest, 'PickResponse');
