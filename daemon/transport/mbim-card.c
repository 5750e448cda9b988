/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The MBIM backend's card side: the slots (MS Basic Connect Extensions),
 * logical channels and APDUs (MS UICC Low Level Access), slot switching and
 * SIM reset.
 */
#include "transport/mbim-private.h"

/* ---- list slots ---- */

typedef enum {
  SLOTS_STEP_FIRST,
  SLOTS_STEP_SYS_CAPS,
  SLOTS_STEP_MAPPINGS,
  SLOTS_STEP_SLOT_INFO,
  SLOTS_STEP_SINGLE,
  SLOTS_STEP_LAST,
} SlotsStep;

typedef struct {
  MbimTransport *mt;
  SlotsStep step;
  guint n_slots;
  guint index; /* 0-based, the slot being asked about */
  GPtrArray *slots;
} SlotsCtx;

static void slots_ctx_free(SlotsCtx *ctx)
{
  g_ptr_array_unref(ctx->slots);
  g_free(ctx);
}

static void slots_step(GTask *task);

static void slots_sys_caps_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  SlotsCtx *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  guint32 status;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish(res, &status, &error);
  guint32 n = 0;

  if (!rsp) {
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  if (status != 0) {
    /* No extensions after all: one slot. */
    ctx->mt->slot_ext = TRANSPORT_TRISTATE_NO;
    ctx->step = SLOTS_STEP_SINGLE;
    slots_step(task);
    return;
  }
  if (!mbim_message_ms_basic_connect_extensions_sys_caps_response_parse(rsp, NULL, &n, NULL, NULL,
                                                                        &error) ||
      n == 0 || n > 32) {
    mbimt_set_parse_error(&error, "sys caps", NULL);
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  ctx->n_slots = n;
  ctx->step++;
  slots_step(task);
}

static void slots_mappings_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  SlotsCtx *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish_ok(res, "Device slot mappings", &error);
  guint active = 0;

  if (!rsp || !mbimt_mappings_parse_active(rsp, &active, &error)) {
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  ctx->mt->slot_ext = TRANSPORT_TRISTATE_YES;
  ctx->mt->active_slot = active;
  ctx->step++;
  slots_step(task);
}

static void slot_from_state(TransportSlot *slot, MbimUiccSlotState state)
{
  switch (state) {
  case MBIM_UICC_SLOT_SATE_OFF_EMPTY:
  case MBIM_UICC_SLOT_STATE_EMPTY:
    slot->card_present = FALSE;
    slot->is_euicc = TRANSPORT_TRISTATE_NO;
    break;
  case MBIM_UICC_SLOT_STATE_ACTIVE_ESIM:
  case MBIM_UICC_SLOT_STATE_ACTIVE_ESIM_NO_PROFILES:
    slot->card_present = TRUE;
    slot->is_euicc = TRANSPORT_TRISTATE_YES;
    break;
  default:
    /* "Active" is what many modems say of an eUICC too: only the ISD-R
     * tells. Off, not ready, error, unknown: a card may be there. */
    slot->card_present = TRUE;
    slot->is_euicc = TRANSPORT_TRISTATE_UNKNOWN;
    break;
  }
}

static void slots_info_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  SlotsCtx *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish_ok(res, "Slot info status", &error);
  g_autoptr(GError) parse_error = NULL;
  guint32 index = 0;
  MbimUiccSlotState state = MBIM_UICC_SLOT_STATE_UNKNOWN;
  TransportSlot *slot;

  if (!rsp) {
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  if (!mbim_message_ms_basic_connect_extensions_slot_info_status_response_parse(rsp, &index, &state,
                                                                                &parse_error) ||
      index != ctx->index) {
    mbimt_set_parse_error(&error, "slot info status", parse_error);
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  slot = g_new0(TransportSlot, 1);
  slot->slot = ctx->index + 1;
  slot->active = slot->slot == ctx->mt->active_slot;
  slot_from_state(slot, state);
  g_ptr_array_add(ctx->slots, slot);

  if (++ctx->index < ctx->n_slots) {
    slots_step(task);
    return;
  }
  ctx->step = SLOTS_STEP_LAST;
  slots_step(task);
}

static void slots_single_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  SlotsCtx *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish_ok(res, "Subscriber ready status", &error);
  MbimSubscriberReadyState state = MBIM_SUBSCRIBER_READY_STATE_NOT_INITIALIZED;
  TransportSlot *slot;

  if (!rsp) {
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  mbim_message_subscriber_ready_status_response_parse(rsp, &state, NULL, NULL, NULL, NULL, NULL,
                                                      NULL);
  slot = g_new0(TransportSlot, 1);
  slot->slot = 1;
  slot->active = TRUE;
  slot->card_present = state != MBIM_SUBSCRIBER_READY_STATE_SIM_NOT_INSERTED;
  slot->is_euicc = state == MBIM_SUBSCRIBER_READY_STATE_NO_ESIM_PROFILE
                       ? TRANSPORT_TRISTATE_YES
                       : TRANSPORT_TRISTATE_UNKNOWN;
  if (!slot->card_present)
    slot->is_euicc = TRANSPORT_TRISTATE_NO;
  g_ptr_array_add(ctx->slots, slot);
  ctx->mt->active_slot = 1;
  ctx->step = SLOTS_STEP_LAST;
  slots_step(task);
}

static void slots_step(GTask *task)
{
  SlotsCtx *ctx = g_task_get_task_data(task);
  MbimTransport *mt = ctx->mt;
  GCancellable *cancellable = g_task_get_cancellable(task);
  g_autoptr(MbimMessage) msg = NULL;

  switch (ctx->step) {
  case SLOTS_STEP_FIRST:
    ctx->step = mt->slot_ext == TRANSPORT_TRISTATE_NO ? SLOTS_STEP_SINGLE : SLOTS_STEP_SYS_CAPS;
    slots_step(task);
    return;
  case SLOTS_STEP_SYS_CAPS:
    msg = mbim_message_ms_basic_connect_extensions_sys_caps_query_new(NULL);
    mbimt_request_send(mt, msg, cancellable, slots_sys_caps_done, task);
    return;
  case SLOTS_STEP_MAPPINGS:
    msg = mbim_message_ms_basic_connect_extensions_device_slot_mappings_query_new(NULL);
    mbimt_request_send(mt, msg, cancellable, slots_mappings_done, task);
    return;
  case SLOTS_STEP_SLOT_INFO:
    msg = mbim_message_ms_basic_connect_extensions_slot_info_status_query_new(ctx->index, NULL);
    mbimt_request_send(mt, msg, cancellable, slots_info_done, task);
    return;
  case SLOTS_STEP_SINGLE:
    msg = mbim_message_subscriber_ready_status_query_new(NULL);
    mbimt_request_send(mt, msg, cancellable, slots_single_done, task);
    return;
  case SLOTS_STEP_LAST:
    g_task_return_pointer(task, g_ptr_array_ref(ctx->slots), (GDestroyNotify)g_ptr_array_unref);
    g_object_unref(task);
    return;
  }
}

void mbimt_list_slots(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                      gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  SlotsCtx *ctx = g_new0(SlotsCtx, 1);

  ctx->mt = (MbimTransport *)t;
  ctx->slots = g_ptr_array_new_with_free_func((GDestroyNotify)transport_slot_free);
  g_task_set_task_data(task, ctx, (GDestroyNotify)slots_ctx_free);
  slots_step(task);
}

GPtrArray *mbimt_list_slots_finish(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- which slot is active ---- */

static void mappings_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  MbimTransport *mt = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish_ok(res, "Device slot mappings", &error);
  guint active = 0;

  if (!rsp || !mbimt_mappings_parse_active(rsp, &active, &error)) {
    g_task_return_error(task, g_steal_pointer(&error));
  } else {
    mt->active_slot = active;
    g_task_return_int(task, (gssize)mt->active_slot);
  }
  g_object_unref(task);
}

/*
 * The active slot as the modem sees it now: ModemManager or a user with
 * mbimcli may have switched behind our back. One slot without the
 * extensions.
 */
static void active_slot_query(MbimTransport *mt, GCancellable *cancellable, GAsyncReadyCallback cb,
                              gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  g_autoptr(MbimMessage) msg = NULL;

  g_task_set_task_data(task, mt, NULL);
  if (mt->slot_ext != TRANSPORT_TRISTATE_YES) {
    g_task_return_int(task, 1);
    g_object_unref(task);
    return;
  }
  msg = mbim_message_ms_basic_connect_extensions_device_slot_mappings_query_new(NULL);
  mbimt_request_send(mt, msg, cancellable, mappings_done, task);
}

static guint active_slot_query_finish(GAsyncResult *res, GError **error)
{
  gssize slot = g_task_propagate_int(G_TASK(res), error);

  return slot > 0 ? (guint)slot : 0;
}

static gboolean check_active(MbimTransport *mt, guint slot, GError **error)
{
  if (slot == mt->active_slot)
    return TRUE;
  g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
              "Slot %u is not the active one (%u): MBIM reaches only the card of the active slot",
              slot, mt->active_slot);
  return FALSE;
}

/* ---- open channel ---- */

typedef enum {
  OPEN_CH_STEP_FIRST,
  OPEN_CH_STEP_ACTIVE_SLOT,
  OPEN_CH_STEP_OPEN,
  OPEN_CH_STEP_LAST,
} OpenChannelStep;

typedef struct {
  MbimTransport *mt;
  OpenChannelStep step;
  guint slot;
  GBytes *aid;
  guint channel;
} OpenChannelCtx;

static void open_channel_ctx_free(OpenChannelCtx *ctx)
{
  g_bytes_unref(ctx->aid);
  g_free(ctx);
}

static void open_channel_step(GTask *task);

static void open_channel_active_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  OpenChannelCtx *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!active_slot_query_finish(res, &error) || !check_active(ctx->mt, ctx->slot, &error)) {
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  ctx->step++;
  open_channel_step(task);
}

static void release_done(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GError) error = NULL;
  guint32 status;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish(res, &status, &error);

  if (!rsp || status != 0)
    g_debug("mbim: releasing a channel: %s", rsp ? "refused" : error->message);
}

/* Best effort, nobody waits for it: a channel or group we do not want. */
static void release_channel(MbimTransport *mt, guint channel)
{
  g_autoptr(MbimMessage) msg = mbim_message_ms_uicc_low_level_access_close_channel_set_new(
      channel, MBIM_CHANNEL_GROUP, NULL);

  mbimt_request_send(mt, msg, NULL, release_done, NULL);
}

static guint16 status_to_sw(guint32 status)
{
  return (guint16)((status & 0xFF) << 8 | (status >> 8 & 0xFF));
}

static void open_channel_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  OpenChannelCtx *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  guint32 status = 0;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish(res, &status, &error);
  guint32 uicc_status = 0, channel = 0;

  if (!rsp) {
    /* The modem may open the channel after all, once we stopped waiting,
     * and nobody would ever learn its number: close our whole group so
     * that the card keeps no orphan (cards often have three channels in
     * all). That also closes any other channel this transport holds; the
     * layer above keeps one ISD-R channel per card, and MBIM reaches one
     * card at a time, so there is none in practice. */
    if (g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT) ||
        g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      release_channel(ctx->mt, 0);
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  /* The answer may carry the status word even when the MBIM status is a
   * failure: a plain SIM answers SELECT of the ISD-R with 6A82. */
  if (!mbim_message_ms_uicc_low_level_access_open_channel_response_parse(
          rsp, &uicc_status, &channel, NULL, NULL, NULL))
    uicc_status = 0;
  if (status != 0) {
    mbimt_set_status_error(&error, status, "Opening a logical channel");
    if (uicc_status)
      g_prefix_error(&error, "SW %04X: ", status_to_sw(uicc_status));
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  if (channel == 0 || channel > 19) {
    mbimt_fail_task(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                                      "The modem opened channel %u, which cannot exist", channel));
    return;
  }
  if (status_to_sw(uicc_status) != SW_OK && (status_to_sw(uicc_status) >> 8) != 0x61) {
    guint16 sw = status_to_sw(uicc_status);

    /* Some modems report a failed SELECT as success with the card's status
     * word: the channel is open and useless. */
    release_channel(ctx->mt, channel);
    mbimt_fail_task(task, g_error_new(TRANSPORT_ERROR,
                                      sw == 0x6A82 || sw == 0x6A81 ? TRANSPORT_ERROR_AID_NOT_FOUND
                                                                   : TRANSPORT_ERROR_FAILED,
                                      "SELECT on channel %u answered SW %04X", channel, sw));
    return;
  }
  ctx->channel = channel;
  ctx->step++;
  open_channel_step(task);
}

static void open_channel_step(GTask *task)
{
  OpenChannelCtx *ctx = g_task_get_task_data(task);
  GCancellable *cancellable = g_task_get_cancellable(task);

  switch (ctx->step) {
  case OPEN_CH_STEP_FIRST:
    ctx->step++;
    /* fall through */
  case OPEN_CH_STEP_ACTIVE_SLOT:
    active_slot_query(ctx->mt, cancellable, open_channel_active_done, task);
    return;
  case OPEN_CH_STEP_OPEN: {
    gsize len;
    const guint8 *aid = g_bytes_get_data(ctx->aid, &len);
    g_autoptr(MbimMessage) msg = mbim_message_ms_uicc_low_level_access_open_channel_set_new(
        (guint32)len, aid, MBIM_SELECT_P2, MBIM_CHANNEL_GROUP, NULL);

    mbimt_request_send(ctx->mt, msg, cancellable, open_channel_done, task);
    return;
  }
  case OPEN_CH_STEP_LAST:
    g_debug("mbim %s: slot %u channel %u open", ctx->mt->parent.port, ctx->slot, ctx->channel);
    g_task_return_int(task, (gssize)ctx->channel);
    g_object_unref(task);
    return;
  }
}

void mbimt_open_channel(Transport *t, guint slot, GBytes *aid, GCancellable *cancellable,
                        GAsyncReadyCallback cb, gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  OpenChannelCtx *ctx = g_new0(OpenChannelCtx, 1);

  ctx->mt = (MbimTransport *)t;
  ctx->slot = slot;
  ctx->aid = g_bytes_ref(aid);
  g_task_set_task_data(task, ctx, (GDestroyNotify)open_channel_ctx_free);
  if (g_bytes_get_size(aid) < 5 || g_bytes_get_size(aid) > 16) {
    mbimt_fail_task(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                                      "An AID has 5 to 16 bytes, not %zu", g_bytes_get_size(aid)));
    return;
  }
  open_channel_step(task);
}

guint mbimt_open_channel_finish(Transport *t, GAsyncResult *res, GError **error)
{
  gssize channel = g_task_propagate_int(G_TASK(res), error);

  return channel > 0 ? (guint)channel : 0;
}

/* ---- transmit ---- */

static void transmit_done(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GTask) task = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish_ok(res, "APDU", &error);
  g_autoptr(GError) parse_error = NULL;
  guint32 status = 0, len = 0;
  const guint8 *rdata = NULL;
  GByteArray *out;
  guint16 sw;

  if (!rsp) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  if (!mbim_message_ms_uicc_low_level_access_apdu_response_parse(rsp, &status, &len, &rdata,
                                                                 &parse_error)) {
    mbimt_set_parse_error(&error, "APDU", parse_error);
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  sw = status_to_sw(status);
  out = g_byte_array_sized_new(len + 2);
  if (len)
    g_byte_array_append(out, rdata, len);
  g_byte_array_append(out, (const guint8[]){(guint8)(sw >> 8), (guint8)sw}, 2);
  g_task_return_pointer(task, g_byte_array_free_to_bytes(out), (GDestroyNotify)g_bytes_unref);
}

void mbimt_transmit(Transport *t, guint slot, guint channel, GBytes *apdu,
                    GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  MbimTransport *mt = (MbimTransport *)t;
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  gsize len;
  const guint8 *bytes = g_bytes_get_data(apdu, &len);
  g_autoptr(MbimMessage) msg = NULL;
  g_autoptr(GError) error = NULL;

  if (len < 4 || channel > 19) {
    mbimt_fail_task(task,
                    g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                                "Not a command APDU for channel %u (%zu bytes)", channel, len));
    return;
  }
  if (!check_active(mt, slot, &error)) {
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  /*
   * The modem writes the channel into the CLA itself (ISO 7816-4 5.4.1).
   * ClassByteType says which coding to use (libmbim's MbimUiccClassByteType):
   * the first interindustry one reaches channels 0..3, the extended one of
   * ETSI TS 102 221 10.1.1 the channels 4..19.
   */
  msg = mbim_message_ms_uicc_low_level_access_apdu_set_new(
      channel, MBIM_UICC_SECURE_MESSAGING_NONE,
      channel <= 3 ? MBIM_UICC_CLASS_BYTE_TYPE_INTER_INDUSTRY : MBIM_UICC_CLASS_BYTE_TYPE_EXTENDED,
      (guint32)len, bytes, NULL);
  mbimt_request_send(mt, msg, cancellable, transmit_done, task);
}

GBytes *mbimt_transmit_finish(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- close channel ---- */

static void close_channel_done(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GTask) task = data;
  g_autoptr(GError) error = NULL;
  guint32 status = 0, uicc_status = 0;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish(res, &status, &error);

  if (!rsp) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  /* Closing a channel that is not open (a card reset closed it) leaves the
   * state the caller wants. */
  if (status == MBIM_STATUS_MS_INVALID_LOGICAL_CHANNEL) {
    g_task_return_boolean(task, TRUE);
    return;
  }
  if (status != 0) {
    mbimt_set_status_error(&error, status, "Closing a logical channel");
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  if (mbim_message_ms_uicc_low_level_access_close_channel_response_parse(rsp, &uicc_status, NULL) &&
      uicc_status && status_to_sw(uicc_status) != SW_OK) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "Closing a logical channel: SW %04X", status_to_sw(uicc_status));
    return;
  }
  g_task_return_boolean(task, TRUE);
}

void mbimt_close_channel(Transport *t, guint slot, guint channel, GCancellable *cancellable,
                         GAsyncReadyCallback cb, gpointer data)
{
  MbimTransport *mt = (MbimTransport *)t;
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  g_autoptr(MbimMessage) msg = NULL;

  if (channel == 0 || channel > 19) {
    mbimt_fail_task(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                                      "Channel %u cannot be closed", channel));
    return;
  }
  msg = mbim_message_ms_uicc_low_level_access_close_channel_set_new(channel, MBIM_CHANNEL_GROUP,
                                                                    NULL);
  mbimt_request_send(mt, msg, cancellable, close_channel_done, task);
}

/* ---- switch slot, reload SIM ---- */

/*
 * Both end in waiting for the card to come up again: a switch maps the one
 * executor to another slot, a reload resets the card in the active slot (the
 * only one MBIM reaches).
 */
typedef enum {
  CARD_STEP_FIRST,
  CARD_STEP_ACTIVE_SLOT,
  CARD_STEP_SLOT_INFO,
  CARD_STEP_SET_MAPPINGS,
  CARD_STEP_RESET,
  CARD_STEP_WAIT_READY,
  CARD_STEP_LAST,
} CardStep;

typedef struct {
  MbimTransport *mt;
  CardStep step;
  guint slot;
  gboolean reload;
} CardCtx;

static void card_step(GTask *task);

static void card_active_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  CardCtx *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  guint active = active_slot_query_finish(res, &error);

  if (!active || (ctx->reload && !check_active(ctx->mt, ctx->slot, &error))) {
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  if (ctx->reload)
    ctx->step = CARD_STEP_RESET;
  else
    /* Already there: switching anyway would reset a working card. */
    ctx->step = active == ctx->slot ? CARD_STEP_LAST : ctx->step + 1;
  card_step(task);
}

static void card_slot_info_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  CardCtx *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  guint32 status = 0;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish(res, &status, &error);
  MbimUiccSlotState state = MBIM_UICC_SLOT_STATE_UNKNOWN;

  if (!rsp) {
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  if (status == MBIM_STATUS_ERROR_INVALID_PARAMETERS) {
    mbimt_fail_task(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                                      "The modem has no slot %u", ctx->slot));
    return;
  }
  if (status == 0 &&
      mbim_message_ms_basic_connect_extensions_slot_info_status_response_parse(rsp, NULL, &state,
                                                                               NULL) &&
      (state == MBIM_UICC_SLOT_STATE_EMPTY || state == MBIM_UICC_SLOT_SATE_OFF_EMPTY)) {
    mbimt_fail_task(
        task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_NO_CARD, "Slot %u is empty", ctx->slot));
    return;
  }
  ctx->step++;
  card_step(task);
}

static void card_set_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  CardCtx *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(MbimMessage) rsp =
      mbimt_request_finish_ok(res, "Setting the device slot mappings", &error);
  guint32 count = 0;
  g_autoptr(MbimSlotArray) map = NULL;

  if (!rsp) {
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  if (!mbim_message_ms_basic_connect_extensions_device_slot_mappings_response_parse(rsp, &count,
                                                                                    &map, NULL) ||
      count < 1 || map[0]->slot + 1 != ctx->slot) {
    mbimt_fail_task(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                                      "The modem did not switch to slot %u", ctx->slot));
    return;
  }
  ctx->mt->active_slot = ctx->slot;
  ctx->step = CARD_STEP_WAIT_READY;
  card_step(task);
}

static void card_reset_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  CardCtx *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish_ok(res, "UICC reset", &error);

  if (!rsp) {
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  ctx->step++;
  card_step(task);
}

static void card_ready_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  CardCtx *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!mbimt_ready_wait_finish(res, &error)) {
    mbimt_fail_task(task, g_steal_pointer(&error));
    return;
  }
  ctx->step++;
  card_step(task);
}

static void card_step(GTask *task)
{
  CardCtx *ctx = g_task_get_task_data(task);
  MbimTransport *mt = ctx->mt;
  GCancellable *cancellable = g_task_get_cancellable(task);

  switch (ctx->step) {
  case CARD_STEP_FIRST:
    /* Without the slot extensions there is one slot, the active one. */
    if (!ctx->reload && mt->slot_ext != TRANSPORT_TRISTATE_YES) {
      if (ctx->slot != 1) {
        mbimt_fail_task(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                                          "The modem has one slot only"));
        return;
      }
      ctx->step = CARD_STEP_LAST;
      card_step(task);
      return;
    }
    ctx->step++;
    /* fall through */
  case CARD_STEP_ACTIVE_SLOT:
    active_slot_query(mt, cancellable, card_active_done, task);
    return;
  case CARD_STEP_SLOT_INFO: {
    g_autoptr(MbimMessage) msg =
        mbim_message_ms_basic_connect_extensions_slot_info_status_query_new(ctx->slot - 1, NULL);

    mbimt_request_send(mt, msg, cancellable, card_slot_info_done, task);
    return;
  }
  case CARD_STEP_SET_MAPPINGS: {
    /* One executor: the map has one entry, the slot it is to use. */
    MbimSlot entry = {.slot = ctx->slot - 1};
    const MbimSlot *map[] = {&entry};
    g_autoptr(MbimMessage) msg =
        mbim_message_ms_basic_connect_extensions_device_slot_mappings_set_new(1, map, NULL);

    g_info("mbim %s: switching to slot %u", mt->parent.port, ctx->slot);
    mbimt_request_send(mt, msg, cancellable, card_set_done, task);
    return;
  }
  case CARD_STEP_RESET: {
    g_autoptr(MbimMessage) msg = mbim_message_ms_uicc_low_level_access_reset_set_new(
        MBIM_UICC_PASS_THROUGH_ACTION_DISABLE, NULL);

    mbimt_request_send(mt, msg, cancellable, card_reset_done, task);
    return;
  }
  case CARD_STEP_WAIT_READY:
    mbimt_ready_wait(mt, cancellable, card_ready_done, task);
    return;
  case CARD_STEP_LAST:
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
}

static GTask *card_task_new(Transport *t, guint slot, gboolean reload, GCancellable *cancellable,
                            GAsyncReadyCallback cb, gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  CardCtx *ctx = g_new0(CardCtx, 1);

  ctx->mt = (MbimTransport *)t;
  ctx->slot = slot;
  ctx->reload = reload;
  g_task_set_task_data(task, ctx, g_free);
  return task;
}

void mbimt_switch_slot(Transport *t, guint slot, GCancellable *cancellable, GAsyncReadyCallback cb,
                       gpointer data)
{
  GTask *task = card_task_new(t, slot, FALSE, cancellable, cb, data);

  if (slot == 0) {
    mbimt_fail_task(
        task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED, "Slots count from 1"));
    return;
  }
  card_step(task);
}

void mbimt_reload_sim(Transport *t, guint slot, GCancellable *cancellable, GAsyncReadyCallback cb,
                      gpointer data)
{
  card_step(card_task_new(t, slot, TRUE, cancellable, cb, data));
}
