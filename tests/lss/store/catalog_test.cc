// The store's catalog (lss/store/catalog.h): encoding, and Store::OpenRoot / Roots across
// reopens and power cuts.
#include "lss/store/catalog.h"

#include <gtest/gtest.h>

#include "tests/lss/store/store_test_util.h"

namespace llama::store_test {
namespace {

TEST(CatalogEncodingTest, RoundTripsAndRejectsDamage) {
  const std::vector<NamedRoot> roots{{"bwtree:orders", 7}, {"vector:log", 3}};
  const std::vector<std::byte> bytes = EncodeCatalog(roots);
  auto decoded = DecodeCatalog(bytes);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, roots);
  EXPECT_TRUE(DecodeCatalog({}).has_value()) << "an empty page is an empty catalog";
  for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
    auto damaged = DecodeCatalog(std::span(bytes).first(cut));
    EXPECT_FALSE(damaged.has_value()) << "truncated to " << cut;
  }
  std::vector<std::byte> unsorted = EncodeCatalog({{"b", 1}, {"a", 2}});
  EXPECT_EQ(DecodeCatalog(unsorted).error().code(), ErrorCode::kCorruption);
  std::vector<std::byte> bad_magic = bytes;
  bad_magic[0] ^= std::byte{1};
  EXPECT_EQ(DecodeCatalog(bad_magic).error().code(), ErrorCode::kCorruption);
  EXPECT_FALSE(ValidateRootName("").has_value());
  EXPECT_FALSE(ValidateRootName(std::string(256, 'x')).has_value());
  EXPECT_TRUE(ValidateRootName(std::string(255, 'x')).has_value());
}

class CatalogTest : public StoreTestBase {};

TEST_P(CatalogTest, AFullCatalogRefusesANewNameAndKeepsNoPageForIt) {
  const std::string dir = dir_.path() + "/db";
  auto store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  // 255-byte names. The test store's 8 KiB flush buffers bound a log record, so about 30
  // fit (a catalog that fit a page but not a record used to be installed in memory, and
  // then every flush of page 0, and so every Close, failed).
  auto long_name = [](int i) {
    std::string n = std::to_string(i);
    return n + std::string(255 - n.size(), 'n');
  };
  int named = 0;
  for (;; ++named) {
    const std::uint64_t in_use = store->stats().pages_in_use;
    auto root = store->OpenRoot(long_name(named));
    if (root) continue;
    EXPECT_EQ(root.error().code(), ErrorCode::kResourceExhausted) << root.error().ToString();
    EXPECT_EQ(store->stats().pages_in_use, in_use) << "the page allocated for the refused name went back";
    break;
  }
  EXPECT_GE(named, 25);
  // The names that fit are all there, after a reopen too.
  auto roots = store->Roots();
  ASSERT_TRUE(roots.has_value());
  EXPECT_EQ(roots->size(), static_cast<std::size_t>(named));
  ASSERT_TRUE(store->Close().has_value());
  store = MustOpen(dir);
  ASSERT_NE(store, nullptr);
  roots = store->Roots();
  ASSERT_TRUE(roots.has_value());
  EXPECT_EQ(roots->size(), static_cast<std::size_t>(named));
  EXPECT_EQ(store->stats().pages_in_use, static_cast<std::uint64_t>(named) + 1) << "the roots and the catalog";
  ASSERT_TRUE(store->Close().has_value());
}

TEST_P(CatalogTest, RootsAreStableAcrossReopenAndPowerCut) {
  const std::string dir = dir_.path() + "/db";
  PageId a = 0, b = 0;
  {
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    auto first = store->Allocate();
    ASSERT_TRUE(first.has_value());
    EXPECT_NE(*first, kCatalogPage) << "the catalog page is never handed out";
    auto ra = store->OpenRoot("alpha");
    ASSERT_TRUE(ra.has_value()) << ra.error().ToString();
    a = *ra;
    EXPECT_NE(a, kCatalogPage);
    auto again = store->OpenRoot("alpha");
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(*again, a) << "a name names one page";
    auto rb = store->OpenRoot("beta");
    ASSERT_TRUE(rb.has_value());
    b = *rb;
    EXPECT_NE(a, b);
    EXPECT_FALSE(store->OpenRoot("").has_value());
    {
      auto g = store->EnterGeneration();
      auto freed = store->Free(g, kCatalogPage);
      ASSERT_FALSE(freed.has_value());
      EXPECT_EQ(freed.error().code(), ErrorCode::kInvalidArgument);
    }
    // OpenRoot syncs: a power cut now keeps both names and both (empty) root pages.
    CrashAndDrop(store);
  }
  {
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    auto roots = store->Roots();
    ASSERT_TRUE(roots.has_value()) << roots.error().ToString();
    EXPECT_EQ(*roots, (std::vector<NamedRoot>{{"alpha", a}, {"beta", b}}));
    {
      auto g = store->EnterGeneration();
      for (PageId pid : {a, b}) {
        auto ref = store->Read(g, pid);
        ASSERT_TRUE(ref.has_value()) << "root page " << pid << " was restored";
        ASSERT_NE(ref->state().base(), nullptr);
        EXPECT_EQ(ref->state().base()->used(), 0u) << "a new root is an empty base page";
      }
    }
    // Ids the catalog names are never handed out again.
    for (int i = 0; i < 16; ++i) {
      auto pid = store->Allocate();
      ASSERT_TRUE(pid.has_value());
      EXPECT_NE(*pid, kCatalogPage);
      EXPECT_NE(*pid, a);
      EXPECT_NE(*pid, b);
    }
    auto rc = store->OpenRoot("gamma");
    ASSERT_TRUE(rc.has_value());
    ASSERT_TRUE(store->Close().has_value());
  }
  {
    auto store = MustOpen(dir);
    ASSERT_NE(store, nullptr);
    auto roots = store->Roots();
    ASSERT_TRUE(roots.has_value());
    ASSERT_EQ(roots->size(), 3u);
    EXPECT_EQ((*roots)[2].name, "gamma");
    ASSERT_TRUE(store->Close().has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, CatalogTest, ::testing::Values(IoBackend::kPosix, IoBackend::kIoUring),
                         testing_env::BackendParamName);

}  // namespace
}  // namespace llama::store_test
