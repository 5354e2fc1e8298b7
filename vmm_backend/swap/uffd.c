/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* userfaultfd helpers: /dev/userfaultfd first (Linux 6.1+, access by file mode, no sysctl or
 * CAP_SYS_PTRACE needed), the syscall second; never UFFD_USER_MODE_ONLY, because KVM touches guest
 * RAM from kernel context (reference/vmm.md §5). */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "vmm_backend/macro.h"
#include "vmm_backend/swap/uffd.h"

#define UFFD_WANTED_FEATURES (UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_EVENT_REMOVE)

static int uffd_create_raw(void)
{
        int flags = O_CLOEXEC | O_NONBLOCK;
        int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (dev >= 0) {
                int fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
                int saved = errno;
                safe_close(dev);
                if (fd >= 0)
                        return fd;
                errno = saved;
        }
#ifdef __NR_userfaultfd
        int fd = (int)syscall(__NR_userfaultfd, flags);
        if (fd >= 0)
                return fd;
        return negative_errno();
#else
        return -ENOSYS;
#endif
}

int uffd_open(void)
{
        _cleanup_close_ int fd = uffd_create_raw();
        if (fd < 0)
                return fd;

        struct uffdio_api api = { .api = UFFD_API, .features = UFFD_WANTED_FEATURES };
        if (ioctl(fd, UFFDIO_API, &api) < 0)
                return errno == EINVAL ? -EOPNOTSUPP : negative_errno();
        if ((api.features & UFFD_WANTED_FEATURES) != UFFD_WANTED_FEATURES)
                return -EOPNOTSUPP;
        if (!(api.ioctls & (UINT64_C(1) << _UFFDIO_REGISTER)))
                return -EOPNOTSUPP;
        return TAKE_FD(fd);
}

int uffd_register_missing(int uffd, void *addr, size_t len)
{
        struct uffdio_register reg = {
                .range = { .start = (uintptr_t)addr, .len = len },
                .mode = UFFDIO_REGISTER_MODE_MISSING,
        };
        if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
                return negative_errno();
        uint64_t need = (UINT64_C(1) << _UFFDIO_COPY) | (UINT64_C(1) << _UFFDIO_ZEROPAGE) |
                        (UINT64_C(1) << _UFFDIO_WAKE);
        if ((reg.ioctls & need) != need) {
                (void)uffd_unregister(uffd, addr, len);
                return -EOPNOTSUPP;
        }
        return 0;
}

int uffd_unregister(int uffd, void *addr, size_t len)
{
        struct uffdio_range range = { .start = (uintptr_t)addr, .len = len };
        if (ioctl(uffd, UFFDIO_UNREGISTER, &range) < 0)
                return negative_errno();
        return 0;
}

int uffd_copy(int uffd, void *dst, const void *src, size_t len, bool wake, size_t *ret_copied)
{
        struct uffdio_copy c = {
                .dst = (uintptr_t)dst,
                .src = (uintptr_t)src,
                .len = len,
                .mode = wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE,
        };
        int r = ioctl(uffd, UFFDIO_COPY, &c);
        *ret_copied = c.copy > 0 ? (size_t)c.copy : 0;
        if (r >= 0)
                return 0;
        /* The kernel reports partial progress as EAGAIN with copy > 0; an error on the first page
         * as copy = -errno. */
        if (c.copy < 0)
                return (int)c.copy;
        return negative_errno();
}

int uffd_zeropage(int uffd, void *dst, size_t len)
{
        struct uffdio_zeropage z = { .range = { .start = (uintptr_t)dst, .len = len } };
        if (ioctl(uffd, UFFDIO_ZEROPAGE, &z) < 0)
                return z.zeropage < 0 ? (int)z.zeropage : negative_errno();
        return 0;
}

int uffd_wake(int uffd, void *dst, size_t len)
{
        struct uffdio_range range = { .start = (uintptr_t)dst, .len = len };
        if (ioctl(uffd, UFFDIO_WAKE, &range) < 0)
                return negative_errno();
        return 0;
}
