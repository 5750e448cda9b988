/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One eUICC: its cache and its card operations. Each operation is queued on
 * the eUICC's FIFO and, when its turn comes, runs as a step machine of
 * es10 encode -> card_call (STORE DATA over the kept ISD-R channel) -> es10
 * decode -> cache update -> listener. Getters read the cache only.
 */
#include "service/euicc-private.h"

#include <string.h>

#include "system/mm.h"
#include "es10/es10.h"

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
  euicc->listener = listener;
  euicc->listener_data = listener_data;
  euicc->slot = probe->slot;
  euicc->slot_active = probe->active;
  euicc->label = g_strdup_printf("%s:%s slot %u", transport_kind_to_string(spec->kind), spec->port,
                                 probe->slot);
  card_channel_init(&euicc->channel, modem_get_transport(modem), probe->slot, probe->isdr_aid,
                    probe->channel);
  euicc->port_session = modem_get_port_session(modem);
  euicc->queue = op_queue_new(euicc->label);
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

static void linger_stop(Euicc *euicc);

/* Lets go of the modem at once, without closing the channel (the card or
 * the eUICC is gone). */
static void drop_modem(Euicc *euicc)
{
  linger_stop(euicc);
  if (!euicc->holds_modem)
    return;
  euicc->holds_modem = FALSE;
  modem_release(euicc->modem, NULL, NULL);
}

void euicc_unref(Euicc *euicc)
{
  if (!g_atomic_int_dec_and_test(&euicc->ref_count))
    return;
  drop_modem(euicc);
  euicc_notify_stop(euicc);
  op_queue_free(euicc->queue);
  card_channel_clear(&euicc->channel);
  g_ptr_array_unref(euicc->profiles);
  euicc_info_clear(&euicc->info);
  g_free(euicc->eid);
  g_free(euicc->default_smdp_address);
  g_free(euicc->root_smds_address);
  euicc_settings_clear(&euicc->settings);
  g_free(euicc->label);
  modem_unref(euicc->modem);
  g_free(euicc);
}

gboolean euicc_has_channel(Euicc *euicc)
{
  return euicc->channel.aid != NULL;
}

void euicc_attach_channel(Euicc *euicc, GBytes *isdr_aid, guint channel)
{
  g_clear_pointer(&euicc->channel.aid, g_bytes_unref);
  euicc->channel.aid = g_bytes_ref(isdr_aid);
  euicc->channel.channel = channel;
  euicc->channel.stale = 0;
  euicc->port_session = modem_get_port_session(euicc->modem);
}

void euicc_set_id(Euicc *euicc, guint id)
{
  euicc->id = id;
  euicc->announced = TRUE;
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
  euicc_notify_stop(euicc);
  op_queue_abandon(euicc->queue, error);
  drop_modem(euicc);
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

static gboolean can_emit(Euicc *euicc)
{
  return euicc->announced && !euicc->invalid && euicc->listener;
}

void euicc_emit_changed(Euicc *euicc, EuiccChanged what)
{
  if (what && can_emit(euicc) && euicc->listener->euicc_changed)
    euicc->listener->euicc_changed(euicc, what, euicc->listener_data);
}

static void emit_profile_changed(Euicc *euicc, const Profile *p, ProfileChanged what)
{
  if (what && can_emit(euicc) && euicc->listener->profile_changed)
    euicc->listener->profile_changed(euicc, p, what, euicc->listener_data);
}

static void emit_profile_added(Euicc *euicc, const Profile *p)
{
  if (can_emit(euicc) && euicc->listener->profile_added)
    euicc->listener->profile_added(euicc, p, euicc->listener_data);
}

static void emit_profile_removed(Euicc *euicc, const Profile *p)
{
  if (can_emit(euicc) && euicc->listener->profile_removed)
    euicc->listener->profile_removed(euicc, p, euicc->listener_data);
}

void euicc_set_slot_active(Euicc *euicc, gboolean active)
{
  if (euicc->slot_active == active)
    return;
  euicc->slot_active = active;
  euicc_emit_changed(euicc, EUICC_CHANGED_SLOT_ACTIVE);
}

void euicc_set_pending_notifications(Euicc *euicc, guint count)
{
  if (euicc->pending_notifications == count)
    return;
  euicc->pending_notifications = count;
  euicc_emit_changed(euicc, EUICC_CHANGED_PENDING_NOTIFICATIONS);
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

static void apply_info2(Euicc *euicc, const Es10bEuiccInfo2 *info2)
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
    euicc_emit_changed(euicc, EUICC_CHANGED_INFO);
}

static void apply_addresses(Euicc *euicc, const Es10aConfiguredAddresses *addr)
{
  EuiccChanged changed = 0;

  /* Each address on its own: announcing one that did not change would make
   * clients read it again for nothing. */
  if (set_string(&euicc->default_smdp_address, addr->default_dp_address))
    changed |= EUICC_CHANGED_DEFAULT_SMDP_ADDRESS;
  if (set_string(&euicc->root_smds_address, addr->root_ds_address))
    changed |= EUICC_CHANGED_ROOT_SMDS_ADDRESS;
  if (changed)
    euicc_emit_changed(euicc, changed);
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
  return what;
}

/* Makes the cached profiles what the card listed: same ICCID keeps its id. */
static void apply_profiles(Euicc *euicc, GPtrArray *infos)
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
      p = g_new0(Profile, 1);
      p->id = euicc->next_profile_id++;
      p->iccid = g_strdup(info->iccid);
      profile_update(p, info);
      g_ptr_array_add(euicc->profiles, p);
      g_ptr_array_add(seen, p);
      emit_profile_added(euicc, p);
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
  euicc_emit_changed(euicc, what);
}

/* What the card did on a successful Enable/Disable, before it is read back. */
static void apply_switch(Euicc *euicc, const char *iccid, gboolean enable)
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
    euicc_emit_changed(euicc, EUICC_CHANGED_ENABLED_PROFILE);
  }
}

static void apply_delete(Euicc *euicc, const char *iccid)
{
  Profile *p = lookup_profile_by_iccid(euicc, iccid);

  if (!p)
    return;
  emit_profile_removed(euicc, p);
  g_ptr_array_remove(euicc->profiles, p);
  euicc_emit_changed(euicc, EUICC_CHANGED_PROFILES);
}

/* ---- the operation machinery ---- */

static void abandoned_uninhibit_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree gchar *device = user_data;
  g_autoptr(GError) error = NULL;

  if (!mm_uninhibit_finish(NULL, res, &error))
    g_warning("Giving %s back to ModemManager: %s", device, error->message);
}

static void euicc_op_free(EuiccOp *ctx)
{
  /* Abandoned (the modem went away, or esimd stops) while it held the
   * modem: ModemManager gets it back now. */
  if (ctx->inhibited) {
    const char *device = modem_get_mm_device(ctx->euicc->modem);

    g_info("%s: %s ended; giving %s back to ModemManager", ctx->euicc->label, ctx->op.name, device);
    mm_uninhibit(ctx->euicc->settings.mm, device, NULL, abandoned_uninhibit_ready,
                 g_strdup(device));
  }
  g_clear_error(&ctx->outcome);
  op_clear(&ctx->op);
  g_clear_pointer(&ctx->response, g_bytes_unref);
  g_clear_error(&ctx->call_error);
  g_free(ctx->doing_owned);
  g_free(ctx->iccid);
  g_free(ctx->text);
  g_clear_pointer(&ctx->seqs, g_array_unref);
  g_clear_pointer(&ctx->items, g_ptr_array_unref);
  g_clear_pointer(&ctx->results, g_ptr_array_unref);
  if (ctx->data_free)
    ctx->data_free(ctx->data);
  euicc_unref(ctx->euicc);
  g_free(ctx);
}

/* ---- holding a modem whose AT port ModemManager owns ---- */

/*
 * How long an eUICC keeps such a modem after its last operation. While esimd
 * holds it, ModemManager is kept off the modem (no data, no calls), so it
 * goes back soon; but not at once, so that a burst of calls (a settings page
 * reading, then switching) is served in one inhibition instead of having
 * ModemManager drop and probe the modem again for each.
 */
#define LINGER_MS 2000

static void close_step(GTask *task);

static void linger_stop(Euicc *euicc)
{
  if (!euicc->linger)
    return;
  g_source_destroy(euicc->linger);
  g_source_unref(euicc->linger);
  euicc->linger = NULL;
}

static gboolean linger_expired(gpointer user_data);

/* Starts the countdown to giving the modem back, again from the start. */
static void linger_restart(Euicc *euicc)
{
  linger_stop(euicc);
  if (!euicc->holds_modem || euicc->invalid || euicc->closing)
    return;
  euicc->linger = g_timeout_source_new(LINGER_MS);
  g_source_set_callback(euicc->linger, linger_expired, euicc, NULL);
  g_source_attach(euicc->linger, g_main_context_get_thread_default());
}

static gboolean linger_expired(gpointer user_data)
{
  Euicc *euicc = user_data;
  GTask *task;
  EuiccOp *ctx;

  g_source_unref(euicc->linger);
  euicc->linger = NULL;
  /* An operation is about to start: it is served in this window. */
  if (!op_queue_is_idle(euicc->queue)) {
    linger_restart(euicc);
    return G_SOURCE_REMOVE;
  }
  /* Through the queue, so that nothing else uses the channel meanwhile. */
  task = euicc_op_new(euicc, "release", close_step, NULL, NULL, NULL);
  ctx = g_task_get_task_data(task);
  ctx->releases = TRUE;
  ctx->lingered = TRUE;
  op_queue_push(euicc->queue, task);
  return G_SOURCE_REMOVE;
}

static void euicc_op_acquire_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EuiccOp *ctx = g_task_get_task_data(task);
  Euicc *euicc = ctx->euicc;
  GError *error = NULL;

  if (!modem_acquire_finish(euicc->modem, res, &error)) {
    if (!euicc_op_begin_step(task)) {
      g_error_free(error);
      return;
    }
    euicc_op_fail(task, error);
    return;
  }
  if (op_is_finished(task)) {
    /* Abandoned meanwhile (the modem or card went away). */
    modem_release(euicc->modem, NULL, NULL);
    g_object_unref(task);
    return;
  }
  euicc->holds_modem = TRUE;
  /* The port was closed since the channel was opened, and the channel
   * with it: the first command opens a new one. */
  if (euicc->port_session != modem_get_port_session(euicc->modem)) {
    euicc->channel.channel = 0;
    euicc->channel.stale = 0;
    euicc->port_session = modem_get_port_session(euicc->modem);
  }
  ctx->step_func(task);
}

static void euicc_op_start(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  Euicc *euicc = ctx->euicc;

  /* Counted again from the operation's end. */
  linger_stop(euicc);
  if (!ctx->releases && !euicc->holds_modem && modem_is_on_demand(euicc->modem)) {
    modem_acquire(euicc->modem, ctx->op.io, euicc_op_acquire_ready, task);
    return;
  }
  ctx->step_func(task);
}

GTask *euicc_op_new(Euicc *euicc, const char *name, EuiccStepFunc step_func,
                    GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);
  EuiccOp *ctx = g_new0(EuiccOp, 1);

  g_task_set_source_tag(task, (gpointer)euicc);
  /* The answer is the operation's own: ESIMD_ERROR_CANCELLED when it was
   * dropped, its real outcome when the caller cancelled too late. */
  g_task_set_check_cancellable(task, FALSE);
  op_init(&ctx->op, name, euicc_op_start);
  ctx->euicc = euicc_ref(euicc);
  ctx->step_func = step_func;
  ctx->doing = name;
  g_task_set_task_data(task, ctx, (GDestroyNotify)euicc_op_free);
  return task;
}

/* Queues the operation, or answers it at once when the card is gone. */
void euicc_op_queue(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  if (ctx->euicc->invalid || ctx->euicc->closing) {
    ctx->op.finished = TRUE;
    if (ctx->euicc->invalid)
      g_task_return_new_error(task, ESIMD_ERROR, ESIMD_ERROR_REMOVED, "The modem was removed");
    else
      g_task_return_new_error(task, ESIMD_ERROR, ESIMD_ERROR_CANCELLED, "esimd is shutting down");
    g_object_unref(task);
    return;
  }
  op_queue_push(ctx->euicc->queue, task);
}

static void euicc_op_call_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EuiccOp *ctx = g_task_get_task_data(task);

  g_clear_pointer(&ctx->response, g_bytes_unref);
  g_clear_error(&ctx->call_error);
  ctx->response = card_call_finish(res, &ctx->call_error);
  ctx->step++;
  ctx->step_func(task);
}

void euicc_op_call(GTask *task, GBytes *request)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  card_call(&ctx->euicc->channel, request, ctx->op.io, euicc_op_call_ready, task);
  g_bytes_unref(request);
}

static void euicc_op_reopen_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EuiccOp *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  /* Not fatal: the next card_call opens the channel again if this failed. */
  if (!card_reopen_finish(res, &error))
    g_info("%s: reopening the ISD-R channel: %s", ctx->euicc->label, error->message);
  ctx->step++;
  ctx->step_func(task);
}

/* Opens the ISD-R channel anew, then the step function with step+1. */
static void euicc_op_reopen(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  card_reopen(&ctx->euicc->channel, ctx->op.io, euicc_op_reopen_ready, task);
}

EuiccOp *euicc_op_begin_step(GTask *task)
{
  if (op_is_finished(task)) {
    /* Answered already (the card went away); this was its last callback. */
    g_object_unref(task);
    return NULL;
  }
  return g_task_get_task_data(task);
}

const guint8 *euicc_op_response(EuiccOp *ctx, gsize *len)
{
  *len = 0;
  return ctx->response ? g_bytes_get_data(ctx->response, len) : NULL;
}

/* Answers the operation with its outcome (ctx->outcome, NULL: success). */
static void euicc_op_answer(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  g_autoptr(Euicc) euicc = euicc_ref(ctx->euicc);
  GError *error = g_steal_pointer(&ctx->outcome);
  gboolean card_gone = ctx->card_gone;

  ctx->answering = FALSE;
  linger_restart(euicc);
  if (!error) {
    op_return_boolean(euicc->queue, task, TRUE);
    g_object_unref(task);
    return;
  }
  g_info("%s: %s failed: %s", euicc->label, ctx->op.name, error->message);
  op_return_error(euicc->queue, task, error);
  g_object_unref(task);
  /* The card left its slot under the operation: it goes away, with the
   * operations queued behind this one. */
  if (card_gone && !euicc->invalid && euicc->gone_func)
    euicc->gone_func(euicc, euicc->gone_data);
}

/* The outcome is known: give the modem back to ModemManager first, if it
 * was taken, so that the caller hears back only once ModemManager has it. */
static void euicc_op_finish(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  if (ctx->inhibited) {
    ctx->answering = TRUE;
    euicc_op_uninhibit(task);
    return;
  }
  euicc_op_answer(task);
}

void euicc_op_fail(GTask *task, GError *error)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  ctx->card_gone = g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NO_CARD);
  g_clear_error(&ctx->outcome);
  ctx->outcome = service_error_from(error, ctx->doing);
  euicc_op_finish(task);
}

/* ---- ModemManager around a switch ---- */

static void euicc_op_inhibit_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EuiccOp *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (mm_inhibit_finish(ctx->euicc->settings.mm, res, &error))
    ctx->inhibited = TRUE;
  else if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    /* The card can switch without it; ModemManager then learns of the new
     * SIM only from the modem's own SIM refresh indication, if at all. */
    g_warning("%s: ModemManager did not release %s (%s); %s anyway", ctx->euicc->label,
              modem_get_mm_device(ctx->euicc->modem), error->message, ctx->doing);
  ctx->step++;
  ctx->step_func(task);
}

gboolean euicc_op_inhibit(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  MmClient *mm = ctx->euicc->settings.mm;
  const char *device = modem_get_mm_device(ctx->euicc->modem);

  if (!mm || ctx->inhibited)
    return FALSE;
  if (ctx->euicc->holds_modem) {
    /* Inhibited already, for its AT port: ModemManager reads the SIM anew
     * when it has the modem back, once the port is closed. */
    g_debug("%s: %s is inhibited for its AT port already", ctx->euicc->label, device);
    return FALSE;
  }
  if (!*device) {
    g_debug("%s: the modem's device is unknown; ModemManager is not told of %s", ctx->euicc->label,
            ctx->doing);
    return FALSE;
  }
  g_info("%s: asking ModemManager to release %s for %s", ctx->euicc->label, device, ctx->doing);
  mm_inhibit(mm, device, ctx->op.io, euicc_op_inhibit_ready, task);
  return TRUE;
}

static void euicc_op_uninhibit_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EuiccOp *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!mm_uninhibit_finish(ctx->euicc->settings.mm, res, &error))
    g_warning("%s: giving %s back to ModemManager: %s", ctx->euicc->label,
              modem_get_mm_device(ctx->euicc->modem), error->message);
  if (ctx->answering) {
    if (!euicc_op_begin_step(task))
      return;
    euicc_op_answer(task);
    return;
  }
  ctx->step++;
  ctx->step_func(task);
}

gboolean euicc_op_uninhibit(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  const char *device = modem_get_mm_device(ctx->euicc->modem);

  if (!ctx->inhibited)
    return FALSE;
  ctx->inhibited = FALSE;
  g_info("%s: giving %s back to ModemManager", ctx->euicc->label, device);
  mm_uninhibit(ctx->euicc->settings.mm, device, NULL, euicc_op_uninhibit_ready, task);
  return TRUE;
}

gboolean euicc_op_check_call(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  if (!ctx->call_error)
    return TRUE;
  euicc_op_fail(task, g_steal_pointer(&ctx->call_error));
  return FALSE;
}

/* Decodes the last response; FALSE (and the operation answered) when the
 * card's answer was not what SGP.22 says. */
static gboolean decode_failed(GTask *task, GError *error)
{
  euicc_op_fail(task, error);
  return FALSE;
}

void euicc_op_done(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  g_clear_error(&ctx->outcome);
  euicc_op_finish(task);
}

void euicc_op_return_pointer(GTask *task, gpointer value, GDestroyNotify notify)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  linger_restart(ctx->euicc);
  op_return_pointer(ctx->euicc->queue, task, value, notify);
  g_object_unref(task);
}

gboolean euicc_operation_finish(Euicc *euicc, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(res, NULL), FALSE);
  return g_task_propagate_boolean(G_TASK(res), error);
}

static void set_doing(EuiccOp *ctx, gchar *doing)
{
  g_free(ctx->doing_owned);
  ctx->doing_owned = doing;
  ctx->doing = doing;
}

/* The fields of Profile, and nothing more (SGP.22 5.7.15: the tagList
 * limits what the card reads out). */
static const guint32 profile_tags[] = {
    ES10_TAG_ICCID,
    ES10_TAG_ISDP_AID,
    ES10_TAG_PROFILE_STATE,
    ES10_TAG_PROFILE_NICKNAME,
    ES10_TAG_SERVICE_PROVIDER_NAME,
    ES10_TAG_PROFILE_NAME,
    ES10_TAG_ICON_TYPE,
    ES10_TAG_ICON,
    ES10_TAG_PROFILE_CLASS,
    ES10_TAG_PROFILE_OWNER,
};

static GBytes *profiles_request(void)
{
  Es10cGetProfilesInfoRequest req = {
      .search = ES10C_PROFILES_SEARCH_ALL,
      .tag_list = profile_tags,
      .n_tags = G_N_ELEMENTS(profile_tags),
  };

  return es10c_get_profiles_info_encode(&req, NULL);
}

GBytes *euicc_notifications_request(void)
{
  return es10b_list_notification_encode(0, NULL);
}

static gboolean decode_eid(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  Euicc *euicc = ctx->euicc;
  g_autofree gchar *eid = NULL;
  gsize len;
  const guint8 *buf = euicc_op_response(ctx, &len);
  GError *error = NULL;

  if (!es10c_get_eid_decode(buf, len, &eid, &error))
    return decode_failed(task, error);
  if (set_string(&euicc->eid, eid)) {
    g_autofree gchar *shown = euicc_log_id(euicc, eid);

    g_info("%s: eUICC %s", euicc->label, shown);
    euicc_emit_changed(euicc, EUICC_CHANGED_EID);
  }
  return TRUE;
}

static gboolean decode_info2(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  g_autoptr(Es10bEuiccInfo2) info2 = NULL;
  gsize len;
  const guint8 *buf = euicc_op_response(ctx, &len);
  GError *error = NULL;

  if (!es10b_get_euicc_info2_decode(buf, len, &info2, &error))
    return decode_failed(task, error);
  apply_info2(ctx->euicc, info2);
  return TRUE;
}

static gboolean decode_addresses(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  g_autoptr(Es10aConfiguredAddresses) addr = NULL;
  gsize len;
  const guint8 *buf = euicc_op_response(ctx, &len);
  GError *error = NULL;

  if (!es10a_get_euicc_configured_addresses_decode(buf, len, &addr, &error))
    return decode_failed(task, error);
  apply_addresses(ctx->euicc, addr);
  return TRUE;
}

static gboolean decode_profiles(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  Es10cGetProfilesInfoResult result;
  g_autoptr(GPtrArray) infos = NULL;
  gsize len;
  const guint8 *buf = euicc_op_response(ctx, &len);
  GError *error = NULL;

  if (!es10c_get_profiles_info_decode(buf, len, &result, &infos, &error))
    return decode_failed(task, error);
  if (result != ES10C_GET_PROFILES_INFO_OK)
    return decode_failed(
        task,
        g_error_new(ESIMD_ERROR, ESIMD_ERROR_CARD_ERROR, "The card did not list its profiles (%s)",
                    es10_result_get_message(ES10_CMD_GET_PROFILES_INFO, (gint)result)));
  apply_profiles(ctx->euicc, infos);
  return TRUE;
}

GPtrArray *euicc_op_decode_notifications(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  Es10bListNotificationResult result;
  g_autoptr(GPtrArray) list = NULL;
  gsize len;
  const guint8 *buf = euicc_op_response(ctx, &len);
  GError *error = NULL;

  if (!es10b_list_notification_decode(buf, len, &result, &list, &error)) {
    decode_failed(task, error);
    return NULL;
  }
  if (result != ES10B_LIST_NOTIFICATION_OK) {
    decode_failed(task,
                  g_error_new(ESIMD_ERROR, ESIMD_ERROR_CARD_ERROR,
                              "The card did not list its notifications (%s)",
                              es10_result_get_message(ES10_CMD_LIST_NOTIFICATION, (gint)result)));
    return NULL;
  }
  euicc_set_pending_notifications(ctx->euicc, list->len);
  return g_steal_pointer(&list);
}

static gboolean decode_notification_count(GTask *task)
{
  g_autoptr(GPtrArray) list = euicc_op_decode_notifications(task);

  return list != NULL;
}

/*
 * What fills the cache: one ES10 read each, its request and the decoder that
 * applies the answer (FALSE: the operation is answered with the error). A
 * refresh reads them all, in this order; a memory reset reads them again
 * from READ_ADDRESSES on.
 */
typedef struct {
  const char *doing;
  GBytes *(*request)(void);
  gboolean (*decode)(GTask *task);
} CardRead;

enum {
  READ_EID,
  READ_INFO2,
  READ_ADDRESSES,
  READ_PROFILES,
  READ_NOTIFICATIONS,
  READ_COUNT,
};

static const CardRead card_reads[READ_COUNT] = {
    [READ_EID] = {"reading the EID", es10c_get_eid_encode, decode_eid},
    [READ_INFO2] = {"reading the eUICC information", es10b_get_euicc_info2_encode, decode_info2},
    [READ_ADDRESSES] = {"reading the configured SM-DP+ addresses",
                        es10a_get_euicc_configured_addresses_encode, decode_addresses},
    [READ_PROFILES] = {"reading the profiles", profiles_request, decode_profiles},
    [READ_NOTIFICATIONS] = {"reading the notification list", euicc_notifications_request,
                            decode_notification_count},
};

/* Sends card_reads[ctx->index]; the step function comes back with step+1. */
static void read_send(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  euicc_op_call(task, card_reads[ctx->index].request());
}

/* The answer to read_send(): TRUE once the last read is applied. Otherwise
 * FALSE: the operation was answered with the error, or the step function
 * was called again at read_step for the next read. */
static gboolean read_done(GTask *task, guint read_step)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  if (!euicc_op_check_call(task) || !card_reads[ctx->index].decode(task))
    return FALSE;
  if (++ctx->index == READ_COUNT)
    return TRUE;
  ctx->step = read_step;
  ctx->step_func(task);
  return FALSE;
}

/* After a change the card made a notification for: its count again. A
 * failure to read it is logged; the change itself is done. FALSE: the
 * answer was malformed and the operation answered. */
static gboolean recount_done(GTask *task, const char *after)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  if (ctx->call_error) {
    g_warning("%s: counting notifications after the %s: %s", ctx->euicc->label, after,
              ctx->call_error->message);
    return TRUE;
  }
  return decode_notification_count(task);
}

/* The end of an operation that may have left notifications on the card. */
static void done_with_notifications(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);

  euicc_notify_schedule(ctx->euicc);
  euicc_op_done(task);
}

/* ---- probe / refresh ---- */

typedef enum {
  REFRESH_STEP_FIRST,
  REFRESH_STEP_READ,
  REFRESH_STEP_READ_DONE,
  REFRESH_STEP_LAST,
} RefreshStep;

static void refresh_step(GTask *task)
{
  EuiccOp *ctx = euicc_op_begin_step(task);

  if (!ctx)
    return;

  switch ((RefreshStep)ctx->step) {
  case REFRESH_STEP_FIRST:
    ctx->index = READ_EID;
    ctx->step++;
    /* fall through */
  case REFRESH_STEP_READ:
    ctx->doing = card_reads[ctx->index].doing;
    read_send(task);
    return;
  case REFRESH_STEP_READ_DONE:
    if (!read_done(task, REFRESH_STEP_READ))
      return;
    ctx->step++;
    /* fall through */
  case REFRESH_STEP_LAST:
    euicc_op_done(task);
    return;
  }
  g_assert_not_reached();
}

void euicc_probe(Euicc *euicc, GCancellable *cancellable, GAsyncReadyCallback cb,
                 gpointer user_data)
{
  euicc_op_queue(euicc_op_new(euicc, "probe", refresh_step, cancellable, cb, user_data));
}

void euicc_refresh(Euicc *euicc, GCancellable *cancellable, GAsyncReadyCallback cb,
                   gpointer user_data)
{
  euicc_op_queue(euicc_op_new(euicc, "refresh", refresh_step, cancellable, cb, user_data));
}

/* ---- profile lookups at the operation's turn ---- */

/* The profile the operation names, or FALSE with the operation answered
 * NOT_FOUND. Checked when the operation's turn comes: an operation queued
 * before it may have deleted the profile. */
static Profile *op_get_profile(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  Profile *p = (Profile *)euicc_lookup_profile(ctx->euicc, ctx->profile_id);

  if (!p) {
    euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_NOT_FOUND,
                                    "The eUICC has no profile %u", ctx->profile_id));
    return NULL;
  }
  g_free(ctx->iccid);
  ctx->iccid = g_strdup(p->iccid);
  return p;
}

static GError *result_error(EsimdError code, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static GError *result_error(EsimdError code, const char *fmt, ...)
{
  va_list ap;
  GError *error;

  va_start(ap, fmt);
  error = g_error_new_valist(ESIMD_ERROR, code, fmt, ap);
  va_end(ap);
  return error;
}

/* The same refusals from several ES10c commands, in the same words. */
static GError *no_profile_error(const char *shown)
{
  return result_error(ESIMD_ERROR_NOT_FOUND, "The card has no profile %s", shown);
}

static GError *cat_busy_error(void)
{
  return result_error(ESIMD_ERROR_CAT_BUSY,
                      "The card is busy with a SIM toolkit session; try again in a moment");
}

/* An argument the ES10 encoder refused (encode_error, taken): the caller's
 * fault, said with what it was. */
static void fail_invalid_args(GTask *task, const char *what, GError *encode_error)
{
  euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_INVALID_ARGS, "%s: %s", what,
                                  encode_error->message));
  g_error_free(encode_error);
}

/* Queues an operation on one profile (enable, disable, delete, nickname). */
static void queue_profile_op(Euicc *euicc, const char *name, EuiccStepFunc step_func,
                             guint profile_id, gboolean enable, const char *text,
                             GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = euicc_op_new(euicc, name, step_func, cancellable, cb, user_data);
  EuiccOp *ctx = g_task_get_task_data(task);

  ctx->profile_id = profile_id;
  ctx->enable = enable;
  ctx->text = g_strdup(text);
  euicc_op_queue(task);
}

/* ---- enable / disable ---- */

typedef enum {
  SWITCH_STEP_FIRST,
  SWITCH_STEP_INHIBIT,
  SWITCH_STEP_SEND,
  SWITCH_STEP_RESULT,
  SWITCH_STEP_RELOAD,
  SWITCH_STEP_REOPEN,
  SWITCH_STEP_PROFILES,
  SWITCH_STEP_PROFILES_DONE,
  SWITCH_STEP_NOTIFICATIONS,
  SWITCH_STEP_NOTIFICATIONS_DONE,
  SWITCH_STEP_UNINHIBIT,
  SWITCH_STEP_LAST,
} SwitchStep;

static void switch_step(GTask *task);

static GError *switch_result_error(EuiccOp *ctx, gint result)
{
  g_autofree gchar *shown = euicc_log_id(ctx->euicc, ctx->iccid);

  if (ctx->enable) {
    switch ((Es10cEnableProfileResult)result) {
    case ES10C_ENABLE_PROFILE_OK:
      break;
    case ES10C_ENABLE_PROFILE_ICCID_OR_AID_NOT_FOUND:
      return no_profile_error(shown);
    case ES10C_ENABLE_PROFILE_NOT_IN_DISABLED_STATE:
      return result_error(ESIMD_ERROR_PROFILE_ENABLED, "Profile %s is already enabled", shown);
    case ES10C_ENABLE_PROFILE_DISALLOWED_BY_POLICY:
      return result_error(ESIMD_ERROR_DISALLOWED_BY_POLICY,
                          "The policy rules forbid enabling profile %s: the enabled profile "
                          "may not be disabled (PPR1)",
                          shown);
    case ES10C_ENABLE_PROFILE_WRONG_PROFILE_REENABLING:
      return result_error(ESIMD_ERROR_DISALLOWED_BY_POLICY,
                          "The card refuses to enable profile %s again now "
                          "(wrongProfileReenabling); enable another profile first",
                          shown);
    case ES10C_ENABLE_PROFILE_CAT_BUSY:
      return cat_busy_error();
    case ES10C_ENABLE_PROFILE_UNDEFINED_ERROR:
      break;
    }
  } else {
    switch ((Es10cDisableProfileResult)result) {
    case ES10C_DISABLE_PROFILE_OK:
      break;
    case ES10C_DISABLE_PROFILE_ICCID_OR_AID_NOT_FOUND:
      return no_profile_error(shown);
    case ES10C_DISABLE_PROFILE_NOT_IN_ENABLED_STATE:
      return result_error(ESIMD_ERROR_PROFILE_NOT_ENABLED, "Profile %s is not enabled", shown);
    case ES10C_DISABLE_PROFILE_DISALLOWED_BY_POLICY:
      return result_error(ESIMD_ERROR_DISALLOWED_BY_POLICY,
                          "The profile's policy rules forbid disabling it (PPR1)");
    case ES10C_DISABLE_PROFILE_CAT_BUSY:
      return cat_busy_error();
    case ES10C_DISABLE_PROFILE_UNDEFINED_ERROR:
      break;
    }
  }
  return result_error(
      ESIMD_ERROR_CARD_ERROR, "The card could not %s profile %s (%s)",
      ctx->enable ? "enable" : "disable", shown,
      es10_result_get_message(ctx->enable ? ES10_CMD_ENABLE_PROFILE : ES10_CMD_DISABLE_PROFILE,
                              result));
}

/* A failure after which the card may well have switched and reset: the
 * modem lost the channel or the answer. */
static gboolean is_dropped(const GError *error)
{
  return (error->domain == TRANSPORT_ERROR && error->code != TRANSPORT_ERROR_PORT_GONE &&
          error->code != TRANSPORT_ERROR_NOT_SUPPORTED) ||
         g_error_matches(error, ISO7816_STATUS_ERROR, 0x6881) ||
         g_error_matches(error, ISO7816_STATUS_ERROR, 0x6E00);
}

static void switch_reload_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EuiccOp *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!transport_reload_sim_finish(modem_get_transport(ctx->euicc->modem), res, &error) &&
      !g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED))
    g_info("%s: the modem did not reload the SIM: %s", ctx->euicc->label, error->message);
  ctx->step++;
  switch_step(task);
}

static void switch_step(GTask *task)
{
  EuiccOp *ctx = euicc_op_begin_step(task);
  Euicc *euicc;
  GError *error = NULL;
  gsize len;
  const guint8 *buf;

  if (!ctx)
    return;
  euicc = ctx->euicc;
  buf = euicc_op_response(ctx, &len);

  switch ((SwitchStep)ctx->step) {
  case SWITCH_STEP_FIRST: {
    Profile *p = op_get_profile(task);
    g_autofree gchar *shown = NULL;

    if (!p)
      return;
    shown = euicc_log_id(euicc, p->iccid);
    /* Refused before anything reaches the card: the cache is current, since
     * every operation before this one updated it. */
    if (ctx->enable && p->state == PROFILE_STATE_ENABLED) {
      euicc_op_fail(
          task, result_error(ESIMD_ERROR_PROFILE_ENABLED, "Profile %s is already enabled", shown));
      return;
    }
    if (!ctx->enable && p->state != PROFILE_STATE_ENABLED) {
      euicc_op_fail(
          task, result_error(ESIMD_ERROR_PROFILE_NOT_ENABLED, "Profile %s is not enabled", shown));
      return;
    }
    set_doing(ctx, g_strdup_printf("%s profile %s", ctx->enable ? "enabling" : "disabling", shown));
    ctx->refresh_flag = TRUE;
    ctx->step++;
  }
    /* fall through */
  case SWITCH_STEP_INHIBIT:
    /* ModemManager lets go of the modem before the card switches, so that
     * it reads the SIM anew when it has it back, not a half-reset card. */
    if (euicc_op_inhibit(task))
      return;
    ctx->step++;
    /* fall through */
  case SWITCH_STEP_SEND: {
    GBytes *req = ctx->enable ? es10c_enable_profile_encode(ES10_PROFILE_ID_ICCID, ctx->iccid,
                                                            ctx->refresh_flag, &error)
                              : es10c_disable_profile_encode(ES10_PROFILE_ID_ICCID, ctx->iccid,
                                                             ctx->refresh_flag, &error);

    if (!req) {
      euicc_op_fail(task, error);
      return;
    }
    g_info("%s: %s (refreshFlag %s)", euicc->label, ctx->doing,
           ctx->refresh_flag ? "set" : "clear");
    euicc_op_call(task, req);
    return;
  }
  case SWITCH_STEP_RESULT: {
    gint result;

    if (ctx->call_error) {
      /*
       * Some cards reset as soon as they switch with refreshFlag set and the
       * answer never comes back; others only switch with it clear, leaving
       * the REFRESH to the modem. Either way: once more, flag clear.
       */
      if (ctx->refresh_flag && is_dropped(ctx->call_error)) {
        g_info("%s: no answer to the switch (%s); trying again with refreshFlag clear",
               euicc->label, ctx->call_error->message);
        g_clear_error(&ctx->call_error);
        ctx->refresh_flag = FALSE;
        ctx->dropped = TRUE;
        ctx->step = SWITCH_STEP_SEND;
        switch_step(task);
        return;
      }
      euicc_op_check_call(task);
      return;
    }
    if (ctx->enable) {
      Es10cEnableProfileResult r;

      if (!es10c_enable_profile_decode(buf, len, &r, &error)) {
        decode_failed(task, error);
        return;
      }
      result = (gint)r;
    } else {
      Es10cDisableProfileResult r;

      if (!es10c_disable_profile_decode(buf, len, &r, &error)) {
        decode_failed(task, error);
        return;
      }
      result = (gint)r;
    }
    if (result == 127 && ctx->refresh_flag) {
      g_info("%s: the card answered undefinedError; trying again with refreshFlag clear",
             euicc->label);
      ctx->refresh_flag = FALSE;
      ctx->step = SWITCH_STEP_SEND;
      switch_step(task);
      return;
    }
    /* The first attempt went through before its answer was lost: the
     * profile is where it was asked to be; read back to be sure. */
    if (result == 2 && ctx->dropped) {
      ctx->verify = TRUE;
      ctx->step = SWITCH_STEP_REOPEN;
      switch_step(task);
      return;
    }
    if (result != 0) {
      euicc_op_fail(task, switch_result_error(ctx, result));
      return;
    }
    apply_switch(euicc, ctx->iccid, ctx->enable);
    ctx->step++;
  }
    /* fall through */
  case SWITCH_STEP_RELOAD:
    /* With refreshFlag clear the card leaves the reset to the modem
     * (SGP.22 5.7.16 / 5.7.17). */
    if (!ctx->refresh_flag) {
      transport_reload_sim(modem_get_transport(euicc->modem), euicc->slot, ctx->op.io,
                           switch_reload_ready, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case SWITCH_STEP_REOPEN:
    euicc_op_reopen(task);
    return;
  case SWITCH_STEP_PROFILES:
    euicc_op_call(task, profiles_request());
    return;
  case SWITCH_STEP_PROFILES_DONE:
    if (ctx->call_error) {
      /* The switch is done and the cache says so; reading back is a check. */
      g_warning("%s: reading the profiles after the switch: %s", euicc->label,
                ctx->call_error->message);
      if (!ctx->verify) {
        ctx->step = SWITCH_STEP_UNINHIBIT;
        switch_step(task);
        return;
      }
      euicc_op_check_call(task);
      return;
    }
    if (!decode_profiles(task))
      return;
    if (ctx->verify) {
      Profile *p = lookup_profile_by_iccid(euicc, ctx->iccid);
      ProfileState want = ctx->enable ? PROFILE_STATE_ENABLED : PROFILE_STATE_DISABLED;

      if (!p || p->state != want) {
        euicc_op_fail(task, result_error(ESIMD_ERROR_CARD_ERROR,
                                         "The card lost its answer to %s and did not switch",
                                         ctx->doing));
        return;
      }
    }
    ctx->step++;
    /* fall through */
  case SWITCH_STEP_NOTIFICATIONS:
    euicc_op_call(task, euicc_notifications_request());
    return;
  case SWITCH_STEP_NOTIFICATIONS_DONE:
    if (!recount_done(task, "switch"))
      return;
    ctx->step++;
    /* fall through */
  case SWITCH_STEP_UNINHIBIT:
    if (euicc_op_uninhibit(task))
      return;
    ctx->step++;
    /* fall through */
  case SWITCH_STEP_LAST:
    g_info("%s: done %s", euicc->label, ctx->doing);
    done_with_notifications(task);
    return;
  }
  g_assert_not_reached();
}

void euicc_profile_enable(Euicc *euicc, guint profile_id, GCancellable *cancellable,
                          GAsyncReadyCallback cb, gpointer user_data)
{
  queue_profile_op(euicc, "enable", switch_step, profile_id, TRUE, NULL, cancellable, cb,
                   user_data);
}

void euicc_profile_disable(Euicc *euicc, guint profile_id, GCancellable *cancellable,
                           GAsyncReadyCallback cb, gpointer user_data)
{
  queue_profile_op(euicc, "disable", switch_step, profile_id, FALSE, NULL, cancellable, cb,
                   user_data);
}

/* ---- delete ---- */

typedef enum {
  DELETE_STEP_FIRST,
  DELETE_STEP_SEND,
  DELETE_STEP_RESULT,
  DELETE_STEP_NOTIFICATIONS,
  DELETE_STEP_NOTIFICATIONS_DONE,
  DELETE_STEP_LAST,
} DeleteStep;

static void delete_step(GTask *task)
{
  EuiccOp *ctx = euicc_op_begin_step(task);
  Euicc *euicc;
  GError *error = NULL;
  gsize len;
  const guint8 *buf;

  if (!ctx)
    return;
  euicc = ctx->euicc;
  buf = euicc_op_response(ctx, &len);

  switch ((DeleteStep)ctx->step) {
  case DELETE_STEP_FIRST: {
    Profile *p = op_get_profile(task);
    g_autofree gchar *shown = NULL;

    if (!p)
      return;
    shown = euicc_log_id(euicc, p->iccid);
    /* SGP.22 5.7.18: only a disabled profile can be deleted. Said here, with
     * what to do about it, rather than by the card's terse code. */
    if (p->state == PROFILE_STATE_ENABLED) {
      euicc_op_fail(task,
                    result_error(ESIMD_ERROR_PROFILE_ENABLED,
                                 "Profile %s is enabled; disable it before deleting it", shown));
      return;
    }
    set_doing(ctx, g_strdup_printf("deleting profile %s", shown));
    ctx->step++;
  }
    /* fall through */
  case DELETE_STEP_SEND: {
    GBytes *req = es10c_delete_profile_encode(ES10_PROFILE_ID_ICCID, ctx->iccid, &error);

    if (!req) {
      euicc_op_fail(task, error);
      return;
    }
    g_info("%s: %s", euicc->label, ctx->doing);
    euicc_op_call(task, req);
    return;
  }
  case DELETE_STEP_RESULT: {
    Es10cDeleteProfileResult r;
    g_autofree gchar *shown = euicc_log_id(euicc, ctx->iccid);

    if (!euicc_op_check_call(task))
      return;
    if (!es10c_delete_profile_decode(buf, len, &r, &error)) {
      decode_failed(task, error);
      return;
    }
    switch (r) {
    case ES10C_DELETE_PROFILE_OK:
      break;
    case ES10C_DELETE_PROFILE_ICCID_OR_AID_NOT_FOUND:
      euicc_op_fail(task, no_profile_error(shown));
      return;
    case ES10C_DELETE_PROFILE_NOT_IN_DISABLED_STATE:
      euicc_op_fail(task,
                    result_error(ESIMD_ERROR_PROFILE_ENABLED,
                                 "Profile %s is enabled; disable it before deleting it", shown));
      return;
    case ES10C_DELETE_PROFILE_DISALLOWED_BY_POLICY:
      euicc_op_fail(task, result_error(ESIMD_ERROR_DISALLOWED_BY_POLICY,
                                       "The profile's policy rules forbid deleting it (PPR2)"));
      return;
    case ES10C_DELETE_PROFILE_UNDEFINED_ERROR:
    default:
      euicc_op_fail(task, result_error(ESIMD_ERROR_CARD_ERROR,
                                       "The card could not delete profile %s (%s)", shown,
                                       es10_result_get_message(ES10_CMD_DELETE_PROFILE, (gint)r)));
      return;
    }
    apply_delete(euicc, ctx->iccid);
    ctx->step++;
  }
    /* fall through */
  case DELETE_STEP_NOTIFICATIONS:
    euicc_op_call(task, euicc_notifications_request());
    return;
  case DELETE_STEP_NOTIFICATIONS_DONE:
    if (!recount_done(task, "delete"))
      return;
    ctx->step++;
    /* fall through */
  case DELETE_STEP_LAST:
    g_info("%s: done %s", euicc->label, ctx->doing);
    done_with_notifications(task);
    return;
  }
  g_assert_not_reached();
}

void euicc_profile_delete(Euicc *euicc, guint profile_id, GCancellable *cancellable,
                          GAsyncReadyCallback cb, gpointer user_data)
{
  queue_profile_op(euicc, "delete", delete_step, profile_id, FALSE, NULL, cancellable, cb,
                   user_data);
}

/* ---- nickname ---- */

typedef enum {
  NICKNAME_STEP_FIRST,
  NICKNAME_STEP_SEND,
  NICKNAME_STEP_RESULT,
  NICKNAME_STEP_LAST,
} NicknameStep;

static void nickname_step(GTask *task)
{
  EuiccOp *ctx = euicc_op_begin_step(task);
  Euicc *euicc;
  GError *error = NULL;
  gsize len;
  const guint8 *buf;

  if (!ctx)
    return;
  euicc = ctx->euicc;
  buf = euicc_op_response(ctx, &len);

  switch ((NicknameStep)ctx->step) {
  case NICKNAME_STEP_FIRST: {
    Profile *p = op_get_profile(task);

    if (!p)
      return;
    set_doing(ctx, g_strdup("setting the nickname"));
    ctx->step++;
  }
    /* fall through */
  case NICKNAME_STEP_SEND: {
    GBytes *req = es10c_set_nickname_encode(ctx->iccid, ctx->text, &error);

    if (!req) {
      fail_invalid_args(task, "Invalid nickname", error);
      return;
    }
    euicc_op_call(task, req);
    return;
  }
  case NICKNAME_STEP_RESULT: {
    Es10cSetNicknameResult r;
    Profile *p;

    if (!euicc_op_check_call(task))
      return;
    if (!es10c_set_nickname_decode(buf, len, &r, &error)) {
      decode_failed(task, error);
      return;
    }
    if (r == ES10C_SET_NICKNAME_ICCID_NOT_FOUND) {
      g_autofree gchar *shown = euicc_log_id(euicc, ctx->iccid);

      euicc_op_fail(task, no_profile_error(shown));
      return;
    }
    if (r != ES10C_SET_NICKNAME_OK) {
      euicc_op_fail(task,
                    result_error(ESIMD_ERROR_CARD_ERROR, "The card could not set the nickname (%s)",
                                 es10_result_get_message(ES10_CMD_SET_NICKNAME, (gint)r)));
      return;
    }
    p = lookup_profile_by_iccid(euicc, ctx->iccid);
    if (p && set_string(&p->nickname, ctx->text))
      emit_profile_changed(euicc, p, PROFILE_CHANGED_NICKNAME);
    ctx->step++;
  }
    /* fall through */
  case NICKNAME_STEP_LAST:
    euicc_op_done(task);
    return;
  }
  g_assert_not_reached();
}

void euicc_profile_set_nickname(Euicc *euicc, guint profile_id, const char *nickname,
                                GCancellable *cancellable, GAsyncReadyCallback cb,
                                gpointer user_data)
{
  queue_profile_op(euicc, "nickname", nickname_step, profile_id, FALSE, nickname ? nickname : "",
                   cancellable, cb, user_data);
}

/* ---- default SM-DP+ address ---- */

typedef enum {
  ADDRESS_STEP_FIRST,
  ADDRESS_STEP_SEND,
  ADDRESS_STEP_RESULT,
  ADDRESS_STEP_LAST,
} AddressStep;

static void address_step(GTask *task)
{
  EuiccOp *ctx = euicc_op_begin_step(task);
  Euicc *euicc;
  GError *error = NULL;
  gsize len;
  const guint8 *buf;

  if (!ctx)
    return;
  euicc = ctx->euicc;
  buf = euicc_op_response(ctx, &len);

  switch ((AddressStep)ctx->step) {
  case ADDRESS_STEP_FIRST:
    ctx->doing = "setting the default SM-DP+ address";
    ctx->step++;
    /* fall through */
  case ADDRESS_STEP_SEND: {
    GBytes *req = es10a_set_default_dp_address_encode(ctx->text, &error);

    if (!req) {
      fail_invalid_args(task, "Invalid SM-DP+ address", error);
      return;
    }
    euicc_op_call(task, req);
    return;
  }
  case ADDRESS_STEP_RESULT: {
    Es10aSetDefaultDpAddressResult r;

    if (!euicc_op_check_call(task))
      return;
    if (!es10a_set_default_dp_address_decode(buf, len, &r, &error)) {
      decode_failed(task, error);
      return;
    }
    if (r != ES10A_SET_DEFAULT_DP_ADDRESS_OK) {
      euicc_op_fail(
          task, result_error(ESIMD_ERROR_CARD_ERROR,
                             "The card could not set the default SM-DP+ address (%s)",
                             es10_result_get_message(ES10_CMD_SET_DEFAULT_DP_ADDRESS, (gint)r)));
      return;
    }
    if (set_string(&euicc->default_smdp_address, ctx->text))
      euicc_emit_changed(euicc, EUICC_CHANGED_DEFAULT_SMDP_ADDRESS);
    ctx->step++;
  }
    /* fall through */
  case ADDRESS_STEP_LAST:
    euicc_op_done(task);
    return;
  }
  g_assert_not_reached();
}

void euicc_set_default_smdp_address(Euicc *euicc, const char *address, GCancellable *cancellable,
                                    GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = euicc_op_new(euicc, "set-default-smdp", address_step, cancellable, cb, user_data);
  EuiccOp *ctx = g_task_get_task_data(task);

  ctx->text = g_strdup(address ? address : "");
  euicc_op_queue(task);
}

/* ---- memory reset ---- */

/* eUICCMemoryReset bits that delete profiles (SGP.22 5.7.19):
 * deleteOperationalProfiles, deleteFieldLoadedTestProfiles. */
#define RESET_DELETES_PROFILES ((1u << 0) | (1u << 1))

typedef enum {
  RESET_STEP_FIRST,
  RESET_STEP_INHIBIT,
  RESET_STEP_SEND,
  RESET_STEP_RESULT,
  RESET_STEP_REOPEN,
  RESET_STEP_READ,
  RESET_STEP_READ_DONE,
  RESET_STEP_UNINHIBIT,
  RESET_STEP_LAST,
} ResetStep;

static void reset_step(GTask *task)
{
  EuiccOp *ctx = euicc_op_begin_step(task);
  Euicc *euicc;
  GError *error = NULL;
  gsize len;
  const guint8 *buf;

  if (!ctx)
    return;
  euicc = ctx->euicc;
  buf = euicc_op_response(ctx, &len);

  switch ((ResetStep)ctx->step) {
  case RESET_STEP_FIRST:
    ctx->doing = "resetting the eUICC memory";
    /* Read back what the reset may have changed; the EID and EUICCInfo2
     * stay. */
    ctx->index = READ_ADDRESSES;
    ctx->step++;
    /* fall through */
  case RESET_STEP_INHIBIT:
    /* Deleting the profiles can take the enabled one with it: the same
     * switch as a Disable for ModemManager. Only the default SM-DP+
     * address is no switch. */
    if ((ctx->options & RESET_DELETES_PROFILES) && euicc_op_inhibit(task))
      return;
    ctx->step++;
    /* fall through */
  case RESET_STEP_SEND: {
    GBytes *req = es10c_euicc_memory_reset_encode(ctx->options, &error);

    if (!req) {
      g_autofree gchar *what = g_strdup_printf("Invalid reset options 0x%x", ctx->options);

      fail_invalid_args(task, what, error);
      return;
    }
    g_info("%s: %s (options 0x%x)", euicc->label, ctx->doing, ctx->options);
    euicc_op_call(task, req);
    return;
  }
  case RESET_STEP_RESULT: {
    Es10cEuiccMemoryResetResult r;

    if (!euicc_op_check_call(task))
      return;
    if (!es10c_euicc_memory_reset_decode(buf, len, &r, &error)) {
      decode_failed(task, error);
      return;
    }
    if (r == ES10C_EUICC_MEMORY_RESET_CAT_BUSY) {
      euicc_op_fail(task, cat_busy_error());
      return;
    }
    /* nothingToDelete: the card already is as asked. */
    if (r != ES10C_EUICC_MEMORY_RESET_OK && r != ES10C_EUICC_MEMORY_RESET_NOTHING_TO_DELETE) {
      euicc_op_fail(task,
                    result_error(ESIMD_ERROR_CARD_ERROR, "The card could not reset its memory (%s)",
                                 es10_result_get_message(ES10_CMD_EUICC_MEMORY_RESET, (gint)r)));
      return;
    }
    ctx->step++;
  }
    /* fall through */
  case RESET_STEP_REOPEN:
    /* Deleting the enabled profile resets the card (SGP.22 5.7.19). */
    euicc_op_reopen(task);
    return;
  case RESET_STEP_READ:
    read_send(task);
    return;
  case RESET_STEP_READ_DONE:
    if (!read_done(task, RESET_STEP_READ))
      return;
    ctx->step++;
    /* fall through */
  case RESET_STEP_UNINHIBIT:
    if (euicc_op_uninhibit(task))
      return;
    ctx->step++;
    /* fall through */
  case RESET_STEP_LAST:
    done_with_notifications(task);
    return;
  }
  g_assert_not_reached();
}

void euicc_reset_memory(Euicc *euicc, guint options, GCancellable *cancellable,
                        GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = euicc_op_new(euicc, "reset", reset_step, cancellable, cb, user_data);
  EuiccOp *ctx = g_task_get_task_data(task);

  ctx->options = options;
  euicc_op_queue(task);
}

/* ---- close (shutdown) and release (after the linger) ---- */

typedef enum {
  CLOSE_STEP_FIRST,
  CLOSE_STEP_CLOSE,
  CLOSE_STEP_RELEASE,
  CLOSE_STEP_LAST,
} CloseStep;

static void close_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EuiccOp *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!card_close_finish(res, &error))
    g_debug("%s: closing the channel: %s", ctx->euicc->label, error->message);
  ctx->step++;
  close_step(task);
}

static void release_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EuiccOp *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!modem_release_finish(ctx->euicc->modem, res, &error))
    g_debug("%s: letting go of the modem: %s", ctx->euicc->label, error->message);
  ctx->step++;
  close_step(task);
}

static void close_step(GTask *task)
{
  EuiccOp *ctx = euicc_op_begin_step(task);
  Euicc *euicc;

  if (!ctx)
    return;
  euicc = ctx->euicc;
  switch ((CloseStep)ctx->step) {
  case CLOSE_STEP_FIRST:
    /* After the linger: an operation queued meanwhile is served first, in
     * this window, and the linger starts again after it. */
    if (ctx->lingered && (!euicc->holds_modem || op_queue_get_length(euicc->queue) > 0)) {
      euicc_op_done(task);
      return;
    }
    ctx->step++;
    /* fall through */
  case CLOSE_STEP_CLOSE:
    /* The channel goes before the port: a modem keeps a logical channel
     * its port's owner did not close. */
    card_close(&euicc->channel, ctx->op.io, close_ready, task);
    return;
  case CLOSE_STEP_RELEASE:
    if (euicc->holds_modem) {
      euicc->holds_modem = FALSE;
      modem_release(euicc->modem, release_ready, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case CLOSE_STEP_LAST:
    euicc_op_done(task);
    return;
  }
  g_assert_not_reached();
}

void euicc_close(Euicc *euicc, const GError *error, GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task;
  EuiccOp *ctx;

  euicc_notify_stop(euicc);
  linger_stop(euicc);
  op_queue_drop_waiting(euicc->queue, error);
  task = euicc_op_new(euicc, "close", close_step, NULL, cb, user_data);
  ctx = g_task_get_task_data(task);
  ctx->releases = TRUE;
  euicc_op_queue(task);
  /* After the close nothing may open the channel again. */
  euicc->closing = TRUE;
}

gboolean euicc_close_finish(Euicc *euicc, GAsyncResult *res, GError **error)
{
  return euicc_operation_finish(euicc, res, error);
}
