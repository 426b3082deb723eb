#include "apiserver/authorization.h"

#include <algorithm>

#include <google/protobuf/util/message_differencer.h>

#include "common/strings.h"

namespace deviceapi::apiserver {

using common::Cat;

namespace {

std::vector<uint32_t> SortedUnique(std::vector<uint32_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

bool Contains(const std::vector<uint32_t>& sorted, uint32_t id) {
  return std::binary_search(sorted.begin(), sorted.end(), id);
}

const v1::Condition* FindCondition(const v1::GpuStatus* status, const std::string& type) {
  if (status == nullptr) return nullptr;
  for (const v1::Condition& c : status->conditions()) {
    if (c.type() == type) return &c;
  }
  return nullptr;
}

}  // namespace

std::string FormatIds(const std::vector<uint32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) out += Cat(i == 0 ? "" : " ", ids[i]);
  return out + "]";
}

bool OwnershipPolicy::IsOperator(uint32_t uid) const { return Contains(operator_uids, uid); }

AuthorizationPolicy PolicyFromOptions(const ServerOptions& o, uint32_t server_euid) {
  AuthorizationPolicy p;
  p.writers.uids = SortedUnique(o.writer_uids.value_or(std::vector<uint32_t>{0, server_euid}));
  p.writers.gids = SortedUnique(o.writer_gids);
  for (const auto& [provider, uids] : o.provider_uids)
    p.ownership.provider_uids[provider] = SortedUnique(uids);
  for (const auto& [provider, types] : o.provider_conditions) {
    for (const std::string& type : types) p.ownership.owner_of_type[type] = provider;
  }
  p.ownership.operator_uids = SortedUnique(o.operator_uids);
  return p;
}

absl::Status AuthorizeWriter(const WriterPolicy& policy, const PeerCredentials& peer) {
  if (!peer.known) {
    return absl::PermissionDeniedError(
        "writes are not allowed: the server has no credentials for this connection (it ended, or was "
        "not accepted on the API socket)");
  }
  if (Contains(policy.uids, peer.uid) || Contains(policy.gids, peer.gid)) return absl::OkStatus();
  for (uint32_t g : peer.groups) {
    if (Contains(policy.gids, g)) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(Cat("writes are not allowed for ", peer.ToString(),
                                         ": not in --writer-uids ", FormatIds(policy.uids),
                                         " or --writer-gids ", FormatIds(policy.gids)));
}

absl::Status CheckConditionOwnership(const OwnershipPolicy& policy, uint32_t uid,
                                     const v1::GpuStatus* old_status, const v1::GpuStatus* new_status) {
  if (policy.empty() || policy.IsOperator(uid)) return absl::OkStatus();
  // A claimed type the writer does not own, in the old or the new status.
  auto foreign = [&](const std::string& type) -> const std::string* {
    auto it = policy.owner_of_type.find(type);
    if (it == policy.owner_of_type.end()) return nullptr;
    auto uids = policy.provider_uids.find(it->second);
    if (uids != policy.provider_uids.end() && Contains(uids->second, uid)) return nullptr;
    return &it->second;
  };
  auto denied = [&](const std::string& type, const std::string& provider, std::string_view what) {
    auto uids = policy.provider_uids.find(provider);
    return absl::PermissionDeniedError(Cat(
        "condition ", type, " is owned by provider ", provider, " (uids ",
        FormatIds(uids == policy.provider_uids.end() ? std::vector<uint32_t>{} : uids->second), "); uid ",
        uid, " may not ", what, " (--provider-uids, --operator-uids ", FormatIds(policy.operator_uids), ")"));
  };
  if (new_status != nullptr) {
    for (const v1::Condition& c : new_status->conditions()) {
      const std::string* provider = foreign(c.type());
      if (provider == nullptr) continue;
      const v1::Condition* before = FindCondition(old_status, c.type());
      if (before == nullptr) return denied(c.type(), *provider, "add it");
      if (!google::protobuf::util::MessageDifferencer::Equals(*before, c)) {
        return denied(c.type(), *provider, "change it");
      }
    }
  }
  if (old_status != nullptr) {
    for (const v1::Condition& c : old_status->conditions()) {
      const std::string* provider = foreign(c.type());
      if (provider == nullptr || FindCondition(new_status, c.type()) != nullptr) continue;
      return denied(c.type(), *provider,
                    new_status == nullptr ? "delete a GPU that carries it" : "remove it");
    }
  }
  return absl::OkStatus();
}

}  // namespace deviceapi::apiserver
