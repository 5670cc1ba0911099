/* IPAM in the state database: uniqueness under concurrent processes, exhaustion, release and
 * round-robin reuse, static addresses and MACs, port claims, network validation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "net/ipam.h"
#include "net/network.h"

struct fixture {
    char dir[64];
    struct store *s;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-ipam-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct berth_error err = { 0 };
    assert_int_equal(ipam_open(f->dir, &f->s, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->s);
    fs_rm_rf(f->dir);
    free(f);
    return 0;
}

static void make_network(struct store *s, const char *name, const char *subnet, struct net_network *nw)
{
    struct berth_error err = { 0 };
    memset(nw, 0, sizeof(*nw));
    snprintf(nw->name, sizeof(nw->name), "%s", name);
    assert_int_equal(cidr_parse(subnet, &nw->subnet, &err), 0);
    assert_int_equal(ipam_network_insert(s, nw, &err), 0);
}

static void test_networks_validated(void **state)
{
    struct fixture *f = *state;
    struct net_network a, b;
    make_network(f->s, "a", "10.200.0.0/24", &a);
    assert_string_equal(a.bridge, "berth1");
    assert_int_equal(a.gateway, (10u << 24) | (200u << 16) | 1);
    struct berth_error err = { 0 };
    memset(&b, 0, sizeof(b));
    snprintf(b.name, sizeof(b.name), "b");
    cidr_parse("10.200.0.0/16", &b.subnet, &err);
    assert_int_equal(ipam_network_insert(f->s, &b, &err), -EADDRINUSE);
    assert_non_null(strstr(err.msg, "overlaps network 'a'"));
    berth_error_clear(&err);
    snprintf(b.name, sizeof(b.name), "a");
    cidr_parse("10.201.0.0/24", &b.subnet, &err);
    assert_int_equal(ipam_network_insert(f->s, &b, &err), -EEXIST);
    berth_error_clear(&err);
    snprintf(b.name, sizeof(b.name), "b");
    cidr_parse_ip("10.9.9.9", &b.gateway, &err);
    assert_int_equal(ipam_network_insert(f->s, &b, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "gateway 10.9.9.9"));
    berth_error_clear(&err);
    snprintf(b.name, sizeof(b.name), "bad name");
    assert_int_equal(ipam_network_insert(f->s, &b, &err), -EINVAL);
    berth_error_clear(&err);
    make_network(f->s, "c", "10.202.0.0/24", &b);
    assert_string_equal(b.bridge, "berth2");
    struct net_cidr picked;
    assert_int_equal(ipam_pick_subnet(f->s, &picked, &err), 0);
    assert_int_equal(picked.addr, (10u << 24) | (90u << 16));
    /* A network in use cannot be deleted; an empty one can. */
    struct net_lease l;
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w1", "one", "container", 0, NULL, NULL, &l, &err), 0);
    assert_int_equal(ipam_network_delete(f->s, "a", &err), -EBUSY);
    berth_error_clear(&err);
    assert_int_equal(ipam_lease_release(f->s, "a", "w1", &err), 0);
    assert_int_equal(ipam_network_delete(f->s, "a", &err), 0);
    assert_int_equal(ipam_network_get(f->s, "a", &a, &err), -ENOENT);
}

static void test_exhaustion_and_round_robin(void **state)
{
    struct fixture *f = *state;
    struct net_network nw;
    make_network(f->s, "small", "10.210.0.0/29", &nw); /* hosts .1-.6, .1 is the gateway */
    struct berth_error err = { 0 };
    struct net_lease l[5];
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "w%d", i);
        assert_int_equal(ipam_lease_alloc(f->s, &nw, id, NULL, "container", 0, NULL, NULL, &l[i], &err), 0);
        assert_int_equal(l[i].ip & 0xff, (unsigned) (2 + i));
        assert_string_equal(l[i].ifname, "eth0");
        assert_string_equal(l[i].name, id);
    }
    struct net_lease x;
    assert_int_equal(ipam_lease_alloc(f->s, &nw, "w5", NULL, "container", 0, NULL, NULL, &x, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "no free address"));
    berth_error_clear(&err);
    /* Same workload twice on one network: refused. */
    assert_int_equal(ipam_lease_alloc(f->s, &nw, "w0", NULL, "container", 0, NULL, NULL, &x, &err), -EEXIST);
    berth_error_clear(&err);
    /* Release .3 and .5: the next allocations take them in round-robin order (after .6: wrap). */
    assert_int_equal(ipam_lease_release(f->s, "small", "w1", &err), 0);
    assert_int_equal(ipam_lease_release(f->s, "small", "w3", &err), 0);
    assert_int_equal(ipam_lease_alloc(f->s, &nw, "w6", NULL, "container", 0, NULL, NULL, &x, &err), 0);
    assert_int_equal(x.ip & 0xff, 3);
    assert_int_equal(ipam_lease_alloc(f->s, &nw, "w7", NULL, "container", 0, NULL, NULL, &x, &err), 0);
    assert_int_equal(x.ip & 0xff, 5);
}

static void test_released_not_reused_immediately(void **state)
{
    struct fixture *f = *state;
    struct net_network nw;
    make_network(f->s, "rr", "10.211.0.0/24", &nw);
    struct berth_error err = { 0 };
    struct net_lease a, b, c;
    assert_int_equal(ipam_lease_alloc(f->s, &nw, "a", NULL, "container", 0, NULL, NULL, &a, &err), 0);
    assert_int_equal(ipam_lease_release(f->s, "rr", "a", &err), 0);
    assert_int_equal(ipam_lease_alloc(f->s, &nw, "b", NULL, "container", 0, NULL, NULL, &b, &err), 0);
    assert_int_not_equal(a.ip, b.ip);
    /* The same workload gets the same MAC again (stable per workload). */
    assert_int_equal(ipam_lease_alloc(f->s, &nw, "a", NULL, "vm", 0, NULL, NULL, &c, &err), 0);
    assert_string_equal(a.mac, c.mac);
    assert_true(!strncmp(c.host_ifname, "bt", 2));
    assert_true(!strncmp(a.host_ifname, "bv", 2));
}

static void test_static_ip_and_mac(void **state)
{
    struct fixture *f = *state;
    struct net_network nw;
    make_network(f->s, "st", "10.212.0.0/24", &nw);
    struct berth_error err = { 0 };
    struct net_lease a, b;
    uint32_t ip;
    cidr_parse_ip("10.212.0.50", &ip, &err);
    assert_int_equal(ipam_lease_alloc(f->s, &nw, "a", "A", "container", ip, "02:11:22:33:44:55", "net1", &a, &err), 0);
    assert_int_equal(a.ip, ip);
    assert_string_equal(a.mac, "02:11:22:33:44:55");
    assert_string_equal(a.ifname, "net1");
    assert_int_equal(ipam_lease_alloc(f->s, &nw, "b", NULL, "container", ip, NULL, NULL, &b, &err), -EADDRINUSE);
    assert_non_null(strstr(err.msg, "already in use"));
    berth_error_clear(&err);
    assert_int_equal(ipam_lease_alloc(f->s, &nw, "b", NULL, "container", 0, "02:11:22:33:44:55", NULL, &b, &err),
                     -EADDRINUSE);
    berth_error_clear(&err);
    assert_int_equal(ipam_lease_alloc(f->s, &nw, "b", NULL, "container", 0, "01:11:22:33:44:55", NULL, &b, &err),
                     -EINVAL);
    assert_non_null(strstr(err.msg, "multicast"));
    berth_error_clear(&err);
    assert_int_equal(ipam_lease_alloc(f->s, &nw, "b", NULL, "container", nw.gateway, NULL, NULL, &b, &err),
                     -EADDRINUSE);
    berth_error_clear(&err);
    cidr_parse_ip("10.213.0.5", &ip, &err);
    assert_int_equal(ipam_lease_alloc(f->s, &nw, "b", NULL, "container", ip, NULL, NULL, &b, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not a host address"));
    berth_error_clear(&err);
    /* Names are unique per network (case-insensitively, like DNS). */
    assert_int_equal(ipam_lease_alloc(f->s, &nw, "b", "a", "container", 0, NULL, NULL, &b, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "name 'a' is already used on network 'st' by A"));
    berth_error_clear(&err);
    /* Names resolve for the DNS. */
    uint32_t got;
    assert_int_equal(ipam_lookup_name(f->s, "st", "A", &got), 0);
    assert_int_equal(got, a.ip);
    assert_int_equal(ipam_lookup_name(f->s, "st", "nope", &got), -ENOENT);
}

static void test_concurrent_processes_get_distinct_addresses(void **state)
{
    struct fixture *f = *state;
    struct net_network nw;
    make_network(f->s, "conc", "10.220.0.0/24", &nw);
    enum { PROCS = 6, EACH = 20 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            struct store *s = NULL;
            struct berth_error err = { 0 };
            if (ipam_open(f->dir, &s, &err) < 0)
                _exit(2);
            for (int i = 0; i < EACH; i++) {
                char id[32];
                snprintf(id, sizeof(id), "p%d-%d", p, i);
                struct net_lease l;
                if (ipam_lease_alloc(s, &nw, id, NULL, "container", 0, NULL, NULL, &l, &err) < 0) {
                    fprintf(stderr, "%s\n", err.msg);
                    _exit(1);
                }
            }
            store_close(s);
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int st;
        assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    struct net_lease *v = NULL;
    size_t n = 0;
    struct berth_error err = { 0 };
    assert_int_equal(ipam_lease_list(f->s, "conc", NULL, &v, &n, &err), 0);
    assert_int_equal(n, PROCS * EACH);
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++) {
            assert_int_not_equal(v[i].ip, v[k].ip);
            assert_string_not_equal(v[i].mac, v[k].mac);
            assert_string_not_equal(v[i].host_ifname, v[k].host_ifname);
        }
    free(v);
}

static void test_port_claims(void **state)
{
    struct fixture *f = *state;
    struct berth_error err = { 0 };
    struct net_port p[2];
    assert_int_equal(net_port_parse("8080:80", &p[0], &err), 0);
    assert_int_equal(net_port_parse("127.0.0.1:5353:53/udp", &p[1], &err), 0);
    assert_int_equal(ipam_port_claim(f->s, "a", "n", 1, p, 2, &err), 0);
    struct net_port q;
    /* The same host port on one address while another claim covers every address: refused. */
    assert_int_equal(net_port_parse("10.0.0.1:8080:81", &q, &err), 0);
    assert_int_equal(ipam_port_claim(f->s, "b", "n", 2, &q, 1, &err), -EADDRINUSE);
    assert_non_null(strstr(err.msg, "already published by a"));
    berth_error_clear(&err);
    /* Other protocol, other address: fine. */
    assert_int_equal(net_port_parse("8080:80/udp", &q, &err), 0);
    assert_int_equal(ipam_port_claim(f->s, "b", "n", 2, &q, 1, &err), 0);
    assert_int_equal(net_port_parse("127.0.0.2:5353:53/udp", &q, &err), 0);
    assert_int_equal(ipam_port_claim(f->s, "c", "n", 3, &q, 1, &err), 0);
    /* All-or-nothing: a list with one taken port claims none. */
    struct net_port two[2];
    assert_int_equal(net_port_parse("9000:1", &two[0], &err), 0);
    assert_int_equal(net_port_parse("8080:2", &two[1], &err), 0);
    assert_int_equal(ipam_port_claim(f->s, "d", "n", 4, two, 2, &err), -EADDRINUSE);
    berth_error_clear(&err);
    struct net_port_claim *c = NULL;
    size_t n = 0;
    assert_int_equal(ipam_port_list(f->s, "d", &c, &n, &err), 0);
    assert_int_equal(n, 0);
    free(c);
    assert_int_equal(ipam_port_release(f->s, "a", &err), 0);
    assert_int_equal(ipam_port_claim(f->s, "d", "n", 4, two, 2, &err), 0);
}

static void test_port_parse(void **state)
{
    struct berth_error err = { 0 };
    struct net_port p;
    assert_int_equal(net_port_parse("80", &p, &err), 0);
    assert_int_equal(p.host_port, 80);
    assert_int_equal(p.port, 80);
    assert_int_equal(net_port_parse("0.0.0.0:1:2/tcp", &p, &err), 0);
    assert_string_equal(p.host_ip, "");
    static const char *const bad[] = { "", "0:80", "80:", "a:80", "65536:1", "1:2:3:4", "1.2.3:80:80",
                                       "80/sctp", "80:80/", "-1:80", "1.2.3.4:80" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        berth_error_clear(&err);
        assert_int_equal(net_port_parse(bad[i], &p, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "-p"));
    }
}

static void test_mac_helpers(void **state)
{
    char a[NET_MAC_STRLEN], b[NET_MAC_STRLEN];
    ipam_mac_for("x", 0, a);
    ipam_mac_for("x", 0, b);
    assert_string_equal(a, b);
    ipam_mac_for("x", 1, b);
    assert_string_not_equal(a, b);
    uint8_t m[6];
    struct berth_error err = { 0 };
    assert_int_equal(ipam_parse_mac(a, m, &err), 0);
    assert_int_equal(m[0], 0x02);
    assert_int_equal(ipam_parse_mac("00:00:00:00:00:00", m, &err), -EINVAL);
    berth_error_clear(&err);
    assert_int_equal(ipam_parse_mac("02:00:00:00:00:0g", m, &err), -EINVAL);
    berth_error_clear(&err);
    assert_int_equal(ipam_parse_mac("02-00-00-00-00-01", m, &err), -EINVAL);
}

/* A workload on networks A and B asks A's resolver for a member of B: answered (with the B
 * address); a workload only on A asking for the same name gets nothing. */
static void test_lookup_name_via_shared_network(void **state)
{
    struct fixture *f = *state;
    struct net_network a, b;
    make_network(f->s, "va", "10.220.0.0/24", &a);
    make_network(f->s, "vb", "10.221.0.0/24", &b);
    struct berth_error err = { 0 };
    struct net_lease app_a, app_b, svc_b, lone_a;
    assert_int_equal(ipam_lease_alloc(f->s, &a, "app", "app", "container", 0, NULL, NULL, &app_a, &err), 0);
    assert_int_equal(ipam_lease_alloc(f->s, &b, "app", "app", "container", 0, NULL, NULL, &app_b, &err), 0);
    assert_int_equal(ipam_lease_alloc(f->s, &b, "svc", "svc", "container", 0, NULL, NULL, &svc_b, &err), 0);
    assert_int_equal(ipam_lease_alloc(f->s, &a, "lone", "lone", "container", 0, NULL, NULL, &lone_a, &err), 0);
    uint32_t ip = 0;
    assert_int_equal(ipam_lookup_name(f->s, "va", "svc", &ip), -ENOENT);
    assert_int_equal(ipam_lookup_name_via(f->s, "va", app_a.ip, "SVC", &ip), 0);
    assert_int_equal(ip, svc_b.ip);
    assert_int_equal(ipam_lookup_name_via(f->s, "va", lone_a.ip, "svc", &ip), -ENOENT);
    assert_int_equal(ipam_lookup_name_via(f->s, "va", app_a.ip, "nobody", &ip), -ENOENT);
    /* An address from another network does not identify a client on this one. */
    assert_int_equal(ipam_lookup_name_via(f->s, "va", app_b.ip, "svc", &ip), -ENOENT);
}

/* Aliases: names checked like container names, unique per network against names and other
 * aliases (case-insensitively), answered by the lookups, gone with the lease. */
static void test_aliases(void **state)
{
    struct fixture *f = *state;
    struct net_network a, b;
    make_network(f->s, "aa", "10.230.0.0/24", &a);
    make_network(f->s, "ab", "10.231.0.0/24", &b);
    struct berth_error err = { 0 };
    struct net_lease web, db, other, web_b;
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-web", "web", "container", 0, NULL, NULL, &web, &err), 0);
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-db", "db", "container", 0, NULL, NULL, &db, &err), 0);
    assert_int_equal(ipam_lease_alloc(f->s, &b, "w-other", "other", "container", 0, NULL, NULL, &other, &err), 0);

    const char *bad[] = { "", "-x", "a b", "x/y", "é" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ipam_check_alias(bad[i], &err), -EINVAL);
        assert_non_null(strstr(err.msg, "alias"));
        berth_error_clear(&err);
    }
    char longname[80];
    memset(longname, 'a', 64);
    longname[64] = 0;
    assert_int_equal(ipam_check_alias(longname, &err), -EINVAL);
    berth_error_clear(&err);
    longname[63] = 0;
    assert_int_equal(ipam_check_alias(longname, &err), 0);
    assert_int_equal(ipam_check_alias("cache_1.v2-x", &err), 0);

    const char *mine[] = { "www", "Front", "www" };
    assert_int_equal(ipam_alias_set(f->s, "aa", "w-web", mine, 3, &err), 0);
    _cleanup_strv_ char **list = NULL;
    assert_int_equal(ipam_alias_list(f->s, "aa", "w-web", &list, &err), 0);
    assert_int_equal(strv_length(list), 2);
    assert_string_equal(list[0], "www");
    assert_string_equal(list[1], "Front");
    uint32_t ip = 0;
    assert_int_equal(ipam_lookup_name(f->s, "aa", "WWW", &ip), 0);
    assert_int_equal(ip, web.ip);
    assert_int_equal(ipam_lookup_name(f->s, "aa", "front", &ip), 0);
    assert_int_equal(ip, web.ip);
    /* Only on that network. */
    assert_int_equal(ipam_lookup_name(f->s, "ab", "www", &ip), -ENOENT);

    /* Clashes: another workload's name or alias; a bad name; nothing changes on failure. */
    const char *clash_name[] = { "cache", "DB" };
    assert_int_equal(ipam_alias_set(f->s, "aa", "w-web", clash_name, 2, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "alias 'DB' is already used on network 'aa' by db (its name)"));
    berth_error_clear(&err);
    const char *clash_alias[] = { "front" };
    assert_int_equal(ipam_alias_set(f->s, "aa", "w-db", clash_alias, 1, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "by web (an alias)"));
    berth_error_clear(&err);
    const char *bad_one[] = { "ok", "no way" };
    assert_int_equal(ipam_alias_set(f->s, "aa", "w-db", bad_one, 2, &err), -EINVAL);
    berth_error_clear(&err);
    strv_free(list);
    list = NULL;
    assert_int_equal(ipam_alias_list(f->s, "aa", "w-web", &list, &err), 0);
    assert_int_equal(strv_length(list), 2);
    assert_int_equal(ipam_lookup_name(f->s, "aa", "cache", &ip), -ENOENT);
    /* The same checks without allocating (a stopped container's connect). */
    assert_int_equal(ipam_request_check(f->s, &a, "w-new", web.ip, NULL, 0, &err), -EADDRINUSE);
    assert_non_null(strstr(err.msg, "already in use by web"));
    berth_error_clear(&err);
    assert_int_equal(ipam_request_check(f->s, &a, "w-web", web.ip, NULL, 0, &err), 0); /* its own */
    assert_int_equal(ipam_request_check(f->s, &a, "w-new", a.gateway, NULL, 0, &err), -EADDRINUSE);
    berth_error_clear(&err);
    assert_int_equal(ipam_request_check(f->s, &a, "w-new", other.ip, NULL, 0, &err), -EINVAL);
    berth_error_clear(&err);
    assert_int_equal(ipam_request_check(f->s, &a, "w-new", 0, clash_alias, 1, &err), -EEXIST);
    berth_error_clear(&err);
    assert_int_equal(ipam_request_check(f->s, &a, "w-new", web.ip + 100, clash_name, 1, &err), 0);
    /* Not attached: refused. A new workload named like an alias: refused. */
    assert_int_equal(ipam_alias_set(f->s, "ab", "w-web", mine, 1, &err), -ENOENT);
    berth_error_clear(&err);
    struct net_lease x;
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-x", "front", "container", 0, NULL, NULL, &x, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "as an alias of web"));
    berth_error_clear(&err);
    /* The same alias on another network is another name. */
    assert_int_equal(ipam_lease_alloc(f->s, &b, "w-web", "web", "container", 0, NULL, NULL, &web_b, &err), 0);
    const char *front[] = { "front" };
    assert_int_equal(ipam_alias_set(f->s, "ab", "w-other", front, 1, &err), 0);
    assert_int_equal(ipam_lookup_name(f->s, "ab", "front", &ip), 0);
    assert_int_equal(ip, other.ip);
    /* A client on both networks asking aa's resolver for an alias on ab gets it (as for names);
     * db, only on aa, does not. */
    const char *only_b[] = { "bonly" };
    assert_int_equal(ipam_alias_set(f->s, "ab", "w-other", only_b, 1, &err), 0);
    assert_int_equal(ipam_lookup_name(f->s, "aa", "bonly", &ip), -ENOENT);
    assert_int_equal(ipam_lookup_name_via(f->s, "aa", web.ip, "BOnly", &ip), 0);
    assert_int_equal(ip, other.ip);
    assert_int_equal(ipam_lookup_name_via(f->s, "aa", db.ip, "bonly", &ip), -ENOENT);
    assert_int_equal(ipam_lookup_name(f->s, "ab", "front", &ip), -ENOENT); /* replaced */

    /* Releasing the lease removes its aliases: the name is free again. */
    assert_int_equal(ipam_lease_release(f->s, "aa", "w-web", &err), 0);
    assert_int_equal(ipam_lookup_name(f->s, "aa", "www", &ip), -ENOENT);
    strv_free(list);
    list = NULL;
    assert_int_equal(ipam_alias_list(f->s, "aa", "w-web", &list, &err), 0);
    assert_null(list);
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-x", "front", "container", 0, NULL, NULL, &x, &err), 0);
}

/* The tables of net schema v1, as berth made them then. */
#define NET_SCHEMA_V1                                                                                              \
    "CREATE TABLE net_networks (name TEXT PRIMARY KEY, bridge TEXT NOT NULL UNIQUE,"                              \
    " subnet INTEGER NOT NULL, prefix INTEGER NOT NULL, gateway INTEGER NOT NULL,"                                \
    " internal INTEGER NOT NULL, mtu INTEGER NOT NULL, created INTEGER NOT NULL,"                                 \
    " next_ip INTEGER NOT NULL);"                                                                                 \
    "CREATE TABLE net_leases (network TEXT NOT NULL, workload TEXT NOT NULL,"                                     \
    " name TEXT NOT NULL, kind TEXT NOT NULL, ip INTEGER NOT NULL, mac TEXT NOT NULL,"                            \
    " host_ifname TEXT NOT NULL UNIQUE, ifname TEXT NOT NULL, seq INTEGER NOT NULL,"                              \
    " PRIMARY KEY (network, ip));"                                                                                \
    "CREATE TABLE net_ports (host_ip TEXT NOT NULL, host_port INTEGER NOT NULL,"                                  \
    " proto INTEGER NOT NULL, port INTEGER NOT NULL, workload TEXT NOT NULL,"                                     \
    " network TEXT NOT NULL, ip INTEGER NOT NULL, PRIMARY KEY (host_ip, host_port, proto));"

/* A database made before aliases (net schema v1) gains the table on open. */
static void test_schema_v1_migrates(void **state)
{
    (void) state;
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/berth-test-ipam-XXXXXX");
    assert_non_null(mkdtemp(dir));
    struct berth_error err = { 0 };
    struct store *s = NULL;
    assert_int_equal(store_open(dir, &s, &err), 0);
    assert_int_equal(store_ensure_schema(s, "net", 1,
                                         NET_SCHEMA_V1,
                                         &err),
                     0);
    store_close(s);
    s = NULL;
    assert_int_equal(ipam_open(dir, &s, &err), 0);
    struct net_network nw;
    make_network(s, "m", "10.232.0.0/24", &nw);
    struct net_lease l;
    assert_int_equal(ipam_lease_alloc(s, &nw, "w", "w", "container", 0, NULL, NULL, &l, &err), 0);
    const char *al[] = { "alias1" };
    assert_int_equal(ipam_alias_set(s, "m", "w", al, 1, &err), 0);
    uint32_t ip = 0;
    assert_int_equal(ipam_lookup_name(s, "m", "alias1", &ip), 0);
    assert_int_equal(ip, l.ip);
    store_close(s);
    fs_rm_rf(dir);
}

/* --ip reservations: held from create to removal, skipped by automatic assignment, refused to
 * others naming the holder, kept across lease release (a stop), dropped by ipam_unreserve. */
static void test_reservations(void **state)
{
    struct fixture *f = *state;
    struct net_network a, b;
    make_network(f->s, "ra", "10.240.0.0/29", &a); /* .1 gateway, .2 to .6 hosts */
    make_network(f->s, "rb", "10.241.0.0/24", &b);
    struct berth_error err = { 0 };
    uint32_t base = (10u << 24) | (240u << 16);
    /* c1 asks for .2, the first address automatic assignment would hand out. */
    assert_int_equal(ipam_reserve(f->s, &a, "w-c1", "c1", "container", base + 2, NULL, 0, &err), 0);
    struct net_lease l1, l2, l3;
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-o1", "o1", "container", 0, NULL, NULL, &l1, &err), 0);
    assert_int_equal(l1.ip, base + 3);
    /* Another workload asking for it is refused, by name; its holder gets it. */
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-o2", "o2", "container", base + 2, NULL, NULL, &l2, &err),
                     -EADDRINUSE);
    assert_non_null(strstr(err.msg, "address 10.240.0.2 on network 'ra' is already reserved by c1"));
    berth_error_clear(&err);
    assert_int_equal(ipam_reserve(f->s, &a, "w-v1", "v1", "vm", base + 2, NULL, 0, &err), -EADDRINUSE);
    assert_non_null(strstr(err.msg, "already reserved by c1"));
    berth_error_clear(&err);
    /* ... also when the address is a lease (a running workload's), naming it. */
    assert_int_equal(ipam_reserve(f->s, &a, "w-v1", "v1", "vm", base + 3, NULL, 0, &err), -EADDRINUSE);
    assert_non_null(strstr(err.msg, "already in use by o1"));
    berth_error_clear(&err);
    /* Outside the subnet, the gateway: refused, nothing recorded. */
    assert_int_equal(ipam_reserve(f->s, &a, "w-v1", "v1", "vm", base + 9, NULL, 0, &err), -EINVAL);
    berth_error_clear(&err);
    assert_int_equal(ipam_reserve(f->s, &a, "w-v1", "v1", "vm", base + 1, NULL, 0, &err), -EADDRINUSE);
    berth_error_clear(&err);
    /* An alias clash refuses the whole reservation. */
    const char *clash[] = { "O1" };
    assert_int_equal(ipam_reserve(f->s, &a, "w-v1", "v1", "vm", base + 5, clash, 1, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "alias 'O1' is already used on network 'ra' by o1"));
    berth_error_clear(&err);
    _cleanup_free_ struct net_reservation *rv = NULL;
    size_t n = 0;
    assert_int_equal(ipam_reservation_list(f->s, "ra", NULL, &rv, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rv[0].workload, "w-c1");
    assert_string_equal(rv[0].name, "c1");
    assert_int_equal(rv[0].ip, base + 2);
    free(rv);
    rv = NULL;
    /* Reserving again (the same or another address) is idempotent, one per workload and network. */
    assert_int_equal(ipam_reserve(f->s, &a, "w-c1", "c1", "container", base + 2, NULL, 0, &err), 0);
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-c1", "c1", "container", base + 2, NULL, NULL, &l2, &err), 0);
    /* A stop releases the lease, not the reservation: the address still waits for c1. */
    assert_int_equal(ipam_lease_release(f->s, "ra", "w-c1", &err), 0);
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-o3", "o3", "container", 0, NULL, NULL, &l3, &err), 0);
    assert_int_not_equal(l3.ip, base + 2);
    /* Full: .2 reserved, .3 .4 leased; .5 .6 left, then none even though .2 has no lease. */
    struct net_lease l4, l5, l6;
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-o4", "o4", "container", 0, NULL, NULL, &l4, &err), 0);
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-o5", "o5", "container", 0, NULL, NULL, &l5, &err), 0);
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-o6", "o6", "container", 0, NULL, NULL, &l6, &err), -ENOSPC);
    berth_error_clear(&err);
    /* The same address on another network is another address. */
    assert_int_equal(ipam_reserve(f->s, &b, "w-x", "x", "vm", (10u << 24) | (241u << 16) | 2, NULL, 0, &err), 0);
    /* rm: the address is free for automatic assignment again. */
    assert_int_equal(ipam_unreserve(f->s, NULL, "w-c1", &err), 0);
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-o6", "o6", "container", 0, NULL, NULL, &l6, &err), 0);
    assert_int_equal(l6.ip, base + 2);
    assert_int_equal(ipam_unreserve(f->s, "rb", "w-x", &err), 0);
    assert_int_equal(ipam_reservation_list(f->s, NULL, NULL, &rv, &n, &err), 0);
    assert_int_equal(n, 0);
    /* Aliases are held too: another workload asking for one (or named like it) is refused, naming
     * the holder; the holder itself may ask again; unreserve frees them. */
    const char *api[] = { "api", "API", "v2" };
    assert_int_equal(ipam_reserve(f->s, &a, "w-c9", "c9", "container", 0, api, 3, &err), 0);
    const char *api_upper[] = { "Api" };
    assert_int_equal(ipam_reserve(f->s, &a, "w-v9", "v9", "vm", 0, api_upper, 1, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "alias 'Api' is already used on network 'ra' by c9"));
    berth_error_clear(&err);
    assert_int_equal(ipam_reserve(f->s, &b, "w-v9", "v9", "vm", 0, api_upper, 1, &err), 0); /* other network */
    struct net_lease named;
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-n", "API", "container", 0, NULL, NULL, &named, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "as an alias of c9"));
    berth_error_clear(&err);
    assert_int_equal(ipam_reserve(f->s, &a, "w-c9", "c9", "container", 0, api, 3, &err), 0);
    assert_int_equal(ipam_unreserve(f->s, "ra", "w-c9", &err), 0);
    assert_int_equal(ipam_reserve(f->s, &a, "w-v9", "v9", "vm", 0, api_upper, 1, &err), 0);
    /* A reserved alias is not an answer of the resolver: only attached workloads' are. */
    uint32_t got = 0;
    assert_int_equal(ipam_lookup_name(f->s, "ra", "api", &got), -ENOENT);
    assert_int_equal(ipam_unreserve(f->s, NULL, "w-v9", &err), 0);

    /* Deleting a network drops its reservations (its leases must be gone first). */
    assert_int_equal(ipam_reserve(f->s, &b, "w-y", "y", "vm", (10u << 24) | (241u << 16) | 7, NULL, 0, &err), 0);
    assert_int_equal(ipam_network_delete(f->s, "rb", &err), 0);
    free(rv);
    rv = NULL;
    assert_int_equal(ipam_reservation_list(f->s, NULL, "w-y", &rv, &n, &err), 0);
    assert_int_equal(n, 0);
}

/* A database of net schema v2 (before reservations) gains the tables (v3, v4) on open and keeps
 * its data. */
static void test_schema_v2_migrates(void **state)
{
    (void) state;
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/berth-test-ipam-XXXXXX");
    assert_non_null(mkdtemp(dir));
    struct berth_error err = { 0 };
    struct store *s = NULL;
    assert_int_equal(store_open(dir, &s, &err), 0);
    assert_int_equal(store_ensure_schema(s, "net", 2,
                                         NET_SCHEMA_V1
                                         "CREATE TABLE net_aliases (network TEXT NOT NULL, workload TEXT NOT NULL,"
                                         " alias TEXT NOT NULL, PRIMARY KEY (network, alias COLLATE NOCASE));"
                                         "INSERT INTO net_networks VALUES ('old', 'berth7', 183500800, 24, 183500801, 0,"
                                         " 1500, 0, 183500802);",
                                         &err),
                     0);
    store_close(s);
    s = NULL;
    assert_int_equal(ipam_open(dir, &s, &err), 0);
    struct net_network nw;
    assert_int_equal(ipam_network_get(s, "old", &nw, &err), 0);
    assert_int_equal(ipam_reserve(s, &nw, "w", "w", "vm", nw.gateway + 1, NULL, 0, &err), 0);
    struct net_lease l;
    assert_int_equal(ipam_lease_alloc(s, &nw, "o", "o", "container", 0, NULL, NULL, &l, &err), 0);
    assert_int_equal(l.ip, nw.gateway + 2);
    const char *al[] = { "held" };
    assert_int_equal(ipam_reserve(s, &nw, "w", "w", "vm", nw.gateway + 1, al, 1, &err), 0);
    assert_int_equal(ipam_reserve(s, &nw, "x", "x", "vm", 0, al, 1, &err), -EEXIST);
    berth_error_clear(&err);
    /* v5: names are held too. */
    assert_int_equal(ipam_reserve(s, &nw, "x", "W", "vm", 0, NULL, 0, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "name 'W' is already used on network 'old' by w"));
    berth_error_clear(&err);
    store_close(s);
    /* Opening again does not migrate twice. */
    assert_int_equal(ipam_open(dir, &s, &err), 0);
    store_close(s);
    fs_rm_rf(dir);
}

/* A workload's own name is held on its network from its reservation (create) to ipam_unreserve
 * (rm): a second workload of that name, an alias equal to it, or a name equal to another's
 * reserved alias is refused at once, naming the holder, before any of them has a lease. */
static void test_name_reservations(void **state)
{
    struct fixture *f = *state;
    struct net_network a, b;
    make_network(f->s, "na", "10.244.0.0/24", &a);
    make_network(f->s, "nb", "10.245.0.0/24", &b);
    struct berth_error err = { 0 };
    /* A container db, created (no address, no alias asked for), not started. */
    assert_int_equal(ipam_reserve(f->s, &a, "w-db", "db", "container", 0, NULL, 0, &err), 0);
    /* A VM asking for the alias db: refused, naming the container. */
    const char *db_alias[] = { "DB" };
    assert_int_equal(ipam_reserve(f->s, &a, "w-vm", "vm1", "vm", 0, db_alias, 1, &err), -EEXIST);
    assert_string_equal(err.msg, "alias 'DB' is already used on network 'na' by db (its name)");
    berth_error_clear(&err);
    /* Another workload named db (any case): refused; so is its start (a lease). */
    assert_int_equal(ipam_reserve(f->s, &a, "w-db2", "Db", "vm", 0, NULL, 0, &err), -EEXIST);
    assert_string_equal(err.msg, "name 'Db' is already used on network 'na' by db");
    berth_error_clear(&err);
    struct net_lease l;
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-db2", "db", "vm", 0, NULL, NULL, &l, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "name 'db' is already used on network 'na' by db"));
    berth_error_clear(&err);
    /* ... and an alias set on a running workload. */
    struct net_lease o;
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-o", "o", "container", 0, NULL, NULL, &o, &err), 0);
    assert_int_equal(ipam_alias_set(f->s, "na", "w-o", db_alias, 1, &err), -EEXIST);
    berth_error_clear(&err);
    /* Nothing of the refused ones was recorded. */
    _cleanup_strv_ char **holders = NULL;
    assert_int_equal(ipam_reservation_holders(f->s, &holders, &err), 0);
    assert_int_equal(strv_length(holders), 1);
    assert_string_equal(holders[0], "w-db");
    /* The holder itself may reserve again (a start, a connect) and be attached under its name. */
    assert_int_equal(ipam_reserve(f->s, &a, "w-db", "db", "container", 0, NULL, 0, &err), 0);
    assert_int_equal(ipam_lease_alloc(f->s, &a, "w-db", "db", "container", 0, NULL, NULL, &l, &err), 0);
    assert_int_equal(ipam_lease_release(f->s, "na", "w-db", &err), 0);
    /* A name equal to another workload's reserved alias: refused at the reservation. */
    const char *api[] = { "api" };
    assert_int_equal(ipam_reserve(f->s, &a, "w-vm", "vm1", "vm", 0, api, 1, &err), 0);
    assert_int_equal(ipam_reserve(f->s, &a, "w-api", "API", "container", 0, NULL, 0, &err), -EEXIST);
    assert_string_equal(err.msg, "name 'API' is already used on network 'na' as an alias of vm1");
    berth_error_clear(&err);
    /* Another network is another namespace. */
    assert_int_equal(ipam_reserve(f->s, &b, "w-db2", "db", "vm", 0, NULL, 0, &err), 0);
    /* A reserved name is not an answer of the resolver. */
    uint32_t ip = 0;
    assert_int_equal(ipam_lookup_name(f->s, "na", "db", &ip), -ENOENT);
    /* rm (unreserve) frees the name on that network. */
    assert_int_equal(ipam_unreserve(f->s, NULL, "w-db", &err), 0);
    assert_int_equal(ipam_reserve(f->s, &a, "w-db2", "db", "vm", 0, NULL, 0, &err), 0);
    /* Disconnect (one network) leaves the other. */
    assert_int_equal(ipam_unreserve(f->s, "na", "w-db2", &err), 0);
    assert_int_equal(ipam_reserve(f->s, &b, "w-z", "DB", "vm", 0, NULL, 0, &err), -EEXIST);
    berth_error_clear(&err);
    /* Deleting a network drops the names held there. */
    assert_int_equal(ipam_lease_release(f->s, "na", "w-o", &err), 0);
    assert_int_equal(ipam_unreserve(f->s, NULL, "w-vm", &err), 0);
    assert_int_equal(ipam_network_delete(f->s, "nb", &err), 0);
    strv_free(holders);
    holders = NULL;
    assert_int_equal(ipam_reservation_holders(f->s, &holders, &err), 0);
    assert_null(holders);
}

static int only_w_a(const char *id, void *userdata)
{
    (void) userdata;
    if (!strcmp(id, "w-err"))
        return -EIO; /* cannot tell: kept */
    return !strcmp(id, "w-a");
}

/* Reservations of workloads that no longer exist (the caller says which exist) are dropped. */
static void test_reconcile_reservations(void **state)
{
    struct fixture *f = *state;
    setenv("BERTH_RUNTIME_DIR", f->dir, 1);
    struct net_network a;
    make_network(f->s, "rr", "10.242.0.0/24", &a);
    struct berth_error err = { 0 };
    const char *al[] = { "ghostalias" };
    /* Only a name held (a workload without --ip or aliases): dropped too. */
    assert_int_equal(ipam_reserve(f->s, &a, "w-gone3", "gone3", "container", 0, NULL, 0, &err), 0);
    assert_int_equal(ipam_reserve(f->s, &a, "w-a", "a", "container", a.gateway + 1, NULL, 0, &err), 0);
    assert_int_equal(ipam_reserve(f->s, &a, "w-gone", "gone", "vm", a.gateway + 2, NULL, 0, &err), 0);
    assert_int_equal(ipam_reserve(f->s, &a, "w-gone2", "gone2", "vm", 0, al, 1, &err), 0);
    assert_int_equal(ipam_reserve(f->s, &a, "w-err", "err", "vm", a.gateway + 3, NULL, 0, &err), 0);
    unsigned released = 99;
    assert_int_equal(network_reconcile_reservations(f->s, only_w_a, NULL, &released, &err), 0);
    assert_int_equal(released, 3);
    _cleanup_strv_ char **left = NULL;
    assert_int_equal(ipam_reservation_holders(f->s, &left, &err), 0);
    assert_int_equal(strv_length(left), 2);
    assert_string_equal(left[0], "w-a");
    assert_string_equal(left[1], "w-err");
    /* The alias and the name are free again. */
    assert_int_equal(ipam_reserve(f->s, &a, "w-new", "gone3", "vm", 0, NULL, 0, &err), 0);
    assert_int_equal(ipam_reserve(f->s, &a, "w-a", "a", "container", a.gateway + 1, al, 1, &err), 0);
    unsetenv("BERTH_RUNTIME_DIR");
}

/* Processes racing for one address and one alias (parallel creates): exactly one gets each, the
 * others are refused naming it; automatic leases made meanwhile never take the address. */
static void test_concurrent_reservations(void **state)
{
    struct fixture *f = *state;
    struct net_network nw;
    make_network(f->s, "race", "10.243.0.0/24", &nw);
    enum { PROCS = 6 };
    uint32_t want = nw.gateway + 1; /* what automatic assignment hands out first */
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            struct store *s = NULL;
            struct berth_error err = { 0 };
            if (ipam_open(f->dir, &s, &err) < 0)
                _exit(2);
            char id[32];
            snprintf(id, sizeof(id), "p%d", p);
            int r;
            if (p % 2) {
                /* The odd ones start workloads without --ip meanwhile: automatic leases. */
                struct net_lease l;
                r = ipam_lease_alloc(s, &nw, id, NULL, "container", 0, NULL, NULL, &l, &err);
                r = r < 0 ? 3 : (l.ip == want ? 4 : 0);
            } else {
                const char *al[] = { "racealias" };
                r = ipam_reserve(s, &nw, id, id, "container", want, al, 1, &err);
                r = r == 0 ? 0 : (r == -EADDRINUSE && strstr(err.msg, "already") ? 1 : 5);
            }
            store_close(s);
            _exit(r);
        }
    }
    int won = 0, lost = 0;
    for (int p = 0; p < PROCS; p++) {
        int st;
        assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
        assert_true(WIFEXITED(st));
        if (p % 2) {
            /* 4: a lease got the address before any reservation existed, which is allowed;
             * then no reservation may have been granted it. */
            assert_true(WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 4);
            if (WEXITSTATUS(st) == 4)
                won = -100;
        } else {
            assert_true(WEXITSTATUS(st) <= 1);
            won += WEXITSTATUS(st) == 0;
            lost += WEXITSTATUS(st) == 1;
        }
    }
    struct net_reservation *v = NULL;
    size_t n = 0;
    struct berth_error err = { 0 };
    assert_int_equal(ipam_reservation_list(f->s, "race", NULL, &v, &n, &err), 0);
    if (won < 0) {
        assert_int_equal(n, 0);
    } else {
        assert_int_equal(won, 1);
        assert_int_equal(lost, PROCS / 2 - 1);
        assert_int_equal(n, 1);
        assert_int_equal(v[0].ip, want);
    }
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_networks_validated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exhaustion_and_round_robin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_released_not_reused_immediately, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_ip_and_mac, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_processes_get_distinct_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_claims, setup, teardown),
        cmocka_unit_test(test_port_parse),
        cmocka_unit_test(test_mac_helpers),
        cmocka_unit_test_setup_teardown(test_lookup_name_via_shared_network, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
        cmocka_unit_test(test_schema_v1_migrates),
        cmocka_unit_test_setup_teardown(test_reservations, setup, teardown),
        cmocka_unit_test(test_schema_v2_migrates),
        cmocka_unit_test_setup_teardown(test_reconcile_reservations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_reservations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_reservations, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
