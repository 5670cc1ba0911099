/* config.json "mounts": each entry's options split into flags, propagation and filesystem data. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "oci/config.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

static const struct {
    const char *name;
    bool clear;
    unsigned long flag;
} flag_options[] = {
    { "ro", false, MS_RDONLY },          { "rw", true, MS_RDONLY },
    { "nosuid", false, MS_NOSUID },      { "suid", true, MS_NOSUID },
    { "nodev", false, MS_NODEV },        { "dev", true, MS_NODEV },
    { "noexec", false, MS_NOEXEC },      { "exec", true, MS_NOEXEC },
    { "sync", false, MS_SYNCHRONOUS },   { "async", true, MS_SYNCHRONOUS },
    { "dirsync", false, MS_DIRSYNC },    { "remount", false, MS_REMOUNT },
    { "mand", false, MS_MANDLOCK },      { "nomand", true, MS_MANDLOCK },
    { "noatime", false, MS_NOATIME },    { "atime", true, MS_NOATIME },
    { "nodiratime", false, MS_NODIRATIME }, { "diratime", true, MS_NODIRATIME },
    { "relatime", false, MS_RELATIME },  { "norelatime", true, MS_RELATIME },
    { "strictatime", false, MS_STRICTATIME }, { "nostrictatime", true, MS_STRICTATIME },
    { "nosymfollow", false, MS_NOSYMFOLLOW }, { "symfollow", true, MS_NOSYMFOLLOW },
};

static const struct {
    const char *name;
    unsigned long prop;
    bool rec;
} propagation_options[] = {
    { "private", MS_PRIVATE, false },       { "rprivate", MS_PRIVATE, true },
    { "shared", MS_SHARED, false },         { "rshared", MS_SHARED, true },
    { "slave", MS_SLAVE, false },           { "rslave", MS_SLAVE, true },
    { "unbindable", MS_UNBINDABLE, false }, { "runbindable", MS_UNBINDABLE, true },
};

/* Recursive attribute options of runtime-spec 1.1 ("rro", "rnosuid", ...). */
static const struct {
    const char *name;
    unsigned long flag;
} rec_options[] = {
    { "rro", MS_RDONLY }, { "rnosuid", MS_NOSUID }, { "rnodev", MS_NODEV },
    { "rnoexec", MS_NOEXEC }, { "rnoatime", MS_NOATIME }, { "rnodiratime", MS_NODIRATIME },
    { "rrelatime", MS_RELATIME }, { "rstrictatime", MS_STRICTATIME }, { "rnosymfollow", MS_NOSYMFOLLOW },
};

static int append_data(char **data, const char *opt)
{
    char *n;
    if (asprintf(&n, "%s%s%s", *data ? *data : "", *data ? "," : "", opt) < 0)
        return -ENOMEM;
    free(*data);
    *data = n;
    return 0;
}

int oci_mount_parse_options(json_t *options, const char *what, struct oci_mount *m, struct berth_error *err)
{
    size_t i;
    json_t *o;
    if (!options || json_is_null(options))
        return 0;
    if (!json_is_array(options))
        return berth_error_set(err, -EINVAL, "%s.options: must be an array", what);
    json_array_foreach(options, i, o) {
        if (!json_is_string(o))
            return berth_error_set(err, -EINVAL, "%s.options[%zu]: must be a string", what, i);
        const char *s = json_string_value(o);
        bool done = false;
        if (!strcmp(s, "bind") || !strcmp(s, "rbind")) {
            m->bind = true;
            m->recursive = m->recursive || s[0] == 'r';
            continue;
        }
        for (size_t k = 0; !done && k < sizeof(flag_options) / sizeof(flag_options[0]); k++)
            if (!strcmp(s, flag_options[k].name)) {
                if (flag_options[k].clear) {
                    m->flags &= ~flag_options[k].flag;
                    m->clear |= flag_options[k].flag;
                } else {
                    m->flags |= flag_options[k].flag;
                    m->clear &= ~flag_options[k].flag;
                }
                done = true;
            }
        for (size_t k = 0; !done && k < sizeof(propagation_options) / sizeof(propagation_options[0]); k++)
            if (!strcmp(s, propagation_options[k].name)) {
                m->propagation = propagation_options[k].prop;
                m->propagation_rec = propagation_options[k].rec;
                done = true;
            }
        for (size_t k = 0; !done && k < sizeof(rec_options) / sizeof(rec_options[0]); k++)
            if (!strcmp(s, rec_options[k].name)) {
                m->rec_attrs = true;
                m->rec_flags |= rec_options[k].flag;
                done = true;
            }
        if (done)
            continue;
        if (!strcmp(s, "idmap") || !strcmp(s, "ridmap"))
            return berth_error_set(err, -EOPNOTSUPP, "%s.options[%zu]: idmapped mounts ('%s') are not supported",
                                   what, i, s);
        if (!strcmp(s, "tmpcopyup")) {
            m->tmpcopyup = true;
            continue;
        }
        if (!*s || strlen(s) > 4096)
            return berth_error_set(err, -EINVAL, "%s.options[%zu]: invalid option", what, i);
        if (append_data(&m->data, s) < 0)
            return berth_error_set(err, -ENOMEM, "%s: out of memory", what);
    }
    return 0;
}
