/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One eUICC through the service layer: probe and cache, every profile
 * operation with its cache and listener effects, the errors a user meets,
 * the FIFO queue and cancellation, and a modem unplugged mid-operation.
 * Against modem-sim in QMI mode through the real libqmi, in one process on
 * one main context; every wait is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "es10/es10.h"
#include "modem-sim.h"
#include "service/service.h"
#include "test-util.h"

#define ICCID_FIRST "8944476500001234567"   /* enabled, nickname Work */
#define ICCID_SECOND "89012604100000123456" /* disabled */
#define ICCID_THIRD "89445001000000654321"  /* disabled */
#define EID_THREE "89049032123451234512345678901235"

typedef enum {
  SMDP_NONE,      /* no SM-DP+ */
  SMDP_ACCEPTS,   /* 204 No Content */
  SMDP_REJECTS,   /* 200 with a failed functionExecutionStatus */
  SMDP_UNTRUSTED, /* accepts, but its certificate is not in the CA file given */
  SMDP_DOWN,      /* nothing listens */
} SmdpMode;

typedef struct {
  const char *slots[3];
  const char *options[3];
  guint timeout_ms; /* the transport's; 0: 5 s */
  SmdpMode smdp;
  gboolean auto_send;
} SimSetup;

typedef struct {
  ModemSim *ms;
  Manager *manager;
  GPtrArray *events; /* gchar*: what the listener heard, in order */
  guint removed;
  /* the local SM-DP+ */
  SmdpMode smdp;
  gchar *tmpdir;
  GSocketService *server;
  GTlsCertificate *cert;
  guint n_peers;              /* connections still open */
  GPtrArray *posts;           /* JsonNode*: the bodies it received */
  GPtrArray *admin_protocols; /* gchar*: their X-Admin-Protocol */
  guint delivered;
} Fixture;

/* ---- the listener records what a D-Bus client would be told ------------- */

static void record(Fixture *f, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void record(Fixture *f, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  g_ptr_array_add(f->events, g_strdup_vprintf(fmt, ap));
  va_end(ap);
}

static void on_euicc_added(Euicc *euicc, gpointer data)
{
  record(data, "added %u", euicc_get_id(euicc));
}

static void on_euicc_removed(Euicc *euicc, gpointer data)
{
  Fixture *f = data;

  f->removed++;
  record(f, "removed %u", euicc_get_id(euicc));
}

static void on_euicc_changed(Euicc *euicc, EuiccChanged what, gpointer data)
{
  if (what & EUICC_CHANGED_ENABLED_PROFILE)
    record(data, "enabled-profile");
  if (what & EUICC_CHANGED_PROFILES)
    record(data, "profiles");
  if (what & EUICC_CHANGED_DEFAULT_SMDP_ADDRESS)
    record(data, "default-smdp-address");
  if (what & EUICC_CHANGED_ROOT_SMDS_ADDRESS)
    record(data, "root-smds-address");
  if (what & EUICC_CHANGED_PENDING_NOTIFICATIONS)
    record(data, "pending-notifications");
}

static void on_profile_added(Euicc *euicc, const Profile *p, gpointer data)
{
  record(data, "profile-added %s", p->iccid);
}

static void on_profile_removed(Euicc *euicc, const Profile *p, gpointer data)
{
  record(data, "profile-removed %s", p->iccid);
}

static void on_profile_changed(Euicc *euicc, const Profile *p, ProfileChanged what, gpointer data)
{
  if (what & PROFILE_CHANGED_STATE)
    record(data, "state %s %s", p->iccid, profile_state_to_string(p->state));
  if (what & PROFILE_CHANGED_NICKNAME)
    record(data, "nickname %s %s", p->iccid, p->nickname);
  if (what & PROFILE_CHANGED_POLICY_RULES) {
    g_autofree gchar *rules = g_strjoinv(",", p->policy_rules);

    record(data, "policy-rules %s %s", p->iccid, rules);
  }
}

static void on_notification_delivered(Euicc *euicc, guint seq, const char *operation,
                                      const char *iccid, const char *address, gpointer data)
{
  Fixture *f = data;

  f->delivered++;
  record(f, "delivered %u %s %s %s", seq, operation, iccid, address);
}

static const ServiceListener listener = {
    .notification_delivered = on_notification_delivered,
    .euicc_added = on_euicc_added,
    .euicc_removed = on_euicc_removed,
    .euicc_changed = on_euicc_changed,
    .profile_added = on_profile_added,
    .profile_removed = on_profile_removed,
    .profile_changed = on_profile_changed,
};

static gboolean heard(Fixture *f, const char *event)
{
  for (guint i = 0; i < f->events->len; i++)
    if (g_str_equal(g_ptr_array_index(f->events, i), event))
      return TRUE;
  return FALSE;
}

/* ---- a local SM-DP+ on 127.0.0.1 ------------------------------------------ */

static char *tmp_path(Fixture *f, const char *name)
{
  return g_build_filename(f->tmpdir, name, NULL);
}

/* A throwaway key and self-signed certificate for the SM-DP+ names the
 * cards use, made for this run only. */
static void make_certificate(Fixture *f, const char *name)
{
  g_autofree char *key = g_strdup_printf("%s/%s.key", f->tmpdir, name);
  g_autofree char *cert = g_strdup_printf("%s/%s.pem", f->tmpdir, name);
  const char *argv[] = {"openssl",
                        "req",
                        "-x509",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:prime256v1",
                        "-nodes",
                        "-keyout",
                        key,
                        "-out",
                        cert,
                        "-days",
                        "2",
                        "-subj",
                        "/CN=smdp.example.com",
                        "-addext",
                        "subjectAltName=DNS:smdp.example.com,DNS:rsp.example.net,"
                        "DNS:smdp.example.net,IP:127.0.0.1",
                        NULL};
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                           &status, &error));
  if (!g_spawn_check_wait_status(status, NULL))
    print_message("openssl: %s\n", err);
  assert_true(g_spawn_check_wait_status(status, NULL));
}

/*
 * The SM-DP+ end of one HTTPS connection: TLS with the test certificate,
 * one HTTP/1.1 request read whole, one answer, close. Just enough HTTP for
 * handleNotification (SGP.22 6.5.1), and no library state left behind.
 */
typedef struct {
  Fixture *f;
  GIOStream *tls;
  GByteArray *in;
  guint8 buf[4096];
  gchar *response;
} Peer;

static void peer_free(Peer *peer)
{
  peer->f->n_peers--;
  g_object_unref(peer->tls);
  g_byte_array_unref(peer->in);
  g_free(peer->response);
  g_free(peer);
}

static void peer_closed(GObject *source, GAsyncResult *res, gpointer data)
{
  g_io_stream_close_finish(G_IO_STREAM(source), res, NULL);
  peer_free(data);
}

static void peer_written(GObject *source, GAsyncResult *res, gpointer data)
{
  Peer *peer = data;

  g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), res, NULL, NULL);
  g_io_stream_close_async(peer->tls, G_PRIORITY_DEFAULT, NULL, peer_closed, peer);
}

/* The value of a header in the request head, NULL when absent. */
static gchar *header_value(const char *head, const char *name)
{
  g_auto(GStrv) lines = g_strsplit(head, "\r\n", -1);

  for (guint i = 1; lines[i]; i++) {
    const char *colon = strchr(lines[i], ':');

    if (colon && (gsize)(colon - lines[i]) == strlen(name) &&
        g_ascii_strncasecmp(lines[i], name, strlen(name)) == 0)
      return g_strstrip(g_strdup(colon + 1));
  }
  return NULL;
}

static const char *smdp_answer(Fixture *f, const char *head, const char *body, gsize len)
{
  static const char failed[] =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
      "Content-Length: 149\r\n\r\n"
      "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Failed\",\"statusCodeData\":"
      "{\"subjectCode\":\"8.1\",\"reasonCode\":\"3.8\",\"message\":\"unknown notification\"}}}}";
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autofree gchar *admin = header_value(head, "X-Admin-Protocol");

  if (!g_str_has_prefix(head, "POST /gsma/rsp2/es9plus/handleNotification HTTP/1.1\r\n") ||
      !json_parser_load_from_data(parser, body, (gssize)len, NULL))
    return "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  g_ptr_array_add(f->posts, json_node_copy(json_parser_get_root(parser)));
  g_ptr_array_add(f->admin_protocols, g_strdup(admin ? admin : ""));
  if (f->smdp == SMDP_REJECTS)
    return failed;
  return "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
}

static void peer_read(Peer *peer);

static void peer_read_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  Peer *peer = data;
  gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), res, NULL);
  const char *end;
  g_autofree gchar *head = NULL;
  g_autofree gchar *length = NULL;
  gsize head_len, body_len;
  const char *answer;

  if (n <= 0) {
    g_io_stream_close_async(peer->tls, G_PRIORITY_DEFAULT, NULL, peer_closed, peer);
    return;
  }
  g_byte_array_append(peer->in, peer->buf, (guint)n);
  end = g_strstr_len((const char *)peer->in->data, peer->in->len, "\r\n\r\n");
  if (!end) {
    peer_read(peer);
    return;
  }
  head_len = (gsize)(end - (const char *)peer->in->data) + 2;
  head = g_strndup((const char *)peer->in->data, head_len);
  length = header_value(head, "Content-Length");
  body_len = length ? (gsize)g_ascii_strtoull(length, NULL, 10) : 0;
  if (peer->in->len < head_len + 2 + body_len) {
    peer_read(peer);
    return;
  }
  answer = smdp_answer(peer->f, head, (const char *)peer->in->data + head_len + 2, body_len);
  peer->response = g_strdup(answer);
  g_output_stream_write_all_async(g_io_stream_get_output_stream(peer->tls), peer->response,
                                  strlen(peer->response), G_PRIORITY_DEFAULT, NULL, peer_written,
                                  peer);
}

static void peer_read(Peer *peer)
{
  g_input_stream_read_async(g_io_stream_get_input_stream(peer->tls), peer->buf, sizeof peer->buf,
                            G_PRIORITY_DEFAULT, NULL, peer_read_ready, peer);
}

static void peer_handshake_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  Peer *peer = data;

  /* A client that does not trust the certificate ends it here. */
  if (!g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), res, NULL)) {
    peer_free(peer);
    return;
  }
  peer_read(peer);
}

static gboolean on_incoming(GSocketService *service, GSocketConnection *connection, GObject *source,
                            gpointer data)
{
  Fixture *f = data;
  GIOStream *tls = g_tls_server_connection_new(G_IO_STREAM(connection), f->cert, NULL);
  Peer *peer;

  assert_non_null(tls);
  peer = g_new0(Peer, 1);
  peer->f = f;
  peer->tls = tls;
  peer->in = g_byte_array_new();
  f->n_peers++;
  g_tls_connection_handshake_async(G_TLS_CONNECTION(tls), G_PRIORITY_DEFAULT, NULL,
                                   peer_handshake_ready, peer);
  return TRUE;
}

static void start_smdp(Fixture *f, SmdpMode mode, ManagerConfig *config)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cert_file = NULL;
  g_autofree char *key_file = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new(loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  static char override[64];
  static char ca_file[1024];

  f->smdp = mode;
  f->tmpdir = g_dir_make_tmp("esimd-smdp-XXXXXX", &error);
  assert_non_null(f->tmpdir);
  f->posts = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
  f->admin_protocols = g_ptr_array_new_with_free_func(g_free);
  make_certificate(f, "smdp");
  make_certificate(f, "other");
  cert_file = tmp_path(f, "smdp.pem");
  key_file = tmp_path(f, "smdp.key");
  f->cert = g_tls_certificate_new_from_files(cert_file, key_file, &error);
  assert_non_null(f->cert);

  if (mode == SMDP_DOWN) {
    /* A port that was free a moment ago: nothing answers there. */
    g_autoptr(GSocketListener) probe = g_socket_listener_new();

    assert_true(g_socket_listener_add_address(probe, any_port, G_SOCKET_TYPE_STREAM,
                                              G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error));
    g_socket_listener_close(probe);
  } else {
    f->server = g_socket_service_new();
    assert_true(g_socket_listener_add_address(G_SOCKET_LISTENER(f->server), any_port,
                                              G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                              &bound, &error));
    g_signal_connect(f->server, "incoming", G_CALLBACK(on_incoming), f);
    g_socket_service_start(f->server);
  }
  g_snprintf(override, sizeof override, "127.0.0.1:%u",
             g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
  g_snprintf(ca_file, sizeof ca_file, "%s/%s.pem", f->tmpdir,
             mode == SMDP_UNTRUSTED ? "other" : "smdp");
  config->smdp_ca_file = ca_file;
  config->smdp_host_override = override;
}

static void stop_smdp(Fixture *f)
{
  const char *names[] = {"smdp.pem", "smdp.key", "other.pem", "other.key"};

  if (!f->tmpdir)
    return;
  test_wait_count_down(&f->n_peers);
  if (f->server) {
    /* The pending accept ends cancelled before the sockets close. */
    g_socket_service_stop(f->server);
    test_drain();
    g_socket_listener_close(G_SOCKET_LISTENER(f->server));
    g_clear_object(&f->server);
  }
  g_clear_object(&f->cert);
  test_drain();
  for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
    g_autofree char *path = tmp_path(f, names[i]);

    g_unlink(path);
  }
  g_rmdir(f->tmpdir);
  g_free(f->tmpdir);
  g_ptr_array_unref(f->posts);
  g_ptr_array_unref(f->admin_protocols);
}

/* ---- fixture ------------------------------------------------------------ */

static void add_modem(Fixture *f)
{
  test_manager_add_modem(f->manager, TRANSPORT_KIND_QMI, modem_sim_get_port(f->ms), "");
  test_manager_wait_probed(f->manager);
}

static int setup_with(void **state, const SimSetup *s)
{
  Fixture *f = g_new0(Fixture, 1);
  ManagerConfig config = {.transport_timeout_ms = s->timeout_ms ? s->timeout_ms : 5000};
  guint n_slots = 0;

  while (n_slots < G_N_ELEMENTS(s->slots) && s->slots[n_slots])
    n_slots++;
  f->events = g_ptr_array_new_with_free_func(g_free);
  f->ms = test_modem_sim_start(MODEM_SIM_PROTOCOL_QMI, s->slots, n_slots, s->options,
                               G_N_ELEMENTS(s->options));
  if (s->smdp != SMDP_NONE)
    start_smdp(f, s->smdp, &config);
  config.auto_send_notifications = s->auto_send;
  f->manager = manager_new(&config, &listener, f);
  add_modem(f);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  Fixture *f = *state;

  test_manager_stop(f->manager);
  modem_sim_free(f->ms);
  test_drain();
  stop_smdp(f);
  g_ptr_array_unref(f->events);
  g_free(f);
  return 0;
}

static int setup_three(void **state)
{
  static const SimSetup s = {.slots = {"three-profiles.card", "plain-sim.card"}};

  return setup_with(state, &s);
}

static int setup_ppr(void **state)
{
  static const SimSetup s = {.slots = {"ppr.card"}};

  return setup_with(state, &s);
}

static int setup_notifications(void **state)
{
  static const SimSetup s = {.slots = {"with-notifications.card"}};

  return setup_with(state, &s);
}

static int setup_vendor_aid(void **state)
{
  static const SimSetup s = {.slots = {"two-aids.card"}};

  return setup_with(state, &s);
}

static int setup_short_timeout(void **state)
{
  static const SimSetup s = {.slots = {"three-profiles.card"}, .timeout_ms = 500};

  return setup_with(state, &s);
}

static int setup_smdp(void **state)
{
  static const SimSetup s = {.slots = {"with-notifications.card"}, .smdp = SMDP_ACCEPTS};

  return setup_with(state, &s);
}

static int setup_smdp_rejects(void **state)
{
  static const SimSetup s = {.slots = {"with-notifications.card"}, .smdp = SMDP_REJECTS};

  return setup_with(state, &s);
}

static int setup_smdp_down(void **state)
{
  static const SimSetup s = {.slots = {"with-notifications.card"}, .smdp = SMDP_DOWN};

  return setup_with(state, &s);
}

static int setup_smdp_untrusted(void **state)
{
  static const SimSetup s = {.slots = {"with-notifications.card"}, .smdp = SMDP_UNTRUSTED};

  return setup_with(state, &s);
}

static int setup_auto_send(void **state)
{
  static const SimSetup s = {
      .slots = {"three-profiles.card"}, .smdp = SMDP_ACCEPTS, .auto_send = TRUE};

  return setup_with(state, &s);
}

static int setup_icons(void **state)
{
  static const SimSetup s = {.slots = {"eight-icons.card"}};

  return setup_with(state, &s);
}

static int setup_slow(void **state)
{
  static const SimSetup s = {.slots = {"three-profiles.card"}, .options = {"delay-ms=100"}};

  return setup_with(state, &s);
}

static Euicc *the_euicc(Fixture *f)
{
  Euicc *euicc;

  assert_int_equal(manager_get_euiccs(f->manager)->len, 1);
  euicc = manager_lookup_euicc(f->manager, 0);
  assert_non_null(euicc);
  return euicc;
}

static EuiccSim *the_card(Fixture *f)
{
  return modem_sim_get_card(f->ms, 1);
}

static const Profile *profile_by_iccid(Euicc *euicc, const char *iccid)
{
  GPtrArray *profiles = euicc_get_profiles(euicc);

  for (guint i = 0; i < profiles->len; i++) {
    const Profile *p = g_ptr_array_index(profiles, i);

    if (g_str_equal(p->iccid, iccid))
      return p;
  }
  return NULL;
}

static guint id_of(Euicc *euicc, const char *iccid)
{
  const Profile *p = profile_by_iccid(euicc, iccid);

  assert_non_null(p);
  return p->id;
}

/* ---- operations, each waited for ---------------------------------------- */

typedef enum { OP_ENABLE, OP_DISABLE, OP_DELETE } ProfileOp;

static gboolean run_profile_op(Euicc *euicc, ProfileOp op, guint id, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  switch (op) {
  case OP_ENABLE:
    euicc_profile_enable(euicc, id, NULL, test_got_result, &res);
    break;
  case OP_DISABLE:
    euicc_profile_disable(euicc, id, NULL, test_got_result, &res);
    break;
  case OP_DELETE:
    euicc_profile_delete(euicc, id, NULL, test_got_result, &res);
    break;
  }
  test_wait_result(&res);
  return euicc_operation_finish(euicc, res, error);
}

static gboolean run_nickname(Euicc *euicc, guint id, const char *nickname, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  euicc_profile_set_nickname(euicc, id, nickname, NULL, test_got_result, &res);
  test_wait_result(&res);
  return euicc_operation_finish(euicc, res, error);
}

/* ---- probe and cache ---------------------------------------------------- */

static void test_probe_fills_cache_and_skips_plain_sim(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  const EuiccInfo *info = euicc_get_info(euicc);
  const Profile *first = profile_by_iccid(euicc, ICCID_FIRST);
  const Profile *second = profile_by_iccid(euicc, ICCID_SECOND);

  /* The plain SIM in slot 2 is no eUICC: one eUICC, announced once. */
  assert_true(heard(f, "added 0"));
  assert_int_equal(f->events->len, 1);
  assert_string_equal(euicc_get_eid(euicc), EID_THREE);
  assert_string_equal(euicc_get_transport(euicc), "qmi");
  assert_string_equal(euicc_get_port(euicc), modem_sim_get_port(f->ms));
  assert_int_equal(euicc_get_slot(euicc), 1);
  assert_true(euicc_get_slot_active(euicc));
  assert_string_equal(euicc_get_default_smdp_address(euicc), "smdp.example.com");
  assert_string_equal(euicc_get_root_smds_address(euicc), "smds.example.com");
  assert_string_equal(info->svn, "2.2.2");
  assert_string_equal(info->firmware_version, "4.6.0");
  assert_int_equal(info->free_nv_memory, 380512);
  assert_int_equal(info->installed_applications, 5);
  assert_string_equal(info->category, "medium");
  assert_int_equal(euicc_get_pending_notifications(euicc), 0);

  assert_int_equal(euicc_get_profiles(euicc)->len, 3);
  assert_non_null(first);
  assert_int_equal(first->state, PROFILE_STATE_ENABLED);
  assert_string_equal(first->name, "Example Mobile UK");
  assert_string_equal(first->service_provider, "Example Mobile");
  assert_string_equal(first->nickname, "Work");
  assert_string_equal(first->owner_mccmnc, "23415");
  assert_string_equal(first->isdp_aid, "A0000005591010FFFFFFFF8900001000");
  assert_int_equal(first->profile_class, PROFILE_CLASS_OPERATIONAL);
  assert_int_equal(first->icon_type, PROFILE_ICON_NONE);
  assert_non_null(second);
  assert_int_equal(second->state, PROFILE_STATE_DISABLED);
  assert_string_equal(second->nickname, "");
  assert_string_equal(second->owner_mccmnc, "310410");
  assert_ptr_equal(euicc_get_enabled_profile(euicc), first);
  assert_ptr_equal(euicc_lookup_profile(euicc, first->id), first);
}

static void test_getters_never_touch_the_card(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  guint before = euicc_sim_get_apdu_count(the_card(f));
  GPtrArray *profiles;

  assert_string_equal(euicc_get_eid(euicc), EID_THREE);
  profiles = euicc_get_profiles(euicc);
  for (guint i = 0; i < profiles->len; i++) {
    const Profile *p = g_ptr_array_index(profiles, i);

    assert_ptr_equal(euicc_lookup_profile(euicc, p->id), p);
  }
  assert_non_null(euicc_get_enabled_profile(euicc));
  assert_non_null(euicc_get_info(euicc)->svn);
  assert_non_null(euicc_get_default_smdp_address(euicc));
  assert_non_null(euicc_get_root_smds_address(euicc));
  (void)euicc_get_pending_notifications(euicc);
  test_drain();
  assert_int_equal(euicc_sim_get_apdu_count(the_card(f)), before);
}

static void test_vendor_isdr_aid_is_found(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);

  assert_string_equal(euicc_get_eid(euicc), "89049032123451234512345678904004");
  assert_int_equal(euicc_get_profiles(euicc)->len, 2);
}

/* ---- profile operations ------------------------------------------------- */

static void test_enable_switches_and_signals_both_profiles(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;
  const Profile *first, *second;

  guint before = euicc_sim_get_apdu_count(the_card(f));

  g_ptr_array_set_size(f->events, 0);
  assert_true(run_profile_op(euicc, OP_ENABLE, id_of(euicc, ICCID_SECOND), &error));
  assert_null(error);
  /* EnableProfile, a new channel after the card's reset took the old one
   * (MANAGE CHANNEL, SELECT), ListNotification: the new states follow from
   * the card's ok, with no GetProfilesInfo; nothing to close. */
  assert_int_equal(euicc_sim_get_apdu_count(the_card(f)) - before, 4);
  assert_int_equal(__builtin_popcount(euicc_sim_get_open_channels(the_card(f))), 1);

  first = profile_by_iccid(euicc, ICCID_FIRST);
  second = profile_by_iccid(euicc, ICCID_SECOND);
  assert_int_equal(first->state, PROFILE_STATE_DISABLED);
  assert_int_equal(second->state, PROFILE_STATE_ENABLED);
  assert_ptr_equal(euicc_get_enabled_profile(euicc), second);
  assert_true(heard(f, "state " ICCID_FIRST " disabled"));
  assert_true(heard(f, "state " ICCID_SECOND " enabled"));
  assert_true(heard(f, "enabled-profile"));
  /* The card agrees, and its notifications (disable of the first, enable
   * of the second) are counted. */
  assert_int_equal(euicc_sim_get_profile_state(the_card(f), ICCID_SECOND), 1);
  assert_int_equal(euicc_sim_get_profile_state(the_card(f), ICCID_FIRST), 0);
  assert_int_equal(euicc_get_pending_notifications(euicc),
                   euicc_sim_get_notification_count(the_card(f)));
  assert_int_equal(euicc_get_pending_notifications(euicc), 2);
  assert_true(heard(f, "pending-notifications"));
}

static void test_switch_on_a_card_that_keeps_its_channel(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;

  /* A card (or modem) that does not reset on refreshFlag, with one logical
   * channel: the new channel is refused, the old one closed, and the open
   * tried again. */
  euicc_sim_set_refresh_resets(the_card(f), FALSE);
  euicc_sim_set_max_channels(the_card(f), 1);
  assert_true(run_profile_op(euicc, OP_ENABLE, id_of(euicc, ICCID_SECOND), &error));
  assert_int_equal(euicc_sim_get_profile_state(the_card(f), ICCID_SECOND), 1);
  assert_true(run_profile_op(euicc, OP_DISABLE, id_of(euicc, ICCID_SECOND), &error));
  assert_int_equal(euicc_sim_get_profile_state(the_card(f), ICCID_SECOND), 0);
  assert_int_equal(__builtin_popcount(euicc_sim_get_open_channels(the_card(f))), 1);
}

static void test_disable_leaves_no_enabled_profile(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;

  g_ptr_array_set_size(f->events, 0);
  assert_true(run_profile_op(euicc, OP_DISABLE, id_of(euicc, ICCID_FIRST), &error));
  assert_null(euicc_get_enabled_profile(euicc));
  assert_int_equal(profile_by_iccid(euicc, ICCID_FIRST)->state, PROFILE_STATE_DISABLED);
  assert_true(heard(f, "state " ICCID_FIRST " disabled"));
  assert_true(heard(f, "enabled-profile"));
  assert_int_equal(euicc_sim_get_profile_state(the_card(f), ICCID_FIRST), 0);
}

static void test_delete_removes_profile(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;
  guint id = id_of(euicc, ICCID_THIRD);

  g_ptr_array_set_size(f->events, 0);
  assert_true(run_profile_op(euicc, OP_DELETE, id, &error));
  assert_null(euicc_lookup_profile(euicc, id));
  assert_int_equal(euicc_get_profiles(euicc)->len, 2);
  assert_true(heard(f, "profile-removed " ICCID_THIRD));
  assert_true(heard(f, "profiles"));
  assert_int_equal(euicc_sim_get_profile_count(the_card(f)), 2);
  assert_int_equal(euicc_sim_get_profile_state(the_card(f), ICCID_THIRD), -1);
  /* Deleting it again: it is gone. */
  assert_false(run_profile_op(euicc, OP_DELETE, id, &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_NOT_FOUND));
}

static void test_nickname_is_set_on_card_and_cache(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;

  g_ptr_array_set_size(f->events, 0);
  assert_true(run_nickname(euicc, id_of(euicc, ICCID_SECOND), "Travel", &error));
  assert_string_equal(profile_by_iccid(euicc, ICCID_SECOND)->nickname, "Travel");
  assert_true(heard(f, "nickname " ICCID_SECOND " Travel"));
  assert_string_equal(euicc_sim_get_profile_nickname(the_card(f), ICCID_SECOND), "Travel");
}

static void test_default_smdp_address_is_set(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;

  g_ptr_array_set_size(f->events, 0);
  euicc_set_default_smdp_address(euicc, "rsp.example.org", NULL, test_got_result, &res);
  test_wait_result(&res);
  assert_true(euicc_operation_finish(euicc, res, &error));
  assert_string_equal(euicc_get_default_smdp_address(euicc), "rsp.example.org");
  assert_string_equal(euicc_sim_get_default_smdp_address(the_card(f)), "rsp.example.org");
  assert_true(heard(f, "default-smdp-address"));
  /* The root SM-DS address did not change, so it is not announced. */
  assert_false(heard(f, "root-smds-address"));
}

/* Sends one ES10 request straight to the card, on the channel esimd keeps
 * open, the way another LPA sharing the modem would. */
static void card_es10_behind_our_back(Fixture *f, GBytes *request)
{
  guint32 channels = euicc_sim_get_open_channels(the_card(f));
  guint channel = 1;
  gsize len;
  const guint8 *data = g_bytes_get_data(request, &len);
  g_autoptr(GByteArray) apdu = g_byte_array_new();
  g_autoptr(GBytes) rsp = NULL;
  const guint8 header[] = {0x80, 0xE2, 0x91, 0x00, (guint8)len};
  const guint8 le = 0x00;

  assert_int_not_equal(channels, 0);
  while (!(channels & (1u << channel)))
    channel++;
  assert_true(channel <= 3 && len <= 255);
  g_byte_array_append(apdu, header, sizeof header);
  apdu->data[0] |= (guint8)channel; /* GlobalPlatform CLA of channels 1-3 */
  g_byte_array_append(apdu, data, (guint)len);
  g_byte_array_append(apdu, &le, 1);
  rsp = euicc_sim_transmit(the_card(f), apdu->data, apdu->len);
  assert_non_null(rsp);
  assert_true(g_bytes_get_size(rsp) >= 2);
}

static void test_refresh_sees_changes_made_elsewhere(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GAsyncResult) res2 = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) nickname = es10c_set_nickname_encode(ICCID_SECOND, "Elsewhere", NULL);
  g_autoptr(GBytes) delete = es10c_delete_profile_encode(ES10_PROFILE_ID_ICCID, ICCID_THIRD, NULL);
  guint first_id = id_of(euicc, ICCID_FIRST);

  /* A refresh of an unchanged card signals nothing. */
  euicc_refresh(euicc, SERVICE_READ_MAY_DISTURB, NULL, test_got_result, &res);
  test_wait_result(&res);
  assert_true(euicc_operation_finish(euicc, res, &error));
  assert_int_equal(f->events->len, 1); /* "added 0" */

  card_es10_behind_our_back(f, nickname);
  card_es10_behind_our_back(f, delete);
  /* The cache still shows what esimd last saw, until a refresh. */
  assert_string_equal(profile_by_iccid(euicc, ICCID_SECOND)->nickname, "");
  assert_non_null(profile_by_iccid(euicc, ICCID_THIRD));

  euicc_refresh(euicc, SERVICE_READ_MAY_DISTURB, NULL, test_got_result, &res2);
  test_wait_result(&res2);
  assert_true(euicc_operation_finish(euicc, res2, &error));
  assert_true(heard(f, "nickname " ICCID_SECOND " Elsewhere"));
  assert_true(heard(f, "profile-removed " ICCID_THIRD));
  assert_true(heard(f, "profiles"));
  assert_true(heard(f, "pending-notifications"));
  assert_string_equal(profile_by_iccid(euicc, ICCID_SECOND)->nickname, "Elsewhere");
  assert_null(profile_by_iccid(euicc, ICCID_THIRD));
  /* The profiles that stayed keep their ids. */
  assert_int_equal(id_of(euicc, ICCID_FIRST), first_id);
  assert_int_equal(euicc_get_pending_notifications(euicc),
                   euicc_sim_get_notification_count(the_card(f)));
}

static void test_memory_reset_deletes_operational_profiles(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;

  g_ptr_array_set_size(f->events, 0);
  euicc_reset_memory(euicc, 1u << 0, NULL, test_got_result, &res);
  test_wait_result(&res);
  assert_true(euicc_operation_finish(euicc, res, &error));
  assert_int_equal(euicc_sim_get_profile_count(the_card(f)), 0);
  assert_int_equal(euicc_get_profiles(euicc)->len, 0);
  assert_null(euicc_get_enabled_profile(euicc));
  assert_true(heard(f, "profile-removed " ICCID_FIRST));
  assert_true(heard(f, "profile-removed " ICCID_THIRD));
  assert_true(heard(f, "enabled-profile"));
  /* The default SM-DP+ address was not asked to go. */
  assert_string_equal(euicc_get_default_smdp_address(euicc), "smdp.example.com");
  assert_int_equal(euicc_get_pending_notifications(euicc),
                   euicc_sim_get_notification_count(the_card(f)));
}

static void test_icons_are_cached(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  GPtrArray *profiles = euicc_get_profiles(euicc);
  static const guint8 png_magic[] = {0x89, 'P', 'N', 'G'};

  assert_int_equal(profiles->len, 8);
  for (guint i = 0; i < profiles->len; i++) {
    const Profile *p = g_ptr_array_index(profiles, i);
    gsize len;
    const guint8 *icon = g_bytes_get_data(p->icon, &len);

    assert_int_equal(p->icon_type, PROFILE_ICON_PNG);
    assert_true(len > sizeof png_magic);
    assert_memory_equal(icon, png_magic, sizeof png_magic);
  }
}

/* ---- errors -------------------------------------------------------------- */

static void test_delete_of_enabled_profile_refused_before_card(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;
  guint before = euicc_sim_get_apdu_count(the_card(f));

  assert_false(run_profile_op(euicc, OP_DELETE, id_of(euicc, ICCID_FIRST), &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_PROFILE_ENABLED));
  assert_non_null(strstr(error->message, "disable it before deleting it"));
  assert_int_equal(euicc_sim_get_apdu_count(the_card(f)), before);
  assert_int_equal(euicc_sim_get_profile_count(the_card(f)), 3);
}

static void test_enable_of_enabled_profile_refused(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;
  guint before = euicc_sim_get_apdu_count(the_card(f));

  assert_false(run_profile_op(euicc, OP_ENABLE, id_of(euicc, ICCID_FIRST), &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_PROFILE_ENABLED));
  assert_int_equal(euicc_sim_get_apdu_count(the_card(f)), before);
}

static void test_unknown_profile_is_not_found(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;
  guint before = euicc_sim_get_apdu_count(the_card(f));

  assert_false(run_profile_op(euicc, OP_ENABLE, 4242, &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_NOT_FOUND));
  g_clear_error(&error);
  assert_false(run_nickname(euicc, 4242, "x", &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_NOT_FOUND));
  assert_int_equal(euicc_sim_get_apdu_count(the_card(f)), before);
}

static void test_ppr1_forbids_disable(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;

  assert_false(run_profile_op(euicc, OP_DISABLE, id_of(euicc, "8944500000000000101"), &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_DISALLOWED_BY_POLICY));
  assert_non_null(strstr(error->message, "PPR1"));
  assert_int_equal(profile_by_iccid(euicc, "8944500000000000101")->state, PROFILE_STATE_ENABLED);
  assert_int_equal(euicc_sim_get_profile_state(the_card(f), "8944500000000000101"), 1);
  g_clear_error(&error);
  /* Enabling another would disable it: refused as well. */
  assert_false(run_profile_op(euicc, OP_ENABLE, id_of(euicc, "8944500000000000303"), &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_DISALLOWED_BY_POLICY));
  assert_int_equal(euicc_sim_get_profile_state(the_card(f), "8944500000000000303"), 0);
}

static void test_ppr2_forbids_delete(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;

  assert_false(run_profile_op(euicc, OP_DELETE, id_of(euicc, "8944500000000000202"), &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_DISALLOWED_BY_POLICY));
  assert_non_null(strstr(error->message, "PPR2"));
  assert_non_null(profile_by_iccid(euicc, "8944500000000000202"));
  assert_int_equal(euicc_sim_get_profile_count(the_card(f)), 3);
}

static void assert_rules(const Profile *p, const char *expected)
{
  g_autofree gchar *rules = NULL;

  assert_non_null(p);
  assert_non_null(p->policy_rules);
  rules = g_strjoinv(",", p->policy_rules);
  assert_string_equal(rules, expected);
}

static void test_policy_rules_are_cached_and_follow_refresh(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GAsyncResult) res2 = NULL;
  g_autoptr(GError) error = NULL;

  /* The probe read them: a user sees why Disable or Delete would fail. */
  assert_rules(profile_by_iccid(euicc, "8944500000000000101"), "disable-not-allowed");
  assert_rules(profile_by_iccid(euicc, "8944500000000000202"), "delete-not-allowed");
  assert_rules(profile_by_iccid(euicc, "8944500000000000303"), "");

  /* Unchanged rules signal nothing on a refresh. */
  euicc_refresh(euicc, SERVICE_READ_MAY_DISTURB, NULL, test_got_result, &res);
  test_wait_result(&res);
  assert_true(euicc_operation_finish(euicc, res, &error));
  assert_int_equal(f->events->len, 1); /* "added 0" */

  /* An SM-DP+ changed them (ES6 UpdateMetadata): the next refresh shows it. */
  assert_true(euicc_sim_set_profile_pprs(the_card(f), "8944500000000000303", 1u << 2 | 1u << 3));
  assert_true(euicc_sim_set_profile_pprs(the_card(f), "8944500000000000202", 0));
  euicc_refresh(euicc, SERVICE_READ_MAY_DISTURB, NULL, test_got_result, &res2);
  test_wait_result(&res2);
  assert_true(euicc_operation_finish(euicc, res2, &error));
  assert_true(heard(f, "policy-rules 8944500000000000303 delete-not-allowed,delete-on-disable"));
  assert_true(heard(f, "policy-rules 8944500000000000202 "));
  assert_false(heard(f, "policy-rules 8944500000000000101 disable-not-allowed"));
  assert_rules(profile_by_iccid(euicc, "8944500000000000303"),
               "delete-not-allowed,delete-on-disable");
  assert_rules(profile_by_iccid(euicc, "8944500000000000202"), "");
}

static void test_card_garbage_is_a_card_error(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;

  assert_true(euicc_sim_add_fault(the_card(f), "garbage:BF29@1", &error));
  assert_false(run_nickname(euicc, id_of(euicc, ICCID_SECOND), "Lost", &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_CARD_ERROR));
  assert_string_equal(profile_by_iccid(euicc, ICCID_SECOND)->nickname, "");
  g_clear_error(&error);
  /* The next operation works on the same channel. */
  assert_true(run_nickname(euicc, id_of(euicc, ICCID_SECOND), "Kept", &error));
  assert_string_equal(profile_by_iccid(euicc, ICCID_SECOND)->nickname, "Kept");
}

static void test_card_status_error_is_a_card_error(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;

  assert_true(euicc_sim_add_fault(the_card(f), "sw:BF33=6A80@1", &error));
  assert_false(run_profile_op(euicc, OP_DELETE, id_of(euicc, ICCID_THIRD), &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_CARD_ERROR));
  assert_non_null(strstr(error->message, "6A80"));
  assert_non_null(profile_by_iccid(euicc, ICCID_THIRD));
}

static void test_enable_whose_answer_is_lost_is_verified(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;

  /* The card switches, but its answer never comes back (as when it resets
   * at once): esimd tries again with refreshFlag clear, hears
   * profileNotInDisabledState, and reads back that the switch happened. */
  assert_true(euicc_sim_add_fault(the_card(f), "drop:BF31@1", &error));
  assert_true(run_profile_op(euicc, OP_ENABLE, id_of(euicc, ICCID_THIRD), &error));
  assert_null(error);
  assert_int_equal(euicc_sim_get_profile_state(the_card(f), ICCID_THIRD), 1);
  assert_ptr_equal(euicc_get_enabled_profile(euicc), profile_by_iccid(euicc, ICCID_THIRD));
  assert_int_equal(profile_by_iccid(euicc, ICCID_FIRST)->state, PROFILE_STATE_DISABLED);
}

static guint count_bits(guint32 mask)
{
  guint n = 0;

  for (; mask; mask &= mask - 1)
    n++;
  return n;
}

static void test_lost_channel_is_opened_again(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;
  guint32 before = euicc_sim_get_open_channels(the_card(f));

  /* The card answers as for a channel it no longer has (ISO 7816-4: 6881,
   * logical channel not supported) and does nothing. */
  assert_true(euicc_sim_add_fault(the_card(f), "sw:BF29=6881@1", &error));
  assert_true(run_nickname(euicc, id_of(euicc, ICCID_SECOND), "Again", &error));
  assert_null(error);
  assert_string_equal(euicc_sim_get_profile_nickname(the_card(f), ICCID_SECOND), "Again");
  /* One channel still, the old one closed. */
  assert_int_equal(count_bits(before), 1);
  assert_int_equal(count_bits(euicc_sim_get_open_channels(the_card(f))), 1);
}

/* ---- the queue ------------------------------------------------------------ */

typedef struct {
  Fixture *f;
  GArray *order;
  guint done;
  guint failed;
} OrderLog;

typedef struct {
  OrderLog *log;
  guint index;
  Euicc *euicc;
} OrderCall;

static void order_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  OrderCall *call = data;
  g_autoptr(GError) error = NULL;

  if (!euicc_operation_finish(call->euicc, res, &error)) {
    print_message("operation %u failed: %s\n", call->index, error->message);
    call->log->failed++;
  }
  g_array_append_val(call->log->order, call->index);
  call->log->done++;
  g_free(call);
}

static OrderCall *order_call(OrderLog *log, Euicc *euicc, guint index)
{
  OrderCall *call = g_new0(OrderCall, 1);

  call->log = log;
  call->index = index;
  call->euicc = euicc;
  return call;
}

static void test_ten_operations_served_in_arrival_order(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  guint first = id_of(euicc, ICCID_FIRST);
  guint second = id_of(euicc, ICCID_SECOND);
  guint third = id_of(euicc, ICCID_THIRD);
  OrderLog log = {.f = f, .order = g_array_new(FALSE, FALSE, sizeof(guint))};
  guint i = 0;

  /* Each one is valid only if every one before it ran, in order. */
  euicc_profile_enable(euicc, second, NULL, order_ready, order_call(&log, euicc, i++));
  euicc_profile_set_nickname(euicc, first, "one", NULL, order_ready, order_call(&log, euicc, i++));
  euicc_profile_enable(euicc, third, NULL, order_ready, order_call(&log, euicc, i++));
  euicc_profile_delete(euicc, second, NULL, order_ready, order_call(&log, euicc, i++));
  euicc_profile_set_nickname(euicc, third, "three", NULL, order_ready,
                             order_call(&log, euicc, i++));
  euicc_profile_disable(euicc, third, NULL, order_ready, order_call(&log, euicc, i++));
  euicc_profile_enable(euicc, first, NULL, order_ready, order_call(&log, euicc, i++));
  euicc_profile_delete(euicc, third, NULL, order_ready, order_call(&log, euicc, i++));
  euicc_refresh(euicc, SERVICE_READ_MAY_DISTURB, NULL, order_ready, order_call(&log, euicc, i++));
  euicc_profile_set_nickname(euicc, first, "last", NULL, order_ready, order_call(&log, euicc, i++));
  assert_int_equal(i, 10);

  test_wait_count(&log.done, 10);
  assert_int_equal(log.failed, 0);
  for (guint k = 0; k < 10; k++)
    assert_int_equal(g_array_index(log.order, guint, k), k);
  g_array_unref(log.order);

  /* Cache and card agree on the end state. */
  assert_int_equal(euicc_get_profiles(euicc)->len, 1);
  assert_int_equal(euicc_sim_get_profile_count(the_card(f)), 1);
  assert_int_equal(profile_by_iccid(euicc, ICCID_FIRST)->state, PROFILE_STATE_ENABLED);
  assert_int_equal(euicc_sim_get_profile_state(the_card(f), ICCID_FIRST), 1);
  assert_string_equal(profile_by_iccid(euicc, ICCID_FIRST)->nickname, "last");
  assert_string_equal(euicc_sim_get_profile_nickname(the_card(f), ICCID_FIRST), "last");
  assert_int_equal(euicc_get_pending_notifications(euicc),
                   euicc_sim_get_notification_count(the_card(f)));
}

static void test_cancelled_queued_operation_never_reaches_card(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_autoptr(GAsyncResult) first_res = NULL;
  g_autoptr(GAsyncResult) cancelled_res = NULL;
  g_autoptr(GAsyncResult) last_res = NULL;
  g_autoptr(GError) error = NULL;

  euicc_profile_enable(euicc, id_of(euicc, ICCID_SECOND), NULL, test_got_result, &first_res);
  euicc_profile_delete(euicc, id_of(euicc, ICCID_THIRD), cancellable, test_got_result,
                       &cancelled_res);
  euicc_profile_set_nickname(euicc, id_of(euicc, ICCID_THIRD), "still here", NULL, test_got_result,
                             &last_res);
  g_cancellable_cancel(cancellable);

  test_wait_result(&last_res);
  assert_non_null(first_res);
  assert_non_null(cancelled_res);
  assert_true(euicc_operation_finish(euicc, first_res, NULL));
  assert_false(euicc_operation_finish(euicc, cancelled_res, &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_CANCELLED));
  assert_true(euicc_operation_finish(euicc, last_res, NULL));
  /* The delete never reached the card. */
  assert_int_equal(euicc_sim_get_profile_count(the_card(f)), 3);
  assert_int_equal(euicc_sim_get_profile_state(the_card(f), ICCID_THIRD), 0);
  assert_string_equal(euicc_sim_get_profile_nickname(the_card(f), ICCID_THIRD), "still here");
}

/* ---- notifications -------------------------------------------------------- */

static void test_list_and_remove_notifications(void **state)
{
  static const char *const event_names[] = {"install", "enable", "disable", "delete"};
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GAsyncResult) res2 = NULL;
  g_autoptr(GAsyncResult) res3 = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = NULL;
  guint seq0, count;

  count = euicc_sim_get_notification_count(the_card(f));
  assert_int_equal(count, 4);
  assert_int_equal(euicc_get_pending_notifications(euicc), 4);
  euicc_list_notifications(euicc, NULL, test_got_result, &res);
  test_wait_result(&res);
  list = euicc_list_notifications_finish(euicc, res, &error);
  assert_non_null(list);
  assert_int_equal(list->len, 4);
  for (guint i = 0; i < list->len; i++) {
    EuiccNotification *n = g_ptr_array_index(list, i);
    guint seq, event;
    const char *address, *iccid;

    assert_true(euicc_sim_get_notification(the_card(f), i, &seq, &event, &address, &iccid));
    assert_int_equal(n->seq, seq);
    assert_string_equal(n->address, address);
    assert_in_range(event, 0, 3);
    assert_string_equal(n->operation, event_names[event]);
  }
  seq0 = ((EuiccNotification *)g_ptr_array_index(list, 0))->seq;

  g_ptr_array_set_size(f->events, 0);
  euicc_remove_notification(euicc, seq0, NULL, test_got_result, &res2);
  test_wait_result(&res2);
  assert_true(euicc_operation_finish(euicc, res2, &error));
  assert_int_equal(euicc_sim_get_notification_count(the_card(f)), 3);
  assert_int_equal(euicc_get_pending_notifications(euicc), 3);
  assert_true(heard(f, "pending-notifications"));

  euicc_remove_notification(euicc, seq0, NULL, test_got_result, &res3);
  test_wait_result(&res3);
  assert_false(euicc_operation_finish(euicc, res3, &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_NOT_FOUND));
}

/* ---- notification delivery (ES9+) ----------------------------------------- */

static GPtrArray *run_send(Euicc *euicc, const guint *seqs, gsize n_seqs, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  euicc_send_notifications(euicc, seqs, n_seqs, NULL, test_got_result, &res);
  test_wait_result(&res);
  return euicc_send_notifications_finish(euicc, res, error);
}

static const EuiccDeliveryResult *result_for(GPtrArray *results, guint seq)
{
  for (guint i = 0; i < results->len; i++) {
    const EuiccDeliveryResult *r = g_ptr_array_index(results, i);

    if (r->seq == seq)
      return r;
  }
  return NULL;
}

static void test_send_delivers_each_then_removes_it(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) results = run_send(euicc, NULL, 0, &error);
  g_autoptr(GHashTable) call_ids = g_hash_table_new(g_str_hash, g_str_equal);

  assert_non_null(results);
  assert_int_equal(results->len, 4);
  for (guint seq = 4; seq <= 7; seq++) {
    const EuiccDeliveryResult *r = result_for(results, seq);

    assert_non_null(r);
    assert_true(r->delivered);
  }
  /* Removed from the card only after the SM-DP+ confirmed each. */
  assert_int_equal(euicc_sim_get_notification_count(the_card(f)), 0);
  assert_int_equal(euicc_get_pending_notifications(euicc), 0);
  assert_int_equal(f->delivered, 4);
  assert_true(heard(f, "delivered 7 delete 89012600000000999999 rsp.example.net"));
  assert_true(heard(f, "delivered 5 enable 8944476500005550001 smdp.example.com"));

  /* What the SM-DP+ got: SGP.22 6.5.2.4 JSON, the card's DER untouched. */
  assert_int_equal(f->posts->len, 4);
  for (guint i = 0; i < f->posts->len; i++) {
    JsonObject *body = json_node_get_object(g_ptr_array_index(f->posts, i));
    JsonObject *header = json_object_get_object_member(body, "header");
    const char *call_id = json_object_get_string_member(header, "functionCallIdentifier");
    gsize len;
    g_autofree guchar *der =
        g_base64_decode(json_object_get_string_member(body, "pendingNotification"), &len);
    Tlv tlv;

    assert_string_equal(g_ptr_array_index(f->admin_protocols, i), "gsma/rsp/v2.2.0");
    assert_true(*json_object_get_string_member(header, "functionRequesterIdentifier"));
    assert_false(g_hash_table_contains(call_ids, call_id));
    g_hash_table_add(call_ids, (gpointer)call_id);
    assert_true(tlv_parse(der, len, &tlv, NULL));
    /* ProfileInstallationResult [55] or OtherSignedNotification SEQUENCE. */
    assert_true(tlv.tag == 0xBF37 || tlv.tag == 0x30);
  }
}

static void test_send_only_the_named_notifications(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  const guint seqs[] = {6, 99};
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) results = run_send(euicc, seqs, G_N_ELEMENTS(seqs), &error);
  guint seq;

  assert_non_null(results);
  assert_int_equal(results->len, 2);
  assert_true(result_for(results, 6)->delivered);
  assert_false(result_for(results, 99)->delivered);
  assert_non_null(strstr(result_for(results, 99)->message, "no notification 99"));
  assert_int_equal(euicc_sim_get_notification_count(the_card(f)), 3);
  for (guint i = 0; i < 3; i++) {
    assert_true(euicc_sim_get_notification(the_card(f), i, &seq, NULL, NULL, NULL));
    assert_int_not_equal(seq, 6);
  }
  assert_int_equal(f->posts->len, 1);
}

/* How many NotificationMetadata (BF2F) the card's answers to
 * RetrieveNotificationsList (BF2B) carried, from its APDU log. */
static guint retrieved_metadata(const char *log_path)
{
  g_autofree gchar *text = NULL;
  g_auto(GStrv) lines = NULL;
  gboolean after_retrieve = FALSE;
  guint n = 0;

  assert_true(g_file_get_contents(log_path, &text, NULL, NULL));
  lines = g_strsplit(text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    const char *hex = lines[i] + 2;

    if (g_str_has_prefix(lines[i], "> ")) {
      /* STORE DATA (80E2...) whose data starts with the BF2B tag; a GET
       * RESPONSE (..C0) fetches more of the same answer. */
      if (strlen(hex) >= 4 && g_str_has_prefix(hex + 2, "C0"))
        continue;
      after_retrieve = strlen(hex) > 12 && g_str_has_prefix(hex + 10, "BF2B");
      continue;
    }
    if (!after_retrieve || !g_str_has_prefix(lines[i], "< "))
      continue;
    for (const char *p = hex; (p = strstr(p, "BF2F")); p += 4)
      if ((p - hex) % 2 == 0)
        n++;
  }
  return n;
}

static void test_send_of_one_fetches_only_that_one(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  const guint seqs[] = {6};
  g_autofree gchar *dir = g_dir_make_tmp("esimd-apdu-XXXXXX", NULL);
  g_autofree gchar *log_path = g_build_filename(dir, "apdu.log", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) results = NULL;

  assert_true(euicc_sim_set_apdu_log(the_card(f), log_path, NULL));
  results = run_send(euicc, seqs, 1, &error);
  assert_non_null(results);
  assert_true(result_for(results, 6)->delivered);
  /* A seqNumber search (SGP.22 5.7.10): one notification crossed the modem,
   * not the four the card holds. */
  assert_int_equal(retrieved_metadata(log_path), 1);
  /* All of them, when all are asked for. */
  g_clear_pointer(&results, g_ptr_array_unref);
  results = run_send(euicc, NULL, 0, &error);
  assert_non_null(results);
  assert_int_equal(retrieved_metadata(log_path), 1 + 3);
  euicc_sim_set_apdu_log(the_card(f), NULL, NULL);
  g_unlink(log_path);
  g_rmdir(dir);
}

/* Nothing delivered and every SM-DP+ failed alike: the call fails as a whole. */
static void assert_none_delivered(Fixture *f, GPtrArray *results, const GError *error, int code,
                                  const char *why)
{
  assert_null(results);
  assert_true(g_error_matches(error, ESIMD_ERROR, code));
  if (why)
    assert_non_null(strstr(error->message, why));
  /* Every one stays on the card for a later attempt. */
  assert_int_equal(euicc_sim_get_notification_count(the_card(f)), 4);
  assert_int_equal(f->delivered, 0);
}

static void test_rejected_notification_stays_on_card(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) results = run_send(the_euicc(f), NULL, 0, &error);

  assert_none_delivered(f, results, error, ESIMD_ERROR_SMDP_REJECTED, "unknown notification");
  assert_int_equal(f->posts->len, 4);
}

static void test_unreachable_smdp_keeps_notifications(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) results = run_send(the_euicc(f), NULL, 0, &error);

  assert_none_delivered(f, results, error, ESIMD_ERROR_SMDP_UNREACHABLE, "could not be reached");
}

static void test_untrusted_smdp_certificate_is_refused(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) results = run_send(the_euicc(f), NULL, 0, &error);

  assert_none_delivered(f, results, error, ESIMD_ERROR_SMDP_UNREACHABLE, NULL);
  /* The TLS handshake failed: no request was ever read. */
  assert_int_equal(f->posts->len, 0);
}

static void test_auto_send_after_enable(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GError) error = NULL;

  assert_true(run_profile_op(euicc, OP_ENABLE, id_of(euicc, ICCID_SECOND), &error));
  /* The disable of the first profile and the enable of the second. */
  test_wait_count(&f->delivered, 2);
  assert_int_equal(euicc_sim_get_notification_count(the_card(f)), 0);
  assert_int_equal(f->posts->len, 2);
  test_wait_count(&f->delivered, 2);
  test_drain();
  assert_int_equal(euicc_get_pending_notifications(euicc), 0);
}

/* ---- the modem going away -------------------------------------------------- */

static void test_unplug_mid_operation_answers_removed(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  g_autoptr(GAsyncResult) running = NULL;
  g_autoptr(GAsyncResult) queued = NULL;
  g_autoptr(GAsyncResult) after = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) error2 = NULL;
  g_autoptr(GError) error3 = NULL;
  guint enable_id = id_of(euicc, ICCID_SECOND);

  guint before = euicc_sim_get_apdu_count(the_card(f));

  /* Every answer takes 100 ms: the unplug lands once the card has the
   * enable's first command, while the modem has not answered it yet. */
  euicc_profile_enable(euicc, enable_id, NULL, test_got_result, &running);
  euicc_profile_delete(euicc, id_of(euicc, ICCID_THIRD), NULL, test_got_result, &queued);
  test_wait_card_apdu(f->ms, 1, before);
  modem_sim_unplug(f->ms);

  test_wait_result(&running);
  test_wait_result(&queued);
  assert_false(euicc_operation_finish(euicc, running, &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_REMOVED));
  assert_false(euicc_operation_finish(euicc, queued, &error2));
  assert_true(g_error_matches(error2, ESIMD_ERROR, ESIMD_ERROR_REMOVED));
  test_wait_count(&f->removed, 1);
  assert_true(heard(f, "removed 0"));
  assert_int_equal(manager_get_euiccs(f->manager)->len, 0);
  (void)error3;
  (void)after;
}

/*
 * TLS handshakes ran on GIO's worker threads; let them end before the
 * process does, so that the leak checker sees only the main thread. Idle
 * workers move to GLib's pool of unused threads after half a second.
 */
static void stop_worker_threads(void)
{
  g_thread_pool_set_max_unused_threads(0);
  for (guint i = 0; i < 50; i++) {
    g_thread_pool_stop_unused_threads();
    g_usleep(100 * 1000);
    if (i >= 10 && g_thread_pool_get_num_unused_threads() == 0)
      break;
  }
}

int main(void)
{
  int failed;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_probe_fills_cache_and_skips_plain_sim, setup_three,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_getters_never_touch_the_card, setup_three, teardown),
      cmocka_unit_test_setup_teardown(test_vendor_isdr_aid_is_found, setup_vendor_aid, teardown),
      cmocka_unit_test_setup_teardown(test_enable_switches_and_signals_both_profiles, setup_three,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_switch_on_a_card_that_keeps_its_channel, setup_three,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_disable_leaves_no_enabled_profile, setup_three,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_delete_removes_profile, setup_three, teardown),
      cmocka_unit_test_setup_teardown(test_nickname_is_set_on_card_and_cache, setup_three,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_default_smdp_address_is_set, setup_three, teardown),
      cmocka_unit_test_setup_teardown(test_refresh_sees_changes_made_elsewhere, setup_three,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_memory_reset_deletes_operational_profiles, setup_three,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_icons_are_cached, setup_icons, teardown),
      cmocka_unit_test_setup_teardown(test_delete_of_enabled_profile_refused_before_card,
                                      setup_three, teardown),
      cmocka_unit_test_setup_teardown(test_enable_of_enabled_profile_refused, setup_three,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unknown_profile_is_not_found, setup_three, teardown),
      cmocka_unit_test_setup_teardown(test_ppr1_forbids_disable, setup_ppr, teardown),
      cmocka_unit_test_setup_teardown(test_ppr2_forbids_delete, setup_ppr, teardown),
      cmocka_unit_test_setup_teardown(test_policy_rules_are_cached_and_follow_refresh, setup_ppr,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_card_garbage_is_a_card_error, setup_three, teardown),
      cmocka_unit_test_setup_teardown(test_card_status_error_is_a_card_error, setup_three,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_enable_whose_answer_is_lost_is_verified,
                                      setup_short_timeout, teardown),
      cmocka_unit_test_setup_teardown(test_lost_channel_is_opened_again, setup_three, teardown),
      cmocka_unit_test_setup_teardown(test_ten_operations_served_in_arrival_order, setup_three,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_cancelled_queued_operation_never_reaches_card,
                                      setup_three, teardown),
      cmocka_unit_test_setup_teardown(test_list_and_remove_notifications, setup_notifications,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_send_delivers_each_then_removes_it, setup_smdp,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_send_only_the_named_notifications, setup_smdp, teardown),
      cmocka_unit_test_setup_teardown(test_send_of_one_fetches_only_that_one, setup_smdp, teardown),
      cmocka_unit_test_setup_teardown(test_rejected_notification_stays_on_card, setup_smdp_rejects,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unreachable_smdp_keeps_notifications, setup_smdp_down,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_untrusted_smdp_certificate_is_refused,
                                      setup_smdp_untrusted, teardown),
      cmocka_unit_test_setup_teardown(test_auto_send_after_enable, setup_auto_send, teardown),
      cmocka_unit_test_setup_teardown(test_unplug_mid_operation_answers_removed, setup_slow,
                                      teardown),
  };

  failed = cmocka_run_group_tests(tests, NULL, NULL);
  stop_worker_threads();
  return failed;
}
