// The encrypted profile: creating it on first start (with or without a master
// password), unlocking it, and setting, changing or removing the master
// password later. Also the pieces every password form shares: a strength
// meter, a busy indicator and errors in sentences.
//
// Key derivation (Argon2id, about half a second) runs in the engine off the
// core thread; these dialogs show progress meanwhile and never block.
#pragma once

#include <QDialog>
#include <QString>
#include <QWidget>

#include "core.h"

class QButtonGroup;
class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QRadioButton;

namespace sotto::desktop {

class FieldError;

// A strength meter for a password being chosen: a bar from 0 to 4 (object
// name "strength") and the word for it ("strengthText").
class StrengthMeter : public QWidget {
  Q_OBJECT
 public:
  explicit StrengthMeter(QWidget* parent = nullptr);
  // Follows `field` as the user types.
  void watch(QLineEdit* field);
  void set_password(const QString& password);
  int strength() const { return strength_; }

 private:
  QProgressBar* bar_;
  QLabel* text_;
  int strength_ = 0;
};

// An indeterminate progress bar ("busy") with what is going on ("busyText");
// hidden while idle.
class BusyIndicator : public QWidget {
  Q_OBJECT
 public:
  explicit BusyIndicator(QWidget* parent = nullptr);
  void start(const QString& text);
  void stop();

 private:
  QProgressBar* bar_;
  QLabel* text_;
};

// Makes `window` (a dialog or wizard) grow whenever its content needs more
// height than it has, as when an error or a note appears under a field:
// Qt does not resize a window for wrapped text on its own. For a wizard,
// call it once its pages are in.
void grow_to_fit_contents(QWidget* window);

// An engine error as a sentence: "the master password is wrong" becomes
// "The master password is wrong."
QString error_sentence(const Error& error);

// Where the profile's key is kept, in the user's words, as a clause: "its key
// is locked by your master password", "its key is in your desktop keyring
// (...)", ...
QString protection_text(app::ProfileProtection protection);

// First start: creates the profile, under a master password or not.
// Accepts once the profile exists and is unlocked.
// Object names: "useMasterPassword" / "noMasterPassword" (radio buttons),
// "masterPassword", "confirmPassword", "passwordError", "confirmError",
// "weakWarning", "error", "create", "cancel"; the meter as in StrengthMeter.
class FirstStartDialog : public QDialog {
  Q_OBJECT
 public:
  explicit FirstStartDialog(Core& core, QWidget* parent = nullptr);

  // After acceptance: what guards the new profile, and that in a sentence
  // (the keyring and the key file are told apart).
  app::ProfileProtection protection() const { return protection_; }
  QString outcome_text() const;

 private:
  void update_form();
  void create();
  void created(Result<void> result);
  void set_busy(bool busy);
  // While the engine works on it, closing would only hide that it goes on.
  void reject() override;
  bool working_ = false;

  Core& core_;
  QRadioButton* with_password_;
  QRadioButton* without_password_;
  QWidget* password_form_;
  QLineEdit* password_;
  QLineEdit* confirm_;
  FieldError* password_error_;
  FieldError* confirm_error_;
  StrengthMeter* meter_;
  QLabel* weak_warning_;
  QLabel* no_password_note_;
  BusyIndicator* busy_;
  FieldError* error_;
  QDialogButtonBox* buttons_;
  app::ProfileProtection protection_ = app::ProfileProtection::none;
};

// Asks for the master password. Wrong: "Wrong master password." next to
// the field, which is cleared and focused; right: accept().
// Object names: "masterPassword", "passwordError", "error", "unlock", "cancel".
class UnlockDialog : public QDialog {
  Q_OBJECT
 public:
  explicit UnlockDialog(Core& core, QWidget* parent = nullptr);

 private:
  void unlock();
  void answered(Result<void> result);
  void set_busy(bool busy);
  // While the engine works on it, closing would only hide that it goes on.
  void reject() override;
  bool working_ = false;

  Core& core_;
  QLineEdit* password_;
  FieldError* password_error_;
  BusyIndicator* busy_;
  FieldError* error_;
  QDialogButtonBox* buttons_;
};

// Sets (when there is none), changes or removes the master password. On
// success the form gives way to a sentence saying what now guards the
// profile ("status") and a "Close" button ("close") that accepts.
// Object names: "changeMode" / "removeMode" (radio buttons, with a master
// password only), "currentPassword", "currentError", "masterPassword",
// "confirmPassword", "passwordError", "confirmError", "status", "error",
// "ok", "cancel", "close".
class MasterPasswordDialog : public QDialog {
  Q_OBJECT
 public:
  MasterPasswordDialog(Core& core, QWidget* parent = nullptr);

  bool succeeded() const { return succeeded_; }
  QString status_text() const;

 private:
  void update_form();
  void apply();
  void applied(Result<void> result, bool removing);
  void set_busy(bool busy);
  // While the engine works on it, closing would only hide that it goes on.
  void reject() override;
  bool working_ = false;

  Core& core_;
  app::ProfileProtection protection_;
  QWidget* form_;
  QRadioButton* change_ = nullptr;
  QRadioButton* remove_ = nullptr;
  QLineEdit* current_ = nullptr;
  FieldError* current_error_ = nullptr;
  QWidget* new_password_form_;
  QLineEdit* password_;
  QLineEdit* confirm_;
  FieldError* password_error_;
  FieldError* confirm_error_;
  StrengthMeter* meter_;
  QLabel* remove_note_;
  BusyIndicator* busy_;
  FieldError* error_;
  QLabel* status_;
  QDialogButtonBox* buttons_;
  QPushButton* close_;
  bool succeeded_ = false;
};

// Before the main window: runs FirstStartDialog or UnlockDialog as the
// profile needs. True once the profile is unlocked; false when the user
// cancelled, or when the profile could not be opened at all (said in a
// QMessageBox::critical). After a first start without a master password it
// says, in a message box that does not block, where the key went.
bool open_profile(Core& core, QWidget* parent);

}  // namespace sotto::desktop
