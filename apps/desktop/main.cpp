// sotto-desktop: the desktop app.
//
//   sotto-desktop [--profile NAME] [--data-home DIR] [--minimized] [xmpp:URI]
//
// One process per profile: a second start hands its xmpp: link (or just
// "show yourself") to the running one over a local socket and exits.
#include <QApplication>
#include <QCommandLineParser>
#include <QSocketNotifier>
#include <QTimer>

#include <fcntl.h>
#include <signal.h>

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <set>

#include "core.h"
#include "look.h"
#include "main_window.h"
#include "profile_dialogs.h"
#include "single_instance.h"
#include "state.h"

namespace {

using namespace sotto;

// SIGTERM (a desktop session ending) and SIGINT end Sotto in order, like
// File > Quit: the handler only writes a byte that the GUI thread reads.
int signal_pipe[2] = {-1, -1};

volatile sig_atomic_t signals_seen = 0;

void on_signal(int) {
  // A second one while the goodbye is under way ends the process at once.
  if (signals_seen != 0) ::_exit(1);
  signals_seen = 1;
  const char byte = 1;
  [[maybe_unused]] ssize_t ignored = ::write(signal_pipe[1], &byte, 1);
}

std::int64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("Sotto"));
  QApplication::setApplicationVersion(QStringLiteral(SOTTO_VERSION));
  QApplication::setDesktopFileName(QStringLiteral("org.sotto.Sotto"));
  QApplication::setQuitOnLastWindowClosed(false);
  QApplication::setWindowIcon(desktop::app_icon());

  QCommandLineParser parser;
  parser.setApplicationDescription(QApplication::translate("main", "Sotto: private chat"));
  parser.addHelpOption();
  parser.addVersionOption();
  QCommandLineOption profile_option(
      QStringLiteral("profile"),
      QApplication::translate("main", "Use the profile NAME (default \"default\")."),
      QStringLiteral("NAME"), QStringLiteral("default"));
  QCommandLineOption data_home_option(
      QStringLiteral("data-home"),
      QApplication::translate("main",
                              "Use DIR instead of $XDG_DATA_HOME (~/.local/share): profiles are "
                              "kept in DIR/sotto."),
      QStringLiteral("DIR"));
  QCommandLineOption minimized_option(QStringLiteral("minimized"),
                                      QApplication::translate("main", "Start in the tray."));
  QCommandLineOption startup_option(
      QStringLiteral("report-startup"),
      QApplication::translate("main",
                              "Print the monotonic clock (ns) at the main window's first "
                              "paint, then quit (benchmarks)."));
  QCommandLineOption online_option(
      QStringLiteral("report-online"),
      QApplication::translate("main",
                              "Print the monotonic clock (ns) and the number of contacts "
                              "once every account is online with its contacts "
                              "(benchmarks)."));
  parser.addOptions(
      {profile_option, data_home_option, minimized_option, startup_option, online_option});
  parser.addPositionalArgument(QStringLiteral("uri"),
                               QApplication::translate("main", "xmpp: link to open"));
  parser.process(app);

  const std::string profile = parser.value(profile_option).toStdString();
  std::optional<std::filesystem::path> data_home;
  if (parser.isSet(data_home_option)) {
    data_home = std::filesystem::path(parser.value(data_home_option).toStdString());
  }
  const QStringList uris = parser.positionalArguments();
  QStringList handed;
  for (const QString& uri : uris) handed << QStringLiteral("open ") + uri;
  if (handed.isEmpty()) handed << QStringLiteral("show");
  desktop::SingleInstance instance((data_home ? *data_home / "sotto" : paths::data_home()) /
                                   profile / "desktop.sock");
  // Listening starts before the profile is opened (the unlock dialog may stay
  // up for a while): a second start meanwhile hands over, it does not open
  // the same profile too. What arrives before the main window waits.
  QStringList early;
  desktop::MainWindow* ready = nullptr;
  auto handle = [&ready, &early](const QString& line) {
    if (ready == nullptr) {
      early << line;
    } else if (line.startsWith(QLatin1String("open "))) {
      ready->open_uri(line.mid(5));
    } else {
      ready->showNormal();
      ready->raise();
      ready->activateWindow();
    }
  };
  QObject::connect(&instance, &desktop::SingleInstance::received, &instance, handle);
  if (!parser.isSet(startup_option)) {
    if (instance.hand_over(handed)) return 0;
    if (instance.listen() == desktop::SingleInstance::Listen::taken) {
      std::fprintf(stderr, "sotto-desktop: another one is starting with this profile\n");
      return 1;
    }
  }

  desktop::Core core(profile, data_home);
  if (!desktop::open_profile(core, nullptr)) return 1;
  desktop::State state(core);
  state.reload();
  desktop::MainWindow window(state);

  std::unique_ptr<QSocketNotifier> quit_notifier;
  if (::pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) == 0) {
    quit_notifier = std::make_unique<QSocketNotifier>(signal_pipe[0], QSocketNotifier::Read);
    QObject::connect(quit_notifier.get(), &QSocketNotifier::activated, &window, [&window] {
      char byte = 0;
      while (::read(signal_pipe[0], &byte, 1) > 0) {
      }
      window.quit();
    });
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    ::sigaction(SIGTERM, &action, nullptr);
    ::sigaction(SIGINT, &action, nullptr);
  }

  ready = &window;
  for (const QString& line : std::exchange(early, {})) {
    QTimer::singleShot(0, &window, [handle, line] { handle(line); });
  }

  if (parser.isSet(startup_option)) {
    window.on_first_paint([&window] {
      std::printf("first-paint-monotonic-ns %lld\n", static_cast<long long>(monotonic_ns()));
      std::fflush(stdout);
      QTimer::singleShot(0, &window, [&window] { window.quit(); });
    });
  }
  if (!parser.isSet(minimized_option) || window.tray() == nullptr) window.show();
  if (parser.isSet(startup_option)) return QApplication::exec();

  if (parser.isSet(online_option)) {
    // Each account's contact list arrives right after it is online; print
    // once all are, and their contacts are in.
    auto loaded = std::make_shared<std::set<std::string>>();
    auto reported = std::make_shared<bool>(false);
    QObject::connect(&core, &desktop::Core::event, &window,
                     [&state, loaded, reported](const app::Event& event) {
                       if (const auto* e = std::get_if<app::ContactsLoaded>(&event)) {
                         loaded->insert(e->account);
                       }
                       if (*reported) return;
                       for (const auto& account : state.accounts()) {
                         if (!loaded->count(account.address) ||
                             state.account_state(account.address) != app::AccountState::online) {
                           return;
                         }
                       }
                       *reported = true;
                       std::printf("online-monotonic-ns %lld contacts %zu\n",
                                   static_cast<long long>(monotonic_ns()), state.contacts().size());
                       std::fflush(stdout);
                     });
  }
  window.connect_accounts();
  if (state.accounts().empty()) QTimer::singleShot(0, &window, [&window] { window.add_account(); });
  for (const QString& uri : uris) {
    QTimer::singleShot(0, &window, [&window, uri] { window.open_uri(uri); });
  }
  return QApplication::exec();
}
