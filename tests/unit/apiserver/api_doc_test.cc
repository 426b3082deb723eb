// docs/api.md's reference section against the compiled proto (api/proto/device/v1alpha1/gpu.proto):
// every RPC and every field has its row, with the same request/response, number and type, and no row
// names something the proto lacks. A proto change without its doc change fails here.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "device/v1alpha1/gpu.grpc.pb.h"

namespace {

namespace pb = google::protobuf;

struct FieldRow {
  std::string number;
  std::string type;
};

struct MethodRow {
  std::string request;
  std::string response;
};

struct Doc {
  std::map<std::string, FieldRow> fields;    // "Message.field"
  std::map<std::string, MethodRow> methods;  // "GetGpu"
  std::set<std::string> empty_messages;      // named in the "have no fields" sentence
};

std::string ReadDoc() {
  std::ifstream in(DEVICEAPI_API_DOC);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Doc ParseDoc(const std::string& text) {
  Doc doc;
  // | `Message.field` | 3 | `type` | ext | meaning |
  static const std::regex kField(R"(^\| `(\w+)\.(\w+)` \| (\d+) \| `([^`]+)` \|)");
  // | `GetGpu` | `GetGpuRequest` | `GetGpuResponse` | ... |   (stream responses: "stream `X`")
  static const std::regex kMethod(R"(^\| `(\w+)` \| `([\w.]+)` \| (stream )?`([\w.]+)` \|)");
  static const std::regex kEmpty(R"(`(\w+)`)");
  std::istringstream lines(text);
  std::string line;
  bool in_reference = false;
  while (std::getline(lines, line)) {
    if (line.rfind("## ", 0) == 0) in_reference = line.find("Reference") != std::string::npos;
    if (!in_reference) continue;
    std::smatch m;
    if (std::regex_search(line, m, kField)) {
      doc.fields[m[1].str() + "." + m[2].str()] = {m[3].str(), m[4].str()};
    } else if (std::regex_search(line, m, kMethod)) {
      doc.methods[m[1].str()] = {m[2].str(), (m[3].matched ? "stream " : "") + m[4].str()};
    } else if (line.find("have no fields") != std::string::npos) {
      for (std::sregex_iterator it(line.begin(), line.end(), kEmpty), end; it != end; ++it) {
        doc.empty_messages.insert((*it)[1].str());
      }
    }
  }
  return doc;
}

// How the doc writes a field's type: proto syntax, messages by their name in the package (or full
// name outside it), e.g. `repeated Condition`, `map<string, string>`, `optional bool`.
std::string TypeName(const pb::FieldDescriptor* f) {
  auto scalar_or_message = [](const pb::FieldDescriptor* x) -> std::string {
    if (x->message_type() != nullptr) {
      const pb::Descriptor* t = x->message_type();
      return t->file()->package() == "nvidia.nvsentinel.v1alpha1" ? t->name() : t->full_name();
    }
    return x->type_name();  // "string", "int64", "bool", ...
  };
  if (f->is_map()) {
    const pb::Descriptor* entry = f->message_type();
    return "map<" + scalar_or_message(entry->map_key()) + ", " + scalar_or_message(entry->map_value()) + ">";
  }
  if (f->is_repeated()) return "repeated " + scalar_or_message(f);
  if (f->has_presence() && f->containing_oneof() != nullptr) return "optional " + scalar_or_message(f);
  return scalar_or_message(f);
}

std::string ShortName(const pb::Descriptor* d) {
  return d->file()->package() == "nvidia.nvsentinel.v1alpha1" ? d->name() : d->full_name();
}

class ApiDocTest : public ::testing::Test {
 protected:
  void SetUp() override {
    text_ = ReadDoc();
    ASSERT_FALSE(text_.empty()) << "cannot read " << DEVICEAPI_API_DOC;
    doc_ = ParseDoc(text_);
    file_ = nvidia::nvsentinel::v1alpha1::Gpu::descriptor()->file();
  }
  std::string text_;
  Doc doc_;
  const pb::FileDescriptor* file_ = nullptr;
};

TEST_F(ApiDocTest, ParserReadsTheReferenceSection) {
  // Guards the test itself: a reformatted table must not make every check below vacuous.
  EXPECT_GE(doc_.fields.size(), 60u);
  EXPECT_EQ(doc_.methods.size(), 8u);
  EXPECT_EQ(doc_.empty_messages.size(), 3u);
}

TEST_F(ApiDocTest, EveryFieldHasItsRow) {
  for (int i = 0; i < file_->message_type_count(); ++i) {
    const pb::Descriptor* msg = file_->message_type(i);
    if (msg->field_count() == 0) {
      EXPECT_TRUE(doc_.empty_messages.count(msg->name())) << msg->name() << " (no fields) is not named";
    }
    for (int j = 0; j < msg->field_count(); ++j) {
      const pb::FieldDescriptor* f = msg->field(j);
      const std::string key = msg->name() + "." + f->name();
      auto it = doc_.fields.find(key);
      if (it == doc_.fields.end()) {
        ADD_FAILURE() << "docs/api.md has no row for " << key;
        continue;
      }
      EXPECT_EQ(it->second.number, std::to_string(f->number())) << key << ": field number";
      EXPECT_EQ(it->second.type, TypeName(f)) << key << ": type";
    }
  }
}

TEST_F(ApiDocTest, NoRowNamesWhatTheProtoLacks) {
  for (const auto& [key, row] : doc_.fields) {
    const std::string msg = key.substr(0, key.find('.'));
    const std::string field = key.substr(key.find('.') + 1);
    const pb::Descriptor* d = file_->FindMessageTypeByName(msg);
    if (d == nullptr) {
      ADD_FAILURE() << "docs/api.md names message " << msg << ", which gpu.proto lacks";
      continue;
    }
    EXPECT_NE(d->FindFieldByName(field), nullptr) << "docs/api.md names " << key << ", which gpu.proto lacks";
  }
  for (const std::string& name : doc_.empty_messages) {
    const pb::Descriptor* d = file_->FindMessageTypeByName(name);
    ASSERT_NE(d, nullptr) << name;
    EXPECT_EQ(d->field_count(), 0) << name << " is documented as having no fields";
  }
}

TEST_F(ApiDocTest, EveryRpcHasItsRow) {
  ASSERT_EQ(file_->service_count(), 1);
  const pb::ServiceDescriptor* svc = file_->service(0);
  std::set<std::string> names;
  for (int i = 0; i < svc->method_count(); ++i) {
    const pb::MethodDescriptor* m = svc->method(i);
    names.insert(m->name());
    auto it = doc_.methods.find(m->name());
    if (it == doc_.methods.end()) {
      ADD_FAILURE() << "docs/api.md has no row for rpc " << m->name();
      continue;
    }
    EXPECT_EQ(it->second.request, ShortName(m->input_type())) << m->name();
    EXPECT_EQ(it->second.response, (m->server_streaming() ? "stream " : "") + ShortName(m->output_type()))
        << m->name();
  }
  for (const auto& [name, row] : doc_.methods) {
    EXPECT_TRUE(names.count(name)) << "docs/api.md names rpc " << name << ", which gpu.proto lacks";
  }
}

// The check can fail: a doc with a wrong number, a wrong type, a missing row and an extra row.
TEST_F(ApiDocTest, ParserSeesDifferences) {
  std::string broken = text_;
  auto replace = [&](const std::string& from, const std::string& to) {
    size_t pos = broken.find(from);
    ASSERT_NE(pos, std::string::npos) << from;
    broken.replace(pos, from.size(), to);
  };
  replace("| `GpuSpec.serial` | 10 |", "| `GpuSpec.serial` | 11 |");
  replace("| `ListOptions.limit` | 8 | `int64` |", "| `ListOptions.limit` | 8 | `int32` |");
  replace("| `Condition.reason` |", "| `Condition.reasons` |");
  Doc d = ParseDoc(broken);
  EXPECT_EQ(d.fields.at("GpuSpec.serial").number, "11");
  EXPECT_EQ(d.fields.at("ListOptions.limit").type, "int32");
  EXPECT_FALSE(d.fields.count("Condition.reason"));
  EXPECT_TRUE(d.fields.count("Condition.reasons"));
}

}  // namespace
