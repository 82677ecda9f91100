// Encrypted VFS ("sotto-aead") against plain SQLite on the same workload:
// inserting messages into a table with an FTS5 index, and FTS5 searches.
// Prints the encrypted/plain time ratios after the runs.
//
//   store_bench [--messages=N] [google benchmark flags]
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "sotto/store/store.h"

namespace {

namespace fs = std::filesystem;
using sotto::store::Database;
using sotto::store::DataKey;

int g_messages = 20000;
std::map<std::string, double> g_seconds;  // "insert/aead" -> best seconds per iteration

constexpr const char* kSchema =
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, peer TEXT, ts INTEGER, body TEXT);"
    "CREATE VIRTUAL TABLE messages_fts USING fts5(body, content='messages', content_rowid='id');";

const char* kWords[] = {"hello",  "meeting", "tomorrow", "coffee", "project", "deadline",
                        "review", "pull",    "request",  "lunch",  "call",    "later",
                        "thanks", "please",  "check",    "the",    "latest",  "build"};

class Folder {
 public:
  Folder() {
    std::string templ = (fs::temp_directory_path() / "sotto-bench-XXXXXX").string();
    path_ = ::mkdtemp(templ.data());
  }
  ~Folder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path path_;
};

void must(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    std::abort();
  }
}

sqlite3* open_db(const fs::path& path, bool aead, std::optional<Database>& keep,
                 const DataKey& key) {
  if (aead) {
    auto db = Database::open(path, key);
    if (!db) {
      std::fprintf(stderr, "open: %s\n", db.error().message.c_str());
      std::abort();
    }
    keep.emplace(std::move(*db));
    return keep->handle();
  }
  sqlite3* db = nullptr;
  must(sqlite3_open(path.c_str(), &db), db, "open");
  must(sqlite3_exec(db,
                    "PRAGMA temp_store=MEMORY; PRAGMA secure_delete=ON; PRAGMA "
                    "synchronous=FULL; PRAGMA journal_mode=WAL;",
                    nullptr, nullptr, nullptr),
       db, "pragmas");
  return db;
}

void close_db(sqlite3* db, std::optional<Database>& keep) {
  if (keep) {
    keep.reset();
  } else {
    sqlite3_close(db);
  }
}

void insert_messages(sqlite3* db, int count) {
  must(sqlite3_exec(db, kSchema, nullptr, nullptr, nullptr), db, "schema");
  sqlite3_stmt* insert = nullptr;
  sqlite3_stmt* index = nullptr;
  must(sqlite3_prepare_v2(db, "INSERT INTO messages(id, peer, ts, body) VALUES(?, ?, ?, ?)", -1,
                          &insert, nullptr),
       db, "prepare");
  must(sqlite3_prepare_v2(db, "INSERT INTO messages_fts(rowid, body) VALUES(?, ?)", -1, &index,
                          nullptr),
       db, "prepare");
  unsigned seed = 1;
  for (int i = 1; i <= count; ++i) {
    if (i % 100 == 1) must(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
    std::string body;
    const int words = 4 + static_cast<int>(rand_r(&seed) % 12);
    for (int w = 0; w < words; ++w) {
      if (w > 0) body += ' ';
      body += kWords[rand_r(&seed) % (sizeof kWords / sizeof kWords[0])];
    }
    body += " n" + std::to_string(i);
    sqlite3_bind_int(insert, 1, i);
    sqlite3_bind_text(insert, 2, "alice@example.org", -1, SQLITE_STATIC);
    sqlite3_bind_int64(insert, 3, 1700000000 + i);
    sqlite3_bind_text(insert, 4, body.c_str(), -1, SQLITE_TRANSIENT);
    must(sqlite3_step(insert), db, "insert");
    sqlite3_reset(insert);
    sqlite3_bind_int(index, 1, i);
    sqlite3_bind_text(index, 2, body.c_str(), -1, SQLITE_TRANSIENT);
    must(sqlite3_step(index), db, "index");
    sqlite3_reset(index);
    if (i % 100 == 0 || i == count) {
      must(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
    }
  }
  sqlite3_finalize(insert);
  sqlite3_finalize(index);
}

void record(const std::string& name, double seconds) {
  auto it = g_seconds.find(name);
  if (it == g_seconds.end() || seconds < it->second) g_seconds[name] = seconds;
}

void BM_Insert(benchmark::State& state) {
  const bool aead = state.range(0) != 0;
  DataKey key = DataKey::random();
  for (auto _ : state) {
    state.PauseTiming();
    Folder folder;
    std::optional<Database> keep;
    sqlite3* db = open_db(folder.path_ / "bench.db", aead, keep, key);
    state.ResumeTiming();
    const auto start = std::chrono::steady_clock::now();
    insert_messages(db, g_messages);
    record(aead ? "insert/aead" : "insert/plain",
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    state.PauseTiming();
    close_db(db, keep);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * g_messages);
}

void BM_Search(benchmark::State& state) {
  const bool aead = state.range(0) != 0;
  DataKey key = DataKey::random();
  Folder folder;
  std::optional<Database> keep;
  sqlite3* db = open_db(folder.path_ / "bench.db", aead, keep, key);
  insert_messages(db, g_messages);
  // Search a fresh connection's cold page cache too: reopen.
  close_db(db, keep);
  db = open_db(folder.path_ / "bench.db", aead, keep, key);
  sqlite3_stmt* stmt = nullptr;
  must(sqlite3_prepare_v2(db,
                          "SELECT m.id, m.body FROM messages_fts f JOIN messages m ON m.id = "
                          "f.rowid WHERE messages_fts MATCH ? ORDER BY rank LIMIT 50",
                          -1, &stmt, nullptr),
       db, "prepare");
  std::size_t word = 0;
  std::int64_t hits = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    for (int q = 0; q < 100; ++q) {
      const std::string pattern =
          std::string(kWords[word % 18]) + " AND " + kWords[(word + 1) % 18];
      ++word;
      sqlite3_bind_text(stmt, 1, pattern.c_str(), -1, SQLITE_TRANSIENT);
      while (sqlite3_step(stmt) == SQLITE_ROW) ++hits;
      sqlite3_reset(stmt);
    }
    record(aead ? "search/aead" : "search/plain",
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  benchmark::DoNotOptimize(hits);
  sqlite3_finalize(stmt);
  state.SetItemsProcessed(state.iterations() * 100);
  close_db(db, keep);
}

void BM_DatabaseSize(benchmark::State& state) {
  const bool aead = state.range(0) != 0;
  DataKey key = DataKey::random();
  for (auto _ : state) {
    state.PauseTiming();
    Folder folder;
    std::optional<Database> keep;
    sqlite3* db = open_db(folder.path_ / "bench.db", aead, keep, key);
    insert_messages(db, g_messages);
    must(sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr), db,
         "checkpoint");
    state.counters["bytes"] = static_cast<double>(fs::file_size(folder.path_ / "bench.db"));
    close_db(db, keep);
    state.ResumeTiming();
  }
}

BENCHMARK(BM_Insert)->Arg(0)->Arg(1)->ArgName("aead")->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_Search)->Arg(0)->Arg(1)->ArgName("aead")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DatabaseSize)->Arg(0)->Arg(1)->ArgName("aead")->Iterations(1);

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--messages=", 11) == 0) {
      g_messages = std::atoi(argv[i] + 11);
      for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
      --argc;
      --i;
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::printf("\nmessages per run: %d\n", g_messages);
  for (const char* what : {"insert", "search"}) {
    const auto plain = g_seconds.find(std::string(what) + "/plain");
    const auto aead = g_seconds.find(std::string(what) + "/aead");
    if (plain != g_seconds.end() && aead != g_seconds.end() && plain->second > 0) {
      std::printf("%s: plain %.3f s, encrypted %.3f s, ratio %.2fx\n", what, plain->second,
                  aead->second, aead->second / plain->second);
    }
  }
  return 0;
}
