/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ES9+ (SGP.22 5.6, 6.5, 6.6): the HTTPS interface between the LPA and an
 * SM-DP+. For now only handleNotification: a PendingNotification, exactly as
 * the eUICC signed it, delivered to the SM-DP+ that the notification names.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define ES9P_ERROR (es9p_error_quark())
GQuark es9p_error_quark(void);

typedef enum {
  ES9P_ERROR_UNREACHABLE, /* no answer: DNS, connection, TLS (an untrusted
                           * certificate too), a server error (5xx) */
  ES9P_ERROR_REJECTED,    /* the SM-DP+ answered and refused */
  ES9P_ERROR_INVALID,     /* the address or the CA file cannot be used */
} Es9pError;

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
} Es9pConfig;

Es9pClient *es9p_client_new(const Es9pConfig *config, GError **error);
void es9p_client_free(Es9pClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es9pClient, es9p_client_free)

/*
 * POSTs the notification to https://ADDRESS/gsma/rsp2/es9plus/handleNotification
 * (SGP.22 6.6.2.4 / 6.5.2.4). Succeeds only on the SM-DP+'s "204 No Content".
 */
void es9p_handle_notification(Es9pClient *client, const char *address, GBytes *pending_notification,
                              GCancellable *cancellable, GAsyncReadyCallback cb,
                              gpointer user_data);
gboolean es9p_handle_notification_finish(Es9pClient *client, GAsyncResult *res, GError **error);

/* The JSON body of a handleNotification request (for tests and logs). */
gchar *es9p_build_handle_notification(GBytes *pending_notification, const char *call_id);

G_END_DECLS
