#include "net/netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"

struct nl {
    struct mnl_socket *sock;
    unsigned portid;
    unsigned seq;
};

static int nl_wrap(struct mnl_socket *sock, struct nl **ret, struct berth_error *err)
{
    if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0) {
        int r = -errno;
        mnl_socket_close(sock);
        return berth_error_errno(err, r, "netlink: bind");
    }
    struct nl *nl = calloc(1, sizeof(*nl));
    if (!nl) {
        mnl_socket_close(sock);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    nl->sock = sock;
    nl->portid = mnl_socket_get_portid(sock);
    nl->seq = (unsigned) time(NULL);
    *ret = nl;
    return 0;
}

int nl_open(struct nl **ret, struct berth_error *err)
{
    struct mnl_socket *sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!sock)
        return berth_error_errno(err, -errno, "netlink: cannot open a route socket");
    return nl_wrap(sock, ret, err);
}

int nl_open_in_netns(int netns_fd, struct nl **ret, struct berth_error *err)
{
    _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0)
        return berth_error_errno(err, -errno, "/proc/thread-self/ns/net");
    if (setns(netns_fd, CLONE_NEWNET) < 0)
        return berth_error_errno(err, -errno, "cannot enter the workload's network namespace");
    struct mnl_socket *sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    int saved = errno;
    if (setns(self, CLONE_NEWNET) < 0) {
        /* Staying in the workload's namespace would misconfigure everything after: refuse loudly. */
        if (sock)
            mnl_socket_close(sock);
        return berth_error_errno(err, -errno, "cannot return to berth's own network namespace");
    }
    if (!sock)
        return berth_error_errno(err, -saved, "netlink: cannot open a route socket in the workload's namespace");
    return nl_wrap(sock, ret, err);
}

void nl_close(struct nl *nl)
{
    if (!nl)
        return;
    mnl_socket_close(nl->sock);
    free(nl);
}

/* Sends nlh and waits for its ACK (or error). */
static int nl_talk(struct nl *nl, struct nlmsghdr *nlh)
{
    nlh->nlmsg_seq = ++nl->seq;
    nlh->nlmsg_flags |= NLM_F_ACK;
    if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
        if (n < 0)
            return errno == EINTR ? -EINTR : -errno;
        int r = mnl_cb_run(buf, (size_t) n, nlh->nlmsg_seq, nl->portid, NULL, NULL);
        if (r < 0)
            return -errno;
        if (r == MNL_CB_STOP)
            return 0;
    }
}

int nl_link_index(struct nl *nl, const char *name)
{
    /* if_nametoindex works on the calling thread's namespace, so ask through the socket. */
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    nlh->nlmsg_seq = ++nl->seq;
    struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
    ifm->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    ssize_t n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
    if (n < 0)
        return -errno;
    struct nlmsghdr *rep = (struct nlmsghdr *) buf;
    if (!mnl_nlmsg_ok(rep, (int) n))
        return -EBADMSG;
    if (rep->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = mnl_nlmsg_get_payload(rep);
        return e->error ? e->error : -ENODEV;
    }
    if (rep->nlmsg_type != RTM_NEWLINK)
        return -EBADMSG;
    struct ifinfomsg *got = mnl_nlmsg_get_payload(rep);
    return got->ifi_index;
}

static struct nlmsghdr *link_msg(char *buf, int type, unsigned flags, int index)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (uint16_t) type;
    nlh->nlmsg_flags = (uint16_t) (NLM_F_REQUEST | flags);
    struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
    ifm->ifi_family = AF_UNSPEC;
    ifm->ifi_index = index;
    return nlh;
}

int nl_bridge_add(struct nl *nl, const char *name, const uint8_t *mac, unsigned mtu, struct berth_error *err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    if (mac)
        mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
    if (mtu)
        mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
    struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(nlh, info);
    int r = nl_talk(nl, nlh);
    if (r < 0)
        return berth_error_errno(err, r, "cannot create bridge %s", name);
    return 0;
}

int nl_veth_add(struct nl *nl, const char *host_name, const char *peer_name, int peer_netns_fd,
                const uint8_t *peer_mac, unsigned mtu, struct berth_error *err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, host_name);
    if (mtu)
        mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
    struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
    struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    struct nlattr *peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    /* The peer is described by a struct ifinfomsg followed by its own attributes. */
    struct ifinfomsg *pifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifm));
    memset(pifm, 0, sizeof(*pifm));
    pifm->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name);
    if (mtu)
        mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
    if (peer_mac)
        mnl_attr_put(nlh, IFLA_ADDRESS, 6, peer_mac);
    if (peer_netns_fd >= 0)
        mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t) peer_netns_fd);
    mnl_attr_nest_end(nlh, peer);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, info);
    int r = nl_talk(nl, nlh);
    if (r < 0)
        return berth_error_errno(err, r, "cannot create veth pair %s/%s", host_name, peer_name);
    return 0;
}

int nl_link_del(struct nl *nl, const char *name, struct berth_error *err)
{
    int idx = nl_link_index(nl, name);
    if (idx < 0)
        return idx == -ENODEV ? -ENODEV : berth_error_errno(err, idx, "link %s", name);
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = link_msg(buf, RTM_DELLINK, 0, idx);
    int r = nl_talk(nl, nlh);
    if (r == -ENODEV)
        return r;
    if (r < 0)
        return berth_error_errno(err, r, "cannot delete link %s", name);
    return 0;
}

int nl_link_set(struct nl *nl, const char *name, const char *master, bool up, struct berth_error *err)
{
    int idx = nl_link_index(nl, name);
    if (idx < 0)
        return berth_error_errno(err, idx, "link %s", name);
    int midx = 0;
    if (master) {
        midx = nl_link_index(nl, master);
        if (midx < 0)
            return berth_error_errno(err, midx, "bridge %s", master);
    }
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, idx);
    struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
    if (up) {
        ifm->ifi_change = IFF_UP;
        ifm->ifi_flags = IFF_UP;
    }
    if (master)
        mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t) midx);
    int r = nl_talk(nl, nlh);
    if (r < 0)
        return berth_error_errno(err, r, "cannot configure link %s%s%s", name, master ? " on bridge " : "",
                                 master ? master : "");
    return 0;
}

int nl_addr_add(struct nl *nl, const char *ifname, uint32_t ip, unsigned prefix, struct berth_error *err)
{
    int idx = nl_link_index(nl, ifname);
    if (idx < 0)
        return berth_error_errno(err, idx, "link %s", ifname);
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (uint8_t) prefix;
    ifa->ifa_index = (unsigned) idx;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    uint32_t be = htonl(ip);
    mnl_attr_put_u32(nlh, IFA_LOCAL, be);
    mnl_attr_put_u32(nlh, IFA_ADDRESS, be);
    if (prefix < 31) {
        uint32_t bcast = htonl(ip | ~(prefix ? ~((1u << (32 - prefix)) - 1) : 0u));
        mnl_attr_put_u32(nlh, IFA_BROADCAST, bcast);
    }
    int r = nl_talk(nl, nlh);
    if (r < 0) {
        char s[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &be, s, sizeof(s));
        return berth_error_errno(err, r, "cannot add address %s/%u to %s", s, prefix, ifname);
    }
    return 0;
}

int nl_route_add_default(struct nl *nl, const char *ifname, uint32_t gateway, struct berth_error *err)
{
    int idx = nl_link_index(nl, ifname);
    if (idx < 0)
        return berth_error_errno(err, idx, "link %s", ifname);
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWROUTE;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
    rtm->rtm_family = AF_INET;
    rtm->rtm_dst_len = 0;
    rtm->rtm_table = RT_TABLE_MAIN;
    rtm->rtm_protocol = RTPROT_BOOT;
    rtm->rtm_scope = RT_SCOPE_UNIVERSE;
    rtm->rtm_type = RTN_UNICAST;
    mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gateway));
    mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t) idx);
    int r = nl_talk(nl, nlh);
    if (r < 0)
        return berth_error_errno(err, r, "cannot add the default route via %s", ifname);
    return 0;
}

struct foreach_ctx {
    nl_link_fn fn;
    void *userdata;
    int result;
};

static int link_attr_cb(const struct nlattr *attr, void *data)
{
    const struct nlattr **tb = data;
    int type = mnl_attr_get_type(attr);
    if (mnl_attr_type_valid(attr, IFLA_MAX) < 0)
        return MNL_CB_OK;
    tb[type] = attr;
    return MNL_CB_OK;
}

static int info_attr_cb(const struct nlattr *attr, void *data)
{
    const struct nlattr **tb = data;
    int type = mnl_attr_get_type(attr);
    if (mnl_attr_type_valid(attr, IFLA_INFO_MAX) < 0)
        return MNL_CB_OK;
    tb[type] = attr;
    return MNL_CB_OK;
}

static int link_dump_cb(const struct nlmsghdr *nlh, void *data)
{
    struct foreach_ctx *ctx = data;
    const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
    mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_attr_cb, tb);
    if (!tb[IFLA_IFNAME] || mnl_attr_validate(tb[IFLA_IFNAME], MNL_TYPE_STRING) < 0)
        return MNL_CB_OK;
    const char *kind = "";
    if (tb[IFLA_LINKINFO]) {
        const struct nlattr *info[IFLA_INFO_MAX + 1] = { 0 };
        mnl_attr_parse_nested(tb[IFLA_LINKINFO], info_attr_cb, info);
        if (info[IFLA_INFO_KIND] && mnl_attr_validate(info[IFLA_INFO_KIND], MNL_TYPE_STRING) == 0)
            kind = mnl_attr_get_str(info[IFLA_INFO_KIND]);
    }
    if (ctx->result >= 0) {
        int r = ctx->fn(mnl_attr_get_str(tb[IFLA_IFNAME]), kind, ctx->userdata);
        if (r < 0)
            ctx->result = r;
    }
    return MNL_CB_OK;
}

int nl_link_foreach(struct nl *nl, nl_link_fn fn, void *userdata, struct berth_error *err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, NLM_F_DUMP, 0);
    nlh->nlmsg_seq = ++nl->seq;
    if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
        return berth_error_errno(err, -errno, "netlink: link dump");
    struct foreach_ctx ctx = { fn, userdata, 0 };
    unsigned seq = nlh->nlmsg_seq;
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
        if (n < 0)
            return berth_error_errno(err, -errno, "netlink: link dump");
        int r = mnl_cb_run(buf, (size_t) n, seq, nl->portid, link_dump_cb, &ctx);
        if (r < 0)
            return berth_error_errno(err, -errno, "netlink: link dump");
        if (r == MNL_CB_STOP)
            break;
    }
    return ctx.result;
}
