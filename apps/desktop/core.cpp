#include "core.h"

#include <QCoreApplication>
#include <QMetaObject>

#include <asio/steady_timer.hpp>

namespace sotto::desktop {
namespace {

bool is_down(app::AccountState state) {
  return state == app::AccountState::offline || state == app::AccountState::failed;
}

// Messages an account that is not trying to be online keeps for later are not
// waited for.
std::size_t unacknowledged_on_live_accounts(app::Engine& engine) {
  std::size_t count = 0;
  for (const auto& account : engine.accounts()) {
    if (is_down(engine.state(account.address))) continue;
    app::Provider* provider = engine.provider(account.address);
    auto* im = provider ? provider->get<app::InstantMessaging>() : nullptr;
    if (im != nullptr) count += im->unacknowledged_messages();
  }
  return count;
}

// During the goodbye only: how often the acknowledgements are looked at.
constexpr std::chrono::milliseconds kShutdownStep{50};

}  // namespace

Core::Core(std::string profile, std::optional<std::filesystem::path> data_home, QObject* parent)
    : QObject(parent), work_(io_.get_executor()), opened_(tl::unexpected(Error{Errc::io, {}, {}})) {
  thread_ = std::thread([this] { io_.run(); });
  std::promise<void> created;
  asio::post(io_, [&] {
    engine_ = std::make_unique<app::Engine>(io_, std::move(profile), std::move(data_home));
    opened_ = engine_->open();
    profile_dir_ = engine_->profile_dir();
    engine_->subscribe(
        [this](const app::Event& event) { to_gui([this, event] { emit this->event(event); }); });
    created.set_value();
  });
  created.get_future().wait();
}

Core::~Core() {
  std::promise<void> destroyed;
  asio::post(io_, [&] {
    if (engine_) engine_->disconnect_all();
    engine_.reset();
    destroyed.set_value();
  });
  destroyed.get_future().wait();
  work_.reset();
  // Closing streams may still have a little to write.
  asio::post(io_, [this] {
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(300));
    timer->async_wait([this, timer](std::error_code) { io_.stop(); });
  });
  thread_.join();
}

void Core::to_gui(std::function<void()> fn) {
  QMetaObject::invokeMethod(this, std::move(fn), Qt::QueuedConnection);
}

void Core::shut_down(std::function<void()> done, std::chrono::milliseconds limit) {
  asio::post(io_, [this, done = std::move(done), limit]() mutable {
    advance_shutdown(std::chrono::steady_clock::now() + limit, false, std::move(done));
  });
}

void Core::advance_shutdown(std::chrono::steady_clock::time_point deadline, bool disconnected,
                            std::function<void()> done) {
  const bool late = std::chrono::steady_clock::now() >= deadline;
  if (!disconnected && (late || unacknowledged_on_live_accounts(*engine_) == 0)) {
    engine_->disconnect_all();
    disconnected = true;
  }
  bool all_down = disconnected;
  if (disconnected) {
    for (const auto& account : engine_->accounts()) {
      if (!is_down(engine_->state(account.address))) all_down = false;
    }
  }
  if (all_down || late) {
    to_gui(std::move(done));
    return;
  }
  auto timer = std::make_shared<asio::steady_timer>(io_, kShutdownStep);
  timer->async_wait(
      [this, timer, deadline, disconnected, done = std::move(done)](std::error_code) mutable {
        advance_shutdown(deadline, disconnected, std::move(done));
      });
}

}  // namespace sotto::desktop
