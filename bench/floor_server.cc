#include "floor_server.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <mutex>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "device/v1alpha1/gpu.grpc.pb.h"
#include "targets.h"
#include "util.h"

namespace devapi_bench {
namespace {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

grpc::Slice SliceOf(const std::string& s) { return grpc::Slice(s.data(), s.size()); }

class FloorHub;

// One WatchGpus stream: a queue of shared slices, one write in flight. StartWrite and Finish are
// decided under mu_ and called outside it.
class FloorWatch final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit FloorWatch(FloorHub* hub) : hub_(hub) {}
  // Queues an event; returns true if the caller must call StartWrite(&buf_) (it now owns the
  // write in flight).
  bool Push(const grpc::Slice& s) {
    std::lock_guard<std::mutex> l(mu_);
    if (finished_ || cancelled_) return false;
    if (in_flight_) {
      q_.push_back(s);
      return false;
    }
    in_flight_ = true;
    grpc::Slice copy = s;
    buf_ = grpc::ByteBuffer(&copy, 1);
    return true;
  }
  void Write() { StartWrite(&buf_); }
  void OnWriteDone(bool ok) override {
    bool write = false, finish = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      in_flight_ = false;
      if (!ok) cancelled_ = true;
      if (cancelled_) {
        if (!finished_) finish = finished_ = true;
      } else if (!q_.empty()) {
        grpc::Slice s = std::move(q_.front());
        q_.pop_front();
        buf_ = grpc::ByteBuffer(&s, 1);
        in_flight_ = write = true;
      }
    }
    if (write) StartWrite(&buf_);
    if (finish) Finish(grpc::Status::CANCELLED);
  }
  void OnCancel() override {
    bool finish = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      cancelled_ = true;
      if (!in_flight_ && !finished_) finish = finished_ = true;
    }
    if (finish) Finish(grpc::Status::CANCELLED);
  }
  void OnDone() override;

 private:
  FloorHub* const hub_;
  std::mutex mu_;
  std::deque<grpc::Slice> q_;
  bool in_flight_ = false, finished_ = false, cancelled_ = false;
  grpc::ByteBuffer buf_;
};

class FloorHub {
 public:
  void Add(FloorWatch* w) {
    std::lock_guard<std::mutex> l(mu_);
    watches_.push_back(w);
  }
  void Remove(FloorWatch* w) {
    std::lock_guard<std::mutex> l(mu_);
    watches_.erase(std::remove(watches_.begin(), watches_.end(), w), watches_.end());
  }
  void Broadcast(const grpc::Slice& s) {
    std::vector<FloorWatch*> start;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (auto* w : watches_) {
        if (w->Push(s)) start.push_back(w);
      }
    }
    // A stream with a write in flight cannot finish, so it stays alive until Write() returns.
    for (auto* w : start) w->Write();
  }

 private:
  std::mutex mu_;
  std::vector<FloorWatch*> watches_;
};

void FloorWatch::OnDone() {
  hub_->Remove(this);
  delete this;
}

using FloorBase = v1::GpuService::WithRawCallbackMethod_GetGpu<v1::GpuService::WithRawCallbackMethod_ListGpus<
    v1::GpuService::WithRawCallbackMethod_UpdateGpuStatus<v1::GpuService::WithRawCallbackMethod_CreateGpu<
        v1::GpuService::WithRawCallbackMethod_WatchGpus<v1::GpuService::CallbackService>>>>>;

class FloorService final : public FloorBase {
 public:
  FloorService(int gpus, int conditions) {
    v1::Gpu g = MakeBenchGpu(0, conditions, 0);
    v1::GetGpuResponse get;
    *get.mutable_gpu() = g;
    get_ = SliceOf(get.SerializeAsString());
    gpu_ = SliceOf(g.SerializeAsString());
    v1::ListGpusResponse list;
    list.mutable_gpu_list()->mutable_metadata()->set_resource_version("1");
    for (int i = 0; i < gpus; ++i) *list.mutable_gpu_list()->add_items() = MakeBenchGpu(i, conditions, 0);
    list_ = SliceOf(list.SerializeAsString());
  }

  grpc::ServerUnaryReactor* GetGpu(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer*,
                                   grpc::ByteBuffer* resp) override {
    return Reply(ctx, get_, resp);
  }
  grpc::ServerUnaryReactor* ListGpus(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer*,
                                     grpc::ByteBuffer* resp) override {
    return Reply(ctx, list_, resp);
  }
  grpc::ServerUnaryReactor* CreateGpu(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer*,
                                      grpc::ByteBuffer* resp) override {
    return Reply(ctx, gpu_, resp);
  }
  grpc::ServerUnaryReactor* UpdateGpuStatus(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* req,
                                            grpc::ByteBuffer* resp) override {
    // UpdateGpuStatusRequest{gpu=1} -> WatchGpusResponse{type=1 "MODIFIED", object=2}: re-tag the
    // object field, one copy, shared by every stream.
    std::string raw;
    Flatten(*req, &raw);
    size_t pos = 1;
    uint64_t len = 0;
    for (int shift = 0; pos < raw.size(); shift += 7) {
      uint8_t b = static_cast<uint8_t>(raw[pos++]);
      len |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) break;
    }
    if (raw.empty() || raw[0] != 0x0a || pos + len > raw.size()) {
      auto* r = ctx->DefaultReactor();
      r->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "floor: expected gpu=1"));
      return r;
    }
    std::string ev;
    ev.reserve(raw.size() + 16);
    ev.append("\x0a\x08MODIFIED\x12", 11);
    ev.append(raw, 1, pos - 1 + len);  // varint length + object bytes
    hub_.Broadcast(SliceOf(ev));
    return Reply(ctx, gpu_, resp);
  }
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchGpus(grpc::CallbackServerContext*,
                                                        const grpc::ByteBuffer*) override {
    auto* w = new FloorWatch(&hub_);
    hub_.Add(w);
    return w;
  }

 private:
  static grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* ctx, const grpc::Slice& s,
                                         grpc::ByteBuffer* resp) {
    grpc::Slice copy = s;  // a reference, not a copy of the bytes
    *resp = grpc::ByteBuffer(&copy, 1);
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }

  grpc::Slice get_, list_, gpu_;
  FloorHub hub_;
};

}  // namespace

int RunFloorServer(const std::string& address, int gpus, int conditions) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  FloorService service(gpus, conditions);
  grpc::ServerBuilder b;
  b.AddListeningPort(address, grpc::InsecureServerCredentials());
  b.RegisterService(&service);
  b.SetMaxReceiveMessageSize(-1);
  b.SetMaxSendMessageSize(-1);
  b.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 100);
  auto server = b.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "floor: cannot listen on %s\n", address.c_str());
    return 1;
  }
  std::fprintf(stderr, "floor: serving %s\n", address.c_str());
  int sig = 0;
  sigwait(&set, &sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}

}  // namespace devapi_bench
