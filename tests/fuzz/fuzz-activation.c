/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the activation code parser (SGP.22 4.1). Besides "no
 * crash, no leak": a verdict and its GError agree, what parses holds only
 * what SGP.22 allows, and writing it back out parses to the same values.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "es10/activation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gboolean same(const char *a, const char *b)
{
  return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  g_autofree gchar *text = g_strndup((const gchar *)data, size);
  g_autoptr(Es10ActivationCode) ac = NULL;
  g_autoptr(Es10ActivationCode) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *written = NULL;
  gboolean ok;

  ok = es10_activation_code_parse(text, &ac, &error);
  if (ok != (error == NULL) || ok != (ac != NULL))
    abort();
  if (!ok) {
    if (error->domain != ES10_ERROR || error->code != ES10_ERROR_INVALID_ACTIVATION_CODE ||
        !error->message || !*error->message)
      abort();
    return 0;
  }
  if (!es10_activation_code_address_is_valid(ac->address) || !*ac->matching_id ||
      strchr(ac->matching_id, '$') || strchr(ac->address, '$') ||
      (ac->oid && (strchr(ac->oid, '$') || !*ac->oid)))
    abort();
  for (const char *p = ac->matching_id; *p; p++) {
    if (!g_ascii_isgraph(*p))
      abort();
  }
  written = g_strdup_printf("LPA:1$%s$%s%s%s%s", ac->address, ac->matching_id,
                            ac->oid || ac->cc_required ? "$" : "", ac->oid ? ac->oid : "",
                            ac->cc_required ? "$1" : "");
  if (!es10_activation_code_parse(written, &again, NULL))
    abort();
  if (!same(again->address, ac->address) || !same(again->matching_id, ac->matching_id) ||
      !same(again->oid, ac->oid) || again->cc_required != ac->cc_required)
    abort();
  return 0;
}
