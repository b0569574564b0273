// Every fixed-width field of the vector's pages and deltas at its bound (docs/FORMAT.md,
// "Vector limits"): the largest accepted value round-trips, one past it is refused with
// the right error (InvalidArgument when written, ResourceExhausted for the tree height),
// and a decoder given an out-of-range field reports Corruption. Limits that would need
// absurd resources through the Vector API are driven through the encoders and the builder.
#include <functional>

#include "llama/coding.h"
#include "rebuild/published_tree.h"
#include "rebuild/tree_page.h"
#include "rebuild/vector_format.h"
#include "tests/rebuild/vector_test_util.h"

namespace llama::vector_test {
namespace {

using namespace vector_format;

template <typename T>
void ExpectCode(const tl::expected<T, Error>& r, ErrorCode code, const std::string& mention = "") {
  ASSERT_FALSE(r.has_value()) << "accepted, expected " << static_cast<int>(code);
  EXPECT_EQ(r.error().code(), code) << r.error().ToString();
  EXPECT_NE(r.error().message().find(mention), std::string::npos) << r.error().message();
}

VectorEntry Appends(std::size_t n, const std::string& value = "") {
  return VectorEntry{1, 0, 0, std::vector<VectorOp>(n, VectorOp{VectorOpCode::kAppend, 0, value})};
}

// ---- Entries: operation count (u16), value length (u32), timestamp (u64) ----

TEST(VectorLimitsTest, EntryOperationCount) {
  const VectorEntry most = Appends(kMaxEntryOps);
  auto bytes = EncodeEntry(most);
  ASSERT_TRUE(bytes.has_value()) << bytes.error().ToString();
  EXPECT_EQ(DecodeEntry(*bytes).value(), most);
  ExpectCode(EncodeEntry(Appends(kMaxEntryOps + 1)), ErrorCode::kInvalidArgument, "65535");
  ExpectCode(EncodeEntry(Appends(0)), ErrorCode::kInvalidArgument, "empty");
  std::vector<std::byte> none = EncodeEntry(Appends(1)).value();
  none[2] = std::byte{0};  // count 0, the operation left as trailing bytes
  ExpectCode(DecodeEntry(none), ErrorCode::kCorruption);
}

TEST(VectorLimitsTest, EntryValueLength) {
  const VectorEntry largest = Appends(1, std::string(kMaxValueSize, 'v'));
  std::vector<std::byte> bytes = EncodeEntry(largest).value();
  EXPECT_EQ(DecodeEntry(bytes).value(), largest);
  ExpectCode(EncodeEntry(Appends(1, std::string(kMaxValueSize + 1, 'v'))), ErrorCode::kInvalidArgument,
             std::to_string(kMaxValueSize));
  // The same bytes claiming one more (and holding it): longer than any leaf holds.
  const std::size_t len_at = kEntryHeaderSize + 1;
  EncodeFixed32(bytes.data() + len_at, static_cast<std::uint32_t>(kMaxValueSize + 1));
  bytes.push_back(std::byte{'v'});
  ExpectCode(DecodeEntry(bytes), ErrorCode::kCorruption, "more than any leaf holds");
  EncodeFixed32(bytes.data() + len_at, UINT32_MAX);
  ExpectCode(DecodeEntry(bytes), ErrorCode::kCorruption);
}

TEST(VectorLimitsTest, EntryTimestamp) {
  for (std::uint64_t ts : {kMinTimestamp, kMaxTimestamp}) {
    VectorEntry e = Appends(1, "x");
    e.timestamp = ts;
    const std::vector<std::byte> bytes = EncodeEntry(e).value();
    EXPECT_EQ(DecodeEntry(bytes).value(), e);
    EXPECT_EQ(EntryTimestamp(bytes).value(), ts);
  }
  for (std::uint64_t ts : {std::uint64_t{0}, UINT64_MAX}) {
    VectorEntry e = Appends(1, "x");
    e.timestamp = ts;
    ExpectCode(EncodeEntry(e), ErrorCode::kInvalidArgument, "timestamp");
    std::vector<std::byte> bytes = EncodeEntry(Appends(1, "x")).value();
    EncodeFixed64(bytes.data() + 8, ts);
    ExpectCode(DecodeEntry(bytes), ErrorCode::kCorruption, "timestamp");
    ExpectCode(EntryTimestamp(bytes), ErrorCode::kCorruption, "timestamp");
  }
  const std::vector<std::byte> whole = EncodeEntry(Appends(1)).value();
  ExpectCode(EntryTimestamp(std::span(whole).first(kEntryHeaderSize - 1)), ErrorCode::kCorruption);
}

// ---- Publications: height (u8), pending-free count (u32) ----

TEST(VectorLimitsTest, PublicationHeight) {
  const VectorPublication tallest{3, 9, kMaxHeight, 1000, 7, {4, 5}};
  std::vector<std::byte> bytes = EncodePublication(tallest).value();
  EXPECT_EQ(DecodePublication(bytes).value(), tallest);
  VectorPublication taller = tallest;
  taller.height = kMaxHeight + 1;
  ExpectCode(EncodePublication(taller), ErrorCode::kInvalidArgument, "height");
  for (int h : {kMaxHeight + 1, 255}) {
    bytes[1] = static_cast<std::byte>(h);
    ExpectCode(DecodePublication(bytes), ErrorCode::kCorruption, "height");
  }
  const VectorPublication empty_with_height{3, 0, 1, 0, 7, {}};
  ExpectCode(EncodePublication(empty_with_height), ErrorCode::kInvalidArgument, "height");
  std::vector<std::byte> empty = EncodePublication(VectorPublication{3, 0, 0, 0, 7, {}}).value();
  empty[1] = std::byte{1};
  ExpectCode(DecodePublication(empty), ErrorCode::kCorruption, "height");
}

TEST(VectorLimitsTest, PublicationPendingFreeCount) {
  // 2^32 - 1 pending pages would need every page id at once; a long list round-trips and
  // a count that disagrees with the bytes is damage.
  VectorPublication p{3, 9, 2, 1000, 7, {}};
  for (PageId pid = 1; pid <= 100000; ++pid) p.pending_free.push_back(pid);
  std::vector<std::byte> bytes = EncodePublication(p).value();
  EXPECT_EQ(DecodePublication(bytes).value(), p);
  EncodeFixed32(bytes.data() + 32, UINT32_MAX);
  ExpectCode(DecodePublication(bytes), ErrorCode::kCorruption, "wrong length");
}

// ---- Meta page: branching, leaf page size, leaf max elements, writer slots ----

VectorConfig Config(std::uint32_t branching, std::uint32_t leaf_max, std::uint32_t page, std::size_t slots) {
  VectorConfig c{branching, leaf_max, page, {}};
  for (std::size_t i = 0; i < slots; ++i) c.buffers.push_back(static_cast<PageId>(i + 1));
  return c;
}

TEST(VectorLimitsTest, ConfigurationBounds) {
  const std::uint32_t leaf_max_4k = (4096 - 16 - 8) / 4 - 1;
  const std::vector<VectorConfig> accepted{
      Config(kMinBranching, 2, kMinTreePageSize, 1), Config(kMaxBranching, leaf_max_4k, kMinTreePageSize, kMaxSlots),
      Config(kMaxBranching, kMaxLeafElements, kMaxTreePageSize, 1), Config(32, 64, 16384, 8)};
  for (const VectorConfig& c : accepted) {
    auto bytes = EncodeMeta(c);
    ASSERT_TRUE(bytes.has_value()) << bytes.error().ToString();
    EXPECT_EQ(DecodeMeta(*bytes).value(), c);
  }
  const std::vector<std::pair<VectorConfig, std::string>> refused{
      {Config(kMinBranching - 1, 2, 4096, 1), "branching"},
      {Config(kMaxBranching + 1, 2, 4096, 1), "branching"},
      {Config(32, 1, 4096, 1), "leaf_max_elements"},
      {Config(32, leaf_max_4k + 1, 4096, 1), std::to_string(leaf_max_4k)},
      {Config(32, kMaxLeafElements + 1, kMaxTreePageSize, 1), std::to_string(kMaxLeafElements)},
      {Config(32, UINT32_MAX, kMaxTreePageSize, 1), "leaf_max_elements"},
      {Config(32, 64, 2048, 1), "page size"},
      {Config(32, 64, 2 * kMaxTreePageSize, 1), "page size"},
      {Config(32, 64, 12288, 1), "page size"},
      {Config(32, 64, 4096, 0), "slots"},
      {Config(32, 64, 4096, kMaxSlots + 1), "1024"}};
  for (const auto& [c, mention] : refused) {
    ExpectCode(EncodeMeta(c), ErrorCode::kInvalidArgument, mention);
  }
}

TEST(VectorLimitsTest, MetaFieldsOutOfRangeAreCorruption) {
  const std::vector<std::byte> good = EncodeMeta(Config(32, 64, 4096, 2)).value();
  // Offsets of branching, leaf max elements and leaf page size; then the slot count, with
  // the list grown to match it so only the range is wrong.
  for (auto [at, value] : {std::pair<std::size_t, std::uint32_t>{8, kMaxBranching + 1}, {12, 1018}, {16, 1u << 17}}) {
    std::vector<std::byte> bad = good;
    EncodeFixed32(bad.data() + at, value);
    ExpectCode(DecodeMeta(bad), ErrorCode::kCorruption);
  }
  std::vector<std::byte> many = good;
  EncodeFixed32(many.data() + 20, kMaxSlots + 1);
  many.resize(kMetaHeaderSize + 4 * (kMaxSlots + 1), std::byte{1});
  ExpectCode(DecodeMeta(many), ErrorCode::kCorruption, "slots");
}

// ---- Tree pages: leaf count and offsets (u32), inner height (u8) and count (u16) ----

TEST(VectorLimitsTest, LeafFitsTheLargestTreePage) {
  const std::vector<std::string> one{std::string(kMaxValueSize, 'v')};
  const std::vector<std::byte> bytes = EncodeLeaf(one).value();
  EXPECT_EQ(bytes.size(), kMaxTreePageContents);
  auto leaf = LeafView::Parse(bytes);
  ASSERT_TRUE(leaf.has_value());
  ASSERT_TRUE(leaf->Validate().has_value());
  EXPECT_EQ(leaf->Get(0).value().size(), kMaxValueSize);
  ExpectCode(EncodeLeaf(std::vector<std::string>{std::string(kMaxValueSize + 1, 'v')}), ErrorCode::kInvalidArgument,
             "largest tree page");
  const std::vector<std::string> most(kMaxLeafElements);
  const std::vector<std::byte> full = EncodeLeaf(most).value();
  EXPECT_EQ(LeafView::Parse(full).value().size(), kMaxLeafElements);
  ExpectCode(EncodeLeaf(std::vector<std::string>(kMaxLeafElements + 1)), ErrorCode::kInvalidArgument);
  std::vector<std::byte> overcounted = full;
  EncodeFixed32(overcounted.data() + 4, kMaxLeafElements + 1);
  ExpectCode(LeafView::Parse(overcounted), ErrorCode::kCorruption, "truncated");
}

std::vector<InnerChild> Children(std::size_t n) {
  std::vector<InnerChild> out;
  for (std::size_t k = 0; k < n; ++k) out.push_back({static_cast<PageId>(k + 1), 10});
  return out;
}

TEST(VectorLimitsTest, InnerNodeHeightAndCount) {
  for (bool relaxed : {false, true}) {
    const std::vector<std::byte> bytes = EncodeInner(kMaxHeight, Children(kMaxBranching), relaxed).value();
    auto inner = InnerView::Parse(bytes);
    ASSERT_TRUE(inner.has_value()) << inner.error().ToString();
    ASSERT_TRUE(inner->Validate().has_value());
    EXPECT_EQ(inner->height(), kMaxHeight);
    EXPECT_EQ(inner->count(), kMaxBranching);
    EXPECT_EQ(inner->total(), 10u * kMaxBranching);
  }
  ExpectCode(EncodeInner(1, Children(kMaxBranching + 1), false), ErrorCode::kInvalidArgument, "children");
  ExpectCode(EncodeInner(1, Children(0), false), ErrorCode::kInvalidArgument, "children");
  ExpectCode(EncodeInner(kMaxHeight + 1, Children(2), false), ErrorCode::kInvalidArgument, "height");
  ExpectCode(EncodeInner(0, Children(2), false), ErrorCode::kInvalidArgument, "height");

  std::vector<std::byte> bytes = EncodeInner(1, Children(kMaxBranching), false).value();
  bytes[4] = static_cast<std::byte>(kMaxHeight + 1);
  ExpectCode(InnerView::Parse(bytes), ErrorCode::kCorruption, "height");
  bytes[4] = std::byte{1};
  // One child more than any branching, with its page id, so only the count is wrong.
  EncodeFixed16(bytes.data() + 6, static_cast<std::uint16_t>(kMaxBranching + 1));
  bytes.resize(bytes.size() + 4, std::byte{1});
  ExpectCode(InnerView::Parse(bytes), ErrorCode::kCorruption, "children");
}

TEST(VectorLimitsTest, RadixOffsetsSaturateInsteadOfWrapping) {
  // A damaged regular node whose full-child size times k passes 2^64.
  const std::uint64_t half = std::uint64_t{1} << 63;
  const std::vector<InnerChild> children{{1, half}, {2, half / 2}, {3, half / 2 - 1}};
  const std::vector<std::byte> bytes = EncodeInner(1, children, false).value();
  auto inner = InnerView::Parse(bytes);
  ASSERT_TRUE(inner.has_value());
  EXPECT_EQ(inner->total(), UINT64_MAX);
  EXPECT_EQ(inner->before(1, half), half);
  EXPECT_EQ(inner->before(2, half), UINT64_MAX) << "2 * 2^63 wrapped to 0";
  EXPECT_EQ(inner->Locate(half + 5, half).value(), (std::pair<std::uint32_t, std::uint64_t>{1, half}));
}

TEST(VectorLimitsTest, FullSubtreeSizeSaturates) {
  const VectorConfig widest = Config(kMaxBranching, kMaxLeafElements, kMaxTreePageSize, 1);
  EXPECT_EQ(FullSubtreeSize(widest, 0), kMaxLeafElements);
  EXPECT_EQ(FullSubtreeSize(widest, kMaxHeight), std::uint64_t{1} << 56);
  const VectorConfig narrowest = Config(kMinBranching, 2, kMinTreePageSize, 1);
  std::uint64_t previous = 0;
  for (std::uint8_t h = 0; h <= kMaxHeight; ++h) {
    const std::uint64_t n = FullSubtreeSize(narrowest, h);
    EXPECT_GE(n, previous) << "height " << int{h};
    previous = n;
  }
}

// ---- Through a store: options at Open, values, batches, damage found by recovery ----

class VectorLimitsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::Open(dir_.path() + "/db", VectorStoreOptions());
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    store_ = std::move(*store);
  }
  void TearDown() override {
    if (store_) {
      EXPECT_TRUE(store_->Close().has_value());
    }
  }
  Result<std::unique_ptr<Vector>> Open(const std::string& name, const VectorOptions& o) {
    return Vector::Open(*store_, name, o);
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(VectorLimitsStoreTest, OpenRefusesOptionsOutOfRange) {
  const std::vector<std::pair<std::function<void(VectorOptions&)>, std::string>> refused{
      {[](VectorOptions& o) { o.branching = kMaxBranching + 1; }, "branching"},
      {[](VectorOptions& o) { o.branching = kMinBranching - 1; }, "branching"},
      {[](VectorOptions& o) { o.leaf_page_size = 2 * kMaxTreePageSize; }, "page size"},
      {[](VectorOptions& o) { o.leaf_max_elements = 1018; }, "1017"},
      {[](VectorOptions& o) { o.writer_slots = kMaxSlots + 1; }, "1024"},
      {[](VectorOptions& o) { o.max_buffer_bytes = (std::uint64_t{1} << 30) + 1; }, "1 GiB"},
      // Once cast to the signed flow-control limit this was negative: every write waited.
      {[](VectorOptions& o) { o.max_buffer_bytes = UINT64_MAX; }, "1 GiB"}};
  int n = 0;
  for (const auto& [change, mention] : refused) {
    VectorOptions o;
    change(o);
    ExpectCode(Open("refused" + std::to_string(n++), o), ErrorCode::kInvalidArgument, mention);
  }
  VectorOptions most;
  most.branching = kMaxBranching;
  most.leaf_max_elements = 1017;
  most.max_buffer_bytes = std::uint64_t{1} << 30;
  auto vec = Open("most", most);
  ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
  ASSERT_TRUE((*vec)->Append("x", {.sync = true}).has_value());
  ASSERT_TRUE((*vec)->Close().has_value());
}

TEST_F(VectorLimitsStoreTest, MostWriterSlotsSurviveAReopen) {
  VectorOptions o;
  o.writer_slots = kMaxSlots;
  {
    auto vec = Open("slots", o);
    ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
    ASSERT_TRUE((*vec)->Append("x").has_value());
    ASSERT_TRUE((*vec)->Close().has_value());
  }
  o.writer_slots = 1;  // a reopen keeps the stored slots
  auto vec = Open("slots", o);
  ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
  EXPECT_EQ((*vec)->config().buffers.size(), kMaxSlots);
  EXPECT_EQ(Contents((*vec)->Snapshot()), std::vector<std::string>{"x"});
  ASSERT_TRUE((*vec)->Close().has_value());
}

// A 64 KiB leaf page: its largest value, and a leaf of the most (empty) elements.
TEST_F(VectorLimitsStoreTest, LargestValueAndFullestLeafRoundTrip) {
  VectorOptions o;
  o.leaf_page_size = kMaxTreePageSize;
  o.leaf_max_elements = kMaxLeafElements;
  auto vec = Open("wide", o);
  ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
  Vector& v = **vec;
  ASSERT_EQ(v.max_value_size(), kMaxValueSize);
  const std::string largest(kMaxValueSize, 'v');
  for (auto write : {&Vector::Append, &Vector::Prepend}) {
    ExpectCode((v.*write)(largest + "v", {}), ErrorCode::kInvalidArgument, std::to_string(kMaxValueSize));
  }
  ExpectCode(v.Insert(0, largest + "v"), ErrorCode::kInvalidArgument, std::to_string(kMaxValueSize));
  VectorWriteBatch empties;
  for (std::uint32_t i = 0; i < kMaxLeafElements; ++i) empties.Append("");
  auto t = v.Write(empties);
  ASSERT_TRUE(t.has_value()) << t.error().ToString();
  ASSERT_TRUE(v.WaitVisible(*t).has_value());
  EXPECT_EQ(v.Snapshot().height(), 0) << "one full leaf";
  ExpectCode(v.Update(0, largest + "v"), ErrorCode::kInvalidArgument, std::to_string(kMaxValueSize));
  t = v.Update(kMaxLeafElements - 1, largest);
  ASSERT_TRUE(t.has_value()) << t.error().ToString();
  ASSERT_TRUE(v.WaitVisible(*t).has_value());
  VectorSnapshot snap = v.Snapshot();
  EXPECT_EQ(snap.size(), kMaxLeafElements);
  EXPECT_EQ(snap.at(kMaxLeafElements - 1).value(), largest);
  EXPECT_EQ(snap.at(0).value(), "");
  snap.release();
  ASSERT_TRUE(v.Close().has_value());
}

TEST_F(VectorLimitsStoreTest, BatchOfTheMostOperations) {
  VectorOptions o;
  o.max_buffer_bytes = 1 << 20;  // room for an entry of 65535 appends (5 bytes each)
  auto vec = Open("batch", o);
  ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
  VectorWriteBatch batch;
  for (std::size_t i = 0; i < kMaxEntryOps; ++i) batch.Append("");
  auto t = (*vec)->Write(batch);
  ASSERT_TRUE(t.has_value()) << t.error().ToString();
  ASSERT_TRUE((*vec)->WaitVisible(*t).has_value());
  EXPECT_EQ((*vec)->Snapshot().size(), kMaxEntryOps);
  batch.Append("");
  ExpectCode((*vec)->Write(batch), ErrorCode::kInvalidArgument, "65535");
  ASSERT_TRUE((*vec)->Close().has_value());
}

// ---- Tree height (u8): the builder refuses to grow past kMaxHeight ----

PageId WriteTreePage(Store& store, Result<std::vector<std::byte>> contents) {
  EXPECT_TRUE(contents.has_value()) << contents.error().ToString();
  auto pid = store.Allocate();
  EXPECT_TRUE(pid.has_value());
  auto page = BasePage::Create(*pid, kMinTreePageSize, *contents);
  EXPECT_TRUE(page.has_value());
  auto guard = store.EnterGeneration();
  OwnedChain chain = PageChainBuilder::Base(Share(std::move(*page)));
  auto out = store.UpdateR(guard, *pid, PageRef::Empty(), chain);
  EXPECT_TRUE(out.has_value() && out->installed);
  return *pid;
}

// A tree of `height` levels (branching 3, leaves of 2) with one element per level but a
// full right spine, so an append splits every level and grows the root. Spine node h is
// [thin, thin, spine h-1], where thin is a chain of one-child nodes above a one-element
// leaf: 2 pages per level instead of 3^height.
RrbBuilder::Tree TallTree(Store& store, std::uint8_t height) {
  PageId thin = WriteTreePage(store, EncodeLeaf(std::vector<std::string>{"t"}));
  PageId spine = WriteTreePage(store, EncodeLeaf(std::vector<std::string>{"a", "b"}));
  std::uint64_t spine_size = 2;
  for (std::uint8_t h = 1; h <= height; ++h) {
    const InnerChild t{thin, 1};
    spine = WriteTreePage(store, EncodeInner(h, std::vector<InnerChild>{t, t, {spine, spine_size}}, true));
    thin = WriteTreePage(store, EncodeInner(h, std::vector<InnerChild>{t}, true));
    spine_size += 2;
  }
  return {spine, height, spine_size};
}

TEST_F(VectorLimitsStoreTest, TreeHeightStopsAtTheLimit) {
  const VectorConfig config = Config(kMinBranching, 2, kMinTreePageSize, 1);
  const VectorEntry append{1, 0, 0, {{VectorOpCode::kAppend, 0, "x"}}};
  RrbBuilder grow(*store_, config, TallTree(*store_, kMaxHeight - 1));
  ASSERT_TRUE(grow.Apply(append).has_value());
  auto written = grow.Materialize();
  ASSERT_TRUE(written.has_value()) << written.error().ToString();
  ASSERT_EQ(written->tree.height, kMaxHeight);
  const VectorPublication p{1, written->tree.root, written->tree.height, written->tree.size, 2, {}};
  EXPECT_EQ(DecodePublication(EncodePublication(p).value()).value(), p);
  std::vector<std::string> want(2 * (kMaxHeight - 1), "t");
  want.insert(want.end(), {"a", "b", "x"});
  auto published = std::make_shared<const PublishedTree>(1, 2, written->tree, store_.get(), &config);
  EXPECT_TRUE(SameSequence(Contents(VectorSnapshot(published)), want));

  RrbBuilder at_limit(*store_, config, TallTree(*store_, kMaxHeight));
  ExpectCode(at_limit.Apply(append), ErrorCode::kResourceExhausted, "height limit (63)");
}

// An entry the writer would never have written, put on a buffer page behind the vector's
// back: recovery must call it damage rather than skip, reject or wrap on it.
class VectorLimitsRecoveryTest : public VectorLimitsStoreTest {
 protected:
  void ExpectRecoveryRefuses(std::vector<std::byte> payload, const std::string& mention) {
    PageId buffer = 0;
    {
      auto vec = Open("damaged", VectorOptions{});
      ASSERT_TRUE(vec.has_value()) << vec.error().ToString();
      ASSERT_TRUE((*vec)->Append("kept", {.sync = true}).has_value());
      buffer = (*vec)->config().buffers[0];
      ASSERT_TRUE((*vec)->Close().has_value());
    }
    auto record = DeltaRecord::MakeUpdate(buffer, payload);
    ASSERT_TRUE(record.has_value());
    auto guard = store_->EnterGeneration();
    auto ref = store_->Read(guard, buffer);
    ASSERT_TRUE(ref.has_value());
    auto out = store_->UpdateD(guard, buffer, *ref, Share(std::move(*record)));
    ASSERT_TRUE(out.has_value() && out->installed);
    ExpectCode(Open("damaged", VectorOptions{}), ErrorCode::kCorruption, mention);
  }
};

TEST_F(VectorLimitsRecoveryTest, TimestampPastTheClock) {
  // Its clock would have been restored as the largest timestamp + 1, wrapped to 0.
  std::vector<std::byte> payload = EncodeEntry(VectorEntry{9, 0, 0, {{VectorOpCode::kAppend, 0, "x"}}}).value();
  EncodeFixed64(payload.data() + 8, UINT64_MAX);
  ExpectRecoveryRefuses(payload, "timestamp");
}

TEST_F(VectorLimitsRecoveryTest, ValueLongerThanTheVectorsLeaves) {
  // Within kMaxValueSize, but past what a 4 KiB leaf holds: Write refused it, so it is
  // damage, not a write to reject at replay.
  const std::string value(MaxValueSize(kMinTreePageSize) + 1, 'v');
  ExpectRecoveryRefuses(EncodeEntry(VectorEntry{9, 0, 0, {{VectorOpCode::kAppend, 0, value}}}).value(), "leaf");
}

}  // namespace
}  // namespace llama::vector_test
