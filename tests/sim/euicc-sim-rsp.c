/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The eUICC's half of SGP.22 3.1.3 (profile download and installation),
 * done for real with libcrypto:
 *   - mutual authentication (5.7.13 AuthenticateServer): CERT.DPauth checked
 *     against the CI the card trusts, serverSignature1 checked, euiccSigned1
 *     signed with SK.EUICC.ECDSA;
 *   - PrepareDownload (5.7.5): CERT.DPpb and smdpSignature2 checked, the
 *     one-time key pair otPK/otSK.EUICC.ECKA made, euiccSigned2 signed;
 *   - LoadBoundProfilePackage (5.7.6): the BPP arrives in the segments of
 *     2.5.5; InitialiseSecureChannel (5.5.1) gives smdpOtpk, ECKA-DH and the
 *     X9.63 KDF (2.6.4.2, annex G) give the SCP03t keys, each 87/88/86
 *     segment is MAC-checked and 87/86 decrypted (2.6.4.3, 2.6.4.4), then
 *     the profile is installed and a signed ProfileInstallationResult kept;
 *   - CancelSession (5.7.14), signed.
 * Signatures inside SGP.22 data objects are r || s (64 bytes for P-256,
 * BSI TR-03111 plain format, SGP.22 2.6.7); certificates carry DER.
 */
#include "euicc-sim-rsp.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "euicc-sim.h"

#define SW_OK 0x9000
#define SW_WRONG_DATA 0x6A80
#define SW_CONDITIONS 0x6985

/* AuthenticateErrorCode / DownloadErrorCode, rsp.asn. */
enum {
  ERR_INVALID_CERTIFICATE = 1,
  ERR_INVALID_SIGNATURE = 2,
  ERR_UNSUPPORTED_CURVE = 3,
  ERR_NO_SESSION_CONTEXT = 4,
  ERR_DL_INVALID_TRANSACTION_ID = 5,
  ERR_EUICC_CHALLENGE_MISMATCH = 6,
  ERR_CI_PK_UNKNOWN = 7,
  ERR_UNDEFINED = 127,
};

/* BppCommandId, rsp.asn. */
typedef enum {
  BPP_CMD_INITIALISE_SECURE_CHANNEL = 0,
  BPP_CMD_CONFIGURE_ISDP = 1,
  BPP_CMD_STORE_METADATA = 2,
  BPP_CMD_REPLACE_SESSION_KEYS = 4,
  BPP_CMD_LOAD_PROFILE_ELEMENTS = 5,
} BppCommand;

/* ErrorReason, rsp.asn. */
enum {
  REASON_INCORRECT_INPUT_VALUES = 1,
  REASON_INVALID_SIGNATURE = 2,
  REASON_INVALID_TRANSACTION_ID = 3,
  REASON_UNSUPPORTED_CRT_VALUES = 4,
  REASON_UNSUPPORTED_REMOTE_OPERATION_TYPE = 5,
  REASON_UNSUPPORTED_PROFILE_CLASS = 6,
  REASON_SCP03T_STRUCTURE_ERROR = 7,
  REASON_SCP03T_SECURITY_ERROR = 8,
  REASON_ICCID_ALREADY_EXISTS = 9,
  REASON_INSUFFICIENT_MEMORY = 10,
  REASON_PE_PROCESSING_ERROR = 12,
  REASON_ICCID_MISMATCH = 13,
  REASON_PPR_NOT_ALLOWED = 15,
};

typedef enum {
  SESSION_NONE,
  SESSION_AUTHENTICATED, /* AuthenticateServer done */
  SESSION_PREPARED,      /* PrepareDownload done: otSK.EUICC.ECKA exists */
} SessionState;

/* Where the card is inside a BPP (SGP.22 2.5.5 segmentation). */
typedef enum {
  BPP_IDLE,
  BPP_WANT_A0,       /* firstSequenceOf87 (ConfigureISDP): header and first 87 */
  BPP_IN_A0,         /* its further 87 */
  BPP_WANT_A1,       /* sequenceOf88 header */
  BPP_IN_A1,         /* its 88 segments */
  BPP_WANT_A2_OR_A3, /* secondSequenceOf87 (ReplaceSessionKeys) header and first 87, or A3 header */
  BPP_IN_A2,         /* further 87 of the A2 */
  BPP_WANT_A3,       /* sequenceOf86 header after ReplaceSessionKeys */
  BPP_IN_A3,         /* its 86 segments */
} BppPhase;

struct _SimRsp {
  X509 *ci;
  GBytes *ci_pkid;
  X509 *euicc_cert;
  X509 *eum_cert;
  EVP_PKEY *euicc_key;
  GBytes *euicc_der;
  GBytes *eum_der;

  gboolean has_challenge;
  guint8 challenge[16];
  GPtrArray *used_transactions; /* GBytes: transactionIds already authenticated */

  SessionState state;
  GBytes *transaction_id;
  char *server_address;
  GBytes *smdp_oid_auth; /* OID content octets from CERT.DPauth */
  GBytes *smdp_oid_pb;   /* ... and from CERT.DPpb */
  EVP_PKEY *dppb_key;
  guint8 euicc_signature1[64];
  EVP_PKEY *otk; /* otSK.EUICC.ECKA */
  guint8 otpk[65];
  gsize otpk_len;

  BppPhase phase;
  gsize bpp_left; /* BF36 value bytes still to come */
  gsize seq_left; /* A1 or A3 value bytes still to come */
  guint8 s_enc[16];
  guint8 s_mac[16];
  guint8 mcv[16];
  guint32 counter;     /* SCP03t block counter for the ICV, from 1 */
  GByteArray *plain87; /* the decrypted 87 of the A0 or A2 so far */
  GByteArray *metadata;
  GByteArray *elements;
  /* From StoreMetadata, once it is in. */
  SimProfile *profile;
};

/* ------------------------------------------------------------------ */
/* libcrypto helpers                                                    */

static X509 *load_cert(const char *path, GError **error)
{
  FILE *f = fopen(path, "r");
  X509 *x;

  if (!f) {
    g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE, "cannot open %s", path);
    return NULL;
  }
  x = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  if (!x)
    g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE, "%s holds no PEM certificate",
                path);
  return x;
}

static GBytes *cert_der(X509 *x)
{
  unsigned char *der = NULL;
  int n = i2d_X509(x, &der);
  GBytes *b;

  if (n <= 0)
    return NULL;
  b = g_bytes_new(der, (gsize)n);
  OPENSSL_free(der);
  return b;
}

static X509 *cert_from_der(const guint8 *p, gsize n)
{
  const unsigned char *q = p;
  X509 *x = d2i_X509(NULL, &q, (long)n);

  if (x && q != p + n) {
    X509_free(x);
    return NULL;
  }
  return x;
}

/* SGP.22 2.6.7 / 4.5: every key of this PKI is on NIST P-256. */
static gboolean key_is_p256(EVP_PKEY *k)
{
  char group[64];
  size_t n = 0;

  if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_EC)
    return FALSE;
  if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &n))
    return FALSE;
  return g_str_equal(group, "prime256v1") || g_str_equal(group, "P-256");
}

/* The certificate chains to the CI the card trusts (with the EUM between, if given). */
static gboolean chain_ok(SimRsp *rsp, X509 *leaf, X509 *intermediate)
{
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  STACK_OF(X509) *untrusted = sk_X509_new_null();
  gboolean ok = FALSE;

  if (store && ctx && untrusted && X509_STORE_add_cert(store, rsp->ci) == 1) {
    if (intermediate)
      sk_X509_push(untrusted, intermediate);
    if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) == 1)
      ok = X509_verify_cert(ctx) == 1;
  }
  sk_X509_free(untrusted);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok;
}

static gboolean ecdsa_sign_raw(EVP_PKEY *key, const guint8 *data, gsize len, guint8 out[64])
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char *der = NULL;
  const unsigned char *q;
  size_t n = 0;
  ECDSA_SIG *sig = NULL;
  const BIGNUM *r, *s;
  gboolean ok = FALSE;

  if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
      EVP_DigestSign(md, NULL, &n, data, len) == 1) {
    der = OPENSSL_malloc(n);
    if (der && EVP_DigestSign(md, der, &n, data, len) == 1) {
      q = der;
      sig = d2i_ECDSA_SIG(NULL, &q, (long)n);
      if (sig) {
        ECDSA_SIG_get0(sig, &r, &s);
        ok = BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(s, out + 32, 32) == 32;
      }
    }
  }
  ECDSA_SIG_free(sig);
  OPENSSL_free(der);
  EVP_MD_CTX_free(md);
  return ok;
}

static gboolean ecdsa_verify_raw(EVP_PKEY *key, const guint8 *data, gsize len, const guint8 *sig,
                                 gsize sig_len)
{
  ECDSA_SIG *s;
  BIGNUM *r, *ss;
  unsigned char *der = NULL;
  int der_len;
  EVP_MD_CTX *md;
  gboolean ok = FALSE;

  if (!key || sig_len != 64)
    return FALSE;
  s = ECDSA_SIG_new();
  r = BN_bin2bn(sig, 32, NULL);
  ss = BN_bin2bn(sig + 32, 32, NULL);
  if (!s || !r || !ss || ECDSA_SIG_set0(s, r, ss) != 1) {
    BN_free(r);
    BN_free(ss);
    ECDSA_SIG_free(s);
    return FALSE;
  }
  der_len = i2d_ECDSA_SIG(s, &der);
  md = EVP_MD_CTX_new();
  if (der_len > 0 && md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1)
    ok = EVP_DigestVerify(md, der, (size_t)der_len, data, len) == 1;
  EVP_MD_CTX_free(md);
  OPENSSL_free(der);
  ECDSA_SIG_free(s);
  return ok;
}

/* A public key on P-256 from its uncompressed point (04 || X || Y). */
static EVP_PKEY *p256_public_key(const guint8 *point, gsize len)
{
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  EVP_PKEY *k = NULL;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, len),
      OSSL_PARAM_construct_end(),
  };

  if (len != 65 || point[0] != 0x04)
    goto out;
  if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
    k = NULL;
out:
  EVP_PKEY_CTX_free(ctx);
  return k;
}

/* ECKA-DH (BSI TR-03111): the x coordinate of the shared point. */
static gboolean ecka(EVP_PKEY *mine, EVP_PKEY *peer, guint8 z[32])
{
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(mine, NULL);
  size_t n = 32;
  gboolean ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
                EVP_PKEY_derive(ctx, z, &n) == 1 && n == 32;

  EVP_PKEY_CTX_free(ctx);
  return ok;
}

static void sha256(const guint8 *a, gsize alen, const guint8 *b, gsize blen, const guint8 *c,
                   gsize clen, guint8 out[32])
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();

  EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  EVP_DigestUpdate(md, a, alen);
  EVP_DigestUpdate(md, b, blen);
  EVP_DigestUpdate(md, c, clen);
  EVP_DigestFinal_ex(md, out, NULL);
  EVP_MD_CTX_free(md);
}

static gboolean aes_cmac(const guint8 key[16], const guint8 *data, gsize len, guint8 out[16])
{
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
  EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, (char *)"AES-128-CBC", 0),
      OSSL_PARAM_construct_end(),
  };
  size_t n = 0;
  gboolean ok = ctx && EVP_MAC_init(ctx, key, 16, params) == 1 &&
                EVP_MAC_update(ctx, data, len) == 1 && EVP_MAC_final(ctx, out, &n, 16) == 1 &&
                n == 16;

  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return ok;
}

/* One AES-128 operation without padding: ECB for the ICV, CBC for a segment. */
static gboolean aes_run(const EVP_CIPHER *cipher, gboolean enc, const guint8 key[16],
                        const guint8 *iv, const guint8 *in, gsize len, guint8 *out)
{
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n1 = 0, n2 = 0;
  gboolean ok = ctx && EVP_CipherInit_ex(ctx, cipher, NULL, key, iv, enc ? 1 : 0) == 1 &&
                EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
                EVP_CipherUpdate(ctx, out, &n1, in, (int)len) == 1 &&
                EVP_CipherFinal_ex(ctx, out + n1, &n2) == 1 && (gsize)(n1 + n2) == len;

  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

/* The subjectAltName registeredID of an SM-DP+ certificate (SGP.22 4.5.2): its OID content. */
static GBytes *cert_registered_id(X509 *x)
{
  GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  GBytes *out = NULL;

  for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !out; i++) {
    GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_RID) {
      size_t n = OBJ_length(g->d.registeredID);
      out = g_bytes_new(OBJ_get0_data(g->d.registeredID), n);
    }
  }
  GENERAL_NAMES_free(names);
  if (!out) {
    /* A certificate without one: 2.999.10 (the example arc of X.660). */
    static const guint8 fallback[] = {0x88, 0x37, 0x0A};
    out = g_bytes_new_static(fallback, sizeof(fallback));
  }
  return out;
}

/* ------------------------------------------------------------------ */
/* Life cycle and credentials                                           */

SimRsp *sim_rsp_new(void)
{
  SimRsp *rsp = g_new0(SimRsp, 1);

  rsp->used_transactions = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  rsp->plain87 = g_byte_array_new();
  rsp->metadata = g_byte_array_new();
  rsp->elements = g_byte_array_new();
  return rsp;
}

static void bpp_reset(SimRsp *rsp)
{
  rsp->phase = BPP_IDLE;
  rsp->bpp_left = rsp->seq_left = 0;
  g_byte_array_set_size(rsp->plain87, 0);
  g_byte_array_set_size(rsp->metadata, 0);
  g_byte_array_set_size(rsp->elements, 0);
  g_clear_pointer(&rsp->profile, sim_profile_free);
  OPENSSL_cleanse(rsp->s_enc, sizeof(rsp->s_enc));
  OPENSSL_cleanse(rsp->s_mac, sizeof(rsp->s_mac));
}

/* Ends the RSP session: SGP.22 3.1.3 keeps nothing of it but the used transactionId. */
static void session_end(SimRsp *rsp)
{
  rsp->state = SESSION_NONE;
  g_clear_pointer(&rsp->transaction_id, g_bytes_unref);
  g_clear_pointer(&rsp->server_address, g_free);
  g_clear_pointer(&rsp->smdp_oid_auth, g_bytes_unref);
  g_clear_pointer(&rsp->smdp_oid_pb, g_bytes_unref);
  g_clear_pointer(&rsp->dppb_key, EVP_PKEY_free);
  g_clear_pointer(&rsp->otk, EVP_PKEY_free);
  rsp->otpk_len = 0;
  bpp_reset(rsp);
}

void sim_rsp_free(SimRsp *rsp)
{
  if (!rsp)
    return;
  session_end(rsp);
  X509_free(rsp->ci);
  X509_free(rsp->euicc_cert);
  X509_free(rsp->eum_cert);
  EVP_PKEY_free(rsp->euicc_key);
  g_clear_pointer(&rsp->ci_pkid, g_bytes_unref);
  g_clear_pointer(&rsp->euicc_der, g_bytes_unref);
  g_clear_pointer(&rsp->eum_der, g_bytes_unref);
  g_ptr_array_unref(rsp->used_transactions);
  g_byte_array_unref(rsp->plain87);
  g_byte_array_unref(rsp->metadata);
  g_byte_array_unref(rsp->elements);
  g_free(rsp);
}

gboolean sim_rsp_load(SimRsp *rsp, const char *eid, const char *ci_cert, const char *euicc_cert,
                      const char *euicc_key, const char *eum_cert, GError **error)
{
  char serial[64] = "";
  X509 *ci = NULL, *euicc = NULL, *eum = NULL;
  EVP_PKEY *key = NULL;
  const ASN1_OCTET_STRING *ski;
  FILE *f;

  if (!(ci = load_cert(ci_cert, error)) || !(euicc = load_cert(euicc_cert, error)) ||
      !(eum = load_cert(eum_cert, error)))
    goto fail;
  f = fopen(euicc_key, "r");
  if (f) {
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
  }
  if (!key || !key_is_p256(key)) {
    g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE, "%s holds no P-256 private key",
                euicc_key);
    goto fail;
  }
  if (X509_check_private_key(euicc, key) != 1) {
    g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE,
                "%s is not the key of the certificate %s", euicc_key, euicc_cert);
    goto fail;
  }
  /* SGP.22 4.5.2.1.0.2: the certificate's serialNumber is the EID. The
   * SM-DP+ derives the session keys with that EID and the card with its
   * own: a mismatch would only show up as a MAC error much later. */
  X509_NAME_get_text_by_NID(X509_get_subject_name(euicc), NID_serialNumber, serial, sizeof(serial));
  if (eid && g_ascii_strcasecmp(serial, eid) != 0) {
    g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE,
                "%s is for EID \"%s\", the card's is %s (mkpki --eid)", euicc_cert, serial, eid);
    goto fail;
  }
  ski = X509_get0_subject_key_id(ci);
  if (!ski) {
    g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE,
                "%s has no subjectKeyIdentifier (the CI PKID)", ci_cert);
    goto fail;
  }
  X509_free(rsp->ci);
  X509_free(rsp->euicc_cert);
  X509_free(rsp->eum_cert);
  EVP_PKEY_free(rsp->euicc_key);
  g_clear_pointer(&rsp->ci_pkid, g_bytes_unref);
  g_clear_pointer(&rsp->euicc_der, g_bytes_unref);
  g_clear_pointer(&rsp->eum_der, g_bytes_unref);
  rsp->ci = ci;
  rsp->euicc_cert = euicc;
  rsp->eum_cert = eum;
  rsp->euicc_key = key;
  rsp->ci_pkid = g_bytes_new(ASN1_STRING_get0_data(ski), (gsize)ASN1_STRING_length(ski));
  rsp->euicc_der = cert_der(euicc);
  rsp->eum_der = cert_der(eum);
  return TRUE;

fail:
  X509_free(ci);
  X509_free(euicc);
  X509_free(eum);
  EVP_PKEY_free(key);
  return FALSE;
}

gboolean sim_rsp_is_loaded(SimRsp *rsp)
{
  return rsp->euicc_key != NULL;
}

GBytes *sim_rsp_get_ci_pkid(SimRsp *rsp)
{
  return rsp->ci_pkid;
}

GBytes *sim_rsp_get_euicc_certificate(SimRsp *rsp)
{
  return rsp->euicc_der;
}

GBytes *sim_rsp_get_eum_certificate(SimRsp *rsp)
{
  return rsp->eum_der;
}

gboolean sim_rsp_sign(SimRsp *rsp, const guint8 *data, gsize len, guint8 sig[64])
{
  return rsp->euicc_key && ecdsa_sign_raw(rsp->euicc_key, data, len, sig);
}

/* ------------------------------------------------------------------ */
/* ES10b: authentication                                                */

static gboolean tlv_equals(const Tlv *t, GBytes *b)
{
  gsize n;
  const guint8 *p = g_bytes_get_data(b, &n);

  return t->length == n && memcmp(t->value, p, n) == 0;
}

/* ES10b.GetEUICCChallenge, SGP.22 5.7.7: a fresh challenge replaces the last one. */
guint16 sim_rsp_get_euicc_challenge(SimRsp *rsp, const Tlv *req, TlvWriter *w)
{
  if (RAND_bytes(rsp->challenge, sizeof(rsp->challenge)) != 1)
    return SW_CONDITIONS;
  rsp->has_challenge = TRUE;
  tlv_writer_begin(w, 0xBF2E);
  tlv_writer_put(w, 0x80, rsp->challenge, sizeof(rsp->challenge));
  tlv_writer_end(w);
  return SW_OK;
}

static guint16 authenticate_error(TlvWriter *w, const Tlv *tid, guint code)
{
  tlv_writer_begin(w, 0xBF38);
  tlv_writer_begin(w, 0xA1);
  tlv_writer_put(w, 0x80, tid->value, tid->length);
  tlv_writer_put_uint(w, 0x02, code);
  tlv_writer_end(w);
  tlv_writer_end(w);
  return SW_OK;
}

static gboolean transaction_used(SimRsp *rsp, const Tlv *tid)
{
  for (guint i = 0; i < rsp->used_transactions->len; i++) {
    if (tlv_equals(tid, g_ptr_array_index(rsp->used_transactions, i)))
      return TRUE;
  }
  return FALSE;
}

/*
 * ES10b.AuthenticateServer, SGP.22 5.7.13. The checks run in the order of
 * the spec: CI, certificate, signature, challenge. A transactionId this card
 * has already authenticated is refused as undefinedError: rsp.asn has no
 * better code, and SGP.22 3.1.3 makes every session's transactionId new.
 */
guint16 sim_rsp_authenticate_server(SimRsp *rsp, SimCard *card, GBytes *euicc_info2, const Tlv *req,
                                    TlvWriter *w)
{
  Tlv signed1, sig, pkid, cert, ctx, tid, challenge, address, server_challenge;
  X509 *dpauth = NULL;
  EVP_PKEY *pub;
  gboolean known_ci = FALSE;
  guint code = 0;
  TlvWriter s;
  g_autoptr(GBytes) signed_out = NULL;
  guint8 signature[64];
  TlvIter it;

  /* AuthenticateServerRequest: 30 serverSigned1, 5F37, 04 ciPKId, 30 cert, A0 ctxParams1. */
  if (!tlv_iter_init(&it, req, NULL) || !tlv_iter_next(&it, &signed1, NULL) ||
      signed1.tag != 0x30 || !tlv_iter_next(&it, &sig, NULL) || sig.tag != 0x5F37 ||
      !tlv_iter_next(&it, &pkid, NULL) || pkid.tag != 0x04 || !tlv_iter_next(&it, &cert, NULL) ||
      cert.tag != 0x30 || !tlv_iter_next(&it, &ctx, NULL) || ctx.tag != 0xA0)
    return SW_WRONG_DATA;
  if (!tlv_find(&signed1, 0x80, &tid, NULL) || !tlv_find(&signed1, 0x81, &challenge, NULL) ||
      !tlv_find(&signed1, 0x83, &address, NULL) ||
      !tlv_find(&signed1, 0x84, &server_challenge, NULL) || tid.length < 1 || tid.length > 16 ||
      server_challenge.length != 16)
    return SW_WRONG_DATA;

  /* A new AuthenticateServer ends whatever session was open. */
  session_end(rsp);

  for (guint i = 0; i < card->ci_pkids->len; i++)
    known_ci |= tlv_equals(&pkid, g_ptr_array_index(card->ci_pkids, i));
  if (!sim_rsp_is_loaded(rsp)) {
    code = ERR_UNDEFINED;
    goto error;
  }
  if (!known_ci || !tlv_equals(&pkid, rsp->ci_pkid)) {
    code = ERR_CI_PK_UNKNOWN;
    goto error;
  }
  dpauth = cert_from_der(cert.raw, cert.raw_length);
  if (!dpauth) {
    code = ERR_INVALID_CERTIFICATE;
    goto error;
  }
  pub = X509_get0_pubkey(dpauth);
  if (!key_is_p256(pub)) {
    code = ERR_UNSUPPORTED_CURVE;
    goto error;
  }
  if (!chain_ok(rsp, dpauth, NULL)) {
    code = ERR_INVALID_CERTIFICATE;
    goto error;
  }
  if (!ecdsa_verify_raw(pub, signed1.raw, signed1.raw_length, sig.value, sig.length)) {
    code = ERR_INVALID_SIGNATURE;
    goto error;
  }
  if (!rsp->has_challenge || challenge.length != 16 ||
      memcmp(challenge.value, rsp->challenge, 16) != 0) {
    code = ERR_EUICC_CHALLENGE_MISMATCH;
    goto error;
  }
  if (transaction_used(rsp, &tid)) {
    code = ERR_UNDEFINED;
    goto error;
  }

  /* euiccSigned1: transactionId, serverAddress, serverChallenge, euiccInfo2, ctxParams1. */
  tlv_writer_init(&s);
  tlv_writer_begin(&s, 0x30);
  tlv_writer_put(&s, 0x80, tid.value, tid.length);
  tlv_writer_put(&s, 0x83, address.value, address.length);
  tlv_writer_put(&s, 0x84, server_challenge.value, server_challenge.length);
  tlv_writer_put_raw(&s, g_bytes_get_data(euicc_info2, NULL), g_bytes_get_size(euicc_info2));
  tlv_writer_put_raw(&s, ctx.raw, ctx.raw_length);
  tlv_writer_end(&s);
  signed_out = tlv_writer_finish(&s);
  if (!sim_rsp_sign(rsp, g_bytes_get_data(signed_out, NULL), g_bytes_get_size(signed_out),
                    signature)) {
    code = ERR_UNDEFINED;
    goto error;
  }

  rsp->has_challenge = FALSE; /* a challenge answers one authentication */
  rsp->state = SESSION_AUTHENTICATED;
  rsp->transaction_id = g_bytes_new(tid.value, tid.length);
  rsp->server_address = g_strndup((const char *)address.value, address.length);
  rsp->smdp_oid_auth = cert_registered_id(dpauth);
  memcpy(rsp->euicc_signature1, signature, 64);
  g_ptr_array_add(rsp->used_transactions, g_bytes_ref(rsp->transaction_id));
  X509_free(dpauth);

  tlv_writer_begin(w, 0xBF38);
  tlv_writer_begin(w, 0xA0);
  tlv_writer_put_raw(w, g_bytes_get_data(signed_out, NULL), g_bytes_get_size(signed_out));
  tlv_writer_put(w, 0x5F37, signature, 64);
  tlv_writer_put_raw(w, g_bytes_get_data(rsp->euicc_der, NULL), g_bytes_get_size(rsp->euicc_der));
  tlv_writer_put_raw(w, g_bytes_get_data(rsp->eum_der, NULL), g_bytes_get_size(rsp->eum_der));
  tlv_writer_end(w);
  tlv_writer_end(w);
  return SW_OK;

error:
  X509_free(dpauth);
  return authenticate_error(w, &tid, code);
}

static guint16 download_error(TlvWriter *w, const Tlv *tid, guint code)
{
  tlv_writer_begin(w, 0xBF21);
  tlv_writer_begin(w, 0xA1);
  tlv_writer_put(w, 0x80, tid->value, tid->length);
  tlv_writer_put_uint(w, 0x02, code);
  tlv_writer_end(w);
  tlv_writer_end(w);
  return SW_OK;
}

/*
 * ES10b.PrepareDownload, SGP.22 5.7.5. smdpSignature2 covers smdpSigned2
 * and the euiccSignature1 data object (tag 5F37 included); euiccSignature2
 * covers euiccSigned2 and the smdpSignature2 data object. hashCc is the
 * LPA's SHA-256(SHA-256(code) || transactionId): the card cannot check its
 * value (only the SM-DP+ knows the code) but insists on it when
 * ccRequiredFlag is set, and signs it into euiccSigned2.
 */
guint16 sim_rsp_prepare_download(SimRsp *rsp, const Tlv *req, TlvWriter *w)
{
  Tlv signed2, sig, hash_cc = {0}, cert, tid, flag, bpp_otpk;
  gboolean has_hash = FALSE, cc_required = FALSE, reuse = FALSE;
  g_autoptr(GBytes) pb_oid = NULL;
  X509 *dppb = NULL;
  EVP_PKEY *pub;
  GByteArray *msg;
  guint8 euicc_sig1_do[67], smdp_sig2_do[67], signature[64];
  TlvWriter s;
  g_autoptr(GBytes) signed_out = NULL;
  guint code = 0;
  TlvIter it;

  if (!tlv_iter_init(&it, req, NULL) || !tlv_iter_next(&it, &signed2, NULL) ||
      signed2.tag != 0x30 || !tlv_iter_next(&it, &sig, NULL) || sig.tag != 0x5F37 ||
      !tlv_iter_next(&it, &cert, NULL))
    return SW_WRONG_DATA;
  if (cert.tag == 0x04) {
    hash_cc = cert;
    has_hash = TRUE;
    if (!tlv_iter_next(&it, &cert, NULL))
      return SW_WRONG_DATA;
  }
  if (cert.tag != 0x30 || !tlv_find(&signed2, 0x80, &tid, NULL) ||
      !tlv_find(&signed2, 0x01, &flag, NULL) || !tlv_get_bool(&flag, &cc_required, NULL))
    return SW_WRONG_DATA;

  if (rsp->state == SESSION_NONE) {
    code = ERR_NO_SESSION_CONTEXT;
    goto error;
  }
  if (!tlv_equals(&tid, rsp->transaction_id)) {
    code = ERR_DL_INVALID_TRANSACTION_ID;
    goto error;
  }
  dppb = cert_from_der(cert.raw, cert.raw_length);
  if (!dppb) {
    code = ERR_INVALID_CERTIFICATE;
    goto error;
  }
  pub = X509_get0_pubkey(dppb);
  if (!key_is_p256(pub)) {
    code = ERR_UNSUPPORTED_CURVE;
    goto error;
  }
  if (!chain_ok(rsp, dppb, NULL)) {
    code = ERR_INVALID_CERTIFICATE;
    goto error;
  }
  /* SGP.22 5.7.5: CERT.DPpb must belong to the SM-DP+ that authenticated,
   * i.e. carry the OID of its CERT.DPauth. */
  pb_oid = cert_registered_id(dppb);
  if (!g_bytes_equal(pb_oid, rsp->smdp_oid_auth)) {
    code = ERR_INVALID_CERTIFICATE;
    goto error;
  }
  euicc_sig1_do[0] = 0x5F;
  euicc_sig1_do[1] = 0x37;
  euicc_sig1_do[2] = 64;
  memcpy(euicc_sig1_do + 3, rsp->euicc_signature1, 64);
  msg = g_byte_array_new();
  g_byte_array_append(msg, signed2.raw, (guint)signed2.raw_length);
  g_byte_array_append(msg, euicc_sig1_do, sizeof(euicc_sig1_do));
  if (!ecdsa_verify_raw(pub, msg->data, msg->len, sig.value, sig.length)) {
    g_byte_array_unref(msg);
    code = ERR_INVALID_SIGNATURE;
    goto error;
  }
  g_byte_array_unref(msg);
  if (cc_required && (!has_hash || hash_cc.length != 32)) {
    code = ERR_UNDEFINED;
    goto error;
  }

  /* bppEuiccOtpk: the SM-DP+ retries with a BPP bound to the key the card
   * already made (SGP.22 3.1.3.2); reuse it when the card still has it. */
  if (tlv_find(&signed2, 0x5F49, &bpp_otpk, NULL) && rsp->otk && bpp_otpk.length == rsp->otpk_len &&
      memcmp(bpp_otpk.value, rsp->otpk, rsp->otpk_len) == 0)
    reuse = TRUE;
  if (!reuse) {
    g_clear_pointer(&rsp->otk, EVP_PKEY_free);
    rsp->otk = EVP_EC_gen("prime256v1");
    if (!rsp->otk ||
        !EVP_PKEY_get_octet_string_param(rsp->otk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, rsp->otpk,
                                         sizeof(rsp->otpk), &rsp->otpk_len)) {
      code = ERR_UNDEFINED;
      goto error;
    }
  }

  tlv_writer_init(&s);
  tlv_writer_begin(&s, 0x30);
  tlv_writer_put(&s, 0x80, tid.value, tid.length);
  tlv_writer_put(&s, 0x5F49, rsp->otpk, rsp->otpk_len);
  if (has_hash)
    tlv_writer_put(&s, 0x04, hash_cc.value, hash_cc.length);
  tlv_writer_end(&s);
  signed_out = tlv_writer_finish(&s);
  smdp_sig2_do[0] = 0x5F;
  smdp_sig2_do[1] = 0x37;
  smdp_sig2_do[2] = 64;
  memcpy(smdp_sig2_do + 3, sig.value, 64);
  msg = g_byte_array_new();
  g_byte_array_append(msg, g_bytes_get_data(signed_out, NULL), (guint)g_bytes_get_size(signed_out));
  g_byte_array_append(msg, smdp_sig2_do, sizeof(smdp_sig2_do));
  if (!sim_rsp_sign(rsp, msg->data, msg->len, signature)) {
    g_byte_array_unref(msg);
    code = ERR_UNDEFINED;
    goto error;
  }
  g_byte_array_unref(msg);

  g_clear_pointer(&rsp->dppb_key, EVP_PKEY_free);
  rsp->dppb_key = X509_get_pubkey(dppb);
  g_clear_pointer(&rsp->smdp_oid_pb, g_bytes_unref);
  rsp->smdp_oid_pb = g_steal_pointer(&pb_oid);
  rsp->state = SESSION_PREPARED;
  X509_free(dppb);

  tlv_writer_begin(w, 0xBF21);
  tlv_writer_begin(w, 0xA0);
  tlv_writer_put_raw(w, g_bytes_get_data(signed_out, NULL), g_bytes_get_size(signed_out));
  tlv_writer_put(w, 0x5F37, signature, 64);
  tlv_writer_end(w);
  tlv_writer_end(w);
  return SW_OK;

error:
  X509_free(dppb);
  return download_error(w, &tid, code);
}

/*
 * ES10b.CancelSession, SGP.22 5.7.14: the card signs
 * EuiccCancelSessionSigned (transactionId, the DPauth OID, the reason) and
 * ends the session.
 */
guint16 sim_rsp_cancel_session(SimRsp *rsp, const Tlv *req, TlvWriter *w)
{
  Tlv tid, reason;
  guint64 why;
  TlvWriter s;
  g_autoptr(GBytes) signed_out = NULL;
  guint8 signature[64];

  if (!tlv_find(req, 0x80, &tid, NULL) || !tlv_find(req, 0x81, &reason, NULL) ||
      !tlv_get_uint(&reason, &why, NULL))
    return SW_WRONG_DATA;
  if (rsp->state == SESSION_NONE || !tlv_equals(&tid, rsp->transaction_id)) {
    tlv_writer_begin(w, 0xBF41);
    tlv_writer_put_uint(w, 0x81, 5); /* invalidTransactionId */
    tlv_writer_end(w);
    return SW_OK;
  }
  tlv_writer_init(&s);
  tlv_writer_begin(&s, 0x30);
  tlv_writer_put(&s, 0x80, tid.value, tid.length);
  tlv_writer_put(&s, 0x81, g_bytes_get_data(rsp->smdp_oid_auth, NULL),
                 g_bytes_get_size(rsp->smdp_oid_auth));
  tlv_writer_put_uint(&s, 0x82, why);
  tlv_writer_end(&s);
  signed_out = tlv_writer_finish(&s);
  if (!sim_rsp_sign(rsp, g_bytes_get_data(signed_out, NULL), g_bytes_get_size(signed_out),
                    signature)) {
    tlv_writer_begin(w, 0xBF41);
    tlv_writer_put_uint(w, 0x81, 127);
    tlv_writer_end(w);
    return SW_OK;
  }
  session_end(rsp);
  tlv_writer_begin(w, 0xBF41);
  tlv_writer_begin(w, 0xA0);
  tlv_writer_put_raw(w, g_bytes_get_data(signed_out, NULL), g_bytes_get_size(signed_out));
  tlv_writer_put(w, 0x5F37, signature, 64);
  tlv_writer_end(w);
  tlv_writer_end(w);
  return SW_OK;
}

/* ------------------------------------------------------------------ */
/* ES10b.LoadBoundProfilePackage                                        */

/* Tag and definite length at the start of a segment; the value may be absent (a header). */
static gboolean read_header(const guint8 *d, gsize n, guint32 *tag, gsize *hlen, gsize *vlen)
{
  gsize i = 0;
  guint nlen;

  if (n < 2)
    return FALSE;
  *tag = d[i++];
  if ((*tag & 0x1F) == 0x1F) {
    do {
      if (i >= n || i > 3)
        return FALSE;
      *tag = *tag << 8 | d[i];
    } while (d[i++] & 0x80);
  }
  if (i >= n)
    return FALSE;
  if (d[i] < 0x80) {
    *vlen = d[i++];
  } else {
    nlen = d[i++] & 0x7F;
    if (nlen == 0 || nlen > 3 || i + nlen > n)
      return FALSE;
    *vlen = 0;
    for (guint k = 0; k < nlen; k++)
      *vlen = *vlen << 8 | d[i++];
  }
  *hlen = i;
  return TRUE;
}

gboolean sim_rsp_is_bpp_segment(SimRsp *rsp, const guint8 *data, gsize len)
{
  if (len >= 2 && data[0] == 0xBF && data[1] == 0x36)
    return TRUE;
  /* While a BPP loads, its sequence and segment tags belong to it; other
   * ES10 commands are answered as usual and leave the load alone. */
  return rsp->phase != BPP_IDLE && len >= 1 &&
         ((data[0] >= 0xA0 && data[0] <= 0xA3) || (data[0] >= 0x86 && data[0] <= 0x88));
}

/* The next free ISD-P AID in the pattern of the shipped cards: A0000005591010FFFFFFFF890000NN00. */
static void allocate_aid(SimCard *card, guint8 aid[16])
{
  static const guint8 prefix[] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10,
                                  0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00};

  for (guint n = 0x10; n <= 0xFF; n++) {
    gboolean used = FALSE;
    memcpy(aid, prefix, sizeof(prefix));
    aid[14] = (guint8)n;
    aid[15] = 0x00;
    for (guint i = 0; i < card->profiles->len && !used; i++) {
      SimProfile *p = g_ptr_array_index(card->profiles, i);
      used = p->aid_len == 16 && memcmp(p->aid, aid, 16) == 0;
    }
    if (!used)
      return;
  }
}

/*
 * Writes the signed ProfileInstallationResult (SGP.22 5.7.6), keeps it as
 * the install notification addressed to the SM-DP+ of the session, and ends
 * the session. errorReason 0 means success.
 */
static guint16 finish(SimRsp *rsp, SimCard *card, const Tlv *tid_override, BppCommand cmd,
                      guint reason, const guint8 *aid, gboolean keep, TlvWriter *w)
{
  /* EUICCResponse with one peStatus of status ok (SIMalliance PP 2.x). */
  static const guint8 sima_ok[] = {0x30, 0x07, 0xA0, 0x05, 0x30, 0x03, 0x80, 0x01, 0x00};
  SimNotification *n = g_new0(SimNotification, 1);
  TlvWriter d;
  g_autoptr(GBytes) data = NULL;
  GBytes *oid;
  guint8 signature[64] = {0};
  const guint8 *tid;
  gsize tid_len;

  if (tid_override) {
    tid = tid_override->value;
    tid_len = tid_override->length;
  } else {
    tid = g_bytes_get_data(rsp->transaction_id, &tid_len);
  }
  n->seq = keep ? card->next_seq++ : card->next_seq;
  n->event = SIM_EVENT_INSTALL;
  n->address = g_strdup(rsp->server_address ? rsp->server_address : "");
  if (rsp->profile) {
    n->iccid = g_strdup(rsp->profile->iccid);
    memcpy(n->iccid_bcd, rsp->profile->iccid_bcd, 10);
  }
  if (aid) {
    memcpy(n->aid, aid, 16);
    n->aid_len = 16;
  }

  tlv_writer_init(&d);
  tlv_writer_begin(&d, 0xBF27);
  tlv_writer_put(&d, 0x80, tid, tid_len);
  tlv_writer_begin(&d, 0xBF2F); /* NotificationMetadata */
  tlv_writer_put_uint(&d, 0x80, n->seq);
  tlv_writer_put(&d, 0x81, (const guint8 *)"\x07\x80", 2); /* install: bit 0 */
  tlv_writer_put(&d, 0x0C, (const guint8 *)n->address, strlen(n->address));
  if (n->iccid)
    tlv_writer_put(&d, 0x5A, n->iccid_bcd, 10);
  tlv_writer_end(&d);
  oid = rsp->smdp_oid_pb ? rsp->smdp_oid_pb : rsp->smdp_oid_auth;
  if (oid)
    tlv_writer_put(&d, 0x06, g_bytes_get_data(oid, NULL), g_bytes_get_size(oid));
  tlv_writer_begin(&d, 0xA2);
  if (reason == 0) {
    tlv_writer_begin(&d, 0xA0);
    tlv_writer_put(&d, 0x4F, aid, 16);
    tlv_writer_put(&d, 0x04, sima_ok, sizeof(sima_ok));
  } else {
    tlv_writer_begin(&d, 0xA1);
    tlv_writer_put_uint(&d, 0x80, cmd);
    tlv_writer_put_uint(&d, 0x81, reason);
  }
  tlv_writer_end(&d);
  tlv_writer_end(&d);
  tlv_writer_end(&d);
  data = tlv_writer_finish(&d);
  sim_rsp_sign(rsp, g_bytes_get_data(data, NULL), g_bytes_get_size(data), signature);

  /* The answer and the notification are the same element. */
  tlv_writer_init(&d);
  tlv_writer_begin(&d, 0xBF37);
  tlv_writer_put_raw(&d, g_bytes_get_data(data, NULL), g_bytes_get_size(data));
  tlv_writer_put(&d, 0x5F37, signature, 64);
  tlv_writer_end(&d);
  n->pir = tlv_writer_finish(&d);
  tlv_writer_put_raw(w, g_bytes_get_data(n->pir, NULL), g_bytes_get_size(n->pir));
  if (keep)
    g_ptr_array_add(card->notifications, n);
  else
    sim_notification_free(n);
  session_end(rsp);
  return SW_OK;
}

static guint16 fail(SimRsp *rsp, SimCard *card, BppCommand cmd, guint reason, TlvWriter *w)
{
  return finish(rsp, card, NULL, cmd, reason, NULL, TRUE, w);
}

/*
 * One SCP03t command TLV (SGP.22 2.6.4.3/2.6.4.4): the C-MAC is the first 8
 * bytes of AES-CMAC(S-MAC, MAC chaining value || tag || length || data),
 * the full CMAC becomes the next chaining value; encrypted data is AES-CBC
 * under S-ENC with ICV = AES(S-ENC, block counter), padded 80 00...; the
 * counter counts every segment, MAC-only ones too.
 */
static gboolean unwrap_segment(SimRsp *rsp, const Tlv *seg, gboolean encrypted, GByteArray *out)
{
  g_autoptr(GByteArray) m = g_byte_array_new();
  guint8 cmac[16], icv[16] = {0}, ctr[16] = {0};
  gsize hlen = seg->raw_length - seg->length;
  gsize dlen;
  guint8 *plain;
  gsize k;

  if (seg->length < 8)
    return FALSE;
  dlen = seg->length - 8;
  g_byte_array_append(m, rsp->mcv, 16);
  g_byte_array_append(m, seg->raw, (guint)hlen);
  g_byte_array_append(m, seg->value, (guint)dlen);
  if (!aes_cmac(rsp->s_mac, m->data, m->len, cmac) ||
      CRYPTO_memcmp(cmac, seg->value + dlen, 8) != 0)
    return FALSE;
  memcpy(rsp->mcv, cmac, 16);
  ctr[12] = (guint8)(rsp->counter >> 24);
  ctr[13] = (guint8)(rsp->counter >> 16);
  ctr[14] = (guint8)(rsp->counter >> 8);
  ctr[15] = (guint8)rsp->counter;
  rsp->counter++;
  if (!encrypted) {
    g_byte_array_append(out, seg->value, (guint)dlen);
    return TRUE;
  }
  if (dlen == 0 || dlen % 16 != 0 ||
      !aes_run(EVP_aes_128_ecb(), TRUE, rsp->s_enc, NULL, ctr, 16, icv))
    return FALSE;
  plain = g_malloc(dlen);
  if (!aes_run(EVP_aes_128_cbc(), FALSE, rsp->s_enc, icv, seg->value, dlen, plain)) {
    g_free(plain);
    return FALSE;
  }
  for (k = dlen; k > 0 && plain[k - 1] == 0x00; k--)
    ;
  if (k == 0 || plain[k - 1] != 0x80 || dlen - k >= 16) {
    g_free(plain);
    return FALSE;
  }
  g_byte_array_append(out, plain, (guint)(k - 1));
  OPENSSL_cleanse(plain, dlen);
  g_free(plain);
  return TRUE;
}

/* InitialiseSecureChannel, SGP.22 5.5.1: the session keys of annex G. */
static guint16 initialise_secure_channel(SimRsp *rsp, SimCard *card, const Tlv *isc, TlvWriter *w)
{
  Tlv opid, tid, crt, otpk, sign, key_type, key_len, host_id;
  guint64 op = 0;
  g_autoptr(GByteArray) msg = g_byte_array_new();
  g_autoptr(GByteArray) info = g_byte_array_new();
  EVP_PKEY *peer;
  guint8 z[32], out[64], eid[16], counter[4] = {0, 0, 0, 0};
  guint8 len_byte;
  gboolean ok;
  TlvIter it;

  if (!tlv_find(isc, 0x80, &tid, NULL) || tid.length < 1 || tid.length > 16)
    return SW_WRONG_DATA;
  if (rsp->state != SESSION_PREPARED) {
    /* A BPP for no session (a replay after the install, a stale
     * transactionId): refused, and not kept as a notification since no
     * SM-DP+ of a session waits for it. */
    return finish(rsp, card, &tid, BPP_CMD_INITIALISE_SECURE_CHANNEL, REASON_INVALID_TRANSACTION_ID,
                  NULL, FALSE, w);
  }
  if (!tlv_equals(&tid, rsp->transaction_id))
    return fail(rsp, card, BPP_CMD_INITIALISE_SECURE_CHANNEL, REASON_INVALID_TRANSACTION_ID, w);
  if (!tlv_find(isc, 0x82, &opid, NULL) || !tlv_find(isc, 0xA6, &crt, NULL) ||
      !tlv_find(isc, 0x5F49, &otpk, NULL) || !tlv_find(isc, 0x5F37, &sign, NULL) ||
      !tlv_find(&crt, 0x80, &key_type, NULL) || !tlv_find(&crt, 0x81, &key_len, NULL) ||
      !tlv_find(&crt, 0x84, &host_id, NULL))
    return fail(rsp, card, BPP_CMD_INITIALISE_SECURE_CHANNEL, REASON_INCORRECT_INPUT_VALUES, w);
  if (!tlv_get_uint(&opid, &op, NULL) || op != 1)
    return fail(rsp, card, BPP_CMD_INITIALISE_SECURE_CHANNEL,
                REASON_UNSUPPORTED_REMOTE_OPERATION_TYPE, w);
  /* AES-128 only (SGP.22 2.6.4.2: keyType 88, keyLen 10). */
  if (key_type.length != 1 || key_type.value[0] != 0x88 || key_len.length != 1 ||
      key_len.value[0] != 0x10 || host_id.length < 1 || host_id.length > 16)
    return fail(rsp, card, BPP_CMD_INITIALISE_SECURE_CHANNEL, REASON_UNSUPPORTED_CRT_VALUES, w);

  /* smdpSign covers remoteOpId .. smdpOtpk as sent, then euiccOtpk (5F49). */
  tlv_iter_init(&it, isc, NULL);
  {
    Tlv e;
    while (tlv_iter_next(&it, &e, NULL) && e.tag != 0x5F37)
      g_byte_array_append(msg, e.raw, (guint)e.raw_length);
  }
  {
    guint8 hdr[3] = {0x5F, 0x49, (guint8)rsp->otpk_len};
    g_byte_array_append(msg, hdr, 3);
    g_byte_array_append(msg, rsp->otpk, (guint)rsp->otpk_len);
  }
  if (!ecdsa_verify_raw(rsp->dppb_key, msg->data, msg->len, sign.value, sign.length))
    return fail(rsp, card, BPP_CMD_INITIALISE_SECURE_CHANNEL, REASON_INVALID_SIGNATURE, w);

  peer = p256_public_key(otpk.value, otpk.length);
  ok = peer && ecka(rsp->otk, peer, z);
  EVP_PKEY_free(peer);
  /* otSK.EUICC.ECKA is used once (SGP.22 2.6.4.2). */
  g_clear_pointer(&rsp->otk, EVP_PKEY_free);
  if (!ok)
    return fail(rsp, card, BPP_CMD_INITIALISE_SECURE_CHANNEL, REASON_INCORRECT_INPUT_VALUES, w);

  /* SharedInfo = keyType || keyLen || L(hostId) || hostId || L(EID) || EID. */
  for (guint i = 0; i < 16; i++)
    eid[i] = (guint8)(g_ascii_xdigit_value(card->eid[2 * i]) << 4 |
                      g_ascii_xdigit_value(card->eid[2 * i + 1]));
  g_byte_array_append(info, key_type.value, 1);
  g_byte_array_append(info, key_len.value, 1);
  len_byte = (guint8)host_id.length;
  g_byte_array_append(info, &len_byte, 1);
  g_byte_array_append(info, host_id.value, (guint)host_id.length);
  len_byte = 16;
  g_byte_array_append(info, &len_byte, 1);
  g_byte_array_append(info, eid, 16);
  /* X9.63 KDF with SHA-256: Hash(Z || counter || SharedInfo), counter from 1. */
  counter[3] = 1;
  {
    g_autoptr(GByteArray) zc = g_byte_array_new();
    g_byte_array_append(zc, z, 32);
    g_byte_array_append(zc, counter, 4);
    sha256(zc->data, zc->len, info->data, info->len, NULL, 0, out);
    zc->data[35] = 2;
    sha256(zc->data, zc->len, info->data, info->len, NULL, 0, out + 32);
  }
  memcpy(rsp->mcv, out, 16);
  memcpy(rsp->s_enc, out + 16, 16);
  memcpy(rsp->s_mac, out + 32, 16);
  OPENSSL_cleanse(out, sizeof(out));
  OPENSSL_cleanse(z, sizeof(z));
  rsp->counter = 1;
  rsp->phase = BPP_WANT_A0;
  return SW_OK;
}

/* An allowed operator of the RAT against the profile owner: equal digits,
 * or the wildcard 'E' (SGP.22 2.9.2); both in the 24.008 coding. */
static gboolean rat_operator_matches(const guint8 *allowed, const guint8 *owner)
{
  for (int i = 0; i < 3; i++) {
    for (int shift = 0; shift <= 4; shift += 4) {
      guint a = (allowed[i] >> shift) & 0xF, o = (owner[i] >> shift) & 0xF;

      if (a != 0xE && a != o)
        return FALSE;
    }
  }
  return TRUE;
}

/*
 * The card's own check of the profile's PPRs (SGP.22 2.9, 5.5.3): each of
 * PPR1, PPR2 (and PPR3) needs a RAT rule for it whose allowed operators
 * match the owner, and PPR1 is refused while the card holds an
 * operational profile already. pprUpdateControl restricts nothing.
 */
static guint check_pprs(const SimProfile *p, const SimCard *card)
{
  guint32 ruled = p->pprs & ((1u << 1) | (1u << 2) | (1u << 3));

  if (ruled & (1u << 1)) {
    for (guint i = 0; i < card->profiles->len; i++) {
      const SimProfile *o = g_ptr_array_index(card->profiles, i);

      if (o->klass == SIM_CLASS_OPERATIONAL)
        return REASON_PPR_NOT_ALLOWED;
    }
  }
  for (guint32 bit = 1u << 1; bit <= 1u << 3; bit <<= 1) {
    gboolean allowed = FALSE;

    if (!(ruled & bit))
      continue;
    for (guint i = 0; p->has_owner && !allowed && i < card->rat->len; i++) {
      const SimRatRule *r = g_ptr_array_index(card->rat, i);

      for (guint k = 0; (r->pprs & bit) && !allowed && k < r->operators->len; k++)
        allowed = rat_operator_matches(g_bytes_get_data(g_ptr_array_index(r->operators, k), NULL),
                                       p->owner_mccmnc);
    }
    if (!allowed)
      return REASON_PPR_NOT_ALLOWED;
  }
  return 0;
}

/* StoreMetadataRequest (SGP.22 5.5.3) into the profile the card is about to install. */
static guint store_metadata(SimRsp *rsp, SimCard *card)
{
  Tlv md, t;
  SimProfile *p;
  guint64 v;

  if (!tlv_parse(rsp->metadata->data, rsp->metadata->len, &md, NULL) || md.tag != 0xBF25)
    return REASON_INCORRECT_INPUT_VALUES;
  if (!tlv_find(&md, 0x5A, &t, NULL) || t.length != 10)
    return REASON_INCORRECT_INPUT_VALUES;
  p = g_new0(SimProfile, 1);
  rsp->profile = p;
  p->icon_type = -1;
  p->klass = SIM_CLASS_OPERATIONAL;
  memcpy(p->iccid_bcd, t.value, 10);
  p->iccid = sim_iccid_from_bcd(t.value);
  if (!p->iccid || strlen(p->iccid) < 18)
    return REASON_INCORRECT_INPUT_VALUES;
  if (!tlv_find(&md, 0x91, &t, NULL))
    return REASON_INCORRECT_INPUT_VALUES;
  p->provider = g_strndup((const char *)t.value, t.length);
  if (!tlv_find(&md, 0x92, &t, NULL))
    return REASON_INCORRECT_INPUT_VALUES;
  p->name = g_strndup((const char *)t.value, t.length);
  if (tlv_find(&md, 0x93, &t, NULL)) {
    if (!tlv_get_uint(&t, &v, NULL) || v > 1)
      return REASON_INCORRECT_INPUT_VALUES;
    p->icon_type = (int)v;
  }
  if (tlv_find(&md, 0x94, &t, NULL))
    p->icon = g_bytes_new(t.value, t.length);
  if (tlv_find(&md, 0x95, &t, NULL)) {
    if (!tlv_get_uint(&t, &v, NULL) || v > SIM_CLASS_OPERATIONAL)
      return REASON_UNSUPPORTED_PROFILE_CLASS;
    p->klass = (SimProfileClass)v;
  }
  if (tlv_find(&md, 0xB6, &t, NULL)) {
    TlvIter it;
    Tlv info, ev, addr;
    tlv_iter_init(&it, &t, NULL);
    while (tlv_iter_next(&it, &info, NULL)) {
      if (!tlv_find(&info, 0x80, &ev, NULL) || !tlv_find(&info, 0x81, &addr, NULL) || ev.length < 2)
        return REASON_INCORRECT_INPUT_VALUES;
      for (guint e = 0; e < SIM_EVENT_COUNT; e++) {
        if (ev.value[1] & (0x80 >> e)) {
          g_free(p->notify_address[e]);
          p->notify_address[e] = g_strndup((const char *)addr.value, addr.length);
        }
      }
    }
  }
  if (tlv_find(&md, 0xB7, &t, NULL)) {
    Tlv mccmnc;
    if (!tlv_find(&t, 0x80, &mccmnc, NULL) || mccmnc.length != 3)
      return REASON_INCORRECT_INPUT_VALUES;
    p->has_owner = TRUE;
    memcpy(p->owner_mccmnc, mccmnc.value, 3);
  }
  if (tlv_find(&md, 0x99, &t, NULL)) {
    for (gsize i = 1; i < t.length && i < 2; i++)
      for (int k = 0; k < 8; k++)
        if (t.value[i] & (0x80 >> k))
          p->pprs |= 1u << k;
  }
  for (guint i = 0; i < card->profiles->len; i++) {
    SimProfile *o = g_ptr_array_index(card->profiles, i);
    if (memcmp(o->iccid_bcd, p->iccid_bcd, 10) == 0)
      return REASON_ICCID_ALREADY_EXISTS;
  }
  return check_pprs(p, card);
}

/*
 * The profile package (SIMalliance/TCA eUICC Profile Package, DER
 * ProfileElements): well formed, a ProfileHeader (A0) first whose iccid
 * (83) is the one StoreMetadata announced, PE-End (AA) last.
 */
static guint check_profile_elements(SimRsp *rsp)
{
  TlvIter it;
  Tlv pe, iccid;
  g_autoptr(GError) error = NULL;
  guint count = 0;
  guint32 last = 0;

  tlv_iter_init_buffer(&it, rsp->elements->data, rsp->elements->len);
  while (tlv_iter_next(&it, &pe, &error)) {
    if (count == 0) {
      if (pe.tag != 0xA0 || !tlv_find(&pe, 0x83, &iccid, NULL) || iccid.length != 10)
        return REASON_PE_PROCESSING_ERROR;
      if (memcmp(iccid.value, rsp->profile->iccid_bcd, 10) != 0)
        return REASON_ICCID_MISMATCH;
    }
    last = pe.tag;
    count++;
  }
  if (error || count < 2 || last != 0xAA)
    return REASON_PE_PROCESSING_ERROR;
  return 0;
}

static guint16 install(SimRsp *rsp, SimCard *card, TlvWriter *w)
{
  SimProfile *p = g_steal_pointer(&rsp->profile);
  SimProfile *copy;
  guint8 aid[16];

  allocate_aid(card, aid);
  memcpy(p->aid, aid, 16);
  p->aid_len = 16;
  card->free_nv_memory -= rsp->elements->len;
  g_ptr_array_add(card->profiles, p);
  /* finish() names the ICCID from rsp->profile and frees it with the session. */
  copy = g_new0(SimProfile, 1);
  copy->iccid = g_strdup(p->iccid);
  memcpy(copy->iccid_bcd, p->iccid_bcd, 10);
  rsp->profile = copy;
  return finish(rsp, card, NULL, 0, 0, aid, TRUE, w);
}

/* ConfigureISDPRequest (SGP.22 5.5.2), once all its 87 are in: the ISD-P is made here. */
static guint16 configure_isdp(SimRsp *rsp, SimCard *card, TlvWriter *w)
{
  Tlv cfg;

  if (!tlv_parse(rsp->plain87->data, rsp->plain87->len, &cfg, NULL) || cfg.tag != 0xBF24)
    return fail(rsp, card, BPP_CMD_CONFIGURE_ISDP, REASON_INCORRECT_INPUT_VALUES, w);
  if (card->max_profiles && card->profiles->len >= card->max_profiles)
    return fail(rsp, card, BPP_CMD_CONFIGURE_ISDP, REASON_INSUFFICIENT_MEMORY, w);
  rsp->phase = BPP_WANT_A1;
  return SW_OK;
}

/* ReplaceSessionKeysRequest (SGP.22 5.5.4): the PPKs protect the 86 segments. */
static guint16 replace_session_keys(SimRsp *rsp, SimCard *card, TlvWriter *w)
{
  Tlv rsk, enc, mac, mcv;

  if (!tlv_parse(rsp->plain87->data, rsp->plain87->len, &rsk, NULL) || rsk.tag != 0xBF26 ||
      !tlv_find(&rsk, 0x80, &mcv, NULL) || !tlv_find(&rsk, 0x81, &enc, NULL) ||
      !tlv_find(&rsk, 0x82, &mac, NULL) || mcv.length != 16 || enc.length != 16 || mac.length != 16)
    return fail(rsp, card, BPP_CMD_REPLACE_SESSION_KEYS, REASON_INCORRECT_INPUT_VALUES, w);
  memcpy(rsp->mcv, mcv.value, 16);
  memcpy(rsp->s_enc, enc.value, 16);
  memcpy(rsp->s_mac, mac.value, 16);
  rsp->counter = 1;
  rsp->phase = BPP_WANT_A3;
  return SW_OK;
}

/*
 * One 87 of a firstSequenceOf87 (A0) or secondSequenceOf87 (A2): SGP.22
 * 2.5.5 sends the sequence's tag and length with its first 87, then any
 * further 87 alone. with_header says which of the two this segment is.
 */
static guint16 segment_87(SimRsp *rsp, SimCard *card, const guint8 *data, gsize len,
                          gboolean with_header, gsize hlen, gsize vlen, BppCommand cmd,
                          TlvWriter *w)
{
  Tlv seg;
  const guint8 *tlv = with_header ? data + hlen : data;
  gsize tlv_len = with_header ? len - hlen : len;

  if (!tlv_parse(tlv, tlv_len, &seg, NULL) || seg.tag != 0x87 || len > rsp->bpp_left ||
      (with_header && (vlen < tlv_len || hlen + vlen > rsp->bpp_left)) ||
      (!with_header && len > rsp->seq_left))
    return fail(rsp, card, cmd, REASON_SCP03T_STRUCTURE_ERROR, w);
  if (with_header) {
    g_byte_array_set_size(rsp->plain87, 0);
    rsp->seq_left = vlen;
  }
  if (!unwrap_segment(rsp, &seg, TRUE, rsp->plain87))
    return fail(rsp, card, cmd, REASON_SCP03T_SECURITY_ERROR, w);
  rsp->seq_left -= tlv_len;
  rsp->bpp_left -= len;
  if (rsp->seq_left > 0) {
    rsp->phase = cmd == BPP_CMD_CONFIGURE_ISDP ? BPP_IN_A0 : BPP_IN_A2;
    return SW_OK;
  }
  return cmd == BPP_CMD_CONFIGURE_ISDP ? configure_isdp(rsp, card, w)
                                       : replace_session_keys(rsp, card, w);
}

guint16 sim_rsp_load_bpp_segment(SimRsp *rsp, SimCard *card, const guint8 *data, gsize len,
                                 TlvWriter *w)
{
  guint32 tag;
  gsize hlen, vlen;
  Tlv seg;
  guint reason;

  if (!read_header(data, len, &tag, &hlen, &vlen))
    return rsp->phase == BPP_IDLE ? SW_WRONG_DATA
                                  : fail(rsp, card, BPP_CMD_INITIALISE_SECURE_CHANNEL,
                                         REASON_SCP03T_STRUCTURE_ERROR, w);

  switch (rsp->phase) {
  case BPP_IDLE: {
    /* BF36 header and the whole InitialiseSecureChannelRequest, nothing else. */
    Tlv isc;
    guint16 sw;
    if (tag != 0xBF36 || !tlv_parse(data + hlen, len - hlen, &isc, NULL) || isc.tag != 0xBF23 ||
        vlen < len - hlen)
      return SW_WRONG_DATA;
    sw = initialise_secure_channel(rsp, card, &isc, w);
    if (rsp->phase == BPP_WANT_A0)
      rsp->bpp_left = vlen - (len - hlen);
    return sw;
  }
  case BPP_WANT_A0:
    if (tag != 0xA0)
      return fail(rsp, card, BPP_CMD_CONFIGURE_ISDP, REASON_SCP03T_STRUCTURE_ERROR, w);
    return segment_87(rsp, card, data, len, TRUE, hlen, vlen, BPP_CMD_CONFIGURE_ISDP, w);
  case BPP_IN_A0:
    return segment_87(rsp, card, data, len, FALSE, 0, 0, BPP_CMD_CONFIGURE_ISDP, w);
  case BPP_WANT_A1:
    if (tag != 0xA1 || len != hlen || len + vlen > rsp->bpp_left || vlen == 0)
      return fail(rsp, card, BPP_CMD_STORE_METADATA, REASON_SCP03T_STRUCTURE_ERROR, w);
    rsp->bpp_left -= len;
    rsp->seq_left = vlen;
    rsp->phase = BPP_IN_A1;
    return SW_OK;
  case BPP_IN_A1:
    if (tag != 0x88 || !tlv_parse(data, len, &seg, NULL) || len > rsp->seq_left)
      return fail(rsp, card, BPP_CMD_STORE_METADATA, REASON_SCP03T_STRUCTURE_ERROR, w);
    if (!unwrap_segment(rsp, &seg, FALSE, rsp->metadata))
      return fail(rsp, card, BPP_CMD_STORE_METADATA, REASON_SCP03T_SECURITY_ERROR, w);
    rsp->seq_left -= len;
    rsp->bpp_left -= len;
    if (rsp->seq_left > 0)
      return SW_OK;
    reason = store_metadata(rsp, card);
    if (reason)
      return fail(rsp, card, BPP_CMD_STORE_METADATA, reason, w);
    rsp->phase = BPP_WANT_A2_OR_A3;
    return SW_OK;
  case BPP_IN_A2:
    return segment_87(rsp, card, data, len, FALSE, 0, 0, BPP_CMD_REPLACE_SESSION_KEYS, w);
  case BPP_WANT_A2_OR_A3:
    if (tag == 0xA2)
      return segment_87(rsp, card, data, len, TRUE, hlen, vlen, BPP_CMD_REPLACE_SESSION_KEYS, w);
    /* fall through */
  case BPP_WANT_A3:
    if (tag != 0xA3 || len != hlen || len + vlen != rsp->bpp_left || vlen == 0)
      return fail(rsp, card, BPP_CMD_LOAD_PROFILE_ELEMENTS, REASON_SCP03T_STRUCTURE_ERROR, w);
    rsp->bpp_left -= len;
    rsp->seq_left = vlen;
    rsp->phase = BPP_IN_A3;
    return SW_OK;
  case BPP_IN_A3:
    if (tag != 0x86 || !tlv_parse(data, len, &seg, NULL) || len > rsp->seq_left)
      return fail(rsp, card, BPP_CMD_LOAD_PROFILE_ELEMENTS, REASON_SCP03T_STRUCTURE_ERROR, w);
    if (!unwrap_segment(rsp, &seg, TRUE, rsp->elements))
      return fail(rsp, card, BPP_CMD_LOAD_PROFILE_ELEMENTS, REASON_SCP03T_SECURITY_ERROR, w);
    if (rsp->elements->len > card->free_nv_memory)
      return fail(rsp, card, BPP_CMD_LOAD_PROFILE_ELEMENTS, REASON_INSUFFICIENT_MEMORY, w);
    rsp->seq_left -= len;
    rsp->bpp_left -= len;
    if (rsp->seq_left > 0)
      return SW_OK;
    reason = check_profile_elements(rsp);
    if (reason)
      return fail(rsp, card, BPP_CMD_LOAD_PROFILE_ELEMENTS, reason, w);
    return install(rsp, card, w);
  }
  return SW_WRONG_DATA;
}
