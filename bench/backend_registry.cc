// The backends compiled into cairn-bench: Cairn always, each peer when the
// build found its package and defined CAIRN_BENCH_HAVE_<PEER> (see the
// "Peer backends" block of bench/CMakeLists.txt).
#include <vector>

#include "backend.h"
#include "backend_cairn.h"

namespace cairn::bench {

#ifdef CAIRN_BENCH_HAVE_ROCKSDB
std::unique_ptr<Backend> open_rocksdb(const BackendOptions& options, std::string* error);
#endif
#ifdef CAIRN_BENCH_HAVE_LEVELDB
std::unique_ptr<Backend> open_leveldb(const BackendOptions& options, std::string* error);
#endif
#ifdef CAIRN_BENCH_HAVE_LMDB
std::unique_ptr<Backend> open_lmdb(const BackendOptions& options, std::string* error);
#endif
#ifdef CAIRN_BENCH_HAVE_SQLITE
std::unique_ptr<Backend> open_sqlite(const BackendOptions& options, std::string* error);
#endif

namespace {

using Factory = std::unique_ptr<Backend> (*)(const BackendOptions&, std::string*);

struct Entry {
  const char* name;
  Factory open;
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> all = {
      {"cairn", [](const BackendOptions& o, std::string* e) { return open_cairn(o, e); }},
#ifdef CAIRN_BENCH_HAVE_ROCKSDB
      {"rocksdb", open_rocksdb},
#endif
#ifdef CAIRN_BENCH_HAVE_LEVELDB
      {"leveldb", open_leveldb},
#endif
#ifdef CAIRN_BENCH_HAVE_LMDB
      {"lmdb", open_lmdb},
#endif
#ifdef CAIRN_BENCH_HAVE_SQLITE
      {"sqlite", open_sqlite},
#endif
  };
  return all;
}

}  // namespace

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const Entry& e : entries()) names.push_back(e.name);
  return names;
}

std::unique_ptr<Backend> open_backend(const std::string& name, const BackendOptions& options, std::string* error) {
  for (const Entry& e : entries())
    if (name == e.name) return e.open(options, error);
  *error = "unknown backend '" + name + "' (built in:";
  for (const Entry& e : entries()) *error += std::string(" ") + e.name;
  *error += ")";
  return nullptr;
}

}  // namespace cairn::bench
