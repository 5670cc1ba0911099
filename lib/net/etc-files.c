/* /etc/hosts and /etc/resolv.conf for a workload's rootfs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "net/attach.h"

int net_format_hosts(const struct net_attachment *a, size_t n, const char *hostname, char **ret)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -ENOMEM;
    fprintf(f, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for (size_t i = 0; i < n; i++) {
        if (hostname && *hostname)
            fprintf(f, "%s\t%s.%s %s\n", a[i].ip, hostname, NET_DNS_DOMAIN, hostname);
    }
    if (n == 0 && hostname && *hostname)
        fprintf(f, "127.0.1.1\t%s\n", hostname);
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *ret = buf;
    return 0;
}

int net_format_resolv_conf(const struct net_attachment *a, size_t n, char **ret)
{
    if (n == 0) {
        /* No berth network: the host's resolvers, as they are. */
        char *data = NULL;
        size_t len;
        if (fs_read_file("/etc/resolv.conf", 1 << 16, &data, &len, NULL) == 0) {
            *ret = data;
            return 0;
        }
        *ret = strdup("");
        return *ret ? 0 : -ENOMEM;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -ENOMEM;
    fprintf(f, "# written by berth: the resolver of network %s\n", a[0].network);
    for (size_t i = 0; i < n && i < 3; i++)
        fprintf(f, "nameserver %s\n", a[i].dns);
    fprintf(f, "search %s\noptions ndots:0\n", NET_DNS_DOMAIN);
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *ret = buf;
    return 0;
}

/* Replaces dirfd/name atomically: a temp file in the same directory, then rename over it. A
 * symlink at name is replaced, never followed. */
static int write_in_dir(int dirfd, const char *name, const char *data, struct berth_error *err)
{
    char tmp[64];
    snprintf(tmp, sizeof(tmp), ".%s.berth-%d", name, (int) getpid());
    _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return berth_error_errno(err, -errno, "etc/%s", tmp);
    size_t len = strlen(data), off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int r = -errno;
            unlinkat(dirfd, tmp, 0);
            return berth_error_errno(err, r, "etc/%s", name);
        }
        off += (size_t) w;
    }
    if (fchmod(fd, 0644) < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
        int r = -errno;
        unlinkat(dirfd, tmp, 0);
        return berth_error_errno(err, r, "etc/%s", name);
    }
    return 0;
}

int net_write_etc_files(const char *rootfs_dir, const struct net_attachment *a, size_t n, const char *hostname,
                        struct berth_error *err)
{
    _cleanup_close_ int root = open(rootfs_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return berth_error_errno(err, -errno, "%s", rootfs_dir);
    int etc_path = fs_mkdir_p_in_root(root, "etc", 0755);
    if (etc_path < 0)
        return berth_error_errno(err, etc_path, "%s/etc", rootfs_dir);
    _cleanup_close_ int etc_o = etc_path;
    /* openat/renameat need a real directory fd, not an O_PATH one, for creating files. */
    _cleanup_close_ int etc = openat(etc_o, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (etc < 0)
        return berth_error_errno(err, -errno, "%s/etc", rootfs_dir);
    _cleanup_free_ char *hosts = NULL, *resolv = NULL;
    if (net_format_hosts(a, n, hostname, &hosts) < 0 || net_format_resolv_conf(a, n, &resolv) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int r = write_in_dir(etc, "hosts", hosts, err);
    if (r < 0)
        return berth_error_prefix(err, r, "%s: ", rootfs_dir);
    r = write_in_dir(etc, "resolv.conf", resolv, err);
    if (r < 0)
        return berth_error_prefix(err, r, "%s: ", rootfs_dir);
    return 0;
}
