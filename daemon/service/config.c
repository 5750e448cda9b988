/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The operations on the eUICC as a whole: its default SM-DP+ address
 * (SGP.22 5.7.5) and the memory reset (5.7.19).
 */
#include "service/euicc-private.h"

/* ---- default SM-DP+ address ---- */

typedef enum {
  ADDRESS_STEP_FIRST,
  ADDRESS_STEP_SEND,
  ADDRESS_STEP_RESULT,
  ADDRESS_STEP_LAST,
} AddressStep;

typedef struct {
  EuiccOp base;
  gchar *address;
} AddressContext;

static void address_step(GTask *task);

static void address_clear(gpointer data)
{
  AddressContext *ctx = data;

  g_free(ctx->address);
}

static const EuiccOpClass address_class = {
    .name = "set-default-smdp",
    .step = address_step,
    .size = sizeof(AddressContext),
    .clear = address_clear,
    .cleanup_step = ADDRESS_STEP_LAST,
    .last_step = ADDRESS_STEP_LAST,
};

static void address_step(GTask *task)
{
  AddressContext *ctx = euicc_op_begin_step(task);
  GError *error = NULL;
  gsize len;
  const guint8 *buf;

  if (!ctx)
    return;
  buf = euicc_op_response(&ctx->base, &len);

  switch ((AddressStep)ctx->base.step) {
  case ADDRESS_STEP_FIRST:
    ctx->base.doing = "setting the default SM-DP+ address";
    ctx->base.step++;
    /* fall through */
  case ADDRESS_STEP_SEND: {
    GBytes *req = es10a_set_default_dp_address_encode(ctx->address, &error);

    if (!req) {
      euicc_op_fail_invalid_args(task, "Invalid SM-DP+ address", error);
      return;
    }
    euicc_op_call(task, req);
    return;
  }
  case ADDRESS_STEP_RESULT: {
    Es10aSetDefaultDpAddressResult r;

    if (!euicc_op_check_call(task))
      return;
    if (!es10a_set_default_dp_address_decode(buf, len, &r, &error)) {
      euicc_op_fail(task, error);
      return;
    }
    if (r != ES10A_SET_DEFAULT_DP_ADDRESS_OK) {
      euicc_op_fail_result(task, ES10_CMD_SET_DEFAULT_DP_ADDRESS, (gint)r, NULL);
      return;
    }
    euicc_apply_default_smdp_address(ctx->base.euicc, ctx->address);
    ctx->base.step++;
  }
    /* fall through */
  case ADDRESS_STEP_LAST:
    euicc_op_complete(task);
    return;
  }
  g_assert_not_reached();
}

void euicc_set_default_smdp_address(Euicc *euicc, const char *address, GCancellable *cancellable,
                                    GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = euicc_op_new(euicc, &address_class, cancellable, cb, user_data);
  AddressContext *ctx = g_task_get_task_data(task);

  ctx->address = g_strdup(address ? address : "");
  euicc_op_queue(task);
}

/* ---- memory reset ---- */

/* eUICCMemoryReset bits that delete profiles (SGP.22 5.7.19). */
#define RESET_DELETES_PROFILES                                                                     \
  (ES10C_RESET_DELETE_OPERATIONAL_PROFILES | ES10C_RESET_DELETE_FIELD_LOADED_TEST_PROFILES)

typedef enum {
  RESET_STEP_FIRST,
  RESET_STEP_INHIBIT,
  RESET_STEP_SEND,
  RESET_STEP_RESULT,
  RESET_STEP_REOPEN,
  RESET_STEP_READ,
  RESET_STEP_READ_DONE,
  /* cleanup */
  RESET_STEP_UNINHIBIT,
  RESET_STEP_LAST,
} ResetStep;

typedef struct {
  EuiccOp base;
  guint options; /* eUICCMemoryReset bits */
  CardRead read; /* the read-back under way */
} ResetContext;

static void reset_step(GTask *task);

static const EuiccOpClass reset_class = {
    .name = "reset",
    .step = reset_step,
    .size = sizeof(ResetContext),
    .cleanup_step = RESET_STEP_UNINHIBIT,
    .last_step = RESET_STEP_LAST,
};

static void reset_step(GTask *task)
{
  ResetContext *ctx = euicc_op_begin_step(task);
  EuiccOp *op;
  GError *error = NULL;
  gsize len;
  const guint8 *buf;

  if (!ctx)
    return;
  op = &ctx->base;
  buf = euicc_op_response(op, &len);

  switch ((ResetStep)op->step) {
  case RESET_STEP_FIRST:
    op->doing = "resetting the eUICC memory";
    /* Read back what the reset may have changed; the EID and EUICCInfo2
     * stay. */
    ctx->read = CARD_READ_ADDRESSES;
    op->step++;
    /* fall through */
  case RESET_STEP_INHIBIT:
    /* Deleting the profiles can take the enabled one with it: the same
     * switch as a Disable for ModemManager. Only the default SM-DP+
     * address is no switch. */
    if ((ctx->options & RESET_DELETES_PROFILES) && euicc_op_inhibit(task))
      return;
    op->step++;
    /* fall through */
  case RESET_STEP_SEND: {
    GBytes *req = es10c_euicc_memory_reset_encode(ctx->options, &error);

    if (!req) {
      g_autofree gchar *what = g_strdup_printf("Invalid reset options 0x%x", ctx->options);

      euicc_op_fail_invalid_args(task, what, error);
      return;
    }
    g_info("%s: %s (options 0x%x)", euicc_get_label(op->euicc), op->doing, ctx->options);
    euicc_op_call(task, req);
    return;
  }
  case RESET_STEP_RESULT: {
    Es10cEuiccMemoryResetResult r;

    if (!euicc_op_check_call(task))
      return;
    if (!es10c_euicc_memory_reset_decode(buf, len, &r, &error)) {
      euicc_op_fail(task, error);
      return;
    }
    /* nothingToDelete: the card already is as asked. */
    if (r != ES10C_EUICC_MEMORY_RESET_OK && r != ES10C_EUICC_MEMORY_RESET_NOTHING_TO_DELETE) {
      euicc_op_fail_result(task, ES10_CMD_EUICC_MEMORY_RESET, (gint)r, NULL);
      return;
    }
    op->step++;
  }
    /* fall through */
  case RESET_STEP_REOPEN:
    /* Deleting the enabled profile resets the card (SGP.22 5.7.19). */
    euicc_op_reopen(task);
    return;
  case RESET_STEP_READ:
    card_read_send(task, ctx->read);
    return;
  case RESET_STEP_READ_DONE:
    if (!card_read_apply(task, ctx->read))
      return;
    if (++ctx->read < CARD_READ_COUNT) {
      op->step = RESET_STEP_READ;
      reset_step(task);
      return;
    }
    op->step++;
    /* fall through */
  case RESET_STEP_UNINHIBIT:
    if (euicc_op_uninhibit(task))
      return;
    op->step++;
    /* fall through */
  case RESET_STEP_LAST:
    if (!euicc_op_failed(op))
      euicc_schedule_notifications(op->euicc);
    euicc_op_complete(task);
    return;
  }
  g_assert_not_reached();
}

void euicc_reset_memory(Euicc *euicc, guint options, GCancellable *cancellable,
                        GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = euicc_op_new(euicc, &reset_class, cancellable, cb, user_data);
  ResetContext *ctx = g_task_get_task_data(task);

  ctx->options = options;
  euicc_op_queue(task);
}
