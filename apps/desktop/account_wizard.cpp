#include "account_wizard.h"

#include <QAbstractButton>
#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>
#include <QWizardPage>

#include <map>
#include <set>
#include <utility>
#include <variant>

#include "certificate_dialog.h"
#include "look.h"
#include "profile_dialogs.h"

namespace sotto::desktop {
namespace {

// Addresses that a live wizard is connecting (see is_setting_up()).
std::multiset<std::string>& accounts_being_set_up() {
  static std::multiset<std::string> accounts;
  return accounts;
}

// "Name@Example.org " as the engine keys it: "name@example.org".
std::string normalized(const QString& address) {
  auto jid = Jid::parse(address.trimmed().toStdString());
  return jid ? jid->bare_str() : address.trimmed().toStdString();
}

}  // namespace

// ---------------------------------------------------------------------------
// Page 1: which kind of account

class AccountKindPage : public QWizardPage {
  Q_OBJECT
 public:
  explicit AccountKindPage(QWidget* parent = nullptr) : QWizardPage(parent) {
    setTitle(tr("Add an account"));
    setSubTitle(
        tr("Sotto connects to XMPP (also called Jabber), an open chat network: as with "
           "e-mail, anyone can run a server, and people on different servers talk to "
           "each other. For calls, it connects to SIP, the standard of Internet telephony."));
    auto* layout = new QVBoxLayout(this);
    existing_ = new QRadioButton(tr("I &already have an XMPP account"), this);
    existing_->setObjectName(QStringLiteral("existingAccount"));
    existing_->setChecked(true);
    layout->addWidget(existing_);
    auto* existing_note = note(
        tr("Use an address you already have, such as name@example.org, with its password."), this);
    existing_note->setContentsMargins(24, 0, 0, 8);
    layout->addWidget(existing_note);
    create_ = new QRadioButton(tr("&Create a new XMPP account on a server"), this);
    create_->setObjectName(QStringLiteral("createAccount"));
    layout->addWidget(create_);
    auto* create_note = note(tr("Many servers let you create an account right from here. You "
                                "choose a name and a password; your address is then "
                                "name@server."),
                             this);
    create_note->setContentsMargins(24, 0, 0, 8);
    layout->addWidget(create_note);
    sip_ = new QRadioButton(tr("I have a &SIP account (for calls)"), this);
    sip_->setObjectName(QStringLiteral("sipAccount"));
    layout->addWidget(sip_);
    auto* sip_note =
        note(tr("The SIP address (such as name@sip.example.org) and password your provider gave "
                "you. SIP accounts are created with the provider, not from here: creating an "
                "account in Sotto works for XMPP only."),
             this);
    sip_note->setContentsMargins(24, 0, 0, 0);
    layout->addWidget(sip_note);
    layout->addStretch(1);
  }

  bool creating() const { return create_->isChecked(); }
  bool sip() const { return sip_->isChecked(); }
  int nextId() const override { return AccountWizard::details_page; }

 private:
  QRadioButton* existing_;
  QRadioButton* create_;
  QRadioButton* sip_;
};

// ---------------------------------------------------------------------------
// Page 2: address, password and server settings

class AccountDetailsPage : public QWizardPage {
  Q_OBJECT
 public:
  AccountDetailsPage(AccountWizard& wizard, AccountKindPage& kind)
      : QWizardPage(&wizard), wizard_(wizard), kind_(kind) {
    auto* layout = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    address_ = new QLineEdit(this);
    address_->setObjectName(QStringLiteral("address"));
    address_->setPlaceholderText(tr("name@example.org"));
    address_error_ = field_error(QStringLiteral("addressError"), this);
    form->addRow(tr("&Address:"), with_error(address_, address_error_, this));
    password_ = new QLineEdit(this);
    password_->setObjectName(QStringLiteral("password"));
    password_->setEchoMode(QLineEdit::Password);
    password_error_ = field_error(QStringLiteral("passwordError"), this);
    form->addRow(tr("&Password:"), with_error(password_, password_error_, this));
    confirm_ = new QLineEdit(this);
    confirm_->setObjectName(QStringLiteral("confirm"));
    confirm_->setEchoMode(QLineEdit::Password);
    confirm_error_ = field_error(QStringLiteral("confirmError"), this);
    confirm_row_ = with_error(confirm_, confirm_error_, this);
    confirm_label_ = new QLabel(tr("&Type it again:"), this);
    confirm_label_->setBuddy(confirm_);
    form->addRow(confirm_label_, confirm_row_);
    meter_ = new StrengthMeter(this);
    meter_->watch(password_);
    meter_label_ = new QLabel(tr("Strength:"), this);
    form->addRow(meter_label_, meter_);
    remember_ = new QCheckBox(tr("&Remember password"), this);
    remember_->setObjectName(QStringLiteral("remember"));
    remember_->setChecked(true);
    form->addRow(QString(), remember_);
    form->addRow(QString(),
                 note(tr("The password is kept encrypted in your profile, so that Sotto can "
                         "connect on its own. Untick this to type it each time Sotto starts."),
                      this));
    layout->addLayout(form);

    toggle_ = new QToolButton(this);
    toggle_->setObjectName(QStringLiteral("advancedToggle"));
    toggle_->setText(tr("Ad&vanced"));
    toggle_->setCheckable(true);
    toggle_->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    toggle_->setArrowType(Qt::RightArrow);
    toggle_->setAutoRaise(true);
    layout->addWidget(toggle_);
    advanced_ = new QWidget(this);
    advanced_->setObjectName(QStringLiteral("advanced"));
    auto* advanced = new QFormLayout(advanced_);
    advanced->setContentsMargins(24, 0, 0, 0);
    advanced_note_ = note(QString(), advanced_);
    advanced->addRow(advanced_note_);
    host_ = new QLineEdit(advanced_);
    host_->setObjectName(QStringLiteral("host"));
    host_->setPlaceholderText(tr("Found automatically from the address"));
    host_error_ = field_error(QStringLiteral("hostError"), advanced_);
    host_label_ = new QLabel(advanced_);
    host_label_->setBuddy(host_);
    advanced->addRow(host_label_, with_error(host_, host_error_, advanced_));
    port_ = new QSpinBox(advanced_);
    port_->setObjectName(QStringLiteral("port"));
    port_->setRange(0, 65535);
    port_->setSpecialValueText(tr("Automatic"));
    advanced->addRow(tr("P&ort:"), port_);
    direct_tls_ =
        new QCheckBox(tr("Connect with TLS from the first byte (&direct TLS)"), advanced_);
    direct_tls_->setObjectName(QStringLiteral("directTls"));
    advanced->addRow(QString(), direct_tls_);
    transport_ = new QComboBox(advanced_);
    transport_->setObjectName(QStringLiteral("transport"));
    transport_->addItem(tr("UDP (the usual one)"), QStringLiteral("udp"));
    transport_->addItem(tr("TCP"), QStringLiteral("tcp"));
    transport_->addItem(tr("TLS (encrypted signalling)"), QStringLiteral("tls"));
    advanced->addRow(tr("&Transport:"), transport_);
    auth_user_ = new QLineEdit(advanced_);
    auth_user_->setObjectName(QStringLiteral("authUser"));
    auth_user_->setPlaceholderText(
        tr("The name before the @, unless your provider says otherwise"));
    advanced->addRow(tr("A&uthentication name:"), auth_user_);
    advanced_form_ = advanced;
    advanced_->hide();
    layout->addWidget(advanced_);
    layout->addStretch(1);

    connect(toggle_, &QToolButton::toggled, this, &AccountDetailsPage::show_advanced);
    connect(address_, &QLineEdit::textEdited, this, [this] { address_error_->show_error({}); });
    connect(password_, &QLineEdit::textEdited, this, [this] { password_error_->show_error({}); });
    connect(confirm_, &QLineEdit::textEdited, this, [this] { confirm_error_->show_error({}); });
    connect(host_, &QLineEdit::textEdited, this, [this] { host_error_->show_error({}); });
  }

  void initializePage() override {
    const bool creating = kind_.creating();
    const bool sip = kind_.sip();
    if (sip) {
      setTitle(tr("Your SIP account"));
      setSubTitle(
          tr("The SIP address and password your provider gave you. (Accounts cannot be "
             "created on a SIP server from here: that works for XMPP only.)"));
    } else if (creating) {
      setTitle(tr("Your new account"));
      setSubTitle(
          tr("Choose a name and a server that lets you create accounts, such as "
             "name@example.org, and a password for it."));
    } else {
      setTitle(tr("Your account"));
      setSubTitle(tr("The address and password of your XMPP account."));
    }
    confirm_label_->setVisible(creating);
    confirm_row_->setVisible(creating);
    meter_label_->setVisible(creating);
    meter_->setVisible(creating);
    address_->setPlaceholderText(sip ? tr("name@sip.example.org") : tr("name@example.org"));
    advanced_note_->setText(
        sip ? tr("Leave these empty unless your provider told you otherwise: Sotto finds the "
                 "registrar from the domain of the address.")
            : tr("Leave these empty unless your server's administrator told you otherwise: "
                 "Sotto finds the server from the address."));
    host_label_->setText(sip ? tr("Registrar or outbound pro&xy:") : tr("Server &host:"));
    host_->setPlaceholderText(sip ? tr("Found automatically from the domain")
                                  : tr("Found automatically from the address"));
    advanced_form_->setRowVisible(direct_tls_, !sip);
    advanced_form_->setRowVisible(transport_, sip);
    advanced_form_->setRowVisible(auth_user_, sip);
    address_->setFocus();
  }

  bool validatePage() override {
    const bool creating = kind_.creating();
    address_error_->show_error({});
    password_error_->show_error({});
    confirm_error_->show_error({});
    host_error_->show_error({});
    QWidget* first_bad = nullptr;
    auto refuse = [&first_bad](FieldError* error, const QString& text, QWidget* field) {
      error->show_error(text);
      if (first_bad == nullptr) first_bad = field;
    };

    const bool sip = kind_.sip();
    if (auto problem =
            sip ? sip_address_problem(address_->text()) : address_problem(address_->text())) {
      refuse(address_error_, *problem, address_);
    } else if (is_set_up_already(address())) {
      refuse(address_error_, tr("This account is already set up in Sotto."), address_);
    }
    if (password_->text().isEmpty()) {
      refuse(password_error_,
             creating ? tr("Choose a password for the new account.")
                      : tr("Enter the account's password."),
             password_);
    } else if (creating && confirm_->text() != password_->text()) {
      refuse(confirm_error_, tr("The two passwords do not match. Type the same password twice."),
             confirm_);
    }
    const QString host = host_->text().trimmed();
    if (sip && host.isEmpty() && port_->value() != 0) {
      refuse(host_error_,
             tr("Enter the registrar's or proxy's host name: a port applies only to a server "
                "named here."),
             host_);
    } else if (!sip && host.isEmpty() && (port_->value() != 0 || direct_tls_->isChecked())) {
      refuse(host_error_,
             tr("Enter the server's host name: a port and direct TLS apply only to a server "
                "named here."),
             host_);
    } else if (host.contains(QLatin1Char(' ')) || host.contains(QLatin1Char('/')) ||
               host.contains(QLatin1Char(':')) || host.contains(QLatin1Char('@'))) {
      refuse(host_error_,
             sip ? tr("Enter a host name only, such as sip.example.org, without a port or "
                      "anything else: the port goes below.")
                 : tr("Enter a host name only, such as xmpp.example.org, without a port or "
                      "anything else."),
             host_);
    }
    if (first_bad == nullptr) return true;
    if (!host_error_->text().isEmpty()) toggle_->setChecked(true);  // show it where it is
    first_bad->setFocus();
    if (auto* line = qobject_cast<QLineEdit*>(first_bad)) line->selectAll();
    return false;
  }

  int nextId() const override { return AccountWizard::progress_page; }

  bool creating() const { return kind_.creating(); }
  bool sip() const { return kind_.sip(); }
  std::string address() const {
    return kind_.sip() ? normalized_sip_address(address_->text()).toStdString()
                       : normalized(address_->text());
  }
  std::string password() const { return password_->text().toStdString(); }
  app::AccountSettings settings() const {
    app::AccountSettings settings;
    settings.address = address();
    settings.host = host_->text().trimmed().toStdString();
    settings.port = static_cast<uint16_t>(port_->value());
    settings.remember_password = remember_->isChecked();
    if (kind_.sip()) {
      settings.protocol = "sip";
      settings.transport = transport_->currentData().toString().toStdString();
      settings.auth_user = auth_user_->text().trimmed().toStdString();
    } else {
      settings.direct_tls = direct_tls_->isChecked();
    }
    return settings;
  }

 private:
  void show_advanced(bool on) {
    toggle_->setArrowType(on ? Qt::DownArrow : Qt::RightArrow);
    advanced_->setVisible(on);
  }

  // In the profile already, and not by an earlier attempt of this wizard.
  bool is_set_up_already(const std::string& address) const;

  AccountWizard& wizard_;
  AccountKindPage& kind_;
  QLineEdit* address_;
  FieldError* address_error_;
  QLineEdit* password_;
  FieldError* password_error_;
  QLabel* confirm_label_;
  QWidget* confirm_row_;
  QLineEdit* confirm_;
  FieldError* confirm_error_;
  QLabel* meter_label_;
  StrengthMeter* meter_;
  QCheckBox* remember_;
  QToolButton* toggle_;
  QWidget* advanced_;
  QFormLayout* advanced_form_;
  QLabel* advanced_note_;
  QLabel* host_label_;
  QLineEdit* host_;
  FieldError* host_error_;
  QSpinBox* port_;
  QCheckBox* direct_tls_;
  QComboBox* transport_;
  QLineEdit* auth_user_;
};

// ---------------------------------------------------------------------------
// Page 3: creating and connecting

class AccountProgressPage : public QWizardPage {
  Q_OBJECT
 public:
  AccountProgressPage(AccountWizard& wizard, State& state, AccountDetailsPage& details)
      : QWizardPage(&wizard), state_(state), core_(state.core()), details_(details) {
    auto* layout = new QVBoxLayout(this);
    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("status"));
    status_->setTextFormat(Qt::PlainText);
    status_->setWordWrap(true);
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(status_);
    progress_ = new QProgressBar(this);
    progress_->setObjectName(QStringLiteral("progress"));
    progress_->setRange(0, 0);
    progress_->setTextVisible(false);
    layout->addWidget(progress_);
    keep_ = new QPushButton(tr("&Keep the account and connect later"), this);
    keep_->setObjectName(QStringLiteral("keepAccount"));
    keep_->setAutoDefault(false);
    keep_->hide();
    layout->addWidget(keep_, 0, Qt::AlignLeft);
    layout->addStretch(1);
    connect(keep_, &QPushButton::clicked, this, &AccountProgressPage::keep);
    connect(&core_, &Core::event, this, &AccountProgressPage::on_event);
  }

  ~AccountProgressPage() override { release(); }

  void initializePage() override {
    creating_ = details_.creating();
    sip_ = details_.sip();
    settings_ = details_.settings();
    password_ = details_.password();
    if (auto it = trusted_.find(server_key()); it != trusted_.end()) {
      settings_.pinned_cert_sha256 = it->second;
    }
    kept_ = false;
    keep_->hide();
    setTitle(creating_ ? tr("Creating your account")
             : sip_    ? tr("Registering your account")
                       : tr("Connecting your account"));
    setSubTitle(QString::fromStdString(settings_.address));
    if (!is_setting_up_) {
      accounts_being_set_up().insert(settings_.address);
      setting_up_ = settings_.address;
      is_setting_up_ = true;
    }
    start();
  }

  // Back or Cancel: stop, and take back what this attempt left half-made.
  void cleanupPage() override {
    ++attempt_;
    const Phase was = phase_;
    phase_ = Phase::idle;
    if (was != Phase::online && !kept_) {
      const std::string added = added_;
      const std::string address = settings_.address;
      const bool registered = registered_ == address;
      core_.sync([&](app::Engine& engine) {
        if (!added.empty()) {
          (void)engine.remove_account(added);
        } else if (registered) {
          engine.disconnect(address);  // created on the server: it stays in the profile
        }
      });
      added_.clear();
    }
    release();
    secure_wipe(password_);
  }

  bool isComplete() const override { return phase_ == Phase::online || kept_; }
  bool validatePage() override { return isComplete(); }
  bool online() const { return phase_ == Phase::online; }
  bool kept() const { return kept_; }
  QString status_text() const { return status_->text(); }
  const std::string& address() const { return settings_.address; }

  // No longer answering for the account's failures.
  void release() {
    if (!is_setting_up_) return;
    auto& accounts = accounts_being_set_up();
    if (auto it = accounts.find(setting_up_); it != accounts.end()) accounts.erase(it);
    is_setting_up_ = false;
  }

  // The account was left here by an earlier attempt of this wizard.
  bool ours(const std::string& address) const {
    return address == added_ || address == registered_;
  }

 private:
  enum class Phase { idle, registering, connecting, asking, online, failed };

  QString address_text() const { return QString::fromStdString(settings_.address); }
  QString server_text() const {
    if (!settings_.host.empty()) return QString::fromStdString(settings_.host);
    const auto at = settings_.address.find('@');
    return QString::fromStdString(settings_.address.substr(at + 1));
  }
  QString domain_text() const {
    return QString::fromStdString(settings_.address.substr(settings_.address.find('@') + 1));
  }
  // The server as far as its certificate goes: asked about once per wizard.
  std::string server_key() const {
    return server_text().toStdString() + ":" + std::to_string(settings_.port) +
           (settings_.direct_tls ? "+tls" : "") +
           (settings_.protocol == "sip" ? "/sip+" + settings_.transport : std::string());
  }
  QString local_text() const {
    return QString::fromStdString(settings_.address.substr(0, settings_.address.find('@')));
  }

  void say(const QString& text, bool working) {
    status_->setStyleSheet(QString());
    status_->setText(text);
    progress_->setVisible(working);
  }

  void start() {
    // A kept account from an earlier attempt is replaced by this one.
    if (!added_.empty()) {
      core_.sync([added = added_](app::Engine& engine) { (void)engine.remove_account(added); });
      added_.clear();
    }
    if (registered_ == settings_.address) {
      // Created by this wizard already: only the server settings may differ.
      auto updated =
          core_.sync([this](app::Engine& engine) { return engine.update_account(settings_); });
      if (!updated) return failed(updated.error());
      return go_online();
    }
    if (creating_) return create_account();
    auto added = core_.sync([this, password = password_](app::Engine& engine) mutable {
      return engine.add_account(settings_, std::move(password));
    });
    if (!added) return failed(added.error());
    added_ = settings_.address;
    go_online();
  }

  void create_account() {
    phase_ = Phase::registering;
    say(tr("Creating the account %1 on %2…").arg(local_text(), server_text()), true);
    const int attempt = attempt_;
    auto done = core_.back<Result<void>>(
        this, [this, attempt, address = settings_.address](Result<void> result) {
          if (result) registered_ = address;  // in the profile now, whatever happens next
          if (attempt != attempt_) return;
          if (!result) {
            const Error& error = result.error();
            if (error.code == Errc::certificate && !error.detail.empty()) {
              if (trust(error)) {
                settings_.pinned_cert_sha256 = error.detail;
                return create_account();
              }
            }
            return failed(error);
          }
          go_online();
        });
    core_.post([settings = settings_, password = password_, done](app::Engine& engine) mutable {
      engine.register_account(std::move(settings), std::move(password), done);
    });
  }

  void go_online() {
    phase_ = Phase::connecting;
    say(sip_ ? tr("Registering with %1…").arg(server_text())
             : tr("Connecting to %1…").arg(server_text()),
        true);
    app::Availability availability = state_.my_availability();
    if (availability == app::Availability::offline) availability = app::Availability::available;
    struct Outcome {
      Result<void> connected;
      app::AccountState state;
    };
    const Outcome outcome = core_.sync([&](app::Engine& engine) {
      Outcome o{engine.connect(settings_.address, password_, availability, {}),
                app::AccountState::offline};
      o.state = engine.state(settings_.address);
      return o;
    });
    if (!outcome.connected) return failed(outcome.connected.error());
    if (outcome.state == app::AccountState::online) went_online();
  }

  void on_event(const app::Event& event) {
    const auto* e = std::get_if<app::AccountStateChanged>(&event);
    if (e == nullptr || phase_ != Phase::connecting || e->account != settings_.address) return;
    if (e->state == app::AccountState::online) return went_online();
    if (e->state != app::AccountState::failed) return;
    const Error error =
        e->error.value_or(Error{Errc::network, tr("the connection failed").toStdString(), {}});
    if (error.code == Errc::certificate && !error.detail.empty()) {
      const int attempt = attempt_;
      if (trust(error) && attempt == attempt_) {
        settings_.pinned_cert_sha256 = error.detail;
        auto pinned = core_.sync([this, &error](app::Engine& engine) {
          return engine.pin_certificate(settings_.address, error.detail);
        });
        if (!pinned) return failed(pinned.error());
        return go_online();
      }
      if (attempt != attempt_) return;
    }
    failed(error);
  }

  bool trust(const Error& error) {
    const Phase was = phase_;
    phase_ = Phase::asking;
    say(tr("Waiting for your answer about the server's certificate…"), false);
    const bool trusted = ask_to_trust_certificate(wizard(), address_text(), server_text(),
                                                  QString::fromStdString(error.detail),
                                                  QString::fromStdString(error.message));
    if (phase_ == Phase::asking) phase_ = was;
    if (trusted) trusted_[server_key()] = error.detail;
    return trusted;
  }

  void went_online() {
    phase_ = Phase::online;
    keep_->hide();
    say(sip_ ? tr("%1 is registered and ready for calls and messages.").arg(address_text())
             : tr("%1 is online and ready to use.").arg(address_text()),
        false);
    secure_wipe(password_);
    emit completeChanged();
  }

  QString words(const Error& error) const {
    const QString server = domain_text();
    switch (error.code) {
      case Errc::conflict:
        if (creating_ && registered_ != settings_.address) {
          return tr("The name %1 is already taken on %2. Choose another.")
              .arg(local_text(), server);
        }
        break;
      case Errc::auth:
        if (sip_) {
          return tr("The SIP server did not accept the password for %1. Check the address and "
                    "the password, and the authentication name under Advanced if your provider "
                    "gave you one.")
              .arg(address_text());
        }
        if (!creating_ || registered_ == settings_.address) {
          return tr("The server did not accept the password for %1. Check the address and the "
                    "password, and try again.")
              .arg(address_text());
        }
        break;
      case Errc::not_supported:
        if (creating_ && registered_ != settings_.address) {
          return tr("%1 does not allow creating accounts from here. Create the account on the "
                    "server's website, or choose another server; then add it as an account you "
                    "already have.")
              .arg(server);
        }
        break;
      case Errc::not_allowed:
        if (creating_ && registered_ != settings_.address) {
          return tr("%1 refused to create the account: %2").arg(server, error_sentence(error));
        }
        break;
      case Errc::already_exists:
        return tr("%1 is already set up in Sotto.").arg(address_text());
      case Errc::network:
        return tr("Sotto could not reach the server: %1 Check the address and your Internet "
                  "connection, or the server settings under Advanced.")
            .arg(error_sentence(error));
      case Errc::timeout:
        return tr("%1 did not answer in time. Try again later, or check the server settings "
                  "under Advanced.")
            .arg(server_text());
      case Errc::certificate:
        return tr("The server's certificate was not trusted, so Sotto did not connect. %1")
            .arg(error_sentence(error));
      case Errc::tls:
        return tr("A secure connection to %1 could not be set up: %2")
            .arg(server_text(), error_sentence(error));
      default:
        break;
    }
    return error_sentence(error);
  }

  void failed(const Error& error) {
    phase_ = Phase::failed;
    QString text = words(error);
    const bool in_profile = !added_.empty() || registered_ == settings_.address;
    if (creating_ && registered_ == settings_.address) {
      text = tr("The account was created on the server and saved in Sotto, but it could not "
                "log in: %1")
                 .arg(text);
    }
    text += QStringLiteral("\n\n");
    text += in_profile && added_.empty()
                ? tr("Go Back to change the server settings, or keep the account and connect it "
                     "later.")
            : in_profile ? tr("Go Back to change the details. If you cancel, the account is not "
                              "added; you can also keep it and connect it later.")
                         : tr("Go Back to change the details, or Cancel.");
    say(text, false);
    status_->setStyleSheet(QStringLiteral("color: #c0392b;"));
    keep_->setVisible(in_profile);
    emit completeChanged();
  }

  void keep() {
    kept_ = true;
    keep_->hide();
    say(tr("%1 stays in Sotto, offline. Connect it later from the account list, where you can "
           "also change its settings.")
            .arg(address_text()),
        false);
    secure_wipe(password_);
    emit completeChanged();
  }

  State& state_;
  Core& core_;
  AccountDetailsPage& details_;
  QLabel* status_;
  QProgressBar* progress_;
  QPushButton* keep_;

  Phase phase_ = Phase::idle;
  int attempt_ = 0;  // answers to an abandoned attempt are dropped
  bool creating_ = false;
  bool sip_ = false;
  app::AccountSettings settings_;
  std::string password_;
  std::string added_;       // added by this wizard (an existing account), not yet online
  std::string registered_;  // created on its server by this wizard (and in the profile)
  std::map<std::string, std::string> trusted_;  // server_key() → certificate the user trusted
  bool kept_ = false;
  bool is_setting_up_ = false;
  std::string setting_up_;
};

bool AccountDetailsPage::is_set_up_already(const std::string& address) const {
  if (wizard_.progress_->ours(address)) return false;
  return wizard_.state_.core().sync([&](app::Engine& engine) {
    for (const auto& account : engine.accounts()) {
      if (account.address == address) return true;
    }
    return false;
  });
}

// ---------------------------------------------------------------------------
// AccountWizard

AccountWizard::AccountWizard(State& state, QWidget* parent) : QWizard(parent), state_(state) {
  setWindowTitle(tr("Add an account"));
  setWindowIcon(app_icon());
  setOption(QWizard::NoBackButtonOnStartPage);
  kind_ = new AccountKindPage(this);
  details_ = new AccountDetailsPage(*this, *kind_);
  progress_ = new AccountProgressPage(*this, state_, *details_);
  setPage(kind_page, kind_);
  setPage(details_page, details_);
  setPage(progress_page, progress_);
  setStartId(kind_page);
  // Once online there is no going back (the account is set up); QWizard
  // enables Back on every completeChanged, so this runs after it.
  connect(progress_, &QWizardPage::completeChanged, this, [this] {
    if (QAbstractButton* back = button(QWizard::BackButton)) {
      back->setEnabled(!progress_->online() && !progress_->kept());
    }
  });
  setMinimumWidth(560);
  grow_to_fit_contents(this);
}

AccountWizard::~AccountWizard() { progress_->release(); }

void AccountWizard::done(int result) {
  QWizard::done(result);
  if (!isVisible()) progress_->release();  // finished, not refused by the page
}

QString AccountWizard::status_text() const { return progress_->status_text(); }

std::string AccountWizard::account() const { return progress_->address(); }

bool AccountWizard::kept_offline() const { return progress_->kept(); }

bool AccountWizard::is_setting_up(const std::string& account) {
  return accounts_being_set_up().count(account) > 0;
}

}  // namespace sotto::desktop

#include "account_wizard.moc"
