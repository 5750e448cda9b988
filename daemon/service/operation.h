/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Two things every card operation shares.
 *
 * The FIFO (OpQueue). One eUICC's card operations. Each operation is a GTask whose task
 * data starts with an Op; the queue starts them one at a time in arrival
 * order. An operation whose caller cancelled before its turn is answered
 * ESIMD_ERROR_CANCELLED and never started. Once started, an operation runs to
 * its end (a card command half sent must be seen through so that the cache
 * stays true), unless the card goes away: then the queue answers it at once
 * and its step machine, when its last callback comes back, only lets go.
 *
 * A step machine therefore begins every step with
 *   if (op_is_finished(task)) { g_object_unref(task); return; }
 * and ends with op_return_*() followed by g_object_unref(task).
 */
#pragma once

#include <gio/gio.h>

#include "service/card.h"
#include "service/service-private.h"

G_BEGIN_DECLS

typedef struct _OpQueue OpQueue;

typedef void (*OpStartFunc)(GTask *task);

/* The head of every operation's task data. */
typedef struct {
  OpStartFunc start;
  const char *name;  /* for logs: "enable", "probe", ... */
  GCancellable *io;  /* for the operation's own I/O; cancelled when it is abandoned */
  gboolean finished; /* the caller has its answer */
  gboolean started;
} Op;

/* Sets up the head; the caller's cancellable stays the GTask's. */
void op_init(Op *op, const char *name, OpStartFunc start);
/* Releases what op_init() took; call from the task data's free function. */
void op_clear(Op *op);

OpQueue *op_queue_new(const char *label);
/* The queue must be idle (every operation answered and let go). */
void op_queue_free(OpQueue *q);

/* Appends the operation; the queue takes the reference it is given. */
void op_queue_push(OpQueue *q, GTask *task);
gboolean op_queue_is_idle(OpQueue *q);
/* Number of operations waiting (not counting the running one). */
guint op_queue_get_length(OpQueue *q);

/* Answers the running operation and lets the next one start. The step
 * machine keeps its reference and drops it right after. */
void op_return_error(OpQueue *q, GTask *task, GError *error);
void op_return_boolean(OpQueue *q, GTask *task, gboolean value);
void op_return_pointer(OpQueue *q, GTask *task, gpointer value, GDestroyNotify notify);
gboolean op_is_finished(GTask *task);

/* Answers every waiting operation with the error; they never start. */
void op_queue_drop_waiting(OpQueue *q, const GError *error);
/* Also answers the running one and cancels its I/O. */
void op_queue_abandon(OpQueue *q, const GError *error);

/*
 * The runtime of one card's operations (OpRunner): the queue, the ISD-R
 * channel kept open between them, and, for a modem whose AT port
 * ModemManager owns, the hold on the modem from the start of an operation
 * until the queue has been idle for the linger.
 */
typedef struct _OpRunner OpRunner;

/* owner: the eUICC whose runner it is (borrowed; it frees the runner).
 * The channel is the one the probe left open (probe->channel, may be 0). */
OpRunner *op_runner_new(Euicc *owner, Modem *modem, const ModemSlotProbe *probe, const char *label,
                        guint linger_ms, MmClient *mm);
/* Every operation must have been answered and let go. */
void op_runner_free(OpRunner *runner);
gboolean op_runner_has_channel(OpRunner *runner);
void op_runner_attach_channel(OpRunner *runner, GBytes *isdr_aid, guint channel);
/* The card is gone: every operation queued or running is answered with the
 * error, the modem let go at once; nothing is queued after. */
void op_runner_invalidate(OpRunner *runner, const GError *error);
gboolean op_runner_is_closed(OpRunner *runner);
/* TRUE while it holds a modem whose AT port ModemManager owns: only then is
 * a release after the linger still to come. */
gboolean op_runner_holds_modem(OpRunner *runner);
/* From the next operation's end on. */
void op_runner_set_linger_ms(OpRunner *runner, guint linger_ms);
/* Drops the waiting operations with the error, lets the running one finish,
 * closes the channel and lets go of the modem; nothing is queued after. */
void op_runner_close(OpRunner *runner, const GError *error, GAsyncReadyCallback cb,
                     gpointer user_data);

/*
 * A card operation: one step machine, its context a struct that starts with
 * an EuiccOp. The class says how big the context is, how to clear its own
 * fields, and where its cleanup steps start: euicc_op_fail() saves the
 * error and goes there, and the last step answers with what was saved
 * (euicc_op_complete). So a failure walks the same explicit cleanup steps
 * (give the modem back to ModemManager, ...) as a success.
 */
typedef struct _EuiccOp EuiccOp;
typedef void (*EuiccStepFunc)(GTask *task);

typedef struct {
  const char *name; /* "enable", for logs */
  EuiccStepFunc step;
  gsize size;                  /* of the context; it starts with an EuiccOp */
  void (*clear)(gpointer ctx); /* frees the context's own fields; NULL: none */
  guint cleanup_step;          /* the first cleanup step; the last if none */
  guint last_step;             /* STEP_LAST, for the "(n/LAST)" in logs */
  gboolean releases;           /* closes the channel: runs without taking the modem */
  /* esimd is closing the card while the operation runs: one that waits for
   * someone (a download's consent) stops waiting and cleans up. NULL: it
   * runs to its end as usual. */
  void (*interrupt)(gpointer ctx);
} EuiccOpClass;

struct _EuiccOp {
  Op op; /* the queue's head */
  const EuiccOpClass *klass;
  Euicc *euicc;
  OpRunner *runner;
  guint step;
  const char *doing; /* "enabling profile 8944…", for error messages */
  gchar *doing_owned;
  GBytes *response; /* of the last euicc_op_call */
  GError *call_error;
  GError *outcome;    /* saved by euicc_op_fail: what the last step answers */
  gboolean inhibited; /* ModemManager let go of the modem for this operation */
  gboolean card_gone; /* the outcome says the card left its slot */
  /* Must not take a modem from ModemManager: when the card can only be
   * reached that way, the operation goes straight to its last step and
   * answers from the cache. */
  gboolean quiet;
};

/* A new operation on the eUICC, its context zeroed (not queued yet). */
GTask *euicc_op_new(Euicc *euicc, const EuiccOpClass *klass, GCancellable *cancellable,
                    GAsyncReadyCallback cb, gpointer user_data);
/* Queues the operation (taking the task), or answers it at once when the
 * card is gone or closing. */
void euicc_op_queue(GTask *task);
/* The head of every step function: the context, or NULL (and the task's
 * reference dropped) when the operation was answered already. */
gpointer euicc_op_begin_step(GTask *task);
void euicc_op_set_doing(EuiccOp *ctx, gchar *doing);
/* Sends the request (taking it); the step function comes back with step+1. */
void euicc_op_call(GTask *task, GBytes *request);
/* After euicc_op_call: FALSE (and euicc_op_fail) when the call failed. */
gboolean euicc_op_check_call(GTask *task);
/* The last call's answer; NULL (and *len 0) when there is none. */
const guint8 *euicc_op_response(EuiccOp *ctx, gsize *len);
/* Opens the ISD-R channel anew (the card reset after a switch); a failure
 * is logged, the next call opens it again. Comes back with step+1. */
void euicc_op_reopen(GTask *task);
/* The same after the card reset itself (a switch with refreshFlag set):
 * the old channel is gone with the reset and is not closed. */
void euicc_op_reopen_after_reset(GTask *task);
/* Has the modem reload the SIM; NOT_SUPPORTED and failures are logged.
 * Comes back with step+1. */
void euicc_op_reload_sim(GTask *task);
/*
 * Around a profile switch: asks ModemManager to let go of the modem, so that
 * it reads the SIM anew once it has it back. TRUE: asked, the step function
 * comes back with step+1; FALSE: nothing to ask, go on. A refusal is logged
 * and the switch goes ahead.
 */
gboolean euicc_op_inhibit(GTask *task);
/* Gives the modem back, the same way; FALSE when it was not taken. An
 * operation abandoned holding it gives it back when it is freed. */
gboolean euicc_op_uninhibit(GTask *task);
/* Saves the error (taken, turned into an ESIMD_ERROR saying what was being
 * done) and goes to the class's cleanup step. */
void euicc_op_fail(GTask *task, GError *error);
/* The card answered with a result other than ok: euicc_op_fail with the
 * table's error (service_result_error). */
void euicc_op_fail_result(GTask *task, Es10Command cmd, gint result, const char *subject);
/* An argument the ES10 encoder refused (taken): the caller's fault. */
void euicc_op_fail_invalid_args(GTask *task, const char *what, GError *encode_error);
gboolean euicc_op_failed(EuiccOp *ctx);
/* The last step: answers TRUE, or the saved error. */
void euicc_op_complete(GTask *task);
/* The last step of an operation with a result: the value, or the saved
 * error (then the value is freed). */
void euicc_op_complete_pointer(GTask *task, gpointer value, GDestroyNotify notify);

G_END_DECLS
