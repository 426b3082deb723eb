#include "apimachinery/gpu_json.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace deviceapi::apimachinery {

absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message, bool pretty,
                                          bool emit_defaults) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = pretty;
  opts.always_print_primitive_fields = emit_defaults;
  opts.preserve_proto_field_names = false;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, opts);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot convert ", message.GetTypeName(), " to JSON: ", std::string(status.message())));
  }
  return out;
}

absl::Status MessageFromJson(std::string_view json, google::protobuf::Message* message) {
  message->Clear();
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message, opts);
  if (!status.ok()) {
    message->Clear();
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", message->GetTypeName(), " JSON: ", std::string(status.message())));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GpuToJson(const v1::Gpu& gpu, bool pretty, bool emit_defaults) {
  return MessageToJson(gpu, pretty, emit_defaults);
}

absl::StatusOr<v1::Gpu> GpuFromJson(std::string_view json) { return MessageFromJson<v1::Gpu>(json); }

}  // namespace deviceapi::apimachinery
