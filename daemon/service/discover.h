/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SM-DS event retrieval (SGP.22 3.6.2/3.6.3): which events an SM-DS holds
 * for this eUICC, each an SM-DP+ address and an event id that Download takes
 * as the activation code 1$ADDRESS$EVENT_ID.
 */
#pragma once

#include "service/service.h"

G_BEGIN_DECLS

/* One event (an Es11Event of the SM-DS's answer). */
typedef struct {
  gchar *address;
  gchar *event_id;
} DiscoveredEvent;

void discovered_event_free(DiscoveredEvent *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DiscoveredEvent, discovered_event_free)

/* smds_address NULL or "": the card's root SM-DS (EuiccConfiguredAddresses). */
void euicc_discover(Euicc *euicc, const char *smds_address, GCancellable *cancellable,
                    GAsyncReadyCallback cb, gpointer user_data);
/* A GPtrArray of DiscoveredEvent* (maybe empty), or NULL with error. */
GPtrArray *euicc_discover_finish(Euicc *euicc, GAsyncResult *res, GError **error);

G_END_DECLS
