#include "cli/context.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/humanize.h"
#include "deviceapi/config.h"
#include "deviceapi/errors.h"

namespace deviceapi::cli {

std::string OneLine(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n' || c == '\r') {
      // Collapse a run of line breaks; drop one at the very end.
      while (i + 1 < text.size() && (text[i + 1] == '\n' || text[i + 1] == '\r')) ++i;
      if (i + 1 < text.size()) out += "; ";
    } else if (c == '\t') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

absl::Status ParseResource(std::string_view resource, std::string* name) {
  std::string type(resource);
  if (auto slash = type.find('/'); slash != std::string::npos) {
    *name = type.substr(slash + 1);
    type.resize(slash);
    if (name->empty())
      return absl::InvalidArgumentError(
          absl::StrCat("arguments in resource/name form must have a single resource and name"));
  }
  const std::string lower = absl::AsciiStrToLower(type);
  if (lower == "gpu" || lower == "gpus" || lower == "gpu.device.nvidia.com" ||
      lower == "gpus.device.nvidia.com" || lower == "gpu.v1alpha1.device.nvidia.com" ||
      lower == "gpus.v1alpha1.device.nvidia.com") {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("the server doesn't have a resource type \"", type, "\""));
}

absl::StatusOr<std::string> ResolveName(std::string_view resource, const std::string& name) {
  std::string from_resource;
  if (absl::Status s = ParseResource(resource, &from_resource); !s.ok()) return s;
  if (from_resource.empty()) return name;
  if (!name.empty()) {
    return absl::InvalidArgumentError(
        "there is no need to specify a resource type as a separate argument when passing arguments in "
        "resource/name form");
  }
  return from_resource;
}

Context::Context(GlobalOptions opts, std::ostream& out, std::ostream& err)
    : opts_(std::move(opts)), out_(out), err_(err) {}

std::string Context::Namespace() const {
  return opts_.ns.empty() ? std::string(kDefaultNamespace) : opts_.ns;
}

absl::Time Context::Now() const { return fixed_now_ ? *fixed_now_ : absl::Now(); }

Config Context::MakeConfig() const {
  Config config = Config::FromEnvironment();
  if (!opts_.server.empty()) config.target = opts_.server;
  config.user_agent = "devicectl";
  // A CLI should fail fast when nothing listens, not wait for the socket to appear.
  config.wait_for_ready = false;
  config.retry.max_attempts = 3;
  config.timeout = timeout_;
  return config;
}

std::string Context::Target() const { return MakeConfig().target; }

absl::Status Context::Validate() {
  std::string now = opts_.now;
  if (now.empty()) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read once while parsing flags; nothing calls setenv
    if (const char* env = std::getenv(std::string(kNowEnvVar).c_str()); env != nullptr) now = env;
  }
  if (!now.empty()) {
    absl::StatusOr<absl::Time> t = ParseTime(now);
    if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat("--now: ", t.status().message()));
    fixed_now_ = *t;
  }
  if (!absl::ParseDuration(opts_.request_timeout, &timeout_) || timeout_ < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --request-timeout \"", opts_.request_timeout,
                                                   "\": want a duration such as 30s or 1m"));
  }
  if (timeout_ == absl::ZeroDuration()) timeout_ = absl::InfiniteDuration();  // kubectl: 0 = no timeout
  if (absl::Status s = MakeConfig().Validate(); !s.ok())
    return absl::InvalidArgumentError(std::string(s.message()));
  return absl::OkStatus();
}

absl::StatusOr<GpuInterfacePtr> Context::Gpus(std::string_view ns) {
  if (clientset_ == nullptr) {
    absl::StatusOr<std::unique_ptr<Clientset>> cs = Clientset::NewForConfig(MakeConfig());
    if (!cs.ok()) return cs.status();
    clientset_ = std::move(*cs);
  }
  return clientset_->DeviceV1alpha1().Gpus(ns);
}

std::string Context::FormatServerError(const absl::Status& status) const {
  const std::string message = OneLine(std::string(status.message()));
  if (errors::IsUnavailable(status) && message.find("too large resource version") == std::string::npos) {
    return absl::StrCat("error: unable to connect to the server at ", Target(), ": ", message);
  }
  if (errors::IsTimeout(status)) {
    return absl::StrCat("error: the server at ", Target(), " did not answer in time: ", message);
  }
  return absl::StrCat("Error from server (", std::string(errors::Reason(status)), "): ", message);
}

int Context::ServerError(const absl::Status& status) {
  err_ << FormatServerError(status) << "\n";
  return 1;
}

int Context::Error(std::string_view message) {
  err_ << "error: " << OneLine(message) << "\n";
  return 1;
}

}  // namespace deviceapi::cli
