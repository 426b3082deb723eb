// PeerTable and ReadPeerCredentials: the credentials of a connection, found by
// gRPC's name for it ("fd:N"), and never those of a connection that ended.
#include "apiserver/peer_table.h"

#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "apiserver/peer_credentials.h"

namespace deviceapi::apiserver {
namespace {

struct SocketPair {
  int fds[2] = {-1, -1};
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0); }
  ~SocketPair() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
};

std::string Peer(int fd) { return "fd:" + std::to_string(fd); }

// SO_PEERCRED of a socketpair names this very process.
TEST(ReadPeerCredentialsTest, OwnProcess) {
  SocketPair p;
  absl::StatusOr<PeerCredentials> c = ReadPeerCredentials(p.fds[0]);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->known);
  EXPECT_EQ(c->uid, ::getuid());
  EXPECT_EQ(c->gid, ::getgid());
  EXPECT_EQ(c->pid, ::getpid());
  EXPECT_EQ(c->ToString(), "uid " + std::to_string(::getuid()) + " (gid " + std::to_string(::getgid()) +
                               ", pid " + std::to_string(::getpid()) + ")");
}

// Not a socket: an error, not credentials.
TEST(ReadPeerCredentialsTest, NotASocket) {
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  EXPECT_FALSE(ReadPeerCredentials(pipefd[0]).ok());
  ::close(pipefd[0]);
  ::close(pipefd[1]);
}

// Only "fd:N" names a descriptor.
TEST(FdOfPeerTest, Forms) {
  EXPECT_EQ(FdOfPeer("fd:12"), 12);
  EXPECT_EQ(FdOfPeer("fd:0"), 0);
  EXPECT_EQ(FdOfPeer("fd:"), std::nullopt);
  EXPECT_EQ(FdOfPeer("fd:12x"), std::nullopt);
  EXPECT_EQ(FdOfPeer("fd:-1"), std::nullopt);
  EXPECT_EQ(FdOfPeer("unix:/tmp/x.sock"), std::nullopt);
  EXPECT_EQ(FdOfPeer("ipv4:127.0.0.1:5"), std::nullopt);
}

// A recorded connection is found by its peer string; anything else is unknown.
TEST(PeerTableTest, LookupByPeerString) {
  PeerTable t;
  SocketPair p;
  PeerCredentials c{.uid = 1000, .gid = 1001, .pid = 42, .groups = {7}, .known = true};
  t.Add(p.fds[0], c);
  PeerCredentials got = t.Lookup(Peer(p.fds[0]));
  EXPECT_TRUE(got.known);
  EXPECT_EQ(got.uid, 1000u);
  EXPECT_EQ(got.groups, std::vector<uint32_t>{7});
  EXPECT_FALSE(t.Lookup(Peer(p.fds[1])).known) << "never recorded";
  EXPECT_FALSE(t.Lookup("unix:/x").known);
}

// The connection ended and its number went to another socket: the old entry
// must not vouch for the new one.
TEST(PeerTableTest, ReusedNumberIsUnknown) {
  PeerTable t;
  SocketPair first;
  const int n = first.fds[0];
  t.Add(n, PeerCredentials{.uid = 0, .known = true});
  ::close(n);
  first.fds[0] = -1;
  EXPECT_FALSE(t.Lookup(Peer(n)).known) << "closed";
  SocketPair second;  // the kernel hands out the lowest free number: n again
  ASSERT_EQ(second.fds[0], n);
  EXPECT_FALSE(t.Lookup(Peer(n)).known) << "another socket now holds the number";
  t.Add(n, PeerCredentials{.uid = 1000, .known = true});
  EXPECT_EQ(t.Lookup(Peer(n)).uid, 1000u);
}

// Entries of ended connections are pruned as connections come and go.
TEST(PeerTableTest, PrunesEndedConnections) {
  PeerTable t;
  {
    std::vector<std::unique_ptr<SocketPair>> ended;
    for (int i = 0; i < 10; ++i) {
      ended.push_back(std::make_unique<SocketPair>());
      t.Add(ended.back()->fds[0], PeerCredentials{.known = true});
    }
    EXPECT_EQ(t.size(), 10u);
  }
  SocketPair live;
  for (uint64_t i = 0; i < PeerTable::kPruneEvery; ++i) t.Add(live.fds[0], PeerCredentials{.known = true});
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.Lookup(Peer(live.fds[0])).known);
}

}  // namespace
}  // namespace deviceapi::apiserver
