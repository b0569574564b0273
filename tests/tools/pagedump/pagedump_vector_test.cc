// pagedump on a store holding a llama::Vector: the catalog and the vector's snapshots in
// the summary, --vector's tree against a model, and the vector's bytes decoded in --pid:
// entries in buffer pages, publications on the meta page, RRB leaves and inner nodes.
#include <gtest/gtest.h>

#include <optional>

#include "llama/vector.h"
#include "tests/tools/pagedump/pagedump_test_util.h"

namespace llama::pagedump::testing {
namespace {

// Small nodes, so a few hundred elements make a tree of several levels.
VectorOptions SmallVector() {
  VectorOptions o;
  o.branching = 4;
  o.leaf_max_elements = 4;
  o.writer_slots = 2;
  // No rebuild until a test asks for one (WaitVisible): entries stay in the buffers.
  o.initial_batch_window = 1 << 16;
  o.max_batch_window = 1 << 16;
  o.max_delay_us = 4'000'000'000u;
  return o;
}

// The decoded value of every chain entry of page `pid`, as JSON.
std::vector<JsonValue> Decoded(const std::string& dir, PageId pid) {
  std::vector<JsonValue> out;
  const JsonValue page = RunJson({dir, "--pid", std::to_string(pid)});
  if (!page.is_object()) return out;
  for (const JsonValue& entry : page.Find("chain")->as_array()) {
    const JsonValue* decoded = entry.Find("decoded");
    out.push_back(decoded && decoded->is_object() ? *decoded : JsonValue());
  }
  return out;
}

const JsonValue* VectorValue(const JsonValue& decoded, const char* key) {
  if (!decoded.is_object() || decoded.Find("decoder")->as_string() != "vector") return nullptr;
  return decoded.Find("value")->Find(key);
}

TEST(PagedumpVectorTest, ShowsTheCatalogSnapshotsTreeAndVectorBytes) {
  ScratchDir scratch("vector");
  const std::string dir = scratch / "db";
  auto opened = Store::Open(dir, SmallStoreOptions());
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  std::unique_ptr<Store> store = std::move(*opened);
  auto vec = Vector::Open(*store, "events", SmallVector());
  ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
  const PageId meta = (*vec)->meta_page();
  const std::vector<PageId> buffers = (*vec)->config().buffers;

  // Durable writes not yet published: they are entries in the buffer pages.
  std::vector<std::string> model;
  std::optional<VectorTicket> last;
  for (int i = 0; i < 40; ++i) {
    auto t = (*vec)->Append("v" + std::to_string(i), VectorWriteOptions{true});
    ASSERT_TRUE(t.has_value()) << t.error().ToString();
    model.push_back("v" + std::to_string(i));
    last = *t;
  }
  auto t = (*vec)->Insert(17, "inserted", VectorWriteOptions{true});
  ASSERT_TRUE(t.has_value());
  model.insert(model.begin() + 17, "inserted");
  last = *t;
  std::vector<std::string> ops;
  for (PageId buffer : buffers) {
    for (const JsonValue& d : Decoded(dir, buffer)) {
      if (const JsonValue* entry = VectorValue(d, "entry")) {
        for (const JsonValue& op : entry->Find("ops")->as_array()) ops.push_back(op.as_string());
      }
    }
  }
  EXPECT_EQ(ops.size(), 41u);
  EXPECT_NE(std::find(ops.begin(), ops.end(), "Append \"v0\""), ops.end());
  EXPECT_NE(std::find(ops.begin(), ops.end(), "Insert 17 \"inserted\""), ops.end());

  // Published: a snapshot on the meta page, a tree of leaves and inner nodes.
  ASSERT_TRUE((*vec)->WaitVisible(*last).has_value());
  for (int i = 0; i < 200; ++i) model.push_back("w" + std::to_string(i));
  for (int i = 0; i < 200; ++i) {
    auto w = (*vec)->Append("w" + std::to_string(i));
    ASSERT_TRUE(w.has_value());
    last = *w;
  }
  ASSERT_TRUE((*vec)->WaitVisible(*last).has_value());
  const std::uint64_t generation = (*vec)->metrics().snapshot_generation;
  ASSERT_TRUE((*vec)->Close().has_value());
  vec->reset();
  ASSERT_TRUE(store->Close().has_value());
  store.reset();

  const JsonValue summary = RunJson({dir});
  EXPECT_TRUE(summary.Find("clean")->as_bool()) << summary.Write();
  const JsonValue* catalog = summary.Find("catalog");
  ASSERT_NE(catalog, nullptr);
  ASSERT_EQ(catalog->Find("named_roots")->as_array().size(), 1u) << catalog->Write();
  EXPECT_EQ(catalog->Find("named_roots")->as_array()[0].Find("name")->as_string(), "vector:events");
  EXPECT_EQ(catalog->Find("named_roots")->as_array()[0].Find("pid")->as_uint(), meta);
  ASSERT_EQ(catalog->Find("vectors")->as_array().size(), 1u);
  const JsonValue& v = catalog->Find("vectors")->as_array()[0];
  EXPECT_EQ(v.Find("name")->as_string(), "events");
  EXPECT_EQ(v.Find("config")->Find("branching")->as_uint(), 4u);
  ASSERT_FALSE(v.Find("snapshots")->as_array().empty());
  const JsonValue& newest = v.Find("snapshots")->as_array()[0];
  EXPECT_EQ(newest.Find("generation")->as_uint(), generation);
  EXPECT_EQ(newest.Find("size")->as_uint(), model.size());

  const JsonValue tree = RunJson({dir, "--vector", "events", "--elements"});
  EXPECT_TRUE(tree.Find("problems")->as_array().empty()) << tree.Write();
  EXPECT_EQ(tree.Find("element_count")->as_uint(), model.size());
  std::vector<std::string> elements;
  for (const JsonValue& e : tree.Find("elements")->as_array()) elements.push_back(e.as_string());
  EXPECT_EQ(elements, model);
  const auto& levels = tree.Find("levels")->as_array();
  const std::uint64_t height = tree.Find("snapshot")->Find("height")->as_uint();
  ASSERT_EQ(levels.size(), height + 1);
  EXPECT_GE(height, 2u) << "241 elements in leaves of 4 under nodes of 4";
  EXPECT_EQ(levels.front().Find("pages")->as_uint(), 1u);
  EXPECT_EQ(levels.back().Find("kind")->as_string(), "leaf");
  EXPECT_EQ(levels.back().Find("elements")->as_uint(), model.size());
  // Without --elements: the shape only.
  EXPECT_TRUE(RunJson({dir, "--vector", "events"}).Find("elements")->is_null());

  // The meta page shows its publications; the root shows an inner node with its children;
  // a leaf shows its elements.
  bool publication = false;
  for (const JsonValue& d : Decoded(dir, meta)) publication = publication || VectorValue(d, "publication") != nullptr;
  EXPECT_TRUE(publication);
  const PageId root = static_cast<PageId>(tree.Find("snapshot")->Find("root")->as_uint());
  const std::vector<JsonValue> root_decoded = Decoded(dir, root);
  ASSERT_FALSE(root_decoded.empty());
  const JsonValue* inner = VectorValue(root_decoded.back(), "inner");
  ASSERT_NE(inner, nullptr) << root_decoded.back().Write();
  EXPECT_EQ(inner->Find("height")->as_uint(), height);
  EXPECT_EQ(inner->Find("total")->as_uint(), model.size());
  PageId child = static_cast<PageId>(inner->Find("children")->as_array()[0].as_uint());
  for (std::uint64_t h = height - 1; h > 0; --h) {
    const std::vector<JsonValue> decoded = Decoded(dir, child);
    ASSERT_FALSE(decoded.empty());
    const JsonValue* next = VectorValue(decoded.back(), "inner");
    ASSERT_NE(next, nullptr);
    child = static_cast<PageId>(next->Find("children")->as_array()[0].as_uint());
  }
  const std::vector<JsonValue> leaf_decoded = Decoded(dir, child);
  ASSERT_FALSE(leaf_decoded.empty());
  const JsonValue* leaf = VectorValue(leaf_decoded.back(), "leaf");
  ASSERT_NE(leaf, nullptr);
  EXPECT_EQ(leaf->Find("elements")->as_array()[0].as_string(), model[0]);

  // Text views render; unknown vector and generation are usage errors.
  const ToolRun text = RunTool({dir, "--vector", "events"});
  EXPECT_EQ(text.code, kExitOk);
  EXPECT_NE(text.out.find("element_count: " + std::to_string(model.size())), std::string::npos) << text.out;
  EXPECT_EQ(RunTool({dir, "--vector", "nope"}).code, kExitUsage);
  EXPECT_EQ(RunTool({dir, "--vector", "events", "--generation", "999999"}).code, kExitUsage);
  EXPECT_EQ(RunTool({dir, "--generation", "1"}).code, kExitUsage);
  EXPECT_EQ(RunJson({dir, "--vector", "events", "--generation", std::to_string(generation)})
                .Find("snapshot")
                ->Find("generation")
                ->as_uint(),
            generation);
  EXPECT_EQ(RunTool({dir, "--verify"}).code, kExitOk);
}

}  // namespace
}  // namespace llama::pagedump::testing
