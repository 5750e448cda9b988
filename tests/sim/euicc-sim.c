/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The card model. Three layers, top to bottom in this file:
 *   APDU: CLA/channel decoding, MANAGE CHANNEL, SELECT, GET RESPONSE and
 *         the 61xx/6Cxx handing out of response data (ISO 7816-4, ETSI TS
 *         102 221 10.1.1 for the CLA of logical channels 4..19);
 *   STORE DATA: GlobalPlatform 11.11 block reassembly on the ISD-R;
 *   ES10: SGP.22 5.7 functions, each decoding its request with the TLV
 *         reader and encoding its response with the TLV writer, under the
 *         state rules of SGP.22 3.2 and 5.7.
 * The model is written independently of the daemon's ES10 codec on purpose:
 * the two must agree on the wire only.
 */
#include "euicc-sim.h"

#include <errno.h>
#include <string.h>

#include "card-file.h"
#include "es10/tlv.h"
#include "euicc-sim-rsp.h"

/* clang-format off */
G_DEFINE_QUARK(euicc-sim-error-quark, euicc_sim_error)
/* clang-format on */

#define MAX_CHANNELS 19
#define MAX_COMMAND 65536 /* reassembled ES10 command; larger is 6A84 */

/* Status words (ISO 7816-4, ETSI TS 102 221 10.2). */
#define SW_OK 0x9000
#define SW_WRONG_LENGTH 0x6700
#define SW_CHANNEL_NOT_SUPPORTED 0x6881
#define SW_CONDITIONS 0x6985
#define SW_WRONG_DATA 0x6A80
#define SW_NOT_FOUND 0x6A82
#define SW_NO_MEMORY 0x6A84
#define SW_WRONG_P1P2 0x6A86
#define SW_DATA_NOT_FOUND 0x6A88
#define SW_NO_CHANNEL 0x6A81
#define SW_BAD_INS 0x6D00
#define SW_BAD_CLA 0x6E00

/* What a fault spec names besides ES10 tags (which are all >= 0xBF00). */
enum {
  FAULT_CMD_ANY = 1,
  FAULT_CMD_SELECT,
  FAULT_CMD_MANAGE_CHANNEL,
  FAULT_CMD_GET_RESPONSE,
  FAULT_CMD_STORE_DATA,
};

typedef enum {
  FAULT_SW,
  FAULT_DROP,
  FAULT_GARBAGE,
  FAULT_RESULT,
} FaultKind;

typedef struct {
  FaultKind kind;
  guint32 cmd;
  guint16 sw;
  guint result;  /* FAULT_RESULT: the result code to answer with */
  int remaining; /* -1: every time */
} Fault;

typedef struct {
  gboolean open;
  gboolean isdr;       /* the ISD-R is the selected application */
  GByteArray *command; /* STORE DATA blocks received so far */
  guint next_block;
  GByteArray *pending; /* response data not yet fetched with GET RESPONSE */
  gsize pending_pos;
} Channel;

struct _EuiccSim {
  SimCard *card;
  Channel channels[MAX_CHANNELS + 1]; /* [0] is the basic channel, always open */
  /* A switch with refreshFlag set was answered: the card resets once the
   * answer is out (SGP.22 5.7.16/5.7.17, REFRESH in UICC Reset mode), and
   * its logical channels go with the reset. */
  gboolean reset_after_answer;
  /* The REFRESH a switch with refreshFlag asks for is run by the terminal
   * (the modem): a card behind a modem resets, a bare card does not. */
  gboolean refresh_resets;
  guint max_channels;
  guint chunk;
  GArray *faults;
  guint delay_ms;
  FILE *log;
  guint apdu_count;
  GBytes *euicc_certificate;
  GBytes *eum_certificate;
  SimRsp *rsp;         /* keys, certificates and the RSP session (euicc-sim-rsp.c) */
  GBytes *device_info; /* of the last AuthenticateServer, NULL before one */
};

/* One command APDU, short form only (ISO 7816-4). */
typedef struct {
  guint8 cla, ins, p1, p2;
  const guint8 *data;
  gsize lc;
  gboolean has_le;
  guint le; /* 1..256; a coded 00 means 256 */
  guint channel;
} Apdu;

typedef struct {
  GByteArray *data;
  guint16 sw;
  gboolean drop;
} Reply;

/* ------------------------------------------------------------------ */
/* Utilities                                                            */

static void reply_sw(Reply *r, guint16 sw)
{
  g_byte_array_set_size(r->data, 0);
  r->sw = sw;
}

static gboolean bytes_equal(GBytes *b, const guint8 *p, gsize n)
{
  gsize len;
  const guint8 *d = g_bytes_get_data(b, &len);
  return len == n && memcmp(d, p, n) == 0;
}

/*
 * A BIT STRING with a named bit list in DER: bit n of the mask is named bit
 * n, and X.690 11.2.2 drops trailing zero bits, so the length depends on the
 * highest bit set.
 */
static void put_named_bits(TlvWriter *w, guint32 tag, guint32 bits)
{
  guint8 b[5] = {0};
  int highest = -1;
  gsize nbytes;

  for (int i = 0; i < 32; i++) {
    if (bits & (1u << i))
      highest = i;
  }
  if (highest < 0) {
    tlv_writer_put(w, tag, b, 1);
    return;
  }
  nbytes = (gsize)highest / 8 + 1;
  b[0] = (guint8)(7 - highest % 8);
  for (int i = 0; i <= highest; i++) {
    if (bits & (1u << i))
      b[1 + i / 8] |= (guint8)(0x80 >> (i % 8));
  }
  tlv_writer_put(w, tag, b, nbytes + 1);
}

/* Reads a BIT STRING back into bit numbers (BER: trailing zeros allowed). */
static gboolean get_named_bits(const Tlv *t, guint32 *bits)
{
  *bits = 0;
  if (t->length < 1 || t->value[0] > 7 || (t->length == 1 && t->value[0] != 0))
    return FALSE;
  for (gsize i = 1; i < t->length && i <= 4; i++) {
    for (int k = 0; k < 8; k++) {
      if (t->value[i] & (0x80 >> k))
        *bits |= 1u << ((i - 1) * 8 + (gsize)k);
    }
  }
  return TRUE;
}

static void put_string(TlvWriter *w, guint32 tag, const char *s)
{
  tlv_writer_put(w, tag, (const guint8 *)s, strlen(s));
}

static SimProfile *profile_by_iccid(EuiccSim *sim, const guint8 *bcd, gsize len)
{
  if (len != 10)
    return NULL;
  for (guint i = 0; i < sim->card->profiles->len; i++) {
    SimProfile *p = g_ptr_array_index(sim->card->profiles, i);
    if (memcmp(p->iccid_bcd, bcd, 10) == 0)
      return p;
  }
  return NULL;
}

static SimProfile *profile_by_aid(EuiccSim *sim, const guint8 *aid, gsize len)
{
  for (guint i = 0; i < sim->card->profiles->len; i++) {
    SimProfile *p = g_ptr_array_index(sim->card->profiles, i);
    if (p->aid_len == len && memcmp(p->aid, aid, len) == 0)
      return p;
  }
  return NULL;
}

/* A profileIdentifier CHOICE: 4F (ISD-P AID) or 5A (ICCID). */
static gboolean profile_by_identifier(EuiccSim *sim, const Tlv *id, SimProfile **out)
{
  *out = NULL;
  if (id->tag == 0x4F) {
    *out = profile_by_aid(sim, id->value, id->length);
    return id->length >= 1 && id->length <= 16;
  }
  if (id->tag == 0x5A) {
    *out = profile_by_iccid(sim, id->value, id->length);
    return id->length == 10;
  }
  return FALSE;
}

static SimProfile *enabled_profile(EuiccSim *sim)
{
  for (guint i = 0; i < sim->card->profiles->len; i++) {
    SimProfile *p = g_ptr_array_index(sim->card->profiles, i);
    if (p->enabled)
      return p;
  }
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Certificates and notifications                                       */

static void put_name(TlvWriter *w, const char *org, const char *cn)
{
  static const guint8 oid_o[] = {0x55, 0x04, 0x0A};
  static const guint8 oid_cn[] = {0x55, 0x04, 0x03};

  tlv_writer_begin(w, 0x30); /* RDNSequence */
  tlv_writer_begin(w, 0x31);
  tlv_writer_begin(w, 0x30);
  tlv_writer_put(w, 0x06, oid_o, sizeof(oid_o));
  put_string(w, 0x0C, org);
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_begin(w, 0x31);
  tlv_writer_begin(w, 0x30);
  tlv_writer_put(w, 0x06, oid_cn, sizeof(oid_cn));
  put_string(w, 0x0C, cn);
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
}

static void put_ecdsa_algorithm(TlvWriter *w)
{
  static const guint8 ecdsa_sha256[] = {0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02};

  tlv_writer_begin(w, 0x30);
  tlv_writer_put(w, 0x06, ecdsa_sha256, sizeof(ecdsa_sha256));
  tlv_writer_end(w);
}

/*
 * A structurally valid X.509 v3 certificate (RFC 5280 4.1) for an ECDSA
 * P-256 key, as CERT.EUICC.ECDSA and CERT.EUM.ECDSA are (SGP.22 4.5). Key
 * and signature are filler of the right shape: nobody verifies them against
 * the simulator, but a strict DER decoder of rsp.asn's Certificate must
 * accept every byte.
 */
static GBytes *make_certificate(guint8 serial, const char *issuer_org, const char *issuer_cn,
                                const char *subject_org, const char *subject_cn)
{
  static const guint8 ec_public_key[] = {0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01};
  static const guint8 prime256v1[] = {0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07};
  static const guint8 not_before[] = "200101000000Z";
  static const guint8 not_after[] = "20991231235959Z";
  TlvWriter w;
  guint8 key[66];
  guint8 integer[32];

  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0x30); /* Certificate */
  tlv_writer_begin(&w, 0x30); /* TBSCertificate */
  tlv_writer_begin(&w, 0xA0);
  tlv_writer_put_uint(&w, 0x02, 2); /* v3 */
  tlv_writer_end(&w);
  tlv_writer_put_uint(&w, 0x02, 0x0100 + serial);
  put_ecdsa_algorithm(&w);
  put_name(&w, issuer_org, issuer_cn);
  tlv_writer_begin(&w, 0x30); /* Validity */
  tlv_writer_put(&w, 0x17, not_before, sizeof(not_before) - 1);
  /* RFC 5280 4.1.2.5: dates from 2050 on are GeneralizedTime. */
  tlv_writer_put(&w, 0x18, not_after, sizeof(not_after) - 1);
  tlv_writer_end(&w);
  put_name(&w, subject_org, subject_cn);
  tlv_writer_begin(&w, 0x30); /* SubjectPublicKeyInfo */
  tlv_writer_begin(&w, 0x30);
  tlv_writer_put(&w, 0x06, ec_public_key, sizeof(ec_public_key));
  tlv_writer_put(&w, 0x06, prime256v1, sizeof(prime256v1));
  tlv_writer_end(&w);
  key[0] = 0x00; /* no unused bits */
  key[1] = 0x04; /* uncompressed point */
  for (int i = 0; i < 64; i++)
    key[2 + i] = (guint8)(serial * 31 + i * 7);
  tlv_writer_put(&w, 0x03, key, sizeof(key));
  tlv_writer_end(&w);
  tlv_writer_end(&w); /* TBSCertificate */
  put_ecdsa_algorithm(&w);
  /* BIT STRING holding Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }:
   * 0x03 len 0x00 30 44 02 20 r 02 20 s, r and s positive and minimal. */
  {
    TlvWriter sig;
    g_autoptr(GBytes) sig_der = NULL;
    GByteArray *bits = g_byte_array_new();
    guint8 zero = 0;

    tlv_writer_init(&sig);
    tlv_writer_begin(&sig, 0x30);
    for (int k = 0; k < 2; k++) {
      for (int i = 0; i < 32; i++)
        integer[i] = (guint8)(serial * 13 + k * 17 + i * 5);
      integer[0] = 0x41; /* keeps it 32 bytes, positive, no leading zero */
      tlv_writer_put(&sig, 0x02, integer, sizeof(integer));
    }
    tlv_writer_end(&sig);
    sig_der = tlv_writer_finish(&sig);
    g_byte_array_append(bits, &zero, 1);
    g_byte_array_append(bits, g_bytes_get_data(sig_der, NULL), g_bytes_get_size(sig_der));
    tlv_writer_put(&w, 0x03, bits->data, bits->len);
    g_byte_array_unref(bits);
  }
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

/* NotificationMetadata, SGP.22 5.7. */
static void put_notification_metadata(TlvWriter *w, const SimNotification *n)
{
  tlv_writer_begin(w, 0xBF2F);
  tlv_writer_put_uint(w, 0x80, n->seq);
  put_named_bits(w, 0x81, 1u << n->event);
  put_string(w, 0x0C, n->address);
  if (n->iccid)
    tlv_writer_put(w, 0x5A, n->iccid_bcd, 10);
  tlv_writer_end(w);
}

static void put_fake_signature(TlvWriter *w, guint32 tag, guint seq)
{
  guint8 sig[64];

  /* The length of an ECDSA P-256 signature as r || s. */
  for (int i = 0; i < 64; i++)
    sig[i] = (guint8)(seq * 11 + (guint)i * 3 + 1);
  tlv_writer_put(w, tag, sig, sizeof(sig));
}

/* PendingNotification, SGP.22 5.7. */
static void put_pending_notification(EuiccSim *sim, TlvWriter *w, const SimNotification *n)
{
  if (n->pir) {
    /* What the download produced, signed then: SGP.22 5.7.6 keeps it as is. */
    tlv_writer_put_raw(w, g_bytes_get_data(n->pir, NULL), g_bytes_get_size(n->pir));
    return;
  }
  if (n->event == SIM_EVENT_INSTALL) {
    /* The install result (ProfileInstallationResult) the card kept after a
     * download; its successResult names the ISD-P. */
    static const guint8 transaction_id[] = {0x5A, 0x17, 0x0E, 0x11, 0x00, 0x01, 0x02, 0x03};
    static const guint8 smdp_oid[] = {0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0xED, 0x3C, 0x01};
    static const guint8 sima_response[] = {0x30, 0x07, 0xA0, 0x05, 0x30, 0x03, 0x80, 0x01, 0x00};

    tlv_writer_begin(w, 0xBF37);
    tlv_writer_begin(w, 0xBF27);
    tlv_writer_put(w, 0x80, transaction_id, sizeof(transaction_id));
    put_notification_metadata(w, n);
    tlv_writer_put(w, 0x06, smdp_oid, sizeof(smdp_oid));
    tlv_writer_begin(w, 0xA2);
    tlv_writer_begin(w, 0xA0); /* successResult */
    tlv_writer_put(w, 0x4F, n->aid, n->aid_len);
    tlv_writer_put(w, 0x04, sima_response, sizeof(sima_response));
    tlv_writer_end(w);
    tlv_writer_end(w);
    tlv_writer_end(w);
    put_fake_signature(w, 0x5F37, n->seq);
    tlv_writer_end(w);
    return;
  }
  tlv_writer_begin(w, 0x30); /* OtherSignedNotification */
  put_notification_metadata(w, n);
  if (sim_rsp_is_loaded(sim->rsp)) {
    /* euiccNotificationSignature over the NotificationMetadata element
     * (SGP.22 5.7.10), with the card's real key. */
    TlvWriter m;
    g_autoptr(GBytes) md = NULL;
    guint8 sig[64];
    tlv_writer_init(&m);
    put_notification_metadata(&m, n);
    md = tlv_writer_finish(&m);
    if (sim_rsp_sign(sim->rsp, g_bytes_get_data(md, NULL), g_bytes_get_size(md), sig))
      tlv_writer_put(w, 0x5F37, sig, sizeof(sig));
    else
      put_fake_signature(w, 0x5F37, n->seq);
  } else {
    put_fake_signature(w, 0x5F37, n->seq);
  }
  tlv_writer_put_raw(w, g_bytes_get_data(sim->euicc_certificate, NULL),
                     g_bytes_get_size(sim->euicc_certificate));
  tlv_writer_put_raw(w, g_bytes_get_data(sim->eum_certificate, NULL),
                     g_bytes_get_size(sim->eum_certificate));
  tlv_writer_end(w);
}

/*
 * SGP.22 3.2 and 5.7 (Enable/Disable/DeleteProfile): after an enable, disable or delete the eUICC
 * writes a notification when the profile's notificationConfigurationInfo
 * names an address for that event. "notify-always" in the card file makes
 * it write one regardless, to the best address it knows.
 */
static void add_notification(EuiccSim *sim, const SimProfile *p, SimEvent event)
{
  const char *address = p->notify_address[event];
  SimNotification *n;

  if (!address && sim->card->notify_always) {
    for (guint i = 0; i < SIM_EVENT_COUNT && !address; i++)
      address = p->notify_address[i];
    if (!address)
      address = sim->card->default_smdp ? sim->card->default_smdp : "";
  }
  if (!address)
    return;
  n = g_new0(SimNotification, 1);
  n->seq = sim->card->next_seq++;
  n->event = event;
  n->address = g_strdup(address);
  n->iccid = g_strdup(p->iccid);
  memcpy(n->iccid_bcd, p->iccid_bcd, 10);
  memcpy(n->aid, p->aid, p->aid_len);
  n->aid_len = p->aid_len;
  g_ptr_array_add(sim->card->notifications, n);
}

/* ------------------------------------------------------------------ */
/* ES10 functions                                                       */

typedef guint16 (*Es10Handler)(EuiccSim *sim, const Tlv *req, TlvWriter *w);

/* ES10a.GetEuiccConfiguredAddresses, SGP.22 5.7. */
static guint16 es10a_get_euicc_configured_addresses(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF3C);
  if (sim->card->default_smdp)
    put_string(w, 0x80, sim->card->default_smdp);
  put_string(w, 0x81, sim->card->root_smds ? sim->card->root_smds : "");
  tlv_writer_end(w);
  return SW_OK;
}

/* ES10a.SetDefaultDpAddress, SGP.22 5.7: an empty address removes it. */
static guint16 es10a_set_default_dp_address(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  Tlv addr;

  if (!tlv_find(req, 0x80, &addr, NULL))
    return SW_WRONG_DATA;
  g_clear_pointer(&sim->card->default_smdp, g_free);
  if (addr.length > 0)
    sim->card->default_smdp = g_strndup((const char *)addr.value, addr.length);
  tlv_writer_begin(w, 0xBF3F);
  tlv_writer_put_uint(w, 0x80, 0);
  tlv_writer_end(w);
  return SW_OK;
}

static void put_pkid_list(EuiccSim *sim, TlvWriter *w, guint32 tag)
{
  tlv_writer_begin(w, tag);
  for (guint i = 0; i < sim->card->ci_pkids->len; i++) {
    GBytes *b = g_ptr_array_index(sim->card->ci_pkids, i);
    tlv_writer_put(w, 0x04, g_bytes_get_data(b, NULL), g_bytes_get_size(b));
  }
  tlv_writer_end(w);
}

/* ES10b.GetEUICCInfo1, SGP.22 5.7. */
static guint16 es10b_get_euicc_info1(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF20);
  tlv_writer_put(w, 0x82, sim->card->svn, 3);
  put_pkid_list(sim, w, 0xA9);
  put_pkid_list(sim, w, 0xAA);
  tlv_writer_end(w);
  return SW_OK;
}

static void put_resource(GByteArray *out, guint8 tag, guint32 value)
{
  guint8 b[6];
  gsize n = 0;

  for (int i = 3; i >= 0; i--) {
    guint8 byte = (guint8)(value >> (8 * i));
    if (n == 0 && byte == 0 && i > 0)
      continue;
    b[2 + n++] = byte;
  }
  b[0] = tag;
  b[1] = (guint8)n;
  g_byte_array_append(out, b, n + 2);
}

/* ES10b.GetEUICCInfo2, SGP.22 5.7; extCardResource as ETSI TS 102 226's
 * extended card resources information. */
static guint16 es10b_get_euicc_info2(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  SimCard *c = sim->card;
  g_autoptr(GByteArray) resource = g_byte_array_new();

  put_resource(resource, 0x81, c->installed_applications);
  put_resource(resource, 0x82, c->free_nv_memory);
  put_resource(resource, 0x83, c->free_volatile_memory);

  tlv_writer_begin(w, 0xBF22);
  tlv_writer_put(w, 0x81, c->profile_version, 3);
  tlv_writer_put(w, 0x82, c->svn, 3);
  tlv_writer_put(w, 0x83, c->firmware_version, 3);
  tlv_writer_put(w, 0x84, resource->data, resource->len);
  put_named_bits(w, 0x85, c->uicc_capability);
  tlv_writer_put(w, 0x86, c->javacard_version, 3);
  tlv_writer_put(w, 0x87, c->gp_version, 3);
  put_named_bits(w, 0x88, c->rsp_capability);
  put_pkid_list(sim, w, 0xA9);
  put_pkid_list(sim, w, 0xAA);
  if (c->category >= 0)
    tlv_writer_put_uint(w, 0x8B, (guint64)c->category);
  if (c->forbidden_pprs)
    put_named_bits(w, 0x99, c->forbidden_pprs);
  tlv_writer_put(w, 0x04, c->pp_version, 3);
  put_string(w, 0x0C, c->sas_accreditation);
  tlv_writer_end(w);
  return SW_OK;
}

/* ES10b.ListNotification, SGP.22 5.7. */
static guint16 es10b_list_notification(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  guint32 filter = G_MAXUINT32;
  Tlv t;

  if (tlv_find(req, 0x81, &t, NULL) && !get_named_bits(&t, &filter))
    return SW_WRONG_DATA;
  tlv_writer_begin(w, 0xBF28);
  tlv_writer_begin(w, 0xA0);
  for (guint i = 0; i < sim->card->notifications->len; i++) {
    SimNotification *n = g_ptr_array_index(sim->card->notifications, i);
    if (filter & (1u << n->event))
      put_notification_metadata(w, n);
  }
  tlv_writer_end(w);
  tlv_writer_end(w);
  return SW_OK;
}

/*
 * ES10b.RetrieveNotificationsList, SGP.22 5.7: all, one by seqNumber
 * (noResultAvailable when there is none), or those of some events.
 */
static guint16 es10b_retrieve_notifications_list(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  gboolean by_seq = FALSE;
  guint64 seq = 0;
  guint32 filter = G_MAXUINT32;
  gboolean found = FALSE;
  Tlv crit, t;

  if (tlv_find(req, 0xA0, &crit, NULL)) {
    if (tlv_find(&crit, 0x80, &t, NULL)) {
      if (!tlv_get_uint(&t, &seq, NULL))
        return SW_WRONG_DATA;
      by_seq = TRUE;
    } else if (tlv_find(&crit, 0x81, &t, NULL)) {
      if (!get_named_bits(&t, &filter))
        return SW_WRONG_DATA;
    } else {
      return SW_WRONG_DATA;
    }
  }
  for (guint i = 0; i < sim->card->notifications->len; i++) {
    SimNotification *n = g_ptr_array_index(sim->card->notifications, i);
    if (by_seq ? n->seq == seq : (filter & (1u << n->event)) != 0)
      found = TRUE;
  }
  tlv_writer_begin(w, 0xBF2B);
  if (by_seq && !found) {
    tlv_writer_put_uint(w, 0x81, 1); /* noResultAvailable */
  } else {
    tlv_writer_begin(w, 0xA0);
    for (guint i = 0; i < sim->card->notifications->len; i++) {
      SimNotification *n = g_ptr_array_index(sim->card->notifications, i);
      if (by_seq ? n->seq == seq : (filter & (1u << n->event)) != 0)
        put_pending_notification(sim, w, n);
    }
    tlv_writer_end(w);
  }
  tlv_writer_end(w);
  return SW_OK;
}

/* ES10b.RemoveNotificationFromList, SGP.22 5.7. */
static guint16 es10b_remove_notification_from_list(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  guint64 seq;
  guint result = 1; /* nothingToDelete */
  Tlv t;

  if (!tlv_find(req, 0x80, &t, NULL) || !tlv_get_uint(&t, &seq, NULL))
    return SW_WRONG_DATA;
  for (guint i = 0; i < sim->card->notifications->len; i++) {
    SimNotification *n = g_ptr_array_index(sim->card->notifications, i);
    if (n->seq == seq) {
      g_ptr_array_remove_index(sim->card->notifications, i);
      result = 0;
      break;
    }
  }
  tlv_writer_begin(w, 0xBF30);
  tlv_writer_put_uint(w, 0x80, result);
  tlv_writer_end(w);
  return SW_OK;
}

/* ES10b.GetRAT, SGP.22 5.7. */
static guint16 es10b_get_rat(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF43);
  tlv_writer_begin(w, 0xA0);
  for (guint i = 0; i < sim->card->rat->len; i++) {
    SimRatRule *r = g_ptr_array_index(sim->card->rat, i);
    tlv_writer_begin(w, 0x30);
    put_named_bits(w, 0x80, r->pprs);
    tlv_writer_begin(w, 0xA1);
    for (guint k = 0; k < r->operators->len; k++) {
      GBytes *op = g_ptr_array_index(r->operators, k);
      tlv_writer_begin(w, 0x30);
      tlv_writer_put(w, 0x80, g_bytes_get_data(op, NULL), 3);
      tlv_writer_end(w);
    }
    tlv_writer_end(w);
    put_named_bits(w, 0x82, r->consent_required ? 1u : 0u);
    tlv_writer_end(w);
  }
  tlv_writer_end(w);
  tlv_writer_end(w);
  return SW_OK;
}

typedef struct {
  gboolean all;
  guint32 tags[32];
  guint count;
} TagList;

static gboolean taglist_parse(const Tlv *t, TagList *out)
{
  gsize i = 0;

  out->all = FALSE;
  out->count = 0;
  while (i < t->length) {
    guint32 tag = t->value[i++];
    if ((tag & 0x1F) == 0x1F) {
      do {
        if (i >= t->length || tag > 0xFFFF)
          return FALSE;
        tag = tag << 8 | t->value[i];
      } while (t->value[i++] & 0x80);
    }
    if (out->count < G_N_ELEMENTS(out->tags))
      out->tags[out->count++] = tag;
  }
  return TRUE;
}

static gboolean taglist_wants(const TagList *l, guint32 tag)
{
  if (l->all)
    return TRUE;
  for (guint i = 0; i < l->count; i++) {
    if (l->tags[i] == tag)
      return TRUE;
  }
  return FALSE;
}

/* One ProfileInfo (E3), fields in rsp.asn order as DER wants them. */
static void put_profile_info(TlvWriter *w, const SimProfile *p, const TagList *tags)
{
  tlv_writer_begin(w, 0xE3);
  if (taglist_wants(tags, 0x5A))
    tlv_writer_put(w, 0x5A, p->iccid_bcd, 10);
  if (taglist_wants(tags, 0x4F))
    tlv_writer_put(w, 0x4F, p->aid, p->aid_len);
  if (taglist_wants(tags, 0x9F70))
    tlv_writer_put_uint(w, 0x9F70, p->enabled ? 1 : 0);
  if (taglist_wants(tags, 0x90) && p->nickname)
    put_string(w, 0x90, p->nickname);
  if (taglist_wants(tags, 0x91) && p->provider)
    put_string(w, 0x91, p->provider);
  if (taglist_wants(tags, 0x92) && p->name)
    put_string(w, 0x92, p->name);
  if (taglist_wants(tags, 0x93) && p->icon_type >= 0)
    tlv_writer_put_uint(w, 0x93, (guint64)p->icon_type);
  /* SGP.22 5.7: the icon only goes with its type. */
  if (taglist_wants(tags, 0x94) && p->icon && p->icon_type >= 0)
    tlv_writer_put(w, 0x94, g_bytes_get_data(p->icon, NULL), g_bytes_get_size(p->icon));
  /* profileClass is DEFAULT operational: X.690 11.5 leaves a default out. */
  if (taglist_wants(tags, 0x95) && p->klass != SIM_CLASS_OPERATIONAL)
    tlv_writer_put_uint(w, 0x95, p->klass);
  if (taglist_wants(tags, 0xB6)) {
    gboolean any = FALSE;
    for (guint e = 0; e < SIM_EVENT_COUNT; e++)
      any = any || p->notify_address[e];
    if (any) {
      tlv_writer_begin(w, 0xB6);
      /* One entry per address, listing every event that goes to it. */
      for (guint e = 0; e < SIM_EVENT_COUNT; e++) {
        guint32 events = 0;
        gboolean first = TRUE;
        if (!p->notify_address[e])
          continue;
        for (guint k = 0; k < e; k++) {
          if (p->notify_address[k] && g_str_equal(p->notify_address[k], p->notify_address[e]))
            first = FALSE;
        }
        if (!first)
          continue;
        for (guint k = e; k < SIM_EVENT_COUNT; k++) {
          if (p->notify_address[k] && g_str_equal(p->notify_address[k], p->notify_address[e]))
            events |= 1u << k;
        }
        tlv_writer_begin(w, 0x30);
        put_named_bits(w, 0x80, events);
        put_string(w, 0x81, p->notify_address[e]);
        tlv_writer_end(w);
      }
      tlv_writer_end(w);
    }
  }
  if (taglist_wants(tags, 0xB7) && p->has_owner) {
    tlv_writer_begin(w, 0xB7);
    tlv_writer_put(w, 0x80, p->owner_mccmnc, 3);
    tlv_writer_end(w);
  }
  if (taglist_wants(tags, 0x99) && p->pprs)
    put_named_bits(w, 0x99, p->pprs);
  tlv_writer_end(w);
}

/* ES10c.GetProfilesInfo, SGP.22 5.7. */
static guint16 es10c_get_profiles_info(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  TagList tags = {.all = TRUE};
  gboolean bad = FALSE;
  Tlv crit, key, t;
  GError *local = NULL;
  gboolean has_crit;

  has_crit = tlv_find(req, 0xA0, &crit, NULL);
  if (has_crit) {
    TlvIter it;
    if (!tlv_iter_init(&it, &crit, NULL) || !tlv_iter_next(&it, &key, &local)) {
      g_clear_error(&local);
      bad = TRUE;
    } else if (key.tag == 0x5A   ? key.length != 10
               : key.tag == 0x4F ? key.length < 1 || key.length > 16
                                 : key.tag != 0x95 || key.length < 1) {
      bad = TRUE;
    }
  }
  if (tlv_find(req, 0x5C, &t, NULL) && !taglist_parse(&t, &tags))
    bad = TRUE;

  tlv_writer_begin(w, 0xBF2D);
  if (bad) {
    tlv_writer_put_uint(w, 0x81, 1); /* incorrectInputValues */
    tlv_writer_end(w);
    return SW_OK;
  }
  tlv_writer_begin(w, 0xA0);
  for (guint i = 0; i < sim->card->profiles->len; i++) {
    SimProfile *p = g_ptr_array_index(sim->card->profiles, i);
    guint64 klass;
    if (has_crit) {
      if (key.tag == 0x5A && memcmp(key.value, p->iccid_bcd, 10) != 0)
        continue;
      if (key.tag == 0x4F && (key.length != p->aid_len || memcmp(key.value, p->aid, p->aid_len)))
        continue;
      if (key.tag == 0x95 && (!tlv_get_uint(&key, &klass, NULL) || klass != p->klass))
        continue;
    }
    put_profile_info(w, p, &tags);
  }
  tlv_writer_end(w);
  tlv_writer_end(w);
  return SW_OK;
}

static void put_result(TlvWriter *w, guint32 tag, guint result)
{
  tlv_writer_begin(w, tag);
  tlv_writer_put_uint(w, 0x80, result);
  tlv_writer_end(w);
}

/* EnableProfile / DisableProfile requests: { A0 { 4F|5A }, 81 refreshFlag }. */
static gboolean parse_switch_request(EuiccSim *sim, const Tlv *req, SimProfile **p,
                                     gboolean *refresh_flag)
{
  Tlv choice, id, refresh;
  TlvIter it;
  gboolean flag;

  if (!tlv_find(req, 0xA0, &choice, NULL) || !tlv_iter_init(&it, &choice, NULL) ||
      !tlv_iter_next(&it, &id, NULL) || !tlv_find(req, 0x81, &refresh, NULL) ||
      !tlv_get_bool(&refresh, &flag, NULL))
    return FALSE;
  *refresh_flag = flag;
  return profile_by_identifier(sim, &id, p);
}

/*
 * ES10c.EnableProfile, SGP.22 5.7 and 3.2.1: enabling a profile while
 * another is enabled disables that one first, so the card writes a disable
 * notification for it (when configured) before the enable notification of
 * the new one. PPR1 on the enabled profile forbids that implicit disable.
 */
static guint16 es10c_enable_profile(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  SimProfile *p, *current;
  gboolean refresh_flag;

  if (!parse_switch_request(sim, req, &p, &refresh_flag))
    return SW_WRONG_DATA;
  current = enabled_profile(sim);
  if (!p) {
    put_result(w, 0xBF31, 1); /* iccidOrAidNotFound */
  } else if (p->enabled) {
    put_result(w, 0xBF31, 2); /* profileNotInDisabledState */
  } else if (current && (current->pprs & (1u << 1))) {
    put_result(w, 0xBF31, 3); /* disallowedByPolicy */
  } else {
    if (current) {
      current->enabled = FALSE;
      add_notification(sim, current, SIM_EVENT_DISABLE);
    }
    p->enabled = TRUE;
    add_notification(sim, p, SIM_EVENT_ENABLE);
    put_result(w, 0xBF31, 0);
    sim->reset_after_answer = refresh_flag && sim->refresh_resets;
  }
  return SW_OK;
}

/* ES10c.DisableProfile, SGP.22 5.7. */
static guint16 es10c_disable_profile(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  SimProfile *p;
  gboolean refresh_flag;

  if (!parse_switch_request(sim, req, &p, &refresh_flag))
    return SW_WRONG_DATA;
  if (!p) {
    put_result(w, 0xBF32, 1);
  } else if (!p->enabled) {
    put_result(w, 0xBF32, 2); /* profileNotInEnabledState */
  } else if (p->pprs & (1u << 1)) {
    put_result(w, 0xBF32, 3); /* PPR1 */
  } else {
    p->enabled = FALSE;
    add_notification(sim, p, SIM_EVENT_DISABLE);
    put_result(w, 0xBF32, 0);
    sim->reset_after_answer = refresh_flag && sim->refresh_resets;
  }
  return SW_OK;
}

/* ES10c.DeleteProfile, SGP.22 5.7. */
static guint16 es10c_delete_profile(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  SimProfile *p;
  TlvIter it;
  Tlv id;

  if (!tlv_iter_init(&it, req, NULL) || !tlv_iter_next(&it, &id, NULL) ||
      !profile_by_identifier(sim, &id, &p))
    return SW_WRONG_DATA;
  if (!p) {
    put_result(w, 0xBF33, 1);
  } else if (p->enabled) {
    put_result(w, 0xBF33, 2); /* profileNotInDisabledState */
  } else if (p->pprs & (1u << 2)) {
    put_result(w, 0xBF33, 3); /* PPR2 */
  } else {
    add_notification(sim, p, SIM_EVENT_DELETE);
    g_ptr_array_remove(sim->card->profiles, p);
    put_result(w, 0xBF33, 0);
  }
  return SW_OK;
}

/*
 * ES10c.eUICCMemoryReset, SGP.22 5.7: the options pick operational
 * profiles, field-loaded test profiles (not those loaded at the factory)
 * and the default SM-DP+ address. Policy rules do not stand in the way of
 * a reset; each deleted profile gets its delete notification as a single
 * delete would.
 */
static guint16 es10c_euicc_memory_reset(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  guint32 options;
  gboolean done = FALSE;
  Tlv t;

  if (!tlv_find(req, 0x82, &t, NULL) || !get_named_bits(&t, &options))
    return SW_WRONG_DATA;
  for (guint i = 0; i < sim->card->profiles->len;) {
    SimProfile *p = g_ptr_array_index(sim->card->profiles, i);
    gboolean operational = p->klass == SIM_CLASS_OPERATIONAL;
    gboolean field_test = p->klass == SIM_CLASS_TEST && !p->preloaded;
    if (((options & 1u) && operational) || ((options & 2u) && field_test)) {
      p->enabled = FALSE;
      add_notification(sim, p, SIM_EVENT_DELETE);
      g_ptr_array_remove_index(sim->card->profiles, i);
      done = TRUE;
      continue;
    }
    i++;
  }
  if ((options & 4u) && sim->card->default_smdp) {
    g_clear_pointer(&sim->card->default_smdp, g_free);
    done = TRUE;
  }
  put_result(w, 0xBF34, done ? 0 : 1);
  return SW_OK;
}

/* ES10c.GetEID, SGP.22 5.7: the tagList must ask for the EID (5A). */
static guint16 es10c_get_eid(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  guint8 b[16];
  Tlv t;

  if (!tlv_find(req, 0x5C, &t, NULL) || memchr(t.value, 0x5A, t.length) == NULL)
    return SW_WRONG_DATA;
  for (int i = 0; i < 16; i++)
    b[i] = (guint8)(g_ascii_xdigit_value(sim->card->eid[2 * i]) << 4 |
                    g_ascii_xdigit_value(sim->card->eid[2 * i + 1]));
  tlv_writer_begin(w, 0xBF3E);
  tlv_writer_put(w, 0x5A, b, 16);
  tlv_writer_end(w);
  return SW_OK;
}

/* ES10c.SetNickname, SGP.22 5.7. */
static guint16 es10c_set_nickname(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  Tlv iccid, nick;
  SimProfile *p;

  if (!tlv_find(req, 0x5A, &iccid, NULL) || !tlv_find(req, 0x90, &nick, NULL))
    return SW_WRONG_DATA;
  p = profile_by_iccid(sim, iccid.value, iccid.length);
  if (!p) {
    put_result(w, 0xBF29, 1); /* iccidNotFound */
  } else if (nick.length > 64 ||
             !g_utf8_validate((const char *)nick.value, (gssize)nick.length, NULL)) {
    put_result(w, 0xBF29, 127);
  } else {
    g_free(p->nickname);
    p->nickname = g_strndup((const char *)nick.value, nick.length);
    put_result(w, 0xBF29, 0);
  }
  return SW_OK;
}

/* ES10b.GetEUICCChallenge, SGP.22 5.7.7. */
static guint16 es10b_get_euicc_challenge(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  return sim_rsp_get_euicc_challenge(sim->rsp, req, w);
}

/* ES10b.AuthenticateServer, SGP.22 5.7.13: euiccSigned1 carries EUICCInfo2. */
static guint16 es10b_authenticate_server(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  TlvWriter info;
  g_autoptr(GBytes) info2 = NULL;

  Tlv ctx, device;

  /* What the LPA said of the device (ctxParams1 A0, deviceInfo A1), kept
   * for tests whether or not the authentication goes through. */
  if (tlv_find(req, 0xA0, &ctx, NULL) && tlv_find(&ctx, 0xA1, &device, NULL)) {
    g_clear_pointer(&sim->device_info, g_bytes_unref);
    sim->device_info = g_bytes_new(device.raw, device.raw_length);
    if (sim->log) {
      fputs("# deviceInfo ", sim->log);
      for (gsize i = 0; i < device.raw_length; i++)
        fprintf(sim->log, "%02X", device.raw[i]);
      fputc('\n', sim->log);
      fflush(sim->log);
    }
  }
  tlv_writer_init(&info);
  es10b_get_euicc_info2(sim, req, &info);
  info2 = tlv_writer_finish(&info);
  return sim_rsp_authenticate_server(sim->rsp, sim->card, info2, req, w);
}

/* ES10b.PrepareDownload, SGP.22 5.7.5. */
static guint16 es10b_prepare_download(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  return sim_rsp_prepare_download(sim->rsp, req, w);
}

/* ES10b.CancelSession, SGP.22 5.7.14. */
static guint16 es10b_cancel_session(EuiccSim *sim, const Tlv *req, TlvWriter *w)
{
  return sim_rsp_cancel_session(sim->rsp, req, w);
}

static const struct {
  guint32 tag;
  Es10Handler handler;
} es10_functions[] = {
    {0xBF3C, es10a_get_euicc_configured_addresses},
    {0xBF3F, es10a_set_default_dp_address},
    {0xBF20, es10b_get_euicc_info1},
    {0xBF22, es10b_get_euicc_info2},
    {0xBF2E, es10b_get_euicc_challenge},
    {0xBF38, es10b_authenticate_server},
    {0xBF21, es10b_prepare_download},
    {0xBF41, es10b_cancel_session},
    {0xBF28, es10b_list_notification},
    {0xBF2B, es10b_retrieve_notifications_list},
    {0xBF30, es10b_remove_notification_from_list},
    {0xBF43, es10b_get_rat},
    {0xBF2D, es10c_get_profiles_info},
    {0xBF31, es10c_enable_profile},
    {0xBF32, es10c_disable_profile},
    {0xBF33, es10c_delete_profile},
    {0xBF34, es10c_euicc_memory_reset},
    {0xBF3E, es10c_get_eid},
    {0xBF29, es10c_set_nickname},
};

/* ------------------------------------------------------------------ */
/* Faults                                                               */

/* The first live fault for cmd; "any" counts once per APDU, not per ES10 command. */
static Fault *fault_match(EuiccSim *sim, guint32 cmd, gboolean with_any)
{
  for (guint i = 0; i < sim->faults->len; i++) {
    Fault *f = &g_array_index(sim->faults, Fault, i);
    if (f->remaining == 0)
      continue;
    if (f->cmd == cmd || (with_any && f->cmd == FAULT_CMD_ANY)) {
      if (f->remaining > 0)
        f->remaining--;
      return f;
    }
  }
  return NULL;
}

/*
 * The ES10 commands whose response is only a result code in [0] (SGP.22
 * 5.7.x: SetNicknameResponse, RemoveNotificationFromListResponse,
 * EnableProfileResponse, DisableProfileResponse, DeleteProfileResponse,
 * EuiccMemoryResetResponse, SetDefaultDpAddressResponse).
 */
static gboolean answers_with_result(guint32 cmd)
{
  static const guint32 tags[] = {0xBF29, 0xBF30, 0xBF31, 0xBF32, 0xBF33, 0xBF34, 0xBF3F};

  for (gsize i = 0; i < G_N_ELEMENTS(tags); i++)
    if (tags[i] == cmd)
      return TRUE;
  return FALSE;
}

/* Bytes that start like the answer but cannot be parsed: a length past the end. */
static void put_garbage(Reply *r, guint32 tag)
{
  static const guint8 tail[] = {0x84, 0x7F, 0xFF, 0xFF, 0xFF, 0x5A, 0x01};

  g_byte_array_set_size(r->data, 0);
  if (tag > 0xFF) {
    guint8 t[2] = {(guint8)(tag >> 8), (guint8)tag};
    g_byte_array_append(r->data, t, 2);
  } else {
    guint8 t = 0x6F;
    g_byte_array_append(r->data, &t, 1);
  }
  g_byte_array_append(r->data, tail, sizeof(tail));
  r->sw = SW_OK;
}

gboolean euicc_sim_add_fault(EuiccSim *sim, const char *spec, GError **error)
{
  Fault f = {.remaining = -1};
  g_autofree char *copy = g_strdup(spec);
  char *cmd, *at, *eq = NULL;

  at = strrchr(copy, '@');
  if (at) {
    guint64 n;
    *at = '\0';
    if (!g_ascii_string_to_unsigned(at + 1, 10, 1, G_MAXINT, &n, NULL)) {
      g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_FAULT,
                  "fault \"%s\": @N wants a count of 1 or more", spec);
      return FALSE;
    }
    f.remaining = (int)n;
  }
  if (g_str_has_prefix(copy, "sw:")) {
    guint64 sw;
    f.kind = FAULT_SW;
    cmd = copy + 3;
    eq = strchr(cmd, '=');
    if (!eq || strlen(eq + 1) != 4 ||
        !g_ascii_string_to_unsigned(eq + 1, 16, 0, 0xFFFF, &sw, NULL)) {
      g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_FAULT,
                  "fault \"%s\": sw wants CMD=SWSW with four hex digits", spec);
      return FALSE;
    }
    *eq = '\0';
    f.sw = (guint16)sw;
  } else if (g_str_has_prefix(copy, "result:")) {
    guint64 code;
    f.kind = FAULT_RESULT;
    cmd = copy + 7;
    eq = strchr(cmd, '=');
    if (!eq || !g_ascii_string_to_unsigned(eq + 1, 10, 0, 255, &code, NULL)) {
      g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_FAULT,
                  "fault \"%s\": result wants CMD=N with N from 0 to 255", spec);
      return FALSE;
    }
    *eq = '\0';
    f.result = (guint)code;
  } else if (g_str_has_prefix(copy, "drop:")) {
    f.kind = FAULT_DROP;
    cmd = copy + 5;
  } else if (g_str_has_prefix(copy, "garbage:")) {
    f.kind = FAULT_GARBAGE;
    cmd = copy + 8;
  } else {
    g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_FAULT,
                "fault \"%s\": kinds are sw:, result:, drop: and garbage:", spec);
    return FALSE;
  }
  if (g_ascii_strcasecmp(cmd, "any") == 0) {
    f.cmd = FAULT_CMD_ANY;
  } else if (g_ascii_strcasecmp(cmd, "select") == 0) {
    f.cmd = FAULT_CMD_SELECT;
  } else if (g_ascii_strcasecmp(cmd, "manage-channel") == 0) {
    f.cmd = FAULT_CMD_MANAGE_CHANNEL;
  } else if (g_ascii_strcasecmp(cmd, "get-response") == 0) {
    f.cmd = FAULT_CMD_GET_RESPONSE;
  } else if (g_ascii_strcasecmp(cmd, "store-data") == 0) {
    f.cmd = FAULT_CMD_STORE_DATA;
  } else {
    guint64 tag;
    if (strlen(cmd) != 4 || !g_ascii_string_to_unsigned(cmd, 16, 0xBF00, 0xBF7F, &tag, NULL)) {
      g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_FAULT,
                  "fault \"%s\": \"%s\" is no ES10 tag (BFxx) nor select, manage-channel, "
                  "get-response, store-data, any",
                  spec, cmd);
      return FALSE;
    }
    f.cmd = (guint32)tag;
  }
  if (f.kind == FAULT_RESULT && !answers_with_result(f.cmd)) {
    g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_FAULT,
                "fault \"%s\": result works on commands answering { [0] result }: BF29, "
                "BF30, BF31, BF32, BF33, BF34, BF3F",
                spec);
    return FALSE;
  }
  g_array_append_val(sim->faults, f);
  return TRUE;
}

void euicc_sim_clear_faults(EuiccSim *sim)
{
  g_array_set_size(sim->faults, 0);
}

/* ------------------------------------------------------------------ */
/* APDU layer                                                           */

static void channel_reset(Channel *ch)
{
  ch->isdr = FALSE;
  g_byte_array_set_size(ch->command, 0);
  ch->next_block = 0;
  g_byte_array_set_size(ch->pending, 0);
  ch->pending_pos = 0;
}

/*
 * Hands out up to le bytes of the channel's pending data; 61xx tells how
 * much is left (xx = 00 for 256 or more, ISO 7816-4).
 */
static void give_pending(EuiccSim *sim, Channel *ch, guint le, Reply *r)
{
  gsize left = ch->pending->len - ch->pending_pos;
  gsize n = MIN(MIN((gsize)le, (gsize)sim->chunk), left);

  g_byte_array_set_size(r->data, 0);
  g_byte_array_append(r->data, ch->pending->data + ch->pending_pos, (guint)n);
  ch->pending_pos += n;
  left -= n;
  if (left > 0) {
    r->sw = (guint16)(0x6100 | (left >= 256 ? 0 : left));
  } else {
    r->sw = SW_OK;
    g_byte_array_set_size(ch->pending, 0);
    ch->pending_pos = 0;
  }
}

/*
 * Answers a command that produced response data. Without Le (a case 3
 * command, as T=0 carries every command) the card only announces the data
 * with 61xx; with Le it sends what fits and announces the rest.
 */
static void deliver(EuiccSim *sim, Channel *ch, const Apdu *a, const guint8 *data, gsize len,
                    Reply *r)
{
  g_byte_array_set_size(ch->pending, 0);
  ch->pending_pos = 0;
  if (len == 0) {
    reply_sw(r, SW_OK);
    return;
  }
  g_byte_array_append(ch->pending, data, (guint)len);
  if (!a->has_le) {
    reply_sw(r, (guint16)(0x6100 | (len >= 256 ? 0 : len)));
    return;
  }
  give_pending(sim, ch, a->le, r);
}

static gboolean parse_apdu(const guint8 *p, gsize len, Apdu *a, guint16 *sw)
{
  memset(a, 0, sizeof(*a));
  if (len < 4) {
    *sw = SW_WRONG_LENGTH;
    return FALSE;
  }
  a->cla = p[0];
  a->ins = p[1];
  a->p1 = p[2];
  a->p2 = p[3];
  if (len == 5) {
    a->has_le = TRUE;
    a->le = p[4] ? p[4] : 256;
  } else if (len > 5) {
    /* Short Lc only: an extended length (Lc = 00) is not supported. */
    a->lc = p[4];
    if (a->lc == 0 || (len != 5 + a->lc && len != 6 + a->lc)) {
      *sw = SW_WRONG_LENGTH;
      return FALSE;
    }
    a->data = p + 5;
    if (len == 6 + a->lc) {
      a->has_le = TRUE;
      a->le = p[len - 1] ? p[len - 1] : 256;
    }
  }
  /*
   * ETSI TS 102 221 10.1.1: 0x0X/0x8X carry channels 0-3 in b2-b1 (b4-b3
   * secure messaging), 0x4X/0xCX channels 4-19 in b4-b1. 0x8X/0xCX are the
   * GlobalPlatform (proprietary) forms; both are accepted.
   */
  if (a->cla == 0xFF || (a->cla & 0x60) == 0x20) {
    *sw = SW_BAD_CLA;
    return FALSE;
  }
  if (a->cla & 0x40) {
    if (a->cla & 0x30) {
      *sw = SW_BAD_CLA; /* secure messaging or chaining */
      return FALSE;
    }
    a->channel = 4 + (a->cla & 0x0F);
  } else {
    if (a->cla & 0x1C) {
      *sw = SW_BAD_CLA;
      return FALSE;
    }
    a->channel = a->cla & 0x03;
  }
  return TRUE;
}

static void manage_channel(EuiccSim *sim, const Apdu *a, Reply *r)
{
  if (a->p1 == 0x00) {
    guint n = a->p2;
    if (a->lc) {
      reply_sw(r, SW_WRONG_LENGTH);
      return;
    }
    if (n == 0) {
      for (guint i = 1; i <= sim->max_channels && n == 0; i++) {
        if (!sim->channels[i].open)
          n = i;
      }
      if (n == 0) {
        reply_sw(r, SW_NO_CHANNEL);
        return;
      }
    } else if (n > sim->max_channels || sim->channels[n].open) {
      reply_sw(r, SW_NO_CHANNEL);
      return;
    }
    channel_reset(&sim->channels[n]);
    sim->channels[n].open = TRUE;
    g_byte_array_set_size(r->data, 0);
    if (a->p2 == 0) {
      guint8 b = (guint8)n;
      g_byte_array_append(r->data, &b, 1);
    }
    r->sw = SW_OK;
  } else if (a->p1 == 0x80) {
    if (a->lc || a->has_le) {
      reply_sw(r, SW_WRONG_LENGTH);
      return;
    }
    if (a->p2 == 0 || a->p2 > MAX_CHANNELS) {
      reply_sw(r, SW_WRONG_P1P2);
      return;
    }
    if (!sim->channels[a->p2].open) {
      reply_sw(r, SW_CHANNEL_NOT_SUPPORTED);
      return;
    }
    channel_reset(&sim->channels[a->p2]);
    sim->channels[a->p2].open = FALSE;
    reply_sw(r, SW_OK);
  } else {
    reply_sw(r, SW_WRONG_P1P2);
  }
}

static gboolean is_isdr_aid(EuiccSim *sim, const guint8 *aid, gsize len)
{
  static const guint8 gsma[] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
                                0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00};

  if (!sim->card->euicc)
    return FALSE;
  if (sim->card->gsma_isdr && len == sizeof(gsma) && memcmp(aid, gsma, len) == 0)
    return TRUE;
  for (guint i = 0; i < sim->card->alt_aids->len; i++) {
    if (bytes_equal(g_ptr_array_index(sim->card->alt_aids, i), aid, len))
      return TRUE;
  }
  return FALSE;
}

/*
 * SELECT by DF name (ISO 7816-4), answered with the ISD-R's FCI. P2 04 (ETSI
 * TS 102 221 11.1.1: return the FCP template) is what modems send when they
 * open a logical channel for a client (QMI, MBIM); P2 00 asks for the FCI,
 * 0C for nothing. A card answers 04 and 00 alike with the template it has.
 */
static void select_aid(EuiccSim *sim, Channel *ch, const Apdu *a, Reply *r)
{
  TlvWriter w;
  g_autoptr(GBytes) fci = NULL;
  static const guint8 max_len = 0xFF;

  if (a->p1 != 0x04 || (a->p2 != 0x00 && a->p2 != 0x04 && a->p2 != 0x0C)) {
    reply_sw(r, SW_WRONG_P1P2);
    return;
  }
  if (a->lc < 5 || a->lc > 16) {
    reply_sw(r, a->lc == 0 ? SW_WRONG_LENGTH : SW_NOT_FOUND);
    return;
  }
  if (!is_isdr_aid(sim, a->data, a->lc)) {
    /* ISO 7816-4: a failed selection leaves the current one in place. */
    reply_sw(r, SW_NOT_FOUND);
    return;
  }
  channel_reset(ch);
  ch->isdr = TRUE;
  if (a->p2 == 0x0C) {
    reply_sw(r, SW_OK);
    return;
  }
  /* FCI: 84 the AID, A5 proprietary data with the ISD-R's template (SGP.22
   * 2.2.3: E0 { svn }) and the maximum command data length (GlobalPlatform
   * tag 9F65). */
  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0x6F);
  tlv_writer_put(&w, 0x84, a->data, a->lc);
  tlv_writer_begin(&w, 0xA5);
  tlv_writer_begin(&w, 0xE0);
  tlv_writer_put(&w, 0x82, sim->card->svn, 3);
  tlv_writer_end(&w);
  tlv_writer_put(&w, 0x9F65, &max_len, 1);
  tlv_writer_end(&w);
  tlv_writer_end(&w);
  fci = tlv_writer_finish(&w);
  deliver(sim, ch, a, g_bytes_get_data(fci, NULL), g_bytes_get_size(fci), r);
}

/*
 * ES10b.LoadBoundProfilePackage, SGP.22 5.7.6: each segment of 2.5.5 is one
 * STORE DATA sequence, and only the last (or a failing) one has an answer.
 * Faults name it BF36.
 */
static void load_bpp_segment(EuiccSim *sim, Channel *ch, const Apdu *a, Reply *r)
{
  Fault *fault = fault_match(sim, 0xBF36, FALSE);
  g_autoptr(GBytes) out = NULL;
  TlvWriter w;
  guint16 sw;

  if (fault && fault->kind == FAULT_SW) {
    reply_sw(r, fault->sw);
    return;
  }
  tlv_writer_init(&w);
  sw = sim_rsp_load_bpp_segment(sim->rsp, sim->card, ch->command->data, ch->command->len, &w);
  out = tlv_writer_finish(&w);
  if (sw != SW_OK) {
    reply_sw(r, sw);
    return;
  }
  deliver(sim, ch, a, g_bytes_get_data(out, NULL), g_bytes_get_size(out), r);
  if (fault && fault->kind == FAULT_DROP) {
    g_byte_array_set_size(ch->pending, 0);
    ch->pending_pos = 0;
    r->drop = TRUE;
  }
}

/* Runs one complete ES10 command (all STORE DATA blocks joined). */
static void run_es10(EuiccSim *sim, Channel *ch, const Apdu *a, Reply *r)
{
  Tlv req;
  TlvWriter w;
  g_autoptr(GBytes) out = NULL;
  Es10Handler handler = NULL;
  Fault *fault;
  guint16 sw;

  if (sim_rsp_is_bpp_segment(sim->rsp, ch->command->data, ch->command->len)) {
    load_bpp_segment(sim, ch, a, r);
    return;
  }
  if (!tlv_parse(ch->command->data, ch->command->len, &req, NULL)) {
    reply_sw(r, SW_WRONG_DATA);
    return;
  }
  fault = fault_match(sim, req.tag, FALSE);
  if (fault && fault->kind == FAULT_SW) {
    reply_sw(r, fault->sw);
    return;
  }
  if (fault && fault->kind == FAULT_GARBAGE) {
    Reply g = {.data = g_byte_array_new()};
    put_garbage(&g, req.tag);
    deliver(sim, ch, a, g.data->data, g.data->len, r);
    g_byte_array_unref(g.data);
    return;
  }
  if (fault && fault->kind == FAULT_RESULT) {
    /* The card's answer, but nothing done: a catBusy (5) or undefinedError
     * (127) leaves the card as it was. */
    tlv_writer_init(&w);
    put_result(&w, req.tag, fault->result);
    out = tlv_writer_finish(&w);
    deliver(sim, ch, a, g_bytes_get_data(out, NULL), g_bytes_get_size(out), r);
    return;
  }
  for (gsize i = 0; i < G_N_ELEMENTS(es10_functions); i++) {
    if (es10_functions[i].tag == req.tag)
      handler = es10_functions[i].handler;
  }
  if (!handler || !tlv_tag_is_constructed(req.tag)) {
    reply_sw(r, SW_DATA_NOT_FOUND);
    return;
  }
  tlv_writer_init(&w);
  sw = handler(sim, &req, &w);
  if (sw != SW_OK) {
    tlv_writer_clear(&w);
    reply_sw(r, sw);
    return;
  }
  out = tlv_writer_finish(&w);
  deliver(sim, ch, a, g_bytes_get_data(out, NULL), g_bytes_get_size(out), r);
  if (fault && fault->kind == FAULT_DROP) {
    /* The card did the work; only the answer is lost. */
    g_byte_array_set_size(ch->pending, 0);
    ch->pending_pos = 0;
    r->drop = TRUE;
  }
}

/*
 * STORE DATA (GlobalPlatform 11.11, SGP.22 5.7): P1 0x11 for a block
 * with more to come, 0x91 for the last one, P2 the block number from 0.
 */
static void store_data(EuiccSim *sim, Channel *ch, const Apdu *a, Reply *r)
{
  if (!ch->isdr) {
    reply_sw(r, SW_CONDITIONS);
    return;
  }
  if (a->p1 != 0x11 && a->p1 != 0x91) {
    reply_sw(r, SW_WRONG_P1P2);
    return;
  }
  if (a->lc == 0) {
    reply_sw(r, SW_WRONG_LENGTH);
    return;
  }
  if (a->p2 == 0) {
    g_byte_array_set_size(ch->command, 0);
    ch->next_block = 0;
  }
  if (a->p2 != ch->next_block) {
    /* A block out of order: the command is lost, the client starts over. */
    g_byte_array_set_size(ch->command, 0);
    ch->next_block = 0;
    reply_sw(r, SW_WRONG_P1P2);
    return;
  }
  if (ch->command->len + a->lc > MAX_COMMAND) {
    g_byte_array_set_size(ch->command, 0);
    ch->next_block = 0;
    reply_sw(r, SW_NO_MEMORY);
    return;
  }
  g_byte_array_append(ch->command, a->data, (guint)a->lc);
  ch->next_block++;
  if (a->p1 == 0x11) {
    reply_sw(r, SW_OK);
    return;
  }
  run_es10(sim, ch, a, r);
  g_byte_array_set_size(ch->command, 0);
  ch->next_block = 0;
}

/* GET RESPONSE (ISO 7816-4, ETSI TS 102 221). */
static void get_response(EuiccSim *sim, Channel *ch, const Apdu *a, Reply *r)
{
  gsize left = ch->pending->len - ch->pending_pos;

  if (a->p1 != 0 || a->p2 != 0) {
    reply_sw(r, SW_WRONG_P1P2);
    return;
  }
  if (a->lc || !a->has_le) {
    reply_sw(r, SW_WRONG_LENGTH);
    return;
  }
  if (left == 0) {
    reply_sw(r, SW_CONDITIONS);
    return;
  }
  /* Le = 00 asks for "up to 256"; a larger explicit Le than what is left is
   * answered with 6Cxx, the exact length to ask for. */
  if (a->le != 256 && a->le > left) {
    reply_sw(r, (guint16)(0x6C00 | left));
    return;
  }
  give_pending(sim, ch, a->le, r);
}

static guint32 fault_cmd_of(guint8 ins)
{
  switch (ins) {
  case 0x70:
    return FAULT_CMD_MANAGE_CHANNEL;
  case 0xA4:
    return FAULT_CMD_SELECT;
  case 0xC0:
    return FAULT_CMD_GET_RESPONSE;
  case 0xE2:
    return FAULT_CMD_STORE_DATA;
  default:
    return 0;
  }
}

static void process(EuiccSim *sim, const guint8 *apdu, gsize len, Reply *r)
{
  Apdu a;
  Channel *ch;
  Fault *fault;
  guint16 sw;

  if (!parse_apdu(apdu, len, &a, &sw)) {
    reply_sw(r, sw);
    return;
  }
  if (a.channel > MAX_CHANNELS || !sim->channels[a.channel].open) {
    reply_sw(r, SW_CHANNEL_NOT_SUPPORTED);
    return;
  }
  ch = &sim->channels[a.channel];
  fault = fault_match(sim, fault_cmd_of(a.ins), TRUE);
  if (fault && fault->kind == FAULT_SW) {
    reply_sw(r, fault->sw);
    return;
  }
  if (fault && fault->kind == FAULT_GARBAGE) {
    put_garbage(r, 0);
    return;
  }
  /* Any command but GET RESPONSE forfeits the data still waiting. */
  if (a.ins != 0xC0) {
    g_byte_array_set_size(ch->pending, 0);
    ch->pending_pos = 0;
  }
  switch (a.ins) {
  case 0x70:
    manage_channel(sim, &a, r);
    break;
  case 0xA4:
    select_aid(sim, ch, &a, r);
    break;
  case 0xE2:
    store_data(sim, ch, &a, r);
    break;
  case 0xC0:
    get_response(sim, ch, &a, r);
    break;
  default:
    reply_sw(r, SW_BAD_INS);
    break;
  }
  if (fault && fault->kind == FAULT_DROP)
    r->drop = TRUE;
}

static void log_line(EuiccSim *sim, char dir, const guint8 *p, gsize n)
{
  if (!sim->log)
    return;
  fputc(dir, sim->log);
  fputc(' ', sim->log);
  for (gsize i = 0; i < n; i++)
    fprintf(sim->log, "%02X", p[i]);
  fputc('\n', sim->log);
  fflush(sim->log);
}

GBytes *euicc_sim_transmit(EuiccSim *sim, const guint8 *apdu, gsize len)
{
  Reply r = {.data = g_byte_array_new(), .sw = SW_OK};
  guint8 sw[2];

  g_return_val_if_fail(sim != NULL, NULL);
  sim->apdu_count++;
  log_line(sim, '>', apdu, len);
  process(sim, apdu, len, &r);
  if (sim->reset_after_answer) {
    sim->reset_after_answer = FALSE;
    for (guint i = 0; i <= MAX_CHANNELS; i++) {
      channel_reset(&sim->channels[i]);
      sim->channels[i].open = i == 0; /* the basic channel is always there */
    }
  }
  if (r.drop) {
    if (sim->log) {
      fputs("# response dropped\n", sim->log);
      fflush(sim->log);
    }
    g_byte_array_unref(r.data);
    return NULL;
  }
  sw[0] = (guint8)(r.sw >> 8);
  sw[1] = (guint8)r.sw;
  g_byte_array_append(r.data, sw, 2);
  log_line(sim, '<', r.data->data, r.data->len);
  return g_byte_array_free_to_bytes(r.data);
}

/* ------------------------------------------------------------------ */
/* Life cycle and inspection                                            */

static EuiccSim *sim_new(SimCard *card)
{
  EuiccSim *sim = g_new0(EuiccSim, 1);
  g_autofree char *cn = NULL;

  sim->card = card;
  sim->max_channels = card->max_channels;
  sim->chunk = 256;
  sim->faults = g_array_new(FALSE, TRUE, sizeof(Fault));
  for (guint i = 0; i <= MAX_CHANNELS; i++) {
    sim->channels[i].command = g_byte_array_new();
    sim->channels[i].pending = g_byte_array_new();
  }
  sim->channels[0].open = TRUE;
  cn = g_strdup_printf("EID %s", card->eid ? card->eid : "none");
  sim->euicc_certificate =
      make_certificate(1, "Example EUM", "Example EUM ECDSA", "Example EUM", cn);
  sim->eum_certificate =
      make_certificate(2, "Example CI", "Example CI ECDSA", "Example EUM", "Example EUM ECDSA");
  sim->rsp = sim_rsp_new();
  return sim;
}

gboolean euicc_sim_load_pki(EuiccSim *sim, const char *ci_cert, const char *euicc_cert,
                            const char *euicc_key, const char *eum_cert, GError **error)
{
  GBytes *pkid;
  gboolean listed = FALSE;

  if (!sim->card->euicc) {
    g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE,
                "a plain SIM has no RSP credentials");
    return FALSE;
  }
  if (!sim_rsp_load(sim->rsp, sim->card->eid, ci_cert, euicc_cert, euicc_key, eum_cert, error))
    return FALSE;
  /* The certificates the card hands out are now the real ones. */
  g_bytes_unref(sim->euicc_certificate);
  g_bytes_unref(sim->eum_certificate);
  sim->euicc_certificate = g_bytes_ref(sim_rsp_get_euicc_certificate(sim->rsp));
  sim->eum_certificate = g_bytes_ref(sim_rsp_get_eum_certificate(sim->rsp));
  /* EUICCInfo1/2 list the CI the card can verify with first (SGP.22 4.1.3). */
  pkid = sim_rsp_get_ci_pkid(sim->rsp);
  for (guint i = 0; i < sim->card->ci_pkids->len; i++)
    listed |= g_bytes_equal(pkid, g_ptr_array_index(sim->card->ci_pkids, i));
  if (!listed)
    g_ptr_array_insert(sim->card->ci_pkids, 0, g_bytes_ref(pkid));
  return TRUE;
}

gboolean euicc_sim_load_pki_dir(EuiccSim *sim, const char *dir, GError **error)
{
  g_autofree char *ci = g_build_filename(dir, "ci.pem", NULL);
  g_autofree char *cert = g_build_filename(dir, "euicc.pem", NULL);
  g_autofree char *key = g_build_filename(dir, "euicc.key", NULL);
  g_autofree char *eum = g_build_filename(dir, "eum.pem", NULL);

  return euicc_sim_load_pki(sim, ci, cert, key, eum, error);
}

/* The card file's "pki DIR", relative to base (the card file's folder) unless absolute. */
static EuiccSim *sim_new_with_pki(SimCard *card, const char *base, GError **error)
{
  EuiccSim *sim = sim_new(card);
  g_autofree char *dir = NULL;

  if (!card->pki_dir)
    return sim;
  dir = g_path_is_absolute(card->pki_dir) || !base ? g_strdup(card->pki_dir)
                                                   : g_build_filename(base, card->pki_dir, NULL);
  if (!euicc_sim_load_pki_dir(sim, dir, error)) {
    euicc_sim_free(sim);
    return NULL;
  }
  return sim;
}

EuiccSim *euicc_sim_new_from_data(const char *text, GError **error)
{
  SimCard *card = sim_card_parse(text, error);

  return card ? sim_new_with_pki(card, NULL, error) : NULL;
}

EuiccSim *euicc_sim_new_from_file(const char *path, GError **error)
{
  g_autofree char *text = NULL;
  g_autofree char *base = g_path_get_dirname(path);
  GError *local = NULL;
  SimCard *card;
  EuiccSim *sim = NULL;

  if (!g_file_get_contents(path, &text, NULL, &local)) {
    g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE, "%s", local->message);
    g_error_free(local);
    return NULL;
  }
  card = sim_card_parse(text, &local);
  if (card)
    sim = sim_new_with_pki(card, base, &local);
  if (!sim) {
    g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE, "%s: %s", path, local->message);
    g_error_free(local);
  }
  return sim;
}

void euicc_sim_free(EuiccSim *sim)
{
  if (!sim)
    return;
  for (guint i = 0; i <= MAX_CHANNELS; i++) {
    g_byte_array_unref(sim->channels[i].command);
    g_byte_array_unref(sim->channels[i].pending);
  }
  if (sim->log)
    fclose(sim->log);
  g_array_unref(sim->faults);
  g_bytes_unref(sim->euicc_certificate);
  g_bytes_unref(sim->eum_certificate);
  sim_rsp_free(sim->rsp);
  g_clear_pointer(&sim->device_info, g_bytes_unref);
  sim_card_free(sim->card);
  g_free(sim);
}

gboolean euicc_sim_is_euicc(EuiccSim *sim)
{
  return sim->card->euicc;
}

const char *euicc_sim_get_eid(EuiccSim *sim)
{
  return sim->card->euicc ? sim->card->eid : NULL;
}

const char *euicc_sim_get_iccid(EuiccSim *sim)
{
  SimProfile *p;

  if (!sim->card->euicc)
    return sim->card->plain_iccid;
  p = enabled_profile(sim);
  return p ? p->iccid : NULL;
}

gchar *euicc_sim_dup_owner_mccmnc(EuiccSim *sim)
{
  SimProfile *p = sim->card->euicc ? enabled_profile(sim) : NULL;
  const guint8 *b;
  GString *s;

  if (!p || !p->has_owner)
    return NULL;
  /* 3GPP TS 24.008 10.5.1.3: MCC2 MCC1 | MNC3 MCC3 | MNC2 MNC1, MNC3 F for
   * a two-digit MNC. */
  b = p->owner_mccmnc;
  s = g_string_new(NULL);
  g_string_append_printf(s, "%u%u%u%u%u", b[0] & 0xF, b[0] >> 4, b[1] & 0xF, b[2] & 0xF, b[2] >> 4);
  if ((b[1] >> 4) != 0xF)
    g_string_append_printf(s, "%u", b[1] >> 4);
  return g_string_free(s, FALSE);
}

const char *euicc_sim_get_provider(EuiccSim *sim)
{
  SimProfile *p = sim->card->euicc ? enabled_profile(sim) : NULL;

  return p ? p->provider : NULL;
}

guint32 euicc_sim_get_open_channels(EuiccSim *sim)
{
  guint32 bits = 0;

  for (guint i = 1; i <= MAX_CHANNELS; i++) {
    if (sim->channels[i].open)
      bits |= 1u << i;
  }
  return bits;
}

void euicc_sim_set_refresh_resets(EuiccSim *sim, gboolean resets)
{
  sim->refresh_resets = resets;
}

void euicc_sim_set_max_channels(EuiccSim *sim, guint max)
{
  sim->max_channels = MIN(max, MAX_CHANNELS);
}

void euicc_sim_set_delay_ms(EuiccSim *sim, guint ms)
{
  sim->delay_ms = ms;
}

guint euicc_sim_get_delay_ms(EuiccSim *sim)
{
  return sim->delay_ms;
}

gboolean euicc_sim_set_apdu_log(EuiccSim *sim, const char *path, GError **error)
{
  FILE *f = NULL;

  if (path) {
    f = fopen(path, "w");
    if (!f) {
      int err = errno;
      g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "cannot write %s: %s", path,
                  g_strerror(err));
      return FALSE;
    }
  }
  if (sim->log)
    fclose(sim->log);
  sim->log = f;
  return TRUE;
}

GBytes *euicc_sim_get_device_info(EuiccSim *sim)
{
  return sim->device_info ? g_bytes_ref(sim->device_info) : NULL;
}

guint euicc_sim_get_apdu_count(EuiccSim *sim)
{
  return sim->apdu_count;
}

void euicc_sim_set_response_chunk(EuiccSim *sim, guint bytes)
{
  sim->chunk = CLAMP(bytes, 1, 256);
}

guint euicc_sim_get_profile_count(EuiccSim *sim)
{
  return sim->card->profiles->len;
}

static SimProfile *profile_by_digits(EuiccSim *sim, const char *iccid)
{
  guint8 bcd[10];

  if (!iccid || !sim_iccid_to_bcd(iccid, bcd))
    return NULL;
  return profile_by_iccid(sim, bcd, 10);
}

int euicc_sim_get_profile_state(EuiccSim *sim, const char *iccid)
{
  SimProfile *p = profile_by_digits(sim, iccid);

  return p ? (p->enabled ? 1 : 0) : -1;
}

const char *euicc_sim_get_profile_nickname(EuiccSim *sim, const char *iccid)
{
  SimProfile *p = profile_by_digits(sim, iccid);

  return p ? p->nickname : NULL;
}

gboolean euicc_sim_set_profile_pprs(EuiccSim *sim, const char *iccid, guint32 pprs)
{
  SimProfile *p = profile_by_digits(sim, iccid);

  if (!p)
    return FALSE;
  p->pprs = pprs;
  return TRUE;
}

const char *euicc_sim_get_default_smdp_address(EuiccSim *sim)
{
  return sim->card->default_smdp;
}

guint euicc_sim_get_notification_count(EuiccSim *sim)
{
  return sim->card->notifications->len;
}

gboolean euicc_sim_get_notification(EuiccSim *sim, guint index, guint *seq, guint *event,
                                    const char **address, const char **iccid)
{
  SimNotification *n;

  if (index >= sim->card->notifications->len)
    return FALSE;
  n = g_ptr_array_index(sim->card->notifications, index);
  if (seq)
    *seq = n->seq;
  if (event)
    *event = n->event;
  if (address)
    *address = n->address;
  if (iccid)
    *iccid = n->iccid;
  return TRUE;
}

gboolean euicc_sim_get_profile_info(EuiccSim *sim, const char *iccid, const char **name,
                                    const char **provider, int *klass, char **aid_hex)
{
  SimProfile *p = profile_by_digits(sim, iccid);

  if (!p)
    return FALSE;
  if (name)
    *name = p->name;
  if (provider)
    *provider = p->provider;
  if (klass)
    *klass = (int)p->klass;
  if (aid_hex) {
    GString *s = g_string_new(NULL);
    for (gsize i = 0; i < p->aid_len; i++)
      g_string_append_printf(s, "%02X", p->aid[i]);
    *aid_hex = g_string_free(s, FALSE);
  }
  return TRUE;
}

guint euicc_sim_get_free_nv_memory(EuiccSim *sim)
{
  return sim->card->free_nv_memory;
}
