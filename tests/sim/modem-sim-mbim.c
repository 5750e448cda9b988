/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * modem-sim MBIM mode: an MBIM 1.0 function (USB-IF MBIM 1.0, section 9) on
 * the pty, written byte by byte so that it stays a peer independent of
 * libmbim. It speaks OPEN/CLOSE/COMMAND with fragments both ways, answers
 * malformed input with FUNCTION_ERROR, and implements the services an eUICC
 * client needs:
 *   Basic Connect               device caps, subscriber ready status, device
 *                               services, device service subscribe list
 *   MS Basic Connect Extensions sys caps, slot info status, device slot
 *                               mappings (query and set)
 *   MS UICC Low Level Access    ATR, open channel, close channel, APDU, reset
 * Anything else is answered with MBIM_STATUS_NO_DEVICE_SUPPORT.
 *
 * Like a real modem it drives the card itself: open channel is MANAGE
 * CHANNEL + SELECT on the card, it writes the channel into the CLA of each
 * APDU, and it collects 61xx responses with GET RESPONSE so that the host
 * receives the whole response in one message (possibly several fragments).
 *
 * Knobs (modem_sim_set_option), besides the core's delay-ms, close-after,
 * max-channels and apdu-log:
 *   status=CMD:STATUS[@N]  answer CMD with that MBIM status (decimal or 0x..)
 *                          and an empty information buffer, N times or always
 *   garbage=CMD[@N]        answer CMD with an information buffer cut short
 *   silent=CMD[@N]         do not answer CMD at all
 *   no-basic-connect-ext   a modem without MS Basic Connect Extensions: one
 *                          slot as far as the host can tell
 *   no-uicc-reset          MS UICC reset is not supported
 *   no-get-response        pass 61xx through instead of collecting it
 *   select-status-only     report a failed SELECT as some modems do: MBIM
 *                          success, the channel left open, the card's status
 *                          word in Status
 *   max-transfer=N         fragment answers at N bytes (at least 64), even if
 *                          the host allows more
 *   switch-delay-ms=N      the card is "not initialized" for N ms after a
 *                          slot switch or a UICC reset (default 50)
 *   clear                  forget every status/garbage/silent knob
 * CMD is one of device-caps, subscriber-ready-status, device-services,
 * subscribe-list, sys-caps, slot-info-status, device-slot-mappings, atr,
 * open-channel, close-channel, apdu, reset, or any.
 */
#include "modem-sim.h"

#include <stdlib.h>
#include <string.h>

/* MBIM 1.0 9.1: message types. */
#define MSG_OPEN 0x00000001u
#define MSG_CLOSE 0x00000002u
#define MSG_COMMAND 0x00000003u
#define MSG_HOST_ERROR 0x00000004u
#define MSG_OPEN_DONE 0x80000001u
#define MSG_CLOSE_DONE 0x80000002u
#define MSG_COMMAND_DONE 0x80000003u
#define MSG_FUNCTION_ERROR 0x80000004u
#define MSG_INDICATE_STATUS 0x80000007u

/* MBIM 1.0 9.4.6: protocol error codes for FUNCTION_ERROR. */
#define ERR_FRAGMENT_OUT_OF_SEQUENCE 2
#define ERR_LENGTH_MISMATCH 3
#define ERR_NOT_OPENED 5
#define ERR_UNKNOWN 6

/* MBIM 1.0 9.4.5 status codes, and the MS UICC low level access ones. */
#define ST_SUCCESS 0u
#define ST_SIM_NOT_INSERTED 3u
#define ST_NO_DEVICE_SUPPORT 9u
#define ST_INVALID_PARAMETERS 21u
#define ST_MS_NO_LOGICAL_CHANNELS 0x87430001u
#define ST_MS_SELECT_FAILED 0x87430002u
#define ST_MS_INVALID_LOGICAL_CHANNEL 0x87430003u

/* Subscriber ready states (MBIM 1.0 10.5.2, MS extension 7). */
#define READY_NOT_INITIALIZED 0u
#define READY_INITIALIZED 1u
#define READY_SIM_NOT_INSERTED 2u
#define READY_NO_ESIM_PROFILE 7u

/* MS Basic Connect Extensions slot states. */
#define SLOT_EMPTY 3u
#define SLOT_NOT_READY 4u
#define SLOT_ACTIVE 5u
#define SLOT_ACTIVE_ESIM 7u
#define SLOT_ACTIVE_ESIM_NO_PROFILES 8u

#define HEADER_LEN 12u
#define FRAGMENT_HEADER_LEN 8u
/* Header, fragment header, service, CID, command type, buffer length. */
#define COMMAND_FIXED_LEN 48u
#define MIN_TRANSFER 64u
#define MAX_MESSAGE (64u * 1024u)
#define N_CHANNELS 20u

static const guint8 uuid_basic_connect[16] = {0xa2, 0x89, 0xcc, 0x33, 0xbc, 0xbb, 0x8b, 0x4f,
                                              0xb6, 0xb0, 0x13, 0x3e, 0xc2, 0xaa, 0xe6, 0xdf};
static const guint8 uuid_ms_bce[16] = {0x3d, 0x01, 0xdc, 0xc5, 0xfe, 0xf5, 0x4d, 0x05,
                                       0x0d, 0x3a, 0xbe, 0xf7, 0x05, 0x8e, 0x9a, 0xaf};
static const guint8 uuid_ms_uicc[16] = {0xc2, 0xf6, 0x58, 0x8e, 0xf0, 0x37, 0x4b, 0xc9,
                                        0x86, 0x65, 0xf4, 0xd4, 0x4b, 0xd0, 0x93, 0x67};

typedef enum {
  SVC_OTHER,
  SVC_BASIC_CONNECT,
  SVC_MS_BCE,
  SVC_MS_UICC,
} Service;

/* One command the simulator knows: service, CID and its knob name. */
typedef struct {
  Service service;
  guint32 cid;
  const char *name;
} CommandName;

static const CommandName command_names[] = {
    {SVC_BASIC_CONNECT, 1, "device-caps"},
    {SVC_BASIC_CONNECT, 2, "subscriber-ready-status"},
    {SVC_BASIC_CONNECT, 16, "device-services"},
    {SVC_BASIC_CONNECT, 19, "subscribe-list"},
    {SVC_MS_BCE, 5, "sys-caps"},
    {SVC_MS_BCE, 7, "device-slot-mappings"},
    {SVC_MS_BCE, 8, "slot-info-status"},
    {SVC_MS_UICC, 1, "atr"},
    {SVC_MS_UICC, 2, "open-channel"},
    {SVC_MS_UICC, 3, "close-channel"},
    {SVC_MS_UICC, 4, "apdu"},
    {SVC_MS_UICC, 6, "reset"},
};

typedef enum {
  FAULT_STATUS,
  FAULT_GARBAGE,
  FAULT_SILENT,
} FaultKind;

typedef struct {
  FaultKind kind;
  char *command; /* a command_names name, or "any" */
  guint32 status;
  guint remaining; /* 0: forever */
} Fault;

typedef struct {
  gboolean open;
  guint32 group;
  guint slot;
} Channel;

typedef struct {
  gboolean opened; /* OPEN seen, no CLOSE since */
  guint32 host_max_transfer;

  /* A command arriving in fragments. */
  GByteArray *frag;
  guint32 frag_tid;
  guint32 frag_total;
  guint32 frag_next;

  /* knobs */
  gboolean no_bce;
  gboolean no_reset;
  gboolean no_get_response;
  gboolean select_status_only;
  guint max_transfer;
  guint switch_delay_ms;
  GPtrArray *faults;

  Channel channels[N_CHANNELS];
  gboolean not_ready;
  GSource *ready_timer;
  guint32 pass_through;
} MbimSim;

static void fault_free(gpointer data)
{
  Fault *f = data;

  g_free(f->command);
  g_free(f);
}

static MbimSim *sim_get(ModemSim *ms)
{
  MbimSim *s = modem_sim_get_protocol_data(ms);

  if (!s) {
    s = g_new0(MbimSim, 1);
    s->host_max_transfer = 4096;
    s->switch_delay_ms = 50;
    s->faults = g_ptr_array_new_with_free_func(fault_free);
    s->frag = g_byte_array_new();
    modem_sim_set_protocol_data(ms, s);
  }
  return s;
}

static void mbim_finalize(ModemSim *ms)
{
  MbimSim *s = modem_sim_get_protocol_data(ms);

  if (!s)
    return;
  if (s->ready_timer) {
    g_source_destroy(s->ready_timer);
    g_source_unref(s->ready_timer);
  }
  g_ptr_array_unref(s->faults);
  g_byte_array_unref(s->frag);
  g_free(s);
  modem_sim_set_protocol_data(ms, NULL);
}

/* ---- little-endian fields ---- */

static guint32 get_u32(const guint8 *p)
{
  return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

static void put_u32(GByteArray *a, guint32 v)
{
  guint8 b[4] = {(guint8)v, (guint8)(v >> 8), (guint8)(v >> 16), (guint8)(v >> 24)};

  g_byte_array_append(a, b, 4);
}

static void set_u32(GByteArray *a, guint off, guint32 v)
{
  a->data[off] = (guint8)v;
  a->data[off + 1] = (guint8)(v >> 8);
  a->data[off + 2] = (guint8)(v >> 16);
  a->data[off + 3] = (guint8)(v >> 24);
}

/*
 * An information buffer: fixed fields first, then the variable part that
 * offset/size pairs point into (MBIM 1.0 10.3: offsets count from the start
 * of the information buffer, data is padded to 4 bytes).
 */
typedef struct {
  GByteArray *fixed;
  GByteArray *var;
  GArray *fixups; /* positions in fixed of offsets relative to var */
} InfoBuf;

static void ib_init(InfoBuf *ib)
{
  ib->fixed = g_byte_array_new();
  ib->var = g_byte_array_new();
  ib->fixups = g_array_new(FALSE, FALSE, sizeof(guint));
}

static void ib_u32(InfoBuf *ib, guint32 v)
{
  put_u32(ib->fixed, v);
}

static void ib_u64(InfoBuf *ib, guint64 v)
{
  put_u32(ib->fixed, (guint32)v);
  put_u32(ib->fixed, (guint32)(v >> 32));
}

static void ib_offset(InfoBuf *ib, gsize len)
{
  guint pos = ib->fixed->len;

  if (len == 0) {
    put_u32(ib->fixed, 0);
    return;
  }
  put_u32(ib->fixed, ib->var->len);
  g_array_append_val(ib->fixups, pos);
}

static void ib_var_data(InfoBuf *ib, const guint8 *data, gsize len)
{
  static const guint8 pad[3];

  g_byte_array_append(ib->var, data, (guint)len);
  if (len % 4)
    g_byte_array_append(ib->var, pad, (guint)(4 - len % 4));
}

/* Offset then size: MBIM's usual OL pair (strings, ref-struct-array). */
static void ib_ol(InfoBuf *ib, const guint8 *data, gsize len)
{
  ib_offset(ib, len);
  ib_u32(ib, (guint32)len);
  ib_var_data(ib, data, len);
}

/*
 * Size then offset: the byte arrays of MS UICC low level access (libmbim's
 * "uicc-ref-byte-array" format) put the size first.
 */
static void ib_uicc_bytes(InfoBuf *ib, const guint8 *data, gsize len)
{
  ib_u32(ib, (guint32)len);
  ib_offset(ib, len);
  ib_var_data(ib, data, len);
}

/* UTF-16LE without terminator, as MBIM strings are. */
static void ib_string(InfoBuf *ib, const char *utf8)
{
  g_autoptr(GByteArray) a = g_byte_array_new();

  for (const char *p = utf8 ? utf8 : ""; *p; p++) {
    guint8 c[2] = {(guint8)*p, 0};

    g_byte_array_append(a, c, 2);
  }
  ib_ol(ib, a->data, a->len);
}

static GByteArray *ib_finish(InfoBuf *ib)
{
  GByteArray *out = ib->fixed;

  for (guint i = 0; i < ib->fixups->len; i++) {
    guint pos = g_array_index(ib->fixups, guint, i);

    set_u32(out, pos, get_u32(out->data + pos) + out->len);
  }
  g_byte_array_append(out, ib->var->data, ib->var->len);
  g_byte_array_unref(ib->var);
  g_array_unref(ib->fixups);
  return out;
}

/* ---- output ---- */

static guint transfer_limit(MbimSim *s)
{
  guint limit = MAX(s->host_max_transfer, MIN_TRANSFER);

  if (s->max_transfer)
    limit = MIN(limit, MAX(s->max_transfer, MIN_TRANSFER));
  return limit;
}

static void send_simple(ModemSim *ms, guint32 type, guint32 tid, guint32 value)
{
  g_autoptr(GByteArray) m = g_byte_array_new();

  put_u32(m, type);
  put_u32(m, 16);
  put_u32(m, tid);
  put_u32(m, value);
  modem_sim_write(ms, m->data, m->len);
}

/*
 * Sends a fragmented message: the payload after the fragment header is cut
 * so that no fragment passes the transfer limit (MBIM 1.0 9.5).
 */
static void send_fragmented(ModemSim *ms, guint32 type, guint32 tid, const guint8 *payload,
                            gsize len)
{
  MbimSim *s = sim_get(ms);
  gsize chunk = transfer_limit(s) - HEADER_LEN - FRAGMENT_HEADER_LEN;
  guint32 total = (guint32)MAX((len + chunk - 1) / chunk, 1);

  for (guint32 i = 0; i < total; i++) {
    gsize off = i * chunk;
    gsize n = MIN(chunk, len - off);
    g_autoptr(GByteArray) m = g_byte_array_new();

    put_u32(m, type);
    put_u32(m, (guint32)(HEADER_LEN + FRAGMENT_HEADER_LEN + n));
    put_u32(m, tid);
    put_u32(m, total);
    put_u32(m, i);
    g_byte_array_append(m, payload + off, (guint)n);
    modem_sim_write(ms, m->data, m->len);
  }
}

static const guint8 *service_uuid(Service svc)
{
  switch (svc) {
  case SVC_BASIC_CONNECT:
    return uuid_basic_connect;
  case SVC_MS_BCE:
    return uuid_ms_bce;
  case SVC_MS_UICC:
    return uuid_ms_uicc;
  case SVC_OTHER:
    break;
  }
  return NULL;
}

static void send_command_done(ModemSim *ms, guint32 tid, const guint8 *uuid, guint32 cid,
                              guint32 status, const guint8 *buf, gsize len)
{
  g_autoptr(GByteArray) p = g_byte_array_new();

  g_byte_array_append(p, uuid, 16);
  put_u32(p, cid);
  put_u32(p, status);
  put_u32(p, (guint32)len);
  if (len)
    g_byte_array_append(p, buf, (guint)len);
  send_fragmented(ms, MSG_COMMAND_DONE, tid, p->data, p->len);
}

static void send_indication(ModemSim *ms, Service svc, guint32 cid, GByteArray *buf)
{
  g_autoptr(GByteArray) p = g_byte_array_new();

  g_byte_array_append(p, service_uuid(svc), 16);
  put_u32(p, cid);
  put_u32(p, buf->len);
  g_byte_array_append(p, buf->data, buf->len);
  send_fragmented(ms, MSG_INDICATE_STATUS, 0, p->data, p->len);
}

/* ---- the card ---- */

static EuiccSim *active_card(ModemSim *ms)
{
  return modem_sim_get_card(ms, modem_sim_get_active_slot(ms));
}

/* ISO 7816-4 5.4.1: the channel in the CLA, first or further interindustry
 * coding; the proprietary bit (GlobalPlatform STORE DATA) and chaining bit
 * are kept. */
static guint8 cla_with_channel(guint8 cla, guint channel)
{
  guint8 keep = cla & 0x90;

  if (channel < 4)
    return keep | (guint8)channel;
  return keep | 0x40 | (guint8)(channel - 4);
}

/*
 * One APDU to the active card, and GET RESPONSE for as long as the card says
 * 61xx (ETSI TS 102 221 7.3.1.1.4) unless the host asked to see 61xx.
 * Returns FALSE when there is nothing to answer (dropped, unplugged).
 */
static gboolean card_exchange(ModemSim *ms, guint channel, const guint8 *apdu, gsize len,
                              GByteArray *data, guint16 *sw)
{
  MbimSim *s = sim_get(ms);
  guint slot = modem_sim_get_active_slot(ms);
  g_autoptr(GBytes) rsp = modem_sim_transmit(ms, slot, apdu, len);

  for (;;) {
    gsize n;
    const guint8 *r;

    if (!rsp)
      return FALSE;
    r = g_bytes_get_data(rsp, &n);
    if (n < 2)
      return FALSE;
    g_byte_array_append(data, r, (guint)(n - 2));
    *sw = (guint16)(r[n - 2] << 8 | r[n - 1]);
    if (r[n - 2] != 0x61 || s->no_get_response)
      return TRUE;
    {
      guint8 get_response[5] = {cla_with_channel(0x00, channel), 0xC0, 0x00, 0x00, r[n - 1]};

      g_bytes_unref(rsp);
      rsp = modem_sim_transmit(ms, slot, get_response, sizeof get_response);
    }
  }
}

/* The status field of MS UICC low level access: SW1 in the low byte, SW2
 * above it, as ModemManager and lpac read it. */
static guint32 sw_to_status(guint16 sw)
{
  return (guint32)(sw >> 8) | (guint32)(sw & 0xFF) << 8;
}

static void close_card_channel(ModemSim *ms, guint channel)
{
  MbimSim *s = sim_get(ms);
  guint8 apdu[4] = {0x00, 0x70, 0x80, (guint8)channel};
  EuiccSim *card = modem_sim_get_card(ms, s->channels[channel].slot);

  /* Straight to the card: releasing a channel is the modem's own business,
   * not an APDU the host sent, so it neither counts nor trips close-after. */
  if (card) {
    GBytes *rsp = euicc_sim_transmit(card, apdu, sizeof apdu);

    if (rsp)
      g_bytes_unref(rsp);
  }
  s->channels[channel].open = FALSE;
}

static void close_all_channels(ModemSim *ms)
{
  MbimSim *s = sim_get(ms);

  for (guint ch = 1; ch < N_CHANNELS; ch++)
    if (s->channels[ch].open)
      close_card_channel(ms, ch);
}

/* ---- readiness after a slot switch or a reset ---- */

static guint32 subscriber_state(ModemSim *ms)
{
  MbimSim *s = sim_get(ms);
  EuiccSim *card = active_card(ms);

  if (s->not_ready)
    return READY_NOT_INITIALIZED;
  if (!card)
    return READY_SIM_NOT_INSERTED;
  if (euicc_sim_is_euicc(card) && !euicc_sim_get_iccid(card))
    return READY_NO_ESIM_PROFILE;
  return READY_INITIALIZED;
}

static GByteArray *build_subscriber_ready(ModemSim *ms)
{
  InfoBuf ib;
  guint32 state = subscriber_state(ms);
  EuiccSim *card = active_card(ms);

  ib_init(&ib);
  ib_u32(&ib, state);
  ib_string(&ib, NULL); /* SubscriberId: an IMSI the card model does not have */
  ib_string(&ib, state == READY_INITIALIZED && card ? euicc_sim_get_iccid(card) : NULL);
  ib_u32(&ib, 0); /* ReadyInfo */
  ib_u32(&ib, 0); /* no telephone numbers */
  return ib_finish(&ib);
}

static guint32 slot_state(ModemSim *ms, guint slot)
{
  MbimSim *s = sim_get(ms);
  EuiccSim *card = modem_sim_get_card(ms, slot);

  if (!card)
    return SLOT_EMPTY;
  if (s->not_ready && slot == modem_sim_get_active_slot(ms))
    return SLOT_NOT_READY;
  if (!euicc_sim_is_euicc(card))
    return SLOT_ACTIVE;
  return euicc_sim_get_iccid(card) ? SLOT_ACTIVE_ESIM : SLOT_ACTIVE_ESIM_NO_PROFILES;
}

static GByteArray *build_slot_info(ModemSim *ms, guint index)
{
  GByteArray *b = g_byte_array_new();

  put_u32(b, index);
  put_u32(b, slot_state(ms, index + 1));
  return b;
}

static gboolean on_ready(gpointer data)
{
  ModemSim *ms = data;
  MbimSim *s = sim_get(ms);

  g_source_unref(s->ready_timer);
  s->ready_timer = NULL;
  s->not_ready = FALSE;
  if (s->opened && !modem_sim_is_unplugged(ms)) {
    g_autoptr(GByteArray) ready = build_subscriber_ready(ms);
    g_autoptr(GByteArray) info = build_slot_info(ms, modem_sim_get_active_slot(ms) - 1);

    send_indication(ms, SVC_BASIC_CONNECT, 2, ready);
    if (!s->no_bce)
      send_indication(ms, SVC_MS_BCE, 8, info);
  }
  return G_SOURCE_REMOVE;
}

/* The card in the active slot restarts: channels are gone, and it reports
 * "not initialized" for a while, then an indication says it is ready. */
static void restart_card(ModemSim *ms)
{
  MbimSim *s = sim_get(ms);

  close_all_channels(ms);
  s->not_ready = TRUE;
  if (s->ready_timer) {
    g_source_destroy(s->ready_timer);
    g_source_unref(s->ready_timer);
  }
  s->ready_timer = g_timeout_source_new(s->switch_delay_ms);
  g_source_set_callback(s->ready_timer, on_ready, ms, NULL);
  g_source_attach(s->ready_timer, g_main_context_get_thread_default());
}

/* ---- commands ---- */

typedef struct {
  guint32 tid;
  Service service;
  const guint8 *uuid;
  guint32 cid;
  gboolean set;
  const guint8 *buf;
  gsize len;
} Command;

static void answer(ModemSim *ms, const Command *c, guint32 status, GByteArray *buf)
{
  send_command_done(ms, c->tid, c->uuid, c->cid, status, buf ? buf->data : NULL,
                    buf ? buf->len : 0);
}

static void answer_status(ModemSim *ms, const Command *c, guint32 status)
{
  answer(ms, c, status, NULL);
}

static const char *command_name(const Command *c)
{
  for (guint i = 0; i < G_N_ELEMENTS(command_names); i++)
    if (command_names[i].service == c->service && command_names[i].cid == c->cid)
      return command_names[i].name;
  return NULL;
}

/* The first knob that applies to this command, counted down; a knob used
 * up is removed. */
static gboolean take_fault(MbimSim *s, const Command *c, Fault *out)
{
  const char *name = command_name(c);

  for (guint i = 0; i < s->faults->len; i++) {
    Fault *f = g_ptr_array_index(s->faults, i);

    if (!g_str_equal(f->command, "any") && (!name || !g_str_equal(f->command, name)))
      continue;
    out->kind = f->kind;
    out->status = f->status;
    if (f->remaining && --f->remaining == 0)
      g_ptr_array_remove_index(s->faults, i);
    return TRUE;
  }
  return FALSE;
}

/* DataClass (MBIM 1.0 10.5.1; 5G NSA 1 << 6 and SA 1 << 7 from Microsoft's
 * MBIMEx 2.0) for rats=: GPRS and EDGE for GSM, UMTS, HSDPA and HSUPA for
 * UMTS. A modem that does not say has none. */
static guint32 data_class(guint rats)
{
  guint32 dc = 0;

  if (rats & MODEM_SIM_RAT_GSM)
    dc |= 1u << 0 | 1u << 1;
  if (rats & MODEM_SIM_RAT_UMTS)
    dc |= 1u << 2 | 1u << 3 | 1u << 4;
  if (rats & MODEM_SIM_RAT_LTE)
    dc |= 1u << 5;
  if (rats & MODEM_SIM_RAT_NR_NSA)
    dc |= 1u << 6;
  if (rats & MODEM_SIM_RAT_NR_SA)
    dc |= 1u << 7;
  return dc;
}

static void cmd_device_caps(ModemSim *ms, const Command *c)
{
  InfoBuf ib;
  g_autoptr(GByteArray) b = NULL;

  ib_init(&ib);
  ib_u32(&ib, 2); /* DeviceType: removable */
  ib_u32(&ib, 1); /* CellularClass: GSM */
  ib_u32(&ib, 1); /* VoiceClass: no voice */
  ib_u32(&ib, 2); /* SimClass: removable */
  ib_u32(&ib, data_class(modem_sim_get_rats(ms)));
  ib_u32(&ib, 0); /* SmsCaps */
  ib_u32(&ib, 1); /* ControlCaps: registration manual */
  ib_u32(&ib, 1); /* MaxSessions */
  ib_string(&ib, NULL);
  /* DeviceId: the IMEI of a GSM-class device (MBIM 1.0 10.5.1); empty when
   * the modem reports none (imei=). */
  ib_string(&ib, modem_sim_get_imei(ms));
  ib_string(&ib, "modem-sim 1.0");
  ib_string(&ib, "modem-sim");
  b = ib_finish(&ib);
  answer(ms, c, ST_SUCCESS, b);
}

static void add_service_element(InfoBuf *ib, const guint8 *uuid, const guint32 *cids, guint n)
{
  g_autoptr(GByteArray) e = g_byte_array_new();

  g_byte_array_append(e, uuid, 16);
  put_u32(e, 0); /* DssPayload */
  put_u32(e, 0); /* MaxDssInstances */
  put_u32(e, n);
  for (guint i = 0; i < n; i++)
    put_u32(e, cids[i]);
  ib_ol(ib, e->data, e->len);
}

static void cmd_device_services(ModemSim *ms, const Command *c)
{
  MbimSim *s = sim_get(ms);
  static const guint32 bc_cids[] = {1, 2, 4, 16, 19};
  static const guint32 bce_cids[] = {5, 7, 8};
  static const guint32 uicc_cids[] = {1, 2, 3, 4, 6};
  InfoBuf ib;
  g_autoptr(GByteArray) b = NULL;

  ib_init(&ib);
  ib_u32(&ib, s->no_bce ? 2 : 3);
  ib_u32(&ib, 0); /* MaxDssSessions */
  add_service_element(&ib, uuid_basic_connect, bc_cids, G_N_ELEMENTS(bc_cids));
  if (!s->no_bce)
    add_service_element(&ib, uuid_ms_bce, bce_cids, G_N_ELEMENTS(bce_cids));
  add_service_element(&ib, uuid_ms_uicc, uicc_cids, G_N_ELEMENTS(uicc_cids));
  b = ib_finish(&ib);
  answer(ms, c, ST_SUCCESS, b);
}

static void cmd_basic_connect(ModemSim *ms, const Command *c)
{
  switch (c->cid) {
  case 1:
    if (!c->set) {
      cmd_device_caps(ms, c);
      return;
    }
    break;
  case 2:
    if (!c->set) {
      g_autoptr(GByteArray) b = build_subscriber_ready(ms);

      answer(ms, c, ST_SUCCESS, b);
      return;
    }
    break;
  case 4:
    /* PIN query (MBIM 1.0 10.5.6): no PIN to enter once the card is ready:
     * PinType None, PinState Unlocked, RemainingAttempts. */
    if (!c->set) {
      g_autoptr(GByteArray) b = g_byte_array_new();
      guint32 state = subscriber_state(ms);

      if (state != READY_INITIALIZED) {
        answer(ms, c, state == READY_NOT_INITIALIZED ? ST_NO_DEVICE_SUPPORT : ST_SIM_NOT_INSERTED,
               NULL);
        return;
      }
      put_u32(b, 0);
      put_u32(b, 0);
      put_u32(b, 0);
      answer(ms, c, ST_SUCCESS, b);
      return;
    }
    break;
  case 16:
    if (!c->set) {
      cmd_device_services(ms, c);
      return;
    }
    break;
  case 19:
    /* The host tells which indications it wants; this modem sends its few
     * indications regardless, and echoes the list as MBIM 1.0 10.5.39 asks. */
    if (c->set) {
      g_autoptr(GByteArray) b = g_byte_array_new();

      g_byte_array_append(b, c->buf, (guint)c->len);
      answer(ms, c, ST_SUCCESS, b);
      return;
    }
    break;
  default:
    break;
  }
  answer_status(ms, c, ST_NO_DEVICE_SUPPORT);
}

static GByteArray *build_slot_mappings(ModemSim *ms)
{
  InfoBuf ib;
  g_autoptr(GByteArray) slot = g_byte_array_new();

  put_u32(slot, modem_sim_get_active_slot(ms) - 1);
  ib_init(&ib);
  ib_u32(&ib, 1); /* one executor */
  ib_ol(&ib, slot->data, slot->len);
  return ib_finish(&ib);
}

static void cmd_slot_mappings_set(ModemSim *ms, const Command *c)
{
  guint32 count, off, size, slot;
  g_autoptr(GByteArray) b = NULL;

  if (c->len < 12 || (count = get_u32(c->buf)) != 1) {
    answer_status(ms, c, ST_INVALID_PARAMETERS);
    return;
  }
  off = get_u32(c->buf + 4);
  size = get_u32(c->buf + 8);
  if (size < 4 || off > c->len || c->len - off < size) {
    answer_status(ms, c, ST_INVALID_PARAMETERS);
    return;
  }
  slot = get_u32(c->buf + off);
  if (slot >= modem_sim_get_n_slots(ms)) {
    answer_status(ms, c, ST_INVALID_PARAMETERS);
    return;
  }
  if (slot + 1 != modem_sim_get_active_slot(ms)) {
    close_all_channels(ms);
    modem_sim_set_active_slot(ms, slot + 1);
    restart_card(ms);
  }
  b = build_slot_mappings(ms);
  answer(ms, c, ST_SUCCESS, b);
}

static void cmd_ms_bce(ModemSim *ms, const Command *c)
{
  MbimSim *s = sim_get(ms);

  if (s->no_bce) {
    answer_status(ms, c, ST_NO_DEVICE_SUPPORT);
    return;
  }
  switch (c->cid) {
  case 5:
    if (!c->set) {
      InfoBuf ib;
      g_autoptr(GByteArray) b = NULL;

      ib_init(&ib);
      ib_u32(&ib, 1); /* executors */
      ib_u32(&ib, modem_sim_get_n_slots(ms));
      ib_u32(&ib, 1);                            /* concurrency */
      ib_u64(&ib, G_GUINT64_CONSTANT(0x5EED01)); /* modem id */
      b = ib_finish(&ib);
      answer(ms, c, ST_SUCCESS, b);
      return;
    }
    break;
  case 7:
    if (c->set) {
      cmd_slot_mappings_set(ms, c);
    } else {
      g_autoptr(GByteArray) b = build_slot_mappings(ms);

      answer(ms, c, ST_SUCCESS, b);
    }
    return;
  case 8:
    if (!c->set) {
      g_autoptr(GByteArray) b = NULL;
      guint32 index;

      if (c->len < 4 || (index = get_u32(c->buf)) >= modem_sim_get_n_slots(ms)) {
        answer_status(ms, c, ST_INVALID_PARAMETERS);
        return;
      }
      b = build_slot_info(ms, index);
      answer(ms, c, ST_SUCCESS, b);
      return;
    }
    break;
  default:
    break;
  }
  answer_status(ms, c, ST_NO_DEVICE_SUPPORT);
}

/* Reads a size-then-offset byte array of MS UICC low level access. */
static gboolean read_uicc_bytes(const Command *c, gsize at, const guint8 **data, gsize *len)
{
  guint32 size, off;

  if (c->len < at + 8)
    return FALSE;
  size = get_u32(c->buf + at);
  off = get_u32(c->buf + at + 4);
  if (size == 0) {
    *data = NULL;
    *len = 0;
    return TRUE;
  }
  if (off > c->len || c->len - off < size)
    return FALSE;
  *data = c->buf + off;
  *len = size;
  return TRUE;
}

static void answer_open_channel(ModemSim *ms, const Command *c, guint32 status, guint16 sw,
                                guint channel, const guint8 *rsp, gsize len)
{
  InfoBuf ib;
  g_autoptr(GByteArray) b = NULL;

  ib_init(&ib);
  ib_u32(&ib, sw ? sw_to_status(sw) : 0);
  ib_u32(&ib, channel);
  ib_uicc_bytes(&ib, rsp, len);
  b = ib_finish(&ib);
  answer(ms, c, status, b);
}

/*
 * MS UICC open channel: MANAGE CHANNEL open, then SELECT by AID on the new
 * channel. A failed SELECT closes the channel again and is reported as
 * MBIM_STATUS_MS_SELECT_FAILED with the card's status word in Status.
 */
static void cmd_open_channel(ModemSim *ms, const Command *c)
{
  MbimSim *s = sim_get(ms);
  const guint8 *aid;
  gsize aid_len;
  guint32 p2, group;
  guint8 manage[5] = {0x00, 0x70, 0x00, 0x00, 0x01};
  g_autoptr(GByteArray) data = g_byte_array_new();
  g_autoptr(GByteArray) select = g_byte_array_new();
  guint16 sw = 0;
  guint channel;

  if (!read_uicc_bytes(c, 0, &aid, &aid_len) || c->len < 16 || aid_len == 0 || aid_len > 16) {
    answer_status(ms, c, ST_INVALID_PARAMETERS);
    return;
  }
  p2 = get_u32(c->buf + 8);
  group = get_u32(c->buf + 12);
  if (!active_card(ms) || s->not_ready) {
    answer_status(ms, c, ST_SIM_NOT_INSERTED);
    return;
  }

  if (!card_exchange(ms, 0, manage, sizeof manage, data, &sw))
    return;
  if (sw != 0x9000 || data->len != 1 || data->data[0] == 0 || data->data[0] >= N_CHANNELS) {
    answer_open_channel(ms, c, ST_MS_NO_LOGICAL_CHANNELS, sw, 0, NULL, 0);
    return;
  }
  channel = data->data[0];
  s->channels[channel].open = TRUE;
  s->channels[channel].group = group;
  s->channels[channel].slot = modem_sim_get_active_slot(ms);

  g_byte_array_append(
      select,
      (const guint8[]){cla_with_channel(0x00, channel), 0xA4, 0x04, (guint8)p2, (guint8)aid_len},
      5);
  g_byte_array_append(select, aid, (guint)aid_len);
  if (p2 != 0x0C)
    g_byte_array_append(select, (const guint8[]){0x00}, 1);
  g_byte_array_set_size(data, 0);
  if (!card_exchange(ms, channel, select->data, select->len, data, &sw))
    return;
  if (sw != 0x9000 && s->select_status_only) {
    answer_open_channel(ms, c, ST_SUCCESS, sw, channel, data->data, data->len);
    return;
  }
  if (sw != 0x9000) {
    close_card_channel(ms, channel);
    answer_open_channel(ms, c, ST_MS_SELECT_FAILED, sw, 0, NULL, 0);
    return;
  }
  answer_open_channel(ms, c, ST_SUCCESS, sw, channel, data->data, data->len);
}

/* Channel N closes that channel; channel 0 closes every channel of the group. */
static void cmd_close_channel(ModemSim *ms, const Command *c)
{
  MbimSim *s = sim_get(ms);
  guint32 channel, group;
  g_autoptr(GByteArray) b = g_byte_array_new();

  if (c->len < 8) {
    answer_status(ms, c, ST_INVALID_PARAMETERS);
    return;
  }
  channel = get_u32(c->buf);
  group = get_u32(c->buf + 4);
  if (channel == 0) {
    for (guint ch = 1; ch < N_CHANNELS; ch++)
      if (s->channels[ch].open && s->channels[ch].group == group)
        close_card_channel(ms, ch);
  } else if (channel >= N_CHANNELS || !s->channels[channel].open) {
    answer_status(ms, c, ST_MS_INVALID_LOGICAL_CHANNEL);
    return;
  } else {
    close_card_channel(ms, channel);
  }
  put_u32(b, sw_to_status(0x9000));
  answer(ms, c, ST_SUCCESS, b);
}

static void cmd_apdu(ModemSim *ms, const Command *c)
{
  MbimSim *s = sim_get(ms);
  guint32 channel, cla_type;
  const guint8 *cmd;
  gsize cmd_len;
  g_autofree guint8 *apdu = NULL;
  g_autoptr(GByteArray) data = g_byte_array_new();
  guint16 sw = 0;
  InfoBuf ib;
  g_autoptr(GByteArray) b = NULL;

  if (c->len < 20 || !read_uicc_bytes(c, 12, &cmd, &cmd_len) || cmd_len < 4) {
    answer_status(ms, c, ST_INVALID_PARAMETERS);
    return;
  }
  channel = get_u32(c->buf);
  cla_type = get_u32(c->buf + 8);
  if (channel >= N_CHANNELS || (channel != 0 && !s->channels[channel].open)) {
    answer_status(ms, c, ST_MS_INVALID_LOGICAL_CHANNEL);
    return;
  }
  /* The first interindustry CLA coding cannot name channels above 3. */
  if (cla_type > 1 || (cla_type == 0 && channel > 3)) {
    answer_status(ms, c, ST_INVALID_PARAMETERS);
    return;
  }
  apdu = g_memdup2(cmd, cmd_len);
  apdu[0] = cla_with_channel(apdu[0], channel);
  if (!card_exchange(ms, channel, apdu, cmd_len, data, &sw))
    return;

  ib_init(&ib);
  ib_u32(&ib, sw_to_status(sw));
  ib_uicc_bytes(&ib, data->data, data->len);
  b = ib_finish(&ib);
  answer(ms, c, ST_SUCCESS, b);
}

/* A fixed ATR of a UICC offering T=0 and logical channels. */
static const guint8 sim_atr[] = {0x3B, 0x9F, 0x96, 0x80, 0x1F, 0xC7, 0x80, 0x31, 0xE0, 0x73, 0xFE,
                                 0x21, 0x1B, 0x63, 0x3A, 0x20, 0x4E, 0x83, 0x00, 0x90, 0x00, 0x31};

static void cmd_ms_uicc(ModemSim *ms, const Command *c)
{
  MbimSim *s = sim_get(ms);

  switch (c->cid) {
  case 1:
    if (!c->set) {
      InfoBuf ib;
      g_autoptr(GByteArray) b = NULL;

      if (!active_card(ms)) {
        answer_status(ms, c, ST_SIM_NOT_INSERTED);
        return;
      }
      ib_init(&ib);
      ib_uicc_bytes(&ib, sim_atr, sizeof sim_atr);
      b = ib_finish(&ib);
      answer(ms, c, ST_SUCCESS, b);
      return;
    }
    break;
  case 2:
    if (c->set) {
      cmd_open_channel(ms, c);
      return;
    }
    break;
  case 3:
    if (c->set) {
      cmd_close_channel(ms, c);
      return;
    }
    break;
  case 4:
    if (c->set) {
      cmd_apdu(ms, c);
      return;
    }
    break;
  case 6:
    if (s->no_reset)
      break;
    if (c->set) {
      if (c->len < 4 || get_u32(c->buf) > 1) {
        answer_status(ms, c, ST_INVALID_PARAMETERS);
        return;
      }
      s->pass_through = get_u32(c->buf);
      restart_card(ms);
    }
    {
      g_autoptr(GByteArray) b = g_byte_array_new();

      put_u32(b, s->pass_through);
      answer(ms, c, ST_SUCCESS, b);
    }
    return;
  default:
    break;
  }
  answer_status(ms, c, ST_NO_DEVICE_SUPPORT);
}

static void handle_command(ModemSim *ms, const Command *c)
{
  MbimSim *s = sim_get(ms);
  Fault f;

  if (take_fault(s, c, &f)) {
    switch (f.kind) {
    case FAULT_STATUS:
      answer_status(ms, c, f.status);
      return;
    case FAULT_SILENT:
      return;
    case FAULT_GARBAGE: {
      /* A buffer too short for the fixed fields any of these commands has,
       * with a size field that points past its end. */
      g_autoptr(GByteArray) b = g_byte_array_new();

      put_u32(b, 0x00000100);
      answer(ms, c, ST_SUCCESS, b);
      return;
    }
    }
  }

  switch (c->service) {
  case SVC_BASIC_CONNECT:
    cmd_basic_connect(ms, c);
    return;
  case SVC_MS_BCE:
    cmd_ms_bce(ms, c);
    return;
  case SVC_MS_UICC:
    cmd_ms_uicc(ms, c);
    return;
  case SVC_OTHER:
    break;
  }
  answer_status(ms, c, ST_NO_DEVICE_SUPPORT);
}

/* A whole COMMAND message (fragments joined): service, CID, type, buffer. */
static void process_command(ModemSim *ms, guint32 tid, const guint8 *p, gsize len)
{
  Command c = {.tid = tid};
  guint32 type, buflen;

  /* p points at the service UUID. */
  if (len < 28) {
    send_simple(ms, MSG_FUNCTION_ERROR, tid, ERR_LENGTH_MISMATCH);
    return;
  }
  c.uuid = p;
  c.cid = get_u32(p + 16);
  type = get_u32(p + 20);
  buflen = get_u32(p + 24);
  if (buflen != len - 28 || type > 1) {
    send_simple(ms, MSG_FUNCTION_ERROR, tid, ERR_LENGTH_MISMATCH);
    return;
  }
  c.set = type == 1;
  c.buf = p + 28;
  c.len = buflen;
  if (memcmp(p, uuid_basic_connect, 16) == 0)
    c.service = SVC_BASIC_CONNECT;
  else if (memcmp(p, uuid_ms_bce, 16) == 0)
    c.service = SVC_MS_BCE;
  else if (memcmp(p, uuid_ms_uicc, 16) == 0)
    c.service = SVC_MS_UICC;
  else
    c.service = SVC_OTHER;
  handle_command(ms, &c);
}

static void handle_command_fragment(ModemSim *ms, guint32 tid, const guint8 *msg, gsize len)
{
  MbimSim *s = sim_get(ms);
  guint32 total, current;

  if (len < HEADER_LEN + FRAGMENT_HEADER_LEN) {
    send_simple(ms, MSG_FUNCTION_ERROR, tid, ERR_LENGTH_MISMATCH);
    return;
  }
  total = get_u32(msg + 12);
  current = get_u32(msg + 16);
  msg += HEADER_LEN + FRAGMENT_HEADER_LEN;
  len -= HEADER_LEN + FRAGMENT_HEADER_LEN;

  if (total <= 1 && current == 0) {
    process_command(ms, tid, msg, len);
    return;
  }
  if (current == 0) {
    g_byte_array_set_size(s->frag, 0);
    s->frag_tid = tid;
    s->frag_total = total;
    s->frag_next = 0;
  } else if (tid != s->frag_tid || current != s->frag_next || total != s->frag_total) {
    /* MBIM 1.0 9.3.4: a fragment out of order ends the whole message. */
    g_byte_array_set_size(s->frag, 0);
    s->frag_total = 0;
    send_simple(ms, MSG_FUNCTION_ERROR, tid, ERR_FRAGMENT_OUT_OF_SEQUENCE);
    return;
  }
  g_byte_array_append(s->frag, msg, (guint)len);
  if (++s->frag_next == s->frag_total) {
    g_autoptr(GByteArray) whole = g_byte_array_ref(s->frag);

    s->frag = g_byte_array_new();
    s->frag_total = 0;
    process_command(ms, tid, whole->data, whole->len);
    g_byte_array_unref(whole);
  }
}

static gsize mbim_feed(ModemSim *ms, const guint8 *data, gsize len)
{
  MbimSim *s = sim_get(ms);
  guint32 type, msg_len, tid;

  if (len < HEADER_LEN)
    return 0;
  type = get_u32(data);
  msg_len = get_u32(data + 4);
  tid = get_u32(data + 8);
  /* No way to find the next message boundary in a stream that lies about
   * lengths: report it and drop what is buffered. */
  if (msg_len < HEADER_LEN || msg_len > MAX_MESSAGE) {
    send_simple(ms, MSG_FUNCTION_ERROR, tid, ERR_LENGTH_MISMATCH);
    return len;
  }
  if (len < msg_len)
    return 0;

  switch (type) {
  case MSG_OPEN:
    if (msg_len < 16) {
      send_simple(ms, MSG_FUNCTION_ERROR, tid, ERR_LENGTH_MISMATCH);
      break;
    }
    s->opened = TRUE;
    s->host_max_transfer = get_u32(data + 12);
    close_all_channels(ms);
    send_simple(ms, MSG_OPEN_DONE, tid, ST_SUCCESS);
    break;
  case MSG_CLOSE:
    /* A closing host leaves nothing behind on the card (MBIM 1.0 9.3.2). */
    s->opened = FALSE;
    close_all_channels(ms);
    send_simple(ms, MSG_CLOSE_DONE, tid, ST_SUCCESS);
    break;
  case MSG_COMMAND:
    if (!s->opened) {
      send_simple(ms, MSG_FUNCTION_ERROR, tid, ERR_NOT_OPENED);
      break;
    }
    handle_command_fragment(ms, tid, data, msg_len);
    break;
  case MSG_HOST_ERROR:
    break;
  default:
    send_simple(ms, MSG_FUNCTION_ERROR, tid, ERR_UNKNOWN);
    break;
  }
  return msg_len;
}

static gboolean parse_count(const char *spec, char **name, guint *count, GError **error)
{
  const char *at = strchr(spec, '@');
  guint64 n = 0;

  if (at && !g_ascii_string_to_unsigned(at + 1, 10, 1, G_MAXUINT, &n, NULL)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Bad count in '%s'", spec);
    return FALSE;
  }
  *name = at ? g_strndup(spec, (gsize)(at - spec)) : g_strdup(spec);
  *count = (guint)n;
  return TRUE;
}

static gboolean known_command(const char *name)
{
  if (g_str_equal(name, "any"))
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS(command_names); i++)
    if (g_str_equal(command_names[i].name, name))
      return TRUE;
  return FALSE;
}

static gboolean add_fault(MbimSim *s, FaultKind kind, const char *spec, GError **error)
{
  g_autofree char *name = NULL;
  guint count;
  guint64 status = 0;
  Fault *f;

  if (!parse_count(spec, &name, &count, error))
    return FALSE;
  if (kind == FAULT_STATUS) {
    char *colon = strchr(name, ':');
    char *end = NULL;

    if (!colon) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                  "status= needs CMD:STATUS, got '%s'", spec);
      return FALSE;
    }
    *colon = '\0';
    status = g_ascii_strtoull(colon + 1, &end, 0);
    if (end == colon + 1 || *end || status > G_MAXUINT32) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Bad MBIM status in '%s'", spec);
      return FALSE;
    }
  }
  if (!known_command(name)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Unknown MBIM command '%s'", name);
    return FALSE;
  }
  f = g_new0(Fault, 1);
  f->kind = kind;
  f->command = g_steal_pointer(&name);
  f->status = (guint32)status;
  f->remaining = count;
  g_ptr_array_add(s->faults, f);
  return TRUE;
}

static gboolean parse_knob_uint(const char *name, const char *value, guint *out, GError **error)
{
  guint64 v;

  if (!value || !g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT, &v, NULL)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Option %s needs a number", name);
    return FALSE;
  }
  *out = (guint)v;
  return TRUE;
}

static gboolean mbim_set_option(ModemSim *ms, const char *option, GError **error)
{
  MbimSim *s = sim_get(ms);
  g_auto(GStrv) kv = g_strsplit(option, "=", 2);
  const char *name = kv[0];
  const char *value = kv[1];

  if (g_str_equal(name, "status") && value)
    return add_fault(s, FAULT_STATUS, value, error);
  if (g_str_equal(name, "garbage") && value)
    return add_fault(s, FAULT_GARBAGE, value, error);
  if (g_str_equal(name, "silent") && value)
    return add_fault(s, FAULT_SILENT, value, error);
  if (g_str_equal(name, "no-basic-connect-ext") && !value) {
    s->no_bce = TRUE;
    return TRUE;
  }
  if (g_str_equal(name, "no-uicc-reset") && !value) {
    s->no_reset = TRUE;
    return TRUE;
  }
  if (g_str_equal(name, "no-get-response") && !value) {
    s->no_get_response = TRUE;
    return TRUE;
  }
  if (g_str_equal(name, "select-status-only") && !value) {
    s->select_status_only = TRUE;
    return TRUE;
  }
  if (g_str_equal(name, "max-transfer"))
    return parse_knob_uint(name, value, &s->max_transfer, error);
  if (g_str_equal(name, "switch-delay-ms"))
    return parse_knob_uint(name, value, &s->switch_delay_ms, error);
  if (g_str_equal(name, "clear") && !value) {
    g_ptr_array_set_size(s->faults, 0);
    return TRUE;
  }
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Unknown MBIM option '%s'", option);
  return FALSE;
}

const ModemSimProtocolOps modem_sim_mbim_ops = {
    .feed = mbim_feed,
    .set_option = mbim_set_option,
    .finalize = mbim_finalize,
};
