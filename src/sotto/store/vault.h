// sotto/store vault: the file that guards the profile's 256-bit data key.
//
// The data key encrypts the database; this file holds it wrapped:
// - with a master password: Argon2id (random salt, cost stored beside it)
//   derives a key-encryption key, and XChaCha20-Poly1305 wraps the data key;
// - without one, where a desktop keyring (Secret Service) answers: the key
//   lives there as an item, and this file names the item only;
// - else: the data key itself, in a 0600 file. That protects against someone
//   copying the database alone, not against someone with the account, and
//   every front end says so.
// Setting, changing or removing the master password rewraps the data key; the
// database is not re-encrypted. Writes are atomic (temp file, fsync, rename).
// Format: docs/storage.md, "The vault".
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sotto/base/base.h"

namespace sotto::store {

inline constexpr std::size_t kDataKeyBytes = 32;

struct KdfCost {
  unsigned long long ops;
  std::size_t mem_bytes;
};

// About half a second on this project's 2-core machines (Argon2id, 4 passes
// over 128 MiB).
KdfCost default_kdf_cost();
// The minimum libsodium allows: for tests only.
KdfCost fastest_kdf_cost();

enum class KeyProtection { master_password, keyring, key_file };

// What guards the key in `file`; Errc::not_found if there is no vault yet.
[[nodiscard]] Result<KeyProtection> vault_protection(const std::filesystem::path& file);

// Writes (or rewrites) the vault with `key`, wrapped under `master_password`
// when given. Without one, and with `use_keyring`, the key goes to the desktop
// keyring as "Sotto profile key (<name of file's folder>)" if one answers
// within about 2 s (only tried when DBUS_SESSION_BUS_ADDRESS is set; a locked
// keyring is not unlocked); otherwise it is stored as a key file. Mode 0600.
// When the vault it replaces named a keyring item, that item is deleted once
// the new file is in place; if the keyring cannot do that, the result is
// Errc::io saying so, and the new vault is in place all the same.
[[nodiscard]] Result<void> vault_write(const std::filesystem::path& file,
                                       std::span<const unsigned char, kDataKeyBytes> key,
                                       const std::optional<std::string>& master_password,
                                       KdfCost cost = default_kdf_cost(), bool use_keyring = true);

// Reads the data key into `key_out` (caller-owned, ideally sodium_malloc'd).
// Errc::auth "the master password is wrong" (nothing changes); Errc::auth
// "a master password is needed" when none is given for a protected vault;
// Errc::io "the profile's key file is damaged" for anything malformed.
// A keyring vault ignores `master_password`; Errc::io kKeyringUnavailable
// when no keyring answers (or it is locked), Errc::io kKeyringLostKey when it
// answers without the item.
[[nodiscard]] Result<void> vault_read(const std::filesystem::path& file,
                                      const std::optional<std::string>& master_password,
                                      std::span<unsigned char, kDataKeyBytes> key_out);

inline constexpr std::string_view kKeyringUnavailable =
    "the desktop keyring that holds this profile's key is not available; unlock it and try again";
inline constexpr std::string_view kKeyringLostKey =
    "the desktop keyring no longer has this profile's key; the profile cannot be opened";

// Deletes the vault file and the keyring item it names, if any (for deleting a
// profile). Success if there is no vault. When the keyring that holds the item
// does not answer, nothing is deleted and the result is Errc::io
// kKeyringUnavailable, so that no key is left behind unnamed.
[[nodiscard]] Result<void> vault_erase(const std::filesystem::path& file);

}  // namespace sotto::store
