// Internals shared by the store's translation units. Not a public header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

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
