/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Activation codes (SGP.22 4.1): what a user types or scans to install a
 * profile, "[LPA:]1$SM-DP+ address$AC_Token[$SM-DP+ OID[$1]]", and the
 * "1$ADDRESS$EVENT_ID" form that an SM-DS event gives (SGP.22 3.6.3): the
 * same syntax, with the event id in the place of the token. Pure parsing.
 */
#pragma once

#include <glib.h>

#include "es10/tlv.h" /* ES10_ERROR */

G_BEGIN_DECLS

typedef struct {
  gchar *address;       /* the SM-DP+ FQDN, with ":port" when the code gives one */
  gchar *matching_id;   /* AC_Token (or the SM-DS event id) */
  gchar *oid;           /* the SM-DP+ OID, dotted; NULL when absent or empty */
  gboolean cc_required; /* the Confirmation Code Required Flag */
} Es10ActivationCode;

/* Frees an activation code. */
void es10_activation_code_free(Es10ActivationCode *ac);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10ActivationCode, es10_activation_code_free)

/*
 * Parses an activation code, with or without the "LPA:" prefix. Strict: on
 * FALSE an ES10_ERROR_INVALID_ACTIVATION_CODE names the part that is wrong.
 */
gboolean es10_activation_code_parse(const char *text, Es10ActivationCode **out, GError **error);

/*
 * An SM-DP+ or SM-DS address as SGP.22 4.1 has it: an FQDN of letters,
 * digits, '-' and '.' (RFC 1123 labels), with an optional ":port" for a
 * server not on 443. FALSE with *why (may be NULL) saying what is wrong.
 */
gboolean es10_smdp_address_check(const char *address, const char **why);
/* The same, without the reason. */
gboolean es10_activation_code_address_is_valid(const char *address);

G_END_DECLS
