// The driver of the fuzz targets outside a libFuzzer build (every GCC and ASan build, so every
// `make test`):
//
//   fuzz_<name> <corpus dir or file>...                       replay every input once
//   fuzz_<name> --mutate-seconds=N [--seed=S] <corpus>...     then mutate them blindly for N seconds
//
// Replay makes the checked-in seed corpora (tests/fuzz/corpus/<target>/) regression tests. Mutation
// is a small random fuzzer without coverage feedback (libFuzzer's, in `make fuzz`, finds far more):
// bit flips, byte changes, insertions, deletions, duplicated ranges, splices of two inputs, and
// pieces of other inputs dropped in, stacked a few at a time. It runs each target a few seconds in
// `make test`, with a seed printed so a failure can be repeated. A target reports a violated
// property by aborting (an input running over 20 s counts as one); the abort handler writes the
// input to $FUZZ_CRASH_DIR (default: the current directory) as crash-<target>-<seed> and says so.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// What the abort handler writes: the input being run. Set before each run; the handler only reads
// them and calls async-signal-safe functions.
const std::string* g_current = nullptr;
char g_crash_path[4096] = {0};

void WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void OnAbort(int sig) {
  if (g_current != nullptr && g_crash_path[0] != '\0') {
    const int fd = open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      WriteAll(fd, g_current->data(), g_current->size());
      close(fd);
      static const char kMsg[] = "\nfuzz: the failing input was written to ";
      WriteAll(2, kMsg, sizeof(kMsg) - 1);
      WriteAll(2, g_crash_path, strlen(g_crash_path));
      WriteAll(2, "\n", 1);
    }
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

// An input that runs this long is a hang (yaml-cpp's LoadAll once looped for ever): report it and
// keep it like a crash.
constexpr unsigned kInputTimeoutSeconds = 20;

void OnTimeout(int) {
  static const char kMsg[] = "fuzz: an input ran for over 20 s (a hang)\n";
  WriteAll(2, kMsg, sizeof(kMsg) - 1);
  raise(SIGABRT);
}

void Run(const std::string& input) {
  g_current = &input;
  alarm(kInputTimeoutSeconds);
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  alarm(0);
  g_current = nullptr;
}

class Mutator {
 public:
  Mutator(uint64_t seed, const std::vector<std::string>* corpus) : rng_(seed), corpus_(corpus) {}

  std::string Next() {
    std::string s = Pick();
    const int rounds = 1 + static_cast<int>(Below(4));
    for (int i = 0; i < rounds; ++i) MutateOnce(s);
    if (s.size() > kMaxSize) s.resize(kMaxSize);
    return s;
  }

 private:
  static constexpr size_t kMaxSize = 64 * 1024;

  size_t Below(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  char RandomByte() {
    // Mostly bytes that matter to the parsers under test; sometimes anything.
    static constexpr std::string_view kInteresting = "{}[]:,\"'\\-=!<>()&| \n\t#0129.eE+/*~@%_xX";
    if (Below(4) == 0) return static_cast<char>(Below(256));
    return kInteresting[Below(kInteresting.size())];
  }
  const std::string& Pick() { return (*corpus_)[Below(corpus_->size())]; }

  void MutateOnce(std::string& s) {
    switch (Below(8)) {
      case 0:  // flip a bit
        if (!s.empty()) s[Below(s.size())] ^= static_cast<char>(1u << Below(8));
        break;
      case 1:  // change a byte
        if (!s.empty()) s[Below(s.size())] = RandomByte();
        break;
      case 2:  // insert bytes
        s.insert(Below(s.size() + 1), 1 + Below(4), RandomByte());
        break;
      case 3: {  // delete a range
        if (s.empty()) break;
        const size_t at = Below(s.size());
        s.erase(at, 1 + Below(std::min<size_t>(16, s.size() - at)));
        break;
      }
      case 4: {  // duplicate a range
        if (s.empty()) break;
        const size_t at = Below(s.size());
        const std::string piece = s.substr(at, 1 + Below(std::min<size_t>(32, s.size() - at)));
        s.insert(Below(s.size() + 1), piece);
        break;
      }
      case 5: {  // splice: a prefix of this, a suffix of another
        const std::string& other = Pick();
        s = s.substr(0, Below(s.size() + 1)) + other.substr(Below(other.size() + 1));
        break;
      }
      case 6: {  // a piece of another input dropped in (tokens, keys, whole fields)
        const std::string& other = Pick();
        if (other.empty()) break;
        const size_t at = Below(other.size());
        s.insert(Below(s.size() + 1), other.substr(at, 1 + Below(std::min<size_t>(48, other.size() - at))));
        break;
      }
      default:  // truncate
        s.resize(Below(s.size() + 1));
        break;
    }
  }

  std::mt19937_64 rng_;
  const std::vector<std::string>* corpus_;
};

bool ReadFile(const std::filesystem::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  double mutate_seconds = 0;
  uint64_t seed = std::random_device{}();
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.rfind("--mutate-seconds=", 0) == 0) {
      char* end = nullptr;
      mutate_seconds = std::strtod(argv[i] + strlen("--mutate-seconds="), &end);
      if (end == nullptr || *end != '\0' || mutate_seconds < 0) {
        std::fprintf(stderr, "%s: bad %s (want seconds >= 0)\n", argv[0], argv[i]);
        return 2;
      }
      continue;
    }
    if (arg.rfind("--seed=", 0) == 0) {
      char* end = nullptr;
      seed = std::strtoull(argv[i] + strlen("--seed="), &end, 10);
      if (end == nullptr || *end != '\0') {
        std::fprintf(stderr, "%s: bad %s (want a decimal number)\n", argv[0], argv[i]);
        return 2;
      }
      continue;
    }
    if (arg.rfind("--", 0) == 0) {
      std::fprintf(stderr, "%s: unknown flag %s (flags: --mutate-seconds=N --seed=S)\n", argv[0], argv[i]);
      return 2;
    }
    std::error_code ec;
    if (std::filesystem::is_directory(argv[i], ec)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(argv[i]))
        if (e.is_regular_file()) files.push_back(e.path());
    } else {
      files.emplace_back(argv[i]);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr,
                 "usage: %s [--mutate-seconds=N] [--seed=S] <corpus dir or file>...: no input found\n",
                 argv[0]);
    return 2;
  }

  const std::string target = std::filesystem::path(argv[0]).filename().string();
  const char* crash_dir = std::getenv("FUZZ_CRASH_DIR");  // NOLINT(concurrency-mt-unsafe): before threads
  std::snprintf(g_crash_path, sizeof(g_crash_path), "%s/crash-%s-%llu",
                crash_dir != nullptr ? crash_dir : ".", target.c_str(),
                static_cast<unsigned long long>(seed));
  signal(SIGABRT, OnAbort);
  signal(SIGALRM, OnTimeout);

  std::vector<std::string> corpus;
  for (const auto& f : files) {
    std::string bytes;
    if (!ReadFile(f, &bytes)) {
      std::fprintf(stderr, "cannot read %s\n", f.c_str());
      return 2;
    }
    Run(bytes);
    corpus.push_back(std::move(bytes));
  }
  std::printf("%zu inputs ran\n", corpus.size());
  if (mutate_seconds <= 0) return 0;

  std::printf("mutating for %.1f s with --seed=%llu\n", mutate_seconds,
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  Mutator mutator(seed, &corpus);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(mutate_seconds);
  uint64_t runs = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    Run(mutator.Next());
    ++runs;
  }
  std::printf("%llu mutated inputs ran (%.0f/s), no property violated\n",
              static_cast<unsigned long long>(runs), static_cast<double>(runs) / mutate_seconds);
  return 0;
}
