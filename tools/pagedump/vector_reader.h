// Reading the layers above the page store offline: the store's catalog (page 0: names to
// root pages, lss/store/catalog.h) and a vector's meta page (its configuration and its newest
// publications, rebuild/vector_format.h), from the durable state recovery would restore.
// Damage is reported in `problems`; errors are only "not there" (NotFound).
//
// Ownership: plain values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lss/recovery/store_image.h"
#include "lss/store/catalog.h"
#include "rebuild/vector_format.h"

namespace llama::pagedump {

// The vector NAME is registered in the catalog as "vector:NAME".
inline constexpr std::string_view kVectorRootPrefix = "vector:";

struct OfflineCatalog {
  std::vector<NamedRoot> roots;  // empty when page 0 has no durable state
  std::vector<std::string> problems;
};
OfflineCatalog ReadCatalogOffline(StoreImage& image);

struct OfflineVector {
  std::string name;
  PageId meta = 0;
  std::optional<VectorConfig> config;
  std::vector<VectorPublication> publications;  // newest first, as the meta page holds them
  std::vector<std::string> problems;
};
// NotFound when the catalog has no vector of that name.
Result<OfflineVector> ReadVectorOffline(StoreImage& image, const OfflineCatalog& catalog, std::string_view name);

}  // namespace llama::pagedump
