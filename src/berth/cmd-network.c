/* berth network: create, ls, inspect, rm, reconcile, connect, disconnect; plus the resolver process (dns) and the
 * attach/detach hooks exposed for debugging and tests. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/strv.h"
#include "commands.h"
#include "containers/connect.h"
#include "containers/run.h"
#include "net/attach.h"
#include "cli-getopt.h"
#include "net/dns-server.h"
#include "net/ipam.h"
#include "net/network.h"
#include "vm/connect.h"
#include "vm/vm.h"

static const char usage_text[] =
    "Usage: berth network COMMAND [OPTIONS]\n"
    "\n"
    "Manage the networks containers and VMs share (see docs/network.md).\n"
    "\n"
    "Commands:\n"
    "  create NAME [--subnet CIDR] [--gateway IP] [--internal] [--mtu N]\n"
    "                  create a network (bridge, NAT, DNS)\n"
    "  ls [--format text|json] [-q]\n"
    "                  list networks\n"
    "  inspect NAME... [--format text|json]\n"
    "                  show networks with their workloads and published ports\n"
    "  rm NAME...      remove networks (refused while workloads are attached)\n"
    "  connect [--ip IP] [--alias NAME]... NETWORK CONTAINER|VM\n"
    "                  put a container on another network (at once if it runs), or a stopped\n"
    "                  VM without a network on one\n"
    "  disconnect NETWORK CONTAINER|VM\n"
    "                  take a container (or a stopped VM) off a network\n"
    "  reconcile       clean up after crashes and recreate networks after a reboot\n"
    "\n"
    "Debugging and tests:\n"
    "  attach NETWORK --id ID [--name NAME] (--netns PATH | --pid PID) [--ip IP] [--mac MAC]\n"
    "         [--ifname IF] [-p [HOSTIP:]HOSTPORT:PORT[/tcp|udp]]... [--format text|json]\n"
    "                  plumb a network namespace into NETWORK (\"\" = default network)\n"
    "  attach-vm NETWORK --id ID [--name NAME] [--ip IP] [--mac MAC] [-p ...] [--format text|json]\n"
    "                  create a VM's tap on NETWORK\n"
    "  detach ID       remove a workload from every network\n"
    "  dns NAME        run NAME's resolver in the foreground (berth starts it by itself)\n"
    "\n"
    "Run 'berth network COMMAND --help' for details.\n";

static int fail(const char *verb, struct berth_error *err)
{
    fprintf(stderr, "berth network %s: %s\n", verb, berth_error_message(err));
    return err->code == -EINVAL ? 125 : 1;
}

static int check_format(const char *verb, const char *format)
{
    if (strcmp(format, "text") && strcmp(format, "json")) {
        fprintf(stderr, "berth network %s: unknown --format '%s' (expected text or json)\n", verb, format);
        return -1;
    }
    return 0;
}

static json_t *network_json(const struct net_network *nw)
{
    char sub[32], gw[INET_ADDRSTRLEN];
    char created[32];
    time_t t = (time_t) nw->created;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:i, s:s, s:s}", "name", nw->name, "bridge", nw->bridge, "subnet",
                     cidr_format(&nw->subnet, sub, sizeof(sub)), "gateway", cidr_format_ip(nw->gateway, gw),
                     "internal", nw->internal, "mtu", (int) nw->mtu, "dns", gw, "created", created);
}

static void print_json(json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(2));
    putchar('\n');
}

static int cmd_create(int argc, char **argv)
{
    static const struct option opts[] = {
        { "subnet", required_argument, NULL, 's' }, { "gateway", required_argument, NULL, 'g' },
        { "internal", no_argument, NULL, 'i' },     { "mtu", required_argument, NULL, 'm' },
        { "format", required_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct net_create_opts co = { 0 };
    const char *format = "text";
    int c;
    optind = 1;
    while ((c = cli_getopt("berth network create", argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 's':
            co.subnet = optarg;
            break;
        case 'g':
            co.gateway = optarg;
            break;
        case 'i':
            co.internal = true;
            break;
        case 'm': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 68 || v > 65535) {
                fprintf(stderr, "berth network create: --mtu '%s' must be 68..65535\n", optarg);
                return 125;
            }
            co.mtu = (unsigned) v;
            break;
        }
        case 'f':
            format = optarg;
            break;
        case 'h':
            printf("Usage: berth network create NAME [--subnet CIDR] [--gateway IP] [--internal] [--mtu N]\n"
                   "                            [--format text|json]\n\n"
                   "Creates a network: a bridge (berthN), the gateway address on it, masquerade to the\n"
                   "outside unless --internal, isolation from other networks, and a DNS resolver on the\n"
                   "gateway. Without --subnet a free /24 from 10.90.0.0 upwards is chosen; the gateway\n"
                   "defaults to the subnet's first address.\n");
            return 0;
        default:
            return 125;
        }
    }
    if (check_format("create", format) < 0)
        return 125;
    if (optind + 1 != argc) {
        fprintf(stderr, "berth network create: expected exactly one NAME\n");
        return 125;
    }
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    if (ipam_open(NULL, &s, &err) < 0)
        return fail("create", &err);
    struct net_network nw;
    if (network_create(s, argv[optind], &co, &nw, &err) < 0)
        return fail("create", &err);
    if (!strcmp(format, "json")) {
        _cleanup_json_ json_t *o = network_json(&nw);
        print_json(o);
    } else {
        printf("%s\n", nw.name);
    }
    return 0;
}

static int cmd_ls(int argc, char **argv)
{
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'f' }, { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
    };
    const char *format = "text";
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = cli_getopt("berth network ls", argc, argv, "qh", opts)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            printf("Usage: berth network ls [--format text|json] [-q]\n\nLists networks (the default network "
                   "'" NET_DEFAULT_NETWORK "' appears once it has been used or created).\n");
            return 0;
        default:
            return 125;
        }
    }
    if (check_format("ls", format) < 0)
        return 125;
    if (optind != argc) {
        fprintf(stderr, "berth network ls: unexpected argument '%s'\n", argv[optind]);
        return 125;
    }
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    if (ipam_open(NULL, &s, &err) < 0)
        return fail("ls", &err);
    _cleanup_free_ struct net_network *v = NULL;
    size_t n = 0;
    if (ipam_network_list(s, &v, &n, &err) < 0)
        return fail("ls", &err);
    _cleanup_free_ struct net_lease *leases = NULL;
    size_t n_leases = 0;
    if (ipam_lease_list(s, NULL, NULL, &leases, &n_leases, &err) < 0)
        return fail("ls", &err);
    if (!strcmp(format, "json")) {
        _cleanup_json_ json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o = network_json(&v[i]);
            int count = 0;
            for (size_t k = 0; k < n_leases; k++)
                count += !strcmp(leases[k].network, v[i].name);
            json_object_set_new(o, "workloads", json_integer(count));
            json_array_append_new(a, o);
        }
        print_json(a);
        return 0;
    }
    if (!quiet)
        printf("%-20s %-10s %-18s %-15s %-8s %s\n", "NAME", "BRIDGE", "SUBNET", "GATEWAY", "INTERNAL", "WORKLOADS");
    for (size_t i = 0; i < n; i++) {
        if (quiet) {
            printf("%s\n", v[i].name);
            continue;
        }
        char sub[32], gw[INET_ADDRSTRLEN];
        int count = 0;
        for (size_t k = 0; k < n_leases; k++)
            count += !strcmp(leases[k].network, v[i].name);
        printf("%-20s %-10s %-18s %-15s %-8s %d\n", v[i].name, v[i].bridge, cidr_format(&v[i].subnet, sub, sizeof(sub)),
               cidr_format_ip(v[i].gateway, gw), v[i].internal ? "yes" : "no", count);
    }
    return 0;
}

static json_t *inspect_json(struct store *s, const struct net_network *nw, struct berth_error *err)
{
    json_t *o = network_json(nw);
    json_t *wl = json_array();
    json_t *ports = json_array();
    json_object_set_new(o, "workloads", wl);
    json_object_set_new(o, "ports", ports);
    _cleanup_free_ struct net_lease *leases = NULL;
    size_t n = 0;
    if (ipam_lease_list(s, nw->name, NULL, &leases, &n, err) < 0) {
        json_decref(o);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char ip[INET_ADDRSTRLEN];
        _cleanup_strv_ char **aliases = NULL;
        if (ipam_alias_list(s, nw->name, leases[i].workload, &aliases, err) < 0) {
            json_decref(o);
            return NULL;
        }
        json_t *ja = json_array();
        for (char **a = aliases; a && *a; a++)
            json_array_append_new(ja, json_string(*a));
        json_array_append_new(wl, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "id", leases[i].workload,
                                            "name", leases[i].name, "kind", leases[i].kind, "ip",
                                            cidr_format_ip(leases[i].ip, ip), "mac", leases[i].mac, "host_interface",
                                            leases[i].host_ifname, "interface", leases[i].ifname, "aliases", ja));
    }
    _cleanup_free_ struct net_port_claim *claims = NULL;
    size_t nc = 0;
    if (ipam_port_list(s, NULL, &claims, &nc, err) < 0) {
        json_decref(o);
        return NULL;
    }
    for (size_t i = 0; i < nc; i++) {
        if (strcmp(claims[i].network, nw->name))
            continue;
        char ip[INET_ADDRSTRLEN];
        json_array_append_new(ports, json_pack("{s:s, s:i, s:s, s:i, s:s, s:s}", "host_ip", claims[i].port.host_ip,
                                               "host_port", claims[i].port.host_port, "protocol",
                                               claims[i].port.proto == IPPROTO_UDP ? "udp" : "tcp", "port",
                                               claims[i].port.port, "ip", cidr_format_ip(claims[i].ip, ip), "workload",
                                               claims[i].workload));
    }
    /* Addresses held for workloads that asked for them (--ip), running or not. */
    json_t *res = json_array();
    json_object_set_new(o, "reservations", res);
    _cleanup_free_ struct net_reservation *rv = NULL;
    size_t nr = 0;
    if (ipam_reservation_list(s, nw->name, NULL, &rv, &nr, err) < 0) {
        json_decref(o);
        return NULL;
    }
    for (size_t i = 0; i < nr; i++) {
        char ip[INET_ADDRSTRLEN];
        json_array_append_new(res, json_pack("{s:s, s:s, s:s, s:s}", "ip", cidr_format_ip(rv[i].ip, ip), "id",
                                             rv[i].workload, "name", rv[i].name, "kind", rv[i].kind));
    }
    return o;
}

static int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    const char *format = "text";
    int c;
    optind = 1;
    while ((c = cli_getopt("berth network inspect", argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 'f':
            format = optarg;
            break;
        case 'h':
            printf("Usage: berth network inspect NAME... [--format text|json]\n\nShows networks with their "
                   "attached workloads, published ports and reserved addresses (--ip). JSON output is an array.\n");
            return 0;
        default:
            return 125;
        }
    }
    if (check_format("inspect", format) < 0)
        return 125;
    if (optind >= argc) {
        fprintf(stderr, "berth network inspect: expected at least one NAME\n");
        return 125;
    }
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    if (ipam_open(NULL, &s, &err) < 0)
        return fail("inspect", &err);
    _cleanup_json_ json_t *all = json_array();
    for (int i = optind; i < argc; i++) {
        struct net_network nw;
        if (ipam_network_get(s, argv[i], &nw, &err) < 0)
            return fail("inspect", &err);
        json_t *o = inspect_json(s, &nw, &err);
        if (!o)
            return fail("inspect", &err);
        json_array_append_new(all, o);
    }
    if (!strcmp(format, "json")) {
        print_json(all);
        return 0;
    }
    size_t i;
    json_t *o;
    json_array_foreach(all, i, o) {
        printf("name:      %s\nbridge:    %s\nsubnet:    %s\ngateway:   %s\ninternal:  %s\nmtu:       %lld\n"
               "dns:       %s:53\ncreated:   %s\n",
               json_string_value(json_object_get(o, "name")), json_string_value(json_object_get(o, "bridge")),
               json_string_value(json_object_get(o, "subnet")), json_string_value(json_object_get(o, "gateway")),
               json_is_true(json_object_get(o, "internal")) ? "yes" : "no",
               json_integer_value(json_object_get(o, "mtu")), json_string_value(json_object_get(o, "dns")),
               json_string_value(json_object_get(o, "created")));
        size_t k;
        json_t *w;
        json_array_foreach(json_object_get(o, "workloads"), k, w) {
            printf("workload:  %s %s %s %s %s", json_string_value(json_object_get(w, "kind")),
                   json_string_value(json_object_get(w, "name")), json_string_value(json_object_get(w, "ip")),
                   json_string_value(json_object_get(w, "mac")), json_string_value(json_object_get(w, "id")));
            size_t m;
            json_t *al;
            json_array_foreach(json_object_get(w, "aliases"), m, al)
                printf("%s%s", m ? "," : " aliases=", json_string_value(al));
            printf("\n");
        }
        json_array_foreach(json_object_get(o, "ports"), k, w) {
            const char *hip = json_string_value(json_object_get(w, "host_ip"));
            printf("port:      %s%s%lld -> %s:%lld/%s (%s)\n", hip, *hip ? ":" : "",
                   json_integer_value(json_object_get(w, "host_port")), json_string_value(json_object_get(w, "ip")),
                   json_integer_value(json_object_get(w, "port")), json_string_value(json_object_get(w, "protocol")),
                   json_string_value(json_object_get(w, "workload")));
        }
        json_array_foreach(json_object_get(o, "reservations"), k, w)
            printf("reserved:  %s %s %s %s\n", json_string_value(json_object_get(w, "ip")),
                   json_string_value(json_object_get(w, "kind")), json_string_value(json_object_get(w, "name")),
                   json_string_value(json_object_get(w, "id")));
        if (i + 1 < json_array_size(all))
            putchar('\n');
    }
    return 0;
}

static int cmd_rm(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("Usage: berth network rm NAME...\n\nRemoves networks: resolver, rules, bridge and record. A "
               "network with attached workloads is refused.\n");
        return 0;
    }
    if (argc < 2) {
        fprintf(stderr, "berth network rm: expected at least one NAME\n");
        return 125;
    }
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    if (ipam_open(NULL, &s, &err) < 0)
        return fail("rm", &err);
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        berth_error_clear(&err);
        if (network_remove(s, argv[i], &err) < 0)
            rc = fail("rm", &err);
        else
            printf("%s\n", argv[i]);
    }
    return rc;
}

/* berth network connect|disconnect NETWORK VM: only a VM that does not run can change networks
 * (lib/vm/connect.h). Returns the exit status, or -1 when name is no VM (the caller then reports
 * the missing container). */
static int vm_connect_cli(const char *verb, const char *network, const char *name, const struct ctr_network_opts *no,
                          bool connect)
{
    _cleanup_store_ struct store *vs = NULL;
    struct vm_record vm;
    struct berth_error err = { 0 };
    if (vm_store_open(&vs, &err) < 0 || vm_record_find(vs, name, &vm, &err) < 0)
        return -1;
    int r = connect ? vm_network_connect(vs, &vm, network, no->ip, no->aliases, no->n_aliases, &err)
                    : vm_network_disconnect(vs, &vm, network, &err);
    vm_record_clear(&vm);
    return r < 0 ? fail(verb, &err) : 0;
}

/* connect / disconnect NETWORK CONTAINER: the container verbs' record plus the network hooks. */
static int cmd_connect(int argc, char **argv, bool connect)
{
    static const struct option opts[] = {
        { "ip", required_argument, NULL, 'a' },
        { "alias", required_argument, NULL, 'A' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *verb = connect ? "connect" : "disconnect";
    _cleanup_strv_ char **aliases = NULL;
    struct ctr_network_opts no = { 0 };
    int c;
    optind = 1;
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "berth network %s", verb);
    while ((c = cli_getopt(cmd, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 'a':
            if (!connect)
                goto connect_only;
            no.ip = optarg;
            break;
        case 'A':
            if (!connect)
                goto connect_only;
            if (strv_push(&aliases, optarg) < 0)
                return 125;
            break;
        case 'h':
            if (connect)
                printf("Usage: berth network connect [--ip IP] [--alias NAME]... NETWORK CONTAINER|VM\n\nPuts CONTAINER on "
                       "NETWORK as well. A running container gets the next interface (eth1, ...) at once, an\n"
                       "address, and its /etc/hosts and /etc/resolv.conf rewritten; a stopped one joins at its next "
                       "start. A container\non 'none' moves to NETWORK. Restarts keep the network, the address and "
                       "the aliases.\n"
                       "A VM has one network interface and no hot-plug: a VM that does not run and has no network "
                       "(created with\n--network none, or disconnected) joins NETWORK at its next start; a running VM "
                       "is refused.\n\n"
                       "  --ip IP        this address on NETWORK (inside its subnet, not the gateway, not taken),\n"
                       "                 reserved for it until it is disconnected or removed\n"
                       "  --alias NAME   another name the container (or VM) has in NETWORK's DNS, for the workloads on\n"
                       "                 NETWORK only (repeatable; container name rules; unique on the network)\n");
            else
                printf("Usage: berth network disconnect NETWORK CONTAINER|VM\n\nTakes CONTAINER off NETWORK: its "
                       "interface, address, aliases and the ports published there. Off its last network it keeps "
                       "loopback only.\nA VM that does not run loses its network interface, address, aliases and "
                       "published ports from its next start;\na running VM is refused (no hot-plug).\n");
            return 0;
        default:
            return 125;   /* cli_getopt said why */
        connect_only:
            fprintf(stderr, "berth network disconnect: unknown option '%s' (--ip and --alias are connect's)\n",
                    c == 'a' ? "--ip" : "--alias");
            return 125;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "berth network %s: expected NETWORK CONTAINER|VM (see --help)\n", verb);
        return 125;
    }
    const char *network = argv[optind], *container = argv[optind + 1];
    no.aliases = (const char *const *) aliases;
    no.n_aliases = strv_length(aliases);
    struct berth_error err = { 0 };
    if (ctr_network_opts_check(&no, &err) < 0) {
        fprintf(stderr, "berth network %s: %s\n", verb, berth_error_message(&err));
        return 125;
    }
    _cleanup_store_ struct store *s = NULL;
    struct ctr_record rec = { 0 };
    int found = ctr_store_open(&s, &err);
    if (found == 0)
        found = ctr_record_find(s, container, &rec, &err);
    if (found == -ENOENT) {
        int rc = vm_connect_cli(verb, network, container, &no, connect);
        if (rc >= 0)
            return rc;
    }
    if (found < 0)
        return fail(verb, &err);
    int r = connect ? ctr_network_connect(s, &rec, network, &no, &err) : ctr_network_disconnect(s, &rec, network, &err);
    ctr_record_clear(&rec);
    return r < 0 ? fail(verb, &err) : 0;
}

/* For network_reconcile_reservations: is there a container or VM with this id (both live in the
 * state database the callback's stores open)? */
struct workload_stores {
    struct store *ctr, *vm;
};

static int workload_exists(const char *id, void *userdata)
{
    struct workload_stores *w = userdata;
    struct ctr_record c;
    struct vm_record v;
    struct berth_error e = { 0 };
    int r = ctr_record_find(w->ctr, id, &c, &e);
    if (r == 0) {
        ctr_record_clear(&c);
        return 1;
    }
    if (r != -ENOENT)
        return r;
    r = vm_record_find(w->vm, id, &v, &e);
    if (r == 0) {
        vm_record_clear(&v);
        return 1;
    }
    return r == -ENOENT ? 0 : r;
}

static int cmd_reconcile(int argc, char **argv)
{
    const char *format = "text";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("Usage: berth network reconcile [--format text|json]\n\nRemoves what a crash left behind "
                   "(veths and taps without a lease, container leases whose namespace is gone, port rules "
                   "without an owner, bridges of removed networks, address, alias and name reservations of containers "
                   "and VMs that no longer exist) and brings every network up again (after a reboot).\n");
            return 0;
        }
        if (!strncmp(argv[i], "--format=", 9)) {
            format = argv[i] + 9;
        } else if (!strcmp(argv[i], "--format")) {
            if (++i >= argc) {
                fprintf(stderr, "berth network reconcile: --format needs a value (text or json)\n");
                return 125;
            }
            format = argv[i];
        } else {
            /* everything is read before anything is cleaned up */
            fprintf(stderr, "berth network reconcile: unknown %s '%s' (see --help)\n",
                    argv[i][0] == '-' ? "option" : "argument", argv[i]);
            return 125;
        }
    }
    if (check_format("reconcile", format) < 0)
        return 125;
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    if (ipam_open(NULL, &s, &err) < 0)
        return fail("reconcile", &err);
    struct net_reconcile_stats st;
    if (network_reconcile(s, &st, &err) < 0)
        return fail("reconcile", &err);
    _cleanup_store_ struct store *cs = NULL, *vs = NULL;
    unsigned reservations = 0;
    if (ctr_store_open(&cs, &err) < 0 || vm_store_open(&vs, &err) < 0)
        return fail("reconcile", &err);
    struct workload_stores w = { cs, vs };
    if (network_reconcile_reservations(s, workload_exists, &w, &reservations, &err) < 0)
        return fail("reconcile", &err);
    if (!strcmp(format, "json")) {
        _cleanup_json_ json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i}", "links_removed", st.links_removed,
                                             "leases_released", st.leases_released, "rules_removed", st.rules_removed,
                                             "networks_restored", st.networks_restored, "reservations_released",
                                             (int) reservations);
        print_json(o);
    } else {
        printf("links removed: %u, leases released: %u, rules removed: %u, networks restored: %u, reservations "
               "released: %u\n",
               st.links_removed, st.leases_released, st.rules_removed, st.networks_restored, reservations);
    }
    return 0;
}

static json_t *attachment_json(const struct net_attachment *a)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:i}", "network", a->network, "interface", a->ifname,
                     "host_interface", a->host_ifname, "ip", a->ip, "prefix_len", (int) a->prefix_len, "gateway",
                     a->gateway, "dns", a->dns, "mac", a->mac, "mtu", (int) a->mtu);
}

static int cmd_attach(int argc, char **argv, bool vm)
{
    static const struct option opts[] = {
        { "id", required_argument, NULL, 'I' },     { "name", required_argument, NULL, 'n' },
        { "netns", required_argument, NULL, 'N' },  { "pid", required_argument, NULL, 'P' },
        { "ip", required_argument, NULL, 'a' },     { "mac", required_argument, NULL, 'M' },
        { "ifname", required_argument, NULL, 'i' }, { "publish", required_argument, NULL, 'p' },
        { "format", required_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' },
        { "rootfs", required_argument, NULL, 'R' }, { "print-time", no_argument, NULL, 'T' },
        { NULL, 0, NULL, 0 },
    };
    const char *rootfs = NULL;
    bool print_time = false;
    const char *verb = vm ? "attach-vm" : "attach";
    const char *id = NULL, *name = NULL, *netns = NULL, *format = "text";
    pid_t pid = 0;
    struct net_attach_opts ao = { 0 };
    struct net_port ports[32];
    struct berth_error err = { 0 };
    int c;
    optind = 1;
    while ((c = cli_getopt(vm ? "berth network attach-vm" : "berth network attach", argc, argv, "p:h", opts)) != -1) {
        switch (c) {
        case 'I':
            id = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'N':
            netns = optarg;
            break;
        case 'P':
            pid = (pid_t) atoi(optarg);
            break;
        case 'a':
            ao.ip = optarg;
            break;
        case 'M':
            ao.mac = optarg;
            break;
        case 'i':
            ao.ifname = optarg;
            break;
        case 'p':
            if (ao.n_ports == ARRAY_SIZE(ports)) {
                fprintf(stderr, "berth network %s: at most %zu -p\n", verb, ARRAY_SIZE(ports));
                return 125;
            }
            if (net_port_parse(optarg, &ports[ao.n_ports], &err) < 0)
                return fail(verb, &err);
            ao.n_ports++;
            break;
        case 'R':
            rootfs = optarg;
            break;
        case 'T':
            print_time = true;
            break;
        case 'f':
            format = optarg;
            break;
        case 'h':
            printf("Usage: berth network %s NETWORK --id ID [--name NAME]%s [--ip IP] [--mac MAC]\n"
                   "       [--ifname IF] [-p [HOSTIP:]HOSTPORT:PORT[/tcp|udp]]... [--rootfs DIR] [--print-time]\n"
                   "       [--format text|json]\n\n"
                   "Calls the workload hook %s directly (for debugging and tests); NETWORK \"\" is the\n"
                   "default network. --rootfs writes DIR/etc/hosts and DIR/etc/resolv.conf as a container\n"
                   "runtime would; --print-time reports the hook's own duration on stderr (hook_us N).\n"
                   "Undo with 'berth network detach ID'.\n",
                   verb, vm ? "" : " (--netns PATH | --pid PID)", vm ? "net_attach_vm" : "net_attach_container");
            return 0;
        default:
            return 125;
        }
    }
    ao.ports = ports;
    if (check_format(verb, format) < 0)
        return 125;
    if (optind + 1 != argc || !id || (!vm && !netns && pid <= 0)) {
        fprintf(stderr, "berth network %s: expected NETWORK, --id%s\n", verb, vm ? "" : " and --netns or --pid");
        return 125;
    }
    const char *network = *argv[optind] ? argv[optind] : NULL;
    json_t *o;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (vm) {
        struct net_vm_attachment va;
        if (net_attach_vm(network, id, name, &ao, NET_TAP_VNET_HDR, &va, &err) < 0)
            return fail(verb, &err);
        close(va.tap_fd);
        o = attachment_json(&va.net);
        json_object_set_new(o, "kernel_ip", json_string(va.kernel_ip));
    } else {
        struct net_attachment a;
        if (net_attach_container(network, id, name, netns, pid, &ao, &a, &err) < 0)
            return fail(verb, &err);
        if (rootfs && net_write_etc_files(rootfs, &a, 1, name ? name : id, &err) < 0) {
            struct berth_error ignore = { 0 };
            net_detach(id, &ignore);
            return fail(verb, &err);
        }
        o = attachment_json(&a);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (print_time)
        fprintf(stderr, "hook_us %lld\n", (long long) ((t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000));
    if (!strcmp(format, "json"))
        print_json(o);
    else
        printf("%s %s %s\n", json_string_value(json_object_get(o, "ip")), json_string_value(json_object_get(o, "mac")),
               json_string_value(json_object_get(o, "host_interface")));
    json_decref(o);
    return 0;
}

int cmd_network(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "berth network: a command is needed; run 'berth network --help' for the list\n");
        return 125;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    argc--;
    argv++;
    if (!strcmp(sub, "create"))
        return cmd_create(argc, argv);
    if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
        return cmd_ls(argc, argv);
    if (!strcmp(sub, "inspect"))
        return cmd_inspect(argc, argv);
    if (!strcmp(sub, "rm") || !strcmp(sub, "remove"))
        return cmd_rm(argc, argv);
    if (!strcmp(sub, "reconcile"))
        return cmd_reconcile(argc, argv);
    if (!strcmp(sub, "connect") || !strcmp(sub, "disconnect"))
        return cmd_connect(argc, argv, !strcmp(sub, "connect"));
    if (!strcmp(sub, "attach"))
        return cmd_attach(argc, argv, false);
    if (!strcmp(sub, "attach-vm"))
        return cmd_attach(argc, argv, true);
    if (!strcmp(sub, "detach")) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            printf("Usage: berth network detach ID [--print-time]\n\nRemoves workload ID from every network (interfaces, "
                   "address leases, published ports). An unknown ID is not an error.\n");
            return 0;
        }
        bool print_time = argc == 3 && !strcmp(argv[2], "--print-time");
        if (argc != 2 && !print_time) {
            fprintf(stderr, "berth network detach: expected exactly one ID\n");
            return 125;
        }
        struct berth_error err = { 0 };
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (net_detach(argv[1], &err) < 0)
            return fail("detach", &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (print_time)
            fprintf(stderr, "hook_us %lld\n",
                    (long long) ((t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000));
        return 0;
    }
    if (!strcmp(sub, "dns")) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            printf("Usage: berth network dns NAME\n\nRuns network NAME's resolver in the foreground on its "
                   "gateway address, port 53 (UDP and TCP). berth starts it by itself on first use.\n");
            return 0;
        }
        if (argc != 2) {
            fprintf(stderr, "berth network dns: expected exactly one NAME\n");
            return 125;
        }
        struct berth_error err = { 0 };
        if (dns_serve(argv[1], &err) < 0)
            return fail("dns", &err);
        return 0;
    }
    fprintf(stderr, "berth network: unknown command '%s'; run 'berth network --help'\n", sub);
    return 125;
}
