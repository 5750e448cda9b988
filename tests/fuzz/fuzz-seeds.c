/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writes the seed corpus of the fuzz targets: one well-formed response per
 * decoder, built with the TLV writer from rsp.asn's shapes.
 *   fuzz-seeds es10 DIR   inputs for fuzz-es10 (first byte picks the decoder)
 *   fuzz-seeds tlv DIR    the same responses as plain DER for fuzz-tlv
 *   fuzz-seeds activation DIR   activation codes for fuzz-activation
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "es10/es10.h"
#include "es10/iccid.h"
#include "fuzz-es10.h"

typedef struct {
  int target;
  const char *name;
  void (*build)(TlvWriter *w);
} Seed;

static void put_str(TlvWriter *w, guint32 tag, const char *s)
{
  tlv_writer_put(w, tag, (const guint8 *)s, strlen(s));
}

static void put_iccid(TlvWriter *w, const char *iccid)
{
  guint8 bcd[ICCID_BCD_LEN];

  if (!iccid_to_bcd(iccid, bcd, NULL))
    g_error("bad seed ICCID %s", iccid);
  tlv_writer_put(w, 0x5A, bcd, sizeof(bcd));
}

static void put_hex(TlvWriter *w, guint32 tag, const char *hex)
{
  g_autoptr(GBytes) b = es10_hex_decode(hex, NULL);

  tlv_writer_put(w, tag, g_bytes_get_data(b, NULL), g_bytes_get_size(b));
}

static void result(TlvWriter *w, guint32 tag, guint64 code)
{
  tlv_writer_begin(w, tag);
  tlv_writer_put_uint(w, 0x80, code);
  tlv_writer_end(w);
}

static void build_addresses(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF3C);
  put_str(w, 0x80, "smdp.example.com");
  put_str(w, 0x81, "lpa.ds.gsma.com");
  tlv_writer_end(w);
}

static void build_set_default_dp(TlvWriter *w)
{
  result(w, 0xBF3F, 0);
}

static void put_pkids(TlvWriter *w, guint32 tag)
{
  tlv_writer_begin(w, tag);
  put_hex(w, 0x04, "F54172BDF98A95D65CBEB88A38A1C11D800A85C3");
  put_hex(w, 0x04, "C0BC70BA36929D43B467FF57570530E57AB8FCD8");
  tlv_writer_end(w);
}

static void build_info1(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF20);
  put_hex(w, 0x82, "020200");
  put_pkids(w, 0xA9);
  put_pkids(w, 0xAA);
  tlv_writer_end(w);
}

static void build_info2(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF22);
  put_hex(w, 0x81, "020300");
  put_hex(w, 0x82, "020200");
  put_hex(w, 0x83, "040100");
  put_hex(w, 0x84, "8101088203024F808302FF00");
  put_hex(w, 0x85, "067A26C0");
  put_hex(w, 0x86, "090200");
  put_hex(w, 0x87, "020300");
  put_hex(w, 0x88, "04F0");
  put_pkids(w, 0xA9);
  put_pkids(w, 0xAA);
  put_hex(w, 0x8B, "02");
  put_hex(w, 0x99, "0640");
  put_hex(w, 0x04, "000201");
  put_str(w, 0x0C, "GI-BA-UP-0419");
  tlv_writer_begin(w, 0xAC);
  put_str(w, 0x80, "PlatformLabel");
  put_str(w, 0x81, "https://dloa.example.com");
  tlv_writer_end(w);
  tlv_writer_end(w);
}

static void put_metadata(TlvWriter *w, guint seq, const char *event_bits, const char *iccid)
{
  tlv_writer_begin(w, 0xBF2F);
  tlv_writer_put_uint(w, 0x80, seq);
  put_hex(w, 0x81, event_bits);
  put_str(w, 0x0C, "smdp.example.com");
  if (iccid)
    put_iccid(w, iccid);
  tlv_writer_end(w);
}

static void build_list_notification(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF28);
  tlv_writer_begin(w, 0xA0);
  put_metadata(w, 1, "0780", "89014103211118510720");
  put_metadata(w, 2, "0520", "8944500102198304826");
  put_metadata(w, 200, "0410", NULL);
  tlv_writer_end(w);
  tlv_writer_end(w);
}

static void build_retrieve(TlvWriter *w)
{
  g_autofree gchar *sig = g_strnfill(128, 'A');

  tlv_writer_begin(w, 0xBF2B);
  tlv_writer_begin(w, 0xA0);
  /* ProfileInstallationResult */
  tlv_writer_begin(w, 0xBF37);
  tlv_writer_begin(w, 0xBF27);
  put_hex(w, 0x80, "0102030405060708");
  put_metadata(w, 10, "0780", "89014103211118510720");
  put_hex(w, 0x06, "2B0601");
  tlv_writer_begin(w, 0xA2); /* finalResult */
  tlv_writer_begin(w, 0xA0); /* successResult, automatically tagged */
  put_hex(w, 0x4F, "A0000005591010FFFFFFFF8900001000");
  put_hex(w, 0x04, "9000");
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
  put_hex(w, 0x5F37, sig);
  tlv_writer_end(w);
  /* OtherSignedNotification */
  tlv_writer_begin(w, 0x30);
  put_metadata(w, 11, "0640", "898830300000000000");
  put_hex(w, 0x5F37, sig);
  tlv_writer_begin(w, 0x30);
  tlv_writer_put_uint(w, 0x02, 1);
  tlv_writer_end(w);
  tlv_writer_begin(w, 0x30);
  tlv_writer_put_uint(w, 0x02, 2);
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
}

static void build_remove(TlvWriter *w)
{
  result(w, 0xBF30, 1);
}

static void build_rat(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF43);
  tlv_writer_begin(w, 0xA0);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x80, "0640");
  tlv_writer_begin(w, 0xA1);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x80, "130014");
  tlv_writer_end(w);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x80, "32F451");
  put_hex(w, 0x81, "01");
  tlv_writer_end(w);
  tlv_writer_end(w);
  put_hex(w, 0x82, "0780");
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
}

/*
 * What a ProfileInfo and a StoreMetadataRequest both carry after the names:
 * a PNG icon, profile class operational, install notifications to
 * smdp.example.com, the profile owner's MCC/MNC and the profile policy rules.
 */
static void put_profile_details(TlvWriter *w, const char *icon, const char *owner, const char *ppr)
{
  put_hex(w, 0x93, "01");
  put_hex(w, 0x94, icon);
  put_hex(w, 0x95, "02");
  tlv_writer_begin(w, 0xB6);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x80, "0780");
  put_str(w, 0x81, "smdp.example.com");
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_begin(w, 0xB7);
  put_hex(w, 0x80, owner);
  tlv_writer_end(w);
  put_hex(w, 0x99, ppr);
}

static void build_profiles(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF2D);
  tlv_writer_begin(w, 0xA0);

  tlv_writer_begin(w, 0xE3);
  put_iccid(w, "89014103211118510720");
  put_hex(w, 0x4F, "A0000005591010FFFFFFFF8900001000");
  put_hex(w, 0x9F70, "01");
  put_str(w, 0x90, "Work");
  put_str(w, 0x91, "Example Co");
  put_str(w, 0x92, "Unlimited");
  put_profile_details(w, "89504E470D0A1A0A0000000D4948445200000040000000400806000000AA6971",
                      "130014", "0560");
  tlv_writer_end(w);

  tlv_writer_begin(w, 0xE3);
  put_iccid(w, "8944500102198304826");
  put_hex(w, 0x9F70, "00");
  put_str(w, 0x90, "Caf\xc3\xa9");
  put_hex(w, 0x95, "00");
  tlv_writer_begin(w, 0xB8);
  put_hex(w, 0x80, "2B0601");
  tlv_writer_end(w);
  tlv_writer_end(w);

  tlv_writer_end(w);
  tlv_writer_end(w);
}

static void build_enable(TlvWriter *w)
{
  result(w, 0xBF31, 5);
}

static void build_disable(TlvWriter *w)
{
  result(w, 0xBF32, 2);
}

static void build_delete(TlvWriter *w)
{
  result(w, 0xBF33, 0);
}

static void build_reset(TlvWriter *w)
{
  result(w, 0xBF34, 1);
}

static void build_eid(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF3E);
  put_hex(w, 0x5A, "89049032123451234512345678901235");
  tlv_writer_end(w);
}

static void build_nickname(TlvWriter *w)
{
  result(w, 0xBF29, 0);
}

#define SEED_TXID "0102030405060708090A0B0C0D0E0F10"

static void build_prepare_download(TlvWriter *w)
{
  g_autofree gchar *otpk = g_strnfill(130, 'B');
  g_autofree gchar *sig = g_strnfill(128, 'C');

  tlv_writer_begin(w, 0xBF21);
  tlv_writer_begin(w, 0xA0);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x80, SEED_TXID);
  put_hex(w, 0x5F49, otpk);
  put_hex(w, 0x04, "3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C");
  tlv_writer_end(w);
  put_hex(w, 0x5F37, sig);
  tlv_writer_end(w);
  tlv_writer_end(w);
}

static void build_challenge(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF2E);
  put_hex(w, 0x80, "A1A2A3A4A5A6A7A8A9AAABACADAEAFB0");
  tlv_writer_end(w);
}

static void put_fake_certificate(TlvWriter *w)
{
  tlv_writer_begin(w, 0x30);
  tlv_writer_begin(w, 0x30);
  tlv_writer_put_uint(w, 0x02, 2);
  tlv_writer_end(w);
  put_hex(w, 0x04, "0102030405060708");
  tlv_writer_end(w);
}

static void build_authenticate(TlvWriter *w)
{
  g_autofree gchar *sig = g_strnfill(128, 'D');

  tlv_writer_begin(w, 0xBF38);
  tlv_writer_begin(w, 0xA0);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x80, SEED_TXID);
  put_str(w, 0x83, "smdp.example.com");
  put_hex(w, 0x84, "C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0");
  build_info2(w);
  tlv_writer_begin(w, 0xA0);
  put_str(w, 0x80, "MATCH-1");
  tlv_writer_begin(w, 0xA1);
  put_hex(w, 0x80, "35290611");
  tlv_writer_begin(w, 0xA1);
  put_hex(w, 0x80, "080000");
  tlv_writer_end(w);
  put_hex(w, 0x82, "53926011214365F7");
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
  put_hex(w, 0x5F37, sig);
  put_fake_certificate(w);
  put_fake_certificate(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
}

static void build_cancel_session(TlvWriter *w)
{
  g_autofree gchar *sig = g_strnfill(128, 'E');

  tlv_writer_begin(w, 0xBF41);
  tlv_writer_begin(w, 0xA0);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x80, SEED_TXID);
  put_hex(w, 0x81, "2B0601040181F802");
  tlv_writer_put_uint(w, 0x82, 1);
  tlv_writer_end(w);
  put_hex(w, 0x5F37, sig);
  tlv_writer_end(w);
  tlv_writer_end(w);
}

static void build_installation_result(TlvWriter *w)
{
  g_autofree gchar *sig = g_strnfill(128, 'F');

  tlv_writer_begin(w, 0xBF37);
  tlv_writer_begin(w, 0xBF27);
  put_hex(w, 0x80, SEED_TXID);
  put_metadata(w, 12, "0780", "89014103211118510720");
  put_hex(w, 0x06, "2B0601040181F8020101");
  tlv_writer_begin(w, 0xA2);
  tlv_writer_begin(w, 0xA1);
  tlv_writer_put_uint(w, 0x80, 5);
  tlv_writer_put_uint(w, 0x81, 10);
  put_hex(w, 0x82, "6A80");
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
  put_hex(w, 0x5F37, sig);
  tlv_writer_end(w);
}

static void build_bpp(TlvWriter *w)
{
  g_autofree gchar *key = g_strnfill(130, 'A');
  g_autofree gchar *big = g_strnfill(400, '5');

  tlv_writer_begin(w, 0xBF36);
  tlv_writer_begin(w, 0xBF23);
  tlv_writer_put_uint(w, 0x82, 1);
  put_hex(w, 0x80, SEED_TXID);
  tlv_writer_begin(w, 0xA6);
  put_hex(w, 0x80, "88");
  put_hex(w, 0x81, "10");
  put_hex(w, 0x84, "01");
  tlv_writer_end(w);
  put_hex(w, 0x5F49, key);
  put_hex(w, 0x5F37, key + 2);
  tlv_writer_end(w);
  tlv_writer_begin(w, 0xA0);
  put_hex(w, 0x87, "0102030405");
  tlv_writer_end(w);
  tlv_writer_begin(w, 0xA1);
  put_hex(w, 0x88, "11121314");
  put_hex(w, 0x88, "2122232425");
  tlv_writer_end(w);
  tlv_writer_begin(w, 0xA2);
  put_hex(w, 0x87, "3132");
  tlv_writer_end(w);
  tlv_writer_begin(w, 0xA3);
  put_hex(w, 0x86, "41");
  put_hex(w, 0x86, big);
  put_hex(w, 0x86, "4344");
  tlv_writer_end(w);
  tlv_writer_end(w);
}

static void build_store_metadata(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF25);
  put_iccid(w, "8949449999999990023");
  put_str(w, 0x91, "Example Mobile");
  put_str(w, 0x92, "Test profile");
  put_profile_details(w, "89504E470D0A1A0A", "62F210", "0640");
  tlv_writer_end(w);
}

static void build_smdp_signed2(TlvWriter *w)
{
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x80, SEED_TXID);
  tlv_writer_put_bool(w, 0x01, TRUE);
  put_hex(w, 0x5F49, "04A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF");
  tlv_writer_end(w);
}

/* A certificate as RFC 5280 shapes it, with a subjectAltName of a DNS name
 * and the SM-DP+ OID 1.3.6.1.4.1.31746.1.1 as registeredID. */
static void build_certificate(TlvWriter *w)
{
  tlv_writer_begin(w, 0x30);
  tlv_writer_begin(w, 0x30); /* tbsCertificate */
  tlv_writer_begin(w, 0xA0);
  tlv_writer_put_uint(w, 0x02, 2);
  tlv_writer_end(w);
  tlv_writer_put_uint(w, 0x02, 1);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x06, "2A8648CE3D040302");
  tlv_writer_end(w);
  for (int i = 0; i < 3; i++) { /* issuer, validity, subject */
    tlv_writer_begin(w, 0x30);
    tlv_writer_end(w);
  }
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x03, "0004");
  tlv_writer_end(w);
  tlv_writer_begin(w, 0xA3);
  tlv_writer_begin(w, 0x30);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x06, "551D0F");
  tlv_writer_put_bool(w, 0x01, TRUE);
  put_hex(w, 0x04, "03020780");
  tlv_writer_end(w);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x06, "551D11");
  put_hex(w, 0x04, "301E8210736D64702E6578616D706C652E636F6D880A2B0601040181F8020101");
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x06, "2A8648CE3D040302");
  tlv_writer_end(w);
  put_hex(w, 0x03, "0030");
  tlv_writer_end(w);
}

static void build_iccid(TlvWriter *w)
{
  guint8 bcd[ICCID_BCD_LEN];

  iccid_to_bcd("898830300000000000", bcd, NULL);
  tlv_writer_put_raw(w, bcd, sizeof(bcd));
}

static void build_mcc_mnc(TlvWriter *w)
{
  guint8 plmn[3];

  es10_mcc_mnc_to_bytes("23415", plmn, NULL);
  tlv_writer_put_raw(w, plmn, sizeof(plmn));
}

static const Seed seeds[] = {
    {FUZZ_ES10_CONFIGURED_ADDRESSES, "configured-addresses", build_addresses},
    {FUZZ_ES10_SET_DEFAULT_DP_ADDRESS, "set-default-dp-address", build_set_default_dp},
    {FUZZ_ES10_EUICC_INFO1, "euicc-info1", build_info1},
    {FUZZ_ES10_EUICC_INFO2, "euicc-info2", build_info2},
    {FUZZ_ES10_LIST_NOTIFICATION, "list-notification", build_list_notification},
    {FUZZ_ES10_RETRIEVE_NOTIFICATIONS, "retrieve-notifications", build_retrieve},
    {FUZZ_ES10_REMOVE_NOTIFICATION, "remove-notification", build_remove},
    {FUZZ_ES10_GET_RAT, "get-rat", build_rat},
    {FUZZ_ES10_PROFILES_INFO, "profiles-info", build_profiles},
    {FUZZ_ES10_ENABLE_PROFILE, "enable-profile", build_enable},
    {FUZZ_ES10_DISABLE_PROFILE, "disable-profile", build_disable},
    {FUZZ_ES10_DELETE_PROFILE, "delete-profile", build_delete},
    {FUZZ_ES10_MEMORY_RESET, "memory-reset", build_reset},
    {FUZZ_ES10_GET_EID, "get-eid", build_eid},
    {FUZZ_ES10_SET_NICKNAME, "set-nickname", build_nickname},
    {FUZZ_ES10_PREPARE_DOWNLOAD, "prepare-download", build_prepare_download},
    {FUZZ_ES10_EUICC_CHALLENGE, "euicc-challenge", build_challenge},
    {FUZZ_ES10_AUTHENTICATE_SERVER, "authenticate-server", build_authenticate},
    {FUZZ_ES10_CANCEL_SESSION, "cancel-session", build_cancel_session},
    {FUZZ_ES10_INSTALLATION_RESULT, "installation-result", build_installation_result},
    {FUZZ_ES10_BPP_SPLIT, "bound-profile-package", build_bpp},
    {FUZZ_ES10_STORE_METADATA, "store-metadata", build_store_metadata},
    {FUZZ_ES10_SMDP_SIGNED2, "smdp-signed2", build_smdp_signed2},
    {FUZZ_ES10_CERTIFICATE_OID, "certificate", build_certificate},
    {FUZZ_ES10_ICCID, "iccid", build_iccid},
    {FUZZ_ES10_MCC_MNC, "mcc-mnc", build_mcc_mnc},
};

/* Activation codes of every shape SGP.22 4.1 allows, and a few it does not. */
static const char *const activation_seeds[] = {
    "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815",
    "LPA:1$smdp.example.com$MATCH-1",
    "LPA:1$smdp.example.com:8443$MATCH$1.3.6.1.4.1.31746$1",
    "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$$1",
    "1$127.0.0.1:4443$EVENT-0001",
    "2$smdp.example.com$T",
    "1$smdp..example.com$T$1.2$0",
};

static int write_activation_seeds(const char *dir)
{
  for (gsize i = 0; i < G_N_ELEMENTS(activation_seeds); i++) {
    g_autofree gchar *name = g_strdup_printf("ac-%zu", i);
    g_autofree gchar *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) error = NULL;

    if (!g_file_set_contents(path, activation_seeds[i], -1, &error)) {
      fprintf(stderr, "%s\n", error->message);
      return 1;
    }
  }
  return 0;
}

int main(int argc, char **argv)
{
  gboolean for_es10;

  G_STATIC_ASSERT(G_N_ELEMENTS(seeds) == FUZZ_ES10_N_TARGETS);

  if (argc != 3 || (strcmp(argv[1], "es10") != 0 && strcmp(argv[1], "tlv") != 0 &&
                    strcmp(argv[1], "activation") != 0)) {
    fprintf(stderr, "usage: %s es10|tlv|activation DIR\n", argv[0]);
    return 2;
  }
  for_es10 = strcmp(argv[1], "es10") == 0;
  if (g_mkdir_with_parents(argv[2], 0755) < 0) {
    fprintf(stderr, "%s: %s\n", argv[2], g_strerror(errno));
    return 1;
  }
  if (strcmp(argv[1], "activation") == 0)
    return write_activation_seeds(argv[2]);
  for (gsize i = 0; i < G_N_ELEMENTS(seeds); i++) {
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_autoptr(GBytes) der = NULL;
    g_autofree gchar *path = NULL;
    g_autoptr(GError) error = NULL;
    TlvWriter w;
    guint8 selector = (guint8)seeds[i].target;

    if (!for_es10 && seeds[i].target >= FUZZ_ES10_ICCID)
      continue; /* not TLV */
    tlv_writer_init(&w);
    seeds[i].build(&w);
    der = tlv_writer_finish(&w);
    if (for_es10)
      g_byte_array_append(out, &selector, 1);
    g_byte_array_append(out, g_bytes_get_data(der, NULL), g_bytes_get_size(der));
    path = g_build_filename(argv[2], seeds[i].name, NULL);
    if (!g_file_set_contents(path, (const gchar *)out->data, out->len, &error)) {
      fprintf(stderr, "%s\n", error->message);
      return 1;
    }
  }
  return 0;
}
