/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * euicc-sim's side of a profile download (SGP.22 3.1.3) driven through
 * APDUs by an SM-DP+ written here with libcrypto: the test signs
 * serverSigned1 and smdpSigned2, checks what the card signs against the
 * eUICC -> EUM -> CI chain, derives the session keys on its own, binds a
 * small profile package with SCP03t and loads it in the segments of SGP.22
 * 2.5.5. The PKI comes from tests/sim/mkpki, made fresh for the run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <cmocka.h>

#include "es10/tlv.h"
#include "euicc-sim.h"
#include "test-util.h"

#define ISDR "A0000005591010FFFFFFFF8900000100"
/* mkpki's default EID: the eUICC certificate's serialNumber. */
#define EID "89049032123451234512345678901235"
#define ADDRESS "smdp.example.com"
#define ICCID "8944476500009876543"
#define ICCID_BCD "984474560000896745F3"
#define SMDP_OID_HEX "88370A" /* 2.999.10, as mkpki puts it into DPauth and DPpb */

static char *tmp_dir;
static char *pki_dir;
static X509 *ci_cert, *dpauth_cert, *dppb_cert, *dsauth_cert;
static EVP_PKEY *dpauth_key, *dppb_key;
static GBytes *ci_pkid;

/* ------------------------------------------------------------------ */
/* Bytes and crypto of the SM-DP+ side                                  */

static GByteArray *hex(const char *text)
{
  GByteArray *a = g_byte_array_new();
  int hi = -1;

  for (const char *p = text; *p; p++) {
    int v = g_ascii_xdigit_value(*p);
    if (v < 0)
      continue;
    if (hi < 0) {
      hi = v;
    } else {
      guint8 b = (guint8)(hi << 4 | v);
      g_byte_array_append(a, &b, 1);
      hi = -1;
    }
  }
  return a;
}

static GBytes *der_of(X509 *x)
{
  unsigned char *d = NULL;
  int n = i2d_X509(x, &d);
  GBytes *b;

  assert_true(n > 0);
  b = g_bytes_new(d, (gsize)n);
  OPENSSL_free(d);
  return b;
}

static X509 *read_cert(const char *name)
{
  g_autofree char *path = g_build_filename(pki_dir, name, NULL);
  FILE *f = fopen(path, "r");
  X509 *x;

  assert_non_null(f);
  x = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  assert_non_null(x);
  return x;
}

static EVP_PKEY *read_key(const char *name)
{
  g_autofree char *path = g_build_filename(pki_dir, name, NULL);
  FILE *f = fopen(path, "r");
  EVP_PKEY *k;

  assert_non_null(f);
  k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  assert_non_null(k);
  return k;
}

/* ECDSA over SHA-256, the signature as r || s (SGP.22 2.6.7). */
static void sign(EVP_PKEY *key, const guint8 *data, gsize len, guint8 out[64])
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char der[80];
  const unsigned char *q = der;
  size_t n = sizeof(der);
  ECDSA_SIG *sig;
  const BIGNUM *r, *s;

  assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
  assert_int_equal(EVP_DigestSign(md, der, &n, data, len), 1);
  sig = d2i_ECDSA_SIG(NULL, &q, (long)n);
  assert_non_null(sig);
  ECDSA_SIG_get0(sig, &r, &s);
  BN_bn2binpad(r, out, 32);
  BN_bn2binpad(s, out + 32, 32);
  ECDSA_SIG_free(sig);
  EVP_MD_CTX_free(md);
}

static gboolean verify(EVP_PKEY *key, const guint8 *data, gsize len, const guint8 *sig, gsize n)
{
  ECDSA_SIG *s = ECDSA_SIG_new();
  unsigned char *der = NULL;
  int dn;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  gboolean ok;

  if (n != 64)
    return FALSE;
  ECDSA_SIG_set0(s, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
  dn = i2d_ECDSA_SIG(s, &der);
  ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
       EVP_DigestVerify(md, der, (size_t)dn, data, len) == 1;
  OPENSSL_free(der);
  ECDSA_SIG_free(s);
  EVP_MD_CTX_free(md);
  return ok;
}

static void cmac(const guint8 key[16], const guint8 *data, gsize len, guint8 out[16])
{
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, (char *)"AES-128-CBC", 0),
      OSSL_PARAM_construct_end(),
  };
  size_t n = 0;

  assert_int_equal(EVP_MAC_init(ctx, key, 16, params), 1);
  EVP_MAC_update(ctx, data, len);
  EVP_MAC_final(ctx, out, &n, 16);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
}

static void aes(const EVP_CIPHER *c, const guint8 key[16], const guint8 *iv, const guint8 *in,
                gsize len, guint8 *out)
{
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0, m = 0;

  EVP_EncryptInit_ex(ctx, c, NULL, key, iv);
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  EVP_EncryptUpdate(ctx, out, &n, in, (int)len);
  EVP_EncryptFinal_ex(ctx, out + n, &m);
  assert_int_equal(n + m, (int)len);
  EVP_CIPHER_CTX_free(ctx);
}

static void put_len(GByteArray *a, gsize n)
{
  guint8 b[4];

  if (n < 0x80) {
    b[0] = (guint8)n;
    g_byte_array_append(a, b, 1);
  } else if (n < 0x100) {
    b[0] = 0x81;
    b[1] = (guint8)n;
    g_byte_array_append(a, b, 2);
  } else {
    b[0] = 0x82;
    b[1] = (guint8)(n >> 8);
    b[2] = (guint8)n;
    g_byte_array_append(a, b, 3);
  }
}

static GByteArray *header(guint32 tag, gsize len)
{
  GByteArray *a = g_byte_array_new();
  guint8 t[2] = {(guint8)(tag >> 8), (guint8)tag};

  if (tag > 0xFF)
    g_byte_array_append(a, t, 2);
  else
    g_byte_array_append(a, t + 1, 1);
  put_len(a, len);
  return a;
}

/* ------------------------------------------------------------------ */
/* The card, over APDUs                                                 */

typedef struct {
  EuiccSim *sim;
  guint8 ch;
  guint8 tid[16];
  guint8 server_challenge[16];
  guint8 euicc_challenge[16];
  X509 *euicc_cert;
  guint8 euicc_sig1[64];
  guint8 smdp_sig2[64];
  guint8 euicc_otpk[65];
  /* SCP03t of the binding */
  guint8 s_enc[16], s_mac[16], mcv[16];
  guint32 counter;
} Session;

static guint16 sw_of(GBytes *r)
{
  gsize n;
  const guint8 *p = g_bytes_get_data(r, &n);

  assert_true(n >= 2);
  return (guint16)(p[n - 2] << 8 | p[n - 1]);
}

static GBytes *tx(EuiccSim *sim, const guint8 *apdu, gsize len)
{
  GBytes *r = euicc_sim_transmit(sim, apdu, len);

  assert_non_null(r);
  return r;
}

static guint8 open_isdr(EuiccSim *sim)
{
  g_autoptr(GByteArray) open = hex("0070000001");
  g_autoptr(GBytes) r = tx(sim, open->data, open->len);
  g_autoptr(GByteArray) sel = NULL;
  g_autoptr(GBytes) s = NULL;
  guint8 ch;

  assert_int_equal(sw_of(r), 0x9000);
  ch = ((const guint8 *)g_bytes_get_data(r, NULL))[0];
  sel = hex("00A4040C10" ISDR);
  sel->data[0] = ch;
  s = tx(sim, sel->data, sel->len);
  assert_int_equal(sw_of(s), 0x9000);
  return ch;
}

/*
 * One ES10 command as STORE DATA blocks of 255 bytes (GlobalPlatform
 * 11.11), then GET RESPONSE for whatever 61xx announces. Returns the
 * response data; *sw the final status word.
 */
static GByteArray *es10(Session *s, const guint8 *cmd, gsize len, guint16 *sw)
{
  GByteArray *data = g_byte_array_new();
  g_autoptr(GBytes) r = NULL;
  gsize off = 0;
  guint block = 0;

  while (off < len) {
    gsize n = MIN((gsize)255, len - off);
    gboolean last = off + n == len;
    g_autoptr(GByteArray) apdu = g_byte_array_new();
    guint8 hdr[5] = {(guint8)(0x80 | s->ch), 0xE2, last ? 0x91 : 0x11, (guint8)block, (guint8)n};
    g_byte_array_append(apdu, hdr, 5);
    g_byte_array_append(apdu, cmd + off, (guint)n);
    g_clear_pointer(&r, g_bytes_unref);
    r = tx(s->sim, apdu->data, apdu->len);
    if (!last)
      assert_int_equal(sw_of(r), 0x9000);
    off += n;
    block++;
  }
  for (;;) {
    gsize n;
    const guint8 *p = g_bytes_get_data(r, &n);
    guint8 get[5] = {s->ch, 0xC0, 0x00, 0x00, 0x00};
    g_byte_array_append(data, p, (guint)(n - 2));
    if (p[n - 2] != 0x61)
      break;
    g_bytes_unref(r);
    r = tx(s->sim, get, 5);
  }
  *sw = sw_of(r);
  return data;
}

static GByteArray *es10_ok(Session *s, GBytes *cmd)
{
  guint16 sw;
  GByteArray *out = es10(s, g_bytes_get_data(cmd, NULL), g_bytes_get_size(cmd), &sw);

  assert_int_equal(sw, 0x9000);
  return out;
}

static EuiccSim *card(const char *extra)
{
  g_autofree char *text =
      g_strdup_printf("type euicc\neid " EID "\nfree-nv-memory 20000\n%s", extra ? extra : "");
  g_autoptr(GError) error = NULL;
  EuiccSim *sim = euicc_sim_new_from_data(text, &error);

  if (!sim)
    fail_msg("%s", error->message);
  return sim;
}

static void session_start(Session *s, EuiccSim *sim, gboolean load_pki)
{
  g_autoptr(GError) error = NULL;

  memset(s, 0, sizeof(*s));
  s->sim = sim;
  if (load_pki && !euicc_sim_load_pki_dir(sim, pki_dir, &error))
    fail_msg("%s", error->message);
  s->ch = open_isdr(sim);
  RAND_bytes(s->tid, sizeof(s->tid));
  RAND_bytes(s->server_challenge, sizeof(s->server_challenge));
}

static void session_clear(Session *s)
{
  X509_free(s->euicc_cert);
  euicc_sim_free(s->sim);
}

/* ES10b.GetEUICCChallenge. */
static void get_challenge(Session *s)
{
  g_autoptr(GByteArray) cmd = hex("BF2E00");
  guint16 sw;
  g_autoptr(GByteArray) r = es10(s, cmd->data, cmd->len, &sw);
  Tlv top, c;

  assert_int_equal(sw, 0x9000);
  assert_true(tlv_parse(r->data, r->len, &top, NULL));
  assert_int_equal(top.tag, 0xBF2E);
  assert_true(tlv_find(&top, 0x80, &c, NULL));
  assert_int_equal(c.length, 16);
  memcpy(s->euicc_challenge, c.value, 16);
}

typedef struct {
  gboolean wrong_challenge;
  gboolean bad_signature;
  X509 *cert; /* instead of CERT.DPauth */
  GBytes *pkid;
} AuthFaults;

/* ES10b.AuthenticateServer as the SM-DP+ would build it; the raw answer. */
static GByteArray *authenticate(Session *s, const AuthFaults *f)
{
  TlvWriter w;
  g_autoptr(GBytes) signed1 = NULL, cmd = NULL, cert = NULL;
  guint8 sig[64];
  guint8 challenge[16];
  GBytes *pkid = f && f->pkid ? f->pkid : ci_pkid;

  memcpy(challenge, s->euicc_challenge, 16);
  if (f && f->wrong_challenge)
    challenge[0] ^= 0x01;
  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0x30);
  tlv_writer_put(&w, 0x80, s->tid, sizeof(s->tid));
  tlv_writer_put(&w, 0x81, challenge, 16);
  tlv_writer_put(&w, 0x83, (const guint8 *)ADDRESS, strlen(ADDRESS));
  tlv_writer_put(&w, 0x84, s->server_challenge, 16);
  tlv_writer_end(&w);
  signed1 = tlv_writer_finish(&w);
  sign(dpauth_key, g_bytes_get_data(signed1, NULL), g_bytes_get_size(signed1), sig);
  if (f && f->bad_signature)
    sig[10] ^= 0x40;
  cert = der_of(f && f->cert ? f->cert : dpauth_cert);

  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0xBF38);
  tlv_writer_put_raw(&w, g_bytes_get_data(signed1, NULL), g_bytes_get_size(signed1));
  tlv_writer_put(&w, 0x5F37, sig, 64);
  tlv_writer_put(&w, 0x04, g_bytes_get_data(pkid, NULL), g_bytes_get_size(pkid));
  tlv_writer_put_raw(&w, g_bytes_get_data(cert, NULL), g_bytes_get_size(cert));
  tlv_writer_begin(&w, 0xA0); /* ctxParamsForCommonAuthentication */
  tlv_writer_put(&w, 0x80, (const guint8 *)"MATCH-1", 7);
  tlv_writer_begin(&w, 0xA1); /* DeviceInfo */
  tlv_writer_put(&w, 0x80, (const guint8 *)"\x35\x29\x06\x11", 4);
  tlv_writer_begin(&w, 0xA1);
  tlv_writer_end(&w);
  tlv_writer_end(&w);
  tlv_writer_end(&w);
  tlv_writer_end(&w);
  cmd = tlv_writer_finish(&w);
  return es10_ok(s, cmd);
}

/* The error code of a BF38/BF21 A1 { 80 tid, 02 code } answer. */
static guint64 error_code(GByteArray *r, guint32 tag, Session *s)
{
  Tlv top, err, tid, code;
  guint64 v = 0;

  assert_true(tlv_parse(r->data, r->len, &top, NULL));
  assert_int_equal(top.tag, tag);
  assert_true(tlv_find(&top, 0xA1, &err, NULL));
  assert_true(tlv_find(&err, 0x80, &tid, NULL));
  assert_memory_equal(tid.value, s->tid, 16);
  assert_true(tlv_find(&err, 0x02, &code, NULL));
  assert_true(tlv_get_uint(&code, &v, NULL));
  return v;
}

/* Checks the card's AuthenticateResponseOk the way an SM-DP+ must (SGP.22 5.6.2). */
static void check_authenticate_ok(Session *s, GByteArray *r)
{
  Tlv top, ok, signed1, sig, cert, eum, t;
  TlvIter it;
  X509 *eum_cert;
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  STACK_OF(X509) *chain = sk_X509_new_null();
  const unsigned char *q;
  char serial[64] = "";

  assert_true(tlv_parse(r->data, r->len, &top, NULL));
  assert_int_equal(top.tag, 0xBF38);
  assert_true(tlv_find(&top, 0xA0, &ok, NULL));
  assert_true(tlv_iter_init(&it, &ok, NULL));
  assert_true(tlv_iter_next(&it, &signed1, NULL));
  assert_true(tlv_iter_next(&it, &sig, NULL));
  assert_true(tlv_iter_next(&it, &cert, NULL));
  assert_true(tlv_iter_next(&it, &eum, NULL));
  assert_int_equal(sig.tag, 0x5F37);

  q = cert.raw;
  s->euicc_cert = d2i_X509(NULL, &q, (long)cert.raw_length);
  q = eum.raw;
  eum_cert = d2i_X509(NULL, &q, (long)eum.raw_length);
  assert_non_null(s->euicc_cert);
  assert_non_null(eum_cert);
  /* eUICC -> EUM -> CI */
  X509_STORE_add_cert(store, ci_cert);
  sk_X509_push(chain, eum_cert);
  X509_STORE_CTX_init(ctx, store, s->euicc_cert, chain);
  assert_int_equal(X509_verify_cert(ctx), 1);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  sk_X509_free(chain);
  X509_free(eum_cert);
  /* The EID is the certificate's serialNumber (SGP.22 4.5.2.1.0.2). */
  X509_NAME_get_text_by_NID(X509_get_subject_name(s->euicc_cert), NID_serialNumber, serial,
                            sizeof(serial));
  assert_string_equal(serial, EID);

  assert_true(verify(X509_get0_pubkey(s->euicc_cert), signed1.raw, signed1.raw_length, sig.value,
                     sig.length));
  memcpy(s->euicc_sig1, sig.value, 64);
  assert_true(tlv_find(&signed1, 0x80, &t, NULL));
  assert_memory_equal(t.value, s->tid, 16);
  assert_true(tlv_find(&signed1, 0x83, &t, NULL));
  assert_int_equal(t.length, strlen(ADDRESS));
  assert_true(tlv_find(&signed1, 0x84, &t, NULL));
  assert_memory_equal(t.value, s->server_challenge, 16);
  assert_true(tlv_find(&signed1, 0xBF22, &t, NULL)); /* euiccInfo2 */
  assert_true(tlv_find(&signed1, 0xA0, &t, NULL));   /* ctxParams1 as sent */
}

static void authenticate_ok(Session *s)
{
  g_autoptr(GByteArray) r = NULL;

  get_challenge(s);
  r = authenticate(s, NULL);
  check_authenticate_ok(s, r);
}

typedef struct {
  gboolean cc_required;
  gboolean with_hash;
  gboolean bad_signature;
  gboolean other_tid;
  X509 *cert;
  const char *code; /* hashed into hashCc with with_hash; default "1234" */
} PrepareFaults;

static GByteArray *prepare(Session *s, const PrepareFaults *f, guint8 hash_cc[32])
{
  TlvWriter w;
  g_autoptr(GBytes) signed2 = NULL, cmd = NULL, cert = NULL;
  g_autoptr(GByteArray) msg = g_byte_array_new();
  guint8 tid[16];

  memcpy(tid, s->tid, 16);
  if (f && f->other_tid)
    tid[15] ^= 0xFF;
  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0x30);
  tlv_writer_put(&w, 0x80, tid, 16);
  tlv_writer_put_bool(&w, 0x01, f && f->cc_required);
  tlv_writer_end(&w);
  signed2 = tlv_writer_finish(&w);
  /* smdpSignature2 over smdpSigned2 || euiccSignature1 (5F37 included). */
  g_byte_array_append(msg, g_bytes_get_data(signed2, NULL), (guint)g_bytes_get_size(signed2));
  g_byte_array_append(msg, (const guint8 *)"\x5F\x37\x40", 3);
  g_byte_array_append(msg, s->euicc_sig1, 64);
  sign(dppb_key, msg->data, msg->len, s->smdp_sig2);
  if (f && f->bad_signature)
    s->smdp_sig2[40] ^= 0x01;
  cert = der_of(f && f->cert ? f->cert : dppb_cert);

  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0xBF21);
  tlv_writer_put_raw(&w, g_bytes_get_data(signed2, NULL), g_bytes_get_size(signed2));
  tlv_writer_put(&w, 0x5F37, s->smdp_sig2, 64);
  if (f && f->with_hash) {
    /* SGP.22 3.1.3: SHA-256(SHA-256(code) || transactionId), made by the LPA. */
    const char *code = f->code ? f->code : "1234";
    guint8 h[32];
    EVP_Digest(code, strlen(code), h, NULL, EVP_sha256(), NULL);
    {
      g_autoptr(GByteArray) m = g_byte_array_new();
      g_byte_array_append(m, h, 32);
      g_byte_array_append(m, s->tid, 16);
      EVP_Digest(m->data, m->len, hash_cc, NULL, EVP_sha256(), NULL);
    }
    tlv_writer_put(&w, 0x04, hash_cc, 32);
  }
  tlv_writer_put_raw(&w, g_bytes_get_data(cert, NULL), g_bytes_get_size(cert));
  tlv_writer_end(&w);
  cmd = tlv_writer_finish(&w);
  return es10_ok(s, cmd);
}

/* Checks PrepareDownloadResponseOk and keeps otPK.EUICC.ECKA. */
static void check_prepare_ok(Session *s, GByteArray *r, const guint8 *hash_cc)
{
  Tlv top, ok, signed2, sig, t;
  g_autoptr(GByteArray) msg = g_byte_array_new();

  assert_true(tlv_parse(r->data, r->len, &top, NULL));
  assert_int_equal(top.tag, 0xBF21);
  assert_true(tlv_find(&top, 0xA0, &ok, NULL));
  assert_true(tlv_find(&ok, 0x30, &signed2, NULL));
  assert_true(tlv_find(&ok, 0x5F37, &sig, NULL));
  g_byte_array_append(msg, signed2.raw, (guint)signed2.raw_length);
  g_byte_array_append(msg, (const guint8 *)"\x5F\x37\x40", 3);
  g_byte_array_append(msg, s->smdp_sig2, 64);
  assert_true(verify(X509_get0_pubkey(s->euicc_cert), msg->data, msg->len, sig.value, sig.length));
  assert_true(tlv_find(&signed2, 0x80, &t, NULL));
  assert_memory_equal(t.value, s->tid, 16);
  assert_true(tlv_find(&signed2, 0x5F49, &t, NULL));
  assert_int_equal(t.length, 65);
  assert_int_equal(t.value[0], 0x04);
  memcpy(s->euicc_otpk, t.value, 65);
  if (hash_cc) {
    assert_true(tlv_find(&signed2, 0x04, &t, NULL));
    assert_int_equal(t.length, 32);
    assert_memory_equal(t.value, hash_cc, 32);
  } else {
    assert_false(tlv_find(&signed2, 0x04, &t, NULL));
  }
}

static void prepare_ok(Session *s)
{
  g_autoptr(GByteArray) r = prepare(s, NULL, NULL);
  check_prepare_ok(s, r, NULL);
}

/* ------------------------------------------------------------------ */
/* Binding: the SM-DP+'s half of SGP.22 2.5.4 and annex G               */

typedef struct {
  const char *iccid_bcd;    /* StoreMetadata's ICCID, default ICCID_BCD */
  const char *pe_iccid_bcd; /* the ProfileHeader's, default the same */
  gsize pe_filler;          /* bytes of a nonStandard PE, to make it big */
  gboolean bad_sign;        /* corrupt smdpSign */
  gboolean replace_keys;    /* send A2 ReplaceSessionKeys, protect 86 with the PPKs */
  gboolean split_87;        /* ConfigureISDP in two 87 */
  guint8 pprs;              /* profilePolicyRules' first byte (ppr1 40, ppr2 20); 0: none */
} BindOptions;

typedef struct {
  GPtrArray *segments; /* GByteArray: each one ES10b.LoadBoundProfilePackage */
} Bpp;

/* One SCP03t command TLV: encrypted (87, 86) or MAC-only (88). */
static GByteArray *protect(Session *s, guint8 tag, const guint8 *plain, gsize n, gboolean enc)
{
  g_autoptr(GByteArray) data = g_byte_array_new();
  g_autoptr(GByteArray) m = g_byte_array_new();
  GByteArray *out;
  guint8 mac[16];

  if (enc) {
    guint8 ctr[16] = {0}, icv[16];
    g_autoptr(GByteArray) padded = g_byte_array_new();
    g_byte_array_append(padded, plain, (guint)n);
    g_byte_array_append(padded, (const guint8 *)"\x80", 1);
    while (padded->len % 16)
      g_byte_array_append(padded, (const guint8 *)"\x00", 1);
    ctr[12] = (guint8)(s->counter >> 24);
    ctr[13] = (guint8)(s->counter >> 16);
    ctr[14] = (guint8)(s->counter >> 8);
    ctr[15] = (guint8)s->counter;
    aes(EVP_aes_128_ecb(), s->s_enc, NULL, ctr, 16, icv);
    g_byte_array_set_size(data, padded->len);
    aes(EVP_aes_128_cbc(), s->s_enc, icv, padded->data, padded->len, data->data);
  } else {
    g_byte_array_append(data, plain, (guint)n);
  }
  s->counter++;
  out = header(tag, data->len + 8);
  g_byte_array_append(out, data->data, data->len);
  g_byte_array_append(m, s->mcv, 16);
  g_byte_array_append(m, out->data, out->len);
  cmac(s->s_mac, m->data, m->len, mac);
  memcpy(s->mcv, mac, 16);
  g_byte_array_append(out, mac, 8);
  return out;
}

static GByteArray *wrap_seq(guint32 tag, GPtrArray *items)
{
  g_autoptr(GByteArray) body = g_byte_array_new();
  GByteArray *out;

  for (guint i = 0; i < items->len; i++) {
    GByteArray *it = g_ptr_array_index(items, i);
    g_byte_array_append(body, it->data, it->len);
  }
  out = header(tag, body->len);
  g_byte_array_append(out, body->data, body->len);
  return out;
}

static GBytes *store_metadata(const char *iccid_bcd, guint8 pprs)
{
  TlvWriter w;
  g_autoptr(GByteArray) iccid = hex(iccid_bcd);

  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0xBF25);
  tlv_writer_put(&w, 0x5A, iccid->data, iccid->len);
  tlv_writer_put(&w, 0x91, (const guint8 *)"Example Mobile", 14);
  tlv_writer_put(&w, 0x92, (const guint8 *)"Example Travel 5G", 17);
  tlv_writer_put_uint(&w, 0x95, 1); /* provisioning */
  tlv_writer_begin(&w, 0xB6);
  tlv_writer_begin(&w, 0x30);
  tlv_writer_put(&w, 0x80, (const guint8 *)"\x04\x70", 2); /* enable, disable, delete */
  tlv_writer_put(&w, 0x81, (const guint8 *)"notify.example.com", 18);
  tlv_writer_end(&w);
  tlv_writer_end(&w);
  tlv_writer_begin(&w, 0xB7);
  tlv_writer_put(&w, 0x80, (const guint8 *)"\x32\xF4\x51", 3); /* 234 15 */
  tlv_writer_end(&w);
  if (pprs) {
    /* PprIds: a BIT STRING of up to 4 named bits; 0 unused bits is valid DER
     * only with the last byte's lowest bit set, so say 4 unused. */
    guint8 bits[2] = {4, pprs};
    tlv_writer_put(&w, 0x99, bits, 2);
  }
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

/* A made-up profile package: ProfileHeader, a nonStandard PE, PE-End. */
static GBytes *profile_elements(const char *iccid_bcd, gsize filler)
{
  TlvWriter w;
  g_autoptr(GByteArray) iccid = hex(iccid_bcd);
  g_autofree guint8 *fill = g_malloc0(filler + 1);

  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0xA0); /* header */
  tlv_writer_put_uint(&w, 0x80, 2);
  tlv_writer_put_uint(&w, 0x81, 3);
  tlv_writer_put(&w, 0x83, iccid->data, iccid->len);
  tlv_writer_end(&w);
  tlv_writer_begin(&w, 0xA9); /* nonStandard */
  tlv_writer_put(&w, 0x80, (const guint8 *)"\x2B\x06\x01", 3);
  tlv_writer_put(&w, 0x81, fill, filler + 1);
  tlv_writer_end(&w);
  tlv_writer_begin(&w, 0xAA); /* end */
  tlv_writer_begin(&w, 0xA0);
  tlv_writer_put_uint(&w, 0x80, 9);
  tlv_writer_end(&w);
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

static void bpp_free(Bpp *b)
{
  g_ptr_array_unref(b->segments);
}

static Bpp bind(Session *s, const BindOptions *o)
{
  static const guint8 host_id[] = "test-smdp";
  EVP_PKEY *otk = EVP_EC_gen("prime256v1");
  EVP_PKEY *peer = NULL;
  EVP_PKEY_CTX *ctx;
  guint8 otpk[65], z[32], kdf[64], sig[64], eid[16];
  size_t otpk_len = 0, zlen = 32;
  g_autoptr(GByteArray) info = g_byte_array_new();
  g_autoptr(GByteArray) signed_part = g_byte_array_new();
  g_autoptr(GByteArray) isc = NULL;
  g_autoptr(GPtrArray) p87 = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
  g_autoptr(GPtrArray) p88 = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
  g_autoptr(GPtrArray) p86 = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
  g_autoptr(GPtrArray) p87b = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref);
  g_autoptr(GByteArray) a0 = NULL, a1 = NULL, a2 = NULL, a3 = NULL, eidb = hex(EID);
  g_autoptr(GBytes) md =
      store_metadata(o && o->iccid_bcd ? o->iccid_bcd : ICCID_BCD, o ? o->pprs : 0);
  g_autoptr(GBytes) pes = NULL;
  Bpp b = {.segments = g_ptr_array_new_with_free_func((GDestroyNotify)g_byte_array_unref)};
  GByteArray *first;
  gsize total;
  const char *pe_iccid =
      o && o->pe_iccid_bcd ? o->pe_iccid_bcd : (o && o->iccid_bcd ? o->iccid_bcd : ICCID_BCD);

  pes = profile_elements(pe_iccid, o ? o->pe_filler : 0);
  assert_non_null(otk);
  assert_int_equal(EVP_PKEY_get_octet_string_param(otk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, otpk,
                                                   sizeof(otpk), &otpk_len),
                   1);
  /* ECKA-DH with otPK.EUICC.ECKA */
  {
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, s->euicc_otpk, 65),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY_CTX *f = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY_fromdata_init(f);
    assert_int_equal(EVP_PKEY_fromdata(f, &peer, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX_free(f);
  }
  ctx = EVP_PKEY_CTX_new(otk, NULL);
  EVP_PKEY_derive_init(ctx);
  EVP_PKEY_derive_set_peer(ctx, peer);
  assert_int_equal(EVP_PKEY_derive(ctx, z, &zlen), 1);
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(peer);
  EVP_PKEY_free(otk);

  /* KDF (SGP.22 annex G): X9.63 with SHA-256 over the CRT, host id and EID. */
  memcpy(eid, eidb->data, 16);
  g_byte_array_append(info, (const guint8 *)"\x88\x10", 2);
  {
    guint8 l = sizeof(host_id) - 1;
    g_byte_array_append(info, &l, 1);
    g_byte_array_append(info, host_id, l);
    l = 16;
    g_byte_array_append(info, &l, 1);
    g_byte_array_append(info, eid, 16);
  }
  for (guint i = 1; i <= 2; i++) {
    g_autoptr(GByteArray) m = g_byte_array_new();
    guint8 c[4] = {0, 0, 0, (guint8)i};
    g_byte_array_append(m, z, 32);
    g_byte_array_append(m, c, 4);
    g_byte_array_append(m, info->data, info->len);
    EVP_Digest(m->data, m->len, kdf + 32 * (i - 1), NULL, EVP_sha256(), NULL);
  }
  memcpy(s->mcv, kdf, 16);
  memcpy(s->s_enc, kdf + 16, 16);
  memcpy(s->s_mac, kdf + 32, 16);
  s->counter = 1;

  /* InitialiseSecureChannelRequest; smdpSign over its data objects up to
   * smdpOtpk and then euiccOtpk (SGP.22 5.5.1). */
  {
    TlvWriter w;
    g_autoptr(GBytes) part = NULL;
    tlv_writer_init(&w);
    tlv_writer_put_uint(&w, 0x82, 1);
    tlv_writer_put(&w, 0x80, s->tid, 16);
    tlv_writer_begin(&w, 0xA6);
    tlv_writer_put(&w, 0x80, (const guint8 *)"\x88", 1);
    tlv_writer_put(&w, 0x81, (const guint8 *)"\x10", 1);
    tlv_writer_put(&w, 0x84, host_id, sizeof(host_id) - 1);
    tlv_writer_end(&w);
    tlv_writer_put(&w, 0x5F49, otpk, otpk_len);
    part = tlv_writer_finish(&w);
    g_byte_array_append(signed_part, g_bytes_get_data(part, NULL), (guint)g_bytes_get_size(part));
  }
  {
    g_autoptr(GByteArray) m = g_byte_array_new();
    g_byte_array_append(m, signed_part->data, signed_part->len);
    g_byte_array_append(m, (const guint8 *)"\x5F\x49\x41", 3);
    g_byte_array_append(m, s->euicc_otpk, 65);
    sign(dppb_key, m->data, m->len, sig);
    if (o && o->bad_sign)
      sig[0] ^= 0x80;
  }
  isc = header(0xBF23, signed_part->len + 3 + 64);
  g_byte_array_append(isc, signed_part->data, signed_part->len);
  g_byte_array_append(isc, (const guint8 *)"\x5F\x37\x40", 3);
  g_byte_array_append(isc, sig, 64);

  /* ConfigureISDP (87, encrypted), StoreMetadata (88 in two pieces, MAC only),
   * the profile elements (86 in pieces of 100 bytes, encrypted). */
  if (o && o->split_87) {
    g_ptr_array_add(p87, protect(s, 0x87, (const guint8 *)"\xBF\x24", 2, TRUE));
    g_ptr_array_add(p87, protect(s, 0x87, (const guint8 *)"\x00", 1, TRUE));
  } else {
    g_ptr_array_add(p87, protect(s, 0x87, (const guint8 *)"\xBF\x24\x00", 3, TRUE));
  }
  {
    gsize n = g_bytes_get_size(md), half = n / 2;
    const guint8 *p = g_bytes_get_data(md, NULL);
    g_ptr_array_add(p88, protect(s, 0x88, p, half, FALSE));
    g_ptr_array_add(p88, protect(s, 0x88, p + half, n - half, FALSE));
  }
  if (o && o->replace_keys) {
    /* ReplaceSessionKeys (SGP.22 5.5.4): new keys for the 86 segments. */
    guint8 ppk[48];
    TlvWriter w;
    g_autoptr(GBytes) rsk = NULL;
    RAND_bytes(ppk, sizeof(ppk));
    tlv_writer_init(&w);
    tlv_writer_begin(&w, 0xBF26);
    tlv_writer_put(&w, 0x80, ppk, 16);
    tlv_writer_put(&w, 0x81, ppk + 16, 16);
    tlv_writer_put(&w, 0x82, ppk + 32, 16);
    tlv_writer_end(&w);
    rsk = tlv_writer_finish(&w);
    g_ptr_array_add(p87b,
                    protect(s, 0x87, g_bytes_get_data(rsk, NULL), g_bytes_get_size(rsk), TRUE));
    memcpy(s->mcv, ppk, 16);
    memcpy(s->s_enc, ppk + 16, 16);
    memcpy(s->s_mac, ppk + 32, 16);
    s->counter = 1;
  }
  {
    gsize n = g_bytes_get_size(pes);
    const guint8 *p = g_bytes_get_data(pes, NULL);
    for (gsize off = 0; off < n; off += 100)
      g_ptr_array_add(p86, protect(s, 0x86, p + off, MIN((gsize)100, n - off), TRUE));
  }
  a0 = wrap_seq(0xA0, p87);
  a1 = wrap_seq(0xA1, p88);
  a3 = wrap_seq(0xA3, p86);
  total = isc->len + a0->len + a1->len + a3->len;
  if (o && o->replace_keys) {
    a2 = wrap_seq(0xA2, p87b);
    total += a2->len;
  }

  /* The segments of SGP.22 2.5.5. */
  first = header(0xBF36, total);
  g_byte_array_append(first, isc->data, isc->len);
  g_ptr_array_add(b.segments, first);
  /* the A0 tag and length with the first 87, then any further 87 alone */
  {
    GByteArray *h = g_byte_array_new();
    gsize body = 0;
    for (guint i = 0; i < p87->len; i++)
      body += ((GByteArray *)g_ptr_array_index(p87, i))->len;
    g_byte_array_append(h, a0->data, (guint)(a0->len - body));
    g_byte_array_append(h, ((GByteArray *)g_ptr_array_index(p87, 0))->data,
                        ((GByteArray *)g_ptr_array_index(p87, 0))->len);
    g_ptr_array_add(b.segments, h);
    for (guint i = 1; i < p87->len; i++)
      g_ptr_array_add(b.segments, g_byte_array_ref(g_ptr_array_index(p87, i)));
  }
  {
    /* the A1 header alone: tag and length of the whole sequence */
    gsize hl = a1->len;
    for (guint i = 0; i < p88->len; i++)
      hl -= ((GByteArray *)g_ptr_array_index(p88, i))->len;
    GByteArray *h = g_byte_array_sized_new((guint)hl);
    g_byte_array_append(h, a1->data, (guint)hl);
    g_ptr_array_add(b.segments, h);
  }
  for (guint i = 0; i < p88->len; i++)
    g_ptr_array_add(b.segments, g_byte_array_ref(g_ptr_array_index(p88, i)));
  if (a2)
    g_ptr_array_add(b.segments, g_byte_array_ref(a2));
  {
    gsize hl = a3->len;
    GByteArray *h;
    for (guint i = 0; i < p86->len; i++)
      hl -= ((GByteArray *)g_ptr_array_index(p86, i))->len;
    h = g_byte_array_sized_new((guint)hl);
    g_byte_array_append(h, a3->data, (guint)hl);
    g_ptr_array_add(b.segments, h);
  }
  for (guint i = 0; i < p86->len; i++)
    g_ptr_array_add(b.segments, g_byte_array_ref(g_ptr_array_index(p86, i)));
  return b;
}

/*
 * Sends the segments one ES10b.LoadBoundProfilePackage each. Every segment
 * but the last answers nothing; the first one that answers ends the load.
 * Returns that answer and sets *at to its index.
 */
static GByteArray *load(Session *s, Bpp *b, guint *at)
{
  for (guint i = 0; i < b->segments->len; i++) {
    GByteArray *seg = g_ptr_array_index(b->segments, i);
    guint16 sw;
    GByteArray *r = es10(s, seg->data, seg->len, &sw);
    assert_int_equal(sw, 0x9000);
    if (r->len > 0) {
      *at = i;
      return r;
    }
    g_byte_array_unref(r);
  }
  fail_msg("no ProfileInstallationResult after %u segments", b->segments->len);
  return NULL;
}

/* Checks the PIR's signature and returns its finalResult (A2's child). */
static void check_pir(Session *s, GByteArray *r, Tlv *final_result, guint *seq)
{
  Tlv top, data, sig, t, md, a2;
  guint64 v;

  assert_true(tlv_parse(r->data, r->len, &top, NULL));
  assert_int_equal(top.tag, 0xBF37);
  assert_true(tlv_find(&top, 0xBF27, &data, NULL));
  assert_true(tlv_find(&top, 0x5F37, &sig, NULL));
  assert_true(
      verify(X509_get0_pubkey(s->euicc_cert), data.raw, data.raw_length, sig.value, sig.length));
  assert_true(tlv_find(&data, 0x80, &t, NULL));
  assert_memory_equal(t.value, s->tid, 16);
  assert_true(tlv_find(&data, 0xBF2F, &md, NULL));
  assert_true(tlv_find(&md, 0x80, &t, NULL));
  assert_true(tlv_get_uint(&t, &v, NULL));
  *seq = (guint)v;
  assert_true(tlv_find(&md, 0x81, &t, NULL)); /* install: bit 0 */
  assert_int_equal(t.length, 2);
  assert_int_equal(t.value[1], 0x80);
  assert_true(tlv_find(&md, 0x0C, &t, NULL));
  assert_int_equal(t.length, strlen(ADDRESS));
  assert_memory_equal(t.value, ADDRESS, strlen(ADDRESS));
  assert_true(tlv_find(&data, 0x06, &t, NULL)); /* smdpOid of CERT.DPpb */
  {
    g_autoptr(GByteArray) oid = hex(SMDP_OID_HEX);
    assert_int_equal(t.length, oid->len);
    assert_memory_equal(t.value, oid->data, oid->len);
  }
  assert_true(tlv_find(&data, 0xA2, &a2, NULL));
  {
    TlvIter it;
    tlv_iter_init(&it, &a2, NULL);
    assert_true(tlv_iter_next(&it, final_result, NULL));
  }
}

/* A PIR with an errorResult: its bppCommandId and errorReason. */
static void expect_pir_error(Session *s, GByteArray *r, guint cmd, guint reason)
{
  Tlv res, t;
  guint seq;
  guint64 v;

  check_pir(s, r, &res, &seq);
  assert_int_equal(res.tag, 0xA1);
  assert_true(tlv_find(&res, 0x80, &t, NULL));
  assert_true(tlv_get_uint(&t, &v, NULL));
  assert_int_equal(v, cmd);
  assert_true(tlv_find(&res, 0x81, &t, NULL));
  assert_true(tlv_get_uint(&t, &v, NULL));
  assert_int_equal(v, reason);
}

/* Authenticate, prepare, bind, up to the BPP. */
static Bpp ready(Session *s, const BindOptions *o)
{
  authenticate_ok(s);
  prepare_ok(s);
  return bind(s, o);
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */

static void test_euicc_info1_lists_the_ci(void **state)
{
  Session s;
  g_autoptr(GByteArray) cmd = hex("BF2000");
  g_autoptr(GByteArray) r = NULL;
  Tlv top, list, first;
  guint16 sw;

  session_start(&s, card(NULL), TRUE);
  r = es10(&s, cmd->data, cmd->len, &sw);
  assert_int_equal(sw, 0x9000);
  assert_true(tlv_parse(r->data, r->len, &top, NULL));
  assert_true(tlv_find(&top, 0xA9, &list, NULL));
  assert_true(tlv_find(&list, 0x04, &first, NULL));
  assert_int_equal(first.length, g_bytes_get_size(ci_pkid));
  assert_memory_equal(first.value, g_bytes_get_data(ci_pkid, NULL), first.length);
  session_clear(&s);
}

static void test_download_installs_profile(void **state)
{
  Session s;
  Bpp b;
  g_autoptr(GByteArray) r = NULL;
  g_autoptr(GByteArray) all = NULL;
  g_autoptr(GByteArray) enable = hex("BF3111A00C5A0A" ICCID_BCD "810101");
  g_autoptr(GByteArray) er = NULL;
  g_autofree char *aid_hex = NULL;
  Tlv res, aid, top, first;
  const char *name = NULL, *provider = NULL, *address = NULL, *iccid = NULL;
  guint at = 0, seq = 0, nseq = 0, event = 9;
  guint mem_before;
  int klass = -1;
  guint16 sw;

  session_start(&s, card(NULL), TRUE);
  mem_before = euicc_sim_get_free_nv_memory(s.sim);
  b = ready(&s, &(BindOptions){.pe_filler = 400});
  /* BF36+BF23, A0, A1 header, two 88, A3 header, then the 86 of 100 bytes each */
  assert_true(b.segments->len >= 10);
  assert_int_equal(((GByteArray *)g_ptr_array_index(b.segments, 5))->data[0], 0xA3);
  r = load(&s, &b, &at);
  assert_int_equal(at, b.segments->len - 1);
  check_pir(&s, r, &res, &seq);
  assert_int_equal(res.tag, 0xA0);
  assert_true(tlv_find(&res, 0x4F, &aid, NULL));
  assert_true(tlv_find(&res, 0x04, &(Tlv){0}, NULL));

  /* The card now holds the profile StoreMetadata described, disabled. */
  assert_int_equal(euicc_sim_get_profile_count(s.sim), 1);
  assert_int_equal(euicc_sim_get_profile_state(s.sim, ICCID), 0);
  assert_true(euicc_sim_get_profile_info(s.sim, ICCID, &name, &provider, &klass, &aid_hex));
  assert_string_equal(name, "Example Travel 5G");
  assert_string_equal(provider, "Example Mobile");
  assert_int_equal(klass, 1);
  {
    g_autoptr(GByteArray) a = hex(aid_hex);
    assert_int_equal(a->len, aid.length);
    assert_memory_equal(a->data, aid.value, aid.length);
  }
  assert_true(euicc_sim_get_free_nv_memory(s.sim) < mem_before - 400);

  /* The install notification is the PIR itself, to the SM-DP+ of the session. */
  assert_int_equal(euicc_sim_get_notification_count(s.sim), 1);
  assert_true(euicc_sim_get_notification(s.sim, 0, &nseq, &event, &address, &iccid));
  assert_int_equal(nseq, seq);
  assert_int_equal(event, 0);
  assert_string_equal(address, ADDRESS);
  assert_string_equal(iccid, ICCID);
  all = es10(&s, (const guint8 *)"\xBF\x2B\x00", 3, &sw);
  assert_int_equal(sw, 0x9000);
  assert_true(tlv_parse(all->data, all->len, &top, NULL));
  assert_true(tlv_find(&top, 0xA0, &top, NULL));
  assert_true(tlv_find(&top, 0xBF37, &first, NULL));
  assert_int_equal(first.raw_length, r->len);
  assert_memory_equal(first.raw, r->data, r->len);

  /* ... and it can be enabled like any other; its notify address is kept. */
  er = es10(&s, enable->data, enable->len, &sw);
  assert_int_equal(sw, 0x9000);
  assert_int_equal(er->data[er->len - 1], 0);
  assert_int_equal(euicc_sim_get_profile_state(s.sim, ICCID), 1);
  assert_true(euicc_sim_get_notification(s.sim, 1, &nseq, &event, &address, &iccid));
  assert_int_equal(event, 1);
  assert_string_equal(address, "notify.example.com");
  /* With its keys loaded the card signs its other notifications for real:
   * euiccNotificationSignature over NotificationMetadata (SGP.22 5.7.10). */
  {
    guint8 cmd[] = {0xBF, 0x2B, 0x05, 0xA0, 0x03, 0x80, 0x01, (guint8)nseq};
    g_autoptr(GByteArray) one = es10(&s, cmd, sizeof(cmd), &sw);
    Tlv outer, list, other, md, sig;
    assert_int_equal(sw, 0x9000);
    assert_true(tlv_parse(one->data, one->len, &outer, NULL));
    assert_true(tlv_find(&outer, 0xA0, &list, NULL));
    assert_true(tlv_find(&list, 0x30, &other, NULL));
    assert_true(tlv_find(&other, 0xBF2F, &md, NULL));
    assert_true(tlv_find(&other, 0x5F37, &sig, NULL));
    assert_true(
        verify(X509_get0_pubkey(s.euicc_cert), md.raw, md.raw_length, sig.value, sig.length));
  }
  bpp_free(&b);
  session_clear(&s);
}

static void test_download_with_replace_session_keys(void **state)
{
  Session s;
  Bpp b;
  g_autoptr(GByteArray) r = NULL;
  Tlv res;
  guint at = 0, seq;

  session_start(&s, card(NULL), TRUE);
  b = ready(&s, &(BindOptions){.replace_keys = TRUE});
  r = load(&s, &b, &at);
  check_pir(&s, r, &res, &seq);
  assert_int_equal(res.tag, 0xA0);
  assert_int_equal(euicc_sim_get_profile_state(s.sim, ICCID), 0);
  bpp_free(&b);
  session_clear(&s);
}

/*
 * ConfigureISDP in two 87 (the A0 header with the first, the second alone),
 * and an ES10 command between two segments: the load goes on.
 */
static void test_download_split_87_and_interleaved(void **state)
{
  Session s;
  Bpp b;
  g_autoptr(GByteArray) r = NULL;
  g_autoptr(GByteArray) eid = NULL;
  guint at = 0, seq;
  guint16 sw;
  Tlv res;

  session_start(&s, card(NULL), TRUE);
  b = ready(&s, &(BindOptions){.split_87 = TRUE});
  assert_int_equal(((GByteArray *)g_ptr_array_index(b.segments, 1))->data[0], 0xA0);
  assert_int_equal(((GByteArray *)g_ptr_array_index(b.segments, 2))->data[0], 0x87);
  for (guint i = 0; i < 4; i++) {
    GByteArray *seg = g_ptr_array_index(b.segments, i);
    g_autoptr(GByteArray) none = es10(&s, seg->data, seg->len, &sw);
    assert_int_equal(sw, 0x9000);
    assert_int_equal(none->len, 0);
  }
  eid = es10(&s, (const guint8 *)"\xBF\x3E\x03\x5C\x01\x5A", 6, &sw);
  assert_int_equal(sw, 0x9000);
  assert_int_equal(eid->data[0], 0xBF);
  g_ptr_array_remove_range(b.segments, 0, 4);
  r = load(&s, &b, &at);
  check_pir(&s, r, &res, &seq);
  assert_int_equal(res.tag, 0xA0);
  assert_int_equal(euicc_sim_get_profile_state(s.sim, ICCID), 0);
  bpp_free(&b);
  session_clear(&s);
}

static void test_confirmation_code(void **state)
{
  Session s;
  guint8 hash[32];
  g_autoptr(GByteArray) r = NULL;
  g_autoptr(GByteArray) missing = NULL;

  /* Required and given: the card signs the LPA's hashCc into euiccSigned2. */
  session_start(&s, card(NULL), TRUE);
  authenticate_ok(&s);
  r = prepare(&s, &(PrepareFaults){.cc_required = TRUE, .with_hash = TRUE}, hash);
  check_prepare_ok(&s, r, hash);
  session_clear(&s);

  /* Required and missing: undefinedError. */
  session_start(&s, card(NULL), TRUE);
  authenticate_ok(&s);
  missing = prepare(&s, &(PrepareFaults){.cc_required = TRUE}, NULL);
  assert_int_equal(error_code(missing, 0xBF21, &s), 127);
  session_clear(&s);
}

static void test_authenticate_refusals(void **state)
{
  Session s;
  g_autoptr(GBytes) other_ci = g_bytes_new("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0A\x0B\x0C\x0D"
                                           "\x0E\x0F\x10\x11\x12\x13\x14",
                                           20);
  struct {
    AuthFaults f;
    guint code;
  } cases[] = {
      {{.wrong_challenge = TRUE}, 6}, /* euiccChallengeMismatch */
      {{.bad_signature = TRUE}, 2},   /* invalidSignature */
      {{.cert = dsauth_cert}, 2},     /* a CI-signed cert, but not the signer */
      {{.pkid = other_ci}, 7},        /* ciPKUnknown */
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GByteArray) r = NULL;
    session_start(&s, card(NULL), TRUE);
    get_challenge(&s);
    r = authenticate(&s, &cases[i].f);
    assert_int_equal(error_code(r, 0xBF38, &s), cases[i].code);
    session_clear(&s);
  }

  /* A certificate that does not chain to the CI (the eUICC's own, whose
   * issuer the card is not given): invalidCertificate. */
  {
    g_autoptr(GByteArray) r = NULL;
    X509 *euicc = read_cert("euicc.pem");
    session_start(&s, card(NULL), TRUE);
    get_challenge(&s);
    r = authenticate(&s, &(AuthFaults){.cert = euicc});
    assert_int_equal(error_code(r, 0xBF38, &s), 1);
    X509_free(euicc);
    session_clear(&s);
  }

  /* No challenge asked for: the one the server signed cannot match. */
  {
    g_autoptr(GByteArray) r = NULL;
    session_start(&s, card(NULL), TRUE);
    r = authenticate(&s, NULL);
    assert_int_equal(error_code(r, 0xBF38, &s), 6);
    session_clear(&s);
  }

  /* A card without credentials cannot authenticate: undefinedError. */
  {
    g_autoptr(GByteArray) r = NULL;
    session_start(&s, card(NULL), FALSE);
    get_challenge(&s);
    r = authenticate(&s, NULL);
    assert_int_equal(error_code(r, 0xBF38, &s), 127);
    session_clear(&s);
  }

  /* A transactionId the card has authenticated before: undefinedError. */
  {
    g_autoptr(GByteArray) r = NULL;
    session_start(&s, card(NULL), TRUE);
    authenticate_ok(&s);
    get_challenge(&s);
    r = authenticate(&s, NULL);
    assert_int_equal(error_code(r, 0xBF38, &s), 127);
    session_clear(&s);
  }
}

static void test_prepare_refusals(void **state)
{
  Session s;
  struct {
    PrepareFaults f;
    guint code;
  } cases[] = {
      {{.bad_signature = TRUE}, 2}, /* invalidSignature */
      {{.other_tid = TRUE}, 5},     /* invalidTransactionId */
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GByteArray) r = NULL;
    session_start(&s, card(NULL), TRUE);
    authenticate_ok(&s);
    r = prepare(&s, &cases[i].f, NULL);
    if (cases[i].f.other_tid)
      s.tid[15] ^= 0xFF; /* the answer names the transactionId it was given */
    assert_int_equal(error_code(r, 0xBF21, &s), cases[i].code);
    session_clear(&s);
  }

  /* CERT.DPpb that does not chain to the CI: invalidCertificate. */
  {
    g_autoptr(GByteArray) r = NULL;
    X509 *euicc = read_cert("euicc.pem");
    session_start(&s, card(NULL), TRUE);
    authenticate_ok(&s);
    r = prepare(&s, &(PrepareFaults){.cert = euicc}, NULL);
    assert_int_equal(error_code(r, 0xBF21, &s), 1);
    X509_free(euicc);
    session_clear(&s);
  }

  /* A CI-signed certificate of another server (CERT.DSauth, OID 2.999.20)
   * as CERT.DPpb: not the SM-DP+ that authenticated, invalidCertificate. */
  {
    g_autoptr(GByteArray) r = NULL;
    session_start(&s, card(NULL), TRUE);
    authenticate_ok(&s);
    r = prepare(&s, &(PrepareFaults){.cert = dsauth_cert}, NULL);
    assert_int_equal(error_code(r, 0xBF21, &s), 1);
    session_clear(&s);
  }

  /* No AuthenticateServer before: noSessionContext. */
  {
    g_autoptr(GByteArray) r = NULL;
    session_start(&s, card(NULL), TRUE);
    r = prepare(&s, NULL, NULL);
    assert_int_equal(error_code(r, 0xBF21, &s), 4);
    session_clear(&s);
  }
}

/* Every refusal leaves the card without the profile. */
static void expect_refused(Session *s, Bpp *b, guint want_at, guint cmd, guint reason)
{
  guint at = 0;
  guint before = euicc_sim_get_profile_count(s->sim);
  g_autoptr(GByteArray) r = load(s, b, &at);

  assert_int_equal(at, want_at);
  expect_pir_error(s, r, cmd, reason);
  assert_int_equal(euicc_sim_get_profile_count(s->sim), before);
}

static void test_bpp_wrong_mac(void **state)
{
  Session s;
  Bpp b;
  GByteArray *seg;

  session_start(&s, card(NULL), TRUE);
  b = ready(&s, NULL);
  /* the last byte of the first 86 is part of its C-MAC */
  seg = g_ptr_array_index(b.segments, 6);
  assert_int_equal(seg->data[0], 0x86);
  seg->data[seg->len - 1] ^= 0x01;
  expect_refused(&s, &b, 6, 5, 8); /* loadProfileElements, scp03tSecurityError */
  /* the failed install is still reported to the SM-DP+ */
  assert_int_equal(euicc_sim_get_notification_count(s.sim), 1);
  bpp_free(&b);
  session_clear(&s);
}

static void test_bpp_wrong_mac_in_metadata(void **state)
{
  Session s;
  Bpp b;
  GByteArray *seg;

  session_start(&s, card(NULL), TRUE);
  b = ready(&s, NULL);
  seg = g_ptr_array_index(b.segments, 3);
  assert_int_equal(seg->data[0], 0x88);
  seg->data[seg->len - 10] ^= 0x01; /* data, not MAC: the MAC check catches it too */
  expect_refused(&s, &b, 3, 2, 8);
  bpp_free(&b);
  session_clear(&s);
}

static void test_bpp_bad_smdp_sign(void **state)
{
  Session s;
  Bpp b;

  session_start(&s, card(NULL), TRUE);
  b = ready(&s, &(BindOptions){.bad_sign = TRUE});
  expect_refused(&s, &b, 0, 0, 2); /* initialiseSecureChannel, invalidSignature */
  bpp_free(&b);
  session_clear(&s);
}

static void test_bpp_out_of_order(void **state)
{
  Session s;
  Bpp b;

  /* The A1 header where ConfigureISDP belongs. */
  session_start(&s, card(NULL), TRUE);
  b = ready(&s, NULL);
  g_byte_array_unref(g_ptr_array_steal_index(b.segments, 1));
  expect_refused(&s, &b, 1, 1, 7); /* configureISDP, scp03tStructureError */
  bpp_free(&b);
  session_clear(&s);

  /* Two 86 swapped: the chained MAC of the first one cannot match. */
  session_start(&s, card(NULL), TRUE);
  b = ready(&s, &(BindOptions){.pe_filler = 300});
  {
    gpointer x = b.segments->pdata[6];
    b.segments->pdata[6] = b.segments->pdata[7];
    b.segments->pdata[7] = x;
  }
  expect_refused(&s, &b, 6, 5, 8);
  bpp_free(&b);
  session_clear(&s);
}

static void test_bpp_replayed(void **state)
{
  Session s;
  Bpp b;
  guint at = 0;
  g_autoptr(GByteArray) ok = NULL;
  g_autoptr(GByteArray) again = NULL;
  guint16 sw;
  GByteArray *first;

  session_start(&s, card(NULL), TRUE);
  b = ready(&s, NULL);
  ok = load(&s, &b, &at);
  assert_int_equal(euicc_sim_get_profile_count(s.sim), 1);
  /* The same BPP again: its transactionId's session is over. */
  first = g_ptr_array_index(b.segments, 0);
  again = es10(&s, first->data, first->len, &sw);
  assert_int_equal(sw, 0x9000);
  /* initialiseSecureChannel, invalidTransactionId: signed, but with no
   * session there is no SM-DP+ address or OID to name */
  {
    Tlv top, data, sig, res, t;
    guint64 v;
    assert_true(tlv_parse(again->data, again->len, &top, NULL));
    assert_true(tlv_find(&top, 0xBF27, &data, NULL));
    assert_true(tlv_find(&top, 0x5F37, &sig, NULL));
    assert_true(
        verify(X509_get0_pubkey(s.euicc_cert), data.raw, data.raw_length, sig.value, sig.length));
    assert_true(tlv_find(&data, 0xA2, &res, NULL));
    assert_true(tlv_find(&res, 0xA1, &res, NULL));
    assert_true(tlv_find(&res, 0x80, &t, NULL));
    assert_true(tlv_get_uint(&t, &v, NULL));
    assert_int_equal(v, 0);
    assert_true(tlv_find(&res, 0x81, &t, NULL));
    assert_true(tlv_get_uint(&t, &v, NULL));
    assert_int_equal(v, 3);
  }
  assert_int_equal(euicc_sim_get_profile_count(s.sim), 1);
  assert_int_equal(euicc_sim_get_notification_count(s.sim), 1);
  bpp_free(&b);
  session_clear(&s);
}

static void test_bpp_card_full(void **state)
{
  Session s;
  Bpp b;
  static const char one_profile[] = "max-profiles 1\n[profile]\niccid 8944476500001234567\n"
                                    "isdp-aid A0000005591010FFFFFFFF8900001000\n";

  /* No room for another ISD-P. */
  session_start(&s, card(one_profile), TRUE);
  b = ready(&s, NULL);
  expect_refused(&s, &b, 1, 1, 10); /* configureISDP, insufficientMemory */
  bpp_free(&b);
  session_clear(&s);

  /* Not enough non-volatile memory for the profile elements. */
  session_start(&s, card("free-nv-memory 300\n"), TRUE);
  b = ready(&s, &(BindOptions){.pe_filler = 500});
  /* 300 bytes fit: the fourth 86 of 100 bytes is one too many */
  expect_refused(&s, &b, 9, 5, 10); /* loadProfileElements, insufficientMemory */
  bpp_free(&b);
  session_clear(&s);
}

static void test_bpp_iccid_already_there(void **state)
{
  Session s;
  Bpp b;
  g_autofree char *extra =
      g_strdup_printf("[profile]\niccid %s\nisdp-aid A0000005591010FFFFFFFF8900001000\n", ICCID);

  session_start(&s, card(extra), TRUE);
  b = ready(&s, NULL);
  expect_refused(&s, &b, 4, 2, 9); /* storeMetadata, iccidAlreadyExists (after the last 88) */
  assert_int_equal(euicc_sim_get_profile_count(s.sim), 1);
  bpp_free(&b);
  session_clear(&s);
}

/* Loads the whole package: the install result is the last segment's, success. */
static void expect_installed(Session *s, Bpp *b)
{
  guint at = 0, seq = 0;
  Tlv res;
  g_autoptr(GByteArray) r = load(s, b, &at);

  assert_int_equal(at, b->segments->len - 1);
  check_pir(s, r, &res, &seq);
  assert_int_equal(res.tag, 0xA0);
}

/*
 * The SM-DP+ refused the confirmation code but keeps the transaction open
 * (SGP.22 5.6.3, 8.2.7 / 3.8): the LPA asks the user again and sends
 * PrepareDownload once more in the same session, since hashCc is inside the
 * signed euiccSigned2. The card signs the new hashCc with a new one-time
 * key: it reuses otSK.EUICC.ECKA only for a BPP already bound to it, which
 * smdpSigned2 names in bppEuiccOtpk (5.7.5), and none was bound here. The
 * BPP bound to the second answer installs.
 */
static void test_confirmation_code_again(void **state)
{
  Session s;
  guint8 wrong[32], right[32], first_otpk[65];
  g_autoptr(GByteArray) r1 = NULL;
  g_autoptr(GByteArray) r2 = NULL;
  Bpp b;

  session_start(&s, card(NULL), TRUE);
  authenticate_ok(&s);
  r1 = prepare(&s, &(PrepareFaults){.cc_required = TRUE, .with_hash = TRUE, .code = "0000"}, wrong);
  check_prepare_ok(&s, r1, wrong);
  memcpy(first_otpk, s.euicc_otpk, 65);
  r2 = prepare(&s, &(PrepareFaults){.cc_required = TRUE, .with_hash = TRUE}, right);
  check_prepare_ok(&s, r2, right);
  assert_memory_not_equal(wrong, right, 32);
  assert_memory_not_equal(first_otpk, s.euicc_otpk, 65);

  b = bind(&s, NULL);
  expect_installed(&s, &b);
  bpp_free(&b);
  session_clear(&s);
}

/*
 * SGP.22 2.9 / 5.5.3: the card checks the PPRs of StoreMetadata against its
 * RAT itself (an LPA that skipped the check is caught here) and refuses
 * with pprNotAllowed (15) at storeMetadata (bppCommandId 2).
 */
static void test_bpp_ppr_not_allowed(void **state)
{
  static const struct {
    const char *card;
    guint8 pprs;
    gboolean allowed;
  } cases[] = {
      {NULL, 0x20, FALSE},                     /* empty RAT: PPR2 not allowed */
      {"rat-rule ppr2 234EE\n", 0x20, TRUE},   /* wildcard MNC matches 234 15 */
      {"rat-rule ppr2 310410\n", 0x20, FALSE}, /* another operator */
      {"rat-rule ppr1 EEEEEE\n", 0x60, FALSE}, /* PPR2 has no rule */
      {"rat-rule ppr1 EEEEEE\nrat-rule ppr2 23415 consent\n", 0x60, TRUE}, /* one each */
      {"rat-rule ppr-update-control 23415\n", 0x80, TRUE}, /* update control rules nothing */
      /* PPR1 only while the card holds no operational profile */
      {"rat-rule ppr1 EEEEEE\n[profile]\niccid 8944476500001234567\n"
       "isdp-aid A0000005591010FFFFFFFF8900001000\nclass test\n",
       0x40, TRUE},
      {"rat-rule ppr1 EEEEEE\n[profile]\niccid 8944476500001234567\n"
       "isdp-aid A0000005591010FFFFFFFF8900001000\n",
       0x40, FALSE},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    Session s;
    Bpp b;
    guint before;

    session_start(&s, card(cases[i].card), TRUE);
    before = euicc_sim_get_profile_count(s.sim);
    b = ready(&s, &(BindOptions){.pprs = cases[i].pprs});
    if (cases[i].allowed) {
      expect_installed(&s, &b);
      assert_int_equal(euicc_sim_get_profile_count(s.sim), before + 1);
    } else {
      expect_refused(&s, &b, 4, 2, 15); /* storeMetadata, pprNotAllowed (after the last 88) */
    }
    bpp_free(&b);
    session_clear(&s);
  }
}

static void test_bpp_iccid_mismatch(void **state)
{
  Session s;
  Bpp b;

  session_start(&s, card(NULL), TRUE);
  b = ready(&s, &(BindOptions){.pe_iccid_bcd = "98440000000000000010"});
  expect_refused(&s, &b, b.segments->len - 1, 5, 13);
  bpp_free(&b);
  session_clear(&s);
}

static void test_cancel_session(void **state)
{
  Session s;
  TlvWriter w;
  g_autoptr(GBytes) cmd = NULL, wrong = NULL;
  g_autoptr(GByteArray) r = NULL, rw = NULL, after = NULL;
  Tlv top, ok, signed_, sig, t;
  guint8 other[16];
  guint64 v;

  session_start(&s, card(NULL), TRUE);
  authenticate_ok(&s);

  /* Another transactionId: invalidTransactionId, and the session stays. */
  memcpy(other, s.tid, 16);
  other[0] ^= 1;
  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0xBF41);
  tlv_writer_put(&w, 0x80, other, 16);
  tlv_writer_put_uint(&w, 0x81, 1);
  tlv_writer_end(&w);
  wrong = tlv_writer_finish(&w);
  rw = es10_ok(&s, wrong);
  assert_true(tlv_parse(rw->data, rw->len, &top, NULL));
  assert_true(tlv_find(&top, 0x81, &t, NULL));
  assert_true(tlv_get_uint(&t, &v, NULL));
  assert_int_equal(v, 5);

  /* postponed (1): signed by the card, with the DPauth OID. */
  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0xBF41);
  tlv_writer_put(&w, 0x80, s.tid, 16);
  tlv_writer_put_uint(&w, 0x81, 1);
  tlv_writer_end(&w);
  cmd = tlv_writer_finish(&w);
  r = es10_ok(&s, cmd);
  assert_true(tlv_parse(r->data, r->len, &top, NULL));
  assert_int_equal(top.tag, 0xBF41);
  assert_true(tlv_find(&top, 0xA0, &ok, NULL));
  assert_true(tlv_find(&ok, 0x30, &signed_, NULL));
  assert_true(tlv_find(&ok, 0x5F37, &sig, NULL));
  assert_true(verify(X509_get0_pubkey(s.euicc_cert), signed_.raw, signed_.raw_length, sig.value,
                     sig.length));
  assert_true(tlv_find(&signed_, 0x80, &t, NULL));
  assert_memory_equal(t.value, s.tid, 16);
  assert_true(tlv_find(&signed_, 0x81, &t, NULL));
  {
    g_autoptr(GByteArray) oid = hex(SMDP_OID_HEX);
    assert_int_equal(t.length, oid->len);
    assert_memory_equal(t.value, oid->data, oid->len);
  }
  assert_true(tlv_find(&signed_, 0x82, &t, NULL));
  assert_true(tlv_get_uint(&t, &v, NULL));
  assert_int_equal(v, 1);

  /* The session is gone: PrepareDownload has nothing to continue. */
  after = prepare(&s, NULL, NULL);
  assert_int_equal(error_code(after, 0xBF21, &s), 4);
  session_clear(&s);
}

/*
 * One byte of the BPP changed, anywhere: the card answers a status word or
 * a ProfileInstallationResult with an errorResult, installs nothing, and
 * never reads past what it was given (ASan watches).
 */
static void test_bpp_any_byte_changed(void **state)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed(20261202);

  for (guint round = 0; round < 40; round++) {
    Session s;
    Bpp b;
    GByteArray *seg;
    guint which, pos;
    gboolean answered = FALSE;

    session_start(&s, card(NULL), TRUE);
    b = ready(&s, NULL);
    which = (guint)g_rand_int_range(rand, 0, (gint32)b.segments->len);
    seg = g_ptr_array_index(b.segments, which);
    pos = (guint)g_rand_int_range(rand, 0, (gint32)seg->len);
    seg->data[pos] ^= (guint8)g_rand_int_range(rand, 1, 256);
    for (guint i = 0; i < b.segments->len && !answered; i++) {
      GByteArray *x = g_ptr_array_index(b.segments, i);
      guint16 sw;
      g_autoptr(GByteArray) r = es10(&s, x->data, x->len, &sw);
      if (sw != 0x9000) {
        /* a segment the card cannot even frame: no DER, no ES10 command */
        assert_true(sw == 0x6A80 || sw == 0x6A88);
        answered = TRUE;
      } else if (r->len > 0) {
        Tlv top, data, a2, res;
        assert_true(tlv_parse(r->data, r->len, &top, NULL));
        assert_int_equal(top.tag, 0xBF37);
        assert_true(tlv_find(&top, 0xBF27, &data, NULL));
        assert_true(tlv_find(&data, 0xA2, &a2, NULL));
        assert_true(tlv_find(&a2, 0xA1, &res, NULL)); /* errorResult */
        answered = TRUE;
      }
    }
    assert_true(answered);
    assert_int_equal(euicc_sim_get_profile_count(s.sim), 0);
    bpp_free(&b);
    session_clear(&s);
  }
}

/*
 * The answer to the last segment is lost (drop:BF36): the card installed
 * the profile all the same and keeps the PIR, which RetrieveNotificationsList
 * still hands out -- how an LPA finds out what happened (SGP.22 3.1.3.3).
 */
static void test_bpp_lost_answer(void **state)
{
  Session s;
  Bpp b;
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) apdu = g_byte_array_new();
  g_autoptr(GByteArray) list = NULL;
  GByteArray *last;
  Tlv top, pending, pir, data, a2, res;
  guint16 sw;

  session_start(&s, card(NULL), TRUE);
  b = ready(&s, NULL);
  for (guint i = 0; i + 1 < b.segments->len; i++) {
    GByteArray *seg = g_ptr_array_index(b.segments, i);
    g_autoptr(GByteArray) none = es10(&s, seg->data, seg->len, &sw);
    assert_int_equal(sw, 0x9000);
    assert_int_equal(none->len, 0);
  }
  assert_true(euicc_sim_add_fault(s.sim, "drop:BF36@1", &error));
  last = g_ptr_array_index(b.segments, b.segments->len - 1);
  assert_true(last->len <= 255);
  {
    guint8 hdr[5] = {(guint8)(0x80 | s.ch), 0xE2, 0x91, 0x00, (guint8)last->len};
    g_byte_array_append(apdu, hdr, 5);
    g_byte_array_append(apdu, last->data, last->len);
  }
  assert_null(euicc_sim_transmit(s.sim, apdu->data, apdu->len));
  assert_int_equal(euicc_sim_get_profile_state(s.sim, ICCID), 0);

  list = es10(&s, (const guint8 *)"\xBF\x2B\x00", 3, &sw);
  assert_int_equal(sw, 0x9000);
  assert_true(tlv_parse(list->data, list->len, &top, NULL));
  assert_true(tlv_find(&top, 0xA0, &pending, NULL));
  assert_true(tlv_find(&pending, 0xBF37, &pir, NULL));
  assert_true(tlv_find(&pir, 0xBF27, &data, NULL));
  assert_true(tlv_find(&data, 0xA2, &a2, NULL));
  assert_true(tlv_find(&a2, 0xA0, &res, NULL)); /* successResult */
  bpp_free(&b);
  session_clear(&s);
}

static void test_pki_from_card_file(void **state)
{
  g_autofree char *text = g_strdup_printf("type euicc\neid " EID "\npki %s\n", pki_dir);
  g_autoptr(GError) error = NULL;
  EuiccSim *sim = euicc_sim_new_from_data(text, &error);
  Session s;
  Bpp b;
  guint at = 0, seq;
  g_autoptr(GByteArray) r = NULL;
  Tlv res;

  if (!sim)
    fail_msg("%s", error->message);
  session_start(&s, sim, FALSE);
  b = ready(&s, NULL);
  r = load(&s, &b, &at);
  check_pir(&s, r, &res, &seq);
  assert_int_equal(res.tag, 0xA0);
  bpp_free(&b);
  session_clear(&s);

  /* A PKI made for another EID is refused at load, with a message that says so. */
  {
    g_autoptr(GError) e3 = NULL;
    g_autofree char *other =
        g_strdup_printf("type euicc\neid 89049032123451234512345678901001\npki %s\n", pki_dir);
    EuiccSim *bad = euicc_sim_new_from_data(other, &e3);
    assert_null(bad);
    assert_non_null(strstr(e3->message, EID));
  }

  /* A pki folder without the files is a card file error. */
  {
    g_autoptr(GError) e2 = NULL;
    EuiccSim *bad = euicc_sim_new_from_data("type euicc\neid " EID "\npki /nonexistent\n", &e2);
    assert_null(bad);
    assert_non_null(e2);
  }
}

/* ------------------------------------------------------------------ */

static int make_pki(void **state)
{
  const char *cards = g_getenv("ESIMD_CARDS_DIR");
  g_autofree char *mkpki = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL, *err = NULL;
  g_autofree char *pkid_hex = NULL;
  int status = 0;

  assert_non_null(cards);
  mkpki = g_build_filename(cards, "..", "mkpki", NULL);
  tmp_dir = g_dir_make_tmp("euicc-sim-rsp-XXXXXX", &error);
  assert_non_null(tmp_dir);
  pki_dir = g_build_filename(tmp_dir, "pki", NULL);
  {
    const char *argv[] = {"sh", mkpki, pki_dir, NULL};
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                      &status, &error) ||
        !g_spawn_check_wait_status(status, NULL))
      fail_msg("mkpki failed: %s", err ? err : error->message);
  }
  ci_cert = read_cert("ci.pem");
  dpauth_cert = read_cert("dpauth.pem");
  dppb_cert = read_cert("dppb.pem");
  dsauth_cert = read_cert("dsauth.pem");
  dpauth_key = read_key("dpauth.key");
  dppb_key = read_key("dppb.key");
  {
    g_autofree char *path = g_build_filename(pki_dir, "ci-pkid.hex", NULL);
    g_autoptr(GByteArray) b = NULL;
    assert_true(g_file_get_contents(path, &pkid_hex, NULL, NULL));
    b = hex(g_strstrip(pkid_hex));
    assert_int_equal(b->len, 20);
    ci_pkid = g_bytes_new(b->data, b->len);
  }
  return 0;
}

static int drop_pki(void **state)
{
  X509_free(ci_cert);
  X509_free(dpauth_cert);
  X509_free(dppb_cert);
  X509_free(dsauth_cert);
  EVP_PKEY_free(dpauth_key);
  EVP_PKEY_free(dppb_key);
  g_bytes_unref(ci_pkid);
  test_remove_tree(tmp_dir);
  g_free(pki_dir);
  g_free(tmp_dir);
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_euicc_info1_lists_the_ci),
      cmocka_unit_test(test_download_installs_profile),
      cmocka_unit_test(test_download_with_replace_session_keys),
      cmocka_unit_test(test_download_split_87_and_interleaved),
      cmocka_unit_test(test_confirmation_code),
      cmocka_unit_test(test_confirmation_code_again),
      cmocka_unit_test(test_authenticate_refusals),
      cmocka_unit_test(test_prepare_refusals),
      cmocka_unit_test(test_bpp_wrong_mac),
      cmocka_unit_test(test_bpp_wrong_mac_in_metadata),
      cmocka_unit_test(test_bpp_bad_smdp_sign),
      cmocka_unit_test(test_bpp_out_of_order),
      cmocka_unit_test(test_bpp_replayed),
      cmocka_unit_test(test_bpp_card_full),
      cmocka_unit_test(test_bpp_iccid_already_there),
      cmocka_unit_test(test_bpp_iccid_mismatch),
      cmocka_unit_test(test_bpp_ppr_not_allowed),
      cmocka_unit_test(test_cancel_session),
      cmocka_unit_test(test_bpp_any_byte_changed),
      cmocka_unit_test(test_bpp_lost_answer),
      cmocka_unit_test(test_pki_from_card_file),
  };

  return cmocka_run_group_tests(tests, make_pki, drop_pki);
}
