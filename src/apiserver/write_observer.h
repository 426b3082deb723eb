// The one place every write attempt on the API is reported, allowed or not:
// GpuService calls its WriteObserver once per write call when the outcome is
// known. The server counts denials there (metrics.h); an audit log can be
// plugged in the same way.
#ifndef DEVICEAPI_APISERVER_WRITE_OBSERVER_H_
#define DEVICEAPI_APISERVER_WRITE_OBSERVER_H_

#include <functional>
#include <string_view>

#include <grpcpp/support/status.h>

#include "apiserver/peer_credentials.h"

namespace deviceapi::apiserver {

// One write call's outcome. Everything it refers to lives only for the
// observer's call: copy what is kept.
struct WriteEvent {
  const PeerCredentials& peer;  // known=false: the server has no credentials for the connection
  std::string_view verb;        // "create", "update", "update_status", "patch", "delete"
  std::string_view ns;          // the object's namespace ("default" when the request left it empty)
  std::string_view name;        // empty when the request did not parse
  // The object's resourceVersion after the write (a no-op's: the current one;
  // delete: the deletion's); empty when the write failed.
  std::string_view resource_version;
  const grpc::Status& status;  // what the caller gets
  // Set when authorization refused the write: "not_writer", "not_owner" or
  // "read_only"; empty otherwise.
  std::string_view denied_reason;
  bool read_only_endpoint = false;  // the call came in on --read-only-bind-address
};

// Runs on the thread that finishes the call (a gRPC thread, or a durable
// store's sync thread): it must be thread-safe and must not block for long.
using WriteObserver = std::function<void(const WriteEvent&)>;

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_WRITE_OBSERVER_H_
