/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ES9+ over HTTPS with libsoup: SGP.22 6.5 (JSON binding, HTTP POST, the
 * X-Admin-Protocol header) and 6.5.2.4 (handleNotification: request with
 * the base64 PendingNotification, answer "204 No Content").
 */
#include "smdp/es9p.h"

#include <string.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

/* The macro stringifies its first argument: keep it as one word. */
/* clang-format off */
G_DEFINE_QUARK(es9p-error-quark, es9p_error)
/* clang-format on */

/* SGP.22 6.5.1: the protocol version the request speaks. */
#define ADMIN_PROTOCOL "gsma/rsp/v2.2.0"
#define USER_AGENT "gsma-rsp-lpad"
#define HANDLE_NOTIFICATION_PATH "/gsma/rsp2/es9plus/handleNotification"
#define DEFAULT_TIMEOUT_S 30

struct _Es9pClient {
  SoupSession *session;
  /* GTlsDatabase*, one per trusted PEM file (the CA file, then each file
   * of the CA directory); empty when none was given. */
  GPtrArray *extra_ca;
};

static gboolean is_certificate_file(const char *name)
{
  return g_str_has_suffix(name, ".pem") || g_str_has_suffix(name, ".crt");
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Every *.pem / *.crt file of the directory, in name order so that the log
 * reads the same on each start. The directory is where a packager puts the
 * GSMA CI roots: a missing one means none, and a file that is not PEM is
 * skipped with a warning rather than stopping every delivery.
 */
static void add_ca_dir(GPtrArray *databases, const char *path)
{
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GError) error = NULL;
  const char *name;

  dir = g_dir_open(path, 0, &error);
  if (!dir) {
    if (!g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      g_warning("Cannot read the SM-DP+ CA directory %s: %s", path, error->message);
    return;
  }
  while ((name = g_dir_read_name(dir)))
    if (is_certificate_file(name))
      g_ptr_array_add(names, g_strdup(name));
  g_ptr_array_sort(names, compare_names);
  for (guint i = 0; i < names->len; i++) {
    g_autofree gchar *file = g_build_filename(path, g_ptr_array_index(names, i), NULL);
    g_autoptr(GError) local = NULL;
    GTlsDatabase *db = g_tls_file_database_new(file, &local);

    if (db)
      g_ptr_array_add(databases, db);
    else
      g_warning("Ignoring the SM-DP+ CA file %s: %s", file, local->message);
  }
}

Es9pClient *es9p_client_new(const Es9pConfig *config, GError **error)
{
  g_autoptr(GPtrArray) extra_ca = g_ptr_array_new_with_free_func(g_object_unref);
  g_autoptr(GSocketConnectable) remote = NULL;
  Es9pClient *client;

  if (config->ca_file && *config->ca_file) {
    GError *local = NULL;
    GTlsDatabase *db = g_tls_file_database_new(config->ca_file, &local);

    if (!db) {
      g_set_error(error, ES9P_ERROR, ES9P_ERROR_INVALID, "Cannot use the CA file %s: %s",
                  config->ca_file, local->message);
      g_error_free(local);
      return NULL;
    }
    g_ptr_array_add(extra_ca, db);
  }
  if (config->ca_dir && *config->ca_dir)
    add_ca_dir(extra_ca, config->ca_dir);
  if (config->host_override && *config->host_override) {
    GError *local = NULL;

    remote = g_network_address_parse(config->host_override, 443, &local);
    if (!remote) {
      g_set_error(error, ES9P_ERROR, ES9P_ERROR_INVALID, "Invalid host override %s: %s",
                  config->host_override, local->message);
      g_error_free(local);
      return NULL;
    }
  }

  client = g_new0(Es9pClient, 1);
  client->extra_ca = g_steal_pointer(&extra_ca);
  client->session =
      soup_session_new_with_options("user-agent", USER_AGENT, "timeout",
                                    config->timeout_s ? config->timeout_s : DEFAULT_TIMEOUT_S,
                                    "remote-connectable", remote, NULL);
  /* The override names the one peer to talk to: no proxy in between. */
  if (remote)
    soup_session_set_proxy_resolver(client->session, NULL);
  return client;
}

void es9p_client_free(Es9pClient *client)
{
  if (!client)
    return;
  soup_session_abort(client->session);
  g_object_unref(client->session);
  g_ptr_array_unref(client->extra_ca);
  g_free(client);
}

gchar *es9p_build_handle_notification(GBytes *pending_notification, const char *call_id)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = NULL;
  gsize len;
  const guint8 *der = g_bytes_get_data(pending_notification, &len);
  g_autofree gchar *b64 = g_base64_encode(der, len);

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "header");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "functionRequesterIdentifier");
  json_builder_add_string_value(b, "esimd");
  json_builder_set_member_name(b, "functionCallIdentifier");
  json_builder_add_string_value(b, call_id);
  json_builder_end_object(b);
  json_builder_set_member_name(b, "pendingNotification");
  json_builder_add_string_value(b, b64);
  json_builder_end_object(b);
  root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  return json_generator_to_data(gen, NULL);
}

/*
 * The system store said no (libsoup asks only then): accept the SM-DP+'s
 * chain if it leads to one of the configured CAs, for the same host name.
 */
static gboolean on_accept_certificate(SoupMessage *msg, GTlsCertificate *cert,
                                      GTlsCertificateFlags errors, gpointer user_data)
{
  Es9pClient *client = user_data;
  GUri *uri = soup_message_get_uri(msg);
  g_autoptr(GSocketConnectable) identity = NULL;

  identity = g_network_address_new(g_uri_get_host(uri), (guint16)g_uri_get_port(uri));
  for (guint i = 0; i < client->extra_ca->len; i++) {
    g_autoptr(GError) error = NULL;
    GTlsCertificateFlags flags = g_tls_database_verify_chain(
        g_ptr_array_index(client->extra_ca, i), cert, G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER,
        identity, NULL, G_TLS_DATABASE_VERIFY_NONE, NULL, &error);

    if (!error && flags == 0)
      return TRUE;
    g_debug("SM-DP+ %s: certificate not accepted by CA set %u (flags 0x%x%s%s)",
            g_uri_get_host(uri), i, flags, error ? ": " : "", error ? error->message : "");
  }
  g_info("SM-DP+ %s: certificate refused (%u CA set%s besides the system store)",
         g_uri_get_host(uri), client->extra_ca->len, client->extra_ca->len == 1 ? "" : "s");
  return FALSE;
}

static const char tag_handle_notification;

typedef struct {
  SoupMessage *msg;
  gchar *address;
} SendContext;

static void send_context_free(SendContext *ctx)
{
  g_clear_object(&ctx->msg);
  g_free(ctx->address);
  g_free(ctx);
}

/* SGP.22 6.5.1.4: an SM-DP+ that answers 200 instead of 204 tells why in
 * header.functionExecutionStatus. */
static gchar *describe_failure(GBytes *body)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonObject *root, *header, *status, *data;
  gsize len;
  const char *text = body ? g_bytes_get_data(body, &len) : NULL;

  if (!text || !json_parser_load_from_data(parser, text, (gssize)len, NULL))
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
    return NULL;
  root = json_node_get_object(json_parser_get_root(parser));
  header =
      json_object_has_member(root, "header") ? json_object_get_object_member(root, "header") : NULL;
  status = header && json_object_has_member(header, "functionExecutionStatus")
               ? json_object_get_object_member(header, "functionExecutionStatus")
               : NULL;
  if (!status)
    return NULL;
  data = json_object_has_member(status, "statusCodeData")
             ? json_object_get_object_member(status, "statusCodeData")
             : NULL;
  if (!data)
    return g_strdup(json_object_get_string_member_with_default(status, "status", "Failed"));
  return g_strdup_printf("%s (subject %s, reason %s)",
                         json_object_get_string_member_with_default(data, "message", "failed"),
                         json_object_get_string_member_with_default(data, "subjectCode", "?"),
                         json_object_get_string_member_with_default(data, "reasonCode", "?"));
}

static void send_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  SendContext *ctx = g_task_get_task_data(task);
  GError *error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish(SOUP_SESSION(source), res, &error);
  guint status;

  if (!body && error) {
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_task_return_error(task, error);
    } else if (g_error_matches(error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE)) {
      /* Not the network: nothing the system store or the configured CAs
       * trust signed the server's certificate for this name. */
      g_task_return_new_error(task, ES9P_ERROR, ES9P_ERROR_UNREACHABLE,
                              "The SM-DP+ %s could not be reached: its TLS certificate is not "
                              "trusted (%s)",
                              ctx->address, error->message);
      g_error_free(error);
    } else {
      g_task_return_new_error(task, ES9P_ERROR, ES9P_ERROR_UNREACHABLE,
                              "The SM-DP+ %s could not be reached: %s", ctx->address,
                              error->message);
      g_error_free(error);
    }
    g_object_unref(task);
    return;
  }
  status = soup_message_get_status(ctx->msg);
  if (status == SOUP_STATUS_NO_CONTENT) {
    g_task_return_boolean(task, TRUE);
  } else if (status >= 500) {
    g_task_return_new_error(task, ES9P_ERROR, ES9P_ERROR_UNREACHABLE,
                            "The SM-DP+ %s failed: HTTP %u %s", ctx->address, status,
                            soup_message_get_reason_phrase(ctx->msg));
  } else {
    g_autofree gchar *why = describe_failure(body);

    g_task_return_new_error(task, ES9P_ERROR, ES9P_ERROR_REJECTED,
                            "The SM-DP+ %s refused the notification: %s", ctx->address,
                            why ? why : soup_message_get_reason_phrase(ctx->msg));
  }
  g_object_unref(task);
}

void es9p_handle_notification(Es9pClient *client, const char *address, GBytes *pending_notification,
                              GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);
  SendContext *ctx = g_new0(SendContext, 1);
  g_autofree gchar *url = NULL;
  g_autofree gchar *call_id = g_uuid_string_random();
  g_autofree gchar *json = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GUri) uri = NULL;
  gsize json_len;

  g_task_set_source_tag(task, (gpointer)&tag_handle_notification);
  ctx->address = g_strdup(address ? address : "");
  g_task_set_task_data(task, ctx, (GDestroyNotify)send_context_free);

  /* An address is an FQDN, maybe with a port (SGP.22 4.1: "FQDN"). */
  if (address && *address && !strpbrk(address, "/?#@ "))
    url = g_strconcat("https://", address, HANDLE_NOTIFICATION_PATH, NULL);
  if (url)
    uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
  if (!uri || !g_uri_get_host(uri) || !*g_uri_get_host(uri)) {
    g_task_return_new_error(task, ES9P_ERROR, ES9P_ERROR_INVALID,
                            "The notification names no usable SM-DP+ address ('%s')", ctx->address);
    g_object_unref(task);
    return;
  }

  json = es9p_build_handle_notification(pending_notification, call_id);
  json_len = strlen(json);
  body = g_bytes_new_take(g_steal_pointer(&json), json_len);
  ctx->msg = soup_message_new_from_uri(SOUP_METHOD_POST, uri);
  soup_message_headers_append(soup_message_get_request_headers(ctx->msg), "X-Admin-Protocol",
                              ADMIN_PROTOCOL);
  g_signal_connect(ctx->msg, "accept-certificate", G_CALLBACK(on_accept_certificate), client);
  soup_message_set_request_body_from_bytes(ctx->msg, "application/json;charset=UTF-8", body);
  soup_session_send_and_read_async(client->session, ctx->msg, G_PRIORITY_DEFAULT, cancellable,
                                   send_ready, task);
}

gboolean es9p_handle_notification_finish(Es9pClient *client, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)&tag_handle_notification), FALSE);
  return g_task_propagate_boolean(G_TASK(res), error);
}
