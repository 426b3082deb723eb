// Config: environment precedence, local-only targets, connection behaviour.
#include <cstdlib>
#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "deviceapi/clientset.h"
#include "deviceapi/config.h"
#include "deviceapi/errors.h"
#include "deviceapi/version.h"
#include "testutil/test_server.h"

namespace {

deviceapi::Config::EnvLookup Env(std::map<std::string, std::string> vars) {
  auto held = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [held](const char* name) -> const char* {
    auto it = held->find(name);
    return it == held->end() ? nullptr : it->second.c_str();
  };
}

// Without variables: the default socket.
TEST(ConfigEnv, DefaultTarget) {
  EXPECT_EQ(deviceapi::Config::FromEnvironment(Env({})).target,
            "unix:///var/run/nvidia-device-api/device-api.sock");
  EXPECT_EQ(deviceapi::Config::Default().target, deviceapi::kDefaultTarget);
}

// NVIDIA_DEVICE_API_SOCK (upstream) is honoured; NVIDIA_DEVICE_API_TARGET wins over it.
TEST(ConfigEnv, Precedence) {
  EXPECT_EQ(
      deviceapi::Config::FromEnvironment(Env({{"NVIDIA_DEVICE_API_SOCK", "unix:///run/a.sock"}})).target,
      "unix:///run/a.sock");
  EXPECT_EQ(deviceapi::Config::FromEnvironment(Env({{"NVIDIA_DEVICE_API_SOCK", "unix:///run/a.sock"},
                                                    {"NVIDIA_DEVICE_API_TARGET", "unix:///run/b.sock"}}))
                .target,
            "unix:///run/b.sock");
  // An empty variable counts as unset.
  EXPECT_EQ(deviceapi::Config::FromEnvironment(
                Env({{"NVIDIA_DEVICE_API_SOCK", "unix:///run/a.sock"}, {"NVIDIA_DEVICE_API_TARGET", ""}}))
                .target,
            "unix:///run/a.sock");
}

// The real environment is read by the no-argument form.
TEST(ConfigEnv, ReadsProcessEnvironment) {
  ::setenv("NVIDIA_DEVICE_API_TARGET", "/run/c.sock", 1);
  EXPECT_EQ(deviceapi::Config::FromEnvironment().target, "/run/c.sock");
  ::unsetenv("NVIDIA_DEVICE_API_TARGET");
}

// Local socket forms are accepted and normalized.
TEST(Target, LocalFormsAccepted) {
  EXPECT_EQ(*deviceapi::NormalizeTarget("unix:///run/x.sock"), "unix:///run/x.sock");
  EXPECT_EQ(*deviceapi::NormalizeTarget("unix:/run/x.sock"), "unix:/run/x.sock");
  EXPECT_EQ(*deviceapi::NormalizeTarget("unix:rel/x.sock"), "unix:rel/x.sock");
  EXPECT_EQ(*deviceapi::NormalizeTarget("/run/x.sock"), "unix:///run/x.sock");
  EXPECT_EQ(*deviceapi::NormalizeTarget("unix-abstract:dev-api"), "unix-abstract:dev-api");
}

// Anything that is not a local socket is a clear INVALID_ARGUMENT, also from NewForConfig.
TEST(Target, NonLocalRejected) {
  for (const char* t : {"", "dns:///example.com:443", "localhost:50051", "ipv4:127.0.0.1:5000",
                        "ipv6:[::1]:1", "passthrough:///x", "unix://host/run/x.sock", "unix://",
                        "unix:", "rel/x.sock", "https://example.com"}) {
    auto r = deviceapi::NormalizeTarget(t);
    EXPECT_TRUE(deviceapi::errors::IsInvalid(r.status())) << t;
    EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("only local Unix socket")) << t;
    deviceapi::Config c;
    c.target = t;
    auto cs = deviceapi::Clientset::NewForConfig(c);
    EXPECT_TRUE(deviceapi::errors::IsInvalid(cs.status())) << t;
  }
}

TEST(Config, ValidateNumbers) {
  deviceapi::Config c;
  EXPECT_TRUE(c.Validate().ok());
  c.timeout = absl::ZeroDuration();
  EXPECT_FALSE(c.Validate().ok());
  c = deviceapi::Config();
  c.retry.initial_backoff = absl::ZeroDuration();
  EXPECT_FALSE(c.Validate().ok());
  c.retry.max_attempts = 1;  // retries off: backoff irrelevant
  EXPECT_TRUE(c.Validate().ok());
}

TEST(Version, UserAgent) {
  EXPECT_FALSE(deviceapi::Version().empty());
  EXPECT_EQ(deviceapi::DefaultUserAgent(), "deviceapi-cpp/" + std::string(deviceapi::Version()));
}

// No server: with wait-for-ready a call waits until its deadline (Timeout); without, it fails
// fast with Unavailable.
TEST(Connection, NoServerTimeoutOrUnavailable) {
  deviceapi::testing::TempDir dir;
  deviceapi::Config c;
  c.target = "unix://" + dir.path() + "/none.sock";
  c.timeout = absl::Milliseconds(300);
  auto cs = deviceapi::Clientset::NewForConfig(c);
  ASSERT_TRUE(cs.ok());
  auto r = (*cs)->DeviceV1alpha1().Gpus()->Get("gpu-a");
  EXPECT_TRUE(deviceapi::errors::IsTimeout(r.status())) << r.status();

  c.wait_for_ready = false;
  c.retry.max_attempts = 1;
  auto cs2 = deviceapi::Clientset::NewForConfig(c);
  ASSERT_TRUE(cs2.ok());
  deviceapi::GetOptions o;
  o.call_timeout = absl::Seconds(10);
  const absl::Time start = absl::Now();
  auto r2 = (*cs2)->DeviceV1alpha1().Gpus()->Get("gpu-a", o);
  EXPECT_TRUE(deviceapi::errors::IsUnavailable(r2.status())) << r2.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

// A real server: the default config (with retries and keepalive) works end to end, and the typed
// clients outlive the clientset.
TEST(Connection, RealServerAndLifetime) {
  auto server = deviceapi::testing::TestServer::Start();
  deviceapi::Config c;
  c.target = server->target();
  auto cs = deviceapi::Clientset::NewForConfig(c);
  ASSERT_TRUE(cs.ok());
  EXPECT_NE((*cs)->channel(), nullptr);
  auto gpus = (*cs)->DeviceV1alpha1().Gpus();
  cs->reset();
  auto created = gpus->Create(deviceapi::testing::MakeGpu("gpu-a"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(gpus->Get("gpu-a").ok());
}

// Calls made while the server restarts succeed once it is back (wait-for-ready + retries).
TEST(Connection, SurvivesServerRestart) {
  auto server = deviceapi::testing::TestServer::Start();
  deviceapi::Config c;
  c.target = server->target();
  c.timeout = absl::Seconds(20);
  auto cs = deviceapi::Clientset::NewForConfig(c);
  ASSERT_TRUE(cs.ok());
  auto gpus = (*cs)->DeviceV1alpha1().Gpus();
  ASSERT_TRUE(gpus->Create(deviceapi::testing::MakeGpu("gpu-a")).ok());
  server->Restart();
  auto r = gpus->List();
  EXPECT_TRUE(r.ok()) << r.status();
}

}  // namespace
