#include "tools/pagedump/page_reader.h"

#include <set>

#include "tools/pagedump/store_analysis.h"

namespace llama::pagedump {

std::vector<DeltaHandle> OfflinePage::Deltas() const {
  std::vector<DeltaHandle> out;
  for (const OfflineRecord& r : records) {
    if (r.page) out.insert(out.end(), r.page->deltas.begin(), r.page->deltas.end());
  }
  return out;
}

BasePageHandle OfflinePage::Base() const {
  for (const OfflineRecord& r : records) {
    if (r.page && r.page->base) return r.page->base;
  }
  return nullptr;
}

Result<OfflinePage> ReadPageOffline(StoreImage& image, PageId pid) {
  const auto& chains = image.recovery().pages.chains();
  auto found = chains.find(pid);
  if (found == chains.end()) {
    return MakeError(ErrorCode::kNotFound, "page " + std::to_string(pid) + " has no durable state in " + image.dir() +
                                               " (" + std::to_string(chains.size()) +
                                               " pages do; the summary lists them)");
  }
  OfflinePage page;
  page.pid = pid;
  page.listed = found->second;
  std::set<std::uint64_t> seen;
  for (LssAddress at = page.listed.front().address; !at.is_null();) {
    if (!seen.insert(at.raw()).second || seen.size() > (1u << 16)) {
      page.problems.push_back("the prior pointers loop at " + AddressText(at));
      break;
    }
    auto record = image.ReadRecord(at);
    if (!record) {
      page.problems.push_back(AddressText(at) + ": " + record.error().message());
      break;
    }
    OfflineRecord& r = page.records.emplace_back(OfflineRecord{at, record->header, std::nullopt});
    if (record->header.kind != log_format::RecordKind::kPageState) {
      page.problems.push_back(AddressText(at) + ": not a PageState record");
      break;
    }
    auto decoded = DecodePageRecord(record->body);
    if (!decoded) {
      page.problems.push_back(AddressText(at) + ": " + decoded.error().message());
      break;
    }
    if (decoded->pid != pid) {
      page.problems.push_back(AddressText(at) + ": a record of page " + std::to_string(decoded->pid));
      break;
    }
    r.page = std::move(*decoded);
    if (r.page->base) break;
    at = r.page->prior;
  }
  return page;
}

}  // namespace llama::pagedump
