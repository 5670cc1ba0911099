/* Errors carried up to the user: -errno codes plus one message naming file, field, object, reason. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#define BERTH_ERROR_MAX 1024

/* A fixed buffer, so that reporting an error never needs an allocation that could fail. */
struct berth_error {
    int code;                   /* negative errno, 0 when unset */
    char msg[BERTH_ERROR_MAX];
};

/* Records code (a negative errno) and the formatted message in err (which may be NULL).
 * Returns code, so callers write: return berth_error_set(err, -EINVAL, "...");
 * An error already set is kept: the innermost, most precise message wins. */
int berth_error_set(struct berth_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like berth_error_set, and appends ": strerror(-code)". */
int berth_error_errno(struct berth_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends context ("config.json: ") to an error already set; sets one from code if not. */
int berth_error_prefix(struct berth_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Forgets any error recorded in err. */
void berth_error_clear(struct berth_error *err);

/* The message, or strerror of the code when no message was recorded. */
const char *berth_error_message(const struct berth_error *err);
