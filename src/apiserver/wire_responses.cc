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
  for (const auto& obj : list.items) list_size += wire::LenHeaderSize(2, obj->bytes().size()) + obj->bytes().size();
  // The headers go into one slice, each item's bytes are referenced between
  // them: [headers + metadata][item 1][header 2][item 2]...
  std::string headers;
  headers.resize(wire::LenHeaderSize(1, list_size) + wire::LenHeaderSize(1, meta_size) + meta_size +
                 list.items.size() * wire::LenHeaderSize(2, UINT32_MAX));
  auto* base = reinterpret_cast<uint8_t*>(headers.data());
  uint8_t* p = base;
  p = wire::PutLenHeader(p, 1, list_size);
  p = wire::PutLenHeader(p, 1, meta_size);
  p = meta.Put(p);
  std::vector<grpc::Slice> slices;
  slices.reserve(2 * list.items.size() + 1);
  // Slices cut from one shared buffer: one allocation for every header.
  uint8_t* start = base;
  std::vector<std::pair<size_t, size_t>> cuts;  // (offset, length) of each header run
  cuts.reserve(list.items.size() + 1);
  for (const auto& obj : list.items) {
    p = wire::PutLenHeader(p, 2, obj->bytes().size());
    cuts.emplace_back(start - base, p - start);
    start = p;
  }
  if (list.items.empty()) cuts.emplace_back(0, p - base);
  grpc::Slice all(base, static_cast<size_t>(p - base));
  for (size_t i = 0; i < cuts.size(); ++i) {
    slices.push_back(all.sub(cuts[i].first, cuts[i].first + cuts[i].second));
    if (i < list.items.size()) slices.push_back(list.items[i]->bytes());
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

}  // namespace deviceapi::apiserver
