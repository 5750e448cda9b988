/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "service/card.h"

void card_channel_init(CardChannel *ch, Transport *t, guint slot, GBytes *aid, guint channel)
{
  ch->transport = t;
  ch->slot = slot;
  ch->aid = aid ? g_bytes_ref(aid) : NULL;
  ch->channel = channel;
  ch->stale = 0;
  ch->limits = (Iso7816Limits){0};
}

void card_channel_clear(CardChannel *ch)
{
  g_clear_pointer(&ch->aid, g_bytes_unref);
}

/* Source tags: data addresses, since ISO C does not let a function pointer
 * pass as gpointer. */
static const char tag_call;
static const char tag_reopen;
static const char tag_reopen_after_reset;
static const char tag_close;

typedef enum {
  STEP_FIRST,
  STEP_CLOSE_STALE,
  STEP_OPEN,
  STEP_SEND,
  STEP_LAST,
} CardStep;

typedef enum {
  MODE_CALL,
  MODE_REOPEN,
  MODE_REOPEN_AFTER_RESET,
  MODE_CLOSE,
} CardMode;

typedef struct {
  CardChannel *ch;
  CardMode mode;
  CardStep step;
  GBytes *request;
  GBytes *response;
  gboolean retried;
  guint forgotten; /* the channel a reset took, closed only if the card still has it */
} CardContext;

static void card_context_free(CardContext *ctx)
{
  g_clear_pointer(&ctx->request, g_bytes_unref);
  g_clear_pointer(&ctx->response, g_bytes_unref);
  g_free(ctx);
}

static void card_step(GTask *task);

/* Stops trusting the open channel: the next command opens a new one, and the
 * old number is closed first in case the card still has it. */
static void channel_mark_stale(CardChannel *ch)
{
  if (ch->channel && !ch->stale)
    ch->stale = ch->channel;
  ch->channel = 0;
}

/*
 * Status words with which a card says the channel the command came on is not
 * open (ISO 7816-4 5.1.3: 6881 logical channel not supported; 6E00 class not
 * supported, which some cards answer for a channel they closed in a reset).
 * The command was not executed, so sending it again on a fresh channel is
 * safe.
 */
static gboolean is_channel_lost(const GError *error)
{
  return g_error_matches(error, ISO7816_STATUS_ERROR, 0x6881) ||
         g_error_matches(error, ISO7816_STATUS_ERROR, 0x6E00);
}

/* A modem failure after which the channel may be gone on the card too. */
static gboolean is_transport_failure(const GError *error)
{
  return g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED) ||
         g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL) ||
         g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_CHANNEL_REFUSED) ||
         g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT) ||
         error->domain == ISO7816_ERROR;
}

static void close_stale_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  CardContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!transport_close_channel_finish(ctx->ch->transport, res, &error))
    g_debug("Closing stale channel %u on slot %u: %s", ctx->ch->stale, ctx->ch->slot,
            error->message);
  ctx->ch->stale = 0;
  ctx->step++;
  card_step(task);
}

static void open_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  CardContext *ctx = g_task_get_task_data(task);
  GError *error = NULL;
  guint channel = transport_open_channel_finish(ctx->ch->transport, res, &error);

  if (!channel) {
    /* No free channel: the card did not reset after all, and still has the
     * one forgotten. Closed, then opened again. */
    if (g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_CHANNEL_REFUSED) &&
        ctx->forgotten) {
      g_info("Slot %u kept channel %u through the switch; closing it", ctx->ch->slot,
             ctx->forgotten);
      g_error_free(error);
      ctx->ch->stale = ctx->forgotten;
      ctx->forgotten = 0;
      ctx->step = STEP_CLOSE_STALE;
      card_step(task);
      return;
    }
    g_task_return_error(task, error);
    g_object_unref(task);
    return;
  }
  g_debug("Opened channel %u to the ISD-R on slot %u", channel, ctx->ch->slot);
  ctx->ch->channel = channel;
  ctx->step++;
  card_step(task);
}

static void send_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  CardContext *ctx = g_task_get_task_data(task);
  GError *error = NULL;

  ctx->response = iso7816_store_data_finish(res, &error);
  if (!ctx->response) {
    if (is_channel_lost(error) && !ctx->retried) {
      g_info("Channel %u on slot %u was lost (%s); opening a new one", ctx->ch->channel,
             ctx->ch->slot, error->message);
      g_error_free(error);
      ctx->retried = TRUE;
      channel_mark_stale(ctx->ch);
      ctx->step = STEP_CLOSE_STALE;
      card_step(task);
      return;
    }
    if (is_channel_lost(error) || is_transport_failure(error))
      channel_mark_stale(ctx->ch);
    g_task_return_error(task, error);
    g_object_unref(task);
    return;
  }
  ctx->step++;
  card_step(task);
}

static void card_step(GTask *task)
{
  CardContext *ctx = g_task_get_task_data(task);
  CardChannel *ch = ctx->ch;
  GCancellable *cancellable = g_task_get_cancellable(task);

  switch (ctx->step) {
  case STEP_FIRST:
    if (ctx->mode == MODE_REOPEN_AFTER_RESET) {
      /* The card's reset closed every logical channel: nothing to close. */
      ctx->forgotten = ch->channel;
      ch->channel = 0;
    } else if (ctx->mode != MODE_CALL) {
      channel_mark_stale(ch);
    }
    ctx->step++;
    /* fall through */
  case STEP_CLOSE_STALE:
    if (ch->stale) {
      transport_close_channel(ch->transport, ch->slot, ch->stale, cancellable, close_stale_ready,
                              task);
      return;
    }
    ctx->step++;
    /* fall through */
  case STEP_OPEN:
    if (ctx->mode != MODE_CLOSE && !ch->channel) {
      if (!ch->aid) {
        /* Known from the modem's slot report only: single-SIM-stack
         * modems reach no card but the active slot's. */
        g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                                "Slot %u is not active; the modem reaches only the card in "
                                "its active slot",
                                ch->slot);
        g_object_unref(task);
        return;
      }
      transport_open_channel(ch->transport, ch->slot, ch->aid, cancellable, open_ready, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case STEP_SEND:
    if (ctx->mode == MODE_CALL) {
      iso7816_store_data_async(ch->transport, ch->slot, ch->channel, ctx->request, &ch->limits,
                               cancellable, send_ready, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case STEP_LAST:
    if (ctx->mode == MODE_CALL)
      g_task_return_pointer(task, g_steal_pointer(&ctx->response), (GDestroyNotify)g_bytes_unref);
    else
      g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
  g_assert_not_reached();
}

static void card_start(CardChannel *ch, CardMode mode, GBytes *request, gconstpointer tag,
                       GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);
  CardContext *ctx = g_new0(CardContext, 1);

  g_task_set_source_tag(task, (gpointer)tag);
  ctx->ch = ch;
  ctx->mode = mode;
  ctx->request = request ? g_bytes_ref(request) : NULL;
  g_task_set_task_data(task, ctx, (GDestroyNotify)card_context_free);
  card_step(task);
}

void card_call(CardChannel *ch, GBytes *request, GCancellable *cancellable, GAsyncReadyCallback cb,
               gpointer user_data)
{
  card_start(ch, MODE_CALL, request, &tag_call, cancellable, cb, user_data);
}

GBytes *card_call_finish(GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)&tag_call), NULL);
  return g_task_propagate_pointer(G_TASK(res), error);
}

void card_reopen(CardChannel *ch, GCancellable *cancellable, GAsyncReadyCallback cb,
                 gpointer user_data)
{
  card_start(ch, MODE_REOPEN, NULL, &tag_reopen, cancellable, cb, user_data);
}

gboolean card_reopen_finish(GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)&tag_reopen) ||
                           g_async_result_is_tagged(res, (gpointer)&tag_reopen_after_reset),
                       FALSE);
  return g_task_propagate_boolean(G_TASK(res), error);
}

void card_reopen_after_reset(CardChannel *ch, GCancellable *cancellable, GAsyncReadyCallback cb,
                             gpointer user_data)
{
  card_start(ch, MODE_REOPEN_AFTER_RESET, NULL, &tag_reopen_after_reset, cancellable, cb,
             user_data);
}

void card_close(CardChannel *ch, GCancellable *cancellable, GAsyncReadyCallback cb,
                gpointer user_data)
{
  card_start(ch, MODE_CLOSE, NULL, &tag_close, cancellable, cb, user_data);
}

gboolean card_close_finish(GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)&tag_close), FALSE);
  return g_task_propagate_boolean(G_TASK(res), error);
}
