/* Base64 (RFC 4648) for HTTP Basic credentials, auth.json and tokens. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Standard alphabet with padding, or URL-safe without padding. Returns malloc'd NUL-terminated. */
char *base64_encode(const void *data, size_t len, bool url);
/* Accepts both alphabets, padding optional; NULL on malformed input. *ret_len excludes the NUL
 * that is appended. */
char *base64_decode(const char *s, size_t *ret_len);
