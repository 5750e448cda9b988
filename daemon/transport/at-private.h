/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the files of the AT backend share (at.c: the port and the
 * transport; at-command.c: one command and its answer; at-card.c: slots,
 * channels, APDUs): the transport's state, the command queue's types and the
 * helpers they use.
 */
#pragma once

#include "transport/transport.h"
#include "transport/iso7816.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define AT_DEFAULT_BAUDRATE 115200
#define AT_DEFAULT_TIMEOUT_MS 10000
/* An answer line longer than this is garbage: +CGLA of a 256-byte response
 * is about 530 characters. */
#define AT_MAX_LINE (16 * 1024)
/*
 * Channels closed when the port is opened, in case an earlier run crashed
 * and left them open (the card keeps them until it is reset). Cards assign
 * the lowest free channel, so a crashed client's channels are the low ones;
 * most eUICCs offer 3 or 4. Cost: AT_STALE_CHANNELS commands per open, one
 * more on a modem without +CCHC.
 */
#define AT_STALE_CHANNELS 4
/* How long the open waits for AT+CMEE? before doing without it. */
#define AT_RESYNC_PROBE_TIMEOUT_MS 3000
/* 27.007 +CME ERROR 4, "operation not supported". */
#define AT_CME_NOT_SUPPORTED 4

typedef enum {
  AT_SUPPORT_UNKNOWN,
  AT_SUPPORT_YES,
  AT_SUPPORT_NO,
} AtSupport;

typedef enum {
  AT_CHANNEL_CLOSED,
  AT_CHANNEL_CCHO, /* opened with +CCHO: APDUs go through +CGLA */
  AT_CHANNEL_CSIM, /* opened with MANAGE CHANNEL through +CSIM */
} AtChannelMode;

typedef struct {
  AtChannelMode mode;
  guint session; /* the +CCHO session id, which +CGLA and +CCHC take */
} AtChannel;

/* The finish of every operation whose answer is success or a GError. */
static inline gboolean finish_boolean(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---- one AT command and its response ---- */

typedef enum {
  AT_FINAL_OK,
  AT_FINAL_ERROR,
  AT_FINAL_CME_ERROR,
  AT_FINAL_CMS_ERROR,
} AtFinal;

typedef struct {
  AtFinal final;
  gint code;        /* +CME/+CMS code; -1 for ERROR or a verbose error */
  gchar *text;      /* what followed "+CME ERROR: ", NULL otherwise */
  GPtrArray *lines; /* info lines with the command's prefix */
} AtResponse;

static inline void at_response_free(AtResponse *r)
{
  if (!r)
    return;
  g_free(r->text);
  g_ptr_array_unref(r->lines);
  g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AtResponse, at_response_free)

typedef enum {
  AT_COMMAND_FLAGS_NONE = 0,
  /* A line of digits alone also answers (+CCHO without its prefix). */
  AT_COMMAND_FLAGS_BARE_NUMBER = 1 << 0,
  /* Final results before the first info line are stale, from a command that
   * timed out earlier: the resync command uses this. */
  AT_COMMAND_FLAGS_TAGGED = 1 << 1,
  /* As BARE_NUMBER, and a quoted number too (+CGSN on some modems). */
  AT_COMMAND_FLAGS_BARE_QUOTED = 1 << 2,
} AtCommandFlags;

typedef struct _AtTransport AtTransport;

typedef struct {
  AtTransport *self;
  gchar *line; /* as sent, without the CR */
  const char *prefix;
  AtCommandFlags flags;
  AtResponse *response;
  gboolean seen_info;
  guint timeout_ms; /* 0: the transport's */
  GTask *task;      /* NULL for the internal resync command */
  GSource *cancel_source;
} AtCommand;

struct _AtTransport {
  Transport parent;
  guint baudrate;
  int fd;
  GMainContext *context;
  GSource *read_source;
  GSource *write_source;
  GSource *timeout_source;
  GByteArray *rx; /* bytes of a line not ended yet */
  GByteArray *tx; /* bytes the port did not take yet */
  GQueue queue;   /* AtCommand waiting to be sent */
  AtCommand *current;
  /* A command timed out or was cancelled: its answer may still come. */
  gboolean need_resync;
  /* AT+CMEE? answers "+CMEE: <n>": a reply we can tell from a stale one. */
  gboolean resync_tagged;
  gboolean swept; /* stale channels were closed at an earlier open */
  AtSupport ccho;
  AtSupport csim;
  AtChannel channels[ISO7816_MAX_CHANNEL + 1];
};

static const char at_tag_command;
static const char at_tag_open;
static const char at_tag_list_slots;
static const char at_tag_open_channel;
static const char at_tag_transmit;
static const char at_tag_close_channel;
static const char at_tag_close;
static const char at_tag_get_imei;
static const char at_tag_get_rats;

void at_close_port(AtTransport *self);
void at_command(AtTransport *self, const char *line, const char *prefix, AtCommandFlags flags,
                GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data);
AtResponse *at_command_finish(GAsyncResult *res, GError **error);
void at_command_full(AtTransport *self, const char *line, const char *prefix, AtCommandFlags flags,
                     guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback cb,
                     gpointer data);
gchar *at_csim_close_line(guint channel);
gchar *at_csim_line(const guint8 *apdu, gsize len);
void at_fail_all(AtTransport *self, gboolean report_removed, const char *why);
gchar *at_hex(const guint8 *data, gsize len);
gboolean at_on_readable(gint fd, GIOCondition cond, gpointer data);
/* One "+WS46:" line of AT+WS46=? (27.007 5.9) as TransportRat bits; codes
 * that name no radio access network SGP.22 knows are left out. */
gboolean at_parse_ws46(const char *line, guint *rats, GError **error);
GBytes *at_parse_apdu_reply(const AtResponse *r, const char *prefix, GError **error);
char *at_response_describe(const AtResponse *r);
gboolean at_response_is_unsupported(const AtResponse *r);
guint16 at_sw(GBytes *rsp);
void at_close_channel(Transport *t, guint slot, guint channel, GCancellable *cancellable,
                      GAsyncReadyCallback cb, gpointer data);
void at_list_slots(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data);
GPtrArray *at_list_slots_finish(Transport *t, GAsyncResult *res, GError **error);
void at_open_channel(Transport *t, guint slot, GBytes *aid, GCancellable *cancellable,
                     GAsyncReadyCallback cb, gpointer data);
guint at_open_channel_finish(Transport *t, GAsyncResult *res, GError **error);
void at_transmit(Transport *t, guint slot, guint channel, GBytes *apdu, GCancellable *cancellable,
                 GAsyncReadyCallback cb, gpointer data);
GBytes *at_transmit_finish(Transport *t, GAsyncResult *res, GError **error);
