// The client library's version and the user agent it sends.
#ifndef DEVICEAPI_VERSION_H_
#define DEVICEAPI_VERSION_H_

#include <string>
#include <string_view>

namespace deviceapi {

// The library's version ("0.1.0"), the project version it was built from.
std::string_view Version();

// The default gRPC user agent: "deviceapi-cpp/<Version()>".
std::string DefaultUserAgent();

}  // namespace deviceapi

#endif  // DEVICEAPI_VERSION_H_
