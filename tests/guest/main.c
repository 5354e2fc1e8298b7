/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test guest ring-3 main: prints TESTGUEST READY on ttyS0, then serves line commands on ttyS1.
 *
 * Commands (one per line; every reply is one line; errors start with "ERR"):
 *   ping                        PONG
 *   fill <mib> <seed> [<off>]   write pattern(seed) over <mib> MiB of the heap from <off> MiB
 *                               -> OK filled <pages>
 *   verify [<seed>]             check every tracked page (pattern pages against <seed>, or their
 *                               own seed when none is given; zeroed pages against zero)
 *                               -> OK <pages> <checksum> | BAD <first bad guest-physical page>
 *   zero <mib> [<off>]          write zeros -> OK zeroed <pages>
 *   touch <mib> [<off>]         read one word per page -> OK touched <pages>
 *   free <mib> [<off>]          forget the contents (pages stay resident) -> OK freed <pages>
 *   stall <seconds>             spin in ring 0 with interrupts off -> OK stalled
 *   spin <seconds>              busy loop in ring 3 -> OK spun <loops>
 *   counter                     COUNTER <timer ticks> (advances at 100 Hz while the vCPU runs)
 *   cpus                        CPUS <vCPUs checked in>
 *   meminfo                     MEMINFO total=<bytes> heap=<bytes> tracked=<pages> free=<pages>
 *                               balloon=<pages>
 *   balloon                     BALLOON state=<absent|running|failed> ... (virtio-balloon driver)
 *   balloon-garbage             post a descriptor outside RAM on the inflate queue (the device
 *                               must go to NEEDS_RESET; the driver then sets it up again)
 *   tsc                         TSC <kHz>
 *   faultbench <mib> [seq|rand] [<off>]  time the first read of each page (bench.c)
 *                               -> OK faultbench pages=<n> p50_ns= p99_ns= max_ns= mean_ns=
 *   crash                       touch an unmapped address (reported on ttyS0, VM stops as crashed)
 *   exit [<code>]               no code: i8042 reset; with a code: the debug-exit port
 * Commands can also be given on the kernel command line after "--", separated by ';'; their
 * replies go to ttyS0. */
#include "balloon.h"
#include "bench.h"
#include "guest.h"
#include "mem.h"

#define LINE_MAX 256

typedef void (*ReplyFn)(const char *fmt, ...);
static ReplyFn reply;

static uint64_t tsc_khz_cached;

uint64_t tsc_khz(void)
{
        if (tsc_khz_cached)
                return tsc_khz_cached;
        /* KVM's (VMware-style) timing leaf, when the hypervisor offers it, gives the TSC rate. */
        uint32_t r[4];
        cpuid(0x40000000, 0, r);
        if (r[0] >= 0x40000010 && r[0] < 0x40000100) {
                cpuid(0x40000010, 0, r);
                if (r[0])
                        return tsc_khz_cached = r[0];
        }
        /* Calibrate against 10 PIT ticks (100 ms). */
        uint64_t t0 = ticks;
        while (ticks == t0)
                idle();
        uint64_t c0 = rdtsc();
        while (ticks < t0 + 11)
                idle();
        return tsc_khz_cached = (rdtsc() - c0) / 100;
}

void guest_exit(uint32_t code)
{
        outl(PORT_DEBUG_EXIT, code);
        for (;;)
                idle();
}

void guest_reset(void)
{
        outb(PORT_I8042_CMD, 0xfe);
        for (;;)
                idle();
}

/* --- argument parsing ------------------------------------------------------------------------- */
static const char *skip_spaces(const char *s)
{
        while (*s == ' ' || *s == '\t')
                s++;
        return s;
}

/* Parse an unsigned decimal (or 0x hex) number; returns the rest, or NULL when there is none. */
static const char *parse_u64(const char *s, uint64_t *ret)
{
        s = skip_spaces(s);
        uint64_t v = 0;
        unsigned base = 10, digits = 0;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
                base = 16, s += 2;
        for (;; s++, digits++) {
                unsigned d;
                if (*s >= '0' && *s <= '9')
                        d = (unsigned)(*s - '0');
                else if (base == 16 && *s >= 'a' && *s <= 'f')
                        d = (unsigned)(*s - 'a' + 10);
                else if (base == 16 && *s >= 'A' && *s <= 'F')
                        d = (unsigned)(*s - 'A' + 10);
                else
                        break;
                if (v > (UINT64_MAX - d) / base)
                        return NULL;
                v = v * base + d;
        }
        if (!digits || (*s && *s != ' ' && *s != '\t'))
                return NULL;
        *ret = v;
        return s;
}

static bool at_end(const char *s)
{
        return *skip_spaces(s) == 0;
}

/* Check a page range [off_mib, off_mib + mib) against the heap; reply with an error if outside. */
static bool heap_range(uint64_t mib, uint64_t off, uint64_t *first, uint64_t *count)
{
        uint64_t pages = mib * 256, first_page = off * 256;
        if (mib > (1u << 20) || off > (1u << 20) || first_page + pages > mem_heap_pages()) {
                reply("ERR range of %lu MiB at %lu MiB is outside the heap (%lu MiB)\n", mib, off,
                      mem_heap_pages() >> 8);
                return false;
        }
        *first = first_page;
        *count = pages;
        return true;
}

/* "<mib> [<off>]" -> a page range inside the heap; replies with usage or range errors. */
static bool parse_range(const char *args, const char *usage, uint64_t *first, uint64_t *count)
{
        uint64_t mib, off = 0;
        const char *p = parse_u64(args, &mib);
        if (p && !at_end(p))
                p = parse_u64(p, &off);
        if (!p || !at_end(p)) {
                reply("ERR usage: %s <mib> [<offset-mib>]\n", usage);
                return false;
        }
        return heap_range(mib, off, first, count);
}

static uint64_t *page_ptr(uint64_t page)
{
        return (uint64_t *)(uintptr_t)(mem_heap_base() + page * PAGE_SIZE);
}

static bool range_has_balloon(uint64_t first, uint64_t count)
{
        for (uint64_t i = first; i < first + count; i++)
                if (page_state[i] == PAGE_BALLOON) {
                        reply("ERR page %lu is in the balloon\n", (mem_heap_base() >> 12) + i);
                        return true;
                }
        return false;
}

/* --- commands --------------------------------------------------------------------------------- */
static void cmd_fill(const char *args)
{
        uint64_t mib, seed, off = 0, first, count;
        const char *p = parse_u64(args, &mib);
        if (p)
                p = parse_u64(p, &seed);
        if (p && !at_end(p))
                p = parse_u64(p, &off);
        if (!p || !at_end(p)) {
                reply("ERR usage: fill <mib> <seed> [<offset-mib>]\n");
                return;
        }
        if (!heap_range(mib, off, &first, &count) || range_has_balloon(first, count))
                return;
        int slot = mem_seed_slot(seed);
        if (slot < 0) {
                reply("ERR too many distinct seeds\n");
                return;
        }
        for (uint64_t i = first; i < first + count; i++) {
                uint64_t *w = page_ptr(i), gpa = (uint64_t)(uintptr_t)w;
                for (unsigned j = 0; j < PAGE_SIZE / 8; j++)
                        w[j] = pattern_word(seed, gpa + j * 8);
                page_state[i] = (uint8_t)slot;
                mem_set_used(i, true);
        }
        reply("OK filled %lu\n", count);
}

static void cmd_verify(const char *args)
{
        uint64_t seed = 0;
        bool forced = false;
        if (!at_end(args)) {
                const char *p = parse_u64(args, &seed);
                if (!p || !at_end(p)) {
                        reply("ERR usage: verify [<seed>]\n");
                        return;
                }
                forced = true;
        }
        uint64_t n = 0, h = UINT64_C(0xcbf29ce484222325);
        for (uint64_t i = 0; i < mem_heap_pages(); i++) {
                uint8_t st = page_state[i];
                if (st == PAGE_UNTRACKED || st == PAGE_BALLOON)
                        continue;
                const uint64_t *w = page_ptr(i);
                uint64_t gpa = (uint64_t)(uintptr_t)w, s = forced ? seed : seed_table[st - PAGE_SEED0];
                for (unsigned j = 0; j < PAGE_SIZE / 8; j++) {
                        uint64_t want = st == PAGE_ZERO ? 0 : pattern_word(s, gpa + j * 8);
                        if (w[j] != want) {
                                reply("BAD %lu\n", gpa >> 12);
                                return;
                        }
                        h = (h ^ w[j]) * UINT64_C(0x100000001b3);
                }
                n++;
        }
        reply("OK %lu %016lx\n", n, h);
}

static void cmd_zero(const char *args)
{
        uint64_t first, count;
        if (!parse_range(args, "zero", &first, &count))
                return;
        if (range_has_balloon(first, count))
                return;
        for (uint64_t i = first; i < first + count; i++) {
                memset(page_ptr(i), 0, PAGE_SIZE);
                page_state[i] = PAGE_ZERO;
                mem_set_used(i, true);
        }
        reply("OK zeroed %lu\n", count);
}

static void cmd_touch(const char *args)
{
        uint64_t first, count;
        if (!parse_range(args, "touch", &first, &count))
                return;
        if (range_has_balloon(first, count))
                return;
        uint64_t sum = 0;
        for (uint64_t i = first; i < first + count; i++)
                sum += *(volatile uint64_t *)page_ptr(i);
        __asm__ volatile("" : : "r"(sum));
        reply("OK touched %lu\n", count);
}

static void cmd_free(const char *args)
{
        uint64_t first, count;
        if (!parse_range(args, "free", &first, &count))
                return;
        uint64_t n = 0;
        for (uint64_t i = first; i < first + count; i++)
                if (page_state[i] != PAGE_BALLOON && page_state[i] != PAGE_UNTRACKED) {
                        page_state[i] = PAGE_UNTRACKED;
                        n++;
                }
        reply("OK freed %lu\n", n);
}

static bool parse_seconds(const char *args, const char *usage, uint64_t *ret)
{
        const char *p = parse_u64(args, ret);
        if (!p || !at_end(p) || *ret > 3600) {
                reply("ERR usage: %s <seconds> (at most 3600)\n", usage);
                return false;
        }
        return true;
}

static void cmd_stall(const char *args)
{
        uint64_t s;
        if (!parse_seconds(args, "stall", &s))
                return;
        stall_cycles(s * tsc_khz() * 1000);
        reply("OK stalled\n");
}

static void cmd_spin(const char *args)
{
        uint64_t s, loops = 0;
        if (!parse_seconds(args, "spin", &s))
                return;
        uint64_t end = rdtsc() + s * tsc_khz() * 1000;
        while (rdtsc() < end)
                loops++;
        reply("OK spun %lu\n", loops);
}

static void cmd_meminfo(void)
{
        uint64_t tracked = 0, free = 0, balloon = 0;
        for (uint64_t i = 0; i < mem_heap_pages(); i++) {
                if (page_state[i] == PAGE_UNTRACKED)
                        free++;
                else if (page_state[i] == PAGE_BALLOON)
                        balloon++;
                else
                        tracked++;
        }
        reply("MEMINFO total=%lu heap=%lu tracked=%lu free=%lu balloon=%lu\n", mem_total_bytes(),
              mem_heap_pages() * PAGE_SIZE, tracked, free, balloon);
}

static void run_command(char *line)
{
        /* Split "<verb> <args>". */
        char *verb = (char *)skip_spaces(line), *args = verb;
        while (*args && *args != ' ' && *args != '\t')
                args++;
        if (*args)
                *args++ = 0;
        if (!*verb)
                return;

        if (streq_(verb, "ping"))
                reply("PONG\n");
        else if (streq_(verb, "fill"))
                cmd_fill(args);
        else if (streq_(verb, "verify"))
                cmd_verify(args);
        else if (streq_(verb, "zero"))
                cmd_zero(args);
        else if (streq_(verb, "touch"))
                cmd_touch(args);
        else if (streq_(verb, "free"))
                cmd_free(args);
        else if (streq_(verb, "stall"))
                cmd_stall(args);
        else if (streq_(verb, "spin"))
                cmd_spin(args);
        else if (streq_(verb, "counter"))
                reply("COUNTER %lu\n", ticks);
        else if (streq_(verb, "cpus"))
                reply("CPUS %u\n", cpus_online);
        else if (streq_(verb, "meminfo"))
                cmd_meminfo();
        else if (streq_(verb, "tsc"))
                reply("TSC %lu\n", tsc_khz());
        else if (streq_(verb, "faultbench"))
                cmd_faultbench(args, reply);
        else if (streq_(verb, "crash"))
                (void)*(volatile uint64_t *)(uintptr_t)UINT64_C(0x8000000000); /* beyond the page tables */
        else if (streq_(verb, "exit")) {
                uint64_t code;
                if (at_end(args))
                        guest_reset();
                const char *p = parse_u64(args, &code);
                if (!p || !at_end(p) || code > UINT32_MAX) {
                        reply("ERR usage: exit [<code>]\n");
                        return;
                }
                guest_exit((uint32_t)code);
        } else if (!balloon_command(verb, args, reply))
                reply("ERR unknown command '%s'\n", verb);
}

static void run_cmdline(void)
{
        const char *c = mem_cmdline();
        if (!c)
                return;
        for (; *c; c++)
                if (c[0] == '-' && c[1] == '-' && (c[2] == ' ' || c[2] == 0) && (c == mem_cmdline() || c[-1] == ' '))
                        break;
        if (!*c)
                return;
        c += 2;
        char line[LINE_MAX];
        while (*c) {
                unsigned n = 0;
                while (*c && *c != ';' && n < LINE_MAX - 1)
                        line[n++] = *c++;
                line[n] = 0;
                if (*c == ';')
                        c++;
                run_command(line);
        }
}

void user_entry(void);
void user_entry(void)
{
        uart_init(COM1, false);
        uart_init(COM2, true);
        reply = con_printf;
        if (mem_init() < 0) {
                con_printf("TESTGUEST ERROR no usable RAM map in start_info\n");
                guest_exit(1);
        }
        con_printf("TESTGUEST READY cpus=%u heap=%lu\n", cpus_online, mem_heap_pages() * PAGE_SIZE);
        balloon_init();
        run_cmdline();

        reply = chan_printf;
        char line[LINE_MAX];
        unsigned n = 0;
        bool overflow = false;
        for (;;) {
                if (!uart_rx_ready(COM2)) {
                        if (!balloon_poll())
                                idle();
                        continue;
                }
                char c = uart_getc(COM2);
                if (c == '\n' || c == '\r') {
                        line[n] = 0;
                        if (overflow)
                                reply("ERR line too long (max %u)\n", LINE_MAX - 1);
                        else
                                run_command(line);
                        n = 0;
                        overflow = false;
                } else if (n < LINE_MAX - 1)
                        line[n++] = c;
                else
                        overflow = true;
        }
}
