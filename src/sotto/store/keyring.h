// The desktop keyring (the freedesktop Secret Service, through libsecret) as a
// home for a profile's data key. Internal to the store: the vault uses it.
//
// libsecret is loaded with dlopen the first time a keyring is needed, so a
// program that never needs one does not pay for GLib at start-up. Nothing is
// tried without DBUS_SESSION_BUS_ADDRESS (no bus is ever autolaunched), no
// prompt is ever shown (a locked keyring counts as unavailable), and every
// call gives up after kKeyringDeadline. Calls are serialised.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>

#include "sotto/base/base.h"
#include "sotto/store/vault.h"

namespace sotto::store::keyring {

inline constexpr std::chrono::milliseconds kKeyringDeadline{2000};
inline constexpr std::size_t kVaultIdBytes = 16;

// The random id that names one item: attribute "vault" (hex) beside
// "application" = "sotto", schema "sotto.ProfileKey".
using VaultId = std::array<unsigned char, kVaultIdBytes>;

// The label the keyring's own manager shows: "Sotto profile key (<profile>)".
std::string item_label(std::string_view profile_name);

// Stores `key` (as 64 hex digits) in the default collection.
// Errc::not_supported when no unlocked keyring answers in time; Errc::io for
// anything else the keyring refuses.
[[nodiscard]] Result<void> store(const VaultId& id, std::string_view label,
                                 std::span<const unsigned char, kDataKeyBytes> key);

// Errc::not_found when the keyring answers but has no such item;
// Errc::not_supported when no keyring answers or the item is locked;
// Errc::io when the stored secret is not a key.
[[nodiscard]] Result<void> lookup(const VaultId& id,
                                  std::span<unsigned char, kDataKeyBytes> key_out);

// Deletes the item; success if it is already gone. Errc::not_supported when no
// keyring answers or the item is locked.
[[nodiscard]] Result<void> erase(const VaultId& id);

}  // namespace sotto::store::keyring
