#include "base/strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

size_t strv_length(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

int strv_push(char ***v, const char *s)
{
    size_t n = strv_length(*v);
    char *copy = strdup(s);
    if (!copy)
        return -ENOMEM;
    char **nv = realloc(*v, (n + 2) * sizeof(char *));
    if (!nv) {
        free(copy);
        return -ENOMEM;
    }
    nv[n] = copy;
    nv[n + 1] = NULL;
    *v = nv;
    return 0;
}

long strv_env_find(char *const *v, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; v && v[i]; i++)
        if (!strncmp(v[i], name, len) && v[i][len] == '=')
            return (long) i;
    return -1;
}
