/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The JSON binding of ES9+ and ES11 (SGP.22 6.5): the body of a request,
 * the members of an answer, and the DER of each ASN.1 value checked for its
 * shape (one element, the expected tag) before it goes on.
 */
#include "smdp/es9p-private.h"

/* ---- The JSON of a request --------------------------------------------- */

/*
 * A request body (SGP.22 6.5.1.3): the header, then members given as
 * name/value pairs, NULL-terminated. Every request member of ES9+ and ES11
 * is a JSON string (base64, hex or an address).
 */
gchar *es9p_build_request(const char *call_id, const char *const *members)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "header");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "functionRequesterIdentifier");
  json_builder_add_string_value(b, "esimd");
  json_builder_set_member_name(b, "functionCallIdentifier");
  json_builder_add_string_value(b, call_id);
  json_builder_end_object(b);
  for (guint i = 0; members[i]; i += 2) {
    json_builder_set_member_name(b, members[i]);
    json_builder_add_string_value(b, members[i + 1]);
  }
  json_builder_end_object(b);
  root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  return json_generator_to_data(gen, NULL);
}

gchar *es9p_base64_of(GBytes *bytes)
{
  gsize len;
  const guint8 *data = g_bytes_get_data(bytes, &len);

  return g_base64_encode(data, len);
}

gchar *es9p_build_handle_notification(GBytes *pending_notification, const char *call_id)
{
  g_autofree gchar *b64 = es9p_base64_of(pending_notification);
  const char *members[] = {"pendingNotification", b64, NULL};

  return es9p_build_request(call_id, members);
}

/* ---- The DER of a value, checked for shape only ------------------------ */

/*
 * TRUE when data is exactly one BER-TLV element with a definite length
 * (SGP.22 uses DER throughout); *tag is its tag as its bytes read
 * (0x30, 0x5F37, 0xBF36).
 */
static gboolean der_one_element(const guint8 *data, gsize len, guint32 *tag)
{
  gsize i = 0, value_len = 0;

  if (len < 2)
    return FALSE;
  *tag = data[i++];
  if ((*tag & 0x1F) == 0x1F) {
    do {
      if (i >= len || i > 3)
        return FALSE;
      *tag = *tag << 8 | data[i];
    } while (data[i++] & 0x80);
  }
  if (i >= len)
    return FALSE;
  if (data[i] < 0x80) {
    value_len = data[i++];
  } else {
    guint n = data[i++] & 0x7F;

    if (n == 0 || n > 4 || i + n > len)
      return FALSE;
    while (n--)
      value_len = value_len << 8 | data[i++];
  }
  return value_len == len - i;
}

gboolean es9p_check_der(GBytes *bytes, guint32 want, const char *what, GError **error)
{
  guint32 tag = 0;
  gsize len = bytes ? g_bytes_get_size(bytes) : 0;

  if (!bytes || !der_one_element(g_bytes_get_data(bytes, NULL), len, &tag) || tag != want) {
    g_set_error(error, ES9P_ERROR, ES9P_ERROR_INVALID, "%s is not one DER element of tag %X", what,
                want);
    return FALSE;
  }
  return TRUE;
}

/* SGP.22 6.5.1.3: a transactionId travels as hex of its 1 to 16 bytes. */
gboolean es9p_is_transaction_id(const char *text)
{
  gsize n = text ? strlen(text) : 0;

  if (n == 0 || n > 32 || n % 2)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isxdigit(text[i]))
      return FALSE;
  return TRUE;
}

/* ---- The members of an answer ------------------------------------------ */

/* A string member, or fallback when it is absent or anything but a string:
 * what a server sends is never trusted to have the right JSON type. */
const char *es9p_string_or(JsonObject *o, const char *member, const char *fallback)
{
  JsonNode *node = json_object_get_member(o, member);

  if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
    return fallback;
  return json_node_get_string(node);
}

static const char *answer_string(JsonObject *o, const char *member, GError **error)
{
  JsonNode *node = json_object_get_member(o, member);

  if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
    g_set_error(error, ES9P_ERROR, ES9P_ERROR_PROTOCOL, "no string member '%s'", member);
    return NULL;
  }
  return json_node_get_string(node);
}

/* Strict base64 (RFC 4648 4, padded): g_base64_decode() skips what it does not know. */
static gboolean is_base64(const char *text)
{
  gsize n = strlen(text), pad = 0;

  if (n == 0 || n % 4)
    return FALSE;
  for (gsize i = 0; i < n; i++) {
    char c = text[i];

    if (c == '=') {
      pad++;
    } else if (pad || !(g_ascii_isalnum(c) || c == '+' || c == '/')) {
      return FALSE;
    }
  }
  return pad <= 2;
}

/* A member holding base64 of one whole DER element of tag want (SGP.22 6.5.1.3). */
static GBytes *answer_der(JsonObject *o, const char *member, guint32 want, GError **error)
{
  const char *text = answer_string(o, member, error);
  g_autoptr(GBytes) der = NULL;
  guint32 tag = 0;
  gsize len = 0;
  guchar *raw;

  if (!text)
    return NULL;
  if (!is_base64(text)) {
    g_set_error(error, ES9P_ERROR, ES9P_ERROR_PROTOCOL, "'%s' is not base64", member);
    return NULL;
  }
  raw = g_base64_decode(text, &len);
  der = g_bytes_new_take(raw, len);
  if (!der_one_element(raw, len, &tag) || tag != want) {
    g_set_error(error, ES9P_ERROR, ES9P_ERROR_PROTOCOL, "'%s' is not one DER element of tag %X",
                member, want);
    return NULL;
  }
  return g_steal_pointer(&der);
}

/* transactionId, the same as the request's when there was one (SGP.22 6.5.2.7/8). */
static gchar *answer_transaction_id(JsonObject *o, const char *sent, GError **error)
{
  const char *text = answer_string(o, "transactionId", error);

  if (!text)
    return NULL;
  if (!es9p_is_transaction_id(text)) {
    g_set_error(error, ES9P_ERROR, ES9P_ERROR_PROTOCOL, "transactionId '%s' is not 1-16 bytes hex",
                text);
    return NULL;
  }
  if (sent && g_ascii_strcasecmp(text, sent) != 0) {
    g_set_error(error, ES9P_ERROR, ES9P_ERROR_PROTOCOL, "transactionId %s is not the request's %s",
                text, sent);
    return NULL;
  }
  return g_strdup(text);
}

void es9p_authentication_free(Es9pAuthentication *a)
{
  if (!a)
    return;
  g_free(a->transaction_id);
  g_clear_pointer(&a->server_signed1, g_bytes_unref);
  g_clear_pointer(&a->server_signature1, g_bytes_unref);
  g_clear_pointer(&a->euicc_ci_pkid_to_be_used, g_bytes_unref);
  g_clear_pointer(&a->server_certificate, g_bytes_unref);
  g_free(a);
}

void es9p_client_authentication_free(Es9pClientAuthentication *a)
{
  if (!a)
    return;
  g_free(a->transaction_id);
  g_clear_pointer(&a->profile_metadata, g_bytes_unref);
  g_clear_pointer(&a->smdp_signed2, g_bytes_unref);
  g_clear_pointer(&a->smdp_signature2, g_bytes_unref);
  g_clear_pointer(&a->smdp_certificate, g_bytes_unref);
  g_free(a);
}

void es11_event_free(Es11Event *e)
{
  if (!e)
    return;
  g_free(e->event_id);
  g_free(e->address);
  g_free(e);
}

/* InitiateAuthenticationResponse (SGP.22 6.5.2.6, ES11 alike). */
gpointer es9p_decode_authentication(JsonObject *o, const char *sent_tid, GError **error)
{
  g_autoptr(Es9pAuthentication) a = g_new0(Es9pAuthentication, 1);

  if (!(a->transaction_id = answer_transaction_id(o, sent_tid, error)) ||
      !(a->server_signed1 = answer_der(o, "serverSigned1", 0x30, error)) ||
      !(a->server_signature1 = answer_der(o, "serverSignature1", 0x5F37, error)) ||
      !(a->euicc_ci_pkid_to_be_used = answer_der(o, "euiccCiPKIdToBeUsed", 0x04, error)) ||
      !(a->server_certificate = answer_der(o, "serverCertificate", 0x30, error)))
    return NULL;
  return g_steal_pointer(&a);
}

/* AuthenticateClientResponseEs9 (SGP.22 6.5.2.7). */
gpointer es9p_decode_client_authentication(JsonObject *o, const char *sent_tid, GError **error)
{
  g_autoptr(Es9pClientAuthentication) a = g_new0(Es9pClientAuthentication, 1);

  if (!(a->transaction_id = answer_transaction_id(o, sent_tid, error)) ||
      !(a->profile_metadata = answer_der(o, "profileMetadata", 0xBF25, error)) ||
      !(a->smdp_signed2 = answer_der(o, "smdpSigned2", 0x30, error)) ||
      !(a->smdp_signature2 = answer_der(o, "smdpSignature2", 0x5F37, error)) ||
      !(a->smdp_certificate = answer_der(o, "smdpCertificate", 0x30, error)))
    return NULL;
  return g_steal_pointer(&a);
}

/* GetBoundProfilePackageResponse (SGP.22 6.5.2.8). */
gpointer es9p_decode_bound_profile_package(JsonObject *o, const char *sent_tid, GError **error)
{
  g_autofree gchar *tid = answer_transaction_id(o, sent_tid, error);

  if (!tid)
    return NULL;
  return answer_der(o, "boundProfilePackage", 0xBF36, error);
}

/* AuthenticateClientResponseEs11 (SGP.22 6.5.2.x): eventEntries, maybe none. */
gpointer es9p_decode_events(JsonObject *o, const char *sent_tid, GError **error)
{
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func((GDestroyNotify)es11_event_free);
  g_autofree gchar *tid = answer_transaction_id(o, sent_tid, error);
  JsonNode *node = json_object_get_member(o, "eventEntries");
  JsonArray *entries;

  if (!tid)
    return NULL;
  if (!node || !JSON_NODE_HOLDS_ARRAY(node)) {
    g_set_error(error, ES9P_ERROR, ES9P_ERROR_PROTOCOL, "no array member 'eventEntries'");
    return NULL;
  }
  entries = json_node_get_array(node);
  for (guint i = 0; i < json_array_get_length(entries); i++) {
    JsonNode *item = json_array_get_element(entries, i);
    const char *id, *address;
    Es11Event *e;

    if (!JSON_NODE_HOLDS_OBJECT(item)) {
      g_set_error(error, ES9P_ERROR, ES9P_ERROR_PROTOCOL, "eventEntries[%u] is not an object", i);
      return NULL;
    }
    if (!(id = answer_string(json_node_get_object(item), "eventId", error)) ||
        !(address = answer_string(json_node_get_object(item), "rspServerAddress", error))) {
      g_prefix_error(error, "eventEntries[%u]: ", i);
      return NULL;
    }
    e = g_new0(Es11Event, 1);
    e->event_id = g_strdup(id);
    e->address = g_strdup(address);
    g_ptr_array_add(events, e);
  }
  return g_steal_pointer(&events);
}
