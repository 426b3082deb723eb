// What the fuzz targets share: FUZZ_CHECK aborts (a libFuzzer crash; a failed replay test) with a
// message when a property does not hold, and FuzzInput hands out the input's bytes.
#ifndef DEVICEAPI_TESTS_FUZZ_FUZZ_CHECK_H_
#define DEVICEAPI_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#define FUZZ_CHECK(cond, ...)                                                            \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                                 \
      std::fprintf(stderr, "\n");                                                        \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace deviceapi::fuzz {

// Reads an input front to back; past its end every read gives zeros / empty strings.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  // A string of at most `max` bytes, its length given by the next byte.
  std::string String(size_t max) {
    size_t n = Byte() % (max + 1);
    if (n > size_ - pos_) n = size_ - pos_;
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  // Everything not read yet.
  std::string_view Rest() {
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), size_ - pos_);
    pos_ = size_;
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace deviceapi::fuzz

#endif  // DEVICEAPI_TESTS_FUZZ_FUZZ_CHECK_H_
