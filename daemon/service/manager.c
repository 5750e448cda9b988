/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The manager: modems -> eUICCs. Each modem is probed on its own (in
 * parallel with the others); each eUICC found gets the next id and is
 * announced once its cache is filled. A modem whose port goes away takes its
 * eUICCs with it.
 */
#include "service/euicc-private.h"

/* One modem as the manager sees it. Reference counted: a probe in flight
 * keeps it, so that a modem removed meanwhile is not freed under it. */
typedef struct {
  gint ref_count;
  Manager *manager; /* NULL once detached (removed, or the manager freed) */
  Modem *modem;
  gboolean probing;
  gboolean holds_modem; /* the running probe holds the modem (modem_acquire) */
  guint pending;        /* eUICC probes and refreshes of the running probe */
  GPtrArray *found;     /* Euicc*: found by the running probe, not yet announced */
  GSource *removed_source;
} ModemEntry;

struct _Manager {
  ManagerConfig config;
  EuiccSettings settings;
  const ServiceListener *listener;
  gpointer user_data;
  GPtrArray *modems; /* ModemEntry* */
  GPtrArray *euiccs; /* Euicc*, in id order */
  guint next_euicc_id;
  guint n_probing;
  GPtrArray *waiters; /* GTask*: wait_probed and scan callers */
  GCancellable *cancellable;
  gboolean shutting_down;
  MmWatch *mm_watch; /* what ModemManager reports; NULL without ModemManager */
  NmProfiles *nm;    /* the connections kept in NetworkManager; NULL: none */
};

static const char tag_wait;
static const char tag_scan;
static const char tag_shutdown;

static ModemEntry *entry_ref(ModemEntry *entry)
{
  entry->ref_count++;
  return entry;
}

static void entry_unref(ModemEntry *entry)
{
  if (--entry->ref_count > 0)
    return;
  if (entry->removed_source) {
    g_source_destroy(entry->removed_source);
    g_source_unref(entry->removed_source);
  }
  g_ptr_array_unref(entry->found);
  transport_set_removed_func(modem_get_transport(entry->modem), NULL, NULL);
  modem_unref(entry->modem);
  g_free(entry);
}

static const char *entry_port(ModemEntry *entry)
{
  return modem_get_spec(entry->modem)->port;
}

/* NetworkManager (re)appeared: whatever happened meanwhile, each profile
 * gets its connection now. */
static void on_nm_appeared(gpointer user_data)
{
  Manager *manager = user_data;

  for (guint i = 0; i < manager->euiccs->len; i++)
    euicc_sync_connections(g_ptr_array_index(manager->euiccs, i));
}

/* ModemManager probed a modem again, left or came back: each eUICC whose
 * modem object changed says so. */
static void on_mm_changed(gpointer user_data)
{
  Manager *manager = user_data;

  for (guint i = 0; i < manager->euiccs->len; i++)
    euicc_modem_changed(g_ptr_array_index(manager->euiccs, i));
}

Manager *manager_new(const ManagerConfig *config, const ServiceListener *listener,
                     gpointer user_data)
{
  Manager *manager = g_new0(Manager, 1);
  EuiccSettings settings = {
      .full_identifiers = config->full_identifiers,
      .auto_send_notifications = config->auto_send_notifications,
      .smdp_ca_file = config->smdp_ca_file,
      .smdp_host_override = config->smdp_host_override,
      .smdp_ca_dir = config->smdp_ca_dir,
      .notify_retry_first_s = config->notify_retry_first_s,
      .linger_ms = config->linger_ms,
      .sim_wait_ms = config->sim_wait_ms,
      .mm = config->mm,
  };

  /* Which modem ModemManager has on each device: Euicc1.Modem, and the
   * wait for the new SIM after a switch. */
  if (config->mm) {
    manager->mm_watch = mm_watch_new(mm_client_get_address(config->mm), on_mm_changed, manager);
    settings.mm_watch = manager->mm_watch;
  }
  if (config->network_manager) {
    manager->nm = nm_profiles_new(NULL);
    nm_profiles_set_appeared_func(manager->nm, on_nm_appeared, manager);
    settings.nm = manager->nm;
  }
  euicc_settings_copy(&manager->settings, &settings);
  /* The strings live on in the settings; the caller's copies are borrowed. */
  manager->config = *config;
  manager->config.smdp_ca_file = manager->settings.smdp_ca_file;
  manager->config.smdp_host_override = manager->settings.smdp_host_override;
  manager->config.smdp_ca_dir = manager->settings.smdp_ca_dir;
  manager->listener = listener;
  manager->user_data = user_data;
  manager->modems = g_ptr_array_new();
  manager->euiccs = g_ptr_array_new_with_free_func((GDestroyNotify)euicc_unref);
  manager->waiters = g_ptr_array_new();
  manager->cancellable = g_cancellable_new();
  return manager;
}

GPtrArray *manager_get_euiccs(Manager *manager)
{
  return manager->euiccs;
}

Euicc *manager_lookup_euicc(Manager *manager, guint id)
{
  for (guint i = 0; i < manager->euiccs->len; i++) {
    Euicc *euicc = g_ptr_array_index(manager->euiccs, i);

    if (euicc_get_id(euicc) == id)
      return euicc;
  }
  return NULL;
}

/* Answers every wait_probed / scan caller once no probe runs. */
static void complete_waiters(Manager *manager)
{
  g_autoptr(GPtrArray) waiters = NULL;

  if (manager->n_probing > 0 || manager->waiters->len == 0)
    return;
  waiters = g_steal_pointer(&manager->waiters);
  manager->waiters = g_ptr_array_new();
  for (guint i = 0; i < waiters->len; i++) {
    GTask *task = g_ptr_array_index(waiters, i);

    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
  }
}

/* Forgets an announced eUICC: its operations are answered with the error,
 * the listener hears of it, and the manager's reference goes. */
static void remove_euicc(Manager *manager, Euicc *euicc, const GError *error)
{
  g_info("eUICC %u (%s slot %u) is gone: %s", euicc_get_id(euicc), euicc_get_port(euicc),
         euicc_get_slot(euicc), error->message);
  euicc_invalidate(euicc, error);
  if (manager->listener && manager->listener->euicc_removed)
    manager->listener->euicc_removed(euicc, manager->user_data);
  g_ptr_array_remove(manager->euiccs, euicc);
}

/* An operation found the card gone from its slot. */
static void on_euicc_gone(Euicc *euicc, gpointer user_data)
{
  Manager *manager = user_data;
  g_autoptr(GError) error =
      g_error_new(ESIMD_ERROR, ESIMD_ERROR_REMOVED, "The card was removed from its slot");

  if (g_ptr_array_find(manager->euiccs, euicc, NULL))
    remove_euicc(manager, euicc, error);
}

static Euicc *find_euicc(Manager *manager, Modem *modem, guint slot)
{
  for (guint i = 0; i < manager->euiccs->len; i++) {
    Euicc *euicc = g_ptr_array_index(manager->euiccs, i);

    if (euicc_get_modem(euicc) == modem && euicc_get_slot(euicc) == slot)
      return euicc;
  }
  return NULL;
}

/* ---- probing one modem ---- */

static void entry_probe_done(ModemEntry *entry)
{
  Manager *manager = entry->manager;

  /* The cards are read: each eUICC holds the modem for itself from here
   * on, for as long as its operations need it. */
  if (entry->holds_modem) {
    entry->holds_modem = FALSE;
    modem_release(entry->modem, NULL, NULL);
  }
  if (!entry->probing)
    return;
  entry->probing = FALSE;
  if (manager) {
    manager->n_probing--;
    complete_waiters(manager);
  }
}

typedef struct {
  ModemEntry *entry;
  Euicc *euicc;
} EuiccProbe;

static void euicc_probe_free(EuiccProbe *probe)
{
  euicc_unref(probe->euicc);
  entry_unref(probe->entry);
  g_free(probe);
}

static void announce_euicc(Manager *manager, ModemEntry *entry, Euicc *euicc);

/* Every card of the modem's probe is read: the new ones are announced in
 * slot order, so that ids follow the slots of a modem. */
static void entry_pending_done(ModemEntry *entry)
{
  g_autoptr(GPtrArray) found = NULL;

  if (--entry->pending > 0)
    return;
  found = g_steal_pointer(&entry->found);
  entry->found = g_ptr_array_new_with_free_func((GDestroyNotify)euicc_unref);
  if (entry->manager && !entry->manager->shutting_down)
    for (guint i = 0; i < found->len; i++)
      announce_euicc(entry->manager, entry, g_ptr_array_index(found, i));
  entry_probe_done(entry);
}

static void found_closed(GObject *source, GAsyncResult *res, gpointer user_data)
{
  Euicc *euicc = user_data;

  euicc_close_finish(euicc, res, NULL);
  euicc_unref(euicc);
}

/* Gives the eUICC the next id and tells the listener. */
static void announce_euicc(Manager *manager, ModemEntry *entry, Euicc *euicc)
{
  g_autofree gchar *eid = euicc_log_id(euicc, euicc_get_eid(euicc));

  euicc_set_id(euicc, manager->next_euicc_id++);
  euicc_set_gone_func(euicc, on_euicc_gone, manager);
  /* A modem ModemManager could know: watch what it reports from now on. */
  if (manager->mm_watch && *modem_get_mm_device(euicc_get_modem(euicc)))
    mm_watch_start(manager->mm_watch);
  g_ptr_array_add(manager->euiccs, euicc_ref(euicc));
  g_info("eUICC %u: %s on %s slot %u%s, %u profiles", euicc_get_id(euicc), eid, entry_port(entry),
         euicc_get_slot(euicc), euicc_get_slot_active(euicc) ? "" : " (inactive)",
         euicc_get_profiles(euicc)->len);
  if (manager->listener && manager->listener->euicc_added)
    manager->listener->euicc_added(euicc, manager->user_data);
  /* Notifications a card still holds (the SM-DP+ was unreachable before a
   * restart, or another LPA left them) go out now: a restart loses nothing. */
  euicc_schedule_notifications(euicc);
}

static void euicc_probe_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  EuiccProbe *probe = user_data;
  ModemEntry *entry = probe->entry;
  Euicc *euicc = probe->euicc;
  g_autoptr(GError) error = NULL;

  if (!euicc_operation_finish(euicc, res, &error)) {
    g_warning("%s slot %u: cannot read the eUICC: %s", entry_port(entry), euicc_get_slot(euicc),
              error->message);
    g_ptr_array_remove(entry->found, euicc);
    if (!g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_REMOVED))
      euicc_close(euicc, error, found_closed, euicc_ref(euicc));
  }
  entry_pending_done(entry);
  euicc_probe_free(probe);
}

static void euicc_refresh_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  EuiccProbe *probe = user_data;
  g_autoptr(GError) error = NULL;

  if (!euicc_operation_finish(probe->euicc, res, &error))
    g_warning("%s slot %u: refreshing the eUICC: %s", entry_port(probe->entry),
              euicc_get_slot(probe->euicc), error->message);
  entry_pending_done(probe->entry);
  euicc_probe_free(probe);
}

static void start_euicc_probe(ModemEntry *entry, Euicc *euicc, gboolean is_new)
{
  EuiccProbe *probe = g_new0(EuiccProbe, 1);

  probe->entry = entry_ref(entry);
  probe->euicc = euicc_ref(euicc);
  entry->pending++;
  if (is_new)
    euicc_probe(euicc, NULL, euicc_probe_ready, probe);
  else
    euicc_refresh(euicc, SERVICE_READ_MAY_DISTURB, NULL, euicc_refresh_ready, probe);
}

static void modem_probe_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  ModemEntry *entry = user_data;
  Manager *manager = entry->manager;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) slots = modem_probe_finish(entry->modem, res, &error);

  /* Held until every card found is read (entry_probe_done). */
  entry->holds_modem = slots != NULL;
  if (!manager || manager->shutting_down) {
    entry_probe_done(entry);
    entry_unref(entry);
    return;
  }
  if (!slots) {
    /* Logged, and tried again on the next Scan. */
    g_warning("Probing modem %s failed (tried again on the next Scan): %s", entry_port(entry),
              error->message);
    entry_probe_done(entry);
    entry_unref(entry);
    return;
  }

  /* eUICCs of this modem on slots that are empty now, or gone. */
  for (guint i = manager->euiccs->len; i > 0; i--) {
    Euicc *euicc = g_ptr_array_index(manager->euiccs, i - 1);
    gboolean present = FALSE;

    if (euicc_get_modem(euicc) != entry->modem)
      continue;
    for (guint j = 0; j < slots->len; j++) {
      ModemSlotProbe *p = g_ptr_array_index(slots, j);

      if (p->slot == euicc_get_slot(euicc) && p->card_present)
        present = TRUE;
    }
    if (!present) {
      g_autoptr(GError) gone =
          g_error_new(ESIMD_ERROR, ESIMD_ERROR_REMOVED, "The card was removed from its slot");

      remove_euicc(manager, euicc, gone);
    }
  }

  entry->pending++; /* held while the probes below are started */
  for (guint i = 0; i < slots->len; i++) {
    ModemSlotProbe *p = g_ptr_array_index(slots, i);
    Euicc *known = find_euicc(manager, entry->modem, p->slot);

    if (known) {
      euicc_set_slot_active(known, p->active);
      if (p->isdr_aid)
        euicc_attach_channel(known, p->isdr_aid, p->channel);
      /* A card in an inactive slot cannot be read; its cache stays. */
      if (p->active)
        start_euicc_probe(entry, known, FALSE);
    } else if (p->isdr_aid) {
      g_autoptr(Euicc) euicc =
          euicc_new(entry->modem, p, &manager->settings, manager->listener, manager->user_data);

      g_ptr_array_add(entry->found, euicc_ref(euicc));
      start_euicc_probe(entry, euicc, TRUE);
    } else if (!p->active && p->eid && p->is_euicc != TRANSPORT_TRISTATE_NO) {
      /* The modem reports an eUICC in a slot it does not use: it is there
       * (Euicc1.SlotActive false), known by its EID until it is reachable. */
      g_ptr_array_add(entry->found, euicc_new(entry->modem, p, &manager->settings,
                                              manager->listener, manager->user_data));
    }
  }
  entry_pending_done(entry);
  entry_unref(entry);
}

static void probe_modem(Manager *manager, ModemEntry *entry)
{
  guint64 known = 0;

  if (entry->probing)
    return;
  for (guint i = 0; i < manager->euiccs->len; i++) {
    Euicc *euicc = g_ptr_array_index(manager->euiccs, i);
    guint slot = euicc_get_slot(euicc);

    /* Cards with a channel already are not looked for again; those known
     * from the slot report only are, in case their slot is active now. */
    if (euicc_get_modem(euicc) == entry->modem && slot < 64 && euicc_has_channel(euicc))
      known |= G_GUINT64_CONSTANT(1) << slot;
  }
  entry->probing = TRUE;
  manager->n_probing++;
  modem_probe(entry->modem, known, manager->cancellable, modem_probe_ready, entry_ref(entry));
}

/* ---- a modem going away ---- */

/* Detaches the entry: its eUICCs, announced or still being probed, are told
 * REMOVED, and the manager lets go of it. */
static void entry_detach(Manager *manager, ModemEntry *entry, const GError *error)
{
  for (guint i = manager->euiccs->len; i > 0; i--) {
    Euicc *euicc = g_ptr_array_index(manager->euiccs, i - 1);

    if (euicc_get_modem(euicc) == entry->modem)
      remove_euicc(manager, euicc, error);
  }
  for (guint i = 0; i < entry->found->len; i++)
    euicc_invalidate(g_ptr_array_index(entry->found, i), error);
  g_ptr_array_set_size(entry->found, 0);
  entry_probe_done(entry);
  /* Gone: an AT port taken from ModemManager goes back to it now. */
  modem_detach(entry->modem);
  entry->manager = NULL;
  g_ptr_array_remove(manager->modems, entry);
  entry_unref(entry);
}

static gboolean handle_removed(gpointer user_data)
{
  ModemEntry *entry = user_data;
  Manager *manager = entry->manager;
  g_autoptr(GError) error = g_error_new(ESIMD_ERROR, ESIMD_ERROR_REMOVED, "The modem was removed");

  g_source_unref(entry->removed_source);
  entry->removed_source = NULL;
  if (manager) {
    g_info("Modem %s was removed", entry_port(entry));
    entry_detach(manager, entry, error);
  }
  return G_SOURCE_REMOVE;
}

/* Called by the backend from deep inside its own I/O: the work is done from
 * the main loop, so that nothing it still uses is freed under it. */
static void on_transport_removed(Transport *t, gpointer user_data)
{
  ModemEntry *entry = user_data;

  if (entry->removed_source || !entry->manager)
    return;
  entry->removed_source = g_idle_source_new();
  g_source_set_callback(entry->removed_source, handle_removed, entry, NULL);
  g_source_attach(entry->removed_source, g_main_context_get_thread_default());
}

void manager_add_modem(Manager *manager, const ModemSpec *spec)
{
  ModemEntry *entry;

  g_return_if_fail(!manager->shutting_down);
  for (guint i = 0; i < manager->modems->len; i++) {
    ModemEntry *e = g_ptr_array_index(manager->modems, i);

    if (g_str_equal(entry_port(e), spec->port)) {
      /* Known, maybe from a probe that failed: try it again. */
      g_debug("Modem %s is known already; probing it again", spec->port);
      probe_modem(manager, e);
      return;
    }
  }
  entry = g_new0(ModemEntry, 1);
  entry->ref_count = 1;
  entry->manager = manager;
  entry->modem = modem_new(spec, manager->config.transport_timeout_ms, manager->config.mm);
  entry->found = g_ptr_array_new_with_free_func((GDestroyNotify)euicc_unref);
  transport_set_removed_func(modem_get_transport(entry->modem), on_transport_removed, entry);
  g_ptr_array_add(manager->modems, entry);
  g_info("Probing %s modem %s", transport_kind_to_string(spec->kind), spec->port);
  probe_modem(manager, entry);
}

void manager_remove_modem(Manager *manager, const char *port)
{
  g_autoptr(GError) error = g_error_new(ESIMD_ERROR, ESIMD_ERROR_REMOVED, "The modem was removed");

  for (guint i = 0; i < manager->modems->len; i++) {
    ModemEntry *entry = g_ptr_array_index(manager->modems, i);

    if (g_str_equal(entry_port(entry), port)) {
      g_info("Modem %s is gone", port);
      entry_detach(manager, entry, error);
      return;
    }
  }
}

void manager_wait_probed(Manager *manager, GCancellable *cancellable, GAsyncReadyCallback cb,
                         gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);

  g_task_set_source_tag(task, (gpointer)&tag_wait);
  g_ptr_array_add(manager->waiters, task);
  complete_waiters(manager);
}

gboolean manager_wait_probed_finish(Manager *manager, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)&tag_wait), FALSE);
  return g_task_propagate_boolean(G_TASK(res), error);
}

void manager_scan(Manager *manager, ServiceReadMode mode, GCancellable *cancellable,
                  GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);

  g_task_set_source_tag(task, (gpointer)&tag_scan);
  if (manager->shutting_down) {
    g_task_return_new_error(task, ESIMD_ERROR, ESIMD_ERROR_CANCELLED, "esimd is shutting down");
    g_object_unref(task);
    return;
  }
  for (guint i = 0; i < manager->modems->len; i++) {
    ModemEntry *entry = g_ptr_array_index(manager->modems, i);

    /* Its eUICCs stay as the cache has them. */
    if (mode == SERVICE_READ_QUIET && modem_is_on_demand(entry->modem)) {
      g_info("Scan: not taking %s from ModemManager for a caller who may not disturb it",
             entry_port(entry));
      continue;
    }
    probe_modem(manager, entry);
  }
  g_ptr_array_add(manager->waiters, task);
  complete_waiters(manager);
}

gboolean manager_scan_finish(Manager *manager, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)&tag_scan), FALSE);
  return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---- shutdown ---- */

typedef enum {
  SHUTDOWN_STEP_FIRST,
  SHUTDOWN_STEP_CLOSE_CHANNELS,
  SHUTDOWN_STEP_CLOSE_PORTS,
  SHUTDOWN_STEP_LAST,
} ShutdownStep;

typedef struct {
  ShutdownStep step;
  guint pending;
  GPtrArray *euiccs; /* Euicc* */
  GPtrArray *modems; /* Modem* */
} ShutdownContext;

static void shutdown_context_free(ShutdownContext *ctx)
{
  g_ptr_array_unref(ctx->euiccs);
  g_ptr_array_unref(ctx->modems);
  g_free(ctx);
}

static void shutdown_step(GTask *task);

static void shutdown_part_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  ShutdownContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean(G_TASK(res), &error))
    g_debug("Shutting down: %s", error->message);
  if (--ctx->pending > 0)
    return;
  ctx->step++;
  shutdown_step(task);
}

static void shutdown_step(GTask *task)
{
  ShutdownContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  switch (ctx->step) {
  case SHUTDOWN_STEP_FIRST:
    ctx->step++;
    /* fall through */
  case SHUTDOWN_STEP_CLOSE_CHANNELS:
    /* Queued operations are dropped; a running one finishes (a profile
     * switch half done is worse than a slower exit), then the channel is
     * closed. */
    error = g_error_new(ESIMD_ERROR, ESIMD_ERROR_CANCELLED, "esimd is shutting down");
    ctx->pending = ctx->euiccs->len;
    for (guint i = 0; i < ctx->euiccs->len; i++)
      euicc_close(g_ptr_array_index(ctx->euiccs, i), error, shutdown_part_ready, task);
    if (ctx->pending > 0)
      return;
    ctx->step++;
    /* fall through */
  case SHUTDOWN_STEP_CLOSE_PORTS:
    ctx->pending = ctx->modems->len;
    for (guint i = 0; i < ctx->modems->len; i++)
      modem_close(g_ptr_array_index(ctx->modems, i), NULL, shutdown_part_ready, task);
    if (ctx->pending > 0)
      return;
    ctx->step++;
    /* fall through */
  case SHUTDOWN_STEP_LAST:
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
  g_assert_not_reached();
}

void manager_shutdown(Manager *manager, GCancellable *cancellable, GAsyncReadyCallback cb,
                      gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);
  ShutdownContext *ctx = g_new0(ShutdownContext, 1);

  g_task_set_source_tag(task, (gpointer)&tag_shutdown);
  ctx->euiccs = g_ptr_array_new_with_free_func((GDestroyNotify)euicc_unref);
  ctx->modems = g_ptr_array_new_with_free_func((GDestroyNotify)modem_unref);
  for (guint i = 0; i < manager->euiccs->len; i++)
    g_ptr_array_add(ctx->euiccs, euicc_ref(g_ptr_array_index(manager->euiccs, i)));
  for (guint i = 0; i < manager->modems->len; i++) {
    ModemEntry *entry = g_ptr_array_index(manager->modems, i);

    g_ptr_array_add(ctx->modems, modem_ref(entry->modem));
  }
  g_task_set_task_data(task, ctx, (GDestroyNotify)shutdown_context_free);
  manager->shutting_down = TRUE;
  g_cancellable_cancel(manager->cancellable);
  shutdown_step(task);
}

gboolean manager_shutdown_finish(Manager *manager, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)&tag_shutdown), FALSE);
  return g_task_propagate_boolean(G_TASK(res), error);
}

void manager_free(Manager *manager)
{
  g_autoptr(GError) error = NULL;

  if (!manager)
    return;
  error = g_error_new(ESIMD_ERROR, ESIMD_ERROR_CANCELLED, "esimd is shutting down");
  manager->shutting_down = TRUE;
  g_cancellable_cancel(manager->cancellable);
  for (guint i = 0; i < manager->euiccs->len; i++)
    euicc_invalidate(g_ptr_array_index(manager->euiccs, i), error);
  g_ptr_array_set_size(manager->euiccs, 0);
  while (manager->modems->len > 0) {
    ModemEntry *entry = g_ptr_array_index(manager->modems, manager->modems->len - 1);

    for (guint i = 0; i < entry->found->len; i++)
      euicc_invalidate(g_ptr_array_index(entry->found, i), error);
    entry->probing = FALSE;
    entry->manager = NULL;
    g_ptr_array_remove_index(manager->modems, manager->modems->len - 1);
    entry_unref(entry);
  }
  for (guint i = 0; i < manager->waiters->len; i++) {
    GTask *task = g_ptr_array_index(manager->waiters, i);

    g_task_return_error(task, g_error_copy(error));
    g_object_unref(task);
  }
  g_ptr_array_unref(manager->waiters);
  g_ptr_array_unref(manager->euiccs);
  g_ptr_array_unref(manager->modems);
  g_object_unref(manager->cancellable);
  euicc_settings_clear(&manager->settings);
  mm_watch_free(manager->mm_watch);
  nm_profiles_free(manager->nm);
  g_free(manager);
}
