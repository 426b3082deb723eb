// FaultTracker: the NVML provider's fault and recovery rules (docs/nvml-provider.md, "Health"),
// without NVML, the server or threads. Each test is one rule; its comment says what must hold.
#include "nvml/fault_tracker.h"

#include <gtest/gtest.h>

namespace deviceapi::nvml {
namespace {

constexpr uint64_t kGiB = 1024ull * 1024 * 1024;

XidVerdict Verdict(uint64_t xid, XidClass cls, RecommendedAction action) {
  XidVerdict v;
  v.xid = xid;
  v.cls = cls;
  v.mnemonic = "TEST";
  v.description = "test";
  v.action = action;
  v.basis = "test";
  return v;
}

XidVerdict Critical(uint64_t xid, RecommendedAction action) {
  return Verdict(xid, XidClass::kCritical, action);
}

DeviceHealthProbe Healthy() { return DeviceHealthProbe{}; }

DeviceHealthProbe Lost() {
  DeviceHealthProbe p;
  p.fatal_error = NVML_ERROR_GPU_IS_LOST;
  return p;
}

DeviceHealthProbe ResetRequired() {
  DeviceHealthProbe p;
  p.fatal_error = NVML_ERROR_RESET_REQUIRED;
  return p;
}

DeviceHealthProbe RemapFailure() {
  DeviceHealthProbe p;
  p.remap_failure = true;
  return p;
}

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

class FaultTrackerTest : public ::testing::Test {
 protected:
  // A GPU with fault XID79 (REBOOT_NODE) that the server shows since `rv`.
  void PublishedXid79(uint64_t rv) {
    ASSERT_TRUE(tracker_.OnXid(&s_, Critical(79, RecommendedAction::kRebootNode), "xid 79", kT0));
    FaultTracker::NoteWritten(&s_, s_.fault->gen, rv);
  }

  FaultTracker tracker_;
  FaultState s_;
  GpuInventory inventory_{
      .uuid = "GPU-1", .product_name = "NVIDIA H100 80GB HBM3", .memory_bytes = 80 * kGiB};
};

// ---- XIDs ----

// A critical XID latches a fault "XID<n>" with the XID's message and action; NVMLReady goes False.
TEST_F(FaultTrackerTest, CriticalXidSetsFault) {
  EXPECT_TRUE(tracker_.OnXid(&s_, Critical(79, RecommendedAction::kRebootNode), "XID 79 (...)", kT0));
  ASSERT_TRUE(s_.fault.has_value());
  EXPECT_EQ(s_.fault->reason, "XID79");
  EXPECT_EQ(s_.fault->message, "XID 79 (...)");
  EXPECT_EQ(s_.fault->action, RecommendedAction::kRebootNode);
  EXPECT_EQ(s_.fault->published_rv, 0u);  // not on the server yet
  const Readiness r = FaultTracker::Desired(s_, inventory_);
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.reason, "XID79");
  EXPECT_EQ(r.message, "XID 79 (...)");
  EXPECT_EQ(r.action, "REBOOT_NODE");
}

// A warning XID records the last warning (XID, time, message) and leaves health alone.
TEST_F(FaultTrackerTest, WarningXidDoesNotSetFault) {
  EXPECT_TRUE(tracker_.OnXid(&s_, Verdict(63, XidClass::kWarning, RecommendedAction::kResetGpu), "w", kT0));
  EXPECT_FALSE(s_.fault.has_value());
  ASSERT_TRUE(s_.last_warning.has_value());
  EXPECT_EQ(s_.last_warning->xid, 63u);
  EXPECT_EQ(s_.last_warning->time, kT0);
  EXPECT_EQ(s_.last_warning->message, "w");
  const Readiness r = FaultTracker::Desired(s_, inventory_);
  EXPECT_TRUE(r.ready);
  EXPECT_EQ(r.reason, "Healthy");
  EXPECT_EQ(r.action, "");
}

// A warning XID does not clear or alter a fault already latched.
TEST_F(FaultTrackerTest, WarningXidKeepsExistingFault) {
  tracker_.OnXid(&s_, Critical(48, RecommendedAction::kResetGpu), "xid 48", kT0);
  const uint64_t gen = s_.fault->gen;
  tracker_.OnXid(&s_, Verdict(63, XidClass::kWarning, RecommendedAction::kResetGpu), "w", kT0);
  ASSERT_TRUE(s_.fault.has_value());
  EXPECT_EQ(s_.fault->reason, "XID48");
  EXPECT_EQ(s_.fault->gen, gen);
}

// An ignored XID changes nothing and asks for no write.
TEST_F(FaultTrackerTest, IgnoredXidChangesNothing) {
  EXPECT_FALSE(
      tracker_.OnXid(&s_, Verdict(13, XidClass::kIgnored, RecommendedAction::kRestartApp), "i", kT0));
  EXPECT_FALSE(s_.fault.has_value());
  EXPECT_FALSE(s_.last_warning.has_value());
}

// A later, milder critical XID replaces the reason but never downgrades the pending action.
TEST_F(FaultTrackerTest, LaterXidNeverDowngradesAction) {
  tracker_.OnXid(&s_, Critical(79, RecommendedAction::kRebootNode), "xid 79", kT0);
  tracker_.OnXid(&s_, Critical(48, RecommendedAction::kResetGpu), "xid 48", kT0);
  EXPECT_EQ(s_.fault->reason, "XID48");
  EXPECT_EQ(s_.fault->message, "xid 48");
  EXPECT_EQ(s_.fault->action, RecommendedAction::kRebootNode);
}

// A later, more severe critical XID raises the action.
TEST_F(FaultTrackerTest, LaterXidRaisesAction) {
  tracker_.OnXid(&s_, Critical(48, RecommendedAction::kResetGpu), "xid 48", kT0);
  tracker_.OnXid(&s_, Critical(79, RecommendedAction::kRebootNode), "xid 79", kT0);
  EXPECT_EQ(s_.fault->action, RecommendedAction::kRebootNode);
}

// Every new fault gets a new number, and is unpublished until written, even for the same XID.
TEST_F(FaultTrackerTest, EveryNewFaultGetsNewGen) {
  PublishedXid79(10);
  const uint64_t first = s_.fault->gen;
  tracker_.OnXid(&s_, Critical(79, RecommendedAction::kRebootNode), "xid 79", kT0);
  EXPECT_GT(s_.fault->gen, first);
  EXPECT_EQ(s_.fault->published_rv, 0u);
}

// Fault numbers are unique across GPUs (one tracker for all of them).
TEST_F(FaultTrackerTest, GensAreUniqueAcrossGpus) {
  FaultState other;
  tracker_.OnXid(&s_, Critical(79, RecommendedAction::kRebootNode), "a", kT0);
  tracker_.OnXid(&other, Critical(79, RecommendedAction::kRebootNode), "b", kT0);
  EXPECT_NE(s_.fault->gen, other.fault->gen);
}

// ---- publication and operator clears ----

// Our first write that carries a fault publishes it at that write's RV; later writes do not move it.
TEST_F(FaultTrackerTest, FirstWritePublishesFault) {
  tracker_.OnXid(&s_, Critical(79, RecommendedAction::kRebootNode), "xid 79", kT0);
  FaultTracker::NoteWritten(&s_, s_.fault->gen, 5);
  EXPECT_EQ(s_.fault->published_rv, 5u);
  FaultTracker::NoteWritten(&s_, s_.fault->gen, 7);
  EXPECT_EQ(s_.fault->published_rv, 5u);
}

// A write that carried an older fault (or none) does not publish the current one.
TEST_F(FaultTrackerTest, WriteOfOtherFaultDoesNotPublish) {
  tracker_.OnXid(&s_, Critical(48, RecommendedAction::kResetGpu), "xid 48", kT0);
  const uint64_t old_gen = s_.fault->gen;
  tracker_.OnXid(&s_, Critical(79, RecommendedAction::kRebootNode), "xid 79", kT0);
  FaultTracker::NoteWritten(&s_, old_gen, 5);
  FaultTracker::NoteWritten(&s_, 0, 6);
  EXPECT_EQ(s_.fault->published_rv, 0u);
}

// An operator's NVMLReady=True at an RV newer than the fault's publication clears it.
TEST_F(FaultTrackerTest, OperatorClearAtNewerRvClears) {
  PublishedXid79(10);
  ASSERT_TRUE(FaultTracker::ClearsFault(s_, 11));
  FaultTracker::ApplyClear(&s_);
  EXPECT_FALSE(s_.fault.has_value());
  const Readiness r = FaultTracker::Desired(s_, inventory_);
  EXPECT_TRUE(r.ready);
  EXPECT_EQ(r.reason, "Healthy");  // not "Recovered": no reset was seen
  EXPECT_EQ(r.action, "");
}

// A True at or before the fault's publication was written for an earlier state: it does not clear.
TEST_F(FaultTrackerTest, OperatorClearAtOlderRvDoesNotClear) {
  PublishedXid79(10);
  EXPECT_FALSE(FaultTracker::ClearsFault(s_, 10));
  EXPECT_FALSE(FaultTracker::ClearsFault(s_, 9));
}

// A fault not yet on the server cannot have been seen by the operator: no clear hides it.
TEST_F(FaultTrackerTest, UnpublishedFaultIsNotCleared) {
  tracker_.OnXid(&s_, Critical(79, RecommendedAction::kRebootNode), "xid 79", kT0);
  EXPECT_FALSE(FaultTracker::ClearsFault(s_, 1000));
}

// Without a fault there is nothing to clear.
TEST_F(FaultTrackerTest, NoFaultNothingToClear) { EXPECT_FALSE(FaultTracker::ClearsFault(s_, 1000)); }

// A clear forgets a reset seen and "Recovered": the GPU is plain Healthy afterwards.
TEST_F(FaultTrackerTest, ClearForgetsResetSeen) {
  PublishedXid79(10);
  tracker_.OnProbe(&s_, ResetRequired());
  ASSERT_TRUE(s_.reset_seen);
  FaultTracker::ApplyClear(&s_);
  EXPECT_FALSE(s_.reset_seen);
  EXPECT_FALSE(s_.recovered);
}

// ---- polled probes ----

// GPU_IS_LOST latches GPULost with REBOOT_NODE and counts as a reset; seen again it is not new.
TEST_F(FaultTrackerTest, LostGpuSetsGpuLost) {
  ProbeOutcome o = tracker_.OnProbe(&s_, Lost());
  EXPECT_EQ(o.change, ProbeChange::kLost);
  ASSERT_TRUE(s_.fault.has_value());
  EXPECT_EQ(s_.fault->reason, "GPULost");
  EXPECT_EQ(s_.fault->action, RecommendedAction::kRebootNode);
  EXPECT_TRUE(s_.reset_seen);
  const uint64_t gen = s_.fault->gen;
  o = tracker_.OnProbe(&s_, Lost());
  EXPECT_EQ(o.change, ProbeChange::kNone);
  EXPECT_EQ(s_.fault->gen, gen);
}

// RESET_REQUIRED latches ResetRequired with RESET_GPU and counts as a reset.
TEST_F(FaultTrackerTest, ResetRequiredSetsResetRequired) {
  const ProbeOutcome o = tracker_.OnProbe(&s_, ResetRequired());
  EXPECT_EQ(o.change, ProbeChange::kResetRequired);
  EXPECT_EQ(s_.fault->reason, "ResetRequired");
  EXPECT_EQ(s_.fault->action, RecommendedAction::kResetGpu);
  EXPECT_NE(s_.fault->message.find("recommended action: RESET_GPU"), std::string::npos);
  EXPECT_TRUE(s_.reset_seen);
}

// RESET_REQUIRED keeps a more severe pending action (an earlier XID 79's REBOOT_NODE).
TEST_F(FaultTrackerTest, ResetRequiredKeepsMoreSevereAction) {
  tracker_.OnXid(&s_, Critical(79, RecommendedAction::kRebootNode), "xid 79", kT0);
  tracker_.OnProbe(&s_, ResetRequired());
  EXPECT_EQ(s_.fault->reason, "ResetRequired");
  EXPECT_EQ(s_.fault->action, RecommendedAction::kRebootNode);
  EXPECT_NE(s_.fault->message.find("recommended action: REBOOT_NODE"), std::string::npos);
}

// A lost GPU that then answers RESET_REQUIRED stays GPULost.
TEST_F(FaultTrackerTest, ResetRequiredDoesNotReplaceGpuLost) {
  tracker_.OnProbe(&s_, Lost());
  const ProbeOutcome o = tracker_.OnProbe(&s_, ResetRequired());
  EXPECT_EQ(o.change, ProbeChange::kNone);
  EXPECT_EQ(s_.fault->reason, "GPULost");
}

// A row-remap failure latches RowRemapFailure with CONTACT_SUPPORT and is not a reset.
TEST_F(FaultTrackerTest, RemapFailureSetsRowRemapFailure) {
  const ProbeOutcome o = tracker_.OnProbe(&s_, RemapFailure());
  EXPECT_EQ(o.change, ProbeChange::kRemapFailure);
  EXPECT_EQ(s_.fault->reason, "RowRemapFailure");
  EXPECT_EQ(s_.fault->action, RecommendedAction::kContactSupport);
  EXPECT_FALSE(s_.reset_seen);
}

// A healthy probe without any reset since the fault leaves the fault latched.
TEST_F(FaultTrackerTest, NoRecoveryWithoutReset) {
  tracker_.OnXid(&s_, Critical(79, RecommendedAction::kRebootNode), "xid 79", kT0);
  const ProbeOutcome o = tracker_.OnProbe(&s_, Healthy());
  EXPECT_EQ(o.change, ProbeChange::kNone);
  ASSERT_TRUE(s_.fault.has_value());
  EXPECT_EQ(s_.fault->reason, "XID79");
}

// Recovery rule 1: after a reset (lost), a healthy probe ends the fault; NVMLReady True "Recovered".
TEST_F(FaultTrackerTest, HealthyAfterResetRecovers) {
  tracker_.OnXid(&s_, Critical(79, RecommendedAction::kRebootNode), "xid 79", kT0);
  tracker_.OnProbe(&s_, Lost());
  const ProbeOutcome o = tracker_.OnProbe(&s_, Healthy());
  EXPECT_EQ(o.change, ProbeChange::kRecovered);
  ASSERT_TRUE(o.cleared.has_value());
  EXPECT_EQ(o.cleared->reason, "GPULost");
  EXPECT_FALSE(s_.fault.has_value());
  EXPECT_TRUE(s_.recovered);
  EXPECT_FALSE(s_.reset_seen);
  const Readiness r = FaultTracker::Desired(s_, inventory_);
  EXPECT_TRUE(r.ready);
  EXPECT_EQ(r.reason, "Recovered");
  EXPECT_EQ(r.action, "");
}

// A pending page retirement holds the fault after a reset.
TEST_F(FaultTrackerTest, PendingRetirementBlocksRecovery) {
  tracker_.OnProbe(&s_, ResetRequired());
  DeviceHealthProbe p;
  p.retirement_pending = true;
  EXPECT_EQ(tracker_.OnProbe(&s_, p).change, ProbeChange::kNone);
  EXPECT_TRUE(s_.fault.has_value());
}

// A pending row remap holds the fault after a reset.
TEST_F(FaultTrackerTest, PendingRemapBlocksRecovery) {
  tracker_.OnProbe(&s_, ResetRequired());
  DeviceHealthProbe p;
  p.remap_pending = true;
  EXPECT_EQ(tracker_.OnProbe(&s_, p).change, ProbeChange::kNone);
  EXPECT_TRUE(s_.fault.has_value());
}

// An NVML recovery action other than NONE holds the fault after a reset.
TEST_F(FaultTrackerTest, RecoveryActionBlocksRecovery) {
  tracker_.OnProbe(&s_, ResetRequired());
  DeviceHealthProbe p;
  p.recovery_action = GpuRecoveryAction::kGpuReset;
  EXPECT_EQ(tracker_.OnProbe(&s_, p).change, ProbeChange::kNone);
  EXPECT_TRUE(s_.fault.has_value());
}

// NVML's recovery action NONE allows recovery (as does "not supported", see HealthyAfterResetRecovers).
TEST_F(FaultTrackerTest, RecoveryActionNoneAllowsRecovery) {
  tracker_.OnProbe(&s_, ResetRequired());
  DeviceHealthProbe p;
  p.recovery_action = GpuRecoveryAction::kNone;
  EXPECT_EQ(tracker_.OnProbe(&s_, p).change, ProbeChange::kRecovered);
  EXPECT_FALSE(s_.fault.has_value());
}

// A row-remap failure still reported holds the fault, whatever resets came before.
TEST_F(FaultTrackerTest, RemapFailureBlocksRecovery) {
  tracker_.OnProbe(&s_, Lost());
  tracker_.OnProbe(&s_, RemapFailure());
  EXPECT_EQ(tracker_.OnProbe(&s_, RemapFailure()).change, ProbeChange::kNone);
  EXPECT_EQ(s_.fault->reason, "RowRemapFailure");
}

// A critical XID after the reset but before the healthy probe needs a new reset to recover.
TEST_F(FaultTrackerTest, CriticalXidAfterResetNeedsNewReset) {
  tracker_.OnProbe(&s_, Lost());
  tracker_.OnXid(&s_, Critical(48, RecommendedAction::kResetGpu), "xid 48", kT0);
  EXPECT_FALSE(s_.reset_seen);
  EXPECT_EQ(tracker_.OnProbe(&s_, Healthy()).change, ProbeChange::kNone);
  EXPECT_EQ(s_.fault->reason, "XID48");
}

// A critical XID on a recovered GPU turns it False again (no longer "Recovered").
TEST_F(FaultTrackerTest, CriticalXidAfterRecoveryFaultsAgain) {
  tracker_.OnProbe(&s_, Lost());
  tracker_.OnProbe(&s_, Healthy());
  ASSERT_TRUE(s_.recovered);
  tracker_.OnXid(&s_, Critical(79, RecommendedAction::kRebootNode), "xid 79", kT0);
  EXPECT_FALSE(s_.recovered);
  EXPECT_FALSE(FaultTracker::Desired(s_, inventory_).ready);
}

// A healthy probe of a healthy GPU changes nothing.
TEST_F(FaultTrackerTest, HealthyProbeOfHealthyGpuChangesNothing) {
  EXPECT_EQ(tracker_.OnProbe(&s_, Healthy()).change, ProbeChange::kNone);
  EXPECT_FALSE(s_.fault.has_value());
  EXPECT_FALSE(s_.recovered);
}

// ---- adoption after a provider restart (a restart is not a reset) ----

// A False NVMLReady with one of our fault reasons is adopted, published at the object's RV.
TEST_F(FaultTrackerTest, AdoptsServerFault) {
  EXPECT_TRUE(tracker_.AdoptServerFault(&s_, ServerReadiness{true, "XID79", "xid 79", "REBOOT_NODE", 42}));
  ASSERT_TRUE(s_.fault.has_value());
  EXPECT_EQ(s_.fault->reason, "XID79");
  EXPECT_EQ(s_.fault->message, "xid 79");
  EXPECT_EQ(s_.fault->action, RecommendedAction::kRebootNode);
  EXPECT_EQ(s_.fault->published_rv, 42u);
  EXPECT_TRUE(FaultTracker::ClearsFault(s_, 43));  // the operator can clear it as usual
}

// An adopted fault whose recommended action is not one we know reads as CONTACT_SUPPORT.
TEST_F(FaultTrackerTest, AdoptedUnknownActionIsContactSupport) {
  EXPECT_TRUE(tracker_.AdoptServerFault(&s_, ServerReadiness{true, "GPULost", "lost", "NOT_AN_ACTION", 42}));
  EXPECT_EQ(s_.fault->action, RecommendedAction::kContactSupport);
}

// A True NVMLReady, or a False one with a reason that is not ours, is not adopted.
TEST_F(FaultTrackerTest, DoesNotAdoptTrueOrForeignReason) {
  EXPECT_FALSE(tracker_.AdoptServerFault(&s_, ServerReadiness{false, "XID79", "x", "REBOOT_NODE", 42}));
  EXPECT_FALSE(tracker_.AdoptServerFault(&s_, ServerReadiness{true, "NVMLUnavailable", "x", "", 42}));
  EXPECT_FALSE(tracker_.AdoptServerFault(&s_, ServerReadiness{true, "XID", "x", "", 42}));
  EXPECT_FALSE(s_.fault.has_value());
}

// A fault the provider already knows wins over the server's.
TEST_F(FaultTrackerTest, KnownFaultWinsOverServer) {
  tracker_.OnXid(&s_, Critical(48, RecommendedAction::kResetGpu), "xid 48", kT0);
  EXPECT_FALSE(tracker_.AdoptServerFault(&s_, ServerReadiness{true, "XID79", "x", "REBOOT_NODE", 42}));
  EXPECT_EQ(s_.fault->reason, "XID48");
}

// ---- the desired condition ----

// Healthy NVMLReady names the product and its memory in GB.
TEST_F(FaultTrackerTest, HealthyMessageNamesInventory) {
  const Readiness r = FaultTracker::Desired(s_, inventory_);
  EXPECT_TRUE(r.ready);
  EXPECT_EQ(r.reason, "Healthy");
  EXPECT_EQ(r.message, "GPU enumerated via NVML: NVIDIA H100 80GB HBM3 (80.0 GB)");
}

// Our fault reasons: XID<n>, GPULost, ResetRequired, RowRemapFailure; nothing else.
TEST(IsFaultReasonTest, OnlyOurFaultReasons) {
  EXPECT_TRUE(IsFaultReason("XID79"));
  EXPECT_TRUE(IsFaultReason("GPULost"));
  EXPECT_TRUE(IsFaultReason("ResetRequired"));
  EXPECT_TRUE(IsFaultReason("RowRemapFailure"));
  EXPECT_FALSE(IsFaultReason("XID"));
  EXPECT_FALSE(IsFaultReason("Healthy"));
  EXPECT_FALSE(IsFaultReason("Recovered"));
  EXPECT_FALSE(IsFaultReason("NVMLUnavailable"));
  EXPECT_FALSE(IsFaultReason("OperatorCleared"));
}

}  // namespace
}  // namespace deviceapi::nvml
