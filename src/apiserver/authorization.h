// Who may write through the API socket, and which conditions each writer may
// touch. Reads are open to anyone who can open the socket; a write is a
// privilege:
//   1. the writer: the peer's uid is in --writer-uids, or its gid or one of
//      its supplementary gids is in --writer-gids (AuthorizeWriter);
//   2. ownership: a condition type claimed by a provider (--provider-uids,
//      --provider-conditions) may be added, changed (any field, a pure
//      lastHeartbeatTime refresh included) or removed only by that
//      provider's uids or by an --operator-uids uid; deleting a GPU that
//      carries a claimed condition counts as removing it. Unclaimed types
//      are any writer's (CheckConditionOwnership).
// Both answer PERMISSION_DENIED with a message that names the rule and the
// flags to change. Pure functions: no I/O, no locks.
#ifndef DEVICEAPI_APISERVER_AUTHORIZATION_H_
#define DEVICEAPI_APISERVER_AUTHORIZATION_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "apiserver/options.h"
#include "apiserver/peer_credentials.h"
#include "device/v1alpha1/gpu.pb.h"

namespace deviceapi::apiserver {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

struct WriterPolicy {
  std::vector<uint32_t> uids;  // sorted, unique
  std::vector<uint32_t> gids;  // sorted, unique
};

struct OwnershipPolicy {
  // Condition type -> the provider that claims it.
  absl::flat_hash_map<std::string, std::string> owner_of_type;
  // Provider id -> its uids (sorted, unique).
  std::map<std::string, std::vector<uint32_t>> provider_uids;
  std::vector<uint32_t> operator_uids;  // sorted, unique

  // No type is claimed: every writer may write every condition.
  bool empty() const { return owner_of_type.empty(); }
  bool IsOperator(uint32_t uid) const;
};

struct AuthorizationPolicy {
  WriterPolicy writers;
  OwnershipPolicy ownership;
};

// The policy the (validated) options describe; --writer-uids unset means
// root and `server_euid`.
AuthorizationPolicy PolicyFromOptions(const ServerOptions& options, uint32_t server_euid);

// OK if `peer` may write at all; PERMISSION_DENIED otherwise, e.g.
//   writes are not allowed for uid 1000 (gid 1000, pid 4242): not in --writer-uids [0 65534] or
//   --writer-gids []
// An unknown peer is always refused.
absl::Status AuthorizeWriter(const WriterPolicy& policy, const PeerCredentials& peer);

// OK if uid `uid` may turn status `old_status` into `new_status` (null:
// create, resp. delete) as far as claimed conditions go; PERMISSION_DENIED
// naming the first condition it may not touch, e.g.
//   condition NVMLReady is owned by provider nvml-provider (uids [0]); uid 1000 may not change it
absl::Status CheckConditionOwnership(const OwnershipPolicy& policy, uint32_t uid,
                                     const v1::GpuStatus* old_status, const v1::GpuStatus* new_status);

// "[0 65534]": how the messages list ids.
std::string FormatIds(const std::vector<uint32_t>& ids);

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_AUTHORIZATION_H_
