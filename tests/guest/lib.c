/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test guest library: the libc pieces gcc may call, and a small printf-style formatter. */
#include "guest.h"

void *memset(void *d, int c, size_t n)
{
        uint8_t *p = d;
        while (n--)
                *p++ = (uint8_t)c;
        return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
        uint8_t *p = d;
        const uint8_t *q = s;
        while (n--)
                *p++ = *q++;
        return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
        const uint8_t *p = a, *q = b;
        for (; n; n--, p++, q++)
                if (*p != *q)
                        return *p < *q ? -1 : 1;
        return 0;
}

size_t strlen(const char *s)
{
        size_t n = 0;
        while (s[n])
                n++;
        return n;
}

int strcmp(const char *a, const char *b)
{
        while (*a && *a == *b)
                a++, b++;
        return (uint8_t)*a - (uint8_t)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
        for (; n; n--, a++, b++) {
                if (*a != *b)
                        return (uint8_t)*a - (uint8_t)*b;
                if (!*a)
                        return 0;
        }
        return 0;
}

static void put_u64(PutcFn put, uint64_t v, unsigned base, unsigned width, char pad)
{
        char buf[24];
        unsigned n = 0;
        do {
                unsigned d = (unsigned)(v % base);
                buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
                v /= base;
        } while (v);
        while (n < width && n < sizeof(buf))
                buf[n++] = pad;
        while (n)
                put(buf[--n]);
}

void vformat(PutcFn put, const char *fmt, __builtin_va_list ap)
{
        for (; *fmt; fmt++) {
                if (*fmt != '%') {
                        put(*fmt);
                        continue;
                }
                fmt++;
                char pad = ' ';
                unsigned width = 0, longs = 0;
                if (*fmt == '0')
                        pad = '0', fmt++;
                while (*fmt >= '0' && *fmt <= '9')
                        width = width * 10 + (unsigned)(*fmt++ - '0');
                while (*fmt == 'l')
                        longs++, fmt++;
                switch (*fmt) {
                case 's': {
                        const char *s = __builtin_va_arg(ap, const char *);
                        while (s && *s)
                                put(*s++);
                        break;
                }
                case 'c':
                        put((char)__builtin_va_arg(ap, int));
                        break;
                case 'd': {
                        int64_t v = longs ? __builtin_va_arg(ap, int64_t) : __builtin_va_arg(ap, int);
                        if (v < 0) {
                                put('-');
                                v = -v;
                        }
                        put_u64(put, (uint64_t)v, 10, width, pad);
                        break;
                }
                case 'u':
                case 'x': {
                        uint64_t v = longs ? __builtin_va_arg(ap, uint64_t) : __builtin_va_arg(ap, unsigned);
                        put_u64(put, v, *fmt == 'x' ? 16 : 10, width, pad);
                        break;
                }
                case '%':
                        put('%');
                        break;
                default:
                        put('%');
                        put(*fmt);
                        if (!*fmt)
                                return;
                }
        }
}
