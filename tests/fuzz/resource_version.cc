// Fuzz target: resource versions (apimachinery/resource_version.h) and list continue tokens
// (storage/continue_token.h).
//
// Input: one selector byte, then:
//   0: a string for ParseResourceVersion, checked against a reference parser, and
//      Format(Parse(s)) == s without its leading zeros;
//   1: 8 bytes of a uint64: Parse(Format(x)) == x;
//   2: a string for ParseResourceVersionMatch (only "", "Exact", "NotOlderThan" are accepted);
//   3: a string for DecodeContinueToken: never crashes, and what decodes re-encodes to a token
//      that decodes to the same value;
//   4: an rv and a key (the characters of namespace/name): Decode(Encode(t)) == t.
#include <cstring>
#include <optional>
#include <string>

#include "apimachinery/resource_version.h"
#include "fuzz_check.h"
#include "storage/continue_token.h"

namespace am = ::deviceapi::apimachinery;
namespace st = ::deviceapi::storage;
using deviceapi::fuzz::FuzzInput;

namespace {

// The obviously correct reading of the contract: non-empty, digits only, at most UINT64_MAX.
std::optional<uint64_t> ReferenceParse(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

void CheckTokenRoundTrip(const st::ContinueToken& t) {
  const std::string enc = st::EncodeContinueToken(t);
  auto dec = st::DecodeContinueToken(enc);
  FUZZ_CHECK(dec.ok(), "token (%llu, \"%s\") encodes to \"%s\", which does not decode: %s",
             static_cast<unsigned long long>(t.rv), t.start_after.c_str(), enc.c_str(),
             dec.status().ToString().c_str());
  FUZZ_CHECK(dec->rv == t.rv && dec->start_after == t.start_after,
             "token (%llu, \"%s\") round-trips to (%llu, \"%s\")", static_cast<unsigned long long>(t.rv),
             t.start_after.c_str(), static_cast<unsigned long long>(dec->rv), dec->start_after.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  switch (in.Byte() % 5) {
    case 0: {
      const std::string s(in.Rest());
      auto got = am::ParseResourceVersion(s);
      auto want = ReferenceParse(s);
      FUZZ_CHECK(got.ok() == want.has_value(), "ParseResourceVersion(\"%s\"): %s", s.c_str(),
                 got.status().ToString().c_str());
      if (!got.ok()) {
        FUZZ_CHECK(got.status().code() == absl::StatusCode::kInvalidArgument, "%s",
                   got.status().ToString().c_str());
        return 0;
      }
      FUZZ_CHECK(*got == *want, "ParseResourceVersion(\"%s\") = %llu", s.c_str(),
                 static_cast<unsigned long long>(*got));
      const size_t nz = s.find_first_not_of('0');
      const std::string stripped = nz == std::string::npos ? "0" : s.substr(nz);
      FUZZ_CHECK(am::FormatResourceVersion(*got) == stripped, "Format(Parse(\"%s\"))", s.c_str());
      return 0;
    }
    case 1: {
      uint64_t v = 0;
      for (int i = 0; i < 8; ++i) v = v << 8 | in.Byte();
      auto back = am::ParseResourceVersion(am::FormatResourceVersion(v));
      FUZZ_CHECK(back.ok() && *back == v, "Parse(Format(%llu))", static_cast<unsigned long long>(v));
      return 0;
    }
    case 2: {
      const std::string s(in.Rest());
      auto m = am::ParseResourceVersionMatch(s);
      const bool known = s.empty() || s == "Exact" || s == "NotOlderThan";
      FUZZ_CHECK(m.ok() == known, "ParseResourceVersionMatch(\"%s\")", s.c_str());
      return 0;
    }
    case 3: {
      const std::string s(in.Rest());
      auto t = st::DecodeContinueToken(s);
      if (!t.ok()) {
        FUZZ_CHECK(t.status().code() == absl::StatusCode::kInvalidArgument, "%s",
                   t.status().ToString().c_str());
        return 0;
      }
      FUZZ_CHECK(t->rv != 0, "decoded a token with RV 0");
      CheckTokenRoundTrip(*t);
      return 0;
    }
    default: {
      st::ContinueToken t;
      for (int i = 0; i < 8; ++i) t.rv = t.rv << 8 | in.Byte();
      if (t.rv == 0) t.rv = 1;
      // The store only ever puts a "namespace/name" key (validated names) in a token.
      static constexpr char kKeyChars[] = "abcdefghijklmnopqrstuvwxyz0123456789-./GPU";
      for (char c : in.Rest())
        t.start_after.push_back(kKeyChars[static_cast<uint8_t>(c) % (sizeof(kKeyChars) - 1)]);
      CheckTokenRoundTrip(t);
      return 0;
    }
  }
}
