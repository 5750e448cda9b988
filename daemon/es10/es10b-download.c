/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ES10b for profile download (SGP.22 3.1.3): GetEUICCChallenge (5.7.7),
 * AuthenticateServer (5.7.13), PrepareDownload (5.7.5),
 * LoadBoundProfilePackage (5.7.6, segmented as 2.5.5 says) and CancelSession
 * (5.7.14). The values the servers sign are passed through as they came:
 * the codec only checks that each is one element of the right type.
 */
#include "es10/es10-private.h"

#include <string.h>

/* ---- Shared pieces ------------------------------------------------------ */

/* A value the caller got from a server must be exactly one DER element with the tag. */
static gboolean check_server_der(GBytes *der, guint32 tag, const char *what, GError **error)
{
  g_autoptr(GError) local = NULL;
  const guint8 *p;
  gsize len;
  Tlv tlv;

  if (!der) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "%s is missing", what);
    return FALSE;
  }
  p = g_bytes_get_data(der, &len);
  if (!tlv_parse(p, len, &tlv, &local)) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "%s is not one DER element: %s",
                what, local->message);
    return FALSE;
  }
  if (tlv.tag != tag) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "%s has tag %X, not %X", what,
                tlv.tag, tag);
    return FALSE;
  }
  return TRUE;
}

static void put_bytes_raw(TlvWriter *w, GBytes *der)
{
  gsize len;
  const guint8 *p = g_bytes_get_data(der, &len);

  tlv_writer_put_raw(w, p, len);
}

/* TransactionId ::= OCTET STRING (SIZE(1..16)). */
static gboolean check_transaction_id(GBytes *id, GError **error)
{
  gsize n = id ? g_bytes_get_size(id) : 0;

  if (n < 1 || n > 16) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                "transactionId of %zu bytes, not 1 to 16", n);
    return FALSE;
  }
  return TRUE;
}

/* A field that must be there but that the LPA only passes on. */
static gboolean accept_any(const Tlv *tlv, gpointer out, GError **error)
{
  return TRUE;
}

/* ---- GetEUICCChallenge -------------------------------------------------- */

typedef struct {
  guint8 challenge[ES10_CHALLENGE_LEN];
} Challenge;

/* Octet16: exactly 16 bytes, copied into a fixed array at the start of out. */
static gboolean get_octet16(const Tlv *tlv, guint8 *out, GError **error)
{
  if (tlv->length != ES10_CHALLENGE_LEN) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "%zu bytes, not 16", tlv->length);
    return FALSE;
  }
  memcpy(out, tlv->value, ES10_CHALLENGE_LEN);
  return TRUE;
}

static gboolean decode_challenge(const Tlv *tlv, gpointer out, GError **error)
{
  return get_octet16(tlv, ((Challenge *)out)->challenge, error);
}

static const Es10Field challenge_fields[] = {
    /* euiccChallenge is the one untagged component: [0]. */
    {0x80, "euiccChallenge", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, decode_challenge},
};

GBytes *es10b_get_euicc_challenge_encode(void)
{
  return es10_encode_empty_request(ES10_CMD_GET_EUICC_CHALLENGE);
}

gboolean es10b_get_euicc_challenge_decode(const guint8 *buf, gsize len,
                                          guint8 challenge[ES10_CHALLENGE_LEN], GError **error)
{
  Challenge c;

  if (!es10_decode_response_fields(ES10_CMD_GET_EUICC_CHALLENGE, buf, len, challenge_fields,
                                   G_N_ELEMENTS(challenge_fields), &c, error))
    return FALSE;
  memcpy(challenge, c.challenge, sizeof(c.challenge));
  return TRUE;
}

/* ---- AuthenticateServer ------------------------------------------------- */

/*
 * CtxParams1 is a CHOICE whose one alternative, ctxParamsForCommonAuthentication,
 * is automatically tagged [0]; its components are [0] matchingId and [1]
 * deviceInfo, whose own components are [0] tac, [1] deviceCapabilities and
 * [2] imei (rsp.asn, AUTOMATIC TAGS).
 */
static gboolean put_ctx_params1(TlvWriter *w, const char *matching_id, const Es10DeviceInfo *info,
                                GError **error)
{
  guint8 v[3];

  if (!info) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "deviceInfo is missing");
    return FALSE;
  }
  if (info->capabilities_present >> ES10_DEVCAP_COUNT) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                "device capabilities %X name no DeviceCapabilities component",
                info->capabilities_present);
    return FALSE;
  }
  if (matching_id && !es10_check_utf8_arg("matchingId", matching_id, 0, error))
    return FALSE;
  tlv_writer_begin(w, 0xA0);
  if (matching_id)
    tlv_writer_put(w, 0x80, (const guint8 *)matching_id, strlen(matching_id));
  tlv_writer_begin(w, 0xA1);
  tlv_writer_put(w, 0x80, info->tac, sizeof(info->tac));
  tlv_writer_begin(w, 0xA1);
  for (guint i = 0; i < ES10_DEVCAP_COUNT; i++) {
    if (!(info->capabilities_present & (1u << i)))
      continue;
    v[0] = info->capabilities[i].major;
    v[1] = info->capabilities[i].minor;
    v[2] = info->capabilities[i].revision;
    tlv_writer_put(w, 0x80 + i, v, sizeof(v));
  }
  tlv_writer_end(w);
  if (info->has_imei)
    tlv_writer_put(w, 0x82, info->imei, sizeof(info->imei));
  tlv_writer_end(w);
  tlv_writer_end(w);
  return TRUE;
}

static GBytes *encode_authenticate_server(const Es10bAuthenticateServerRequest *req,
                                          const char *matching_id, GError **error)
{
  TlvWriter w;

  if (!req) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "no AuthenticateServer request");
    return NULL;
  }
  /* AuthenticateServerRequest tags serverSignature1, so AUTOMATIC TAGS leaves
   * the other components their own tags (X.680 25.3). */
  if (!check_server_der(req->server_signed1, 0x30, "serverSigned1", error) ||
      !check_server_der(req->server_signature1, 0x5F37, "serverSignature1", error) ||
      !check_server_der(req->euicc_ci_pkid_to_be_used, 0x04, "euiccCiPKIdToBeUsed", error) ||
      !check_server_der(req->server_certificate, 0x30, "serverCertificate", error))
    return NULL;
  tlv_writer_init(&w);
  tlv_writer_begin(&w, es10_command_get_tag(ES10_CMD_AUTHENTICATE_SERVER));
  put_bytes_raw(&w, req->server_signed1);
  put_bytes_raw(&w, req->server_signature1);
  put_bytes_raw(&w, req->euicc_ci_pkid_to_be_used);
  put_bytes_raw(&w, req->server_certificate);
  if (!put_ctx_params1(&w, matching_id, req->device_info, error)) {
    tlv_writer_clear(&w);
    return NULL;
  }
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

GBytes *es10b_authenticate_server_encode(const Es10bAuthenticateServerRequest *req, GError **error)
{
  return encode_authenticate_server(req, req ? req->matching_id : NULL, error);
}

GBytes *es10b_authenticate_server_encode_es11(const Es10bAuthenticateServerRequest *req,
                                              GError **error)
{
  if (req && req->matching_id) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                "an SM-DS authentication carries no matchingId");
    return NULL;
  }
  return encode_authenticate_server(req, NULL, error);
}

#define AS(field) offsetof(Es10bAuthenticateServerResponse, field)

static gboolean decode_server_challenge(const Tlv *tlv, gpointer out, GError **error)
{
  return get_octet16(tlv, ((Es10bAuthenticateServerResponse *)out)->server_challenge, error);
}

/* euiccInfo2 [34]: kept as DER; the daemon decodes it with its own decoder when it wants. */
static gboolean keep_euicc_info2(const Tlv *tlv, gpointer out, GError **error)
{
  Es10bAuthenticateServerResponse *r = out;

  r->euicc_info2 = g_bytes_new(tlv->raw, tlv->raw_length);
  return TRUE;
}

static const Es10Field ctx_params_fields[] = {
    {0x80, "matchingId", ES10_FIELD_UTF8, AS(matching_id), ES10_NO_FLAG, FALSE, 0, 0, NULL},
    {0xA1, "deviceInfo", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, accept_any},
};

static gboolean decode_ctx_params1(const Tlv *tlv, gpointer out, GError **error)
{
  return es10_decode_fields(tlv, "CtxParamsForCommonAuthentication", ctx_params_fields,
                            G_N_ELEMENTS(ctx_params_fields), out, error);
}

static const Es10Field euicc_signed1_fields[] = {
    {0x80, "transactionId", ES10_FIELD_BYTES, AS(transaction_id), ES10_NO_FLAG, TRUE, 1, 16, NULL},
    {0x83, "serverAddress", ES10_FIELD_UTF8, AS(server_address), ES10_NO_FLAG, TRUE, 0, 0, NULL},
    {0x84, "serverChallenge", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0,
     decode_server_challenge},
    {0xBF22, "euiccInfo2", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, keep_euicc_info2},
    {0xA0, "ctxParams1", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, decode_ctx_params1},
};

static const Es10Field authenticate_error_fields[] = {
    {0x80, "transactionId", ES10_FIELD_BYTES, AS(transaction_id), ES10_NO_FLAG, TRUE, 1, 16, NULL},
    /* AuthenticateResponseError tags transactionId, so the code stays INTEGER (02). */
    {0x02, "authenticateErrorCode", ES10_FIELD_UINT, AS(result), ES10_NO_FLAG, TRUE, 0, 0, NULL},
};

/* Reads the next component of a SEQUENCE whose components are told apart by position. */
static gboolean next_component(TlvIter *iter, guint32 tag, const char *type, const char *name,
                               Tlv *out, GError **error)
{
  GError *local = NULL;

  if (!tlv_iter_next(iter, out, &local)) {
    if (local)
      g_propagate_prefixed_error(error, local, "%s.%s: ", type, name);
    else
      g_set_error(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD, "%s without %s", type, name);
    return FALSE;
  }
  if (out->tag != tag) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG, "%s.%s: tag %X, not %X", type, name,
                out->tag, tag);
    return FALSE;
  }
  return TRUE;
}

/*
 * AuthenticateResponseOk has two Certificates (both 30) after euiccSigned1
 * (also 30): told apart by their place, not their tag.
 */
static gboolean decode_authenticate_ok(const Tlv *ok, Es10bAuthenticateServerResponse *r,
                                       GError **error)
{
  static const char type[] = "AuthenticateResponseOk";
  TlvIter iter;
  Tlv signed1, sig, cert;

  if (!tlv_iter_init(&iter, ok, error) ||
      !next_component(&iter, 0x30, type, "euiccSigned1", &signed1, error) ||
      !es10_decode_fields(&signed1, "EuiccSigned1", euicc_signed1_fields,
                          G_N_ELEMENTS(euicc_signed1_fields), r, error) ||
      !next_component(&iter, 0x5F37, type, "euiccSignature1", &sig, error) ||
      !next_component(&iter, 0x30, type, "euiccCertificate", &cert, error))
    return FALSE;
  r->euicc_certificate = g_bytes_new(cert.raw, cert.raw_length);
  if (!next_component(&iter, 0x30, type, "eumCertificate", &cert, error))
    return FALSE;
  r->eum_certificate = g_bytes_new(cert.raw, cert.raw_length);
  /* Later versions may add components after these (EXTENSIBILITY IMPLIED). */
  return TRUE;
}

/* The one alternative of a response CHOICE. */
static gboolean open_choice(Es10Command cmd, const guint8 *buf, gsize len, Tlv *choice,
                            GError **error)
{
  const char *type = es10_command_get_name(cmd);
  TlvIter iter;
  Tlv resp, extra;
  GError *local = NULL;

  if (!es10_open_response(cmd, buf, len, &resp, error) || !tlv_iter_init(&iter, &resp, error))
    return FALSE;
  if (!tlv_iter_next(&iter, choice, &local)) {
    if (local)
      g_propagate_prefixed_error(error, local, "%s response: ", type);
    else
      g_set_error(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD, "%s response is empty", type);
    return FALSE;
  }
  if (tlv_iter_next(&iter, &extra, &local) || local) {
    if (local)
      g_propagate_prefixed_error(error, local, "%s response: ", type);
    else
      g_set_error(error, ES10_ERROR, ES10_ERROR_TRAILING_DATA,
                  "%s response holds more than one alternative", type);
    return FALSE;
  }
  return TRUE;
}

/* The error code of an error alternative: defined for the command, and never 0. */
static gboolean check_error_code(Es10Command cmd, guint code, gint *result, GError **error)
{
  if (code == 0) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "%s: error code 0",
                es10_command_get_name(cmd));
    return FALSE;
  }
  return es10_check_result(cmd, code, result, error);
}

gboolean es10b_authenticate_server_decode(const guint8 *buf, gsize len,
                                          Es10bAuthenticateServerResponse **out, GError **error)
{
  g_autoptr(Es10bAuthenticateServerResponse) r = g_new0(Es10bAuthenticateServerResponse, 1);
  Tlv choice;
  gint code;

  if (!open_choice(ES10_CMD_AUTHENTICATE_SERVER, buf, len, &choice, error))
    return FALSE;
  switch (choice.tag) {
  case 0xA0: /* authenticateResponseOk, automatically tagged [0] */
    if (!decode_authenticate_ok(&choice, r, error))
      return FALSE;
    r->result = ES10B_AUTHENTICATE_OK;
    /* ES9+.AuthenticateClient (SGP.22 5.6) carries the whole response. */
    r->der = g_bytes_new(buf, len);
    break;
  case 0xA1: /* authenticateResponseError [1] */
    if (!es10_decode_fields(&choice, "AuthenticateResponseError", authenticate_error_fields,
                            G_N_ELEMENTS(authenticate_error_fields), r, error) ||
        !check_error_code(ES10_CMD_AUTHENTICATE_SERVER, r->result, &code, error))
      return FALSE;
    r->result = (Es10bAuthenticateResult)code;
    break;
  default:
    g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG,
                "AuthenticateServerResponse: unexpected alternative %X", choice.tag);
    return FALSE;
  }
  *out = g_steal_pointer(&r);
  return TRUE;
}

void es10b_authenticate_server_response_free(Es10bAuthenticateServerResponse *r)
{
  if (!r)
    return;
  g_clear_pointer(&r->transaction_id, g_bytes_unref);
  g_clear_pointer(&r->der, g_bytes_unref);
  g_free(r->server_address);
  g_free(r->matching_id);
  g_clear_pointer(&r->euicc_info2, g_bytes_unref);
  g_clear_pointer(&r->euicc_certificate, g_bytes_unref);
  g_clear_pointer(&r->eum_certificate, g_bytes_unref);
  g_free(r);
}

/* ---- PrepareDownload ---------------------------------------------------- */

gboolean es10_hash_confirmation_code(const char *confirmation_code, GBytes *transaction_id,
                                     guint8 out[ES10_HASH_CC_LEN], GError **error)
{
  g_autoptr(GChecksum) inner = NULL;
  g_autoptr(GChecksum) outer = NULL;
  guint8 digest[ES10_HASH_CC_LEN];
  gsize n = sizeof(digest);

  if (!es10_check_utf8_arg("confirmation code", confirmation_code, 0, error) ||
      !check_transaction_id(transaction_id, error))
    return FALSE;
  inner = g_checksum_new(G_CHECKSUM_SHA256);
  g_checksum_update(inner, (const guchar *)confirmation_code, (gssize)strlen(confirmation_code));
  g_checksum_get_digest(inner, digest, &n);
  outer = g_checksum_new(G_CHECKSUM_SHA256);
  g_checksum_update(outer, digest, (gssize)n);
  g_checksum_update(outer, g_bytes_get_data(transaction_id, NULL),
                    (gssize)g_bytes_get_size(transaction_id));
  n = ES10_HASH_CC_LEN;
  g_checksum_get_digest(outer, out, &n);
  return TRUE;
}

GBytes *es10b_prepare_download_encode(GBytes *smdp_signed2, GBytes *smdp_signature2,
                                      const guint8 *hash_cc, GBytes *smdp_certificate,
                                      GError **error)
{
  TlvWriter w;

  /* smdpSignature2 is tagged, so hashCc keeps OCTET STRING (04) (X.680 25.3). */
  if (!check_server_der(smdp_signed2, 0x30, "smdpSigned2", error) ||
      !check_server_der(smdp_signature2, 0x5F37, "smdpSignature2", error) ||
      !check_server_der(smdp_certificate, 0x30, "smdpCertificate", error))
    return NULL;
  tlv_writer_init(&w);
  tlv_writer_begin(&w, es10_command_get_tag(ES10_CMD_PREPARE_DOWNLOAD));
  put_bytes_raw(&w, smdp_signed2);
  put_bytes_raw(&w, smdp_signature2);
  if (hash_cc)
    tlv_writer_put(&w, 0x04, hash_cc, ES10_HASH_CC_LEN);
  put_bytes_raw(&w, smdp_certificate);
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

#define PD(field) offsetof(Es10bPrepareDownloadResponse, field)

static const Es10Field euicc_signed2_fields[] = {
    {0x80, "transactionId", ES10_FIELD_BYTES, PD(transaction_id), ES10_NO_FLAG, TRUE, 1, 16, NULL},
    {0x5F49, "euiccOtpk", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, accept_any},
};

static gboolean decode_euicc_signed2(const Tlv *tlv, gpointer out, GError **error)
{
  Tlv hash;
  GError *local = NULL;

  if (!es10_decode_fields(tlv, "EUICCSigned2", euicc_signed2_fields,
                          G_N_ELEMENTS(euicc_signed2_fields), out, error))
    return FALSE;
  /* hashCc, when the card echoes it, is an Octet32. */
  if (tlv_find(tlv, 0x04, &hash, &local) && hash.length != ES10_HASH_CC_LEN) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "hashCc of %zu bytes, not 32",
                hash.length);
    return FALSE;
  }
  if (local) {
    g_propagate_error(error, local);
    return FALSE;
  }
  return TRUE;
}

static const Es10Field prepare_download_ok_fields[] = {
    {0x30, "euiccSigned2", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, decode_euicc_signed2},
    {0x5F37, "euiccSignature2", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, accept_any},
};

static const Es10Field prepare_download_error_fields[] = {
    {0x80, "transactionId", ES10_FIELD_BYTES, PD(transaction_id), ES10_NO_FLAG, TRUE, 1, 16, NULL},
    {0x02, "downloadErrorCode", ES10_FIELD_UINT, PD(result), ES10_NO_FLAG, TRUE, 0, 0, NULL},
};

gboolean es10b_prepare_download_decode(const guint8 *buf, gsize len,
                                       Es10bPrepareDownloadResponse **out, GError **error)
{
  g_autoptr(Es10bPrepareDownloadResponse) r = g_new0(Es10bPrepareDownloadResponse, 1);
  Tlv choice;
  gint code;

  if (!open_choice(ES10_CMD_PREPARE_DOWNLOAD, buf, len, &choice, error))
    return FALSE;
  switch (choice.tag) {
  case 0xA0: /* downloadResponseOk */
    if (!es10_decode_fields(&choice, "PrepareDownloadResponseOk", prepare_download_ok_fields,
                            G_N_ELEMENTS(prepare_download_ok_fields), r, error))
      return FALSE;
    r->result = ES10B_DOWNLOAD_OK;
    /* ES9+.GetBoundProfilePackage (SGP.22 5.6) carries the whole response. */
    r->der = g_bytes_new(buf, len);
    break;
  case 0xA1: /* downloadResponseError */
    if (!es10_decode_fields(&choice, "PrepareDownloadResponseError", prepare_download_error_fields,
                            G_N_ELEMENTS(prepare_download_error_fields), r, error) ||
        !check_error_code(ES10_CMD_PREPARE_DOWNLOAD, r->result, &code, error))
      return FALSE;
    r->result = (Es10bDownloadResult)code;
    break;
  default:
    g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG,
                "PrepareDownloadResponse: unexpected alternative %X", choice.tag);
    return FALSE;
  }
  *out = g_steal_pointer(&r);
  return TRUE;
}

void es10b_prepare_download_response_free(Es10bPrepareDownloadResponse *r)
{
  if (!r)
    return;
  g_clear_pointer(&r->transaction_id, g_bytes_unref);
  g_clear_pointer(&r->der, g_bytes_unref);
  g_free(r);
}

/* ---- LoadBoundProfilePackage -------------------------------------------- */

static void add_segment(GPtrArray *segments, const guint8 *p, gsize len)
{
  g_ptr_array_add(segments, g_bytes_new(p, len));
}

/* The tag and length of a constructed element, without its content. */
static void add_header(GPtrArray *segments, const Tlv *tlv)
{
  add_segment(segments, tlv->raw, (gsize)(tlv->value - tlv->raw));
}

/* Checks that a sequenceOfXX holds at least one element, all with item_tag. */
static gboolean check_sequence_of(const Tlv *seq, guint32 item_tag, const char *name,
                                  GPtrArray *segments, GError **error)
{
  TlvIter iter;
  Tlv item;
  GError *local = NULL;
  guint n = 0;

  if (!tlv_iter_init(&iter, seq, error))
    return FALSE;
  while (tlv_iter_next(&iter, &item, &local)) {
    if (item.tag != item_tag) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG,
                  "BoundProfilePackage.%s: element with tag %X, not %X", name, item.tag, item_tag);
      return FALSE;
    }
    if (segments)
      add_segment(segments, item.raw, item.raw_length);
    n++;
  }
  if (local) {
    g_propagate_prefixed_error(error, local, "BoundProfilePackage.%s: ", name);
    return FALSE;
  }
  if (n == 0) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD, "BoundProfilePackage.%s is empty",
                name);
    return FALSE;
  }
  return TRUE;
}

gboolean es10b_bound_profile_package_split(const guint8 *buf, gsize len, GPtrArray **segments,
                                           GError **error)
{
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  g_autoptr(GByteArray) first = g_byte_array_new();
  TlvIter iter;
  Tlv bpp, part;
  GError *local = NULL;
  gboolean ok;

  if (!tlv_parse(buf, len, &bpp, &local)) {
    g_propagate_prefixed_error(error, local, "BoundProfilePackage: ");
    return FALSE;
  }
  if (bpp.tag != 0xBF36) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG,
                "BoundProfilePackage: expected tag BF36, got %X", bpp.tag);
    return FALSE;
  }
  if (!tlv_iter_init(&iter, &bpp, error))
    return FALSE;

  /* SGP.22 2.5.5 (1): BF36's tag and length together with the whole BF23. */
  if (!next_component(&iter, 0xBF23, "BoundProfilePackage", "initialiseSecureChannelRequest", &part,
                      error))
    return FALSE;
  g_byte_array_append(first, bpp.raw, (guint)(bpp.value - bpp.raw));
  g_byte_array_append(first, part.raw, (guint)part.raw_length);
  g_ptr_array_add(out, g_byte_array_free_to_bytes(g_steal_pointer(&first)));

  /* (2) firstSequenceOf87 whole: its tag and length with its '87' (ConfigureISDP). */
  if (!next_component(&iter, 0xA0, "BoundProfilePackage", "firstSequenceOf87", &part, error) ||
      !check_sequence_of(&part, 0x87, "firstSequenceOf87", NULL, error))
    return FALSE;
  add_segment(out, part.raw, part.raw_length);

  /* (3) sequenceOf88: its tag and length alone, then each '88' (StoreMetadata). */
  if (!next_component(&iter, 0xA1, "BoundProfilePackage", "sequenceOf88", &part, error))
    return FALSE;
  add_header(out, &part);
  if (!check_sequence_of(&part, 0x88, "sequenceOf88", out, error))
    return FALSE;

  /* (4) secondSequenceOf87 whole, when present (ReplaceSessionKeys). */
  ok = tlv_iter_next(&iter, &part, &local);
  if (ok && part.tag == 0xA2) {
    if (!check_sequence_of(&part, 0x87, "secondSequenceOf87", NULL, error))
      return FALSE;
    add_segment(out, part.raw, part.raw_length);
    ok = tlv_iter_next(&iter, &part, &local);
  }
  if (local) {
    g_propagate_prefixed_error(error, local, "BoundProfilePackage: ");
    return FALSE;
  }

  /* (5) sequenceOf86: its tag and length alone, then each '86' (the profile elements). */
  if (!ok) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD,
                "BoundProfilePackage without sequenceOf86");
    return FALSE;
  }
  if (part.tag != 0xA3) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG,
                "BoundProfilePackage: tag %X where sequenceOf86 (A3) belongs", part.tag);
    return FALSE;
  }
  add_header(out, &part);
  if (!check_sequence_of(&part, 0x86, "sequenceOf86", out, error))
    return FALSE;

  /* Nothing may follow: the card would not know what to do with it. */
  if (tlv_iter_next(&iter, &part, &local) || local) {
    if (local)
      g_propagate_prefixed_error(error, local, "BoundProfilePackage: ");
    else
      g_set_error(error, ES10_ERROR, ES10_ERROR_TRAILING_DATA,
                  "BoundProfilePackage: element %X after sequenceOf86", part.tag);
    return FALSE;
  }
  *segments = g_steal_pointer(&out);
  return TRUE;
}

const char *es10b_bpp_command_id_to_string(guint id)
{
  static const char *const names[] = {
      "initialiseSecureChannel", "configureISDP",      "storeMetadata",
      "storeMetadata2",          "replaceSessionKeys", "loadProfileElements",
  };

  return id < G_N_ELEMENTS(names) ? names[id] : "unknown";
}

#define PIR(field) offsetof(Es10bProfileInstallationResult, field)

static gboolean decode_pir_metadata(const Tlv *tlv, gpointer out, GError **error)
{
  Es10bProfileInstallationResult *r = out;

  if (!es10_decode_notification_metadata(tlv, &r->metadata, error))
    return FALSE;
  /* SGP.22 5.7.6: the installation result is the install notification. */
  if (r->metadata.operation != ES10_NOTIFICATION_INSTALL) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "names %s, not install",
                es10_notification_event_to_string(r->metadata.operation));
    return FALSE;
  }
  return TRUE;
}

static gboolean decode_smdp_oid(const Tlv *tlv, gpointer out, GError **error)
{
  Es10bProfileInstallationResult *r = out;

  r->smdp_oid = es10_oid_to_string(tlv->value, tlv->length);
  if (!r->smdp_oid) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "not a well-formed OBJECT IDENTIFIER");
    return FALSE;
  }
  return TRUE;
}

static gboolean decode_error_reason(const Tlv *tlv, gpointer out, GError **error)
{
  Es10bProfileInstallationResult *r = out;
  guint64 v;
  gint code;

  if (!tlv_get_uint(tlv, &v, error) ||
      !check_error_code(ES10_CMD_LOAD_BOUND_PROFILE_PACKAGE, v > G_MAXUINT ? G_MAXUINT : (guint)v,
                        &code, error))
    return FALSE;
  r->result = (Es10bInstallResult)code;
  return TRUE;
}

static const Es10Field success_result_fields[] = {
    /* SuccessResult tags aid, so simaResponse keeps OCTET STRING (04). */
    {0x4F, "aid", ES10_FIELD_HEX, PIR(isdp_aid), ES10_NO_FLAG, TRUE, 5, 16, NULL},
    {0x04, "simaResponse", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, accept_any},
};

static const Es10Field error_result_fields[] = {
    /* ErrorResult has no tags of its own: [0], [1], [2]. */
    {0x80, "bppCommandId", ES10_FIELD_UINT, PIR(bpp_command_id), ES10_NO_FLAG, TRUE, 0,
     ES10B_BPP_LOAD_PROFILE_ELEMENTS, NULL},
    {0x81, "errorReason", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, decode_error_reason},
};

static gboolean decode_final_result(const Tlv *tlv, gpointer out, GError **error)
{
  Es10bProfileInstallationResult *r = out;
  TlvIter iter;
  Tlv choice, extra;
  GError *local = NULL;

  /* finalResult [2] is an explicit tag around the CHOICE (X.680 31.2.7). */
  if (!tlv_iter_init(&iter, tlv, error))
    return FALSE;
  if (!tlv_iter_next(&iter, &choice, &local)) {
    if (!local)
      g_set_error(&local, ES10_ERROR, ES10_ERROR_MISSING_FIELD, "no alternative");
    g_propagate_error(error, local);
    return FALSE;
  }
  if (tlv_iter_next(&iter, &extra, &local) || local) {
    if (!local)
      g_set_error(&local, ES10_ERROR, ES10_ERROR_TRAILING_DATA, "more than one alternative");
    g_propagate_error(error, local);
    return FALSE;
  }
  switch (choice.tag) {
  case 0xA0:
    r->result = ES10B_INSTALL_OK;
    return es10_decode_fields(&choice, "SuccessResult", success_result_fields,
                              G_N_ELEMENTS(success_result_fields), r, error);
  case 0xA1:
    return es10_decode_fields(&choice, "ErrorResult", error_result_fields,
                              G_N_ELEMENTS(error_result_fields), r, error);
  default:
    g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG, "unexpected alternative %X",
                choice.tag);
    return FALSE;
  }
}

static const Es10Field pir_data_fields[] = {
    {0x80, "transactionId", ES10_FIELD_BYTES, PIR(transaction_id), ES10_NO_FLAG, TRUE, 1, 16, NULL},
    {0xBF2F, "notificationMetadata", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0,
     decode_pir_metadata},
    {0x06, "smdpOid", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, FALSE, 0, 0, decode_smdp_oid},
    {0xA2, "finalResult", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, decode_final_result},
};

static gboolean decode_pir_data(const Tlv *tlv, gpointer out, GError **error)
{
  return es10_decode_fields(tlv, "ProfileInstallationResultData", pir_data_fields,
                            G_N_ELEMENTS(pir_data_fields), out, error);
}

static const Es10Field pir_fields[] = {
    {0xBF27, "profileInstallationResultData", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0,
     decode_pir_data},
    {0x5F37, "euiccSignPIR", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, accept_any},
};

gboolean es10b_profile_installation_result_decode(const guint8 *buf, gsize len,
                                                  Es10bProfileInstallationResult **out,
                                                  GError **error)
{
  g_autoptr(Es10bProfileInstallationResult) r = g_new0(Es10bProfileInstallationResult, 1);

  if (!es10_decode_response_fields(ES10_CMD_LOAD_BOUND_PROFILE_PACKAGE, buf, len, pir_fields,
                                   G_N_ELEMENTS(pir_fields), r, error))
    return FALSE;
  /* SGP.22 3.1.3 and 3.5: delivered to the SM-DP+ as is, like any notification. */
  r->der = g_bytes_new(buf, len);
  *out = g_steal_pointer(&r);
  return TRUE;
}

gboolean es10b_load_bound_profile_package_decode(const guint8 *buf, gsize len,
                                                 Es10bProfileInstallationResult **out,
                                                 GError **error)
{
  if (len == 0) {
    *out = NULL;
    return TRUE;
  }
  return es10b_profile_installation_result_decode(buf, len, out, error);
}

void es10b_profile_installation_result_free(Es10bProfileInstallationResult *r)
{
  if (!r)
    return;
  g_clear_pointer(&r->der, g_bytes_unref);
  g_clear_pointer(&r->transaction_id, g_bytes_unref);
  es10_notification_metadata_clear(&r->metadata);
  g_free(r->smdp_oid);
  g_free(r->isdp_aid);
  g_free(r);
}

/* ---- CancelSession ------------------------------------------------------ */

const char *es10b_cancel_session_reason_to_string(guint reason)
{
  static const char *const names[] = {"endUserRejection", "postponed",
                                      "timeout",          "pprNotAllowed",
                                      "metadataMismatch", "loadBppExecutionError"};

  if (reason == ES10B_CANCEL_UNDEFINED_REASON)
    return "undefinedReason";
  return reason < G_N_ELEMENTS(names) ? names[reason] : "unknown";
}

GBytes *es10b_cancel_session_encode(GBytes *transaction_id, Es10bCancelSessionReason reason,
                                    GError **error)
{
  TlvWriter w;

  if (!check_transaction_id(transaction_id, error))
    return NULL;
  if ((guint)reason > ES10B_CANCEL_LOAD_BPP_EXECUTION_ERROR &&
      reason != ES10B_CANCEL_UNDEFINED_REASON) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                "CancelSessionReason %u is not defined", (guint)reason);
    return NULL;
  }
  tlv_writer_init(&w);
  tlv_writer_begin(&w, es10_command_get_tag(ES10_CMD_CANCEL_SESSION));
  /* Neither component is tagged: AUTOMATIC TAGS makes them [0] and [1]. */
  tlv_writer_put(&w, 0x80, g_bytes_get_data(transaction_id, NULL),
                 g_bytes_get_size(transaction_id));
  tlv_writer_put_uint(&w, 0x81, reason);
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

static const Es10Field cancel_session_signed_fields[] = {
    {0x80, "transactionId", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, accept_any},
    {0x81, "smdpOid", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, accept_any},
    {0x82, "reason", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, accept_any},
};

static gboolean decode_cancel_session_signed(const Tlv *tlv, gpointer out, GError **error)
{
  return es10_decode_fields(tlv, "EuiccCancelSessionSigned", cancel_session_signed_fields,
                            G_N_ELEMENTS(cancel_session_signed_fields), out, error);
}

static const Es10Field cancel_session_ok_fields[] = {
    {0x30, "euiccCancelSessionSigned", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0,
     decode_cancel_session_signed},
    {0x5F37, "euiccCancelSessionSignature", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0,
     accept_any},
};

gboolean es10b_cancel_session_decode(const guint8 *buf, gsize len, Es10bCancelSessionResult *result,
                                     GBytes **der, GError **error)
{
  Tlv ok;
  gint r;

  /* CancelSessionResponse is a CHOICE of [0] the signed answer and [1] an INTEGER. */
  if (!es10_open_list_response(ES10_CMD_CANCEL_SESSION, buf, len, &ok, &r, error))
    return FALSE;
  if (r == 0) {
    if (!es10_decode_fields(&ok, "CancelSessionResponseOk", cancel_session_ok_fields,
                            G_N_ELEMENTS(cancel_session_ok_fields), NULL, error))
      return FALSE;
    /* ES9+.CancelSession (SGP.22 5.6) carries the whole response. */
    *der = g_bytes_new(buf, len);
  } else {
    *der = NULL;
  }
  *result = (Es10bCancelSessionResult)r;
  return TRUE;
}
