/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command table (tag, name, result codes of every ES10 function), the
 * response envelope and the types more than one command carries. The
 * pieces every type is built from are es10-fields.c's.
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
