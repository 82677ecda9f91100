#include "profile_dialogs.h"

#include <QCoreApplication>
#include <QDialogButtonBox>
#include <QEvent>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QTimer>
#include <QVBoxLayout>
#include <QWizard>
#include <QWizardPage>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "look.h"

namespace sotto::desktop {
namespace {

std::optional<std::string> text_or_none(const QLineEdit* field) {
  if (field == nullptr) return std::nullopt;
  return field->text().toStdString();
}

}  // namespace

// ---------------------------------------------------------------------------
// Shared pieces

StrengthMeter::StrengthMeter(QWidget* parent)
    : QWidget(parent), bar_(new QProgressBar(this)), text_(new QLabel(this)) {
  bar_->setObjectName(QStringLiteral("strength"));
  bar_->setRange(0, 4);
  bar_->setValue(0);
  bar_->setTextVisible(false);
  bar_->setMaximumHeight(10);
  bar_->setAccessibleName(tr("Password strength"));
  text_->setObjectName(QStringLiteral("strengthText"));
  text_->setMinimumWidth(text_->fontMetrics().horizontalAdvance(password_strength_text(4)) + 8);
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(bar_, 1);
  layout->addWidget(text_);
}

void StrengthMeter::watch(QLineEdit* field) {
  connect(field, &QLineEdit::textChanged, this, &StrengthMeter::set_password);
  set_password(field->text());
}

void StrengthMeter::set_password(const QString& password) {
  strength_ = password_strength(password);
  bar_->setValue(strength_);
  static const QColor colors[] = {QColor(192, 57, 43), QColor(211, 84, 0), QColor(214, 137, 16),
                                  QColor(39, 150, 72), QColor(30, 130, 60)};
  QPalette palette = bar_->palette();
  palette.setColor(QPalette::Highlight, colors[std::clamp(strength_, 0, 4)]);
  bar_->setPalette(palette);
  text_->setText(password.isEmpty() ? QString() : password_strength_text(strength_));
}

BusyIndicator::BusyIndicator(QWidget* parent)
    : QWidget(parent), bar_(new QProgressBar(this)), text_(new QLabel(this)) {
  bar_->setObjectName(QStringLiteral("busy"));
  bar_->setRange(0, 0);  // indeterminate
  bar_->setTextVisible(false);
  bar_->setMaximumHeight(12);
  text_->setObjectName(QStringLiteral("busyText"));
  text_->setWordWrap(true);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(text_);
  layout->addWidget(bar_);
  hide();
}

void BusyIndicator::start(const QString& text) {
  text_->setText(text);
  show();
}

void BusyIndicator::stop() { hide(); }

namespace {

class GrowToFit : public QObject {
 public:
  explicit GrowToFit(QWidget* window) : QObject(window), window_(window) {}

  bool eventFilter(QObject*, QEvent* event) override {
    if ((event->type() == QEvent::LayoutRequest || event->type() == QEvent::Show) && !pending_) {
      pending_ = true;
      // After the layouts have handled the request.
      QTimer::singleShot(0, this, [this] {
        pending_ = false;
        grow();
      });
    }
    return false;
  }

 private:
  // How much taller `widget` needs to be for its content at its width.
  static int missing_height(QWidget* widget) {
    QLayout* layout = widget->layout();
    if (layout == nullptr) return 0;
    layout->activate();
    const int needed = layout->hasHeightForWidth() ? layout->totalHeightForWidth(widget->width())
                                                   : layout->totalMinimumSize().height();
    return needed - widget->height();
  }

  void grow() {
    int missing = 0;
    if (auto* wizard = qobject_cast<QWizard*>(window_)) {
      // QWizard's own layout does not pass its pages' height-for-width on.
      if (QWizardPage* page = wizard->currentPage()) missing = missing_height(page);
    } else {
      missing = missing_height(window_);
    }
    if (missing > 0) window_->resize(window_->width(), window_->height() + missing);
  }

  QWidget* window_;
  bool pending_ = false;
};

}  // namespace

void grow_to_fit_contents(QWidget* window) {
  auto* filter = new GrowToFit(window);
  window->installEventFilter(filter);
  if (auto* wizard = qobject_cast<QWizard*>(window)) {
    for (int id : wizard->pageIds()) wizard->page(id)->installEventFilter(filter);
  }
}

QString error_sentence(const Error& error) {
  QString text = QString::fromStdString(error.message).trimmed();
  if (text.isEmpty())
    return QCoreApplication::translate("sotto", "Something went wrong (%1).")
        .arg(QString::fromUtf8(to_string(error.code)));
  // Capitalise a leading word, not an address or a name that starts it.
  const QString first = text.section(QLatin1Char(' '), 0, 0);
  bool plain_word = true;
  for (QChar c : first) plain_word = plain_word && c.isLower();
  if (plain_word) text[0] = text[0].toUpper();
  if (!text.endsWith(QLatin1Char('.')) && !text.endsWith(QLatin1Char('!')) &&
      !text.endsWith(QLatin1Char('?'))) {
    text += QLatin1Char('.');
  }
  return text;
}

QString protection_text(app::ProfileProtection protection) {
  switch (protection) {
    case app::ProfileProtection::none:
      return QCoreApplication::translate("sotto", "it has not been created yet");
    case app::ProfileProtection::master_password:
      return QCoreApplication::translate("sotto", "its key is locked by your master password");
    case app::ProfileProtection::keyring:
      return QCoreApplication::translate(
          "sotto",
          "its key is kept in your desktop keyring, so anyone who can use your desktop session "
          "can open it");
    case app::ProfileProtection::key_file:
      return QCoreApplication::translate(
          "sotto",
          "its key is kept in a key file in the profile folder (there is no desktop keyring). "
          "That protects a copy of the database alone, not against anyone who can use this "
          "computer account");
  }
  return {};
}

// ---------------------------------------------------------------------------
// FirstStartDialog

FirstStartDialog::FirstStartDialog(Core& core, QWidget* parent) : QDialog(parent), core_(core) {
  setWindowTitle(tr("Welcome to Sotto"));
  setWindowIcon(app_icon());
  auto* layout = new QVBoxLayout(this);

  auto* heading = new QLabel(tr("Welcome to Sotto"), this);
  QFont font = heading->font();
  font.setPointSizeF(font.pointSizeF() * 1.4);
  font.setBold(true);
  heading->setFont(font);
  layout->addWidget(heading);
  layout->addWidget(
      note(tr("Sotto keeps your accounts, your contacts, the keys of your private conversations "
              "and your chat history in a profile on this computer, always encrypted. Choose how "
              "the profile is protected."),
           this));

  with_password_ =
      new QRadioButton(tr("Protect everything with a &master password (recommended)"), this);
  with_password_->setObjectName(QStringLiteral("useMasterPassword"));
  with_password_->setChecked(true);
  layout->addWidget(with_password_);

  password_form_ = new QWidget(this);
  auto* form = new QFormLayout(password_form_);
  form->setContentsMargins(24, 0, 0, 0);
  password_ = password_field(QStringLiteral("masterPassword"), password_form_);
  password_error_ = field_error(QStringLiteral("passwordError"), password_form_);
  confirm_ = password_field(QStringLiteral("confirmPassword"), password_form_);
  confirm_error_ = field_error(QStringLiteral("confirmError"), password_form_);
  meter_ = new StrengthMeter(password_form_);
  meter_->watch(password_);
  weak_warning_ =
      note(tr("This password is weak: someone who gets a copy of your profile could guess it. A "
              "longer one, such as four or five unrelated words, is much stronger. You may still "
              "use it."),
           password_form_);
  weak_warning_->setObjectName(QStringLiteral("weakWarning"));
  weak_warning_->setStyleSheet(QStringLiteral("color: #b9770e;"));
  weak_warning_->hide();
  form->addRow(tr("Master &password:"), with_error(password_, password_error_, password_form_));
  form->addRow(tr("&Type it again:"), with_error(confirm_, confirm_error_, password_form_));
  form->addRow(tr("Strength:"), meter_);
  form->addRow(weak_warning_);
  form->addRow(note(tr("Sotto asks for it each time it starts. Nobody can recover it for you: if "
                       "you forget it, the profile (accounts, keys and history) cannot be opened "
                       "again."),
                    password_form_));
  layout->addWidget(password_form_);

  without_password_ = new QRadioButton(tr("&No master password"), this);
  without_password_->setObjectName(QStringLiteral("noMasterPassword"));
  layout->addWidget(without_password_);
  no_password_note_ =
      note(tr("Sotto starts without asking. The profile is still encrypted, but its key is kept "
              "in your desktop keyring or, where there is none, in a key file in the profile "
              "folder. Anyone who can use this computer account can open it; it only protects a "
              "copy of the profile taken elsewhere. You can set a master password later in "
              "Options."),
           this);
  no_password_note_->setContentsMargins(24, 0, 0, 0);
  layout->addWidget(no_password_note_);

  busy_ = new BusyIndicator(this);
  layout->addWidget(busy_);
  error_ = field_error(QStringLiteral("error"), this);
  layout->addWidget(error_);
  layout->addStretch(1);

  buttons_ = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  QPushButton* ok = buttons_->button(QDialogButtonBox::Ok);
  ok->setObjectName(QStringLiteral("create"));
  ok->setText(tr("&Create profile"));
  ok->setDefault(true);
  buttons_->button(QDialogButtonBox::Cancel)->setObjectName(QStringLiteral("cancel"));
  connect(ok, &QPushButton::clicked, this, &FirstStartDialog::create);
  connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);
  layout->addWidget(buttons_);

  connect(with_password_, &QRadioButton::toggled, this, &FirstStartDialog::update_form);
  connect(password_, &QLineEdit::textChanged, this, [this] {
    password_error_->show_error({});
    update_form();
  });
  connect(confirm_, &QLineEdit::textChanged, this, [this] { confirm_error_->show_error({}); });
  update_form();
  password_->setFocus();
  setMinimumWidth(520);
  grow_to_fit_contents(this);
}

QString FirstStartDialog::outcome_text() const {
  if (protection_ == app::ProfileProtection::master_password) {
    return tr("Your profile is created and encrypted; %1.").arg(protection_text(protection_));
  }
  return tr("Your profile is created and encrypted without a master password: %1. You can set "
            "a master password at any time in Options.")
      .arg(protection_text(protection_));
}

void FirstStartDialog::update_form() {
  const bool with = with_password_->isChecked();
  password_form_->setEnabled(with);
  no_password_note_->setEnabled(!with);
  weak_warning_->setVisible(with && !password_->text().isEmpty() && meter_->strength() <= 1);
}

void FirstStartDialog::create() {
  error_->show_error({});
  std::optional<std::string> password;
  if (with_password_->isChecked()) {
    password_error_->show_error({});
    confirm_error_->show_error({});
    if (password_->text().isEmpty()) {
      password_error_->show_error(tr("Choose a master password, or choose No master password."));
      password_->setFocus();
      return;
    }
    if (confirm_->text() != password_->text()) {
      confirm_error_->show_error(
          tr("The two passwords do not match. Type the same password twice."));
      confirm_->selectAll();
      confirm_->setFocus();
      return;
    }
    password = password_->text().toStdString();
  }
  set_busy(true);
  busy_->start(password ? tr("Deriving the key from your password…")
                        : tr("Creating your encrypted profile…"));
  auto done = core_.back<Result<void>>(this, [this](Result<void> r) { created(std::move(r)); });
  core_.post([password = std::move(password), done](app::Engine& engine) mutable {
    engine.create_profile(std::move(password), done);
  });
}

void FirstStartDialog::created(Result<void> result) {
  set_busy(false);
  if (!result) {
    error_->show_error(
        tr("The profile could not be created: %1").arg(error_sentence(result.error())));
    return;
  }
  protection_ = core_.sync([](app::Engine& engine) { return engine.protection(); });
  password_->clear();
  confirm_->clear();
  accept();
}

void FirstStartDialog::reject() {
  if (!working_) QDialog::reject();
}

void FirstStartDialog::set_busy(bool busy) {
  working_ = busy;
  if (!busy) busy_->stop();
  with_password_->setEnabled(!busy);
  without_password_->setEnabled(!busy);
  password_form_->setEnabled(!busy && with_password_->isChecked());
  buttons_->setEnabled(!busy);
}

// ---------------------------------------------------------------------------
// UnlockDialog

UnlockDialog::UnlockDialog(Core& core, QWidget* parent) : QDialog(parent), core_(core) {
  setWindowTitle(tr("Unlock Sotto"));
  setWindowIcon(app_icon());
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(note(tr("Your profile is protected by a master password. Enter it to open "
                            "your accounts, contacts and history."),
                         this));
  auto* form = new QFormLayout;
  password_ = password_field(QStringLiteral("masterPassword"), this);
  password_error_ = field_error(QStringLiteral("passwordError"), this);
  form->addRow(tr("Master &password:"), with_error(password_, password_error_, this));
  layout->addLayout(form);
  busy_ = new BusyIndicator(this);
  layout->addWidget(busy_);
  error_ = field_error(QStringLiteral("error"), this);
  layout->addWidget(error_);

  buttons_ = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  QPushButton* ok = buttons_->button(QDialogButtonBox::Ok);
  ok->setObjectName(QStringLiteral("unlock"));
  ok->setText(tr("&Unlock"));
  ok->setDefault(true);
  buttons_->button(QDialogButtonBox::Cancel)->setObjectName(QStringLiteral("cancel"));
  connect(ok, &QPushButton::clicked, this, &UnlockDialog::unlock);
  connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);
  layout->addWidget(buttons_);
  connect(password_, &QLineEdit::textEdited, this, [this] { password_error_->show_error({}); });
  password_->setFocus();
  setMinimumWidth(420);
  grow_to_fit_contents(this);
}

void UnlockDialog::unlock() {
  error_->show_error({});
  if (password_->text().isEmpty()) {
    password_error_->show_error(tr("Enter your master password."));
    password_->setFocus();
    return;
  }
  password_error_->show_error({});
  set_busy(true);
  busy_->start(tr("Deriving the key from your password…"));
  auto done = core_.back<Result<void>>(this, [this](Result<void> r) { answered(std::move(r)); });
  core_.post([password = password_->text().toStdString(), done](app::Engine& engine) mutable {
    engine.unlock(std::move(password), done);
  });
}

void UnlockDialog::answered(Result<void> result) {
  set_busy(false);
  if (result) {
    password_->clear();
    accept();
    return;
  }
  password_->clear();
  password_->setFocus();
  if (result.error().code == Errc::auth) {
    password_error_->show_error(tr("Wrong master password."));
  } else {
    error_->show_error(error_sentence(result.error()));
  }
}

void UnlockDialog::reject() {
  if (!working_) QDialog::reject();
}

void UnlockDialog::set_busy(bool busy) {
  working_ = busy;
  if (!busy) busy_->stop();
  password_->setEnabled(!busy);
  buttons_->setEnabled(!busy);
}

// ---------------------------------------------------------------------------
// MasterPasswordDialog

MasterPasswordDialog::MasterPasswordDialog(Core& core, QWidget* parent)
    : QDialog(parent),
      core_(core),
      protection_(core.sync([](app::Engine& engine) { return engine.protection(); })) {
  const bool has_password = protection_ == app::ProfileProtection::master_password;
  setWindowTitle(has_password ? tr("Master password") : tr("Set a master password"));
  auto* layout = new QVBoxLayout(this);
  form_ = new QWidget(this);
  auto* form_layout = new QVBoxLayout(form_);
  form_layout->setContentsMargins(0, 0, 0, 0);

  if (has_password) {
    form_layout->addWidget(note(tr("Your profile is protected by a master password."), form_));
    auto* current_form = new QFormLayout;
    current_ = password_field(QStringLiteral("currentPassword"), form_);
    current_error_ = field_error(QStringLiteral("currentError"), form_);
    current_form->addRow(tr("C&urrent master password:"),
                         with_error(current_, current_error_, form_));
    form_layout->addLayout(current_form);
    change_ = new QRadioButton(tr("C&hange the master password"), form_);
    change_->setObjectName(QStringLiteral("changeMode"));
    change_->setChecked(true);
    remove_ = new QRadioButton(tr("&Remove the master password"), form_);
    remove_->setObjectName(QStringLiteral("removeMode"));
    form_layout->addWidget(change_);
  } else {
    form_layout->addWidget(
        note(tr("Without a master password, %1.\n\nWith one, Sotto asks for it each time it "
                "starts, and nobody who gets hold of your profile, or of this computer "
                "account, can read it without the password.")
                 .arg(protection_text(protection_)),
             form_));
  }

  new_password_form_ = new QWidget(form_);
  auto* form = new QFormLayout(new_password_form_);
  form->setContentsMargins(has_password ? 24 : 0, 0, 0, 0);
  password_ = password_field(QStringLiteral("masterPassword"), new_password_form_);
  password_error_ = field_error(QStringLiteral("passwordError"), new_password_form_);
  confirm_ = password_field(QStringLiteral("confirmPassword"), new_password_form_);
  confirm_error_ = field_error(QStringLiteral("confirmError"), new_password_form_);
  meter_ = new StrengthMeter(new_password_form_);
  meter_->watch(password_);
  form->addRow(tr("&New master password:"),
               with_error(password_, password_error_, new_password_form_));
  form->addRow(tr("&Type it again:"), with_error(confirm_, confirm_error_, new_password_form_));
  form->addRow(tr("Strength:"), meter_);
  form->addRow(note(tr("Nobody can recover it for you: if you forget it, the profile cannot be "
                       "opened again."),
                    new_password_form_));
  form_layout->addWidget(new_password_form_);

  remove_note_ = note(tr("Without a master password Sotto starts without asking. The profile "
                         "stays encrypted, but its key is then kept in your desktop keyring or, "
                         "where there is none, in a key file in the profile folder: anyone who "
                         "can use this computer account can open your accounts, keys and "
                         "history."),
                      form_);
  remove_note_->setContentsMargins(24, 0, 0, 0);
  if (remove_ != nullptr) {
    form_layout->addWidget(remove_);
    form_layout->addWidget(remove_note_);
  } else {
    remove_note_->hide();
  }
  layout->addWidget(form_);

  busy_ = new BusyIndicator(this);
  layout->addWidget(busy_);
  error_ = field_error(QStringLiteral("error"), this);
  layout->addWidget(error_);
  status_ = new QLabel(this);
  status_->setObjectName(QStringLiteral("status"));
  status_->setWordWrap(true);
  status_->hide();
  layout->addWidget(status_);
  layout->addStretch(1);

  buttons_ = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  QPushButton* ok = buttons_->button(QDialogButtonBox::Ok);
  ok->setObjectName(QStringLiteral("ok"));
  ok->setDefault(true);
  buttons_->button(QDialogButtonBox::Cancel)->setObjectName(QStringLiteral("cancel"));
  close_ = buttons_->addButton(tr("&Close"), QDialogButtonBox::AcceptRole);
  close_->setObjectName(QStringLiteral("close"));
  close_->hide();
  connect(ok, &QPushButton::clicked, this, &MasterPasswordDialog::apply);
  connect(close_, &QPushButton::clicked, this, &QDialog::accept);
  connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);
  layout->addWidget(buttons_);

  if (change_ != nullptr) {
    connect(change_, &QRadioButton::toggled, this, &MasterPasswordDialog::update_form);
  }
  if (current_ != nullptr) {
    connect(current_, &QLineEdit::textEdited, this, [this] { current_error_->show_error({}); });
  }
  connect(password_, &QLineEdit::textEdited, this, [this] { password_error_->show_error({}); });
  connect(confirm_, &QLineEdit::textEdited, this, [this] { confirm_error_->show_error({}); });
  update_form();
  (current_ != nullptr ? current_ : password_)->setFocus();
  setMinimumWidth(480);
  grow_to_fit_contents(this);
}

QString MasterPasswordDialog::status_text() const { return status_->text(); }

void MasterPasswordDialog::update_form() {
  const bool removing = remove_ != nullptr && remove_->isChecked();
  new_password_form_->setEnabled(!removing);
  remove_note_->setEnabled(removing);
  QPushButton* ok = buttons_->button(QDialogButtonBox::Ok);
  if (protection_ != app::ProfileProtection::master_password) {
    ok->setText(tr("&Set master password"));
  } else {
    ok->setText(removing ? tr("&Remove master password") : tr("C&hange master password"));
  }
}

void MasterPasswordDialog::apply() {
  error_->show_error({});
  const bool removing = remove_ != nullptr && remove_->isChecked();
  bool ok = true;
  if (current_ != nullptr) {
    current_error_->show_error({});
    if (current_->text().isEmpty()) {
      current_error_->show_error(tr("Enter your current master password."));
      current_->setFocus();
      ok = false;
    }
  }
  password_error_->show_error({});
  confirm_error_->show_error({});
  if (!removing) {
    if (password_->text().isEmpty()) {
      password_error_->show_error(tr("Choose the new master password."));
      if (ok) password_->setFocus();
      ok = false;
    } else if (confirm_->text() != password_->text()) {
      confirm_error_->show_error(
          tr("The two passwords do not match. Type the same password twice."));
      if (ok) confirm_->setFocus();
      ok = false;
    }
  }
  if (!ok) return;

  std::optional<std::string> current = text_or_none(current_);
  std::optional<std::string> next =
      removing ? std::nullopt : std::optional<std::string>(password_->text().toStdString());
  set_busy(true);
  busy_->start(tr("Deriving the key from your password…"));
  auto done = core_.back<Result<void>>(
      this, [this, removing](Result<void> r) { applied(std::move(r), removing); });
  const bool create = protection_ == app::ProfileProtection::none;
  core_.post([create, current = std::move(current), next = std::move(next),
              done](app::Engine& engine) mutable {
    if (create) {
      engine.create_profile(std::move(next), done);
    } else {
      engine.change_master_password(std::move(current), std::move(next), done);
    }
  });
}

void MasterPasswordDialog::applied(Result<void> result, bool removing) {
  set_busy(false);
  if (!result) {
    if (result.error().code == Errc::auth && current_ != nullptr) {
      current_->clear();
      current_->setFocus();
      current_error_->show_error(tr("Wrong master password."));
    } else {
      error_->show_error(tr("Nothing was changed: %1").arg(error_sentence(result.error())));
    }
    return;
  }
  const auto now = core_.sync([](app::Engine& engine) { return engine.protection(); });
  if (current_ != nullptr) current_->clear();
  password_->clear();
  confirm_->clear();
  succeeded_ = true;
  form_->hide();
  error_->show_error({});
  if (removing) {
    status_->setText(tr("The master password is removed. Sotto no longer asks for it. The "
                        "profile stays encrypted: %1.")
                         .arg(protection_text(now)));
  } else {
    status_->setText(
        tr("The master password is set. Sotto asks for it each time it starts; "
           "without it nobody can read the profile, and nobody can recover it for "
           "you."));
  }
  status_->show();
  buttons_->button(QDialogButtonBox::Ok)->hide();
  buttons_->button(QDialogButtonBox::Cancel)->hide();
  close_->show();
  close_->setDefault(true);
  close_->setFocus();
}

void MasterPasswordDialog::reject() {
  if (!working_) QDialog::reject();
}

void MasterPasswordDialog::set_busy(bool busy) {
  working_ = busy;
  if (!busy) busy_->stop();
  form_->setEnabled(!busy);
  buttons_->setEnabled(!busy);
}

// ---------------------------------------------------------------------------
// open_profile

bool open_profile(Core& core, QWidget* parent) {
  if (const Result<void>& opened = core.opened(); !opened) {
    QMessageBox::critical(
        parent, QCoreApplication::translate("sotto", "Sotto cannot open your profile"),
        QCoreApplication::translate("sotto", "The profile in %1 could not be opened.\n\n%2")
            .arg(QString::fromStdString(core.profile_dir().string()),
                 error_sentence(opened.error())));
    return false;
  }
  struct Status {
    app::ProfileProtection protection;
    bool unlocked;
  };
  const Status status = core.sync([](app::Engine& engine) {
    return Status{engine.protection(), engine.unlocked()};
  });
  if (status.unlocked) return true;
  if (status.protection == app::ProfileProtection::none) {
    FirstStartDialog dialog(core, parent);
    if (dialog.exec() != QDialog::Accepted) return false;
    if (dialog.protection() != app::ProfileProtection::master_password) {
      auto* box = new QMessageBox(QMessageBox::Information,
                                  QCoreApplication::translate("sotto", "Your profile"),
                                  dialog.outcome_text(), QMessageBox::Ok, parent);
      box->setObjectName(QStringLiteral("profileCreated"));
      box->setAttribute(Qt::WA_DeleteOnClose);
      box->setModal(false);
      box->show();
    }
    return true;
  }
  UnlockDialog dialog(core, parent);
  return dialog.exec() == QDialog::Accepted;
}

}  // namespace sotto::desktop
