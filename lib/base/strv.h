/* NULL-terminated string vectors (argv, env). */
#pragma once

#include <stddef.h>

void strv_free(char **v);
size_t strv_length(char *const *v);
/* Appends a copy of s; returns -ENOMEM and leaves *v valid on failure. */
int strv_push(char ***v, const char *s);
/* Index of the env entry with key "name=" in v, or -1. */
long strv_env_find(char *const *v, const char *name);

static inline void strv_freep(char ***v)
{
    strv_free(*v);
}
#define _cleanup_strv_ __attribute__((cleanup(strv_freep)))
