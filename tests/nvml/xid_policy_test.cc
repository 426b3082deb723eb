// XID classification: the catalog policy (../shared/reference/xid.md section 2), NVIDIA device
// plugin's legacy default, and the override flags / DP_* variables.
#include "nvml/xid_policy.h"

#include <gtest/gtest.h>

namespace deviceapi::nvml {
namespace {

XidClass Cls(const XidPolicy& p, uint64_t xid) { return p.Classify(xid).cls; }

// The catalog policy's three classes, XID by XID as section 2 lists them.
TEST(XidPolicy, CatalogClasses) {
  XidPolicy p;
  for (uint64_t x : {13, 31, 43, 45, 68, 69, 137}) EXPECT_EQ(Cls(p, x), XidClass::kIgnored) << x;
  for (uint64_t x : {8, 32, 38, 44, 92, 93, 121, 157, 63, 94, 154, 56, 57, 61}) {
    EXPECT_EQ(Cls(p, x), XidClass::kWarning) << x;
  }
  for (uint64_t x : {46,  48,  62, 64,  74, 95,  109, 110, 119, 120, 136, 140, 143, 155,
                     156, 158, 79, 151, 54, 142, 144, 145, 146, 147, 148, 149, 150}) {
    EXPECT_EQ(Cls(p, x), XidClass::kCritical) << x;
  }
}

// Critical XIDs carry NVIDIA's recommended action and description.
TEST(XidPolicy, CatalogActionsAndDescriptions) {
  XidPolicy p;
  XidVerdict v79 = p.Classify(79);
  EXPECT_EQ(v79.action, RecommendedAction::kRebootNode);
  EXPECT_EQ(v79.mnemonic, "RC_GPU_HAS_FALLEN_OFF_THE_BUS");
  EXPECT_EQ(v79.description, "GPU has fallen off the bus");
  EXPECT_EQ(ActionName(v79.action), "REBOOT_NODE");
  EXPECT_EQ(p.Classify(48).action, RecommendedAction::kResetGpu);
  EXPECT_EQ(p.Classify(109).action, RecommendedAction::kResetGpu);
  EXPECT_EQ(p.Classify(151).action, RecommendedAction::kRestartVm);
  EXPECT_EQ(p.Classify(54).action, RecommendedAction::kContactSupport);
  EXPECT_EQ(p.Classify(94).action, RecommendedAction::kRestartApp);
  EXPECT_EQ(p.Classify(13).action, RecommendedAction::kRestartApp);
  EXPECT_EQ(p.Classify(43).action, RecommendedAction::kNone);
}

// Unknown XIDs (and 999) are warnings with CONTACT_SUPPORT, not failures (EKS; unlike DP).
TEST(XidPolicy, UnknownXidIsWarning) {
  XidPolicy p;
  for (uint64_t x : {999, 1, 500, 12345}) {
    XidVerdict v = p.Classify(x);
    EXPECT_EQ(v.cls, XidClass::kWarning) << x;
    EXPECT_EQ(v.action, RecommendedAction::kContactSupport) << x;
    EXPECT_EQ(v.mnemonic, "UNKNOWN");
  }
}

// 154 follows NVML's recovery action; 144-150 drop to warning when it says none.
TEST(XidPolicy, RecoveryActionRefines154And144To150) {
  XidPolicy p;
  EXPECT_EQ(p.Classify(154, GpuRecoveryAction::kGpuReset).cls, XidClass::kCritical);
  EXPECT_EQ(p.Classify(154, GpuRecoveryAction::kDrainAndReset).action, RecommendedAction::kResetGpu);
  EXPECT_EQ(p.Classify(154, GpuRecoveryAction::kNodeReboot).action, RecommendedAction::kRebootNode);
  EXPECT_EQ(p.Classify(154, GpuRecoveryAction::kNone).cls, XidClass::kWarning);
  EXPECT_EQ(p.Classify(154, GpuRecoveryAction::kDrainP2p).cls, XidClass::kWarning);
  EXPECT_EQ(p.Classify(145, GpuRecoveryAction::kNone).cls, XidClass::kWarning);
  EXPECT_EQ(p.Classify(145).cls, XidClass::kCritical);
  // Without a recovery action (NVML could not say) the catalog's static action stands.
  EXPECT_EQ(p.Classify(154).cls, XidClass::kWarning);
  EXPECT_EQ(p.Classify(154).action, RecommendedAction::kNone);
  EXPECT_EQ(p.Classify(146).action, RecommendedAction::kResetGpu);
  // 144-150: NODE_REBOOT escalates the action; reset, drain-and-reset and drain-P2P keep RESET_GPU.
  EXPECT_EQ(p.Classify(147, GpuRecoveryAction::kNodeReboot).action, RecommendedAction::kRebootNode);
  EXPECT_EQ(p.Classify(147, GpuRecoveryAction::kNodeReboot).cls, XidClass::kCritical);
  for (GpuRecoveryAction r :
       {GpuRecoveryAction::kGpuReset, GpuRecoveryAction::kDrainAndReset, GpuRecoveryAction::kDrainP2p}) {
    EXPECT_EQ(p.Classify(150, r).cls, XidClass::kCritical) << GpuRecoveryActionName(r);
    EXPECT_EQ(p.Classify(150, r).action, RecommendedAction::kResetGpu) << GpuRecoveryActionName(r);
  }
  // The recovery action is read only where it matters; other XIDs ignore it.
  EXPECT_EQ(p.Classify(48, GpuRecoveryAction::kNodeReboot).action, RecommendedAction::kResetGpu);
  EXPECT_EQ(p.Classify(79, GpuRecoveryAction::kNone).action, RecommendedAction::kRebootNode);
  EXPECT_TRUE(XidDependsOnRecoveryAction(154));
  EXPECT_TRUE(XidDependsOnRecoveryAction(144));
  EXPECT_TRUE(XidDependsOnRecoveryAction(150));
  EXPECT_FALSE(XidDependsOnRecoveryAction(143));
  EXPECT_FALSE(XidDependsOnRecoveryAction(151));
  // Device-plugin mode: 154 is critical anyway; NODE_REBOOT still sets the action.
  XidPolicy dp(XidPolicyMode::kDevicePlugin);
  EXPECT_EQ(dp.Classify(154, GpuRecoveryAction::kNodeReboot).action, RecommendedAction::kRebootNode);
  EXPECT_EQ(dp.Classify(154).action, RecommendedAction::kResetGpu);
}

TEST(XidPolicy, RecoveryActionNamesAndMapping) {
  EXPECT_EQ(GpuRecoveryActionName(GpuRecoveryAction::kDrainAndReset), "DRAIN_AND_RESET");
  EXPECT_EQ(ActionForRecovery(GpuRecoveryAction::kNone), RecommendedAction::kNone);
  EXPECT_EQ(ActionForRecovery(GpuRecoveryAction::kGpuReset), RecommendedAction::kResetGpu);
  EXPECT_EQ(ActionForRecovery(GpuRecoveryAction::kNodeReboot), RecommendedAction::kRebootNode);
  EXPECT_EQ(ActionForRecovery(GpuRecoveryAction::kDrainP2p), RecommendedAction::kNone);
  EXPECT_EQ(ActionForRecovery(GpuRecoveryAction::kDrainAndReset), RecommendedAction::kResetGpu);
}

// --xid-policy=device-plugin: 13, 31, 43, 45, 68, 109 ignored, everything else critical.
TEST(XidPolicy, DevicePluginLegacyDefault) {
  XidPolicy p(XidPolicyMode::kDevicePlugin);
  for (uint64_t x : {13, 31, 43, 45, 68, 109}) EXPECT_EQ(Cls(p, x), XidClass::kIgnored) << x;
  for (uint64_t x : {8, 63, 69, 79, 94, 137, 999, 4242}) EXPECT_EQ(Cls(p, x), XidClass::kCritical) << x;
  EXPECT_EQ(p.Classify(94).action, RecommendedAction::kResetGpu);  // critical never says RESTART_APP
  EXPECT_EQ(p.Classify(79).action, RecommendedAction::kRebootNode);
}

TEST(XidPolicy, ParseModes) {
  EXPECT_EQ(*ParseXidPolicyMode("catalog"), XidPolicyMode::kCatalog);
  EXPECT_EQ(*ParseXidPolicyMode("Device-Plugin"), XidPolicyMode::kDevicePlugin);
  EXPECT_FALSE(ParseXidPolicyMode("strict").ok());
}

// DP_*_HEALTHCHECKS list syntax: comma-separated, case-insensitive, all/xids, junk skipped.
TEST(XidPolicy, ParseXidList) {
  XidList l = ParseXidList(" 48, 79 ,abc,,-3, 1x ");
  EXPECT_FALSE(l.all);
  EXPECT_EQ(l.xids, (std::set<uint64_t>{48, 79}));
  EXPECT_TRUE(ParseXidList("ALL").all);
  EXPECT_TRUE(ParseXidList("xids,13").all);
  EXPECT_EQ(ParseXidList("xids,13").xids, (std::set<uint64_t>{13}));
  EXPECT_TRUE(ParseXidList("").xids.empty());
}

// DP_DISABLE_HEALTHCHECKS adds ignored XIDs; "all" ignores everything.
TEST(XidPolicy, DisableList) {
  XidOverrides o;
  o.disable = ParseXidList("79,48");
  XidPolicy p(XidPolicyMode::kCatalog, o);
  EXPECT_EQ(Cls(p, 79), XidClass::kIgnored);
  EXPECT_EQ(p.Classify(79).basis, "DP_DISABLE_HEALTHCHECKS");
  EXPECT_EQ(Cls(p, 48), XidClass::kIgnored);
  EXPECT_EQ(Cls(p, 95), XidClass::kCritical);
  o.disable = ParseXidList("all");
  XidPolicy all(XidPolicyMode::kCatalog, o);
  for (uint64_t x : {8, 48, 79, 999}) EXPECT_EQ(Cls(all, x), XidClass::kIgnored) << x;
}

// DP_ENABLE_HEALTHCHECKS wins over the defaults and the disable list (DISABLE=all + ENABLE=48,79
// = only those count), in both modes.
TEST(XidPolicy, EnableListWinsOverEverything) {
  XidOverrides o;
  o.disable = ParseXidList("all");
  o.enable = ParseXidList("48,79,13");
  o.ignored = {79};
  for (XidPolicyMode m : {XidPolicyMode::kCatalog, XidPolicyMode::kDevicePlugin}) {
    XidPolicy p(m, o);
    EXPECT_EQ(Cls(p, 48), XidClass::kCritical);
    EXPECT_EQ(Cls(p, 79), XidClass::kCritical);
    EXPECT_EQ(Cls(p, 13), XidClass::kCritical);
    EXPECT_EQ(p.Classify(13).action, RecommendedAction::kResetGpu);
    EXPECT_EQ(p.Classify(13).basis, "DP_ENABLE_HEALTHCHECKS");
    EXPECT_EQ(Cls(p, 95), XidClass::kIgnored);
    EXPECT_EQ(Cls(p, 94), XidClass::kIgnored);
  }
  o = {};
  o.enable = ParseXidList("all");
  XidPolicy everything(XidPolicyMode::kCatalog, o);
  EXPECT_EQ(Cls(everything, 13), XidClass::kCritical);
}

// The per-class flags re-class single XIDs and beat the disable list, not the enable list.
TEST(XidPolicy, PerClassFlags) {
  XidOverrides o;
  o.warning = {79};
  o.critical = {94, 13};
  o.ignored = {48};
  o.disable = ParseXidList("94");
  XidPolicy p(XidPolicyMode::kCatalog, o);
  EXPECT_EQ(Cls(p, 79), XidClass::kWarning);
  EXPECT_EQ(Cls(p, 94), XidClass::kCritical);
  EXPECT_EQ(Cls(p, 13), XidClass::kCritical);
  EXPECT_EQ(Cls(p, 48), XidClass::kIgnored);
  EXPECT_EQ(p.Classify(79).basis, "--warning-xids");
}

TEST(XidPolicy, CatalogIsConsistent) {
  // Every catalog XID classifies to its default class with its own action.
  XidPolicy p;
  for (uint64_t x = 0; x < 1000; ++x) {
    const XidCatalogEntry* e = FindXid(x);
    if (e == nullptr) continue;
    XidVerdict v = p.Classify(x);
    EXPECT_EQ(v.cls, e->default_class) << x;
    EXPECT_FALSE(v.description.empty()) << x;
    if (v.cls == XidClass::kCritical) {
      EXPECT_GE(ActionRank(v.action), ActionRank(RecommendedAction::kResetGpu)) << x;
    }
  }
}

}  // namespace
}  // namespace deviceapi::nvml
