/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error codes and the panic path. ig_strerror names both infergate's own codes and -errno values
 * with static strings (thread-safe: no shared formatting buffer); ig_panic reports a failed
 * always-on assertion through the logger and aborts so that a core dump shows the state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ig/core.h"

const char *ig_strerror(int err)
{
    switch (err) {
    case IG_OK:
        return "success";
    case IG_EAGAIN:
        return "would block";
    case IG_EINCOMPLETE:
        return "incomplete input";
    case IG_EINVAL:
        return "invalid argument";
    case IG_ENOTFOUND:
        return "not found";
    case IG_EEXIST:
        return "already exists";
    case IG_ECANCELED:
        return "canceled";
    case IG_ETIMEDOUT:
        return "timed out";
    case IG_ECLOSED:
        return "closed by peer";
    case IG_EUNSUPPORTED:
        return "unsupported";
    case IG_EPROTO:
        return "protocol error";
    case IG_ETOOBIG:
        return "limit exceeded";
    case IG_ETLS:
        return "TLS error";
    case IG_ERESET:
        return "reset by peer";
    case IG_ECONNECT:
        return "connect failed";
    default:
        break;
    }
    if (err < 0 && err > -4096) {
        /* strerrordesc_np returns a static string, unlike strerror's possibly shared buffer. */
        const char *s = strerrordesc_np(-err);
        if (s != NULL)
            return s;
    }
    return "unknown error";
}

void ig_panic(const char *file, int line, const char *what)
{
    ig_log_write(IG_LOG_ERROR, "panic", "assertion failed at %s:%d: %s", file, line, what);
    abort();
}
