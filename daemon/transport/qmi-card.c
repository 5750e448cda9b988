/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMI backend's card side: the slots a modem reports (Get Slot Status,
 * Get Card Status), logical channels and APDUs on them (Open Logical Channel,
 * Send APDU, Logical Channel), and slot switching and SIM reload.
 */
#include "transport/qmi-private.h"

/* ---- list slots --------------------------------------------------------- */

typedef enum {
  SLOTS_STEP_FIRST,
  SLOTS_STEP_SLOT_STATUS,
  SLOTS_STEP_CARD_STATUS,
  SLOTS_STEP_LAST,
} SlotsStep;

typedef struct {
  QmiTransport *self;
  SlotsStep step;
  GPtrArray *slots;
} SlotsContext;

static void slots_context_free(SlotsContext *ctx)
{
  g_clear_pointer(&ctx->slots, g_ptr_array_unref);
  g_free(ctx);
}

static void slots_step(GTask *task);

/* Reader over the TLVs of Get Slot Status (QMI UIM 0x0047). */
typedef struct {
  QmiMessage *msg;
  gsize init;
  gsize off;
  gboolean ok;
} TlvReader;

static gboolean reader_init(TlvReader *r, QmiMessage *msg, guint8 type)
{
  r->msg = msg;
  r->off = 0;
  r->init = qmi_message_tlv_read_init(msg, type, NULL, NULL);
  r->ok = r->init != 0;
  return r->ok;
}

static guint8 reader_u8(TlvReader *r)
{
  guint8 v = 0;

  if (r->ok)
    r->ok = qmi_message_tlv_read_guint8(r->msg, r->init, &r->off, &v, NULL);
  return v;
}

static guint32 reader_u32(TlvReader *r)
{
  guint32 v = 0;

  if (r->ok)
    r->ok = qmi_message_tlv_read_guint32(r->msg, r->init, &r->off, QMI_ENDIAN_LITTLE, &v, NULL);
  return v;
}

/* Reads a byte array with a u8 length prefix. */
static GByteArray *reader_bytes8(TlvReader *r)
{
  GByteArray *out = g_byte_array_new();
  guint8 len = reader_u8(r);

  for (guint i = 0; r->ok && i < len; i++) {
    guint8 b = reader_u8(r);

    g_byte_array_append(out, &b, 1);
  }
  return out;
}

static GPtrArray *parse_slot_status(QmiTransport *self, QmiMessage *msg, GError **error)
{
  g_autoptr(GPtrArray) slots = g_ptr_array_new_with_free_func((GDestroyNotify)transport_slot_free);
  g_autoptr(GArray) logical = g_array_new(FALSE, TRUE, sizeof(guint8));
  TlvReader r;
  guint n;

  /* 0x10 Physical Slot Status: per slot card state, slot state, logical
   * slot and ICCID. */
  if (!reader_init(&r, msg, 0x10)) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                "Get Slot Status answered without slot status");
    return NULL;
  }
  n = reader_u8(&r);
  for (guint i = 0; r.ok && i < n; i++) {
    g_autoptr(TransportSlot) slot = g_new0(TransportSlot, 1);
    g_autoptr(GByteArray) iccid = NULL;
    guint32 card_state = reader_u32(&r);
    guint32 slot_state = reader_u32(&r);
    guint8 lslot = reader_u8(&r);

    iccid = reader_bytes8(&r);
    slot->slot = i + 1;
    slot->card_present = card_state == QMI_UIM_PHYSICAL_CARD_STATE_PRESENT;
    slot->active = slot_state == QMI_UIM_SLOT_STATE_ACTIVE;
    slot->is_euicc = TRANSPORT_TRISTATE_UNKNOWN;
    lslot = slot->active ? lslot : 0;
    g_array_append_val(logical, lslot);
    g_ptr_array_add(slots, g_steal_pointer(&slot));
  }
  if (!r.ok) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                "Get Slot Status answered a malformed slot list");
    return NULL;
  }

  /* 0x11 Physical Slot Information: protocol, applications, ATR, is eUICC. */
  if (reader_init(&r, msg, 0x11) && reader_u8(&r) == slots->len) {
    for (guint i = 0; r.ok && i < slots->len; i++) {
      TransportSlot *slot = g_ptr_array_index(slots, i);
      g_autoptr(GByteArray) atr = NULL;
      guint8 is_euicc;

      reader_u32(&r);
      reader_u8(&r);
      atr = reader_bytes8(&r);
      is_euicc = reader_u8(&r);
      if (r.ok && slot->card_present)
        slot->is_euicc = is_euicc ? TRANSPORT_TRISTATE_YES : TRANSPORT_TRISTATE_NO;
    }
  }

  /* 0x12 Slot EID (libqmi 1.32 and newer firmwares): 16 bytes per eUICC. */
  if (reader_init(&r, msg, 0x12) && reader_u8(&r) == slots->len) {
    for (guint i = 0; r.ok && i < slots->len; i++) {
      TransportSlot *slot = g_ptr_array_index(slots, i);
      g_autoptr(GByteArray) eid = reader_bytes8(&r);

      if (r.ok && eid->len == 16 && slot->is_euicc != TRANSPORT_TRISTATE_NO) {
        GString *hex = g_string_sized_new(32);

        for (guint k = 0; k < eid->len; k++)
          g_string_append_printf(hex, "%02X", eid->data[k]);
        slot->eid = g_string_free(hex, FALSE);
      }
    }
  }

  g_array_set_size(self->logical_slots, 0);
  g_array_append_vals(self->logical_slots, logical->data, logical->len);
  return g_steal_pointer(&slots);
}

/* Get Card Status (0x002F), for modems without Get Slot Status: one slot,
 * the card of the first logical slot. */
static GPtrArray *parse_card_status(QmiTransport *self, QmiMessage *msg, GError **error)
{
  g_autoptr(GPtrArray) slots = g_ptr_array_new_with_free_func((GDestroyNotify)transport_slot_free);
  TransportSlot *slot;
  TlvReader r;
  guint8 n_cards, state = QMI_UIM_CARD_STATE_ABSENT;

  if (!reader_init(&r, msg, 0x10)) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                "Get Card Status answered without card status");
    return NULL;
  }
  for (guint i = 0; i < 8; i++) /* four u16 provisioning session indexes */
    reader_u8(&r);
  n_cards = reader_u8(&r);
  if (n_cards > 0)
    state = reader_u8(&r);
  if (!r.ok) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                "Get Card Status answered a malformed card list");
    return NULL;
  }
  slot = g_new0(TransportSlot, 1);
  slot->slot = 1;
  slot->card_present = state == QMI_UIM_CARD_STATE_PRESENT;
  slot->is_euicc = TRANSPORT_TRISTATE_UNKNOWN;
  slot->active = TRUE;
  g_ptr_array_add(slots, slot);
  g_array_set_size(self->logical_slots, 0);
  return g_steal_pointer(&slots);
}

static void on_slots_response(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  SlotsContext *ctx = g_task_get_task_data(task);
  QmiTransport *self = ctx->self;
  g_autoptr(QmiMessage) msg = NULL;
  GError *error = NULL;
  guint16 msgid = ctx->step == SLOTS_STEP_SLOT_STATUS ? UIM_GET_SLOT_STATUS : UIM_GET_CARD_STATUS;
  guint16 code;

  msg = qmit_send_request_finish(res, &error);
  if (!msg || !qmit_response_get_result(msg, msgid, &code, &error)) {
    g_task_return_error(task, error);
    g_object_unref(task);
    return;
  }
  if (code && msgid == UIM_GET_SLOT_STATUS &&
      (code == QMI_PROTOCOL_ERROR_INVALID_QMI_COMMAND ||
       code == QMI_PROTOCOL_ERROR_NOT_SUPPORTED)) {
    g_debug("%s has no Get Slot Status; asking Get Card Status", self->parent.port);
    self->has_slot_status = TRANSPORT_TRISTATE_NO;
    ctx->step = SLOTS_STEP_CARD_STATUS;
    slots_step(task);
    return;
  }
  if (code) {
    g_task_return_error(task, qmit_map_qmi_error(msgid, code));
    g_object_unref(task);
    return;
  }
  if (msgid == UIM_GET_SLOT_STATUS) {
    self->has_slot_status = TRANSPORT_TRISTATE_YES;
    ctx->slots = parse_slot_status(self, msg, &error);
  } else {
    ctx->slots = parse_card_status(self, msg, &error);
  }
  if (!ctx->slots) {
    g_task_return_error(task, error);
    g_object_unref(task);
    return;
  }
  ctx->step = SLOTS_STEP_LAST;
  slots_step(task);
}

static void slots_step(GTask *task)
{
  SlotsContext *ctx = g_task_get_task_data(task);
  QmiTransport *self = ctx->self;
  g_autoptr(QmiMessage) msg = NULL;

  switch (ctx->step) {
  case SLOTS_STEP_FIRST:
    ctx->step++;
    /* fall through */
  case SLOTS_STEP_SLOT_STATUS:
    if (self->has_slot_status != TRANSPORT_TRISTATE_NO) {
      msg = qmit_uim_message_new(self, UIM_GET_SLOT_STATUS);
      qmit_send_request(self, msg, 0, g_task_get_cancellable(task), on_slots_response, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case SLOTS_STEP_CARD_STATUS:
    msg = qmit_uim_message_new(self, UIM_GET_CARD_STATUS);
    qmit_send_request(self, msg, 0, g_task_get_cancellable(task), on_slots_response, task);
    return;
  case SLOTS_STEP_LAST:
    g_task_return_pointer(task, g_steal_pointer(&ctx->slots), (GDestroyNotify)g_ptr_array_unref);
    g_object_unref(task);
    return;
  }
  g_assert_not_reached();
}

void qmit_list_slots(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  SlotsContext *ctx = g_new0(SlotsContext, 1);

  g_task_set_source_tag(task, (gpointer)&tag_list_slots);
  ctx->self = qmi_transport(t);
  g_task_set_task_data(task, ctx, (GDestroyNotify)slots_context_free);
  slots_step(task);
}

GPtrArray *qmit_list_slots_finish(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- channels and APDUs --------------------------------------------------- */

/* Returns the task of a one-request operation, or NULL after failing it. */
static GTask *simple_task(QmiTransport *self, gconstpointer tag, guint slot, guint8 *logical,
                          GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  GError *error = NULL;

  g_task_set_source_tag(task, (gpointer)tag);
  if (!qmit_logical_slot_for(self, slot, logical, &error)) {
    g_task_return_error(task, error);
    g_object_unref(task);
    return NULL;
  }
  return task;
}

static void on_open_channel(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GTask) task = data;
  g_autoptr(QmiMessage) msg = NULL;
  GError *error = NULL;
  guint16 code;
  gboolean found;
  guint8 channel;

  msg = qmit_send_request_finish(res, &error);
  if (!msg || !qmit_response_get_result(msg, UIM_OPEN_LOGICAL_CHANNEL, &code, &error)) {
    g_task_return_error(task, error);
    return;
  }
  if (code) {
    /* The card's own status word, when the modem passed it on, says more
     * than the QMI error: ISO 7816-4 6A82 / 6A81 / 6881. */
    gboolean have_sw;
    guint16 sw = 0;
    gsize init, off = 0;
    guint8 sw1 = 0, sw2 = 0;

    init = qmi_message_tlv_read_init(msg, 0x11, NULL, NULL);
    have_sw = init && qmi_message_tlv_read_guint8(msg, init, &off, &sw1, NULL) &&
              qmi_message_tlv_read_guint8(msg, init, &off, &sw2, NULL);
    sw = (guint16)(sw1 << 8 | sw2);
    if (have_sw && (sw == 0x6A82 || sw == 0x6999))
      g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_AID_NOT_FOUND,
                              "The card has no application with that AID (SW %04X)", sw);
    else if (have_sw && (sw == 0x6A81 || sw == 0x6881))
      g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_CHANNEL_REFUSED,
                              "The card has no free logical channel (SW %04X)", sw);
    else
      g_task_return_error(task, qmit_map_qmi_error(UIM_OPEN_LOGICAL_CHANNEL, code));
    return;
  }
  channel = qmit_read_u8_tlv(msg, 0x10, &found);
  if (!found || channel < 1 || channel > 19) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                            "The modem opened no valid logical channel");
    return;
  }
  g_task_return_int(task, channel);
}

void qmit_open_channel(Transport *t, guint slot, GBytes *aid, GCancellable *cancellable,
                       GAsyncReadyCallback cb, gpointer data)
{
  QmiTransport *self = qmi_transport(t);
  g_autoptr(QmiMessage) msg = NULL;
  GError *error = NULL;
  GTask *task;
  guint8 logical;
  gsize len;
  const guint8 *p = g_bytes_get_data(aid, &len);

  task = simple_task(self, &tag_open_channel, slot, &logical, cancellable, cb, data);
  if (!task)
    return;
  if (len < 5 || len > 16) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "An AID has 5 to 16 bytes, not %zu", len);
    g_object_unref(task);
    return;
  }
  msg = qmit_uim_message_new(self, UIM_OPEN_LOGICAL_CHANNEL);
  if (!qmit_write_u8_tlv(msg, 0x01, logical, &error) ||
      !qmit_write_array_tlv(msg, 0x10, FALSE, p, len, &error)) {
    g_task_return_error(task, error);
    g_object_unref(task);
    return;
  }
  qmit_send_request(self, msg, logical, cancellable, on_open_channel, task);
}

guint qmit_open_channel_finish(Transport *t, GAsyncResult *res, GError **error)
{
  gssize channel = g_task_propagate_int(G_TASK(res), error);

  return channel > 0 ? (guint)channel : 0;
}

static void on_transmit(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GTask) task = data;
  GError *error = NULL;
  g_autoptr(QmiMessage) msg = qmit_send_request_finish_ok(res, UIM_SEND_APDU, 0, &error);
  GBytes *rsp;

  if (!msg) {
    g_task_return_error(task, error);
    return;
  }
  rsp = qmit_read_array_tlv(msg, 0x10, TRUE);
  if (!rsp || g_bytes_get_size(rsp) < 2) {
    if (rsp)
      g_bytes_unref(rsp);
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                            "The modem answered Send APDU without a response APDU");
    return;
  }
  g_task_return_pointer(task, rsp, (GDestroyNotify)g_bytes_unref);
}

void qmit_transmit(Transport *t, guint slot, guint channel, GBytes *apdu, GCancellable *cancellable,
                   GAsyncReadyCallback cb, gpointer data)
{
  QmiTransport *self = qmi_transport(t);
  g_autoptr(QmiMessage) msg = NULL;
  GError *error = NULL;
  GTask *task;
  guint8 logical;
  gsize len;
  const guint8 *p = g_bytes_get_data(apdu, &len);

  task = simple_task(self, &tag_transmit, slot, &logical, cancellable, cb, data);
  if (!task)
    return;
  if (len < 4 || len > G_MAXUINT16) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "A command APDU of %zu bytes cannot be sent", len);
    g_object_unref(task);
    return;
  }
  msg = qmit_uim_message_new(self, UIM_SEND_APDU);
  if (!qmit_write_u8_tlv(msg, 0x01, logical, &error) ||
      !qmit_write_array_tlv(msg, 0x02, TRUE, p, len, &error) ||
      !qmit_write_u8_tlv(msg, 0x10, (guint8)channel, &error)) {
    g_task_return_error(task, error);
    g_object_unref(task);
    return;
  }
  qmit_send_request(self, msg, logical, cancellable, on_transmit, task);
}

GBytes *qmit_transmit_finish(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

static void on_close_channel(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GTask) task = data;
  GError *error = NULL;
  g_autoptr(QmiMessage) msg = qmit_send_request_finish_ok(res, UIM_LOGICAL_CHANNEL, 0, &error);

  if (!msg) {
    g_task_return_error(task, error);
    return;
  }
  g_task_return_boolean(task, TRUE);
}

void qmit_close_channel(Transport *t, guint slot, guint channel, GCancellable *cancellable,
                        GAsyncReadyCallback cb, gpointer data)
{
  QmiTransport *self = qmi_transport(t);
  g_autoptr(QmiMessage) msg = NULL;
  GError *error = NULL;
  GTask *task;
  guint8 logical;

  task = simple_task(self, &tag_close_channel, slot, &logical, cancellable, cb, data);
  if (!task)
    return;
  msg = qmit_uim_message_new(self, UIM_LOGICAL_CHANNEL);
  if (!qmit_write_u8_tlv(msg, 0x01, logical, &error) ||
      !qmit_write_u8_tlv(msg, 0x11, (guint8)channel, &error)) {
    g_task_return_error(task, error);
    g_object_unref(task);
    return;
  }
  qmit_send_request(self, msg, logical, cancellable, on_close_channel, task);
}

/* ---- switch slot and reload --------------------------------------------- */

typedef enum {
  CARD_STEP_FIRST,
  CARD_STEP_SWITCH,
  CARD_STEP_POWER_OFF,
  CARD_STEP_POWER_ON,
  CARD_STEP_POLL,
  CARD_STEP_LAST,
} CardStep;

/* Switch Slot and reload share the tail: wait until the card is back. */
typedef struct {
  QmiTransport *self;
  CardStep step;
  gboolean reload; /* power cycle instead of switching */
  guint slot;
  guint8 logical;
  guint polls;
  GSource *poll_timer;
} CardContext;

static void card_context_free(CardContext *ctx)
{
  qmit_destroy_source(&ctx->poll_timer);
  g_free(ctx);
}

static void card_step(GTask *task);

static void card_fail(GTask *task, GError *error)
{
  g_task_return_error(task, error);
  g_object_unref(task);
}

static void on_card_command(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  CardContext *ctx = g_task_get_task_data(task);
  GError *error = NULL;
  guint16 msgid = ctx->step == CARD_STEP_SWITCH      ? UIM_SWITCH_SLOT
                  : ctx->step == CARD_STEP_POWER_OFF ? UIM_POWER_OFF_SIM
                                                     : UIM_POWER_ON_SIM;
  /* NO_EFFECT: the slot was active already, the card was off already. */
  g_autoptr(QmiMessage) msg =
      qmit_send_request_finish_ok(res, msgid, QMI_PROTOCOL_ERROR_NO_EFFECT, &error);

  if (!msg) {
    card_fail(task, error);
    return;
  }
  ctx->step++;
  card_step(task);
}

static gboolean on_poll_timer(gpointer data)
{
  GTask *task = data;
  CardContext *ctx = g_task_get_task_data(task);

  g_source_unref(ctx->poll_timer);
  ctx->poll_timer = NULL;
  card_step(task);
  return G_SOURCE_REMOVE;
}

static void on_card_poll(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  CardContext *ctx = g_task_get_task_data(task);
  g_autoptr(GPtrArray) slots = NULL;
  g_autoptr(GError) error = NULL;
  gboolean ready = FALSE;

  slots = qmit_list_slots_finish(&ctx->self->parent, res, &error);
  if (!slots && !g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT)) {
    card_fail(task, g_steal_pointer(&error));
    return;
  }
  for (guint i = 0; slots && i < slots->len; i++) {
    TransportSlot *s = g_ptr_array_index(slots, i);

    if (s->slot == ctx->slot && s->active && s->card_present)
      ready = TRUE;
    /* Without Get Slot Status the modem shows only the active slot. */
    if (ctx->self->has_slot_status == TRANSPORT_TRISTATE_NO && s->card_present)
      ready = TRUE;
  }
  if (ready) {
    ctx->step = CARD_STEP_LAST;
    card_step(task);
    return;
  }
  if (++ctx->polls >= CARD_POLL_ATTEMPTS) {
    card_fail(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT,
                                "The card in slot %u did not come up", ctx->slot));
    return;
  }
  ctx->poll_timer = g_timeout_source_new(CARD_POLL_INTERVAL_MS);
  g_source_set_callback(ctx->poll_timer, on_poll_timer, task, NULL);
  g_source_attach(ctx->poll_timer, g_task_get_context(task));
}

static void send_card_command(GTask *task, guint16 msgid)
{
  CardContext *ctx = g_task_get_task_data(task);
  QmiTransport *self = ctx->self;
  g_autoptr(QmiMessage) msg = qmit_uim_message_new(self, msgid);
  GError *error = NULL;
  gboolean ok;

  if (msgid == UIM_SWITCH_SLOT) {
    gsize init = 0;

    /* Logical slot 1 is the one the modem's SIM stack uses. */
    ok = qmit_write_u8_tlv(msg, 0x01, 1, &error);
    if (ok)
      init = qmi_message_tlv_write_init(msg, 0x02, &error);
    ok = ok && init && qmi_message_tlv_write_guint32(msg, QMI_ENDIAN_LITTLE, ctx->slot, &error) &&
         qmi_message_tlv_write_complete(msg, init, &error);
  } else {
    ok = qmit_write_u8_tlv(msg, 0x01, ctx->logical, &error);
  }
  if (!ok) {
    card_fail(task, error);
    return;
  }
  qmit_send_request(self, msg, ctx->logical, g_task_get_cancellable(task), on_card_command, task);
}

static void card_step(GTask *task)
{
  CardContext *ctx = g_task_get_task_data(task);

  if (g_task_return_error_if_cancelled(task)) {
    g_object_unref(task);
    return;
  }
  switch (ctx->step) {
  case CARD_STEP_FIRST:
    ctx->step = ctx->reload ? CARD_STEP_POWER_OFF : CARD_STEP_SWITCH;
    card_step(task);
    return;
  case CARD_STEP_SWITCH:
    send_card_command(task, UIM_SWITCH_SLOT);
    return;
  case CARD_STEP_POWER_OFF:
    if (!ctx->reload) {
      ctx->step = CARD_STEP_POLL;
      card_step(task);
      return;
    }
    send_card_command(task, UIM_POWER_OFF_SIM);
    return;
  case CARD_STEP_POWER_ON:
    send_card_command(task, UIM_POWER_ON_SIM);
    return;
  case CARD_STEP_POLL:
    qmit_list_slots(&ctx->self->parent, g_task_get_cancellable(task), on_card_poll, task);
    return;
  case CARD_STEP_LAST:
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
  g_assert_not_reached();
}

void qmit_switch_slot(Transport *t, guint slot, GCancellable *cancellable, GAsyncReadyCallback cb,
                      gpointer data)
{
  QmiTransport *self = qmi_transport(t);
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  CardContext *ctx = g_new0(CardContext, 1);

  g_task_set_source_tag(task, (gpointer)&tag_switch_slot);
  ctx->self = self;
  ctx->slot = slot;
  ctx->logical = 1;
  g_task_set_task_data(task, ctx, (GDestroyNotify)card_context_free);
  if (self->has_slot_status == TRANSPORT_TRISTATE_NO) {
    if (slot == 1)
      g_task_return_boolean(task, TRUE);
    else
      g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                              "The modem on %s cannot switch slots", t->port);
    g_object_unref(task);
    return;
  }
  card_step(task);
}

/*
 * Reload: UIM Power Off SIM then Power On SIM on the slot. Qualcomm
 * firmwares accept this pair on every version with a UIM service, and the
 * modem re-reads the card (and the new profile) on power-up; UIM Reset only
 * resets the UIM service's state, not the card.
 */
void qmit_reload_sim(Transport *t, guint slot, GCancellable *cancellable, GAsyncReadyCallback cb,
                     gpointer data)
{
  QmiTransport *self = qmi_transport(t);
  GTask *task;
  CardContext *ctx;
  guint8 logical;

  task = simple_task(self, &tag_reload_sim, slot, &logical, cancellable, cb, data);
  if (!task)
    return;
  ctx = g_new0(CardContext, 1);
  ctx->self = self;
  ctx->slot = slot;
  ctx->logical = logical;
  ctx->reload = TRUE;
  g_task_set_task_data(task, ctx, (GDestroyNotify)card_context_free);
  card_step(task);
}
