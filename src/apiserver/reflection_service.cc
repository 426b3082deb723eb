#include "apiserver/reflection_service.h"

#include <algorithm>
#include <utility>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include "absl/strings/str_cat.h"

namespace deviceapi::apiserver {

namespace {

namespace pb = google::protobuf;
namespace refl = grpc::reflection::v1alpha;

void AddWithImports(const pb::FileDescriptor* file, std::set<std::string>* files) {
  if (file == nullptr || !files->insert(file->name()).second) return;
  for (int i = 0; i < file->dependency_count(); ++i) AddWithImports(file->dependency(i), files);
}

void SetError(refl::ServerReflectionResponse* resp, grpc::StatusCode code, std::string message) {
  resp->mutable_error_response()->set_error_code(static_cast<int>(code));
  resp->mutable_error_response()->set_error_message(std::move(message));
}

class Reactor final
    : public grpc::ServerBidiReactor<refl::ServerReflectionRequest, refl::ServerReflectionResponse> {
 public:
  explicit Reactor(const ReflectionService* service) : service_(service) { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed (or the call ended): done
      Finish(grpc::Status::OK);
      return;
    }
    response_ = service_->Answer(request_, &sent_);
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "reflection stream closed"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  const ReflectionService* service_;
  refl::ServerReflectionRequest request_;
  refl::ServerReflectionResponse response_;
  std::set<std::string> sent_;
};

}  // namespace

ReflectionService::ReflectionService(std::vector<std::string> services) : services_(std::move(services)) {
  services_.push_back(kReflectionServiceName);
  std::sort(services_.begin(), services_.end());
  services_.erase(std::unique(services_.begin(), services_.end()), services_.end());
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  for (const std::string& name : services_) {
    if (const pb::ServiceDescriptor* s = pool->FindServiceByName(name)) AddWithImports(s->file(), &files_);
  }
}

grpc::ServerBidiReactor<refl::ServerReflectionRequest, refl::ServerReflectionResponse>*
ReflectionService::ServerReflectionInfo(grpc::CallbackServerContext* /*context*/) {
  return new Reactor(this);
}

refl::ServerReflectionResponse ReflectionService::Answer(const refl::ServerReflectionRequest& request,
                                                         std::set<std::string>* sent) const {
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  refl::ServerReflectionResponse resp;
  resp.set_valid_host(request.host());
  *resp.mutable_original_request() = request;

  // A file this listener may describe, with its imports not yet sent on this stream.
  auto send_file = [&](const pb::FileDescriptor* file) {
    auto* out = resp.mutable_file_descriptor_response();
    std::vector<const pb::FileDescriptor*> todo{file};
    while (!todo.empty()) {
      const pb::FileDescriptor* f = todo.back();
      todo.pop_back();
      // The requested file is always sent (a client may ask again); imports once per stream.
      if (f != file && sent->count(f->name())) continue;
      sent->insert(f->name());
      pb::FileDescriptorProto proto;
      f->CopyTo(&proto);
      proto.SerializeToString(out->add_file_descriptor_proto());
      for (int i = 0; i < f->dependency_count(); ++i) todo.push_back(f->dependency(i));
    }
  };
  auto describable = [&](const pb::FileDescriptor* f) { return f != nullptr && files_.count(f->name()) > 0; };

  switch (request.message_request_case()) {
    case refl::ServerReflectionRequest::kListServices:
      for (const std::string& name : services_)
        resp.mutable_list_services_response()->add_service()->set_name(name);
      break;
    case refl::ServerReflectionRequest::kFileByFilename: {
      const pb::FileDescriptor* f = pool->FindFileByName(request.file_by_filename());
      if (describable(f)) {
        send_file(f);
      } else {
        SetError(&resp, grpc::StatusCode::NOT_FOUND,
                 absl::StrCat("file not found: ", request.file_by_filename()));
      }
      break;
    }
    case refl::ServerReflectionRequest::kFileContainingSymbol: {
      const pb::FileDescriptor* f = pool->FindFileContainingSymbol(request.file_containing_symbol());
      if (describable(f)) {
        send_file(f);
      } else {
        SetError(&resp, grpc::StatusCode::NOT_FOUND,
                 absl::StrCat("symbol not found: ", request.file_containing_symbol()));
      }
      break;
    }
    case refl::ServerReflectionRequest::kFileContainingExtension: {
      const auto& ext = request.file_containing_extension();
      const pb::Descriptor* type = pool->FindMessageTypeByName(ext.containing_type());
      const pb::FieldDescriptor* field = type != nullptr && describable(type->file())
                                             ? pool->FindExtensionByNumber(type, ext.extension_number())
                                             : nullptr;
      if (field != nullptr && describable(field->file())) {
        send_file(field->file());
      } else {
        SetError(&resp, grpc::StatusCode::NOT_FOUND,
                 absl::StrCat("extension not found: ", ext.containing_type(), " ", ext.extension_number()));
      }
      break;
    }
    case refl::ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const pb::Descriptor* type = pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type != nullptr && describable(type->file())) {
        auto* out = resp.mutable_all_extension_numbers_response();
        out->set_base_type_name(type->full_name());
        std::vector<const pb::FieldDescriptor*> exts;
        pool->FindAllExtensions(type, &exts);
        for (const pb::FieldDescriptor* e : exts) {
          if (describable(e->file())) out->add_extension_number(e->number());
        }
      } else {
        SetError(&resp, grpc::StatusCode::NOT_FOUND,
                 absl::StrCat("type not found: ", request.all_extension_numbers_of_type()));
      }
      break;
    }
    case refl::ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
      SetError(&resp, grpc::StatusCode::INVALID_ARGUMENT, "empty reflection request");
      break;
  }
  return resp;
}

}  // namespace deviceapi::apiserver
