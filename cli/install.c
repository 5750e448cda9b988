/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * esimctl install: a profile download (SGP.22 3.1.3) through
 * Euicc1.Download and the Download1 object it returns. esimctl owns the
 * download while it runs (the daemon cancels it when esimctl leaves the
 * bus, Ctrl-C included), shows what the SM-DP+ says the profile is and asks
 * before the daemon goes on (SGP.22 3.1.3.2, user confirmation), unless
 * --yes.
 */
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "commands.h"
#include "model.h"
#include "output.h"

#define DOWNLOAD_IFACE "org.esimd.Download1"
/* How often the object is read again when no PropertiesChanged came: a
 * daemon that went away must not leave esimctl waiting for ever. */
#define POLL_USEC (1 * G_USEC_PER_SEC)
#define BAR_WIDTH 30

typedef struct {
  Esimctl *ctl;
  gboolean changed; /* a PropertiesChanged of Download1 came */
  gboolean bar;     /* a progress line is on the terminal */
  char *last_state; /* for the plain lines */
} Install;

static int on_properties_changed(sd_bus_message *m, void *user_data, sd_bus_error *ret_error)
{
  Install *in = user_data;

  in->changed = TRUE;
  return 0;
}

/* An entry of the Metadata dictionary of that kind, NULL when absent. */
static const Value *metadata_value(const Object *download, const char *key, ValueKind kind)
{
  const Value *metadata = object_get(download, "Metadata");

  if (!metadata || metadata->kind != VALUE_DICT)
    return NULL;
  for (guint i = 0; i < metadata->dict->len; i++) {
    const Prop *p = g_ptr_array_index(metadata->dict, i);

    if (g_str_equal(p->name, key) && p->value.kind == kind)
      return &p->value;
  }
  return NULL;
}

/* A string of the Metadata dictionary, "" when absent. */
static const char *metadata_string(const Object *download, const char *key)
{
  const Value *v = metadata_value(download, key, VALUE_STRING);

  return v ? v->s : "";
}

/* The Profile Policy Rules (SGP.22 2.9) as people read them. */
static const char *policy_rule_text(const char *name)
{
  if (g_str_equal(name, "disable-not-allowed"))
    return "cannot be disabled (PPR1)";
  if (g_str_equal(name, "delete-not-allowed"))
    return "cannot be deleted (PPR2)";
  if (g_str_equal(name, "delete-on-disable"))
    return "is deleted when disabled (PPR3)";
  return name;
}

static void print_metadata(const Object *download)
{
  static const struct {
    const char *key;
    const char *label;
  } rows[] = {
      {"name", "Name"},
      {"service-provider", "Operator"},
      {"iccid", "ICCID"},
      {"class", "Class"},
  };

  fprintf(stderr, "Profile offered by %s:\n", object_get_string(download, "SmdpAddress"));
  const Value *rules = metadata_value(download, "policy-rules", VALUE_STRV);
  const Value *consent = metadata_value(download, "policy-consent-required", VALUE_BOOL);

  for (gsize i = 0; i < G_N_ELEMENTS(rows); i++) {
    const char *v = metadata_string(download, rows[i].key);
    fprintf(stderr, "  %-9s %s\n", rows[i].label, *v ? v : "-");
  }
  /* SGP.22 3.1.3.2: the user's consent covers the operator's rules too. */
  if (rules && rules->strv && rules->strv[0]) {
    fprintf(stderr, "  %-9s", "Policy");
    for (int i = 0; rules->strv[i]; i++)
      fprintf(stderr, "%s the profile %s", i ? ";" : "", policy_rule_text(rules->strv[i]));
    fprintf(stderr, "\n");
    fprintf(stderr, "Installing it means consenting to %s%s.\n",
            rules->strv[1] ? "these rules" : "this rule",
            consent && consent->b ? " (the eUICC requires that consent)" : "");
  }
}

static void end_bar(Install *in)
{
  if (in->bar) {
    fputc('\n', stdout);
    fflush(stdout);
    in->bar = FALSE;
  }
}

/* A progress line redrawn in place on a terminal; one line per state
 * otherwise. Nothing in JSON mode: the result is one document. */
static void show_progress(Install *in, const Object *download)
{
  const char *state = object_get_string(download, "State");
  const Value *v = object_get(download, "Progress");
  double progress = v && v->kind == VALUE_DOUBLE ? v->d : 0;
  int filled = (int)(CLAMP(progress, 0, 1) * BAR_WIDTH + 0.5);

  if (in->ctl->json)
    return;
  if (isatty(STDOUT_FILENO)) {
    g_autofree char *bar = g_strnfill(filled, '#');
    g_autofree char *rest = g_strnfill(BAR_WIDTH - filled, '-');

    printf("\r[%s%s] %3d%% %-15s", bar, rest, (int)(progress * 100 + 0.5), state);
    fflush(stdout);
    in->bar = TRUE;
    return;
  }
  if (g_strcmp0(state, in->last_state) != 0) {
    printf("%s %d%%\n", state, (int)(progress * 100 + 0.5));
    fflush(stdout);
    g_free(in->last_state);
    in->last_state = g_strdup(state);
  }
}

/* Reads a line from the terminal, without echo when secret. */
static char *prompt(const char *question, gboolean secret)
{
  char answer[128] = "";
  struct termios saved, quiet;
  gboolean restore = FALSE;

  /* Echo goes off before the question is shown: TCSAFLUSH drops what was
   * typed ahead, and an answer typed after the question must not be. */
  if (secret && tcgetattr(STDIN_FILENO, &saved) == 0) {
    quiet = saved;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
  }
  fprintf(stderr, "%s", question);
  fflush(stderr);
  if (!fgets(answer, sizeof answer, stdin))
    answer[0] = '\0';
  if (restore) {
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    fputc('\n', stderr);
  }
  return g_strdup(g_strstrip(answer));
}

static int call_reject(Install *in, const char *path)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  int r =
      esimctl_call(in->ctl, path, DOWNLOAD_IFACE, "Reject", FALSE, &error, NULL, "s", "rejected");

  sd_bus_error_free(&error);
  return r;
}

/* Download1.Accept, with the code when there is one; EXIT_OK, or the status
 * to end with (the download is rejected then). */
static int call_accept(Install *in, const char *path, const char *code)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message *call = NULL;
  int r;

  r = sd_bus_message_new_method_call(in->ctl->bus, &call, ESIMD_BUS_NAME, path, DOWNLOAD_IFACE,
                                     "Accept");
  if (r >= 0)
    r = code ? sd_bus_message_append(call, "a{sv}", 1, "confirmation-code", "s", code)
             : sd_bus_message_append(call, "a{sv}", 0);
  if (r >= 0)
    r = esimctl_send(in->ctl, call, TRUE, &error, NULL);
  sd_bus_message_unref(call);
  if (r < 0) {
    int status = esimctl_fail_bus(&error, r);

    sd_bus_error_free(&error);
    call_reject(in, path);
    return status;
  }
  return EXIT_OK;
}

/*
 * At State confirming: the user's consent (or --yes), and the confirmation
 * code when the SM-DP+ wants one. Returns EXIT_OK when accepted, else the
 * status to end with (the download is rejected then).
 */
static int consent(Install *in, const char *path, const Object *download)
{
  g_autofree char *code = g_strdup(in->ctl->confirmation_code);

  end_bar(in);
  if (!in->ctl->json)
    print_metadata(download);
  if (!in->ctl->yes) {
    g_autofree char *answer = prompt("Install this profile? [y/N] ", FALSE);

    if (g_ascii_strcasecmp(answer, "y") != 0 && g_ascii_strcasecmp(answer, "yes") != 0) {
      call_reject(in, path);
      return esimctl_fail(EXIT_FAILURE_OTHER, "Not installed.");
    }
  }
  if (object_get_bool(download, "ConfirmationCodeRequired") && !code) {
    if (!isatty(STDIN_FILENO)) {
      call_reject(in, path);
      return esimctl_fail(EXIT_USAGE, "The SM-DP+ wants a confirmation code: give it with "
                                      "--confirmation-code.");
    }
    code = prompt("Confirmation code: ", TRUE);
  }

  return call_accept(in, path, code);
}

/*
 * Back at State confirming after the SM-DP+ refused the code (Error is
 * ConfirmationCodeWrong then) while it allows another try (SGP.22 5.6.3):
 * on a terminal the code is asked again. A code given with
 * --confirmation-code, or no terminal to ask on, ends as a wrong code
 * always did: the download is rejected and the refusal is the error.
 */
static int code_refused(Install *in, const char *path, const Object *download)
{
  const char *name = object_get_string(download, "Error");
  const char *message = object_get_string(download, "ErrorMessage");
  g_autofree char *code = NULL;

  end_bar(in);
  if (in->ctl->confirmation_code || !isatty(STDIN_FILENO)) {
    call_reject(in, path);
    return esimctl_fail(esimctl_status_for_error(name), "%s", *message ? message : name);
  }
  fprintf(stderr, "The SM-DP+ refused the confirmation code; try again.\n");
  code = prompt("Confirmation code: ", TRUE);
  return call_accept(in, path, code);
}

static void print_result(Install *in, const char *eid, const Object *download)
{
  const char *profile = object_get_string(download, "Profile");

  end_bar(in);
  if (in->ctl->json) {
    JsonOut *j = json_out_new();

    json_out_begin_object(j, NULL);
    json_out_string(j, "eid", eid);
    json_out_string(j, "iccid", metadata_string(download, "iccid"));
    json_out_string(j, "name", metadata_string(download, "name"));
    json_out_string(j, "service-provider", metadata_string(download, "service-provider"));
    json_out_string(j, "class", metadata_string(download, "class"));
    json_out_string(j, "smdp-address", object_get_string(download, "SmdpAddress"));
    json_out_string(j, "profile", profile);
    json_out_bool(j, "installed", TRUE);
    json_out_end_object(j);
    json_out_print_free(j, stdout);
  } else {
    printf("Installed %s (%s).\n", metadata_string(download, "name"),
           metadata_string(download, "iccid"));
  }
}

/* Follows the download to its end. */
static int follow(Install *in, const char *eid, const char *path)
{
  gboolean asked = FALSE;

  for (;;) {
    g_autoptr(Object) download = NULL;
    sd_bus_error error = SD_BUS_ERROR_NULL;
    const char *state;
    int r;

    in->changed = FALSE;
    r = object_load(in->ctl->bus, path, DOWNLOAD_IFACE, &download, &error);
    if (r < 0) {
      int status;

      end_bar(in);
      status = esimctl_fail_bus(&error, r);
      sd_bus_error_free(&error);
      return status;
    }
    state = object_get_string(download, "State");
    show_progress(in, download);
    if (g_str_equal(state, "done")) {
      print_result(in, eid, download);
      return EXIT_OK;
    }
    if (g_str_equal(state, "failed") || g_str_equal(state, "cancelled")) {
      const char *name = object_get_string(download, "Error");
      const char *message = object_get_string(download, "ErrorMessage");

      end_bar(in);
      return esimctl_fail(esimctl_status_for_error(name), "%s",
                          *message ? message : (*name ? name : "The download failed"));
    }
    if (g_str_equal(state, "confirming") && *object_get_string(download, "Error")) {
      int status = code_refused(in, path, download);

      if (status != EXIT_OK)
        return status;
      continue;
    }
    if (g_str_equal(state, "confirming") && !asked) {
      int status;

      asked = TRUE;
      status = consent(in, path, download);
      if (status != EXIT_OK)
        return status;
      continue;
    }
    /* Wait for the next change (or the poll interval). */
    while (!in->changed) {
      r = sd_bus_process(in->ctl->bus, NULL);
      if (r < 0) {
        end_bar(in);
        return esimctl_fail(EXIT_NO_DAEMON, "Lost the bus: %s", g_strerror(-r));
      }
      if (r > 0)
        continue;
      r = sd_bus_wait(in->ctl->bus, POLL_USEC);
      if (r == 0)
        break;
      if (r < 0) {
        end_bar(in);
        return esimctl_fail(EXIT_NO_DAEMON, "Lost the bus: %s", g_strerror(-r));
      }
    }
  }
}

/* Starts the download of one activation code on the card and follows it. */
static int install_code(Esimctl *ctl, Card *card, const char *activation_code)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message *call = NULL, *reply = NULL;
  sd_bus_slot *slot = NULL;
  Install in = {.ctl = ctl};
  g_autofree char *path = NULL;
  g_autofree char *eid = g_strdup(object_get_string(card->object, "Eid"));
  const char *download = NULL;
  int status, r;

  /* Before the call: a change may come before the reply does. */
  r = sd_bus_match_signal(ctl->bus, &slot, ESIMD_BUS_NAME, NULL, "org.freedesktop.DBus.Properties",
                          "PropertiesChanged", on_properties_changed, &in);
  if (r < 0)
    return esimctl_fail(EXIT_FAILURE_OTHER, "Cannot watch the download: %s", g_strerror(-r));

  r = sd_bus_message_new_method_call(ctl->bus, &call, ESIMD_BUS_NAME, card->object->path,
                                     ESIMD_EUICC_IFACE, "Download");
  if (r >= 0)
    r = sd_bus_message_append(call, "s", activation_code);
  if (r >= 0)
    r = sd_bus_message_open_container(call, 'a', "{sv}");
  if (r >= 0 && ctl->confirmation_code)
    r = sd_bus_message_append(call, "{sv}", "confirmation-code", "s", ctl->confirmation_code);
  if (r >= 0 && ctl->enable)
    r = sd_bus_message_append(call, "{sv}", "enable", "b", 1);
  if (r >= 0)
    r = sd_bus_message_close_container(call);
  if (r >= 0)
    r = esimctl_send(ctl, call, TRUE, &error, &reply);
  if (r >= 0)
    r = sd_bus_message_read(reply, "o", &download);
  if (r >= 0)
    path = g_strdup(download);
  sd_bus_message_unref(call);
  sd_bus_message_unref(reply);
  if (r < 0) {
    status = esimctl_fail_bus(&error, r);
    sd_bus_error_free(&error);
    sd_bus_slot_unref(slot);
    return status;
  }
  status = follow(&in, eid, path);
  sd_bus_slot_unref(slot);
  g_free(in.last_state);
  return status;
}

typedef struct {
  char *address;
  char *event_id;
} Event;

static void event_free(Event *e)
{
  g_free(e->address);
  g_free(e->event_id);
  g_free(e);
}

/* Euicc1.Discover on the card (--smds, or the card's root SM-DS): the
 * events in the SM-DS's order, which is the order discover numbers them in. */
static int discover_events(Esimctl *ctl, Card *card, GPtrArray **out)
{
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func((GDestroyNotify)event_free);
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message *reply = NULL;
  const char *address, *event_id;
  int status, r;

  r = esimctl_call(ctl, card->object->path, ESIMD_EUICC_IFACE, "Discover", TRUE, &error, &reply,
                   "s", ctl->smds ? ctl->smds : "");
  if (r >= 0)
    r = sd_bus_message_enter_container(reply, 'a', "(ss)");
  if (r < 0) {
    status = esimctl_fail_bus(&error, r);
    sd_bus_error_free(&error);
    sd_bus_message_unref(reply);
    return status;
  }
  while ((r = sd_bus_message_read(reply, "(ss)", &address, &event_id)) > 0) {
    Event *e = g_new0(Event, 1);

    e->address = g_strdup(address);
    e->event_id = g_strdup(event_id);
    g_ptr_array_add(events, e);
  }
  sd_bus_message_unref(reply);
  if (r < 0)
    return esimctl_fail(EXIT_FAILURE_OTHER, "Cannot read the answer: %s", g_strerror(-r));
  *out = g_steal_pointer(&events);
  return EXIT_OK;
}

/* The activation code of an SM-DS event (SGP.22 3.6.3: the event id is the
 * matching id the SM-DP+ expects). */
static char *event_activation_code(const Event *e)
{
  return g_strdup_printf("LPA:1$%s$%s", e->address, e->event_id);
}

int command_install(Esimctl *ctl, int argc, char **argv)
{
  g_autoptr(Model) model = NULL;
  g_autoptr(GPtrArray) events = NULL;
  g_autofree char *code = NULL;
  Card *card = NULL;
  int status;

  if (ctl->event && argc != 1)
    return esimctl_fail(EXIT_USAGE, "install takes an activation code or --event, not both");
  if (!ctl->event && argc != 2)
    return esimctl_fail(EXIT_USAGE, "install takes one activation code (or --event N)");
  /* As for delete: no question can be asked, so no consent without --yes. */
  if (!ctl->yes && !isatty(STDIN_FILENO))
    return esimctl_fail(EXIT_USAGE, "Not installing without confirmation: standard input is not a "
                                    "terminal. Add --yes to install.");
  if ((status = commands_load_one_card(ctl, &model, &card)))
    return status;
  if (!ctl->event)
    return install_code(ctl, card, argv[1]);

  if ((status = discover_events(ctl, card, &events)))
    return status;
  if (events->len == 0)
    return esimctl_fail(EXIT_NOT_FOUND, "The SM-DS holds no events for this eUICC: nothing to "
                                        "install.");
  if (ctl->event > events->len)
    return esimctl_fail(EXIT_USAGE,
                        "There is no event %u: the SM-DS holds %u event%s for this "
                        "eUICC (see esimctl discover).",
                        ctl->event, events->len, events->len == 1 ? "" : "s");
  code = event_activation_code(g_ptr_array_index(events, ctl->event - 1));
  if (!ctl->json)
    fprintf(stderr, "Installing event %u: %s\n", ctl->event, code);
  return install_code(ctl, card, code);
}

/* esimctl discover: the SM-DS's events for the eUICC (Euicc1.Discover),
 * each numbered for install --event and with the activation code install
 * takes. */
int command_discover(Esimctl *ctl, int argc, char **argv)
{
  static const char *const headers[] = {"#", "SM-DP+", "EVENT", "ACTIVATION CODE", NULL};
  g_autoptr(Model) model = NULL;
  g_autoptr(Table) table = table_new(headers);
  g_autoptr(GPtrArray) events = NULL;
  JsonOut *j = NULL;
  Card *card = NULL;
  const char *eid;
  int status;

  if (argc != 1)
    return esimctl_fail(EXIT_USAGE, "discover takes no arguments (the SM-DS goes with --smds)");
  if ((status = commands_load_one_card(ctl, &model, &card)))
    return status;
  eid = object_get_string(card->object, "Eid");
  if ((status = discover_events(ctl, card, &events)))
    return status;
  if (ctl->json)
    j = json_out_new_list("events");
  for (guint i = 0; i < events->len; i++) {
    const Event *e = g_ptr_array_index(events, i);
    g_autofree char *code = event_activation_code(e);

    if (j) {
      json_out_begin_object(j, NULL);
      json_out_uint(j, "number", i + 1);
      json_out_string(j, "eid", eid);
      json_out_string(j, "address", e->address);
      json_out_string(j, "event-id", e->event_id);
      json_out_string(j, "activation-code", code);
      json_out_end_object(j);
    } else {
      g_autofree char *number = g_strdup_printf("%u", i + 1);
      const char *cells[] = {number, e->address, e->event_id, code};
      table_add_row(table, cells);
    }
  }
  if (j)
    json_out_print_list_free(j, stdout);
  else if (events->len == 0)
    printf("No events for this eUICC.\n");
  else
    table_print(table, stdout, "");
  return EXIT_OK;
}
