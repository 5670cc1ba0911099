#include "vmm/console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"

int vmm_unix_listen(const char *path, struct berth_error *err)
{
    /* Bound under a temporary name and renamed once listening: a client that sees PATH can
     * connect at once. */
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char tmp[sizeof(sa.sun_path)];
    if ((size_t) snprintf(tmp, sizeof(tmp), "%s.%d~", path, (int) getpid()) >= sizeof(tmp))
        return berth_error_set(err, -ENAMETOOLONG, "socket %s: path too long", path);
    strcpy(sa.sun_path, tmp);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return berth_error_errno(err, -errno, "socket %s", path);
    struct stat st;
    if (lstat(path, &st) == 0)
        return berth_error_set(err, -EEXIST, "socket %s: the path already exists", path);
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
        return berth_error_errno(err, -errno, "socket %s: bind", path);
    if (listen(fd, 4) < 0 || rename(tmp, path) < 0) {
        int e = -errno;
        unlink(tmp);
        return berth_error_errno(err, e, "socket %s", path);
    }
    return TAKE_FD(fd);
}

int vmm_console_open(struct vmm_console *c, const struct vmm_config *cfg, struct berth_error *err)
{
    *c = (struct vmm_console){ .kind = cfg->console, .out_fd = -1, .in_fd = -1, .listen_fd = -1 };
    switch (cfg->console) {
    case VMM_CONSOLE_STDIO:
        c->out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        if (c->out_fd < 0)
            return berth_error_errno(err, -errno, "console: stdout");
        c->in_fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        return 0;
    case VMM_CONSOLE_FILE:
        c->out_fd = open(cfg->console_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0640);
        if (c->out_fd < 0)
            return berth_error_errno(err, -errno, "console %s", cfg->console_path);
        return 0;
    case VMM_CONSOLE_SOCKET: {
        int fd = vmm_unix_listen(cfg->console_path, err);
        if (fd < 0)
            return fd;
        c->listen_fd = fd;
        c->socket_path = strdup(cfg->console_path);
        if (!c->socket_path) {
            vmm_console_close(c);
            return -ENOMEM;
        }
        return 0;
    }
    case VMM_CONSOLE_NONE:
        return 0;
    }
    return 0;
}

int vmm_console_accept(struct vmm_console *c)
{
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return -errno;
    return fd;
}

void vmm_console_close(struct vmm_console *c)
{
    if (c->out_fd >= 0)
        close(c->out_fd);
    if (c->in_fd >= 0 && c->in_fd != c->out_fd)
        close(c->in_fd);
    if (c->listen_fd >= 0)
        close(c->listen_fd);
    if (c->socket_path)
        unlink(c->socket_path);
    free(c->socket_path);
    *c = (struct vmm_console){ .out_fd = -1, .in_fd = -1, .listen_fd = -1 };
}
