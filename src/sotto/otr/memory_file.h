// Private to sotto/otr: libotr reads and writes its key, fingerprint and
// instance-tag stores through FILE*. These helpers give it anonymous memory
// instead of files on disk.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

#include "sotto/base/base.h"

namespace sotto::otr::detail {

// Runs `fn` on a FILE* open for reading and writing over an anonymous memfd
// that holds `input`, positioned at its start, then returns everything the
// file holds afterwards. A memfd rather than fmemopen: libotr's
// otrl_privkey_read_FILEp sizes its buffer with fstat(fileno(f)), which a
// fmemopen stream cannot answer. The stdio buffer and the memfd are wiped
// before they are released. `fn` returns libotr's gcry_error_t (0 = success).
[[nodiscard]] Result<std::string> with_memory_file(std::string_view input,
                                                   const std::function<unsigned(FILE*)>& fn);

// Overwrites and clears a string that held a secret.
void wipe(std::string& secret);
void wipe(char* secret);  // a NUL-terminated C string

}  // namespace sotto::otr::detail
