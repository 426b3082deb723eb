// An in-process fake of the Device API for unit tests (upstream fake.NewSimpleClientset).
//
// It runs the server's own admission logic and in-memory store in the test's process, so it has
// the server's exact semantics: resource versions, conflicts, validation, selectors, paging and
// watch events. On top it records every call (Actions()) and lets a test inject errors
// (PrependReactor / InjectError) and end watches (Tracker().EndWatches()).
//
// Link deviceapi::fake. Thread-safe.
#ifndef DEVICEAPI_FAKE_CLIENTSET_H_
#define DEVICEAPI_FAKE_CLIENTSET_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "deviceapi/clientset.h"

namespace deviceapi::fake {

// One call made through the fake. verb: "get", "list", "watch", "create", "update", "patch",
// "delete"; subresource: "status" for UpdateStatus and status patches, else "".
struct Action {
  std::string verb;
  std::string subresource;
  std::string ns;    // as the call named it ("" when the client's namespace is "")
  std::string name;  // "" for list and watch
};

// Decides a call before the tracker sees it: nullopt (or OK) lets the call through; an error
// status fails the call with it.
using Reactor = std::function<std::optional<absl::Status>(const Action&)>;

// Direct access to the fake's objects, bypassing reactors and action recording.
class ObjectTracker {
 public:
  virtual ~ObjectTracker() = default;
  // Creates `gpu` (namespace defaulted); the server's validation applies.
  virtual absl::StatusOr<v1::Gpu> Add(const v1::Gpu& gpu) = 0;
  virtual absl::StatusOr<v1::Gpu> Get(std::string_view ns, std::string_view name) = 0;
  virtual std::vector<v1::Gpu> List(std::string_view ns = "") = 0;
  // Unconditional update of spec, labels, annotations and status.
  virtual absl::StatusOr<v1::Gpu> Update(const v1::Gpu& gpu) = 0;
  virtual absl::Status Delete(std::string_view ns, std::string_view name) = 0;
  virtual uint64_t CurrentResourceVersion() = 0;
  // Ends every open watch with `status` (e.g. RESOURCE_EXHAUSTED, OUT_OF_RANGE) as the server
  // would; watches started later are unaffected.
  virtual void EndWatches(const absl::Status& status) = 0;
};

struct Options {
  // Events a watch may retain; the server's --watch-history-size.
  size_t history_size = 10000;
  size_t watch_queue_size = 1000;
  absl::Duration bookmark_interval = absl::Seconds(10);
  size_t max_objects = 4096;
  // The first RV issued is start_resource_version + 1.
  uint64_t start_resource_version = 0;
};

class Clientset final : public Interface {
 public:
  // A fake holding `objects` (created in order; an invalid one is a fatal test setup error).
  explicit Clientset(const std::vector<v1::Gpu>& objects = {}, const Options& options = {});
  ~Clientset() override;

  DeviceV1alpha1Interface& DeviceV1alpha1() override;

  ObjectTracker& Tracker();

  // Reactors run newest first, before the tracker. `verb` and `name` may be "*" (any).
  void PrependReactor(std::string verb, std::string name, Reactor reactor);
  // Fails the next `times` calls matching verb/name (each may be "*") with `status`; times < 0:
  // every such call.
  void InjectError(std::string verb, std::string name, absl::Status status, int times = 1);
  void ClearReactors();

  // Every call so far, in order.
  std::vector<Action> Actions() const;
  void ClearActions();

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
  std::unique_ptr<DeviceV1alpha1Interface> device_;
};

// fake::NewSimpleClientset(objects...) in Go.
std::unique_ptr<Clientset> NewSimpleClientset(const std::vector<v1::Gpu>& objects = {});

}  // namespace deviceapi::fake

#endif  // DEVICEAPI_FAKE_CLIENTSET_H_
