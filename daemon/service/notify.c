/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Notifications: the card's list (ListNotification), dropping one
 * (RemoveNotificationFromList) and delivering them to their SM-DP+ over
 * ES9+ handleNotification, removing each from the card only once its SM-DP+
 * confirmed it (SGP.22 3.5, 5.6.4).
 */
#include "service/euicc-private.h"

#include "smdp/es9p.h"

/* Automatic delivery: notify.c's own state, one per eUICC. */
struct _Notifier {
  Euicc *euicc;              /* borrowed: it owns the notifier */
  GSource *timer;            /* the next try after a failure */
  guint backoff_s;           /* 0: no failure yet */
  gboolean queued;           /* an automatic delivery is under way */
  gboolean unreachable;      /* the last delivery met an unreachable SM-DP+ */
  GCancellable *cancellable; /* of the automatic delivery under way */
};

/* ---- list ---- */

typedef enum {
  LIST_STEP_FIRST,
  LIST_STEP_SEND,
  LIST_STEP_RESULT,
  LIST_STEP_LAST,
} ListStep;

typedef struct {
  EuiccOp base;
  GPtrArray *results; /* EuiccNotification* */
} ListContext;

static void list_step(GTask *task);

static void list_clear(gpointer data)
{
  ListContext *ctx = data;

  g_clear_pointer(&ctx->results, g_ptr_array_unref);
}

static const EuiccOpClass list_class = {
    .name = "list-notifications",
    .step = list_step,
    .size = sizeof(ListContext),
    .clear = list_clear,
    .cleanup_step = LIST_STEP_LAST,
    .last_step = LIST_STEP_LAST,
};

static EuiccNotification *notification_from_metadata(const Es10NotificationMetadata *m)
{
  EuiccNotification *n = g_new0(EuiccNotification, 1);

  n->seq = m->seq_number;
  n->operation = g_strdup(es10_notification_event_to_string(m->operation));
  n->address = g_strdup(m->notification_address ? m->notification_address : "");
  n->iccid = g_strdup(m->iccid ? m->iccid : "");
  return n;
}

static void list_step(GTask *task)
{
  ListContext *ctx = euicc_op_begin_step(task);

  if (!ctx)
    return;

  switch ((ListStep)ctx->base.step) {
  case LIST_STEP_FIRST:
    ctx->base.doing = card_read_doing(CARD_READ_NOTIFICATIONS);
    ctx->base.step++;
    /* fall through */
  case LIST_STEP_SEND:
    card_read_send(task, CARD_READ_NOTIFICATIONS);
    return;
  case LIST_STEP_RESULT: {
    g_autoptr(GPtrArray) list = card_read_notifications(task);

    if (!list)
      return;
    ctx->results = g_ptr_array_new_with_free_func((GDestroyNotify)euicc_notification_free);
    for (guint i = 0; i < list->len; i++)
      g_ptr_array_add(ctx->results, notification_from_metadata(g_ptr_array_index(list, i)));
    ctx->base.step++;
  }
    /* fall through */
  case LIST_STEP_LAST:
    euicc_op_complete_pointer(task, g_steal_pointer(&ctx->results),
                              (GDestroyNotify)g_ptr_array_unref);
    return;
  }
  g_assert_not_reached();
}

void euicc_list_notifications(Euicc *euicc, GCancellable *cancellable, GAsyncReadyCallback cb,
                              gpointer user_data)
{
  euicc_op_queue(euicc_op_new(euicc, &list_class, cancellable, cb, user_data));
}

GPtrArray *euicc_list_notifications_finish(Euicc *euicc, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- remove ---- */

typedef enum {
  REMOVE_STEP_FIRST,
  REMOVE_STEP_SEND,
  REMOVE_STEP_RESULT,
  REMOVE_STEP_COUNT,
  REMOVE_STEP_COUNT_DONE,
  REMOVE_STEP_LAST,
} RemoveStep;

typedef struct {
  EuiccOp base;
  guint seq;
} RemoveContext;

static void remove_step(GTask *task);

static const EuiccOpClass remove_class = {
    .name = "remove-notification",
    .step = remove_step,
    .size = sizeof(RemoveContext),
    .cleanup_step = REMOVE_STEP_LAST,
    .last_step = REMOVE_STEP_LAST,
};

static void remove_step(GTask *task)
{
  RemoveContext *ctx = euicc_op_begin_step(task);
  Euicc *euicc;
  GError *error = NULL;
  gsize len;
  const guint8 *buf;

  if (!ctx)
    return;
  euicc = ctx->base.euicc;
  buf = euicc_op_response(&ctx->base, &len);

  switch ((RemoveStep)ctx->base.step) {
  case REMOVE_STEP_FIRST:
    ctx->base.doing = "removing a notification";
    ctx->base.step++;
    /* fall through */
  case REMOVE_STEP_SEND:
    euicc_op_call(task, es10b_remove_notification_from_list_encode(ctx->seq));
    return;
  case REMOVE_STEP_RESULT: {
    Es10bRemoveNotificationResult result;

    if (!euicc_op_check_call(task))
      return;
    if (!es10b_remove_notification_from_list_decode(buf, len, &result, &error)) {
      euicc_op_fail(task, error);
      return;
    }
    if (result != ES10B_REMOVE_NOTIFICATION_OK) {
      g_autofree gchar *seq = g_strdup_printf("%u", ctx->seq);

      euicc_op_fail_result(task, ES10_CMD_REMOVE_NOTIFICATION_FROM_LIST, (gint)result, seq);
      return;
    }
    ctx->base.step++;
  }
    /* fall through */
  case REMOVE_STEP_COUNT:
    card_read_send(task, CARD_READ_NOTIFICATIONS);
    return;
  case REMOVE_STEP_COUNT_DONE: {
    Es10bListNotificationResult result;
    g_autoptr(GPtrArray) list = NULL;

    guint pending = euicc_get_pending_notifications(euicc);

    if (!ctx->base.call_error && es10b_list_notification_decode(buf, len, &result, &list, NULL) &&
        result == ES10B_LIST_NOTIFICATION_OK)
      euicc_set_pending_notifications(euicc, list->len);
    else if (pending > 0)
      euicc_set_pending_notifications(euicc, pending - 1);
    ctx->base.step++;
  }
    /* fall through */
  case REMOVE_STEP_LAST:
    euicc_op_complete(task);
    return;
  }
  g_assert_not_reached();
}

void euicc_remove_notification(Euicc *euicc, guint seq, GCancellable *cancellable,
                               GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = euicc_op_new(euicc, &remove_class, cancellable, cb, user_data);
  RemoveContext *ctx = g_task_get_task_data(task);

  ctx->seq = seq;
  euicc_op_queue(task);
}

/* ---- retrieve: the PendingNotifications, as the card signed them ---- */

typedef enum {
  RETRIEVE_STEP_FIRST,
  RETRIEVE_STEP_SEND,
  RETRIEVE_STEP_RESULT,
  RETRIEVE_STEP_LAST,
} RetrieveStep;

typedef struct {
  EuiccOp base;
  gboolean one; /* only the notification seq (a seqNumber search) */
  guint seq;
  GPtrArray *items; /* Es10PendingNotification* */
} RetrieveContext;

static void retrieve_step(GTask *task);

static void retrieve_clear(gpointer data)
{
  RetrieveContext *ctx = data;

  g_clear_pointer(&ctx->items, g_ptr_array_unref);
}

static const EuiccOpClass retrieve_class = {
    .name = "retrieve-notifications",
    .step = retrieve_step,
    .size = sizeof(RetrieveContext),
    .clear = retrieve_clear,
    .cleanup_step = RETRIEVE_STEP_LAST,
    .last_step = RETRIEVE_STEP_LAST,
};

static void retrieve_step(GTask *task)
{
  RetrieveContext *ctx = euicc_op_begin_step(task);
  GError *error = NULL;

  if (!ctx)
    return;

  switch ((RetrieveStep)ctx->base.step) {
  case RETRIEVE_STEP_FIRST:
    ctx->base.doing = "reading the pending notifications";
    ctx->base.step++;
    /* fall through */
  case RETRIEVE_STEP_SEND:
    /* One asked for: only that one crosses the modem (SGP.22 5.7.10
     * searchCriteria seqNumber), not every notification the card holds. */
    euicc_op_call(task, ctx->one
                            ? es10b_retrieve_notifications_list_encode(ES10B_SEARCH_SEQ_NUMBER,
                                                                       ctx->seq, NULL)
                            : es10b_retrieve_notifications_list_encode(ES10B_SEARCH_ALL, 0, NULL));
    return;
  case RETRIEVE_STEP_RESULT: {
    Es10bRetrieveNotificationsResult result;
    gsize len;
    const guint8 *buf;

    if (!euicc_op_check_call(task))
      return;
    buf = euicc_op_response(&ctx->base, &len);
    if (!es10b_retrieve_notifications_list_decode(buf, len, &result, &ctx->items, &error)) {
      euicc_op_fail(task, error);
      return;
    }
    if (result != ES10B_RETRIEVE_NOTIFICATIONS_OK &&
        result != ES10B_RETRIEVE_NOTIFICATIONS_NO_RESULT_AVAILABLE) {
      euicc_op_fail_result(task, ES10_CMD_RETRIEVE_NOTIFICATIONS_LIST, (gint)result, NULL);
      return;
    }
    ctx->base.step++;
  }
    /* fall through */
  case RETRIEVE_STEP_LAST:
    euicc_op_complete_pointer(task, g_steal_pointer(&ctx->items),
                              (GDestroyNotify)g_ptr_array_unref);
    return;
  }
  g_assert_not_reached();
}

/* ---- send ---- */

/*
 * Not one queued operation but three kinds of them around the network: the
 * card is asked for the notifications, the SM-DP+s are told while other
 * operations may use the card, and each confirmed notification is removed
 * by its own queued operation.
 */
typedef enum {
  SEND_STEP_FIRST,
  SEND_STEP_RETRIEVE,
  SEND_STEP_RETRIEVE_DONE,
  SEND_STEP_DELIVER,
  SEND_STEP_DELIVER_DONE,
  SEND_STEP_REMOVE_DONE,
  SEND_STEP_LAST,
} SendStep;

typedef struct {
  Euicc *euicc;
  SendStep step;
  GArray *seqs;       /* guint; empty: all */
  GPtrArray *pending; /* Es10PendingNotification* to deliver */
  guint index;
  GPtrArray *results; /* EuiccDeliveryResult* */
  Es9pClient *client;
  GError *error;        /* of the last step */
  gboolean unreachable; /* some SM-DP+ could not be reached */
  guint n_tried;        /* notifications offered to their SM-DP+ */
  guint n_unreachable;  /* ... of which the SM-DP+ could not be reached */
  guint n_rejected;     /* ... of which the SM-DP+ refused */
  GPtrArray *failures;  /* distinct ES9+ error messages, in order */
} SendContext;

static const char tag_send;

static void send_context_free(SendContext *ctx)
{
  g_clear_pointer(&ctx->seqs, g_array_unref);
  g_clear_pointer(&ctx->pending, g_ptr_array_unref);
  g_clear_pointer(&ctx->results, g_ptr_array_unref);
  g_clear_pointer(&ctx->client, es9p_client_free);
  g_clear_pointer(&ctx->failures, g_ptr_array_unref);
  g_clear_error(&ctx->error);
  euicc_unref(ctx->euicc);
  g_free(ctx);
}

static void send_step(GTask *task);

static void add_result(SendContext *ctx, guint seq, gboolean delivered, gchar *message)
{
  EuiccDeliveryResult *r = g_new0(EuiccDeliveryResult, 1);

  r->seq = seq;
  r->delivered = delivered;
  r->message = message;
  g_ptr_array_add(ctx->results, r);
}

static void send_next_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  SendContext *ctx = g_task_get_task_data(task);

  switch (ctx->step) {
  case SEND_STEP_RETRIEVE:
    ctx->pending = g_task_propagate_pointer(G_TASK(res), &ctx->error);
    break;
  case SEND_STEP_DELIVER:
    es9p_handle_notification_finish(ctx->client, res, &ctx->error);
    break;
  case SEND_STEP_DELIVER_DONE:
    euicc_operation_finish(ctx->euicc, res, &ctx->error);
    break;
  default:
    g_assert_not_reached();
  }
  ctx->step++;
  send_step(task);
}

static void note_failure(SendContext *ctx, const GError *error)
{
  ctx->n_tried++;
  if (g_error_matches(error, ES9P_ERROR, ES9P_ERROR_UNREACHABLE))
    ctx->n_unreachable++;
  else if (g_error_matches(error, ES9P_ERROR, ES9P_ERROR_REJECTED))
    ctx->n_rejected++;
  if (!g_ptr_array_find_with_equal_func(ctx->failures, error->message, g_str_equal, NULL))
    g_ptr_array_add(ctx->failures, g_strdup(error->message));
}

/*
 * The call as a whole fails only when it delivered nothing and there is one
 * thing to tell the caller: every notification asked for was on the card,
 * was offered, and every SM-DP+ either could not be reached or refused.
 * Anything mixed (some delivered, a sequence number the card does not hold,
 * unreachable and refused together) is answered per notification. Either
 * way a notification leaves the card only once its SM-DP+ confirmed it.
 */
static GError *send_whole_failure(SendContext *ctx)
{
  g_autofree char *why = NULL;
  EsimdError code;
  const char *what;

  if (ctx->n_tried == 0 || ctx->results->len != ctx->n_tried)
    return NULL;
  if (ctx->n_unreachable == ctx->n_tried) {
    code = ESIMD_ERROR_SMDP_UNREACHABLE;
    what = "could not reach the SM-DP+";
  } else if (ctx->n_rejected == ctx->n_tried) {
    code = ESIMD_ERROR_SMDP_REJECTED;
    what = "the SM-DP+ refused";
  } else {
    return NULL;
  }
  g_ptr_array_add(ctx->failures, NULL);
  why = g_strjoinv("; ", (char **)ctx->failures->pdata);
  g_ptr_array_set_size(ctx->failures, ctx->failures->len - 1);
  return g_error_new(ESIMD_ERROR, code,
                     "No notification delivered (%s; %u kept on the card for a later try): %s",
                     what, ctx->n_tried, why);
}

static gboolean wanted(SendContext *ctx, guint seq)
{
  if (ctx->seqs->len == 0)
    return TRUE;
  for (guint i = 0; i < ctx->seqs->len; i++)
    if (g_array_index(ctx->seqs, guint, i) == seq)
      return TRUE;
  return FALSE;
}

static void send_step(GTask *task)
{
  SendContext *ctx = g_task_get_task_data(task);
  Euicc *euicc = ctx->euicc;
  GCancellable *cancellable = g_task_get_cancellable(task);

  switch (ctx->step) {
  case SEND_STEP_FIRST:
    ctx->step++;
    /* fall through */
  case SEND_STEP_RETRIEVE: {
    GTask *retrieve = euicc_op_new(euicc, &retrieve_class, cancellable, send_next_ready, task);
    RetrieveContext *rctx = g_task_get_task_data(retrieve);

    if (ctx->seqs->len == 1) {
      rctx->one = TRUE;
      rctx->seq = g_array_index(ctx->seqs, guint, 0);
    }
    euicc_op_queue(retrieve);
  }
    return;
  case SEND_STEP_RETRIEVE_DONE: {
    g_autoptr(GPtrArray) all = g_steal_pointer(&ctx->pending);

    if (ctx->error) {
      g_task_return_error(task, g_steal_pointer(&ctx->error));
      g_object_unref(task);
      return;
    }
    ctx->pending = g_ptr_array_new_with_free_func((GDestroyNotify)es10_pending_notification_free);
    for (guint i = 0; i < all->len; i++) {
      Es10PendingNotification *n = g_ptr_array_index(all, i);

      if (wanted(ctx, n->metadata.seq_number))
        g_ptr_array_add(ctx->pending, g_steal_pointer(&all->pdata[i]));
    }
    for (guint i = 0; i < ctx->seqs->len; i++) {
      guint seq = g_array_index(ctx->seqs, guint, i);
      gboolean found = FALSE;

      for (guint j = 0; j < ctx->pending->len; j++)
        if (((Es10PendingNotification *)g_ptr_array_index(ctx->pending, j))->metadata.seq_number ==
            seq)
          found = TRUE;
      if (!found)
        add_result(ctx, seq, FALSE, g_strdup_printf("The card has no notification %u", seq));
    }
    ctx->step++;
  }
    /* fall through */
  case SEND_STEP_DELIVER:
    for (; ctx->index < ctx->pending->len; ctx->index++) {
      Es10PendingNotification *n = g_ptr_array_index(ctx->pending, ctx->index);

      if (!ctx->client) {
        const EuiccSettings *settings = euicc_get_settings(euicc);
        Es9pConfig config = {
            .ca_file = settings->smdp_ca_file,
            .ca_dir = settings->smdp_ca_dir,
            .host_override = settings->smdp_host_override,
        };
        GError *error = NULL;

        ctx->client = es9p_client_new(&config, &error);
        if (!ctx->client) {
          g_task_return_new_error(task, ESIMD_ERROR, ESIMD_ERROR_FAILED,
                                  "Cannot deliver notifications: %s", error->message);
          g_error_free(error);
          g_object_unref(task);
          return;
        }
      }
      g_info("%s: delivering notification %u (%s) to %s", euicc_get_label(euicc),
             n->metadata.seq_number, es10_notification_event_to_string(n->metadata.operation),
             n->metadata.notification_address);
      es9p_handle_notification(ctx->client, n->metadata.notification_address, n->der, cancellable,
                               send_next_ready, task);
      return;
    }
    ctx->step = SEND_STEP_LAST;
    send_step(task);
    return;
  case SEND_STEP_DELIVER_DONE: {
    Es10PendingNotification *n = g_ptr_array_index(ctx->pending, ctx->index);

    if (ctx->error) {
      g_info("%s: notification %u: %s", euicc_get_label(euicc), n->metadata.seq_number,
             ctx->error->message);
      if (!g_error_matches(ctx->error, ES9P_ERROR, ES9P_ERROR_REJECTED))
        ctx->unreachable = TRUE;
      note_failure(ctx, ctx->error);
      /* It stays on the card for the next attempt (SGP.22 3.5). */
      add_result(ctx, n->metadata.seq_number, FALSE, g_strdup(ctx->error->message));
      g_clear_error(&ctx->error);
      ctx->index++;
      ctx->step = SEND_STEP_DELIVER;
      send_step(task);
      return;
    }
    /* Confirmed: only now may the card forget it. */
    ctx->n_tried++;
    euicc_remove_notification(euicc, n->metadata.seq_number, cancellable, send_next_ready, task);
    return;
  }
  case SEND_STEP_REMOVE_DONE: {
    Es10PendingNotification *n = g_ptr_array_index(ctx->pending, ctx->index);
    const Es10NotificationMetadata *m = &n->metadata;

    if (ctx->error) {
      add_result(ctx, m->seq_number, TRUE,
                 g_strdup_printf("Delivered, but the card kept it: %s", ctx->error->message));
      g_clear_error(&ctx->error);
    } else {
      add_result(ctx, m->seq_number, TRUE, g_strdup("Delivered"));
    }
    euicc_emit_notification_delivered(euicc, m);
    ctx->index++;
    ctx->step = SEND_STEP_DELIVER;
    send_step(task);
    return;
  }
  case SEND_STEP_LAST: {
    GError *whole = send_whole_failure(ctx);

    euicc_get_notifier(euicc)->unreachable = ctx->unreachable;
    if (whole) {
      g_task_return_error(task, whole);
      g_object_unref(task);
      return;
    }
    g_task_return_pointer(task, g_steal_pointer(&ctx->results), (GDestroyNotify)g_ptr_array_unref);
    g_object_unref(task);
    return;
  }
  }
  g_assert_not_reached();
}

void euicc_send_notifications(Euicc *euicc, const guint *seqs, gsize n_seqs,
                              GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);
  SendContext *ctx = g_new0(SendContext, 1);

  g_task_set_source_tag(task, (gpointer)&tag_send);
  g_task_set_check_cancellable(task, FALSE);
  ctx->euicc = euicc_ref(euicc);
  ctx->seqs = g_array_new(FALSE, FALSE, sizeof(guint));
  if (n_seqs)
    g_array_append_vals(ctx->seqs, seqs, (guint)n_seqs);
  ctx->results = g_ptr_array_new_with_free_func((GDestroyNotify)euicc_delivery_result_free);
  ctx->failures = g_ptr_array_new_with_free_func(g_free);
  g_task_set_task_data(task, ctx, (GDestroyNotify)send_context_free);
  send_step(task);
}

GPtrArray *euicc_send_notifications_finish(Euicc *euicc, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)&tag_send), NULL);
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- automatic delivery, with backoff ---- */

/* Retry after a network failure: 30 s unless configured, doubling, at most
 * an hour (or the first delay, if that is longer). */
#define BACKOFF_FIRST_S 30
#define BACKOFF_MAX_S 3600

static guint backoff_next_s(Notifier *notifier, guint current_s)
{
  const EuiccSettings *settings = euicc_get_settings(notifier->euicc);
  guint first = settings->notify_retry_first_s ? settings->notify_retry_first_s : BACKOFF_FIRST_S;
  guint max = MAX(first, BACKOFF_MAX_S);

  if (current_s == 0)
    return first;
  return current_s >= max / 2 ? max : current_s * 2;
}

Notifier *notifier_new(Euicc *euicc)
{
  Notifier *notifier = g_new0(Notifier, 1);

  notifier->euicc = euicc;
  return notifier;
}

static void stop_timer(Notifier *notifier)
{
  if (notifier->timer) {
    g_source_destroy(notifier->timer);
    g_clear_pointer(&notifier->timer, g_source_unref);
  }
}

void notifier_stop(Notifier *notifier)
{
  stop_timer(notifier);
  if (notifier->cancellable) {
    g_cancellable_cancel(notifier->cancellable);
    g_clear_object(&notifier->cancellable);
  }
}

void notifier_free(Notifier *notifier)
{
  if (!notifier)
    return;
  notifier_stop(notifier);
  g_free(notifier);
}

static gboolean auto_send_timer(gpointer user_data)
{
  Notifier *notifier = user_data;

  g_clear_pointer(&notifier->timer, g_source_unref);
  notifier_schedule(notifier);
  return G_SOURCE_REMOVE;
}

static void auto_send_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(Euicc) euicc = user_data;
  Notifier *notifier = euicc_get_notifier(euicc);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) results = euicc_send_notifications_finish(euicc, res, &error);

  notifier->queued = FALSE;
  if (euicc_is_closed(euicc))
    return;
  /* A refusal is the SM-DP+'s answer: trying again changes nothing (the
   * notifications stay listed for the user). Only a failure to reach it,
   * or to read the card, is worth a later try. */
  if (notifier->unreachable ||
      (!results && !g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_SMDP_REJECTED))) {
    notifier->backoff_s = backoff_next_s(notifier, notifier->backoff_s);
    g_info("%s: notifications not all delivered%s%s; trying again in %u s", euicc_get_label(euicc),
           error ? ": " : "", error ? error->message : "", notifier->backoff_s);
    stop_timer(notifier);
    notifier->timer = g_timeout_source_new_seconds(notifier->backoff_s);
    g_source_set_callback(notifier->timer, auto_send_timer, notifier, NULL);
    g_source_attach(notifier->timer, g_main_context_get_thread_default());
  } else {
    notifier->backoff_s = 0;
    g_info("%s: automatic delivery ended; no retry is due", euicc_get_label(euicc));
  }
}

void notifier_schedule(Notifier *notifier)
{
  Euicc *euicc = notifier->euicc;

  if (euicc_is_closed(euicc) || notifier->queued || euicc_get_pending_notifications(euicc) == 0)
    return;
  if (!euicc_get_settings(euicc)->auto_send_notifications) {
    g_info("%s: %u notifications wait on the card (automatic delivery is off)",
           euicc_get_label(euicc), euicc_get_pending_notifications(euicc));
    return;
  }
  stop_timer(notifier);
  notifier->queued = TRUE;
  g_clear_object(&notifier->cancellable);
  notifier->cancellable = g_cancellable_new();
  euicc_send_notifications(euicc, NULL, 0, notifier->cancellable, auto_send_ready,
                           euicc_ref(euicc));
}
