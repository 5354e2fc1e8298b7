/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's logging to stderr. */
#include <stdarg.h>
#include <stdlib.h>

#include "concierge/log.h"

static LogLevel max_level = LOG_LEVEL_INFO;

static const char *const log_level_table[_LOG_LEVEL_MAX] = {
        [LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARNING] = "warning", [LOG_LEVEL_NOTICE] = "notice",
        [LOG_LEVEL_INFO] = "info",   [LOG_LEVEL_DEBUG] = "debug",
};

/* The sd-daemon(3) "<N>" prefixes, so journald files each line at the right priority. */
static const char *const log_level_prefix[_LOG_LEVEL_MAX] = {
        [LOG_LEVEL_ERROR] = "<3>", [LOG_LEVEL_WARNING] = "<4>", [LOG_LEVEL_NOTICE] = "<5>",
        [LOG_LEVEL_INFO] = "<6>",  [LOG_LEVEL_DEBUG] = "<7>",
};

const char *log_level_to_string(LogLevel level)
{
        if (level < 0 || level >= _LOG_LEVEL_MAX)
                return NULL;
        return log_level_table[level];
}

LogLevel log_level_from_string(const char *s)
{
        if (!s)
                return _LOG_LEVEL_INVALID;
        for (LogLevel l = 0; l < _LOG_LEVEL_MAX; l++)
                if (streq(log_level_table[l], s))
                        return l;
        return _LOG_LEVEL_INVALID;
}

void log_set_max_level(LogLevel level)
{
        if (level >= 0 && level < _LOG_LEVEL_MAX)
                max_level = level;
}

LogLevel log_get_max_level(void)
{
        return max_level;
}

int log_internal(LogLevel level, int error, const char *format, ...)
{
        int saved_errno = errno;
        int ret = error > 0 ? -error : error;

        if (level < 0 || level >= _LOG_LEVEL_MAX || level > max_level)
                return ret;

        /* Prefix only when stderr goes to the journal; plain "level: " on a terminal or a file. */
        if (getenv("JOURNAL_STREAM"))
                fputs(log_level_prefix[level], stderr);
        fprintf(stderr, "vm_concierge[%s]: ", log_level_table[level]);

        va_list ap;
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);

        if (error != 0)
                fprintf(stderr, ": %s", strerror(error > 0 ? error : -error));
        fputc('\n', stderr);

        errno = saved_errno;
        return ret;
}
