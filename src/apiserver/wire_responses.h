// Request parsing and response building for GpuService's raw (ByteBuffer)
// methods and the watch stream: the one place that frames the wire. Responses are framed around the stored
// objects' serialized bytes, which they reference instead of copying: no response message is built and no
// object is serialized on a read or on a write's acknowledgment. Requests are parsed onto an arena.
#ifndef DEVICEAPI_APISERVER_WIRE_RESPONSES_H_
#define DEVICEAPI_APISERVER_WIRE_RESPONSES_H_

#include <grpcpp/support/byte_buffer.h>

#include "device/v1alpha1/gpu.pb.h"
#include "google/protobuf/arena.h"
#include "storage/event.h"
#include "storage/store.h"

namespace deviceapi::apiserver {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

// Parses `buf` into `msg` (which may live on an arena). False on malformed input.
bool ParseMessage(const grpc::ByteBuffer& buf, google::protobuf::MessageLite* msg);

// A message serialized into one slice.
grpc::ByteBuffer MessageBytes(const google::protobuf::MessageLite& msg);
// A stored object as a Gpu message: its shared bytes, not copied.
grpc::ByteBuffer ObjectBytes(const storage::StoredObject& obj);
// GetGpuResponse{gpu}: a small header and the object's shared bytes.
grpc::ByteBuffer GetResponseBytes(const storage::StoredObject& obj);
// ListGpusResponse{gpu_list{metadata{rv, continue, remaining}, items}}.
grpc::ByteBuffer ListResponseBytes(const storage::ListResult& list);
// WatchGpusResponse{type, object} of `ev` as one watcher sees it (`as` differs from ev.type when
// a selector turns a modification into an enter (ADDED) or a leave (DELETED)): a header of a few
// bytes and a reference to the object's stored bytes, shared by every watcher.
grpc::ByteBuffer WatchEventBytes(const storage::Event& ev, storage::EventType as);

// An arena whose first block is on the caller's stack: parsing a request
// of a few KiB does not touch the heap at all.
class RequestArena {
 public:
  RequestArena() : arena_(Options(block_)) {}
  google::protobuf::Arena* get() { return &arena_; }

 private:
  static google::protobuf::ArenaOptions Options(char* block) {
    google::protobuf::ArenaOptions o;
    o.initial_block = block;
    o.initial_block_size = kBlock;
    o.start_block_size = kBlock;
    return o;
  }
  static constexpr size_t kBlock = 32 * 1024;
  alignas(16) char block_[kBlock];
  google::protobuf::Arena arena_;
};

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_WIRE_RESPONSES_H_
