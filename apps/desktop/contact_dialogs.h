// Adding a contact, answering an authorization request, and renaming or
// regrouping a contact.
#pragma once

#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QLabel>
#include <QLineEdit>

#include <set>
#include <string>

#include "look.h"
#include "state.h"

namespace sotto::desktop {

// File > Add contact: account, group, address, display name. The contact is
// asked for authorization; until it answers the list says "waiting for
// authorization".
class AddContactDialog : public QDialog {
  Q_OBJECT

 public:
  AddContactDialog(State& state, const std::set<QString>& groups, QWidget* parent = nullptr);
  void set_address(const QString& address);
  void set_name(const QString& name);
  void set_account(const std::string& account);

  QComboBox* account_box() const { return account_; }
  QComboBox* group_box() const { return group_; }
  QLineEdit* address_edit() const { return address_; }
  QLineEdit* name_edit() const { return name_; }
  FieldError* address_error() const { return address_error_; }
  FieldError* error() const { return error_; }

  void accept() override;

 private:
  State& state_;
  QComboBox* account_;
  QComboBox* group_;
  QLineEdit* address_;
  QLineEdit* name_;
  FieldError* account_error_;
  FieldError* address_error_;
  FieldError* error_;
  QDialogButtonBox* buttons_;
};

// Someone wants to see our presence: Authorize / Deny / Ignore. Authorizing
// can add them to our contacts too (and ask them back).
class AuthorizationDialog : public QDialog {
  Q_OBJECT

 public:
  AuthorizationDialog(State& state, app::AuthorizationRequested request, QWidget* parent = nullptr);

  const app::AuthorizationRequested& request() const { return request_; }
  void authorize();
  void deny();
  void ignore();
  // Closing the window ignores the request too.
  void reject() override;

 private:
  State& state_;
  app::AuthorizationRequested request_;
  QCheckBox* add_back_;
  QLineEdit* name_;
  FieldError* error_;
};

// Rename a contact and choose its groups.
class EditContactDialog : public QDialog {
  Q_OBJECT

 public:
  EditContactDialog(State& state, std::string account, std::string address,
                    const std::set<QString>& groups, QWidget* parent = nullptr);
  void accept() override;

 private:
  State& state_;
  std::string account_;
  std::string address_;
  QLineEdit* name_;
  QComboBox* group_;
  FieldError* error_;
  QDialogButtonBox* buttons_;
};

}  // namespace sotto::desktop
