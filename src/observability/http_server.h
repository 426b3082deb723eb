// The small HTTP endpoint for Prometheus and kubelet probes, on civetweb.
#ifndef DEVICEAPI_OBSERVABILITY_HTTP_SERVER_H_
#define DEVICEAPI_OBSERVABILITY_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

struct mg_context;
struct mg_connection;

namespace deviceapi::observability {

// Serves, for GET and HEAD (other methods get 405):
//   /metrics          200, text/plain; version=0.0.4, body metrics()
//   /healthz, /livez  200 "ok" when live(), else 503 "not live"
//   /readyz           200 "ok" when ready(), else 503 "not ready"
//   /version          200, application/json, body version_json()
//   anything else     404
// A handler left empty reads as: metrics "", live/ready true, version_json "{}".
// Handlers run on civetweb's worker threads (3), concurrently: they must be thread-safe and must
// stay callable until Stop() returns.
class HttpServer {
 public:
  struct Handlers {
    std::function<std::string()> metrics;
    std::function<bool()> ready;
    std::function<bool()> live;
    std::function<std::string()> version_json;
  };

  // Listens on host:port (host "" = all IPv4 interfaces, "localhost" = 127.0.0.1, else an IP
  // literal; port 0 = a free port, see port()). Returns UNAVAILABLE when the address cannot be
  // bound, e.g. "metrics bind address :9090: address already in use".
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(std::string host, int port, Handlers handlers);

  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port actually listened on.
  int port() const { return port_; }

  // Stops accepting, waits for running handlers to return. Idempotent; blocks; not to be called
  // from a handler.
  void Stop();

 private:
  explicit HttpServer(Handlers handlers) : handlers_(std::move(handlers)) {}
  static int HandleRequest(mg_connection* conn, void* self);

  Handlers handlers_;
  std::string ip_;  // listening IP, "" for all interfaces
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

}  // namespace deviceapi::observability

#endif  // DEVICEAPI_OBSERVABILITY_HTTP_SERVER_H_
