#include "llama/page_node.h"

#include <cassert>

namespace llama {

PageNode::PageNode(Kind kind, DeltaHandle delta, BasePageHandle base)
    : kind_(kind), delta_(std::move(delta)), base_(std::move(base)) {
  if (delta_ != nullptr) {
    delta_kind_ = delta_->kind();
    bytes_ = delta_->payload();
  } else if (base_ != nullptr) {
    bytes_ = base_->contents();
  }
  live_count_.fetch_add(1, std::memory_order_relaxed);
}

PageNode::~PageNode() { live_count_.fetch_sub(1, std::memory_order_relaxed); }

PageNode* PageNode::FlushedCopy(const PageNode& head, LssAddress flushed_to) {
  auto* copy = new PageNode(head.kind_, head.delta_, head.base_);
  copy->LinkBelow(head.next_, head.prior_on_disk_);
  copy->last_flushed_ = head.last_flushed_;
  copy->flushed_to_ = flushed_to;
  return copy;
}

PageNode* PageNode::CopyOver(const PageNode& node, PageNode* below) {
  assert(node.is_delta() && node.last_flushed_ == nullptr && !node.is_flush_point());
  auto* copy = new PageNode(node.kind_, node.delta_, node.base_);
  copy->LinkBelow(below, LssAddress());
  return copy;
}

void PageNode::LinkBelow(PageNode* below, LssAddress prior_on_disk) {
  assert(below == nullptr || prior_on_disk.is_null());
  next_ = below;
  prior_on_disk_ = prior_on_disk;
  chain_length_ = below ? below->chain_length_ + 1 : 1;
  reaches_disk_ = below ? below->reaches_disk_ : !prior_on_disk.is_null();
  bottom_ = below ? below->bottom_ : this;
}

void FreeChain(PageNode* head) {
  while (head != nullptr) {
    PageNode* below = const_cast<PageNode*>(head->next());
    delete head;
    head = below;
  }
}

bool CanMarkBelow(const PageNode* head, const PageNode* point) {
  if (point == nullptr || point->is_flush_point()) return false;
  for (const PageNode* n = head; n != nullptr; n = n->next()) {
    if (n == point) return true;
    const bool plain_update =
        n->is_delta() && n->delta_kind() == DeltaKind::kUpdate && !n->is_flush_point() && n->last_flushed() == nullptr;
    if (!plain_update) return false;
  }
  return false;
}

bool IsOnSpine(const PageNode* head, const PageNode* node) {
  for (const PageNode* n = head; n != nullptr; n = n->next()) {
    if (n == node) return true;
  }
  return false;
}

OwnedChain PageChainBuilder::Base(BasePageHandle page) {
  assert(page != nullptr);
  return OwnedChain(new PageNode(PageNode::Kind::kBase, nullptr, std::move(page)));
}

OwnedChain PageChainBuilder::Prepend(DeltaHandle delta, OwnedChain below) {
  assert(delta != nullptr);
  OwnedChain node(new PageNode(PageNode::Kind::kDelta, std::move(delta), nullptr));
  node->LinkBelow(below.release(), LssAddress());
  return node;
}

OwnedChain PageChainBuilder::OverDisk(DeltaHandle delta, LssAddress prior) {
  assert(delta != nullptr);
  OwnedChain node(new PageNode(PageNode::Kind::kDelta, std::move(delta), nullptr));
  node->LinkBelow(nullptr, prior);
  return node;
}

Result<OwnedChain> PageChainBuilder::PrependPartialSwap(DeltaHandle delta, OwnedChain below,
                                                        const PageNode* last_flushed) {
  if (delta == nullptr || delta->kind() != DeltaKind::kPartialSwap) {
    return MakeError(ErrorCode::kInvalidArgument, "PrependPartialSwap needs a PartialSwap record");
  }
  if (last_flushed != nullptr && !IsOnSpine(below.get(), last_flushed)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "PartialSwap last-flushed node is not on the chain below it (DAG rule)");
  }
  OwnedChain node = Prepend(std::move(delta), std::move(below));
  node->last_flushed_ = last_flushed;
  return node;
}

void PageChainBuilder::MarkFlushed(OwnedChain& chain, LssAddress flushed_to) {
  assert(chain != nullptr && flushed_to.is_valid());
  chain->flushed_to_ = flushed_to;
}

}  // namespace llama
