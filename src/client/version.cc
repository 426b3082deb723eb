#include "deviceapi/version.h"

#ifndef DEVICEAPI_CLIENT_VERSION
#define DEVICEAPI_CLIENT_VERSION "0.0.0-dev"
#endif

namespace deviceapi {

std::string_view Version() { return DEVICEAPI_CLIENT_VERSION; }

std::string DefaultUserAgent() { return std::string("deviceapi-cpp/") + DEVICEAPI_CLIENT_VERSION; }

}  // namespace deviceapi
