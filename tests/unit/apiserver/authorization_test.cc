// Writer authorization and per-provider condition ownership, as pure functions.
#include "apiserver/authorization.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace deviceapi::apiserver {
namespace {

using ::testing::HasSubstr;

PeerCredentials Peer(uint32_t uid, uint32_t gid, std::vector<uint32_t> groups = {}) {
  return PeerCredentials{.uid = uid, .gid = gid, .pid = 4242, .groups = std::move(groups), .known = true};
}

ServerOptions OwnershipOptions() {
  ServerOptions o;
  o.writer_uids = std::vector<uint32_t>{0, 1000, 2000};
  o.provider_uids = {{"nvml-provider", {1000}}, {"dcgm", {2000, 2001}}};
  o.provider_conditions = {{"nvml-provider", {"NVMLReady", "XidFree"}}, {"dcgm", {"DCGMHealthy"}}};
  o.operator_uids = {0};
  return o;
}

v1::Condition Cond(const std::string& type, const std::string& status, int64_t heartbeat = 100) {
  v1::Condition c;
  c.set_type(type);
  c.set_status(status);
  c.set_reason("R");
  c.mutable_last_transition_time()->set_seconds(50);
  c.mutable_last_heartbeat_time()->set_seconds(heartbeat);
  return c;
}

v1::GpuStatus Status(std::vector<v1::Condition> conditions) {
  v1::GpuStatus s;
  for (auto& c : conditions) *s.add_conditions() = std::move(c);
  return s;
}

// A status made for one call: converts to the pointer CheckConditionOwnership takes.
struct Owned {
  v1::GpuStatus status;
  operator const v1::GpuStatus*() const { return &status; }  // NOLINT(google-explicit-constructor)
};
Owned After(std::vector<v1::Condition> conditions) { return Owned{Status(std::move(conditions))}; }

// Unset --writer-uids means root and the server's own uid.
TEST(PolicyFromOptionsTest, DefaultWritersAreRootAndSelf) {
  ServerOptions o;
  AuthorizationPolicy p = PolicyFromOptions(o, 65534);
  EXPECT_EQ(p.writers.uids, (std::vector<uint32_t>{0, 65534}));
  EXPECT_TRUE(p.writers.gids.empty());
  EXPECT_EQ(PolicyFromOptions(o, 0).writers.uids, std::vector<uint32_t>{0});
  o.writer_uids = std::vector<uint32_t>{};
  EXPECT_TRUE(PolicyFromOptions(o, 0).writers.uids.empty()) << "an explicit empty list means no uid";
  EXPECT_TRUE(PolicyFromOptions(o, 0).ownership.empty());
}

// A writer by uid, by gid or by a supplementary gid; anyone else is refused by name.
TEST(AuthorizeWriterTest, UidGidAndGroups) {
  WriterPolicy w{.uids = {0, 65534}, .gids = {44}};
  EXPECT_TRUE(AuthorizeWriter(w, Peer(0, 0)).ok());
  EXPECT_TRUE(AuthorizeWriter(w, Peer(65534, 65534)).ok());
  EXPECT_TRUE(AuthorizeWriter(w, Peer(1000, 44)).ok());
  EXPECT_TRUE(AuthorizeWriter(w, Peer(1000, 1000, {10, 44})).ok());
  const absl::Status s = AuthorizeWriter(w, Peer(1000, 1000, {10}));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "writes are not allowed for uid 1000 (gid 1000, pid 4242): not in --writer-uids [0 65534] or "
            "--writer-gids [44]");
}

// No credentials, no writes, whatever the lists say.
TEST(AuthorizeWriterTest, UnknownPeerIsRefused) {
  WriterPolicy w{.uids = {0}, .gids = {0}};
  const absl::Status s = AuthorizeWriter(w, PeerCredentials{});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("no credentials"));
}

// A provider writes its own conditions; another provider may not add, change or remove them.
TEST(CheckConditionOwnershipTest, ForeignProviderIsRefused) {
  const OwnershipPolicy p = PolicyFromOptions(OwnershipOptions(), 0).ownership;
  const v1::GpuStatus before = Status({Cond("NVMLReady", "True"), Cond("DCGMHealthy", "True")});

  // nvml-provider (1000) flips its own condition: fine.
  EXPECT_TRUE(CheckConditionOwnership(p, 1000, &before,
                                      After({Cond("NVMLReady", "False"), Cond("DCGMHealthy", "True")}))
                  .ok());
  // dcgm (2000) changes nvml-provider's condition.
  absl::Status s = CheckConditionOwnership(p, 2000, &before,
                                           After({Cond("NVMLReady", "False"), Cond("DCGMHealthy", "True")}));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(),
              HasSubstr("condition NVMLReady is owned by provider nvml-provider (uids [1000]); uid 2000 may "
                        "not change it"));
  // ... removes it.
  s = CheckConditionOwnership(p, 2000, &before, After({Cond("DCGMHealthy", "False")}));
  EXPECT_THAT(s.message(), HasSubstr("uid 2000 may not remove it"));
  // ... adds one.
  s = CheckConditionOwnership(
      p, 2001, &before,
      After({Cond("NVMLReady", "True"), Cond("DCGMHealthy", "True"), Cond("XidFree", "True")}));
  EXPECT_THAT(s.message(), HasSubstr("condition XidFree is owned by provider nvml-provider"));
  EXPECT_THAT(s.message(), HasSubstr("may not add it"));
}

// A heartbeat refresh is a write of the condition.
TEST(CheckConditionOwnershipTest, HeartbeatRefreshCounts) {
  const OwnershipPolicy p = PolicyFromOptions(OwnershipOptions(), 0).ownership;
  const v1::GpuStatus before = Status({Cond("NVMLReady", "True", 100)});
  EXPECT_FALSE(CheckConditionOwnership(p, 2000, &before, After({Cond("NVMLReady", "True", 101)})).ok());
  EXPECT_TRUE(CheckConditionOwnership(p, 1000, &before, After({Cond("NVMLReady", "True", 101)})).ok());
}

// Foreign conditions passed through unchanged (a read-modify-write of the whole status), in any order, are
// fine.
TEST(CheckConditionOwnershipTest, UnchangedForeignConditionsPass) {
  const OwnershipPolicy p = PolicyFromOptions(OwnershipOptions(), 0).ownership;
  const v1::GpuStatus before = Status({Cond("NVMLReady", "True"), Cond("DCGMHealthy", "True")});
  EXPECT_TRUE(CheckConditionOwnership(p, 2000, &before,
                                      After({Cond("DCGMHealthy", "False"), Cond("NVMLReady", "True")}))
                  .ok());
}

// Unclaimed types are any writer's; an operator may touch everything.
TEST(CheckConditionOwnershipTest, UnclaimedAndOperator) {
  const OwnershipPolicy p = PolicyFromOptions(OwnershipOptions(), 0).ownership;
  const v1::GpuStatus before = Status({Cond("NVMLReady", "True")});
  EXPECT_TRUE(
      CheckConditionOwnership(p, 2000, &before, After({Cond("NVMLReady", "True"), Cond("Custom", "True")}))
          .ok());
  EXPECT_TRUE(CheckConditionOwnership(p, 0, &before, After({})).ok()) << "operator clears";
  EXPECT_TRUE(CheckConditionOwnership(p, 0, &before, nullptr).ok()) << "operator deletes";
  EXPECT_TRUE(CheckConditionOwnership(OwnershipPolicy{}, 7, &before, nullptr).ok()) << "nothing claimed";
}

// Creating with a claimed condition, or deleting an object that carries one.
TEST(CheckConditionOwnershipTest, CreateAndDelete) {
  const OwnershipPolicy p = PolicyFromOptions(OwnershipOptions(), 0).ownership;
  const v1::GpuStatus with = Status({Cond("NVMLReady", "True")});
  EXPECT_TRUE(CheckConditionOwnership(p, 1000, nullptr, &with).ok());
  EXPECT_THAT(CheckConditionOwnership(p, 2000, nullptr, &with).message(), HasSubstr("may not add it"));
  EXPECT_TRUE(CheckConditionOwnership(p, 1000, &with, nullptr).ok());
  const absl::Status s = CheckConditionOwnership(p, 2000, &with, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("may not delete a GPU that carries it"));
  EXPECT_TRUE(CheckConditionOwnership(p, 2000, After({Cond("Custom", "True")}), nullptr).ok());
}

TEST(FormatIdsTest, Brackets) {
  EXPECT_EQ(FormatIds({}), "[]");
  EXPECT_EQ(FormatIds({0, 65534}), "[0 65534]");
}

}  // namespace
}  // namespace deviceapi::apiserver
