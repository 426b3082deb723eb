#include "common/host_port.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>

#include "common/strings.h"

namespace deviceapi::common {

absl::StatusOr<std::pair<std::string, int>> ParseHostPort(std::string_view address) {
  std::string_view host;
  std::string_view port;
  if (address.starts_with("[")) {
    size_t close = address.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(Cat("address ", address, ": missing ']' in address"));
    }
    if (close + 1 >= address.size() || address[close + 1] != ':') {
      return absl::InvalidArgumentError(Cat("address ", address, ": missing port"));
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(Cat("address ", address, ": missing port in address"));
    }
    host = address.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      return absl::InvalidArgumentError(Cat("address ", address, ": too many colons in address"));
    }
    port = address.substr(colon + 1);
  }
  int port_number = -1;
  bool digits_only = !port.empty() && port.size() <= 5 &&
                     std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits_only ||
      std::from_chars(port.data(), port.data() + port.size(), port_number).ec != std::errc() ||
      port_number > 65535) {
    return absl::InvalidArgumentError(Cat("address ", address, ": port must be a number in 0..65535"));
  }
  if (!host.empty() && host != "localhost") {
    unsigned char buf[sizeof(struct in6_addr)];
    std::string h(host);
    if (inet_pton(AF_INET, h.c_str(), buf) != 1 && inet_pton(AF_INET6, h.c_str(), buf) != 1) {
      return absl::InvalidArgumentError(
          Cat("address ", address, ": host must be empty, \"localhost\" or an IP address"));
    }
  }
  return std::make_pair(std::string(host), port_number);
}

}  // namespace deviceapi::common
