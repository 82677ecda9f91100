// Standard input read on a thread of its own, for commands that read lines
// while the core thread runs (chat, call, listen).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "sotto/base/base.h"

namespace sotto::cli {

// Reads standard input on a thread of its own and posts what it read to the
// core thread. Unlike asio on fd 0, it leaves the terminal's file description
// blocking (stdout usually shares it, and std::cout must not meet EAGAIN).
class StdinReader {
 public:
  // `on_data` gets each chunk read (it may hold a secret: wipe it), `on_end`
  // the end of input; both run on the io_context's thread, never after stop().
  StdinReader(asio::io_context& io, std::function<void(std::string&)> on_data,
              std::function<void()> on_end)
      : io_(io), on_data_(std::move(on_data)), on_end_(std::move(on_end)) {
    if (::pipe2(wake_, O_CLOEXEC) != 0) {
      wake_[0] = wake_[1] = -1;
      asio::post(io_, [this] { deliver_end(); });
      return;
    }
    thread_ = std::thread([this] { run(); });
  }

  ~StdinReader() {
    stop();
    if (wake_[0] >= 0) ::close(wake_[0]);
    if (wake_[1] >= 0) ::close(wake_[1]);
  }
  StdinReader(const StdinReader&) = delete;
  StdinReader& operator=(const StdinReader&) = delete;

  // Stops reading; nothing is delivered afterwards.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    if (thread_.joinable()) {
      const char byte = 0;
      while (::write(wake_[1], &byte, 1) < 0 && errno == EINTR) {
      }
      thread_.join();
    }
  }

 private:
  static constexpr std::size_t kChunk = 16 * 1024;

  void run() {
    std::string chunk(kChunk, '\0');
    for (;;) {
      pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents != 0) return;
      const ssize_t n = ::read(STDIN_FILENO, chunk.data(), chunk.size());
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;
      std::string data(chunk.data(), static_cast<std::size_t>(n));
      std::fill_n(chunk.begin(), n, '\0');
      std::lock_guard lock(mutex_);
      if (stopped_) {
        secure_wipe(data);
        return;
      }
      asio::post(io_, [this, data = std::move(data)]() mutable {
        if (!is_stopped()) on_data_(data);
        secure_wipe(data);
      });
    }
    std::lock_guard lock(mutex_);
    if (!stopped_) asio::post(io_, [this] { deliver_end(); });
  }

  bool is_stopped() {
    std::lock_guard lock(mutex_);
    return stopped_;
  }

  void deliver_end() {
    if (!is_stopped()) on_end_();
  }

  asio::io_context& io_;
  std::function<void(std::string&)> on_data_;
  std::function<void()> on_end_;
  int wake_[2] = {-1, -1};
  std::mutex mutex_;
  bool stopped_ = false;
  std::thread thread_;
};

// Whether standard input may be read: not a terminal this process is in the
// background of (`sotto listen &`), where reading would stop it (SIGTTIN).
inline bool stdin_is_ours() {
  return ::isatty(STDIN_FILENO) == 0 || ::tcgetpgrp(STDIN_FILENO) == ::getpgrp();
}

// Splits what StdinReader delivers into lines (without their line ending).
class LineSplitter {
 public:
  explicit LineSplitter(std::function<void(std::string&)> on_line) : on_line_(std::move(on_line)) {}
  ~LineSplitter() { secure_wipe(partial_); }
  LineSplitter(const LineSplitter&) = delete;
  LineSplitter& operator=(const LineSplitter&) = delete;

  void feed(std::string& data) {
    for (char c : data) {
      if (c != '\n') {
        if (partial_.size() < kMaxLine) partial_.push_back(c);
        continue;
      }
      std::string line = std::move(partial_);
      partial_.clear();
      if (!line.empty() && line.back() == '\r') line.pop_back();
      on_line_(line);
      secure_wipe(line);
    }
  }
  // The end of input: a last line without its newline.
  void finish() {
    if (partial_.empty()) return;
    std::string line = std::move(partial_);
    partial_.clear();
    on_line_(line);
    secure_wipe(line);
  }

 private:
  static constexpr std::size_t kMaxLine = 64 * 1024;
  std::function<void(std::string&)> on_line_;
  std::string partial_;
};

}  // namespace sotto::cli
