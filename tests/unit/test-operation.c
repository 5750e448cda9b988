/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The per-card FIFO (service/operation.c's OpQueue): operations start one
 * at a time in arrival order, each from the main loop; one whose caller
 * cancelled before its turn is answered CANCELLED and never starts; a card
 * that goes away answers the running and the waiting ones at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "service/operation.h"
#include "test-util.h"

typedef struct {
  OpQueue *queue;
  GString *log;      /* "s1 s2 ..." as operations start */
  GPtrArray *held;   /* GTask*: started, not answered yet (the test answers them) */
  gboolean in_start; /* a start function is running */
} Fixture;

typedef struct {
  Op op; /* the queue's head */
  Fixture *f;
  guint id;
  gboolean answer_at_once; /* answers from its start function */
} FakeOp;

static void fake_op_free(FakeOp *ctx)
{
  op_clear(&ctx->op);
  g_free(ctx);
}

static void fake_start(GTask *task)
{
  FakeOp *ctx = g_task_get_task_data(task);
  Fixture *f = ctx->f;

  /* Never inside another operation's start or answer. */
  assert_false(f->in_start);
  f->in_start = TRUE;
  g_string_append_printf(f->log, "s%u ", ctx->id);
  if (ctx->answer_at_once) {
    op_return_boolean(f->queue, task, TRUE);
    g_object_unref(task);
  } else {
    g_ptr_array_add(f->held, task);
  }
  f->in_start = FALSE;
}

typedef struct {
  GAsyncResult *res;
  guint order; /* when it was answered, from 1 */
} Answer;

static guint answers;

static void got_answer(GObject *source, GAsyncResult *res, gpointer data)
{
  Answer *a = data;

  a->res = g_object_ref(res);
  a->order = ++answers;
}

static GTask *push(Fixture *f, guint id, gboolean at_once, GCancellable *cancellable, Answer *a)
{
  GTask *task = g_task_new(NULL, cancellable, got_answer, a);
  FakeOp *ctx = g_new0(FakeOp, 1);

  g_task_set_check_cancellable(task, FALSE);
  op_init(&ctx->op, "fake", fake_start);
  ctx->f = f;
  ctx->id = id;
  ctx->answer_at_once = at_once;
  g_task_set_task_data(task, ctx, (GDestroyNotify)fake_op_free);
  op_queue_push(f->queue, task);
  return task;
}

/* Answers the operation started longest ago, as its step machine would. */
static void answer_held(Fixture *f)
{
  GTask *task;

  assert_true(f->held->len > 0);
  task = g_ptr_array_steal_index(f->held, 0);
  op_return_boolean(f->queue, task, TRUE);
  g_object_unref(task);
}

static gboolean result_ok(Answer *a)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = g_task_propagate_boolean(G_TASK(a->res), &error);

  g_clear_object(&a->res);
  return ok && !error;
}

static gint result_code(Answer *a)
{
  g_autoptr(GError) error = NULL;

  assert_false(g_task_propagate_boolean(G_TASK(a->res), &error));
  g_clear_object(&a->res);
  assert_true(error->domain == ESIMD_ERROR);
  return error->code;
}

static int setup(void **state)
{
  Fixture *f = g_new0(Fixture, 1);

  f->queue = op_queue_new("test");
  f->log = g_string_new(NULL);
  f->held = g_ptr_array_new();
  answers = 0;
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  Fixture *f = *state;

  test_drain();
  assert_true(op_queue_is_idle(f->queue));
  op_queue_free(f->queue);
  g_string_free(f->log, TRUE);
  g_ptr_array_unref(f->held);
  g_free(f);
  return 0;
}

static gboolean all_answered(gpointer data)
{
  Answer *a = data;

  for (guint i = 0; a[i].order != G_MAXUINT; i++)
    if (!a[i].res)
      return FALSE;
  return TRUE;
}

static void test_operations_run_one_at_a_time_in_arrival_order(void **state)
{
  Fixture *f = *state;
  Answer a[4] = {{0}, {0}, {0}, {.order = G_MAXUINT}};

  for (guint i = 0; i < 3; i++)
    push(f, i + 1, FALSE, NULL, &a[i]);
  /* Nothing starts inside push: only from the main loop. */
  assert_string_equal(f->log->str, "");
  assert_int_equal(op_queue_get_length(f->queue), 3);

  test_drain();
  assert_string_equal(f->log->str, "s1 ");
  assert_int_equal(op_queue_get_length(f->queue), 2);
  answer_held(f);
  /* The next one starts from the main loop, not inside the answer. */
  assert_string_equal(f->log->str, "s1 ");
  test_drain();
  assert_string_equal(f->log->str, "s1 s2 ");
  answer_held(f);
  test_drain();
  answer_held(f);
  assert_true(test_wait_until(all_answered, a));
  assert_string_equal(f->log->str, "s1 s2 s3 ");
  for (guint i = 0; i < 3; i++) {
    assert_int_equal(a[i].order, i + 1);
    assert_true(result_ok(&a[i]));
  }
  assert_true(op_queue_is_idle(f->queue));
}

static void test_a_call_cancelled_before_its_turn_never_starts(void **state)
{
  Fixture *f = *state;
  g_autoptr(GCancellable) gone = g_cancellable_new();
  Answer a[4] = {{0}, {0}, {0}, {.order = G_MAXUINT}};

  push(f, 1, FALSE, NULL, &a[0]);
  push(f, 2, FALSE, gone, &a[1]);
  push(f, 3, TRUE, NULL, &a[2]);
  test_drain();
  /* Its caller left the bus while the first one ran. */
  g_cancellable_cancel(gone);
  answer_held(f);
  assert_true(test_wait_until(all_answered, a));
  assert_string_equal(f->log->str, "s1 s3 ");
  assert_true(result_ok(&a[0]));
  assert_int_equal(result_code(&a[1]), ESIMD_ERROR_CANCELLED);
  assert_true(result_ok(&a[2]));
}

static void test_a_cancel_after_the_start_does_not_stop_the_operation(void **state)
{
  Fixture *f = *state;
  g_autoptr(GCancellable) late = g_cancellable_new();
  Answer a[2] = {{0}, {.order = G_MAXUINT}};

  push(f, 1, FALSE, late, &a[0]);
  test_drain();
  /* A card command half sent is seen through: the answer is its own. */
  g_cancellable_cancel(late);
  answer_held(f);
  assert_true(test_wait_until(all_answered, a));
  assert_true(result_ok(&a[0]));
}

static void test_abandon_answers_the_running_and_the_waiting(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) removed = g_error_new(ESIMD_ERROR, ESIMD_ERROR_REMOVED, "gone");
  Answer a[4] = {{0}, {0}, {0}, {.order = G_MAXUINT}};
  GTask *running;
  FakeOp *ctx;

  push(f, 1, FALSE, NULL, &a[0]);
  push(f, 2, FALSE, NULL, &a[1]);
  push(f, 3, FALSE, NULL, &a[2]);
  test_drain();
  running = g_ptr_array_index(f->held, 0);
  ctx = g_task_get_task_data(running);

  op_queue_abandon(f->queue, removed);
  /* The running one's own I/O is cancelled, and it counts as answered: its
   * step machine only lets go when its last callback comes back. */
  assert_true(g_cancellable_is_cancelled(ctx->op.io));
  assert_true(op_is_finished(running));
  g_object_unref(g_ptr_array_steal_index(f->held, 0));
  assert_true(test_wait_until(all_answered, a));
  for (guint i = 0; i < 3; i++)
    assert_int_equal(result_code(&a[i]), ESIMD_ERROR_REMOVED);
  /* The waiting ones never started. */
  assert_string_equal(f->log->str, "s1 ");
  assert_true(op_queue_is_idle(f->queue));
}

static void test_drop_waiting_lets_the_running_one_finish(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) closing = g_error_new(ESIMD_ERROR, ESIMD_ERROR_CANCELLED, "closing");
  Answer a[3] = {{0}, {0}, {.order = G_MAXUINT}};

  push(f, 1, FALSE, NULL, &a[0]);
  push(f, 2, FALSE, NULL, &a[1]);
  test_drain();
  op_queue_drop_waiting(f->queue, closing);
  assert_int_equal(op_queue_get_length(f->queue), 0);
  assert_false(op_queue_is_idle(f->queue));
  answer_held(f);
  assert_true(test_wait_until(all_answered, a));
  assert_true(result_ok(&a[0]));
  assert_int_equal(result_code(&a[1]), ESIMD_ERROR_CANCELLED);
  assert_int_equal(a[1].order, 1); /* dropped before the first was done */
  assert_string_equal(f->log->str, "s1 ");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_operations_run_one_at_a_time_in_arrival_order, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_call_cancelled_before_its_turn_never_starts, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_cancel_after_the_start_does_not_stop_the_operation,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_abandon_answers_the_running_and_the_waiting, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_drop_waiting_lets_the_running_one_finish, setup,
                                      teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
