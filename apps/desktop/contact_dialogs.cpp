#include "contact_dialogs.h"

#include <QFormLayout>
#include <QPushButton>
#include <QVBoxLayout>

namespace sotto::desktop {
namespace {

std::vector<std::string> chosen_groups(const QComboBox* box) {
  const QString group = box->currentText().trimmed();
  if (group.isEmpty()) return {};
  return {group.toStdString()};
}

QString error_text(const Error& error) { return QString::fromStdString(error.message); }

}  // namespace

AddContactDialog::AddContactDialog(State& state, const std::set<QString>& groups, QWidget* parent)
    : QDialog(parent), state_(state) {
  setWindowTitle(tr("Add contact"));
  setObjectName(QStringLiteral("addContactDialog"));
  auto* form = new QFormLayout;
  account_ = new QComboBox;
  account_->setObjectName(QStringLiteral("account"));
  for (const auto& account : state_.accounts()) {
    const QString address = QString::fromStdString(account.address);
    account_->addItem(address, address);
  }
  account_error_ = new FieldError;
  group_ = new QComboBox;
  group_->setObjectName(QStringLiteral("group"));
  group_->setEditable(true);
  group_->addItem(QString());
  for (const QString& group : groups) group_->addItem(group);
  group_->lineEdit()->setPlaceholderText(tr("No group"));
  address_ = new QLineEdit;
  address_->setObjectName(QStringLiteral("address"));
  address_->setPlaceholderText(tr("name@example.org"));
  address_error_ = new FieldError;
  name_ = new QLineEdit;
  name_->setObjectName(QStringLiteral("name"));
  name_->setPlaceholderText(tr("How the contact is shown to you"));
  form->addRow(tr("&Account:"), account_);
  form->addRow(QString(), account_error_);
  form->addRow(tr("&Group:"), group_);
  form->addRow(tr("Add&ress:"), address_);
  form->addRow(QString(), address_error_);
  form->addRow(tr("&Display name:"), name_);

  auto* note =
      new QLabel(tr("The contact is asked to authorize you. Until they do, they are "
                    "shown as \"waiting for authorization\"."));
  note->setWordWrap(true);
  error_ = new FieldError;
  buttons_ = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  buttons_->button(QDialogButtonBox::Ok)->setText(tr("&Add"));
  connect(buttons_, &QDialogButtonBox::accepted, this, &AddContactDialog::accept);
  connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(address_, &QLineEdit::textEdited, this, [this] { address_error_->show_error({}); });

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(note);
  layout->addWidget(error_);
  layout->addWidget(buttons_);
  address_->setFocus();
}

void AddContactDialog::set_address(const QString& address) { address_->setText(address); }
void AddContactDialog::set_name(const QString& name) { name_->setText(name); }
void AddContactDialog::set_account(const std::string& account) {
  const int index = account_->findData(QString::fromStdString(account));
  if (index >= 0) account_->setCurrentIndex(index);
}

void AddContactDialog::accept() {
  error_->show_error({});
  address_error_->show_error({});
  bool ok = true;
  const std::string account = account_->currentData().toString().toStdString();
  if (account.empty()) {
    account_error_->show_error(tr("Add an account first (File > Add account)."));
    ok = false;
  } else if (state_.account_state(account) != app::AccountState::online) {
    account_error_->show_error(tr("This account is not online; connect it first."));
    ok = false;
  } else {
    account_error_->show_error({});
  }
  if (auto problem = address_problem(address_->text())) {
    address_error_->show_error(*problem);
    address_->setFocus();
    ok = false;
  } else if (address_->text().trimmed().compare(QString::fromStdString(account),
                                                Qt::CaseInsensitive) == 0) {
    address_error_->show_error(tr("This is your own address."));
    ok = false;
  }
  if (!ok) return;
  const std::string address = address_->text().trimmed().toLower().toStdString();
  if (const app::Contact* existing = state_.contact(account, address);
      existing != nullptr && existing->subscription != "none") {
    address_error_->show_error(
        tr("%1 is already in your contacts.").arg(state_.display_name(account, address)));
    return;
  }
  buttons_->setEnabled(false);
  auto done = state_.core().back<Result<void>>(this, [this](Result<void> result) {
    buttons_->setEnabled(true);
    if (!result) {
      error_->show_error(tr("Could not add the contact: %1").arg(error_text(result.error())));
      return;
    }
    QDialog::accept();
  });
  state_.core().post([account, address, name = name_->text().trimmed().toStdString(),
                      groups = chosen_groups(group_), done](app::Engine& engine) {
    engine.add_contact(account, address, name, groups, done);
  });
}

AuthorizationDialog::AuthorizationDialog(State& state, app::AuthorizationRequested request,
                                         QWidget* parent)
    : QDialog(parent), state_(state), request_(std::move(request)) {
  setWindowTitle(tr("Authorization request"));
  setObjectName(QStringLiteral("authorizationDialog"));
  const QString who = QString::fromStdString(request_.address);
  const QString nick = QString::fromStdString(request_.nick);
  auto* text = new QLabel(
      tr("<b>%1</b>%2 wants to add you to their contacts and see when you are online.")
          .arg(who.toHtmlEscaped(),
               nick.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(nick.toHtmlEscaped())));
  text->setWordWrap(true);
  auto* account = new QLabel(tr("Account: %1").arg(QString::fromStdString(request_.account)));
  const bool known = state_.contact(request_.account, request_.address) != nullptr;
  add_back_ = new QCheckBox(tr("Also add them to &my contacts"));
  add_back_->setObjectName(QStringLiteral("addBack"));
  add_back_->setChecked(!known);
  add_back_->setVisible(!known);
  // Never prefilled with the nick they chose: a stranger must not pick how
  // they appear in our contacts (say, as someone we trust).
  name_ = new QLineEdit;
  name_->setObjectName(QStringLiteral("name"));
  name_->setPlaceholderText(tr("Display name (your choice)"));
  name_->setVisible(!known);
  connect(add_back_, &QCheckBox::toggled, name_, &QWidget::setEnabled);
  error_ = new FieldError;

  auto* buttons = new QDialogButtonBox;
  auto* authorize = buttons->addButton(tr("&Authorize"), QDialogButtonBox::AcceptRole);
  authorize->setObjectName(QStringLiteral("authorize"));
  auto* deny = buttons->addButton(tr("&Deny"), QDialogButtonBox::RejectRole);
  deny->setObjectName(QStringLiteral("deny"));
  auto* ignore = buttons->addButton(tr("&Ignore"), QDialogButtonBox::DestructiveRole);
  ignore->setObjectName(QStringLiteral("ignore"));
  ignore->setToolTip(tr("Answer later: the request is shown again the next time you connect."));
  connect(authorize, &QPushButton::clicked, this, &AuthorizationDialog::authorize);
  connect(deny, &QPushButton::clicked, this, &AuthorizationDialog::deny);
  connect(ignore, &QPushButton::clicked, this, &AuthorizationDialog::ignore);

  auto* layout = new QVBoxLayout(this);
  layout->addWidget(text);
  layout->addWidget(account);
  layout->addWidget(add_back_);
  layout->addWidget(name_);
  layout->addWidget(error_);
  layout->addWidget(buttons);
  authorize->setDefault(true);
}

void AuthorizationDialog::authorize() {
  const std::string account = request_.account;
  const std::string address = request_.address;
  auto result =
      state_.core().sync([&](app::Engine& engine) { return engine.authorize(account, address); });
  if (!result) {
    error_->show_error(tr("Could not authorize: %1").arg(error_text(result.error())));
    return;
  }
  if (add_back_->isVisible() && add_back_->isChecked()) {
    state_.core().post(
        [account, address, name = name_->text().trimmed().toStdString()](app::Engine& engine) {
          engine.add_contact(account, address, name, {}, [](Result<void>) {});
        });
  }
  state_.drop_request(account, address);
  QDialog::accept();
}

void AuthorizationDialog::deny() {
  auto result = state_.core().sync(
      [&](app::Engine& engine) { return engine.deny(request_.account, request_.address); });
  if (!result) {
    error_->show_error(tr("Could not deny: %1").arg(error_text(result.error())));
    return;
  }
  state_.drop_request(request_.account, request_.address);
  QDialog::reject();
}

void AuthorizationDialog::ignore() { reject(); }

void AuthorizationDialog::reject() {
  state_.drop_request(request_.account, request_.address);
  QDialog::reject();
}

EditContactDialog::EditContactDialog(State& state, std::string account, std::string address,
                                     const std::set<QString>& groups, QWidget* parent)
    : QDialog(parent), state_(state), account_(std::move(account)), address_(std::move(address)) {
  setWindowTitle(tr("Edit contact"));
  const app::Contact* contact = state_.contact(account_, address_);
  auto* form = new QFormLayout;
  form->addRow(tr("Address:"), new QLabel(QString::fromStdString(address_)));
  name_ = new QLineEdit(contact ? QString::fromStdString(contact->name) : QString());
  name_->setObjectName(QStringLiteral("name"));
  group_ = new QComboBox;
  group_->setObjectName(QStringLiteral("group"));
  group_->setEditable(true);
  group_->addItem(QString());
  for (const QString& group : groups) group_->addItem(group);
  if (contact && !contact->groups.empty()) {
    group_->setCurrentText(QString::fromStdString(contact->groups.front()));
  }
  group_->lineEdit()->setPlaceholderText(tr("No group"));
  form->addRow(tr("&Display name:"), name_);
  form->addRow(tr("&Group:"), group_);
  error_ = new FieldError;
  buttons_ = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  connect(buttons_, &QDialogButtonBox::accepted, this, &EditContactDialog::accept);
  connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(error_);
  layout->addWidget(buttons_);
}

void EditContactDialog::accept() {
  buttons_->setEnabled(false);
  auto done = state_.core().back<Result<void>>(this, [this](Result<void> result) {
    buttons_->setEnabled(true);
    if (!result) {
      error_->show_error(tr("Could not save: %1").arg(error_text(result.error())));
      return;
    }
    QDialog::accept();
  });
  state_.core().post(
      [account = account_, address = address_, name = name_->text().trimmed().toStdString(),
       groups = chosen_groups(group_),
       done](app::Engine& engine) { engine.update_contact(account, address, name, groups, done); });
}

}  // namespace sotto::desktop
