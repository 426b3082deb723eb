// GPU objects as the documents users read and write (docs/API.md "JSON form"): the protobuf JSON
// mapping plus Kubernetes' apiVersion/kind, in files given to create/apply and in -o json|yaml.
#ifndef DEVICEAPI_CLI_MANIFEST_H_
#define DEVICEAPI_CLI_MANIFEST_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/yaml_json.h"
#include "device/v1alpha1/gpu.pb.h"

namespace deviceapi::cli {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

// The GPU as a document: apiVersion, kind: GPU, metadata, spec, status (fields with default values
// left out, as the JSON mapping does), 64-bit integers as JSON numbers (not strings), every
// object's keys sorted (kubectl's order for custom resources).
absl::StatusOr<Json> GpuToDocument(const v1::Gpu& gpu);

// kind: GPUList with items and metadata.resourceVersion.
absl::StatusOr<Json> GpuListToDocument(const v1::GpuList& list);

// The GPUs in a file's text (YAML or JSON, see ParseDocuments): documents of kind GPU, or of kind
// GPUList / List whose items are GPUs. apiVersion, when present, must be device.nvidia.com/v1alpha1;
// kind is required. INVALID_ARGUMENT naming the document (1-based) otherwise.
absl::StatusOr<std::vector<v1::Gpu>> DecodeGpus(std::string_view text);

}  // namespace deviceapi::cli

#endif  // DEVICEAPI_CLI_MANIFEST_H_
