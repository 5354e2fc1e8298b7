/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of concierge/vm-dbus.c: path escaping, the State string, and the exported object
 * (properties, introspection, ObjectManager, PropertiesChanged, removal) over a real sd-bus
 * peer-to-peer connection on a socketpair, pumped in this one thread. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "concierge/log.h"
#include "concierge/vm-dbus.h"

/* ---- path escaping ------------------------------------------------------------------------ */

static void check_round_trip(const char *owner, const char *name)
{
        _cleanup_free_ char *path = NULL, *o = NULL, *n = NULL;

        assert_int_equal(vm_dbus_path(owner, name, &path), 0);
        assert_true(sd_bus_object_path_is_valid(path));
        assert_non_null(startswith(path, VM_DBUS_PATH_PREFIX "/"));
        assert_int_equal(vm_dbus_path_parse(path, &o, &n), 0);
        assert_string_equal(o, owner);
        assert_string_equal(n, name);
}

static void test_path_escaping(void **state)
{
        _cleanup_free_ char *p1 = NULL, *p2 = NULL, *p3 = NULL;

        /* Letters and (not leading) digits stay; everything else becomes _XX; "" becomes "_". */
        assert_int_equal(vm_dbus_path("abc123", "termina", &p1), 0);
        assert_string_equal(p1, VM_DBUS_PATH_PREFIX "/abc123/termina");
        assert_int_equal(vm_dbus_path("ab", "my-vm.1", &p2), 0);
        assert_string_equal(p2, VM_DBUS_PATH_PREFIX "/ab/my_2dvm_2e1");
        assert_int_equal(vm_dbus_path("0123abcd", "", &p3), 0);
        assert_string_equal(p3, VM_DBUS_PATH_PREFIX "/_30123abcd/_"); /* a leading digit too */

        check_round_trip("0123456789abcdef", "termina");
        check_round_trip("DEADbeef", "a b/c_d");
        check_round_trip("00", "_");
        check_round_trip("1", "__x2d");
        check_round_trip("ff", "\xc3\xa9t\xc3\xa9"); /* UTF-8 */
        check_round_trip("ff", "-");
        check_round_trip("ff", "9lives");
}

static void test_path_escaping_distinct(void **state)
{
        /* Names that differ only in characters the escaping touches stay distinct paths. */
        const char *names[] = {"a-b", "a.b", "a_b", "a_2db", "a b", "a/b", "ab"};
        char *paths[ELEMENTSOF(names)];

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                assert_int_equal(vm_dbus_path("aa", names[i], &paths[i]), 0);
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                for (size_t j = i + 1; j < ELEMENTSOF(names); j++)
                        assert_string_not_equal(paths[i], paths[j]);
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                free(paths[i]);
}

static void test_path_parse_errors(void **state)
{
        char *o = (char *)"untouched", *n = (char *)"untouched";

        assert_int_equal(vm_dbus_path_parse("/org/chromium/VmConcierge", &o, &n), -ENXIO);
        assert_int_equal(vm_dbus_path_parse(VM_DBUS_PATH_PREFIX, &o, &n), -ENXIO);
        assert_int_equal(vm_dbus_path_parse(VM_DBUS_PATH_PREFIX "/aa", &o, &n), -ENXIO);
        assert_int_equal(vm_dbus_path_parse(VM_DBUS_PATH_PREFIX "/aa/bb/cc", &o, &n), -ENXIO);
        assert_int_equal(vm_dbus_path_parse("/org/other/vm/aa/bb", &o, &n), -ENXIO);
        assert_string_equal(o, "untouched");
        assert_string_equal(n, "untouched");

        assert_int_equal(vm_dbus_path(NULL, "x", &o), -EINVAL);
        assert_int_equal(vm_dbus_path("aa", NULL, &o), -EINVAL);
        assert_int_equal(vm_dbus_path_parse(NULL, &o, &n), -EINVAL);
}

/* ---- State -------------------------------------------------------------------------------- */

static void test_state_string(void **state)
{
        Vm vm = {};
        static const struct {
                VmState state;
                const char *s;
        } table[] = {
                {VM_STATE_STARTING, "starting"},   {VM_STATE_RUNNING, "running"},
                {VM_STATE_SUSPENDED, "suspended"}, {VM_STATE_STOPPING, "stopping"},
                {VM_STATE_STOPPED, "stopped"},
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                vm.lifecycle.state = table[i].state;
                assert_string_equal(vm_dbus_state_string(&vm), table[i].s);
        }
        /* Every state has a string of its own (the table is vm-state.c's). */
        for (VmState s = 0; s < _VM_STATE_MAX; s++) {
                vm.lifecycle.state = s;
                assert_string_not_equal(vm_dbus_state_string(&vm), "unknown");
        }
        vm.lifecycle.state = _VM_STATE_MAX;
        assert_string_equal(vm_dbus_state_string(&vm), "unknown");
        vm.lifecycle.state = _VM_STATE_INVALID;
        assert_string_equal(vm_dbus_state_string(&vm), "unknown");
}

/* ---- the object on a bus ------------------------------------------------------------------- */

typedef struct Ctx {
        Manager m;
        sd_bus *server, *client;
        Vm vm;

        /* What the client's signal matches saw. */
        unsigned n_changed, n_added, n_removed;
        char changed_state[32];
        int64_t changed_cid;
        uint64_t changed_staging, changed_swap;
        bool changed_other;
        char last_added[256], last_removed[256];
} Ctx;

static int setup_bus(void **state)
{
        Ctx *c = calloc(1, sizeof(*c));
        sd_id128_t id;
        int fds[2];

        log_set_max_level(LOG_LEVEL_ERROR);
        if (!c || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
                return -1;
        if (sd_id128_randomize(&id) < 0)
                return -1;
        if (sd_bus_new(&c->server) < 0 || sd_bus_set_fd(c->server, fds[0], fds[0]) < 0 ||
            sd_bus_set_server(c->server, 1, id) < 0 || sd_bus_set_anonymous(c->server, 1) < 0 ||
            sd_bus_start(c->server) < 0)
                return -1;
        if (sd_bus_new(&c->client) < 0 || sd_bus_set_fd(c->client, fds[1], fds[1]) < 0 ||
            sd_bus_set_anonymous(c->client, 1) < 0 || sd_bus_start(c->client) < 0)
                return -1;

        c->m.bus = c->server; /* m.bus_event stays NULL: bus_event_rearm(NULL) is refused, harmless */
        c->vm.owner_id = strdup("0123abcd");
        c->vm.name = strdup("my-vm");
        c->vm.backend = strdup("embedded");
        c->vm.lifecycle.state = VM_STATE_STARTING;
        c->vm.cid = 33;
        c->vm.pid = 4242;
        c->vm.memory_mib = 256;
        c->vm.cpus = 2;
        c->vm.start_time_usec = UINT64_C(1700000000123456);
        *state = c;
        return 0;
}

static int teardown_bus(void **state)
{
        Ctx *c = *state;

        vm_dbus_remove(&c->m, &c->vm);
        sd_bus_flush_close_unref(c->client);
        sd_bus_flush_close_unref(c->server);
        free(c->vm.owner_id);
        free(c->vm.name);
        free(c->vm.backend);
        free(c->vm.cgroup_path);
        free(c);
        return 0;
}

/* Run both ends until *done (or fail after a generous number of idle rounds: no timing claim,
 * just no hang). */
static void pump(Ctx *c, const bool *done)
{
        for (unsigned idle = 0; !*done;) {
                int a = sd_bus_process(c->server, NULL);
                int b = sd_bus_process(c->client, NULL);

                assert_true(a >= 0);
                assert_true(b >= 0);
                if (a > 0 || b > 0)
                        continue;
                assert_true(++idle < 100);
                struct pollfd p[2] = {
                        {.fd = sd_bus_get_fd(c->server), .events = (short)sd_bus_get_events(c->server)},
                        {.fd = sd_bus_get_fd(c->client), .events = (short)sd_bus_get_events(c->client)},
                };
                (void)poll(p, 2, 100);
        }
}

/* Let everything queued reach the other side and be dispatched. */
static void drain(Ctx *c)
{
        for (unsigned i = 0; i < 20; i++) {
                int a = sd_bus_process(c->server, NULL);
                int b = sd_bus_process(c->client, NULL);

                assert_true(a >= 0 && b >= 0);
                if (a == 0 && b == 0) {
                        struct pollfd p[2] = {
                                {.fd = sd_bus_get_fd(c->server), .events = POLLIN},
                                {.fd = sd_bus_get_fd(c->client), .events = POLLIN},
                        };
                        if (poll(p, 2, 50) == 0)
                                return;
                }
        }
}

typedef struct Call {
        bool done;
        sd_bus_message *reply;
} Call;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Call *call = userdata;

        call->reply = sd_bus_message_ref(m);
        call->done = true;
        return 0;
}

/* A method call from the client to the server; returns the reply (or error reply). */
static sd_bus_message *call(Ctx *c, const char *path, const char *interface, const char *member,
                            const char *types, ...)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        Call cl = {};
        va_list ap;

        assert_int_equal(sd_bus_message_new_method_call(c->client, &msg, NULL, path, interface, member), 0);
        if (types) {
                va_start(ap, types);
                assert_true(sd_bus_message_appendv(msg, types, ap) >= 0);
                va_end(ap);
        }
        assert_int_equal(sd_bus_call_async(c->client, NULL, msg, on_reply, &cl, 0), 1);
        pump(c, &cl.done);
        return cl.reply;
}

static sd_bus_message *get_property(Ctx *c, const char *path, const char *property, const char *type)
{
        sd_bus_message *reply =
                call(c, path, "org.freedesktop.DBus.Properties", "Get", "ss", VM_DBUS_INTERFACE, property);

        if (sd_bus_message_is_method_error(reply, NULL))
                return reply;
        assert_int_equal(sd_bus_message_enter_container(reply, 'v', type), 1);
        return reply;
}

static void assert_string_property(Ctx *c, const char *path, const char *property, const char *want)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = get_property(c, path, property, "s");
        const char *s;

        assert_false(sd_bus_message_is_method_error(reply, NULL));
        assert_int_equal(sd_bus_message_read(reply, "s", &s), 1);
        assert_string_equal(s, want);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Ctx *c = userdata;
        const char *interface, *name;
        int r;

        c->n_changed++;
        assert_int_equal(sd_bus_message_read(m, "s", &interface), 1);
        assert_string_equal(interface, VM_DBUS_INTERFACE);
        assert_int_equal(sd_bus_message_enter_container(m, 'a', "{sv}"), 1);
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                assert_int_equal(sd_bus_message_read(m, "s", &name), 1);
                if (streq(name, "State")) {
                        const char *s;
                        assert_int_equal(sd_bus_message_read(m, "v", "s", &s), 1);
                        snprintf(c->changed_state, sizeof(c->changed_state), "%s", s);
                } else if (streq(name, "Cid")) {
                        assert_int_equal(sd_bus_message_read(m, "v", "x", &c->changed_cid), 1);
                } else if (streq(name, "SwapStagingPages")) {
                        assert_int_equal(sd_bus_message_read(m, "v", "t", &c->changed_staging), 1);
                } else if (streq(name, "SwapSwapPages")) {
                        assert_int_equal(sd_bus_message_read(m, "v", "t", &c->changed_swap), 1);
                } else {
                        c->changed_other = true;
                        assert_int_equal(sd_bus_message_skip(m, "v"), 1);
                }
                assert_int_equal(sd_bus_message_exit_container(m), 1);
        }
        assert_int_equal(r, 0);
        return 0;
}

static int on_interfaces_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Ctx *c = userdata;
        const char *path;

        assert_int_equal(sd_bus_message_read(m, "o", &path), 1);
        snprintf(c->last_added, sizeof(c->last_added), "%s", path);
        c->n_added++;
        return 0;
}

static int on_interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Ctx *c = userdata;
        const char *path;

        assert_int_equal(sd_bus_message_read(m, "o", &path), 1);
        snprintf(c->last_removed, sizeof(c->last_removed), "%s", path);
        c->n_removed++;
        return 0;
}

static void add_matches(Ctx *c)
{
        assert_true(sd_bus_match_signal(c->client, NULL, NULL, NULL, "org.freedesktop.DBus.Properties",
                                        "PropertiesChanged", on_properties_changed, c) >= 0);
        assert_true(sd_bus_match_signal(c->client, NULL, NULL, VM_DBUS_PATH_PREFIX,
                                        "org.freedesktop.DBus.ObjectManager", "InterfacesAdded",
                                        on_interfaces_added, c) >= 0);
        assert_true(sd_bus_match_signal(c->client, NULL, NULL, VM_DBUS_PATH_PREFIX,
                                        "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
                                        on_interfaces_removed, c) >= 0);
}

static void test_properties(void **state)
{
        Ctx *c = *state;
        _cleanup_free_ char *path = NULL;
        sd_bus_message *reply;
        int64_t x;
        int32_t i;
        uint32_t u;
        uint64_t t;

        add_matches(c);
        assert_int_equal(vm_dbus_add(&c->m, &c->vm), 0);
        assert_non_null(c->vm.dbus_object);
        assert_int_equal(vm_dbus_add(&c->m, &c->vm), -EEXIST);
        assert_int_equal(vm_dbus_path(c->vm.owner_id, c->vm.name, &path), 0);
        drain(c);
        assert_int_equal(c->n_added, 1);
        assert_string_equal(c->last_added, path);

        assert_string_property(c, path, "Name", "my-vm");
        assert_string_property(c, path, "OwnerId", "0123abcd");
        assert_string_property(c, path, "State", "starting");
        assert_string_property(c, path, "BackendName", "embedded");
        assert_string_property(c, path, "CgroupPath", "");
        assert_string_property(c, path, "VcpuCgroupPath", "");
        assert_string_property(c, path, "SwapState", "");

        reply = get_property(c, path, "Cid", "x");
        assert_int_equal(sd_bus_message_read(reply, "x", &x), 1);
        assert_int_equal(x, 33);
        sd_bus_message_unref(reply);
        reply = get_property(c, path, "Pid", "i");
        assert_int_equal(sd_bus_message_read(reply, "i", &i), 1);
        assert_int_equal(i, 4242);
        sd_bus_message_unref(reply);
        reply = get_property(c, path, "MemoryMiB", "u");
        assert_int_equal(sd_bus_message_read(reply, "u", &u), 1);
        assert_int_equal(u, 256);
        sd_bus_message_unref(reply);
        reply = get_property(c, path, "Cpus", "u");
        assert_int_equal(sd_bus_message_read(reply, "u", &u), 1);
        assert_int_equal(u, 2);
        sd_bus_message_unref(reply);
        reply = get_property(c, path, "StartTimeUsec", "t");
        assert_int_equal(sd_bus_message_read(reply, "t", &t), 1);
        assert_int_equal(t, UINT64_C(1700000000123456));
        sd_bus_message_unref(reply);

        /* The swap metrics: each property reads its own member (0 before any status). */
        static const char *const metrics[] = {
                "SwapResidentPages", "SwapCopiedFromFilePages", "SwapCopiedFromStagingPages",
                "SwapZeroedPages",   "SwapRedundantPages",      "SwapStagingPages",
                "SwapSwapPages",     "SwapTransitionPages",     "SwapTransitionTimeMs",
        };
        for (size_t k = 0; k < ELEMENTSOF(metrics); k++) {
                reply = get_property(c, path, metrics[k], "t");
                assert_int_equal(sd_bus_message_read(reply, "t", &t), 1);
                assert_int_equal(t, 0);
                sd_bus_message_unref(reply);
        }
        c->vm.swap_metrics = (VmSwapMetrics){
                .resident_pages = 101,
                .copied_from_file_pages = 102,
                .copied_from_staging_pages = 103,
                .zeroed_pages = 104,
                .redundant_pages = 105,
                .staging_pages = 106,
                .swap_pages = 107,
                .transition_pages = 108,
                .transition_time_ms = UINT64_C(1) << 40,
        };
        for (size_t k = 0; k < ELEMENTSOF(metrics); k++) {
                reply = get_property(c, path, metrics[k], "t");
                assert_int_equal(sd_bus_message_read(reply, "t", &t), 1);
                assert_int_equal(t, k + 1 < ELEMENTSOF(metrics) ? 101 + k : UINT64_C(1) << 40);
                sd_bus_message_unref(reply);
        }

        /* Values are read at each Get: no stale copies. */
        c->vm.cgroup_path = strdup("/sys/fs/cgroup/cpu/vms/my-vm");
        c->vm.swap_state = "active";
        c->vm.lifecycle.state = VM_STATE_SUSPENDED;
        assert_string_property(c, path, "CgroupPath", "/sys/fs/cgroup/cpu/vms/my-vm");
        assert_string_property(c, path, "SwapState", "active");
        assert_string_property(c, path, "State", "suspended");

        /* Read-only: Set is refused. */
        reply = call(c, path, "org.freedesktop.DBus.Properties", "Set", "ssv", VM_DBUS_INTERFACE, "State",
                     "s", "running");
        assert_true(sd_bus_message_is_method_error(reply, NULL));
        sd_bus_message_unref(reply);
        assert_string_property(c, path, "State", "suspended");

        /* An unknown property is an error, not a crash. */
        reply = call(c, path, "org.freedesktop.DBus.Properties", "Get", "ss", VM_DBUS_INTERFACE, "Nope");
        assert_true(sd_bus_message_is_method_error(reply, NULL));
        sd_bus_message_unref(reply);
}

static void test_get_all_and_introspect(void **state)
{
        static const char *const names[] = {"Name",
                                            "OwnerId",
                                            "State",
                                            "Cid",
                                            "Pid",
                                            "MemoryMiB",
                                            "Cpus",
                                            "BackendName",
                                            "StartTimeUsec",
                                            "CgroupPath",
                                            "VcpuCgroupPath",
                                            "SwapState",
                                            "SwapResidentPages",
                                            "SwapCopiedFromFilePages",
                                            "SwapCopiedFromStagingPages",
                                            "SwapZeroedPages",
                                            "SwapRedundantPages",
                                            "SwapStagingPages",
                                            "SwapSwapPages",
                                            "SwapTransitionPages",
                                            "SwapTransitionTimeMs"};
        Ctx *c = *state;
        _cleanup_free_ char *path = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *all = NULL, *intro = NULL, *parent = NULL;
        bool seen[ELEMENTSOF(names)] = {};
        const char *name, *xml;
        int r;

        assert_int_equal(vm_dbus_add(&c->m, &c->vm), 0);
        assert_int_equal(vm_dbus_path(c->vm.owner_id, c->vm.name, &path), 0);

        all = call(c, path, "org.freedesktop.DBus.Properties", "GetAll", "s", VM_DBUS_INTERFACE);
        assert_false(sd_bus_message_is_method_error(all, NULL));
        assert_int_equal(sd_bus_message_enter_container(all, 'a', "{sv}"), 1);
        while ((r = sd_bus_message_enter_container(all, 'e', "sv")) > 0) {
                assert_int_equal(sd_bus_message_read(all, "s", &name), 1);
                size_t k;
                for (k = 0; k < ELEMENTSOF(names); k++)
                        if (streq(names[k], name))
                                break;
                assert_true(k < ELEMENTSOF(names));
                assert_false(seen[k]);
                seen[k] = true;
                assert_int_equal(sd_bus_message_skip(all, "v"), 1);
                assert_int_equal(sd_bus_message_exit_container(all), 1);
        }
        for (size_t k = 0; k < ELEMENTSOF(names); k++)
                assert_true(seen[k]);

        intro = call(c, path, "org.freedesktop.DBus.Introspectable", "Introspect", NULL);
        assert_int_equal(sd_bus_message_read(intro, "s", &xml), 1);
        assert_non_null(strstr(xml, "<interface name=\"" VM_DBUS_INTERFACE "\">"));
        assert_non_null(strstr(xml, "<property name=\"State\" type=\"s\" access=\"read\">"));
        assert_non_null(strstr(xml, "<property name=\"Cid\" type=\"x\" access=\"read\">"));
        assert_non_null(strstr(xml, "<property name=\"StartTimeUsec\" type=\"t\" access=\"read\">"));

        /* The owner level lists the VM as a child node: what `busctl tree` walks. */
        /* (A leading digit is escaped too: owner "0123abcd" is "_30123abcd".) */
        parent = call(c, VM_DBUS_PATH_PREFIX "/_30123abcd", "org.freedesktop.DBus.Introspectable",
                      "Introspect", NULL);
        assert_int_equal(sd_bus_message_read(parent, "s", &xml), 1);
        assert_non_null(strstr(xml, "<node name=\"my_2dvm\"/>"));
}

/* GetManagedObjects at the prefix: the set of (path -> interfaces) for every exported VM. */
static unsigned count_managed(Ctx *c, const char *want_path, bool *found)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = call(
                c, VM_DBUS_PATH_PREFIX, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL);
        const char *path;
        unsigned n = 0;
        int r;

        if (sd_bus_message_is_method_error(reply, NULL))
                return UINT32_MAX;
        *found = false;
        assert_int_equal(sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}"), 1);
        while ((r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
                assert_int_equal(sd_bus_message_read(reply, "o", &path), 1);
                if (streq(path, want_path))
                        *found = true;
                n++;
                assert_int_equal(sd_bus_message_skip(reply, "a{sa{sv}}"), 1);
                assert_int_equal(sd_bus_message_exit_container(reply), 1);
        }
        return n;
}

static void test_object_manager_and_remove(void **state)
{
        Ctx *c = *state;
        Vm other = {
                .owner_id = (char *)"ffff",
                .name = (char *)"second",
                .lifecycle.state = VM_STATE_RUNNING,
        };
        _cleanup_free_ char *path = NULL, *other_path = NULL;
        sd_bus_message *reply;
        bool found;

        add_matches(c);
        assert_int_equal(vm_dbus_add(&c->m, &c->vm), 0);
        assert_int_equal(vm_dbus_add(&c->m, &other), 0);
        assert_int_equal(vm_dbus_path(c->vm.owner_id, c->vm.name, &path), 0);
        assert_int_equal(vm_dbus_path(other.owner_id, other.name, &other_path), 0);
        drain(c);
        assert_int_equal(c->n_added, 2);

        assert_int_equal(count_managed(c, path, &found), 2);
        assert_true(found);
        assert_string_property(c, other_path, "State", "running");

        vm_dbus_remove(&c->m, &c->vm);
        assert_null(c->vm.dbus_object);
        vm_dbus_remove(&c->m, &c->vm); /* twice: nothing */
        drain(c);
        assert_int_equal(c->n_removed, 1);
        assert_string_equal(c->last_removed, path);

        reply = get_property(c, path, "State", "s");
        assert_true(sd_bus_message_is_method_error(reply, NULL));
        sd_bus_message_unref(reply);
        assert_int_equal(count_managed(c, path, &found), 1);
        assert_false(found);
        assert_string_property(c, other_path, "Name", "second");

        /* Changes of a removed VM go nowhere. */
        c->n_changed = 0;
        vm_dbus_emit_changed(&c->m, &c->vm, "State", NULL);
        drain(c);
        assert_int_equal(c->n_changed, 0);

        vm_dbus_remove(&c->m, &other);
        drain(c);
        assert_int_equal(c->n_removed, 2);
        assert_string_equal(c->last_removed, other_path);

        /* Re-adding works (a new VM of the same key after the old one stopped). */
        assert_int_equal(vm_dbus_add(&c->m, &c->vm), 0);
        assert_string_property(c, path, "Name", "my-vm");
}

static void test_properties_changed(void **state)
{
        Ctx *c = *state;
        add_matches(c);
        assert_int_equal(vm_dbus_add(&c->m, &c->vm), 0);
        drain(c);

        c->vm.lifecycle.state = VM_STATE_RUNNING;
        c->vm.cid = 77;
        vm_dbus_emit_changed(&c->m, &c->vm, "State", "Cid", NULL);
        drain(c);
        assert_int_equal(c->n_changed, 1);
        assert_string_equal(c->changed_state, "running");
        assert_int_equal(c->changed_cid, 77);
        assert_false(c->changed_other);

        c->vm.lifecycle.state = VM_STATE_STOPPING;
        vm_dbus_emit_changed(&c->m, &c->vm, "State", NULL);
        drain(c);
        assert_int_equal(c->n_changed, 2);
        assert_string_equal(c->changed_state, "stopping");

        /* An array of names (the swap metrics that changed). */
        c->vm.swap_metrics.staging_pages = 5000;
        c->vm.swap_metrics.swap_pages = 6000;
        vm_dbus_emit_changed_strv(&c->m, &c->vm,
                                  (char *[]){(char *)"SwapStagingPages", (char *)"SwapSwapPages", NULL});
        vm_dbus_emit_changed_strv(&c->m, &c->vm, (char *[]){NULL});
        drain(c);
        assert_int_equal(c->n_changed, 3);
        assert_int_equal(c->changed_staging, 5000);
        assert_int_equal(c->changed_swap, 6000);
        assert_false(c->changed_other);

        /* Too many names: refused as a whole, nothing emitted. */
        vm_dbus_emit_changed(&c->m, &c->vm, "State", "Cid", "Pid", "State", "Cid", "Pid", "State", "Cid",
                             "Pid", "State", "Cid", "Pid", "State", "Cid", "Pid", "State", "Cid", NULL);
        /* A name that is not a property: sd-bus refuses, logged, nothing emitted, no crash. */
        vm_dbus_emit_changed(&c->m, &c->vm, "NoSuchProperty", NULL);
        drain(c);
        assert_int_equal(c->n_changed, 3);
}

static void test_no_bus(void **state)
{
        Manager m = {};
        Vm vm = {.owner_id = (char *)"aa", .name = (char *)"x"};

        /* Without a bus (unit tests of the manager): nothing exported, nothing fails. */
        assert_int_equal(vm_dbus_add(&m, &vm), 0);
        assert_null(vm.dbus_object);
        vm_dbus_emit_changed(&m, &vm, "State", NULL);
        vm_dbus_remove(&m, &vm);
        assert_int_equal(vm_dbus_add(NULL, &vm), -EINVAL);
        assert_int_equal(vm_dbus_add(&m, NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_path_escaping),
                cmocka_unit_test(test_path_escaping_distinct),
                cmocka_unit_test(test_path_parse_errors),
                cmocka_unit_test(test_state_string),
                cmocka_unit_test(test_no_bus),
                cmocka_unit_test_setup_teardown(test_properties, setup_bus, teardown_bus),
                cmocka_unit_test_setup_teardown(test_get_all_and_introspect, setup_bus, teardown_bus),
                cmocka_unit_test_setup_teardown(test_object_manager_and_remove, setup_bus, teardown_bus),
                cmocka_unit_test_setup_teardown(test_properties_changed, setup_bus, teardown_bus),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
