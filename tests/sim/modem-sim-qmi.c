/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * modem-sim QMI mode: a QMUX peer with the CTL service, the parts of the
 * UIM service (0x0B) that an LPA uses, and DMS (0x02) Get IDs for the IMEI. Frames are parsed and
 * built here by hand, independently of libqmi, so that the simulator checks libqmi's bytes instead
 * of agreeing with them by construction.
 *
 * QMUX frame: 0x01 marker, u16 length (everything after the marker), u8
 * flags (0x80 from the modem), u8 service, u8 client id, then the SDU. CTL
 * SDUs carry a u8 transaction id, other services a u16 one. TLVs are u8
 * type, u16 length, value; every response starts with the result TLV 0x02
 * (u16 status, u16 QMI error).
 *
 * This file holds the framing, CTL and DMS; modem-sim-qmi-uim.c the UIM
 * service. The modem has one logical slot, mapped to the active physical slot, as
 * the common single-SIM-stack Qualcomm firmwares do; Switch Slot remaps it.
 */
#include "modem-sim-qmi-private.h"

#include <string.h>

#define CTL_SET_INSTANCE_ID 0x0020
#define CTL_GET_VERSION_INFO 0x0021
#define CTL_ALLOCATE_CID 0x0022
#define CTL_RELEASE_CID 0x0023
#define CTL_SET_DATA_FORMAT 0x0026
#define CTL_SYNC 0x0027

#define DMS_GET_CAPABILITIES 0x0020
#define DMS_GET_IDS 0x0025

QmiSim *qmi_sim(ModemSim *ms)
{
  QmiSim *qs = modem_sim_get_protocol_data(ms);

  if (!qs) {
    qs = g_new0(QmiSim, 1);
    qs->error_rules = g_array_new(FALSE, FALSE, sizeof(ErrorRule));
    qs->malformed = g_array_new(FALSE, FALSE, sizeof(guint16));
    qs->next_cid = 1;
    modem_sim_set_protocol_data(ms, qs);
  }
  return qs;
}

void qmi_sim_put_u8(GByteArray *b, guint8 v)
{
  g_byte_array_append(b, &v, 1);
}

void qmi_sim_put_u16(GByteArray *b, guint16 v)
{
  guint8 le[2] = {v & 0xFF, v >> 8};

  g_byte_array_append(b, le, 2);
}

void qmi_sim_put_u32(GByteArray *b, guint32 v)
{
  guint8 le[4] = {v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, v >> 24};

  g_byte_array_append(b, le, 4);
}

guint16 qmi_sim_get_u16(const guint8 *p)
{
  return (guint16)(p[0] | (p[1] << 8));
}

void qmi_sim_put_tlv(GByteArray *b, guint8 type, const guint8 *value, gsize len)
{
  qmi_sim_put_u8(b, type);
  qmi_sim_put_u16(b, (guint16)len);
  if (len)
    g_byte_array_append(b, value, (guint)len);
}

void qmi_sim_put_result(GByteArray *b, guint16 error)
{
  guint8 v[4] = {error ? 1 : 0, 0, error & 0xFF, error >> 8};

  qmi_sim_put_tlv(b, 0x02, v, sizeof v);
}

/* Finds TLV type in the request; NULL when absent. */
const guint8 *qmi_sim_find_tlv(const QmiRequest *req, guint8 type, gsize *len)
{
  gsize off = 0;

  while (off + 3 <= req->tlvs_len) {
    guint8 t = req->tlvs[off];
    gsize l = qmi_sim_get_u16(req->tlvs + off + 1);

    if (off + 3 + l > req->tlvs_len)
      return NULL;
    if (t == type) {
      *len = l;
      return req->tlvs + off + 3;
    }
    off += 3 + l;
  }
  return NULL;
}

gboolean qmi_sim_find_u8(const QmiRequest *req, guint8 type, guint8 *out)
{
  gsize len;
  const guint8 *v = qmi_sim_find_tlv(req, type, &len);

  if (!v || len < 1)
    return FALSE;
  *out = v[0];
  return TRUE;
}

void qmi_sim_send_frame(ModemSim *ms, guint8 service, guint8 cid, guint8 flags, guint16 tid,
                        guint16 msgid, GByteArray *tlvs)
{
  g_autoptr(GByteArray) f = g_byte_array_new();
  gsize sdu_len = (service == SERVICE_CTL ? 6 : 7) + tlvs->len;

  qmi_sim_put_u8(f, QMUX_MARKER);
  qmi_sim_put_u16(f, (guint16)(QMUX_HEADER_LEN - 1 + sdu_len));
  qmi_sim_put_u8(f, QMUX_FLAG_FROM_SERVICE);
  qmi_sim_put_u8(f, service);
  qmi_sim_put_u8(f, cid);
  qmi_sim_put_u8(f, flags);
  if (service == SERVICE_CTL)
    qmi_sim_put_u8(f, (guint8)tid);
  else
    qmi_sim_put_u16(f, tid);
  qmi_sim_put_u16(f, msgid);
  qmi_sim_put_u16(f, (guint16)tlvs->len);
  g_byte_array_append(f, tlvs->data, tlvs->len);
  modem_sim_write(ms, f->data, f->len);
}

void qmi_sim_respond(ModemSim *ms, const QmiRequest *req, GByteArray *tlvs)
{
  qmi_sim_send_frame(ms, req->service, req->cid,
                     req->service == SERVICE_CTL ? CTL_FLAG_RESPONSE : SVC_FLAG_RESPONSE, req->tid,
                     req->msgid, tlvs);
}

void qmi_sim_respond_error(ModemSim *ms, const QmiRequest *req, guint16 error)
{
  g_autoptr(GByteArray) tlvs = g_byte_array_new();

  qmi_sim_put_result(tlvs, error);
  qmi_sim_respond(ms, req, tlvs);
}

/* ---- CTL ---------------------------------------------------------------- */

static void handle_ctl(ModemSim *ms, const QmiRequest *req)
{
  QmiSim *qs = qmi_sim(ms);
  g_autoptr(GByteArray) tlvs = g_byte_array_new();
  guint8 service, v[2];
  gsize len;
  const guint8 *p;

  switch (req->msgid) {
  case CTL_GET_VERSION_INFO:
    qmi_sim_put_result(tlvs, QMI_ERR_NONE);
    qmi_sim_put_u8(tlvs, 0x01);
    qmi_sim_put_u16(tlvs, 1 + 4 * 5);
    qmi_sim_put_u8(tlvs, 4);
    qmi_sim_put_u8(tlvs, SERVICE_CTL);
    qmi_sim_put_u16(tlvs, 1);
    qmi_sim_put_u16(tlvs, 5);
    qmi_sim_put_u8(tlvs, SERVICE_DMS);
    qmi_sim_put_u16(tlvs, 1);
    qmi_sim_put_u16(tlvs, 14);
    qmi_sim_put_u8(tlvs, SERVICE_UIM);
    qmi_sim_put_u16(tlvs, 1);
    qmi_sim_put_u16(tlvs, 46);
    qmi_sim_put_u8(tlvs, SERVICE_NAS);
    qmi_sim_put_u16(tlvs, 1);
    qmi_sim_put_u16(tlvs, 25);
    break;
  case CTL_ALLOCATE_CID:
    if (!qmi_sim_find_u8(req, 0x01, &service)) {
      qmi_sim_respond_error(ms, req, QMI_ERR_MISSING_ARGUMENT);
      return;
    }
    if (service != SERVICE_UIM && service != SERVICE_DMS && service != SERVICE_NAS) {
      qmi_sim_respond_error(ms, req, QMI_ERR_INVALID_SERVICE_TYPE);
      return;
    }
    if (qs->next_cid == 0xFF) {
      qmi_sim_respond_error(ms, req, QMI_ERR_CLIENT_IDS_EXHAUSTED);
      return;
    }
    v[0] = service;
    v[1] = qs->next_cid++;
    qmi_sim_put_result(tlvs, QMI_ERR_NONE);
    qmi_sim_put_tlv(tlvs, 0x01, v, 2);
    break;
  case CTL_RELEASE_CID:
    p = qmi_sim_find_tlv(req, 0x01, &len);
    if (!p || len < 2) {
      qmi_sim_respond_error(ms, req, QMI_ERR_MISSING_ARGUMENT);
      return;
    }
    qmi_sim_put_result(tlvs, QMI_ERR_NONE);
    qmi_sim_put_tlv(tlvs, 0x01, p, 2);
    break;
  case CTL_SET_INSTANCE_ID:
    qmi_sim_put_result(tlvs, QMI_ERR_NONE);
    qmi_sim_put_u8(tlvs, 0x01);
    qmi_sim_put_u16(tlvs, 2);
    qmi_sim_put_u16(tlvs, 0);
    break;
  case CTL_SET_DATA_FORMAT:
    qmi_sim_put_result(tlvs, QMI_ERR_NONE);
    qmi_sim_put_u8(tlvs, 0x10);
    qmi_sim_put_u16(tlvs, 2);
    qmi_sim_put_u16(tlvs, 1);
    break;
  case CTL_SYNC:
    qmi_sim_put_result(tlvs, QMI_ERR_NONE);
    break;
  default:
    qmi_sim_put_result(tlvs, QMI_ERR_INVALID_QMI_COMMAND);
    break;
  }
  qmi_sim_respond(ms, req, tlvs);
}

/* ---- DMS ---------------------------------------------------------------- */

/*
 * Get IDs: TLV 0x10 ESN, 0x11 IMEI, 0x12 MEID, each an ASCII string filling
 * its TLV (no length prefix). A GSM modem reports ESN "0" and its IMEI; a
 * modem without an IMEI (imei=) leaves TLV 0x11 out.
 */
/*
 * Get Capabilities: TLV 0x01 = max TX and RX channel rates (u32 each), data
 * service capability (u8), SIM capability (u8), and the radio interface
 * list (u8 count, u8 each: 4 GSM, 5 UMTS, 8 LTE, 10 5G NR). A modem that
 * does not say (rats=) refuses the command.
 */
static void put_capabilities(ModemSim *ms, GByteArray *tlvs)
{
  static const struct {
    ModemSimRat rats;
    guint8 radio;
  } radios[] = {
      {MODEM_SIM_RAT_GSM, 4},
      {MODEM_SIM_RAT_UMTS, 5},
      {MODEM_SIM_RAT_LTE, 8},
      {MODEM_SIM_RAT_NR_NSA | MODEM_SIM_RAT_NR_SA, 10},
  };
  guint rats = modem_sim_get_rats(ms);
  g_autoptr(GByteArray) info = g_byte_array_new();
  guint8 count = 0;

  if (!rats) {
    qmi_sim_put_result(tlvs, QMI_ERR_INVALID_QMI_COMMAND);
    return;
  }
  qmi_sim_put_result(tlvs, QMI_ERR_NONE);
  qmi_sim_put_u32(info, 50000000);  /* max TX rate, bps */
  qmi_sim_put_u32(info, 150000000); /* max RX rate, bps */
  qmi_sim_put_u8(info, 3);          /* data service: simultaneous CS and PS */
  qmi_sim_put_u8(info, 2);          /* SIM supported */
  for (gsize i = 0; i < G_N_ELEMENTS(radios); i++)
    count += (rats & radios[i].rats) ? 1 : 0;
  qmi_sim_put_u8(info, count);
  for (gsize i = 0; i < G_N_ELEMENTS(radios); i++) {
    if (rats & radios[i].rats)
      qmi_sim_put_u8(info, radios[i].radio);
  }
  qmi_sim_put_tlv(tlvs, 0x01, info->data, info->len);
}

static void handle_dms(ModemSim *ms, const QmiRequest *req)
{
  g_autoptr(GByteArray) tlvs = g_byte_array_new();
  const char *imei = modem_sim_get_imei(ms);

  if (qmi_sim_apply_error_rules(ms, req))
    return;
  switch (req->msgid) {
  case DMS_GET_IDS:
    qmi_sim_put_result(tlvs, QMI_ERR_NONE);
    qmi_sim_put_tlv(tlvs, 0x10, (const guint8 *)"0", 1);
    if (imei)
      qmi_sim_put_tlv(tlvs, 0x11, (const guint8 *)imei, strlen(imei));
    break;
  case DMS_GET_CAPABILITIES:
    put_capabilities(ms, tlvs);
    break;
  default:
    qmi_sim_put_result(tlvs, QMI_ERR_INVALID_QMI_COMMAND);
    break;
  }
  qmi_sim_respond(ms, req, tlvs);
}

/* ---- framing ------------------------------------------------------------ */

static gsize qmi_feed(ModemSim *ms, const guint8 *data, gsize len)
{
  QmiRequest req = {0};
  gsize total, hdr, sdu_len;
  const guint8 *sdu;

  if (data[0] != QMUX_MARKER) {
    const guint8 *next = memchr(data, QMUX_MARKER, len);

    g_debug("modem-sim qmi: skipping %zu bytes of noise", next ? (gsize)(next - data) : len);
    return next ? (gsize)(next - data) : len;
  }
  if (len < 3)
    return 0;
  total = 1 + (gsize)qmi_sim_get_u16(data + 1);
  if (total < QMUX_HEADER_LEN + 6)
    return 1; /* no valid frame is this short: resynchronise */
  if (len < total)
    return 0;

  req.service = data[4];
  req.cid = data[5];
  sdu = data + QMUX_HEADER_LEN;
  sdu_len = total - QMUX_HEADER_LEN;
  if (req.service == SERVICE_CTL) {
    hdr = 6;
    req.tid = sdu[1];
  } else {
    hdr = 7;
    if (sdu_len < hdr)
      return total;
    req.tid = qmi_sim_get_u16(sdu + 1);
  }
  req.msgid = qmi_sim_get_u16(sdu + hdr - 4);
  req.tlvs_len = qmi_sim_get_u16(sdu + hdr - 2);
  req.tlvs = sdu + hdr;
  if (hdr + req.tlvs_len > sdu_len) {
    qmi_sim_respond_error(ms, &req, QMI_ERR_MALFORMED_MESSAGE);
    return total;
  }

  if (req.service == SERVICE_CTL)
    handle_ctl(ms, &req);
  else if (req.service == SERVICE_UIM)
    qmi_sim_handle_uim(ms, &req);
  else if (req.service == SERVICE_DMS)
    handle_dms(ms, &req);
  else if (req.service == SERVICE_NAS)
    qmi_sim_handle_nas(ms, &req);
  else
    qmi_sim_respond_error(ms, &req, QMI_ERR_INVALID_SERVICE_TYPE);
  return total;
}

static gboolean parse_number(const char *s, guint max, guint *out)
{
  guint64 v;
  char *end = NULL;

  if (!s || !*s)
    return FALSE;
  v = g_ascii_strtoull(s, &end, 0);
  if (*end || v > max)
    return FALSE;
  *out = (guint)v;
  return TRUE;
}

static gboolean qmi_set_option(ModemSim *ms, const char *option, GError **error)
{
  QmiSim *qs = qmi_sim(ms);
  guint msgid, err;

  if (g_str_equal(option, "no-slot-status")) {
    qs->no_slot_status = TRUE;
    return TRUE;
  }
  if (g_str_has_prefix(option, "error=")) {
    g_auto(GStrv) parts = g_strsplit(option + strlen("error="), ":", 2);
    ErrorRule r;

    if (!parts[0] || !parts[1] || !parse_number(parts[0], G_MAXUINT16, &msgid) ||
        !parse_number(parts[1], G_MAXUINT16, &err) || err == 0) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                  "error= wants MSGID:QMIERR, e.g. error=0x003B:0x0010, got '%s'", option);
      return FALSE;
    }
    r.msgid = (guint16)msgid;
    r.error = (guint16)err;
    g_array_append_val(qs->error_rules, r);
    return TRUE;
  }
  if (g_str_has_prefix(option, "malformed=")) {
    guint16 id;

    if (!parse_number(option + strlen("malformed="), G_MAXUINT16, &msgid)) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                  "malformed= wants a UIM message id, got '%s'", option);
      return FALSE;
    }
    id = (guint16)msgid;
    g_array_append_val(qs->malformed, id);
    return TRUE;
  }
  if (g_str_equal(option, "clear-errors")) {
    g_array_set_size(qs->error_rules, 0);
    g_array_set_size(qs->malformed, 0);
    return TRUE;
  }
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Unknown QMI option '%s'", option);
  return FALSE;
}

static void qmi_finalize(ModemSim *ms)
{
  QmiSim *qs = modem_sim_get_protocol_data(ms);

  if (!qs)
    return;
  g_array_unref(qs->error_rules);
  g_array_unref(qs->malformed);
  g_free(qs);
  modem_sim_set_protocol_data(ms, NULL);
}

const ModemSimProtocolOps modem_sim_qmi_ops = {
    .feed = qmi_feed,
    .set_option = qmi_set_option,
    .finalize = qmi_finalize,
};
