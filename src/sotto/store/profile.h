// sotto/store profile: the encrypted profile folder and what it holds.
//
// A profile is a folder (0700) with two files that matter:
//   key         the vault: the data key, wrapped (see vault.h)
//   profile.db  the encrypted database (+ -wal, -shm), opened on "sotto-aead"
//
// Profile keeps the lifecycle (create, unlock, lock, master password) and the
// tables: accounts (with the passwords users chose to remember), settings,
// per-contact settings, chat history with an FTS5 index, and call history.
// Everything here runs on the core thread; nothing is cached in memory beyond
// SQLite's page cache.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sotto/base/base.h"
#include "sotto/store/store.h"
#include "sotto/store/vault.h"

namespace sotto::store {

inline constexpr const char* kVaultFile = "key";
inline constexpr const char* kDatabaseFile = "profile.db";
// The ZRTP cache (retained secrets, verified SAS), encrypted like profile.db.
inline constexpr const char* kZrtpCacheFile = "zrtp.db";

// For the benchmark: the same tables on plain SQLite.
std::string_view profile_schema();

// The user's words as the FTS5 query Profile::search runs: each word a quoted
// prefix, all required. Nothing the user types is FTS5 syntax, so no input is
// a query error.
std::string fts_match_query(std::string_view words);

// One account as the app layer stores it: the protocol and address are
// columns, everything else is the app's own (JSON) text.
struct AccountRecord {
  std::string address;
  std::string protocol;
  std::string settings;                 // opaque to the store
  std::optional<std::string> password;  // only when the user asked to remember it
};

struct MessageRecord {
  std::int64_t row = 0;  // history row id (0 until stored)
  std::string account;
  std::string peer;  // bare address
  std::string resource;
  std::string message_id;  // the protocol's id; may be empty
  bool outgoing = false;
  std::int64_t time_ms = 0;  // unix time, milliseconds
  std::string body;
  bool encrypted = false;  // sent or received inside an OTR conversation
  std::string state;       // delivery state of outgoing messages; "" for incoming
};

struct ConversationRecord {
  std::string account;
  std::string peer;
  std::int64_t messages = 0;
  std::int64_t last_time_ms = 0;
};

struct CallRecord {
  std::int64_t row = 0;
  std::string account;
  std::string peer;
  bool outgoing = false;
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;  // 0 while the call goes on
  std::string reason;       // why it ended ("hung up", "busy", "no answer", ...)
  bool secured = false;     // media was encrypted with a verified or unverified key
};

struct ProfileCounts {
  std::int64_t accounts = 0;
  std::int64_t messages = 0;
  std::int64_t calls = 0;
  std::uint64_t bytes_on_disk = 0;  // profile.db + -wal
};

class Profile {
 public:
  explicit Profile(std::filesystem::path dir);
  ~Profile();
  Profile(const Profile&) = delete;
  Profile& operator=(const Profile&) = delete;

  const std::filesystem::path& dir() const { return dir_; }

  // What guards the key; nullopt when the profile has not been created.
  [[nodiscard]] Result<std::optional<KeyProtection>> protection() const;

  // Creates a new profile: a random data key in a vault (under the master
  // password when given) and an empty database. Fails if one exists.
  [[nodiscard]] Result<void> create(const std::optional<std::string>& master_password,
                                    KdfCost cost = default_kdf_cost());
  // Reads the key and opens the database. Wrong password: Errc::auth and
  // nothing changes.
  [[nodiscard]] Result<void> unlock(const std::optional<std::string>& master_password);
  // Closes the database and wipes the key.
  void lock();

  // The same in two halves, so that Argon2id need not run on the core
  // thread: the static half touches only the vault file (any thread), the
  // other opens the database with the key.
  [[nodiscard]] static Result<DataKey> new_key(const std::filesystem::path& dir,
                                               const std::optional<std::string>& master_password,
                                               KdfCost cost = default_kdf_cost());
  [[nodiscard]] static Result<DataKey> read_key(const std::filesystem::path& dir,
                                                const std::optional<std::string>& master_password);
  [[nodiscard]] static Result<void> rewrap_key(const std::filesystem::path& dir,
                                               const std::optional<std::string>& current,
                                               const std::optional<std::string>& next,
                                               KdfCost cost = default_kdf_cost());
  [[nodiscard]] Result<void> open_with(DataKey key);
  bool is_open() const { return db_.has_value(); }

  // Sets (current = nullopt on an unprotected profile), changes or (next =
  // nullopt) removes the master password. Rewraps the key; the database is
  // not re-encrypted. A wrong current password changes nothing.
  [[nodiscard]] Result<void> change_master_password(const std::optional<std::string>& current,
                                                    const std::optional<std::string>& next,
                                                    KdfCost cost = default_kdf_cost());

  [[nodiscard]] Result<ProfileCounts> counts();
  // Reads every page in use and checks the structure (PRAGMA quick_check).
  [[nodiscard]] Result<void> check();

  // --- Accounts, in the order they were added
  [[nodiscard]] Result<std::vector<AccountRecord>> accounts();
  // Inserts or replaces by address.
  [[nodiscard]] Result<void> put_account(const AccountRecord& account);
  [[nodiscard]] Result<void> remove_account(std::string_view address);

  // --- Settings (key/value) and per-contact settings
  [[nodiscard]] Result<std::optional<std::string>> setting(std::string_view key);
  [[nodiscard]] Result<void> set_setting(std::string_view key, std::string_view value);
  [[nodiscard]] Result<std::optional<std::string>> contact_setting(std::string_view account,
                                                                   std::string_view peer,
                                                                   std::string_view key);
  [[nodiscard]] Result<void> set_contact_setting(std::string_view account, std::string_view peer,
                                                 std::string_view key,
                                                 const std::optional<std::string>& value);

  // --- Writes grouped into one transaction (one fsync): begin, any number of
  // writes, commit. Nothing is committed before commit_batch(); rollback on
  // failure is the caller's (rollback_batch()).
  [[nodiscard]] Result<void> begin_batch();
  [[nodiscard]] Result<void> commit_batch();
  void rollback_batch();

  // --- Chat history
  // Stores a message; returns its row. A message already stored (same
  // account, peer, direction and non-empty message id) is not stored twice:
  // the existing row is returned.
  [[nodiscard]] Result<std::int64_t> add_message(const MessageRecord& message);
  // Sets the delivery state of an outgoing message; false if none matched.
  [[nodiscard]] Result<bool> set_message_state(std::string_view account, std::string_view peer,
                                               std::string_view message_id, std::string_view state);
  // Up to `limit` messages of a conversation older than row `before` (all
  // when nullopt), oldest first.
  [[nodiscard]] Result<std::vector<MessageRecord>> conversation(std::string_view account,
                                                                std::string_view peer,
                                                                std::optional<std::int64_t> before,
                                                                std::size_t limit);
  [[nodiscard]] Result<std::vector<ConversationRecord>> conversations();
  // Full-text search across all history (words are matched as prefixes; all
  // must occur), newest first.
  [[nodiscard]] Result<std::vector<MessageRecord>> search(std::string_view words,
                                                          std::size_t limit);
  // Deletes, then erases what deleting leaves behind (FTS segments, freed
  // pages, WAL). Returns the number of messages deleted.
  [[nodiscard]] Result<std::int64_t> delete_conversation(std::string_view account,
                                                         std::string_view peer);
  [[nodiscard]] Result<std::int64_t> delete_all_messages();

  // --- OTR (issue 4): an account's private keys ("keys"), known fingerprints
  // with their trust ("trust") and instance tags ("instags"), each one blob in
  // libotr's text format. Keys are secret: they leave the profile only
  // through the engine that uses them.
  [[nodiscard]] Result<std::optional<std::string>> otr_data(std::string_view account,
                                                            std::string_view kind);
  [[nodiscard]] Result<void> set_otr_data(std::string_view account, std::string_view kind,
                                          std::string_view data);

  // --- Call history
  [[nodiscard]] Result<std::int64_t> add_call(const CallRecord& call);
  [[nodiscard]] Result<void> finish_call(std::int64_t row, std::int64_t end_ms,
                                         std::string_view reason, bool secured);
  [[nodiscard]] Result<std::vector<CallRecord>> calls(std::size_t limit);
  [[nodiscard]] Result<std::int64_t> delete_calls();

  // The open database (for tests and the bench).
  Database* database() { return db_ ? &*db_ : nullptr; }
  // Another encrypted database in the profile folder under the same data key
  // (the ZRTP cache, which bzrtp writes on the media thread through its own
  // connection). Needs the profile unlocked.
  [[nodiscard]] Result<Database> open_companion(std::string_view file) const;

 private:
  Result<void> require_open() const;
  Result<void> migrate();
  Result<void> scrub();

  std::filesystem::path dir_;
  std::optional<Database> db_;
  std::optional<DataKey> key_;
};

}  // namespace sotto::store
