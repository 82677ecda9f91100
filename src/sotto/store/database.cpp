// Database: opening an encrypted profile database on the "sotto-aead" VFS.
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "sotto/store/internal.h"

namespace sotto::store {
namespace {

// "file:" URI for path with the VFS and the key token as parameters.
std::string make_uri(const std::filesystem::path& path, const std::string& token) {
  std::string uri = "file:";
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const unsigned char c : path.string()) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
        c == '-' || c == '_' || c == '.' || c == '~') {
      uri += static_cast<char>(c);
    } else {
      uri += '%';
      uri += kHex[c >> 4];
      uri += kHex[c & 15];
    }
  }
  uri += "?vfs=";
  uri += kVfsName;
  uri += '&';
  uri += detail::kKeyParam;
  uri += '=';
  uri += token;
  return uri;
}

bool is_auth_failure(int rc) {
  const int primary = rc & 0xff;
  return rc == SQLITE_IOERR_DATA || primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

// After an authentication failure while opening: do any of the first pages of
// the file open with this key? If none does, the key is most likely wrong.
Error diagnose(const std::filesystem::path& path, const detail::KeyBuffer& key) {
  std::ifstream in(path, std::ios::binary);
  unsigned char prefix[24] = {};
  if (!in.read(reinterpret_cast<char*>(prefix), sizeof prefix)) {
    return Error{Errc::io, std::string(kDamagedMessage), "the database file is truncated"};
  }
  int page_size = (prefix[16] << 8) | prefix[17];
  if (page_size == 1) page_size = 65536;
  if (page_size < 512 || page_size > 65536 || (page_size & (page_size - 1)) != 0 ||
      prefix[20] != kReserveBytes) {
    return Error{Errc::io, std::string(kDamagedMessage), "the database header is not ours"};
  }
  std::vector<unsigned char> page(static_cast<std::size_t>(page_size));
  in.seekg(0);
  int good = 0;
  std::uint32_t first_bad = 0;
  for (std::uint32_t pgno = 1; pgno <= 16; ++pgno) {
    if (!in.read(reinterpret_cast<char*>(page.data()), page_size)) break;
    if (detail::decrypt_db_page(key, pgno, page.data(), page.size())) {
      ++good;
    } else if (first_bad == 0) {
      first_bad = pgno;
    }
  }
  sodium_memzero(page.data(), page.size());
  std::string detail = first_bad != 0
                           ? "page " + std::to_string(first_bad) + " failed authentication"
                           : "the write-ahead log failed authentication";
  if (good == 0)
    return Error{Errc::auth, std::string(kDamagedMessage), "no page opens with this key"};
  return Error{Errc::io, std::string(kDamagedMessage), std::move(detail)};
}

}  // namespace

// ---------------------------------------------------------------------------
// DataKey

DataKey::DataKey(std::shared_ptr<detail::KeyBuffer> buffer) : buffer_(std::move(buffer)) {}

DataKey::~DataKey() = default;

DataKey DataKey::random() {
  (void)register_vfs();  // initialises libsodium
  auto buffer = std::make_shared<detail::KeyBuffer>();
  randombytes_buf(buffer->bytes, kKeySize);
  return DataKey(std::move(buffer));
}

Result<DataKey> DataKey::from_bytes(std::string_view bytes) {
  if (bytes.size() != kKeySize) {
    return fail(Errc::invalid_argument, "a data key is 32 bytes");
  }
  if (auto ok = register_vfs(); !ok) return Unexpected(ok.error());
  auto buffer = std::make_shared<detail::KeyBuffer>();
  std::memcpy(buffer->bytes, bytes.data(), kKeySize);
  return DataKey(std::move(buffer));
}

const unsigned char* DataKey::data() const { return buffer_ ? buffer_->bytes : nullptr; }

// ---------------------------------------------------------------------------
// Database

Result<Database> Database::open(const std::filesystem::path& path, const DataKey& key) {
  if (auto ok = register_vfs(); !ok) return Unexpected(ok.error());
  if (!key.buffer_) return fail(Errc::invalid_argument, "no data key");

  // Create the file 0600 ourselves: SQLite gives the -wal and -shm files the
  // mode of the database file.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail(Errc::io, "cannot create the profile database " + path.string(),
                std::strerror(errno));
  }
  struct stat st {};
  const bool is_new = ::fstat(fd, &st) == 0 && st.st_size == 0;
  ::close(fd);

  Database db;
  db.path_ = path;
  db.token_ = detail::register_key(key.buffer_);
  const std::string uri = make_uri(std::filesystem::absolute(path), db.token_);
  int rc = sqlite3_open_v2(uri.c_str(), &db.db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, nullptr);
  if (rc != SQLITE_OK) {
    if (is_auth_failure(db.db_ != nullptr ? sqlite3_extended_errcode(db.db_) : rc)) {
      return Unexpected(diagnose(path, *key.buffer_));
    }
    return fail(Errc::io, "cannot open the profile database " + path.string(),
                db.db_ != nullptr ? sqlite3_errmsg(db.db_) : sqlite3_errstr(rc));
  }
  sqlite3_extended_result_codes(db.db_, 1);
  // Another sotto process may hold the profile (a `listen` beside a `send`):
  // wait for its write to finish rather than fail.
  sqlite3_busy_timeout(db.db_, 10000);

  // Before the first write of a new database: 40 reserved bytes per page. On
  // an existing one this only matters to a later VACUUM, which keeps 40.
  int reserve = kReserveBytes;
  sqlite3_file_control(db.db_, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);

  auto setup = [&]() -> Result<void> {
    if (auto ok = db.exec("PRAGMA temp_store=MEMORY; PRAGMA mmap_size=0; PRAGMA secure_delete=ON;"
                          "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL;");
        !ok) {
      return ok;
    }
    // A new database switches to WAL with an in-memory rollback journal: the
    // VFS opens no journal files.
    if (is_new) {
      if (auto ok = db.exec("PRAGMA journal_mode=MEMORY"); !ok) return ok;
    }
    sqlite3_stmt* stmt = nullptr;
    rc = sqlite3_prepare_v2(db.db_, "PRAGMA journal_mode=WAL", -1, &stmt, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    const bool wal =
        rc == SQLITE_ROW &&
        std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))) == "wal";
    if (rc == SQLITE_ROW) rc = SQLITE_OK;
    sqlite3_finalize(stmt);
    if (rc != SQLITE_OK) return Unexpected(db.error(rc, "setting WAL mode"));
    if (!wal) return fail(Errc::io, "the profile database cannot use WAL mode");
    // Read the schema: this authenticates page 1 (and recovers the WAL).
    if (auto ok = db.exec("SELECT count(*) FROM sqlite_schema"); !ok) return ok;
    int current = -1;
    sqlite3_file_control(db.db_, "main", SQLITE_FCNTL_RESERVE_BYTES, &current);
    if (current != kReserveBytes) {
      return fail(Errc::io, std::string(kDamagedMessage), "the pages lack the reserved bytes");
    }
    return {};
  };
  if (auto ok = setup(); !ok) {
    Error err = ok.error();
    const int code = sqlite3_extended_errcode(db.db_);
    if (is_auth_failure(code) || err.message == kDamagedMessage) {
      err = diagnose(path, *key.buffer_);
    }
    return Unexpected(std::move(err));
  }
  return db;
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      token_(std::move(other.token_)),
      path_(std::move(other.path_)) {
  other.token_.clear();
}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    close();
    db_ = std::exchange(other.db_, nullptr);
    token_ = std::move(other.token_);
    other.token_.clear();
    path_ = std::move(other.path_);
  }
  return *this;
}

Database::~Database() { close(); }

void Database::close() {
  if (db_ != nullptr) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
  if (!token_.empty()) {
    detail::unregister_key(token_);
    token_.clear();
  }
}

Error Database::error(int rc, std::string_view what) const {
  const int code = db_ != nullptr ? sqlite3_extended_errcode(db_) : rc;
  if (is_auth_failure(code) || is_auth_failure(rc)) {
    return Error{Errc::io, std::string(kDamagedMessage), std::string(what)};
  }
  std::string detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  return Error{Errc::io, "profile database error while " + std::string(what), std::move(detail)};
}

Result<void> Database::exec(std::string_view sql) {
  if (db_ == nullptr) return fail(Errc::io, "the profile database is closed");
  const std::string text(sql);
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  sqlite3_free(message);
  if (rc != SQLITE_OK) return Unexpected(error(rc, "running a statement"));
  return {};
}

Result<void> Database::checkpoint() {
  if (db_ == nullptr) return fail(Errc::io, "the profile database is closed");
  const int rc =
      sqlite3_wal_checkpoint_v2(db_, "main", SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  if (rc != SQLITE_OK) return Unexpected(error(rc, "checkpointing"));
  return {};
}

}  // namespace sotto::store
