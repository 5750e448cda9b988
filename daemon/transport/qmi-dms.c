/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMI backend's DMS side: what the modem says about itself. DMS Get IDs
 * (0x0025) for the IMEI, DMS Get Capabilities (0x0020) for the radio
 * technologies. Both go through one DMS client, allocated on the first read
 * (through qmi-proxy when the port is shared) and kept until close; the
 * messages are built by hand, as the UIM ones are, so that they go through
 * the same request timeout and cancellation.
 */
#include "transport/qmi-private.h"

typedef enum {
  DMS_STEP_FIRST,
  DMS_STEP_ALLOCATE_CLIENT,
  DMS_STEP_REQUEST,
  DMS_STEP_LAST,
} DmsStep;

typedef struct {
  QmiTransport *self;
  DmsStep step;
  guint16 msgid; /* DMS_GET_IDS or DMS_GET_CAPABILITIES */
  gchar *imei;
  guint rats;
} DmsContext;

static void dms_context_free(DmsContext *ctx)
{
  g_free(ctx->imei);
  g_free(ctx);
}

static void dms_step(GTask *task);

static void dms_fail(GTask *task, GError *error)
{
  g_task_return_error(task, error);
  g_object_unref(task);
}

static void dms_client_allocated(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  DmsContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  QmiClient *dms = qmi_device_allocate_client_finish(QMI_DEVICE(source), res, &error);

  if (!dms) {
    TransportError code = TRANSPORT_ERROR_FAILED;

    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      dms_fail(task, g_steal_pointer(&error));
      return;
    }
    if (g_error_matches(error, QMI_CORE_ERROR, QMI_CORE_ERROR_UNSUPPORTED) ||
        g_error_matches(error, QMI_PROTOCOL_ERROR, QMI_PROTOCOL_ERROR_INVALID_SERVICE_TYPE))
      code = TRANSPORT_ERROR_NOT_SUPPORTED;
    else if (g_error_matches(error, QMI_CORE_ERROR, QMI_CORE_ERROR_TIMEOUT))
      code = TRANSPORT_ERROR_TIMEOUT;
    dms_fail(task, g_error_new(TRANSPORT_ERROR, code, "No DMS client on %s: %s",
                               ctx->self->parent.port, error->message));
    return;
  }
  /* Two reads at once each allocate: keep one client, give the other back. */
  if (ctx->self->dms || !ctx->self->device) {
    if (ctx->self->device)
      qmi_device_release_client(ctx->self->device, dms, QMI_DEVICE_RELEASE_CLIENT_FLAGS_RELEASE_CID,
                                1, NULL, NULL, NULL);
    g_object_unref(dms);
  } else {
    ctx->self->dms = dms;
  }
  ctx->step++;
  dms_step(task);
}

/*
 * Get IDs: TLV 0x10 ESN, 0x11 IMEI, 0x12 MEID (libqmi's qmi-dms.json), each
 * a string filling its TLV. A 3GPP modem always has TLV 0x11; one without it
 * (CDMA only) has no IMEI to give.
 */
static gboolean parse_ids(DmsContext *ctx, QmiMessage *rsp, GError **error)
{
  g_autofree gchar *reported = NULL;
  gsize init, off = 0;

  init = qmi_message_tlv_read_init(rsp, 0x11, NULL, NULL);
  if (!init || !qmi_message_tlv_read_string(rsp, init, &off, 0, 0, &reported, NULL)) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                "The modem on %s reports no IMEI", ctx->self->parent.port);
    return FALSE;
  }
  ctx->imei = transport_parse_imei(reported, error);
  return ctx->imei != NULL;
}

/*
 * Get Capabilities: TLV 0x01 Info = max TX rate (u32), max RX rate (u32),
 * data service capability (u8), SIM capability (u8), then the radio
 * interface list, a u8 count of u8 QmiDmsRadioInterface values. QMI does
 * not tell NR's core network apart: 5GNR counts as NR with the 4G core, the
 * one every 5G modem has (3GPP's first NR deployment option, SA came later).
 */
static gboolean parse_capabilities(DmsContext *ctx, QmiMessage *rsp, GError **error)
{
  gsize init, off = 0;
  guint32 rate;
  guint8 u8, count, radio;

  init = qmi_message_tlv_read_init(rsp, 0x01, NULL, NULL);
  if (!init || !qmi_message_tlv_read_guint32(rsp, init, &off, QMI_ENDIAN_LITTLE, &rate, NULL) ||
      !qmi_message_tlv_read_guint32(rsp, init, &off, QMI_ENDIAN_LITTLE, &rate, NULL) ||
      !qmi_message_tlv_read_guint8(rsp, init, &off, &u8, NULL) ||
      !qmi_message_tlv_read_guint8(rsp, init, &off, &u8, NULL) ||
      !qmi_message_tlv_read_guint8(rsp, init, &off, &count, NULL)) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                "The modem on %s sent DMS Get Capabilities without its Info TLV",
                ctx->self->parent.port);
    return FALSE;
  }
  ctx->rats = 0;
  for (guint i = 0; i < count; i++) {
    if (!qmi_message_tlv_read_guint8(rsp, init, &off, &radio, NULL)) {
      g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                  "The modem on %s lists %u radio interfaces but sent %u", ctx->self->parent.port,
                  count, i);
      return FALSE;
    }
    switch (radio) {
    case QMI_DMS_RADIO_INTERFACE_GSM:
      ctx->rats |= TRANSPORT_RAT_GERAN;
      break;
    case QMI_DMS_RADIO_INTERFACE_UMTS:
      ctx->rats |= TRANSPORT_RAT_UTRAN;
      break;
    case QMI_DMS_RADIO_INTERFACE_LTE:
      ctx->rats |= TRANSPORT_RAT_EUTRAN;
      break;
    case QMI_DMS_RADIO_INTERFACE_5GNR:
      ctx->rats |= TRANSPORT_RAT_NR_NSA;
      break;
    default: /* CDMA2000, TD-SCDMA: nothing SGP.22 DeviceInfo describes as 3GPP */
      break;
    }
  }
  return TRUE;
}

static void dms_request_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  DmsContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(QmiMessage) rsp = qmit_send_request_finish_ok(res, ctx->msgid, 0, &error);
  gboolean ok;

  if (!rsp) {
    dms_fail(task, g_steal_pointer(&error));
    return;
  }
  ok = ctx->msgid == DMS_GET_IDS ? parse_ids(ctx, rsp, &error)
                                 : parse_capabilities(ctx, rsp, &error);
  if (!ok) {
    dms_fail(task, g_steal_pointer(&error));
    return;
  }
  ctx->step++;
  dms_step(task);
}

static void dms_step(GTask *task)
{
  DmsContext *ctx = g_task_get_task_data(task);
  QmiTransport *self = ctx->self;
  GCancellable *cancellable = g_task_get_cancellable(task);

  switch (ctx->step) {
  case DMS_STEP_FIRST:
    if (!self->device || !self->uim) {
      dms_fail(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                                 "The QMI port %s is not open", self->parent.port));
      return;
    }
    ctx->step++;
    /* fall through */
  case DMS_STEP_ALLOCATE_CLIENT:
    if (!self->dms) {
      qmi_device_allocate_client(self->device, QMI_SERVICE_DMS, QMI_CID_NONE,
                                 MAX(1u, (timeout_ms(self) + 999) / 1000), cancellable,
                                 dms_client_allocated, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case DMS_STEP_REQUEST: {
    g_autoptr(QmiMessage) msg =
        qmi_message_new(QMI_SERVICE_DMS, qmi_client_get_cid(self->dms),
                        qmi_client_get_next_transaction_id(self->dms), ctx->msgid);

    qmit_send_request(self, msg, 0, cancellable, dms_request_done, task);
    return;
  }
  case DMS_STEP_LAST:
    if (ctx->msgid == DMS_GET_IDS)
      g_task_return_pointer(task, g_steal_pointer(&ctx->imei), g_free);
    else
      g_task_return_int(task, ctx->rats);
    g_object_unref(task);
    return;
  }
  g_assert_not_reached();
}

static void dms_read(Transport *t, guint16 msgid, gconstpointer tag, GCancellable *cancellable,
                     GAsyncReadyCallback cb, gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  DmsContext *ctx = g_new0(DmsContext, 1);

  g_task_set_source_tag(task, (gpointer)tag);
  ctx->self = qmi_transport(t);
  ctx->msgid = msgid;
  g_task_set_task_data(task, ctx, (GDestroyNotify)dms_context_free);
  dms_step(task);
}

void qmit_get_imei(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  dms_read(t, DMS_GET_IDS, &tag_get_imei, cancellable, cb, data);
}

gchar *qmit_get_imei_finish(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

void qmit_get_rats(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  dms_read(t, DMS_GET_CAPABILITIES, &tag_get_rats, cancellable, cb, data);
}

gboolean qmit_get_rats_finish(Transport *t, GAsyncResult *res, guint *rats, GError **error)
{
  gssize v = g_task_propagate_int(G_TASK(res), error);

  if (v < 0)
    return FALSE;
  *rats = (guint)v;
  return TRUE;
}
