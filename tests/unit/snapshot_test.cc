// Aggregate snapshots (cairn/snapshot.h, engine/snapshot_store.cc): save and
// load byte for byte, the choice of snapshot, keep-K and prune, hydrate,
// typed errors, reopening, a torn tail cut off, corruption named by file and
// offset, failed writes and syncs (fail-stop, earlier snapshots intact),
// space reclaimed file by file, and a 64 MiB snapshot.
#include "engine/fault_injection.h"
#include "engine/store_open.h"
#include "format/snapshot_record.h"

#include <cairn/snapshot.h>
#include <cairn/store.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <thread>

#include "test_util.h"

namespace cairn {
namespace {

using test::TempDir;

// Every byte value, then a tag: snapshot data is opaque bytes.
std::string Data(const std::string& tag, size_t extra = 0) {
  std::string d;
  for (int i = 0; i < 256; ++i) d.push_back(static_cast<char>(i));
  return d + tag + std::string(extra, '\0');
}

// Collects info-log lines.
struct InfoLines {
  std::shared_ptr<std::vector<std::string>> lines = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::mutex> mu = std::make_shared<std::mutex>();
  void attach(Options& o) const {
    o.info_log = [lines = lines, mu = mu](std::string_view m) {
      std::lock_guard lock(*mu);
      lines->emplace_back(m);
    };
  }
  bool any_with(std::string_view a, std::string_view b = "") const {
    std::lock_guard lock(*mu);
    for (const std::string& l : *lines) {
      if (l.find(a) != std::string::npos && l.find(b) != std::string::npos) return true;
    }
    return false;
  }
};

class SnapshotTest : public ::testing::Test {
 protected:
  SnapshotTest() { options_.info_log = [](std::string_view) {}; }

  Store& Open() { return Open(options_); }
  Store& Open(const Options& o) {
    store_.reset();
    store_ = test::open_ok(dir_.path(), o);
    if (!store_) throw std::runtime_error("open failed");
    return *store_;
  }
  // Appends n events to `stream`.
  void Append(const std::string& stream, size_t n) {
    auto specs = test::make_events(n, stream);
    auto r = store_->append(stream, ExpectedVersion::any(), test::views(specs));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
  }
  SnapshotInfo Save(const std::string& stream, uint64_t version, const std::string& schema, const std::string& data) {
    auto r = store_->snapshots().save(stream, version, schema, data);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : SnapshotInfo{};
  }
  std::vector<uint64_t> Versions(const std::string& stream) {
    auto l = store_->snapshots().list(stream);
    EXPECT_TRUE(l.ok()) << l.status().to_string();
    std::vector<uint64_t> out;
    if (l.ok()) {
      for (const SnapshotInfo& i : *l) out.push_back(i.version);
    }
    return out;
  }
  std::string SnapDir() const { return dir_.sub("snapshots"); }
  std::vector<std::string> SnapFiles() const {
    std::vector<std::string> out;
    if (!std::filesystem::exists(SnapDir())) return out;
    for (const auto& e : std::filesystem::directory_iterator(SnapDir())) out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  TempDir dir_;
  Options options_;
  std::unique_ptr<Store> store_;
};

TEST_F(SnapshotTest, SavesAndLoadsByteForByte) {
  Open();
  Append("Order-1", 20);
  std::string data = Data("state-at-9");
  SnapshotInfo saved = Save("Order-1", 9, "OrderState/v1", data);
  EXPECT_EQ(saved.stream, "Order-1");
  EXPECT_EQ(saved.version, 9u);
  EXPECT_EQ(saved.schema, "OrderState/v1");
  EXPECT_EQ(saved.size, data.size());
  EXPECT_GT(saved.id, 0u);
  EXPECT_GT(saved.created_ns, 0);

  auto loaded = store_->snapshots().load("Order-1");
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->data, data);
  EXPECT_EQ((*loaded)->info, saved);
  EXPECT_EQ(Versions("Order-1"), std::vector<uint64_t>{9});
  // Below its version there is none.
  auto below = store_->snapshots().load("Order-1", 8);
  ASSERT_TRUE(below.ok());
  EXPECT_FALSE(below->has_value());
  // Stored apart from the events: the stream still holds its 20 events.
  EXPECT_EQ(store_->stream_version("Order-1"), 19u);
  EXPECT_EQ(SnapFiles(), std::vector<std::string>{SnapDir() + "/00000001.snap"});
}

TEST_F(SnapshotTest, LoadsTheNewestAtOrBelowAVersionOfASchema) {
  options_.snapshots_to_keep = 0;
  Open();
  Append("s", 30);
  Save("s", 5, "v1", "five");
  Save("s", 15, "v1", "fifteen");
  Save("s", 10, "v2", "ten");  // saved later, ordered by version
  Save("s", 15, "v1", "fifteen again");  // same version: the later save is newer
  auto load = [&](uint64_t max, std::string_view schema) -> std::string {
    auto r = store_->snapshots().load("s", max, schema);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() && r->has_value() ? (*r)->data : "<none>";
  };
  EXPECT_EQ(load(kEnd, ""), "fifteen again");
  EXPECT_EQ(load(14, ""), "ten");
  EXPECT_EQ(load(kEnd, "v2"), "ten");
  EXPECT_EQ(load(9, "v2"), "<none>");
  EXPECT_EQ(load(9, "v1"), "five");
  EXPECT_EQ(load(4, ""), "<none>");
  EXPECT_EQ(load(kEnd, "v3"), "<none>");
  EXPECT_EQ(Versions("s"), (std::vector<uint64_t>{5, 10, 15, 15}));
}

TEST_F(SnapshotTest, BadInputGetsTypedErrors) {
  options_.max_snapshot_bytes = 1000;
  Open();
  Append("s", 3);
  Snapshots& snaps = store_->snapshots();
  auto code = [](const auto& r) { return r.status().code(); };
  EXPECT_EQ(code(snaps.save("", 0, "v1", "x")), Code::kInvalidArgument);
  EXPECT_EQ(code(snaps.save(std::string(kMaxStreamNameBytes + 1, 's'), 0, "v1", "x")), Code::kInvalidArgument);
  EXPECT_EQ(code(snaps.save("s", 0, "", "x")), Code::kInvalidArgument);
  EXPECT_EQ(code(snaps.save("s", 0, std::string(kMaxSchemaBytes + 1, 'v'), "x")), Code::kInvalidArgument);
  EXPECT_EQ(code(snaps.save("s", 0, "v1", std::string(1001, 'x'))), Code::kInvalidArgument);
  EXPECT_TRUE(snaps.save("s", 0, "v1", std::string(1000, 'x')).ok());
  EXPECT_EQ(code(snaps.save("missing", 0, "v1", "x")), Code::kNotFound);
  auto beyond = snaps.save("s", 3, "v1", "x");
  EXPECT_EQ(code(beyond), Code::kInvalidArgument);
  EXPECT_NE(beyond.status().message().find("last version is 2"), std::string::npos) << beyond.status().message();
  EXPECT_EQ(code(snaps.load("")), Code::kInvalidArgument);
  EXPECT_EQ(code(snaps.load("missing")), Code::kNotFound);
  EXPECT_EQ(code(snaps.hydrate("missing")), Code::kNotFound);
  EXPECT_EQ(code(snaps.list("")), Code::kInvalidArgument);
  EXPECT_EQ(code(snaps.prune("", 1)), Code::kInvalidArgument);
  auto none = snaps.list("never-snapshotted");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(Versions("s"), std::vector<uint64_t>{0});  // nothing refused was written
}

TEST_F(SnapshotTest, ClosedStoreIsClosed) {
  Open();
  Append("s", 3);
  Save("s", 1, "v1", "x");
  ASSERT_TRUE(store_->close().ok());
  EXPECT_EQ(store_->snapshots().save("s", 1, "v1", "x").status().code(), Code::kClosed);
  EXPECT_EQ(store_->snapshots().load("s").status().code(), Code::kClosed);
  EXPECT_EQ(store_->snapshots().list("s").status().code(), Code::kClosed);
  EXPECT_EQ(store_->snapshots().prune("s", 0).status().code(), Code::kClosed);
  EXPECT_EQ(store_->snapshots().hydrate("s").status().code(), Code::kClosed);
}

TEST_F(SnapshotTest, ReadOnlyStoresLoadButDoNotSave) {
  Open();
  Append("s", 3);
  Save("s", 2, "v1", Data("ro"));
  store_.reset();
  Options ro = options_;
  ro.read_only = true;
  Open(ro);
  auto loaded = store_->snapshots().load("s");
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->data, Data("ro"));
  EXPECT_EQ(store_->snapshots().save("s", 2, "v1", "x").status().code(), Code::kReadOnly);
  EXPECT_EQ(store_->snapshots().prune("s", 0).status().code(), Code::kReadOnly);
  EXPECT_EQ(Versions("s"), std::vector<uint64_t>{2});
}

TEST_F(SnapshotTest, ReadOnlyStoreWithoutSnapshotsCreatesNothing) {
  Open();
  Append("s", 3);
  store_.reset();
  Options ro = options_;
  ro.read_only = true;
  Open(ro);
  EXPECT_FALSE(store_->snapshots().load("s")->has_value());
  EXPECT_FALSE(std::filesystem::exists(SnapDir()));
}

TEST_F(SnapshotTest, SurviveReopening) {
  options_.snapshots_to_keep = 0;
  Open();
  Append("a", 10);
  Append("b", 10);
  std::vector<SnapshotInfo> saved;
  for (uint64_t v = 0; v < 10; v += 3) {
    saved.push_back(Save("a", v, "v1", Data("a" + std::to_string(v), v * 100)));
    saved.push_back(Save("b", v, "v2", Data("b" + std::to_string(v))));
  }
  auto before_a = store_->snapshots().list("a");
  Open();
  auto after_a = store_->snapshots().list("a");
  ASSERT_TRUE(after_a.ok());
  EXPECT_EQ(*after_a, *before_a);
  for (const SnapshotInfo& info : saved) {
    auto l = store_->snapshots().load(info.stream, info.version, info.schema);
    ASSERT_TRUE(l.ok() && l->has_value());
    EXPECT_EQ((*l)->info, info);
    std::string tag = info.stream + std::to_string(info.version);
    EXPECT_EQ((*l)->data, info.stream == "a" ? Data(tag, info.version * 100) : Data(tag));
  }
  // Ids continue after a reopen.
  EXPECT_GT(Save("a", 9, "v1", "later").id, saved.back().id);
}

TEST_F(SnapshotTest, EachSaveKeepsTheNewestK) {
  options_.snapshots_to_keep = 2;
  Open();
  Append("s", 10);
  for (uint64_t v = 1; v <= 5; ++v) Save("s", v, "v1", "state " + std::to_string(v));
  EXPECT_EQ(Versions("s"), (std::vector<uint64_t>{4, 5}));
  Save("s", 2, "v1", "an old version, saved late");  // older than the two kept: dropped at once
  EXPECT_EQ(Versions("s"), (std::vector<uint64_t>{4, 5}));
  Open();
  EXPECT_EQ(Versions("s"), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ((*store_->snapshots().load("s"))->data, "state 5");
}

TEST_F(SnapshotTest, PruneDropsDurably) {
  options_.snapshots_to_keep = 0;
  Open();
  Append("s", 10);
  Append("other", 1);
  for (uint64_t v = 1; v <= 5; ++v) Save("s", v, "v1", "state " + std::to_string(v));
  Save("other", 0, "v1", "other");
  auto dropped = store_->snapshots().prune("s", 2);
  ASSERT_TRUE(dropped.ok()) << dropped.status().to_string();
  EXPECT_EQ(*dropped, 3u);
  EXPECT_EQ(*store_->snapshots().prune("s", 2), 0u);
  EXPECT_EQ(Versions("s"), (std::vector<uint64_t>{4, 5}));
  Open();
  EXPECT_EQ(Versions("s"), (std::vector<uint64_t>{4, 5}));
  // A snapshot saved after a prune is not dropped by it, even an older one.
  Save("s", 1, "v1", "older, saved after the prune");
  Open();
  EXPECT_EQ(Versions("s"), (std::vector<uint64_t>{1, 4, 5}));
  EXPECT_EQ(*store_->snapshots().prune("s", 0), 3u);
  EXPECT_TRUE(Versions("s").empty());
  Open();
  EXPECT_TRUE(Versions("s").empty());
  EXPECT_EQ(Versions("other"), std::vector<uint64_t>{0});
}

TEST_F(SnapshotTest, HydratesFromTheSnapshotAndTheEventsAfterIt) {
  Open();
  for (int i = 0; i < 10; ++i) Append("acct-7", 10);
  Save("acct-7", 89, "Account/v1", "balance=89");
  auto h = store_->snapshots().hydrate("acct-7", "Account/v1");
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  ASSERT_TRUE(h->snapshot.has_value());
  EXPECT_EQ(h->snapshot->info.version, 89u);
  EXPECT_EQ(h->snapshot->data, "balance=89");
  auto tail = store_->read_stream("acct-7", 90, 100);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 10u);
  EXPECT_EQ(h->events, *tail);
  // No snapshot of that schema: every event.
  auto all = store_->snapshots().hydrate("acct-7", "Account/v2");
  ASSERT_TRUE(all.ok());
  EXPECT_FALSE(all->snapshot.has_value());
  EXPECT_EQ(all->events.size(), 100u);
  EXPECT_EQ(all->events.front().version, 0u);
  // A snapshot at the last version: no events after it.
  Save("acct-7", 99, "Account/v1", "balance=99");
  auto latest = store_->snapshots().hydrate("acct-7");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->snapshot->info.version, 99u);
  EXPECT_TRUE(latest->events.empty());
}

TEST_F(SnapshotTest, ATornTailIsCutOffAtOpen) {
  InfoLines info;
  info.attach(options_);
  Open();
  Append("s", 5);
  Save("s", 1, "v1", Data("kept"));
  Save("s", 2, "v1", Data("torn", 5000));
  store_.reset();
  std::string file = SnapDir() + "/00000001.snap";
  std::string bytes = test::read_bytes(file);
  auto first = format::decode_snapshot_record_header(bytes.substr(64), 64, file);
  ASSERT_TRUE(first.ok());
  uint64_t second = 64 + first->size();
  test::write_bytes(file, bytes.substr(0, bytes.size() - 1000));  // the last write, half done

  Options ro = options_;
  ro.read_only = true;
  Open(ro);  // a read-only open leaves the file alone
  EXPECT_EQ(Versions("s"), std::vector<uint64_t>{1});
  EXPECT_EQ(test::read_bytes(file).size(), bytes.size() - 1000);
  Open();
  EXPECT_TRUE(info.any_with(file, "torn tail")) << "no info line";
  EXPECT_EQ(Versions("s"), std::vector<uint64_t>{1});
  EXPECT_EQ((*store_->snapshots().load("s"))->data, Data("kept"));
  EXPECT_EQ(test::read_bytes(file).size(), second);
  // The log goes on where the cut was.
  Save("s", 3, "v1", "after");
  Open();
  EXPECT_EQ(Versions("s"), (std::vector<uint64_t>{1, 3}));
}

TEST_F(SnapshotTest, CorruptionBeforeTheTailIsNamedByFileAndOffset) {
  InfoLines info;
  info.attach(options_);
  Open();
  Append("s", 5);
  Save("s", 1, "v1", "one");
  Save("s", 2, "v1", "two");
  store_.reset();
  std::string file = SnapDir() + "/00000001.snap";
  test::flip_byte(file, 64 + 40);  // the first record's version field
  Open();                           // events are unaffected
  EXPECT_EQ(store_->stream_version("s"), 4u);
  auto list = store_->snapshots().list("s");
  ASSERT_EQ(list.status().code(), Code::kCorruption);
  EXPECT_NE(list.status().message().find(file + " at offset 64"), std::string::npos) << list.status().message();
  EXPECT_EQ(store_->snapshots().load("s").status().code(), Code::kCorruption);
  EXPECT_EQ(store_->snapshots().save("s", 1, "v1", "x").status().code(), Code::kCorruption);
  EXPECT_TRUE(info.any_with("snapshots are unavailable", file));
  // Nothing was cut.
  EXPECT_EQ(test::read_bytes(file).size(), 64u + 2 * 96);
}

TEST_F(SnapshotTest, ADamagedPayloadFailsItsLoadOnly) {
  options_.snapshots_to_keep = 0;
  Open();
  Append("a", 5);
  Append("b", 5);
  Save("a", 1, "v1", "payload of a");
  Save("b", 1, "v1", "payload of b");
  store_.reset();
  std::string file = SnapDir() + "/00000001.snap";
  test::flip_byte(file, 64 + 88 + 1 + 2 + 3);  // inside a's payload (stream "a", schema "v1")
  Open();
  auto a = store_->snapshots().load("a");
  ASSERT_EQ(a.status().code(), Code::kCorruption);
  EXPECT_NE(a.status().message().find(file + " at offset 64: snapshot payload checksum mismatch"), std::string::npos)
      << a.status().message();
  EXPECT_EQ((*store_->snapshots().load("b"))->data, "payload of b");
}

TEST_F(SnapshotTest, AMissingFileInTheMiddleIsCorruption) {
  options_.snapshot_file_bytes = 4096;
  options_.snapshots_to_keep = 0;
  Open();
  Append("s", 5);
  for (int i = 0; i < 3; ++i) Save("s", 1, "v1", std::string(3000, 'x'));
  store_.reset();
  ASSERT_EQ(SnapFiles().size(), 3u);
  std::filesystem::remove(SnapDir() + "/00000002.snap");
  Open();
  auto list = store_->snapshots().list("s");
  EXPECT_EQ(list.status().code(), Code::kCorruption);
  EXPECT_NE(list.status().message().find("00000002.snap"), std::string::npos) << list.status().message();
}

// Dropped snapshots' space comes back: the log stays within about twice its
// live bytes, and every stream's newest snapshot survives the moves.
TEST_F(SnapshotTest, ReclaimsSpaceFileByFile) {
  options_.snapshot_file_bytes = 8192;
  options_.snapshots_to_keep = 1;
  Open();
  const std::vector<std::string> streams = {"a", "b", "c"};
  for (const auto& s : streams) Append(s, 300);
  for (uint64_t v = 0; v < 300; ++v) {
    for (const auto& s : streams) {
      if ((v + s[0]) % 7 == 0 && s != "a") continue;  // streams move at different rates
      Save(s, v, "v1", Data(s + std::to_string(v), 1000));
    }
  }
  uint64_t total = 0;
  for (const auto& f : SnapFiles()) total += std::filesystem::file_size(f);
  EXPECT_LT(total, 6u * 8192) << SnapFiles().size() << " files";
  auto check = [&] {
    for (const auto& s : streams) {
      auto l = store_->snapshots().load(s);
      ASSERT_TRUE(l.ok() && l->has_value()) << s << ": " << l.status().to_string();
      uint64_t v = (*l)->info.version;
      EXPECT_EQ((*l)->data, Data(s + std::to_string(v), 1000));
      EXPECT_EQ(Versions(s).size(), 1u);
    }
  };
  check();
  Open();
  check();
}

// A crash after reclaiming copied a file's snapshots forward but before it
// deleted the file: both copies are found, and count once.
TEST_F(SnapshotTest, ACopyAndItsOriginalCountOnce) {
  options_.snapshot_file_bytes = 4096;
  options_.snapshots_to_keep = 1;
  Open();
  Append("long-lived", 1);
  Append("busy", 100);
  Save("long-lived", 0, "v1", Data("long", 1000));
  std::string first = SnapDir() + "/00000001.snap";
  std::string saved_first = test::read_bytes(first);
  for (uint64_t v = 0; v < 20 && std::filesystem::exists(first); ++v) Save("busy", v, "v1", Data("b", 2000));
  ASSERT_FALSE(std::filesystem::exists(first)) << "the oldest file was never reclaimed";
  store_.reset();
  test::write_bytes(first, saved_first);  // as if the delete had not happened
  Open();
  EXPECT_EQ(Versions("long-lived"), std::vector<uint64_t>{0});
  EXPECT_EQ((*store_->snapshots().load("long-lived"))->data, Data("long", 1000));
  Save("busy", 50, "v1", "x");  // reclaims the restored file again
  EXPECT_FALSE(std::filesystem::exists(first));
  Open();
  EXPECT_EQ(Versions("long-lived"), std::vector<uint64_t>{0});
}

TEST_F(SnapshotTest, SixtyFourMebibyteSnapshots) {
  options_.snapshots_to_keep = 2;
  Open();
  Append("big", 3);
  std::string data(64u << 20, '\0');
  for (size_t i = 0; i < data.size(); i += 4096) data[i] = static_cast<char>(i / 4096);
  data.back() = 'z';
  Save("big", 1, "Big/v1", data);
  Save("big", 2, "Big/v1", data + "more");
  Open();
  auto l = store_->snapshots().load("big", 1);
  ASSERT_TRUE(l.ok() && l->has_value()) << l.status().to_string();
  EXPECT_TRUE((*l)->data == data);
  auto h = store_->snapshots().hydrate("big");
  ASSERT_TRUE(h.ok() && h->snapshot);
  EXPECT_EQ(h->snapshot->data.size(), data.size() + 4);
  EXPECT_EQ(h->events.size(), 0u);
}

TEST_F(SnapshotTest, ManyThreadsSaveAndLoad) {
  options_.snapshot_file_bytes = 16384;
  options_.snapshots_to_keep = 2;
  Open();
  for (int t = 0; t < 4; ++t) Append("t" + std::to_string(t), 50);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string stream = "t" + std::to_string(t);
      for (uint64_t v = 0; v < 50; ++v) {
        auto saved = store_->snapshots().save(stream, v, "v1", Data(stream + std::to_string(v), 500));
        EXPECT_TRUE(saved.ok()) << saved.status().to_string();
        auto l = store_->snapshots().load(stream);
        ASSERT_TRUE(l.ok() && l->has_value()) << l.status().to_string();
        EXPECT_EQ((*l)->info.version, v);
        EXPECT_EQ((*l)->data, Data(stream + std::to_string(v), 500));
      }
    });
  }
  for (auto& t : threads) t.join();
  Open();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(Versions("t" + std::to_string(t)), (std::vector<uint64_t>{48, 49}));
}

// A store checkpoint (an online backup) carries the snapshots along.
TEST_F(SnapshotTest, AStoreCheckpointHoldsTheSnapshots) {
  options_.snapshot_file_bytes = 4096;
  Open();
  Append("s", 10);
  for (uint64_t v = 0; v < 5; ++v) Save("s", v, "v1", Data("s" + std::to_string(v), 2000));
  TempDir target;
  auto copied = store_->checkpoint(target.sub("copy"));
  ASSERT_TRUE(copied.ok()) << copied.status().to_string();
  auto copy = test::open_ok(target.sub("copy"), options_);
  ASSERT_TRUE(copy);
  auto list = copy->snapshots().list("s");
  ASSERT_TRUE(list.ok()) << list.status().to_string();
  EXPECT_EQ(*list, *store_->snapshots().list("s"));
  auto loaded = copy->snapshots().load("s");
  ASSERT_TRUE(loaded.ok() && loaded->has_value()) << loaded.status().to_string();
  EXPECT_EQ((*loaded)->data, Data("s4", 2000));
}

// Failed writes and syncs of the snapshot log, through the I/O seam.
class SnapshotFaultTest : public SnapshotTest, public ::testing::WithParamInterface<engine::FaultOp> {
 protected:
  // Opens the store over faults_, counting operations on files ending with `suffix`.
  void OpenWithFaults(const std::string& suffix) {
    faults_.only_files_ending_with(suffix);
    auto opened = engine::open_store(faults_, dir_.path(), options_);
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    store_ = std::move(*opened);
  }

  engine::FaultInjectingFileSystem faults_{engine::posix_file_system()};
};

TEST_P(SnapshotFaultTest, AFailedSaveStopsSavesAndKeepsEarlierSnapshots) {
  OpenWithFaults(".snap");
  Append("s", 5);
  Save("s", 1, "v1", Data("before"));
  faults_.fail(GetParam(), 1, EIO);
  auto failed = store_->snapshots().save("s", 2, "v1", Data("failed", 3000));
  EXPECT_EQ(failed.status().code(), Code::kIOError) << failed.status().to_string();
  EXPECT_EQ(faults_.fired(), 1u);
  // Fail-stop: no more saves; loads go on.
  EXPECT_EQ(store_->snapshots().save("s", 3, "v1", "x").status().code(), Code::kReadOnly);
  EXPECT_EQ(store_->snapshots().prune("s", 0).status().code(), Code::kReadOnly);
  EXPECT_EQ((*store_->snapshots().load("s"))->data, Data("before"));
  EXPECT_EQ(Versions("s"), std::vector<uint64_t>{1});
  // The events are not affected.
  Append("s", 1);
  store_.reset();
  Open();
  EXPECT_EQ(Versions("s"), std::vector<uint64_t>{1});
  EXPECT_EQ((*store_->snapshots().load("s"))->data, Data("before"));
  Save("s", 4, "v1", "after a reopen");
  EXPECT_EQ(Versions("s"), (std::vector<uint64_t>{1, 4}));
}

TEST_P(SnapshotFaultTest, AFailedFirstFileLeavesNothingBehind) {
  OpenWithFaults(".snap.tmp");
  Append("s", 5);
  faults_.fail(GetParam(), 1, ENOSPC);
  EXPECT_EQ(store_->snapshots().save("s", 1, "v1", "x").status().code(), Code::kIOError);
  store_.reset();
  Open();  // the leftover .tmp is removed; the log is empty
  EXPECT_TRUE(Versions("s").empty());
  for (const auto& f : SnapFiles()) EXPECT_FALSE(f.ends_with(".tmp")) << f;
  Save("s", 1, "v1", "x");
  EXPECT_EQ(Versions("s"), std::vector<uint64_t>{1});
}

INSTANTIATE_TEST_SUITE_P(WriteAndSync, SnapshotFaultTest,
                         ::testing::Values(engine::FaultOp::kWrite, engine::FaultOp::kSync),
                         [](const auto& info) { return info.param == engine::FaultOp::kWrite ? "write" : "sync"; });

}  // namespace
}  // namespace cairn
