#include "apiserver/wire_responses.h"

#include <cstring>
#include <string>

#include <grpcpp/support/proto_buffer_reader.h>

#include "storage/wire.h"

namespace deviceapi::apiserver {

namespace wire = storage::wire;

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

grpc::ByteBuffer GetResponseBytes(const v1::Gpu& gpu) {
  const size_t size = gpu.ByteSizeLong();
  grpc::Slice slice(wire::LenHeaderSize(1, size) + size);
  uint8_t* p = wire::PutLenHeader(const_cast<uint8_t*>(slice.begin()), 1, size);
  gpu.SerializeWithCachedSizesToArray(p);
  return grpc::ByteBuffer(&slice, 1);
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
      std::memcpy(p, s.data(), s.size());
      p += s.size();
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
  const ListMetaWire meta{std::to_string(list.rv), list.continue_token, list.remaining >= 0 ? list.remaining : 0};
  const size_t meta_size = meta.Size();
  // GpuList{metadata=1, items=2...}; the metadata message is always present.
  size_t list_size = wire::LenHeaderSize(1, meta_size) + meta_size;
  std::vector<size_t> sizes;
  sizes.reserve(list.items.size());
  for (const auto& obj : list.items) {
    sizes.push_back(obj->ByteSizeLong());
    list_size += wire::LenHeaderSize(2, sizes.back()) + sizes.back();
  }
  grpc::Slice slice(wire::LenHeaderSize(1, list_size) + list_size);
  uint8_t* p = const_cast<uint8_t*>(slice.begin());
  p = wire::PutLenHeader(p, 1, list_size);
  p = wire::PutLenHeader(p, 1, meta_size);
  p = meta.Put(p);
  for (size_t i = 0; i < list.items.size(); ++i) {
    p = wire::PutLenHeader(p, 2, sizes[i]);
    p = list.items[i]->SerializeWithCachedSizesToArray(p);
  }
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace deviceapi::apiserver
