// The examples, built as separate programs, run against a real server.
#include <array>
#include <cstdio>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testutil/test_server.h"

namespace {

using ::testing::HasSubstr;

struct Result {
  int exit_code;
  std::string output;
};

Result RunCommand(const std::string& cmd) {
  Result r{-1, ""};
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// provider registers and updates GPUs; list shows them with their health; watch sees them.
TEST(Examples, ProviderListWatch) {
  auto server = deviceapi::testing::TestServer::Start();
  const std::string server_flag = " --server " + server->target();

  Result provider =
      RunCommand(std::string(EXAMPLE_PROVIDER) + server_flag + " --gpus 2 --iterations 2 --interval-ms 10");
  ASSERT_EQ(provider.exit_code, 0) << provider.output;
  EXPECT_THAT(provider.output, HasSubstr("registered gpu-example-0000"));
  EXPECT_THAT(provider.output, HasSubstr("iteration 1: unhealthy"));

  Result list = RunCommand(std::string(EXAMPLE_LIST) + server_flag + " --limit 1");
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("gpu-example-0000"));
  EXPECT_THAT(list.output, HasSubstr("gpu-example-0001"));
  EXPECT_THAT(list.output, HasSubstr("unhealthy"));
  EXPECT_THAT(list.output, HasSubstr("2 GPU(s)"));

  Result watch =
      RunCommand(std::string(EXAMPLE_WATCH) + server_flag + " --max-events 2 --duration-seconds 30");
  ASSERT_EQ(watch.exit_code, 0) << watch.output;
  EXPECT_THAT(watch.output, HasSubstr("ADDED gpu-example-0000"));
  EXPECT_THAT(watch.output, HasSubstr("ADDED gpu-example-0001"));

  Result informer =
      RunCommand(std::string(EXAMPLE_INFORMER) + server_flag + " --max-events 2 --duration-seconds 30");
  ASSERT_EQ(informer.exit_code, 0) << informer.output;
  EXPECT_THAT(informer.output, HasSubstr("ADDED gpu-example-0000"));
  EXPECT_THAT(informer.output, HasSubstr("ADDED gpu-example-0001"));
  EXPECT_THAT(informer.output, HasSubstr("SYNCED 2 GPU(s)"));

  // Result again: the provider finds its GPUs registered and keeps updating them.
  Result again = RunCommand(std::string(EXAMPLE_PROVIDER) + server_flag + " --gpus 2 --iterations 1");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("already registered gpu-example-0000"));
}

// The environment variable picks the server when no flag is given; a remote target is refused.
TEST(Examples, EnvironmentAndRejectedTarget) {
  auto server = deviceapi::testing::TestServer::Start();
  Result list = RunCommand("NVIDIA_DEVICE_API_SOCK=" + server->target() + " " + EXAMPLE_LIST);
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("0 GPU(s)"));
  Result remote = RunCommand(std::string(EXAMPLE_LIST) + " --server dns:///example.com:443");
  EXPECT_EQ(remote.exit_code, 1);
  EXPECT_THAT(remote.output, HasSubstr("only local Unix socket"));
}

}  // namespace
