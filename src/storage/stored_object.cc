#include "storage/stored_object.h"

#include <utility>
#include <vector>

#include "storage/store.h"

namespace deviceapi::storage {

namespace {

// The parsed versions kept alive for reuse: a ring of strong references,
// newest replacing oldest. A write reads the version it replaces, usually one
// committed or read moments before; a bounded ring keeps those parsed
// without keeping every object parsed.
class ParsedCache {
 public:
  void Keep(ObjectPtr p) {
    ObjectPtr evicted;  // released outside the lock (it may free an arena)
    {
      absl::MutexLock l(&mu_);
      if (ring_.empty()) return;
      evicted = std::exchange(ring_[next_], std::move(p));
      next_ = (next_ + 1) % ring_.size();
    }
  }
  size_t SetCapacity(size_t n) {
    std::vector<ObjectPtr> old;
    absl::MutexLock l(&mu_);
    const size_t prev = ring_.size();
    old.swap(ring_);
    ring_.resize(n);
    next_ = 0;
    return prev;
  }

 private:
  absl::Mutex mu_;
  // 64 versions of a 32-condition GPU hold about 1.1 MiB.
  std::vector<ObjectPtr> ring_ ABSL_GUARDED_BY(mu_) = std::vector<ObjectPtr>(64);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

ParsedCache& Cache() {
  static auto* cache = new ParsedCache();  // never destroyed: used until exit
  return *cache;
}

}  // namespace

size_t SetParsedCacheCapacity(size_t n) { return Cache().SetCapacity(n); }

StoredObject::StoredObject(grpc::Slice bytes, const v1::Gpu& parsed)
    : bytes_(std::move(bytes)),
      meta_(parsed.metadata()),
      health_(apimachinery::GpuHealth(parsed)),
      oldest_heartbeat_(apimachinery::OldestLiveHeartbeat(parsed.status())) {}

namespace {

grpc::Slice Serialize(const v1::Gpu& obj) {
  grpc::Slice bytes(obj.ByteSizeLong());
  obj.SerializeWithCachedSizesToArray(const_cast<uint8_t*>(bytes.begin()));
  return bytes;
}

}  // namespace

StoredPtr StoredObject::Make(ObjectPtr obj) {
  grpc::Slice bytes = Serialize(*obj);
  return Make(std::move(bytes), std::move(obj));
}

StoredPtr StoredObject::Commit(NextVersion next) {
  if (next.borrowed()) return std::make_shared<StoredObject>(Serialize(*next), *next);
  return Make(std::move(next).ReleaseOwned());
}

StoredPtr StoredObject::Make(grpc::Slice bytes, ObjectPtr parsed) {
  auto s = std::make_shared<StoredObject>(std::move(bytes), *parsed);
  {
    absl::MutexLock l(&s->mu_);
    s->parsed_ = parsed;
  }
  Cache().Keep(std::move(parsed));
  return s;
}

StoredPtr StoredObject::FromBytes(const void* data, size_t n) {
  std::shared_ptr<v1::Gpu> gpu = NewObjectForParse(n);
  if (!gpu->ParseFromArray(data, static_cast<int>(n))) return nullptr;
  return Make(grpc::Slice(data, n), std::move(gpu));
}

namespace {

bool ReadVarint(const uint8_t*& p, const uint8_t* end, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const uint8_t b = *p++;
    *v |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

bool StoredObject::SpecAndStatusBytes(std::string_view* spec, std::string_view* status) const {
  const uint8_t* p = bytes_.begin();
  const uint8_t* const end = bytes_.end();
  std::string_view fields[4];
  bool seen[4] = {false, false, false, false};
  while (p < end) {
    uint64_t tag = 0, len = 0;
    if (!ReadVarint(p, end, &tag) || (tag & 7) != 2) return false;
    const uint64_t field = tag >> 3;
    if (field < 1 || field > 3 || seen[field]) return false;
    if (!ReadVarint(p, end, &len) || len > static_cast<uint64_t>(end - p)) return false;
    seen[field] = true;
    fields[field] = std::string_view(reinterpret_cast<const char*>(p), len);
    p += len;
  }
  *spec = fields[2];
  *status = fields[3];
  return true;
}

ObjectPtr StoredObject::Object() const {
  {
    absl::MutexLock l(&mu_);
    if (ObjectPtr p = parsed_.lock()) return p;
  }
  std::shared_ptr<v1::Gpu> gpu = NewObjectForParse(bytes_.size());
  // These bytes were serialized from (or parsed into) a valid object.
  if (!gpu->ParseFromArray(bytes_.begin(), static_cast<int>(bytes_.size()))) std::abort();
  ObjectPtr p = std::move(gpu);
  {
    absl::MutexLock l(&mu_);
    if (ObjectPtr q = parsed_.lock()) return q;
    parsed_ = p;
  }
  Cache().Keep(p);
  return p;
}

}  // namespace deviceapi::storage
