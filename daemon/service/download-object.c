/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Download object (org.esimd.Download1 underneath): what its caller
 * sees of a profile download (state, progress, metadata, the outcome) and
 * what the caller does to it (accept with a confirmation code, reject,
 * cancel), with the consent timer of the wait at CONFIRMING. The step
 * machine that does the download is in download.c.
 */
#include "service/download-private.h"
#include "service/euicc-private.h"

#include "es10/activation.h"

/*
 * How long a download waits at CONFIRMING. The card's queue is held all
 * that time, so a consent that never comes (a caller that went away
 * without cancelling) must not block the card for good; SGP.22 5.7.14 has
 * the CancelSessionReason timeout for exactly this. The SM-DP+ gives up on
 * its transaction too after some minutes.
 */
#define DOWNLOAD_CONSENT_TIMEOUT_MS (5 * 60 * 1000)

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

void download_emit_changed(Download *d)
{
  if (d->changed) {
    /* The callback may drop the caller's last reference. */
    download_ref(d);
    d->changed(d, d->data);
    download_unref(d);
  }
}

void download_set_state(Download *d, DownloadState state)
{
  if (d->state == state)
    return;
  g_info("%s: download from %s: %s", euicc_get_label(d->euicc), d->smdp_address,
         download_state_to_string(state));
  d->state = state;
  download_emit_changed(d);
}

/* Progress only grows (org.esimd.Download1). */
void download_set_progress(Download *d, gdouble progress)
{
  if (progress <= d->progress)
    return;
  d->progress = MIN(progress, 1.0);
  download_emit_changed(d);
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
  download_op_resume(unpause(d));
  return G_SOURCE_REMOVE;
}

void download_pause_for_consent(Download *d)
{
  d->waiting = TRUE;
  d->consent_timer = g_timeout_source_new(d->consent_timeout_ms);
  g_source_set_callback(d->consent_timer, consent_expired, d, NULL);
  g_source_attach(d->consent_timer, g_main_context_get_thread_default());
  download_set_state(d, DOWNLOAD_STATE_CONFIRMING);
}

void download_refuse_code(Download *d, GError *error)
{
  g_clear_error(&d->error);
  d->error = error;
  g_clear_pointer(&d->confirmation_code, g_free);
  /* Shown with the State change of the pause, not before it. */
  d->accept = FALSE;
}

void download_set_consent_timeout_ms(Download *d, guint ms)
{
  d->consent_timeout_ms = ms;
}
/* ---- the caller's side ---- */

static void finish(Download *d, GError *error)
{
  d->finished = TRUE;
  g_clear_error(&d->error);
  if (error) {
    d->error = error;
    download_set_state(d, g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_CANCELLED)
                              ? DOWNLOAD_STATE_CANCELLED
                              : DOWNLOAD_STATE_FAILED);
  } else {
    download_set_state(d, DOWNLOAD_STATE_DONE);
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

  download_op_resume(task);
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

  d->task = download_op_new(d, op_ready, download_ref(d));
  g_info("%s: download from %s queued", euicc_get_label(euicc), d->smdp_address);
  euicc_op_queue(d->task);
  return d;
}
gboolean download_accept(Download *d, const char *confirmation_code, GError **error)
{
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
  /* A refused code is no longer the news once another is on its way. */
  g_clear_error(&d->error);
  download_op_confirmed(unpause(d));
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
    download_op_resume(unpause(d));
}

void download_cancel(Download *d)
{
  download_reject(d, TRUE);
}
