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
 * The modem has one logical slot, mapped to the active physical slot, as
 * the common single-SIM-stack Qualcomm firmwares do; Switch Slot remaps it.
 */
#include "modem-sim.h"

#include <string.h>

#define QMUX_MARKER 0x01
#define QMUX_HEADER_LEN 6 /* marker, length, flags, service, client */
#define QMUX_FLAG_FROM_SERVICE 0x80

#define SERVICE_CTL 0x00
#define SERVICE_DMS 0x02
#define SERVICE_UIM 0x0B

#define CTL_FLAG_RESPONSE 0x01
#define SVC_FLAG_RESPONSE 0x02
#define SVC_FLAG_INDICATION 0x04

#define CTL_SET_INSTANCE_ID 0x0020
#define CTL_GET_VERSION_INFO 0x0021
#define CTL_ALLOCATE_CID 0x0022
#define CTL_RELEASE_CID 0x0023
#define CTL_SET_DATA_FORMAT 0x0026
#define CTL_SYNC 0x0027

#define DMS_GET_CAPABILITIES 0x0020
#define DMS_GET_IDS 0x0025

#define UIM_RESET 0x0000
#define UIM_GET_CARD_STATUS 0x002F
#define UIM_POWER_OFF_SIM 0x0030
#define UIM_POWER_ON_SIM 0x0031
#define UIM_SEND_APDU 0x003B
#define UIM_LOGICAL_CHANNEL 0x003F
#define UIM_OPEN_LOGICAL_CHANNEL 0x0042
#define UIM_SWITCH_SLOT 0x0046
#define UIM_GET_SLOT_STATUS 0x0047
#define UIM_SLOT_STATUS_INDICATION 0x0048

/* QMI error codes (the numbers are the modem's, see libqmi's QmiProtocolError). */
#define QMI_ERR_NONE 0
#define QMI_ERR_MALFORMED_MESSAGE 1
#define QMI_ERR_INTERNAL 3
#define QMI_ERR_CLIENT_IDS_EXHAUSTED 5
#define QMI_ERR_INVALID_CLIENT_ID 7
#define QMI_ERR_MISSING_ARGUMENT 17
#define QMI_ERR_NO_EFFECT 26
#define QMI_ERR_INVALID_SERVICE_TYPE 31
#define QMI_ERR_INVALID_ARGUMENT 48
#define QMI_ERR_DEVICE_NOT_READY 52
#define QMI_ERR_INSUFFICIENT_RESOURCES 68
#define QMI_ERR_INVALID_QMI_COMMAND 71
#define QMI_ERR_SIM_FILE_NOT_FOUND 80
#define QMI_ERR_NO_SIM 102

typedef struct {
  guint16 msgid;
  guint16 error;
} ErrorRule;

typedef struct {
  GArray *error_rules; /* ErrorRule */
  GArray *malformed;   /* guint16 message ids answered without a result TLV */
  gboolean no_slot_status;
  guint8 next_cid;
  gboolean powered_off; /* UIM Power Off SIM on the logical slot */
} QmiSim;

/* A request as parsed from the wire. */
typedef struct {
  guint8 service;
  guint8 cid;
  guint16 tid;
  guint16 msgid;
  const guint8 *tlvs;
  gsize tlvs_len;
} QmiRequest;

static QmiSim *qmi_sim(ModemSim *ms)
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

static void put_u8(GByteArray *b, guint8 v)
{
  g_byte_array_append(b, &v, 1);
}

static void put_u16(GByteArray *b, guint16 v)
{
  guint8 le[2] = {v & 0xFF, v >> 8};

  g_byte_array_append(b, le, 2);
}

static void put_u32(GByteArray *b, guint32 v)
{
  guint8 le[4] = {v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, v >> 24};

  g_byte_array_append(b, le, 4);
}

static guint16 get_u16(const guint8 *p)
{
  return (guint16)(p[0] | (p[1] << 8));
}

static void put_tlv(GByteArray *b, guint8 type, const guint8 *value, gsize len)
{
  put_u8(b, type);
  put_u16(b, (guint16)len);
  if (len)
    g_byte_array_append(b, value, (guint)len);
}

static void put_result(GByteArray *b, guint16 error)
{
  guint8 v[4] = {error ? 1 : 0, 0, error & 0xFF, error >> 8};

  put_tlv(b, 0x02, v, sizeof v);
}

/* Finds TLV type in the request; NULL when absent. */
static const guint8 *find_tlv(const QmiRequest *req, guint8 type, gsize *len)
{
  gsize off = 0;

  while (off + 3 <= req->tlvs_len) {
    guint8 t = req->tlvs[off];
    gsize l = get_u16(req->tlvs + off + 1);

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

static gboolean find_u8(const QmiRequest *req, guint8 type, guint8 *out)
{
  gsize len;
  const guint8 *v = find_tlv(req, type, &len);

  if (!v || len < 1)
    return FALSE;
  *out = v[0];
  return TRUE;
}

static void send_frame(ModemSim *ms, guint8 service, guint8 cid, guint8 flags, guint16 tid,
                       guint16 msgid, GByteArray *tlvs)
{
  g_autoptr(GByteArray) f = g_byte_array_new();
  gsize sdu_len = (service == SERVICE_CTL ? 6 : 7) + tlvs->len;

  put_u8(f, QMUX_MARKER);
  put_u16(f, (guint16)(QMUX_HEADER_LEN - 1 + sdu_len));
  put_u8(f, QMUX_FLAG_FROM_SERVICE);
  put_u8(f, service);
  put_u8(f, cid);
  put_u8(f, flags);
  if (service == SERVICE_CTL)
    put_u8(f, (guint8)tid);
  else
    put_u16(f, tid);
  put_u16(f, msgid);
  put_u16(f, (guint16)tlvs->len);
  g_byte_array_append(f, tlvs->data, tlvs->len);
  modem_sim_write(ms, f->data, f->len);
}

static void respond(ModemSim *ms, const QmiRequest *req, GByteArray *tlvs)
{
  send_frame(ms, req->service, req->cid,
             req->service == SERVICE_CTL ? CTL_FLAG_RESPONSE : SVC_FLAG_RESPONSE, req->tid,
             req->msgid, tlvs);
}

static void respond_error(ModemSim *ms, const QmiRequest *req, guint16 error)
{
  g_autoptr(GByteArray) tlvs = g_byte_array_new();

  put_result(tlvs, error);
  respond(ms, req, tlvs);
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
    put_result(tlvs, QMI_ERR_NONE);
    put_u8(tlvs, 0x01);
    put_u16(tlvs, 1 + 3 * 5);
    put_u8(tlvs, 3);
    put_u8(tlvs, SERVICE_CTL);
    put_u16(tlvs, 1);
    put_u16(tlvs, 5);
    put_u8(tlvs, SERVICE_DMS);
    put_u16(tlvs, 1);
    put_u16(tlvs, 14);
    put_u8(tlvs, SERVICE_UIM);
    put_u16(tlvs, 1);
    put_u16(tlvs, 46);
    break;
  case CTL_ALLOCATE_CID:
    if (!find_u8(req, 0x01, &service)) {
      respond_error(ms, req, QMI_ERR_MISSING_ARGUMENT);
      return;
    }
    if (service != SERVICE_UIM && service != SERVICE_DMS) {
      respond_error(ms, req, QMI_ERR_INVALID_SERVICE_TYPE);
      return;
    }
    if (qs->next_cid == 0xFF) {
      respond_error(ms, req, QMI_ERR_CLIENT_IDS_EXHAUSTED);
      return;
    }
    v[0] = service;
    v[1] = qs->next_cid++;
    put_result(tlvs, QMI_ERR_NONE);
    put_tlv(tlvs, 0x01, v, 2);
    break;
  case CTL_RELEASE_CID:
    p = find_tlv(req, 0x01, &len);
    if (!p || len < 2) {
      respond_error(ms, req, QMI_ERR_MISSING_ARGUMENT);
      return;
    }
    put_result(tlvs, QMI_ERR_NONE);
    put_tlv(tlvs, 0x01, p, 2);
    break;
  case CTL_SET_INSTANCE_ID:
    put_result(tlvs, QMI_ERR_NONE);
    put_u8(tlvs, 0x01);
    put_u16(tlvs, 2);
    put_u16(tlvs, 0);
    break;
  case CTL_SET_DATA_FORMAT:
    put_result(tlvs, QMI_ERR_NONE);
    put_u8(tlvs, 0x10);
    put_u16(tlvs, 2);
    put_u16(tlvs, 1);
    break;
  case CTL_SYNC:
    put_result(tlvs, QMI_ERR_NONE);
    break;
  default:
    put_result(tlvs, QMI_ERR_INVALID_QMI_COMMAND);
    break;
  }
  respond(ms, req, tlvs);
}

/* ---- UIM helpers -------------------------------------------------------- */

/* The physical slot behind a logical slot number from the request, 0 when
 * there is none: this modem has one logical slot. */
static guint physical_slot(ModemSim *ms, guint8 logical)
{
  return logical == 1 ? modem_sim_get_active_slot(ms) : 0;
}

/* ICCID digits as the card stores them (EF.ICCID): nibble-swapped BCD,
 * padded with F. */
static void put_iccid_bcd(GByteArray *b, const char *iccid)
{
  guint8 bcd[10];
  gsize n = iccid ? MIN(strlen(iccid), 20) : 0;

  memset(bcd, 0xFF, sizeof bcd);
  for (gsize i = 0; i < n; i++) {
    guint8 d = (guint8)(g_ascii_xdigit_value(iccid[i]) & 0x0F);

    if (i % 2 == 0)
      bcd[i / 2] = (guint8)((bcd[i / 2] & 0xF0) | d);
    else
      bcd[i / 2] = (guint8)((bcd[i / 2] & 0x0F) | (d << 4));
  }
  put_u8(b, n ? sizeof bcd : 0);
  if (n)
    g_byte_array_append(b, bcd, sizeof bcd);
}

static gboolean card_has_usim(EuiccSim *card)
{
  return card && euicc_sim_get_iccid(card) != NULL;
}

/* The ATR of a UICC speaking T=0 and T=1 (ISO 7816-3 8.2). Only its presence
 * matters to clients. */
static const guint8 sim_atr[] = {0x3B, 0x9F, 0x96, 0x80, 0x1F, 0xC7, 0x80, 0x31, 0xE0, 0x73, 0xFE,
                                 0x21, 0x1B, 0x63, 0x3A, 0x20, 0x4E, 0x83, 0x00, 0x90, 0x00, 0x31};

static void put_slot_status_tlvs(ModemSim *ms, GByteArray *tlvs)
{
  guint n = modem_sim_get_n_slots(ms);
  guint active = modem_sim_get_active_slot(ms);
  g_autoptr(GByteArray) status = g_byte_array_new();
  g_autoptr(GByteArray) info = g_byte_array_new();
  g_autoptr(GByteArray) eids = g_byte_array_new();

  put_u8(status, (guint8)n);
  put_u8(info, (guint8)n);
  put_u8(eids, (guint8)n);
  for (guint slot = 1; slot <= n; slot++) {
    EuiccSim *card = modem_sim_get_card(ms, slot);
    const char *eid = card ? euicc_sim_get_eid(card) : NULL;

    put_u32(status, card ? 2 : 1); /* physical card state: present / absent */
    put_u32(status, slot == active ? 1 : 0);
    put_u8(status, slot == active ? 1 : 0);
    put_iccid_bcd(status, card ? euicc_sim_get_iccid(card) : NULL);

    put_u32(info, card ? 2 : 0); /* card protocol: UICC / unknown */
    put_u8(info, card_has_usim(card) ? 1 : 0);
    if (card) {
      put_u8(info, sizeof sim_atr);
      g_byte_array_append(info, sim_atr, sizeof sim_atr);
    } else {
      put_u8(info, 0);
    }
    put_u8(info, card && euicc_sim_is_euicc(card) ? 1 : 0);

    if (eid && strlen(eid) == 32) {
      guint8 raw[16];

      for (guint i = 0; i < 16; i++)
        raw[i] =
            (guint8)(g_ascii_xdigit_value(eid[2 * i]) << 4 | g_ascii_xdigit_value(eid[2 * i + 1]));
      put_u8(eids, sizeof raw);
      g_byte_array_append(eids, raw, sizeof raw);
    } else {
      put_u8(eids, 0);
    }
  }
  put_tlv(tlvs, 0x10, status->data, status->len);
  put_tlv(tlvs, 0x11, info->data, info->len);
  put_tlv(tlvs, 0x12, eids->data, eids->len);
}

/* The USIM AID prefix (ETSI TS 101 220 annex E: RID A000000087, app 1002). */
static const guint8 usim_aid[] = {0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xFF,
                                  0xFF, 0xFF, 0xFF, 0x89, 0x07, 0x09, 0x00, 0x00};

static void put_card_status(ModemSim *ms, GByteArray *tlvs)
{
  QmiSim *qs = qmi_sim(ms);
  EuiccSim *card = modem_sim_get_card(ms, modem_sim_get_active_slot(ms));
  gboolean usim = !qs->powered_off && card_has_usim(card);
  g_autoptr(GByteArray) v = g_byte_array_new();

  /* Index of the primary GW application: slot index (0) << 8 | app index. */
  put_u16(v, usim ? 0x0000 : 0xFFFF);
  put_u16(v, 0xFFFF);
  put_u16(v, 0xFFFF);
  put_u16(v, 0xFFFF);
  put_u8(v, 1); /* one logical slot */
  if (!card || qs->powered_off) {
    put_u8(v, card ? 2 : 0); /* card state: error (powered down) / absent */
    put_u8(v, 0);
    put_u8(v, 0);
    put_u8(v, 0);
    put_u8(v, card ? 1 : 0); /* card error: power down / unknown */
    put_u8(v, 0);            /* no applications */
  } else {
    put_u8(v, 1); /* present */
    put_u8(v, 0); /* UPIN not initialized */
    put_u8(v, 0);
    put_u8(v, 0);
    put_u8(v, 0);
    put_u8(v, usim ? 1 : 0);
    if (usim) {
      put_u8(v, 2); /* USIM */
      put_u8(v, 7); /* ready */
      put_u8(v, 2); /* personalization: ready */
      put_u8(v, 0);
      put_u8(v, 0);
      put_u8(v, 0);
      put_u8(v, sizeof usim_aid);
      g_byte_array_append(v, usim_aid, sizeof usim_aid);
      put_u8(v, 0);  /* UPIN does not replace PIN1 */
      put_u8(v, 3);  /* PIN1 disabled */
      put_u8(v, 3);  /* PIN1 retries */
      put_u8(v, 10); /* PUK1 retries */
      put_u8(v, 1);  /* PIN2 enabled, not verified */
      put_u8(v, 3);
      put_u8(v, 10);
    }
  }
  put_tlv(tlvs, 0x10, v->data, v->len);
}

/* CLA for a logical channel, ISO 7816-4 5.4.1 (first and further
 * interindustry values). */
static guint8 cla_for_channel(guint channel)
{
  return channel < 4 ? (guint8)channel : (guint8)(0x40 | (channel - 4));
}

static guint16 sw_of(GBytes *rsp)
{
  gsize len;
  const guint8 *p = g_bytes_get_data(rsp, &len);

  return len >= 2 ? (guint16)(p[len - 2] << 8 | p[len - 1]) : 0x6F00;
}

/* Closes a logical channel on the card, MANAGE CHANNEL close (ISO 7816-4 11.1.2). */
static gboolean card_close_channel(ModemSim *ms, guint slot, guint channel)
{
  guint8 apdu[4] = {cla_for_channel(channel), 0x70, 0x80, (guint8)channel};
  g_autoptr(GBytes) rsp = modem_sim_transmit(ms, slot, apdu, sizeof apdu);

  return rsp && sw_of(rsp) == 0x9000;
}

/* A card powered down (Switch Slot away, Power Off) loses its channels. */
static void card_drop_channels(ModemSim *ms, guint slot)
{
  EuiccSim *card = modem_sim_get_card(ms, slot);
  guint32 open;

  if (!card)
    return;
  open = euicc_sim_get_open_channels(card);
  for (guint ch = 1; ch < 20; ch++) {
    if (open & (1u << ch)) {
      guint8 apdu[4] = {cla_for_channel(ch), 0x70, 0x80, (guint8)ch};
      GBytes *rsp = euicc_sim_transmit(card, apdu, sizeof apdu);

      if (rsp)
        g_bytes_unref(rsp);
    }
  }
}

/* ---- UIM ---------------------------------------------------------------- */

/* Returns the card behind the request's slot TLV, or answers the error. */
static guint request_slot(ModemSim *ms, const QmiRequest *req)
{
  QmiSim *qs = qmi_sim(ms);
  guint8 logical;
  guint slot;

  if (!find_u8(req, 0x01, &logical)) {
    respond_error(ms, req, QMI_ERR_MISSING_ARGUMENT);
    return 0;
  }
  slot = physical_slot(ms, logical);
  if (!slot) {
    respond_error(ms, req, QMI_ERR_INVALID_ARGUMENT);
    return 0;
  }
  if (!modem_sim_get_card(ms, slot)) {
    respond_error(ms, req, QMI_ERR_NO_SIM);
    return 0;
  }
  if (qs->powered_off) {
    respond_error(ms, req, QMI_ERR_DEVICE_NOT_READY);
    return 0;
  }
  return slot;
}

static guint8 select_p2(const QmiRequest *req)
{
  static const guint8 p2[] = {0x00, 0x04, 0x08, 0x0C};
  guint8 fci;

  if (!find_u8(req, req->msgid == UIM_OPEN_LOGICAL_CHANNEL ? 0x11 : 0x12, &fci) ||
      fci >= G_N_ELEMENTS(p2))
    return 0x00;
  return p2[fci];
}

/*
 * Open Logical Channel: the modem sends MANAGE CHANNEL open, then SELECT by
 * DF name on the new channel, and fetches the FCI itself (61xx). A refused
 * SELECT closes the channel again and fails with SIM_FILE_NOT_FOUND plus the
 * card's status word, as Qualcomm firmwares report it.
 */
static void handle_open_channel(ModemSim *ms, const QmiRequest *req, guint8 aid_type)
{
  g_autoptr(GByteArray) tlvs = g_byte_array_new();
  g_autoptr(GByteArray) select = g_byte_array_new();
  g_autoptr(GBytes) rsp = NULL;
  guint8 manage[5] = {0x00, 0x70, 0x00, 0x00, 0x01};
  guint8 sw[2], ch8;
  const guint8 *aid, *data;
  gsize aid_tlv_len, len;
  guint slot, channel;
  guint16 sw16;

  slot = request_slot(ms, req);
  if (!slot)
    return;
  aid = find_tlv(req, aid_type, &aid_tlv_len);
  if (!aid || aid_tlv_len < 1 || aid[0] + 1u > aid_tlv_len || aid[0] > 16) {
    respond_error(ms, req, aid ? QMI_ERR_MALFORMED_MESSAGE : QMI_ERR_MISSING_ARGUMENT);
    return;
  }

  rsp = modem_sim_transmit(ms, slot, manage, sizeof manage);
  if (!rsp)
    return;
  data = g_bytes_get_data(rsp, &len);
  if (sw_of(rsp) != 0x9000 || len != 3) {
    put_result(tlvs, QMI_ERR_INSUFFICIENT_RESOURCES);
    respond(ms, req, tlvs);
    return;
  }
  channel = data[0];
  g_clear_pointer(&rsp, g_bytes_unref);

  /* SELECT by DF name, first or only occurrence; P2 as the request's File
   * Control Information TLV asks (0 FCI, 1 FCP, 2 FMD, 3 none), FCI when
   * absent (ISO 7816-4 7.1.1 table 40). */
  put_u8(select, cla_for_channel(channel));
  put_u8(select, 0xA4);
  put_u8(select, 0x04);
  put_u8(select, select_p2(req));
  put_u8(select, aid[0]);
  g_byte_array_append(select, aid + 1, aid[0]);
  put_u8(select, 0x00);
  rsp = modem_sim_transmit(ms, slot, select->data, select->len);
  if (!rsp)
    return;
  sw16 = sw_of(rsp);
  g_byte_array_set_size(select, 0);
  data = g_bytes_get_data(rsp, &len);
  g_byte_array_append(select, data, (guint)(len >= 2 ? len - 2 : 0));
  while ((sw16 & 0xFF00) == 0x6100) {
    guint8 get_response[5] = {cla_for_channel(channel), 0xC0, 0x00, 0x00, sw16 & 0xFF};

    g_clear_pointer(&rsp, g_bytes_unref);
    rsp = modem_sim_transmit(ms, slot, get_response, sizeof get_response);
    if (!rsp)
      return;
    sw16 = sw_of(rsp);
    data = g_bytes_get_data(rsp, &len);
    g_byte_array_append(select, data, (guint)(len >= 2 ? len - 2 : 0));
  }

  sw[0] = sw16 >> 8;
  sw[1] = sw16 & 0xFF;
  if (sw16 != 0x9000 && sw[0] != 0x62 && sw[0] != 0x63) {
    card_close_channel(ms, slot, channel);
    if (modem_sim_is_unplugged(ms))
      return;
    put_result(tlvs, QMI_ERR_SIM_FILE_NOT_FOUND);
    put_tlv(tlvs, 0x11, sw, 2);
    respond(ms, req, tlvs);
    return;
  }

  ch8 = (guint8)channel;
  put_result(tlvs, QMI_ERR_NONE);
  put_tlv(tlvs, 0x10, &ch8, 1);
  put_tlv(tlvs, 0x11, sw, 2);
  put_u8(tlvs, 0x12);
  put_u16(tlvs, (guint16)(1 + MIN(select->len, 255)));
  put_u8(tlvs, (guint8)MIN(select->len, 255));
  g_byte_array_append(tlvs, select->data, MIN(select->len, 255));
  respond(ms, req, tlvs);
}

static void handle_logical_channel(ModemSim *ms, const QmiRequest *req)
{
  g_autoptr(GByteArray) tlvs = g_byte_array_new();
  guint8 channel;
  guint slot;
  gsize len;

  /* With an AID and no channel id this message opens a channel. */
  if (!find_u8(req, 0x11, &channel) && find_tlv(req, 0x10, &len)) {
    handle_open_channel(ms, req, 0x10);
    return;
  }
  slot = request_slot(ms, req);
  if (!slot)
    return;
  if (!find_u8(req, 0x11, &channel)) {
    respond_error(ms, req, QMI_ERR_MISSING_ARGUMENT);
    return;
  }
  if (channel < 1 || channel > 19 ||
      !(euicc_sim_get_open_channels(modem_sim_get_card(ms, slot)) & (1u << channel))) {
    respond_error(ms, req, QMI_ERR_INVALID_ARGUMENT);
    return;
  }
  if (!card_close_channel(ms, slot, channel)) {
    if (!modem_sim_is_unplugged(ms))
      respond_error(ms, req, QMI_ERR_INTERNAL);
    return;
  }
  put_result(tlvs, QMI_ERR_NONE);
  respond(ms, req, tlvs);
}

static void handle_send_apdu(ModemSim *ms, const QmiRequest *req)
{
  g_autoptr(GByteArray) tlvs = g_byte_array_new();
  g_autoptr(GBytes) rsp = NULL;
  const guint8 *apdu, *data;
  gsize tlv_len, apdu_len, len;
  guint slot;

  slot = request_slot(ms, req);
  if (!slot)
    return;
  apdu = find_tlv(req, 0x02, &tlv_len);
  if (!apdu || tlv_len < 2) {
    respond_error(ms, req, QMI_ERR_MISSING_ARGUMENT);
    return;
  }
  apdu_len = get_u16(apdu);
  if (apdu_len + 2 > tlv_len || apdu_len < 4) {
    respond_error(ms, req, QMI_ERR_MALFORMED_MESSAGE);
    return;
  }
  rsp = modem_sim_transmit(ms, slot, apdu + 2, apdu_len);
  if (!rsp)
    return; /* the card dropped it, or the modem went away: no answer */
  data = g_bytes_get_data(rsp, &len);
  put_result(tlvs, QMI_ERR_NONE);
  put_u8(tlvs, 0x10);
  put_u16(tlvs, (guint16)(2 + len));
  put_u16(tlvs, (guint16)len);
  g_byte_array_append(tlvs, data, (guint)len);
  respond(ms, req, tlvs);
}

static void send_slot_status_indication(ModemSim *ms)
{
  g_autoptr(GByteArray) tlvs = g_byte_array_new();

  put_slot_status_tlvs(ms, tlvs);
  /* Client id 0xFF: broadcast to every UIM client. */
  send_frame(ms, SERVICE_UIM, 0xFF, SVC_FLAG_INDICATION, 0, UIM_SLOT_STATUS_INDICATION, tlvs);
}

static void handle_switch_slot(ModemSim *ms, const QmiRequest *req)
{
  g_autoptr(GByteArray) tlvs = g_byte_array_new();
  const guint8 *p;
  guint8 logical;
  gsize len;
  guint32 physical;

  p = find_tlv(req, 0x02, &len);
  if (!find_u8(req, 0x01, &logical) || !p || len < 4) {
    respond_error(ms, req, QMI_ERR_MISSING_ARGUMENT);
    return;
  }
  physical = (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
  if (logical != 1 || physical < 1 || physical > modem_sim_get_n_slots(ms)) {
    respond_error(ms, req, QMI_ERR_INVALID_ARGUMENT);
    return;
  }
  if (physical == modem_sim_get_active_slot(ms)) {
    respond_error(ms, req, QMI_ERR_NO_EFFECT);
    return;
  }
  card_drop_channels(ms, modem_sim_get_active_slot(ms));
  modem_sim_set_active_slot(ms, physical);
  qmi_sim(ms)->powered_off = FALSE;
  put_result(tlvs, QMI_ERR_NONE);
  respond(ms, req, tlvs);
  send_slot_status_indication(ms);
}

static void handle_power(ModemSim *ms, const QmiRequest *req, gboolean on)
{
  QmiSim *qs = qmi_sim(ms);
  g_autoptr(GByteArray) tlvs = g_byte_array_new();
  guint8 logical;

  if (!find_u8(req, 0x01, &logical)) {
    respond_error(ms, req, QMI_ERR_MISSING_ARGUMENT);
    return;
  }
  if (!physical_slot(ms, logical)) {
    respond_error(ms, req, QMI_ERR_INVALID_ARGUMENT);
    return;
  }
  if (on == !qs->powered_off) {
    respond_error(ms, req, QMI_ERR_NO_EFFECT);
    return;
  }
  if (!on)
    card_drop_channels(ms, modem_sim_get_active_slot(ms));
  qs->powered_off = !on;
  put_result(tlvs, QMI_ERR_NONE);
  respond(ms, req, tlvs);
}

/* error= and malformed= rules: TRUE when one answered the request. */
static gboolean apply_error_rules(ModemSim *ms, const QmiRequest *req)
{
  QmiSim *qs = qmi_sim(ms);
  g_autoptr(GByteArray) tlvs = g_byte_array_new();

  for (guint i = 0; i < qs->error_rules->len; i++) {
    ErrorRule *r = &g_array_index(qs->error_rules, ErrorRule, i);

    if (r->msgid == req->msgid) {
      respond_error(ms, req, r->error);
      return TRUE;
    }
  }
  for (guint i = 0; i < qs->malformed->len; i++) {
    if (g_array_index(qs->malformed, guint16, i) == req->msgid) {
      guint8 junk[3] = {0xDE, 0xAD, 0x00};

      /* A response without the mandatory result TLV. */
      put_tlv(tlvs, 0x7F, junk, sizeof junk);
      respond(ms, req, tlvs);
      return TRUE;
    }
  }
  return FALSE;
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
    put_result(tlvs, QMI_ERR_INVALID_QMI_COMMAND);
    return;
  }
  put_result(tlvs, QMI_ERR_NONE);
  put_u32(info, 50000000);  /* max TX rate, bps */
  put_u32(info, 150000000); /* max RX rate, bps */
  put_u8(info, 3);          /* data service: simultaneous CS and PS */
  put_u8(info, 2);          /* SIM supported */
  for (gsize i = 0; i < G_N_ELEMENTS(radios); i++)
    count += (rats & radios[i].rats) ? 1 : 0;
  put_u8(info, count);
  for (gsize i = 0; i < G_N_ELEMENTS(radios); i++) {
    if (rats & radios[i].rats)
      put_u8(info, radios[i].radio);
  }
  put_tlv(tlvs, 0x01, info->data, info->len);
}

static void handle_dms(ModemSim *ms, const QmiRequest *req)
{
  g_autoptr(GByteArray) tlvs = g_byte_array_new();
  const char *imei = modem_sim_get_imei(ms);

  if (apply_error_rules(ms, req))
    return;
  switch (req->msgid) {
  case DMS_GET_IDS:
    put_result(tlvs, QMI_ERR_NONE);
    put_tlv(tlvs, 0x10, (const guint8 *)"0", 1);
    if (imei)
      put_tlv(tlvs, 0x11, (const guint8 *)imei, strlen(imei));
    break;
  case DMS_GET_CAPABILITIES:
    put_capabilities(ms, tlvs);
    break;
  default:
    put_result(tlvs, QMI_ERR_INVALID_QMI_COMMAND);
    break;
  }
  respond(ms, req, tlvs);
}

/* ---- UIM ---------------------------------------------------------------- */

static void handle_uim(ModemSim *ms, const QmiRequest *req)
{
  QmiSim *qs = qmi_sim(ms);
  g_autoptr(GByteArray) tlvs = g_byte_array_new();

  if (apply_error_rules(ms, req))
    return;
  switch (req->msgid) {
  case UIM_GET_CARD_STATUS:
    put_result(tlvs, QMI_ERR_NONE);
    put_card_status(ms, tlvs);
    break;
  case UIM_GET_SLOT_STATUS:
    if (qs->no_slot_status) {
      put_result(tlvs, QMI_ERR_INVALID_QMI_COMMAND);
      break;
    }
    put_result(tlvs, QMI_ERR_NONE);
    put_slot_status_tlvs(ms, tlvs);
    break;
  case UIM_SWITCH_SLOT:
    if (qs->no_slot_status) {
      put_result(tlvs, QMI_ERR_INVALID_QMI_COMMAND);
      break;
    }
    handle_switch_slot(ms, req);
    return;
  case UIM_OPEN_LOGICAL_CHANNEL:
    handle_open_channel(ms, req, 0x10);
    return;
  case UIM_LOGICAL_CHANNEL:
    handle_logical_channel(ms, req);
    return;
  case UIM_SEND_APDU:
    handle_send_apdu(ms, req);
    return;
  case UIM_POWER_OFF_SIM:
    handle_power(ms, req, FALSE);
    return;
  case UIM_POWER_ON_SIM:
    handle_power(ms, req, TRUE);
    return;
  case UIM_RESET:
    put_result(tlvs, QMI_ERR_NONE);
    break;
  default:
    put_result(tlvs, QMI_ERR_INVALID_QMI_COMMAND);
    break;
  }
  respond(ms, req, tlvs);
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
  total = 1 + (gsize)get_u16(data + 1);
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
    req.tid = get_u16(sdu + 1);
  }
  req.msgid = get_u16(sdu + hdr - 4);
  req.tlvs_len = get_u16(sdu + hdr - 2);
  req.tlvs = sdu + hdr;
  if (hdr + req.tlvs_len > sdu_len) {
    respond_error(ms, &req, QMI_ERR_MALFORMED_MESSAGE);
    return total;
  }

  if (req.service == SERVICE_CTL)
    handle_ctl(ms, &req);
  else if (req.service == SERVICE_UIM)
    handle_uim(ms, &req);
  else if (req.service == SERVICE_DMS)
    handle_dms(ms, &req);
  else
    respond_error(ms, &req, QMI_ERR_INVALID_SERVICE_TYPE);
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
