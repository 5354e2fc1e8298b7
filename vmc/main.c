/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: command-line client of vm_concierge. Global options, then one verb. */
#include <getopt.h>

#include "concierge/validate.h"
#include "vmc/swap.h"
#include "vmc/vmc.h"

static void help(void)
{
        printf("Usage: vmc [OPTIONS] VERB [ARGS...]\n"
               "\n"
               "Talks to vm_concierge (org.chromium.VmConcierge) over D-Bus.\n"
               "\n"
               "Verbs:\n"
               "  start NAME --kernel PATH [--initrd PATH] [--mem MiB] [--cpus N] [--cmdline STR]\n"
               "        [--enable-balloon] [--enable-vmm-swap] [--vm-type termina|arcvm|plugin]\n"
               "                       Start a VM (vmc opens the files; --cmdline may repeat)\n"
               "  stop NAME            Stop a VM (stopping an unknown VM succeeds, as upstream)\n"
               "  stop-all             Stop every VM of every owner\n"
               "  suspend NAME         Pause a VM's vCPUs\n"
               "  resume NAME          Resume a suspended VM\n"
               "  list                 List the VMs of the owner\n"
               "  info NAME            Show one VM\n"
               "  logs NAME [--follow] Print the VM's console log; --follow keeps printing new output\n"
               "                       until the VM is gone or Ctrl-C\n"
               "  console NAME [--linger S]\n"
               "                       Attach to the VM's guest channel (raw terminal, Ctrl-] detaches);\n"
               "                       without a terminal, copy stdin to it and its output to stdout,\n"
               "                       ending S seconds (default 1) after stdin ended and the guest\n"
               "                       went quiet\n"
               "  wait NAME --for=started|stopped [--timeout S]\n"
               "                       Wait until the VM is running / gone\n"
               "  swap enable|force-enable|disable|status NAME\n"
               "                       vmm-swap of a VM started with it: ENABLE (policies decide),\n"
               "                       FORCE_ENABLE, DISABLE, or its state, metrics and budget\n"
               "  cpu-restrict termina|arcvm|plugin foreground|background|background-quota\n"
               "                       Set the CPU restriction of a VM family's cgroups\n"
               "  help                 Show this help\n"
               "\n"
               "Options:\n"
               "  --address=ADDRESS    D-Bus address of the bus to use (default: the system bus)\n"
               "  --owner=ID           Owner id, hex digits (default: $CROS_USER_ID_HASH, else an id\n"
               "                       derived from your uid: 16 hex digits of FNV-1a-64 of\n"
               "                       \"vm_concierge-owner:<uid>\")\n"
               "  --json               Machine-readable output\n"
               "  -h, --help           Show this help\n"
               "\n"
               "Exit status: 0 success, 1 failure (daemon absent, call failed, no such VM), 2 usage "
               "error.\n");
}

static const struct {
        const char *name;
        int (*run)(Vmc *vmc, int argc, char **argv);
} verbs[] = {
        {"start", verb_start},
        {"stop", verb_stop},
        {"stop-all", verb_stop_all},
        {"suspend", verb_suspend},
        {"resume", verb_resume},
        {"list", verb_list},
        {"info", verb_info},
        {"logs", verb_logs},
        {"console", verb_console},
        {"wait", verb_wait},
        {"cpu-restrict", verb_cpu_restrict},
        {"swap", verb_swap},
};

int main(int argc, char **argv)
{
        enum { ARG_ADDRESS = 0x100, ARG_OWNER, ARG_JSON };
        static const struct option options[] = {
                {"address", required_argument, NULL, ARG_ADDRESS},
                {"owner", required_argument, NULL, ARG_OWNER},
                {"json", no_argument, NULL, ARG_JSON},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        Vmc vmc = {};
        char derived_owner[17];
        const char *owner = NULL;
        int c, r = -1;

        /* "+": options end at the verb, so verbs can have options of their own later. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_ADDRESS:
                        if (!*optarg)
                                return vmc_usage_error("--address needs a D-Bus address");
                        vmc.address = optarg;
                        break;
                case ARG_OWNER:
                        if (!owner_id_is_valid(optarg))
                                return vmc_usage_error("--owner must be hex digits, got '%s'", optarg);
                        owner = optarg;
                        break;
                case ARG_JSON:
                        vmc.json = true;
                        break;
                default:
                        return vmc_usage_error("unknown option");
                }
        }

        if (optind >= argc)
                return vmc_usage_error("no verb given");
        if (streq(argv[optind], "help")) {
                help();
                return 0;
        }

        if (!owner) {
                const char *env = getenv("CROS_USER_ID_HASH");

                if (env && *env) {
                        if (!owner_id_is_valid(env))
                                return vmc_usage_error("CROS_USER_ID_HASH must be hex digits, got '%s'",
                                                       env);
                        owner = env;
                } else {
                        vmc_owner_id_from_uid(getuid(), derived_owner);
                        owner = derived_owner;
                }
        }
        vmc.owner_id = owner;

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, argv[optind])) {
                        r = verbs[i].run(&vmc, argc - optind, argv + optind);
                        break;
                }
        if (r < 0)
                r = vmc_usage_error("unknown verb '%s'", argv[optind]);

        sd_bus_flush_close_unref(vmc.bus);
        return r;
}
