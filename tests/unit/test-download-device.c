/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * service/download.c and service/device-caps.c: the DeviceInfo a download
 * gives the card (SGP.22 5.7.13) carries the radio technologies each kind
 * of modem reports, against modem-sim speaking QMI, MBIM and AT, an
 * euicc-sim card with keys from mkpki and smdp-sim --pki over HTTPS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "download-fixture.h"
#include "es10/es10.h"
#include "es10/tlv.h"
#include "euicc-sim.h"
#include "modem-sim.h"
#include "service/service.h"
#include "test-util.h"

/* the deviceCapabilities (hex DER) the modem's RATs should give */
static const char *expected_caps;

/*
 * SGP.22 5.7.13: the card received a DeviceInfo whose deviceCapabilities
 * say what the modem told the transport about its radio technologies
 * (QMI DMS Get Capabilities, MBIM Device Caps, AT+WS46=?), each RAT at the
 * release service/device-caps.c documents; none when the modem won't say.
 */
static void test_device_capabilities(void **state)
{
  DownloadFixture *f = *state;
  DownloadOptions options = {.accept = TRUE};
  g_autoptr(Download) d = NULL;
  g_autoptr(Download) again = NULL;
  g_autoptr(GBytes) info = NULL;
  g_autofree char *hex = NULL;
  Tlv top, caps;
  guint apdus;

  d = download_fixture_start(f, AC_PLAIN, &options);
  download_fixture_wait_final(d);
  if (download_get_error(d))
    fail_msg("%s", download_get_error(d)->message);
  info = euicc_sim_get_device_info(download_fixture_card(f));
  assert_non_null(info);
  assert_true(tlv_parse(g_bytes_get_data(info, NULL), g_bytes_get_size(info), &top, NULL));
  assert_int_equal(top.tag, 0xA1);
  assert_true(tlv_find(&top, 0xA1, &caps, NULL));
  hex = es10_hex_encode(caps.raw, caps.raw_length);
  assert_string_equal(hex, expected_caps);

  /* Read once per modem: a modem that now says otherwise is not asked again. */
  assert_true(modem_sim_set_option(f->ms, "rats=nr-sa", NULL));
  apdus = euicc_sim_get_apdu_count(download_fixture_card(f));
  again = download_fixture_start(f, AC_PLAIN, &options);
  download_fixture_wait_final(again);
  assert_true(euicc_sim_get_apdu_count(download_fixture_card(f)) > apdus);
  g_clear_pointer(&info, g_bytes_unref);
  info = euicc_sim_get_device_info(download_fixture_card(f));
  assert_true(tlv_parse(g_bytes_get_data(info, NULL), g_bytes_get_size(info), &top, NULL));
  assert_true(tlv_find(&top, 0xA1, &caps, NULL));
  g_free(hex);
  hex = es10_hex_encode(caps.raw, caps.raw_length);
  assert_string_equal(hex, expected_caps);
}

/* ---- fixture ---- */

/* deviceCapabilities (A1) as each modem's RATs give it: gsm [0], utran [1],
 * eutran [5] at release 11, nrEpc [8] and nr5gc [9] at 15. */
#define CAPS_GUE                                                                                   \
  "A10F"                                                                                           \
  "80030B0000"                                                                                     \
  "81030B0000"                                                                                     \
  "85030B0000"

static int setup_caps(void **state, ModemSimProtocol protocol, TransportKind kind,
                      const char *option, const char *caps)
{
  expected_caps = caps;
  return download_fixture_setup(state, protocol, kind, option);
}

static int setup_caps_qmi(void **state)
{
  return setup_caps(state, MODEM_SIM_PROTOCOL_QMI, TRANSPORT_KIND_QMI, NULL, CAPS_GUE);
}

static int setup_caps_qmi_5g(void **state)
{
  return setup_caps(state, MODEM_SIM_PROTOCOL_QMI, TRANSPORT_KIND_QMI, "rats=lte,nr-sa",
                    "A10A"
                    "85030B0000"
                    "88030F0000");
}

static int setup_caps_mbim_5g(void **state)
{
  return setup_caps(state, MODEM_SIM_PROTOCOL_MBIM, TRANSPORT_KIND_MBIM,
                    "rats=umts,lte,nr-nsa,nr-sa",
                    "A114"
                    "81030B0000"
                    "85030B0000"
                    "88030F0000"
                    "89030F0000");
}

static int setup_caps_at(void **state)
{
  return setup_caps(state, MODEM_SIM_PROTOCOL_AT, TRANSPORT_KIND_AT, NULL, CAPS_GUE);
}

static int setup_caps_at_nr(void **state)
{
  return setup_caps(state, MODEM_SIM_PROTOCOL_AT, TRANSPORT_KIND_AT, "rats=gsm,lte,nr-nsa",
                    "A10F"
                    "80030B0000"
                    "85030B0000"
                    "88030F0000");
}

/* A modem that does not say (AT+WS46=? answers ERROR): nothing claimed. */
static int setup_caps_at_silent(void **state)
{
  return setup_caps(state, MODEM_SIM_PROTOCOL_AT, TRANSPORT_KIND_AT, "rats=", "A100");
}

#define CAPS(setup)                                                                                \
  cmocka_unit_test_setup_teardown(test_device_capabilities, setup, download_fixture_teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      /* DeviceInfo's deviceCapabilities from each protocol's answer. */
      CAPS(setup_caps_qmi), CAPS(setup_caps_qmi_5g), CAPS(setup_caps_mbim_5g),
      CAPS(setup_caps_at),  CAPS(setup_caps_at_nr),  CAPS(setup_caps_at_silent),
  };

  return cmocka_run_group_tests(tests, download_fixture_start_world, download_fixture_stop_world);
}
