/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pieces every ES10 request and response type is built from: the
 * primitive readers and writers (BIT STRING, UTF8String, VersionType,
 * unsigned numbers), hex, profile identifiers and MCC/MNC, the names of the
 * enums, and the one table-driven SEQUENCE decoder.
 */
#include "es10/es10-private.h"

#include <string.h>

/* ---- Primitive readers and writers -------------------------------------- */

gboolean es10_get_bits(const Tlv *tlv, guint32 *out, GError **error)
{
  guint32 bits = 0;
  guint unused;

  if (tlv->length == 0) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "BIT STRING %X with no content", tlv->tag);
    return FALSE;
  }
  unused = tlv->value[0];
  /* X.690 8.6.2.2/8.6.2.3: 0..7 unused bits, none when there is no bit at all. */
  if (unused > 7 || (tlv->length == 1 && unused != 0)) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "BIT STRING %X with %u unused bits",
                tlv->tag, unused);
    return FALSE;
  }
  for (gsize i = 1; i < tlv->length && i <= 4; i++) {
    for (guint b = 0; b < 8; b++) {
      if (i == tlv->length - 1 && b >= 8 - unused)
        break;
      if (tlv->value[i] & (0x80 >> b))
        bits |= 1u << ((i - 1) * 8 + b);
    }
  }
  *out = bits;
  return TRUE;
}

void es10_put_bits(TlvWriter *w, guint32 tag, guint32 bits)
{
  guint8 v[5] = {0};
  guint highest = 0, n;

  if (bits == 0) {
    tlv_writer_put(w, tag, v, 1);
    return;
  }
  for (guint b = 0; b < 32; b++) {
    if (bits & (1u << b)) {
      highest = b;
      v[1 + b / 8] |= 0x80 >> (b % 8);
    }
  }
  n = highest / 8 + 1;
  v[0] = (guint8)(7 - highest % 8);
  tlv_writer_put(w, tag, v, n + 1);
}

/* what names a caller's argument (an encoder's check); NULL for a card's field. */
static gboolean check_utf8(const char *s, gsize len, gsize max_chars, const char *what, guint32 tag,
                           GError **error)
{
  if (memchr(s, 0, len) || !g_utf8_validate_len(s, len, NULL)) {
    if (what)
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "%s is not valid UTF-8", what);
    else
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "UTF8String %X is not valid UTF-8",
                  tag);
    return FALSE;
  }
  if (max_chars && (gsize)g_utf8_strlen(s, (gssize)len) > max_chars) {
    if (what)
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                  "%s is longer than %zu characters", what, max_chars);
    else
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE,
                  "UTF8String %X is longer than %zu characters", tag, max_chars);
    return FALSE;
  }
  return TRUE;
}

gboolean es10_get_utf8(const Tlv *tlv, gsize max_chars, gchar **out, GError **error)
{
  if (!check_utf8((const char *)tlv->value, tlv->length, max_chars, NULL, tlv->tag, error))
    return FALSE;
  *out = g_strndup((const char *)tlv->value, tlv->length);
  return TRUE;
}

gboolean es10_check_utf8_arg(const char *what, const char *s, gsize max_chars, GError **error)
{
  if (!s) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "%s is missing", what);
    return FALSE;
  }
  return check_utf8(s, strlen(s), max_chars, what, 0, error);
}

gboolean es10_get_version(const Tlv *tlv, Es10Version *out, GError **error)
{
  if (tlv->length != 3) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "VersionType %X of %zu bytes, not 3",
                tlv->tag, tlv->length);
    return FALSE;
  }
  out->major = tlv->value[0];
  out->minor = tlv->value[1];
  out->revision = tlv->value[2];
  return TRUE;
}

gboolean es10_get_unsigned(const Tlv *tlv, guint64 *out, GError **error)
{
  guint64 v = 0;

  if (tlv->length == 0 || tlv->length > 8) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "number %X of %zu bytes", tlv->tag,
                tlv->length);
    return FALSE;
  }
  for (gsize i = 0; i < tlv->length; i++)
    v = (v << 8) | tlv->value[i];
  *out = v;
  return TRUE;
}

gchar *es10_version_to_string(const Es10Version *v)
{
  return g_strdup_printf("%u.%u.%u", v->major, v->minor, v->revision);
}

/* X.690 8.19: the first two arcs share one subidentifier; no 0x80 padding. */
gchar *es10_oid_to_string(const guint8 *p, gsize len)
{
  g_autoptr(GString) s = g_string_new(NULL);
  guint64 v = 0;
  gboolean first = TRUE;

  if (len == 0 || (p[len - 1] & 0x80))
    return NULL;
  for (gsize i = 0; i < len; i++) {
    /* X.690 8.19.2: no padding 0x80 at the start of a subidentifier. */
    if (v == 0 && p[i] == 0x80)
      return NULL;
    if (v > (G_MAXUINT64 >> 7))
      return NULL;
    v = (v << 7) | (p[i] & 0x7F);
    if (p[i] & 0x80)
      continue;
    if (first) {
      guint64 arc1 = v < 40 ? 0 : v < 80 ? 1 : 2;
      g_string_append_printf(s, "%" G_GUINT64_FORMAT ".%" G_GUINT64_FORMAT, arc1, v - arc1 * 40);
      first = FALSE;
    } else {
      g_string_append_printf(s, ".%" G_GUINT64_FORMAT, v);
    }
    v = 0;
  }
  return g_string_free(g_steal_pointer(&s), FALSE);
}

/* ---- Hex ---------------------------------------------------------------- */

gchar *es10_hex_encode(const guint8 *data, gsize len)
{
  static const char digits[] = "0123456789ABCDEF";
  gchar *s = g_malloc(len * 2 + 1);

  for (gsize i = 0; i < len; i++) {
    s[2 * i] = digits[data[i] >> 4];
    s[2 * i + 1] = digits[data[i] & 0xF];
  }
  s[len * 2] = '\0';
  return s;
}

GBytes *es10_hex_decode(const char *hex, GError **error)
{
  gsize n;
  guint8 *out;

  if (!hex) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "no hex string");
    return NULL;
  }
  n = strlen(hex);
  if (n % 2) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "hex string of odd length %zu", n);
    return NULL;
  }
  out = g_malloc(n / 2 + 1);
  for (gsize i = 0; i < n / 2; i++) {
    int hi = g_ascii_xdigit_value(hex[2 * i]);
    int lo = g_ascii_xdigit_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      g_free(out);
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "not a hex digit at position %zu",
                  hi < 0 ? 2 * i : 2 * i + 1);
      return NULL;
    }
    out[i] = (guint8)(hi << 4 | lo);
  }
  return g_bytes_new_take(out, n / 2);
}

/* ---- Profile identifiers, MCC/MNC --------------------------------------- */

gboolean es10_put_profile_id(TlvWriter *w, Es10ProfileIdType type, const char *id, GError **error)
{
  guint8 bcd[ICCID_BCD_LEN];
  g_autoptr(GBytes) aid = NULL;

  switch (type) {
  case ES10_PROFILE_ID_ICCID:
    if (!iccid_to_bcd(id, bcd, error))
      return FALSE;
    tlv_writer_put(w, ES10_TAG_ICCID, bcd, sizeof(bcd));
    return TRUE;
  case ES10_PROFILE_ID_ISDP_AID:
    aid = es10_hex_decode(id, error);
    if (!aid)
      return FALSE;
    /* OctetTo16: an AID is 1..16 bytes (ISO 7816-4 8.2.1.2 says 5..16). */
    if (g_bytes_get_size(aid) < 1 || g_bytes_get_size(aid) > 16) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                  "ISD-P AID of %zu bytes, not 1 to 16", g_bytes_get_size(aid));
      return FALSE;
    }
    tlv_writer_put(w, ES10_TAG_ISDP_AID, g_bytes_get_data(aid, NULL), g_bytes_get_size(aid));
    return TRUE;
  }
  g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "unknown profile identifier type");
  return FALSE;
}

/* 3GPP TS 24.008 10.5.1.13: MCC digit 2|1, MNC digit 3|MCC digit 3, MNC digit 2|1. The
 * SGP.22 RAT (2.9.2) lets 'E' stand for any digit. */
static int mcc_mnc_nibble(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c == 'E' || c == 'e')
    return 0xE;
  return -1;
}

gboolean es10_mcc_mnc_to_bytes(const char *mcc_mnc, guint8 out[3], GError **error)
{
  int d[6];
  gsize n = mcc_mnc ? strlen(mcc_mnc) : 0;

  if (n != 5 && n != 6) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "MCC/MNC must have 5 or 6 digits");
    return FALSE;
  }
  for (gsize i = 0; i < n; i++) {
    d[i] = mcc_mnc_nibble(mcc_mnc[i]);
    if (d[i] < 0) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                  "MCC/MNC \"%s\" has a character that is no digit", mcc_mnc);
      return FALSE;
    }
  }
  if (n == 5)
    d[5] = 0xF;
  out[0] = (guint8)(d[1] << 4 | d[0]);
  out[1] = (guint8)(d[5] << 4 | d[2]);
  out[2] = (guint8)(d[4] << 4 | d[3]);
  return TRUE;
}

gchar *es10_mcc_mnc_from_bytes(const guint8 *bytes, gsize len, GError **error)
{
  guint8 d[6];
  gchar s[7];
  gsize n = 6;

  if (len != 3) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "mccMnc of %zu bytes, not 3", len);
    return NULL;
  }
  d[0] = bytes[0] & 0xF;
  d[1] = bytes[0] >> 4;
  d[2] = bytes[1] & 0xF;
  d[3] = bytes[2] & 0xF;
  d[4] = bytes[2] >> 4;
  d[5] = bytes[1] >> 4;
  if (d[5] == 0xF)
    n = 5;
  for (gsize i = 0; i < n; i++) {
    if (d[i] == 0xE) {
      s[i] = 'E';
    } else if (d[i] > 9) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "mccMnc %02X%02X%02X is not BCD",
                  bytes[0], bytes[1], bytes[2]);
      return NULL;
    } else {
      s[i] = (gchar)('0' + d[i]);
    }
  }
  s[n] = '\0';
  return g_strdup(s);
}

/* ---- Names -------------------------------------------------------------- */

const char *es10_notification_event_to_string(guint32 event)
{
  switch (event) {
  case ES10_NOTIFICATION_INSTALL:
    return "install";
  case ES10_NOTIFICATION_ENABLE:
    return "enable";
  case ES10_NOTIFICATION_DISABLE:
    return "disable";
  case ES10_NOTIFICATION_DELETE:
    return "delete";
  default:
    return "unknown";
  }
}

const char *es10_profile_state_to_string(Es10ProfileState state)
{
  switch (state) {
  case ES10_PROFILE_STATE_DISABLED:
    return "disabled";
  case ES10_PROFILE_STATE_ENABLED:
    return "enabled";
  }
  return "unknown";
}

const char *es10_profile_class_to_string(Es10ProfileClass cls)
{
  switch (cls) {
  case ES10_PROFILE_CLASS_TEST:
    return "test";
  case ES10_PROFILE_CLASS_PROVISIONING:
    return "provisioning";
  case ES10_PROFILE_CLASS_OPERATIONAL:
    return "operational";
  }
  return "unknown";
}

const char *es10_icon_type_to_string(Es10IconType type)
{
  switch (type) {
  case ES10_ICON_TYPE_JPG:
    return "jpg";
  case ES10_ICON_TYPE_PNG:
    return "png";
  }
  return "unknown";
}

const char *es10_euicc_category_to_string(guint category)
{
  switch (category) {
  case ES10_EUICC_CATEGORY_OTHER:
    return "other";
  case ES10_EUICC_CATEGORY_BASIC:
    return "basicEuicc";
  case ES10_EUICC_CATEGORY_MEDIUM:
    return "mediumEuicc";
  case ES10_EUICC_CATEGORY_CONTACTLESS:
    return "contactlessEuicc";
  default:
    return "unknown";
  }
}

/* ---- The table-driven SEQUENCE decoder ---------------------------------- */

static gboolean decode_field(const Es10Field *f, const Tlv *tlv, guint8 *base, GError **error)
{
  /* No struct to fill (a response only checked): custom fields only. */
  gpointer slot = base ? base + f->offset : NULL;
  guint64 v;
  guint32 bits;
  guint u;

  switch (f->kind) {
  case ES10_FIELD_UTF8:
    return es10_get_utf8(tlv, f->max, (gchar **)slot, error);
  case ES10_FIELD_HEX:
  case ES10_FIELD_BYTES:
    if (tlv->length < f->min || (f->max && tlv->length > f->max)) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "%zu bytes is out of range",
                  tlv->length);
      return FALSE;
    }
    if (f->kind == ES10_FIELD_HEX)
      *(gchar **)slot = es10_hex_encode(tlv->value, tlv->length);
    else
      *(GBytes **)slot = g_bytes_new(tlv->value, tlv->length);
    return TRUE;
  case ES10_FIELD_ICCID:
    *(gchar **)slot = iccid_from_bcd(tlv->value, tlv->length, error);
    return *(gchar **)slot != NULL;
  case ES10_FIELD_VERSION:
    return es10_get_version(tlv, (Es10Version *)slot, error);
  case ES10_FIELD_UINT:
    if (!tlv_get_uint(tlv, &v, error))
      return FALSE;
    if (v > (f->max ? f->max : G_MAXUINT)) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE,
                  "value %" G_GUINT64_FORMAT " out of range", v);
      return FALSE;
    }
    u = (guint)v;
    memcpy(slot, &u, sizeof(u));
    return TRUE;
  case ES10_FIELD_BITS:
    if (!es10_get_bits(tlv, &bits, error))
      return FALSE;
    memcpy(slot, &bits, sizeof(bits));
    return TRUE;
  case ES10_FIELD_PKIDS:
    return es10_decode_pkid_list(tlv, (GPtrArray **)slot, error);
  case ES10_FIELD_CUSTOM:
    return f->custom(tlv, base, error);
  }
  g_assert_not_reached();
}

gboolean es10_decode_fields(const Tlv *seq, const char *type_name, const Es10Field *fields,
                            gsize n_fields, gpointer out, GError **error)
{
  guint8 *base = out;
  guint64 seen = 0;
  TlvIter iter;
  Tlv child;
  GError *local = NULL;

  g_assert(n_fields <= 64);

  if (!tlv_tag_is_constructed(seq->tag)) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "%s is not constructed", type_name);
    return FALSE;
  }
  if (!tlv_iter_init(&iter, seq, error))
    return FALSE;
  while (tlv_iter_next(&iter, &child, &local)) {
    gsize i;

    for (i = 0; i < n_fields; i++) {
      if (fields[i].tag == child.tag)
        break;
    }
    if (i == n_fields)
      continue; /* a field of a later version, or an extension addition */
    if (seen & (G_GUINT64_CONSTANT(1) << i)) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "%s: %s given twice", type_name,
                  fields[i].name);
      return FALSE;
    }
    seen |= G_GUINT64_CONSTANT(1) << i;
    if (!decode_field(&fields[i], &child, base, &local)) {
      g_propagate_prefixed_error(error, local, "%s.%s: ", type_name, fields[i].name);
      return FALSE;
    }
    if (fields[i].present_offset != ES10_NO_FLAG)
      *(gboolean *)(base + fields[i].present_offset) = TRUE;
  }
  if (local) {
    g_propagate_prefixed_error(error, local, "%s: ", type_name);
    return FALSE;
  }
  for (gsize i = 0; i < n_fields; i++) {
    if (fields[i].mandatory && !(seen & (G_GUINT64_CONSTANT(1) << i))) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD, "%s without %s", type_name,
                  fields[i].name);
      return FALSE;
    }
  }
  return TRUE;
}

gboolean es10_decode_sequence_of(const Tlv *tlv, guint32 item_tag, const char *item_name,
                                 Es10ItemDecodeFunc decode, GDestroyNotify free_item,
                                 GPtrArray **out, GError **error)
{
  g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(free_item);
  TlvIter iter;
  Tlv item;
  GError *local = NULL;

  if (!tlv_iter_init(&iter, tlv, error))
    return FALSE;
  while (tlv_iter_next(&iter, &item, &local)) {
    gpointer decoded;

    if (item.tag != item_tag) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG, "%s with tag %X", item_name,
                  item.tag);
      return FALSE;
    }
    decoded = decode(&item, error);
    if (!decoded)
      return FALSE;
    g_ptr_array_add(list, decoded);
  }
  if (local) {
    g_propagate_error(error, local);
    return FALSE;
  }
  *out = g_steal_pointer(&list);
  return TRUE;
}
