/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop: worker threads, each running one libuv loop; listeners with SO_REUSEPORT (one listening
 * socket per worker, the kernel spreads connections); signals; and ig_sock, the byte stream every
 * protocol runs on (TCP, optionally TLS through OpenSSL memory BIOs), with bounded output and
 * back-pressure. Nothing here is shared between workers except the immutable worker table.
 */
#ifndef IG_LOOP_H
#define IG_LOOP_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>
#include <openssl/ssl.h>

#include "ig/core.h"

/* ---- addresses ------------------------------------------------------------------------------- */

/**
 * Parses "host:port", "[v6]:port", ":port" (all addresses) or "port" into |out|. |host| must be a
 * numeric address or "localhost" (no DNS lookups on the loop). Returns 0 or IG_EINVAL.
 */
int ig_addr_parse(const char *text, struct sockaddr_storage *out);
/** Formats "ip:port" ("[v6]:port") into |buf|; returns |buf|. */
char *ig_addr_format(const struct sockaddr *sa, char *buf, size_t size);

/* ---- workers --------------------------------------------------------------------------------- */

typedef struct ig_worker ig_worker_t;
typedef void (*ig_worker_cb)(ig_worker_t *w, void *arg);

struct ig_worker {
    uv_loop_t loop;
    int id; /* 0 .. n-1 */
    pthread_t thread;
    void *data;           /* the application's per-worker state */
    ig_worker_cb on_stop; /* called on the worker's own thread when a drain starts (may be NULL) */
    uv_async_t _wakeup;
    struct ig_workers *_group;
    int _stopping;
};

/**
 * Starts |n| workers (n <= 0: the CPU count). |init| runs on each worker's thread before its loop
 * runs (open listeners, set data, on_stop). Worker 0 runs on a new thread too; the caller's thread
 * is free to wait in ig_workers_wait(). Returns the group, owned by the caller.
 */
struct ig_workers *ig_workers_start(int n, ig_worker_cb init, void *arg);
int ig_workers_count(const struct ig_workers *g);
ig_worker_t *ig_workers_get(struct ig_workers *g, int i);
/**
 * Asks every worker to drain: on_stop runs on each worker thread (close listeners, finish or
 * abort in-flight work). A worker's thread ends when its loop has no more active handles.
 * Thread-safe; idempotent.
 */
void ig_workers_stop(struct ig_workers *g);
/**
 * Runs |fn| on worker |i|'s thread at its next loop iteration. Thread-safe. |fn| must not block.
 */
void ig_workers_post(struct ig_workers *g, int i, ig_worker_cb fn, void *arg);
/** Joins every worker thread, then frees the group. */
void ig_workers_wait(struct ig_workers *g);
/** The worker running on the calling thread, or NULL. */
ig_worker_t *ig_worker_self(void);

/* ---- signals --------------------------------------------------------------------------------- */

typedef void (*ig_signal_cb)(int signum, void *arg);
/**
 * Runs the caller's thread as the signal thread: blocks SIGPIPE process-wide (call before any
 * worker starts: ig_signals_block()), then ig_signals_run() waits for SIGTERM/SIGINT (on_term) and
 * SIGHUP (on_hup) until ig_signals_quit() is called from any thread.
 */
void ig_signals_block(void);
void ig_signals_run(ig_signal_cb on_term, ig_signal_cb on_hup, void *arg);
void ig_signals_quit(void);

/* ---- listeners ------------------------------------------------------------------------------- */

typedef struct ig_listener ig_listener_t;
/** Called for each accepted connection with the accepted fd (non-blocking, TCP_NODELAY set). */
typedef void (*ig_accept_cb)(ig_listener_t *l, int fd, void *arg);

/**
 * Opens a listening TCP socket on |addr| in |loop| with SO_REUSEADDR and SO_REUSEPORT (so each
 * worker can open its own on the same address) and a backlog of 1024.
 * Returns 0 and *out, or -errno (e.g. -EADDRINUSE).
 */
int ig_listener_open(uv_loop_t *loop, const struct sockaddr *addr, ig_accept_cb cb, void *arg, ig_listener_t **out);
/** The bound address (useful with port 0). */
int ig_listener_addr(ig_listener_t *l, struct sockaddr_storage *out);
/** Stops accepting and closes the socket; memory is released after the loop's close callback. */
void ig_listener_close(ig_listener_t *l);

/* ---- ig_sock: a byte stream over TCP or TLS -------------------------------------------------- */

typedef struct ig_sock ig_sock_t;

struct ig_sock_ops {
    /**
     * Connected (client sockets only), after the TLS handshake when TLS is on. |status| is 0 or
     * IG_ECONNECT / IG_ETIMEDOUT / IG_ETLS; on failure on_close follows.
     */
    void (*on_connect)(ig_sock_t *s, int status);
    /** Received bytes (decrypted). |data| is valid only during the call. */
    void (*on_read)(ig_sock_t *s, const char *data, size_t len);
    /** Pending output fell to or below the low-water mark (see ig_sock_pending). May be NULL. */
    void (*on_drain)(ig_sock_t *s);
    /**
     * The socket is closed (peer EOF: IG_ECLOSED, reset: IG_ERESET, error, or 0 after
     * ig_sock_close). Called exactly once; the socket is freed right after it returns.
     */
    void (*on_close)(ig_sock_t *s, int err);
};

struct ig_sock_config {
    SSL_CTX *ssl_ctx;            /* NULL: plain TCP */
    const char *sni;             /* client: server name for SNI and verification; borrowed */
    uint64_t connect_timeout_ms; /* client: 0 = none */
    size_t max_pending;          /* output bytes queued before ig_sock_write fails (IG_ETOOBIG); 0 = 4 MiB */
    size_t low_water;            /* on_drain threshold; 0 = 16 KiB */
};

struct ig_sock {
    void *data; /* the owner's */
    const struct ig_sock_ops *ops;
    uv_loop_t *loop;
    /* private */
    struct ig_sock_impl *_impl;
};

/** Wraps an accepted fd (takes ownership). TLS (if cfg->ssl_ctx) handshakes as a server. */
ig_sock_t *ig_sock_accept(uv_loop_t *loop, int fd, const struct ig_sock_config *cfg, const struct ig_sock_ops *ops,
                          void *data);
/** Starts a connect to |addr|; on_connect reports the result. Never NULL. */
ig_sock_t *ig_sock_connect(uv_loop_t *loop, const struct sockaddr *addr, const struct ig_sock_config *cfg,
                           const struct ig_sock_ops *ops, void *data);
/**
 * Queues |len| bytes (copied) for writing. Writes are batched and flushed once per loop iteration.
 * Returns 0, IG_ETOOBIG when the pending output would exceed max_pending (nothing is queued), or
 * IG_ECLOSED after close.
 */
int ig_sock_write(ig_sock_t *s, const void *data, size_t len);
int ig_sock_writev(ig_sock_t *s, const ig_iov_t *iov, size_t n);
/** Bytes queued and not yet handed to the kernel. */
size_t ig_sock_pending(const ig_sock_t *s);
/** Stops or resumes reading (back-pressure towards the peer). */
void ig_sock_read_pause(ig_sock_t *s, int paused);
/** The negotiated ALPN protocol ("h2", "http/1.1") or IG_IOV_NULL. */
ig_iov_t ig_sock_alpn(const ig_sock_t *s);
int ig_sock_is_tls(const ig_sock_t *s);
/**
 * The server name (SNI) a server-side TLS handshake accepted, or NULL (plaintext, no name sent, or
 * the handshake not finished). Borrowed: valid as long as |s|.
 */
const char *ig_sock_server_name(const ig_sock_t *s);
/** Peer and local addresses. Returns 0 or -errno. */
int ig_sock_peer(const ig_sock_t *s, struct sockaddr_storage *out);
int ig_sock_local(const ig_sock_t *s, struct sockaddr_storage *out);
/** Flushes pending output (and TLS close_notify), then closes; on_close(0) follows. */
void ig_sock_close(ig_sock_t *s);
/** Closes at once, dropping pending output (RST when |rst|); on_close(IG_ECANCELED) follows. */
void ig_sock_abort(ig_sock_t *s, int rst);

/* ---- file watch ------------------------------------------------------------------------------ */

typedef struct ig_file_watch ig_file_watch_t;
/**
 * A debounced change in the watched file's directory. |status| is 0, or the last watch error
 * (-errno) libuv reported since the previous call; the watch goes on either way. Runs on the
 * loop's thread; it may call ig_file_watch_stop(|w|).
 */
typedef void (*ig_file_watch_cb)(ig_file_watch_t *w, int status, void *arg);

/** Coalesces the burst of events one save produces (write, rename, chmod). */
#define IG_FILE_WATCH_DEBOUNCE_MS 50

/**
 * Watches the file |path| (copied) in |loop| through its directory, not its inode: editors and
 * Kubernetes ConfigMap mounts replace a file by renaming another over it (or by swapping a
 * `..data` symlink), which an inode watch on the old file would never report, and a file deleted
 * and created again is seen too. Every event in the directory (re)arms a |debounce_ms| timer
 * (0: IG_FILE_WATCH_DEBOUNCE_MS); |cb| runs once when it fires, so a burst of writes is one call.
 * The watch does not read the file: the callback decides whether its contents changed.
 * Single-threaded: every call, and |cb|, on the loop's thread. The file need not exist; its
 * directory must.
 * Returns 0 and *out (owned by the caller: release it with ig_file_watch_stop), or -errno from
 * uv_fs_event_start (e.g. -ENOENT: no such directory); on failure nothing is left to stop and the
 * memory is released by the loop's next iteration.
 */
int ig_file_watch_start(uv_loop_t *loop, const char *path, uint64_t debounce_ms, ig_file_watch_cb cb, void *arg,
                        ig_file_watch_t **out);
/** The watched directory ("." for a bare file name); valid until ig_file_watch_stop. */
const char *ig_file_watch_dir(const ig_file_watch_t *w);
/**
 * Stops watching: |cb| is never called again, even for a pending debounce. The memory is
 * released by the loop's close callbacks, so the loop must run once more before uv_loop_close.
 * NULL is a no-op.
 */
void ig_file_watch_stop(ig_file_watch_t *w);

/* ---- TLS contexts ---------------------------------------------------------------------------- */

/**
 * Server context from PEM files, ALPN list in preference order (e.g. "h2,http/1.1", NULL: none).
 * Returns NULL and writes a message to |err| on failure.
 */
SSL_CTX *ig_tls_server_ctx(const char *cert_file, const char *key_file, const char *alpn, char *err, size_t errlen);
/** Client context: |ca_file| NULL uses the system store; |insecure| skips verification. */
SSL_CTX *ig_tls_client_ctx(const char *ca_file, int insecure, const char *alpn, char *err, size_t errlen);

/**
 * Everything a client context can be told (agentgateway's backendTLS). Every pointer is borrowed
 * for the duration of the call only: the context keeps copies of what it needs.
 *
 * Verification, in agentgateway's order of precedence: |insecure_host| verifies the chain against
 * the roots but accepts any name; else |insecure| verifies nothing; else the chain is verified and
 * the certificate must be valid for the connection's name (ig_sock_config.sni) or for any of
 * |sans| (DNS names with the certificate's wildcards honoured, IP literals, or URIs such as
 * "spiffe://td/ns/a/sa/b" compared exactly with the certificate's URI names).
 */
struct ig_tls_client_opts {
    const char *ca_file;     /* verification roots (PEM); NULL: the system store */
    int insecure;            /* no certificate verification */
    int insecure_host;       /* verify the chain but not the name */
    const char *cert_file;   /* client certificate chain (PEM) for mutual TLS; NULL: none. Needs key_file */
    const char *key_file;    /* its private key (PEM) */
    const char *alpn;        /* offered protocols, comma-separated in preference order; NULL: no ALPN */
    const char *const *sans; /* further names the server certificate may match */
    size_t n_sans;
    const char *groups; /* key exchange groups as an OpenSSL list ("X25519:P-256"); NULL: OpenSSL's */
};

/**
 * A client context built from |o|. Returns NULL with a message in |err| when a file cannot be
 * loaded, the key does not match the certificate, or the ALPN or group list is invalid.
 */
SSL_CTX *ig_tls_client_ctx_opts(const struct ig_tls_client_opts *o, char *err, size_t errlen);
/**
 * True when |ctx| was made by ig_tls_client_ctx_opts (or ig_tls_client_ctx) from settings equal to
 * |o| (file names compared, not their contents), so a caller can share one context per setting.
 */
int ig_tls_client_ctx_matches(const SSL_CTX *ctx, const struct ig_tls_client_opts *o);
/** A self-signed certificate + key for |cn| written as PEM to the given paths. Returns 0 or -1. */
int ig_tls_self_signed(const char *cn, const char *cert_path, const char *key_path);

/* ---- server name indication (server side) ---------------------------------------------------- */

/**
 * Chooses the server context of one handshake from the client's server name (|name|, |len|; not
 * NUL-terminated; NULL when the client sent none). Returns a context created by ig_tls_server_ctx
 * (borrowed: |arg| must keep it alive), or NULL to refuse the handshake with the unrecognized_name
 * alert. Runs on the loop thread of the connection; must not block.
 */
typedef SSL_CTX *(*ig_tls_sni_cb)(void *arg, const char *name, size_t len);

/**
 * A "front" server context that holds no certificate itself: at each ClientHello, before the
 * protocol version is chosen, |cb| picks the context whose certificate, ALPN list, TLS versions
 * and client verification the handshake uses. Takes ownership of |arg| in every case: |free_arg|
 * (may be NULL) runs when the front context is freed, i.e. after the last connection made with
 * it is gone, so reloads can replace the front while handshakes on the old one finish.
 * Returns the context (owned by the caller), or NULL with a message in |err|.
 */
SSL_CTX *ig_tls_server_sni_ctx(ig_tls_sni_cb cb, void *arg, void (*free_arg)(void *arg), char *err, size_t errlen);

/**
 * Finds the host_name entry of a ClientHello server_name extension body (RFC 6066, |len| bytes).
 * Returns 0 and *|name| (borrowed from |ext|) / *|name_len|, IG_ENOTFOUND when there is no
 * host_name entry, or IG_EPROTO when the extension is malformed (or the name empty, over 255
 * bytes or holding a NUL).
 */
int ig_tls_sni_parse(const unsigned char *ext, size_t len, const unsigned char **name, size_t *name_len);

#endif
