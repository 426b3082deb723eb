#include "observability/http_server.h"
#include "common/strings.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "civetweb.h"
#include "common/logging.h"
#include "fmt/format.h"

namespace deviceapi::observability {
namespace {

using ::deviceapi::common::Cat;

void InitCivetwebOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
}

int LogMessage(const struct mg_connection*, const char* message) {
  DAPI_VLOG(2, "http server: {}", message);
  return 1;  // handled: civetweb must not write it anywhere else
}

void Reply(struct mg_connection* conn, bool head, int status, std::string_view content_type,
           std::string_view body) {
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", content_type.data(), static_cast<int>(content_type.size()));
  std::string length = std::to_string(body.size());
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-cache", -1);
  mg_response_header_send(conn);
  if (!head && !body.empty()) mg_write(conn, body.data(), body.size());
}

constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";

// Fills `addr` for ip:port; an empty ip means the IPv4 wildcard, or loopback when `for_connect`.
socklen_t MakeSockaddr(const std::string& ip, int port, bool for_connect, sockaddr_storage& addr) {
  std::memset(&addr, 0, sizeof(addr));
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (!ip.empty() && inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    if (for_connect && IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr)) v6->sin6_addr = in6addr_loopback;
    return sizeof(sockaddr_in6);
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  v4->sin_family = AF_INET;
  v4->sin_port = htons(static_cast<uint16_t>(port));
  if (ip.empty() || inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) != 1 ||
      (for_connect && v4->sin_addr.s_addr == htonl(INADDR_ANY))) {
    v4->sin_addr.s_addr = htonl(for_connect ? INADDR_LOOPBACK : INADDR_ANY);
  }
  return sizeof(sockaddr_in);
}

// civetweb reports only "Failed to setup server ports"; binding the address ourselves tells why.
std::string BindFailureReason(const std::string& ip, int port) {
  sockaddr_storage addr;
  socklen_t len = MakeSockaddr(ip, port, /*for_connect=*/false, addr);
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return common::ErrnoString(errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // as civetweb does
  std::string reason;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    reason = errno == EADDRINUSE ? "address already in use" : common::ErrnoString(errno);
  }
  close(fd);
  return reason;
}

// Opens and drops a connection to the listener so that civetweb's accept loop, which polls in
// 2 s quanta, notices the stop flag at once.
void WakeListener(const std::string& ip, int port) {
  sockaddr_storage addr;
  socklen_t len = MakeSockaddr(ip, port, /*for_connect=*/true, addr);
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  // Non-blocking: the attempt itself is the wake-up, whatever it returns.
  static_cast<void>(connect(fd, reinterpret_cast<sockaddr*>(&addr), len));
  close(fd);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(std::string host, int port, Handlers handlers) {
  InitCivetwebOnce();
  const std::string address =
      Cat(host.find(':') != std::string::npos ? Cat("[", host, "]") : host, ":", port);
  std::string listen;
  if (host.empty()) {
    listen = std::to_string(port);
  } else if (host == "localhost") {
    listen = Cat("127.0.0.1:", port);
  } else if (host.find(':') != std::string::npos) {
    listen = Cat("[", host, "]:", port);
  } else {
    listen = Cat(host, ":", port);
  }

  std::unique_ptr<HttpServer> server(new HttpServer(std::move(handlers)));
  server->ip_ = host == "localhost" ? "127.0.0.1" : host;
  const char* options[] = {
      "listening_ports", listen.c_str(),      "num_threads", "3",     "request_timeout_ms",
      "10000",           "enable_keep_alive", "no",          nullptr,
  };
  struct mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.begin_request = [](struct mg_connection* conn) -> int {
    return HandleRequest(conn, mg_get_user_data(mg_get_context(conn)));
  };
  callbacks.log_message = LogMessage;

  struct mg_init_data init;
  std::memset(&init, 0, sizeof(init));
  init.callbacks = &callbacks;
  init.user_data = server.get();
  init.configuration_options = options;
  char error_text[256] = {};
  unsigned error_code = 0;
  struct mg_error_data error;
  error.code = &error_code;
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);

  server->ctx_ = mg_start2(&init, &error);
  if (server->ctx_ == nullptr) {
    std::string why = BindFailureReason(server->ip_, port);
    if (why.empty()) why = error_text[0] != '\0' ? error_text : "cannot listen";
    return absl::UnavailableError(Cat("metrics bind address ", address, ": ", why));
  }
  struct mg_server_port ports[4];
  std::memset(ports, 0, sizeof(ports));
  int n = mg_get_server_ports(server->ctx_, 4, ports);
  if (n < 1) {
    return absl::InternalError(Cat("metrics bind address ", address, ": cannot read the listening port"));
  }
  server->port_ = ports[0].port;
  return server;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (ctx_ == nullptr) return;
  std::atomic<bool> stopped{false};
  std::thread stopper([this, &stopped] {
    mg_stop(ctx_);
    stopped = true;
  });
  while (!stopped) {
    WakeListener(ip_, port_);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stopper.join();
  ctx_ = nullptr;
}

int HttpServer::HandleRequest(struct mg_connection* conn, void* user_data) {
  auto* self = static_cast<HttpServer*>(user_data);
  const struct mg_request_info* request = mg_get_request_info(conn);
  std::string_view method = request->request_method != nullptr ? request->request_method : "";
  std::string_view path = request->local_uri != nullptr ? request->local_uri : "";
  const bool head = method == "HEAD";
  if (method != "GET" && !head) {
    Reply(conn, head, 405, kTextPlain, "method not allowed\n");
    return 405;
  }
  const Handlers& h = self->handlers_;
  try {
    if (path == "/metrics") {
      Reply(conn, head, 200, "text/plain; version=0.0.4; charset=utf-8",
            h.metrics ? h.metrics() : std::string());
      return 200;
    }
    if (path == "/healthz" || path == "/livez") {
      bool live = !h.live || h.live();
      Reply(conn, head, live ? 200 : 503, kTextPlain, live ? "ok" : "not live");
      return live ? 200 : 503;
    }
    if (path == "/readyz") {
      bool ready = !h.ready || h.ready();
      Reply(conn, head, ready ? 200 : 503, kTextPlain, ready ? "ok" : "not ready");
      return ready ? 200 : 503;
    }
    if (path == "/version") {
      Reply(conn, head, 200, "application/json", h.version_json ? h.version_json() : "{}");
      return 200;
    }
  } catch (const std::exception& e) {
    // A handler bug must not take the process down with it.
    DAPI_LOG_ERROR("http handler for {} threw: {}", path, e.what());
    Reply(conn, head, 500, kTextPlain, "internal error\n");
    return 500;
  }
  Reply(conn, head, 404, kTextPlain, "404 page not found\n");
  return 404;
}

}  // namespace deviceapi::observability
