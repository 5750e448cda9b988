/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "es10/iccid.h"

#include <string.h>

#include "es10/tlv.h"

gboolean iccid_validate(const char *iccid, GError **error)
{
  gsize n;

  if (!iccid) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "no ICCID given");
    return FALSE;
  }
  n = strlen(iccid);
  /* ITU-T E.118: up to 19 digits plus a check digit; issuers use 18 to 20. */
  if (n < ICCID_MIN_DIGITS || n > ICCID_MAX_DIGITS) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                "an ICCID has %d to %d digits, not %zu", ICCID_MIN_DIGITS, ICCID_MAX_DIGITS, n);
    return FALSE;
  }
  for (gsize i = 0; i < n; i++) {
    if (!g_ascii_isdigit(iccid[i])) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                  "ICCID has a non-digit at position %zu", i + 1);
      return FALSE;
    }
  }
  return TRUE;
}

gboolean iccid_to_bcd(const char *iccid, guint8 out[ICCID_BCD_LEN], GError **error)
{
  gsize n;

  if (!iccid_validate(iccid, error))
    return FALSE;
  n = strlen(iccid);
  /* SGP.22's Iccid is SIZE(10) whatever the digit count: a shorter ICCID is
   * padded with 'F' nibbles up to 20 (ETSI TS 102 221 13.2). */
  for (gsize i = 0; i < ICCID_BCD_LEN; i++) {
    guint8 lo = 2 * i < n ? (guint8)(iccid[2 * i] - '0') : 0xF;
    guint8 hi = 2 * i + 1 < n ? (guint8)(iccid[2 * i + 1] - '0') : 0xF;
    out[i] = (guint8)(hi << 4 | lo);
  }
  return TRUE;
}

gchar *iccid_from_bcd(const guint8 *bcd, gsize len, GError **error)
{
  gchar digits[ICCID_MAX_DIGITS + 1];
  gsize n = 0;
  gboolean padding = FALSE;

  if (len != ICCID_BCD_LEN) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "ICCID of %zu bytes, not %d", len,
                ICCID_BCD_LEN);
    return NULL;
  }
  for (gsize i = 0; i < 2 * ICCID_BCD_LEN; i++) {
    guint8 nibble = (i % 2) ? bcd[i / 2] >> 4 : bcd[i / 2] & 0xF;

    if (nibble == 0xF) {
      padding = TRUE;
    } else if (nibble > 9 || padding) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE,
                  "ICCID byte %zu (%02X) is not swapped BCD", i / 2 + 1, bcd[i / 2]);
      return NULL;
    } else {
      digits[n++] = (gchar)('0' + nibble);
    }
  }
  if (n < ICCID_MIN_DIGITS) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "ICCID of %zu digits", n);
    return NULL;
  }
  digits[n] = '\0';
  return g_strdup(digits);
}
