/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The logical channel to one eUICC's ISD-R, and one ES10 command over it:
 * request DER in STORE DATA blocks out, response DER back (iso7816's async
 * driver over transport_transmit). The channel is opened once and kept; a
 * channel the card or modem dropped is opened again on the next command.
 */
#pragma once

#include <gio/gio.h>

#include "transport/iso7816.h"
#include "transport/transport.h"

G_BEGIN_DECLS

typedef struct {
  Transport *transport; /* borrowed: the modem outlives the channel */
  guint slot;
  GBytes *aid;   /* the ISD-R AID that answered on this card */
  guint channel; /* 0 when not open */
  guint stale;   /* a channel we stopped trusting, closed before the next open */
  Iso7816Limits limits;
} CardChannel;

void card_channel_init(CardChannel *ch, Transport *t, guint slot, GBytes *aid, guint channel);
void card_channel_clear(CardChannel *ch);

/* Sends one ES10 request; returns the response DER. */
void card_call(CardChannel *ch, GBytes *request, GCancellable *cancellable, GAsyncReadyCallback cb,
               gpointer user_data);
GBytes *card_call_finish(GAsyncResult *res, GError **error);

/*
 * Closes the channel (ignoring a channel the card already forgot) and opens a
 * new one: after EnableProfile / DisableProfile the card may reset and take
 * its logical channels with it (SGP.22 3.2.1, 5.9.1: REFRESH in UICC Reset
 * mode).
 */
void card_reopen(CardChannel *ch, GCancellable *cancellable, GAsyncReadyCallback cb,
                 gpointer user_data);
gboolean card_reopen_finish(GAsyncResult *res, GError **error);

/*
 * Opens a new channel without closing the old one: after a switch with
 * refreshFlag set the card resets (SGP.22 5.7.16/5.7.17) and takes its
 * logical channels with it. Should the card have kept the old one (no free
 * channel left), it is closed and the open tried again. Finish with
 * card_reopen_finish().
 */
void card_reopen_after_reset(CardChannel *ch, GCancellable *cancellable, GAsyncReadyCallback cb,
                             gpointer user_data);

/* Closes the channel if it is open; errors are logged, never returned. */
void card_close(CardChannel *ch, GCancellable *cancellable, GAsyncReadyCallback cb,
                gpointer user_data);
gboolean card_close_finish(GAsyncResult *res, GError **error);

G_END_DECLS
