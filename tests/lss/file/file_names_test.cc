// The names of a store directory's files (lss/file/file_names.h): every spelling, and every
// near miss that must not parse.
#include "lss/file/file_names.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace llama {
namespace {

TEST(FileNamesTest, SegmentNames) {
  EXPECT_EQ(SegmentFileName(42), "segment-0000002a");
  EXPECT_EQ(SegmentFileName(0xffffffffu), "segment-ffffffff");
  for (std::uint32_t id : {1u, 2u, 255u, 0x10000u, 0xfffffffeu})
    EXPECT_EQ(ParseSegmentFileName(SegmentFileName(id)), id);
  for (const char* name :
       {"", "segment-", "segment-2a", "segment-0000002A", "segment-0000002a.tmp", "segment-000000002a",
        "Segment-0000002a", "orphan-segment-0000002a", "segment-0000zz2a", "segment-00000000"}) {
    EXPECT_EQ(ParseSegmentFileName(name), 0u) << name;
  }
}

TEST(FileNamesTest, CheckpointNames) {
  EXPECT_EQ(CheckpointFileName(42), "CHECKPOINT-000000000000002a");
  EXPECT_EQ(CheckpointFileName(std::numeric_limits<std::uint64_t>::max()), "CHECKPOINT-ffffffffffffffff");
  for (std::uint64_t seq : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1} << 40}) {
    EXPECT_EQ(ParseCheckpointFileName(CheckpointFileName(seq)), seq);
  }
  EXPECT_EQ(ParseCheckpointFileName("CHECKPOINT-000000000000002a.tmp"), std::nullopt);
  EXPECT_EQ(ParseCheckpointFileName("CHECKPOINT-000000000000002A"), std::nullopt);
  EXPECT_TRUE(LooksLikeCheckpointFileName("CHECKPOINT-000000000000002a.tmp"));
  EXPECT_TRUE(LooksLikeCheckpointFileName("CHECKPOINT-zz"));
  EXPECT_FALSE(LooksLikeCheckpointFileName("checkpoint-000000000000002a"));
}

TEST(FileNamesTest, TmpNames) {
  EXPECT_EQ(TmpFileName(kStoreFileName), "STORE.tmp");
  EXPECT_EQ(TmpFileName(CheckpointFileName(3)), "CHECKPOINT-0000000000000003.tmp");
  EXPECT_EQ(NameBeforeTmp("STORE.tmp"), "STORE");
  EXPECT_EQ(NameBeforeTmp(".tmp"), "");
  EXPECT_EQ(NameBeforeTmp("STORE"), "");
  EXPECT_EQ(NameBeforeTmp("STORE.tmpx"), "");
}

TEST(FileNamesTest, OrphanNames) {
  EXPECT_EQ(OrphanSegmentFileName(42), "orphan-segment-0000002a");
  EXPECT_EQ(OrphanSegmentFileName(42, 3), "orphan-segment-0000002a.3");
  EXPECT_EQ(ParseOrphanSegmentFileName("orphan-segment-0000002a"), 42u);
  EXPECT_EQ(ParseOrphanSegmentFileName("orphan-segment-0000002a.3"), 42u);
  EXPECT_EQ(ParseOrphanSegmentFileName("orphan-segment-0000002a.12"), 42u);
  for (const char* name : {"orphan-", "orphan-segment-", "orphan-segment-0000002a.", "orphan-segment-0000002a.0",
                           "orphan-segment-0000002a.03", "orphan-segment-0000002a.x", "orphan-segment-0000002ax",
                           "orphan-segment-00000000", "segment-0000002a", "orphan-CHECKPOINT-000000000000002a"}) {
    EXPECT_EQ(ParseOrphanSegmentFileName(name), std::nullopt) << name;
  }
}

TEST(FileNamesTest, ParseFileNameTellsEveryKindApart) {
  struct Case {
    const char* name;
    StoreFileType type;
    std::uint64_t number;
  };
  for (const Case& c : {
           Case{"STORE", StoreFileType::kIdentity, 0},
           Case{"STORE.tmp", StoreFileType::kIdentityTmp, 0},
           Case{"segment-00000007", StoreFileType::kSegment, 7},
           Case{"CHECKPOINT-0000000000000009", StoreFileType::kCheckpoint, 9},
           Case{"CHECKPOINT-0000000000000009.tmp", StoreFileType::kCheckpointTmp, 9},
           Case{"orphan-segment-00000005", StoreFileType::kOrphanSegment, 5},
           Case{"orphan-segment-00000005.2", StoreFileType::kOrphanSegment, 5},
           Case{"segment-00000007.tmp", StoreFileType::kOther, 0},
           Case{"CHECKPOINT-zz.tmp", StoreFileType::kOther, 0},
           Case{"store", StoreFileType::kOther, 0},
           Case{"notes.txt", StoreFileType::kOther, 0},
           Case{"", StoreFileType::kOther, 0},
       }) {
    const ParsedFileName parsed = ParseFileName(c.name);
    EXPECT_EQ(parsed.type, c.type) << c.name;
    EXPECT_EQ(parsed.number, c.number) << c.name;
  }
}

TEST(FileNamesTest, PathIn) {
  EXPECT_EQ(PathIn("/data/db", "STORE"), "/data/db/STORE");
  EXPECT_EQ(PathIn("/data/db/", "STORE"), "/data/db/STORE");
  EXPECT_EQ(PathIn("", "STORE"), "STORE");
}

}  // namespace
}  // namespace llama
