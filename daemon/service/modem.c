/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One modem: its Transport, and the probe that finds the eUICCs on its
 * slots. Reference counted: the manager holds one reference, and every eUICC
 * found on it another, so an operation still waiting for the modem's answer
 * never sees its port freed under it.
 */
#include "service/service-private.h"

#include <stdlib.h>

#include "discovery/mm.h"
#include "es10/es10.h"

/*
 * ISD-R AIDs, tried in this order on every slot that holds a card. The GSMA
 * one (SGP.02 2.2.3, SGP.22 2.2.3) is what every eUICC soldered into a modem
 * answers. Removable eUICCs that bring eSIM to devices without one answer on
 * their own AIDs instead; these are the ones that open LPAs list as their
 * defaults (OpenEUICC's ISD-R AID list, EasyLPAC's config.go, lpac's
 * custom-AID documentation):
 *   5ber.eSIM   A0000005591010FFFFFFFF8900050500
 *   eSIM.me     A0000005591010000000008900000300
 *   XeSIM       A0000005591010FFFFFFFF8900000177
 */
const char *const modem_isdr_aids[] = {
    "A0000005591010FFFFFFFF8900000100",
    "A0000005591010FFFFFFFF8900050500",
    "A0000005591010000000008900000300",
    "A0000005591010FFFFFFFF8900000177",
    NULL,
};

struct _Modem {
  gint ref_count;
  ModemSpec spec;
  Transport *transport;
  gboolean opened;
  MmClient *mm;        /* borrowed; NULL: ModemManager is never asked */
  gchar *mm_device;    /* ModemManager's Modem.Device for it, "" when unknown */
  gboolean at_inhibit; /* inhibited for as long as esimd uses its AT port */
};

void modem_slot_probe_free(ModemSlotProbe *probe)
{
  if (!probe)
    return;
  g_clear_pointer(&probe->isdr_aid, g_bytes_unref);
  g_free(probe->eid);
  g_free(probe);
}

static Transport *transport_for(const ModemSpec *spec)
{
  switch (spec->kind) {
  case TRANSPORT_KIND_QMI:
  case TRANSPORT_KIND_QRTR:
    return transport_new_qmi(spec->port, spec->flags);
  case TRANSPORT_KIND_MBIM:
    return transport_new_mbim(spec->port, spec->flags);
  case TRANSPORT_KIND_AT: {
    Transport *t = transport_new_at(spec->port, spec->baudrate);

    /* The AT backend reads its quirk flags (AT_CSIM_ONLY) from here. */
    t->flags = spec->flags;
    return t;
  }
  }
  g_return_val_if_reached(NULL);
}

/*
 * The modem a port belongs to, as ModemManager names it (Modem.Device): the
 * sysfs path of the USB device above the port, else of the PCI function.
 * Discovery knows it for the modems it finds; a port given with --device
 * comes without it, so it is looked up here, once: the port's class device
 * (tty, usbmisc or wwan) and its parents. NULL when the port is no such
 * device (a pty, a QRTR node).
 */
static gchar *device_for_port(const char *port)
{
  static const char *const classes[] = {"tty", "usbmisc", "wwan"};
  g_autofree gchar *real = realpath(port, NULL);
  g_autofree gchar *name = g_path_get_basename(real ? real : port);

  for (gsize i = 0; i < G_N_ELEMENTS(classes); i++) {
    g_autofree gchar *link = g_build_filename("/sys/class", classes[i], name, "device", NULL);
    g_autofree gchar *dir = realpath(link, NULL);
    gchar *pci = NULL;

    if (!dir)
      continue;
    /* Up to the USB device (the one with idVendor), noting the first PCI
     * function on the way for modems on PCIe. */
    while (g_str_has_prefix(dir, "/sys/devices/") && strlen(dir) > strlen("/sys/devices/")) {
      g_autofree gchar *id_vendor = g_build_filename(dir, "idVendor", NULL);
      g_autofree gchar *subsystem = g_build_filename(dir, "subsystem", NULL);
      g_autofree gchar *bus = realpath(subsystem, NULL);
      gchar *parent;

      if (g_file_test(id_vendor, G_FILE_TEST_EXISTS)) {
        g_free(pci);
        return g_steal_pointer(&dir);
      }
      if (!pci && bus && g_str_has_suffix(bus, "/bus/pci"))
        pci = g_strdup(dir);
      parent = g_path_get_dirname(dir);
      g_free(dir);
      dir = parent;
    }
    if (pci)
      return pci;
  }
  return NULL;
}

Modem *modem_new(const ModemSpec *spec, guint timeout_ms, MmClient *mm)
{
  Modem *modem = g_new0(Modem, 1);

  modem->ref_count = 1;
  modem->spec = *spec;
  modem->spec.port = g_strdup(spec->port);
  modem->spec.device = g_strdup(spec->device ? spec->device : "");
  modem->transport = transport_for(spec);
  modem->transport->timeout_ms = timeout_ms;
  modem->mm = mm;
  if (*modem->spec.device) {
    modem->mm_device = g_strdup(modem->spec.device);
  } else if (mm && spec->kind != TRANSPORT_KIND_QRTR) {
    modem->mm_device = device_for_port(spec->port);
    if (modem->mm_device)
      g_debug("%s belongs to %s: that is what ModemManager is asked to inhibit", spec->port,
              modem->mm_device);
    else
      g_debug("%s has no USB or PCI device above it: ModemManager is not asked to inhibit it",
              spec->port);
  }
  if (!modem->mm_device)
    modem->mm_device = g_strdup("");
  return modem;
}

Modem *modem_ref(Modem *modem)
{
  g_atomic_int_inc(&modem->ref_count);
  return modem;
}

static void modem_free(Modem *modem)
{
  transport_free(modem->transport);
  g_free(modem->spec.port);
  g_free(modem->spec.device);
  g_free(modem->mm_device);
  g_free(modem);
}

static void release_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree gchar *device = user_data;
  g_autoptr(GError) error = NULL;

  if (!mm_uninhibit_finish(NULL, res, &error))
    g_warning("Giving %s back to ModemManager: %s", device, error->message);
}

void modem_release_inhibition(Modem *modem)
{
  if (!modem->at_inhibit)
    return;
  modem->at_inhibit = FALSE;
  g_info("Done with the AT port %s: giving %s back to ModemManager", modem->spec.port,
         modem->mm_device);
  mm_uninhibit(modem->mm, modem->mm_device, NULL, release_ready, g_strdup(modem->mm_device));
}

const char *modem_get_mm_device(Modem *modem)
{
  return modem->mm_device;
}

static void final_close_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  Modem *modem = user_data;
  g_autoptr(GError) error = NULL;

  if (!transport_close_finish(modem->transport, res, &error))
    g_debug("Closing %s: %s", modem->spec.port, error->message);
  modem_release_inhibition(modem);
  modem_free(modem);
}

void modem_unref(Modem *modem)
{
  if (!g_atomic_int_dec_and_test(&modem->ref_count))
    return;
  if (modem->opened) {
    /* The port is released asynchronously; the backend may still have a
     * reply to drain. */
    modem->opened = FALSE;
    transport_close(modem->transport, NULL, final_close_ready, modem);
    return;
  }
  modem_release_inhibition(modem);
  modem_free(modem);
}

Transport *modem_get_transport(Modem *modem)
{
  return modem->transport;
}

const ModemSpec *modem_get_spec(Modem *modem)
{
  return &modem->spec;
}

gboolean modem_is_removed(Modem *modem)
{
  return modem->transport->removed;
}

/* ---- probe ---- */

static const char tag_probe;
static const char tag_close;

typedef enum {
  PROBE_STEP_FIRST,
  PROBE_STEP_OPEN,
  PROBE_STEP_INHIBIT,
  PROBE_STEP_LIST_SLOTS,
  PROBE_STEP_SLOTS,
  PROBE_STEP_LAST,
} ProbeStep;

typedef struct {
  Modem *modem;
  ProbeStep step;
  guint64 skip_slots;
  GPtrArray *slots;   /* TransportSlot* */
  GPtrArray *results; /* ModemSlotProbe*, parallel to slots */
  guint slot_index;   /* the slot being probed */
  guint aid_index;    /* the AID being tried on it */
  GError *busy;       /* the AT port was busy: why, until the retry */
} ProbeContext;

static void probe_context_free(ProbeContext *ctx)
{
  modem_unref(ctx->modem);
  g_clear_pointer(&ctx->slots, g_ptr_array_unref);
  g_clear_pointer(&ctx->results, g_ptr_array_unref);
  g_clear_error(&ctx->busy);
  g_free(ctx);
}

static void probe_step(GTask *task);

static void probe_fail(GTask *task, GError *error)
{
  g_task_return_error(task, error);
  g_object_unref(task);
}

static void open_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  ProbeContext *ctx = g_task_get_task_data(task);
  GError *error = NULL;

  if (!transport_open_finish(ctx->modem->transport, res, &error)) {
    Modem *modem = ctx->modem;

    /* ModemManager uses AT ports with TIOCEXCL: ask it to let go of the
     * modem once, then open again. */
    if (g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_BUSY) && !ctx->busy &&
        !modem->at_inhibit && modem->mm && *modem->mm_device) {
      g_info("%s is held by another program; asking ModemManager to release %s", modem->spec.port,
             modem->mm_device);
      ctx->busy = error;
      ctx->step = PROBE_STEP_INHIBIT;
      probe_step(task);
      return;
    }
    /* The retry failed too: what was inhibited for it is of no use. */
    if (ctx->busy)
      modem_release_inhibition(modem);
    probe_fail(task, error);
    return;
  }
  if (ctx->busy)
    g_info("Opened the AT port %s; %s stays inhibited in ModemManager while esimd uses it",
           ctx->modem->spec.port, ctx->modem->mm_device);
  ctx->modem->opened = TRUE;
  ctx->step = PROBE_STEP_LIST_SLOTS;
  probe_step(task);
}

static void inhibit_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  ProbeContext *ctx = g_task_get_task_data(task);
  Modem *modem = ctx->modem;
  g_autoptr(GError) error = NULL;

  if (!mm_inhibit_finish(modem->mm, res, &error)) {
    g_prefix_error(&ctx->busy, "%s; ", error->message);
    probe_fail(task, g_steal_pointer(&ctx->busy));
    return;
  }
  if (!mm_is_inhibited(modem->mm, modem->mm_device)) {
    /* ModemManager is not running or does not know the modem: someone
     * else holds the port, and the error says so. The call still counts. */
    mm_uninhibit(modem->mm, modem->mm_device, NULL, release_ready, g_strdup(modem->mm_device));
    probe_fail(task, g_steal_pointer(&ctx->busy));
    return;
  }
  modem->at_inhibit = TRUE;
  ctx->step = PROBE_STEP_OPEN;
  probe_step(task);
}

static void list_slots_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  ProbeContext *ctx = g_task_get_task_data(task);
  GError *error = NULL;

  ctx->slots = transport_list_slots_finish(ctx->modem->transport, res, &error);
  if (!ctx->slots) {
    probe_fail(task, error);
    return;
  }
  ctx->results = g_ptr_array_new_with_free_func((GDestroyNotify)modem_slot_probe_free);
  for (guint i = 0; i < ctx->slots->len; i++) {
    TransportSlot *s = g_ptr_array_index(ctx->slots, i);
    ModemSlotProbe *p = g_new0(ModemSlotProbe, 1);

    p->slot = s->slot;
    p->card_present = s->card_present;
    p->active = s->active;
    p->is_euicc = s->is_euicc;
    p->eid = s->eid ? g_ascii_strup(s->eid, -1) : NULL;
    g_ptr_array_add(ctx->results, p);
  }
  ctx->step++;
  probe_step(task);
}

static void open_channel_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  ProbeContext *ctx = g_task_get_task_data(task);
  ModemSlotProbe *p = g_ptr_array_index(ctx->results, ctx->slot_index);
  const char *aid = modem_isdr_aids[ctx->aid_index];
  g_autoptr(GError) error = NULL;
  guint channel = transport_open_channel_finish(ctx->modem->transport, res, &error);

  if (channel) {
    g_debug("%s slot %u: ISD-R %s answers on channel %u", ctx->modem->spec.port, p->slot, aid,
            channel);
    p->isdr_aid = es10_hex_decode(aid, NULL);
    p->channel = channel;
    ctx->slot_index++;
    ctx->aid_index = 0;
  } else if (g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_AID_NOT_FOUND)) {
    /* Not an eUICC with this AID: the next one, or no eUICC here. */
    ctx->aid_index++;
    if (!modem_isdr_aids[ctx->aid_index]) {
      g_info("%s slot %u: the card is no eUICC", ctx->modem->spec.port, p->slot);
      ctx->slot_index++;
      ctx->aid_index = 0;
    }
  } else if (g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE) ||
             g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    probe_fail(task, g_steal_pointer(&error));
    return;
  } else if (!p->active && g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED)) {
    /* Single-SIM-stack modems reach only the active slot's card. */
    g_info("%s slot %u is not active; its card is not probed", ctx->modem->spec.port, p->slot);
    ctx->slot_index++;
    ctx->aid_index = 0;
  } else {
    /* An empty slot the modem listed as full, no free channel: nothing to
     * manage there for now. */
    g_warning("%s slot %u: cannot open a channel to the ISD-R: %s", ctx->modem->spec.port, p->slot,
              error->message);
    ctx->slot_index++;
    ctx->aid_index = 0;
  }
  probe_step(task);
}

static void probe_step(GTask *task)
{
  ProbeContext *ctx = g_task_get_task_data(task);
  Transport *t = ctx->modem->transport;
  GCancellable *cancellable = g_task_get_cancellable(task);

  switch (ctx->step) {
  case PROBE_STEP_FIRST:
    ctx->step++;
    /* fall through */
  case PROBE_STEP_OPEN:
    if (!ctx->modem->opened) {
      transport_open(t, cancellable, open_ready, task);
      return;
    }
    ctx->step = PROBE_STEP_LIST_SLOTS;
    probe_step(task);
    return;
  case PROBE_STEP_INHIBIT:
    mm_inhibit(ctx->modem->mm, ctx->modem->mm_device, cancellable, inhibit_ready, task);
    return;
  case PROBE_STEP_LIST_SLOTS:
    transport_list_slots(t, cancellable, list_slots_ready, task);
    return;
  case PROBE_STEP_SLOTS:
    for (; ctx->slot_index < ctx->results->len; ctx->slot_index++) {
      ModemSlotProbe *p = g_ptr_array_index(ctx->results, ctx->slot_index);
      gboolean skip = p->slot < 64 && (ctx->skip_slots & (G_GUINT64_CONSTANT(1) << p->slot));

      if (p->card_present && !skip) {
        g_autoptr(GBytes) aid = es10_hex_decode(modem_isdr_aids[ctx->aid_index], NULL);

        transport_open_channel(t, p->slot, aid, cancellable, open_channel_ready, task);
        return;
      }
    }
    ctx->step++;
    /* fall through */
  case PROBE_STEP_LAST:
    g_task_return_pointer(task, g_steal_pointer(&ctx->results), (GDestroyNotify)g_ptr_array_unref);
    g_object_unref(task);
    return;
  }
  g_assert_not_reached();
}

void modem_probe(Modem *modem, guint64 skip_slots, GCancellable *cancellable,
                 GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);
  ProbeContext *ctx = g_new0(ProbeContext, 1);

  g_task_set_source_tag(task, (gpointer)&tag_probe);
  ctx->modem = modem_ref(modem);
  ctx->skip_slots = skip_slots;
  g_task_set_task_data(task, ctx, (GDestroyNotify)probe_context_free);
  probe_step(task);
}

GPtrArray *modem_probe_finish(Modem *modem, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)&tag_probe), NULL);
  return g_task_propagate_pointer(G_TASK(res), error);
}

static void close_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Modem *modem = g_task_get_task_data(task);
  GError *error = NULL;

  /* The port is closed: ModemManager may have the modem back. */
  modem_release_inhibition(modem);
  if (!transport_close_finish(modem->transport, res, &error))
    g_task_return_error(task, error);
  else
    g_task_return_boolean(task, TRUE);
  g_object_unref(task);
}

void modem_close(Modem *modem, GCancellable *cancellable, GAsyncReadyCallback cb,
                 gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);

  g_task_set_source_tag(task, (gpointer)&tag_close);
  g_task_set_task_data(task, modem_ref(modem), (GDestroyNotify)modem_unref);
  if (!modem->opened) {
    modem_release_inhibition(modem);
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
  modem->opened = FALSE;
  transport_close(modem->transport, cancellable, close_ready, task);
}

gboolean modem_close_finish(Modem *modem, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)&tag_close), FALSE);
  return g_task_propagate_boolean(G_TASK(res), error);
}
