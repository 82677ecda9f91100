#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "sotto/base/base.h"

namespace sotto::paths {
namespace {

namespace fs = std::filesystem;

std::filesystem::path home_dir() {
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') return home;
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (getpwuid_r(getuid(), &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr &&
      found->pw_dir != nullptr && found->pw_dir[0] == '/')
    return found->pw_dir;
  return {};
}

bool valid_profile_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Like create_directories, but each folder we create is 0700 (XDG Base
// Directory spec), whatever the umask.
Result<void> make_private_dirs(const fs::path& target) {
  fs::path partial;
  for (const auto& part : target) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0700) == 0) {
      ::chmod(partial.c_str(), 0700);
    } else if (errno != EEXIST) {
      return fail(Errc::io,
                  "could not create the folder " + partial.string() + ": " + std::strerror(errno));
    }
  }
  return {};
}

}  // namespace

std::filesystem::path data_home() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && xdg[0] == '/')
    return fs::path(xdg) / "sotto";
  fs::path home = home_dir();
  if (home.empty()) return {};
  return home / ".local" / "share" / "sotto";
}

Result<std::filesystem::path> profile_dir(std::string_view profile, bool create) {
  if (!valid_profile_name(profile)) {
    std::string shown(profile.substr(0, 80));
    for (char& c : shown) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
    }
    return fail(Errc::invalid_argument,
                "\"" + shown +
                    "\" is not a valid profile name: use 1 to 64 letters, digits, '.', '_' or '-'");
  }
  const fs::path base = data_home();
  if (base.empty())
    return fail(Errc::io, "cannot find your home folder: set HOME or XDG_DATA_HOME");
  fs::path dir = base / std::string(profile);
  if (!create) return dir;

  if (auto made = make_private_dirs(dir); !made) return tl::make_unexpected(made.error());
  struct stat info {};
  if (::stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))
    return fail(Errc::io, dir.string() + " exists but is not a folder");
  if ((info.st_mode & 07777) != 0700 && ::chmod(dir.c_str(), 0700) != 0)
    return fail(Errc::io,
                "could not make " + dir.string() + " private (mode 0700): " + std::strerror(errno));
  return dir;
}

}  // namespace sotto::paths
