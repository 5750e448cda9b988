/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Profile Policy Rules at download time (SGP.22 v2.2 2.9 and 3.1.3.2).
 *
 * The profile's metadata may carry PPRs: PPR1 (disabling not allowed),
 * PPR2 (deletion not allowed). Before the end user is asked, the LPAd
 * checks each of them against the eUICC's Rules Authorisation Table
 * (ES10b.GetRAT) and cancels the session with reason pprNotAllowed
 * when one is not allowed; a rule with consentRequired makes the user's
 * consent cover the PPRs. The card repeats the check itself at
 * StoreMetadata (5.5.3, install result pprNotAllowed), so this is the
 * LPAd's courtesy of a clear answer before anything is downloaded, not the
 * only guard.
 */
#include "service/download-private.h"
#include "service/euicc-private.h"

#include "es10/es10.h"

/* The PPRs the RAT has a say on: pprUpdateControl only says how an
 * SM-DP+ may update them later (ES6), it restricts nothing on the card. */
#define PPRS_RULED (ES10_PPR1 | ES10_PPR2 | ES10_PPR3)

static Es10StoreMetadataRequest *decode(GBytes *metadata_der)
{
  Es10StoreMetadataRequest *m = NULL;

  if (!metadata_der ||
      !es10_store_metadata_request_decode(g_bytes_get_data(metadata_der, NULL),
                                          g_bytes_get_size(metadata_der), &m, NULL))
    return NULL;
  return m;
}

guint32 download_ppr_wanted(GBytes *metadata_der)
{
  g_autoptr(Es10StoreMetadataRequest) m = decode(metadata_der);

  return m && m->has_policy_rules ? m->policy_rules & PPRS_RULED : 0;
}

gboolean download_ppr_check_profiles(Euicc *euicc, guint32 pprs, const char *iccid, GError **error)
{
  GPtrArray *profiles;

  if (!(pprs & ES10_PPR1))
    return TRUE;
  /*
   * SGP.22 v2.2 2.9.1 and 3.1.3.2, as read here: a profile with PPR1 is
   * only accepted while the eUICC holds no Operational Profile, whether
   * enabled or not; Test and Provisioning profiles do not count. The
   * spec's wording ("already installed Operational Profile") does not say
   * whether a disabled one counts; this takes the stricter reading, which
   * is also what euicc-sim's StoreMetadata does. The profile list is the
   * cache every operation keeps current: no APDU.
   */
  profiles = euicc_get_profiles(euicc);
  for (guint i = 0; i < profiles->len; i++) {
    const Profile *p = g_ptr_array_index(profiles, i);
    g_autofree gchar *shown = NULL;

    if (p->profile_class != PROFILE_CLASS_OPERATIONAL)
      continue;
    shown = euicc_log_id(euicc, iccid);
    g_set_error(error, ESIMD_ERROR, ESIMD_ERROR_DISALLOWED_BY_POLICY,
                "Profile %s has PPR1 (disabling not allowed), which SGP.22 only accepts on an "
                "eUICC without operational profiles; this one already holds one",
                shown);
    return FALSE;
  }
  return TRUE;
}

/* One MCC/MNC digit of the 24.008 coding: 0-5 MCC1..MNC3 (F for none). */
static guint digit(const guint8 b[3], guint i)
{
  static const guint8 byte[6] = {0, 0, 1, 2, 2, 1}, high[6] = {0, 1, 0, 0, 1, 1};

  return high[i] ? b[byte[i]] >> 4 : b[byte[i]] & 0xF;
}

/*
 * SGP.22 2.9.2 (RAT): an allowed operator matches the profile owner when each
 * MCC/MNC digit is equal or the allowed one is the wildcard 'E', and its
 * gid1 and gid2, where it has them, equal the owner's.
 */
static gboolean operator_matches(const Es10OperatorId *allowed, const Es10OperatorId *owner)
{
  guint8 a[3], o[3];

  if (!es10_mcc_mnc_to_bytes(allowed->mcc_mnc, a, NULL) ||
      !es10_mcc_mnc_to_bytes(owner->mcc_mnc, o, NULL))
    return FALSE;
  for (guint i = 0; i < 6; i++)
    if (digit(a, i) != 0xE && digit(a, i) != digit(o, i))
      return FALSE;
  if (allowed->gid1 && (!owner->gid1 || !g_bytes_equal(allowed->gid1, owner->gid1)))
    return FALSE;
  if (allowed->gid2 && (!owner->gid2 || !g_bytes_equal(allowed->gid2, owner->gid2)))
    return FALSE;
  return TRUE;
}

const Es10bRatRule *download_ppr_find_rule(GPtrArray *rat, guint32 ppr, const Es10OperatorId *owner)
{
  if (!owner)
    return NULL;
  for (guint i = 0; i < rat->len; i++) {
    const Es10bRatRule *r = g_ptr_array_index(rat, i);

    if (!(r->ppr_ids & ppr) || !r->allowed_operators)
      continue;
    for (guint k = 0; k < r->allowed_operators->len; k++)
      if (operator_matches(g_ptr_array_index(r->allowed_operators, k), owner))
        return r;
  }
  return NULL;
}

gboolean download_ppr_check_rat(GBytes *metadata_der, GPtrArray *rat, gboolean *consent_required,
                                GError **error)
{
  g_autoptr(Es10StoreMetadataRequest) m = decode(metadata_der);
  guint32 pprs = m && m->has_policy_rules ? m->policy_rules & PPRS_RULED : 0;
  guint32 refused = 0;

  *consent_required = FALSE;
  /* Each PPR on its own (2.9.2): one rule may allow PPR1 for an
   * operator, another PPR2 with consent. A profile without an owner
   * matches no operator, the wildcard one included. */
  for (guint32 bit = ES10_PPR1; bit <= ES10_PPR3; bit <<= 1) {
    const Es10bRatRule *r;

    if (!(pprs & bit))
      continue;
    r = download_ppr_find_rule(rat, bit, m->owner);
    if (!r)
      refused |= bit;
    else if (r->ppr_flags & ES10B_RAT_FLAG_CONSENT_REQUIRED)
      *consent_required = TRUE;
  }
  if (refused) {
    g_autofree gchar *text = service_ppr_text(refused);

    g_set_error(error, ESIMD_ERROR, ESIMD_ERROR_DISALLOWED_BY_POLICY,
                "The eUICC's Rules Authorisation Table does not let %s set %s on a profile",
                m->owner ? m->owner->mcc_mnc : "a profile without an owner", text);
    *consent_required = FALSE;
    return FALSE;
  }
  return TRUE;
}
