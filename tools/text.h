// Text helpers shared by the tools: JSON strings, UTF-8 checks, base64.
#pragma once

#include <array>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

namespace cairn::tools {

// A JSON string literal. `s` should be valid UTF-8 (bytes >= 0x80 pass
// through); control characters, quotes and backslashes are escaped.
std::string json_string(std::string_view s);
bool valid_utf8(std::string_view s);
std::string base64(std::string_view s);
// A store id (or any 16 bytes) as 32 lowercase hex digits.
std::string hex_id(const std::array<uint8_t, 16>& id);
// `"name":"text"` when `bytes` is valid UTF-8, else `"name_base64":"..."`.
std::string json_bytes_field(std::string_view name, std::string_view bytes);

// One line of a dump: text "kind name=value ..." or a JSON object of the
// same fields, written as the fields are added and ended when it dies.
class Line {
 public:
  Line(std::ostream& out, bool json, std::string_view kind) : out_(out), json_(json) {
    if (json_) out_ << "{\"kind\":" << json_string(kind);
    else out_ << kind;
  }
  ~Line() { out_ << (json_ ? "}\n" : "\n"); }
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;
  Line& num(std::string_view name, uint64_t v) {
    if (json_) out_ << ",\"" << name << "\":" << v;
    else out_ << ' ' << name << '=' << v;
    return *this;
  }
  Line& text(std::string_view name, std::string_view v) {
    if (json_) out_ << ",\"" << name << "\":" << json_string(v);
    else out_ << ' ' << name << '=' << v;
    return *this;
  }

 private:
  std::ostream& out_;
  bool json_;
};

}  // namespace cairn::tools
