/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Filling the cache from the card: the table of card reads (one ES10
 * command each, its request and the decoder that applies the answer), and
 * the operation that makes them all (the probe, Refresh()).
 */
#include "service/euicc-private.h"

/* The fields of Profile, and nothing more (SGP.22 5.7.15: the tagList
 * limits what the card reads out). */
static const guint32 profile_tags[] = {
    ES10_TAG_ICCID,
    ES10_TAG_ISDP_AID,
    ES10_TAG_PROFILE_STATE,
    ES10_TAG_PROFILE_NICKNAME,
    ES10_TAG_SERVICE_PROVIDER_NAME,
    ES10_TAG_PROFILE_NAME,
    ES10_TAG_ICON_TYPE,
    ES10_TAG_ICON,
    ES10_TAG_PROFILE_CLASS,
    ES10_TAG_PROFILE_OWNER,
    ES10_TAG_PROFILE_POLICY_RULES,
};

static GBytes *profiles_request(void)
{
  Es10cGetProfilesInfoRequest req = {
      .search = ES10C_PROFILES_SEARCH_ALL,
      .tag_list = profile_tags,
      .n_tags = G_N_ELEMENTS(profile_tags),
  };

  return es10c_get_profiles_info_encode(&req, NULL);
}

static GBytes *notifications_request(void)
{
  return es10b_list_notification_encode(0, NULL);
}

static gboolean decode_eid(Euicc *euicc, const guint8 *buf, gsize len, GError **error)
{
  g_autofree gchar *eid = NULL;

  if (!es10c_get_eid_decode(buf, len, &eid, error))
    return FALSE;
  euicc_apply_eid(euicc, eid);
  return TRUE;
}

static gboolean decode_info2(Euicc *euicc, const guint8 *buf, gsize len, GError **error)
{
  g_autoptr(Es10bEuiccInfo2) info2 = NULL;

  if (!es10b_get_euicc_info2_decode(buf, len, &info2, error))
    return FALSE;
  euicc_apply_info2(euicc, info2);
  return TRUE;
}

static gboolean decode_addresses(Euicc *euicc, const guint8 *buf, gsize len, GError **error)
{
  g_autoptr(Es10aConfiguredAddresses) addr = NULL;

  if (!es10a_get_euicc_configured_addresses_decode(buf, len, &addr, error))
    return FALSE;
  euicc_apply_addresses(euicc, addr);
  return TRUE;
}

static gboolean decode_profiles(Euicc *euicc, const guint8 *buf, gsize len, GError **error)
{
  Es10cGetProfilesInfoResult result;
  g_autoptr(GPtrArray) infos = NULL;

  if (!es10c_get_profiles_info_decode(buf, len, &result, &infos, error))
    return FALSE;
  if (result != ES10C_GET_PROFILES_INFO_OK) {
    g_propagate_error(error, service_result_error(ES10_CMD_GET_PROFILES_INFO, (gint)result, NULL));
    return FALSE;
  }
  euicc_apply_profiles(euicc, infos);
  return TRUE;
}

static GPtrArray *decode_notifications(Euicc *euicc, const guint8 *buf, gsize len, GError **error)
{
  Es10bListNotificationResult result;
  g_autoptr(GPtrArray) list = NULL;

  if (!es10b_list_notification_decode(buf, len, &result, &list, error))
    return NULL;
  if (result != ES10B_LIST_NOTIFICATION_OK) {
    g_propagate_error(error, service_result_error(ES10_CMD_LIST_NOTIFICATION, (gint)result, NULL));
    return NULL;
  }
  euicc_set_pending_notifications(euicc, list->len);
  return g_steal_pointer(&list);
}

static gboolean decode_notification_count(Euicc *euicc, const guint8 *buf, gsize len,
                                          GError **error)
{
  g_autoptr(GPtrArray) list = decode_notifications(euicc, buf, len, error);

  return list != NULL;
}

typedef struct {
  const char *doing;
  GBytes *(*request)(void);
  gboolean (*decode)(Euicc *euicc, const guint8 *buf, gsize len, GError **error);
} CardReadRow;

static const CardReadRow card_reads[CARD_READ_COUNT] = {
    [CARD_READ_EID] = {"reading the EID", es10c_get_eid_encode, decode_eid},
    [CARD_READ_INFO2] = {"reading the eUICC information", es10b_get_euicc_info2_encode,
                         decode_info2},
    [CARD_READ_ADDRESSES] = {"reading the configured SM-DP+ addresses",
                             es10a_get_euicc_configured_addresses_encode, decode_addresses},
    [CARD_READ_PROFILES] = {"reading the profiles", profiles_request, decode_profiles},
    [CARD_READ_NOTIFICATIONS] = {"reading the notification list", notifications_request,
                                 decode_notification_count},
};

const char *card_read_doing(CardRead read)
{
  return card_reads[read].doing;
}

void card_read_send(GTask *task, CardRead read)
{
  euicc_op_call(task, card_reads[read].request());
}

gboolean card_read_apply(GTask *task, CardRead read)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  GError *error = NULL;
  gsize len;
  const guint8 *buf;

  if (!euicc_op_check_call(task))
    return FALSE;
  buf = euicc_op_response(ctx, &len);
  if (!card_reads[read].decode(ctx->euicc, buf, len, &error)) {
    euicc_op_fail(task, error);
    return FALSE;
  }
  return TRUE;
}

GPtrArray *card_read_notifications(GTask *task)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  GError *error = NULL;
  GPtrArray *list;
  gsize len;
  const guint8 *buf;

  if (!euicc_op_check_call(task))
    return NULL;
  buf = euicc_op_response(ctx, &len);
  list = decode_notifications(ctx->euicc, buf, len, &error);
  if (!list)
    euicc_op_fail(task, error);
  return list;
}

gboolean card_read_recount(GTask *task, const char *after)
{
  EuiccOp *ctx = g_task_get_task_data(task);
  GError *error = NULL;
  gsize len;
  const guint8 *buf;

  if (ctx->call_error) {
    g_warning("%s: counting notifications after the %s: %s", euicc_get_label(ctx->euicc), after,
              ctx->call_error->message);
    return TRUE;
  }
  buf = euicc_op_response(ctx, &len);
  if (!decode_notification_count(ctx->euicc, buf, len, &error)) {
    euicc_op_fail(task, error);
    return FALSE;
  }
  return TRUE;
}

/* ---- probe / refresh: every read, in the table's order ---- */

typedef enum {
  REFRESH_STEP_FIRST,
  REFRESH_STEP_READ,
  REFRESH_STEP_READ_DONE,
  REFRESH_STEP_LAST,
} RefreshStep;

typedef struct {
  EuiccOp base;
  CardRead read; /* the one under way */
} RefreshContext;

static void refresh_step(GTask *task);

static const EuiccOpClass probe_class = {
    .name = "probe",
    .step = refresh_step,
    .size = sizeof(RefreshContext),
    .cleanup_step = REFRESH_STEP_LAST,
    .last_step = REFRESH_STEP_LAST,
};

static const EuiccOpClass refresh_class = {
    .name = "refresh",
    .step = refresh_step,
    .size = sizeof(RefreshContext),
    .cleanup_step = REFRESH_STEP_LAST,
    .last_step = REFRESH_STEP_LAST,
};

static void refresh_step(GTask *task)
{
  RefreshContext *ctx = euicc_op_begin_step(task);

  if (!ctx)
    return;

  switch ((RefreshStep)ctx->base.step) {
  case REFRESH_STEP_FIRST:
    ctx->read = CARD_READ_EID;
    ctx->base.step++;
    /* fall through */
  case REFRESH_STEP_READ:
    ctx->base.doing = card_read_doing(ctx->read);
    card_read_send(task, ctx->read);
    return;
  case REFRESH_STEP_READ_DONE:
    if (!card_read_apply(task, ctx->read))
      return;
    if (++ctx->read < CARD_READ_COUNT) {
      ctx->base.step = REFRESH_STEP_READ;
      refresh_step(task);
      return;
    }
    ctx->base.step++;
    /* fall through */
  case REFRESH_STEP_LAST:
    euicc_op_complete(task);
    return;
  }
  g_assert_not_reached();
}

void euicc_probe(Euicc *euicc, GCancellable *cancellable, GAsyncReadyCallback cb,
                 gpointer user_data)
{
  euicc_op_queue(euicc_op_new(euicc, &probe_class, cancellable, cb, user_data));
}

void euicc_refresh(Euicc *euicc, ServiceReadMode mode, GCancellable *cancellable,
                   GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = euicc_op_new(euicc, &refresh_class, cancellable, cb, user_data);
  EuiccOp *ctx = g_task_get_task_data(task);

  ctx->quiet = mode == SERVICE_READ_QUIET;
  euicc_op_queue(task);
}
