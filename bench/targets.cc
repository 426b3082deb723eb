#include "targets.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <thread>

#include "etcd/etcdserverpb/rpc.pb.h"

namespace devapi_bench {

namespace {

constexpr char kEtcdPrefix[] = "/gpus/";
constexpr char kEtcdPrefixEnd[] = "/gpus0";  // '/' + 1: every key under the prefix
constexpr int kWriteTemplates = 64;

std::string EtcdKey(int i) { return std::string(kEtcdPrefix) + "default/" + GpuName(i); }

template <typename M>
grpc::ByteBuffer Bytes(const M& m) {
  return ToByteBuffer(m.SerializeAsString());
}

}  // namespace

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kServer:
      return "device-api-server";
    case Kind::kEtcd:
      return "etcd";
    case Kind::kFloor:
      return "floor";
    case Kind::kServerSqlite:
      return "device-api-server (sqlite)";
  }
  return "?";
}

std::string GpuName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "gpu-%04d", i);
  return buf;
}

v1::Gpu MakeBenchGpu(int i, int conditions, int64_t ts) {
  v1::Gpu g;
  auto* md = g.mutable_metadata();
  md->set_name(GpuName(i));
  md->set_namespace_("default");
  (*md->mutable_labels())["nvidia.com/gpu.product"] = "NVIDIA-H100-80GB-HBM3";
  auto* spec = g.mutable_spec();
  char uuid[64];
  std::snprintf(uuid, sizeof(uuid), "GPU-%08x-1111-2222-3333-%012x", i, i);
  spec->set_uuid(uuid);
  spec->set_product_name("NVIDIA H100 80GB HBM3");
  spec->set_memory_bytes(uint64_t{80} << 30);
  spec->set_pci_bus_id("00000000:1B:00.0");
  spec->set_minor_number(i);
  spec->set_numa_node(0);
  spec->set_architecture("Hopper");
  spec->set_compute_capability("9.0");
  spec->set_driver_version("550.54.15");
  auto* st = g.mutable_status();
  for (int c = 0; c < conditions; ++c) {
    auto* cond = st->add_conditions();
    char type[32];
    std::snprintf(type, sizeof(type), "BenchCondition%02d", c);
    cond->set_type(type);
    cond->set_status("True");
    cond->mutable_last_transition_time()->set_seconds(1767225600 + c);
    cond->set_reason("AllChecksPassed");
    std::string msg = c == 0 ? MarkerText(ts) + " " : std::string();
    msg += "health checks passed: ECC, PCIe link, NVLink, thermals, clocks and power within limits (";
    msg += type;
    msg += ")";
    cond->set_message(msg);
    cond->set_observed_generation(1);
  }
  st->set_recommended_action("NONE");
  return g;
}

grpc::Status SyncUnary(grpc::GenericStub* stub, const std::string& method, const grpc::ByteBuffer& req,
                       grpc::ByteBuffer* resp, int64_t timeout_ms, bool wait_for_ready) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  ctx.set_wait_for_ready(wait_for_ready);
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status out;
  stub->UnaryCall(&ctx, method, grpc::StubOptions(), &req, resp, [&](grpc::Status s) {
    std::lock_guard<std::mutex> l(mu);
    out = std::move(s);
    done = true;
    cv.notify_one();
  });
  std::unique_lock<std::mutex> l(mu);
  cv.wait(l, [&] { return done; });
  return out;
}

std::unique_ptr<Target> Target::Open(const TargetSpec& spec, const Settings& s) {
  auto t = std::unique_ptr<Target>(new Target());
  t->kind_ = spec.kind;
  t->name_ = KindName(spec.kind);
  t->settings_ = s;
  t->BuildRequests();
  if (!spec.address.empty()) {
    t->address_ = spec.address;
    t->WaitReady();
    return t;
  }
  t->dir_ = std::make_unique<TempDir>("devapi-bench-");
  const std::string& d = t->dir_->path();
  std::vector<std::string> argv;
  switch (spec.kind) {
    case Kind::kServer:
    case Kind::kServerSqlite:
      t->address_ = "unix://" + d + "/api.sock";
      argv = {s.server_bin,
              "--bind-address",
              t->address_,
              "--health-probe-bind-address",
              "127.0.0.1:0",
              "--metrics-bind-address",
              "127.0.0.1:0",
              "--datastore-endpoint",
              spec.kind == Kind::kServer ? "memory://" : "sqlite://" + d + "/db/state.db",
              "--watch-queue-size",
              std::to_string(s.watch_queue_size)};
      break;
    case Kind::kFloor:
      t->address_ = "unix://" + d + "/floor.sock";
      argv = {SelfExe(),
              "--serve-floor",
              t->address_,
              "--gpus",
              std::to_string(s.gpus),
              "--conditions",
              std::to_string(s.conditions)};
      break;
    case Kind::kEtcd: {
      const int client = PickFreePort();
      int peer = PickFreePort();
      while (peer == client) peer = PickFreePort();
      const std::string curl = "http://127.0.0.1:" + std::to_string(client);
      const std::string purl = "http://127.0.0.1:" + std::to_string(peer);
      t->address_ = "127.0.0.1:" + std::to_string(client);
      argv = {s.etcd_bin,
              "--name",
              "bench",
              "--data-dir",
              d + "/etcd",
              "--listen-client-urls",
              curl,
              "--advertise-client-urls",
              curl,
              "--listen-peer-urls",
              purl,
              "--initial-advertise-peer-urls",
              purl,
              "--initial-cluster",
              "bench=" + purl,
              "--initial-cluster-state",
              "new",
              "--logger",
              "zap",
              "--log-level",
              "warn"};
      break;
    }
  }
  t->child_ = Child::Spawn(argv, d + "/log.txt");
  t->WaitReady();
  if (IsServer(spec.kind)) {
    // "... ready in 1.234ms" in the server's start-up line.
    std::smatch m;
    std::string log = ReadFile(t->child_->log_path());
    if (std::regex_search(log, m, std::regex("ready in ([0-9.]+[a-zµ]+)"))) t->self_ready_ = m[1];
  }
  return t;
}

Target::~Target() = default;

pid_t Target::pid() const { return child_ ? child_->pid() : -1; }

namespace {

// Whether something accepts connections at a gRPC address (unix:///path or host:port).
bool Accepts(const std::string& address) {
  int fd = -1;
  int rc = -1;
  if (address.rfind("unix://", 0) == 0) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const std::string path = address.substr(7);
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
    fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  } else {
    const size_t colon = address.rfind(':');
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
    ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &a.sin_addr);
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  }
  if (fd >= 0) ::close(fd);
  return rc == 0;
}

}  // namespace

void Target::WaitReady() {
  // Poll the listening socket every 0.2 ms, then one request (etcd answers only once it has
  // elected itself leader).
  const int64_t accept_deadline = NowNs() + int64_t{30} * 1000000000;
  while (!Accepts(address_) && NowNs() < accept_deadline) {
    if (child_ && !child_->Running()) break;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  // One request that waits for the connection (short reconnect backoff), then a retry loop for
  // a target that is up but not serving yet (etcd electing its leader).
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 1);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 20);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto ch = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
  grpc::GenericStub stub(ch);
  const int64_t deadline = NowNs() + int64_t{30} * 1000000000;
  for (;;) {
    grpc::ByteBuffer resp;
    grpc::Status s = SyncUnary(&stub, get_method_, get_request_, &resp, 2000, true);
    if (s.ok() || s.error_code() == grpc::StatusCode::NOT_FOUND) break;
    if (child_ && !child_->Running()) {
      throw std::runtime_error(name_ + " exited during start-up; log:\n" + ReadFile(child_->log_path()));
    }
    if (NowNs() > deadline) throw std::runtime_error(name_ + " not ready after 30s: " + s.error_message());
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (child_) ready_ns_ = NowNs() - child_->spawned_ns();
}

void Target::BuildRequests() {
  const int ntemplates = std::min(settings_.gpus, kWriteTemplates);
  if (kind_ == Kind::kEtcd) {
    get_method_ = "/etcdserverpb.KV/Range";
    list_method_ = get_method_;
    write_method_ = "/etcdserverpb.KV/Put";
    watch_method_ = "/etcdserverpb.Watch/Watch";
    etcdserverpb::RangeRequest get;
    get.set_key(EtcdKey(0));
    get_request_ = Bytes(get);
    etcdserverpb::RangeRequest list;
    list.set_key(kEtcdPrefix);
    list.set_range_end(kEtcdPrefixEnd);
    list_request_ = Bytes(list);
    for (int i = 0; i < ntemplates; ++i) {
      etcdserverpb::PutRequest put;
      put.set_key(EtcdKey(i));
      put.set_value(MakeBenchGpu(i, settings_.conditions, 1).SerializeAsString());
      WriteTemplate w{put.SerializeAsString(), 0};
      w.marker = FindMarker(w.bytes);
      writes_.push_back(std::move(w));
    }
    etcdserverpb::WatchRequest watch;
    watch.mutable_create_request()->set_key(kEtcdPrefix);
    watch.mutable_create_request()->set_range_end(kEtcdPrefixEnd);
    watch_request_ = Bytes(watch);
  } else {
    get_method_ = "/nvidia.nvsentinel.v1alpha1.GpuService/GetGpu";
    list_method_ = "/nvidia.nvsentinel.v1alpha1.GpuService/ListGpus";
    write_method_ = "/nvidia.nvsentinel.v1alpha1.GpuService/UpdateGpuStatus";
    watch_method_ = "/nvidia.nvsentinel.v1alpha1.GpuService/WatchGpus";
    v1::GetGpuRequest get;
    get.set_name(GpuName(0));
    get.set_namespace_("default");
    get_request_ = Bytes(get);
    list_request_ = Bytes(v1::ListGpusRequest());
    for (int i = 0; i < ntemplates; ++i) {
      v1::UpdateGpuStatusRequest up;
      *up.mutable_gpu() = MakeBenchGpu(i, settings_.conditions, 1);
      WriteTemplate w{up.SerializeAsString(), 0};
      w.marker = FindMarker(w.bytes);
      writes_.push_back(std::move(w));
    }
    watch_request_ = Bytes(v1::WatchGpusRequest());
  }
  event_size_ = MakeBenchGpu(0, settings_.conditions, 1).ByteSizeLong() / 2;
}

grpc::ByteBuffer Target::WriteRequest(int gpu, int64_t ts) const {
  const WriteTemplate& t = writes_[static_cast<size_t>(gpu) % writes_.size()];
  std::string bytes = t.bytes;
  PatchMarker(&bytes, t.marker, ts);
  return ToByteBuffer(bytes);
}

void Target::Load(int n) {
  auto ch = NewChannel(address_, 1000);
  grpc::GenericStub stub(ch);
  if (kind_ != Kind::kFloor) {
    // A few loader threads: 1024 objects in well under a second.
    std::vector<std::thread> threads;
    std::mutex mu;
    std::string error;
    const int nthreads = 4;
    for (int t = 0; t < nthreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = t; i < n; i += nthreads) {
          grpc::ByteBuffer req, resp;
          if (kind_ == Kind::kEtcd) {
            etcdserverpb::PutRequest put;
            put.set_key(EtcdKey(i));
            put.set_value(MakeBenchGpu(i, settings_.conditions, 0).SerializeAsString());
            req = Bytes(put);
          } else {
            v1::CreateGpuRequest create;
            *create.mutable_gpu() = MakeBenchGpu(i, settings_.conditions, 0);
            req = Bytes(create);
          }
          grpc::Status s = SyncUnary(
              &stub,
              kind_ == Kind::kEtcd ? write_method_ : "/nvidia.nvsentinel.v1alpha1.GpuService/CreateGpu", req,
              &resp);
          if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
            std::lock_guard<std::mutex> l(mu);
            error = s.error_message();
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    if (!error.empty()) throw std::runtime_error(name_ + ": load failed: " + error);
  }
  RefreshWatchStart();
}

void Target::RefreshWatchStart() {
  if (!IsServer(kind_)) return;
  auto ch = NewChannel(address_, 1001);
  grpc::GenericStub stub(ch);
  {
    v1::ListGpusRequest req;
    req.mutable_opts()->set_limit(1);
    grpc::ByteBuffer resp;
    grpc::Status s = SyncUnary(&stub, list_method_, Bytes(req), &resp);
    if (!s.ok()) throw std::runtime_error(name_ + ": list failed: " + s.error_message());
    std::string raw;
    Flatten(resp, &raw);
    v1::ListGpusResponse list;
    list.ParseFromString(raw);
    v1::WatchGpusRequest watch;
    watch.mutable_opts()->set_resource_version(list.gpu_list().metadata().resource_version());
    watch_request_ = Bytes(watch);
  }
}

}  // namespace devapi_bench
