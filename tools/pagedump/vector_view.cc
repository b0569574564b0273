#include <optional>

#include "tools/pagedump/content_decoders.h"
#include "tools/pagedump/page_reader.h"
#include "tools/pagedump/vector_reader.h"
#include "tools/pagedump/views.h"

namespace llama::pagedump {

namespace {

// Snapshots of each vector shown in the summary, newest first.
constexpr std::size_t kSummarySnapshots = 3;

JsonValue Strings(const std::vector<std::string>& items) {
  JsonValue list = JsonValue::MakeArray();
  for (const std::string& s : items) list.Push(s);
  return list;
}

JsonValue ConfigJson(const std::optional<VectorConfig>& config) {
  if (!config) return JsonValue();
  JsonValue out = JsonValue::MakeObject();
  out.Set("branching", config->branching);
  out.Set("leaf_max_elements", config->leaf_max_elements);
  out.Set("leaf_page_size", config->leaf_page_size);
  out.Set("buffer_pages", config->buffers.size());
  return out;
}

// The tree of one snapshot, level by level from the root.
class TreeWalk {
 public:
  TreeWalk(StoreImage& image, bool want_elements) : image_(image), want_elements_(want_elements) {}

  void Run(const VectorPublication& p, JsonValue& view) {
    JsonValue levels = JsonValue::MakeArray();
    std::vector<PageId> level;
    if (p.root != 0) level.push_back(p.root);
    // DecodePublication refused heights past vector_format::kMaxHeight, so this walk is
    // bounded.
    for (int h = p.height; h >= 0 && !level.empty(); --h) {
      std::vector<PageId> next;
      std::uint64_t level_elements = 0;
      for (PageId pid : level) {
        if (++visited_ > image_.recovery().pages.chains().size()) {
          problems_.push_back("the tree names more pages than the store holds: a cycle?");
          break;
        }
        auto contents = Contents(pid);
        if (!contents) continue;
        if (h > 0) {
          auto inner = InnerView::Parse(*contents);
          if (!inner || !inner->Validate()) {
            problems_.push_back("page " + std::to_string(pid) + ": not a valid inner node" +
                                (inner ? "" : ": " + inner.error().message()));
            continue;
          }
          if (inner->height() != h) {
            problems_.push_back("page " + std::to_string(pid) + ": an inner node of height " +
                                std::to_string(inner->height()) + " at height " + std::to_string(h));
          }
          level_elements += inner->total();
          for (std::uint32_t k = 0; k < inner->count(); ++k) next.push_back(inner->child(k));
        } else {
          auto leaf = LeafView::Parse(*contents);
          if (!leaf || !leaf->Validate()) {
            problems_.push_back("page " + std::to_string(pid) + ": not a valid leaf" +
                                (leaf ? "" : ": " + leaf.error().message()));
            continue;
          }
          level_elements += leaf->size();
          element_count_ += leaf->size();
          for (std::uint32_t i = 0; want_elements_ && i < leaf->size(); ++i) {
            auto v = leaf->Get(i);
            if (v) elements_.Push(std::string(*v));
          }
        }
      }
      JsonValue row = JsonValue::MakeObject();
      row.Set("height", h);
      row.Set("pages", level.size());
      row.Set("kind", h > 0 ? "inner" : "leaf");
      row.Set("elements", level_elements);
      levels.Push(std::move(row));
      level = std::move(next);
    }
    if (element_count_ != p.size) {
      problems_.push_back("the leaves hold " + std::to_string(element_count_) + " elements; the snapshot says " +
                          std::to_string(p.size));
    }
    view.Set("levels", std::move(levels));
    view.Set("element_count", element_count_);
    view.Set("elements", want_elements_ ? std::move(elements_) : JsonValue());
  }

  std::vector<std::string>& problems() { return problems_; }

 private:
  std::optional<std::vector<std::byte>> Contents(PageId pid) {
    auto page = ReadPageOffline(image_, pid);
    if (!page) {
      problems_.push_back("tree page " + std::to_string(pid) + " has no durable state");
      return std::nullopt;
    }
    for (const std::string& p : page->problems) problems_.push_back("tree page " + std::to_string(pid) + ": " + p);
    const BasePageHandle base = page->Base();
    if (base == nullptr) {
      if (page->problems.empty()) problems_.push_back("tree page " + std::to_string(pid) + " has no base page");
      return std::nullopt;
    }
    const auto contents = base->contents();
    return std::vector<std::byte>(contents.begin(), contents.end());
  }

  StoreImage& image_;
  const bool want_elements_;
  std::size_t visited_ = 0;
  std::uint64_t element_count_ = 0;
  JsonValue elements_ = JsonValue::MakeArray();
  std::vector<std::string> problems_;
};

}  // namespace

JsonValue CatalogSummaryJson(StoreImage& image) {
  const OfflineCatalog catalog = ReadCatalogOffline(image);
  JsonValue out = JsonValue::MakeObject();
  JsonValue roots = JsonValue::MakeArray();
  JsonValue vectors = JsonValue::MakeArray();
  for (const NamedRoot& root : catalog.roots) {
    JsonValue row = JsonValue::MakeObject();
    row.Set("name", root.name);
    row.Set("pid", root.pid);
    roots.Push(std::move(row));
    if (!root.name.starts_with(kVectorRootPrefix)) continue;
    const std::string name = root.name.substr(kVectorRootPrefix.size());
    auto vector = ReadVectorOffline(image, catalog, name);
    if (!vector) continue;
    JsonValue v = JsonValue::MakeObject();
    v.Set("name", name);
    v.Set("meta_page", vector->meta);
    v.Set("config", ConfigJson(vector->config));
    JsonValue snapshots = JsonValue::MakeArray();
    for (std::size_t i = 0; i < vector->publications.size() && i < kSummarySnapshots; ++i) {
      snapshots.Push(PublicationJson(vector->publications[i]));
    }
    v.Set("snapshots", std::move(snapshots));
    v.Set("problems", Strings(vector->problems));
    vectors.Push(std::move(v));
  }
  out.Set("named_roots", std::move(roots));
  out.Set("vectors", std::move(vectors));
  out.Set("problems", Strings(catalog.problems));
  return out;
}

Result<JsonValue> BuildVectorView(StoreImage& image, const std::string& name, std::optional<std::uint64_t> generation,
                                  bool elements) {
  const OfflineCatalog catalog = ReadCatalogOffline(image);
  auto vector = ReadVectorOffline(image, catalog, name);
  LLAMA_RETURN_IF_ERROR(vector);
  const VectorPublication* chosen = nullptr;
  std::string kept;
  for (const VectorPublication& p : vector->publications) {
    if (!chosen && (!generation || p.generation == *generation)) chosen = &p;
    kept += (kept.empty() ? "" : ", ") + std::to_string(p.generation);
  }
  if (generation && chosen == nullptr) {
    return MakeError(ErrorCode::kNotFound,
                     "vector \"" + name + "\": generation " + std::to_string(*generation) +
                         " is not on disk (its meta page holds generations: " + (kept.empty() ? "none" : kept) + ")");
  }
  JsonValue view = JsonValue::MakeObject();
  view.Set("view", "vector");
  view.Set("name", name);
  view.Set("meta_page", vector->meta);
  view.Set("config", ConfigJson(vector->config));
  JsonValue generations = JsonValue::MakeArray();
  for (const VectorPublication& p : vector->publications) generations.Push(p.generation);
  view.Set("generations_on_disk", std::move(generations));
  std::vector<std::string> problems = vector->problems;
  if (chosen == nullptr) {
    // Never published: the empty vector.
    view.Set("snapshot", JsonValue());
    view.Set("levels", JsonValue::MakeArray());
    view.Set("element_count", 0);
    view.Set("elements", elements ? JsonValue::MakeArray() : JsonValue());
  } else {
    view.Set("snapshot", PublicationJson(*chosen));
    TreeWalk walk(image, elements);
    walk.Run(*chosen, view);
    problems.insert(problems.end(), walk.problems().begin(), walk.problems().end());
  }
  view.Set("problems", Strings(problems));
  return view;
}

}  // namespace llama::pagedump
