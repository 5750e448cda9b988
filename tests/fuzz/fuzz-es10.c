/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for every ES10 response decoder, and the decoders of
 * what the SM-DP+ sends that the LPA reads (StoreMetadataRequest,
 * smdpSigned2, the SM-DP+ OID of a certificate). The first byte picks the
 * decoder, the rest is the card's answer. Besides "no crash, no leak", it
 * checks that a decoder's verdict and its GError agree, and that what decodes
 * as an ICCID or MCC/MNC encodes back to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "es10/es10.h"
#include "es10/iccid.h"
#include "fuzz-es10.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gboolean bytes_equal_data(GBytes *b, const guint8 *data, gsize len)
{
  gsize n;
  const guint8 *p = g_bytes_get_data(b, &n);

  return n == len && (len == 0 || memcmp(p, data, len) == 0);
}

static void check(gboolean ok, GError *error)
{
  /* A decoder that fails says why, in its own domain; one that succeeds says nothing. */
  if (ok != (error == NULL))
    abort();
  if (error && (error->domain != ES10_ERROR || !error->message || !*error->message))
    abort();
}

static void check_profiles(GPtrArray *profiles)
{
  for (guint i = 0; i < profiles->len; i++) {
    Es10ProfileInfo *p = profiles->pdata[i];
    guint8 bcd[ICCID_BCD_LEN];

    if (p->iccid && !iccid_to_bcd(p->iccid, bcd, NULL))
      abort();
    if (p->has_state && p->state != ES10_PROFILE_STATE_DISABLED &&
        p->state != ES10_PROFILE_STATE_ENABLED)
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  const guint8 *buf;
  gsize len;
  gboolean ok = FALSE;
  gint r;

  if (size < 1)
    return 0;
  buf = data + 1;
  len = size - 1;

  switch (data[0] % FUZZ_ES10_N_TARGETS) {
  case FUZZ_ES10_CONFIGURED_ADDRESSES: {
    g_autoptr(Es10aConfiguredAddresses) out = NULL;
    ok = es10a_get_euicc_configured_addresses_decode(buf, len, &out, &error);
    if (ok && !out->root_ds_address)
      abort();
    break;
  }
  case FUZZ_ES10_SET_DEFAULT_DP_ADDRESS:
    ok =
        es10a_set_default_dp_address_decode(buf, len, (Es10aSetDefaultDpAddressResult *)&r, &error);
    break;
  case FUZZ_ES10_EUICC_INFO1: {
    g_autoptr(Es10bEuiccInfo1) out = NULL;
    ok = es10b_get_euicc_info1_decode(buf, len, &out, &error);
    /* What goes to the SM-DP+ is exactly what the card said. */
    if (ok && !bytes_equal_data(out->der, buf, len))
      abort();
    break;
  }
  case FUZZ_ES10_EUICC_INFO2: {
    g_autoptr(Es10bEuiccInfo2) out = NULL;
    ok = es10b_get_euicc_info2_decode(buf, len, &out, &error);
    if (ok && (!out->ci_pkid_signing || !out->ci_pkid_verification || !out->ext_card_resource))
      abort();
    break;
  }
  case FUZZ_ES10_LIST_NOTIFICATION: {
    g_autoptr(GPtrArray) out = NULL;
    ok = es10b_list_notification_decode(buf, len, (Es10bListNotificationResult *)&r, &out, &error);
    break;
  }
  case FUZZ_ES10_RETRIEVE_NOTIFICATIONS: {
    g_autoptr(GPtrArray) out = NULL;
    ok = es10b_retrieve_notifications_list_decode(buf, len, (Es10bRetrieveNotificationsResult *)&r,
                                                  &out, &error);
    /* The DER kept for the SM-DP+ lies inside the input and is itself one TLV. */
    for (guint i = 0; ok && i < out->len; i++) {
      Es10PendingNotification *n = out->pdata[i];
      gsize dlen;
      const guint8 *d = g_bytes_get_data(n->der, &dlen);
      Tlv t;

      if (!memmem(buf, len, d, dlen) || !tlv_parse(d, dlen, &t, NULL))
        abort();
    }
    break;
  }
  case FUZZ_ES10_REMOVE_NOTIFICATION:
    ok = es10b_remove_notification_from_list_decode(buf, len, (Es10bRemoveNotificationResult *)&r,
                                                    &error);
    break;
  case FUZZ_ES10_GET_RAT: {
    g_autoptr(GPtrArray) out = NULL;
    ok = es10b_get_rat_decode(buf, len, &out, &error);
    break;
  }
  case FUZZ_ES10_PROFILES_INFO: {
    g_autoptr(GPtrArray) out = NULL;
    ok = es10c_get_profiles_info_decode(buf, len, (Es10cGetProfilesInfoResult *)&r, &out, &error);
    if (ok)
      check_profiles(out);
    break;
  }
  case FUZZ_ES10_ENABLE_PROFILE:
    ok = es10c_enable_profile_decode(buf, len, (Es10cEnableProfileResult *)&r, &error);
    if (ok && !es10_result_is_valid(ES10_CMD_ENABLE_PROFILE, r))
      abort();
    break;
  case FUZZ_ES10_DISABLE_PROFILE:
    ok = es10c_disable_profile_decode(buf, len, (Es10cDisableProfileResult *)&r, &error);
    break;
  case FUZZ_ES10_DELETE_PROFILE:
    ok = es10c_delete_profile_decode(buf, len, (Es10cDeleteProfileResult *)&r, &error);
    if (ok && !es10_result_is_valid(ES10_CMD_DELETE_PROFILE, r))
      abort();
    break;
  case FUZZ_ES10_MEMORY_RESET:
    ok = es10c_euicc_memory_reset_decode(buf, len, (Es10cEuiccMemoryResetResult *)&r, &error);
    break;
  case FUZZ_ES10_GET_EID: {
    g_autofree gchar *eid = NULL;
    ok = es10c_get_eid_decode(buf, len, &eid, &error);
    if (ok && strlen(eid) != 32)
      abort();
    break;
  }
  case FUZZ_ES10_SET_NICKNAME:
    ok = es10c_set_nickname_decode(buf, len, (Es10cSetNicknameResult *)&r, &error);
    break;
  case FUZZ_ES10_PREPARE_DOWNLOAD: {
    g_autoptr(Es10bPrepareDownloadResponse) out = NULL;
    ok = es10b_prepare_download_decode(buf, len, &out, &error);
    if (ok && (!es10_result_is_valid(ES10_CMD_PREPARE_DOWNLOAD, out->result) ||
               (out->result == ES10B_DOWNLOAD_OK) != (out->der != NULL) || !out->transaction_id))
      abort();
    if (ok && out->der && !bytes_equal_data(out->der, buf, len))
      abort();
    break;
  }
  case FUZZ_ES10_EUICC_CHALLENGE: {
    guint8 c[ES10_CHALLENGE_LEN];
    ok = es10b_get_euicc_challenge_decode(buf, len, c, &error);
    if (ok && !memmem(buf, len, c, sizeof(c)))
      abort();
    break;
  }
  case FUZZ_ES10_AUTHENTICATE_SERVER: {
    g_autoptr(Es10bAuthenticateServerResponse) out = NULL;
    ok = es10b_authenticate_server_decode(buf, len, &out, &error);
    if (ok && (!es10_result_is_valid(ES10_CMD_AUTHENTICATE_SERVER, out->result) ||
               !out->transaction_id || g_bytes_get_size(out->transaction_id) > 16))
      abort();
    if (ok && out->result == ES10B_AUTHENTICATE_OK &&
        (!out->der || !bytes_equal_data(out->der, buf, len) || !out->server_address ||
         !out->euicc_info2 || !out->euicc_certificate || !out->eum_certificate))
      abort();
    break;
  }
  case FUZZ_ES10_CANCEL_SESSION: {
    g_autoptr(GBytes) der = NULL;
    ok = es10b_cancel_session_decode(buf, len, (Es10bCancelSessionResult *)&r, &der, &error);
    if (ok && (r == ES10B_CANCEL_SESSION_OK) != (der != NULL))
      abort();
    break;
  }
  case FUZZ_ES10_INSTALLATION_RESULT: {
    g_autoptr(Es10bProfileInstallationResult) out = NULL;
    ok = es10b_load_bound_profile_package_decode(buf, len, &out, &error);
    if (ok && len == 0 && out)
      abort();
    if (ok && out &&
        (!bytes_equal_data(out->der, buf, len) ||
         !es10_result_is_valid(ES10_CMD_LOAD_BOUND_PROFILE_PACKAGE, out->result) ||
         (out->result == ES10B_INSTALL_OK) != (out->isdp_aid != NULL) ||
         out->metadata.operation != ES10_NOTIFICATION_INSTALL))
      abort();
    break;
  }
  case FUZZ_ES10_BPP_SPLIT: {
    g_autoptr(GPtrArray) segments = NULL;
    g_autoptr(GByteArray) joined = g_byte_array_new();

    ok = es10b_bound_profile_package_split(buf, len, &segments, &error);
    /* The segments are the BPP cut in pieces: nothing lost, added or moved. */
    for (guint i = 0; ok && i < segments->len; i++) {
      gsize n;
      const guint8 *p = g_bytes_get_data(segments->pdata[i], &n);

      if (n == 0)
        abort();
      g_byte_array_append(joined, p, (guint)n);
    }
    if (ok && (segments->len < 5 || joined->len != len || memcmp(joined->data, buf, len) != 0))
      abort();
    break;
  }
  case FUZZ_ES10_STORE_METADATA: {
    g_autoptr(Es10StoreMetadataRequest) out = NULL;
    guint8 bcd[ICCID_BCD_LEN];

    ok = es10_store_metadata_request_decode(buf, len, &out, &error);
    if (ok && (!out->iccid || !iccid_to_bcd(out->iccid, bcd, NULL) || !out->profile_name ||
               !out->service_provider_name || (out->icon && !out->has_icon_type) ||
               (guint)out->profile_class > ES10_PROFILE_CLASS_OPERATIONAL ||
               (out->icon && g_bytes_get_size(out->icon) > 1024) ||
               g_utf8_strlen(out->service_provider_name, -1) > 32 ||
               g_utf8_strlen(out->profile_name, -1) > 64))
      abort();
    break;
  }
  case FUZZ_ES10_SMDP_SIGNED2: {
    g_autoptr(Es10SmdpSigned2) out = NULL;
    gsize n;
    const guint8 *id;

    ok = es10_smdp_signed2_decode(buf, len, &out, &error);
    if (ok) {
      /* The transaction id is read from the input, never made up. */
      id = g_bytes_get_data(out->transaction_id, &n);
      if (n < 1 || n > 16 || !memmem(buf, len, id, n))
        abort();
    }
    break;
  }
  case FUZZ_ES10_CERTIFICATE_OID: {
    g_autofree gchar *oid = NULL;

    ok = es10_certificate_get_registered_id(buf, len, &oid, &error);
    /* Dotted decimal, as an activation code writes it: at least two arcs. */
    if (ok && oid &&
        (!g_ascii_isdigit(oid[0]) || !strchr(oid, '.') ||
         strspn(oid, "0123456789.") != strlen(oid) || strstr(oid, "..")))
      abort();
    if (!ok && oid)
      abort();
    break;
  }
  case FUZZ_ES10_ICCID: {
    g_autofree gchar *iccid = iccid_from_bcd(buf, len, &error);
    guint8 bcd[ICCID_BCD_LEN];

    ok = iccid != NULL;
    if (ok && (!iccid_to_bcd(iccid, bcd, NULL) || memcmp(bcd, buf, sizeof(bcd)) != 0))
      abort();
    break;
  }
  case FUZZ_ES10_MCC_MNC: {
    g_autofree gchar *plmn = es10_mcc_mnc_from_bytes(buf, len, &error);
    guint8 back[3];

    ok = plmn != NULL;
    if (ok && (!es10_mcc_mnc_to_bytes(plmn, back, NULL) || memcmp(back, buf, 3) != 0))
      abort();
    break;
  }
  }
  check(ok, error);
  return 0;
}
