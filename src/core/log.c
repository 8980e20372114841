/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging: one line per call, written with a single write(2) so that lines from several worker
 * threads never interleave (lines are capped below PIPE_BUF). Level, format and destination are
 * atomics so the admin port can change them at run time without locks. Logging is for the
 * control path; the per-request path must not log.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "ig/core.h"

/* Below PIPE_BUF (4096 on Linux) so a line to a pipe is written atomically. */
#define LOG_LINE_MAX 4000

static _Atomic int log_level = IG_LOG_INFO;
static _Atomic int log_format = IG_LOG_TEXT;
static _Atomic int log_fd = STDERR_FILENO;

static const char *const level_names[IG_LOG_LEVEL_COUNT] = {"error", "warn", "info", "debug", "trace"};

void ig_log_set_level(enum ig_log_level level)
{
    if ((unsigned)level < IG_LOG_LEVEL_COUNT)
        atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum ig_log_level ig_log_get_level(void)
{
    return (enum ig_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

void ig_log_set_format(enum ig_log_format fmt)
{
    atomic_store_explicit(&log_format, (int)fmt, memory_order_relaxed);
}

void ig_log_set_fd(int fd)
{
    atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
}

int ig_log_parse_level(const char *name, enum ig_log_level *out)
{
    if (name == NULL)
        return IG_EINVAL;
    for (int i = 0; i < IG_LOG_LEVEL_COUNT; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum ig_log_level)i;
            return 0;
        }
    }
    return IG_EINVAL;
}

const char *ig_log_level_name(enum ig_log_level level)
{
    if ((unsigned)level >= IG_LOG_LEVEL_COUNT)
        return "unknown";
    return level_names[level];
}

/* "2026-11-23T13:22:40.123Z" (24 chars + NUL). */
static void format_time(char *out, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/* Appends |s| JSON-escaped into out[*pos .. size); stops (without splitting an escape) when full. */
static void json_escape(char *out, size_t *pos, size_t size, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t p = *pos;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6];
        size_t n = 0;
        switch (c) {
        case '"':
            esc[n++] = '\\';
            esc[n++] = '"';
            break;
        case '\\':
            esc[n++] = '\\';
            esc[n++] = '\\';
            break;
        case '\n':
            esc[n++] = '\\';
            esc[n++] = 'n';
            break;
        case '\r':
            esc[n++] = '\\';
            esc[n++] = 'r';
            break;
        case '\t':
            esc[n++] = '\\';
            esc[n++] = 't';
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                esc[n++] = '\\';
                esc[n++] = 'u';
                esc[n++] = '0';
                esc[n++] = '0';
                esc[n++] = hex[c >> 4];
                esc[n++] = hex[c & 15];
            } else {
                esc[n++] = (char)c;
            }
        }
        if (p + n > size)
            break;
        memcpy(out + p, esc, n);
        p += n;
    }
    *pos = p;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a logging failure */
        }
        p += w;
        n -= (size_t)w;
    }
}

void ig_log_write(enum ig_log_level level, const char *scope, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    char line[LOG_LINE_MAX + 96];
    char ts[128];
    va_list ap;
    int saved_errno = errno;

    va_start(ap, fmt);
    int mlen = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (mlen < 0)
        msg[0] = '\0';
    format_time(ts, sizeof(ts));
    if (scope == NULL)
        scope = "-";

    size_t pos = 0;
    /* Room kept for the closing quote/brace and the newline. */
    const size_t limit = sizeof(line) - 3;
    if (atomic_load_explicit(&log_format, memory_order_relaxed) == IG_LOG_JSON) {
        int n = snprintf(line, limit, "{\"time\":\"%s\",\"level\":\"%s\",\"scope\":\"", ts, ig_log_level_name(level));
        pos = (size_t)IG_MAX(n, 0);
        json_escape(line, &pos, pos + 128, scope); /* scopes are short names; bound them anyway */
        static const char mid[] = "\",\"message\":\"";
        memcpy(line + pos, mid, sizeof(mid) - 1);
        pos += sizeof(mid) - 1;
        json_escape(line, &pos, limit, msg);
        line[pos++] = '"';
        line[pos++] = '}';
    } else {
        int n = snprintf(line, limit, "%s %-5s %s: %s", ts, ig_log_level_name(level), scope, msg);
        pos = n < 0 ? 0 : IG_MIN((size_t)n, limit - 1);
    }
    line[pos++] = '\n';
    write_all(atomic_load_explicit(&log_fd, memory_order_relaxed), line, pos);
    errno = saved_errno;
}
