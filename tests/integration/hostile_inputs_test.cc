// Hostile inputs at the process edges, against the real device-api-server binary: garbage bytes,
// HTTP/1.1 and raw (non-gRPC, malformed) HTTP/2 on the Unix socket, 10,000 connections opened and
// dropped, watchers that never read, and a full disk under sqlite://.
//
// After each hostile act the server must still be healthy and correct (ExpectHealthy): a normal
// client (the deviceapi library) can Create/Get/List/Watch, gRPC health says SERVING, /readyz is
// 200, the server's open descriptors come back near their baseline and its RSS stays within
// baseline + 64 MiB. Every wait polls with a generous deadline (busy 2-core machine).
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sched.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "device/v1alpha1/gpu.grpc.pb.h"
#include "deviceapi/clientset.h"
#include "harness.h"

namespace deviceapi::itest {
namespace {

namespace fs = std::filesystem;
namespace pb = ::nvidia::nvsentinel::v1alpha1;

// How much the server's resident set may grow over its baseline. Not checked when the test (and so
// the server built beside it) runs under AddressSanitizer: its quarantine holds up to 256 MiB of freed
// memory and the shadow pages stay resident, so 10,000 connections grow the RSS by ~550 MiB there.
constexpr int64_t kRssSlackBytes = 64LL << 20;
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCheckRss = false;
#else
constexpr bool kCheckRss = true;
#endif
constexpr int kFdSlack = 8;
constexpr absl::Duration kSettle = absl::Seconds(30);

// ---------------------------------------------------------------------------------------------
// The server's resources, from /proc

int OpenFds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (auto it = fs::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

int64_t RssBytes(pid_t pid) {
  for (absl::string_view line : absl::StrSplit(ReadFile(absl::StrCat("/proc/", pid, "/status")), '\n')) {
    if (!absl::ConsumePrefix(&line, "VmRSS:")) continue;
    int64_t kb = 0;
    if (absl::SimpleAtoi(absl::StripSuffix(absl::StripAsciiWhitespace(line), " kB"), &kb)) return kb * 1024;
  }
  return -1;
}

// The value of metric series `series` ("name" or "name{labels}") in /metrics, if present.
std::optional<double> Metric(int metrics_port, const std::string& series) {
  const HttpResponse r = HttpGet(metrics_port, "/metrics");
  if (r.status != 200) return std::nullopt;
  return SampleValue(r.body, series);
}

// ---------------------------------------------------------------------------------------------
// Raw Unix-socket clients

int ConnectUnix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  while (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno == EINTR) continue;
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends what the peer takes; the server may close the connection at any point (then false).
bool SendAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads until the peer closes the connection (EOF or reset) or `deadline` passes. Returns whether
// it closed; the bytes read go to `got` (if given).
bool ReadUntilClosed(int fd, absl::Duration deadline, std::string* got = nullptr) {
  const absl::Time end = absl::Now() + deadline;
  char buf[16384];
  while (absl::Now() < end) {
    timeval tv = absl::ToTimeval(std::min(absl::Milliseconds(200), end - absl::Now()));
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return true;  // ECONNRESET and friends: closed too
    }
    if (got != nullptr) got->append(buf, static_cast<size_t>(n));
  }
  return false;
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// ---- HTTP/2 by hand

constexpr absl::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
enum : uint8_t { kData = 0, kHeaders = 1, kRstStream = 3, kSettings = 4, kGoAway = 7, kWindowUpdate = 8 };

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, absl::string_view payload,
                  std::optional<uint32_t> length = std::nullopt) {
  const uint32_t len = length.value_or(static_cast<uint32_t>(payload.size()));
  std::string f;
  f.push_back(static_cast<char>((len >> 16) & 0xff));
  f.push_back(static_cast<char>((len >> 8) & 0xff));
  f.push_back(static_cast<char>(len & 0xff));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  f.push_back(static_cast<char>((stream >> 24) & 0x7f));  // the reserved bit stays clear
  for (int shift = 16; shift >= 0; shift -= 8) f.push_back(static_cast<char>((stream >> shift) & 0xff));
  f.append(payload.data(), payload.size());
  return f;
}

// HPACK string literal (no Huffman), lengths < 127.
std::string HpackString(absl::string_view s) {
  return absl::StrCat(std::string(1, static_cast<char>(s.size())), s);
}
// Literal header field without indexing, indexed name (static table index < 15).
std::string HpackIndexedName(int index, absl::string_view value) {
  return absl::StrCat(std::string(1, static_cast<char>(index)), HpackString(value));
}
// Literal header field without indexing, new name.
std::string HpackNewName(absl::string_view name, absl::string_view value) {
  return absl::StrCat(std::string(1, '\0'), HpackString(name), HpackString(value));
}

std::string SettingsPayload(std::initializer_list<std::pair<uint16_t, uint32_t>> settings) {
  std::string p;
  for (const auto& [id, value] : settings) {
    p.push_back(static_cast<char>(id >> 8));
    p.push_back(static_cast<char>(id & 0xff));
    for (int shift = 24; shift >= 0; shift -= 8) p.push_back(static_cast<char>((value >> shift) & 0xff));
  }
  return p;
}

// Request headers of a POST to `path` with `content_type`.
std::string RequestHeaders(absl::string_view path, absl::string_view content_type) {
  return absl::StrCat(std::string(1, '\x83'), std::string(1, '\x86'),  // :method POST, :scheme http
                      HpackIndexedName(4, path), HpackIndexedName(1, "localhost"),
                      HpackNewName("content-type", content_type), HpackNewName("te", "trailers"));
}

// Whether `bytes` (what the server sent) hold a GOAWAY frame after the server's preface.
bool HasGoAway(absl::string_view bytes) {
  while (bytes.size() >= 9) {
    const uint32_t len = (static_cast<uint8_t>(bytes[0]) << 16) | (static_cast<uint8_t>(bytes[1]) << 8) |
                         static_cast<uint8_t>(bytes[2]);
    if (static_cast<uint8_t>(bytes[3]) == kGoAway) return true;
    if (bytes.size() < 9 + len) return false;
    bytes.remove_prefix(9 + len);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The server and the checks after each act

class HostileTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> extra_args = {}, std::map<std::string, std::string> env = {}) {
    ServerProcess::Config cfg;
    cfg.extra_args = std::move(extra_args);
    cfg.extra_args.push_back("--condition-heartbeat-timeout=0s");
    cfg.env = std::move(env);
    server_ = ServerProcess::Start(dir_, cfg);
    ASSERT_NE(server_, nullptr);
    Config config;
    config.target = server_->target();
    config.timeout = absl::Seconds(15);
    config.retry.max_attempts = 1;  // a failed write is reported as it is, not retried
    auto cs = Clientset::NewForConfig(config);
    ASSERT_TRUE(cs.ok()) << cs.status();
    clientset_ = std::move(*cs);
    gpus_ = clientset_->DeviceV1alpha1().Gpus("default");
    // One round of normal work opens the client's connection and warms the server up; the
    // descriptors and memory it then holds are the baseline.
    ExpectHealthy("baseline", /*check_resources=*/false);
    ASSERT_FALSE(HasFailure());
    baseline_fds_ = OpenFds(pid());
    baseline_rss_ = RssBytes(pid());
    ASSERT_GT(baseline_fds_, 0);
    ASSERT_GT(baseline_rss_, 0);
  }

  pid_t pid() { return server_->process().pid(); }

  static pb::Gpu MakeGpu(const std::string& name, size_t payload = 0) {
    pb::Gpu g;
    g.mutable_metadata()->set_name(name);
    g.mutable_spec()->set_uuid("GPU-" + name);
    if (payload > 0)
      (*g.mutable_metadata()->mutable_annotations())["example.com/ballast"] = std::string(payload, 'x');
    return g;
  }

  // A normal client's Create/Get/List/Watch, health, /readyz, descriptors and memory.
  void ExpectHealthy(const std::string& after, bool check_resources = true) {
    SCOPED_TRACE("after " + after);
    ASSERT_FALSE(server_->process().Exited()) << "server died\n--- server log ---\n" << server_->Log();
    const std::string name = absl::StrCat("probe-", ++probes_);

    auto list = gpus_->List();
    ASSERT_TRUE(list.ok()) << list.status();
    ListOptions wopts;
    wopts.resource_version = list->metadata().resource_version();
    auto watch = gpus_->Watch(wopts);
    ASSERT_TRUE(watch.ok()) << watch.status();
    auto created = gpus_->Create(MakeGpu(name));
    ASSERT_TRUE(created.ok()) << created.status();
    auto got = gpus_->Get(name);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->metadata().resource_version(), created->metadata().resource_version());
    auto list2 = gpus_->List();
    ASSERT_TRUE(list2.ok()) << list2.status();
    bool listed = false;
    for (const auto& g : list2->items()) listed |= g.metadata().name() == name;
    EXPECT_TRUE(listed) << name << " missing from List";
    std::optional<WatchEvent> ev = (*watch)->Next(absl::Seconds(15));
    ASSERT_TRUE(ev.has_value()) << "no watch event for " << name;
    EXPECT_EQ(ev->type, EventType::kAdded);
    EXPECT_EQ(ev->object.metadata().name(), name);
    EXPECT_EQ(ev->resource_version(), created->metadata().resource_version());
    (*watch)->Stop();

    // A new connection is served too (polled: the channel gives up on a connection that has not
    // had the server's SETTINGS within 100 ms, which a busy server can miss).
    const absl::Time t0 = absl::Now();
    HealthResult h;
    EXPECT_TRUE(PollUntil(
        [&] {
          h = CheckHealth(MakeChannel(server_->target()), "", absl::Seconds(5));
          return h.serving();
        },
        kSettle, absl::Milliseconds(100)))
        << h.ToString();
    std::printf("after %s: SERVING on a new connection after %.0f ms\n", after.c_str(),
                absl::ToDoubleMilliseconds(absl::Now() - t0));
    const HttpResponse ready = HttpGet(server_->metrics_port(), "/readyz");
    EXPECT_EQ(ready.status, 200) << ready.error << ready.body;

    if (!check_resources) return;
    int fds = 0;
    EXPECT_TRUE(PollUntil(
        [&] {
          fds = OpenFds(pid());
          return fds <= baseline_fds_ + kFdSlack;
        },
        kSettle, absl::Milliseconds(100)))
        << "open descriptors " << fds << ", baseline " << baseline_fds_;
    const int64_t rss = RssBytes(pid());
    if (kCheckRss) {
      EXPECT_LT(rss, baseline_rss_ + kRssSlackBytes) << "RSS " << rss << " bytes, baseline " << baseline_rss_;
    }
  }

  // Other clients work while `fd` (a hostile connection) is held open.
  void ExpectServesBeside(const std::string& what) {
    ExpectHealthy(what + " (hostile connection open)", false);
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Clientset> clientset_;
  GpuInterfacePtr gpus_;
  int baseline_fds_ = 0;
  int64_t baseline_rss_ = 0;
  int probes_ = 0;
};

// 1. Random bytes on the socket: the server drops the connection (not an HTTP/2 preface) and
// carries on; garbage held open does not stop other clients.
TEST_F(HostileTest, GarbageBytesOnTheSocket) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::mt19937_64 rng(20261206);
  for (size_t size : {size_t{1}, size_t{23}, size_t{24}, size_t{4096}, size_t{65536}, size_t{1} << 20}) {
    const int fd = ConnectUnix(server_->socket_path());
    ASSERT_GE(fd, 0) << std::strerror(errno);
    SendAll(fd, RandomBytes(rng, size));  // the server may hang up before it has read all of it
    EXPECT_TRUE(ReadUntilClosed(fd, kSettle)) << size << " garbage bytes: the server kept the connection";
    ::close(fd);
  }
  ExpectHealthy("garbage, closed");

  // Garbage that stays: one connection with garbage, one with half a preface, one silent.
  std::vector<int> held;
  for (const std::string& data :
       {RandomBytes(rng, 1000), std::string(kPreface.substr(0, 10)), std::string()}) {
    const int fd = ConnectUnix(server_->socket_path());
    ASSERT_GE(fd, 0);
    SendAll(fd, data);
    held.push_back(fd);
  }
  ExpectServesBeside("garbage");
  for (int fd : held) ::close(fd);
  ExpectHealthy("garbage, held then closed");
}

// 2. HTTP/1.1 on the socket: no HTTP/1 server behind it, the connection is closed (with at most
// an error reply), even for a huge header.
TEST_F(HostileTest, Http1OnTheSocket) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::vector<std::string> requests = {
      "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
      "POST /nvidia.nvsentinel.v1alpha1.GpuService/ListGpus HTTP/1.1\r\nHost: localhost\r\n"
      "Content-Type: application/grpc\r\nContent-Length: 5\r\n\r\nxxxxx",
      "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
      "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
      absl::StrCat("GET / HTTP/1.1\r\nHost: localhost\r\nX-Huge: ", std::string(1 << 20, 'a'), "\r\n\r\n"),
  };
  for (const std::string& req : requests) {
    const int fd = ConnectUnix(server_->socket_path());
    ASSERT_GE(fd, 0);
    SendAll(fd, req);
    std::string reply;
    EXPECT_TRUE(ReadUntilClosed(fd, kSettle, &reply)) << "HTTP/1.1 " << req.substr(0, 40) << ": still open";
    EXPECT_FALSE(absl::StartsWith(reply, "HTTP/1.1 200")) << reply.substr(0, 200);
    ::close(fd);
  }
  ExpectHealthy("HTTP/1.1");
}

// 3. HTTP/2 that is not gRPC: a valid preface and SETTINGS, then a request with a non-gRPC
// content type (answered or reset, never served), and malformed frames (connection errors: a
// GOAWAY and/or a closed connection).
TEST_F(HostileTest, Http2WithoutGrpc) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string hello = absl::StrCat(kPreface, Frame(kSettings, 0, 0, ""));
  {
    const int fd = ConnectUnix(server_->socket_path());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(
        fd, absl::StrCat(
                hello, Frame(kHeaders, 0x5, 1, RequestHeaders("/", "text/html")),
                Frame(kHeaders, 0x4, 3,
                      RequestHeaders("/nvidia.nvsentinel.v1alpha1.GpuService/ListGpus", "application/json")),
                Frame(kData, 0x1, 3, "{\"namespace\":\"default\"}"))));
    // The server answers both streams (an HTTP error or a non-OK grpc-status, or RST_STREAM) and
    // keeps the connection; what it sent must hold something past its own SETTINGS.
    std::string got;
    ReadUntilClosed(fd, absl::Seconds(3), &got);
    EXPECT_GT(got.size(), 9u) << "no answer to a non-gRPC request";
    ::close(fd);
  }
  ExpectServesBeside("HTTP/2 non-gRPC request");

  struct Bad {
    const char* what;
    std::string bytes;
    // false: gRPC tolerates it (or waits for the rest of the frame) and keeps the connection;
    // we hang up after a while and only the server's health afterwards is checked.
    bool connection_error = true;
  };
  const std::vector<Bad> bad = {
      {"frame longer than SETTINGS_MAX_FRAME_SIZE", Frame(kData, 0, 1, std::string(100, 'x'), 0xffffff)},
      {"SETTINGS of 5 bytes", Frame(kSettings, 0, 0, "12345")},
      {"DATA on a stream never opened", Frame(kData, 0, 7, "hello"), false},
      {"HEADERS on an even stream", Frame(kHeaders, 0x5, 2, RequestHeaders("/", "application/grpc")), false},
      {"WINDOW_UPDATE of 0 on the connection", Frame(kWindowUpdate, 0, 0, std::string(4, '\0'))},
      {"RST_STREAM on stream 0", Frame(kRstStream, 0, 0, std::string(4, '\0')), false},
      {"HEADERS with a garbage HPACK block", Frame(kHeaders, 0x5, 1, std::string(64, '\xff'))},
      {"a frame header cut short", std::string("\0\0\x10\x01", 4), false},
  };
  for (const Bad& b : bad) {
    const int fd = ConnectUnix(server_->socket_path());
    ASSERT_GE(fd, 0);
    SendAll(fd, absl::StrCat(hello, b.bytes));
    std::string got;
    const bool closed = ReadUntilClosed(fd, b.connection_error ? kSettle : absl::Seconds(1), &got);
    if (b.connection_error) {
      EXPECT_TRUE(closed || HasGoAway(got)) << b.what << ": no GOAWAY and the connection stayed open";
    }
    ::close(fd);
  }
  ExpectHealthy("malformed HTTP/2");
}

// 4. 10,000 connections opened and dropped (some after the preface): every descriptor is given
// back and the server still serves.
TEST_F(HostileTest, TenThousandConnectionsOpenedAndDropped) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2500;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  const std::string preface = absl::StrCat(kPreface, Frame(kSettings, 0, 0, ""));
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int fd = ConnectUnix(server_->socket_path());
        if (fd < 0) {
          failures.fetch_add(1);
          continue;
        }
        if ((i + t) % 10 == 0) SendAll(fd, preface);
        ::close(fd);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0) << "connect() failed " << failures.load() << " times of "
                                << kThreads * kPerThread;
  ExpectHealthy("10,000 connections");
}

// 5. Watchers that never read: raw HTTP/2 clients that open WatchGpus with a zero flow-control
// window and never read a byte. The server keeps at most --watch-queue-size events for each, ends
// them as too slow (device_api_server_watchers_evicted_total), stays responsive, and a normal
// watcher sees every event in order.
TEST_F(HostileTest, WatchersThatNeverRead) {
  constexpr int kQueue = 100;
  // The hub reaps ended watchers (and counts the evicted ones) when it wakes, at the latest at the
  // next bookmark tick: a short interval makes the count prompt.
  ASSERT_NO_FATAL_FAILURE(
      StartServer({absl::StrCat("--watch-queue-size=", kQueue), "--watch-bookmark-interval=1s"}));
  const double evicted_before =
      Metric(server_->metrics_port(), "device_api_server_watchers_evicted_total").value_or(-1);
  ASSERT_GE(evicted_before, 0) << "no device_api_server_watchers_evicted_total in /metrics";

  pb::WatchGpusRequest req;
  req.set_namespace_("default");
  std::string msg;
  ASSERT_TRUE(req.SerializeToString(&msg));
  const std::string grpc_msg =
      absl::StrCat(std::string(1, '\0'),
                   std::string{static_cast<char>(msg.size() >> 24), static_cast<char>(msg.size() >> 16),
                               static_cast<char>(msg.size() >> 8), static_cast<char>(msg.size())},
                   msg);
  constexpr int kStuck = 4;
  std::vector<int> stuck;
  for (int i = 0; i < kStuck; ++i) {
    const int fd = ConnectUnix(server_->socket_path());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(
        fd, absl::StrCat(
                kPreface, Frame(kSettings, 0, 0, SettingsPayload({{0x4, 0}})),  // INITIAL_WINDOW_SIZE 0
                Frame(kHeaders, 0x4, 1,
                      RequestHeaders("/nvidia.nvsentinel.v1alpha1.GpuService/WatchGpus", "application/grpc")),
                Frame(kData, 0x1, 1, grpc_msg))));
    stuck.push_back(fd);
  }

  // The normal watcher, from the current RV.
  auto list = gpus_->List();
  ASSERT_TRUE(list.ok()) << list.status();
  ListOptions wopts;
  wopts.resource_version = list->metadata().resource_version();
  auto watch = gpus_->Watch(wopts);
  ASSERT_TRUE(watch.ok()) << watch.status();

  // Writes in chunks well under the queue size; after each chunk the normal watcher catches up,
  // so only the stuck ones fall behind.
  constexpr int kWrites = 5 * kQueue;
  constexpr int kChunk = kQueue / 4;
  std::vector<std::string> written;
  int seen = 0;
  uint64_t last_rv = 0;
  for (int i = 0; i < kWrites && !HasFailure(); ++i) {
    const std::string name = absl::StrCat("w-", i);
    auto created = gpus_->Create(MakeGpu(name, 512));
    ASSERT_TRUE(created.ok()) << name << ": " << created.status();
    written.push_back(name);
    if ((i + 1) % kChunk != 0) continue;
    while (seen < static_cast<int>(written.size())) {
      std::optional<WatchEvent> ev = (*watch)->Next(kSettle);
      ASSERT_TRUE(ev.has_value()) << "normal watcher stalled after " << seen << " events: "
                                  << ((*watch)->Result() ? (*watch)->Result()->status.ToString() : "");
      ASSERT_EQ(ev->type, EventType::kAdded);
      ASSERT_EQ(ev->object.metadata().name(), written[seen]) << "event " << seen << " out of order";
      uint64_t rv = 0;
      ASSERT_TRUE(absl::SimpleAtoi(ev->resource_version(), &rv));
      ASSERT_GT(rv, last_rv);
      last_rv = rv;
      ++seen;
    }
  }
  EXPECT_EQ(seen, kWrites);
  EXPECT_FALSE((*watch)->Done()) << "the normal watcher ended: " << (*watch)->Result()->status;

  double evicted = 0;
  EXPECT_TRUE(PollUntil(
      [&] {
        evicted = Metric(server_->metrics_port(), "device_api_server_watchers_evicted_total").value_or(0);
        return evicted - evicted_before >= kStuck;
      },
      kSettle, absl::Milliseconds(200)))
      << "watchers evicted: " << evicted - evicted_before << ", want >= " << kStuck;
  ExpectHealthy("watchers that never read (still connected)", false);
  const int64_t rss = RssBytes(pid());
  if (kCheckRss) {
    EXPECT_LT(rss, baseline_rss_ + kRssSlackBytes) << "RSS with stuck watchers";
  }
  (*watch)->Stop();
  for (int fd : stuck) ::close(fd);
  ExpectHealthy("watchers that never read (closed)");
}

// ---------------------------------------------------------------------------------------------
// 6. A full disk under sqlite://

// Makes the database's directory full and gives the space back.
class DiskFiller {
 public:
  virtual ~DiskFiller() = default;
  virtual void Fill() = 0;
  virtual void Free() = 0;
};

// A tiny tmpfs (in a mount namespace of this thread's own, inherited by the server) filled with
// a ballast file. Needs root.
class TmpfsFiller : public DiskFiller {
 public:
  explicit TmpfsFiller(std::string dir) : dir_(std::move(dir)) {}
  ~TmpfsFiller() override {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  // Empty when it worked, else why not.
  std::string Mount() {
    if (::geteuid() != 0) return "not root";
    if (::unshare(CLONE_NEWNS) != 0) return absl::StrCat("unshare(CLONE_NEWNS): ", std::strerror(errno));
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      return absl::StrCat("mount --make-rprivate /: ", std::strerror(errno));
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=8m,mode=0700") != 0)
      return absl::StrCat("mount tmpfs: ", std::strerror(errno));
    mounted_ = true;
    return "";
  }
  void Fill() override {
    std::FILE* f = std::fopen((dir_ + "/ballast").c_str(), "w");
    ASSERT_NE(f, nullptr);
    const std::string block(4096, 'b');
    while (std::fwrite(block.data(), 1, block.size(), f) == block.size() && std::fflush(f) == 0) {
    }
    std::fclose(f);
  }
  void Free() override { std::remove((dir_ + "/ballast").c_str()); }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// The LD_PRELOAD shim (enospc_preload.c): files under the directory cannot grow while a control
// file exists.
class PreloadFiller : public DiskFiller {
 public:
  explicit PreloadFiller(std::string control) : control_(std::move(control)) {}
  void Fill() override { std::ofstream(control_) << "full\n"; }
  void Free() override { std::remove(control_.c_str()); }

 private:
  std::string control_;
};

class FullDiskTest : public HostileTest {
 protected:
  void Run(DiskFiller& filler, const std::string& data_dir,
           const std::map<std::string, std::string>& env = {}) {
    const std::vector<std::string> args = {"--datastore-endpoint=sqlite://" + data_dir + "/state.db"};
    ASSERT_NO_FATAL_FAILURE(StartServer(args, env));
    std::map<std::string, std::string> acked;  // name -> RV
    auto write = [&](const std::string& name) -> absl::Status {
      auto g = gpus_->Create(MakeGpu(name, 16 * 1024));
      if (g.ok()) acked[name] = g->metadata().resource_version();
      return g.status();
    };
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(write(absl::StrCat("before-", i)).ok());

    filler.Fill();
    ASSERT_FALSE(HasFailure());
    int failed = 0;
    for (int i = 0; i < 10; ++i) {
      const absl::Status s = write(absl::StrCat("full-", i));
      if (s.ok()) continue;
      if (failed++ == 0) std::printf("a write on the full disk: %s\n", s.ToString().c_str());
      EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
      EXPECT_TRUE(absl::StrContains(s.message(), "full")) << "the error does not say the disk is full: " << s;
    }
    EXPECT_EQ(failed, 10) << "writes on a full disk were acknowledged";
    std::printf("health on the full disk: %s\n",
                CheckHealth(MakeChannel(server_->target()), "", absl::Seconds(5)).ToString().c_str());
    // Reads go on.
    for (const auto& [name, rv] : acked) {
      auto g = gpus_->Get(name);
      ASSERT_TRUE(g.ok()) << name << ": " << g.status();
      EXPECT_EQ(g->metadata().resource_version(), rv);
    }
    auto list = gpus_->List();
    ASSERT_TRUE(list.ok()) << list.status();
    EXPECT_FALSE(server_->process().Exited()) << server_->Log();

    // Space comes back: writes succeed again without a restart.
    filler.Free();
    EXPECT_TRUE(PollUntil([&] { return write("after-0").ok(); }, kSettle, absl::Milliseconds(200)))
        << "writes still fail after the space came back\n--- server log ---\n"
        << server_->Log();
    for (int i = 1; i < 5; ++i) EXPECT_TRUE(write(absl::StrCat("after-", i)).ok());
    ExpectHealthy("a full disk, then space again");
    ASSERT_FALSE(HasFailure());
    // Every acknowledged write, and nothing else from the full period, after a restart too.
    auto names_now = [&]() {
      std::map<std::string, std::string> out;
      auto l = gpus_->List();
      EXPECT_TRUE(l.ok()) << l.status();
      if (l.ok())
        for (const auto& g : l->items())
          if (!absl::StartsWith(g.metadata().name(), "probe-"))
            out[g.metadata().name()] = g.metadata().resource_version();
      return out;
    };
    EXPECT_EQ(names_now(), acked);
    // kill -9: what was acknowledged must be on disk already.
    server_->process().Signal(SIGKILL);
    ASSERT_TRUE(server_->process().WaitFor(kExitDeadline).exited);
    const CommandResult check =
        RunCommand(dir_, {"/usr/bin/sqlite3", data_dir + "/state.db", "PRAGMA integrity_check;"});
    if (check.exit.exited && check.exit.exit_code == 0) {
      EXPECT_EQ(check.out, "ok\n") << check.Describe();
    }
    ASSERT_NO_FATAL_FAILURE(StartServer(args, env));
    EXPECT_EQ(names_now(), acked) << "after a restart";
  }
};

TEST_F(FullDiskTest, TmpfsFilledWithBallast) {
  const std::string data_dir = dir_.File("data");
  fs::create_directories(data_dir);
  TmpfsFiller filler(data_dir);
  const std::string why = filler.Mount();
  if (!why.empty()) GTEST_SKIP() << "no private tmpfs: " << why;
  Run(filler, data_dir);
  server_.reset();  // before the tmpfs goes
}

TEST_F(FullDiskTest, EnospcPreloadShim) {
  const std::string data_dir = dir_.File("data");
  fs::create_directories(data_dir);
  PreloadFiller filler(dir_.File("disk-full"));
  std::map<std::string, std::string> env = PreloadEnv(ENOSPC_PRELOAD_LIB);
  env["ENOSPC_DIR"] = data_dir;
  env["ENOSPC_CONTROL_FILE"] = dir_.File("disk-full");
  Run(filler, data_dir, env);
}

}  // namespace
}  // namespace deviceapi::itest
