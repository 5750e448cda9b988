/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SGP.22 ES10 codec: request encoders produce the DER of one ES10 command
 * (the data that goes into STORE DATA), response decoders turn the card's DER
 * into plain C structs. Pure: no I/O, no main loop, GLib data types only.
 *
 * Conventions, the same for every command:
 * - encoders return a new GBytes; those that take caller input take a GError
 *   and return NULL when SGP.22 cannot say what was asked;
 * - decoders take (const guint8 *buf, gsize len), the whole response data
 *   without the status word, and return TRUE with their outputs set or FALSE
 *   with an ES10_ERROR (tlv.h) and their outputs untouched;
 * - a card's result code is an output, not an error: it comes back as the
 *   named enum value of that command; a code SGP.22 does not define for that
 *   command is ES10_ERROR_INVALID_VALUE;
 * - BIT STRINGs come back as guint32 masks: named bit n of rsp.asn is (1u << n);
 * - identifiers (ICCID, EID, AID, key ids) are upper-case strings, ICCIDs as
 *   digits, the others as hex.
 */
#pragma once

#include <glib.h>

#include "es10/tlv.h"

G_BEGIN_DECLS

/* ---- Commands ----------------------------------------------------------- */

/* Every ES10 command the codec speaks; request and response share one tag. */
typedef enum {
  ES10_CMD_GET_EUICC_CONFIGURED_ADDRESSES, /* ES10a, BF3C */
  ES10_CMD_SET_DEFAULT_DP_ADDRESS,         /* ES10a, BF3F */
  ES10_CMD_GET_EUICC_INFO1,                /* ES10b, BF20 */
  ES10_CMD_GET_EUICC_INFO2,                /* ES10b, BF22 */
  ES10_CMD_LIST_NOTIFICATION,              /* ES10b, BF28 */
  ES10_CMD_RETRIEVE_NOTIFICATIONS_LIST,    /* ES10b, BF2B */
  ES10_CMD_REMOVE_NOTIFICATION_FROM_LIST,  /* ES10b, BF30 */
  ES10_CMD_GET_RAT,                        /* ES10b, BF43 */
  ES10_CMD_GET_PROFILES_INFO,              /* ES10c, BF2D */
  ES10_CMD_ENABLE_PROFILE,                 /* ES10c, BF31 */
  ES10_CMD_DISABLE_PROFILE,                /* ES10c, BF32 */
  ES10_CMD_DELETE_PROFILE,                 /* ES10c, BF33 */
  ES10_CMD_EUICC_MEMORY_RESET,             /* ES10c, BF34 */
  ES10_CMD_GET_EID,                        /* ES10c, BF3E */
  ES10_CMD_SET_NICKNAME,                   /* ES10c, BF29 */
  ES10_CMD_PREPARE_DOWNLOAD,               /* ES10b, BF21 */
  ES10_CMD_GET_EUICC_CHALLENGE,            /* ES10b, BF2E */
  ES10_CMD_AUTHENTICATE_SERVER,            /* ES10b, BF38 */
  ES10_CMD_CANCEL_SESSION,                 /* ES10b, BF41 */
  ES10_CMD_LOAD_BOUND_PROFILE_PACKAGE,     /* ES10b, BF36 in; the card answers BF37 */
  ES10_CMD_COUNT
} Es10Command;

/* The DER tag of the command's request and response, e.g. 0xBF2D. */
guint32 es10_command_get_tag(Es10Command cmd);
/* The tag of the response: the request's, except BF37 for LoadBoundProfilePackage. */
guint32 es10_command_get_response_tag(Es10Command cmd);
/* The SGP.22 function name, e.g. "GetProfilesInfo". */
const char *es10_command_get_name(Es10Command cmd);
/* Finds the command whose request/response carries the tag; FALSE if none. */
gboolean es10_command_from_tag(guint32 tag, Es10Command *out);
/* TRUE when the response is a bare result code (enable, delete, ...). */
gboolean es10_command_has_result_code(Es10Command cmd);
/* An empty request SEQUENCE: BF3C, BF20, BF22, BF43 (GetEID has es10c_get_eid_encode()). */
GBytes *es10_encode_empty_request(Es10Command cmd);

/*
 * Decodes the result code of a command whose response is "BFxx { 80 INTEGER }"
 * and checks that SGP.22 defines that code for that command.
 */
gboolean es10_decode_result(Es10Command cmd, const guint8 *buf, gsize len, gint *result,
                            GError **error);
/* TRUE when SGP.22 defines the code for the command (0 is always ok). */
gboolean es10_result_is_valid(Es10Command cmd, gint result);
/* The spec name of a result code, e.g. "profileNotInDisabledState"; NULL if undefined. */
const char *es10_result_get_name(Es10Command cmd, gint result);
/* A message for a person, e.g. "profile not in disabled state"; never NULL. */
const char *es10_result_get_message(Es10Command cmd, gint result);

/* ---- Common types ------------------------------------------------------- */

/* VersionType: major/minor/revision as three binary bytes. */
typedef struct {
  guint8 major;
  guint8 minor;
  guint8 revision;
} Es10Version;

/* "2.2.0" for a VersionType. */
gchar *es10_version_to_string(const Es10Version *v);

/* NotificationEvent bits (also the profileManagementOperation filters). */
typedef enum {
  ES10_NOTIFICATION_INSTALL = 1u << 0,
  ES10_NOTIFICATION_ENABLE = 1u << 1,
  ES10_NOTIFICATION_DISABLE = 1u << 2,
  ES10_NOTIFICATION_DELETE = 1u << 3,
} Es10NotificationEvent;
#define ES10_NOTIFICATION_ALL_MASK 0xFu

/* "install", "enable", "disable", "delete" for a single bit; "unknown" otherwise. */
const char *es10_notification_event_to_string(guint32 event);

/* PprIds bits (profile policy rules). */
typedef enum {
  ES10_PPR_UPDATE_CONTROL = 1u << 0,
  ES10_PPR1 = 1u << 1, /* disabling of this profile is not allowed */
  ES10_PPR2 = 1u << 2, /* deletion of this profile is not allowed */
  ES10_PPR3 = 1u << 3, /* deletion is required upon successful disabling */
} Es10Ppr;

typedef enum {
  ES10_PROFILE_STATE_DISABLED = 0,
  ES10_PROFILE_STATE_ENABLED = 1,
} Es10ProfileState;

typedef enum {
  ES10_PROFILE_CLASS_TEST = 0,
  ES10_PROFILE_CLASS_PROVISIONING = 1,
  ES10_PROFILE_CLASS_OPERATIONAL = 2,
} Es10ProfileClass;

typedef enum {
  ES10_ICON_TYPE_JPG = 0,
  ES10_ICON_TYPE_PNG = 1,
} Es10IconType;

/* "disabled", "enabled"; "unknown" out of range. */
const char *es10_profile_state_to_string(Es10ProfileState state);
/* "test", "provisioning", "operational"; "unknown" out of range. */
const char *es10_profile_class_to_string(Es10ProfileClass cls);
/* "jpg", "png"; "unknown" out of range. */
const char *es10_icon_type_to_string(Es10IconType type);

/* How a profile is named in Enable/Disable/DeleteProfile. */
typedef enum {
  ES10_PROFILE_ID_ICCID,    /* tag 5A, the ICCID as digits */
  ES10_PROFILE_ID_ISDP_AID, /* tag 4F, the AID as hex, 1..16 bytes */
} Es10ProfileIdType;

/* OperatorID: mccMnc as "MCCMNC" (5 or 6 characters; 'E' is the SGP.22 RAT wildcard). */
typedef struct {
  gchar *mcc_mnc;
  GBytes *gid1; /* NULL when absent */
  GBytes *gid2; /* NULL when absent */
} Es10OperatorId;

/* Frees an OperatorID. */
void es10_operator_id_free(Es10OperatorId *op);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10OperatorId, es10_operator_id_free)

/* Packs "MCCMNC" (5 or 6 digits, 'E' wildcards allowed) per 3GPP TS 24.008 10.5.1.13. */
gboolean es10_mcc_mnc_to_bytes(const char *mcc_mnc, guint8 out[3], GError **error);
/* Unpacks 3 bytes per 3GPP TS 24.008 into "MCCMNC". */
gchar *es10_mcc_mnc_from_bytes(const guint8 *bytes, gsize len, GError **error);

/* ---- Hex conversion (the only one in es10/) ----------------------------- */

/* Upper-case hex of the bytes, "" for none. */
gchar *es10_hex_encode(const guint8 *data, gsize len);
/* Bytes of an even-length hex string (either case, no separators). */
GBytes *es10_hex_decode(const char *hex, GError **error);

/* Tags of the ProfileInfo fields, for the GetProfilesInfo tagList. */
#define ES10_TAG_ICCID 0x5A
#define ES10_TAG_ISDP_AID 0x4F
#define ES10_TAG_PROFILE_STATE 0x9F70
#define ES10_TAG_PROFILE_NICKNAME 0x90
#define ES10_TAG_SERVICE_PROVIDER_NAME 0x91
#define ES10_TAG_PROFILE_NAME 0x92
#define ES10_TAG_ICON_TYPE 0x93
#define ES10_TAG_ICON 0x94
#define ES10_TAG_PROFILE_CLASS 0x95
#define ES10_TAG_NOTIFICATION_CONFIGURATION_INFO 0xB6
#define ES10_TAG_PROFILE_OWNER 0xB7
#define ES10_TAG_DP_PROPRIETARY_DATA 0xB8
#define ES10_TAG_PROFILE_POLICY_RULES 0x99

/* ==== ES10a ============================================================== */

/* EuiccConfiguredAddressesResponse. */
typedef struct {
  gchar *default_dp_address; /* NULL when the card has none */
  gchar *root_ds_address;
} Es10aConfiguredAddresses;

/* Frees configured addresses. */
void es10a_configured_addresses_free(Es10aConfiguredAddresses *addr);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10aConfiguredAddresses, es10a_configured_addresses_free)

/* EuiccConfiguredAddressesRequest (BF3C). */
GBytes *es10a_get_euicc_configured_addresses_encode(void);
/* EuiccConfiguredAddressesResponse (BF3C). */
gboolean es10a_get_euicc_configured_addresses_decode(const guint8 *buf, gsize len,
                                                     Es10aConfiguredAddresses **out,
                                                     GError **error);

typedef enum {
  ES10A_SET_DEFAULT_DP_ADDRESS_OK = 0,
  ES10A_SET_DEFAULT_DP_ADDRESS_UNDEFINED_ERROR = 127,
} Es10aSetDefaultDpAddressResult;

/* SetDefaultDpAddressRequest (BF3F); any UTF-8 FQDN, empty included. */
GBytes *es10a_set_default_dp_address_encode(const char *address, GError **error);
/* SetDefaultDpAddressResponse (BF3F). */
gboolean es10a_set_default_dp_address_decode(const guint8 *buf, gsize len,
                                             Es10aSetDefaultDpAddressResult *result,
                                             GError **error);

/* ==== ES10b ============================================================== */

/* EUICCInfo1. Key identifiers are hex strings. */
typedef struct {
  Es10Version svn;
  GPtrArray *ci_pkid_verification; /* gchar* */
  GPtrArray *ci_pkid_signing;      /* gchar* */
  GBytes *der; /* the whole EUICCInfo1 as the card sent it: ES9+ carries it as is */
} Es10bEuiccInfo1;

/* Frees an EUICCInfo1. */
void es10b_euicc_info1_free(Es10bEuiccInfo1 *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10bEuiccInfo1, es10b_euicc_info1_free)

/* GetEuiccInfo1Request (BF20). */
GBytes *es10b_get_euicc_info1_encode(void);
/* EUICCInfo1 (BF20). */
gboolean es10b_get_euicc_info1_decode(const guint8 *buf, gsize len, Es10bEuiccInfo1 **out,
                                      GError **error);

/* NotificationMetadata. */
typedef struct {
  guint32 seq_number;
  Es10NotificationEvent operation; /* exactly one bit */
  gchar *notification_address;
  gchar *iccid; /* NULL when absent */
} Es10NotificationMetadata;

/* Frees a NotificationMetadata. */
void es10_notification_metadata_free(Es10NotificationMetadata *n);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10NotificationMetadata, es10_notification_metadata_free)

typedef enum {
  ES10B_LIST_NOTIFICATION_OK = 0,
  ES10B_LIST_NOTIFICATION_UNDEFINED_ERROR = 127,
} Es10bListNotificationResult;

/* ListNotificationRequest (BF28); operations 0 lists all, else a NotificationEvent filter. */
GBytes *es10b_list_notification_encode(guint32 operations, GError **error);
/*
 * ListNotificationResponse (BF28). On TRUE *notifications is a new array of
 * Es10NotificationMetadata* (empty unless *result is OK).
 */
gboolean es10b_list_notification_decode(const guint8 *buf, gsize len,
                                        Es10bListNotificationResult *result,
                                        GPtrArray **notifications, GError **error);

/* PendingNotification: its exact DER for ES9+ handleNotification, and what it says. */
typedef struct {
  GBytes *der;                  /* the whole PendingNotification, as the card sent it */
  gboolean installation_result; /* profileInstallationResult (BF37), else otherSignedNotification */
  Es10NotificationMetadata metadata;
} Es10PendingNotification;

/* Frees a PendingNotification. */
void es10_pending_notification_free(Es10PendingNotification *n);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10PendingNotification, es10_pending_notification_free)

typedef enum {
  ES10B_SEARCH_ALL,        /* no searchCriteria */
  ES10B_SEARCH_SEQ_NUMBER, /* value: the seqNumber */
  ES10B_SEARCH_OPERATION,  /* value: NotificationEvent bits */
} Es10bNotificationSearch;

typedef enum {
  ES10B_RETRIEVE_NOTIFICATIONS_OK = 0,
  ES10B_RETRIEVE_NOTIFICATIONS_NO_RESULT_AVAILABLE = 1,
  ES10B_RETRIEVE_NOTIFICATIONS_UNDEFINED_ERROR = 127,
} Es10bRetrieveNotificationsResult;

/* RetrieveNotificationsListRequest (BF2B). */
GBytes *es10b_retrieve_notifications_list_encode(Es10bNotificationSearch search, guint32 value,
                                                 GError **error);
/*
 * RetrieveNotificationsListResponse (BF2B). On TRUE *notifications is a new
 * array of Es10PendingNotification* (empty unless *result is OK).
 */
gboolean es10b_retrieve_notifications_list_decode(const guint8 *buf, gsize len,
                                                  Es10bRetrieveNotificationsResult *result,
                                                  GPtrArray **notifications, GError **error);

typedef enum {
  ES10B_REMOVE_NOTIFICATION_OK = 0,
  ES10B_REMOVE_NOTIFICATION_NOTHING_TO_DELETE = 1,
  ES10B_REMOVE_NOTIFICATION_UNDEFINED_ERROR = 127,
} Es10bRemoveNotificationResult;

/* NotificationSentRequest (BF30). */
GBytes *es10b_remove_notification_from_list_encode(guint32 seq_number);
/* NotificationSentResponse (BF30). */
gboolean es10b_remove_notification_from_list_decode(const guint8 *buf, gsize len,
                                                    Es10bRemoveNotificationResult *result,
                                                    GError **error);

/* ProfilePolicyAuthorisationRule. */
typedef struct {
  guint32 ppr_ids;              /* Es10Ppr bits */
  GPtrArray *allowed_operators; /* Es10OperatorId* */
  guint32 ppr_flags;            /* bit 0: consentRequired */
} Es10bRatRule;
#define ES10B_RAT_FLAG_CONSENT_REQUIRED (1u << 0)

/* Frees a ProfilePolicyAuthorisationRule. */
void es10b_rat_rule_free(Es10bRatRule *rule);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10bRatRule, es10b_rat_rule_free)

/* GetRatRequest (BF43). */
GBytes *es10b_get_rat_encode(void);
/* GetRatResponse (BF43); *rules is a new array of Es10bRatRule*. */
gboolean es10b_get_rat_decode(const guint8 *buf, gsize len, GPtrArray **rules, GError **error);

/* RspCapability bits. */
typedef enum {
  ES10_RSP_CAP_ADDITIONAL_PROFILE = 1u << 0,
  ES10_RSP_CAP_CRL_SUPPORT = 1u << 1,
  ES10_RSP_CAP_RPM_SUPPORT = 1u << 2,
  ES10_RSP_CAP_TEST_PROFILE_SUPPORT = 1u << 3,
} Es10RspCapability;

/* UICCCapability bits (a few of them; the mask carries all 19). */
typedef enum {
  ES10_UICC_CAP_CONTACTLESS = 1u << 0,
  ES10_UICC_CAP_USIM = 1u << 1,
  ES10_UICC_CAP_ISIM = 1u << 2,
  ES10_UICC_CAP_CSIM = 1u << 3,
  ES10_UICC_CAP_AKA_MILENAGE = 1u << 4,
  ES10_UICC_CAP_AKA_CAVE = 1u << 5,
  ES10_UICC_CAP_AKA_TUAK128 = 1u << 6,
  ES10_UICC_CAP_AKA_TUAK256 = 1u << 7,
  ES10_UICC_CAP_GBA_AUTHEN_USIM = 1u << 10,
  ES10_UICC_CAP_GBA_AUTHEN_ISIM = 1u << 11,
  ES10_UICC_CAP_MBMS_AUTHEN_USIM = 1u << 12,
  ES10_UICC_CAP_EAP_CLIENT = 1u << 13,
  ES10_UICC_CAP_JAVACARD = 1u << 14,
  ES10_UICC_CAP_MULTOS = 1u << 15,
  ES10_UICC_CAP_MULTIPLE_USIM = 1u << 16,
  ES10_UICC_CAP_MULTIPLE_ISIM = 1u << 17,
  ES10_UICC_CAP_MULTIPLE_CSIM = 1u << 18,
} Es10UiccCapability;

typedef enum {
  ES10_EUICC_CATEGORY_OTHER = 0,
  ES10_EUICC_CATEGORY_BASIC = 1,
  ES10_EUICC_CATEGORY_MEDIUM = 2,
  ES10_EUICC_CATEGORY_CONTACTLESS = 3,
} Es10EuiccCategory;

/* "other", "basicEuicc", "mediumEuicc", "contactlessEuicc"; "unknown" otherwise. */
const char *es10_euicc_category_to_string(guint category);

/* EUICCInfo2 (SGP.22 5.7.8: ES10b.GetEUICCInfo). Key identifiers are hex strings. */
typedef struct {
  Es10Version profile_version;
  Es10Version svn;
  Es10Version firmware_version;
  GBytes *ext_card_resource; /* the raw extCardResource value */
  /* extCardResource as ETSI TS 102 226 8.2.1.7.2 lays it out: tags 81, 82, 83 */
  gboolean has_installed_applications;
  guint64 installed_applications;
  gboolean has_free_nv_memory;
  guint64 free_nv_memory;
  gboolean has_free_volatile_memory;
  guint64 free_volatile_memory;
  guint32 uicc_capability;       /* Es10UiccCapability bits */
  gboolean has_ts102241_version; /* javacardVersion in rsp.asn */
  Es10Version ts102241_version;
  gboolean has_globalplatform_version;
  Es10Version globalplatform_version;
  guint32 rsp_capability;          /* Es10RspCapability bits */
  GPtrArray *ci_pkid_verification; /* gchar* */
  GPtrArray *ci_pkid_signing;      /* gchar* */
  gboolean has_euicc_category;
  guint euicc_category; /* Es10EuiccCategory, or a value SGP.22 may add */
  gboolean has_forbidden_policy_rules;
  guint32 forbidden_policy_rules; /* Es10Ppr bits */
  Es10Version pp_version;
  gchar *sas_accreditation_number;
  gchar *certification_platform_label;     /* NULL when absent */
  gchar *certification_discovery_base_url; /* NULL when absent */
} Es10bEuiccInfo2;

/* Frees an EUICCInfo2. */
void es10b_euicc_info2_free(Es10bEuiccInfo2 *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10bEuiccInfo2, es10b_euicc_info2_free)

/* GetEuiccInfo2Request (BF22). */
GBytes *es10b_get_euicc_info2_encode(void);
/* EUICCInfo2 (BF22). */
gboolean es10b_get_euicc_info2_decode(const guint8 *buf, gsize len, Es10bEuiccInfo2 **out,
                                      GError **error);

/* ---- Profile download (SGP.22 3.1.3; es10b-download.c) ---------------- */

/* GetEuiccChallengeRequest (BF2E). */
GBytes *es10b_get_euicc_challenge_encode(void);
/* GetEuiccChallengeResponse (BF2E): the 16 random bytes. */
#define ES10_CHALLENGE_LEN 16
gboolean es10b_get_euicc_challenge_decode(const guint8 *buf, gsize len,
                                          guint8 challenge[ES10_CHALLENGE_LEN], GError **error);

/*
 * DeviceCapabilities components, in rsp.asn order: capability n is tag 80 + n.
 * Each is the highest release the device fully supports (SGP.22 v2.2 4.2).
 * [8] to [10] are the 5G ones SGP.22 v2.2 added; [8] was
 * rspRpmSupportedVersion in the older copy of the module, and VersionType
 * either way. The v2.5 components after [10] (lpaSvn, catSupportedClasses,
 * euiccFormFactorType, deviceAdditionalFeatureSupport) are not sent.
 */
typedef enum {
  ES10_DEVCAP_GSM,
  ES10_DEVCAP_UTRAN,
  ES10_DEVCAP_CDMA2000_1X,
  ES10_DEVCAP_CDMA2000_HRPD,
  ES10_DEVCAP_CDMA2000_EHRPD,
  ES10_DEVCAP_EUTRAN, /* eutranEpcSupportedRelease since v2.2 */
  ES10_DEVCAP_CONTACTLESS,
  ES10_DEVCAP_RSP_CRL,
  ES10_DEVCAP_NR_EPC,     /* NR with the 4G core (non-standalone) */
  ES10_DEVCAP_NR_5GC,     /* NR with the 5G core (standalone) */
  ES10_DEVCAP_EUTRAN_5GC, /* E-UTRAN with the 5G core */
  ES10_DEVCAP_COUNT
} Es10DeviceCapability;

/* DeviceInfo (SGP.22 5.7.13): what the device tells the SM-DP+ about itself. */
typedef struct {
  guint8 tac[4]; /* Type Allocation Code: the first 8 IMEI digits, BCD */
  Es10Version capabilities[ES10_DEVCAP_COUNT];
  guint32 capabilities_present; /* bit n: capabilities[n] is given */
  gboolean has_imei;
  guint8 imei[8]; /* swapped BCD as in 3GPP TS 24.008 10.5.1.4 (see es10_imei_to_bcd) */
} Es10DeviceInfo;

/* The 8 bytes of an IMEI and its TAC: 15 digits with the right check digit,
 * 14 (the check digit computed) or an IMEISV's 16 (its IMEI sent). */
gboolean es10_imei_to_device_info(const char *imei, Es10DeviceInfo *info, GError **error);

/*
 * AuthenticateServerRequest (BF38). The four server values are the DER the
 * SM-DP+ (ES9+ initiateAuthentication) or SM-DS (ES11) sent, passed through
 * unchanged: serverSigned1 (30), serverSignature1 (5F37),
 * euiccCiPKIdToBeUsed (04), serverCertificate (30). ctxParams1 is
 * ctxParamsForCommonAuthentication, the only CtxParams1 of SGP.22 v2.
 */
typedef struct {
  GBytes *server_signed1;
  GBytes *server_signature1;
  GBytes *euicc_ci_pkid_to_be_used;
  GBytes *server_certificate;
  /* SM-DP+: the AC_Token, the SM-DS event id, or "" when the default SM-DP+
   * is asked without an activation code (SGP.22 3.1.3); NULL leaves it out. */
  const char *matching_id;
  const Es10DeviceInfo *device_info;
} Es10bAuthenticateServerRequest;

/* AuthenticateServerRequest for an SM-DP+ (ES9+). */
GBytes *es10b_authenticate_server_encode(const Es10bAuthenticateServerRequest *req, GError **error);
/*
 * AuthenticateServerRequest for an SM-DS (ES11 event retrieval, SGP.22
 * 3.6.3): the same ctxParamsForCommonAuthentication without matchingId, as
 * the eUICC is not asking for one profile; req->matching_id must be NULL.
 */
GBytes *es10b_authenticate_server_encode_es11(const Es10bAuthenticateServerRequest *req,
                                              GError **error);

typedef enum {
  ES10B_AUTHENTICATE_OK = 0,
  ES10B_AUTHENTICATE_INVALID_CERTIFICATE = 1,
  ES10B_AUTHENTICATE_INVALID_SIGNATURE = 2,
  ES10B_AUTHENTICATE_UNSUPPORTED_CURVE = 3,
  ES10B_AUTHENTICATE_NO_SESSION_CONTEXT = 4,
  ES10B_AUTHENTICATE_INVALID_OID = 5,
  ES10B_AUTHENTICATE_EUICC_CHALLENGE_MISMATCH = 6,
  ES10B_AUTHENTICATE_CI_PK_UNKNOWN = 7,
  ES10B_AUTHENTICATE_UNDEFINED_ERROR = 127,
} Es10bAuthenticateResult;

/* AuthenticateServerResponse. */
typedef struct {
  Es10bAuthenticateResult result;
  GBytes *transaction_id; /* on success and on error */
  /* On success only: */
  GBytes *der;           /* the whole response, for ES9+ authenticateClient */
  gchar *server_address; /* euiccSigned1.serverAddress */
  guint8 server_challenge[ES10_CHALLENGE_LEN];
  gchar *matching_id; /* euiccSigned1.ctxParams1 matchingId; NULL when absent */
  /* DER of euiccSigned1.euiccInfo2 (BF22), for es10b_get_euicc_info2_decode(). */
  GBytes *euicc_info2;
  GBytes *euicc_certificate; /* DER */
  GBytes *eum_certificate;   /* DER */
} Es10bAuthenticateServerResponse;

/* Frees an AuthenticateServerResponse. */
void es10b_authenticate_server_response_free(Es10bAuthenticateServerResponse *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10bAuthenticateServerResponse,
                              es10b_authenticate_server_response_free)

/* AuthenticateServerResponse (BF38). */
gboolean es10b_authenticate_server_decode(const guint8 *buf, gsize len,
                                          Es10bAuthenticateServerResponse **out, GError **error);

#define ES10_HASH_CC_LEN 32
/*
 * hashCc = SHA-256(SHA-256(confirmation code) | transactionId): SGP.22 v2.1
 * and later (5.7.5 PrepareDownload) bind the code to one session this way.
 */
gboolean es10_hash_confirmation_code(const char *confirmation_code, GBytes *transaction_id,
                                     guint8 out[ES10_HASH_CC_LEN], GError **error);

/* PrepareDownloadRequest (BF21): smdpSigned2 (30), smdpSignature2 (5F37) and
 * smdpCertificate (30) as ES9+ authenticateClient gave them; hash_cc NULL or 32 bytes. */
GBytes *es10b_prepare_download_encode(GBytes *smdp_signed2, GBytes *smdp_signature2,
                                      const guint8 *hash_cc, GBytes *smdp_certificate,
                                      GError **error);

typedef enum {
  ES10B_DOWNLOAD_OK = 0,
  ES10B_DOWNLOAD_INVALID_CERTIFICATE = 1,
  ES10B_DOWNLOAD_INVALID_SIGNATURE = 2,
  ES10B_DOWNLOAD_UNSUPPORTED_CURVE = 3,
  ES10B_DOWNLOAD_NO_SESSION_CONTEXT = 4,
  ES10B_DOWNLOAD_INVALID_TRANSACTION_ID = 5,
  ES10B_DOWNLOAD_UNDEFINED_ERROR = 127,
} Es10bDownloadResult;

/* PrepareDownloadResponse. */
typedef struct {
  Es10bDownloadResult result;
  GBytes *transaction_id; /* on success and on error */
  GBytes *der;            /* on success: the whole response, for ES9+ getBoundProfilePackage */
} Es10bPrepareDownloadResponse;

/* Frees a PrepareDownloadResponse. */
void es10b_prepare_download_response_free(Es10bPrepareDownloadResponse *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10bPrepareDownloadResponse, es10b_prepare_download_response_free)

/* PrepareDownloadResponse (BF21). */
gboolean es10b_prepare_download_decode(const guint8 *buf, gsize len,
                                       Es10bPrepareDownloadResponse **out, GError **error);

/* ---- What the LPA reads of the SM-DP+'s data (es10b-smdp.c, x509.c) ---- */

/*
 * StoreMetadataRequest (BF25; SGP.22 5.5.3): what the SM-DP+ says the
 * profile is, given to the LPA as profileMetadata of ES9+
 * authenticateClient (6.5.2.7) for the end user's consent (3.1.3.2).
 */
typedef struct {
  gchar *iccid;                 /* digits */
  gchar *service_provider_name; /* at most 32 characters, may be "" */
  gchar *profile_name;          /* at most 64 characters, may be "" */
  gboolean has_icon_type;       /* always TRUE when icon is set */
  Es10IconType icon_type;
  GBytes *icon;                   /* at most 1024 bytes; NULL when absent */
  Es10ProfileClass profile_class; /* DEFAULT operational when absent */
  GPtrArray *notification_config; /* Es10NotificationConfig*; NULL when absent */
  Es10OperatorId *owner;          /* NULL when absent */
  gboolean has_policy_rules;
  guint32 policy_rules; /* Es10Ppr bits */
} Es10StoreMetadataRequest;

/* Frees a StoreMetadataRequest. */
void es10_store_metadata_request_free(Es10StoreMetadataRequest *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10StoreMetadataRequest, es10_store_metadata_request_free)

/* StoreMetadataRequest (BF25), strictly: the whole buffer. */
gboolean es10_store_metadata_request_decode(const guint8 *buf, gsize len,
                                            Es10StoreMetadataRequest **out, GError **error);

/* SmdpSigned2 (SGP.22 5.7.5), the part of PrepareDownloadRequest the LPA reads. */
typedef struct {
  GBytes *transaction_id; /* 1 to 16 bytes */
  gboolean cc_required;   /* ccRequiredFlag: a confirmation code is needed */
  GBytes *bpp_euicc_otpk; /* NULL when absent */
} Es10SmdpSigned2;

/* Frees a SmdpSigned2. */
void es10_smdp_signed2_free(Es10SmdpSigned2 *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10SmdpSigned2, es10_smdp_signed2_free)

/* SmdpSigned2 (30), strictly: the whole buffer. */
gboolean es10_smdp_signed2_decode(const guint8 *buf, gsize len, Es10SmdpSigned2 **out,
                                  GError **error);

/*
 * The registeredID in the subjectAltName extension (2.5.29.17) of an X.509
 * certificate, dotted: where SGP.22 4.5.2 puts the SM-DP+ OID in
 * CERT.DPauth.ECDSA and CERT.DPpb.ECDSA. TRUE with *oid NULL when the
 * certificate has no such name; FALSE when the DER on the way to it is not
 * a certificate's (more than one registeredID included). The certificate's
 * signature is not checked: the eUICC does that.
 */
gboolean es10_certificate_get_registered_id(const guint8 *der, gsize len, gchar **oid,
                                            GError **error);

/*
 * The STORE DATA payloads of a BoundProfilePackage (BF36), SGP.22 2.5.5, in
 * order: BF36's tag and length with the whole BF23; A0 whole; A1's tag and
 * length, then each 88; A2 whole when present; A3's tag and length, then
 * each 86. Each is sent as its own STORE DATA sequence. On TRUE *segments is
 * a new array of GBytes*.
 */
gboolean es10b_bound_profile_package_split(const guint8 *buf, gsize len, GPtrArray **segments,
                                           GError **error);

/* BppCommandId: the BPP command a failed installation stopped at. */
typedef enum {
  ES10B_BPP_INITIALISE_SECURE_CHANNEL = 0,
  ES10B_BPP_CONFIGURE_ISDP = 1,
  ES10B_BPP_STORE_METADATA = 2,
  ES10B_BPP_STORE_METADATA2 = 3,
  ES10B_BPP_REPLACE_SESSION_KEYS = 4,
  ES10B_BPP_LOAD_PROFILE_ELEMENTS = 5,
} Es10bBppCommandId;

/* "initialiseSecureChannel", ...; "unknown" for others. */
const char *es10b_bpp_command_id_to_string(guint id);

/* ErrorReason of a ProfileInstallationResult: results of LOAD_BOUND_PROFILE_PACKAGE. */
typedef enum {
  ES10B_INSTALL_OK = 0,
  ES10B_INSTALL_INCORRECT_INPUT_VALUES = 1,
  ES10B_INSTALL_INVALID_SIGNATURE = 2,
  ES10B_INSTALL_INVALID_TRANSACTION_ID = 3,
  ES10B_INSTALL_UNSUPPORTED_CRT_VALUES = 4,
  ES10B_INSTALL_UNSUPPORTED_REMOTE_OPERATION_TYPE = 5,
  ES10B_INSTALL_UNSUPPORTED_PROFILE_CLASS = 6,
  ES10B_INSTALL_SCP03T_STRUCTURE_ERROR = 7,
  ES10B_INSTALL_SCP03T_SECURITY_ERROR = 8,
  ES10B_INSTALL_ICCID_ALREADY_EXISTS = 9,
  ES10B_INSTALL_INSUFFICIENT_MEMORY = 10,
  ES10B_INSTALL_INTERRUPTION = 11,
  ES10B_INSTALL_PE_PROCESSING_ERROR = 12,
  ES10B_INSTALL_ICCID_MISMATCH = 13,
  ES10B_INSTALL_TEST_PROFILE_INVALID_NAA_KEY = 14,
  ES10B_INSTALL_PPR_NOT_ALLOWED = 15,
  ES10B_INSTALL_UNKNOWN_ERROR = 127,
} Es10bInstallResult;

/* ProfileInstallationResult (BF37). */
typedef struct {
  GBytes *der; /* the whole result, as the card sent it: a notification for the SM-DP+ */
  GBytes *transaction_id;
  Es10NotificationMetadata metadata;
  gchar *smdp_oid;                  /* dotted; NULL when absent */
  Es10bInstallResult result;        /* ES10B_INSTALL_OK: successResult */
  gchar *isdp_aid;                  /* hex, success only */
  Es10bBppCommandId bpp_command_id; /* error only */
} Es10bProfileInstallationResult;

/* Frees a ProfileInstallationResult. */
void es10b_profile_installation_result_free(Es10bProfileInstallationResult *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10bProfileInstallationResult,
                              es10b_profile_installation_result_free)

/* ProfileInstallationResult (BF37), strictly: the whole buffer. */
gboolean es10b_profile_installation_result_decode(const guint8 *buf, gsize len,
                                                  Es10bProfileInstallationResult **out,
                                                  GError **error);
/*
 * The card's answer to one BPP segment: empty while it wants more (TRUE,
 * *out NULL), or the ProfileInstallationResult that ends the installation.
 */
gboolean es10b_load_bound_profile_package_decode(const guint8 *buf, gsize len,
                                                 Es10bProfileInstallationResult **out,
                                                 GError **error);

typedef enum {
  ES10B_CANCEL_END_USER_REJECTION = 0,
  ES10B_CANCEL_POSTPONED = 1,
  ES10B_CANCEL_TIMEOUT = 2,
  ES10B_CANCEL_PPR_NOT_ALLOWED = 3,
  /* SGP.22 v2.2 added these (the rsp.asn at hand, v2.1, stops at 3). */
  ES10B_CANCEL_METADATA_MISMATCH = 4,
  ES10B_CANCEL_LOAD_BPP_EXECUTION_ERROR = 5,
  ES10B_CANCEL_UNDEFINED_REASON = 127,
} Es10bCancelSessionReason;

/* "endUserRejection", ...; "unknown" for others. */
const char *es10b_cancel_session_reason_to_string(guint reason);

/* CancelSessionRequest (BF41): transactionId of 1 to 16 bytes. */
GBytes *es10b_cancel_session_encode(GBytes *transaction_id, Es10bCancelSessionReason reason,
                                    GError **error);

typedef enum {
  ES10B_CANCEL_SESSION_OK = 0,
  ES10B_CANCEL_SESSION_INVALID_TRANSACTION_ID = 5,
  ES10B_CANCEL_SESSION_UNDEFINED_ERROR = 127,
} Es10bCancelSessionResult;

/* CancelSessionResponse (BF41): on OK *der is the whole response, for ES9+ cancelSession. */
gboolean es10b_cancel_session_decode(const guint8 *buf, gsize len, Es10bCancelSessionResult *result,
                                     GBytes **der, GError **error);

/* ==== ES10c ============================================================== */

/* NotificationConfigurationInformation. */
typedef struct {
  guint32 operations; /* Es10NotificationEvent bits */
  gchar *notification_address;
} Es10NotificationConfig;

/* Frees a NotificationConfigurationInformation. */
void es10_notification_config_free(Es10NotificationConfig *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10NotificationConfig, es10_notification_config_free)

/* ProfileInfo: every field is optional (the caller may have asked for a few). */
typedef struct {
  gchar *iccid;    /* digits; NULL when absent */
  gchar *isdp_aid; /* hex; NULL when absent */
  gboolean has_state;
  Es10ProfileState state;
  gchar *nickname;              /* NULL when absent */
  gchar *service_provider_name; /* NULL when absent */
  gchar *profile_name;          /* NULL when absent */
  gboolean has_icon_type;
  Es10IconType icon_type;
  GBytes *icon;                   /* NULL when absent */
  Es10ProfileClass profile_class; /* DEFAULT operational when absent */
  GPtrArray *notification_config; /* Es10NotificationConfig*; NULL when absent */
  Es10OperatorId *owner;          /* NULL when absent */
  GBytes *dp_proprietary_data;    /* DER of the B8 value; NULL when absent */
  gboolean has_policy_rules;
  guint32 policy_rules; /* Es10Ppr bits */
} Es10ProfileInfo;

/* Frees a ProfileInfo. */
void es10_profile_info_free(Es10ProfileInfo *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Es10ProfileInfo, es10_profile_info_free)

typedef enum {
  ES10C_PROFILES_SEARCH_ALL,
  ES10C_PROFILES_SEARCH_ICCID,    /* id: ICCID digits */
  ES10C_PROFILES_SEARCH_ISDP_AID, /* id: AID hex */
  ES10C_PROFILES_SEARCH_CLASS,    /* profile_class */
} Es10cProfilesSearch;

/* What GetProfilesInfo asks for. */
typedef struct {
  Es10cProfilesSearch search;
  const char *id;
  Es10ProfileClass profile_class;
  const guint32 *tag_list; /* ES10_TAG_* to ask for; NULL or n_tags 0 asks for the card's default */
  gsize n_tags;
} Es10cGetProfilesInfoRequest;

typedef enum {
  ES10C_GET_PROFILES_INFO_OK = 0,
  ES10C_GET_PROFILES_INFO_INCORRECT_INPUT_VALUES = 1,
  ES10C_GET_PROFILES_INFO_UNDEFINED_ERROR = 127,
} Es10cGetProfilesInfoResult;

/* ProfileInfoListRequest (BF2D); a NULL request lists every profile. */
GBytes *es10c_get_profiles_info_encode(const Es10cGetProfilesInfoRequest *request, GError **error);
/*
 * ProfileInfoListResponse (BF2D). On TRUE *profiles is a new array of
 * Es10ProfileInfo* (empty unless *result is OK).
 */
gboolean es10c_get_profiles_info_decode(const guint8 *buf, gsize len,
                                        Es10cGetProfilesInfoResult *result, GPtrArray **profiles,
                                        GError **error);

typedef enum {
  ES10C_ENABLE_PROFILE_OK = 0,
  ES10C_ENABLE_PROFILE_ICCID_OR_AID_NOT_FOUND = 1,
  ES10C_ENABLE_PROFILE_NOT_IN_DISABLED_STATE = 2,
  ES10C_ENABLE_PROFILE_DISALLOWED_BY_POLICY = 3,
  ES10C_ENABLE_PROFILE_WRONG_PROFILE_REENABLING = 4,
  ES10C_ENABLE_PROFILE_CAT_BUSY = 5,
  ES10C_ENABLE_PROFILE_UNDEFINED_ERROR = 127,
} Es10cEnableProfileResult;

/* EnableProfileRequest (BF31). */
GBytes *es10c_enable_profile_encode(Es10ProfileIdType type, const char *id, gboolean refresh,
                                    GError **error);
/* EnableProfileResponse (BF31). */
gboolean es10c_enable_profile_decode(const guint8 *buf, gsize len, Es10cEnableProfileResult *result,
                                     GError **error);

typedef enum {
  ES10C_DISABLE_PROFILE_OK = 0,
  ES10C_DISABLE_PROFILE_ICCID_OR_AID_NOT_FOUND = 1,
  ES10C_DISABLE_PROFILE_NOT_IN_ENABLED_STATE = 2,
  ES10C_DISABLE_PROFILE_DISALLOWED_BY_POLICY = 3,
  ES10C_DISABLE_PROFILE_CAT_BUSY = 5,
  ES10C_DISABLE_PROFILE_UNDEFINED_ERROR = 127,
} Es10cDisableProfileResult;

/* DisableProfileRequest (BF32). */
GBytes *es10c_disable_profile_encode(Es10ProfileIdType type, const char *id, gboolean refresh,
                                     GError **error);
/* DisableProfileResponse (BF32). */
gboolean es10c_disable_profile_decode(const guint8 *buf, gsize len,
                                      Es10cDisableProfileResult *result, GError **error);

typedef enum {
  ES10C_DELETE_PROFILE_OK = 0,
  ES10C_DELETE_PROFILE_ICCID_OR_AID_NOT_FOUND = 1,
  ES10C_DELETE_PROFILE_NOT_IN_DISABLED_STATE = 2,
  ES10C_DELETE_PROFILE_DISALLOWED_BY_POLICY = 3,
  ES10C_DELETE_PROFILE_UNDEFINED_ERROR = 127,
} Es10cDeleteProfileResult;

/* DeleteProfileRequest (BF33). */
GBytes *es10c_delete_profile_encode(Es10ProfileIdType type, const char *id, GError **error);
/* DeleteProfileResponse (BF33). */
gboolean es10c_delete_profile_decode(const guint8 *buf, gsize len, Es10cDeleteProfileResult *result,
                                     GError **error);

/* resetOptions bits of EuiccMemoryResetRequest. */
typedef enum {
  ES10C_RESET_DELETE_OPERATIONAL_PROFILES = 1u << 0,
  ES10C_RESET_DELETE_FIELD_LOADED_TEST_PROFILES = 1u << 1,
  ES10C_RESET_DEFAULT_SMDP_ADDRESS = 1u << 2,
} Es10cResetOptions;
#define ES10C_RESET_ALL_MASK 0x7u

typedef enum {
  ES10C_EUICC_MEMORY_RESET_OK = 0,
  ES10C_EUICC_MEMORY_RESET_NOTHING_TO_DELETE = 1,
  ES10C_EUICC_MEMORY_RESET_CAT_BUSY = 5,
  ES10C_EUICC_MEMORY_RESET_UNDEFINED_ERROR = 127,
} Es10cEuiccMemoryResetResult;

/* EuiccMemoryResetRequest (BF34); options are Es10cResetOptions bits, at least one. */
GBytes *es10c_euicc_memory_reset_encode(guint32 options, GError **error);
/* EuiccMemoryResetResponse (BF34). */
gboolean es10c_euicc_memory_reset_decode(const guint8 *buf, gsize len,
                                         Es10cEuiccMemoryResetResult *result, GError **error);

/* GetEuiccDataRequest (BF3E) asking for the EID. */
GBytes *es10c_get_eid_encode(void);
/* GetEuiccDataResponse (BF3E); *eid is 32 upper-case hex digits. */
gboolean es10c_get_eid_decode(const guint8 *buf, gsize len, gchar **eid, GError **error);

typedef enum {
  ES10C_SET_NICKNAME_OK = 0,
  ES10C_SET_NICKNAME_ICCID_NOT_FOUND = 1,
  ES10C_SET_NICKNAME_UNDEFINED_ERROR = 127,
} Es10cSetNicknameResult;

/* SetNicknameRequest (BF29); the nickname is UTF-8 of at most 64 characters. */
GBytes *es10c_set_nickname_encode(const char *iccid, const char *nickname, GError **error);
/* SetNicknameResponse (BF29). */
gboolean es10c_set_nickname_decode(const guint8 *buf, gsize len, Es10cSetNicknameResult *result,
                                   GError **error);

G_END_DECLS
