/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What modem-sim's QMI mode shares between its files: the QMUX framing and
 * TLV helpers and the per-modem state (modem-sim-qmi.c), the UIM service
 * (modem-sim-qmi-uim.c).
 */
#pragma once

#include "modem-sim.h"

#define QMUX_MARKER 0x01
#define QMUX_HEADER_LEN 6 /* marker, length, flags, service, client */
#define QMUX_FLAG_FROM_SERVICE 0x80

#define SERVICE_CTL 0x00
#define SERVICE_DMS 0x02
#define SERVICE_NAS 0x03
#define SERVICE_UIM 0x0B

#define CTL_FLAG_RESPONSE 0x01
#define SVC_FLAG_RESPONSE 0x02
#define SVC_FLAG_INDICATION 0x04

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

QmiSim *qmi_sim(ModemSim *ms);
void qmi_sim_put_u8(GByteArray *b, guint8 v);
void qmi_sim_put_u16(GByteArray *b, guint16 v);
void qmi_sim_put_u32(GByteArray *b, guint32 v);
guint16 qmi_sim_get_u16(const guint8 *p);
void qmi_sim_put_tlv(GByteArray *b, guint8 type, const guint8 *value, gsize len);
void qmi_sim_put_result(GByteArray *b, guint16 error);
const guint8 *qmi_sim_find_tlv(const QmiRequest *req, guint8 type, gsize *len);
gboolean qmi_sim_find_u8(const QmiRequest *req, guint8 type, guint8 *out);
void qmi_sim_send_frame(ModemSim *ms, guint8 service, guint8 cid, guint8 flags, guint16 tid,
                        guint16 msgid, GByteArray *tlvs);
void qmi_sim_respond(ModemSim *ms, const QmiRequest *req, GByteArray *tlvs);
void qmi_sim_respond_error(ModemSim *ms, const QmiRequest *req, guint16 error);

/* error= and malformed= rules: TRUE when one answered the request. */
gboolean qmi_sim_apply_error_rules(ModemSim *ms, const QmiRequest *req);

/* UIM (0x0B): the requests an LPA makes, the slot status indication. */
void qmi_sim_handle_uim(ModemSim *ms, const QmiRequest *req);

/* NAS (0x03): what ModemManager reads of a modem it has not enabled. */
void qmi_sim_handle_nas(ModemSim *ms, const QmiRequest *req);
