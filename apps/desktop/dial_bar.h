// The dial field of the main window, shown while there is a SIP account:
// "Call or message…" takes a SIP address (user@domain, "sip:" allowed) or,
// for a SIP account, a user on the account's domain (a telephone number
// with spaces or dashes is taken as its digits). Enter or Call starts a
// call, Message opens a chat; with several SIP accounts a chooser says which
// one calls. Bad input is refused in place, next to the field.
//
// Object names for tests: "dial" (the field), "dialError", "dialAccount"
// (the chooser), "call", "message".
#pragma once

#include <QWidget>

#include <optional>
#include <string>
#include <utility>

#include "state.h"

class QComboBox;
class QLineEdit;
class QPushButton;

namespace sotto::desktop {

class FieldError;

class DialBar : public QWidget {
  Q_OBJECT

 public:
  explicit DialBar(State& state, QWidget* parent = nullptr);

  QLineEdit* field() const { return field_; }
  FieldError* error() const { return error_; }
  QComboBox* account_chooser() const { return account_; }
  QPushButton* call_button() const { return call_; }
  QPushButton* message_button() const { return message_; }

  // The SIP account calls go out from (the chosen one), or empty.
  std::string sip_account() const;
  // The SIP address `text` stands for with `account` (user@domain, without
  // "sip:"), or why it does not, in words. `account` empty: no SIP account.
  static std::pair<std::string, QString> resolve(const QString& text, const std::string& account);

 public Q_SLOTS:
  // Checks the field and starts the call, or says in place what is wrong.
  void call();
  // Checks the field and asks for a chat with that address.
  void message();

 Q_SIGNALS:
  void callStarted(const QString& id);
  void chatRequested(const QString& account, const QString& peer);

 private:
  void refresh_accounts();
  // The address in the field, or nullopt after saying why not.
  std::optional<std::string> target(const std::string& account);

  State& state_;
  QLineEdit* field_;
  FieldError* error_;
  QWidget* account_row_;
  QComboBox* account_;
  QPushButton* call_;
  QPushButton* message_;
};

}  // namespace sotto::desktop
