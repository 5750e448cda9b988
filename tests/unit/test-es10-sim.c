/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ES10 codec against the card model, through the APDU layer: each
 * request is encoded by es10/, carried by iso7816 over a logical channel to
 * the ISD-R of euicc-sim, and the card's answer decoded by es10/. The
 * asserts compare what the decoders return with what the card file says and
 * with the card's own state afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "es10/es10.h"
#include "transport/iso7816.h"
#include "euicc-sim.h"
#include "test-util.h"

/* three-profiles.card */
#define TP_EID "89049032123451234512345678901235"
#define TP_ICCID1 "8944476500001234567"
#define TP_ICCID2 "89012604100000123456"
#define TP_ICCID3 "89445001000000654321"
#define TP_AID1 "A0000005591010FFFFFFFF8900001000"
#define TP_AID2 "A0000005591010FFFFFFFF8900001100"
#define TP_AID3 "A0000005591010FFFFFFFF8900001200"

typedef struct {
  EuiccSim *sim;
  guint channel;
} Card;

/* Loads a card file, opens a logical channel and selects the ISD-R on it. */
static Card *card_open_with(EuiccSim *sim)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) aid = es10_hex_decode(EUICC_SIM_ISDR_AID, &error);
  Card *card = g_new0(Card, 1);

  assert_non_null(sim);
  assert_non_null(aid);
  card->sim = sim;
  card->channel = iso7816_open_channel_sync(test_sim_transmit, sim, aid, &error);
  if (!card->channel)
    fail_msg("cannot open the ISD-R: %s", error->message);
  return card;
}

static Card *card_open(const char *name)
{
  return card_open_with(test_card_load(name));
}

static void card_free(Card *card)
{
  g_autoptr(GError) error = NULL;

  assert_true(iso7816_close_channel_sync(test_sim_transmit, card->sim, card->channel, &error));
  assert_int_equal(euicc_sim_get_open_channels(card->sim), 0);
  euicc_sim_free(card->sim);
  g_free(card);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Card, card_free)

/* Sends one ES10 request (taken) and returns the response DER. */
static GBytes *card_call(Card *card, GBytes *request)
{
  g_autoptr(GBytes) req = request;
  g_autoptr(GError) error = NULL;
  GBytes *response;

  assert_non_null(req);
  response =
      iso7816_store_data_sync(test_sim_transmit, card->sim, card->channel, req, NULL, &error);
  if (!response)
    fail_msg("the ES10 request failed: %s", error->message);
  return response;
}

#define DECODE_OK(call)                                                                            \
  do {                                                                                             \
    g_autoptr(GError) decode_error_ = NULL;                                                        \
    if (!(call))                                                                                   \
      fail_msg("%s: %s", #call, decode_error_ ? decode_error_->message : "no error set");          \
  } while (0)

#define DATA(bytes) g_bytes_get_data((bytes), NULL), g_bytes_get_size(bytes)

/* ---- one call per command ---- */

static gchar *get_eid(Card *card)
{
  g_autoptr(GBytes) r = card_call(card, es10c_get_eid_encode());
  gchar *eid = NULL;

  DECODE_OK(es10c_get_eid_decode(DATA(r), &eid, &decode_error_));
  return eid;
}

static Es10bEuiccInfo2 *get_info2(Card *card)
{
  g_autoptr(GBytes) r = card_call(card, es10b_get_euicc_info2_encode());
  Es10bEuiccInfo2 *info = NULL;

  DECODE_OK(es10b_get_euicc_info2_decode(DATA(r), &info, &decode_error_));
  return info;
}

static Es10aConfiguredAddresses *get_addresses(Card *card)
{
  g_autoptr(GBytes) r = card_call(card, es10a_get_euicc_configured_addresses_encode());
  Es10aConfiguredAddresses *addr = NULL;

  DECODE_OK(es10a_get_euicc_configured_addresses_decode(DATA(r), &addr, &decode_error_));
  return addr;
}

static GPtrArray *get_profiles(Card *card, const Es10cGetProfilesInfoRequest *req)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) r = card_call(card, es10c_get_profiles_info_encode(req, &error));
  Es10cGetProfilesInfoResult result = ES10C_GET_PROFILES_INFO_UNDEFINED_ERROR;
  GPtrArray *profiles = NULL;

  DECODE_OK(es10c_get_profiles_info_decode(DATA(r), &result, &profiles, &decode_error_));
  assert_int_equal(result, ES10C_GET_PROFILES_INFO_OK);
  return profiles;
}

static GPtrArray *get_all_profiles(Card *card)
{
  return get_profiles(card, NULL);
}

static Es10ProfileInfo *find_profile(GPtrArray *profiles, const char *iccid)
{
  for (guint i = 0; i < profiles->len; i++) {
    Es10ProfileInfo *p = g_ptr_array_index(profiles, i);
    if (g_strcmp0(p->iccid, iccid) == 0)
      return p;
  }
  fail_msg("no profile %s in the list", iccid);
  return NULL;
}

static Es10cEnableProfileResult enable(Card *card, Es10ProfileIdType type, const char *id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) r = card_call(card, es10c_enable_profile_encode(type, id, FALSE, &error));
  Es10cEnableProfileResult result = ES10C_ENABLE_PROFILE_UNDEFINED_ERROR;

  DECODE_OK(es10c_enable_profile_decode(DATA(r), &result, &decode_error_));
  return result;
}

static Es10cDisableProfileResult disable(Card *card, Es10ProfileIdType type, const char *id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) r = card_call(card, es10c_disable_profile_encode(type, id, FALSE, &error));
  Es10cDisableProfileResult result = ES10C_DISABLE_PROFILE_UNDEFINED_ERROR;

  DECODE_OK(es10c_disable_profile_decode(DATA(r), &result, &decode_error_));
  return result;
}

static Es10cDeleteProfileResult delete_profile(Card *card, Es10ProfileIdType type, const char *id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) r = card_call(card, es10c_delete_profile_encode(type, id, &error));
  Es10cDeleteProfileResult result = ES10C_DELETE_PROFILE_UNDEFINED_ERROR;

  DECODE_OK(es10c_delete_profile_decode(DATA(r), &result, &decode_error_));
  return result;
}

static GPtrArray *list_notifications(Card *card)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) r = card_call(card, es10b_list_notification_encode(0, &error));
  Es10bListNotificationResult result = ES10B_LIST_NOTIFICATION_UNDEFINED_ERROR;
  GPtrArray *list = NULL;

  DECODE_OK(es10b_list_notification_decode(DATA(r), &result, &list, &decode_error_));
  assert_int_equal(result, ES10B_LIST_NOTIFICATION_OK);
  return list;
}

/* Each decoded notification is the one the card keeps at that index. */
static void assert_notifications_match_card(Card *card, GPtrArray *list)
{
  assert_int_equal(list->len, euicc_sim_get_notification_count(card->sim));
  for (guint i = 0; i < list->len; i++) {
    Es10NotificationMetadata *n = g_ptr_array_index(list, i);
    guint seq, event;
    const char *address, *iccid;

    assert_true(euicc_sim_get_notification(card->sim, i, &seq, &event, &address, &iccid));
    assert_int_equal(n->seq_number, seq);
    assert_int_equal(n->operation, 1u << event);
    assert_string_equal(n->notification_address, address);
    assert_string_equal(n->iccid ? n->iccid : "(none)", iccid ? iccid : "(none)");
  }
}

/* ---- tests ---- */

static void test_get_eid(void **state)
{
  g_autoptr(Card) card = card_open("three-profiles.card");
  g_autofree gchar *eid = get_eid(card);

  assert_string_equal(eid, TP_EID);
  assert_string_equal(eid, euicc_sim_get_eid(card->sim));
}

static void test_get_euicc_info1(void **state)
{
  g_autoptr(Card) card = card_open("three-profiles.card");
  g_autoptr(GBytes) r = card_call(card, es10b_get_euicc_info1_encode());
  g_autoptr(Es10bEuiccInfo1) info1 = NULL;
  g_autoptr(Es10bEuiccInfo2) info2 = get_info2(card);

  DECODE_OK(es10b_get_euicc_info1_decode(DATA(r), &info1, &decode_error_));
  /* svn 2.2.2 in the card file */
  assert_int_equal(info1->svn.major, 2);
  assert_int_equal(info1->svn.minor, 2);
  assert_int_equal(info1->svn.revision, 2);
  /* EUICCInfo1 and EUICCInfo2 name the same CI keys (SGP.22 4.3). */
  assert_true(info1->ci_pkid_verification->len > 0);
  assert_int_equal(info1->ci_pkid_verification->len, info2->ci_pkid_verification->len);
  assert_int_equal(info1->ci_pkid_signing->len, info2->ci_pkid_signing->len);
  for (guint i = 0; i < info1->ci_pkid_verification->len; i++) {
    const char *key = g_ptr_array_index(info1->ci_pkid_verification, i);
    assert_int_equal(strlen(key), 40); /* a SubjectKeyIdentifier: 20 bytes */
    assert_string_equal(key, g_ptr_array_index(info2->ci_pkid_verification, i));
  }
}

static void test_get_euicc_info2(void **state)
{
  g_autoptr(Card) card = card_open("three-profiles.card");
  g_autoptr(Es10bEuiccInfo2) info = get_info2(card);
  g_autofree gchar *svn = es10_version_to_string(&info->svn);
  g_autofree gchar *fw = es10_version_to_string(&info->firmware_version);

  /* What three-profiles.card says. */
  assert_string_equal(svn, "2.2.2");
  assert_string_equal(fw, "4.6.0");
  assert_true(info->has_free_nv_memory);
  assert_int_equal(info->free_nv_memory, 380512);
  assert_true(info->has_installed_applications);
  assert_int_equal(info->installed_applications, 5);
  assert_non_null(info->sas_accreditation_number);
}

/* Every EUICCInfo2 field, from a card that states each one. */
static void test_get_euicc_info2_every_field(void **state)
{
  static const char text[] = "type euicc\n"
                             "eid 89049032000001000000000000000123\n"
                             "svn 2.2.1\n"
                             "profile-version 2.3.1\n"
                             "firmware-version 7.8.9\n"
                             "javacard-version 3.0.5\n"
                             "globalplatform-version 2.3.1\n"
                             "pp-version 1.2.3\n"
                             "sas-accreditation GI-BA-UP-0419\n"
                             "category 3\n"
                             "installed-applications 9\n"
                             "free-nv-memory 123456\n"
                             "free-volatile-memory 7890\n";
  g_autoptr(GError) error = NULL;
  EuiccSim *sim = euicc_sim_new_from_data(text, &error);
  g_autoptr(Card) card = NULL;
  g_autoptr(Es10bEuiccInfo2) info = NULL;
  g_autofree gchar *svn = NULL, *pv = NULL, *fw = NULL, *jc = NULL, *gp = NULL, *pp = NULL;

  if (!sim)
    fail_msg("card text refused: %s", error->message);
  card = card_open_with(sim);
  info = get_info2(card);
  svn = es10_version_to_string(&info->svn);
  pv = es10_version_to_string(&info->profile_version);
  fw = es10_version_to_string(&info->firmware_version);
  jc = es10_version_to_string(&info->ts102241_version);
  gp = es10_version_to_string(&info->globalplatform_version);
  pp = es10_version_to_string(&info->pp_version);
  assert_string_equal(svn, "2.2.1");
  assert_string_equal(pv, "2.3.1");
  assert_string_equal(fw, "7.8.9");
  assert_true(info->has_ts102241_version);
  assert_string_equal(jc, "3.0.5");
  assert_true(info->has_globalplatform_version);
  assert_string_equal(gp, "2.3.1");
  assert_string_equal(pp, "1.2.3");
  assert_string_equal(info->sas_accreditation_number, "GI-BA-UP-0419");
  assert_true(info->has_euicc_category);
  assert_int_equal(info->euicc_category, ES10_EUICC_CATEGORY_CONTACTLESS);
  assert_true(info->has_installed_applications);
  assert_int_equal(info->installed_applications, 9);
  assert_true(info->has_free_nv_memory);
  assert_int_equal(info->free_nv_memory, 123456);
  assert_true(info->has_free_volatile_memory);
  assert_int_equal(info->free_volatile_memory, 7890);
}

static void test_get_configured_addresses(void **state)
{
  g_autoptr(Card) card = card_open("three-profiles.card");
  g_autoptr(Es10aConfiguredAddresses) addr = get_addresses(card);

  assert_string_equal(addr->default_dp_address, "smdp.example.com");
  assert_string_equal(addr->root_ds_address, "smds.example.com");
}

static void set_default_dp(Card *card, const char *address)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) r = card_call(card, es10a_set_default_dp_address_encode(address, &error));
  Es10aSetDefaultDpAddressResult result = ES10A_SET_DEFAULT_DP_ADDRESS_UNDEFINED_ERROR;

  DECODE_OK(es10a_set_default_dp_address_decode(DATA(r), &result, &decode_error_));
  assert_int_equal(result, ES10A_SET_DEFAULT_DP_ADDRESS_OK);
}

static void test_set_default_dp_address(void **state)
{
  g_autoptr(Card) card = card_open("three-profiles.card");

  set_default_dp(card, "rsp.example.org");
  assert_string_equal(euicc_sim_get_default_smdp_address(card->sim), "rsp.example.org");
  {
    g_autoptr(Es10aConfiguredAddresses) addr = get_addresses(card);
    assert_string_equal(addr->default_dp_address, "rsp.example.org");
    assert_string_equal(addr->root_ds_address, "smds.example.com");
  }

  /* An empty address clears it. */
  set_default_dp(card, "");
  assert_null(euicc_sim_get_default_smdp_address(card->sim));
  {
    g_autoptr(Es10aConfiguredAddresses) addr = get_addresses(card);
    assert_null(addr->default_dp_address);
  }
}

static void test_get_profiles_info_all(void **state)
{
  g_autoptr(Card) card = card_open("three-profiles.card");
  g_autoptr(GPtrArray) profiles = get_all_profiles(card);
  Es10ProfileInfo *p;

  assert_int_equal(profiles->len, 3);

  p = find_profile(profiles, TP_ICCID1);
  assert_string_equal(p->isdp_aid, TP_AID1);
  assert_true(p->has_state);
  assert_int_equal(p->state, ES10_PROFILE_STATE_ENABLED);
  assert_string_equal(p->profile_name, "Example Mobile UK");
  assert_string_equal(p->service_provider_name, "Example Mobile");
  assert_string_equal(p->nickname, "Work");
  assert_int_equal(p->profile_class, ES10_PROFILE_CLASS_OPERATIONAL);
  assert_non_null(p->owner);
  assert_string_equal(p->owner->mcc_mnc, "23415");
  assert_non_null(p->notification_config);
  {
    guint32 ops = 0;
    for (guint i = 0; i < p->notification_config->len; i++) {
      Es10NotificationConfig *c = g_ptr_array_index(p->notification_config, i);
      assert_string_equal(c->notification_address, "smdp.example.com");
      ops |= c->operations;
    }
    assert_int_equal(ops, ES10_NOTIFICATION_INSTALL | ES10_NOTIFICATION_ENABLE |
                              ES10_NOTIFICATION_DISABLE | ES10_NOTIFICATION_DELETE);
  }

  p = find_profile(profiles, TP_ICCID2);
  assert_string_equal(p->isdp_aid, TP_AID2);
  assert_int_equal(p->state, ES10_PROFILE_STATE_DISABLED);
  assert_string_equal(p->profile_name, "Example Wireless US");
  assert_string_equal(p->service_provider_name, "Example Wireless");
  assert_null(p->nickname);
  assert_string_equal(p->owner->mcc_mnc, "310410");
  assert_non_null(p->notification_config);
  {
    guint32 to_rsp = 0, to_smdp = 0;
    for (guint i = 0; i < p->notification_config->len; i++) {
      Es10NotificationConfig *c = g_ptr_array_index(p->notification_config, i);
      if (g_str_equal(c->notification_address, "rsp.example.net"))
        to_rsp |= c->operations;
      else if (g_str_equal(c->notification_address, "smdp.example.net"))
        to_smdp |= c->operations;
      else
        fail_msg("unexpected notification address %s", c->notification_address);
    }
    assert_int_equal(to_rsp, ES10_NOTIFICATION_ENABLE | ES10_NOTIFICATION_DISABLE);
    assert_int_equal(to_smdp, ES10_NOTIFICATION_DELETE);
  }

  p = find_profile(profiles, TP_ICCID3);
  assert_string_equal(p->isdp_aid, TP_AID3);
  assert_int_equal(p->state, ES10_PROFILE_STATE_DISABLED);
  assert_string_equal(p->profile_name, "Travel Data");
  assert_string_equal(p->service_provider_name, "Example Roam");
  assert_string_equal(p->owner->mcc_mnc, "23410");
}

static void test_get_profiles_info_filters(void **state)
{
  g_autoptr(Card) card = card_open("three-profiles.card");

  {
    Es10cGetProfilesInfoRequest req = {.search = ES10C_PROFILES_SEARCH_ICCID, .id = TP_ICCID2};
    g_autoptr(GPtrArray) profiles = get_profiles(card, &req);
    Es10ProfileInfo *p;
    assert_int_equal(profiles->len, 1);
    p = g_ptr_array_index(profiles, 0);
    assert_string_equal(p->iccid, TP_ICCID2);
    assert_string_equal(p->profile_name, "Example Wireless US");
  }
  {
    Es10cGetProfilesInfoRequest req = {.search = ES10C_PROFILES_SEARCH_ISDP_AID, .id = TP_AID3};
    g_autoptr(GPtrArray) profiles = get_profiles(card, &req);
    Es10ProfileInfo *p;
    assert_int_equal(profiles->len, 1);
    p = g_ptr_array_index(profiles, 0);
    assert_string_equal(p->iccid, TP_ICCID3);
    assert_string_equal(p->isdp_aid, TP_AID3);
  }
  {
    Es10cGetProfilesInfoRequest req = {.search = ES10C_PROFILES_SEARCH_CLASS,
                                       .profile_class = ES10_PROFILE_CLASS_OPERATIONAL};
    g_autoptr(GPtrArray) profiles = get_profiles(card, &req);
    assert_int_equal(profiles->len, 3);
  }
  {
    Es10cGetProfilesInfoRequest req = {.search = ES10C_PROFILES_SEARCH_CLASS,
                                       .profile_class = ES10_PROFILE_CLASS_TEST};
    g_autoptr(GPtrArray) profiles = get_profiles(card, &req);
    assert_int_equal(profiles->len, 0);
  }
  {
    Es10cGetProfilesInfoRequest req = {.search = ES10C_PROFILES_SEARCH_ICCID,
                                       .id = "89000000000000000000"};
    g_autoptr(GPtrArray) profiles = get_profiles(card, &req);
    assert_int_equal(profiles->len, 0);
  }
  {
    /* A tagList: the card sends those fields only (SGP.22 5.7.15). */
    static const guint32 tags[] = {ES10_TAG_ICCID, ES10_TAG_PROFILE_STATE,
                                   ES10_TAG_PROFILE_NICKNAME};
    Es10cGetProfilesInfoRequest req = {
        .search = ES10C_PROFILES_SEARCH_ALL, .tag_list = tags, .n_tags = G_N_ELEMENTS(tags)};
    g_autoptr(GPtrArray) profiles = get_profiles(card, &req);
    Es10ProfileInfo *p;
    assert_int_equal(profiles->len, 3);
    p = find_profile(profiles, TP_ICCID1);
    assert_true(p->has_state);
    assert_int_equal(p->state, ES10_PROFILE_STATE_ENABLED);
    assert_string_equal(p->nickname, "Work");
    assert_null(p->isdp_aid);
    assert_null(p->profile_name);
    assert_null(p->service_provider_name);
    assert_null(p->owner);
    assert_null(p->notification_config);
    p = find_profile(profiles, TP_ICCID3);
    assert_int_equal(p->state, ES10_PROFILE_STATE_DISABLED);
    assert_null(p->nickname);
  }
}

static void test_enable_disable_state_rules(void **state)
{
  g_autoptr(Card) card = card_open("three-profiles.card");

  /* SGP.22 5.7.16: enabling a disabled profile disables the enabled one. */
  assert_int_equal(enable(card, ES10_PROFILE_ID_ICCID, TP_ICCID2), ES10C_ENABLE_PROFILE_OK);
  assert_int_equal(euicc_sim_get_profile_state(card->sim, TP_ICCID2), 1);
  assert_int_equal(euicc_sim_get_profile_state(card->sim, TP_ICCID1), 0);
  {
    g_autoptr(GPtrArray) profiles = get_all_profiles(card);
    assert_int_equal(find_profile(profiles, TP_ICCID2)->state, ES10_PROFILE_STATE_ENABLED);
    assert_int_equal(find_profile(profiles, TP_ICCID1)->state, ES10_PROFILE_STATE_DISABLED);
  }

  assert_int_equal(enable(card, ES10_PROFILE_ID_ICCID, TP_ICCID2),
                   ES10C_ENABLE_PROFILE_NOT_IN_DISABLED_STATE);
  assert_int_equal(enable(card, ES10_PROFILE_ID_ISDP_AID, TP_AID2),
                   ES10C_ENABLE_PROFILE_NOT_IN_DISABLED_STATE);
  assert_int_equal(enable(card, ES10_PROFILE_ID_ICCID, "89000000000000000000"),
                   ES10C_ENABLE_PROFILE_ICCID_OR_AID_NOT_FOUND);

  /* SGP.22 5.7.17 */
  assert_int_equal(disable(card, ES10_PROFILE_ID_ICCID, TP_ICCID3),
                   ES10C_DISABLE_PROFILE_NOT_IN_ENABLED_STATE);
  assert_int_equal(disable(card, ES10_PROFILE_ID_ISDP_AID, TP_AID2), ES10C_DISABLE_PROFILE_OK);
  assert_int_equal(euicc_sim_get_profile_state(card->sim, TP_ICCID2), 0);
  assert_int_equal(disable(card, ES10_PROFILE_ID_ICCID, TP_ICCID2),
                   ES10C_DISABLE_PROFILE_NOT_IN_ENABLED_STATE);
  assert_int_equal(disable(card, ES10_PROFILE_ID_ICCID, "89000000000000000000"),
                   ES10C_DISABLE_PROFILE_ICCID_OR_AID_NOT_FOUND);

  assert_int_equal(enable(card, ES10_PROFILE_ID_ISDP_AID, TP_AID3), ES10C_ENABLE_PROFILE_OK);
  assert_int_equal(euicc_sim_get_profile_state(card->sim, TP_ICCID3), 1);
}

static void test_delete_state_rules(void **state)
{
  g_autoptr(Card) card = card_open("three-profiles.card");

  /* SGP.22 5.7.18: an enabled profile is not deleted. */
  assert_int_equal(delete_profile(card, ES10_PROFILE_ID_ICCID, TP_ICCID1),
                   ES10C_DELETE_PROFILE_NOT_IN_DISABLED_STATE);
  assert_int_equal(euicc_sim_get_profile_count(card->sim), 3);

  assert_int_equal(delete_profile(card, ES10_PROFILE_ID_ICCID, TP_ICCID2), ES10C_DELETE_PROFILE_OK);
  assert_int_equal(euicc_sim_get_profile_count(card->sim), 2);
  assert_int_equal(euicc_sim_get_profile_state(card->sim, TP_ICCID2), -1);
  assert_int_equal(delete_profile(card, ES10_PROFILE_ID_ICCID, TP_ICCID2),
                   ES10C_DELETE_PROFILE_ICCID_OR_AID_NOT_FOUND);

  assert_int_equal(delete_profile(card, ES10_PROFILE_ID_ISDP_AID, TP_AID3),
                   ES10C_DELETE_PROFILE_OK);
  {
    g_autoptr(GPtrArray) profiles = get_all_profiles(card);
    assert_int_equal(profiles->len, 1);
    assert_string_equal(((Es10ProfileInfo *)g_ptr_array_index(profiles, 0))->iccid, TP_ICCID1);
  }
}

static Es10cSetNicknameResult set_nickname(Card *card, const char *iccid, const char *nickname)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) r = card_call(card, es10c_set_nickname_encode(iccid, nickname, &error));
  Es10cSetNicknameResult result = ES10C_SET_NICKNAME_UNDEFINED_ERROR;

  DECODE_OK(es10c_set_nickname_decode(DATA(r), &result, &decode_error_));
  return result;
}

static void test_set_nickname(void **state)
{
  g_autoptr(Card) card = card_open("three-profiles.card");
  const char *nickname = "Reisen \xc3\xbc"
                         "ber Grenzen"; /* UTF-8 survives */

  assert_int_equal(set_nickname(card, TP_ICCID2, nickname), ES10C_SET_NICKNAME_OK);
  assert_string_equal(euicc_sim_get_profile_nickname(card->sim, TP_ICCID2), nickname);
  {
    g_autoptr(GPtrArray) profiles = get_all_profiles(card);
    assert_string_equal(find_profile(profiles, TP_ICCID2)->nickname, nickname);
    assert_string_equal(find_profile(profiles, TP_ICCID1)->nickname, "Work");
  }
  assert_int_equal(set_nickname(card, "89000000000000000000", "x"),
                   ES10C_SET_NICKNAME_ICCID_NOT_FOUND);
}

static void test_notifications(void **state)
{
  g_autoptr(Card) card = card_open("three-profiles.card");
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GPtrArray) pending = NULL;
  guint before = euicc_sim_get_notification_count(card->sim);

  /* Enable (and thereby disable) and delete: each writes a notification
   * for the addresses the profiles name (SGP.22 3.2.1, 3.2.3). */
  assert_int_equal(enable(card, ES10_PROFILE_ID_ICCID, TP_ICCID2), ES10C_ENABLE_PROFILE_OK);
  assert_int_equal(delete_profile(card, ES10_PROFILE_ID_ICCID, TP_ICCID3), ES10C_DELETE_PROFILE_OK);
  assert_true(euicc_sim_get_notification_count(card->sim) >= before + 2);

  list = list_notifications(card);
  assert_notifications_match_card(card, list);
  {
    gboolean saw_delete = FALSE, saw_enable = FALSE;
    for (guint i = 0; i < list->len; i++) {
      Es10NotificationMetadata *n = g_ptr_array_index(list, i);
      if (n->operation == ES10_NOTIFICATION_DELETE && !g_strcmp0(n->iccid, TP_ICCID3)) {
        assert_string_equal(n->notification_address, "smdp.example.com");
        saw_delete = TRUE;
      }
      if (n->operation == ES10_NOTIFICATION_ENABLE && !g_strcmp0(n->iccid, TP_ICCID2)) {
        assert_string_equal(n->notification_address, "rsp.example.net");
        saw_enable = TRUE;
      }
    }
    assert_true(saw_delete);
    assert_true(saw_enable);
  }

  /* RetrieveNotificationsList: the same notifications, with their exact DER. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) r =
        card_call(card, es10b_retrieve_notifications_list_encode(ES10B_SEARCH_ALL, 0, &error));
    Es10bRetrieveNotificationsResult result = ES10B_RETRIEVE_NOTIFICATIONS_UNDEFINED_ERROR;
    gsize rlen;
    const guint8 *rbuf = g_bytes_get_data(r, &rlen);

    DECODE_OK(es10b_retrieve_notifications_list_decode(DATA(r), &result, &pending, &decode_error_));
    assert_int_equal(result, ES10B_RETRIEVE_NOTIFICATIONS_OK);
    assert_int_equal(pending->len, list->len);
    for (guint i = 0; i < pending->len; i++) {
      Es10PendingNotification *p = g_ptr_array_index(pending, i);
      Es10NotificationMetadata *m = g_ptr_array_index(list, i);
      gsize dlen;
      const guint8 *der;
      Tlv tlv;

      assert_int_equal(p->metadata.seq_number, m->seq_number);
      assert_int_equal(p->metadata.operation, m->operation);
      assert_string_equal(p->metadata.notification_address, m->notification_address);
      assert_non_null(p->der);
      der = g_bytes_get_data(p->der, &dlen);
      /* One whole element, byte for byte inside what the card sent. */
      DECODE_OK(tlv_parse(der, dlen, &tlv, &decode_error_));
      assert_true(tlv.tag == 0xBF37 || tlv.tag == 0x30);
      assert_int_equal(p->installation_result, tlv.tag == 0xBF37);
      assert_non_null(memmem(rbuf, rlen, der, dlen));
    }
  }

  /* By sequence number. */
  {
    Es10NotificationMetadata *first = g_ptr_array_index(list, 0);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) r = card_call(card, es10b_retrieve_notifications_list_encode(
                                              ES10B_SEARCH_SEQ_NUMBER, first->seq_number, &error));
    Es10bRetrieveNotificationsResult result = ES10B_RETRIEVE_NOTIFICATIONS_UNDEFINED_ERROR;
    g_autoptr(GPtrArray) one = NULL;

    DECODE_OK(es10b_retrieve_notifications_list_decode(DATA(r), &result, &one, &decode_error_));
    assert_int_equal(result, ES10B_RETRIEVE_NOTIFICATIONS_OK);
    assert_int_equal(one->len, 1);
    assert_int_equal(((Es10PendingNotification *)g_ptr_array_index(one, 0))->metadata.seq_number,
                     first->seq_number);
  }

  /* RemoveNotificationFromList, once per notification, then nothing left. */
  for (guint i = 0; i < list->len; i++) {
    Es10NotificationMetadata *n = g_ptr_array_index(list, i);
    g_autoptr(GBytes) r =
        card_call(card, es10b_remove_notification_from_list_encode(n->seq_number));
    Es10bRemoveNotificationResult result = ES10B_REMOVE_NOTIFICATION_UNDEFINED_ERROR;

    DECODE_OK(es10b_remove_notification_from_list_decode(DATA(r), &result, &decode_error_));
    assert_int_equal(result, ES10B_REMOVE_NOTIFICATION_OK);
    assert_int_equal(euicc_sim_get_notification_count(card->sim), list->len - i - 1);
  }
  {
    Es10NotificationMetadata *n = g_ptr_array_index(list, 0);
    g_autoptr(GBytes) r =
        card_call(card, es10b_remove_notification_from_list_encode(n->seq_number));
    Es10bRemoveNotificationResult result = ES10B_REMOVE_NOTIFICATION_UNDEFINED_ERROR;

    DECODE_OK(es10b_remove_notification_from_list_decode(DATA(r), &result, &decode_error_));
    assert_int_equal(result, ES10B_REMOVE_NOTIFICATION_NOTHING_TO_DELETE);
  }
  {
    g_autoptr(GPtrArray) empty = list_notifications(card);
    assert_int_equal(empty->len, 0);
  }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) r =
        card_call(card, es10b_retrieve_notifications_list_encode(ES10B_SEARCH_ALL, 0, &error));
    Es10bRetrieveNotificationsResult result = ES10B_RETRIEVE_NOTIFICATIONS_UNDEFINED_ERROR;
    g_autoptr(GPtrArray) none = NULL;

    DECODE_OK(es10b_retrieve_notifications_list_decode(DATA(r), &result, &none, &decode_error_));
    /* SGP.22 5.7.10: an empty list is noResultAvailable, or OK with nothing. */
    assert_true(result == ES10B_RETRIEVE_NOTIFICATIONS_NO_RESULT_AVAILABLE ||
                result == ES10B_RETRIEVE_NOTIFICATIONS_OK);
    assert_int_equal(none->len, 0);
  }
}

static Es10cEuiccMemoryResetResult memory_reset(Card *card, guint32 options)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) r = card_call(card, es10c_euicc_memory_reset_encode(options, &error));
  Es10cEuiccMemoryResetResult result = ES10C_EUICC_MEMORY_RESET_UNDEFINED_ERROR;

  DECODE_OK(es10c_euicc_memory_reset_decode(DATA(r), &result, &decode_error_));
  return result;
}

static void test_memory_reset(void **state)
{
  g_autoptr(Card) card = card_open("three-profiles.card");

  assert_int_equal(memory_reset(card, ES10C_RESET_DELETE_OPERATIONAL_PROFILES),
                   ES10C_EUICC_MEMORY_RESET_OK);
  assert_int_equal(euicc_sim_get_profile_count(card->sim), 0);
  {
    g_autoptr(GPtrArray) profiles = get_all_profiles(card);
    assert_int_equal(profiles->len, 0);
  }
  /* The default SM-DP+ address survives unless asked for. */
  assert_string_equal(euicc_sim_get_default_smdp_address(card->sim), "smdp.example.com");
  assert_int_equal(memory_reset(card, ES10C_RESET_DELETE_OPERATIONAL_PROFILES),
                   ES10C_EUICC_MEMORY_RESET_NOTHING_TO_DELETE);

  assert_int_equal(memory_reset(card, ES10C_RESET_DEFAULT_SMDP_ADDRESS),
                   ES10C_EUICC_MEMORY_RESET_OK);
  assert_null(euicc_sim_get_default_smdp_address(card->sim));
  {
    g_autoptr(Es10aConfiguredAddresses) addr = get_addresses(card);
    assert_null(addr->default_dp_address);
  }
}

static void test_get_rat_without_rules(void **state)
{
  g_autoptr(Card) card = card_open("three-profiles.card");
  g_autoptr(GBytes) r = card_call(card, es10b_get_rat_encode());
  g_autoptr(GPtrArray) rules = NULL;

  DECODE_OK(es10b_get_rat_decode(DATA(r), &rules, &decode_error_));
  assert_int_equal(rules->len, 0);
}

/* iccid-lengths.card: 18, 19 and 20 digits, F-padded on the card. */
static void test_iccid_lengths(void **state)
{
  static const char *const iccids[] = {"894400000000001234", "8944000000000012345",
                                       "89010000000000123456"};
  static const char *const names[] = {"Eighteen Digits", "Nineteen Digits", "Twenty Digits"};
  g_autoptr(Card) card = card_open("iccid-lengths.card");
  g_autoptr(GPtrArray) all = get_all_profiles(card);

  assert_int_equal(all->len, 3);
  for (guint i = 0; i < G_N_ELEMENTS(iccids); i++) {
    Es10cGetProfilesInfoRequest req = {.search = ES10C_PROFILES_SEARCH_ICCID, .id = iccids[i]};
    g_autoptr(GPtrArray) one = get_profiles(card, &req);
    Es10ProfileInfo *p = find_profile(all, iccids[i]);

    assert_string_equal(p->profile_name, names[i]);
    assert_int_equal(one->len, 1);
    assert_string_equal(((Es10ProfileInfo *)g_ptr_array_index(one, 0))->iccid, iccids[i]);
    assert_int_equal(set_nickname(card, iccids[i], names[i]), ES10C_SET_NICKNAME_OK);
    assert_string_equal(euicc_sim_get_profile_nickname(card->sim, iccids[i]), names[i]);
  }
  assert_int_equal(find_profile(all, iccids[1])->state, ES10_PROFILE_STATE_ENABLED);

  /* The 18-digit one, enabled by ICCID; its notification names it the same way. */
  assert_int_equal(enable(card, ES10_PROFILE_ID_ICCID, iccids[0]), ES10C_ENABLE_PROFILE_OK);
  assert_int_equal(euicc_sim_get_profile_state(card->sim, iccids[0]), 1);
  assert_int_equal(euicc_sim_get_profile_state(card->sim, iccids[1]), 0);
  {
    g_autoptr(GPtrArray) list = list_notifications(card);
    gboolean found = FALSE;
    assert_notifications_match_card(card, list);
    for (guint i = 0; i < list->len; i++) {
      Es10NotificationMetadata *n = g_ptr_array_index(list, i);
      if (n->operation == ES10_NOTIFICATION_ENABLE)
        found = !g_strcmp0(n->iccid, iccids[0]);
    }
    assert_true(found);
  }
}

/* ppr.card: PPR1 on the enabled profile, PPR2 on a disabled one. */
#define PPR_ICCID1 "8944500000000000101"
#define PPR_ICCID2 "8944500000000000202"
#define PPR_ICCID3 "8944500000000000303"

static void test_policy_rules(void **state)
{
  g_autoptr(Card) card = card_open("ppr.card");
  g_autoptr(GPtrArray) profiles = get_all_profiles(card);

  assert_true(find_profile(profiles, PPR_ICCID1)->has_policy_rules);
  assert_int_equal(find_profile(profiles, PPR_ICCID1)->policy_rules, ES10_PPR1);
  assert_true(find_profile(profiles, PPR_ICCID2)->has_policy_rules);
  assert_int_equal(find_profile(profiles, PPR_ICCID2)->policy_rules, ES10_PPR2);
  assert_false(find_profile(profiles, PPR_ICCID3)->has_policy_rules &&
               find_profile(profiles, PPR_ICCID3)->policy_rules != 0);

  /* SGP.22 5.7.17 / 5.7.16: PPR1 forbids disabling, also the implicit one. */
  assert_int_equal(disable(card, ES10_PROFILE_ID_ICCID, PPR_ICCID1),
                   ES10C_DISABLE_PROFILE_DISALLOWED_BY_POLICY);
  assert_int_equal(enable(card, ES10_PROFILE_ID_ICCID, PPR_ICCID3),
                   ES10C_ENABLE_PROFILE_DISALLOWED_BY_POLICY);
  assert_int_equal(euicc_sim_get_profile_state(card->sim, PPR_ICCID1), 1);
  assert_int_equal(euicc_sim_get_profile_state(card->sim, PPR_ICCID3), 0);

  /* SGP.22 5.7.18: PPR2 forbids deleting. */
  assert_int_equal(delete_profile(card, ES10_PROFILE_ID_ICCID, PPR_ICCID2),
                   ES10C_DELETE_PROFILE_DISALLOWED_BY_POLICY);
  assert_int_equal(delete_profile(card, ES10_PROFILE_ID_ICCID, PPR_ICCID3),
                   ES10C_DELETE_PROFILE_OK);
  assert_int_equal(euicc_sim_get_profile_count(card->sim), 2);
}

static void test_get_rat(void **state)
{
  g_autoptr(Card) card = card_open("ppr.card");
  g_autoptr(GBytes) r = card_call(card, es10b_get_rat_encode());
  g_autoptr(GPtrArray) rules = NULL;
  Es10bRatRule *rule;
  Es10OperatorId *op;

  DECODE_OK(es10b_get_rat_decode(DATA(r), &rules, &decode_error_));
  /* rat-rule ppr1,ppr2 EEEEEE consent */
  assert_int_equal(rules->len, 1);
  rule = g_ptr_array_index(rules, 0);
  assert_int_equal(rule->ppr_ids, ES10_PPR1 | ES10_PPR2);
  assert_int_equal(rule->ppr_flags, ES10B_RAT_FLAG_CONSENT_REQUIRED);
  assert_int_equal(rule->allowed_operators->len, 1);
  op = g_ptr_array_index(rule->allowed_operators, 0);
  assert_string_equal(op->mcc_mnc, "EEEEEE");
  assert_null(op->gid1);
  assert_null(op->gid2);
}

/* with-notifications.card: four notifications waiting when the card starts. */
static void test_pending_notifications_from_card_file(void **state)
{
  static const struct {
    guint seq;
    Es10NotificationEvent event;
    const char *address, *iccid;
  } expected[] = {
      {4, ES10_NOTIFICATION_INSTALL, "smdp.example.com", "8944476500005550002"},
      {5, ES10_NOTIFICATION_ENABLE, "smdp.example.com", "8944476500005550001"},
      {6, ES10_NOTIFICATION_DISABLE, "smdp.example.com", "8944476500005550002"},
      {7, ES10_NOTIFICATION_DELETE, "rsp.example.net", "89012600000000999999"},
  };
  g_autoptr(Card) card = card_open("with-notifications.card");
  g_autoptr(GPtrArray) list = list_notifications(card);
  g_autoptr(GPtrArray) pending = NULL;

  assert_int_equal(list->len, G_N_ELEMENTS(expected));
  for (guint i = 0; i < list->len; i++) {
    Es10NotificationMetadata *n = g_ptr_array_index(list, i);
    assert_int_equal(n->seq_number, expected[i].seq);
    assert_int_equal(n->operation, expected[i].event);
    assert_string_equal(n->notification_address, expected[i].address);
    assert_string_equal(n->iccid, expected[i].iccid);
  }

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) r =
        card_call(card, es10b_retrieve_notifications_list_encode(ES10B_SEARCH_ALL, 0, &error));
    Es10bRetrieveNotificationsResult result = ES10B_RETRIEVE_NOTIFICATIONS_UNDEFINED_ERROR;

    DECODE_OK(es10b_retrieve_notifications_list_decode(DATA(r), &result, &pending, &decode_error_));
    assert_int_equal(result, ES10B_RETRIEVE_NOTIFICATIONS_OK);
  }
  assert_int_equal(pending->len, G_N_ELEMENTS(expected));
  for (guint i = 0; i < pending->len; i++) {
    Es10PendingNotification *p = g_ptr_array_index(pending, i);
    const guint8 *der = g_bytes_get_data(p->der, NULL);

    assert_int_equal(p->metadata.seq_number, expected[i].seq);
    assert_int_equal(p->metadata.operation, expected[i].event);
    assert_string_equal(p->metadata.notification_address, expected[i].address);
    /* SGP.22 5.7.10: an install is reported as a ProfileInstallationResult
     * (BF37), the others as an OtherSignedNotification (SEQUENCE). */
    assert_int_equal(p->installation_result, expected[i].event == ES10_NOTIFICATION_INSTALL);
    if (p->installation_result) {
      assert_int_equal(der[0], 0xBF);
      assert_int_equal(der[1], 0x37);
    } else {
      assert_int_equal(der[0], 0x30);
    }
  }

  /* Only the deletes. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) r =
        card_call(card, es10b_retrieve_notifications_list_encode(ES10B_SEARCH_OPERATION,
                                                                 ES10_NOTIFICATION_DELETE, &error));
    Es10bRetrieveNotificationsResult result = ES10B_RETRIEVE_NOTIFICATIONS_UNDEFINED_ERROR;
    g_autoptr(GPtrArray) deletes = NULL;

    DECODE_OK(es10b_retrieve_notifications_list_decode(DATA(r), &result, &deletes, &decode_error_));
    assert_int_equal(result, ES10B_RETRIEVE_NOTIFICATIONS_OK);
    assert_int_equal(deletes->len, 1);
    assert_int_equal(
        ((Es10PendingNotification *)g_ptr_array_index(deletes, 0))->metadata.seq_number, 7);
  }

  /* Removing seq 5 leaves 4, 6, 7. */
  {
    g_autoptr(GBytes) r = card_call(card, es10b_remove_notification_from_list_encode(5));
    Es10bRemoveNotificationResult result = ES10B_REMOVE_NOTIFICATION_UNDEFINED_ERROR;
    g_autoptr(GPtrArray) left = NULL;

    DECODE_OK(es10b_remove_notification_from_list_decode(DATA(r), &result, &decode_error_));
    assert_int_equal(result, ES10B_REMOVE_NOTIFICATION_OK);
    left = list_notifications(card);
    assert_int_equal(left->len, 3);
    assert_int_equal(((Es10NotificationMetadata *)g_ptr_array_index(left, 0))->seq_number, 4);
    assert_int_equal(((Es10NotificationMetadata *)g_ptr_array_index(left, 1))->seq_number, 6);
    assert_int_equal(((Es10NotificationMetadata *)g_ptr_array_index(left, 2))->seq_number, 7);
    assert_notifications_match_card(card, left);
  }
}

/* empty.card: a factory-fresh eUICC. */
static void test_empty_card(void **state)
{
  g_autoptr(Card) card = card_open("empty.card");
  g_autofree gchar *eid = get_eid(card);
  g_autoptr(GPtrArray) profiles = get_all_profiles(card);
  g_autoptr(GPtrArray) notifications = list_notifications(card);
  g_autoptr(Es10aConfiguredAddresses) addr = get_addresses(card);
  g_autoptr(Es10bEuiccInfo2) info = get_info2(card);

  assert_string_equal(eid, "89049032123451234512345678901001");
  assert_int_equal(profiles->len, 0);
  assert_int_equal(notifications->len, 0);
  assert_null(addr->default_dp_address);
  assert_string_equal(addr->root_ds_address, "smds.example.com");
  assert_true(info->has_free_nv_memory);
  assert_int_equal(info->free_nv_memory, 1523000);
  assert_int_equal(info->installed_applications, 2);
  assert_int_equal(memory_reset(card, ES10C_RESET_DELETE_OPERATIONAL_PROFILES),
                   ES10C_EUICC_MEMORY_RESET_NOTHING_TO_DELETE);
  assert_int_equal(enable(card, ES10_PROFILE_ID_ICCID, "8944476500001234567"),
                   ES10C_ENABLE_PROFILE_ICCID_OR_AID_NOT_FOUND);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get_eid),
      cmocka_unit_test(test_get_euicc_info1),
      cmocka_unit_test(test_get_euicc_info2),
      cmocka_unit_test(test_get_euicc_info2_every_field),
      cmocka_unit_test(test_get_configured_addresses),
      cmocka_unit_test(test_set_default_dp_address),
      cmocka_unit_test(test_get_profiles_info_all),
      cmocka_unit_test(test_get_profiles_info_filters),
      cmocka_unit_test(test_enable_disable_state_rules),
      cmocka_unit_test(test_delete_state_rules),
      cmocka_unit_test(test_set_nickname),
      cmocka_unit_test(test_notifications),
      cmocka_unit_test(test_memory_reset),
      cmocka_unit_test(test_get_rat_without_rules),
      cmocka_unit_test(test_iccid_lengths),
      cmocka_unit_test(test_policy_rules),
      cmocka_unit_test(test_get_rat),
      cmocka_unit_test(test_pending_notifications_from_card_file),
      cmocka_unit_test(test_empty_card),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
