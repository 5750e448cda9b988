/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * modem-sim's AT mode as ModemManager sees it: what a 3GPP modem answers to
 * ModemManager's probe (identity, +CPIN?, +CIMI, +CRSM reads of EF-ICCID,
 * EF-AD and EF-SPN, registration), all of it following the eUICC's enabled
 * profile, and a second port of the same modem on which a profile switch
 * changes what the first port reports. Raw bytes on the pty, one main
 * context, every wait bounded.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "es10/es10.h"
#include "modem-sim.h"
#include "test-util.h"

#define ISDR_HEX "A0000005591010FFFFFFFF8900000100"
/* three-profiles.card */
#define ENABLED_ICCID "8944476500001234567"
#define OTHER_ICCID "89012604100000123456"

typedef struct {
  ModemSim *ms;   /* ModemManager's port */
  ModemSim *port; /* a second AT port on the same card */
  int fd;
  int port_fd;
} Fixture;

static int open_raw(ModemSim *ms)
{
  int fd = open(modem_sim_get_port(ms), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

  assert_true(fd >= 0);
  return fd;
}

/* Sends one command line; returns every byte up to its final result. */
static gchar *raw_command(int fd, const char *line)
{
  g_autoptr(GString) in = g_string_new(NULL);
  g_autofree gchar *out = g_strconcat(line, "\r", NULL);
  gint64 deadline = g_get_monotonic_time() + TEST_WAIT_LIMIT_MS * G_TIME_SPAN_MILLISECOND;

  assert_int_equal(write(fd, out, strlen(out)), (ssize_t)strlen(out));
  for (;;) {
    char buf[512];
    ssize_t n;

    if (g_get_monotonic_time() > deadline)
      fail_msg("no final result to %s; got \"%s\"", line, in->str);
    g_main_context_iteration(NULL, FALSE);
    while ((n = read(fd, buf, sizeof buf)) > 0)
      g_string_append_len(in, buf, n);
    if (g_str_has_suffix(in->str, "\r\nOK\r\n") || g_str_has_suffix(in->str, "ERROR\r\n") ||
        (strstr(in->str, "+CME ERROR:") && g_str_has_suffix(in->str, "\r\n")))
      break;
    g_usleep(1000);
  }
  return g_string_free(g_steal_pointer(&in), FALSE);
}

static void assert_answer(int fd, const char *line, const char *expected)
{
  g_autofree gchar *answer = raw_command(fd, line);

  assert_string_equal(answer, expected);
}

static ModemSim *start(ModemSim *ms, const char *const *options)
{
  g_autoptr(GError) error = NULL;

  for (guint i = 0; options && options[i]; i++)
    if (!modem_sim_set_option(ms, options[i], &error))
      fail_msg("option %s: %s", options[i], error->message);
  if (!modem_sim_start(ms, &error))
    fail_msg("start: %s", error->message);
  return ms;
}

/* state: the options for both ports (NULL-terminated), as ModemManager's
 * fixture gives them. */
static int setup(void **state)
{
  const char *const *options = *state;
  Fixture *f = g_new0(Fixture, 1);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *card = test_card_path("three-profiles.card");

  f->ms = modem_sim_new(MODEM_SIM_PROTOCOL_AT);
  if (!modem_sim_add_slot(f->ms, card, &error))
    fail_msg("card: %s", error->message);
  f->port = modem_sim_new_port(f->ms, MODEM_SIM_PROTOCOL_AT);
  start(f->ms, options);
  start(f->port, options);
  f->fd = open_raw(f->ms);
  f->port_fd = open_raw(f->port);
  assert_answer(f->fd, "ATE0", "ATE0\r\r\nOK\r\n");
  assert_answer(f->port_fd, "ATE0", "ATE0\r\r\nOK\r\n");
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  Fixture *f = *state;

  close(f->fd);
  close(f->port_fd);
  /* Either order: the card lives until its last port goes. */
  modem_sim_free(f->ms);
  modem_sim_free(f->port);
  g_free(f);
  return 0;
}

/* ES10c EnableProfile or DisableProfile (SGP.22 5.7.16, 5.7.17) of iccid,
 * sent through the second port's own logical channel, as esimd does. */
static void switch_profile(Fixture *f, gboolean enable, const char *iccid)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) req =
      enable ? es10c_enable_profile_encode(ES10_PROFILE_ID_ICCID, iccid, TRUE, &error)
             : es10c_disable_profile_encode(ES10_PROFILE_ID_ICCID, iccid, TRUE, &error);
  gsize len;
  const guint8 *p;
  g_autoptr(GString) apdu = g_string_new("80E29100");
  g_autofree gchar *line = NULL;
  g_autofree gchar *answer = NULL;

  assert_non_null(req);
  p = g_bytes_get_data(req, &len);
  g_string_append_printf(apdu, "%02X", (guint)len);
  for (gsize i = 0; i < len; i++)
    g_string_append_printf(apdu, "%02X", p[i]);
  /* Le 00: the answer now, not 61xx. */
  g_string_append(apdu, "00");
  assert_answer(f->port_fd, "AT+CCHO=\"" ISDR_HEX "\"", "\r\n+CCHO: 1\r\n\r\nOK\r\n");
  line = g_strdup_printf("AT+CGLA=1,%zu,\"%s\"", apdu->len, apdu->str);
  answer = raw_command(f->port_fd, line);
  /* BF3x 03 80 01 00: result ok, SW 9000. */
  if (!strstr(answer, "038001009000\""))
    fail_msg("the switch failed: %s", answer);
  /* The card reset after the switch (the modem ran its REFRESH) and took
   * the channel with it: the close is answered either way. */
  g_free(raw_command(f->port_fd, "AT+CCHC=1"));
}

static void test_identity_answers_a_probe(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;

  assert_answer(f->fd, "ATI", "\r\nesimd modem-sim\r\n\r\nOK\r\n");
  /* V.250 +GCAP: a GSM modem, what makes ModemManager take the 3GPP path. */
  assert_answer(f->fd, "AT+GCAP", "\r\n+GCAP: +CGSM\r\n\r\nOK\r\n");
  assert_answer(f->fd, "AT+CGMI", "\r\nesimd\r\n\r\nOK\r\n");
  assert_answer(f->fd, "AT+CGMM", "\r\nmodem-sim\r\n\r\nOK\r\n");
  assert_answer(f->fd, "AT+CGMR", "\r\nmodem-sim 1.0\r\n\r\nOK\r\n");
  assert_answer(f->fd, "AT+CGSN", "\r\n" MODEM_SIM_DEFAULT_IMEI "\r\n\r\nOK\r\n");
  assert_true(modem_sim_set_option(f->ms, "imei=490154203237518", &error));
  assert_answer(f->fd, "AT+CGSN", "\r\n490154203237518\r\n\r\nOK\r\n");
  assert_answer(f->fd, "AT+GSN", "\r\n490154203237518\r\n\r\nOK\r\n");
  /* Anything the modem does not know: ERROR, also in numeric-error mode. */
  assert_answer(f->fd, "AT%IPSYS?", "\r\nERROR\r\n");
  assert_answer(f->fd, "AT+CNMI=?", "\r\nERROR\r\n");
  /* 27.007 5.9: the network sets of rats= (GSM, UMTS, LTE by default). */
  assert_answer(f->fd, "AT+WS46=?", "\r\n+WS46: (12,22,25,28,29,30,31)\r\n\r\nOK\r\n");
  assert_true(modem_sim_set_option(f->ms, "rats=lte,nr-nsa", &error));
  assert_answer(f->fd, "AT+WS46=?", "\r\n+WS46: (28,37)\r\n\r\nOK\r\n");
  assert_true(modem_sim_set_option(f->ms, "rats=nr-sa", &error));
  assert_answer(f->fd, "AT+WS46=?", "\r\n+WS46: (36)\r\n\r\nOK\r\n");
  assert_true(modem_sim_set_option(f->ms, "rats=", &error));
  assert_answer(f->fd, "AT+WS46=?", "\r\nERROR\r\n");
  assert_false(modem_sim_set_option(f->ms, "rats=lte,cdma", &error));
  g_clear_error(&error);
}

static void test_power_and_network_without_a_network(void **state)
{
  Fixture *f = *state;

  assert_answer(f->fd, "AT+CFUN?", "\r\n+CFUN: 1\r\n\r\nOK\r\n");
  assert_answer(f->fd, "AT+CFUN=4", "\r\nOK\r\n");
  assert_answer(f->fd, "AT+CFUN?", "\r\n+CFUN: 4\r\n\r\nOK\r\n");
  assert_answer(f->fd, "AT+CFUN=1,1", "\r\nOK\r\n");
  assert_answer(f->fd, "AT+CFUN?", "\r\n+CFUN: 1\r\n\r\nOK\r\n");
  assert_answer(f->fd, "AT+CFUN=9", "\r\n+CME ERROR: 50\r\n");
  /* ATZ: the stored profile again, echo on and +CMEE 0. */
  assert_answer(f->fd, "AT+CMEE=1", "\r\nOK\r\n");
  assert_answer(f->fd, "ATZ", "\r\nOK\r\n");
  assert_answer(f->fd, "AT+CMEE?", "AT+CMEE?\r\r\n+CMEE: 0\r\n\r\nOK\r\n");
  assert_answer(f->fd, "ATE0", "ATE0\r\r\nOK\r\n");
  assert_answer(f->fd, "AT+COPS?", "\r\n+COPS: 0\r\n\r\nOK\r\n");
  assert_answer(f->fd, "AT+COPS=3,2", "\r\nOK\r\n");
  assert_answer(f->fd, "AT+CREG=2", "\r\nOK\r\n");
  assert_answer(f->fd, "AT+CREG?", "\r\n+CREG: 0,0\r\n\r\nOK\r\n");
  assert_answer(f->fd, "AT+CGREG?", "\r\n+CGREG: 0,0\r\n\r\nOK\r\n");
  assert_answer(f->fd, "AT+CEREG?", "\r\n+CEREG: 0,0\r\n\r\nOK\r\n");
}

static void test_sim_reads_follow_the_enabled_profile(void **state)
{
  Fixture *f = *state;

  assert_answer(f->fd, "AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n");
  /* EF-ICCID: 8944476500001234567 in swapped nibbles, F-padded. */
  assert_answer(f->fd, "AT+CRSM=176,12258,0,0,10",
                "\r\n+CRSM: 144,0,\"984474560000214365F7\"\r\n\r\nOK\r\n");
  /* The owner 234-15, then the ICCID's digits before its check digit. */
  assert_answer(f->fd, "AT+CIMI", "\r\n234150000123456\r\n\r\nOK\r\n");
  /* EF-AD: a two-digit MNC. */
  assert_answer(f->fd, "AT+CRSM=176,28589,0,0,4", "\r\n+CRSM: 144,0,\"00000002\"\r\n\r\nOK\r\n");
  /* EF-SPN: "Example Mobile", FF padded to 16. */
  assert_answer(f->fd, "AT+CRSM=176,28486,0,0,17",
                "\r\n+CRSM: 144,0,\"014578616D706C65204D6F62696C65FFFF\"\r\n\r\nOK\r\n");
  /* Any other file: 6A82 file not found. */
  assert_answer(f->fd, "AT+CRSM=176,28599,0,0,15", "\r\n+CRSM: 106,130\r\n\r\nOK\r\n");
}

static void test_switch_on_another_port_is_a_new_sim(void **state)
{
  Fixture *f = *state;

  switch_profile(f, TRUE, OTHER_ICCID);
  /* 89012604100000123456, owner 310-410 (three-digit MNC). */
  assert_answer(f->fd, "AT+CRSM=176,12258,0,0,10",
                "\r\n+CRSM: 144,0,\"98106240010000214365\"\r\n\r\nOK\r\n");
  assert_answer(f->fd, "AT+CIMI", "\r\n310410000012345\r\n\r\nOK\r\n");
  assert_answer(f->fd, "AT+CRSM=176,28589,0,0,4", "\r\n+CRSM: 144,0,\"00000003\"\r\n\r\nOK\r\n");
  assert_answer(f->fd, "AT+CCID", "\r\n+CCID: " OTHER_ICCID "\r\n\r\nOK\r\n");
}

static void test_no_enabled_profile_is_no_sim(void **state)
{
  Fixture *f = *state;

  switch_profile(f, FALSE, ENABLED_ICCID);
  /* 27.007 +CME ERROR 10: SIM not inserted, to every SIM read. */
  assert_answer(f->fd, "AT+CPIN?", "\r\n+CME ERROR: 10\r\n");
  assert_answer(f->fd, "AT+CRSM=176,12258,0,0,10", "\r\n+CME ERROR: 10\r\n");
  assert_answer(f->fd, "AT+CIMI", "\r\n+CME ERROR: 10\r\n");
  assert_answer(f->fd, "AT+CCID", "\r\n+CME ERROR: 10\r\n");
  /* The eUICC itself still answers on its ISD-R: that is how a profile gets
   * enabled again. */
  switch_profile(f, TRUE, ENABLED_ICCID);
  assert_answer(f->fd, "AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n");
}

static void test_without_the_quirk_the_card_stays_a_sim(void **state)
{
  Fixture *f = *state;

  switch_profile(f, FALSE, ENABLED_ICCID);
  assert_answer(f->fd, "AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n");
  /* Nothing to read in EF-ICCID: file not found. */
  assert_answer(f->fd, "AT+CRSM=176,12258,0,0,10", "\r\n+CRSM: 106,130\r\n\r\nOK\r\n");
}

static void test_card_knobs_act_once_through_shared_ports(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *answer = NULL;

  /* Given to the second port it changes nothing: the first owns the cards'
   * knobs, so a fault given to "every port" fires once, not twice. */
  assert_true(modem_sim_set_option(f->port, "fault=sw:any=6F00@1", &error));
  answer = raw_command(f->port_fd, "AT+CSIM=10,\"0070000001\"");
  assert_string_equal(answer, "\r\n+CSIM: 6,\"019000\"\r\n\r\nOK\r\n");
  assert_true(modem_sim_set_option(f->ms, "fault=sw:any=6F00@1", &error));
  assert_answer(f->port_fd, "AT+CSIM=10,\"0070000001\"", "\r\n+CSIM: 4,\"6F00\"\r\n\r\nOK\r\n");
  assert_answer(f->port_fd, "AT+CSIM=10,\"0070000001\"", "\r\n+CSIM: 6,\"029000\"\r\n\r\nOK\r\n");
}

static const char *const mm_options[] = {"quirk=cme-error", "quirk=profile-sim", NULL};
static const char *const cme_only[] = {"quirk=cme-error", NULL};

#define WITH(fn, options)                                                                          \
  cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)options)

int main(void)
{
  const struct CMUnitTest tests[] = {
      WITH(test_identity_answers_a_probe, mm_options),
      WITH(test_power_and_network_without_a_network, mm_options),
      WITH(test_sim_reads_follow_the_enabled_profile, mm_options),
      WITH(test_switch_on_another_port_is_a_new_sim, mm_options),
      WITH(test_no_enabled_profile_is_no_sim, mm_options),
      WITH(test_without_the_quirk_the_card_stays_a_sim, cme_only),
      WITH(test_card_knobs_act_once_through_shared_ports, mm_options),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
