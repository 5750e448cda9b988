/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The modem's IMEI as SGP.22 DeviceInfo carries it (5.7.13, ctxParams1 of
 * AuthenticateServer): its TAC and the IMEI itself, from whatever form the
 * modem reported (3GPP TS 23.003 6.2: IMEI with or without its check
 * digit, or IMEISV).
 */
#include "es10/es10-private.h"

#include <string.h>

/* The Luhn check digit of an IMEI's first 14 digits (3GPP TS 23.003 annex B). */
static guint8 imei_check_digit(const guint8 d[14])
{
  guint sum = 0;

  for (gsize i = 0; i < 14; i++) {
    /* Every second digit, from the second on, doubled and its digits summed. */
    guint v = i % 2 ? d[i] * 2 : d[i];

    sum += v / 10 + v % 10;
  }
  return (guint8)((10 - sum % 10) % 10);
}

/*
 * The 15 digits of the IMEI (3GPP TS 23.003 6.2.1) in what a modem reports.
 * 14 digits are the IMEI without its check digit, which 23.003 leaves out
 * on the air and some modems leave out too: it is computed. 15 digits must
 * carry the right one: a wrong one means a misread or made-up IMEI, and
 * DeviceInfo goes better without it than with a false one. 16 digits are an
 * IMEISV (6.2.2): its first 14 are the IMEI's, whose check digit it does not
 * carry; DeviceInfo.imei is the IMEI (rsp.asn says imei, not imeisv), so the
 * software version is left out and the check digit computed.
 */
static gboolean imei_digits(const char *imei, guint8 d[15], GError **error)
{
  gsize n = imei ? strlen(imei) : 0;
  guint8 check;

  if (n < 14 || n > 16) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                "an IMEI has 15 digits (14 without its check digit, 16 as IMEISV), not %zu", n);
    return FALSE;
  }
  for (gsize i = 0; i < n; i++) {
    if (!g_ascii_isdigit(imei[i])) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                  "the IMEI has a character that is no digit at %zu", i);
      return FALSE;
    }
    if (i < 15)
      d[i] = (guint8)(imei[i] - '0');
  }
  check = imei_check_digit(d);
  if (n == 15 && d[14] != check) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                "the IMEI's check digit is %u, not %u", d[14], check);
    return FALSE;
  }
  d[14] = check;
  return TRUE;
}

gboolean es10_imei_to_device_info(const char *imei, Es10DeviceInfo *info, GError **error)
{
  guint8 d[16];

  if (!imei_digits(imei, d, error))
    return FALSE;
  d[15] = 0xF;
  /* The TAC is the IMEI's first eight digits (3GPP TS 23.003 6.2), in reading order. */
  for (gsize i = 0; i < 4; i++)
    info->tac[i] = (guint8)(d[2 * i] << 4 | d[2 * i + 1]);
  /* The IMEI as the card files hold it: the first digit in the low nibble. */
  for (gsize i = 0; i < 8; i++)
    info->imei[i] = (guint8)(d[2 * i + 1] << 4 | d[2 * i]);
  info->has_imei = TRUE;
  return TRUE;
}
