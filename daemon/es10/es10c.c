/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ES10c: the LPA's local profile management (SGP.22 5.7.15 GetProfilesInfo,
 * 5.7.16 EnableProfile, 5.7.17 DisableProfile, 5.7.18 DeleteProfile,
 * 5.7.19 eUICCMemoryReset, 5.7.20 GetEID, 5.7.21 SetNickname).
 */
#include "es10/es10-private.h"

#include <string.h>

/* ---- GetProfilesInfo ---------------------------------------------------- */

static void put_tag_bytes(GByteArray *out, guint32 tag)
{
  guint8 b[3];
  gsize n = 0;

  if (tag > 0xFFFF)
    b[n++] = (guint8)(tag >> 16);
  if (tag > 0xFF)
    b[n++] = (guint8)(tag >> 8);
  b[n++] = (guint8)tag;
  g_byte_array_append(out, b, n);
}

GBytes *es10c_get_profiles_info_encode(const Es10cGetProfilesInfoRequest *request, GError **error)
{
  g_autoptr(GByteArray) tags = g_byte_array_new();
  TlvWriter w;
  guint8 cls;

  if (request) {
    for (gsize i = 0; i < request->n_tags; i++) {
      guint32 t = request->tag_list ? request->tag_list[i] : 0;
      if (t == 0 || t > 0xFFFFFF) {
        g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "tagList entry %zu is no tag",
                    i);
        return NULL;
      }
      put_tag_bytes(tags, t);
    }
  }

  tlv_writer_init(&w);
  tlv_writer_begin(&w, es10_command_get_tag(ES10_CMD_GET_PROFILES_INFO));
  if (request && request->search != ES10C_PROFILES_SEARCH_ALL) {
    /* searchCriteria [0] is a CHOICE, so its tag is explicit (X.680 31.2.7). */
    tlv_writer_begin(&w, 0xA0);
    switch (request->search) {
    case ES10C_PROFILES_SEARCH_ICCID:
    case ES10C_PROFILES_SEARCH_ISDP_AID:
      if (!es10_put_profile_id(&w,
                               request->search == ES10C_PROFILES_SEARCH_ICCID
                                   ? ES10_PROFILE_ID_ICCID
                                   : ES10_PROFILE_ID_ISDP_AID,
                               request->id, error))
        goto fail;
      break;
    case ES10C_PROFILES_SEARCH_CLASS:
      if ((guint)request->profile_class > ES10_PROFILE_CLASS_OPERATIONAL) {
        g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "unknown profile class %d",
                    (int)request->profile_class);
        goto fail;
      }
      cls = (guint8)request->profile_class;
      tlv_writer_put(&w, ES10_TAG_PROFILE_CLASS, &cls, 1);
      break;
    default:
      g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT, "unknown profile search");
      goto fail;
    }
    tlv_writer_end(&w);
  }
  if (tags->len)
    tlv_writer_put(&w, 0x5C, tags->data, tags->len);
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);

fail:
  tlv_writer_clear(&w);
  return NULL;
}

static gboolean decode_notification_config(const Tlv *tlv, gpointer out, GError **error);
static gboolean decode_profile_owner(const Tlv *tlv, gpointer out, GError **error);

#define PI(field) offsetof(Es10ProfileInfo, field)

static const Es10Field profile_info_fields[] = {
    {ES10_TAG_ICCID, "iccid", ES10_FIELD_ICCID, PI(iccid), ES10_NO_FLAG, FALSE, 0, 0, NULL},
    {ES10_TAG_ISDP_AID, "isdpAid", ES10_FIELD_HEX, PI(isdp_aid), ES10_NO_FLAG, FALSE, 1, 16, NULL},
    {ES10_TAG_PROFILE_STATE, "profileState", ES10_FIELD_UINT, PI(state), PI(has_state), FALSE, 0,
     ES10_PROFILE_STATE_ENABLED, NULL},
    {ES10_TAG_PROFILE_NICKNAME, "profileNickname", ES10_FIELD_UTF8, PI(nickname), ES10_NO_FLAG,
     FALSE, 0, 64, NULL},
    {ES10_TAG_SERVICE_PROVIDER_NAME, "serviceProviderName", ES10_FIELD_UTF8,
     PI(service_provider_name), ES10_NO_FLAG, FALSE, 0, 32, NULL},
    {ES10_TAG_PROFILE_NAME, "profileName", ES10_FIELD_UTF8, PI(profile_name), ES10_NO_FLAG, FALSE,
     0, 64, NULL},
    {ES10_TAG_ICON_TYPE, "iconType", ES10_FIELD_UINT, PI(icon_type), PI(has_icon_type), FALSE, 0,
     ES10_ICON_TYPE_PNG, NULL},
    {ES10_TAG_ICON, "icon", ES10_FIELD_BYTES, PI(icon), ES10_NO_FLAG, FALSE, 0, 1024, NULL},
    {ES10_TAG_PROFILE_CLASS, "profileClass", ES10_FIELD_UINT, PI(profile_class), ES10_NO_FLAG,
     FALSE, 0, ES10_PROFILE_CLASS_OPERATIONAL, NULL},
    {ES10_TAG_NOTIFICATION_CONFIGURATION_INFO, "notificationConfigurationInfo", ES10_FIELD_CUSTOM,
     0, ES10_NO_FLAG, FALSE, 0, 0, decode_notification_config},
    {ES10_TAG_PROFILE_OWNER, "profileOwner", ES10_FIELD_CUSTOM, 0, ES10_NO_FLAG, FALSE, 0, 0,
     decode_profile_owner},
    /* DpProprietaryData: up to 128 bytes with tag and length (SGP.22 rsp.asn). */
    {ES10_TAG_DP_PROPRIETARY_DATA, "dpProprietaryData", ES10_FIELD_BYTES, PI(dp_proprietary_data),
     ES10_NO_FLAG, FALSE, 0, 128, NULL},
    {ES10_TAG_PROFILE_POLICY_RULES, "profilePolicyRules", ES10_FIELD_BITS, PI(policy_rules),
     PI(has_policy_rules), FALSE, 0, 0, NULL},
};

static const Es10Field notification_config_fields[] = {
    /* NotificationConfigurationInformation: untagged, so [0] and [1]. */
    {0x80, "profileManagementOperation", ES10_FIELD_BITS,
     offsetof(Es10NotificationConfig, operations), ES10_NO_FLAG, TRUE, 0, 0, NULL},
    {0x81, "notificationAddress", ES10_FIELD_UTF8,
     offsetof(Es10NotificationConfig, notification_address), ES10_NO_FLAG, TRUE, 0, 0, NULL},
};

static gpointer decode_notification_config_item(const Tlv *tlv, GError **error)
{
  g_autoptr(Es10NotificationConfig) c = g_new0(Es10NotificationConfig, 1);

  if (!es10_decode_fields(tlv, "NotificationConfigurationInformation", notification_config_fields,
                          G_N_ELEMENTS(notification_config_fields), c, error))
    return NULL;
  return g_steal_pointer(&c);
}

gboolean es10_decode_notification_config_list(const Tlv *tlv, GPtrArray **out, GError **error)
{
  return es10_decode_sequence_of(tlv, 0x30, "NotificationConfigurationInformation",
                                 decode_notification_config_item,
                                 (GDestroyNotify)es10_notification_config_free, out, error);
}

static gboolean decode_notification_config(const Tlv *tlv, gpointer out, GError **error)
{
  Es10ProfileInfo *p = out;

  return es10_decode_notification_config_list(tlv, &p->notification_config, error);
}

static gboolean decode_profile_owner(const Tlv *tlv, gpointer out, GError **error)
{
  Es10ProfileInfo *p = out;
  return es10_decode_operator_id(tlv, &p->owner, error);
}

static gpointer decode_profile_info(const Tlv *tlv, GError **error)
{
  g_autoptr(Es10ProfileInfo) p = g_new0(Es10ProfileInfo, 1);

  if (tlv->tag != 0xE3) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG, "expected ProfileInfo (E3), got %X",
                tlv->tag);
    return NULL;
  }
  /* profileClass is DEFAULT operational: absent means operational. */
  p->profile_class = ES10_PROFILE_CLASS_OPERATIONAL;
  if (!es10_decode_fields(tlv, "ProfileInfo", profile_info_fields,
                          G_N_ELEMENTS(profile_info_fields), p, error))
    return NULL;
  return g_steal_pointer(&p);
}

gboolean es10c_get_profiles_info_decode(const guint8 *buf, gsize len,
                                        Es10cGetProfilesInfoResult *result, GPtrArray **profiles,
                                        GError **error)
{
  gint r;

  G_STATIC_ASSERT(sizeof(Es10ProfileState) == sizeof(guint));
  G_STATIC_ASSERT(sizeof(Es10ProfileClass) == sizeof(guint));
  G_STATIC_ASSERT(sizeof(Es10IconType) == sizeof(guint));

  if (!es10_decode_list_response(ES10_CMD_GET_PROFILES_INFO, buf, len, decode_profile_info,
                                 (GDestroyNotify)es10_profile_info_free, &r, profiles, error))
    return FALSE;
  *result = (Es10cGetProfilesInfoResult)r;
  return TRUE;
}

void es10_notification_config_free(Es10NotificationConfig *c)
{
  if (!c)
    return;
  g_free(c->notification_address);
  g_free(c);
}

void es10_profile_info_free(Es10ProfileInfo *p)
{
  if (!p)
    return;
  g_free(p->iccid);
  g_free(p->isdp_aid);
  g_free(p->nickname);
  g_free(p->service_provider_name);
  g_free(p->profile_name);
  g_clear_pointer(&p->icon, g_bytes_unref);
  g_clear_pointer(&p->notification_config, g_ptr_array_unref);
  g_clear_pointer(&p->owner, es10_operator_id_free);
  g_clear_pointer(&p->dp_proprietary_data, g_bytes_unref);
  g_free(p);
}

/* ---- Enable, Disable, Delete -------------------------------------------- */

/*
 * EnableProfileRequest and DisableProfileRequest have the same shape: both
 * components are untagged, so AUTOMATIC TAGS makes profileIdentifier [0]
 * (explicit, a CHOICE) and refreshFlag [1].
 */
static GBytes *encode_switch(Es10Command cmd, Es10ProfileIdType type, const char *id,
                             gboolean refresh, GError **error)
{
  TlvWriter w;

  tlv_writer_init(&w);
  tlv_writer_begin(&w, es10_command_get_tag(cmd));
  tlv_writer_begin(&w, 0xA0);
  if (!es10_put_profile_id(&w, type, id, error)) {
    tlv_writer_clear(&w);
    return NULL;
  }
  tlv_writer_end(&w);
  tlv_writer_put_bool(&w, 0x81, refresh);
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

GBytes *es10c_enable_profile_encode(Es10ProfileIdType type, const char *id, gboolean refresh,
                                    GError **error)
{
  return encode_switch(ES10_CMD_ENABLE_PROFILE, type, id, refresh, error);
}

gboolean es10c_enable_profile_decode(const guint8 *buf, gsize len, Es10cEnableProfileResult *result,
                                     GError **error)
{
  gint r;

  if (!es10_decode_result(ES10_CMD_ENABLE_PROFILE, buf, len, &r, error))
    return FALSE;
  *result = (Es10cEnableProfileResult)r;
  return TRUE;
}

GBytes *es10c_disable_profile_encode(Es10ProfileIdType type, const char *id, gboolean refresh,
                                     GError **error)
{
  return encode_switch(ES10_CMD_DISABLE_PROFILE, type, id, refresh, error);
}

gboolean es10c_disable_profile_decode(const guint8 *buf, gsize len,
                                      Es10cDisableProfileResult *result, GError **error)
{
  gint r;

  if (!es10_decode_result(ES10_CMD_DISABLE_PROFILE, buf, len, &r, error))
    return FALSE;
  *result = (Es10cDisableProfileResult)r;
  return TRUE;
}

GBytes *es10c_delete_profile_encode(Es10ProfileIdType type, const char *id, GError **error)
{
  TlvWriter w;

  /* DeleteProfileRequest is itself a tagged CHOICE: BF33 wraps the 4F or 5A. */
  tlv_writer_init(&w);
  tlv_writer_begin(&w, es10_command_get_tag(ES10_CMD_DELETE_PROFILE));
  if (!es10_put_profile_id(&w, type, id, error)) {
    tlv_writer_clear(&w);
    return NULL;
  }
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

gboolean es10c_delete_profile_decode(const guint8 *buf, gsize len, Es10cDeleteProfileResult *result,
                                     GError **error)
{
  gint r;

  if (!es10_decode_result(ES10_CMD_DELETE_PROFILE, buf, len, &r, error))
    return FALSE;
  *result = (Es10cDeleteProfileResult)r;
  return TRUE;
}

/* ---- eUICCMemoryReset --------------------------------------------------- */

GBytes *es10c_euicc_memory_reset_encode(guint32 options, GError **error)
{
  TlvWriter w;

  if (options == 0 || (options & ~ES10C_RESET_ALL_MASK)) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT,
                "reset options %X: at least one of bits 0 to 2 and nothing else", options);
    return NULL;
  }
  tlv_writer_init(&w);
  tlv_writer_begin(&w, es10_command_get_tag(ES10_CMD_EUICC_MEMORY_RESET));
  es10_put_bits(&w, 0x82, options);
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

gboolean es10c_euicc_memory_reset_decode(const guint8 *buf, gsize len,
                                         Es10cEuiccMemoryResetResult *result, GError **error)
{
  gint r;

  if (!es10_decode_result(ES10_CMD_EUICC_MEMORY_RESET, buf, len, &r, error))
    return FALSE;
  *result = (Es10cEuiccMemoryResetResult)r;
  return TRUE;
}

/* ---- GetEID ------------------------------------------------------------- */

GBytes *es10c_get_eid_encode(void)
{
  /* GetEuiccDataRequest: tagList SHALL be '5A' (SGP.22 5.7.20). */
  static const guint8 tag_list[] = {0x5A};
  TlvWriter w;

  tlv_writer_init(&w);
  tlv_writer_begin(&w, es10_command_get_tag(ES10_CMD_GET_EID));
  tlv_writer_put(&w, 0x5C, tag_list, sizeof(tag_list));
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

gboolean es10c_get_eid_decode(const guint8 *buf, gsize len, gchar **eid, GError **error)
{
  Tlv resp, value;
  GError *local = NULL;

  if (!es10_open_response(ES10_CMD_GET_EID, buf, len, &resp, error))
    return FALSE;
  if (!tlv_find(&resp, 0x5A, &value, &local)) {
    if (local)
      g_propagate_prefixed_error(error, local, "GetEuiccDataResponse: ");
    else
      g_set_error(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD,
                  "GetEuiccDataResponse without eidValue");
    return FALSE;
  }
  if (value.length != 16) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE,
                "GetEuiccDataResponse: EID of %zu bytes, not 16", value.length);
    return FALSE;
  }
  *eid = es10_hex_encode(value.value, value.length);
  return TRUE;
}

/* ---- SetNickname -------------------------------------------------------- */

GBytes *es10c_set_nickname_encode(const char *iccid, const char *nickname, GError **error)
{
  TlvWriter w;

  if (!iccid_validate(iccid, error))
    return NULL;
  if (!es10_check_utf8_arg("profile nickname", nickname, 64, error))
    return NULL;
  tlv_writer_init(&w);
  tlv_writer_begin(&w, es10_command_get_tag(ES10_CMD_SET_NICKNAME));
  es10_put_profile_id(&w, ES10_PROFILE_ID_ICCID, iccid, NULL);
  tlv_writer_put(&w, ES10_TAG_PROFILE_NICKNAME, (const guint8 *)nickname, strlen(nickname));
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

gboolean es10c_set_nickname_decode(const guint8 *buf, gsize len, Es10cSetNicknameResult *result,
                                   GError **error)
{
  gint r;

  if (!es10_decode_result(ES10_CMD_SET_NICKNAME, buf, len, &r, error))
    return FALSE;
  *result = (Es10cSetNicknameResult)r;
  return TRUE;
}
