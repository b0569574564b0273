#include "tools/pagedump/text_renderer.h"

#include <algorithm>

namespace llama::pagedump {

namespace {

bool IsScalar(const JsonValue& v) { return !v.is_array() && !v.is_object(); }

bool IsFlatObject(const JsonValue& v) {
  if (!v.is_object()) return false;
  for (const auto& [key, value] : v.as_object()) {
    if (!IsScalar(value)) return false;
  }
  return true;
}

bool IsScalarArray(const JsonValue& v) {
  return v.is_array() && std::all_of(v.as_array().begin(), v.as_array().end(), IsScalar);
}

void Indent(std::string& out, int n) { out.append(static_cast<std::size_t>(n), ' '); }

void RenderTable(std::string& out, const JsonValue::Array& rows, int indent) {
  std::vector<std::string> columns;
  for (const JsonValue& row : rows) {
    for (const auto& [key, value] : row.as_object()) {
      if (std::find(columns.begin(), columns.end(), key) == columns.end()) columns.push_back(key);
    }
  }
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> width(columns.size());
  for (std::size_t c = 0; c < columns.size(); ++c) width[c] = columns[c].size();
  for (const JsonValue& row : rows) {
    std::vector<std::string> line;
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const JsonValue* v = row.Find(columns[c]);
      line.push_back(v ? v->ScalarText() : "-");
      width[c] = std::max(width[c], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  auto emit = [&](const std::vector<std::string>& line) {
    Indent(out, indent);
    std::string text;
    for (std::size_t c = 0; c < line.size(); ++c) {
      text += line[c];
      if (c + 1 < line.size()) text.append(width[c] - line[c].size() + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  emit(columns);
  for (const auto& line : cells) emit(line);
}

void RenderObject(std::string& out, const JsonValue& object, int indent, bool skip_first_indent);

void RenderMember(std::string& out, const std::string& key, const JsonValue& value, int indent) {
  Indent(out, indent);
  out += key + ":";
  if (IsScalar(value)) {
    out += " " + value.ScalarText() + "\n";
    return;
  }
  if (value.is_object()) {
    out += value.as_object().empty() ? " -\n" : "\n";
    RenderObject(out, value, indent + 2, false);
    return;
  }
  const JsonValue::Array& items = value.as_array();
  if (items.empty()) {
    out += " none\n";
  } else if (std::all_of(items.begin(), items.end(), IsScalar)) {
    std::string line;
    for (const JsonValue& item : items) line += (line.empty() ? "" : ", ") + item.ScalarText();
    out += " " + line + "\n";
  } else if (std::all_of(items.begin(), items.end(), IsScalarArray)) {
    std::string line;
    for (const JsonValue& item : items) line += (line.empty() ? "" : ", ") + item.Write(0);
    out += " " + line + "\n";
  } else if (std::all_of(items.begin(), items.end(), IsFlatObject)) {
    out += "\n";
    RenderTable(out, items, indent + 2);
  } else {
    out += "\n";
    for (const JsonValue& item : items) {
      Indent(out, indent + 2);
      out += "- ";
      if (item.is_object() && !item.as_object().empty()) {
        RenderObject(out, item, indent + 4, true);
      } else {
        out += item.is_array() ? item.Write(0) + "\n" : item.ScalarText() + "\n";
      }
    }
  }
}

void RenderObject(std::string& out, const JsonValue& object, int indent, bool skip_first_indent) {
  bool first = true;
  for (const auto& [key, value] : object.as_object()) {
    if (first && skip_first_indent) {
      std::string line;
      RenderMember(line, key, value, indent);
      out += line.substr(static_cast<std::size_t>(indent));
    } else {
      RenderMember(out, key, value, indent);
    }
    first = false;
  }
}

}  // namespace

std::string RenderText(const JsonValue& document) {
  std::string out;
  if (!document.is_object()) return document.Write(2);
  JsonValue shown = JsonValue::MakeObject();
  for (const auto& [key, value] : document.as_object()) {
    if (key != "view") shown.Set(key, value);
  }
  RenderObject(out, shown, 0, false);
  return out;
}

}  // namespace llama::pagedump
