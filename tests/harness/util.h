// Small helpers the harness's translation units share. Not for tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace sotto::test::detail {

// "what: strerror(errno)".
std::string errno_text(const std::string& what);

// $TMPDIR, or /tmp.
std::string temp_root();

// The file's bytes from `offset` on; empty if it cannot be read.
std::string read_file(const std::filesystem::path& path, std::uintmax_t offset = 0);

// The last `count` lines of text.
std::string tail_lines(const std::string& text, std::size_t count);

// The program's path on $PATH; throws naming the Debian package to install.
std::filesystem::path find_executable(const std::string& name, const std::string& package);

}  // namespace sotto::test::detail
