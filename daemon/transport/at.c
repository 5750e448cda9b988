/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The AT command backend: APDUs to the UICC through a modem's serial AT port,
 * with the commands of 3GPP TS 27.007: +CCHO (8.45), +CCHC (8.46), +CGLA
 * (8.43) for logical channels, and +CSIM (8.17) as the fallback for modems
 * that lack them.
 *
 * Two layers in this file:
 * - the command queue: one command in flight, the rest waiting in FIFO
 *   order; a response is the info lines that carry the command's prefix, up
 *   to a final result (OK, ERROR, +CME ERROR, +CMS ERROR). Echo, blank lines
 *   and unsolicited result codes may come anywhere and are dropped.
 * - the TransportOps: open, list_slots, open_channel, transmit,
 *   close_channel and close, each a small step machine over that queue.
 *
 * Modem quirks this handles (each seen on shipping modems):
 * - +CCHO answered as "+CCHO: 1", "+CCHO:1" or a bare "1";
 * - "AT+CCHO=?" rejected while AT+CCHO works: support is probed by trying
 *   the real command, never the test form;
 * - no +CCHO/+CGLA/+CCHC at all: MANAGE CHANNEL and SELECT go through +CSIM
 *   on the basic channel, later APDUs carry the channel in their CLA;
 * - errors as "+CME ERROR: <n>" or "+CME ERROR: <text>" instead of ERROR;
 * - a late answer to a command that timed out: before the next command the
 *   queue resynchronises with a command whose answer it can recognise.
 *
 * Opening costs ATE0, AT+CMEE=1, AT+CMEE? (which also tells whether the
 * resync can be tagged), then closes channels a crashed earlier run left
 * open: AT+CCHC=1..AT_STALE_CHANNELS, or, when the first +CCHC answers
 * ERROR / +CME ERROR 4, MANAGE CHANNEL close of the same channels through
 * +CSIM. That is 7 commands on a modem with +CCHC, 8 without.
 *
 * Callbacks run from inside the port's input handler: a caller must not
 * free the transport from one of them (close it, or free it from an idle).
 *
 * reload_sim is not offered: AT+CFUN cycles differ per vendor (some need
 * CFUN=0, some reset the whole modem) and ModemManager re-reads the SIM when
 * esimd lifts its inhibition, which is the supported path. switch_slot is not
 * offered either: 27.007 has no slot selection.
 */
#include "transport/transport.h"
#include "transport/iso7816.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define AT_DEFAULT_BAUDRATE 115200
#define AT_DEFAULT_TIMEOUT_MS 10000
/* An answer line longer than this is garbage: +CGLA of a 256-byte response
 * is about 530 characters. */
#define AT_MAX_LINE (16 * 1024)
/*
 * Channels closed when the port is opened, in case an earlier run crashed
 * and left them open (the card keeps them until it is reset). Cards assign
 * the lowest free channel, so a crashed client's channels are the low ones;
 * most eUICCs offer 3 or 4. Cost: AT_STALE_CHANNELS commands per open, one
 * more on a modem without +CCHC.
 */
#define AT_STALE_CHANNELS 4
/* How long the open waits for AT+CMEE? before doing without it. */
#define AT_RESYNC_PROBE_TIMEOUT_MS 3000
/* 27.007 +CME ERROR 4, "operation not supported". */
#define AT_CME_NOT_SUPPORTED 4

typedef enum {
  AT_SUPPORT_UNKNOWN,
  AT_SUPPORT_YES,
  AT_SUPPORT_NO,
} AtSupport;

typedef enum {
  AT_CHANNEL_CLOSED,
  AT_CHANNEL_CCHO, /* opened with +CCHO: APDUs go through +CGLA */
  AT_CHANNEL_CSIM, /* opened with MANAGE CHANNEL through +CSIM */
} AtChannelMode;

typedef struct {
  AtChannelMode mode;
  guint session; /* the +CCHO session id, which +CGLA and +CCHC take */
} AtChannel;

/* The finish of every operation whose answer is success or a GError. */
static gboolean finish_boolean(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---- one AT command and its response ---- */

typedef enum {
  AT_FINAL_OK,
  AT_FINAL_ERROR,
  AT_FINAL_CME_ERROR,
  AT_FINAL_CMS_ERROR,
} AtFinal;

typedef struct {
  AtFinal final;
  gint code;        /* +CME/+CMS code; -1 for ERROR or a verbose error */
  gchar *text;      /* what followed "+CME ERROR: ", NULL otherwise */
  GPtrArray *lines; /* info lines with the command's prefix */
} AtResponse;

static void at_response_free(AtResponse *r)
{
  if (!r)
    return;
  g_free(r->text);
  g_ptr_array_unref(r->lines);
  g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AtResponse, at_response_free)

typedef enum {
  AT_COMMAND_FLAGS_NONE = 0,
  /* A line of digits alone also answers (+CCHO without its prefix). */
  AT_COMMAND_FLAGS_BARE_NUMBER = 1 << 0,
  /* Final results before the first info line are stale, from a command that
   * timed out earlier: the resync command uses this. */
  AT_COMMAND_FLAGS_TAGGED = 1 << 1,
} AtCommandFlags;

typedef struct _AtTransport AtTransport;

typedef struct {
  AtTransport *self;
  gchar *line; /* as sent, without the CR */
  const char *prefix;
  AtCommandFlags flags;
  AtResponse *response;
  gboolean seen_info;
  guint timeout_ms; /* 0: the transport's */
  GTask *task;      /* NULL for the internal resync command */
  GSource *cancel_source;
} AtCommand;

struct _AtTransport {
  Transport parent;
  guint baudrate;
  int fd;
  GMainContext *context;
  GSource *read_source;
  GSource *write_source;
  GSource *timeout_source;
  GByteArray *rx; /* bytes of a line not ended yet */
  GByteArray *tx; /* bytes the port did not take yet */
  GQueue queue;   /* AtCommand waiting to be sent */
  AtCommand *current;
  /* A command timed out or was cancelled: its answer may still come. */
  gboolean need_resync;
  /* AT+CMEE? answers "+CMEE: <n>": a reply we can tell from a stale one. */
  gboolean resync_tagged;
  AtSupport ccho;
  AtSupport csim;
  AtChannel channels[ISO7816_MAX_CHANNEL + 1];
};

static const char at_tag_command;
static const char at_tag_open;
static const char at_tag_list_slots;
static const char at_tag_open_channel;
static const char at_tag_transmit;
static const char at_tag_close_channel;
static const char at_tag_close;

static void at_send_next(AtTransport *self);
static void at_port_gone(AtTransport *self, const char *why);

static void at_command_free(AtCommand *cmd)
{
  if (cmd->cancel_source) {
    g_source_destroy(cmd->cancel_source);
    g_source_unref(cmd->cancel_source);
  }
  g_clear_object(&cmd->task);
  at_response_free(cmd->response);
  g_free(cmd->line);
  g_free(cmd);
}

static void destroy_source(GSource **source)
{
  if (*source) {
    g_source_destroy(*source);
    g_source_unref(*source);
    *source = NULL;
  }
}

static guint at_timeout_ms(AtTransport *self)
{
  return self->parent.timeout_ms ? self->parent.timeout_ms : AT_DEFAULT_TIMEOUT_MS;
}

static guint at_command_timeout_ms(AtTransport *self, AtCommand *cmd)
{
  return cmd->timeout_ms ? MIN(cmd->timeout_ms, at_timeout_ms(self)) : at_timeout_ms(self);
}

static char *at_response_describe(const AtResponse *r)
{
  switch (r->final) {
  case AT_FINAL_OK:
    return g_strdup("OK");
  case AT_FINAL_ERROR:
    return g_strdup("ERROR");
  case AT_FINAL_CME_ERROR:
    return g_strdup_printf("+CME ERROR: %s", r->text);
  case AT_FINAL_CMS_ERROR:
    return g_strdup_printf("+CMS ERROR: %s", r->text);
  }
  return g_strdup("?");
}

/* The modem does not know the command: ERROR, or +CME ERROR 4. */
static gboolean at_response_is_unsupported(const AtResponse *r)
{
  if (r->final == AT_FINAL_ERROR)
    return TRUE;
  if (r->final != AT_FINAL_CME_ERROR)
    return FALSE;
  return r->code == AT_CME_NOT_SUPPORTED ||
         (r->code < 0 && g_ascii_strcasecmp(r->text, "operation not supported") == 0);
}

/* Completes the command in flight; the next one is sent before the caller's
 * callback runs, and nothing touches self after it (the callback may free
 * the transport). */
static void at_complete_current(AtTransport *self, GError *error)
{
  AtCommand *cmd = self->current;

  self->current = NULL;
  destroy_source(&self->timeout_source);
  if (!cmd->task) {
    if (error)
      g_debug("AT %s: resync failed: %s", self->parent.port, error->message);
    g_clear_error(&error);
  }
  at_send_next(self);
  if (cmd->task) {
    if (error)
      g_task_return_error(cmd->task, error);
    else
      g_task_return_pointer(cmd->task, g_steal_pointer(&cmd->response),
                            (GDestroyNotify)at_response_free);
  }
  at_command_free(cmd);
}

static gboolean at_on_timeout(gpointer data)
{
  AtTransport *self = data;
  AtCommand *cmd = self->current;

  g_source_unref(self->timeout_source);
  self->timeout_source = NULL;
  g_debug("AT %s: no answer to %s", self->parent.port, cmd->line);
  /* A resync that timed out is not retried: the next command runs and
   * times out by itself if the modem is dead. */
  self->need_resync = cmd->task != NULL;
  at_complete_current(self, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT,
                                        "The modem did not answer %s within %u ms", cmd->line,
                                        at_command_timeout_ms(self, cmd)));
  return G_SOURCE_REMOVE;
}

static gboolean at_on_cancelled(GCancellable *cancellable, gpointer data)
{
  AtCommand *cmd = data;
  AtTransport *self = cmd->self;

  if (self->current == cmd) {
    self->need_resync = TRUE;
    at_complete_current(self,
                        g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled"));
  } else if (g_queue_remove(&self->queue, cmd)) {
    GTask *task = g_object_ref(cmd->task);

    at_command_free(cmd);
    g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
    g_object_unref(task);
  }
  return G_SOURCE_REMOVE;
}

static gboolean at_on_writable(gint fd, GIOCondition cond, gpointer data);

static void at_flush(AtTransport *self)
{
  while (self->tx->len > 0) {
    ssize_t n = write(self->fd, self->tx->data, self->tx->len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      break;
    if (n < 0) {
      at_port_gone(self, g_strerror(errno));
      return;
    }
    g_byte_array_remove_range(self->tx, 0, (guint)n);
  }
  if (self->tx->len > 0 && !self->write_source) {
    self->write_source = g_unix_fd_source_new(self->fd, G_IO_OUT);
    g_source_set_callback(self->write_source, G_SOURCE_FUNC(at_on_writable), self, NULL);
    g_source_attach(self->write_source, self->context);
  }
}

static gboolean at_on_writable(gint fd, GIOCondition cond, gpointer data)
{
  AtTransport *self = data;

  g_source_unref(self->write_source);
  self->write_source = NULL;
  at_flush(self);
  return G_SOURCE_REMOVE;
}

/*
 * What a debug log may show of an AT line. APDUs travel as hex inside
 * +CGLA/+CSIM, and +CCID answers carry the ICCID: long hex runs may hold an
 * EID or an ICCID, which the logs must not give away (DESIGN.md), so every
 * run of 16 or more hex digits is shown by its length alone.
 */
static char *at_redact_line(const char *line)
{
  GString *out = g_string_new(NULL);

  for (const char *p = line; *p;) {
    gsize n = 0;

    while (g_ascii_isxdigit(p[n]))
      n++;
    if (n >= 16) {
      g_string_append_printf(out, "<%zu hex digits>", n);
      p += n;
    } else if (n > 0) {
      g_string_append_len(out, p, (gssize)n);
      p += n;
    } else {
      g_string_append_c(out, *p++);
    }
  }
  return g_string_free(out, FALSE);
}

static void at_log_line(AtTransport *self, const char *direction, const char *line,
                        const char *note)
{
  g_autofree char *shown = NULL;

  if (!g_log_get_debug_enabled())
    return;
  shown = at_redact_line(line);
  g_debug("AT %s %s %s%s", self->parent.port, direction, shown, note);
}

static void at_send_next(AtTransport *self)
{
  AtCommand *cmd;

  if (self->current || self->fd < 0 || g_queue_is_empty(&self->queue))
    return;

  if (self->need_resync) {
    /* The answer of a command we gave up on may still be on its way. Send
     * a command whose answer carries a prefix nothing else uses, and take
     * its final result only after that line: anything before is stale. */
    self->need_resync = FALSE;
    cmd = g_new0(AtCommand, 1);
    cmd->self = self;
    cmd->response = g_new0(AtResponse, 1);
    cmd->response->lines = g_ptr_array_new_with_free_func(g_free);
    if (self->resync_tagged) {
      cmd->line = g_strdup("AT+CMEE?");
      cmd->prefix = "+CMEE:";
      cmd->flags = AT_COMMAND_FLAGS_TAGGED;
    } else {
      cmd->line = g_strdup("AT");
    }
  } else {
    cmd = g_queue_pop_head(&self->queue);
  }

  self->current = cmd;
  at_log_line(self, "-->", cmd->line, "");
  g_byte_array_append(self->tx, (const guint8 *)cmd->line, (guint)strlen(cmd->line));
  g_byte_array_append(self->tx, (const guint8 *)"\r", 1);
  self->timeout_source = g_timeout_source_new(at_command_timeout_ms(self, cmd));
  g_source_set_callback(self->timeout_source, at_on_timeout, self, NULL);
  g_source_attach(self->timeout_source, self->context);
  at_flush(self);
}

static gboolean at_parse_final(const char *line, AtResponse *r)
{
  const char *rest = NULL;

  if (g_str_equal(line, "OK")) {
    r->final = AT_FINAL_OK;
    return TRUE;
  }
  /* "COMMAND NOT SUPPORT" is what some ZTE and Huawei firmwares say. */
  if (g_str_equal(line, "ERROR") || g_str_equal(line, "COMMAND NOT SUPPORT")) {
    r->final = AT_FINAL_ERROR;
    return TRUE;
  }
  if (g_ascii_strncasecmp(line, "+CME ERROR:", 11) == 0) {
    r->final = AT_FINAL_CME_ERROR;
    rest = line + 11;
  } else if (g_ascii_strncasecmp(line, "+CMS ERROR:", 11) == 0) {
    r->final = AT_FINAL_CMS_ERROR;
    rest = line + 11;
  } else {
    return FALSE;
  }
  while (*rest == ' ')
    rest++;
  r->text = g_strdup(rest);
  {
    guint64 code;

    r->code = g_ascii_string_to_unsigned(rest, 10, 0, G_MAXINT, &code, NULL) ? (gint)code : -1;
  }
  return TRUE;
}

static gboolean at_line_is_number(const char *line)
{
  if (!*line)
    return FALSE;
  for (; *line; line++)
    if (!g_ascii_isdigit(*line))
      return FALSE;
  return TRUE;
}

static void at_handle_line(AtTransport *self, const char *line)
{
  AtCommand *cmd = self->current;

  if (!*line)
    return;
  if (!cmd) {
    at_log_line(self, "<--", line, " (unsolicited)");
    return;
  }
  at_log_line(self, "<--", line, "");
  if (g_ascii_strcasecmp(line, cmd->line) == 0)
    return; /* echo */

  if (at_parse_final(line, cmd->response)) {
    if ((cmd->flags & AT_COMMAND_FLAGS_TAGGED) && !cmd->seen_info) {
      g_clear_pointer(&cmd->response->text, g_free);
      return; /* the end of an answer to an earlier command */
    }
    at_complete_current(self, NULL);
    return;
  }

  if ((cmd->prefix && g_ascii_strncasecmp(line, cmd->prefix, strlen(cmd->prefix)) == 0) ||
      ((cmd->flags & AT_COMMAND_FLAGS_BARE_NUMBER) && at_line_is_number(line))) {
    g_ptr_array_add(cmd->response->lines, g_strdup(line));
    cmd->seen_info = TRUE;
  }
  /* Anything else is an unsolicited result code (+CREG:, RING, ^MODE...)
   * or an answer that came too late: neither concerns this command. */
}

static void at_process_rx(AtTransport *self)
{
  guint start = 0;

  for (guint i = 0; i < self->rx->len && self->fd >= 0; i++) {
    guint8 c = self->rx->data[i];

    if (c == '\r' || c == '\n') {
      g_autofree gchar *line = g_strndup((const char *)self->rx->data + start, i - start);

      start = i + 1;
      at_handle_line(self, g_strstrip(line));
    }
  }
  if (self->fd < 0)
    return;
  g_byte_array_remove_range(self->rx, 0, start);
  if (self->rx->len > AT_MAX_LINE) {
    g_byte_array_set_size(self->rx, 0);
    if (self->current) {
      self->need_resync = TRUE;
      at_complete_current(self,
                          g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                                      "The modem sent a line of more than %u bytes", AT_MAX_LINE));
    }
  }
}

static gboolean at_on_readable(gint fd, GIOCondition cond, gpointer data)
{
  AtTransport *self = data;
  guint8 buf[4096];
  ssize_t n;

  n = read(fd, buf, sizeof buf);
  if (n > 0) {
    g_byte_array_append(self->rx, buf, (guint)n);
    at_process_rx(self);
    return G_SOURCE_CONTINUE;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  /* EOF, EIO (a pty whose other side closed, a USB serial device that was
   * unplugged) or HUP: the port will not come back. */
  at_port_gone(self, n == 0 ? "end of file" : g_strerror(errno));
  return G_SOURCE_REMOVE;
}

static void at_close_port(AtTransport *self)
{
  destroy_source(&self->read_source);
  destroy_source(&self->write_source);
  destroy_source(&self->timeout_source);
  if (self->fd >= 0) {
    /* The exclusive flag outlives us while anything else holds the tty. */
    ioctl(self->fd, TIOCNXCL);
    close(self->fd);
    self->fd = -1;
  }
  g_byte_array_set_size(self->rx, 0);
  g_byte_array_set_size(self->tx, 0);
}

/* Fails every command, in flight and queued; returns them to their callers
 * last, since one of those may free the transport. */
static void at_fail_all(AtTransport *self, gboolean report_removed, const char *why)
{
  GQueue doomed = G_QUEUE_INIT;
  AtCommand *cmd;

  if (self->current)
    g_queue_push_tail(&doomed, self->current);
  self->current = NULL;
  while ((cmd = g_queue_pop_head(&self->queue)))
    g_queue_push_tail(&doomed, cmd);
  if (report_removed)
    transport_report_removed(&self->parent);
  while ((cmd = g_queue_pop_head(&doomed))) {
    if (cmd->task)
      g_task_return_new_error(cmd->task, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE,
                              "The modem port is gone (%s)", why);
    at_command_free(cmd);
  }
}

static void at_port_gone(AtTransport *self, const char *why)
{
  g_debug("AT %s: port gone: %s", self->parent.port, why);
  at_close_port(self);
  at_fail_all(self, TRUE, why);
}

/* Queues an AT command; the result is an AtResponse for every final result,
 * ERROR included; a GError only for timeout, cancel and a port gone. */
static void at_command_full(AtTransport *self, const char *line, const char *prefix,
                            AtCommandFlags flags, guint timeout_ms, GCancellable *cancellable,
                            GAsyncReadyCallback cb, gpointer data)
{
  AtCommand *cmd = g_new0(AtCommand, 1);

  cmd->self = self;
  cmd->timeout_ms = timeout_ms;
  cmd->line = g_strdup(line);
  cmd->prefix = prefix;
  cmd->flags = flags;
  cmd->response = g_new0(AtResponse, 1);
  cmd->response->lines = g_ptr_array_new_with_free_func(g_free);
  cmd->task = g_task_new(NULL, cancellable, cb, data);
  g_task_set_source_tag(cmd->task, (gpointer)&at_tag_command);

  if (self->fd < 0) {
    GTask *task = g_object_ref(cmd->task);

    at_command_free(cmd);
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE,
                            "The modem port %s is not open", self->parent.port);
    g_object_unref(task);
    return;
  }
  if (cancellable) {
    cmd->cancel_source = g_cancellable_source_new(cancellable);
    g_source_set_callback(cmd->cancel_source, G_SOURCE_FUNC(at_on_cancelled), cmd, NULL);
    g_source_attach(cmd->cancel_source, self->context);
  }
  g_queue_push_tail(&self->queue, cmd);
  at_send_next(self);
}

static void at_command(AtTransport *self, const char *line, const char *prefix,
                       AtCommandFlags flags, GCancellable *cancellable, GAsyncReadyCallback cb,
                       gpointer data)
{
  at_command_full(self, line, prefix, flags, 0, cancellable, cb, data);
}

static AtResponse *at_command_finish(GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

/*
 * Reads '<prefix> <len>,"<hex>"' (+CGLA, +CSIM). 27.007 counts <len> in hex
 * characters; a few modems count bytes, which is accepted too.
 */
static GBytes *at_parse_apdu_reply(const AtResponse *r, const char *prefix, GError **error)
{
  const char *p;
  g_auto(GStrv) parts = NULL;
  const char *hex;
  gsize hex_len;
  guint64 len;
  g_autoptr(GByteArray) out = NULL;

  if (r->lines->len != 1) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                "The modem answered OK with %u %s lines instead of one", r->lines->len, prefix);
    return NULL;
  }
  p = (const char *)g_ptr_array_index(r->lines, 0) + strlen(prefix);
  parts = g_strsplit(p, ",", 2);
  if (!parts[0] || !parts[1])
    goto malformed;
  g_strstrip(parts[0]);
  g_strstrip(parts[1]);
  hex = parts[1];
  hex_len = strlen(hex);
  if (hex_len >= 2 && hex[0] == '"' && hex[hex_len - 1] == '"') {
    hex++;
    hex_len -= 2;
  }
  if (!g_ascii_string_to_unsigned(parts[0], 10, 0, G_MAXUINT, &len, NULL) || hex_len < 4 ||
      hex_len % 2 != 0 || (len != hex_len && len != hex_len / 2))
    goto malformed;
  out = g_byte_array_sized_new((guint)(hex_len / 2));
  for (gsize i = 0; i < hex_len; i += 2) {
    int hi = g_ascii_xdigit_value(hex[i]);
    int lo = g_ascii_xdigit_value(hex[i + 1]);
    guint8 b;

    if (hi < 0 || lo < 0)
      goto malformed;
    b = (guint8)(hi << 4 | lo);
    g_byte_array_append(out, &b, 1);
  }
  return g_byte_array_free_to_bytes(g_steal_pointer(&out));

malformed:
  g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
              "The modem sent a malformed %s line: %s", prefix,
              (const char *)g_ptr_array_index(r->lines, 0));
  return NULL;
}

static gchar *at_hex(const guint8 *data, gsize len)
{
  static const char digits[] = "0123456789ABCDEF";
  gchar *s = g_malloc(len * 2 + 1);

  for (gsize i = 0; i < len; i++) {
    s[2 * i] = digits[data[i] >> 4];
    s[2 * i + 1] = digits[data[i] & 0xF];
  }
  s[len * 2] = '\0';
  return s;
}

static gchar *at_csim_line(const guint8 *apdu, gsize len)
{
  g_autofree gchar *hex = at_hex(apdu, len);

  return g_strdup_printf("AT+CSIM=%zu,\"%s\"", len * 2, hex);
}

/* MANAGE CHANNEL close (ISO 7816-4 11.1.2) sent on the basic channel, naming
 * the channel to close in P2, as a +CSIM line. */
static gchar *at_csim_close_line(guint channel)
{
  const guint8 apdu[] = {0x00, 0x70, 0x80, (guint8)channel};

  return at_csim_line(apdu, sizeof apdu);
}

static guint16 at_sw(GBytes *rsp)
{
  gsize len;
  const guint8 *p = g_bytes_get_data(rsp, &len);

  return len >= 2 ? (guint16)(p[len - 2] << 8 | p[len - 1]) : 0;
}

/* ---- port setup ---- */

static speed_t at_speed(guint baudrate)
{
  switch (baudrate) {
  case 9600:
    return B9600;
  case 19200:
    return B19200;
  case 38400:
    return B38400;
  case 57600:
    return B57600;
  case 115200:
    return B115200;
  case 230400:
    return B230400;
  case 460800:
    return B460800;
  case 921600:
    return B921600;
  case 1000000:
    return B1000000;
  case 2000000:
    return B2000000;
  case 3000000:
    return B3000000;
  case 4000000:
    return B4000000;
  default:
    return B0;
  }
}

static gboolean at_busy_error(AtTransport *self, int err, GError **error)
{
  g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_BUSY,
              "Another program (ModemManager?) holds the AT port %s%s%s", self->parent.port,
              err ? ": " : "", err ? g_strerror(err) : "");
  return FALSE;
}

static gboolean at_open_port(AtTransport *self, GError **error)
{
  struct termios tio;
  int excl = 0;
  speed_t speed = at_speed(self->baudrate ? self->baudrate : AT_DEFAULT_BAUDRATE);
  int fd;

  if (speed == B0) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED, "Unsupported baud rate %u",
                self->baudrate);
    return FALSE;
  }
  fd = open(self->parent.port, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;

    if (e == EBUSY || e == EACCES)
      return at_busy_error(self, e, error);
    g_set_error(error, TRANSPORT_ERROR,
                e == ENOENT || e == ENODEV || e == ENXIO ? TRANSPORT_ERROR_PORT_GONE
                                                         : TRANSPORT_ERROR_FAILED,
                "Cannot open %s: %s", self->parent.port, g_strerror(e));
    return FALSE;
  }
  /* root opens a tty even when another program set TIOCEXCL on it (as
   * ModemManager does on the ports it uses): ask instead of trusting open. */
  if (ioctl(fd, TIOCGEXCL, &excl) == 0 && excl) {
    close(fd);
    return at_busy_error(self, 0, error);
  }
  if (ioctl(fd, TIOCEXCL) < 0 && errno == EBUSY) {
    close(fd);
    return at_busy_error(self, EBUSY, error);
  }
  if (tcgetattr(fd, &tio) < 0) {
    int e = errno;

    ioctl(fd, TIOCNXCL);
    close(fd);
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED, "%s is not a tty: %s",
                self->parent.port, g_strerror(e));
    return FALSE;
  }
  cfmakeraw(&tio);
  tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS);
  tio.c_cflag |= CS8 | CLOCAL | CREAD;
  tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
  tio.c_cc[VMIN] = 1;
  tio.c_cc[VTIME] = 0;
  cfsetispeed(&tio, speed);
  cfsetospeed(&tio, speed);
  if (tcsetattr(fd, TCSANOW, &tio) < 0)
    g_debug("AT %s: cannot set the line settings: %s", self->parent.port, g_strerror(errno));
  tcflush(fd, TCIOFLUSH);

  self->fd = fd;
  self->read_source = g_unix_fd_source_new(fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_callback(self->read_source, G_SOURCE_FUNC(at_on_readable), self, NULL);
  g_source_attach(self->read_source, self->context);
  return TRUE;
}

/* ---- open ---- */

typedef enum {
  OPEN_STEP_FIRST,
  OPEN_STEP_PORT,
  OPEN_STEP_ECHO_OFF,
  OPEN_STEP_ERROR_CODES,
  OPEN_STEP_RESYNC_PROBE,
  OPEN_STEP_STALE_CCHC,
  OPEN_STEP_STALE_CSIM,
  OPEN_STEP_LAST,
} OpenStep;

typedef struct {
  AtTransport *self;
  OpenStep step;
  guint channel; /* the stale channel being closed */
} OpenContext;

static void open_step(GTask *task);

static void open_command_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  OpenContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(AtResponse) r = at_command_finish(res, &error);

  if (!r && ctx->step == OPEN_STEP_RESYNC_PROBE &&
      g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT)) {
    /* No AT+CMEE? here (its ERROR was taken for a stale answer): resync
     * with a bare AT later, which is weaker but all there is. */
    ctx->self->resync_tagged = FALSE;
    ctx->step++;
    open_step(g_steal_pointer(&task));
    return;
  }
  if (!r) {
    /* A timeout on the first command means there is no AT modem here; any
     * other command failing to answer is just as fatal for opening. */
    if (ctx->step == OPEN_STEP_ECHO_OFF &&
        g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT))
      g_prefix_error(&error, "%s does not answer AT commands: ", ctx->self->parent.port);
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }

  switch (ctx->step) {
  case OPEN_STEP_ECHO_OFF:
  case OPEN_STEP_ERROR_CODES:
    /* Optional: echo is dropped anyway, and plain ERROR is understood. */
    ctx->step++;
    break;
  case OPEN_STEP_RESYNC_PROBE:
    ctx->self->resync_tagged = r->final == AT_FINAL_OK && r->lines->len > 0;
    ctx->step++;
    /* A modem whose +CCHC is as broken as its +CCHO: stale channels are
     * closed through +CSIM straight away. */
    if (ctx->self->parent.flags & TRANSPORT_OPEN_FLAGS_AT_CSIM_ONLY) {
      ctx->channel = 1;
      ctx->step = OPEN_STEP_STALE_CSIM;
    }
    break;
  case OPEN_STEP_STALE_CCHC:
    if (ctx->channel == 1 && at_response_is_unsupported(r)) {
      /* Plain ERROR is also what some modems say for "not open"; either
       * way, closing through +CSIM settles it. */
      ctx->channel = 1;
      ctx->step = OPEN_STEP_STALE_CSIM;
      break;
    }
    if (r->final == AT_FINAL_OK)
      g_info("AT %s: closed logical channel %u left open by an earlier client",
             ctx->self->parent.port, ctx->channel);
    if (++ctx->channel > AT_STALE_CHANNELS)
      ctx->step = OPEN_STEP_LAST;
    break;
  case OPEN_STEP_STALE_CSIM:
    /* Not proof that +CSIM is missing: an empty slot refuses it too. */
    if (r->final != AT_FINAL_OK) {
      ctx->step = OPEN_STEP_LAST;
      break;
    }
    ctx->self->csim = AT_SUPPORT_YES;
    if (r->lines->len == 1) {
      g_autoptr(GBytes) rsp = at_parse_apdu_reply(r, "+CSIM:", NULL);

      if (rsp && at_sw(rsp) == 0x9000)
        g_info("AT %s: closed logical channel %u left open by an earlier client",
               ctx->self->parent.port, ctx->channel);
    }
    if (++ctx->channel > AT_STALE_CHANNELS)
      ctx->step = OPEN_STEP_LAST;
    break;
  default:
    g_assert_not_reached();
  }
  open_step(g_steal_pointer(&task));
}

static void open_step(GTask *task)
{
  OpenContext *ctx = g_task_get_task_data(task);
  AtTransport *self = ctx->self;
  GCancellable *cancellable = g_task_get_cancellable(task);
  GError *error = NULL;

  if (g_task_return_error_if_cancelled(task)) {
    g_object_unref(task);
    return;
  }

  switch (ctx->step) {
  case OPEN_STEP_FIRST:
    ctx->step++;
    /* fall through */
  case OPEN_STEP_PORT:
    if (self->fd >= 0) {
      g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED, "%s is open already",
                              self->parent.port);
      g_object_unref(task);
      return;
    }
    if (!at_open_port(self, &error)) {
      g_task_return_error(task, error);
      g_object_unref(task);
      return;
    }
    ctx->step++;
    /* fall through */
  case OPEN_STEP_ECHO_OFF:
    at_command(self, "ATE0", NULL, AT_COMMAND_FLAGS_NONE, cancellable, open_command_ready, task);
    return;
  case OPEN_STEP_ERROR_CODES:
    at_command(self, "AT+CMEE=1", NULL, AT_COMMAND_FLAGS_NONE, cancellable, open_command_ready,
               task);
    return;
  case OPEN_STEP_RESYNC_PROBE:
    /* Tagged: an answer to a command from before this open (a modem that
     * answered a closed port late) ends before "+CMEE:" and is skipped, so
     * that everything after this is in step. */
    at_command_full(self, "AT+CMEE?", "+CMEE:", AT_COMMAND_FLAGS_TAGGED, AT_RESYNC_PROBE_TIMEOUT_MS,
                    cancellable, open_command_ready, task);
    return;
  case OPEN_STEP_STALE_CCHC: {
    g_autofree gchar *line = NULL;

    if (ctx->channel == 0)
      ctx->channel = 1;
    line = g_strdup_printf("AT+CCHC=%u", ctx->channel);
    at_command(self, line, NULL, AT_COMMAND_FLAGS_NONE, cancellable, open_command_ready, task);
    return;
  }
  case OPEN_STEP_STALE_CSIM: {
    g_autofree gchar *line = at_csim_close_line(ctx->channel);

    at_command(self, line, "+CSIM:", AT_COMMAND_FLAGS_NONE, cancellable, open_command_ready, task);
    return;
  }
  case OPEN_STEP_LAST:
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
}

static void at_open(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  AtTransport *self = (AtTransport *)t;
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  OpenContext *ctx = g_new0(OpenContext, 1);

  g_task_set_source_tag(task, (gpointer)&at_tag_open);
  ctx->self = self;
  g_task_set_task_data(task, ctx, g_free);
  /* ESIMD_AT_CSIM_ONLY: +CCHO answers, but wrongly (a channel that does not
   * reach the card, a session id +CGLA then refuses), so it is never tried
   * rather than probed. */
  if (t->flags & TRANSPORT_OPEN_FLAGS_AT_CSIM_ONLY) {
    g_debug("AT %s: +CSIM only, as configured", t->port);
    self->ccho = AT_SUPPORT_NO;
  }
  g_clear_pointer(&self->context, g_main_context_unref);
  self->context = g_main_context_ref_thread_default();
  open_step(task);
}

static gboolean at_open_finish(Transport *t, GAsyncResult *res, GError **error)
{
  AtTransport *self = (AtTransport *)t;
  gboolean ok = g_task_propagate_boolean(G_TASK(res), error);

  /* A failed open leaves nothing behind: the port is free for a retry. */
  if (!ok && self->fd >= 0) {
    at_close_port(self);
    at_fail_all(self, FALSE, "open failed");
  }
  return ok;
}

/* ---- list_slots ---- */

typedef enum {
  SLOTS_STEP_CPIN,
  SLOTS_STEP_CCID,
  SLOTS_STEP_LAST,
} SlotsStep;

typedef struct {
  AtTransport *self;
  SlotsStep step;
  gboolean present;
} SlotsContext;

static void slots_step(GTask *task);

static void slots_command_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  SlotsContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(AtResponse) r = at_command_finish(res, &error);

  if (!r) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  if (ctx->step == SLOTS_STEP_CPIN) {
    /* +CPIN: READY, SIM PIN, ... all say a card answers; +CME ERROR 10 is
     * "SIM not inserted". Another error asks +CCID. */
    if (r->final == AT_FINAL_OK && r->lines->len > 0) {
      /* A few modems say "+CPIN: NOT INSERTED" rather than failing. */
      ctx->present = !strstr(g_ptr_array_index(r->lines, 0), "NOT INSERTED");
      ctx->step = SLOTS_STEP_LAST;
    } else if (r->final == AT_FINAL_CME_ERROR &&
               (r->code == 10 || g_ascii_strcasecmp(r->text, "SIM not inserted") == 0)) {
      ctx->step = SLOTS_STEP_LAST;
    } else {
      ctx->step = SLOTS_STEP_CCID;
    }
  } else {
    ctx->present = r->final == AT_FINAL_OK;
    ctx->step = SLOTS_STEP_LAST;
  }
  slots_step(g_steal_pointer(&task));
}

static void slots_step(GTask *task)
{
  SlotsContext *ctx = g_task_get_task_data(task);
  AtTransport *self = ctx->self;

  switch (ctx->step) {
  case SLOTS_STEP_CPIN:
    at_command(self, "AT+CPIN?", "+CPIN:", AT_COMMAND_FLAGS_NONE, g_task_get_cancellable(task),
               slots_command_ready, task);
    return;
  case SLOTS_STEP_CCID:
    at_command(self, "AT+CCID", "+CCID:", AT_COMMAND_FLAGS_NONE, g_task_get_cancellable(task),
               slots_command_ready, task);
    return;
  case SLOTS_STEP_LAST: {
    GPtrArray *slots = g_ptr_array_new_with_free_func((GDestroyNotify)transport_slot_free);
    TransportSlot *slot = g_new0(TransportSlot, 1);

    /* 27.007 knows one SIM: the one the modem uses now. */
    slot->slot = 1;
    slot->card_present = ctx->present;
    slot->is_euicc = TRANSPORT_TRISTATE_UNKNOWN;
    slot->active = TRUE;
    g_ptr_array_add(slots, slot);
    g_task_return_pointer(task, slots, (GDestroyNotify)g_ptr_array_unref);
    g_object_unref(task);
    return;
  }
  }
}

static void at_list_slots(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                          gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  SlotsContext *ctx = g_new0(SlotsContext, 1);

  g_task_set_source_tag(task, (gpointer)&at_tag_list_slots);
  ctx->self = (AtTransport *)t;
  g_task_set_task_data(task, ctx, g_free);
  slots_step(task);
}

static GPtrArray *at_list_slots_finish(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- open_channel ---- */

typedef enum {
  CHANNEL_STEP_FIRST,
  CHANNEL_STEP_CCHO,
  CHANNEL_STEP_CSIM_OPEN,
  CHANNEL_STEP_CSIM_SELECT,
  CHANNEL_STEP_CSIM_CLOSE,
  CHANNEL_STEP_LAST,
} ChannelStep;

typedef struct {
  AtTransport *self;
  ChannelStep step;
  GBytes *aid;
  guint channel;
  gboolean ccho_tried;
  gboolean ccho_unsupported; /* +CCHO answered ERROR or +CME ERROR 4 */
  gchar *ccho_error;         /* what +CCHO answered, for the message */
  GError *error;             /* returned once the failed channel is closed */
} ChannelContext;

static void channel_context_free(ChannelContext *ctx)
{
  g_bytes_unref(ctx->aid);
  g_free(ctx->ccho_error);
  g_clear_error(&ctx->error);
  g_free(ctx);
}

static gboolean at_slot_is_valid(guint slot, GTask *task)
{
  if (slot == 1)
    return TRUE;
  g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                          "An AT modem has one SIM slot; slot %u does not exist", slot);
  return FALSE;
}

/* A channel number for the caller: the card's own when the modem's session
 * id is one, else a free number mapped to the session. */
static guint at_channel_take(AtTransport *self, AtChannelMode mode, guint session)
{
  guint n = 0;

  if (session >= 1 && session <= ISO7816_MAX_CHANNEL &&
      self->channels[session].mode == AT_CHANNEL_CLOSED)
    n = session;
  for (guint i = 1; !n && i <= ISO7816_MAX_CHANNEL; i++)
    if (self->channels[i].mode == AT_CHANNEL_CLOSED)
      n = i;
  if (n) {
    self->channels[n].mode = mode;
    self->channels[n].session = session;
  }
  return n;
}

/* +CCHO failed and +CSIM cannot say more: what the +CCHO answer means. */
static GError *at_ccho_error(ChannelContext *ctx)
{
  if (ctx->ccho_unsupported && ctx->self->ccho != AT_SUPPORT_YES)
    return g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                       "The modem on %s offers neither +CCHO nor +CSIM (%s)",
                       ctx->self->parent.port, ctx->ccho_error);
  return g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_AID_NOT_FOUND,
                     "The card refused to select the application (+CCHO: %s)", ctx->ccho_error);
}

static void channel_step(GTask *task);

static void channel_return_error(GTask *task, GError *error)
{
  g_task_return_error(task, error);
  g_object_unref(task);
}

static void channel_command_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  ChannelContext *ctx = g_task_get_task_data(task);
  AtTransport *self = ctx->self;
  GError *error = NULL;
  g_autoptr(AtResponse) r = at_command_finish(res, &error);
  g_autoptr(GBytes) rsp = NULL;
  guint16 sw;

  if (!r) {
    channel_return_error(task, error);
    return;
  }

  switch (ctx->step) {
  case CHANNEL_STEP_CCHO:
    ctx->ccho_tried = TRUE;
    if (r->final == AT_FINAL_OK) {
      const char *line = r->lines->len == 1 ? g_ptr_array_index(r->lines, 0) : "";
      guint64 session;

      if (g_ascii_strncasecmp(line, "+CCHO:", 6) == 0)
        line += 6;
      while (*line == ' ')
        line++;
      if (!g_ascii_string_to_unsigned(line, 10, 1, G_MAXUINT, &session, NULL)) {
        channel_return_error(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                                               "The modem answered +CCHO without a session id"));
        return;
      }
      self->ccho = AT_SUPPORT_YES;
      ctx->channel = at_channel_take(self, AT_CHANNEL_CCHO, (guint)session);
      if (!ctx->channel) {
        channel_return_error(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_CHANNEL_REFUSED,
                                               "No free logical channel"));
        return;
      }
      ctx->step = CHANNEL_STEP_LAST;
      break;
    }
    /* The modem lacks +CCHO, or the card refused the AID or had no channel
     * left: +CSIM (if the modem has it) tells which from the card's own
     * status words. */
    ctx->ccho_unsupported = at_response_is_unsupported(r);
    ctx->ccho_error = at_response_describe(r);
    if (self->csim == AT_SUPPORT_NO) {
      channel_return_error(task, at_ccho_error(ctx));
      return;
    }
    ctx->step = CHANNEL_STEP_CSIM_OPEN;
    break;

  case CHANNEL_STEP_CSIM_OPEN:
    if (r->final != AT_FINAL_OK) {
      g_autofree gchar *what = at_response_describe(r);

      self->csim = AT_SUPPORT_NO;
      if (ctx->ccho_tried)
        channel_return_error(task, at_ccho_error(ctx));
      else
        channel_return_error(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                                               "The modem on %s refuses +CSIM (%s)",
                                               self->parent.port, what));
      return;
    }
    if (!(rsp = at_parse_apdu_reply(r, "+CSIM:", &error))) {
      channel_return_error(task, error);
      return;
    }
    self->csim = AT_SUPPORT_YES;
    sw = at_sw(rsp);
    if (sw != 0x9000 || g_bytes_get_size(rsp) != 3) {
      channel_return_error(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_CHANNEL_REFUSED,
                                             "The card opens no logical channel: %04X (%s)", sw,
                                             iso7816_sw_to_string(sw)));
      return;
    }
    ctx->channel = ((const guint8 *)g_bytes_get_data(rsp, NULL))[0];
    if (ctx->channel < 1 || ctx->channel > ISO7816_MAX_CHANNEL ||
        self->channels[ctx->channel].mode != AT_CHANNEL_CLOSED) {
      channel_return_error(task, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                                             "The card opened channel %u, which cannot be",
                                             ctx->channel));
      return;
    }
    self->channels[ctx->channel].mode = AT_CHANNEL_CSIM;
    ctx->step = CHANNEL_STEP_CSIM_SELECT;
    break;

  case CHANNEL_STEP_CSIM_SELECT:
    if (r->final != AT_FINAL_OK) {
      g_autofree gchar *what = at_response_describe(r);

      ctx->error = g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                               "The modem refused SELECT through +CSIM (%s)", what);
      ctx->step = CHANNEL_STEP_CSIM_CLOSE;
      break;
    }
    if (!(rsp = at_parse_apdu_reply(r, "+CSIM:", &ctx->error))) {
      ctx->step = CHANNEL_STEP_CSIM_CLOSE;
      break;
    }
    sw = at_sw(rsp);
    /* 61xx: selected, with an FCI waiting that nobody needs (T=0). */
    if (iso7816_sw_is_success(sw) || (sw >> 8) == 0x61) {
      if (ctx->ccho_tried && self->ccho == AT_SUPPORT_UNKNOWN) {
        g_info("AT %s: no usable +CCHO (%s); using +CSIM", self->parent.port, ctx->ccho_error);
        self->ccho = AT_SUPPORT_NO;
      }
      ctx->step = CHANNEL_STEP_LAST;
      break;
    }
    ctx->error = g_error_new(
        TRANSPORT_ERROR, sw == 0x6A82 ? TRANSPORT_ERROR_AID_NOT_FOUND : TRANSPORT_ERROR_FAILED,
        "The card refused to select the application: %04X (%s)", sw, iso7816_sw_to_string(sw));
    ctx->step = CHANNEL_STEP_CSIM_CLOSE;
    break;

  case CHANNEL_STEP_CSIM_CLOSE:
    /* Whatever it answered, the channel is of no use to anyone. */
    self->channels[ctx->channel].mode = AT_CHANNEL_CLOSED;
    channel_return_error(task, g_steal_pointer(&ctx->error));
    return;

  default:
    g_assert_not_reached();
  }
  channel_step(task);
}

static void channel_step(GTask *task)
{
  ChannelContext *ctx = g_task_get_task_data(task);
  AtTransport *self = ctx->self;
  GCancellable *cancellable = g_task_get_cancellable(task);

  switch (ctx->step) {
  case CHANNEL_STEP_FIRST:
    ctx->step++;
    /* fall through */
  case CHANNEL_STEP_CCHO:
    if (self->ccho != AT_SUPPORT_NO) {
      g_autofree gchar *hex = at_hex(g_bytes_get_data(ctx->aid, NULL), g_bytes_get_size(ctx->aid));
      g_autofree gchar *line = g_strdup_printf("AT+CCHO=\"%s\"", hex);

      at_command(self, line, "+CCHO:", AT_COMMAND_FLAGS_BARE_NUMBER, cancellable,
                 channel_command_ready, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case CHANNEL_STEP_CSIM_OPEN: {
    /* MANAGE CHANNEL open, the card picks the channel (ISO 7816-4 11.1.2). */
    const guint8 apdu[] = {0x00, 0x70, 0x00, 0x00, 0x01};
    g_autofree gchar *line = at_csim_line(apdu, sizeof apdu);

    at_command(self, line, "+CSIM:", AT_COMMAND_FLAGS_NONE, cancellable, channel_command_ready,
               task);
    return;
  }
  case CHANNEL_STEP_CSIM_SELECT: {
    guint8 cla = 0;
    GError *error = NULL;
    g_autoptr(GBytes) apdu = NULL;
    g_autofree gchar *line = NULL;

    /* SELECT by DF name on the new channel, first or only occurrence,
     * FCI returned (GlobalPlatform Card Specification 11.9.2). */
    if (!iso7816_cla_for_channel(ctx->channel, ISO7816_CLA_INTERINDUSTRY, &cla, &error) ||
        !(apdu = iso7816_apdu_build(cla, 0xA4, 0x04, 0x00, g_bytes_get_data(ctx->aid, NULL),
                                    g_bytes_get_size(ctx->aid), ISO7816_LE_MAX, &error))) {
      ctx->error = g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED, "%s", error->message);
      g_error_free(error);
      ctx->step = CHANNEL_STEP_CSIM_CLOSE;
      channel_step(task);
      return;
    }
    line = at_csim_line(g_bytes_get_data(apdu, NULL), g_bytes_get_size(apdu));
    at_command(self, line, "+CSIM:", AT_COMMAND_FLAGS_NONE, cancellable, channel_command_ready,
               task);
    return;
  }
  case CHANNEL_STEP_CSIM_CLOSE: {
    g_autofree gchar *line = at_csim_close_line(ctx->channel);

    at_command(self, line, "+CSIM:", AT_COMMAND_FLAGS_NONE, NULL, channel_command_ready, task);
    return;
  }
  case CHANNEL_STEP_LAST:
    g_debug("AT %s: channel %u open (%s)", self->parent.port, ctx->channel,
            self->channels[ctx->channel].mode == AT_CHANNEL_CCHO ? "+CCHO" : "+CSIM");
    g_task_return_int(task, ctx->channel);
    g_object_unref(task);
    return;
  }
}

static void at_open_channel(Transport *t, guint slot, GBytes *aid, GCancellable *cancellable,
                            GAsyncReadyCallback cb, gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  ChannelContext *ctx;

  g_task_set_source_tag(task, (gpointer)&at_tag_open_channel);
  if (!at_slot_is_valid(slot, task)) {
    g_object_unref(task);
    return;
  }
  if (g_bytes_get_size(aid) < 5 || g_bytes_get_size(aid) > 16) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "An AID has 5 to 16 bytes, not %zu", g_bytes_get_size(aid));
    g_object_unref(task);
    return;
  }
  ctx = g_new0(ChannelContext, 1);
  ctx->self = (AtTransport *)t;
  ctx->aid = g_bytes_ref(aid);
  g_task_set_task_data(task, ctx, (GDestroyNotify)channel_context_free);
  channel_step(task);
}

static guint at_open_channel_finish(Transport *t, GAsyncResult *res, GError **error)
{
  gssize n = g_task_propagate_int(G_TASK(res), error);

  return n > 0 ? (guint)n : 0;
}

/* ---- transmit ---- */

static void transmit_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  const char *prefix = g_task_get_task_data(task);
  GError *error = NULL;
  g_autoptr(AtResponse) r = at_command_finish(res, &error);
  GBytes *rsp;

  if (!r) {
    g_task_return_error(task, error);
    return;
  }
  if (r->final != AT_FINAL_OK) {
    g_autofree gchar *what = at_response_describe(r);

    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "The modem refused the APDU (%s)", what);
    return;
  }
  if (!(rsp = at_parse_apdu_reply(r, prefix, &error))) {
    g_task_return_error(task, error);
    return;
  }
  g_task_return_pointer(task, rsp, (GDestroyNotify)g_bytes_unref);
}

static void at_transmit(Transport *t, guint slot, guint channel, GBytes *apdu,
                        GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  AtTransport *self = (AtTransport *)t;
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  gsize len = g_bytes_get_size(apdu);
  g_autofree gchar *hex = NULL;
  g_autofree gchar *line = NULL;

  g_task_set_source_tag(task, (gpointer)&at_tag_transmit);
  if (!at_slot_is_valid(slot, task)) {
    g_object_unref(task);
    return;
  }
  if (channel > ISO7816_MAX_CHANNEL || len < 4) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "Not an APDU for a channel 0..19");
    g_object_unref(task);
    return;
  }
  hex = at_hex(g_bytes_get_data(apdu, NULL), len);
  if (self->channels[channel].mode == AT_CHANNEL_CCHO) {
    g_task_set_task_data(task, (gpointer) "+CGLA:", NULL);
    line = g_strdup_printf("AT+CGLA=%u,%zu,\"%s\"", self->channels[channel].session, len * 2, hex);
  } else {
    /* The basic channel, a channel opened through +CSIM, or one the caller
     * opened with its own MANAGE CHANNEL: the CLA names it. */
    g_task_set_task_data(task, (gpointer) "+CSIM:", NULL);
    line = g_strdup_printf("AT+CSIM=%zu,\"%s\"", len * 2, hex);
  }
  at_command(self, line, g_task_get_task_data(task), AT_COMMAND_FLAGS_NONE, cancellable,
             transmit_ready, task);
}

static GBytes *at_transmit_finish(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- close_channel ---- */

static void close_channel_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  g_autoptr(AtResponse) r = at_command_finish(res, &error);
  g_autoptr(GBytes) rsp = NULL;

  if (!r) {
    g_task_return_error(task, error);
    return;
  }
  if (r->final != AT_FINAL_OK) {
    g_autofree gchar *what = at_response_describe(r);

    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "The modem did not close the channel (%s)", what);
    return;
  }
  if (r->lines->len > 0) { /* +CSIM */
    guint16 sw;

    if (!(rsp = at_parse_apdu_reply(r, "+CSIM:", &error))) {
      g_task_return_error(task, error);
      return;
    }
    sw = at_sw(rsp);
    if (sw != 0x9000) {
      g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                              "The card did not close the channel: %04X (%s)", sw,
                              iso7816_sw_to_string(sw));
      return;
    }
  }
  g_task_return_boolean(task, TRUE);
}

static void at_close_channel(Transport *t, guint slot, guint channel, GCancellable *cancellable,
                             GAsyncReadyCallback cb, gpointer data)
{
  AtTransport *self = (AtTransport *)t;
  GTask *task = g_task_new(NULL, cancellable, cb, data);
  g_autofree gchar *line = NULL;
  const char *prefix = NULL;

  g_task_set_source_tag(task, (gpointer)&at_tag_close_channel);
  if (!at_slot_is_valid(slot, task)) {
    g_object_unref(task);
    return;
  }
  if (channel < 1 || channel > ISO7816_MAX_CHANNEL) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_FAILED,
                            "There is no logical channel %u", channel);
    g_object_unref(task);
    return;
  }
  if (self->channels[channel].mode == AT_CHANNEL_CCHO) {
    line = g_strdup_printf("AT+CCHC=%u", self->channels[channel].session);
  } else {
    line = at_csim_close_line(channel);
    prefix = "+CSIM:";
  }
  /* Forgotten here whatever the modem says: a channel it failed to close
   * is not one we can use again. */
  self->channels[channel].mode = AT_CHANNEL_CLOSED;
  at_command(self, line, prefix, AT_COMMAND_FLAGS_NONE, cancellable, close_channel_ready, task);
}

/* ---- close ---- */

static void close_step(GTask *task);

static void close_channel_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean(G_TASK(res), &error))
    g_debug("AT: closing a channel on close: %s", error->message);
  close_step(task);
}

/* Closes the channels the caller left open, one per pass, then the port. */
static void close_step(GTask *task)
{
  AtTransport *self = g_task_get_task_data(task);

  if (self->fd >= 0 && !self->parent.removed) {
    for (guint i = 1; i <= ISO7816_MAX_CHANNEL; i++) {
      if (self->channels[i].mode != AT_CHANNEL_CLOSED) {
        at_close_channel(&self->parent, 1, i, NULL, close_channel_done, task);
        return;
      }
    }
  }
  memset(self->channels, 0, sizeof self->channels);
  at_close_port(self);
  at_fail_all(self, FALSE, "closed");
  g_task_return_boolean(task, TRUE);
  g_object_unref(task);
}

static void at_close(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);

  g_task_set_source_tag(task, (gpointer)&at_tag_close);
  g_task_set_task_data(task, t, NULL);
  close_step(task);
}

static void at_finalize(Transport *t)
{
  AtTransport *self = (AtTransport *)t;

  at_close_port(self);
  at_fail_all(self, FALSE, "transport freed");
  g_byte_array_unref(self->rx);
  g_byte_array_unref(self->tx);
  g_clear_pointer(&self->context, g_main_context_unref);
}

static const TransportOps at_ops = {
    .open = at_open,
    .open_finish = at_open_finish,
    .list_slots = at_list_slots,
    .list_slots_finish = at_list_slots_finish,
    .open_channel = at_open_channel,
    .open_channel_finish = at_open_channel_finish,
    .transmit = at_transmit,
    .transmit_finish = at_transmit_finish,
    .close_channel = at_close_channel,
    .close_channel_finish = finish_boolean,
    .close = at_close,
    .close_finish = finish_boolean,
    .finalize = at_finalize,
};

Transport *transport_new_at(const char *port, guint baudrate)
{
  AtTransport *self = g_new0(AtTransport, 1);

  self->parent.ops = &at_ops;
  self->parent.kind = TRANSPORT_KIND_AT;
  self->parent.port = g_strdup(port);
  self->baudrate = baudrate;
  self->fd = -1;
  self->rx = g_byte_array_new();
  self->tx = g_byte_array_new();
  g_queue_init(&self->queue);
  return &self->parent;
}
