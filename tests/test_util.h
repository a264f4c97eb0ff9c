// Shared helpers for Cairn's tests: temporary store directories, event
// builders, and byte-level file surgery (truncate, flip, append garbage).
#pragma once

#include <cairn/store.h>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace cairn::test {

// A fresh directory under $TMPDIR (or /tmp), removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Owns the bytes NewEvent views point at.
struct EventSpec {
  EventId id = EventId::random();
  std::string type = "Happened";
  std::string data;
  std::string metadata;
  NewEvent view() const { return NewEvent{id, type, data, metadata}; }
};

inline std::vector<EventSpec> make_events(size_t n, const std::string& tag = "e") {
  std::vector<EventSpec> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i].type = "Type" + std::to_string(i % 3);
    out[i].data = tag + "-data-" + std::to_string(i) + std::string(i % 7, '\0') + "\xff";
    out[i].metadata = i % 2 ? "" : tag + "-meta-" + std::to_string(i);
  }
  return out;
}

inline std::vector<NewEvent> views(const std::vector<EventSpec>& specs) {
  std::vector<NewEvent> v;
  for (const auto& s : specs) v.push_back(s.view());
  return v;
}

inline void expect_event(const RecordedEvent& e, const EventSpec& spec, const std::string& stream,
                         uint64_t version, uint64_t position) {
  EXPECT_EQ(e.stream, stream);
  EXPECT_EQ(e.version, version);
  EXPECT_EQ(e.position, position);
  EXPECT_EQ(e.id, spec.id);
  EXPECT_EQ(e.type, spec.type);
  EXPECT_EQ(e.data, spec.data);
  EXPECT_EQ(e.metadata, spec.metadata);
}

// Options whose segments roll every few hundred small events, and appends
// that do not sync: many segments, quickly.
inline Options small_segments() {
  Options o;
  o.segment_bytes = 64 << 10;
  o.durability = Durability::kNone;
  return o;
}

inline std::unique_ptr<Store> open_ok(const std::string& dir, const Options& options = {}) {
  auto store = Store::open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().to_string();
  if (!store.ok()) return nullptr;
  return std::move(store).value();
}

// Conformance suites run over both write paths: TEST_P fixtures take the
// backend as their parameter and instantiate with these.
inline auto io_backends() { return ::testing::Values(IoBackend::kPwrite, IoBackend::kIoUring); }
inline std::string backend_name(const ::testing::TestParamInfo<IoBackend>& info) {
  return info.param == IoBackend::kPwrite ? "pwrite" : "io_uring";
}

// The store-level suites run over each backend, writing through the page
// cache and with O_DIRECT (Options::direct_io).
struct WritePath {
  IoBackend backend;
  bool direct_io;
  void apply(Options& o) const {
    o.io_backend = backend;
    o.direct_io = direct_io;
  }
};
inline auto write_paths() {
  return ::testing::Values(WritePath{IoBackend::kPwrite, false}, WritePath{IoBackend::kIoUring, false},
                           WritePath{IoBackend::kPwrite, true}, WritePath{IoBackend::kIoUring, true});
}
inline std::string write_path_name(const ::testing::TestParamInfo<WritePath>& info) {
  return std::string(info.param.backend == IoBackend::kPwrite ? "pwrite" : "io_uring") +
         (info.param.direct_io ? "_direct" : "");
}

// Sorted *.seg files of a store directory.
inline std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The stream directory's run files (STREAMS-FFFFFFFF-LLLLLLLL), in name
// order, which is segment order.
inline std::vector<std::string> stream_run_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.rfind("STREAMS-", 0) == 0 && name.find('.') == std::string::npos) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline void remove_stream_runs(const std::string& dir) {
  for (const std::string& path : stream_run_files(dir)) std::filesystem::remove(path);
}

// Which of the pages of [0, size) of `path` are in the page cache
// (mincore), one entry a 4 KiB page.
inline std::vector<bool> cached_pages(const std::string& path, uint64_t size) {
  std::vector<bool> cached;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path << ": " << std::strerror(errno);
  if (fd < 0) return cached;
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  EXPECT_NE(map, MAP_FAILED) << path << ": " << std::strerror(errno);
  if (map == MAP_FAILED) return cached;
  std::vector<unsigned char> resident((size + 4095) / 4096);
  EXPECT_EQ(::mincore(map, size, resident.data()), 0) << std::strerror(errno);
  ::munmap(map, size);
  for (unsigned char r : resident) cached.push_back((r & 1) != 0);
  return cached;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline void flip_byte(const std::string& path, uint64_t offset) {
  std::string b = read_bytes(path);
  b.at(offset) = static_cast<char>(b.at(offset) ^ 0x5a);
  write_bytes(path, b);
}

}  // namespace cairn::test
