/* The per-VM identity a clone must not share with its template: hostname, machine-id, random
 * seed, and the network address it was leased. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
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

static int set_addr(int fd, const char *ifname, unsigned long req, in_addr_t addr)
{
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    struct sockaddr_in *sin = (struct sockaddr_in *) &ifr.ifr_addr;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = addr;
    return ioctl(fd, req, &ifr) < 0 ? -errno : 0;
}

static int link_up(int fd, const char *ifname)
{
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        return -errno;
    ifr.ifr_flags |= IFF_UP;
    return ioctl(fd, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

/* The interface whose MAC the host leased the address to (eth0 when the MAC is not found). */
static void find_ifname(const char *mac, char *out, size_t cap)
{
    snprintf(out, cap, "eth0");
    DIR *d = opendir("/sys/class/net");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char path[300], addr[32] = "";
        snprintf(path, sizeof(path), "/sys/class/net/%s/address", de->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        if (fgets(addr, sizeof(addr), f) && !strncasecmp(addr, mac, 17) && strlen(de->d_name) < cap)
            memcpy(out, de->d_name, strlen(de->d_name) + 1);
        fclose(f);
    }
    if (d)
        closedir(d);
}

int agent_apply_network(json_t *config, const char *root)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    link_up(fd, "lo");
    json_t *net = json_object_get(config, "network");
    const char *ip = json_string_value(json_object_get(net, "ip"));
    const char *gw = json_string_value(json_object_get(net, "gateway"));
    const char *dns = json_string_value(json_object_get(net, "dns"));
    const char *search = json_string_value(json_object_get(net, "search"));
    const char *mac = json_string_value(json_object_get(net, "mac"));
    int prefix = (int) json_integer_value(json_object_get(net, "prefix"));
    int r = 0;
    if (ip && prefix > 0 && prefix <= 32) {
        char ifname[IFNAMSIZ];
        find_ifname(mac ? mac : "", ifname, sizeof(ifname));
        in_addr_t mask = htonl(prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix));
        if ((r = set_addr(fd, ifname, SIOCSIFADDR, inet_addr(ip))) < 0 ||
            (r = set_addr(fd, ifname, SIOCSIFNETMASK, mask)) < 0 || (r = link_up(fd, ifname)) < 0)
            agent_log("network %s on %s: %s", ip, ifname, strerror(-r));
        if (r == 0 && gw) {
            struct rtentry rt = { 0 };
            struct sockaddr_in *dst = (struct sockaddr_in *) &rt.rt_dst, *g = (struct sockaddr_in *) &rt.rt_gateway,
                               *m = (struct sockaddr_in *) &rt.rt_genmask;
            dst->sin_family = g->sin_family = m->sin_family = AF_INET;
            g->sin_addr.s_addr = inet_addr(gw);
            rt.rt_flags = RTF_UP | RTF_GATEWAY;
            if (ioctl(fd, SIOCADDRT, &rt) < 0)
                agent_log("default route via %s: %s", gw, strerror(errno));
        }
        if (r == 0)
            agent_log("network: %s/%d on %s, gateway %s", ip, prefix, ifname, gw ? gw : "none");
        char etc[512];
        snprintf(etc, sizeof(etc), "%s/etc", root);
        if (dns && access(etc, F_OK) == 0) {
            char resolv[512];
            snprintf(resolv, sizeof(resolv), "nameserver %s\nsearch %s\noptions ndots:0\n", dns, search ? search : "berth");
            write_file_in(root, "/etc/resolv.conf", resolv);
        }
    }
    close(fd);
    return r;
}
