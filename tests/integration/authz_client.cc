// A GpuService client that drops to another uid before connecting, for authz_test: the server
// authorizes writes by the connecting process's credentials (SO_PEERCRED), so a test running as
// root needs a process of another uid. It runs as root, switches to --as UID:GID[:G1.G2...]
// (setgroups, setgid, setuid), connects to --target and runs each remaining argument as one
// operation, printing "<op> <grpc code number> <message>" per line:
//   list | get:NAME | watch | create:NAME | update:NAME (a label) | delete:NAME
//   set:NAME:TYPE:STATUS      read-modify-write of the status: upsert condition TYPE
//   clear:NAME:TYPE           read-modify-write of the status: remove condition TYPE
//   patch:NAME:TYPE:STATUS    merge patch of the status subresource (the whole condition list
//                             becomes [TYPE])
// Exits 0 once every operation ran (whatever their codes), 2 on a usage or setup error.
#include <grp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "device/v1alpha1/gpu.grpc.pb.h"

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

namespace {

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return ctx;
}

bool DropTo(const std::string& spec) {
  std::vector<std::string> parts = absl::StrSplit(spec, ':');
  if (parts.size() < 2 || parts.size() > 3) return false;
  uint32_t uid = 0, gid = 0;
  if (!absl::SimpleAtoi(parts[0], &uid) || !absl::SimpleAtoi(parts[1], &gid)) return false;
  std::vector<gid_t> groups;
  if (parts.size() == 3) {
    for (absl::string_view g : absl::StrSplit(parts[2], '.', absl::SkipEmpty())) {
      uint32_t n = 0;
      if (!absl::SimpleAtoi(g, &n)) return false;
      groups.push_back(n);
    }
  }
  if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
    std::perror("drop privileges");
    return false;
  }
  return ::getuid() == uid && ::geteuid() == uid && ::getgid() == gid;
}

v1::Condition Cond(const std::string& type, const std::string& status) {
  v1::Condition c;
  c.set_type(type);
  c.set_status(status);
  c.set_reason("AuthzTest");
  c.set_message("set by authz_client");
  return c;
}

// Reads NAME, lets `edit` change its status, writes the status back.
template <typename Edit>
grpc::Status EditStatus(v1::GpuService::Stub& stub, const std::string& name, Edit edit) {
  v1::GetGpuRequest get;
  get.set_name(name);
  v1::GetGpuResponse got;
  if (grpc::Status s = stub.GetGpu(Ctx().get(), get, &got); !s.ok()) return s;
  v1::UpdateGpuStatusRequest req;
  *req.mutable_gpu() = got.gpu();
  edit(req.mutable_gpu()->mutable_status());
  v1::Gpu out;
  return stub.UpdateGpuStatus(Ctx().get(), req, &out);
}

grpc::Status Run(v1::GpuService::Stub& stub, const std::vector<std::string>& op) {
  const std::string& verb = op[0];
  auto arg = [&](size_t i) { return i < op.size() ? op[i] : std::string(); };
  if (verb == "list") {
    v1::ListGpusResponse resp;
    return stub.ListGpus(Ctx().get(), v1::ListGpusRequest(), &resp);
  }
  if (verb == "get") {
    v1::GetGpuRequest req;
    req.set_name(arg(1));
    v1::GetGpuResponse resp;
    return stub.GetGpu(Ctx().get(), req, &resp);
  }
  if (verb == "watch") {
    auto ctx = Ctx();
    auto reader = stub.WatchGpus(ctx.get(), v1::WatchGpusRequest());
    v1::WatchGpusResponse ev;
    if (!reader->Read(&ev)) return reader->Finish();
    ctx->TryCancel();
    reader->Finish();
    return grpc::Status::OK;  // the initial event arrived
  }
  if (verb == "create") {
    v1::CreateGpuRequest req;
    req.mutable_gpu()->mutable_metadata()->set_name(arg(1));
    req.mutable_gpu()->mutable_spec()->set_uuid("GPU-" + arg(1));
    v1::Gpu out;
    return stub.CreateGpu(Ctx().get(), req, &out);
  }
  if (verb == "update") {
    v1::GetGpuRequest get;
    get.set_name(arg(1));
    v1::GetGpuResponse got;
    if (grpc::Status s = stub.GetGpu(Ctx().get(), get, &got); !s.ok()) return s;
    v1::UpdateGpuRequest req;
    *req.mutable_gpu() = got.gpu();
    (*req.mutable_gpu()->mutable_metadata()->mutable_labels())["authz"] = "test";
    v1::Gpu out;
    return stub.UpdateGpu(Ctx().get(), req, &out);
  }
  if (verb == "delete") {
    v1::DeleteGpuRequest req;
    req.set_name(arg(1));
    google::protobuf::Empty out;
    return stub.DeleteGpu(Ctx().get(), req, &out);
  }
  if (verb == "set") {
    return EditStatus(stub, arg(1), [&](v1::GpuStatus* st) {
      for (auto& c : *st->mutable_conditions()) {
        if (c.type() == arg(2)) {
          c = Cond(arg(2), arg(3));
          return;
        }
      }
      *st->add_conditions() = Cond(arg(2), arg(3));
    });
  }
  if (verb == "clear") {
    return EditStatus(stub, arg(1), [&](v1::GpuStatus* st) {
      auto* cs = st->mutable_conditions();
      for (int i = 0; i < cs->size(); ++i) {
        if (cs->Get(i).type() == arg(2)) {
          cs->DeleteSubrange(i, 1);
          return;
        }
      }
    });
  }
  if (verb == "patch") {
    v1::PatchGpuRequest req;
    req.set_name(arg(1));
    req.set_patch_type("application/merge-patch+json");
    req.add_subresources("status");
    req.set_data(R"({"status":{"conditions":[{"type":")" + arg(2) + R"(","status":")" + arg(3) +
                 R"(","reason":"AuthzTest","message":"patched"}]}})");
    v1::Gpu out;
    return stub.PatchGpu(Ctx().get(), req, &out);
  }
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "authz_client: unknown operation " + verb);
}

}  // namespace

int main(int argc, char** argv) {
  std::string as, target;
  std::vector<std::string> ops;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--as" && i + 1 < argc) {
      as = argv[++i];
    } else if (a == "--target" && i + 1 < argc) {
      target = argv[++i];
    } else {
      ops.push_back(a);
    }
  }
  if (target.empty()) {
    std::cerr << "usage: authz_client [--as UID:GID[:G1.G2]] --target unix:///path OP...\n";
    return 2;
  }
  if (!as.empty() && !DropTo(as)) {
    std::cerr << "authz_client: cannot become " << as << "\n";
    return 2;
  }
  auto stub = v1::GpuService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  for (const std::string& op : ops) {
    const std::vector<std::string> parts = absl::StrSplit(op, ':');
    const grpc::Status s = Run(*stub, parts);
    std::cout << op << " " << static_cast<int>(s.error_code()) << " " << s.error_message() << std::endl;
  }
  return 0;
}
