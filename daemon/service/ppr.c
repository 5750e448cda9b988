/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The names of the Profile Policy Rules (SGP.22 2.9.1), one table for the
 * profiles on the card (Profile1.PolicyRules) and for a download's
 * metadata and its refusals.
 */
#include "service/service-private.h"

#include "es10/es10.h"

static const struct {
  guint32 bit;
  const char *name; /* as the D-Bus Metadata dictionary says it */
  const char *text; /* for people */
} ppr_names[] = {
    {ES10_PPR1, "disable-not-allowed", "PPR1 (disabling not allowed)"},
    {ES10_PPR2, "delete-not-allowed", "PPR2 (deletion not allowed)"},
    {ES10_PPR3, "delete-on-disable", "PPR3 (deletion on disabling)"},
};

gchar **service_ppr_names(guint32 pprs)
{
  GPtrArray *out = g_ptr_array_new();

  for (gsize i = 0; i < G_N_ELEMENTS(ppr_names); i++)
    if (pprs & ppr_names[i].bit)
      g_ptr_array_add(out, g_strdup(ppr_names[i].name));
  g_ptr_array_add(out, NULL);
  return (gchar **)g_ptr_array_free(out, FALSE);
}

/* "PPR1 (disabling not allowed) and PPR2 (deletion not allowed)" */
gchar *service_ppr_text(guint32 pprs)
{
  GString *s = g_string_new(NULL);

  for (gsize i = 0; i < G_N_ELEMENTS(ppr_names); i++) {
    if (!(pprs & ppr_names[i].bit))
      continue;
    if (s->len)
      g_string_append(s, " and ");
    g_string_append(s, ppr_names[i].text);
  }
  return g_string_free(s, FALSE);
}
