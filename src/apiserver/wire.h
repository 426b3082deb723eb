// Hand-written protobuf wire framing for the few responses the server builds
// from shared, already-stored objects (a watch event, a Get, a List) instead
// of copying those objects into a response message first.
#ifndef DEVICEAPI_APISERVER_WIRE_H_
#define DEVICEAPI_APISERVER_WIRE_H_

#include <cstddef>
#include <cstdint>

namespace deviceapi::apiserver::wire {

constexpr size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline uint8_t* PutVarint(uint8_t* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  return p;
}

// The key and length of a length-delimited field (wire type 2).
constexpr size_t LenHeaderSize(uint32_t field, size_t len) {
  return VarintSize((uint64_t{field} << 3) | 2) + VarintSize(len);
}

inline uint8_t* PutLenHeader(uint8_t* p, uint32_t field, size_t len) {
  p = PutVarint(p, (uint64_t{field} << 3) | 2);
  return PutVarint(p, len);
}

}  // namespace deviceapi::apiserver::wire

#endif  // DEVICEAPI_APISERVER_WIRE_H_
