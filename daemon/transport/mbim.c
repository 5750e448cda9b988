/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The MBIM backend: APDUs through Microsoft's "MS UICC Low Level Access"
 * service, slots through "MS Basic Connect Extensions", on libmbim. The port
 * is opened through mbim-proxy unless asked otherwise, so that ModemManager
 * keeps its own session on the same modem.
 *
 * Facts this file relies on, and where they come from:
 * - The MS UICC byte arrays (AppId, Command, Response) put the size before
 *   the offset, unlike other MBIM OL pairs: libmbim's
 *   data/mbim-service-ms-uicc-low-level-access.json ("uicc-ref-byte-array").
 *   libmbim handles that; the simulator in tests/sim writes it by hand.
 * - The Status field of open channel, close channel and APDU carries the
 *   card's status word with SW1 in the low byte and SW2 in the next one:
 *   ModemManager's src/mm-sim-mbim.c checks open channel success against
 *   UICC_STATUS_OK = 144 (0x0090, i.e. SW 90 00), and lpac's MBIM APDU driver
 *   (copy_data_with_status) appends status & 0xFF, then status >> 8 & 0xFF.
 * - Channel groups: ModemManager (src/mm-sim-mbim.c, load_eid) and lpac open
 *   their ISD-R channels in channel group 1. We use group 9, so that closing
 *   our whole group never closes a channel of theirs, and theirs never ours.
 * - The slot indexes of MS Basic Connect Extensions are 0-based; TransportSlot
 *   numbers are 1-based.
 * - The UICC can only be reached in the slot mapped to the executor: channels
 *   on another slot need switch_slot() first.
 *
 * reload_sim() is MS UICC reset with pass-through disabled: the modem resets
 * the card and initialises it again by itself, which makes it read the newly
 * enabled profile. MBIM has no lighter "refresh" command.
 */
#include "transport/mbim-private.h"
/* ---- errors ---- */

void mbimt_set_status_error(GError **error, guint32 status, const char *what)
{
  const char *name = mbim_status_error_get_string((MbimStatusError)status);
  TransportError code;

  switch (status) {
  case MBIM_STATUS_MS_NO_LOGICAL_CHANNELS:
    code = TRANSPORT_ERROR_CHANNEL_REFUSED;
    name = "no free logical channel";
    break;
  case MBIM_STATUS_MS_SELECT_FAILED:
    code = TRANSPORT_ERROR_AID_NOT_FOUND;
    name = "select failed";
    break;
  case MBIM_STATUS_MS_INVALID_LOGICAL_CHANNEL:
    code = TRANSPORT_ERROR_FAILED;
    name = "invalid logical channel";
    break;
  case MBIM_STATUS_ERROR_SIM_NOT_INSERTED:
    code = TRANSPORT_ERROR_NO_CARD;
    break;
  case MBIM_STATUS_ERROR_NO_DEVICE_SUPPORT:
    code = TRANSPORT_ERROR_NOT_SUPPORTED;
    break;
  case MBIM_STATUS_ERROR_BUSY:
    code = TRANSPORT_ERROR_BUSY;
    break;
  default:
    code = TRANSPORT_ERROR_FAILED;
    break;
  }
  g_set_error(error, TRANSPORT_ERROR, code, "%s: MBIM status 0x%08x (%s)", what, status,
              name ? name : "unknown");
}

static gboolean is_gone(GError *error)
{
  return g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE);
}

/* ---- one MBIM request, bounded by Transport.timeout_ms ---- */

typedef struct {
  MbimPort *port;
  GMainContext *context;
  GCancellable *cancel; /* ours, handed to libmbim */
  GCancellable *user_cancel;
  gulong user_cancel_id;
  GSource *timer;
  gboolean timed_out;
  gboolean gone;
} Request;

static const char tag_request;

static void request_free(Request *r)
{
  if (r->timer) {
    g_source_destroy(r->timer);
    g_source_unref(r->timer);
  }
  if (r->user_cancel) {
    g_cancellable_disconnect(r->user_cancel, r->user_cancel_id);
    g_object_unref(r->user_cancel);
  }
  g_clear_object(&r->cancel);
  g_main_context_unref(r->context);
  port_unref(r->port);
  g_free(r);
}

static gboolean request_timed_out(gpointer data)
{
  Request *r = data;

  g_source_unref(r->timer);
  r->timer = NULL;
  r->timed_out = TRUE;
  g_cancellable_cancel(r->cancel);
  return G_SOURCE_REMOVE;
}

static gboolean cancel_in_idle(gpointer data)
{
  g_cancellable_cancel(data);
  return G_SOURCE_REMOVE;
}

/*
 * Not at once: libmbim completes the request from inside the cancellation,
 * and freeing the request there would disconnect this handler from inside
 * itself, which GCancellable answers with a deadlock.
 */
static void request_user_cancelled(GCancellable *cancellable, gpointer data)
{
  Request *r = data;
  GSource *idle = g_idle_source_new();

  g_source_set_callback(idle, cancel_in_idle, g_object_ref(r->cancel), g_object_unref);
  g_source_attach(idle, r->context);
  g_source_unref(idle);
}

static void request_done(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GTask) task = data;
  Request *r = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  MbimMessage *rsp = mbim_device_command_finish(MBIM_DEVICE(source), res, &error);
  Transport *t = r->port->t;

  r->port->requests = g_list_remove(r->port->requests, r);
  if (r->timer) {
    g_source_destroy(r->timer);
    g_source_unref(r->timer);
    r->timer = NULL;
  }
  if (rsp) {
    g_task_return_pointer(task, rsp, (GDestroyNotify)mbim_message_unref);
    return;
  }
  if (r->gone || (t && t->removed))
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE,
                            "The modem port is gone");
  else if (r->timed_out || g_error_matches(error, MBIM_CORE_ERROR, MBIM_CORE_ERROR_TIMEOUT))
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT,
                            "The modem did not answer in time");
  else if (r->user_cancel && g_cancellable_is_cancelled(r->user_cancel))
    g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
  else if (!t)
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "The transport was closed");
  else
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED, "MBIM request: %s",
                            error->message);
}

/* Sends the message; the answer is a COMMAND_DONE whatever its status. */
void mbimt_request_send(MbimTransport *mt, MbimMessage *msg, GCancellable *cancellable,
                        GAsyncReadyCallback cb, gpointer data)
{
  MbimPort *port = mt->port;
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  Request *r;
  guint ms = timeout_ms(mt);

  g_task_set_source_tag(task, (gpointer)&tag_request);
  if (mt->parent.removed || !port->device || !mbim_device_is_open(port->device)) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE,
                            "The modem port %s is not open", mt->parent.port);
    g_object_unref(task);
    return;
  }
  r = g_new0(Request, 1);
  r->port = port_ref(port);
  r->context = g_main_context_ref_thread_default();
  r->cancel = g_cancellable_new();
  g_task_set_task_data(task, r, (GDestroyNotify)request_free);
  port->requests = g_list_prepend(port->requests, r);

  r->timer = g_timeout_source_new(ms);
  g_source_set_callback(r->timer, request_timed_out, r, NULL);
  g_source_attach(r->timer, r->context);
  if (cancellable) {
    r->user_cancel = g_object_ref(cancellable);
    r->user_cancel_id =
        g_cancellable_connect(cancellable, G_CALLBACK(request_user_cancelled), r, NULL);
  }
  /* libmbim counts in seconds; our own timer, above, is the one that counts. */
  mbim_device_command(port->device, msg, ms / 1000 + 2, r->cancel, request_done, task);
}

/*
 * Gives the COMMAND_DONE and its status. A FUNCTION_ERROR or any other
 * message is a protocol error.
 */
MbimMessage *mbimt_request_finish(GAsyncResult *res, guint32 *status, GError **error)
{
  g_autoptr(MbimMessage) rsp = g_task_propagate_pointer(G_TASK(res), error);
  g_autoptr(GError) inner = NULL;

  if (!rsp)
    return NULL;
  *status = 0;
  if (!mbim_message_response_get_result(rsp, MBIM_MESSAGE_TYPE_COMMAND_DONE, &inner)) {
    if (inner->domain != MBIM_STATUS_ERROR) {
      g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL, "MBIM: %s", inner->message);
      return NULL;
    }
    *status = (guint32)inner->code;
  }
  return g_steal_pointer(&rsp);
}

/* For answers whose status must be success. */
MbimMessage *mbimt_request_finish_ok(GAsyncResult *res, const char *what, GError **error)
{
  guint32 status;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish(res, &status, error);

  if (rsp && status != 0) {
    mbimt_set_status_error(error, status, what);
    return NULL;
  }
  return g_steal_pointer(&rsp);
}

void mbimt_set_parse_error(GError **error, const char *what, GError *inner)
{
  g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL, "Malformed %s answer: %s", what,
              inner ? inner->message : "no data");
}

/* The active slot (1-based) from a Device slot mappings answer: the
 * mapping of the first executor, the only one a single-radio modem has. */
gboolean mbimt_mappings_parse_active(MbimMessage *rsp, guint *active, GError **error)
{
  guint32 count = 0;
  g_autoptr(MbimSlotArray) map = NULL;
  g_autoptr(GError) parse_error = NULL;

  if (!mbim_message_ms_basic_connect_extensions_device_slot_mappings_response_parse(
          rsp, &count, &map, &parse_error) ||
      count < 1) {
    mbimt_set_parse_error(error, "device slot mappings", parse_error);
    return FALSE;
  }
  *active = map[0]->slot + 1;
  return TRUE;
}

/* Returns the error and with it the task's last reference. */
void mbimt_fail_task(GTask *task, GError *error)
{
  g_task_return_error(task, error);
  g_object_unref(task);
}

/* The finish of every operation whose answer is success or a GError. */
static gboolean finish_boolean(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---- port removal and indications ---- */

typedef struct {
  MbimTransport *mt;
  GTask *task;
  GSource *timer;
  gint64 deadline_us;
  gboolean done; /* returned; a query still out finds this */
} ReadyWait;

static void ready_poll(ReadyWait *w);

static void poke_waiters(MbimPort *port)
{
  GList *copy = g_list_copy(port->waiters);

  for (GList *l = copy; l; l = l->next) {
    ReadyWait *w = l->data;

    /* A waiter without a timer is in the middle of a query already. */
    if (w->timer) {
      g_source_destroy(w->timer);
      g_source_unref(w->timer);
      w->timer = NULL;
      ready_poll(w);
    }
  }
  g_list_free(copy);
}

static void cancel_requests(MbimPort *port, gboolean gone)
{
  g_autoptr(GPtrArray) cancels = g_ptr_array_new_with_free_func(g_object_unref);

  for (GList *l = port->requests; l; l = l->next) {
    Request *r = l->data;

    r->gone = r->gone || gone;
    g_ptr_array_add(cancels, g_object_ref(r->cancel));
  }
  for (guint i = 0; i < cancels->len; i++)
    g_cancellable_cancel(g_ptr_array_index(cancels, i));
}

static void on_device_removed(MbimDevice *device, gpointer data)
{
  MbimPort *port = port_ref(data);

  for (GList *l = port->requests; l; l = l->next)
    ((Request *)l->data)->gone = TRUE;
  if (port->t)
    transport_report_removed(port->t);
  cancel_requests(port, TRUE);
  poke_waiters(port);
  port_unref(port);
}

static void on_indicate_status(MbimDevice *device, MbimMessage *msg, gpointer data)
{
  MbimPort *port = data;
  MbimService service = mbim_message_indicate_status_get_service(msg);
  guint32 cid = mbim_message_indicate_status_get_cid(msg);

  /* The modem tells that the card changed: whoever waits for it to be
   * ready asks now instead of at its next poll. */
  if ((service == MBIM_SERVICE_BASIC_CONNECT &&
       cid == MBIM_CID_BASIC_CONNECT_SUBSCRIBER_READY_STATUS) ||
      (service == MBIM_SERVICE_MS_BASIC_CONNECT_EXTENSIONS &&
       cid == MBIM_CID_MS_BASIC_CONNECT_EXTENSIONS_SLOT_INFO_STATUS))
    poke_waiters(port);
}

/* ---- waiting for the card after a slot switch or a reset ---- */

static void ready_wait_free(ReadyWait *w)
{
  if (w->timer) {
    g_source_destroy(w->timer);
    g_source_unref(w->timer);
  }
  g_free(w);
}

static void ready_finish_wait(ReadyWait *w, GError *error)
{
  GTask *task = w->task;

  w->done = TRUE;
  w->mt->port->waiters = g_list_remove(w->mt->port->waiters, w);
  if (w->timer) {
    g_source_destroy(w->timer);
    g_source_unref(w->timer);
    w->timer = NULL;
  }
  if (error)
    g_task_return_error(task, error);
  else
    g_task_return_boolean(task, TRUE);
  g_object_unref(task);
}

static gboolean ready_timer_fired(gpointer data)
{
  ReadyWait *w = data;

  g_source_unref(w->timer);
  w->timer = NULL;
  ready_poll(w);
  return G_SOURCE_REMOVE;
}

static void ready_schedule(ReadyWait *w)
{
  w->timer = g_timeout_source_new(MBIM_READY_POLL_MS);
  g_source_set_callback(w->timer, ready_timer_fired, w, NULL);
  g_source_attach(w->timer, g_main_context_get_thread_default());
}

static gboolean ready_state_is_ready(MbimSubscriberReadyState state)
{
  switch (state) {
  case MBIM_SUBSCRIBER_READY_STATE_INITIALIZED:
  case MBIM_SUBSCRIBER_READY_STATE_NO_ESIM_PROFILE:
  case MBIM_SUBSCRIBER_READY_STATE_NOT_ACTIVATED:
  case MBIM_SUBSCRIBER_READY_STATE_DEVICE_LOCKED: /* PIN: the ISD-R answers anyway */
    return TRUE;
  default:
    return FALSE;
  }
}

static void ready_query_done(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GTask) task = data; /* the query's own reference */
  ReadyWait *w = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish_ok(res, "Subscriber ready status", &error);
  MbimSubscriberReadyState state = MBIM_SUBSCRIBER_READY_STATE_NOT_INITIALIZED;

  if (w->done) /* ended while the query was out */
    return;
  if (!rsp && (is_gone(error) || g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))) {
    ready_finish_wait(w, g_steal_pointer(&error));
    return;
  }
  if (rsp &&
      mbim_message_subscriber_ready_status_response_parse(rsp, &state, NULL, NULL, NULL, NULL, NULL,
                                                          NULL) &&
      ready_state_is_ready(state)) {
    ready_finish_wait(w, NULL);
    return;
  }
  if (g_get_monotonic_time() >= w->deadline_us) {
    ready_finish_wait(w, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT,
                                     "The card was not ready in time (state %s)",
                                     mbim_subscriber_ready_state_get_string(state)));
    return;
  }
  ready_schedule(w);
}

static void ready_poll(ReadyWait *w)
{
  g_autoptr(MbimMessage) msg = mbim_message_subscriber_ready_status_query_new(NULL);

  mbimt_request_send(w->mt, msg, g_task_get_cancellable(w->task), ready_query_done,
                     g_object_ref(w->task));
}

/*
 * Completes once the modem says the card is initialized, asking every
 * MBIM_READY_POLL_MS and whenever an indication says something changed.
 */
void mbimt_ready_wait(MbimTransport *mt, GCancellable *cancellable, GAsyncReadyCallback cb,
                      gpointer data)
{
  ReadyWait *w = g_new0(ReadyWait, 1);

  w->mt = mt;
  w->task = g_task_new(NULL, cancellable, cb, data);
  g_task_set_task_data(w->task, w, (GDestroyNotify)ready_wait_free);
  w->deadline_us = g_get_monotonic_time() +
                   (gint64)timeout_ms(mt) * MBIM_READY_TIMEOUTS * G_TIME_SPAN_MILLISECOND;
  mt->port->waiters = g_list_prepend(mt->port->waiters, w);
  /* Not at once: right after the command, a modem may still report the
   * state from before it. An indication cuts the wait short. */
  ready_schedule(w);
}

gboolean mbimt_ready_wait_finish(GAsyncResult *res, GError **error)
{
  return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---- open ---- */

typedef enum {
  OPEN_STEP_FIRST,
  OPEN_STEP_DEVICE_NEW,
  OPEN_STEP_DEVICE_OPEN,
  OPEN_STEP_RELEASE_STALE,
  OPEN_STEP_SLOT_MAPPINGS,
  OPEN_STEP_LAST,
} OpenStep;

typedef struct {
  MbimTransport *mt;
  OpenStep step;
} OpenCtx;

static const char tag_open;

static void open_step(GTask *task);

/* A failed open leaves nothing behind, so that open can be tried again. */
static void open_fail(GTask *task, GError *error)
{
  OpenCtx *ctx = g_task_get_task_data(task);
  MbimPort *port = ctx->mt->port;

  if (port->device) {
    port_disconnect(port);
    if (mbim_device_is_open(port->device))
      mbim_device_close_force(port->device, NULL);
    g_clear_object(&port->device);
  }
  g_task_return_error(task, error);
  g_object_unref(task);
}

static void open_device_new_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  OpenCtx *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  MbimDevice *device = mbim_device_new_finish(res, &error);

  if (!device) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE, "Cannot use %s: %s",
                            ctx->mt->parent.port, error->message);
    g_object_unref(task);
    return;
  }
  ctx->mt->port->device = device;
  ctx->step++;
  open_step(task);
}

static void open_device_open_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  OpenCtx *ctx = g_task_get_task_data(task);
  MbimPort *port = ctx->mt->port;
  g_autoptr(GError) error = NULL;

  if (!mbim_device_open_full_finish(MBIM_DEVICE(source), res, &error)) {
    TransportError code = TRANSPORT_ERROR_FAILED;

    if (g_error_matches(error, MBIM_CORE_ERROR, MBIM_CORE_ERROR_TIMEOUT))
      code = TRANSPORT_ERROR_TIMEOUT;
    else if (!g_file_test(ctx->mt->parent.port, G_FILE_TEST_EXISTS))
      code = TRANSPORT_ERROR_PORT_GONE;
    open_fail(task, g_error_new(TRANSPORT_ERROR, code, "Cannot open %s: %s", ctx->mt->parent.port,
                                error->message));
    return;
  }
  port->removed_id = g_signal_connect(port->device, MBIM_DEVICE_SIGNAL_REMOVED,
                                      G_CALLBACK(on_device_removed), port);
  port->indicate_id = g_signal_connect(port->device, MBIM_DEVICE_SIGNAL_INDICATE_STATUS,
                                       G_CALLBACK(on_indicate_status), port);
  ctx->step++;
  open_step(task);
}

static void open_release_stale_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  OpenCtx *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  guint32 status;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish(res, &status, &error);

  /* Refusals are fine (nothing to close, or no group close on this modem);
   * a modem that does not answer or went away is not. */
  if (!rsp && error->domain == TRANSPORT_ERROR &&
      (error->code == TRANSPORT_ERROR_TIMEOUT || error->code == TRANSPORT_ERROR_PORT_GONE)) {
    open_fail(task, g_steal_pointer(&error));
    return;
  }
  ctx->step++;
  open_step(task);
}

static void open_slot_mappings_done(GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  OpenCtx *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  guint32 status;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish(res, &status, &error);
  guint active = 1;

  if (!rsp) {
    open_fail(task, g_steal_pointer(&error));
    return;
  }
  /* A modem without the extensions has exactly one slot, the active one. */
  ctx->mt->slot_ext = TRANSPORT_TRISTATE_NO;
  if (status == 0 && mbimt_mappings_parse_active(rsp, &active, NULL))
    ctx->mt->slot_ext = TRANSPORT_TRISTATE_YES;
  ctx->mt->active_slot = active;
  ctx->step++;
  open_step(task);
}

static void open_step(GTask *task)
{
  OpenCtx *ctx = g_task_get_task_data(task);
  MbimTransport *mt = ctx->mt;
  GCancellable *cancellable = g_task_get_cancellable(task);

  switch (ctx->step) {
  case OPEN_STEP_FIRST:
    if (mt->port->device) {
      g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED, "%s is open already",
                              mt->parent.port);
      g_object_unref(task);
      return;
    }
    ctx->step++;
    /* fall through */
  case OPEN_STEP_DEVICE_NEW: {
    g_autoptr(GFile) file = g_file_new_for_path(mt->parent.port);

    mbim_device_new(file, cancellable, open_device_new_done, task);
    return;
  }
  case OPEN_STEP_DEVICE_OPEN: {
    MbimDeviceOpenFlags flags = MBIM_DEVICE_OPEN_FLAGS_NONE;
    /* Starting mbim-proxy takes a moment: never less than a few seconds. */
    guint secs = MAX((timeout_ms(mt) + 999) / 1000, 5);

    if (!(mt->parent.flags & TRANSPORT_OPEN_FLAGS_NO_PROXY))
      flags |= MBIM_DEVICE_OPEN_FLAGS_PROXY;
    mbim_device_open_full(mt->port->device, flags, secs, cancellable, open_device_open_done, task);
    return;
  }
  case OPEN_STEP_RELEASE_STALE: {
    /* Channel 0 closes the whole group: whatever an earlier run of ours left
     * open (a crash, a timeout) is released before we start. */
    g_autoptr(MbimMessage) msg =
        mbim_message_ms_uicc_low_level_access_close_channel_set_new(0, MBIM_CHANNEL_GROUP, NULL);

    mbimt_request_send(mt, msg, cancellable, open_release_stale_done, task);
    return;
  }
  case OPEN_STEP_SLOT_MAPPINGS: {
    g_autoptr(MbimMessage) msg =
        mbim_message_ms_basic_connect_extensions_device_slot_mappings_query_new(NULL);

    mbimt_request_send(mt, msg, cancellable, open_slot_mappings_done, task);
    return;
  }
  case OPEN_STEP_LAST:
    g_debug("mbim %s: open, %s, active slot %u", mt->parent.port,
            mt->slot_ext == TRANSPORT_TRISTATE_YES ? "with slot extensions" : "single slot",
            mt->active_slot);
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
}

static void mbim_open(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                      gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  OpenCtx *ctx = g_new0(OpenCtx, 1);

  ctx->mt = (MbimTransport *)t;
  g_task_set_source_tag(task, (gpointer)&tag_open);
  g_task_set_task_data(task, ctx, g_free);
  open_step(task);
}

/* ---- close ---- */

static void close_done(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GTask) task = data;
  g_autoptr(GError) error = NULL;

  /* The session is over for us either way; a modem that did not confirm is
   * worth a line in the log, not a failure. */
  if (!mbim_device_close_finish(MBIM_DEVICE(source), res, &error)) {
    g_debug("mbim: closing: %s", error->message);
    mbim_device_close_force(MBIM_DEVICE(source), NULL);
  }
  g_task_return_boolean(task, TRUE);
}

static void mbim_close(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                       gpointer data)
{
  MbimTransport *mt = (MbimTransport *)t;
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  MbimDevice *device = mt->port->device;

  if (!device || t->removed || !mbim_device_is_open(device)) {
    if (device)
      mbim_device_close_force(device, NULL);
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
  mbim_device_close(device, MAX(timeout_ms(mt) / 1000, 1), cancellable, close_done, task);
}

/* ---- IMEI ---- */

static const char tag_get_imei;

/*
 * Basic Connect Device Caps (MBIM 1.0 10.5.1): DeviceId is the IMEI on a
 * GSM-class device, the ESN or MEID on a CDMA-only one, which has no IMEI to
 * give. Opening through mbim-proxy does not make the proxy answer it: the
 * query goes to the modem.
 */
static void get_imei_done(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GTask) task = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) parse_error = NULL;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish_ok(res, "Device caps", &error);
  g_autofree gchar *device_id = NULL;
  MbimCellularClass cellular_class = 0;
  gchar *imei;

  if (!rsp) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  if (!mbim_message_device_caps_response_parse(rsp, NULL, &cellular_class, NULL, NULL, NULL, NULL,
                                               NULL, NULL, NULL, &device_id, NULL, NULL,
                                               &parse_error)) {
    mbimt_set_parse_error(&error, "device caps", parse_error);
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  if (!(cellular_class & MBIM_CELLULAR_CLASS_GSM)) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                            "The modem is not a 3GPP device: its DeviceId is no IMEI");
    return;
  }
  imei = transport_parse_imei(device_id, &error);
  if (!imei) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  g_task_return_pointer(task, imei, g_free);
}

static void mbim_get_imei(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                          gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  g_autoptr(MbimMessage) msg = mbim_message_device_caps_query_new(NULL);

  g_task_set_source_tag(task, (gpointer)&tag_get_imei);
  mbimt_request_send((MbimTransport *)t, msg, cancellable, get_imei_done, task);
}

static gchar *mbim_get_imei_finish(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- radio access technologies ---- */

static const char tag_get_rats;

/*
 * The DataClass of the same Device Caps (MBIM 1.0 10.5.1, and Microsoft's
 * MBIMEx 2.0 for the two 5G bits): GPRS and EDGE are GSM's packet data,
 * UMTS/HSDPA/HSUPA UTRAN's, LTE E-UTRAN's. 5G NSA is NR on the 4G core, 5G
 * SA NR on the 5G core. The CDMA2000 bits are not 3GPP RATs and are left
 * out.
 */
static void get_rats_done(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GTask) task = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) parse_error = NULL;
  g_autoptr(MbimMessage) rsp = mbimt_request_finish_ok(res, "Device caps", &error);
  MbimDataClass data_class = 0;
  guint rats = 0;

  if (!rsp) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  if (!mbim_message_device_caps_response_parse(rsp, NULL, NULL, NULL, NULL, &data_class, NULL, NULL,
                                               NULL, NULL, NULL, NULL, NULL, &parse_error)) {
    mbimt_set_parse_error(&error, "device caps", parse_error);
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  if (data_class & (MBIM_DATA_CLASS_GPRS | MBIM_DATA_CLASS_EDGE))
    rats |= TRANSPORT_RAT_GERAN;
  if (data_class & (MBIM_DATA_CLASS_UMTS | MBIM_DATA_CLASS_HSDPA | MBIM_DATA_CLASS_HSUPA))
    rats |= TRANSPORT_RAT_UTRAN;
  if (data_class & MBIM_DATA_CLASS_LTE)
    rats |= TRANSPORT_RAT_EUTRAN;
  if (data_class & MBIM_DATA_CLASS_5G_NSA)
    rats |= TRANSPORT_RAT_NR_NSA;
  if (data_class & MBIM_DATA_CLASS_5G_SA)
    rats |= TRANSPORT_RAT_NR_SA;
  g_task_return_int(task, rats);
}

static void mbim_get_rats(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                          gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  g_autoptr(MbimMessage) msg = mbim_message_device_caps_query_new(NULL);

  g_task_set_source_tag(task, (gpointer)&tag_get_rats);
  mbimt_request_send((MbimTransport *)t, msg, cancellable, get_rats_done, task);
}

static gboolean mbim_get_rats_finish(Transport *t, GAsyncResult *res, guint *rats, GError **error)
{
  gssize v = g_task_propagate_int(G_TASK(res), error);

  if (v < 0)
    return FALSE;
  *rats = (guint)v;
  return TRUE;
}

static void mbim_finalize(Transport *t)
{
  MbimTransport *mt = (MbimTransport *)t;
  MbimPort *port = mt->port;
  GList *waiters = g_list_copy(port->waiters);

  /* Everything still in flight ends now, while the transport still exists;
   * answers that come later find port->t cleared. */
  for (GList *l = waiters; l; l = l->next)
    ready_finish_wait(
        l->data, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED, "The transport was closed"));
  g_list_free(waiters);
  cancel_requests(port, FALSE);
  port->t = NULL;
  if (port->device && mbim_device_is_open(port->device))
    mbim_device_close_force(port->device, NULL);
  port_unref(port);
}

static const TransportOps mbim_ops = {
    .open = mbim_open,
    .open_finish = finish_boolean,
    .list_slots = mbimt_list_slots,
    .list_slots_finish = mbimt_list_slots_finish,
    .open_channel = mbimt_open_channel,
    .open_channel_finish = mbimt_open_channel_finish,
    .transmit = mbimt_transmit,
    .transmit_finish = mbimt_transmit_finish,
    .close_channel = mbimt_close_channel,
    .close_channel_finish = finish_boolean,
    .switch_slot = mbimt_switch_slot,
    .switch_slot_finish = finish_boolean,
    .reload_sim = mbimt_reload_sim,
    .reload_sim_finish = finish_boolean,
    .get_imei = mbim_get_imei,
    .get_imei_finish = mbim_get_imei_finish,
    .get_rats = mbim_get_rats,
    .get_rats_finish = mbim_get_rats_finish,
    .close = mbim_close,
    .close_finish = finish_boolean,
    .finalize = mbim_finalize,
};

Transport *transport_new_mbim(const char *port, TransportOpenFlags flags)
{
  MbimTransport *mt = g_new0(MbimTransport, 1);

  mt->parent.ops = &mbim_ops;
  mt->parent.kind = TRANSPORT_KIND_MBIM;
  mt->parent.port = g_strdup(port);
  mt->parent.flags = flags;
  mt->slot_ext = TRANSPORT_TRISTATE_UNKNOWN;
  mt->active_slot = 1;
  mt->port = g_atomic_rc_box_new0(MbimPort);
  mt->port->t = &mt->parent;
  return &mt->parent;
}
