/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of concierge/cid-pool.c: from 32 upwards, never reused, exhaustion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "concierge/cid-pool.h"
#include "vmm_backend/macro.h"

static void test_default_starts_at_32(void **state)
{
        CidPool p;
        uint32_t cid;

        cid_pool_init_default(&p);
        assert_int_equal(cid_pool_remaining(&p), (uint64_t)UINT32_MAX - 1 - 32 + 1);
        for (uint32_t want = 32; want < 1032; want++) {
                assert_int_equal(cid_pool_allocate(&p, &cid), 0);
                assert_int_equal(cid, want); /* strictly increasing: never reused */
        }
}

static void test_exhaustion(void **state)
{
        CidPool p;
        uint32_t cid = 0;

        assert_int_equal(cid_pool_init(&p, 40, 42), 0);
        assert_int_equal(cid_pool_remaining(&p), 3);
        for (uint32_t want = 40; want <= 42; want++) {
                assert_int_equal(cid_pool_allocate(&p, &cid), 0);
                assert_int_equal(cid, want);
        }
        cid = 7;
        assert_int_equal(cid_pool_allocate(&p, &cid), -ENOSPC);
        assert_int_equal(cid, 7); /* untouched on failure */
        assert_int_equal(cid_pool_allocate(&p, &cid), -ENOSPC);
        assert_int_equal(cid_pool_remaining(&p), 0);
}

static void test_top_of_range(void **state)
{
        CidPool p;
        uint32_t cid;

        /* U32_MAX is reserved: the last cid is U32_MAX - 1 and the counter must not wrap to 0. */
        assert_int_equal(cid_pool_init(&p, CID_POOL_LAST - 1, CID_POOL_LAST), 0);
        assert_int_equal(cid_pool_allocate(&p, &cid), 0);
        assert_int_equal(cid, UINT32_MAX - 2);
        assert_int_equal(cid_pool_allocate(&p, &cid), 0);
        assert_int_equal(cid, UINT32_MAX - 1);
        assert_int_equal(cid_pool_allocate(&p, &cid), -ENOSPC);
        assert_int_equal(cid_pool_allocate(&p, &cid), -ENOSPC);
}

static void test_bad_ranges(void **state)
{
        CidPool p;
        uint32_t cid;

        assert_int_equal(cid_pool_init(&p, 2, 100), -EINVAL); /* host and static cids */
        assert_int_equal(cid_pool_init(&p, 31, 100), -EINVAL);
        assert_int_equal(cid_pool_init(&p, 50, 40), -EINVAL);
        assert_int_equal(cid_pool_init(&p, 32, UINT32_MAX), -EINVAL);
        assert_int_equal(cid_pool_init(NULL, 32, 40), -EINVAL);
        cid_pool_init_default(&p);
        assert_int_equal(cid_pool_allocate(&p, NULL), -EINVAL);
        assert_int_equal(cid_pool_allocate(NULL, &cid), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default_starts_at_32),
                cmocka_unit_test(test_exhaustion),
                cmocka_unit_test(test_top_of_range),
                cmocka_unit_test(test_bad_ranges),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
