/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the MP table writer (vmm_backend/x86/mptable.c): the table is found and parsed the
 * way Linux's mpparse does (scan for "_MP_" on 16-byte boundaries, checksums, entry walk). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "vmm_backend/macro.h"
#include "vmm_backend/x86/mptable.h"

#define RAM_SIZE (2 * MIB)

static int setup(void **state)
{
        GuestMem *m = calloc(1, sizeof(*m));
        m->host = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(m->host != MAP_FAILED);
        m->size = RAM_SIZE;
        m->memfd = -1;
        *state = m;
        return 0;
}

static int teardown(void **state)
{
        GuestMem *m = *state;
        munmap(m->host, m->size);
        free(m);
        return 0;
}

static uint16_t rd16(const uint8_t *p)
{
        return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
        return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
        uint8_t s = 0;
        for (size_t i = 0; i < n; i++)
                s += p[i];
        return s;
}

/* Linux scans [639 KiB, 640 KiB) for the floating pointer in 16-byte steps. */
static const uint8_t *find_floating(const GuestMem *m)
{
        for (uint64_t a = 639 * 1024; a < 640 * 1024; a += 16)
                if (memcmp(m->host + a, "_MP_", 4) == 0 && sum(m->host + a, 16) == 0)
                        return m->host + a;
        return NULL;
}

static void check_table(const GuestMem *m, unsigned ncpus, const PciIrqRoute *pci, size_t npci)
{
        const uint8_t *fp = find_floating(m);
        assert_non_null(fp);
        assert_int_equal(fp[8], 1);  /* length: one 16-byte paragraph */
        assert_int_equal(fp[9], 4);  /* spec 1.4 */
        assert_int_equal(fp[11], 0); /* a configuration table is present */

        uint32_t phys = rd32(fp + 4);
        assert_true(phys + MP_HEADER_SIZE <= m->size);
        const uint8_t *ct = m->host + phys;
        assert_memory_equal(ct, "PCMP", 4);
        uint16_t length = rd16(ct + 4);
        assert_int_equal(ct[6], 4);
        assert_int_equal(sum(ct, length), 0);
        assert_int_equal(length + MP_FLOATING_SIZE, mptable_size(ncpus, pci, npci));
        assert_true(phys + length <= MPTABLE_LIMIT);
        assert_int_equal(rd32(ct + 36), MP_LAPIC_ADDR);
        uint16_t count = rd16(ct + 34);

        unsigned cpus = 0, bsps = 0, ioapics = 0, pci_ints = 0, extint = 0, nmi = 0;
        bool pci_bus = false, isa_bus = false;
        uint8_t ioapic_id = 0;
        bool pin_isa[MP_IRQ_LINES] = {}, pin_pci[MP_IRQ_LINES] = {}, route_seen[PCI_MAX_SLOTS * 4] = {};
        const uint8_t *e = ct + MP_HEADER_SIZE, *end = ct + length;
        for (unsigned i = 0; i < count; i++) {
                assert_true(e < end);
                switch (e[0]) {
                case MP_ENTRY_PROCESSOR:
                        assert_int_equal(e[1], cpus); /* APIC ids 0..n-1 in order */
                        assert_true(e[3] & 1);        /* enabled */
                        if (e[3] & 2) {
                                bsps++;
                                assert_int_equal(e[1], 0);
                        }
                        cpus++;
                        e += 20;
                        break;
                case MP_ENTRY_BUS:
                        /* Linux's mpparse: a bus is defined before the entries that name it. */
                        if (e[1] == MP_BUS_PCI) {
                                assert_memory_equal(e + 2, "PCI   ", 6);
                                assert_false(pci_bus);
                                pci_bus = true;
                        } else {
                                assert_int_equal(e[1], MP_BUS_ISA);
                                assert_memory_equal(e + 2, "ISA   ", 6);
                                assert_false(isa_bus);
                                isa_bus = true;
                        }
                        e += 8;
                        break;
                case MP_ENTRY_IOAPIC:
                        ioapic_id = e[1];
                        assert_true(e[3] & 1);
                        assert_int_equal(rd32(e + 4), MP_IOAPIC_ADDR);
                        ioapics++;
                        e += 8;
                        break;
                case MP_ENTRY_IOINT:
                        assert_int_equal(e[1], MP_INT_INT);
                        assert_int_equal(rd16(e + 2), 0);  /* polarity/trigger conform to the bus */
                        assert_int_equal(e[6], ncpus + 1); /* to the I/O APIC */
                        assert_true(e[7] < MP_IRQ_LINES);
                        if (e[4] == MP_BUS_PCI) {
                                assert_true(pci_bus);
                                /* (slot << 2) | (pin - 1), as IO_APIC_get_PCI_irq_vector matches it */
                                size_t k;
                                for (k = 0; k < npci; k++)
                                        if (e[5] == (pci[k].slot << 2 | (pci[k].pin - 1)))
                                                break;
                                assert_true(k < npci);
                                assert_false(route_seen[e[5]]);
                                route_seen[e[5]] = true;
                                assert_int_equal(e[7], pci[k].irq);
                                pin_pci[e[7]] = true; /* PCI lines may be shared */
                                pci_ints++;
                        } else {
                                assert_int_equal(e[4], MP_BUS_ISA);
                                assert_true(isa_bus);
                                assert_int_equal(e[7], e[5]); /* IRQ n -> pin n */
                                assert_false(pin_isa[e[7]]);
                                pin_isa[e[7]] = true;
                        }
                        e += 8;
                        break;
                case MP_ENTRY_LINT:
                        if (e[1] == MP_INT_EXTINT) {
                                assert_int_equal(e[6], 0); /* BSP */
                                assert_int_equal(e[7], 0); /* LINT0 */
                                extint++;
                        } else {
                                assert_int_equal(e[1], MP_INT_NMI);
                                assert_int_equal(e[6], 0xff); /* all local APICs */
                                assert_int_equal(e[7], 1);    /* LINT1 */
                                nmi++;
                        }
                        e += 8;
                        break;
                default:
                        fail_msg("unknown MP entry type %u", e[0]);
                }
        }
        assert_ptr_equal(e, end);
        assert_int_equal(cpus, ncpus);
        assert_int_equal(bsps, 1);
        assert_true(pci_bus && isa_bus);
        assert_int_equal(ioapics, 1);
        assert_int_equal(ioapic_id, ncpus + 1);
        assert_int_equal(pci_ints, npci);
        /* Every pin has a source, a PCI line's pin no ISA entry (which would make it edge-triggered). */
        for (unsigned pin = 0; pin < MP_IRQ_LINES; pin++)
                assert_true(pin_isa[pin] != pin_pci[pin]);
        assert_int_equal(extint, 1);
        assert_int_equal(nmi, 1);
}

static void test_one_cpu(void **state)
{
        GuestMem *m = *state;
        assert_int_equal(mptable_write(m, 1, NULL, 0), 0);
        check_table(m, 1, NULL, 0);
}

static void test_two_cpus(void **state)
{
        GuestMem *m = *state;
        assert_int_equal(mptable_write(m, 2, NULL, 0), 0);
        check_table(m, 2, NULL, 0);
}

static void test_max_cpus(void **state)
{
        GuestMem *m = *state;
        /* Dirty the area first: the writer must not depend on zeroed memory. */
        memset(m->host + MPTABLE_START, 0x5a, mptable_size(MPTABLE_MAX_CPUS, NULL, 0));
        assert_int_equal(mptable_write(m, MPTABLE_MAX_CPUS, NULL, 0), 0);
        check_table(m, MPTABLE_MAX_CPUS, NULL, 0);
}

/* The balloon at 00:01.0 INTA# on IRQ 10 (as the VMM wires it), plus more devices sharing a line
 * and using other pins: each route is one PCI entry, and the ISA entries of their pins are gone. */
static void test_pci_routes(void **state)
{
        GuestMem *m = *state;
        const PciIrqRoute balloon[] = {{.slot = 1, .pin = 1, .irq = 10}};
        assert_int_equal(mptable_write(m, 1, balloon, 1), 0);
        check_table(m, 1, balloon, 1);

        const PciIrqRoute many[] = {
                {.slot = 1, .pin = 1, .irq = 10},
                {.slot = 2, .pin = 1, .irq = 11},
                {.slot = 3, .pin = 2, .irq = 10}, /* shares line 10 */
                {.slot = 31, .pin = 4, .irq = 23},
        };
        memset(m->host + MPTABLE_START, 0xa5, mptable_size(4, many, ELEMENTSOF(many)));
        assert_int_equal(mptable_write(m, 4, many, ELEMENTSOF(many)), 0);
        check_table(m, 4, many, ELEMENTSOF(many));
}

static void test_rejections(void **state)
{
        GuestMem *m = *state;
        assert_int_equal(mptable_write(m, 0, NULL, 0), -EINVAL);
        assert_int_equal(mptable_write(m, MPTABLE_MAX_CPUS + 1, NULL, 0), -EINVAL);
        const PciIrqRoute bad[][1] = {
                {{.slot = 32, .pin = 1, .irq = 10}},
                {{.slot = 1, .pin = 0, .irq = 10}},
                {{.slot = 1, .pin = 5, .irq = 10}},
                {{.slot = 1, .pin = 1, .irq = MP_IRQ_LINES}},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(mptable_validate(1, bad[i], 1), -EINVAL);
                assert_int_equal(mptable_write(m, 1, bad[i], 1), -EINVAL);
        }
        assert_int_equal(mptable_write(m, 1, NULL, 1), -EINVAL);
        /* RAM that ends before the table. */
        GuestMem small = {.host = m->host, .size = MPTABLE_START, .memfd = -1};
        assert_int_equal(mptable_write(&small, 1, NULL, 0), -ENOSPC);
        /* Nothing was written by the failed calls. */
        assert_null(find_floating(m));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_one_cpu, setup, teardown),
                cmocka_unit_test_setup_teardown(test_two_cpus, setup, teardown),
                cmocka_unit_test_setup_teardown(test_max_cpus, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pci_routes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rejections, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
