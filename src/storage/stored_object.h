// One committed version of an object as the store keeps it: its serialized
// bytes, a parsed copy of its metadata (what selectors, keys and
// preconditions read) and a few facts derived once. The whole parsed object
// is rebuilt from the bytes on demand and kept only while recently used, so
// an object at rest costs about its wire size instead of the three to four
// times that a parsed protobuf message with dozens of conditions takes.
#ifndef DEVICEAPI_STORAGE_STORED_OBJECT_H_
#define DEVICEAPI_STORAGE_STORED_OBJECT_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include <grpcpp/support/slice.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "apimachinery/conditions.h"
#include "device/v1alpha1/gpu.pb.h"
#include "storage/next_version.h"

namespace deviceapi::storage {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

// A parsed object: immutable once shared.
using ObjectPtr = std::shared_ptr<const v1::Gpu>;

class StoredObject {
 public:
  // A committed version (its resource version stamped), serialized once
  // here; `obj` is kept as the parsed form while it is recently used.
  static std::shared_ptr<const StoredObject> Make(ObjectPtr obj);
  // The same for an update's next version: an owned one is kept as with
  // Make(); a borrowed one is only read here (the parsed form comes back from
  // the bytes when asked for), so it need only live until this returns.
  static std::shared_ptr<const StoredObject> Commit(NextVersion next);
  // A version read back as bytes (a durable backend's row), with `parsed`
  // decoded from exactly these bytes.
  static std::shared_ptr<const StoredObject> Make(grpc::Slice bytes, ObjectPtr parsed);
  // A version read back as `n` serialized bytes; null when they do not decode.
  static std::shared_ptr<const StoredObject> FromBytes(const void* data, size_t n);

  // The serialized v1::Gpu, shared (a Get, a List, a watch event and a
  // write's answer all send these bytes without copying them).
  const grpc::Slice& bytes() const { return bytes_; }
  const v1::ObjectMeta& metadata() const { return meta_; }
  apimachinery::Health health() const { return health_; }
  // apimachinery::OldestLiveHeartbeat() of this version's status: when it is
  // not older than a timeout, no condition of this version can have missed
  // its heartbeat.
  absl::Time oldest_heartbeat() const { return oldest_heartbeat_; }

  // The encoded spec and status messages within bytes() (empty when the
  // field is absent). False when the bytes are not exactly the three fields
  // of a Gpu, each at most once (then parse the whole object instead).
  bool SpecAndStatusBytes(std::string_view* spec, std::string_view* status) const;

  // The whole object, parsed. Cheap while this version is among the
  // recently used ones; otherwise parsed from bytes() (on an arena).
  ObjectPtr Object() const;

  StoredObject(grpc::Slice bytes, const v1::Gpu& parsed);

 private:
  const grpc::Slice bytes_;
  v1::ObjectMeta meta_;
  apimachinery::Health health_;
  absl::Time oldest_heartbeat_;
  mutable absl::Mutex mu_;
  mutable std::weak_ptr<const v1::Gpu> parsed_ ABSL_GUARDED_BY(mu_);
};

using StoredPtr = std::shared_ptr<const StoredObject>;

// How many parsed versions the process keeps alive for reuse (most recently
// committed or parsed first). Returns the previous value; for tests.
size_t SetParsedCacheCapacity(size_t n);

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_STORED_OBJECT_H_
