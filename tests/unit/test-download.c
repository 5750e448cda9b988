/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * service/download.c: a whole profile download (SGP.22 3.1.3) through the
 * Manager, against modem-sim carrying an euicc-sim card with keys from
 * mkpki, and smdp-sim --pki over HTTPS checked against the test CI. Each
 * test asserts what a user sees (the Download's state, metadata, error,
 * the cached profile), what the card holds afterwards and what the SM-DP+
 * recorded in its log.
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
#include "download-fixture.h"
#include "euicc-sim.h"
#include "modem-sim.h"
#include "service/download-private.h"
#include "service/service.h"
#include "test-util.h"

/* smdp-sim's log and knobs */
static GPtrArray *records(const char *prefix)
{
  return smdp_fixture_records(download_fixture_smdp(), prefix);
}

static JsonObject *last_record(const char *function)
{
  return smdp_fixture_last_record(download_fixture_smdp(), function);
}

static gchar *knob(const char *command)
{
  return smdp_fixture_knob(download_fixture_smdp(), command);
}

/* ---- the Download, waited for ---- */

static gboolean is_confirming(gpointer data)
{
  return download_fixture_is_final(data) || download_get_state(data) == DOWNLOAD_STATE_CONFIRMING;
}

static gboolean saw(DownloadFixture *f, const char *state)
{
  for (guint i = 0; i < f->states->len; i++)
    if (g_str_equal(g_ptr_array_index(f->states, i), state))
      return TRUE;
  return FALSE;
}

/* The install result the SM-DP+ accepted for iccid, and the card holds no notification. */
static gboolean install_delivered(gpointer data)
{
  DownloadFixture *f = data;
  g_autoptr(GPtrArray) all = records("es9plus/handleNotification");

  for (guint i = 0; i < all->len; i++) {
    JsonObject *o = g_ptr_array_index(all, i);
    JsonObject *r = json_object_get_object_member(o, "installResult");

    if (r &&
        g_strcmp0(json_object_get_string_member_with_default(o, "iccid", ""), ICCID_PLAIN) == 0 &&
        g_strcmp0(json_object_get_string_member_with_default(r, "finalResult", ""), "success") ==
            0 &&
        json_object_get_boolean_member_with_default(r, "signatureValid", FALSE))
      return euicc_sim_get_notification_count(download_fixture_card(f)) == 0 &&
             euicc_get_pending_notifications(f->euicc) == 0;
  }
  return FALSE;
}

/* ---- tests ---- */

/* SGP.22 3.1.3 with consent given up front: installed, cached, result delivered. */
static void test_install_with_accept(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE};
  guint apdus0 = euicc_sim_get_apdu_count(download_fixture_card(f)), apdus = apdus0;
  guint calls;
  g_autoptr(GPtrArray) before = records("es9plus/");
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(Download) d = NULL;
  const DownloadMetadata *m;
  const Profile *p;
  const char *name = NULL, *provider = NULL;
  int klass = -1;
  gint64 t0 = g_get_monotonic_time();

  d = download_fixture_start(f, AC_PLAIN, &options);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_AUTHENTICATING);
  assert_string_equal(download_get_smdp_address(d), ADDRESS);
  download_fixture_wait_final(d);
  if (download_get_error(d))
    fail_msg("%s", download_get_error(d)->message);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_DONE);
  assert_true(download_get_progress(d) == 1.0);
  /* One step per BPP segment the card took (SGP.22 2.5.5). */
  assert_true(f->progress_steps >= 5);
  assert_false(f->progress_went_back);
  assert_true(saw(f, "downloading") && saw(f, "installing") && saw(f, "done"));
  assert_false(saw(f, "confirming"));
  assert_false(download_get_cc_required(d));

  /* What the SM-DP+ said the profile is. */
  m = download_get_metadata(d);
  assert_non_null(m);
  assert_string_equal(m->iccid, ICCID_PLAIN);
  assert_string_equal(m->name, "Plain test profile");
  assert_string_equal(m->service_provider, "Example Mobile");
  assert_int_equal(m->profile_class, PROFILE_CLASS_OPERATIONAL);
  assert_string_equal(m->owner_mccmnc, "26201");
  assert_int_equal(m->icon_type, PROFILE_ICON_NONE);

  /* In the cache and on the card. */
  p = download_get_profile(d);
  assert_non_null(p);
  assert_string_equal(p->iccid, ICCID_PLAIN);
  assert_string_equal(p->name, "Plain test profile");
  assert_int_equal(p->state, PROFILE_STATE_DISABLED);
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PLAIN), 0);
  assert_true(euicc_sim_get_profile_info(download_fixture_card(f), ICCID_PLAIN, &name, &provider,
                                         &klass, NULL));
  assert_string_equal(name, "Plain test profile");
  assert_int_equal(klass, 2);

  apdus = euicc_sim_get_apdu_count(download_fixture_card(f)) - apdus;
  after = records("es9plus/");
  calls = after->len - before->len;
  /* initiateAuthentication, authenticateClient, getBoundProfilePackage */
  assert_int_equal(calls, 3);
  {
    g_autoptr(JsonObject) auth = last_record("es9plus/authenticateClient");

    assert_string_equal(json_object_get_string_member(auth, "matchingId"), "MID-PLAIN");
    assert_string_equal(json_object_get_string_member(auth, "eid"), EID);
  }
  print_message("install: %u APDUs, %u ES9+ calls, %" G_GINT64_FORMAT " ms\n", apdus, calls,
                (g_get_monotonic_time() - t0) / 1000);

  /* The install result reaches the SM-DP+ by the notification path and
   * leaves the card once it was accepted. */
  assert_true(test_wait_until(install_delivered, f));
  print_message("install + delivery of its result: %u APDUs\n",
                euicc_sim_get_apdu_count(download_fixture_card(f)) - apdus0);
}

/* Without accept it pauses at CONFIRMING with the metadata shown; Accept goes on. */
static void test_pause_then_accept(void **state)
{
  DownloadFixture *f = *state;
  g_autoptr(Download) d = download_fixture_start(f, AC_PLAIN, NULL);
  g_autoptr(GError) error = NULL;
  guint apdus;

  assert_true(test_wait_until(is_confirming, d));
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_CONFIRMING);
  assert_non_null(download_get_metadata(d));
  assert_string_equal(download_get_metadata(d)->iccid, ICCID_PLAIN);
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PLAIN), -1);
  /* Paused: nothing more reaches the card meanwhile. */
  apdus = euicc_sim_get_apdu_count(download_fixture_card(f));
  test_run_for(300);
  assert_int_equal(euicc_sim_get_apdu_count(download_fixture_card(f)), apdus);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_CONFIRMING);

  assert_true(download_accept(d, NULL, &error));
  download_fixture_wait_final(d);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_DONE);
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PLAIN), 0);
  assert_non_null(download_get_profile(d));
  /* Only once: accepting again is refused. */
  assert_false(download_accept(d, NULL, &error));
}

/* Reject at CONFIRMING: CancelSession(endUserRejection) on the card, its signed
 * answer to the SM-DP+, nothing installed. */
static void test_reject(void **state)
{
  DownloadFixture *f = *state;
  g_autoptr(Download) d = download_fixture_start(f, AC_PLAIN, NULL);
  g_autoptr(JsonObject) record = NULL;

  assert_true(test_wait_until(is_confirming, d));
  download_reject(d, FALSE);
  download_fixture_wait_final(d);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_CANCELLED);
  assert_true(g_error_matches(download_get_error(d), ESIMD_ERROR, ESIMD_ERROR_CANCELLED));
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PLAIN), -1);
  assert_null(download_get_profile(d));
  record = last_record("es9plus/cancelSession");
  assert_string_equal(json_object_get_string_member(record, "result"), "ok");
  /* The reason is in the card's signed answer: the card cancelled with it. */
  assert_string_equal(json_object_get_string_member(record, "reason"), "endUserRejection");
  assert_true(json_object_get_boolean_member(record, "smdpOidMatches"));
}

/* Cancel while paused: postponed on both sides. */
static void test_cancel_postponed(void **state)
{
  DownloadFixture *f = *state;
  g_autoptr(Download) d = download_fixture_start(f, AC_PLAIN, NULL);
  g_autoptr(JsonObject) record = NULL;

  assert_true(test_wait_until(is_confirming, d));
  download_cancel(d);
  download_fixture_wait_final(d);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_CANCELLED);
  record = last_record("es9plus/cancelSession");
  assert_string_equal(json_object_get_string_member(record, "result"), "ok");
  assert_string_equal(json_object_get_string_member(record, "reason"), "postponed");
}

static guint n_records(const char *prefix);
static gchar *es10_commands_seen(const char *apdu_log);

/* How often word stands in the space-separated list seen. */
static guint count_words(const char *seen, const char *word)
{
  g_auto(GStrv) words = g_strsplit(seen, " ", -1);
  guint n = 0;

  for (guint i = 0; words[i]; i++)
    n += g_str_equal(words[i], word);
  return n;
}

/*
 * SGP.22 3.1.3.1, 5.6.3: the code goes as hashCc; a wrong one is refused by
 * the SM-DP+ (8.2.7 / 3.8), which keeps the transaction open. The download
 * goes back to CONFIRMING with the refusal shown, even though the code and
 * accept were given up front; Accept with the right code prepares the
 * download again on the card (a second PrepareDownload in the same session,
 * no CancelSession) and installs.
 */
static void test_confirmation_code(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions wrong = {.accept = TRUE, .confirmation_code = "0000"};
  g_autofree gchar *apdu_log =
      g_build_filename(smdp_fixture_get_dir(download_fixture_smdp()), "apdu-cc-again.log", NULL);
  g_autofree gchar *seen = NULL;
  guint cancels = n_records("es9plus/cancelSession");
  guint bpps = n_records("es9plus/getBoundProfilePackage");
  g_autoptr(Download) d = NULL;
  g_autoptr(JsonObject) record = NULL;
  g_autoptr(GError) error = NULL;
  gdouble progress;
  JsonObject *status;

  assert_true(euicc_sim_set_apdu_log(download_fixture_card(f), apdu_log, NULL));
  d = download_fixture_start(f, AC_CC, &wrong);
  assert_true(test_wait_until(is_confirming, d));
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_CONFIRMING);
  assert_true(saw(f, "downloading"));
  assert_true(download_get_cc_required(d));
  assert_true(
      g_error_matches(download_get_error(d), ESIMD_ERROR, ESIMD_ERROR_CONFIRMATION_CODE_WRONG));
  assert_non_null(strstr(download_get_error(d)->message, "reason 3.8"));
  print_message("wrong code: %s\n", download_get_error(d)->message);
  record = last_record("es9plus/getBoundProfilePackage");
  assert_string_equal(json_object_get_string_member(record, "result"), "failed");
  status = json_object_get_object_member(record, "statusCodeData");
  assert_string_equal(json_object_get_string_member(status, "subjectCode"), "8.2.7");
  assert_string_equal(json_object_get_string_member(status, "reasonCode"), "3.8");
  /* The session stays: nothing cancelled on either side. */
  assert_int_equal(n_records("es9plus/cancelSession"), cancels);
  progress = download_get_progress(d);
  assert_true(progress > 0);

  /* The refused code is not kept: Accept wants a new one. */
  assert_false(download_accept(d, NULL, &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_CONFIRMATION_CODE_WRONG));
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_CONFIRMING);
  assert_true(download_accept(d, "4711", NULL));
  assert_null(download_get_error(d));
  download_fixture_wait_final(d);
  assert_true(euicc_sim_set_apdu_log(download_fixture_card(f), NULL, NULL));
  if (download_get_error(d))
    fail_msg("%s", download_get_error(d)->message);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_DONE);
  assert_false(f->progress_went_back);
  assert_true(download_get_progress(d) == 1.0);
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_CC), 0);
  assert_int_equal(n_records("es9plus/getBoundProfilePackage"), bpps + 2);
  assert_int_equal(n_records("es9plus/cancelSession"), cancels);
  /* One AuthenticateServer, two PrepareDownloads (the second with the new
   * hashCc), no CancelSession. */
  seen = es10_commands_seen(apdu_log);
  print_message("card: %s\n", seen);
  assert_int_equal(count_words(seen, "BF38"), 1);
  assert_int_equal(count_words(seen, "BF21"), 2);
  assert_int_equal(count_words(seen, "BF41"), 0);
}

/*
 * Wrong codes up to the SM-DP+'s maximum (here 2 tries): the last refusal
 * is 8.2.7 / 6.4, which ends the transaction. The download fails with
 * ConfirmationCodeWrong and the session is cancelled on both sides. A new
 * download of the same profile, paused for consent, installs.
 */
static void test_confirmation_code_retries_exceeded(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions wrong = {.accept = TRUE, .confirmation_code = "0000"};
  g_autofree gchar *apdu_log =
      g_build_filename(smdp_fixture_get_dir(download_fixture_smdp()), "apdu-cc-exceeded.log", NULL);
  G_GNUC_UNUSED g_autofree gchar *on = knob("cc-attempts 2");
  g_autofree gchar *off = NULL;
  g_autofree gchar *seen = NULL;
  g_autoptr(Download) d = NULL;
  g_autoptr(JsonObject) record = NULL;
  g_autoptr(JsonObject) cancel = NULL;
  g_autoptr(Download) d2 = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *status;

  assert_true(euicc_sim_set_apdu_log(download_fixture_card(f), apdu_log, NULL));
  d = download_fixture_start(f, AC_CC, &wrong);
  assert_true(test_wait_until(is_confirming, d));
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_CONFIRMING);
  assert_true(download_accept(d, "1111", NULL));
  download_fixture_wait_final(d);
  assert_true(euicc_sim_set_apdu_log(download_fixture_card(f), NULL, NULL));
  off = knob("cc-attempts 3");
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_FAILED);
  assert_true(
      g_error_matches(download_get_error(d), ESIMD_ERROR, ESIMD_ERROR_CONFIRMATION_CODE_WRONG));
  assert_non_null(strstr(download_get_error(d)->message, "reason 6.4"));
  print_message("retries exceeded: %s\n", download_get_error(d)->message);
  record = last_record("es9plus/getBoundProfilePackage");
  status = json_object_get_object_member(record, "statusCodeData");
  assert_string_equal(json_object_get_string_member(status, "reasonCode"), "6.4");
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_CC), -1);
  seen = es10_commands_seen(apdu_log);
  assert_int_equal(count_words(seen, "BF21"), 2);
  assert_int_equal(count_words(seen, "BF41"), 1);
  cancel = last_record("es9plus/cancelSession");
  assert_non_null(cancel);

  /* Paused, then accepted without a code: refused, still waiting; with the
   * code: installed at the first try. */
  d2 = download_fixture_start(f, AC_CC, NULL);
  assert_true(test_wait_until(is_confirming, d2));
  assert_true(download_get_cc_required(d2));
  assert_null(download_get_error(d2));
  assert_false(download_accept(d2, NULL, &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_CONFIRMATION_CODE_WRONG));
  assert_int_equal(download_get_state(d2), DOWNLOAD_STATE_CONFIRMING);
  assert_true(download_accept(d2, "4711", NULL));
  download_fixture_wait_final(d2);
  if (download_get_error(d2))
    fail_msg("%s", download_get_error(d2)->message);
  assert_int_equal(download_get_state(d2), DOWNLOAD_STATE_DONE);
}

/* A refused matching id: DownloadRejected with SGP.22's codes; the card's session is cancelled. */
static void test_refused_matching_id(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE};
  G_GNUC_UNUSED g_autofree gchar *on = knob("refuse-matching-id MID-PLAIN");
  g_autofree gchar *off = NULL;
  g_autoptr(Download) d = download_fixture_start(f, AC_PLAIN, &options);
  g_autoptr(JsonObject) record = NULL;

  download_fixture_wait_final(d);
  off = knob("refuse-matching-id off");
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_FAILED);
  assert_true(g_error_matches(download_get_error(d), ESIMD_ERROR, ESIMD_ERROR_DOWNLOAD_REJECTED));
  assert_non_null(strstr(download_get_error(d)->message, "subject 8.2.6, reason 3.8"));
  print_message("refused: %s\n", download_get_error(d)->message);
  assert_null(download_get_metadata(d));
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PLAIN), -1);
  /* The card's signed cancel was offered to the SM-DP+ (which had ended the transaction). */
  record = last_record("es9plus/cancelSession");
  assert_non_null(record);
}

/* The SM-DP+ cannot be reached (HTTP 503): SmdpUnreachable, the card unchanged. */
static void test_unreachable(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE};
  guint profiles = euicc_sim_get_profile_count(download_fixture_card(f));
  guint notifications = euicc_sim_get_notification_count(download_fixture_card(f));
  G_GNUC_UNUSED g_autofree gchar *on = knob("status 503");
  g_autofree gchar *off = NULL;
  g_autoptr(Download) d = download_fixture_start(f, AC_PLAIN, &options);

  download_fixture_wait_final(d);
  off = knob("status off");
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_FAILED);
  assert_true(g_error_matches(download_get_error(d), ESIMD_ERROR, ESIMD_ERROR_SMDP_UNREACHABLE));
  assert_int_equal(euicc_sim_get_profile_count(download_fixture_card(f)), profiles);
  assert_int_equal(euicc_sim_get_notification_count(download_fixture_card(f)), notifications);
  assert_int_equal(euicc_get_profiles(f->euicc)->len, profiles);
}

/* The BPP cut mid-answer: the session is cancelled on the card and the SM-DP+. */
static void test_cut_bpp(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE};
  G_GNUC_UNUSED g_autofree gchar *on = knob("cut-bpp 1");
  g_autoptr(Download) d = download_fixture_start(f, AC_PLAIN, &options);
  g_autoptr(JsonObject) bpp = NULL, record = NULL;

  download_fixture_wait_final(d);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_FAILED);
  assert_true(g_error_matches(download_get_error(d), ESIMD_ERROR, ESIMD_ERROR_SMDP_UNREACHABLE));
  bpp = last_record("es9plus/getBoundProfilePackage");
  assert_string_equal(json_object_get_string_member(bpp, "result"), "cut");
  record = last_record("es9plus/cancelSession");
  assert_string_equal(json_object_get_string_member(record, "result"), "ok");
  assert_string_equal(json_object_get_string_member(record, "transactionId"),
                      json_object_get_string_member(bpp, "transactionId"));
  /* Not the user's doing: undefinedReason (SGP.22 5.7.14). */
  assert_string_equal(json_object_get_string_member(record, "reason"), "undefinedReason");
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PLAIN), -1);
}

/* The enable option: the installed profile is enabled afterwards, then DONE. */
static void test_install_and_enable(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE, .enable = TRUE};
  g_autoptr(Download) d = download_fixture_start(f, AC_PLAIN, &options);
  const Profile *p;

  download_fixture_wait_final(d);
  if (download_get_error(d))
    fail_msg("%s", download_get_error(d)->message);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_DONE);
  p = download_get_profile(d);
  assert_non_null(p);
  assert_int_equal(p->state, PROFILE_STATE_ENABLED);
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PLAIN), 1);
  assert_true(euicc_get_enabled_profile(f->euicc) == p);
}

/* The card's own refusal (SGP.22 5.7.6 errorReason): installing a profile it
 * already holds is DownloadRejected naming the reason; the card's failed
 * install result still goes to the SM-DP+. */
static void test_card_refuses_install(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE};
  g_autoptr(Download) d = download_fixture_start(f, AC_PLAIN, &options);
  g_autoptr(Download) d2 = NULL;
  g_autoptr(GPtrArray) before = NULL, after = NULL;

  download_fixture_wait_final(d);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_DONE);
  assert_true(test_wait_until(install_delivered, f));
  before = records("es9plus/handleNotification");
  d2 = download_fixture_start(f, AC_PLAIN, &options);
  download_fixture_wait_final(d2);
  assert_int_equal(download_get_state(d2), DOWNLOAD_STATE_FAILED);
  assert_true(g_error_matches(download_get_error(d2), ESIMD_ERROR, ESIMD_ERROR_DOWNLOAD_REJECTED));
  print_message("card refused: %s\n", download_get_error(d2)->message);
  assert_non_null(strstr(download_get_error(d2)->message, "already installed) at storeMetadata"));
  assert_int_equal(euicc_sim_get_profile_count(download_fixture_card(f)), 1);
  /* The failed result was delivered like any notification, and removed. */
  do {
    g_clear_pointer(&after, g_ptr_array_unref);
    test_run_for(50);
    after = records("es9plus/handleNotification");
  } while (after->len == before->len ||
           euicc_sim_get_notification_count(download_fixture_card(f)) != 0);
  {
    JsonObject *o = g_ptr_array_index(after, after->len - 1);
    JsonObject *r = json_object_get_object_member(o, "installResult");

    assert_non_null(r);
    assert_string_not_equal(json_object_get_string_member(r, "finalResult"), "success");
  }
}

static gboolean is_downloading(gpointer data)
{
  return download_fixture_is_final(data) || download_get_state(data) == DOWNLOAD_STATE_DOWNLOADING;
}

/* Cancel while getBoundProfilePackage is under way: the request is
 * abandoned and the session cancelled (postponed) on both sides. */
static void test_cancel_during_network_wait(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE};
  g_autoptr(Download) d = download_fixture_start(f, AC_PLAIN, &options);
  g_autoptr(JsonObject) record = NULL;
  g_autofree gchar *on = NULL, *off = NULL;

  assert_true(test_wait_until(is_downloading, d));
  on = knob("delay-ms 2000");
  /* PrepareDownload, then the request goes out and waits on the server. */
  test_run_for(300);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_DOWNLOADING);
  download_cancel(d);
  download_fixture_wait_final(d);
  off = knob("delay-ms 0");
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_CANCELLED);
  assert_true(g_error_matches(download_get_error(d), ESIMD_ERROR, ESIMD_ERROR_CANCELLED));
  record = last_record("es9plus/cancelSession");
  assert_string_equal(json_object_get_string_member(record, "result"), "ok");
  assert_string_equal(json_object_get_string_member(record, "reason"), "postponed");
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PLAIN), -1);
}

/* The modem goes away while the download waits for consent: it fails
 * Removed at once, and the paused operation lets go of everything. */
static void test_modem_removed_while_paused(void **state)
{
  DownloadFixture *f = *state;
  g_autoptr(Download) d = download_fixture_start(f, AC_PLAIN, NULL);
  g_autoptr(GError) error = NULL;

  assert_true(test_wait_until(is_confirming, d));
  manager_remove_modem(f->manager, modem_sim_get_port(f->ms));
  download_fixture_wait_final(d);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_FAILED);
  assert_true(g_error_matches(download_get_error(d), ESIMD_ERROR, ESIMD_ERROR_REMOVED));
  assert_false(download_accept(d, NULL, &error));
  test_run_for(100);
}

/* Nobody answers at CONFIRMING: the card's queue is not held for good; the
 * session is cancelled with reason timeout on both sides. */
static void test_consent_timeout(void **state)
{
  DownloadFixture *f = *state;
  g_autoptr(Download) d = download_fixture_start(f, AC_PLAIN, NULL);
  g_autoptr(JsonObject) record = NULL;
  g_autoptr(GAsyncResult) res = NULL;

  download_set_consent_timeout_ms(d, 300);
  assert_true(test_wait_until(is_confirming, d));
  /* Queued behind it, another operation gets the card once it gave up. */
  euicc_refresh(f->euicc, SERVICE_READ_MAY_DISTURB, NULL, test_got_result, &res);
  download_fixture_wait_final(d);
  /* It held the card until then. */
  assert_null(res);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_FAILED);
  assert_true(g_error_matches(download_get_error(d), ESIMD_ERROR, ESIMD_ERROR_TIMEOUT));
  record = last_record("es9plus/cancelSession");
  assert_string_equal(json_object_get_string_member(record, "result"), "ok");
  assert_string_equal(json_object_get_string_member(record, "reason"), "timeout");
  test_wait_result(&res);
  assert_true(euicc_operation_finish(f->euicc, res, NULL));
}

/* One operation at a time on the card (the FIFO): a second download waits
 * behind one paused for consent and runs after it; one cancelled while
 * still queued never reaches the card. */
static void test_downloads_queue_behind_each_other(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions accept = {.accept = TRUE};
  g_autoptr(Download) first = download_fixture_start(f, AC_CC, NULL);
  g_autoptr(Download) second = NULL, third = NULL;
  g_autoptr(GPtrArray) before = NULL, after = NULL;
  guint apdus;

  assert_true(test_wait_until(is_confirming, first));
  second = download_fixture_start(f, AC_PLAIN, &accept);
  third = download_fixture_start(f, AC_PLAIN, &accept);
  apdus = euicc_sim_get_apdu_count(download_fixture_card(f));
  before = records("es9plus/initiateAuthentication");
  test_run_for(300);
  /* Nothing of the others reached the card or the SM-DP+ meanwhile. */
  assert_int_equal(euicc_sim_get_apdu_count(download_fixture_card(f)), apdus);
  assert_int_equal(download_get_state(second), DOWNLOAD_STATE_AUTHENTICATING);
  download_cancel(third);
  assert_true(download_accept(first, "4711", NULL));
  download_fixture_wait_final(first);
  download_fixture_wait_final(second);
  download_fixture_wait_final(third);
  assert_int_equal(download_get_state(first), DOWNLOAD_STATE_DONE);
  assert_int_equal(download_get_state(second), DOWNLOAD_STATE_DONE);
  assert_int_equal(download_get_state(third), DOWNLOAD_STATE_CANCELLED);
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_CC), 0);
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PLAIN), 0);
  /* The cancelled one never began a session. */
  after = records("es9plus/initiateAuthentication");
  assert_int_equal(after->len, before->len + 1);
}

/* A bad activation code is refused at once: nothing queued, nothing sent. */
static void test_bad_activation_code(void **state)
{
  DownloadFixture *f = *state;
  guint apdus = euicc_sim_get_apdu_count(download_fixture_card(f));
  g_autoptr(GPtrArray) before = records("");
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GError) error = NULL;
  Download *d =
      euicc_download(f->euicc, "2$" ADDRESS "$X", NULL, download_fixture_changed, f, &error);

  assert_null(d);
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_INVALID_ACTIVATION_CODE));
  g_clear_error(&error);
  assert_null(euicc_download(f->euicc, "1$$MID", NULL, download_fixture_changed, f, &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_INVALID_ACTIVATION_CODE));
  test_run_for(100);
  assert_int_equal(euicc_sim_get_apdu_count(download_fixture_card(f)), apdus);
  after = records("");
  assert_int_equal(after->len, before->len);
  assert_int_equal(f->states->len, 0);
}

static guint n_records(const char *prefix)
{
  g_autoptr(GPtrArray) all = records(prefix);

  return all->len;
}

/* The ES10 commands the card was sent while the APDU log was on, e.g. "BF20 BF2E":
 * the tag at the start of each first STORE DATA block (P2 0, SGP.22 2.5.5). */
static gchar *es10_commands_seen(const char *apdu_log)
{
  g_autofree gchar *text = NULL;
  g_auto(GStrv) lines = NULL;
  GString *seen = g_string_new(NULL);

  assert_true(g_file_get_contents(apdu_log, &text, NULL, NULL));
  lines = g_strsplit(text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    const char *l = lines[i];

    /* "> " CLA E2 P1 00 Lc, then the data */
    if (strlen(l) >= 16 && g_str_has_prefix(l, "> ") && g_ascii_strncasecmp(l + 4, "E2", 2) == 0 &&
        g_ascii_strncasecmp(l + 8, "00", 2) == 0)
      g_string_append_printf(seen, "%s%.*s", seen->len ? " " : "",
                             g_ascii_strncasecmp(l + 12, "BF", 2) == 0 ? 4 : 2, l + 12);
  }
  return g_string_free(seen, FALSE);
}

/* SGP.22 4.1: an activation code naming the SM-DP+ OID of the server's
 * CERT.DPauth (mkpki's 2.999.10) installs like one without it. */
static void test_smdp_oid_matches(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE};
  g_autofree gchar *apdu_log =
      g_build_filename(smdp_fixture_get_dir(download_fixture_smdp()), "apdu-oid-ok.log", NULL);
  g_autofree gchar *seen = NULL;
  g_autoptr(Download) d = NULL;

  assert_true(euicc_sim_set_apdu_log(download_fixture_card(f), apdu_log, NULL));
  d = download_fixture_start(f, AC_PLAIN "$2.999.10", &options);
  download_fixture_wait_final(d);
  assert_true(euicc_sim_set_apdu_log(download_fixture_card(f), NULL, NULL));
  if (download_get_error(d))
    fail_msg("%s", download_get_error(d)->message);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_DONE);
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PLAIN), 0);
  /* What the mismatch case must not see, seen here. */
  seen = es10_commands_seen(apdu_log);
  assert_non_null(strstr(seen, "BF20 BF2E BF38 BF21"));
}

/* An activation code naming another SM-DP+ OID ends the download before the
 * card authenticates the server: InvalidActivationCode naming both OIDs, the
 * card sent only what initiateAuthentication needed, nothing to cancel on
 * either side (ES9+ cancelSession would need the card's signed answer). */
static void test_smdp_oid_mismatch(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE};
  g_autofree gchar *apdu_log =
      g_build_filename(smdp_fixture_get_dir(download_fixture_smdp()), "apdu-oid-bad.log", NULL);
  g_autofree gchar *seen = NULL;
  guint cancels = n_records("es9plus/cancelSession");
  guint clients = n_records("es9plus/authenticateClient");
  guint inits = n_records("es9plus/initiateAuthentication");
  guint notifications = euicc_sim_get_notification_count(download_fixture_card(f));
  g_autoptr(Download) d = NULL;
  const GError *e;

  assert_true(euicc_sim_set_apdu_log(download_fixture_card(f), apdu_log, NULL));
  d = download_fixture_start(f, AC_PLAIN "$1.3.6.1.4.1.31746.1.1", &options);
  download_fixture_wait_final(d);
  assert_true(euicc_sim_set_apdu_log(download_fixture_card(f), NULL, NULL));
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_FAILED);
  e = download_get_error(d);
  assert_true(g_error_matches(e, ESIMD_ERROR, ESIMD_ERROR_INVALID_ACTIVATION_CODE));
  print_message("OID mismatch: %s\n", e->message);
  assert_non_null(strstr(e->message, "1.3.6.1.4.1.31746.1.1"));
  assert_non_null(strstr(e->message, "2.999.10"));
  assert_null(download_get_metadata(d));
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PLAIN), -1);
  assert_int_equal(euicc_sim_get_notification_count(download_fixture_card(f)), notifications);

  /* The card: EUICCInfo1 and the challenge, which initiateAuthentication
   * needs; no AuthenticateServer, hence no session and no CancelSession. */
  seen = es10_commands_seen(apdu_log);
  assert_non_null(strstr(seen, "BF20 BF2E"));
  assert_null(strstr(seen, "BF38"));
  assert_null(strstr(seen, "BF41"));
  assert_null(strstr(seen, "BF21"));
  /* The SM-DP+: asked once, then never again. */
  assert_int_equal(n_records("es9plus/initiateAuthentication"), inits + 1);
  assert_int_equal(n_records("es9plus/authenticateClient"), clients);
  assert_int_equal(n_records("es9plus/cancelSession"), cancels);
}

/* ---- Profile Policy Rules (SGP.22 2.9, 3.1.3.2) ---- */

static gboolean has_rule(const DownloadMetadata *m, const char *name)
{
  return m && m->policy_rules && g_strv_contains((const gchar *const *)m->policy_rules, name);
}

/* Starts ac with the card's APDUs logged; the log's ES10 commands once final. */
static gchar *run_logged(DownloadFixture *f, const char *ac, const DownloadOptions *options,
                         const char *log_name, Download **out)
{
  g_autofree gchar *apdu_log =
      g_build_filename(smdp_fixture_get_dir(download_fixture_smdp()), log_name, NULL);

  assert_true(euicc_sim_set_apdu_log(download_fixture_card(f), apdu_log, NULL));
  *out = download_fixture_start(f, ac, options);
  download_fixture_wait_final(*out);
  assert_true(euicc_sim_set_apdu_log(download_fixture_card(f), NULL, NULL));
  return es10_commands_seen(apdu_log);
}

/* d refused by policy: failed as DisallowedByPolicy naming ppr, iccid not
 * on the card, the session cancelled at the SM-DP+ with pprNotAllowed. */
static void assert_ppr_refused(DownloadFixture *f, Download *d, const char *ppr, const char *iccid)
{
  const GError *error = download_get_error(d);
  g_autoptr(JsonObject) record = NULL;

  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_FAILED);
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_DISALLOWED_BY_POLICY));
  assert_non_null(strstr(error->message, ppr));
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), iccid), -1);
  record = last_record("es9plus/cancelSession");
  assert_string_equal(json_object_get_string_member(record, "reason"), "pprNotAllowed");
}

/* A PPR the RAT allows for the owner (wildcard MNC): the RAT is read once
 * (BF43, before PrepareDownload), the rule shown, no pause with accept. A
 * profile without PPRs never reads it (test_smdp_oid_matches). */
static void test_ppr_allowed(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE};
  g_autoptr(Download) d = NULL;
  g_autofree gchar *seen = run_logged(f, "1$" ADDRESS "$MID-PPR2", &options, "apdu-ppr-ok.log", &d);
  const DownloadMetadata *m = download_get_metadata(d);

  if (download_get_error(d))
    fail_msg("%s", download_get_error(d)->message);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_DONE);
  assert_true(has_rule(m, "delete-not-allowed"));
  assert_false(has_rule(m, "disable-not-allowed"));
  assert_false(m->policy_consent_required);
  assert_false(saw(f, "confirming"));
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PPR2), 0);
  assert_non_null(strstr(seen, "BF38 BF43 BF21"));
  assert_null(strstr(strstr(seen, "BF43") + 4, "BF43"));
}

/* No RAT rule for PPR2: cancelled with pprNotAllowed on the card and at
 * the SM-DP+, DisallowedByPolicy naming the rule, nothing installed. */
static void test_ppr_not_allowed(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE};
  g_autoptr(Download) d = NULL;
  g_autoptr(JsonObject) record = NULL;
  g_autofree gchar *seen =
      run_logged(f, "1$" ADDRESS "$MID-PPR2", &options, "apdu-ppr-refused.log", &d);

  assert_ppr_refused(f, d, "PPR2", ICCID_PPR2);
  assert_non_null(strstr(download_get_error(d)->message, "26201"));
  assert_false(saw(f, "confirming"));
  assert_null(download_get_profile(d));
  assert_non_null(strstr(seen, "BF43 BF41"));
  assert_null(strstr(seen, "BF21"));
  record = last_record("es9plus/cancelSession");
  assert_string_equal(json_object_get_string_member(record, "result"), "ok");
}

/*
 * A rule with consentRequired: the download waits at CONFIRMING with the
 * flag shown even though accept was given up front (that accept was given
 * before anyone saw the PPRs); Accept then installs.
 */
static void test_ppr_consent_required(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE};
  g_autoptr(Download) d = download_fixture_start(f, "1$" ADDRESS "$MID-PPR2", &options);
  g_autoptr(GError) error = NULL;
  guint apdus;

  assert_true(test_wait_until(is_confirming, d));
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_CONFIRMING);
  assert_true(has_rule(download_get_metadata(d), "delete-not-allowed"));
  assert_true(download_get_metadata(d)->policy_consent_required);
  apdus = euicc_sim_get_apdu_count(download_fixture_card(f));
  test_run_for(300);
  assert_int_equal(euicc_sim_get_apdu_count(download_fixture_card(f)), apdus);
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PPR2), -1);

  assert_true(download_accept(d, NULL, &error));
  download_fixture_wait_final(d);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_DONE);
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PPR2), 0);
}

/* PPR1 on an eUICC that already holds an operational profile: refused
 * before the RAT is read, though the RAT allows PPR1 for anyone. */
static void test_ppr1_with_operational_profile(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE};
  g_autoptr(Download) d = NULL;
  g_autofree gchar *seen =
      run_logged(f, "1$" ADDRESS "$MID-PPR1", &options, "apdu-ppr1-refused.log", &d);

  assert_ppr_refused(f, d, "PPR1", ICCID_PPR1);
  assert_null(strstr(seen, "BF43"));
}

/* ... and with only a test profile there, PPR1 installs. */
static void test_ppr1_beside_test_profile(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE};
  g_autoptr(Download) d = NULL;
  g_autofree gchar *seen =
      run_logged(f, "1$" ADDRESS "$MID-PPR1", &options, "apdu-ppr1-ok.log", &d);

  if (download_get_error(d))
    fail_msg("%s", download_get_error(d)->message);
  assert_int_equal(download_get_state(d), DOWNLOAD_STATE_DONE);
  assert_true(has_rule(download_get_metadata(d), "disable-not-allowed"));
  assert_non_null(strstr(seen, "BF43"));
  assert_int_equal(euicc_sim_get_profile_state(download_fixture_card(f), ICCID_PPR1), 0);
}

/* ---- fixture ---- */

static int setup_qmi(void **state)
{
  return download_fixture_setup(state, MODEM_SIM_PROTOCOL_QMI, TRANSPORT_KIND_QMI, NULL);
}

/* A modem that reports no IMEI: DeviceInfo carries the test TAC alone. */
static int setup_no_imei(void **state)
{
  return download_fixture_setup(state, MODEM_SIM_PROTOCOL_QMI, TRANSPORT_KIND_QMI, "imei=");
}

static int setup_mbim(void **state)
{
  return download_fixture_setup(state, MODEM_SIM_PROTOCOL_MBIM, TRANSPORT_KIND_MBIM, NULL);
}

static int setup_at(void **state)
{
  return download_fixture_setup(state, MODEM_SIM_PROTOCOL_AT, TRANSPORT_KIND_AT, NULL);
}

#define teardown download_fixture_teardown

#define OTHER_PROFILE                                                                              \
  "[profile]\niccid 8944500000000000101\nisdp-aid A0000005591010FFFFFFFF8900001000\n"              \
  "state disabled\nowner 23415\n"

static int setup_rat_ppr2(void **state)
{
  return download_fixture_setup_card(state, "rat-rule ppr2 262EE,310410\n");
}

static int setup_rat_ppr2_consent(void **state)
{
  return download_fixture_setup_card(state, "rat-rule ppr1 EEEEEE\nrat-rule ppr2 EEEEEE consent\n");
}

static int setup_rat_ppr1_operational(void **state)
{
  return download_fixture_setup_card(state, "rat-rule ppr1,ppr2 EEEEEE\n" OTHER_PROFILE);
}

static int setup_rat_ppr1_test_profile(void **state)
{
  return download_fixture_setup_card(state,
                                     "rat-rule ppr1,ppr2 EEEEEE\n" OTHER_PROFILE "class test\n");
}

#define QMI(t) cmocka_unit_test_setup_teardown(t, setup_qmi, teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      QMI(test_install_with_accept),
      QMI(test_pause_then_accept),
      QMI(test_reject),
      QMI(test_cancel_postponed),
      QMI(test_confirmation_code),
      QMI(test_confirmation_code_retries_exceeded),
      QMI(test_refused_matching_id),
      QMI(test_unreachable),
      QMI(test_cut_bpp),
      QMI(test_bad_activation_code),
      QMI(test_smdp_oid_matches),
      QMI(test_smdp_oid_mismatch),
      QMI(test_install_and_enable),
      QMI(test_card_refuses_install),
      QMI(test_cancel_during_network_wait),
      QMI(test_modem_removed_while_paused),
      QMI(test_consent_timeout),
      QMI(test_downloads_queue_behind_each_other),
      QMI(test_ppr_not_allowed),
      cmocka_unit_test_setup_teardown(test_ppr_allowed, setup_rat_ppr2, teardown),
      cmocka_unit_test_setup_teardown(test_ppr_consent_required, setup_rat_ppr2_consent, teardown),
      cmocka_unit_test_setup_teardown(test_ppr1_with_operational_profile,
                                      setup_rat_ppr1_operational, teardown),
      cmocka_unit_test_setup_teardown(test_ppr1_beside_test_profile, setup_rat_ppr1_test_profile,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_install_with_accept, setup_no_imei, teardown),
      /* The same install over the other two protocols. */
      cmocka_unit_test_setup_teardown(test_install_with_accept, setup_mbim, teardown),
      cmocka_unit_test_setup_teardown(test_install_with_accept, setup_at, teardown),
      cmocka_unit_test_setup_teardown(test_reject, setup_mbim, teardown),
      cmocka_unit_test_setup_teardown(test_reject, setup_at, teardown),
      cmocka_unit_test_setup_teardown(test_cut_bpp, setup_mbim, teardown),
      cmocka_unit_test_setup_teardown(test_cut_bpp, setup_at, teardown),
  };

  return cmocka_run_group_tests(tests, download_fixture_start_world, download_fixture_stop_world);
}
