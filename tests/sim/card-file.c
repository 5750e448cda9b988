/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "card-file.h"

#include <string.h>

#include "euicc-sim.h"

/* The sections of a card file; everything before the first header is the card. */
typedef enum {
  SECTION_CARD,
  SECTION_PROFILE,
  SECTION_NOTIFICATION,
} Section;

typedef struct {
  SimCard *card;
  Section section;
  guint section_line;
  guint line;
} Parser;

static const char *const event_names[] = {"install", "enable", "disable", "delete", NULL};
static const char *const ppr_names[] = {"ppr-update-control", "ppr1", "ppr2", "ppr3", NULL};
static const char *const rsp_capability_names[] = {"additional-profile", "crl-support",
                                                   "rpm-support", "test-profile-support", NULL};
static const char *const uicc_capability_names[] = {
    "contactless", "usim",          "isim",          "csim",          "aka-milenage",
    "aka-cave",    "aka-tuak128",   "aka-tuak256",   "rfu1",          "rfu2",
    "gba-usim",    "gba-isim",      "mbms-usim",     "eap-client",    "javacard",
    "multos",      "multiple-usim", "multiple-isim", "multiple-csim", NULL};

void sim_profile_free(SimProfile *p)
{
  if (!p)
    return;
  g_free(p->iccid);
  g_free(p->name);
  g_free(p->provider);
  g_free(p->nickname);
  g_clear_pointer(&p->icon, g_bytes_unref);
  for (guint i = 0; i < SIM_EVENT_COUNT; i++)
    g_free(p->notify_address[i]);
  g_free(p);
}

void sim_notification_free(SimNotification *n)
{
  if (!n)
    return;
  g_free(n->address);
  g_free(n->iccid);
  g_clear_pointer(&n->pir, g_bytes_unref);
  g_free(n);
}

static void rat_rule_free(SimRatRule *r)
{
  g_ptr_array_unref(r->operators);
  g_free(r);
}

void sim_card_free(SimCard *card)
{
  if (!card)
    return;
  g_free(card->eid);
  g_free(card->plain_iccid);
  g_ptr_array_unref(card->alt_aids);
  g_free(card->default_smdp);
  g_free(card->root_smds);
  g_free(card->sas_accreditation);
  g_free(card->pki_dir);
  g_ptr_array_unref(card->ci_pkids);
  g_ptr_array_unref(card->rat);
  g_ptr_array_unref(card->profiles);
  g_ptr_array_unref(card->notifications);
  g_free(card);
}

gboolean sim_iccid_to_bcd(const char *digits, guint8 out[10])
{
  gsize n = strlen(digits);

  /* E.118 allows up to 20 digits; 18 and 19 digit ICCIDs are padded with F. */
  if (n < 18 || n > 20)
    return FALSE;
  memset(out, 0xFF, 10);
  for (gsize i = 0; i < n; i++) {
    guint8 d;
    if (!g_ascii_isdigit(digits[i]))
      return FALSE;
    d = (guint8)(digits[i] - '0');
    if (i % 2 == 0)
      out[i / 2] = (guint8)((out[i / 2] & 0xF0) | d);
    else
      out[i / 2] = (guint8)((out[i / 2] & 0x0F) | (d << 4));
  }
  return TRUE;
}

char *sim_iccid_from_bcd(const guint8 bcd[10])
{
  GString *s = g_string_new(NULL);

  for (gsize i = 0; i < 20; i++) {
    guint8 d = i % 2 == 0 ? bcd[i / 2] & 0x0F : bcd[i / 2] >> 4;
    if (d > 9)
      break;
    g_string_append_c(s, (char)('0' + d));
  }
  return g_string_free(s, FALSE);
}

static GBytes *hex_to_bytes(const char *hex)
{
  GByteArray *out = g_byte_array_new();
  int hi = -1;

  for (const char *p = hex; *p; p++) {
    int v;
    if (*p == ' ' || *p == ':')
      continue;
    v = g_ascii_xdigit_value(*p);
    if (v < 0) {
      g_byte_array_unref(out);
      return NULL;
    }
    if (hi < 0) {
      hi = v;
    } else {
      guint8 b = (guint8)(hi << 4 | v);
      g_byte_array_append(out, &b, 1);
      hi = -1;
    }
  }
  if (hi >= 0) {
    g_byte_array_unref(out);
    return NULL;
  }
  return g_byte_array_free_to_bytes(out);
}

static guint32 crc32_update(guint32 crc, const guint8 *p, gsize n)
{
  /* PNG's CRC (ISO 3309), bit by bit: the icons are small. */
  crc = ~crc;
  for (gsize i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  return ~crc;
}

static void put_be32(GByteArray *a, guint32 v)
{
  guint8 b[4] = {(guint8)(v >> 24), (guint8)(v >> 16), (guint8)(v >> 8), (guint8)v};
  g_byte_array_append(a, b, 4);
}

static void png_chunk(GByteArray *png, const char *type, const guint8 *data, gsize len)
{
  guint32 crc;

  put_be32(png, (guint32)len);
  g_byte_array_append(png, (const guint8 *)type, 4);
  if (len)
    g_byte_array_append(png, data, len);
  crc = crc32_update(0, (const guint8 *)type, 4);
  crc = crc32_update(crc, data, len);
  put_be32(png, crc);
}

/*
 * A 64x64 single-colour PNG (the icon size SGP.22 names for StoreMetadata):
 * one palette entry, one bit per pixel, stored (uncompressed) deflate so that
 * it needs no zlib and stays well under the 1024-byte limit of rsp.asn.
 */
static GBytes *png_solid(guint8 r, guint8 g, guint8 b)
{
  static const guint8 signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  const guint size = 64, row = 1 + size / 8;
  guint8 ihdr[13] = {0, 0, 0, 64, 0, 0, 0, 64, 1 /* depth */, 3 /* palette */, 0, 0, 0};
  guint8 plte[3] = {r, g, b};
  g_autoptr(GByteArray) raw = g_byte_array_new();
  g_autoptr(GByteArray) z = g_byte_array_new();
  GByteArray *png = g_byte_array_new();
  guint32 s1 = 1, s2 = 0;
  guint8 hdr[5];

  g_byte_array_set_size(raw, size * row);
  memset(raw->data, 0, raw->len); /* filter byte 0, every pixel palette index 0 */
  for (guint i = 0; i < raw->len; i++) {
    s1 = (s1 + raw->data[i]) % 65521;
    s2 = (s2 + s1) % 65521;
  }
  g_byte_array_append(z, (const guint8 *)"\x78\x01", 2);
  hdr[0] = 1; /* final stored block */
  hdr[1] = (guint8)(raw->len & 0xFF);
  hdr[2] = (guint8)(raw->len >> 8);
  hdr[3] = (guint8)~hdr[1];
  hdr[4] = (guint8)~hdr[2];
  g_byte_array_append(z, hdr, 5);
  g_byte_array_append(z, raw->data, raw->len);
  put_be32(z, s2 << 16 | s1);

  g_byte_array_append(png, signature, 8);
  png_chunk(png, "IHDR", ihdr, sizeof(ihdr));
  png_chunk(png, "PLTE", plte, sizeof(plte));
  png_chunk(png, "IDAT", z->data, z->len);
  png_chunk(png, "IEND", NULL, 0);
  return g_byte_array_free_to_bytes(png);
}

static gboolean fail(Parser *p, GError **error, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean fail(Parser *p, GError **error, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start(ap, fmt);
  msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE, "line %u: %s", p->line, msg);
  return FALSE;
}

static gboolean parse_uint(Parser *p, const char *key, const char *value, guint max, guint *out,
                           GError **error)
{
  guint64 v;

  if (!g_ascii_string_to_unsigned(value, 10, 0, max, &v, NULL))
    return fail(p, error, "%s wants a number from 0 to %u, not \"%s\"", key, max, value);
  *out = (guint)v;
  return TRUE;
}

static gboolean parse_bool(Parser *p, const char *key, const char *value, gboolean *out,
                           GError **error)
{
  if (g_str_equal(value, "yes") || g_str_equal(value, "true")) {
    *out = TRUE;
    return TRUE;
  }
  if (g_str_equal(value, "no") || g_str_equal(value, "false")) {
    *out = FALSE;
    return TRUE;
  }
  return fail(p, error, "%s wants yes or no, not \"%s\"", key, value);
}

static gboolean parse_version(Parser *p, const char *key, const char *value, guint8 out[3],
                              GError **error)
{
  g_auto(GStrv) parts = g_strsplit(value, ".", -1);
  guint64 v;

  if (g_strv_length(parts) != 3)
    return fail(p, error, "%s wants a version like 2.2.2, not \"%s\"", key, value);
  for (int i = 0; i < 3; i++) {
    if (!g_ascii_string_to_unsigned(parts[i], 10, 0, 255, &v, NULL))
      return fail(p, error, "%s wants a version like 2.2.2, not \"%s\"", key, value);
    out[i] = (guint8)v;
  }
  return TRUE;
}

/* A comma-separated list of names from the table, as bit numbers. */
static gboolean parse_bits(Parser *p, const char *key, const char *value, const char *const *names,
                           guint32 *out, GError **error)
{
  g_auto(GStrv) parts = g_strsplit(value, ",", -1);

  *out = 0;
  if (g_str_equal(value, "none"))
    return TRUE;
  for (int i = 0; parts[i]; i++) {
    const char *name = g_strstrip(parts[i]);
    int bit = -1;
    for (int k = 0; names[k]; k++) {
      if (g_str_equal(names[k], name))
        bit = k;
    }
    if (bit < 0)
      return fail(p, error, "%s: unknown name \"%s\"", key, name);
    *out |= 1u << bit;
  }
  return TRUE;
}

static gboolean parse_aid(Parser *p, const char *key, const char *value, guint8 out[16], gsize *len,
                          GError **error)
{
  g_autoptr(GBytes) b = hex_to_bytes(value);

  /* ISO 7816-4 / ISO 7816-5: an AID has 5 to 16 bytes. */
  if (!b || g_bytes_get_size(b) < 5 || g_bytes_get_size(b) > 16)
    return fail(p, error, "%s wants an AID of 5 to 16 bytes in hex, not \"%s\"", key, value);
  memcpy(out, g_bytes_get_data(b, NULL), g_bytes_get_size(b));
  *len = g_bytes_get_size(b);
  return TRUE;
}

/* "310410" or "23415" (MCC then MNC), 'E' allowed as the RAT's wildcard digit. */
static gboolean mccmnc_to_bytes(const char *s, guint8 out[3])
{
  guint8 d[6];
  gsize n = strlen(s);

  if (n != 5 && n != 6)
    return FALSE;
  for (gsize i = 0; i < n; i++) {
    if (g_ascii_isdigit(s[i]))
      d[i] = (guint8)(s[i] - '0');
    else if (s[i] == 'E' || s[i] == 'e')
      d[i] = 0xE;
    else
      return FALSE;
  }
  if (n == 5)
    d[5] = 0xF; /* two-digit MNC: the third MNC digit is F (3GPP TS 24.008) */
  out[0] = (guint8)(d[1] << 4 | d[0]);
  out[1] = (guint8)((n == 5 ? 0xF : d[5]) << 4 | d[2]);
  out[2] = (guint8)(d[4] << 4 | d[3]);
  return TRUE;
}

static gboolean parse_rat_rule(Parser *p, const char *value, GError **error)
{
  g_auto(GStrv) parts = g_strsplit_set(value, " \t", -1);
  g_autoptr(GPtrArray) words = g_ptr_array_new();
  SimRatRule *rule;
  g_auto(GStrv) ops = NULL;

  for (int i = 0; parts[i]; i++) {
    if (*parts[i])
      g_ptr_array_add(words, parts[i]);
  }
  if (words->len < 2 || words->len > 3 ||
      (words->len == 3 && !g_str_equal(words->pdata[2], "consent")))
    return fail(p, error, "rat-rule wants \"PPRS OPERATORS [consent]\"");
  rule = g_new0(SimRatRule, 1);
  rule->operators = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  rule->consent_required = words->len == 3;
  g_ptr_array_add(p->card->rat, rule);
  if (!parse_bits(p, "rat-rule", words->pdata[0], ppr_names, &rule->pprs, error))
    return FALSE;
  ops = g_strsplit(words->pdata[1], ",", -1);
  for (int i = 0; ops[i]; i++) {
    guint8 b[3];
    if (!mccmnc_to_bytes(ops[i], b))
      return fail(p, error, "rat-rule: \"%s\" is no MCC+MNC", ops[i]);
    g_ptr_array_add(rule->operators, g_bytes_new(b, 3));
  }
  return TRUE;
}

static gboolean parse_event(Parser *p, const char *value, SimEvent *out, GError **error)
{
  for (int k = 0; event_names[k]; k++) {
    if (g_str_equal(event_names[k], value)) {
      *out = (SimEvent)k;
      return TRUE;
    }
  }
  return fail(p, error, "unknown event \"%s\" (install, enable, disable, delete)", value);
}

static gboolean card_key(Parser *p, const char *key, const char *value, GError **error)
{
  SimCard *c = p->card;
  guint v = 0;

  if (g_str_equal(key, "type")) {
    if (g_str_equal(value, "euicc"))
      c->euicc = TRUE;
    else if (g_str_equal(value, "plain"))
      c->euicc = FALSE;
    else
      return fail(p, error, "type is euicc or plain, not \"%s\"", value);
  } else if (g_str_equal(key, "eid")) {
    /* SGP.29: 32 decimal digits, starting 89 */
    if (strlen(value) != 32 || strspn(value, "0123456789") != 32)
      return fail(p, error, "eid wants 32 decimal digits, not \"%s\"", value);
    g_free(c->eid);
    c->eid = g_ascii_strup(value, -1);
  } else if (g_str_equal(key, "iccid")) {
    guint8 bcd[10];
    if (!sim_iccid_to_bcd(value, bcd))
      return fail(p, error, "iccid wants 18 to 20 digits, not \"%s\"", value);
    g_free(c->plain_iccid);
    c->plain_iccid = g_strdup(value);
  } else if (g_str_equal(key, "gsma-isdr")) {
    return parse_bool(p, key, value, &c->gsma_isdr, error);
  } else if (g_str_equal(key, "isdr-aid")) {
    guint8 aid[16];
    gsize len;
    if (!parse_aid(p, key, value, aid, &len, error))
      return FALSE;
    g_ptr_array_add(c->alt_aids, g_bytes_new(aid, len));
  } else if (g_str_equal(key, "max-channels")) {
    return parse_uint(p, key, value, 19, &c->max_channels, error);
  } else if (g_str_equal(key, "default-smdp")) {
    g_free(c->default_smdp);
    c->default_smdp = g_strdup(value);
  } else if (g_str_equal(key, "root-smds")) {
    g_free(c->root_smds);
    c->root_smds = g_strdup(value);
  } else if (g_str_equal(key, "svn")) {
    return parse_version(p, key, value, c->svn, error);
  } else if (g_str_equal(key, "profile-version")) {
    return parse_version(p, key, value, c->profile_version, error);
  } else if (g_str_equal(key, "firmware-version")) {
    return parse_version(p, key, value, c->firmware_version, error);
  } else if (g_str_equal(key, "javacard-version")) {
    return parse_version(p, key, value, c->javacard_version, error);
  } else if (g_str_equal(key, "globalplatform-version")) {
    return parse_version(p, key, value, c->gp_version, error);
  } else if (g_str_equal(key, "pp-version")) {
    return parse_version(p, key, value, c->pp_version, error);
  } else if (g_str_equal(key, "sas-accreditation")) {
    if (strlen(value) > 64)
      return fail(p, error, "sas-accreditation is longer than 64 bytes");
    g_free(c->sas_accreditation);
    c->sas_accreditation = g_strdup(value);
  } else if (g_str_equal(key, "category")) {
    if (g_str_equal(value, "none")) {
      c->category = -1;
      return TRUE;
    }
    if (!parse_uint(p, key, value, 3, &v, error))
      return FALSE;
    c->category = (int)v;
  } else if (g_str_equal(key, "installed-applications")) {
    return parse_uint(p, key, value, G_MAXUINT32, &c->installed_applications, error);
  } else if (g_str_equal(key, "free-nv-memory")) {
    return parse_uint(p, key, value, G_MAXUINT32, &c->free_nv_memory, error);
  } else if (g_str_equal(key, "free-volatile-memory")) {
    return parse_uint(p, key, value, G_MAXUINT32, &c->free_volatile_memory, error);
  } else if (g_str_equal(key, "max-profiles")) {
    return parse_uint(p, key, value, 1000, &c->max_profiles, error);
  } else if (g_str_equal(key, "pki")) {
    g_free(c->pki_dir);
    c->pki_dir = g_strdup(value);
  } else if (g_str_equal(key, "uicc-capability")) {
    return parse_bits(p, key, value, uicc_capability_names, &c->uicc_capability, error);
  } else if (g_str_equal(key, "rsp-capability")) {
    return parse_bits(p, key, value, rsp_capability_names, &c->rsp_capability, error);
  } else if (g_str_equal(key, "forbidden-pprs")) {
    return parse_bits(p, key, value, ppr_names, &c->forbidden_pprs, error);
  } else if (g_str_equal(key, "ci-pkid")) {
    GBytes *b = hex_to_bytes(value);
    if (!b || g_bytes_get_size(b) == 0)
      return fail(p, error, "ci-pkid wants a key identifier in hex");
    g_ptr_array_add(c->ci_pkids, b);
  } else if (g_str_equal(key, "rat-rule")) {
    return parse_rat_rule(p, value, error);
  } else if (g_str_equal(key, "notify-always")) {
    return parse_bool(p, key, value, &c->notify_always, error);
  } else if (g_str_equal(key, "next-seq")) {
    return parse_uint(p, key, value, G_MAXINT32, &c->next_seq, error);
  } else {
    return fail(p, error, "unknown key \"%s\"", key);
  }
  return TRUE;
}

static gboolean profile_key(Parser *p, const char *key, const char *value, GError **error)
{
  SimProfile *pr = g_ptr_array_index(p->card->profiles, p->card->profiles->len - 1);

  if (g_str_equal(key, "iccid")) {
    if (!sim_iccid_to_bcd(value, pr->iccid_bcd))
      return fail(p, error, "iccid wants 18 to 20 digits, not \"%s\"", value);
    g_free(pr->iccid);
    pr->iccid = g_strdup(value);
  } else if (g_str_equal(key, "isdp-aid")) {
    return parse_aid(p, key, value, pr->aid, &pr->aid_len, error);
  } else if (g_str_equal(key, "state")) {
    if (g_str_equal(value, "enabled"))
      pr->enabled = TRUE;
    else if (g_str_equal(value, "disabled"))
      pr->enabled = FALSE;
    else
      return fail(p, error, "state is enabled or disabled, not \"%s\"", value);
  } else if (g_str_equal(key, "name")) {
    if (strlen(value) > 64)
      return fail(p, error, "name is longer than 64 bytes");
    g_free(pr->name);
    pr->name = g_strdup(value);
  } else if (g_str_equal(key, "provider")) {
    if (strlen(value) > 32)
      return fail(p, error, "provider is longer than 32 bytes");
    g_free(pr->provider);
    pr->provider = g_strdup(value);
  } else if (g_str_equal(key, "nickname")) {
    if (strlen(value) > 64)
      return fail(p, error, "nickname is longer than 64 bytes");
    g_free(pr->nickname);
    pr->nickname = g_strdup(value);
  } else if (g_str_equal(key, "class")) {
    if (g_str_equal(value, "test"))
      pr->klass = SIM_CLASS_TEST;
    else if (g_str_equal(value, "provisioning"))
      pr->klass = SIM_CLASS_PROVISIONING;
    else if (g_str_equal(value, "operational"))
      pr->klass = SIM_CLASS_OPERATIONAL;
    else
      return fail(p, error, "class is test, provisioning or operational, not \"%s\"", value);
  } else if (g_str_equal(key, "preloaded")) {
    return parse_bool(p, key, value, &pr->preloaded, error);
  } else if (g_str_equal(key, "owner")) {
    if (!mccmnc_to_bytes(value, pr->owner_mccmnc) || strchr(value, 'E') || strchr(value, 'e'))
      return fail(p, error, "owner wants MCC and MNC digits like 310410, not \"%s\"", value);
    pr->has_owner = TRUE;
  } else if (g_str_equal(key, "icon-type")) {
    if (g_str_equal(value, "jpg"))
      pr->icon_type = 0;
    else if (g_str_equal(value, "png"))
      pr->icon_type = 1;
    else
      return fail(p, error, "icon-type is jpg or png, not \"%s\"", value);
  } else if (g_str_equal(key, "icon")) {
    GBytes *b = hex_to_bytes(value);
    if (!b || g_bytes_get_size(b) > 1024) {
      g_clear_pointer(&b, g_bytes_unref);
      return fail(p, error, "icon wants at most 1024 bytes in hex");
    }
    g_clear_pointer(&pr->icon, g_bytes_unref);
    pr->icon = b;
  } else if (g_str_equal(key, "icon-png")) {
    g_autoptr(GBytes) rgb = hex_to_bytes(value);
    const guint8 *c;
    if (!rgb || g_bytes_get_size(rgb) != 3)
      return fail(p, error, "icon-png wants a colour as RRGGBB, not \"%s\"", value);
    c = g_bytes_get_data(rgb, NULL);
    g_clear_pointer(&pr->icon, g_bytes_unref);
    pr->icon = png_solid(c[0], c[1], c[2]);
    pr->icon_type = 1;
  } else if (g_str_equal(key, "notify")) {
    /* "notify EVENT[,EVENT...] ADDRESS" */
    const char *space = strpbrk(value, " \t");
    g_autofree char *events = NULL;
    g_auto(GStrv) list = NULL;
    if (!space)
      return fail(p, error, "notify wants \"EVENTS ADDRESS\"");
    events = g_strndup(value, (gsize)(space - value));
    list = g_strsplit(events, ",", -1);
    for (int i = 0; list[i]; i++) {
      SimEvent ev = SIM_EVENT_INSTALL;
      if (!parse_event(p, list[i], &ev, error))
        return FALSE;
      g_free(pr->notify_address[ev]);
      pr->notify_address[ev] = g_strstrip(g_strdup(space));
    }
  } else if (g_str_equal(key, "ppr")) {
    return parse_bits(p, key, value, ppr_names, &pr->pprs, error);
  } else {
    return fail(p, error, "unknown key \"%s\" in [profile]", key);
  }
  return TRUE;
}

static gboolean notification_key(Parser *p, const char *key, const char *value, GError **error)
{
  SimNotification *n = g_ptr_array_index(p->card->notifications, p->card->notifications->len - 1);

  if (g_str_equal(key, "seq")) {
    return parse_uint(p, key, value, G_MAXINT32, &n->seq, error);
  } else if (g_str_equal(key, "event")) {
    return parse_event(p, value, &n->event, error);
  } else if (g_str_equal(key, "address")) {
    g_free(n->address);
    n->address = g_strdup(value);
  } else if (g_str_equal(key, "iccid")) {
    if (!sim_iccid_to_bcd(value, n->iccid_bcd))
      return fail(p, error, "iccid wants 18 to 20 digits, not \"%s\"", value);
    g_free(n->iccid);
    n->iccid = g_strdup(value);
  } else if (g_str_equal(key, "isdp-aid")) {
    return parse_aid(p, key, value, n->aid, &n->aid_len, error);
  } else {
    return fail(p, error, "unknown key \"%s\" in [notification]", key);
  }
  return TRUE;
}

/* Checks that need the whole section: called when a section ends. */
static gboolean close_section(Parser *p, GError **error)
{
  SimCard *c = p->card;
  guint line = p->line;
  gboolean ok = TRUE;

  p->line = p->section_line;
  if (p->section == SECTION_PROFILE) {
    SimProfile *pr = g_ptr_array_index(c->profiles, c->profiles->len - 1);
    if (!pr->iccid)
      ok = fail(p, error, "[profile] without iccid");
    else if (pr->aid_len == 0)
      ok = fail(p, error, "[profile] without isdp-aid");
    for (guint i = 0; ok && i + 1 < c->profiles->len; i++) {
      SimProfile *o = g_ptr_array_index(c->profiles, i);
      if (memcmp(o->iccid_bcd, pr->iccid_bcd, 10) == 0)
        ok = fail(p, error, "[profile] repeats ICCID %s", pr->iccid);
      else if (o->aid_len == pr->aid_len && memcmp(o->aid, pr->aid, o->aid_len) == 0)
        ok = fail(p, error, "[profile] repeats the ISD-P AID of ICCID %s", o->iccid);
      else if (o->enabled && pr->enabled)
        ok = fail(p, error, "[profile] %s is enabled, but so is %s: at most one may be", pr->iccid,
                  o->iccid);
    }
  } else if (p->section == SECTION_NOTIFICATION) {
    SimNotification *n = g_ptr_array_index(c->notifications, c->notifications->len - 1);
    if (n->seq == G_MAXUINT)
      ok = fail(p, error, "[notification] without seq");
    else if (!n->address)
      ok = fail(p, error, "[notification] without address");
    else if (n->event == SIM_EVENT_INSTALL && (!n->iccid || n->aid_len == 0))
      ok = fail(p, error, "[notification] for install needs iccid and isdp-aid");
    for (guint i = 0; ok && i + 1 < c->notifications->len; i++) {
      SimNotification *o = g_ptr_array_index(c->notifications, i);
      if (o->seq == n->seq)
        ok = fail(p, error, "[notification] repeats seq %u", n->seq);
    }
  }
  p->line = line;
  return ok;
}

static SimCard *card_new(void)
{
  SimCard *c = g_new0(SimCard, 1);
  static const guint8 test_ci[20] = {0xF5, 0x41, 0x72, 0xBD, 0xF9, 0x8A, 0x95, 0xD6, 0x5C, 0xBE,
                                     0xB8, 0x8A, 0x38, 0xA1, 0xC1, 0x1D, 0x80, 0x0A, 0x85, 0xC3};

  c->euicc = TRUE;
  c->gsma_isdr = TRUE;
  c->alt_aids = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  c->max_channels = 19;
  c->root_smds = g_strdup("smds.example.com");
  memcpy(c->svn, "\x02\x02\x02", 3);
  memcpy(c->profile_version, "\x02\x03\x01", 3);
  memcpy(c->firmware_version, "\x01\x00\x00", 3);
  memcpy(c->javacard_version, "\x03\x00\x05", 3);
  memcpy(c->gp_version, "\x02\x03\x01", 3);
  memcpy(c->pp_version, "\x01\x00\x00", 3);
  c->sas_accreditation = g_strdup("EX-SAS-0001");
  c->category = 2;
  c->installed_applications = 4;
  c->free_nv_memory = 412000;
  c->free_volatile_memory = 12000;
  /* usim, isim, aka-milenage, aka-tuak128, aka-tuak256, javacard, multiple-usim */
  c->uicc_capability = 1u << 1 | 1u << 2 | 1u << 4 | 1u << 6 | 1u << 7 | 1u << 14 | 1u << 16;
  c->rsp_capability = 1u << 0 | 1u << 3;
  c->ci_pkids = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  c->rat = g_ptr_array_new_with_free_func((GDestroyNotify)rat_rule_free);
  c->next_seq = 0;
  c->profiles = g_ptr_array_new_with_free_func((GDestroyNotify)sim_profile_free);
  c->notifications = g_ptr_array_new_with_free_func((GDestroyNotify)sim_notification_free);
  g_ptr_array_add(c->ci_pkids, g_bytes_new(test_ci, sizeof(test_ci)));
  return c;
}

/* The card keeps its notifications in the order it wrote them. */
static gint compare_seq(gconstpointer a, gconstpointer b)
{
  const SimNotification *x = *(SimNotification *const *)a;
  const SimNotification *y = *(SimNotification *const *)b;

  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

SimCard *sim_card_parse(const char *text, GError **error)
{
  g_autoptr(SimCard) card = card_new();
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  Parser p = {.card = card, .section = SECTION_CARD};
  gboolean ci_given = FALSE;
  guint max_seq = 0;
  gboolean next_seq_given = FALSE;

  for (guint i = 0; lines[i]; i++) {
    char *line = g_strstrip(lines[i]);
    char *sep;
    const char *value;
    gboolean ok;

    p.line = i + 1;
    if (*line == '\0' || *line == '#')
      continue;
    if (*line == '[') {
      if (!close_section(&p, error))
        return NULL;
      p.section_line = p.line;
      if (g_str_equal(line, "[profile]")) {
        SimProfile *pr = g_new0(SimProfile, 1);
        pr->icon_type = -1;
        pr->klass = SIM_CLASS_OPERATIONAL;
        g_ptr_array_add(card->profiles, pr);
        p.section = SECTION_PROFILE;
      } else if (g_str_equal(line, "[notification]")) {
        SimNotification *n = g_new0(SimNotification, 1);
        n->seq = G_MAXUINT;
        g_ptr_array_add(card->notifications, n);
        p.section = SECTION_NOTIFICATION;
      } else {
        fail(&p, error, "unknown section %s", line);
        return NULL;
      }
      continue;
    }
    sep = strpbrk(line, " \t");
    if (!sep) {
      fail(&p, error, "\"%s\" has no value", line);
      return NULL;
    }
    *sep = '\0';
    value = g_strstrip(sep + 1);
    switch (p.section) {
    case SECTION_CARD:
      if (g_str_equal(line, "ci-pkid") && !ci_given) {
        g_ptr_array_set_size(card->ci_pkids, 0); /* the file replaces the default */
        ci_given = TRUE;
      }
      if (g_str_equal(line, "next-seq"))
        next_seq_given = TRUE;
      ok = card_key(&p, line, value, error);
      break;
    case SECTION_PROFILE:
      ok = profile_key(&p, line, value, error);
      break;
    case SECTION_NOTIFICATION:
    default:
      ok = notification_key(&p, line, value, error);
      break;
    }
    if (!ok)
      return NULL;
  }
  if (!close_section(&p, error))
    return NULL;

  p.line = 1;
  if (card->euicc && !card->eid) {
    g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE,
                "the card file names no eid (an eUICC needs one)");
    return NULL;
  }
  if (!card->euicc && !card->plain_iccid) {
    g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE,
                "the card file names no iccid (a plain SIM needs one)");
    return NULL;
  }
  if (!card->euicc && (card->profiles->len || card->notifications->len)) {
    g_set_error(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE,
                "a plain SIM holds no [profile] or [notification]");
    return NULL;
  }
  g_ptr_array_sort(card->notifications, compare_seq);
  for (guint i = 0; i < card->notifications->len; i++) {
    SimNotification *n = g_ptr_array_index(card->notifications, i);
    max_seq = MAX(max_seq, n->seq + 1);
  }
  if (!next_seq_given || card->next_seq < max_seq)
    card->next_seq = MAX(card->next_seq, max_seq);
  return g_steal_pointer(&card);
}
