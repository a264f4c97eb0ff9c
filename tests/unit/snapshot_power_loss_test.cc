// Aggregate snapshots across power losses (engine/power_loss.h): saves with
// keep-K and small files (so that files roll and space is reclaimed) until
// the power fails at a random operation, then whatever a power loss may
// leave (unsynced sectors reverted, kept at random, or torn), then a reopen.
// Every acknowledged save must be there byte for byte, unless a later
// acknowledged save of its stream dropped it (keep-K); the one save in
// flight may or may not be; nothing else may appear, and the log must open
// cleanly (a torn tail is cut, never reported as corruption).
#include "engine/power_loss.h"
#include "engine/store_open.h"

#include <cairn/snapshot.h>
#include <cairn/store.h>

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "test_util.h"

namespace cairn {
namespace {

using engine::PowerLossFileSystem;

constexpr int kCycles = 60;
constexpr int kStreams = 3;
constexpr int kMaxSaves = 150;
const std::string kSchema = "v1";

std::string StreamName(int s) { return "agg-" + std::to_string(s); }

std::string RandomData(std::mt19937_64& rng) {
  std::string d(rng() % 3000, '\0');
  for (char& c : d) c = static_cast<char>(rng());
  return d;
}

struct Saved {
  uint64_t version = 0;
  uint64_t id = 0;
  std::string data;
};
// Each stream's snapshots as keep-K leaves them, oldest first.
using Model = std::map<std::string, std::vector<Saved>>;

void Apply(Model& model, const std::string& stream, Saved saved, uint32_t keep) {
  std::vector<Saved>& list = model[stream];
  list.push_back(std::move(saved));  // versions only grow, so the newest is last
  if (list.size() > keep) list.erase(list.begin(), list.end() - keep);
}

// Whether the store's snapshots of `stream` are exactly `expected`, bytes too.
::testing::AssertionResult Holds(Store& store, const std::string& stream, const std::vector<Saved>& expected) {
  auto list = store.snapshots().list(stream);
  if (!list.ok()) return ::testing::AssertionFailure() << list.status().to_string();
  if (list->size() != expected.size()) {
    return ::testing::AssertionFailure() << list->size() << " snapshots, expected " << expected.size();
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    if ((*list)[i].version != expected[i].version || (*list)[i].id != expected[i].id) {
      return ::testing::AssertionFailure() << "snapshot " << i << " is version " << (*list)[i].version << " id "
                                           << (*list)[i].id << ", expected " << expected[i].version << " id "
                                           << expected[i].id;
    }
    auto loaded = store.snapshots().load(stream, expected[i].version);
    if (!loaded.ok()) return ::testing::AssertionFailure() << loaded.status().to_string();
    if (!*loaded || (*loaded)->data != expected[i].data) {
      return ::testing::AssertionFailure() << "version " << expected[i].version << ": other bytes";
    }
  }
  return ::testing::AssertionSuccess();
}

class SnapshotPowerLossTest : public ::testing::TestWithParam<int> {};

TEST_P(SnapshotPowerLossTest, AcknowledgedSavesSurvive) {
  const uint64_t seed = static_cast<uint64_t>(GetParam());
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ull + 1);
  test::TempDir dir;
  Options options;
  options.info_log = [](std::string_view) {};
  options.snapshot_file_bytes = 4096;
  options.snapshots_to_keep = 1 + static_cast<uint32_t>(seed % 3);
  {
    auto store = test::open_ok(dir.path(), options);
    ASSERT_TRUE(store);
    for (int s = 0; s < kStreams; ++s) {
      ASSERT_TRUE(store->append(StreamName(s), ExpectedVersion::any(), test::views(test::make_events(kMaxSaves + 2)))
                      .ok());
    }
  }
  PowerLossFileSystem power(engine::posix_file_system());
  Model model;
  std::optional<std::pair<std::string, Saved>> in_flight;
  uint64_t last_id = 0;
  {
    auto opened = engine::open_store(power, dir.path(), options);
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    std::unique_ptr<Store> store = std::move(*opened);
    power.cut_power_after(1 + rng() % 300);
    std::vector<uint64_t> versions(kStreams, 0);
    for (int i = 0; i < kMaxSaves; ++i) {
      int s = static_cast<int>(rng() % kStreams);
      Saved saved{++versions[s], last_id + 1, RandomData(rng)};
      auto r = store->snapshots().save(StreamName(s), saved.version, kSchema, saved.data);
      if (!r.ok()) {
        ASSERT_TRUE(power.power_is_off()) << r.status().to_string();
        in_flight.emplace(StreamName(s), std::move(saved));
        break;
      }
      ASSERT_EQ(r->id, saved.id);
      last_id = r->id;
      Apply(model, StreamName(s), std::move(saved), options.snapshots_to_keep);
    }
    power.cut_power_now();
    (void)store->close();  // fails: the power is gone
  }
  ASSERT_TRUE(in_flight) << "the power never failed during the saves";
  RecordProperty("acknowledged_saves", static_cast<int>(last_id));
  auto loss = static_cast<PowerLossFileSystem::Loss>(rng() % 3);
  ASSERT_TRUE(power.restore_after_power_loss(loss, rng()).ok());

  auto store = test::open_ok(dir.path(), options);
  ASSERT_TRUE(store);
  for (int s = 0; s < kStreams; ++s) {
    const std::string stream = StreamName(s);
    if (in_flight && in_flight->first == stream) {
      Model with = model;
      Apply(with, stream, in_flight->second, options.snapshots_to_keep);
      EXPECT_TRUE(Holds(*store, stream, model[stream]) || Holds(*store, stream, with[stream]))
          << stream << ": " << Holds(*store, stream, model[stream]).message() << "; with the save in flight: "
          << Holds(*store, stream, with[stream]).message();
    } else {
      EXPECT_TRUE(Holds(*store, stream, model[stream])) << stream;
    }
  }
  // The log goes on after the loss.
  auto after = store->snapshots().save(StreamName(0), kMaxSaves + 1, kSchema, "after");
  EXPECT_TRUE(after.ok()) << after.status().to_string();
}

// A save first makes the events it summarizes durable: under kNone (no
// fdatasync of its own, a huge batch interval) the events of an
// acknowledged save survive a power loss that reverts everything unsynced,
// so the snapshot never describes events the log lost (and, once the
// stream grew again, other events at the same versions).
TEST(SnapshotDurabilityTest, ASavedSnapshotsEventsSurviveAPowerLoss) {
  test::TempDir dir;
  Options o;
  o.durability = Durability::kNone;
  o.batch_sync_interval_us = 60'000'000;
  o.mapped_writes = false;
  o.info_log = [](std::string_view) {};
  {
    auto created = test::open_ok(dir.path(), o);
    ASSERT_TRUE(created);
    ASSERT_TRUE(created->append("other", ExpectedVersion::any(), test::views(test::make_events(1))).ok());
  }
  PowerLossFileSystem power(engine::posix_file_system());
  auto events = test::make_events(10, "summarized");
  {
    auto opened = engine::open_store(power, dir.path(), o);
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    std::unique_ptr<Store> store = std::move(*opened);
    ASSERT_TRUE(store->append("s", ExpectedVersion::any(), test::views(events)).ok());
    auto saved = store->snapshots().save("s", 9, kSchema, "state of summarized-0..9");
    ASSERT_TRUE(saved.ok()) << saved.status().to_string();
    power.cut_power_now();
    (void)store->close();
  }
  ASSERT_TRUE(power.restore_after_power_loss(PowerLossFileSystem::Loss::kRevert, 1).ok());
  auto store = test::open_ok(dir.path(), o);
  ASSERT_TRUE(store);
  ASSERT_EQ(store->stream_version("s"), std::optional<uint64_t>(9)) << "the summarized events were lost";
  auto read = store->read_stream("s", 0, SIZE_MAX);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) test::expect_event((*read)[i], events[i], "s", i, 1 + i);
  auto loaded = store->snapshots().load("s", kEnd, kSchema);
  ASSERT_TRUE(loaded.ok() && *loaded) << loaded.status().to_string();
  EXPECT_EQ((*loaded)->info.version, 9u);
  EXPECT_EQ((*loaded)->data, "state of summarized-0..9");
}

INSTANTIATE_TEST_SUITE_P(Seeds, SnapshotPowerLossTest, ::testing::Range(1, kCycles + 1));

}  // namespace
}  // namespace cairn
