/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/smdp/ (the ES9+ and ES11 client) against smdp-sim --pki over real
 * HTTPS, TLS checked against the test CI, with euicc-sim as the card: the
 * test plays the LPA of SGP.22 3.1.3 with the es10 codec on the card side
 * and the es9p functions on the network side, and asserts what the card
 * holds, what the client returned and what smdp-sim recorded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include <cmocka.h>

#include "es10/es10.h"
#include "euicc-sim.h"
#include "smdp-fixture.h"
#include "smdp/es9p.h"
#include "test-util.h"
#include "transport/iso7816.h"

#define ISDR "A0000005591010FFFFFFFF8900000100"
#define EID "89049032123451234512345678901235" /* mkpki's default */
#define ADDRESS "smdp.example.com"
#define SMDS_ADDRESS "smds.example.com"
#define ICCID_PLAIN "8949449999999990023"
#define ICCID_CC "8949449999999990031"
#define IMEI "356938035643809"

static const char profiles_json[] =
    "{\"profiles\": {"
    " \"MID-PLAIN\": {\"iccid\": \"" ICCID_PLAIN "\", \"name\": \"Plain test profile\","
    "  \"service-provider\": \"Example Mobile\", \"class\": \"operational\", \"owner\": \"26201\","
    "  \"extra-bytes\": 3000},"
    " \"MID-CC\": {\"iccid\": \"" ICCID_CC "\", \"name\": \"Needs a code\","
    "  \"service-provider\": \"Example Mobile\", \"class\": \"operational\", \"cc\": \"4711\"}"
    "}, \"events\": {\"" EID "\": [{\"address\": \"smdp.example.net\", \"event-id\": \"EV-1\"},"
    "  [\"rsp.example.net\", \"EV-2\"]]}}";

static SmdpFixture *smdp;
static guint port;
static char *other_ca;

/* ------------------------------------------------------------------ */
/* The card: euicc-sim through its APDU interface                      */

typedef SmdpCard Card;

static void card_open(Card *c)
{
  smdp_fixture_card_open(smdp, c);
}

static GBytes *es10(Card *c, GBytes *cmd)
{
  return smdp_card_es10(c, cmd);
}

/* GetEuiccChallenge and GetEuiccInfo1: what initiateAuthentication sends. */
static void card_hello(Card *c, GBytes **challenge, GBytes **info1)
{
  g_autoptr(GBytes) cmd = es10b_get_euicc_challenge_encode();
  g_autoptr(GBytes) answer = es10(c, cmd);
  g_autoptr(GBytes) cmd1 = es10b_get_euicc_info1_encode();
  g_autoptr(GError) error = NULL;
  guint8 chal[ES10_CHALLENGE_LEN];

  if (!es10b_get_euicc_challenge_decode(g_bytes_get_data(answer, NULL), g_bytes_get_size(answer),
                                        chal, &error))
    fail_msg("%s", error->message);
  *challenge = g_bytes_new(chal, sizeof(chal));
  *info1 = es10(c, cmd1);
}

/* AuthenticateServer with what initiateAuthentication gave; the card's response. */
static Es10bAuthenticateServerResponse *
card_authenticate_server(Card *c, Es9pAuthentication *a, const char *matching_id, gboolean es11)
{
  Es10DeviceInfo device = {0};
  Es10bAuthenticateServerRequest req = {
      .server_signed1 = a->server_signed1,
      .server_signature1 = a->server_signature1,
      .euicc_ci_pkid_to_be_used = a->euicc_ci_pkid_to_be_used,
      .server_certificate = a->server_certificate,
      .matching_id = matching_id,
      .device_info = &device,
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) cmd = NULL;
  g_autoptr(GBytes) answer = NULL;
  Es10bAuthenticateServerResponse *asr = NULL;

  assert_true(es10_imei_to_device_info(IMEI, &device, NULL));
  cmd = es11 ? es10b_authenticate_server_encode_es11(&req, &error)
             : es10b_authenticate_server_encode(&req, &error);
  if (!cmd)
    fail_msg("%s", error->message);
  answer = es10(c, cmd);
  if (!es10b_authenticate_server_decode(g_bytes_get_data(answer, NULL), g_bytes_get_size(answer),
                                        &asr, &error))
    fail_msg("%s", error->message);
  /* The card accepted the server's signature and certificate. */
  assert_int_equal(asr->result, ES10B_AUTHENTICATE_OK);
  assert_non_null(asr->der);
  return asr;
}

/* PrepareDownload with what authenticateClient gave and maybe a code. */
static GBytes *card_prepare_download(Card *c, Es9pClientAuthentication *ca, const char *code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) tid = es10_hex_decode(ca->transaction_id, NULL);
  g_autoptr(GBytes) cmd = NULL;
  g_autoptr(GBytes) answer = NULL;
  g_autoptr(Es10bPrepareDownloadResponse) pdr = NULL;
  guint8 hash[ES10_HASH_CC_LEN];

  if (code)
    assert_true(es10_hash_confirmation_code(code, tid, hash, NULL));
  cmd = es10b_prepare_download_encode(ca->smdp_signed2, ca->smdp_signature2, code ? hash : NULL,
                                      ca->smdp_certificate, &error);
  if (!cmd)
    fail_msg("%s", error->message);
  answer = es10(c, cmd);
  if (!es10b_prepare_download_decode(g_bytes_get_data(answer, NULL), g_bytes_get_size(answer), &pdr,
                                     &error))
    fail_msg("%s", error->message);
  assert_int_equal(pdr->result, ES10B_DOWNLOAD_OK);
  return g_bytes_ref(pdr->der);
}

/* The BPP cut by es10's splitter (SGP.22 2.5.5), each segment one ES10 command. */
static Es10bProfileInstallationResult *card_load(Card *c, GBytes *bpp, guint *segments)
{
  g_autoptr(GPtrArray) parts = NULL;
  g_autoptr(GError) error = NULL;
  Es10bProfileInstallationResult *pir = NULL;

  if (!es10b_bound_profile_package_split(g_bytes_get_data(bpp, NULL), g_bytes_get_size(bpp), &parts,
                                         &error))
    fail_msg("%s", error->message);
  for (guint i = 0; i < parts->len && !pir; i++) {
    g_autoptr(GBytes) answer = es10(c, g_ptr_array_index(parts, i));

    if (!es10b_load_bound_profile_package_decode(g_bytes_get_data(answer, NULL),
                                                 g_bytes_get_size(answer), &pir, &error))
      fail_msg("segment %u: %s", i, error->message);
    *segments = i + 1;
  }
  assert_non_null(pir);
  assert_int_equal(*segments, parts->len);
  return pir;
}

/* ------------------------------------------------------------------ */
/* The client, made synchronous for the test                           */

static Es9pClient *client_new(const char *ca_file, gsize max_response)
{
  g_autofree char *override = g_strdup_printf("127.0.0.1:%u", port);
  Es9pConfig config = {
      .ca_file = ca_file,
      .host_override = override,
      .timeout_s = 20,
      .max_response = max_response,
  };
  g_autoptr(GError) error = NULL;
  Es9pClient *client = es9p_client_new(&config, &error);

  if (!client)
    fail_msg("%s", error->message);
  return client;
}

static Es9pClient *client_trusting_ci(void)
{
  const char *ci = smdp_fixture_get_ca_file(smdp);

  return client_new(ci, 0);
}

static Es9pAuthentication *initiate(Es9pClient *client, const char *address, GBytes *challenge,
                                    GBytes *info1, gboolean es11, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  if (es11)
    es11_initiate_authentication(client, address, challenge, info1, NULL, test_got_result, &res);
  else
    es9p_initiate_authentication(client, address, challenge, info1, NULL, test_got_result, &res);
  test_wait_result(&res);
  return es11 ? es11_initiate_authentication_finish(client, res, error)
              : es9p_initiate_authentication_finish(client, res, error);
}

static Es9pClientAuthentication *authenticate_client(Es9pClient *client, const char *tid,
                                                     GBytes *asr, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  es9p_authenticate_client(client, ADDRESS, tid, asr, NULL, test_got_result, &res);
  test_wait_result(&res);
  return es9p_authenticate_client_finish(client, res, error);
}

static GBytes *get_bpp(Es9pClient *client, const char *tid, GBytes *pdr, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  es9p_get_bound_profile_package(client, ADDRESS, tid, pdr, NULL, test_got_result, &res);
  test_wait_result(&res);
  return es9p_get_bound_profile_package_finish(client, res, error);
}

/* The common mutual authentication (SGP.22 3.1.3.1/3.1.3.2) up to authenticateClient. */
static Es9pClientAuthentication *authenticate(Es9pClient *client, Card *c, const char *matching_id,
                                              GError **error)
{
  g_autoptr(GBytes) challenge = NULL;
  g_autoptr(GBytes) info1 = NULL;
  g_autoptr(Es9pAuthentication) a = NULL;
  g_autoptr(Es10bAuthenticateServerResponse) asr = NULL;
  g_autoptr(GError) local = NULL;

  card_hello(c, &challenge, &info1);
  a = initiate(client, ADDRESS, challenge, info1, FALSE, &local);
  if (!a)
    fail_msg("initiateAuthentication: %s", local->message);
  /* transactionId: upper-case hex as smdp-sim makes it, 16 bytes */
  assert_int_equal(strlen(a->transaction_id), 32);
  asr = card_authenticate_server(c, a, matching_id, FALSE);
  return authenticate_client(client, a->transaction_id, asr->der, error);
}

/* One counter of smdp-sim's "stats" answer. */
static gint64 stat_of(const char *name)
{
  g_autofree gchar *line = smdp_fixture_knob(smdp, "stats");
  g_autoptr(JsonParser) p = json_parser_new();
  JsonObject *o;

  assert_true(json_parser_load_from_data(p, line + 3, -1, NULL));
  o = json_node_get_object(json_parser_get_root(p));
  return json_object_get_int_member(o, name);
}

static void assert_status(const GError *error, const char *subject, const char *reason)
{
  g_autofree gchar *s = NULL, *r = NULL;
  g_autofree gchar *form = g_strdup_printf("(subject %s, reason %s: ", subject, reason);

  assert_non_null(error);
  assert_true(es9p_error_get_status(error, &s, &r));
  assert_string_equal(s, subject);
  assert_string_equal(r, reason);
  assert_non_null(strstr(error->message, form));
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */

/* SGP.22 3.1.3 end to end: the card holds the profile, the SM-DP+ its signed result. */
static void test_download(void **state)
{
  g_autoptr(Es9pClient) client = client_trusting_ci();
  g_autoptr(Es9pClientAuthentication) ca = NULL;
  g_autoptr(GBytes) pdr = NULL, bpp = NULL;
  g_autoptr(Es10bProfileInstallationResult) pir = NULL;
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(JsonObject) record = NULL, bpp_record = NULL;
  g_autoptr(GError) error = NULL;
  const char *name = NULL, *provider = NULL;
  JsonObject *result;
  guint segments = 0;
  int klass = -1;
  Card c;
  gint64 t0 = g_get_monotonic_time();

  card_open(&c);
  ca = authenticate(client, &c, "MID-PLAIN", &error);
  if (!ca)
    fail_msg("authenticateClient: %s", error->message);
  assert_int_equal(((const guint8 *)g_bytes_get_data(ca->profile_metadata, NULL))[0], 0xBF);
  pdr = card_prepare_download(&c, ca, NULL);
  bpp = get_bpp(client, ca->transaction_id, pdr, &error);
  if (!bpp)
    fail_msg("getBoundProfilePackage: %s", error->message);
  pir = card_load(&c, bpp, &segments);
  assert_int_equal(pir->result, ES10B_INSTALL_OK);

  /* The card holds what the SM-DP+'s profile file says. */
  assert_int_equal(euicc_sim_get_profile_state(c.sim, ICCID_PLAIN), 0);
  assert_true(euicc_sim_get_profile_info(c.sim, ICCID_PLAIN, &name, &provider, &klass, NULL));
  assert_string_equal(name, "Plain test profile");
  assert_string_equal(provider, "Example Mobile");
  assert_int_equal(klass, 2);
  /* What the SM-DP+ sent is what the client handed over, byte for byte. */
  bpp_record = smdp_fixture_last_record(smdp, "es9plus/getBoundProfilePackage");
  assert_string_equal(json_object_get_string_member(bpp_record, "result"), "ok");
  {
    g_autofree gchar *sha = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, bpp);

    assert_true(g_ascii_strcasecmp(sha, json_object_get_string_member(bpp_record, "bppSha256")) ==
                0);
  }

  /* The card's signed result goes back through handleNotification. */
  es9p_handle_notification(client, ADDRESS, pir->der, NULL, test_got_result, &res);
  test_wait_result(&res);
  assert_true(es9p_handle_notification_finish(client, res, &error));
  record = smdp_fixture_last_record(smdp, "es9plus/handleNotification");
  result = json_object_get_object_member(record, "installResult");
  assert_non_null(result);
  assert_true(json_object_get_boolean_member(result, "signatureValid"));
  assert_string_equal(json_object_get_string_member(result, "finalResult"), "success");
  assert_string_equal(json_object_get_string_member(result, "transactionId"), ca->transaction_id);
  print_message("download: BPP %" G_GSIZE_FORMAT " bytes in %u segments, %" G_GINT64_FORMAT " ms\n",
                g_bytes_get_size(bpp), segments, (g_get_monotonic_time() - t0) / 1000);
  euicc_sim_free(c.sim);
}

/* SGP.22 3.1.3.3: a wrong confirmation code is CONFIRMATION_CODE (8.2.7/3.8); the right one
 * installs. */
static void test_confirmation_code(void **state)
{
  g_autoptr(Es9pClient) client = client_trusting_ci();
  g_autoptr(Es9pClientAuthentication) ca = NULL, ca2 = NULL;
  g_autoptr(GBytes) pdr = NULL, pdr2 = NULL, bpp = NULL, none = NULL;
  g_autoptr(Es10bProfileInstallationResult) pir = NULL;
  g_autoptr(GError) error = NULL;
  guint segments = 0;
  Card c;

  card_open(&c);
  ca = authenticate(client, &c, "MID-CC", &error);
  if (!ca)
    fail_msg("%s", error->message);
  pdr = card_prepare_download(&c, ca, "0000");
  none = get_bpp(client, ca->transaction_id, pdr, &error);
  assert_null(none);
  assert_true(g_error_matches(error, ES9P_ERROR, ES9P_ERROR_CONFIRMATION_CODE));
  assert_status(error, "8.2.7", "3.8");
  print_message("wrong code: %s\n", error->message);
  assert_int_equal(euicc_sim_get_profile_state(c.sim, ICCID_CC), -1);
  euicc_sim_free(c.sim);
  g_clear_error(&error);

  /* A new session with the right code. */
  card_open(&c);
  ca2 = authenticate(client, &c, "MID-CC", &error);
  if (!ca2)
    fail_msg("%s", error->message);
  pdr2 = card_prepare_download(&c, ca2, "4711");
  bpp = get_bpp(client, ca2->transaction_id, pdr2, &error);
  if (!bpp)
    fail_msg("%s", error->message);
  pir = card_load(&c, bpp, &segments);
  assert_int_equal(pir->result, ES10B_INSTALL_OK);
  assert_int_equal(euicc_sim_get_profile_state(c.sim, ICCID_CC), 0);
  euicc_sim_free(c.sim);
}

/* SGP.22 6.5.2.7: a refused matchingId is REJECTED with subject 8.2.6, reason 3.8. */
static void test_refused_matching_id(void **state)
{
  g_autoptr(Es9pClient) client = client_trusting_ci();
  g_autoptr(Es9pClientAuthentication) ca = NULL;
  g_autoptr(GError) error = NULL;
  G_GNUC_UNUSED g_autofree gchar *on = smdp_fixture_knob(smdp, "refuse-matching-id MID-PLAIN");
  g_autofree gchar *off = NULL;
  Card c;

  card_open(&c);
  ca = authenticate(client, &c, "MID-PLAIN", &error);
  off = smdp_fixture_knob(smdp, "refuse-matching-id off");
  assert_null(ca);
  assert_true(g_error_matches(error, ES9P_ERROR, ES9P_ERROR_REJECTED));
  assert_status(error, "8.2.6", "3.8");
  assert_non_null(strstr(error->message, ADDRESS));
  print_message("refused: %s\n", error->message);
  euicc_sim_free(c.sim);
}

/* SGP.22 6.5.2.10: the card's signed CancelSessionResponse reaches the SM-DP+. */
static void test_cancel_session(void **state)
{
  g_autoptr(Es9pClient) client = client_trusting_ci();
  g_autoptr(Es9pClientAuthentication) ca = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) tid = NULL, cmd = NULL, answer = NULL, csr = NULL;
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(JsonObject) record = NULL;
  Es10bCancelSessionResult result = ES10B_CANCEL_SESSION_UNDEFINED_ERROR;
  gint64 cancelled = stat_of("cancelled");
  Card c;

  card_open(&c);
  ca = authenticate(client, &c, "MID-PLAIN", &error);
  if (!ca)
    fail_msg("%s", error->message);
  tid = es10_hex_decode(ca->transaction_id, NULL);
  cmd = es10b_cancel_session_encode(tid, ES10B_CANCEL_POSTPONED, &error);
  assert_non_null(cmd);
  answer = es10(&c, cmd);
  assert_true(es10b_cancel_session_decode(g_bytes_get_data(answer, NULL), g_bytes_get_size(answer),
                                          &result, &csr, &error));
  assert_int_equal(result, ES10B_CANCEL_SESSION_OK);
  es9p_cancel_session(client, ADDRESS, ca->transaction_id, csr, NULL, test_got_result, &res);
  test_wait_result(&res);
  if (!es9p_cancel_session_finish(client, res, &error))
    fail_msg("cancelSession: %s", error->message);
  record = smdp_fixture_last_record(smdp, "es9plus/cancelSession");
  assert_string_equal(json_object_get_string_member(record, "result"), "ok");
  assert_string_equal(json_object_get_string_member(record, "reason"), "postponed");
  assert_true(json_object_get_boolean_member(record, "smdpOidMatches"));
  assert_string_equal(json_object_get_string_member(record, "transactionId"), ca->transaction_id);
  assert_int_equal(stat_of("cancelled"), cancelled + 1);
  euicc_sim_free(c.sim);
}

/* A server error (5xx) is UNREACHABLE: worth a retry, not a refusal. */
static void test_server_error_unreachable(void **state)
{
  g_autoptr(Es9pClient) client = client_trusting_ci();
  g_autoptr(Es9pAuthentication) a = NULL;
  g_autoptr(GBytes) challenge = NULL, info1 = NULL;
  g_autoptr(GError) error = NULL;
  G_GNUC_UNUSED g_autofree gchar *on = smdp_fixture_knob(smdp, "status 503");
  g_autofree gchar *off = NULL;
  Card c;

  card_open(&c);
  card_hello(&c, &challenge, &info1);
  a = initiate(client, ADDRESS, challenge, info1, FALSE, &error);
  off = smdp_fixture_knob(smdp, "status off");
  assert_null(a);
  assert_true(g_error_matches(error, ES9P_ERROR, ES9P_ERROR_UNREACHABLE));
  assert_non_null(strstr(error->message, "HTTP 503"));
  assert_false(es9p_error_get_status(error, NULL, NULL));
  euicc_sim_free(c.sim);
}

/* smdp-sim announces the whole BPP, sends half and resets: UNREACHABLE, no partial BPP. */
static void test_cut_bpp_unreachable(void **state)
{
  g_autoptr(Es9pClient) client = client_trusting_ci();
  g_autoptr(Es9pClientAuthentication) ca = NULL;
  g_autoptr(GBytes) pdr = NULL, bpp = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) record = NULL;
  g_autofree gchar *on = NULL;
  Card c;

  card_open(&c);
  ca = authenticate(client, &c, "MID-PLAIN", &error);
  if (!ca)
    fail_msg("%s", error->message);
  pdr = card_prepare_download(&c, ca, NULL);
  on = smdp_fixture_knob(smdp, "cut-bpp 1");
  bpp = get_bpp(client, ca->transaction_id, pdr, &error);
  assert_null(bpp);
  assert_true(g_error_matches(error, ES9P_ERROR, ES9P_ERROR_UNREACHABLE));
  print_message("cut: %s\n", error->message);
  record = smdp_fixture_last_record(smdp, "es9plus/getBoundProfilePackage");
  assert_string_equal(json_object_get_string_member(record, "result"), "cut");
  euicc_sim_free(c.sim);
}

/* TLS to a server whose certificate chains to no trusted CA: refused, nothing sent. */
static void test_untrusted_server(void **state)
{
  g_autoptr(Es9pClient) client = client_new(other_ca, 0);
  g_autoptr(Es9pAuthentication) a = NULL;
  g_autoptr(GBytes) challenge = NULL, info1 = NULL;
  g_autoptr(GError) error = NULL;
  gint64 failures = stat_of("handshake_failures");
  gint64 requests = stat_of("requests");
  Card c;

  card_open(&c);
  card_hello(&c, &challenge, &info1);
  a = initiate(client, ADDRESS, challenge, info1, FALSE, &error);
  assert_null(a);
  assert_true(g_error_matches(error, ES9P_ERROR, ES9P_ERROR_UNREACHABLE));
  assert_non_null(strstr(error->message, "not trusted"));
  /* smdp-sim counts the failed handshake once it sees the client go, which
   * may be a moment after the client gave up: waited for, bounded. */
  for (guint i = 0; i < 200 && stat_of("handshake_failures") <= failures; i++)
    g_usleep(50 * 1000);
  assert_true(stat_of("handshake_failures") > failures);
  assert_int_equal(stat_of("requests"), requests);
  euicc_sim_free(c.sim);
}

static gboolean cancel_later(gpointer data)
{
  g_cancellable_cancel(data);
  return G_SOURCE_REMOVE;
}

/* A slow server: the caller's GCancellable ends the call as CANCELLED, the
 * client's timeout as UNREACHABLE. */
static void test_cancel_and_timeout(void **state)
{
  g_autoptr(Es9pClient) client = client_trusting_ci();
  g_autoptr(Es9pClient) impatient = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_autoptr(GBytes) challenge = NULL, info1 = NULL;
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(Es9pAuthentication) a = NULL, b = NULL;
  g_autoptr(GError) error = NULL, error2 = NULL;
  const char *ci = smdp_fixture_get_ca_file(smdp);
  g_autofree char *override = g_strdup_printf("127.0.0.1:%u", port);
  G_GNUC_UNUSED g_autofree gchar *on = smdp_fixture_knob(smdp, "delay-ms 3000");
  g_autofree gchar *off = NULL;
  Es9pConfig config = {.ca_file = ci, .host_override = override, .timeout_s = 1};
  gint64 t0;
  Card c;

  card_open(&c);
  card_hello(&c, &challenge, &info1);
  t0 = g_get_monotonic_time();
  es9p_initiate_authentication(client, ADDRESS, challenge, info1, cancellable, test_got_result,
                               &res);
  g_timeout_add(100, cancel_later, cancellable);
  test_wait_result(&res);
  a = es9p_initiate_authentication_finish(client, res, &error);
  assert_null(a);
  assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  assert_true(g_get_monotonic_time() - t0 < 2500 * 1000);

  impatient = es9p_client_new(&config, &error2);
  assert_non_null(impatient);
  t0 = g_get_monotonic_time();
  b = initiate(impatient, ADDRESS, challenge, info1, FALSE, &error2);
  off = smdp_fixture_knob(smdp, "delay-ms 0");
  assert_null(b);
  assert_true(g_error_matches(error2, ES9P_ERROR, ES9P_ERROR_UNREACHABLE));
  assert_true(g_get_monotonic_time() - t0 < 2500 * 1000);
  print_message("timeout: %s\n", error2->message);
  euicc_sim_free(c.sim);
}

/* An answer over the client's cap is refused as PROTOCOL. */
static void test_answer_over_cap(void **state)
{
  g_autoptr(Es9pClient) client = NULL;
  g_autoptr(Es9pAuthentication) a = NULL;
  g_autoptr(GBytes) challenge = NULL, info1 = NULL;
  g_autoptr(GError) error = NULL;
  const char *ci = smdp_fixture_get_ca_file(smdp);
  Card c;

  client = client_new(ci, 256);
  card_open(&c);
  card_hello(&c, &challenge, &info1);
  a = initiate(client, ADDRESS, challenge, info1, FALSE, &error);
  assert_null(a);
  assert_true(g_error_matches(error, ES9P_ERROR, ES9P_ERROR_PROTOCOL));
  assert_non_null(strstr(error->message, "more than 256"));
  euicc_sim_free(c.sim);
}

/* ES11 (SGP.22 3.6.2): the SM-DS answers the events configured for this EID, in order. */
static void test_es11_events(void **state)
{
  g_autoptr(Es9pClient) client = client_trusting_ci();
  g_autoptr(Es9pAuthentication) a = NULL;
  g_autoptr(Es10bAuthenticateServerResponse) asr = NULL;
  g_autoptr(GBytes) challenge = NULL, info1 = NULL;
  g_autoptr(GPtrArray) events = NULL;
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  Es11Event *e;
  Card c;

  card_open(&c);
  card_hello(&c, &challenge, &info1);
  a = initiate(client, SMDS_ADDRESS, challenge, info1, TRUE, &error);
  if (!a)
    fail_msg("es11 initiateAuthentication: %s", error->message);
  asr = card_authenticate_server(&c, a, NULL, TRUE);
  es11_authenticate_client(client, SMDS_ADDRESS, a->transaction_id, asr->der, NULL, test_got_result,
                           &res);
  test_wait_result(&res);
  events = es11_authenticate_client_finish(client, res, &error);
  if (!events)
    fail_msg("es11 authenticateClient: %s", error->message);
  assert_int_equal(events->len, 2);
  e = g_ptr_array_index(events, 0);
  assert_string_equal(e->event_id, "EV-1");
  assert_string_equal(e->address, "smdp.example.net");
  e = g_ptr_array_index(events, 1);
  assert_string_equal(e->event_id, "EV-2");
  assert_string_equal(e->address, "rsp.example.net");
  euicc_sim_free(c.sim);
}

/* Arguments the SM-DP+ must never see: refused before any request. */
static void test_invalid_arguments(void **state)
{
  g_autoptr(Es9pClient) client = client_trusting_ci();
  g_autoptr(GBytes) short_challenge = g_bytes_new("0123456789", 10);
  g_autoptr(GBytes) info1 = g_bytes_new("\xBF\x20\x00", 3);
  g_autoptr(GBytes) not_bf38 = g_bytes_new("\x30\x00", 2);
  g_autoptr(GAsyncResult) res = NULL, res2 = NULL;
  g_autoptr(Es9pAuthentication) a = NULL;
  g_autoptr(Es9pClientAuthentication) ca = NULL;
  g_autoptr(GError) error = NULL, error2 = NULL;
  gint64 requests = stat_of("requests");

  es9p_initiate_authentication(client, ADDRESS, short_challenge, info1, NULL, test_got_result,
                               &res);
  test_wait_result(&res);
  a = es9p_initiate_authentication_finish(client, res, &error);
  assert_null(a);
  assert_true(g_error_matches(error, ES9P_ERROR, ES9P_ERROR_INVALID));
  es9p_authenticate_client(client, ADDRESS, "00FF", not_bf38, NULL, test_got_result, &res2);
  test_wait_result(&res2);
  ca = es9p_authenticate_client_finish(client, res2, &error2);
  assert_null(ca);
  assert_true(g_error_matches(error2, ES9P_ERROR, ES9P_ERROR_INVALID));
  assert_int_equal(stat_of("requests"), requests);
}

/* ------------------------------------------------------------------ */
/* Answers smdp-sim never gives: a canned HTTPS server in this process  */

#define OK_HEADER "\"header\": {\"functionExecutionStatus\": {\"status\": \"Executed-Success\"}}"

static GSocketService *canned;
static GTlsCertificate *canned_cert;
static guint canned_port;
static guint canned_status;
static const char *canned_body;
static gboolean canned_chunked;
static gint canned_requests;

/*
 * One connection, in a GThreadedSocketService worker (the client runs in the
 * main loop): TLS, the request read up to its Content-Length, the canned
 * answer, close. HTTP/1.1 by hand, as little as the client needs.
 */
static gboolean canned_run(GThreadedSocketService *service, GSocketConnection *conn,
                           GObject *source, gpointer user_data)
{
  g_autoptr(GIOStream) tls = NULL;
  g_autoptr(GDataInputStream) in = NULL;
  g_autoptr(GString) answer = g_string_new(NULL);
  g_autoptr(GError) error = NULL;
  GOutputStream *out;
  gsize content_length = 0;
  const char *body = canned_body;

  tls = g_tls_server_connection_new(G_IO_STREAM(conn), canned_cert, &error);
  if (!tls || !g_tls_connection_handshake(G_TLS_CONNECTION(tls), NULL, &error))
    return FALSE;
  in = g_data_input_stream_new(g_io_stream_get_input_stream(tls));
  g_filter_input_stream_set_close_base_stream(G_FILTER_INPUT_STREAM(in), FALSE);
  for (;;) {
    g_autofree gchar *line = g_data_input_stream_read_line(in, NULL, NULL, NULL);

    if (!line)
      return FALSE;
    g_strchomp(line);
    if (!*line)
      break;
    if (g_ascii_strncasecmp(line, "Content-Length:", 15) == 0)
      content_length = (gsize)g_ascii_strtoull(line + 15, NULL, 10);
  }
  {
    g_autofree guint8 *request = g_malloc(content_length + 1);

    if (!g_input_stream_read_all(G_INPUT_STREAM(in), request, content_length, NULL, NULL, NULL))
      return FALSE;
  }
  g_atomic_int_inc(&canned_requests);
  g_string_append_printf(answer, "HTTP/1.1 %u Canned\r\nConnection: close\r\n", canned_status);
  if (!body) {
    g_string_append(answer, "Content-Length: 0\r\n\r\n");
  } else if (canned_chunked) {
    /* No Content-Length: only the client's own count can stop it. */
    g_string_append(answer, "Content-Type: application/json\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n");
    for (guint i = 0; i < 20; i++)
      g_string_append_printf(answer, "%zx\r\n%s\r\n", strlen(body), body);
    g_string_append(answer, "0\r\n\r\n");
  } else {
    g_string_append_printf(answer,
                           "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                           strlen(body), body);
  }
  out = g_io_stream_get_output_stream(tls);
  /* The client may hang up early (the size cap): a failed write is its business. */
  g_output_stream_write_all(out, answer->str, answer->len, NULL, NULL, NULL);
  g_io_stream_close(tls, NULL, NULL);
  return TRUE;
}

/* A TLS server with the certificate of the second CA (mkcerts), on 127.0.0.1. */
static void canned_start(void)
{
  g_autofree char *dir = g_path_get_dirname(other_ca);
  g_autofree char *cert_file = g_build_filename(dir, "server.pem", NULL);
  g_autofree char *key_file = g_build_filename(dir, "server.key", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  canned_cert = g_tls_certificate_new_from_files(cert_file, key_file, &error);
  if (!canned_cert)
    fail_msg("%s", error->message);
  canned = g_threaded_socket_service_new(2);
  g_signal_connect(canned, "run", G_CALLBACK(canned_run), NULL);
  if (!g_socket_listener_add_address(G_SOCKET_LISTENER(canned), address, G_SOCKET_TYPE_STREAM,
                                     G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error))
    fail_msg("%s", error->message);
  canned_port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_socket_service_start(canned);
}

static void canned_stop(void)
{
  g_socket_service_stop(canned);
  g_socket_listener_close(G_SOCKET_LISTENER(canned));
  g_clear_object(&canned);
  g_clear_object(&canned_cert);
}

static Es9pClient *canned_client(void)
{
  g_autofree char *override = g_strdup_printf("127.0.0.1:%u", canned_port);
  Es9pConfig config = {.ca_file = other_ca, .host_override = override, .timeout_s = 20};
  g_autoptr(GError) error = NULL;
  Es9pClient *client = es9p_client_new(&config, &error);

  if (!client)
    fail_msg("%s", error->message);
  return client;
}

/* initiateAuthentication against the canned answer; the error, or NULL on success. */
static GError *canned_initiate(guint status, const char *body, gboolean chunked,
                               Es9pAuthentication **out)
{
  g_autoptr(Es9pClient) client = canned_client();
  g_autoptr(GBytes) challenge = g_bytes_new_static("0123456789ABCDEF", 16);
  g_autoptr(GBytes) info1 = g_bytes_new_static("\xBF\x20\x00", 3);
  GError *error = NULL;
  Es9pAuthentication *a;

  canned_status = status;
  canned_body = body;
  canned_chunked = chunked;
  a = initiate(client, ADDRESS, challenge, info1, FALSE, &error);
  if (out)
    *out = a;
  else
    es9p_authentication_free(a);
  return error;
}

static void assert_protocol(GError *error, const char *says)
{
  assert_non_null(error);
  if (!g_error_matches(error, ES9P_ERROR, ES9P_ERROR_PROTOCOL) || !strstr(error->message, says))
    fail_msg("wanted PROTOCOL saying '%s', got %d: %s", says, error->code, error->message);
  g_error_free(error);
}

/* SGP.22 6.5.1: what a server must answer, checked member by member. */
static void test_malformed_answers(void **state)
{
  Es9pAuthentication *a = NULL;
  GError *error;

  canned_start();
  /* The whole shape right, with a warning: accepted, each value as sent. */
  error = canned_initiate(200,
                          "{\"header\": {\"functionExecutionStatus\": {\"status\": "
                          "\"Executed-WithWarning\"}}, \"transactionId\": \"0A0B\","
                          " \"serverSigned1\": \"MAA=\", \"serverSignature1\": \"XzcA\","
                          " \"euiccCiPKIdToBeUsed\": \"BAA=\", \"serverCertificate\": \"MAA=\"}",
                          FALSE, &a);
  assert_null(error);
  assert_non_null(a);
  assert_string_equal(a->transaction_id, "0A0B");
  assert_int_equal(g_bytes_get_size(a->server_signature1), 3);
  assert_memory_equal(g_bytes_get_data(a->server_signature1, NULL), "\x5F\x37\x00", 3);
  es9p_authentication_free(a);

  assert_protocol(canned_initiate(200, "this is not JSON", FALSE, NULL), "no JSON object");
  /* json-glib takes an empty document as valid JSON without a root. */
  assert_protocol(canned_initiate(200, "  ", FALSE, NULL), "no JSON object");
  /* 30 01 00 00: a length that does not cover the value given. */
  assert_protocol(canned_initiate(200,
                                  "{" OK_HEADER ", \"transactionId\": \"0A0B\","
                                  " \"serverSigned1\": \"MAEAAA==\"}",
                                  FALSE, NULL),
                  "'serverSigned1' is not one DER element of tag 30");
  assert_protocol(canned_initiate(200, "{\"transactionId\": \"0A0B\"}", FALSE, NULL),
                  "without header.functionExecutionStatus");
  assert_protocol(canned_initiate(200, "{" OK_HEADER ", \"transactionId\": \"0A0B\"}", FALSE, NULL),
                  "no string member 'serverSigned1'");
  assert_protocol(canned_initiate(200, "{" OK_HEADER ", \"transactionId\": \"XYZ\"}", FALSE, NULL),
                  "transactionId 'XYZ'");
  assert_protocol(canned_initiate(200,
                                  "{" OK_HEADER ", \"transactionId\": \"0A0B\","
                                  " \"serverSigned1\": \"MAA=\", \"serverSignature1\": \"MAA=\"}",
                                  FALSE, NULL),
                  "'serverSignature1' is not one DER element of tag 5F37");
  assert_protocol(canned_initiate(200,
                                  "{" OK_HEADER ", \"transactionId\": \"0A0B\","
                                  " \"serverSigned1\": \"M*A=\"}",
                                  FALSE, NULL),
                  "'serverSigned1' is not base64");
  assert_protocol(canned_initiate(204, NULL, FALSE, NULL), "no content");
  /* 20 x 4 KiB with no Content-Length: stopped by the client's count at 64 KiB. */
  {
    g_autofree gchar *big = g_strnfill(4096, ' ');

    assert_protocol(canned_initiate(200, big, TRUE, NULL), "more than 65536 bytes");
  }

  /* A refusal without statusCodeData: REJECTED, no codes to give. */
  error = canned_initiate(
      200, "{\"header\": {\"functionExecutionStatus\": {\"status\": \"Failed\"}}}", FALSE, NULL);
  assert_true(g_error_matches(error, ES9P_ERROR, ES9P_ERROR_REJECTED));
  assert_false(es9p_error_get_status(error, NULL, NULL));
  assert_non_null(strstr(error->message, "(status Failed)"));
  g_error_free(error);
  /* Codes of the wrong JSON type: still a refusal, never a crash. */
  error = canned_initiate(200,
                          "{\"header\": {\"functionExecutionStatus\": {\"status\": \"Failed\","
                          " \"statusCodeData\": {\"subjectCode\": 8, \"reasonCode\": [],"
                          " \"message\": {}}}}}",
                          FALSE, NULL);
  assert_true(g_error_matches(error, ES9P_ERROR, ES9P_ERROR_REJECTED));
  assert_non_null(strstr(error->message, "(subject ?, reason ?: Failed)"));
  g_error_free(error);
  error = canned_initiate(200, "{\"header\": {\"functionExecutionStatus\": {\"status\": 1}}}",
                          FALSE, NULL);
  assert_true(g_error_matches(error, ES9P_ERROR, ES9P_ERROR_REJECTED));
  g_error_free(error);
  /* An HTTP-level refusal. */
  error = canned_initiate(404, NULL, FALSE, NULL);
  assert_true(g_error_matches(error, ES9P_ERROR, ES9P_ERROR_REJECTED));
  assert_non_null(strstr(error->message, "HTTP 404"));
  g_error_free(error);
  assert_int_equal(g_atomic_int_get(&canned_requests), 15);
  canned_stop();
}

/* The answer names another transaction: not ours, refused. */
static void test_answer_for_another_transaction(void **state)
{
  g_autoptr(Es9pClient) client = NULL;
  g_autoptr(GBytes) asr = g_bytes_new_static("\xBF\x38\x00", 3);
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GPtrArray) events = NULL;
  GError *error = NULL;

  canned_start();
  client = canned_client();
  canned_status = 200;
  canned_chunked = FALSE;
  canned_body = "{" OK_HEADER ", \"transactionId\": \"0A0C\", \"eventEntries\": []}";
  es11_authenticate_client(client, ADDRESS, "0a0b", asr, NULL, test_got_result, &res);
  test_wait_result(&res);
  events = es11_authenticate_client_finish(client, res, &error);
  assert_null(events);
  assert_protocol(error, "transactionId 0A0C is not the request's 0a0b");
  g_clear_object(&res);

  /* The same transaction in the other case, no events: an empty list. */
  canned_body = "{" OK_HEADER ", \"transactionId\": \"0A0B\", \"eventEntries\": []}";
  es11_authenticate_client(client, ADDRESS, "0a0b", asr, NULL, test_got_result, &res);
  test_wait_result(&res);
  events = es11_authenticate_client_finish(client, res, &error);
  assert_non_null(events);
  assert_int_equal(events->len, 0);
  canned_stop();
}

/* ------------------------------------------------------------------ */

static int start_world(void **state)
{
  smdp = smdp_fixture_start(profiles_json, NULL);
  port = smdp_fixture_get_port(smdp);
  other_ca = smdp_fixture_make_other_ca(smdp);
  return 0;
}

static int stop_world(void **state)
{
  smdp_fixture_stop(smdp);
  g_free(other_ca);
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_download),
      cmocka_unit_test(test_confirmation_code),
      cmocka_unit_test(test_refused_matching_id),
      cmocka_unit_test(test_cancel_session),
      cmocka_unit_test(test_server_error_unreachable),
      cmocka_unit_test(test_cut_bpp_unreachable),
      cmocka_unit_test(test_untrusted_server),
      cmocka_unit_test(test_cancel_and_timeout),
      cmocka_unit_test(test_answer_over_cap),
      cmocka_unit_test(test_es11_events),
      cmocka_unit_test(test_invalid_arguments),
      cmocka_unit_test(test_malformed_answers),
      cmocka_unit_test(test_answer_for_another_transaction),
  };

  return cmocka_run_group_tests(tests, start_world, stop_world);
}
