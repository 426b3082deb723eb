// Fuzz target: the SQLite backend's row decoder. sqlite_persister.cc turns every stored row
// (objects.data, history.data, history.prev) back into an object with StoredObject::FromBytes
// (storage/stored_object.h) and treats null as a corrupt row (DATA_LOSS).
//
// Input: the blob. Properties: never crashes; a blob that decodes keeps exactly its bytes; the
// metadata, spec and status read from it equal those of the whole object parsed from the bytes;
// re-encoding the parsed object decodes again to the same object.
#include <string>

#include <google/protobuf/util/message_differencer.h>

#include "fuzz_check.h"
#include "storage/stored_object.h"

namespace st = ::deviceapi::storage;
namespace v1 = ::nvidia::nvsentinel::v1alpha1;
using google::protobuf::util::MessageDifferencer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  st::StoredPtr obj = st::StoredObject::FromBytes(data, size);
  if (!obj) return 0;
  const grpc::Slice& bytes = obj->bytes();
  FUZZ_CHECK(bytes.size() == size && std::string_view(reinterpret_cast<const char*>(bytes.begin()), size) ==
                                         std::string_view(reinterpret_cast<const char*>(data), size),
             "the stored bytes differ from the row's");
  const st::ObjectPtr parsed = obj->Object();
  FUZZ_CHECK(parsed != nullptr, "a decoded row has no object");
  FUZZ_CHECK(MessageDifferencer::Equals(obj->metadata(), parsed->metadata()), "metadata differs");
  std::string_view spec, status;
  if (obj->SpecAndStatusBytes(&spec, &status)) {
    v1::GpuSpec s;
    FUZZ_CHECK(s.ParseFromArray(spec.data(), static_cast<int>(spec.size())), "spec bytes do not parse");
    FUZZ_CHECK(MessageDifferencer::Equals(s, parsed->spec()), "spec bytes differ from the object's spec");
    v1::GpuStatus t;
    FUZZ_CHECK(t.ParseFromArray(status.data(), static_cast<int>(status.size())), "status bytes do not parse");
    FUZZ_CHECK(MessageDifferencer::Equals(t, parsed->status()),
               "status bytes differ from the object's status");
  }
  const std::string again = parsed->SerializeAsString();
  st::StoredPtr obj2 = st::StoredObject::FromBytes(again.data(), again.size());
  FUZZ_CHECK(obj2 != nullptr, "a re-encoded object does not decode");
  FUZZ_CHECK(MessageDifferencer::Equals(*obj2->Object(), *parsed), "re-encoded object differs");
  return 0;
}
