/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One modem: its Transport, and the probe that finds the eUICCs on its
 * slots. Reference counted: the manager holds one reference, and every eUICC
 * found on it another, so an operation still waiting for the modem's answer
 * never sees its port freed under it. modem-info.c reads what the modem
 * tells about itself (IMEI, radio technologies).
 */
#include "service/service-private.h"

#include <stdlib.h>

#include "system/mm.h"
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
  MmClient *mm;     /* borrowed; NULL: ModemManager is never asked */
  gchar *mm_device; /* ModemManager's Modem.Device for it, "" when unknown */
  /* ModemManager owns the AT port: it is opened, inside an inhibition, only
   * while something holds the modem (modem_acquire), and closed and given
   * back when the last holder lets go. */
  gboolean on_demand;
  gboolean inhibited; /* one mm_inhibit() of ours is not undone yet */
  gboolean detached;  /* removed: nothing may take it again */
  guint holders;      /* modem_acquire() not yet released */
  guint session;      /* counts the openings of the port */
  GQueue port_ops;    /* GTask: acquire, release, give back; the head runs */
  gboolean port_op_running;
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
  g_queue_init(&modem->port_ops);
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

/* The last word on a modem being freed: what is still inhibited goes back
 * without waiting (the port is closed by then). */
static void give_back_now(Modem *modem)
{
  if (!modem->inhibited)
    return;
  modem->inhibited = FALSE;
  if (mm_is_inhibited(modem->mm, modem->mm_device))
    g_info("Done with the AT port %s: giving %s back to ModemManager", modem->spec.port,
           modem->mm_device);
  mm_uninhibit(modem->mm, modem->mm_device, NULL, release_ready, g_strdup(modem->mm_device));
}

const char *modem_get_mm_device(Modem *modem)
{
  return modem->mm_device;
}

gboolean modem_is_on_demand(Modem *modem)
{
  return modem->on_demand;
}

guint modem_get_port_session(Modem *modem)
{
  return modem->session;
}

static void final_close_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  Modem *modem = user_data;
  g_autoptr(GError) error = NULL;

  if (!transport_close_finish(modem->transport, res, &error))
    g_debug("Closing %s: %s", modem->spec.port, error->message);
  give_back_now(modem);
  modem_free(modem);
}

void modem_unref(Modem *modem)
{
  if (!g_atomic_int_dec_and_test(&modem->ref_count))
    return;
  /* Every port operation holds a reference: none is queued now. */
  if (modem->opened) {
    /* The port is released asynchronously; the backend may still have a
     * reply to drain. */
    modem->opened = FALSE;
    transport_close(modem->transport, NULL, final_close_ready, modem);
    return;
  }
  give_back_now(modem);
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

/* ---- holding the port ---- */

/*
 * ModemManager opens the AT ports it uses with TIOCEXCL. To talk AT on such
 * a port esimd has ModemManager let go of the whole modem (InhibitDevice),
 * and while it is inhibited ModemManager manages nothing on it: no data
 * connection, no calls. So esimd holds it only while a probe or a card
 * operation needs the port: acquire inhibits and opens, the last release
 * closes and gives the modem back. Acquire, release and give back run one at
 * a time, in call order, so that a release never closes the port under an
 * acquire in flight.
 */

static const char tag_port;

typedef enum {
  PORT_OP_ACQUIRE,
  PORT_OP_RELEASE,
  PORT_OP_GIVE_BACK, /* close and give back, whoever holds it */
} PortOpKind;

typedef enum {
  PORT_STEP_FIRST,
  PORT_STEP_INHIBIT,
  PORT_STEP_OPEN,
  PORT_STEP_CLOSE,
  PORT_STEP_UNINHIBIT,
  PORT_STEP_LAST,
} PortStep;

typedef struct {
  Modem *modem;
  PortOpKind kind;
  PortStep step;
  GError *busy;  /* the port was busy at the first try: why */
  GError *error; /* the outcome, NULL: success */
  guint retries; /* opens tried again after ModemManager let go */
} PortContext;

/*
 * ModemManager answers InhibitDevice before it has closed the modem's ports:
 * right after, the AT port may still be busy. It is tried again this often,
 * this many times, before esimd gives up on it.
 */
#define PORT_RETRY_MS 100
#define PORT_RETRIES 20

static void port_context_free(PortContext *ctx)
{
  modem_unref(ctx->modem);
  g_clear_error(&ctx->busy);
  g_clear_error(&ctx->error);
  g_free(ctx);
}

static void port_step(GTask *task);

static void port_ops_run(Modem *modem)
{
  GTask *head = g_queue_peek_head(&modem->port_ops);

  if (!head || modem->port_op_running)
    return;
  modem->port_op_running = TRUE;
  port_step(head);
}

static void port_op_start(Modem *modem, PortOpKind kind, GCancellable *cancellable,
                          GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);
  PortContext *ctx = g_new0(PortContext, 1);

  g_task_set_source_tag(task, (gpointer)&tag_port);
  /* The outcome is what was done to the port, even after a late cancel. */
  g_task_set_check_cancellable(task, FALSE);
  ctx->modem = modem_ref(modem);
  ctx->kind = kind;
  g_task_set_task_data(task, ctx, (GDestroyNotify)port_context_free);
  g_queue_push_tail(&modem->port_ops, task);
  port_ops_run(modem);
}

static void port_next(GTask *task, PortStep step)
{
  PortContext *ctx = g_task_get_task_data(task);

  ctx->step = step;
  port_step(task);
}

/* Fails the operation after undoing what it did to the port. */
static void port_fail(GTask *task, GError *error)
{
  PortContext *ctx = g_task_get_task_data(task);

  g_clear_error(&ctx->error);
  ctx->error = error;
  port_next(task, ctx->modem->opened ? PORT_STEP_CLOSE : PORT_STEP_UNINHIBIT);
}

static void port_inhibit_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  PortContext *ctx = g_task_get_task_data(task);
  Modem *modem = ctx->modem;
  GError *error = NULL;

  if (!mm_inhibit_finish(modem->mm, res, &error)) {
    if (ctx->busy) {
      g_prefix_error(&ctx->busy, "%s; ", error->message);
      g_error_free(error);
      error = g_steal_pointer(&ctx->busy);
    }
    port_fail(task, error);
    return;
  }
  /* Counted by the client whether or not ModemManager held anything: the
   * uninhibit that balances it comes when the port is given back. */
  modem->inhibited = TRUE;
  if (!mm_is_inhibited(modem->mm, modem->mm_device) && ctx->busy) {
    /* ModemManager is not running or does not manage the modem: someone
     * else holds the port, and the error says so. */
    port_fail(task, g_steal_pointer(&ctx->busy));
    return;
  }
  if (g_cancellable_set_error_if_cancelled(g_task_get_cancellable(task), &error)) {
    port_fail(task, error);
    return;
  }
  port_next(task, PORT_STEP_OPEN);
}

static void port_open_ready(GObject *source, GAsyncResult *res, gpointer user_data);

static gboolean port_retry_open(gpointer user_data)
{
  GTask *task = user_data;
  PortContext *ctx = g_task_get_task_data(task);

  transport_open(ctx->modem->transport, g_task_get_cancellable(task), port_open_ready, task);
  return G_SOURCE_REMOVE;
}

static void port_open_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  PortContext *ctx = g_task_get_task_data(task);
  Modem *modem = ctx->modem;
  GError *error = NULL;

  if (!transport_open_finish(modem->transport, res, &error)) {
    /* ModemManager uses AT ports with TIOCEXCL: ask it to let go of the
     * modem once, then open again. */
    if (g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_BUSY) && !ctx->busy &&
        !modem->inhibited && modem->mm && *modem->mm_device) {
      g_info("%s is held by another program; asking ModemManager to release %s", modem->spec.port,
             modem->mm_device);
      ctx->busy = error;
      port_next(task, PORT_STEP_INHIBIT);
      return;
    }
    /* ModemManager let go, and is still closing the port. */
    if (g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_BUSY) && modem->inhibited &&
        mm_is_inhibited(modem->mm, modem->mm_device) && ctx->retries < PORT_RETRIES &&
        !g_cancellable_is_cancelled(g_task_get_cancellable(task))) {
      GSource *retry;

      ctx->retries++;
      g_debug("%s is still busy after ModemManager let go of %s; trying again (%u/%u)",
              modem->spec.port, modem->mm_device, ctx->retries, PORT_RETRIES);
      retry = g_timeout_source_new(PORT_RETRY_MS);

      g_error_free(error);
      g_source_set_callback(retry, port_retry_open, task, NULL);
      g_source_attach(retry, g_main_context_get_thread_default());
      g_source_unref(retry);
      return;
    }
    port_fail(task, error);
    return;
  }
  modem->opened = TRUE;
  modem->session++;
  modem->holders++;
  if (modem->inhibited && !modem->on_demand) {
    modem->on_demand = TRUE;
    g_info("ModemManager owns the AT port %s: esimd uses it, with %s inhibited, only while it "
           "reads the card or runs an operation",
           modem->spec.port, modem->mm_device);
  }
  if (modem->inhibited && mm_is_inhibited(modem->mm, modem->mm_device))
    g_info("Took %s from ModemManager: the AT port %s is open", modem->mm_device, modem->spec.port);
  port_next(task, PORT_STEP_LAST);
}

static void port_close_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  PortContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!transport_close_finish(ctx->modem->transport, res, &error))
    g_debug("Closing %s: %s", ctx->modem->spec.port, error->message);
  port_next(task, PORT_STEP_UNINHIBIT);
}

static void port_uninhibit_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  PortContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!mm_uninhibit_finish(ctx->modem->mm, res, &error))
    g_warning("Giving %s back to ModemManager: %s", ctx->modem->mm_device, error->message);
  port_next(task, PORT_STEP_LAST);
}

static void port_step(GTask *task)
{
  PortContext *ctx = g_task_get_task_data(task);
  Modem *modem = ctx->modem;
  GCancellable *cancellable = g_task_get_cancellable(task);

  switch (ctx->step) {
  case PORT_STEP_FIRST:
    if (ctx->kind == PORT_OP_RELEASE) {
      /* None left after a give back: the port is closed already. */
      if (modem->holders > 0)
        modem->holders--;
      /* A port ModemManager does not own stays open for the next one. */
      port_next(task, modem->holders > 0 || !modem->on_demand ? PORT_STEP_LAST : PORT_STEP_CLOSE);
      return;
    }
    if (ctx->kind == PORT_OP_GIVE_BACK) {
      modem->holders = 0;
      port_next(task, PORT_STEP_CLOSE);
      return;
    }
    if (modem->detached || modem->transport->removed) {
      ctx->error = g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE, "The modem was removed");
      port_next(task, PORT_STEP_LAST);
      return;
    }
    if (modem->opened) {
      modem->holders++;
      port_next(task, PORT_STEP_LAST);
      return;
    }
    ctx->step = modem->on_demand ? PORT_STEP_INHIBIT : PORT_STEP_OPEN;
    port_step(task);
    return;
  case PORT_STEP_INHIBIT:
    g_debug("Asking ModemManager to release %s for its AT port %s", modem->mm_device,
            modem->spec.port);
    mm_inhibit(modem->mm, modem->mm_device, cancellable, port_inhibit_ready, task);
    return;
  case PORT_STEP_OPEN:
    transport_open(modem->transport, cancellable, port_open_ready, task);
    return;
  case PORT_STEP_CLOSE:
    if (modem->opened) {
      modem->opened = FALSE;
      transport_close(modem->transport, NULL, port_close_ready, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case PORT_STEP_UNINHIBIT:
    if (modem->inhibited) {
      modem->inhibited = FALSE;
      if (mm_is_inhibited(modem->mm, modem->mm_device))
        g_info("Done with the AT port %s: giving %s back to ModemManager", modem->spec.port,
               modem->mm_device);
      mm_uninhibit(modem->mm, modem->mm_device, NULL, port_uninhibit_ready, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case PORT_STEP_LAST:
    /* The head is this task: one runs at a time. */
    g_queue_pop_head(&modem->port_ops);
    modem->port_op_running = FALSE;
    if (ctx->error)
      g_task_return_error(task, g_steal_pointer(&ctx->error));
    else
      g_task_return_boolean(task, TRUE);
    port_ops_run(modem);
    g_object_unref(task);
    return;
  }
  g_assert_not_reached();
}

void modem_acquire(Modem *modem, GCancellable *cancellable, GAsyncReadyCallback cb,
                   gpointer user_data)
{
  port_op_start(modem, PORT_OP_ACQUIRE, cancellable, cb, user_data);
}

static gboolean port_op_finish(GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)&tag_port), FALSE);
  return g_task_propagate_boolean(G_TASK(res), error);
}

gboolean modem_acquire_finish(Modem *modem, GAsyncResult *res, GError **error)
{
  return port_op_finish(res, error);
}

void modem_release(Modem *modem, GAsyncReadyCallback cb, gpointer user_data)
{
  port_op_start(modem, PORT_OP_RELEASE, NULL, cb, user_data);
}

gboolean modem_release_finish(Modem *modem, GAsyncResult *res, GError **error)
{
  return port_op_finish(res, error);
}

void modem_detach(Modem *modem)
{
  if (modem->detached)
    return;
  modem->detached = TRUE;
  /* Whatever still holds it lets go later; ModemManager gets it now. */
  if (modem->on_demand)
    port_op_start(modem, PORT_OP_GIVE_BACK, NULL, NULL, NULL);
}

/* ---- probe ---- */

static const char tag_probe;

typedef enum {
  PROBE_STEP_FIRST,
  PROBE_STEP_ACQUIRE,
  PROBE_STEP_LIST_SLOTS,
  PROBE_STEP_SLOTS,
  PROBE_STEP_LAST,
} ProbeStep;

typedef struct {
  Modem *modem;
  ProbeStep step;
  guint64 skip_slots;
  gboolean held;      /* the probe holds the modem (modem_acquire) */
  GPtrArray *slots;   /* TransportSlot* */
  GPtrArray *results; /* ModemSlotProbe*, parallel to slots */
  guint slot_index;   /* the slot being probed */
  guint aid_index;    /* the AID being tried on it */
} ProbeContext;

static void probe_context_free(ProbeContext *ctx)
{
  /* Failed, or abandoned, holding the modem: let go of it. */
  if (ctx->held)
    modem_release(ctx->modem, NULL, NULL);
  modem_unref(ctx->modem);
  g_clear_pointer(&ctx->slots, g_ptr_array_unref);
  g_clear_pointer(&ctx->results, g_ptr_array_unref);
  g_free(ctx);
}

static void probe_step(GTask *task);

static void probe_fail(GTask *task, GError *error)
{
  g_task_return_error(task, error);
  g_object_unref(task);
}

static void acquire_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  ProbeContext *ctx = g_task_get_task_data(task);
  GError *error = NULL;

  if (!modem_acquire_finish(ctx->modem, res, &error)) {
    probe_fail(task, error);
    return;
  }
  ctx->held = TRUE;
  ctx->step++;
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
  case PROBE_STEP_ACQUIRE:
    /* Opens the port, first inhibiting the modem if ModemManager owns it. */
    modem_acquire(ctx->modem, cancellable, acquire_ready, task);
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
    /* The caller holds the modem from here on, with the channels open. */
    ctx->held = FALSE;
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

static const char tag_close;

static void close_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  GError *error = NULL;

  if (!port_op_finish(res, &error))
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
  /* After whatever the port is doing now: the port closes, and ModemManager
   * has back what was inhibited for it. */
  port_op_start(modem, PORT_OP_GIVE_BACK, NULL, close_ready, task);
}

gboolean modem_close_finish(Modem *modem, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)&tag_close), FALSE);
  return g_task_propagate_boolean(G_TASK(res), error);
}
