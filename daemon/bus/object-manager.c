/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The object tree: /org/esimd (ObjectManager, Manager1),
 * /org/esimd/euicc/N (Euicc1), /org/esimd/euicc/N/profile/M (Profile1) and
 * /org/esimd/euicc/N/download/K (Download1, download1.c).
 * N and M are the service's counters: an object path never carries an EID
 * or ICCID, which identify a person's card and subscription.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-private.h"

char *bus_path_euicc(guint euicc_id)
{
  return g_strdup_printf(BUS_EUICC_PREFIX "/%u", euicc_id);
}

char *bus_path_profile(guint euicc_id, guint profile_id)
{
  return g_strdup_printf(BUS_EUICC_PREFIX "/%u/profile/%u", euicc_id, profile_id);
}

/* A decimal counter as bus_path_*() write it: no sign, no leading zero. */
static gboolean parse_counter(const char *s, gsize len, guint *out)
{
  guint64 v = 0;

  if (len == 0 || len > 10 || (s[0] == '0' && len > 1))
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    if (!g_ascii_isdigit(s[i]))
      return FALSE;
    v = v * 10 + (guint64)(s[i] - '0');
  }
  if (v > G_MAXUINT)
    return FALSE;
  *out = (guint)v;
  return TRUE;
}

/* Splits "/org/esimd/euicc/N[/profile/M]". */
static gboolean parse_path(const char *path, guint *euicc_id, gboolean *has_profile,
                           guint *profile_id)
{
  static const char profile_infix[] = "/profile/";
  const char *p, *slash;

  if (!path || !g_str_has_prefix(path, BUS_EUICC_PREFIX "/"))
    return FALSE;
  p = path + strlen(BUS_EUICC_PREFIX "/");
  slash = strchr(p, '/');
  if (!slash) {
    *has_profile = FALSE;
    return parse_counter(p, strlen(p), euicc_id);
  }
  if (!parse_counter(p, (gsize)(slash - p), euicc_id) || !g_str_has_prefix(slash, profile_infix))
    return FALSE;
  p = slash + strlen(profile_infix);
  *has_profile = TRUE;
  return parse_counter(p, strlen(p), profile_id);
}

gboolean bus_path_parse_euicc(const char *path, guint *euicc_id)
{
  gboolean has_profile;
  guint profile_id;

  return parse_path(path, euicc_id, &has_profile, &profile_id) && !has_profile;
}

gboolean bus_path_parse_profile(const char *path, guint *euicc_id, guint *profile_id)
{
  gboolean has_profile;

  return parse_path(path, euicc_id, &has_profile, profile_id) && has_profile;
}

Euicc *bus_lookup_euicc(Bus *bus, const char *path)
{
  guint id;

  if (!bus->manager || !bus_path_parse_euicc(path, &id))
    return NULL;
  return manager_lookup_euicc(bus->manager, id);
}

const Profile *bus_lookup_profile(Bus *bus, const char *path, Euicc **ret_euicc)
{
  guint euicc_id, profile_id;
  Euicc *euicc;
  const Profile *profile;

  if (!bus->manager || !bus_path_parse_profile(path, &euicc_id, &profile_id))
    return NULL;
  euicc = manager_lookup_euicc(bus->manager, euicc_id);
  if (!euicc)
    return NULL;
  profile = euicc_lookup_profile(euicc, profile_id);
  if (!profile)
    return NULL;
  if (ret_euicc)
    *ret_euicc = euicc;
  return profile;
}

/* Every object below /org/esimd/euicc, for introspection and GetManagedObjects. */
static int enumerate_nodes(sd_bus *sdbus, const char *prefix, void *user_data, char ***ret_nodes,
                           sd_bus_error *ret_error)
{
  Bus *bus = user_data;
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
  GPtrArray *euiccs;
  char **out;

  if (bus->manager) {
    euiccs = manager_get_euiccs(bus->manager);
    for (guint i = 0; i < euiccs->len; i++) {
      Euicc *euicc = g_ptr_array_index(euiccs, i);
      GPtrArray *profiles;

      g_ptr_array_add(paths, bus_path_euicc(euicc_get_id(euicc)));
      profiles = euicc_get_profiles(euicc);
      for (guint k = 0; k < profiles->len; k++) {
        const Profile *profile = g_ptr_array_index(profiles, k);
        g_ptr_array_add(paths, bus_path_profile(euicc_get_id(euicc), profile->id));
      }
    }
    {
      gchar **downloads = bus_download_paths(bus);

      for (gchar **p = downloads; *p; p++)
        g_ptr_array_add(paths, *p);
      g_free(downloads);
    }
  }

  /* sd-bus frees the array and its strings with free(), not g_free(). */
  out = calloc(paths->len + 1, sizeof(char *));
  if (!out)
    return -ENOMEM;
  for (guint i = 0; i < paths->len; i++) {
    out[i] = strdup(g_ptr_array_index(paths, i));
    if (!out[i]) {
      for (guint k = 0; k < i; k++)
        free(out[k]);
      free(out);
      return -ENOMEM;
    }
  }
  *ret_nodes = out;
  return 0;
}

gboolean bus_object_manager_export(Bus *bus, GError **error)
{
  sd_bus_slot *slot = NULL;
  int r;

  r = sd_bus_add_object_manager(bus->bus, &slot, BUS_MANAGER_PATH);
  if (r < 0)
    return bus_set_gerror_from_errno(error, r, "Cannot add the object manager");
  bus_keep_slot(bus, slot);
  r = sd_bus_add_node_enumerator(bus->bus, &slot, BUS_EUICC_PREFIX, enumerate_nodes, bus);
  if (r < 0)
    return bus_set_gerror_from_errno(error, r, "Cannot add the node enumerator");
  bus_keep_slot(bus, slot);
  return TRUE;
}

static void emit_added(Bus *bus, const char *path)
{
  int r = sd_bus_emit_object_added(bus->bus, path);

  if (r < 0)
    g_warning("bus: cannot announce %s: %s", path, g_strerror(-r));
}

/*
 * The interfaces of a leaving object are named explicitly rather than looked
 * up through the vtables: the service may already have dropped the object
 * from its lists when it reports the removal.
 */
static void emit_removed(Bus *bus, const char *path, const char *interface)
{
  int r = sd_bus_emit_interfaces_removed(
      bus->bus, path, interface, "org.freedesktop.DBus.Properties",
      "org.freedesktop.DBus.Introspectable", "org.freedesktop.DBus.Peer", NULL);

  if (r < 0)
    g_warning("bus: cannot announce the removal of %s: %s", path, g_strerror(-r));
}

void bus_emit_euicc_added(Bus *bus, Euicc *euicc)
{
  g_autofree char *path = bus_path_euicc(euicc_get_id(euicc));
  GPtrArray *profiles = euicc_get_profiles(euicc);

  emit_added(bus, path);
  for (guint i = 0; i < profiles->len; i++) {
    const Profile *profile = g_ptr_array_index(profiles, i);
    g_autofree char *profile_path = bus_path_profile(euicc_get_id(euicc), profile->id);
    emit_added(bus, profile_path);
  }
  bus_manager1_emit_euiccs_changed(bus, NULL);
}

void bus_emit_euicc_removed(Bus *bus, Euicc *euicc)
{
  g_autofree char *path = bus_path_euicc(euicc_get_id(euicc));
  GPtrArray *profiles = euicc_get_profiles(euicc);

  bus_downloads_euicc_removed(bus, euicc_get_id(euicc));
  /* Its profiles go with it: no profile_removed comes for them. */
  for (guint i = 0; i < profiles->len; i++) {
    const Profile *profile = g_ptr_array_index(profiles, i);
    g_autofree char *profile_path = bus_path_profile(euicc_get_id(euicc), profile->id);
    emit_removed(bus, profile_path, BUS_PROFILE_INTERFACE);
  }
  emit_removed(bus, path, BUS_EUICC_INTERFACE);
  bus_manager1_emit_euiccs_changed(bus, euicc);
}

void bus_emit_profile_added(Bus *bus, Euicc *euicc, const Profile *profile)
{
  g_autofree char *path = bus_path_profile(euicc_get_id(euicc), profile->id);

  /* The service follows up with EUICC_CHANGED_PROFILES. */
  emit_added(bus, path);
}

void bus_emit_profile_removed(Bus *bus, Euicc *euicc, const Profile *profile)
{
  g_autofree char *path = bus_path_profile(euicc_get_id(euicc), profile->id);

  /* The service follows up with EUICC_CHANGED_PROFILES once the profile is
   * out of its list. */
  emit_removed(bus, path, BUS_PROFILE_INTERFACE);
}
