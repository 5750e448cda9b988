/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What every card operation shares: the FIFO every card operation of one
 * eUICC goes through, and the runtime around each operation (the ISD-R
 * channel, the hold on a modem whose AT port ModemManager owns, the
 * inhibition around a switch, the answer after the cleanup steps).
 *
 * The FIFO: A card runs one
 * ES10 command at a time on its ISD-R channel and several of them make one
 * operation (enable = EnableProfile, reopen, GetProfilesInfo, ...), so the
 * operations, not the commands, are what must not interleave.
 */
#include "service/operation.h"

#include "service/euicc-private.h"
#include "system/mm.h"

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

/* ---- the runtime of one card's operations ---- */

struct _OpRunner {
  Euicc *owner; /* borrowed: it owns the runner */
  Modem *modem;
  gchar *label;
  OpQueue *queue;
  CardChannel channel;
  guint port_session; /* the modem's port session the channel was opened in */
  MmClient *mm;       /* borrowed; NULL: ModemManager is never asked */
  gboolean invalid;   /* the card is gone */
  gboolean closing;   /* closed or closing: no new operation is taken */
  /* A modem whose AT port ModemManager owns is held (modem_acquire) from
   * the start of an operation until the queue has been idle for linger_ms:
   * then a release operation closes the channel and lets go of it. */
  gboolean holds_modem;
  guint linger_ms;
  GSource *linger;
};

OpRunner *op_runner_new(Euicc *owner, Modem *modem, const ModemSlotProbe *probe, const char *label,
                        guint linger_ms, MmClient *mm)
{
  OpRunner *r = g_new0(OpRunner, 1);

  r->owner = owner;
  r->modem = modem_ref(modem);
  r->label = g_strdup(label);
  r->queue = op_queue_new(label);
  card_channel_init(&r->channel, modem_get_transport(modem), probe->slot, probe->isdr_aid,
                    probe->channel);
  r->port_session = modem_get_port_session(modem);
  r->linger_ms = linger_ms;
  r->mm = mm;
  return r;
}

static void linger_stop(OpRunner *r)
{
  if (!r->linger)
    return;
  g_source_destroy(r->linger);
  g_clear_pointer(&r->linger, g_source_unref);
}

/* Lets go of the modem at once, without closing the channel (the card or
 * the eUICC is gone). */
static void drop_modem(OpRunner *r)
{
  linger_stop(r);
  if (!r->holds_modem)
    return;
  r->holds_modem = FALSE;
  modem_release(r->modem, NULL, NULL);
}

void op_runner_free(OpRunner *r)
{
  if (!r)
    return;
  drop_modem(r);
  op_queue_free(r->queue);
  card_channel_clear(&r->channel);
  modem_unref(r->modem);
  g_free(r->label);
  g_free(r);
}

gboolean op_runner_has_channel(OpRunner *r)
{
  return r->channel.aid != NULL;
}

void op_runner_attach_channel(OpRunner *r, GBytes *isdr_aid, guint channel)
{
  g_clear_pointer(&r->channel.aid, g_bytes_unref);
  r->channel.aid = g_bytes_ref(isdr_aid);
  r->channel.channel = channel;
  r->channel.stale = 0;
  r->port_session = modem_get_port_session(r->modem);
}

void op_runner_invalidate(OpRunner *r, const GError *error)
{
  if (r->invalid)
    return;
  r->invalid = TRUE;
  op_queue_abandon(r->queue, error);
  drop_modem(r);
}

gboolean op_runner_is_closed(OpRunner *r)
{
  return r->invalid || r->closing;
}

gboolean op_runner_holds_modem(OpRunner *r)
{
  return r->holds_modem;
}

void op_runner_set_linger_ms(OpRunner *r, guint linger_ms)
{
  r->linger_ms = linger_ms;
}

/* ---- the operation ---- */

static void euicc_op_free(EuiccOp *ctx);

static void abandoned_uninhibit_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree gchar *device = user_data;
  g_autoptr(GError) error = NULL;

  if (!mm_uninhibit_finish(NULL, res, &error))
    g_warning("Giving %s back to ModemManager: %s", device, error->message);
}

static void euicc_op_free(EuiccOp *ctx)
{
  OpRunner *r = ctx->runner;

  /* Abandoned (the modem went away, or esimd stops) while it held the
   * modem: ModemManager gets it back now. */
  if (ctx->inhibited) {
    const char *device = modem_get_mm_device(r->modem);

    g_info("%s: %s ended; giving %s back to ModemManager", r->label, ctx->op.name, device);
    mm_uninhibit(r->mm, device, NULL, abandoned_uninhibit_ready, g_strdup(device));
  }
  if (ctx->klass->clear)
    ctx->klass->clear(ctx);
  g_clear_error(&ctx->outcome);
  op_clear(&ctx->op);
  g_clear_pointer(&ctx->response, g_bytes_unref);
  g_clear_error(&ctx->call_error);
  g_free(ctx->doing_owned);
  euicc_unref(ctx->euicc);
  g_free(ctx);
}

static void release_start(OpRunner *r, gboolean lingered);

static gboolean linger_expired(gpointer user_data)
{
  OpRunner *r = user_data;

  g_clear_pointer(&r->linger, g_source_unref);
  /* An operation is about to start: it is served in this window, and the
   * linger starts again after it. */
  if (!op_queue_is_idle(r->queue))
    return G_SOURCE_REMOVE;
  release_start(r, TRUE);
  return G_SOURCE_REMOVE;
}

/* Starts the countdown to giving the modem back, again from the start. */
static void linger_restart(OpRunner *r)
{
  linger_stop(r);
  if (!r->holds_modem || r->invalid || r->closing)
    return;
  r->linger = g_timeout_source_new(r->linger_ms);
  g_source_set_callback(r->linger, linger_expired, r, NULL);
  g_source_attach(r->linger, g_main_context_get_thread_default());
}

static void euicc_op_acquire_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EuiccOp *ctx = g_task_get_task_data(task);
  OpRunner *r = ctx->runner;
  GError *error = NULL;

  if (!modem_acquire_finish(r->modem, res, &error)) {
    if (!euicc_op_begin_step(task)) {
      g_error_free(error);
      return;
    }
    euicc_op_fail(task, error);
    return;
  }
  if (op_is_finished(task)) {
    /* Abandoned meanwhile (the modem or card went away). */
    modem_release(r->modem, NULL, NULL);
    g_object_unref(task);
    return;
  }
  r->holds_modem = TRUE;
  /* The port was closed since the channel was opened, and the channel
   * with it: the first command opens a new one. */
  if (r->port_session != modem_get_port_session(r->modem)) {
    r->channel.channel = 0;
    r->channel.stale = 0;
    r->port_session = modem_get_port_session(r->modem);
  }
  ctx->klass->step(task);
}

static void euicc_op_start(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  OpRunner *r = ctx->runner;

  /* Counted again from the operation's end. */
  linger_stop(r);
  if (!ctx->klass->releases && !r->holds_modem && modem_is_on_demand(r->modem)) {
    if (ctx->quiet) {
      g_info("%s: %s served from the cache: the modem is ModemManager's, and the caller may "
             "not take it",
             r->label, ctx->op.name);
      ctx->step = ctx->klass->last_step;
      ctx->klass->step(task);
      return;
    }
    modem_acquire(r->modem, ctx->op.io, euicc_op_acquire_ready, task);
    return;
  }
  ctx->klass->step(task);
}

static GTask *op_new(OpRunner *r, Euicc *euicc, const EuiccOpClass *klass,
                     GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);
  EuiccOp *ctx;

  g_assert(klass->size >= sizeof(EuiccOp));
  ctx = g_malloc0(klass->size);
  g_task_set_source_tag(task, (gpointer)klass);
  /* The answer is the operation's own: ESIMD_ERROR_CANCELLED when it was
   * dropped, its real outcome when the caller cancelled too late. */
  g_task_set_check_cancellable(task, FALSE);
  op_init(&ctx->op, klass->name, euicc_op_start);
  ctx->klass = klass;
  ctx->euicc = euicc_ref(euicc);
  ctx->runner = r;
  ctx->doing = klass->name;
  g_task_set_task_data(task, ctx, (GDestroyNotify)euicc_op_free);
  return task;
}

GTask *euicc_op_new(Euicc *euicc, const EuiccOpClass *klass, GCancellable *cancellable,
                    GAsyncReadyCallback cb, gpointer user_data)
{
  return op_new(euicc_get_runner(euicc), euicc, klass, cancellable, cb, user_data);
}

void euicc_op_queue(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  OpRunner *r = ctx->runner;

  if (r->invalid || r->closing) {
    ctx->op.finished = TRUE;
    if (r->invalid)
      g_task_return_new_error(task, ESIMD_ERROR, ESIMD_ERROR_REMOVED, "The modem was removed");
    else
      g_task_return_new_error(task, ESIMD_ERROR, ESIMD_ERROR_CANCELLED, "esimd is shutting down");
    g_object_unref(task);
    return;
  }
  op_queue_push(r->queue, task);
}

gpointer euicc_op_begin_step(GTask *task)
{
  EuiccOp *ctx;

  if (op_is_finished(task)) {
    /* Answered already (the card went away); this was its last callback. */
    g_object_unref(task);
    return NULL;
  }
  ctx = g_task_get_task_data(task);
  g_debug("%s: %s (%u/%u)", ctx->runner->label, ctx->op.name, ctx->step, ctx->klass->last_step);
  return ctx;
}

void euicc_op_set_doing(EuiccOp *ctx, gchar *doing)
{
  g_free(ctx->doing_owned);
  ctx->doing_owned = doing;
  ctx->doing = doing;
}

static void euicc_op_call_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EuiccOp *ctx = g_task_get_task_data(task);

  g_clear_pointer(&ctx->response, g_bytes_unref);
  g_clear_error(&ctx->call_error);
  ctx->response = card_call_finish(res, &ctx->call_error);
  ctx->step++;
  ctx->klass->step(task);
}

void euicc_op_call(GTask *task, GBytes *request)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  card_call(&ctx->runner->channel, request, ctx->op.io, euicc_op_call_ready, task);
  g_bytes_unref(request);
}

gboolean euicc_op_check_call(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  if (!ctx->call_error)
    return TRUE;
  euicc_op_fail(task, g_steal_pointer(&ctx->call_error));
  return FALSE;
}

const guint8 *euicc_op_response(EuiccOp *ctx, gsize *len)
{
  *len = 0;
  return ctx->response ? g_bytes_get_data(ctx->response, len) : NULL;
}

static void euicc_op_reopen_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EuiccOp *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  /* Not fatal: the next card_call opens the channel again if this failed. */
  if (!card_reopen_finish(res, &error))
    g_info("%s: reopening the ISD-R channel: %s", ctx->runner->label, error->message);
  ctx->step++;
  ctx->klass->step(task);
}

void euicc_op_reopen(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  card_reopen(&ctx->runner->channel, ctx->op.io, euicc_op_reopen_ready, task);
}

void euicc_op_reopen_after_reset(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  card_reopen_after_reset(&ctx->runner->channel, ctx->op.io, euicc_op_reopen_ready, task);
}

static void euicc_op_reload_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EuiccOp *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!transport_reload_sim_finish(modem_get_transport(ctx->runner->modem), res, &error) &&
      !g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED))
    g_info("%s: the modem did not reload the SIM: %s", ctx->runner->label, error->message);
  ctx->step++;
  ctx->klass->step(task);
}

void euicc_op_reload_sim(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  transport_reload_sim(modem_get_transport(ctx->runner->modem), ctx->runner->channel.slot,
                       ctx->op.io, euicc_op_reload_ready, task);
}

/* ---- ModemManager around a switch ---- */

static void euicc_op_inhibit_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EuiccOp *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (mm_inhibit_finish(ctx->runner->mm, res, &error))
    ctx->inhibited = TRUE;
  else if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    /* The card can switch without it; ModemManager then learns of the new
     * SIM only from the modem's own SIM refresh indication, if at all. */
    g_warning("%s: ModemManager did not release %s (%s); %s anyway", ctx->runner->label,
              modem_get_mm_device(ctx->runner->modem), error->message, ctx->doing);
  ctx->step++;
  ctx->klass->step(task);
}

gboolean euicc_op_inhibit(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  OpRunner *r = ctx->runner;
  const char *device = modem_get_mm_device(r->modem);

  if (!r->mm || ctx->inhibited)
    return FALSE;
  if (r->holds_modem) {
    /* Inhibited already, for its AT port: ModemManager reads the SIM anew
     * when it has the modem back, once the port is closed. */
    g_debug("%s: %s is inhibited for its AT port already", r->label, device);
    return FALSE;
  }
  if (!*device) {
    g_debug("%s: the modem's device is unknown; ModemManager is not told of %s", r->label,
            ctx->doing);
    return FALSE;
  }
  g_info("%s: asking ModemManager to release %s for %s", r->label, device, ctx->doing);
  mm_inhibit(r->mm, device, ctx->op.io, euicc_op_inhibit_ready, task);
  return TRUE;
}

static void euicc_op_uninhibit_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EuiccOp *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!mm_uninhibit_finish(ctx->runner->mm, res, &error))
    g_warning("%s: giving %s back to ModemManager: %s", ctx->runner->label,
              modem_get_mm_device(ctx->runner->modem), error->message);
  ctx->step++;
  ctx->klass->step(task);
}

gboolean euicc_op_uninhibit(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  const char *device = modem_get_mm_device(ctx->runner->modem);

  if (!ctx->inhibited)
    return FALSE;
  ctx->inhibited = FALSE;
  g_info("%s: giving %s back to ModemManager", ctx->runner->label, device);
  /* Not cancellable: ModemManager must have the modem back. */
  mm_uninhibit(ctx->runner->mm, device, NULL, euicc_op_uninhibit_ready, task);
  return TRUE;
}

/* ---- failing and answering ---- */

void euicc_op_fail(GTask *task, GError *error)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  ctx->card_gone = g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NO_CARD);
  g_clear_error(&ctx->outcome);
  ctx->outcome = service_error_from(error, ctx->doing);
  g_debug("%s: %s failed at step %u/%u; cleaning up", ctx->runner->label, ctx->op.name, ctx->step,
          ctx->klass->last_step);
  ctx->step = ctx->klass->cleanup_step;
  ctx->klass->step(task);
}

void euicc_op_fail_result(GTask *task, Es10Command cmd, gint result, const char *subject)
{
  euicc_op_fail(task, service_result_error(cmd, result, subject));
}

void euicc_op_fail_invalid_args(GTask *task, const char *what, GError *encode_error)
{
  GError *error =
      g_error_new(ESIMD_ERROR, ESIMD_ERROR_INVALID_ARGS, "%s: %s", what, encode_error->message);

  g_error_free(encode_error);
  euicc_op_fail(task, error);
}

gboolean euicc_op_failed(EuiccOp *ctx)
{
  return ctx->outcome != NULL;
}

static void euicc_op_answer(GTask *task, gpointer value, GDestroyNotify notify)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  OpRunner *r = ctx->runner;
  g_autoptr(Euicc) euicc = euicc_ref(ctx->euicc);
  GError *error = g_steal_pointer(&ctx->outcome);
  gboolean card_gone = ctx->card_gone;

  linger_restart(r);
  if (!error) {
    if (notify)
      op_return_pointer(r->queue, task, value, notify);
    else
      op_return_boolean(r->queue, task, TRUE);
    g_object_unref(task);
    return;
  }
  if (notify && value)
    notify(value);
  g_info("%s: %s failed: %s", r->label, ctx->op.name, error->message);
  op_return_error(r->queue, task, error);
  g_object_unref(task);
  /* The card left its slot under the operation: it goes away, with the
   * operations queued behind this one. */
  if (card_gone && !r->invalid)
    euicc_report_gone(euicc);
}

void euicc_op_complete(GTask *task)
{
  euicc_op_answer(task, NULL, NULL);
}

void euicc_op_complete_pointer(GTask *task, gpointer value, GDestroyNotify notify)
{
  g_assert(notify != NULL);
  euicc_op_answer(task, value, notify);
}

/* ---- close (shutdown) and release (after the linger) ---- */

typedef enum {
  CLOSE_STEP_FIRST,
  CLOSE_STEP_CLOSE,
  CLOSE_STEP_RELEASE,
  CLOSE_STEP_LAST,
} CloseStep;

typedef struct {
  EuiccOp base;
  gboolean lingered; /* the release after the linger, not a close */
} CloseContext;

static void close_step(GTask *task);

static const EuiccOpClass close_class = {
    .name = "close",
    .step = close_step,
    .size = sizeof(CloseContext),
    .cleanup_step = CLOSE_STEP_LAST,
    .last_step = CLOSE_STEP_LAST,
    .releases = TRUE,
};

static const EuiccOpClass release_class = {
    .name = "release",
    .step = close_step,
    .size = sizeof(CloseContext),
    .cleanup_step = CLOSE_STEP_LAST,
    .last_step = CLOSE_STEP_LAST,
    .releases = TRUE,
};

static void close_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  CloseContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!card_close_finish(res, &error))
    g_debug("%s: closing the channel: %s", ctx->base.runner->label, error->message);
  ctx->base.step++;
  close_step(task);
}

static void release_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  CloseContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!modem_release_finish(ctx->base.runner->modem, res, &error))
    g_debug("%s: letting go of the modem: %s", ctx->base.runner->label, error->message);
  ctx->base.step++;
  close_step(task);
}

static void close_step(GTask *task)
{
  CloseContext *ctx = euicc_op_begin_step(task);
  OpRunner *r;

  if (!ctx)
    return;
  r = ctx->base.runner;
  switch ((CloseStep)ctx->base.step) {
  case CLOSE_STEP_FIRST:
    /* After the linger: an operation queued meanwhile is served first, in
     * this window, and the linger starts again after it. */
    if (ctx->lingered && (!r->holds_modem || op_queue_get_length(r->queue) > 0)) {
      ctx->base.step = CLOSE_STEP_LAST;
      close_step(task);
      return;
    }
    ctx->base.step++;
    /* fall through */
  case CLOSE_STEP_CLOSE:
    /* The channel goes before the port: a modem keeps a logical channel
     * its port's owner did not close. */
    card_close(&r->channel, ctx->base.op.io, close_ready, task);
    return;
  case CLOSE_STEP_RELEASE:
    if (r->holds_modem) {
      r->holds_modem = FALSE;
      modem_release(r->modem, release_ready, task);
      return;
    }
    ctx->base.step++;
    /* fall through */
  case CLOSE_STEP_LAST:
    euicc_op_complete(task);
    return;
  }
  g_assert_not_reached();
}

static void release_start(OpRunner *r, gboolean lingered)
{
  /* Through the queue, so that nothing else uses the channel meanwhile. */
  GTask *task = op_new(r, r->owner, &release_class, NULL, NULL, NULL);
  CloseContext *ctx = g_task_get_task_data(task);

  ctx->lingered = lingered;
  op_queue_push(r->queue, task);
}

void op_runner_close(OpRunner *r, const GError *error, GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task;

  linger_stop(r);
  op_queue_drop_waiting(r->queue, error);
  if (r->queue->running) {
    EuiccOp *running = g_task_get_task_data(r->queue->running);

    if (running->klass->interrupt)
      running->klass->interrupt(running);
  }
  task = op_new(r, r->owner, &close_class, NULL, cb, user_data);
  euicc_op_queue(task);
  /* After the close nothing may open the channel again. */
  r->closing = TRUE;
}
