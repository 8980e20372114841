/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ig_file_watch: one debounced watch of a file through its directory, for every file infergate
 * reloads while it runs (the gateway's configuration, the EPP's endpoints and objectives files).
 * The directory, not the file, carries the uv_fs_event: a rename over the file, a ConfigMap's
 * `..data` symlink swap, or a delete followed by a create all leave an inode watch on the old
 * file blind, while the directory sees each of them. Events are not filtered by name for the
 * same reason (the symlink swap names `..data`, not the file); each one (re)arms a one-shot
 * timer, so the owner's callback runs once per burst and compares the contents itself.
 */
#include <libgen.h>

#include "loop_int.h"

struct ig_file_watch {
    uv_fs_event_t event;
    uv_timer_t debounce;
    char *dir;
    uint64_t debounce_ms;
    ig_file_watch_cb cb;
    void *arg;
    int status;       /* last watch error since the previous callback, or 0 */
    int open_handles; /* the memory goes with the last close callback */
};

static void on_debounce(uv_timer_t *t)
{
    ig_file_watch_t *w = t->data;
    int status = w->status;
    w->status = 0;
    w->cb(w, status, w->arg);
}

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    ig_file_watch_t *w = h->data;
    (void)filename;
    (void)events;
    if (status < 0)
        w->status = status;
    /* Restarting a running timer pushes its deadline out: the burst ends when the events stop. */
    uv_timer_start(&w->debounce, on_debounce, w->debounce_ms, 0);
}

static void on_closed(uv_handle_t *h)
{
    ig_file_watch_t *w = h->data;
    if (--w->open_handles > 0)
        return;
    ig_free(w->dir);
    ig_free(w);
}

static void close_handles(ig_file_watch_t *w)
{
    uv_fs_event_stop(&w->event);
    uv_timer_stop(&w->debounce);
    uv_close((uv_handle_t *)&w->event, on_closed);
    uv_close((uv_handle_t *)&w->debounce, on_closed);
}

int ig_file_watch_start(uv_loop_t *loop, const char *path, uint64_t debounce_ms, ig_file_watch_cb cb, void *arg,
                        ig_file_watch_t **out)
{
    *out = NULL;
    if (path == NULL || path[0] == '\0' || cb == NULL)
        return IG_EINVAL;
    ig_file_watch_t *w = ig_calloc(1, sizeof(*w));
    /* dirname() may modify its argument and may return static storage: work on a copy. */
    char *tmp = ig_strdup(path);
    w->dir = ig_strdup(dirname(tmp));
    ig_free(tmp);
    w->debounce_ms = debounce_ms != 0 ? debounce_ms : IG_FILE_WATCH_DEBOUNCE_MS;
    w->cb = cb;
    w->arg = arg;
    uv_timer_init(loop, &w->debounce);
    w->debounce.data = w;
    uv_fs_event_init(loop, &w->event);
    w->event.data = w;
    w->open_handles = 2;
    int rc = uv_fs_event_start(&w->event, on_event, w->dir, 0);
    if (rc != 0) {
        close_handles(w);
        return rc; /* libuv's codes are -errno on Unix */
    }
    *out = w;
    return 0;
}

const char *ig_file_watch_dir(const ig_file_watch_t *w)
{
    return w->dir;
}

void ig_file_watch_stop(ig_file_watch_t *w)
{
    if (w == NULL)
        return;
    close_handles(w);
}
