// Internals shared by the store's translation units. Not a public header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sotto/store/store.h"

namespace sotto::store::detail {

struct KeyBuffer {
  KeyBuffer();
  ~KeyBuffer();
  KeyBuffer(const KeyBuffer&) = delete;
  KeyBuffer& operator=(const KeyBuffer&) = delete;
  unsigned char* bytes = nullptr;  // kKeySize bytes, sodium_malloc'd
};

// The URI parameter that names a key in the registry.
inline constexpr const char* kKeyParam = "sotto_key";

// Registers a key for files opened with ?sotto_key=<token>; returns the token.
std::string register_key(std::shared_ptr<KeyBuffer> key);
void unregister_key(const std::string& token);

// Decrypts page pgno (1-based) of a main database image in place; false if the
// tag does not verify. page_size bytes at page.
bool decrypt_db_page(const KeyBuffer& key, std::uint32_t pgno, unsigned char* page,
                     std::size_t page_size);

}  // namespace sotto::store::detail

struct sqlite3_stmt;

namespace sotto::store::detail {

// A prepared statement with positional binding; finalized on destruction.
// Errors go through Database::error, so a damaged page reads as damage.
class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, std::int64_t value);
  Statement& bind_null(int index);
  // Binds text, or NULL when nullopt.
  Statement& bind_optional(int index, const std::optional<std::string>& text);

  // Steps once: true with a row, false when done.
  [[nodiscard]] Result<bool> step();
  // Steps to the end, ignoring rows.
  [[nodiscard]] Result<void> run();
  // Every row, each made by read(*this).
  template <class Read>
  [[nodiscard]] auto rows(Read read) -> Result<std::vector<decltype(read(*this))>> {
    std::vector<decltype(read(*this))> out;
    for (;;) {
      auto row = step();
      if (!row) return Unexpected(row.error());
      if (!*row) return out;
      out.push_back(read(*this));
    }
  }
  // Column 0 of the first row as text; nullopt when there is no row.
  [[nodiscard]] Result<std::optional<std::string>> optional_text();

  std::string text(int column) const;
  std::int64_t integer(int column) const;
  bool is_null(int column) const;

 private:
  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
  int prepare_rc_ = 0;
  std::string sql_;
};

}  // namespace sotto::store::detail
