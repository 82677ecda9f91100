#include "sotto/store/profile.h"

#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <system_error>

#include "sotto/store/internal.h"

namespace sotto::store {
namespace {

using detail::Statement;

constexpr int kSchemaVersion = 2;

constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE accounts(
  address TEXT PRIMARY KEY,
  position INTEGER NOT NULL,
  protocol TEXT NOT NULL,
  settings TEXT NOT NULL,
  password TEXT
);
CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE contact_settings(
  account TEXT NOT NULL,
  peer TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY(account, peer, key)
);
CREATE TABLE messages(
  id INTEGER PRIMARY KEY,
  account TEXT NOT NULL,
  peer TEXT NOT NULL,
  resource TEXT NOT NULL DEFAULT '',
  message_id TEXT NOT NULL DEFAULT '',
  outgoing INTEGER NOT NULL,
  time_ms INTEGER NOT NULL,
  body TEXT NOT NULL,
  encrypted INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT ''
);
CREATE INDEX messages_conversation ON messages(account, peer, id);
CREATE UNIQUE INDEX messages_once ON messages(account, peer, outgoing, message_id)
  WHERE message_id != '';
CREATE VIRTUAL TABLE messages_fts USING fts5(
  body, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts(rowid, body) VALUES(new.id, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, body) VALUES('delete', old.id, old.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
  INSERT INTO messages_fts(messages_fts, rowid, body) VALUES('delete', old.id, old.body);
  INSERT INTO messages_fts(rowid, body) VALUES(new.id, new.body);
END;
CREATE TABLE calls(
  id INTEGER PRIMARY KEY,
  account TEXT NOT NULL,
  peer TEXT NOT NULL,
  outgoing INTEGER NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT '',
  secured INTEGER NOT NULL DEFAULT 0
);
)sql";

// Version 2: OTR keys, fingerprints with their trust, and instance tags, per
// account, as libotr's own text formats (otr/otr.h exports and imports them).
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE otr(
  account TEXT NOT NULL,
  kind TEXT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY(account, kind)
);
)sql";

// The steps from each version to the next; step i goes from i to i + 1.
constexpr const char* kMigrations[] = {kSchemaV1, kSchemaV2};
static_assert(sizeof kMigrations / sizeof kMigrations[0] == kSchemaVersion);

constexpr const char* kMessageColumns =
    "id, account, peer, resource, message_id, outgoing, time_ms, body, encrypted, state";

MessageRecord read_message(const Statement& s) {
  MessageRecord m;
  m.row = s.integer(0);
  m.account = s.text(1);
  m.peer = s.text(2);
  m.resource = s.text(3);
  m.message_id = s.text(4);
  m.outgoing = s.integer(5) != 0;
  m.time_ms = s.integer(6);
  m.body = s.text(7);
  m.encrypted = s.integer(8) != 0;
  m.state = s.text(9);
  return m;
}

std::uint64_t size_of(const std::filesystem::path& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

// Reads the vault into a DataKey; the key bytes pass through one wiped buffer.
Result<DataKey> read_vault(const std::filesystem::path& vault,
                           const std::optional<std::string>& master_password) {
  std::array<unsigned char, kDataKeyBytes> bytes{};
  auto read = vault_read(vault, master_password, bytes);
  if (!read) {
    sodium_memzero(bytes.data(), bytes.size());
    return Unexpected(read.error());
  }
  auto key = DataKey::from_bytes(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  sodium_memzero(bytes.data(), bytes.size());
  return key;
}

}  // namespace

std::string_view profile_schema() {
  static const std::string schema = [] {
    std::string all;
    for (const char* step : kMigrations) all += step;
    return all;
  }();
  return schema;
}

std::string fts_match_query(std::string_view words) {
  std::string query;
  std::size_t i = 0;
  while (i < words.size()) {
    while (i < words.size() && std::isspace(static_cast<unsigned char>(words[i]))) ++i;
    std::size_t end = i;
    while (end < words.size() && !std::isspace(static_cast<unsigned char>(words[end]))) ++end;
    if (end > i) {
      std::string word;
      for (char c : words.substr(i, end - i)) {
        if (c == '"') word += '"';
        word += c;
      }
      if (!query.empty()) query += ' ';
      query += '"' + word + "\"*";
    }
    i = end;
  }
  return query;
}

Profile::Profile(std::filesystem::path dir) : dir_(std::move(dir)) {}

Profile::~Profile() { lock(); }

Result<void> Profile::require_open() const {
  if (!db_) return fail(Errc::not_allowed, "the profile is locked");
  return {};
}

Result<std::optional<KeyProtection>> Profile::protection() const {
  auto kind = vault_protection(dir_ / kVaultFile);
  if (!kind) {
    if (kind.error().code == Errc::not_found) return std::optional<KeyProtection>();
    return Unexpected(kind.error());
  }
  return std::optional<KeyProtection>(*kind);
}

Result<DataKey> Profile::new_key(const std::filesystem::path& dir,
                                 const std::optional<std::string>& master_password, KdfCost cost) {
  if (master_password && master_password->empty()) {
    return fail(Errc::invalid_argument, "the master password is empty");
  }
  if (auto existing = vault_protection(dir / kVaultFile); existing) {
    return fail(Errc::already_exists, "the profile " + dir.string() + " exists");
  } else if (existing.error().code != Errc::not_found) {
    return Unexpected(existing.error());
  }
  const auto db_path = dir / kDatabaseFile;
  if (size_of(db_path) > 0) {
    return fail(Errc::io, "the profile's key is missing",
                db_path.string() + " exists without " + kVaultFile + "; it cannot be opened");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(Errc::io, "could not create " + dir.string(), ec.message());
  ::chmod(dir.c_str(), 0700);
  DataKey key = DataKey::random();
  auto written = vault_write(dir / kVaultFile,
                             std::span<const unsigned char, kDataKeyBytes>(key.data(), kKeySize),
                             master_password, cost);
  if (!written) return Unexpected(written.error());
  return key;
}

Result<DataKey> Profile::read_key(const std::filesystem::path& dir,
                                  const std::optional<std::string>& master_password) {
  return read_vault(dir / kVaultFile, master_password);
}

Result<void> Profile::rewrap_key(const std::filesystem::path& dir,
                                 const std::optional<std::string>& current,
                                 const std::optional<std::string>& next, KdfCost cost) {
  if (next && next->empty()) return fail(Errc::invalid_argument, "the master password is empty");
  // Reading the vault checks the current password before anything changes.
  auto key = read_vault(dir / kVaultFile, current);
  if (!key) return Unexpected(key.error());
  return vault_write(dir / kVaultFile,
                     std::span<const unsigned char, kDataKeyBytes>(key->data(), kKeySize), next,
                     cost);
}

Result<void> Profile::open_with(DataKey key) {
  if (db_) return {};
  auto db = Database::open(dir_ / kDatabaseFile, key);
  if (!db) return Unexpected(db.error());
  db_.emplace(std::move(*db));
  key_.emplace(std::move(key));
  if (auto ok = migrate(); !ok) {
    lock();
    return ok;
  }
  return {};
}

Result<void> Profile::create(const std::optional<std::string>& master_password, KdfCost cost) {
  auto key = new_key(dir_, master_password, cost);
  if (!key) return Unexpected(key.error());
  return open_with(std::move(*key));
}

Result<void> Profile::unlock(const std::optional<std::string>& master_password) {
  if (db_) return {};
  auto key = read_key(dir_, master_password);
  if (!key) return Unexpected(key.error());
  return open_with(std::move(*key));
}

Result<Database> Profile::open_companion(std::string_view file) const {
  if (!db_ || !key_) return fail(Errc::not_allowed, "the profile is locked");
  return Database::open(dir_ / std::string(file), *key_);
}

void Profile::lock() {
  db_.reset();
  key_.reset();
}

Result<void> Profile::change_master_password(const std::optional<std::string>& current,
                                             const std::optional<std::string>& next, KdfCost cost) {
  return rewrap_key(dir_, current, next, cost);
}

Result<void> Profile::migrate() {
  Statement version(*db_, "PRAGMA user_version");
  auto row = version.step();
  if (!row) return Unexpected(row.error());
  const std::int64_t current = *row ? version.integer(0) : 0;
  if (current == kSchemaVersion) return {};
  if (current > kSchemaVersion) {
    return fail(Errc::not_supported, "the profile was written by a newer Sotto (schema " +
                                         std::to_string(current) + "); update Sotto to open it");
  }
  std::string sql = "BEGIN;";
  for (std::int64_t step = current; step < kSchemaVersion; ++step) sql += kMigrations[step];
  sql += "PRAGMA user_version=" + std::to_string(kSchemaVersion) + ";COMMIT;";
  if (auto ok = db_->exec(sql); !ok) {
    (void)db_->exec("ROLLBACK");
    return ok;
  }
  return {};
}

Result<std::optional<std::string>> Profile::otr_data(std::string_view account,
                                                     std::string_view kind) {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  Statement s(*db_, "SELECT data FROM otr WHERE account = ?1 AND kind = ?2");
  s.bind(1, account).bind(2, kind);
  return s.optional_text();
}

Result<void> Profile::set_otr_data(std::string_view account, std::string_view kind,
                                   std::string_view data) {
  if (auto ok = require_open(); !ok) return ok;
  Statement s(*db_,
              "INSERT INTO otr(account, kind, data) VALUES(?1, ?2, ?3)"
              " ON CONFLICT(account, kind) DO UPDATE SET data = ?3");
  s.bind(1, account).bind(2, kind).bind(3, data);
  return s.run();
}

Result<void> Profile::check() {
  if (auto ok = require_open(); !ok) return ok;
  Statement s(*db_, "PRAGMA quick_check");
  auto row = s.step();
  if (!row) return Unexpected(row.error());
  if (!*row || s.text(0) != "ok") {
    return fail(Errc::io, std::string(kDamagedMessage), *row ? s.text(0) : "no result");
  }
  return {};
}

Result<ProfileCounts> Profile::counts() {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  ProfileCounts counts;
  Statement s(*db_,
              "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM messages),"
              " (SELECT count(*) FROM calls)");
  auto row = s.step();
  if (!row) return Unexpected(row.error());
  counts.accounts = s.integer(0);
  counts.messages = s.integer(1);
  counts.calls = s.integer(2);
  const auto db_path = dir_ / kDatabaseFile;
  counts.bytes_on_disk = size_of(db_path) + size_of(db_path.string() + "-wal");
  return counts;
}

// ---------------------------------------------------------------------------
// Accounts and settings

Result<std::vector<AccountRecord>> Profile::accounts() {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  Statement s(*db_, "SELECT address, protocol, settings, password FROM accounts ORDER BY position");
  return s.rows([](const Statement& row) {
    AccountRecord a;
    a.address = row.text(0);
    a.protocol = row.text(1);
    a.settings = row.text(2);
    if (!row.is_null(3)) a.password = row.text(3);
    return a;
  });
}

Result<void> Profile::put_account(const AccountRecord& account) {
  if (auto ok = require_open(); !ok) return ok;
  Statement s(*db_,
              "INSERT INTO accounts(address, position, protocol, settings, password)"
              " VALUES(?1, (SELECT coalesce(max(position), 0) + 1 FROM accounts), ?2, ?3, ?4)"
              " ON CONFLICT(address) DO UPDATE SET protocol = ?2, settings = ?3, password = ?4");
  s.bind(1, account.address).bind(2, account.protocol).bind(3, account.settings);
  s.bind_optional(4, account.password);
  return s.run();
}

Result<void> Profile::remove_account(std::string_view address) {
  if (auto ok = require_open(); !ok) return ok;
  // The account's OTR keys and trust go with it.
  Statement keys(*db_, "DELETE FROM otr WHERE account = ?1");
  keys.bind(1, address);
  if (auto removed = keys.run(); !removed) return removed;
  Statement s(*db_, "DELETE FROM accounts WHERE address = ?1");
  s.bind(1, address);
  return s.run();
}

Result<std::optional<std::string>> Profile::setting(std::string_view key) {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  Statement s(*db_, "SELECT value FROM settings WHERE key = ?1");
  s.bind(1, key);
  return s.optional_text();
}

Result<void> Profile::set_setting(std::string_view key, std::string_view value) {
  if (auto ok = require_open(); !ok) return ok;
  Statement s(*db_,
              "INSERT INTO settings(key, value) VALUES(?1, ?2)"
              " ON CONFLICT(key) DO UPDATE SET value = ?2");
  s.bind(1, key).bind(2, value);
  return s.run();
}

Result<std::optional<std::string>> Profile::contact_setting(std::string_view account,
                                                            std::string_view peer,
                                                            std::string_view key) {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  Statement s(*db_,
              "SELECT value FROM contact_settings WHERE account = ?1 AND peer = ?2 AND key = ?3");
  s.bind(1, account).bind(2, peer).bind(3, key);
  return s.optional_text();
}

Result<void> Profile::set_contact_setting(std::string_view account, std::string_view peer,
                                          std::string_view key,
                                          const std::optional<std::string>& value) {
  if (auto ok = require_open(); !ok) return ok;
  if (!value) {
    Statement s(*db_, "DELETE FROM contact_settings WHERE account = ?1 AND peer = ?2 AND key = ?3");
    s.bind(1, account).bind(2, peer).bind(3, key);
    return s.run();
  }
  Statement s(*db_,
              "INSERT INTO contact_settings(account, peer, key, value) VALUES(?1, ?2, ?3, ?4)"
              " ON CONFLICT(account, peer, key) DO UPDATE SET value = ?4");
  s.bind(1, account).bind(2, peer).bind(3, key).bind(4, *value);
  return s.run();
}

Result<void> Profile::begin_batch() {
  if (auto ok = require_open(); !ok) return ok;
  return db_->exec("BEGIN IMMEDIATE");
}

Result<void> Profile::commit_batch() {
  if (auto ok = require_open(); !ok) return ok;
  return db_->exec("COMMIT");
}

void Profile::rollback_batch() {
  if (db_ && sqlite3_get_autocommit(db_->handle()) == 0) (void)db_->exec("ROLLBACK");
}

// ---------------------------------------------------------------------------
// Chat history

Result<std::int64_t> Profile::add_message(const MessageRecord& m) {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  Statement insert(*db_,
                   "INSERT INTO messages(account, peer, resource, message_id, outgoing, time_ms,"
                   " body, encrypted, state) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                   " ON CONFLICT DO NOTHING RETURNING id");
  insert.bind(1, m.account).bind(2, m.peer).bind(3, m.resource).bind(4, m.message_id);
  insert.bind(5, std::int64_t{m.outgoing}).bind(6, m.time_ms).bind(7, m.body);
  insert.bind(8, std::int64_t{m.encrypted}).bind(9, m.state);
  auto row = insert.step();
  if (!row) return Unexpected(row.error());
  if (*row) {
    const std::int64_t id = insert.integer(0);
    if (auto done = insert.run(); !done) return Unexpected(done.error());
    return id;
  }
  Statement existing(*db_,
                     "SELECT id FROM messages WHERE account = ?1 AND peer = ?2 AND outgoing = ?3"
                     " AND message_id = ?4 AND message_id != ''");
  existing.bind(1, m.account).bind(2, m.peer).bind(3, std::int64_t{m.outgoing});
  existing.bind(4, m.message_id);
  auto found = existing.step();
  if (!found) return Unexpected(found.error());
  if (!*found) return fail(Errc::io, "the message could not be stored");
  return existing.integer(0);
}

Result<bool> Profile::set_message_state(std::string_view account, std::string_view peer,
                                        std::string_view message_id, std::string_view state) {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  if (message_id.empty()) return false;
  // A state never goes back: the recipient's receipt can arrive before the
  // server's acknowledgement, and "sent" must not then overwrite "delivered".
  constexpr const char* kRank =
      "CASE %s WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 WHEN 'failed' THEN 2"
      " WHEN 'delivered' THEN 3 ELSE 0 END";
  char old_rank[128];
  char new_rank[128];
  std::snprintf(old_rank, sizeof old_rank, kRank, "state");
  std::snprintf(new_rank, sizeof new_rank, kRank, "?4");
  Statement s(*db_, std::string("UPDATE messages SET state = ?4 WHERE account = ?1 AND peer = ?2"
                                " AND outgoing = 1 AND message_id = ?3 AND ") +
                        old_rank + " < " + new_rank);
  s.bind(1, account).bind(2, peer).bind(3, message_id).bind(4, state);
  if (auto ok = s.run(); !ok) return Unexpected(ok.error());
  if (sqlite3_changes(db_->handle()) > 0) return true;
  Statement exists(*db_,
                   "SELECT 1 FROM messages WHERE account = ?1 AND peer = ?2 AND outgoing = 1"
                   " AND message_id = ?3");
  exists.bind(1, account).bind(2, peer).bind(3, message_id);
  return exists.step();
}

Result<std::vector<MessageRecord>> Profile::conversation(std::string_view account,
                                                         std::string_view peer,
                                                         std::optional<std::int64_t> before,
                                                         std::size_t limit) {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  Statement s(*db_, std::string("SELECT ") + kMessageColumns +
                        " FROM messages WHERE account = ?1 AND peer = ?2 AND id < ?3"
                        " ORDER BY id DESC LIMIT ?4");
  s.bind(1, account).bind(2, peer).bind(3, before.value_or(INT64_MAX));
  s.bind(4, static_cast<std::int64_t>(limit));
  auto page = s.rows(read_message);
  if (page) std::reverse(page->begin(), page->end());
  return page;
}

Result<std::vector<ConversationRecord>> Profile::conversations() {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  Statement s(*db_,
              "SELECT account, peer, count(*), max(time_ms) FROM messages"
              " GROUP BY account, peer ORDER BY max(time_ms) DESC");
  return s.rows([](const Statement& row) {
    return ConversationRecord{row.text(0), row.text(1), row.integer(2), row.integer(3)};
  });
}

Result<std::vector<MessageRecord>> Profile::search(std::string_view words, std::size_t limit) {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  const std::string query = fts_match_query(words);
  if (query.empty()) return fail(Errc::invalid_argument, "there is nothing to search for");
  Statement s(*db_, std::string("SELECT ") + kMessageColumns +
                        " FROM messages WHERE id IN (SELECT rowid FROM messages_fts"
                        " WHERE messages_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2)"
                        " ORDER BY id DESC");
  s.bind(1, query).bind(2, static_cast<std::int64_t>(limit));
  return s.rows(read_message);
}

Result<std::int64_t> Profile::delete_conversation(std::string_view account, std::string_view peer) {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  Statement s(*db_, "DELETE FROM messages WHERE account = ?1 AND peer = ?2");
  s.bind(1, account).bind(2, peer);
  if (auto ok = s.run(); !ok) return Unexpected(ok.error());
  const std::int64_t deleted = sqlite3_changes(db_->handle());
  if (auto ok = scrub(); !ok) return Unexpected(ok.error());
  return deleted;
}

Result<std::int64_t> Profile::delete_all_messages() {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  std::int64_t deleted = 0;
  {
    Statement count(*db_, "SELECT count(*) FROM messages");
    auto row = count.step();
    if (!row) return Unexpected(row.error());
    deleted = count.integer(0);
  }  // the statement ends its read transaction here; the checkpoint needs that
  // Emptying the index in one go beats a 'delete' per row through the trigger.
  auto ok = db_->exec(
      "BEGIN;"
      "DROP TRIGGER messages_fts_delete;"
      "DELETE FROM messages;"
      "INSERT INTO messages_fts(messages_fts) VALUES('delete-all');"
      "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
      "  INSERT INTO messages_fts(messages_fts, rowid, body) VALUES('delete', old.id, old.body);"
      " END;"
      "COMMIT;");
  if (!ok) {
    (void)db_->exec("ROLLBACK");
    return Unexpected(ok.error());
  }
  if (auto scrubbed = scrub(); !scrubbed) return Unexpected(scrubbed.error());
  return deleted;
}

// After a delete: FTS5 keeps deleted entries in old index segments until they
// merge, so merge everything now; secure_delete has zeroed the freed pages;
// the checkpoint moves the result into the main file and truncates the WAL,
// which held the pages as they were.
Result<void> Profile::scrub() {
  if (auto ok = db_->exec("INSERT INTO messages_fts(messages_fts) VALUES('optimize')"); !ok) {
    return ok;
  }
  return db_->checkpoint();
}

// ---------------------------------------------------------------------------
// Call history

Result<std::int64_t> Profile::add_call(const CallRecord& call) {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  Statement s(*db_,
              "INSERT INTO calls(account, peer, outgoing, start_ms, end_ms, reason, secured)"
              " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  s.bind(1, call.account).bind(2, call.peer).bind(3, std::int64_t{call.outgoing});
  s.bind(4, call.start_ms).bind(5, call.end_ms).bind(6, call.reason);
  s.bind(7, std::int64_t{call.secured});
  if (auto ok = s.run(); !ok) return Unexpected(ok.error());
  return sqlite3_last_insert_rowid(db_->handle());
}

Result<void> Profile::finish_call(std::int64_t row, std::int64_t end_ms, std::string_view reason,
                                  bool secured) {
  if (auto ok = require_open(); !ok) return ok;
  Statement s(*db_, "UPDATE calls SET end_ms = ?2, reason = ?3, secured = ?4 WHERE id = ?1");
  s.bind(1, row).bind(2, end_ms).bind(3, reason).bind(4, std::int64_t{secured});
  if (auto ok = s.run(); !ok) return ok;
  if (sqlite3_changes(db_->handle()) == 0) return fail(Errc::not_found, "no such call");
  return {};
}

Result<std::vector<CallRecord>> Profile::calls(std::size_t limit) {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  Statement s(*db_,
              "SELECT id, account, peer, outgoing, start_ms, end_ms, reason, secured FROM calls"
              " ORDER BY start_ms DESC, id DESC LIMIT ?1");
  s.bind(1, static_cast<std::int64_t>(limit));
  return s.rows([](const Statement& row) {
    CallRecord c;
    c.row = row.integer(0);
    c.account = row.text(1);
    c.peer = row.text(2);
    c.outgoing = row.integer(3) != 0;
    c.start_ms = row.integer(4);
    c.end_ms = row.integer(5);
    c.reason = row.text(6);
    c.secured = row.integer(7) != 0;
    return c;
  });
}

Result<std::int64_t> Profile::delete_calls() {
  if (auto ok = require_open(); !ok) return Unexpected(ok.error());
  if (auto ok = db_->exec("DELETE FROM calls"); !ok) return Unexpected(ok.error());
  const std::int64_t deleted = sqlite3_changes(db_->handle());
  if (auto ok = db_->checkpoint(); !ok) return Unexpected(ok.error());
  return deleted;
}

}  // namespace sotto::store
