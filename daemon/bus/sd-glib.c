/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An sd-bus connection as a GSource, so that the daemon has one main loop.
 * The source polls the connection's fd for the events sd-bus asks for and
 * wakes at the deadline sd-bus names (a pending call's timeout); with
 * nothing queued and no call in flight it never wakes.
 */
#include <poll.h>

#include "bus-private.h"

typedef struct {
  GSource source;
  sd_bus *bus;
  gpointer fd_tag;
  GIOCondition events; /* what the fd is polled for now */
} BusSource;

static GIOCondition poll_to_condition(int events)
{
  GIOCondition cond = 0;

  if (events & POLLIN)
    cond |= G_IO_IN;
  if (events & POLLOUT)
    cond |= G_IO_OUT;
  return cond;
}

static gboolean bus_source_prepare(GSource *source, gint *timeout_ms)
{
  BusSource *s = (BusSource *)source;
  uint64_t until = UINT64_MAX;
  int events;
  gint64 now;

  *timeout_ms = -1;
  events = sd_bus_get_events(s->bus);
  if (events < 0)
    return TRUE; /* closed: dispatch removes the source */
  /* Changing the poll set wakes the main context up: only do it when
   * sd-bus wants something else, or an idle daemon would spin. */
  if (poll_to_condition(events) != s->events) {
    s->events = poll_to_condition(events);
    g_source_modify_unix_fd(source, s->fd_tag, s->events);
  }

  /* An absolute CLOCK_MONOTONIC time in µs, 0 when messages are already
   * queued, UINT64_MAX when nothing is due. */
  if (sd_bus_get_timeout(s->bus, &until) < 0 || until == UINT64_MAX)
    return FALSE;
  now = g_get_monotonic_time();
  if (until <= (uint64_t)now) {
    *timeout_ms = 0;
    return TRUE;
  }
  *timeout_ms = (gint)MIN((until - (uint64_t)now + 999) / 1000, (uint64_t)G_MAXINT);
  return FALSE;
}

static gboolean bus_source_check(GSource *source)
{
  BusSource *s = (BusSource *)source;
  uint64_t until = UINT64_MAX;

  if (g_source_query_unix_fd(source, s->fd_tag) != 0)
    return TRUE;
  if (sd_bus_get_timeout(s->bus, &until) < 0)
    return TRUE;
  return until != UINT64_MAX && until <= (uint64_t)g_get_monotonic_time();
}

static gboolean bus_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
  BusSource *s = (BusSource *)source;
  int r;

  /* sd_bus_process() handles one message per call; drain what is ready. */
  do {
    r = sd_bus_process(s->bus, NULL);
  } while (r > 0);
  if (r < 0 && r != -ECONNRESET && r != -ENOTCONN)
    g_debug("bus: processing failed: %s", g_strerror(-r));

  /* Once the connection is closed sd-bus has closed the fd too: polling it
   * further would spin. The Disconnected match has told the owner. */
  if (sd_bus_is_open(s->bus) <= 0) {
    g_debug("bus: connection closed, detaching it from the main loop");
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

static void bus_source_finalize(GSource *source)
{
  BusSource *s = (BusSource *)source;

  sd_bus_unref(s->bus);
}

static GSourceFuncs bus_source_funcs = {
    .prepare = bus_source_prepare,
    .check = bus_source_check,
    .dispatch = bus_source_dispatch,
    .finalize = bus_source_finalize,
};

GSource *bus_source_new(sd_bus *bus)
{
  GSource *source = g_source_new(&bus_source_funcs, sizeof(BusSource));
  BusSource *s = (BusSource *)source;
  int fd = sd_bus_get_fd(bus);

  g_return_val_if_fail(fd >= 0, NULL);
  s->bus = sd_bus_ref(bus);
  s->events = G_IO_IN;
  s->fd_tag = g_source_add_unix_fd(source, fd, s->events);
  g_source_set_name(source, "sd-bus");
  return source;
}
