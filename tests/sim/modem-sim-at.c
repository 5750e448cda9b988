/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * modem-sim AT mode: the card in slot 1 behind the UICC commands of 3GPP
 * TS 27.007 (+CSIM 8.17, +CGLA 8.43, +CCHO 8.45, +CCHC 8.46), framed as real
 * modems frame them: command lines ended by CR (a following LF is ignored),
 * answers "\r\n<line>\r\n", echo on until ATE0.
 *
 * Quirks, switched on with "quirk=NAME" (several may be given), each one a
 * behaviour of shipping modems:
 *   ccho-prefix        "+CCHO: <n>" (the default)
 *   ccho-nospace       "+CCHO:<n>"
 *   ccho-bare          "<n>" alone, as 27.007 writes it
 *   no-test-commands   every "AT+X=?" answers ERROR, the commands still work
 *   csim-only          no +CCHO/+CGLA/+CCHC (ERROR, or +CME ERROR: 4)
 *   cme-error          errors as "+CME ERROR: <n>" instead of ERROR
 *   cme-error-verbose  errors as "+CME ERROR: <text>"
 *   urc                "+CREG: 1" before every answer and "RING" between an
 *                      answer's info line and its final result
 *   garbage            the next +CGLA/+CSIM answer is malformed (odd-length,
 *                      non-hex data), then the modem behaves again: one shot
 *   profile-sim        +CPIN?, +CCID, +CIMI and the EF reads follow the
 *                      eUICC's enabled profile: with none enabled the modem
 *                      has no USIM and says "SIM not inserted" (27.007 +CME
 *                      ERROR: 10), as modems do once the last profile is
 *                      disabled
 *   cgsn-quoted        AT+CGSN answers '+CGSN: "<imei>"' instead of the bare
 *                      IMEI line of 27.007 5.4
 * The modem's IMEI (+CGSN, +GSN) is modem-sim's own imei= option, the
 * radio technologies +WS46=? lists its rats= option.
 *
 * What ModemManager asks while it probes and initialises a 3GPP AT modem is
 * answered as a modem without a network would: identity (ATI, +GCAP: +CGSM,
 * +CGMI/+CGMM/+CGMR, +CGSN), +CFUN, +CPIN?, +CIMI (the profile owner's
 * MCC/MNC and digits of the ICCID), +CRSM READ BINARY of EF-ICCID, EF-AD and
 * EF-SPN (3GPP TS 31.102 4.2.18, 4.2.12; EF-ICCID ETSI TS 102 221 13.2), and
 * +COPS?/+CREG?/+CGREG?/+CEREG? as not registered. Anything else is ERROR.
 * Without cme-error* every error is a plain ERROR, whatever AT+CMEE says: a
 * modem that accepts +CMEE and ignores it.
 */
#include "modem-sim.h"

#include <string.h>

typedef enum {
  CCHO_PREFIX,
  CCHO_NOSPACE,
  CCHO_BARE,
} CchoStyle;

typedef enum {
  ERRORS_PLAIN,
  ERRORS_NUMERIC,
  ERRORS_VERBOSE,
} ErrorStyle;

typedef struct {
  gboolean echo;
  guint cmee;
  CchoStyle ccho_style;
  ErrorStyle error_style;
  gboolean no_test_commands;
  gboolean csim_only;
  gboolean urc;
  gboolean garbage; /* one shot: the next APDU answer is malformed */
  gboolean profile_sim;
  gboolean cgsn_quoted;
  guint cfun; /* 27.007 8.2: 1 full, 0 minimum, 4 radio off */
} AtSim;

/* 27.007 9.2.1 codes the sim uses. */
enum {
  CME_NOT_ALLOWED = 3,
  CME_NOT_SUPPORTED = 4,
  CME_SIM_NOT_INSERTED = 10,
  CME_MEMORY_FULL = 20,
  CME_INVALID_INDEX = 21,
  CME_NOT_FOUND = 22,
  CME_INVALID_PARAMETERS = 50,
};

static const char *cme_text(guint code)
{
  switch (code) {
  case CME_NOT_ALLOWED:
    return "operation not allowed";
  case CME_NOT_SUPPORTED:
    return "operation not supported";
  case CME_SIM_NOT_INSERTED:
    return "SIM not inserted";
  case CME_MEMORY_FULL:
    return "memory full";
  case CME_INVALID_INDEX:
    return "invalid index";
  case CME_NOT_FOUND:
    return "not found";
  case CME_INVALID_PARAMETERS:
    return "incorrect parameters";
  default:
    return "unknown";
  }
}

static AtSim *at_sim(ModemSim *ms)
{
  AtSim *sim = modem_sim_get_protocol_data(ms);

  if (!sim) {
    sim = g_new0(AtSim, 1);
    sim->echo = TRUE;
    sim->cfun = 1;
    modem_sim_set_protocol_data(ms, sim);
  }
  return sim;
}

/* ---- building answers ---- */

static void answer_line(GString *out, const char *line)
{
  g_string_append_printf(out, "\r\n%s\r\n", line);
}

static void answer_info(AtSim *sim, GString *out, const char *line)
{
  answer_line(out, line);
  /* A URC between an info line and the final result, as modems do when
   * the network speaks while the SIM answers. */
  if (sim->urc)
    answer_line(out, "RING");
}

static void answer_error(AtSim *sim, GString *out, guint code)
{
  g_autofree gchar *line = NULL;

  switch (sim->error_style) {
  case ERRORS_PLAIN:
    answer_line(out, "ERROR");
    return;
  case ERRORS_NUMERIC:
    line = g_strdup_printf("+CME ERROR: %u", code);
    break;
  case ERRORS_VERBOSE:
    line = g_strdup_printf("+CME ERROR: %s", cme_text(code));
    break;
  }
  answer_line(out, line);
}

static gchar *to_hex(const guint8 *data, gsize len)
{
  GString *s = g_string_sized_new(len * 2);

  for (gsize i = 0; i < len; i++)
    g_string_append_printf(s, "%02X", data[i]);
  return g_string_free(s, FALSE);
}

static GByteArray *from_hex(const char *hex)
{
  gsize len = strlen(hex);
  GByteArray *out;

  if (len % 2 != 0)
    return NULL;
  out = g_byte_array_sized_new((guint)(len / 2));
  for (gsize i = 0; i < len; i += 2) {
    int hi = g_ascii_xdigit_value(hex[i]);
    int lo = g_ascii_xdigit_value(hex[i + 1]);
    guint8 b;

    if (hi < 0 || lo < 0) {
      g_byte_array_unref(out);
      return NULL;
    }
    b = (guint8)(hi << 4 | lo);
    g_byte_array_append(out, &b, 1);
  }
  return out;
}

/* "<hex>" with its quotes, or NULL. */
static const char *unquote(gchar *s)
{
  gsize len;

  g_strstrip(s);
  len = strlen(s);
  if (len < 2 || s[0] != '"' || s[len - 1] != '"')
    return NULL;
  s[len - 1] = '\0';
  return s + 1;
}

static gboolean parse_number(const char *s, guint max, guint *out)
{
  guint64 v;
  g_autofree gchar *copy = g_strstrip(g_strdup(s));

  if (!g_ascii_string_to_unsigned(copy, 10, 0, max, &v, NULL))
    return FALSE;
  *out = (guint)v;
  return TRUE;
}

/* The CLA of a channel, keeping the proprietary-class bit (GlobalPlatform
 * STORE DATA is 80) and the chaining bit (ISO 7816-4 5.4.1). */
static guint8 cla_with_channel(guint8 cla, guint channel)
{
  if (channel <= 3)
    return (guint8)((cla & 0x90) | channel);
  return (guint8)((cla & 0x90) | 0x40 | (channel - 4));
}

/* Sends an APDU to the card; NULL when the card or the port dropped it. */
static GBytes *card_transmit(ModemSim *ms, const guint8 *apdu, gsize len)
{
  return modem_sim_transmit(ms, 1, apdu, len);
}

static guint16 sw_of(GBytes *rsp)
{
  gsize len;
  const guint8 *p = g_bytes_get_data(rsp, &len);

  return len >= 2 ? (guint16)(p[len - 2] << 8 | p[len - 1]) : 0;
}

/* "+CGLA: <len>,\"<hex>\"" */
static void answer_apdu(AtSim *sim, GString *out, const char *prefix, GBytes *rsp)
{
  gsize len;
  const guint8 *p = g_bytes_get_data(rsp, &len);
  g_autofree gchar *hex = to_hex(p, len);
  g_autofree gchar *line = g_strdup_printf("%s: %zu,\"%s\"", prefix, len * 2, hex);

  if (sim->garbage) {
    /* What a firmware bug or line noise looks like: no valid length, no hex. */
    sim->garbage = FALSE;
    g_free(line);
    line = g_strdup_printf("%s: 7,\"9Z0#\"", prefix);
  }
  answer_info(sim, out, line);
  answer_line(out, "OK");
}

/* ---- the UICC commands ---- */

/* Returns FALSE when the card gave no answer: the modem then stays silent. */
static gboolean do_ccho(ModemSim *ms, AtSim *sim, gchar *args, GString *out)
{
  const char *hex = unquote(args);
  g_autoptr(GByteArray) aid = hex ? from_hex(hex) : NULL;
  const guint8 open[] = {0x00, 0x70, 0x00, 0x00, 0x01};
  g_autoptr(GBytes) rsp = NULL;
  g_autoptr(GByteArray) select = NULL;
  g_autofree gchar *line = NULL;
  guint channel;
  guint16 sw;

  if (!aid || aid->len < 1 || aid->len > 16) {
    answer_error(sim, out, CME_INVALID_PARAMETERS);
    return TRUE;
  }
  if (!modem_sim_get_card(ms, 1)) {
    answer_error(sim, out, CME_SIM_NOT_INSERTED);
    return TRUE;
  }
  if (!(rsp = card_transmit(ms, open, sizeof open)))
    return FALSE;
  if (sw_of(rsp) != 0x9000 || g_bytes_get_size(rsp) != 3) {
    answer_error(sim, out, CME_MEMORY_FULL);
    return TRUE;
  }
  channel = ((const guint8 *)g_bytes_get_data(rsp, NULL))[0];
  g_clear_pointer(&rsp, g_bytes_unref);

  select = g_byte_array_new();
  g_byte_array_append(select, (const guint8[]){cla_with_channel(0, channel), 0xA4, 0x04, 0x00}, 4);
  g_byte_array_append(select, (const guint8[]){(guint8)aid->len}, 1);
  g_byte_array_append(select, aid->data, aid->len);
  g_byte_array_append(select, (const guint8[]){0x00}, 1);
  if (!(rsp = card_transmit(ms, select->data, select->len)))
    return FALSE;
  sw = sw_of(rsp);
  if (sw != 0x9000 && (sw >> 8) != 0x61) {
    const guint8 close[] = {0x00, 0x70, 0x80, (guint8)channel};
    g_autoptr(GBytes) closed = card_transmit(ms, close, sizeof close);

    if (!closed)
      return FALSE;
    answer_error(sim, out, CME_NOT_FOUND);
    return TRUE;
  }

  switch (sim->ccho_style) {
  case CCHO_PREFIX:
    line = g_strdup_printf("+CCHO: %u", channel);
    break;
  case CCHO_NOSPACE:
    line = g_strdup_printf("+CCHO:%u", channel);
    break;
  case CCHO_BARE:
    line = g_strdup_printf("%u", channel);
    break;
  }
  answer_info(sim, out, line);
  answer_line(out, "OK");
  return TRUE;
}

static gboolean channel_is_open(ModemSim *ms, guint channel)
{
  EuiccSim *card = modem_sim_get_card(ms, 1);

  return card && channel >= 1 && channel <= 19 &&
         (euicc_sim_get_open_channels(card) & (1u << channel));
}

static gboolean do_cchc(ModemSim *ms, AtSim *sim, gchar *args, GString *out)
{
  guint channel;
  guint8 close[4] = {0x00, 0x70, 0x80, 0x00};
  g_autoptr(GBytes) rsp = NULL;

  if (!parse_number(args, 255, &channel) || !channel_is_open(ms, channel)) {
    answer_error(sim, out, CME_INVALID_INDEX);
    return TRUE;
  }
  close[3] = (guint8)channel;
  if (!(rsp = card_transmit(ms, close, sizeof close)))
    return FALSE;
  if (sw_of(rsp) != 0x9000)
    answer_error(sim, out, CME_INVALID_INDEX);
  else
    answer_line(out, "OK");
  return TRUE;
}

/* Parses "<len>,\"<hex>\"" where len counts the hex characters. */
static GByteArray *parse_len_hex(gchar *args)
{
  g_auto(GStrv) parts = g_strsplit(args, ",", 2);
  const char *hex;
  guint len;

  if (!parts[0] || !parts[1] || !parse_number(parts[0], 2 * 65536, &len))
    return NULL;
  hex = unquote(parts[1]);
  if (!hex || strlen(hex) != len || len < 8)
    return NULL;
  return from_hex(hex);
}

static gboolean do_cgla(ModemSim *ms, AtSim *sim, gchar *args, GString *out)
{
  g_auto(GStrv) parts = g_strsplit(args, ",", 2);
  g_autoptr(GByteArray) apdu = NULL;
  g_autoptr(GBytes) rsp = NULL;
  guint channel;

  if (!parts[0] || !parts[1] || !parse_number(parts[0], 255, &channel) ||
      !(apdu = parse_len_hex(parts[1]))) {
    answer_error(sim, out, CME_INVALID_PARAMETERS);
    return TRUE;
  }
  if (!channel_is_open(ms, channel)) {
    answer_error(sim, out, CME_INVALID_INDEX);
    return TRUE;
  }
  /* The modem puts its session's channel into the CLA, as shipping modems
   * do: the client's CLA channel bits do not matter. */
  apdu->data[0] = cla_with_channel(apdu->data[0], channel);
  if (!(rsp = card_transmit(ms, apdu->data, apdu->len)))
    return FALSE;
  answer_apdu(sim, out, "+CGLA", rsp);
  return TRUE;
}

static gboolean do_csim(ModemSim *ms, AtSim *sim, gchar *args, GString *out)
{
  g_autoptr(GByteArray) apdu = parse_len_hex(args);
  g_autoptr(GBytes) rsp = NULL;

  if (!apdu) {
    answer_error(sim, out, CME_INVALID_PARAMETERS);
    return TRUE;
  }
  if (!modem_sim_get_card(ms, 1)) {
    answer_error(sim, out, CME_SIM_NOT_INSERTED);
    return TRUE;
  }
  if (!(rsp = card_transmit(ms, apdu->data, apdu->len)))
    return FALSE;
  answer_apdu(sim, out, "+CSIM", rsp);
  return TRUE;
}

/* ---- what ModemManager asks a 3GPP modem ---- */

/* With profile-sim, an eUICC without an enabled profile is no SIM to the
 * modem: the USIM application lives in the enabled profile, and the ISD-R
 * (SGP.22's security domain for profile management) is no telecom
 * application. */
static gboolean usim_present(ModemSim *ms, AtSim *sim)
{
  EuiccSim *card = modem_sim_get_card(ms, 1);

  if (!card)
    return FALSE;
  return !sim->profile_sim || !euicc_sim_is_euicc(card) || euicc_sim_get_iccid(card) != NULL;
}

/* Identity, 27.007 5.1-5.6 and V.250 6.1.3 (+GCAP, +GMI, ...). */
static gboolean answer_identity(AtSim *sim, const char *body, GString *out)
{
  static const struct {
    const char *cmd;
    const char *answer;
  } fixed[] = {
      {"+GCAP", "+GCAP: +CGSM"}, {"+CGMI", "esimd"},    {"+GMI", "esimd"},
      {"+CGMM", "modem-sim"},    {"+GMM", "modem-sim"}, {"+CGMR", "modem-sim 1.0"},
      {"+GMR", "modem-sim 1.0"},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(fixed); i++) {
    if (g_ascii_strcasecmp(body, fixed[i].cmd) == 0) {
      answer_info(sim, out, fixed[i].answer);
      answer_line(out, "OK");
      return TRUE;
    }
  }
  return FALSE;
}

/* The IMSI a modem reads from EF-IMSI: the owner's MCC and MNC, then the
 * last digits of the ICCID as MSIN, 15 digits in all (3GPP TS 23.003 2.2). */
static gchar *make_imsi(EuiccSim *card)
{
  g_autofree gchar *mccmnc = euicc_sim_dup_owner_mccmnc(card);
  const char *iccid = euicc_sim_get_iccid(card);
  gsize msin_len, n;

  if (!iccid)
    return NULL;
  if (!mccmnc)
    mccmnc = g_strdup("00101"); /* the test network of 3GPP TS 34.108 */
  msin_len = 15 - strlen(mccmnc);
  n = strlen(iccid);
  /* The ICCID's last digit is its Luhn check digit: leave it out. */
  return g_strdup_printf("%s%.*s", mccmnc, (int)msin_len, iccid + n - 1 - msin_len);
}

/* "+CRSM: sw1,sw2[,\"hex\"]" then OK, 27.007 8.18. */
static void answer_crsm(AtSim *sim, GString *out, guint sw1, guint sw2, const guint8 *data,
                        gsize len)
{
  g_autofree gchar *line = NULL;

  if (data) {
    g_autofree gchar *hex = to_hex(data, len);

    line = g_strdup_printf("+CRSM: %u,%u,\"%s\"", sw1, sw2, hex);
  } else {
    line = g_strdup_printf("+CRSM: %u,%u", sw1, sw2);
  }
  answer_info(sim, out, line);
  answer_line(out, "OK");
}

/* EF-ICCID coding, ETSI TS 102 221 13.2: BCD with swapped nibbles, F
 * padding. */
static void iccid_to_ef(const char *iccid, guint8 ef[10])
{
  for (guint i = 0; i < 20; i++) {
    guint8 d = i < strlen(iccid) ? (guint8)(iccid[i] - '0') : 0xF;

    if (i % 2 == 0)
      ef[i / 2] = d;
    else
      ef[i / 2] |= (guint8)(d << 4);
  }
}

/* +CIMI and +CRSM (READ BINARY, 176, of the EFs ModemManager reads): the
 * SIM as the modem's own stack reads it, beside the APDUs of +CSIM. */
static gboolean answer_sim_files(ModemSim *ms, AtSim *sim, const char *body, GString *out)
{
  EuiccSim *card = modem_sim_get_card(ms, 1);
  g_auto(GStrv) args = NULL;
  guint command, file;

  if (g_ascii_strcasecmp(body, "+CIMI") == 0) {
    g_autofree gchar *imsi = NULL;

    if (!usim_present(ms, sim) || !(imsi = make_imsi(card))) {
      answer_error(sim, out, CME_SIM_NOT_INSERTED);
      return TRUE;
    }
    answer_info(sim, out, imsi);
    answer_line(out, "OK");
    return TRUE;
  }
  if (g_ascii_strncasecmp(body, "+CRSM=", 6) != 0)
    return FALSE;
  args = g_strsplit(body + 6, ",", -1);
  if (!args[0] || !args[1] || !parse_number(args[0], 255, &command) ||
      !parse_number(args[1], 65535, &file)) {
    answer_error(sim, out, CME_INVALID_PARAMETERS);
    return TRUE;
  }
  if (!usim_present(ms, sim)) {
    answer_error(sim, out, CME_SIM_NOT_INSERTED);
    return TRUE;
  }
  if (command == 176 && file == 0x2FE2 && euicc_sim_get_iccid(card)) {
    guint8 ef[10];

    iccid_to_ef(euicc_sim_get_iccid(card), ef);
    answer_crsm(sim, out, 0x90, 0x00, ef, sizeof ef);
    return TRUE;
  }
  if (command == 176 && file == 0x6FAD) {
    /* EF-AD, 31.102 4.2.18: normal operation, then the MNC length that
     * tells a reader where the IMSI's MCC/MNC ends. */
    g_autofree gchar *mccmnc = euicc_sim_dup_owner_mccmnc(card);
    guint8 ad[4] = {0x00, 0x00, 0x00, (guint8)(mccmnc ? strlen(mccmnc) - 3 : 2)};

    answer_crsm(sim, out, 0x90, 0x00, ad, sizeof ad);
    return TRUE;
  }
  if (command == 176 && file == 0x6F46 && euicc_sim_get_provider(card)) {
    /* EF-SPN, 31.102 4.2.12: display condition, then the name in the GSM
     * default alphabet (ASCII for the names the card files use), FF padded. */
    const char *name = euicc_sim_get_provider(card);
    guint8 spn[17];

    memset(spn, 0xFF, sizeof spn);
    spn[0] = 0x01;
    memcpy(spn + 1, name, MIN(strlen(name), sizeof spn - 1));
    answer_crsm(sim, out, 0x90, 0x00, spn, sizeof spn);
    return TRUE;
  }
  /* Any other file or command: file not found (ISO 7816-4 6A82), as the
   * modem's stack passes it on. */
  answer_crsm(sim, out, 0x6A, 0x82, NULL, 0);
  return TRUE;
}

/* No network here: registration queries say "not registered, not
 * searching" (27.007 7.2, 10.1.20, 10.1.22), +COPS? says automatic mode
 * without an operator (7.3), and setting their report modes is accepted. */
static gboolean answer_network(AtSim *sim, const char *body, GString *out)
{
  static const char *const reg[] = {"+CREG", "+CGREG", "+CEREG"};

  if (g_ascii_strcasecmp(body, "+COPS?") == 0) {
    answer_info(sim, out, "+COPS: 0");
    answer_line(out, "OK");
    return TRUE;
  }
  if (g_ascii_strncasecmp(body, "+COPS=", 6) == 0 && !g_str_equal(body + 6, "?")) {
    answer_line(out, "OK");
    return TRUE;
  }
  for (gsize i = 0; i < G_N_ELEMENTS(reg); i++) {
    gsize n = strlen(reg[i]);

    if (g_ascii_strncasecmp(body, reg[i], n) != 0)
      continue;
    if (g_str_equal(body + n, "?")) {
      g_autofree gchar *line = g_strdup_printf("%s: 0,0", reg[i]);

      answer_info(sim, out, line);
      answer_line(out, "OK");
      return TRUE;
    }
    if (body[n] == '=' && body[n + 1] != '?') {
      answer_line(out, "OK");
      return TRUE;
    }
  }
  return FALSE;
}

/* ---- one command line ---- */

/* Extended commands with a "=?" test form this modem knows. */
static const char *const test_commands[] = {"+CCHO", "+CCHC", "+CGLA", "+CSIM", "+CMEE",
                                            "+CPIN", "+CCID", "+CFUN", "+WS46"};

/*
 * AT+WS46=? (27.007 5.9): every <n> whose radio access networks the modem
 * has (rats=). NG-RAN counts beside E-UTRAN when the modem has NR on the 4G
 * core (nr-nsa), and without E-UTRAN when it has NR on the 5G core (nr-sa).
 * NULL when the modem does not say.
 */
static gchar *ws46_line(guint rats)
{
  enum { G = 1, U = 2, E = 4, N = 8 };
  static const struct {
    guint n;
    guint rans;
  } values[] = {
      {12, G},         {22, U},         {25, G | U | E},     {28, E},         {29, G | U},
      {30, G | E},     {31, U | E},     {35, G | U | E | N}, {36, N},         {37, E | N},
      {38, U | E | N}, {39, G | E | N}, {40, U | N},         {41, G | U | N}, {42, G | N},
  };
  guint have = ((rats & MODEM_SIM_RAT_GSM) ? G : 0) | ((rats & MODEM_SIM_RAT_UMTS) ? U : 0) |
               ((rats & MODEM_SIM_RAT_LTE) ? E : 0);
  GString *line;

  if (!rats)
    return NULL;
  line = g_string_new("+WS46: (");
  for (gsize i = 0; i < G_N_ELEMENTS(values); i++) {
    guint rans = values[i].rans;
    gboolean nr_ok =
        (rans & E) ? (rats & MODEM_SIM_RAT_NR_NSA) != 0 : (rats & MODEM_SIM_RAT_NR_SA) != 0;

    if ((rans & ~(guint)N & ~have) || ((rans & N) && !nr_ok))
      continue;
    g_string_append_printf(line, "%s%u", line->str[line->len - 1] == '(' ? "" : ",", values[i].n);
  }
  g_string_append_c(line, ')');
  return g_string_free(line, FALSE);
}

static gboolean is_channel_command(const char *name)
{
  return g_str_equal(name, "+CCHO") || g_str_equal(name, "+CCHC") || g_str_equal(name, "+CGLA");
}

/* Returns FALSE when the modem must not answer (the card dropped the APDU
 * or the port is closed). */
static gboolean run_command(ModemSim *ms, AtSim *sim, const char *line, GString *out)
{
  g_autofree gchar *name = NULL;
  g_autofree gchar *args = NULL;
  const char *body;
  const char *sep;

  if (g_ascii_strncasecmp(line, "AT", 2) != 0) {
    answer_line(out, "ERROR");
    return TRUE;
  }
  body = line + 2;
  if (!*body) {
    answer_line(out, "OK");
    return TRUE;
  }
  if (g_ascii_strcasecmp(body, "Z") == 0) {
    /* V.250 6.1.1: back to the stored profile, echo on and 27.007's
     * default error reporting; ModemManager sends it before enabling. */
    sim->echo = TRUE;
    sim->cmee = 0;
    answer_line(out, "OK");
    return TRUE;
  }
  if (g_ascii_strcasecmp(body, "E0") == 0 || g_ascii_strcasecmp(body, "E1") == 0) {
    sim->echo = body[1] == '1';
    answer_line(out, "OK");
    return TRUE;
  }
  if (g_ascii_strcasecmp(body, "I") == 0) {
    answer_line(out, "esimd modem-sim");
    answer_line(out, "OK");
    return TRUE;
  }
  if (body[0] != '+') {
    answer_line(out, "ERROR");
    return TRUE;
  }
  if (answer_identity(sim, body, out) || answer_sim_files(ms, sim, body, out) ||
      answer_network(sim, body, out))
    return TRUE;

  sep = strpbrk(body, "=?");
  name = g_ascii_strup(body, sep ? sep - body : -1);
  if (sep && g_str_equal(sep, "=?")) {
    gboolean known = FALSE;

    for (gsize i = 0; i < G_N_ELEMENTS(test_commands); i++)
      known |= g_str_equal(name, test_commands[i]);
    g_autofree gchar *ws46 = g_str_equal(name, "+WS46") ? ws46_line(modem_sim_get_rats(ms)) : NULL;

    if (!known || sim->no_test_commands || (sim->csim_only && is_channel_command(name)) ||
        (g_str_equal(name, "+WS46") && !ws46)) {
      answer_line(out, "ERROR");
    } else {
      if (ws46)
        answer_line(out, ws46);
      if (g_str_equal(name, "+CMEE"))
        answer_line(out, "+CMEE: (0-2)");
      else if (g_str_equal(name, "+CFUN"))
        answer_line(out, "+CFUN: (0,1,4),(0,1)");
      answer_line(out, "OK");
    }
    return TRUE;
  }
  if (sep && *sep == '=')
    args = g_strdup(sep + 1);

  if (is_channel_command(name) && sim->csim_only) {
    /* A modem without the command: plain ERROR, or "not supported". */
    if (sim->error_style == ERRORS_PLAIN)
      answer_line(out, "ERROR");
    else
      answer_error(sim, out, CME_NOT_SUPPORTED);
    return TRUE;
  }

  if (g_str_equal(name, "+CMEE")) {
    guint n;

    if (sep && g_str_equal(sep, "?")) {
      g_autofree gchar *reply = g_strdup_printf("+CMEE: %u", sim->cmee);

      answer_info(sim, out, reply);
      answer_line(out, "OK");
    } else if (args && parse_number(args, 2, &n)) {
      sim->cmee = n;
      answer_line(out, "OK");
    } else {
      answer_error(sim, out, CME_INVALID_PARAMETERS);
    }
    return TRUE;
  }
  if (g_str_equal(name, "+CPIN") && sep && g_str_equal(sep, "?")) {
    if (!usim_present(ms, sim)) {
      answer_error(sim, out, CME_SIM_NOT_INSERTED);
    } else {
      answer_info(sim, out, "+CPIN: READY");
      answer_line(out, "OK");
    }
    return TRUE;
  }
  if (g_str_equal(name, "+CCID") && !sep) {
    EuiccSim *card = modem_sim_get_card(ms, 1);
    const char *iccid = card ? euicc_sim_get_iccid(card) : NULL;

    if (!card || !usim_present(ms, sim)) {
      answer_error(sim, out, CME_SIM_NOT_INSERTED);
    } else if (!iccid) {
      /* An eUICC without an enabled profile has no ICCID to read. */
      answer_error(sim, out, CME_NOT_FOUND);
    } else {
      g_autofree gchar *reply = g_strdup_printf("+CCID: %s", iccid);

      answer_info(sim, out, reply);
      answer_line(out, "OK");
    }
    return TRUE;
  }
  if (g_str_equal(name, "+CFUN")) {
    guint n;

    /* "1,1" (with reset): the state before the comma is what counts. */
    if (args)
      args[strcspn(args, ",")] = '\0';
    if (sep && g_str_equal(sep, "?")) {
      g_autofree gchar *reply = g_strdup_printf("+CFUN: %u", sim->cfun);

      answer_info(sim, out, reply);
      answer_line(out, "OK");
    } else if (args && parse_number(args, 4, &n)) {
      sim->cfun = n;
      answer_line(out, "OK");
    } else {
      answer_error(sim, out, CME_INVALID_PARAMETERS);
    }
    return TRUE;
  }
  /* 27.007 5.4: the IMEI alone on its line; a modem without one (imei=)
   * refuses the command. */
  if ((g_str_equal(name, "+CGSN") || g_str_equal(name, "+GSN")) && !sep) {
    const char *imei = modem_sim_get_imei(ms);

    if (!imei) {
      answer_error(sim, out, CME_NOT_SUPPORTED);
    } else {
      g_autofree gchar *reply =
          sim->cgsn_quoted ? g_strdup_printf("+CGSN: \"%s\"", imei) : g_strdup(imei);

      answer_info(sim, out, reply);
      answer_line(out, "OK");
    }
    return TRUE;
  }
  if (args && g_str_equal(name, "+CCHO"))
    return do_ccho(ms, sim, args, out);
  if (args && g_str_equal(name, "+CCHC"))
    return do_cchc(ms, sim, args, out);
  if (args && g_str_equal(name, "+CGLA"))
    return do_cgla(ms, sim, args, out);
  if (args && g_str_equal(name, "+CSIM"))
    return do_csim(ms, sim, args, out);

  answer_line(out, "ERROR");
  return TRUE;
}

static void handle_line(ModemSim *ms, const char *line)
{
  AtSim *sim = at_sim(ms);
  g_autoptr(GString) out = g_string_new(NULL);
  gboolean answer;

  if (sim->echo) {
    g_string_append(out, line);
    g_string_append_c(out, '\r');
  }
  if (sim->urc)
    answer_line(out, "+CREG: 1");
  answer = run_command(ms, sim, line, out);
  if (modem_sim_is_unplugged(ms))
    return;
  /* A dropped APDU: echo, maybe, and then nothing, as a modem whose SIM
   * stopped answering. */
  if (!answer && !sim->echo)
    return;
  if (!answer)
    g_string_truncate(out, strlen(line) + 1);
  /* One write per command: delay-ms delays the whole answer. */
  modem_sim_write(ms, (const guint8 *)out->str, out->len);
}

static gsize at_feed(ModemSim *ms, const guint8 *data, gsize len)
{
  for (gsize i = 0; i < len; i++) {
    if (data[i] == '\r' || data[i] == '\n') {
      g_autofree gchar *line = g_strndup((const char *)data, i);

      g_strstrip(line);
      if (*line)
        handle_line(ms, line);
      return i + 1;
    }
  }
  /* No line end yet; a client that sends kilobytes without one is broken. */
  return len > 65536 ? len : 0;
}

static gboolean at_set_option(ModemSim *ms, const char *option, GError **error)
{
  AtSim *sim = at_sim(ms);
  const char *quirk;

  if (!g_str_has_prefix(option, "quirk=")) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Unknown AT option '%s'", option);
    return FALSE;
  }
  quirk = option + strlen("quirk=");
  if (g_str_equal(quirk, "ccho-prefix"))
    sim->ccho_style = CCHO_PREFIX;
  else if (g_str_equal(quirk, "ccho-nospace"))
    sim->ccho_style = CCHO_NOSPACE;
  else if (g_str_equal(quirk, "ccho-bare"))
    sim->ccho_style = CCHO_BARE;
  else if (g_str_equal(quirk, "no-test-commands"))
    sim->no_test_commands = TRUE;
  else if (g_str_equal(quirk, "csim-only"))
    sim->csim_only = TRUE;
  else if (g_str_equal(quirk, "cme-error"))
    sim->error_style = ERRORS_NUMERIC;
  else if (g_str_equal(quirk, "cme-error-verbose"))
    sim->error_style = ERRORS_VERBOSE;
  else if (g_str_equal(quirk, "urc"))
    sim->urc = TRUE;
  else if (g_str_equal(quirk, "cgsn-quoted"))
    sim->cgsn_quoted = TRUE;
  else if (g_str_equal(quirk, "garbage"))
    sim->garbage = TRUE;
  else if (g_str_equal(quirk, "profile-sim"))
    sim->profile_sim = TRUE;
  else {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "Unknown AT quirk '%s' (ccho-prefix, ccho-nospace, ccho-bare, no-test-commands, "
                "csim-only, cme-error, cme-error-verbose, urc, garbage, profile-sim)",
                quirk);
    return FALSE;
  }
  return TRUE;
}

static void at_finalize(ModemSim *ms)
{
  AtSim *sim = modem_sim_get_protocol_data(ms);

  g_free(sim);
  modem_sim_set_protocol_data(ms, NULL);
}

const ModemSimProtocolOps modem_sim_at_ops = {
    .feed = at_feed,
    .set_option = at_set_option,
    .finalize = at_finalize,
};
