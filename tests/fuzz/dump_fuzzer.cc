// libFuzzer target over the dump tool's parsers (tools/inspect*.cc over
// format/): any bytes, as a file given to `cairn dump`, whatever its magic
// makes of it (segment, index file, SUBSCRIPTIONS, snapshot file), in every
// output mode, must print and count problems or refuse cleanly: never a
// crash, a hang or an out-of-bounds read (run under ASan and UBSan).
#include "tools/inspect.h"

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  using cairn::tools::DumpOptions;
  const DumpOptions modes[] = {
      DumpOptions{},
      DumpOptions{.data = true, .json = true},
      DumpOptions{.data = true, .stream = "Order-42", .type = "OrderPlaced", .from = 1, .to = 5},
  };
  for (const DumpOptions& options : modes) {
    std::ostringstream out;
    (void)cairn::tools::dump_bytes("fuzz.file", bytes, options, out);
  }
  return 0;
}
