#include "client/reflector.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "deviceapi/errors.h"

namespace deviceapi::client {

bool ResourceVersionNewer(const std::string& a, const std::string& b) {
  if (b.empty()) return !a.empty();
  if (a.empty()) return false;
  uint64_t x = 0, y = 0;
  if (absl::SimpleAtoi(a, &x) && absl::SimpleAtoi(b, &y)) return x > y;
  return a != b;
}

BackoffManager::BackoffManager(const ReflectorOptions& o, uint64_t seed) : opts_(o), rng_(seed) {}

double BackoffManager::Uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

absl::Duration BackoffManager::Next(absl::Time now) {
  if (now - last_failure_ >= opts_.backoff_reset_after) current_ = absl::ZeroDuration();
  last_failure_ = now;
  current_ =
      current_ == absl::ZeroDuration() ? opts_.initial_backoff : std::min(current_ * 2, opts_.max_backoff);
  return current_ * (1.0 + opts_.backoff_jitter * Uniform());
}

namespace {
uint64_t SeedOf(const ReflectorOptions& o) { return o.seed != 0 ? o.seed : std::random_device{}(); }
}  // namespace

Reflector::Reflector(GpuInterface& client, ListOptions base, ReflectorOptions options, ReflectorStore& store)
    : client_(client),
      base_(std::move(base)),
      opts_(options),
      store_(store),
      backoff_(options, SeedOf(options)) {}

void Reflector::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  if (watch_ != nullptr) watch_->Stop();
}

bool Reflector::Stopped() const {
  absl::MutexLock lock(&mu_);
  return stopped_;
}

bool Reflector::Sleep(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopped_), d);
  return !stopped_;
}

void Reflector::RecordError(const absl::Status& s) { stats_.last_error = s; }

void Reflector::FillStats(InformerStats& stats) const {
  absl::MutexLock lock(&mu_);
  stats.list_errors = stats_.list_errors;
  stats.watch_starts = stats_.watch_starts;
  stats.watch_restarts = stats_.watch_restarts;
  stats.watch_errors = stats_.watch_errors;
  stats.last_error = stats_.last_error;
}

absl::Status Reflector::ListAndReplace() {
  ListOptions lo = base_;
  lo.resource_version.clear();  // a consistent (latest) read
  lo.limit = std::max<int64_t>(opts_.page_size, 0);
  lo.call_timeout = opts_.list_timeout;
  std::vector<v1::Gpu> items;
  std::string rv;
  for (;;) {
    absl::StatusOr<v1::GpuList> page = client_.List(lo);
    if (!page.ok()) {
      if (errors::IsGone(page.status()) && !lo.continue_token.empty()) {
        // The snapshot we were paging through left the history window: list again in one piece.
        items.clear();
        rv.clear();
        lo.continue_token.clear();
        lo.limit = 0;
        continue;
      }
      return page.status();
    }
    if (rv.empty()) rv = page->metadata().resource_version();
    for (auto& item : *page->mutable_items()) items.push_back(std::move(item));
    if (page->metadata().continue_().empty()) break;
    lo.continue_token = page->metadata().continue_();
    if (Stopped()) return absl::CancelledError("reflector stopped");
  }
  if (!store_.Replace(std::move(items), rv)) {
    return absl::UnavailableError("list at resource version " + rv + " is older than the cache at " +
                                  store_.ResourceVersion());
  }
  return absl::OkStatus();
}

void Reflector::Run() {
  bool need_list = true;
  while (!Stopped()) {
    if (need_list) {
      absl::Status s = ListAndReplace();
      if (Stopped()) return;
      if (!s.ok()) {
        {
          absl::MutexLock lock(&mu_);
          ++stats_.list_errors;
          RecordError(s);
        }
        if (!Sleep(backoff_.Next(absl::Now()))) return;
        continue;
      }
      need_list = false;
    }

    ListOptions wo = base_;
    wo.resource_version = store_.ResourceVersion();
    wo.allow_watch_bookmarks = true;
    const double lo = absl::ToDoubleSeconds(opts_.min_watch_timeout);
    const double hi = std::max(lo, absl::ToDoubleSeconds(opts_.max_watch_timeout));
    wo.timeout_seconds =
        std::max<int64_t>(1, static_cast<int64_t>(std::ceil(lo + (hi - lo) * backoff_.Uniform())));
    absl::StatusOr<WatchPtr> w = client_.Watch(wo);
    if (!w.ok()) {
      {
        absl::MutexLock lock(&mu_);
        ++stats_.watch_errors;
        RecordError(w.status());
      }
      if (errors::IsGone(w.status())) need_list = true;
      if (!Sleep(backoff_.Next(absl::Now()))) return;
      continue;
    }
    WatchPtr watch = std::move(*w);
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      watch_ = watch.get();
      ++stats_.watch_starts;
    }
    while (std::optional<WatchEvent> ev = watch->Next()) store_.Apply(std::move(*ev));
    std::optional<WatchResult> result = watch->WaitUntil(absl::InfiniteFuture());
    {
      absl::MutexLock lock(&mu_);
      watch_ = nullptr;
      if (stopped_) return;
    }
    watch.reset();
    const WatchEndAction action = result.has_value() ? result->action : WatchEndAction::kResume;
    const absl::Status status = result.has_value() ? result->status : absl::UnknownError("watch ended");
    bool sleep = !status.ok();
    {
      absl::MutexLock lock(&mu_);
      if (!status.ok()) {
        ++stats_.watch_errors;
        RecordError(status);
      }
      switch (action) {
        case WatchEndAction::kResume:
        case WatchEndAction::kStopped:  // stopped by someone else: carry on
          ++stats_.watch_restarts;
          break;
        case WatchEndAction::kRelist:
        case WatchEndAction::kFail:
          need_list = true;
          sleep = true;
          break;
      }
    }
    if (sleep && !Sleep(backoff_.Next(absl::Now()))) return;
  }
}

}  // namespace deviceapi::client
