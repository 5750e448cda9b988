/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Profile download (SGP.22 3.1.3): one queued operation that holds the card
 * from GetEUICCInfo1 to the last LoadBoundProfilePackage segment, the ES9+
 * exchanges with the SM-DP+ and the user's consent included, so that no
 * other operation ever sees the card between two steps of a session.
 *
 * Every failure after the card authenticated the SM-DP+ walks the explicit
 * cleanup steps: CancelSession on the card (5.7.14), its signed answer to
 * the SM-DP+ (ES9+ cancelSession, 5.6.5), and a recount of the card's
 * notifications. The install result itself, success or not, is the one
 * notification a session writes: the existing delivery path takes it to
 * the SM-DP+ (3.1.3.3, 3.5), and nothing is read back for it.
 *
 * The Download object its caller holds (state, consent, cancel) is
 * download-object.c; the steps shared with SM-DS discovery authenticate.c.
 */
#include "service/authenticate.h"
#include "service/download-private.h"
#include "service/euicc-private.h"

#include <string.h>

#include "smdp/es9p.h"

/*
 * Progress: each answer of the SM-DP+ moves it, so that a slow SM-DP+ is
 * seen waiting on its next step rather than stuck at 0; the load of the
 * profile package onto the card takes the rest, segment by segment.
 */
#define PROGRESS_INITIATED 0.05
#define PROGRESS_AUTHENTICATED 0.1
#define PROGRESS_BPP 0.2

typedef enum {
  STEP_FIRST,
  STEP_IMEI,
  STEP_IMEI_DONE,
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
  STEP_POLICY_RULES,
  STEP_POLICY_RULES_DONE,
  STEP_CONFIRM,
  STEP_PREPARE,
  STEP_PREPARE_DONE,
  STEP_GET_BPP,
  STEP_GET_BPP_DONE,
  STEP_LOAD,
  STEP_LOAD_DONE,
  STEP_PROFILES,
  STEP_PROFILES_DONE,
  /* cleanup, after a success too */
  STEP_REPORT_REFUSAL,
  STEP_REPORT_REFUSAL_DONE,
  STEP_CANCEL_CARD,
  STEP_CANCEL_CARD_DONE,
  STEP_CANCEL_SMDP,
  STEP_CANCEL_SMDP_DONE,
  STEP_NOTIFICATIONS,
  STEP_NOTIFICATIONS_DONE,
  STEP_LAST,
} DownloadStep;

typedef struct {
  EuiccOp base;
  Download *d;
  Authentication authn; /* its net_error is that of every ES9+ call */
  Es9pClientAuthentication *client_auth;
  gboolean authenticated; /* the card holds (or held) a session */
  gboolean session_open;  /* ... not ended by an install result yet */
  guint32 pprs;           /* of the profile, that the RAT must allow (Es10Ppr bits) */
  GBytes *prepare_response;
  GBytes *bpp;
  GPtrArray *segments; /* GBytes*, each its own STORE DATA sequence */
  guint segment;
  guint cancel_reason;
  GBytes *cancel_response; /* the card's signed CancelSessionResponse */
  gboolean result_written; /* the card gave its install result */
  gchar *isdp_aid;         /* of the installed profile, when the result names it */
} DownloadContext;

static void download_step(GTask *task);

static void download_context_clear(gpointer data)
{
  DownloadContext *ctx = data;

  ctx->d->task = NULL;
  download_unref(ctx->d);
  authenticate_clear(&ctx->authn);
  g_clear_pointer(&ctx->client_auth, es9p_client_authentication_free);
  g_free(ctx->isdp_aid);
  g_clear_pointer(&ctx->prepare_response, g_bytes_unref);
  g_clear_pointer(&ctx->bpp, g_bytes_unref);
  g_clear_pointer(&ctx->segments, g_ptr_array_unref);
  g_clear_pointer(&ctx->cancel_response, g_bytes_unref);
}

/* esimd is shutting down: a download waiting for consent ends as
 * postponed (SGP.22 CancelSession) instead of holding the shutdown until
 * the consent timeout. */
static void download_interrupt(gpointer data)
{
  DownloadContext *ctx = data;

  download_reject(ctx->d, TRUE);
}

static const EuiccOpClass download_class = {
    .name = "download",
    .step = download_step,
    .size = sizeof(DownloadContext),
    .clear = download_context_clear,
    .cleanup_step = STEP_REPORT_REFUSAL,
    .last_step = STEP_LAST,
    .interrupt = download_interrupt,
};

/* ---- the step machine ---- */

static void net_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  DownloadContext *ctx = g_task_get_task_data(task);
  Es9pClient *client = ctx->authn.client;
  GError **e = &ctx->authn.net_error;

  g_clear_error(e);
  switch ((DownloadStep)ctx->base.step) {
  case STEP_IMEI:
    authenticate_read_device_finish(task, &ctx->authn, res);
    break;
  case STEP_INITIATE:
    authenticate_initiate_finish(&ctx->authn, res);
    break;
  case STEP_AUTHENTICATE_CLIENT:
    ctx->client_auth = es9p_authenticate_client_finish(client, res, e);
    break;
  case STEP_REPORT_REFUSAL:
    authenticate_report_refusal_finish(task, &ctx->authn, res);
    break;
  case STEP_GET_BPP:
    ctx->bpp = es9p_get_bound_profile_package_finish(client, res, e);
    break;
  case STEP_CANCEL_SMDP:
    es9p_cancel_session_finish(client, res, e);
    break;
  default:
    g_assert_not_reached();
  }
  ctx->base.step++;
  download_step(task);
}

/* The last ES9+ call failed: the error the caller gets. */
static void fail_net(GTask *task, DownloadContext *ctx)
{
  GError *error = g_steal_pointer(&ctx->authn.net_error);

  if (ctx->d->cancel_requested && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    ctx->cancel_reason = ctx->d->cancel_reason;
    g_error_free(error);
    error = g_error_new(ESIMD_ERROR, ESIMD_ERROR_CANCELLED, "The download was cancelled");
  }
  euicc_op_fail(task, service_es9p_error(error, ctx->d->smdp_address, ctx->base.doing));
}

/*
 * SGP.22 3.1.3.1 and 5.6.3: the SM-DP+ refused the confirmation code
 * (8.2.7 / 3.8) but keeps the transaction open while it allows more tries
 * (8.2.7 / 6.4 once they are used up, a failure like any other). The code
 * went into the card's signed euiccSigned2 as hashCc, so another try is
 * PrepareDownload again in the same session with the new code.
 */
static gboolean code_refused(const GError *error)
{
  g_autofree gchar *subject = NULL;
  g_autofree gchar *reason = NULL;

  return g_error_matches(error, ES9P_ERROR, ES9P_ERROR_CONFIRMATION_CODE) &&
         es9p_error_get_status(error, &subject, &reason) && g_str_equal(subject, "8.2.7") &&
         g_str_equal(reason, "3.8");
}

/* Before anything new is started: a cancel or rejection stops here. */
static gboolean stopped(GTask *task, DownloadContext *ctx)
{
  if (!ctx->d->cancel_requested)
    return FALSE;
  ctx->cancel_reason = ctx->d->cancel_reason;
  if (ctx->cancel_reason == ES10B_CANCEL_TIMEOUT) {
    euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_TIMEOUT,
                                    "Nobody confirmed the download within %u s",
                                    ctx->d->consent_timeout_ms / 1000));
    return TRUE;
  }
  euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_CANCELLED,
                                  ctx->cancel_reason == ES10B_CANCEL_END_USER_REJECTION
                                      ? "The download was rejected"
                                      : "The download was cancelled (postponed)"));
  return TRUE;
}

static void download_step(GTask *task)
{
  DownloadContext *ctx = euicc_op_begin_step(task);
  Download *d;
  GError *error = NULL;
  gsize len;
  const guint8 *buf;

  if (!ctx)
    return;
  d = ctx->d;
  buf = euicc_op_response(&ctx->base, &len);

  switch ((DownloadStep)ctx->base.step) {
  case STEP_FIRST:
    ctx->cancel_reason = ES10B_CANCEL_UNDEFINED_REASON;
    if (!authenticate_open(task, &ctx->authn))
      return;
    ctx->base.step++;
    /* fall through */
  case STEP_IMEI:
    authenticate_read_device(task, &ctx->authn, net_ready);
    return;
  case STEP_IMEI_DONE:
    authenticate_read_device_done(task, &ctx->authn);
    ctx->base.step++;
    /* fall through */
  case STEP_INFO1:
    if (stopped(task, ctx))
      return;
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
    if (stopped(task, ctx))
      return;
    authenticate_initiate(task, &ctx->authn, d->cancellable, net_ready);
    return;
  case STEP_INITIATE_DONE:
    if (!ctx->authn.auth) {
      fail_net(task, ctx);
      return;
    }
    /* SGP.22 4.1: a code with an SM-DP+ OID is for that SM-DP+ only. The
     * card holds no session yet, so there is nothing to cancel on it, and
     * ES9+ cancelSession needs the card's signed answer: the SM-DP+ lets
     * its unanswered transaction expire. */
    if (!download_check_smdp_oid(d->smdp_oid, ctx->authn.auth->server_certificate, d->smdp_address,
                                 &error)) {
      euicc_op_fail(task, error);
      return;
    }
    download_set_progress(d, PROGRESS_INITIATED);
    ctx->base.step++;
    /* fall through */
  case STEP_AUTHENTICATE_SERVER:
    if (stopped(task, ctx))
      return;
    authenticate_server(task, &ctx->authn, d->matching_id);
    return;
  case STEP_AUTHENTICATE_SERVER_DONE:
    if (!authenticate_server_done(task, &ctx->authn))
      return;
    /* From here on the card holds a session: every failure cancels it. */
    ctx->authenticated = ctx->session_open = TRUE;
    ctx->base.step++;
    /* fall through */
  case STEP_AUTHENTICATE_CLIENT:
    if (stopped(task, ctx))
      return;
    ctx->base.doing = "authenticating the eUICC to the SM-DP+ (authenticateClient)";
    es9p_authenticate_client(ctx->authn.client, d->smdp_address, ctx->authn.auth->transaction_id,
                             ctx->authn.server_response, d->cancellable, net_ready, task);
    return;
  case STEP_AUTHENTICATE_CLIENT_DONE: {
    g_autoptr(Es10SmdpSigned2) signed2 = NULL;

    if (!ctx->client_auth) {
      fail_net(task, ctx);
      return;
    }
    d->metadata = download_metadata_decode(ctx->client_auth->profile_metadata, &error);
    if (d->metadata)
      signed2 = download_smdp_signed2_decode(ctx->client_auth->smdp_signed2,
                                             ctx->authn.transaction_id, &error);
    if (!signed2) {
      euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_FAILED,
                                      "The SM-DP+ %s described the profile wrongly: %s",
                                      d->smdp_address, error->message));
      g_error_free(error);
      return;
    }
    d->cc_required = signed2->cc_required;
    download_emit_changed(d);
    download_set_progress(d, PROGRESS_AUTHENTICATED);
    ctx->base.step++;
  }
    /* fall through */
  case STEP_POLICY_RULES:
    /* SGP.22 3.1.3.2: PPRs are checked before the user is asked (2.9);
     * a refusal cancels the session with pprNotAllowed on both sides.
     * The RAT is read only for a profile that has PPRs. */
    ctx->pprs = download_ppr_wanted(ctx->client_auth->profile_metadata);
    if (!download_ppr_check_profiles(ctx->base.euicc, ctx->pprs, d->metadata->iccid, &error)) {
      ctx->cancel_reason = ES10B_CANCEL_PPR_NOT_ALLOWED;
      euicc_op_fail(task, error);
      return;
    }
    if (!ctx->pprs) {
      ctx->base.step = STEP_CONFIRM;
      download_step(task);
      return;
    }
    ctx->base.doing = "reading the eUICC's Rules Authorisation Table";
    euicc_op_call(task, es10b_get_rat_encode());
    return;
  case STEP_POLICY_RULES_DONE: {
    g_autoptr(GPtrArray) rat = NULL;

    if (!euicc_op_check_call(task))
      return;
    if (!es10b_get_rat_decode(buf, len, &rat, &error)) {
      euicc_op_fail(task, error);
      return;
    }
    if (!download_ppr_check_rat(ctx->client_auth->profile_metadata, rat,
                                &d->metadata->policy_consent_required, &error)) {
      ctx->cancel_reason = ES10B_CANCEL_PPR_NOT_ALLOWED;
      euicc_op_fail(task, error);
      return;
    }
    if (d->metadata->policy_consent_required)
      download_emit_changed(d);
    ctx->base.step++;
  }
    /* fall through */
  case STEP_CONFIRM:
    if (stopped(task, ctx))
      return;
    /* SGP.22 3.1.3.1: the end user confirms the download (and gives the
     * code) after seeing the metadata; the card's queue waits meanwhile.
     * PPRs whose RAT rule wants consent (3.1.3.2) need it given with them
     * shown: an accept given before the metadata was known is not that. */
    if (!d->accept || (d->metadata->policy_consent_required && !d->consented)) {
      download_pause_for_consent(d);
      return;
    }
    if (d->cc_required && !d->confirmation_code) {
      ctx->cancel_reason = ES10B_CANCEL_END_USER_REJECTION;
      euicc_op_fail(task,
                    g_error_new(ESIMD_ERROR, ESIMD_ERROR_CONFIRMATION_CODE_WRONG,
                                "The SM-DP+ %s requires a confirmation code", d->smdp_address));
      return;
    }
    download_set_state(d, DOWNLOAD_STATE_DOWNLOADING);
    ctx->base.step++;
    /* fall through */
  case STEP_PREPARE: {
    guint8 hash_cc[ES10_HASH_CC_LEN];
    gboolean with_cc = d->cc_required && d->confirmation_code;
    GBytes *request;

    ctx->base.doing = "preparing the download on the eUICC";
    /* 5.7.5: the code only as a hash bound to this transaction. */
    if (with_cc && !es10_hash_confirmation_code(d->confirmation_code, ctx->authn.transaction_id,
                                                hash_cc, &error)) {
      euicc_op_fail_invalid_args(task, "The confirmation code cannot be used", error);
      return;
    }
    request = es10b_prepare_download_encode(
        ctx->client_auth->smdp_signed2, ctx->client_auth->smdp_signature2, with_cc ? hash_cc : NULL,
        ctx->client_auth->smdp_certificate, &error);
    if (!request) {
      euicc_op_fail(task, error);
      return;
    }
    euicc_op_call(task, request);
    return;
  }
  case STEP_PREPARE_DONE: {
    g_autoptr(Es10bPrepareDownloadResponse) pdr = NULL;

    if (!euicc_op_check_call(task))
      return;
    if (!es10b_prepare_download_decode(buf, len, &pdr, &error)) {
      euicc_op_fail(task, error);
      return;
    }
    if (pdr->result != ES10B_DOWNLOAD_OK) {
      euicc_op_fail_result(task, ES10_CMD_PREPARE_DOWNLOAD, (gint)pdr->result, d->smdp_address);
      return;
    }
    ctx->prepare_response = g_bytes_ref(pdr->der);
    ctx->base.step++;
  }
    /* fall through */
  case STEP_GET_BPP:
    if (stopped(task, ctx))
      return;
    ctx->base.doing = "fetching the profile (getBoundProfilePackage)";
    es9p_get_bound_profile_package(ctx->authn.client, d->smdp_address,
                                   ctx->authn.auth->transaction_id, ctx->prepare_response,
                                   d->cancellable, net_ready, task);
    return;
  case STEP_GET_BPP_DONE:
    if (!ctx->bpp && code_refused(ctx->authn.net_error)) {
      /* Back to the user's consent with the refusal shown (it stays until
       * Accept): the code is asked again, also of a caller that gave it
       * and accept up front. */
      g_info("%s: the SM-DP+ %s refused the confirmation code; asking again",
             euicc_get_label(d->euicc), d->smdp_address);
      download_refuse_code(d, service_es9p_error(g_steal_pointer(&ctx->authn.net_error),
                                                 d->smdp_address, ctx->base.doing));
      g_clear_pointer(&ctx->prepare_response, g_bytes_unref);
      ctx->base.step = STEP_CONFIRM;
      download_step(task);
      return;
    }
    if (!ctx->bpp) {
      fail_net(task, ctx);
      return;
    }
    if (!es10b_bound_profile_package_split(g_bytes_get_data(ctx->bpp, NULL),
                                           g_bytes_get_size(ctx->bpp), &ctx->segments, &error)) {
      euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_FAILED,
                                      "The SM-DP+ %s sent a malformed profile package: %s",
                                      d->smdp_address, error->message));
      g_error_free(error);
      return;
    }
    g_info("%s: profile package of %" G_GSIZE_FORMAT " bytes in %u segments",
           euicc_get_label(d->euicc), g_bytes_get_size(ctx->bpp), ctx->segments->len);
    download_set_progress(d, PROGRESS_BPP);
    download_set_state(d, DOWNLOAD_STATE_INSTALLING);
    ctx->base.step++;
    /* fall through */
  case STEP_LOAD:
    if (stopped(task, ctx))
      return;
    ctx->base.doing = "loading the profile onto the eUICC";
    /* SGP.22 2.5.5: each segment is one STORE DATA sequence of its own. */
    euicc_op_call(task, g_bytes_ref(g_ptr_array_index(ctx->segments, ctx->segment)));
    return;
  case STEP_LOAD_DONE: {
    g_autoptr(Es10bProfileInstallationResult) pir = NULL;

    if (ctx->base.call_error)
      ctx->cancel_reason = ES10B_CANCEL_LOAD_BPP_EXECUTION_ERROR;
    if (!euicc_op_check_call(task))
      return;
    if (!es10b_load_bound_profile_package_decode(buf, len, &pir, &error)) {
      ctx->cancel_reason = ES10B_CANCEL_LOAD_BPP_EXECUTION_ERROR;
      euicc_op_fail(task, error);
      return;
    }
    ctx->segment++;
    download_set_progress(d,
                          PROGRESS_BPP + (1.0 - PROGRESS_BPP) * ctx->segment / ctx->segments->len);
    if (!pir) {
      if (ctx->segment < ctx->segments->len) {
        ctx->base.step = STEP_LOAD;
        download_step(task);
        return;
      }
      ctx->cancel_reason = ES10B_CANCEL_LOAD_BPP_EXECUTION_ERROR;
      euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_CARD_ERROR,
                                      "The eUICC gave no installation result for the profile"));
      return;
    }
    /* The install result ends the card's session either way (5.7.6), and
     * the card keeps it as a notification for the SM-DP+ (3.1.3.3). */
    ctx->session_open = FALSE;
    ctx->result_written = TRUE;
    if (pir->result != ES10B_INSTALL_OK) {
      g_autofree gchar *shown = euicc_log_id(d->euicc, d->metadata->iccid);
      GError *e =
          service_result_error(ES10_CMD_LOAD_BOUND_PROFILE_PACKAGE, (gint)pir->result, shown);

      euicc_op_fail(task, g_error_new(e->domain, e->code, "%s at %s", e->message,
                                      es10b_bpp_command_id_to_string(pir->bpp_command_id)));
      g_error_free(e);
      return;
    }
    d->progress = 1.0;
    d->iccid = g_strdup(pir->metadata.iccid ? pir->metadata.iccid : d->metadata->iccid);
    ctx->isdp_aid = g_strdup(pir->isdp_aid);
    ctx->base.step++;
  }
    /* fall through */
  case STEP_PROFILES: {
    /* The card holds the profile as its metadata says, disabled, in the
     * ISD-P its install result names (2.5.5, 5.5.3): nothing to read back.
     * A result without the ISD-P has the card asked. */
    g_autoptr(Es10ProfileInfo) installed =
        ctx->isdp_aid
            ? download_installed_profile(ctx->client_auth->profile_metadata, ctx->isdp_aid)
            : NULL;

    if (installed && g_strcmp0(installed->iccid, d->iccid) == 0) {
      euicc_apply_install(ctx->base.euicc, installed);
      download_emit_changed(d);
      ctx->base.step = STEP_REPORT_REFUSAL;
      download_step(task);
      return;
    }
    ctx->base.doing = card_read_doing(CARD_READ_PROFILES);
    card_read_send(task, CARD_READ_PROFILES);
    return;
  }
  case STEP_PROFILES_DONE:
    if (!card_read_apply(task, CARD_READ_PROFILES))
      return;
    download_emit_changed(d);
    ctx->base.step++;
    /* fall through */
  case STEP_REPORT_REFUSAL:
    /* Cleanup: never euicc_op_fail() from here on, it would come back. */
    if (authenticate_report_refusal(task, &ctx->authn, net_ready))
      return;
    ctx->base.step = STEP_CANCEL_CARD;
    download_step(task);
    return;
  case STEP_REPORT_REFUSAL_DONE:
    ctx->base.step++;
    /* fall through */
  case STEP_CANCEL_CARD:
    if (!euicc_op_failed(&ctx->base) || !ctx->session_open || ctx->base.card_gone) {
      ctx->base.step = STEP_NOTIFICATIONS;
      download_step(task);
      return;
    }
    {
      GBytes *request = es10b_cancel_session_encode(
          ctx->authn.transaction_id, (Es10bCancelSessionReason)ctx->cancel_reason, &error);

      if (!request) {
        g_warning("%s: cannot cancel the download session: %s", euicc_get_label(d->euicc),
                  error->message);
        g_clear_error(&error);
        ctx->base.step = STEP_NOTIFICATIONS;
        download_step(task);
        return;
      }
      g_info("%s: cancelling the download session (%s)", euicc_get_label(d->euicc),
             es10b_cancel_session_reason_to_string(ctx->cancel_reason));
      euicc_op_call(task, request);
      return;
    }
  case STEP_CANCEL_CARD_DONE: {
    Es10bCancelSessionResult result = ES10B_CANCEL_SESSION_UNDEFINED_ERROR;

    ctx->session_open = FALSE;
    if (ctx->base.call_error ||
        !es10b_cancel_session_decode(buf, len, &result, &ctx->cancel_response, &error) ||
        result != ES10B_CANCEL_SESSION_OK) {
      g_warning("%s: the eUICC did not cancel the download session: %s", euicc_get_label(d->euicc),
                ctx->base.call_error ? ctx->base.call_error->message
                : error              ? error->message
                                     : es10_result_get_message(ES10_CMD_CANCEL_SESSION, result));
      g_clear_error(&error);
      ctx->base.step = STEP_NOTIFICATIONS;
      download_step(task);
      return;
    }
    ctx->base.step++;
  }
    /* fall through */
  case STEP_CANCEL_SMDP:
    /* 3.1.3 / 5.6.5: the SM-DP+ ends its side with the card's signed answer.
     * Not the caller's cancellable: this runs because it may be cancelled. */
    es9p_cancel_session(ctx->authn.client, d->smdp_address, ctx->authn.auth->transaction_id,
                        ctx->cancel_response, ctx->base.op.io, net_ready, task);
    return;
  case STEP_CANCEL_SMDP_DONE:
    if (ctx->authn.net_error)
      g_info("%s: the SM-DP+ %s was not told of the cancel: %s", euicc_get_label(d->euicc),
             d->smdp_address, ctx->authn.net_error->message);
    g_clear_error(&ctx->authn.net_error);
    ctx->base.step++;
    /* fall through */
  case STEP_NOTIFICATIONS:
    if (!ctx->authenticated || ctx->base.card_gone) {
      ctx->base.step = STEP_LAST;
      download_step(task);
      return;
    }
    if (ctx->result_written) {
      /* The install result is the one notification the session wrote. */
      euicc_set_pending_notifications(ctx->base.euicc,
                                      euicc_get_pending_notifications(ctx->base.euicc) + 1);
      ctx->base.step = STEP_LAST;
      download_step(task);
      return;
    }
    /* Whatever the cancel left for the SM-DP+. */
    card_read_send(task, CARD_READ_NOTIFICATIONS);
    return;
  case STEP_NOTIFICATIONS_DONE: {
    Es10bListNotificationResult result;
    g_autoptr(GPtrArray) list = NULL;

    if (!ctx->base.call_error && es10b_list_notification_decode(buf, len, &result, &list, NULL) &&
        result == ES10B_LIST_NOTIFICATION_OK)
      euicc_set_pending_notifications(ctx->base.euicc, list->len);
    ctx->base.step++;
  }
    /* fall through */
  case STEP_LAST:
    euicc_op_complete(task);
    return;
  }
  g_assert_not_reached();
}
/* ---- what the Download object asks of it ---- */

GTask *download_op_new(Download *d, GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = euicc_op_new(d->euicc, &download_class, d->cancellable, cb, user_data);
  DownloadContext *ctx = g_task_get_task_data(task);

  ctx->d = download_ref(d);
  authenticate_init(&ctx->authn, AUTHENTICATE_SMDP, d->smdp_address);
  return task;
}

void download_op_resume(GTask *task)
{
  download_step(task);
}

void download_op_confirmed(GTask *task)
{
  DownloadContext *ctx = g_task_get_task_data(task);

  /* Goes on at STEP_CONFIRM, now accepted. */
  ctx->base.step = STEP_CONFIRM;
  download_step(task);
}
