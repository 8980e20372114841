/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config: agentgateway's local (standalone) configuration file, YAML or JSON, loaded into a typed,
 * immutable, refcounted snapshot (struct ig_config). Everything of one snapshot (strings, arrays,
 * compiled regexes, PEM file contents) lives in one arena released at the last ig_config_unref, so
 * a reload builds a new snapshot and swaps one pointer while requests still holding the old one
 * finish with it.
 *
 * The snapshot is shaped for the proxy's hot path: service and named-backend references are
 * resolved to pointers at load time (a service backend carries its endpoint list), regexes are
 * compiled once (POSIX <regex.h>, REG_EXTENDED: PCRE2 is not available), and every listener owns a
 * route table pre-sorted by Gateway API precedence, so ig_config_match_route is one pass with no
 * allocation. Strings are ig_iov_t slices into the arena and are also NUL-terminated.
 *
 * Errors are "<file>:<line>:<col>: <key path>: <message>" (1-based, from libyaml marks), for
 * example "config.yaml:14:9: binds[0].listeners[0].routes[0].backends[0].service.port: expected an
 * integer". Unknown keys are errors; keys agentgateway knows but infergate does not implement fail
 * with "<key path>: not supported by infergate". See docs/gateway-config.md for every accepted key.
 */
#ifndef IG_CONFIG_H
#define IG_CONFIG_H

#include <regex.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ig/core.h"

/** Largest configuration file accepted, and largest PEM file read for a TLS setting. */
#define IG_CONFIG_MAX_FILE (16u << 20)
#define IG_CONFIG_MAX_PEM  (1u << 20)
/** At most this many errors are reported by one load (one per line in the caller's buffer). */
#define IG_CONFIG_MAX_ERRORS 10

/* ---- addresses ------------------------------------------------------------------------------- */

/** "host:port" where host is an IPv4 literal, a bracketed IPv6 literal or a DNS name. */
struct ig_cfg_hostport {
    ig_iov_t text; /* as written */
    ig_iov_t host; /* without brackets */
    uint16_t port;
    int family;                 /* AF_INET / AF_INET6 for an IP literal, AF_UNSPEC for a DNS name */
    struct sockaddr_storage sa; /* the literal with |port|, when family != AF_UNSPEC */
    socklen_t salen;
};

enum ig_cfg_addr_kind {
    IG_CFG_ADDR_OFF = 0,   /* "off": do not open this listener */
    IG_CFG_ADDR_LOCALHOST, /* "localhost:PORT": 127.0.0.1 (and ::1 where available) */
    IG_CFG_ADDR_IP,        /* "ip:port" / "[ip6]:port" */
    IG_CFG_ADDR_KIND_COUNT
};

/** A listening address of the process (admin, stats, readiness). */
struct ig_cfg_addr {
    enum ig_cfg_addr_kind kind;
    struct ig_cfg_hostport hp; /* hp.port for LOCALHOST; all of hp for IP */
};

/* ---- route matching ------------------------------------------------------------------------- */

enum ig_cfg_match_kind {
    IG_CFG_MATCH_EXACT = 0,
    IG_CFG_MATCH_PREFIX, /* paths only: Gateway API PathPrefix, on '/' element boundaries */
    IG_CFG_MATCH_REGEX,  /* POSIX ERE that must match the whole value */
    IG_CFG_MATCH_KIND_COUNT
};

struct ig_cfg_str_match {
    enum ig_cfg_match_kind kind;
    ig_iov_t value; /* the literal, prefix or pattern as written */
    regex_t *re;    /* compiled pattern for IG_CFG_MATCH_REGEX, owned by the snapshot */
};

/** A name/value pair; same layout as ig_http_header_t so a request's header array can be passed as is. */
struct ig_cfg_header {
    ig_iov_t name;
    ig_iov_t value;
};

struct ig_cfg_kv_match {
    ig_iov_t name; /* header (case-insensitive; ":authority", ":method", ":path", ":scheme" too) or query name */
    struct ig_cfg_str_match value; /* EXACT or REGEX */
};

/** One entry of a route's matches[]: all conditions must hold (entries are OR'ed). */
struct ig_cfg_route_match {
    struct ig_cfg_str_match path; /* default PREFIX "/" */
    ig_iov_t method;              /* len 0: any method */
    struct ig_cfg_kv_match *headers;
    size_t n_headers;
    struct ig_cfg_kv_match *query;
    size_t n_query;
};

/* ---- policies --------------------------------------------------------------------------------- */

struct ig_cfg_header_mod {
    struct ig_cfg_header *add;
    size_t n_add;
    struct ig_cfg_header *set;
    size_t n_set;
    ig_iov_t *remove;
    size_t n_remove;
};

enum ig_cfg_authority_kind {
    IG_CFG_AUTHORITY_UNSET = 0,
    IG_CFG_AUTHORITY_FULL, /* {full: "host:port"} */
    IG_CFG_AUTHORITY_HOST, /* {host: "h"}: keep the port */
    IG_CFG_AUTHORITY_PORT, /* {port: N}: keep the host */
    IG_CFG_AUTHORITY_AUTO, /* "auto": the selected backend's host */
    IG_CFG_AUTHORITY_NONE, /* "none": unchanged */
    IG_CFG_AUTHORITY_KIND_COUNT
};
struct ig_cfg_authority {
    enum ig_cfg_authority_kind kind;
    ig_iov_t value; /* FULL, HOST */
    uint16_t port;  /* PORT */
};

enum ig_cfg_path_rewrite_kind {
    IG_CFG_PATH_UNSET = 0,
    IG_CFG_PATH_FULL,   /* replace the whole path */
    IG_CFG_PATH_PREFIX, /* replace the matched pathPrefix */
    IG_CFG_PATH_KIND_COUNT
};
struct ig_cfg_path_rewrite {
    enum ig_cfg_path_rewrite_kind kind;
    ig_iov_t value;
};

struct ig_cfg_url_rewrite {
    struct ig_cfg_authority authority;
    struct ig_cfg_path_rewrite path;
};

struct ig_cfg_redirect {
    ig_iov_t scheme; /* len 0: unchanged */
    struct ig_cfg_authority authority;
    struct ig_cfg_path_rewrite path;
    uint16_t status; /* default 302 */
};

struct ig_cfg_direct_response {
    ig_iov_t body;
    uint16_t status;
};

/* Durations are nanoseconds; 0 means "not set" (no timeout). */
struct ig_cfg_timeouts {
    uint64_t request_ns;
    uint64_t backend_request_ns;
};

struct ig_cfg_retry {
    uint32_t attempts;   /* default 1 */
    uint64_t backoff_ns; /* 0: retry at once */
    uint16_t *codes;     /* HTTP statuses that trigger a retry (required, non-empty) */
    size_t n_codes;
};

enum ig_cfg_rate_limit_type { IG_CFG_RATE_LIMIT_REQUESTS = 0, IG_CFG_RATE_LIMIT_TOKENS, IG_CFG_RATE_LIMIT_TYPE_COUNT };
/** A gateway-wide token bucket. */
struct ig_cfg_rate_limit {
    uint64_t max_tokens;
    uint64_t tokens_per_fill;
    uint64_t fill_interval_ns;
    enum ig_cfg_rate_limit_type type;
};

/** Route-level policies; a NULL pointer (or zero count) means the policy is absent. */
struct ig_cfg_route_policies {
    struct ig_cfg_header_mod *request_headers;
    struct ig_cfg_header_mod *response_headers;
    struct ig_cfg_url_rewrite *url_rewrite;
    struct ig_cfg_redirect *redirect;
    struct ig_cfg_direct_response *direct_response;
    struct ig_cfg_timeouts *timeout;
    struct ig_cfg_retry *retry;
    struct ig_cfg_rate_limit *rate_limits;
    size_t n_rate_limits;
};

/** A PEM file named in the configuration and read at load time. */
struct ig_cfg_pem {
    ig_iov_t path; /* len 0: not set */
    ig_iov_t pem;  /* file contents (secret for keys: never logged or dumped) */
};

struct ig_cfg_backend_tls {
    struct ig_cfg_pem root; /* unset: the system trust store */
    int insecure;           /* skip certificate verification */
    ig_iov_t hostname;      /* SNI and verification name; len 0: the backend's host */
    struct ig_cfg_pem cert; /* client certificate chain (mutual TLS); set together with |key| */
    struct ig_cfg_pem key;  /* its private key (secret: never logged or dumped) */
    int insecure_host;      /* verify the chain but not the name (wins over |insecure|) */
    ig_iov_t *alpn;         /* offered ALPN protocols in order; n_alpn 0: by the HTTP version */
    size_t n_alpn;
    ig_iov_t *subject_alt_names; /* names accepted besides the hostname: DNS, IP or URI */
    size_t n_subject_alt_names;
    ig_iov_t *key_exchange_groups; /* OpenSSL group names; n 0: OpenSSL's defaults */
    size_t n_key_exchange_groups;
};

enum ig_cfg_target_kind {
    IG_CFG_TARGET_HOST = 0, /* host: "host:port" */
    IG_CFG_TARGET_SERVICE,  /* service: {name: "ns/hostname", port} */
    IG_CFG_TARGET_BACKEND,  /* backend: "<name>" of the top-level backends[] */
    IG_CFG_TARGET_KIND_COUNT
};

struct ig_cfg_service;
struct ig_cfg_service_port;
struct ig_cfg_backend;

/** Where a route backend or an endpoint picker points; references are resolved at load time. */
struct ig_cfg_target {
    enum ig_cfg_target_kind kind;
    struct ig_cfg_hostport host;                    /* HOST */
    const struct ig_cfg_service *service;           /* SERVICE */
    const struct ig_cfg_service_port *service_port; /* SERVICE: the referenced port and its endpoints */
    uint16_t port;                                  /* SERVICE: the service port as written */
    const struct ig_cfg_backend *backend;           /* BACKEND */
};

enum ig_cfg_destination_mode {
    IG_CFG_DEST_VALIDATED = 0, /* the picked ip:port must be an endpoint of the service */
    IG_CFG_DEST_PASSTHROUGH,   /* dial the picked ip:port directly */
    IG_CFG_DEST_MODE_COUNT
};
enum ig_cfg_failure_mode {
    IG_CFG_FAIL_CLOSED = 0, /* picker unavailable: the request fails */
    IG_CFG_FAIL_OPEN,       /* picker unavailable: normal endpoint selection */
    IG_CFG_FAILURE_MODE_COUNT
};
/* What of the upstream's response goes through the picker (an infergate extension). */
enum ig_cfg_response_mode {
    IG_CFG_RESP_FULL = 0, /* headers, body and trailers, answered; the client gets the picker's copy */
    IG_CFG_RESP_OBSERVE,  /* all mirrored with observability_mode: no answer awaited, upstream bytes pass */
    IG_CFG_RESP_HEADERS,  /* response headers (answered) and trailers only; the body bypasses the picker */
    IG_CFG_RESPONSE_MODE_COUNT
};

struct ig_cfg_inference_routing {
    struct ig_cfg_target picker; /* endpointPicker; HOST => plaintext HTTP/2 (h2c) */
    enum ig_cfg_destination_mode destination_mode;
    enum ig_cfg_failure_mode failure_mode; /* an infergate extension; agentgateway is always fail-closed */
    /* responseMode, an infergate extension */
    enum ig_cfg_response_mode response_mode;
};

enum ig_cfg_http_version {
    IG_CFG_HTTP_AUTO = 0, /* from the service's appProtocols, else HTTP/1.1 */
    IG_CFG_HTTP_1,
    IG_CFG_HTTP_2,
    IG_CFG_HTTP_VERSION_COUNT
};

/** Backend-level policies (route backends and named backends). */
struct ig_cfg_backend_policies {
    enum ig_cfg_http_version http_version;
    uint64_t request_timeout_ns; /* http.requestTimeout; 0: unset */
    uint64_t connect_timeout_ns; /* tcp.connectTimeout; 0: unset */
    struct ig_cfg_backend_tls *tls;
    struct ig_cfg_inference_routing *inference;
    struct ig_cfg_header_mod *request_headers;
    struct ig_cfg_header_mod *response_headers;
};

/* ---- services, workloads, backends ----------------------------------------------------------- */

enum ig_cfg_app_protocol {
    IG_CFG_APP_AUTO = 0,
    IG_CFG_APP_HTTP11,
    IG_CFG_APP_HTTP2,
    IG_CFG_APP_GRPC,
    IG_CFG_APP_TLS,
    IG_CFG_APP_TCP,
    IG_CFG_APP_PROTOCOL_COUNT
};

struct ig_cfg_workload;

/** One endpoint of a service port: a workload IP and the target port for that service port. */
struct ig_cfg_endpoint {
    struct ig_cfg_hostport addr; /* IP literal with the target port */
    const struct ig_cfg_workload *workload;
    int healthy;
    uint32_t capacity;
};

struct ig_cfg_service_port {
    uint16_t port;
    uint16_t target_port;
    enum ig_cfg_app_protocol app_protocol;
    struct ig_cfg_endpoint *endpoints; /* from workloads[].services, in declaration order */
    size_t n_endpoints;
};

struct ig_cfg_service {
    ig_iov_t name;
    ig_iov_t ns;
    ig_iov_t hostname;
    ig_iov_t key;   /* "<namespace>/<hostname>", what route backends reference */
    ig_iov_t *vips; /* "<network>/<ip>" as written */
    size_t n_vips;
    struct ig_cfg_service_port *ports;
    size_t n_ports;
};

struct ig_cfg_workload {
    ig_iov_t name;
    ig_iov_t ns;
    ig_iov_t uid;
    ig_iov_t *ips;
    size_t n_ips;
    int healthy;       /* status: Healthy (default) | Unhealthy */
    uint32_t capacity; /* default 1 */
};

/** A named backend (top-level backends[]). */
struct ig_cfg_backend {
    ig_iov_t name;
    struct ig_cfg_hostport host;
    struct ig_cfg_backend_policies policies;
};

/* ---- binds, listeners, routes ---------------------------------------------------------------- */

struct ig_cfg_route_backend {
    struct ig_cfg_target target;
    uint32_t weight; /* default 1 */
    struct ig_cfg_backend_policies policies;
};

struct ig_cfg_listener;

struct ig_cfg_route {
    ig_iov_t name; /* default "route<i>" */
    ig_iov_t ns;
    ig_iov_t rule_name;
    ig_iov_t *hostnames; /* lower-case; "*.example.com" wildcards; none: any host */
    size_t n_hostnames;
    struct ig_cfg_route_match *matches; /* never empty: default [{path: {pathPrefix: "/"}}] */
    size_t n_matches;
    struct ig_cfg_route_policies policies;
    struct ig_cfg_route_backend *backends;
    size_t n_backends;
    uint64_t total_weight;
    size_t index; /* declaration order within the listener */
    const struct ig_cfg_listener *listener;
};

enum ig_cfg_protocol { IG_CFG_PROTO_HTTP = 0, IG_CFG_PROTO_HTTPS, IG_CFG_PROTO_COUNT };

enum ig_cfg_tls_version { IG_CFG_TLS_DEFAULT = 0, IG_CFG_TLS_1_2, IG_CFG_TLS_1_3, IG_CFG_TLS_VERSION_COUNT };

struct ig_cfg_listener_tls {
    struct ig_cfg_pem cert;
    struct ig_cfg_pem key;
    struct ig_cfg_pem root; /* client CA: set => mutual TLS */
    enum ig_cfg_tls_version min_version;
    enum ig_cfg_tls_version max_version;
};

struct ig_cfg_route_entry; /* private: one (route, match) pair of the sorted route table */
struct ig_cfg_bind;

struct ig_cfg_listener {
    ig_iov_t name; /* default "listener<i>" */
    ig_iov_t ns;
    ig_iov_t hostname; /* len 0: any; may be a "*.x" wildcard */
    enum ig_cfg_protocol protocol;
    struct ig_cfg_listener_tls *tls; /* HTTPS only */
    struct ig_cfg_route *routes;
    size_t n_routes;
    const struct ig_cfg_bind *bind;
    const struct ig_cfg_route_entry *_table; /* sorted by precedence */
    size_t _n_table;
};

struct ig_cfg_bind {
    uint16_t port;
    ig_iov_t key; /* "bind/<port>", the metrics "gateway" label */
    struct ig_cfg_listener *listeners;
    size_t n_listeners;
};

/* ---- process settings and frontend policies -------------------------------------------------- */

/** The config: block (startup only) after environment overrides. */
struct ig_cfg_process {
    struct ig_cfg_addr admin;     /* default localhost:15000; env ADMIN_ADDR */
    struct ig_cfg_addr stats;     /* default 0.0.0.0:15020; env STATS_ADDR */
    struct ig_cfg_addr readiness; /* default 0.0.0.0:15021; env READINESS_ADDR */
    uint32_t worker_threads;      /* default: usable CPUs; env WORKER_THREADS ("N" or "P%") */
    enum ig_log_level log_level;  /* default info */
    enum ig_log_format log_format;
};

struct ig_cfg_frontend {
    uint64_t max_buffer_size;       /* http.maxBufferSize, default 2097152 */
    uint32_t http1_max_headers;     /* http.http1MaxHeaders, default 100 */
    uint64_t http1_idle_timeout_ns; /* http.http1IdleTimeout, default 10m */
    ig_iov_t *access_log_remove;    /* accessLog.remove[]: fields dropped from the access log */
    size_t n_access_log_remove;
};

/* ---- the snapshot ---------------------------------------------------------------------------- */

struct ig_config {
    ig_iov_t source; /* file name given to the loader */
    struct ig_cfg_process process;
    struct ig_cfg_frontend frontend;
    struct ig_cfg_bind *binds;
    size_t n_binds;
    struct ig_cfg_service *services;
    size_t n_services;
    struct ig_cfg_workload *workloads;
    size_t n_workloads;
    struct ig_cfg_backend *backends;
    size_t n_backends;

    ig_pool_t _pool;               /* owns everything above */
    struct ig_cfg_regex *_regexes; /* compiled patterns to regfree at the last unref */
    int _refs;                     /* atomic */
};

/**
 * Loads |path| (YAML or JSON). On success *|out| is a new snapshot with one reference (returns
 * owned). On failure writes "<path>:<line>:<col>: <message>" lines (at most IG_CONFIG_MAX_ERRORS,
 * '\n'-separated, NUL-terminated, truncated to |errlen|) into |err| (may be NULL) and leaves *|out|
 * NULL. Environment overrides (ADMIN_ADDR, STATS_ADDR, READINESS_ADDR, WORKER_THREADS) win over the
 * file, as in agentgateway. Never exits.
 * Returns 0, IG_EINVAL for an invalid configuration (or a path that is not a regular file),
 * IG_ETOOBIG for a file over IG_CONFIG_MAX_FILE, or -errno when the file cannot be opened or read.
 */
int ig_config_load_file(const char *path, struct ig_config **out, char *err, size_t errlen);

/**
 * As ig_config_load_file over |len| bytes of |text| (borrowed; need not be NUL-terminated); |name|
 * is used in error messages and relative paths in the file are relative to the process's working
 * directory. Returns 0, IG_EINVAL or IG_ETOOBIG.
 */
int ig_config_load_string(const char *name, const char *text, size_t len, struct ig_config **out, char *err,
                          size_t errlen);

/** Takes another reference (thread-safe). Returns |cfg|. */
struct ig_config *ig_config_ref(struct ig_config *cfg);
/** Drops a reference (thread-safe); the last one frees the snapshot. NULL is a no-op. */
void ig_config_unref(struct ig_config *cfg);

/**
 * Appends the snapshot as one JSON document (keys as in the file, defaults filled in, references
 * resolved) to |out|, for the admin port's /config_dump. PEM contents are never written; with
 * |redact| the TLS key paths are replaced by "<redacted>" too. Returns 0 or IG_ETOOBIG.
 */
int ig_config_dump_json(const struct ig_config *cfg, ig_buf_t *out, int redact);

/* ---- lookups for the gateway ----------------------------------------------------------------- */

/** The request fields route matching reads; everything is borrowed. */
struct ig_cfg_request {
    ig_iov_t method;
    ig_iov_t scheme;
    ig_iov_t host;                       /* Host / :authority, a port is ignored */
    ig_iov_t path;                       /* request target, query string included */
    const struct ig_cfg_header *headers; /* ig_http_header_t has the same layout */
    size_t n_headers;
};

/** Returns the bind listening on |port|, or NULL. */
const struct ig_cfg_bind *ig_config_find_bind(const struct ig_config *cfg, uint16_t port);

/**
 * Picks the listener of |bind| for |host| (Host header or TLS SNI; a port is ignored): an exact
 * hostname first, then the longest matching wildcard, then a listener without hostname. Returns
 * NULL when none matches.
 */
const struct ig_cfg_listener *ig_config_select_listener(const struct ig_cfg_bind *bind, ig_iov_t host);

/**
 * Returns the route of |listener| for |req| with Gateway API precedence, or NULL: the most specific
 * hostname (exact, then longest wildcard, then routes without hostnames), then an exact path, then
 * the longest pathPrefix, then regex paths (longer patterns first), then a method condition, then
 * the most header conditions, then the most query conditions, then declaration order. When
 * |matched| is not NULL it receives the matches[] entry that selected the route. Allocation-free.
 */
const struct ig_cfg_route *ig_config_match_route(const struct ig_cfg_listener *listener,
                                                 const struct ig_cfg_request *req,
                                                 const struct ig_cfg_route_match **matched);

/** Finds a service by "<namespace>/<hostname>"; NULL when absent. */
const struct ig_cfg_service *ig_config_find_service(const struct ig_config *cfg, ig_iov_t key);

/* ---- durations ------------------------------------------------------------------------------- */

/**
 * Parses a Go-style duration ("10s", "1m30s", "250ms", "1.5h", "0"; units ns, us, µs, ms, s, m, h)
 * into nanoseconds. Negative values are rejected. Returns 0, or IG_EINVAL with a static reason in
 * *|why| (may be NULL).
 */
int ig_config_parse_duration(ig_iov_t s, uint64_t *ns, const char **why);

/** Formats |ns| the way Go prints durations ("1m30s", "250ms", "0s") into |buf|; returns |buf|. */
char *ig_config_format_duration(uint64_t ns, char *buf, size_t len);

#endif
