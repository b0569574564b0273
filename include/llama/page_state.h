// PageState: a borrowed view of a page's in-memory state (the head node of its chain)
// and the iterator over it. The view is valid while its reader stays in the generation
// in which it read the head from the mapping table.
//
// The iterator visits every node of the state exactly once, head first, base last, even
// when a PartialSwap's second edge makes the chain a DAG: by the DAG rule
// (include/llama/page_node.h) that edge only ever points back onto the spine, so following
// next() alone reaches every node once and never revisits the node it points at.
#pragma once

#include <cstddef>
#include <iterator>

#include "llama/page_node.h"

namespace llama {

class PageStateIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = PageNode;
  using difference_type = std::ptrdiff_t;
  using pointer = const PageNode*;
  using reference = const PageNode&;

  PageStateIterator() = default;
  explicit PageStateIterator(const PageNode* node) : node_(node) {}

  reference operator*() const { return *node_; }
  pointer operator->() const { return node_; }
  PageStateIterator& operator++() {
    node_ = node_->next();
    return *this;
  }
  PageStateIterator operator++(int) {
    PageStateIterator old = *this;
    ++*this;
    return old;
  }
  friend bool operator==(const PageStateIterator&, const PageStateIterator&) = default;

 private:
  const PageNode* node_ = nullptr;
};

class PageState {
 public:
  PageState() = default;
  explicit PageState(const PageNode* head) : head_(head) {}

  const PageNode* head() const { return head_; }
  bool empty() const { return head_ == nullptr; }
  std::size_t chain_length() const { return head_ ? head_->chain_length() : 0; }

  PageStateIterator begin() const { return PageStateIterator(head_); }
  PageStateIterator end() const { return PageStateIterator(); }

  // The bottom node of the in-memory chain (a base node, or a delta over disk). O(1): the
  // head knows it (PageNode::bottom), and a consolidated page's head is its base.
  const PageNode* bottom() const { return head_ ? head_->bottom() : nullptr; }
  // The base page at the bottom, when it is in memory.
  const BasePage* base() const {
    const PageNode* b = bottom();
    return b ? b->base() : nullptr;
  }

 private:
  const PageNode* head_ = nullptr;
};

}  // namespace llama
