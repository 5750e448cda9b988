/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * euicc-sim: one simulated card on stdin/stdout. Each input line is a command
 * APDU in hex; each output line is the response APDU in hex, or an empty
 * line when a drop fault swallowed it, so that output line N always answers
 * input command N.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "euicc-sim.h"

static const char description[] =
    "Reads command APDUs as hex, one per line, from standard input (blank lines\n"
    "and lines starting with # are skipped, spaces inside the hex are allowed)\n"
    "and writes each response APDU (data then SW1 SW2) as one line of upper-case\n"
    "hex. A response swallowed by a drop fault is written as an empty line.\n"
    "\n"
    "Faults (--fault, repeatable):\n"
    "  sw:CMD=SWSW    answer CMD with that status word and no data\n"
    "  drop:CMD       the card acts on CMD but its answer is lost\n"
    "  garbage:CMD    answer CMD with bytes that are no valid DER, SW 9000\n"
    "  CMD is an ES10 tag (BF2D, BF31, ...) or select, manage-channel,\n"
    "  get-response, store-data, any. Append @N to fire only N times.";

static gboolean parse_hex(const char *line, GByteArray *out)
{
  int hi = -1;

  for (const char *p = line; *p; p++) {
    int v;
    if (g_ascii_isspace(*p))
      continue;
    v = g_ascii_xdigit_value(*p);
    if (v < 0)
      return FALSE;
    if (hi < 0) {
      hi = v;
    } else {
      guint8 b = (guint8)(hi << 4 | v);
      g_byte_array_append(out, &b, 1);
      hi = -1;
    }
  }
  return hi < 0;
}

int main(int argc, char **argv)
{
  g_autofree char *card_path = NULL;
  g_autofree char *log_path = NULL;
  g_autofree char *pki_dir = NULL;
  g_auto(GStrv) faults = NULL;
  gint delay_ms = 0;
  GOptionEntry entries[] = {
      {"card", 'c', 0, G_OPTION_ARG_FILENAME, &card_path, "Card file to load (required)", "FILE"},
      {"apdu-log", 'l', 0, G_OPTION_ARG_FILENAME, &log_path,
       "Write every command and response as \"> HEX\" / \"< HEX\" lines", "FILE"},
      {"fault", 'f', 0, G_OPTION_ARG_STRING_ARRAY, &faults, "Add a fault (see below)", "SPEC"},
      {"delay-ms", 'd', 0, G_OPTION_ARG_INT, &delay_ms, "Wait this long before each answer", "N"},
      {"pki", 'p', 0, G_OPTION_ARG_FILENAME, &pki_dir,
       "Load the card's keys and certificates from DIR (ci.pem, euicc.pem, euicc.key, eum.pem)",
       "DIR"},
      {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- a simulated eUICC on stdin/stdout");
  g_autoptr(GError) error = NULL;
  g_autoptr(EuiccSim) sim = NULL;
  char *line = NULL;
  size_t cap = 0;
  guint lineno = 0;

  g_option_context_add_main_entries(ctx, entries, NULL);
  g_option_context_set_description(ctx, description);
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    fprintf(stderr, "euicc-sim: %s\n", error->message);
    return 2;
  }
  if (!card_path || delay_ms < 0) {
    fprintf(stderr, "euicc-sim: --card FILE is required (see --help)\n");
    return 2;
  }
  sim = euicc_sim_new_from_file(card_path, &error);
  if (!sim) {
    fprintf(stderr, "euicc-sim: %s\n", error->message);
    return 1;
  }
  if (pki_dir && !euicc_sim_load_pki_dir(sim, pki_dir, &error)) {
    fprintf(stderr, "euicc-sim: %s\n", error->message);
    return 1;
  }
  for (guint i = 0; faults && faults[i]; i++) {
    if (!euicc_sim_add_fault(sim, faults[i], &error)) {
      fprintf(stderr, "euicc-sim: %s\n", error->message);
      return 2;
    }
  }
  euicc_sim_set_delay_ms(sim, (guint)delay_ms);
  if (log_path && !euicc_sim_set_apdu_log(sim, log_path, &error)) {
    fprintf(stderr, "euicc-sim: %s\n", error->message);
    return 1;
  }

  while (getline(&line, &cap, stdin) >= 0) {
    g_autoptr(GByteArray) apdu = g_byte_array_new();
    g_autoptr(GBytes) resp = NULL;
    char *text = g_strstrip(line);

    lineno++;
    if (*text == '\0' || *text == '#')
      continue;
    if (!parse_hex(text, apdu)) {
      fprintf(stderr, "euicc-sim: stdin line %u: \"%s\" is not hex bytes\n", lineno, text);
      free(line);
      return 1;
    }
    if (euicc_sim_get_delay_ms(sim))
      g_usleep((gulong)euicc_sim_get_delay_ms(sim) * 1000);
    resp = euicc_sim_transmit(sim, apdu->data, apdu->len);
    if (resp) {
      gsize n;
      const guint8 *p = g_bytes_get_data(resp, &n);
      for (gsize i = 0; i < n; i++)
        printf("%02X", p[i]);
    }
    putchar('\n');
    fflush(stdout);
  }
  free(line);
  return 0;
}
