#include "apiserver/peer_table.h"

#include <sys/stat.h>

#include <charconv>

namespace deviceapi::apiserver {

namespace {

// Whether descriptor `fd` is open and is the file (dev, ino).
bool Is(int fd, dev_t dev, ino_t ino) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

}  // namespace

std::optional<int> FdOfPeer(std::string_view peer) {
  constexpr std::string_view kPrefix = "fd:";
  if (!peer.starts_with(kPrefix)) return std::nullopt;
  peer.remove_prefix(kPrefix.size());
  int fd = -1;
  auto [end, ec] = std::from_chars(peer.data(), peer.data() + peer.size(), fd);
  if (ec != std::errc() || end != peer.data() + peer.size() || fd < 0) return std::nullopt;
  return fd;
}

void PeerTable::Add(int fd, const PeerCredentials& creds) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return;  // not open: nothing to record
  absl::MutexLock l(&mu_);
  entries_[fd] = Entry{creds, st.st_dev, st.st_ino};
  if (++adds_ % kPruneEvery == 0) PruneLocked();
}

void PeerTable::PruneLocked() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto cur = it++;
    if (!Is(cur->first, cur->second.dev, cur->second.ino)) entries_.erase(cur);
  }
}

PeerCredentials PeerTable::Lookup(std::string_view peer) const {
  const std::optional<int> fd = FdOfPeer(peer);
  if (!fd) return {};
  Entry e;
  {
    absl::ReaderMutexLock l(&mu_);
    auto it = entries_.find(*fd);
    if (it == entries_.end()) return {};
    e = it->second;
  }
  // Checked after the copy: a connection that ended and whose number was
  // taken again since has another inode, whichever entry was copied.
  if (!Is(*fd, e.dev, e.ino)) return {};
  return e.creds;
}

size_t PeerTable::size() const {
  absl::ReaderMutexLock l(&mu_);
  return entries_.size();
}

}  // namespace deviceapi::apiserver
