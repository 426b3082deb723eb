// What every devicectl command shares: the global flags, the output streams, the clock, the
// connection to the server, and the one-line error reporting (kubectl's style).
#ifndef DEVICEAPI_CLI_CONTEXT_H_
#define DEVICEAPI_CLI_CONTEXT_H_

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "deviceapi/clientset.h"

namespace deviceapi::cli {

// The resource devicectl knows, in its short and full spellings.
inline constexpr std::string_view kResourceSingular = "gpu";
inline constexpr std::string_view kResourceFull = "gpus.device.nvidia.com";
inline constexpr std::string_view kApiVersion = "device.nvidia.com/v1alpha1";
inline constexpr std::string_view kKind = "GPU";
inline constexpr std::string_view kListKind = "GPUList";
inline constexpr std::string_view kDefaultNamespace = "default";
// Fixes "now" for AGE columns (RFC 3339), for reproducible output; the --now flag wins.
inline constexpr std::string_view kNowEnvVar = "DEVICECTL_NOW";

struct GlobalOptions {
  std::string server;                   // --server; empty: Config::FromEnvironment()
  std::string ns;                       // -n / --namespace; empty: "default"
  std::string now;                      // --now (hidden) or DEVICECTL_NOW
  std::string request_timeout = "30s";  // --request-timeout, absl duration syntax
};

class Context {
 public:
  Context(GlobalOptions opts, std::ostream& out, std::ostream& err);

  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  const GlobalOptions& options() const { return opts_; }

  // The namespace of -n, else "default".
  std::string Namespace() const;
  bool NamespaceGiven() const { return !opts_.ns.empty(); }

  // The fixed "now" when one was given, else the wall clock.
  absl::Time Now() const;

  // The server target: --server, else the environment, else the library default.
  std::string Target() const;

  // Checks the global flags (target, --now, --request-timeout); call before anything else.
  absl::Status Validate();

  // A typed client for `ns` ("" = all namespaces for List and Watch); connects on first use.
  absl::StatusOr<GpuInterfacePtr> Gpus(std::string_view ns);

  // Prints `status` as one line on stderr and returns 1: "Error from server (<Reason>): <msg>"
  // for errors the server sent, "error: unable to connect to the server at <target>: <msg>"
  // when it could not be reached.
  int ServerError(const absl::Status& status);
  // Prints "error: <message>" (one line) on stderr and returns 1.
  int Error(std::string_view message);
  // (Debian's abseil has its own string_view: status messages come as that.)
  int Error(absl::string_view message) { return Error(std::string_view(message.data(), message.size())); }
  int Error(const char* message) { return Error(std::string_view(message)); }
  int Error(const std::string& message) { return Error(std::string_view(message)); }
  // The text ServerError() prints, without the newline.
  std::string FormatServerError(const absl::Status& status) const;

 private:
  Config MakeConfig() const;

  GlobalOptions opts_;
  std::ostream& out_;
  std::ostream& err_;
  std::optional<absl::Time> fixed_now_;
  absl::Duration timeout_ = absl::Seconds(30);
  std::unique_ptr<Clientset> clientset_;
};

// Newlines and tabs become "; " and spaces, so that an error stays on one line.
std::string OneLine(std::string_view text);

// Splits "gpu/NAME" forms and checks that `resource` names GPUs (gpu, gpus, gpus.device.nvidia.com,
// case-insensitive). On success `*name` holds the name from a "gpu/NAME" form, if any.
absl::Status ParseResource(std::string_view resource, std::string* name);
// The object name from either form, "gpu NAME" or "gpu/NAME"; empty if neither names one.
// INVALID_ARGUMENT for an unknown resource or a name given both ways.
absl::StatusOr<std::string> ResolveName(std::string_view resource, const std::string& name);

}  // namespace deviceapi::cli

#endif  // DEVICEAPI_CLI_CONTEXT_H_
