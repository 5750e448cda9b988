/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The AT backend's command queue: one command in flight, the rest waiting in
 * FIFO order; a response is the info lines that carry the command's prefix,
 * up to a final result (OK, ERROR, +CME ERROR, +CMS ERROR). Echo, blank
 * lines and unsolicited result codes may come anywhere and are dropped. A
 * command that timed out or was cancelled may still be answered: the next
 * command is preceded by a resync whose answer can be told apart.
 */
#include "transport/at-private.h"

#include <string.h>
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

char *at_response_describe(const AtResponse *r)
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
gboolean at_response_is_unsupported(const AtResponse *r)
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
  g_autofree gchar *name = NULL;

  g_source_unref(self->timeout_source);
  self->timeout_source = NULL;
  g_debug("AT %s: no answer to %s", self->parent.port, cmd->line);
  /* A resync that timed out is not retried: the next command runs and
   * times out by itself if the modem is dead. */
  self->need_resync = cmd->task != NULL;
  /* The message names the command, not its arguments: an AT+CGLA line
   * carries the whole APDU (a profile package segment, a transaction id),
   * which is for the debug log above, not for the caller. */
  name = g_strndup(cmd->line, strcspn(cmd->line, "=?"));
  at_complete_current(self, g_error_new(TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT,
                                        "The modem did not answer %s within %u ms", name,
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

static gboolean at_line_is_quoted_number(const char *line)
{
  gsize len = strlen(line);
  g_autofree gchar *inner = NULL;

  if (len < 3 || line[0] != '"' || line[len - 1] != '"')
    return FALSE;
  inner = g_strndup(line + 1, len - 2);
  return at_line_is_number(inner);
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
      ((cmd->flags & (AT_COMMAND_FLAGS_BARE_NUMBER | AT_COMMAND_FLAGS_BARE_QUOTED)) &&
       at_line_is_number(line)) ||
      ((cmd->flags & AT_COMMAND_FLAGS_BARE_QUOTED) && at_line_is_quoted_number(line))) {
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

gboolean at_on_readable(gint fd, GIOCondition cond, gpointer data)
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

void at_close_port(AtTransport *self)
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
void at_fail_all(AtTransport *self, gboolean report_removed, const char *why)
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
void at_command_full(AtTransport *self, const char *line, const char *prefix, AtCommandFlags flags,
                     guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback cb,
                     gpointer data)
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

void at_command(AtTransport *self, const char *line, const char *prefix, AtCommandFlags flags,
                GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  at_command_full(self, line, prefix, flags, 0, cancellable, cb, data);
}

AtResponse *at_command_finish(GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

/*
 * Reads '<prefix> <len>,"<hex>"' (+CGLA, +CSIM). 27.007 counts <len> in hex
 * characters; a few modems count bytes, which is accepted too.
 */
GBytes *at_parse_apdu_reply(const AtResponse *r, const char *prefix, GError **error)
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

gchar *at_hex(const guint8 *data, gsize len)
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

gchar *at_csim_line(const guint8 *apdu, gsize len)
{
  g_autofree gchar *hex = at_hex(apdu, len);

  return g_strdup_printf("AT+CSIM=%zu,\"%s\"", len * 2, hex);
}

/* MANAGE CHANNEL close (ISO 7816-4 11.1.2) sent on the basic channel, naming
 * the channel to close in P2, as a +CSIM line. */
gchar *at_csim_close_line(guint channel)
{
  const guint8 apdu[] = {0x00, 0x70, 0x80, (guint8)channel};

  return at_csim_line(apdu, sizeof apdu);
}

guint16 at_sw(GBytes *rsp)
{
  gsize len;
  const guint8 *p = g_bytes_get_data(rsp, &len);

  return len >= 2 ? (guint16)(p[len - 2] << 8 | p[len - 1]) : 0;
}
