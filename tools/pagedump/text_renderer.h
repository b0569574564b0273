// RenderText: a view document (json_value.h) as text for a person: one "key: value" line
// per scalar, nested objects indented, lists of flat objects as aligned tables (one row
// per record or segment), other lists as "-" items. The same document is what --json
// writes, so the text and the JSON never disagree.
#pragma once

#include <string>

#include "tools/pagedump/json_value.h"

namespace llama::pagedump {

std::string RenderText(const JsonValue& document);

}  // namespace llama::pagedump
