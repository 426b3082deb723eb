#include "cli/golden_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"

extern char** environ;

namespace deviceapi::cli_test {

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> CleanEnvironment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    if (absl::StartsWith(kv, "NVIDIA_DEVICE_API_") || absl::StartsWith(kv, "DEVICECTL_") ||
        absl::StartsWith(kv, "GRPC_")) {
      continue;
    }
    env.push_back(kv);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

Process::Process(const std::vector<std::string>& args, const std::vector<std::string>& env,
                 const std::string& dir, const std::string& stdin_text) {
  static std::atomic<int> seq{0};
  const std::string base = absl::StrCat(dir, "/run", seq++);
  out_path_ = base + ".out";
  err_path_ = base + ".err";
  const std::string in_path = base + ".in";
  std::ofstream(in_path, std::ios::binary) << stdin_text;

  std::vector<std::string> argv_s = {DEVICECTL_BIN};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s = env;
  std::vector<char*> envp;
  for (std::string& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const int rc = posix_spawn(&pid_, DEVICECTL_BIN, &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << DEVICECTL_BIN << ": " << rc;
    pid_ = -1;
  }
}

Process::~Process() {
  if (pid_ > 0 && !waited_) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

std::string Process::Stdout() const { return ReadFileOrEmpty(out_path_); }
std::string Process::Stderr() const { return ReadFileOrEmpty(err_path_); }

void Process::Signal(int sig) {
  if (pid_ > 0 && !waited_) kill(pid_, sig);
}

RunResult Process::Wait(absl::Duration timeout) {
  RunResult r;
  if (pid_ <= 0) return r;
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (true) {
    const pid_t got = waitpid(pid_, &status, WNOHANG);
    if (got == pid_) break;
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      ADD_FAILURE() << "devicectl did not exit within " << timeout;
      status = -1;
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  waited_ = true;
  if (status != -1 && WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (status != -1 && WIFSIGNALED(status)) {
    r.exit_code = 128 + WTERMSIG(status);
  }
  r.out = Stdout();
  r.err = Stderr();
  return r;
}

std::string Normalize(std::string text, const std::map<std::string, std::string>& replacements) {
  for (const auto& [from, to] : replacements) text = absl::StrReplaceAll(text, {{from, to}});
  static const std::regex kUid("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  static const std::regex kTime(
      R"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))");
  static const std::regex kRv(R"((resourceVersion"?:\s*"?)[0-9]+)");
  static const std::regex kDescribeRv(R"((Resource Version:\s+)[0-9]+)");
  text = std::regex_replace(text, kUid, "<UID>");
  text = std::regex_replace(text, kTime, "<TIME>");
  text = std::regex_replace(text, kRv, "$1<RV>");
  text = std::regex_replace(text, kDescribeRv, "$1<RV>");
  return text;
}

void Golden::Add(const std::string& command_line, const RunResult& result) {
  absl::StrAppend(&text_, "$ devicectl", command_line.empty() ? "" : " ", command_line, "\n", "[exit ",
                  result.exit_code, "]\n");
  if (!result.out.empty())
    absl::StrAppend(&text_, "[stdout]\n", result.out, result.out.back() == '\n' ? "" : "\n<no newline>\n");
  if (!result.err.empty())
    absl::StrAppend(&text_, "[stderr]\n", result.err, result.err.back() == '\n' ? "" : "\n<no newline>\n");
  text_ += "\n";
}

void Golden::AddNote(const std::string& note) { absl::StrAppend(&text_, "# ", note, "\n\n"); }

void Golden::Check(const std::map<std::string, std::string>& replacements) const {
  const std::string actual = Normalize(text_, replacements);
  const std::string path = absl::StrCat(DEVICECTL_GOLDEN_DIR, "/", name_, ".golden");
  const char* update = std::getenv("UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "no golden file " << path << " (run with UPDATE_GOLDEN=1 to create it); actual:\n"
                  << actual;
    return;
  }
  EXPECT_EQ(ReadFileOrEmpty(path), actual)
      << "golden file " << path << " differs (UPDATE_GOLDEN=1 rewrites it after a reviewed change)";
}

}  // namespace deviceapi::cli_test
