/*
 * cpus.h - the CPUs this process may use (affinity and cgroup CPU quota).
 * The public mp_cpus_usable is declared in <marcpipe/pool.h>.
 */
#ifndef MP_CPUS_H
#define MP_CPUS_H

#include <marcpipe/pool.h>

/* The cgroup CPU quota of this process (v2 cpu.max, v1 cfs quota/period;
 * the smallest from its cgroup up, rounded up), read under `root` ("" for
 * the system; tests pass a directory holding proc/self/{mountinfo,cgroup}
 * and the hierarchies): 0 when none is found. Reads files; any thread. */
unsigned mp__cgroup_cpu_limit(const char *root);

/* mp__cgroup_cpu_limit("") read once per process (0: none). Any thread. */
unsigned mp__cpus_quota(void);

#endif
