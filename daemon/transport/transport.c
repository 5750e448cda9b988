/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "transport/transport.h"

#include <string.h>

/* The macro stringifies its first argument: keep it as one word. */
/* clang-format off */
G_DEFINE_QUARK(transport-error-quark, transport_error)
/* clang-format on */

void transport_slot_free(TransportSlot *slot)
{
  if (!slot)
    return;
  g_free(slot->eid);
  g_free(slot);
}

const char *transport_kind_to_string(TransportKind kind)
{
  switch (kind) {
  case TRANSPORT_KIND_QMI:
    return "qmi";
  case TRANSPORT_KIND_QRTR:
    return "qrtr";
  case TRANSPORT_KIND_MBIM:
    return "mbim";
  case TRANSPORT_KIND_AT:
    return "at";
  }
  return "unknown";
}

void transport_free(Transport *t)
{
  if (!t)
    return;
  if (t->ops->finalize)
    t->ops->finalize(t);
  g_free(t->port);
  g_free(t->imei);
  g_free(t);
}

void transport_set_removed_func(Transport *t, TransportRemovedFunc func, gpointer data)
{
  t->removed_func = func;
  t->removed_data = data;
}

void transport_report_removed(Transport *t)
{
  if (t->removed)
    return;
  t->removed = TRUE;
  g_info("%s port %s is gone", transport_kind_to_string(t->kind), t->port);
  if (t->removed_func)
    t->removed_func(t, t->removed_data);
}

/*
 * A call the transport cannot make at all (port gone, backend without the
 * operation) fails here, tagged with the wrapper, so that every backend does
 * not repeat the same checks. The _finish wrappers tell such results apart by
 * their source tag.
 */
/* Source tags for results refused before reaching the backend: data
 * addresses, since ISO C does not let a function pointer pass as gpointer. */
static const char tag_open;
static const char tag_list_slots;
static const char tag_open_channel;
static const char tag_transmit;
static const char tag_close_channel;
static const char tag_switch_slot;
static const char tag_reload_sim;
static const char tag_get_imei;
static const char tag_get_rats;

static gboolean refuse_early(Transport *t, gboolean supported, gpointer tag,
                             GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  g_autoptr(GTask) task = NULL;

  if (!t->removed && supported)
    return FALSE;
  task = g_task_new(NULL, cancellable, cb, data);
  g_task_set_source_tag(task, tag);
  if (t->removed)
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE,
                            "The modem port %s is gone", t->port);
  else
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                            "The %s backend cannot do this", transport_kind_to_string(t->kind));
  return TRUE;
}

#define REFUSED(res, tag) g_async_result_is_tagged((res), (gpointer)(tag))

void transport_open(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  if (!refuse_early(t, TRUE, (gpointer)&tag_open, cancellable, cb, data))
    t->ops->open(t, cancellable, cb, data);
}

gboolean transport_open_finish(Transport *t, GAsyncResult *res, GError **error)
{
  if (REFUSED(res, &tag_open))
    return g_task_propagate_boolean(G_TASK(res), error);
  return t->ops->open_finish(t, res, error);
}

void transport_list_slots(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                          gpointer data)
{
  if (!refuse_early(t, TRUE, (gpointer)&tag_list_slots, cancellable, cb, data))
    t->ops->list_slots(t, cancellable, cb, data);
}

GPtrArray *transport_list_slots_finish(Transport *t, GAsyncResult *res, GError **error)
{
  if (REFUSED(res, &tag_list_slots))
    return g_task_propagate_pointer(G_TASK(res), error);
  return t->ops->list_slots_finish(t, res, error);
}

void transport_open_channel(Transport *t, guint slot, GBytes *aid, GCancellable *cancellable,
                            GAsyncReadyCallback cb, gpointer data)
{
  if (!refuse_early(t, TRUE, (gpointer)&tag_open_channel, cancellable, cb, data))
    t->ops->open_channel(t, slot, aid, cancellable, cb, data);
}

guint transport_open_channel_finish(Transport *t, GAsyncResult *res, GError **error)
{
  if (REFUSED(res, &tag_open_channel))
    return MAX(g_task_propagate_int(G_TASK(res), error), 0); /* 0, not -1, on error */
  return t->ops->open_channel_finish(t, res, error);
}

void transport_transmit(Transport *t, guint slot, guint channel, GBytes *apdu,
                        GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  if (!refuse_early(t, TRUE, (gpointer)&tag_transmit, cancellable, cb, data))
    t->ops->transmit(t, slot, channel, apdu, cancellable, cb, data);
}

GBytes *transport_transmit_finish(Transport *t, GAsyncResult *res, GError **error)
{
  if (REFUSED(res, &tag_transmit))
    return g_task_propagate_pointer(G_TASK(res), error);
  return t->ops->transmit_finish(t, res, error);
}

void transport_close_channel(Transport *t, guint slot, guint channel, GCancellable *cancellable,
                             GAsyncReadyCallback cb, gpointer data)
{
  if (!refuse_early(t, TRUE, (gpointer)&tag_close_channel, cancellable, cb, data))
    t->ops->close_channel(t, slot, channel, cancellable, cb, data);
}

gboolean transport_close_channel_finish(Transport *t, GAsyncResult *res, GError **error)
{
  if (REFUSED(res, &tag_close_channel))
    return g_task_propagate_boolean(G_TASK(res), error);
  return t->ops->close_channel_finish(t, res, error);
}

void transport_switch_slot(Transport *t, guint slot, GCancellable *cancellable,
                           GAsyncReadyCallback cb, gpointer data)
{
  if (!refuse_early(t, t->ops->switch_slot != NULL, (gpointer)&tag_switch_slot, cancellable, cb,
                    data))
    t->ops->switch_slot(t, slot, cancellable, cb, data);
}

gboolean transport_switch_slot_finish(Transport *t, GAsyncResult *res, GError **error)
{
  if (REFUSED(res, &tag_switch_slot))
    return g_task_propagate_boolean(G_TASK(res), error);
  return t->ops->switch_slot_finish(t, res, error);
}

void transport_reload_sim(Transport *t, guint slot, GCancellable *cancellable,
                          GAsyncReadyCallback cb, gpointer data)
{
  if (!refuse_early(t, t->ops->reload_sim != NULL, (gpointer)&tag_reload_sim, cancellable, cb,
                    data))
    t->ops->reload_sim(t, slot, cancellable, cb, data);
}

gboolean transport_reload_sim_finish(Transport *t, GAsyncResult *res, GError **error)
{
  if (REFUSED(res, &tag_reload_sim))
    return g_task_propagate_boolean(G_TASK(res), error);
  return t->ops->reload_sim_finish(t, res, error);
}

void transport_close(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  /* Closing a port that is already gone is not an error: there is nothing
   * left to release on the modem, only local state. */
  t->ops->close(t, cancellable, cb, data);
}

gboolean transport_close_finish(Transport *t, GAsyncResult *res, GError **error)
{
  return t->ops->close_finish(t, res, error);
}

/* ---- IMEI ---- */

gchar *transport_parse_imei(const char *reported, GError **error)
{
  g_autofree gchar *s = g_strstrip(g_strdup(reported ? reported : ""));
  gsize len = strlen(s);
  const char *digits = s;

  /* Some AT modems quote it ("+CGSN: \"35...\""). */
  if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
    s[len - 1] = '\0';
    digits = s + 1;
    len -= 2;
  }
  if (len == 0) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED, "The modem reports no IMEI");
    return NULL;
  }
  /* 3GPP TS 23.003 6.2: an IMEI is 14 digits and its check digit, an IMEISV
   * 16 digits; modems report either, or the 14 without the check digit. */
  for (const char *p = digits; *p; p++) {
    if (!g_ascii_isdigit(*p)) {
      g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                  "The modem reported an IMEI that is not all digits");
      return NULL;
    }
  }
  if (len < 14 || len > 16) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL,
                "The modem reported an IMEI of %zu digits", len);
    return NULL;
  }
  return g_strdup(digits);
}

void transport_get_imei(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                        gpointer data)
{
  g_autoptr(GTask) task = NULL;

  /* Read once: the IMEI of a modem does not change while its port exists,
   * and a modem that has none will not grow one. */
  if (t->imei || t->imei_unsupported) {
    task = g_task_new(NULL, cancellable, cb, data);
    g_task_set_source_tag(task, (gpointer)&tag_get_imei);
    if (t->imei)
      g_task_return_pointer(task, g_strdup(t->imei), g_free);
    else
      g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                              "The modem on %s reports no IMEI", t->port);
    return;
  }
  if (!refuse_early(t, t->ops->get_imei != NULL, (gpointer)&tag_get_imei, cancellable, cb, data))
    t->ops->get_imei(t, cancellable, cb, data);
}

gchar *transport_get_imei_finish(Transport *t, GAsyncResult *res, GError **error)
{
  g_autoptr(GError) inner = NULL;
  gchar *imei;

  if (REFUSED(res, &tag_get_imei))
    return g_task_propagate_pointer(G_TASK(res), error);
  imei = t->ops->get_imei_finish(t, res, &inner);
  if (imei) {
    g_free(t->imei);
    t->imei = g_strdup(imei);
    return imei;
  }
  /* Only the modem's own "no IMEI" is remembered: a timeout may pass. */
  if (g_error_matches(inner, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED))
    t->imei_unsupported = TRUE;
  g_propagate_error(error, g_steal_pointer(&inner));
  return NULL;
}

/* ---- radio access technologies ---- */

gchar *transport_rats_to_string(guint rats)
{
  static const struct {
    TransportRat rat;
    const char *name;
  } names[] = {
      {TRANSPORT_RAT_GERAN, "gsm"},   {TRANSPORT_RAT_UTRAN, "umts"},
      {TRANSPORT_RAT_EUTRAN, "lte"},  {TRANSPORT_RAT_NR_NSA, "nr-nsa"},
      {TRANSPORT_RAT_NR_SA, "nr-sa"},
  };
  GString *s = g_string_new(NULL);

  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    if (rats & names[i].rat)
      g_string_append_printf(s, "%s%s", s->len ? "," : "", names[i].name);
  }
  return g_string_free(s, FALSE);
}

void transport_get_rats(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                        gpointer data)
{
  g_autoptr(GTask) task = NULL;

  /* Read once, as the IMEI: what the modem's radio can do does not change
   * while its port exists. */
  if (t->rats_known || t->rats_unsupported) {
    task = g_task_new(NULL, cancellable, cb, data);
    g_task_set_source_tag(task, (gpointer)&tag_get_rats);
    if (t->rats_known)
      g_task_return_int(task, t->rats);
    else
      g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED,
                              "The modem on %s does not say which radio technologies it has",
                              t->port);
    return;
  }
  if (!refuse_early(t, t->ops->get_rats != NULL, (gpointer)&tag_get_rats, cancellable, cb, data))
    t->ops->get_rats(t, cancellable, cb, data);
}

gboolean transport_get_rats_finish(Transport *t, GAsyncResult *res, guint *rats, GError **error)
{
  g_autoptr(GError) inner = NULL;
  guint found = 0;

  if (REFUSED(res, &tag_get_rats)) {
    gssize v = g_task_propagate_int(G_TASK(res), error);

    if (v < 0)
      return FALSE;
    *rats = (guint)v;
    return TRUE;
  }
  if (t->ops->get_rats_finish(t, res, &found, &inner)) {
    t->rats = found;
    t->rats_known = TRUE;
    *rats = found;
    return TRUE;
  }
  /* As for the IMEI: only the modem's own refusal is remembered. */
  if (g_error_matches(inner, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED))
    t->rats_unsupported = TRUE;
  g_propagate_error(error, g_steal_pointer(&inner));
  return FALSE;
}
