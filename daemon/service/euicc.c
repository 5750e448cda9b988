/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One eUICC: the object, its cache and its listener. The cache is changed
 * only from what the card said (the euicc_apply_* calls the operations make)
 * and each change is told to the listener; getters read it and never touch
 * the card. The operations themselves live in one file per family
 * (read.c, profile.c, config.c, notify.c) and run on the eUICC's OpRunner.
 */
#include "service/euicc-private.h"

#include <string.h>

struct _Euicc {
  gint ref_count;
  Modem *modem;
  EuiccSettings settings; /* strings owned */
  const ServiceListener *listener;
  gpointer listener_data;
  gboolean announced; /* has an id: changes reach the listener */
  gboolean invalid;   /* the card is gone; nothing reaches the listener */
  /* Told when an operation finds the card gone from its slot. */
  void (*gone_func)(Euicc *euicc, gpointer user_data);
  gpointer gone_data;
  guint id;
  guint slot;
  gboolean slot_active;
  gchar *label; /* "qmi:/dev/cdc-wdm0 slot 1", for logs */
  OpRunner *runner;
  Notifier *notifier;

  /* The cache: everything a getter returns. */
  gchar *eid;
  EuiccInfo info;
  gchar *default_smdp_address;
  gchar *root_smds_address;
  guint pending_notifications;
  GPtrArray *profiles; /* Profile*, in id order */
  guint next_profile_id;
  gchar *mm_modem; /* the ModemManager modem last told to the listener */
};

/* ---- life cycle ---- */

static void profile_free(Profile *p)
{
  if (!p)
    return;
  g_free(p->iccid);
  g_free(p->isdp_aid);
  g_free(p->name);
  g_free(p->service_provider);
  g_free(p->nickname);
  g_free(p->owner_mccmnc);
  g_clear_pointer(&p->icon, g_bytes_unref);
  g_free(p->connection);
  g_strfreev(p->policy_rules);
  g_free(p);
}

static void euicc_info_clear(EuiccInfo *info)
{
  g_free(info->svn);
  g_free(info->profile_version);
  g_free(info->firmware_version);
  g_free(info->pp_version);
  g_free(info->sas_accreditation);
  g_free(info->category);
  g_strfreev(info->ci_pkid_verification);
  g_strfreev(info->ci_pkid_signing);
  memset(info, 0, sizeof(*info));
}

static void euicc_info_init_empty(EuiccInfo *info)
{
  info->svn = g_strdup("");
  info->profile_version = g_strdup("");
  info->firmware_version = g_strdup("");
  info->pp_version = g_strdup("");
  info->sas_accreditation = g_strdup("");
  info->category = g_strdup("");
  info->free_nv_memory = -1;
  info->free_volatile_memory = -1;
  info->installed_applications = -1;
  info->ci_pkid_verification = g_new0(gchar *, 1);
  info->ci_pkid_signing = g_new0(gchar *, 1);
}

void euicc_settings_copy(EuiccSettings *dst, const EuiccSettings *src)
{
  *dst = *src;
  dst->smdp_ca_file = g_strdup(src->smdp_ca_file);
  dst->smdp_host_override = g_strdup(src->smdp_host_override);
  dst->smdp_ca_dir = g_strdup(src->smdp_ca_dir);
}

void euicc_settings_clear(EuiccSettings *settings)
{
  g_free((gchar *)settings->smdp_ca_file);
  g_free((gchar *)settings->smdp_host_override);
  g_free((gchar *)settings->smdp_ca_dir);
  memset(settings, 0, sizeof(*settings));
}

Euicc *euicc_new(Modem *modem, const ModemSlotProbe *probe, const EuiccSettings *settings,
                 const ServiceListener *listener, gpointer listener_data)
{
  Euicc *euicc = g_new0(Euicc, 1);
  const ModemSpec *spec = modem_get_spec(modem);

  euicc->ref_count = 1;
  euicc->modem = modem_ref(modem);
  euicc_settings_copy(&euicc->settings, settings);
  euicc->mm_modem = g_strdup(euicc_get_mm_modem(euicc));
  euicc->listener = listener;
  euicc->listener_data = listener_data;
  euicc->slot = probe->slot;
  euicc->slot_active = probe->active;
  euicc->label = g_strdup_printf("%s:%s slot %u", transport_kind_to_string(spec->kind), spec->port,
                                 probe->slot);
  euicc->runner =
      op_runner_new(euicc, modem, probe, euicc->label,
                    settings->linger_ms ? settings->linger_ms : EUICC_LINGER_MS, settings->mm);
  euicc->notifier = notifier_new(euicc);
  euicc->eid = g_strdup(probe->eid ? probe->eid : "");
  euicc_info_init_empty(&euicc->info);
  euicc->default_smdp_address = g_strdup("");
  euicc->root_smds_address = g_strdup("");
  euicc->profiles = g_ptr_array_new_with_free_func((GDestroyNotify)profile_free);
  return euicc;
}

Euicc *euicc_ref(Euicc *euicc)
{
  g_atomic_int_inc(&euicc->ref_count);
  return euicc;
}

void euicc_unref(Euicc *euicc)
{
  if (!g_atomic_int_dec_and_test(&euicc->ref_count))
    return;
  notifier_free(euicc->notifier);
  op_runner_free(euicc->runner);
  g_ptr_array_unref(euicc->profiles);
  euicc_info_clear(&euicc->info);
  g_free(euicc->eid);
  g_free(euicc->default_smdp_address);
  g_free(euicc->root_smds_address);
  g_free(euicc->mm_modem);
  euicc_settings_clear(&euicc->settings);
  g_free(euicc->label);
  modem_unref(euicc->modem);
  g_free(euicc);
}

gboolean euicc_has_channel(Euicc *euicc)
{
  return op_runner_has_channel(euicc->runner);
}

void euicc_attach_channel(Euicc *euicc, GBytes *isdr_aid, guint channel)
{
  op_runner_attach_channel(euicc->runner, isdr_aid, channel);
}

void euicc_set_id(Euicc *euicc, guint id)
{
  euicc->id = id;
  euicc->announced = TRUE;
  euicc_sync_connections(euicc);
}

void euicc_set_gone_func(Euicc *euicc, void (*func)(Euicc *euicc, gpointer user_data),
                         gpointer user_data)
{
  euicc->gone_func = func;
  euicc->gone_data = user_data;
}

Modem *euicc_get_modem(Euicc *euicc)
{
  return euicc->modem;
}

void euicc_invalidate(Euicc *euicc, const GError *error)
{
  if (euicc->invalid)
    return;
  euicc->invalid = TRUE;
  notifier_stop(euicc->notifier);
  op_runner_invalidate(euicc->runner, error);
}

void euicc_close(Euicc *euicc, const GError *error, GAsyncReadyCallback cb, gpointer user_data)
{
  notifier_stop(euicc->notifier);
  op_runner_close(euicc->runner, error, cb, user_data);
}

gboolean euicc_close_finish(Euicc *euicc, GAsyncResult *res, GError **error)
{
  return euicc_operation_finish(euicc, res, error);
}

gboolean euicc_operation_finish(Euicc *euicc, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(res, NULL), FALSE);
  return g_task_propagate_boolean(G_TASK(res), error);
}

void euicc_report_gone(Euicc *euicc)
{
  if (!euicc->invalid && euicc->gone_func)
    euicc->gone_func(euicc, euicc->gone_data);
}

const EuiccSettings *euicc_get_settings(Euicc *euicc)
{
  return &euicc->settings;
}

const char *euicc_get_label(Euicc *euicc)
{
  return euicc->label;
}

OpRunner *euicc_get_runner(Euicc *euicc)
{
  return euicc->runner;
}

Notifier *euicc_get_notifier(Euicc *euicc)
{
  return euicc->notifier;
}

gboolean euicc_is_closed(Euicc *euicc)
{
  return euicc->invalid || op_runner_is_closed(euicc->runner);
}

gchar *euicc_log_id(Euicc *euicc, const char *id)
{
  return service_id_for_log(id, euicc->settings.full_identifiers);
}

/* ---- getters: the cache, never the card ---- */

guint euicc_get_id(Euicc *euicc)
{
  return euicc->id;
}

const char *euicc_get_eid(Euicc *euicc)
{
  return euicc->eid;
}

const char *euicc_get_transport(Euicc *euicc)
{
  return transport_kind_to_string(modem_get_spec(euicc->modem)->kind);
}

const char *euicc_get_port(Euicc *euicc)
{
  return modem_get_spec(euicc->modem)->port;
}

const char *euicc_get_device(Euicc *euicc)
{
  return modem_get_spec(euicc->modem)->device;
}

guint euicc_get_slot(Euicc *euicc)
{
  return euicc->slot;
}

gboolean euicc_get_slot_active(Euicc *euicc)
{
  return euicc->slot_active;
}

GPtrArray *euicc_get_profiles(Euicc *euicc)
{
  return euicc->profiles;
}

const Profile *euicc_lookup_profile(Euicc *euicc, guint id)
{
  for (guint i = 0; i < euicc->profiles->len; i++) {
    const Profile *p = g_ptr_array_index(euicc->profiles, i);

    if (p->id == id)
      return p;
  }
  return NULL;
}

static Profile *lookup_profile_by_iccid(Euicc *euicc, const char *iccid)
{
  for (guint i = 0; i < euicc->profiles->len; i++) {
    Profile *p = g_ptr_array_index(euicc->profiles, i);

    if (g_str_equal(p->iccid, iccid))
      return p;
  }
  return NULL;
}

const Profile *euicc_get_enabled_profile(Euicc *euicc)
{
  for (guint i = 0; i < euicc->profiles->len; i++) {
    const Profile *p = g_ptr_array_index(euicc->profiles, i);

    if (p->state == PROFILE_STATE_ENABLED)
      return p;
  }
  return NULL;
}

const char *euicc_get_default_smdp_address(Euicc *euicc)
{
  return euicc->default_smdp_address;
}

const char *euicc_get_root_smds_address(Euicc *euicc)
{
  return euicc->root_smds_address;
}

const EuiccInfo *euicc_get_info(Euicc *euicc)
{
  return &euicc->info;
}

guint euicc_get_pending_notifications(Euicc *euicc)
{
  return euicc->pending_notifications;
}

/* ---- listener ---- */

/* ---- the NetworkManager connection of each profile ---- */

typedef struct {
  Euicc *euicc;
  gchar *iccid;
} ConnectionCall;

static void connection_call_free(ConnectionCall *c)
{
  euicc_unref(c->euicc);
  g_free(c->iccid);
  g_free(c);
}

static void emit_profile_changed(Euicc *euicc, const Profile *p, ProfileChanged what);
static gboolean set_string(gchar **field, const char *value);

static void connection_ensured(GObject *source, GAsyncResult *res, gpointer user_data)
{
  ConnectionCall *c = user_data;
  Euicc *euicc = c->euicc;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *path = nm_profiles_ensure_finish(euicc->settings.nm, res, &error);
  Profile *p = euicc->invalid ? NULL : lookup_profile_by_iccid(euicc, c->iccid);

  if (!path && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
      !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CLOSED)) {
    g_autofree gchar *shown = euicc_log_id(euicc, c->iccid);

    g_warning("%s: the NetworkManager connection of profile %s: %s", euicc->label, shown,
              error->message);
  }
  if (p && path && set_string(&p->connection, path))
    emit_profile_changed(euicc, p, PROFILE_CHANGED_CONNECTION);
  connection_call_free(c);
}

/* Makes the profile's connection match it: made when missing, renamed
 * with the nickname, the operator and APN from its owner. */
static void connection_sync(Euicc *euicc, const Profile *p)
{
  ConnectionCall *c;
  NmProfileSpec spec = {
      .iccid = p->iccid,
      .name = *p->nickname ? p->nickname
              : *p->name   ? p->name
                           : p->iccid,
      .owner_mccmnc = p->owner_mccmnc,
  };

  if (!euicc->settings.nm || euicc->invalid)
    return;
  c = g_new0(ConnectionCall, 1);
  c->euicc = euicc_ref(euicc);
  c->iccid = g_strdup(p->iccid);
  nm_profiles_ensure(euicc->settings.nm, &spec, NULL, connection_ensured, c);
}

static void connection_removed(GObject *source, GAsyncResult *res, gpointer user_data)
{
  ConnectionCall *c = user_data;
  g_autoptr(GError) error = NULL;

  if (!nm_profiles_remove_finish(c->euicc->settings.nm, res, &error) &&
      !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    g_warning("%s: removing a NetworkManager connection: %s", c->euicc->label, error->message);
  connection_call_free(c);
}

/* The profile left the card: the connection esimd made for it goes too. */
static void connection_remove(Euicc *euicc, const char *iccid)
{
  ConnectionCall *c;

  if (!euicc->settings.nm || euicc->invalid)
    return;
  c = g_new0(ConnectionCall, 1);
  c->euicc = euicc_ref(euicc);
  c->iccid = g_strdup(iccid);
  nm_profiles_remove(euicc->settings.nm, iccid, NULL, connection_removed, c);
}

void euicc_sync_connections(Euicc *euicc)
{
  for (guint i = 0; i < euicc->profiles->len; i++)
    connection_sync(euicc, g_ptr_array_index(euicc->profiles, i));
}

static gboolean can_emit(Euicc *euicc)
{
  return euicc->announced && !euicc->invalid && euicc->listener;
}

static void emit_changed(Euicc *euicc, EuiccChanged what)
{
  if (what && can_emit(euicc) && euicc->listener->euicc_changed)
    euicc->listener->euicc_changed(euicc, what, euicc->listener_data);
}

static void emit_profile_changed(Euicc *euicc, const Profile *p, ProfileChanged what)
{
  if (what && can_emit(euicc) && euicc->listener->profile_changed)
    euicc->listener->profile_changed(euicc, p, what, euicc->listener_data);
  /* A new nickname or owner: the connection follows. */
  if (what & (PROFILE_CHANGED_NICKNAME | PROFILE_CHANGED_OTHER) && euicc->announced)
    connection_sync(euicc, p);
}

static void emit_profile_added(Euicc *euicc, const Profile *p)
{
  if (can_emit(euicc) && euicc->listener->profile_added)
    euicc->listener->profile_added(euicc, p, euicc->listener_data);
  if (euicc->announced)
    connection_sync(euicc, p);
}

static void emit_profile_removed(Euicc *euicc, const Profile *p)
{
  if (can_emit(euicc) && euicc->listener->profile_removed)
    euicc->listener->profile_removed(euicc, p, euicc->listener_data);
  if (euicc->announced)
    connection_remove(euicc, p->iccid);
}

void euicc_set_slot_active(Euicc *euicc, gboolean active)
{
  if (euicc->slot_active == active)
    return;
  euicc->slot_active = active;
  emit_changed(euicc, EUICC_CHANGED_SLOT_ACTIVE);
}

void euicc_set_pending_notifications(Euicc *euicc, guint count)
{
  if (euicc->pending_notifications == count)
    return;
  euicc->pending_notifications = count;
  emit_changed(euicc, EUICC_CHANGED_PENDING_NOTIFICATIONS);
}

/* ---- cache updates from what the card said ---- */

/* Replaces *field with value when they differ; TRUE when it changed. */
static gboolean set_string(gchar **field, const char *value)
{
  if (!value)
    value = "";
  if (g_strcmp0(*field, value) == 0)
    return FALSE;
  g_free(*field);
  *field = g_strdup(value);
  return TRUE;
}

static gboolean set_strv(gchar ***field, GPtrArray *values)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
  g_auto(GStrv) strv = NULL;

  for (guint i = 0; values && i < values->len; i++)
    g_strv_builder_add(builder, g_ptr_array_index(values, i));
  strv = g_strv_builder_end(builder);
  if (*field && g_strv_equal((const gchar *const *)*field, (const gchar *const *)strv))
    return FALSE;
  g_strfreev(*field);
  *field = g_steal_pointer(&strv);
  return TRUE;
}

static gboolean set_version(gchar **field, const Es10Version *v)
{
  g_autofree gchar *s = es10_version_to_string(v);

  return set_string(field, s);
}

static gboolean set_int(gint64 *field, gboolean has, guint64 value)
{
  gint64 v = has ? (gint64)MIN(value, (guint64)G_MAXINT64) : -1;

  if (*field == v)
    return FALSE;
  *field = v;
  return TRUE;
}

static const char *category_name(const Es10bEuiccInfo2 *info2)
{
  if (!info2->has_euicc_category)
    return "";
  switch (info2->euicc_category) {
  case ES10_EUICC_CATEGORY_OTHER:
    return "other";
  case ES10_EUICC_CATEGORY_BASIC:
    return "basic";
  case ES10_EUICC_CATEGORY_MEDIUM:
    return "medium";
  case ES10_EUICC_CATEGORY_CONTACTLESS:
    return "contactless";
  }
  return "other";
}

void euicc_apply_info2(Euicc *euicc, const Es10bEuiccInfo2 *info2)
{
  EuiccInfo *info = &euicc->info;
  gboolean changed = FALSE;

  changed |= set_version(&info->svn, &info2->svn);
  changed |= set_version(&info->profile_version, &info2->profile_version);
  changed |= set_version(&info->firmware_version, &info2->firmware_version);
  changed |= set_version(&info->pp_version, &info2->pp_version);
  changed |= set_string(&info->sas_accreditation, info2->sas_accreditation_number);
  changed |= set_string(&info->category, category_name(info2));
  changed |= set_int(&info->free_nv_memory, info2->has_free_nv_memory, info2->free_nv_memory);
  changed |= set_int(&info->free_volatile_memory, info2->has_free_volatile_memory,
                     info2->free_volatile_memory);
  changed |= set_int(&info->installed_applications, info2->has_installed_applications,
                     info2->installed_applications);
  changed |= set_strv(&info->ci_pkid_verification, info2->ci_pkid_verification);
  changed |= set_strv(&info->ci_pkid_signing, info2->ci_pkid_signing);
  if (changed)
    emit_changed(euicc, EUICC_CHANGED_INFO);
}

void euicc_apply_addresses(Euicc *euicc, const Es10aConfiguredAddresses *addr)
{
  EuiccChanged changed = 0;

  /* Each address on its own: announcing one that did not change would make
   * clients read it again for nothing. */
  if (set_string(&euicc->default_smdp_address, addr->default_dp_address))
    changed |= EUICC_CHANGED_DEFAULT_SMDP_ADDRESS;
  if (set_string(&euicc->root_smds_address, addr->root_ds_address))
    changed |= EUICC_CHANGED_ROOT_SMDS_ADDRESS;
  if (changed)
    emit_changed(euicc, changed);
}

static ProfileIconType icon_type_from(const Es10ProfileInfo *info)
{
  if (!info->has_icon_type || !info->icon || g_bytes_get_size(info->icon) == 0)
    return PROFILE_ICON_NONE;
  return info->icon_type == ES10_ICON_TYPE_PNG ? PROFILE_ICON_PNG : PROFILE_ICON_JPG;
}

/* Copies what the card said about one profile; returns what changed. */
static ProfileChanged profile_update(Profile *p, const Es10ProfileInfo *info)
{
  ProfileChanged what = 0;
  ProfileState state = info->has_state && info->state == ES10_PROFILE_STATE_ENABLED
                           ? PROFILE_STATE_ENABLED
                           : PROFILE_STATE_DISABLED;
  ProfileClass cls = (ProfileClass)info->profile_class;
  ProfileIconType icon_type = icon_type_from(info);
  g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
  GBytes *icon = icon_type != PROFILE_ICON_NONE ? info->icon : empty;
  g_auto(GStrv) rules = service_ppr_names(info->has_policy_rules ? info->policy_rules : 0);

  if (p->state != state) {
    p->state = state;
    what |= PROFILE_CHANGED_STATE;
  }
  if (set_string(&p->nickname, info->nickname))
    what |= PROFILE_CHANGED_NICKNAME;
  if (set_string(&p->isdp_aid, info->isdp_aid) | set_string(&p->name, info->profile_name) |
      set_string(&p->service_provider, info->service_provider_name) |
      set_string(&p->owner_mccmnc, info->owner ? info->owner->mcc_mnc : NULL))
    what |= PROFILE_CHANGED_OTHER;
  if (p->profile_class != cls || p->icon_type != icon_type || !p->icon ||
      !g_bytes_equal(p->icon, icon)) {
    p->profile_class = cls;
    p->icon_type = icon_type;
    g_clear_pointer(&p->icon, g_bytes_unref);
    p->icon = g_bytes_ref(icon);
    what |= PROFILE_CHANGED_OTHER;
  }
  /* An SM-DP+ may change them later (ES6 UpdateMetadata): a refresh shows it. */
  if (!p->policy_rules ||
      !g_strv_equal((const gchar *const *)p->policy_rules, (const gchar *const *)rules)) {
    g_strfreev(p->policy_rules);
    p->policy_rules = g_steal_pointer(&rules);
    what |= PROFILE_CHANGED_POLICY_RULES;
  }
  return what;
}

/* Makes the cached profiles what the card listed: same ICCID keeps its id. */
/* A profile the cache did not have, with a new id, announced. */
static Profile *profile_add(Euicc *euicc, const Es10ProfileInfo *info)
{
  Profile *p = g_new0(Profile, 1);

  p->id = euicc->next_profile_id++;
  p->connection = g_strdup("/");
  p->iccid = g_strdup(info->iccid);
  profile_update(p, info);
  g_ptr_array_add(euicc->profiles, p);
  emit_profile_added(euicc, p);
  return p;
}

void euicc_apply_profiles(Euicc *euicc, GPtrArray *infos)
{
  const Profile *enabled_before = euicc_get_enabled_profile(euicc);
  guint enabled_before_id = enabled_before ? enabled_before->id : G_MAXUINT;
  const Profile *enabled_after;
  EuiccChanged what = 0;
  g_autoptr(GPtrArray) seen = g_ptr_array_new();

  for (guint i = 0; i < infos->len; i++) {
    const Es10ProfileInfo *info = g_ptr_array_index(infos, i);
    Profile *p;
    ProfileChanged changed;

    if (!info->iccid) {
      g_warning("%s: the card listed a profile without ICCID; ignoring it", euicc->label);
      continue;
    }
    p = lookup_profile_by_iccid(euicc, info->iccid);
    if (!p) {
      g_ptr_array_add(seen, profile_add(euicc, info));
      what |= EUICC_CHANGED_PROFILES;
      continue;
    }
    g_ptr_array_add(seen, p);
    changed = profile_update(p, info);
    emit_profile_changed(euicc, p, changed);
  }

  for (guint i = 0; i < euicc->profiles->len;) {
    Profile *p = g_ptr_array_index(euicc->profiles, i);

    if (g_ptr_array_find(seen, p, NULL)) {
      i++;
      continue;
    }
    emit_profile_removed(euicc, p);
    g_ptr_array_remove_index(euicc->profiles, i);
    what |= EUICC_CHANGED_PROFILES;
  }

  enabled_after = euicc_get_enabled_profile(euicc);
  if ((enabled_after ? enabled_after->id : G_MAXUINT) != enabled_before_id)
    what |= EUICC_CHANGED_ENABLED_PROFILE;
  emit_changed(euicc, what);
}

void euicc_apply_install(Euicc *euicc, const Es10ProfileInfo *info)
{
  Profile *p = lookup_profile_by_iccid(euicc, info->iccid);

  if (p) {
    emit_profile_changed(euicc, p, profile_update(p, info));
    return;
  }
  profile_add(euicc, info);
  emit_changed(euicc, EUICC_CHANGED_PROFILES);
}

void euicc_apply_switch(Euicc *euicc, const char *iccid, gboolean enable)
{
  Profile *target = lookup_profile_by_iccid(euicc, iccid);
  Profile *previous = (Profile *)euicc_get_enabled_profile(euicc);

  if (!target)
    return;
  if (enable && previous && previous != target) {
    previous->state = PROFILE_STATE_DISABLED;
    emit_profile_changed(euicc, previous, PROFILE_CHANGED_STATE);
  }
  if (target->state != (enable ? PROFILE_STATE_ENABLED : PROFILE_STATE_DISABLED)) {
    target->state = enable ? PROFILE_STATE_ENABLED : PROFILE_STATE_DISABLED;
    emit_profile_changed(euicc, target, PROFILE_CHANGED_STATE);
    emit_changed(euicc, EUICC_CHANGED_ENABLED_PROFILE);
  }
}

void euicc_apply_delete(Euicc *euicc, const char *iccid)
{
  Profile *p = lookup_profile_by_iccid(euicc, iccid);

  if (!p)
    return;
  emit_profile_removed(euicc, p);
  g_ptr_array_remove(euicc->profiles, p);
  emit_changed(euicc, EUICC_CHANGED_PROFILES);
}

const Profile *euicc_lookup_profile_by_iccid(Euicc *euicc, const char *iccid)
{
  return lookup_profile_by_iccid(euicc, iccid);
}

void euicc_apply_eid(Euicc *euicc, const char *eid)
{
  if (set_string(&euicc->eid, eid)) {
    g_autofree gchar *shown = euicc_log_id(euicc, eid);

    g_info("%s: eUICC %s", euicc->label, shown);
    emit_changed(euicc, EUICC_CHANGED_EID);
  }
}

void euicc_apply_default_smdp_address(Euicc *euicc, const char *address)
{
  if (set_string(&euicc->default_smdp_address, address))
    emit_changed(euicc, EUICC_CHANGED_DEFAULT_SMDP_ADDRESS);
}

void euicc_apply_nickname(Euicc *euicc, const char *iccid, const char *nickname)
{
  Profile *p = lookup_profile_by_iccid(euicc, iccid);

  if (p && set_string(&p->nickname, nickname))
    emit_profile_changed(euicc, p, PROFILE_CHANGED_NICKNAME);
}

void euicc_emit_notification_delivered(Euicc *euicc, const Es10NotificationMetadata *m)
{
  if (can_emit(euicc) && euicc->listener->notification_delivered)
    euicc->listener->notification_delivered(
        euicc, m->seq_number, es10_notification_event_to_string(m->operation),
        m->iccid ? m->iccid : "", m->notification_address, euicc->listener_data);
}

void euicc_schedule_notifications(Euicc *euicc)
{
  notifier_schedule(euicc->notifier);
}

gboolean euicc_holds_modem(Euicc *euicc)
{
  return op_runner_holds_modem(euicc->runner);
}

void euicc_set_linger_ms(Euicc *euicc, guint linger_ms)
{
  op_runner_set_linger_ms(euicc->runner, linger_ms);
}

const char *euicc_get_mm_modem(Euicc *euicc)
{
  const char *path =
      mm_watch_get_modem(euicc->settings.mm_watch, modem_get_mm_device(euicc->modem));

  return path ? path : "/";
}

void euicc_modem_changed(Euicc *euicc)
{
  if (set_string(&euicc->mm_modem, euicc_get_mm_modem(euicc)))
    emit_changed(euicc, EUICC_CHANGED_MODEM);
}
