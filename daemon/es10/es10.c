/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command table (tag, name, result codes of every ES10 function) and the
 * pieces every request and response type is built from.
 */
#include "es10/es10-private.h"

#include <string.h>

/* ---- The command table -------------------------------------------------- */

typedef struct {
  gint code;
  const char *name;    /* as rsp.asn names it */
  const char *message; /* for a person */
} ResultDesc;

typedef struct {
  guint32 tag;
  guint32 response_tag;     /* 0: the same as tag */
  const char *name;         /* the SGP.22 function */
  const char *request_type; /* the rsp.asn types it pairs */
  const char *response_type;
  const ResultDesc *results; /* NULL: the response carries no result code */
  gsize n_results;
  gboolean result_only; /* the response is "BFxx { 80 INTEGER }" and nothing else */
} CommandDesc;

/* clang-format off */
#define RESULT_OK {0, "ok", "success"}
#define RESULT_UNDEFINED {127, "undefinedError", "the card reported an undefined error"}
/* clang-format on */

static const ResultDesc set_default_dp_results[] = {RESULT_OK, RESULT_UNDEFINED};
static const ResultDesc list_notification_results[] = {RESULT_OK, RESULT_UNDEFINED};
static const ResultDesc retrieve_notifications_results[] = {
    RESULT_OK,
    {1, "noResultAvailable", "no notification matched the search"},
    RESULT_UNDEFINED,
};
static const ResultDesc notification_sent_results[] = {
    RESULT_OK,
    {1, "nothingToDelete", "no notification with that sequence number"},
    RESULT_UNDEFINED,
};
static const ResultDesc profiles_info_results[] = {
    RESULT_OK,
    {1, "incorrectInputValues", "incorrect input values"},
    RESULT_UNDEFINED,
};
/*
 * rsp.asn here is SGP.22 v2.0/2.1; catBusy(5) for enable, disable and memory
 * reset came with v2.2 (5.7.16, 5.7.17, 5.7.19), and cards speak v2.2.
 */
static const ResultDesc enable_results[] = {
    RESULT_OK,
    {1, "iccidOrAidNotFound", "no profile with that ICCID or ISD-P AID"},
    {2, "profileNotInDisabledState", "profile not in disabled state"},
    {3, "disallowedByPolicy", "disallowed by the profile policy rules"},
    {4, "wrongProfileReenabling", "wrong profile re-enabling"},
    {5, "catBusy", "the card's toolkit is busy, try again"},
    RESULT_UNDEFINED,
};
static const ResultDesc disable_results[] = {
    RESULT_OK,
    {1, "iccidOrAidNotFound", "no profile with that ICCID or ISD-P AID"},
    {2, "profileNotInEnabledState", "profile not in enabled state"},
    {3, "disallowedByPolicy", "disallowed by the profile policy rules"},
    {5, "catBusy", "the card's toolkit is busy, try again"},
    RESULT_UNDEFINED,
};
static const ResultDesc delete_results[] = {
    RESULT_OK,
    {1, "iccidOrAidNotFound", "no profile with that ICCID or ISD-P AID"},
    {2, "profileNotInDisabledState", "profile not in disabled state"},
    {3, "disallowedByPolicy", "disallowed by the profile policy rules"},
    RESULT_UNDEFINED,
};
static const ResultDesc reset_results[] = {
    RESULT_OK,
    {1, "nothingToDelete", "nothing to delete"},
    {5, "catBusy", "the card's toolkit is busy, try again"},
    RESULT_UNDEFINED,
};
static const ResultDesc set_nickname_results[] = {
    RESULT_OK,
    {1, "iccidNotFound", "no profile with that ICCID"},
    RESULT_UNDEFINED,
};

/* SGP.22 5.7.5 PrepareDownload: DownloadErrorCode. */
static const ResultDesc prepare_download_results[] = {
    RESULT_OK,
    {1, "invalidCertificate", "the SM-DP+ certificate is not valid"},
    {2, "invalidSignature", "the SM-DP+ signature is not valid"},
    {3, "unsupportedCurve", "the card does not support the SM-DP+'s curve"},
    {4, "noSessionContext", "the card has no download session open"},
    {5, "invalidTransactionId", "the transaction id does not match the session"},
    RESULT_UNDEFINED,
};
/* SGP.22 5.7.13 AuthenticateServer: AuthenticateErrorCode. */
static const ResultDesc authenticate_server_results[] = {
    RESULT_OK,
    {1, "invalidCertificate", "the server certificate is not valid"},
    {2, "invalidSignature", "the server signature is not valid"},
    {3, "unsupportedCurve", "the card does not support the server's curve"},
    {4, "noSessionContext", "the card has no session open"},
    {5, "invalidOid", "the server certificate's OID is not valid"},
    {6, "euiccChallengeMismatch", "the server signed another challenge than the card's"},
    {7, "ciPKUnknown", "the card does not know the server's certificate issuer (CI)"},
    RESULT_UNDEFINED,
};
/* SGP.22 5.7.14 CancelSession. */
static const ResultDesc cancel_session_results[] = {
    RESULT_OK,
    {5, "invalidTransactionId", "no session with that transaction id"},
    RESULT_UNDEFINED,
};
/* SGP.22 5.7.6 LoadBoundProfilePackage: ErrorReason of ProfileInstallationResult. */
static const ResultDesc install_results[] = {
    RESULT_OK,
    {1, "incorrectInputValues", "the profile package has incorrect input values"},
    {2, "invalidSignature", "the profile package's signature is not valid"},
    {3, "invalidTransactionId", "the profile package belongs to another transaction"},
    {4, "unsupportedCrtValues", "the card does not support the package's key agreement values"},
    {5, "unsupportedRemoteOperationType", "the card does not support the remote operation"},
    {6, "unsupportedProfileClass", "the card does not accept this class of profile"},
    {7, "scp03tStructureError", "the profile package's secure channel data is malformed"},
    {8, "scp03tSecurityError", "the profile package failed the secure channel check"},
    {9, "installFailedDueToIccidAlreadyExistsOnEuicc",
     "a profile with that ICCID is already installed"},
    {10, "installFailedDueToInsufficientMemoryForProfile",
     "not enough memory on the card for the profile"},
    {11, "installFailedDueToInterruption", "the installation was interrupted"},
    {12, "installFailedDueToPEProcessingError", "the card could not process a profile element"},
    {13, "installFailedDueToIccidMismatch", "the profile's ICCID is not the one announced"},
    {14, "testProfileInstallFailedDueToInvalidNaaKey",
     "the test profile has an invalid network access key"},
    {15, "pprNotAllowed", "the profile's policy rules are not allowed on this card"},
    {127, "installFailedDueToUnknownError", "the installation failed for an unknown reason"},
};

#define RESULTS(a) .results = a, .n_results = G_N_ELEMENTS(a)

/* Each ES10 function with the request and response types it pairs (SGP.22 5.7). */
static const CommandDesc commands[ES10_CMD_COUNT] = {
    [ES10_CMD_GET_EUICC_CONFIGURED_ADDRESSES] =
        {
            .tag = 0xBF3C,
            .name = "GetEuiccConfiguredAddresses",
            .request_type = "EuiccConfiguredAddressesRequest",
            .response_type = "EuiccConfiguredAddressesResponse",
        },
    [ES10_CMD_SET_DEFAULT_DP_ADDRESS] =
        {
            .tag = 0xBF3F,
            .name = "SetDefaultDpAddress",
            .request_type = "SetDefaultDpAddressRequest",
            .response_type = "SetDefaultDpAddressResponse",
            RESULTS(set_default_dp_results),
            .result_only = TRUE,
        },
    [ES10_CMD_GET_EUICC_INFO1] =
        {
            .tag = 0xBF20,
            .name = "GetEUICCInfo1",
            .request_type = "GetEuiccInfo1Request",
            .response_type = "EUICCInfo1",
        },
    [ES10_CMD_GET_EUICC_INFO2] =
        {
            .tag = 0xBF22,
            .name = "GetEUICCInfo2",
            .request_type = "GetEuiccInfo2Request",
            .response_type = "EUICCInfo2",
        },
    [ES10_CMD_LIST_NOTIFICATION] =
        {
            .tag = 0xBF28,
            .name = "ListNotification",
            .request_type = "ListNotificationRequest",
            .response_type = "ListNotificationResponse",
            RESULTS(list_notification_results),
        },
    [ES10_CMD_RETRIEVE_NOTIFICATIONS_LIST] =
        {
            .tag = 0xBF2B,
            .name = "RetrieveNotificationsList",
            .request_type = "RetrieveNotificationsListRequest",
            .response_type = "RetrieveNotificationsListResponse",
            RESULTS(retrieve_notifications_results),
        },
    [ES10_CMD_REMOVE_NOTIFICATION_FROM_LIST] =
        {
            .tag = 0xBF30,
            .name = "RemoveNotificationFromList",
            .request_type = "NotificationSentRequest",
            .response_type = "NotificationSentResponse",
            RESULTS(notification_sent_results),
            .result_only = TRUE,
        },
    [ES10_CMD_GET_RAT] =
        {
            .tag = 0xBF43,
            .name = "GetRAT",
            .request_type = "GetRatRequest",
            .response_type = "GetRatResponse",
        },
    [ES10_CMD_GET_PROFILES_INFO] =
        {
            .tag = 0xBF2D,
            .name = "GetProfilesInfo",
            .request_type = "ProfileInfoListRequest",
            .response_type = "ProfileInfoListResponse",
            RESULTS(profiles_info_results),
        },
    [ES10_CMD_ENABLE_PROFILE] =
        {
            .tag = 0xBF31,
            .name = "EnableProfile",
            .request_type = "EnableProfileRequest",
            .response_type = "EnableProfileResponse",
            RESULTS(enable_results),
            .result_only = TRUE,
        },
    [ES10_CMD_DISABLE_PROFILE] =
        {
            .tag = 0xBF32,
            .name = "DisableProfile",
            .request_type = "DisableProfileRequest",
            .response_type = "DisableProfileResponse",
            RESULTS(disable_results),
            .result_only = TRUE,
        },
    [ES10_CMD_DELETE_PROFILE] =
        {
            .tag = 0xBF33,
            .name = "DeleteProfile",
            .request_type = "DeleteProfileRequest",
            .response_type = "DeleteProfileResponse",
            RESULTS(delete_results),
            .result_only = TRUE,
        },
    [ES10_CMD_EUICC_MEMORY_RESET] =
        {
            .tag = 0xBF34,
            .name = "eUICCMemoryReset",
            .request_type = "EuiccMemoryResetRequest",
            .response_type = "EuiccMemoryResetResponse",
            RESULTS(reset_results),
            .result_only = TRUE,
        },
    [ES10_CMD_GET_EID] =
        {
            .tag = 0xBF3E,
            .name = "GetEID",
            .request_type = "GetEuiccDataRequest",
            .response_type = "GetEuiccDataResponse",
        },
    [ES10_CMD_SET_NICKNAME] =
        {
            .tag = 0xBF29,
            .name = "SetNickname",
            .request_type = "SetNicknameRequest",
            .response_type = "SetNicknameResponse",
            RESULTS(set_nickname_results),
            .result_only = TRUE,
        },
    [ES10_CMD_PREPARE_DOWNLOAD] =
        {
            .tag = 0xBF21,
            .name = "PrepareDownload",
            .request_type = "PrepareDownloadRequest",
            .response_type = "PrepareDownloadResponse",
            RESULTS(prepare_download_results),
        },
    [ES10_CMD_GET_EUICC_CHALLENGE] =
        {
            .tag = 0xBF2E,
            .name = "GetEUICCChallenge",
            .request_type = "GetEuiccChallengeRequest",
            .response_type = "GetEuiccChallengeResponse",
        },
    [ES10_CMD_AUTHENTICATE_SERVER] =
        {
            .tag = 0xBF38,
            .name = "AuthenticateServer",
            .request_type = "AuthenticateServerRequest",
            .response_type = "AuthenticateServerResponse",
            RESULTS(authenticate_server_results),
        },
    [ES10_CMD_CANCEL_SESSION] =
        {
            .tag = 0xBF41,
            .name = "CancelSession",
            .request_type = "CancelSessionRequest",
            .response_type = "CancelSessionResponse",
            RESULTS(cancel_session_results),
        },
    /* SGP.22 5.7.6: the BPP goes in segments (2.5.5); the last answer is BF37. */
    [ES10_CMD_LOAD_BOUND_PROFILE_PACKAGE] =
        {
            .tag = 0xBF36,
            .response_tag = 0xBF37,
            .name = "LoadBoundProfilePackage",
            .request_type = "BoundProfilePackage",
            .response_type = "ProfileInstallationResult",
            RESULTS(install_results),
        },
};

static const CommandDesc *command_desc(Es10Command cmd)
{
  g_return_val_if_fail((guint)cmd < ES10_CMD_COUNT, &commands[0]);
  return &commands[cmd];
}

guint32 es10_command_get_tag(Es10Command cmd)
{
  return command_desc(cmd)->tag;
}

guint32 es10_command_get_response_tag(Es10Command cmd)
{
  const CommandDesc *d = command_desc(cmd);

  return d->response_tag ? d->response_tag : d->tag;
}

const char *es10_command_get_name(Es10Command cmd)
{
  return command_desc(cmd)->name;
}

gboolean es10_command_from_tag(guint32 tag, Es10Command *out)
{
  for (guint i = 0; i < ES10_CMD_COUNT; i++) {
    if (commands[i].tag == tag) {
      if (out)
        *out = (Es10Command)i;
      return TRUE;
    }
  }
  return FALSE;
}

gboolean es10_command_has_result_code(Es10Command cmd)
{
  return command_desc(cmd)->result_only;
}

GBytes *es10_encode_empty_request(Es10Command cmd)
{
  TlvWriter w;

  tlv_writer_init(&w);
  tlv_writer_begin(&w, command_desc(cmd)->tag);
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

static const ResultDesc *find_result(Es10Command cmd, gint result)
{
  const CommandDesc *d = command_desc(cmd);

  for (gsize i = 0; i < d->n_results; i++) {
    if (d->results[i].code == result)
      return &d->results[i];
  }
  return NULL;
}

gboolean es10_result_is_valid(Es10Command cmd, gint result)
{
  return find_result(cmd, result) != NULL;
}

const char *es10_result_get_name(Es10Command cmd, gint result)
{
  const ResultDesc *r = find_result(cmd, result);
  return r ? r->name : NULL;
}

const char *es10_result_get_message(Es10Command cmd, gint result)
{
  const ResultDesc *r = find_result(cmd, result);
  return r ? r->message : "unknown result code";
}

gboolean es10_check_result(Es10Command cmd, guint64 code, gint *result, GError **error)
{
  if (code > G_MAXINT || !es10_result_is_valid(cmd, (gint)code)) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE,
                "%s: result code %" G_GUINT64_FORMAT " is not defined for %s",
                command_desc(cmd)->response_type, code, command_desc(cmd)->name);
    return FALSE;
  }
  *result = (gint)code;
  return TRUE;
}

gboolean es10_open_response(Es10Command cmd, const guint8 *buf, gsize len, Tlv *out, GError **error)
{
  const CommandDesc *d = command_desc(cmd);
  GError *local = NULL;

  if (!tlv_parse(buf, len, out, &local)) {
    g_propagate_prefixed_error(error, local, "%s: ", d->response_type);
    return FALSE;
  }
  if (out->tag != es10_command_get_response_tag(cmd)) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG, "%s: expected tag %X, got %X",
                d->response_type, es10_command_get_response_tag(cmd), out->tag);
    return FALSE;
  }
  if (!tlv_tag_is_constructed(out->tag)) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "%s is not constructed", d->response_type);
    return FALSE;
  }
  return TRUE;
}

gboolean es10_decode_result(Es10Command cmd, const guint8 *buf, gsize len, gint *result,
                            GError **error)
{
  const CommandDesc *d = command_desc(cmd);
  Tlv resp, code_tlv;
  guint64 code;
  GError *local = NULL;

  if (!d->result_only) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                "%s does not answer with a bare result code", d->name);
    return FALSE;
  }
  if (!es10_open_response(cmd, buf, len, &resp, error))
    return FALSE;
  /* Every one of these responses is a SEQUENCE whose first component, the
   * result, is automatically tagged [0]; later versions may add more. */
  if (!tlv_find(&resp, 0x80, &code_tlv, &local)) {
    if (local)
      g_propagate_prefixed_error(error, local, "%s: ", d->response_type);
    else
      g_set_error(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD, "%s without its result code",
                  d->response_type);
    return FALSE;
  }
  if (!tlv_get_uint(&code_tlv, &code, &local)) {
    g_propagate_prefixed_error(error, local, "%s: ", d->response_type);
    return FALSE;
  }
  return es10_check_result(cmd, code, result, error);
}

gboolean es10_open_list_response(Es10Command cmd, const guint8 *buf, gsize len, Tlv *list,
                                 gint *result, GError **error)
{
  const CommandDesc *d = command_desc(cmd);
  TlvIter iter;
  Tlv resp, choice, extra;
  guint64 code;
  GError *local = NULL;

  if (!es10_open_response(cmd, buf, len, &resp, error))
    return FALSE;
  if (!tlv_iter_init(&iter, &resp, error))
    return FALSE;
  if (!tlv_iter_next(&iter, &choice, &local)) {
    if (local)
      g_propagate_prefixed_error(error, local, "%s: ", d->response_type);
    else
      g_set_error(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD, "%s is empty", d->response_type);
    return FALSE;
  }
  /* A CHOICE holds exactly one alternative. */
  if (tlv_iter_next(&iter, &extra, &local) || local) {
    if (local)
      g_propagate_prefixed_error(error, local, "%s: ", d->response_type);
    else
      g_set_error(error, ES10_ERROR, ES10_ERROR_TRAILING_DATA, "%s holds more than one alternative",
                  d->response_type);
    return FALSE;
  }
  switch (choice.tag) {
  case 0xA0: /* the list, automatically tagged [0] */
    *list = choice;
    *result = 0;
    return TRUE;
  case 0x81: /* the error INTEGER, automatically tagged [1] */
    if (!tlv_get_uint(&choice, &code, &local)) {
      g_propagate_prefixed_error(error, local, "%s: ", d->response_type);
      return FALSE;
    }
    if (code == 0) {
      /* 0 is "ok", which only the list alternative can say. */
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "%s: error code 0",
                  d->response_type);
      return FALSE;
    }
    if (!es10_check_result(cmd, code, result, error))
      return FALSE;
    memset(list, 0, sizeof(*list));
    return TRUE;
  default:
    g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG, "%s: unexpected alternative %X",
                d->response_type, choice.tag);
    return FALSE;
  }
}

gboolean es10_decode_list_response(Es10Command cmd, const guint8 *buf, gsize len,
                                   Es10ItemDecodeFunc decode, GDestroyNotify free_item,
                                   gint *result, GPtrArray **items, GError **error)
{
  g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(free_item);
  TlvIter iter;
  Tlv seq, item;
  GError *local = NULL;

  if (!es10_open_list_response(cmd, buf, len, &seq, result, error))
    return FALSE;
  if (*result == 0) {
    if (!tlv_iter_init(&iter, &seq, error))
      return FALSE;
    while (tlv_iter_next(&iter, &item, &local)) {
      gpointer decoded = decode(&item, &local);

      if (!decoded)
        break;
      g_ptr_array_add(list, decoded);
    }
    if (local) {
      g_propagate_prefixed_error(error, local, "%s: ", command_desc(cmd)->response_type);
      return FALSE;
    }
  }
  *items = g_steal_pointer(&list);
  return TRUE;
}

gboolean es10_decode_response_fields(Es10Command cmd, const guint8 *buf, gsize len,
                                     const Es10Field *fields, gsize n_fields, gpointer out,
                                     GError **error)
{
  Tlv resp;

  return es10_open_response(cmd, buf, len, &resp, error) &&
         es10_decode_fields(&resp, command_desc(cmd)->response_type, fields, n_fields, out, error);
}

/* ---- Primitive readers and writers -------------------------------------- */

gboolean es10_get_bits(const Tlv *tlv, guint32 *out, GError **error)
{
  guint32 bits = 0;
  guint unused;

  if (tlv->length == 0) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "BIT STRING %X with no content", tlv->tag);
    return FALSE;
  }
  unused = tlv->value[0];
  /* X.690 8.6.2.2/8.6.2.3: 0..7 unused bits, none when there is no bit at all. */
  if (unused > 7 || (tlv->length == 1 && unused != 0)) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "BIT STRING %X with %u unused bits",
                tlv->tag, unused);
    return FALSE;
  }
  for (gsize i = 1; i < tlv->length && i <= 4; i++) {
    for (guint b = 0; b < 8; b++) {
      if (i == tlv->length - 1 && b >= 8 - unused)
        break;
      if (tlv->value[i] & (0x80 >> b))
        bits |= 1u << ((i - 1) * 8 + b);
    }
  }
  *out = bits;
  return TRUE;
}

void es10_put_bits(TlvWriter *w, guint32 tag, guint32 bits)
{
  guint8 v[5] = {0};
  guint highest = 0, n;

  if (bits == 0) {
    tlv_writer_put(w, tag, v, 1);
    return;
  }
  for (guint b = 0; b < 32; b++) {
    if (bits & (1u << b)) {
      highest = b;
      v[1 + b / 8] |= 0x80 >> (b % 8);
    }
  }
  n = highest / 8 + 1;
  v[0] = (guint8)(7 - highest % 8);
  tlv_writer_put(w, tag, v, n + 1);
}

/* what names a caller's argument (an encoder's check); NULL for a card's field. */
static gboolean check_utf8(const char *s, gsize len, gsize max_chars, const char *what, guint32 tag,
                           GError **error)
{
  if (memchr(s, 0, len) || !g_utf8_validate_len(s, len, NULL)) {
    if (what)
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "%s is not valid UTF-8", what);
    else
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "UTF8String %X is not valid UTF-8",
                  tag);
    return FALSE;
  }
  if (max_chars && (gsize)g_utf8_strlen(s, (gssize)len) > max_chars) {
    if (what)
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                  "%s is longer than %zu characters", what, max_chars);
    else
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE,
                  "UTF8String %X is longer than %zu characters", tag, max_chars);
    return FALSE;
  }
  return TRUE;
}

gboolean es10_get_utf8(const Tlv *tlv, gsize max_chars, gchar **out, GError **error)
{
  if (!check_utf8((const char *)tlv->value, tlv->length, max_chars, NULL, tlv->tag, error))
    return FALSE;
  *out = g_strndup((const char *)tlv->value, tlv->length);
  return TRUE;
}

gboolean es10_check_utf8_arg(const char *what, const char *s, gsize max_chars, GError **error)
{
  if (!s) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "%s is missing", what);
    return FALSE;
  }
  return check_utf8(s, strlen(s), max_chars, what, 0, error);
}

gboolean es10_get_version(const Tlv *tlv, Es10Version *out, GError **error)
{
  if (tlv->length != 3) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "VersionType %X of %zu bytes, not 3",
                tlv->tag, tlv->length);
    return FALSE;
  }
  out->major = tlv->value[0];
  out->minor = tlv->value[1];
  out->revision = tlv->value[2];
  return TRUE;
}

gboolean es10_get_unsigned(const Tlv *tlv, guint64 *out, GError **error)
{
  guint64 v = 0;

  if (tlv->length == 0 || tlv->length > 8) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "number %X of %zu bytes", tlv->tag,
                tlv->length);
    return FALSE;
  }
  for (gsize i = 0; i < tlv->length; i++)
    v = (v << 8) | tlv->value[i];
  *out = v;
  return TRUE;
}

gchar *es10_version_to_string(const Es10Version *v)
{
  return g_strdup_printf("%u.%u.%u", v->major, v->minor, v->revision);
}

/* ---- Hex ---------------------------------------------------------------- */

gchar *es10_hex_encode(const guint8 *data, gsize len)
{
  static const char digits[] = "0123456789ABCDEF";
  gchar *s = g_malloc(len * 2 + 1);

  for (gsize i = 0; i < len; i++) {
    s[2 * i] = digits[data[i] >> 4];
    s[2 * i + 1] = digits[data[i] & 0xF];
  }
  s[len * 2] = '\0';
  return s;
}

GBytes *es10_hex_decode(const char *hex, GError **error)
{
  gsize n;
  guint8 *out;

  if (!hex) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "no hex string");
    return NULL;
  }
  n = strlen(hex);
  if (n % 2) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "hex string of odd length %zu", n);
    return NULL;
  }
  out = g_malloc(n / 2 + 1);
  for (gsize i = 0; i < n / 2; i++) {
    int hi = g_ascii_xdigit_value(hex[2 * i]);
    int lo = g_ascii_xdigit_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      g_free(out);
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "not a hex digit at position %zu",
                  hi < 0 ? 2 * i : 2 * i + 1);
      return NULL;
    }
    out[i] = (guint8)(hi << 4 | lo);
  }
  return g_bytes_new_take(out, n / 2);
}

/* ---- Profile identifiers, MCC/MNC --------------------------------------- */

gboolean es10_put_profile_id(TlvWriter *w, Es10ProfileIdType type, const char *id, GError **error)
{
  guint8 bcd[ICCID_BCD_LEN];
  g_autoptr(GBytes) aid = NULL;

  switch (type) {
  case ES10_PROFILE_ID_ICCID:
    if (!iccid_to_bcd(id, bcd, error))
      return FALSE;
    tlv_writer_put(w, ES10_TAG_ICCID, bcd, sizeof(bcd));
    return TRUE;
  case ES10_PROFILE_ID_ISDP_AID:
    aid = es10_hex_decode(id, error);
    if (!aid)
      return FALSE;
    /* OctetTo16: an AID is 1..16 bytes (ISO 7816-4 8.2.1.2 says 5..16). */
    if (g_bytes_get_size(aid) < 1 || g_bytes_get_size(aid) > 16) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                  "ISD-P AID of %zu bytes, not 1 to 16", g_bytes_get_size(aid));
      return FALSE;
    }
    tlv_writer_put(w, ES10_TAG_ISDP_AID, g_bytes_get_data(aid, NULL), g_bytes_get_size(aid));
    return TRUE;
  }
  g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "unknown profile identifier type");
  return FALSE;
}

/* 3GPP TS 24.008 10.5.1.13: MCC digit 2|1, MNC digit 3|MCC digit 3, MNC digit 2|1. The
 * SGP.22 RAT (2.9.2) lets 'E' stand for any digit. */
static int mcc_mnc_nibble(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c == 'E' || c == 'e')
    return 0xE;
  return -1;
}

gboolean es10_mcc_mnc_to_bytes(const char *mcc_mnc, guint8 out[3], GError **error)
{
  int d[6];
  gsize n = mcc_mnc ? strlen(mcc_mnc) : 0;

  if (n != 5 && n != 6) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "MCC/MNC must have 5 or 6 digits");
    return FALSE;
  }
  for (gsize i = 0; i < n; i++) {
    d[i] = mcc_mnc_nibble(mcc_mnc[i]);
    if (d[i] < 0) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                  "MCC/MNC \"%s\" has a character that is no digit", mcc_mnc);
      return FALSE;
    }
  }
  if (n == 5)
    d[5] = 0xF;
  out[0] = (guint8)(d[1] << 4 | d[0]);
  out[1] = (guint8)(d[5] << 4 | d[2]);
  out[2] = (guint8)(d[4] << 4 | d[3]);
  return TRUE;
}

gchar *es10_mcc_mnc_from_bytes(const guint8 *bytes, gsize len, GError **error)
{
  guint8 d[6];
  gchar s[7];
  gsize n = 6;

  if (len != 3) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "mccMnc of %zu bytes, not 3", len);
    return NULL;
  }
  d[0] = bytes[0] & 0xF;
  d[1] = bytes[0] >> 4;
  d[2] = bytes[1] & 0xF;
  d[3] = bytes[2] & 0xF;
  d[4] = bytes[2] >> 4;
  d[5] = bytes[1] >> 4;
  if (d[5] == 0xF)
    n = 5;
  for (gsize i = 0; i < n; i++) {
    if (d[i] == 0xE) {
      s[i] = 'E';
    } else if (d[i] > 9) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "mccMnc %02X%02X%02X is not BCD",
                  bytes[0], bytes[1], bytes[2]);
      return NULL;
    } else {
      s[i] = (gchar)('0' + d[i]);
    }
  }
  s[n] = '\0';
  return g_strdup(s);
}

/* ---- Names -------------------------------------------------------------- */

const char *es10_notification_event_to_string(guint32 event)
{
  switch (event) {
  case ES10_NOTIFICATION_INSTALL:
    return "install";
  case ES10_NOTIFICATION_ENABLE:
    return "enable";
  case ES10_NOTIFICATION_DISABLE:
    return "disable";
  case ES10_NOTIFICATION_DELETE:
    return "delete";
  default:
    return "unknown";
  }
}

const char *es10_profile_state_to_string(Es10ProfileState state)
{
  switch (state) {
  case ES10_PROFILE_STATE_DISABLED:
    return "disabled";
  case ES10_PROFILE_STATE_ENABLED:
    return "enabled";
  }
  return "unknown";
}

const char *es10_profile_class_to_string(Es10ProfileClass cls)
{
  switch (cls) {
  case ES10_PROFILE_CLASS_TEST:
    return "test";
  case ES10_PROFILE_CLASS_PROVISIONING:
    return "provisioning";
  case ES10_PROFILE_CLASS_OPERATIONAL:
    return "operational";
  }
  return "unknown";
}

const char *es10_icon_type_to_string(Es10IconType type)
{
  switch (type) {
  case ES10_ICON_TYPE_JPG:
    return "jpg";
  case ES10_ICON_TYPE_PNG:
    return "png";
  }
  return "unknown";
}

const char *es10_euicc_category_to_string(guint category)
{
  switch (category) {
  case ES10_EUICC_CATEGORY_OTHER:
    return "other";
  case ES10_EUICC_CATEGORY_BASIC:
    return "basicEuicc";
  case ES10_EUICC_CATEGORY_MEDIUM:
    return "mediumEuicc";
  case ES10_EUICC_CATEGORY_CONTACTLESS:
    return "contactlessEuicc";
  default:
    return "unknown";
  }
}

/* ---- The table-driven SEQUENCE decoder ---------------------------------- */

static gboolean decode_field(const Es10Field *f, const Tlv *tlv, guint8 *base, GError **error)
{
  gpointer slot = base + f->offset;
  guint64 v;
  guint32 bits;
  guint u;

  switch (f->kind) {
  case ES10_FIELD_UTF8:
    return es10_get_utf8(tlv, f->max, (gchar **)slot, error);
  case ES10_FIELD_HEX:
  case ES10_FIELD_BYTES:
    if (tlv->length < f->min || (f->max && tlv->length > f->max)) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "%zu bytes is out of range",
                  tlv->length);
      return FALSE;
    }
    if (f->kind == ES10_FIELD_HEX)
      *(gchar **)slot = es10_hex_encode(tlv->value, tlv->length);
    else
      *(GBytes **)slot = g_bytes_new(tlv->value, tlv->length);
    return TRUE;
  case ES10_FIELD_ICCID:
    *(gchar **)slot = iccid_from_bcd(tlv->value, tlv->length, error);
    return *(gchar **)slot != NULL;
  case ES10_FIELD_VERSION:
    return es10_get_version(tlv, (Es10Version *)slot, error);
  case ES10_FIELD_UINT:
    if (!tlv_get_uint(tlv, &v, error))
      return FALSE;
    if (v > (f->max ? f->max : G_MAXUINT)) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE,
                  "value %" G_GUINT64_FORMAT " out of range", v);
      return FALSE;
    }
    u = (guint)v;
    memcpy(slot, &u, sizeof(u));
    return TRUE;
  case ES10_FIELD_BITS:
    if (!es10_get_bits(tlv, &bits, error))
      return FALSE;
    memcpy(slot, &bits, sizeof(bits));
    return TRUE;
  case ES10_FIELD_PKIDS:
    return es10_decode_pkid_list(tlv, (GPtrArray **)slot, error);
  case ES10_FIELD_CUSTOM:
    return f->custom(tlv, base, error);
  }
  g_assert_not_reached();
}

gboolean es10_decode_fields(const Tlv *seq, const char *type_name, const Es10Field *fields,
                            gsize n_fields, gpointer out, GError **error)
{
  guint8 *base = out;
  guint64 seen = 0;
  TlvIter iter;
  Tlv child;
  GError *local = NULL;

  g_assert(n_fields <= 64);

  if (!tlv_tag_is_constructed(seq->tag)) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "%s is not constructed", type_name);
    return FALSE;
  }
  if (!tlv_iter_init(&iter, seq, error))
    return FALSE;
  while (tlv_iter_next(&iter, &child, &local)) {
    gsize i;

    for (i = 0; i < n_fields; i++) {
      if (fields[i].tag == child.tag)
        break;
    }
    if (i == n_fields)
      continue; /* a field of a later version, or an extension addition */
    if (seen & (G_GUINT64_CONSTANT(1) << i)) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "%s: %s given twice", type_name,
                  fields[i].name);
      return FALSE;
    }
    seen |= G_GUINT64_CONSTANT(1) << i;
    if (!decode_field(&fields[i], &child, base, &local)) {
      g_propagate_prefixed_error(error, local, "%s.%s: ", type_name, fields[i].name);
      return FALSE;
    }
    if (fields[i].present_offset != ES10_NO_FLAG)
      *(gboolean *)(base + fields[i].present_offset) = TRUE;
  }
  if (local) {
    g_propagate_prefixed_error(error, local, "%s: ", type_name);
    return FALSE;
  }
  for (gsize i = 0; i < n_fields; i++) {
    if (fields[i].mandatory && !(seen & (G_GUINT64_CONSTANT(1) << i))) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD, "%s without %s", type_name,
                  fields[i].name);
      return FALSE;
    }
  }
  return TRUE;
}

gboolean es10_decode_sequence_of(const Tlv *tlv, guint32 item_tag, const char *item_name,
                                 Es10ItemDecodeFunc decode, GDestroyNotify free_item,
                                 GPtrArray **out, GError **error)
{
  g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(free_item);
  TlvIter iter;
  Tlv item;
  GError *local = NULL;

  if (!tlv_iter_init(&iter, tlv, error))
    return FALSE;
  while (tlv_iter_next(&iter, &item, &local)) {
    gpointer decoded;

    if (item.tag != item_tag) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG, "%s with tag %X", item_name,
                  item.tag);
      return FALSE;
    }
    decoded = decode(&item, error);
    if (!decoded)
      return FALSE;
    g_ptr_array_add(list, decoded);
  }
  if (local) {
    g_propagate_error(error, local);
    return FALSE;
  }
  *out = g_steal_pointer(&list);
  return TRUE;
}

/* ---- Types more than one command carries -------------------------------- */

static gboolean check_single_event(const Tlv *tlv, gpointer out, GError **error)
{
  Es10NotificationMetadata *n = out;
  guint32 bits;

  if (!es10_get_bits(tlv, &bits, error))
    return FALSE;
  /* SGP.22 5.7.9: "Only one bit set to 1" in profileManagementOperation. */
  if (bits & ~ES10_NOTIFICATION_ALL_MASK || bits == 0 || (bits & (bits - 1)) != 0) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "names no single operation (bits %X)",
                bits);
    return FALSE;
  }
  n->operation = (Es10NotificationEvent)bits;
  return TRUE;
}

static const Es10Field notification_metadata_fields[] = {
    {0x80, "seqNumber", ES10_FIELD_UINT, offsetof(Es10NotificationMetadata, seq_number),
     ES10_NO_FLAG, TRUE, 0, G_MAXUINT32, NULL},
    {0x81, "profileManagementOperation", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0,
     check_single_event},
    {0x0C, "notificationAddress", ES10_FIELD_UTF8,
     offsetof(Es10NotificationMetadata, notification_address), ES10_NO_FLAG, TRUE, 0, 0, NULL},
    {0x5A, "iccid", ES10_FIELD_ICCID, offsetof(Es10NotificationMetadata, iccid), ES10_NO_FLAG,
     FALSE, 0, 0, NULL},
};

gboolean es10_decode_notification_metadata(const Tlv *tlv, Es10NotificationMetadata *out,
                                           GError **error)
{
  G_STATIC_ASSERT(sizeof(guint32) == sizeof(guint));

  if (tlv->tag != 0xBF2F) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG,
                "expected NotificationMetadata (BF2F), got %X", tlv->tag);
    return FALSE;
  }
  return es10_decode_fields(tlv, "NotificationMetadata", notification_metadata_fields,
                            G_N_ELEMENTS(notification_metadata_fields), out, error);
}

void es10_notification_metadata_clear(Es10NotificationMetadata *n)
{
  g_clear_pointer(&n->notification_address, g_free);
  g_clear_pointer(&n->iccid, g_free);
}

void es10_notification_metadata_free(Es10NotificationMetadata *n)
{
  if (!n)
    return;
  es10_notification_metadata_clear(n);
  g_free(n);
}

static gboolean decode_mcc_mnc(const Tlv *tlv, gpointer out, GError **error)
{
  Es10OperatorId *op = out;

  op->mcc_mnc = es10_mcc_mnc_from_bytes(tlv->value, tlv->length, error);
  return op->mcc_mnc != NULL;
}

static const Es10Field operator_id_fields[] = {
    {0x80, "mccMnc", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, decode_mcc_mnc},
    {0x81, "gid1", ES10_FIELD_BYTES, offsetof(Es10OperatorId, gid1), ES10_NO_FLAG, FALSE, 0, 0,
     NULL},
    {0x82, "gid2", ES10_FIELD_BYTES, offsetof(Es10OperatorId, gid2), ES10_NO_FLAG, FALSE, 0, 0,
     NULL},
};

gboolean es10_decode_operator_id(const Tlv *tlv, Es10OperatorId **out, GError **error)
{
  g_autoptr(Es10OperatorId) op = g_new0(Es10OperatorId, 1);

  if (!es10_decode_fields(tlv, "OperatorID", operator_id_fields, G_N_ELEMENTS(operator_id_fields),
                          op, error))
    return FALSE;
  *out = g_steal_pointer(&op);
  return TRUE;
}

void es10_operator_id_free(Es10OperatorId *op)
{
  if (!op)
    return;
  g_free(op->mcc_mnc);
  g_clear_pointer(&op->gid1, g_bytes_unref);
  g_clear_pointer(&op->gid2, g_bytes_unref);
  g_free(op);
}

/* SubjectKeyIdentifier ::= OCTET STRING (RFC 5280 4.2.1.2), kept as hex. */
static gpointer decode_pkid(const Tlv *tlv, GError **error)
{
  return es10_hex_encode(tlv->value, tlv->length);
}

gboolean es10_decode_pkid_list(const Tlv *tlv, GPtrArray **out, GError **error)
{
  GPtrArray *list;

  if (!es10_decode_sequence_of(tlv, 0x04, "SubjectKeyIdentifier", decode_pkid, g_free, &list,
                               error))
    return FALSE;
  if (*out)
    g_ptr_array_unref(*out);
  *out = list;
  return TRUE;
}
