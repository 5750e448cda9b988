/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The download's view of what the SGP.22 codec decodes from the SM-DP+:
 * the profile metadata as the API shows it, smdpSigned2 checked against the
 * card's session, and the activation code's SM-DP+ OID checked against the
 * SM-DP+'s certificate. Everything goes through es10's decoders; nothing
 * here parses bytes by hand.
 */
#include "service/download-private.h"

#include "es10/es10.h"

void download_metadata_free(DownloadMetadata *m)
{
  if (!m)
    return;
  g_free(m->iccid);
  g_free(m->name);
  g_free(m->service_provider);
  g_clear_pointer(&m->icon, g_bytes_unref);
  g_free(m->owner_mccmnc);
  g_strfreev(m->policy_rules);
  g_free(m);
}

/* ---- decoding what authenticateClient gave ---- */

DownloadMetadata *download_metadata_decode(GBytes *der, GError **error)
{
  g_autoptr(Es10StoreMetadataRequest) p = NULL;
  DownloadMetadata *m;

  if (!der) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD, "no StoreMetadataRequest");
    return NULL;
  }
  if (!es10_store_metadata_request_decode(g_bytes_get_data(der, NULL), g_bytes_get_size(der), &p,
                                          error))
    return NULL;
  m = g_new0(DownloadMetadata, 1);
  m->iccid = g_steal_pointer(&p->iccid);
  m->name = g_steal_pointer(&p->profile_name);
  m->service_provider = g_steal_pointer(&p->service_provider_name);
  m->profile_class = p->profile_class == ES10_PROFILE_CLASS_TEST ? PROFILE_CLASS_TEST
                     : p->profile_class == ES10_PROFILE_CLASS_PROVISIONING
                         ? PROFILE_CLASS_PROVISIONING
                         : PROFILE_CLASS_OPERATIONAL;
  m->icon_type = !p->has_icon_type                    ? PROFILE_ICON_NONE
                 : p->icon_type == ES10_ICON_TYPE_PNG ? PROFILE_ICON_PNG
                                                      : PROFILE_ICON_JPG;
  m->icon = p->icon ? g_bytes_ref(p->icon) : g_bytes_new(NULL, 0);
  m->owner_mccmnc = g_strdup(p->owner ? p->owner->mcc_mnc : "");
  m->policy_rules = service_ppr_names(p->has_policy_rules ? p->policy_rules : 0);
  return m;
}

Es10ProfileInfo *download_installed_profile(GBytes *metadata_der, const char *isdp_aid)
{
  g_autoptr(Es10StoreMetadataRequest) m = NULL;
  Es10ProfileInfo *p;

  if (!metadata_der ||
      !es10_store_metadata_request_decode(g_bytes_get_data(metadata_der, NULL),
                                          g_bytes_get_size(metadata_der), &m, NULL))
    return NULL;
  p = g_new0(Es10ProfileInfo, 1);
  p->iccid = g_steal_pointer(&m->iccid);
  p->isdp_aid = g_strdup(isdp_aid);
  p->has_state = TRUE;
  p->state = ES10_PROFILE_STATE_DISABLED;
  p->service_provider_name = g_steal_pointer(&m->service_provider_name);
  p->profile_name = g_steal_pointer(&m->profile_name);
  p->has_icon_type = m->has_icon_type;
  p->icon_type = m->icon_type;
  p->icon = g_steal_pointer(&m->icon);
  p->profile_class = m->profile_class;
  p->notification_config = g_steal_pointer(&m->notification_config);
  p->owner = g_steal_pointer(&m->owner);
  p->has_policy_rules = m->has_policy_rules;
  p->policy_rules = m->policy_rules;
  return p;
}

Es10SmdpSigned2 *download_smdp_signed2_decode(GBytes *der, GBytes *transaction_id, GError **error)
{
  g_autoptr(Es10SmdpSigned2) s = NULL;

  if (!der) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD, "no smdpSigned2");
    return NULL;
  }
  if (!es10_smdp_signed2_decode(g_bytes_get_data(der, NULL), g_bytes_get_size(der), &s, error))
    return NULL;
  /* 5.7.5: the card would refuse it at PrepareDownload (invalidTransactionId);
   * said here, the message names the culprit. */
  if (!g_bytes_equal(s->transaction_id, transaction_id)) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE,
                "smdpSigned2 is for another transaction than the eUICC's");
    return NULL;
  }
  return g_steal_pointer(&s);
}

/* ---- the SM-DP+ OID of the activation code ---- */

gboolean download_check_smdp_oid(const char *expected, GBytes *server_certificate,
                                 const char *address, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autofree gchar *oid = NULL;

  if (!expected)
    return TRUE;
  if (!server_certificate ||
      !es10_certificate_get_registered_id(g_bytes_get_data(server_certificate, NULL),
                                          g_bytes_get_size(server_certificate), &oid, &local)) {
    g_set_error(error, ESIMD_ERROR, ESIMD_ERROR_INVALID_ACTIVATION_CODE,
                "The activation code names the SM-DP+ OID %s, but the certificate of %s cannot "
                "be read: %s",
                expected, address, local ? local->message : "none was sent");
    return FALSE;
  }
  if (g_strcmp0(oid, expected) != 0) {
    g_set_error(error, ESIMD_ERROR, ESIMD_ERROR_INVALID_ACTIVATION_CODE,
                "The activation code is for the SM-DP+ with OID %s, but the certificate of %s "
                "names %s%s",
                expected, address, oid ? "OID " : "no OID", oid ? oid : "");
    return FALSE;
  }
  return TRUE;
}
