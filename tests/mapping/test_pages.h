// Small helpers shared by the mapping-table tests: make records and pages from strings,
// and read a page's state back as strings.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "llama/base_page.h"
#include "llama/coding.h"
#include "llama/delta_record.h"
#include "llama/page_state.h"
#include "mapping/mapping_table.h"

namespace llama::testing {

inline DeltaHandle UpdateRecord(PageId pid, std::string_view payload) {
  return Share(*DeltaRecord::MakeUpdate(pid, AsBytes(payload)));
}

inline OwnedChain BaseChain(PageId pid, std::string_view contents, std::uint32_t size = 4096) {
  return PageChainBuilder::Base(Share(*BasePage::Create(pid, size, AsBytes(contents))));
}

// The state as the model sees it: update payloads head-first, then "[base:<contents>]"
// or "[disk:<raw address>]" at the bottom. Other delta kinds show as "<Kind>"; a node that
// carries a flush mark (PageNode::flushed_to) is preceded by "<flushed>", which is not a
// node.
inline std::vector<std::string> Describe(PageRef ref) {
  std::vector<std::string> out;
  if (ref.on_disk()) return {"[disk:" + std::to_string(ref.address().raw()) + "]"};
  const PageState state = ref.state();
  const PageNode* last = nullptr;
  for (const PageNode& node : state) {
    last = &node;
    if (node.is_flush_point()) out.emplace_back("<flushed>");
    if (node.is_base()) {
      out.push_back("[base:" + std::string(AsStringView(node.base()->contents())) + "]");
    } else if (node.delta()->is_update()) {
      out.emplace_back(AsStringView(node.delta()->payload()));
    } else {
      out.push_back("<" + std::string(DeltaKindName(node.delta()->kind())) + ">");
    }
  }
  if (last != nullptr && !last->prior_on_disk().is_null()) {
    out.push_back("[disk:" + std::to_string(last->prior_on_disk().raw()) + "]");
  }
  return out;
}

}  // namespace llama::testing
