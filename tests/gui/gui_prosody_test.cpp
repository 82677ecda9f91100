// The desktop app against a real Prosody: the account wizard creates an
// account in-band (trusting the server's self-signed certificate through the
// certificate dialog, as a user would), and a desktop user and a `sotto rpc`
// contact authorize each other, chat, go private with OTR and verify each
// other by shared secret while the padlock follows.
#include <QAbstractButton>
#include <QComboBox>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QRadioButton>
#include <QSpinBox>
#include <QTest>
#include <QTextBrowser>
#include <QToolButton>
#include <QWizard>

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "account_wizard.h"
#include "authenticate_dialog.h"
#include "chat_window.h"
#include "contact_dialogs.h"
#include "contact_list.h"
#include "gui_support.h"

using namespace sotto;
using namespace sotto::test;
using json = nlohmann::json;

namespace {

std::string unique(std::string_view name) {
  static int counter = 0;
  return std::string(name) + std::to_string(::getpid()) + "x" + std::to_string(counter++);
}

}  // namespace

class GuiOnProsody : public QObject {
  Q_OBJECT

 private:
  std::unique_ptr<Prosody> server_;

  app::AccountSettings settings_for(const std::string& address) const {
    app::AccountSettings settings;
    settings.address = address;
    settings.host = "127.0.0.1";
    settings.port = server_->c2s_port();
    settings.pinned_cert_sha256 = server_->cert_sha256();
    settings.remember_password = true;
    return settings;
  }

  // A `sotto rpc` contact with a new account, online.
  struct RpcUser {
    std::unique_ptr<TempDir> home;
    std::unique_ptr<RpcProcess> rpc;
    std::string address;
  };
  RpcUser rpc_user(std::string_view name) {
    RpcUser user;
    user.home = std::make_unique<TempDir>("sotto-user");
    user.address = unique(name) + "@" + server_->domain();
    user.rpc = std::make_unique<RpcProcess>(
        SOTTO_CLI_PATH, std::vector<std::string>{"rpc"},
        std::map<std::string, std::string>{{"XDG_DATA_HOME", user.home->path().string()}});
    user.rpc->call("account.register", {{"address", user.address},
                                        {"password", "Pw-" + unique("secret")},
                                        {"host", "127.0.0.1"},
                                        {"port", server_->c2s_port()},
                                        {"pin", server_->cert_sha256()},
                                        {"remember", true}});
    user.rpc->call("account.connect", {{"address", user.address}, {"wait", true}});
    return user;
  }

  // A desktop user whose account was registered and is online.
  GuiUser gui_user_online(std::string_view name) {
    GuiUser user = new_gui_user();
    user.address = unique(name) + "@" + server_->domain();
    user.password = "Pw-" + unique("secret");
    server_->register_user(user.address.substr(0, user.address.find('@')), user.password);
    auto added = user.core->sync([&](app::Engine& engine) {
      return engine.add_account(settings_for(user.address), user.password);
    });
    if (!added) throw std::runtime_error(added.error().message);
    user.state->reload();
    user.window->connect_accounts();
    return user;
  }

  // Both have their OTR keys: a new account makes its key when it first goes
  // online, on a worker thread; a query that arrives before it is ready goes
  // unanswered.
  static void wait_for_keys(GuiUser& alice, RpcUser& bob) {
    QTRY_VERIFY_WITH_TIMEOUT(
        alice.core->sync([&](app::Engine& e) { return e.otr_fingerprint(alice.address); })
            .value_or(std::nullopt)
            .has_value(),
        60000);
    QTRY_VERIFY_WITH_TIMEOUT(
        bob.rpc->call("otr.fingerprint", {{"account", bob.address}})["fingerprint"].is_string(),
        60000);
  }

  std::string server_log() const {
    std::ifstream in(server_->log_path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // Fills the wizard's "create a new account" pages and starts it.
  void fill_wizard_for_new_account(QWizard& wizard, const std::string& address,
                                   const QString& password) {
    auto* create = child<QRadioButton>(&wizard, "createAccount");
    QVERIFY(create);
    create->setChecked(true);
    wizard.next();
    auto* address_edit = child<QLineEdit>(&wizard, "address");
    QVERIFY(address_edit);
    address_edit->setText(QString::fromStdString(address));
    child<QLineEdit>(&wizard, "password")->setText(password);
    child<QLineEdit>(&wizard, "confirm")->setText(password);
    child<QLineEdit>(&wizard, "host")->setText(QStringLiteral("127.0.0.1"));
    child<QSpinBox>(&wizard, "port")->setValue(server_->c2s_port());
    wizard.next();
  }

 private Q_SLOTS:
  void initTestCase() { server_ = std::make_unique<Prosody>(); }
  void cleanupTestCase() { server_.reset(); }

  void wizardCreatesAnAccountInBand() {
    GuiUser user = new_gui_user();
    const std::string local = unique("wizard");
    const std::string address = local + "@" + server_->domain();
    desktop::AccountWizard wizard(*user.state, user.window.get());
    wizard.show();
    // Prosody's certificate is self-signed: the user is shown its
    // fingerprint and trusts it.
    DialogAnswerer trust("certificateDialog", "trust");
    fill_wizard_for_new_account(wizard, address, QStringLiteral("a long enough password"));
    QTRY_VERIFY_WITH_TIMEOUT(wizard.button(QWizard::FinishButton)->isEnabled(), 30000);
    QCOMPARE(trust.clicks, 1);
    QVERIFY(server_->user_exists(local));
    QCOMPARE(user.state->account_state(address), app::AccountState::online);
    const app::AccountSettings* settings = user.state->account(address);
    QVERIFY(settings != nullptr);
    QCOMPARE(QString::fromStdString(settings->pinned_cert_sha256),
             QString::fromStdString(server_->cert_sha256()));
    wizard.button(QWizard::FinishButton)->click();
    // The main window lists it, online.
    QTRY_VERIFY(user.window->accounts_view()->count() == 1);
    QVERIFY(user.window->accounts_view()->item(0)->text().contains(QStringLiteral("Online")));
  }

  void wizardSaysWhenTheNameIsTaken() {
    const std::string local = unique("taken");
    server_->register_user(local, "someone else's password");
    GuiUser user = new_gui_user();
    desktop::AccountWizard wizard(*user.state, user.window.get());
    wizard.show();
    DialogAnswerer trust("certificateDialog", "trust");
    fill_wizard_for_new_account(wizard, local + "@" + server_->domain(),
                                QStringLiteral("another long password"));
    QTRY_VERIFY_WITH_TIMEOUT(wizard.status_text().contains(QStringLiteral("already taken")), 30000);
    QVERIFY(!wizard.button(QWizard::FinishButton)->isEnabled());
    // Nothing half-made is left behind.
    QVERIFY(user.state->account(local + "@" + server_->domain()) == nullptr);
  }

  void authorizeChatPrivatelyAndVerifyBySharedSecret() {
    GuiUser alice = gui_user_online("alice");
    RpcUser bob = rpc_user("bob");
    QTRY_COMPARE_WITH_TIMEOUT(alice.state->account_state(alice.address), app::AccountState::online,
                              20000);

    // Alice adds Bob from the Add contact dialog, with a name and a group.
    desktop::AddContactDialog add(*alice.state, {}, alice.window.get());
    add.show();
    add.set_account(alice.address);
    add.address_edit()->setText(QString::fromStdString(bob.address));
    add.name_edit()->setText(QStringLiteral("Bob Example"));
    add.group_box()->setCurrentText(QStringLiteral("Sources"));
    add.accept();
    QTRY_VERIFY_WITH_TIMEOUT(add.result() == QDialog::Accepted, 20000);
    desktop::ContactList* list = alice.window->contact_list();
    auto contact_row = [&]() -> QString {
      list->rebuild_now();
      const QModelIndexList found = list->model()->match(
          list->model()->index(0, 0), desktop::ContactList::kAddressRole,
          QString::fromStdString(bob.address), 1, Qt::MatchExactly | Qt::MatchRecursive);
      return found.isEmpty() ? QString() : found.front().data().toString();
    };
    // Until Bob answers, the list says so.
    QTRY_VERIFY_WITH_TIMEOUT(contact_row().contains(QStringLiteral("waiting for authorization")),
                             20000);
    QVERIFY(contact_row().startsWith(QStringLiteral("Bob Example")));

    // Bob authorizes and asks back; Alice answers in the authorization dialog.
    QTRY_VERIFY_WITH_TIMEOUT(
        seen(*bob.rpc, event_is("authorization.requested", "address", alice.address)), 20000);
    bob.rpc->call("contact.authorize", {{"account", bob.address}, {"address", alice.address}});
    QTRY_VERIFY_WITH_TIMEOUT(alice.window->authorization_dialog(alice.address, bob.address), 20000);
    auto* authorize = child<QAbstractButton>(
        alice.window->authorization_dialog(alice.address, bob.address), "authorize");
    QVERIFY(authorize);
    authorize->click();
    QTRY_VERIFY_WITH_TIMEOUT(
        alice.state->contact(alice.address, bob.address) &&
            alice.state->contact(alice.address, bob.address)->subscription == "both",
        20000);
    QTRY_VERIFY(!contact_row().contains(QStringLiteral("waiting")));
    QVERIFY(!alice.window->requests_button()->isVisible());

    // Both start OTR only when asked to: by default (opportunistic) the
    // first plain message's whitespace tag would start it before the padlock
    // is clicked.
    QVERIFY(alice.core->sync([&](app::Engine& e) {
      return e.set_contact_otr_policy(alice.address, bob.address, app::OtrPolicy::manual);
    }));
    bob.rpc->call("otr.setPolicy",
                  {{"account", bob.address}, {"peer", alice.address}, {"policy", "manual"}});

    // Double-click (activate) opens the chat; Enter sends.
    const std::size_t log_start = server_log().size();
    list->rebuild_now();
    const QModelIndexList bob_index = list->model()->match(
        list->model()->index(0, 0), desktop::ContactList::kAddressRole,
        QString::fromStdString(bob.address), 1, Qt::MatchExactly | Qt::MatchRecursive);
    QVERIFY(!bob_index.isEmpty());
    Q_EMIT list->activated(bob_index.front());
    desktop::ChatView* view = alice.window->chats().view(alice.address, bob.address);
    QVERIFY(view);
    QTest::keyClicks(view->input(), QStringLiteral("hello bob, plain for now"));
    QTest::keyClick(view->input(), Qt::Key_Return);
    QVERIFY(view->input()->toPlainText().isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(
        seen(*bob.rpc, event_is("message.received", "body", "hello bob, plain for now")), 20000);
    bob.rpc->call("message.send",
                  {{"account", bob.address}, {"to", alice.address}, {"body", "hi alice"}});
    QTRY_VERIFY_WITH_TIMEOUT(view->transcript()->toPlainText().contains(QStringLiteral("hi alice")),
                             20000);
    QCOMPARE(view->privacy(), app::Privacy::not_private);
    QVERIFY(!view->logging_notice()->isVisible());

    // The padlock starts a private conversation; both sides see it.
    wait_for_keys(alice, bob);
    if (QTest::currentTestFailed()) return;
    view->padlock()->click();
    QTRY_COMPARE_WITH_TIMEOUT(view->privacy(), app::Privacy::unverified, 30000);
    QVERIFY(view->padlock()->text().contains(QStringLiteral("unverified")));
    QTRY_VERIFY_WITH_TIMEOUT(seen(*bob.rpc,
                                  [&](const json& e) {
                                    return e.value("type", "") == "otr.privacy" &&
                                           e.value("privacy", "") == "unverified" &&
                                           e.value("peer", "") == alice.address;
                                  }),
                             20000);
    QVERIFY(view->logging_notice()->isVisible());

    QTest::keyClicks(view->input(), QStringLiteral("the meeting moved to tuesday"));
    QTest::keyClick(view->input(), Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(seen(*bob.rpc,
                                  [](const json& e) {
                                    return e.value("type", "") == "message.received" &&
                                           e.value("body", "") == "the meeting moved to tuesday" &&
                                           e.value("encrypted", false);
                                  }),
                             20000);
    bob.rpc->call(
        "message.send",
        {{"account", bob.address}, {"to", alice.address}, {"body", "noted, tuesday it is"}});
    QTRY_VERIFY_WITH_TIMEOUT(
        view->transcript()->toPlainText().contains(QStringLiteral("noted, tuesday it is")), 20000);
    const std::string log = server_log().substr(log_start);
    QVERIFY(log.find("hello bob, plain for now") != std::string::npos);  // the plain one
    QVERIFY(log.find("the meeting moved to tuesday") == std::string::npos);
    QVERIFY(log.find("noted, tuesday it is") == std::string::npos);

    // Authenticate by shared secret: Alice asks, Bob answers the same.
    view->authenticate_action()->trigger();
    auto* dialog = alice.window->chats().findChild<desktop::AuthenticateDialog*>();
    QTRY_VERIFY(dialog && dialog->isVisible());
    auto* method = child<QComboBox>(dialog, "method");
    QVERIFY(method);
    const int secret_index = method->findText(QStringLiteral("Shared secret"));
    QVERIFY(secret_index >= 0);
    method->setCurrentIndex(secret_index);
    child<QLineEdit>(dialog, "secret")->setText(QStringLiteral("the blue door"));
    child<QAbstractButton>(dialog, "ok")->click();
    QTRY_VERIFY_WITH_TIMEOUT(seen(*bob.rpc, event_is("otr.smp", "stage", "asked_secret")), 20000);
    bob.rpc->call("otr.smpAnswer",
                  {{"account", bob.address}, {"peer", alice.address}, {"answer", "the blue door"}});
    QTRY_COMPARE_WITH_TIMEOUT(view->privacy(), app::Privacy::verified, 30000);
    QVERIFY(view->padlock()->text().contains(QStringLiteral("verified")));
    QTRY_VERIFY(child<QLabel>(dialog, "result") &&
                child<QLabel>(dialog, "result")->text().contains(QStringLiteral("successful")));

    // Ending it from the padlock: not private any more, on both sides.
    view->end_action()->trigger();
    QTRY_COMPARE_WITH_TIMEOUT(view->privacy(), app::Privacy::not_private, 20000);
    QVERIFY(!view->logging_notice()->isVisible());
    QTRY_VERIFY_WITH_TIMEOUT(seen(*bob.rpc,
                                  [&](const json& e) {
                                    return e.value("type", "") == "otr.privacy" &&
                                           e.value("privacy", "") == "finished";
                                  }),
                             20000);
  }

  void changedKeyIsABannerThatCannotBeMissed() {
    GuiUser alice = gui_user_online("alice");
    RpcUser bob = rpc_user("bob");
    QTRY_COMPARE_WITH_TIMEOUT(alice.state->account_state(alice.address), app::AccountState::online,
                              20000);
    // Befriend through the engine: this test is about the banner.
    alice.core->post([&](app::Engine& e) {
      e.add_contact(alice.address, bob.address, "Bob", {}, [](Result<void>) {});
    });
    QTRY_VERIFY_WITH_TIMEOUT(
        seen(*bob.rpc, event_is("authorization.requested", "address", alice.address)), 20000);
    bob.rpc->call("contact.authorize", {{"account", bob.address}, {"address", alice.address}});
    QTRY_VERIFY_WITH_TIMEOUT(
        alice.state->contact(alice.address, bob.address) &&
            alice.state->contact(alice.address, bob.address)->subscription != "none",
        20000);

    alice.window->chats().open_chat(alice.address, bob.address, true);
    desktop::ChatView* view = alice.window->chats().view(alice.address, bob.address);
    QVERIFY(view);
    wait_for_keys(alice, bob);
    if (QTest::currentTestFailed()) return;
    view->start_action()->trigger();
    QTRY_COMPARE_WITH_TIMEOUT(view->privacy(), app::Privacy::unverified, 30000);
    QVERIFY(!view->key_changed_banner()->isVisible());
    view->end_action()->trigger();
    QTRY_COMPARE_WITH_TIMEOUT(view->privacy(), app::Privacy::not_private, 20000);

    // Bob gets a new key (a reinstall, or an impostor): the banner says so.
    bob.rpc->call("otr.keygen", {{"account", bob.address}}, 60s);
    view->start_action()->trigger();
    QTRY_COMPARE_WITH_TIMEOUT(view->privacy(), app::Privacy::unverified, 30000);
    QTRY_VERIFY_WITH_TIMEOUT(view->key_changed_banner()->isVisible(), 20000);
  }
};

QTEST_MAIN(GuiOnProsody)
#include "gui_prosody_test.moc"
