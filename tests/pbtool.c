/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pbtool: the integration tests' hand on the raw concierge API (protobuf in D-Bus `ay`).
 *
 *   pbtool encode TYPE [FIELD=VALUE...]      print TYPE as busctl `ay` arguments ("N b1 b2 ...")
 *   pbtool decode TYPE [BYTE...]             decode bytes (args, else stdin, e.g. busctl's
 *                                            "ay N b1 ..." output) and print "field: value" lines
 *   pbtool call [OPTS] METHOD [FIELD=VALUE...]   call METHOD with its request message, print the
 *                                            decoded response
 *   pbtool call-raw [OPTS] METHOD --size=N [--fill=B] | BYTE...
 *                                            call METHOD with raw request bytes
 *   pbtool wait-signal [OPTS] SIGNAL         print "subscribed" on stderr, then the first SIGNAL
 *                                            received, decoded
 *
 * OPTS: --address=ADDRESS (default: the system bus), --timeout=SECONDS (default 25), and for
 * StartVm --fd=PATH (repeatable, opened read-only, passed in the `ah` in order).
 *
 * FIELD is a dotted path: `name`, `vm_info.cid`, `disks[0].path`. A repeated scalar field given
 * several times gets every value. Enums take a value name or a number, bools true/false/1/0.
 * Output: one "path: value" line per scalar field (defaults included), "path.count: N" per
 * repeated field. Exit: 0 ok, 1 the call got a D-Bus error (printed as "dbus-error: NAME: MSG"
 * on stdout), 2 usage, 3 cannot reach the bus, 4 timeout. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "dbus/bus-proto.h"
#include "dbus/concierge-dbus.h"
#include "proto/concierge_service.pb-c.h"

#define EXIT_DBUS_ERROR 1
#define EXIT_USAGE 2
#define EXIT_NO_BUS 3
#define EXIT_TIMEOUT 4

#define D(x) &vm_tools__concierge__##x##__descriptor

static const ProtobufCMessageDescriptor *const types[] = {
        D(vm_info),
        D(extended_vm_info),
        D(success_failure_response),
        D(virtual_machine_spec),
        D(disk_image),
        D(start_vm_request),
        D(start_vm_response),
        D(stop_vm_request),
        D(suspend_vm_request),
        D(resume_vm_request),
        D(get_vm_info_request),
        D(get_vm_info_response),
        D(list_vms_request),
        D(list_vms_response),
        D(get_balloon_info_request),
        D(balloon_info),
        D(get_balloon_info_response),
        D(set_balloon_timer_request),
        D(aggressive_balloon_request),
        D(swap_vm_request),
        D(set_vm_cpu_restriction_request),
        D(set_vm_cpu_restriction_response),
        D(get_vm_logs_request),
        D(get_vm_logs_response),
        D(reclaim_vm_memory_request),
        D(reclaim_vm_memory_response),
        D(vm_starting_up_signal),
        D(vm_started_signal),
        D(vm_stopping_signal),
        D(vm_stopped_signal),
        D(vm_swapping_signal),
        D(vm_guest_userland_ready_signal),
};

typedef struct Method {
        const char *name;
        const ProtobufCMessageDescriptor *request;  /* NULL: no arguments */
        const ProtobufCMessageDescriptor *response; /* NULL: no reply arguments */
} Method;

static const Method methods[] = {
        {CONCIERGE_METHOD_START_VM, D(start_vm_request), D(start_vm_response)},
        {CONCIERGE_METHOD_STOP_VM, D(stop_vm_request), D(success_failure_response)},
        {CONCIERGE_METHOD_STOP_VM_WITHOUT_OWNER_ID, D(stop_vm_request), D(success_failure_response)},
        {CONCIERGE_METHOD_STOP_ALL_VMS, NULL, NULL},
        {CONCIERGE_METHOD_SUSPEND_VM, D(suspend_vm_request), D(success_failure_response)},
        {CONCIERGE_METHOD_RESUME_VM, D(resume_vm_request), D(success_failure_response)},
        {CONCIERGE_METHOD_GET_VM_INFO, D(get_vm_info_request), D(get_vm_info_response)},
        {CONCIERGE_METHOD_LIST_VMS, D(list_vms_request), D(list_vms_response)},
        {CONCIERGE_METHOD_GET_BALLOON_INFO, D(get_balloon_info_request), D(get_balloon_info_response)},
        {CONCIERGE_METHOD_SET_BALLOON_TIMER, D(set_balloon_timer_request), D(success_failure_response)},
        {CONCIERGE_METHOD_SWAP_VM, D(swap_vm_request), D(success_failure_response)},
        {CONCIERGE_METHOD_AGGRESSIVE_BALLOON, D(aggressive_balloon_request), D(success_failure_response)},
        {CONCIERGE_METHOD_SET_VM_CPU_RESTRICTION, D(set_vm_cpu_restriction_request),
         D(set_vm_cpu_restriction_response)},
        {CONCIERGE_METHOD_GET_VM_LOGS, D(get_vm_logs_request), D(get_vm_logs_response)},
        {CONCIERGE_METHOD_RECLAIM_VM_MEMORY, D(reclaim_vm_memory_request), D(reclaim_vm_memory_response)},
};

static const struct {
        const char *name;
        const ProtobufCMessageDescriptor *desc;
} signals[] = {
        {CONCIERGE_SIGNAL_VM_STARTING_UP, D(vm_starting_up_signal)},
        {CONCIERGE_SIGNAL_VM_STARTED, D(vm_started_signal)},
        {CONCIERGE_SIGNAL_VM_STOPPING, D(vm_stopping_signal)},
        {CONCIERGE_SIGNAL_VM_STOPPED, D(vm_stopped_signal)},
        {CONCIERGE_SIGNAL_VM_SWAPPING, D(vm_swapping_signal)},
        {CONCIERGE_SIGNAL_VM_GUEST_USERLAND_READY, D(vm_guest_userland_ready_signal)},
};

static const ProtobufCMessageDescriptor *find_type(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if (streq(types[i]->short_name, name) || streq(types[i]->name, name))
                        return types[i];
        return NULL;
}

static const Method *find_method(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (streq(methods[i].name, name))
                        return &methods[i];
        return NULL;
}

static int usage_error(const char *format, const char *arg)
{
        fprintf(stderr, "pbtool: ");
        fprintf(stderr, format, arg);
        fprintf(stderr, "\n");
        return -EINVAL;
}

/* ---- building a message from FIELD=VALUE ------------------------------------------------- */

static size_t scalar_size(ProtobufCType type)
{
        switch (type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
        case PROTOBUF_C_TYPE_FLOAT:
        case PROTOBUF_C_TYPE_ENUM:
                return 4;
        case PROTOBUF_C_TYPE_BOOL:
                return sizeof(protobuf_c_boolean);
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
        case PROTOBUF_C_TYPE_DOUBLE:
                return 8;
        case PROTOBUF_C_TYPE_STRING:
        case PROTOBUF_C_TYPE_MESSAGE:
                return sizeof(void *);
        case PROTOBUF_C_TYPE_BYTES:
                return sizeof(ProtobufCBinaryData);
        }
        return 0;
}

static int parse_integer(const char *s, bool is_signed, int64_t min, uint64_t max, void *out, size_t size)
{
        char *end;

        errno = 0;
        if (is_signed) {
                long long v = strtoll(s, &end, 0);
                if (errno || *end || end == s || v < min || (v > 0 && (uint64_t)v > max))
                        return -ERANGE;
                if (size == 4) {
                        int32_t v32 = (int32_t)v;
                        memcpy(out, &v32, 4);
                } else
                        memcpy(out, &(int64_t){v}, 8);
        } else {
                if (*s == '-')
                        return -ERANGE;
                unsigned long long v = strtoull(s, &end, 0);
                if (errno || *end || end == s || v > max)
                        return -ERANGE;
                if (size == 4) {
                        uint32_t v32 = (uint32_t)v;
                        memcpy(out, &v32, 4);
                } else
                        memcpy(out, &(uint64_t){v}, 8);
        }
        return 0;
}

/* Store `value` into the element at `p` of a field of type f->type. */
static int set_scalar(const ProtobufCFieldDescriptor *f, void *p, const char *value)
{
        switch (f->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
                return parse_integer(value, true, INT32_MIN, INT32_MAX, p, 4);
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
                return parse_integer(value, false, 0, UINT32_MAX, p, 4);
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
                return parse_integer(value, true, INT64_MIN, INT64_MAX, p, 8);
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
                return parse_integer(value, false, 0, UINT64_MAX, p, 8);
        case PROTOBUF_C_TYPE_BOOL:
                if (streq(value, "true") || streq(value, "1"))
                        *(protobuf_c_boolean *)p = 1;
                else if (streq(value, "false") || streq(value, "0"))
                        *(protobuf_c_boolean *)p = 0;
                else
                        return -EINVAL;
                return 0;
        case PROTOBUF_C_TYPE_ENUM: {
                const ProtobufCEnumValue *ev =
                        protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, value);
                int32_t v;

                if (ev)
                        v = ev->value;
                else if (parse_integer(value, true, INT32_MIN, INT32_MAX, &v, 4) < 0)
                        return -EINVAL;
                memcpy(p, &v, 4);
                return 0;
        }
        case PROTOBUF_C_TYPE_FLOAT: {
                float v = strtof(value, NULL);
                memcpy(p, &v, 4);
                return 0;
        }
        case PROTOBUF_C_TYPE_DOUBLE: {
                double v = strtod(value, NULL);
                memcpy(p, &v, 8);
                return 0;
        }
        case PROTOBUF_C_TYPE_STRING: {
                char *s = strdup(value);
                if (!s)
                        return -ENOMEM;
                *(char **)p = s; /* the previous value is the shared empty string or ours */
                return 0;
        }
        case PROTOBUF_C_TYPE_BYTES: {
                ProtobufCBinaryData *b = p;
                size_t n = strlen(value);

                b->data = malloc(MAX(n, (size_t)1));
                if (!b->data)
                        return -ENOMEM;
                memcpy(b->data, value, n);
                b->len = n;
                return 0;
        }
        case PROTOBUF_C_TYPE_MESSAGE:
                return -EINVAL;
        }
        return -EINVAL;
}

static ProtobufCMessage *new_message(const ProtobufCMessageDescriptor *desc)
{
        ProtobufCMessage *m = malloc(desc->sizeof_message);

        if (m)
                protobuf_c_message_init(desc, m);
        return m;
}

/* Grow the repeated field f of msg by one zeroed element; returns a pointer to it. */
static void *repeated_append(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
        size_t *n = (size_t *)((char *)msg + f->quantifier_offset);
        void **array = (void **)((char *)msg + f->offset);
        size_t esize = scalar_size(f->type);
        char *a = realloc(*array, (*n + 1) * esize);

        if (!a)
                return NULL;
        memset(a + *n * esize, 0, esize);
        *array = a;
        return a + (*n)++ * esize;
}

static int set_field(ProtobufCMessage *msg, const char *path, const char *value)
{
        const ProtobufCMessageDescriptor *desc = msg->descriptor;
        const ProtobufCFieldDescriptor *f;
        _cleanup_free_ char *name = NULL;
        const char *rest = strchr(path, '.');
        char *bracket;
        long index = -1;
        void *p;

        name = rest ? strndup(path, (size_t)(rest - path)) : strdup(path);
        if (!name)
                return -ENOMEM;
        bracket = strchr(name, '[');
        if (bracket) {
                char *end;

                *bracket = '\0';
                index = strtol(bracket + 1, &end, 10);
                if (index < 0 || strcmp(end, "]") != 0)
                        return usage_error("bad index in '%s'", path);
        }

        f = protobuf_c_message_descriptor_get_field_by_name(desc, name);
        if (!f)
                return usage_error("no such field: '%s'", path);

        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                ProtobufCMessage **slot;

                if (!rest)
                        return usage_error("'%s' is a message: give one of its fields", path);
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(size_t *)((char *)msg + f->quantifier_offset);

                        if (index < 0 || (size_t)index > n)
                                return usage_error("'%s' needs an index [0..count]", path);
                        if ((size_t)index == n) {
                                slot = repeated_append(msg, f);
                                if (!slot)
                                        return -ENOMEM;
                        } else
                                slot = &(*(ProtobufCMessage ***)((char *)msg + f->offset))[index];
                } else
                        slot = (ProtobufCMessage **)((char *)msg + f->offset);
                if (!*slot) {
                        *slot = new_message(f->descriptor);
                        if (!*slot)
                                return -ENOMEM;
                }
                return set_field(*slot, rest + 1, value);
        }

        if (rest || index >= 0)
                return usage_error("'%s' is not a message field", path);

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                p = repeated_append(msg, f);
                if (!p)
                        return -ENOMEM;
        } else {
                p = (char *)msg + f->offset;
                if (f->type == PROTOBUF_C_TYPE_STRING) {
                        char **s = p;
                        if (*s && *s != protobuf_c_empty_string && *s != f->default_value)
                                free(*s);
                } else if (f->type == PROTOBUF_C_TYPE_BYTES)
                        free(((ProtobufCBinaryData *)p)->data);
                if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
                        *(protobuf_c_boolean *)((char *)msg + f->quantifier_offset) = 1;
        }

        if (set_scalar(f, p, value) < 0)
                return usage_error("bad value for '%s'", path);
        return 0;
}

/* A message of `desc` from FIELD=VALUE arguments; freed with protobuf_c_message_free_unpacked. */
static int build_message(const ProtobufCMessageDescriptor *desc, char **args, int n, ProtobufCMessage **ret)
{
        _cleanup_proto_ ProtobufCMessage *msg = NULL;
        int r;

        /* Start from an unpacked empty message: it is then owned by the default allocator, and
         * freeing it frees what set_field() allocates. */
        r = proto_unpack(desc, NULL, 0, 0, &msg);
        if (r < 0)
                return r;

        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = strdup(args[i]);
                char *eq;

                if (!path)
                        return -ENOMEM;
                eq = strchr(path, '=');
                if (!eq)
                        return usage_error("expected FIELD=VALUE, got '%s'", args[i]);
                *eq = '\0';
                r = set_field(msg, path, eq + 1);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(msg);
        return 0;
}

/* ---- printing ---------------------------------------------------------------------------- */

static void print_bytes(const uint8_t *data, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '\\')
                        putchar(data[i]);
                else
                        printf("\\x%02x", data[i]);
        }
}

static void print_message(const ProtobufCMessage *msg, const char *prefix);

static void print_value(const ProtobufCFieldDescriptor *f, const void *p, const char *path)
{
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
                if (sub)
                        print_message(sub, path);
                return;
        }

        printf("%s: ", path);
        switch (f->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
                printf("%" PRId32, *(const int32_t *)p);
                break;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
                printf("%" PRIu32, *(const uint32_t *)p);
                break;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
                printf("%" PRId64, *(const int64_t *)p);
                break;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
                printf("%" PRIu64, *(const uint64_t *)p);
                break;
        case PROTOBUF_C_TYPE_BOOL:
                printf("%s", *(const protobuf_c_boolean *)p ? "true" : "false");
                break;
        case PROTOBUF_C_TYPE_FLOAT:
                printf("%g", (double)*(const float *)p);
                break;
        case PROTOBUF_C_TYPE_DOUBLE:
                printf("%g", *(const double *)p);
                break;
        case PROTOBUF_C_TYPE_ENUM: {
                int32_t v = *(const int32_t *)p;
                const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
                if (ev)
                        printf("%s", ev->name);
                else
                        printf("%" PRId32, v);
                break;
        }
        case PROTOBUF_C_TYPE_STRING: {
                const char *s = *(const char *const *)p;
                print_bytes((const uint8_t *)strempty(s), strlen(strempty(s)));
                break;
        }
        case PROTOBUF_C_TYPE_BYTES: {
                const ProtobufCBinaryData *b = p;
                print_bytes(b->data, b->len);
                break;
        }
        case PROTOBUF_C_TYPE_MESSAGE:
                break;
        }
        putchar('\n');
}

static void print_message(const ProtobufCMessage *msg, const char *prefix)
{
        const ProtobufCMessageDescriptor *desc = msg->descriptor;

        for (unsigned i = 0; i < desc->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &desc->fields[i];
                const char *base = (const char *)msg;
                char path[512];

                snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", f->name);
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(const size_t *)(base + f->quantifier_offset);
                        const char *array = *(const char *const *)(base + f->offset);
                        char item[600];

                        printf("%s.count: %zu\n", path, n);
                        for (size_t j = 0; j < n; j++) {
                                snprintf(item, sizeof(item), "%s[%zu]", path, j);
                                print_value(f, array + j * scalar_size(f->type), item);
                        }
                } else
                        print_value(f, base + f->offset, path);
        }
}

static int print_decoded(const ProtobufCMessageDescriptor *desc, const void *data, size_t size)
{
        _cleanup_proto_ ProtobufCMessage *msg = NULL;
        int r;

        r = proto_unpack(desc, data, size, SIZE_MAX, &msg);
        if (r < 0) {
                fprintf(stderr, "pbtool: %zu bytes do not parse as %s\n", size, desc->short_name);
                return r;
        }
        print_message(msg, "");
        return 0;
}

/* ---- verbs ------------------------------------------------------------------------------- */

static int verb_encode(int argc, char **argv)
{
        _cleanup_proto_ ProtobufCMessage *msg = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        const ProtobufCMessageDescriptor *desc;
        size_t size;
        int r;

        if (argc < 2)
                return usage_error("%s", "encode needs a TYPE");
        desc = find_type(argv[1]);
        if (!desc)
                return usage_error("unknown message type '%s'", argv[1]);
        r = build_message(desc, argv + 2, argc - 2, &msg);
        if (r < 0)
                return r;
        r = proto_pack(msg, &data, &size);
        if (r < 0)
                return r;
        printf("%zu", size);
        for (size_t i = 0; i < size; i++)
                printf(" %u", data[i]);
        printf("\n");
        return 0;
}

/* Parse byte values from words: an optional leading "ay" and count (busctl's output format),
 * then decimal bytes. */
static int parse_bytes(char **words, int n, uint8_t **ret, size_t *ret_size)
{
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 0;
        int i = 0;

        if (i < n && streq(words[i], "ay")) {
                i += 2; /* the count that follows is implied by the bytes */
                if (i > n)
                        return usage_error("%s", "'ay' without a count");
        }
        data = malloc((size_t)MAX(n - i, 1));
        if (!data)
                return -ENOMEM;
        for (; i < n; i++) {
                uint32_t v;
                if (parse_integer(words[i], false, 0, 255, &v, 4) < 0)
                        return usage_error("not a byte value: '%s'", words[i]);
                data[size++] = (uint8_t)v;
        }
        *ret = TAKE_PTR(data);
        *ret_size = size;
        return 0;
}

static int read_words_from_stdin(char ***ret, int *ret_n)
{
        char **words = NULL, *w = NULL;
        int n = 0;

        while (scanf("%ms", &w) == 1) {
                char **nw = realloc(words, sizeof(char *) * (size_t)(n + 1));
                if (!nw) {
                        free(w);
                        break;
                }
                words = nw;
                words[n++] = w;
        }
        *ret = words;
        *ret_n = n;
        return 0;
}

static int verb_decode(int argc, char **argv)
{
        _cleanup_free_ uint8_t *data = NULL;
        const ProtobufCMessageDescriptor *desc;
        char **words = argv + 2;
        int n = argc - 2, r;
        bool from_stdin = n == 0;
        size_t size;

        if (argc < 2)
                return usage_error("%s", "decode needs a TYPE");
        desc = find_type(argv[1]);
        if (!desc)
                return usage_error("unknown message type '%s'", argv[1]);
        if (from_stdin)
                read_words_from_stdin(&words, &n);
        r = parse_bytes(words, n, &data, &size);
        if (from_stdin) {
                for (int i = 0; i < n; i++)
                        free(words[i]);
                free(words);
        }
        if (r < 0)
                return r;
        return print_decoded(desc, data, size);
}

typedef struct CallOptions {
        const char *address;
        uint64_t timeout_usec;
        char *fds[64];
        unsigned n_fds;
        long raw_size; /* call-raw: -1 = bytes from the arguments */
        unsigned raw_fill;
} CallOptions;

static int parse_call_options(int argc, char **argv, CallOptions *o)
{
        enum { ARG_ADDRESS = 0x100, ARG_TIMEOUT, ARG_FD, ARG_SIZE, ARG_FILL };
        static const struct option options[] = {
                {"address", required_argument, NULL, ARG_ADDRESS},
                {"timeout", required_argument, NULL, ARG_TIMEOUT},
                {"fd", required_argument, NULL, ARG_FD},
                {"size", required_argument, NULL, ARG_SIZE},
                {"fill", required_argument, NULL, ARG_FILL},
                {},
        };
        int c;

        o->timeout_usec = 25 * USEC_PER_SEC;
        o->raw_size = -1;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case ARG_ADDRESS:
                        o->address = optarg;
                        break;
                case ARG_TIMEOUT: {
                        uint32_t s;
                        if (parse_integer(optarg, false, 0, 3600, &s, 4) < 0 || s == 0)
                                return usage_error("bad --timeout '%s'", optarg);
                        o->timeout_usec = s * USEC_PER_SEC;
                        break;
                }
                case ARG_FD:
                        if (o->n_fds >= ELEMENTSOF(o->fds))
                                return usage_error("%s", "too many --fd");
                        o->fds[o->n_fds++] = optarg;
                        break;
                case ARG_SIZE: {
                        uint32_t s;
                        if (parse_integer(optarg, false, 0, 256 * 1024 * 1024, &s, 4) < 0)
                                return usage_error("bad --size '%s'", optarg);
                        o->raw_size = s;
                        break;
                }
                case ARG_FILL:
                        if (parse_integer(optarg, false, 0, 255, &o->raw_fill, 4) < 0)
                                return usage_error("bad --fill '%s'", optarg);
                        break;
                default:
                        return -EINVAL;
                }
        }
        return optind;
}

static int connect_bus(const char *address, sd_bus **ret)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (!address)
                r = sd_bus_open_system(&bus);
        else {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, true);
                if (r >= 0)
                        r = sd_bus_start(bus);
        }
        if (r < 0) {
                fprintf(stderr, "pbtool: cannot connect to the bus %s: %s\n", address ?: "(system)",
                        strerror(-r));
                return r;
        }
        *ret = TAKE_PTR(bus);
        return 0;
}

static int do_call(const CallOptions *o, const Method *method, const uint8_t *data, size_t size)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (connect_bus(o->address, &bus) < 0)
                return EXIT_NO_BUS;

        r = sd_bus_message_new_method_call(bus, &call, CONCIERGE_BUS_NAME, CONCIERGE_OBJECT_PATH,
                                           CONCIERGE_INTERFACE, method->name);
        if (r >= 0 && method->request)
                r = sd_bus_message_append_array(call, 'y', data, size);
        if (r >= 0 && streq(method->name, CONCIERGE_METHOD_START_VM)) {
                r = sd_bus_message_open_container(call, 'a', "h");
                for (unsigned i = 0; r >= 0 && i < o->n_fds; i++) {
                        _cleanup_close_ int fd = open(o->fds[i], O_RDONLY | O_CLOEXEC);
                        if (fd < 0) {
                                fprintf(stderr, "pbtool: cannot open %s: %m\n", o->fds[i]);
                                return EXIT_USAGE;
                        }
                        r = sd_bus_message_append(call, "h", fd);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(call);
        }
        if (r < 0) {
                fprintf(stderr, "pbtool: cannot build the call: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }

        r = sd_bus_call(bus, call, o->timeout_usec, &error, &reply);
        if (r < 0) {
                if (sd_bus_error_is_set(&error)) {
                        printf("dbus-error: %s: %s\n", error.name, strempty(error.message));
                        return sd_bus_error_has_name(&error, SD_BUS_ERROR_TIMEOUT) ||
                                               sd_bus_error_has_name(&error, SD_BUS_ERROR_NO_REPLY)
                                       ? EXIT_TIMEOUT
                                       : EXIT_DBUS_ERROR;
                }
                fprintf(stderr, "pbtool: call failed: %s\n", strerror(-r));
                return r == -ETIMEDOUT ? EXIT_TIMEOUT : EXIT_DBUS_ERROR;
        }

        if (method->response) {
                const void *rdata = NULL;
                size_t rsize = 0;

                r = sd_bus_message_read_array(reply, 'y', &rdata, &rsize);
                if (r <= 0) {
                        fprintf(stderr, "pbtool: reply carries no ay\n");
                        return EXIT_FAILURE;
                }
                if (print_decoded(method->response, rdata, rsize) < 0)
                        return EXIT_FAILURE;
        } else
                printf("ok\n");
        return 0;
}

static int verb_call(int argc, char **argv, bool raw)
{
        _cleanup_proto_ ProtobufCMessage *msg = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        CallOptions o = {};
        const Method *method;
        size_t size = 0;
        int i, r;

        i = parse_call_options(argc, argv, &o);
        if (i < 0)
                return EXIT_USAGE;
        if (i >= argc)
                return usage_error("%s", "call needs a METHOD"), EXIT_USAGE;
        method = find_method(argv[i]);
        if (!method)
                return usage_error("unknown method '%s'", argv[i]), EXIT_USAGE;
        i++;

        if (raw) {
                if (o.raw_size >= 0) {
                        if (i < argc)
                                return usage_error("%s", "give either --size or bytes"), EXIT_USAGE;
                        size = (size_t)o.raw_size;
                        data = malloc(MAX(size, (size_t)1));
                        if (!data)
                                return EXIT_FAILURE;
                        memset(data, (int)o.raw_fill, size);
                } else if (parse_bytes(argv + i, argc - i, &data, &size) < 0)
                        return EXIT_USAGE;
        } else if (method->request) {
                r = build_message(method->request, argv + i, argc - i, &msg);
                if (r < 0)
                        return EXIT_USAGE;
                if (proto_pack(msg, &data, &size) < 0)
                        return EXIT_FAILURE;
        } else if (i < argc)
                return usage_error("%s takes no fields", method->name), EXIT_USAGE;

        return do_call(&o, method, data, size);
}

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        const ProtobufCMessageDescriptor *desc = userdata;
        const void *data = NULL;
        size_t size = 0;

        if (sd_bus_message_read_array(m, 'y', &data, &size) <= 0) {
                fprintf(stderr, "pbtool: signal carries no ay\n");
                exit(EXIT_FAILURE);
        }
        if (print_decoded(desc, data, size) < 0)
                exit(EXIT_FAILURE);
        fflush(stdout);
        exit(EXIT_SUCCESS);
}

static int verb_wait_signal(int argc, char **argv)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const ProtobufCMessageDescriptor *desc = NULL;
        CallOptions o = {};
        uint64_t deadline;
        struct timespec ts;
        int i, r;

        i = parse_call_options(argc, argv, &o);
        if (i < 0)
                return EXIT_USAGE;
        if (i != argc - 1)
                return usage_error("%s", "wait-signal needs one SIGNAL"), EXIT_USAGE;
        for (size_t j = 0; j < ELEMENTSOF(signals); j++)
                if (streq(signals[j].name, argv[i]))
                        desc = signals[j].desc;
        if (!desc)
                return usage_error("unknown signal '%s'", argv[i]), EXIT_USAGE;

        if (connect_bus(o.address, &bus) < 0)
                return EXIT_NO_BUS;
        r = sd_bus_match_signal(bus, NULL, CONCIERGE_BUS_NAME, CONCIERGE_OBJECT_PATH, CONCIERGE_INTERFACE,
                                argv[i], on_signal, (void *)desc);
        if (r < 0) {
                fprintf(stderr, "pbtool: cannot subscribe: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        fprintf(stderr, "subscribed\n");

        clock_gettime(CLOCK_MONOTONIC, &ts);
        deadline = (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000 + o.timeout_usec;
        for (;;) {
                uint64_t now;

                r = sd_bus_process(bus, NULL);
                if (r < 0) {
                        fprintf(stderr, "pbtool: bus failed: %s\n", strerror(-r));
                        return EXIT_NO_BUS;
                }
                if (r > 0)
                        continue;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                now = (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
                if (now >= deadline) {
                        fprintf(stderr, "pbtool: no %s within the timeout\n", argv[i]);
                        return EXIT_TIMEOUT;
                }
                r = sd_bus_wait(bus, deadline - now);
                if (r < 0) {
                        fprintf(stderr, "pbtool: bus failed: %s\n", strerror(-r));
                        return EXIT_NO_BUS;
                }
        }
}

int main(int argc, char **argv)
{
        const char *verb = argc > 1 ? argv[1] : "";
        int r;

        if (streq(verb, "encode"))
                r = verb_encode(argc - 1, argv + 1) < 0 ? EXIT_USAGE : 0;
        else if (streq(verb, "decode")) {
                r = verb_decode(argc - 1, argv + 1);
                r = r == -EINVAL ? EXIT_USAGE : r < 0 ? EXIT_FAILURE : 0;
        } else if (streq(verb, "call"))
                r = verb_call(argc - 1, argv + 1, false);
        else if (streq(verb, "call-raw"))
                r = verb_call(argc - 1, argv + 1, true);
        else if (streq(verb, "wait-signal"))
                r = verb_wait_signal(argc - 1, argv + 1);
        else {
                fprintf(stderr,
                        "usage: pbtool encode|decode|call|call-raw|wait-signal ... (see tests/pbtool.c)\n");
                r = EXIT_USAGE;
        }
        return r;
}
