#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness/prosody.h"
#include "sotto/store/store.h"

namespace sotto::store {
namespace {

namespace fs = std::filesystem;

constexpr int kPage = 4096;
constexpr int kFrame = 24 + kPage;

using test::TempDir;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

void flip_byte(const fs::path& path, std::size_t offset) {
  std::string data = read_file(path);
  ASSERT_LT(offset, data.size());
  data[offset] = static_cast<char>(data[offset] ^ 0x01);
  write_file(path, data);
}

// Runs a query and returns its rows, one string per row ("a|b|c").
Result<std::vector<std::string>> query(Database& db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return Unexpected(db.error(rc, "preparing"));
  std::vector<std::string> rows;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
      if (i > 0) row += '|';
      const auto* text = sqlite3_column_text(stmt, i);
      if (text != nullptr) row += reinterpret_cast<const char*>(text);
    }
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return Unexpected(db.error(rc, "stepping"));
  return rows;
}

std::string one(Database& db, const std::string& sql) {
  auto rows = query(db, sql);
  if (!rows) return "error: " + rows.error().message;
  return rows->empty() ? "" : rows->front();
}

int reserve_bytes(Database& db) {
  int current = -1;
  sqlite3_file_control(db.handle(), "main", SQLITE_FCNTL_RESERVE_BYTES, &current);
  return current;
}

// Opens the database and reads every row and index; the first error.
Result<void> open_and_read_all(const fs::path& path, const DataKey& key) {
  auto db = Database::open(path, key);
  if (!db) return Unexpected(db.error());
  auto tables = query(*db, "SELECT name FROM sqlite_schema WHERE type = 'table'");
  if (!tables) return Unexpected(tables.error());
  for (const std::string& table : *tables) {
    auto rows = query(*db, "SELECT * FROM \"" + table + "\"");
    if (!rows) return Unexpected(rows.error());
  }
  auto check = query(*db, "PRAGMA integrity_check");
  if (!check) return Unexpected(check.error());
  if (check->size() != 1 || check->front() != "ok") {
    return fail(Errc::io, "integrity_check failed", check->empty() ? "" : check->front());
  }
  return {};
}

void fill(Database& db, int first, int count, const std::string& marker) {
  ASSERT_TRUE(db.exec("BEGIN")) << "begin";
  for (int i = first; i < first + count; ++i) {
    const std::string body = marker + " message number " + std::to_string(i);
    const std::string sql = "INSERT INTO messages(id, body) VALUES(" + std::to_string(i) + ", '" +
                            body + "'); INSERT INTO messages_fts(rowid, body) VALUES(" +
                            std::to_string(i) + ", '" + body + "');";
    ASSERT_TRUE(db.exec(sql)) << sql;
  }
  ASSERT_TRUE(db.exec("COMMIT"));
}

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS messages(id INTEGER PRIMARY KEY, body TEXT NOT NULL);"
    "CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(body);";

// A closed database with the schema and `count` rows.
void make_filled(const fs::path& path, const DataKey& key, int count, const std::string& marker) {
  auto db = Database::open(path, key);
  ASSERT_TRUE(db) << db.error().message;
  ASSERT_TRUE(db->exec(kSchema));
  fill(*db, 1, count, marker);
}

TEST(StoreVfs, DataKeyFromBytesChecksSize) {
  EXPECT_FALSE(DataKey::from_bytes("short"));
  auto key = DataKey::from_bytes(std::string(32, 'k'));
  ASSERT_TRUE(key);
  EXPECT_EQ(key->data()[0], 'k');
  DataKey a = DataKey::random();
  DataKey b = DataKey::random();
  EXPECT_NE(std::memcmp(a.data(), b.data(), 32), 0);
}

TEST(StoreVfs, RoundTripWithFts5) {
  TempDir dir;
  const fs::path path = dir.path() / "profile.db";
  DataKey key = DataKey::random();
  {
    auto db = Database::open(path, key);
    ASSERT_TRUE(db) << db.error().message << ": " << db.error().detail;
    EXPECT_EQ(one(*db, "PRAGMA journal_mode"), "wal");
    EXPECT_EQ(one(*db, "PRAGMA temp_store"), "2");
    EXPECT_EQ(one(*db, "PRAGMA secure_delete"), "1");
    ASSERT_TRUE(db->exec(kSchema));
    EXPECT_EQ(reserve_bytes(*db), kReserveBytes);
    fill(*db, 1, 500, "roundtrip");
    ASSERT_TRUE(db->exec("INSERT INTO messages(id, body) VALUES(1000, 'hello zanzibar')"));
    ASSERT_TRUE(db->exec("INSERT INTO messages_fts(rowid, body) VALUES(1000, 'hello zanzibar')"));
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string raw = read_file(path);
  EXPECT_EQ(raw.size() % kPage, 0u);
  EXPECT_EQ(raw.compare(0, 16, std::string("SQLite format 3\0", 16)), 0);
  EXPECT_EQ(static_cast<unsigned char>(raw[20]), kReserveBytes);

  auto db = Database::open(path, key);
  ASSERT_TRUE(db) << db.error().message << ": " << db.error().detail;
  EXPECT_EQ(one(*db, "SELECT count(*) FROM messages"), "501");
  EXPECT_EQ(one(*db, "SELECT body FROM messages WHERE id = 250"), "roundtrip message number 250");
  EXPECT_EQ(one(*db, "SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'zanzibar'"), "1000");
  EXPECT_EQ(one(*db, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'roundtrip'"),
            "500");
  EXPECT_EQ(one(*db, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(one(*db, "INSERT INTO messages_fts(messages_fts) VALUES('integrity-check')"), "");
}

TEST(StoreVfs, WrongKeyIsAClearError) {
  TempDir dir;
  const fs::path path = dir.path() / "profile.db";
  DataKey key = DataKey::random();
  make_filled(path, key, 200, "wrongkey");
  if (HasFatalFailure()) return;
  const std::string before = read_file(path);
  DataKey other = DataKey::random();
  auto db = Database::open(path, other);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().message, kDamagedMessage);
  EXPECT_EQ(db.error().code, Errc::auth);
  EXPECT_EQ(read_file(path), before);  // nothing changed
  EXPECT_TRUE(Database::open(path, key));
}

TEST(StoreVfs, FlippedByteInMainFileIsDamage) {
  TempDir dir;
  const fs::path path = dir.path() / "profile.db";
  DataKey key = DataKey::random();
  make_filled(path, key, 300, "flip");
  if (HasFatalFailure()) return;
  const std::string pristine = read_file(path);
  const std::size_t pages = pristine.size() / kPage;
  ASSERT_GE(pages, 5u);
  // Plain header bytes (bound as associated data), page 1 body, trailer, and
  // later pages.
  const std::vector<std::size_t> offsets = {17,
                                            21,
                                            23,
                                            30,
                                            100,
                                            kPage - 30,
                                            kPage - 1,
                                            kPage + 5,
                                            3 * kPage + 2000,
                                            (pages - 1) * kPage + 7};
  for (std::size_t offset : offsets) {
    write_file(path, pristine);
    flip_byte(path, offset);
    auto result = open_and_read_all(path, key);
    ASSERT_FALSE(result) << "offset " << offset;
    EXPECT_EQ(result.error().message, kDamagedMessage)
        << "offset " << offset << ": " << result.error().detail;
    if (offset >= kPage) {
      EXPECT_EQ(result.error().code, Errc::io) << "offset " << offset;
    }
  }
  write_file(path, pristine);
  EXPECT_TRUE(open_and_read_all(path, key));
}

TEST(StoreVfs, PageSwapIsDamage) {
  TempDir dir;
  const fs::path path = dir.path() / "profile.db";
  DataKey key = DataKey::random();
  make_filled(path, key, 300, "swap");
  if (HasFatalFailure()) return;
  const std::string pristine = read_file(path);
  const std::size_t pages = pristine.size() / kPage;
  ASSERT_GE(pages, 5u);
  for (auto [from, to] : std::vector<std::pair<std::size_t, std::size_t>>{
           {2, 3}, {3, 2}, {pages - 1, 2}, {2, 1}, {1, 2}}) {
    std::string data = pristine;
    data.replace((to - 1) * kPage, kPage, pristine, (from - 1) * kPage, kPage);
    write_file(path, data);
    auto result = open_and_read_all(path, key);
    ASSERT_FALSE(result) << from << " -> " << to;
    EXPECT_EQ(result.error().message, kDamagedMessage);
  }
  // A page from another database under the same key at the same position is
  // not detected (one key per database); a page from another key is.
  write_file(path, pristine);
  EXPECT_TRUE(open_and_read_all(path, key));
}

// Copies the database and its WAL as they are on disk (as after a crash).
void snapshot(const fs::path& from_dir, const fs::path& to_dir) {
  fs::create_directories(to_dir);
  for (const char* name : {"profile.db", "profile.db-wal"}) {
    fs::copy_file(from_dir / name, to_dir / name, fs::copy_options::overwrite_existing);
  }
}

TEST(StoreVfs, TamperedWal) {
  TempDir dir;
  const fs::path path = dir.path() / "profile.db";
  DataKey key = DataKey::random();
  auto db = Database::open(path, key);
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->exec("PRAGMA wal_autocheckpoint=0"));
  ASSERT_TRUE(db->exec(kSchema));
  fill(*db, 1, 50, "walfirst");
  fill(*db, 51, 50, "walsecond");
  ASSERT_TRUE(db->exec("INSERT INTO messages(id, body) VALUES(9999, 'last one')"));
  const fs::path wal = dir.path() / "profile.db-wal";
  const std::string pristine = read_file(wal);
  ASSERT_GT(pristine.size(), 32u + 4 * kFrame);
  ASSERT_EQ((pristine.size() - 32) % kFrame, 0u);
  const std::size_t frames = (pristine.size() - 32) / kFrame;

  // The snapshot opens as it is.
  snapshot(dir.path(), dir.path() / "copy");
  {
    auto result = open_and_read_all(dir.path() / "copy" / "profile.db", key);
    ASSERT_TRUE(result) << result.error().message << ": " << result.error().detail;
    auto copy = Database::open(dir.path() / "copy" / "profile.db", key);
    ASSERT_TRUE(copy);
    EXPECT_EQ(one(*copy, "SELECT count(*) FROM messages"), "101");
  }

  // A frame of an earlier, committed transaction: damage.
  for (std::size_t offset : {std::size_t{32 + 24 + 10}, std::size_t{32 + kFrame + 24 + 2000},
                             std::size_t{32 + kFrame + 24 + kPage - 3}}) {
    fs::remove_all(dir.path() / "copy");
    snapshot(dir.path(), dir.path() / "copy");
    flip_byte(dir.path() / "copy" / "profile.db-wal", offset);
    auto result = open_and_read_all(dir.path() / "copy" / "profile.db", key);
    ASSERT_FALSE(result) << offset;
    EXPECT_EQ(result.error().message, kDamagedMessage) << offset;
  }

  // A frame of the last transaction: indistinguishable from a crash while
  // committing it (or from truncating the WAL, which anyone can do). The
  // database opens without it, never with garbage.
  {
    fs::remove_all(dir.path() / "copy");
    snapshot(dir.path(), dir.path() / "copy");
    flip_byte(dir.path() / "copy" / "profile.db-wal", 32 + (frames - 1) * kFrame + 24 + 100);
    auto result = open_and_read_all(dir.path() / "copy" / "profile.db", key);
    ASSERT_TRUE(result) << result.error().message << ": " << result.error().detail;
    auto copy = Database::open(dir.path() / "copy" / "profile.db", key);
    ASSERT_TRUE(copy);
    EXPECT_EQ(one(*copy, "SELECT count(*) FROM messages"), "100");
    EXPECT_EQ(one(*copy, "SELECT count(*) FROM messages WHERE id = 9999"), "0");
  }
}

TEST(StoreVfs, NoPlaintextOnDisk) {
  TempDir dir;
  const fs::path path = dir.path() / "profile.db";
  DataKey key = DataKey::random();
  const std::string marker = "Xyzzy-Plugh-7f3a9c";
  const std::string word = "quixotically";
  auto check_folder = [&](const char* when) {
    int files = 0;
    for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
      if (!entry.is_regular_file()) continue;
      ++files;
      const std::string data = read_file(entry.path());
      EXPECT_EQ(data.find(marker), std::string::npos) << entry.path() << " " << when;
      EXPECT_EQ(data.find(word), std::string::npos) << entry.path() << " " << when;
      EXPECT_EQ(data.find("CREATE TABLE"), std::string::npos) << entry.path() << " " << when;
    }
    EXPECT_GE(files, 1) << when;
  };
  {
    auto db = Database::open(path, key);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("PRAGMA wal_autocheckpoint=0"));
    ASSERT_TRUE(db->exec(kSchema));
    fill(*db, 1, 400, marker + " " + word);
    // A big sort and a temp table stay in memory.
    EXPECT_EQ(one(*db, "SELECT count(*) FROM (SELECT body FROM messages ORDER BY random())"),
              "400");
    ASSERT_TRUE(db->exec("CREATE TEMP TABLE t AS SELECT * FROM messages"));
    EXPECT_TRUE(fs::exists(dir.path() / "profile.db-wal"));
    check_folder("with the WAL");
    ASSERT_TRUE(db->checkpoint());
    ASSERT_TRUE(db->exec("DELETE FROM messages WHERE id > 200"));
    check_folder("after a checkpoint");
  }
  check_folder("after closing");
}

TEST(StoreVfs, RollbackJournalsAreRefused) {
  TempDir dir;
  const fs::path path = dir.path() / "profile.db";
  DataKey key = DataKey::random();
  auto db = Database::open(path, key);
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->exec(kSchema));
  // Leaving WAL mode would need a plaintext rollback journal: it fails.
  auto result = db->exec("PRAGMA journal_mode=DELETE; INSERT INTO messages VALUES(1, 'secret')");
  auto rows = query(*db, "PRAGMA journal_mode");
  if (result && rows && rows->front() != "wal") {
    FAIL() << "left WAL mode: " << rows->front();
  }
  EXPECT_FALSE(fs::exists(dir.path() / "profile.db-journal"));
}

TEST(StoreVfs, VacuumKeepsTheReserve) {
  TempDir dir;
  const fs::path path = dir.path() / "profile.db";
  DataKey key = DataKey::random();
  {
    auto db = Database::open(path, key);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec(kSchema));
    fill(*db, 1, 1000, "vacuum");
    ASSERT_TRUE(db->exec("DELETE FROM messages WHERE id % 2 = 0"));
    ASSERT_TRUE(db->exec("VACUUM")) << "vacuum";
    EXPECT_EQ(reserve_bytes(*db), kReserveBytes);
    EXPECT_EQ(one(*db, "PRAGMA integrity_check"), "ok");
  }
  const std::string raw = read_file(path);
  EXPECT_EQ(static_cast<unsigned char>(raw[20]), kReserveBytes);
  auto db = Database::open(path, key);
  ASSERT_TRUE(db);
  EXPECT_EQ(reserve_bytes(*db), kReserveBytes);
  EXPECT_EQ(one(*db, "SELECT count(*) FROM messages"), "500");
  ASSERT_TRUE(db->exec("VACUUM"));
  EXPECT_EQ(one(*db, "PRAGMA integrity_check"), "ok");
}

// The child inserts transactions until killed and reports each commit on a pipe.
[[noreturn]] void crash_child(const fs::path& path, const std::string& key_bytes, int first,
                              int fd) {
  auto key = DataKey::from_bytes(key_bytes);
  if (!key) ::_exit(2);
  auto db = Database::open(path, *key);
  if (!db) ::_exit(3);
  if (!db->exec(kSchema)) ::_exit(4);
  for (int id = first;; id += 5) {
    std::string sql = "BEGIN;";
    for (int i = 0; i < 5; ++i) {
      const std::string n = std::to_string(id + i);
      sql += "INSERT INTO messages(id, body) VALUES(" + n + ", 'crash body " + n +
             "'); INSERT INTO messages_fts(rowid, body) VALUES(" + n + ", 'crash body " + n + "');";
    }
    sql += "COMMIT;";
    if (!db->exec(sql)) ::_exit(5);
    const std::int32_t last = id + 4;
    if (::write(fd, &last, sizeof last) != sizeof last) ::_exit(6);
  }
}

TEST(StoreVfs, SigkillLeavesEveryCommittedRow) {
  TempDir dir;
  const fs::path path = dir.path() / "profile.db";
  const std::string key_bytes(32, '\x5a');
  auto key = DataKey::from_bytes(key_bytes);
  ASSERT_TRUE(key);
  std::mt19937 rng(12345);
  int next = 1;
  std::int32_t committed = 0;
  for (int round = 0; round < 20; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      crash_child(path, key_bytes, next, fds[1]);
    }
    ::close(fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 150));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    std::int32_t value = 0;
    while (::read(fds[0], &value, sizeof value) == sizeof value) committed = value;
    ::close(fds[0]);

    auto db = Database::open(path, *key);
    ASSERT_TRUE(db) << "round " << round << ": " << db.error().message << ": " << db.error().detail;
    EXPECT_EQ(one(*db, "PRAGMA integrity_check"), "ok") << "round " << round;
    // Every reported commit is there; at most one unreported one more.
    const int count = std::stoi(one(*db, "SELECT count(*) FROM messages"));
    EXPECT_GE(count, committed) << "round " << round;
    EXPECT_LE(count, committed + 5) << "round " << round;
    EXPECT_EQ(one(*db, "SELECT count(*) FROM messages WHERE id <= " + std::to_string(committed)),
              std::to_string(committed))
        << "round " << round;
    EXPECT_EQ(one(*db, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'crash'"),
              std::to_string(count));
    next = std::stoi(one(*db, "SELECT coalesce(max(id), 0) FROM messages")) + 1;
    // A commit the child made but could not report before the kill is now on
    // disk for good: it is the baseline for the next round.
    committed = count;
    if (round % 5 == 4) {
      ASSERT_TRUE(db->checkpoint());
    }
  }
  EXPECT_GT(committed, 20) << "the child committed too little to test anything";
}

}  // namespace
}  // namespace sotto::store

namespace sotto::store {
namespace {

// A transaction with more dirty pages than the page cache holds spills some
// to the WAL before it commits; SQLite then rewrites those frames' headers.
// That must read back as the data it is, not as damage.
TEST(StoreVfs, ATransactionLargerThanThePageCacheCommits) {
  TempDir dir;
  const fs::path path = dir.path() / "spill.db";
  DataKey key = DataKey::random();
  {
    auto db = Database::open(path, key);
    ASSERT_TRUE(db) << db.error().message;
    ASSERT_TRUE(db->exec("PRAGMA cache_size=20"));
    ASSERT_TRUE(db->exec(kSchema));
    fill(*db, 1, 3000, "spilled");  // one transaction of ~200 pages
    EXPECT_EQ(one(*db, "SELECT count(*) FROM messages"), "3000");
    // Rewrite every row of a table in one transaction, twice over: pages
    // spilled, dirtied again and spilled again.
    ASSERT_TRUE(
        db->exec("BEGIN; UPDATE messages SET body = body || ' once';"
                 "UPDATE messages SET body = body || ' twice'; COMMIT;"));
    EXPECT_EQ(one(*db, "SELECT count(*) FROM messages WHERE body LIKE '% once twice'"), "3000");
    EXPECT_EQ(one(*db, "PRAGMA integrity_check"), "ok");
  }
  ASSERT_TRUE(open_and_read_all(path, key));
  auto db = Database::open(path, key);
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->checkpoint());
  EXPECT_EQ(one(*db, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'spilled'"),
            "3000");
}

}  // namespace
}  // namespace sotto::store
