// The serving store's mirror mode (ServingStore::ApplyExternal, used by the etcd backend): a backend
// transaction of several keys at one RV becomes visible as a unit.
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "storage/serving/serving_store.h"
#include "storage/store.h"

namespace deviceapi::storage {
namespace {

std::shared_ptr<v1::Gpu> Gpu(const std::string& name, int n) {
  auto g = std::make_shared<v1::Gpu>();
  g->mutable_metadata()->set_name(name);
  g->mutable_metadata()->set_namespace_("default");
  (*g->mutable_metadata()->mutable_labels())["n"] = std::to_string(n);
  return g;
}

// Two keys written in one transaction per RV, a reader listing all along: every list holds both at
// the same generation (before the fix each key was published on its own, and a list between the
// two saw a half-applied transaction: the relist of a watch-based cache then missed the second
// key's event for good; found by tsan_test's MirrorHammer).
TEST(MirrorTransaction, AListNeverSeesPartOfOne) {
  auto store = ServingStore::Create(StoreConfig{}, 1000);
  constexpr int kTransactions = 3000;
  std::atomic<bool> done{false};
  std::atomic<int> lists{0}, torn{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto l = store->List(ListOptions{});
      ASSERT_TRUE(l.ok()) << l.status();
      std::map<std::string, std::string> n;
      for (const auto& o : l->items) n[o->metadata().name()] = o->metadata().labels().at("n");
      if (n.size() == 1 || (n.size() == 2 && n["a"] != n["b"])) ++torn;
      ++lists;
    }
  });
  uint64_t rv = 1000;
  for (int i = 0; i < kTransactions; ++i) {
    ++rv;
    std::vector<ServingStore::ExternalChange> tx(2);
    tx[0] = {MakeKey("default", "a"), rv, Gpu("a", i)};
    tx[1] = {MakeKey("default", "b"), rv, Gpu("b", i)};
    store->ApplyExternal(std::move(tx));
  }
  done.store(true);
  reader.join();
  EXPECT_GT(lists.load(), 0);
  EXPECT_EQ(torn.load(), 0) << "lists that saw part of a transaction, of " << lists.load();
  EXPECT_EQ(store->CurrentResourceVersion(), rv);
}

// The deletions of one transaction (what an etcd relist finds gone) and a put at the same RV: the
// events come out in the order given, all at that RV, and deleting an absent key is no event.
TEST(MirrorTransaction, DeletesAndPutsAtOneRv) {
  auto store = ServingStore::Create(StoreConfig{}, 10);
  store->ApplyExternal(
      {{MakeKey("default", "a"), 11, Gpu("a", 0)}, {MakeKey("default", "b"), 12, Gpu("b", 0)}});
  store->ApplyExternal({{MakeKey("default", "a"), 20, nullptr},
                        {MakeKey("default", "zz"), 20, nullptr},
                        {MakeKey("default", "b"), 20, Gpu("b", 1)},
                        {MakeKey("default", "c"), 20, Gpu("c", 0)}});
  EXPECT_EQ(store->CurrentResourceVersion(), 20u);
  auto l = store->List(ListOptions{});
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->items.size(), 2u);
  EXPECT_EQ(l->items[0]->metadata().name(), "b");
  EXPECT_EQ(l->items[0]->metadata().resource_version(), "20");
  EXPECT_EQ(l->items[1]->metadata().name(), "c");
  // Below the current RV: a replay, ignored.
  store->ApplyExternal({{MakeKey("default", "d"), 15, Gpu("d", 0)}});
  l = store->List(ListOptions{});
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->items.size(), 2u);
}

}  // namespace
}  // namespace deviceapi::storage
