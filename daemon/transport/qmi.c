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
 * Slots: the transport API numbers physical slots. UIM requests name a
 * logical slot; Get Slot Status tells which physical slot each logical slot
 * is mapped to. A modem without Get Slot Status has one slot, 1 = 1.
 */
#include "config.h"

#include <libqmi-glib.h>
#include <string.h>

#include "transport/transport.h"

#define UIM_RESET 0x0000
#define UIM_GET_CARD_STATUS 0x002F
#define UIM_POWER_OFF_SIM 0x0030
#define UIM_POWER_ON_SIM 0x0031
#define UIM_SEND_APDU 0x003B
#define UIM_LOGICAL_CHANNEL 0x003F
#define UIM_OPEN_LOGICAL_CHANNEL 0x0042
#define UIM_SWITCH_SLOT 0x0046
#define UIM_GET_SLOT_STATUS 0x0047

#define DEFAULT_TIMEOUT_MS 10000
/* How often, and how many times, to look for the card after a slot switch
 * or a power cycle: modems take from a few hundred ms to seconds. */
#define CARD_POLL_INTERVAL_MS 250
#define CARD_POLL_ATTEMPTS 40

typedef struct _QmiTransport QmiTransport;

/* One UIM request in flight. It outlives its GTask when the caller gave up
 * (timeout, cancel) so that a late answer can still be cleaned up after. */
typedef struct {
  QmiTransport *self; /* NULL once the transport is finalized */
  GTask *task;        /* NULL once answered */
  guint16 msgid;
  guint8 logical_slot;
  GMainContext *context;
  GCancellable *qmi_cancellable; /* cancelled when the transport closes */
  GCancellable *cancellable;     /* the caller's */
  gulong cancel_id;
  GSource *timer;
  GSource *cancel_idle;
} Request;

struct _QmiTransport {
  Transport parent;
  QmiDevice *device;
  QmiClient *uim;
  gulong removed_id;
  GList *requests; /* Request*, in flight */
  TransportTristate has_slot_status;
  /* Logical slot per physical slot (index slot - 1), 0 when inactive; empty
   * until the modem told us. */
  GArray *logical_slots;
#ifdef HAVE_QRTR
  QrtrBus *bus;
#endif
};

static const char tag_request;
static const char tag_open;
static const char tag_list_slots;
static const char tag_open_channel;
static const char tag_transmit;
static const char tag_close_channel;
static const char tag_switch_slot;
static const char tag_reload_sim;
static const char tag_close;

static QmiTransport *qmi_transport(Transport *t)
{
  return (QmiTransport *)t;
}

static guint timeout_ms(QmiTransport *self)
{
  return self->parent.timeout_ms ? self->parent.timeout_ms : DEFAULT_TIMEOUT_MS;
}

/* libqmi counts in whole seconds; it only cleans up after our own timer
 * has already answered the caller. */
static guint qmi_timeout_s(QmiTransport *self)
{
  return (timeout_ms(self) + 999) / 1000 + 1;
}

static const char *uim_message_name(guint16 msgid)
{
  switch (msgid) {
  case UIM_RESET:
    return "Reset";
  case UIM_GET_CARD_STATUS:
    return "Get Card Status";
  case UIM_POWER_OFF_SIM:
    return "Power Off SIM";
  case UIM_POWER_ON_SIM:
    return "Power On SIM";
  case UIM_SEND_APDU:
    return "Send APDU";
  case UIM_LOGICAL_CHANNEL:
    return "Logical Channel";
  case UIM_OPEN_LOGICAL_CHANNEL:
    return "Open Logical Channel";
  case UIM_SWITCH_SLOT:
    return "Switch Slot";
  case UIM_GET_SLOT_STATUS:
    return "Get Slot Status";
  }
  return "UIM request";
}

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
static GError *map_qmi_error(guint16 msgid, guint16 code)
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
                     uim_message_name(msgid), name ? name : "unknown", code);
}

/* Reads the result TLV (0x02): FALSE with a PROTOCOL error when it is
 * missing; otherwise *code is 0 for success or the QMI error. */
static gboolean response_get_result(QmiMessage *msg, guint16 msgid, guint16 *code, GError **error)
{
  g_autoptr(GError) inner = NULL;
  guint16 status = 0, err = 0;
  gsize init, off = 0;

  init = qmi_message_tlv_read_init(msg, 0x02, NULL, &inner);
  if (!init || !qmi_message_tlv_read_guint16(msg, init, &off, QMI_ENDIAN_LITTLE, &status, &inner) ||
      !qmi_message_tlv_read_guint16(msg, init, &off, QMI_ENDIAN_LITTLE, &err, &inner)) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                "The modem's answer to %s has no valid result: %s", uim_message_name(msgid),
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

static void destroy_source(GSource **source)
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

  destroy_source(&req->timer);
  destroy_source(&req->cancel_idle);
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
                             "The modem did not answer %s in time", uim_message_name(req->msgid)));
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

static void send_request(QmiTransport *self, QmiMessage *msg, guint8 logical_slot,
                         GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data);

static void on_abandoned_close_done(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GError) error = NULL;
  QmiMessage *msg = g_task_propagate_pointer(G_TASK(res), &error);

  if (msg)
    qmi_message_unref(msg);
  else
    g_debug("Closing an abandoned logical channel failed: %s", error->message);
}

static QmiMessage *uim_message_new(QmiTransport *self, guint16 msgid)
{
  return qmi_message_new(QMI_SERVICE_UIM, qmi_client_get_cid(self->uim),
                         qmi_client_get_next_transaction_id(self->uim), msgid);
}

static gboolean write_u8_tlv(QmiMessage *msg, guint8 type, guint8 value, GError **error)
{
  gsize init = qmi_message_tlv_write_init(msg, type, error);

  return init && qmi_message_tlv_write_guint8(msg, value, error) &&
         qmi_message_tlv_write_complete(msg, init, error);
}

/* A TLV holding a byte array with a 1- or 2-byte little-endian length prefix. */
static gboolean write_array_tlv(QmiMessage *msg, guint8 type, gboolean prefix16, const guint8 *data,
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

static guint8 read_u8_tlv(QmiMessage *msg, guint8 type, gboolean *found)
{
  gsize init, off = 0;
  guint8 v = 0;

  init = qmi_message_tlv_read_init(msg, type, NULL, NULL);
  *found = init && qmi_message_tlv_read_guint8(msg, init, &off, &v, NULL);
  return v;
}

/* A byte array TLV with a 1- or 2-byte length prefix; NULL when absent or
 * shorter than its prefix says. */
static GBytes *read_array_tlv(QmiMessage *msg, guint8 type, gboolean prefix16)
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

  if (!response_get_result(response, req->msgid, &code, NULL) || code)
    return;
  channel = read_u8_tlv(response, 0x10, &found);
  if (!found || !self->uim || self->parent.removed)
    return;
  g_debug("Closing logical channel %u that was opened too late", channel);
  msg = uim_message_new(self, UIM_LOGICAL_CHANNEL);
  if (!write_u8_tlv(msg, 0x01, req->logical_slot, NULL) || !write_u8_tlv(msg, 0x11, channel, NULL))
    return;
  send_request(self, msg, req->logical_slot, NULL, on_abandoned_close_done, NULL);
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
      request_answer(req, NULL, map_core_error(self, uim_message_name(req->msgid), error));
  } else if (response && self && req->msgid == UIM_OPEN_LOGICAL_CHANNEL) {
    close_abandoned_channel(self, req, response);
  }
  /* The caller's callback may have freed the transport: look again. */
  if (req->self)
    req->self->requests = g_list_remove(req->self->requests, req);
  request_free(req);
}

/* Sends one UIM request; the task returns the response (any QMI result) or
 * a TransportError when there was none. */
static void send_request(QmiTransport *self, QmiMessage *msg, guint8 logical_slot,
                         GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, cb, data);
  Request *req;

  g_task_set_source_tag(task, (gpointer)&tag_request);
  if (g_task_return_error_if_cancelled(task))
    return;
  if (!self->device || !self->uim) {
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

static QmiMessage *send_request_finish(GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* The answer to a request the modem carried out, or NULL with the error: no
 * answer, a malformed one, or its QMI error code (but for allowed, which
 * counts as success; 0 when none does). */
static QmiMessage *send_request_finish_ok(GAsyncResult *res, guint16 msgid, guint16 allowed,
                                          GError **error)
{
  g_autoptr(QmiMessage) msg = send_request_finish(res, error);
  guint16 code;

  if (!msg || !response_get_result(msg, msgid, &code, error))
    return NULL;
  if (code && code != allowed) {
    g_propagate_error(error, map_qmi_error(msgid, code));
    return NULL;
  }
  return g_steal_pointer(&msg);
}

/* The logical slot that reaches a physical slot now. */
static gboolean logical_slot_for(QmiTransport *self, guint slot, guint8 *logical, GError **error)
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

  msg = send_request_finish(res, &error);
  if (!msg || !response_get_result(msg, msgid, &code, &error)) {
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
    g_task_return_error(task, map_qmi_error(msgid, code));
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
      msg = uim_message_new(self, UIM_GET_SLOT_STATUS);
      send_request(self, msg, 0, g_task_get_cancellable(task), on_slots_response, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case SLOTS_STEP_CARD_STATUS:
    msg = uim_message_new(self, UIM_GET_CARD_STATUS);
    send_request(self, msg, 0, g_task_get_cancellable(task), on_slots_response, task);
    return;
  case SLOTS_STEP_LAST:
    g_task_return_pointer(task, g_steal_pointer(&ctx->slots), (GDestroyNotify)g_ptr_array_unref);
    g_object_unref(task);
    return;
  }
  g_assert_not_reached();
}

static void qmi_list_slots(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                           gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  SlotsContext *ctx = g_new0(SlotsContext, 1);

  g_task_set_source_tag(task, (gpointer)&tag_list_slots);
  ctx->self = qmi_transport(t);
  g_task_set_task_data(task, ctx, (GDestroyNotify)slots_context_free);
  slots_step(task);
}

static GPtrArray *qmi_list_slots_finish(Transport *t, GAsyncResult *res, GError **error)
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
  if (!logical_slot_for(self, slot, logical, &error)) {
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

  msg = send_request_finish(res, &error);
  if (!msg || !response_get_result(msg, UIM_OPEN_LOGICAL_CHANNEL, &code, &error)) {
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
      g_task_return_error(task, map_qmi_error(UIM_OPEN_LOGICAL_CHANNEL, code));
    return;
  }
  channel = read_u8_tlv(msg, 0x10, &found);
  if (!found || channel < 1 || channel > 19) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                            "The modem opened no valid logical channel");
    return;
  }
  g_task_return_int(task, channel);
}

static void qmi_open_channel(Transport *t, guint slot, GBytes *aid, GCancellable *cancellable,
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
  msg = uim_message_new(self, UIM_OPEN_LOGICAL_CHANNEL);
  if (!write_u8_tlv(msg, 0x01, logical, &error) ||
      !write_array_tlv(msg, 0x10, FALSE, p, len, &error)) {
    g_task_return_error(task, error);
    g_object_unref(task);
    return;
  }
  send_request(self, msg, logical, cancellable, on_open_channel, task);
}

static guint qmi_open_channel_finish(Transport *t, GAsyncResult *res, GError **error)
{
  gssize channel = g_task_propagate_int(G_TASK(res), error);

  return channel > 0 ? (guint)channel : 0;
}

static void on_transmit(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GTask) task = data;
  GError *error = NULL;
  g_autoptr(QmiMessage) msg = send_request_finish_ok(res, UIM_SEND_APDU, 0, &error);
  GBytes *rsp;

  if (!msg) {
    g_task_return_error(task, error);
    return;
  }
  rsp = read_array_tlv(msg, 0x10, TRUE);
  if (!rsp || g_bytes_get_size(rsp) < 2) {
    if (rsp)
      g_bytes_unref(rsp);
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                            "The modem answered Send APDU without a response APDU");
    return;
  }
  g_task_return_pointer(task, rsp, (GDestroyNotify)g_bytes_unref);
}

static void qmi_transmit(Transport *t, guint slot, guint channel, GBytes *apdu,
                         GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
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
  msg = uim_message_new(self, UIM_SEND_APDU);
  if (!write_u8_tlv(msg, 0x01, logical, &error) ||
      !write_array_tlv(msg, 0x02, TRUE, p, len, &error) ||
      !write_u8_tlv(msg, 0x10, (guint8)channel, &error)) {
    g_task_return_error(task, error);
    g_object_unref(task);
    return;
  }
  send_request(self, msg, logical, cancellable, on_transmit, task);
}

static GBytes *qmi_transmit_finish(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

static void on_close_channel(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GTask) task = data;
  GError *error = NULL;
  g_autoptr(QmiMessage) msg = send_request_finish_ok(res, UIM_LOGICAL_CHANNEL, 0, &error);

  if (!msg) {
    g_task_return_error(task, error);
    return;
  }
  g_task_return_boolean(task, TRUE);
}

static void qmi_close_channel(Transport *t, guint slot, guint channel, GCancellable *cancellable,
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
  msg = uim_message_new(self, UIM_LOGICAL_CHANNEL);
  if (!write_u8_tlv(msg, 0x01, logical, &error) ||
      !write_u8_tlv(msg, 0x11, (guint8)channel, &error)) {
    g_task_return_error(task, error);
    g_object_unref(task);
    return;
  }
  send_request(self, msg, logical, cancellable, on_close_channel, task);
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
  destroy_source(&ctx->poll_timer);
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
      send_request_finish_ok(res, msgid, QMI_PROTOCOL_ERROR_NO_EFFECT, &error);

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

  slots = qmi_list_slots_finish(&ctx->self->parent, res, &error);
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
  g_autoptr(QmiMessage) msg = uim_message_new(self, msgid);
  GError *error = NULL;
  gboolean ok;

  if (msgid == UIM_SWITCH_SLOT) {
    gsize init = 0;

    /* Logical slot 1 is the one the modem's SIM stack uses. */
    ok = write_u8_tlv(msg, 0x01, 1, &error);
    if (ok)
      init = qmi_message_tlv_write_init(msg, 0x02, &error);
    ok = ok && init && qmi_message_tlv_write_guint32(msg, QMI_ENDIAN_LITTLE, ctx->slot, &error) &&
         qmi_message_tlv_write_complete(msg, init, &error);
  } else {
    ok = write_u8_tlv(msg, 0x01, ctx->logical, &error);
  }
  if (!ok) {
    card_fail(task, error);
    return;
  }
  send_request(self, msg, ctx->logical, g_task_get_cancellable(task), on_card_command, task);
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
    qmi_list_slots(&ctx->self->parent, g_task_get_cancellable(task), on_card_poll, task);
    return;
  case CARD_STEP_LAST:
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
  g_assert_not_reached();
}

static void qmi_switch_slot(Transport *t, guint slot, GCancellable *cancellable,
                            GAsyncReadyCallback cb, gpointer data)
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
static void qmi_reload_sim(Transport *t, guint slot, GCancellable *cancellable,
                           GAsyncReadyCallback cb, gpointer data)
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
    g_debug("Releasing the UIM client on %s failed: %s", ctx->self->parent.port, error->message);
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
    if (self->uim && self->device) {
      QmiClient *uim = g_steal_pointer(&self->uim);
      /* A modem that is gone has no CID to release: only forget it here. */
      QmiDeviceReleaseClientFlags flags = self->parent.removed || !qmi_device_is_open(self->device)
                                              ? QMI_DEVICE_RELEASE_CLIENT_FLAGS_NONE
                                              : QMI_DEVICE_RELEASE_CLIENT_FLAGS_RELEASE_CID;

      qmi_device_release_client(self->device, uim, flags, 1, NULL, on_client_released, task);
      g_object_unref(uim);
      return;
    }
    ctx->step++;
    /* fall through */
  case CLOSE_STEP_CLOSE_DEVICE:
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
    .list_slots = qmi_list_slots,
    .list_slots_finish = qmi_list_slots_finish,
    .open_channel = qmi_open_channel,
    .open_channel_finish = qmi_open_channel_finish,
    .transmit = qmi_transmit,
    .transmit_finish = qmi_transmit_finish,
    .close_channel = qmi_close_channel,
    .close_channel_finish = finish_boolean,
    .switch_slot = qmi_switch_slot,
    .switch_slot_finish = finish_boolean,
    .reload_sim = qmi_reload_sim,
    .reload_sim_finish = finish_boolean,
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
