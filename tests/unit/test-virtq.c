/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of split-virtqueue parsing (vmm_backend/virtio/virtqueue.c) against hand-built rings
 * in a memfd "guest RAM": placement checks, chains, and every kind of malformed guest data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/mman.h>

#include "vmm_backend/macro.h"
#include "vmm_backend/virtio/virtqueue.h"

#define RAM_SIZE (UINT64_C(1) << 20)
#define QSIZE 8
#define DESC_GPA 0x1000
#define AVAIL_GPA 0x2000
#define USED_GPA 0x3000
#define DATA_GPA 0x10000

typedef struct Fixture {
        GuestMem mem;
        Virtqueue vq;
} Fixture;

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        f->mem.memfd = memfd_create("test-ram", MFD_CLOEXEC);
        assert_true(f->mem.memfd >= 0);
        assert_int_equal(ftruncate(f->mem.memfd, RAM_SIZE), 0);
        f->mem.host = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->mem.memfd, 0);
        assert_true(f->mem.host != MAP_FAILED);
        f->mem.size = RAM_SIZE;
        assert_int_equal(virtq_init(&f->vq, QSIZE), 0);
        f->vq.desc_gpa = DESC_GPA;
        f->vq.avail_gpa = AVAIL_GPA;
        f->vq.used_gpa = USED_GPA;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        virtq_done(&f->vq);
        munmap(f->mem.host, RAM_SIZE);
        close(f->mem.memfd);
        free(f);
        return 0;
}

static VirtqDesc *desc(Fixture *f, unsigned i)
{
        return (VirtqDesc *)(void *)(f->mem.host + DESC_GPA) + i;
}

static uint16_t *avail(Fixture *f)
{
        return (uint16_t *)(void *)(f->mem.host + AVAIL_GPA);
}

static uint16_t *used(Fixture *f)
{
        return (uint16_t *)(void *)(f->mem.host + USED_GPA);
}

static void set_desc(Fixture *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
        *desc(f, i) = (VirtqDesc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

/* Driver side: make head available. */
static void publish(Fixture *f, uint16_t head)
{
        uint16_t idx = avail(f)[1];
        avail(f)[2 + idx % QSIZE] = head;
        __atomic_store_n(&avail(f)[1], (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static void enable(Fixture *f)
{
        const char *reason = NULL;
        assert_int_equal(virtq_enable(&f->vq, &f->mem, &reason), 0);
        assert_null(reason);
}

static void expect_enable_fails(Fixture *f, const char *what)
{
        const char *reason = NULL;
        assert_int_equal(virtq_enable(&f->vq, &f->mem, &reason), -EINVAL);
        assert_non_null(reason);
        assert_non_null(strstr(reason, what));
        assert_false(f->vq.enabled);
}

static void expect_pop_fails(Fixture *f, int err, const char *what)
{
        VirtqChain c;
        const char *reason = NULL;
        uint16_t last = f->vq.last_avail;
        assert_int_equal(virtq_pop(&f->vq, &c, &reason), err);
        assert_non_null(reason);
        assert_non_null(strstr(reason, what));
        assert_int_equal(f->vq.last_avail, last); /* nothing consumed */
}

static void test_enable_validates_size(void **state)
{
        Fixture *f = *state;
        uint16_t bad[] = { 0, 3, 6, 16, 12 };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                f->vq.size = bad[i];
                expect_enable_fails(f, "queue size");
        }
        f->vq.size = 4;
        enable(f);
        assert_int_equal(virtq_init(&(Virtqueue){}, 6), -EINVAL);
        assert_int_equal(virtq_init(&(Virtqueue){}, 0), -EINVAL);
}

static void test_enable_validates_alignment(void **state)
{
        Fixture *f = *state;
        f->vq.desc_gpa = DESC_GPA + 8;
        expect_enable_fails(f, "misaligned");
        f->vq.desc_gpa = DESC_GPA;
        f->vq.avail_gpa = AVAIL_GPA + 1;
        expect_enable_fails(f, "misaligned");
        f->vq.avail_gpa = AVAIL_GPA;
        f->vq.used_gpa = USED_GPA + 2;
        expect_enable_fails(f, "misaligned");
        f->vq.used_gpa = USED_GPA + 4;
        enable(f);
}

static void test_enable_validates_range(void **state)
{
        Fixture *f = *state;
        /* Past the end, straddling the end, and wrapping around 2^64. */
        f->vq.desc_gpa = RAM_SIZE;
        expect_enable_fails(f, "outside guest RAM");
        f->vq.desc_gpa = RAM_SIZE - 16 * QSIZE + 16;
        expect_enable_fails(f, "outside guest RAM");
        f->vq.desc_gpa = UINT64_MAX - 15;
        expect_enable_fails(f, "outside guest RAM");
        f->vq.desc_gpa = DESC_GPA;
        f->vq.used_gpa = RAM_SIZE - 4; /* header fits, ring does not */
        expect_enable_fails(f, "outside guest RAM");
        f->vq.used_gpa = USED_GPA;
        f->vq.avail_gpa = RAM_SIZE - 2;
        expect_enable_fails(f, "outside guest RAM");
        /* Right at the end is fine. */
        f->vq.avail_gpa = RAM_SIZE - virtq_avail_bytes(QSIZE) - (RAM_SIZE - virtq_avail_bytes(QSIZE)) % 2;
        enable(f);
}

static void test_pop_and_push_chain(void **state)
{
        Fixture *f = *state;
        enable(f);
        VirtqChain c;
        assert_int_equal(virtq_pop(&f->vq, &c, NULL), 0);

        /* 2 readable + 1 writable buffer, scattered descriptor indices. */
        memcpy(f->mem.host + DATA_GPA, "hello", 5);
        set_desc(f, 5, DATA_GPA, 5, VIRTQ_DESC_F_NEXT, 2);
        set_desc(f, 2, DATA_GPA + 0x100, 16, VIRTQ_DESC_F_NEXT, 7);
        set_desc(f, 7, DATA_GPA + 0x200, 64, VIRTQ_DESC_F_WRITE, 0);
        publish(f, 5);
        set_desc(f, 0, DATA_GPA + 0x300, 0, 0, 0); /* zero-length buffer is legal */
        publish(f, 0);
        assert_int_equal(virtq_pending(&f->vq), 2);

        assert_int_equal(virtq_pop(&f->vq, &c, NULL), 1);
        assert_int_equal(c.head, 5);
        assert_int_equal(c.n_bufs, 3);
        assert_int_equal(c.n_read, 2);
        assert_int_equal(c.n_write, 1);
        assert_int_equal(c.read_len, 21);
        assert_int_equal(c.write_len, 64);
        assert_memory_equal(c.bufs[0].host, "hello", 5);
        assert_ptr_equal(c.bufs[2].host, f->mem.host + DATA_GPA + 0x200);
        assert_true(c.bufs[2].write);

        virtq_push(&f->vq, c.head, 64);
        assert_int_equal(used(f)[1], 1);
        VirtqUsedElem e;
        memcpy(&e, f->mem.host + USED_GPA + 4, sizeof(e));
        assert_int_equal(e.id, 5);
        assert_int_equal(e.len, 64);

        assert_int_equal(virtq_pop(&f->vq, &c, NULL), 1);
        assert_int_equal(c.head, 0);
        assert_int_equal(c.n_bufs, 1);
        assert_int_equal(virtq_pop(&f->vq, &c, NULL), 0);
        assert_int_equal(virtq_pending(&f->vq), 0);
}

static void test_index_wraparound(void **state)
{
        Fixture *f = *state;
        enable(f);
        /* The free-running 16-bit indices wrap; a driver that has been busy a while is there. */
        f->vq.last_avail = 65534;
        f->vq.used_idx = 65534;
        avail(f)[1] = 65534;
        set_desc(f, 1, DATA_GPA, 8, 0, 0);
        for (int i = 0; i < 3; i++)
                publish(f, 1);
        assert_int_equal(avail(f)[1], 1);
        VirtqChain c;
        for (int i = 0; i < 3; i++) {
                assert_int_equal(virtq_pop(&f->vq, &c, NULL), 1);
                virtq_push(&f->vq, c.head, 0);
        }
        assert_int_equal(virtq_pop(&f->vq, &c, NULL), 0);
        assert_int_equal(used(f)[1], 1);
}

static void test_avail_index_jump(void **state)
{
        Fixture *f = *state;
        enable(f);
        set_desc(f, 0, DATA_GPA, 8, 0, 0);
        /* Exactly size outstanding is fine, one more is not. */
        avail(f)[1] = QSIZE + 1;
        expect_pop_fails(f, -EPROTO, "available index");
        avail(f)[1] = 0xffff; /* "behind" by one: also more than size ahead, modulo 2^16 */
        expect_pop_fails(f, -EPROTO, "available index");
        avail(f)[1] = QSIZE;
        VirtqChain c;
        for (int i = 0; i < QSIZE; i++)
                assert_int_equal(virtq_pop(&f->vq, &c, NULL), 1);
        assert_int_equal(virtq_pop(&f->vq, &c, NULL), 0);
}

static void test_bad_indices(void **state)
{
        Fixture *f = *state;
        enable(f);
        publish(f, QSIZE); /* head out of range */
        expect_pop_fails(f, -EINVAL, "beyond the queue size");
        avail(f)[2] = 0xffff;
        expect_pop_fails(f, -EINVAL, "beyond the queue size");
        avail(f)[2] = 3;
        set_desc(f, 3, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, QSIZE); /* next out of range */
        expect_pop_fails(f, -EINVAL, "beyond the queue size");
}

static void test_loops_and_long_chains(void **state)
{
        Fixture *f = *state;
        enable(f);
        /* Self loop. */
        set_desc(f, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
        publish(f, 0);
        expect_pop_fails(f, -ELOOP, "loop");
        /* Longer cycle 0 -> 1 -> 2 -> 0. */
        set_desc(f, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
        set_desc(f, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
        set_desc(f, 2, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
        expect_pop_fails(f, -ELOOP, "loop");
        /* A chain using every descriptor exactly once is the longest legal one. */
        for (unsigned i = 0; i < QSIZE; i++)
                set_desc(f, i, DATA_GPA + 8 * i, 8, i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
        VirtqChain c;
        assert_int_equal(virtq_pop(&f->vq, &c, NULL), 1);
        assert_int_equal(c.n_bufs, QSIZE);
        /* The same with the tail pointing back in: one descriptor too many. */
        set_desc(f, QSIZE - 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 3);
        publish(f, 0);
        expect_pop_fails(f, -ELOOP, "loop");
}

static void test_buffers_outside_ram(void **state)
{
        Fixture *f = *state;
        enable(f);
        publish(f, 0);
        set_desc(f, 0, RAM_SIZE, 1, 0, 0);
        expect_pop_fails(f, -EFAULT, "outside guest RAM");
        set_desc(f, 0, RAM_SIZE - 4, 8, 0, 0);
        expect_pop_fails(f, -EFAULT, "outside guest RAM");
        set_desc(f, 0, UINT64_MAX - 3, 8, 0, 0);
        expect_pop_fails(f, -EFAULT, "outside guest RAM");
        set_desc(f, 0, 0, UINT32_MAX, 0, 0);
        expect_pop_fails(f, -EFAULT, "outside guest RAM");
        /* Second buffer of a chain bad: the whole chain is refused. */
        set_desc(f, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
        set_desc(f, 1, UINT64_C(1) << 40, 8, 0, 0);
        expect_pop_fails(f, -EFAULT, "outside guest RAM");
        /* The last byte of RAM is fine. */
        set_desc(f, 1, RAM_SIZE - 1, 1, 0, 0);
        VirtqChain c;
        assert_int_equal(virtq_pop(&f->vq, &c, NULL), 1);
}

static void test_flags_and_direction(void **state)
{
        Fixture *f = *state;
        enable(f);
        publish(f, 0);
        set_desc(f, 0, DATA_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
        expect_pop_fails(f, -EINVAL, "indirect");
        set_desc(f, 0, DATA_GPA, 16, 0x8, 0);
        expect_pop_fails(f, -EINVAL, "unknown flags");
        /* Readable after writable breaks §2.7.4.2. */
        set_desc(f, 0, DATA_GPA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
        set_desc(f, 1, DATA_GPA, 16, 0, 0);
        expect_pop_fails(f, -EPROTO, "readable descriptor after a writable");
}

static void test_interrupt_suppression_and_disabled(void **state)
{
        Fixture *f = *state;
        VirtqChain c;
        /* A disabled queue yields nothing and pushes nothing. */
        publish(f, 0);
        assert_int_equal(virtq_pop(&f->vq, &c, NULL), 0);
        virtq_push(&f->vq, 0, 0);
        assert_int_equal(used(f)[1], 0);
        assert_false(virtq_should_interrupt(&f->vq));

        enable(f);
        assert_true(virtq_should_interrupt(&f->vq));
        avail(f)[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
        assert_false(virtq_should_interrupt(&f->vq));

        virtq_reset(&f->vq);
        assert_false(f->vq.enabled);
        assert_int_equal(f->vq.size, QSIZE);
        assert_int_equal(f->vq.desc_gpa, 0);
}

/* Random descriptor tables and indices: every pop either yields a chain whose buffers all lie in
 * RAM and which is no longer than the queue, or reports an error; nothing crashes. */
static void test_random_rings(void **state)
{
        Fixture *f = *state;
        uint64_t x = 0x9e3779b97f4a7c15u;
        unsigned ok = 0, bad = 0;
        for (unsigned round = 0; round < 20000; round++) {
                virtq_reset(&f->vq);
                f->vq.desc_gpa = DESC_GPA;
                f->vq.avail_gpa = AVAIL_GPA;
                f->vq.used_gpa = USED_GPA;
                enable(f);
                for (unsigned i = 0; i < QSIZE; i++) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        uint64_t addr = (x & 1) ? (x >> 8) % (RAM_SIZE + 64) : x;
                        set_desc(f, i, addr, (uint32_t)((x >> 20) % 256), (uint16_t)((x >> 40) & 7),
                                 (uint16_t)((x >> 44) % (QSIZE + 2)));
                        avail(f)[2 + i] = (uint16_t)((x >> 50) % (QSIZE + 1));
                }
                avail(f)[1] = (uint16_t)(x % (QSIZE + 3));
                VirtqChain c;
                int r;
                while ((r = virtq_pop(&f->vq, &c, NULL)) == 1) {
                        assert_true(c.n_bufs >= 1 && c.n_bufs <= QSIZE);
                        for (unsigned i = 0; i < c.n_bufs; i++)
                                assert_non_null(guest_mem_ptr(&f->mem, c.bufs[i].gpa, c.bufs[i].len));
                        virtq_push(&f->vq, c.head, 0);
                        ok++;
                }
                if (r < 0)
                        bad++;
        }
        assert_true(ok > 0);
        assert_true(bad > 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_enable_validates_size, setup, teardown),
                cmocka_unit_test_setup_teardown(test_enable_validates_alignment, setup, teardown),
                cmocka_unit_test_setup_teardown(test_enable_validates_range, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pop_and_push_chain, setup, teardown),
                cmocka_unit_test_setup_teardown(test_index_wraparound, setup, teardown),
                cmocka_unit_test_setup_teardown(test_avail_index_jump, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_indices, setup, teardown),
                cmocka_unit_test_setup_teardown(test_loops_and_long_chains, setup, teardown),
                cmocka_unit_test_setup_teardown(test_buffers_outside_ram, setup, teardown),
                cmocka_unit_test_setup_teardown(test_flags_and_direction, setup, teardown),
                cmocka_unit_test_setup_teardown(test_interrupt_suppression_and_disabled, setup, teardown),
                cmocka_unit_test_setup_teardown(test_random_rings, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
