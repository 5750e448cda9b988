/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a modem tells about itself for a download's DeviceInfo (SGP.22
 * 5.7.13): its IMEI, and the radio technologies it reports, read once
 * while holding the modem and kept by its transport.
 */
#include "service/service-private.h"

static const char tag_imei;

typedef enum {
  IMEI_STEP_FIRST,
  IMEI_STEP_ACQUIRE,
  IMEI_STEP_READ,
  IMEI_STEP_READ_RATS,
  IMEI_STEP_RELEASE,
  IMEI_STEP_LAST,
} ImeiStep;

typedef struct {
  Modem *modem;
  ImeiStep step;
  gboolean held;
  gchar *imei;
  GError *error; /* saved while the release step runs */
} ImeiContext;

static void imei_context_free(ImeiContext *ctx)
{
  /* Abandoned holding the modem: let go of it. */
  if (ctx->held)
    modem_release(ctx->modem, NULL, NULL);
  modem_unref(ctx->modem);
  g_free(ctx->imei);
  g_clear_error(&ctx->error);
  g_free(ctx);
}

static void imei_step(GTask *task);

static void imei_acquire_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  ImeiContext *ctx = g_task_get_task_data(task);
  GError *error = NULL;

  if (!modem_acquire_finish(ctx->modem, res, &error)) {
    ctx->error = error;
    ctx->step = IMEI_STEP_LAST;
  } else {
    ctx->held = TRUE;
    ctx->step++;
  }
  imei_step(task);
}

static void imei_read_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  ImeiContext *ctx = g_task_get_task_data(task);

  ctx->imei = transport_get_imei_finish(modem_get_transport(ctx->modem), res, &ctx->error);
  ctx->step++;
  imei_step(task);
}

/* The RATs only feed deviceCapabilities, which may stay empty: a failure
 * here is logged and does not fail the IMEI read. */
static void imei_rats_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  ImeiContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *names = NULL;
  guint rats = 0;

  if (transport_get_rats_finish(modem_get_transport(ctx->modem), res, &rats, &error)) {
    names = transport_rats_to_string(rats);
    g_debug("%s: radio technologies: %s", modem_get_spec(ctx->modem)->port,
            *names ? names : "none");
  } else {
    g_info("%s: the modem does not say which radio technologies it has (%s); the SM-DP+ gets "
           "no device capabilities",
           modem_get_spec(ctx->modem)->port, error->message);
  }
  ctx->step++;
  imei_step(task);
}

static void imei_release_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  ImeiContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!modem_release_finish(ctx->modem, res, &error))
    g_debug("%s: letting go after reading the IMEI: %s", modem_get_spec(ctx->modem)->port,
            error->message);
  ctx->step++;
  imei_step(task);
}

static void imei_step(GTask *task)
{
  ImeiContext *ctx = g_task_get_task_data(task);
  Transport *t = modem_get_transport(ctx->modem);

  switch (ctx->step) {
  case IMEI_STEP_FIRST:
    /* Known already (or known to be missing): the transport answers from
     * its cache, and the port is neither opened nor inhibited for it. */
    if ((t->imei || t->imei_unsupported) && (t->rats_known || t->rats_unsupported)) {
      ctx->step = IMEI_STEP_READ;
      transport_get_imei(t, g_task_get_cancellable(task), imei_read_ready, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case IMEI_STEP_ACQUIRE:
    g_debug("%s: reading the IMEI (1/%d)", modem_get_spec(ctx->modem)->port, IMEI_STEP_LAST - 1);
    modem_acquire(ctx->modem, g_task_get_cancellable(task), imei_acquire_ready, task);
    return;
  case IMEI_STEP_READ:
    g_debug("%s: reading the IMEI (2/%d)", modem_get_spec(ctx->modem)->port, IMEI_STEP_LAST - 1);
    transport_get_imei(t, g_task_get_cancellable(task), imei_read_ready, task);
    return;
  case IMEI_STEP_READ_RATS:
    /* A port that went away or a cancelled read: no second question. */
    if (g_error_matches(ctx->error, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE) ||
        g_error_matches(ctx->error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      ctx->step++;
      imei_step(task);
      return;
    }
    g_debug("%s: reading the radio technologies (3/%d)", modem_get_spec(ctx->modem)->port,
            IMEI_STEP_LAST - 1);
    transport_get_rats(t, g_task_get_cancellable(task), imei_rats_ready, task);
    return;
  case IMEI_STEP_RELEASE:
    if (ctx->held) {
      g_debug("%s: reading the IMEI (4/%d)", modem_get_spec(ctx->modem)->port, IMEI_STEP_LAST - 1);
      ctx->held = FALSE;
      modem_release(ctx->modem, imei_release_ready, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case IMEI_STEP_LAST:
    if (ctx->error)
      g_task_return_error(
          task, service_error_from(g_steal_pointer(&ctx->error), "Reading the modem's IMEI"));
    else
      g_task_return_pointer(task, g_steal_pointer(&ctx->imei), g_free);
    g_object_unref(task);
    return;
  }
  g_assert_not_reached();
}

void modem_get_imei(Modem *modem, GCancellable *cancellable, GAsyncReadyCallback cb,
                    gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);
  ImeiContext *ctx = g_new0(ImeiContext, 1);

  g_task_set_source_tag(task, (gpointer)&tag_imei);
  ctx->modem = modem_ref(modem);
  g_task_set_task_data(task, ctx, (GDestroyNotify)imei_context_free);
  imei_step(task);
}

gchar *modem_get_imei_finish(Modem *modem, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_async_result_is_tagged(res, (gpointer)&tag_imei), NULL);
  return g_task_propagate_pointer(G_TASK(res), error);
}

void modem_get_device_capabilities(Modem *modem, Es10DeviceInfo *info)
{
  Transport *t = modem_get_transport(modem);

  device_caps_from_rats(t && t->rats_known ? t->rats : 0, info);
}
