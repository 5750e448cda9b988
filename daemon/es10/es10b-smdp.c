/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the SM-DP+ sends for the card that the LPA itself must read during a
 * download (SGP.22 3.1.3.2): the profile's StoreMetadataRequest (5.5.3,
 * carried as profileMetadata of ES9+ authenticateClient, 6.5.2.7) that the
 * end user is asked to consent to, and smdpSigned2 (5.7.5) whose
 * ccRequiredFlag says whether a confirmation code is needed. Both are
 * passed on to the card unchanged; these decoders only read them.
 */
#include "es10/es10-private.h"

/* ---- StoreMetadataRequest ----------------------------------------------- */

#define SM(field) offsetof(Es10StoreMetadataRequest, field)

static gboolean decode_notification_config(const Tlv *tlv, gpointer out, GError **error)
{
  Es10StoreMetadataRequest *m = out;

  return es10_decode_notification_config_list(tlv, &m->notification_config, error);
}

static gboolean decode_profile_owner(const Tlv *tlv, gpointer out, GError **error)
{
  Es10StoreMetadataRequest *m = out;

  return es10_decode_operator_id(tlv, &m->owner, error);
}

/* The tags are those of ProfileInfo (rsp.asn gives both the same context tags). */
static const Es10Field store_metadata_fields[] = {
    {ES10_TAG_ICCID, "iccid", ES10_FIELD_ICCID, SM(iccid), ES10_NO_FLAG, TRUE, 0, 0, NULL},
    {ES10_TAG_SERVICE_PROVIDER_NAME, "serviceProviderName", ES10_FIELD_UTF8,
     SM(service_provider_name), ES10_NO_FLAG, TRUE, 0, 32, NULL},
    {ES10_TAG_PROFILE_NAME, "profileName", ES10_FIELD_UTF8, SM(profile_name), ES10_NO_FLAG, TRUE, 0,
     64, NULL},
    {ES10_TAG_ICON_TYPE, "iconType", ES10_FIELD_UINT, SM(icon_type), SM(has_icon_type), FALSE, 0,
     ES10_ICON_TYPE_PNG, NULL},
    {ES10_TAG_ICON, "icon", ES10_FIELD_BYTES, SM(icon), ES10_NO_FLAG, FALSE, 0, 1024, NULL},
    {ES10_TAG_PROFILE_CLASS, "profileClass", ES10_FIELD_UINT, SM(profile_class), ES10_NO_FLAG,
     FALSE, 0, ES10_PROFILE_CLASS_OPERATIONAL, NULL},
    {ES10_TAG_NOTIFICATION_CONFIGURATION_INFO, "notificationConfigurationInfo", ES10_FIELD_CUSTOM,
     0, ES10_NO_FLAG, FALSE, 0, 0, decode_notification_config},
    {ES10_TAG_PROFILE_OWNER, "profileOwner", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, FALSE, 0, 0,
     decode_profile_owner},
    {ES10_TAG_PROFILE_POLICY_RULES, "profilePolicyRules", ES10_FIELD_BITS, SM(policy_rules),
     SM(has_policy_rules), FALSE, 0, 0, NULL},
};

gboolean es10_store_metadata_request_decode(const guint8 *buf, gsize len,
                                            Es10StoreMetadataRequest **out, GError **error)
{
  g_autoptr(Es10StoreMetadataRequest) m = g_new0(Es10StoreMetadataRequest, 1);
  GError *local = NULL;
  Tlv tlv;

  G_STATIC_ASSERT(sizeof(Es10ProfileClass) == sizeof(guint));
  G_STATIC_ASSERT(sizeof(Es10IconType) == sizeof(guint));

  if (!tlv_parse(buf, len, &tlv, &local)) {
    g_propagate_prefixed_error(error, local, "StoreMetadataRequest: ");
    return FALSE;
  }
  if (tlv.tag != 0xBF25) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG,
                "StoreMetadataRequest: expected tag BF25, got %X", tlv.tag);
    return FALSE;
  }
  /* profileClass: absent means operational (SGP.22 5.5.3, DEFAULT in v2.2). */
  m->profile_class = ES10_PROFILE_CLASS_OPERATIONAL;
  if (!es10_decode_fields(&tlv, "StoreMetadataRequest", store_metadata_fields,
                          G_N_ELEMENTS(store_metadata_fields), m, error))
    return FALSE;
  /* rsp.asn: icon "SHALL only be present if iconType is present"; an icon of
   * no known type could not be shown. */
  if (m->icon && !m->has_icon_type) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE,
                "StoreMetadataRequest: icon without iconType");
    return FALSE;
  }
  *out = g_steal_pointer(&m);
  return TRUE;
}

void es10_store_metadata_request_free(Es10StoreMetadataRequest *m)
{
  if (!m)
    return;
  g_free(m->iccid);
  g_free(m->service_provider_name);
  g_free(m->profile_name);
  g_clear_pointer(&m->icon, g_bytes_unref);
  g_clear_pointer(&m->notification_config, g_ptr_array_unref);
  g_clear_pointer(&m->owner, es10_operator_id_free);
  g_free(m);
}

/* ---- SmdpSigned2 -------------------------------------------------------- */

#define S2(field) offsetof(Es10SmdpSigned2, field)

static gboolean decode_cc_required(const Tlv *tlv, gpointer out, GError **error)
{
  Es10SmdpSigned2 *s = out;

  return tlv_get_bool(tlv, &s->cc_required, error);
}

static const Es10Field smdp_signed2_fields[] = {
    /* transactionId [0] is tagged, so ccRequiredFlag keeps BOOLEAN (01). */
    {0x80, "transactionId", ES10_FIELD_BYTES, S2(transaction_id), ES10_NO_FLAG, TRUE, 1, 16, NULL},
    {0x01, "ccRequiredFlag", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, TRUE, 0, 0, decode_cc_required},
    /* otPK.EUICC.ECKA of an earlier attempt (SGP.22 3.1.3.2, the BPP re-use case). */
    {0x5F49, "bppEuiccOtpk", ES10_FIELD_BYTES, S2(bpp_euicc_otpk), ES10_NO_FLAG, FALSE, 1, 0, NULL},
};

gboolean es10_smdp_signed2_decode(const guint8 *buf, gsize len, Es10SmdpSigned2 **out,
                                  GError **error)
{
  g_autoptr(Es10SmdpSigned2) s = g_new0(Es10SmdpSigned2, 1);
  GError *local = NULL;
  Tlv tlv;

  if (!tlv_parse(buf, len, &tlv, &local)) {
    g_propagate_prefixed_error(error, local, "SmdpSigned2: ");
    return FALSE;
  }
  if (tlv.tag != 0x30) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG,
                "SmdpSigned2: expected a SEQUENCE (30), got %X", tlv.tag);
    return FALSE;
  }
  if (!es10_decode_fields(&tlv, "SmdpSigned2", smdp_signed2_fields,
                          G_N_ELEMENTS(smdp_signed2_fields), s, error))
    return FALSE;
  *out = g_steal_pointer(&s);
  return TRUE;
}

void es10_smdp_signed2_free(Es10SmdpSigned2 *s)
{
  if (!s)
    return;
  g_clear_pointer(&s->transaction_id, g_bytes_unref);
  g_clear_pointer(&s->bpp_euicc_otpk, g_bytes_unref);
  g_free(s);
}
