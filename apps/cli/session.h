// The CLI's side of the core thread: the io_context, Ctrl-C, waiting for the
// engine, going online, and an orderly goodbye.
//
// One-shot commands run the loop in steps (run_until) and read like a
// sequence; long-running ones (listen, status, rpc) call io().run() and end
// with shut_down_async() and then drain().
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "sotto/app/app.h"
#include "sotto/base/base.h"

namespace sotto::cli {

using namespace std::chrono_literals;

// Unsubscribes when it goes out of scope.
class ScopedSubscription {
 public:
  ScopedSubscription(app::Engine& engine, std::function<void(const app::Event&)> handler)
      : engine_(engine), id_(engine.subscribe(std::move(handler))) {}
  ~ScopedSubscription() { engine_.unsubscribe(id_); }
  ScopedSubscription(const ScopedSubscription&) = delete;
  ScopedSubscription& operator=(const ScopedSubscription&) = delete;

 private:
  app::Engine& engine_;
  app::Engine::Subscription id_;
};

enum class Wait { done, timed_out, interrupted };

class Session {
 public:
  // Goodbye takes at most this long: messages still waiting for the server's
  // acknowledgement get that much time, then streams are closed.
  static constexpr Millis kShutdownLimit{3000};

  Session(asio::io_context& io, app::Engine& engine);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  asio::io_context& io() { return io_; }
  app::Engine& engine() { return engine_; }

  // Called on the core thread at the first SIGINT/SIGTERM; a second one ends
  // the process at once. Without a handler the signal only sets interrupted().
  void on_interrupt(std::function<void()> handler) { on_interrupt_ = std::move(handler); }
  bool interrupted() const { return interrupted_; }

  // Runs the loop until done() holds, the timeout passes, or (unless
  // `stop_on_interrupt` is false) the user interrupts.
  Wait run_until(const std::function<bool()>& done, Millis timeout, bool stop_on_interrupt = true);

  // Connects `account` and waits until it is online and its contact list has
  // arrived (so that no login request is left unanswered when a short command
  // disconnects). A failed first attempt returns its error.
  [[nodiscard]] Result<void> go_online(const std::string& account,
                                       std::optional<std::string> password,
                                       app::Availability availability, std::string status,
                                       Millis timeout);

  // After go_online: waits for the burst the server sends after our initial
  // presence (presences of contacts, subscription requests it re-delivers).
  // Prosody reflects our own presence first and sends the rest in the same
  // breath, so we wait for that reflection and then for a short quiet spell.
  void settle();

  // Waits for the server to acknowledge queued messages (accounts that are
  // not trying to be online are not waited for), then disconnects every
  // account; `done` is posted when all are offline or the limit has passed.
  void shut_down_async(std::function<void()> done, Millis limit = kShutdownLimit);
  // The same, run to completion, followed by drain().
  void shut_down(Millis limit = kShutdownLimit);

  // Lets outstanding I/O finish (closing streams flush, stdout writes) and
  // returns when nothing is left or the shutdown limit has passed.
  void drain();

 private:
  void wait_for_signal();
  void on_event(const app::Event& event);
  void advance_shutdown();
  void finish_shutdown();
  std::size_t unacked_on_live_accounts();
  bool all_offline();

  asio::io_context& io_;
  app::Engine& engine_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::signal_set signals_;
  std::function<void()> on_interrupt_;
  bool interrupted_ = false;
  app::Engine::Subscription subscription_;

  // For settle(): when the last event came, and which accounts have seen
  // their own presence reflected since going online.
  TimePoint last_event_{};
  std::optional<std::string> settling_account_;
  bool own_presence_seen_ = false;

  // No default member initializers: clang 14 cannot then default-construct
  // it inside std::optional while Session is incomplete. Value-initialize it.
  struct Shutdown {
    TimePoint deadline;
    bool disconnected;
    bool finished;
    std::vector<std::function<void()>> done;
  };
  std::optional<Shutdown> shutdown_;
  asio::steady_timer shutdown_timer_;
};

}  // namespace sotto::cli
