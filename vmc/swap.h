/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: the `swap` verb group (vmc/swap.c). */
#pragma once

#include "vmc/vmc.h"

/* vmc swap enable|force-enable|disable|status NAME [--json]: SwapVm, and GetVmSwapStatus for
 * status. argv[0] is "swap". */
int verb_swap(Vmc *vmc, int argc, char **argv);
