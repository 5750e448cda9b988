/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the files of the QMI backend share (qmi.c: the port, the requests
 * and their errors; qmi-card.c: slots, channels, APDUs; qmi-dms.c: the
 * modem's IMEI and radio technologies): the transport's
 * state, one UIM request in flight, and the helpers both use.
 */
#pragma once

#include "config.h"

#include <libqmi-glib.h>
#include <string.h>

#include "transport/transport.h"

#define UIM_RESET 0x0000
#define UIM_GET_CARD_STATUS 0x002F
#define UIM_POWER_OFF_SIM 0x0030
#define UIM_POWER_ON_SIM 0x0031
#define UIM_SEND_APDU 0x003B
#define UIM_LOGICAL_CHANNEL 0x003F
#define UIM_OPEN_LOGICAL_CHANNEL 0x0042
#define UIM_SWITCH_SLOT 0x0046
#define UIM_GET_SLOT_STATUS 0x0047
/* DMS: the messages esimd sends there (qmi-dms.c). Their ids differ from
 * every UIM id above, so that one name table serves both services. */
#define DMS_GET_CAPABILITIES 0x0020
#define DMS_GET_IDS 0x0025

#define DEFAULT_TIMEOUT_MS 10000
/* How often, and how many times, to look for the card after a slot switch
 * or a power cycle: modems take from a few hundred ms to seconds. */
#define CARD_POLL_INTERVAL_MS 250
#define CARD_POLL_ATTEMPTS 40

typedef struct _QmiTransport QmiTransport;

/* One UIM request in flight. It outlives its GTask when the caller gave up
 * (timeout, cancel) so that a late answer can still be cleaned up after. */
typedef struct {
  QmiTransport *self; /* NULL once the transport is finalized */
  GTask *task;        /* NULL once answered */
  guint16 msgid;
  guint8 logical_slot;
  GMainContext *context;
  GCancellable *qmi_cancellable; /* cancelled when the transport closes */
  GCancellable *cancellable;     /* the caller's */
  gulong cancel_id;
  GSource *timer;
  GSource *cancel_idle;
} Request;

struct _QmiTransport {
  Transport parent;
  QmiDevice *device;
  QmiClient *uim;
  QmiClient *dms; /* allocated on the first DMS read, released on close */
  gulong removed_id;
  GList *requests; /* Request*, in flight */
  TransportTristate has_slot_status;
  /* Logical slot per physical slot (index slot - 1), 0 when inactive; empty
   * until the modem told us. */
  GArray *logical_slots;
#ifdef HAVE_QRTR
  QrtrBus *bus;
#endif
};

static const char tag_request;
static const char tag_open;
static const char tag_list_slots;
static const char tag_open_channel;
static const char tag_transmit;
static const char tag_close_channel;
static const char tag_switch_slot;
static const char tag_reload_sim;
static const char tag_close;
static const char tag_get_imei;
static const char tag_get_rats;

static inline QmiTransport *qmi_transport(Transport *t)
{
  return (QmiTransport *)t;
}

static inline guint timeout_ms(QmiTransport *self)
{
  return self->parent.timeout_ms ? self->parent.timeout_ms : DEFAULT_TIMEOUT_MS;
}

/* libqmi counts in whole seconds; it only cleans up after our own timer
 * has already answered the caller. */
static inline guint qmi_timeout_s(QmiTransport *self)
{
  return (timeout_ms(self) + 999) / 1000 + 1;
}

static inline const char *qmi_request_name(guint16 msgid)
{
  switch (msgid) {
  case UIM_RESET:
    return "Reset";
  case UIM_GET_CARD_STATUS:
    return "Get Card Status";
  case UIM_POWER_OFF_SIM:
    return "Power Off SIM";
  case UIM_POWER_ON_SIM:
    return "Power On SIM";
  case UIM_SEND_APDU:
    return "Send APDU";
  case UIM_LOGICAL_CHANNEL:
    return "Logical Channel";
  case UIM_OPEN_LOGICAL_CHANNEL:
    return "Open Logical Channel";
  case UIM_SWITCH_SLOT:
    return "Switch Slot";
  case UIM_GET_SLOT_STATUS:
    return "Get Slot Status";
  case DMS_GET_IDS:
    return "DMS Get IDs";
  case DMS_GET_CAPABILITIES:
    return "DMS Get Capabilities";
  }
  return "UIM request";
}

void qmit_close_channel(Transport *t, guint slot, guint channel, GCancellable *cancellable,
                        GAsyncReadyCallback cb, gpointer data);
void qmit_list_slots(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                     gpointer data);
GPtrArray *qmit_list_slots_finish(Transport *t, GAsyncResult *res, GError **error);
void qmit_open_channel(Transport *t, guint slot, GBytes *aid, GCancellable *cancellable,
                       GAsyncReadyCallback cb, gpointer data);
guint qmit_open_channel_finish(Transport *t, GAsyncResult *res, GError **error);
void qmit_reload_sim(Transport *t, guint slot, GCancellable *cancellable, GAsyncReadyCallback cb,
                     gpointer data);
void qmit_switch_slot(Transport *t, guint slot, GCancellable *cancellable, GAsyncReadyCallback cb,
                      gpointer data);
void qmit_transmit(Transport *t, guint slot, guint channel, GBytes *apdu, GCancellable *cancellable,
                   GAsyncReadyCallback cb, gpointer data);
GBytes *qmit_transmit_finish(Transport *t, GAsyncResult *res, GError **error);
void qmit_destroy_source(GSource **source);
gboolean qmit_logical_slot_for(QmiTransport *self, guint slot, guint8 *logical, GError **error);
GError *qmit_map_qmi_error(guint16 msgid, guint16 code);
GBytes *qmit_read_array_tlv(QmiMessage *msg, guint8 type, gboolean prefix16);
guint8 qmit_read_u8_tlv(QmiMessage *msg, guint8 type, gboolean *found);
gboolean qmit_response_get_result(QmiMessage *msg, guint16 msgid, guint16 *code, GError **error);
void qmit_send_request(QmiTransport *self, QmiMessage *msg, guint8 logical_slot,
                       GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data);
QmiMessage *qmit_send_request_finish(GAsyncResult *res, GError **error);
QmiMessage *qmit_send_request_finish_ok(GAsyncResult *res, guint16 msgid, guint16 allowed,
                                        GError **error);
QmiMessage *qmit_uim_message_new(QmiTransport *self, guint16 msgid);
gboolean qmit_write_array_tlv(QmiMessage *msg, guint8 type, gboolean prefix16, const guint8 *data,
                              gsize len, GError **error);
gboolean qmit_write_u8_tlv(QmiMessage *msg, guint8 type, guint8 value, GError **error);
void qmit_get_imei(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data);
gchar *qmit_get_imei_finish(Transport *t, GAsyncResult *res, GError **error);
void qmit_get_rats(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data);
gboolean qmit_get_rats_finish(Transport *t, GAsyncResult *res, guint *rats, GError **error);
