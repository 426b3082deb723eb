// Endpoint parsing for the etcd:// backend (see etcd_endpoint.h).
#include "storage/etcd/etcd_endpoint.h"

#include <charconv>

#include "common/strings.h"

namespace deviceapi::storage {

using ::deviceapi::common::Cat;

namespace {

absl::Status InvalidEndpoint(std::string_view endpoint, std::string_view why) {
  return absl::InvalidArgumentError(Cat("datastore endpoint \"", endpoint, "\": ", why,
                                        "; want etcd://HOST:PORT[,HOST:PORT...][?prefix=/device-api/]"));
}

}  // namespace

absl::StatusOr<EtcdEndpoint> ParseEtcdEndpoint(std::string_view endpoint) {
  constexpr std::string_view kScheme = "etcd://";
  if (endpoint.substr(0, kScheme.size()) != kScheme)
    return InvalidEndpoint(endpoint, "not an etcd:// endpoint");
  std::string_view rest = endpoint.substr(kScheme.size());
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  EtcdEndpoint out;
  if (rest.empty()) return InvalidEndpoint(endpoint, "no etcd address");
  while (true) {
    const size_t comma = rest.find(',');
    std::string_view addr = rest.substr(0, comma);
    // host:port, or [v6]:port.
    const size_t colon = addr.rfind(':');
    if (colon == std::string_view::npos) {
      return InvalidEndpoint(endpoint, Cat("address \"", addr, "\" has no port"));
    }
    std::string_view host = addr.substr(0, colon);
    std::string_view port = addr.substr(colon + 1);
    if (host.empty() || host == "[]")
      return InvalidEndpoint(endpoint, Cat("address \"", addr, "\" has no host"));
    if (host.find(':') != std::string_view::npos && (host.front() != '[' || host.back() != ']')) {
      return InvalidEndpoint(endpoint, Cat("IPv6 address \"", addr, "\" must be written [ADDRESS]:PORT"));
    }
    int p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535) {
      return InvalidEndpoint(endpoint,
                             Cat("port \"", port, "\" of \"", addr, "\" is not a number in 1-65535"));
    }
    out.addresses.emplace_back(addr);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    const size_t eq = param.find('=');
    std::string_view name = param.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    if (name == "prefix") {
      if (value.empty() || value.front() != '/') {
        return InvalidEndpoint(endpoint, Cat("prefix \"", value, "\" must start with '/'"));
      }
      out.prefix = std::string(value);
      if (out.prefix.back() != '/') out.prefix += '/';
    } else {
      return InvalidEndpoint(endpoint, Cat("unknown parameter \"", name, "\" (the only one is prefix)"));
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return out;
}

}  // namespace deviceapi::storage
