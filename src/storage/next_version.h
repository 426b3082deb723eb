// The next version of an object that an update function computes, and who owns it.
//
// A store commits an update by serializing the next version (StoredObject::Commit). An owned next
// version (built with NewObject/CopyObject) is shared with the store, which keeps it as the committed
// version's parsed form. A borrowed one (NextVersion::Borrow) belongs to the caller, for instance a
// message on a gRPC request's arena: the store only reads it while it commits, and the caller keeps
// it alive until the write is answered. A borrowed version hands out no owning pointer, and
// NextVersion cannot be copied, so keeping one by accident does not compile.
#ifndef DEVICEAPI_STORAGE_NEXT_VERSION_H_
#define DEVICEAPI_STORAGE_NEXT_VERSION_H_

#include <cstddef>
#include <memory>
#include <utility>

#include "device/v1alpha1/gpu.pb.h"

namespace deviceapi::storage {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

class NextVersion {
 public:
  // No change: the update commits nothing.
  NextVersion() = default;
  NextVersion(std::nullptr_t) {}  // NOLINT(google-explicit-constructor): `return nullptr;`
  // An owned version (null: no change). Implicit, so an update function may return the
  // shared_ptr it built.
  NextVersion(std::shared_ptr<v1::Gpu> owned)  // NOLINT(google-explicit-constructor)
      : obj_(owned.get()), owner_(std::move(owned)) {}
  // A version the caller keeps alive until the write is answered.
  static NextVersion Borrow(v1::Gpu* obj) {
    NextVersion v;
    v.obj_ = obj;
    return v;
  }

  NextVersion(NextVersion&& o) noexcept : obj_(std::exchange(o.obj_, nullptr)), owner_(std::move(o.owner_)) {}
  NextVersion& operator=(NextVersion&& o) noexcept {
    obj_ = std::exchange(o.obj_, nullptr);
    owner_ = std::move(o.owner_);
    return *this;
  }
  NextVersion(const NextVersion&) = delete;
  NextVersion& operator=(const NextVersion&) = delete;

  // False for "no change".
  explicit operator bool() const { return obj_ != nullptr; }
  bool operator==(std::nullptr_t) const { return obj_ == nullptr; }
  bool borrowed() const { return obj_ != nullptr && owner_ == nullptr; }

  // The object (to read, or to stamp before it is committed).
  v1::Gpu* get() const { return obj_; }
  v1::Gpu& operator*() const { return *obj_; }
  v1::Gpu* operator->() const { return obj_; }

  // The owned object, given up; null when borrowed or empty.
  std::shared_ptr<v1::Gpu> ReleaseOwned() && {
    obj_ = nullptr;
    return std::move(owner_);
  }

 private:
  v1::Gpu* obj_ = nullptr;
  std::shared_ptr<v1::Gpu> owner_;
};

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_NEXT_VERSION_H_
