/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Rules Authorisation Table as the download reads it
 * (service/download-ppr.c, SGP.22 2.9.2): which rule, if any, allows a PPR
 * for a profile's owner. The card files cannot express gid1 and gid2, so
 * the end-to-end download tests never reach those rules; here the RAT is
 * built by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "es10/es10.h"
#include "service/download-private.h"
#include "test-util.h"

/* An OperatorID; gid1/gid2 as hex, NULL for absent. */
static Es10OperatorId *op(const char *mcc_mnc, const char *gid1, const char *gid2)
{
  Es10OperatorId *o = g_new0(Es10OperatorId, 1);

  o->mcc_mnc = g_strdup(mcc_mnc);
  if (gid1)
    o->gid1 = es10_hex_decode(gid1, NULL);
  if (gid2)
    o->gid2 = es10_hex_decode(gid2, NULL);
  return o;
}

/* A rule for ppr_ids allowing the one operator. */
static Es10bRatRule *rule(guint32 ppr_ids, Es10OperatorId *allowed)
{
  Es10bRatRule *r = g_new0(Es10bRatRule, 1);

  r->ppr_ids = ppr_ids;
  r->allowed_operators = g_ptr_array_new_with_free_func((GDestroyNotify)es10_operator_id_free);
  g_ptr_array_add(r->allowed_operators, allowed);
  return r;
}

/* A RAT of one rule (PPR1) allowing allowed: does it allow owner? */
static gboolean allows(Es10OperatorId *allowed, Es10OperatorId *owner)
{
  g_autoptr(GPtrArray) rat = g_ptr_array_new_with_free_func((GDestroyNotify)es10b_rat_rule_free);
  g_autoptr(Es10OperatorId) o = owner;
  Es10bRatRule *r = rule(ES10_PPR1, allowed);

  g_ptr_array_add(rat, r);
  return download_ppr_find_rule(rat, ES10_PPR1, o) == r;
}

static void test_mcc_mnc_must_be_equal(void **state)
{
  assert_true(allows(op("310260", NULL, NULL), op("310260", NULL, NULL)));
  assert_false(allows(op("310260", NULL, NULL), op("310261", NULL, NULL)));
  assert_false(allows(op("310260", NULL, NULL), op("311260", NULL, NULL)));
  assert_true(allows(op("26201", NULL, NULL), op("26201", NULL, NULL)));
  assert_false(allows(op("26201", NULL, NULL), op("26202", NULL, NULL)));
}

static void test_wildcard_digits_match_any(void **state)
{
  assert_true(allows(op("EEEEEE", NULL, NULL), op("310260", NULL, NULL)));
  assert_true(allows(op("310EEE", NULL, NULL), op("310260", NULL, NULL)));
  assert_false(allows(op("310EEE", NULL, NULL), op("311260", NULL, NULL)));
  assert_true(allows(op("E1E26E", NULL, NULL), op("310260", NULL, NULL)));
  assert_false(allows(op("E1E26E", NULL, NULL), op("320260", NULL, NULL)));
  assert_true(allows(op("2620E", NULL, NULL), op("26201", NULL, NULL)));
  assert_false(allows(op("2620E", NULL, NULL), op("26211", NULL, NULL)));
}

/*
 * A 2-digit MNC is stored with 'F' in the third MNC nibble (24.008
 * 10.5.1.13; es10_mcc_mnc_to_bytes). That filler is a digit like the
 * others for the match: a 2-digit MNC never equals a 3-digit one, and only
 * the wildcard in that place covers both.
 */
static void test_two_digit_mnc_filler(void **state)
{
  assert_false(allows(op("26201", NULL, NULL), op("262010", NULL, NULL)));
  assert_false(allows(op("262010", NULL, NULL), op("26201", NULL, NULL)));
  assert_true(allows(op("26201E", NULL, NULL), op("26201", NULL, NULL)));
  assert_true(allows(op("26201E", NULL, NULL), op("262010", NULL, NULL)));
  assert_true(allows(op("EEEEEE", NULL, NULL), op("26201", NULL, NULL)));
  /* Five wildcards mean a 2-digit MNC: the filler does not match a digit. */
  assert_true(allows(op("EEEEE", NULL, NULL), op("26201", NULL, NULL)));
  assert_false(allows(op("EEEEE", NULL, NULL), op("310260", NULL, NULL)));
}

static void test_gid1_only_binds_when_the_rule_has_it(void **state)
{
  /* A rule without gid1 matches an owner with or without one. */
  assert_true(allows(op("310260", NULL, NULL), op("310260", "A1", NULL)));
  assert_true(allows(op("310260", NULL, NULL), op("310260", NULL, NULL)));
  /* A rule with gid1 wants the owner's to be the same bytes. */
  assert_true(allows(op("310260", "A1B2", NULL), op("310260", "A1B2", NULL)));
  assert_false(allows(op("310260", "A1B2", NULL), op("310260", "A1B3", NULL)));
  assert_false(allows(op("310260", "A1B2", NULL), op("310260", "A1", NULL)));
  assert_false(allows(op("310260", "A1B2", NULL), op("310260", NULL, NULL)));
  /* gid1 does not stand in for the MCC/MNC. */
  assert_false(allows(op("310260", "A1B2", NULL), op("310261", "A1B2", NULL)));
  assert_true(allows(op("310EEE", "A1B2", NULL), op("310261", "A1B2", NULL)));
}

static void test_gid2_only_binds_when_the_rule_has_it(void **state)
{
  assert_true(allows(op("310260", NULL, NULL), op("310260", NULL, "C3")));
  assert_true(allows(op("310260", NULL, "C3"), op("310260", NULL, "C3")));
  assert_false(allows(op("310260", NULL, "C3"), op("310260", NULL, "C4")));
  assert_false(allows(op("310260", NULL, "C3"), op("310260", NULL, NULL)));
  /* gid1 and gid2 are separate fields: one is not matched against the other. */
  assert_false(allows(op("310260", NULL, "C3"), op("310260", "C3", NULL)));
  assert_false(allows(op("310260", "C3", NULL), op("310260", NULL, "C3")));
  /* Both in the rule: both must be equal. */
  assert_true(allows(op("310260", "A1", "C3"), op("310260", "A1", "C3")));
  assert_false(allows(op("310260", "A1", "C3"), op("310260", "A1", "C4")));
  assert_false(allows(op("310260", "A1", "C3"), op("310260", "A2", "C3")));
  assert_false(allows(op("310260", "A1", "C3"), op("310260", "A1", NULL)));
}

static void test_profile_without_owner_matches_nothing(void **state)
{
  g_autoptr(GPtrArray) rat = g_ptr_array_new_with_free_func((GDestroyNotify)es10b_rat_rule_free);

  /* Not even the rule that allows every operator (2.9.2). */
  g_ptr_array_add(rat, rule(ES10_PPR1 | ES10_PPR2, op("EEEEEE", NULL, NULL)));
  g_ptr_array_add(rat, rule(ES10_PPR1 | ES10_PPR2, op("EEEEE", NULL, NULL)));
  assert_null(download_ppr_find_rule(rat, ES10_PPR1, NULL));
  assert_null(download_ppr_find_rule(rat, ES10_PPR2, NULL));
}

static void test_first_rule_for_the_ppr_wins(void **state)
{
  g_autoptr(GPtrArray) rat = g_ptr_array_new_with_free_func((GDestroyNotify)es10b_rat_rule_free);
  g_autoptr(Es10OperatorId) owner = op("310260", "A1", NULL);
  Es10bRatRule *ppr2_only = rule(ES10_PPR2, op("310260", NULL, NULL));
  Es10bRatRule *other_gid1 = rule(ES10_PPR1, op("310260", "A2", NULL));
  Es10bRatRule *with_gid1 = rule(ES10_PPR1, op("310260", "A1", NULL));
  Es10bRatRule *anyone = rule(ES10_PPR1 | ES10_PPR2, op("EEEEEE", NULL, NULL));

  g_ptr_array_add(rat, ppr2_only);
  g_ptr_array_add(rat, other_gid1);
  g_ptr_array_add(rat, with_gid1);
  g_ptr_array_add(rat, anyone);
  /* A rule for another PPR, or for another gid1, is passed over. */
  assert_ptr_equal(download_ppr_find_rule(rat, ES10_PPR1, owner), with_gid1);
  assert_ptr_equal(download_ppr_find_rule(rat, ES10_PPR2, owner), ppr2_only);
  assert_null(download_ppr_find_rule(rat, ES10_PPR3, owner));
  /* Any of a rule's allowed operators will do. */
  g_ptr_array_add(other_gid1->allowed_operators, op("3102EE", NULL, NULL));
  assert_ptr_equal(download_ppr_find_rule(rat, ES10_PPR1, owner), other_gid1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mcc_mnc_must_be_equal),
      cmocka_unit_test(test_wildcard_digits_match_any),
      cmocka_unit_test(test_two_digit_mnc_filler),
      cmocka_unit_test(test_gid1_only_binds_when_the_rule_has_it),
      cmocka_unit_test(test_gid2_only_binds_when_the_rule_has_it),
      cmocka_unit_test(test_profile_without_owner_matches_nothing),
      cmocka_unit_test(test_first_rule_for_the_ppr_wins),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
