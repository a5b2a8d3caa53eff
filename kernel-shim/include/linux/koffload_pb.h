/* SPDX-License-Identifier: GPL-2.0 */
/*
 * koffload_pb.h: bounds-checked protobuf wire helpers for in-kernel callers
 * of koffload_call(), which encode an op's request and decode its reply
 * themselves (the koffload core never parses payloads).
 *
 * Only the wire format is handled: varint (wire type 0), fixed64 (1),
 * length-delimited (2) and fixed32 (5). Groups (3, 4) are rejected. Field
 * numbers come from the generated headers (include/generated/<name>_pb.h),
 * never typed by hand. A nested or packed field is written by encoding it
 * into a scratch writer and putting that as bytes, and read by starting a
 * reader on the bytes it returns.
 *
 * Writer: every put checks the room it needs before writing anything, so a
 * failed put leaves the buffer as it was. The first error is sticky: later
 * puts return it without writing, and koffload_pb_writer_finish() reports
 * it, so a caller may chain puts and check once.
 *
 * Reader: every read either succeeds or returns -EBADMSG and leaves the
 * read position where it was. Nothing is ever read outside
 * [kpr_buf, kpr_buf + kpr_len).
 */
#ifndef _LINUX_KOFFLOAD_PB_H
#define _LINUX_KOFFLOAD_PB_H

#include <linux/errno.h>
#include <linux/limits.h>
#include <linux/string.h>
#include <linux/types.h>

/* Protobuf wire types */
#define KOFFLOAD_PB_WIRE_VARINT		0
#define KOFFLOAD_PB_WIRE_FIXED64	1
#define KOFFLOAD_PB_WIRE_LEN		2
#define KOFFLOAD_PB_WIRE_SGROUP		3
#define KOFFLOAD_PB_WIRE_EGROUP		4
#define KOFFLOAD_PB_WIRE_FIXED32	5

/* Highest field number protobuf allows */
#define KOFFLOAD_PB_FIELD_MAX		((1U << 29) - 1)
/* Longest varint encoding, of a 64-bit value */
#define KOFFLOAD_PB_VARINT_MAX		10

/**
 * struct koffload_pb_writer - protobuf encoder into a caller's buffer
 * @kpw_buf: output buffer
 * @kpw_size: its size in bytes
 * @kpw_len: bytes written so far
 * @kpw_err: first error, sticky: 0, -EMSGSIZE or -EINVAL
 */
struct koffload_pb_writer {
	u8	*kpw_buf;
	u32	kpw_size;
	u32	kpw_len;
	int	kpw_err;
};

/**
 * struct koffload_pb_reader - protobuf decoder over a caller's buffer
 * @kpr_buf: input bytes
 * @kpr_len: their number
 * @kpr_pos: offset of the next byte to read, at most @kpr_len
 */
struct koffload_pb_reader {
	const u8	*kpr_buf;
	u32		kpr_len;
	u32		kpr_pos;
};

/**
 * koffload_pb_varint_len() - length of a value's varint encoding
 * @val: the value
 *
 * Return: the number of bytes, 1..KOFFLOAD_PB_VARINT_MAX.
 */
static inline u32 koffload_pb_varint_len(u64 val)
{
	u32 n = 1;

	while (val >= 0x80) {
		val >>= 7;
		n++;
	}
	return n;
}

/**
 * koffload_pb_writer_init() - start encoding into a buffer
 * @w: writer
 * @buf: output buffer, @size bytes
 * @size: its size; more than INT_MAX makes the writer fail with -EINVAL
 *
 * Return: 0 on success, -EINVAL if @size is larger than INT_MAX (the
 * error is also kept in @w).
 */
static inline int koffload_pb_writer_init(struct koffload_pb_writer *w,
					  void *buf, u32 size)
{
	w->kpw_buf = buf;
	w->kpw_size = size;
	w->kpw_len = 0;
	w->kpw_err = size > INT_MAX ? -EINVAL : 0;
	return w->kpw_err;
}

/**
 * koffload_pb_writer_finish() - the outcome of a sequence of puts
 * @w: writer
 *
 * Return: the encoded length (>= 0) when every put succeeded, else the
 * first error: -EMSGSIZE (out of room) or -EINVAL (bad field number or
 * wire type, or a buffer larger than INT_MAX).
 */
static inline int koffload_pb_writer_finish(const struct koffload_pb_writer *w)
{
	return w->kpw_err ? w->kpw_err : (int)w->kpw_len;
}

/* Checks the sticky error and makes sure @need more bytes fit. */
static inline int __koffload_pb_reserve(struct koffload_pb_writer *w,
					u64 need)
{
	if (w->kpw_err)
		return w->kpw_err;
	if (need > w->kpw_size - w->kpw_len)
		w->kpw_err = -EMSGSIZE;
	return w->kpw_err;
}

/* Writes a varint; the caller has reserved room for it. */
static inline void __koffload_pb_emit_varint(struct koffload_pb_writer *w,
					     u64 val)
{
	u8 *p = w->kpw_buf + w->kpw_len;

	while (val >= 0x80) {
		*p++ = (u8)val | 0x80;
		val >>= 7;
	}
	*p++ = (u8)val;
	w->kpw_len = p - w->kpw_buf;
}

/* Returns the tag of (@field, @wire), or 0 (never a valid tag) if bad. */
static inline u32 __koffload_pb_tag(u32 field, u32 wire)
{
	if (!field || field > KOFFLOAD_PB_FIELD_MAX ||
	    wire > KOFFLOAD_PB_WIRE_FIXED32)
		return 0;
	return field << 3 | wire;
}

/* Reserves room for a tag and @body more bytes; 0 or the sticky error. */
static inline int __koffload_pb_begin(struct koffload_pb_writer *w,
				      u32 field, u32 wire, u64 body)
{
	u32 tag = __koffload_pb_tag(field, wire);

	if (!tag && !w->kpw_err)
		w->kpw_err = -EINVAL;
	if (__koffload_pb_reserve(w, koffload_pb_varint_len(tag) + body))
		return w->kpw_err;
	__koffload_pb_emit_varint(w, tag);
	return 0;
}

/**
 * koffload_pb_put_varint() - write a varint field (wire type 0)
 * @w: writer
 * @field: field number, 1..KOFFLOAD_PB_FIELD_MAX
 * @val: value, as protobuf's uint64 (also uint32, bool and enum)
 *
 * Return: 0 on success; -EMSGSIZE if the field does not fit, -EINVAL for
 * a bad field number, or an earlier error of @w (nothing is written then).
 */
static inline int koffload_pb_put_varint(struct koffload_pb_writer *w,
					 u32 field, u64 val)
{
	if (__koffload_pb_begin(w, field, KOFFLOAD_PB_WIRE_VARINT,
				koffload_pb_varint_len(val)))
		return w->kpw_err;
	__koffload_pb_emit_varint(w, val);
	return 0;
}

/**
 * koffload_pb_put_u64() - write a uint64 field
 * @w: writer
 * @field: field number
 * @val: value
 *
 * Return: as koffload_pb_put_varint().
 */
static inline int koffload_pb_put_u64(struct koffload_pb_writer *w,
				      u32 field, u64 val)
{
	return koffload_pb_put_varint(w, field, val);
}

/**
 * koffload_pb_put_u32() - write a uint32 field
 * @w: writer
 * @field: field number
 * @val: value
 *
 * Return: as koffload_pb_put_varint().
 */
static inline int koffload_pb_put_u32(struct koffload_pb_writer *w,
				      u32 field, u32 val)
{
	return koffload_pb_put_varint(w, field, val);
}

/**
 * koffload_pb_put_bool() - write a bool field
 * @w: writer
 * @field: field number
 * @val: value, written as 0 or 1
 *
 * Return: as koffload_pb_put_varint().
 */
static inline int koffload_pb_put_bool(struct koffload_pb_writer *w,
				       u32 field, bool val)
{
	return koffload_pb_put_varint(w, field, val ? 1 : 0);
}

/**
 * koffload_pb_put_fixed32() - write a fixed32 field (wire type 5)
 * @w: writer
 * @field: field number
 * @val: value, written little-endian
 *
 * Return: as koffload_pb_put_varint().
 */
static inline int koffload_pb_put_fixed32(struct koffload_pb_writer *w,
					  u32 field, u32 val)
{
	u8 *p;

	if (__koffload_pb_begin(w, field, KOFFLOAD_PB_WIRE_FIXED32, 4))
		return w->kpw_err;
	p = w->kpw_buf + w->kpw_len;
	p[0] = val;
	p[1] = val >> 8;
	p[2] = val >> 16;
	p[3] = val >> 24;
	w->kpw_len += 4;
	return 0;
}

/**
 * koffload_pb_put_fixed64() - write a fixed64 field (wire type 1)
 * @w: writer
 * @field: field number
 * @val: value, written little-endian
 *
 * Return: as koffload_pb_put_varint().
 */
static inline int koffload_pb_put_fixed64(struct koffload_pb_writer *w,
					  u32 field, u64 val)
{
	u8 *p;
	int i;

	if (__koffload_pb_begin(w, field, KOFFLOAD_PB_WIRE_FIXED64, 8))
		return w->kpw_err;
	p = w->kpw_buf + w->kpw_len;
	for (i = 0; i < 8; i++)
		p[i] = val >> (8 * i);
	w->kpw_len += 8;
	return 0;
}

/**
 * koffload_pb_put_bytes() - write a length-delimited field (wire type 2)
 * @w: writer
 * @field: field number
 * @data: the bytes (bytes, string, or an encoded nested message); may be
 *	NULL when @len is 0
 * @len: their number
 *
 * Return: as koffload_pb_put_varint().
 */
static inline int koffload_pb_put_bytes(struct koffload_pb_writer *w,
					u32 field, const void *data, u32 len)
{
	if (__koffload_pb_begin(w, field, KOFFLOAD_PB_WIRE_LEN,
				(u64)koffload_pb_varint_len(len) + len))
		return w->kpw_err;
	__koffload_pb_emit_varint(w, len);
	if (len)
		memcpy(w->kpw_buf + w->kpw_len, data, len);
	w->kpw_len += len;
	return 0;
}

/**
 * koffload_pb_put_string() - write a NUL-terminated string field
 * @w: writer
 * @field: field number
 * @str: the string, written without its NUL (protobuf expects UTF-8)
 *
 * Return: as koffload_pb_put_varint(); -EMSGSIZE also for a string longer
 * than U32_MAX.
 */
static inline int koffload_pb_put_string(struct koffload_pb_writer *w,
					 u32 field, const char *str)
{
	size_t len = strlen(str);

	if (len > U32_MAX) {
		if (!w->kpw_err)
			w->kpw_err = -EMSGSIZE;
		return w->kpw_err;
	}
	return koffload_pb_put_bytes(w, field, str, len);
}

/**
 * koffload_pb_reader_init() - start decoding a buffer
 * @r: reader
 * @buf: the encoded message, @len bytes
 * @len: its length
 */
static inline void koffload_pb_reader_init(struct koffload_pb_reader *r,
					   const void *buf, u32 len)
{
	r->kpr_buf = buf;
	r->kpr_len = len;
	r->kpr_pos = 0;
}

/* Decodes a varint at *@pos and moves *@pos past it; 0 or -EBADMSG. */
static inline int __koffload_pb_get_varint(const struct koffload_pb_reader *r,
					   u32 *pos, u64 *val)
{
	u32 p = *pos;
	u64 v = 0;
	int i;

	for (i = 0; i < KOFFLOAD_PB_VARINT_MAX; i++) {
		u8 b;

		if (p >= r->kpr_len)
			return -EBADMSG;
		b = r->kpr_buf[p++];
		/* The 10th byte holds bit 63 only, and ends the varint. */
		if (i == KOFFLOAD_PB_VARINT_MAX - 1 && b > 1)
			return -EBADMSG;
		v |= (u64)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*pos = p;
			*val = v;
			return 0;
		}
	}
	return -EBADMSG;
}

/**
 * koffload_pb_next() - read the next field's tag
 * @r: reader
 * @field: out: the field number, 1..KOFFLOAD_PB_FIELD_MAX
 * @wire: out: the wire type, 0..5
 *
 * On 1, the caller reads the value with the koffload_pb_read_*() call that
 * matches @wire, or koffload_pb_skip() for a field it does not know; a
 * known field with an unexpected wire type is the caller's to reject.
 *
 * Return: 1 when a tag was read, 0 at the end of the buffer, -EBADMSG for
 * a truncated or overlong tag, field number 0 or above
 * KOFFLOAD_PB_FIELD_MAX, or wire type 6 or 7.
 */
static inline int koffload_pb_next(struct koffload_pb_reader *r,
				   u32 *field, u32 *wire)
{
	u32 pos = r->kpr_pos;
	u64 tag;

	if (pos >= r->kpr_len)
		return 0;
	if (__koffload_pb_get_varint(r, &pos, &tag))
		return -EBADMSG;
	if (tag >> 3 == 0 || tag >> 3 > KOFFLOAD_PB_FIELD_MAX ||
	    (tag & 7) > KOFFLOAD_PB_WIRE_FIXED32)
		return -EBADMSG;
	r->kpr_pos = pos;
	*field = tag >> 3;
	*wire = tag & 7;
	return 1;
}

/**
 * koffload_pb_read_varint() - read a varint value (wire type 0)
 * @r: reader
 * @val: out: the value, as protobuf's uint64
 *
 * Return: 0 on success, -EBADMSG if it is truncated, longer than
 * KOFFLOAD_PB_VARINT_MAX bytes or overflows 64 bits.
 */
static inline int koffload_pb_read_varint(struct koffload_pb_reader *r,
					  u64 *val)
{
	return __koffload_pb_get_varint(r, &r->kpr_pos, val);
}

/**
 * koffload_pb_read_u32() - read a uint32 value (wire type 0)
 * @r: reader
 * @val: out: the value
 *
 * Return: 0 on success, -EBADMSG as koffload_pb_read_varint() and for a
 * value above U32_MAX (protobuf would truncate it; koffload refuses).
 */
static inline int koffload_pb_read_u32(struct koffload_pb_reader *r,
				       u32 *val)
{
	u32 pos = r->kpr_pos;
	u64 v;

	if (__koffload_pb_get_varint(r, &pos, &v) || v > U32_MAX)
		return -EBADMSG;
	r->kpr_pos = pos;
	*val = v;
	return 0;
}

/**
 * koffload_pb_read_bool() - read a bool value (wire type 0)
 * @r: reader
 * @val: out: false for 0, true for any other value
 *
 * Return: 0 on success, -EBADMSG as koffload_pb_read_varint().
 */
static inline int koffload_pb_read_bool(struct koffload_pb_reader *r,
					bool *val)
{
	u64 v;

	if (koffload_pb_read_varint(r, &v))
		return -EBADMSG;
	*val = v != 0;
	return 0;
}

/**
 * koffload_pb_read_fixed32() - read a fixed32 value (wire type 5)
 * @r: reader
 * @val: out: the value
 *
 * Return: 0 on success, -EBADMSG if fewer than 4 bytes are left.
 */
static inline int koffload_pb_read_fixed32(struct koffload_pb_reader *r,
					   u32 *val)
{
	const u8 *p;

	if (r->kpr_len - r->kpr_pos < 4)
		return -EBADMSG;
	p = r->kpr_buf + r->kpr_pos;
	*val = (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 |
	       (u32)p[3] << 24;
	r->kpr_pos += 4;
	return 0;
}

/**
 * koffload_pb_read_fixed64() - read a fixed64 value (wire type 1)
 * @r: reader
 * @val: out: the value
 *
 * Return: 0 on success, -EBADMSG if fewer than 8 bytes are left.
 */
static inline int koffload_pb_read_fixed64(struct koffload_pb_reader *r,
					   u64 *val)
{
	const u8 *p;
	u64 v = 0;
	int i;

	if (r->kpr_len - r->kpr_pos < 8)
		return -EBADMSG;
	p = r->kpr_buf + r->kpr_pos;
	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	*val = v;
	r->kpr_pos += 8;
	return 0;
}

/**
 * koffload_pb_read_bytes() - read a length-delimited value (wire type 2)
 * @r: reader
 * @data: out: where the bytes start, inside the reader's buffer (valid
 *	as long as that buffer is; not NUL-terminated)
 * @len: out: their number
 *
 * Return: 0 on success, -EBADMSG if the length is malformed or runs past
 * the end of the buffer.
 */
static inline int koffload_pb_read_bytes(struct koffload_pb_reader *r,
					 const u8 **data, u32 *len)
{
	u32 pos = r->kpr_pos;
	u64 n;

	if (__koffload_pb_get_varint(r, &pos, &n) || n > r->kpr_len - pos)
		return -EBADMSG;
	*data = r->kpr_buf + pos;
	*len = n;
	r->kpr_pos = pos + n;
	return 0;
}

/**
 * koffload_pb_skip() - skip the value of a field the caller does not know
 * @r: reader
 * @wire: the wire type koffload_pb_next() returned for it
 *
 * Return: 0 on success, -EBADMSG if the value is malformed or truncated,
 * or @wire is a group (3, 4; deprecated and not supported) or invalid.
 */
static inline int koffload_pb_skip(struct koffload_pb_reader *r, u32 wire)
{
	const u8 *data;
	u32 len;
	u64 v;

	switch (wire) {
	case KOFFLOAD_PB_WIRE_VARINT:
		return koffload_pb_read_varint(r, &v);
	case KOFFLOAD_PB_WIRE_FIXED64:
		return koffload_pb_read_fixed64(r, &v);
	case KOFFLOAD_PB_WIRE_LEN:
		return koffload_pb_read_bytes(r, &data, &len);
	case KOFFLOAD_PB_WIRE_FIXED32:
		return koffload_pb_read_fixed32(r, &len);
	default:
		return -EBADMSG;
	}
}

#endif /* _LINUX_KOFFLOAD_PB_H */
