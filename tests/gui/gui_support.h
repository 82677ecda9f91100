// What the GUI tests share: a desktop user (profile folder, Core, State and
// main window) and small helpers to find widgets, answer modal dialogs and
// wait for `sotto rpc` events without blocking the GUI thread.
#pragma once

#include <QAbstractButton>
#include <QApplication>
#include <QTest>
#include <QTimer>
#include <QWidget>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include "core.h"
#include "harness/prosody.h"
#include "harness/rpc_client.h"
#include "main_window.h"
#include "state.h"

namespace sotto::test {

// A child of `root` by object name (null if none).
template <class T>
T* child(QObject* root, const char* name) {
  return root->findChild<T*>(QString::fromLatin1(name));
}

// A visible top-level widget (dialog) by object name, or null.
inline QWidget* top_level(const char* name) {
  for (QWidget* w : QApplication::topLevelWidgets()) {
    if (w->isVisible() && w->objectName() == QLatin1String(name)) return w;
  }
  return nullptr;
}

// Clicks the button `button` in the dialog `dialog` whenever one shows up
// (also inside a dialog's own exec() loop); counts the clicks.
class DialogAnswerer : public QObject {
 public:
  DialogAnswerer(const char* dialog, const char* button) : dialog_(dialog), button_(button) {
    timer_.setInterval(20);
    QObject::connect(&timer_, &QTimer::timeout, [this] {
      if (QWidget* w = top_level(dialog_)) {
        if (auto* b = child<QAbstractButton>(w, button_)) {
          ++clicks;
          b->click();
        }
      }
    });
    timer_.start();
  }
  int clicks = 0;

 private:
  const char* dialog_;
  const char* button_;
  QTimer timer_;
};

// A desktop user on a profile of its own (master password "test master
// password"), with the main window.
struct GuiUser {
  std::unique_ptr<TempDir> home;
  std::unique_ptr<desktop::Core> core;
  std::unique_ptr<desktop::State> state;
  std::unique_ptr<desktop::MainWindow> window;
  std::string address;
  std::string password;
};

inline GuiUser new_gui_user() {
  GuiUser user;
  user.home = std::make_unique<TempDir>("sotto-gui");
  user.core = std::make_unique<desktop::Core>("default", user.home->path());
  std::promise<Result<void>> created;
  user.core->post([&](app::Engine& engine) {
    engine.create_profile("test master password",
                          [&](Result<void> result) { created.set_value(result); });
  });
  auto result = created.get_future().get();
  if (!result) throw std::runtime_error("create_profile: " + result.error().message);
  user.state = std::make_unique<desktop::State>(*user.core);
  user.state->reload();
  user.window = std::make_unique<desktop::MainWindow>(*user.state);
  user.window->show();
  return user;
}

// Whether `rpc` has had an event that matches (taken by a wait or not).
inline bool seen(RpcProcess& rpc, const std::function<bool(const nlohmann::json&)>& match) {
  for (const auto& e : rpc.events_seen()) {
    if (match(e)) return true;
  }
  return false;
}

inline std::function<bool(const nlohmann::json&)> event_is(std::string type, std::string field = {},
                                                           std::string value = {}) {
  return [=](const nlohmann::json& e) {
    return e.value("type", "") == type && (field.empty() || e.value(field, "") == value);
  };
}

}  // namespace sotto::test
