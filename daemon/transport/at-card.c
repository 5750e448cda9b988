/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The AT backend's card side (3GPP TS 27.007): slots, logical channels with
 * +CCHO/+CGLA/+CCHC or, where the modem lacks them, MANAGE CHANNEL through
 * +CSIM, and APDUs on them.
 */
#include "transport/at-private.h"

/* ---- list_slots ---- */

typedef enum {
  SLOTS_STEP_CPIN,
  SLOTS_STEP_CCID,
  SLOTS_STEP_LAST,
} SlotsStep;

typedef struct {
  AtTransport *self;
  SlotsStep step;
  gboolean present;
} SlotsContext;

static void slots_step(GTask *task);

static void slots_command_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  SlotsContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(AtResponse) r = at_command_finish(res, &error);

  if (!r) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  if (ctx->step == SLOTS_STEP_CPIN) {
    /*
     * +CPIN: READY, SIM PIN, ... all say a card answers. "SIM not inserted"
     * (+CME ERROR 10, or "+CPIN: NOT INSERTED" on a few modems) is what a
     * modem also says of an eUICC whose profiles are all disabled: it has
     * no USIM to run, yet its ISD-R answers. So the card counts as there,
     * and opening the ISD-R decides (an empty slot refuses the channel).
     * Another error asks +CCID.
     */
    if (r->final == AT_FINAL_OK && r->lines->len > 0) {
      ctx->present = TRUE;
      ctx->step = SLOTS_STEP_LAST;
    } else if (r->final == AT_FINAL_CME_ERROR &&
               (r->code == 10 || g_ascii_strcasecmp(r->text, "SIM not inserted") == 0)) {
      ctx->present = TRUE;
      ctx->step = SLOTS_STEP_LAST;
    } else {
      ctx->step = SLOTS_STEP_CCID;
    }
  } else {
    ctx->present = r->final == AT_FINAL_OK;
    ctx->step = SLOTS_STEP_LAST;
  }
  slots_step(g_steal_pointer(&task));
}

static void slots_step(GTask *task)
{
  SlotsContext *ctx = g_task_get_task_data(task);
  AtTransport *self = ctx->self;

  switch (ctx->step) {
  case SLOTS_STEP_CPIN:
    at_command(self, "AT+CPIN?", "+CPIN:", AT_COMMAND_FLAGS_NONE, g_task_get_cancellable(task),
               slots_command_ready, task);
    return;
  case SLOTS_STEP_CCID:
    at_command(self, "AT+CCID", "+CCID:", AT_COMMAND_FLAGS_NONE, g_task_get_cancellable(task),
               slots_command_ready, task);
    return;
  case SLOTS_STEP_LAST: {
    GPtrArray *slots = g_ptr_array_new_with_free_func((GDestroyNotify)transport_slot_free);
    TransportSlot *slot = g_new0(TransportSlot, 1);

    /* 27.007 knows one SIM: the one the modem uses now. */
    slot->slot = 1;
    slot->card_present = ctx->present;
    slot->is_euicc = TRANSPORT_TRISTATE_UNKNOWN;
    slot->active = TRUE;
    g_ptr_array_add(slots, slot);
    g_task_return_pointer(task, slots, (GDestroyNotify)g_ptr_array_unref);
    g_object_unref(task);
    return;
  }
  }
}

void at_list_slots(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  SlotsContext *ctx = g_new0(SlotsContext, 1);

  g_task_set_source_tag(task, (gpointer)&at_tag_list_slots);
  ctx->self = (AtTransport *)t;
  g_task_set_task_data(task, ctx, g_free);
  slots_step(task);
}

GPtrArray *at_list_slots_finish(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- open_channel ---- */

typedef enum {
  CHANNEL_STEP_FIRST,
  CHANNEL_STEP_CCHO,
  CHANNEL_STEP_CSIM_OPEN,
  CHANNEL_STEP_CSIM_SELECT,
  CHANNEL_STEP_CSIM_CLOSE,
  CHANNEL_STEP_LAST,
} ChannelStep;

typedef struct {
  AtTransport *self;
  ChannelStep step;
  GBytes *aid;
  guint channel;
  gboolean ccho_tried;
  gboolean ccho_unsupported; /* +CCHO answered ERROR or +CME ERROR 4 */
  gchar *ccho_error;         /* what +CCHO answered, for the message */
  GError *error;             /* returned once the failed channel is closed */
} ChannelContext;

static void channel_context_free(ChannelContext *ctx)
{
  g_bytes_unref(ctx->aid);
  g_free(ctx->ccho_error);
  g_clear_error(&ctx->error);
  g_free(ctx);
}

static gboolean at_slot_is_valid(guint slot, GTask *task)
{
  if (slot == 1)
    return TRUE;
  g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                          "An AT modem has one SIM slot; slot %u does not exist", slot);
  return FALSE;
}

/* A channel number for the caller: the card's own when the modem's session
 * id is one, else a free number mapped to the session. */
static guint at_channel_take(AtTransport *self, AtChannelMode mode, guint session)
{
  guint n = 0;

  if (session >= 1 && session <= ISO7816_MAX_CHANNEL &&
      self->channels[session].mode == AT_CHANNEL_CLOSED)
    n = session;
  for (guint i = 1; !n && i <= ISO7816_MAX_CHANNEL; i++)
    if (self->channels[i].mode == AT_CHANNEL_CLOSED)
      n = i;
  if (n) {
    self->channels[n].mode = mode;
    self->channels[n].session = session;
  }
  return n;
}

/* +CCHO failed and +CSIM cannot say more: what the +CCHO answer means. */
static GError *at_ccho_error(ChannelContext *ctx)
{
  if (ctx->ccho_unsupported && ctx->self->ccho != AT_SUPPORT_YES)
    return g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                       "The modem on %s offers neither +CCHO nor +CSIM (%s)",
                       ctx->self->parent.port, ctx->ccho_error);
  return g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_AID_NOT_FOUND,
                     "The card refused to select the application (+CCHO: %s)", ctx->ccho_error);
}

static void channel_step(GTask *task);

static void channel_return_error(GTask *task, GError *error)
{
  g_task_return_error(task, error);
  g_object_unref(task);
}

static void channel_command_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  ChannelContext *ctx = g_task_get_task_data(task);
  AtTransport *self = ctx->self;
  GError *error = NULL;
  g_autoptr(AtResponse) r = at_command_finish(res, &error);
  g_autoptr(GBytes) rsp = NULL;
  guint16 sw;

  if (!r) {
    channel_return_error(task, error);
    return;
  }

  switch (ctx->step) {
  case CHANNEL_STEP_CCHO:
    ctx->ccho_tried = TRUE;
    if (r->final == AT_FINAL_OK) {
      const char *line = r->lines->len == 1 ? g_ptr_array_index(r->lines, 0) : "";
      guint64 session;

      if (g_ascii_strncasecmp(line, "+CCHO:", 6) == 0)
        line += 6;
      while (*line == ' ')
        line++;
      if (!g_ascii_string_to_unsigned(line, 10, 1, G_MAXUINT, &session, NULL)) {
        channel_return_error(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                                               "The modem answered +CCHO without a session id"));
        return;
      }
      self->ccho = AT_SUPPORT_YES;
      ctx->channel = at_channel_take(self, AT_CHANNEL_CCHO, (guint)session);
      if (!ctx->channel) {
        channel_return_error(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_CHANNEL_REFUSED,
                                               "No free logical channel"));
        return;
      }
      ctx->step = CHANNEL_STEP_LAST;
      break;
    }
    /* The modem lacks +CCHO, or the card refused the AID or had no channel
     * left: +CSIM (if the modem has it) tells which from the card's own
     * status words. */
    ctx->ccho_unsupported = at_response_is_unsupported(r);
    ctx->ccho_error = at_response_describe(r);
    if (self->csim == AT_SUPPORT_NO) {
      channel_return_error(task, at_ccho_error(ctx));
      return;
    }
    ctx->step = CHANNEL_STEP_CSIM_OPEN;
    break;

  case CHANNEL_STEP_CSIM_OPEN:
    if (r->final != AT_FINAL_OK) {
      g_autofree gchar *what = at_response_describe(r);

      self->csim = AT_SUPPORT_NO;
      if (ctx->ccho_tried)
        channel_return_error(task, at_ccho_error(ctx));
      else
        channel_return_error(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                                               "The modem on %s refuses +CSIM (%s)",
                                               self->parent.port, what));
      return;
    }
    if (!(rsp = at_parse_apdu_reply(r, "+CSIM:", &error))) {
      channel_return_error(task, error);
      return;
    }
    self->csim = AT_SUPPORT_YES;
    sw = at_sw(rsp);
    if (sw != 0x9000 || g_bytes_get_size(rsp) != 3) {
      channel_return_error(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_CHANNEL_REFUSED,
                                             "The card opens no logical channel: %04X (%s)", sw,
                                             iso7816_sw_to_string(sw)));
      return;
    }
    ctx->channel = ((const guint8 *)g_bytes_get_data(rsp, NULL))[0];
    if (ctx->channel < 1 || ctx->channel > ISO7816_MAX_CHANNEL ||
        self->channels[ctx->channel].mode != AT_CHANNEL_CLOSED) {
      channel_return_error(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                                             "The card opened channel %u, which cannot be",
                                             ctx->channel));
      return;
    }
    self->channels[ctx->channel].mode = AT_CHANNEL_CSIM;
    ctx->step = CHANNEL_STEP_CSIM_SELECT;
    break;

  case CHANNEL_STEP_CSIM_SELECT:
    if (r->final != AT_FINAL_OK) {
      g_autofree gchar *what = at_response_describe(r);

      ctx->error = g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                               "The modem refused SELECT through +CSIM (%s)", what);
      ctx->step = CHANNEL_STEP_CSIM_CLOSE;
      break;
    }
    if (!(rsp = at_parse_apdu_reply(r, "+CSIM:", &ctx->error))) {
      ctx->step = CHANNEL_STEP_CSIM_CLOSE;
      break;
    }
    sw = at_sw(rsp);
    /* 61xx: selected, with an FCI waiting that nobody needs (T=0). */
    if (iso7816_sw_is_success(sw) || (sw >> 8) == 0x61) {
      if (ctx->ccho_tried && self->ccho == AT_SUPPORT_UNKNOWN) {
        g_info("AT %s: no usable +CCHO (%s); using +CSIM", self->parent.port, ctx->ccho_error);
        self->ccho = AT_SUPPORT_NO;
      }
      ctx->step = CHANNEL_STEP_LAST;
      break;
    }
    ctx->error = g_error_new(
        TRANSPORT_ERROR, sw == 0x6A82 ? TRANSPORT_ERROR_AID_NOT_FOUND : TRANSPORT_ERROR_FAILED,
        "The card refused to select the application: %04X (%s)", sw, iso7816_sw_to_string(sw));
    ctx->step = CHANNEL_STEP_CSIM_CLOSE;
    break;

  case CHANNEL_STEP_CSIM_CLOSE:
    /* Whatever it answered, the channel is of no use to anyone. */
    self->channels[ctx->channel].mode = AT_CHANNEL_CLOSED;
    channel_return_error(task, g_steal_pointer(&ctx->error));
    return;

  default:
    g_assert_not_reached();
  }
  channel_step(task);
}

static void channel_step(GTask *task)
{
  ChannelContext *ctx = g_task_get_task_data(task);
  AtTransport *self = ctx->self;
  GCancellable *cancellable = g_task_get_cancellable(task);

  switch (ctx->step) {
  case CHANNEL_STEP_FIRST:
    ctx->step++;
    /* fall through */
  case CHANNEL_STEP_CCHO:
    if (self->ccho != AT_SUPPORT_NO) {
      g_autofree gchar *hex = at_hex(g_bytes_get_data(ctx->aid, NULL), g_bytes_get_size(ctx->aid));
      g_autofree gchar *line = g_strdup_printf("AT+CCHO=\"%s\"", hex);

      at_command(self, line, "+CCHO:", AT_COMMAND_FLAGS_BARE_NUMBER, cancellable,
                 channel_command_ready, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case CHANNEL_STEP_CSIM_OPEN: {
    /* MANAGE CHANNEL open, the card picks the channel (ISO 7816-4 11.1.2). */
    const guint8 apdu[] = {0x00, 0x70, 0x00, 0x00, 0x01};
    g_autofree gchar *line = at_csim_line(apdu, sizeof apdu);

    at_command(self, line, "+CSIM:", AT_COMMAND_FLAGS_NONE, cancellable, channel_command_ready,
               task);
    return;
  }
  case CHANNEL_STEP_CSIM_SELECT: {
    guint8 cla = 0;
    GError *error = NULL;
    g_autoptr(GBytes) apdu = NULL;
    g_autofree gchar *line = NULL;

    /* SELECT by DF name on the new channel, first or only occurrence,
     * FCI returned (GlobalPlatform Card Specification 11.9.2). */
    if (!iso7816_cla_for_channel(ctx->channel, ISO7816_CLA_INTERINDUSTRY, &cla, &error) ||
        !(apdu = iso7816_apdu_build(cla, 0xA4, 0x04, 0x00, g_bytes_get_data(ctx->aid, NULL),
                                    g_bytes_get_size(ctx->aid), ISO7816_LE_MAX, &error))) {
      ctx->error = g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED, "%s", error->message);
      g_error_free(error);
      ctx->step = CHANNEL_STEP_CSIM_CLOSE;
      channel_step(task);
      return;
    }
    line = at_csim_line(g_bytes_get_data(apdu, NULL), g_bytes_get_size(apdu));
    at_command(self, line, "+CSIM:", AT_COMMAND_FLAGS_NONE, cancellable, channel_command_ready,
               task);
    return;
  }
  case CHANNEL_STEP_CSIM_CLOSE: {
    g_autofree gchar *line = at_csim_close_line(ctx->channel);

    at_command(self, line, "+CSIM:", AT_COMMAND_FLAGS_NONE, NULL, channel_command_ready, task);
    return;
  }
  case CHANNEL_STEP_LAST:
    g_debug("AT %s: channel %u open (%s)", self->parent.port, ctx->channel,
            self->channels[ctx->channel].mode == AT_CHANNEL_CCHO ? "+CCHO" : "+CSIM");
    g_task_return_int(task, ctx->channel);
    g_object_unref(task);
    return;
  }
}

void at_open_channel(Transport *t, guint slot, GBytes *aid, GCancellable *cancellable,
                     GAsyncReadyCallback cb, gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  ChannelContext *ctx;

  g_task_set_source_tag(task, (gpointer)&at_tag_open_channel);
  if (!at_slot_is_valid(slot, task)) {
    g_object_unref(task);
    return;
  }
  if (g_bytes_get_size(aid) < 5 || g_bytes_get_size(aid) > 16) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "An AID has 5 to 16 bytes, not %zu", g_bytes_get_size(aid));
    g_object_unref(task);
    return;
  }
  ctx = g_new0(ChannelContext, 1);
  ctx->self = (AtTransport *)t;
  ctx->aid = g_bytes_ref(aid);
  g_task_set_task_data(task, ctx, (GDestroyNotify)channel_context_free);
  channel_step(task);
}

guint at_open_channel_finish(Transport *t, GAsyncResult *res, GError **error)
{
  gssize n = g_task_propagate_int(G_TASK(res), error);

  return n > 0 ? (guint)n : 0;
}

/* ---- transmit ---- */

static void transmit_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  const char *prefix = g_task_get_task_data(task);
  GError *error = NULL;
  g_autoptr(AtResponse) r = at_command_finish(res, &error);
  GBytes *rsp;

  if (!r) {
    g_task_return_error(task, error);
    return;
  }
  if (r->final != AT_FINAL_OK) {
    g_autofree gchar *what = at_response_describe(r);

    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "The modem refused the APDU (%s)", what);
    return;
  }
  if (!(rsp = at_parse_apdu_reply(r, prefix, &error))) {
    g_task_return_error(task, error);
    return;
  }
  g_task_return_pointer(task, rsp, (GDestroyNotify)g_bytes_unref);
}

void at_transmit(Transport *t, guint slot, guint channel, GBytes *apdu, GCancellable *cancellable,
                 GAsyncReadyCallback cb, gpointer data)
{
  AtTransport *self = (AtTransport *)t;
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  gsize len = g_bytes_get_size(apdu);
  g_autofree gchar *hex = NULL;
  g_autofree gchar *line = NULL;

  g_task_set_source_tag(task, (gpointer)&at_tag_transmit);
  if (!at_slot_is_valid(slot, task)) {
    g_object_unref(task);
    return;
  }
  if (channel > ISO7816_MAX_CHANNEL || len < 4) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "Not an APDU for a channel 0..19");
    g_object_unref(task);
    return;
  }
  hex = at_hex(g_bytes_get_data(apdu, NULL), len);
  if (self->channels[channel].mode == AT_CHANNEL_CCHO) {
    g_task_set_task_data(task, (gpointer) "+CGLA:", NULL);
    line = g_strdup_printf("AT+CGLA=%u,%zu,\"%s\"", self->channels[channel].session, len * 2, hex);
  } else {
    /* The basic channel, a channel opened through +CSIM, or one the caller
     * opened with its own MANAGE CHANNEL: the CLA names it. */
    g_task_set_task_data(task, (gpointer) "+CSIM:", NULL);
    line = g_strdup_printf("AT+CSIM=%zu,\"%s\"", len * 2, hex);
  }
  at_command(self, line, g_task_get_task_data(task), AT_COMMAND_FLAGS_NONE, cancellable,
             transmit_ready, task);
}

GBytes *at_transmit_finish(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- close_channel ---- */

static void close_channel_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  g_autoptr(AtResponse) r = at_command_finish(res, &error);
  g_autoptr(GBytes) rsp = NULL;

  if (!r) {
    g_task_return_error(task, error);
    return;
  }
  if (r->final != AT_FINAL_OK) {
    g_autofree gchar *what = at_response_describe(r);

    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "The modem did not close the channel (%s)", what);
    return;
  }
  if (r->lines->len > 0) { /* +CSIM */
    guint16 sw;

    if (!(rsp = at_parse_apdu_reply(r, "+CSIM:", &error))) {
      g_task_return_error(task, error);
      return;
    }
    sw = at_sw(rsp);
    if (sw != 0x9000) {
      g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                              "The card did not close the channel: %04X (%s)", sw,
                              iso7816_sw_to_string(sw));
      return;
    }
  }
  g_task_return_boolean(task, TRUE);
}

void at_close_channel(Transport *t, guint slot, guint channel, GCancellable *cancellable,
                      GAsyncReadyCallback cb, gpointer data)
{
  AtTransport *self = (AtTransport *)t;
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  g_autofree gchar *line = NULL;
  const char *prefix = NULL;

  g_task_set_source_tag(task, (gpointer)&at_tag_close_channel);
  if (!at_slot_is_valid(slot, task)) {
    g_object_unref(task);
    return;
  }
  if (channel < 1 || channel > ISO7816_MAX_CHANNEL) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "There is no logical channel %u", channel);
    g_object_unref(task);
    return;
  }
  if (self->channels[channel].mode == AT_CHANNEL_CCHO) {
    line = g_strdup_printf("AT+CCHC=%u", self->channels[channel].session);
  } else {
    line = at_csim_close_line(channel);
    prefix = "+CSIM:";
  }
  /* Forgotten here whatever the modem says: a channel it failed to close
   * is not one we can use again. */
  self->channels[channel].mode = AT_CHANNEL_CLOSED;
  at_command(self, line, prefix, AT_COMMAND_FLAGS_NONE, cancellable, close_channel_ready, task);
}
