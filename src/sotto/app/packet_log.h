// Private to sotto/app: the opt-in packet log (docs/packet-log.md).
//
// Plain text, outside the profile's encryption: each account's traffic, as
// its provider hands it over with the secrets of logging in taken out, is
// appended to <profile>/packets/<account>.log.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace sotto::app {

enum class PacketDirection { send, receive };

// The capability of a provider whose traffic can be logged.
class PacketCapture {
 public:
  using Observer = std::function<void(PacketDirection, std::string_view)>;
  virtual ~PacketCapture() = default;
  // Sees every write and read of the account's connection from now on,
  // without reconnecting; an empty observer stops it.
  virtual void set_packet_observer(Observer observer) = 0;
};

// The log files, opened on first use: the folder 0700, the files 0600.
class PacketLog {
 public:
  PacketLog() = default;
  ~PacketLog();
  PacketLog(const PacketLog&) = delete;
  PacketLog& operator=(const PacketLog&) = delete;

  void set_dir(std::filesystem::path dir) { dir_ = std::move(dir); }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path file(const std::string& account) const;

  // Appends one entry: "<UTC time> SEND|RECV <text>\n". A file that cannot be
  // opened or written gets one warning and is left alone until close().
  void write(const std::string& account, PacketDirection direction, std::string_view text);
  // Closes every file (logging off, the profile locked).
  void close();

 private:
  std::filesystem::path dir_;
  std::map<std::string, int> files_;  // account -> fd, -1 after a failure
};

}  // namespace sotto::app
