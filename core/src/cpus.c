/*
 * cpus.c - how many CPUs this process may use: its affinity mask, lowered
 * to its cgroup's CPU quota (containers: `docker run --cpus`, Kubernetes
 * CPU limits), as the JVM and Go's runtime read it.
 *
 * A quota is runtime per period for the cgroup and each of its ancestors:
 * cgroup v2 `cpu.max` ("max 100000" or "50000 100000"), cgroup v1
 * `cpu.cfs_quota_us` (-1: none) over `cpu.cfs_period_us`. The limit is the
 * smallest quota / period on the way up, rounded up (1.5 CPUs of quota let
 * two threads run at once for most of each period; 0.5 do not). Where the
 * hierarchies are mounted comes from /proc/self/mountinfo, the process's
 * place in them from /proc/self/cgroup (paths relative to the mount's
 * root, which inside a container is often the container's own cgroup).
 * Anything missing or unreadable means "no limit found".
 */
#include <limits.h>
#include <sched.h> /* sched_getaffinity, CPU_COUNT: _GNU_SOURCE from the build */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cpus.h"

#define MP__CG_PATH 1024

/* One hierarchy: where it is mounted, the cgroup path its mount shows as
 * "/", and this process's cgroup path in it. Empty strings: not found. */
typedef struct mp__cg {
    char mnt[MP__CG_PATH];
    char mroot[MP__CG_PATH];
    char path[MP__CG_PATH];
} mp__cg;

static int mp__has_token(const char *list, const char *tok)
{
    size_t n = strlen(tok);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, tok, n) == 0)
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* Copies a mountinfo path field, undoing its octal escapes (\040). */
static void mp__unescape(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (const char *p = src; *p && o + 1 < cap; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
            p[3] >= '0' && p[3] <= '7') {
            dst[o++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            dst[o++] = *p;
        }
    }
    dst[o] = 0;
}

static FILE *mp__open_under(const char *root, const char *path)
{
    char full[2 * MP__CG_PATH];
    if ((size_t)snprintf(full, sizeof full, "%s%s", root, path) >= sizeof full)
        return NULL;
    return fopen(full, "re");
}

/* Mount points of the v2 hierarchy and of the v1 hierarchy with "cpu". */
static void mp__cg_mounts(const char *root, mp__cg *v2, mp__cg *v1)
{
    FILE *f = mp__open_under(root, "/proc/self/mountinfo");
    char line[3 * MP__CG_PATH];
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        /* id parent maj:min root mountpoint options [optional...] - type source superoptions */
        char *field[5] = {0}, *save = NULL, *tok = strtok_r(line, " \n", &save);
        int i = 0;
        for (; tok && i < 5; i++, tok = strtok_r(NULL, " \n", &save))
            field[i] = tok;
        while (tok && strcmp(tok, "-") != 0)
            tok = strtok_r(NULL, " \n", &save);
        char *type = tok ? strtok_r(NULL, " \n", &save) : NULL;
        char *source = type ? strtok_r(NULL, " \n", &save) : NULL;
        char *super = source ? strtok_r(NULL, " \n", &save) : NULL;
        if (i < 5 || !type)
            continue;
        mp__cg *cg = NULL;
        if (strcmp(type, "cgroup2") == 0 && !v2->mnt[0])
            cg = v2;
        else if (strcmp(type, "cgroup") == 0 && super && mp__has_token(super, "cpu") && !v1->mnt[0])
            cg = v1;
        if (cg) {
            mp__unescape(cg->mroot, sizeof cg->mroot, field[3]);
            mp__unescape(cg->mnt, sizeof cg->mnt, field[4]);
        }
    }
    fclose(f);
}

/* This process's cgroup paths: v2 ("0::/path") and v1 with "cpu". */
static void mp__cg_paths(const char *root, mp__cg *v2, mp__cg *v1)
{
    FILE *f = mp__open_under(root, "/proc/self/cgroup");
    char line[MP__CG_PATH + 256];
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = 0;
        *c2 = 0;
        if (strcmp(line, "0") == 0 && c1[1] == 0)
            snprintf(v2->path, sizeof v2->path, "%s", c2 + 1);
        else if (mp__has_token(c1 + 1, "cpu"))
            snprintf(v1->path, sizeof v1->path, "%s", c2 + 1);
    }
    fclose(f);
}

static int mp__read_line(const char *root, const char *dir, const char *file, char *buf, size_t cap)
{
    char path[2 * MP__CG_PATH];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
        return 0;
    FILE *f = mp__open_under(root, path);
    if (!f)
        return 0;
    int ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    return ok;
}

/* CPUs allowed by the quota in one directory of a hierarchy: 0 none. */
static unsigned mp__quota_in(const char *root, const char *dir, int v2)
{
    char a[128], b[128];
    long long quota = -1, period = 0;
    if (v2) {
        if (!mp__read_line(root, dir, "cpu.max", a, sizeof a))
            return 0;
        if (strncmp(a, "max", 3) == 0 || sscanf(a, "%lld %lld", &quota, &period) != 2)
            return 0;
    } else {
        if (!mp__read_line(root, dir, "cpu.cfs_quota_us", a, sizeof a) ||
            !mp__read_line(root, dir, "cpu.cfs_period_us", b, sizeof b))
            return 0;
        if (sscanf(a, "%lld", &quota) != 1 || sscanf(b, "%lld", &period) != 1)
            return 0;
    }
    if (quota <= 0 || period <= 0)
        return 0;
    long long n = (quota + period - 1) / period;
    return n > 65536 ? 65536u : (unsigned)n;
}

/* The smallest quota from the process's cgroup up to its mount: 0 none. */
static unsigned mp__cg_limit(const char *root, const mp__cg *cg, int v2)
{
    if (!cg->mnt[0] || !cg->path[0])
        return 0;
    /* The process's path without the mount's root ("/" shows everything). */
    const char *rel = cg->path;
    size_t rl = strlen(cg->mroot);
    if (strcmp(cg->mroot, "/") != 0) {
        if (strcmp(rel, "/") == 0)
            rel = ""; /* a cgroup namespace: its root is what the mount shows */
        else if (strncmp(rel, cg->mroot, rl) == 0 && (rel[rl] == 0 || rel[rl] == '/'))
            rel += rl;
        else
            return 0; /* its cgroup is outside what this mount shows */
    }
    char dir[2 * MP__CG_PATH];
    if ((size_t)snprintf(dir, sizeof dir, "%s%s", cg->mnt, rel) >= sizeof dir)
        return 0;
    size_t mnt_len = strlen(cg->mnt), n = strlen(dir);
    while (n > mnt_len && dir[n - 1] == '/')
        dir[--n] = 0;
    unsigned best = 0;
    for (;;) { /* this cgroup, then each parent up to the mount's root */
        unsigned q = mp__quota_in(root, dir, v2);
        if (q && (!best || q < best))
            best = q;
        if (n <= mnt_len)
            break;
        char *slash = strrchr(dir, '/');
        n = slash && (size_t)(slash - dir) > mnt_len ? (size_t)(slash - dir) : mnt_len;
        dir[n] = 0;
    }
    return best;
}

unsigned mp__cgroup_cpu_limit(const char *root)
{
    mp__cg *cg = calloc(2, sizeof *cg); /* [0] v2, [1] v1; ~6 KiB, not on the caller's stack */
    if (!cg)
        return 0;
    mp__cg_mounts(root, &cg[0], &cg[1]);
    mp__cg_paths(root, &cg[0], &cg[1]);
    unsigned a = mp__cg_limit(root, &cg[0], 1), b = mp__cg_limit(root, &cg[1], 0);
    free(cg);
    return a && b ? (a < b ? a : b) : (a ? a : b);
}

/* The process's quota, read once: UINT_MAX until the first reader is done
 * (then 0: none, or the CPUs). Written by that reader, read by everyone;
 * mp__cg_reading (0 -> 1 once) elects the reader. */
static _Atomic unsigned mp__cg_cached = UINT_MAX;
static _Atomic int mp__cg_reading;

unsigned mp__cpus_quota(void)
{
    /* relaxed: a memo of a plain number, nothing else published with it */
    unsigned v = atomic_load_explicit(&mp__cg_cached, memory_order_relaxed);
    if (v != UINT_MAX)
        return v;
    /* relaxed: only elects the reader; the others see "no limit" until it is
     * done (a hint: speed only) */
    if (atomic_exchange_explicit(&mp__cg_reading, 1, memory_order_relaxed) != 0)
        return 0;
    v = mp__cgroup_cpu_limit("");
    /* relaxed: see the load above */
    atomic_store_explicit(&mp__cg_cached, v, memory_order_relaxed);
    return v;
}

MP_EXPORT unsigned mp_cpus_usable(void)
{
    unsigned n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = (unsigned)CPU_COUNT(&set);
    if (n == 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 ? (unsigned)online : 1;
    }
    unsigned q = mp__cpus_quota();
    return q && q < n ? q : n;
}
