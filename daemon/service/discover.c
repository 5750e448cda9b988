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

#include "service/authenticate.h"
#include "service/euicc-private.h"
#include "service/operation.h"
#include "service/service-private.h"

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
  Authentication authn;
  GPtrArray *events; /* Es11Event* */
} DiscoverContext;

static void discover_step(GTask *task);

static void discover_context_clear(gpointer data)
{
  DiscoverContext *ctx = data;

  authenticate_clear(&ctx->authn);
  g_free(ctx->address);
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

  switch ((DiscoverStep)ctx->base.step) {
  case STEP_DEVICE:
    authenticate_read_device_finish(task, &ctx->authn, res);
    break;
  case STEP_INITIATE:
    authenticate_initiate_finish(&ctx->authn, res);
    break;
  case STEP_AUTHENTICATE_CLIENT:
    g_clear_error(&ctx->authn.net_error);
    ctx->events = es11_authenticate_client_finish(ctx->authn.client, res, &ctx->authn.net_error);
    break;
  case STEP_REPORT_REFUSAL:
    authenticate_report_refusal_finish(task, &ctx->authn, res);
    break;
  default:
    g_assert_not_reached();
  }
  ctx->base.step++;
  discover_step(task);
}

static void fail_net(GTask *task, DiscoverContext *ctx)
{
  euicc_op_fail(task, service_es9p_error(g_steal_pointer(&ctx->authn.net_error), ctx->address,
                                         ctx->base.doing));
}

static void discover_step(GTask *task)
{
  DiscoverContext *ctx = euicc_op_begin_step(task);

  if (!ctx)
    return;

  switch ((DiscoverStep)ctx->base.step) {
  case STEP_FIRST:
    if (!ctx->address || !*ctx->address) {
      euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_NOT_FOUND,
                                      "The eUICC stores no root SM-DS address: give one"));
      return;
    }
    if (!authenticate_open(task, &ctx->authn))
      return;
    ctx->base.step++;
    /* fall through */
  case STEP_DEVICE:
    authenticate_read_device(task, &ctx->authn, net_ready);
    return;
  case STEP_DEVICE_DONE:
    if (g_cancellable_is_cancelled(ctx->base.op.io)) {
      euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_CANCELLED, "Cancelled"));
      return;
    }
    authenticate_read_device_done(task, &ctx->authn);
    ctx->base.step++;
    /* fall through */
  case STEP_INFO1:
    authenticate_get_info1(task);
    return;
  case STEP_INFO1_DONE:
    if (!authenticate_get_info1_done(task, &ctx->authn))
      return;
    ctx->base.step++;
    /* fall through */
  case STEP_CHALLENGE:
    authenticate_get_challenge(task);
    return;
  case STEP_CHALLENGE_DONE:
    if (!authenticate_get_challenge_done(task, &ctx->authn))
      return;
    ctx->base.step++;
    /* fall through */
  case STEP_INITIATE:
    authenticate_initiate(task, &ctx->authn, ctx->base.op.io, net_ready);
    return;
  case STEP_INITIATE_DONE:
    if (!ctx->authn.auth) {
      fail_net(task, ctx);
      return;
    }
    ctx->base.step++;
    /* fall through */
  case STEP_AUTHENTICATE_SERVER:
    /* No matchingId: the SM-DS answers with every event for the eUICC. */
    authenticate_server(task, &ctx->authn, NULL);
    return;
  case STEP_AUTHENTICATE_SERVER_DONE:
    if (!authenticate_server_done(task, &ctx->authn))
      return;
    ctx->base.step++;
    /* fall through */
  case STEP_AUTHENTICATE_CLIENT:
    ctx->base.doing = "asking the SM-DS for events (authenticateClient)";
    es11_authenticate_client(ctx->authn.client, ctx->address, ctx->authn.auth->transaction_id,
                             ctx->authn.server_response, ctx->base.op.io, net_ready, task);
    return;
  case STEP_AUTHENTICATE_CLIENT_DONE:
    if (!ctx->events) {
      fail_net(task, ctx);
      return;
    }
    ctx->base.step++;
    /* fall through */
  case STEP_REPORT_REFUSAL:
    /* Cleanup: never euicc_op_fail() from here on. */
    if (authenticate_report_refusal(task, &ctx->authn, net_ready))
      return;
    ctx->base.step = STEP_LAST;
    discover_step(task);
    return;
  case STEP_REPORT_REFUSAL_DONE:
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
  authenticate_init(&ctx->authn, AUTHENTICATE_SMDS, ctx->address);
  euicc_op_queue(task);
}

GPtrArray *euicc_discover_finish(Euicc *euicc, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}
