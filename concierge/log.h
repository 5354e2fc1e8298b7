/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's logging: leveled lines on stderr (journald adds time and unit when run by systemd). */
#pragma once

#include <errno.h>

#include "vmm_backend/macro.h"

typedef enum LogLevel {
        LOG_LEVEL_ERROR,
        LOG_LEVEL_WARNING,
        LOG_LEVEL_NOTICE,
        LOG_LEVEL_INFO,
        LOG_LEVEL_DEBUG,
        _LOG_LEVEL_MAX,
        _LOG_LEVEL_INVALID = -EINVAL,
} LogLevel;

const char *log_level_to_string(LogLevel level);
LogLevel log_level_from_string(const char *s);

void log_set_max_level(LogLevel level);
LogLevel log_get_max_level(void);

/* Writes "<level>: <message>[: <strerror(error)>]" when level is enabled. Returns -|error|
 * (or 0 when error is 0), so that `return log_error_errno(r, "...")` forwards r. */
int log_internal(LogLevel level, int error, const char *format, ...) _printf_(3, 4);

#define log_full_errno(level, error, ...) log_internal((level), (error), __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_LEVEL_ERROR, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_LEVEL_WARNING, (error), __VA_ARGS__)
#define log_debug_errno(error, ...) log_full_errno(LOG_LEVEL_DEBUG, (error), __VA_ARGS__)
#define log_error(...) (void)log_internal(LOG_LEVEL_ERROR, 0, __VA_ARGS__)
#define log_warning(...) (void)log_internal(LOG_LEVEL_WARNING, 0, __VA_ARGS__)
#define log_notice(...) (void)log_internal(LOG_LEVEL_NOTICE, 0, __VA_ARGS__)
#define log_info(...) (void)log_internal(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_debug(...) (void)log_internal(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)
