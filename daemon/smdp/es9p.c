/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ES9+ and ES11 over HTTPS with libsoup: SGP.22 6.5 (JSON binding, HTTP
 * POST, the X-Admin-Protocol header, 6.5.1.4 functionExecutionStatus).
 * Every function is a row of one table (path, what it answers, how big the
 * answer may be) run through one request path: build the JSON, POST it,
 * read the answer up to its cap, classify the outcome, decode the members.
 */
#include "smdp/es9p-private.h"

/* The macro stringifies its first argument: keep it as one word. */
/* clang-format off */
G_DEFINE_QUARK(es9p-error-quark, es9p_error)
/* clang-format on */
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
  client->max_response = config->max_response;
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

/* ---- The functions: one table ------------------------------------------ */

typedef gpointer (*DecodeFunc)(JsonObject *answer, const char *sent_tid, GError **error);

typedef struct {
  const char *path;
  const char *server;  /* who answers, for messages: "SM-DP+" or "SM-DS" */
  const char *refused; /* what a refusal refused, for messages */
  gsize max_answer;
  /* NULL: the answer is a header only (or 204), the task returns a boolean */
  DecodeFunc decode;
  GDestroyNotify free_result;
} Function;

/* The rows double as the GTasks' source tags. */
static const Function fn_handle_notification = {
    ES9P_PATH "handleNotification", "SM-DP+", "the notification", MAX_ANSWER, NULL, NULL};
static const Function fn_initiate_authentication = {
    ES9P_PATH "initiateAuthentication", "SM-DP+",
    "initiateAuthentication",           MAX_ANSWER,
    es9p_decode_authentication,         (GDestroyNotify)es9p_authentication_free};
static const Function fn_authenticate_client = {ES9P_PATH "authenticateClient",
                                                "SM-DP+",
                                                "authenticateClient",
                                                MAX_ANSWER,
                                                es9p_decode_client_authentication,
                                                (GDestroyNotify)es9p_client_authentication_free};
static const Function fn_get_bound_profile_package = {
    ES9P_PATH "getBoundProfilePackage", "SM-DP+",
    "getBoundProfilePackage",           MAX_BPP_ANSWER,
    es9p_decode_bound_profile_package,  (GDestroyNotify)g_bytes_unref};
static const Function fn_cancel_session = {
    ES9P_PATH "cancelSession", "SM-DP+", "cancelSession", MAX_ANSWER, NULL, NULL};
static const Function fn_es11_initiate_authentication = {
    ES11_PATH "initiateAuthentication", "SM-DS",
    "initiateAuthentication",           MAX_ANSWER,
    es9p_decode_authentication,         (GDestroyNotify)es9p_authentication_free};
static const Function fn_es11_authenticate_client = {
    ES11_PATH "authenticateClient",   "SM-DS", "authenticateClient", MAX_ANSWER, es9p_decode_events,
    (GDestroyNotify)g_ptr_array_unref};

/* ---- The one request path ---------------------------------------------- */

typedef struct {
  const Function *fn;
  gchar *address;
  gchar *transaction_id; /* sent, for the answer to match; NULL for initiateAuthentication */
  SoupMessage *msg;
  GInputStream *stream;
  GByteArray *answer;
  gsize cap;
  goffset announced; /* Content-Length, -1 when none */
} Request;

static void request_free(Request *r)
{
  g_clear_object(&r->stream);
  g_clear_object(&r->msg);
  g_clear_pointer(&r->answer, g_byte_array_unref);
  g_free(r->transaction_id);
  g_free(r->address);
  g_free(r);
}

/* Completes the task with a new error, exactly once. */
static void request_fail(GTask *task, gint code, const char *format, ...) G_GNUC_PRINTF(3, 4);
static void request_fail(GTask *task, gint code, const char *format, ...)
{
  va_list ap;
  g_autofree gchar *message = NULL;

  va_start(ap, format);
  message = g_strdup_vprintf(format, ap);
  va_end(ap);
  g_task_return_new_error(task, ES9P_ERROR, code, "%s", message);
  g_object_unref(task);
}

/* libsoup or GIO said no before an answer was whole. */
static void request_fail_transport(GTask *task, GError *error)
{
  Request *r = g_task_get_task_data(task);

  if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_task_return_error(task, error);
    g_object_unref(task);
    return;
  }
  if (g_error_matches(error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE))
    /* Not the network: nothing the system store or the configured CAs
     * trust signed the server's certificate for this name. */
    request_fail(task, ES9P_ERROR_UNREACHABLE,
                 "The %s %s could not be reached: its TLS certificate is not trusted (%s)",
                 r->fn->server, r->address, error->message);
  else
    request_fail(task, ES9P_ERROR_UNREACHABLE, "The %s %s could not be reached: %s", r->fn->server,
                 r->address, error->message);
  g_error_free(error);
}

/*
 * HTTP 200 with functionExecutionStatus other than Executed-* (SGP.22
 * 6.5.1.4): the codes go into the message in one fixed form that
 * es9p_error_get_status() reads back.
 */
static void request_fail_status(GTask *task, JsonObject *status)
{
  Request *r = g_task_get_task_data(task);
  const char *word = es9p_string_or(status, "status", "Failed");
  JsonNode *node = json_object_get_member(status, "statusCodeData");
  JsonObject *data = node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
  const char *subject, *reason, *text;
  gint code = ES9P_ERROR_REJECTED;

  if (!data) {
    request_fail(task, code, "The %s %s refused %s (status %s)", r->fn->server, r->address,
                 r->fn->refused, word);
    return;
  }
  subject = es9p_string_or(data, "subjectCode", "?");
  reason = es9p_string_or(data, "reasonCode", "?");
  text = es9p_string_or(data, "message", word);
  /* SGP.22 5.6.3, 6.5.2.8: 8.2.7 is the confirmation code; 2.2 missing,
   * 3.8 refused (wrong; the transaction stays open for another try), 6.4
   * refused and the tries used up (the transaction ends). The reason tells
   * them apart (es9p_error_get_status()). */
  if (g_str_equal(subject, "8.2.7") &&
      (g_str_equal(reason, "2.2") || g_str_equal(reason, "3.8") || g_str_equal(reason, "6.4")))
    code = ES9P_ERROR_CONFIRMATION_CODE;
  request_fail(task, code, "The %s %s refused %s (subject %s, reason %s: %s)", r->fn->server,
               r->address, r->fn->refused, subject, reason, text);
}

static void request_answer_complete(GTask *task)
{
  Request *r = g_task_get_task_data(task);
  guint status = soup_message_get_status(r->msg);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  JsonNode *root, *header, *exec;
  const char *word;
  gpointer result;

  if (r->announced >= 0 && (goffset)r->answer->len < r->announced) {
    request_fail(task, ES9P_ERROR_UNREACHABLE,
                 "The %s %s could not be reached: the answer ended after %u of %" G_GOFFSET_FORMAT
                 " bytes",
                 r->fn->server, r->address, r->answer->len, r->announced);
    return;
  }
  if (status == SOUP_STATUS_NO_CONTENT) {
    /* SGP.22 6.5.1.1: "204 No Content" only where the function answers nothing. */
    if (r->fn->decode) {
      request_fail(task, ES9P_ERROR_PROTOCOL, "The %s %s answered %s with no content",
                   r->fn->server, r->address, r->fn->refused);
      return;
    }
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
  if (status != SOUP_STATUS_OK) {
    /* An HTTP-level refusal: the request never reached the function. */
    request_fail(task, ES9P_ERROR_REJECTED, "The %s %s refused %s: HTTP %u %s", r->fn->server,
                 r->address, r->fn->refused, status, soup_message_get_reason_phrase(r->msg));
    return;
  }
  if (!json_parser_load_from_data(parser, (const char *)r->answer->data, (gssize)r->answer->len,
                                  &error) ||
      !(root = json_parser_get_root(parser)) || !JSON_NODE_HOLDS_OBJECT(root)) {
    request_fail(task, ES9P_ERROR_PROTOCOL, "The %s %s answered %s with no JSON object%s%s",
                 r->fn->server, r->address, r->fn->refused, error ? ": " : "",
                 error ? error->message : "");
    return;
  }
  header = json_object_get_member(json_node_get_object(root), "header");
  exec = header && JSON_NODE_HOLDS_OBJECT(header)
             ? json_object_get_member(json_node_get_object(header), "functionExecutionStatus")
             : NULL;
  if (!exec || !JSON_NODE_HOLDS_OBJECT(exec)) {
    request_fail(task, ES9P_ERROR_PROTOCOL,
                 "The %s %s answered %s without header.functionExecutionStatus", r->fn->server,
                 r->address, r->fn->refused);
    return;
  }
  word = es9p_string_or(json_node_get_object(exec), "status", "");
  /* SGP.22 6.5.1.4: Executed-Success and Executed-WithWarning both carry the result. */
  if (!g_str_has_prefix(word, "Executed-")) {
    request_fail_status(task, json_node_get_object(exec));
    return;
  }
  if (!r->fn->decode) {
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
  result = r->fn->decode(json_node_get_object(root), r->transaction_id, &error);
  if (!result) {
    request_fail(task, ES9P_ERROR_PROTOCOL, "The %s %s answered %s wrongly: %s", r->fn->server,
                 r->address, r->fn->refused, error->message);
    return;
  }
  g_task_return_pointer(task, result, r->fn->free_result);
  g_object_unref(task);
}

static void request_read_ready(GObject *source, GAsyncResult *res, gpointer user_data);

static void request_read_more(GTask *task)
{
  Request *r = g_task_get_task_data(task);

  g_input_stream_read_bytes_async(r->stream, READ_CHUNK, G_PRIORITY_DEFAULT,
                                  g_task_get_cancellable(task), request_read_ready, task);
}

static void request_read_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Request *r = g_task_get_task_data(task);
  GError *error = NULL;
  g_autoptr(GBytes) chunk = g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), res, &error);

  if (!chunk) {
    request_fail_transport(task, error);
    return;
  }
  if (g_bytes_get_size(chunk) == 0) {
    request_answer_complete(task);
    return;
  }
  g_byte_array_append(r->answer, g_bytes_get_data(chunk, NULL), (guint)g_bytes_get_size(chunk));
  if (r->answer->len > r->cap) {
    request_fail(task, ES9P_ERROR_PROTOCOL,
                 "The %s %s answered %s with more than %" G_GSIZE_FORMAT " bytes", r->fn->server,
                 r->address, r->fn->refused, r->cap);
    return;
  }
  request_read_more(task);
}

static void request_sent(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Request *r = g_task_get_task_data(task);
  GError *error = NULL;
  SoupMessageHeaders *headers;
  guint status;

  r->stream = soup_session_send_finish(SOUP_SESSION(source), res, &error);
  if (!r->stream) {
    request_fail_transport(task, error);
    return;
  }
  status = soup_message_get_status(r->msg);
  if (status >= 500) {
    request_fail(task, ES9P_ERROR_UNREACHABLE, "The %s %s failed: HTTP %u %s", r->fn->server,
                 r->address, status, soup_message_get_reason_phrase(r->msg));
    return;
  }
  headers = soup_message_get_response_headers(r->msg);
  if (soup_message_headers_get_encoding(headers) == SOUP_ENCODING_CONTENT_LENGTH)
    r->announced = soup_message_headers_get_content_length(headers);
  if (r->announced > (goffset)r->cap) {
    request_fail(task, ES9P_ERROR_PROTOCOL,
                 "The %s %s answered %s with %" G_GOFFSET_FORMAT
                 " bytes, more than %" G_GSIZE_FORMAT,
                 r->fn->server, r->address, r->fn->refused, r->announced, r->cap);
    return;
  }
  request_read_more(task);
}

/*
 * POSTs members (name/value pairs, NULL-terminated) to fn's path at the
 * address (SGP.22 6.5.1: X-Admin-Protocol, JSON, the gsma-rsp-lpad
 * User-Agent). transaction_id, when given, is what the answer must carry.
 */
static void request_start(Es9pClient *client, const Function *fn, const char *address,
                          const char *transaction_id, const char *const *members,
                          GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);
  Request *r = g_new0(Request, 1);
  g_autofree gchar *url = NULL;
  g_autofree gchar *call_id = g_uuid_string_random();
  g_autofree gchar *json = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GUri) uri = NULL;
  gsize json_len;

  g_task_set_source_tag(task, (gpointer)fn);
  r->fn = fn;
  r->address = g_strdup(address ? address : "");
  r->transaction_id = g_strdup(transaction_id);
  r->answer = g_byte_array_new();
  r->cap = client->max_response ? client->max_response : fn->max_answer;
  r->announced = -1;
  g_task_set_task_data(task, r, (GDestroyNotify)request_free);

  /* An address is an FQDN, maybe with a port (SGP.22 4.1: "FQDN"). */
  if (address && *address && !strpbrk(address, "/?#@ "))
    url = g_strconcat("https://", address, fn->path, NULL);
  if (url)
    uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
  if (!uri || !g_uri_get_host(uri) || !*g_uri_get_host(uri)) {
    request_fail(task, ES9P_ERROR_INVALID, "No usable %s address ('%s')", fn->server, r->address);
    return;
  }

  g_debug("%s %s: POST %s", fn->server, r->address, fn->path);
  json = es9p_build_request(call_id, members);
  json_len = strlen(json);
  body = g_bytes_new_take(g_steal_pointer(&json), json_len);
  r->msg = soup_message_new_from_uri(SOUP_METHOD_POST, uri);
  soup_message_headers_append(soup_message_get_request_headers(r->msg), "X-Admin-Protocol",
                              ADMIN_PROTOCOL);
  g_signal_connect(r->msg, "accept-certificate", G_CALLBACK(on_accept_certificate), client);
  soup_message_set_request_body_from_bytes(r->msg, "application/json;charset=UTF-8", body);
  soup_session_send_async(client->session, r->msg, G_PRIORITY_DEFAULT, cancellable, request_sent,
                          task);
}

/* An argument the caller got wrong: the task fails at once, nothing is sent. */
static void request_refuse(const Function *fn, GError *error, GCancellable *cancellable,
                           GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);

  g_task_set_source_tag(task, (gpointer)fn);
  g_task_return_error(task, error);
  g_object_unref(task);
}

static gpointer request_finish_pointer(const Function *fn, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)fn), NULL);
  return g_task_propagate_pointer(G_TASK(res), error);
}

static gboolean request_finish_boolean(const Function *fn, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)fn), FALSE);
  return g_task_propagate_boolean(G_TASK(res), error);
}

gboolean es9p_error_get_status(const GError *error, gchar **subject, gchar **reason)
{
  const char *s, *r, *end;

  if (!error || error->domain != ES9P_ERROR ||
      (error->code != ES9P_ERROR_REJECTED && error->code != ES9P_ERROR_CONFIRMATION_CODE))
    return FALSE;
  s = strstr(error->message, "(subject ");
  if (!s)
    return FALSE;
  s += strlen("(subject ");
  r = strstr(s, ", reason ");
  if (!r)
    return FALSE;
  end = r + strlen(", reason ");
  end += strcspn(end, ":)");
  if (subject)
    *subject = g_strndup(s, (gsize)(r - s));
  if (reason)
    *reason = g_strndup(r + strlen(", reason "), (gsize)(end - r - strlen(", reason ")));
  return TRUE;
}

/* ---- The functions ----------------------------------------------------- */

void es9p_handle_notification(Es9pClient *client, const char *address, GBytes *pending_notification,
                              GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data)
{
  g_autofree gchar *b64 = es9p_base64_of(pending_notification);
  const char *members[] = {"pendingNotification", b64, NULL};

  request_start(client, &fn_handle_notification, address, NULL, members, cancellable, cb,
                user_data);
}

gboolean es9p_handle_notification_finish(Es9pClient *client, GAsyncResult *res, GError **error)
{
  return request_finish_boolean(&fn_handle_notification, res, error);
}

/* SGP.22 6.5.2.6: euiccChallenge is the 16 bytes (Octet16) alone, not an element. */
static void initiate_authentication(Es9pClient *client, const Function *fn, const char *address,
                                    GBytes *euicc_challenge, GBytes *euicc_info1,
                                    GCancellable *cancellable, GAsyncReadyCallback cb,
                                    gpointer user_data)
{
  GError *error = NULL;
  g_autofree gchar *challenge = NULL, *info1 = NULL;

  if (!euicc_challenge || g_bytes_get_size(euicc_challenge) != 16) {
    request_refuse(fn,
                   g_error_new(ES9P_ERROR, ES9P_ERROR_INVALID, "euiccChallenge is not 16 bytes"),
                   cancellable, cb, user_data);
    return;
  }
  if (!es9p_check_der(euicc_info1, 0xBF20, "euiccInfo1", &error)) {
    request_refuse(fn, error, cancellable, cb, user_data);
    return;
  }
  challenge = es9p_base64_of(euicc_challenge);
  info1 = es9p_base64_of(euicc_info1);
  {
    const char *members[] = {"euiccChallenge", challenge, "euiccInfo1", info1,
                             "smdpAddress",    address,   NULL};

    request_start(client, fn, address, NULL, members, cancellable, cb, user_data);
  }
}

/* A call that names a transaction and carries one card answer of tag want. */
static void transaction_call(Es9pClient *client, const Function *fn, const char *address,
                             const char *transaction_id, const char *member, GBytes *der,
                             guint32 want, GCancellable *cancellable, GAsyncReadyCallback cb,
                             gpointer user_data)
{
  GError *error = NULL;
  g_autofree gchar *b64 = NULL;

  if (!es9p_is_transaction_id(transaction_id)) {
    request_refuse(fn,
                   g_error_new(ES9P_ERROR, ES9P_ERROR_INVALID, "transactionId '%s' is not hex",
                               transaction_id ? transaction_id : ""),
                   cancellable, cb, user_data);
    return;
  }
  if (!es9p_check_der(der, want, member, &error)) {
    request_refuse(fn, error, cancellable, cb, user_data);
    return;
  }
  b64 = es9p_base64_of(der);
  {
    const char *members[] = {"transactionId", transaction_id, member, b64, NULL};

    request_start(client, fn, address, transaction_id, members, cancellable, cb, user_data);
  }
}

void es9p_initiate_authentication(Es9pClient *client, const char *address, GBytes *euicc_challenge,
                                  GBytes *euicc_info1, GCancellable *cancellable,
                                  GAsyncReadyCallback cb, gpointer user_data)
{
  initiate_authentication(client, &fn_initiate_authentication, address, euicc_challenge,
                          euicc_info1, cancellable, cb, user_data);
}

Es9pAuthentication *es9p_initiate_authentication_finish(Es9pClient *client, GAsyncResult *res,
                                                        GError **error)
{
  return request_finish_pointer(&fn_initiate_authentication, res, error);
}

void es9p_authenticate_client(Es9pClient *client, const char *address, const char *transaction_id,
                              GBytes *authenticate_server_response, GCancellable *cancellable,
                              GAsyncReadyCallback cb, gpointer user_data)
{
  transaction_call(client, &fn_authenticate_client, address, transaction_id,
                   "authenticateServerResponse", authenticate_server_response, 0xBF38, cancellable,
                   cb, user_data);
}

Es9pClientAuthentication *es9p_authenticate_client_finish(Es9pClient *client, GAsyncResult *res,
                                                          GError **error)
{
  return request_finish_pointer(&fn_authenticate_client, res, error);
}

void es9p_get_bound_profile_package(Es9pClient *client, const char *address,
                                    const char *transaction_id, GBytes *prepare_download_response,
                                    GCancellable *cancellable, GAsyncReadyCallback cb,
                                    gpointer user_data)
{
  transaction_call(client, &fn_get_bound_profile_package, address, transaction_id,
                   "prepareDownloadResponse", prepare_download_response, 0xBF21, cancellable, cb,
                   user_data);
}

GBytes *es9p_get_bound_profile_package_finish(Es9pClient *client, GAsyncResult *res, GError **error)
{
  return request_finish_pointer(&fn_get_bound_profile_package, res, error);
}

void es9p_cancel_session(Es9pClient *client, const char *address, const char *transaction_id,
                         GBytes *cancel_session_response, GCancellable *cancellable,
                         GAsyncReadyCallback cb, gpointer user_data)
{
  transaction_call(client, &fn_cancel_session, address, transaction_id, "cancelSessionResponse",
                   cancel_session_response, 0xBF41, cancellable, cb, user_data);
}

gboolean es9p_cancel_session_finish(Es9pClient *client, GAsyncResult *res, GError **error)
{
  return request_finish_boolean(&fn_cancel_session, res, error);
}

void es11_initiate_authentication(Es9pClient *client, const char *address, GBytes *euicc_challenge,
                                  GBytes *euicc_info1, GCancellable *cancellable,
                                  GAsyncReadyCallback cb, gpointer user_data)
{
  initiate_authentication(client, &fn_es11_initiate_authentication, address, euicc_challenge,
                          euicc_info1, cancellable, cb, user_data);
}

Es9pAuthentication *es11_initiate_authentication_finish(Es9pClient *client, GAsyncResult *res,
                                                        GError **error)
{
  return request_finish_pointer(&fn_es11_initiate_authentication, res, error);
}

void es11_authenticate_client(Es9pClient *client, const char *address, const char *transaction_id,
                              GBytes *authenticate_server_response, GCancellable *cancellable,
                              GAsyncReadyCallback cb, gpointer user_data)
{
  transaction_call(client, &fn_es11_authenticate_client, address, transaction_id,
                   "authenticateServerResponse", authenticate_server_response, 0xBF38, cancellable,
                   cb, user_data);
}

GPtrArray *es11_authenticate_client_finish(Es9pClient *client, GAsyncResult *res, GError **error)
{
  return request_finish_pointer(&fn_es11_authenticate_client, res, error);
}
