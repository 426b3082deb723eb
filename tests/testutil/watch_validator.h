// Watch validators: check recorded watch streams against the history of acknowledged writes.
//
// A WriteHistory records every write the test made (thread-safe; writers record as they go). A
// watch is recorded as segments: each segment is one Watch call from a start RV (the RV of a List
// for a fresh watch, or the last RV the previous segment saw when the watch was resumed), with
// the events it delivered (BOOKMARKs included). A WatchChecker validates the segments of one
// watch, in order, and reports violations as text:
//
//   order      event RVs strictly increase within a watch, across its segments too
//   duplicate  no RV is delivered twice
//   gap        every acknowledged write with an RV in (segment start, last RV seen] (bookmarks
//              included: a bookmark at b promises everything up to b was sent) whose written
//              object matches the watch's namespace and selectors was delivered
//   atomic     an event for an object the history covers equals, field for field, the object the
//              write at that RV returned (no torn or merged states), with the matching type
//              (ADDED for a create, MODIFIED for an update, DELETED for a delete)
//   unknown    an event for a covered object at an RV no acknowledged write has, whose status
//              matches no write whose outcome is unknown (see below)
//   resume     a resumed segment starts exactly at the previous segment's last RV seen, and its
//              first event is above it
//   bookmark   a bookmark never goes back (below the last RV seen) and no later event comes at or
//              below a bookmark's RV
//
// Coverage (the choice for writes by others): the history is authoritative for the objects it
// names (namespace/name of any recorded write) and for nothing else. Events for other objects (a
// provider's GPUs and heartbeats, writes of the server itself) are checked for order, uniqueness
// and bookmarks only. A test that wants full checks must route every write of the objects it
// covers through the history.
//
// Writes whose outcome is unknown (the call failed with UNAVAILABLE / DEADLINE_EXCEEDED while the
// server was killed) are recorded with RecordAttempt: such a write may or may not have been
// committed. An event for a covered object at an unknown RV is accepted when its status (the
// conditions' type/status/reason/message and the recommended action) equals that of an attempt
// on the same object; it is then counted in WatchCheckStats::unacked_matched.
//
// Not modelled: initial events (watches are expected to start from an explicit RV, as a
// reflector does), and objects moving in or out of a label selector (writes are matched on the
// written object's labels).
//
// Validating incrementally: a segment can be checked as soon as every write that may have been
// delivered in it is recorded. Writers call BeginWrite() before the call and Record*() after;
// CheckSegment is safe once Settled(ticket) holds for a ticket taken after the segment ended.
// PruneBelow() drops acknowledged writes no future segment can need.
#ifndef DEVICEAPI_TESTS_TESTUTIL_WATCH_VALIDATOR_H_
#define DEVICEAPI_TESTS_TESTUTIL_WATCH_VALIDATOR_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "device/v1alpha1/gpu.pb.h"
#include "deviceapi/event_type.h"

namespace deviceapi::testing {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

enum class WriteKind { kCreate, kUpdate, kDelete };

struct RecordedWrite {
  WriteKind kind = WriteKind::kUpdate;
  uint64_t rv = 0;  // 0 for an attempt whose outcome is unknown
  v1::Gpu object;   // acknowledged: as returned (delete: the last state, with the deletion RV)
};

// The writes of a test. Thread-safe.
class WriteHistory {
 public:
  // Call before each write; pass the ticket to the matching Record*() call.
  uint64_t BeginWrite();
  // An acknowledged write: `object` as the server returned it (its RV is the write's RV).
  void RecordAck(uint64_t ticket, WriteKind kind, const v1::Gpu& object);
  // A write whose outcome is unknown: `attempted` is what was sent (its namespace/name identify
  // the object; the namespace "" means "default").
  void RecordAttempt(uint64_t ticket, WriteKind kind, const v1::Gpu& attempted);
  // A write known to have failed (no effect): only ends the ticket.
  void RecordFailure(uint64_t ticket);

  // The latest ticket handed out; every write that began before now has a ticket <= it.
  uint64_t LastTicket() const;
  // True once every write with a ticket <= `ticket` has been recorded.
  bool Settled(uint64_t ticket) const;

  // Drops acknowledged writes with RV < `rv` (no segment starting at or above rv needs them).
  void PruneBelow(uint64_t rv);

  bool Covers(const std::string& key) const;
  // The acknowledged write at `rv`, if any.
  std::optional<RecordedWrite> AckAt(uint64_t rv) const;
  // Acknowledged writes with RV in (from, to], in RV order.
  std::vector<RecordedWrite> AcksIn(uint64_t from, uint64_t to) const;
  // Whether an attempt on `key` has the status of `obj` (see the header comment).
  bool MatchesAttempt(const std::string& key, const v1::Gpu& obj) const;
  // The last acknowledged write of each covered object (never pruned), by key.
  std::map<std::string, RecordedWrite> LastAcks() const;
  // Attempts (unknown outcome) recorded for `key` after its last acknowledged write.
  std::vector<RecordedWrite> PendingAttempts(const std::string& key) const;
  uint64_t acked() const;
  uint64_t attempts() const;

 private:
  void EndTicket(uint64_t ticket) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  std::set<uint64_t> open_tickets_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, RecordedWrite> acks_ ABSL_GUARDED_BY(mu_);  // by RV
  std::map<std::string, RecordedWrite> last_ack_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<RecordedWrite>> attempts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<RecordedWrite>> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t attempted_ ABSL_GUARDED_BY(mu_) = 0;
};

// "namespace/name" ("default" for an empty namespace).
std::string ObjectKey(const v1::Gpu& gpu);

struct RecordedEvent {
  EventType type = EventType::kAdded;
  uint64_t rv = 0;
  v1::Gpu object;
};

struct WatchSegment {
  uint64_t start_rv = 0;
  bool resumed = false;  // true: started from the previous segment's last RV seen
  std::vector<RecordedEvent> events;
  // The RV the watcher considers seen at the end (the last event or bookmark); 0: none.
  uint64_t LastSeen() const;
};

struct WatchFilter {
  std::string ns;  // "": all namespaces
  std::string label_selector;
  std::string field_selector;
};

enum class ViolationKind { kOrder, kDuplicate, kGap, kAtomic, kUnknown, kResume, kBookmark, kSelector };
const char* ViolationKindName(ViolationKind kind);

struct Violation {
  ViolationKind kind;
  std::string watch;
  int segment = 0;
  std::string text;
  std::string ToString() const;  // "watch w3 segment 2: gap: ..."
};

struct WatchCheckStats {
  uint64_t segments = 0;
  uint64_t events = 0;  // bookmarks excluded
  uint64_t bookmarks = 0;
  uint64_t covered_events = 0;  // events checked against the history (atomic)
  uint64_t foreign_events = 0;  // events for objects the history does not cover
  uint64_t unacked_matched = 0;
  uint64_t gap_checked = 0;  // acknowledged writes required (and found or reported) in segments
};

// The state of one watch across its segments.
class WatchChecker {
 public:
  WatchChecker(std::string id, WatchFilter filter);
  // Checks the next segment; appends violations to `out`.
  void CheckSegment(const WriteHistory& history, const WatchSegment& segment, std::vector<Violation>* out);
  const WatchCheckStats& stats() const { return stats_; }
  uint64_t last_seen() const { return last_seen_; }

 private:
  bool Matches(const v1::Gpu& obj) const;
  void Add(std::vector<Violation>* out, ViolationKind kind, std::string text) const;

  std::string id_;
  WatchFilter filter_;
  bool filter_ok_ = true;
  std::string filter_error_;
  int segment_ = 0;
  uint64_t last_seen_ = 0;
  std::deque<uint64_t> recent_;  // the last RVs delivered (for telling duplicates from reordering)
  std::set<uint64_t> recent_set_;
  WatchCheckStats stats_;
};

// One recorded watch: all its segments.
struct RecordedWatch {
  std::string id;
  WatchFilter filter;
  std::vector<WatchSegment> segments;
};

// Checks whole recorded watches against a (settled) history.
std::vector<Violation> ValidateWatches(const WriteHistory& history, const std::vector<RecordedWatch>& watches,
                                       WatchCheckStats* total = nullptr);

}  // namespace deviceapi::testing

#endif  // DEVICEAPI_TESTS_TESTUTIL_WATCH_VALIDATOR_H_
