// A real etcd for tests: Debian's etcd-server (/usr/bin/etcd) as a child
// process on 127.0.0.1 with free ports and a private temp data dir, killed
// and removed on destruction. No etcd binary is a test failure (CI installs
// it with scripts/install-deps.sh), never a silent skip.
#ifndef DEVICEAPI_TESTS_TESTUTIL_ETCD_H_
#define DEVICEAPI_TESTS_TESTUTIL_ETCD_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "testutil/test_server.h"

namespace etcdserverpb {
class KV;
}

namespace deviceapi::testing {

inline constexpr char kEtcdBin[] = "/usr/bin/etcd";

class EtcdServer {
 public:
  // Starts etcd and waits until it answers requests. Throws std::runtime_error
  // saying what is missing or what etcd printed when it cannot start.
  static std::unique_ptr<EtcdServer> Start();
  ~EtcdServer();

  // 127.0.0.1:PORT
  const std::string& address() const { return address_; }
  // etcd://127.0.0.1:PORT?prefix=<prefix>
  std::string Endpoint(const std::string& prefix) const;

  // Kills etcd (SIGKILL: an outage, not a goodbye) and waits for it.
  void Kill();
  // Starts it again on the same ports and data (throws on failure).
  void Restart();
  // Kills it and starts an empty one on the same ports (its revision starts
  // again from 1: what a restore from an old backup looks like to clients).
  void RestartEmpty();
  bool running() const { return pid_ > 0; }

  // Direct etcd calls for tests: compaction at `revision`, and the current revision.
  void Compact(int64_t revision);
  int64_t Revision();
  // Puts raw bytes at `key` (a writer that is not a device-api-server).
  int64_t Put(const std::string& key, const std::string& value);
  int64_t Delete(const std::string& key);

 private:
  EtcdServer() = default;
  void Spawn();
  void WaitReady();
  std::unique_ptr<grpc::ClientContext> Ctx() const;

  TempDir dir_;
  int client_port_ = 0;
  int peer_port_ = 0;
  std::string address_;
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
};

// The etcd shared by every "etcd://" TestServer of this test process, started
// on first use and killed at exit. Each TestServer gets a prefix of its own.
EtcdServer& SharedEtcd();

// A prefix no other TestServer of this process uses: /t<pid>-<n>/.
std::string UniqueEtcdPrefix();

}  // namespace deviceapi::testing

#endif  // DEVICEAPI_TESTS_TESTUTIL_ETCD_H_
