/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * card-file: the text description of one simulated card (tests/sim/README.md
 * documents the format) parsed into the plain data the card model starts
 * from. Private to euicc-sim.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* NotificationEvent bit numbers, SGP.22 rsp.asn. */
typedef enum {
  SIM_EVENT_INSTALL = 0,
  SIM_EVENT_ENABLE = 1,
  SIM_EVENT_DISABLE = 2,
  SIM_EVENT_DELETE = 3,
  SIM_EVENT_COUNT
} SimEvent;

/* ProfileClass values, SGP.22 rsp.asn. */
typedef enum {
  SIM_CLASS_TEST = 0,
  SIM_CLASS_PROVISIONING = 1,
  SIM_CLASS_OPERATIONAL = 2,
} SimProfileClass;

typedef struct {
  char *iccid;          /* decimal digits as written, 18 to 20 of them */
  guint8 iccid_bcd[10]; /* EF.ICCID coding: swapped nibbles, F padding */
  guint8 aid[16];
  gsize aid_len;
  gboolean enabled;
  char *name;
  char *provider;
  char *nickname; /* NULL when the user never set one */
  int icon_type;  /* -1 none, 0 jpg, 1 png */
  GBytes *icon;
  SimProfileClass klass;
  gboolean preloaded; /* a test profile loaded at the factory, kept by memory reset */
  gboolean has_owner;
  guint8 owner_mccmnc[3]; /* 3GPP TS 24.008 coding */
  char *notify_address[SIM_EVENT_COUNT];
  guint32 pprs; /* PprIds bit numbers: 1 << 1 is PPR1, 1 << 2 is PPR2 */
} SimProfile;

typedef struct {
  guint seq;
  SimEvent event;
  char *address;
  char *iccid; /* may be NULL */
  guint8 iccid_bcd[10];
  guint8 aid[16]; /* the ISD-P, for an install result */
  gsize aid_len;
  /* The ProfileInstallationResult (BF37) exactly as a download left it,
   * signed; NULL for notifications of the card file (SGP.22 5.7.6). */
  GBytes *pir;
} SimNotification;

typedef struct {
  guint32 pprs;
  GPtrArray *operators; /* GBytes of 3 bytes each */
  gboolean consent_required;
} SimRatRule;

typedef struct {
  gboolean euicc;
  char *eid;           /* 32 hex digits */
  char *plain_iccid;   /* type plain only */
  gboolean gsma_isdr;  /* the GSMA ISD-R AID answers */
  GPtrArray *alt_aids; /* GBytes: further ISD-R AIDs */
  guint max_channels;
  char *default_smdp; /* NULL when none */
  char *root_smds;
  guint8 svn[3];
  guint8 profile_version[3];
  guint8 firmware_version[3];
  guint8 javacard_version[3];
  guint8 gp_version[3];
  guint8 pp_version[3];
  char *sas_accreditation;
  int category; /* -1 leaves it out */
  guint installed_applications;
  guint free_nv_memory;
  guint free_volatile_memory;
  guint max_profiles;      /* 0: only free-nv-memory limits downloads */
  char *pki_dir;           /* the RSP credentials (mkpki layout), NULL when none */
  guint32 uicc_capability; /* UICCCapability bit numbers */
  guint32 rsp_capability;  /* RspCapability bit numbers */
  guint32 forbidden_pprs;
  GPtrArray *ci_pkids; /* GBytes */
  GPtrArray *rat;      /* SimRatRule */
  gboolean notify_always;
  guint next_seq;
  GPtrArray *profiles;      /* SimProfile */
  GPtrArray *notifications; /* SimNotification */
} SimCard;

SimCard *sim_card_parse(const char *text, GError **error);
void sim_card_free(SimCard *card);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SimCard, sim_card_free)

void sim_profile_free(SimProfile *p);
void sim_notification_free(SimNotification *n);

/* ICCID digits to EF.ICCID bytes (ITU-T E.118 BCD, nibbles swapped). */
gboolean sim_iccid_to_bcd(const char *digits, guint8 out[10]);
/* The reverse: digits up to the first F filler. */
char *sim_iccid_from_bcd(const guint8 bcd[10]);

G_END_DECLS
