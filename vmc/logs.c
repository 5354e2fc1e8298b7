/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: `logs NAME [--follow]`, the VM's console log through GetVmLogs. */
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <time.h>

#include "dbus/bus-proto.h"
#include "dbus/concierge-dbus.h"
#include "proto/concierge_service.pb-c.h"
#include "vmc/vmc.h"

/* How often --follow asks for the log. The daemon reads its file per call; 4 calls a second
 * keep a console feeling live and cost nothing. */
#define LOGS_POLL_USEC (250 * USEC_PER_MSEC)

/* --follow remembers the last bytes it printed to find its place again when the daemon's log
 * no longer grows from the same start (the upstream cap keeps only the newest 30 MiB). */
#define LOGS_TAIL_KEEP 256

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
        interrupted = 1;
}

static void json_object_putp(json_object **j)
{
        if (*j)
                json_object_put(*j);
}

typedef enum FetchResult {
        FETCH_OK,
        FETCH_GONE, /* no such VM (any more) */
        FETCH_ERROR,
} FetchResult;

static FetchResult fetch(Vmc *vmc, const char *name, VmTools__Concierge__GetVmLogsResponse **ret,
                         bool quiet_if_gone)
{
        VmTools__Concierge__GetVmLogsRequest request = VM_TOOLS__CONCIERGE__GET_VM_LOGS_REQUEST__INIT;
        VmTools__Concierge__GetVmLogsResponse *response = NULL;
        int r;

        request.name = (char *)name;
        request.owner_id = (char *)vmc->owner_id;
        r = vmc_call(vmc, CONCIERGE_METHOD_GET_VM_LOGS, &request.base,
                     &vm_tools__concierge__get_vm_logs_response__descriptor, (ProtobufCMessage **)&response);
        if (r != 0)
                return FETCH_ERROR;
        if (!response->success) {
                if (!quiet_if_gone)
                        vmc_error("no log of VM '%s' of owner %s: %s", name, vmc->owner_id,
                                  *strempty(response->failure_reason) ? response->failure_reason : "failed");
                protobuf_c_message_free_unpacked(&response->base, NULL);
                return FETCH_GONE;
        }
        *ret = response;
        return FETCH_OK;
}

static int write_all(const uint8_t *p, size_t n)
{
        if (n > 0 && fwrite(p, 1, n, stdout) != n)
                return vmc_error("cannot write the log: %s", strerror(errno));
        if (fflush(stdout) != 0)
                return vmc_error("cannot write the log: %s", strerror(errno));
        return 0;
}

/* Where new bytes start in `log`, given the total printed so far and its last bytes. */
static size_t resync(const uint8_t *log, size_t len, size_t printed, const uint8_t *tail, size_t tail_len)
{
        /* The log grew in place: the bytes before `printed` are those we saw. */
        if (len >= printed && (tail_len == 0 || memcmp(log + printed - tail_len, tail, tail_len) == 0))
                return printed;
        /* It was cut at the front: find the newest occurrence of our tail. */
        if (tail_len > 0 && len >= tail_len)
                for (size_t i = len - tail_len + 1; i-- > 0;)
                        if (memcmp(log + i, tail, tail_len) == 0)
                                return i + tail_len;
        /* Lost track: start over, and say so. */
        fputs("vmc: -- the log was cut; showing it from its new start --\n", stderr);
        return 0;
}

static int follow(Vmc *vmc, const char *name)
{
        uint8_t tail[LOGS_TAIL_KEEP];
        size_t printed = 0, tail_len = 0;
        struct sigaction sa = {.sa_handler = on_sigint};
        int r;

        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        for (bool first = true; !interrupted; first = false) {
                _cleanup_proto_ VmTools__Concierge__GetVmLogsResponse *response = NULL;
                FetchResult f = fetch(vmc, name, &response, !first);
                size_t start;

                if (f == FETCH_ERROR)
                        return interrupted ? 0 : VMC_EXIT_FAILURE;
                if (f == FETCH_GONE) {
                        if (first)
                                return VMC_EXIT_FAILURE;
                        /* The VM stopped; its log went with its runtime dir. */
                        fprintf(stderr, "vmc: VM %s is gone.\n", name);
                        return 0;
                }

                start = resync(response->log.data, response->log.len, printed, tail, tail_len);
                r = write_all(response->log.data + start, response->log.len - start);
                if (r != 0)
                        return r;
                printed = response->log.len;
                tail_len = MIN(printed, sizeof(tail));
                memcpy(tail, response->log.data + printed - tail_len, tail_len);

                struct timespec ts = {.tv_nsec = (long)(LOGS_POLL_USEC * NSEC_PER_USEC)};
                (void)nanosleep(&ts, NULL); /* EINTR on Ctrl-C: the loop condition ends it */
        }
        return 0;
}

int verb_logs(Vmc *vmc, int argc, char **argv)
{
        static const struct option options[] = {
                {"follow", no_argument, NULL, 'f'},
                {},
        };
        _cleanup_proto_ VmTools__Concierge__GetVmLogsResponse *response = NULL;
        bool do_follow = false;
        const char *name;
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "f", options, NULL)) >= 0) {
                switch (c) {
                case 'f':
                        do_follow = true;
                        break;
                default:
                        return vmc_usage_error("logs: unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind + 1 != argc)
                return vmc_usage_error("usage: vmc logs NAME [--follow]");
        name = argv[optind];
        if (!*name)
                return vmc_usage_error("the VM name must not be empty");
        if (do_follow && vmc->json)
                return vmc_usage_error("logs: --follow and --json do not go together");

        if (do_follow)
                return follow(vmc, name);

        if (fetch(vmc, name, &response, false) != FETCH_OK)
                return VMC_EXIT_FAILURE;
        if (vmc->json) {
                _cleanup_(json_object_putp) json_object *j = json_object_new_object();

                json_object_object_add(j, "name", json_object_new_string(name));
                json_object_object_add(j, "owner_id", json_object_new_string(vmc->owner_id));
                /* Guest output need not be UTF-8: json-c escapes control bytes; invalid UTF-8 is
                 * passed as is (json_object_new_string_len keeps every byte). */
                json_object_object_add(j, "log",
                                       json_object_new_string_len((const char *)response->log.data,
                                                                  (int)response->log.len));
                vmc_print_json(j);
                return 0;
        }
        return write_all(response->log.data, response->log.len);
}
