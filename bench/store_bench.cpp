// The profile database on the encrypted VFS ("sotto-aead") against the same
// workload on plain SQLite: the real profile schema (store::profile_schema():
// messages with the FTS5 index its triggers maintain, ...), the app's own
// statements, and the same deterministic chat history on both sides.
//
//   bulk     N messages (default 1,000,000) in transactions of 100; this
//            builds the database the other workloads use, once per side
//   live     2000 messages, one transaction (and fsync) each, as the app
//            stores a message, on the filled database
//   search   Profile::search's query (quoted prefix terms, newest 50) over
//            common, rare and prefix words: cold (a new connection before
//            each query) and warm
//   paging   Profile::conversation's query, 50 per page, 20 pages back, for
//            several conversations: cold and warm
//   unlock   vault_read (master password at default_kdf_cost(), and a key
//            file) + Database::open of the filled database + its first query
//   size     the checkpointed database file after the bulk insert
//
// The two sides run in turn piece by piece (a batch, a message, a query), so
// that whatever else the machine does falls on both alike. Prints the
// encrypted/plain ratios (goal: within 1.5x), rates, unlock times and the
// size overhead after the runs.
//
//   store_bench [--messages=N] [google benchmark flags]
#include <sqlite3.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "harness/prosody.h"
#include "sotto/store/profile.h"
#include "sotto/store/store.h"
#include "sotto/store/vault.h"

namespace {

namespace fs = std::filesystem;
namespace store = sotto::store;
using store::Database;
using store::DataKey;
using Clock = std::chrono::steady_clock;

int g_messages = 1000000;
std::map<std::string, double> g_seconds;  // "bulk/aead" -> best seconds per run
std::map<std::string, double> g_values;   // sizes and counts for the summary
int g_live_rounds = 0;

constexpr int kBatch = 100;          // messages per transaction in the bulk insert
constexpr int kLiveMessages = 2000;  // one transaction each
constexpr int kPageSize = 50;        // Profile::conversation page, Profile::search limit
constexpr int kPagesBack = 20;       // pages walked back per conversation
constexpr int kWarmRounds = 3;       // warm runs of the search and paging sets; best kept
constexpr std::int64_t kStartMs = 1577836800000;  // 2020-01-01

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void record(const std::string& name, double seconds) {
  auto it = g_seconds.find(name);
  if (it == g_seconds.end() || seconds < it->second) g_seconds[name] = seconds;
}

void must(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "%s: %s (%d)\n", what,
                 db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                 db != nullptr ? sqlite3_extended_errcode(db) : rc);
    std::abort();
  }
}

template <typename T>
T must(sotto::Result<T> result, const char* what) {
  if (!result) {
    std::fprintf(stderr, "%s: %s (%s)\n", what, result.error().message.c_str(),
                 result.error().detail.c_str());
    std::abort();
  }
  if constexpr (!std::is_void_v<T>) return std::move(*result);
}

// ---------------------------------------------------------------------------
// The chat history: deterministic, the same on both sides.

// Everyday chat words, most frequent first (drawn with Zipf-like weights).
constexpr std::string_view kWords[] = {
    "i",        "you",      "the",        "to",          "a",         "it",         "and",
    "is",       "ok",       "that",       "in",          "me",        "we",         "for",
    "on",       "be",       "have",       "so",          "are",       "do",         "just",
    "my",       "at",       "yes",        "no",          "will",      "not",        "what",
    "can",      "this",     "with",       "see",         "get",       "thanks",     "know",
    "was",      "but",      "how",        "lol",         "now",       "good",       "there",
    "go",       "yeah",     "one",        "think",       "tomorrow",  "today",      "time",
    "if",       "up",       "out",        "all",         "about",     "when",       "sure",
    "like",     "call",     "later",      "sorry",       "right",     "going",      "back",
    "home",     "here",     "did",        "had",         "let",       "then",       "still",
    "work",     "tonight",  "morning",    "meeting",     "coffee",    "lunch",      "dinner",
    "great",    "love",     "nice",       "need",        "want",      "come",       "could",
    "would",    "should",   "maybe",      "send",        "sent",      "message",    "phone",
    "again",    "soon",     "minutes",    "hour",        "week",      "weekend",    "monday",
    "friday",   "please",   "hey",        "hi",          "hello",     "bye",        "night",
    "day",      "take",     "make",       "look",        "said",      "tell",       "talk",
    "wait",     "done",     "already",    "after",       "before",    "from",       "they",
    "them",     "our",      "your",       "his",         "her",       "he",         "she",
    "us",       "an",       "or",         "as",          "by",        "of",         "off",
    "too",      "very",     "really",     "much",        "more",      "some",       "any",
    "new",      "old",      "first",      "last",        "next",      "long",       "little",
    "way",      "thing",    "things",     "people",      "car",       "train",      "bus",
    "station",  "office",   "late",       "early",       "ready",     "leave",      "left",
    "arrive",   "arrived",  "meet",       "meetings",    "project",   "deadline",   "review",
    "build",    "release",  "bug",        "fix",         "fixed",     "test",       "tests",
    "server",   "deploy",   "code",       "branch",      "merge",     "pull",       "request",
    "issue",    "ticket",   "email",      "document",    "slides",    "notes",      "plan",
    "plans",    "idea",     "question",   "answer",      "problem",   "check",      "checked",
    "latest",   "version",  "update",     "updated",     "file",      "files",      "link",
    "photo",    "photos",   "picture",    "video",       "music",     "song",       "movie",
    "book",     "game",     "match",      "party",       "birthday",  "gift",       "cake",
    "pizza",    "beer",     "wine",       "tea",         "breakfast", "restaurant", "table",
    "booked",   "tickets",  "flight",     "hotel",       "trip",      "holiday",    "beach",
    "weather",  "rain",     "sunny",      "cold",        "warm",      "snow",       "walk",
    "run",      "gym",      "doctor",     "appointment", "kids",      "school",     "mom",
    "dad",      "brother",  "sister",     "family",      "friend",    "friends",    "dog",
    "cat",      "shopping", "groceries",  "milk",        "bread",     "store",      "money",
    "pay",      "paid",     "bill",       "rent",        "price",     "cheap",      "busy",
    "free",     "tired",    "happy",      "sad",         "funny",     "crazy",      "awesome",
    "perfect",  "exactly",  "probably",   "definitely",  "anyway",    "actually",   "though",
    "because",  "why",      "where",      "who",         "which",     "while",      "until",
    "almost",   "around",   "everything", "nothing",     "something", "someone",    "anyone",
    "haha",     "omg",      "btw",        "np",          "thx",       "cu",         "asap",
    "congrats", "welcome",  "cheers",     "fine",        "cool",      "nope",       "agreed",
};
constexpr std::size_t kWordCount = sizeof kWords / sizeof kWords[0];

// Words that turn up rarely (about once in 2000 messages each, a few
// several times rarer): the names, places and terms one searches for.
constexpr std::string_view kRareWords[] = {
    "quokka",      "zanzibar",    "kilimanjaro", "ophthalmologist", "saxophone", "marzipan",
    "kubernetes",  "reykjavik",   "tiramisu",    "hieroglyph",      "xylophone", "bergamot",
    "anniversary", "passport",    "mortgage",    "dentist",         "wedding",   "sourdough",
    "valencia",    "oktoberfest", "ultrasound",  "sabbatical",      "telescope", "origami",
};
constexpr std::size_t kRareCount = sizeof kRareWords / sizeof kRareWords[0];

constexpr std::string_view kAccounts[] = {"me@example.org", "me@work.example.com",
                                          "alt@jabber.example.net"};
constexpr int kPeersPerAccount = 40;
constexpr std::string_view kResources[] = {"phone", "laptop", "desktop", "tablet"};

// splitmix64: a fixed sequence everywhere (no implementation-defined
// distributions).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  double unit() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }

 private:
  std::uint64_t state_;
};

// Zipf-like choice over n items: weight 1 / (rank + 2).
class Zipf {
 public:
  explicit Zipf(std::size_t n) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sum += 1.0 / static_cast<double>(i + 2);
      cumulative_.push_back(sum);
    }
    for (double& c : cumulative_) c /= sum;
  }
  std::size_t pick(Rng& rng) const {
    const double u = rng.unit();
    std::size_t lo = 0;
    std::size_t hi = cumulative_.size() - 1;
    while (lo < hi) {
      const std::size_t mid = (lo + hi) / 2;
      if (cumulative_[mid] < u) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

 private:
  std::vector<double> cumulative_;
};

struct Message {
  std::string account;
  std::string peer;
  std::string resource;
  std::string message_id;
  bool outgoing = false;
  std::int64_t time_ms = 0;
  std::string body;
  bool encrypted = false;
  std::string state;
};

std::string peer_name(std::size_t account, std::size_t peer) {
  return "contact" + std::to_string(peer) + "@server" + std::to_string(account) + ".example";
}

// Messages of 4-16 words across 3 accounts x 40 peers (a few conversations
// take most of the traffic), a few seconds to half an hour apart.
class Generator {
 public:
  Generator(std::uint64_t seed, std::int64_t start_ms)
      : rng_(seed), words_(kWordCount), peers_(kPeersPerAccount), time_ms_(start_ms) {}

  void next(Message& m) {
    const std::size_t account = rng_.below(10) < 6 ? 0 : (rng_.below(2) == 0 ? 1 : 2);
    const std::size_t peer = peers_.pick(rng_);
    m.account = kAccounts[account];
    m.peer = peer_name(account, peer);
    m.outgoing = rng_.below(2) == 0;
    m.resource = m.outgoing ? "" : std::string(kResources[rng_.below(4)]);
    char id[24];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(rng_.next()));
    m.message_id = id;
    time_ms_ += 1000 + static_cast<std::int64_t>(rng_.below(1800000));
    m.time_ms = time_ms_;
    m.encrypted = rng_.below(10) < 3;
    m.state = m.outgoing ? (rng_.below(10) < 8 ? "read" : "delivered") : "";
    m.body.clear();
    const int count = 4 + static_cast<int>(rng_.below(13));
    for (int w = 0; w < count; ++w) {
      std::string_view word = kWords[words_.pick(rng_)];
      const std::uint64_t roll = rng_.below(100000);
      if (roll < 12) {
        word = kRareWords[roll % kRareCount];  // ~1 in 2000 messages per rare word
      } else if (roll < 14) {
        word = kRareWords[roll % 6];  // the first six a little more often
      }
      if (w == 0) {
        m.body += static_cast<char>(word[0] >= 'a' && word[0] <= 'z' ? word[0] - 32 : word[0]);
        m.body += word.substr(1);
      } else {
        m.body += ' ';
        m.body += word;
      }
      const std::uint64_t punct = rng_.below(40);
      if (punct == 0) m.body += ',';
      if (punct == 1 && w + 1 < count) m.body += '.';
    }
    const std::uint64_t end = rng_.below(6);
    m.body += end == 0 ? "?" : end == 1 ? "!" : end == 2 ? " :)" : "";
  }

 private:
  Rng rng_;
  Zipf words_;
  Zipf peers_;
  std::int64_t time_ms_;
};

// The conversations the paging walks: the busiest two of each account and
// a quieter one.
std::vector<std::pair<std::string, std::string>> paged_conversations() {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t a = 0; a < 3; ++a) {
    for (std::size_t p : {0, 1, 12}) out.emplace_back(kAccounts[a], peer_name(a, p));
  }
  return out;
}

// What the user types into the search box: common words, common pairs,
// prefixes being typed, rare words, rare + common, and a word that is not
// there.
constexpr std::string_view kSearches[] = {
    "thanks",
    "tomorrow",
    "coffee",
    "meeting tomorrow",
    "see you",
    "call later",
    "pizza tonight",
    "flight hotel",
    "meet",
    "tom",
    "proj",
    "bir",
    "co",
    "quokka",
    "zanzibar",
    "ophthalmologist",
    "sourdough",
    "telescope origami",
    "quokka the",
    "passport flight",
    "kilimanjaro trip",
    "xylograph",
};
constexpr int kSearchCount = sizeof kSearches / sizeof kSearches[0];

constexpr const char* kMessageColumns =
    "id, account, peer, resource, message_id, outgoing, time_ms, body, encrypted, state";
const std::string kInsertSql =
    "INSERT INTO messages(account, peer, resource, message_id, outgoing, time_ms, body, "
    "encrypted, state) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING "
    "RETURNING id";
const std::string kSearchSql = std::string("SELECT ") + kMessageColumns +
                               " FROM messages WHERE id IN (SELECT rowid FROM messages_fts"
                               " WHERE messages_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2)"
                               " ORDER BY id DESC";
const std::string kConversationSql = std::string("SELECT ") + kMessageColumns +
                                     " FROM messages WHERE account = ?1 AND peer = ?2 AND id < ?3"
                                     " ORDER BY id DESC LIMIT ?4";

// ---------------------------------------------------------------------------
// The two databases

// One connection: store::Database on the VFS, or stock sqlite3_open with the
// pragmas Database::open sets.
class Connection {
 public:
  Connection(const fs::path& path, const DataKey* key) { open(path, key); }
  ~Connection() {
    if (enc_) {
      enc_.reset();
    } else {
      sqlite3_close_v2(db_);
    }
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* handle() const { return db_; }
  void exec(const std::string& sql) {
    must(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr), db_, sql.c_str());
  }
  void checkpoint() {
    must(sqlite3_wal_checkpoint_v2(db_, "main", SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr), db_,
         "checkpoint");
  }

 private:
  void open(const fs::path& path, const DataKey* key) {
    if (key != nullptr) {
      enc_.emplace(must(Database::open(path, *key), "open"));
      db_ = enc_->handle();
      return;
    }
    must(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
         db_, "open");
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 10000);
    must(sqlite3_exec(db_,
                      "PRAGMA temp_store=MEMORY; PRAGMA mmap_size=0; PRAGMA secure_delete=ON;"
                      "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL; PRAGMA journal_mode=WAL;"
                      "SELECT count(*) FROM sqlite_schema;",
                      nullptr, nullptr, nullptr),
         db_, "pragmas");
  }

  std::optional<Database> enc_;
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    must(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr), db, "prepare");
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& text(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& integer(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(stmt_);
    must(rc, db_, "step");
    return rc == SQLITE_ROW;
  }
  void reset() { sqlite3_reset(stmt_); }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Reads a result row the way Profile's read_message does (copies the text).
std::int64_t read_row(sqlite3_stmt* s, std::size_t& bytes) {
  for (int c : {1, 2, 3, 4, 7, 9}) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, c));
    bytes += std::string(text != nullptr ? text : "").size();
  }
  bytes += static_cast<std::size_t>(sqlite3_column_int64(s, 5) + sqlite3_column_int64(s, 6) +
                                    sqlite3_column_int64(s, 8)) &
           1;
  return sqlite3_column_int64(s, 0);
}

void insert(Statement& s, const Message& m) {
  s.text(1, m.account).text(2, m.peer).text(3, m.resource).text(4, m.message_id);
  s.integer(5, m.outgoing).integer(6, m.time_ms).text(7, m.body);
  s.integer(8, m.encrypted).text(9, m.state);
  if (!s.step()) {
    std::fprintf(stderr, "insert: no row\n");
    std::abort();
  }
  while (s.step()) {
  }
  s.reset();
}

double thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Wall and CPU time of one side, summed over the pieces it ran.
struct Timer {
  double wall = 0;
  double cpu = 0;
  template <typename F>
  auto operator()(F&& f) {
    const auto start = Clock::now();
    const double cpu_start = thread_cpu();
    struct Add {
      Timer& t;
      Clock::time_point start;
      double cpu_start;
      ~Add() {
        t.wall += since(start);
        t.cpu += thread_cpu() - cpu_start;
      }
    } add{*this, start, cpu_start};
    return f();
  }
};

// Both sides run the same work piece by piece in turn (a batch, a message, a
// query), so that whatever else the machine does falls on both alike.
struct Sides {
  sotto::test::TempDir folder{"sotto-bench"};
  DataKey key = DataKey::random();
  fs::path paths[2];  // [0] plain, [1] aead
  bool built = false;

  Sides() {
    paths[0] = folder.path() / "plain.db";
    paths[1] = folder.path() / store::kDatabaseFile;
  }
  const DataKey* key_for(int side) const { return side == 1 ? &key : nullptr; }
};

Sides& sides() {
  static Sides s;
  return s;
}

constexpr const char* kSide[2] = {"plain", "aead"};

void record(const char* what, const Timer (&t)[2]) {
  for (int side = 0; side < 2; ++side) {
    const std::string name = std::string(what) + "/" + kSide[side];
    const bool best = g_seconds.find(name) == g_seconds.end() || t[side].wall < g_seconds[name];
    record(name, t[side].wall);
    if (best) g_values["cpu_" + name] = t[side].cpu;
  }
}

void report(benchmark::State& state, const Timer (&t)[2], double items, const char* unit) {
  state.SetIterationTime(t[1].wall);
  state.counters["plain_ms"] = t[0].wall * 1000;
  state.counters["aead_ms"] = t[1].wall * 1000;
  state.counters["ratio"] = t[0].wall > 0 ? t[1].wall / t[0].wall : 0;
  state.counters["cpu_ratio"] = t[0].cpu > 0 ? t[1].cpu / t[0].cpu : 0;
  state.counters[std::string("aead_ms_per_") + unit] = t[1].wall * 1000 / items;
}

// The bulk insert: builds both databases (the other workloads need them).
void build(Timer (&t)[2]) {
  Sides& s = sides();
  std::optional<Connection> db[2];
  std::optional<Statement> ins[2];
  for (int side = 0; side < 2; ++side) {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      fs::remove(s.paths[side].string() + suffix, ec);
    }
    db[side].emplace(s.paths[side], s.key_for(side));
    db[side]->exec(std::string(store::profile_schema()) + "PRAGMA user_version=1;");
    ins[side].emplace(db[side]->handle(), kInsertSql);
  }
  Generator gen(1, kStartMs);
  std::vector<Message> batch(kBatch);
  for (int done = 0; done < g_messages; done += kBatch) {
    const int n = std::min(kBatch, g_messages - done);
    for (int i = 0; i < n; ++i) gen.next(batch[static_cast<std::size_t>(i)]);
    for (int side = 0; side < 2; ++side) {
      t[side]([&] {
        db[side]->exec("BEGIN");
        for (int i = 0; i < n; ++i) insert(*ins[side], batch[static_cast<std::size_t>(i)]);
        db[side]->exec("COMMIT");
      });
    }
  }
  for (int side = 0; side < 2; ++side) {
    ins[side].reset();
    const auto start = Clock::now();
    db[side]->checkpoint();
    g_values[std::string("checkpoint_s/") + kSide[side]] = since(start);
    g_values[std::string("bytes/") + kSide[side]] =
        static_cast<double>(fs::file_size(s.paths[side]));
  }
  s.built = true;
}

Sides& built() {
  Sides& s = sides();
  if (!s.built) {
    Timer t[2];
    build(t);
    record("bulk", t);
  }
  return s;
}

// ---------------------------------------------------------------------------
// Benchmarks

void BM_BulkInsert(benchmark::State& state) {
  for (auto _ : state) {
    Timer t[2];
    build(t);
    record("bulk", t);
    report(state, t, g_messages, "msg");
  }
  state.SetItemsProcessed(state.iterations() * g_messages);
  state.counters["plain_bytes"] = g_values["bytes/plain"];
  state.counters["aead_bytes"] = g_values["bytes/aead"];
}

void BM_LiveInsert(benchmark::State& state) {
  Sides& s = built();
  for (auto _ : state) {
    Timer t[2];
    std::optional<Connection> db[2];
    std::optional<Statement> ins[2];
    for (int side = 0; side < 2; ++side) {
      db[side].emplace(s.paths[side], s.key_for(side));
      ins[side].emplace(db[side]->handle(), kInsertSql);
    }
    Generator gen(2, kStartMs + 100LL * 365 * 24 * 3600 * 1000);
    Message m;
    const std::string round = "-live" + std::to_string(++g_live_rounds);
    for (int i = 0; i < kLiveMessages; ++i) {
      gen.next(m);
      m.message_id += round;  // new ids when the benchmark is repeated
      // Autocommit: one transaction, and an fsync of the WAL, per message.
      for (int side = 0; side < 2; ++side) t[side]([&] { insert(*ins[side], m); });
    }
    record("live", t);
    report(state, t, kLiveMessages, "msg");
    for (int side = 0; side < 2; ++side) {
      ins[side].reset();
      db[side]->checkpoint();  // the reads below start from an empty WAL, as after the build
    }
  }
  state.SetItemsProcessed(state.iterations() * kLiveMessages);
}

// One query with Profile::search's statement; returns the rows read.
int search_once(sqlite3* db, std::string_view words, std::size_t& bytes) {
  Statement s(db, kSearchSql);
  s.text(1, sotto::store::fts_match_query(words)).integer(2, kPageSize);
  int rows = 0;
  while (s.step()) {
    read_row(s.get(), bytes);
    ++rows;
  }
  return rows;
}

// Walks one conversation back kPagesBack pages; returns the rows read.
int page_back(sqlite3* db, const std::string& account, const std::string& peer,
              std::size_t& bytes) {
  Statement s(db, kConversationSql);
  std::int64_t before = INT64_MAX;
  int rows = 0;
  for (int page = 0; page < kPagesBack; ++page) {
    s.text(1, account).text(2, peer).integer(3, before).integer(4, kPageSize);
    while (s.step()) {
      before = read_row(s.get(), bytes);
      ++rows;
    }
    s.reset();
  }
  return rows;
}

void same_rows(int plain, int aead, const char* what) {
  if (plain != aead) {
    std::fprintf(stderr, "%s: plain %d rows, encrypted %d\n", what, plain, aead);
    std::abort();
  }
}

// Runs `run(db, item)` for every item: cold (a new connection, with an empty
// page cache, before each item; the opening is not timed), then warm (all
// items once more on one connection, then kWarmRounds timed rounds, best
// kept). Returns the rows of the cold pass.
template <typename Items, typename Run>
int cold_and_warm(benchmark::State& state, const char* what, const Items& items, Run run,
                  double count, const char* unit) {
  Sides& s = sides();
  Timer cold[2];
  int rows[2] = {0, 0};
  for (const auto& item : items) {
    int got[2];
    for (int side = 0; side < 2; ++side) {
      Connection db(s.paths[side], s.key_for(side));
      got[side] = cold[side]([&] { return run(db.handle(), item); });
      rows[side] += got[side];
    }
    same_rows(got[0], got[1], what);
  }
  record((std::string(what) + "_cold").c_str(), cold);
  report(state, cold, count, unit);

  std::optional<Connection> db[2];
  for (int side = 0; side < 2; ++side) {
    db[side].emplace(s.paths[side], s.key_for(side));
    for (const auto& item : items) run(db[side]->handle(), item);
  }
  for (int round = 0; round < kWarmRounds; ++round) {
    Timer warm[2];
    for (const auto& item : items) {
      for (int side = 0; side < 2; ++side) warm[side]([&] { run(db[side]->handle(), item); });
    }
    record((std::string(what) + "_warm").c_str(), warm);
  }
  state.counters["warm_ratio"] =
      g_seconds[std::string(what) + "_warm/aead"] / g_seconds[std::string(what) + "_warm/plain"];
  state.counters["rows"] = rows[1];
  return rows[1];
}

void BM_Search(benchmark::State& state) {
  built();
  std::size_t bytes = 0;
  for (auto _ : state) {
    cold_and_warm(
        state, "search", kSearches,
        [&](sqlite3* db, std::string_view words) { return search_once(db, words, bytes); },
        kSearchCount, "query");
  }
  benchmark::DoNotOptimize(bytes);
}

void BM_Paging(benchmark::State& state) {
  built();
  const auto conversations = paged_conversations();
  std::size_t bytes = 0;
  for (auto _ : state) {
    cold_and_warm(
        state, "paging", conversations,
        [&](sqlite3* db, const std::pair<std::string, std::string>& c) {
          return page_back(db, c.first, c.second, bytes);
        },
        static_cast<double>(conversations.size()) * kPagesBack, "page");
  }
  benchmark::DoNotOptimize(bytes);
}

// The first thing the app reads after unlocking: the newest page of the
// busiest conversation.
void first_query(sqlite3* db) {
  std::size_t bytes = 0;
  Statement s(db, kConversationSql);
  s.text(1, kAccounts[0]).text(2, peer_name(0, 0)).integer(3, INT64_MAX).integer(4, kPageSize);
  int rows = 0;
  while (s.step()) {
    read_row(s.get(), bytes);
    ++rows;
  }
  if (rows != kPageSize && g_messages >= 10000) {
    std::fprintf(stderr, "first query: %d rows\n", rows);
    std::abort();
  }
}

// range(0): 0 plain (open + first query, no key), 1 key file, 2 master
// password (Argon2id at default_kdf_cost()).
void BM_Unlock(benchmark::State& state) {
  const int kind = static_cast<int>(state.range(0));
  const bool aead = kind != 0;
  Sides& s = built();
  const fs::path& path = s.paths[aead ? 1 : 0];
  const std::string name = kind == 0 ? "plain" : kind == 1 ? "keyfile" : "password";
  const fs::path vault = s.folder.path() / store::kVaultFile;
  const std::optional<std::string> password =
      kind == 2 ? std::optional<std::string>("correct horse battery staple") : std::nullopt;
  if (aead) {
    must(store::vault_write(vault,
                            std::span<const unsigned char, store::kDataKeyBytes>(
                                s.key.data(), store::kDataKeyBytes),
                            password, store::default_kdf_cost(), /*use_keyring=*/false),
         "vault_write");
  }
  for (auto _ : state) {
    const auto start = Clock::now();
    double read = 0;
    std::optional<DataKey> key;
    if (aead) {
      std::array<unsigned char, store::kDataKeyBytes> bytes{};
      must(store::vault_read(vault, password, bytes), "vault_read");
      key.emplace(must(DataKey::from_bytes(std::string_view(
                           reinterpret_cast<const char*>(bytes.data()), bytes.size())),
                       "key"));
      bytes.fill(0);
      read = since(start);
    }
    const auto opened = Clock::now();
    Connection db(path, key ? &*key : nullptr);
    const double open = since(opened);
    const auto queried = Clock::now();
    first_query(db.handle());
    const double query = since(queried);
    const double total = since(start);
    state.SetIterationTime(total);
    const std::string key_name = "unlock/" + name;
    if (g_seconds.find(key_name) == g_seconds.end() || total < g_seconds[key_name]) {
      g_values["unlock_read/" + name] = read;
      g_values["unlock_open/" + name] = open;
      g_values["unlock_query/" + name] = query;
    }
    record(key_name, total);
  }
}

BENCHMARK(BM_BulkInsert)->Unit(benchmark::kSecond)->UseManualTime()->Iterations(1);
BENCHMARK(BM_LiveInsert)->Unit(benchmark::kMillisecond)->UseManualTime()->Iterations(1);
BENCHMARK(BM_Search)->Unit(benchmark::kMillisecond)->UseManualTime()->Iterations(1);
BENCHMARK(BM_Paging)->Unit(benchmark::kMillisecond)->UseManualTime()->Iterations(1);
BENCHMARK(BM_Unlock)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("vault")
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime()
    ->Iterations(3);

const char* verdict(double ratio) { return ratio <= 1.5 ? "meets 1.5x" : "MISSES 1.5x"; }

void print_ratio(const char* label, const char* key, double items, const char* unit) {
  const std::string k = key;
  const auto plain = g_seconds.find(k + "/plain");
  const auto aead = g_seconds.find(k + "/aead");
  if (plain == g_seconds.end() || aead == g_seconds.end() || plain->second <= 0) return;
  const double ratio = aead->second / plain->second;
  const double cpu_plain = g_values["cpu_" + k + "/plain"];
  const double cpu_ratio = cpu_plain > 0 ? g_values["cpu_" + k + "/aead"] / cpu_plain : 0;
  std::printf(
      "%-14s plain %8.3f s (%8.1f %s/s), encrypted %8.3f s (%8.1f %s/s), ratio %.2fx (CPU "
      "%.2fx)  %s\n",
      label, plain->second, items / plain->second, unit, aead->second, items / aead->second, unit,
      ratio, cpu_ratio, verdict(ratio));
}

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
  if (g_messages < kBatch) g_messages = kBatch;
  // What the VFS (and SQLite) log: why a read or write was refused.
  sqlite3_config(
      SQLITE_CONFIG_LOG,
      +[](void*, int code, const char* message) {
        // SQLITE_SCHEMA: FTS5 re-preparing its statements after the schema
        // is created; harmless.
        if (code != SQLITE_SCHEMA) std::fprintf(stderr, "sqlite %d: %s\n", code, message);
      },
      nullptr);
  const auto start = Clock::now();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  const int pages = static_cast<int>(paged_conversations().size()) * kPagesBack;

  std::printf("\nmessages: %d (bulk: transactions of %d; live: %d single-message commits)\n",
              g_messages, kBatch, kLiveMessages);
  std::printf("search: %d queries of Profile::search (limit %d); paging: %d pages of %d\n",
              kSearchCount, kPageSize, pages, kPageSize);
  std::printf(
      "cold = a new connection per query / conversation (empty SQLite page cache; the\n"
      "OS page cache stays warm); warm = best of %d rounds\n",
      kWarmRounds);
  std::printf("\n");
  print_ratio("bulk insert", "bulk", g_messages, "msg");
  print_ratio("live insert", "live", kLiveMessages, "msg");
  print_ratio("search, cold", "search_cold", kSearchCount, "query");
  print_ratio("search, warm", "search_warm", kSearchCount, "query");
  print_ratio("paging, cold", "paging_cold", pages, "page");
  print_ratio("paging, warm", "paging_warm", pages, "page");
  if (g_values.count("checkpoint_s/plain") && g_values.count("checkpoint_s/aead")) {
    std::printf("%-14s plain %8.3f s, encrypted %8.3f s (after the bulk insert; not in it)\n",
                "checkpoint", g_values["checkpoint_s/plain"], g_values["checkpoint_s/aead"]);
  }
  for (const char* name : {"password", "keyfile", "plain"}) {
    const auto it = g_seconds.find(std::string("unlock/") + name);
    if (it == g_seconds.end()) continue;
    const std::string n = name;
    std::printf("%-25s %7.1f ms = vault_read %6.1f ms + open %5.1f ms + first query %5.1f ms\n",
                (n == "password"  ? "unlock, master password"
                 : n == "keyfile" ? "unlock, key file"
                                  : "plain open (no key)"),
                it->second * 1000, g_values["unlock_read/" + n] * 1000,
                g_values["unlock_open/" + n] * 1000, g_values["unlock_query/" + n] * 1000);
  }
  if (g_values.count("bytes/plain") && g_values.count("bytes/aead")) {
    const double plain = g_values["bytes/plain"];
    const double aead = g_values["bytes/aead"];
    std::printf("%-14s plain %.0f bytes (%.1f MiB), encrypted %.0f bytes (%.1f MiB), +%.2f%%\n",
                "database size", plain, plain / 1048576, aead, aead / 1048576,
                (aead / plain - 1) * 100);
  }
  std::printf("total run time: %.1f s\n", since(start));
  return 0;
}
