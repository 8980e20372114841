/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config module internals: the owned YAML document tree (yaml_tree.c), the error collector, the
 * typed decoder's context and helpers (decode.c, load.c, load_policy.c), reference resolution and
 * route-table construction (validate.c) and address parsing (addr.c).
 */
#ifndef IG_CONFIG_INT_H
#define IG_CONFIG_INT_H

#include <stdint.h>

#include "ig/config.h"

/* ---- document tree ----------------------------------------------------------------------------- */

enum ig_ynode_kind {
    IG_YNODE_SCALAR = 0,
    IG_YNODE_SEQ,
    IG_YNODE_MAP,
};

/* The type a scalar resolves to (YAML 1.2 core schema for plain scalars; quoted ones are strings). */
enum ig_yscalar_type {
    IG_YS_NULL = 0,
    IG_YS_BOOL,
    IG_YS_INT,
    IG_YS_FLOAT,
    IG_YS_STR,
};

struct ig_ynode {
    enum ig_ynode_kind kind;
    uint32_t line, col; /* 1-based position of the node's first character */
    /* scalars */
    enum ig_yscalar_type type;
    char *s; /* NUL-terminated text (may contain NULs from escapes; use len) */
    size_t len;
    int boolean;     /* IG_YS_BOOL */
    int64_t integer; /* IG_YS_INT when int_ok */
    int int_ok;      /* 0: an integer that does not fit int64 */
    /* collections: a sequence's items, or a mapping's key/value pairs as items[2i], items[2i+1] */
    struct ig_ynode **items;
    size_t n; /* items of a sequence, pairs of a mapping */
};

#define IG_YMAP_KEY(m, i) ((m)->items[2 * (i)])
#define IG_YMAP_VAL(m, i) ((m)->items[2 * (i) + 1])

/** Nesting and size limits of a document (aliases counted at every use). */
#define IG_YAML_MAX_DEPTH   64
#define IG_YAML_MAX_NODES   200000
#define IG_YAML_MAX_ANCHORS 1000

/* ---- error collection ------------------------------------------------------------------------ */

struct ig_cfg_diag {
    const char *file;
    char *buf; /* caller's buffer, may be NULL */
    size_t cap;
    size_t used;
    int count; /* errors reported, including those past IG_CONFIG_MAX_ERRORS */
};

void ig_config__diag_init(struct ig_cfg_diag *dg, const char *file, char *buf, size_t cap);
/** Records "<file>:<line>:<col>: [<path>: ]<message>"; line 0 omits the position. */
void ig_config__diag(struct ig_cfg_diag *dg, uint32_t line, uint32_t col, const char *path, const char *fmt, ...)
    IG_PRINTF(5, 6);

/**
 * Parses |len| bytes of YAML/JSON into a tree allocated from |pool|. An empty document gives a NULL
 * root. Returns 0, or IG_EINVAL after recording the error in |dg|.
 */
int ig_config__yaml_parse(ig_pool_t *pool, const char *text, size_t len, struct ig_ynode **root,
                          struct ig_cfg_diag *dg);

/* ---- decoder ---------------------------------------------------------------------------------- */

/* A reference by name that is resolved once the whole file has been decoded (validate.c). */
enum ig_cfg_ref_kind {
    IG_CFG_REF_TARGET = 0, /* a route backend or endpoint picker: service or backend name */
    IG_CFG_REF_WORKLOAD,   /* a workload's services map entry */
};

struct ig_cfg_ref {
    struct ig_cfg_ref *next;
    enum ig_cfg_ref_kind kind;
    struct ig_cfg_target *target;     /* TARGET */
    ig_iov_t name;                    /* service key or backend name */
    const struct ig_workload_ref *wl; /* WORKLOAD */
    uint32_t line, col;
    const char *path;
};

/* One "<ns>/<hostname>": {svcPort: targetPort} entry of a workload, kept until endpoints are built. */
struct ig_workload_ref {
    struct ig_workload_ref *next;
    struct ig_cfg_workload *workload;
    ig_iov_t service;
    uint16_t *svc_ports, *target_ports;
    size_t n_ports;
    uint32_t line, col;
    const char *path;
};

#define IG_CFG_PATH_MAX 512

struct ig_cfg_dec {
    struct ig_config *cfg;
    ig_pool_t *pool;    /* the snapshot's arena */
    ig_pool_t *scratch; /* released when loading ends */
    struct ig_cfg_diag *dg;
    char path[IG_CFG_PATH_MAX];
    size_t plen;
    struct ig_cfg_ref *refs, **refs_tail;
    struct ig_workload_ref *wrefs, **wrefs_tail;
};

/* Path of the value being decoded, for messages: push returns the length to restore with pop. */
size_t ig_config__path_key(struct ig_cfg_dec *d, const char *key, size_t len);
size_t ig_config__path_index(struct ig_cfg_dec *d, size_t i);
static inline void ig_config__path_pop(struct ig_cfg_dec *d, size_t saved)
{
    d->plen = saved;
    d->path[saved] = '\0';
}

/** Reports an error at |n| (or at no position when |n| is NULL) under the current path. */
void ig_config__err(struct ig_cfg_dec *d, const struct ig_ynode *n, const char *fmt, ...) IG_PRINTF(3, 4);
/** As ig_config__err with the path extended by |key| (for errors about a field of the current map). */
void ig_config__err_at_key(struct ig_cfg_dec *d, const struct ig_ynode *n, const char *key, const char *fmt, ...)
    IG_PRINTF(4, 5);

/*
 * Field tables: one per struct of the file format (see decode.c). Most keys are one line naming the
 * key, the decoder kind and the member's offset; IG_F_CUSTOM is for keys whose decoding needs the
 * key node or several members.
 */
struct ig_cfg_field;
typedef void (*ig_cfg_field_fn)(struct ig_cfg_dec *d, const struct ig_ynode *key, const struct ig_ynode *val,
                                void *obj);
/* Decodes |val| into the member at |out| (IG_F_MEMBER). */
typedef void (*ig_cfg_member_fn)(struct ig_cfg_dec *d, const struct ig_ynode *val, void *out);

enum ig_cfg_field_type {
    IG_F_STR = 0,     /* ig_iov_t */
    IG_F_BOOL,        /* int */
    IG_F_UINT,        /* unsigned integer member of |size| bytes, at most |max| */
    IG_F_DURATION,    /* uint64_t nanoseconds */
    IG_F_ADDR,        /* struct ig_cfg_addr: a listening address */
    IG_F_HOSTPORT,    /* struct ig_cfg_hostport: "host:port" */
    IG_F_HOSTNAME,    /* ig_iov_t holding a valid hostname ("*.x" allowed when |max| is 1) */
    IG_F_PEM,         /* struct ig_cfg_pem read from the file the string names */
    IG_F_ENUM,        /* index of the value in |names| into a |size|-byte member; size 0 only checks */
    IG_F_STR_LIST,    /* ig_iov_t array; its size_t count is at offset |size| */
    IG_F_HEADER_MOD,  /* struct ig_cfg_header_mod * */
    IG_F_OBJ,         /* a nested mapping decoded with |sub| into the member itself */
    IG_F_OBJ_NEW,     /* a nested mapping decoded with |sub| into a pool struct of |size| bytes (a copy of
                         |init| when set) that the pointer member receives */
    IG_F_MEMBER,      /* |dec| on the member */
    IG_F_CUSTOM,      /* |fn| on the whole object */
    IG_F_UNSUPPORTED, /* an agentgateway key infergate rejects */
};

struct ig_cfg_field {
    const char *name;
    enum ig_cfg_field_type type;
    size_t off;
    int required;
    size_t size;
    uint64_t max;
    const char *const *names;       /* IG_F_ENUM: |max| entries, NULL for indexes without a name */
    const char *const *unsupported; /* IG_F_ENUM: known values infergate rejects, NULL-terminated */
    const struct ig_cfg_field *sub;
    const void *init;
    ig_cfg_member_fn dec;
    ig_cfg_field_fn fn;
};

#define IG_MEMBER_SIZE(st, m) sizeof(((st *)0)->m)
#define IG_FIELD_ENTRY(...)                                                                                            \
    {                                                                                                                  \
        __VA_ARGS__                                                                                                    \
    }

#define IG_FIELD(key, kind, st, m)     IG_FIELD_ENTRY(.name = key, .type = kind, .off = offsetof(st, m))
#define IG_FIELD_REQ(key, kind, st, m) IG_FIELD_ENTRY(.name = key, .type = kind, .off = offsetof(st, m), .required = 1)
#define IG_FIELD_UINT(key, st, m, maximum)                                                                             \
    IG_FIELD_ENTRY(.name = key, .type = IG_F_UINT, .off = offsetof(st, m), .size = IG_MEMBER_SIZE(st, m),              \
                   .max = maximum)
#define IG_FIELD_UINT_REQ(key, st, m, maximum)                                                                         \
    IG_FIELD_ENTRY(.name = key, .type = IG_F_UINT, .off = offsetof(st, m), .size = IG_MEMBER_SIZE(st, m),              \
                   .max = maximum, .required = 1)
#define IG_FIELD_HOSTNAME(key, st, m, wildcard)                                                                        \
    IG_FIELD_ENTRY(.name = key, .type = IG_F_HOSTNAME, .off = offsetof(st, m), .max = wildcard)
#define IG_FIELD_HOSTNAME_REQ(key, st, m, wildcard)                                                                    \
    IG_FIELD_ENTRY(.name = key, .type = IG_F_HOSTNAME, .off = offsetof(st, m), .max = wildcard, .required = 1)
/* |values| must be an array (its length is taken); |unsup| a NULL-terminated array or NULL. */
#define IG_FIELD_ENUM(key, st, m, values, unsup)                                                                       \
    IG_FIELD_ENTRY(.name = key, .type = IG_F_ENUM, .off = offsetof(st, m), .size = IG_MEMBER_SIZE(st, m),              \
                   .max = IG_ARRAY_LEN(values), .names = values, .unsupported = unsup)
/* A value checked against |values| and not stored (the only values infergate supports). */
#define IG_FIELD_ENUM_CHECK(key, values, unsup)                                                                        \
    IG_FIELD_ENTRY(.name = key, .type = IG_F_ENUM, .max = IG_ARRAY_LEN(values), .names = values, .unsupported = unsup)
#define IG_FIELD_STR_LIST(key, st, m, count)                                                                           \
    IG_FIELD_ENTRY(.name = key, .type = IG_F_STR_LIST, .off = offsetof(st, m), .size = offsetof(st, count))
/* A nested mapping whose keys fill the same struct as its parent's (agentgateway's flattened groups). */
#define IG_FIELD_FLAT(key, table) IG_FIELD_ENTRY(.name = key, .type = IG_F_OBJ, .sub = table)
#define IG_FIELD_OBJ(key, st, m, table)                                                                                \
    IG_FIELD_ENTRY(.name = key, .type = IG_F_OBJ, .off = offsetof(st, m), .sub = table)
/* |defaults| points to a default-valued struct of the pointed-to type, or is NULL for zeroes. */
#define IG_FIELD_OBJ_NEW(key, st, m, table, defaults)                                                                  \
    IG_FIELD_ENTRY(.name = key, .type = IG_F_OBJ_NEW, .off = offsetof(st, m), .size = sizeof(*((st *)0)->m),           \
                   .sub = table, .init = defaults)
#define IG_FIELD_MEMBER(key, st, m, decoder)                                                                           \
    IG_FIELD_ENTRY(.name = key, .type = IG_F_MEMBER, .off = offsetof(st, m), .dec = decoder)
#define IG_FIELD_MEMBER_REQ(key, st, m, decoder)                                                                       \
    IG_FIELD_ENTRY(.name = key, .type = IG_F_MEMBER, .off = offsetof(st, m), .dec = decoder, .required = 1)
#define IG_FIELD_FN(key, func)     IG_FIELD_ENTRY(.name = key, .type = IG_F_CUSTOM, .fn = func)
#define IG_FIELD_FN_REQ(key, func) IG_FIELD_ENTRY(.name = key, .type = IG_F_CUSTOM, .fn = func, .required = 1)
#define IG_FIELD_NOTSUP(key)       IG_FIELD_ENTRY(.name = key, .type = IG_F_UNSUPPORTED)
#define IG_FIELDS_END              IG_FIELD_ENTRY(.name = NULL)

/**
 * Decodes mapping |n| into |obj| with |fields|: unknown keys, unsupported keys, type errors and
 * missing required fields are reported. A null value counts as absent. Returns a bit mask of the
 * fields present (bit i for fields[i]), or 0 with an error when |n| is not a mapping.
 */
uint64_t ig_config__dec_fields(struct ig_cfg_dec *d, const struct ig_ynode *n, void *obj,
                               const struct ig_cfg_field *fields);

/* Scalar decoders: return 0, or -1 after reporting the error at |n|. */
int ig_config__dec_str(struct ig_cfg_dec *d, const struct ig_ynode *n, ig_iov_t *out);
int ig_config__dec_uint(struct ig_cfg_dec *d, const struct ig_ynode *n, uint64_t max, uint64_t *out);
int ig_config__dec_bool(struct ig_cfg_dec *d, const struct ig_ynode *n, int *out);
int ig_config__dec_duration(struct ig_cfg_dec *d, const struct ig_ynode *n, uint64_t *ns);
/** Matches a string against |names| (count entries); unsupported[] lists known values we reject. */
int ig_config__dec_enum(struct ig_cfg_dec *d, const struct ig_ynode *n, const char *const *names, int count,
                        const char *const *unsupported, int *out);
/** Returns 0 when |n| is a mapping (or sequence), else reports "expected a mapping" and -1. */
int ig_config__expect_map(struct ig_cfg_dec *d, const struct ig_ynode *n);
int ig_config__expect_seq(struct ig_cfg_dec *d, const struct ig_ynode *n);
/** A sequence of strings into a pool array. */
int ig_config__dec_str_list(struct ig_cfg_dec *d, const struct ig_ynode *n, ig_iov_t **out, size_t *count);
/** Compiles |pattern| (REG_EXTENDED) into the snapshot; reports "invalid regex" at |n|. */
int ig_config__compile_regex(struct ig_cfg_dec *d, const struct ig_ynode *n, ig_iov_t pattern, regex_t **out);
/** Reads a PEM file named by the string |n| into |out|. */
int ig_config__dec_pem(struct ig_cfg_dec *d, const struct ig_ynode *n, struct ig_cfg_pem *out);
/** "host:port" (DNS name or IP literal). */
int ig_config__dec_hostport(struct ig_cfg_dec *d, const struct ig_ynode *n, struct ig_cfg_hostport *out);
/** Header modifier {add{}, set{}, remove[]}. */
struct ig_cfg_header_mod *ig_config__dec_header_mod(struct ig_cfg_dec *d, const struct ig_ynode *n);
void ig_config__add_ref(struct ig_cfg_dec *d, enum ig_cfg_ref_kind kind, struct ig_cfg_target *t, ig_iov_t name,
                        const struct ig_ynode *at);
static inline int ig_config__is_null(const struct ig_ynode *n)
{
    return n == NULL || (n->kind == IG_YNODE_SCALAR && n->type == IG_YS_NULL);
}
static inline int ig_config__key_is(const struct ig_ynode *k, const char *name)
{
    size_t l = strlen(name);
    return k->len == l && memcmp(k->s, name, l) == 0;
}

/* load.c / load_policy.c */
void ig_config__dec_root(struct ig_cfg_dec *d, const struct ig_ynode *root);
/** Decodes route policies into |p| (a struct ig_cfg_route_policies; an ig_cfg_member_fn). */
void ig_config__dec_route_policies(struct ig_cfg_dec *d, const struct ig_ynode *n, void *p);
/** Decodes backend policies into |p| (a struct ig_cfg_backend_policies; an ig_cfg_member_fn). */
void ig_config__dec_backend_policies(struct ig_cfg_dec *d, const struct ig_ynode *n, void *p);
/**
 * The key node of a non-null policies.inferenceRouting in the backend mapping |item|, or NULL: where
 * scope errors about inferenceRouting are reported.
 */
const struct ig_ynode *ig_config__inference_key(const struct ig_ynode *item);
/* The top-level sequences, as ig_cfg_field_fn of the root table (|cfg| is the struct ig_config). */
void ig_config__dec_services(struct ig_cfg_dec *d, const struct ig_ynode *key, const struct ig_ynode *n, void *cfg);
void ig_config__dec_workloads(struct ig_cfg_dec *d, const struct ig_ynode *key, const struct ig_ynode *n, void *cfg);
void ig_config__dec_backends(struct ig_cfg_dec *d, const struct ig_ynode *key, const struct ig_ynode *n, void *cfg);
void ig_config__dec_target(struct ig_cfg_dec *d, const struct ig_ynode *key, const struct ig_ynode *v,
                           struct ig_cfg_target *t);

/* validate.c: resolves references, builds endpoints and route tables. Returns 0 or IG_EINVAL. */
int ig_config__resolve(struct ig_cfg_dec *d);

/* addr.c */
/** Parses "host:port" / "[v6]:port"; returns 0 or IG_EINVAL with a static reason. */
int ig_config__parse_hostport(ig_pool_t *pool, ig_iov_t s, struct ig_cfg_hostport *out, const char **why);
/** Parses a listening address: "off", "localhost:PORT", "ip:port". */
int ig_config__parse_addr(ig_pool_t *pool, ig_iov_t s, struct ig_cfg_addr *out, const char **why);
/** Parses an IP literal (no port, no brackets) into |out| with port 0. */
int ig_config__parse_ip(ig_iov_t s, struct sockaddr_storage *out, socklen_t *len);

/* snapshot.c */
struct ig_cfg_regex {
    struct ig_cfg_regex *next;
    regex_t re;
};
/** Applies ADMIN_ADDR, STATS_ADDR, READINESS_ADDR and WORKER_THREADS. Returns 0 or IG_EINVAL. */
int ig_config__apply_env(struct ig_cfg_dec *d);
/** Usable CPUs (affinity mask), at least 1. */
uint32_t ig_config__cpu_count(void);
/** Parses a workerThreads value ("N" or "P%"); returns 0 or IG_EINVAL with a static reason. */
int ig_config__parse_worker_threads(ig_iov_t s, uint32_t *out, const char **why);

/* match.c: route entries of a listener's table. */
struct ig_cfg_route_entry {
    const struct ig_cfg_route *route;
    const struct ig_cfg_route_match *match;
};
/** Sorts |l|'s (route, match) pairs by static precedence into a table from |pool|. */
void ig_config__build_route_table(ig_pool_t *pool, struct ig_cfg_listener *l);
/** Lower-cases and validates a hostname ("*.x" allowed when |wildcard|); returns 0 or IG_EINVAL. */
int ig_config__check_hostname(ig_iov_t h, int wildcard, const char **why);

#endif
