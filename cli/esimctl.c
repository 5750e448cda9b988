/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * esimctl: esimd's command-line client. Options, the bus connection, the
 * command table and the mapping from D-Bus error names to exit statuses;
 * the commands themselves are in commands.c and install.c.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "esimctl.h"

/* Slow cards take seconds per operation and an operation may wait behind
 * others in the card's queue; polkit may also be asking the user. */
#define CALL_TIMEOUT_USEC (120 * G_USEC_PER_SEC)

typedef struct {
  const char *name;
  const char *args;
  const char *summary;
  const char *help;
  int (*run)(Esimctl *ctl, int argc, char **argv);
} Command;

static const Command commands[] = {
    {"list", "", "List every eUICC and its profiles (the default command)",
     "Shows each eUICC (EID, transport, port, slot) and a table of its profiles: ICCID,\n"
     "state, class, name, provider and nickname; a POLICY column names the Profile Policy\n"
     "Rules (disable-not-allowed, delete-not-allowed, delete-on-disable) when a profile has\n"
     "some. EIDs are shortened unless --full is given.\n",
     command_list},
    {"show", "[EID|ICCID]", "Show every property of an eUICC or of a profile",
     "With an ICCID, shows every property of that profile. With an EID or a prefix of one,\n"
     "every property of the eUICCs that match; with nothing, of every eUICC.\n",
     command_show},
    {"enable", "ICCID", "Enable a profile (the enabled one is disabled first)",
     "Enables the profile; the profile enabled before is disabled by the card. The modem\n"
     "then uses the new profile.\n",
     command_enable},
    {"disable", "ICCID", "Disable a profile", "Disables the profile, which must be enabled.\n",
     command_disable},
    {"delete", "ICCID", "Delete a disabled profile (asks first)",
     "Deletes the profile from the eUICC. This cannot be undone. When standard input is a\n"
     "terminal, asks for confirmation; otherwise --yes is required.\n",
     command_delete},
    {"nickname", "ICCID NAME", "Set a profile's nickname (\"\" clears it)",
     "Stores NAME on the card as the profile's nickname: at most 64 bytes of UTF-8. An empty\n"
     "NAME clears the nickname.\n",
     command_nickname},
    {"info", "[EID]", "Show the eUICC's EUICCInfo2 and its SM-DP+/SM-DS addresses",
     "Shows the eUICC's versions, memory, category and CI keys (SGP.22 EUICCInfo2) and the\n"
     "default SM-DP+ and root SM-DS addresses stored on it.\n",
     command_info},
    {"install", "ACTIVATION_CODE|--event N", "Download and install a profile (asks first)",
     "Downloads the profile of an SGP.22 activation code (LPA:1$SM-DP+$MATCHING-ID) from its\n"
     "SM-DP+ and installs it. Shows what the SM-DP+ says the profile is and asks before\n"
     "installing it; when standard input is not a terminal, --yes is required.\n"
     "--confirmation-code gives the code the operator handed out (asked for on a terminal\n"
     "when the SM-DP+ wants one), --enable enables the profile once installed.\n"
     "--event N instead asks the SM-DS (as discover does, --smds included) and installs\n"
     "its N-th event, numbered as discover prints them.\n",
     command_install},
    {"discover", "", "Ask an SM-DS for profiles waiting for the eUICC",
     "Asks the eUICC's root SM-DS (or the one --smds names) for the events waiting for this\n"
     "eUICC, and prints each with its number (for install --event) and the activation code\n"
     "that install takes.\n",
     command_discover},
    {"notifications", "[list|send [SEQ...]|remove SEQ]",
     "List, send or remove the notifications pending for SM-DP+ servers",
     "list (the default) shows the notifications the eUICCs hold for their SM-DP+.\n"
     "send delivers them (the given sequence numbers, or all) and removes each from the card\n"
     "once its SM-DP+ confirmed it. remove drops one without delivering it.\n",
     command_notifications},
};

static const Command *find_command(const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
    if (g_str_equal(commands[i].name, name))
      return &commands[i];
  }
  return NULL;
}

static const char options_help[] =
    "Options:\n"
    "  -h, --help           Show this help (after a command: that command's help)\n"
    "      --version        Show the version\n"
    "  -j, --json           Print JSON instead of tables (keys in esimctl(1))\n"
    "  -e, --eid=PREFIX     Act on the eUICC whose EID starts with PREFIX\n"
    "      --bus=BUS        Talk to esimd on BUS: system (default), session or an address\n"
    "      --full           Show EIDs in full in tables\n"
    "  -y, --yes            Do not ask before deleting or installing\n"
    "      --confirmation-code=CODE  install: the operator's confirmation code\n"
    "      --enable         install: enable the profile once installed\n"
    "      --event=N        install: the N-th event discover lists, not an activation code\n"
    "      --smds=ADDRESS   discover, install --event: ask this SM-DS, not the root SM-DS\n";

static void print_help(void)
{
  printf("esimctl [OPTIONS...] COMMAND [ARGS...]\n\n"
         "Manage the eSIM profiles of cellular modems through esimd.\n\n"
         "Commands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS(commands) - 1; i++) {
    g_autofree char *usage = g_strdup_printf("%s %s", commands[i].name, commands[i].args);
    printf("  %-32s %s\n", g_strstrip(usage), commands[i].summary);
  }
  /* The last, notifications, has subcommands: one line each. */
  printf("  %-32s %s\n", "notifications [list]",
         "List the notifications pending for SM-DP+ servers");
  printf("  %-32s %s\n", "notifications send [SEQ...]", "Deliver them to their SM-DP+");
  printf("  %-32s %s\n", "notifications remove SEQ", "Drop one without delivering it");
  printf("\n%s\nSee esimctl(1) for exit statuses and the JSON keys.\n", options_help);
}

static void print_command_help(const Command *c)
{
  printf("esimctl [OPTIONS...] %s %s\n\n%s.\n\n%s\n%s", c->name, c->args, c->summary, c->help,
         options_help);
}

int esimctl_fail(int status, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start(ap, format);
  message = g_strdup_vprintf(format, ap);
  va_end(ap);
  fprintf(stderr, "esimctl: %s\n", message);
  return status;
}

static const struct {
  const char *name;
  int status;
} error_statuses[] = {
    {"org.esimd.Error.NotFound", EXIT_NOT_FOUND},
    /* The object went away between our read and our call. */
    {"org.freedesktop.DBus.Error.UnknownObject", EXIT_NOT_FOUND},
    {"org.esimd.Error.ProfileEnabled", EXIT_REFUSED},
    {"org.esimd.Error.ProfileNotEnabled", EXIT_REFUSED},
    {"org.esimd.Error.DisallowedByPolicy", EXIT_REFUSED},
    {"org.esimd.Error.CatBusy", EXIT_REFUSED},
    {"org.esimd.Error.CardError", EXIT_REFUSED},
    {"org.freedesktop.DBus.Error.AccessDenied", EXIT_ACCESS_DENIED},
    {"org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", EXIT_ACCESS_DENIED},
    {"org.esimd.Error.Transport", EXIT_MODEM},
    {"org.esimd.Error.Timeout", EXIT_MODEM},
    {"org.esimd.Error.Removed", EXIT_MODEM},
    {"org.esimd.Error.NotSupported", EXIT_MODEM},
    {"org.freedesktop.DBus.Error.NoReply", EXIT_MODEM},
    {"org.freedesktop.DBus.Error.Timeout", EXIT_MODEM},
    {"org.esimd.Error.SmdpUnreachable", EXIT_SMDP},
    {"org.esimd.Error.SmdpRejected", EXIT_SMDP},
    {"org.esimd.Error.ConfirmationCodeWrong", EXIT_SMDP},
    {"org.esimd.Error.DownloadRejected", EXIT_SMDP},
    {"org.esimd.Error.InvalidActivationCode", EXIT_USAGE},
    {"org.freedesktop.DBus.Error.ServiceUnknown", EXIT_NO_DAEMON},
    {"org.freedesktop.DBus.Error.NameHasNoOwner", EXIT_NO_DAEMON},
    {"org.freedesktop.DBus.Error.InvalidArgs", EXIT_USAGE},
};

int esimctl_status_for_error(const char *name)
{
  for (gsize i = 0; name && i < G_N_ELEMENTS(error_statuses); i++) {
    if (g_str_equal(error_statuses[i].name, name))
      return error_statuses[i].status;
  }
  return EXIT_FAILURE_OTHER;
}

int esimctl_fail_bus(const sd_bus_error *error, int r)
{
  int status;

  if (!sd_bus_error_is_set(error))
    return esimctl_fail(EXIT_FAILURE_OTHER, "%s", g_strerror(r < 0 ? -r : EIO));
  status = esimctl_status_for_error(error->name);
  if (status == EXIT_NO_DAEMON)
    return esimctl_fail(status, "esimd is not running on this bus (%s)",
                        error->message ? error->message : error->name);
  /* The daemon writes its messages for people: pass them on as they are. */
  return esimctl_fail(status, "%s",
                      error->message && *error->message ? error->message : error->name);
}

int esimctl_send(Esimctl *ctl, sd_bus_message *call, gboolean interactive, sd_bus_error *error,
                 sd_bus_message **reply)
{
  int r = 0;

  /* Lets a polkit agent ask the user instead of refusing outright. */
  if (interactive)
    r = sd_bus_message_set_allow_interactive_authorization(call, 1);
  if (r >= 0)
    r = sd_bus_call(ctl->bus, call, CALL_TIMEOUT_USEC, error, reply);
  return r;
}

int esimctl_call(Esimctl *ctl, const char *path, const char *iface, const char *method,
                 gboolean interactive, sd_bus_error *error, sd_bus_message **reply,
                 const char *types, ...)
{
  sd_bus_message *call = NULL;
  va_list ap;
  int r;

  r = sd_bus_message_new_method_call(ctl->bus, &call, ESIMD_BUS_NAME, path, iface, method);
  if (r >= 0 && types && *types) {
    va_start(ap, types);
    r = sd_bus_message_appendv(call, types, ap);
    va_end(ap);
  }
  if (r >= 0)
    r = esimctl_send(ctl, call, interactive, error, reply);
  else
    sd_bus_error_set_errnof(error, -r, "Cannot build the call to %s: %s", method, g_strerror(-r));
  sd_bus_message_unref(call);
  return r;
}

/* "system", "session" or a D-Bus address, as esimd's --bus. */
static int connect_bus(const char *bus_arg, sd_bus **out)
{
  sd_bus *bus = NULL;
  int r;

  if (g_str_equal(bus_arg, "system")) {
    r = sd_bus_open_system(&bus);
  } else if (g_str_equal(bus_arg, "session")) {
    r = sd_bus_open_user(&bus);
  } else {
    r = sd_bus_new(&bus);
    if (r >= 0)
      r = sd_bus_set_address(bus, bus_arg);
    if (r >= 0)
      r = sd_bus_set_bus_client(bus, 1);
    if (r >= 0)
      r = sd_bus_start(bus);
  }
  if (r < 0) {
    sd_bus_unref(bus);
    return esimctl_fail(r == -EINVAL ? EXIT_USAGE : EXIT_NO_DAEMON,
                        "Cannot connect to the %s bus: %s", bus_arg, g_strerror(-r));
  }
  *out = bus;
  return EXIT_OK;
}

int main(int argc, char **argv)
{
  static const struct option long_options[] = {
      {"help", no_argument, NULL, 'h'},        {"version", no_argument, NULL, 'V'},
      {"json", no_argument, NULL, 'j'},        {"eid", required_argument, NULL, 'e'},
      {"bus", required_argument, NULL, 'B'},   {"full", no_argument, NULL, 'F'},
      {"yes", no_argument, NULL, 'y'},         {"enable", no_argument, NULL, 'E'},
      {"smds", required_argument, NULL, 'S'},  {"confirmation-code", required_argument, NULL, 'C'},
      {"event", required_argument, NULL, 'N'}, {NULL, 0, NULL, 0},
  };
  Esimctl ctl = {0};
  const char *bus_arg = "system";
  gboolean help = FALSE;
  const Command *command;
  char *default_argv[] = {(char *)"list", NULL};
  char **args;
  int n_args, c, status;

  setlocale(LC_ALL, "");
  while ((c = getopt_long(argc, argv, "hje:y", long_options, NULL)) != -1) {
    switch (c) {
    case 'h':
      help = TRUE;
      break;
    case 'V':
      printf("esimctl %s\n", PACKAGE_VERSION);
      return EXIT_OK;
    case 'j':
      ctl.json = TRUE;
      break;
    case 'e':
      ctl.eid = optarg;
      break;
    case 'B':
      bus_arg = optarg;
      break;
    case 'F':
      ctl.full = TRUE;
      break;
    case 'y':
      ctl.yes = TRUE;
      break;
    case 'E':
      ctl.enable = TRUE;
      break;
    case 'C':
      ctl.confirmation_code = optarg;
      break;
    case 'S':
      ctl.smds = optarg;
      break;
    case 'N': {
      guint64 n = 0;

      if (!g_ascii_string_to_unsigned(optarg, 10, 1, G_MAXUINT, &n, NULL))
        return esimctl_fail(EXIT_USAGE, "--event wants an event number (1, 2, ...), not \"%s\"",
                            optarg);
      ctl.event = (guint)n;
      break;
    }
    default:
      fprintf(stderr, "Try 'esimctl --help'.\n");
      return EXIT_USAGE;
    }
  }
  args = argv + optind;
  n_args = argc - optind;
  if (n_args == 0) {
    args = default_argv;
    n_args = 1;
  }
  command = find_command(args[0]);
  if (help) {
    if (optind < argc && command)
      print_command_help(command);
    else
      print_help();
    return EXIT_OK;
  }
  if (!command) {
    fprintf(stderr, "esimctl: unknown command \"%s\". Try 'esimctl --help'.\n", args[0]);
    return EXIT_USAGE;
  }
  if (ctl.eid && (!*ctl.eid || strspn(ctl.eid, "0123456789") != strlen(ctl.eid)))
    return esimctl_fail(EXIT_USAGE, "--eid wants the first digits of an EID, not \"%s\"", ctl.eid);

  status = connect_bus(bus_arg, &ctl.bus);
  if (status != EXIT_OK)
    return status;
  status = command->run(&ctl, n_args, args);
  sd_bus_flush_close_unref(ctl.bus);
  fflush(stdout);
  if (ferror(stdout) && status == EXIT_OK)
    return esimctl_fail(EXIT_FAILURE_OTHER, "Cannot write the output");
  return status;
}
