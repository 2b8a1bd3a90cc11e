#include "weights/strict_json.h"

#include <utility>
#include <vector>

namespace sdxl::weights {
namespace {

using nlohmann::json;

// Builds a nlohmann::json DOM from SAX events, rejecting duplicate keys in any object and nesting
// deeper than max_depth. The parser itself is iterative, so hostile input cannot recurse.
class StrictJsonBuilder : public nlohmann::json_sax<json> {
 public:
  explicit StrictJsonBuilder(int max_depth) : max_depth_(static_cast<size_t>(max_depth)) {}

  bool null() override { return Put(json(nullptr)); }
  bool boolean(bool v) override { return Put(json(v)); }
  bool number_integer(number_integer_t v) override { return Put(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return Put(json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return Put(json(v)); }
  bool string(string_t& v) override { return Put(json(std::move(v))); }
  bool binary(binary_t&) override { return Fail("binary values are not JSON"); }
  bool start_object(std::size_t) override { return Open(json::object()); }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(json::array()); }
  bool end_array() override { return Close(); }
  bool key(string_t& k) override {
    if (stack_.back()->contains(k)) return Fail("duplicate key \"" + PrintableForError(k) + "\"");
    pending_key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    return Fail(JsonParseErrorMessage(position, ex));
  }

  json& root() { return root_; }
  const std::string& error() const { return error_; }

 private:
  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }
  json* Insert(json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json* top = stack_.back();
    if (top->is_object()) {
      auto it = top->emplace(std::move(pending_key_), std::move(v)).first;
      return &it.value();
    }
    top->push_back(std::move(v));
    return &top->back();
  }
  bool Put(json&& v) {
    Insert(std::move(v));
    return true;
  }
  bool Open(json&& container) {
    if (stack_.size() >= max_depth_) {
      return Fail("JSON nests deeper than " + std::to_string(max_depth_) + " levels");
    }
    stack_.push_back(Insert(std::move(container)));
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }

  size_t max_depth_;
  json root_;
  std::vector<json*> stack_;
  std::string pending_key_;
  std::string error_;
};

}  // namespace

std::string JsonParseErrorMessage(std::size_t position, const nlohmann::detail::exception& ex) {
  // ex.what() reads "[json.exception.parse_error.101] parse error at line 1, column 3: ...".
  std::string what = ex.what();
  auto pos = what.find("] ");
  if (pos != std::string::npos) what = what.substr(pos + 2);
  for (char& c : what) {
    if (c < 0x20 || c >= 0x7f) c = '?';
  }
  if (what.size() > 200) what = what.substr(0, 200) + "...";
  return "invalid JSON at byte " + std::to_string(position) + ": " + what;
}

std::string PrintableForError(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 64) out += "...";
  return out;
}

core::Result<json> ParseStrictJson(std::string_view text, int max_depth) {
  // nlohmann's lexer treats a NUL byte as the end of input; JSON never contains a raw NUL.
  if (auto nul = text.find('\0'); nul != std::string_view::npos) {
    return core::DataLoss("invalid JSON at byte " + std::to_string(nul) + ": NUL byte");
  }
  StrictJsonBuilder builder(max_depth);
  bool parsed = false;
  try {
    parsed = json::sax_parse(text.begin(), text.end(), &builder,
                             nlohmann::detail::input_format_t::json, /*strict=*/true,
                             /*ignore_comments=*/false);
  } catch (const std::exception& e) {
    return core::DataLoss(std::string("JSON parser failed: ") + e.what());
  }
  if (!parsed) return core::DataLoss(builder.error().empty() ? "invalid JSON" : builder.error());
  return std::move(builder.root());
}

}  // namespace sdxl::weights
