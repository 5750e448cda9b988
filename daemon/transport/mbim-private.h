/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the two files of the MBIM backend share (mbim.c: the port, its
 * requests, indications and readiness; mbim-card.c: slots, channels, APDUs):
 * the transport's state and the helpers both use.
 */
#pragma once

#include "transport/transport.h"

#include <libmbim-glib.h>

#define MBIM_DEFAULT_TIMEOUT_MS 10000
/* See above: not ModemManager's group 1. */
#define MBIM_CHANNEL_GROUP 9
/*
 * SELECT P2 '00': first or only occurrence, FCI returned, the one form the
 * GlobalPlatform Card Specification (SELECT, 11.9.2) requires a security
 * domain such as the ISD-R to accept. ModemManager sends '04' (FCP, ETSI
 * TS 102 221 11.1.1.2), which a strictly GlobalPlatform card (and our card
 * model) refuses with 6A86.
 */
#define MBIM_SELECT_P2 0x00
/* How often to ask whether the card is ready after a switch or a reset, and
 * for how many request timeouts at most. */
#define MBIM_READY_POLL_MS 200
#define MBIM_READY_TIMEOUTS 3

/* MS UICC low level access status codes (Microsoft "MB low level UICC
 * access"), which libmbim 1.28 has no names for. */
#define MBIM_STATUS_MS_NO_LOGICAL_CHANNELS 0x87430001u
#define MBIM_STATUS_MS_SELECT_FAILED 0x87430002u
#define MBIM_STATUS_MS_INVALID_LOGICAL_CHANNEL 0x87430003u

#define SW_OK 0x9000

/*
 * What outlives the Transport: the device and the requests in flight. Each
 * request keeps a reference, so that a late answer from libmbim never
 * touches a freed transport; t is NULL once the transport is finalized.
 */
typedef struct {
  Transport *t;
  MbimDevice *device;
  GList *requests; /* Request*, in flight */
  GList *waiters;  /* ReadyWait*, between two polls or polling */
  gulong removed_id;
  gulong indicate_id;
} MbimPort;

typedef struct {
  Transport parent;
  MbimPort *port;
  TransportTristate slot_ext; /* MS Basic Connect Extensions answered */
  guint active_slot;          /* 1-based */
} MbimTransport;

static inline MbimPort *port_ref(MbimPort *port)
{
  return g_atomic_rc_box_acquire(port);
}

/* Stops listening to the device (removal, indications). */
static inline void port_disconnect(MbimPort *port)
{
  if (port->removed_id)
    g_signal_handler_disconnect(port->device, port->removed_id);
  if (port->indicate_id)
    g_signal_handler_disconnect(port->device, port->indicate_id);
  port->removed_id = port->indicate_id = 0;
}

static inline void port_clear(MbimPort *port)
{
  if (port->device) {
    port_disconnect(port);
    g_object_unref(port->device);
  }
}

static inline void port_unref(MbimPort *port)
{
  g_atomic_rc_box_release_full(port, (GDestroyNotify)port_clear);
}

static inline guint timeout_ms(MbimTransport *mt)
{
  return mt->parent.timeout_ms ? mt->parent.timeout_ms : MBIM_DEFAULT_TIMEOUT_MS;
}

void mbimt_fail_task(GTask *task, GError *error);
gboolean mbimt_mappings_parse_active(MbimMessage *rsp, guint *active, GError **error);
void mbimt_ready_wait(MbimTransport *mt, GCancellable *cancellable, GAsyncReadyCallback cb,
                      gpointer data);
gboolean mbimt_ready_wait_finish(GAsyncResult *res, GError **error);
MbimMessage *mbimt_request_finish(GAsyncResult *res, guint32 *status, GError **error);
MbimMessage *mbimt_request_finish_ok(GAsyncResult *res, const char *what, GError **error);
void mbimt_request_send(MbimTransport *mt, MbimMessage *msg, GCancellable *cancellable,
                        GAsyncReadyCallback cb, gpointer data);
void mbimt_set_parse_error(GError **error, const char *what, GError *inner);
void mbimt_set_status_error(GError **error, guint32 status, const char *what);
void mbimt_close_channel(Transport *t, guint slot, guint channel, GCancellable *cancellable,
                         GAsyncReadyCallback cb, gpointer data);
void mbimt_list_slots(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                      gpointer data);
GPtrArray *mbimt_list_slots_finish(Transport *t, GAsyncResult *res, GError **error);
void mbimt_open_channel(Transport *t, guint slot, GBytes *aid, GCancellable *cancellable,
                        GAsyncReadyCallback cb, gpointer data);
guint mbimt_open_channel_finish(Transport *t, GAsyncResult *res, GError **error);
void mbimt_reload_sim(Transport *t, guint slot, GCancellable *cancellable, GAsyncReadyCallback cb,
                      gpointer data);
void mbimt_switch_slot(Transport *t, guint slot, GCancellable *cancellable, GAsyncReadyCallback cb,
                       gpointer data);
void mbimt_transmit(Transport *t, guint slot, guint channel, GBytes *apdu,
                    GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data);
GBytes *mbimt_transmit_finish(Transport *t, GAsyncResult *res, GError **error);
