// Checks the two Node Problem Detector configs under deployments/npd the way NPD reads them, so a
// broken file fails here instead of making NPD exit (klog.Fatalf) on a node:
// - gpu-custom-plugin-monitor.json: stock NPD's custom plugin monitor
//   (kubernetes/node-problem-detector pkg/custompluginmonitor/types/{config.go,types.go}).
// - gpu-external-monitor.json: npd-ext's external monitor (dims/npd-ext pkg/externalmonitor/types/types.go).
// The validators mirror NPD's Go structs key by key: a key NPD does not read is an error (Go's
// encoding/json would silently drop it), and so is a value of the wrong JSON type (encoding/json
// would fail). On top of NPD's own Validate() they check our policy (timeout < invoke_interval,
// UpperCamelCase names, one permanent rule per condition) and npd-gpu-monitor's contract (its
// conditions, reasons, and `check --condition <C>` arguments).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#ifndef NPD_DEPLOY_DIR
#error "NPD_DEPLOY_DIR must name the deployments/npd directory"
#endif

namespace {

using nlohmann::json;
using Errors = std::vector<std::string>;

constexpr int64_t kNanosecond = 1;
constexpr int64_t kSecond = 1000 * 1000 * 1000 * kNanosecond;

// npd-gpu-monitor's contract (the binary these configs drive).
constexpr std::string_view kMonitorPath = "/usr/local/bin/npd-gpu-monitor";
constexpr std::string_view kSource = "npd-gpu-monitor";
constexpr std::string_view kXidCondition = "GPUXID";
struct HealthyDefault {
  std::string_view reason;
  std::string_view message;
};
const std::map<std::string, HealthyDefault, std::less<>>& PermanentConditions() {
  static const auto* conditions = new std::map<std::string, HealthyDefault, std::less<>>{
      {"GPUUnhealthy", {"GPUsHealthy", "All GPUs are healthy"}},
      {"GPUHealthUnknown", {"GPUHealthKnown", "The health of every GPU is known"}},
      {"GPUCountMismatch", {"GPUCountMatches", "The expected number of GPUs is present"}},
  };
  return *conditions;
}

// NPD cuts plugin stdout at 4 KiB before max_output_length applies (plugin.go).
constexpr int64_t kMaxCustomPluginBufferBytes = 4096;

// ---------------------------------------------------------------------------------------------
// Go's time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, units ns us µs μs ms s m h; "0" alone
// needs no unit. nullopt where Go returns an error.
std::optional<int64_t> ParseGoDuration(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return 0;
  if (s.empty()) return std::nullopt;
  struct Unit {
    std::string_view name;
    uint64_t nanoseconds;
  };
  constexpr std::array<Unit, 8> kUnits = {{
      {"ns", 1},
      {"us", 1000},
      {"\u00b5s", 1000},  // U+00B5 micro sign
      {"\u03bcs", 1000},  // U+03BC Greek mu
      {"ms", 1000 * 1000},
      {"s", kSecond},
      {"m", 60 * kSecond},
      {"h", 3600 * kSecond},
  }};
  constexpr uint64_t kMax = uint64_t{1} << 63;  // Go allows |d| up to 1<<63 before the sign
  uint64_t total = 0;
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  while (!s.empty()) {
    if (s[0] != '.' && !is_digit(s[0])) return std::nullopt;
    uint64_t whole = 0;
    size_t i = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      if (whole > (kMax - 9) / 10) return std::nullopt;  // Go: "invalid duration" on overflow
      whole = whole * 10 + static_cast<uint64_t>(s[i] - '0');
    }
    bool digits_before = i > 0;
    s.remove_prefix(i);
    long double fraction = 0;
    bool digits_after = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      long double scale = 1;
      for (i = 0; i < s.size() && is_digit(s[i]); ++i) {
        scale /= 10;
        fraction += static_cast<long double>(s[i] - '0') * scale;
      }
      digits_after = i > 0;
      s.remove_prefix(i);
    }
    if (!digits_before && !digits_after) return std::nullopt;  // "." or ".s"
    for (i = 0; i < s.size() && s[i] != '.' && !is_digit(s[i]); ++i) {
    }
    if (i == 0) return std::nullopt;  // Go: "missing unit in duration"
    const std::string_view name = s.substr(0, i);
    auto unit = std::find_if(kUnits.begin(), kUnits.end(), [&](const Unit& u) { return u.name == name; });
    if (unit == kUnits.end()) return std::nullopt;  // Go: "unknown unit"
    s.remove_prefix(i);
    const uint64_t scale = unit->nanoseconds;
    if (whole > kMax / scale) return std::nullopt;
    uint64_t value = whole * scale;
    value += static_cast<uint64_t>(fraction * static_cast<long double>(scale));
    if (value > kMax || total > kMax - value) return std::nullopt;
    total += value;
  }
  if (!negative && total == kMax) return std::nullopt;
  if (!negative) return static_cast<int64_t>(total);
  return total == kMax ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(total);
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by both validators. Every error starts with the JSON path it is about.

bool IsUpperCamelCase(std::string_view s) {
  if (s.empty() || !std::isupper(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string Join(std::string_view where, std::string_view key) {
  return where.empty() ? std::string(key) : std::string(where) + "." + std::string(key);
}

class Validator {
 public:
  const Errors& errors() const { return errors_; }

  void Fail(std::string_view where, std::string_view what) {
    errors_.push_back(std::string(where) + ": " + std::string(what));
  }

  // `obj` must be an object whose keys all belong to `allowed` (the fields of NPD's Go struct).
  bool ObjectWithKeys(const json& obj, std::string_view where,
                      const std::set<std::string, std::less<>>& allowed) {
    if (!obj.is_object()) {
      Fail(where, "must be a JSON object, not " + std::string(obj.type_name()));
      return false;
    }
    for (const auto& [key, value] : obj.items()) {
      if (allowed.count(key) == 0) Fail(Join(where, key), "unknown key: NPD does not read it");
    }
    return true;
  }

  // A required or optional string; nullopt when absent or not a string.
  std::optional<std::string> String(const json& obj, std::string_view key, std::string_view where,
                                    bool required) {
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (required) Fail(Join(where, key), "is required");
      return std::nullopt;
    }
    if (!it->is_string()) {
      Fail(Join(where, key), "must be a string, not " + std::string(it->type_name()));
      return std::nullopt;
    }
    if (required && it->get_ref<const std::string&>().empty()) Fail(Join(where, key), "must not be empty");
    return it->get<std::string>();
  }

  void OptionalBool(const json& obj, std::string_view key, std::string_view where) {
    auto it = obj.find(key);
    if (it != obj.end() && !it->is_boolean()) {
      Fail(Join(where, key), "must be a boolean, not " + std::string(it->type_name()));
    }
  }

  // A Go int: a JSON integer (encoding/json rejects 5.0 and "5" for an int field).
  std::optional<int64_t> OptionalInt(const json& obj, std::string_view key, std::string_view where) {
    auto it = obj.find(key);
    if (it == obj.end()) return std::nullopt;
    if (!it->is_number_integer() ||
        (it->is_number_unsigned() && it->get<uint64_t>() > std::numeric_limits<int64_t>::max())) {
      Fail(Join(where, key), "must be a JSON integer, not " + it->dump());
      return std::nullopt;
    }
    return it->get<int64_t>();
  }

  // The condition list both monitors take: NPD reads type, reason and message (custom's
  // types.Condition also decodes status/transition/taint*, but NPD overwrites or ignores them).
  std::set<std::string> Conditions(const json& config) {
    std::set<std::string> types;
    auto it = config.find("conditions");
    if (it == config.end() || !it->is_array()) {
      Fail("conditions", "must be an array of {type, reason, message}");
      return types;
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const json& condition = (*it)[i];
      std::string where = "conditions[" + std::to_string(i) + "]";
      if (!ObjectWithKeys(condition, where, {"type", "reason", "message"})) continue;
      auto type = String(condition, "type", where, true);
      auto reason = String(condition, "reason", where, true);
      auto message = String(condition, "message", where, true);
      if (!type || !reason || !message) continue;
      if (!IsUpperCamelCase(*type)) Fail(where + ".type", "must be UpperCamelCase: \"" + *type + "\"");
      if (!IsUpperCamelCase(*reason)) Fail(where + ".reason", "must be UpperCamelCase: \"" + *reason + "\"");
      if (*reason == *type) Fail(where + ".reason", "the healthy reason must differ from the problem type");
      if (!types.insert(*type).second) Fail(where + ".type", "duplicate condition \"" + *type + "\"");
      auto known = PermanentConditions().find(*type);
      if (known == PermanentConditions().end()) {
        Fail(where + ".type", "npd-gpu-monitor reports no condition \"" + *type + "\"");
        continue;
      }
      if (*reason != known->second.reason) {
        Fail(where + ".reason", "npd-gpu-monitor's healthy reason is " + std::string(known->second.reason));
      }
      if (*message != known->second.message) {
        Fail(where + ".message",
             "npd-gpu-monitor's healthy message is \"" + std::string(known->second.message) + "\"");
      }
    }
    for (const auto& [type, unused] : PermanentConditions()) {
      if (types.count(type) == 0) Fail("conditions", "lacks npd-gpu-monitor's condition " + type);
    }
    return types;
  }

  void Source(const json& config) {
    auto source = String(config, "source", "", true);
    if (source && *source != kSource) Fail("source", "must be \"" + std::string(kSource) + "\"");
  }

 private:
  Errors errors_;
};

// ---------------------------------------------------------------------------------------------
// Stock NPD custom plugin monitor (CustomPluginConfig, pluginGlobalConfig, CustomRule).

// A Go duration string as config.go parses it (time.ParseDuration); nullopt if absent or broken.
std::optional<int64_t> CustomDuration(Validator& v, const json& obj, std::string_view key,
                                      std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  if (!it->is_string()) {
    v.Fail(Join(where, key), "must be a Go duration string such as \"10s\", not " + it->dump());
    return std::nullopt;
  }
  auto d = ParseGoDuration(it->get<std::string>());
  if (!d) {
    v.Fail(Join(where, key), "is not a Go duration: " + it->dump());
  } else if (*d <= 0) {
    v.Fail(Join(where, key), "must be positive: " + it->dump());
    return std::nullopt;
  }
  return d;
}

// Checks a rule's arguments: `check --condition <C>` and then npd-gpu-monitor's check flags.
void CheckArgs(Validator& v, const std::vector<std::string>& args, const std::string& where,
               const std::optional<std::string>& want_condition, int64_t rule_timeout,
               int64_t max_output_length) {
  if (args.size() < 3 || args[0] != "check" || args[1] != "--condition") {
    v.Fail(where, "must start with \"check\", \"--condition\", <condition>");
    return;
  }
  const std::string& condition = args[2];
  if (PermanentConditions().count(condition) == 0 && condition != kXidCondition) {
    v.Fail(where, "npd-gpu-monitor check knows no condition \"" + condition + "\"");
  } else if (want_condition && condition != *want_condition) {
    v.Fail(where, "checks " + condition + " but the rule is for " + *want_condition);
  }
  std::map<std::string, std::string> flags;
  for (size_t i = 3; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    if (auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag.resize(eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      v.Fail(where, flag + " needs a value");
      break;
    }
    constexpr std::array<std::string_view, 5> kCheckFlags = {
        "--server-address", "--timeout", "--expected-gpus", "--max-output", "--state-file"};
    if (std::find(kCheckFlags.begin(), kCheckFlags.end(), flag) == kCheckFlags.end()) {
      v.Fail(where, "npd-gpu-monitor check has no flag " + flag);
      continue;
    }
    if (!flags.emplace(flag, value).second) v.Fail(where, flag + " is given twice");
    if (value.empty()) v.Fail(where, flag + " has an empty value");
  }
  auto positive_int = [](const std::string& s) -> std::optional<int64_t> {
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return {};
    int64_t n = std::stoll(s);
    return n > 0 ? std::optional<int64_t>(n) : std::nullopt;
  };
  if (auto it = flags.find("--expected-gpus"); it != flags.end()) {
    if (!positive_int(it->second)) v.Fail(where, "--expected-gpus must be a positive integer");
    if (condition != "GPUCountMismatch") v.Fail(where, "--expected-gpus only matters to GPUCountMismatch");
  } else if (condition == "GPUCountMismatch") {
    v.Fail(where, "GPUCountMismatch needs --expected-gpus");
  }
  if (auto it = flags.find("--timeout"); it != flags.end()) {
    // The check must give up (and print Unknown) before NPD kills it.
    auto d = ParseGoDuration(it->second);
    if (!d || *d <= 0 || *d >= rule_timeout) v.Fail(where, "--timeout must be a duration below the rule's");
  }
  if (auto it = flags.find("--max-output"); it != flags.end()) {
    auto n = positive_int(it->second);
    if (!n || *n > max_output_length) v.Fail(where, "--max-output must be in 1..max_output_length");
  }
  if (auto it = flags.find("--state-file"); it != flags.end() && it->second.substr(0, 1) != "/") {
    v.Fail(where, "--state-file must be an absolute path");
  }
  if (auto it = flags.find("--state-file"); it != flags.end() && condition != kXidCondition) {
    v.Fail(where, "--state-file only matters to GPUXID");
  }
}

Errors ValidateCustomPluginMonitor(const json& config) {
  Validator v;
  if (!v.ObjectWithKeys(config, "",
                        {"plugin", "pluginConfig", "source", "conditions", "rules", "metricsReporting"})) {
    return v.errors();
  }
  // CustomPluginConfig.Validate: plugin must be "custom".
  auto plugin = v.String(config, "plugin", "", true);
  if (plugin && *plugin != "custom") v.Fail("plugin", "must be \"custom\" for the custom plugin monitor");
  v.Source(config);
  v.OptionalBool(config, "metricsReporting", "");

  // pluginGlobalConfig, with ApplyConfiguration's defaults.
  int64_t invoke_interval = 30 * kSecond;
  int64_t timeout = 5 * kSecond;
  int64_t max_output_length = 80;
  int64_t concurrency = 3;
  if (auto it = config.find("pluginConfig"); it != config.end()) {
    const json& pc = *it;
    if (v.ObjectWithKeys(pc, "pluginConfig",
                         {"invoke_interval", "timeout", "max_output_length", "concurrency",
                          "enable_message_change_based_condition_update", "skip_initial_status"})) {
      if (auto d = CustomDuration(v, pc, "invoke_interval", "pluginConfig")) invoke_interval = *d;
      if (auto d = CustomDuration(v, pc, "timeout", "pluginConfig")) timeout = *d;
      if (auto n = v.OptionalInt(pc, "max_output_length", "pluginConfig")) {
        max_output_length = *n;
        if (*n < 1 || *n > kMaxCustomPluginBufferBytes) {
          v.Fail("pluginConfig.max_output_length", "must be in 1..4096 (NPD reads at most 4 KiB of stdout)");
        }
      }
      if (auto n = v.OptionalInt(pc, "concurrency", "pluginConfig")) {
        concurrency = *n;
        // 0 makes an unbuffered semaphore channel that blocks every run; negative panics.
        if (*n < 1) v.Fail("pluginConfig.concurrency", "must be at least 1");
      }
      v.OptionalBool(pc, "enable_message_change_based_condition_update", "pluginConfig");
      v.OptionalBool(pc, "skip_initial_status", "pluginConfig");
    }
  }
  if (timeout >= invoke_interval) v.Fail("pluginConfig.timeout", "must be less than invoke_interval");

  std::set<std::string> conditions = v.Conditions(config);

  auto rules = config.find("rules");
  if (rules == config.end() || !rules->is_array() || rules->empty()) {
    v.Fail("rules", "must be a non-empty array");
    return v.errors();
  }
  std::map<std::string, int> permanent_rules;
  int xid_rules = 0;
  int64_t slowest_rule = 0;
  for (size_t i = 0; i < rules->size(); ++i) {
    const json& rule = (*rules)[i];
    std::string where = "rules[" + std::to_string(i) + "]";
    // invoke_interval per rule is read by NPD with kubernetes/node-problem-detector#1320 only.
    if (!v.ObjectWithKeys(rule, where,
                          {"type", "condition", "reason", "path", "args", "timeout", "invoke_interval"})) {
      continue;
    }
    auto type = v.String(rule, "type", where, true);
    bool permanent = type && *type == "permanent";
    if (type && !permanent && *type != "temporary") {
      v.Fail(where + ".type", "must be \"temporary\" or \"permanent\", not \"" + *type + "\"");
    }
    auto reason = v.String(rule, "reason", where, true);
    if (reason && !IsUpperCamelCase(*reason)) {
      v.Fail(where + ".reason", "must be UpperCamelCase: \"" + *reason + "\"");
    }
    std::optional<std::string> condition;
    if (permanent) {
      condition = v.String(rule, "condition", where, true);
      if (condition) {
        // CustomPluginConfig.Validate: "Permanent problem %s does not have preset default condition."
        if (conditions.count(*condition) == 0) {
          v.Fail(where + ".condition", "\"" + *condition + "\" is not in conditions[]");
        }
        ++permanent_rules[*condition];
        // npd-gpu-monitor: a problem's reason equals its condition type.
        if (reason && *reason != *condition) v.Fail(where + ".reason", "must equal the condition type");
      }
    } else if (type && *type == "temporary") {
      if (rule.contains("condition")) {
        v.Fail(where + ".condition", "NPD ignores the condition of a temporary rule; remove it");
      }
      condition = std::string(kXidCondition);
      ++xid_rules;
      if (reason && *reason != kXidCondition) v.Fail(where + ".reason", "must be GPUXID");
    }
    auto path = v.String(rule, "path", where, true);
    if (path && (path->empty() || path->front() != '/')) {
      v.Fail(where + ".path", "must be an absolute path (NPD stats it at start and execs it)");
    } else if (path && *path != kMonitorPath) {
      v.Fail(where + ".path", "must be " + std::string(kMonitorPath));
    }
    // Rule timeout: config.go's Validate rejects one above the global timeout.
    int64_t rule_timeout = timeout;
    if (auto d = CustomDuration(v, rule, "timeout", where)) {
      if (*d > timeout) v.Fail(where + ".timeout", "is greater than the global pluginConfig.timeout");
      rule_timeout = std::min(*d, timeout);
    }
    slowest_rule = std::max(slowest_rule, rule_timeout);
    CustomDuration(v, rule, "invoke_interval", where);
    auto args = rule.find("args");
    if (args == rule.end() || !args->is_array()) {
      v.Fail(where + ".args", "must be an array of strings");
      continue;
    }
    std::vector<std::string> arg_strings;
    for (const json& arg : *args) {
      if (!arg.is_string()) {
        v.Fail(where + ".args", "must hold strings only, not " + arg.dump());
        arg_strings.clear();
        break;
      }
      arg_strings.push_back(arg.get<std::string>());
    }
    if (!arg_strings.empty() || args->empty()) {
      CheckArgs(v, arg_strings, where + ".args", condition, rule_timeout, max_output_length);
    }
  }
  // One permanent rule per condition: several flip-flop (NPD #566/#664), none leaves it False forever.
  for (const std::string& condition : conditions) {
    int n = permanent_rules[condition];
    if (n != 1) {
      v.Fail("rules", "condition " + condition + " has " + std::to_string(n) + " permanent rules, not 1");
    }
  }
  if (xid_rules != 1) v.Fail("rules", "needs exactly one temporary GPUXID rule");
  // plugin.go runs every rule each tick, `concurrency` at a time, and waits for all of them.
  if (concurrency >= 1) {
    const auto n = static_cast<int64_t>(rules->size());
    const int64_t round = (n + concurrency - 1) / concurrency * slowest_rule;
    if (round > invoke_interval) {
      v.Fail("pluginConfig", "a round of rules can take " + std::to_string(round / kSecond) +
                                 "s, longer than invoke_interval");
    }
  }
  return v.errors();
}

// ---------------------------------------------------------------------------------------------
// npd-ext external monitor (ExternalMonitorConfig, ExternalPluginConfig, RetryPolicy,
// HealthCheckConfig). Durations are time.Duration fields: encoding/json wants integer nanoseconds.

std::optional<int64_t> ExternalDuration(Validator& v, const json& obj, std::string_view key,
                                        std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  std::string path = Join(where, key);
  if (it->is_string()) {
    v.Fail(path, "is a Go time.Duration: JSON integer nanoseconds; a string such as " + it->dump() +
                     " fails json.Unmarshal and NPD exits");
    return std::nullopt;
  }
  if (!it->is_number_integer() ||
      (it->is_number_unsigned() && it->get<uint64_t>() > std::numeric_limits<int64_t>::max())) {
    v.Fail(path, "must be a JSON integer of nanoseconds (an int64), not " + it->dump());
    return std::nullopt;
  }
  const auto d = it->get<int64_t>();
  if (d < kSecond) {
    v.Fail(path,
           "must be at least 1000000000 (1s); 0 would mean NPD's default, a negative value "
           "breaks its timers");
    return std::nullopt;
  }
  return d;
}

Errors ValidateExternalMonitor(const json& config) {
  Validator v;
  if (!v.ObjectWithKeys(config, "", {"plugin", "pluginConfig", "source", "metricsReporting", "conditions"})) {
    return v.errors();
  }
  auto plugin = v.String(config, "plugin", "", true);
  if (plugin && *plugin != "external") v.Fail("plugin", "must be \"external\" for the external monitor");
  v.Source(config);
  v.OptionalBool(config, "metricsReporting", "");
  v.Conditions(config);

  auto pc_it = config.find("pluginConfig");
  if (pc_it == config.end()) {
    v.Fail("pluginConfig", "is required (socketAddress is)");
    return v.errors();
  }
  const json& pc = *pc_it;
  if (!v.ObjectWithKeys(pc, "pluginConfig",
                        {"socketAddress", "invoke_interval", "timeout", "skip_initial_status", "retryPolicy",
                         "healthCheck", "pluginParameters"})) {
    return v.errors();
  }
  // NPD dials "unix://" + socketAddress and stats socketAddress: a plain absolute path.
  auto socket = v.String(pc, "socketAddress", "pluginConfig", true);
  if (socket && (socket->empty() || socket->front() != '/')) {
    v.Fail("pluginConfig.socketAddress", "must be an absolute path without a scheme");
  }
  // ApplyConfiguration's defaults (30s, 10s), then Validate's rules.
  const int64_t invoke_interval =
      ExternalDuration(v, pc, "invoke_interval", "pluginConfig").value_or(30 * kSecond);
  const int64_t timeout = ExternalDuration(v, pc, "timeout", "pluginConfig").value_or(10 * kSecond);
  if (timeout >= invoke_interval) v.Fail("pluginConfig.timeout", "must be less than invoke_interval");
  v.OptionalBool(pc, "skip_initial_status", "pluginConfig");

  if (auto it = pc.find("retryPolicy"); it != pc.end()) {
    const std::string where = "pluginConfig.retryPolicy";
    if (v.ObjectWithKeys(*it, where, {"maxAttempts", "backoffMultiplier", "initialBackoff", "maxBackoff"})) {
      if (auto n = v.OptionalInt(*it, "maxAttempts", where); n && *n < 1) {
        v.Fail(where + ".maxAttempts", "must be at least 1");
      }
      if (auto m = it->find("backoffMultiplier"); m != it->end()) {
        if (!m->is_number()) {
          v.Fail(where + ".backoffMultiplier", "must be a JSON number, not " + m->dump());
        } else if (!(m->get<double>() >= 1.0)) {
          v.Fail(where + ".backoffMultiplier", "must be at least 1.0");
        }
      }
      auto initial = ExternalDuration(v, *it, "initialBackoff", where);
      auto max = ExternalDuration(v, *it, "maxBackoff", where);
      if (initial.value_or(kSecond) > max.value_or(300 * kSecond)) {
        v.Fail(where + ".initialBackoff", "must not exceed maxBackoff");
      }
    }
  }
  if (auto it = pc.find("healthCheck"); it != pc.end()) {
    const std::string where = "pluginConfig.healthCheck";
    if (v.ObjectWithKeys(*it, where, {"interval", "timeout", "errorThreshold"})) {
      auto interval = ExternalDuration(v, *it, "interval", where);
      auto hc_timeout = ExternalDuration(v, *it, "timeout", where);
      if (hc_timeout.value_or(5 * kSecond) >= interval.value_or(30 * kSecond)) {
        v.Fail(where + ".timeout", "must be less than healthCheck.interval");
      }
      if (auto n = v.OptionalInt(*it, "errorThreshold", where); n && *n < 1) {
        v.Fail(where + ".errorThreshold", "must be at least 1");
      }
    }
  }
  // map[string]string, sent as HealthCheckRequest.parameters; npd-gpu-monitor reads expected_gpus.
  if (auto it = pc.find("pluginParameters"); it != pc.end()) {
    const std::string where = "pluginConfig.pluginParameters";
    if (!it->is_object()) {
      v.Fail(where, "must be a JSON object of strings");
    } else {
      for (const auto& [key, value] : it->items()) {
        if (!value.is_string()) {
          v.Fail(Join(where, key), "must be a string (map[string]string), not " + value.dump());
        } else if (key != "expected_gpus") {
          v.Fail(Join(where, key), "npd-gpu-monitor reads no parameter of that name");
        } else {
          const auto& s = value.get_ref<const std::string&>();
          if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos ||
              std::stoll(s) == 0) {
            v.Fail(Join(where, key), "must be a positive integer in a string");
          }
        }
      }
    }
  }
  return v.errors();
}

// ---------------------------------------------------------------------------------------------

json Load(const std::string& name) {
  std::ifstream in(std::string(NPD_DEPLOY_DIR) + "/" + name);
  EXPECT_TRUE(in.good()) << "cannot open " << NPD_DEPLOY_DIR << "/" << name;
  return json::parse(in);  // strict JSON, like encoding/json: no comments, no trailing commas
}

json CustomConfig() { return Load("gpu-custom-plugin-monitor.json"); }
json ExternalConfig() { return Load("gpu-external-monitor.json"); }

std::string Describe(const Errors& errors) {
  std::string out;
  for (const auto& e : errors) out += "\n  " + e;
  return out.empty() ? " (none)" : out;
}

TEST(GoDurationTest, ParsesLikeTimeParseDuration) {
  EXPECT_EQ(ParseGoDuration("10s"), 10 * kSecond);
  EXPECT_EQ(ParseGoDuration("0"), 0);
  EXPECT_EQ(ParseGoDuration("300ms"), 300 * 1000 * 1000);
  EXPECT_EQ(ParseGoDuration("1m30s"), 90 * kSecond);
  EXPECT_EQ(ParseGoDuration("1.5h"), 5400 * kSecond);
  EXPECT_EQ(ParseGoDuration(".5s"), kSecond / 2);
  EXPECT_EQ(ParseGoDuration("2h45m"), (2 * 3600 + 45 * 60) * kSecond);
  EXPECT_EQ(ParseGoDuration("1us"), 1000);
  EXPECT_EQ(ParseGoDuration("1\u00b5s"), 1000);
  EXPECT_EQ(ParseGoDuration("-1s"), -kSecond);
  EXPECT_EQ(ParseGoDuration("+5s"), 5 * kSecond);
  EXPECT_EQ(ParseGoDuration("2562047h"), int64_t{2562047} * 3600 * kSecond);
  EXPECT_EQ(ParseGoDuration(""), std::nullopt);
  EXPECT_EQ(ParseGoDuration("10"), std::nullopt);  // missing unit
  EXPECT_EQ(ParseGoDuration("s"), std::nullopt);
  EXPECT_EQ(ParseGoDuration("."), std::nullopt);
  EXPECT_EQ(ParseGoDuration("1d"), std::nullopt);  // Go has no day unit
  EXPECT_EQ(ParseGoDuration("1 s"), std::nullopt);
  EXPECT_EQ(ParseGoDuration("10S"), std::nullopt);
  EXPECT_EQ(ParseGoDuration("3000000h"), std::nullopt);  // overflows int64 nanoseconds
}

TEST(CustomPluginMonitorConfigTest, ShippedFileIsValid) {
  Errors errors = ValidateCustomPluginMonitor(CustomConfig());
  EXPECT_TRUE(errors.empty()) << Describe(errors);
}

TEST(CustomPluginMonitorConfigTest, ShippedValues) {
  const json c = CustomConfig();
  EXPECT_EQ(c["pluginConfig"]["invoke_interval"], "10s");
  EXPECT_EQ(c["pluginConfig"]["timeout"], "5s");
  EXPECT_EQ(c["pluginConfig"]["max_output_length"], 80);
  EXPECT_EQ(c["pluginConfig"]["concurrency"], 2);
  EXPECT_EQ(c["pluginConfig"]["enable_message_change_based_condition_update"], false);
  EXPECT_EQ(c["pluginConfig"]["skip_initial_status"], true);
  EXPECT_EQ(c["metricsReporting"], true);
  ASSERT_EQ(c["rules"].size(), 4u);
  for (const json& rule : c["rules"]) EXPECT_EQ(rule["timeout"], "3s") << rule.dump();
  EXPECT_EQ(c["rules"][3]["type"], "temporary");
  EXPECT_EQ(c["rules"][3]["args"], json::array({"check", "--condition", "GPUXID"}));
}

TEST(ExternalMonitorConfigTest, ShippedFileIsValid) {
  Errors errors = ValidateExternalMonitor(ExternalConfig());
  EXPECT_TRUE(errors.empty()) << Describe(errors);
}

TEST(ExternalMonitorConfigTest, ShippedValues) {
  const json c = ExternalConfig();
  const json& pc = c["pluginConfig"];
  EXPECT_EQ(pc["socketAddress"], "/var/run/npd/npd-gpu-monitor.sock");
  EXPECT_EQ(pc["invoke_interval"], 10 * kSecond);
  EXPECT_EQ(pc["timeout"], 5 * kSecond);
  EXPECT_EQ(pc["skip_initial_status"], true);
  EXPECT_EQ(pc["retryPolicy"]["maxAttempts"], 5);
  EXPECT_EQ(pc["retryPolicy"]["backoffMultiplier"], 2.0);
  EXPECT_EQ(pc["retryPolicy"]["initialBackoff"], kSecond);
  EXPECT_EQ(pc["retryPolicy"]["maxBackoff"], 300 * kSecond);
  EXPECT_EQ(pc["healthCheck"]["interval"], 30 * kSecond);
  EXPECT_EQ(pc["healthCheck"]["timeout"], 5 * kSecond);
  EXPECT_EQ(pc["healthCheck"]["errorThreshold"], 3);
  EXPECT_EQ(c["metricsReporting"], true);
}

// Both files describe the same monitor: same source, same conditions, same expected GPU count (the
// deployment templates both placeholders from one value).
TEST(NpdConfigsTest, BothFilesAgree) {
  const json custom = CustomConfig();
  const json external = ExternalConfig();
  EXPECT_EQ(custom["source"], external["source"]);
  EXPECT_EQ(custom["conditions"], external["conditions"]);
  std::optional<std::string> expected_gpus;
  for (const json& rule : custom["rules"]) {
    const json& args = rule["args"];
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--expected-gpus") expected_gpus = args[i + 1].get<std::string>();
    }
  }
  ASSERT_TRUE(expected_gpus.has_value());
  EXPECT_EQ(external["pluginConfig"]["pluginParameters"]["expected_gpus"], *expected_gpus);
}

// ---------------------------------------------------------------------------------------------
// Each validator must reject a broken copy of the shipped file, naming the problem.

enum class Which { kCustom, kExternal };

struct BrokenCopy {
  std::string name;
  Which which;
  std::function<void(json&)> breakit;
  std::string want;  // a substring of one of the errors
};

class BrokenCopyTest : public testing::TestWithParam<BrokenCopy> {};

TEST_P(BrokenCopyTest, IsRejected) {
  const BrokenCopy& p = GetParam();
  json config = p.which == Which::kCustom ? CustomConfig() : ExternalConfig();
  auto validate = p.which == Which::kCustom ? ValidateCustomPluginMonitor : ValidateExternalMonitor;
  ASSERT_TRUE(validate(config).empty()) << "the shipped file itself fails" << Describe(validate(config));
  p.breakit(config);
  Errors errors = validate(config);
  bool found = false;
  for (const auto& e : errors) found = found || e.find(p.want) != std::string::npos;
  EXPECT_TRUE(found) << "no error contains \"" << p.want << "\"; errors:" << Describe(errors);
}

void PrintTo(const BrokenCopy& c, std::ostream* os) { *os << c.name; }

json CountRule() {
  return {{"type", "permanent"},
          {"condition", "GPUCountMismatch"},
          {"reason", "GPUCountMismatch"},
          {"path", "/usr/local/bin/npd-gpu-monitor"},
          {"args", {"check", "--condition", "GPUCountMismatch", "--expected-gpus", "8"}},
          {"timeout", "3s"}};
}

std::vector<BrokenCopy> CustomCases() {
  return {
      {"UnknownTopLevelKey", Which::kCustom, [](json& c) { c["rule"] = json::array(); }, "rule: unknown key"},
      {"UnknownPluginConfigKey", Which::kCustom, [](json& c) { c["pluginConfig"]["interval"] = "10s"; },
       "pluginConfig.interval: unknown key"},
      {"UnknownRuleKey", Which::kCustom, [](json& c) { c["rules"][0]["pattern"] = "Xid"; },
       "rules[0].pattern: unknown key"},
      {"UnknownConditionKey", Which::kCustom, [](json& c) { c["conditions"][0]["status"] = "False"; },
       "conditions[0].status: unknown key"},
      {"PluginNotCustom", Which::kCustom, [](json& c) { c["plugin"] = "external"; }, "must be \"custom\""},
      {"IntegerInvokeInterval", Which::kCustom,
       [](json& c) { c["pluginConfig"]["invoke_interval"] = 10 * kSecond; },
       "pluginConfig.invoke_interval: must be a Go duration string"},
      {"InvokeIntervalWithoutUnit", Which::kCustom,
       [](json& c) { c["pluginConfig"]["invoke_interval"] = "10"; },
       "pluginConfig.invoke_interval: is not a Go duration"},
      {"TimeoutNotBelowInterval", Which::kCustom, [](json& c) { c["pluginConfig"]["timeout"] = "10s"; },
       "pluginConfig.timeout: must be less than invoke_interval"},
      {"RuleTimeoutAboveGlobal", Which::kCustom, [](json& c) { c["rules"][1]["timeout"] = "6s"; },
       "rules[1].timeout: is greater than the global"},
      {"RuleTimeoutNotDuration", Which::kCustom, [](json& c) { c["rules"][1]["timeout"] = "3 s"; },
       "rules[1].timeout: is not a Go duration"},
      {"MaxOutputAbove4KiB", Which::kCustom, [](json& c) { c["pluginConfig"]["max_output_length"] = 8192; },
       "max_output_length: must be in 1..4096"},
      {"MaxOutputAsString", Which::kCustom, [](json& c) { c["pluginConfig"]["max_output_length"] = "80"; },
       "max_output_length: must be a JSON integer"},
      {"ZeroConcurrency", Which::kCustom, [](json& c) { c["pluginConfig"]["concurrency"] = 0; },
       "concurrency: must be at least 1"},
      {"RoundLongerThanInterval", Which::kCustom, [](json& c) { c["pluginConfig"]["concurrency"] = 1; },
       "a round of rules can take 12s"},
      {"SkipInitialStatusAsString", Which::kCustom,
       [](json& c) { c["pluginConfig"]["skip_initial_status"] = "true"; },
       "skip_initial_status: must be a boolean"},
      {"MetricsReportingAsString", Which::kCustom, [](json& c) { c["metricsReporting"] = "true"; },
       "metricsReporting: must be a boolean"},
      {"PermanentRuleConditionMissing", Which::kCustom, [](json& c) { c["conditions"].erase(2); },
       "rules[2].condition: \"GPUCountMismatch\" is not in conditions[]"},
      {"PermanentRuleWithoutCondition", Which::kCustom, [](json& c) { c["rules"][0].erase("condition"); },
       "rules[0].condition: is required"},
      {"BadRuleType", Which::kCustom, [](json& c) { c["rules"][0]["type"] = "sometimes"; },
       "must be \"temporary\" or \"permanent\""},
      {"RelativePath", Which::kCustom, [](json& c) { c["rules"][0]["path"] = "npd-gpu-monitor"; },
       "rules[0].path: must be an absolute path"},
      {"ArgsNotCheckMode", Which::kCustom,
       [](json& c) {
         c["rules"][0]["args"] = {"serve", "--condition", "GPUUnhealthy"};
       },
       "must start with \"check\", \"--condition\""},
      {"ArgsUnknownCondition", Which::kCustom, [](json& c) { c["rules"][0]["args"][2] = "GPUHot"; },
       "knows no condition \"GPUHot\""},
      {"ArgsOtherCondition", Which::kCustom, [](json& c) { c["rules"][0]["args"][2] = "GPUHealthUnknown"; },
       "checks GPUHealthUnknown but the rule is for GPUUnhealthy"},
      {"ArgsUnknownFlag", Which::kCustom,
       [](json& c) {
         c["rules"][0]["args"].push_back("--verbose");
         c["rules"][0]["args"].push_back("1");
       },
       "npd-gpu-monitor check has no flag --verbose"},
      {"ArgsFlagWithoutValue", Which::kCustom,
       [](json& c) { c["rules"][3]["args"].push_back("--state-file"); }, "--state-file needs a value"},
      {"ArgsNotStrings", Which::kCustom, [](json& c) { c["rules"][2]["args"][4] = 8; },
       "must hold strings only"},
      {"CountRuleWithoutExpectedGpus", Which::kCustom,
       [](json& c) {
         c["rules"][2]["args"] = {"check", "--condition", "GPUCountMismatch"};
       },
       "GPUCountMismatch needs --expected-gpus"},
      {"ExpectedGpusNotANumber", Which::kCustom, [](json& c) { c["rules"][2]["args"][4] = "{{ .gpus }}"; },
       "--expected-gpus must be a positive integer"},
      {"CheckTimeoutNotBelowRuleTimeout", Which::kCustom,
       [](json& c) {
         c["rules"][0]["args"].push_back("--timeout");
         c["rules"][0]["args"].push_back("3s");
       },
       "--timeout must be a duration below the rule's"},
      {"TwoPermanentRulesOnOneCondition", Which::kCustom, [](json& c) { c["rules"].push_back(CountRule()); },
       "condition GPUCountMismatch has 2 permanent rules"},
      {"ConditionWithoutRule", Which::kCustom, [](json& c) { c["rules"].erase(2); },
       "condition GPUCountMismatch has 0 permanent rules"},
      {"TemporaryRuleWithCondition", Which::kCustom,
       [](json& c) { c["rules"][3]["condition"] = "GPUUnhealthy"; },
       "NPD ignores the condition of a temporary rule"},
      {"NoXidRule", Which::kCustom, [](json& c) { c["rules"].erase(3); },
       "exactly one temporary GPUXID rule"},
      {"ReasonNotUpperCamelCase", Which::kCustom,
       [](json& c) { c["conditions"][0]["reason"] = "gpus healthy"; },
       "conditions[0].reason: must be UpperCamelCase"},
      {"RuleReasonNotUpperCamelCase", Which::kCustom, [](json& c) { c["rules"][3]["reason"] = "gpu-xid"; },
       "rules[3].reason: must be UpperCamelCase"},
      {"TypeNotUpperCamelCase", Which::kCustom, [](json& c) { c["conditions"][0]["type"] = "gpuUnhealthy"; },
       "conditions[0].type: must be UpperCamelCase"},
      {"ConditionNotReportedByMonitor", Which::kCustom,
       [](json& c) {
         c["conditions"].push_back({{"type", "GPUHot"}, {"reason", "GPUCool"}, {"message", "cool"}});
       },
       "npd-gpu-monitor reports no condition \"GPUHot\""},
      {"WrongHealthyReason", Which::kCustom,
       [](json& c) { c["conditions"][1]["reason"] = "GPUHealthIsKnown"; },
       "conditions[1].reason: npd-gpu-monitor's healthy reason is GPUHealthKnown"},
      {"EmptyMessage", Which::kCustom, [](json& c) { c["conditions"][2]["message"] = ""; },
       "conditions[2].message: must not be empty"},
  };
}

std::vector<BrokenCopy> ExternalCases() {
  return {
      {"StringInvokeInterval", Which::kExternal,
       [](json& c) { c["pluginConfig"]["invoke_interval"] = "30s"; },
       "pluginConfig.invoke_interval: is a Go time.Duration: JSON integer nanoseconds"},
      {"StringRetryBackoff", Which::kExternal,
       [](json& c) { c["pluginConfig"]["retryPolicy"]["initialBackoff"] = "1s"; },
       "retryPolicy.initialBackoff: is a Go time.Duration"},
      {"StringHealthCheckInterval", Which::kExternal,
       [](json& c) { c["pluginConfig"]["healthCheck"]["interval"] = "30s"; },
       "healthCheck.interval: is a Go time.Duration"},
      {"FloatDuration", Which::kExternal, [](json& c) { c["pluginConfig"]["timeout"] = 5e9; },
       "pluginConfig.timeout: must be a JSON integer of nanoseconds"},
      {"DurationInSeconds", Which::kExternal, [](json& c) { c["pluginConfig"]["invoke_interval"] = 10; },
       "pluginConfig.invoke_interval: must be at least 1000000000"},
      {"TimeoutNotBelowInterval", Which::kExternal,
       [](json& c) { c["pluginConfig"]["timeout"] = 10 * kSecond; },
       "pluginConfig.timeout: must be less than invoke_interval"},
      {"TimeoutDefaultNotBelowInterval", Which::kExternal,
       [](json& c) {
         c["pluginConfig"].erase("timeout");  // NPD's default 10s
         c["pluginConfig"]["invoke_interval"] = 5 * kSecond;
       },
       "pluginConfig.timeout: must be less than invoke_interval"},
      {"SocketPathKey", Which::kExternal,
       [](json& c) { c["pluginConfig"]["socketPath"] = c["pluginConfig"]["socketAddress"]; },
       "pluginConfig.socketPath: unknown key"},
      {"SeedDocumentKeys", Which::kExternal, [](json& c) { c["pluginConfig"]["grpcTimeout"] = "10s"; },
       "pluginConfig.grpcTimeout: unknown key"},
      {"RulesBlock", Which::kExternal, [](json& c) { c["rules"] = json::array(); }, "rules: unknown key"},
      {"UnknownRetryKey", Which::kExternal, [](json& c) { c["pluginConfig"]["retryPolicy"]["jitter"] = 0.1; },
       "retryPolicy.jitter: unknown key"},
      {"MissingSocketAddress", Which::kExternal, [](json& c) { c["pluginConfig"].erase("socketAddress"); },
       "pluginConfig.socketAddress: is required"},
      {"SocketAddressWithScheme", Which::kExternal,
       [](json& c) { c["pluginConfig"]["socketAddress"] = "unix:///var/run/npd/npd-gpu-monitor.sock"; },
       "socketAddress: must be an absolute path"},
      {"PluginNotExternal", Which::kExternal, [](json& c) { c["plugin"] = "custom"; },
       "must be \"external\""},
      {"MissingSource", Which::kExternal, [](json& c) { c.erase("source"); }, "source: is required"},
      {"ZeroMaxAttempts", Which::kExternal,
       [](json& c) { c["pluginConfig"]["retryPolicy"]["maxAttempts"] = 0; },
       "maxAttempts: must be at least 1"},
      {"FloatMaxAttempts", Which::kExternal,
       [](json& c) { c["pluginConfig"]["retryPolicy"]["maxAttempts"] = 5.0; },
       "maxAttempts: must be a JSON integer"},
      {"MultiplierBelowOne", Which::kExternal,
       [](json& c) { c["pluginConfig"]["retryPolicy"]["backoffMultiplier"] = 0.5; },
       "backoffMultiplier: must be at least 1.0"},
      {"InitialAboveMaxBackoff", Which::kExternal,
       [](json& c) { c["pluginConfig"]["retryPolicy"]["initialBackoff"] = 600 * kSecond; },
       "initialBackoff: must not exceed maxBackoff"},
      {"ZeroErrorThreshold", Which::kExternal,
       [](json& c) { c["pluginConfig"]["healthCheck"]["errorThreshold"] = 0; },
       "errorThreshold: must be at least 1"},
      {"ParameterNotString", Which::kExternal,
       [](json& c) { c["pluginConfig"]["pluginParameters"]["expected_gpus"] = 8; },
       "expected_gpus: must be a string (map[string]string)"},
      {"UnknownParameter", Which::kExternal,
       [](json& c) { c["pluginConfig"]["pluginParameters"]["temperature_threshold"] = "85"; },
       "temperature_threshold: npd-gpu-monitor reads no parameter"},
      {"ExpectedGpusZero", Which::kExternal,
       [](json& c) { c["pluginConfig"]["pluginParameters"]["expected_gpus"] = "0"; },
       "expected_gpus: must be a positive integer"},
      {"MissingConditionMessage", Which::kExternal, [](json& c) { c["conditions"][0].erase("message"); },
       "conditions[0].message: is required"},
      {"SkipInitialStatusAsNumber", Which::kExternal,
       [](json& c) { c["pluginConfig"]["skip_initial_status"] = 1; },
       "skip_initial_status: must be a boolean"},
      {"NpdExtSampleCondition", Which::kExternal,
       [](json& c) {
         c["conditions"][0] = {{"type", "GPUHealthy"}, {"reason", "GPUIsHealthy"}, {"message", "ok"}};
       },
       "reports no condition \"GPUHealthy\""},
  };
}

std::vector<BrokenCopy> AllCases() {
  std::vector<BrokenCopy> cases = CustomCases();
  for (auto& c : ExternalCases()) cases.push_back(std::move(c));
  return cases;
}

INSTANTIATE_TEST_SUITE_P(NpdConfigs, BrokenCopyTest, testing::ValuesIn(AllCases()),
                         [](const testing::TestParamInfo<BrokenCopy>& info) {
                           return std::string(info.param.which == Which::kCustom ? "Custom" : "External") +
                                  info.param.name;
                         });

}  // namespace
