/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * modem-sim QMI mode, the UIM service (0x0B): card and slot status, logical
 * channels, APDUs, power and slot switching, as an LPA uses them; the
 * error rules a test sets answer first.
 */
#include "modem-sim-qmi-private.h"

#include <string.h>

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
  qmi_sim_put_u8(b, n ? sizeof bcd : 0);
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

  qmi_sim_put_u8(status, (guint8)n);
  qmi_sim_put_u8(info, (guint8)n);
  qmi_sim_put_u8(eids, (guint8)n);
  for (guint slot = 1; slot <= n; slot++) {
    EuiccSim *card = modem_sim_get_card(ms, slot);
    const char *eid = card ? euicc_sim_get_eid(card) : NULL;

    qmi_sim_put_u32(status, card ? 2 : 1); /* physical card state: present / absent */
    qmi_sim_put_u32(status, slot == active ? 1 : 0);
    qmi_sim_put_u8(status, slot == active ? 1 : 0);
    put_iccid_bcd(status, card ? euicc_sim_get_iccid(card) : NULL);

    qmi_sim_put_u32(info, card ? 2 : 0); /* card protocol: UICC / unknown */
    qmi_sim_put_u8(info, card_has_usim(card) ? 1 : 0);
    if (card) {
      qmi_sim_put_u8(info, sizeof sim_atr);
      g_byte_array_append(info, sim_atr, sizeof sim_atr);
    } else {
      qmi_sim_put_u8(info, 0);
    }
    qmi_sim_put_u8(info, card && euicc_sim_is_euicc(card) ? 1 : 0);

    if (eid && strlen(eid) == 32) {
      guint8 raw[16];

      for (guint i = 0; i < 16; i++)
        raw[i] =
            (guint8)(g_ascii_xdigit_value(eid[2 * i]) << 4 | g_ascii_xdigit_value(eid[2 * i + 1]));
      qmi_sim_put_u8(eids, sizeof raw);
      g_byte_array_append(eids, raw, sizeof raw);
    } else {
      qmi_sim_put_u8(eids, 0);
    }
  }
  qmi_sim_put_tlv(tlvs, 0x10, status->data, status->len);
  qmi_sim_put_tlv(tlvs, 0x11, info->data, info->len);
  qmi_sim_put_tlv(tlvs, 0x12, eids->data, eids->len);
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
  qmi_sim_put_u16(v, usim ? 0x0000 : 0xFFFF);
  qmi_sim_put_u16(v, 0xFFFF);
  qmi_sim_put_u16(v, 0xFFFF);
  qmi_sim_put_u16(v, 0xFFFF);
  qmi_sim_put_u8(v, 1); /* one logical slot */
  if (!card || qs->powered_off) {
    qmi_sim_put_u8(v, card ? 2 : 0); /* card state: error (powered down) / absent */
    qmi_sim_put_u8(v, 0);
    qmi_sim_put_u8(v, 0);
    qmi_sim_put_u8(v, 0);
    qmi_sim_put_u8(v, card ? 1 : 0); /* card error: power down / unknown */
    qmi_sim_put_u8(v, 0);            /* no applications */
  } else {
    qmi_sim_put_u8(v, 1); /* present */
    qmi_sim_put_u8(v, 0); /* UPIN not initialized */
    qmi_sim_put_u8(v, 0);
    qmi_sim_put_u8(v, 0);
    qmi_sim_put_u8(v, 0);
    qmi_sim_put_u8(v, usim ? 1 : 0);
    if (usim) {
      qmi_sim_put_u8(v, 2); /* USIM */
      qmi_sim_put_u8(v, 7); /* ready */
      qmi_sim_put_u8(v, 2); /* personalization: ready */
      qmi_sim_put_u8(v, 0);
      qmi_sim_put_u8(v, 0);
      qmi_sim_put_u8(v, 0);
      qmi_sim_put_u8(v, sizeof usim_aid);
      g_byte_array_append(v, usim_aid, sizeof usim_aid);
      qmi_sim_put_u8(v, 0);  /* UPIN does not replace PIN1 */
      qmi_sim_put_u8(v, 3);  /* PIN1 disabled */
      qmi_sim_put_u8(v, 3);  /* PIN1 retries */
      qmi_sim_put_u8(v, 10); /* PUK1 retries */
      qmi_sim_put_u8(v, 1);  /* PIN2 enabled, not verified */
      qmi_sim_put_u8(v, 3);
      qmi_sim_put_u8(v, 10);
    }
  }
  qmi_sim_put_tlv(tlvs, 0x10, v->data, v->len);
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

  if (!qmi_sim_find_u8(req, 0x01, &logical)) {
    qmi_sim_respond_error(ms, req, QMI_ERR_MISSING_ARGUMENT);
    return 0;
  }
  slot = physical_slot(ms, logical);
  if (!slot) {
    qmi_sim_respond_error(ms, req, QMI_ERR_INVALID_ARGUMENT);
    return 0;
  }
  if (!modem_sim_get_card(ms, slot)) {
    qmi_sim_respond_error(ms, req, QMI_ERR_NO_SIM);
    return 0;
  }
  if (qs->powered_off) {
    qmi_sim_respond_error(ms, req, QMI_ERR_DEVICE_NOT_READY);
    return 0;
  }
  return slot;
}

static guint8 select_p2(const QmiRequest *req)
{
  static const guint8 p2[] = {0x00, 0x04, 0x08, 0x0C};
  guint8 fci;

  if (!qmi_sim_find_u8(req, req->msgid == UIM_OPEN_LOGICAL_CHANNEL ? 0x11 : 0x12, &fci) ||
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
  aid = qmi_sim_find_tlv(req, aid_type, &aid_tlv_len);
  if (!aid || aid_tlv_len < 1 || aid[0] + 1u > aid_tlv_len || aid[0] > 16) {
    qmi_sim_respond_error(ms, req, aid ? QMI_ERR_MALFORMED_MESSAGE : QMI_ERR_MISSING_ARGUMENT);
    return;
  }

  rsp = modem_sim_transmit(ms, slot, manage, sizeof manage);
  if (!rsp)
    return;
  data = g_bytes_get_data(rsp, &len);
  if (sw_of(rsp) != 0x9000 || len != 3) {
    qmi_sim_put_result(tlvs, QMI_ERR_INSUFFICIENT_RESOURCES);
    qmi_sim_respond(ms, req, tlvs);
    return;
  }
  channel = data[0];
  g_clear_pointer(&rsp, g_bytes_unref);

  /* SELECT by DF name, first or only occurrence; P2 as the request's File
   * Control Information TLV asks (0 FCI, 1 FCP, 2 FMD, 3 none), FCI when
   * absent (ISO 7816-4 7.1.1 table 40). */
  qmi_sim_put_u8(select, cla_for_channel(channel));
  qmi_sim_put_u8(select, 0xA4);
  qmi_sim_put_u8(select, 0x04);
  qmi_sim_put_u8(select, select_p2(req));
  qmi_sim_put_u8(select, aid[0]);
  g_byte_array_append(select, aid + 1, aid[0]);
  qmi_sim_put_u8(select, 0x00);
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
    qmi_sim_put_result(tlvs, QMI_ERR_SIM_FILE_NOT_FOUND);
    qmi_sim_put_tlv(tlvs, 0x11, sw, 2);
    qmi_sim_respond(ms, req, tlvs);
    return;
  }

  ch8 = (guint8)channel;
  qmi_sim_put_result(tlvs, QMI_ERR_NONE);
  qmi_sim_put_tlv(tlvs, 0x10, &ch8, 1);
  qmi_sim_put_tlv(tlvs, 0x11, sw, 2);
  qmi_sim_put_u8(tlvs, 0x12);
  qmi_sim_put_u16(tlvs, (guint16)(1 + MIN(select->len, 255)));
  qmi_sim_put_u8(tlvs, (guint8)MIN(select->len, 255));
  g_byte_array_append(tlvs, select->data, MIN(select->len, 255));
  qmi_sim_respond(ms, req, tlvs);
}

static void handle_logical_channel(ModemSim *ms, const QmiRequest *req)
{
  g_autoptr(GByteArray) tlvs = g_byte_array_new();
  guint8 channel;
  guint slot;
  gsize len;

  /* With an AID and no channel id this message opens a channel. */
  if (!qmi_sim_find_u8(req, 0x11, &channel) && qmi_sim_find_tlv(req, 0x10, &len)) {
    handle_open_channel(ms, req, 0x10);
    return;
  }
  slot = request_slot(ms, req);
  if (!slot)
    return;
  if (!qmi_sim_find_u8(req, 0x11, &channel)) {
    qmi_sim_respond_error(ms, req, QMI_ERR_MISSING_ARGUMENT);
    return;
  }
  if (channel < 1 || channel > 19 ||
      !(euicc_sim_get_open_channels(modem_sim_get_card(ms, slot)) & (1u << channel))) {
    qmi_sim_respond_error(ms, req, QMI_ERR_INVALID_ARGUMENT);
    return;
  }
  if (!card_close_channel(ms, slot, channel)) {
    if (!modem_sim_is_unplugged(ms))
      qmi_sim_respond_error(ms, req, QMI_ERR_INTERNAL);
    return;
  }
  qmi_sim_put_result(tlvs, QMI_ERR_NONE);
  qmi_sim_respond(ms, req, tlvs);
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
  apdu = qmi_sim_find_tlv(req, 0x02, &tlv_len);
  if (!apdu || tlv_len < 2) {
    qmi_sim_respond_error(ms, req, QMI_ERR_MISSING_ARGUMENT);
    return;
  }
  apdu_len = qmi_sim_get_u16(apdu);
  if (apdu_len + 2 > tlv_len || apdu_len < 4) {
    qmi_sim_respond_error(ms, req, QMI_ERR_MALFORMED_MESSAGE);
    return;
  }
  rsp = modem_sim_transmit(ms, slot, apdu + 2, apdu_len);
  if (!rsp)
    return; /* the card dropped it, or the modem went away: no answer */
  data = g_bytes_get_data(rsp, &len);
  qmi_sim_put_result(tlvs, QMI_ERR_NONE);
  qmi_sim_put_u8(tlvs, 0x10);
  qmi_sim_put_u16(tlvs, (guint16)(2 + len));
  qmi_sim_put_u16(tlvs, (guint16)len);
  g_byte_array_append(tlvs, data, (guint)len);
  qmi_sim_respond(ms, req, tlvs);
}

static void send_slot_status_indication(ModemSim *ms)
{
  g_autoptr(GByteArray) tlvs = g_byte_array_new();

  put_slot_status_tlvs(ms, tlvs);
  /* Client id 0xFF: broadcast to every UIM client. */
  qmi_sim_send_frame(ms, SERVICE_UIM, 0xFF, SVC_FLAG_INDICATION, 0, UIM_SLOT_STATUS_INDICATION,
                     tlvs);
}

static void handle_switch_slot(ModemSim *ms, const QmiRequest *req)
{
  g_autoptr(GByteArray) tlvs = g_byte_array_new();
  const guint8 *p;
  guint8 logical;
  gsize len;
  guint32 physical;

  p = qmi_sim_find_tlv(req, 0x02, &len);
  if (!qmi_sim_find_u8(req, 0x01, &logical) || !p || len < 4) {
    qmi_sim_respond_error(ms, req, QMI_ERR_MISSING_ARGUMENT);
    return;
  }
  physical = (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
  if (logical != 1 || physical < 1 || physical > modem_sim_get_n_slots(ms)) {
    qmi_sim_respond_error(ms, req, QMI_ERR_INVALID_ARGUMENT);
    return;
  }
  if (physical == modem_sim_get_active_slot(ms)) {
    qmi_sim_respond_error(ms, req, QMI_ERR_NO_EFFECT);
    return;
  }
  card_drop_channels(ms, modem_sim_get_active_slot(ms));
  modem_sim_set_active_slot(ms, physical);
  qmi_sim(ms)->powered_off = FALSE;
  qmi_sim_put_result(tlvs, QMI_ERR_NONE);
  qmi_sim_respond(ms, req, tlvs);
  send_slot_status_indication(ms);
}

static void handle_power(ModemSim *ms, const QmiRequest *req, gboolean on)
{
  QmiSim *qs = qmi_sim(ms);
  g_autoptr(GByteArray) tlvs = g_byte_array_new();
  guint8 logical;

  if (!qmi_sim_find_u8(req, 0x01, &logical)) {
    qmi_sim_respond_error(ms, req, QMI_ERR_MISSING_ARGUMENT);
    return;
  }
  if (!physical_slot(ms, logical)) {
    qmi_sim_respond_error(ms, req, QMI_ERR_INVALID_ARGUMENT);
    return;
  }
  if (on == !qs->powered_off) {
    qmi_sim_respond_error(ms, req, QMI_ERR_NO_EFFECT);
    return;
  }
  if (!on)
    card_drop_channels(ms, modem_sim_get_active_slot(ms));
  qs->powered_off = !on;
  qmi_sim_put_result(tlvs, QMI_ERR_NONE);
  qmi_sim_respond(ms, req, tlvs);
}

/* error= and malformed= rules: TRUE when one answered the request. */
gboolean qmi_sim_apply_error_rules(ModemSim *ms, const QmiRequest *req)
{
  QmiSim *qs = qmi_sim(ms);
  g_autoptr(GByteArray) tlvs = g_byte_array_new();

  for (guint i = 0; i < qs->error_rules->len; i++) {
    ErrorRule *r = &g_array_index(qs->error_rules, ErrorRule, i);

    if (r->msgid == req->msgid) {
      qmi_sim_respond_error(ms, req, r->error);
      return TRUE;
    }
  }
  for (guint i = 0; i < qs->malformed->len; i++) {
    if (g_array_index(qs->malformed, guint16, i) == req->msgid) {
      guint8 junk[3] = {0xDE, 0xAD, 0x00};

      /* A response without the mandatory result TLV. */
      qmi_sim_put_tlv(tlvs, 0x7F, junk, sizeof junk);
      qmi_sim_respond(ms, req, tlvs);
      return TRUE;
    }
  }
  return FALSE;
}

/* ---- UIM ---------------------------------------------------------------- */

void qmi_sim_handle_uim(ModemSim *ms, const QmiRequest *req)
{
  QmiSim *qs = qmi_sim(ms);
  g_autoptr(GByteArray) tlvs = g_byte_array_new();

  if (qmi_sim_apply_error_rules(ms, req))
    return;
  switch (req->msgid) {
  case UIM_GET_CARD_STATUS:
    qmi_sim_put_result(tlvs, QMI_ERR_NONE);
    put_card_status(ms, tlvs);
    break;
  case UIM_GET_SLOT_STATUS:
    if (qs->no_slot_status) {
      qmi_sim_put_result(tlvs, QMI_ERR_INVALID_QMI_COMMAND);
      break;
    }
    qmi_sim_put_result(tlvs, QMI_ERR_NONE);
    put_slot_status_tlvs(ms, tlvs);
    break;
  case UIM_SWITCH_SLOT:
    if (qs->no_slot_status) {
      qmi_sim_put_result(tlvs, QMI_ERR_INVALID_QMI_COMMAND);
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
    qmi_sim_put_result(tlvs, QMI_ERR_NONE);
    break;
  default:
    qmi_sim_put_result(tlvs, QMI_ERR_INVALID_QMI_COMMAND);
    break;
  }
  qmi_sim_respond(ms, req, tlvs);
}
