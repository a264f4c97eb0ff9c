// DirectPages: each direct write covers whole pages, starts at the page
// holding the segment's end, carries the bytes before the end in that page,
// then the frames, then zeros; laid one after another over a model file, the
// writes leave exactly the segment's bytes.
#include "engine/direct_pages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace cairn::engine {
namespace {

constexpr uint64_t kPage = DirectPages::kPage;

std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() % 255 + 1);  // never zero: zeros are the padding
  return s;
}

void land(std::string& file, const DirectPages::Write& w) {
  if (file.size() < w.end()) file.resize(w.end(), '\0');
  file.replace(w.offset(), w.bytes().size(), w.bytes());
}

TEST(DirectPagesTest, AWriteIsWholeAlignedPagesHoldingTheHeadTheFramesAndZeros) {
  std::string head(100, 'h');
  DirectPages pages;
  pages.restart(3 * kPage + 100, head);
  std::vector<std::string_view> frames = {"abc", "defgh"};
  auto w = pages.next(frames, 8);
  EXPECT_EQ(w.offset(), 3 * kPage);
  ASSERT_EQ(w.bytes().size(), kPage);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.bytes().data()) % kPage, 0u);
  std::string expected = head + "abcdefgh" + std::string(kPage - 108, '\0');
  EXPECT_EQ(w.bytes(), expected);
  EXPECT_EQ(pages.end(), 3 * kPage + 108);
}

TEST(DirectPagesTest, AWriteEndingOnAPageBoundaryLeavesNoHead) {
  DirectPages pages;
  pages.restart(kPage - 10, std::string(kPage - 10, 'x'));
  std::string frame(10 + kPage, 'f');
  std::vector<std::string_view> frames = {frame};
  auto w = pages.next(frames, frame.size());
  EXPECT_EQ(w.offset(), 0u);
  EXPECT_EQ(w.bytes().size(), 2 * kPage);
  auto next = pages.next(std::vector<std::string_view>{"z"}, 1);
  EXPECT_EQ(next.offset(), 2 * kPage);
  EXPECT_EQ(next.bytes().substr(0, 2), std::string("z\0", 2));
}

TEST(DirectPagesTest, NoBytesIsNoWrite) {
  DirectPages pages;
  pages.restart(10, std::string(10, 'a'));
  auto w = pages.next(std::span<const std::string_view>(), 0);
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(pages.end(), 10u);
}

// Random frame sizes, from a random start, some groups written direct and
// some skipped (written through the page cache): the writes, applied in
// order, rebuild the log byte for byte, and every direct write stays on
// page boundaries.
TEST(DirectPagesTest, WritesInOrderRebuildTheSegmentByteForByte) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 20; ++round) {
    uint64_t start = rng() % (3 * kPage);
    std::string log = random_bytes(rng, start);
    std::string file = log;
    DirectPages pages;
    pages.restart(start, std::string_view(log).substr(DirectPages::page_start(start)));
    for (int group = 0; group < 50; ++group) {
      std::vector<std::string> owned;
      size_t n = 1 + rng() % 4;
      uint64_t bytes = 0;
      for (size_t i = 0; i < n; ++i) {
        owned.push_back(random_bytes(rng, 1 + rng() % (rng() % 8 == 0 ? 3 * kPage : 700)));
        bytes += owned.back().size();
      }
      std::vector<std::string_view> frames(owned.begin(), owned.end());
      if (rng() % 3 == 0) {  // written through the page cache: the bytes land as they are
        pages.skip(frames, bytes);
        for (const auto& f : owned) log += f;
        file.replace(0, log.size(), log);
      } else {
        auto w = pages.next(frames, bytes);
        ASSERT_EQ(w.offset() % kPage, 0u);
        ASSERT_EQ(w.bytes().size() % kPage, 0u);
        ASSERT_LE(w.offset(), log.size());
        for (const auto& f : owned) log += f;
        land(file, w);
      }
      ASSERT_EQ(pages.end(), log.size());
      ASSERT_EQ(file.substr(0, log.size()), log) << "round " << round << " group " << group;
      ASSERT_EQ(file.find_first_not_of('\0', log.size()), std::string::npos) << "zeros past the end";
    }
  }
}

}  // namespace
}  // namespace cairn::engine
