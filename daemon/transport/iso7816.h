/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The APDU layer every transport shares (ISO/IEC 7816-4, ETSI TS 102 221,
 * GlobalPlatform Card Specification, SGP.22 5.7.2): short command APDUs, the
 * CLA byte of each logical channel, STORE DATA segmentation of an ES10
 * request, and reassembly of the response across 61xx / 6Cxx.
 *
 * The core, Iso7816Exchange, does no I/O: it says which command APDU to send
 * next and is fed the card's answer, until it is finished. Two drivers run it:
 * a synchronous one over any "exchange one APDU" function (a card model, a
 * test script), and an asynchronous one over transport_transmit().
 */
#pragma once

#include <gio/gio.h>

#include "transport/transport.h"

G_BEGIN_DECLS

#define ISO7816_ERROR (iso7816_error_quark())
GQuark iso7816_error_quark(void);

typedef enum {
  ISO7816_ERROR_INVALID_ARGUMENT,   /* the command does not fit a short APDU, bad channel ... */
  ISO7816_ERROR_MALFORMED_RESPONSE, /* a response APDU shorter than SW1 SW2 */
  ISO7816_ERROR_RESPONSE_TOO_LARGE, /* the reassembled response passed the cap */
  ISO7816_ERROR_PROTOCOL,           /* the card broke the 61xx/6Cxx/MANAGE CHANNEL rules */
  ISO7816_ERROR_NO_RESPONSE,        /* the exchange function gave nothing back */
} Iso7816Error;

/*
 * A card that answered with a status word other than 9000 / 91xx. The error
 * code IS the status word (0x6A88, 0x6985, ...), so that the layer above can
 * map it: g_error_matches(error, ISO7816_STATUS_ERROR, 0x6A88).
 */
#define ISO7816_STATUS_ERROR (iso7816_status_error_quark())
GQuark iso7816_status_error_quark(void);

#define ISO7816_MAX_CHANNEL 19
#define ISO7816_LE_NONE 0  /* no Le field (cases 1 and 3) */
#define ISO7816_LE_MAX 256 /* encoded as 00 */
#define ISO7816_MAX_LC 255
#define ISO7816_SEGMENT_MIN 6
#define ISO7816_SEGMENT_DEFAULT 255
#define ISO7816_MAX_RESPONSE_DEFAULT (64 * 1024)

#define ISO7816_SW_OK 0x9000

typedef enum {
  ISO7816_CLA_INTERINDUSTRY, /* ISO 7816-4: SELECT, GET RESPONSE, MANAGE CHANNEL */
  ISO7816_CLA_PROPRIETARY,   /* GlobalPlatform: STORE DATA */
} Iso7816ClaClass;

typedef struct {
  guint segment_size; /* STORE DATA block size, ISO7816_SEGMENT_MIN..255; 0 = 255 */
  gsize max_response; /* cap on one reassembled response; 0 = 64 KiB */
} Iso7816Limits;

/* A reassembled response: every data byte the card gave, and its last status word. */
typedef struct {
  GBytes *data; /* never NULL; empty when the card sent no data */
  guint16 sw;
} Iso7816Response;

void iso7816_response_free(Iso7816Response *response);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Iso7816Response, iso7816_response_free)

/* 9000, or 91xx (SGP.22 / TS 102 221: success, with a proactive command pending). */
gboolean iso7816_sw_is_success(guint16 sw);
/* What ISO 7816-4 calls the status word, e.g. "referenced data not found". */
const char *iso7816_sw_to_string(guint16 sw);

/* The CLA byte for a logical channel 0..19 (ISO 7816-4 5.4.1). */
gboolean iso7816_cla_for_channel(guint channel, Iso7816ClaClass cla_class, guint8 *cla,
                                 GError **error);
/* The logical channel a CLA byte names. */
guint iso7816_cla_get_channel(guint8 cla);

/*
 * Builds a short command APDU, cases 1 to 4: data of 0..255 bytes (Lc), and
 * le ISO7816_LE_NONE or 1..256 (256 is sent as 00).
 */
GBytes *iso7816_apdu_build(guint8 cla, guint8 ins, guint8 p1, guint8 p2, const guint8 *data,
                           gsize data_len, guint le, GError **error);

/* ---- the sans-IO core ---- */

typedef struct _Iso7816Exchange Iso7816Exchange;

/* One command APDU (addressed to the channel); its response is reassembled. */
Iso7816Exchange *iso7816_exchange_new_transmit(guint channel, GBytes *apdu,
                                               const Iso7816Limits *limits, GError **error);
/* An ES10 request sent as STORE DATA blocks (SGP.22 5.7.2) on the channel. */
Iso7816Exchange *iso7816_exchange_new_store_data(guint channel, GBytes *request,
                                                 const Iso7816Limits *limits, GError **error);
/*
 * MANAGE CHANNEL open on the basic channel, then SELECT of the AID on the new
 * channel; a channel whose SELECT failed is closed again.
 */
Iso7816Exchange *iso7816_exchange_new_open_channel(GBytes *aid, const Iso7816Limits *limits,
                                                   GError **error);
/* MANAGE CHANNEL close of a channel 1..19. */
Iso7816Exchange *iso7816_exchange_new_close_channel(guint channel, GError **error);
void iso7816_exchange_free(Iso7816Exchange *ex);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Iso7816Exchange, iso7816_exchange_free)

/*
 * The command APDU to send next and the channel it goes on; NULL when the
 * exchange is finished. Each command returned must be answered by exactly one
 * iso7816_exchange_feed() before the next call.
 */
GBytes *iso7816_exchange_next(Iso7816Exchange *ex, guint *channel);
/* The response APDU (data, SW1, SW2) to the last command. */
void iso7816_exchange_feed(Iso7816Exchange *ex, GBytes *response);
/* Ends the exchange with an error from below (the transport failed). */
void iso7816_exchange_abort(Iso7816Exchange *ex, GError *error);
gboolean iso7816_exchange_is_finished(Iso7816Exchange *ex);
/* Number of command APDUs handed out so far. */
guint iso7816_exchange_get_command_count(Iso7816Exchange *ex);

/*
 * The outcome once finished. For a transmit exchange a card status is not an
 * error; for STORE DATA, open and close it is (ISO7816_STATUS_ERROR, or
 * TRANSPORT_ERROR_CHANNEL_REFUSED / _AID_NOT_FOUND when opening a channel).
 */
gboolean iso7816_exchange_get_result(Iso7816Exchange *ex, GError **error);
Iso7816Response *iso7816_exchange_steal_response(Iso7816Exchange *ex);
/* The channel an open exchange opened (1..19), 0 before that. */
guint iso7816_exchange_get_channel(Iso7816Exchange *ex);

/* ---- the synchronous driver ---- */

/* Sends one command APDU and returns the response APDU (data, SW1, SW2). */
typedef GBytes *(*Iso7816TransmitFunc)(gpointer user_data, GBytes *command, GError **error);

/* Runs the exchange to its end; returns iso7816_exchange_get_result(). */
gboolean iso7816_exchange_run_sync(Iso7816Exchange *ex, Iso7816TransmitFunc transmit,
                                   gpointer user_data, GError **error);

Iso7816Response *iso7816_transmit_sync(Iso7816TransmitFunc transmit, gpointer user_data,
                                       guint channel, GBytes *apdu, const Iso7816Limits *limits,
                                       GError **error);
/* Sends an ES10 request DER and returns the response DER. */
GBytes *iso7816_store_data_sync(Iso7816TransmitFunc transmit, gpointer user_data, guint channel,
                                GBytes *request, const Iso7816Limits *limits, GError **error);
/* Returns the channel opened with the AID selected on it, 0 on error. */
guint iso7816_open_channel_sync(Iso7816TransmitFunc transmit, gpointer user_data, GBytes *aid,
                                GError **error);
gboolean iso7816_close_channel_sync(Iso7816TransmitFunc transmit, gpointer user_data, guint channel,
                                    GError **error);

/* ---- the asynchronous driver, over transport_transmit() on one slot ---- */

/* Runs the exchange (taking ownership of it) to its end. */
void iso7816_exchange_run_async(Iso7816Exchange *ex, Transport *t, guint slot,
                                GCancellable *cancellable, GAsyncReadyCallback cb,
                                gpointer user_data);
/*
 * Gives the finished exchange back (its outcome still to be read with
 * iso7816_exchange_get_result()), or NULL when the transport failed or the
 * call was cancelled.
 */
Iso7816Exchange *iso7816_exchange_run_finish(GAsyncResult *res, GError **error);

void iso7816_transmit_async(Transport *t, guint slot, guint channel, GBytes *apdu,
                            const Iso7816Limits *limits, GCancellable *cancellable,
                            GAsyncReadyCallback cb, gpointer user_data);
Iso7816Response *iso7816_transmit_finish(GAsyncResult *res, GError **error);

void iso7816_store_data_async(Transport *t, guint slot, guint channel, GBytes *request,
                              const Iso7816Limits *limits, GCancellable *cancellable,
                              GAsyncReadyCallback cb, gpointer user_data);
GBytes *iso7816_store_data_finish(GAsyncResult *res, GError **error);

void iso7816_open_channel_async(Transport *t, guint slot, GBytes *aid, GCancellable *cancellable,
                                GAsyncReadyCallback cb, gpointer user_data);
guint iso7816_open_channel_finish(GAsyncResult *res, GError **error);

void iso7816_close_channel_async(Transport *t, guint slot, guint channel, GCancellable *cancellable,
                                 GAsyncReadyCallback cb, gpointer user_data);
gboolean iso7816_close_channel_finish(GAsyncResult *res, GError **error);

G_END_DECLS
