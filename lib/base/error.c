#include "base/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 4, 0)))
static int error_vset(struct berth_error *err, int code, int with_errno, const char *fmt, va_list ap)
{
    if (!err || err->code != 0)
        return code;
    err->code = code;
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    if (with_errno && n >= 0 && (size_t) n < sizeof(err->msg))
        snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(code < 0 ? -code : code));
    return code;
}

int berth_error_set(struct berth_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int berth_error_errno(struct berth_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, code, 1, fmt, ap);
    va_end(ap);
    return code;
}

int berth_error_prefix(struct berth_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    if (err->code == 0) {
        err->code = code;
        snprintf(err->msg, sizeof(err->msg), "%s", strerror(code < 0 ? -code : code));
    }
    char prefix[BERTH_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    /* Truncation is acceptable: the message stays a readable prefix. */
    char joined[2 * BERTH_ERROR_MAX];
    snprintf(joined, sizeof(joined), "%s%s", prefix, err->msg);
    snprintf(err->msg, sizeof(err->msg), "%.*s", BERTH_ERROR_MAX - 1, joined);
    return err->code;
}

void berth_error_clear(struct berth_error *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}

const char *berth_error_message(const struct berth_error *err)
{
    if (!err || err->code == 0)
        return "no error";
    if (err->msg[0])
        return err->msg;
    return strerror(err->code < 0 ? -err->code : err->code);
}
