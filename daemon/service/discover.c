/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SM-DS event retrieval (SGP.22 3.6.3): mutual authentication with the
 * SM-DS over ES11 exactly as with an SM-DP+ over ES9+ (GetEUICCInfo1,
 * GetEUICCChallenge, initiateAuthentication, AuthenticateServer without a
 * matchingId), after which ES11 authenticateClient answers with the event
 * entries instead of profile metadata. One queued operation: the card sees
 * nothing else between the challenge and the server's authentication.
 */
#include "service/discover.h"

#include <string.h>

#include "service/euicc-private.h"
#include "service/operation.h"
#include "service/service-private.h"
#include "smdp/es9p.h"

/* DeviceInfo's mandatory TAC without sending the IMEI: an SM-DS only routes
 * events, and download.c sends the same test TAC when the modem has no IMEI
 * (SGP.22 5.7.13). The device capabilities are the modem's, as for a
 * download: "the Device SHALL set all the capabilities it supports". */
static const guint8 discover_tac[4] = {0x00, 0x10, 0x01, 0x00};

typedef enum {
  STEP_FIRST,
  STEP_DEVICE,
  STEP_DEVICE_DONE,
  STEP_INFO1,
  STEP_INFO1_DONE,
  STEP_CHALLENGE,
  STEP_CHALLENGE_DONE,
  STEP_INITIATE,
  STEP_INITIATE_DONE,
  STEP_AUTHENTICATE_SERVER,
  STEP_AUTHENTICATE_SERVER_DONE,
  STEP_AUTHENTICATE_CLIENT,
  STEP_AUTHENTICATE_CLIENT_DONE,
  /* cleanup, after a success too */
  STEP_REPORT_REFUSAL,
  STEP_REPORT_REFUSAL_DONE,
  STEP_LAST,
} DiscoverStep;

typedef struct {
  EuiccOp base;
  gchar *address;
  Es9pClient *client;
  GError *net_error;
  GBytes *info1;
  GBytes *challenge;
  Es9pAuthentication *auth;
  GBytes *server_response;
  GBytes *refusal;   /* the card's AuthenticateResponseError, for the SM-DS */
  GPtrArray *events; /* Es11Event* */
} DiscoverContext;

static void discover_step(GTask *task);

static void discover_context_clear(gpointer data)
{
  DiscoverContext *ctx = data;

  g_free(ctx->address);
  g_clear_pointer(&ctx->client, es9p_client_free);
  g_clear_error(&ctx->net_error);
  g_clear_pointer(&ctx->info1, g_bytes_unref);
  g_clear_pointer(&ctx->challenge, g_bytes_unref);
  g_clear_pointer(&ctx->auth, es9p_authentication_free);
  g_clear_pointer(&ctx->server_response, g_bytes_unref);
  g_clear_pointer(&ctx->refusal, g_bytes_unref);
  g_clear_pointer(&ctx->events, g_ptr_array_unref);
}

static const EuiccOpClass discover_class = {
    .name = "discover",
    .step = discover_step,
    .size = sizeof(DiscoverContext),
    .clear = discover_context_clear,
    .cleanup_step = STEP_REPORT_REFUSAL,
    .last_step = STEP_LAST,
};

void discovered_event_free(DiscoveredEvent *e)
{
  if (!e)
    return;
  g_free(e->address);
  g_free(e->event_id);
  g_free(e);
}

static void net_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  DiscoverContext *ctx = g_task_get_task_data(task);

  g_clear_error(&ctx->net_error);
  switch ((DiscoverStep)ctx->base.step) {
  case STEP_INITIATE:
    ctx->auth = es11_initiate_authentication_finish(ctx->client, res, &ctx->net_error);
    break;
  case STEP_AUTHENTICATE_CLIENT:
  case STEP_REPORT_REFUSAL:
    ctx->events = es11_authenticate_client_finish(ctx->client, res, &ctx->net_error);
    break;
  default:
    g_assert_not_reached();
  }
  ctx->base.step++;
  discover_step(task);
}

/* The IMEI read also reads the radio technologies; only they are used, and
 * a modem that gives neither leaves the capabilities empty. */
static void device_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  DiscoverContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *imei = modem_get_imei_finish(euicc_get_modem(ctx->base.euicc), res, &error);

  if (!imei)
    g_debug("discover: no IMEI (%s)", error->message);
  ctx->base.step++;
  discover_step(task);
}

static void fail_net(GTask *task, DiscoverContext *ctx)
{
  euicc_op_fail(
      task, service_es9p_error(g_steal_pointer(&ctx->net_error), ctx->address, ctx->base.doing));
}

static void discover_step(GTask *task)
{
  DiscoverContext *ctx = euicc_op_begin_step(task);
  GError *error = NULL;
  const guint8 *buf;
  gsize len;

  if (!ctx)
    return;
  buf = euicc_op_response(&ctx->base, &len);

  switch ((DiscoverStep)ctx->base.step) {
  case STEP_FIRST: {
    const EuiccSettings *settings = euicc_get_settings(ctx->base.euicc);
    Es9pConfig config = {
        .ca_file = settings->smdp_ca_file,
        .ca_dir = settings->smdp_ca_dir,
        .host_override = settings->smdp_host_override,
    };

    if (!ctx->address || !*ctx->address) {
      euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_NOT_FOUND,
                                      "The eUICC stores no root SM-DS address: give one"));
      return;
    }
    ctx->client = es9p_client_new(&config, &error);
    if (!ctx->client) {
      euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_FAILED, "Cannot ask an SM-DS: %s",
                                      error->message));
      g_error_free(error);
      return;
    }
    ctx->base.step++;
  }
    /* fall through */
  case STEP_DEVICE:
    ctx->base.doing = "reading what the modem supports";
    modem_get_imei(euicc_get_modem(ctx->base.euicc), ctx->base.op.io, device_ready, task);
    return;
  case STEP_DEVICE_DONE:
    if (g_cancellable_is_cancelled(ctx->base.op.io)) {
      euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_CANCELLED, "Cancelled"));
      return;
    }
    ctx->base.step++;
    /* fall through */
  case STEP_INFO1:
    ctx->base.doing = "reading the eUICC's EUICCInfo1";
    euicc_op_call(task, es10b_get_euicc_info1_encode());
    return;
  case STEP_INFO1_DONE:
    if (!euicc_op_check_call(task))
      return;
    ctx->info1 = g_bytes_new(buf, len);
    ctx->base.step++;
    /* fall through */
  case STEP_CHALLENGE:
    ctx->base.doing = "asking the eUICC for a challenge";
    euicc_op_call(task, es10b_get_euicc_challenge_encode());
    return;
  case STEP_CHALLENGE_DONE: {
    guint8 challenge[ES10_CHALLENGE_LEN];

    if (!euicc_op_check_call(task))
      return;
    if (!es10b_get_euicc_challenge_decode(buf, len, challenge, &error)) {
      euicc_op_fail(task, error);
      return;
    }
    ctx->challenge = g_bytes_new(challenge, sizeof challenge);
    ctx->base.step++;
  }
    /* fall through */
  case STEP_INITIATE:
    ctx->base.doing = "starting the authentication with the SM-DS (initiateAuthentication)";
    es11_initiate_authentication(ctx->client, ctx->address, ctx->challenge, ctx->info1,
                                 ctx->base.op.io, net_ready, task);
    return;
  case STEP_INITIATE_DONE:
    if (!ctx->auth) {
      fail_net(task, ctx);
      return;
    }
    ctx->base.step++;
    /* fall through */
  case STEP_AUTHENTICATE_SERVER: {
    Es10DeviceInfo device;
    Es10bAuthenticateServerRequest req = {
        .server_signed1 = ctx->auth->server_signed1,
        .server_signature1 = ctx->auth->server_signature1,
        .euicc_ci_pkid_to_be_used = ctx->auth->euicc_ci_pkid_to_be_used,
        .server_certificate = ctx->auth->server_certificate,
        .matching_id = NULL,
        .device_info = &device,
    };
    GBytes *request;

    memset(&device, 0, sizeof device);
    memcpy(device.tac, discover_tac, sizeof discover_tac);
    modem_get_device_capabilities(euicc_get_modem(ctx->base.euicc), &device);
    ctx->base.doing = "having the eUICC authenticate the SM-DS";
    request = es10b_authenticate_server_encode_es11(&req, &error);
    if (!request) {
      euicc_op_fail_invalid_args(task, "The SM-DS request cannot be built", error);
      return;
    }
    euicc_op_call(task, request);
    return;
  }
  case STEP_AUTHENTICATE_SERVER_DONE: {
    g_autoptr(Es10bAuthenticateServerResponse) asr = NULL;

    if (!euicc_op_check_call(task))
      return;
    if (!es10b_authenticate_server_decode(buf, len, &asr, &error)) {
      euicc_op_fail(task, error);
      return;
    }
    if (asr->result != ES10B_AUTHENTICATE_OK) {
      /* Its AuthenticateResponseError goes to the SM-DS all the same. */
      ctx->refusal = g_bytes_new(buf, len);
      euicc_op_fail_result(task, ES10_CMD_AUTHENTICATE_SERVER, (gint)asr->result, ctx->address);
      return;
    }
    ctx->server_response = g_bytes_ref(asr->der);
    ctx->base.step++;
  }
    /* fall through */
  case STEP_AUTHENTICATE_CLIENT:
    ctx->base.doing = "asking the SM-DS for events (authenticateClient)";
    es11_authenticate_client(ctx->client, ctx->address, ctx->auth->transaction_id,
                             ctx->server_response, ctx->base.op.io, net_ready, task);
    return;
  case STEP_AUTHENTICATE_CLIENT_DONE:
    if (!ctx->events) {
      fail_net(task, ctx);
      return;
    }
    ctx->base.step++;
    /* fall through */
  case STEP_REPORT_REFUSAL:
    /* Cleanup: never euicc_op_fail() from here on. SGP.22 3.0.1: the
     * card's refusal of the server is the AuthenticateServerResponse the
     * LPA sends in authenticateClient, ES11 as ES9+; the SM-DS ends its
     * transaction on it instead of waiting it out. */
    if (!ctx->refusal) {
      ctx->base.step = STEP_LAST;
      discover_step(task);
      return;
    }
    es11_authenticate_client(ctx->client, ctx->address, ctx->auth->transaction_id, ctx->refusal,
                             ctx->base.op.io, net_ready, task);
    return;
  case STEP_REPORT_REFUSAL_DONE:
    /* The SM-DS answers with an error; that it heard is what counts. */
    g_info("%s: the SM-DS %s was told of the card's refusal: %s", euicc_get_label(ctx->base.euicc),
           ctx->address, ctx->net_error ? ctx->net_error->message : "accepted");
    g_clear_error(&ctx->net_error);
    ctx->base.step++;
    /* fall through */
  case STEP_LAST: {
    GPtrArray *out = NULL;

    if (!euicc_op_failed(&ctx->base)) {
      out = g_ptr_array_new_with_free_func((GDestroyNotify)discovered_event_free);
      for (guint i = 0; i < ctx->events->len; i++) {
        const Es11Event *ev = g_ptr_array_index(ctx->events, i);
        DiscoveredEvent *e = g_new0(DiscoveredEvent, 1);

        e->address = g_strdup(ev->address);
        e->event_id = g_strdup(ev->event_id);
        g_ptr_array_add(out, e);
      }
    }
    euicc_op_complete_pointer(task, out, (GDestroyNotify)g_ptr_array_unref);
    return;
  }
  }
  g_assert_not_reached();
}

void euicc_discover(Euicc *euicc, const char *smds_address, GCancellable *cancellable,
                    GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = euicc_op_new(euicc, &discover_class, cancellable, cb, user_data);
  DiscoverContext *ctx = g_task_get_task_data(task);

  ctx->address =
      g_strdup(smds_address && *smds_address ? smds_address : euicc_get_root_smds_address(euicc));
  euicc_op_queue(task);
}

GPtrArray *euicc_discover_finish(Euicc *euicc, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}
