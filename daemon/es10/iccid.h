/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ICCIDs as SGP.22 carries them (Iccid, tag 5A): the EF.ICCID coding of
 * ETSI TS 102 221 13.2, BCD with the two digits of each byte swapped and 'F'
 * padding, always 10 bytes whether the ICCID has 18, 19 or 20 digits.
 */
#pragma once

#include <glib.h>

#include "es10/tlv.h" /* ES10_ERROR */

G_BEGIN_DECLS

/* Bytes of an encoded ICCID, whatever its digit count. */
#define ICCID_BCD_LEN 10
#define ICCID_MIN_DIGITS 18
#define ICCID_MAX_DIGITS 20

/* TRUE for 18 to 20 decimal digits; an ES10_ERROR_INVALID_ARGUMENT says why not. */
gboolean iccid_validate(const char *iccid, GError **error);
/* Encodes digits into the 10-byte swapped-BCD form, 'F'-padded. */
gboolean iccid_to_bcd(const char *iccid, guint8 out[ICCID_BCD_LEN], GError **error);
/* Decodes 10 bytes of swapped BCD into digits; ES10_ERROR_INVALID_VALUE if not an ICCID. */
gchar *iccid_from_bcd(const guint8 *bcd, gsize len, GError **error);

G_END_DECLS
