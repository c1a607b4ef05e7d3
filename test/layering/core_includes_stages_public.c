/*
 * core_includes_stages_public.c - layering probe (test/CMakeLists.txt):
 * with core's flags, a public stages/ header must not be found.
 */
#include <marcpipe/reader.h>

int mp__probe_core_includes_stages_public(void);

int mp__probe_core_includes_stages_public(void)
{
    return MP_OK;
}
