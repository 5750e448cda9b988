/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Authorization of a method call, asynchronously: who is calling (their uid
 * from the bus), then, unless that is root, polkit's CheckAuthorization for
 * the call's sender as a system-bus-name subject. Nothing is cached: polkit
 * keeps its own "_keep" grants.
 */
#include "bus-private.h"

#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"
/* CheckAuthorizationFlags, polkit's org.freedesktop.PolicyKit1.Authority. */
#define POLKIT_FLAG_ALLOW_USER_INTERACTION 1u
/* An authentication dialog waits for a person. */
#define POLKIT_INTERACTIVE_TIMEOUT_USEC (5 * 60 * G_USEC_PER_SEC)

/* Each step names the answer being waited for. */
typedef enum {
  STEP_UID,
  STEP_AUTHORIZATION,
  STEP_GRANTED,
} PolkitStep;

struct _BusPolkitCheck {
  sd_bus *bus;
  sd_bus_message *message;
  char *action;
  BusPolkitDone done;
  gpointer user_data;
  PolkitStep step;
  sd_bus_slot *slot; /* the call in flight */
  uint32_t uid;
  gboolean interactive;
};

static void polkit_step(BusPolkitCheck *check);

void bus_polkit_check_free(BusPolkitCheck *check)
{
  if (!check)
    return;
  sd_bus_slot_unref(check->slot);
  sd_bus_message_unref(check->message);
  sd_bus_unref(check->bus);
  g_free(check->action);
  g_free(check);
}

/* Tells the owner and frees the check: exactly once per check. */
static void polkit_finish(BusPolkitCheck *check, gboolean allowed, const sd_bus_error *error)
{
  BusPolkitDone done = check->done;
  gpointer user_data = check->user_data;

  check->slot = sd_bus_slot_unref(check->slot);
  done(allowed, error, user_data);
  bus_polkit_check_free(check);
}

static void polkit_deny(BusPolkitCheck *check, const char *name, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

static void polkit_deny(BusPolkitCheck *check, const char *name, const char *format, ...)
{
  g_autofree char *message = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  va_list ap;

  va_start(ap, format);
  message = g_strdup_vprintf(format, ap);
  va_end(ap);
  sd_bus_error_set(&error, name, message);
  polkit_finish(check, FALSE, &error);
  sd_bus_error_free(&error);
}

static int on_uid(sd_bus_message *reply, void *user_data, sd_bus_error *ret_error)
{
  BusPolkitCheck *check = user_data;
  const sd_bus_error *e = sd_bus_message_get_error(reply);

  if (e) {
    polkit_deny(check, SD_BUS_ERROR_ACCESS_DENIED, "Cannot tell who is calling: %s", e->message);
    return 0;
  }
  if (sd_bus_message_read(reply, "u", &check->uid) < 0) {
    polkit_deny(check, SD_BUS_ERROR_ACCESS_DENIED, "Cannot tell who is calling");
    return 0;
  }
  polkit_step(check);
  return 0;
}

static int on_authorization(sd_bus_message *reply, void *user_data, sd_bus_error *ret_error)
{
  BusPolkitCheck *check = user_data;
  const sd_bus_error *e = sd_bus_message_get_error(reply);
  int authorized = 0, challenge = 0;

  if (e) {
    if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
      polkit_deny(check, SD_BUS_ERROR_ACCESS_DENIED,
                  "polkit is not running, so only root may do this (action %s)", check->action);
    else
      polkit_deny(check, SD_BUS_ERROR_ACCESS_DENIED, "polkit could not decide on %s: %s",
                  check->action, e->message);
    return 0;
  }
  /* (bba{ss}): is_authorized, is_challenge, details */
  if (sd_bus_message_enter_container(reply, 'r', "bba{ss}") < 0 ||
      sd_bus_message_read(reply, "bb", &authorized, &challenge) < 0) {
    polkit_deny(check, SD_BUS_ERROR_ACCESS_DENIED, "polkit answered something unreadable");
    return 0;
  }
  if (authorized) {
    polkit_step(check);
    return 0;
  }
  if (challenge)
    polkit_deny(check, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                "Authentication is required for %s; call again allowing interactive "
                "authorization",
                check->action);
  else
    polkit_deny(check, SD_BUS_ERROR_ACCESS_DENIED, "Not authorized by polkit (action %s)",
                check->action);
  return 0;
}

static int query_uid(BusPolkitCheck *check)
{
  return sd_bus_call_method_async(check->bus, &check->slot, "org.freedesktop.DBus",
                                  "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                  "GetConnectionUnixUser", on_uid, check, "s",
                                  sd_bus_message_get_sender(check->message));
}

static int check_authorization(BusPolkitCheck *check)
{
  sd_bus_message *call = NULL;
  int r;

  r = sd_bus_message_new_method_call(check->bus, &call, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE,
                                     "CheckAuthorization");
  if (r >= 0)
    r = sd_bus_message_append(call, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s",
                              sd_bus_message_get_sender(check->message), check->action, 0,
                              check->interactive ? POLKIT_FLAG_ALLOW_USER_INTERACTION : 0u, "");
  if (r >= 0)
    r = sd_bus_call_async(check->bus, &check->slot, call, on_authorization, check,
                          check->interactive ? POLKIT_INTERACTIVE_TIMEOUT_USEC : 0);
  sd_bus_message_unref(call);
  return r;
}

/* Called with each answer: moves on to the next question, or decides. */
static void polkit_step(BusPolkitCheck *check)
{
  int r;

  check->slot = sd_bus_slot_unref(check->slot);
  check->step++;
  switch (check->step) {
  case STEP_UID:
    g_assert_not_reached();
  case STEP_AUTHORIZATION:
    if (check->uid == 0) {
      g_debug("bus: %s is root, %s granted", sd_bus_message_get_sender(check->message),
              check->action);
      polkit_finish(check, TRUE, NULL);
      return;
    }
    r = check_authorization(check);
    if (r < 0)
      polkit_deny(check, SD_BUS_ERROR_ACCESS_DENIED, "Cannot ask polkit: %s", g_strerror(-r));
    return;
  case STEP_GRANTED:
    g_debug("bus: polkit granted %s to %s (uid %u)", check->action,
            sd_bus_message_get_sender(check->message), check->uid);
    polkit_finish(check, TRUE, NULL);
    return;
  }
}

static BusPolkitCheck *polkit_check_new(sd_bus *bus, sd_bus_message *message, const char *action,
                                        gboolean interactive, BusPolkitDone done,
                                        gpointer user_data)
{
  BusPolkitCheck *check = g_new0(BusPolkitCheck, 1);

  check->bus = sd_bus_ref(bus);
  check->message = sd_bus_message_ref(message);
  check->action = g_strdup(action);
  check->done = done;
  check->user_data = user_data;
  check->interactive = interactive;
  /* Sent here, so that a failure to send is the caller's to report and the
   * callback only ever runs from the main loop. */
  check->step = STEP_UID;
  if (query_uid(check) < 0) {
    bus_polkit_check_free(check);
    return NULL;
  }
  return check;
}

BusPolkitCheck *bus_polkit_check(sd_bus *bus, sd_bus_message *message, const char *action,
                                 BusPolkitDone done, gpointer user_data)
{
  return polkit_check_new(bus, message, action,
                          sd_bus_message_get_allow_interactive_authorization(message) > 0, done,
                          user_data);
}

BusPolkitCheck *bus_polkit_check_quietly(sd_bus *bus, sd_bus_message *message, const char *action,
                                         BusPolkitDone done, gpointer user_data)
{
  return polkit_check_new(bus, message, action, FALSE, done, user_data);
}
