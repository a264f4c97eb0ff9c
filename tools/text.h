// Text helpers shared by the tools: JSON strings, UTF-8 checks, base64.
#pragma once

#include <string>
#include <string_view>

namespace cairn::tools {

// A JSON string literal. `s` should be valid UTF-8 (bytes >= 0x80 pass
// through); control characters, quotes and backslashes are escaped.
std::string json_string(std::string_view s);
bool valid_utf8(std::string_view s);
std::string base64(std::string_view s);
// `"name":"text"` when `bytes` is valid UTF-8, else `"name_base64":"..."`.
std::string json_bytes_field(std::string_view name, std::string_view bytes);

}  // namespace cairn::tools
