#include "net/dns-server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "net/cidr.h"
#include "net/dhcp-packet.h"
#include "net/dns-packet.h"
#include "net/ipam.h"
#include "net/network.h"

#define MAX_UPSTREAMS 3
#define MAX_PENDING 256
#define FORWARD_TIMEOUT_MS 3000
#define TTL 5

struct pending {
    bool used;
    uint16_t client_id, our_id;
    struct sockaddr_in client;
    int64_t deadline_ms;
};

struct server {
    struct store *store;
    struct net_network nw;
    int udp, tcp, up, dhcp;
    struct sockaddr_in upstreams[MAX_UPSTREAMS];
    size_t n_upstreams;
    struct pending pending[MAX_PENDING];
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    stop = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void load_upstreams(struct server *sv)
{
    _cleanup_free_ char *data = NULL;
    size_t len;
    if (fs_read_file("/etc/resolv.conf", 1 << 16, &data, &len, NULL) < 0)
        return;
    for (char *save = NULL, *line = strtok_r(data, "\n", &save); line && sv->n_upstreams < MAX_UPSTREAMS;
         line = strtok_r(NULL, "\n", &save)) {
        char ip[64];
        if (sscanf(line, " nameserver %63s", ip) != 1)
            continue;
        uint32_t a;
        if (cidr_parse_ip(ip, &a, NULL) < 0)
            continue;
        /* Never forward to ourselves (a host whose resolv.conf points into a berth network). */
        if (cidr_contains(&sv->nw.subnet, a))
            continue;
        struct sockaddr_in *sa = &sv->upstreams[sv->n_upstreams++];
        memset(sa, 0, sizeof(*sa));
        sa->sin_family = AF_INET;
        sa->sin_port = htons(53);
        sa->sin_addr.s_addr = htonl(a);
    }
}

/* Answers locally when the name is one of ours; returns 1 when answered, 0 to forward. */
static int answer_local(struct server *sv, const struct dns_question *q, const struct sockaddr_in *client, uint8_t *out,
                        size_t cap, size_t *ret_len)
{
    char name[DNS_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", q->name);
    size_t n = strlen(name);
    const size_t dl = strlen(NET_DNS_DOMAIN);
    bool ours = false;
    if (n > dl + 1 && name[n - dl - 1] == '.' && !strcmp(name + n - dl, NET_DNS_DOMAIN)) {
        name[n - dl - 1] = 0;
        ours = true;
    } else if (!strcmp(name, NET_DNS_DOMAIN)) {
        return dns_build_reply(q, DNS_RCODE_NOERROR, NULL, 0, TTL, out, cap, ret_len) == 0;
    }
    if (!strchr(name, '.'))
        ours = true; /* single labels are never forwarded (they would leak to the host's search list) */
    uint32_t ip;
    int r = ipam_lookup_name(sv->store, sv->nw.name, name, &ip);
    /* A workload on several networks has every network's resolver in resolv.conf, but an
     * NXDOMAIN from the first ends the lookup: answer for its other networks' members here too.
     * Only for names the client's own workload shares a network with, so isolation holds. */
    if (r == -ENOENT && client)
        r = ipam_lookup_name_via(sv->store, sv->nw.name, ntohl(client->sin_addr.s_addr), name, &ip);
    if (r == 0) {
        bool is_a = q->qtype == DNS_TYPE_A || q->qtype == 255;
        return dns_build_reply(q, DNS_RCODE_NOERROR, &ip, is_a ? 1 : 0, TTL, out, cap, ret_len) == 0;
    }
    if (ours)
        return dns_build_reply(q, DNS_RCODE_NXDOMAIN, NULL, 0, TTL, out, cap, ret_len) == 0;
    return 0;
}

/* Handles one query; returns 1 with a reply in out, 0 when it was forwarded (UDP only). */
static int handle_query(struct server *sv, const uint8_t *msg, size_t len, const struct sockaddr_in *client,
                        bool can_forward_async, uint8_t *out, size_t cap, size_t *ret_len)
{
    struct dns_question q;
    int r = dns_parse_query(msg, len, &q);
    if (r == -ENOTSUP)
        return dns_build_error(msg, len, DNS_RCODE_NOTIMP, out, cap, ret_len) == 0;
    if (r < 0)
        return dns_build_error(msg, len, DNS_RCODE_FORMERR, out, cap, ret_len) == 0;
    if (q.qclass != DNS_CLASS_IN)
        return dns_build_reply(&q, DNS_RCODE_NOTIMP, NULL, 0, 0, out, cap, ret_len) == 0;
    if (answer_local(sv, &q, client, out, cap, ret_len))
        return 1;
    if (sv->nw.internal || sv->n_upstreams == 0)
        return dns_build_reply(&q, sv->nw.internal ? DNS_RCODE_REFUSED : DNS_RCODE_SERVFAIL, NULL, 0, 0, out, cap,
                               ret_len) == 0;
    if (can_forward_async) {
        struct pending *slot = NULL;
        int64_t now = now_ms();
        for (size_t i = 0; i < MAX_PENDING && !slot; i++)
            if (!sv->pending[i].used || sv->pending[i].deadline_ms < now)
                slot = &sv->pending[i];
        if (!slot)
            return dns_build_reply(&q, DNS_RCODE_SERVFAIL, NULL, 0, 0, out, cap, ret_len) == 0;
        uint16_t id;
        if (getrandom(&id, sizeof(id), 0) != sizeof(id))
            id = (uint16_t) now;
        slot->used = true;
        slot->client_id = q.id;
        slot->our_id = id;
        slot->client = *client;
        slot->deadline_ms = now + FORWARD_TIMEOUT_MS;
        _cleanup_free_ uint8_t *copy = malloc(len);
        if (!copy)
            return 0;
        memcpy(copy, msg, len);
        copy[0] = (uint8_t) (id >> 8);
        copy[1] = (uint8_t) id;
        for (size_t i = 0; i < sv->n_upstreams; i++)
            sendto(sv->up, copy, len, 0, (const struct sockaddr *) &sv->upstreams[i], sizeof(sv->upstreams[i]));
        return 0;
    }
    /* TCP: forward synchronously over UDP to the first upstream that answers in time. */
    _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return dns_build_reply(&q, DNS_RCODE_SERVFAIL, NULL, 0, 0, out, cap, ret_len) == 0;
    for (size_t i = 0; i < sv->n_upstreams; i++) {
        if (sendto(s, msg, len, 0, (const struct sockaddr *) &sv->upstreams[i], sizeof(sv->upstreams[i])) < 0)
            continue;
        struct pollfd p = { s, POLLIN, 0 };
        if (poll(&p, 1, FORWARD_TIMEOUT_MS / 2) == 1) {
            ssize_t n = recv(s, out, cap, 0);
            if (n >= DNS_HEADER_LEN && out[0] == msg[0] && out[1] == msg[1]) {
                *ret_len = (size_t) n;
                return 1;
            }
        }
    }
    return dns_build_reply(&q, DNS_RCODE_SERVFAIL, NULL, 0, 0, out, cap, ret_len) == 0;
}

static void on_upstream(struct server *sv)
{
    uint8_t buf[65536];
    ssize_t n = recv(sv->up, buf, sizeof(buf), 0);
    if (n < DNS_HEADER_LEN)
        return;
    uint16_t id = (uint16_t) (buf[0] << 8 | buf[1]);
    for (size_t i = 0; i < MAX_PENDING; i++) {
        struct pending *p = &sv->pending[i];
        if (!p->used || p->our_id != id)
            continue;
        buf[0] = (uint8_t) (p->client_id >> 8);
        buf[1] = (uint8_t) p->client_id;
        sendto(sv->udp, buf, (size_t) n, 0, (const struct sockaddr *) &p->client, sizeof(p->client));
        p->used = false;
        return;
    }
}

static void on_udp(struct server *sv)
{
    uint8_t buf[4096], out[4096];
    struct sockaddr_in client;
    socklen_t cl = sizeof(client);
    ssize_t n = recvfrom(sv->udp, buf, sizeof(buf), 0, (struct sockaddr *) &client, &cl);
    if (n <= 0)
        return;
    size_t olen = 0;
    if (handle_query(sv, buf, (size_t) n, &client, true, out, sizeof(out), &olen) == 1)
        sendto(sv->udp, out, olen, 0, (const struct sockaddr *) &client, cl);
}

/* DHCP for workloads that ask (VMs with other guests than ours): only MACs holding a lease on
 * this network get an answer, always the leased address. */
static void on_dhcp(struct server *sv)
{
    uint8_t buf[1500], out[1024];
    ssize_t n = recv(sv->dhcp, buf, sizeof(buf), 0);
    struct dhcp_request req;
    if (n <= 0 || dhcp_parse_request(buf, (size_t) n, &req) < 0)
        return;
    if (req.type != DHCP_DISCOVER && req.type != DHCP_REQUEST)
        return; /* RELEASE/DECLINE/INFORM: the lease lives as long as the workload */
    if (req.type == DHCP_REQUEST && req.server_id && req.server_id != sv->nw.gateway)
        return; /* the client chose another server */
    char mac[NET_MAC_STRLEN], name[NET_NAME_MAX];
    snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", req.mac[0], req.mac[1], req.mac[2], req.mac[3],
             req.mac[4], req.mac[5]);
    uint32_t ip;
    if (ipam_lookup_mac(sv->store, sv->nw.name, mac, &ip, name) < 0)
        return;
    struct dhcp_reply_params p = {
        .type = req.type == DHCP_DISCOVER ? DHCP_OFFER : DHCP_ACK,
        .yiaddr = ip,
        .server = sv->nw.gateway,
        .netmask = cidr_mask(sv->nw.subnet.prefix),
        .router = sv->nw.gateway,
        .dns = sv->nw.gateway,
        .lease_seconds = 86400,
        .domain = NET_DNS_DOMAIN,
        .hostname = name,
        .mtu = sv->nw.mtu,
    };
    if (req.type == DHCP_REQUEST) {
        uint32_t asked = req.requested_ip ? req.requested_ip : req.ciaddr;
        if (asked && asked != ip)
            p.type = DHCP_NAK;
    }
    int len = dhcp_build_reply(&req, &p, out, sizeof(out));
    if (len < 0)
        return;
    /* Broadcast: the client has no address yet (and the socket is bound to the bridge). */
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(DHCP_CLIENT_PORT),
                              .sin_addr.s_addr = htonl(INADDR_BROADCAST) };
    sendto(sv->dhcp, out, (size_t) len, 0, (const struct sockaddr *) &to, sizeof(to));
}

static int dhcp_socket(const char *bridge)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return -errno;
    int one = 1;
    /* One server per bridge on the same port: each bound to its own device. */
    if (setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, bridge, (socklen_t) strlen(bridge) + 1) < 0 ||
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(s, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0) {
        int r = -errno;
        close(s);
        return r;
    }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(DHCP_SERVER_PORT) };
    if (bind(s, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
        int r = -errno;
        close(s);
        return r;
    }
    return s;
}

static bool read_full(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return false;
        }
        got += (size_t) n;
    }
    return true;
}

static void on_tcp(struct server *sv)
{
    struct sockaddr_in peer = { 0 };
    socklen_t pl = sizeof(peer);
    _cleanup_close_ int c = accept4(sv->tcp, (struct sockaddr *) &peer, &pl, SOCK_CLOEXEC);
    if (c < 0)
        return;
    /* A slow or silent client must not stall the resolver for long. */
    struct timeval tv = { 2, 0 };
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    for (int k = 0; k < 8; k++) {
        uint8_t lenb[2];
        if (!read_full(c, lenb, 2))
            return;
        size_t len = (size_t) (lenb[0] << 8 | lenb[1]);
        _cleanup_free_ uint8_t *msg = malloc(len ? len : 1);
        _cleanup_free_ uint8_t *out = malloc(65536);
        if (!msg || !out || !read_full(c, msg, len))
            return;
        size_t olen = 0;
        if (handle_query(sv, msg, len, &peer, false, out + 2, 65534, &olen) != 1)
            return;
        out[0] = (uint8_t) (olen >> 8);
        out[1] = (uint8_t) olen;
        if (write(c, out, olen + 2) != (ssize_t) (olen + 2))
            return;
    }
}

static bool network_still_there(struct server *sv)
{
    struct net_network nw;
    struct berth_error ignore = { 0 };
    _cleanup_free_ char *db = fs_path_join(berth_root_dir(), "berth.db");
    if (!db || !fs_exists(db))
        return false;
    return ipam_network_get(sv->store, sv->nw.name, &nw, &ignore) != -ENOENT;
}

static int bind_socket(int type, uint32_t ip, struct berth_error *err)
{
    int s = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return berth_error_errno(err, -errno, "socket");
    if (type == SOCK_STREAM) {
        int one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53), .sin_addr.s_addr = htonl(ip) };
    if (bind(s, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
        int r = -errno;
        close(s);
        char b[INET_ADDRSTRLEN];
        return berth_error_errno(err, r, "cannot listen on %s:53/%s", cidr_format_ip(ip, b),
                                 type == SOCK_STREAM ? "tcp" : "udp");
    }
    if (type == SOCK_STREAM && listen(s, 64) < 0) {
        int r = -errno;
        close(s);
        return berth_error_errno(err, r, "listen");
    }
    return s;
}

int dns_serve(const char *network, struct berth_error *err)
{
    struct server sv;
    memset(&sv, 0, sizeof(sv));
    sv.udp = sv.tcp = sv.up = -1;
    int r = ipam_open(NULL, &sv.store, err);
    if (r < 0)
        return r;
    _cleanup_store_ _owner_ struct store *store = sv.store;
    r = ipam_network_get(sv.store, network, &sv.nw, err);
    if (r < 0)
        return r;
    load_upstreams(&sv);
    _cleanup_close_ int udp = bind_socket(SOCK_DGRAM, sv.nw.gateway, err);
    if (udp == -EADDRINUSE)
        return 0; /* another resolver serves this network */
    if (udp < 0)
        return udp;
    _cleanup_close_ int tcp = bind_socket(SOCK_STREAM, sv.nw.gateway, err);
    if (tcp == -EADDRINUSE)
        return 0;
    if (tcp < 0)
        return tcp;
    _cleanup_close_ int up = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (up < 0)
        return berth_error_errno(err, -errno, "socket");
    _cleanup_close_ int dhcp = dhcp_socket(sv.nw.bridge);
    if (dhcp < 0)
        fprintf(stderr, "berth network dns %s: no DHCP on %s: %s\n", network, sv.nw.bridge, strerror(-dhcp));
    sv.udp = udp;
    sv.tcp = tcp;
    sv.up = up;
    sv.dhcp = dhcp;

    /* The pid file's lock says "running" to dns_ensure_running for as long as we live. */
    _cleanup_free_ char *pidpath = dns_pid_path(network);
    if (!pidpath)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_close_ int pidfd = open(pidpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (pidfd < 0)
        return berth_error_errno(err, -errno, "%s", pidpath);
    if (flock(pidfd, LOCK_EX | LOCK_NB) < 0)
        return 0;
    char pidtext[32];
    int pl = snprintf(pidtext, sizeof(pidtext), "%d\n", (int) getpid());
    if (ftruncate(pidfd, 0) < 0 || pwrite(pidfd, pidtext, (size_t) pl, 0) != pl)
        return berth_error_errno(err, -errno, "%s", pidpath);

    struct sigaction sa = { .sa_handler = on_term };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int64_t next_check = now_ms() + 2000;
    while (!stop) {
        struct pollfd p[4] = { { udp, POLLIN, 0 }, { tcp, POLLIN, 0 }, { up, POLLIN, 0 }, { dhcp, POLLIN, 0 } };
        int n = poll(p, dhcp >= 0 ? 4 : 3, 1000);
        if (n < 0 && errno != EINTR)
            return berth_error_errno(err, -errno, "poll");
        if (n > 0) {
            if (p[0].revents & POLLIN)
                on_udp(&sv);
            if (p[2].revents & POLLIN)
                on_upstream(&sv);
            if (dhcp >= 0 && (p[3].revents & POLLIN))
                on_dhcp(&sv);
            if (p[1].revents & POLLIN)
                on_tcp(&sv);
        }
        if (now_ms() >= next_check) {
            next_check = now_ms() + 2000;
            if (!network_still_there(&sv))
                break;
        }
    }
    unlink(pidpath);
    return 0;
}
