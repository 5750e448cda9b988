/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The eUICC object and the machinery its operations share (euicc.c for the
 * cache and the profile operations, notify.c for the notifications).
 */
#pragma once

#include "service/card.h"
#include "service/operation.h"
#include "service/service-private.h"

G_BEGIN_DECLS

struct _Euicc {
  gint ref_count;
  Modem *modem;
  EuiccSettings settings; /* strings owned */
  const ServiceListener *listener;
  gpointer listener_data;
  gboolean announced; /* has an id: changes reach the listener */
  gboolean invalid;   /* the card is gone; nothing reaches the listener */
  gboolean closing;   /* shutting down: no new operation is taken */
  /* Told when an operation finds the card gone from its slot. */
  void (*gone_func)(Euicc *euicc, gpointer user_data);
  gpointer gone_data;
  guint id;
  guint slot;
  gboolean slot_active;
  gchar *label; /* "qmi:/dev/cdc-wdm0 slot 1", for logs */
  CardChannel channel;
  guint port_session; /* the modem's port session the channel was opened in */
  OpQueue *queue;

  /* A modem whose AT port ModemManager owns is held (modem_acquire) from
   * the start of an operation until the queue has been idle a moment: the
   * linger, after which a release operation closes the channel and lets go
   * of the modem. */
  gboolean holds_modem;
  GSource *linger;

  /* The cache: everything a getter returns. */
  gchar *eid;
  EuiccInfo info;
  gchar *default_smdp_address;
  gchar *root_smds_address;
  guint pending_notifications;
  GPtrArray *profiles; /* Profile*, in id order */
  guint next_profile_id;

  /* notify.c: automatic delivery */
  GSource *notify_timer;
  guint notify_backoff_s;           /* 0: no failure yet */
  gboolean notify_queued;           /* an automatic delivery is under way */
  gboolean notify_unreachable;      /* the last delivery met an unreachable SM-DP+ */
  GCancellable *notify_cancellable; /* of the automatic delivery under way */
};

/*
 * The task data of every operation: the queue's head first, then what the
 * operations need. Each operation has its own enum of steps and one step
 * function; step is that enum's value.
 */
typedef struct _EuiccOp EuiccOp;
typedef void (*EuiccStepFunc)(GTask *task);

struct _EuiccOp {
  Op op;
  Euicc *euicc;
  EuiccStepFunc step_func;
  guint step;
  const char *doing; /* "enabling profile 8944…", for error messages */
  /* Closes the channel and lets go of the modem; runs without taking it. */
  gboolean releases;
  gboolean lingered; /* the release that follows the linger, not a close */
  gchar *doing_owned;

  /* the last card_call */
  GBytes *response;
  GError *call_error;

  /* ModemManager: the modem is inhibited for this operation (a profile
   * switch); the answer waits until it is given back. */
  gboolean inhibited;
  gboolean answering; /* the outcome below is ready, waiting for the uninhibit */
  GError *outcome;    /* NULL: success */
  gboolean card_gone; /* the outcome says the card left its slot */

  /* arguments and state of the operations */
  guint profile_id;
  gchar *iccid;
  gchar *text; /* nickname, address */
  guint options;
  gboolean enable;
  gboolean refresh_flag;
  gboolean dropped;
  gboolean verify;
  GArray *seqs; /* guint */
  GPtrArray *items;
  GPtrArray *results;
  guint index;
  gpointer data;
  GDestroyNotify data_free;
};

/* A new operation on the eUICC (its task not yet queued). */
GTask *euicc_op_new(Euicc *euicc, const char *name, EuiccStepFunc step_func,
                    GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data);
/* Queues the operation (taking the task), or answers it at once when the
 * card is gone. */
void euicc_op_queue(GTask *task);
/* Sends the request (taking it) and calls the step function with step+1. */
void euicc_op_call(GTask *task, GBytes *request);
/* After euicc_op_call: FALSE (and the operation answered with the error)
 * when the call failed. */
gboolean euicc_op_check_call(GTask *task);
void euicc_op_fail(GTask *task, GError *error);
void euicc_op_done(GTask *task);
void euicc_op_return_pointer(GTask *task, gpointer value, GDestroyNotify notify);
/* The common head of every step function: the operation's context, or
 * NULL (and the task's reference dropped) when it was answered already. */
EuiccOp *euicc_op_begin_step(GTask *task);
/* The last card_call's answer; NULL (and *len 0) when there is none. */
const guint8 *euicc_op_response(EuiccOp *ctx, gsize *len);
/*
 * Around a profile switch (Enable, Disable, a memory reset): asks
 * ModemManager to let go of the modem, so that it reads the SIM anew once it
 * has it back. TRUE: asked, and the step function comes back with step+1;
 * FALSE: nothing to ask (no ModemManager client, no device known), go on.
 * A refusal is logged and the switch goes ahead.
 */
gboolean euicc_op_inhibit(GTask *task);
/* Gives the modem back, the same way. euicc_op_fail/_done do it too (the
 * answer then waits for it), and an operation abandoned holding the modem
 * gives it back when it is freed. */
gboolean euicc_op_uninhibit(GTask *task);

/* ListNotification (SGP.22 5.7.9): the request for every notification, and
 * its answer as Es10NotificationMetadata*, the PendingNotifications count
 * updated. NULL, with the operation answered, when the card did not list
 * them. */
GBytes *euicc_notifications_request(void);
GPtrArray *euicc_op_decode_notifications(GTask *task);

void euicc_emit_changed(Euicc *euicc, EuiccChanged what);
void euicc_set_pending_notifications(Euicc *euicc, guint count);
gchar *euicc_log_id(Euicc *euicc, const char *id);

G_END_DECLS
