/* /etc/hosts and /etc/resolv.conf written into a rootfs: contents, and a hostile symlink is
 * replaced rather than followed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fs.h"
#include "net/attach.h"

static struct net_attachment sample(void)
{
    struct net_attachment a;
    memset(&a, 0, sizeof(a));
    strcpy(a.network, "berth");
    strcpy(a.ip, "10.89.0.7");
    strcpy(a.dns, "10.89.0.1");
    strcpy(a.gateway, "10.89.0.1");
    strcpy(a.search, "berth");
    return a;
}

static void test_format(void **state)
{
    struct net_attachment a = sample();
    char *hosts = NULL, *resolv = NULL;
    assert_int_equal(net_format_hosts(&a, 1, "web", &hosts), 0);
    assert_non_null(strstr(hosts, "127.0.0.1\tlocalhost\n"));
    assert_non_null(strstr(hosts, "10.89.0.7\tweb.berth web\n"));
    assert_int_equal(net_format_resolv_conf(&a, 1, &resolv), 0);
    assert_non_null(strstr(resolv, "nameserver 10.89.0.1\n"));
    assert_non_null(strstr(resolv, "search berth\n"));
    free(hosts);
    free(resolv);
}

static void test_write_does_not_follow_symlinks(void **state)
{
    char dir[] = "/tmp/berth-test-etc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char rootfs[128], outside[128], etc[160], link[192], buf[256];
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", dir);
    snprintf(outside, sizeof(outside), "%s/outside", dir);
    snprintf(etc, sizeof(etc), "%s/etc", rootfs);
    assert_int_equal(fs_mkdir_p(etc, 0755), 0);
    FILE *f = fopen(outside, "w");
    fputs("precious\n", f);
    fclose(f);
    snprintf(link, sizeof(link), "%s/hosts", etc);
    assert_int_equal(symlink(outside, link), 0);
    struct net_attachment a = sample();
    struct berth_error err = { 0 };
    assert_int_equal(net_write_etc_files(rootfs, &a, 1, "web", &err), 0);
    f = fopen(outside, "r");
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "precious\n");
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    char *data = NULL;
    size_t len;
    snprintf(link, sizeof(link), "%s/resolv.conf", etc);
    assert_int_equal(fs_read_file(link, 4096, &data, &len, &err), 0);
    assert_non_null(strstr(data, "nameserver 10.89.0.1"));
    free(data);
    /* A rootfs without etc/ gets one. */
    char bare[160];
    snprintf(bare, sizeof(bare), "%s/bare", dir);
    assert_int_equal(fs_mkdir_p(bare, 0755), 0);
    assert_int_equal(net_write_etc_files(bare, &a, 1, "web", &err), 0);
    assert_int_equal(fs_rm_rf(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_write_does_not_follow_symlinks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
