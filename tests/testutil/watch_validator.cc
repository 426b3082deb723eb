#include "testutil/watch_validator.h"

#include <algorithm>
#include <utility>

#include <google/protobuf/util/message_differencer.h>

#include "absl/strings/str_cat.h"
#include "apimachinery/selector.h"

namespace deviceapi::testing {
namespace {

constexpr size_t kRecentRvs = 4096;

const char* WriteKindName(WriteKind kind) {
  switch (kind) {
    case WriteKind::kCreate:
      return "create";
    case WriteKind::kUpdate:
      return "update";
    case WriteKind::kDelete:
      return "delete";
  }
  return "?";
}

EventType ExpectedType(WriteKind kind) {
  switch (kind) {
    case WriteKind::kCreate:
      return EventType::kAdded;
    case WriteKind::kUpdate:
      return EventType::kModified;
    case WriteKind::kDelete:
      return EventType::kDeleted;
  }
  return EventType::kModified;
}

// What an attempt is recognised by: the status as sent (the server fills in times).
bool SameStatus(const v1::Gpu& a, const v1::Gpu& b) {
  const auto& sa = a.status();
  const auto& sb = b.status();
  if (sa.recommended_action() != sb.recommended_action()) return false;
  if (sa.conditions_size() != sb.conditions_size()) return false;
  for (int i = 0; i < sa.conditions_size(); ++i) {
    const auto& ca = sa.conditions(i);
    const auto& cb = sb.conditions(i);
    if (ca.type() != cb.type() || ca.status() != cb.status() || ca.reason() != cb.reason() ||
        ca.message() != cb.message()) {
      return false;
    }
  }
  return true;
}

std::string Short(const v1::Gpu& gpu) {
  std::string s = absl::StrCat(ObjectKey(gpu), "@", gpu.metadata().resource_version(), " [");
  for (const auto& c : gpu.status().conditions()) {
    absl::StrAppend(&s, c.type(), "=", c.status(), " ", c.reason(), " \"", c.message(), "\"; ");
  }
  return s + "]";
}

}  // namespace

std::string ObjectKey(const v1::Gpu& gpu) {
  const std::string& ns = gpu.metadata().namespace_();
  return absl::StrCat(ns.empty() ? "default" : ns, "/", gpu.metadata().name());
}

// ---------------------------------------------------------------------------------------------
// WriteHistory

uint64_t WriteHistory::BeginWrite() {
  absl::MutexLock l(&mu_);
  const uint64_t t = next_ticket_++;
  open_tickets_.insert(t);
  return t;
}

void WriteHistory::EndTicket(uint64_t ticket) { open_tickets_.erase(ticket); }

void WriteHistory::RecordAck(uint64_t ticket, WriteKind kind, const v1::Gpu& object) {
  RecordedWrite w{kind, 0, object};
  w.rv = std::strtoull(object.metadata().resource_version().c_str(), nullptr, 10);
  const std::string key = ObjectKey(object);
  absl::MutexLock l(&mu_);
  EndTicket(ticket);
  ++acked_;
  auto it = last_ack_.find(key);
  if (it == last_ack_.end() || it->second.rv < w.rv) {
    last_ack_[key] = w;
    pending_.erase(key);
  }
  attempts_.try_emplace(key);
  acks_[w.rv] = std::move(w);
}

void WriteHistory::RecordAttempt(uint64_t ticket, WriteKind kind, const v1::Gpu& attempted) {
  const std::string key = ObjectKey(attempted);
  absl::MutexLock l(&mu_);
  EndTicket(ticket);
  ++attempted_;
  attempts_[key].push_back(RecordedWrite{kind, 0, attempted});
  pending_[key].push_back(RecordedWrite{kind, 0, attempted});
}

void WriteHistory::RecordFailure(uint64_t ticket) {
  absl::MutexLock l(&mu_);
  EndTicket(ticket);
}

uint64_t WriteHistory::LastTicket() const {
  absl::MutexLock l(&mu_);
  return next_ticket_ - 1;
}

bool WriteHistory::Settled(uint64_t ticket) const {
  absl::MutexLock l(&mu_);
  return open_tickets_.empty() || *open_tickets_.begin() > ticket;
}

void WriteHistory::PruneBelow(uint64_t rv) {
  absl::MutexLock l(&mu_);
  acks_.erase(acks_.begin(), acks_.lower_bound(rv));
}

bool WriteHistory::Covers(const std::string& key) const {
  absl::MutexLock l(&mu_);
  return attempts_.count(key) > 0;
}

std::optional<RecordedWrite> WriteHistory::AckAt(uint64_t rv) const {
  absl::MutexLock l(&mu_);
  auto it = acks_.find(rv);
  if (it == acks_.end()) return std::nullopt;
  return it->second;
}

std::vector<RecordedWrite> WriteHistory::AcksIn(uint64_t from, uint64_t to) const {
  std::vector<RecordedWrite> out;
  absl::MutexLock l(&mu_);
  for (auto it = acks_.upper_bound(from); it != acks_.end() && it->first <= to; ++it)
    out.push_back(it->second);
  return out;
}

bool WriteHistory::MatchesAttempt(const std::string& key, const v1::Gpu& obj) const {
  absl::MutexLock l(&mu_);
  auto it = attempts_.find(key);
  if (it == attempts_.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(),
                     [&](const RecordedWrite& w) { return SameStatus(w.object, obj); });
}

std::map<std::string, RecordedWrite> WriteHistory::LastAcks() const {
  absl::MutexLock l(&mu_);
  return last_ack_;
}

std::vector<RecordedWrite> WriteHistory::PendingAttempts(const std::string& key) const {
  absl::MutexLock l(&mu_);
  auto it = pending_.find(key);
  return it == pending_.end() ? std::vector<RecordedWrite>{} : it->second;
}

uint64_t WriteHistory::acked() const {
  absl::MutexLock l(&mu_);
  return acked_;
}

uint64_t WriteHistory::attempts() const {
  absl::MutexLock l(&mu_);
  return attempted_;
}

// ---------------------------------------------------------------------------------------------
// Violations

uint64_t WatchSegment::LastSeen() const {
  uint64_t last = 0;
  for (const auto& e : events) last = std::max(last, e.rv);
  return last;
}

const char* ViolationKindName(ViolationKind kind) {
  switch (kind) {
    case ViolationKind::kOrder:
      return "order";
    case ViolationKind::kDuplicate:
      return "duplicate";
    case ViolationKind::kGap:
      return "gap";
    case ViolationKind::kAtomic:
      return "atomic";
    case ViolationKind::kUnknown:
      return "unknown";
    case ViolationKind::kResume:
      return "resume";
    case ViolationKind::kBookmark:
      return "bookmark";
    case ViolationKind::kSelector:
      return "selector";
  }
  return "?";
}

std::string Violation::ToString() const {
  return absl::StrCat("watch ", watch, " segment ", segment, ": ", ViolationKindName(kind), ": ", text);
}

// ---------------------------------------------------------------------------------------------
// WatchChecker

WatchChecker::WatchChecker(std::string id, WatchFilter filter)
    : id_(std::move(id)), filter_(std::move(filter)) {
  auto ls = apimachinery::LabelSelector::Parse(filter_.label_selector);
  auto fs = apimachinery::FieldSelector::Parse(filter_.field_selector);
  if (!ls.ok() || !fs.ok()) {
    filter_ok_ = false;
    filter_error_ = !ls.ok() ? ls.status().ToString() : fs.status().ToString();
  }
}

bool WatchChecker::Matches(const v1::Gpu& obj) const {
  const std::string& raw_ns = obj.metadata().namespace_();
  const std::string ns = raw_ns.empty() ? "default" : raw_ns;
  if (!filter_.ns.empty() && filter_.ns != ns) return false;
  if (!filter_ok_) return true;
  // Parsed again per call: the selectors are small and this keeps the checker copyable.
  auto ls = apimachinery::LabelSelector::Parse(filter_.label_selector);
  auto fs = apimachinery::FieldSelector::Parse(filter_.field_selector);
  return ls->Matches(obj.metadata().labels()) && fs->Matches(obj.metadata().name(), ns);
}

void WatchChecker::Add(std::vector<Violation>* out, ViolationKind kind, std::string text) const {
  out->push_back(Violation{kind, id_, segment_, std::move(text)});
}

void WatchChecker::CheckSegment(const WriteHistory& history, const WatchSegment& seg,
                                std::vector<Violation>* out) {
  ++segment_;
  ++stats_.segments;
  if (!filter_ok_)
    Add(out, ViolationKind::kSelector, "the watch's selector does not parse: " + filter_error_);
  if (seg.resumed && segment_ > 1 && seg.start_rv != last_seen_) {
    Add(out, ViolationKind::kResume,
        absl::StrCat("resumed from RV ", seg.start_rv, " but the previous segment ended at RV ", last_seen_));
  }
  uint64_t seen = seg.start_rv;
  bool after_bookmark = false;
  uint64_t bookmark_rv = 0;
  std::set<uint64_t> delivered;
  for (size_t i = 0; i < seg.events.size(); ++i) {
    const RecordedEvent& e = seg.events[i];
    const std::string where =
        absl::StrCat("event ", i, " (", std::string(EventTypeName(e.type)), " RV ", e.rv, ")");
    if (e.type == EventType::kBookmark) {
      ++stats_.bookmarks;
      if (e.rv < seen || e.rv < last_seen_) {
        Add(out, ViolationKind::kBookmark,
            absl::StrCat(where, ": bookmark goes back below RV ", std::max(seen, last_seen_)));
      }
      seen = std::max(seen, e.rv);
      after_bookmark = true;
      bookmark_rv = std::max(bookmark_rv, e.rv);
      continue;
    }
    ++stats_.events;
    if (i == 0 && seg.resumed && e.rv <= seg.start_rv) {
      Add(out, ViolationKind::kResume,
          absl::StrCat(where, ": first event of a resumed segment is not after its start RV ", seg.start_rv));
    }
    if (e.rv <= seen || e.rv <= last_seen_) {
      if (recent_set_.count(e.rv) || delivered.count(e.rv)) {
        Add(out, ViolationKind::kDuplicate, absl::StrCat(where, ": RV ", e.rv, " was already delivered"));
      } else if (after_bookmark && e.rv <= bookmark_rv) {
        Add(out, ViolationKind::kBookmark,
            absl::StrCat(where, ": event at or below an earlier bookmark's RV ", bookmark_rv));
      } else {
        Add(out, ViolationKind::kOrder,
            absl::StrCat(where, ": RV not above the last RV seen ", std::max(seen, last_seen_)));
      }
    }
    seen = std::max(seen, e.rv);
    delivered.insert(e.rv);
    recent_.push_back(e.rv);
    recent_set_.insert(e.rv);
    if (recent_.size() > kRecentRvs) {
      recent_set_.erase(recent_.front());
      recent_.pop_front();
    }
    if (!Matches(e.object)) {
      Add(out, ViolationKind::kSelector,
          absl::StrCat(where, ": ", ObjectKey(e.object), " does not match the watch"));
    }
    if (e.object.metadata().resource_version() != std::to_string(e.rv)) {
      Add(out, ViolationKind::kAtomic,
          absl::StrCat(where, ": the object carries RV \"", e.object.metadata().resource_version(), "\""));
    }
    const std::string key = ObjectKey(e.object);
    if (!history.Covers(key)) {
      ++stats_.foreign_events;
      continue;
    }
    ++stats_.covered_events;
    auto w = history.AckAt(e.rv);
    if (w) {
      if (ObjectKey(w->object) != key) {
        Add(out, ViolationKind::kAtomic,
            absl::StrCat(where, ": delivered ", key, " but the write at this RV was to ",
                         ObjectKey(w->object)));
      } else if (ExpectedType(w->kind) != e.type) {
        Add(out, ViolationKind::kAtomic,
            absl::StrCat(where, ": the write at this RV was a ", WriteKindName(w->kind), ", delivered as ",
                         std::string(EventTypeName(e.type))));
      } else if (!google::protobuf::util::MessageDifferencer::Equals(w->object, e.object)) {
        Add(out, ViolationKind::kAtomic,
            absl::StrCat(where, ": object differs from the one written: delivered ", Short(e.object),
                         ", written ", Short(w->object)));
      }
    } else if (history.MatchesAttempt(key, e.object)) {
      ++stats_.unacked_matched;
    } else {
      Add(out, ViolationKind::kUnknown,
          absl::StrCat(where, ": ", Short(e.object), " matches no write in the history"));
    }
  }
  // Gaps: everything acknowledged in (start, seen] that this watch should see (what is at or below
  // the previous segments' last RV was theirs to deliver, and checked with them).
  const uint64_t from = std::max(seg.start_rv, last_seen_);
  if (seen > from) {
    for (const RecordedWrite& w : history.AcksIn(from, seen)) {
      if (!Matches(w.object)) continue;
      ++stats_.gap_checked;
      if (!delivered.count(w.rv)) {
        Add(out, ViolationKind::kGap,
            absl::StrCat("the ", WriteKindName(w.kind), " of ", ObjectKey(w.object), " at RV ", w.rv,
                         " was not delivered (segment from RV ", seg.start_rv, " saw up to RV ", seen, ")"));
      }
    }
  }
  last_seen_ = std::max(last_seen_, seen);
}

std::vector<Violation> ValidateWatches(const WriteHistory& history, const std::vector<RecordedWatch>& watches,
                                       WatchCheckStats* total) {
  std::vector<Violation> out;
  for (const auto& w : watches) {
    WatchChecker checker(w.id, w.filter);
    for (const auto& seg : w.segments) checker.CheckSegment(history, seg, &out);
    if (total) {
      const auto& s = checker.stats();
      total->segments += s.segments;
      total->events += s.events;
      total->bookmarks += s.bookmarks;
      total->covered_events += s.covered_events;
      total->foreign_events += s.foreign_events;
      total->unacked_matched += s.unacked_matched;
      total->gap_checked += s.gap_checked;
    }
  }
  return out;
}

}  // namespace deviceapi::testing
