/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * modem-sim: serve euicc-sim cards behind a pty that speaks QMI, MBIM or AT.
 * Prints "PTY <path>" as its first line and serves until SIGTERM/SIGINT or,
 * when stdin is a pipe, socket or terminal, until stdin reaches EOF: a test
 * which dies takes it along. On such a stdin it also takes commands, one a
 * line ("option K=V", "unplug"), each answered by "OK" or "ERROR <message>"
 * once it took effect.
 */
#include <glib-unix.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "modem-sim.h"

static gboolean on_quit_signal(gpointer data)
{
  g_main_loop_quit(data);
  return G_SOURCE_CONTINUE;
}

/* What reads commands from stdin: the modem they change, the loop EOF ends. */
typedef struct {
  GPtrArray *ports; /* ModemSim*: the first port, then the --extra-port ones */
  GMainLoop *loop;
  GString *line; /* input after the last newline */
} Control;

static void answer(const char *format, ...) G_GNUC_PRINTF(1, 2);

static void answer(const char *format, ...)
{
  va_list ap;

  va_start(ap, format);
  vprintf(format, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

/*
 * One command line: "option K=V" (what --option takes) or "unplug". It has
 * taken effect when the answer is written, so a test waiting for "OK" does
 * not race the modem.
 */
static void run_command(Control *ctl, char *text)
{
  g_autoptr(GError) error = NULL;
  char *cmd = g_strstrip(text);

  if (!*cmd || *cmd == '#')
    return;
  if (g_str_has_prefix(cmd, "option ") || g_str_has_prefix(cmd, "option\t")) {
    const char *option = g_strchug(cmd + strlen("option"));
    gboolean ok = TRUE;

    for (guint i = 0; ok && i < ctl->ports->len; i++)
      ok = modem_sim_set_option(g_ptr_array_index(ctl->ports, i), option, &error);
    if (ok)
      answer("OK");
    else
      answer("ERROR %s", error->message);
  } else if (g_str_equal(cmd, "unplug")) {
    /* The whole modem goes: every port of it. */
    for (guint i = 0; i < ctl->ports->len; i++)
      modem_sim_unplug(g_ptr_array_index(ctl->ports, i));
    answer("OK");
  } else {
    answer("ERROR unknown command \"%s\" (option K=V, unplug)", cmd);
  }
}

static gboolean on_stdin(gint fd, GIOCondition cond, gpointer data)
{
  Control *ctl = data;
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf);
  char *nl;

  if (n <= 0) {
    g_main_loop_quit(ctl->loop);
    return G_SOURCE_REMOVE;
  }
  g_string_append_len(ctl->line, buf, n);
  while ((nl = memchr(ctl->line->str, '\n', ctl->line->len))) {
    g_autofree char *cmd = g_strndup(ctl->line->str, (gsize)(nl - ctl->line->str));

    g_string_erase(ctl->line, 0, nl - ctl->line->str + 1);
    run_command(ctl, cmd);
  }
  return G_SOURCE_CONTINUE;
}

/* A pipe, socket or terminal on stdin ends with its owner; /dev/null or
 * /dev/zero (a daemon-style start) say nothing, so they are not watched. */
static gboolean stdin_is_a_lifeline(void)
{
  struct stat st;

  if (isatty(STDIN_FILENO))
    return TRUE;
  if (fstat(STDIN_FILENO, &st) < 0)
    return FALSE;
  return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
}

int main(int argc, char **argv)
{
  gboolean qmi = FALSE, mbim = FALSE, at = FALSE;
  g_auto(GStrv) slots = NULL;
  g_auto(GStrv) options = NULL;
  g_autofree char *apdu_log = NULL;
  g_auto(GStrv) extra_ports = NULL;
  const GOptionEntry entries[] = {
      {"qmi", 0, 0, G_OPTION_ARG_NONE, &qmi, "Speak QMUX (QMI)", NULL},
      {"mbim", 0, 0, G_OPTION_ARG_NONE, &mbim, "Speak MBIM", NULL},
      {"at", 0, 0, G_OPTION_ARG_NONE, &at, "Speak AT commands", NULL},
      {"slot", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &slots,
       "Add a slot holding the card in CARD, or an empty slot for \"empty\"", "CARD"},
      {"option", 0, 0, G_OPTION_ARG_STRING_ARRAY, &options,
       "A knob: delay-ms=N, close-after=N, max-channels=N, apdu-log=PATH, imei=DIGITS or a "
       "protocol option (QMI: error=MSGID:QMIERR, no-slot-status)",
       "K=V"},
      {"apdu-log", 0, 0, G_OPTION_ARG_FILENAME, &apdu_log,
       "Log every APDU the cards see (slot N > 1 logs to FILE.N)", "FILE"},
      {"extra-port", 0, 0, G_OPTION_ARG_STRING_ARRAY, &extra_ports,
       "One more port of the same modem speaking qmi, mbim or at, on the same cards "
       "(repeatable; one more \"PTY <path>\" line each)",
       "PROTO"},
      {NULL},
  };
  g_autoptr(GOptionContext) octx = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) ports = NULL;
  ModemSim *ms;
  g_autoptr(GMainLoop) loop = NULL;
  ModemSimProtocol protocol;
  Control ctl = {0};

  setlocale(LC_ALL, "");
  octx = g_option_context_new("- a simulated modem with eUICC cards on a pty");
  g_option_context_add_main_entries(octx, entries, NULL);
  g_option_context_set_description(
      octx, "Prints \"PTY <path>\" first, then serves until SIGTERM or SIGINT, or until EOF on\n"
            "stdin when stdin is a pipe, socket or terminal. Such a stdin also takes commands,\n"
            "one a line, each answered by \"OK\" or \"ERROR <message>\" once in force:\n"
            "  option K=V   any --option (fault=SPEC, clear-faults, error=..., delay-ms=N, ...)\n"
            "  unplug       close the pty as if the modem was pulled out\n");
  if (!g_option_context_parse(octx, &argc, &argv, &error)) {
    fprintf(stderr, "modem-sim: %s\n", error->message);
    return 2;
  }
  if (qmi + mbim + at != 1) {
    fprintf(stderr, "modem-sim: give exactly one of --qmi, --mbim, --at\n");
    return 2;
  }
  if (!slots || !slots[0]) {
    fprintf(stderr, "modem-sim: give at least one --slot\n");
    return 2;
  }
  protocol = qmi ? MODEM_SIM_PROTOCOL_QMI : mbim ? MODEM_SIM_PROTOCOL_MBIM : MODEM_SIM_PROTOCOL_AT;

  ports = g_ptr_array_new_with_free_func((GDestroyNotify)modem_sim_free);
  ms = modem_sim_new(protocol);
  g_ptr_array_add(ports, ms);
  for (guint i = 0; slots[i]; i++) {
    const char *card = g_str_equal(slots[i], "empty") ? NULL : slots[i];

    if (!modem_sim_add_slot(ms, card, &error)) {
      fprintf(stderr, "modem-sim: slot %u: %s\n", i + 1, error->message);
      return 1;
    }
  }
  for (guint i = 0; extra_ports && extra_ports[i]; i++) {
    const char *p = extra_ports[i];
    ModemSimProtocol extra;

    if (g_str_equal(p, "qmi"))
      extra = MODEM_SIM_PROTOCOL_QMI;
    else if (g_str_equal(p, "mbim"))
      extra = MODEM_SIM_PROTOCOL_MBIM;
    else if (g_str_equal(p, "at"))
      extra = MODEM_SIM_PROTOCOL_AT;
    else {
      fprintf(stderr, "modem-sim: --extra-port wants qmi, mbim or at, not \"%s\"\n", p);
      return 2;
    }
    g_ptr_array_add(ports, modem_sim_new_port(ms, extra));
  }
  for (guint i = 0; options && options[i]; i++) {
    for (guint j = 0; j < ports->len; j++) {
      if (!modem_sim_set_option(g_ptr_array_index(ports, j), options[i], &error)) {
        fprintf(stderr, "modem-sim: %s\n", error->message);
        return 2;
      }
    }
  }
  if (apdu_log) {
    g_autofree char *opt = g_strconcat("apdu-log=", apdu_log, NULL);

    if (!modem_sim_set_option(ms, opt, &error)) {
      fprintf(stderr, "modem-sim: %s\n", error->message);
      return 1;
    }
  }

  loop = g_main_loop_new(NULL, FALSE);
  for (guint i = 0; i < ports->len; i++) {
    if (!modem_sim_start(g_ptr_array_index(ports, i), &error)) {
      fprintf(stderr, "modem-sim: %s\n", error->message);
      return 1;
    }
  }
  for (guint i = 0; i < ports->len; i++)
    printf("PTY %s\n", modem_sim_get_port(g_ptr_array_index(ports, i)));
  fflush(stdout);

  g_unix_signal_add(SIGTERM, on_quit_signal, loop);
  g_unix_signal_add(SIGINT, on_quit_signal, loop);
  ctl.ports = ports;
  ctl.loop = loop;
  ctl.line = g_string_new(NULL);
  if (stdin_is_a_lifeline())
    g_unix_fd_add(STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, &ctl);
  g_main_loop_run(loop);
  g_string_free(ctl.line, TRUE);
  return 0;
}
