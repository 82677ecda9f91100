// sotto/store: the encrypted profile database.
//
// - DataKey: a 256-bit data key in sodium_malloc'd memory, wiped on destruction.
// - register_vfs(): the "sotto-aead" SQLite VFS that encrypts every page of the
//   database and of its WAL with XChaCha20-Poly1305 (format: docs/storage.md).
// - Database: an open encrypted database (WAL, no mmap, temp_store=MEMORY,
//   secure_delete=ON). Stock libsqlite3, FTS5 included, runs on top.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "sotto/base/base.h"

struct sqlite3;

namespace sotto::store {

inline constexpr std::size_t kKeySize = 32;
inline constexpr int kReserveBytes = 40;  // 24-byte nonce + 16-byte tag per page
inline constexpr const char* kVfsName = "sotto-aead";

// The message of every error caused by a page that fails authentication.
inline constexpr std::string_view kDamagedMessage = "the profile is damaged or the key is wrong";

namespace detail {
struct KeyBuffer;  // 32 bytes in sodium_malloc'd memory
}

// A 32-byte data key held in sodium_malloc'd memory; wiped and freed on
// destruction. Move-only.
class DataKey {
 public:
  [[nodiscard]] static DataKey random();
  [[nodiscard]] static Result<DataKey> from_bytes(std::string_view bytes);

  DataKey(DataKey&&) noexcept = default;
  DataKey& operator=(DataKey&&) noexcept = default;
  DataKey(const DataKey&) = delete;
  DataKey& operator=(const DataKey&) = delete;
  ~DataKey();

  const unsigned char* data() const;
  static constexpr std::size_t size() { return kKeySize; }

 private:
  explicit DataKey(std::shared_ptr<detail::KeyBuffer> buffer);
  friend class Database;
  std::shared_ptr<detail::KeyBuffer> buffer_;
};

// Registers the "sotto-aead" VFS (once, thread-safe) over the default VFS.
// It is not made the default VFS.
[[nodiscard]] Result<void> register_vfs();

// An open encrypted database. Move-only; closes on destruction.
class Database {
 public:
  // Opens (creating if needed, files 0600) the encrypted database at path.
  // Errors: a page that fails authentication gives kDamagedMessage with
  // Errc::auth when nothing in the file opens with this key (most likely the
  // wrong key) and Errc::io when some pages do (damage or tampering); the
  // detail names the page.
  [[nodiscard]] static Result<Database> open(const std::filesystem::path& path, const DataKey& key);

  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  sqlite3* handle() const { return db_; }
  const std::filesystem::path& path() const { return path_; }

  // Runs one or more statements without results.
  [[nodiscard]] Result<void> exec(std::string_view sql);

  // Maps the connection's last error (rc from a sqlite3_* call) to an Error;
  // authentication failures become kDamagedMessage.
  [[nodiscard]] Error error(int rc, std::string_view what) const;

  // Checkpoints the WAL and truncates it to zero bytes.
  [[nodiscard]] Result<void> checkpoint();

  void close();

 private:
  Database() = default;
  sqlite3* db_ = nullptr;
  std::string token_;  // the key's entry in the VFS key registry
  std::filesystem::path path_;
};

}  // namespace sotto::store
