#include "apiserver/wire_responses.h"

#include <algorithm>
#include <cstring>
#include <string>

#include <grpcpp/support/proto_buffer_reader.h>

#include "apiserver/wire.h"

namespace deviceapi::apiserver {

bool ParseMessage(const grpc::ByteBuffer& buf, google::protobuf::MessageLite* msg) {
  grpc::ByteBuffer copy(buf);  // the reader takes a mutable buffer; this only adds references
  grpc::ProtoBufferReader reader(&copy);
  if (!reader.status().ok()) return false;
  return msg->ParseFromZeroCopyStream(&reader);
}

grpc::ByteBuffer MessageBytes(const google::protobuf::MessageLite& msg) {
  grpc::Slice slice(msg.ByteSizeLong());
  msg.SerializeWithCachedSizesToArray(const_cast<uint8_t*>(slice.begin()));
  return grpc::ByteBuffer(&slice, 1);
}

grpc::ByteBuffer ObjectBytes(const storage::StoredObject& obj) {
  grpc::Slice body = obj.bytes();
  return grpc::ByteBuffer(&body, 1);
}

grpc::ByteBuffer GetResponseBytes(const storage::StoredObject& obj) {
  uint8_t header[16];
  const uint8_t* end = wire::PutLenHeader(header, 1, obj.bytes().size());
  grpc::Slice slices[2] = {grpc::Slice(header, static_cast<size_t>(end - header)), obj.bytes()};
  return grpc::ByteBuffer(slices, 2);
}

namespace {

// ListMeta{resource_version=1, continue=2, remaining_item_count=3}, proto3:
// empty strings and a zero count are left out, as a message would do.
struct ListMetaWire {
  std::string rv, cont;
  int64_t remaining;
  size_t Size() const {
    size_t n = 0;
    if (!rv.empty()) n += wire::LenHeaderSize(1, rv.size()) + rv.size();
    if (!cont.empty()) n += wire::LenHeaderSize(2, cont.size()) + cont.size();
    if (remaining != 0) n += 1 + wire::VarintSize(static_cast<uint64_t>(remaining));
    return n;
  }
  uint8_t* Put(uint8_t* p) const {
    auto put_string = [&p](uint32_t field, const std::string& s) {
      if (s.empty()) return;
      p = wire::PutLenHeader(p, field, s.size());
      p = std::copy(s.begin(), s.end(), p);  // wire bytes, not a C string
    };
    put_string(1, rv);
    put_string(2, cont);
    if (remaining != 0) {
      *p++ = (3 << 3) | 0;
      p = wire::PutVarint(p, static_cast<uint64_t>(remaining));
    }
    return p;
  }
};

}  // namespace

grpc::ByteBuffer ListResponseBytes(const storage::ListResult& list) {
  const ListMetaWire meta{std::to_string(list.rv), list.continue_token,
                          list.remaining >= 0 ? list.remaining : 0};
  const size_t meta_size = meta.Size();
  // GpuList{metadata=1, items=2...}; the metadata message is always present.
  size_t list_size = wire::LenHeaderSize(1, meta_size) + meta_size;
  for (const auto& obj : list.items)
    list_size += wire::LenHeaderSize(2, obj->bytes().size()) + obj->bytes().size();
  // Every header goes into one slice and the items' stored bytes are
  // referenced between pieces of it:
  // [list + metadata + item 1 header][item 1][item 2 header][item 2]...
  grpc::Slice headers(wire::LenHeaderSize(1, list_size) + wire::LenHeaderSize(1, meta_size) + meta_size +
                      list.items.size() * wire::LenHeaderSize(2, UINT32_MAX));
  uint8_t* const base = const_cast<uint8_t*>(headers.begin());
  uint8_t* p = wire::PutLenHeader(base, 1, list_size);
  p = wire::PutLenHeader(p, 1, meta_size);
  p = meta.Put(p);
  std::vector<grpc::Slice> slices;
  slices.reserve(2 * list.items.size() + 1);
  size_t run = 0;  // where the header bytes not yet handed out start
  for (const auto& obj : list.items) {
    p = wire::PutLenHeader(p, 2, obj->bytes().size());
    slices.push_back(headers.sub(run, static_cast<size_t>(p - base)));
    slices.push_back(obj->bytes());
    run = static_cast<size_t>(p - base);
  }
  if (list.items.empty()) slices.push_back(headers.sub(0, static_cast<size_t>(p - base)));
  return grpc::ByteBuffer(slices.data(), slices.size());
}

grpc::ByteBuffer WatchEventBytes(const storage::Event& ev, storage::EventType as) {
  // A WatchGpusResponse is exactly {type=1, object=2}, both length-delimited:
  // the header goes in a small slice of its own and the object's stored
  // bytes follow as they are (no copy, no response message).
  const std::string_view name = storage::EventTypeName(as);
  const grpc::Slice& body = ev.object->bytes();
  uint8_t header[32];
  uint8_t* p = wire::PutLenHeader(header, 1, name.size());
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  p = wire::PutLenHeader(p, 2, body.size());
  grpc::Slice slices[2] = {grpc::Slice(header, static_cast<size_t>(p - header)), body};
  return grpc::ByteBuffer(slices, 2);
}

}  // namespace deviceapi::apiserver
