#include "apiserver/gpu_registry.h"

#include <algorithm>
#include <cstring>
#include <random>

#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "apimachinery/conditions.h"
#include "apimachinery/errors.h"
#include "apimachinery/patch.h"
#include "apimachinery/resource_version.h"
#include "apimachinery/selector.h"
#include "common/strings.h"

namespace deviceapi::apiserver {

namespace am = ::deviceapi::apimachinery;
using google::protobuf::util::MessageDifferencer;

namespace {

std::string NewUid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t a = rng(), b = rng();
  // RFC 4122 version 4, variant 1.
  return absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", static_cast<uint32_t>(a >> 32),
                         static_cast<uint32_t>(a >> 16) & 0xffff, static_cast<uint32_t>(a) & 0x0fff,
                         (static_cast<uint32_t>(b >> 48) & 0x3fff) | 0x8000, b & 0xffffffffffffULL);
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t us = absl::ToUnixMicros(t);
  ts.set_seconds(us / 1000000);
  ts.set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
  return ts;
}

// True when `msg` encodes to exactly `bytes` (encoded into a per-thread
// buffer: no allocation once it has grown to the usual size).
bool EncodesTo(const google::protobuf::MessageLite& msg, std::string_view bytes) {
  const size_t size = msg.ByteSizeLong();
  if (size != bytes.size()) return false;
  thread_local std::string buf;
  if (buf.size() < size) buf.resize(size);
  msg.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(buf.data()));
  return std::memcmp(buf.data(), bytes.data(), size) == 0;
}

bool IsSet(const google::protobuf::Timestamp& ts) { return ts.seconds() != 0 || ts.nanos() != 0; }

am::FieldError Immutable(std::string field, std::string_view value) {
  return {std::move(field), "Invalid value: \"" + std::string(value) + "\": field is immutable"};
}

std::string TimestampString(const google::protobuf::Timestamp& ts) {
  return google::protobuf::util::TimeUtil::ToString(ts);
}

// A resource_version given in a request must at least be a number.
absl::Status CheckRvSyntax(std::string_view rv) {
  if (rv.empty()) return absl::OkStatus();
  return am::ParseResourceVersion(rv).status();
}

// The part of List and Watch requests that selects objects: namespace, label
// and field selectors; also checks the options both verbs share.
absl::StatusOr<am::ResourceVersionMatch> ParseSelection(const std::string& ns, const v1::ListOptions& opts,
                                                        storage::Filter* filter) {
  if (!ns.empty()) {
    if (auto s = am::ValidateNamespace(ns); !s.ok()) return s;
    filter->ns = ns;
  }
  auto label = am::LabelSelector::Parse(opts.label_selector());
  if (!label.ok()) return label.status();
  auto field = am::FieldSelector::Parse(opts.field_selector());
  if (!field.ok()) return field.status();
  if (opts.timeout_seconds() < 0) return am::BadRequestError("timeoutSeconds must not be negative");
  filter->label = std::move(*label);
  filter->field = std::move(*field);
  return am::ParseResourceVersionMatch(opts.resource_version_match());
}

}  // namespace

GpuRegistry::GpuRegistry(storage::StorePtr store, RegistryOptions opts)
    : store_(std::move(store)), opts_(std::move(opts)) {}

absl::StatusOr<storage::ObjectKey> GpuRegistry::KeyFor(std::string_view ns, std::string_view name) {
  storage::ObjectKey key{ns.empty() ? std::string(kDefaultNamespace) : std::string(ns), std::string(name)};
  if (auto s = am::ValidateObjectName(key.name); !s.ok()) return s;
  if (auto s = am::ValidateNamespace(key.ns); !s.ok()) return s;
  return key;
}

absl::Status GpuRegistry::Validate(const v1::Gpu& gpu) { return am::ValidateGpu(gpu, opts_.limits); }

absl::StatusOr<storage::StoredPtr> GpuRegistry::Get(const v1::GetGpuRequest& req) {
  auto key = KeyFor(req.namespace_(), req.name());
  if (!key.ok()) return key.status();
  return store_->Get(*key, req.opts().resource_version());
}

absl::StatusOr<storage::ListResult> GpuRegistry::List(const v1::ListGpusRequest& req) {
  storage::ListOptions o;
  const auto& opts = req.opts();
  auto match = ParseSelection(req.namespace_(), opts, &o.filter);
  if (!match.ok()) return match.status();
  if (opts.limit() < 0) return am::BadRequestError("limit must not be negative");
  o.resource_version = opts.resource_version();
  o.match = *match;
  o.limit = opts.limit();
  o.continue_token = opts.continue_();
  return store_->List(o);
}

void GpuRegistry::Create(const v1::CreateGpuRequest& req, storage::WriteDone done, StatusCheck check) {
  if (!req.has_gpu()) return done(am::BadRequestError("resource body is required"));
  v1::Gpu gpu = req.gpu();
  auto* md = gpu.mutable_metadata();
  if (md->name().empty())
    return done(am::InvalidError("", {{"metadata.name", "Required value: name is required"}}));
  if (!md->resource_version().empty()) {
    return done(am::InvalidError(md->name(),
                                 {{"metadata.resourceVersion",
                                   "Invalid value: \"" + md->resource_version() +
                                       "\": resourceVersion should not be set on objects to be created"}}));
  }
  if (md->namespace_().empty()) md->set_namespace_(std::string(kDefaultNamespace));
  const absl::Time now = opts_.clock();
  md->set_uid(NewUid());
  *md->mutable_creation_timestamp() = ToProto(now);
  md->set_generation(1);
  am::DefaultTransitionTimes(gpu.mutable_status(), nullptr, now);
  if (auto s = Validate(gpu); !s.ok()) return done(s);
  if (check) {
    if (auto s = check(nullptr, &gpu.status()); !s.ok()) return done(s);
  }
  store_->CreateAsync(std::move(gpu), std::move(done));
}

absl::StatusOr<storage::NextVersion> GpuRegistry::ApplyMain(const v1::Gpu& cur, const v1::Gpu& in) {
  const auto& cm = cur.metadata();
  const auto& im = in.metadata();
  std::vector<am::FieldError> errs;
  if (!im.uid().empty() && im.uid() != cm.uid()) errs.push_back(Immutable("metadata.uid", im.uid()));
  if (IsSet(im.creation_timestamp()) &&
      !MessageDifferencer::Equals(im.creation_timestamp(), cm.creation_timestamp())) {
    errs.push_back(Immutable("metadata.creationTimestamp", TimestampString(im.creation_timestamp())));
  }
  if (!errs.empty()) return am::InvalidError(cm.name(), std::move(errs));
  if (!im.resource_version().empty() && im.resource_version() != cm.resource_version()) {
    return am::ConflictError(cm.name());
  }
  auto next = storage::CopyObject(cur);
  auto* nm = next->mutable_metadata();
  *nm->mutable_labels() = im.labels();
  *nm->mutable_annotations() = im.annotations();
  const bool spec_changed = !MessageDifferencer::Equals(cur.spec(), in.spec());
  if (spec_changed) {
    *next->mutable_spec() = in.spec();
    nm->set_generation(cm.generation() + 1);
  }
  if (!spec_changed && MessageDifferencer::Equals(cur.metadata(), next->metadata())) return nullptr;
  if (auto s = Validate(*next); !s.ok()) return s;
  return next;
}

absl::StatusOr<storage::NextVersion> GpuRegistry::ApplyStatusTo(const storage::StoredObject& cur,
                                                                const v1::ObjectMeta& im,
                                                                const v1::GpuStatus* in_status,
                                                                storage::NextVersion next,
                                                                const StatusCheck& check) {
  const auto& cm = cur.metadata();
  if (!im.uid().empty() && im.uid() != cm.uid()) {
    return am::InvalidError(cm.name(), {Immutable("metadata.uid", im.uid())});
  }
  if (!im.resource_version().empty() && im.resource_version() != cm.resource_version()) {
    return am::ConflictError(cm.name());
  }
  std::string_view spec_bytes, status_bytes;
  storage::ObjectPtr parsed;  // the whole old version, only where the bytes do not do
  if (!cur.SpecAndStatusBytes(&spec_bytes, &status_bytes)) parsed = cur.Object();
  // The old metadata and spec, and the new status (the old status is not
  // copied only to be overwritten).
  *next->mutable_metadata() = cm;
  if (parsed) {
    if (parsed->has_spec()) {
      *next->mutable_spec() = parsed->spec();
    } else {
      next->clear_spec();
    }
  } else if (spec_bytes.empty()) {
    next->clear_spec();
  } else if (!next->mutable_spec()->ParseFromArray(spec_bytes.data(), static_cast<int>(spec_bytes.size()))) {
    return absl::InternalError(common::Cat("stored object ", cm.name(), " does not decode"));
  }
  if (in_status != nullptr) {
    *next->mutable_status() = *in_status;
    // Only a condition that comes without a transition time needs the old one.
    const bool needs_previous =
        std::any_of(next->status().conditions().begin(), next->status().conditions().end(),
                    [](const v1::Condition& c) { return !am::HasTransitionTime(c); });
    if (needs_previous && !parsed) parsed = cur.Object();
    am::DefaultTransitionTimes(next->mutable_status(), parsed ? &parsed->status() : nullptr, opts_.clock());
  }
  // No change: the new status encodes to the stored status's bytes (the
  // encoding of a message without map fields is canonical, so equal bytes
  // are equal messages; a difference that is not one only costs a write).
  if (parsed ? MessageDifferencer::Equals(parsed->status(), next->status())
             : EncodesTo(next->status(), status_bytes)) {
    return nullptr;
  }
  if (auto s = Validate(*next); !s.ok()) return s;
  if (check) {
    v1::GpuStatus old_status;
    if (parsed) {
      old_status = parsed->status();
    } else if (!old_status.ParseFromArray(status_bytes.data(), static_cast<int>(status_bytes.size()))) {
      return absl::InternalError(common::Cat("stored object ", cm.name(), " does not decode"));
    }
    if (auto s = check(&old_status, &next->status()); !s.ok()) return s;
  }
  return next;
}

absl::StatusOr<storage::NextVersion> GpuRegistry::ApplyStatus(const storage::StoredObject& cur,
                                                              const v1::Gpu& in, const StatusCheck& check) {
  return ApplyStatusTo(cur, in.metadata(), &in.status(), storage::NewObjectForParse(cur.bytes().size()),
                       check);
}

void GpuRegistry::Update(const v1::UpdateGpuRequest& req, storage::WriteDone done) {
  if (!req.has_gpu()) return done(am::BadRequestError("resource body is required"));
  const auto& md = req.gpu().metadata();
  auto key = KeyFor(md.namespace_(), md.name());
  if (!key.ok()) return done(key.status());
  if (auto s = CheckRvSyntax(md.resource_version()); !s.ok()) return done(s);
  store_->UpdateAsync(
      *key, [this, &req](const v1::Gpu& cur) { return ApplyMain(cur, req.gpu()); }, std::move(done));
}

absl::StatusOr<storage::ObjectKey> GpuRegistry::StatusWriteKey(const v1::UpdateGpuStatusRequest& req) {
  if (!req.has_gpu()) return am::BadRequestError("resource body is required");
  const auto& md = req.gpu().metadata();
  auto key = KeyFor(md.namespace_(), md.name());
  if (!key.ok()) return key.status();
  if (!req.gpu().has_status()) return am::BadRequestError("status is required");
  if (auto s = CheckRvSyntax(md.resource_version()); !s.ok()) return s;
  return key;
}

void GpuRegistry::UpdateStatus(const v1::UpdateGpuStatusRequest& req, storage::WriteDone done,
                               StatusCheck check) {
  auto key = StatusWriteKey(req);
  if (!key.ok()) return done(key.status());
  store_->UpdateStoredAsync(
      *key,
      [this, &req, check = std::move(check)](const storage::StoredObject& cur) {
        return ApplyStatus(cur, req.gpu(), check);
      },
      std::move(done));
}

void GpuRegistry::UpdateStatus(v1::UpdateGpuStatusRequest* req, storage::WriteDone done, StatusCheck check) {
  google::protobuf::Arena* arena = req->GetArena();
  const auto& conditions = req->gpu().status().conditions();
  if (arena == nullptr || !std::all_of(conditions.begin(), conditions.end(), am::HasTransitionTime)) {
    // copies the status (and fills in transition times)
    return UpdateStatus(*req, std::move(done), std::move(check));
  }
  auto key = StatusWriteKey(*req);
  if (!key.ok()) return done(key.status());
  // The new version is built on the request's arena and takes the request's
  // status by swapping pointers instead of copying 32 conditions' strings.
  // Every condition already has its transition time, so the status needs
  // nothing from the old version and stays as sent across retries. The
  // store serializes the version when it commits and does not keep it
  // (a borrowed NextVersion); the request lives until `done` has run.
  v1::Gpu* next = google::protobuf::Arena::CreateMessage<v1::Gpu>(arena);
  next->mutable_status()->Swap(req->mutable_gpu()->mutable_status());
  store_->UpdateStoredAsync(
      *key,
      [this, req, next, check = std::move(check)](const storage::StoredObject& cur) {
        return ApplyStatusTo(cur, req->gpu().metadata(), nullptr, storage::NextVersion::Borrow(next), check);
      },
      std::move(done));
}

void GpuRegistry::Patch(const v1::PatchGpuRequest& req, storage::WriteDone done, StatusCheck check) {
  auto key = KeyFor(req.namespace_(), req.name());
  if (!key.ok()) return done(key.status());
  auto type = am::ParsePatchType(req.patch_type());
  if (!type.ok()) return done(type.status());
  if (req.data().size() > opts_.max_patch_bytes) {
    return done(am::BadRequestError(
        absl::StrCat("unprocessable content: patch is larger than ", opts_.max_patch_bytes, " bytes")));
  }
  bool status = false;
  for (const auto& sub : req.subresources()) {
    if (sub != "status")
      return done(am::BadRequestError(absl::StrCat("unsupported subresource \"", sub, "\"")));
    status = true;
  }
  store_->UpdateStoredAsync(
      *key,
      [this, &req, type = *type, status, check = std::move(check)](
          const storage::StoredObject& stored) -> absl::StatusOr<storage::NextVersion> {
        const storage::ObjectPtr parsed = stored.Object();
        const v1::Gpu& cur = *parsed;
        auto patched = am::ApplyPatch(cur, type, req.data());
        if (!patched.ok()) return patched.status();
        const auto& cm = cur.metadata();
        const auto& pm = patched->metadata();
        std::vector<am::FieldError> errs;
        if (pm.name() != cm.name()) errs.push_back(Immutable("metadata.name", pm.name()));
        if (pm.namespace_() != cm.namespace_())
          errs.push_back(Immutable("metadata.namespace", pm.namespace_()));
        if (!errs.empty()) return am::InvalidError(cm.name(), std::move(errs));
        if (auto s = CheckRvSyntax(pm.resource_version()); !s.ok()) return s;
        // uid, creationTimestamp and resourceVersion left in the patched object
        // act as preconditions / immutability checks exactly as in an update.
        return status ? ApplyStatus(stored, *patched, check) : ApplyMain(cur, *patched);
      },
      std::move(done));
}

void GpuRegistry::Delete(const v1::DeleteGpuRequest& req, storage::WriteDone done, StatusCheck check) {
  auto key = KeyFor(req.namespace_(), req.name());
  if (!key.ok()) return done(key.status());
  storage::DeletePreconditions pre;
  const auto& p = req.opts().preconditions();
  if (p.has_uid()) pre.uid = p.uid();
  if (p.has_resource_version()) {
    if (auto s = CheckRvSyntax(p.resource_version()); !s.ok()) return done(s);
    pre.resource_version = p.resource_version();
  }
  if (check) return DeleteChecked(*std::move(key), std::move(pre), std::move(check), std::move(done), 5);
  store_->DeleteAsync(*key, pre, std::move(done));
}

void GpuRegistry::DeleteChecked(storage::ObjectKey key, storage::DeletePreconditions pre, StatusCheck check,
                                storage::WriteDone done, int attempts_left) {
  auto cur = store_->Get(key, "");
  if (!cur.ok()) return done(cur.status());
  const storage::ObjectPtr obj = (*cur)->Object();
  if (auto s = check(&obj->status(), nullptr); !s.ok()) return done(s);
  // Delete exactly the version checked. A precondition of the caller's own
  // stays as given: the store refuses it unless it names this version too.
  const bool ours = !pre.resource_version.has_value();
  storage::DeletePreconditions checked = pre;
  if (ours) checked.resource_version = obj->metadata().resource_version();
  store_->DeleteAsync(
      key, checked,
      [this, key, pre = std::move(pre), check = std::move(check), done = std::move(done), ours,
       attempts_left](storage::WriteResult r) mutable {
        // Changed since it was checked: check the new version.
        if (!r.ok() && ours && r.status().code() == absl::StatusCode::kAborted && attempts_left > 1) {
          return DeleteChecked(std::move(key), std::move(pre), std::move(check), std::move(done),
                               attempts_left - 1);
        }
        done(std::move(r));
      });
}

absl::StatusOr<storage::StoredPtr> GpuRegistry::Create(const v1::CreateGpuRequest& req) {
  return storage::AwaitWrite([&](storage::WriteDone done) { Create(req, std::move(done)); });
}

absl::StatusOr<storage::StoredPtr> GpuRegistry::Update(const v1::UpdateGpuRequest& req) {
  return storage::AwaitWrite([&](storage::WriteDone done) { Update(req, std::move(done)); });
}

absl::StatusOr<storage::StoredPtr> GpuRegistry::UpdateStatus(const v1::UpdateGpuStatusRequest& req) {
  return storage::AwaitWrite([&](storage::WriteDone done) { UpdateStatus(req, std::move(done)); });
}

absl::StatusOr<storage::StoredPtr> GpuRegistry::Patch(const v1::PatchGpuRequest& req) {
  return storage::AwaitWrite([&](storage::WriteDone done) { Patch(req, std::move(done)); });
}

absl::StatusOr<storage::StoredPtr> GpuRegistry::Delete(const v1::DeleteGpuRequest& req) {
  return storage::AwaitWrite([&](storage::WriteDone done) { Delete(req, std::move(done)); });
}

absl::StatusOr<storage::WatchOptions> GpuRegistry::WatchOptionsFor(const v1::WatchGpusRequest& req) {
  storage::WatchOptions w;
  const auto& opts = req.opts();
  auto match = ParseSelection(req.namespace_(), opts, &w.filter);
  if (!match.ok()) return match.status();
  w.bookmarks = opts.allow_watch_bookmarks();
  w.timeout = absl::Seconds(opts.timeout_seconds());

  const std::string& rv = opts.resource_version();
  const bool send_initial = opts.has_send_initial_events() && opts.send_initial_events();
  const bool no_initial = opts.has_send_initial_events() && !opts.send_initial_events();
  if (send_initial) {
    if (*match == am::ResourceVersionMatch::kExact) {
      return am::BadRequestError(
          "sendInitialEvents is forbidden with resourceVersionMatch \"Exact\": use \"NotOlderThan\" or leave "
          "it unset");
    }
    if (!rv.empty() && rv != "0") {
      auto n = am::ParseResourceVersion(rv);
      if (!n.ok()) return n.status();
      w.not_older_than = *n;
    }
    w.initial_state = true;
    w.initial_events_end = true;
    return w;
  }
  if (*match != am::ResourceVersionMatch::kUnset) {
    return am::BadRequestError(
        "resourceVersionMatch is forbidden for watch unless sendInitialEvents is true");
  }
  if (rv.empty() || rv == "0") {
    w.initial_state = !no_initial;
    return w;
  }
  auto n = am::ParseResourceVersion(rv);
  if (!n.ok()) return n.status();
  w.resume_rv = *n;
  return w;
}

}  // namespace deviceapi::apiserver
