// sotto-desktop-screenshots OUTDIR: opens each window and dialog of the
// desktop app with realistic data and writes a PNG of each to OUTDIR, so a
// person can look at them. Run by scripts/screenshots under Xvfb.
//
// The data is real: a private Prosody on 127.0.0.1, the desktop user Alice
// and three `sotto rpc` contacts. Bob and Alice chat, go private and verify
// each other; Carol asks for authorization; Dana has not answered Alice's
// request yet; Erin chats privately and then gets a new key. The call
// windows (no SIP server here) are fed the events the engine sends for a
// call with Bob; a SIP account added last brings the dial field.
#include <QAbstractButton>
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QRadioButton>
#include <QSpinBox>
#include <QTest>
#include <QTextBrowser>
#include <QTimer>
#include <QToolButton>

#include <cstdio>
#include <functional>

#include "account_dialogs.h"
#include "account_wizard.h"
#include "authenticate_dialog.h"
#include "call_window.h"
#include "certificate_dialog.h"
#include "chat_window.h"
#include "contact_dialogs.h"
#include "contact_list.h"
#include "dial_bar.h"
#include "gui_support.h"
#include "history_window.h"
#include "options_dialog.h"
#include "profile_dialogs.h"

using namespace sotto;
using namespace sotto::test;
using json = nlohmann::json;

namespace {

QString out_dir;
int shots = 0;

void settle(int ms = 300) { QTest::qWait(ms); }

void shoot(QWidget* widget, const char* name) {
  widget->show();
  widget->raise();
  settle();
  const QString path = QDir(out_dir).filePath(QString::fromLatin1(name) + ".png");
  if (!widget->grab().save(path)) {
    std::fprintf(stderr, "could not write %s\n", qPrintable(path));
    std::exit(1);
  }
  ++shots;
  std::printf("%s\n", qPrintable(path));
}

// Waits (processing events) until `done` holds; fails loudly after 60 s.
void wait_for(const char* what, const std::function<bool()>& done) {
  for (int i = 0; i < 1200 && !done(); ++i) QTest::qWait(50);
  if (!done()) {
    std::fprintf(stderr, "screenshots: gave up waiting for %s\n", what);
    std::exit(1);
  }
}

struct Contact {
  std::unique_ptr<TempDir> home;
  std::unique_ptr<RpcProcess> rpc;
  std::string address;
};

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: sotto-desktop-screenshots OUTDIR\n");
    return 2;
  }
  out_dir = QString::fromLocal8Bit(argv[1]);
  QDir().mkpath(out_dir);
  Prosody server;
  const std::string domain = server.domain();

  auto contact = [&](const std::string& name) {
    Contact c;
    c.home = std::make_unique<TempDir>("sotto-shot");
    c.address = name + "@" + domain;
    c.rpc = std::make_unique<RpcProcess>(
        SOTTO_CLI_PATH, std::vector<std::string>{"rpc"},
        std::map<std::string, std::string>{{"XDG_DATA_HOME", c.home->path().string()}});
    c.rpc->call("account.register", {{"address", c.address},
                                     {"password", "pw-" + name},
                                     {"host", "127.0.0.1"},
                                     {"port", server.c2s_port()},
                                     {"pin", server.cert_sha256()},
                                     {"remember", true}});
    c.rpc->call("account.connect", {{"address", c.address}, {"wait", true}});
    return c;
  };

  // --- First start and unlock, on profiles of their own.
  {
    TempDir home("sotto-shot");
    desktop::Core core("default", home.path());
    desktop::FirstStartDialog first(core);
    child<QLineEdit>(&first, "masterPassword")->setText(QStringLiteral("river otter lantern 7"));
    child<QLineEdit>(&first, "confirmPassword")->setText(QStringLiteral("river otter lantern 7"));
    shoot(&first, "01-first-start");
  }
  {
    TempDir home("sotto-shot");
    {
      desktop::Core core("default", home.path());
      std::promise<Result<void>> created;
      core.post([&](app::Engine& e) {
        e.create_profile("right password", [&](Result<void> r) { created.set_value(r); });
      });
      created.get_future().get();
    }
    desktop::Core core("default", home.path());
    desktop::UnlockDialog unlock(core);
    child<QLineEdit>(&unlock, "masterPassword")->setText(QStringLiteral("wrong password"));
    child<QAbstractButton>(&unlock, "unlock")->click();
    settle(1500);
    shoot(&unlock, "02-unlock-wrong-password");
  }

  // --- Alice, with the account wizard.
  GuiUser alice = new_gui_user();
  alice.address = "alice@" + domain;
  {
    desktop::AccountWizard wizard(*alice.state, alice.window.get());
    child<QRadioButton>(&wizard, "createAccount")->setChecked(true);
    shoot(&wizard, "03-wizard-choose");
    wizard.next();
    child<QLineEdit>(&wizard, "address")->setText(QString::fromStdString(alice.address));
    child<QLineEdit>(&wizard, "password")->setText(QStringLiteral("correct horse battery"));
    child<QLineEdit>(&wizard, "confirm")->setText(QStringLiteral("correct horse batery"));
    wizard.next();  // refused: the passwords differ
    shoot(&wizard, "04-wizard-details-mismatch");
    child<QLineEdit>(&wizard, "confirm")->setText(QStringLiteral("correct horse battery"));
    if (auto* toggle = child<QAbstractButton>(&wizard, "advancedToggle")) toggle->click();
    child<QLineEdit>(&wizard, "host")->setText(QStringLiteral("127.0.0.1"));
    child<QSpinBox>(&wizard, "port")->setValue(server.c2s_port());
    // The self-signed certificate: photograph the question, then trust it.
    bool asked = false;
    QTimer answer;
    answer.setInterval(50);
    QObject::connect(&answer, &QTimer::timeout, [&] {
      if (QWidget* dialog = top_level("certificateDialog"); dialog && !asked) {
        asked = true;
        shoot(dialog, "05-certificate");
        child<QAbstractButton>(dialog, "trust")->click();
      }
    });
    answer.start();
    wizard.next();
    wait_for("the wizard to finish",
             [&] { return wizard.button(QWizard::FinishButton)->isEnabled(); });
    shoot(&wizard, "06-wizard-done");
    wizard.button(QWizard::FinishButton)->click();
  }
  alice.state->reload();

  Contact bob = contact("bob");
  Contact carol = contact("carol");
  Contact erin = contact("erin");
  auto befriend = [&](Contact& c, const std::string& name, const std::string& group) {
    alice.core->post([&, name, group](app::Engine& e) {
      e.add_contact(alice.address, c.address, name, {group}, [](Result<void>) {});
    });
    c.rpc->wait_event([&](const json& e) {
      return e.value("type", "") == "authorization.requested" &&
             e.value("address", "") == alice.address;
    });
    c.rpc->call("contact.authorize", {{"account", c.address}, {"address", alice.address}});
    wait_for("an authorization request", [&] {
      return alice.window->authorization_dialog(alice.address, c.address) != nullptr;
    });
    alice.window->authorization_dialog(alice.address, c.address)->authorize();
  };
  befriend(bob, "Bob Example", "Sources");
  befriend(erin, "Erin (newsroom)", "Colleagues");
  alice.core->post([&](app::Engine& e) {
    e.add_contact(alice.address, "dana@" + domain, "Dana Editor", {"Colleagues"},
                  [](Result<void>) {});
  });
  wait_for("Bob and Erin", [&] {
    auto* b = alice.state->contact(alice.address, bob.address);
    auto* e = alice.state->contact(alice.address, erin.address);
    return b && e && b->subscription == "both" && e->subscription == "both";
  });

  // A chat with Bob: plain at first, then private and verified.
  alice.window->chats().open_chat(alice.address, bob.address, true);
  desktop::ChatView* view = alice.window->chats().view(alice.address, bob.address);
  view->send_text(QStringLiteral("Hi Bob, are you there?"));
  bob.rpc->call(
      "message.send",
      {{"account", bob.address}, {"to", alice.address}, {"body", "Yes. Can we talk privately?"}});
  wait_for("Bob's reply",
           [&] { return view->transcript()->toPlainText().contains(QStringLiteral("privately")); });
  shoot(&alice.window->chats(), "07-chat-not-private");
  wait_for("Alice's key", [&] {
    return alice.core->sync([&](app::Engine& e) { return e.otr_fingerprint(alice.address); })
        .value_or(std::nullopt)
        .has_value();
  });
  wait_for("Bob's key", [&] {
    return bob.rpc->call("otr.fingerprint", {{"account", bob.address}})["fingerprint"].is_string();
  });
  view->start_action()->trigger();
  wait_for("a private conversation", [&] { return view->privacy() == app::Privacy::unverified; });
  bob.rpc->call("message.send", {{"account", bob.address},
                                 {"to", alice.address},
                                 {"body", "The documents are ready. Same place as last time?"}});
  wait_for("Bob's private message",
           [&] { return view->transcript()->toPlainText().contains(QStringLiteral("documents")); });
  view->send_text(QStringLiteral("Yes. Let's first make sure it is really you."));
  settle(500);
  shoot(&alice.window->chats(), "08-chat-private-unverified");

  desktop::AuthenticateDialog* auth = view->open_authenticate();
  auto* method = child<QComboBox>(auth, "method");
  method->setCurrentIndex(0);
  child<QLineEdit>(auth, "question")->setText(QStringLiteral("Where did we first meet?"));
  child<QLineEdit>(auth, "answer")->setText(QStringLiteral("the library"));
  shoot(auth, "09-authenticate-question");
  method->setCurrentIndex(2);
  shoot(auth, "10-authenticate-fingerprint");
  method->setCurrentIndex(1);
  child<QLineEdit>(auth, "secret")->setText(QStringLiteral("the blue door"));
  shoot(auth, "11-authenticate-secret");
  child<QAbstractButton>(auth, "ok")->click();
  bob.rpc->wait_event([](const json& e) {
    return e.value("type", "") == "otr.smp" && e.value("stage", "") == "asked_secret";
  });
  bob.rpc->call("otr.smpAnswer",
                {{"account", bob.address}, {"peer", alice.address}, {"answer", "the blue door"}});
  wait_for("verification", [&] { return view->privacy() == app::Privacy::verified; });
  settle(500);
  shoot(auth, "12-authenticate-succeeded");
  auth->close();
  bob.rpc->call("message.send",
                {{"account", bob.address}, {"to", alice.address}, {"body", "Verified here too."}});
  wait_for("Bob's last message", [&] {
    return view->transcript()->toPlainText().contains(QStringLiteral("Verified here too"));
  });
  shoot(&alice.window->chats(), "13-chat-private-verified");

  // Erin gets a new key: the banner.
  alice.window->chats().open_chat(alice.address, erin.address, true);
  desktop::ChatView* erin_view = alice.window->chats().view(alice.address, erin.address);
  wait_for("Erin's key", [&] {
    return erin.rpc->call("otr.fingerprint", {{"account", erin.address}})["fingerprint"]
        .is_string();
  });
  erin_view->start_action()->trigger();
  wait_for("private with Erin", [&] { return erin_view->privacy() == app::Privacy::unverified; });
  erin_view->end_action()->trigger();
  wait_for("Erin's conversation ended",
           [&] { return erin_view->privacy() == app::Privacy::not_private; });
  erin.rpc->call("otr.keygen", {{"account", erin.address}}, std::chrono::seconds(60));
  erin_view->start_action()->trigger();
  wait_for("the key-changed banner", [&] { return erin_view->key_changed_banner()->isVisible(); });
  shoot(&alice.window->chats(), "14-chat-key-changed");

  // Carol asks; Bob writes while Alice looks elsewhere: unread counts.
  alice.window->chats().hide();
  carol.rpc->call("contact.add", {{"account", carol.address}, {"address", alice.address}});
  wait_for("Carol's request", [&] {
    return alice.window->authorization_dialog(alice.address, carol.address) != nullptr;
  });
  shoot(alice.window->authorization_dialog(alice.address, carol.address), "15-authorization");
  alice.window->authorization_dialog(alice.address, carol.address)->hide();
  bob.rpc->call("message.send",
                {{"account", bob.address}, {"to", alice.address}, {"body", "One more thing."}});
  wait_for("an unread message", [&] { return alice.state->total_unread() > 0; });
  alice.window->resize(340, 600);
  shoot(alice.window.get(), "16-main-window");
  alice.window->filter()->setText(QStringLiteral("er"));
  shoot(alice.window.get(), "17-main-window-filtered");
  alice.window->filter()->clear();

  {
    desktop::AddContactDialog add(*alice.state, alice.window->contact_list()->group_names(),
                                  alice.window.get());
    add.address_edit()->setText(QStringLiteral("frank@"));
    add.name_edit()->setText(QStringLiteral("Frank"));
    add.accept();
    shoot(&add, "18-add-contact-invalid");
  }

  desktop::HistoryWindow history(*alice.state);
  history.resize(820, 520);
  history.show_conversation(alice.address, bob.address);
  settle(800);
  shoot(&history, "19-history");
  child<QLineEdit>(&history, "search")->setText(QStringLiteral("documents"));
  settle(1000);
  shoot(&history, "20-history-search");

  desktop::OptionsDialog options(*alice.state);
  options.resize(760, 520);
  options.show_page(desktop::OptionsDialog::Page::general);
  shoot(&options, "21-options-general");
  options.show_page(desktop::OptionsDialog::Page::security);
  shoot(&options, "22-options-security");
  options.show_page(desktop::OptionsDialog::Page::accounts);
  shoot(&options, "23-options-accounts");
  options.show_page(desktop::OptionsDialog::Page::advanced);
  shoot(&options, "24-options-advanced");

  {
    desktop::MasterPasswordDialog master(*alice.core);
    shoot(&master, "25-master-password");
    desktop::ChangePasswordDialog change(*alice.core, alice.address);
    shoot(&change, "26-change-account-password");
    desktop::EditAccountDialog edit(*alice.core, alice.address);
    shoot(&edit, "27-edit-account");
  }

  {
    desktop::AccountWizard wizard(*alice.state, alice.window.get());
    wizard.show();
    child<QRadioButton>(&wizard, "sipAccount")->setChecked(true);
    wizard.next();
    child<QLineEdit>(&wizard, "address")->setText(QStringLiteral("alice@sip example.org"));
    child<QLineEdit>(&wizard, "password")->setText(QStringLiteral("secret"));
    child<QToolButton>(&wizard, "advancedToggle")->setChecked(true);
    auto* transport = child<QComboBox>(&wizard, "transport");
    transport->setCurrentIndex(transport->findData(QStringLiteral("tls")));
    wizard.next();
    shoot(&wizard, "28-wizard-sip-invalid");
  }

  {
    app::CallInfo call;
    call.id = "screenshot-in";
    call.account = alice.address;
    call.peer = bob.address;
    call.state = app::CallState::incoming;
    call.start = std::chrono::system_clock::now();
    emit alice.core->event(app::Event{app::CallChanged{call}});
    wait_for("the ringing dialog", [] { return top_level("incomingCall") != nullptr; });
    shoot(top_level("incomingCall"), "29-incoming-call");
    call.state = app::CallState::active;
    call.connected = call.start - std::chrono::seconds(72);
    call.codec = "PCMU/8000";
    emit alice.core->event(app::Event{app::CallChanged{call}});
    wait_for("the call window", [] { return top_level("callWindow") != nullptr; });
    shoot(top_level("callWindow"), "30-call-connected");
    call.state = app::CallState::ended;
    call.end_reason = app::CallEndReason::remote_hung_up;
    emit alice.core->event(app::Event{app::CallChanged{call}});
    settle();
    shoot(top_level("callWindow"), "31-call-ended");
    top_level("callWindow")->close();
  }

  {
    // A SIP account (not registered here) brings the dial field.
    app::AccountSettings sip;
    sip.protocol = "sip";
    sip.address = "alice@sip.example.org";
    sip.host = "127.0.0.1";
    sip.port = 9;
    auto added = alice.core->sync([&](app::Engine& e) { return e.add_account(sip, "secret"); });
    if (!added) {
      std::fprintf(stderr, "screenshots: %s\n", added.error().message.c_str());
      return 1;
    }
    alice.state->reload();
    desktop::DialBar* dial = alice.window->dial_bar();
    dial->field()->setText(QStringLiteral("bob@"));
    dial->call_button()->click();
    shoot(alice.window.get(), "32-main-window-dial-invalid");
  }
  std::printf("%d screenshots in %s\n", shots, qPrintable(out_dir));
  alice.window->quit();
  return 0;
}
