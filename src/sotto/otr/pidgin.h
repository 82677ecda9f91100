// sotto/otr: importing Pidgin-OTR's key and fingerprint files.
//
// Pidgin keeps ~/.purple/otr.private_key (libotr's S-expression:
// (privkeys (account (name "alice@example.org/Pidgin") (protocol prpl-jabber)
// (private-key (dsa (p #..#) (q #..#) (g #..#) (y #..#) (x #..#)))) ...)) and
// ~/.purple/otr.fingerprints (lines username<TAB>account<TAB>protocol<TAB>
// 40 hex digits<TAB>trust). Both hold every account Pidgin knows; these
// functions pick one XMPP account's entries and rename them for an Engine.
//
// From Pidgin's files' text: the entries of `account` (a bare XMPP address;
// Pidgin's names may carry a resource, "alice@example.org/Pidgin") for
// protocol prpl-jabber, rewritten to the names an Engine with
// Options{account, protocol} uses, in libotr's format ready for
// Engine::import_keys / import_trust. Addresses compare as XMPP bare
// addresses (local part and domain case-insensitive, resource ignored).
// Contacts' names lose their resource.
//
// Errors: Errc::invalid_argument for an account that is not an XMPP address
// and for text that is not such a file (the message says why); never a
// crash. A file without an entry for the account gives count 0.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "sotto/base/base.h"

namespace sotto::otr {

struct PidginKeys {
  std::string blob;  // secret: wipe it (secure_wipe) once imported
  std::size_t count = 0;
};

// Pidgin makes a new key for every resource the account was used with
// ("alice@example.org/Pidgin", ".../laptop"); when several match, the last
// one in the file is taken (count stays 1): libotr writes the newest key
// last.
[[nodiscard]] Result<PidginKeys> pidgin_keys_for(std::string_view file_text,
                                                 std::string_view account,
                                                 std::string_view protocol);

struct PidginTrust {
  std::string blob;
  std::size_t count = 0;    // fingerprints in blob
  std::size_t skipped = 0;  // lines that could not be read (libotr skips them too)
};

// A contact's fingerprint seen from several resources (of the contact or of
// the account) is one entry; it is verified if any of the lines says so
// (Pidgin writes "verified" or "smp"; libotr treats any non-empty trust as
// verified).
[[nodiscard]] Result<PidginTrust> pidgin_fingerprints_for(std::string_view file_text,
                                                          std::string_view account,
                                                          std::string_view protocol);

}  // namespace sotto::otr
