/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The AT command backend: APDUs to the UICC through a modem's serial AT port,
 * with the commands of 3GPP TS 27.007: +CCHO (8.45), +CCHC (8.46), +CGLA
 * (8.43) for logical channels, and +CSIM (8.17) as the fallback for modems
 * that lack them.
 *
 * Two layers: the command queue (at-command.c: one command in flight, the
 * rest waiting in FIFO order), and the TransportOps over it, each a small
 * step machine: open and close here, list_slots, open_channel, transmit and
 * close_channel in at-card.c.
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
#include "transport/at-private.h"

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
    /* Opened again (ModemManager's port, taken for each burst of
     * operations): esimd closed its channels itself before it let go, so
     * the channels a crashed client left were swept at the first open. */
    if (ctx->self->swept) {
      ctx->step = OPEN_STEP_LAST;
      break;
    }
    ctx->self->swept = TRUE;
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

/* ---- IMEI ---- */

/*
 * AT+CGSN (27.007 5.4): the IMEI alone on a line, which is what most modems
 * send; others prefix it with "+CGSN: " and some quote it. A modem that
 * answers ERROR or +CME ERROR has no IMEI to give (a CDMA-only modem, or
 * none provisioned): NOT_SUPPORTED, which the transport remembers.
 */
static void get_imei_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(AtResponse) r = at_command_finish(res, &error);
  const char *line;
  gchar *imei;

  if (!r) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  if (r->final != AT_FINAL_OK) {
    g_autofree char *why = at_response_describe(r);

    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                            "The modem refused AT+CGSN: %s", why);
    return;
  }
  if (r->lines->len != 1) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                            "The modem answered AT+CGSN with %u IMEI lines instead of one",
                            r->lines->len);
    return;
  }
  line = g_ptr_array_index(r->lines, 0);
  if (g_ascii_strncasecmp(line, "+CGSN:", strlen("+CGSN:")) == 0)
    line += strlen("+CGSN:");
  imei = transport_parse_imei(line, &error);
  if (!imei) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  g_task_return_pointer(task, imei, g_free);
}

static void at_get_imei(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                        gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);

  g_task_set_source_tag(task, (gpointer)&at_tag_get_imei);
  at_command((AtTransport *)t, "AT+CGSN", "+CGSN:", AT_COMMAND_FLAGS_BARE_QUOTED, cancellable,
             get_imei_ready, task);
}

static gchar *at_get_imei_finish(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- radio access technologies ---- */

/*
 * AT+WS46=? (27.007 5.9) lists the <n> the modem can be set to, each a set
 * of radio access networks. NG-RAN alone or beside no E-UTRAN can only run
 * standalone (NR on the 5G core); beside E-UTRAN it is counted as
 * non-standalone, the one every 5G modem has.
 */
static guint ws46_rats(guint n)
{
  enum { G = TRANSPORT_RAT_GERAN, U = TRANSPORT_RAT_UTRAN, E = TRANSPORT_RAT_EUTRAN, N = 1 << 8 };
  static const struct {
    guint n;
    guint rans;
  } values[] = {
      {12, G},         {22, U},         {25, G | U | E},     {28, E},         {29, G | U},
      {30, G | E},     {31, U | E},     {35, G | U | E | N}, {36, N},         {37, E | N},
      {38, U | E | N}, {39, G | E | N}, {40, U | N},         {41, G | U | N}, {42, G | N},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(values); i++) {
    guint rans = values[i].rans;

    if (values[i].n != n)
      continue;
    if (rans & N)
      rans = (rans & ~(guint)N) | ((rans & E) ? TRANSPORT_RAT_NR_NSA : TRANSPORT_RAT_NR_SA);
    return rans;
  }
  return 0; /* 27.007's others are not radio access networks SGP.22 names */
}

/*
 * "+WS46: (12,22,25,28-31)": numbers and ranges, parentheses optional. A
 * reversed range, a parenthesis left open or closed twice, or a number too
 * large for 64 bits is not a list a modem meant to send: protocol error
 * rather than a guess.
 */
gboolean at_parse_ws46(const char *line, guint *rats, GError **error)
{
  const char *p = line + strlen("+WS46:");
  gboolean any = FALSE, bad = FALSE;
  guint depth = 0;

  *rats = 0;
  while (*p && !bad) {
    guint64 first, last;
    char *end;

    if (!g_ascii_isdigit(*p)) {
      if (*p == '(')
        depth++;
      else if (*p == ')' && depth > 0)
        depth--;
      else if (!strchr(" ,", *p))
        break; /* a ')' with none open ends up here too */
      p++;
      continue;
    }
    errno = 0;
    first = last = g_ascii_strtoull(p, &end, 10);
    p = end;
    if (*p == '-' && g_ascii_isdigit(p[1])) {
      last = g_ascii_strtoull(p + 1, &end, 10);
      p = end;
    }
    bad = errno == ERANGE || last < first;
    for (guint64 n = first; n <= last && n <= 255; n++)
      *rats |= ws46_rats((guint)n);
    any = TRUE;
  }
  if (*p || bad || depth || !any) {
    *rats = 0;
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                "The modem answered AT+WS46=? with \"%s\"", line);
    return FALSE;
  }
  return TRUE;
}

static void get_rats_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(AtResponse) r = at_command_finish(res, &error);
  guint rats = 0;

  if (!r) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  /* Many modems lack +WS46 (it is optional): they do not say, which the
   * transport remembers as NOT_SUPPORTED. */
  if (r->final != AT_FINAL_OK || r->lines->len == 0) {
    g_autofree char *why = r->final != AT_FINAL_OK ? at_response_describe(r) : NULL;

    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                            "The modem does not list its radio technologies (AT+WS46=?): %s",
                            why ? why : "no +WS46 line");
    return;
  }
  for (guint i = 0; i < r->lines->len; i++) {
    guint more;

    if (!at_parse_ws46(g_ptr_array_index(r->lines, i), &more, &error)) {
      g_task_return_error(task, g_steal_pointer(&error));
      return;
    }
    rats |= more;
  }
  g_task_return_int(task, rats);
}

static void at_get_rats(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                        gpointer data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, data);

  g_task_set_source_tag(task, (gpointer)&at_tag_get_rats);
  at_command((AtTransport *)t, "AT+WS46=?", "+WS46:", AT_COMMAND_FLAGS_NONE, cancellable,
             get_rats_ready, task);
}

static gboolean at_get_rats_finish(Transport *t, GAsyncResult *res, guint *rats, GError **error)
{
  gssize v = g_task_propagate_int(G_TASK(res), error);

  if (v < 0)
    return FALSE;
  *rats = (guint)v;
  return TRUE;
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
    .get_imei = at_get_imei,
    .get_imei_finish = at_get_imei_finish,
    .get_rats = at_get_rats,
    .get_rats_finish = at_get_rats_finish,
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
