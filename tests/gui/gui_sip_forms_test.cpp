// SIP in the desktop app without a server: the wizard's SIP path refuses a
// bad address in place and saves the transport chosen; the dial field
// refuses bad addresses in place and starts nothing; the ringing dialog and
// the call window follow a call's events (fed to the app as the engine
// would send them).
#include <QAbstractButton>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QSpinBox>
#include <QTest>
#include <QToolButton>
#include <QWizard>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "account_wizard.h"
#include "call_window.h"
#include "chat_window.h"
#include "dial_bar.h"
#include "gui_support.h"
#include "look.h"

using namespace sotto;
using namespace sotto::test;

namespace {

// A TCP port on 127.0.0.1 that nobody listens on.
uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

QString visible_errors(QWidget* root) {
  QStringList texts;
  for (auto* error : root->findChildren<desktop::FieldError*>()) {
    if (error->isVisible()) texts << error->text();
  }
  return texts.join(QLatin1Char('|'));
}

app::AccountSettings sip_account(const std::string& address) {
  app::AccountSettings settings;
  settings.protocol = "sip";
  settings.address = address;
  settings.host = "127.0.0.1";
  settings.port = closed_port();
  return settings;
}

app::CallInfo a_call(std::string id, std::string account, std::string peer, bool outgoing,
                     app::CallState state) {
  app::CallInfo call;
  call.id = std::move(id);
  call.account = std::move(account);
  call.peer = std::move(peer);
  call.outgoing = outgoing;
  call.state = state;
  call.start = std::chrono::system_clock::now();
  return call;
}

// What the engine would send.
void feed(GuiUser& user, const app::CallInfo& call) {
  emit user.core->event(app::Event{app::CallChanged{call}});
}

int visible_top_levels(const char* name) {
  int count = 0;
  for (QWidget* w : QApplication::topLevelWidgets()) {
    if (w->isVisible() && w->objectName() == QLatin1String(name)) ++count;
  }
  return count;
}

}  // namespace

class GuiSipForms : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void sipWizardRefusesBadAddressInPlaceAndSavesTransport() {
    GuiUser user = new_gui_user();
    desktop::AccountWizard wizard(*user.state, user.window.get());
    wizard.show();
    auto* sip = child<QRadioButton>(&wizard, "sipAccount");
    QVERIFY(sip);
    sip->setChecked(true);
    const int choose_page = wizard.currentId();
    wizard.next();
    const int details_page = wizard.currentId();
    QVERIFY(details_page != choose_page);
    auto* address = child<QLineEdit>(&wizard, "address");
    auto* password = child<QLineEdit>(&wizard, "password");
    auto* address_error = child<desktop::FieldError>(&wizard, "addressError");
    QVERIFY(address && password && address_error);
    // A SIP account has no "type it again": nothing is created on a server.
    QVERIFY(!child<QLineEdit>(&wizard, "confirm")->isVisible());
    password->setText(QStringLiteral("secret"));
    for (const char* bad : {"", "alice", "alice@", "@sip.example.org", "al ice@sip.example.org",
                            "alice@sip example.org", "alice@sip.example.org:5060",
                            "sips:alice@sip.example.org", "a<b>@sip.example.org"}) {
      address->setText(QString::fromLatin1(bad));
      wizard.next();
      QVERIFY2(wizard.currentId() == details_page, bad);
      QVERIFY2(address_error->isVisible(), bad);
      QVERIFY2(!address_error->text().isEmpty(), bad);
    }
    QVERIFY(user.state->accounts().empty());

    // Advanced: the SIP settings, not XMPP's direct TLS.
    child<QToolButton>(&wizard, "advancedToggle")->setChecked(true);
    auto* transport = child<QComboBox>(&wizard, "transport");
    auto* auth_user = child<QLineEdit>(&wizard, "authUser");
    QVERIFY(transport && auth_user);
    QVERIFY(transport->isVisible());
    QVERIFY(auth_user->isVisible());
    QVERIFY(!child<QAbstractButton>(&wizard, "directTls")->isVisible());
    // A port needs a host.
    address->setText(QStringLiteral("sip:Alice@SIP.Example.org"));
    auto* port = child<QSpinBox>(&wizard, "port");
    port->setValue(closed_port());
    wizard.next();
    QCOMPARE(wizard.currentId(), details_page);
    QVERIFY(child<desktop::FieldError>(&wizard, "hostError")->isVisible());
    QVERIFY(!address_error->isVisible());

    child<QLineEdit>(&wizard, "host")->setText(QStringLiteral("127.0.0.1"));
    transport->setCurrentIndex(transport->findData(QStringLiteral("tcp")));
    auth_user->setText(QStringLiteral("alice-auth"));
    wizard.next();
    QVERIFY2(wizard.currentId() != details_page, qPrintable(visible_errors(&wizard)));
    // Added as typed (the domain in lower case), with the transport chosen.
    auto accounts = user.core->sync([](app::Engine& e) { return e.accounts(); });
    QCOMPARE(accounts.size(), std::size_t{1});
    QCOMPARE(accounts[0].protocol, std::string("sip"));
    QCOMPARE(accounts[0].address, std::string("Alice@sip.example.org"));
    QCOMPARE(accounts[0].transport, std::string("tcp"));
    QCOMPARE(accounts[0].auth_user, std::string("alice-auth"));
    QCOMPARE(accounts[0].host, std::string("127.0.0.1"));
    QCOMPARE(accounts[0].port, static_cast<uint16_t>(port->value()));
    QVERIFY(!accounts[0].direct_tls);
  }

  void dialFieldRefusesBadAddressesInPlace() {
    GuiUser user = new_gui_user();
    desktop::DialBar* dial = user.window->dial_bar();
    QVERIFY(dial);
    // No SIP account: no dial field.
    QVERIFY(!dial->isVisible());
    QVERIFY(user.core->sync(
        [&](app::Engine& e) { return e.add_account(sip_account("me@sip.example.org"), "pw"); }));
    user.state->reload();
    QVERIFY(dial->isVisible());
    QVERIFY(!dial->account_chooser()->isVisible());  // one SIP account: nothing to choose
    QLineEdit* field = child<QLineEdit>(user.window.get(), "dial");
    QVERIFY(field == dial->field());
    auto* error = child<desktop::FieldError>(user.window.get(), "dialError");
    QVERIFY(error);
    for (const char* bad : {"", "   ", "al ice", "bob@", "@sip.example.org", "bob@sip example.org",
                            "bob@sip.example.org:5060", "b<o>b"}) {
      field->setText(QString::fromLatin1(bad));
      dial->call_button()->click();
      QVERIFY2(error->isVisible(), bad);
      QVERIFY2(!error->text().isEmpty(), bad);
      QCOMPARE(field->text(), QString::fromLatin1(bad));  // left to correct
      error->show_error({});
      dial->message_button()->click();
      QVERIFY2(error->isVisible(), bad);
    }
    // Enter in the field is Call.
    field->setText(QStringLiteral("bob@"));
    error->show_error({});
    QTest::keyClick(field, Qt::Key_Return);
    QVERIFY(error->isVisible());
    // A good address, but the account is not registered: said in place.
    field->setText(QStringLiteral("bob"));
    dial->call_button()->click();
    QVERIFY(error->isVisible());
    QVERIFY2(error->text().contains(QStringLiteral("not registered")), qPrintable(error->text()));
    QVERIFY(user.core->sync([](app::Engine& e) { return e.calls(); }).empty());
    QVERIFY(!top_level("callWindow"));
    // A user on the account's domain; a number is taken as its digits.
    QCOMPARE(desktop::DialBar::resolve(QStringLiteral("bob"), "me@sip.example.org").first,
             std::string("bob@sip.example.org"));
    QCOMPARE(
        desktop::DialBar::resolve(QStringLiteral("+49 (30) 123-45"), "me@sip.example.org").first,
        std::string("+493012345@sip.example.org"));
    QCOMPARE(
        desktop::DialBar::resolve(QStringLiteral("sip:Bob@Other.ORG"), "me@sip.example.org").first,
        std::string("Bob@other.org"));
    // Message opens a chat with that address on the SIP account.
    field->setText(QStringLiteral("carol"));
    dial->message_button()->click();
    QVERIFY(!error->isVisible());
    QVERIFY(user.window->chats().view("me@sip.example.org", "carol@sip.example.org"));
    // With two SIP accounts, the chooser says which one calls.
    QVERIFY(user.core->sync(
        [&](app::Engine& e) { return e.add_account(sip_account("me@voip.example.net"), "pw"); }));
    user.state->reload();
    QVERIFY(dial->account_chooser()->isVisible());
    QCOMPARE(dial->account_chooser()->count(), 2);
    dial->account_chooser()->setCurrentIndex(
        dial->account_chooser()->findData(QStringLiteral("me@voip.example.net")));
    QCOMPARE(desktop::DialBar::resolve(QStringLiteral("bob"), dial->sip_account()).first,
             std::string("bob@voip.example.net"));
  }

  void ringingDialogAndCallWindowFollowTheCall() {
    GuiUser user = new_gui_user();
    const std::string me = "me@sip.example.org";
    QVERIFY(user.core->sync([&](app::Engine& e) { return e.add_account(sip_account(me), "pw"); }));
    user.state->reload();

    // Ringing here: a dialog saying who, which closes when the caller gives up.
    auto incoming = a_call("in-1", me, "bob@sip.example.org", false, app::CallState::incoming);
    incoming.peer_name = "Bob Builder";
    feed(user, incoming);
    QWidget* ringing = nullptr;
    QTRY_VERIFY((ringing = top_level("incomingCall")) != nullptr);
    auto* caller = child<QLabel>(ringing, "caller");
    QVERIFY(caller->text().contains(QStringLiteral("Bob Builder")));
    QVERIFY(caller->text().contains(QStringLiteral("bob@sip.example.org")));
    QVERIFY(child<QAbstractButton>(ringing, "answer"));
    QVERIFY(child<QAbstractButton>(ringing, "reject"));
    QVERIFY(child<QAbstractButton>(ringing, "busy"));
    QVERIFY(!ringing->isModal());
    incoming.state = app::CallState::ended;
    incoming.end_reason = app::CallEndReason::cancelled;
    feed(user, incoming);
    QTRY_VERIFY(!top_level("incomingCall"));
    QCOMPARE(desktop::call_end_text(*user.state->call("in-1")), QStringLiteral("missed call"));

    // Several at once: one dialog each, up to a limit.
    for (int i = 0; i < 5; ++i) {
      feed(user, a_call("flood-" + std::to_string(i), me, "caller" + std::to_string(i) + "@x.org",
                        false, app::CallState::incoming));
    }
    QTRY_COMPARE(visible_top_levels("incomingCall"),
                 static_cast<int>(desktop::MainWindow::kMaxRinging));
    for (int i = 0; i < 5; ++i) {
      auto ended =
          a_call("flood-" + std::to_string(i), me, "x@x.org", false, app::CallState::ended);
      ended.end_reason = app::CallEndReason::cancelled;
      feed(user, ended);
    }
    QTRY_COMPARE(visible_top_levels("incomingCall"), 0);

    // Calling out: the call window follows every state.
    auto out = a_call("out-1", me, "carol@sip.example.org", true, app::CallState::calling);
    feed(user, out);
    QWidget* window = nullptr;
    QTRY_VERIFY((window = top_level("callWindow")) != nullptr);
    auto* state = child<QLabel>(window, "callState");
    QCOMPARE(state->text(), QStringLiteral("Calling…"));
    QVERIFY(
        child<QLabel>(window, "peer")->text().contains(QStringLiteral("carol@sip.example.org")));
    QCOMPARE(child<QLabel>(window, "security")->text(),
             QStringLiteral("Encryption starts when the call connects"));
    auto* hold = child<QPushButton>(window, "hold");
    auto* hang_up = child<QPushButton>(window, "hangUp");
    QVERIFY(hold && hang_up);
    QVERIFY(!hold->isEnabled());
    QVERIFY(hang_up->isVisible());
    out.state = app::CallState::ringing;
    feed(user, out);
    QTRY_COMPARE(state->text(), QStringLiteral("Ringing…"));
    out.state = app::CallState::active;
    out.connected = std::chrono::system_clock::now() - std::chrono::seconds(12);
    out.codec = "PCMU/8000";
    feed(user, out);
    QTRY_VERIFY(state->text().startsWith(QStringLiteral("Connected 00:1")));
    QVERIFY(child<QLabel>(window, "codec")->text().contains(QStringLiteral("PCMU/8000")));
    QVERIFY(hold->isEnabled());
    QCOMPARE(hold->text(), QStringLiteral("&Hold"));
    out.remote_hold = true;
    feed(user, out);
    QTRY_COMPARE(state->text(), QStringLiteral("They put the call on hold"));
    out.remote_hold = false;
    out.on_hold = true;
    feed(user, out);
    QTRY_COMPARE(state->text(), QStringLiteral("On hold"));
    QCOMPARE(hold->text(), QStringLiteral("&Resume"));
    out.state = app::CallState::ended;
    out.end_reason = app::CallEndReason::busy;
    feed(user, out);
    QTRY_COMPARE(state->text(), QStringLiteral("Call ended: busy"));
    QVERIFY(!hang_up->isVisible());
    auto* close = child<QPushButton>(window, "close");
    QVERIFY(close->isVisible());
    close->click();
    QTRY_VERIFY(!top_level("callWindow"));
  }
};

QTEST_MAIN(GuiSipForms)
#include "gui_sip_forms_test.moc"
