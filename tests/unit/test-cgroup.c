/* cgroup manager: path resolution and resource translation, without touching real cgroups. */
#include <errno.h>
#include <linux/bpf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "runtime/cgroup-internal.h"

static void expect_path(const char *cgroups_path, const char *id, int version, const char *own, const char *want)
{
    struct berth_error err = { 0 };
    _cleanup_free_ char *p = NULL;
    assert_int_equal(cgroup_resolve_path(cgroups_path, id, version, own, &p, &err), 0);
    assert_string_equal(p, want);
}

static void test_resolve_paths(void **state)
{
    expect_path(NULL, "c1", 1, "/user", "/berth/c1");
    expect_path("", "c1", 2, "/user", "/berth/c1");
    expect_path("/libpod_parent/libpod-abc", "x", 1, "/own", "/libpod_parent/libpod-abc");
    expect_path("//a///b/", "x", 2, "/own", "/a/b");
    /* Relative: under our own cgroup on v1, beside it on v2. */
    expect_path("ctr/one", "x", 1, "/process_api/abc", "/process_api/abc/ctr/one");
    expect_path("ctr/one", "x", 2, "/user.slice/session-1.scope", "/user.slice/ctr/one");
    expect_path("ctr", "x", 2, "/", "/ctr");
    expect_path("ctr", "x", 1, NULL, "/ctr");

    struct berth_error err = { 0 };
    char *p = NULL;
    assert_int_equal(cgroup_resolve_path("/a/../../etc", "x", 1, "/", &p, &err), -EINVAL);
    assert_null(p);
    assert_non_null(strstr(err.msg, "'..'"));
    berth_error_clear(&err);
    assert_int_equal(cgroup_resolve_path(NULL, "../x", 1, "/", &p, &err), -EINVAL);
    berth_error_clear(&err);
    assert_int_equal(cgroup_resolve_path("/", "x", 1, "/", &p, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "root cgroup"));
}

static void test_systemd_paths(void **state)
{
    struct berth_error err = { 0 };
    _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
    assert_int_equal(cgroup_expand_slice("a-b-c.slice", &a, &err), 0);
    assert_string_equal(a, "/a.slice/a-b.slice/a-b-c.slice");
    assert_int_equal(cgroup_expand_slice("-.slice", &b, &err), 0);
    assert_string_equal(b, "");
    assert_int_equal(cgroup_systemd_path("machine.slice:libpod:abc", &c, &err), 0);
    assert_string_equal(c, "/machine.slice/libpod-abc.scope");
    assert_int_equal(cgroup_systemd_path(":crio:xyz", &d, &err), 0);
    assert_string_equal(d, "/system.slice/crio-xyz.scope");
    assert_int_equal(cgroup_systemd_path("kubepods-besteffort.slice::pod1.slice", &e, &err), 0);
    assert_string_equal(e, "/kubepods.slice/kubepods-besteffort.slice/pod1.slice");

    char *x = NULL;
    assert_int_equal(cgroup_systemd_path("only:two", &x, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "slice:prefix:name"));
    berth_error_clear(&err);
    assert_int_equal(cgroup_expand_slice("bad--name.slice", &x, &err), -EINVAL);
    berth_error_clear(&err);
    assert_int_equal(cgroup_expand_slice("noslice", &x, &err), -EINVAL);
    berth_error_clear(&err);
    assert_int_equal(cgroup_systemd_path("a/b.slice:p:n", &x, &err), -EINVAL);
    assert_null(x);
}

static void test_proc_cgroup_parse(void **state)
{
    const char *text = "9:name=systemd:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/x\n0::/user.slice\n";
    _cleanup_free_ char *mem = NULL, *cpu = NULL, *acct = NULL, *v2 = NULL;
    assert_int_equal(cgroup_parse_proc_cgroup(text, "memory", &mem), 0);
    assert_string_equal(mem, "/process_api/abc");
    assert_int_equal(cgroup_parse_proc_cgroup(text, "cpu", &cpu), 0);
    assert_string_equal(cpu, "/x");
    assert_int_equal(cgroup_parse_proc_cgroup(text, "cpuacct", &acct), 0);
    assert_string_equal(acct, "/x");
    assert_int_equal(cgroup_parse_proc_cgroup(text, NULL, &v2), 0);
    assert_string_equal(v2, "/user.slice");
    char *none = NULL;
    assert_int_equal(cgroup_parse_proc_cgroup(text, "pids", &none), -ENOENT);
    assert_int_equal(cgroup_parse_proc_cgroup("4:memory:/a\n", NULL, &none), -ENOENT);
}

static void test_conversions(void **state)
{
    assert_int_equal(cgroup_shares_to_weight(0), 0);
    assert_int_equal(cgroup_shares_to_weight(2), 1);
    assert_int_equal(cgroup_shares_to_weight(1024), 39);
    assert_int_equal(cgroup_shares_to_weight(262144), 10000);
    assert_int_equal(cgroup_shares_to_weight(1000000), 10000);
    assert_int_equal(cgroup_blkio_to_io_weight(10), 1);
    assert_int_equal(cgroup_blkio_to_io_weight(500), 4950);
    assert_int_equal(cgroup_blkio_to_io_weight(1000), 10000);

    struct berth_error err = { 0 };
    char buf[32];
    assert_int_equal(cgroup_swap_to_v2(100, 0, buf, sizeof(buf), &err), 1);
    assert_int_equal(cgroup_swap_to_v2(100, -1, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "max");
    assert_int_equal(cgroup_swap_to_v2(100 << 20, 300 << 20, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "209715200");
    assert_int_equal(cgroup_swap_to_v2(100, 100, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "0");
    assert_int_equal(cgroup_swap_to_v2(200, 100, buf, sizeof(buf), &err), -EINVAL);
    assert_non_null(strstr(err.msg, "must not be lower"));
    berth_error_clear(&err);
    assert_int_equal(cgroup_swap_to_v2(0, 100, buf, sizeof(buf), &err), -EINVAL);
    berth_error_clear(&err);
    assert_int_equal(cgroup_swap_to_v2(-1, 100, buf, sizeof(buf), &err), -EINVAL);

    assert_true(cgroup_hugepage_size_valid("2MB"));
    assert_true(cgroup_hugepage_size_valid("1GB"));
    assert_true(cgroup_hugepage_size_valid("64KB"));
    assert_false(cgroup_hugepage_size_valid("MB"));
    assert_false(cgroup_hugepage_size_valid("2MB/../x"));
    assert_false(cgroup_hugepage_size_valid("2mb"));
}

static json_t *parse(const char *s)
{
    json_t *j = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(json_load_buffer(s, strlen(s), "test", &j, &err), 0);
    return j;
}

static void test_resources_parse(void **state)
{
    _cleanup_json_ json_t *j = parse(
        "{\"memory\":{\"limit\":104857600,\"swap\":209715200,\"swappiness\":10,\"disableOOMKiller\":true},"
        "\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000,\"cpus\":\"0\"},"
        "\"pids\":{\"limit\":32},"
        "\"blockIO\":{\"weight\":300,\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0,\"rate\":1048576}]},"
        "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":0}],"
        "\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rw\"}],"
        "\"unified\":{\"memory.high\":\"50M\"}}");
    struct cgroup_resources r;
    struct berth_error err = { 0 };
    assert_int_equal(cgroup_resources_parse(j, &r, &err), 0);
    assert_int_equal(r.mem_limit, 104857600);
    assert_int_equal(r.mem_swap, 209715200);
    assert_true(r.has_swappiness);
    assert_int_equal(r.swappiness, 10);
    assert_true(r.disable_oom);
    assert_int_equal(r.cpu_shares, 512);
    assert_int_equal(r.cpu_quota, 50000);
    assert_string_equal(r.cpus, "0");
    assert_true(r.has_pids);
    assert_int_equal(r.pids_limit, 32);
    assert_int_equal(r.blkio_weight, 300);
    assert_int_equal(r.n_throttle[CG_THROTTLE_READ_BPS], 1);
    assert_int_equal(r.throttle[CG_THROTTLE_READ_BPS][0].value, 1048576);
    assert_int_equal(r.n_hugepages, 1);
    assert_string_equal(r.hugepages[0].size, "2MB");
    assert_int_equal(r.n_devices, 2 + 12); /* the default allowed devices follow */
    char rule[64];
    cgroup_dev_rule_format(&r.devices[0], rule, sizeof(rule));
    assert_string_equal(rule, "a *:* rwm");
    cgroup_dev_rule_format(&r.devices[1], rule, sizeof(rule));
    assert_string_equal(rule, "c 1:3 rw");

    struct bpf_insn *prog = NULL;
    size_t n = 0;
    assert_int_equal(cgroup_v2_devices_program(r.devices, r.n_devices, &prog, &n), 0);
    assert_true(n > 8);
    assert_int_equal(prog[n - 1].code, BPF_JMP | BPF_EXIT);
    free(prog);
    cgroup_resources_done(&r);
}

static void expect_bad(const char *json, const char *needle)
{
    _cleanup_json_ json_t *j = parse(json);
    struct cgroup_resources r;
    struct berth_error err = { 0 };
    assert_true(cgroup_resources_parse(j, &r, &err) < 0);
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

static void test_resources_bad(void **state)
{
    expect_bad("{\"memory\":{\"limit\":\"lots\"}}", "linux.resources.memory.limit");
    expect_bad("{\"memory\":{\"limit\":-5}}", "memory.limit");
    expect_bad("{\"memory\":{\"limit\":200,\"swap\":100}}", "must not be lower");
    expect_bad("{\"memory\":{\"swappiness\":101}}", "swappiness");
    expect_bad("{\"cpu\":{\"period\":5}}", "cpu.period");
    expect_bad("{\"pids\":{}}", "pids.limit");
    expect_bad("{\"blockIO\":{\"weight\":5}}", "blockIO.weight");
    expect_bad("{\"blockIO\":{\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0}]}}", "rate is required");
    expect_bad("{\"hugepageLimits\":[{\"pageSize\":\"../x\",\"limit\":1}]}", "pageSize");
    expect_bad("{\"devices\":[{\"allow\":true,\"type\":\"x\"}]}", "devices[0].type");
    expect_bad("{\"devices\":[{\"type\":\"c\"}]}", "devices[0].allow");
    expect_bad("{\"devices\":[{\"allow\":true,\"access\":\"rwx\"}]}", "access");
    expect_bad("{\"unified\":{\"../../etc/passwd\":\"x\"}}", "not a cgroup file name");
    expect_bad("{\"unified\":{\"memory.high\":5}}", "unified.memory.high");
    expect_bad("{\"rdma\":{\"mlx5_0\":{\"hcaHandles\":3}}}", "rdma");
}

static void test_state_json_rejects_bad_paths(void **state)
{
    struct berth_error err = { 0 };
    struct cgroup_manager *m = NULL;
    _cleanup_json_ json_t *bad = parse("{\"version\":2,\"root\":\"/sys/fs/cgroup\",\"path\":\"/a/../../etc\"}");
    assert_int_equal(cgroup_manager_from_json(bad, &m, &err), -EINVAL);
    assert_null(m);
    _cleanup_json_ json_t *good = parse("{\"version\":2,\"root\":\"/tmp/x\",\"path\":\"/berth/c\",\"created\":2}");
    assert_int_equal(cgroup_manager_from_json(good, &m, &err), 0);
    _cleanup_json_ json_t *back = cgroup_manager_to_json(m);
    assert_non_null(back);
    assert_string_equal(json_string_value(json_object_get(back, "path")), "/berth/c");
    assert_int_equal(json_integer_value(json_object_get(back, "created")), 2);
    cgroup_manager_free(m);
}

/* v2 statistics from fixture files shaped like a real cgroup2 directory (this host has none). */
static void test_v2_stats_fixtures(void **state)
{
    struct cgroup_stats s = { .memory_limit = UINT64_MAX, .pids_limit = UINT64_MAX };
    assert_int_equal(cgroup_v2_read_stats(BERTH_TEST_FIXTURES "/cgroup-v2/limited", &s), 0);
    assert_int_equal(s.cpu_usage_ns, UINT64_C(2503117000));
    assert_int_equal(s.memory_usage, 52781056);
    assert_int_equal(s.memory_limit, 200 << 20);
    assert_int_equal(s.memory_cache, 1167360);
    assert_int_equal(s.pids_current, 3);
    assert_int_equal(s.pids_limit, 50);
    assert_int_equal(s.io_read_bytes, 1048576 + 4096); /* summed over both devices */
    assert_int_equal(s.io_write_bytes, 4194304);

    struct cgroup_stats u = { .memory_limit = UINT64_MAX, .pids_limit = UINT64_MAX };
    assert_int_equal(cgroup_v2_read_stats(BERTH_TEST_FIXTURES "/cgroup-v2/unlimited", &u), 0);
    assert_int_equal(u.cpu_usage_ns, 41000);
    assert_int_equal(u.memory_usage, 4096);
    assert_true(u.memory_limit == UINT64_MAX);
    assert_true(u.pids_limit == UINT64_MAX);
    assert_int_equal(u.pids_current, 1);

    /* a directory without the files leaves everything as it was */
    struct cgroup_stats e = { .memory_limit = UINT64_MAX, .pids_limit = 7 };
    assert_int_equal(cgroup_v2_read_stats(BERTH_TEST_FIXTURES "/cgroup-v2/no-such-dir", &e), 0);
    assert_int_equal(e.cpu_usage_ns, 0);
    assert_int_equal(e.pids_limit, 7);
}

static void test_io_parse(void **state)
{
    uint64_t rd = 1, wr = 1;
    cgroup_parse_io_v1("8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Total 12288\n254:0 Read 100\n"
                       "254:0 Write 0\nTotal 12388\n", &rd, &wr);
    assert_int_equal(rd, 4196);
    assert_int_equal(wr, 8192);
    cgroup_parse_io_v1("Total 0\n", &rd, &wr);
    assert_int_equal(rd, 0);
    assert_int_equal(wr, 0);
    cgroup_parse_io_v2("", &rd, &wr);
    assert_int_equal(rd + wr, 0);
    cgroup_parse_io_v2("8:16 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0", &rd, &wr);
    assert_int_equal(rd, 10);
    assert_int_equal(wr, 20);
}

static void test_stat_field(void **state)
{
    uint64_t v = 0;
    const char *text = "total_inactive_file 5\ninactive_file 12\nfile 9\n";
    assert_int_equal(cgroup_stat_field(text, "inactive_file", &v), 0);
    assert_int_equal(v, 12); /* whole key, not a suffix of total_inactive_file */
    assert_int_equal(cgroup_stat_field(text, "total_inactive_file", &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(cgroup_stat_field(text, "fil", &v), -ENOENT);
    assert_int_equal(cgroup_stat_field("file x\n", "file", &v), -EINVAL);
    assert_int_equal(cgroup_stat_field("", "file", &v), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_paths),
        cmocka_unit_test(test_v2_stats_fixtures),
        cmocka_unit_test(test_stat_field),
        cmocka_unit_test(test_io_parse),
        cmocka_unit_test(test_systemd_paths),
        cmocka_unit_test(test_proc_cgroup_parse),
        cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_resources_parse),
        cmocka_unit_test(test_resources_bad),
        cmocka_unit_test(test_state_json_rejects_bad_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
