// libFuzzer target over the segment decoder: any bytes, as a whole segment
// file, must give a result or a clean error, never a crash, a hang or an
// out-of-bounds read (run under ASan and UBSan).
#include "format/batch.h"
#include "format/footer.h"
#include "format/frame.h"
#include "format/segment_header.h"
#include "format/segment_scan.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  using namespace cairn::format;
  for (bool is_last : {false, true}) {
    for (bool stop : {false, true}) {
      uint64_t events = 0;
      auto scan = scan_segment(bytes, "fuzz.seg", ScanOptions{is_last, stop}, [&](const ScannedBatch& b) {
        b.batch.for_each([&](uint32_t, const EventView& e) {
          events += e.data.size() + e.metadata.size() + e.type.size();
          return true;
        });
        return cairn::Status();
      });
      if (scan.ok() && scan->data_end > size) __builtin_trap();
    }
  }
  // The frame and body decoders alone, from the start of the input.
  Frame f = parse_frame(bytes);
  if (f.status == FrameStatus::kOk) {
    (void)BatchView::decode(f.body, "fuzz");
    (void)decode_footer(f.body, "fuzz");
  }
  (void)BatchView::decode(bytes, "fuzz");
  (void)decode_store_file(bytes, "fuzz");
  return 0;
}
