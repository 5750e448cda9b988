/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Activation code parsing, SGP.22 4.1. The code is a '$'-separated list of
 * fields; the LPA must refuse anything it cannot use as it is, rather than
 * guess, because a wrong SM-DP+ address or token only fails later and less
 * clearly at the SM-DP+.
 */
#include "es10/activation.h"

#include <string.h>

#define AC_PREFIX "LPA:"
/* RFC 1035 2.3.4: 63 bytes per label, 253 characters for the whole name. */
#define MAX_LABEL 63
#define MAX_HOST 253

G_GNUC_PRINTF(2, 3)
static gboolean fail(GError **error, const char *format, ...)
{
  va_list ap;
  g_autofree gchar *msg = NULL;

  va_start(ap, format);
  msg = g_strdup_vprintf(format, ap);
  va_end(ap);
  g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ACTIVATION_CODE, "activation code: %s", msg);
  return FALSE;
}

/* The host part of an address, with the reason when it is no host name. */
static gboolean host_check(const char *host, gsize len, const char **why)
{
  gsize label = 0;

  if (len == 0) {
    *why = "it has no host name";
    return FALSE;
  }
  if (len > MAX_HOST) {
    *why = "the host name is longer than 253 characters";
    return FALSE;
  }
  for (gsize i = 0; i < len; i++) {
    char c = host[i];

    if (c == '.') {
      /* No empty label, no label ending in '-' (RFC 1123 2.1). */
      if (label == 0 || host[i - 1] == '-') {
        *why = "a label of the host name is empty or ends with '-'";
        return FALSE;
      }
      label = 0;
      continue;
    }
    if (!g_ascii_isalnum(c) && c != '-') {
      *why = "a host name has only letters, digits, '-' and '.'";
      return FALSE;
    }
    if (c == '-' && label == 0) {
      *why = "a label of the host name starts with '-'";
      return FALSE;
    }
    if (++label > MAX_LABEL) {
      *why = "a label of the host name is longer than 63 characters";
      return FALSE;
    }
  }
  /* A trailing dot or hyphen is no part of a name an SM-DP+ is reached by. */
  if (label == 0 || host[len - 1] == '-') {
    *why = "the host name ends with '.' or '-'";
    return FALSE;
  }
  return TRUE;
}

static gboolean port_is_valid(const char *port)
{
  guint64 v = 0;
  gsize n = strlen(port);

  if (n == 0 || n > 5 || port[0] == '0')
    return FALSE;
  for (gsize i = 0; i < n; i++) {
    if (!g_ascii_isdigit(port[i]))
      return FALSE;
    v = v * 10 + (guint64)(port[i] - '0');
  }
  return v >= 1 && v <= 65535;
}

gboolean es10_smdp_address_check(const char *address, const char **why)
{
  const char *unused;
  const char *colon;

  if (!why)
    why = &unused;
  if (!address) {
    *why = "it has no host name";
    return FALSE;
  }
  /* A port is digits after the last colon; with anything else there the
   * whole is judged as a host name, so that "https://host" is refused for
   * its ':' and '/', not for its "port". */
  colon = strrchr(address, ':');
  if (colon && colon[1] && strspn(colon + 1, "0123456789") != strlen(colon + 1))
    colon = NULL;
  if (!host_check(address, colon ? (gsize)(colon - address) : strlen(address), why))
    return FALSE;
  if (colon && !port_is_valid(colon + 1)) {
    *why = "the port after ':' is not a number from 1 to 65535";
    return FALSE;
  }
  return TRUE;
}

gboolean es10_activation_code_address_is_valid(const char *address)
{
  return es10_smdp_address_check(address, NULL);
}

/* Dotted decimal arcs, at least two, no leading zeros (X.660 arcs in dotted form). */
static gboolean oid_is_valid(const char *oid)
{
  gsize arcs = 0;
  const char *p = oid;

  while (*p) {
    const char *start = p;

    while (g_ascii_isdigit(*p))
      p++;
    if (p == start || (*start == '0' && p - start > 1))
      return FALSE;
    if (arcs == 0 && (p - start > 1 || *start > '2'))
      return FALSE; /* the first arc is 0, 1 or 2 */
    arcs++;
    if (*p == '.') {
      p++;
      if (!*p)
        return FALSE;
    } else if (*p) {
      return FALSE;
    }
  }
  return arcs >= 2;
}

gboolean es10_activation_code_parse(const char *text, Es10ActivationCode **out, GError **error)
{
  g_autoptr(Es10ActivationCode) ac = NULL;
  g_auto(GStrv) fields = NULL;
  guint n;

  if (!text)
    return fail(error, "none given");
  if (!g_utf8_validate(text, -1, NULL))
    return fail(error, "not UTF-8");
  if (g_str_has_prefix(text, AC_PREFIX))
    text += strlen(AC_PREFIX);
  if (!*text)
    return fail(error, "empty");

  fields = g_strsplit(text, "$", -1);
  n = g_strv_length(fields);
  if (strcmp(fields[0], "1") != 0)
    return fail(error, "AC_Format \"%s\" is not \"1\"", fields[0]);
  if (n < 3)
    return fail(error, "needs at least 1$SM-DP+ address$AC_Token");
  if (n > 5)
    return fail(error, "%u fields, at most 5 are defined (SGP.22 4.1)", n);

  if (!*fields[1])
    return fail(error, "the SM-DP+ address is empty");
  if (!es10_activation_code_address_is_valid(fields[1]))
    return fail(error, "SM-DP+ address \"%s\" is no host name (letters, digits, '-', '.', :port)",
                fields[1]);

  /* AC_Token: the SM-DP+ compares it as it is, so no blank may slip in. */
  if (!*fields[2])
    return fail(error, "the AC_Token (matching id) is empty");
  for (const char *p = fields[2]; *p; p++) {
    if (!g_ascii_isgraph(*p))
      return fail(error, "the AC_Token has a character that is not printable ASCII at %zu",
                  (gsize)(p - fields[2]));
  }

  ac = g_new0(Es10ActivationCode, 1);
  /* A host name is case-insensitive; keep it as given, HTTPS does the rest. */
  ac->address = g_strdup(fields[1]);
  ac->matching_id = g_strdup(fields[2]);

  /* The OID may be empty when only the flag follows: "1$host$token$$1". */
  if (n >= 4 && *fields[3]) {
    if (!oid_is_valid(fields[3]))
      return fail(error, "SM-DP+ OID \"%s\" is not dotted numbers", fields[3]);
    ac->oid = g_strdup(fields[3]);
  } else if (n == 4) {
    return fail(error, "an empty SM-DP+ OID field with nothing after it");
  }
  if (n == 5) {
    if (strcmp(fields[4], "1") != 0)
      return fail(error, "Confirmation Code Required Flag \"%s\" is not \"1\"", fields[4]);
    ac->cc_required = TRUE;
  }
  *out = g_steal_pointer(&ac);
  return TRUE;
}

void es10_activation_code_free(Es10ActivationCode *ac)
{
  if (!ac)
    return;
  g_free(ac->address);
  g_free(ac->matching_id);
  g_free(ac->oid);
  g_free(ac);
}
