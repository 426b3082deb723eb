#include "fake_nvml_env.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace deviceapi::nvmltest {

namespace fs = std::filesystem;

FakeNvmlEnv::FakeNvmlEnv(const std::vector<nlohmann::json>& devices) {
  char tmpl[] = "/tmp/nvmlXXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  root_ = tmpl;
  fs::create_directories(root_ + "/usr/lib64");
  fs::create_symlink(FAKE_NVML_LIB, root_ + "/usr/lib64/libnvidia-ml.so.1");
  std::ofstream(events_path()).close();
  SetDevices(devices);
}

FakeNvmlEnv::~FakeNvmlEnv() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

void FakeNvmlEnv::SetDevices(const std::vector<nlohmann::json>& devices) {
  devices_ = devices;
  nlohmann::json j;
  j["driver_version"] = "550.54.15";
  j["events"] = events_path();
  j["devices"] = devices;
  const std::string tmp = config_path() + ".tmp";
  {
    std::ofstream out(tmp);
    out << j.dump(2);
  }
  fs::rename(tmp, config_path());
}

void FakeNvmlEnv::Inject(const std::string& uuid, const std::string& what) {
  std::ofstream out(events_path(), std::ios::app);
  out << uuid << " " << what << "\n";
  out.flush();
}

std::vector<nlohmann::json> DefaultDevices(int n) {
  std::vector<nlohmann::json> out;
  for (int i = 0; i < n; ++i) {
    char uuid[64], bus[32], serial[32];
    std::snprintf(uuid, sizeof(uuid), "GPU-%08X-1111-2222-3333-%012d", 0xABCD0000 + i, i);
    std::snprintf(bus, sizeof(bus), "0000:%02x:00.0", 0x18 + i * 0x10);
    std::snprintf(serial, sizeof(serial), "165232100%04d", i);
    out.push_back({{"uuid", uuid},
                   {"name", "NVIDIA H100 80GB HBM3"},
                   {"memory_bytes", 85520809984ULL},
                   {"pci_bus_id", bus},
                   {"minor", i},
                   {"numa_node", i / 4},
                   {"architecture", "Hopper"},
                   {"compute_capability", "9.0"},
                   {"serial", serial}});
  }
  return out;
}

}  // namespace deviceapi::nvmltest
