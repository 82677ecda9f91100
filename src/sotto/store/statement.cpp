#include <sqlite3.h>

#include "sotto/store/internal.h"

namespace sotto::store::detail {

Statement::Statement(Database& db, std::string_view sql) : db_(db), sql_(sql) {
  if (db_.handle() == nullptr) {
    prepare_rc_ = SQLITE_MISUSE;
    return;
  }
  prepare_rc_ = sqlite3_prepare_v2(db_.handle(), sql_.c_str(), static_cast<int>(sql_.size()),
                                   &stmt_, nullptr);
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, std::string_view text) {
  if (stmt_ != nullptr) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  if (stmt_ != nullptr) sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::bind_null(int index) {
  if (stmt_ != nullptr) sqlite3_bind_null(stmt_, index);
  return *this;
}

Statement& Statement::bind_optional(int index, const std::optional<std::string>& text) {
  return text ? bind(index, std::string_view(*text)) : bind_null(index);
}

Result<bool> Statement::step() {
  if (stmt_ == nullptr) {
    if (db_.handle() == nullptr) return fail(Errc::io, "the profile is locked");
    return Unexpected(db_.error(prepare_rc_, "preparing a statement"));
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Unexpected(db_.error(rc, "reading or writing the profile"));
}

Result<void> Statement::run() {
  for (;;) {
    auto row = step();
    if (!row) return Unexpected(row.error());
    if (!*row) return {};
  }
}

Result<std::optional<std::string>> Statement::optional_text() {
  auto row = step();
  if (!row) return Unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(text(0));
}

std::string Statement::text(int column) const {
  const auto* bytes = sqlite3_column_text(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  return bytes == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(bytes), size);
}

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

}  // namespace sotto::store::detail
