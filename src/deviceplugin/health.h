// How the plugin turns the Device API's view into Healthy/Unhealthy: the contract's health rule
// per GPU, and what to do while the Device API cannot be reached. Pure: the caller passes the time.
#ifndef DEVICEAPI_DEVICEPLUGIN_HEALTH_H_
#define DEVICEAPI_DEVICEPLUGIN_HEALTH_H_

#include "absl/time/time.h"
#include "device/v1alpha1/gpu.pb.h"
#include "deviceplugin/options.h"

namespace deviceapi::deviceplugin {

// The contract's rule (docs API.md "Condition conventions"): any condition False -> unhealthy;
// else any Unknown, or no conditions -> `unknown`; else healthy.
bool GpuHealthy(const nvidia::nvsentinel::v1alpha1::Gpu& gpu, UnknownHealth unknown);

// Whether the cached GPU health may still be trusted. The Device API is "reachable" while the
// plugin's connection to it is up. When it goes down the last known state is kept for `grace`;
// after that every device is reported Unhealthy until the connection is back.
class ApiAvailability {
 public:
  explicit ApiAvailability(absl::Duration grace) : grace_(grace) {}

  // Records the connection state at `now`; returns true when it changed.
  bool Set(bool connected, absl::Time now) {
    if (connected == connected_) return false;
    connected_ = connected;
    if (!connected) down_since_ = now;
    return true;
  }
  bool connected() const { return connected_; }
  // True once the connection has been down for the whole grace.
  bool Expired(absl::Time now) const { return !connected_ && now - down_since_ >= grace_; }
  // When Expired() turns true (InfiniteFuture while connected).
  absl::Time ExpiresAt() const { return connected_ ? absl::InfiniteFuture() : down_since_ + grace_; }

 private:
  absl::Duration grace_;
  bool connected_ = true;
  absl::Time down_since_ = absl::InfinitePast();
};

}  // namespace deviceapi::deviceplugin

#endif  // DEVICEAPI_DEVICEPLUGIN_HEALTH_H_
