/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One eUICC's FIFO of card operations. Each operation is a GTask whose task
 * data starts with an Op; the queue starts them one at a time in arrival
 * order. An operation whose caller cancelled before its turn is answered
 * ESIMD_ERROR_CANCELLED and never started. Once started, an operation runs to
 * its end (a card command half sent must be seen through so that the cache
 * stays true), unless the card goes away: then the queue answers it at once
 * and its step machine, when its last callback comes back, only lets go.
 *
 * A step machine therefore begins every step with
 *   if (op_is_finished(task)) { g_object_unref(task); return; }
 * and ends with op_return_*() followed by g_object_unref(task).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _OpQueue OpQueue;

typedef void (*OpStartFunc)(GTask *task);

/* The head of every operation's task data. */
typedef struct {
  OpStartFunc start;
  const char *name;  /* for logs: "enable", "probe", ... */
  GCancellable *io;  /* for the operation's own I/O; cancelled when it is abandoned */
  gboolean finished; /* the caller has its answer */
  gboolean started;
} Op;

/* Sets up the head; the caller's cancellable stays the GTask's. */
void op_init(Op *op, const char *name, OpStartFunc start);
/* Releases what op_init() took; call from the task data's free function. */
void op_clear(Op *op);

OpQueue *op_queue_new(const char *label);
/* The queue must be idle (every operation answered and let go). */
void op_queue_free(OpQueue *q);

/* Appends the operation; the queue takes the reference it is given. */
void op_queue_push(OpQueue *q, GTask *task);
gboolean op_queue_is_idle(OpQueue *q);
/* Number of operations waiting (not counting the running one). */
guint op_queue_get_length(OpQueue *q);

/* Answers the running operation and lets the next one start. The step
 * machine keeps its reference and drops it right after. */
void op_return_error(OpQueue *q, GTask *task, GError *error);
void op_return_boolean(OpQueue *q, GTask *task, gboolean value);
void op_return_pointer(OpQueue *q, GTask *task, gpointer value, GDestroyNotify notify);
gboolean op_is_finished(GTask *task);

/* Answers every waiting operation with the error; they never start. */
void op_queue_drop_waiting(OpQueue *q, const GError *error);
/* Also answers the running one and cancels its I/O. */
void op_queue_abandon(OpQueue *q, const GError *error);

G_END_DECLS
