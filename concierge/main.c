/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vm_concierge: the VM manager daemon. Parses the command line and runs the Manager. */
#include <getopt.h>
#include <signal.h>

#include "concierge/log.h"
#include "concierge/manager.h"

#define DEFAULT_RUNTIME_DIR "/run/vm_concierge"
#define DEFAULT_STATE_DIR "/var/lib/vm_concierge"
#define DEFAULT_VMM_PATH LIBEXECDIR "/vmm_backend"

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
               "  --log-level=LEVEL             error, warning, notice, info (default) or debug\n"
               "  -h, --help                    Show this help\n");
}

/* Returns 1 to run, 0 to exit successfully (--help), < 0 on a usage error (already reported). */
static int parse_argv(int argc, char *argv[], ManagerConfig *config)
{
        enum { ARG_BUS = 0x100, ARG_RUNTIME_DIR, ARG_STATE_DIR, ARG_VMM_PATH, ARG_LOG_LEVEL };
        static const struct option options[] = {
                {"bus", required_argument, NULL, ARG_BUS},
                {"runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR},
                {"state-dir", required_argument, NULL, ARG_STATE_DIR},
                {"vmm-path", required_argument, NULL, ARG_VMM_PATH},
                {"log-level", required_argument, NULL, ARG_LOG_LEVEL},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        LogLevel level;
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
                        if (optarg[0] != '/')
                                return log_error_errno(EINVAL, "%s needs an absolute path, got '%s'",
                                                       argv[optind - 1], optarg);
                        if (c == ARG_RUNTIME_DIR)
                                config->runtime_dir = optarg;
                        else if (c == ARG_STATE_DIR)
                                config->state_dir = optarg;
                        else
                                config->vmm_path = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        level = log_level_from_string(optarg);
                        if (level < 0)
                                return log_error_errno(EINVAL, "Unknown log level '%s'", optarg);
                        log_set_max_level(level);
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

        r = manager_startup(m);
        if (r < 0)
                return EXIT_FAILURE;

        return manager_run(m);
}
