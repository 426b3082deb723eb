#include "observability/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace deviceapi::observability {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Response {
  int status = 0;
  std::string headers;
  std::string body;
};

// A minimal HTTP/1.0 client: one request on 127.0.0.1:port, read to EOF.
Response Get(int port, const std::string& path, const std::string& method = "GET") {
  Response r;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ADD_FAILURE() << "connect to port " << port << " failed";
    close(fd);
    return r;
  }
  std::string request = method + " " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string raw;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) raw.append(buf, n);
  close(fd);
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.size() < 12) {
    ADD_FAILURE() << "malformed response: " << raw;
    return r;
  }
  r.status = std::stoi(raw.substr(9, 3));
  r.headers = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  return r;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServer::Handlers h;
    h.metrics = [] { return std::string("# HELP x y\nx 1\n"); };
    h.ready = [this] { return ready_.load(); };
    h.live = [this] { return live_.load(); };
    h.version_json = [] { return std::string("{\"version\":\"1\"}"); };
    absl::StatusOr<std::unique_ptr<HttpServer>> s = HttpServer::Start("127.0.0.1", 0, h);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    ASSERT_GT(server_->port(), 0);
  }

  std::atomic<bool> ready_{true};
  std::atomic<bool> live_{true};
  std::unique_ptr<HttpServer> server_;
};

// /metrics serves the exposition text with Prometheus' content type.
TEST_F(HttpServerTest, Metrics) {
  Response r = Get(server_->port(), "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.headers, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_EQ(r.body, "# HELP x y\nx 1\n");
}

// The probes answer 200 "ok" when the condition holds.
TEST_F(HttpServerTest, ProbesOk) {
  for (const char* path : {"/healthz", "/livez", "/readyz"}) {
    Response r = Get(server_->port(), path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body, "ok") << path;
  }
}

// /readyz answers 503 when not ready, while liveness stays 200.
TEST_F(HttpServerTest, NotReady) {
  ready_ = false;
  Response r = Get(server_->port(), "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready");
  EXPECT_EQ(Get(server_->port(), "/healthz").status, 200);
}

// /healthz and /livez answer 503 when not live.
TEST_F(HttpServerTest, NotLive) {
  live_ = false;
  EXPECT_EQ(Get(server_->port(), "/healthz").status, 503);
  EXPECT_EQ(Get(server_->port(), "/livez").status, 503);
}

// /version serves JSON.
TEST_F(HttpServerTest, Version) {
  Response r = Get(server_->port(), "/version");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.headers, HasSubstr("Content-Type: application/json"));
  EXPECT_EQ(r.body, "{\"version\":\"1\"}");
}

// Unknown paths are 404, other methods 405, HEAD has no body.
TEST_F(HttpServerTest, NotFoundMethodAndHead) {
  EXPECT_EQ(Get(server_->port(), "/").status, 404);
  EXPECT_EQ(Get(server_->port(), "/metrics/extra").status, 404);
  EXPECT_EQ(Get(server_->port(), "/metrics", "POST").status, 405);
  Response head = Get(server_->port(), "/readyz", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
}

// A port already in use is a clear error.
TEST_F(HttpServerTest, PortInUse) {
  absl::StatusOr<std::unique_ptr<HttpServer>> s =
      HttpServer::Start("127.0.0.1", server_->port(), HttpServer::Handlers{});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("metrics bind address 127.0.0.1:" + std::to_string(server_->port()) +
                        ": address already in use"));
}

// Stop() closes the listener and may be called twice.
TEST_F(HttpServerTest, StopIsIdempotent) {
  int port = server_->port();
  server_->Stop();
  server_->Stop();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(fd);
}

}  // namespace
}  // namespace deviceapi::observability
