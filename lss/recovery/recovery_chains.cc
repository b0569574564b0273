#include "lss/recovery/recovery_chains.h"

#include <string>

#include "lss/log/page_record.h"
#include "util/byte_io.h"

namespace llama {

void RecoveredChains::Seed(const CheckpointData& checkpoint) {
  for (const CheckpointPage& page : checkpoint.pages) chains_[page.pid] = page.chain;
}

Status RecoveredChains::Apply(const LogRecordView& record) {
  using log_format::RecordKind;
  const PageDiskRecord where{record.address, static_cast<std::uint32_t>(record.header.framed_size())};
  if (record.header.kind == RecordKind::kPageState) {
    auto page = DecodePageRecordHeader(record.body);
    if (!page) {
      return MakeError(ErrorCode::kCorruption, "record at segment " + std::to_string(record.address.segment()) +
                                                   " offset " + std::to_string(record.address.offset()) + ": " +
                                                   page.error().message());
    }
    auto& chain = chains_[page->pid];
    // At or below the newest record already known: named by the checkpoint, or older than
    // the state it names.
    if (!chain.empty() && !(chain.front().address < record.address)) return OkStatus();
    if (page->has_base || page->prior.is_null()) chain.clear();
    chain.insert(chain.begin(), where);
  } else if (record.header.kind == RecordKind::kFreePage && record.body.size() == 4) {
    PageId pid = 0;
    (void)ByteReader(record.body).U32(&pid);  // the body is the pid, exactly 4 bytes
    auto it = chains_.find(pid);
    // A list newer than the free belongs to a later use of the id.
    if (it != chains_.end() && !it->second.empty() && it->second.front().address < record.address) {
      chains_.erase(it);
    }
  }
  return OkStatus();
}

void RecoveredChains::Finish() {
  std::erase_if(chains_, [](const auto& entry) { return entry.second.empty(); });
}

}  // namespace llama
