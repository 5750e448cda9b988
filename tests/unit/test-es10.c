/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ES10 codec against DER worked out by hand from rsp.asn: every request
 * encoder byte for byte, every response decoder on realistic answers, and
 * every decoder on broken, truncated and mistyped answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "es10/es10.h"
#include "es10/iccid.h"

#include "der-hex.h"

#define ICCID1 "89014103211118510720"
#define ICCID1_BCD "98101430121181157002"
#define ICCID2 "8944500102198304826"
#define ICCID2_BCD "984405102091384028F6"
#define ICCID3 "898830300000000000"
#define ICCID3_BCD "988803030000000000FF"
#define AID1 "A0000005591010FFFFFFFF8900001000"
#define AID2 "A0000005591010FFFFFFFF8900001100"
#define AID3 "A0000005591010FFFFFFFF8900001200"
#define PKID1 "F54172BDF98A95D65CBEB88A38A1C11D800A85C3"
#define PKID2 "C0BC70BA36929D43B467FF57570530E57AB8FCD8"
#define EID "89049032123451234512345678901235"
#define SMDP "smdp.example.com"

static void assert_encoded(GBytes *b, const char *expected_hex)
{
  gsize len;
  const guint8 *p;
  g_autofree gchar *hex = NULL;

  assert_non_null(b);
  p = g_bytes_get_data(b, &len);
  hex = es10_hex_encode(p, len);
  assert_string_equal(hex, expected_hex);
  g_bytes_unref(b);
}

/* Takes the GError's address: the encoder call beside it sets it. */
static void assert_invalid_argument(GBytes *b, GError **error)
{
  assert_null(b);
  assert_true(g_error_matches(*error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT));
  g_clear_error(error);
}

/* ---- Request encoders --------------------------------------------------- */

static void test_encode_requests_without_arguments(void **state)
{
  /* Empty SEQUENCEs: the tag and a zero length. */
  /* EuiccConfiguredAddressesRequest */
  assert_encoded(es10a_get_euicc_configured_addresses_encode(), "BF3C00");
  /* GetEuiccInfo1Request */
  assert_encoded(es10b_get_euicc_info1_encode(), "BF2000");
  /* GetEuiccInfo2Request */
  assert_encoded(es10b_get_euicc_info2_encode(), "BF2200");
  /* GetRatRequest */
  assert_encoded(es10b_get_rat_encode(), "BF4300");
  /* The generic path gives the same bytes. */
  assert_encoded(es10_encode_empty_request(ES10_CMD_GET_EUICC_INFO2), "BF2200");
  /* GetEuiccDataRequest: tagList [APPLICATION 28] '5A'. */
  assert_encoded(es10c_get_eid_encode(), "BF3E035C015A");
}

static void test_encode_set_default_dp_address_request(void **state)
{
  GError *error = NULL;

  /* SetDefaultDpAddressRequest: defaultDpAddress is the one untagged
   * component, so AUTOMATIC TAGS gives it [0] = 80. */
  assert_encoded(es10a_set_default_dp_address_encode(SMDP, NULL),
                 "BF3F128010736D64702E6578616D706C652E636F6D");
  assert_encoded(es10a_set_default_dp_address_encode("", NULL), "BF3F028000");
  assert_invalid_argument(es10a_set_default_dp_address_encode("bad\xff", &error), &error);
  assert_invalid_argument(es10a_set_default_dp_address_encode(NULL, &error), &error);
}

static void test_encode_list_notification_request(void **state)
{
  GError *error = NULL;

  /* ListNotificationRequest without a filter. */
  assert_encoded(es10b_list_notification_encode(0, NULL), "BF2800");
  /* profileManagementOperation [1] NotificationEvent, notificationDelete(3):
   * one byte 0x10 with 4 unused bits. */
  assert_encoded(es10b_list_notification_encode(ES10_NOTIFICATION_DELETE, NULL), "BF280481020410");
  /* install(0) and enable(1): 0xC0, 6 unused bits. */
  assert_encoded(
      es10b_list_notification_encode(ES10_NOTIFICATION_INSTALL | ES10_NOTIFICATION_ENABLE, NULL),
      "BF2804810206C0");
  assert_invalid_argument(es10b_list_notification_encode(0x10, &error), &error);
}

static void test_encode_retrieve_notifications_list_request(void **state)
{
  GError *error = NULL;

  /* RetrieveNotificationsListRequest with no searchCriteria. */
  assert_encoded(es10b_retrieve_notifications_list_encode(ES10B_SEARCH_ALL, 0, NULL), "BF2B00");
  /* searchCriteria [0] (explicit: a CHOICE) holding seqNumber [0] INTEGER 5. */
  assert_encoded(es10b_retrieve_notifications_list_encode(ES10B_SEARCH_SEQ_NUMBER, 5, NULL),
                 "BF2B05A003800105");
  /* seqNumber 300 takes two bytes. */
  assert_encoded(es10b_retrieve_notifications_list_encode(ES10B_SEARCH_SEQ_NUMBER, 300, NULL),
                 "BF2B06A0048002012C");
  /* profileManagementOperation [1] with notificationEnable(1): 0x40, 6 unused. */
  assert_encoded(es10b_retrieve_notifications_list_encode(ES10B_SEARCH_OPERATION,
                                                          ES10_NOTIFICATION_ENABLE, NULL),
                 "BF2B06A00481020640");
  assert_invalid_argument(
      es10b_retrieve_notifications_list_encode(ES10B_SEARCH_OPERATION, 0, &error), &error);
  assert_invalid_argument(
      es10b_retrieve_notifications_list_encode(ES10B_SEARCH_OPERATION, 0x20, &error), &error);
}

static void test_encode_notification_sent_request(void **state)
{
  /* NotificationSentRequest: seqNumber [0] INTEGER. */
  assert_encoded(es10b_remove_notification_from_list_encode(7), "BF3003800107");
  /* 200 has its top bit set: a leading zero keeps the INTEGER positive. */
  assert_encoded(es10b_remove_notification_from_list_encode(200), "BF3004800200C8");
}

static void test_encode_profile_info_list_request(void **state)
{
  static const guint32 tags[] = {ES10_TAG_ICCID, ES10_TAG_PROFILE_NICKNAME, ES10_TAG_PROFILE_STATE};
  Es10cGetProfilesInfoRequest req = {0};
  GError *error = NULL;

  /* ProfileInfoListRequest with neither searchCriteria nor tagList. */
  assert_encoded(es10c_get_profiles_info_encode(NULL, NULL), "BF2D00");

  /* ProfileInfoListRequest with searchCriteria iccid: [0] { 5A 0A ... }. */
  req.search = ES10C_PROFILES_SEARCH_ICCID;
  req.id = ICCID1;
  assert_encoded(es10c_get_profiles_info_encode(&req, NULL), "BF2D0EA00C5A0A" ICCID1_BCD);

  /* ProfileInfoListRequest with searchCriteria isdpAid: [0] { 4F 10 ... }. */
  req.search = ES10C_PROFILES_SEARCH_ISDP_AID;
  req.id = AID1;
  assert_encoded(es10c_get_profiles_info_encode(&req, NULL), "BF2D14A0124F10" AID1);

  /* ProfileInfoListRequest with searchCriteria profileClass test(0): [21] = 95. */
  req.search = ES10C_PROFILES_SEARCH_CLASS;
  req.profile_class = ES10_PROFILE_CLASS_TEST;
  assert_encoded(es10c_get_profiles_info_encode(&req, NULL), "BF2D05A003950100");

  /* ProfileInfoListRequest with a tagList only: 5C holding 5A 90 9F70. */
  req.search = ES10C_PROFILES_SEARCH_ALL;
  req.tag_list = tags;
  req.n_tags = G_N_ELEMENTS(tags);
  assert_encoded(es10c_get_profiles_info_encode(&req, NULL), "BF2D065C045A909F70");

  /* ProfileInfoListRequest with searchCriteria iccid (18 digits) and a tagList. */
  req.search = ES10C_PROFILES_SEARCH_ICCID;
  req.id = ICCID3;
  assert_encoded(es10c_get_profiles_info_encode(&req, NULL),
                 "BF2D14A00C5A0A" ICCID3_BCD "5C045A909F70");

  req.id = "8901410321111851072"; /* 19 digits */
  req.n_tags = 0;
  assert_encoded(es10c_get_profiles_info_encode(&req, NULL), "BF2D0EA00C5A0A981014301211811570F2");

  req.id = "89014";
  assert_invalid_argument(es10c_get_profiles_info_encode(&req, &error), &error);
  req.search = ES10C_PROFILES_SEARCH_ISDP_AID;
  req.id = AID1 "00"; /* 17 bytes */
  assert_invalid_argument(es10c_get_profiles_info_encode(&req, &error), &error);
  req.search = ES10C_PROFILES_SEARCH_CLASS;
  req.profile_class = (Es10ProfileClass)3;
  assert_invalid_argument(es10c_get_profiles_info_encode(&req, &error), &error);
  req.search = ES10C_PROFILES_SEARCH_ALL;
  req.tag_list = (const guint32[]){0};
  req.n_tags = 1;
  assert_invalid_argument(es10c_get_profiles_info_encode(&req, &error), &error);
}

static void test_encode_enable_disable_profile_requests(void **state)
{
  GError *error = NULL;

  /* EnableProfileRequest: profileIdentifier [0] (explicit, a CHOICE) with
   * iccid 5A, refreshFlag [1] BOOLEAN TRUE. */
  assert_encoded(es10c_enable_profile_encode(ES10_PROFILE_ID_ICCID, ICCID1, TRUE, NULL),
                 "BF3111A00C5A0A" ICCID1_BCD "8101FF");
  /* EnableProfileRequest by isdpAid 4F, refreshFlag FALSE. */
  assert_encoded(es10c_enable_profile_encode(ES10_PROFILE_ID_ISDP_AID, AID2, FALSE, NULL),
                 "BF3117A0124F10" AID2 "810100");
  /* DisableProfileRequest: the same shape under BF32. */
  assert_encoded(es10c_disable_profile_encode(ES10_PROFILE_ID_ICCID, ICCID3, TRUE, NULL),
                 "BF3211A00C5A0A" ICCID3_BCD "8101FF");
  assert_encoded(es10c_disable_profile_encode(ES10_PROFILE_ID_ISDP_AID, "a0000005", FALSE, NULL),
                 "BF320BA0064F04A0000005810100");

  assert_invalid_argument(
      es10c_enable_profile_encode(ES10_PROFILE_ID_ICCID, "8901410321111851072X", TRUE, &error),
      &error);
  assert_invalid_argument(es10c_disable_profile_encode(ES10_PROFILE_ID_ISDP_AID, "", TRUE, &error),
                          &error);
  assert_invalid_argument(
      es10c_disable_profile_encode(ES10_PROFILE_ID_ISDP_AID, "A00", TRUE, &error), &error);
}

static void test_encode_delete_profile_request(void **state)
{
  GError *error = NULL;

  /* DeleteProfileRequest is a tagged CHOICE: BF33 directly holds the 5A or 4F. */
  assert_encoded(es10c_delete_profile_encode(ES10_PROFILE_ID_ICCID, ICCID2, NULL),
                 "BF330C5A0A" ICCID2_BCD);
  /* An 18-digit ICCID still travels as 10 bytes (SIZE(10)). */
  assert_encoded(es10c_delete_profile_encode(ES10_PROFILE_ID_ICCID, ICCID3, NULL),
                 "BF330C5A0A988803030000000000FF");
  assert_encoded(es10c_delete_profile_encode(ES10_PROFILE_ID_ISDP_AID, AID3, NULL),
                 "BF33124F10" AID3);
  assert_invalid_argument(es10c_delete_profile_encode(ES10_PROFILE_ID_ICCID, NULL, &error), &error);
}

static void test_encode_euicc_memory_reset_request(void **state)
{
  GError *error = NULL;

  /* EuiccMemoryResetRequest: resetOptions [2] BIT STRING, all three bits:
   * 0xE0 with 5 unused bits. */
  assert_encoded(es10c_euicc_memory_reset_encode(ES10C_RESET_ALL_MASK, NULL), "BF3404820205E0");
  /* deleteOperationalProfiles(0) only: 0x80, 7 unused bits. */
  assert_encoded(es10c_euicc_memory_reset_encode(ES10C_RESET_DELETE_OPERATIONAL_PROFILES, NULL),
                 "BF340482020780");
  /* resetDefaultSmdpAddress(2) only: 0x20, 5 unused bits. */
  assert_encoded(es10c_euicc_memory_reset_encode(ES10C_RESET_DEFAULT_SMDP_ADDRESS, NULL),
                 "BF340482020520");
  assert_invalid_argument(es10c_euicc_memory_reset_encode(0, &error), &error);
  assert_invalid_argument(es10c_euicc_memory_reset_encode(0x8, &error), &error);
}

static void test_encode_set_nickname_request(void **state)
{
  GError *error = NULL;
  g_autofree gchar *long_name = g_strnfill(65, 'x');
  GString *max_name = g_string_new(NULL);
  GBytes *b;

  /* SetNicknameRequest: iccid 5A, profileNickname [16] = 90. */
  assert_encoded(es10c_set_nickname_encode(ICCID1, "Work", NULL),
                 "BF29125A0A" ICCID1_BCD "9004576F726B");
  assert_encoded(es10c_set_nickname_encode(ICCID3, "", NULL), "BF290E5A0A" ICCID3_BCD "9000");
  /* SIZE(0..64) counts characters: 64 two-byte characters fit. */
  for (guint i = 0; i < 64; i++)
    g_string_append(max_name, "\xc3\xa9");
  b = es10c_set_nickname_encode(ICCID1, max_name->str, NULL);
  g_string_free(max_name, TRUE);
  assert_non_null(b);
  assert_int_equal(g_bytes_get_size(b), 4 + 12 + 3 + 128);
  g_bytes_unref(b);
  assert_invalid_argument(es10c_set_nickname_encode(ICCID1, long_name, &error), &error);
  assert_invalid_argument(es10c_set_nickname_encode("1234", "Work", &error), &error);
  assert_invalid_argument(es10c_set_nickname_encode(ICCID1, "\xc3", &error), &error);
}

/* ---- Realistic responses ------------------------------------------------ */

/* A ProfileInfoListResponse with three profiles: one full, one lean, one test profile. */
static const char *profiles_response(void)
{
  const char *png = "89504E470D0A1A0A0000000D4948445200000040000000400806000000AA6971";
  const char *p1 =
      T("E3", C(T("5A", ICCID1_BCD), T("4F", AID1), T("9F70", "01"), T("90", U("Work")),
                T("91", U("Example Co")), T("92", U("Unlimited")), T("93", "01"), T("94", png),
                T("95", "02"),
                T("B6", C(T("30", C(T("80", "0780"), T("81", U(SMDP)), NULL)),
                          T("30", C(T("80", "0470"), T("81", U(SMDP)), NULL)), NULL)),
                T("B7", C(T("80", "130014"), T("81", "FF"), NULL)), T("99", "0560"), NULL));
  const char *p2 =
      T("E3", C(T("5A", ICCID2_BCD), T("4F", AID2), T("9F70", "00"), T("91", U("MyTelco")),
                T("92", U("Travel")), T("B7", T("80", "32F451")), NULL));
  /* A field of a later SGP.22 version ([26] = 9A) must not stop the decoder. */
  const char *p3 = T("E3", C(T("5A", ICCID3_BCD), T("4F", AID3), T("9F70", "00"),
                             T("90", U("Caf\xc3\xa9")), T("92", U("Test")), T("95", "00"),
                             T("B8", T("80", "2B0601")), T("9A", "00"), NULL));

  return T("BF2D", T("A0", C(p1, p2, p3, NULL)));
}

static void test_decode_profile_info_list_with_three_profiles(void **state)
{
  g_autoptr(GBytes) der = B(profiles_response());
  g_autoptr(GPtrArray) profiles = NULL;
  g_autoptr(GError) error = NULL;
  Es10cGetProfilesInfoResult result = 99;
  Es10ProfileInfo *p;
  Es10NotificationConfig *nc;
  gsize len;

  assert_true(es10c_get_profiles_info_decode(g_bytes_get_data(der, NULL), g_bytes_get_size(der),
                                             &result, &profiles, &error));
  assert_null(error);
  assert_int_equal(result, ES10C_GET_PROFILES_INFO_OK);
  assert_int_equal(profiles->len, 3);

  p = profiles->pdata[0];
  assert_string_equal(p->iccid, ICCID1);
  assert_string_equal(p->isdp_aid, AID1);
  assert_true(p->has_state);
  assert_int_equal(p->state, ES10_PROFILE_STATE_ENABLED);
  assert_string_equal(p->nickname, "Work");
  assert_string_equal(p->service_provider_name, "Example Co");
  assert_string_equal(p->profile_name, "Unlimited");
  assert_true(p->has_icon_type);
  assert_int_equal(p->icon_type, ES10_ICON_TYPE_PNG);
  assert_non_null(p->icon);
  assert_int_equal(g_bytes_get_size(p->icon), 32);
  assert_memory_equal(g_bytes_get_data(p->icon, &len), "\x89PNG\r\n\x1a\n", 8);
  assert_int_equal(p->profile_class, ES10_PROFILE_CLASS_OPERATIONAL);
  assert_non_null(p->notification_config);
  assert_int_equal(p->notification_config->len, 2);
  nc = p->notification_config->pdata[0];
  assert_int_equal(nc->operations, ES10_NOTIFICATION_INSTALL);
  assert_string_equal(nc->notification_address, SMDP);
  nc = p->notification_config->pdata[1];
  assert_int_equal(nc->operations,
                   ES10_NOTIFICATION_ENABLE | ES10_NOTIFICATION_DISABLE | ES10_NOTIFICATION_DELETE);
  assert_non_null(p->owner);
  assert_string_equal(p->owner->mcc_mnc, "310410");
  assert_non_null(p->owner->gid1);
  assert_null(p->owner->gid2);
  assert_true(p->has_policy_rules);
  assert_int_equal(p->policy_rules, ES10_PPR1 | ES10_PPR2);

  p = profiles->pdata[1];
  assert_string_equal(p->iccid, ICCID2);
  assert_int_equal(p->state, ES10_PROFILE_STATE_DISABLED);
  assert_null(p->nickname);
  assert_string_equal(p->service_provider_name, "MyTelco");
  assert_false(p->has_icon_type);
  assert_null(p->icon);
  /* profileClass is DEFAULT operational. */
  assert_int_equal(p->profile_class, ES10_PROFILE_CLASS_OPERATIONAL);
  assert_null(p->notification_config);
  assert_string_equal(p->owner->mcc_mnc, "23415");
  assert_false(p->has_policy_rules);

  p = profiles->pdata[2];
  assert_string_equal(p->iccid, ICCID3);
  assert_string_equal(p->isdp_aid, AID3);
  assert_string_equal(p->nickname, "Caf\xc3\xa9");
  assert_int_equal(p->profile_class, ES10_PROFILE_CLASS_TEST);
  assert_null(p->owner);
  assert_non_null(p->dp_proprietary_data);
  assert_int_equal(g_bytes_get_size(p->dp_proprietary_data), 5);
}

static void test_decode_profile_info_list_empty_and_error(void **state)
{
  g_autoptr(GPtrArray) profiles = NULL;
  Es10cGetProfilesInfoResult result = 99;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) empty = B("BF2D02A000");
  g_autoptr(GBytes) refused = B("BF2D03810101");
  g_autoptr(GBytes) zero = B("BF2D03810100");

  assert_true(es10c_get_profiles_info_decode(g_bytes_get_data(empty, NULL), g_bytes_get_size(empty),
                                             &result, &profiles, NULL));
  assert_int_equal(result, ES10C_GET_PROFILES_INFO_OK);
  assert_int_equal(profiles->len, 0);
  g_clear_pointer(&profiles, g_ptr_array_unref);

  /* profileInfoListError [1] incorrectInputValues(1): a result, not a failure. */
  assert_true(es10c_get_profiles_info_decode(g_bytes_get_data(refused, NULL),
                                             g_bytes_get_size(refused), &result, &profiles, NULL));
  assert_int_equal(result, ES10C_GET_PROFILES_INFO_INCORRECT_INPUT_VALUES);
  assert_int_equal(profiles->len, 0);
  g_clear_pointer(&profiles, g_ptr_array_unref);

  /* The error alternative cannot say ok. */
  assert_false(es10c_get_profiles_info_decode(g_bytes_get_data(zero, NULL), g_bytes_get_size(zero),
                                              &result, &profiles, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  assert_null(profiles);
}

static void test_decode_profile_info_rejects_bad_fields(void **state)
{
  const char *bad[] = {
      T("BF2D", T("A0", T("E3", T("9F70", "02")))),               /* profileState 2 */
      T("BF2D", T("A0", T("E3", T("95", "03")))),                 /* profileClass 3 */
      T("BF2D", T("A0", T("E3", T("93", "02")))),                 /* iconType 2 */
      T("BF2D", T("A0", T("E3", T("5A", "981014301211811570")))), /* ICCID of 9 bytes */
      T("BF2D", T("A0", T("E3", T("4F", "")))),                   /* empty AID */
      T("BF2D", T("A0", T("E3", T("90", "C328")))),               /* nickname not UTF-8 */
      T("BF2D", T("A0", T("E3", T("99", "08")))),                 /* 8 unused bits */
      T("BF2D", T("A0", T("30", T("5A", ICCID1_BCD)))),           /* not a ProfileInfo (E3) */
      T("BF2D", T("A0", T("E3", C(T("5A", ICCID1_BCD), T("5A", ICCID2_BCD), NULL)))), /* twice */
      T("BF2D", T("A0", T("E3", T("B7", T("80", "1300"))))), /* mccMnc of 2 bytes */
      T("BF2D", T("A0", T("E3", T("B7", T("81", "01"))))),   /* OperatorID without mccMnc */
      T("BF2D", T("A0", T("E3", T("B6", T("31", ""))))),     /* not a SEQUENCE inside B6 */
      T("BF2D", C(T("A0", ""), T("81", "01"), NULL)),        /* both alternatives */
      T("BF2D", T("A2", "")),                                /* no such alternative */
      T("BF2D", ""),                                         /* no alternative */
      T("BF2D", T("81", "05")),                              /* undefined error code */
  };

  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GBytes) der = B(bad[i]);
    g_autoptr(GPtrArray) profiles = NULL;
    g_autoptr(GError) error = NULL;
    Es10cGetProfilesInfoResult result;

    assert_false(es10c_get_profiles_info_decode(g_bytes_get_data(der, NULL), g_bytes_get_size(der),
                                                &result, &profiles, &error));
    assert_non_null(error);
    assert_true(error->domain == ES10_ERROR);
    assert_null(profiles);
  }
}

/* An EUICCInfo2 with every field rsp.asn lists, and one it does not. */
static const char *euicc_info2_response(void)
{
  const char *ext = C("810108", "8203024F80", "8302FF00", NULL);

  return T("BF22",
           C(T("81", "020300"), T("82", "020200"), T("83", "040100"), T("84", ext),
             T("85", "067A26C0"), T("86", "090200"), T("87", "020300"), T("88", "04F0"),
             T("A9", T("04", PKID1)), T("AA", C(T("04", PKID1), T("04", PKID2), NULL)),
             T("8B", "02"), T("99", "0640"), T("04", "000201"), T("0C", U("GI-BA-UP-0419")),
             T("AC", C(T("80", U("PlatformLabel")), T("81", U("https://dloa.example.com")), NULL)),
             T("8D", "0780"), /* treProperties of a later version */
             NULL));
}

static void test_decode_euicc_info2_with_everything(void **state)
{
  g_autoptr(GBytes) der = B(euicc_info2_response());
  g_autoptr(Es10bEuiccInfo2) info = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *fw = NULL;

  assert_true(es10b_get_euicc_info2_decode(g_bytes_get_data(der, NULL), g_bytes_get_size(der),
                                           &info, &error));
  assert_null(error);
  fw = es10_version_to_string(&info->firmware_version);
  assert_string_equal(fw, "4.1.0");
  assert_int_equal(info->profile_version.major, 2);
  assert_int_equal(info->profile_version.minor, 3);
  assert_int_equal(info->svn.minor, 2);
  assert_true(info->has_installed_applications);
  assert_int_equal(info->installed_applications, 8);
  assert_true(info->has_free_nv_memory);
  assert_int_equal(info->free_nv_memory, 151424);
  assert_true(info->has_free_volatile_memory);
  /* TS 102 226 numbers are unsigned: FF00 is 65280, not negative. */
  assert_int_equal(info->free_volatile_memory, 65280);
  assert_int_equal(g_bytes_get_size(info->ext_card_resource), 12);
  assert_int_equal(
      info->uicc_capability,
      ES10_UICC_CAP_USIM | ES10_UICC_CAP_ISIM | ES10_UICC_CAP_CSIM | ES10_UICC_CAP_AKA_MILENAGE |
          ES10_UICC_CAP_AKA_TUAK128 | ES10_UICC_CAP_GBA_AUTHEN_USIM | ES10_UICC_CAP_EAP_CLIENT |
          ES10_UICC_CAP_JAVACARD | ES10_UICC_CAP_MULTIPLE_USIM | ES10_UICC_CAP_MULTIPLE_ISIM);
  assert_true(info->has_ts102241_version);
  assert_int_equal(info->ts102241_version.major, 9);
  assert_true(info->has_globalplatform_version);
  assert_int_equal(info->rsp_capability, ES10_RSP_CAP_ADDITIONAL_PROFILE |
                                             ES10_RSP_CAP_CRL_SUPPORT | ES10_RSP_CAP_RPM_SUPPORT |
                                             ES10_RSP_CAP_TEST_PROFILE_SUPPORT);
  assert_int_equal(info->ci_pkid_verification->len, 1);
  assert_string_equal(info->ci_pkid_verification->pdata[0], PKID1);
  assert_int_equal(info->ci_pkid_signing->len, 2);
  assert_string_equal(info->ci_pkid_signing->pdata[1], PKID2);
  assert_true(info->has_euicc_category);
  assert_int_equal(info->euicc_category, ES10_EUICC_CATEGORY_MEDIUM);
  assert_string_equal(es10_euicc_category_to_string(info->euicc_category), "mediumEuicc");
  assert_true(info->has_forbidden_policy_rules);
  assert_int_equal(info->forbidden_policy_rules, ES10_PPR1);
  assert_int_equal(info->pp_version.revision, 1);
  assert_string_equal(info->sas_accreditation_number, "GI-BA-UP-0419");
  assert_string_equal(info->certification_platform_label, "PlatformLabel");
  assert_string_equal(info->certification_discovery_base_url, "https://dloa.example.com");
}

static void test_decode_euicc_info2_minimal_and_missing(void **state)
{
  const char *mandatory[] = {
      T("81", "020300"), T("82", "020200"), T("83", "040100"), T("84", ""),       T("85", "00"),
      T("88", "00"),     T("A9", ""),       T("AA", ""),       T("04", "000201"), T("0C", ""),
  };
  GString *all = g_string_new(NULL);
  g_autoptr(GBytes) der = NULL;
  g_autoptr(Es10bEuiccInfo2) info = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS(mandatory); i++)
    g_string_append(all, mandatory[i]);
  der = B(T("BF22", keep(g_string_free(all, FALSE))));
  assert_true(es10b_get_euicc_info2_decode(g_bytes_get_data(der, NULL), g_bytes_get_size(der),
                                           &info, NULL));
  assert_false(info->has_installed_applications);
  assert_false(info->has_ts102241_version);
  assert_false(info->has_euicc_category);
  assert_int_equal(info->ci_pkid_verification->len, 0);
  assert_null(info->certification_platform_label);

  /* Leave out each mandatory field in turn. */
  for (gsize skip = 0; skip < G_N_ELEMENTS(mandatory); skip++) {
    GString *s = g_string_new(NULL);
    g_autoptr(GBytes) d = NULL;
    g_autoptr(Es10bEuiccInfo2) i2 = NULL;
    g_autoptr(GError) error = NULL;

    for (gsize i = 0; i < G_N_ELEMENTS(mandatory); i++) {
      if (i != skip)
        g_string_append(s, mandatory[i]);
    }
    d = B(T("BF22", keep(g_string_free(s, FALSE))));
    assert_false(
        es10b_get_euicc_info2_decode(g_bytes_get_data(d, NULL), g_bytes_get_size(d), &i2, &error));
    assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD));
    assert_null(i2);
  }
}

static const char *euicc_info1_response(void)
{
  return T("BF20", C(T("82", "020200"), T("A9", T("04", PKID1)),
                     T("AA", C(T("04", PKID1), T("04", PKID2), NULL)), NULL));
}

static void test_decode_euicc_info1(void **state)
{
  g_autoptr(GBytes) der = B(euicc_info1_response());
  g_autoptr(Es10bEuiccInfo1) info = NULL;
  g_autofree gchar *svn = NULL;

  assert_true(es10b_get_euicc_info1_decode(g_bytes_get_data(der, NULL), g_bytes_get_size(der),
                                           &info, NULL));
  svn = es10_version_to_string(&info->svn);
  assert_string_equal(svn, "2.2.0");
  assert_int_equal(info->ci_pkid_verification->len, 1);
  assert_string_equal(info->ci_pkid_verification->pdata[0], PKID1);
  assert_int_equal(info->ci_pkid_signing->len, 2);
  assert_string_equal(info->ci_pkid_signing->pdata[1], PKID2);
  /* The exact bytes stay available: ES9+ initiateAuthentication sends them on. */
  assert_true(g_bytes_equal(info->der, der));
}

static const char *list_notification_response(void)
{
  return T(
      "BF28",
      T("A0",
        C(T("BF2F", C(T("80", "01"), T("81", "0780"), T("0C", U(SMDP)), T("5A", ICCID1_BCD), NULL)),
          T("BF2F", C(T("80", "02"), T("81", "0520"), T("0C", U(SMDP)), T("5A", ICCID2_BCD), NULL)),
          T("BF2F", C(T("80", "00C8"), T("81", "0410"), T("0C", U(SMDP)), NULL)), NULL)));
}

static void test_decode_list_notification(void **state)
{
  g_autoptr(GBytes) der = B(list_notification_response());
  g_autoptr(GPtrArray) list = NULL;
  Es10bListNotificationResult result = 99;
  Es10NotificationMetadata *n;

  assert_true(es10b_list_notification_decode(g_bytes_get_data(der, NULL), g_bytes_get_size(der),
                                             &result, &list, NULL));
  assert_int_equal(result, ES10B_LIST_NOTIFICATION_OK);
  assert_int_equal(list->len, 3);
  n = list->pdata[0];
  assert_int_equal(n->seq_number, 1);
  assert_int_equal(n->operation, ES10_NOTIFICATION_INSTALL);
  assert_string_equal(es10_notification_event_to_string(n->operation), "install");
  assert_string_equal(n->notification_address, SMDP);
  assert_string_equal(n->iccid, ICCID1);
  n = list->pdata[1];
  assert_int_equal(n->operation, ES10_NOTIFICATION_DISABLE);
  assert_string_equal(n->iccid, ICCID2);
  n = list->pdata[2];
  assert_int_equal(n->seq_number, 200);
  assert_int_equal(n->operation, ES10_NOTIFICATION_DELETE);
  assert_null(n->iccid);
}

static void test_decode_list_notification_error_and_bad_event(void **state)
{
  g_autoptr(GBytes) refused = B("BF280381017F");
  g_autoptr(GBytes) undefined = B("BF2803810101");
  g_autoptr(GBytes) two_bits =
      B(T("BF28", T("A0", T("BF2F", C(T("80", "01"), T("81", "06C0"), T("0C", U(SMDP)), NULL)))));
  g_autoptr(GBytes) no_seq =
      B(T("BF28", T("A0", T("BF2F", C(T("81", "0780"), T("0C", U(SMDP)), NULL)))));
  g_autoptr(GPtrArray) list = NULL;
  Es10bListNotificationResult result;
  GError *error = NULL;

  assert_true(es10b_list_notification_decode(g_bytes_get_data(refused, NULL),
                                             g_bytes_get_size(refused), &result, &list, NULL));
  assert_int_equal(result, ES10B_LIST_NOTIFICATION_UNDEFINED_ERROR);
  assert_int_equal(list->len, 0);
  g_clear_pointer(&list, g_ptr_array_unref);

  /* ListNotification knows only undefinedError(127). */
  assert_false(es10b_list_notification_decode(g_bytes_get_data(undefined, NULL),
                                              g_bytes_get_size(undefined), &result, &list, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  g_clear_error(&error);

  /* "Only one bit set to 1". */
  assert_false(es10b_list_notification_decode(g_bytes_get_data(two_bits, NULL),
                                              g_bytes_get_size(two_bits), &result, &list, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  g_clear_error(&error);

  assert_false(es10b_list_notification_decode(g_bytes_get_data(no_seq, NULL),
                                              g_bytes_get_size(no_seq), &result, &list, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD));
  assert_non_null(strstr(error->message, "seqNumber"));
  g_clear_error(&error);
  assert_null(list);
}

static const char *fake_signature(void)
{
  return keep(g_strnfill(128, 'A'));
}

static const char *pir_notification(void)
{
  /* ProfileInstallationResult: BF37 { BF27 { transactionId, BF2F, smdpOid,
   * finalResult [2] { successResult [0] } }, 5F37 }. */
  return T("BF37", C(T("BF27", C(T("80", "0102030405060708"),
                                 T("BF2F", C(T("80", "0A"), T("81", "0780"), T("0C", U(SMDP)),
                                             T("5A", ICCID1_BCD), NULL)),
                                 T("06", "2B0601"),
                                 T("A2", T("A0", C(T("4F", AID1), T("04", "9000"), NULL))), NULL)),
                     T("5F37", fake_signature()), NULL));
}

static const char *other_notification(void)
{
  /* OtherSignedNotification: 30 { BF2F, 5F37, euiccCertificate, eumCertificate }; the
   * certificates are stand-ins: the codec keeps them as bytes and never reads them. */
  return T(
      "30",
      C(T("BF2F", C(T("80", "0B"), T("81", "0640"), T("0C", U(SMDP)), T("5A", ICCID2_BCD), NULL)),
        T("5F37", fake_signature()), T("30", T("02", "01")), T("30", T("02", "02")), NULL));
}

static const char *retrieve_response(void)
{
  return T("BF2B", T("A0", C(pir_notification(), other_notification(), NULL)));
}

static void test_decode_retrieve_notifications_keeps_exact_der(void **state)
{
  g_autoptr(GBytes) der = B(retrieve_response());
  g_autoptr(GBytes) pir = B(pir_notification());
  g_autoptr(GBytes) other = B(other_notification());
  g_autoptr(GPtrArray) list = NULL;
  Es10bRetrieveNotificationsResult result = 99;
  Es10PendingNotification *n;

  assert_true(es10b_retrieve_notifications_list_decode(
      g_bytes_get_data(der, NULL), g_bytes_get_size(der), &result, &list, NULL));
  assert_int_equal(result, ES10B_RETRIEVE_NOTIFICATIONS_OK);
  assert_int_equal(list->len, 2);

  n = list->pdata[0];
  assert_true(n->installation_result);
  assert_true(g_bytes_equal(n->der, pir));
  assert_int_equal(n->metadata.seq_number, 10);
  assert_int_equal(n->metadata.operation, ES10_NOTIFICATION_INSTALL);
  assert_string_equal(n->metadata.iccid, ICCID1);
  assert_string_equal(n->metadata.notification_address, SMDP);

  n = list->pdata[1];
  assert_false(n->installation_result);
  assert_true(g_bytes_equal(n->der, other));
  assert_int_equal(n->metadata.seq_number, 11);
  assert_int_equal(n->metadata.operation, ES10_NOTIFICATION_ENABLE);
  assert_string_equal(n->metadata.iccid, ICCID2);
}

static void test_decode_retrieve_notifications_no_result(void **state)
{
  g_autoptr(GBytes) none = B("BF2B03810101");
  g_autoptr(GBytes) bad = B(T("BF2B", T("A0", T("BF37", T("5F37", "00")))));
  g_autoptr(GPtrArray) list = NULL;
  Es10bRetrieveNotificationsResult result;
  g_autoptr(GError) error = NULL;

  assert_true(es10b_retrieve_notifications_list_decode(
      g_bytes_get_data(none, NULL), g_bytes_get_size(none), &result, &list, NULL));
  assert_int_equal(result, ES10B_RETRIEVE_NOTIFICATIONS_NO_RESULT_AVAILABLE);
  assert_int_equal(list->len, 0);
  g_clear_pointer(&list, g_ptr_array_unref);

  assert_false(es10b_retrieve_notifications_list_decode(
      g_bytes_get_data(bad, NULL), g_bytes_get_size(bad), &result, &list, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD));
}

static const char *rat_response(void)
{
  return T("BF43",
           T("A0", C(T("30", C(T("80", "0640"),
                               T("A1", C(T("30", T("80", "130014")),
                                         T("30", C(T("80", "32F451"), T("81", "01"), NULL)), NULL)),
                               T("82", "0780"), NULL)),
                     T("30", C(T("80", "0520"), T("A1", T("30", T("80", "EEEEEE"))), T("82", "00"),
                               NULL)),
                     NULL)));
}

static void test_decode_rat(void **state)
{
  g_autoptr(GBytes) der = B(rat_response());
  g_autoptr(GPtrArray) rules = NULL;
  Es10bRatRule *r;
  Es10OperatorId *op;

  assert_true(
      es10b_get_rat_decode(g_bytes_get_data(der, NULL), g_bytes_get_size(der), &rules, NULL));
  assert_int_equal(rules->len, 2);
  r = rules->pdata[0];
  assert_int_equal(r->ppr_ids, ES10_PPR1);
  assert_int_equal(r->ppr_flags, ES10B_RAT_FLAG_CONSENT_REQUIRED);
  assert_int_equal(r->allowed_operators->len, 2);
  op = r->allowed_operators->pdata[0];
  assert_string_equal(op->mcc_mnc, "310410");
  op = r->allowed_operators->pdata[1];
  assert_string_equal(op->mcc_mnc, "23415");
  assert_int_equal(g_bytes_get_size(op->gid1), 1);
  r = rules->pdata[1];
  assert_int_equal(r->ppr_ids, ES10_PPR2);
  assert_int_equal(r->ppr_flags, 0);
  op = r->allowed_operators->pdata[0];
  /* SGP.22 2.9.2: 'E' is a wildcard digit. */
  assert_string_equal(op->mcc_mnc, "EEEEEE");
}

static const char *addresses_response(void)
{
  return T("BF3C", C(T("80", U(SMDP)), T("81", U("lpa.ds.gsma.com")), NULL));
}

static void test_decode_configured_addresses(void **state)
{
  g_autoptr(GBytes) der = B(addresses_response());
  g_autoptr(GBytes) root_only = B(T("BF3C", T("81", U("lpa.ds.gsma.com"))));
  g_autoptr(GBytes) no_root = B(T("BF3C", T("80", U(SMDP))));
  g_autoptr(Es10aConfiguredAddresses) a = NULL;
  g_autoptr(GError) error = NULL;

  assert_true(es10a_get_euicc_configured_addresses_decode(g_bytes_get_data(der, NULL),
                                                          g_bytes_get_size(der), &a, NULL));
  assert_string_equal(a->default_dp_address, SMDP);
  assert_string_equal(a->root_ds_address, "lpa.ds.gsma.com");
  g_clear_pointer(&a, es10a_configured_addresses_free);

  assert_true(es10a_get_euicc_configured_addresses_decode(g_bytes_get_data(root_only, NULL),
                                                          g_bytes_get_size(root_only), &a, NULL));
  assert_null(a->default_dp_address);
  g_clear_pointer(&a, es10a_configured_addresses_free);

  assert_false(es10a_get_euicc_configured_addresses_decode(g_bytes_get_data(no_root, NULL),
                                                           g_bytes_get_size(no_root), &a, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD));
}

static void test_decode_eid(void **state)
{
  g_autoptr(GBytes) der = B("BF3E125A10" EID);
  g_autoptr(GBytes) short_eid = B("BF3E115A0F890490321234512345123456789012");
  g_autofree gchar *eid = NULL;
  g_autoptr(GError) error = NULL;

  assert_true(es10c_get_eid_decode(g_bytes_get_data(der, NULL), g_bytes_get_size(der), &eid, NULL));
  assert_string_equal(eid, EID);
  g_clear_pointer(&eid, g_free);
  assert_false(es10c_get_eid_decode(g_bytes_get_data(short_eid, NULL), g_bytes_get_size(short_eid),
                                    &eid, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  assert_null(eid);
}

/* ---- Result codes ------------------------------------------------------- */

static gboolean decode_code(Es10Command cmd, const char *hex, gint *result, GError **error)
{
  g_autoptr(GBytes) der = B(hex);
  gsize len;
  const guint8 *p = g_bytes_get_data(der, &len);

  switch (cmd) {
  case ES10_CMD_SET_DEFAULT_DP_ADDRESS:
    return es10a_set_default_dp_address_decode(p, len, (Es10aSetDefaultDpAddressResult *)result,
                                               error);
  case ES10_CMD_REMOVE_NOTIFICATION_FROM_LIST:
    return es10b_remove_notification_from_list_decode(
        p, len, (Es10bRemoveNotificationResult *)result, error);
  case ES10_CMD_ENABLE_PROFILE:
    return es10c_enable_profile_decode(p, len, (Es10cEnableProfileResult *)result, error);
  case ES10_CMD_DISABLE_PROFILE:
    return es10c_disable_profile_decode(p, len, (Es10cDisableProfileResult *)result, error);
  case ES10_CMD_DELETE_PROFILE:
    return es10c_delete_profile_decode(p, len, (Es10cDeleteProfileResult *)result, error);
  case ES10_CMD_EUICC_MEMORY_RESET:
    return es10c_euicc_memory_reset_decode(p, len, (Es10cEuiccMemoryResetResult *)result, error);
  case ES10_CMD_SET_NICKNAME:
    return es10c_set_nickname_decode(p, len, (Es10cSetNicknameResult *)result, error);
  default:
    fail();
  }
  return FALSE;
}

static void test_result_codes_valid_per_operation(void **state)
{
  /* Every code rsp.asn (and SGP.22 v2.2 for catBusy) defines, per command. */
  struct {
    Es10Command cmd;
    const char *tag;
    gint valid[8];
    gsize n_valid;
  } cases[] = {
      {ES10_CMD_SET_DEFAULT_DP_ADDRESS, "BF3F", {0, 127}, 2},
      {ES10_CMD_REMOVE_NOTIFICATION_FROM_LIST, "BF30", {0, 1, 127}, 3},
      {ES10_CMD_ENABLE_PROFILE, "BF31", {0, 1, 2, 3, 4, 5, 127}, 7},
      {ES10_CMD_DISABLE_PROFILE, "BF32", {0, 1, 2, 3, 5, 127}, 6},
      {ES10_CMD_DELETE_PROFILE, "BF33", {0, 1, 2, 3, 127}, 5},
      {ES10_CMD_EUICC_MEMORY_RESET, "BF34", {0, 1, 5, 127}, 4},
      {ES10_CMD_SET_NICKNAME, "BF29", {0, 1, 127}, 3},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    for (gint code = 0; code < 300; code++) {
      g_autofree gchar *hex = NULL;
      g_autoptr(GError) error = NULL;
      gboolean expect = FALSE;
      gint result = -1;

      for (gsize k = 0; k < cases[i].n_valid; k++)
        expect |= cases[i].valid[k] == code;
      if (code < 0x80)
        hex = g_strdup_printf("%s03"
                              "8001%02X",
                              cases[i].tag, code);
      else
        hex = g_strdup_printf("%s04"
                              "8002%04X",
                              cases[i].tag, code);
      assert_true(es10_command_has_result_code(cases[i].cmd));
      assert_int_equal(decode_code(cases[i].cmd, hex, &result, &error), expect);
      assert_int_equal(es10_result_is_valid(cases[i].cmd, code), expect);
      if (expect) {
        assert_null(error);
        assert_int_equal(result, code);
        assert_non_null(es10_result_get_name(cases[i].cmd, code));
      } else {
        /* Out of range for this operation: an error, never a crash. */
        assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
        assert_int_equal(result, -1);
        assert_null(es10_result_get_name(cases[i].cmd, code));
        assert_string_equal(es10_result_get_message(cases[i].cmd, code), "unknown result code");
      }
    }
  }
}

static void test_result_codes_named_and_explained(void **state)
{
  gint result;
  g_autoptr(GError) error = NULL;

  assert_true(decode_code(ES10_CMD_ENABLE_PROFILE, "BF3103800105", &result, NULL));
  assert_int_equal(result, ES10C_ENABLE_PROFILE_CAT_BUSY);
  assert_true(decode_code(ES10_CMD_DELETE_PROFILE, "BF3303800102", &result, NULL));
  assert_int_equal(result, ES10C_DELETE_PROFILE_NOT_IN_DISABLED_STATE);
  /* DeleteProfile has no catBusy. */
  assert_false(decode_code(ES10_CMD_DELETE_PROFILE, "BF3303800105", &result, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  g_clear_error(&error);

  assert_string_equal(es10_result_get_message(ES10_CMD_ENABLE_PROFILE, 2),
                      "profile not in disabled state");
  assert_string_equal(es10_result_get_message(ES10_CMD_DISABLE_PROFILE, 2),
                      "profile not in enabled state");
  assert_string_equal(es10_result_get_name(ES10_CMD_ENABLE_PROFILE, 4), "wrongProfileReenabling");
  assert_string_equal(es10_result_get_message(ES10_CMD_DELETE_PROFILE, 3),
                      "disallowed by the profile policy rules");
  assert_string_equal(es10_result_get_message(ES10_CMD_SET_NICKNAME, 1),
                      "no profile with that ICCID");
  assert_string_equal(es10_result_get_message(ES10_CMD_EUICC_MEMORY_RESET, 1), "nothing to delete");
  assert_string_equal(es10_result_get_message(ES10_CMD_GET_PROFILES_INFO, 1),
                      "incorrect input values");
  for (guint c = 0; c < ES10_CMD_COUNT; c++) {
    if (es10_command_has_result_code(c) || c == ES10_CMD_GET_PROFILES_INFO ||
        c == ES10_CMD_LIST_NOTIFICATION || c == ES10_CMD_RETRIEVE_NOTIFICATIONS_LIST) {
      assert_string_equal(es10_result_get_message(c, 0), "success");
      assert_non_null(es10_result_get_message(c, 127));
      assert_string_not_equal(es10_result_get_message(c, 127), "unknown result code");
    }
  }

  /* A negative INTEGER is no result code. */
  assert_false(decode_code(ES10_CMD_ENABLE_PROFILE, "BF3103800180", &result, &error));
  assert_non_null(error);
  g_clear_error(&error);
  /* The result must be there. */
  assert_false(decode_code(ES10_CMD_ENABLE_PROFILE, "BF3100", &result, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD));
  g_clear_error(&error);
  /* A later version may add fields after the result. */
  assert_true(decode_code(ES10_CMD_ENABLE_PROFILE, "BF3106800100810100", &result, NULL));
  assert_int_equal(result, 0);
  /* The generic path refuses commands that answer with more than a code. */
  assert_false(
      es10_decode_result(ES10_CMD_GET_EID, (const guint8 *)"\xBF\x3E\x00", 3, &result, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT));
}

static void test_command_table(void **state)
{
  Es10Command cmd;

  assert_int_equal(es10_command_get_tag(ES10_CMD_GET_PROFILES_INFO), 0xBF2D);
  assert_string_equal(es10_command_get_name(ES10_CMD_EUICC_MEMORY_RESET), "eUICCMemoryReset");
  assert_true(es10_command_from_tag(0xBF43, &cmd));
  assert_int_equal(cmd, ES10_CMD_GET_RAT);
  assert_true(es10_command_from_tag(0xBF21, &cmd));
  assert_int_equal(cmd, ES10_CMD_PREPARE_DOWNLOAD);
  /* BF37 is an answer (ProfileInstallationResult), no command's request. */
  assert_false(es10_command_from_tag(0xBF37, &cmd));
  assert_false(es10_command_from_tag(0xBF99, &cmd));
  for (guint c = 0; c < ES10_CMD_COUNT; c++) {
    assert_true(es10_command_from_tag(es10_command_get_tag(c), &cmd));
    assert_int_equal(cmd, c);
  }
}

static void test_mcc_mnc_hex_and_names(void **state)
{
  guint8 plmn[3];
  g_autofree gchar *s = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) b = NULL;

  assert_true(es10_mcc_mnc_to_bytes("310410", plmn, NULL));
  assert_memory_equal(plmn, "\x13\x00\x14", 3);
  assert_true(es10_mcc_mnc_to_bytes("23415", plmn, NULL));
  assert_memory_equal(plmn, "\x32\xF4\x51", 3);
  s = es10_mcc_mnc_from_bytes(plmn, 3, NULL);
  assert_string_equal(s, "23415");
  assert_false(es10_mcc_mnc_to_bytes("2341", plmn, &error));
  g_clear_error(&error);
  assert_false(es10_mcc_mnc_to_bytes("23A15", plmn, &error));
  g_clear_error(&error);
  assert_null(es10_mcc_mnc_from_bytes((const guint8 *)"\x3A\xF4\x51", 3, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  g_clear_error(&error);

  b = es10_hex_decode("00ff10Ab", NULL);
  assert_int_equal(g_bytes_get_size(b), 4);
  g_clear_pointer(&s, g_free);
  s = es10_hex_encode(g_bytes_get_data(b, NULL), 4);
  assert_string_equal(s, "00FF10AB");
  assert_null(es10_hex_decode("ABC", &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT));
  g_clear_error(&error);
  assert_null(es10_hex_decode("GG", &error));
  g_clear_error(&error);

  assert_string_equal(es10_profile_state_to_string(ES10_PROFILE_STATE_ENABLED), "enabled");
  assert_string_equal(es10_profile_class_to_string(ES10_PROFILE_CLASS_PROVISIONING),
                      "provisioning");
  assert_string_equal(es10_icon_type_to_string(ES10_ICON_TYPE_JPG), "jpg");
  assert_string_equal(es10_notification_event_to_string(ES10_NOTIFICATION_DELETE), "delete");
  assert_string_equal(es10_notification_event_to_string(0x3), "unknown");
}

/* ---- Every decoder against broken input --------------------------------- */

typedef gboolean (*DecodeFn)(const guint8 *buf, gsize len, GError **error);

static gboolean dec_addresses(const guint8 *buf, gsize len, GError **error)
{
  g_autoptr(Es10aConfiguredAddresses) out = NULL;
  return es10a_get_euicc_configured_addresses_decode(buf, len, &out, error);
}

static gboolean dec_set_default_dp(const guint8 *buf, gsize len, GError **error)
{
  Es10aSetDefaultDpAddressResult r;
  return es10a_set_default_dp_address_decode(buf, len, &r, error);
}

static gboolean dec_info1(const guint8 *buf, gsize len, GError **error)
{
  g_autoptr(Es10bEuiccInfo1) out = NULL;
  return es10b_get_euicc_info1_decode(buf, len, &out, error);
}

static gboolean dec_info2(const guint8 *buf, gsize len, GError **error)
{
  g_autoptr(Es10bEuiccInfo2) out = NULL;
  return es10b_get_euicc_info2_decode(buf, len, &out, error);
}

static gboolean dec_list_notification(const guint8 *buf, gsize len, GError **error)
{
  g_autoptr(GPtrArray) out = NULL;
  Es10bListNotificationResult r;
  return es10b_list_notification_decode(buf, len, &r, &out, error);
}

static gboolean dec_retrieve(const guint8 *buf, gsize len, GError **error)
{
  g_autoptr(GPtrArray) out = NULL;
  Es10bRetrieveNotificationsResult r;
  return es10b_retrieve_notifications_list_decode(buf, len, &r, &out, error);
}

static gboolean dec_remove(const guint8 *buf, gsize len, GError **error)
{
  Es10bRemoveNotificationResult r;
  return es10b_remove_notification_from_list_decode(buf, len, &r, error);
}

static gboolean dec_rat(const guint8 *buf, gsize len, GError **error)
{
  g_autoptr(GPtrArray) out = NULL;
  return es10b_get_rat_decode(buf, len, &out, error);
}

static gboolean dec_profiles(const guint8 *buf, gsize len, GError **error)
{
  g_autoptr(GPtrArray) out = NULL;
  Es10cGetProfilesInfoResult r;
  return es10c_get_profiles_info_decode(buf, len, &r, &out, error);
}

static gboolean dec_enable(const guint8 *buf, gsize len, GError **error)
{
  Es10cEnableProfileResult r;
  return es10c_enable_profile_decode(buf, len, &r, error);
}

static gboolean dec_disable(const guint8 *buf, gsize len, GError **error)
{
  Es10cDisableProfileResult r;
  return es10c_disable_profile_decode(buf, len, &r, error);
}

static gboolean dec_delete(const guint8 *buf, gsize len, GError **error)
{
  Es10cDeleteProfileResult r;
  return es10c_delete_profile_decode(buf, len, &r, error);
}

static gboolean dec_reset(const guint8 *buf, gsize len, GError **error)
{
  Es10cEuiccMemoryResetResult r;
  return es10c_euicc_memory_reset_decode(buf, len, &r, error);
}

static gboolean dec_eid(const guint8 *buf, gsize len, GError **error)
{
  g_autofree gchar *out = NULL;
  return es10c_get_eid_decode(buf, len, &out, error);
}

static gboolean dec_nickname(const guint8 *buf, gsize len, GError **error)
{
  Es10cSetNicknameResult r;
  return es10c_set_nickname_decode(buf, len, &r, error);
}

static gboolean dec_prepare_download(const guint8 *buf, gsize len, GError **error)
{
  g_autoptr(Es10bPrepareDownloadResponse) out = NULL;
  return es10b_prepare_download_decode(buf, len, &out, error);
}

static gboolean dec_challenge(const guint8 *buf, gsize len, GError **error)
{
  guint8 c[ES10_CHALLENGE_LEN];
  return es10b_get_euicc_challenge_decode(buf, len, c, error);
}

static gboolean dec_authenticate(const guint8 *buf, gsize len, GError **error)
{
  g_autoptr(Es10bAuthenticateServerResponse) out = NULL;
  return es10b_authenticate_server_decode(buf, len, &out, error);
}

static gboolean dec_cancel_session(const guint8 *buf, gsize len, GError **error)
{
  g_autoptr(GBytes) der = NULL;
  Es10bCancelSessionResult r;
  return es10b_cancel_session_decode(buf, len, &r, &der, error);
}

static gboolean dec_installation_result(const guint8 *buf, gsize len, GError **error)
{
  g_autoptr(Es10bProfileInstallationResult) out = NULL;
  return es10b_profile_installation_result_decode(buf, len, &out, error);
}

typedef struct {
  const char *type;
  DecodeFn decode;
  const char *(*valid)(void);
} DecoderCase;

static const char *v_set_default_dp(void)
{
  return "BF3F03800100";
}
static const char *v_remove(void)
{
  return "BF3003800101";
}
static const char *v_enable(void)
{
  return "BF3103800105";
}
static const char *v_disable(void)
{
  return "BF3203800102";
}
static const char *v_delete(void)
{
  return "BF3303800100";
}
static const char *v_reset(void)
{
  return "BF3403800101";
}
static const char *v_eid(void)
{
  return "BF3E125A10" EID;
}
static const char *v_nickname(void)
{
  return "BF2903800100";
}

#define TXID "0102030405060708090A0B0C0D0E0F10"

static const char *v_prepare_download(void)
{
  return T("BF21", T("A0", C(T("30", C(T("80", TXID), T("5F49", "04AABB"), NULL)),
                             T("5F37", "0102"), NULL)));
}
static const char *v_challenge(void)
{
  return "BF2E128010" TXID;
}
static const char *v_authenticate(void)
{
  const char *signed1 =
      T("30",
        C(T("80", TXID), T("83", U(SMDP)), T("84", TXID), T("BF22", T("81", "020300")),
          T("A0", C(T("80", "41"), T("A1", C(T("80", "35290611"), "A100", NULL)), NULL)), NULL));
  return T("BF38", T("A0", C(signed1, T("5F37", "0102"), T("30", "0500"), T("30", "0500"), NULL)));
}
static const char *v_cancel_session(void)
{
  return T("BF41", T("A0", C(T("30", C(T("80", TXID), "81032B0601", "820101", NULL)),
                             T("5F37", "0102"), NULL)));
}
static const char *v_installation_result(void)
{
  const char *meta =
      T("BF2F", C("800105", "81020780", T("0C", U(SMDP)), T("5A", ICCID1_BCD), NULL));
  return T("BF37", C(T("BF27", C(T("80", TXID), meta, "06032B0601",
                                 T("A2", T("A1", "800105810109")), NULL)),
                     T("5F37", "0102"), NULL));
}

static const DecoderCase decoders[] = {
    {"EuiccConfiguredAddressesResponse", dec_addresses, addresses_response},
    {"SetDefaultDpAddressResponse", dec_set_default_dp, v_set_default_dp},
    {"EUICCInfo1", dec_info1, euicc_info1_response},
    {"EUICCInfo2", dec_info2, euicc_info2_response},
    {"ListNotificationResponse", dec_list_notification, list_notification_response},
    {"RetrieveNotificationsListResponse", dec_retrieve, retrieve_response},
    {"NotificationSentResponse", dec_remove, v_remove},
    {"GetRatResponse", dec_rat, rat_response},
    {"ProfileInfoListResponse", dec_profiles, profiles_response},
    {"EnableProfileResponse", dec_enable, v_enable},
    {"DisableProfileResponse", dec_disable, v_disable},
    {"DeleteProfileResponse", dec_delete, v_delete},
    {"EuiccMemoryResetResponse", dec_reset, v_reset},
    {"GetEuiccDataResponse", dec_eid, v_eid},
    {"SetNicknameResponse", dec_nickname, v_nickname},
    {"PrepareDownloadResponse", dec_prepare_download, v_prepare_download},
    {"GetEuiccChallengeResponse", dec_challenge, v_challenge},
    {"AuthenticateServerResponse", dec_authenticate, v_authenticate},
    {"CancelSessionResponse", dec_cancel_session, v_cancel_session},
    {"ProfileInstallationResult", dec_installation_result, v_installation_result},
};

/* FALSE must come with an ES10_ERROR that says something, TRUE without one. */
static void check_outcome(const DecoderCase *d, gboolean ok, GError *error)
{
  if (ok) {
    assert_null(error);
  } else {
    if (!error)
      fail_msg("%s failed without an error", d->type);
    assert_true(error->domain == ES10_ERROR);
    assert_true(error->message && *error->message);
  }
}

static void test_every_decoder_accepts_its_valid_response(void **state)
{
  assert_int_equal(G_N_ELEMENTS(decoders), ES10_CMD_COUNT);
  for (gsize i = 0; i < G_N_ELEMENTS(decoders); i++) {
    g_autoptr(GBytes) der = B(decoders[i].valid());
    g_autoptr(GError) error = NULL;
    gsize len;
    const guint8 *p = g_bytes_get_data(der, &len);

    if (!decoders[i].decode(p, len, &error))
      fail_msg("%s: %s", decoders[i].type, error->message);
  }
}

static void test_every_decoder_rejects_truncation_at_every_length(void **state)
{
  for (gsize i = 0; i < G_N_ELEMENTS(decoders); i++) {
    g_autoptr(GBytes) der = B(decoders[i].valid());
    gsize len;
    const guint8 *p = g_bytes_get_data(der, &len);

    for (gsize cut = 0; cut < len; cut++) {
      g_autoptr(GError) error = NULL;
      /* An exact-size copy, so that AddressSanitizer sees any overread. */
      g_autofree guint8 *copy = g_memdup2(p, cut);

      assert_false(decoders[i].decode(copy, cut, &error));
      check_outcome(&decoders[i], FALSE, error);
    }
  }
}

/* Truncates the content inside a correct outer header: the decoders walk
 * into the cut element and must stop there cleanly. */
static void test_every_decoder_survives_inner_truncation(void **state)
{
  for (gsize i = 0; i < G_N_ELEMENTS(decoders); i++) {
    g_autoptr(GBytes) der = B(decoders[i].valid());
    gsize len, hdr;
    const guint8 *p = g_bytes_get_data(der, &len);

    /* Outer tags are two bytes (BFxx); the length is one or two (81 xx) or three bytes. */
    hdr = 2 + (p[2] < 0x80 ? 1 : 1 + (p[2] & 0x7F));
    for (gsize cut = 0; cut < len - hdr; cut++) {
      g_autoptr(GError) error = NULL;
      g_autofree guint8 *copy = g_malloc(cut + 5);
      gsize n = 0;
      gboolean ok;

      copy[n++] = p[0];
      copy[n++] = p[1];
      if (cut < 0x80) {
        copy[n++] = (guint8)cut;
      } else if (cut <= 0xFF) {
        copy[n++] = 0x81;
        copy[n++] = (guint8)cut;
      } else {
        copy[n++] = 0x82;
        copy[n++] = (guint8)(cut >> 8);
        copy[n++] = (guint8)cut;
      }
      memcpy(copy + n, p + hdr, cut);
      ok = decoders[i].decode(copy, n + cut, &error);
      check_outcome(&decoders[i], ok, error);
    }
  }
}

static void test_every_decoder_rejects_wrong_tag_and_trailing_data(void **state)
{
  for (gsize i = 0; i < G_N_ELEMENTS(decoders); i++) {
    g_autoptr(GBytes) der = B(decoders[i].valid());
    gsize len;
    const guint8 *p = g_bytes_get_data(der, &len);
    g_autofree guint8 *copy = g_malloc(len + 1);
    GError *error = NULL;

    /* Another command's tag. */
    memcpy(copy, p, len);
    copy[1] ^= 0x01;
    assert_false(decoders[i].decode(copy, len, &error));
    assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG));
    g_clear_error(&error);

    /* A primitive where a constructed type belongs: 9F xx. */
    copy[0] = 0x9F;
    copy[1] = p[1];
    assert_false(decoders[i].decode(copy, len, &error));
    check_outcome(&decoders[i], FALSE, error);
    g_clear_error(&error);

    /* One byte too many after the response. */
    memcpy(copy, p, len);
    copy[len] = 0x00;
    assert_false(decoders[i].decode(copy, len + 1, &error));
    assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_TRAILING_DATA));
    g_clear_error(&error);

    /* Nothing at all. */
    assert_false(decoders[i].decode(NULL, 0, &error));
    check_outcome(&decoders[i], FALSE, error);
    g_clear_error(&error);
  }
}

/* Changes every byte in turn to a few hostile values: whatever the decoder
 * says, it must say it cleanly (AddressSanitizer and LeakSanitizer watch). */
static void test_every_decoder_survives_corrupted_bytes(void **state)
{
  static const guint8 values[] = {0x00, 0x7F, 0x80, 0x81, 0xFF};

  for (gsize i = 0; i < G_N_ELEMENTS(decoders); i++) {
    g_autoptr(GBytes) der = B(decoders[i].valid());
    gsize len;
    const guint8 *p = g_bytes_get_data(der, &len);
    g_autofree guint8 *copy = g_malloc(len);

    for (gsize pos = 0; pos < len; pos++) {
      for (gsize v = 0; v < G_N_ELEMENTS(values); v++) {
        g_autoptr(GError) error = NULL;
        gboolean ok;

        memcpy(copy, p, len);
        copy[pos] = values[v];
        ok = decoders[i].decode(copy, len, &error);
        check_outcome(&decoders[i], ok, error);
      }
    }
  }
}

int main(void)
{
#define T_(f) cmocka_unit_test_setup_teardown(f, der_hex_setup, der_hex_teardown)
  const struct CMUnitTest tests[] = {
      T_(test_encode_requests_without_arguments),
      T_(test_encode_set_default_dp_address_request),
      T_(test_encode_list_notification_request),
      T_(test_encode_retrieve_notifications_list_request),
      T_(test_encode_notification_sent_request),
      T_(test_encode_profile_info_list_request),
      T_(test_encode_enable_disable_profile_requests),
      T_(test_encode_delete_profile_request),
      T_(test_encode_euicc_memory_reset_request),
      T_(test_encode_set_nickname_request),
      T_(test_decode_profile_info_list_with_three_profiles),
      T_(test_decode_profile_info_list_empty_and_error),
      T_(test_decode_profile_info_rejects_bad_fields),
      T_(test_decode_euicc_info2_with_everything),
      T_(test_decode_euicc_info2_minimal_and_missing),
      T_(test_decode_euicc_info1),
      T_(test_decode_list_notification),
      T_(test_decode_list_notification_error_and_bad_event),
      T_(test_decode_retrieve_notifications_keeps_exact_der),
      T_(test_decode_retrieve_notifications_no_result),
      T_(test_decode_rat),
      T_(test_decode_configured_addresses),
      T_(test_decode_eid),
      T_(test_result_codes_valid_per_operation),
      T_(test_result_codes_named_and_explained),
      T_(test_command_table),
      T_(test_mcc_mnc_hex_and_names),
      T_(test_every_decoder_accepts_its_valid_response),
      T_(test_every_decoder_rejects_truncation_at_every_length),
      T_(test_every_decoder_survives_inner_truncation),
      T_(test_every_decoder_rejects_wrong_tag_and_trailing_data),
      T_(test_every_decoder_survives_corrupted_bytes),
  };
#undef T_
  return cmocka_run_group_tests(tests, NULL, NULL);
}
