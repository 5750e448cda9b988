/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * euicc-sim against smdp-sim: this test is the LPA of SGP.22 3.1.3 between
 * the card (library API, APDUs) and smdp-sim (ES9+ over real HTTPS, the
 * JSON binding of SGP.22 6.5). The two sides were written apart and share
 * no code; only SGP.22 holds them together. The PKI comes from
 * tests/sim/mkpki, the profiles from a JSON file written here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <openssl/evp.h>

#include <cmocka.h>

#include "es10/tlv.h"
#include "euicc-sim.h"
#include "smdp-fixture.h"
#include "test-util.h"
#include "transport/iso7816.h"

#define ISDR "A0000005591010FFFFFFFF8900000100"
#define EID "89049032123451234512345678901235" /* mkpki's default */
#define ADDRESS "smdp.example.com"
#define ICCID_PLAIN "8949449999999990023"
#define ICCID_CC "8949449999999990031"

static const char profiles_json[] =
    "{\"profiles\": {"
    " \"MID-PLAIN\": {\"iccid\": \"" ICCID_PLAIN "\", \"name\": \"Plain test profile\","
    "  \"service-provider\": \"Example Mobile\", \"class\": \"operational\", \"owner\": \"26201\"},"
    " \"MID-CC\": {\"iccid\": \"" ICCID_CC "\", \"name\": \"Needs a code\","
    "  \"service-provider\": \"Example Mobile\", \"class\": \"operational\", \"cc\": \"4711\"}"
    "}, \"events\": {}}";

static SmdpFixture *smdp;
static guint port;
static SoupSession *http;

/* ------------------------------------------------------------------ */
/* The card                                                             */

typedef SmdpCard Card;

static void card_open(Card *c)
{
  smdp_fixture_card_open(smdp, c);
}

static GByteArray *es10(Card *c, const guint8 *cmd, gsize len)
{
  g_autoptr(GBytes) request = g_bytes_new(cmd, len);
  g_autoptr(GBytes) answer = smdp_card_es10(c, request);
  GByteArray *out = g_byte_array_new();

  g_byte_array_append(out, g_bytes_get_data(answer, NULL), (guint)g_bytes_get_size(answer));
  return out;
}

static GByteArray *es10_bytes(Card *c, GBytes *cmd)
{
  return es10(c, g_bytes_get_data(cmd, NULL), g_bytes_get_size(cmd));
}

/* ------------------------------------------------------------------ */
/* ES9+ over HTTPS                                                      */

static char *b64(const guint8 *p, gsize n)
{
  return g_base64_encode(p, n);
}

static GByteArray *unb64(JsonObject *o, const char *member)
{
  const char *text;
  gsize n = 0;
  guchar *raw;
  GByteArray *a;

  assert_true(json_object_has_member(o, member));
  text = json_object_get_string_member(o, member);
  raw = g_base64_decode(text, &n);
  a = g_byte_array_new_take(raw, n);
  return a;
}

/* POSTs an ES9+ function (SGP.22 6.5.1: X-Admin-Protocol, JSON); the parsed answer. */
static JsonObject *call(const char *function, const char *body)
{
  g_autofree char *url =
      g_strdup_printf("https://127.0.0.1:%u/gsma/rsp2/es9plus/%s", port, function);
  g_autoptr(SoupMessage) msg = soup_message_new("POST", url);
  g_autoptr(GBytes) req = g_bytes_new(body, strlen(body));
  g_autoptr(GBytes) answer = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  guint status;

  soup_message_headers_append(soup_message_get_request_headers(msg), "X-Admin-Protocol",
                              "gsma/rsp/v2.2.0");
  soup_message_headers_append(soup_message_get_request_headers(msg), "User-Agent", "gsma-rsp-lpad");
  soup_message_set_request_body_from_bytes(msg, "application/json;charset=UTF-8", req);
  answer = soup_session_send_and_read(http, msg, NULL, &error);
  if (!answer)
    fail_msg("%s: %s", function, error->message);
  status = soup_message_get_status(msg);
  if (status == 204)
    return NULL;
  if (status != 200)
    fail_msg("%s: HTTP %u %.*s", function, status, (int)g_bytes_get_size(answer),
             (const char *)g_bytes_get_data(answer, NULL));
  if (!json_parser_load_from_data(parser, g_bytes_get_data(answer, NULL),
                                  (gssize)g_bytes_get_size(answer), &error))
    fail_msg("%s: %s", function, error->message);
  return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

/* header.functionExecutionStatus.status (SGP.22 6.5.1.4). */
static const char *status_of(JsonObject *o)
{
  JsonObject *h = json_object_get_object_member(o, "header");
  JsonObject *s = json_object_get_object_member(h, "functionExecutionStatus");

  return json_object_get_string_member(s, "status");
}

/* ------------------------------------------------------------------ */
/* The LPA's steps (SGP.22 3.1.3)                                       */

/* Common mutual authentication; returns authenticateClient's answer, *tid its transactionId. */
static JsonObject *authenticate(Card *c, const char *matching_id, char **tid)
{
  g_autoptr(GByteArray) info1 = es10(c, (const guint8 *)"\xBF\x20\x00", 3);
  g_autoptr(GByteArray) chal = es10(c, (const guint8 *)"\xBF\x2E\x00", 3);
  g_autofree char *chal64 = NULL, *info64 = NULL, *body = NULL, *asr64 = NULL, *body2 = NULL;
  g_autoptr(JsonObject) init = NULL;
  g_autoptr(GByteArray) s1 = NULL, sig1 = NULL, pkid = NULL, cert = NULL, asr = NULL;
  g_autoptr(GBytes) cmd = NULL;
  TlvWriter w;
  Tlv top, ok;

  assert_int_equal(chal->len, 3 + 2 + 16); /* BF2E 12 80 10 ... */
  chal64 = b64(chal->data + 5, 16);
  info64 = b64(info1->data, info1->len);
  body = g_strdup_printf("{\"euiccChallenge\": \"%s\", \"euiccInfo1\": \"%s\", "
                         "\"smdpAddress\": \"" ADDRESS "\"}",
                         chal64, info64);
  init = call("initiateAuthentication", body);
  assert_string_equal(status_of(init), "Executed-Success");
  s1 = unb64(init, "serverSigned1");
  sig1 = unb64(init, "serverSignature1");
  pkid = unb64(init, "euiccCiPKIdToBeUsed");
  cert = unb64(init, "serverCertificate");

  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0xBF38);
  tlv_writer_put_raw(&w, s1->data, s1->len);
  tlv_writer_put_raw(&w, sig1->data, sig1->len);
  tlv_writer_put_raw(&w, pkid->data, pkid->len);
  tlv_writer_put_raw(&w, cert->data, cert->len);
  tlv_writer_begin(&w, 0xA0);
  tlv_writer_put(&w, 0x80, (const guint8 *)matching_id, strlen(matching_id));
  tlv_writer_begin(&w, 0xA1); /* DeviceInfo: TAC, no capabilities */
  tlv_writer_put(&w, 0x80, (const guint8 *)"\x35\x29\x06\x11", 4);
  tlv_writer_begin(&w, 0xA1);
  tlv_writer_end(&w);
  tlv_writer_end(&w);
  tlv_writer_end(&w);
  tlv_writer_end(&w);
  cmd = tlv_writer_finish(&w);
  asr = es10_bytes(c, cmd);
  /* the card accepted the SM-DP+: authenticateResponseOk */
  assert_true(tlv_parse(asr->data, asr->len, &top, NULL));
  assert_true(tlv_find(&top, 0xA0, &ok, NULL));

  *tid = g_strdup(json_object_get_string_member(init, "transactionId"));
  asr64 = b64(asr->data, asr->len);
  body2 = g_strdup_printf("{\"transactionId\": \"%s\", \"authenticateServerResponse\": \"%s\"}",
                          *tid, asr64);
  return call("authenticateClient", body2);
}

/* PrepareDownload with what authenticateClient gave; the card's answer. */
static GByteArray *prepare(Card *c, JsonObject *auth, const char *tid, const char *code)
{
  g_autoptr(GByteArray) s2 = unb64(auth, "smdpSigned2");
  g_autoptr(GByteArray) sig2 = unb64(auth, "smdpSignature2");
  g_autoptr(GByteArray) cert = unb64(auth, "smdpCertificate");
  g_autoptr(GBytes) cmd = NULL;
  TlvWriter w;

  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0xBF21);
  tlv_writer_put_raw(&w, s2->data, s2->len);
  tlv_writer_put_raw(&w, sig2->data, sig2->len);
  if (code) {
    /* SHA-256(SHA-256(code) || transactionId), SGP.22 3.1.3 */
    guint8 h[32], hh[32];
    g_autoptr(GByteArray) m = g_byte_array_new();
    EVP_Digest(code, strlen(code), h, NULL, EVP_sha256(), NULL);
    g_byte_array_append(m, h, 32);
    for (gsize i = 0; tid[i] && tid[i + 1]; i += 2) {
      guint8 b = (guint8)(g_ascii_xdigit_value(tid[i]) << 4 | g_ascii_xdigit_value(tid[i + 1]));
      g_byte_array_append(m, &b, 1);
    }
    EVP_Digest(m->data, m->len, hh, NULL, EVP_sha256(), NULL);
    tlv_writer_put(&w, 0x04, hh, 32);
  }
  tlv_writer_put_raw(&w, cert->data, cert->len);
  tlv_writer_end(&w);
  cmd = tlv_writer_finish(&w);
  return es10_bytes(c, cmd);
}

/* Tag, header length and value length at the start of p. */
static void head(const guint8 *p, gsize n, guint32 *tag, gsize *hlen, gsize *vlen)
{
  gsize i = 1;

  *tag = p[0];
  if ((p[0] & 0x1F) == 0x1F)
    *tag = *tag << 8 | p[i++];
  if (p[i] < 0x80) {
    *vlen = p[i++];
  } else {
    guint k = p[i++] & 0x7F;
    *vlen = 0;
    while (k--)
      *vlen = *vlen << 8 | p[i++];
  }
  *hlen = i;
  assert_true(*hlen + *vlen <= n);
}

/*
 * Cuts the BPP as SGP.22 2.5.5 says and loads it: BF36 header + BF23; A0
 * (A2) header with its first 87, further 87 alone; A1 and A3 headers alone,
 * each 88 and 86 alone. Returns the answer that ended it.
 */
static GByteArray *load(Card *c, GByteArray *bpp, guint *commands)
{
  guint32 tag;
  gsize hlen, vlen, pos, inner_h, inner_v;
  GPtrArray *cmds = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  GByteArray *answer = NULL;

  head(bpp->data, bpp->len, &tag, &hlen, &vlen);
  assert_int_equal(tag, 0xBF36);
  head(bpp->data + hlen, bpp->len - hlen, &tag, &inner_h, &inner_v);
  assert_int_equal(tag, 0xBF23);
  g_ptr_array_add(cmds, g_bytes_new(bpp->data, hlen + inner_h + inner_v));
  pos = hlen + inner_h + inner_v;
  while (pos < bpp->len) {
    gsize sh, sv, end, p;
    guint32 stag;
    head(bpp->data + pos, bpp->len - pos, &stag, &sh, &sv);
    end = pos + sh + sv;
    p = pos + sh;
    if (stag == 0xA0 || stag == 0xA2) {
      gsize eh, ev;
      guint32 et;
      head(bpp->data + p, end - p, &et, &eh, &ev);
      g_ptr_array_add(cmds, g_bytes_new(bpp->data + pos, sh + eh + ev));
      p += eh + ev;
    } else {
      g_ptr_array_add(cmds, g_bytes_new(bpp->data + pos, sh));
    }
    while (p < end) {
      gsize eh, ev;
      guint32 et;
      head(bpp->data + p, end - p, &et, &eh, &ev);
      g_ptr_array_add(cmds, g_bytes_new(bpp->data + p, eh + ev));
      p += eh + ev;
    }
    pos = end;
  }
  for (guint i = 0; i < cmds->len && !answer; i++) {
    GByteArray *r = es10_bytes(c, g_ptr_array_index(cmds, i));
    if (r->len > 0)
      answer = r;
    else
      g_byte_array_unref(r);
    *commands = i + 1;
  }
  assert_non_null(answer);
  assert_int_equal(*commands, cmds->len);
  g_ptr_array_unref(cmds);
  return answer;
}

static gboolean pir_success(GByteArray *pir)
{
  Tlv top, data, a2, res;

  assert_true(tlv_parse(pir->data, pir->len, &top, NULL));
  assert_int_equal(top.tag, 0xBF37);
  assert_true(tlv_find(&top, 0xBF27, &data, NULL));
  assert_true(tlv_find(&data, 0xA2, &a2, NULL));
  return tlv_find(&a2, 0xA0, &res, NULL);
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */

static void test_download_through_smdp_sim(void **state)
{
  Card c;
  g_autofree char *tid = NULL, *pdr64 = NULL, *body = NULL, *pir64 = NULL, *body2 = NULL;
  g_autoptr(JsonObject) auth = NULL, bpp_answer = NULL, note = NULL, record = NULL;
  g_autoptr(GByteArray) pdr = NULL, bpp = NULL, pir = NULL;
  const char *name = NULL, *provider = NULL;
  JsonObject *result;
  guint commands = 0;
  int klass = -1;
  gint64 t0 = g_get_monotonic_time();

  card_open(&c);
  auth = authenticate(&c, "MID-PLAIN", &tid);
  assert_string_equal(status_of(auth), "Executed-Success");
  pdr = prepare(&c, auth, tid, NULL);
  assert_int_equal(pdr->data[0], 0xBF);
  pdr64 = b64(pdr->data, pdr->len);
  body = g_strdup_printf("{\"transactionId\": \"%s\", \"prepareDownloadResponse\": \"%s\"}", tid,
                         pdr64);
  bpp_answer = call("getBoundProfilePackage", body);
  assert_string_equal(status_of(bpp_answer), "Executed-Success");
  bpp = unb64(bpp_answer, "boundProfilePackage");
  pir = load(&c, bpp, &commands);
  assert_true(pir_success(pir));

  /* The card holds what the SM-DP+'s profile file says. */
  assert_int_equal(euicc_sim_get_profile_state(c.sim, ICCID_PLAIN), 0);
  assert_true(euicc_sim_get_profile_info(c.sim, ICCID_PLAIN, &name, &provider, &klass, NULL));
  assert_string_equal(name, "Plain test profile");
  assert_string_equal(provider, "Example Mobile");
  assert_int_equal(klass, 2);

  /* The signed result goes back; the SM-DP+ checks the card's signature. */
  pir64 = b64(pir->data, pir->len);
  body2 = g_strdup_printf("{\"pendingNotification\": \"%s\"}", pir64);
  note = call("handleNotification", body2);
  assert_null(note); /* 204 */
  record = smdp_fixture_last_record(smdp, "es9plus/handleNotification");
  result = json_object_get_object_member(record, "installResult");
  assert_non_null(result);
  assert_true(json_object_get_boolean_member(result, "signatureValid"));
  assert_string_equal(json_object_get_string_member(result, "finalResult"), "success");
  assert_string_equal(json_object_get_string_member(record, "iccid"), ICCID_PLAIN);
  print_message("download through smdp-sim: %u LoadBoundProfilePackage commands, %" G_GINT64_FORMAT
                " ms\n",
                commands, (g_get_monotonic_time() - t0) / 1000);
  euicc_sim_free(c.sim);
}

static void test_confirmation_code_through_smdp_sim(void **state)
{
  Card c;
  g_autofree char *tid = NULL, *pdr64 = NULL, *body = NULL;
  g_autoptr(JsonObject) auth = NULL, bpp_answer = NULL;
  g_autoptr(GByteArray) pdr = NULL, bpp = NULL, pir = NULL;
  guint commands = 0;

  /* The wrong code: the SM-DP+ refuses the BPP, the card has nothing. */
  card_open(&c);
  auth = authenticate(&c, "MID-CC", &tid);
  assert_string_equal(status_of(auth), "Executed-Success");
  pdr = prepare(&c, auth, tid, "0000");
  pdr64 = b64(pdr->data, pdr->len);
  body = g_strdup_printf("{\"transactionId\": \"%s\", \"prepareDownloadResponse\": \"%s\"}", tid,
                         pdr64);
  bpp_answer = call("getBoundProfilePackage", body);
  assert_string_equal(status_of(bpp_answer), "Failed");
  assert_int_equal(euicc_sim_get_profile_state(c.sim, ICCID_CC), -1);
  euicc_sim_free(c.sim);
  g_clear_pointer(&tid, g_free);
  g_clear_pointer(&pdr64, g_free);
  g_clear_pointer(&body, g_free);
  g_clear_pointer(&auth, json_object_unref);
  g_clear_pointer(&bpp_answer, json_object_unref);
  g_clear_pointer(&pdr, g_byte_array_unref);

  /* The right one: installed. */
  card_open(&c);
  auth = authenticate(&c, "MID-CC", &tid);
  pdr = prepare(&c, auth, tid, "4711");
  pdr64 = b64(pdr->data, pdr->len);
  body = g_strdup_printf("{\"transactionId\": \"%s\", \"prepareDownloadResponse\": \"%s\"}", tid,
                         pdr64);
  bpp_answer = call("getBoundProfilePackage", body);
  assert_string_equal(status_of(bpp_answer), "Executed-Success");
  bpp = unb64(bpp_answer, "boundProfilePackage");
  pir = load(&c, bpp, &commands);
  assert_true(pir_success(pir));
  assert_int_equal(euicc_sim_get_profile_state(c.sim, ICCID_CC), 0);
  euicc_sim_free(c.sim);
}

static void test_cancel_session_through_smdp_sim(void **state)
{
  Card c;
  g_autofree char *tid = NULL, *csr64 = NULL, *body = NULL;
  g_autoptr(JsonObject) auth = NULL, answer = NULL, record = NULL;
  g_autoptr(GByteArray) csr = NULL;
  g_autoptr(GBytes) cmd = NULL;
  TlvWriter w;
  guint8 tid_bytes[16];
  gsize n = 0;

  card_open(&c);
  auth = authenticate(&c, "MID-PLAIN", &tid);
  assert_string_equal(status_of(auth), "Executed-Success");
  for (; tid[2 * n] && n < sizeof(tid_bytes); n++)
    tid_bytes[n] =
        (guint8)(g_ascii_xdigit_value(tid[2 * n]) << 4 | g_ascii_xdigit_value(tid[2 * n + 1]));
  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0xBF41);
  tlv_writer_put(&w, 0x80, tid_bytes, n);
  tlv_writer_put_uint(&w, 0x81, 1); /* postponed */
  tlv_writer_end(&w);
  cmd = tlv_writer_finish(&w);
  csr = es10_bytes(&c, cmd);
  csr64 = b64(csr->data, csr->len);
  body =
      g_strdup_printf("{\"transactionId\": \"%s\", \"cancelSessionResponse\": \"%s\"}", tid, csr64);
  answer = call("cancelSession", body);
  assert_string_equal(status_of(answer), "Executed-Success");
  record = smdp_fixture_last_record(smdp, "es9plus/cancelSession");
  assert_string_equal(json_object_get_string_member(record, "reason"), "postponed");
  assert_true(json_object_get_boolean_member(record, "smdpOidMatches"));
  euicc_sim_free(c.sim);
}

/* ------------------------------------------------------------------ */

static int start_world(void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsDatabase) db = NULL;

  smdp = smdp_fixture_start(profiles_json, NULL);
  port = smdp_fixture_get_port(smdp);
  /* TLS checked against the test CI only (SGP.22 2.6.6: CERT.DP.TLS chains to the CI). */
  db = g_tls_file_database_new(smdp_fixture_get_ca_file(smdp), &error);
  if (!db)
    fail_msg("%s", error->message);
  http = soup_session_new_with_options("tls-database", db, "timeout", 30, NULL);
  return 0;
}

static int stop_world(void **state)
{
  g_clear_object(&http);
  smdp_fixture_stop(smdp);
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_download_through_smdp_sim),
      cmocka_unit_test(test_confirmation_code_through_smdp_sim),
      cmocka_unit_test(test_cancel_session_through_smdp_sim),
  };

  return cmocka_run_group_tests(tests, start_world, stop_world);
}
