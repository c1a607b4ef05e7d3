/*
 * core_sees_core.c - control probe of the layering tests (test/CMakeLists.txt):
 * with core's flags, core's public and private headers compile.
 */
#include <marcpipe/pool.h>
#include "alloc.h"
#include "pipe.h"

int mp__probe_core_sees_core(void);

int mp__probe_core_sees_core(void)
{
    return MP_OK;
}
