/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Generated from proto/ktest.proto by `npm run gen` (scripts/gen.ts).
 * Do not edit: change the source and regenerate.
 *
 * Field numbers (<PKG>_<MESSAGE>_<FIELD>_FIELD) and enum values
 * (<PKG>_<ENUM>_<VALUE>) of koffload.ktest, for the kernel's protobuf wire
 * helper.
 */
#ifndef _KOFFLOAD_GENERATED_KTEST_PB_H
#define _KOFFLOAD_GENERATED_KTEST_PB_H

/* enum koffload.ktest.Op */
#define KTEST_OP_OP_UNSPEC	0
#define KTEST_OP_OP_ECHO	1
#define KTEST_OP_OP_PICK	2

/* message koffload.ktest.EchoRequest */
#define KTEST_ECHO_REQUEST_DATA_FIELD	1	/* bytes */
#define KTEST_ECHO_REQUEST_SEQ_FIELD	2	/* uint64 */

/* message koffload.ktest.EchoResponse */
#define KTEST_ECHO_RESPONSE_DATA_FIELD	1	/* bytes */
#define KTEST_ECHO_RESPONSE_SEQ_FIELD	2	/* uint64 */

/* message koffload.ktest.Segment */
#define KTEST_SEGMENT_ID_FIELD			1	/* uint32 */
#define KTEST_SEGMENT_VALID_BLOCKS_FIELD	2	/* uint32 */
#define KTEST_SEGMENT_AGE_MS_FIELD		3	/* uint64 */

/* message koffload.ktest.PickRequest */
#define KTEST_PICK_REQUEST_CANDIDATES_FIELD	1	/* repeated Segment */

/* message koffload.ktest.PickResponse */
#define KTEST_PICK_RESPONSE_VICTIM_ID_FIELD	1	/* uint32 */

#endif /* _KOFFLOAD_GENERATED_KTEST_PB_H */
