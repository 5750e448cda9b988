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
 * notifications. The install result itself is a notification that the
 * existing delivery path takes to the SM-DP+ (3.1.3.3, 3.5).
 */
#include "service/download-private.h"
#include "service/euicc-private.h"

#include <string.h>

#include "es10/activation.h"
#include "smdp/es9p.h"

/*
 * The TAC sent when the modem reports no IMEI: DeviceInfo's tac is
 * mandatory (SGP.22 5.7.13) while its imei is optional. A fixed 00100100
 * rather than a real model's TAC: an SM-DP+ that checks devices should see
 * an unknown device, not a wrong one.
 */
static const guint8 default_tac[4] = {0x00, 0x10, 0x01, 0x00};

/*
 * How long a download waits at CONFIRMING. The card's queue is held all
 * that time, so a consent that never comes (a caller that went away
 * without cancelling) must not block the card for good; SGP.22 5.7.14 has
 * the CancelSessionReason timeout for exactly this. The SM-DP+ gives up on
 * its transaction too after some minutes.
 */
#define DOWNLOAD_CONSENT_TIMEOUT_MS (5 * 60 * 1000)

/*
 * Progress: each answer of the SM-DP+ moves it, so that a slow SM-DP+ is
 * seen waiting on its next step rather than stuck at 0; the load of the
 * profile package onto the card takes the rest, segment by segment.
 */
#define PROGRESS_INITIATED 0.05
#define PROGRESS_AUTHENTICATED 0.1
#define PROGRESS_BPP 0.2

struct _Download {
  gint ref;
  Euicc *euicc;
  gchar *smdp_address;
  gchar *matching_id;
  gchar *smdp_oid; /* the activation code's, dotted; NULL when it has none */
  gchar *confirmation_code;
  gboolean accept;
  gboolean consented; /* by Accept() at CONFIRMING: the PPRs shown included */
  gboolean enable;
  DownloadState state;
  gdouble progress;
  DownloadMetadata *metadata;
  gboolean cc_required;
  gchar *iccid; /* once installed */
  GError *error;
  DownloadChangedFunc changed;
  gpointer data;
  GTask *task;            /* the operation while it exists (borrowed) */
  gboolean waiting;       /* paused at CONFIRMING */
  GSource *consent_timer; /* while waiting */
  guint consent_timeout_ms;
  gboolean cancel_requested; /* download_cancel() or download_reject() */
  guint cancel_reason;       /* the CancelSessionReason they asked for */
  gboolean finished;
  GCancellable *cancellable; /* the queue entry and the forward ES9+ calls */
};

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
  Es9pClient *client;
  Es10DeviceInfo device;
  gchar *imei;
  GError *net_error; /* of the last ES9+ call */
  GBytes *info1;
  GBytes *challenge;
  Es9pAuthentication *auth;
  Es9pClientAuthentication *client_auth;
  GBytes *server_response; /* the card's AuthenticateServerResponse, for authenticateClient */
  guint32 pprs;            /* of the profile, that the RAT must allow (Es10Ppr bits) */
  GBytes *refusal;         /* ... when it was an AuthenticateResponseError */
  GBytes *transaction_id;  /* the card's, once it authenticated the server */
  gboolean authenticated;  /* the card holds (or held) a session */
  gboolean session_open;   /* ... not ended by an install result yet */
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
  g_clear_pointer(&ctx->client, es9p_client_free);
  g_free(ctx->imei);
  g_clear_error(&ctx->net_error);
  g_clear_pointer(&ctx->info1, g_bytes_unref);
  g_clear_pointer(&ctx->challenge, g_bytes_unref);
  g_clear_pointer(&ctx->auth, es9p_authentication_free);
  g_clear_pointer(&ctx->client_auth, es9p_client_authentication_free);
  g_clear_pointer(&ctx->server_response, g_bytes_unref);
  g_clear_pointer(&ctx->refusal, g_bytes_unref);
  g_free(ctx->isdp_aid);
  g_clear_pointer(&ctx->transaction_id, g_bytes_unref);
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

const char *download_state_to_string(DownloadState state)
{
  static const char *const names[] = {"authenticating", "confirming", "downloading", "installing",
                                      "done",           "failed",     "cancelled"};

  return (guint)state < G_N_ELEMENTS(names) ? names[state] : "unknown";
}

/* ---- the Download object ---- */

Download *download_ref(Download *d)
{
  g_atomic_int_inc(&d->ref);
  return d;
}

void download_unref(Download *d)
{
  if (!d || !g_atomic_int_dec_and_test(&d->ref))
    return;
  euicc_unref(d->euicc);
  g_free(d->smdp_address);
  g_free(d->matching_id);
  g_free(d->smdp_oid);
  g_free(d->confirmation_code);
  download_metadata_free(d->metadata);
  g_free(d->iccid);
  g_clear_error(&d->error);
  g_clear_object(&d->cancellable);
  if (d->consent_timer) {
    g_source_destroy(d->consent_timer);
    g_source_unref(d->consent_timer);
  }
  g_free(d);
}

static void emit_changed(Download *d)
{
  if (d->changed) {
    /* The callback may drop the caller's last reference. */
    download_ref(d);
    d->changed(d, d->data);
    download_unref(d);
  }
}

static void set_state(Download *d, DownloadState state)
{
  if (d->state == state)
    return;
  g_info("%s: download from %s: %s", euicc_get_label(d->euicc), d->smdp_address,
         download_state_to_string(state));
  d->state = state;
  emit_changed(d);
}

/* Progress only grows (org.esimd.Download1). */
static void set_progress(Download *d, gdouble progress)
{
  if (progress <= d->progress)
    return;
  d->progress = MIN(progress, 1.0);
  emit_changed(d);
}

DownloadState download_get_state(Download *d)
{
  return d->state;
}

gdouble download_get_progress(Download *d)
{
  return d->progress;
}

const char *download_get_smdp_address(Download *d)
{
  return d->smdp_address;
}

const DownloadMetadata *download_get_metadata(Download *d)
{
  return d->metadata;
}

gboolean download_get_cc_required(Download *d)
{
  return d->cc_required;
}

const Profile *download_get_profile(Download *d)
{
  return d->iccid ? euicc_lookup_profile_by_iccid(d->euicc, d->iccid) : NULL;
}

const GError *download_get_error(Download *d)
{
  return d->error;
}

/* ---- waiting for consent ---- */

/* Leaves CONFIRMING: the paused operation, to go on with. */
static GTask *unpause(Download *d)
{
  d->waiting = FALSE;
  if (d->consent_timer) {
    g_source_destroy(d->consent_timer);
    g_clear_pointer(&d->consent_timer, g_source_unref);
  }
  return d->task;
}

static gboolean consent_expired(gpointer user_data)
{
  Download *d = user_data;

  g_info("%s: nobody confirmed the download from %s in time", euicc_get_label(d->euicc),
         d->smdp_address);
  d->cancel_requested = TRUE;
  d->cancel_reason = ES10B_CANCEL_TIMEOUT;
  download_step(unpause(d));
  return G_SOURCE_REMOVE;
}

static void pause_for_consent(Download *d)
{
  d->waiting = TRUE;
  d->consent_timer = g_timeout_source_new(d->consent_timeout_ms);
  g_source_set_callback(d->consent_timer, consent_expired, d, NULL);
  g_source_attach(d->consent_timer, g_main_context_get_thread_default());
  set_state(d, DOWNLOAD_STATE_CONFIRMING);
}

void download_set_consent_timeout_ms(Download *d, guint ms)
{
  d->consent_timeout_ms = ms;
}

/* ---- the step machine ---- */

static void net_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  DownloadContext *ctx = g_task_get_task_data(task);
  GError **e = &ctx->net_error;

  g_clear_error(e);
  switch ((DownloadStep)ctx->base.step) {
  case STEP_IMEI:
    ctx->imei = modem_get_imei_finish(euicc_get_modem(ctx->base.euicc), res, e);
    break;
  case STEP_INITIATE:
    ctx->auth = es9p_initiate_authentication_finish(ctx->client, res, e);
    break;
  case STEP_AUTHENTICATE_CLIENT:
    ctx->client_auth = es9p_authenticate_client_finish(ctx->client, res, e);
    break;
  case STEP_REPORT_REFUSAL:
    g_clear_pointer(&ctx->client_auth, es9p_client_authentication_free);
    ctx->client_auth = es9p_authenticate_client_finish(ctx->client, res, e);
    break;
  case STEP_GET_BPP:
    ctx->bpp = es9p_get_bound_profile_package_finish(ctx->client, res, e);
    break;
  case STEP_CANCEL_SMDP:
    es9p_cancel_session_finish(ctx->client, res, e);
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
  GError *error = g_steal_pointer(&ctx->net_error);

  if (ctx->d->cancel_requested && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    ctx->cancel_reason = ctx->d->cancel_reason;
    g_error_free(error);
    error = g_error_new(ESIMD_ERROR, ESIMD_ERROR_CANCELLED, "The download was cancelled");
  }
  euicc_op_fail(task, service_es9p_error(error, ctx->d->smdp_address, ctx->base.doing));
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
  case STEP_FIRST: {
    const EuiccSettings *settings = euicc_get_settings(ctx->base.euicc);
    Es9pConfig config = {
        .ca_file = settings->smdp_ca_file,
        .ca_dir = settings->smdp_ca_dir,
        .host_override = settings->smdp_host_override,
    };

    ctx->cancel_reason = ES10B_CANCEL_UNDEFINED_REASON;
    ctx->client = es9p_client_new(&config, &error);
    if (!ctx->client) {
      euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_FAILED,
                                      "Cannot download a profile: %s", error->message));
      g_error_free(error);
      return;
    }
    ctx->base.step++;
  }
    /* fall through */
  case STEP_IMEI:
    ctx->base.doing = "reading the modem's IMEI";
    modem_get_imei(euicc_get_modem(ctx->base.euicc), ctx->base.op.io, net_ready, task);
    return;
  case STEP_IMEI_DONE:
    /* DeviceInfo (SGP.22 5.7.13): without an IMEI only the TAC, a test one. */
    memset(&ctx->device, 0, sizeof ctx->device);
    if (!ctx->imei || !es10_imei_to_device_info(ctx->imei, &ctx->device, &error)) {
      g_info("%s: no usable IMEI (%s); the SM-DP+ gets a test TAC", euicc_get_label(d->euicc),
             error            ? error->message
             : ctx->net_error ? ctx->net_error->message
                              : "none");
      g_clear_error(&error);
      memset(&ctx->device, 0, sizeof ctx->device);
      memcpy(ctx->device.tac, default_tac, sizeof default_tac);
    }
    /* Read with the IMEI: the modem's radio technologies. */
    modem_get_device_capabilities(euicc_get_modem(ctx->base.euicc), &ctx->device);
    g_clear_error(&ctx->net_error);
    ctx->base.step++;
    /* fall through */
  case STEP_INFO1:
    if (stopped(task, ctx))
      return;
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
    if (stopped(task, ctx))
      return;
    ctx->base.doing = "starting the authentication (initiateAuthentication)";
    es9p_initiate_authentication(ctx->client, d->smdp_address, ctx->challenge, ctx->info1,
                                 d->cancellable, net_ready, task);
    return;
  case STEP_INITIATE_DONE:
    if (!ctx->auth) {
      fail_net(task, ctx);
      return;
    }
    /* SGP.22 4.1: a code with an SM-DP+ OID is for that SM-DP+ only. The
     * card holds no session yet, so there is nothing to cancel on it, and
     * ES9+ cancelSession needs the card's signed answer: the SM-DP+ lets
     * its unanswered transaction expire. */
    if (!download_check_smdp_oid(d->smdp_oid, ctx->auth->server_certificate, d->smdp_address,
                                 &error)) {
      euicc_op_fail(task, error);
      return;
    }
    set_progress(d, PROGRESS_INITIATED);
    ctx->base.step++;
    /* fall through */
  case STEP_AUTHENTICATE_SERVER: {
    Es10bAuthenticateServerRequest req = {
        .server_signed1 = ctx->auth->server_signed1,
        .server_signature1 = ctx->auth->server_signature1,
        .euicc_ci_pkid_to_be_used = ctx->auth->euicc_ci_pkid_to_be_used,
        .server_certificate = ctx->auth->server_certificate,
        .matching_id = d->matching_id,
        .device_info = &ctx->device,
    };
    GBytes *request;

    if (stopped(task, ctx))
      return;
    ctx->base.doing = "having the eUICC authenticate the SM-DP+";
    request = es10b_authenticate_server_encode(&req, &error);
    if (!request) {
      euicc_op_fail_invalid_args(task, "The matching id cannot be sent", error);
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
      /* Its AuthenticateResponseError goes to the SM-DP+ all the same. */
      ctx->refusal = g_bytes_new(buf, len);
      euicc_op_fail_result(task, ES10_CMD_AUTHENTICATE_SERVER, (gint)asr->result, d->smdp_address);
      return;
    }
    /* From here on the card holds a session: every failure cancels it. */
    ctx->transaction_id = g_bytes_ref(asr->transaction_id);
    ctx->authenticated = ctx->session_open = TRUE;
    ctx->server_response = g_bytes_ref(asr->der);
    ctx->base.step++;
  }
    /* fall through */
  case STEP_AUTHENTICATE_CLIENT:
    if (stopped(task, ctx))
      return;
    ctx->base.doing = "authenticating the eUICC to the SM-DP+ (authenticateClient)";
    es9p_authenticate_client(ctx->client, d->smdp_address, ctx->auth->transaction_id,
                             ctx->server_response, d->cancellable, net_ready, task);
    return;
  case STEP_AUTHENTICATE_CLIENT_DONE: {
    g_autoptr(Es10SmdpSigned2) signed2 = NULL;

    if (!ctx->client_auth) {
      fail_net(task, ctx);
      return;
    }
    d->metadata = download_metadata_decode(ctx->client_auth->profile_metadata, &error);
    if (d->metadata)
      signed2 =
          download_smdp_signed2_decode(ctx->client_auth->smdp_signed2, ctx->transaction_id, &error);
    if (!signed2) {
      euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_FAILED,
                                      "The SM-DP+ %s described the profile wrongly: %s",
                                      d->smdp_address, error->message));
      g_error_free(error);
      return;
    }
    d->cc_required = signed2->cc_required;
    emit_changed(d);
    set_progress(d, PROGRESS_AUTHENTICATED);
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
      emit_changed(d);
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
      pause_for_consent(d);
      return;
    }
    if (d->cc_required && !d->confirmation_code) {
      ctx->cancel_reason = ES10B_CANCEL_END_USER_REJECTION;
      euicc_op_fail(task,
                    g_error_new(ESIMD_ERROR, ESIMD_ERROR_CONFIRMATION_CODE_WRONG,
                                "The SM-DP+ %s requires a confirmation code", d->smdp_address));
      return;
    }
    set_state(d, DOWNLOAD_STATE_DOWNLOADING);
    ctx->base.step++;
    /* fall through */
  case STEP_PREPARE: {
    guint8 hash_cc[ES10_HASH_CC_LEN];
    gboolean with_cc = d->cc_required && d->confirmation_code;
    GBytes *request;

    ctx->base.doing = "preparing the download on the eUICC";
    /* 5.7.5: the code only as a hash bound to this transaction. */
    if (with_cc &&
        !es10_hash_confirmation_code(d->confirmation_code, ctx->transaction_id, hash_cc, &error)) {
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
    es9p_get_bound_profile_package(ctx->client, d->smdp_address, ctx->auth->transaction_id,
                                   ctx->prepare_response, d->cancellable, net_ready, task);
    return;
  case STEP_GET_BPP_DONE:
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
    set_progress(d, PROGRESS_BPP);
    set_state(d, DOWNLOAD_STATE_INSTALLING);
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
    set_progress(d, PROGRESS_BPP + (1.0 - PROGRESS_BPP) * ctx->segment / ctx->segments->len);
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
      emit_changed(d);
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
    emit_changed(d);
    ctx->base.step++;
    /* fall through */
  case STEP_REPORT_REFUSAL:
    /* Cleanup: never euicc_op_fail() from here on, it would come back.
     * SGP.22 3.0.1: the card's refusal of the server is the
     * AuthenticateServerResponse the LPA sends in authenticateClient; the
     * SM-DP+ ends its transaction on it instead of waiting it out. */
    if (!ctx->refusal) {
      ctx->base.step = STEP_CANCEL_CARD;
      download_step(task);
      return;
    }
    es9p_authenticate_client(ctx->client, d->smdp_address, ctx->auth->transaction_id, ctx->refusal,
                             ctx->base.op.io, net_ready, task);
    return;
  case STEP_REPORT_REFUSAL_DONE:
    /* The SM-DP+ answers with an error; that it heard is what counts. */
    g_info("%s: the SM-DP+ %s was told of the card's refusal: %s", euicc_get_label(d->euicc),
           d->smdp_address, ctx->net_error ? ctx->net_error->message : "accepted");
    g_clear_error(&ctx->net_error);
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
          ctx->transaction_id, (Es10bCancelSessionReason)ctx->cancel_reason, &error);

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
    es9p_cancel_session(ctx->client, d->smdp_address, ctx->auth->transaction_id,
                        ctx->cancel_response, ctx->base.op.io, net_ready, task);
    return;
  case STEP_CANCEL_SMDP_DONE:
    if (ctx->net_error)
      g_info("%s: the SM-DP+ %s was not told of the cancel: %s", euicc_get_label(d->euicc),
             d->smdp_address, ctx->net_error->message);
    g_clear_error(&ctx->net_error);
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

/* ---- the caller's side ---- */

static void finish(Download *d, GError *error)
{
  d->finished = TRUE;
  if (error) {
    d->error = error;
    set_state(d, g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_CANCELLED)
                     ? DOWNLOAD_STATE_CANCELLED
                     : DOWNLOAD_STATE_FAILED);
  } else {
    set_state(d, DOWNLOAD_STATE_DONE);
  }
}

static void enable_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(Download) d = user_data;
  g_autoptr(GError) error = NULL;

  /* The profile is installed either way; the download does not fail. */
  if (!euicc_operation_finish(d->euicc, res, &error))
    g_warning("%s: enabling the downloaded profile: %s", euicc_get_label(d->euicc), error->message);
  finish(d, NULL);
}

/* A paused operation whose card went away: its machine lets go of it. */
static gboolean resume_abandoned(gpointer user_data)
{
  GTask *task = user_data;

  download_step(task);
  return G_SOURCE_REMOVE;
}

static void op_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(Download) d = user_data;
  GError *error = NULL;
  const Profile *p;

  if (d->waiting && d->task)
    g_idle_add(resume_abandoned, unpause(d));
  if (!euicc_operation_finish(d->euicc, res, &error)) {
    /* A PIR error left a notification; deliver what the card holds. */
    euicc_schedule_notifications(d->euicc);
    finish(d, error);
    return;
  }
  euicc_schedule_notifications(d->euicc);
  p = download_get_profile(d);
  if (d->enable && p) {
    euicc_profile_enable(d->euicc, p->id, NULL, enable_ready, download_ref(d));
    return;
  }
  finish(d, NULL);
}

Download *euicc_download(Euicc *euicc, const char *activation_code, const DownloadOptions *options,
                         DownloadChangedFunc changed, gpointer data, GError **error)
{
  g_autoptr(Es10ActivationCode) ac = NULL;
  g_autoptr(GError) local = NULL;
  static const DownloadOptions no_options = {0};
  Download *d;
  GTask *task;
  DownloadContext *ctx;

  if (!options)
    options = &no_options;
  /* SGP.22 4.1: refused before anything is queued or sent. */
  if (!es10_activation_code_parse(activation_code, &ac, &local)) {
    g_set_error(error, ESIMD_ERROR, ESIMD_ERROR_INVALID_ACTIVATION_CODE,
                "Not an activation code: %s", local->message);
    return NULL;
  }
  d = g_new0(Download, 1);
  d->ref = 1;
  d->euicc = euicc_ref(euicc);
  d->smdp_address = g_strdup(ac->address);
  d->matching_id = g_strdup(ac->matching_id);
  d->smdp_oid = g_strdup(ac->oid);
  d->confirmation_code = g_strdup(options->confirmation_code);
  d->accept = options->accept;
  d->enable = options->enable;
  d->cc_required = ac->cc_required;
  d->state = DOWNLOAD_STATE_AUTHENTICATING;
  d->changed = changed;
  d->data = data;
  d->cancellable = g_cancellable_new();
  d->consent_timeout_ms = DOWNLOAD_CONSENT_TIMEOUT_MS;

  task = euicc_op_new(euicc, &download_class, d->cancellable, op_ready, download_ref(d));
  ctx = g_task_get_task_data(task);
  ctx->d = download_ref(d);
  d->task = task;
  g_info("%s: download from %s queued", euicc_get_label(euicc), d->smdp_address);
  euicc_op_queue(task);
  return d;
}

gboolean download_accept(Download *d, const char *confirmation_code, GError **error)
{
  DownloadContext *ctx;
  GTask *task;

  if (!d->waiting || !d->task) {
    g_set_error(error, ESIMD_ERROR, ESIMD_ERROR_FAILED, "The download is not waiting for consent");
    return FALSE;
  }
  if (confirmation_code && *confirmation_code) {
    g_free(d->confirmation_code);
    d->confirmation_code = g_strdup(confirmation_code);
  }
  if (d->cc_required && !d->confirmation_code) {
    g_set_error(error, ESIMD_ERROR, ESIMD_ERROR_CONFIRMATION_CODE_WRONG,
                "The SM-DP+ %s requires a confirmation code", d->smdp_address);
    return FALSE;
  }
  d->accept = d->consented = TRUE;
  task = unpause(d);
  ctx = g_task_get_task_data(task);
  /* Goes on at STEP_CONFIRM, now accepted. */
  ctx->base.step = STEP_CONFIRM;
  download_step(task);
  return TRUE;
}

void download_reject(Download *d, gboolean postponed)
{
  if (d->finished || d->cancel_requested)
    return;
  d->cancel_requested = TRUE;
  d->cancel_reason = postponed ? ES10B_CANCEL_POSTPONED : ES10B_CANCEL_END_USER_REJECTION;
  g_cancellable_cancel(d->cancellable);
  if (d->waiting && d->task)
    download_step(unpause(d));
}

void download_cancel(Download *d)
{
  download_reject(d, TRUE);
}
