/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one thing the LPA reads in an X.509 certificate (RFC 5280): the
 * SM-DP+ OID that SGP.22 4.5.2.x puts into the subjectAltName of the
 * SM-DP+'s certificates as a registeredID. The card verifies certificates;
 * this walks just far enough to find that OID, and refuses anything on the
 * way that is not the DER it expects.
 */
#include "es10/es10-private.h"

#include <string.h>

/* id-ce-subjectAltName, 2.5.29.17, as OBJECT IDENTIFIER contents. */
static const guint8 oid_subject_alt_name[] = {0x55, 0x1D, 0x11};

static gboolean fail(GError **error, Es10Error code, const char *what)
{
  g_set_error(error, ES10_ERROR, code, "Certificate: %s", what);
  return FALSE;
}

/* The next element, which must be there and have the tag. */
static gboolean next_with_tag(TlvIter *iter, guint32 tag, const char *what, Tlv *out,
                              GError **error)
{
  GError *local = NULL;

  if (!tlv_iter_next(iter, out, &local)) {
    if (local) {
      g_propagate_prefixed_error(error, local, "Certificate: %s: ", what);
      return FALSE;
    }
    return fail(error, ES10_ERROR_MISSING_FIELD, what);
  }
  if (out->tag != tag) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG, "Certificate: %s has tag %X, not %X",
                what, out->tag, tag);
    return FALSE;
  }
  return TRUE;
}

/* GeneralNames (RFC 5280 4.2.1.6) in the extnValue: its registeredID [8], if any. */
static gboolean find_registered_id(const Tlv *extn_value, gchar **oid, GError **error)
{
  GError *local = NULL;
  TlvIter iter;
  Tlv names, name;

  if (!tlv_parse(extn_value->value, extn_value->length, &names, &local)) {
    g_propagate_prefixed_error(error, local, "Certificate: subjectAltName: ");
    return FALSE;
  }
  if (names.tag != 0x30)
    return fail(error, ES10_ERROR_UNEXPECTED_TAG, "subjectAltName is not a SEQUENCE");
  if (!tlv_iter_init(&iter, &names, error))
    return FALSE;
  while (tlv_iter_next(&iter, &name, &local)) {
    /* registeredID [8] IMPLICIT OBJECT IDENTIFIER; the other names are skipped. */
    if (name.tag != 0x88)
      continue;
    if (*oid)
      return fail(error, ES10_ERROR_INVALID_VALUE, "more than one registeredID in subjectAltName");
    *oid = es10_oid_to_string(name.value, name.length);
    if (!*oid)
      return fail(error, ES10_ERROR_MALFORMED, "a registeredID that is no OBJECT IDENTIFIER");
  }
  if (local) {
    g_propagate_prefixed_error(error, local, "Certificate: subjectAltName: ");
    return FALSE;
  }
  return TRUE;
}

/* Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } */
static gboolean read_extension(const Tlv *ext, Tlv *id, Tlv *value, GError **error)
{
  TlvIter iter;

  if (ext->tag != 0x30)
    return fail(error, ES10_ERROR_UNEXPECTED_TAG, "an Extension that is not a SEQUENCE");
  if (!tlv_iter_init(&iter, ext, error) || !next_with_tag(&iter, 0x06, "extnID", id, error))
    return FALSE;
  /* critical is there only when TRUE (DER leaves out a DEFAULT value). */
  if (iter.pos < iter.end && iter.pos[0] == 0x01) {
    Tlv critical;

    if (!next_with_tag(&iter, 0x01, "critical", &critical, error))
      return FALSE;
  }
  return next_with_tag(&iter, 0x04, "extnValue", value, error);
}

gboolean es10_certificate_get_registered_id(const guint8 *der, gsize len, gchar **oid,
                                            GError **error)
{
  g_autofree gchar *found = NULL;
  gboolean seen_san = FALSE;
  GError *local = NULL;
  TlvIter iter;
  Tlv cert, tbs, part, exts, ext;

  if (!tlv_parse(der, len, &cert, &local)) {
    g_propagate_prefixed_error(error, local, "Certificate: ");
    return FALSE;
  }
  if (cert.tag != 0x30)
    return fail(error, ES10_ERROR_UNEXPECTED_TAG, "not a SEQUENCE");
  if (!tlv_iter_init(&iter, &cert, error) ||
      !next_with_tag(&iter, 0x30, "tbsCertificate", &tbs, error))
    return FALSE;

  /* TBSCertificate: extensions [3] EXPLICIT is its last component; only a
   * v3 certificate has one (RFC 5280 4.1). */
  if (!tlv_iter_init(&iter, &tbs, error))
    return FALSE;
  exts.tag = 0;
  while (tlv_iter_next(&iter, &part, &local)) {
    if (part.tag == 0xA3) {
      exts = part;
      break;
    }
  }
  if (local) {
    g_propagate_prefixed_error(error, local, "Certificate: tbsCertificate: ");
    return FALSE;
  }
  if (exts.tag == 0) {
    *oid = NULL;
    return TRUE;
  }
  if (!tlv_iter_init(&iter, &exts, error) ||
      !next_with_tag(&iter, 0x30, "extensions", &exts, error))
    return FALSE;

  if (!tlv_iter_init(&iter, &exts, error))
    return FALSE;
  while (tlv_iter_next(&iter, &ext, &local)) {
    Tlv id, value;

    if (!read_extension(&ext, &id, &value, error))
      return FALSE;
    if (id.length != sizeof oid_subject_alt_name ||
        memcmp(id.value, oid_subject_alt_name, sizeof oid_subject_alt_name) != 0)
      continue;
    /* RFC 5280 4.2: one instance of an extension at most. */
    if (seen_san)
      return fail(error, ES10_ERROR_INVALID_VALUE, "subjectAltName twice");
    seen_san = TRUE;
    if (!find_registered_id(&value, &found, error))
      return FALSE;
  }
  if (local) {
    g_propagate_prefixed_error(error, local, "Certificate: extensions: ");
    return FALSE;
  }
  *oid = g_steal_pointer(&found);
  return TRUE;
}
