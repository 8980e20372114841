/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core: the primitives every other module uses. Slices, allocation (aborts on OOM: safety comes
 * from hard limits on every buffer, not from OOM branches), error codes, intrusive lists,
 * per-request arenas, capped byte buffers, time and logging. Depends on libc only.
 */
#ifndef IG_CORE_H
#define IG_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* ---- compiler helpers ---------------------------------------------------------------------- */

#define IG_LIKELY(x)                       __builtin_expect(!!(x), 1)
#define IG_UNLIKELY(x)                     __builtin_expect(!!(x), 0)
#define IG_ARRAY_LEN(a)                    (sizeof(a) / sizeof((a)[0]))
#define IG_MIN(a, b)                       ((a) < (b) ? (a) : (b))
#define IG_MAX(a, b)                       ((a) > (b) ? (a) : (b))
#define IG_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define IG_PRINTF(f, a)                    __attribute__((format(printf, f, a)))

/** Always-on assertion for cheap invariants: logs the location and aborts. */
#define IG_ASSERT(x)                                                                                                   \
    do {                                                                                                               \
        if (IG_UNLIKELY(!(x)))                                                                                         \
            ig_panic(__FILE__, __LINE__, #x);                                                                          \
    } while (0)
#ifdef NDEBUG
#define IG_DASSERT(x) ((void)0)
#else
#define IG_DASSERT(x) IG_ASSERT(x)
#endif

void ig_panic(const char *file, int line, const char *what) __attribute__((noreturn));

/* ---- errors ---------------------------------------------------------------------------------- */

/*
 * Functions return 0 on success or a negative code. System errors are -errno (IG_ERR_ERRNO()).
 * Codes at or below IG_EFATAL_MIN end the connection they occur on (ig_err_is_fatal()).
 */
enum {
    IG_OK = 0,
    IG_EAGAIN = -1000,      /* would block / not enough input yet */
    IG_EINCOMPLETE = -1001, /* parser needs more bytes */
    IG_EINVAL = -1002,      /* bad argument or value */
    IG_ENOTFOUND = -1003,
    IG_EEXIST = -1004,
    IG_ECANCELED = -1005,
    IG_ETIMEDOUT = -1006,
    IG_ECLOSED = -1007, /* peer closed (EOF) */
    IG_EUNSUPPORTED = -1008,
    IG_EFATAL_MIN = -1100,
    IG_EPROTO = -1100,   /* protocol violation: close the connection */
    IG_ETOOBIG = -1101,  /* a hard limit was exceeded */
    IG_ETLS = -1102,     /* TLS handshake or record error */
    IG_ERESET = -1103,   /* connection or stream reset by peer */
    IG_ECONNECT = -1104, /* connect failed */
};
#define IG_ERR_ERRNO() (-errno)

static inline int ig_err_is_fatal(int err)
{
    return err <= IG_EFATAL_MIN;
}
/** Returns a static string naming |err| (also for -errno values). */
const char *ig_strerror(int err);

/* ---- slices ---------------------------------------------------------------------------------- */

/** A borrowed byte range, iovec layout. Never assume NUL termination of network input. */
typedef struct ig_iov {
    char *base;
    size_t len;
} ig_iov_t;

#define IG_STRLIT(s) ((ig_iov_t){(char *)(s), sizeof(s) - 1})
#define IG_IOV_NULL  ((ig_iov_t){NULL, 0})

static inline ig_iov_t ig_iov(const void *base, size_t len)
{
    return (ig_iov_t){(char *)base, len};
}
static inline ig_iov_t ig_iov_cstr(const char *s)
{
    return (ig_iov_t){(char *)s, s != NULL ? strlen(s) : 0};
}
static inline int ig_iov_eq(ig_iov_t a, ig_iov_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}
/** ASCII case-insensitive equality (header names). */
int ig_iov_eq_nocase(ig_iov_t a, ig_iov_t b);
/** Trims spaces and horizontal tabs at both ends. */
ig_iov_t ig_iov_trim(ig_iov_t s);
/**
 * Parses a non-negative decimal integer that spans all of |s| (no sign, no spaces).
 * Returns 0, or IG_EINVAL for an empty, non-digit or overflowing (> INT64_MAX) input.
 */
int ig_iov_to_u64(ig_iov_t s, uint64_t *out);

/* ---- allocation ------------------------------------------------------------------------------ */

/* All heap allocation goes through these; they abort on failure. ig_free(NULL) is a no-op. */
void *ig_malloc(size_t n);
void *ig_calloc(size_t count, size_t size);
void *ig_realloc(void *p, size_t n);
char *ig_strdup(const char *s);
char *ig_strndup(const char *s, size_t n);
void ig_free(void *p);
/**
 * Fault injection for tests: the |n|-th allocation from now returns NULL and the caller aborts
 * (or, for the *_try variants, sees the failure). 0 disables.
 */
void ig_mem_fail_after(uint64_t n);
/** Non-aborting variant for callers that can report the failure (large, input-sized buffers). */
void *ig_malloc_try(size_t n);

/* ---- intrusive doubly-linked list ------------------------------------------------------------ */

typedef struct ig_list {
    struct ig_list *prev, *next;
} ig_list_t;

static inline void ig_list_init(ig_list_t *head)
{
    head->prev = head->next = head;
}
static inline int ig_list_empty(const ig_list_t *head)
{
    return head->next == head;
}
/** An unlinked node (prev == next == NULL) can be detected with ig_list_linked(). */
static inline int ig_list_linked(const ig_list_t *node)
{
    return node->next != NULL && node->next != node;
}
static inline void ig_list_insert_before(ig_list_t *pos, ig_list_t *node)
{
    node->prev = pos->prev;
    node->next = pos;
    pos->prev->next = node;
    pos->prev = node;
}
static inline void ig_list_push_back(ig_list_t *head, ig_list_t *node)
{
    ig_list_insert_before(head, node);
}
static inline void ig_list_push_front(ig_list_t *head, ig_list_t *node)
{
    ig_list_insert_before(head->next, node);
}
static inline void ig_list_remove(ig_list_t *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = NULL;
}
#define ig_list_foreach(pos, head) for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)
#define ig_list_foreach_safe(pos, tmp, head)                                                                           \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

/* ---- arena pool ------------------------------------------------------------------------------ */

/*
 * A per-request arena: bump allocation from chunks, one release at the end (ig_pool_clear or
 * ig_pool_dispose). Chunks of the default size are recycled through a per-thread free list, so a
 * steady-state request allocates nothing from malloc. Allocations larger than a chunk get their
 * own block, freed with the pool.
 */
#define IG_POOL_CHUNK_SIZE 4096

typedef struct ig_pool {
    struct ig_pool_chunk *_chunks; /* current chunk first */
    struct ig_pool_large *_large;
    size_t _offset; /* used bytes of the current chunk */
    size_t _bytes;  /* total bytes handed out, for limits and metrics */
} ig_pool_t;

void ig_pool_init(ig_pool_t *pool);
/** Returns |n| bytes aligned to 16, owned by the pool. Never NULL (aborts on OOM). */
void *ig_pool_alloc(ig_pool_t *pool, size_t n);
void *ig_pool_calloc(ig_pool_t *pool, size_t n);
/** Copies |s| into the pool; the copy is NUL-terminated (len excludes the NUL). */
ig_iov_t ig_pool_dup(ig_pool_t *pool, ig_iov_t s);
char *ig_pool_strdup(ig_pool_t *pool, const char *s);
char *ig_pool_printf(ig_pool_t *pool, const char *fmt, ...) IG_PRINTF(2, 3);
/** Releases everything allocated; the pool stays usable. */
void ig_pool_clear(ig_pool_t *pool);
void ig_pool_dispose(ig_pool_t *pool);
static inline size_t ig_pool_bytes(const ig_pool_t *pool)
{
    return pool->_bytes;
}

/* ---- capped byte buffer ---------------------------------------------------------------------- */

/*
 * A growable byte buffer with a hard maximum (curl's dynbuf): appends past |max| fail with
 * IG_ETOOBIG and leave the content unchanged. Data lives in [base + off, base + off + len);
 * consuming from the front only moves |off| and the space is reclaimed on the next growth.
 */
typedef struct ig_buf {
    char *base;
    size_t off; /* consumed bytes at the front */
    size_t len; /* readable bytes after off */
    size_t cap;
    size_t max;
} ig_buf_t;

void ig_buf_init(ig_buf_t *b, size_t max);
void ig_buf_dispose(ig_buf_t *b);
static inline char *ig_buf_data(const ig_buf_t *b)
{
    return b->base + b->off;
}
/** Ensures |n| writable bytes after the data; returns a pointer to them, or NULL (IG_ETOOBIG). */
char *ig_buf_reserve(ig_buf_t *b, size_t n);
/** Marks |n| bytes written into the space ig_buf_reserve returned. */
void ig_buf_commit(ig_buf_t *b, size_t n);
/** Returns 0 or IG_ETOOBIG. */
int ig_buf_append(ig_buf_t *b, const void *data, size_t n);
int ig_buf_appendf(ig_buf_t *b, const char *fmt, ...) IG_PRINTF(2, 3);
/** Drops |n| bytes from the front. */
void ig_buf_consume(ig_buf_t *b, size_t n);
void ig_buf_reset(ig_buf_t *b);

/*
 * Buffers that are only needed while bytes are in flight (a connection's input and output) borrow
 * their storage from a per-thread cache of IG_BUF_BLOCK-byte blocks and give it back when empty, so
 * an idle connection holds no buffer memory and a busy one allocates nothing in the steady state.
 */
#define IG_BUF_BLOCK 4096
/** Gives an empty |b| without storage a cached block (growth past it reallocates as usual). */
void ig_buf_borrow(ig_buf_t *b);
/** If |b| is empty, releases its storage: a block goes back to the thread's cache, a grown buffer is freed. */
void ig_buf_release(ig_buf_t *b);

/* ---- time ------------------------------------------------------------------------------------ */

/** Monotonic clock in nanoseconds. */
uint64_t ig_time_ns(void);
/** Wall clock, seconds since the epoch with sub-second precision. */
double ig_time_wall(void);

/* ---- logging --------------------------------------------------------------------------------- */

enum ig_log_level { IG_LOG_ERROR = 0, IG_LOG_WARN, IG_LOG_INFO, IG_LOG_DEBUG, IG_LOG_TRACE, IG_LOG_LEVEL_COUNT };
enum ig_log_format {
    IG_LOG_TEXT = 0, /* 2026-11-23T13:22:40.123Z info  sim: message key=value */
    IG_LOG_JSON,     /* {"time":"...","level":"info","scope":"sim","message":"..."} one per line */
};

/** Global settings (atomic; may change at run time, e.g. the admin port's /logging). */
void ig_log_set_level(enum ig_log_level level);
enum ig_log_level ig_log_get_level(void);
void ig_log_set_format(enum ig_log_format fmt);
/** Returns 0, or IG_EINVAL for a name other than error|warn|info|debug|trace. */
int ig_log_parse_level(const char *name, enum ig_log_level *out);
const char *ig_log_level_name(enum ig_log_level level);
/** Where lines go (default stderr). The fd is borrowed. */
void ig_log_set_fd(int fd);

void ig_log_write(enum ig_log_level level, const char *scope, const char *fmt, ...) IG_PRINTF(3, 4);
#define ig_log(level, scope, ...)                                                                                      \
    do {                                                                                                               \
        if ((level) <= ig_log_get_level())                                                                             \
            ig_log_write((level), (scope), __VA_ARGS__);                                                               \
    } while (0)
#define ig_log_error(scope, ...) ig_log(IG_LOG_ERROR, scope, __VA_ARGS__)
#define ig_log_warn(scope, ...)  ig_log(IG_LOG_WARN, scope, __VA_ARGS__)
#define ig_log_info(scope, ...)  ig_log(IG_LOG_INFO, scope, __VA_ARGS__)
#define ig_log_debug(scope, ...) ig_log(IG_LOG_DEBUG, scope, __VA_ARGS__)

#endif
