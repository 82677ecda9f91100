// The desktop app's SIP accounts and calls against a real Kamailio: the
// wizard registers an account over TLS through the certificate dialog; the
// desktop user (a SIP account over UDP) dials a `sotto rpc` SIP user by name
// from the dial field, sees it ring, sees it connected once the other side
// answers, sees the call encrypted with the same four letters as the other
// side, confirms them, sends a key (the other side hears it), mutes and
// unmutes, holds and resumes (the other side sees the hold), and hangs up;
// then the other side calls, the ringing dialog answers, the call is
// encrypted again without a warning, and the other side hangs up; the call log lists both calls. A
// caller who gives up closes the ringing dialog (a missed call); Busy tells the caller "busy".
#include <QAbstractButton>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QRadioButton>
#include <QSpinBox>
#include <QTest>
#include <QToolButton>
#include <QTreeWidget>
#include <QWizard>

#include <unistd.h>

#include "account_wizard.h"
#include "call_window.h"
#include "dial_bar.h"
#include "gui_support.h"
#include "harness/kamailio.h"
#include "history_window.h"
#include "look.h"

using namespace sotto;
using namespace sotto::test;
using json = nlohmann::json;

namespace {

std::string unique(std::string_view name) {
  static int counter = 0;
  return std::string(name) + std::to_string(::getpid()) + "x" + std::to_string(counter++);
}

// The "call" object of the last call event of `rpc` that matches, if any.
std::optional<json> call_event(RpcProcess& rpc, const std::function<bool(const json&)>& match) {
  std::optional<json> found;
  for (const auto& e : rpc.events_seen()) {
    if (e.value("type", "") == "call" && e.contains("call") && e["call"].is_object() &&
        match(e["call"])) {
      found = e["call"];
    }
  }
  return found;
}

QString call_state(QWidget* window) { return child<QLabel>(window, "callState")->text(); }

}  // namespace

class GuiOnKamailio : public QObject {
  Q_OBJECT

 private:
  std::unique_ptr<Kamailio> server_;

  // A desktop user whose SIP account (UDP) is registered.
  GuiUser desktop_user() {
    GuiUser desk = new_gui_user();
    const std::string desk_user = unique("desk");
    desk.address = desk_user + "@" + server_->domain();
    desk.password = "Pw-" + unique("secret");
    server_->add_user(desk_user, desk.password);
    app::AccountSettings settings;
    settings.protocol = "sip";
    settings.address = desk.address;
    settings.host = "127.0.0.1";
    settings.port = server_->udp_port();
    settings.transport = "udp";
    settings.remember_password = true;
    auto added =
        desk.core->sync([&](app::Engine& e) { return e.add_account(settings, desk.password); });
    if (!added) throw std::runtime_error(added.error().message);
    // No sound server here: calls carry audio to and from nowhere.
    auto quiet = desk.core->sync([](app::Engine& e) {
      app::AudioSettings audio = e.audio_settings();
      audio.backend = "null";
      return e.set_audio_settings(audio);
    });
    if (!quiet) throw std::runtime_error(quiet.error().message);
    desk.state->reload();
    desk.window->connect_accounts();
    return desk;
  }

  // The other side: `sotto rpc` with a SIP account through the same server.
  struct RpcUser {
    std::unique_ptr<TempDir> home;
    std::unique_ptr<RpcProcess> rpc;
    std::string user;
    std::string address;
  };
  RpcUser rpc_user(std::string_view name) {
    RpcUser u;
    u.home = std::make_unique<TempDir>("sotto-user");
    u.user = unique(name);
    u.address = u.user + "@" + server_->domain();
    const std::string password = "Pw-" + unique("secret");
    server_->add_user(u.user, password);
    u.rpc = std::make_unique<RpcProcess>(
        SOTTO_CLI_PATH, std::vector<std::string>{"rpc"},
        std::map<std::string, std::string>{{"XDG_DATA_HOME", u.home->path().string()}});
    u.rpc->call("account.add", {{"address", u.address},
                                {"password", password},
                                {"protocol", "sip"},
                                {"transport", "udp"},
                                {"host", "127.0.0.1"},
                                {"port", server_->udp_port()},
                                {"remember", true}});
    u.rpc->call("calls.set", {{"audio", {{"backend", "null"}}}});
    u.rpc->call("account.connect", {{"address", u.address}, {"wait", true}}, 30s);
    return u;
  }

 private Q_SLOTS:
  void initTestCase() { server_ = std::make_unique<Kamailio>(); }
  void cleanupTestCase() { server_.reset(); }

  void wizardRegistersOverTlsThroughTheCertificateDialog() {
    GuiUser user = new_gui_user();
    const std::string name = unique("wizard");
    const std::string password = "Pw-" + unique("secret");
    server_->add_user(name, password);
    desktop::AccountWizard wizard(*user.state, user.window.get());
    wizard.show();
    // Kamailio's certificate is self-signed: the user is shown its
    // fingerprint and trusts it.
    DialogAnswerer trust("certificateDialog", "trust");
    child<QRadioButton>(&wizard, "sipAccount")->setChecked(true);
    wizard.next();
    const std::string address = name + "@" + server_->domain();
    child<QLineEdit>(&wizard, "address")->setText(QString::fromStdString("sip:" + address));
    child<QLineEdit>(&wizard, "password")->setText(QString::fromStdString(password));
    child<QToolButton>(&wizard, "advancedToggle")->setChecked(true);
    child<QLineEdit>(&wizard, "host")->setText(QStringLiteral("127.0.0.1"));
    child<QSpinBox>(&wizard, "port")->setValue(server_->tls_port());
    auto* transport = child<QComboBox>(&wizard, "transport");
    transport->setCurrentIndex(transport->findData(QStringLiteral("tls")));
    wizard.next();
    QTRY_VERIFY2_WITH_TIMEOUT(wizard.button(QWizard::FinishButton)->isEnabled(),
                              qPrintable(wizard.status_text()), 30000);
    QCOMPARE(trust.clicks, 1);
    QVERIFY(wizard.status_text().contains(QStringLiteral("registered")));
    QVERIFY(server_->wait_registered(name, 10s));
    const app::AccountSettings* settings = user.state->account(address);
    QVERIFY(settings != nullptr);
    QCOMPARE(settings->protocol, std::string("sip"));
    QCOMPARE(settings->transport, std::string("tls"));
    QCOMPARE(QString::fromStdString(settings->pinned_cert_sha256),
             QString::fromStdString(server_->cert_sha256()));
    wizard.button(QWizard::FinishButton)->click();
    // The main window lists it, registered, and offers the dial field.
    QTRY_VERIFY(user.window->accounts_view()->count() == 1);
    QVERIFY(user.window->accounts_view()->item(0)->text().contains(QStringLiteral("Registered")));
    QVERIFY(user.window->dial_bar()->isVisible());
  }

  void callerGivesUpOrHearsBusy() {
    GuiUser desk = desktop_user();
    QTRY_COMPARE_WITH_TIMEOUT(desk.state->account_state(desk.address), app::AccountState::online,
                              30000);
    RpcUser bob = rpc_user("bob");

    // Bob gives up before the desktop answers: the dialog goes away.
    const std::string first =
        bob.rpc->call("call.start", {{"account", bob.address}, {"to", desk.address}})
            .value("id", "");
    QTRY_VERIFY_WITH_TIMEOUT(top_level("incomingCall") != nullptr, 20000);
    bob.rpc->call("call.hangup", {{"id", first}});
    QTRY_VERIFY_WITH_TIMEOUT(top_level("incomingCall") == nullptr, 20000);
    QVERIFY(!top_level("callWindow"));

    // Busy: Bob's call ends "busy".
    const std::string second =
        bob.rpc->call("call.start", {{"account", bob.address}, {"to", desk.address}})
            .value("id", "");
    QWidget* ringing = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT((ringing = top_level("incomingCall")) != nullptr, 20000);
    child<QAbstractButton>(ringing, "busy")->click();
    QTRY_VERIFY(top_level("incomingCall") == nullptr);
    QTRY_VERIFY_WITH_TIMEOUT(call_event(*bob.rpc,
                                        [&](const json& c) {
                                          return c.value("id", "") == second &&
                                                 c.value("state", "") == "ended" &&
                                                 c.value("end_reason", "") == "busy";
                                        })
                                 .has_value(),
                             20000);
    QVERIFY(!top_level("callWindow"));

    // The call log says which was missed.
    desktop::HistoryWindow history(*desk.state);
    history.show_calls();
    auto* calls = child<QTreeWidget>(&history, "calls");
    QTRY_VERIFY_WITH_TIMEOUT(calls->topLevelItemCount() == 2, 10000);
    QVERIFY2(calls->topLevelItem(1)->text(5).contains(QStringLiteral("missed")),
             qPrintable(calls->topLevelItem(1)->text(5)));
    QVERIFY2(calls->topLevelItem(0)->text(5).contains(QStringLiteral("busy")),
             qPrintable(calls->topLevelItem(0)->text(5)));
  }

  void callRingHoldAndHangUpBothWays() {
    GuiUser desk = desktop_user();
    QTRY_COMPARE_WITH_TIMEOUT(desk.state->account_state(desk.address), app::AccountState::online,
                              30000);
    QTRY_VERIFY(
        desk.window->accounts_view()->count() == 1 &&
        desk.window->accounts_view()->item(0)->text().contains(QStringLiteral("Registered")));
    RpcUser bob_side = rpc_user("bob");
    RpcProcess& rpc = *bob_side.rpc;
    const std::string bob = bob_side.address;
    const std::string bob_user = bob_side.user;

    // The desktop calls Bob by his name alone (a user on the account's domain).
    desktop::DialBar* dial = desk.window->dial_bar();
    QVERIFY(dial->isVisible());
    QTest::keyClicks(dial->field(), QString::fromStdString(bob_user));
    QTest::keyClick(dial->field(), Qt::Key_Return);
    QVERIFY2(!dial->error()->isVisible(), qPrintable(dial->error()->text()));
    QWidget* window = nullptr;
    QTRY_VERIFY((window = top_level("callWindow")) != nullptr);
    QVERIFY(child<QLabel>(window, "peer")->text().contains(QString::fromStdString(bob)));
    QTRY_COMPARE_WITH_TIMEOUT(call_state(window), QStringLiteral("Ringing…"), 20000);

    // Bob answers.
    std::optional<json> incoming;
    QTRY_VERIFY_WITH_TIMEOUT((incoming = call_event(rpc,
                                                    [&](const json& c) {
                                                      return c.value("state", "") == "incoming" &&
                                                             c.value("peer", "") == desk.address;
                                                    })),
                             20000);
    const std::string bob_id = incoming->value("id", "");
    rpc.call("call.answer", {{"id", bob_id}});
    QTRY_VERIFY_WITH_TIMEOUT(call_state(window).startsWith(QStringLiteral("Connected")), 20000);
    QVERIFY(!child<QLabel>(window, "codec")->text().isEmpty());

    // Encrypted (ZRTP): both sides show the same four letters.
    QTRY_VERIFY_WITH_TIMEOUT(child<QWidget>(window, "sasBox")->isVisible(), 20000);
    QVERIFY(child<QLabel>(window, "security")->text().startsWith(QStringLiteral("Encrypted")));
    const QString desk_sas = child<QLabel>(window, "sas")->text();
    QCOMPARE(desk_sas.size(), 4);
    std::optional<json> bob_secure;
    QTRY_VERIFY_WITH_TIMEOUT((bob_secure = call_event(rpc,
                                                      [&](const json& c) {
                                                        return c.value("id", "") == bob_id &&
                                                               c.value("encryption", "") ==
                                                                   "secure" &&
                                                               c.contains("sas");
                                                      })),
                             20000);
    QCOMPARE(desk_sas, QString::fromStdString(bob_secure->value("sas", "")));
    // They match: the padlock says verified.
    child<QPushButton>(window, "sasMatch")->click();
    QTRY_COMPARE_WITH_TIMEOUT(child<QLabel>(window, "security")->text(),
                              QStringLiteral("Encrypted; partner verified"), 10000);
    QVERIFY(!child<QWidget>(window, "sasBox")->isVisible());
    // The quality line comes with the statistics.
    QTRY_VERIFY_WITH_TIMEOUT(child<QLabel>(window, "quality")->isVisible(), 10000);
    QVERIFY(child<QLabel>(window, "quality")->text().contains(QStringLiteral("round trip")));
    // A key on the keypad: Bob's side hears it.
    child<QPushButton>(window, "keypad")->click();
    child<QPushButton>(window, "key5")->click();
    QVERIFY2(!child<QWidget>(window, "callError")->isVisible(),
             qPrintable(child<QLabel>(window, "callError")->text()));
    QTRY_VERIFY_WITH_TIMEOUT(seen(rpc,
                                  [&](const json& e) {
                                    return e.value("type", "") == "dtmf" &&
                                           e.value("call", "") == bob_id &&
                                           e.value("digit", "") == "5";
                                  }),
                             10000);
    // Mute and back.
    auto* mute = child<QPushButton>(window, "mute");
    mute->click();
    QTRY_VERIFY_WITH_TIMEOUT(mute->isChecked(), 10000);
    mute->click();
    QTRY_VERIFY_WITH_TIMEOUT(!mute->isChecked(), 10000);

    // Hold: Bob's side hears of it; Resume.
    auto* hold = child<QPushButton>(window, "hold");
    QVERIFY(hold->isEnabled());
    hold->click();
    QTRY_COMPARE_WITH_TIMEOUT(call_state(window), QStringLiteral("On hold"), 20000);
    QTRY_VERIFY_WITH_TIMEOUT(call_event(rpc,
                                        [&](const json& c) {
                                          return c.value("id", "") == bob_id &&
                                                 c.value("remote_hold", false);
                                        })
                                 .has_value(),
                             20000);
    hold->click();
    QTRY_VERIFY_WITH_TIMEOUT(call_state(window).startsWith(QStringLiteral("Connected")), 20000);
    QTRY_VERIFY_WITH_TIMEOUT(call_event(rpc,
                                        [&](const json& c) {
                                          return c.value("id", "") == bob_id &&
                                                 c.value("state", "") == "active" &&
                                                 !c.value("remote_hold", true);
                                        })
                                 .has_value(),
                             20000);

    // Hang up: both ends see it ended.
    child<QPushButton>(window, "hangUp")->click();
    QTRY_COMPARE_WITH_TIMEOUT(call_state(window), QStringLiteral("Call ended: you hung up"), 20000);
    QTRY_VERIFY_WITH_TIMEOUT(call_event(rpc,
                                        [&](const json& c) {
                                          return c.value("id", "") == bob_id &&
                                                 c.value("state", "") == "ended" &&
                                                 c.value("end_reason", "") == "remote_hung_up";
                                        })
                                 .has_value(),
                             20000);
    child<QPushButton>(window, "close")->click();
    QTRY_VERIFY(!top_level("callWindow"));

    // Bob calls the desktop: the ringing dialog says who; Answer connects.
    const std::string back_id =
        rpc.call("call.start", {{"account", bob}, {"to", desk.address}}).value("id", "");
    QWidget* ringing = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT((ringing = top_level("incomingCall")) != nullptr, 20000);
    QVERIFY(child<QLabel>(ringing, "caller")->text().contains(QString::fromStdString(bob)));
    child<QAbstractButton>(ringing, "answer")->click();
    QTRY_VERIFY(!top_level("incomingCall"));
    QTRY_VERIFY_WITH_TIMEOUT((window = top_level("callWindow")) != nullptr, 20000);
    QTRY_VERIFY_WITH_TIMEOUT(call_state(window).startsWith(QStringLiteral("Connected")), 20000);
    // Encrypted again, with no warning: Bob's keys are the ones kept.
    QTRY_VERIFY_WITH_TIMEOUT(
        child<QLabel>(window, "security")->text().startsWith(QStringLiteral("Encrypted")), 20000);
    QVERIFY(!child<QWidget>(window, "keysChangedBanner")->isVisible());
    QTRY_VERIFY_WITH_TIMEOUT(call_event(rpc,
                                        [&](const json& c) {
                                          return c.value("id", "") == back_id &&
                                                 c.value("state", "") == "active";
                                        })
                                 .has_value(),
                             20000);
    rpc.call("call.hangup", {{"id", back_id}});
    QTRY_COMPARE_WITH_TIMEOUT(call_state(window), QStringLiteral("Call ended: they hung up"),
                              20000);

    // The call log has both, newest first.
    desktop::HistoryWindow history(*desk.state);
    history.show_calls();
    auto* calls = child<QTreeWidget>(&history, "calls");
    QTRY_VERIFY_WITH_TIMEOUT(calls->topLevelItemCount() >= 2, 10000);
    QVERIFY(calls->topLevelItem(0)->text(1).contains(QStringLiteral("Incoming")));
    QVERIFY(calls->topLevelItem(1)->text(1).contains(QStringLiteral("Outgoing")));
    QVERIFY(child<QPushButton>(&history, "deleteCalls")->isEnabled());
  }
};

QTEST_MAIN(GuiOnKamailio)
#include "gui_kamailio_test.moc"
