// ReadPageOffline: a page's durable state as a read of it after recovery would see it:
// from the newest record recovery lists for the page, every PageState record along the
// prior pointers, decoded, down to a base page or a record with no prior. Damage stops the
// walk and is reported in `problems`, never as an error.
//
// Ownership: plain values; the records own their decoded deltas and base.
#pragma once

#include <string>
#include <vector>

#include "llama/status.h"
#include "lss/log/page_record.h"
#include "lss/log/record_frame.h"
#include "lss/recovery/store_image.h"

namespace llama::pagedump {

struct OfflineRecord {
  LssAddress address;
  FrameHeader frame;
  std::optional<PageRecord> page;  // when the body decodes as a PageState of this page
};

struct OfflinePage {
  PageId pid = 0;
  std::vector<PageDiskRecord> listed;  // what recovery lists, newest first
  std::vector<OfflineRecord> records;  // what the prior pointers reach, newest first
  std::vector<std::string> problems;

  // The deltas, newest first, and the base (null if none), across every record read.
  std::vector<DeltaHandle> Deltas() const;
  BasePageHandle Base() const;
};

// NotFound when recovery restores no state for the page.
Result<OfflinePage> ReadPageOffline(StoreImage& image, PageId pid);

}  // namespace llama::pagedump
