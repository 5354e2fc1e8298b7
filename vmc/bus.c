/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: reaching the daemon and calling it, with errors in words. */
#include <stdarg.h>

#include "dbus/bus-proto.h"
#include "dbus/concierge-dbus.h"
#include "vmc/vmc.h"

static void vmc_vlog(const char *format, va_list ap)
{
        fputs("vmc: ", stderr);
        vfprintf(stderr, format, ap);
        fputc('\n', stderr);
}

int vmc_error(const char *format, ...)
{
        va_list ap;

        va_start(ap, format);
        vmc_vlog(format, ap);
        va_end(ap);
        return VMC_EXIT_FAILURE;
}

int vmc_usage_error(const char *format, ...)
{
        va_list ap;

        va_start(ap, format);
        vmc_vlog(format, ap);
        va_end(ap);
        fputs("Try 'vmc help'.\n", stderr);
        return VMC_EXIT_USAGE;
}

int vmc_connect(Vmc *vmc)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (vmc->bus)
                return 0;

        if (!vmc->address)
                r = sd_bus_open_system(&bus);
        else {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, vmc->address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, true);
                if (r >= 0)
                        r = sd_bus_start(bus);
        }
        if (r < 0) {
                if (r == -EINVAL && vmc->address)
                        return vmc_usage_error("'%s' is not a valid D-Bus address", vmc->address);
                return vmc_error("cannot connect to the D-Bus %s: %s", vmc->address ?: "system bus",
                                 strerror(-r));
        }

        vmc->bus = TAKE_PTR(bus);
        return 0;
}

int vmc_call_fds(Vmc *vmc, const char *method, const ProtobufCMessage *request, const int *fds, size_t n_fds,
                 const ProtobufCMessageDescriptor *response_desc, ProtobufCMessage **ret)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = vmc_connect(vmc);
        if (r != 0)
                return r;

        r = sd_bus_message_new_method_call(vmc->bus, &call, CONCIERGE_BUS_NAME, CONCIERGE_OBJECT_PATH,
                                           CONCIERGE_INTERFACE, method);
        if (r >= 0 && request)
                r = bus_message_append_proto(call, request);
        if (r >= 0 && fds) {
                r = sd_bus_message_open_container(call, 'a', "h");
                for (size_t i = 0; r >= 0 && i < n_fds; i++)
                        r = sd_bus_message_append(call, "h", fds[i]);
                if (r >= 0)
                        r = sd_bus_message_close_container(call);
        }
        if (r < 0)
                return vmc_error("cannot build the %s call: %s", method, strerror(-r));

        r = sd_bus_call(vmc->bus, call, VMC_CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0) {
                if (sd_bus_error_has_names(&error, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                           SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        return vmc_error("vm_concierge is not running (nobody owns %s on the %s)",
                                         CONCIERGE_BUS_NAME, vmc->address ? "bus" : "system bus");
                if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_METHOD))
                        return vmc_error("this vm_concierge does not implement %s", method);
                if (sd_bus_error_has_names(&error, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT))
                        return vmc_error("vm_concierge did not answer %s in time", method);
                if (sd_bus_error_is_set(&error))
                        return vmc_error("%s failed: %s", method, error.message ?: error.name);
                return vmc_error("%s failed: %s", method, strerror(-r));
        }

        if (!response_desc)
                return 0;

        r = bus_message_read_proto_limit(reply, response_desc, BUS_PROTO_MAX_REPLY_SIZE, ret);
        if (r < 0)
                return vmc_error("vm_concierge sent a %s reply that does not parse as %s", method,
                                 response_desc->short_name);
        return 0;
}

int vmc_call(Vmc *vmc, const char *method, const ProtobufCMessage *request,
             const ProtobufCMessageDescriptor *response_desc, ProtobufCMessage **ret)
{
        return vmc_call_fds(vmc, method, request, NULL, 0, response_desc, ret);
}
