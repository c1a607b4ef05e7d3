/* marcpipe/marcpipe.h - umbrella header. */
#ifndef MARCPIPE_MARCPIPE_H
#define MARCPIPE_MARCPIPE_H
#include <marcpipe/common.h>
#include <marcpipe/pool.h>
#include <marcpipe/stats.h>
#include <marcpipe/record.h>
#include <marcpipe/reader.h>
#include <marcpipe/build.h>
#include <marcpipe/write.h>
#include <marcpipe/split.h>
#endif
