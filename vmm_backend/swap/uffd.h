/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Thin userfaultfd helpers for vmm-swap: creation, registration and the fill ioctls. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A non-blocking, close-on-exec uffd with MISSING_SHMEM | EVENT_REMOVE negotiated. Tries
 * /dev/userfaultfd (USERFAULTFD_IOC_NEW) first, then the userfaultfd(2) syscall. */
int uffd_open(void);
int uffd_register_missing(int uffd, void *addr, size_t len);
int uffd_unregister(int uffd, void *addr, size_t len);

/* UFFDIO_COPY of len bytes (page multiples). Returns 0 when all was copied; otherwise a negative
 * errno, with *ret_copied the bytes that were copied before it (-EAGAIN with *ret_copied > 0 is
 * partial progress; -EAGAIN with 0 means mappings are changing: read events, then retry). */
int uffd_copy(int uffd, void *dst, const void *src, size_t len, bool wake, size_t *ret_copied);
int uffd_zeropage(int uffd, void *dst, size_t len);
int uffd_wake(int uffd, void *dst, size_t len);
