#include "deviceplugin/manager.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "common/secure_path.h"
#include "common/strings.h"
#include "deviceplugin/registration.h"

namespace deviceapi::deviceplugin {

using common::Cat;
namespace v1 = ::nvidia::nvsentinel::v1alpha1;

namespace {

// How often the control thread looks at the Device API connection when nothing else wakes it.
constexpr absl::Duration kPollInterval = absl::Milliseconds(250);
constexpr absl::Duration kMaxRegisterBackoff = absl::Seconds(30);
constexpr absl::Duration kRestartRetry = absl::Seconds(5);

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string JoinDir(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace

Plugin::Plugin(PluginOptions options, PluginConfig config, GpuInterfacePtr client,
               std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      client_(std::move(client)),
      channel_(std::move(channel)),
      config_(std::make_shared<const PluginConfig>(std::move(config))),
      api_(options_.api_unavailable_grace) {}

Plugin::~Plugin() { Shutdown(); }

absl::Status Plugin::Start() {
  // Created 0750 when missing (the kubelet's own mode); refused when everyone can write it (a
  // world-writable directory without the sticky bit). PluginServer::Start checks it again each time.
  if (absl::Status s = common::EnsureDirectory(options_.device_plugin_path, 0750); !s.ok()) {
    return absl::FailedPreconditionError(Cat("--device-plugin-path: ", common::ToStd(s.message())));
  }
  if (absl::Status s = common::CheckDirectory(options_.device_plugin_path); !s.ok()) {
    return absl::FailedPreconditionError(Cat("refusing --device-plugin-path: ", common::ToStd(s.message())));
  }
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return absl::InternalError(Cat("eventfd: ", common::ErrnoString(errno)));

  InformerOptions io;
  // A restarted Device API server is relisted within seconds, not after the default 30 s backoff.
  io.reflector.initial_backoff = absl::Milliseconds(200);
  io.reflector.max_backoff = absl::Seconds(5);
  informer_ = std::make_unique<GpuInformer>(std::move(client_), io);
  ResourceEventHandlerFuncs handlers;
  auto mark = [this] {
    absl::MutexLock l(&mu_);
    dirty_ = true;
  };
  handlers.on_add = [mark](const v1::Gpu&, bool) { mark(); };
  handlers.on_update = [mark](const v1::Gpu&, const v1::Gpu&) { mark(); };
  handlers.on_delete = [mark](const v1::Gpu&, bool) { mark(); };
  handler_ = informer_->AddEventHandler(std::move(handlers));
  informer_->Start();

  if (options_.register_with_kubelet) watcher_ = std::thread([this] { WatchDirectory(); });
  control_ = std::thread([this] { ControlLoop(); });
  return absl::OkStatus();
}

void Plugin::Reload(PluginConfig config) {
  absl::MutexLock l(&mu_);
  pending_config_ = std::make_shared<const PluginConfig>(std::move(config));
}

void Plugin::Shutdown() {
  {
    absl::MutexLock l(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    stopping_ = true;
  }
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }
  if (control_.joinable()) control_.join();  // stops the servers, removes their sockets
  if (watcher_.joinable()) watcher_.join();
  if (handler_) handler_->Remove();
  if (informer_) informer_->Stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
}

bool Plugin::Ready() const {
  absl::MutexLock l(&mu_);
  return ready_;
}

bool Plugin::Live() const {
  absl::MutexLock l(&mu_);
  // The loop runs every kPollInterval, or blocks in one Register call at most.
  return absl::Now() - last_loop_ < std::max(absl::Seconds(30), 2 * options_.kubelet_timeout);
}

void Plugin::ControlLoop() {
  bool reported_expired = false;
  bool start_pending = true;  // servers start once the first list of GPUs is in
  absl::Time restart_at = absl::InfiniteFuture();
  while (true) {
    const absl::Time now = absl::Now();
    const bool connected = channel_->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY;
    if (api_.Set(connected, now)) {
      if (connected) {
        spdlog::info("Device API reachable again");
      } else {
        spdlog::warn("Device API unreachable; keeping the last known device health for {}",
                     absl::FormatDuration(options_.api_unavailable_grace));
      }
    }
    const bool expired = api_.Expired(now);
    metrics_.SetDeviceApi(connected, expired);

    bool dirty = false, kubelet_restarted = false;
    std::shared_ptr<const PluginConfig> new_config;
    {
      absl::MutexLock l(&mu_);
      if (stopping_) break;
      last_loop_ = now;
      std::swap(dirty, dirty_);
      std::swap(kubelet_restarted, kubelet_restarted_);
      new_config.swap(pending_config_);
    }
    if (expired != reported_expired) {
      reported_expired = expired;
      dirty = true;
      if (expired) {
        spdlog::error("Device API unreachable for longer than {}: reporting every device Unhealthy",
                      absl::FormatDuration(options_.api_unavailable_grace));
      }
    }

    bool restart = false;
    const char* why = "";
    if (new_config != nullptr) {
      if (*new_config == *config_) {
        spdlog::info("config reloaded: unchanged");
      } else {
        config_ = std::move(new_config);
        restart = true;
        why = "config changed";
      }
    }
    if (!synced_ && informer_->HasSynced()) {
      synced_ = true;
      dirty = true;
    }
    if (synced_ && start_pending) {
      start_pending = false;
      restart = true;
      why = "first list of GPUs";
    }
    if (kubelet_restarted && synced_) {
      metrics_.RecordKubeletRestart();
      restart = true;
      why = "kubelet restarted (kubelet.sock re-created)";
    }
    if (now >= restart_at) {
      restart = true;
      why = "retrying a server that failed to start";
    }

    if (restart) {
      restart_at = absl::InfiniteFuture();
      RestartServers(why);
      for (const auto& [name, s] : servers_) {
        if (s.server == nullptr) restart_at = absl::Now() + kRestartRetry;
      }
    } else if (dirty && synced_) {
      std::vector<ResourceState> states = ComputeResources(expired);
      for (ResourceState& st : states) {
        auto it = servers_.find(st.name);
        if (it != servers_.end() && it->second.server != nullptr) it->second.server->Update(std::move(st));
      }
    }
    RegisterPending(absl::Now());

    bool ready = synced_ && !servers_.empty();
    absl::Time next = absl::Now() + kPollInterval;
    for (const auto& [name, s] : servers_) {
      ready = ready && s.server != nullptr && s.registered;
      if (s.server != nullptr && !s.registered) next = std::min(next, s.retry_at);
    }
    next = std::min({next, api_.ExpiresAt(), restart_at});
    absl::MutexLock l(&mu_);
    ready_ = ready;
    auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || dirty_ || kubelet_restarted_ || pending_config_ != nullptr;
    };
    mu_.AwaitWithDeadline(absl::Condition(&work), next);
  }
  StopServers();
}

std::vector<ResourceState> Plugin::ComputeResources(bool force_unhealthy) {
  absl::StatusOr<std::vector<GpuPtr>> listed = informer_->Lister().List();
  std::vector<v1::Gpu> objects;
  std::map<std::string, bool> healthy;
  if (listed.ok()) {
    objects.reserve(listed->size());
    for (const GpuPtr& g : *listed) {
      objects.push_back(*g);
      healthy[g->metadata().name()] = !force_unhealthy && GpuHealthy(*g, options_.unknown_health);
    }
  } else {
    spdlog::error("listing GPUs from the informer's cache: {}", listed.status().ToString());
  }
  return BuildResources(GpusFromApi(objects, healthy), *config_);
}

void Plugin::StopServers() {
  // Completely, before anything new registers: the kubelet drops both servers of a resource if a
  // second one registers while the first still runs.
  for (auto& [name, s] : servers_) {
    if (s.server != nullptr) s.server->Stop();
  }
  servers_.clear();
}

void Plugin::RestartServers(const char* why) {
  spdlog::info("starting device plugin servers: {}", why);
  StopServers();
  std::vector<ResourceState> states = ComputeResources(api_.Expired(absl::Now()));
  for (ResourceState& st : states) {
    const std::string name = st.name;
    const std::string path = JoinDir(options_.device_plugin_path, SocketName(name));
    const size_t devices = st.devices.size();
    absl::StatusOr<std::unique_ptr<PluginServer>> server =
        PluginServer::Start(path, std::move(st), config_, &metrics_);
    Served& s = servers_[name];
    if (!server.ok()) {
      spdlog::error("cannot serve {} on {}: {}", name, path, server.status().ToString());
      continue;
    }
    s.server = std::move(*server);
    spdlog::info("serving {} ({} devices) on {}", name, devices, path);
  }
}

void Plugin::RegisterPending(absl::Time now) {
  for (auto& [name, s] : servers_) {
    if (s.server == nullptr || s.registered || now < s.retry_at) continue;
    if (!options_.register_with_kubelet) {
      s.registered = true;
      continue;
    }
    v1beta1::DevicePluginOptions opts;
    opts.set_pre_start_required(false);
    opts.set_get_preferred_allocation_available(true);
    const absl::Status st = RegisterWithKubelet(options_.KubeletSocketPath(), SocketName(name), name, opts,
                                                options_.kubelet_timeout);
    metrics_.RecordRegistration(name, st.ok());
    if (st.ok()) {
      s.registered = true;
      s.backoff = absl::Milliseconds(500);
      spdlog::info("registered {} with the kubelet (endpoint {})", name, SocketName(name));
      continue;
    }
    s.retry_at = absl::Now() + s.backoff;
    spdlog::warn("{}; retrying in {}", common::ToStd(st.message()), absl::FormatDuration(s.backoff));
    s.backoff = std::min(2 * s.backoff, kMaxRegisterBackoff);
  }
}

void Plugin::WatchDirectory() {
  const std::string socket = options_.KubeletSocketPath();
  const std::string dir = DirOf(socket), base = BaseOf(socket);
  int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) {
    spdlog::error("inotify_init1: {}; kubelet restarts will not be noticed", common::ErrnoString(errno));
    return;
  }
  int wd = -1;
  ino_t watched = 0;  // the directory inode the watch is on
  bool lost = false;  // the watch was lost (the directory removed) and must be re-added
  alignas(struct inotify_event) char buf[4096];
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (stopping_) break;
    }
    // A removed directory does not always say so (IN_DELETE_SELF waits until nothing holds it,
    // and our own bound sockets do): a new inode at the path means the watch is on a dead one.
    struct stat st {};
    const bool exists = ::stat(dir.c_str(), &st) == 0;
    if (wd >= 0 && (!exists || st.st_ino != watched)) {
      spdlog::warn("{} was removed; watching for it to come back", dir);
      ::inotify_rm_watch(fd, wd);
      wd = -1;
      lost = true;
    }
    if (wd < 0 && exists) {
      wd = ::inotify_add_watch(fd, dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF);
      if (wd < 0) {
        DAPI_VLOG(1, "inotify_add_watch {}: {}", dir, common::ErrnoString(errno));
      } else {
        watched = st.st_ino;
        if (lost && std::filesystem::exists(socket)) {
          // The directory came back while nobody watched it: a kubelet.sock in it is a new one.
          spdlog::info("{} is back with {} in it; re-registering", dir, base);
          absl::MutexLock l(&mu_);
          kubelet_restarted_ = true;
        }
        lost = false;
      }
    }
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int n = ::poll(fds, 2, 1000);
    if (n < 0 && errno != EINTR) {
      spdlog::error("poll on the inotify descriptor: {}", common::ErrnoString(errno));
      break;
    }
    if (n <= 0 || (fds[0].revents & POLLIN) == 0) continue;
    while (true) {
      const ssize_t len = ::read(fd, buf, sizeof(buf));
      if (len <= 0) break;
      for (ssize_t off = 0; off < len;) {
        const auto* ev = reinterpret_cast<const struct inotify_event*>(buf + off);
        off += static_cast<ssize_t>(sizeof(struct inotify_event) + ev->len);
        if (ev->wd != wd) continue;  // a watch given up already (its IN_IGNORED, late events)
        if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) != 0) {
          if (wd >= 0) spdlog::warn("{} was removed; watching for it to come back", dir);
          if (wd >= 0 && (ev->mask & IN_IGNORED) == 0) ::inotify_rm_watch(fd, wd);
          wd = -1;
          lost = true;
          continue;
        }
        if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) != 0 && ev->len > 0 && base == ev->name) {
          spdlog::info("{} created: the kubelet (re)started; re-registering", socket);
          absl::MutexLock l(&mu_);
          kubelet_restarted_ = true;
        }
      }
    }
  }
  ::close(fd);
}

}  // namespace deviceapi::deviceplugin
