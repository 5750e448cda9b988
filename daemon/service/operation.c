/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The FIFO every card operation of one eUICC goes through. A card runs one
 * ES10 command at a time on its ISD-R channel and several of them make one
 * operation (enable = EnableProfile, reopen, GetProfilesInfo, ...), so the
 * operations, not the commands, are what must not interleave.
 */
#include "service/operation.h"

#include "service/service.h"

struct _OpQueue {
  gchar *label;   /* for logs */
  GQueue waiting; /* GTask*, one reference each */
  GTask *running; /* borrowed: its step machine holds the reference */
  GSource *kick;  /* starts the next operation from the main loop */
};

void op_init(Op *op, const char *name, OpStartFunc start)
{
  op->name = name;
  op->start = start;
  op->io = g_cancellable_new();
  op->finished = FALSE;
  op->started = FALSE;
}

void op_clear(Op *op)
{
  g_clear_object(&op->io);
}

static Op *task_op(GTask *task)
{
  return g_task_get_task_data(task);
}

OpQueue *op_queue_new(const char *label)
{
  OpQueue *q = g_new0(OpQueue, 1);

  q->label = g_strdup(label);
  g_queue_init(&q->waiting);
  return q;
}

void op_queue_free(OpQueue *q)
{
  if (!q)
    return;
  g_warn_if_fail(op_queue_is_idle(q));
  if (q->kick) {
    g_source_destroy(q->kick);
    g_source_unref(q->kick);
  }
  g_free(q->label);
  g_free(q);
}

gboolean op_queue_is_idle(OpQueue *q)
{
  return !q->running && g_queue_is_empty(&q->waiting);
}

guint op_queue_get_length(OpQueue *q)
{
  return g_queue_get_length(&q->waiting);
}

/* Starts the head of the queue, answering the cancelled ones on the way. */
static void start_next(OpQueue *q)
{
  GTask *task;

  while (!q->running && (task = g_queue_pop_head(&q->waiting))) {
    Op *op = task_op(task);

    if (g_cancellable_is_cancelled(g_task_get_cancellable(task))) {
      g_debug("%s: %s dropped, its caller cancelled it", q->label, op->name);
      op->finished = TRUE;
      g_task_return_new_error(task, ESIMD_ERROR, ESIMD_ERROR_CANCELLED,
                              "The %s was cancelled before it reached the card", op->name);
      g_object_unref(task);
      continue;
    }
    g_debug("%s: %s starts (%u waiting)", q->label, op->name, g_queue_get_length(&q->waiting));
    q->running = task;
    op->started = TRUE;
    /* The step machine owns the queue's reference from here on. */
    op->start(task);
    break;
  }
}

static gboolean kick_cb(gpointer user_data)
{
  OpQueue *q = user_data;

  g_source_unref(q->kick);
  q->kick = NULL;
  start_next(q);
  return G_SOURCE_REMOVE;
}

/* The next operation starts from the main loop, never inside the previous
 * one's callback chain: a caller's callback may queue or free things. */
static void schedule_next(OpQueue *q)
{
  if (q->kick || q->running || g_queue_is_empty(&q->waiting))
    return;
  q->kick = g_idle_source_new();
  g_source_set_callback(q->kick, kick_cb, q, NULL);
  g_source_attach(q->kick, g_main_context_get_thread_default());
}

void op_queue_push(OpQueue *q, GTask *task)
{
  g_queue_push_tail(&q->waiting, task);
  schedule_next(q);
}

gboolean op_is_finished(GTask *task)
{
  return task_op(task)->finished;
}

static void op_done(OpQueue *q, GTask *task)
{
  task_op(task)->finished = TRUE;
  if (q->running == task)
    q->running = NULL;
  schedule_next(q);
}

void op_return_error(OpQueue *q, GTask *task, GError *error)
{
  g_return_if_fail(!op_is_finished(task));
  op_done(q, task);
  g_task_return_error(task, error);
}

void op_return_boolean(OpQueue *q, GTask *task, gboolean value)
{
  g_return_if_fail(!op_is_finished(task));
  op_done(q, task);
  g_task_return_boolean(task, value);
}

void op_return_pointer(OpQueue *q, GTask *task, gpointer value, GDestroyNotify notify)
{
  g_return_if_fail(!op_is_finished(task));
  op_done(q, task);
  g_task_return_pointer(task, value, notify);
}

void op_queue_drop_waiting(OpQueue *q, const GError *error)
{
  GTask *task;

  while ((task = g_queue_pop_head(&q->waiting))) {
    task_op(task)->finished = TRUE;
    g_task_return_error(task, g_error_copy(error));
    g_object_unref(task);
  }
}

void op_queue_abandon(OpQueue *q, const GError *error)
{
  GTask *running = q->running;

  op_queue_drop_waiting(q, error);
  if (!running)
    return;
  q->running = NULL;
  task_op(running)->finished = TRUE;
  /* Its I/O in flight comes back cancelled; the step machine then only
   * drops its reference. */
  g_cancellable_cancel(task_op(running)->io);
  g_task_return_error(running, g_error_copy(error));
}
