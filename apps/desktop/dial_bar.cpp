#include "dial_bar.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QVBoxLayout>

#include "look.h"
#include "profile_dialogs.h"

namespace sotto::desktop {
namespace {

// "+49 (30) 123-456" → "+4930123456": what people type for a number.
QString phone_digits(const QString& text) {
  static const QRegularExpression phone(QStringLiteral("^\\+?[0-9][0-9 ()./-]*$"));
  if (!phone.match(text).hasMatch()) return text;
  QString digits;
  for (QChar c : text) {
    if (c.isDigit() || c == QLatin1Char('+')) digits += c;
  }
  return digits;
}

}  // namespace

DialBar::DialBar(State& state, QWidget* parent) : QWidget(parent), state_(state) {
  setObjectName(QStringLiteral("dialBar"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(2);

  auto* row = new QHBoxLayout;
  row->setSpacing(4);
  field_ = new QLineEdit(this);
  field_->setObjectName(QStringLiteral("dial"));
  field_->setPlaceholderText(tr("Call or message…"));
  field_->setAccessibleName(tr("Call or message"));
  field_->setToolTip(
      tr("A SIP address such as name@sip.example.org, or a name or number on your SIP "
         "account's domain. Enter calls."));
  field_->setClearButtonEnabled(true);
  row->addWidget(field_, 1);
  call_ = new QPushButton(tr("&Call"), this);
  call_->setObjectName(QStringLiteral("call"));
  call_->setAutoDefault(false);
  row->addWidget(call_);
  message_ = new QPushButton(tr("&Message"), this);
  message_->setObjectName(QStringLiteral("message"));
  message_->setAutoDefault(false);
  row->addWidget(message_);
  layout->addLayout(row);

  error_ = field_error(QStringLiteral("dialError"), this);
  layout->addWidget(error_);

  account_row_ = new QWidget(this);
  auto* account_layout = new QHBoxLayout(account_row_);
  account_layout->setContentsMargins(0, 0, 0, 0);
  auto* from = new QLabel(tr("Call f&rom:"), account_row_);
  account_ = new QComboBox(account_row_);
  account_->setObjectName(QStringLiteral("dialAccount"));
  from->setBuddy(account_);
  account_layout->addWidget(from);
  account_layout->addWidget(account_, 1);
  layout->addWidget(account_row_);

  connect(field_, &QLineEdit::returnPressed, this, &DialBar::call);
  connect(field_, &QLineEdit::textEdited, this, [this] { error_->show_error({}); });
  connect(call_, &QPushButton::clicked, this, &DialBar::call);
  connect(message_, &QPushButton::clicked, this, &DialBar::message);
  connect(account_, qOverload<int>(&QComboBox::activated), this,
          [this] { error_->show_error({}); });
  connect(&state_, &State::accountsChanged, this, &DialBar::refresh_accounts);
  refresh_accounts();
}

void DialBar::refresh_accounts() {
  const QString chosen = account_->currentData().toString();
  account_->clear();
  for (const auto& account : state_.accounts()) {
    if (account.protocol != "sip") continue;
    const QString address = QString::fromStdString(account.address);
    account_->addItem(address, address);
    account_->setItemData(
        account_->count() - 1,
        account_state_text(state_.account_state(account.address), account.protocol),
        Qt::ToolTipRole);
  }
  if (const int index = account_->findData(chosen); index >= 0) account_->setCurrentIndex(index);
  account_row_->setVisible(account_->count() > 1);
  setVisible(account_->count() > 0);
}

std::string DialBar::sip_account() const {
  return account_->currentData().toString().toStdString();
}

std::pair<std::string, QString> DialBar::resolve(const QString& text, const std::string& account) {
  QString address = text.trimmed();
  if (address.startsWith(QLatin1String("sip:"), Qt::CaseInsensitive)) address = address.mid(4);
  if (address.isEmpty()) {
    return {{}, tr("Enter whom to call or write to: a SIP address such as name@sip.example.org.")};
  }
  if (!address.contains(QLatin1Char('@'))) {
    if (account.empty()) {
      return {{}, tr("Enter a full address, such as name@sip.example.org.")};
    }
    address = phone_digits(address) + QLatin1Char('@') +
              QString::fromStdString(account.substr(account.find('@') + 1));
  }
  if (auto problem = sip_address_problem(address)) return {{}, *problem};
  return {normalized_sip_address(address).toStdString(), {}};
}

std::optional<std::string> DialBar::target(const std::string& account) {
  auto [peer, problem] = resolve(field_->text(), account);
  if (!problem.isEmpty()) {
    error_->show_error(problem);
    field_->setFocus();
    field_->selectAll();
    return std::nullopt;
  }
  error_->show_error({});
  return peer;
}

void DialBar::call() {
  const std::string account = sip_account();
  auto peer = target(account);
  if (!peer) return;
  if (account.empty()) {
    error_->show_error(tr("Add a SIP account to make calls (File > Add account)."));
    return;
  }
  if (state_.account_state(account) != app::AccountState::online) {
    error_->show_error(tr("%1 is not registered, so it cannot call. Connect it first: "
                          "double-click it in the account list.")
                           .arg(QString::fromStdString(account)));
    return;
  }
  auto id = state_.core().sync([&](app::Engine& engine) { return engine.call(account, *peer); });
  if (!id) {
    error_->show_error(tr("The call could not start: %1").arg(error_sentence(id.error())));
    return;
  }
  field_->clear();
  emit callStarted(QString::fromStdString(*id));
}

void DialBar::message() {
  const std::string account = sip_account();
  auto peer = target(account);
  if (!peer) return;
  // A contact of any account with this address: its chat.
  for (const auto& contact : state_.contacts()) {
    if (contact.address == *peer) {
      field_->clear();
      emit chatRequested(QString::fromStdString(contact.account), QString::fromStdString(*peer));
      return;
    }
  }
  if (account.empty()) {
    error_->show_error(tr("Add a SIP account to write to SIP addresses (File > Add account)."));
    return;
  }
  field_->clear();
  emit chatRequested(QString::fromStdString(account), QString::fromStdString(*peer));
}

}  // namespace sotto::desktop
