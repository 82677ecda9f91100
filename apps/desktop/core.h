// The desktop app's side of the core thread.
//
// The engine lives on a thread of its own (the core thread, one asio
// io_context); the GUI thread never touches it directly. It posts work there
// and gets answers and events back through Qt's event queue:
//
//   core.post([](app::Engine& e) { (void)e.set_log_history(false); });
//   auto fp = core.sync([&](app::Engine& e) { return e.otr_fingerprint(account); });
//   core.call(this, [=](app::Engine& e) { return e.history(a, p, {}, 50); },
//             [this](Result<std::vector<app::HistoryMessage>> rows) { show(rows); });
//   e.register_account(..., core.back<Result<void>>(this, [this](Result<void> r) { ... }));
//   connect(&core, &Core::event, this, &Widget::on_event);
//
// sync() is for quick reads and writes of the profile only (they take well
// under a millisecond): anything that touches the network or derives a key
// is asynchronous in the engine and comes back through back().
#pragma once

#include <QObject>
#include <QPointer>

#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "sotto/app/app.h"

namespace sotto::desktop {

class Core : public QObject {
  Q_OBJECT

 public:
  // Starts the core thread and creates the engine there. `profile` and
  // `data_home` as for app::Engine.
  explicit Core(std::string profile = "default",
                std::optional<std::filesystem::path> data_home = std::nullopt,
                QObject* parent = nullptr);
  // Disconnects what is still online (without waiting for acknowledgements:
  // call shut_down() first for an orderly goodbye), destroys the engine on
  // its thread and joins it.
  ~Core() override;
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // Runs `work` on the core thread.
  void post(std::function<void(app::Engine&)> work) {
    asio::post(io_, [this, work = std::move(work)] { work(*engine_); });
  }

  // Runs `work` on the core thread and waits for its result.
  template <class F>
  auto sync(F&& work) -> std::invoke_result_t<F, app::Engine&> {
    using R = std::invoke_result_t<F, app::Engine&>;
    if (std::this_thread::get_id() == thread_.get_id()) return work(*engine_);
    std::packaged_task<R()> task([&] { return work(*engine_); });
    auto result = task.get_future();
    asio::post(io_, [&task] { task(); });
    return result.get();
  }

  // Runs `work` on the core thread, then `done(result)` on the GUI thread,
  // unless `context` has been destroyed by then.
  template <class F, class Done>
  void call(QObject* context, F work, Done done) {
    using R = std::invoke_result_t<F, app::Engine&>;
    asio::post(io_, [this, context = QPointer<QObject>(context), work = std::move(work),
                     done = std::move(done)]() mutable {
      auto result = std::make_shared<R>(work(*engine_));
      to_gui([context, done = std::move(done), result]() mutable {
        if (context) done(std::move(*result));
      });
    });
  }

  // A callback for the engine's asynchronous operations: called on the core
  // thread, it runs `done` on the GUI thread unless `context` is gone.
  template <class T>
  std::function<void(T)> back(QObject* context, std::function<void(T)> done) {
    return [this, context = QPointer<QObject>(context), done = std::move(done)](T value) {
      auto shared = std::make_shared<T>(std::move(value));
      to_gui([context, done, shared] {
        if (context) done(std::move(*shared));
      });
    };
  }

  // The orderly goodbye: messages waiting for the server's acknowledgement
  // get up to `limit`, then every account disconnects; `done` runs on the GUI
  // thread when all are offline or the limit has passed.
  void shut_down(std::function<void()> done,
                 std::chrono::milliseconds limit = std::chrono::milliseconds(3000));

  const std::filesystem::path& profile_dir() const { return profile_dir_; }
  // The result of Engine::open(), run when the core started.
  const Result<void>& opened() const { return opened_; }

 signals:
  // Every engine event, on the GUI thread, in order.
  void event(const sotto::app::Event& event);

 private:
  void to_gui(std::function<void()> fn);
  void advance_shutdown(std::chrono::steady_clock::time_point deadline, bool disconnected,
                        std::function<void()> done);

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::unique_ptr<app::Engine> engine_;
  std::thread thread_;
  std::filesystem::path profile_dir_;
  Result<void> opened_;
};

}  // namespace sotto::desktop
