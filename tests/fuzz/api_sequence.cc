// Fuzz target: a sequence of API calls run against the server's registry (apiserver/gpu_registry.h:
// validation, admission, storage) on a memory:// store, without gRPC, and checked against a small
// model of the contract (shared/design/API.md, docs/api.md).
//
// The input is a list of calls, each a few bytes: an opcode, then indices into small pools of
// namespaces, names (one invalid), label sets (one invalid), product names, conditions and
// resource versions (empty, current, stale, not a number). Calls: Create, Get (latest, "0", the
// current RV, one ahead), List (namespace or all, label and field selectors, pages of 1 or 2, or
// exactly the state at an earlier RV), Update and UpdateStatus with and without a resourceVersion,
// merge and JSON patches of the main resource and of status (with resourceVersion preconditions),
// Delete with and without preconditions.
//
// Checked: every call's status code equals the model's; a successful call returns what the model
// holds; every committed write takes an RV above every earlier one and a no-op write commits
// nothing; two watches opened before the first call (all objects, and label selector pool=a) see
// exactly the committed writes, in order, as the contract's enter/leave rules say.
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apimachinery/resource_version.h"
#include "apiserver/gpu_registry.h"
#include "fuzz_check.h"
#include "storage/store.h"

namespace v1 = ::nvidia::nvsentinel::v1alpha1;
namespace st = ::deviceapi::storage;
using absl::StatusCode;
using deviceapi::apiserver::GpuRegistry;
using deviceapi::apiserver::RegistryOptions;
using deviceapi::fuzz::FuzzInput;

namespace {

// ---- the pools the input picks from ----

constexpr const char* kNamespaces[] = {"", "default", "ns-b", "Bad_NS"};  // "" = default; last invalid
constexpr const char* kNames[] = {"gpu-0", "gpu-1", "GPU-1b4e28ba-2fa1", "Bad/Name"};  // last invalid
constexpr const char* kPoolValues[] = {nullptr, "a", "b", "-bad"};  // absent, ..., invalid value
constexpr const char* kProducts[] = {"", "H100", "A100"};
constexpr const char* kActions[] = {"", "NONE", "RESET_GPU"};

bool ValidNs(int i) { return i != 3; }
bool ValidName(int i) { return i != 3; }
std::string NsOf(int i) { return i <= 1 ? "default" : kNamespaces[i]; }

using Labels = std::map<std::string, std::string>;

struct LabelChoice {
  Labels labels;
  bool valid = true;
};

LabelChoice LabelsOf(uint8_t b) {
  LabelChoice c;
  if (const char* v = kPoolValues[b % 4]) c.labels["pool"] = v;
  if ((b / 4) % 2 == 1) c.labels["zone"] = "x";
  c.valid = b % 4 != 3;
  return c;
}

// ---- the model ----

// cond: 0 none, 1 Ready=True, 2 Ready=False (XID79).
struct Obj {
  Labels labels;
  std::string product;
  int cond = 0;
  std::string action;
  uint64_t rv = 0;
  int64_t generation = 1;
  std::string uid;
  bool operator==(const Obj&) const = default;
};

using Key = std::pair<std::string, std::string>;  // (namespace, name): List's order
using State = std::map<Key, Obj>;

struct ExpectedEvent {
  std::string type;
  Key key;
  uint64_t rv;
};

// The label selectors List picks from, each with the model's reading of it (nullopt: invalid).
struct SelectorCase {
  const char* text;
  bool (*matches)(const Labels&);
};
bool Has(const Labels& l, const char* k) { return l.count(k) > 0; }
bool Is(const Labels& l, const char* k, const char* v) { return Has(l, k) && l.at(k) == v; }
const SelectorCase kSelectors[] = {
    {"", [](const Labels&) { return true; }},
    {"pool=a", [](const Labels& l) { return Is(l, "pool", "a"); }},
    {"pool!=a", [](const Labels& l) { return !Is(l, "pool", "a"); }},
    {"pool", [](const Labels& l) { return Has(l, "pool"); }},
    {"!pool", [](const Labels& l) { return !Has(l, "pool"); }},
    {"pool in (a,b)", [](const Labels& l) { return Is(l, "pool", "a") || Is(l, "pool", "b"); }},
    {"pool notin (b), zone=x", [](const Labels& l) { return !Is(l, "pool", "b") && Is(l, "zone", "x"); }},
    {"pool in (a", nullptr},
};

bool WatchedByPoolA(const Labels& l) { return Is(l, "pool", "a"); }

// ---- helpers ----

class NullConsumer : public st::WatchConsumer {
 public:
  void OnWatchReady() override {}
};

Obj ObjOf(const v1::Gpu& g) {
  Obj o;
  for (const auto& [k, v] : g.metadata().labels()) o.labels[k] = v;
  o.product = g.spec().product_name();
  const auto& conds = g.status().conditions();
  if (conds.size() == 1) o.cond = conds[0].status() == "True" ? 1 : 2;
  FUZZ_CHECK(conds.size() <= 1, "%d conditions", conds.size());
  o.action = g.status().recommended_action();
  auto rv = deviceapi::apimachinery::ParseResourceVersion(g.metadata().resource_version());
  FUZZ_CHECK(rv.ok(), "object RV \"%s\"", g.metadata().resource_version().c_str());
  o.rv = *rv;
  o.generation = g.metadata().generation();
  o.uid = g.metadata().uid();
  return o;
}

void SetCondition(int cond, v1::GpuStatus* status) {
  if (cond == 0) return;
  auto* c = status->add_conditions();
  c->set_type("Ready");
  c->set_status(cond == 1 ? "True" : "False");
  c->set_reason(cond == 1 ? "Ok" : "XID79");
}

std::string Describe(const Obj& o) {
  std::string s = "{rv " + std::to_string(o.rv) + " gen " + std::to_string(o.generation) + " product \"" +
                  o.product + "\" cond " + std::to_string(o.cond) + " action \"" + o.action + "\" labels";
  for (const auto& [k, v] : o.labels) s += " " + k + "=" + v;
  return s + "}";
}

class Sequence {
 public:
  Sequence() {
    auto store = st::OpenStore("memory://", st::StoreConfig{});
    FUZZ_CHECK(store.ok(), "%s", store.status().ToString().c_str());
    store_ = *store;
    registry_ = std::make_unique<GpuRegistry>(store_, RegistryOptions{});
    last_rv_ = store_->CurrentResourceVersion();
    start_rv_ = last_rv_;
    history_.emplace_back(last_rv_, state_);
    // The two watches, from the RV before the first call.
    for (const char* selector : {"", "pool=a"}) {
      v1::WatchGpusRequest req;
      req.mutable_opts()->set_resource_version(std::to_string(start_rv_));
      req.mutable_opts()->set_label_selector(selector);
      auto opts = registry_->WatchOptionsFor(req);
      FUZZ_CHECK(opts.ok(), "%s", opts.status().ToString().c_str());
      auto w = store_->Watch(*opts, &consumer_);
      FUZZ_CHECK(w.ok(), "%s", w.status().ToString().c_str());
      watches_.push_back(std::move(*w));
    }
  }

  ~Sequence() {
    watches_.clear();
    store_->Shutdown();
  }

  void Run(FuzzInput& in) {
    for (int step = 0; step < 200 && !in.empty(); ++step) {
      switch (in.Byte() % 9) {
        case 0:
          Create(in);
          break;
        case 1:
          Get(in);
          break;
        case 2:
          List(in);
          break;
        case 3:
          Update(in);
          break;
        case 4:
          UpdateStatus(in);
          break;
        case 5:
        case 6:
          Patch(in);
          break;
        case 7:
          Delete(in);
          break;
        default:
          ListExact(in);
          break;
      }
    }
    CheckWatches();
  }

 private:
  // The resource_version a write sends: 0 none, 1 the stored one, 2 an older one, 3 not a number.
  // Sets *conflict when it differs from the stored object's.
  static std::string RvFor(int mode, const Obj* cur, bool* bad_syntax, bool* conflict) {
    *bad_syntax = mode == 3;
    *conflict = false;
    if (mode == 0) return "";
    if (mode == 3) return "12ab";
    const uint64_t rv = cur ? cur->rv : 1;
    if (mode == 1) return std::to_string(rv);
    *conflict = cur != nullptr;
    return std::to_string(rv - 1);
  }

  const Obj* Find(const Key& k) const {
    auto it = state_.find(k);
    return it == state_.end() ? nullptr : &it->second;
  }

  // The first applicable error of a write that names an object, in the order every verb checks:
  // names, resourceVersion syntax, existence, the resourceVersion precondition.
  static std::optional<StatusCode> NamedWriteError(int ns, int name, bool bad_syntax, const Obj* cur,
                                                   bool conflict) {
    if (!ValidNs(ns) || !ValidName(name)) return StatusCode::kInvalidArgument;
    if (bad_syntax) return StatusCode::kInvalidArgument;
    if (cur == nullptr) return StatusCode::kNotFound;
    if (conflict) return StatusCode::kAborted;
    return std::nullopt;
  }

  void ExpectCode(const char* what, const absl::Status& got, StatusCode want) {
    FUZZ_CHECK(got.code() == want, "%s: got %s, the model says %s", what, got.ToString().c_str(),
               absl::StatusCodeToString(want).c_str());
  }

  // A successful write's answer against the model: a new object version (committed) or the
  // stored one (a no-op).
  void ExpectWrite(const char* what, const absl::StatusOr<st::StoredPtr>& got, const Key& key,
                   std::optional<Obj> want, const char* event_type) {
    FUZZ_CHECK(got.ok(), "%s %s/%s: got %s, the model says OK", what, key.first.c_str(), key.second.c_str(),
               got.status().ToString().c_str());
    Obj o = ObjOf(*(*got)->Object());
    if (!want.has_value()) {  // a no-op: nothing committed, the stored version returned
      const Obj& cur = state_.at(key);
      FUZZ_CHECK(o == cur, "%s %s/%s is a no-op: got %s, stored %s", what, key.first.c_str(),
                 key.second.c_str(), Describe(o).c_str(), Describe(cur).c_str());
      FUZZ_CHECK(store_->CurrentResourceVersion() == last_rv_, "%s: a no-op moved the RV", what);
      return;
    }
    FUZZ_CHECK(o.rv > last_rv_, "%s %s/%s: RV %llu is not above the last write's %llu", what,
               key.first.c_str(), key.second.c_str(), static_cast<unsigned long long>(o.rv),
               static_cast<unsigned long long>(last_rv_));
    want->rv = o.rv;
    if (want->uid.empty()) want->uid = o.uid;
    FUZZ_CHECK(o == *want, "%s %s/%s: got %s, the model says %s", what, key.first.c_str(), key.second.c_str(),
               Describe(o).c_str(), Describe(*want).c_str());
    last_rv_ = o.rv;
    const Obj* prev = Find(key);
    for (int w = 0; w < 2; ++w) {
      auto visible = [&](const Obj* x) { return x != nullptr && (w == 0 || WatchedByPoolA(x->labels)); };
      const bool before = visible(prev);
      const bool after = std::string(event_type) != "DELETED" && visible(&*want);
      const char* seen = before && after ? "MODIFIED" : after ? "ADDED" : before ? "DELETED" : nullptr;
      if (seen) expected_[w].push_back({seen, key, o.rv});
    }
    if (std::string(event_type) == "DELETED") {
      state_.erase(key);
    } else {
      state_[key] = *want;
    }
    history_.emplace_back(last_rv_, state_);
  }

  void Create(FuzzInput& in) {
    const int ns = in.Byte() % 4, name = in.Byte() % 4;
    const LabelChoice labels = LabelsOf(in.Byte());
    const uint8_t b = in.Byte();
    const std::string product = kProducts[b % 3];
    const int cond = (b / 3) % 3;
    v1::CreateGpuRequest req;
    auto* md = req.mutable_gpu()->mutable_metadata();
    md->set_name(kNames[name]);
    md->set_namespace_(kNamespaces[ns]);
    for (const auto& [k, v] : labels.labels) (*md->mutable_labels())[k] = v;
    req.mutable_gpu()->mutable_spec()->set_product_name(product);
    SetCondition(cond, req.mutable_gpu()->mutable_status());
    auto got = registry_->Create(req);
    const Key key{NsOf(ns), kNames[name]};
    if (!ValidNs(ns) || !ValidName(name) || !labels.valid) {
      return ExpectCode("Create", got.status(), StatusCode::kInvalidArgument);
    }
    if (Find(key)) return ExpectCode("Create", got.status(), StatusCode::kAlreadyExists);
    Obj want{labels.labels, product, cond, "", 0, 1, ""};
    ExpectWrite("Create", got, key, want, "ADDED");
  }

  void Get(FuzzInput& in) {
    const int ns = in.Byte() % 4, name = in.Byte() % 4, mode = in.Byte() % 4;
    v1::GetGpuRequest req;
    req.set_name(kNames[name]);
    req.set_namespace_(kNamespaces[ns]);
    const char* rvs[] = {"", "0", nullptr, nullptr};
    std::string rv = mode < 2 ? rvs[mode] : std::to_string(mode == 2 ? last_rv_ : last_rv_ + 1);
    req.mutable_opts()->set_resource_version(rv);
    auto got = registry_->Get(req);
    const Key key{NsOf(ns), kNames[name]};
    if (!ValidNs(ns) || !ValidName(name))
      return ExpectCode("Get", got.status(), StatusCode::kInvalidArgument);
    if (mode == 3) return ExpectCode("Get ahead", got.status(), StatusCode::kUnavailable);
    const Obj* cur = Find(key);
    if (!cur) return ExpectCode("Get", got.status(), StatusCode::kNotFound);
    FUZZ_CHECK(got.ok(), "Get %s/%s: %s", key.first.c_str(), key.second.c_str(),
               got.status().ToString().c_str());
    const Obj o = ObjOf(*(*got)->Object());
    FUZZ_CHECK(o == *cur, "Get %s/%s: got %s, the model holds %s", key.first.c_str(), key.second.c_str(),
               Describe(o).c_str(), Describe(*cur).c_str());
  }

  // The model's answer to a List of namespace `ns` (0, "": all) with selector `sel` and an optional
  // metadata.name field selector, over `state`.
  static std::vector<std::pair<Key, Obj>> Select(const State& state, int ns, const SelectorCase& sel,
                                                 const char* name) {
    std::vector<std::pair<Key, Obj>> out;
    for (const auto& [k, o] : state) {
      if (ns != 0 && k.first != NsOf(ns)) continue;
      if (name != nullptr && k.second != name) continue;
      if (sel.matches(o.labels)) out.emplace_back(k, o);
    }
    return out;
  }

  void CheckItems(const char* what, const std::vector<st::StoredPtr>& got,
                  const std::vector<std::pair<Key, Obj>>& want) {
    FUZZ_CHECK(got.size() == want.size(), "%s: %zu items, the model has %zu", what, got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      const auto& md = got[i]->metadata();
      const Key k{md.namespace_(), md.name()};
      FUZZ_CHECK(k == want[i].first, "%s: item %zu is %s/%s, the model has %s/%s", what, i, k.first.c_str(),
                 k.second.c_str(), want[i].first.first.c_str(), want[i].first.second.c_str());
      const Obj o = ObjOf(*got[i]->Object());
      FUZZ_CHECK(o == want[i].second, "%s: %s/%s is %s, the model has %s", what, k.first.c_str(),
                 k.second.c_str(), Describe(o).c_str(), Describe(want[i].second).c_str());
    }
  }

  void List(FuzzInput& in) {
    const int ns = in.Byte() % 4;  // 0 (""): all namespaces
    const SelectorCase& sel = kSelectors[in.Byte() % std::size(kSelectors)];
    const uint8_t b = in.Byte();
    const int limit = b % 3;                                  // 0: no limit
    const char* name = (b / 3) % 4 == 3 ? "gpu-1" : nullptr;  // a field selector on the name
    v1::ListGpusRequest req;
    req.set_namespace_(kNamespaces[ns]);
    req.mutable_opts()->set_label_selector(sel.text);
    if (name) req.mutable_opts()->set_field_selector(std::string("metadata.name=") + name);
    req.mutable_opts()->set_limit(limit);
    std::vector<st::StoredPtr> items;
    uint64_t snapshot = 0;
    for (int page = 0;; ++page) {
      auto got = registry_->List(req);
      if (!ValidNs(ns) || sel.matches == nullptr) {
        return ExpectCode("List", got.status(), StatusCode::kInvalidArgument);
      }
      FUZZ_CHECK(got.ok(), "List \"%s\": %s", sel.text, got.status().ToString().c_str());
      if (page == 0) snapshot = got->rv;
      FUZZ_CHECK(got->rv == snapshot, "List pages from RVs %llu and %llu",
                 static_cast<unsigned long long>(snapshot), static_cast<unsigned long long>(got->rv));
      FUZZ_CHECK(limit == 0 || got->items.size() <= static_cast<size_t>(limit),
                 "a page of %zu items, limit %d", got->items.size(), limit);
      items.insert(items.end(), got->items.begin(), got->items.end());
      if (got->continue_token.empty()) break;
      FUZZ_CHECK(page < 16, "List does not end");
      req.mutable_opts()->set_continue_(got->continue_token);
    }
    FUZZ_CHECK(snapshot == last_rv_, "List's RV %llu, the last write's %llu",
               static_cast<unsigned long long>(snapshot), static_cast<unsigned long long>(last_rv_));
    CheckItems("List", items, Select(state_, ns, sel, name));
  }

  // List with resourceVersionMatch=Exact at an RV the model has seen: exactly the state then.
  void ListExact(FuzzInput& in) {
    const auto& [rv, state] = history_[in.Byte() % history_.size()];
    v1::ListGpusRequest req;
    req.mutable_opts()->set_resource_version(std::to_string(rv));
    req.mutable_opts()->set_resource_version_match("Exact");
    auto got = registry_->List(req);
    FUZZ_CHECK(got.ok(), "List at %llu: %s", static_cast<unsigned long long>(rv),
               got.status().ToString().c_str());
    FUZZ_CHECK(got->rv == rv, "List at %llu returned RV %llu", static_cast<unsigned long long>(rv),
               static_cast<unsigned long long>(got->rv));
    CheckItems("List Exact", got->items, Select(state, 0, kSelectors[0], nullptr));
  }

  void Update(FuzzInput& in) {
    const int ns = in.Byte() % 4, name = in.Byte() % 4;
    const LabelChoice labels = LabelsOf(in.Byte());
    const uint8_t b = in.Byte();
    const std::string product = kProducts[b % 3];
    const Key key{NsOf(ns), kNames[name]};
    const Obj* cur = Find(key);
    bool bad_syntax, conflict;
    v1::UpdateGpuRequest req;
    auto* md = req.mutable_gpu()->mutable_metadata();
    md->set_name(kNames[name]);
    md->set_namespace_(kNamespaces[ns]);
    md->set_resource_version(RvFor((b / 3) % 4, cur, &bad_syntax, &conflict));
    for (const auto& [k, v] : labels.labels) (*md->mutable_labels())[k] = v;
    req.mutable_gpu()->mutable_spec()->set_product_name(product);
    SetCondition((b / 12) % 3, req.mutable_gpu()->mutable_status());  // ignored by Update
    auto got = registry_->Update(req);
    if (auto err = NamedWriteError(ns, name, bad_syntax, cur, conflict))
      return ExpectCode("Update", got.status(), *err);
    Obj want = *cur;
    want.labels = labels.labels;
    if (product != cur->product) ++want.generation;
    want.product = product;
    if (want == *cur) return ExpectWrite("Update", got, key, std::nullopt, "");
    if (!labels.valid) return ExpectCode("Update", got.status(), StatusCode::kInvalidArgument);
    ExpectWrite("Update", got, key, want, "MODIFIED");
  }

  void UpdateStatus(FuzzInput& in) {
    const int ns = in.Byte() % 4, name = in.Byte() % 4;
    const uint8_t b = in.Byte();
    const int cond = b % 3;
    const std::string action = kActions[(b / 3) % 3];
    const Key key{NsOf(ns), kNames[name]};
    const Obj* cur = Find(key);
    bool bad_syntax, conflict;
    v1::UpdateGpuStatusRequest req;
    auto* md = req.mutable_gpu()->mutable_metadata();
    md->set_name(kNames[name]);
    md->set_namespace_(kNamespaces[ns]);
    md->set_resource_version(RvFor((b / 9) % 4, cur, &bad_syntax, &conflict));
    (*md->mutable_labels())["ignored"] = "by-update-status";
    req.mutable_gpu()->mutable_spec()->set_product_name("ignored");
    SetCondition(cond, req.mutable_gpu()->mutable_status());
    req.mutable_gpu()->mutable_status()->set_recommended_action(action);
    auto got = registry_->UpdateStatus(req);
    if (auto err = NamedWriteError(ns, name, bad_syntax, cur, conflict)) {
      return ExpectCode("UpdateStatus", got.status(), *err);
    }
    Obj want = *cur;
    want.cond = cond;
    want.action = action;
    if (want == *cur) return ExpectWrite("UpdateStatus", got, key, std::nullopt, "");
    ExpectWrite("UpdateStatus", got, key, want, "MODIFIED");
  }

  // Merge (op byte 5) or JSON (6) patches; see the cases below.
  void Patch(FuzzInput& in) {
    const int ns = in.Byte() % 4, name = in.Byte() % 4;
    const uint8_t kind = in.Byte(), value = in.Byte();
    const Key key{NsOf(ns), kNames[name]};
    const Obj* cur = Find(key);
    bool bad_syntax, conflict;
    const std::string rv = RvFor(kind / 8 % 4, cur, &bad_syntax, &conflict);
    const bool json = kind % 2 == 1;
    const bool status = (kind / 2) % 2 == 1;
    const bool bad_type = kind / 32 % 8 == 7;
    const std::string rv_member = rv.empty() ? "" : ",\"resourceVersion\":\"" + rv + "\"";
    const char* pool = kPoolValues[value % 4];
    const std::string pool_json = pool ? std::string("\"") + pool + "\"" : "null";
    const std::string product = kProducts[value % 3];
    const std::string action = kActions[value % 3];
    // What the patch changes, if it applies (the model's object after it), and whether applying
    // it fails (a JSON patch removing a label that is not there, a failed test).
    std::optional<Obj> want;
    if (cur) want = *cur;
    bool fails = false, invalid = false;
    std::string doc;
    const int what = (kind / 4) % 2;  // 0: labels / recommendedAction, 1: productName / conditions
    if (!json) {
      if (!status && what == 0) {
        doc = "{\"metadata\":{\"labels\":{\"pool\":" + pool_json + "}" + rv_member + "}}";
        if (want && pool) want->labels["pool"] = pool;
        if (want && !pool) want->labels.erase("pool");
        invalid = value % 4 == 3;
      } else if (!status) {
        doc = "{\"metadata\":{\"name\":\"" + std::string(kNames[name]) + "\"" + rv_member +
              "},\"spec\":{\"productName\":\"" + product + "\"}}";
        if (want && want->product != product) {
          ++want->generation;
          want->product = product;
        }
      } else if (what == 0) {
        doc = "{\"metadata\":{\"labels\":{\"ignored\":\"x\"}" + rv_member +
              "},\"status\":{\"recommendedAction\":\"" + action + "\"}}";
        if (want) want->action = action;
      } else {
        doc = "{\"status\":{\"conditions\":null}}";
        if (want) want->cond = 0;
        bad_syntax = conflict = false;  // no resourceVersion in this one
      }
    } else {
      // A test of the resourceVersion first: a failed test fails the patch (INVALID_ARGUMENT).
      std::string ops = "[";
      if (!rv.empty()) {
        ops += "{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",\"value\":\"" + rv + "\"},";
        fails = bad_syntax || conflict;
        bad_syntax = conflict = false;
      }
      if (!status && what == 0) {
        if (pool) {
          ops +=
              "{\"op\":\"add\",\"path\":\"/metadata/labels/pool\",\"value\":\"" + std::string(pool) + "\"}";
          if (want) want->labels["pool"] = pool;
          invalid = value % 4 == 3;
        } else {
          ops += "{\"op\":\"remove\",\"path\":\"/metadata/labels/pool\"}";
          fails = fails || (want && want->labels.count("pool") == 0);
          if (want) want->labels.erase("pool");
        }
      } else if (!status) {
        ops += "{\"op\":\"replace\",\"path\":\"/spec/productName\",\"value\":\"" + product + "\"}";
        if (want && want->product != product) {
          ++want->generation;
          want->product = product;
        }
      } else if (what == 0) {
        ops += "{\"op\":\"replace\",\"path\":\"/status/recommendedAction\",\"value\":\"" + action + "\"}";
        if (want) want->action = action;
      } else {
        // Makes the first condition Ready=True (reason Ok); fails when there is none.
        ops +=
            "{\"op\":\"replace\",\"path\":\"/status/conditions/0/status\",\"value\":\"True\"},"
            "{\"op\":\"replace\",\"path\":\"/status/conditions/0/reason\",\"value\":\"Ok\"}";
        fails = fails || (want && want->cond == 0);
        if (want) want->cond = 1;
      }
      doc = ops + "]";
    }
    v1::PatchGpuRequest req;
    req.set_name(kNames[name]);
    req.set_namespace_(kNamespaces[ns]);
    req.set_patch_type(bad_type ? "application/yaml" : json ? "application/json-patch+json" : "merge");
    req.set_data(doc);
    if (status) req.add_subresources("status");
    auto got = registry_->Patch(req);
    const std::string what_s = "Patch " + doc + (status ? " (status)" : "");
    if (!ValidNs(ns) || !ValidName(name) || bad_type) {
      return ExpectCode(what_s.c_str(), got.status(), StatusCode::kInvalidArgument);
    }
    if (!cur) return ExpectCode(what_s.c_str(), got.status(), StatusCode::kNotFound);
    if (fails || bad_syntax) return ExpectCode(what_s.c_str(), got.status(), StatusCode::kInvalidArgument);
    if (conflict) return ExpectCode(what_s.c_str(), got.status(), StatusCode::kAborted);
    if (*want == *cur) return ExpectWrite(what_s.c_str(), got, key, std::nullopt, "");
    if (invalid) return ExpectCode(what_s.c_str(), got.status(), StatusCode::kInvalidArgument);
    ExpectWrite(what_s.c_str(), got, key, want, "MODIFIED");
  }

  void Delete(FuzzInput& in) {
    const int ns = in.Byte() % 4, name = in.Byte() % 4;
    const uint8_t b = in.Byte();
    const Key key{NsOf(ns), kNames[name]};
    const Obj* cur = Find(key);
    bool bad_syntax, conflict;
    v1::DeleteGpuRequest req;
    req.set_name(kNames[name]);
    req.set_namespace_(kNamespaces[ns]);
    const std::string rv = RvFor(b % 4, cur, &bad_syntax, &conflict);
    if (!rv.empty()) req.mutable_opts()->mutable_preconditions()->set_resource_version(rv);
    const int uid_mode = (b / 4) % 3;  // 0 none, 1 the object's, 2 another
    if (uid_mode == 1 && cur) req.mutable_opts()->mutable_preconditions()->set_uid(cur->uid);
    if (uid_mode == 2)
      req.mutable_opts()->mutable_preconditions()->set_uid("00000000-0000-4000-8000-000000000000");
    auto got = registry_->Delete(req);
    if (auto err = NamedWriteError(ns, name, bad_syntax, cur, conflict || uid_mode == 2)) {
      return ExpectCode("Delete", got.status(), *err);
    }
    // The answer is the object as it was, with the deletion's RV.
    ExpectWrite("Delete", got, key, *cur, "DELETED");
  }

  void CheckWatches() {
    for (int w = 0; w < 2; ++w) {
      st::Watcher& watcher = watches_[w]->watcher();
      size_t i = 0;
      while (auto item = watcher.Next()) {
        const auto& md = item->event->object->metadata();
        const std::string type(deviceapi::EventTypeName(item->as));
        FUZZ_CHECK(i < expected_[w].size(), "watch %d: unexpected event %s %s/%s at %llu", w, type.c_str(),
                   md.namespace_().c_str(), md.name().c_str(),
                   static_cast<unsigned long long>(item->event->rv));
        const ExpectedEvent& e = expected_[w][i++];
        const Key k{md.namespace_(), md.name()};
        FUZZ_CHECK(type == e.type && k == e.key && item->event->rv == e.rv,
                   "watch %d event %zu: got %s %s/%s at %llu, the model says %s %s/%s at %llu", w, i - 1,
                   type.c_str(), k.first.c_str(), k.second.c_str(),
                   static_cast<unsigned long long>(item->event->rv), e.type.c_str(), e.key.first.c_str(),
                   e.key.second.c_str(), static_cast<unsigned long long>(e.rv));
        FUZZ_CHECK(md.resource_version() == std::to_string(e.rv), "watch %d: event at %llu carries RV %s", w,
                   static_cast<unsigned long long>(e.rv), md.resource_version().c_str());
      }
      FUZZ_CHECK(!watcher.ended().has_value(), "watch %d ended: %s", w, watcher.ended()->ToString().c_str());
      FUZZ_CHECK(i == expected_[w].size(), "watch %d saw %zu events, the model %zu", w, i,
                 expected_[w].size());
    }
  }

  st::StorePtr store_;
  std::unique_ptr<GpuRegistry> registry_;
  NullConsumer consumer_;
  std::vector<std::unique_ptr<st::WatchHandle>> watches_;
  State state_;
  uint64_t start_rv_ = 0;
  uint64_t last_rv_ = 0;
  std::vector<std::pair<uint64_t, State>> history_;  // the model's state after each write
  std::vector<ExpectedEvent> expected_[2];           // per watch
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  Sequence seq;
  seq.Run(in);
  return 0;
}
