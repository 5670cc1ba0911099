/* The per-VM identity a clone must not share with its template: hostname, machine-id, random
 * seed, and the network address it was leased. */
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define CONFIG_MAX (64 * 1024)

int agent_read_config(const char *device, json_t **ret)
{
    int fd = open(device, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    static char buf[CONFIG_MAX + 1];
    ssize_t n = read(fd, buf, CONFIG_MAX);
    close(fd);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    json_error_t jerr;
    json_t *v = json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr);
    if (!json_is_object(v)) {
        agent_log("config %s: %s (line %d)", device, v ? "not a JSON object" : jerr.text, jerr.line);
        json_decref(v);
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

static int write_file_in(const char *root, const char *rel, const char *content)
{
    char path[512], tmp[520];
    snprintf(path, sizeof(path), "%s%s", root, rel);
    snprintf(tmp, sizeof(tmp), "%s.berth", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -errno;
    size_t len = strlen(content);
    int r = write(fd, content, len) == (ssize_t) len ? 0 : -EIO;
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    close(fd);
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
    return r;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static void seed_random(const char *hex)
{
    struct {
        struct rand_pool_info info;
        unsigned char bytes[64];
    } seed;
    size_t n = 0;
    for (; n < sizeof(seed.bytes) && hexval(hex[2 * n]) >= 0 && hexval(hex[2 * n + 1]) >= 0; n++)
        seed.bytes[n] = (unsigned char) (hexval(hex[2 * n]) << 4 | hexval(hex[2 * n + 1]));
    if (n == 0)
        return;
    seed.info.entropy_count = (int) n * 8;
    seed.info.buf_size = (int) n;
    int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (ioctl(fd, RNDADDENTROPY, &seed) < 0)
        agent_log("random seed: %s", strerror(errno));
    close(fd);
}

int agent_apply_identity(json_t *config, const char *root)
{
    const char *hostname = json_string_value(json_object_get(config, "hostname"));
    if (hostname) {
        if (sethostname(hostname, strlen(hostname)) < 0)
            agent_log("hostname %s: %s", hostname, strerror(errno));
        char line[300];
        snprintf(line, sizeof(line), "%s\n", hostname);
        struct stat st;
        char etc[512];
        snprintf(etc, sizeof(etc), "%s/etc", root);
        if (stat(etc, &st) == 0 && S_ISDIR(st.st_mode))
            write_file_in(root, "/etc/hostname", line);
    }
    const char *machine_id = json_string_value(json_object_get(config, "machine_id"));
    if (machine_id && strlen(machine_id) == 32) {
        char line[40];
        snprintf(line, sizeof(line), "%s\n", machine_id);
        char etc[512];
        snprintf(etc, sizeof(etc), "%s/etc", root);
        if (access(etc, F_OK) == 0 && write_file_in(root, "/etc/machine-id", line) < 0)
            agent_log("machine-id: %s", strerror(errno));
    }
    const char *seed = json_string_value(json_object_get(config, "random_seed"));
    if (seed)
        seed_random(seed);
    return 0;
}
