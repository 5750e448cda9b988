/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mutual authentication a profile download (SGP.22 3.1.2) and an SM-DS
 * event retrieval (3.6.3) both begin with: the modem's IMEI and radio
 * technologies, GetEUICCInfo1, GetEUICCChallenge, initiateAuthentication
 * (ES9+ or ES11), AuthenticateServer on the card and, when the card refuses
 * the server, that refusal sent back in authenticateClient (3.0.1).
 *
 * Not a step machine of its own: each function is one step of the caller's
 * machine (or the check of that step's answer), so that the caller's
 * "(n/LAST)" log still names every exchange and its cleanup steps stay its
 * own. The state lives in the caller's context, an Authentication field. A
 * card command comes back to the caller's step function with step+1; a
 * server call comes back through the callback given, which hands the
 * result to the matching *_finish().
 */
#pragma once

#include "service/operation.h"
#include "smdp/es9p.h"

G_BEGIN_DECLS

typedef enum {
  AUTHENTICATE_SMDP, /* ES9+, for a download */
  AUTHENTICATE_SMDS, /* ES11, for event retrieval */
} AuthenticateServer;

typedef struct {
  AuthenticateServer server;
  const char *address; /* the server's; borrowed from the operation */
  Es9pClient *client;
  GError *net_error; /* of the last server call */
  gchar *imei;
  Es10DeviceInfo device;
  GBytes *info1;
  GBytes *challenge;
  Es9pAuthentication *auth; /* the server's initiateAuthentication answer */
  GBytes *server_response;  /* the card's AuthenticateServerResponse, for authenticateClient */
  GBytes *refusal;          /* ... when it was an AuthenticateResponseError */
  GBytes *transaction_id;   /* the card's, once it authenticated the server */
} Authentication;

void authenticate_init(Authentication *a, AuthenticateServer server, const char *address);
void authenticate_clear(Authentication *a);

/* The HTTPS client, with the eUICC's settings; FALSE after euicc_op_fail. */
gboolean authenticate_open(GTask *task, Authentication *a);

/* Reads the modem's IMEI and, with it, its radio technologies. */
void authenticate_read_device(GTask *task, Authentication *a, GAsyncReadyCallback cb);
void authenticate_read_device_finish(GTask *task, Authentication *a, GAsyncResult *res);
/* DeviceInfo (SGP.22 5.7.13) from what the modem gave; never fails. */
void authenticate_read_device_done(GTask *task, Authentication *a);

void authenticate_get_info1(GTask *task);
/* FALSE after euicc_op_fail. */
gboolean authenticate_get_info1_done(GTask *task, Authentication *a);
void authenticate_get_challenge(GTask *task);
gboolean authenticate_get_challenge_done(GTask *task, Authentication *a);

/* initiateAuthentication with the card's challenge and EUICCInfo1. */
void authenticate_initiate(GTask *task, Authentication *a, GCancellable *cancellable,
                           GAsyncReadyCallback cb);
/* a->auth, or NULL and a->net_error. */
void authenticate_initiate_finish(Authentication *a, GAsyncResult *res);

/* AuthenticateServer on the card (matching_id: the SM-DP+'s, NULL for an
 * SM-DS); an encoding failure is the caller's (euicc_op_fail_invalid_args). */
void authenticate_server(GTask *task, Authentication *a, const char *matching_id);
/* The card's answer: a->transaction_id and a->server_response once it
 * accepted the server; otherwise a->refusal kept, FALSE after
 * euicc_op_fail. */
gboolean authenticate_server_done(GTask *task, Authentication *a);

/* A cleanup step: the card's refusal to the server, over the operation's
 * own I/O (the caller may have cancelled). FALSE: nothing to report, go on. */
gboolean authenticate_report_refusal(GTask *task, Authentication *a, GAsyncReadyCallback cb);
/* Logs what the server said; the server's error is no failure. */
void authenticate_report_refusal_finish(GTask *task, Authentication *a, GAsyncResult *res);

G_END_DECLS
