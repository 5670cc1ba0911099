#include "net/ipam.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/strv.h"

static const char schema_v1[] =
    "CREATE TABLE net_networks ("
    "  name TEXT PRIMARY KEY, bridge TEXT NOT NULL UNIQUE, subnet INTEGER NOT NULL, prefix INTEGER NOT NULL,"
    "  gateway INTEGER NOT NULL, internal INTEGER NOT NULL, mtu INTEGER NOT NULL, created INTEGER NOT NULL,"
    "  next_ip INTEGER NOT NULL);"
    "CREATE TABLE net_leases ("
    "  network TEXT NOT NULL REFERENCES net_networks(name), workload TEXT NOT NULL, name TEXT NOT NULL,"
    "  kind TEXT NOT NULL, ip INTEGER NOT NULL, mac TEXT NOT NULL, host_ifname TEXT NOT NULL UNIQUE,"
    "  ifname TEXT NOT NULL, seq INTEGER NOT NULL,"
    "  PRIMARY KEY (network, ip), UNIQUE (network, workload), UNIQUE (network, mac));"
    "CREATE INDEX net_leases_workload ON net_leases(workload);"
    "CREATE INDEX net_leases_name ON net_leases(network, name);"
    "CREATE TABLE net_ports ("
    "  host_ip TEXT NOT NULL, host_port INTEGER NOT NULL, proto INTEGER NOT NULL, port INTEGER NOT NULL,"
    "  workload TEXT NOT NULL, network TEXT NOT NULL, ip INTEGER NOT NULL,"
    "  PRIMARY KEY (host_ip, host_port, proto));"
    "CREATE INDEX net_ports_workload ON net_ports(workload);";

/* v2: extra DNS names of a lease (--alias, --network-alias), one row each, gone with the lease. */
static const char schema_v2[] =
    "CREATE TABLE net_aliases ("
    "  network TEXT NOT NULL, workload TEXT NOT NULL, alias TEXT NOT NULL,"
    "  PRIMARY KEY (network, alias COLLATE NOCASE));"
    "CREATE INDEX net_aliases_workload ON net_aliases(workload);";

/* v3: addresses asked for with --ip, held from the workload's create (or connect) until its removal
 * (or disconnect), so that automatic assignment never hands them to another workload while the
 * one that asked is stopped. One address per workload and network. */
static const char schema_v3[] =
    "CREATE TABLE net_reservations ("
    "  network TEXT NOT NULL, workload TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,"
    "  ip INTEGER NOT NULL, created INTEGER NOT NULL,"
    "  PRIMARY KEY (network, workload), UNIQUE (network, ip));"
    "CREATE INDEX net_reservations_workload ON net_reservations(workload);";

/* v4: aliases asked for (--network-alias, connect --alias) are held the same way, so that two
 * workloads that are not running yet cannot both be given one (the resolver could answer only
 * one). net_aliases keeps what the resolver answers (workloads with a lease). */
static const char schema_v4[] =
    "CREATE TABLE net_alias_reservations ("
    "  network TEXT NOT NULL, workload TEXT NOT NULL, name TEXT NOT NULL, alias TEXT NOT NULL,"
    "  PRIMARY KEY (network, alias COLLATE NOCASE));"
    "CREATE INDEX net_alias_reservations_workload ON net_alias_reservations(workload);";

/* v5: a workload's own name is held the same way on each network it is (or will be) attached to,
 * from its create (or connect) until its removal (or disconnect): two workloads of one name, or a
 * name and another workload's alias, are refused before either starts. */
static const char schema_v5[] =
    "CREATE TABLE net_name_reservations ("
    "  network TEXT NOT NULL, workload TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,"
    "  PRIMARY KEY (network, workload), UNIQUE (network, name COLLATE NOCASE));"
    "CREATE INDEX net_name_reservations_workload ON net_name_reservations(workload);";

int ipam_open(const char *root, struct store **ret, struct berth_error *err)
{
    struct store *s = NULL;
    int r = store_open(root ? root : berth_root_dir(), &s, err);
    if (r < 0)
        return r;
    static const char *const migrations[] = { schema_v1, schema_v2, schema_v3, schema_v4, schema_v5 };
    r = store_ensure_migrations(s, "net", migrations, 5, err);
    if (r < 0) {
        store_close(s);
        return r;
    }
    *ret = s;
    return 0;
}

int ipam_check_name(const char *what, const char *name, struct berth_error *err)
{
    size_t n = strlen(name);
    if (n == 0 || n >= NET_NAME_MAX)
        return berth_error_set(err, -EINVAL, "%s '%s': must be 1 to %d characters", what, name, NET_NAME_MAX - 1);
    if (!isalnum((unsigned char) name[0]))
        return berth_error_set(err, -EINVAL, "%s '%s': must start with a letter or digit", what, name);
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char) name[i]) && !strchr("_.-", name[i]))
            return berth_error_set(err, -EINVAL, "%s '%s': only letters, digits, '_', '.' and '-' are allowed",
                                   what, name);
    return 0;
}

static void copy_col(char *dst, size_t len, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(dst, len, "%s", t ? (const char *) t : "");
}

static void network_from_row(sqlite3_stmt *st, struct net_network *nw)
{
    memset(nw, 0, sizeof(*nw));
    copy_col(nw->name, sizeof(nw->name), st, 0);
    copy_col(nw->bridge, sizeof(nw->bridge), st, 1);
    nw->subnet.addr = (uint32_t) sqlite3_column_int64(st, 2);
    nw->subnet.prefix = (unsigned) sqlite3_column_int(st, 3);
    nw->gateway = (uint32_t) sqlite3_column_int64(st, 4);
    nw->internal = sqlite3_column_int(st, 5) != 0;
    nw->mtu = (unsigned) sqlite3_column_int(st, 6);
    nw->created = sqlite3_column_int64(st, 7);
}

#define NETWORK_COLS "name, bridge, subnet, prefix, gateway, internal, mtu, created"

int ipam_network_get(struct store *s, const char *name, struct net_network *ret, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT " NETWORK_COLS " FROM net_networks WHERE name = ?", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return berth_error_set(err, -ENOENT, "network '%s' does not exist", name);
    if (rc != SQLITE_ROW)
        return berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(s)));
    network_from_row(st, ret);
    return 0;
}

int ipam_network_list(struct store *s, struct net_network **ret, size_t *ret_n, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT " NETWORK_COLS " FROM net_networks ORDER BY name", &st, err);
    if (r < 0)
        return r;
    _cleanup_free_ struct net_network *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (ARRAY_RESERVE(v, cap, n + 1, 8) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
        network_from_row(st, &v[n++]);
    }
    if (rc != SQLITE_DONE)
        return berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(s)));
    *ret = TAKE_PTR(v);
    *ret_n = n;
    return 0;
}

static int step_done(struct store *s, sqlite3_stmt *st, struct berth_error *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(s)));
    return 0;
}

/* Runs a statement whose parameters are texts: t1, t2, t3 in order, up to the first NULL. */
static int exec_q(struct store *s, const char *sql, const char *t1, const char *t2, const char *t3,
                  struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, sql, &st, err);
    if (r < 0)
        return r;
    const char *t[] = { t1, t2, t3 };
    for (int k = 0; k < 3 && t[k]; k++)
        sqlite3_bind_text(st, k + 1, t[k], -1, SQLITE_STATIC);
    return step_done(s, st, err);
}

/* One reservation row: its first four columns are texts (network, workload, name, and the kind
 * or the alias); an address reservation (ip not 0) adds the address and the time. */
static int insert_reservation(struct store *s, const char *sql, const char *network, const char *workload,
                              const char *name, const char *text, uint32_t ip, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, sql, &st, err);
    if (r < 0)
        return r;
    const char *t[] = { network, workload, name, text };
    for (int k = 0; k < 4; k++)
        sqlite3_bind_text(st, k + 1, t[k], -1, SQLITE_STATIC);
    if (ip) {
        sqlite3_bind_int64(st, 5, ip);
        sqlite3_bind_int64(st, 6, (int64_t) time(NULL));
    }
    return step_done(s, st, err);
}

static int network_check_overlap(struct store *s, struct net_network *nw, struct berth_error *err)
{
    _cleanup_free_ struct net_network *all = NULL;
    size_t n = 0;
    int r = ipam_network_list(s, &all, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(all[i].name, nw->name))
            return berth_error_set(err, -EEXIST, "network '%s' already exists", nw->name);
        if (cidr_overlaps(&all[i].subnet, &nw->subnet)) {
            char a[32], b[32];
            return berth_error_set(err, -EADDRINUSE, "subnet %s overlaps network '%s' (%s)",
                                   cidr_format(&nw->subnet, a, sizeof(a)), all[i].name,
                                   cidr_format(&all[i].subnet, b, sizeof(b)));
        }
        if (nw->bridge[0] && !strcmp(all[i].bridge, nw->bridge))
            return berth_error_set(err, -EEXIST, "bridge %s is already used by network '%s'", nw->bridge,
                                   all[i].name);
    }
    if (!nw->bridge[0]) {
        /* berth0 is the default network's; others get the first free berthN. */
        for (unsigned k = 1; k < 100000; k++) {
            char cand[IFNAMSIZ];
            snprintf(cand, sizeof(cand), "berth%u", k);
            bool used = false;
            for (size_t i = 0; i < n && !used; i++)
                used = !strcmp(all[i].bridge, cand);
            if (!used) {
                memcpy(nw->bridge, cand, sizeof(cand));
                break;
            }
        }
    }
    return 0;
}

int ipam_network_insert(struct store *s, struct net_network *out, struct berth_error *err)
{
    /* Defaults are filled into a copy: the caller's struct changes only on success. */
    struct net_network copy = *out, *nw = &copy;
    int r = ipam_check_name("network name", nw->name, err);
    if (r < 0)
        return r;
    char sub[32], gw[INET_ADDRSTRLEN];
    cidr_format(&nw->subnet, sub, sizeof(sub));
    if (nw->subnet.prefix < 8 || nw->subnet.prefix > 30)
        return berth_error_set(err, -EINVAL, "subnet %s: prefix length must be between /8 and /30", sub);
    if (nw->gateway == 0)
        nw->gateway = cidr_first_host(&nw->subnet);
    if (!cidr_contains(&nw->subnet, nw->gateway) || nw->gateway < cidr_first_host(&nw->subnet) ||
        nw->gateway > cidr_last_host(&nw->subnet))
        return berth_error_set(err, -EINVAL, "gateway %s is not a host address of subnet %s",
                               cidr_format_ip(nw->gateway, gw), sub);
    if (nw->mtu == 0)
        nw->mtu = 1500;
    if (nw->mtu < 68 || nw->mtu > 65535)
        return berth_error_set(err, -EINVAL, "mtu %u: must be 68..65535", nw->mtu);
    if (!nw->created)
        nw->created = (int64_t) time(NULL);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = store_begin(s, err);
    if (r < 0)
        return r;
    r = network_check_overlap(s, nw, err);
    if (r < 0)
        goto fail;
    r = store_prepare(s,
                      "INSERT INTO net_networks (" NETWORK_COLS ", next_ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      &st, err);
    if (r < 0)
        goto fail;
    sqlite3_bind_text(st, 1, nw->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, nw->bridge, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, nw->subnet.addr);
    sqlite3_bind_int(st, 4, (int) nw->subnet.prefix);
    sqlite3_bind_int64(st, 5, nw->gateway);
    sqlite3_bind_int(st, 6, nw->internal);
    sqlite3_bind_int(st, 7, (int) nw->mtu);
    sqlite3_bind_int64(st, 8, nw->created);
    sqlite3_bind_int64(st, 9, cidr_first_host(&nw->subnet));
    r = step_done(s, st, err);
    if (r < 0)
        goto fail;
    r = store_commit(s, err);
    if (r == 0)
        *out = copy;
    return r;
fail:
    store_rollback(s);
    return r;
}

int ipam_network_delete(struct store *s, const char *name, struct berth_error *err)
{
    int r = store_begin(s, err);
    if (r < 0)
        return r;
    struct net_network nw;
    r = ipam_network_get(s, name, &nw, err);
    if (r < 0)
        goto fail;
    {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        r = store_prepare(s, "SELECT count(*), min(workload) FROM net_leases WHERE network = ?", &st, err);
        if (r < 0)
            goto fail;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0) {
            r = berth_error_set(err, -EBUSY, "network '%s' is in use by %d workload(s) (e.g. %s)", name,
                                sqlite3_column_int(st, 0), (const char *) sqlite3_column_text(st, 1));
            goto fail;
        }
    }
    /* Reservations go with the network: a stopped workload that asked for an address there
     * fails at its start on the missing network, as it did before reservations. */
    r = exec_q(s, "DELETE FROM net_reservations WHERE network = ?", name, NULL, NULL, err);
    if (r == 0)
        r = exec_q(s, "DELETE FROM net_alias_reservations WHERE network = ?", name, NULL, NULL, err);
    if (r == 0)
        r = exec_q(s, "DELETE FROM net_name_reservations WHERE network = ?", name, NULL, NULL, err);
    if (r == 0)
        r = exec_q(s, "DELETE FROM net_networks WHERE name = ?", name, NULL, NULL, err);
    if (r < 0)
        goto fail;
    return store_commit(s, err);
fail:
    store_rollback(s);
    return r;
}

int ipam_pick_subnet(struct store *s, struct net_cidr *ret, struct berth_error *err)
{
    _cleanup_free_ struct net_network *all = NULL;
    size_t n = 0;
    int r = ipam_network_list(s, &all, &n, err);
    if (r < 0)
        return r;
    for (uint32_t base = (10u << 24) | (90u << 16); base < ((10u << 24) | (128u << 16)); base += 256) {
        struct net_cidr c = { base, 24 };
        bool used = false;
        for (size_t i = 0; i < n && !used; i++)
            used = cidr_overlaps(&c, &all[i].subnet);
        if (!used) {
            *ret = c;
            return 0;
        }
    }
    return berth_error_set(err, -ENOSPC, "no free /24 left in 10.90.0.0-10.127.255.0; pass --subnet");
}

static uint64_t fnv1a(const char *a, const char *b, unsigned attempt)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = a; p && *p; p++)
        h = (h ^ (unsigned char) *p) * 0x100000001b3ULL;
    h = (h ^ 0xff) * 0x100000001b3ULL;
    for (const char *p = b; p && *p; p++)
        h = (h ^ (unsigned char) *p) * 0x100000001b3ULL;
    for (int i = 0; i < 4; i++)
        h = (h ^ ((attempt >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
    return h;
}

void ipam_mac_for(const char *workload, unsigned attempt, char ret[NET_MAC_STRLEN])
{
    uint64_t h = fnv1a("mac", workload, attempt);
    /* 0x02: locally administered, unicast. The second byte marks berth's MACs. */
    snprintf(ret, NET_MAC_STRLEN, "02:b7:%02x:%02x:%02x:%02x", (unsigned) (h >> 24) & 0xff,
             (unsigned) (h >> 16) & 0xff, (unsigned) (h >> 8) & 0xff, (unsigned) h & 0xff);
}

int ipam_parse_mac(const char *s, uint8_t ret[6], struct berth_error *err)
{
    unsigned b[6];
    char tail;
    if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
        return berth_error_set(err, -EINVAL, "MAC address '%s': expected xx:xx:xx:xx:xx:xx", s);
    for (int i = 0; i < 17; i++)
        if ((i % 3 == 2) != (s[i] == ':') || (i % 3 != 2 && !isxdigit((unsigned char) s[i])))
            return berth_error_set(err, -EINVAL, "MAC address '%s': expected xx:xx:xx:xx:xx:xx", s);
    if (b[0] & 1)
        return berth_error_set(err, -EINVAL, "MAC address '%s' is a multicast address", s);
    if (!(b[0] | b[1] | b[2] | b[3] | b[4] | b[5]))
        return berth_error_set(err, -EINVAL, "MAC address '%s' is all zeros", s);
    for (int i = 0; i < 6; i++)
        ret[i] = (uint8_t) b[i];
    return 0;
}

static int exists_q(struct store *s, const char *sql, const char *t1, const char *t2, int64_t i1, bool *ret,
                    struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, sql, &st, err);
    if (r < 0)
        return r;
    int k = 1;
    if (t1)
        sqlite3_bind_text(st, k++, t1, -1, SQLITE_STATIC);
    if (t2)
        sqlite3_bind_text(st, k++, t2, -1, SQLITE_STATIC);
    if (i1 >= 0)
        sqlite3_bind_int64(st, k++, i1);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(s)));
    *ret = rc == SQLITE_ROW;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y ? -1 : x > y;
}

static int pick_ip(struct store *s, const struct net_network *nw, uint32_t *ret, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    /* Reserved addresses are skipped like held ones: they wait for the workload that asked. */
    int r = store_prepare(s,
                          "SELECT ip FROM net_leases WHERE network = ?1 UNION SELECT ip FROM net_reservations"
                          " WHERE network = ?1 ORDER BY ip",
                          &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, nw->name, -1, SQLITE_STATIC);
    _cleanup_free_ uint32_t *held = NULL;
    size_t n = 0, cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (ARRAY_RESERVE(held, cap, n + 1, 64) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
        held[n++] = (uint32_t) sqlite3_column_int64(st, 0);
    }
    _cleanup_stmt_ sqlite3_stmt *cur = NULL;
    r = store_prepare(s, "SELECT next_ip FROM net_networks WHERE name = ?", &cur, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(cur, 1, nw->name, -1, SQLITE_STATIC);
    uint32_t first = cidr_first_host(&nw->subnet), last = cidr_last_host(&nw->subnet);
    uint32_t start = first;
    if (sqlite3_step(cur) == SQLITE_ROW)
        start = (uint32_t) sqlite3_column_int64(cur, 0);
    if (start < first || start > last)
        start = first;
    uint64_t span = (uint64_t) last - first + 1;
    for (uint64_t i = 0; i < span; i++) {
        uint32_t ip = first + (uint32_t) (((uint64_t) start - first + i) % span);
        if (ip == nw->gateway)
            continue;
        if (n && bsearch(&ip, held, n, sizeof(*held), cmp_u32))
            continue;
        *ret = ip;
        return 0;
    }
    char sub[32];
    return berth_error_set(err, -ENOSPC, "network '%s': no free address left in %s (%zu held)", nw->name,
                           cidr_format(&nw->subnet, sub, sizeof(sub)), n);
}

/* want_ip is a host address of nw's subnet, not its gateway, and held by no other workload. */
static int check_want_ip(struct store *s, const struct net_network *nw, const char *workload, uint32_t want_ip,
                         struct berth_error *err)
{
    char ipbuf[INET_ADDRSTRLEN], sub[32];
    if (!cidr_contains(&nw->subnet, want_ip) || want_ip < cidr_first_host(&nw->subnet) ||
        want_ip > cidr_last_host(&nw->subnet))
        return berth_error_set(err, -EINVAL, "address %s is not a host address of network '%s' (%s)",
                               cidr_format_ip(want_ip, ipbuf), nw->name, cidr_format(&nw->subnet, sub, sizeof(sub)));
    if (want_ip == nw->gateway)
        return berth_error_set(err, -EADDRINUSE, "address %s is network '%s''s gateway", cidr_format_ip(want_ip, ipbuf),
                               nw->name);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT name FROM net_leases WHERE network = ? AND ip = ? AND workload != ?", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, nw->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, want_ip);
    sqlite3_bind_text(st, 3, workload, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return berth_error_set(err, -EADDRINUSE, "address %s on network '%s' is already in use by %s",
                               cidr_format_ip(want_ip, ipbuf), nw->name, (const char *) sqlite3_column_text(st, 0));
    if (rc != SQLITE_DONE)
        return berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(s)));
    _cleanup_stmt_ sqlite3_stmt *rs = NULL;
    r = store_prepare(s, "SELECT name FROM net_reservations WHERE network = ? AND ip = ? AND workload != ?", &rs, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(rs, 1, nw->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(rs, 2, want_ip);
    sqlite3_bind_text(rs, 3, workload, -1, SQLITE_STATIC);
    rc = sqlite3_step(rs);
    if (rc == SQLITE_ROW)
        return berth_error_set(err, -EADDRINUSE, "address %s on network '%s' is already reserved by %s (its --ip)",
                               cidr_format_ip(want_ip, ipbuf), nw->name, (const char *) sqlite3_column_text(rs, 0));
    if (rc != SQLITE_DONE)
        return berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(s)));
    return 0;
}

/* Who other than workload answers to name on the network, as its name or as an alias, or holds
 * it as a reserved name or alias (the resolver could not tell two apart): 1 with *holder (its name, to
 * free) and *as_alias, 0 when nobody. */
static int name_holder(struct store *s, const char *network, const char *workload, const char *name, char **holder,
                       bool *as_alias, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "SELECT name, 0 FROM net_leases WHERE network = ?1 AND workload != ?2"
                          " AND name = ?3 COLLATE NOCASE"
                          " UNION ALL SELECT coalesce((SELECT l.name FROM net_leases l WHERE l.network = a.network"
                          " AND l.workload = a.workload), a.workload), 1 FROM net_aliases a WHERE a.network = ?1"
                          " AND a.workload != ?2 AND a.alias = ?3 COLLATE NOCASE"
                          " UNION ALL SELECT name, 1 FROM net_alias_reservations WHERE network = ?1 AND workload != ?2"
                          " AND alias = ?3 COLLATE NOCASE"
                          " UNION ALL SELECT name, 0 FROM net_name_reservations WHERE network = ?1 AND workload != ?2"
                          " AND name = ?3 COLLATE NOCASE LIMIT 1",
                          &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, network, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, workload, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(s)));
    *holder = strdup((const char *) sqlite3_column_text(st, 0));
    if (!*holder)
        return berth_error_set(err, -ENOMEM, "out of memory");
    *as_alias = sqlite3_column_int(st, 1);
    return 1;
}

/* One name, one address: the resolver could not tell two workloads of one name apart. -EEXIST
 * naming the holder when another workload answers to (or holds) name on network. */
static int name_clash(struct store *s, const char *network, const char *workload, const char *name,
                      struct berth_error *err)
{
    _cleanup_free_ char *holder = NULL;
    bool as_alias = false;
    int r = name_holder(s, network, workload, name, &holder, &as_alias, err);
    if (r > 0)
        return berth_error_set(err, -EEXIST, "name '%s' is already used on network '%s' %s %s", name, network,
                               as_alias ? "as an alias of" : "by", holder);
    return r;
}

static int lease_alloc_locked(struct store *s, const struct net_network *nw, const char *workload, const char *name,
                              const char *kind, uint32_t want_ip, const char *want_mac, const char *want_ifname,
                              struct net_lease *l, struct berth_error *err)
{
    bool held;
    int r = exists_q(s, "SELECT 1 FROM net_leases WHERE network = ? AND workload = ?", nw->name, workload, -1,
                     &held, err);
    if (r < 0)
        return r;
    if (held)
        return berth_error_set(err, -EEXIST, "%s is already attached to network '%s'", workload, nw->name);
    if (name) {
        r = name_clash(s, nw->name, workload, name, err);
        if (r < 0)
            return r;
    }
    if (want_ip) {
        r = check_want_ip(s, nw, workload, want_ip, err);
        if (r < 0)
            return r;
        l->ip = want_ip;
    } else {
        r = pick_ip(s, nw, &l->ip, err);
        if (r < 0)
            return r;
    }
    if (want_mac) {
        uint8_t b[6];
        r = ipam_parse_mac(want_mac, b, err);
        if (r < 0)
            return r;
        snprintf(l->mac, sizeof(l->mac), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
        r = exists_q(s, "SELECT 1 FROM net_leases WHERE network = ? AND mac = ?", nw->name, l->mac, -1, &held, err);
        if (r < 0)
            return r;
        if (held)
            return berth_error_set(err, -EADDRINUSE, "MAC address %s is already used on network '%s'", l->mac,
                                   nw->name);
    } else {
        for (unsigned attempt = 0;; attempt++) {
            ipam_mac_for(workload, attempt, l->mac);
            r = exists_q(s, "SELECT 1 FROM net_leases WHERE network = ? AND mac = ?", nw->name, l->mac, -1, &held, err);
            if (r < 0)
                return r;
            if (!held)
                break;
        }
    }
    for (unsigned attempt = 0;; attempt++) {
        uint64_t h = fnv1a(nw->name, workload, attempt);
        snprintf(l->host_ifname, sizeof(l->host_ifname), "%s%012llx", strcmp(kind, "vm") ? "bv" : "bt",
                 (unsigned long long) (h & 0xffffffffffffULL));
        r = exists_q(s, "SELECT 1 FROM net_leases WHERE host_ifname = ?", l->host_ifname, NULL, -1, &held, err);
        if (r < 0)
            return r;
        if (!held)
            break;
    }
    int64_t seq = 0;
    {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        r = store_prepare(s, "SELECT count(*), coalesce(max(seq) + 1, 0) FROM net_leases WHERE workload = ?", &st, err);
        if (r < 0)
            return r;
        sqlite3_bind_text(st, 1, workload, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            seq = sqlite3_column_int64(st, 1);
    }
    if (want_ifname)
        snprintf(l->ifname, sizeof(l->ifname), "%s", want_ifname);
    else
        snprintf(l->ifname, sizeof(l->ifname), "eth%lld", (long long) seq);
    snprintf(l->network, sizeof(l->network), "%s", nw->name);
    snprintf(l->workload, sizeof(l->workload), "%s", workload);
    snprintf(l->name, sizeof(l->name), "%s", name ? name : workload);
    snprintf(l->kind, sizeof(l->kind), "%s", kind);

    _cleanup_stmt_ sqlite3_stmt *ins = NULL;
    r = store_prepare(s,
                      "INSERT INTO net_leases (network, workload, name, kind, ip, mac, host_ifname, ifname, seq)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      &ins, err);
    if (r < 0)
        return r;
    sqlite3_bind_text(ins, 1, l->network, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, l->workload, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, l->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, l->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 5, l->ip);
    sqlite3_bind_text(ins, 6, l->mac, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 7, l->host_ifname, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 8, l->ifname, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 9, seq);
    r = step_done(s, ins, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *up = NULL;
    r = store_prepare(s, "UPDATE net_networks SET next_ip = ? WHERE name = ?", &up, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(up, 1, (int64_t) l->ip + 1);
    sqlite3_bind_text(up, 2, nw->name, -1, SQLITE_STATIC);
    return step_done(s, up, err);
}

int ipam_lease_alloc(struct store *s, const struct net_network *nw, const char *workload, const char *name,
                     const char *kind, uint32_t want_ip, const char *want_mac, const char *want_ifname,
                     struct net_lease *ret, struct berth_error *err)
{
    if (!workload || !*workload || strlen(workload) >= NET_WORKLOAD_MAX)
        return berth_error_set(err, -EINVAL, "workload id must be 1 to %d characters", NET_WORKLOAD_MAX - 1);
    if (name && *name) {
        int r = ipam_check_name("workload name", name, err);
        if (r < 0)
            return r;
    }
    if (want_ifname && (!*want_ifname || strlen(want_ifname) >= IFNAMSIZ || strchr(want_ifname, '/')))
        return berth_error_set(err, -EINVAL, "interface name '%s': must be 1 to %d characters without '/'",
                               want_ifname, IFNAMSIZ - 1);
    int r = store_begin(s, err);
    if (r < 0)
        return r;
    struct net_lease l;
    memset(&l, 0, sizeof(l));
    r = lease_alloc_locked(s, nw, workload, name && *name ? name : NULL, kind, want_ip, want_mac, want_ifname, &l, err);
    if (r < 0) {
        store_rollback(s);
        return r;
    }
    r = store_commit(s, err);
    if (r < 0)
        return r;
    *ret = l;
    return 0;
}

int ipam_lease_release(struct store *s, const char *network, const char *workload, struct berth_error *err)
{
    /* Aliases first: a crash in between leaves a lease without aliases, never the reverse. */
    int r = exec_q(s, "DELETE FROM net_aliases WHERE network = ? AND workload = ?", network, workload, NULL, err);
    if (r < 0)
        return r;
    return exec_q(s, "DELETE FROM net_leases WHERE network = ? AND workload = ?", network, workload, NULL, err);
}

/* A statement whose ?1 is a network and ?2 a workload, each NULL for any ("?1 IS NULL OR ..."). */
static int prepare_by(struct store *s, const char *sql, const char *network, const char *workload,
                      sqlite3_stmt **ret, struct berth_error *err)
{
    int r = store_prepare(s, sql, ret, err);
    if (r < 0)
        return r;
    if (network)
        sqlite3_bind_text(*ret, 1, network, -1, SQLITE_STATIC);
    if (workload)
        sqlite3_bind_text(*ret, 2, workload, -1, SQLITE_STATIC);
    return 0;
}

/* Every row of st, each turned by fill into an element of size elem of a new array (*ret). */
static int collect_rows(struct store *s, sqlite3_stmt *st, size_t elem, void (*fill)(sqlite3_stmt *st, void *out),
                        void **ret, size_t *ret_n, struct berth_error *err)
{
    _cleanup_free_ char *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (array_reserve(&v, &cap, n + 1, elem, 8) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
        memset(v + n * elem, 0, elem);
        fill(st, v + n * elem);
        n++;
    }
    if (rc != SQLITE_DONE)
        return berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(s)));
    *ret = TAKE_PTR(v);
    *ret_n = n;
    return 0;
}

static void fill_reservation(sqlite3_stmt *st, void *out)
{
    struct net_reservation *x = out;
    copy_col(x->network, sizeof(x->network), st, 0);
    copy_col(x->workload, sizeof(x->workload), st, 1);
    copy_col(x->name, sizeof(x->name), st, 2);
    copy_col(x->kind, sizeof(x->kind), st, 3);
    x->ip = (uint32_t) sqlite3_column_int64(st, 4);
}

static void fill_lease(sqlite3_stmt *st, void *out)
{
    struct net_lease *l = out;
    copy_col(l->network, sizeof(l->network), st, 0);
    copy_col(l->workload, sizeof(l->workload), st, 1);
    copy_col(l->name, sizeof(l->name), st, 2);
    copy_col(l->kind, sizeof(l->kind), st, 3);
    l->ip = (uint32_t) sqlite3_column_int64(st, 4);
    copy_col(l->mac, sizeof(l->mac), st, 5);
    copy_col(l->host_ifname, sizeof(l->host_ifname), st, 6);
    copy_col(l->ifname, sizeof(l->ifname), st, 7);
}

int ipam_lease_list(struct store *s, const char *network, const char *workload, struct net_lease **ret,
                    size_t *ret_n, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare_by(s,
                       "SELECT network, workload, name, kind, ip, mac, host_ifname, ifname FROM net_leases"
                       " WHERE (?1 IS NULL OR network = ?1) AND (?2 IS NULL OR workload = ?2) ORDER BY seq, network, ip",
                       network, workload, &st, err);
    return r < 0 ? r : collect_rows(s, st, sizeof(**ret), fill_lease, (void **) ret, ret_n, err);
}

int ipam_lookup_name(struct store *s, const char *network, const char *name, uint32_t *ret_ip)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    /* A workload's name first, then the aliases (names and aliases never clash on one network). */
    if (sqlite3_prepare_v2(store_db(s),
                           "SELECT ip FROM (SELECT ip, 0 AS k, seq FROM net_leases WHERE network = ?1"
                           " AND name = ?2 COLLATE NOCASE"
                           " UNION ALL SELECT l.ip, 1 AS k, l.seq FROM net_aliases a JOIN net_leases l"
                           " ON l.network = a.network AND l.workload = a.workload"
                           " WHERE a.network = ?1 AND a.alias = ?2 COLLATE NOCASE) ORDER BY k, seq LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, network, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_ip = (uint32_t) sqlite3_column_int64(st, 0);
        return 0;
    }
    return rc == SQLITE_DONE ? -ENOENT : store_errno(rc);
}

int ipam_lookup_name_via(struct store *s, const char *network, uint32_t client_ip, const char *name, uint32_t *ret_ip)
{
    /* me: the client's lease here; mine: its leases elsewhere; o: name on one of those. */
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db(s),
                           "SELECT o.ip FROM net_leases me"
                           " JOIN net_leases mine ON mine.workload = me.workload AND mine.network != me.network"
                           " JOIN net_leases o ON o.network = mine.network"
                           " WHERE me.network = ?1 AND me.ip = ?2 AND (o.name = ?3 COLLATE NOCASE OR EXISTS"
                           " (SELECT 1 FROM net_aliases a WHERE a.network = o.network AND a.workload = o.workload"
                           " AND a.alias = ?3 COLLATE NOCASE)) ORDER BY mine.seq, o.seq LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, network, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64) client_ip);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_ip = (uint32_t) sqlite3_column_int64(st, 0);
        return 0;
    }
    return rc == SQLITE_DONE ? -ENOENT : store_errno(rc);
}

int ipam_lookup_mac(struct store *s, const char *network, const char *mac, uint32_t *ret_ip,
                    char ret_name[NET_NAME_MAX])
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db(s), "SELECT ip, name FROM net_leases WHERE network = ? AND mac = ? COLLATE NOCASE",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, network, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, mac, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_ip = (uint32_t) sqlite3_column_int64(st, 0);
        copy_col(ret_name, NET_NAME_MAX, st, 1);
        return 0;
    }
    return rc == SQLITE_DONE ? -ENOENT : store_errno(rc);
}

static const char *proto_name(int proto)
{
    return proto == IPPROTO_UDP ? "udp" : "tcp";
}

int ipam_port_claim(struct store *s, const char *workload, const char *network, uint32_t ip,
                    const struct net_port *ports, size_t n, struct berth_error *err)
{
    if (n == 0)
        return 0;
    int r = store_begin(s, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        const struct net_port *p = &ports[i];
        /* An address-less claim (all host addresses) conflicts with every claim of that port, and
         * the reverse; two specific addresses conflict only when equal. */
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        r = store_prepare(s,
                          "SELECT workload, host_ip FROM net_ports WHERE host_port = ? AND proto = ?"
                          " AND (host_ip = ? OR host_ip = '' OR ? = '') LIMIT 1",
                          &st, err);
        if (r < 0)
            goto fail;
        sqlite3_bind_int(st, 1, p->host_port);
        sqlite3_bind_int(st, 2, p->proto);
        sqlite3_bind_text(st, 3, p->host_ip, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, p->host_ip, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *holder = (const char *) sqlite3_column_text(st, 0);
            r = berth_error_set(err, -EADDRINUSE, "host port %s%s%u/%s is already published by %s", p->host_ip,
                                p->host_ip[0] ? ":" : "", p->host_port, proto_name(p->proto), holder);
            goto fail;
        }
        _cleanup_stmt_ sqlite3_stmt *ins = NULL;
        r = store_prepare(s,
                          "INSERT INTO net_ports (host_ip, host_port, proto, port, workload, network, ip)"
                          " VALUES (?, ?, ?, ?, ?, ?, ?)",
                          &ins, err);
        if (r < 0)
            goto fail;
        sqlite3_bind_text(ins, 1, p->host_ip, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 2, p->host_port);
        sqlite3_bind_int(ins, 3, p->proto);
        sqlite3_bind_int(ins, 4, p->port);
        sqlite3_bind_text(ins, 5, workload, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 6, network, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 7, ip);
        r = step_done(s, ins, err);
        if (r < 0) {
            if (r == -EEXIST)
                r = berth_error_set(err, -EADDRINUSE, "host port %u/%s is listed twice", p->host_port,
                                    proto_name(p->proto));
            goto fail;
        }
    }
    return store_commit(s, err);
fail:
    store_rollback(s);
    return r;
}

int ipam_port_release(struct store *s, const char *workload, struct berth_error *err)
{
    return exec_q(s, "DELETE FROM net_ports WHERE workload = ?", workload, NULL, NULL, err);
}

int ipam_port_list(struct store *s, const char *workload, struct net_port_claim **ret, size_t *ret_n,
                   struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "SELECT host_ip, host_port, proto, port, workload, network, ip FROM net_ports"
                          " WHERE (?1 IS NULL OR workload = ?1) ORDER BY host_port",
                          &st, err);
    if (r < 0)
        return r;
    if (workload)
        sqlite3_bind_text(st, 1, workload, -1, SQLITE_STATIC);
    _cleanup_free_ struct net_port_claim *v = NULL;
    size_t n = 0, cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (ARRAY_RESERVE(v, cap, n + 1, 8) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
        struct net_port_claim *c = &v[n++];
        memset(c, 0, sizeof(*c));
        copy_col(c->port.host_ip, sizeof(c->port.host_ip), st, 0);
        c->port.host_port = (uint16_t) sqlite3_column_int(st, 1);
        c->port.proto = sqlite3_column_int(st, 2);
        c->port.port = (uint16_t) sqlite3_column_int(st, 3);
        copy_col(c->workload, sizeof(c->workload), st, 4);
        copy_col(c->network, sizeof(c->network), st, 5);
        c->ip = (uint32_t) sqlite3_column_int64(st, 6);
    }
    *ret = TAKE_PTR(v);
    *ret_n = n;
    return 0;
}

int ipam_check_alias(const char *alias, struct berth_error *err)
{
    /* The rules of container names (and of workload names on a network), so that an alias is a
     * name the resolver could have answered for a container. */
    return ipam_check_name("alias", alias, err);
}

static int alias_clash(struct store *s, const char *network, const char *workload, const char *alias,
                       struct berth_error *err)
{
    _cleanup_free_ char *holder = NULL;
    bool as_alias = false;
    int r = name_holder(s, network, workload, alias, &holder, &as_alias, err);
    if (r > 0)
        return berth_error_set(err, -EEXIST, "alias '%s' is already used on network '%s' by %s (%s)", alias, network,
                               holder, as_alias ? "an alias" : "its name");
    return r;
}

int ipam_alias_set(struct store *s, const char *network, const char *workload, const char *const *aliases, size_t n,
                   struct berth_error *err)
{
    for (size_t i = 0; i < n; i++) {
        int r = ipam_check_alias(aliases[i], err);
        if (r < 0)
            return r;
    }
    int r = store_begin(s, err);
    if (r < 0)
        return r;
    bool held;
    r = exists_q(s, "SELECT 1 FROM net_leases WHERE network = ? AND workload = ?", network, workload, -1, &held, err);
    if (r == 0 && !held)
        r = berth_error_set(err, -ENOENT, "%s is not attached to network '%s'", workload, network);
    if (r < 0)
        goto fail;
    r = exec_q(s, "DELETE FROM net_aliases WHERE network = ? AND workload = ?", network, workload, NULL, err);
    if (r < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        r = alias_clash(s, network, workload, aliases[i], err);
        /* OR IGNORE: the same alias twice (in any case) is one alias. */
        if (r == 0)
            r = exec_q(s, "INSERT OR IGNORE INTO net_aliases (network, workload, alias) VALUES (?, ?, ?)", network,
                       workload, aliases[i], err);
        if (r < 0)
            goto fail;
    }
    return store_commit(s, err);
fail:
    store_rollback(s);
    return r;
}

/* The first column of every row of st, as a strv in *ret (NULL when there is none). */
static int collect_texts(struct store *s, sqlite3_stmt *st, char ***ret, struct berth_error *err)
{
    _cleanup_strv_ char **v = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (strv_push(&v, (const char *) sqlite3_column_text(st, 0)) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
    if (rc != SQLITE_DONE)
        return berth_error_set(err, store_errno(rc), "state database: %s", sqlite3_errmsg(store_db(s)));
    *ret = TAKE_PTR(v);
    return 0;
}

int ipam_alias_list(struct store *s, const char *network, const char *workload, char ***ret, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s, "SELECT alias FROM net_aliases WHERE network = ? AND workload = ? ORDER BY rowid", &st,
                          err);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 1, network, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, workload, -1, SQLITE_STATIC);
    return collect_texts(s, st, ret, err);
}

int ipam_request_check(struct store *s, const struct net_network *nw, const char *workload, uint32_t want_ip,
                       const char *const *aliases, size_t n, struct berth_error *err)
{
    int r = want_ip ? check_want_ip(s, nw, workload, want_ip, err) : 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        r = ipam_check_alias(aliases[i], err);
        if (r == 0)
            r = alias_clash(s, nw->name, workload, aliases[i], err);
    }
    return r;
}

int ipam_reserve(struct store *s, const struct net_network *nw, const char *workload, const char *name,
                 const char *kind, uint32_t ip, const char *const *aliases, size_t n, struct berth_error *err)
{
    if (!workload || !*workload || strlen(workload) >= NET_WORKLOAD_MAX)
        return berth_error_set(err, -EINVAL, "workload id must be 1 to %d characters", NET_WORKLOAD_MAX - 1);
    int r = store_begin(s, err);
    if (r < 0)
        return r;
    r = ipam_request_check(s, nw, workload, ip, aliases, n, err);
    if (r == 0 && name && *name)
        r = name_clash(s, nw->name, workload, name, err);
    /* What it reserved on this network before is replaced by this request. */
    if (r == 0)
        r = ipam_unreserve(s, nw->name, workload, err);
    const char *holder = name && *name ? name : workload;
    if (r == 0 && name && *name)
        r = insert_reservation(s,
                               "INSERT INTO net_name_reservations (network, workload, name, kind)"
                               " VALUES (?, ?, ?, ?)",
                               nw->name, workload, name, kind, 0, err);
    /* OR IGNORE: the same alias twice (in any case) is one alias. */
    for (size_t i = 0; r == 0 && i < n; i++)
        r = insert_reservation(s,
                               "INSERT OR IGNORE INTO net_alias_reservations (network, workload, name, alias)"
                               " VALUES (?, ?, ?, ?)",
                               nw->name, workload, holder, aliases[i], 0, err);
    if (r == 0 && ip)
        r = insert_reservation(s,
                               "INSERT INTO net_reservations (network, workload, name, kind, ip, created)"
                               " VALUES (?, ?, ?, ?, ?, ?)",
                               nw->name, workload, holder, kind, ip, err);
    if (r < 0) {
        store_rollback(s);
        return r;
    }
    return store_commit(s, err);
}

int ipam_unreserve(struct store *s, const char *network, const char *workload, struct berth_error *err)
{
    /* ?1 NULL: on every network. */
    static const char *const sql[] = {
        "DELETE FROM net_reservations WHERE (?1 IS NULL OR network = ?1) AND workload = ?2",
        "DELETE FROM net_alias_reservations WHERE (?1 IS NULL OR network = ?1) AND workload = ?2",
        "DELETE FROM net_name_reservations WHERE (?1 IS NULL OR network = ?1) AND workload = ?2",
    };
    for (size_t i = 0; i < 3; i++) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = prepare_by(s, sql[i], network, workload, &st, err);
        if (r == 0)
            r = step_done(s, st, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int ipam_reservation_list(struct store *s, const char *network, const char *workload, struct net_reservation **ret,
                          size_t *ret_n, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare_by(s,
                       "SELECT network, workload, name, kind, ip FROM net_reservations"
                       " WHERE (?1 IS NULL OR network = ?1) AND (?2 IS NULL OR workload = ?2) ORDER BY network, ip",
                       network, workload, &st, err);
    return r < 0 ? r : collect_rows(s, st, sizeof(**ret), fill_reservation, (void **) ret, ret_n, err);
}

int ipam_reservation_holders(struct store *s, char ***ret, struct berth_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = store_prepare(s,
                          "SELECT workload FROM net_reservations UNION SELECT workload FROM net_alias_reservations"
                          " UNION SELECT workload FROM net_name_reservations ORDER BY 1",
                          &st, err);
    if (r < 0)
        return r;
    return collect_texts(s, st, ret, err);
}
