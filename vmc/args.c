/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: argument parsing of the verbs that take options (start, wait) and of numbers. No bus. */
#include <getopt.h>
#include <inttypes.h>

#include "proto/concierge_service.pb-c.h"
#include "vmc/vmc.h"

int vmc_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
        uint64_t v = 0;

        if (!s || !*s || !ret)
                return -EINVAL;
        /* Digits only: strtoull would take signs, spaces and wrap "-1" around. */
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int vmc_parse_seconds(const char *s, uint64_t *ret_usec)
{
        static const uint64_t day = UINT64_C(86400);
        _cleanup_free_ char *whole = NULL;
        const char *dot;
        uint64_t sec, frac = 0;
        int r;

        if (!s || !ret_usec)
                return -EINVAL;
        dot = strchr(s, '.');
        whole = dot ? strndup(s, (size_t)(dot - s)) : strdup(s);
        if (!whole)
                return -ENOMEM;
        r = vmc_parse_uint(whole, 0, day, &sec);
        if (r < 0)
                return r;
        if (dot) {
                uint64_t scale = USEC_PER_SEC;
                const char *p = dot + 1;

                if (!*p)
                        return -EINVAL;
                for (; *p; p++) {
                        if (*p < '0' || *p > '9')
                                return -EINVAL;
                        scale /= 10; /* digits beyond µs are dropped */
                        frac += (uint64_t)(*p - '0') * scale;
                }
        }
        if (sec == day && frac > 0)
                return -ERANGE;
        *ret_usec = sec * USEC_PER_SEC + frac;
        return 0;
}

int vmc_parse_vm_type(const char *s)
{
        static const struct {
                const char *name;
                int type;
        } types[] = {
                {"termina", VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__TERMINA},
                {"arcvm", VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__ARC_VM},
                {"plugin", VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__PLUGIN_VM},
        };

        for (size_t i = 0; s && i < ELEMENTSOF(types); i++)
                if (streq(types[i].name, s))
                        return types[i].type;
        return -EINVAL;
}

/* getopt_long() state is global: every verb parse starts afresh and reports errors itself. */
static void getopt_reset(void)
{
        optind = 0;
        opterr = 0;
}

static int unknown_option(const char *verb, int argc, char **argv)
{
        const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

        return vmc_usage_error("%s: unknown option, or a missing or unexpected option argument, in '%s'",
                               verb, arg);
}

void vmc_start_args_done(VmcStartArgs *a)
{
        if (!a)
                return;
        free(a->kernel_params);
        *a = (VmcStartArgs){};
}

int vmc_start_args_parse(int argc, char **argv, VmcStartArgs *ret)
{
        enum {
                ARG_KERNEL = 0x100,
                ARG_INITRD,
                ARG_MEM,
                ARG_CPUS,
                ARG_CMDLINE,
                ARG_BALLOON,
                ARG_SWAP,
                ARG_TYPE
        };
        static const struct option options[] = {
                {"kernel", required_argument, NULL, ARG_KERNEL},
                {"initrd", required_argument, NULL, ARG_INITRD},
                {"mem", required_argument, NULL, ARG_MEM},
                {"cpus", required_argument, NULL, ARG_CPUS},
                {"cmdline", required_argument, NULL, ARG_CMDLINE},
                {"enable-balloon", no_argument, NULL, ARG_BALLOON},
                {"enable-vmm-swap", no_argument, NULL, ARG_SWAP},
                {"vm-type", required_argument, NULL, ARG_TYPE},
                {},
        };
        _cleanup_(vmc_start_args_done) VmcStartArgs a = {};
        uint64_t v;
        int c;

        if (!ret)
                return VMC_EXIT_USAGE;
        /* Every --cmdline fits in argc entries. */
        a.kernel_params = calloc((size_t)MAX(argc, 1), sizeof(*a.kernel_params));
        if (!a.kernel_params)
                return vmc_error("out of memory");

        getopt_reset();
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case ARG_KERNEL:
                        if (!*optarg)
                                return vmc_usage_error("start: --kernel needs a path");
                        a.kernel = optarg;
                        break;
                case ARG_INITRD:
                        if (!*optarg)
                                return vmc_usage_error("start: --initrd needs a path");
                        a.initrd = optarg;
                        break;
                case ARG_MEM:
                        if (vmc_parse_uint(optarg, 1, VMC_MEM_MIB_MAX, &v) < 0)
                                return vmc_usage_error("start: --mem takes MiB, 1..%" PRIu32 ", got '%s'",
                                                       VMC_MEM_MIB_MAX, optarg);
                        a.mem_mib = (uint32_t)v;
                        break;
                case ARG_CPUS:
                        if (vmc_parse_uint(optarg, 1, VMC_CPUS_MAX, &v) < 0)
                                return vmc_usage_error("start: --cpus takes a count, 1..%d, got '%s'",
                                                       VMC_CPUS_MAX, optarg);
                        a.cpus = (uint32_t)v;
                        break;
                case ARG_CMDLINE:
                        if (!*optarg)
                                return vmc_usage_error("start: --cmdline needs a string");
                        a.kernel_params[a.n_kernel_params++] = optarg;
                        break;
                case ARG_BALLOON:
                        a.enable_balloon = true;
                        break;
                case ARG_SWAP:
                        a.enable_vmm_swap = true;
                        break;
                case ARG_TYPE:
                        a.vm_type = vmc_parse_vm_type(optarg);
                        if (a.vm_type < 0)
                                return vmc_usage_error(
                                        "start: --vm-type is termina, arcvm or plugin, got '%s'", optarg);
                        break;
                default:
                        return unknown_option("start", argc, argv);
                }
        }

        if (optind >= argc)
                return vmc_usage_error("usage: vmc start NAME --kernel PATH [--initrd PATH] [--mem MiB] "
                                       "[--cpus N] [--cmdline STR] [--enable-balloon] [--enable-vmm-swap] "
                                       "[--vm-type termina|arcvm|plugin]");
        if (optind + 1 < argc)
                return vmc_usage_error("start: one VM name only, got '%s' and '%s'", argv[optind],
                                       argv[optind + 1]);
        a.name = argv[optind];
        if (!*a.name)
                return vmc_usage_error("the VM name must not be empty");
        if (!a.kernel)
                return vmc_usage_error("start: --kernel PATH is required");

        *ret = a;
        a = (VmcStartArgs){};
        return 0;
}

static const char *const wait_for_table[_VMC_WAIT_FOR_MAX] = {
        [VMC_WAIT_STARTED] = "started",
        [VMC_WAIT_STOPPED] = "stopped",
};

const char *vmc_wait_for_to_string(VmcWaitFor w)
{
        if (w < 0 || w >= _VMC_WAIT_FOR_MAX)
                return NULL;
        return wait_for_table[w];
}

VmcWaitFor vmc_wait_for_from_string(const char *s)
{
        if (!s)
                return _VMC_WAIT_FOR_INVALID;
        for (VmcWaitFor w = 0; w < _VMC_WAIT_FOR_MAX; w++)
                if (streq(wait_for_table[w], s))
                        return w;
        return _VMC_WAIT_FOR_INVALID;
}

int vmc_wait_args_parse(int argc, char **argv, VmcWaitArgs *ret)
{
        enum { ARG_FOR = 0x100, ARG_TIMEOUT };
        static const struct option options[] = {
                {"for", required_argument, NULL, ARG_FOR},
                {"timeout", required_argument, NULL, ARG_TIMEOUT},
                {},
        };
        VmcWaitArgs a = {.wait_for = _VMC_WAIT_FOR_INVALID};
        int c;

        if (!ret)
                return VMC_EXIT_USAGE;
        getopt_reset();
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case ARG_FOR:
                        a.wait_for = vmc_wait_for_from_string(optarg);
                        if (a.wait_for < 0)
                                return vmc_usage_error("wait: --for is started or stopped, got '%s'",
                                                       optarg);
                        break;
                case ARG_TIMEOUT:
                        if (vmc_parse_seconds(optarg, &a.timeout_usec) < 0 || a.timeout_usec == 0)
                                return vmc_usage_error("wait: --timeout takes seconds (> 0, up to a day), "
                                                       "got '%s'",
                                                       optarg);
                        break;
                default:
                        return unknown_option("wait", argc, argv);
                }
        }
        if (optind >= argc || a.wait_for < 0)
                return vmc_usage_error("usage: vmc wait NAME --for=started|stopped [--timeout SECONDS]");
        if (optind + 1 < argc)
                return vmc_usage_error("wait: one VM name only, got '%s' and '%s'", argv[optind],
                                       argv[optind + 1]);
        a.name = argv[optind];
        if (!*a.name)
                return vmc_usage_error("the VM name must not be empty");

        *ret = a;
        return 0;
}
