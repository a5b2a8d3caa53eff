// SPDX-License-Identifier: GPL-2.0-only
/*
 * koffload_nl.node: koffload's netlink transport in C.
 *
 * Node-API (node_api.h from the node-api-headers package) plus libuv's
 * uv_poll from the headers of the Node.js that builds it (uv.h, found next
 * to process.execPath by scripts/build-native.mjs): libuv's ABI is stable
 * across Node.js releases with libuv 1.x, Node-API across all of them.
 * src/native/koffload-nl.ts loads it; only src/netlink/socket.ts uses it.
 *
 * What it does for the transport:
 * - open(): a NETLINK_GENERIC socket, bound, non-blocking, close-on-exec,
 *   with NETLINK_NO_ENOBUFS (an overrun drops messages without setting
 *   sk_err; checked after setting), NETLINK_EXT_ACK, optional
 *   NETLINK_CAP_ACK and the buffer sizes asked for.
 * - start(): a uv_poll on the socket. Whenever it is readable, recvmmsg()
 *   reads up to `slots` datagrams (the first of a wake-up at most
 *   FIRST_BATCH) in one system call into the receive
 *   arena (an ArrayBuffer of the caller's, slot i at i * slotBytes, held
 *   by a reference here so it cannot move or go), writes each datagram's
 *   length, sender port and truncation flag into the meta Int32Array and
 *   calls back once per batch (napi_make_callback: microtasks run after
 *   it); up to MAX_BATCHES batches per wake-up, so other handles get
 *   their turn. The arena is overwritten by the next batch: the callback
 *   must copy what it keeps. A pending socket error (POLLERR) is read and
 *   cleared with SO_ERROR, reported, and the poll goes on, so an error
 *   never ends the process or the socket.
 * - send(): one sendmsg() of the given buffers as one datagram, MSG_DONTWAIT
 *   (a full peer fails with EAGAIN at once, as the kernel's own unicast
 *   does), synchronous: the buffers may be reused when it returns.
 * - stop(): ends the poll and closes the socket; ref() keeps the event loop
 *   alive for it or not.
 * The arenas are allocated once per socket, before any traffic, by the
 * caller (src/netlink/socket.ts), and the REPLY buffer once per client
 * (src/kernel/client.ts): nothing here allocates per datagram (send()
 * mallocs an iovec array only past SEND_IOV_STACK buffers).
 *
 * What it does for the daemon under memory pressure (src/runtime/):
 * - psiWatch(): a uv_poll for POLLPRI on a PSI trigger fd (a pressure
 *   file the caller opened and wrote a trigger to); unref'd, so it never
 *   keeps the process alive. psiUnwatch() ends it and closes the fd.
 * - mlockRange(), mlockBuffer(): mlock2(2) of an address range (the
 *   caller reads them from /proc/self/maps) or of an ArrayBuffer's bytes,
 *   returning the errno rather than throwing, so the caller can name
 *   RLIMIT_MEMLOCK in its error; memlockLimit() is
 *   getrlimit(RLIMIT_MEMLOCK) (Infinity for RLIM_INFINITY). There is no
 *   mlockall(): V8 (Node 20's 11.3) releases pages of its code range with
 *   madvise(MADV_DONTNEED), which fails with EINVAL on locked memory, and
 *   V8 then aborts (CHECK in OS::SetPermissions; seen at exit, possible
 *   after any GC), so V8's own mappings must stay unlocked.
 * - execve(): replaces the process image (same pid, same cgroup, same
 *   systemd MainPID) so koffloadd can restart itself with V8 heap flags
 *   from its config; returns only by throwing.
 * - sdNotify(): systemd's readiness protocol (sd_notify(3)) without
 *   libsystemd: one datagram with the state lines to the AF_UNIX
 *   SOCK_DGRAM socket $NOTIFY_SOCKET names, a path or, with a leading
 *   '@', a name in the abstract namespace; returns the errno rather than
 *   throwing, as a daemon outside systemd's care must not fail on it.
 *
 * Exports, all synchronous; a failed system call throws an Error with
 * `errno` (positive), `code` ('EBADF') and `syscall`, as Node's do;
 * arguments of the wrong type throw TypeError or RangeError:
 *   open(localPort, rcvbufBytes, sndbufBytes, capAck[, protocol])  -> [fd, portId]
 *	(protocol: NETLINK_GENERIC unless given, e.g. NETLINK_SOCK_DIAG)
 *   start(fd, arena, slotBytes, slots, meta, callback)  -> handle
 *	callback(n, fatal): n >= 0 datagrams in the arena (meta[3i] length,
 *	meta[3i+1] sender port, meta[3i+2] 1 when truncated); n < 0 a
 *	negative errno of a failed receive or a socket error; fatal: the poll
 *	stopped and the socket is unusable
 *   send(fd, port, buffers)  -> 0, or the errno of a failed sendmsg()
 *   ref(handle, bool), stop(handle), closeFd(fd)
 *   setsockopt(fd, level, name, value), getsockopt(fd, level, name)
 *   psiWatch(fd, callback) -> handle; callback(status): 0 per trigger
 *	event, a negative errno once when the fd fails (the watch ends)
 *   psiUnwatch(handle)
 *   mlockRange(start, length, onfault), mlockBuffer(arrayBuffer)  -> 0, or
 *	the errno of mlock2()
 *   memlockLimit()  -> [soft, hard] bytes (Infinity: unlimited)
 *   execve(path, argv, env)  -> does not return; throws on failure
 *   sdNotify(socketPath, state)  -> 0, or the errno of socket()/sendto()
 *	(ENAMETOOLONG for a path that does not fit sun_path, EINVAL for one
 *	neither absolute nor abstract)
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

/* batches read per wake-up of the poll, at most */
#define MAX_BATCHES	8
/*
 * Datagrams the first recvmmsg() of a wake-up reads, at most; the next ones
 * read every slot. When the peer has queued its whole window (32 calls in
 * flight, 64 slots), one crossing of all of it makes every reply wait for
 * the window's last request while the peer has nothing to do: the two
 * sides take turns. A short first batch sends its replies while the peer
 * refills; a deep queue is still read a full arena at a time.
 */
#define FIRST_BATCH	16
/* buffers of one send() kept on the stack; more are allocated */
#define SEND_IOV_STACK	16

/* Throws the pending Node-API failure unless an exception is already set. */
static void throw_napi_failure(napi_env env)
{
	const napi_extended_error_info *info = NULL;
	bool pending = false;

	if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
		return;
	napi_get_last_error_info(env, &info);
	napi_throw_error(env, NULL, info && info->error_message ?
			 info->error_message : "Node-API call failed");
}

#define NAPI_CALL(env, call)				\
	do {						\
		if ((call) != napi_ok) {		\
			throw_napi_failure(env);	\
			return NULL;			\
		}					\
	} while (0)

/* Name of an errno value ("EBADF"), or NULL where the C library has none. */
static const char *errno_code(int err)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
	return strerrorname_np(err);
#else
	(void)err;
	return NULL;
#endif
}

/*
 * Throws Error("<syscall>: <strerror>") with errno, syscall and (where the
 * C library names it) code set.
 */
static void throw_errno(napi_env env, int err, const char *syscall)
{
	char text[128];
	const char *name = errno_code(err);
	napi_value error, message, code = NULL, value;

	snprintf(text, sizeof(text), "%s: %s", syscall, strerror(err));
	if (napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message) != napi_ok ||
	    (name && napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok) ||
	    napi_create_error(env, code, message, &error) != napi_ok) {
		throw_napi_failure(env);
		return;
	}
	if (napi_create_int32(env, err, &value) == napi_ok)
		napi_set_named_property(env, error, "errno", value);
	if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &value) == napi_ok)
		napi_set_named_property(env, error, "syscall", value);
	napi_throw(env, error);
}

/*
 * Reads argument @what as an int no smaller than @min into @out. Returns
 * false with a TypeError or RangeError thrown when it is not one.
 */
static bool get_int(napi_env env, napi_value arg, const char *what, int min, int *out)
{
	char text[96];
	napi_valuetype type;
	double d;

	if (napi_typeof(env, arg, &type) != napi_ok) {
		throw_napi_failure(env);
		return false;
	}
	if (type != napi_number) {
		snprintf(text, sizeof(text), "%s must be an integer", what);
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", text);
		return false;
	}
	if (napi_get_value_double(env, arg, &d) != napi_ok) {
		throw_napi_failure(env);
		return false;
	}
	if (!(d >= min && d <= 2147483647.0) || (double)(int)d != d) {
		snprintf(text, sizeof(text), "%s must be an integer in %d..2147483647", what, min);
		napi_throw_range_error(env, "ERR_OUT_OF_RANGE", text);
		return false;
	}
	*out = (int)d;
	return true;
}

/* Reads argument @what as a u32 (a netlink port id) into @out; false with an exception thrown. */
static bool get_u32(napi_env env, napi_value arg, const char *what, uint32_t *out)
{
	char text[96];
	napi_valuetype type;
	double d;

	if (napi_typeof(env, arg, &type) != napi_ok || type != napi_number ||
	    napi_get_value_double(env, arg, &d) != napi_ok) {
		snprintf(text, sizeof(text), "%s must be an integer", what);
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", text);
		return false;
	}
	if (!(d >= 0 && d <= 4294967295.0) || (double)(uint32_t)d != d) {
		snprintf(text, sizeof(text), "%s must be an integer in 0..4294967295", what);
		napi_throw_range_error(env, "ERR_OUT_OF_RANGE", text);
		return false;
	}
	*out = (uint32_t)d;
	return true;
}

/*
 * Reads the @want integer arguments (fd, level, name[, value]) of a call
 * into @out. Returns false with an exception thrown when they are missing
 * or not integers.
 */
static bool get_args(napi_env env, napi_callback_info info, size_t want, int *out)
{
	static const char *const names[] = { "fd", "level", "name", "value" };
	static const int mins[] = { 0, 0, 0, -2147483647 - 1 };
	napi_value argv[4];
	size_t argc = 4, i;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
		throw_napi_failure(env);
		return false;
	}
	if (argc < want) {
		napi_throw_type_error(env, "ERR_MISSING_ARGS",
				      want == 4 ? "setsockopt(fd, level, name, value) takes 4 integers" :
						  "getsockopt(fd, level, name) takes 3 integers");
		return false;
	}
	for (i = 0; i < want; i++)
		if (!get_int(env, argv[i], names[i], mins[i], &out[i]))
			return false;
	return true;
}

static napi_value nl_setsockopt(napi_env env, napi_callback_info info)
{
	int a[4];

	if (!get_args(env, info, 4, a))
		return NULL;
	if (setsockopt(a[0], a[1], a[2], &a[3], sizeof(a[3])) < 0)
		throw_errno(env, errno, "setsockopt");
	return NULL;
}

static napi_value nl_getsockopt(napi_env env, napi_callback_info info)
{
	int a[3], value = 0;
	socklen_t len = sizeof(value);
	napi_value result;

	if (!get_args(env, info, 3, a))
		return NULL;
	if (getsockopt(a[0], a[1], a[2], &value, &len) < 0) {
		throw_errno(env, errno, "getsockopt");
		return NULL;
	}
	NAPI_CALL(env, napi_create_int32(env, value, &result));
	return result;
}

static napi_value nl_close_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	size_t argc = 1;
	int fd;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1) {
		napi_throw_type_error(env, "ERR_MISSING_ARGS", "closeFd(fd) takes an integer");
		return NULL;
	}
	if (!get_int(env, argv[0], "fd", 0, &fd))
		return NULL;
	close(fd);
	return NULL;
}

/* Sets an int socket option; false with an errno error thrown on failure. */
static bool set_int_opt(napi_env env, int fd, int level, int name, int value)
{
	if (setsockopt(fd, level, name, &value, sizeof(value)) < 0) {
		throw_errno(env, errno, "setsockopt");
		return false;
	}
	return true;
}

static napi_value nl_open(napi_env env, napi_callback_info info)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t sl = sizeof(sa);
	napi_value argv[5], result, v;
	size_t argc = 5;
	uint32_t port;
	int rcvbuf, sndbuf, fd, on = 1, check = 0, protocol = NETLINK_GENERIC;
	socklen_t cl = sizeof(check);
	bool cap_ack;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 4) {
		napi_throw_type_error(env, "ERR_MISSING_ARGS",
				      "open(localPort, rcvbufBytes, sndbufBytes, capAck) takes 4 arguments");
		return NULL;
	}
	if (!get_u32(env, argv[0], "localPort", &port) ||
	    !get_int(env, argv[1], "rcvbufBytes", 1, &rcvbuf) ||
	    !get_int(env, argv[2], "sndbufBytes", 1, &sndbuf))
		return NULL;
	NAPI_CALL(env, napi_coerce_to_bool(env, argv[3], &v));
	NAPI_CALL(env, napi_get_value_bool(env, v, &cap_ack));
	if (argc >= 5 && !get_int(env, argv[4], "protocol", 0, &protocol))
		return NULL;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
	if (fd < 0) {
		throw_errno(env, errno, "socket");
		return NULL;
	}
	sa.nl_pid = port;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		throw_errno(env, errno, "bind");
		goto fail;
	}
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		throw_errno(env, errno, "getsockname");
		goto fail;
	}
	if (!set_int_opt(env, fd, SOL_SOCKET, SO_RCVBUF, rcvbuf) ||
	    !set_int_opt(env, fd, SOL_SOCKET, SO_SNDBUF, sndbuf) ||
	    !set_int_opt(env, fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, on) ||
	    !set_int_opt(env, fd, SOL_NETLINK, NETLINK_EXT_ACK, on) ||
	    (cap_ack && !set_int_opt(env, fd, SOL_NETLINK, NETLINK_CAP_ACK, on)))
		goto fail;
	if (getsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &check, &cl) < 0 || !check) {
		throw_errno(env, check ? errno : ENOPROTOOPT, "getsockopt");
		goto fail;
	}
	if (napi_create_array_with_length(env, 2, &result) != napi_ok ||
	    napi_create_int32(env, fd, &v) != napi_ok || napi_set_element(env, result, 0, v) != napi_ok ||
	    napi_create_uint32(env, sa.nl_pid, &v) != napi_ok || napi_set_element(env, result, 1, v) != napi_ok) {
		throw_napi_failure(env);
		goto fail;
	}
	return result;
fail:
	close(fd);
	return NULL;
}

/* A socket being polled. Freed once both its uv handle is closed and its JS handle finalized. */
struct knl_sock {
	napi_env env;
	uv_poll_t poll;
	int fd;
	bool stopped;
	int holds;			/* uv handle + JS handle */
	napi_ref cb_ref, arena_ref, meta_ref;
	napi_async_context actx;
	unsigned char *arena;
	size_t slot_bytes;
	unsigned int slots;
	int32_t *meta;
	struct mmsghdr *msgs;
	struct iovec *iov;
	struct sockaddr_nl *names;
};

static void knl_release(struct knl_sock *s)
{
	if (--s->holds > 0)
		return;
	free(s->msgs);
	free(s->iov);
	free(s->names);
	free(s);
}

static void knl_on_closed(uv_handle_t *h)
{
	knl_release(h->data);
}

static void knl_cleanup_hook(void *arg);

/* Ends the poll, closes the socket, drops the references. Idempotent. */
static void knl_stop(struct knl_sock *s)
{
	if (s->stopped)
		return;
	s->stopped = true;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, knl_on_closed);
	close(s->fd);
	s->fd = -1;
	napi_remove_env_cleanup_hook(s->env, knl_cleanup_hook, s);
	napi_delete_reference(s->env, s->cb_ref);
	napi_delete_reference(s->env, s->arena_ref);
	napi_delete_reference(s->env, s->meta_ref);
	napi_async_destroy(s->env, s->actx);
}

static void knl_cleanup_hook(void *arg)
{
	knl_stop(arg);
}

static void knl_finalize(napi_env env, void *data, void *hint)
{
	struct knl_sock *s = data;

	knl_stop(s);
	knl_release(s);
}

/* Calls the JS callback with (n, fatal); false when it threw (rethrown as uncaught). */
static bool knl_call(struct knl_sock *s, int n, bool fatal)
{
	napi_env env = s->env;
	napi_handle_scope scope;
	napi_value cb, recv, argv[2], exc;
	napi_status st;
	bool ok = true;

	if (napi_open_handle_scope(env, &scope) != napi_ok)
		return false;
	if (napi_get_reference_value(env, s->cb_ref, &cb) != napi_ok || !cb ||
	    napi_get_global(env, &recv) != napi_ok || napi_create_int32(env, n, &argv[0]) != napi_ok ||
	    napi_get_boolean(env, fatal, &argv[1]) != napi_ok) {
		napi_close_handle_scope(env, scope);
		return false;
	}
	st = napi_make_callback(env, s->actx, recv, cb, 2, argv, NULL);
	if (st != napi_ok) {
		ok = false;
		if (napi_get_and_clear_last_exception(env, &exc) == napi_ok && exc)
			napi_fatal_exception(env, exc);
	}
	napi_close_handle_scope(env, scope);
	return ok;
}

static void knl_on_poll(uv_poll_t *h, int status, int events)
{
	struct knl_sock *s = h->data;
	unsigned int i, b;

	if (status < 0) {
		/* POLLERR: libuv stopped the poll; read and clear sk_err, go on */
		int err = 0;
		socklen_t l = sizeof(err);

		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0) {
			knl_call(s, -errno, true);
			return;
		}
		if (!knl_call(s, -(err ? err : EIO), false) || s->stopped)
			return;
		if (uv_poll_start(&s->poll, UV_READABLE, knl_on_poll) < 0)
			knl_call(s, -EIO, true);
		return;
	}
	for (b = 0; b < MAX_BATCHES && !s->stopped; b++) {
		unsigned int vlen = b == 0 && s->slots > FIRST_BATCH ? FIRST_BATCH : s->slots;
		int n;

		for (i = 0; i < vlen; i++) {
			s->iov[i].iov_base = s->arena + (size_t)i * s->slot_bytes;
			s->iov[i].iov_len = s->slot_bytes;
			s->msgs[i].msg_hdr = (struct msghdr){
				.msg_name = &s->names[i], .msg_namelen = sizeof(s->names[i]),
				.msg_iov = &s->iov[i], .msg_iovlen = 1,
			};
			s->msgs[i].msg_len = 0;
		}
		n = recvmmsg(s->fd, s->msgs, vlen, MSG_DONTWAIT | MSG_TRUNC, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			/* ENOBUFS (only without NETLINK_NO_ENOBUFS) and others: reported, the socket lives */
			if (!knl_call(s, -errno, false))
				return;
			continue;
		}
		for (i = 0; i < (unsigned int)n; i++) {
			s->meta[3 * i] = (int32_t)s->msgs[i].msg_len;
			s->meta[3 * i + 1] = (int32_t)s->names[i].nl_pid;
			s->meta[3 * i + 2] = (s->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ||
					     s->msgs[i].msg_len > s->slot_bytes;
		}
		if (!knl_call(s, n, false))
			return;
		if ((unsigned int)n < vlen)
			return;
	}
}

/* The data pointer and length of an ArrayBuffer argument; false with a TypeError thrown. */
static bool get_arraybuffer(napi_env env, napi_value v, const char *what, void **data, size_t *len)
{
	bool is = false;
	char text[96];

	if (napi_is_arraybuffer(env, v, &is) != napi_ok || !is) {
		snprintf(text, sizeof(text), "%s must be an ArrayBuffer", what);
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", text);
		return false;
	}
	if (napi_get_arraybuffer_info(env, v, data, len) != napi_ok) {
		throw_napi_failure(env);
		return false;
	}
	return true;
}

static napi_value nl_start(napi_env env, napi_callback_info info)
{
	napi_value argv[6], handle, name;
	size_t argc = 6, arena_len, meta_len;
	napi_valuetype type;
	void *arena, *meta;
	int fd, slot_bytes, slots;
	struct knl_sock *s;
	uv_loop_t *loop;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 6) {
		napi_throw_type_error(env, "ERR_MISSING_ARGS",
				      "start(fd, arena, slotBytes, slots, meta, callback) takes 6 arguments");
		return NULL;
	}
	if (!get_int(env, argv[0], "fd", 0, &fd) ||
	    !get_arraybuffer(env, argv[1], "arena", &arena, &arena_len) ||
	    !get_int(env, argv[2], "slotBytes", 4096, &slot_bytes) ||
	    !get_int(env, argv[3], "slots", 1, &slots) ||
	    !get_arraybuffer(env, argv[4], "meta", &meta, &meta_len))
		return NULL;
	NAPI_CALL(env, napi_typeof(env, argv[5], &type));
	if (type != napi_function) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "callback must be a function");
		return NULL;
	}
	if (slots > 1024 || (size_t)slot_bytes * (size_t)slots > arena_len ||
	    meta_len < 3 * sizeof(int32_t) * (size_t)slots) {
		napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
				       "slots must be 1..1024, the arena hold slots * slotBytes bytes and meta 3 int32 per slot");
		return NULL;
	}
	NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
	s = calloc(1, sizeof(*s));
	if (!s) {
		throw_errno(env, ENOMEM, "calloc");
		return NULL;
	}
	s->msgs = calloc(slots, sizeof(*s->msgs));
	s->iov = calloc(slots, sizeof(*s->iov));
	s->names = calloc(slots, sizeof(*s->names));
	if (!s->msgs || !s->iov || !s->names) {
		free(s->msgs);
		free(s->iov);
		free(s->names);
		free(s);
		throw_errno(env, ENOMEM, "calloc");
		return NULL;
	}
	s->env = env;
	s->fd = fd;
	s->arena = arena;
	s->slot_bytes = (size_t)slot_bytes;
	s->slots = (unsigned int)slots;
	s->meta = meta;
	s->holds = 1;	/* the JS handle, until the poll handle exists */
	if (napi_create_string_utf8(env, "koffload:netlink", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_async_init(env, NULL, name, &s->actx) != napi_ok) {
		knl_release(s);
		throw_napi_failure(env);
		return NULL;
	}
	if (napi_create_reference(env, argv[5], 1, &s->cb_ref) != napi_ok ||
	    napi_create_reference(env, argv[1], 1, &s->arena_ref) != napi_ok ||
	    napi_create_reference(env, argv[4], 1, &s->meta_ref) != napi_ok) {
		throw_napi_failure(env);
		return NULL;
	}
	if (uv_poll_init(loop, &s->poll, fd) < 0) {
		napi_delete_reference(env, s->cb_ref);
		napi_delete_reference(env, s->arena_ref);
		napi_delete_reference(env, s->meta_ref);
		napi_async_destroy(env, s->actx);
		knl_release(s);
		throw_errno(env, EBADF, "uv_poll_init");
		return NULL;
	}
	s->poll.data = s;
	s->holds = 2;
	napi_add_env_cleanup_hook(env, knl_cleanup_hook, s);
	if (napi_create_external(env, s, knl_finalize, NULL, &handle) != napi_ok) {
		knl_stop(s);
		knl_release(s);
		throw_napi_failure(env);
		return NULL;
	}
	if (uv_poll_start(&s->poll, UV_READABLE, knl_on_poll) < 0) {
		knl_stop(s);
		throw_errno(env, EBADF, "uv_poll_start");
		return NULL;
	}
	return handle;
}

static struct knl_sock *get_handle(napi_env env, napi_value v)
{
	napi_valuetype type;
	void *p = NULL;

	if (napi_typeof(env, v, &type) != napi_ok || type != napi_external ||
	    napi_get_value_external(env, v, &p) != napi_ok || !p) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "handle must be what start() returned");
		return NULL;
	}
	return p;
}

static napi_value nl_stop(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	size_t argc = 1;
	struct knl_sock *s;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !(s = get_handle(env, argv[0])))
		return NULL;
	knl_stop(s);
	return NULL;
}

static napi_value nl_ref(napi_env env, napi_callback_info info)
{
	napi_value argv[2], v;
	size_t argc = 2;
	struct knl_sock *s;
	bool ref;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2 || !(s = get_handle(env, argv[0])))
		return NULL;
	NAPI_CALL(env, napi_coerce_to_bool(env, argv[1], &v));
	NAPI_CALL(env, napi_get_value_bool(env, v, &ref));
	if (s->stopped)
		return NULL;
	if (ref)
		uv_ref((uv_handle_t *)&s->poll);
	else
		uv_unref((uv_handle_t *)&s->poll);
	return NULL;
}

/* The bytes of a Buffer or Uint8Array argument; false with a TypeError thrown. */
static bool get_bytes(napi_env env, napi_value v, void **data, size_t *len)
{
	bool is = false;
	napi_typedarray_type t;
	napi_value ab;
	size_t off;

	if (napi_is_buffer(env, v, &is) == napi_ok && is)
		return napi_get_buffer_info(env, v, data, len) == napi_ok;
	if (napi_is_typedarray(env, v, &is) == napi_ok && is &&
	    napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) == napi_ok && t == napi_uint8_array)
		return true;
	napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "buffers must hold Buffers or Uint8Arrays");
	return false;
}

static napi_value nl_send(napi_env env, napi_callback_info info)
{
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	struct iovec stack_iov[SEND_IOV_STACK], *iov = stack_iov;
	napi_value argv[3], el, result = NULL;
	size_t argc = 3;
	uint32_t n, i = 0;
	int fd, err = 0;
	bool is_array = false;
	struct msghdr mh = { 0 };

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 3) {
		napi_throw_type_error(env, "ERR_MISSING_ARGS", "send(fd, port, buffers) takes 3 arguments");
		return NULL;
	}
	if (!get_int(env, argv[0], "fd", 0, &fd) || !get_u32(env, argv[1], "port", &to.nl_pid))
		return NULL;
	NAPI_CALL(env, napi_is_array(env, argv[2], &is_array));
	if (!is_array) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "buffers must be an array");
		return NULL;
	}
	NAPI_CALL(env, napi_get_array_length(env, argv[2], &n));
	if (n > SEND_IOV_STACK) {
		if (n > 1024) {
			napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "at most 1024 buffers per send");
			return NULL;
		}
		iov = malloc(n * sizeof(*iov));
		if (!iov) {
			throw_errno(env, ENOMEM, "malloc");
			return NULL;
		}
	}
	for (i = 0; i < n; i++) {
		if (napi_get_element(env, argv[2], i, &el) != napi_ok ||
		    !get_bytes(env, el, &iov[i].iov_base, &iov[i].iov_len))
			goto out;
	}
	mh.msg_name = &to;
	mh.msg_namelen = sizeof(to);
	mh.msg_iov = iov;
	mh.msg_iovlen = n;
	while (sendmsg(fd, &mh, MSG_DONTWAIT) < 0) {
		if (errno == EINTR)
			continue;
		err = errno;
		break;
	}
	if (napi_create_int32(env, err, &result) != napi_ok)
		throw_napi_failure(env);
out:
	if (iov != stack_iov)
		free(iov);
	return i == n ? result : NULL;
}

/* A PSI trigger fd being watched. Freed once its uv handle is closed and its JS handle finalized. */
struct knl_psi {
	napi_env env;
	uv_poll_t poll;
	int fd;
	bool stopped;
	int holds;			/* uv handle + JS handle */
	napi_ref cb_ref;
	napi_async_context actx;
};

static void psi_release(struct knl_psi *p)
{
	if (--p->holds > 0)
		return;
	free(p);
}

static void psi_on_closed(uv_handle_t *h)
{
	psi_release(h->data);
}

static void psi_cleanup_hook(void *arg);

/* Ends the watch, closes the fd (which removes the trigger), drops the references. Idempotent. */
static void psi_stop(struct knl_psi *p)
{
	if (p->stopped)
		return;
	p->stopped = true;
	uv_poll_stop(&p->poll);
	uv_close((uv_handle_t *)&p->poll, psi_on_closed);
	close(p->fd);
	p->fd = -1;
	napi_remove_env_cleanup_hook(p->env, psi_cleanup_hook, p);
	napi_delete_reference(p->env, p->cb_ref);
	napi_async_destroy(p->env, p->actx);
}

static void psi_cleanup_hook(void *arg)
{
	psi_stop(arg);
}

static void psi_finalize(napi_env env, void *data, void *hint)
{
	struct knl_psi *p = data;

	psi_stop(p);
	psi_release(p);
}

static void psi_on_poll(uv_poll_t *h, int status, int events)
{
	struct knl_psi *p = h->data;
	napi_env env = p->env;
	napi_handle_scope scope;
	napi_value cb, recv, arg, exc;
	/* libuv reports EPOLLERR as a negative status; it stopped the poll */
	int value = status < 0 ? status : 0;

	if (napi_open_handle_scope(env, &scope) != napi_ok)
		return;
	if (napi_get_reference_value(env, p->cb_ref, &cb) == napi_ok && cb &&
	    napi_get_global(env, &recv) == napi_ok && napi_create_int32(env, value, &arg) == napi_ok &&
	    napi_make_callback(env, p->actx, recv, cb, 1, &arg, NULL) != napi_ok &&
	    napi_get_and_clear_last_exception(env, &exc) == napi_ok && exc)
		napi_fatal_exception(env, exc);
	napi_close_handle_scope(env, scope);
	if (status < 0)
		psi_stop(p);
}

static napi_value nl_psi_watch(napi_env env, napi_callback_info info)
{
	napi_value argv[2], handle, name;
	size_t argc = 2;
	napi_valuetype type;
	struct knl_psi *p;
	uv_loop_t *loop;
	int fd, err;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2) {
		napi_throw_type_error(env, "ERR_MISSING_ARGS", "psiWatch(fd, callback) takes 2 arguments");
		return NULL;
	}
	if (!get_int(env, argv[0], "fd", 0, &fd))
		return NULL;
	NAPI_CALL(env, napi_typeof(env, argv[1], &type));
	if (type != napi_function) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "callback must be a function");
		return NULL;
	}
	NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
	p = calloc(1, sizeof(*p));
	if (!p) {
		throw_errno(env, ENOMEM, "calloc");
		return NULL;
	}
	p->env = env;
	p->fd = fd;
	p->holds = 1;
	if (napi_create_string_utf8(env, "koffload:psi", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_async_init(env, NULL, name, &p->actx) != napi_ok) {
		psi_release(p);
		throw_napi_failure(env);
		return NULL;
	}
	if (napi_create_reference(env, argv[1], 1, &p->cb_ref) != napi_ok) {
		napi_async_destroy(env, p->actx);
		psi_release(p);
		throw_napi_failure(env);
		return NULL;
	}
	err = uv_poll_init(loop, &p->poll, fd);
	if (err < 0) {
		napi_delete_reference(env, p->cb_ref);
		napi_async_destroy(env, p->actx);
		psi_release(p);
		throw_errno(env, -err, "uv_poll_init");
		return NULL;
	}
	p->poll.data = p;
	p->holds = 2;
	napi_add_env_cleanup_hook(env, psi_cleanup_hook, p);
	if (napi_create_external(env, p, psi_finalize, NULL, &handle) != napi_ok) {
		psi_stop(p);
		psi_release(p);
		throw_napi_failure(env);
		return NULL;
	}
	err = uv_poll_start(&p->poll, UV_PRIORITIZED, psi_on_poll);
	if (err < 0) {
		psi_stop(p);
		throw_errno(env, -err, "uv_poll_start");
		return NULL;
	}
	uv_unref((uv_handle_t *)&p->poll);
	return handle;
}

static napi_value nl_psi_unwatch(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	size_t argc = 1;
	napi_valuetype type;
	void *p = NULL;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_external ||
	    napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "handle must be what psiWatch() returned");
		return NULL;
	}
	psi_stop(p);
	return NULL;
}

static bool get_bool(napi_env env, napi_value v, bool *out)
{
	napi_value b;

	return napi_coerce_to_bool(env, v, &b) == napi_ok && napi_get_value_bool(env, b, out) == napi_ok;
}

/* mlock2(2), with MLOCK_ONFAULT when asked: 0 or the errno. */
static int lock_range(uintptr_t start, size_t len, bool onfault)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t end = start + len;

	start &= ~(uintptr_t)(page - 1);
	end = (end + page - 1) & ~(uintptr_t)(page - 1);
	if (mlock2((void *)start, end - start, onfault ? MLOCK_ONFAULT : 0) < 0)
		return errno;
	return 0;
}

static napi_value nl_mlock_range(napi_env env, napi_callback_info info)
{
	napi_value argv[3], result;
	size_t argc = 3;
	double start, len;
	bool onfault = false;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 3) {
		napi_throw_type_error(env, "ERR_MISSING_ARGS", "mlockRange(start, length, onfault) takes 3 arguments");
		return NULL;
	}
	if (napi_get_value_double(env, argv[0], &start) != napi_ok ||
	    napi_get_value_double(env, argv[1], &len) != napi_ok || !get_bool(env, argv[2], &onfault) ||
	    !(start >= 0 && start < 9007199254740992.0) || !(len > 0 && len < 9007199254740992.0)) {
		napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "start and length must be non-negative integers (length > 0)");
		return NULL;
	}
	NAPI_CALL(env, napi_create_int32(env, lock_range((uintptr_t)start, (size_t)len, onfault), &result));
	return result;
}

static napi_value nl_mlock_buffer(napi_env env, napi_callback_info info)
{
	napi_value argv[1], result;
	size_t argc = 1, len;
	void *data;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 1 || !get_arraybuffer(env, argv[0], "buffer", &data, &len))
		return NULL;
	NAPI_CALL(env, napi_create_int32(env, len ? lock_range((uintptr_t)data, len, false) : 0, &result));
	return result;
}

static napi_value nl_memlock_limit(napi_env env, napi_callback_info info)
{
	struct rlimit rl;
	napi_value result, v;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0) {
		throw_errno(env, errno, "getrlimit");
		return NULL;
	}
	NAPI_CALL(env, napi_create_array_with_length(env, 2, &result));
	NAPI_CALL(env, napi_create_double(env, rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur, &v));
	NAPI_CALL(env, napi_set_element(env, result, 0, v));
	NAPI_CALL(env, napi_create_double(env, rl.rlim_max == RLIM_INFINITY ? INFINITY : (double)rl.rlim_max, &v));
	NAPI_CALL(env, napi_set_element(env, result, 1, v));
	return result;
}

/* A NULL-terminated copy of a JS array of strings; NULL with an exception thrown. */
static char **get_strv(napi_env env, napi_value arr, const char *what)
{
	char text[96], **v;
	bool is = false;
	uint32_t n, i;
	napi_value el;
	size_t len;

	if (napi_is_array(env, arr, &is) != napi_ok || !is || napi_get_array_length(env, arr, &n) != napi_ok) {
		snprintf(text, sizeof(text), "%s must be an array of strings", what);
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", text);
		return NULL;
	}
	v = calloc((size_t)n + 1, sizeof(*v));
	if (!v) {
		throw_errno(env, ENOMEM, "calloc");
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (napi_get_element(env, arr, i, &el) != napi_ok ||
		    napi_get_value_string_utf8(env, el, NULL, 0, &len) != napi_ok ||
		    !(v[i] = malloc(len + 1)) ||
		    napi_get_value_string_utf8(env, el, v[i], len + 1, &len) != napi_ok) {
			snprintf(text, sizeof(text), "%s must be an array of strings", what);
			napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", text);
			goto fail;
		}
	}
	return v;
fail:
	for (i = 0; v[i]; i++)
		free(v[i]);
	free(v);
	return NULL;
}

static void free_strv(char **v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

static napi_value nl_execve(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	size_t argc = 3, len;
	char path[4096], **args = NULL, **envp = NULL;
	int fd, flags;

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 3) {
		napi_throw_type_error(env, "ERR_MISSING_ARGS", "execve(path, argv, env) takes 3 arguments");
		return NULL;
	}
	if (napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &len) != napi_ok || len == 0 ||
	    len >= sizeof(path) - 1) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "path must be a non-empty string");
		return NULL;
	}
	args = get_strv(env, argv[1], "argv");
	if (!args)
		return NULL;
	envp = get_strv(env, argv[2], "env");
	if (!envp)
		goto out;
	/* Node marks a stdio fd that is a file close-on-exec: keep 0..2 for the new image */
	for (fd = 0; fd <= 2; fd++) {
		flags = fcntl(fd, F_GETFD);
		if (flags >= 0 && (flags & FD_CLOEXEC))
			fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
	}
	execve(path, args, envp);
	throw_errno(env, errno, "execve");
out:
	free_strv(args);
	free_strv(envp);
	return NULL;
}

/* sd_notify(3)'s datagram: 0 or the errno; @path is "/abs/path" or "@abstract". */
static int notify_send(const char *path, size_t path_len, const char *state, size_t state_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t sa_len;
	ssize_t n;
	int fd, err = 0;

	if (path_len < 2 || (path[0] != '/' && path[0] != '@'))
		return EINVAL;
	if (path_len > sizeof(sa.sun_path) || (path[0] == '/' && path_len == sizeof(sa.sun_path)))
		return ENAMETOOLONG;
	memcpy(sa.sun_path, path, path_len);
	/* abstract: a leading NUL, and the length says where the name ends */
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	sa_len = offsetof(struct sockaddr_un, sun_path) + path_len + (path[0] == '/');
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	n = sendto(fd, state, state_len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, sa_len);
	if (n < 0)
		err = errno;
	else if ((size_t)n != state_len)
		err = EMSGSIZE;
	close(fd);
	return err;
}

static napi_value nl_sd_notify(napi_env env, napi_callback_info info)
{
	napi_value argv[2], result;
	size_t argc = 2, path_len, state_len;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 2], state[4096];

	NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc < 2) {
		napi_throw_type_error(env, "ERR_MISSING_ARGS", "sdNotify(socketPath, state) takes 2 arguments");
		return NULL;
	}
	if (napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &path_len) != napi_ok) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "socketPath must be a string");
		return NULL;
	}
	if (napi_get_value_string_utf8(env, argv[1], state, sizeof(state), &state_len) != napi_ok || state_len == 0 ||
	    state_len >= sizeof(state) - 1) {
		napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "state must be a string of 1..4094 bytes");
		return NULL;
	}
	/* a path cut short by the buffer is too long, not another path */
	NAPI_CALL(env, napi_create_int32(env, path_len >= sizeof(path) - 1 ? ENAMETOOLONG :
					 notify_send(path, path_len, state, state_len), &result));
	return result;
}

NAPI_MODULE_INIT()
{
	static const napi_property_descriptor props[] = {
		{ "open", NULL, nl_open, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "start", NULL, nl_start, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "send", NULL, nl_send, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "stop", NULL, nl_stop, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "ref", NULL, nl_ref, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "closeFd", NULL, nl_close_fd, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "setsockopt", NULL, nl_setsockopt, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "getsockopt", NULL, nl_getsockopt, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "psiWatch", NULL, nl_psi_watch, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "psiUnwatch", NULL, nl_psi_unwatch, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "mlockRange", NULL, nl_mlock_range, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "mlockBuffer", NULL, nl_mlock_buffer, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "memlockLimit", NULL, nl_memlock_limit, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "execve", NULL, nl_execve, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "sdNotify", NULL, nl_sd_notify, NULL, NULL, NULL, napi_enumerable, NULL },
	};

	NAPI_CALL(env, napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
	return exports;
}
