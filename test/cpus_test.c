/* cpus_test.c - usable CPUs: cgroup v1 / v2 CPU quotas read from fake
 * /proc and /sys trees (mp__cgroup_cpu_limit under a root directory). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <marcpipe/pool.h>
#include "cpus.h"

static char g_root[256];

/* mkdir -p of root + path's directory part, then writes text to it. */
static void put(const char *path, const char *fmt, ...)
{
    char full[1024];
    snprintf(full, sizeof full, "%s%s", g_root, path);
    for (char *s = full + strlen(g_root) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = 0;
        cr_assert(mkdir(full, 0755) == 0 || errno == EEXIST, "mkdir %s", full);
        *s = '/';
    }
    FILE *f = fopen(full, "w");
    cr_assert_not_null(f, "%s", full);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

static void fresh_root(void)
{
    snprintf(g_root, sizeof g_root, "/tmp/mp-cpus-test.XXXXXX");
    cr_assert_not_null(mkdtemp(g_root));
}

static void drop_root(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    cr_assert_eq(system(cmd), 0);
}

/* A host with cgroup v2 at /sys/fs/cgroup, the process in /a/b. */
static void v2_host(void)
{
    put("/proc/self/mountinfo",
        "22 1 0:21 / / rw,relatime - ext4 /dev/vda1 rw\n"
        "30 22 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n");
    put("/proc/self/cgroup", "0::/a/b\n");
}

Test(cpus, no_cgroup_files_means_no_limit, .timeout = 10)
{
    fresh_root();
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 0);
    v2_host(); /* mounts and membership, but no cpu.max anywhere */
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 0);
    put("/sys/fs/cgroup/a/b/cpu.max", "max 100000\n");
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 0, "\"max\" is no limit");
    drop_root();
}

Test(cpus, v2_quota_rounds_up_and_the_smallest_ancestor_wins, .timeout = 10)
{
    fresh_root();
    v2_host();
    put("/sys/fs/cgroup/a/b/cpu.max", "50000 100000\n");
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 1, "half a CPU: one");
    put("/sys/fs/cgroup/a/b/cpu.max", "150000 100000\n");
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 2, "1.5 CPUs: two");
    put("/sys/fs/cgroup/a/b/cpu.max", "400000 100000\n");
    put("/sys/fs/cgroup/a/cpu.max", "300000 100000\n");
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 3, "the parent's limit is lower");
    put("/sys/fs/cgroup/a/b/cpu.max", "max 100000\n");
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 3, "no limit of its own: the parent's");
    put("/sys/fs/cgroup/cpu.max", "100000 100000\n");
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 1, "up to the mount's root");
    drop_root();
}

Test(cpus, v2_in_a_container_namespace, .timeout = 10)
{
    /* Inside a container the mount shows the container's cgroup as "/"
     * (mount root /docker/c1) and /proc/self/cgroup says "0::/". */
    fresh_root();
    put("/proc/self/mountinfo",
        "700 600 0:26 /docker/c1 /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n");
    put("/proc/self/cgroup", "0::/\n");
    put("/sys/fs/cgroup/cpu.max", "200000 100000\n");
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 2);
    /* A host-side view: the path carries the mount's root as a prefix. */
    put("/proc/self/cgroup", "0::/docker/c1/job\n");
    put("/sys/fs/cgroup/job/cpu.max", "100000 100000\n");
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 1);
    /* A path outside what the mount shows: no limit can be read. */
    put("/proc/self/cgroup", "0::/other\n");
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 0);
    drop_root();
}

Test(cpus, v1_cfs_quota, .timeout = 10)
{
    fresh_root();
    put("/proc/self/mountinfo",
        "22 1 0:21 / / rw - ext4 /dev/vda1 rw\n"
        "31 22 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "32 22 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n");
    put("/proc/self/cgroup", "4:memory:/x\n3:cpu,cpuacct:/k8s/pod1\n0::/\n");
    put("/sys/fs/cgroup/cpu,cpuacct/k8s/pod1/cpu.cfs_quota_us", "-1\n");
    put("/sys/fs/cgroup/cpu,cpuacct/k8s/pod1/cpu.cfs_period_us", "100000\n");
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 0, "-1: no quota");
    put("/sys/fs/cgroup/cpu,cpuacct/k8s/pod1/cpu.cfs_quota_us", "250000\n");
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 3, "2.5 CPUs: three");
    put("/sys/fs/cgroup/cpu,cpuacct/k8s/cpu.cfs_quota_us", "50000\n");
    put("/sys/fs/cgroup/cpu,cpuacct/k8s/cpu.cfs_period_us", "100000\n");
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 1, "the parent's half CPU");
    drop_root();
}

Test(cpus, mount_points_with_escaped_spaces, .timeout = 10)
{
    fresh_root();
    put("/proc/self/mountinfo", "30 22 0:26 / /sys/fs/cg\\040two rw - cgroup2 cgroup2 rw\n");
    put("/proc/self/cgroup", "0::/a\n");
    put("/sys/fs/cg two/a/cpu.max", "100000 100000\n");
    cr_assert_eq(mp__cgroup_cpu_limit(g_root), 1);
    drop_root();
}

Test(cpus, usable_is_at_least_one_and_at_most_the_affinity, .timeout = 10)
{
    unsigned n = mp_cpus_usable();
    cr_assert_geq(n, 1);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online > 0)
        cr_assert_leq(n, (unsigned)online);
    unsigned q = mp__cpus_quota();
    if (q)
        cr_assert_leq(n, q, "a quota of %u CPUs", q);
}
