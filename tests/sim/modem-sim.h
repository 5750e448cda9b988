/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * modem-sim: euicc-sim cards behind a pty that speaks a modem's control
 * protocol (QMUX, MBIM or AT) to the real libqmi, libmbim or an AT client.
 * It runs on the thread-default GMainContext it was started on, so a test can
 * drive the daemon's transport and the simulated modem from one main loop.
 *
 * Layout: modem-sim.c owns the pty, the slots, the knobs shared by every
 * protocol and the write path; modem-sim-qmi.c, modem-sim-mbim.c and
 * modem-sim-at.c each implement ModemSimProtocolOps.
 */
#pragma once

#include <gio/gio.h>

#include "euicc-sim.h"

G_BEGIN_DECLS

typedef enum {
  MODEM_SIM_PROTOCOL_QMI,
  MODEM_SIM_PROTOCOL_MBIM,
  MODEM_SIM_PROTOCOL_AT,
} ModemSimProtocol;

typedef struct _ModemSim ModemSim;

typedef struct {
  /* Called with every chunk read from the pty; returns how many bytes of the
   * buffered input it consumed (whole frames or lines); the rest stays
   * buffered until more bytes arrive. */
  gsize (*feed)(ModemSim *ms, const guint8 *data, gsize len);
  /* Protocol-specific knob, "name" or "name=value"; FALSE if unknown. */
  gboolean (*set_option)(ModemSim *ms, const char *option, GError **error);
  void (*finalize)(ModemSim *ms);
} ModemSimProtocolOps;

extern const ModemSimProtocolOps modem_sim_qmi_ops;
extern const ModemSimProtocolOps modem_sim_mbim_ops;
extern const ModemSimProtocolOps modem_sim_at_ops;

/* One physical slot: an eUICC, a plain SIM, or nothing. */
typedef struct {
  EuiccSim *card; /* NULL for an empty slot */
} ModemSimSlot;

ModemSim *modem_sim_new(ModemSimProtocol protocol);
/*
 * A further port of the same modem, as a USB modem offers several ttys: its
 * own pty and protocol, the slots and cards of first (shared, not copied: a
 * profile switched through one port is the card every port sees). The card
 * knobs (fault=, clear-faults, max-channels=, apdu-log=) act on the shared
 * cards once, through first; given to this port they change nothing. The
 * cards live until the last port sharing them is freed.
 */
ModemSim *modem_sim_new_port(ModemSim *first, ModemSimProtocol protocol);
void modem_sim_free(ModemSim *ms);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ModemSim, modem_sim_free)

/* Adds the next slot (1, 2, ...) holding the card from that file, or an empty
 * slot when card_file is NULL. */
gboolean modem_sim_add_slot(ModemSim *ms, const char *card_file, GError **error);
guint modem_sim_get_n_slots(ModemSim *ms);
/* 1-based; NULL card for an empty slot. */
EuiccSim *modem_sim_get_card(ModemSim *ms, guint slot);
/* The slot the modem uses now (1 at start). */
guint modem_sim_get_active_slot(ModemSim *ms);
void modem_sim_set_active_slot(ModemSim *ms, guint slot);

/* Creates the pty and starts serving on the thread-default main context. */
gboolean modem_sim_start(ModemSim *ms, GError **error);
/* The pty slave a client opens as its modem port. */
const char *modem_sim_get_port(ModemSim *ms);

/*
 * Knobs shared by every protocol:
 *   delay-ms=N        add N ms before every answer
 *   close-after=N     close the pty instead of answering the Nth APDU
 *   max-channels=N    the modem offers only N logical channels
 *   apdu-log=PATH     log every APDU the cards see (slot 1 to PATH, slot N > 1
 *                     to "PATH.N")
 *   fault=SPEC        a card fault (euicc-sim --fault SPEC) for every slot's card
 *   clear-faults      forget every card fault given so far
 *   imei=DIGITS       the modem's IMEI (QMI DMS Get IDs, MBIM Device Caps
 *                     DeviceId, AT+CGSN); "imei=" alone: the modem reports
 *                     none. Default MODEM_SIM_DEFAULT_IMEI.
 *   rats=LIST         the radio technologies the modem reports, a comma list
 *                     of gsm, umts, lte, nr-nsa, nr-sa (QMI DMS Get
 *                     Capabilities, MBIM Device Caps DataClass, AT+WS46=?);
 *                     "rats=" alone: the modem does not say (QMI and AT
 *                     refuse the command, MBIM's DataClass is 0). Default
 *                     gsm,umts,lte.
 * anything else goes to the protocol's set_option (e.g. QMI's
 * "error=0x003B:0x0010" or AT's "quirk=cme-error").
 *
 * QMI options (modem-sim-qmi.c):
 *   error=MSGID:QMIERR  answer that UIM (or DMS) message with that QMI error result
 *   malformed=MSGID     answer that UIM message without its result TLV
 *   no-slot-status      Get Slot Status and Switch Slot are unknown commands
 *   clear-errors        forget every error= and malformed= rule
 */
gboolean modem_sim_set_option(ModemSim *ms, const char *option, GError **error);
/* Closes the pty now, as if the modem was unplugged. */
void modem_sim_unplug(ModemSim *ms);

/* For protocol modules: queue bytes to the client, honouring delay-ms. */
void modem_sim_write(ModemSim *ms, const guint8 *data, gsize len);
/*
 * For protocol modules: pass a command APDU to the card in a slot. Applies
 * close-after and counts APDUs. Returns NULL when the card dropped the
 * response or the port was closed (check modem_sim_is_unplugged()).
 */
GBytes *modem_sim_transmit(ModemSim *ms, guint slot, const guint8 *apdu, gsize len);
gboolean modem_sim_is_unplugged(ModemSim *ms);
/* The protocol module's private state. */
gpointer modem_sim_get_protocol_data(ModemSim *ms);
void modem_sim_set_protocol_data(ModemSim *ms, gpointer data);
guint modem_sim_get_max_channels(ModemSim *ms);

/* A test IMEI: TAC 35290611, serial 123456, Luhn check digit 5 (3GPP TS
 * 23.003 6.2.1, B.1). */
#define MODEM_SIM_DEFAULT_IMEI "352906111234565"
/* The IMEI the modem reports; NULL when it reports none (imei=). */
const char *modem_sim_get_imei(ModemSim *ms);

/* The radio technologies of rats=. */
typedef enum {
  MODEM_SIM_RAT_GSM = 1 << 0,
  MODEM_SIM_RAT_UMTS = 1 << 1,
  MODEM_SIM_RAT_LTE = 1 << 2,
  MODEM_SIM_RAT_NR_NSA = 1 << 3,
  MODEM_SIM_RAT_NR_SA = 1 << 4,
} ModemSimRat;
/* The ModemSimRat bits the modem reports; 0 when it does not say (rats=). */
guint modem_sim_get_rats(ModemSim *ms);

G_END_DECLS
