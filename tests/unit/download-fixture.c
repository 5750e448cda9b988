/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "download-fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test-util.h"

static const char profiles_json[] =
    "{\"profiles\": {"
    " \"MID-PLAIN\": {\"iccid\": \"" ICCID_PLAIN "\", \"name\": \"Plain test profile\","
    "  \"service-provider\": \"Example Mobile\", \"class\": \"operational\", \"owner\": \"26201\","
    "  \"extra-bytes\": 3000},"
    " \"MID-CC\": {\"iccid\": \"" ICCID_CC "\", \"name\": \"Needs a code\","
    "  \"service-provider\": \"Example Mobile\", \"class\": \"operational\", \"cc\": \"4711\"},"
    " \"MID-PPR2\": {\"iccid\": \"" ICCID_PPR2 "\", \"name\": \"Undeletable\","
    "  \"service-provider\": \"Example Mobile\", \"owner\": \"26201\", \"ppr\": [\"ppr2\"]},"
    " \"MID-PPR1\": {\"iccid\": \"" ICCID_PPR1 "\", \"name\": \"Always on\","
    "  \"service-provider\": \"Example Mobile\", \"owner\": \"26201\", \"ppr\": [\"ppr1\"]}"
    "}}";

static SmdpFixture *smdp;
static char *card_path;

static const ServiceListener listener = {0};

int download_fixture_start_world(void **state)
{
  smdp = smdp_fixture_start(profiles_json, EID);
  card_path = g_build_filename(smdp_fixture_get_dir(smdp), "euicc.card", NULL);
  /* An empty eUICC whose keys are the PKI's (pki is relative to the card file). */
  assert_true(g_file_set_contents(
      card_path, "type euicc\neid " EID "\npki pki\ndefault-smdp " ADDRESS "\n", -1, NULL));
  return 0;
}

int download_fixture_stop_world(void **state)
{
  smdp_fixture_stop(smdp);
  g_free(card_path);
  return 0;
}

SmdpFixture *download_fixture_smdp(void)
{
  return smdp;
}

void download_fixture_changed(Download *d, gpointer data)
{
  DownloadFixture *f = data;
  const char *s = download_state_to_string(download_get_state(d));
  gdouble p = download_get_progress(d);

  if (p > f->progress)
    f->progress_steps++;
  else if (p < f->progress)
    f->progress_went_back = TRUE;
  f->progress = p;

  if (f->states->len == 0 || !g_str_equal(g_ptr_array_index(f->states, f->states->len - 1), s))
    g_ptr_array_add(f->states, g_strdup(s));
}

static int setup_with(void **state, ModemSimProtocol protocol, TransportKind kind,
                      const char *option, const char *path);

int download_fixture_setup(void **state, ModemSimProtocol protocol, TransportKind kind,
                           const char *option)
{
  return setup_with(state, protocol, kind, option, card_path);
}

int download_fixture_setup_card(void **state, const char *extra)
{
  g_autofree char *path = g_build_filename(smdp_fixture_get_dir(smdp), "euicc-extra.card", NULL);
  g_autofree char *text =
      g_strdup_printf("type euicc\neid " EID "\npki pki\ndefault-smdp " ADDRESS "\n%s", extra);

  assert_true(g_file_set_contents(path, text, -1, NULL));
  return setup_with(state, MODEM_SIM_PROTOCOL_QMI, TRANSPORT_KIND_QMI, NULL, path);
}

static int setup_with(void **state, ModemSimProtocol protocol, TransportKind kind,
                      const char *option, const char *path)
{
  DownloadFixture *f = g_new0(DownloadFixture, 1);
  g_autofree char *override = g_strdup_printf("127.0.0.1:%u", smdp_fixture_get_port(smdp));
  ManagerConfig config = {
      .transport_timeout_ms = 5000,
      .smdp_ca_file = smdp_fixture_get_ca_file(smdp),
      .smdp_host_override = override,
      .auto_send_notifications = TRUE,
  };
  g_autoptr(GError) error = NULL;
  GPtrArray *euiccs;

  f->states = g_ptr_array_new_with_free_func(g_free);
  f->ms = modem_sim_new(protocol);
  if (!modem_sim_add_slot(f->ms, path, &error) ||
      (option && !modem_sim_set_option(f->ms, option, &error)) || !modem_sim_start(f->ms, &error))
    fail_msg("modem-sim: %s", error->message);
  f->manager = manager_new(&config, &listener, f);
  test_manager_add_modem(f->manager, kind, modem_sim_get_port(f->ms), "");
  test_manager_wait_probed(f->manager);
  euiccs = manager_get_euiccs(f->manager);
  assert_int_equal(euiccs->len, 1);
  f->euicc = g_ptr_array_index(euiccs, 0);
  assert_string_equal(euicc_get_eid(f->euicc), EID);
  *state = f;
  return 0;
}

int download_fixture_teardown(void **state)
{
  DownloadFixture *f = *state;

  test_manager_stop(f->manager);
  modem_sim_free(f->ms);
  test_drain();
  g_ptr_array_unref(f->states);
  g_free(f);
  return 0;
}

Download *download_fixture_start(DownloadFixture *f, const char *ac, const DownloadOptions *options)
{
  g_autoptr(GError) error = NULL;
  Download *d = euicc_download(f->euicc, ac, options, download_fixture_changed, f, &error);

  if (!d)
    fail_msg("euicc_download: %s", error->message);
  return d;
}

gboolean download_fixture_is_final(gpointer data)
{
  DownloadState s = download_get_state(data);

  return s == DOWNLOAD_STATE_DONE || s == DOWNLOAD_STATE_FAILED || s == DOWNLOAD_STATE_CANCELLED;
}

void download_fixture_wait_final(Download *d)
{
  assert_true(test_wait_until(download_fixture_is_final, d));
}

EuiccSim *download_fixture_card(DownloadFixture *f)
{
  return modem_sim_get_card(f->ms, 1);
}
