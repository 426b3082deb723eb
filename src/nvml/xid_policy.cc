#include "nvml/xid_policy.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include "common/strings.h"

namespace deviceapi::nvml {

namespace {

using C = XidClass;
using A = RecommendedAction;

// The catalog policy of ../shared/reference/xid.md section 2. Descriptions are NVIDIA's (CAT/LEG).
constexpr std::array kCatalog = {
    XidCatalogEntry{8, "RC_FIFO_ERROR_IDLE_TIMEOUT", "GPU stopped processing (idle timeout)", C::kWarning,
                    A::kRestartApp},
    XidCatalogEntry{13, "RC_GR_EXCEPTION", "Graphics Engine Exception", C::kIgnored, A::kRestartApp},
    XidCatalogEntry{31, "RC_FIFO_ERROR_MMU_ERR_FLT", "GPU memory page fault", C::kIgnored, A::kRestartApp},
    XidCatalogEntry{32, "RC_PBDMA_ERROR", "Invalid or corrupted push buffer stream", C::kWarning,
                    A::kRestartApp},
    XidCatalogEntry{38, "RC_FECS_ERR_WATCHDOG_TIMEOUT", "Driver firmware error", C::kWarning, A::kNone},
    XidCatalogEntry{43, "RC_RESETCHANNEL_VERIF_ERROR", "GPU stopped processing", C::kIgnored, A::kNone},
    XidCatalogEntry{44, "RC_GR_FAULT_DURING_CTXSW", "Graphics engine fault during context switch",
                    C::kWarning, A::kNone},
    XidCatalogEntry{45, "RC_PREEMPTIVE_REMOVAL", "Preemptive cleanup, due to previous errors", C::kIgnored,
                    A::kNone},
    XidCatalogEntry{46, "RC_GPU_TIMEOUT_ERROR", "GPU stopped processing", C::kCritical, A::kResetGpu},
    XidCatalogEntry{48, "RC_GPU_ECC_DBE", "Double-bit ECC error", C::kCritical, A::kResetGpu},
    XidCatalogEntry{54, "SILENT_RUNNING_PWR_REDUCED_CLOCKING", "Auxiliary power is not connected to the GPU",
                    C::kCritical, A::kContactSupport},
    XidCatalogEntry{56, "DISPLAY_CHANNEL_EXCEPTION", "Display engine error (unused on A100 and later)",
                    C::kWarning, A::kContactSupport},
    XidCatalogEntry{57, "FB_LINK_TRAINING_FAILURE_ERROR",
                    "Error programming video memory interface (unused on A100 and later)", C::kWarning,
                    A::kContactSupport},
    XidCatalogEntry{61, "PMU_BREAKPOINT", "Internal micro-controller breakpoint (unused on A100 and later)",
                    C::kWarning, A::kContactSupport},
    XidCatalogEntry{62, "PMU_HALT_ERROR", "Internal micro-controller halt", C::kCritical, A::kResetGpu},
    XidCatalogEntry{63, "INFOROM_DRAM_RETIREMENT_EVENT",
                    "Row-remap or page-retirement event (applied at the next reset)", C::kWarning,
                    A::kResetGpu},
    XidCatalogEntry{64, "INFOROM_DRAM_RETIREMENT_FAILURE", "Row-remap or page-retirement failure",
                    C::kCritical, A::kResetGpu},
    XidCatalogEntry{68, "RC_NVDEC0_ERROR", "Video processor exception", C::kIgnored, A::kRestartApp},
    XidCatalogEntry{69, "RC_GR_CLASS_ERROR", "Graphics engine class error", C::kIgnored, A::kRestartApp},
    XidCatalogEntry{74, "NVLINK_ERROR", "NVLink error", C::kCritical, A::kResetGpu},
    XidCatalogEntry{79, "RC_GPU_HAS_FALLEN_OFF_THE_BUS", "GPU has fallen off the bus", C::kCritical,
                    A::kRebootNode},
    XidCatalogEntry{92, "EXCESSIVE_SBE_INTERRUPTS", "High single-bit ECC error rate", C::kWarning, A::kNone},
    XidCatalogEntry{93, "INFOROM_ERASE_LIMIT_EXCEEDED", "InfoROM erase limit exceeded", C::kWarning,
                    A::kNone},
    XidCatalogEntry{94, "RC_CONTAINED_ERROR", "Contained memory error (one application affected)",
                    C::kWarning, A::kRestartApp},
    XidCatalogEntry{95, "RC_UNCONTAINED_ERROR", "Uncontained memory error", C::kCritical, A::kResetGpu},
    XidCatalogEntry{109, "RC_CTXSW_TIMEOUT_ERROR", "Context switch timeout", C::kCritical, A::kResetGpu},
    XidCatalogEntry{110, "SEC_FAULT_ERROR", "Security fault", C::kCritical, A::kResetGpu},
    XidCatalogEntry{119, "GSP_RPC_TIMEOUT", "GSP RPC timeout", C::kCritical, A::kResetGpu},
    XidCatalogEntry{120, "GSP_ERROR", "GSP error", C::kCritical, A::kResetGpu},
    XidCatalogEntry{121, "C2C_ERROR", "Corrected C2C link errors", C::kWarning, A::kNone},
    XidCatalogEntry{136, "ALI_TRAINING_FAIL", "Link training failure", C::kCritical, A::kResetGpu},
    XidCatalogEntry{137, "NVLINK_PRIV_ERR", "Illegal NVLink peer-to-peer access", C::kIgnored,
                    A::kRestartApp},
    XidCatalogEntry{140, "UNRECOVERABLE_ECC_ERROR_ESCAPE", "Unrecoverable ECC error escape", C::kCritical,
                    A::kResetGpu},
    XidCatalogEntry{142, "RC_NVENC3_ERROR", "Video encoder error", C::kCritical, A::kContactSupport},
    XidCatalogEntry{143, "GPU_INIT_ERROR", "GPU initialization error", C::kCritical, A::kResetGpu},
    XidCatalogEntry{144, "NVLINK_SAW_ERROR", "NVLink SAW error", C::kCritical, A::kResetGpu},
    XidCatalogEntry{145, "NVLINK_RLW_ERROR", "NVLink RLW error", C::kCritical, A::kResetGpu},
    XidCatalogEntry{146, "NVLINK_TLW_ERROR", "NVLink TLW error", C::kCritical, A::kResetGpu},
    XidCatalogEntry{147, "NVLINK_TREX_ERROR", "NVLink TREX error", C::kCritical, A::kResetGpu},
    XidCatalogEntry{148, "NVLINK_NVLPW_CTRL_ERROR", "NVLink NVLPW control error", C::kCritical, A::kResetGpu},
    XidCatalogEntry{149, "NVLINK_NETIR_ERROR", "NVLink NETIR error", C::kCritical, A::kResetGpu},
    XidCatalogEntry{150, "NVLINK_MSE_ERROR", "NVLink MSE error", C::kCritical, A::kResetGpu},
    XidCatalogEntry{151, "RC_KEY_ROTATION_ERROR", "Key rotation error (confidential computing)", C::kCritical,
                    A::kRestartVm},
    XidCatalogEntry{154, "GPU_RECOVERY_ACTION_CHANGED", "GPU recovery action changed", C::kWarning, A::kNone},
    XidCatalogEntry{155, "NVLINK_SW_DEFINED_ERROR", "NVLink link brought down by software", C::kCritical,
                    A::kResetGpu},
    XidCatalogEntry{156, "RESOURCE_RETIREMENT_EVENT", "Resource retirement event", C::kCritical,
                    A::kResetGpu},
    XidCatalogEntry{157, "RESOURCE_RETIREMENT_FAILURE", "Resource retirement failure: no spare resources",
                    C::kWarning, A::kNone},
    XidCatalogEntry{158, "GPU_FATAL_TIMEOUT", "GPU fatal timeout", C::kCritical, A::kResetGpu},
};

constexpr std::array<uint64_t, 6> kDevicePluginIgnored = {13, 31, 43, 45, 68, 109};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view XidClassName(XidClass c) {
  switch (c) {
    case XidClass::kIgnored:
      return "ignored";
    case XidClass::kWarning:
      return "warning";
    case XidClass::kCritical:
      return "critical";
  }
  return "warning";
}

std::string_view ActionName(RecommendedAction a) {
  switch (a) {
    case A::kNone:
      return "NONE";
    case A::kRestartApp:
      return "RESTART_APP";
    case A::kResetGpu:
      return "RESET_GPU";
    case A::kRestartVm:
      return "RESTART_VM";
    case A::kRebootNode:
      return "REBOOT_NODE";
    case A::kContactSupport:
      return "CONTACT_SUPPORT";
  }
  return "CONTACT_SUPPORT";
}

int ActionRank(RecommendedAction a) { return static_cast<int>(a); }

std::string_view GpuRecoveryActionName(GpuRecoveryAction a) {
  switch (a) {
    case GpuRecoveryAction::kNone:
      return "NONE";
    case GpuRecoveryAction::kGpuReset:
      return "GPU_RESET";
    case GpuRecoveryAction::kNodeReboot:
      return "NODE_REBOOT";
    case GpuRecoveryAction::kDrainP2p:
      return "DRAIN_P2P";
    case GpuRecoveryAction::kDrainAndReset:
      return "DRAIN_AND_RESET";
  }
  return "UNKNOWN";
}

RecommendedAction ActionForRecovery(GpuRecoveryAction a) {
  switch (a) {
    case GpuRecoveryAction::kGpuReset:
    case GpuRecoveryAction::kDrainAndReset:
      return A::kResetGpu;
    case GpuRecoveryAction::kNodeReboot:
      return A::kRebootNode;
    case GpuRecoveryAction::kNone:
    case GpuRecoveryAction::kDrainP2p:
      return A::kNone;
  }
  return A::kNone;
}

bool XidDependsOnRecoveryAction(uint64_t xid) { return xid == 154 || (xid >= 144 && xid <= 150); }

const XidCatalogEntry* FindXid(uint64_t xid) {
  for (const XidCatalogEntry& e : kCatalog) {
    if (e.xid == xid) return &e;
  }
  return nullptr;
}

absl::StatusOr<XidPolicyMode> ParseXidPolicyMode(std::string_view text) {
  const std::string t = Lower(Trim(text));
  if (t == "catalog" || t.empty()) return XidPolicyMode::kCatalog;
  if (t == "device-plugin") return XidPolicyMode::kDevicePlugin;
  return absl::InvalidArgumentError(
      common::ToAbsl(common::Cat("unknown XID policy \"", text, "\" (want catalog or device-plugin)")));
}

XidList ParseXidList(std::string_view text) {
  XidList out;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view item = Trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (item.empty()) continue;
    const std::string lower = Lower(item);
    if (lower == "all" || lower == "xids") {
      out.all = true;
      continue;
    }
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec == std::errc() && ptr == item.data() + item.size()) out.xids.insert(v);
  }
  return out;
}

XidPolicy::XidPolicy(XidPolicyMode mode, XidOverrides overrides)
    : mode_(mode), overrides_(std::move(overrides)) {}

XidVerdict XidPolicy::Classify(uint64_t xid, std::optional<GpuRecoveryAction> recovery) const {
  XidVerdict v;
  v.xid = xid;
  const XidCatalogEntry* e = FindXid(xid);
  if (e != nullptr) {
    v.mnemonic = std::string(e->mnemonic);
    v.description = std::string(e->description);
    v.action = e->action;
  } else {
    v.mnemonic = "UNKNOWN";
    v.description = xid == 999 ? "Unknown XID (reported by the driver as 999)" : "Unknown XID";
    v.action = A::kContactSupport;
  }

  // 4. The mode's default.
  if (mode_ == XidPolicyMode::kDevicePlugin) {
    const bool ignored = std::find(kDevicePluginIgnored.begin(), kDevicePluginIgnored.end(), xid) !=
                         kDevicePluginIgnored.end();
    v.cls = ignored ? C::kIgnored : C::kCritical;
    v.basis = "device-plugin";
  } else if (e == nullptr) {
    v.cls = C::kWarning;
    v.basis = "catalog (unknown XID)";
  } else {
    v.cls = e->default_class;
    v.basis = "catalog";
    if (xid == 154 && recovery.has_value()) {
      v.action = ActionForRecovery(*recovery);
      v.cls = v.action == A::kNone ? C::kWarning : C::kCritical;
      v.basis = "catalog (NVML recovery action)";
    } else if (xid >= 144 && xid <= 150 && recovery == GpuRecoveryAction::kNone) {
      v.cls = C::kWarning;
      v.action = A::kNone;
      v.basis = "catalog (NVML recovery action NONE)";
    }
  }
  // 3. The disable list.
  if (overrides_.disable.all || overrides_.disable.xids.contains(xid)) {
    v.cls = C::kIgnored;
    v.basis = "DP_DISABLE_HEALTHCHECKS";
  }
  // 2. Explicit per-class lists.
  if (overrides_.ignored.contains(xid)) {
    v.cls = C::kIgnored;
    v.basis = "--ignored-xids";
  } else if (overrides_.warning.contains(xid)) {
    v.cls = C::kWarning;
    v.basis = "--warning-xids";
  } else if (overrides_.critical.contains(xid)) {
    v.cls = C::kCritical;
    v.basis = "--critical-xids";
  }
  // 1. The enable list wins over everything.
  if (overrides_.enable.all || overrides_.enable.xids.contains(xid)) {
    v.cls = C::kCritical;
    v.basis = "DP_ENABLE_HEALTHCHECKS";
  }
  if (v.cls == C::kCritical && recovery.has_value() && XidDependsOnRecoveryAction(xid) &&
      ActionRank(ActionForRecovery(*recovery)) > ActionRank(v.action)) {
    v.action = ActionForRecovery(*recovery);
  }
  if (v.cls == C::kCritical && ActionRank(v.action) < ActionRank(A::kResetGpu)) v.action = A::kResetGpu;
  return v;
}

}  // namespace deviceapi::nvml
