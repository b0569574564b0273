// The store's catalog (lss/catalog.h): encoding, and Store::OpenRoot / Roots across
// reopens and power cuts.
#include "lss/catalog.h"

#include <gtest/gtest.h>

#include "tests/lss/store_test_util.h"

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

INSTANTIATE_TEST_SUITE_P(Backends, CatalogTest,
                         ::testing::Values(IoBackend::kPosix, IoBackend::kIoUring),
                         testing_env::BackendParamName);

}  // namespace
}  // namespace llama::store_test
