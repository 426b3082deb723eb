#include "storage/store.h"

#include <algorithm>

#include <google/protobuf/arena.h>

#include "absl/synchronization/mutex.h"

namespace deviceapi::storage {

namespace {

std::shared_ptr<v1::Gpu> NewObjectOfSize(size_t hint) {
  google::protobuf::ArenaOptions o;
  // A multiple of 8: protobuf puts its cleanup records (8-byte aligned structs) at the end of each
  // block, so a block of another size holds them misaligned (UBSan's "member access within
  // misaligned address ... CleanupNode", found by the sqlite_row fuzz target on unknown fields).
  o.start_block_size = (std::clamp<size_t>(hint + 512, 1024, 256 * 1024) + 7) & ~size_t{7};
  o.max_block_size = std::max<size_t>(o.start_block_size, 64 * 1024);
  auto arena = std::make_shared<google::protobuf::Arena>(o);
  v1::Gpu* gpu = google::protobuf::Arena::CreateMessage<v1::Gpu>(arena.get());
  // Shares ownership of the arena: the message goes with its last reference.
  return std::shared_ptr<v1::Gpu>(std::move(arena), gpu);
}

// On an arena a decoded object takes about twice its encoded size: message
// headers, string objects and their cleanup records (the characters of long
// strings are allocated apart). Measured on a GPU with 32 conditions: 5,194
// bytes encoded need an 11,264-byte block (8,584 bytes reported used).
size_t ArenaBytesFor(size_t encoded) { return encoded * 22 / 10; }

}  // namespace

std::shared_ptr<v1::Gpu> NewObject(const v1::Gpu* like) {
  // Room for what the previous version used plus a little growth, so one
  // block is the usual case.
  size_t hint = 1024;
  if (like != nullptr) {
    hint = like->GetArena() != nullptr ? like->GetArena()->SpaceUsed() * 4 / 3
                                       : ArenaBytesFor(like->ByteSizeLong());
  }
  return NewObjectOfSize(hint);
}

std::shared_ptr<v1::Gpu> NewObjectForParse(size_t serialized_bytes) {
  return NewObjectOfSize(ArenaBytesFor(serialized_bytes));
}

std::shared_ptr<v1::Gpu> CopyObject(const v1::Gpu& src) {
  auto out = NewObject(&src);
  *out = src;
  return out;
}

WriteResult AwaitWrite(const std::function<void(WriteDone)>& start) {
  // Shared with the callback: it may still be unlocking when the waiter
  // returns.
  struct State {
    absl::Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    std::optional<WriteResult> result ABSL_GUARDED_BY(mu);
  };
  auto state = std::make_shared<State>();
  start([state](WriteResult r) {
    absl::MutexLock l(&state->mu);
    state->result = std::move(r);
    state->done = true;
  });
  absl::MutexLock l(&state->mu);
  state->mu.Await(absl::Condition(&state->done));
  return std::move(*state->result);
}

}  // namespace deviceapi::storage
