/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * modem-sim core: the pty, the slots, the shared knobs and the ordered,
 * optionally delayed write path. The protocol modules only parse frames and
 * build answers.
 */
#include "modem-sim.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* One answer waiting for its time to go out (delay-ms). */
typedef struct {
  gint64 due_us; /* monotonic time */
  GBytes *bytes;
} PendingWrite;

struct _ModemSim {
  ModemSimProtocol protocol;
  const ModemSimProtocolOps *ops;
  gpointer protocol_data;

  GPtrArray *slots; /* ModemSimSlot*, index 0 is slot 1 */
  guint active_slot;

  GMainContext *context;
  int master_fd;
  /* Our own handle on the slave: without it the master reports HUP in a
   * loop whenever no client has the port open, and the pty would lose its
   * raw settings between clients (qmicli and libqmi reopen ports often). */
  int slave_fd;
  char *port;
  GSource *read_source;
  GSource *write_source; /* G_IO_OUT watch while the pty buffer is full */
  GSource *timer_source; /* wakes up for the next delayed answer */
  GByteArray *inbuf;
  GByteArray *outbuf; /* due bytes not yet accepted by the pty */
  GQueue pending;     /* PendingWrite, in the order they were queued */
  gboolean unplugged;
  gboolean shares_cards; /* a further port: the slots belong to the first */

  guint delay_ms;
  guint extra_delay_ms; /* the card's own latency for the answer being built */
  guint close_after;    /* 0: never */
  guint n_apdus;
  guint max_channels; /* 0: the card's default */
  char *apdu_log;
  char *imei; /* NULL: the modem reports none */
  guint rats; /* ModemSimRat; 0: the modem does not say */
};

static void pending_write_free(PendingWrite *pw)
{
  g_bytes_unref(pw->bytes);
  g_free(pw);
}

static const ModemSimProtocolOps *protocol_ops(ModemSimProtocol protocol)
{
  switch (protocol) {
  case MODEM_SIM_PROTOCOL_QMI:
    return &modem_sim_qmi_ops;
  case MODEM_SIM_PROTOCOL_MBIM:
    return &modem_sim_mbim_ops;
  case MODEM_SIM_PROTOCOL_AT:
    return &modem_sim_at_ops;
  }
  return NULL;
}

static void slot_free(gpointer data)
{
  ModemSimSlot *slot = data;

  if (slot->card)
    euicc_sim_free(slot->card);
  g_free(slot);
}

ModemSim *modem_sim_new(ModemSimProtocol protocol)
{
  ModemSim *ms = g_new0(ModemSim, 1);

  ms->protocol = protocol;
  ms->ops = protocol_ops(protocol);
  ms->slots = g_ptr_array_new_with_free_func(slot_free);
  ms->active_slot = 1;
  ms->master_fd = -1;
  ms->slave_fd = -1;
  ms->inbuf = g_byte_array_new();
  ms->outbuf = g_byte_array_new();
  g_queue_init(&ms->pending);
  ms->imei = g_strdup(MODEM_SIM_DEFAULT_IMEI);
  ms->rats = MODEM_SIM_RAT_GSM | MODEM_SIM_RAT_UMTS | MODEM_SIM_RAT_LTE;
  return ms;
}

ModemSim *modem_sim_new_port(ModemSim *first, ModemSimProtocol protocol)
{
  ModemSim *ms = modem_sim_new(protocol);

  g_ptr_array_unref(ms->slots);
  ms->slots = g_ptr_array_ref(first->slots);
  ms->max_channels = first->max_channels;
  ms->shares_cards = TRUE;
  return ms;
}

/* The knobs that change the cards themselves; see modem_sim_new_port(). */
static gboolean is_card_knob(const char *name)
{
  return g_str_equal(name, "fault") || g_str_equal(name, "clear-faults") ||
         g_str_equal(name, "max-channels") || g_str_equal(name, "apdu-log");
}

static void destroy_source(GSource **source)
{
  if (*source) {
    g_source_destroy(*source);
    g_source_unref(*source);
    *source = NULL;
  }
}

static void close_pty(ModemSim *ms)
{
  destroy_source(&ms->read_source);
  destroy_source(&ms->write_source);
  destroy_source(&ms->timer_source);
  if (ms->master_fd >= 0)
    close(ms->master_fd);
  if (ms->slave_fd >= 0)
    close(ms->slave_fd);
  ms->master_fd = -1;
  ms->slave_fd = -1;
  g_queue_clear_full(&ms->pending, (GDestroyNotify)pending_write_free);
  g_byte_array_set_size(ms->outbuf, 0);
}

void modem_sim_free(ModemSim *ms)
{
  if (!ms)
    return;
  close_pty(ms);
  if (ms->ops && ms->ops->finalize)
    ms->ops->finalize(ms);
  g_ptr_array_unref(ms->slots);
  g_byte_array_unref(ms->inbuf);
  g_byte_array_unref(ms->outbuf);
  if (ms->context)
    g_main_context_unref(ms->context);
  g_free(ms->port);
  g_free(ms->apdu_log);
  g_free(ms->imei);
  g_free(ms);
}

/* Slot 1 logs to PATH itself, slot N > 1 to "PATH.N", so that each file
 * reads as one card's conversation. */
static gboolean apply_apdu_log(ModemSim *ms, guint slot, GError **error)
{
  EuiccSim *card = modem_sim_get_card(ms, slot);
  g_autofree char *path = NULL;

  if (!card || !ms->apdu_log)
    return TRUE;
  path = slot == 1 ? g_strdup(ms->apdu_log) : g_strdup_printf("%s.%u", ms->apdu_log, slot);
  return euicc_sim_set_apdu_log(card, path, error);
}

gboolean modem_sim_add_slot(ModemSim *ms, const char *card_file, GError **error)
{
  ModemSimSlot *slot = g_new0(ModemSimSlot, 1);

  if (card_file) {
    slot->card = euicc_sim_new_from_file(card_file, error);
    if (!slot->card) {
      g_free(slot);
      return FALSE;
    }
    if (ms->max_channels)
      euicc_sim_set_max_channels(slot->card, ms->max_channels);
    /* The modem runs the REFRESH a switch asks for: the card resets. */
    euicc_sim_set_refresh_resets(slot->card, TRUE);
  }
  g_ptr_array_add(ms->slots, slot);
  return apply_apdu_log(ms, ms->slots->len, error);
}

guint modem_sim_get_n_slots(ModemSim *ms)
{
  return ms->slots->len;
}

EuiccSim *modem_sim_get_card(ModemSim *ms, guint slot)
{
  ModemSimSlot *s;

  if (slot < 1 || slot > ms->slots->len)
    return NULL;
  s = g_ptr_array_index(ms->slots, slot - 1);
  return s->card;
}

guint modem_sim_get_active_slot(ModemSim *ms)
{
  return ms->active_slot;
}

void modem_sim_set_active_slot(ModemSim *ms, guint slot)
{
  g_return_if_fail(slot >= 1 && slot <= ms->slots->len);
  ms->active_slot = slot;
}

const char *modem_sim_get_port(ModemSim *ms)
{
  return ms->port;
}

gboolean modem_sim_is_unplugged(ModemSim *ms)
{
  return ms->unplugged;
}

gpointer modem_sim_get_protocol_data(ModemSim *ms)
{
  return ms->protocol_data;
}

void modem_sim_set_protocol_data(ModemSim *ms, gpointer data)
{
  ms->protocol_data = data;
}

guint modem_sim_get_max_channels(ModemSim *ms)
{
  return ms->max_channels;
}

const char *modem_sim_get_imei(ModemSim *ms)
{
  return ms->imei;
}

guint modem_sim_get_rats(ModemSim *ms)
{
  return ms->rats;
}

static gboolean parse_rats(const char *value, guint *out, GError **error)
{
  static const struct {
    const char *name;
    ModemSimRat rat;
  } names[] = {
      {"gsm", MODEM_SIM_RAT_GSM},       {"umts", MODEM_SIM_RAT_UMTS},   {"lte", MODEM_SIM_RAT_LTE},
      {"nr-nsa", MODEM_SIM_RAT_NR_NSA}, {"nr-sa", MODEM_SIM_RAT_NR_SA},
  };
  g_auto(GStrv) parts = g_strsplit(value, ",", -1);
  guint rats = 0;

  for (guint i = 0; *value && parts[i]; i++) {
    gsize j;

    for (j = 0; j < G_N_ELEMENTS(names); j++) {
      if (g_str_equal(g_strstrip(parts[i]), names[j].name))
        break;
    }
    if (j == G_N_ELEMENTS(names)) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                  "rats: \"%s\" is none of gsm, umts, lte, nr-nsa, nr-sa", parts[i]);
      return FALSE;
    }
    rats |= names[j].rat;
  }
  *out = rats;
  return TRUE;
}

static gboolean parse_uint(const char *name, const char *value, guint *out, GError **error)
{
  guint64 v;

  if (!value || !g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT, &v, NULL)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "Option %s needs a number, got '%s'", name, value ? value : "");
    return FALSE;
  }
  *out = (guint)v;
  return TRUE;
}

gboolean modem_sim_set_option(ModemSim *ms, const char *option, GError **error)
{
  g_auto(GStrv) kv = g_strsplit(option, "=", 2);
  const char *name = kv[0];
  const char *value = kv[1];

  if (ms->shares_cards && is_card_knob(name))
    return TRUE;
  if (g_str_equal(name, "delay-ms"))
    return parse_uint(name, value, &ms->delay_ms, error);
  if (g_str_equal(name, "close-after"))
    return parse_uint(name, value, &ms->close_after, error);
  if (g_str_equal(name, "max-channels")) {
    if (!parse_uint(name, value, &ms->max_channels, error))
      return FALSE;
    for (guint i = 1; i <= ms->slots->len; i++) {
      EuiccSim *card = modem_sim_get_card(ms, i);

      if (card)
        euicc_sim_set_max_channels(card, ms->max_channels);
    }
    return TRUE;
  }
  if (g_str_equal(name, "apdu-log")) {
    if (!value || !*value) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "apdu-log needs a path");
      return FALSE;
    }
    g_free(ms->apdu_log);
    ms->apdu_log = g_strdup(value);
    for (guint i = 1; i <= ms->slots->len; i++)
      if (!apply_apdu_log(ms, i, error))
        return FALSE;
    return TRUE;
  }
  /* imei=DIGITS: what every protocol reports as the modem's IMEI; taken as
   * given (a test may want a malformed one), "imei=" alone for none. */
  if (g_str_equal(name, "imei") && value) {
    g_free(ms->imei);
    ms->imei = *value ? g_strdup(value) : NULL;
    return TRUE;
  }
  /* rats=LIST: what every protocol reports as the modem's radio technologies. */
  if (g_str_equal(name, "rats") && value)
    return parse_rats(value, &ms->rats, error);
  /* fault=SPEC: a card fault (euicc-sim --fault) for the card in every slot. */
  if (g_str_equal(name, "fault")) {
    for (guint i = 1; i <= ms->slots->len; i++) {
      EuiccSim *card = modem_sim_get_card(ms, i);

      if (card && !euicc_sim_add_fault(card, value ? value : "", error))
        return FALSE;
    }
    return TRUE;
  }
  /* clear-faults: forget every fault=SPEC given so far, on every card. */
  if (g_str_equal(name, "clear-faults") && !value) {
    for (guint i = 1; i <= ms->slots->len; i++) {
      EuiccSim *card = modem_sim_get_card(ms, i);

      if (card)
        euicc_sim_clear_faults(card);
    }
    return TRUE;
  }
  if (ms->ops && ms->ops->set_option)
    return ms->ops->set_option(ms, option, error);
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Unknown option '%s'", option);
  return FALSE;
}

static void flush_output(ModemSim *ms);

static gboolean on_writable(gint fd, GIOCondition cond, gpointer data)
{
  ModemSim *ms = data;

  g_source_unref(ms->write_source);
  ms->write_source = NULL;
  flush_output(ms);
  return G_SOURCE_REMOVE;
}

static gboolean on_timer(gpointer data)
{
  ModemSim *ms = data;

  g_source_unref(ms->timer_source);
  ms->timer_source = NULL;
  flush_output(ms);
  return G_SOURCE_REMOVE;
}

/* Moves the answers that are due into outbuf, writes what the pty takes and
 * arms a watch or timer for the rest. Order is kept because a later answer
 * never overtakes an earlier one that is still waiting. */
static void flush_output(ModemSim *ms)
{
  gint64 now = g_get_monotonic_time();
  PendingWrite *pw;

  if (ms->master_fd < 0)
    return;
  while ((pw = g_queue_peek_head(&ms->pending)) && pw->due_us <= now) {
    gsize len;
    const guint8 *p = g_bytes_get_data(pw->bytes, &len);

    g_byte_array_append(ms->outbuf, p, (guint)len);
    pending_write_free(g_queue_pop_head(&ms->pending));
  }

  while (ms->outbuf->len > 0) {
    ssize_t n = write(ms->master_fd, ms->outbuf->data, ms->outbuf->len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      break;
    if (n < 0) {
      g_debug("modem-sim: write to pty failed: %s", g_strerror(errno));
      g_byte_array_set_size(ms->outbuf, 0);
      break;
    }
    g_byte_array_remove_range(ms->outbuf, 0, (guint)n);
  }

  if (ms->outbuf->len > 0 && !ms->write_source) {
    ms->write_source = g_unix_fd_source_new(ms->master_fd, G_IO_OUT);
    g_source_set_callback(ms->write_source, G_SOURCE_FUNC(on_writable), ms, NULL);
    g_source_attach(ms->write_source, ms->context);
  }

  pw = g_queue_peek_head(&ms->pending);
  if (pw && !ms->timer_source) {
    guint ms_left = (guint)((pw->due_us - now + 999) / 1000);

    ms->timer_source = g_timeout_source_new(ms_left);
    g_source_set_callback(ms->timer_source, on_timer, ms, NULL);
    g_source_attach(ms->timer_source, ms->context);
  }
}

void modem_sim_write(ModemSim *ms, const guint8 *data, gsize len)
{
  PendingWrite *pw;
  guint delay = ms->delay_ms + ms->extra_delay_ms;

  ms->extra_delay_ms = 0;
  if (ms->unplugged || ms->master_fd < 0 || len == 0)
    return;
  pw = g_new0(PendingWrite, 1);
  pw->due_us = g_get_monotonic_time() + (gint64)delay * 1000;
  pw->bytes = g_bytes_new(data, len);
  g_queue_push_tail(&ms->pending, pw);
  flush_output(ms);
}

GBytes *modem_sim_transmit(ModemSim *ms, guint slot, const guint8 *apdu, gsize len)
{
  EuiccSim *card = modem_sim_get_card(ms, slot);
  GBytes *rsp;

  if (ms->unplugged || !card)
    return NULL;
  ms->n_apdus++;
  if (ms->close_after && ms->n_apdus >= ms->close_after) {
    modem_sim_unplug(ms);
    return NULL;
  }
  rsp = euicc_sim_transmit(card, apdu, len);
  ms->extra_delay_ms += euicc_sim_get_delay_ms(card);
  return rsp;
}

void modem_sim_unplug(ModemSim *ms)
{
  if (ms->unplugged)
    return;
  g_debug("modem-sim: unplugging %s", ms->port ? ms->port : "(not started)");
  ms->unplugged = TRUE;
  close_pty(ms);
}

static void feed_input(ModemSim *ms)
{
  while (ms->inbuf->len > 0 && !ms->unplugged) {
    gsize used = ms->ops->feed(ms, ms->inbuf->data, ms->inbuf->len);

    if (used == 0)
      break;
    g_byte_array_remove_range(ms->inbuf, 0, (guint)MIN(used, ms->inbuf->len));
  }
}

static gboolean on_readable(gint fd, GIOCondition cond, gpointer data)
{
  ModemSim *ms = data;
  guint8 buf[4096];
  ssize_t n;

  n = read(fd, buf, sizeof buf);
  if (n > 0) {
    g_byte_array_append(ms->inbuf, buf, (guint)n);
    feed_input(ms);
    /* feed_input() may have unplugged the modem and destroyed this source. */
    return ms->unplugged ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  /* EIO or HUP: a client closed the slave. Our own slave handle keeps the
   * pty alive, so this is transient; drop half-read input of the client
   * that left and keep serving the next one. */
  g_byte_array_set_size(ms->inbuf, 0);
  return G_SOURCE_CONTINUE;
}

gboolean modem_sim_start(ModemSim *ms, GError **error)
{
  struct termios tio;
  const char *name;

  if (!ms->ops) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                "This modem-sim was built without that protocol");
    return FALSE;
  }
  if (ms->master_fd >= 0 || ms->unplugged) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "The modem was started already");
    return FALSE;
  }

  ms->master_fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (ms->master_fd < 0 || grantpt(ms->master_fd) < 0 || unlockpt(ms->master_fd) < 0 ||
      !(name = ptsname(ms->master_fd))) {
    int e = errno;

    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "Cannot create a pty: %s",
                g_strerror(e));
    close_pty(ms);
    return FALSE;
  }
  ms->port = g_strdup(name);

  ms->slave_fd = open(ms->port, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (ms->slave_fd < 0 || tcgetattr(ms->slave_fd, &tio) < 0) {
    int e = errno;

    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "Cannot open %s: %s", ms->port,
                g_strerror(e));
    close_pty(ms);
    return FALSE;
  }
  /* Raw: QMUX and MBIM are binary, and AT clients expect no echo from the
   * line discipline (the modem echoes, or not, by itself). */
  cfmakeraw(&tio);
  tcsetattr(ms->slave_fd, TCSANOW, &tio);

  if (!g_unix_set_fd_nonblocking(ms->master_fd, TRUE, error)) {
    close_pty(ms);
    return FALSE;
  }

  ms->context = g_main_context_ref_thread_default();
  ms->read_source = g_unix_fd_source_new(ms->master_fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_callback(ms->read_source, G_SOURCE_FUNC(on_readable), ms, NULL);
  g_source_attach(ms->read_source, ms->context);
  return TRUE;
}
