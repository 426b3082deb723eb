// Runs the real devicectl binary and compares what it printed with golden files.
//
// A test records a transcript (each command line, its exit code, stdout and stderr), normalized
// so that it does not depend on the run: the server target, the temp directory, uids, resource
// versions and timestamps become placeholders. Ages stay as printed: tests fix "now"
// (DEVICECTL_NOW) far enough after the objects' creation that the rounded age is stable.
// UPDATE_GOLDEN=1 writes the transcript to tests/cli/golden/<name>.golden instead of comparing.
#ifndef DEVICEAPI_TESTS_CLI_GOLDEN_HARNESS_H_
#define DEVICEAPI_TESTS_CLI_GOLDEN_HARNESS_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace deviceapi::cli_test {

struct RunResult {
  int exit_code = -1;  // -1: did not exit in time (killed)
  std::string out;
  std::string err;
};

// The environment without any variable that changes devicectl's behaviour, plus `extra`.
std::vector<std::string> CleanEnvironment(const std::map<std::string, std::string>& extra);

// A devicectl process whose stdout/stderr go to files in `dir`; stdin comes from `stdin_text`.
class Process {
 public:
  Process(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& dir,
          const std::string& stdin_text);
  ~Process();

  std::string Stdout() const;
  std::string Stderr() const;
  void Signal(int sig);
  // Waits for the exit (up to `timeout`, then SIGKILL) and returns what it printed.
  RunResult Wait(absl::Duration timeout = absl::Seconds(60));

 private:
  pid_t pid_ = -1;
  std::string out_path_;
  std::string err_path_;
  bool waited_ = false;
};

// Replaces run-dependent text by placeholders; `replacements` (e.g. {target, "<TARGET>"}) first.
std::string Normalize(std::string text, const std::map<std::string, std::string>& replacements);

// A transcript checked against golden/<name>.golden.
class Golden {
 public:
  explicit Golden(std::string name) : name_(std::move(name)) {}
  void Add(const std::string& command_line, const RunResult& result);
  void AddNote(const std::string& note);
  // Compares (EXPECT) or, with UPDATE_GOLDEN=1, rewrites the file.
  void Check(const std::map<std::string, std::string>& replacements) const;

 private:
  std::string name_;
  std::string text_;
};

std::string ReadFileOrEmpty(const std::string& path);

}  // namespace deviceapi::cli_test

#endif  // DEVICEAPI_TESTS_CLI_GOLDEN_HARNESS_H_
