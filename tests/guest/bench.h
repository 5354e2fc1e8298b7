/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test guest benchmarks, run in ring 3 (see bench.c). */
#pragma once

/* faultbench <mib> [seq|rand] [<off-mib>]: time the first access to each heap page of the range
 * with rdtsc; replies through reply(). */
void cmd_faultbench(const char *args, void (*reply)(const char *fmt, ...));
