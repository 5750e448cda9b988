/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A method call in flight: authorize, start the service operation, reply
 * from its callback. The caller's unique name is tracked while the call is
 * pending; when it leaves the bus the call's cancellable fires, so that an
 * operation still waiting in the eUICC's queue never reaches the card.
 */
#include "bus-private.h"

static void bus_call_free(BusCall *call)
{
  if (call->bus)
    call->bus->calls = g_list_remove(call->bus->calls, call);
  bus_polkit_check_free(call->polkit);
  sd_bus_track_unref(call->track);
  sd_bus_message_unref(call->message);
  g_clear_object(&call->cancellable);
  g_free(call->text);
  g_free(call->code);
  if (call->seqs)
    g_array_unref(call->seqs);
  g_free(call);
}

static int on_caller_left(sd_bus_track *track, void *user_data)
{
  BusCall *call = user_data;

  g_debug("bus: %s left the bus, dropping its %s call", sd_bus_message_get_sender(call->message),
          sd_bus_message_get_member(call->message));
  g_cancellable_cancel(call->cancellable);
  /* Done with tracking: an empty track left in place is dispatched again
   * (sd-bus re-queues it when the handler returns 0). */
  call->track = sd_bus_track_unref(call->track);
  return 1;
}

BusCall *bus_call_new(Bus *bus, sd_bus_message *message, BusCallStartFunc start)
{
  BusCall *call = g_new0(BusCall, 1);
  int r;

  call->bus = bus;
  call->message = sd_bus_message_ref(message);
  call->cancellable = g_cancellable_new();
  call->start = start;
  call->on_euicc = bus_path_parse_profile(sd_bus_message_get_path(message), &call->euicc_id,
                                          &call->profile_id) ||
                   bus_path_parse_euicc(sd_bus_message_get_path(message), &call->euicc_id);
  bus->calls = g_list_prepend(bus->calls, call);

  /* Without tracking the call still works; it just cannot be dropped early. */
  r = sd_bus_track_new(bus->bus, &call->track, on_caller_left, call);
  if (r >= 0)
    r = sd_bus_track_add_sender(call->track, message);
  if (r < 0)
    g_debug("bus: cannot track %s: %s", sd_bus_message_get_sender(message), g_strerror(-r));
  return call;
}

static gboolean caller_left(BusCall *call)
{
  return g_cancellable_is_cancelled(call->cancellable);
}

void bus_call_return(BusCall *call, sd_bus_message *reply)
{
  int r;

  if (!caller_left(call)) {
    r = sd_bus_send(NULL, reply, NULL);
    if (r < 0)
      g_debug("bus: cannot reply to %s: %s", sd_bus_message_get_sender(call->message),
              g_strerror(-r));
  }
  sd_bus_message_unref(reply);
  bus_call_free(call);
}

void bus_call_return_empty(BusCall *call)
{
  sd_bus_message *reply = NULL;
  int r = sd_bus_message_new_method_return(call->message, &reply);

  if (r < 0) {
    g_warning("bus: cannot build a reply: %s", g_strerror(-r));
    bus_call_free(call);
    return;
  }
  bus_call_return(call, reply);
}

void bus_call_return_gerror(BusCall *call, const GError *error)
{
  sd_bus_error e = SD_BUS_ERROR_NULL;

  g_debug("bus: %s.%s from %s failed: %s", sd_bus_message_get_interface(call->message),
          sd_bus_message_get_member(call->message), sd_bus_message_get_sender(call->message),
          error->message);
  if (!caller_left(call)) {
    bus_error_from_gerror(&e, error);
    sd_bus_reply_method_error(call->message, &e);
    sd_bus_error_free(&e);
  }
  bus_call_free(call);
}

static void return_sd_error(BusCall *call, const sd_bus_error *error)
{
  g_debug("bus: %s.%s from %s refused: %s", sd_bus_message_get_interface(call->message),
          sd_bus_message_get_member(call->message), sd_bus_message_get_sender(call->message),
          error->message);
  if (!caller_left(call))
    sd_bus_reply_method_error(call->message, error);
  bus_call_free(call);
}

void bus_call_return_array(BusCall *call, const char *item_type, GPtrArray *items,
                           BusAppendFunc append)
{
  sd_bus_message *reply = NULL;
  int r;

  r = sd_bus_message_new_method_return(call->message, &reply);
  if (r >= 0)
    r = sd_bus_message_open_container(reply, 'a', item_type);
  for (guint i = 0; r >= 0 && i < items->len; i++)
    r = append(reply, g_ptr_array_index(items, i));
  if (r >= 0)
    r = sd_bus_message_close_container(reply);
  if (r < 0) {
    g_autoptr(GError) e = NULL;
    sd_bus_message_unref(reply);
    g_set_error(&e, ESIMD_ERROR, ESIMD_ERROR_FAILED, "Cannot build the reply: %s", g_strerror(-r));
    bus_call_return_gerror(call, e);
    return;
  }
  bus_call_return(call, reply);
}

static gboolean resolve_euicc(BusCall *call)
{
  g_autoptr(GError) error = NULL;

  call->euicc =
      call->bus->manager ? manager_lookup_euicc(call->bus->manager, call->euicc_id) : NULL;
  if (call->euicc)
    return TRUE;
  /* The object existed when the call came in: it left while polkit was asked. */
  g_set_error(&error, ESIMD_ERROR, ESIMD_ERROR_REMOVED, "The eUICC went away");
  bus_call_return_gerror(call, error);
  return FALSE;
}

static void start(BusCall *call)
{
  call->started = TRUE;
  if (call->on_euicc && !resolve_euicc(call))
    return;
  call->start(call);
}

static void on_authorized(gboolean allowed, const sd_bus_error *error, gpointer user_data)
{
  BusCall *call = user_data;

  call->polkit = NULL; /* freed by polkit.c after this returns */
  if (caller_left(call)) {
    bus_call_free(call);
    return;
  }
  call->authorized = allowed;
  if (!allowed && !call->ask_only) {
    return_sd_error(call, error);
    return;
  }
  start(call);
}

int bus_call_authorize_and_start(BusCall *call, const char *action)
{
  if (!action) {
    call->authorized = TRUE;
    start(call);
    return 1;
  }
  call->polkit = bus_polkit_check(call->bus->bus, call->message, action, on_authorized, call);
  if (!call->polkit) {
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_error_setf(&e, SD_BUS_ERROR_ACCESS_DENIED, "Cannot check authorization for %s", action);
    return_sd_error(call, &e);
    sd_bus_error_free(&e);
  }
  /* Handled: the reply is sent (or will be) by the call. */
  return 1;
}

int bus_call_start_asking(BusCall *call, const char *action)
{
  call->ask_only = TRUE;
  call->polkit =
      bus_polkit_check_quietly(call->bus->bus, call->message, action, on_authorized, call);
  if (!call->polkit) {
    /* Nobody to ask: the least the call may do. */
    call->authorized = FALSE;
    start(call);
  }
  return 1;
}

void bus_call_operation_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
  BusCall *call = user_data;
  g_autoptr(GError) error = NULL;

  if (!euicc_operation_finish(call->euicc, res, &error))
    bus_call_return_gerror(call, error);
  else
    bus_call_return_empty(call);
}

void bus_calls_free_all(Bus *bus)
{
  while (bus->calls) {
    BusCall *call = bus->calls->data;

    g_cancellable_cancel(call->cancellable);
    if (call->started) {
      /* The service still holds the call as its callback's data: let it go
       * on its own when that callback runs, without a reply. */
      bus->calls = g_list_remove(bus->calls, call);
      call->bus = NULL;
      call->track = sd_bus_track_unref(call->track);
    } else {
      bus_call_free(call);
    }
  }
}
