/* Heredocs at build time: the argv a RUN with heredocs runs, and the files COPY and ADD make
 * from heredoc bodies. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "build/build-internal.h"

/* A delimiter no line of the body equals, for the heredoc berth writes itself: of the
 * BERTH_HEREDOC_<k> for k in 0..lines, one is free (lines cannot take them all), found in one
 * pass so a hostile body costs linear time. */
static int unused_delimiter(const char *body, char out[64])
{
    static const char prefix[] = "BERTH_HEREDOC_";
    size_t lines = 0;
    for (const char *c = body; *c; c++)
        lines += *c == '\n';
    _cleanup_free_ bool *taken = calloc(lines + 2, sizeof(bool));
    if (!taken)
        return -ENOMEM;
    for (const char *l = body; *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t) (nl - l) : strlen(l);
        if (len > sizeof(prefix) - 1 && len < sizeof(prefix) - 1 + 20 && !memcmp(l, prefix, sizeof(prefix) - 1)) {
            size_t k = 0;
            bool digits = true;
            for (size_t i = sizeof(prefix) - 1; i < len && digits; i++) {
                digits = l[i] >= '0' && l[i] <= '9' && !(i == sizeof(prefix) - 1 && l[i] == '0' && len > i + 1);
                k = k * 10 + (size_t) (l[i] - '0');
            }
            if (digits && k <= lines + 1)
                taken[k] = true;
        }
        l += len + (nl ? 1 : 0);
    }
    size_t k = 0;
    while (taken[k])
        k++;
    snprintf(out, 64, "%s%zu", prefix, k);
    return 0;
}

/* "RUN <<EOF" with a "#!INTERP [ARG]" first line: the body is a script for INTERP, as if it were
 * a file (the kernel's shebang rule: one optional argument, the rest of the line). It reaches
 * the interpreter as /dev/fd/3, a heredoc the shell feeds, so nothing is written into the layer. */
static json_t *shebang_argv(const char *body)
{
    const char *eol = strchr(body, '\n');
    _cleanup_free_ char *first = strndup(body + 2, eol ? (size_t) (eol - body - 2) : strlen(body + 2));
    char delim[64];
    if (!first || unused_delimiter(body, delim) < 0)
        return NULL;
    char *interp = first;
    while (*interp == ' ' || *interp == '\t')
        interp++;
    char *arg = interp;
    while (*arg && *arg != ' ' && *arg != '\t')
        arg++;
    if (*arg)
        *arg++ = '\0';
    while (*arg == ' ' || *arg == '\t')
        arg++;
    size_t an = strlen(arg);
    while (an && (arg[an - 1] == ' ' || arg[an - 1] == '\t' || arg[an - 1] == '\r'))
        arg[--an] = '\0';
    if (!*interp)
        interp = "/bin/sh";
    _cleanup_free_ char *script = NULL;
    if (asprintf(&script, "exec \"$0\" \"$@\" /dev/fd/3 3<<'%s'\n%s%s\n", delim, body, delim) < 0)
        return NULL;
    json_t *argv = json_pack("[s, s, s, s]", "/bin/sh", "-c", script, interp);
    if (argv && *arg && json_array_append_new(argv, json_string(arg)) < 0) {
        json_decref(argv);
        return NULL;
    }
    return argv;
}

json_t *build_run_argv(const struct cf_instruction *in)
{
    if (!in->n_heredocs)
        return build_argv(in, in->args);
    if (cf_heredoc_only(in)) {
        const char *body = in->heredocs[0].content;
        if (!strncmp(body, "#!", 2))
            return shebang_argv(body);
        return json_pack("[s, s, s]", "/bin/sh", "-c", body);
    }
    /* "RUN <<EOF bash", "RUN cat <<-'EOF' > f": the shell reads the heredocs itself, so quoting
     * and <<- keep their shell meaning. */
    size_t len = strlen(in->args) + 2;
    for (size_t k = 0; k < in->n_heredocs; k++)
        len += strlen(in->heredocs[k].content) + strlen(in->heredocs[k].name) + 1;
    _cleanup_free_ char *script = malloc(len);
    if (!script)
        return NULL;
    char *w = stpcpy(stpcpy(script, in->args), "\n");
    for (size_t k = 0; k < in->n_heredocs; k++)
        w = stpcpy(stpcpy(stpcpy(w, in->heredocs[k].content), in->heredocs[k].name), "\n");
    return json_pack("[s, s, s]", "/bin/sh", "-c", script);
}

/* Writes all of data to fd. */
static int write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        data += w;
        len -= (size_t) w;
    }
    return 0;
}

int build_heredoc_files(struct build_state *st, const struct cf_instruction *in, char **ret_dir, int *ret_fd,
                        struct berth_error *err)
{
    const char *tmp = getenv("TMPDIR");
    _cleanup_free_ char *dir = NULL;
    if (asprintf(&dir, "%s/berth-heredoc-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (!mkdtemp(dir))
        return berth_error_errno(err, -errno, "creating a directory for the heredocs");
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = dfd < 0 ? berth_error_errno(err, -errno, "opening %s", dir) : 0;
    for (size_t k = 0; r == 0 && k < in->n_heredocs; k++) {
        const struct cf_heredoc *h = &in->heredocs[k];
        _cleanup_free_ char *body = NULL;
        if (h->expand) {
            if (build_expand(st, h->content, &body) < 0) {
                r = berth_error_set(err, -EINVAL, "heredoc '%s': bad variable reference", h->name);
                break;
            }
        } else if (!(body = strdup(h->content))) {
            r = berth_error_set(err, -ENOMEM, "out of memory");
            break;
        }
        _cleanup_close_ int fd = openat(dfd, h->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0) {
            r = errno == EEXIST ? berth_error_set(err, -EINVAL, "heredoc '%s' used twice", h->name)
                                : berth_error_errno(err, -errno, "heredoc '%s'", h->name);
            break;
        }
        /* The umask must not decide the mode recorded in the image. */
        if (fchmod(fd, 0644) < 0 || (r = write_all(fd, body, strlen(body))) < 0) {
            r = berth_error_errno(err, r < 0 ? r : -errno, "writing heredoc '%s'", h->name);
            break;
        }
    }
    if (r < 0) {
        fs_rm_rf(dir);
        return r;
    }
    *ret_fd = TAKE_FD(dfd);
    *ret_dir = TAKE_PTR(dir);
    return 0;
}
