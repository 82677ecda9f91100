#include "session.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <memory>

#include <asio/post.hpp>

namespace sotto::cli {
namespace {

// run_until() wakes at least this often, so that conditions on the clock
// (settle's quiet spell) are noticed; it only runs during bounded waits.
constexpr Millis kStep{50};
constexpr Millis kQuietSpell{250};
constexpr Millis kSettleWithoutReflection{1500};
constexpr Millis kSettleLimit{3000};
constexpr Millis kContactListGrace{5000};

bool is_down(app::AccountState state) {
  return state == app::AccountState::offline || state == app::AccountState::failed;
}

}  // namespace

Session::Session(asio::io_context& io, app::Engine& engine)
    : io_(io),
      engine_(engine),
      work_(io.get_executor()),
      signals_(io, SIGINT, SIGTERM),
      subscription_(engine.subscribe([this](const app::Event& event) { on_event(event); })),
      shutdown_timer_(io) {
  wait_for_signal();
}

Session::~Session() { engine_.unsubscribe(subscription_); }

void Session::wait_for_signal() {
  signals_.async_wait([this](std::error_code ec, int) {
    if (ec) return;
    if (interrupted_) {
      std::fputs("sotto: stopped\n", stderr);
      std::_Exit(1);
    }
    interrupted_ = true;
    if (on_interrupt_) on_interrupt_();
    wait_for_signal();
  });
}

void Session::on_event(const app::Event& event) {
  last_event_ = Clock::now();
  if (const auto* presence = std::get_if<app::PresenceChanged>(&event)) {
    if (settling_account_ && presence->account == *settling_account_ &&
        presence->address == *settling_account_) {
      own_presence_seen_ = true;
    }
  }
  // Never disconnect from inside the engine's dispatch: continue afterwards.
  if (shutdown_ && !shutdown_->finished) asio::post(io_, [this] { advance_shutdown(); });
}

Wait Session::run_until(const std::function<bool()>& done, Millis timeout, bool stop_on_interrupt) {
  const TimePoint deadline = Clock::now() + timeout;
  for (;;) {
    if (done()) return Wait::done;
    if (stop_on_interrupt && interrupted_) return Wait::interrupted;
    const TimePoint now = Clock::now();
    if (now >= deadline) return Wait::timed_out;
    io_.run_one_for(std::min<Clock::duration>(deadline - now, kStep));
    if (io_.stopped()) io_.restart();
  }
}

Result<void> Session::go_online(const std::string& account, std::optional<std::string> password,
                                app::Availability availability, std::string status,
                                Millis timeout) {
  bool online = false;
  bool loaded = false;
  std::optional<Error> failure;
  ScopedSubscription subscription(engine_, [&](const app::Event& event) {
    if (const auto* change = std::get_if<app::AccountStateChanged>(&event)) {
      if (change->account != account) return;
      switch (change->state) {
        case app::AccountState::online:
          online = true;
          break;
        case app::AccountState::failed:
        case app::AccountState::reconnecting:
          if (!online) {
            failure =
                change->error.value_or(Error{Errc::network, "could not connect " + account, {}});
          }
          break;
        case app::AccountState::offline:
          if (!online) failure = Error{Errc::cancelled, account + " was disconnected", {}};
          break;
        case app::AccountState::connecting:
          break;
      }
    } else if (const auto* contacts = std::get_if<app::ContactsLoaded>(&event)) {
      if (contacts->account == account) loaded = true;
    }
  });

  settling_account_ = account;
  own_presence_seen_ = false;
  if (auto started = engine_.connect(account, std::move(password), availability, std::move(status));
      !started) {
    return started;
  }
  if (engine_.state(account) == app::AccountState::online) online = loaded = true;

  switch (run_until([&] { return failure.has_value() || online; }, timeout)) {
    case Wait::done:
      break;
    case Wait::interrupted:
      return fail(Errc::cancelled, "interrupted");
    case Wait::timed_out:
      return fail(Errc::timeout, account + " did not get online in time");
  }
  if (failure) return Unexpected(*failure);
  // The contact list follows at once; a server that sends none is not an error.
  if (run_until([&] { return failure.has_value() || loaded; }, kContactListGrace) ==
      Wait::interrupted) {
    return fail(Errc::cancelled, "interrupted");
  }
  if (failure) return Unexpected(*failure);
  return {};
}

void Session::settle() {
  const TimePoint start = Clock::now();
  run_until(
      [&] {
        const TimePoint now = Clock::now();
        if (own_presence_seen_) return now - last_event_ >= kQuietSpell;
        return now - start >= kSettleWithoutReflection;
      },
      kSettleLimit);
}

std::size_t Session::unacked_on_live_accounts() {
  std::size_t count = 0;
  for (const auto& account : engine_.accounts()) {
    if (is_down(engine_.state(account.address))) continue;
    app::Provider* provider = engine_.provider(account.address);
    auto* im = provider ? provider->get<app::InstantMessaging>() : nullptr;
    if (im != nullptr) count += im->unacknowledged_messages();
  }
  return count;
}

bool Session::all_offline() {
  const auto accounts = engine_.accounts();
  return std::all_of(accounts.begin(), accounts.end(), [&](const app::AccountSettings& account) {
    return is_down(engine_.state(account.address));
  });
}

void Session::shut_down_async(std::function<void()> done, Millis limit) {
  if (shutdown_) {
    if (shutdown_->finished) {
      asio::post(io_, std::move(done));
    } else {
      shutdown_->done.push_back(std::move(done));
    }
    return;
  }
  shutdown_ = Shutdown{};
  shutdown_->deadline = Clock::now() + limit;
  shutdown_->done.push_back(std::move(done));
  shutdown_timer_.expires_at(shutdown_->deadline);
  shutdown_timer_.async_wait([this](std::error_code ec) {
    if (!ec) finish_shutdown();
  });
  asio::post(io_, [this] { advance_shutdown(); });
}

void Session::advance_shutdown() {
  if (!shutdown_ || shutdown_->finished) return;
  if (!shutdown_->disconnected) {
    if (unacked_on_live_accounts() > 0) return;  // each acknowledgement is an event: back here
    shutdown_->disconnected = true;
    engine_.disconnect_all();
  }
  if (all_offline()) finish_shutdown();
}

void Session::finish_shutdown() {
  if (!shutdown_ || shutdown_->finished) return;
  if (!shutdown_->disconnected) {
    shutdown_->disconnected = true;
    engine_.disconnect_all();
  }
  shutdown_->finished = true;
  shutdown_timer_.cancel();
  for (auto& done : std::exchange(shutdown_->done, {})) asio::post(io_, std::move(done));
}

void Session::shut_down(Millis limit) {
  auto done = std::make_shared<bool>(false);
  shut_down_async([done] { *done = true; }, limit);
  run_until([&] { return *done; }, limit + 1s, /*stop_on_interrupt=*/false);
  drain();
}

void Session::drain() {
  work_.reset();
  std::error_code ignored;
  signals_.clear(ignored);  // a Ctrl-C now ends the process the ordinary way
  signals_.cancel(ignored);
  shutdown_timer_.cancel();
  TimePoint deadline = shutdown_ ? shutdown_->deadline : Clock::now() + kShutdownLimit;
  deadline = std::max(deadline, Clock::now() + Millis(200));
  io_.restart();
  io_.run_until(deadline);
}

}  // namespace sotto::cli
