// Minimal flag parsing shared by the examples (they depend on nothing but deviceapi).
#ifndef DEVICEAPI_EXAMPLES_EXAMPLE_FLAGS_H_
#define DEVICEAPI_EXAMPLES_EXAMPLE_FLAGS_H_

#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

namespace examples {

// --name value or --name=value; a flag without a value ("--all") maps to "true".
inline std::map<std::string, std::string> ParseFlags(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      std::cerr << "unexpected argument: " << a << "\n";
      std::exit(2);
    }
    a = a.substr(2);
    if (auto eq = a.find('='); eq != std::string::npos) {
      flags[a.substr(0, eq)] = a.substr(eq + 1);
    } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      flags[a] = argv[++i];
    } else {
      flags[a] = "true";
    }
  }
  return flags;
}

inline std::string Flag(const std::map<std::string, std::string>& f, const std::string& name,
                        const std::string& def = "") {
  auto it = f.find(name);
  return it == f.end() ? def : it->second;
}

inline long FlagInt(const std::map<std::string, std::string>& f, const std::string& name, long def) {
  auto it = f.find(name);
  return it == f.end() ? def : std::strtol(it->second.c_str(), nullptr, 10);
}

}  // namespace examples

#endif  // DEVICEAPI_EXAMPLES_EXAMPLE_FLAGS_H_
