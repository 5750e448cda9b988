/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The eUICC object as the operation files of service/ see it: its settings,
 * its cache and the listener behind it. struct _Euicc stays euicc.c's own;
 * the operations change the cache only through these calls, each of which
 * tells the listener what changed.
 */
#pragma once

#include "service/operation.h"
#include "service/service-private.h"

G_BEGIN_DECLS

typedef struct _Notifier Notifier;

const EuiccSettings *euicc_get_settings(Euicc *euicc);
/* "qmi:/dev/cdc-wdm0 slot 1", for logs. */
const char *euicc_get_label(Euicc *euicc);
/* The FIFO and the ISD-R channel every operation of this card goes through. */
OpRunner *euicc_get_runner(Euicc *euicc);
Notifier *euicc_get_notifier(Euicc *euicc);
/* The card is gone (invalidated) or esimd is closing it. */
gboolean euicc_is_closed(Euicc *euicc);
/* An operation found that the card left its slot: the manager removes it. */
void euicc_report_gone(Euicc *euicc);
gchar *euicc_log_id(Euicc *euicc, const char *id);

/* ---- the cache, from what the card said (each tells the listener) ---- */

void euicc_apply_eid(Euicc *euicc, const char *eid);
void euicc_apply_info2(Euicc *euicc, const Es10bEuiccInfo2 *info2);
void euicc_apply_addresses(Euicc *euicc, const Es10aConfiguredAddresses *addr);
void euicc_apply_default_smdp_address(Euicc *euicc, const char *address);
/* Makes the cached profiles what the card listed; an ICCID keeps its id. */
void euicc_apply_profiles(Euicc *euicc, GPtrArray *infos);
/* Adds the profile a download just installed (or updates the one with its
 * ICCID), as the card's install result and the metadata describe it. */
void euicc_apply_install(Euicc *euicc, const Es10ProfileInfo *info);
/* What the card did on a successful Enable/Disable, before it is read back. */
void euicc_apply_switch(Euicc *euicc, const char *iccid, gboolean enable);
void euicc_apply_delete(Euicc *euicc, const char *iccid);
void euicc_apply_nickname(Euicc *euicc, const char *iccid, const char *nickname);
void euicc_set_pending_notifications(Euicc *euicc, guint count);
void euicc_emit_notification_delivered(Euicc *euicc, const Es10NotificationMetadata *m);
const Profile *euicc_lookup_profile_by_iccid(Euicc *euicc, const char *iccid);

/* ---- read.c: filling the cache from the card ---- */

/*
 * The card reads that fill the cache, in the order a refresh makes them: one
 * ES10 command each, its request and the decoder that applies the answer.
 */
typedef enum {
  CARD_READ_EID,
  CARD_READ_INFO2,
  CARD_READ_ADDRESSES,
  CARD_READ_PROFILES,
  CARD_READ_NOTIFICATIONS,
  CARD_READ_COUNT,
} CardRead;

const char *card_read_doing(CardRead read);
/* Sends the read; the step function comes back with step+1. */
void card_read_send(GTask *task, CardRead read);
/* Applies the answer to card_read_send() to the cache. FALSE: the operation
 * failed with the error (euicc_op_fail), return from the step. */
gboolean card_read_apply(GTask *task, CardRead read);
/* CARD_READ_NOTIFICATIONS's answer as Es10NotificationMetadata*, the
 * PendingNotifications count updated; NULL as card_read_apply's FALSE. */
GPtrArray *card_read_notifications(GTask *task);
/*
 * After a change the card wrote a notification for: the answer to a
 * CARD_READ_NOTIFICATIONS. A failure to read it is logged (the change itself
 * is done) and TRUE returned; FALSE only when the answer was malformed.
 */
gboolean card_read_recount(GTask *task, const char *after);

/* ---- notify.c: delivering what the card wrote, on its own ---- */

Notifier *notifier_new(Euicc *euicc);
void notifier_free(Notifier *notifier);
/* After an operation that may have left notifications on the card: deliver
 * them now if auto-send is on, retrying with backoff on network failure. */
void notifier_schedule(Notifier *notifier);
/* Stops the retry timer and a delivery under way. */
void notifier_stop(Notifier *notifier);

G_END_DECLS
