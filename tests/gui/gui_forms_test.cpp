// Forms refuse bad input in place, with a message next to the field, and
// nothing happens behind the user's back; the first start and unlock
// dialogs; xmpp: links. No server is needed: nothing here goes online.
#include <QAbstractButton>
#include <QDialogButtonBox>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QTest>
#include <QWizard>

#include "account_wizard.h"
#include "chat_window.h"
#include "contact_dialogs.h"
#include "gui_support.h"
#include "look.h"
#include "profile_dialogs.h"

using namespace sotto;
using namespace sotto::test;

class GuiForms : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void addContactRefusesBadAddressesInPlace() {
    GuiUser user = new_gui_user();
    app::AccountSettings settings;
    settings.address = "me@example.org";
    QVERIFY(user.core->sync([&](app::Engine& e) { return e.add_account(settings, "pw"); }));
    user.state->reload();
    desktop::AddContactDialog dialog(*user.state, {}, user.window.get());
    dialog.show();
    for (const char* bad :
         {"", "   ", "bob", "bob@", "@example.org", "bob@exa mple.org", "bob@example.org/phone"}) {
      dialog.address_edit()->setText(QString::fromLatin1(bad));
      dialog.accept();
      QVERIFY2(dialog.isVisible(), bad);
      QVERIFY2(dialog.address_error()->isVisible(), bad);
      QVERIFY2(!dialog.address_error()->text().isEmpty(), bad);
    }
    // A good address with the account offline: refused too, next to the account.
    dialog.address_edit()->setText(QStringLiteral("bob@example.org"));
    dialog.accept();
    QVERIFY(dialog.isVisible());
    QVERIFY(dialog.findChildren<desktop::FieldError*>().size() >= 2);
    bool account_complaint = false;
    for (auto* error : dialog.findChildren<desktop::FieldError*>()) {
      if (error->isVisible() && error->text().contains(QStringLiteral("not online"))) {
        account_complaint = true;
      }
    }
    QVERIFY(account_complaint);
    QVERIFY(!dialog.address_error()->isVisible());
    QVERIFY(user.state->contacts().empty());
  }

  void wizardRefusesBadInputInPlace() {
    GuiUser user = new_gui_user();
    desktop::AccountWizard wizard(*user.state, user.window.get());
    wizard.show();
    child<QRadioButton>(&wizard, "createAccount")->setChecked(true);
    const int choose_page = wizard.currentId();
    wizard.next();
    const int details_page = wizard.currentId();
    QVERIFY(details_page != choose_page);
    auto* address = child<QLineEdit>(&wizard, "address");
    auto* password = child<QLineEdit>(&wizard, "password");
    auto* confirm = child<QLineEdit>(&wizard, "confirm");
    QVERIFY(address && password && confirm);
    auto visible_errors = [&] {
      QStringList texts;
      for (auto* error : wizard.findChildren<desktop::FieldError*>()) {
        if (error->isVisible()) texts << error->text();
      }
      return texts.join(QLatin1Char('|'));
    };
    // Empty address.
    password->setText(QStringLiteral("a long enough password"));
    confirm->setText(QStringLiteral("a long enough password"));
    wizard.next();
    QCOMPARE(wizard.currentId(), details_page);
    QVERIFY(!visible_errors().isEmpty());
    // Not an address.
    address->setText(QStringLiteral("not an address"));
    wizard.next();
    QCOMPARE(wizard.currentId(), details_page);
    QVERIFY(visible_errors().contains(QStringLiteral("address"), Qt::CaseInsensitive));
    // Passwords that differ.
    address->setText(QStringLiteral("new@example.org"));
    confirm->setText(QStringLiteral("a long enough passw0rd"));
    wizard.next();
    QCOMPARE(wizard.currentId(), details_page);
    QVERIFY(visible_errors().contains(QStringLiteral("match"), Qt::CaseInsensitive));
    // Nothing was created.
    QVERIFY(user.state->accounts().empty());
  }

  void firstStartRefusesMismatchAndMeasuresStrength() {
    TempDir home("sotto-gui");
    desktop::Core core("default", home.path());
    QCOMPARE(core.sync([](app::Engine& e) { return e.protection(); }),
             app::ProfileProtection::none);
    desktop::FirstStartDialog dialog(core);
    dialog.show();
    auto edits = dialog.findChildren<QLineEdit*>();
    QLineEdit* password = child<QLineEdit>(&dialog, "masterPassword");
    QLineEdit* confirm = child<QLineEdit>(&dialog, "confirmPassword");
    QVERIFY2(password && confirm, "FirstStartDialog has masterPassword and confirmPassword");
    auto* meter = dialog.findChild<QProgressBar*>();
    QVERIFY(meter);
    QTest::keyClicks(password, QStringLiteral("abc"));
    const int weak = meter->value();
    password->clear();
    QTest::keyClicks(password, QStringLiteral("correct horse battery staple 42!"));
    QVERIFY(meter->value() > weak);
    confirm->setText(QStringLiteral("correct horse battery staple 42?"));
    QAbstractButton* ok = child<QAbstractButton>(&dialog, "create");
    QVERIFY2(ok, "FirstStartDialog has a button named create");
    ok->click();
    QVERIFY(dialog.isVisible());
    bool complaint = false;
    for (auto* error : dialog.findChildren<desktop::FieldError*>()) {
      if (error->isVisible() && error->text().contains(QStringLiteral("match"))) complaint = true;
    }
    QVERIFY(complaint);
    QCOMPARE(core.sync([](app::Engine& e) { return e.protection(); }),
             app::ProfileProtection::none);
    // Matching: the profile is created under the master password.
    confirm->setText(password->text());
    ok->click();
    QTRY_COMPARE_WITH_TIMEOUT(dialog.result(), int(QDialog::Accepted), 20000);
    QCOMPARE(core.sync([](app::Engine& e) { return e.protection(); }),
             app::ProfileProtection::master_password);
    QVERIFY(core.sync([](app::Engine& e) { return e.unlocked(); }));
  }

  void unlockSaysWrongPasswordAndNothingElse() {
    TempDir home("sotto-gui");
    {
      desktop::Core core("default", home.path());
      std::promise<Result<void>> created;
      core.post([&](app::Engine& e) {
        e.create_profile("right password", [&](Result<void> r) { created.set_value(r); });
      });
      QVERIFY(created.get_future().get().has_value());
    }
    desktop::Core core("default", home.path());
    QVERIFY(!core.sync([](app::Engine& e) { return e.unlocked(); }));
    desktop::UnlockDialog dialog(core);
    dialog.show();
    QLineEdit* password = child<QLineEdit>(&dialog, "masterPassword");
    QAbstractButton* unlock = child<QAbstractButton>(&dialog, "unlock");
    QVERIFY2(password && unlock, "UnlockDialog has masterPassword and unlock");
    password->setText(QStringLiteral("wrong password"));
    unlock->click();
    auto complaint = [&] {
      for (auto* error : dialog.findChildren<desktop::FieldError*>()) {
        if (error->isVisible() && error->text().contains(QStringLiteral("Wrong"))) return true;
      }
      return false;
    };
    QTRY_VERIFY_WITH_TIMEOUT(complaint(), 20000);
    QVERIFY(dialog.isVisible());
    QVERIFY(password->text().isEmpty());
    QVERIFY(!core.sync([](app::Engine& e) { return e.unlocked(); }));
    password->setText(QStringLiteral("right password"));
    unlock->click();
    QTRY_COMPARE_WITH_TIMEOUT(dialog.result(), int(QDialog::Accepted), 20000);
    QVERIFY(core.sync([](app::Engine& e) { return e.unlocked(); }));
  }

  void uriOpensAChatOrOffersToAddTheContact() {
    GuiUser user = new_gui_user();
    app::AccountSettings settings;
    settings.address = "me@example.org";
    QVERIFY(user.core->sync([&](app::Engine& e) { return e.add_account(settings, "pw"); }));
    user.state->reload();
    // ?message: a chat with that address.
    user.window->open_uri(QStringLiteral("xmpp:Someone@Example.org?message"));
    QVERIFY(user.window->chats().view("me@example.org", "someone@example.org"));
    // ?roster: the Add contact dialog, filled in.
    user.window->open_uri(QStringLiteral("xmpp:friend@example.org?roster;name=My%20Friend"));
    desktop::AddContactDialog* add = nullptr;
    QTRY_VERIFY((add = user.window->findChild<desktop::AddContactDialog*>()) != nullptr &&
                add->isVisible());
    QCOMPARE(add->address_edit()->text(), QStringLiteral("friend@example.org"));
    QCOMPARE(add->name_edit()->text(), QStringLiteral("My Friend"));
  }
};

QTEST_MAIN(GuiForms)
#include "gui_forms_test.moc"
