#include "account_dialogs.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFontDatabase>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include <algorithm>
#include <optional>
#include <utility>
#include <variant>

#include "look.h"
#include "profile_dialogs.h"

namespace sotto::desktop {
namespace {

bool is_up(app::AccountState state) {
  return state == app::AccountState::online || state == app::AccountState::connecting ||
         state == app::AccountState::reconnecting;
}

}  // namespace

// ---------------------------------------------------------------------------
// ChangePasswordDialog

ChangePasswordDialog::ChangePasswordDialog(Core& core, std::string account, QWidget* parent)
    : QDialog(parent), core_(core), account_(std::move(account)) {
  struct Snapshot {
    bool remembered = false;
    app::AccountState state = app::AccountState::offline;
  };
  const Snapshot snapshot = core_.sync([this](app::Engine& engine) {
    Snapshot s;
    for (const auto& a : engine.accounts()) {
      if (a.address == account_) s.remembered = a.remember_password;
    }
    s.state = engine.state(account_);
    return s;
  });
  remembered_ = snapshot.remembered;
  const QString address = QString::fromStdString(account_);

  setWindowTitle(tr("Change password — %1").arg(address));
  auto* layout = new QVBoxLayout(this);
  form_ = new QWidget(this);
  auto* form_layout = new QVBoxLayout(form_);
  form_layout->setContentsMargins(0, 0, 0, 0);
  form_layout->addWidget(
      note(tr("Choose a new password for %1. It is changed on the server, so from now on you log "
              "in with it from every device and program.")
               .arg(address),
           form_));
  auto* form = new QFormLayout;
  password_ = password_field(QStringLiteral("password"), form_);
  password_error_ = field_error(QStringLiteral("passwordError"), form_);
  confirm_ = password_field(QStringLiteral("confirm"), form_);
  confirm_error_ = field_error(QStringLiteral("confirmError"), form_);
  meter_ = new StrengthMeter(form_);
  meter_->watch(password_);
  form->addRow(tr("&New password:"), with_error(password_, password_error_, form_));
  form->addRow(tr("&Type it again:"), with_error(confirm_, confirm_error_, form_));
  form->addRow(tr("Strength:"), meter_);
  form_layout->addLayout(form);
  if (remembered_) {
    form_layout->addWidget(note(
        tr("Sotto remembers this account's password; the remembered one is updated too."), form_));
  }
  layout->addWidget(form_);

  offline_note_ = note({}, this);
  offline_note_->setObjectName(QStringLiteral("offlineNote"));
  offline_note_->setStyleSheet(QStringLiteral("color: #b9770e;"));
  layout->addWidget(offline_note_);
  busy_ = new BusyIndicator(this);
  layout->addWidget(busy_);
  error_ = field_error(QStringLiteral("error"), this);
  layout->addWidget(error_);
  status_ = note({}, this);
  status_->setObjectName(QStringLiteral("status"));
  status_->hide();
  layout->addWidget(status_);
  layout->addStretch(1);

  buttons_ = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  QPushButton* ok = buttons_->button(QDialogButtonBox::Ok);
  ok->setObjectName(QStringLiteral("ok"));
  ok->setText(tr("&Change password"));
  ok->setDefault(true);
  buttons_->button(QDialogButtonBox::Cancel)->setObjectName(QStringLiteral("cancel"));
  close_ = buttons_->addButton(tr("&Close"), QDialogButtonBox::AcceptRole);
  close_->setObjectName(QStringLiteral("close"));
  close_->hide();
  connect(ok, &QPushButton::clicked, this, &ChangePasswordDialog::change);
  connect(close_, &QPushButton::clicked, this, &QDialog::accept);
  connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);
  layout->addWidget(buttons_);

  connect(password_, &QLineEdit::textEdited, this, [this] { password_error_->show_error({}); });
  connect(confirm_, &QLineEdit::textEdited, this, [this] { confirm_error_->show_error({}); });
  connect(&core_, &Core::event, this, &ChangePasswordDialog::on_event);
  update_online(snapshot.state);
  password_->setFocus();
  setMinimumWidth(460);
  grow_to_fit_contents(this);
}

QString ChangePasswordDialog::status_text() const { return status_->text(); }

void ChangePasswordDialog::on_event(const app::Event& event) {
  const auto* e = std::get_if<app::AccountStateChanged>(&event);
  if (e != nullptr && e->account == account_) update_online(e->state);
}

void ChangePasswordDialog::update_online(app::AccountState state) {
  online_ = state == app::AccountState::online;
  if (online_) {
    offline_note_->hide();
  } else {
    offline_note_->setText(tr("%1 is not online (%2). The password is changed on the server, "
                              "so connect the account first.")
                               .arg(QString::fromStdString(account_), account_state_text(state)));
    offline_note_->setVisible(!succeeded_);
  }
  buttons_->button(QDialogButtonBox::Ok)->setEnabled(online_ && !busy_now_);
}

void ChangePasswordDialog::change() {
  error_->show_error({});
  password_error_->show_error({});
  confirm_error_->show_error({});
  if (password_->text().isEmpty()) {
    password_error_->show_error(tr("Choose the new password."));
    password_->setFocus();
    return;
  }
  if (confirm_->text() != password_->text()) {
    confirm_error_->show_error(tr("The two passwords do not match. Type the same password twice."));
    confirm_->selectAll();
    confirm_->setFocus();
    return;
  }
  if (!online_) return;  // the note says why
  set_busy(true);
  busy_->start(tr("Changing the password on the server…"));
  auto done = core_.back<Result<void>>(this, [this](Result<void> r) { changed(std::move(r)); });
  core_.post([account = account_, password = password_->text().toStdString(),
              done](app::Engine& engine) mutable {
    engine.change_password(account, std::move(password), done);
  });
}

void ChangePasswordDialog::changed(Result<void> result) {
  set_busy(false);
  if (!result) {
    const Error& error = result.error();
    QString words;
    switch (error.code) {
      case Errc::not_connected:
        words =
            tr("The account went offline before the server answered. Nothing was changed; "
               "connect it and try again.");
        break;
      case Errc::not_supported:
        words =
            tr("This account's server does not let Sotto change passwords. Change it on the "
               "server's website, if it has one.");
        break;
      case Errc::not_allowed:
        words = tr("The server refused to change the password: %1").arg(error_sentence(error));
        break;
      case Errc::timeout:
        words =
            tr("The server did not answer in time. The password may or may not have "
               "changed: try logging in with the new one.");
        break;
      default:
        words = tr("The password was not changed: %1").arg(error_sentence(error));
    }
    error_->show_error(words);
    return;
  }
  succeeded_ = true;
  password_->clear();
  confirm_->clear();
  form_->hide();
  offline_note_->hide();
  error_->show_error({});
  const QString address = QString::fromStdString(account_);
  status_->setText(remembered_ ? tr("The password of %1 was changed, and the remembered one "
                                    "updated.")
                                     .arg(address)
                               : tr("The password of %1 was changed. Use the new one the next "
                                    "time Sotto or another program asks for it.")
                                     .arg(address));
  status_->show();
  buttons_->button(QDialogButtonBox::Ok)->hide();
  buttons_->button(QDialogButtonBox::Cancel)->hide();
  close_->show();
  close_->setDefault(true);
  close_->setFocus();
}

void ChangePasswordDialog::reject() {
  if (!working_) QDialog::reject();
}

void ChangePasswordDialog::set_busy(bool busy) {
  working_ = busy;
  busy_now_ = busy;
  if (!busy) busy_->stop();
  form_->setEnabled(!busy);
  buttons_->button(QDialogButtonBox::Ok)->setEnabled(!busy && online_);
  buttons_->button(QDialogButtonBox::Cancel)->setEnabled(!busy);
}

// ---------------------------------------------------------------------------
// EditAccountDialog

EditAccountDialog::EditAccountDialog(Core& core, std::string account, QWidget* parent)
    : QDialog(parent), core_(core), account_(std::move(account)) {
  const auto found = core_.sync([this](app::Engine& engine) {
    std::optional<app::AccountSettings> settings;
    for (const auto& a : engine.accounts()) {
      if (a.address == account_) settings = a;
    }
    return settings;
  });
  if (found) original_ = *found;
  has_password_ = original_.remember_password;
  const QString address = QString::fromStdString(account_);

  setWindowTitle(tr("Account settings — %1").arg(address));
  auto* layout = new QVBoxLayout(this);
  auto* form = new QFormLayout;
  auto* address_label = new QLabel(address, this);
  address_label->setTextFormat(Qt::PlainText);
  address_label->setTextInteractionFlags(Qt::TextSelectableByMouse);
  form->addRow(tr("Account:"), address_label);

  host_ = new QLineEdit(QString::fromStdString(original_.host), this);
  host_->setObjectName(QStringLiteral("host"));
  host_->setPlaceholderText(tr("Found automatically from the address"));
  host_error_ = field_error(QStringLiteral("hostError"), this);
  const bool sip = original_.protocol == "sip";
  if (sip) host_->setPlaceholderText(tr("Found automatically from the domain"));
  form->addRow(sip ? tr("Registrar or outbound pro&xy:") : tr("Server &host:"),
               with_error(host_, host_error_, this));
  port_ = new QSpinBox(this);
  port_->setObjectName(QStringLiteral("port"));
  port_->setRange(0, 65535);
  port_->setSpecialValueText(tr("Automatic"));
  port_->setValue(original_.port);
  form->addRow(tr("&Port:"), port_);
  direct_tls_ = new QCheckBox(tr("Connect with TLS from the first byte (&direct TLS)"), this);
  direct_tls_->setObjectName(QStringLiteral("directTls"));
  direct_tls_->setChecked(original_.direct_tls);
  form->addRow(QString(), direct_tls_);
  transport_ = new QComboBox(this);
  transport_->setObjectName(QStringLiteral("transport"));
  transport_->addItem(tr("UDP (the usual one)"), QStringLiteral("udp"));
  transport_->addItem(tr("TCP"), QStringLiteral("tcp"));
  transport_->addItem(tr("TLS (encrypted signalling)"), QStringLiteral("tls"));
  transport_->setCurrentIndex(
      std::max(0, transport_->findData(QString::fromStdString(original_.transport))));
  form->addRow(tr("&Transport:"), transport_);
  auth_user_ = new QLineEdit(QString::fromStdString(original_.auth_user), this);
  auth_user_->setObjectName(QStringLiteral("authUser"));
  auth_user_->setPlaceholderText(tr("The name before the @, unless your provider says otherwise"));
  form->addRow(tr("A&uthentication name:"), auth_user_);
  form->setRowVisible(direct_tls_, !sip);
  form->setRowVisible(transport_, sip);
  form->setRowVisible(auth_user_, sip);
  form->addRow(QString(),
               note(sip ? tr("Leave these empty unless your provider told you otherwise: Sotto "
                             "finds the registrar from the domain of the address.")
                        : tr("Leave these empty unless your server's administrator told you "
                             "otherwise: Sotto finds the server from the address."),
                    this));

  remember_ = new QCheckBox(tr("&Remember password"), this);
  remember_->setObjectName(QStringLiteral("remember"));
  remember_->setChecked(original_.remember_password);
  remember_note_ = note({}, this);
  remember_note_->setObjectName(QStringLiteral("rememberNote"));
  form->addRow(QString(), remember_);
  form->addRow(QString(), remember_note_);

  auto* pin_row = new QHBoxLayout;
  pinned_ = new QLabel(this);
  pinned_->setObjectName(QStringLiteral("pinned"));
  pinned_->setTextFormat(Qt::PlainText);
  pinned_->setWordWrap(true);
  pinned_->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
  forget_ = new QPushButton(tr("&Forget"), this);
  forget_->setObjectName(QStringLiteral("forget"));
  forget_->setAutoDefault(false);
  forget_->setToolTip(
      tr("Stop trusting this certificate; the server's certificate must then be "
         "signed by an authority this computer trusts."));
  pin_row->addWidget(pinned_, 1);
  pin_row->addWidget(forget_, 0, Qt::AlignTop);
  form->addRow(tr("Trusted certificate:"), pin_row);
  layout->addLayout(form);

  reconnect_note_ = note({}, this);
  reconnect_note_->setObjectName(QStringLiteral("reconnectNote"));
  layout->addWidget(reconnect_note_);
  error_ = field_error(QStringLiteral("error"), this);
  layout->addWidget(error_);
  layout->addStretch(1);

  buttons_ = new QDialogButtonBox(QDialogButtonBox::Save | QDialogButtonBox::Cancel, this);
  QPushButton* save = buttons_->button(QDialogButtonBox::Save);
  save->setObjectName(QStringLiteral("save"));
  save->setDefault(true);
  buttons_->button(QDialogButtonBox::Cancel)->setObjectName(QStringLiteral("cancel"));
  connect(save, &QPushButton::clicked, this, &EditAccountDialog::save);
  connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);
  layout->addWidget(buttons_);

  connect(forget_, &QPushButton::clicked, this, [this] {
    forget_pin_ = true;
    update_notes();
  });
  connect(host_, &QLineEdit::textChanged, this, [this] {
    host_error_->show_error({});
    update_notes();
  });
  connect(port_, &QSpinBox::valueChanged, this, [this] { update_notes(); });
  connect(direct_tls_, &QCheckBox::toggled, this, [this] { update_notes(); });
  connect(transport_, qOverload<int>(&QComboBox::currentIndexChanged), this,
          [this] { update_notes(); });
  connect(auth_user_, &QLineEdit::textChanged, this, [this] { update_notes(); });
  connect(remember_, &QCheckBox::toggled, this, [this] { update_notes(); });
  connect(&core_, &Core::event, this, [this](const app::Event& event) {
    const auto* e = std::get_if<app::AccountStateChanged>(&event);
    if (e != nullptr && e->account == account_) update_notes();
  });

  if (!found) {
    error_->show_error(tr("There is no account %1 in this profile any more.").arg(address));
    save->setEnabled(false);
  }
  update_notes();
  host_->setFocus();
  setMinimumWidth(520);
  grow_to_fit_contents(this);
}

app::AccountSettings EditAccountDialog::edited() const {
  app::AccountSettings settings = original_;
  settings.host = host_->text().trimmed().toStdString();
  settings.port = static_cast<uint16_t>(port_->value());
  if (original_.protocol == "sip") {
    settings.transport = transport_->currentData().toString().toStdString();
    settings.auth_user = auth_user_->text().trimmed().toStdString();
  } else {
    settings.direct_tls = direct_tls_->isChecked();
  }
  settings.remember_password = remember_->isChecked();
  if (forget_pin_) settings.pinned_cert_sha256.clear();
  return settings;
}

bool EditAccountDialog::connection_changed(const app::AccountSettings& next) const {
  return next.host != original_.host || next.port != original_.port ||
         next.direct_tls != original_.direct_tls || next.transport != original_.transport ||
         next.auth_user != original_.auth_user ||
         next.pinned_cert_sha256 != original_.pinned_cert_sha256;
}

void EditAccountDialog::update_notes() {
  // Remembering can be turned off here; turning it on needs the password,
  // which only adding the account takes.
  remember_->setEnabled(has_password_);
  if (!has_password_) {
    remember_note_->setText(
        tr("The password is not remembered: Sotto asks for it when the account connects. To "
           "have it remembered, remove the account and add it again with Remember password "
           "ticked."));
  } else if (remember_->isChecked()) {
    remember_note_->setText(
        tr("The password is kept encrypted in your profile, so that Sotto "
           "can connect on its own."));
  } else {
    remember_note_->setText(
        tr("The remembered password is deleted from your profile when you "
           "save; Sotto then asks for it each time the account connects."));
  }

  if (original_.pinned_cert_sha256.empty()) {
    pinned_->setFont(font());
    pinned_->setText(
        tr("None: the server's certificate must be signed by an authority this "
           "computer trusts."));
    forget_->hide();
  } else if (forget_pin_) {
    pinned_->setFont(font());
    pinned_->setText(tr("None once you save (the pinned certificate is forgotten)."));
    forget_->setEnabled(false);
  } else {
    pinned_->setText(
        tr("SHA-256 %1")
            .arg(QString::fromStdString(format_fingerprint(original_.pinned_cert_sha256))));
    pinned_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  }

  const app::AccountSettings next = edited();
  const auto state = core_.sync([this](app::Engine& engine) { return engine.state(account_); });
  if (!is_up(state) || !connection_changed(next)) {
    reconnect_note_->hide();
  } else if (next.remember_password) {
    reconnect_note_->setText(
        tr("The account is connected: saving reconnects it with the new "
           "settings."));
    reconnect_note_->show();
  } else {
    reconnect_note_->setText(
        tr("The account stays connected as it is; the new settings apply "
           "the next time it connects."));
    reconnect_note_->show();
  }
}

void EditAccountDialog::save() {
  error_->show_error({});
  host_error_->show_error({});
  const app::AccountSettings next = edited();
  if (next.host.empty() && (next.port != 0 || next.direct_tls)) {
    host_error_->show_error(
        tr("Enter the server's host name: a port and direct TLS apply only to "
           "a server named here."));
    host_->setFocus();
    return;
  }
  if (next.host.find_first_of(" /:@") != std::string::npos) {
    host_error_->show_error(
        tr("Enter a host name only, such as xmpp.example.org, without a port "
           "or anything else."));
    host_->setFocus();
    return;
  }
  const bool changed = connection_changed(next);
  const app::Availability availability =
      availability_ == app::Availability::offline ? app::Availability::available : availability_;
  struct Outcome {
    Result<void> saved;
    Result<void> reconnected;
  };
  const Outcome outcome = core_.sync([&](app::Engine& engine) {
    Outcome o{engine.update_account(next), {}};
    // update_account only stores the settings; a connected account keeps
    // the old ones until it connects again.
    if (o.saved && changed && next.remember_password && is_up(engine.state(next.address))) {
      engine.disconnect(next.address);
      o.reconnected = engine.connect(next.address, std::nullopt, availability, {});
    }
    return o;
  });
  if (!outcome.saved) {
    error_->show_error(
        tr("The settings were not saved: %1").arg(error_sentence(outcome.saved.error())));
    return;
  }
  if (!outcome.reconnected) {
    original_ = next;
    forget_pin_ = false;
    error_->show_error(tr("The settings were saved, but the account could not connect again: %1")
                           .arg(error_sentence(outcome.reconnected.error())));
    update_notes();
    return;
  }
  accept();
}

}  // namespace sotto::desktop
