/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ES10b: the LPA's calls for eUICC information, notifications and the Rules
 * Authorisation Table (SGP.22 5.7.8 GetEUICCInfo, 5.7.9 ListNotification,
 * 5.7.10 RetrieveNotificationsList, 5.7.11 RemoveNotificationFromList,
 * 5.7.22 GetRAT).
 */
#include "es10/es10-private.h"

/* ---- GetEUICCInfo ------------------------------------------------------- */

static const Es10Field euicc_info1_fields[] = {
    {0x82, "svn", ES10_FIELD_VERSION, offsetof(Es10bEuiccInfo1, svn), ES10_NO_FLAG, TRUE, 0, 0,
     NULL},
    {0xA9, "euiccCiPKIdListForVerification", ES10_FIELD_PKIDS,
     offsetof(Es10bEuiccInfo1, ci_pkid_verification), ES10_NO_FLAG, TRUE, 0, 0, NULL},
    {0xAA, "euiccCiPKIdListForSigning", ES10_FIELD_PKIDS,
     offsetof(Es10bEuiccInfo1, ci_pkid_signing), ES10_NO_FLAG, TRUE, 0, 0, NULL},
};

GBytes *es10b_get_euicc_info1_encode(void)
{
  return es10_encode_empty_request(ES10_CMD_GET_EUICC_INFO1);
}

gboolean es10b_get_euicc_info1_decode(const guint8 *buf, gsize len, Es10bEuiccInfo1 **out,
                                      GError **error)
{
  g_autoptr(Es10bEuiccInfo1) info = g_new0(Es10bEuiccInfo1, 1);

  if (!es10_decode_response_fields(ES10_CMD_GET_EUICC_INFO1, buf, len, euicc_info1_fields,
                                   G_N_ELEMENTS(euicc_info1_fields), info, error))
    return FALSE;
  /* SGP.22 3.1.2: the LPA hands EUICCInfo1 to the server byte for byte. */
  info->der = g_bytes_new(buf, len);
  *out = g_steal_pointer(&info);
  return TRUE;
}

void es10b_euicc_info1_free(Es10bEuiccInfo1 *info)
{
  if (!info)
    return;
  g_clear_pointer(&info->ci_pkid_verification, g_ptr_array_unref);
  g_clear_pointer(&info->ci_pkid_signing, g_ptr_array_unref);
  g_clear_pointer(&info->der, g_bytes_unref);
  g_free(info);
}

/*
 * extCardResource is an OCTET STRING holding the TLVs of ETSI TS 102 226
 * 8.2.1.7.2: 81 number of installed applications, 82 free non-volatile
 * memory, 83 free volatile memory, each an unsigned number.
 */
static gboolean decode_ext_card_resource(const Tlv *tlv, gpointer out, GError **error)
{
  Es10bEuiccInfo2 *info = out;
  TlvIter iter;
  Tlv item;
  GError *local = NULL;

  tlv_iter_init_buffer(&iter, tlv->value, tlv->length);
  while (tlv_iter_next(&iter, &item, &local)) {
    guint64 *value;
    gboolean *present;

    switch (item.tag) {
    case 0x81:
      value = &info->installed_applications;
      present = &info->has_installed_applications;
      break;
    case 0x82:
      value = &info->free_nv_memory;
      present = &info->has_free_nv_memory;
      break;
    case 0x83:
      value = &info->free_volatile_memory;
      present = &info->has_free_volatile_memory;
      break;
    default:
      continue;
    }
    if (!es10_get_unsigned(&item, value, error))
      return FALSE;
    *present = TRUE;
  }
  if (local) {
    g_propagate_error(error, local);
    return FALSE;
  }
  info->ext_card_resource = g_bytes_new(tlv->value, tlv->length);
  return TRUE;
}

static const Es10Field certification_data_fields[] = {
    /* Untagged components: AUTOMATIC TAGS makes them [0] and [1]. */
    {0x80, "platformLabel", ES10_FIELD_UTF8,
     offsetof(Es10bEuiccInfo2, certification_platform_label), ES10_NO_FLAG, TRUE, 0, 0, NULL},
    {0x81, "discoveryBaseURL", ES10_FIELD_UTF8,
     offsetof(Es10bEuiccInfo2, certification_discovery_base_url), ES10_NO_FLAG, TRUE, 0, 0, NULL},
};

static gboolean decode_certification_data(const Tlv *tlv, gpointer out, GError **error)
{
  return es10_decode_fields(tlv, "CertificationDataObject", certification_data_fields,
                            G_N_ELEMENTS(certification_data_fields), out, error);
}

#define I2(field) offsetof(Es10bEuiccInfo2, field)

/* EUICCInfo2 tags its components, so those without a tag keep their
 * universal one: ppVersion is an OCTET STRING (04), sasAcreditationNumber a
 * UTF8String (0C). */
static const Es10Field euicc_info2_fields[] = {
    {0x81, "profileVersion", ES10_FIELD_VERSION, I2(profile_version), ES10_NO_FLAG, TRUE, 0, 0,
     NULL},
    {0x82, "svn", ES10_FIELD_VERSION, I2(svn), ES10_NO_FLAG, TRUE, 0, 0, NULL},
    {0x83, "euiccFirmwareVer", ES10_FIELD_VERSION, I2(firmware_version), ES10_NO_FLAG, TRUE, 0, 0,
     NULL},
    {0x84, "extCardResource", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0,
     decode_ext_card_resource},
    {0x85, "uiccCapability", ES10_FIELD_BITS, I2(uicc_capability), ES10_NO_FLAG, TRUE, 0, 0, NULL},
    {0x86, "ts102241Version", ES10_FIELD_VERSION, I2(ts102241_version), I2(has_ts102241_version),
     FALSE, 0, 0, NULL},
    {0x87, "globalplatformVersion", ES10_FIELD_VERSION, I2(globalplatform_version),
     I2(has_globalplatform_version), FALSE, 0, 0, NULL},
    {0x88, "rspCapability", ES10_FIELD_BITS, I2(rsp_capability), ES10_NO_FLAG, TRUE, 0, 0, NULL},
    {0xA9, "euiccCiPKIdListForVerification", ES10_FIELD_PKIDS, I2(ci_pkid_verification),
     ES10_NO_FLAG, TRUE, 0, 0, NULL},
    {0xAA, "euiccCiPKIdListForSigning", ES10_FIELD_PKIDS, I2(ci_pkid_signing), ES10_NO_FLAG, TRUE,
     0, 0, NULL},
    {0x8B, "euiccCategory", ES10_FIELD_UINT, I2(euicc_category), I2(has_euicc_category), FALSE, 0,
     0, NULL},
    {0x99, "forbiddenProfilePolicyRules", ES10_FIELD_BITS, I2(forbidden_policy_rules),
     I2(has_forbidden_policy_rules), FALSE, 0, 0, NULL},
    {0x04, "ppVersion", ES10_FIELD_VERSION, I2(pp_version), ES10_NO_FLAG, TRUE, 0, 0, NULL},
    {0x0C, "sasAcreditationNumber", ES10_FIELD_UTF8, I2(sas_accreditation_number), ES10_NO_FLAG,
     TRUE, 0, 64, NULL},
    {0xAC, "certificationDataObject", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, FALSE, 0, 0,
     decode_certification_data},
};

GBytes *es10b_get_euicc_info2_encode(void)
{
  return es10_encode_empty_request(ES10_CMD_GET_EUICC_INFO2);
}

gboolean es10b_get_euicc_info2_decode(const guint8 *buf, gsize len, Es10bEuiccInfo2 **out,
                                      GError **error)
{
  g_autoptr(Es10bEuiccInfo2) info = g_new0(Es10bEuiccInfo2, 1);

  if (!es10_decode_response_fields(ES10_CMD_GET_EUICC_INFO2, buf, len, euicc_info2_fields,
                                   G_N_ELEMENTS(euicc_info2_fields), info, error))
    return FALSE;
  *out = g_steal_pointer(&info);
  return TRUE;
}

void es10b_euicc_info2_free(Es10bEuiccInfo2 *info)
{
  if (!info)
    return;
  g_clear_pointer(&info->ext_card_resource, g_bytes_unref);
  g_clear_pointer(&info->ci_pkid_verification, g_ptr_array_unref);
  g_clear_pointer(&info->ci_pkid_signing, g_ptr_array_unref);
  g_free(info->sas_accreditation_number);
  g_free(info->certification_platform_label);
  g_free(info->certification_discovery_base_url);
  g_free(info);
}

/* ---- ListNotification --------------------------------------------------- */

static gboolean check_operations(guint32 operations, GError **error)
{
  if (operations & ~ES10_NOTIFICATION_ALL_MASK) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                "notification operations %X name no NotificationEvent", operations);
    return FALSE;
  }
  return TRUE;
}

GBytes *es10b_list_notification_encode(guint32 operations, GError **error)
{
  TlvWriter w;

  if (!check_operations(operations, error))
    return NULL;
  tlv_writer_init(&w);
  tlv_writer_begin(&w, es10_command_get_tag(ES10_CMD_LIST_NOTIFICATION));
  if (operations)
    es10_put_bits(&w, 0x81, operations);
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

static gpointer decode_notification(const Tlv *tlv, GError **error)
{
  g_autoptr(Es10NotificationMetadata) n = g_new0(Es10NotificationMetadata, 1);

  if (!es10_decode_notification_metadata(tlv, n, error))
    return NULL;
  return g_steal_pointer(&n);
}

gboolean es10b_list_notification_decode(const guint8 *buf, gsize len,
                                        Es10bListNotificationResult *result,
                                        GPtrArray **notifications, GError **error)
{
  gint r;

  if (!es10_decode_list_response(ES10_CMD_LIST_NOTIFICATION, buf, len, decode_notification,
                                 (GDestroyNotify)es10_notification_metadata_free, &r, notifications,
                                 error))
    return FALSE;
  *result = (Es10bListNotificationResult)r;
  return TRUE;
}

/* ---- RetrieveNotificationsList ------------------------------------------ */

GBytes *es10b_retrieve_notifications_list_encode(Es10bNotificationSearch search, guint32 value,
                                                 GError **error)
{
  TlvWriter w;

  if (search == ES10B_SEARCH_OPERATION && (value == 0 || !check_operations(value, error))) {
    if (value == 0)
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                  "a search by operation needs at least one operation");
    return NULL;
  }
  if (search != ES10B_SEARCH_ALL && search != ES10B_SEARCH_SEQ_NUMBER &&
      search != ES10B_SEARCH_OPERATION) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "unknown notification search");
    return NULL;
  }
  tlv_writer_init(&w);
  tlv_writer_begin(&w, es10_command_get_tag(ES10_CMD_RETRIEVE_NOTIFICATIONS_LIST));
  if (search != ES10B_SEARCH_ALL) {
    /* searchCriteria is the one untagged component: AUTOMATIC TAGS makes it
     * [0], explicit because it is a CHOICE (X.680 31.2.7). */
    tlv_writer_begin(&w, 0xA0);
    if (search == ES10B_SEARCH_SEQ_NUMBER)
      tlv_writer_put_uint(&w, 0x80, value);
    else
      es10_put_bits(&w, 0x81, value);
    tlv_writer_end(&w);
  }
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

/* The NotificationMetadata inside a PendingNotification (SGP.22 5.7.10). */
static gpointer decode_pending(const Tlv *tlv, GError **error)
{
  g_autoptr(Es10PendingNotification) n = g_new0(Es10PendingNotification, 1);
  Tlv data, meta;
  TlvIter iter;
  GError *local = NULL;

  switch (tlv->tag) {
  case 0xBF37: /* ProfileInstallationResult */
    n->installation_result = TRUE;
    if (!tlv_find(tlv, 0xBF27, &data, &local)) {
      if (!local)
        g_set_error(&local, ES10_ERROR, ES10_ERROR_MISSING_FIELD,
                    "ProfileInstallationResult without profileInstallationResultData");
      break;
    }
    if (!tlv_find(&data, 0xBF2F, &meta, &local)) {
      if (!local)
        g_set_error(&local, ES10_ERROR, ES10_ERROR_MISSING_FIELD,
                    "ProfileInstallationResultData without notificationMetadata");
      break;
    }
    es10_decode_notification_metadata(&meta, &n->metadata, &local);
    break;
  case 0x30: /* OtherSignedNotification: tbsOtherNotification comes first */
    if (!tlv_iter_init(&iter, tlv, &local))
      break;
    if (!tlv_iter_next(&iter, &meta, &local)) {
      if (!local)
        g_set_error(&local, ES10_ERROR, ES10_ERROR_MISSING_FIELD,
                    "OtherSignedNotification is empty");
      break;
    }
    es10_decode_notification_metadata(&meta, &n->metadata, &local);
    break;
  default:
    g_set_error(&local, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG, "PendingNotification with tag %X",
                tlv->tag);
    break;
  }
  if (local) {
    g_propagate_error(error, local);
    return NULL;
  }
  n->der = g_bytes_new(tlv->raw, tlv->raw_length);
  return g_steal_pointer(&n);
}

gboolean es10b_retrieve_notifications_list_decode(const guint8 *buf, gsize len,
                                                  Es10bRetrieveNotificationsResult *result,
                                                  GPtrArray **notifications, GError **error)
{
  gint r;

  if (!es10_decode_list_response(ES10_CMD_RETRIEVE_NOTIFICATIONS_LIST, buf, len, decode_pending,
                                 (GDestroyNotify)es10_pending_notification_free, &r, notifications,
                                 error))
    return FALSE;
  *result = (Es10bRetrieveNotificationsResult)r;
  return TRUE;
}

void es10_pending_notification_free(Es10PendingNotification *n)
{
  if (!n)
    return;
  g_clear_pointer(&n->der, g_bytes_unref);
  es10_notification_metadata_clear(&n->metadata);
  g_free(n);
}

/* ---- RemoveNotificationFromList ----------------------------------------- */

GBytes *es10b_remove_notification_from_list_encode(guint32 seq_number)
{
  TlvWriter w;

  tlv_writer_init(&w);
  tlv_writer_begin(&w, es10_command_get_tag(ES10_CMD_REMOVE_NOTIFICATION_FROM_LIST));
  tlv_writer_put_uint(&w, 0x80, seq_number);
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

gboolean es10b_remove_notification_from_list_decode(const guint8 *buf, gsize len,
                                                    Es10bRemoveNotificationResult *result,
                                                    GError **error)
{
  gint r;

  if (!es10_decode_result(ES10_CMD_REMOVE_NOTIFICATION_FROM_LIST, buf, len, &r, error))
    return FALSE;
  *result = (Es10bRemoveNotificationResult)r;
  return TRUE;
}

/* ---- GetRAT ------------------------------------------------------------- */

static gpointer decode_operator(const Tlv *tlv, GError **error)
{
  Es10OperatorId *op;

  return es10_decode_operator_id(tlv, &op, error) ? op : NULL;
}

static gboolean decode_allowed_operators(const Tlv *tlv, gpointer out, GError **error)
{
  Es10bRatRule *rule = out;

  return es10_decode_sequence_of(tlv, 0x30, "OperatorID", decode_operator,
                                 (GDestroyNotify)es10_operator_id_free, &rule->allowed_operators,
                                 error);
}

static const Es10Field rat_rule_fields[] = {
    /* ProfilePolicyAuthorisationRule: untagged, so [0], [1], [2] (SGP.22 2.9.2). */
    {0x80, "pprIds", ES10_FIELD_BITS, offsetof(Es10bRatRule, ppr_ids), ES10_NO_FLAG, TRUE, 0, 0,
     NULL},
    {0xA1, "allowedOperators", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0,
     decode_allowed_operators},
    {0x82, "pprFlags", ES10_FIELD_BITS, offsetof(Es10bRatRule, ppr_flags), ES10_NO_FLAG, TRUE, 0, 0,
     NULL},
};

GBytes *es10b_get_rat_encode(void)
{
  return es10_encode_empty_request(ES10_CMD_GET_RAT);
}

gboolean es10b_get_rat_decode(const guint8 *buf, gsize len, GPtrArray **rules, GError **error)
{
  g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func((GDestroyNotify)es10b_rat_rule_free);
  TlvIter iter;
  Tlv resp, rat, item;
  GError *local = NULL;

  if (!es10_open_response(ES10_CMD_GET_RAT, buf, len, &resp, error))
    return FALSE;
  /* rat is the one untagged component of GetRatResponse: [0], constructed. */
  if (!tlv_find(&resp, 0xA0, &rat, &local)) {
    if (local)
      g_propagate_prefixed_error(error, local, "GetRatResponse: ");
    else
      g_set_error(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD, "GetRatResponse without rat");
    return FALSE;
  }
  if (!tlv_iter_init(&iter, &rat, error))
    return FALSE;
  while (tlv_iter_next(&iter, &item, &local)) {
    g_autoptr(Es10bRatRule) rule = g_new0(Es10bRatRule, 1);

    if (item.tag != 0x30) {
      g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG,
                  "GetRatResponse: ProfilePolicyAuthorisationRule with tag %X", item.tag);
      return FALSE;
    }
    if (!es10_decode_fields(&item, "ProfilePolicyAuthorisationRule", rat_rule_fields,
                            G_N_ELEMENTS(rat_rule_fields), rule, error))
      return FALSE;
    g_ptr_array_add(list, g_steal_pointer(&rule));
  }
  if (local) {
    g_propagate_prefixed_error(error, local, "GetRatResponse: ");
    return FALSE;
  }
  *rules = g_steal_pointer(&list);
  return TRUE;
}

void es10b_rat_rule_free(Es10bRatRule *rule)
{
  if (!rule)
    return;
  g_clear_pointer(&rule->allowed_operators, g_ptr_array_unref);
  g_free(rule);
}
