/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "transport/iso7816.h"

#include <string.h>

/* The macro stringifies its first argument: keep it as one word. */
/* clang-format off */
G_DEFINE_QUARK(iso7816-error-quark, iso7816_error)
G_DEFINE_QUARK(iso7816-status-error-quark, iso7816_status_error)
/* clang-format on */

#define INS_MANAGE_CHANNEL 0x70
#define INS_SELECT 0xA4
#define INS_GET_RESPONSE 0xC0
#define INS_STORE_DATA 0xE2

/* SGP.22 5.7.2: P1 of STORE DATA, "more blocks" and "last block". */
#define STORE_DATA_P1_MORE 0x11
#define STORE_DATA_P1_LAST 0x91

/*
 * A card that keeps answering 6Cxx to a command re-issued with the Le it asked
 * for is broken; give up instead of looping.
 */
#define MAX_REISSUES 3

void iso7816_response_free(Iso7816Response *response)
{
  if (!response)
    return;
  g_bytes_unref(response->data);
  g_free(response);
}

gboolean iso7816_sw_is_success(guint16 sw)
{
  return sw == ISO7816_SW_OK || (sw >> 8) == 0x91;
}

const char *iso7816_sw_to_string(guint16 sw)
{
  switch (sw >> 8) {
  case 0x90:
    return sw == 0x9000 ? "success" : "unknown status";
  case 0x91:
    return "success, proactive command pending";
  case 0x61:
    return "more response data available";
  case 0x62:
    return "warning, state unchanged";
  case 0x63:
    return "warning, state changed";
  case 0x6C:
    return "wrong Le";
  default:
    break;
  }
  switch (sw) {
  case 0x6581:
    return "memory problem";
  case 0x6700:
    return "wrong length";
  case 0x6881:
    return "logical channel not supported";
  case 0x6882:
    return "secure messaging not supported";
  case 0x6982:
    return "security status not satisfied";
  case 0x6985:
    return "conditions of use not satisfied";
  case 0x6A80:
    return "incorrect data";
  case 0x6A81:
    return "function not supported";
  case 0x6A82:
    return "file or application not found";
  case 0x6A84:
    return "not enough memory";
  case 0x6A86:
    return "incorrect P1 P2";
  case 0x6A88:
    return "referenced data not found";
  case 0x6D00:
    return "instruction not supported";
  case 0x6E00:
    return "class not supported";
  case 0x6F00:
    return "no precise diagnosis";
  default:
    return "unknown status";
  }
}

gboolean iso7816_cla_for_channel(guint channel, Iso7816ClaClass cla_class, guint8 *cla,
                                 GError **error)
{
  gboolean proprietary = cla_class == ISO7816_CLA_PROPRIETARY;

  if (channel > ISO7816_MAX_CHANNEL) {
    g_set_error(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT,
                "Logical channel %u does not exist (0 to %u)", channel, ISO7816_MAX_CHANNEL);
    return FALSE;
  }
  /*
   * ISO 7816-4 5.4.1: channels 0-3 use the first interindustry CLA (b1-b2
   * name the channel), channels 4-19 the further interindustry CLA (b7 set,
   * b1-b4 name channel - 4). b8 set marks the proprietary class that
   * GlobalPlatform commands use (GP Card Specification 11.1.4).
   */
  if (channel <= 3)
    *cla = (guint8)((proprietary ? 0x80 : 0x00) | channel);
  else
    *cla = (guint8)((proprietary ? 0xC0 : 0x40) | (channel - 4));
  return TRUE;
}

guint iso7816_cla_get_channel(guint8 cla)
{
  if (cla & 0x40)
    return 4 + (cla & 0x0F);
  return cla & 0x03;
}

GBytes *iso7816_apdu_build(guint8 cla, guint8 ins, guint8 p1, guint8 p2, const guint8 *data,
                           gsize data_len, guint le, GError **error)
{
  GByteArray *apdu;
  guint8 header[4] = {cla, ins, p1, p2};

  if (data_len > ISO7816_MAX_LC) {
    g_set_error(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT,
                "%zu bytes of command data do not fit a short APDU (at most %u)", data_len,
                ISO7816_MAX_LC);
    return NULL;
  }
  if (le > ISO7816_LE_MAX) {
    g_set_error(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT,
                "Le %u does not fit a short APDU (at most %u)", le, ISO7816_LE_MAX);
    return NULL;
  }

  apdu = g_byte_array_sized_new(4 + 1 + data_len + 1);
  g_byte_array_append(apdu, header, sizeof header);
  if (data_len > 0) {
    guint8 lc = (guint8)data_len;
    g_byte_array_append(apdu, &lc, 1);
    g_byte_array_append(apdu, data, (guint)data_len);
  }
  if (le != ISO7816_LE_NONE) {
    guint8 le_byte = (guint8)(le == ISO7816_LE_MAX ? 0 : le);
    g_byte_array_append(apdu, &le_byte, 1);
  }
  return g_byte_array_free_to_bytes(apdu);
}

/* ---- commands ---- */

typedef struct {
  guint8 cla, ins, p1, p2;
  GBytes *data; /* NULL for cases 1 and 2 */
  guint le;     /* ISO7816_LE_NONE or 1..256 */
} Command;

static void command_clear(Command *cmd)
{
  g_clear_pointer(&cmd->data, g_bytes_unref);
  memset(cmd, 0, sizeof *cmd);
}

static void command_copy(Command *dst, const Command *src)
{
  command_clear(dst);
  *dst = *src;
  if (src->data)
    dst->data = g_bytes_ref(src->data);
}

static GBytes *command_encode(const Command *cmd)
{
  gsize len = 0;
  const guint8 *data = cmd->data ? g_bytes_get_data(cmd->data, &len) : NULL;
  g_autoptr(GError) error = NULL;
  GBytes *apdu =
      iso7816_apdu_build(cmd->cla, cmd->ins, cmd->p1, cmd->p2, data, len, cmd->le, &error);

  /* Every command was checked when it was made. */
  g_assert_no_error(error);
  return apdu;
}

/*
 * Reads a short command APDU (ISO 7816-4 5.1): the length alone tells the
 * case. Extended lengths (a 00 byte followed by two length bytes) are refused:
 * the modems' APDU pipes do not carry them.
 */
static gboolean command_parse(GBytes *apdu, Command *cmd, GError **error)
{
  gsize len;
  const guint8 *b = g_bytes_get_data(apdu, &len);

  memset(cmd, 0, sizeof *cmd);
  if (len < 4) {
    g_set_error(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT,
                "A command APDU needs at least 4 bytes, not %zu", len);
    return FALSE;
  }
  cmd->cla = b[0];
  cmd->ins = b[1];
  cmd->p1 = b[2];
  cmd->p2 = b[3];
  if (len == 4)
    return TRUE;
  if (len == 5) {
    cmd->le = b[4] ? b[4] : ISO7816_LE_MAX;
    return TRUE;
  }
  if (b[4] != 0 && (len == 5u + b[4] || len == 6u + b[4])) {
    cmd->data = g_bytes_new_from_bytes(apdu, 5, b[4]);
    if (len == 6u + b[4])
      cmd->le = b[len - 1] ? b[len - 1] : ISO7816_LE_MAX;
    return TRUE;
  }
  g_set_error(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT,
              "The command APDU (%zu bytes) is no short APDU of case 1 to 4", len);
  return FALSE;
}

/* ---- the exchange ---- */

typedef enum {
  KIND_TRANSMIT,
  KIND_STORE_DATA,
  KIND_OPEN_CHANNEL,
  KIND_CLOSE_CHANNEL,
} ExchangeKind;

typedef enum {
  OPEN_STEP_MANAGE_CHANNEL,
  OPEN_STEP_SELECT,
  OPEN_STEP_CLOSE_AFTER_FAILURE,
} OpenStep;

struct _Iso7816Exchange {
  ExchangeKind kind;
  gsize max_response;
  guint segment_size;

  /* The command under way: as asked for, and as last handed out (the
   * original, a re-issue with another Le, or a GET RESPONSE). */
  guint channel;
  Command command;
  Command sent;
  gboolean awaiting_response;
  GByteArray *data;
  guint reissues;
  guint command_count;

  /* STORE DATA */
  GBytes *request;
  gsize offset;
  guint block;

  /* open channel */
  OpenStep open_step;
  GBytes *aid;
  guint opened_channel;
  GError *select_error; /* kept while the channel is closed again */

  gboolean finished;
  GError *error;
  Iso7816Response *response;
};

static Iso7816Exchange *exchange_new(ExchangeKind kind, const Iso7816Limits *limits, GError **error)
{
  Iso7816Exchange *ex;
  guint segment_size =
      limits && limits->segment_size ? limits->segment_size : ISO7816_SEGMENT_DEFAULT;
  gsize max_response =
      limits && limits->max_response ? limits->max_response : ISO7816_MAX_RESPONSE_DEFAULT;

  if (segment_size < ISO7816_SEGMENT_MIN || segment_size > ISO7816_MAX_LC) {
    g_set_error(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT,
                "STORE DATA segment size %u is outside %u..%u", segment_size, ISO7816_SEGMENT_MIN,
                ISO7816_MAX_LC);
    return NULL;
  }
  ex = g_new0(Iso7816Exchange, 1);
  ex->kind = kind;
  ex->segment_size = segment_size;
  ex->max_response = max_response;
  ex->data = g_byte_array_new();
  return ex;
}

void iso7816_exchange_free(Iso7816Exchange *ex)
{
  if (!ex)
    return;
  command_clear(&ex->command);
  command_clear(&ex->sent);
  g_byte_array_unref(ex->data);
  g_clear_pointer(&ex->request, g_bytes_unref);
  g_clear_pointer(&ex->aid, g_bytes_unref);
  g_clear_error(&ex->select_error);
  g_clear_error(&ex->error);
  iso7816_response_free(ex->response);
  g_free(ex);
}

/* Makes cmd (whose data is taken) the next command to send. */
static void exchange_start_command(Iso7816Exchange *ex, guint channel, Command *cmd)
{
  ex->channel = channel;
  command_clear(&ex->command);
  ex->command = *cmd;
  memset(cmd, 0, sizeof *cmd);
  command_copy(&ex->sent, &ex->command);
  g_byte_array_set_size(ex->data, 0);
  ex->reissues = 0;
}

static void exchange_finish_response(Iso7816Exchange *ex, guint16 sw)
{
  ex->response = g_new0(Iso7816Response, 1);
  ex->response->sw = sw;
  ex->response->data = g_bytes_new(ex->data->data, ex->data->len);
  ex->finished = TRUE;
}

static void exchange_fail(Iso7816Exchange *ex, GError *error)
{
  g_clear_error(&ex->error);
  ex->error = error;
  ex->finished = TRUE;
}

static GError *status_error_new(guint16 sw, const char *what)
{
  return g_error_new(ISO7816_STATUS_ERROR, sw, "The card refused %s: SW %04X (%s)", what, sw,
                     iso7816_sw_to_string(sw));
}

static void store_data_start_block(Iso7816Exchange *ex)
{
  gsize total = g_bytes_get_size(ex->request);
  gsize len = MIN((gsize)ex->segment_size, total - ex->offset);
  gboolean last = ex->offset + len == total;
  Command cmd = {
      .ins = INS_STORE_DATA,
      .p1 = last ? STORE_DATA_P1_LAST : STORE_DATA_P1_MORE,
      .p2 = (guint8)ex->block,
      .data = g_bytes_new_from_bytes(ex->request, ex->offset, len),
      /* SGP.22 5.7.2: Le = 00 on every block. */
      .le = ISO7816_LE_MAX,
  };

  iso7816_cla_for_channel(ex->channel, ISO7816_CLA_PROPRIETARY, &cmd.cla, NULL);
  ex->offset += len;
  ex->block++;
  exchange_start_command(ex, ex->channel, &cmd);
}

static void open_channel_start_select(Iso7816Exchange *ex)
{
  Command cmd = {
      .ins = INS_SELECT,
      .p1 = 0x04, /* select by DF name (AID) */
      /* GP Card Specification 11.9.2: first or only occurrence, FCI back. */
      .p2 = 0x00,
      .data = g_bytes_ref(ex->aid),
      .le = ISO7816_LE_MAX,
  };

  iso7816_cla_for_channel(ex->opened_channel, ISO7816_CLA_INTERINDUSTRY, &cmd.cla, NULL);
  exchange_start_command(ex, ex->opened_channel, &cmd);
}

static void manage_channel_start_close(Iso7816Exchange *ex, guint channel)
{
  /*
   * ISO 7816-4 11.1.2 / TS 102 221 11.1.17: P1 80 closes the channel named
   * in P2. It is sent on the basic channel, where the open was, so that it
   * works even when the channel's own state is in doubt.
   */
  Command cmd = {
      .cla = 0x00,
      .ins = INS_MANAGE_CHANNEL,
      .p1 = 0x80,
      .p2 = (guint8)channel,
      .le = ISO7816_LE_NONE,
  };

  exchange_start_command(ex, 0, &cmd);
}

static void open_channel_done(Iso7816Exchange *ex, guint16 sw)
{
  switch (ex->open_step) {
  case OPEN_STEP_MANAGE_CHANNEL:
    if (sw != ISO7816_SW_OK) {
      exchange_fail(ex, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_CHANNEL_REFUSED,
                                    "The card opened no logical channel: SW %04X (%s)", sw,
                                    iso7816_sw_to_string(sw)));
      return;
    }
    /* ISO 7816-4 11.1.2: the card answers the number of the channel it opened. */
    if (ex->data->len != 1 || ex->data->data[0] == 0 || ex->data->data[0] > ISO7816_MAX_CHANNEL) {
      exchange_fail(ex, g_error_new(ISO7816_ERROR, ISO7816_ERROR_PROTOCOL,
                                    "MANAGE CHANNEL answered %u bytes, not one channel number",
                                    ex->data->len));
      return;
    }
    ex->opened_channel = ex->data->data[0];
    ex->open_step = OPEN_STEP_SELECT;
    open_channel_start_select(ex);
    return;
  case OPEN_STEP_SELECT:
    if (iso7816_sw_is_success(sw)) {
      exchange_finish_response(ex, sw);
      return;
    }
    if (sw == 0x6A82)
      ex->select_error = g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_AID_NOT_FOUND,
                                     "The card has no application with that AID (SW 6A82)");
    else
      ex->select_error = status_error_new(sw, "to select the application");
    ex->open_step = OPEN_STEP_CLOSE_AFTER_FAILURE;
    manage_channel_start_close(ex, ex->opened_channel);
    return;
  case OPEN_STEP_CLOSE_AFTER_FAILURE:
    if (sw != ISO7816_SW_OK)
      g_debug("Closing channel %u after a failed SELECT: SW %04X", ex->opened_channel, sw);
    ex->opened_channel = 0;
    exchange_fail(ex, g_steal_pointer(&ex->select_error));
    return;
  }
}

/* The command under way ended with a final status word. */
static void exchange_command_done(Iso7816Exchange *ex, guint16 sw)
{
  switch (ex->kind) {
  case KIND_TRANSMIT:
    exchange_finish_response(ex, sw);
    return;
  case KIND_STORE_DATA:
    if (!iso7816_sw_is_success(sw)) {
      exchange_finish_response(ex, sw);
      exchange_fail(ex, status_error_new(sw, "the ES10 request"));
      return;
    }
    if (ex->offset < g_bytes_get_size(ex->request)) {
      /* SGP.22 5.7.2: only the last block has a response. */
      if (ex->data->len > 0)
        g_debug("Dropping %u bytes the card answered to STORE DATA block %u", ex->data->len,
                ex->block - 1);
      store_data_start_block(ex);
      return;
    }
    exchange_finish_response(ex, sw);
    return;
  case KIND_OPEN_CHANNEL:
    open_channel_done(ex, sw);
    return;
  case KIND_CLOSE_CHANNEL:
    if (sw != ISO7816_SW_OK) {
      exchange_fail(ex, status_error_new(sw, "to close the logical channel"));
      return;
    }
    exchange_finish_response(ex, sw);
    return;
  }
}

Iso7816Exchange *iso7816_exchange_new_transmit(guint channel, GBytes *apdu,
                                               const Iso7816Limits *limits, GError **error)
{
  g_autoptr(Iso7816Exchange) ex = NULL;
  Command cmd;

  g_return_val_if_fail(apdu != NULL, NULL);
  if (channel > ISO7816_MAX_CHANNEL) {
    g_set_error(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT,
                "Logical channel %u does not exist (0 to %u)", channel, ISO7816_MAX_CHANNEL);
    return NULL;
  }
  ex = exchange_new(KIND_TRANSMIT, limits, error);
  if (!ex)
    return NULL;
  if (!command_parse(apdu, &cmd, error))
    return NULL;
  exchange_start_command(ex, channel, &cmd);
  return g_steal_pointer(&ex);
}

Iso7816Exchange *iso7816_exchange_new_store_data(guint channel, GBytes *request,
                                                 const Iso7816Limits *limits, GError **error)
{
  g_autoptr(Iso7816Exchange) ex = NULL;
  gsize total;
  guint8 cla;

  g_return_val_if_fail(request != NULL, NULL);
  if (!iso7816_cla_for_channel(channel, ISO7816_CLA_PROPRIETARY, &cla, error))
    return NULL;
  ex = exchange_new(KIND_STORE_DATA, limits, error);
  if (!ex)
    return NULL;
  total = g_bytes_get_size(request);
  /* P2 numbers the blocks in one byte: at most 256 of them. */
  if (total == 0 || (total + ex->segment_size - 1) / ex->segment_size > 256) {
    g_set_error(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT,
                "An ES10 request of %zu bytes does not fit 1 to 256 STORE DATA blocks of %u", total,
                ex->segment_size);
    return NULL;
  }
  ex->channel = channel;
  ex->request = g_bytes_ref(request);
  store_data_start_block(ex);
  return g_steal_pointer(&ex);
}

Iso7816Exchange *iso7816_exchange_new_open_channel(GBytes *aid, const Iso7816Limits *limits,
                                                   GError **error)
{
  g_autoptr(Iso7816Exchange) ex = NULL;
  gsize aid_len;
  Command cmd = {
      .cla = 0x00,
      .ins = INS_MANAGE_CHANNEL,
      .p1 = 0x00, /* open */
      .p2 = 0x00, /* the card picks the channel */
      .le = 1,
  };

  g_return_val_if_fail(aid != NULL, NULL);
  /* ISO 7816-4 8.2.1.2: an AID is 5 to 16 bytes. */
  aid_len = g_bytes_get_size(aid);
  if (aid_len < 5 || aid_len > 16) {
    g_set_error(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT,
                "An AID has 5 to 16 bytes, not %zu", aid_len);
    return NULL;
  }
  ex = exchange_new(KIND_OPEN_CHANNEL, limits, error);
  if (!ex)
    return NULL;
  ex->aid = g_bytes_ref(aid);
  ex->open_step = OPEN_STEP_MANAGE_CHANNEL;
  exchange_start_command(ex, 0, &cmd);
  return g_steal_pointer(&ex);
}

Iso7816Exchange *iso7816_exchange_new_close_channel(guint channel, GError **error)
{
  Iso7816Exchange *ex;

  if (channel == 0 || channel > ISO7816_MAX_CHANNEL) {
    g_set_error(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT,
                "Logical channel %u cannot be closed (1 to %u)", channel, ISO7816_MAX_CHANNEL);
    return NULL;
  }
  ex = exchange_new(KIND_CLOSE_CHANNEL, NULL, error);
  manage_channel_start_close(ex, channel);
  return ex;
}

GBytes *iso7816_exchange_next(Iso7816Exchange *ex, guint *channel)
{
  g_return_val_if_fail(ex != NULL, NULL);
  g_return_val_if_fail(!ex->awaiting_response, NULL);

  if (ex->finished)
    return NULL;
  ex->awaiting_response = TRUE;
  ex->command_count++;
  if (channel)
    *channel = ex->channel;
  return command_encode(&ex->sent);
}

void iso7816_exchange_feed(Iso7816Exchange *ex, GBytes *response)
{
  gsize len;
  const guint8 *b;
  guint8 sw1, sw2;
  gsize data_len;

  g_return_if_fail(ex != NULL && response != NULL);
  g_return_if_fail(ex->awaiting_response);
  ex->awaiting_response = FALSE;

  b = g_bytes_get_data(response, &len);
  if (len < 2) {
    exchange_fail(ex, g_error_new(ISO7816_ERROR, ISO7816_ERROR_MALFORMED_RESPONSE,
                                  "The card answered %zu bytes, too short for a status word", len));
    return;
  }
  sw1 = b[len - 2];
  sw2 = b[len - 1];
  data_len = len - 2;

  /* ISO 7816-4 5.1.3: 6Cxx, wrong Le; send the same command again with Le xx. */
  if (sw1 == 0x6C) {
    if (++ex->reissues > MAX_REISSUES) {
      exchange_fail(ex, g_error_new(ISO7816_ERROR, ISO7816_ERROR_PROTOCOL,
                                    "The card answered 6Cxx %u times in a row", ex->reissues));
      return;
    }
    ex->sent.le = sw2 ? sw2 : ISO7816_LE_MAX;
    return;
  }
  ex->reissues = 0;

  if (data_len > ex->max_response - MIN(ex->max_response, (gsize)ex->data->len)) {
    exchange_fail(ex, g_error_new(ISO7816_ERROR, ISO7816_ERROR_RESPONSE_TOO_LARGE,
                                  "The card's response passed the limit of %zu bytes",
                                  ex->max_response));
    return;
  }
  g_byte_array_append(ex->data, b, (guint)data_len);

  /* ISO 7816-4 5.1.3 / TS 102 221 7.3.1.1.4: 61xx, xx more bytes (00: 256)
   * wait for a GET RESPONSE on the same channel. */
  if (sw1 == 0x61) {
    Command get_response = {
        .ins = INS_GET_RESPONSE,
        .le = sw2 ? sw2 : ISO7816_LE_MAX,
    };

    /* A GET RESPONSE that brings nothing and asks for another would loop. */
    if (ex->sent.ins == INS_GET_RESPONSE && data_len == 0) {
      exchange_fail(ex, g_error_new(ISO7816_ERROR, ISO7816_ERROR_PROTOCOL,
                                    "GET RESPONSE brought no data but announced more"));
      return;
    }
    iso7816_cla_for_channel(ex->channel, ISO7816_CLA_INTERINDUSTRY, &get_response.cla, NULL);
    command_copy(&ex->sent, &get_response);
    return;
  }

  /* TS 102 221 10.2.1.1: 91xx is a normal ending; the card also has a
   * proactive command of xx bytes for the terminal (the modem fetches it). */
  if (sw1 == 0x91)
    g_info("The card has a proactive command pending (SW 91%02X)", sw2);

  exchange_command_done(ex, (guint16)(sw1 << 8 | sw2));
}

void iso7816_exchange_abort(Iso7816Exchange *ex, GError *error)
{
  g_return_if_fail(ex != NULL && error != NULL);
  ex->awaiting_response = FALSE;
  if (ex->finished) {
    g_error_free(error);
    return;
  }
  exchange_fail(ex, error);
}

gboolean iso7816_exchange_is_finished(Iso7816Exchange *ex)
{
  return ex->finished;
}

guint iso7816_exchange_get_command_count(Iso7816Exchange *ex)
{
  return ex->command_count;
}

gboolean iso7816_exchange_get_result(Iso7816Exchange *ex, GError **error)
{
  g_return_val_if_fail(ex != NULL, FALSE);
  if (!ex->finished) {
    g_set_error(error, ISO7816_ERROR, ISO7816_ERROR_PROTOCOL, "The exchange is not finished");
    return FALSE;
  }
  if (ex->error) {
    g_propagate_error(error, g_error_copy(ex->error));
    return FALSE;
  }
  return TRUE;
}

Iso7816Response *iso7816_exchange_steal_response(Iso7816Exchange *ex)
{
  return g_steal_pointer(&ex->response);
}

guint iso7816_exchange_get_channel(Iso7816Exchange *ex)
{
  return ex->opened_channel;
}

/* ---- the synchronous driver ---- */

gboolean iso7816_exchange_run_sync(Iso7816Exchange *ex, Iso7816TransmitFunc transmit,
                                   gpointer user_data, GError **error)
{
  GBytes *command;

  while ((command = iso7816_exchange_next(ex, NULL))) {
    GError *local = NULL;
    GBytes *response = transmit(user_data, command, &local);

    g_bytes_unref(command);
    if (!response) {
      if (!local)
        local = g_error_new(ISO7816_ERROR, ISO7816_ERROR_NO_RESPONSE, "The card gave no response");
      iso7816_exchange_abort(ex, local);
      break;
    }
    iso7816_exchange_feed(ex, response);
    g_bytes_unref(response);
  }
  return iso7816_exchange_get_result(ex, error);
}

Iso7816Response *iso7816_transmit_sync(Iso7816TransmitFunc transmit, gpointer user_data,
                                       guint channel, GBytes *apdu, const Iso7816Limits *limits,
                                       GError **error)
{
  g_autoptr(Iso7816Exchange) ex = iso7816_exchange_new_transmit(channel, apdu, limits, error);

  if (!ex || !iso7816_exchange_run_sync(ex, transmit, user_data, error))
    return NULL;
  return iso7816_exchange_steal_response(ex);
}

static GBytes *response_steal_data(Iso7816Response *response)
{
  GBytes *data = g_steal_pointer(&response->data);

  iso7816_response_free(response);
  return data;
}

GBytes *iso7816_store_data_sync(Iso7816TransmitFunc transmit, gpointer user_data, guint channel,
                                GBytes *request, const Iso7816Limits *limits, GError **error)
{
  g_autoptr(Iso7816Exchange) ex = iso7816_exchange_new_store_data(channel, request, limits, error);

  if (!ex || !iso7816_exchange_run_sync(ex, transmit, user_data, error))
    return NULL;
  return response_steal_data(iso7816_exchange_steal_response(ex));
}

guint iso7816_open_channel_sync(Iso7816TransmitFunc transmit, gpointer user_data, GBytes *aid,
                                GError **error)
{
  g_autoptr(Iso7816Exchange) ex = iso7816_exchange_new_open_channel(aid, NULL, error);

  if (!ex || !iso7816_exchange_run_sync(ex, transmit, user_data, error))
    return 0;
  return iso7816_exchange_get_channel(ex);
}

gboolean iso7816_close_channel_sync(Iso7816TransmitFunc transmit, gpointer user_data, guint channel,
                                    GError **error)
{
  g_autoptr(Iso7816Exchange) ex = iso7816_exchange_new_close_channel(channel, error);

  return ex && iso7816_exchange_run_sync(ex, transmit, user_data, error);
}

/* ---- the asynchronous driver ---- */

/* Source tags: data addresses, since ISO C does not let a function pointer
 * pass as gpointer. */
static const char tag_run;
static const char tag_transmit;
static const char tag_store_data;
static const char tag_open_channel;
static const char tag_close_channel;

typedef struct {
  Iso7816Exchange *ex;
  Transport *transport;
  guint slot;
} RunContext;

static void run_context_free(RunContext *ctx)
{
  iso7816_exchange_free(ctx->ex);
  g_free(ctx);
}

static void run_step(GTask *task);

static void run_transmit_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  RunContext *ctx = g_task_get_task_data(task);
  GError *error = NULL;
  GBytes *response = transport_transmit_finish(ctx->transport, res, &error);

  if (!response) {
    g_task_return_error(task, error);
    g_object_unref(task);
    return;
  }
  iso7816_exchange_feed(ctx->ex, response);
  g_bytes_unref(response);
  run_step(task);
}

/* One command out per turn; the exchange decides what, and when it is over. */
static void run_step(GTask *task)
{
  RunContext *ctx = g_task_get_task_data(task);
  g_autoptr(GBytes) command = NULL;
  guint channel = 0;

  if (g_task_return_error_if_cancelled(task)) {
    g_object_unref(task);
    return;
  }
  command = iso7816_exchange_next(ctx->ex, &channel);
  if (!command) {
    g_task_return_pointer(task, g_steal_pointer(&ctx->ex), (GDestroyNotify)iso7816_exchange_free);
    g_object_unref(task);
    return;
  }
  transport_transmit(ctx->transport, ctx->slot, channel, command, g_task_get_cancellable(task),
                     run_transmit_ready, task);
}

static void run_async_tagged(Iso7816Exchange *ex, Transport *t, guint slot,
                             GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data,
                             gconstpointer tag)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);
  RunContext *ctx = g_new0(RunContext, 1);

  g_task_set_source_tag(task, (gpointer)tag);
  ctx->ex = ex;
  ctx->transport = t;
  ctx->slot = slot;
  g_task_set_task_data(task, ctx, (GDestroyNotify)run_context_free);
  run_step(task);
}

void iso7816_exchange_run_async(Iso7816Exchange *ex, Transport *t, guint slot,
                                GCancellable *cancellable, GAsyncReadyCallback cb,
                                gpointer user_data)
{
  run_async_tagged(ex, t, slot, cancellable, cb, user_data, &tag_run);
}

/* The finished exchange of a task started with the tag, or NULL with *error set. */
static Iso7816Exchange *run_finish_tagged(GAsyncResult *res, gconstpointer tag, GError **error)
{
  g_autoptr(Iso7816Exchange) ex = NULL;

  g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)tag), NULL);
  ex = g_task_propagate_pointer(G_TASK(res), error);
  if (!ex || !iso7816_exchange_get_result(ex, error))
    return NULL;
  return g_steal_pointer(&ex);
}

Iso7816Exchange *iso7816_exchange_run_finish(GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(res, NULL), NULL);
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)&tag_run), NULL);
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* Starts the exchange, or reports the error that kept it from being made. */
static void start_or_report(Iso7816Exchange *ex, GError *error, Transport *t, guint slot,
                            GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data,
                            gconstpointer tag)
{
  if (!ex) {
    g_task_report_error(NULL, cb, user_data, (gpointer)tag, error);
    return;
  }
  run_async_tagged(ex, t, slot, cancellable, cb, user_data, tag);
}

void iso7816_transmit_async(Transport *t, guint slot, guint channel, GBytes *apdu,
                            const Iso7816Limits *limits, GCancellable *cancellable,
                            GAsyncReadyCallback cb, gpointer user_data)
{
  GError *error = NULL;
  Iso7816Exchange *ex = iso7816_exchange_new_transmit(channel, apdu, limits, &error);

  start_or_report(ex, error, t, slot, cancellable, cb, user_data, &tag_transmit);
}

Iso7816Response *iso7816_transmit_finish(GAsyncResult *res, GError **error)
{
  g_autoptr(Iso7816Exchange) ex = run_finish_tagged(res, &tag_transmit, error);

  return ex ? iso7816_exchange_steal_response(ex) : NULL;
}

void iso7816_store_data_async(Transport *t, guint slot, guint channel, GBytes *request,
                              const Iso7816Limits *limits, GCancellable *cancellable,
                              GAsyncReadyCallback cb, gpointer user_data)
{
  GError *error = NULL;
  Iso7816Exchange *ex = iso7816_exchange_new_store_data(channel, request, limits, &error);

  start_or_report(ex, error, t, slot, cancellable, cb, user_data, &tag_store_data);
}

GBytes *iso7816_store_data_finish(GAsyncResult *res, GError **error)
{
  g_autoptr(Iso7816Exchange) ex = run_finish_tagged(res, &tag_store_data, error);

  return ex ? response_steal_data(iso7816_exchange_steal_response(ex)) : NULL;
}

void iso7816_open_channel_async(Transport *t, guint slot, GBytes *aid, GCancellable *cancellable,
                                GAsyncReadyCallback cb, gpointer user_data)
{
  GError *error = NULL;
  Iso7816Exchange *ex = iso7816_exchange_new_open_channel(aid, NULL, &error);

  start_or_report(ex, error, t, slot, cancellable, cb, user_data, &tag_open_channel);
}

guint iso7816_open_channel_finish(GAsyncResult *res, GError **error)
{
  g_autoptr(Iso7816Exchange) ex = run_finish_tagged(res, &tag_open_channel, error);

  return ex ? iso7816_exchange_get_channel(ex) : 0;
}

void iso7816_close_channel_async(Transport *t, guint slot, guint channel, GCancellable *cancellable,
                                 GAsyncReadyCallback cb, gpointer user_data)
{
  GError *error = NULL;
  Iso7816Exchange *ex = iso7816_exchange_new_close_channel(channel, &error);

  start_or_report(ex, error, t, slot, cancellable, cb, user_data, &tag_close_channel);
}

gboolean iso7816_close_channel_finish(GAsyncResult *res, GError **error)
{
  g_autoptr(Iso7816Exchange) ex = run_finish_tagged(res, &tag_close_channel, error);

  return ex != NULL;
}
