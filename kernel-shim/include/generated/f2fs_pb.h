/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Generated from proto/f2fs.proto by `npm run gen` (scripts/gen.ts).
 * Do not edit: change the source and regenerate.
 *
 * Field numbers (<PKG>_<MESSAGE>_<FIELD>_FIELD) and enum values
 * (<PKG>_<ENUM>_<VALUE>) of koffload.f2fs, for the kernel's protobuf wire
 * helper.
 */
#ifndef _KOFFLOAD_GENERATED_F2FS_PB_H
#define _KOFFLOAD_GENERATED_F2FS_PB_H

/* enum koffload.f2fs.Op */
#define F2FS_OP_OP_UNSPEC	0
#define F2FS_OP_OP_VICTIM	1
#define F2FS_OP_OP_MOVED	2

/* enum koffload.f2fs.GcType */
#define F2FS_GC_TYPE_GC_FOREGROUND	0
#define F2FS_GC_TYPE_GC_BACKGROUND	1

/* enum koffload.f2fs.Fallback */
#define F2FS_FALLBACK_FALLBACK_NONE		0
#define F2FS_FALLBACK_FALLBACK_NO_ADVICE	1
#define F2FS_FALLBACK_FALLBACK_STALE		2
#define F2FS_FALLBACK_FALLBACK_MALFORMED	3

/* message koffload.f2fs.VictimRequest */
#define F2FS_VICTIM_REQUEST_DEV_FIELD			1	/* uint32 */
#define F2FS_VICTIM_REQUEST_GC_TYPE_FIELD		2	/* GcType */
#define F2FS_VICTIM_REQUEST_FREE_SEGMENTS_FIELD		3	/* uint32 */
#define F2FS_VICTIM_REQUEST_RESERVED_SEGMENTS_FIELD	4	/* uint32 */
#define F2FS_VICTIM_REQUEST_KERNEL_VICTIM_FIELD		5	/* uint32 */
#define F2FS_VICTIM_REQUEST_KERNEL_VICTIM_VALID_FIELD	6	/* uint32 */
#define F2FS_VICTIM_REQUEST_FALLBACK_FIELD		7	/* Fallback */
#define F2FS_VICTIM_REQUEST_GC_SEQ_FIELD		8	/* uint64 */

/* message koffload.f2fs.VictimResponse */
#define F2FS_VICTIM_RESPONSE_SEGNO_FIELD	1	/* uint32 */

/* message koffload.f2fs.RankedVictim */
#define F2FS_RANKED_VICTIM_SEGNO_FIELD		1	/* uint32 */
#define F2FS_RANKED_VICTIM_VALID_FIELD		2	/* uint32 */
#define F2FS_RANKED_VICTIM_SEG_TYPE_FIELD	3	/* uint32 */

/* message koffload.f2fs.Ranking */
#define F2FS_RANKING_GC_SEQ_FIELD	1	/* uint64 */
#define F2FS_RANKING_VICTIMS_FIELD	2	/* repeated RankedVictim */

/* message koffload.f2fs.MovedRun */
#define F2FS_MOVED_RUN_INO_FIELD		1	/* uint32 */
#define F2FS_MOVED_RUN_FIRST_INDEX_FIELD	2	/* uint32 */
#define F2FS_MOVED_RUN_COUNT_FIELD		3	/* uint32 */
#define F2FS_MOVED_RUN_DEST_SEGNO_FIELD		4	/* uint32 */
#define F2FS_MOVED_RUN_DEST_TYPE_FIELD		5	/* uint32 */

/* message koffload.f2fs.MovedRequest */
#define F2FS_MOVED_REQUEST_DEV_FIELD		1	/* uint32 */
#define F2FS_MOVED_REQUEST_SEGNO_FIELD		2	/* uint32 */
#define F2FS_MOVED_REQUEST_SEG_TYPE_FIELD	3	/* uint32 */
#define F2FS_MOVED_REQUEST_VALID_FIELD		4	/* uint32 */
#define F2FS_MOVED_REQUEST_MTIME_FIELD		5	/* uint64 */
#define F2FS_MOVED_REQUEST_FROM_ADVICE_FIELD	6	/* bool */
#define F2FS_MOVED_REQUEST_GC_SEQ_FIELD		7	/* uint64 */
#define F2FS_MOVED_REQUEST_PART_FIELD		8	/* uint32 */
#define F2FS_MOVED_REQUEST_LAST_FIELD		9	/* bool */
#define F2FS_MOVED_REQUEST_RUNS_FIELD		10	/* repeated MovedRun */

/* message koffload.f2fs.MovedResponse */
#define F2FS_MOVED_RESPONSE_CLOCK_FIELD		1	/* uint64 */
#define F2FS_MOVED_RESPONSE_SEGMENT_INFO_FIELD	2	/* bytes */

#endif /* _KOFFLOAD_GENERATED_F2FS_PB_H */
