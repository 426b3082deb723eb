// XID classification: every XID is ignored, warning or critical, with a description and NVIDIA's
// recommended action (../shared/reference/xid.md section 2, the catalog-driven policy), or NVIDIA
// device plugin's legacy default, plus the device plugin's override variables.
//
// Pure and thread-compatible; an XidPolicy is immutable after construction.
#ifndef DEVICEAPI_NVML_XID_POLICY_H_
#define DEVICEAPI_NVML_XID_POLICY_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace deviceapi::nvml {

enum class XidClass { kIgnored, kWarning, kCritical };
std::string_view XidClassName(XidClass c);  // "ignored", "warning", "critical"

// What an operator should do, as published in status.recommended_action.
enum class RecommendedAction { kNone, kRestartApp, kResetGpu, kRestartVm, kRebootNode, kContactSupport };
// "NONE", "RESTART_APP", "RESET_GPU", "RESTART_VM", "REBOOT_NODE", "CONTACT_SUPPORT".
std::string_view ActionName(RecommendedAction a);
// Severity order used to never downgrade a pending action: NONE < RESTART_APP < RESET_GPU <
// RESTART_VM < REBOOT_NODE < CONTACT_SUPPORT.
int ActionRank(RecommendedAction a);

// NVML_FI_DEV_GET_GPU_RECOVERY_ACTION values.
enum class GpuRecoveryAction { kNone = 0, kGpuReset = 1, kNodeReboot = 2, kDrainP2p = 3, kDrainAndReset = 4 };
// "NONE", "GPU_RESET", "NODE_REBOOT", "DRAIN_P2P", "DRAIN_AND_RESET".
std::string_view GpuRecoveryActionName(GpuRecoveryAction a);
// The action NVML's recovery action asks for: NONE and DRAIN_P2P -> NONE (DRAIN_P2P: quiesce
// peer-to-peer traffic and ask again), GPU_RESET and DRAIN_AND_RESET -> RESET_GPU, NODE_REBOOT ->
// REBOOT_NODE.
RecommendedAction ActionForRecovery(GpuRecoveryAction a);
// XIDs whose class and action depend on the device's NVML recovery action (xid.md section 2):
// 154 (GPU_RECOVERY_ACTION_CHANGED) and the NVLink5 family 144-150. The provider reads
// NVML_FI_DEV_GET_GPU_RECOVERY_ACTION for these and falls back to the catalog when it cannot.
bool XidDependsOnRecoveryAction(uint64_t xid);

// One entry of the built-in XID catalog.
struct XidCatalogEntry {
  uint32_t xid;
  std::string_view mnemonic;
  std::string_view description;
  XidClass default_class;  // the catalog policy's class
  RecommendedAction action;
};

// The catalog entry of `xid`, or nullptr for an XID it does not know.
const XidCatalogEntry* FindXid(uint64_t xid);

enum class XidPolicyMode {
  kCatalog,       // xid.md section 2 (default)
  kDevicePlugin,  // 13, 31, 43, 45, 68, 109 ignored; every other XID critical
};
// "catalog" / "device-plugin".
absl::StatusOr<XidPolicyMode> ParseXidPolicyMode(std::string_view text);

// A parsed DP_DISABLE_HEALTHCHECKS / DP_ENABLE_HEALTHCHECKS-style list: comma-separated,
// case-insensitive, whitespace around items ignored; "all" or "xids" sets `all`; numbers are
// collected; anything else is skipped (as the device plugin does).
struct XidList {
  bool all = false;
  std::set<uint64_t> xids;
};
XidList ParseXidList(std::string_view text);

struct XidOverrides {
  XidList disable;              // --disable-healthchecks / DP_DISABLE_HEALTHCHECKS: ignored
  XidList enable;               // --enable-healthchecks / DP_ENABLE_HEALTHCHECKS: always critical
  std::set<uint64_t> ignored;   // --ignored-xids
  std::set<uint64_t> warning;   // --warning-xids
  std::set<uint64_t> critical;  // --critical-xids
};

struct XidVerdict {
  uint64_t xid = 0;
  XidClass cls = XidClass::kWarning;
  std::string mnemonic;     // "RC_GPU_HAS_FALLEN_OFF_THE_BUS"; "UNKNOWN" when not in the catalog
  std::string description;  // "GPU has fallen off the bus"
  RecommendedAction action = RecommendedAction::kContactSupport;
  std::string basis;  // why this class: "catalog", "device-plugin", "DP_ENABLE_HEALTHCHECKS", ...
};

class XidPolicy {
 public:
  explicit XidPolicy(XidPolicyMode mode = XidPolicyMode::kCatalog, XidOverrides overrides = {});

  // Classification, highest precedence first:
  //   1. enable list (DP_ENABLE_HEALTHCHECKS; "all" makes every XID critical): critical;
  //   2. --critical-xids / --warning-xids / --ignored-xids;
  //   3. disable list (DP_DISABLE_HEALTHCHECKS; "all" ignores every XID not listed above);
  //   4. the mode's default. In catalog mode: 154 follows `recovery` (reset / drain-and-reset:
  //      critical RESET_GPU; node reboot: critical REBOOT_NODE; none, drain P2P or unknown:
  //      warning) and 144-150 turn into warnings when `recovery` says none.
  // For the XIDs of XidDependsOnRecoveryAction, a critical verdict takes its action from
  // `recovery` when that asks for more than the catalog (NODE_REBOOT -> REBOOT_NODE), in every
  // mode; without `recovery` (NVML could not tell) the catalog's static action stands.
  // The action of a known XID is the catalog's (an XID forced critical that the catalog calls
  // NONE/RESTART_APP gets RESET_GPU); unknown XIDs (999 included) get CONTACT_SUPPORT.
  XidVerdict Classify(uint64_t xid, std::optional<GpuRecoveryAction> recovery = std::nullopt) const;

  XidPolicyMode mode() const { return mode_; }
  const XidOverrides& overrides() const { return overrides_; }

 private:
  XidPolicyMode mode_;
  XidOverrides overrides_;
};

}  // namespace deviceapi::nvml

#endif  // DEVICEAPI_NVML_XID_POLICY_H_
