// SPDX-License-Identifier: GPL-2.0-only
/*
 * koffload_nl.node: koffload's own native part of the netlink transport.
 *
 * Pure Node-API (node_api.h and js_native_api.h from the node-api-headers
 * package; no libuv, V8 or Node internals), so one binary serves every
 * Node.js release with Node-API 8, and building it needs gcc and nothing
 * downloaded. scripts/build-native.mjs compiles it into
 * dist/native/koffload_nl.node as the first step of `npm run build`;
 * src/native/koffload-nl.ts loads it.
 *
 * Today it gives the transport what the `netlink` package lacks: integer
 * socket options on a socket's fd (NETLINK_NO_ENOBUFS, NETLINK_EXT_ACK;
 * see src/netlink/socket.ts). The batched receive and send of the
 * transport (recvmmsg, sendmsg) are meant to move here too.
 *
 * Exports, all synchronous:
 *   setsockopt(fd, level, name, value)  setsockopt(2) with an int value
 *   getsockopt(fd, level, name)         getsockopt(2) of an int value
 * Arguments must be integers (fd >= 0): anything else throws TypeError or
 * RangeError. A failed system call throws an Error with `errno` (positive),
 * `code` ('EBADF') and `syscall` set, as Node's own errors do.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <node_api.h>

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

NAPI_MODULE_INIT()
{
	static const napi_property_descriptor props[] = {
		{ "setsockopt", NULL, nl_setsockopt, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "getsockopt", NULL, nl_getsockopt, NULL, NULL, NULL, napi_enumerable, NULL },
	};

	NAPI_CALL(env, napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
	return exports;
}
