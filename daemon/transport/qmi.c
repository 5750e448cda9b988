/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMI backend: the UIM service of a Qualcomm modem through libqmi, on a
 * cdc-wdm port (through qmi-proxy unless asked otherwise) or a QRTR node.
 *
 * libqmi 1.32 has generated calls for Get Card Status and Get Slot Status,
 * but none for Open Logical Channel (0x0042), Send APDU (0x003B) and Logical
 * Channel (0x003F). So that one code path serves every libqmi from 1.32 on,
 * every UIM request here is built with qmi_message_new() and sent with
 * qmi_device_command_full(); responses are read TLV by TLV.
 *
 * The IMEI (DMS Get IDs) and the radio technologies (DMS Get Capabilities)
 * come from a DMS client allocated on first use, the same way (qmi-dms.c).
 *
 * Slots: the transport API numbers physical slots. UIM requests name a
 * logical slot; Get Slot Status tells which physical slot each logical slot
 * is mapped to. A modem without Get Slot Status has one slot, 1 = 1.
 */
#include "transport/qmi-private.h"
/* ---- errors ------------------------------------------------------------- */

/* The finish of every operation whose answer is success or a GError. */
static gboolean finish_boolean(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_boolean(G_TASK(res), error);
}

static gboolean port_vanished(QmiTransport *self)
{
  if (self->parent.removed)
    return TRUE;
  if (self->device && !qmi_device_is_open(self->device))
    return TRUE;
  return self->parent.kind == TRANSPORT_KIND_QMI &&
         !g_file_test(self->parent.port, G_FILE_TEST_EXISTS);
}

/* An error of libqmi's own (no answer from the modem) as a TransportError. */
static GError *map_core_error(QmiTransport *self, const char *what, const GError *error)
{
  if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_error_copy(error);
  if (g_error_matches(error, QMI_CORE_ERROR, QMI_CORE_ERROR_TIMEOUT))
    return g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT, "%s: the modem did not answer",
                       what);
  if (self && port_vanished(self)) {
    transport_report_removed(&self->parent);
    return g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE, "%s: the modem port %s is gone",
                       what, self->parent.port);
  }
  return g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED, "%s: %s", what, error->message);
}

/* A QMI error from the result TLV as a TransportError. */
GError *qmit_map_qmi_error(guint16 msgid, guint16 code)
{
  TransportError te = TRANSPORT_ERROR_FAILED;
  const char *name = qmi_protocol_error_get_string((QmiProtocolError)code);

  switch (code) {
  case QMI_PROTOCOL_ERROR_INSUFFICIENT_RESOURCES:
    te = TRANSPORT_ERROR_CHANNEL_REFUSED;
    break;
  case QMI_PROTOCOL_ERROR_SIM_FILE_NOT_FOUND:
    /* Open Logical Channel reports a SELECT the card refused this way. */
    if (msgid == UIM_OPEN_LOGICAL_CHANNEL || msgid == UIM_LOGICAL_CHANNEL)
      te = TRANSPORT_ERROR_AID_NOT_FOUND;
    break;
  case QMI_PROTOCOL_ERROR_INVALID_QMI_COMMAND:
  case QMI_PROTOCOL_ERROR_NOT_SUPPORTED:
  case QMI_PROTOCOL_ERROR_DEVICE_UNSUPPORTED:
  case QMI_PROTOCOL_ERROR_INVALID_SERVICE_TYPE:
    te = TRANSPORT_ERROR_NOT_SUPPORTED;
    break;
  case QMI_PROTOCOL_ERROR_NO_SIM:
    te = TRANSPORT_ERROR_NO_CARD;
    break;
  default:
    break;
  }
  return g_error_new(TRANSPORT_ERROR, te, "The modem refused %s: %s (QMI error %u)",
                     qmi_request_name(msgid), name ? name : "unknown", code);
}

/* Reads the result TLV (0x02): FALSE with a PROTOCOL error when it is
 * missing; otherwise *code is 0 for success or the QMI error. */
gboolean qmit_response_get_result(QmiMessage *msg, guint16 msgid, guint16 *code, GError **error)
{
  g_autoptr(GError) inner = NULL;
  guint16 status = 0, err = 0;
  gsize init, off = 0;

  init = qmi_message_tlv_read_init(msg, 0x02, NULL, &inner);
  if (!init || !qmi_message_tlv_read_guint16(msg, init, &off, QMI_ENDIAN_LITTLE, &status, &inner) ||
      !qmi_message_tlv_read_guint16(msg, init, &off, QMI_ENDIAN_LITTLE, &err, &inner)) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                "The modem's answer to %s has no valid result: %s", qmi_request_name(msgid),
                inner ? inner->message : "missing");
    return FALSE;
  }
  *code = status ? (err ? err : QMI_PROTOCOL_ERROR_INTERNAL) : 0;
  return TRUE;
}

/* ---- requests ----------------------------------------------------------- */

static void request_free(Request *req)
{
  g_assert(!req->task && !req->timer && !req->cancel_idle);
  g_clear_object(&req->qmi_cancellable);
  g_clear_object(&req->cancellable);
  g_main_context_unref(req->context);
  g_free(req);
}

void qmit_destroy_source(GSource **source)
{
  if (*source) {
    g_source_destroy(*source);
    g_source_unref(*source);
    *source = NULL;
  }
}

/* Answers the caller once; takes error. */
static void request_answer(Request *req, QmiMessage *response, GError *error)
{
  g_autoptr(GTask) task = g_steal_pointer(&req->task);

  qmit_destroy_source(&req->timer);
  qmit_destroy_source(&req->cancel_idle);
  if (req->cancel_id) {
    g_cancellable_disconnect(req->cancellable, req->cancel_id);
    req->cancel_id = 0;
  }
  if (!task) {
    if (error)
      g_error_free(error);
    return;
  }
  if (error)
    g_task_return_error(task, error);
  else
    g_task_return_pointer(task, qmi_message_ref(response), (GDestroyNotify)qmi_message_unref);
}

static gboolean on_request_timeout(gpointer data)
{
  Request *req = data;

  g_source_unref(req->timer);
  req->timer = NULL;
  request_answer(req, NULL,
                 g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT,
                             "The modem did not answer %s in time", qmi_request_name(req->msgid)));
  return G_SOURCE_REMOVE;
}

static gboolean on_request_cancelled_idle(gpointer data)
{
  Request *req = data;

  g_source_unref(req->cancel_idle);
  req->cancel_idle = NULL;
  request_answer(req, NULL,
                 g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled"));
  return G_SOURCE_REMOVE;
}

/* May run inside g_cancellable_cancel(): only schedule the answer. */
static void on_request_cancelled(GCancellable *cancellable, gpointer data)
{
  Request *req = data;

  if (req->cancel_idle || !req->task)
    return;
  req->cancel_idle = g_idle_source_new();
  g_source_set_callback(req->cancel_idle, on_request_cancelled_idle, req, NULL);
  g_source_attach(req->cancel_idle, req->context);
}

static void on_abandoned_close_done(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GError) error = NULL;
  QmiMessage *msg = g_task_propagate_pointer(G_TASK(res), &error);

  if (msg)
    qmi_message_unref(msg);
  else
    g_debug("Closing an abandoned logical channel failed: %s", error->message);
}

QmiMessage *qmit_uim_message_new(QmiTransport *self, guint16 msgid)
{
  return qmi_message_new(QMI_SERVICE_UIM, qmi_client_get_cid(self->uim),
                         qmi_client_get_next_transaction_id(self->uim), msgid);
}

gboolean qmit_write_u8_tlv(QmiMessage *msg, guint8 type, guint8 value, GError **error)
{
  gsize init = qmi_message_tlv_write_init(msg, type, error);

  return init && qmi_message_tlv_write_guint8(msg, value, error) &&
         qmi_message_tlv_write_complete(msg, init, error);
}

/* A TLV holding a byte array with a 1- or 2-byte little-endian length prefix. */
gboolean qmit_write_array_tlv(QmiMessage *msg, guint8 type, gboolean prefix16, const guint8 *data,
                              gsize len, GError **error)
{
  gsize init = qmi_message_tlv_write_init(msg, type, error);

  if (!init)
    return FALSE;
  if (prefix16 ? !qmi_message_tlv_write_guint16(msg, QMI_ENDIAN_LITTLE, (guint16)len, error)
               : !qmi_message_tlv_write_guint8(msg, (guint8)len, error))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!qmi_message_tlv_write_guint8(msg, data[i], error))
      return FALSE;
  return qmi_message_tlv_write_complete(msg, init, error);
}

guint8 qmit_read_u8_tlv(QmiMessage *msg, guint8 type, gboolean *found)
{
  gsize init, off = 0;
  guint8 v = 0;

  init = qmi_message_tlv_read_init(msg, type, NULL, NULL);
  *found = init && qmi_message_tlv_read_guint8(msg, init, &off, &v, NULL);
  return v;
}

/* A byte array TLV with a 1- or 2-byte length prefix; NULL when absent or
 * shorter than its prefix says. */
GBytes *qmit_read_array_tlv(QmiMessage *msg, guint8 type, gboolean prefix16)
{
  g_autoptr(GByteArray) out = g_byte_array_new();
  gsize init, off = 0;
  guint16 len = 0;
  guint8 len8 = 0;

  init = qmi_message_tlv_read_init(msg, type, NULL, NULL);
  if (!init)
    return NULL;
  if (prefix16 ? !qmi_message_tlv_read_guint16(msg, init, &off, QMI_ENDIAN_LITTLE, &len, NULL)
               : !qmi_message_tlv_read_guint8(msg, init, &off, &len8, NULL))
    return NULL;
  if (!prefix16)
    len = len8;
  for (guint i = 0; i < len; i++) {
    guint8 b;

    if (!qmi_message_tlv_read_guint8(msg, init, &off, &b, NULL))
      return NULL;
    g_byte_array_append(out, &b, 1);
  }
  return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

/* A late answer to an Open Logical Channel whose caller gave up: the card
 * has a channel nobody will use; close it so that channels do not leak. */
static void close_abandoned_channel(QmiTransport *self, Request *req, QmiMessage *response)
{
  g_autoptr(QmiMessage) msg = NULL;
  guint16 code;
  gboolean found;
  guint8 channel;

  if (!qmit_response_get_result(response, req->msgid, &code, NULL) || code)
    return;
  channel = qmit_read_u8_tlv(response, 0x10, &found);
  if (!found || !self->uim || self->parent.removed)
    return;
  g_debug("Closing logical channel %u that was opened too late", channel);
  msg = qmit_uim_message_new(self, UIM_LOGICAL_CHANNEL);
  if (!qmit_write_u8_tlv(msg, 0x01, req->logical_slot, NULL) ||
      !qmit_write_u8_tlv(msg, 0x11, channel, NULL))
    return;
  qmit_send_request(self, msg, req->logical_slot, NULL, on_abandoned_close_done, NULL);
}

static void on_command_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  Request *req = data;
  QmiTransport *self = req->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(QmiMessage) response = NULL;

  response = qmi_device_command_full_finish(QMI_DEVICE(source), res, &error);
  if (req->task) {
    if (response)
      request_answer(req, response, NULL);
    else
      request_answer(req, NULL, map_core_error(self, qmi_request_name(req->msgid), error));
  } else if (response && self && req->msgid == UIM_OPEN_LOGICAL_CHANNEL) {
    close_abandoned_channel(self, req, response);
  }
  /* The caller's callback may have freed the transport: look again. */
  if (req->self)
    req->self->requests = g_list_remove(req->self->requests, req);
  request_free(req);
}

/* Sends one UIM (or DMS) request; the task returns the response (any QMI result) or
 * a TransportError when there was none. */
void qmit_send_request(QmiTransport *self, QmiMessage *msg, guint8 logical_slot,
                       GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, cb, data);
  Request *req;

  g_task_set_source_tag(task, (gpointer)&tag_request);
  if (g_task_return_error_if_cancelled(task))
    return;
  if (!self->device || !(qmi_message_get_service(msg) == QMI_SERVICE_DMS ? self->dms : self->uim)) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "The QMI port %s is not open", self->parent.port);
    return;
  }

  req = g_new0(Request, 1);
  req->self = self;
  req->task = g_steal_pointer(&task);
  req->msgid = qmi_message_get_message_id(msg);
  req->logical_slot = logical_slot;
  req->context = g_main_context_ref_thread_default();
  req->qmi_cancellable = g_cancellable_new();
  self->requests = g_list_prepend(self->requests, req);

  req->timer = g_timeout_source_new(timeout_ms(self));
  g_source_set_callback(req->timer, on_request_timeout, req, NULL);
  g_source_attach(req->timer, req->context);
  if (cancellable) {
    req->cancellable = g_object_ref(cancellable);
    req->cancel_id =
        g_cancellable_connect(cancellable, G_CALLBACK(on_request_cancelled), req, NULL);
  }

  qmi_device_command_full(self->device, msg, NULL, qmi_timeout_s(self), req->qmi_cancellable,
                          on_command_ready, req);
}

QmiMessage *qmit_send_request_finish(GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* The answer to a request the modem carried out, or NULL with the error: no
 * answer, a malformed one, or its QMI error code (but for allowed, which
 * counts as success; 0 when none does). */
QmiMessage *qmit_send_request_finish_ok(GAsyncResult *res, guint16 msgid, guint16 allowed,
                                        GError **error)
{
  g_autoptr(QmiMessage) msg = qmit_send_request_finish(res, error);
  guint16 code;

  if (!msg || !qmit_response_get_result(msg, msgid, &code, error))
    return NULL;
  if (code && code != allowed) {
    g_propagate_error(error, qmit_map_qmi_error(msgid, code));
    return NULL;
  }
  return g_steal_pointer(&msg);
}

/* The logical slot that reaches a physical slot now. */
gboolean qmit_logical_slot_for(QmiTransport *self, guint slot, guint8 *logical, GError **error)
{
  if (self->logical_slots->len == 0) {
    *logical = (guint8)slot;
    return TRUE;
  }
  if (slot < 1 || slot > self->logical_slots->len) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED, "The modem has no slot %u",
                slot);
    return FALSE;
  }
  *logical = g_array_index(self->logical_slots, guint8, slot - 1);
  if (!*logical) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                "Slot %u is not active; switch to it first", slot);
    return FALSE;
  }
  return TRUE;
}

/* ---- open --------------------------------------------------------------- */

typedef enum {
  OPEN_STEP_FIRST,
  OPEN_STEP_QRTR_BUS,
  OPEN_STEP_QRTR_NODE,
  OPEN_STEP_DEVICE_NEW,
  OPEN_STEP_DEVICE_OPEN,
  OPEN_STEP_ALLOCATE_CLIENT,
  OPEN_STEP_LAST,
} OpenStep;

typedef struct {
  QmiTransport *self;
  OpenStep step;
  guint32 qrtr_node_id;
#ifdef HAVE_QRTR
  QrtrNode *node;
#endif
} OpenContext;

static void open_context_free(OpenContext *ctx)
{
#ifdef HAVE_QRTR
  g_clear_object(&ctx->node);
#endif
  g_free(ctx);
}

static void open_step(GTask *task);

static void on_device_removed(QmiDevice *device, gpointer data)
{
  QmiTransport *self = data;

  transport_report_removed(&self->parent);
}

/* Stops listening for the device's removal. */
static void device_disconnect(QmiTransport *self)
{
  if (self->removed_id)
    g_signal_handler_disconnect(self->device, self->removed_id);
  self->removed_id = 0;
}

static void open_fail(GTask *task, TransportError code, const char *what, const GError *error)
{
  OpenContext *ctx = g_task_get_task_data(task);
  QmiTransport *self = ctx->self;

  if (self->device) {
    device_disconnect(self);
    if (qmi_device_is_open(self->device))
      qmi_device_close_async(self->device, 1, NULL, NULL, NULL);
    g_clear_object(&self->device);
  }
  if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_task_return_error(task, g_error_copy(error));
  else if (g_error_matches(error, QMI_CORE_ERROR, QMI_CORE_ERROR_TIMEOUT))
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT,
                            "%s %s: the modem did not answer", what, self->parent.port);
  else if (self->parent.kind == TRANSPORT_KIND_QMI &&
           !g_file_test(self->parent.port, G_FILE_TEST_EXISTS))
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE, "%s %s: no such port",
                            what, self->parent.port);
  else
    g_task_return_new_error(task, TRANSPORT_ERROR, code, "%s %s: %s", what, self->parent.port,
                            error->message);
  g_object_unref(task);
}

#ifdef HAVE_QRTR
static void on_qrtr_bus(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  OpenContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  ctx->self->bus = qrtr_bus_new_finish(res, &error);
  if (!ctx->self->bus) {
    open_fail(task, TRANSPORT_ERROR_NOT_SUPPORTED, "Cannot reach the QRTR bus for", error);
    return;
  }
  ctx->step++;
  open_step(task);
}

static void on_qrtr_node(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  OpenContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  ctx->node = qrtr_bus_wait_for_node_finish(QRTR_BUS(source), res, &error);
  if (!ctx->node) {
    open_fail(task, TRANSPORT_ERROR_PORT_GONE, "No QRTR node for", error);
    return;
  }
  ctx->step++;
  open_step(task);
}
#endif

static void on_device_new(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  OpenContext *ctx = g_task_get_task_data(task);
  QmiTransport *self = ctx->self;
  g_autoptr(GError) error = NULL;

#ifdef HAVE_QRTR
  if (ctx->node)
    self->device = qmi_device_new_from_node_finish(res, &error);
  else
#endif
    self->device = qmi_device_new_finish(res, &error);
  if (!self->device) {
    open_fail(task, TRANSPORT_ERROR_FAILED, "Cannot use", error);
    return;
  }
  self->removed_id = g_signal_connect(self->device, QMI_DEVICE_SIGNAL_REMOVED,
                                      G_CALLBACK(on_device_removed), self);
  ctx->step++;
  open_step(task);
}

static void on_device_open(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  OpenContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!qmi_device_open_finish(QMI_DEVICE(source), res, &error)) {
    open_fail(task, TRANSPORT_ERROR_FAILED, "Cannot open", error);
    return;
  }
  ctx->step++;
  open_step(task);
}

static void on_client_allocated(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  OpenContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  ctx->self->uim = qmi_device_allocate_client_finish(QMI_DEVICE(source), res, &error);
  if (!ctx->self->uim) {
    TransportError code = TRANSPORT_ERROR_FAILED;

    if (g_error_matches(error, QMI_CORE_ERROR, QMI_CORE_ERROR_UNSUPPORTED) ||
        g_error_matches(error, QMI_PROTOCOL_ERROR, QMI_PROTOCOL_ERROR_INVALID_SERVICE_TYPE))
      code = TRANSPORT_ERROR_NOT_SUPPORTED;
    else if (g_error_matches(error, QMI_PROTOCOL_ERROR, QMI_PROTOCOL_ERROR_CLIENT_IDS_EXHAUSTED))
      code = TRANSPORT_ERROR_BUSY;
    open_fail(task, code, "No UIM client on", error);
    return;
  }
  ctx->step++;
  open_step(task);
}

static void open_step(GTask *task)
{
  OpenContext *ctx = g_task_get_task_data(task);
  QmiTransport *self = ctx->self;
  GCancellable *cancellable = g_task_get_cancellable(task);
  guint timeout_s = MAX(1u, (timeout_ms(self) + 999) / 1000);
  QmiDeviceOpenFlags flags = QMI_DEVICE_OPEN_FLAGS_VERSION_INFO;

  switch (ctx->step) {
  case OPEN_STEP_FIRST:
    ctx->step++;
    /* fall through */
  case OPEN_STEP_QRTR_BUS:
    if (self->parent.kind == TRANSPORT_KIND_QRTR) {
#ifdef HAVE_QRTR
      qrtr_bus_new(timeout_ms(self), cancellable, on_qrtr_bus, task);
#else
      g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                              "esimd was built without QRTR support");
      g_object_unref(task);
#endif
      return;
    }
    ctx->step++;
    /* fall through */
  case OPEN_STEP_QRTR_NODE:
#ifdef HAVE_QRTR
    if (self->parent.kind == TRANSPORT_KIND_QRTR) {
      qrtr_bus_wait_for_node(self->bus, ctx->qrtr_node_id, timeout_ms(self), cancellable,
                             on_qrtr_node, task);
      return;
    }
#endif
    ctx->step++;
    /* fall through */
  case OPEN_STEP_DEVICE_NEW:
#ifdef HAVE_QRTR
    if (ctx->node) {
      qmi_device_new_from_node(ctx->node, cancellable, on_device_new, task);
      return;
    }
#endif
    {
      g_autoptr(GFile) file = g_file_new_for_path(self->parent.port);

      qmi_device_new(file, cancellable, on_device_new, task);
    }
    return;
  case OPEN_STEP_DEVICE_OPEN:
    /*
     * Through qmi-proxy the modem is shared (ModemManager uses it too): a
     * CTL Sync would release every other program's clients, so it is only
     * sent when we own the port alone. QRTR has no proxy and no CTL sync.
     */
    if (self->parent.kind == TRANSPORT_KIND_QMI) {
      if (self->parent.flags & TRANSPORT_OPEN_FLAGS_NO_PROXY)
        flags |= QMI_DEVICE_OPEN_FLAGS_SYNC;
      else
        flags |= QMI_DEVICE_OPEN_FLAGS_PROXY;
    }
    qmi_device_open(self->device, flags, timeout_s, cancellable, on_device_open, task);
    return;
  case OPEN_STEP_ALLOCATE_CLIENT:
    qmi_device_allocate_client(self->device, QMI_SERVICE_UIM, QMI_CID_NONE, timeout_s, cancellable,
                               on_client_allocated, task);
    return;
  case OPEN_STEP_LAST:
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
  g_assert_not_reached();
}

static void qmi_open(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  QmiTransport *self = qmi_transport(t);
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  OpenContext *ctx = g_new0(OpenContext, 1);

  g_task_set_source_tag(task, (gpointer)&tag_open);
  ctx->self = self;
  g_task_set_task_data(task, ctx, (GDestroyNotify)open_context_free);
  if (self->device) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "The QMI port %s is open already", t->port);
    g_object_unref(task);
    return;
  }
  if (t->kind == TRANSPORT_KIND_QRTR) {
    guint64 node;

    if (!g_ascii_string_to_unsigned(t->port + strlen("qrtr:"), 10, 0, G_MAXUINT32, &node, NULL)) {
      g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                              "\"%s\" is no QRTR node (qrtr:N)", t->port);
      g_object_unref(task);
      return;
    }
    ctx->qrtr_node_id = (guint32)node;
  }
  open_step(task);
}

/* ---- close -------------------------------------------------------------- */

typedef enum {
  CLOSE_STEP_FIRST,
  CLOSE_STEP_RELEASE_CLIENT,
  CLOSE_STEP_CLOSE_DEVICE,
  CLOSE_STEP_LAST,
} CloseStep;

typedef struct {
  QmiTransport *self;
  CloseStep step;
} CloseContext;

static void close_step(GTask *task);

/* Every request still waiting fails now; libqmi forgets the transactions. */
static void fail_requests(QmiTransport *self, TransportError code, const char *message)
{
  GList *copy = g_list_copy(self->requests);

  for (GList *l = copy; l; l = l->next) {
    Request *req = l->data;

    request_answer(req, NULL, g_error_new_literal(TRANSPORT_ERROR, code, message));
    g_cancellable_cancel(req->qmi_cancellable);
  }
  g_list_free(copy);
}

static void on_client_released(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  CloseContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!qmi_device_release_client_finish(QMI_DEVICE(source), res, &error))
    g_debug("Releasing a client on %s failed: %s", ctx->self->parent.port, error->message);
  /* Again through the release step while a client is left. */
  if (!ctx->self->dms && !ctx->self->uim)
    ctx->step++;
  close_step(task);
}

static void on_device_closed(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  CloseContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!qmi_device_close_finish(QMI_DEVICE(source), res, &error))
    g_debug("Closing %s failed: %s", ctx->self->parent.port, error->message);
  ctx->step++;
  close_step(task);
}

static void close_step(GTask *task)
{
  CloseContext *ctx = g_task_get_task_data(task);
  QmiTransport *self = ctx->self;

  switch (ctx->step) {
  case CLOSE_STEP_FIRST:
    fail_requests(self, TRANSPORT_ERROR_FAILED, "The transport was closed");
    ctx->step++;
    /* fall through */
  case CLOSE_STEP_RELEASE_CLIENT:
    /* The DMS client first, then UIM: one per pass through this step. */
    if ((self->dms || self->uim) && self->device) {
      QmiClient *client = self->dms ? g_steal_pointer(&self->dms) : g_steal_pointer(&self->uim);
      /* A modem that is gone has no CID to release: only forget it here. */
      QmiDeviceReleaseClientFlags flags = self->parent.removed || !qmi_device_is_open(self->device)
                                              ? QMI_DEVICE_RELEASE_CLIENT_FLAGS_NONE
                                              : QMI_DEVICE_RELEASE_CLIENT_FLAGS_RELEASE_CID;

      qmi_device_release_client(self->device, client, flags, 1, NULL, on_client_released, task);
      g_object_unref(client);
      return;
    }
    ctx->step++;
    /* fall through */
  case CLOSE_STEP_CLOSE_DEVICE:
    g_clear_object(&self->dms);
    g_clear_object(&self->uim);
    if (self->device && qmi_device_is_open(self->device)) {
      qmi_device_close_async(self->device, 1, NULL, on_device_closed, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case CLOSE_STEP_LAST:
    if (self->device) {
      device_disconnect(self);
      g_clear_object(&self->device);
    }
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
  g_assert_not_reached();
}

static void qmi_close(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                      gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  CloseContext *ctx = g_new0(CloseContext, 1);

  g_task_set_source_tag(task, (gpointer)&tag_close);
  ctx->self = qmi_transport(t);
  g_task_set_task_data(task, ctx, g_free);
  close_step(task);
}

static void qmi_finalize(Transport *t)
{
  QmiTransport *self = qmi_transport(t);

  fail_requests(self, TRANSPORT_ERROR_FAILED, "The transport was freed");
  for (GList *l = self->requests; l; l = l->next)
    ((Request *)l->data)->self = NULL;
  g_list_free(self->requests);
  self->requests = NULL;
  if (self->device && self->removed_id)
    g_signal_handler_disconnect(self->device, self->removed_id);
  g_clear_object(&self->dms);
  g_clear_object(&self->uim);
  g_clear_object(&self->device);
#ifdef HAVE_QRTR
  g_clear_object(&self->bus);
#endif
  g_array_unref(self->logical_slots);
}

static const TransportOps qmi_ops = {
    .open = qmi_open,
    .open_finish = finish_boolean,
    .list_slots = qmit_list_slots,
    .list_slots_finish = qmit_list_slots_finish,
    .open_channel = qmit_open_channel,
    .open_channel_finish = qmit_open_channel_finish,
    .transmit = qmit_transmit,
    .transmit_finish = qmit_transmit_finish,
    .close_channel = qmit_close_channel,
    .close_channel_finish = finish_boolean,
    .switch_slot = qmit_switch_slot,
    .switch_slot_finish = finish_boolean,
    .reload_sim = qmit_reload_sim,
    .reload_sim_finish = finish_boolean,
    .get_imei = qmit_get_imei,
    .get_imei_finish = qmit_get_imei_finish,
    .get_rats = qmit_get_rats,
    .get_rats_finish = qmit_get_rats_finish,
    .close = qmi_close,
    .close_finish = finish_boolean,
    .finalize = qmi_finalize,
};

/*
 * A port named "qrtr:N" is QRTR node N (modems inside the SoC, e.g. the
 * Snapdragon laptops and phones). That path shares everything above but
 * device creation; it has not been tried on hardware, since the machines
 * this was developed on have no AF_QIPCRTR sockets.
 */
Transport *transport_new_qmi(const char *port, TransportOpenFlags flags)
{
  QmiTransport *self = g_new0(QmiTransport, 1);

  self->parent.ops = &qmi_ops;
  self->parent.kind = g_str_has_prefix(port, "qrtr:") ? TRANSPORT_KIND_QRTR : TRANSPORT_KIND_QMI;
  self->parent.port = g_strdup(port);
  self->parent.flags = flags;
  self->has_slot_status = TRANSPORT_TRISTATE_UNKNOWN;
  self->logical_slots = g_array_new(FALSE, TRUE, sizeof(guint8));
  return &self->parent;
}
