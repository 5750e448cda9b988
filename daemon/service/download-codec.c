/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the download needs from the SGP.22 codec beyond what es10/ offers:
 * reading StoreMetadataRequest and smdpSigned2's ccRequiredFlag, and
 * CancelSession with every reason of the spec. Each goes through es10's
 * TLV reader and writer or its decoders; nothing here parses bytes by hand.
 */
#include "service/download-private.h"

#include "es10/tlv.h"

void download_metadata_free(DownloadMetadata *m)
{
  if (!m)
    return;
  g_free(m->iccid);
  g_free(m->name);
  g_free(m->service_provider);
  g_clear_pointer(&m->icon, g_bytes_unref);
  g_free(m->owner_mccmnc);
  g_free(m);
}

/* ---- decoding what authenticateClient gave ---- */

/*
 * StoreMetadataRequest (BF25, SGP.22 5.5.3) has the tags of ProfileInfo for
 * every field it shares with it (5A, 91, 92, 93, 94, 95, B6, B7, 99). The
 * codec has no decoder of its own for it, so its content is read as the one
 * ProfileInfo of a ProfileInfoListResponse, through es10's decoder.
 */
DownloadMetadata *download_metadata_decode(GBytes *der, GError **error)
{
  Tlv tlv;
  TlvWriter w;
  g_autoptr(GBytes) wrapped = NULL;
  g_autoptr(GPtrArray) infos = NULL;
  Es10cGetProfilesInfoResult result;
  Es10ProfileInfo *p;
  DownloadMetadata *m;

  if (!tlv_parse(g_bytes_get_data(der, NULL), g_bytes_get_size(der), &tlv, error))
    return NULL;
  if (tlv.tag != 0xBF25) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG,
                "StoreMetadataRequest: expected tag BF25, got %X", tlv.tag);
    return NULL;
  }
  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0xBF2D);
  tlv_writer_begin(&w, 0xA0);
  tlv_writer_put(&w, 0xE3, tlv.value, tlv.length);
  tlv_writer_end(&w);
  tlv_writer_end(&w);
  wrapped = tlv_writer_finish(&w);
  if (!es10c_get_profiles_info_decode(g_bytes_get_data(wrapped, NULL), g_bytes_get_size(wrapped),
                                      &result, &infos, error))
    return NULL;
  if (result != ES10C_GET_PROFILES_INFO_OK || infos->len != 1 ||
      !((Es10ProfileInfo *)g_ptr_array_index(infos, 0))->iccid) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD, "StoreMetadataRequest has no ICCID");
    return NULL;
  }
  p = g_ptr_array_index(infos, 0);
  m = g_new0(DownloadMetadata, 1);
  m->iccid = g_strdup(p->iccid);
  m->name = g_strdup(p->profile_name ? p->profile_name : "");
  m->service_provider = g_strdup(p->service_provider_name ? p->service_provider_name : "");
  m->profile_class = p->profile_class == ES10_PROFILE_CLASS_TEST ? PROFILE_CLASS_TEST
                     : p->profile_class == ES10_PROFILE_CLASS_PROVISIONING
                         ? PROFILE_CLASS_PROVISIONING
                         : PROFILE_CLASS_OPERATIONAL;
  m->icon_type = !p->has_icon_type                    ? PROFILE_ICON_NONE
                 : p->icon_type == ES10_ICON_TYPE_PNG ? PROFILE_ICON_PNG
                                                      : PROFILE_ICON_JPG;
  m->icon = p->icon ? g_bytes_ref(p->icon) : g_bytes_new(NULL, 0);
  m->owner_mccmnc = g_strdup(p->owner ? p->owner->mcc_mnc : "");
  return m;
}

/* smdpSigned2 (SGP.22 5.6.2): 30 { 80 transactionId, 01 ccRequiredFlag, ... }. */
gboolean download_cc_required_decode(GBytes *smdp_signed2, gboolean *out, GError **error)
{
  Tlv seq, flag;

  if (!tlv_parse(g_bytes_get_data(smdp_signed2, NULL), g_bytes_get_size(smdp_signed2), &seq,
                 error) ||
      !tlv_find(&seq, 0x01, &flag, error))
    return FALSE;
  if (!flag.tag) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD, "smdpSigned2 has no ccRequiredFlag");
    return FALSE;
  }
  return tlv_get_bool(&flag, out, error);
}
