#include "format/footer.h"

#include "format/coding.h"
#include "format/frame.h"

namespace cairn::format {

void encode_footer(std::string& out, const Footer& f) {
  size_t frame = begin_frame(out, FrameType::kFooter);
  append_u64(out, f.first_position);
  append_u64(out, f.event_count);
  append_u64(out, f.batch_count);
  append_u64(out, f.data_end);
  append_u64(out, f.content_hash);
  finish_frame(out, frame);
}

Result<Footer> decode_footer(std::string_view body, const std::string& where) {
  if (body.size() != kFooterBodySize) {
    return Status::corruption(where + ": footer body is " + std::to_string(body.size()) +
                              " bytes, expected " + std::to_string(kFooterBodySize));
  }
  Footer f;
  f.first_position = get_u64(body.data());
  f.event_count = get_u64(body.data() + 8);
  f.batch_count = get_u64(body.data() + 16);
  f.data_end = get_u64(body.data() + 24);
  f.content_hash = get_u64(body.data() + 32);
  return f;
}

}  // namespace cairn::format
