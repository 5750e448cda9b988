/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ES9+ (SGP.22 5.6, 6.5): the HTTPS interface between the LPA and an SM-DP+
 * -- handleNotification and the functions of the profile download (3.1.3)
 * -- and ES11 (5.8, 6.5.2.x), the same binding towards an SM-DS. Every
 * function is one POST of a JSON object through one request path: the
 * values travel as base64 of the whole DER element (tag included), exactly
 * as the eUICC made them or will take them; nothing here decodes ASN.1
 * beyond checking that each value is one element of the expected tag.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define ES9P_ERROR (es9p_error_quark())
GQuark es9p_error_quark(void);

typedef enum {
  ES9P_ERROR_UNREACHABLE,       /* no answer: DNS, connection, TLS (an untrusted
                                 * certificate too), a server error (5xx), a
                                 * connection cut before the whole answer came */
  ES9P_ERROR_REJECTED,          /* the server answered and refused; when it said
                                 * why (SGP.22 6.5.1.4) the message carries
                                 * "(subject S, reason R: text)" */
  ES9P_ERROR_INVALID,           /* the address, the arguments or the CA file cannot be used */
  ES9P_ERROR_CONFIRMATION_CODE, /* the SM-DP+ wants a (right) confirmation code:
                                 * subject 8.2.7, reason 2.2 (missing), 3.8 (wrong,
                                 * may be tried again) or 6.4 (wrong, no more tries) */
  ES9P_ERROR_PROTOCOL,          /* the server answered what SGP.22 does not allow: not
                                 * JSON, a member missing or malformed, an answer
                                 * over the size cap */
} Es9pError;

/*
 * The statusCodeData of a refusal (SGP.22 6.5.1.4), taken back from an
 * REJECTED or CONFIRMATION_CODE error: TRUE and the two codes ("8.2.6",
 * "3.8"; free them) when the server gave them.
 */
gboolean es9p_error_get_status(const GError *error, gchar **subject, gchar **reason);

typedef struct _Es9pClient Es9pClient;

typedef struct {
  /* PEM CA certificates trusted besides the system store; NULL: none. */
  const char *ca_file;
  /* A directory whose *.pem and *.crt files are trusted the same way (where
   * the GSMA CI root certificates go); NULL, or a missing directory: none. */
  const char *ca_dir;
  /* "host:port" every connection goes to instead of the SM-DP+'s own host
   * (tests point an SM-DP+ name at 127.0.0.1 with it); NULL: off. */
  const char *host_override;
  guint timeout_s; /* per request; 0: 30 s */
  /* Largest answer body accepted, in bytes; 0: the default of each function
   * (1 MiB for a Bound Profile Package, 64 KiB for the others). */
  gsize max_response;
} Es9pConfig;

Es9pClient *es9p_client_new(const Es9pConfig *config, GError **error);
void es9p_client_free(Es9pClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es9pClient, es9p_client_free)

/*
 * POSTs the notification to https://ADDRESS/gsma/rsp2/es9plus/handleNotification
 * (SGP.22 6.6.2.4 / 6.5.2.4). Succeeds on the SM-DP+'s "204 No Content" (or
 * a 200 whose status is Executed-Success).
 */
void es9p_handle_notification(Es9pClient *client, const char *address, GBytes *pending_notification,
                              GCancellable *cancellable, GAsyncReadyCallback cb,
                              gpointer user_data);
gboolean es9p_handle_notification_finish(Es9pClient *client, GAsyncResult *res, GError **error);

/* The JSON body of a handleNotification request (for tests and logs). */
gchar *es9p_build_handle_notification(GBytes *pending_notification, const char *call_id);

/* What initiateAuthentication answers (SGP.22 6.5.2.6; ES11 the same). */
typedef struct {
  gchar *transaction_id;            /* as the server sent it (hex) */
  GBytes *server_signed1;           /* DER of each element, whole, tag included: 30 */
  GBytes *server_signature1;        /* 5F37 */
  GBytes *euicc_ci_pkid_to_be_used; /* 04 */
  GBytes *server_certificate;       /* 30 */
} Es9pAuthentication;

void es9p_authentication_free(Es9pAuthentication *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es9pAuthentication, es9p_authentication_free)

/*
 * ES9+ initiateAuthentication (SGP.22 6.5.2.6): the eUICC's challenge (the
 * 16 bytes of GetEuiccChallenge), its EUICCInfo1 (BF20 DER) and the SM-DP+
 * address the request is meant for.
 */
void es9p_initiate_authentication(Es9pClient *client, const char *address, GBytes *euicc_challenge,
                                  GBytes *euicc_info1, GCancellable *cancellable,
                                  GAsyncReadyCallback cb, gpointer user_data);
Es9pAuthentication *es9p_initiate_authentication_finish(Es9pClient *client, GAsyncResult *res,
                                                        GError **error);

/* What authenticateClient answers (SGP.22 6.5.2.7). */
typedef struct {
  gchar *transaction_id;
  GBytes *profile_metadata; /* StoreMetadataRequest DER (BF25) */
  GBytes *smdp_signed2;     /* 30 */
  GBytes *smdp_signature2;  /* 5F37 */
  GBytes *smdp_certificate; /* 30 */
} Es9pClientAuthentication;

void es9p_client_authentication_free(Es9pClientAuthentication *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es9pClientAuthentication, es9p_client_authentication_free)

/* ES9+ authenticateClient (SGP.22 6.5.2.7): the card's AuthenticateServerResponse (BF38) DER. */
void es9p_authenticate_client(Es9pClient *client, const char *address, const char *transaction_id,
                              GBytes *authenticate_server_response, GCancellable *cancellable,
                              GAsyncReadyCallback cb, gpointer user_data);
Es9pClientAuthentication *es9p_authenticate_client_finish(Es9pClient *client, GAsyncResult *res,
                                                          GError **error);

/*
 * ES9+ getBoundProfilePackage (SGP.22 6.5.2.8): the card's
 * PrepareDownloadResponse (BF21) DER in, the Bound Profile Package (BF36) DER out.
 */
void es9p_get_bound_profile_package(Es9pClient *client, const char *address,
                                    const char *transaction_id, GBytes *prepare_download_response,
                                    GCancellable *cancellable, GAsyncReadyCallback cb,
                                    gpointer user_data);
GBytes *es9p_get_bound_profile_package_finish(Es9pClient *client, GAsyncResult *res,
                                              GError **error);

/* ES9+ cancelSession (SGP.22 6.5.2.10): the card's CancelSessionResponse (BF41) DER. */
void es9p_cancel_session(Es9pClient *client, const char *address, const char *transaction_id,
                         GBytes *cancel_session_response, GCancellable *cancellable,
                         GAsyncReadyCallback cb, gpointer user_data);
gboolean es9p_cancel_session_finish(Es9pClient *client, GAsyncResult *res, GError **error);

/* ES11 initiateAuthentication (SGP.22 6.5.2.x, SM-DS): as ES9+'s. */
void es11_initiate_authentication(Es9pClient *client, const char *address, GBytes *euicc_challenge,
                                  GBytes *euicc_info1, GCancellable *cancellable,
                                  GAsyncReadyCallback cb, gpointer user_data);
Es9pAuthentication *es11_initiate_authentication_finish(Es9pClient *client, GAsyncResult *res,
                                                        GError **error);

/* One EventEntries item of ES11 authenticateClient. */
typedef struct {
  gchar *event_id;
  gchar *address; /* rspServerAddress: the SM-DP+ (or SM-DS) holding the event */
} Es11Event;

void es11_event_free(Es11Event *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es11Event, es11_event_free)

/*
 * ES11 authenticateClient (SGP.22 6.5.2.x, event retrieval of 3.6.2): the
 * card's AuthenticateServerResponse in, the events waiting for this eUICC
 * out, in the server's order (a GPtrArray of Es11Event*, maybe empty).
 */
void es11_authenticate_client(Es9pClient *client, const char *address, const char *transaction_id,
                              GBytes *authenticate_server_response, GCancellable *cancellable,
                              GAsyncReadyCallback cb, gpointer user_data);
GPtrArray *es11_authenticate_client_finish(Es9pClient *client, GAsyncResult *res, GError **error);

G_END_DECLS
