#include "util.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace devapi_bench {

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void SleepUntilNs(int64_t t) {
  timespec ts;
  ts.tv_sec = t / 1000000000;
  ts.tv_nsec = t % 1000000000;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

void Latencies::Finalize() { std::sort(ns.begin(), ns.end()); }

double Latencies::PercentileUs(double p) const {
  if (ns.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(ns.size()));
  if (i >= ns.size()) i = ns.size() - 1;
  return static_cast<double>(ns[i]) / 1000.0;
}

double Latencies::MaxUs() const { return ns.empty() ? 0 : static_cast<double>(ns.back()) / 1000.0; }

TempDir::TempDir(const std::string& prefix) {
  // Data dirs (etcd's, the SQLite file) live on tmpfs by default, where fsync
  // is free: the comparison is then of the software paths. DEVAPI_BENCH_TMPDIR
  // puts them on a real disk to compare durable writes including the sync.
  const char* env = std::getenv("DEVAPI_BENCH_TMPDIR");
  std::string base = env != nullptr && *env != '\0'              ? std::string(env)
                     : std::filesystem::is_directory("/dev/shm") ? "/dev/shm"
                                                                 : "/tmp";
  std::string tmpl = base + "/" + prefix + "XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr)
    throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

int PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot pick a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::unique_ptr<Child> Child::Spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto c = std::unique_ptr<Child>(new Child());
  c->log_path_ = log_path;
  c->spawned_ns_ = NowNs();
  int rc = posix_spawn(&c->pid_, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("spawn " + argv[0] + ": " + std::strerror(rc));
  return c;
}

bool Child::Running() {
  if (pid_ <= 0) return false;
  int st;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void Child::Stop() {
  if (!Running()) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 500 && Running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (Running()) {
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }
}

Child::~Child() { Stop(); }

int64_t RssBytes(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string SelfExe() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, int index) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("devapi_bench.channel", index);  // distinct args: never share a connection
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

std::string MarkerText(int64_t ts) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "BTS:%016llx", static_cast<unsigned long long>(ts));
  return buf;
}

size_t FindMarker(std::string_view bytes, size_t from) {
  if (from >= bytes.size()) return std::string_view::npos;
  const void* p = ::memmem(bytes.data() + from, bytes.size() - from, kMarker.data(), kMarker.size());
  if (p == nullptr) return std::string_view::npos;
  size_t off = static_cast<const char*>(p) - bytes.data();
  if (off + kMarkerLen > bytes.size()) return std::string_view::npos;
  return off;
}

void PatchMarker(std::string* bytes, size_t off, int64_t ts) {
  std::string m = MarkerText(ts);
  std::memcpy(bytes->data() + off, m.data(), kMarkerLen);
}

int64_t ParseMarker(const char* p) {
  uint64_t v = 0;
  for (size_t i = 4; i < kMarkerLen; ++i) {
    char c = p[i];
    v = (v << 4) | static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return static_cast<int64_t>(v);
}

void Flatten(const grpc::ByteBuffer& bb, std::string* out) {
  out->clear();
  std::vector<grpc::Slice> slices;
  if (!bb.Dump(&slices).ok()) return;
  for (const auto& s : slices) out->append(reinterpret_cast<const char*>(s.begin()), s.size());
}

grpc::ByteBuffer ToByteBuffer(const std::string& s) {
  grpc::Slice slice(s.data(), s.size());
  return grpc::ByteBuffer(&slice, 1);
}

std::string FormatUs(double us) {
  char buf[32];
  if (us >= 10000)
    std::snprintf(buf, sizeof(buf), "%.1f ms", us / 1000);
  else if (us >= 1000)
    std::snprintf(buf, sizeof(buf), "%.2f ms", us / 1000);
  else
    std::snprintf(buf, sizeof(buf), "%.0f µs", us);
  return buf;
}

std::string FormatRate(double r) {
  char buf[32];
  if (r >= 100000)
    std::snprintf(buf, sizeof(buf), "%.0fk/s", r / 1000);
  else if (r >= 10000)
    std::snprintf(buf, sizeof(buf), "%.1fk/s", r / 1000);
  else
    std::snprintf(buf, sizeof(buf), "%.0f/s", r);
  return buf;
}

std::string FormatBytes(int64_t b) {
  char buf[32];
  if (b < 0) return "n/a";
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(b) / (1024.0 * 1024.0));
  return buf;
}

}  // namespace devapi_bench
