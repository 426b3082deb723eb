// Unit tests of the wire framing the server builds around stored objects' bytes.
#include "apiserver/wire_responses.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/event.h"
#include "storage/stored_object.h"

namespace deviceapi::apiserver {
namespace {

using storage::EventType;

storage::StoredPtr Obj(const std::string& name, uint64_t rv) {
  auto g = std::make_shared<v1::Gpu>();
  g->mutable_metadata()->set_name(name);
  g->mutable_metadata()->set_namespace_("default");
  g->mutable_metadata()->set_resource_version(std::to_string(rv));
  return storage::StoredObject::Make(std::move(g));
}

std::string Flatten(const grpc::ByteBuffer& b) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(b.Dump(&slices).ok());
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// An event's wire form is a small header followed by the stored object's
// own bytes (referenced, not copied), and parses as a WatchGpusResponse.
TEST(Event, WireSharesTheStoredBytesAndParses) {
  // Long enough that the bytes are not an inline (copied) slice.
  storage::Event e;
  e.rv = 7;
  e.type = EventType::kModified;
  e.object = Obj("a-gpu-with-a-name-longer-than-an-inline-slice", 7);
  grpc::ByteBuffer b = WatchEventBytes(e, EventType::kModified);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(b.Dump(&slices).ok());
  ASSERT_EQ(slices.size(), 2u);
  EXPECT_EQ(slices[1].begin(), e.object->bytes().begin());
  v1::WatchGpusResponse r;
  ASSERT_TRUE(r.ParseFromString(Flatten(b)));
  EXPECT_EQ(r.type(), "MODIFIED");
  EXPECT_EQ(r.object().metadata().name(), "a-gpu-with-a-name-longer-than-an-inline-slice");
  EXPECT_EQ(r.object().metadata().resource_version(), "7");
  ASSERT_TRUE(r.ParseFromString(Flatten(WatchEventBytes(e, EventType::kDeleted))));
  EXPECT_EQ(r.type(), "DELETED");
}

// A Get answer is the stored bytes behind a header, and parses as a GetGpuResponse.
TEST(WireResponses, GetResponseSharesTheStoredBytes) {
  storage::StoredPtr obj = Obj("a-gpu-with-a-name-longer-than-an-inline-slice", 9);
  grpc::ByteBuffer b = GetResponseBytes(*obj);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(b.Dump(&slices).ok());
  ASSERT_EQ(slices.size(), 2u);
  EXPECT_EQ(slices[1].begin(), obj->bytes().begin());
  v1::GetGpuResponse r;
  ASSERT_TRUE(r.ParseFromString(Flatten(b)));
  EXPECT_EQ(r.gpu().metadata().resource_version(), "9");
}

}  // namespace
}  // namespace deviceapi::apiserver
