#include "tools/pagedump/vector_reader.h"

#include "tools/pagedump/page_reader.h"

namespace llama::pagedump {

OfflineCatalog ReadCatalogOffline(StoreImage& image) {
  OfflineCatalog catalog;
  auto page = ReadPageOffline(image, kCatalogPage);
  if (!page) return catalog;  // never written: an empty catalog
  catalog.problems = page->problems;
  const BasePageHandle base = page->Base();
  if (base == nullptr) {
    if (page->problems.empty()) catalog.problems.push_back("the catalog page (page 0) has no base page");
    return catalog;
  }
  auto roots = DecodeCatalog(base->contents());
  if (!roots) {
    catalog.problems.push_back("catalog page: " + roots.error().message());
    return catalog;
  }
  catalog.roots = std::move(*roots);
  return catalog;
}

Result<OfflineVector> ReadVectorOffline(StoreImage& image, const OfflineCatalog& catalog, std::string_view name) {
  const std::string root_name = std::string(kVectorRootPrefix) + std::string(name);
  OfflineVector vector;
  vector.name = std::string(name);
  bool found = false;
  std::string known;
  for (const NamedRoot& root : catalog.roots) {
    if (root.name == root_name) {
      vector.meta = root.pid;
      found = true;
    }
    if (root.name.starts_with(kVectorRootPrefix)) {
      known += (known.empty() ? "" : ", ") + root.name.substr(kVectorRootPrefix.size());
    }
  }
  if (!found) {
    return MakeError(ErrorCode::kNotFound, "no vector named \"" + std::string(name) + "\" in " + image.dir() +
                                               " (vectors: " + (known.empty() ? "none" : known) + ")");
  }
  auto page = ReadPageOffline(image, vector.meta);
  if (!page) {
    vector.problems.push_back("its meta page " + std::to_string(vector.meta) + " has no durable state");
    return vector;
  }
  vector.problems = page->problems;
  for (const DeltaHandle& delta : page->Deltas()) {
    if (!delta->is_update() || VectorPayloadTag(delta->payload()) != vector_format::kPublicationTag) continue;
    auto publication = DecodePublication(delta->payload());
    if (!publication) {
      vector.problems.push_back("meta page: " + publication.error().message());
      continue;
    }
    vector.publications.push_back(std::move(*publication));
  }
  if (const BasePageHandle base = page->Base()) {
    auto config = DecodeMeta(base->contents());
    if (config) {
      vector.config = std::move(*config);
    } else {
      vector.problems.push_back("meta page: " + config.error().message());
    }
  } else if (page->problems.empty()) {
    vector.problems.push_back("its meta page " + std::to_string(vector.meta) + " has no base page");
  }
  return vector;
}

}  // namespace llama::pagedump
