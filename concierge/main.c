/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vm_concierge: the VM manager daemon. Parses the command line and runs the Manager. */
#include <getopt.h>
#include <signal.h>

#include "concierge/cpu-cgroups.h"
#include "concierge/log.h"
#include "concierge/manager-swap.h"
#include "concierge/manager.h"

#define DEFAULT_RUNTIME_DIR "/run/vm_concierge"
#define DEFAULT_STATE_DIR "/var/lib/vm_concierge"
#define DEFAULT_VMM_PATH LIBEXECDIR "/vmm_backend"

/* The vmm-swap flags (manager-swap.h); the TBW budget opens after manager_startup(). */
static ManagerSwapConfig arg_swap;

/* The CPU cgroup flags (cpu-cgroups.h); set up after the manager, before it starts serving. */
static CpuCgroupsConfig arg_cgroups = {
        .mode = CGROUP_MODE_AUTO,
        .backend = CGROUP_BACKEND_KERNEL,
        .arcvm_quota_percent = CPU_CGROUPS_QUOTA_PERCENT_UNSET,
};

static void help(void)
{
        printf("Usage: vm_concierge [OPTIONS]\n"
               "\n"
               "The VM manager daemon: serves org.chromium.VmConcierge on D-Bus.\n"
               "\n"
               "  --bus=system|session|ADDRESS  Bus to serve on (default: system)\n"
               "  --runtime-dir=DIR             Per-VM runtime files (default: " DEFAULT_RUNTIME_DIR ")\n"
               "  --state-dir=DIR               Persistent state (default: " DEFAULT_STATE_DIR ")\n"
               "  --vmm-path=PATH               The VMM binary (default: " DEFAULT_VMM_PATH ")\n"
               "  --swap-dir=DIR                Root of the per-owner vmm-swap dirs (default: the state "
               "dir)\n"
               "  --cgroup-root=DIR             Where the cgroup hierarchies are "
               "(default: " CGROUP_ROOT_DEFAULT ")\n"
               "  --cgroup-mode=auto|v1|v2      CPU controller to use; auto prefers v1 `cpu` (default: "
               "auto)\n"
               "  --cgroup-parent=NAME          Group holding the VM groups (default: none on v1,\n"
               "                                " CGROUP_V2_PARENT_DEFAULT " on v2)\n"
               "  --cgroup-backend=kernel|emulated\n"
               "                                emulated: --cgroup-root is a plain directory that models\n"
               "                                cgroupfs (laid out when empty; for tests) (default: "
               "kernel)\n"
               "  --arcvm-background-quota-percent=1-100\n"
               "                                CPU quota of arcvm in BACKGROUND_WITH_CFS_QUOTA_ENFORCED, "
               "in\n"
               "                                percent of one CPU (default: unset, no quota)\n"
               MANAGER_SWAP_HELP
               "  --log-level=LEVEL             error, warning, notice, info (default) or debug\n"
               "  -h, --help                    Show this help\n");
}

/* Returns 1 to run, 0 to exit successfully (--help), < 0 on a usage error (already reported). */
static int parse_argv(int argc, char *argv[], ManagerConfig *config)
{
        enum {
                ARG_BUS = 0x100,
                ARG_RUNTIME_DIR,
                ARG_STATE_DIR,
                ARG_VMM_PATH,
                ARG_SWAP_DIR,
                ARG_LOG_LEVEL,
                ARG_CGROUP_ROOT,
                ARG_CGROUP_MODE,
                ARG_CGROUP_PARENT,
                ARG_CGROUP_BACKEND,
                ARG_ARCVM_QUOTA,
                ARG_SWAP_FIRST,
                ARG_SWAP_LAST = ARG_SWAP_FIRST + _MANAGER_SWAP_OPTION_MAX - 1,
        };
        static const struct option options[] = {
                {"bus", required_argument, NULL, ARG_BUS},
                {"runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR},
                {"state-dir", required_argument, NULL, ARG_STATE_DIR},
                {"vmm-path", required_argument, NULL, ARG_VMM_PATH},
                {"swap-dir", required_argument, NULL, ARG_SWAP_DIR},
                {"log-level", required_argument, NULL, ARG_LOG_LEVEL},
                {"cgroup-root", required_argument, NULL, ARG_CGROUP_ROOT},
                {"cgroup-mode", required_argument, NULL, ARG_CGROUP_MODE},
                {"cgroup-parent", required_argument, NULL, ARG_CGROUP_PARENT},
                {"cgroup-backend", required_argument, NULL, ARG_CGROUP_BACKEND},
                {"arcvm-background-quota-percent", required_argument, NULL, ARG_ARCVM_QUOTA},
                MANAGER_SWAP_LONG_OPTIONS(ARG_SWAP_FIRST),
                {"help", no_argument, NULL, 'h'},
                {},
        };
        LogLevel level;
        char *end;
        unsigned long ul;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_BUS:
                        if (!*optarg)
                                return log_error_errno(EINVAL, "--bus= needs system, session or an address");
                        config->bus = optarg;
                        break;
                case ARG_RUNTIME_DIR:
                case ARG_STATE_DIR:
                case ARG_VMM_PATH:
                case ARG_SWAP_DIR:
                        if (optarg[0] != '/')
                                return log_error_errno(EINVAL, "%s needs an absolute path, got '%s'",
                                                       argv[optind - 1], optarg);
                        if (c == ARG_RUNTIME_DIR)
                                config->runtime_dir = optarg;
                        else if (c == ARG_STATE_DIR)
                                config->state_dir = optarg;
                        else if (c == ARG_VMM_PATH)
                                config->vmm_path = optarg;
                        else
                                config->swap_dir = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        level = log_level_from_string(optarg);
                        if (level < 0)
                                return log_error_errno(EINVAL, "Unknown log level '%s'", optarg);
                        log_set_max_level(level);
                        break;
                case ARG_CGROUP_ROOT:
                        if (optarg[0] != '/')
                                return log_error_errno(
                                        EINVAL, "--cgroup-root needs an absolute path, got '%s'", optarg);
                        arg_cgroups.root = optarg;
                        break;
                case ARG_CGROUP_MODE:
                        arg_cgroups.mode = cgroup_mode_from_string(optarg);
                        if (arg_cgroups.mode < 0)
                                return log_error_errno(
                                        EINVAL, "--cgroup-mode must be auto, v1 or v2, got '%s'", optarg);
                        break;
                case ARG_CGROUP_PARENT:
                        if (!cgroup_group_name_is_valid(optarg))
                                return log_error_errno(EINVAL,
                                                       "--cgroup-parent must be a relative cgroup path of "
                                                       "[A-Za-z0-9_.,:@+-] components, got '%s'",
                                                       optarg);
                        arg_cgroups.parent = optarg;
                        break;
                case ARG_CGROUP_BACKEND:
                        arg_cgroups.backend = cgroup_backend_from_string(optarg);
                        if (arg_cgroups.backend < 0)
                                return log_error_errno(
                                        EINVAL, "--cgroup-backend must be kernel or emulated, got '%s'",
                                        optarg);
                        break;
                case ARG_ARCVM_QUOTA:
                        errno = 0;
                        ul = strtoul(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end || optarg[0] == '-' ||
                            ul < CPU_RESTRICTION_QUOTA_PERCENT_MIN || ul > CPU_RESTRICTION_QUOTA_PERCENT_MAX)
                                return log_error_errno(
                                        EINVAL, "--arcvm-background-quota-percent must be 1-100, got '%s'",
                                        optarg);
                        arg_cgroups.arcvm_quota_percent = (unsigned)ul;
                        break;
                case ARG_SWAP_FIRST ... ARG_SWAP_LAST:
                        if (manager_swap_config_parse(&arg_swap, (ManagerSwapOption)(c - ARG_SWAP_FIRST), optarg) < 0)
                                return -EINVAL;
                        break;
                default:
                        return -EINVAL; /* getopt printed why */
                }
        }

        if (optind < argc)
                return log_error_errno(EINVAL, "Unexpected argument '%s'", argv[optind]);
        return 1;
}

int main(int argc, char *argv[])
{
        ManagerConfig config = {
                .bus = "system",
                .runtime_dir = DEFAULT_RUNTIME_DIR,
                .state_dir = DEFAULT_STATE_DIR,
                .vmm_path = DEFAULT_VMM_PATH,
        };
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        r = parse_argv(argc, argv, &config);
        if (r <= 0)
                return r < 0 ? 2 : EXIT_SUCCESS;

        /* A client that hangs up mid-reply must not kill the daemon. */
        signal(SIGPIPE, SIG_IGN);

        r = manager_new(&config, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the manager"), EXIT_FAILURE;

        /* An unusable hierarchy is a warning (VMs then run uncgrouped); only OOM stops us. */
        r = cpu_cgroups_new(&arg_cgroups, &m->cpu_cgroups);
        if (r < 0)
                return log_error_errno(r, "Failed to set up CPU cgroups"), EXIT_FAILURE;

        r = manager_startup(m);
        if (r < 0)
                return EXIT_FAILURE;

        r = manager_swap_startup(m, &arg_swap);
        if (r < 0)
                return EXIT_FAILURE;

        return manager_run(m);
}
