/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The operations on one profile: enable and disable (a switch), delete, and
 * the nickname (SGP.22 5.7.16 to 5.7.18, 5.7.21). Each is a step machine
 * with its own context; refusals of the card go through the result table.
 */
#include "service/euicc-private.h"

/* What every profile operation starts from: the profile, named by its id
 * when the call was made and looked up when its turn comes. */
typedef struct {
  EuiccOp base;
  guint profile_id;
  gchar *iccid; /* at its turn */
  gchar *shown; /* the ICCID as logs and messages show it */
} ProfileOp;

static void profile_op_clear(ProfileOp *ctx)
{
  g_free(ctx->iccid);
  g_free(ctx->shown);
}

/* The profile the operation names, or NULL with the operation failed
 * NOT_FOUND. Checked at the operation's turn: one queued before it may have
 * deleted the profile. */
static const Profile *profile_op_lookup(GTask *task)
{
  ProfileOp *ctx = g_task_get_task_data(task);
  Euicc *euicc = ctx->base.euicc;
  const Profile *p = euicc_lookup_profile(euicc, ctx->profile_id);

  if (!p) {
    euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_NOT_FOUND,
                                    "The eUICC has no profile %u", ctx->profile_id));
    return NULL;
  }
  g_free(ctx->iccid);
  ctx->iccid = g_strdup(p->iccid);
  g_free(ctx->shown);
  ctx->shown = euicc_log_id(euicc, p->iccid);
  return p;
}

static GTask *profile_op_new(Euicc *euicc, const EuiccOpClass *klass, guint profile_id,
                             GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = euicc_op_new(euicc, klass, cancellable, cb, user_data);
  ProfileOp *ctx = g_task_get_task_data(task);

  ctx->profile_id = profile_id;
  return task;
}

/* ---- enable / disable ---- */

typedef enum {
  SWITCH_STEP_FIRST,
  SWITCH_STEP_INHIBIT,
  SWITCH_STEP_SEND,
  SWITCH_STEP_RESULT,
  SWITCH_STEP_RELOAD,
  SWITCH_STEP_REOPEN,
  SWITCH_STEP_PROFILES,
  SWITCH_STEP_PROFILES_DONE,
  SWITCH_STEP_NOTIFICATIONS,
  SWITCH_STEP_NOTIFICATIONS_DONE,
  /* cleanup */
  SWITCH_STEP_UNINHIBIT,
  SWITCH_STEP_WAIT_MODEMMANAGER,
  SWITCH_STEP_LAST,
} SwitchStep;

typedef struct {
  ProfileOp profile;
  gboolean enable;
  gboolean refresh_flag; /* of the EnableProfile/DisableProfile being sent */
  gboolean dropped;      /* a first attempt lost its answer */
  gboolean verify;       /* the switch is known only from reading the profiles back */
  gboolean mm_released;  /* ModemManager let go of the modem for it, and gets it back */
} SwitchContext;

static void switch_step(GTask *task);
static void switch_wait_ready(GObject *source, GAsyncResult *res, gpointer user_data);

static void switch_clear(gpointer data)
{
  profile_op_clear(data);
}

static const EuiccOpClass enable_class = {
    .name = "enable",
    .step = switch_step,
    .size = sizeof(SwitchContext),
    .clear = switch_clear,
    .cleanup_step = SWITCH_STEP_UNINHIBIT,
    .last_step = SWITCH_STEP_LAST,
};

static const EuiccOpClass disable_class = {
    .name = "disable",
    .step = switch_step,
    .size = sizeof(SwitchContext),
    .clear = switch_clear,
    .cleanup_step = SWITCH_STEP_UNINHIBIT,
    .last_step = SWITCH_STEP_LAST,
};

static Es10Command switch_command(SwitchContext *ctx)
{
  return ctx->enable ? ES10_CMD_ENABLE_PROFILE : ES10_CMD_DISABLE_PROFILE;
}

/* A failure after which the card may well have switched and reset: the
 * modem lost the channel or the answer. */
static gboolean is_dropped(const GError *error)
{
  return (error->domain == TRANSPORT_ERROR && error->code != TRANSPORT_ERROR_PORT_GONE &&
          error->code != TRANSPORT_ERROR_NOT_SUPPORTED) ||
         g_error_matches(error, ISO7816_STATUS_ERROR, 0x6881) ||
         g_error_matches(error, ISO7816_STATUS_ERROR, 0x6E00);
}

/* The card's answer to the switch, as one code for both commands. */
typedef enum {
  SWITCH_RESULT_OK,
  SWITCH_RESULT_UNDEFINED, /* undefinedError: some cards only switch with refreshFlag clear */
  SWITCH_RESULT_ALREADY,   /* the profile already is where it was asked to be */
  SWITCH_RESULT_REFUSED,   /* anything else: the table says what */
} SwitchResult;

static gboolean switch_decode(SwitchContext *ctx, const guint8 *buf, gsize len, gint *result,
                              SwitchResult *kind, GError **error)
{
  if (ctx->enable) {
    Es10cEnableProfileResult r;

    if (!es10c_enable_profile_decode(buf, len, &r, error))
      return FALSE;
    *result = (gint)r;
    *kind = r == ES10C_ENABLE_PROFILE_OK                      ? SWITCH_RESULT_OK
            : r == ES10C_ENABLE_PROFILE_UNDEFINED_ERROR       ? SWITCH_RESULT_UNDEFINED
            : r == ES10C_ENABLE_PROFILE_NOT_IN_DISABLED_STATE ? SWITCH_RESULT_ALREADY
                                                              : SWITCH_RESULT_REFUSED;
  } else {
    Es10cDisableProfileResult r;

    if (!es10c_disable_profile_decode(buf, len, &r, error))
      return FALSE;
    *result = (gint)r;
    *kind = r == ES10C_DISABLE_PROFILE_OK                     ? SWITCH_RESULT_OK
            : r == ES10C_DISABLE_PROFILE_UNDEFINED_ERROR      ? SWITCH_RESULT_UNDEFINED
            : r == ES10C_DISABLE_PROFILE_NOT_IN_ENABLED_STATE ? SWITCH_RESULT_ALREADY
                                                              : SWITCH_RESULT_REFUSED;
  }
  return TRUE;
}

static void switch_wait_ready(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  SwitchContext *ctx = g_task_get_task_data(task);
  EuiccOp *op = &ctx->profile.base;
  g_autoptr(GError) error = NULL;

  if (mm_watch_wait_sim_finish(NULL, res, &error))
    g_info("%s: ModemManager reports %s", euicc_get_label(op->euicc),
           ctx->enable ? "the new SIM" : "no SIM");
  else if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
           !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    /* The card switched; the modem may need a SIM reload or a reboot to
     * see it, which the user should hear of. */
    g_warning("%s: %s is done on the card, but %s", euicc_get_label(op->euicc), op->doing,
              error->message);
  op->step++;
  switch_step(task);
}

static void switch_step(GTask *task)
{
  SwitchContext *ctx = euicc_op_begin_step(task);
  EuiccOp *op;
  Euicc *euicc;
  GError *error = NULL;
  gsize len;
  const guint8 *buf;

  if (!ctx)
    return;
  op = &ctx->profile.base;
  euicc = op->euicc;
  buf = euicc_op_response(op, &len);

  switch ((SwitchStep)op->step) {
  case SWITCH_STEP_FIRST: {
    const Profile *p = profile_op_lookup(task);

    if (!p)
      return;
    /* Refused before anything reaches the card, in the card's own words:
     * the cache is current, since every operation before this one kept it. */
    if (ctx->enable == (p->state == PROFILE_STATE_ENABLED)) {
      euicc_op_fail_result(task, switch_command(ctx),
                           ctx->enable ? ES10C_ENABLE_PROFILE_NOT_IN_DISABLED_STATE
                                       : ES10C_DISABLE_PROFILE_NOT_IN_ENABLED_STATE,
                           ctx->profile.shown);
      return;
    }
    euicc_op_set_doing(op, g_strdup_printf("%s profile %s", ctx->enable ? "enabling" : "disabling",
                                           ctx->profile.shown));
    ctx->refresh_flag = TRUE;
    op->step++;
  }
    /* fall through */
  case SWITCH_STEP_INHIBIT:
    /* ModemManager lets go of the modem before the card switches, so that
     * it reads the SIM anew when it has it back, not a half-reset card. */
    if (euicc_op_inhibit(task))
      return;
    op->step++;
    /* fall through */
  case SWITCH_STEP_SEND: {
    GBytes *req = ctx->enable
                      ? es10c_enable_profile_encode(ES10_PROFILE_ID_ICCID, ctx->profile.iccid,
                                                    ctx->refresh_flag, &error)
                      : es10c_disable_profile_encode(ES10_PROFILE_ID_ICCID, ctx->profile.iccid,
                                                     ctx->refresh_flag, &error);

    if (!req) {
      euicc_op_fail(task, error);
      return;
    }
    g_info("%s: %s (refreshFlag %s)", euicc_get_label(euicc), op->doing,
           ctx->refresh_flag ? "set" : "clear");
    euicc_op_call(task, req);
    return;
  }
  case SWITCH_STEP_RESULT: {
    gint result;
    SwitchResult kind;

    if (op->call_error && ctx->refresh_flag && is_dropped(op->call_error)) {
      /*
       * Some cards reset as soon as they switch with refreshFlag set and the
       * answer never comes back; others only switch with it clear, leaving
       * the REFRESH to the modem. Either way: once more, flag clear.
       */
      g_info("%s: no answer to the switch (%s); trying again with refreshFlag clear",
             euicc_get_label(euicc), op->call_error->message);
      g_clear_error(&op->call_error);
      ctx->refresh_flag = FALSE;
      ctx->dropped = TRUE;
      op->step = SWITCH_STEP_SEND;
      switch_step(task);
      return;
    }
    if (!euicc_op_check_call(task))
      return;
    if (!switch_decode(ctx, buf, len, &result, &kind, &error)) {
      euicc_op_fail(task, error);
      return;
    }
    if (kind == SWITCH_RESULT_UNDEFINED && ctx->refresh_flag) {
      g_info("%s: the card answered undefinedError; trying again with refreshFlag clear",
             euicc_get_label(euicc));
      ctx->refresh_flag = FALSE;
      op->step = SWITCH_STEP_SEND;
      switch_step(task);
      return;
    }
    /* The first attempt went through before its answer was lost: the
     * profile is where it was asked to be; read back to be sure. */
    if (kind == SWITCH_RESULT_ALREADY && ctx->dropped) {
      ctx->verify = TRUE;
      op->step = SWITCH_STEP_REOPEN;
      switch_step(task);
      return;
    }
    if (kind != SWITCH_RESULT_OK) {
      euicc_op_fail_result(task, switch_command(ctx), result, ctx->profile.shown);
      return;
    }
    euicc_apply_switch(euicc, ctx->profile.iccid, ctx->enable);
    op->step++;
  }
    /* fall through */
  case SWITCH_STEP_RELOAD:
    /* With refreshFlag clear the card leaves the reset to the modem
     * (SGP.22 5.7.16 / 5.7.17). */
    if (!ctx->refresh_flag) {
      euicc_op_reload_sim(task);
      return;
    }
    op->step++;
    /* fall through */
  case SWITCH_STEP_REOPEN:
    /* With refreshFlag set and the card's ok the card resets, and the
     * channel went with it; otherwise (the modem reloaded the SIM, or the
     * answer was lost) the old one is closed first. */
    if (ctx->refresh_flag && !ctx->verify)
      euicc_op_reopen_after_reset(task);
    else
      euicc_op_reopen(task);
    return;
  case SWITCH_STEP_PROFILES:
    /* The new states follow from the card's ok (SGP.22 5.7.16/5.7.17: the
     * target and the one it replaces), and the cache holds them already.
     * Only a switch whose answer was lost is read back. */
    if (!ctx->verify) {
      op->step = SWITCH_STEP_NOTIFICATIONS;
      switch_step(task);
      return;
    }
    card_read_send(task, CARD_READ_PROFILES);
    return;
  case SWITCH_STEP_PROFILES_DONE: {
    const Profile *p;
    ProfileState want = ctx->enable ? PROFILE_STATE_ENABLED : PROFILE_STATE_DISABLED;

    if (!card_read_apply(task, CARD_READ_PROFILES))
      return;
    p = euicc_lookup_profile_by_iccid(euicc, ctx->profile.iccid);
    if (!p || p->state != want) {
      euicc_op_fail(task,
                    g_error_new(ESIMD_ERROR, ESIMD_ERROR_CARD_ERROR,
                                "The card lost its answer to %s and did not switch", op->doing));
      return;
    }
    op->step++;
  }
    /* fall through */
  case SWITCH_STEP_NOTIFICATIONS:
    card_read_send(task, CARD_READ_NOTIFICATIONS);
    return;
  case SWITCH_STEP_NOTIFICATIONS_DONE:
    if (!card_read_recount(task, "switch"))
      return;
    op->step++;
    /* fall through */
  case SWITCH_STEP_UNINHIBIT:
    ctx->mm_released = op->inhibited;
    if (euicc_op_uninhibit(task))
      return;
    op->step++;
    /* fall through */
  case SWITCH_STEP_WAIT_MODEMMANAGER: {
    const EuiccSettings *settings = euicc_get_settings(euicc);

    /* ModemManager probes the modem again once it has it back. The caller
     * hears back once it reports the new SIM, or none: only then does the
     * switch show where users look (SGP.22 leaves this to the device). */
    if (!euicc_op_failed(op) && ctx->mm_released && settings->mm_watch) {
      g_info("%s: waiting for ModemManager to report %s", euicc_get_label(euicc),
             ctx->enable ? "the new SIM" : "no SIM");
      mm_watch_wait_sim(settings->mm_watch, modem_get_mm_device(euicc_get_modem(euicc)),
                        ctx->enable ? ctx->profile.iccid : NULL,
                        settings->sim_wait_ms ? settings->sim_wait_ms : EUICC_SIM_WAIT_MS,
                        op->op.io, switch_wait_ready, task);
      return;
    }
    op->step++;
  }
    /* fall through */
  case SWITCH_STEP_LAST:
    if (!euicc_op_failed(op)) {
      g_info("%s: done %s", euicc_get_label(euicc), op->doing);
      euicc_schedule_notifications(euicc);
    }
    euicc_op_complete(task);
    return;
  }
  g_assert_not_reached();
}

static void queue_switch(Euicc *euicc, gboolean enable, guint profile_id, GCancellable *cancellable,
                         GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = profile_op_new(euicc, enable ? &enable_class : &disable_class, profile_id,
                               cancellable, cb, user_data);
  SwitchContext *ctx = g_task_get_task_data(task);

  ctx->enable = enable;
  euicc_op_queue(task);
}

void euicc_profile_enable(Euicc *euicc, guint profile_id, GCancellable *cancellable,
                          GAsyncReadyCallback cb, gpointer user_data)
{
  queue_switch(euicc, TRUE, profile_id, cancellable, cb, user_data);
}

void euicc_profile_disable(Euicc *euicc, guint profile_id, GCancellable *cancellable,
                           GAsyncReadyCallback cb, gpointer user_data)
{
  queue_switch(euicc, FALSE, profile_id, cancellable, cb, user_data);
}

/* ---- delete ---- */

typedef enum {
  DELETE_STEP_FIRST,
  DELETE_STEP_SEND,
  DELETE_STEP_RESULT,
  DELETE_STEP_NOTIFICATIONS,
  DELETE_STEP_NOTIFICATIONS_DONE,
  DELETE_STEP_LAST,
} DeleteStep;

static void delete_step(GTask *task);

static void delete_clear(gpointer data)
{
  profile_op_clear(data);
}

static const EuiccOpClass delete_class = {
    .name = "delete",
    .step = delete_step,
    .size = sizeof(ProfileOp),
    .clear = delete_clear,
    .cleanup_step = DELETE_STEP_LAST,
    .last_step = DELETE_STEP_LAST,
};

static void delete_step(GTask *task)
{
  ProfileOp *ctx = euicc_op_begin_step(task);
  EuiccOp *op;
  Euicc *euicc;
  GError *error = NULL;
  gsize len;
  const guint8 *buf;

  if (!ctx)
    return;
  op = &ctx->base;
  euicc = op->euicc;
  buf = euicc_op_response(op, &len);

  switch ((DeleteStep)op->step) {
  case DELETE_STEP_FIRST: {
    const Profile *p = profile_op_lookup(task);

    if (!p)
      return;
    /* SGP.22 5.7.18: only a disabled profile can be deleted. Said here, with
     * what to do about it, rather than by the card's terse code. */
    if (p->state == PROFILE_STATE_ENABLED) {
      euicc_op_fail_result(task, ES10_CMD_DELETE_PROFILE,
                           ES10C_DELETE_PROFILE_NOT_IN_DISABLED_STATE, ctx->shown);
      return;
    }
    euicc_op_set_doing(op, g_strdup_printf("deleting profile %s", ctx->shown));
    op->step++;
  }
    /* fall through */
  case DELETE_STEP_SEND: {
    GBytes *req = es10c_delete_profile_encode(ES10_PROFILE_ID_ICCID, ctx->iccid, &error);

    if (!req) {
      euicc_op_fail(task, error);
      return;
    }
    g_info("%s: %s", euicc_get_label(euicc), op->doing);
    euicc_op_call(task, req);
    return;
  }
  case DELETE_STEP_RESULT: {
    Es10cDeleteProfileResult r;

    if (!euicc_op_check_call(task))
      return;
    if (!es10c_delete_profile_decode(buf, len, &r, &error)) {
      euicc_op_fail(task, error);
      return;
    }
    if (r != ES10C_DELETE_PROFILE_OK) {
      euicc_op_fail_result(task, ES10_CMD_DELETE_PROFILE, (gint)r, ctx->shown);
      return;
    }
    euicc_apply_delete(euicc, ctx->iccid);
    op->step++;
  }
    /* fall through */
  case DELETE_STEP_NOTIFICATIONS:
    card_read_send(task, CARD_READ_NOTIFICATIONS);
    return;
  case DELETE_STEP_NOTIFICATIONS_DONE:
    if (!card_read_recount(task, "delete"))
      return;
    op->step++;
    /* fall through */
  case DELETE_STEP_LAST:
    if (!euicc_op_failed(op)) {
      g_info("%s: done %s", euicc_get_label(euicc), op->doing);
      euicc_schedule_notifications(euicc);
    }
    euicc_op_complete(task);
    return;
  }
  g_assert_not_reached();
}

void euicc_profile_delete(Euicc *euicc, guint profile_id, GCancellable *cancellable,
                          GAsyncReadyCallback cb, gpointer user_data)
{
  euicc_op_queue(profile_op_new(euicc, &delete_class, profile_id, cancellable, cb, user_data));
}

/* ---- nickname ---- */

typedef enum {
  NICKNAME_STEP_FIRST,
  NICKNAME_STEP_SEND,
  NICKNAME_STEP_RESULT,
  NICKNAME_STEP_LAST,
} NicknameStep;

typedef struct {
  ProfileOp profile;
  gchar *nickname;
} NicknameContext;

static void nickname_step(GTask *task);

static void nickname_clear(gpointer data)
{
  NicknameContext *ctx = data;

  profile_op_clear(&ctx->profile);
  g_free(ctx->nickname);
}

static const EuiccOpClass nickname_class = {
    .name = "nickname",
    .step = nickname_step,
    .size = sizeof(NicknameContext),
    .clear = nickname_clear,
    .cleanup_step = NICKNAME_STEP_LAST,
    .last_step = NICKNAME_STEP_LAST,
};

static void nickname_step(GTask *task)
{
  NicknameContext *ctx = euicc_op_begin_step(task);
  EuiccOp *op;
  GError *error = NULL;
  gsize len;
  const guint8 *buf;

  if (!ctx)
    return;
  op = &ctx->profile.base;
  buf = euicc_op_response(op, &len);

  switch ((NicknameStep)op->step) {
  case NICKNAME_STEP_FIRST:
    if (!profile_op_lookup(task))
      return;
    op->doing = "setting the nickname";
    op->step++;
    /* fall through */
  case NICKNAME_STEP_SEND: {
    GBytes *req = es10c_set_nickname_encode(ctx->profile.iccid, ctx->nickname, &error);

    if (!req) {
      euicc_op_fail_invalid_args(task, "Invalid nickname", error);
      return;
    }
    euicc_op_call(task, req);
    return;
  }
  case NICKNAME_STEP_RESULT: {
    Es10cSetNicknameResult r;

    if (!euicc_op_check_call(task))
      return;
    if (!es10c_set_nickname_decode(buf, len, &r, &error)) {
      euicc_op_fail(task, error);
      return;
    }
    if (r != ES10C_SET_NICKNAME_OK) {
      euicc_op_fail_result(task, ES10_CMD_SET_NICKNAME, (gint)r, ctx->profile.shown);
      return;
    }
    euicc_apply_nickname(op->euicc, ctx->profile.iccid, ctx->nickname);
    op->step++;
  }
    /* fall through */
  case NICKNAME_STEP_LAST:
    euicc_op_complete(task);
    return;
  }
  g_assert_not_reached();
}

void euicc_profile_set_nickname(Euicc *euicc, guint profile_id, const char *nickname,
                                GCancellable *cancellable, GAsyncReadyCallback cb,
                                gpointer user_data)
{
  GTask *task = profile_op_new(euicc, &nickname_class, profile_id, cancellable, cb, user_data);
  NicknameContext *ctx = g_task_get_task_data(task);

  ctx->nickname = g_strdup(nickname ? nickname : "");
  euicc_op_queue(task);
}
