// Dialogs about one account that is already in the profile: changing its
// password on the server, and editing its connection settings.
#pragma once

#include <QDialog>
#include <QString>

#include <string>

#include "core.h"

class QCheckBox;
class QComboBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;

namespace sotto::desktop {

class BusyIndicator;
class FieldError;
class StrengthMeter;

// Changes the account's password on its server (the account must be online;
// the dialog says so and waits while it is not). The remembered password, if
// any, follows. On success the form gives way to a sentence ("status") and a
// "Close" button ("close") that accepts.
// Object names: "password", "confirm", "passwordError", "confirmError",
// "offlineNote", "status", "error", "ok", "cancel".
class ChangePasswordDialog : public QDialog {
  Q_OBJECT
 public:
  ChangePasswordDialog(Core& core, std::string account, QWidget* parent = nullptr);

  bool succeeded() const { return succeeded_; }
  QString status_text() const;

 private:
  void on_event(const app::Event& event);
  void update_online(app::AccountState state);
  void change();
  void changed(Result<void> result);
  void set_busy(bool busy);
  // While the engine works on it, closing would only hide that it goes on.
  void reject() override;
  bool working_ = false;

  Core& core_;
  std::string account_;
  bool remembered_ = false;
  bool online_ = false;
  bool busy_now_ = false;
  bool succeeded_ = false;
  QWidget* form_;
  QLineEdit* password_;
  QLineEdit* confirm_;
  FieldError* password_error_;
  FieldError* confirm_error_;
  StrengthMeter* meter_;
  QLabel* offline_note_;
  BusyIndicator* busy_;
  FieldError* error_;
  QLabel* status_;
  QDialogButtonBox* buttons_;
  QPushButton* close_;
};

// Edits the server host, port, direct TLS (XMPP) or transport and
// authentication name (SIP), and "remember password" of an account
// (Engine::update_account), and shows the pinned certificate with a
// "Forget" button (takes effect on Save). The engine only stores the
// settings: when the account is online and its connection settings change,
// Save reconnects it with them, if its password is remembered; otherwise
// they apply at its next connection. The dialog says which beforehand.
// Object names: "host", "hostError", "port", "directTls", "transport",
// "authUser", "remember",
// "rememberNote", "pinned", "forget", "reconnectNote", "error", "save",
// "cancel".
class EditAccountDialog : public QDialog {
  Q_OBJECT
 public:
  EditAccountDialog(Core& core, std::string account, QWidget* parent = nullptr);

  // What to reconnect with when Save reconnects (default: available).
  void set_availability(app::Availability availability) { availability_ = availability; }

 private:
  app::AccountSettings edited() const;
  bool connection_changed(const app::AccountSettings& next) const;
  void update_notes();
  void save();

  Core& core_;
  std::string account_;
  app::AccountSettings original_;
  bool has_password_ = false;  // a remembered one is stored
  bool forget_pin_ = false;
  app::Availability availability_ = app::Availability::available;
  QLineEdit* host_;
  FieldError* host_error_;
  QSpinBox* port_;
  QCheckBox* direct_tls_;
  QComboBox* transport_;
  QLineEdit* auth_user_;
  QCheckBox* remember_;
  QLabel* remember_note_;
  QLabel* pinned_;
  QPushButton* forget_;
  QLabel* reconnect_note_;
  FieldError* error_;
  QDialogButtonBox* buttons_;
};

}  // namespace sotto::desktop
