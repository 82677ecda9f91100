#include "options_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDesktopServices>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontDatabase>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QStackedWidget>
#include <QTableWidget>
#include <QTimer>
#include <QTreeWidget>
#include <QUrl>
#include <QVBoxLayout>

#include <cctype>
#include <filesystem>

#include "account_dialogs.h"
#include "look.h"
#include "profile_dialogs.h"

namespace sotto::desktop {
namespace {

constexpr int kAccountRole = Qt::UserRole;

// "2A4F0C1D 9E8B7766 01234567 89ABCDEF 0F1E2D3C", whatever the spelling.
QString grouped_fingerprint(const std::string& fingerprint) {
  QString hex;
  for (char c : fingerprint) {
    if (std::isxdigit(static_cast<unsigned char>(c)) != 0) hex += QChar::fromLatin1(c).toUpper();
  }
  if (hex.size() != 40) return QString::fromStdString(fingerprint);
  QStringList groups;
  for (int i = 0; i < 40; i += 8) groups << hex.mid(i, 8);
  return groups.join(QLatin1Char(' '));
}

QLabel* explanation(const QString& text) {
  auto* label = new QLabel(text);
  label->setWordWrap(true);
  label->setStyleSheet(QStringLiteral("color: palette(placeholder-text);"));
  return label;
}

QLabel* selectable(QLabel* label) {
  label->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
  return label;
}

QWidget* scrolled(QWidget* page) {
  auto* area = new QScrollArea;
  area->setWidget(page);
  area->setWidgetResizable(true);
  area->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  area->setFrameShape(QFrame::NoFrame);
  return area;
}

std::filesystem::path to_path(const QString& text) {
  return std::filesystem::path(QDir::cleanPath(text.trimmed()).toStdString());
}

struct PidginFiles {
  std::optional<std::filesystem::path> keys;
  std::optional<std::filesystem::path> fingerprints;
};

// Which of Pidgin's files to read; ~/.purple/ to begin with.
std::optional<PidginFiles> ask_pidgin_files(QWidget* parent, const QString& account, bool has_key) {
  QDialog dialog(parent);
  dialog.setWindowTitle(OptionsDialog::tr("Import from Pidgin"));
  const QString purple = QDir::home().filePath(QStringLiteral(".purple"));
  auto* intro = new QLabel(
      OptionsDialog::tr("Sotto reads Pidgin's OTR files and takes what belongs to %1: its key, "
                        "and its contacts' fingerprints with whether you verified them. "
                        "Pidgin's files are only read.")
          .arg(account));
  intro->setWordWrap(true);

  auto file_row = [&](const QString& name, const QString& file, const QString& filter,
                      QLineEdit*& field) {
    field = new QLineEdit;
    field->setObjectName(name);
    const QString path = QDir(purple).filePath(file);
    if (QFileInfo::exists(path)) field->setText(path);
    field->setPlaceholderText(OptionsDialog::tr("(not imported)"));
    auto* browse = new QPushButton(OptionsDialog::tr("Browse…"));
    QObject::connect(browse, &QPushButton::clicked, &dialog, [&dialog, field, purple, filter] {
      const QString start = field->text().isEmpty() ? purple : field->text();
      const QString chosen =
          QFileDialog::getOpenFileName(&dialog, OptionsDialog::tr("Choose a file"), start, filter);
      if (!chosen.isEmpty()) field->setText(chosen);
    });
    auto* row = new QHBoxLayout;
    row->addWidget(field, 1);
    row->addWidget(browse);
    return row;
  };
  QLineEdit* keys = nullptr;
  QLineEdit* fingerprints = nullptr;
  auto* form = new QFormLayout;
  form->addRow(
      OptionsDialog::tr("Keys:"),
      file_row(QStringLiteral("pidginKeys"), QStringLiteral("otr.private_key"),
               OptionsDialog::tr("Pidgin OTR keys (otr.private_key);;All files (*)"), keys));
  form->addRow(
      OptionsDialog::tr("Fingerprints:"),
      file_row(QStringLiteral("pidginFingerprints"), QStringLiteral("otr.fingerprints"),
               OptionsDialog::tr("Pidgin OTR fingerprints (otr.fingerprints);;All files (*)"),
               fingerprints));

  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  buttons->button(QDialogButtonBox::Ok)->setText(OptionsDialog::tr("Import"));
  QObject::connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  QObject::connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  auto update = [=] {
    buttons->button(QDialogButtonBox::Ok)
        ->setEnabled(!keys->text().trimmed().isEmpty() ||
                     !fingerprints->text().trimmed().isEmpty());
  };
  QObject::connect(keys, &QLineEdit::textChanged, &dialog, update);
  QObject::connect(fingerprints, &QLineEdit::textChanged, &dialog, update);
  update();

  auto* layout = new QVBoxLayout(&dialog);
  layout->addWidget(intro);
  layout->addLayout(form);
  if (has_key) {
    auto* note = new QLabel(
        OptionsDialog::tr("A key for %1 in Pidgin's file replaces its key here: contacts who "
                          "verified the current one will see a changed key.")
            .arg(account));
    note->setWordWrap(true);
    layout->addWidget(note);
  }
  layout->addWidget(buttons);
  dialog.resize(560, dialog.sizeHint().height());
  if (dialog.exec() != QDialog::Accepted) return std::nullopt;
  PidginFiles files;
  if (!keys->text().trimmed().isEmpty()) files.keys = to_path(keys->text());
  if (!fingerprints->text().trimmed().isEmpty()) files.fingerprints = to_path(fingerprints->text());
  return files;
}

QString protection_sentence(app::ProfileProtection protection) {
  switch (protection) {
    case app::ProfileProtection::master_password:
      return OptionsDialog::tr(
          "A master password protects your profile: Sotto asks for it whenever it starts.");
    case app::ProfileProtection::none:
    case app::ProfileProtection::keyring:
    case app::ProfileProtection::key_file:
      break;
  }
  return OptionsDialog::tr("There is no master password. Your profile is encrypted; %1.")
      .arg(protection_text(protection));
}

}  // namespace

OptionsDialog::OptionsDialog(State& state, QWidget* parent)
    : QDialog(parent), state_(state), core_(state.core()) {
  setWindowTitle(tr("Options"));

  page_list_ = new QListWidget;
  page_list_->setObjectName(QStringLiteral("pageList"));
  page_list_->addItems(
      {tr("General"), tr("Security"), tr("Accounts"), tr("Calls"), tr("Advanced")});
  page_list_->setFixedWidth(page_list_->sizeHintForColumn(0) + 40);

  pages_ = new QStackedWidget;
  pages_->setObjectName(QStringLiteral("pages"));
  pages_->addWidget(scrolled(make_general()));
  pages_->addWidget(scrolled(make_security()));
  pages_->addWidget(scrolled(make_accounts()));
  pages_->addWidget(scrolled(make_calls()));
  pages_->addWidget(scrolled(make_advanced()));
  connect(page_list_, &QListWidget::currentRowChanged, pages_, &QStackedWidget::setCurrentIndex);
  page_list_->setCurrentRow(0);

  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

  auto* body = new QHBoxLayout;
  body->addWidget(page_list_);
  body->addWidget(pages_, 1);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(body, 1);
  layout->addWidget(buttons);
  resize(860, 640);

  fingerprints_timer_ = new QTimer(this);
  fingerprints_timer_->setSingleShot(true);
  fingerprints_timer_->setInterval(200);
  connect(fingerprints_timer_, &QTimer::timeout, this, &OptionsDialog::reload_fingerprints);
  connect(&core_, &Core::event, this, &OptionsDialog::on_event);
  connect(&state_, &State::accountsChanged, this, &OptionsDialog::on_accounts_changed);

  reload();
}

void OptionsDialog::show_page(Page page) { page_list_->setCurrentRow(static_cast<int>(page)); }

void OptionsDialog::showEvent(QShowEvent* event) {
  QDialog::showEvent(event);
  reload();
}

void OptionsDialog::reload() {
  read_general();
  read_policy();
  fill_keys();
  reload_fingerprints();
  update_protection();
  fill_saved_passwords();
  fill_accounts();
  read_require_encryption();
  read_audio();
  read_packet_logging();
}

void OptionsDialog::on_event(const app::Event& event) {
  if (const auto* e = std::get_if<app::OtrKeyState>(&event)) {
    switch (e->stage) {
      case app::OtrKeyStage::generating:
        generating_.insert(e->account);
        show_key(e->account, std::nullopt);
        break;
      case app::OtrKeyStage::ready:
        generating_.erase(e->account);
        show_key(e->account, e->fingerprint);
        break;
      case app::OtrKeyStage::failed:
        generating_.erase(e->account);
        show_key(e->account, std::nullopt,
                 e->error ? error_sentence(*e->error) : tr("The key could not be made."));
        break;
    }
  } else if (std::holds_alternative<app::OtrNewFingerprint>(event) ||
             std::holds_alternative<app::OtrKeyChanged>(event) ||
             std::holds_alternative<app::PrivacyChanged>(event) ||
             std::holds_alternative<app::SmpProgress>(event)) {
    if (isVisible() && !fingerprints_timer_->isActive()) fingerprints_timer_->start();
  }
}

void OptionsDialog::on_accounts_changed() {
  std::vector<std::string> addresses;
  for (const auto& account : state_.accounts()) addresses.push_back(account.address);
  if (addresses != key_accounts_) {
    fill_keys();
    reload_fingerprints();
  }
  fill_saved_passwords();
  fill_accounts();
}

// ---------------------------------------------------------------------------
// General

QWidget* OptionsDialog::make_general() {
  auto* page = new QWidget;
  auto* layout = new QVBoxLayout(page);
  log_history_ = new QCheckBox(tr("Log chat history"));
  log_history_->setObjectName(QStringLiteral("logHistory"));
  layout->addWidget(log_history_);
  layout->addWidget(explanation(
      tr("History is kept inside your profile, encrypted like everything else in it. When this "
         "is off, no conversation is written to the disk; what is already saved stays until you "
         "delete it in the History window.")));
  layout->addStretch(1);
  connect(log_history_, &QCheckBox::toggled, this, [this](bool on) {
    auto set = core_.sync([on](app::Engine& e) { return e.set_log_history(on); });
    if (!set) {
      QMessageBox::warning(
          this, tr("Options"),
          tr("The setting could not be saved: %1").arg(error_sentence(set.error())));
      read_general();
    }
  });
  return page;
}

void OptionsDialog::read_general() {
  const bool on = core_.sync([](app::Engine& e) { return e.log_history(); });
  QSignalBlocker block(log_history_);
  log_history_->setChecked(on);
}

// ---------------------------------------------------------------------------
// Security

QWidget* OptionsDialog::make_security() {
  auto* page = new QWidget;
  auto* layout = new QVBoxLayout(page);

  // Private conversations (OTR)
  auto* otr = new QGroupBox(tr("Private conversations (OTR)"));
  auto* otr_layout = new QVBoxLayout(otr);

  otr_policy_ = new QComboBox;
  otr_policy_->setObjectName(QStringLiteral("otrPolicy"));
  otr_policy_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  otr_policy_->setMinimumContentsLength(24);
  for (auto policy : {app::OtrPolicy::manual, app::OtrPolicy::opportunistic, app::OtrPolicy::always,
                      app::OtrPolicy::require}) {
    otr_policy_->addItem(policy_text(policy), static_cast<int>(policy));
  }
  auto* policy_form = new QFormLayout;
  policy_form->addRow(tr("Start private conversations:"), otr_policy_);
  otr_layout->addLayout(policy_form);
  otr_layout->addWidget(
      explanation(tr("For every contact without a setting of their own. With \"Require it\", a "
                     "message waits until the conversation is private and is never sent "
                     "unencrypted.")));
  connect(otr_policy_, &QComboBox::currentIndexChanged, this, [this] {
    const auto policy = static_cast<app::OtrPolicy>(otr_policy_->currentData().toInt());
    auto set = core_.sync([policy](app::Engine& e) { return e.set_otr_policy(policy); });
    if (!set) {
      QMessageBox::warning(
          this, tr("Options"),
          tr("The policy could not be saved: %1").arg(error_sentence(set.error())));
      read_policy();
    }
  });

  auto* keys_title = new QLabel(tr("<b>Your keys</b>"));
  otr_layout->addSpacing(8);
  otr_layout->addWidget(keys_title);
  otr_layout->addWidget(explanation(
      tr("Read your fingerprint to your contacts over a channel you trust (in person, on the "
         "phone) so that they can verify you.")));
  keys_layout_ = new QVBoxLayout;
  otr_layout->addLayout(keys_layout_);

  otr_layout->addSpacing(8);
  otr_layout->addWidget(new QLabel(tr("<b>Your contacts' fingerprints</b>")));
  fingerprints_ = new QTableWidget(0, 5);
  fingerprints_->setObjectName(QStringLiteral("fingerprints"));
  fingerprints_->setHorizontalHeaderLabels(
      {tr("Account"), tr("Contact"), tr("Fingerprint"), tr("Verified"), tr("In use")});
  fingerprints_->verticalHeader()->hide();
  fingerprints_->setSelectionBehavior(QAbstractItemView::SelectRows);
  fingerprints_->setSelectionMode(QAbstractItemView::SingleSelection);
  fingerprints_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  fingerprints_->setWordWrap(false);
  fingerprints_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  fingerprints_->horizontalHeader()->setStretchLastSection(true);
  fingerprints_->setMinimumHeight(120);
  fingerprints_->setMaximumHeight(220);
  otr_layout->addWidget(fingerprints_);
  no_fingerprints_ = explanation(
      tr("No fingerprints yet: a contact's appears with your first private conversation."));
  otr_layout->addWidget(no_fingerprints_);
  verify_ = new QPushButton(tr("Verify…"));
  verify_->setObjectName(QStringLiteral("verifyFingerprint"));
  unverify_ = new QPushButton(tr("Unverify"));
  unverify_->setObjectName(QStringLiteral("unverifyFingerprint"));
  forget_ = new QPushButton(tr("Forget…"));
  forget_->setObjectName(QStringLiteral("forgetFingerprint"));
  auto* fingerprint_buttons = new QHBoxLayout;
  fingerprint_buttons->addWidget(verify_);
  fingerprint_buttons->addWidget(unverify_);
  fingerprint_buttons->addWidget(forget_);
  fingerprint_buttons->addStretch(1);
  otr_layout->addLayout(fingerprint_buttons);
  connect(fingerprints_, &QTableWidget::itemSelectionChanged, this,
          &OptionsDialog::update_fingerprint_buttons);
  connect(verify_, &QPushButton::clicked, this, [this] { verify_selected(true); });
  connect(unverify_, &QPushButton::clicked, this, [this] { verify_selected(false); });
  connect(forget_, &QPushButton::clicked, this, &OptionsDialog::forget_selected);
  layout->addWidget(otr);

  // Encrypted calls (ZRTP)
  auto* calls = new QGroupBox(tr("Calls"));
  auto* calls_layout = new QVBoxLayout(calls);
  require_encryption_ = new QCheckBox(tr("&Require encrypted calls"));
  require_encryption_->setObjectName(QStringLiteral("requireCallEncryption"));
  calls_layout->addWidget(require_encryption_);
  calls_layout->addWidget(explanation(
      tr("Sotto always tries to encrypt calls end to end (ZRTP). When this is on, a call that "
         "cannot be encrypted ends with the reason instead of going on unencrypted. It applies "
         "to calls that start from now on.")));
  connect(require_encryption_, &QCheckBox::toggled, this, [this](bool on) {
    auto set = core_.sync([on](app::Engine& e) { return e.set_require_call_encryption(on); });
    if (!set) {
      QMessageBox::warning(
          this, tr("Options"),
          tr("The setting could not be saved: %1").arg(error_sentence(set.error())));
    }
    read_require_encryption();
  });
  layout->addWidget(calls);

  // Master password
  auto* master = new QGroupBox(tr("Master password"));
  auto* master_layout = new QVBoxLayout(master);
  protection_ = new QLabel;
  protection_->setObjectName(QStringLiteral("protection"));
  protection_->setWordWrap(true);
  master_password_ = new QPushButton;
  master_password_->setObjectName(QStringLiteral("masterPassword"));
  master_layout->addWidget(protection_);
  master_layout->addWidget(master_password_, 0, Qt::AlignLeft);
  connect(master_password_, &QPushButton::clicked, this, [this] {
    MasterPasswordDialog dialog(core_, this);
    dialog.exec();
    update_protection();
  });
  layout->addWidget(master);

  // Saved passwords
  auto* saved = new QGroupBox(tr("Saved passwords"));
  auto* saved_layout = new QVBoxLayout(saved);
  saved_layout->addWidget(explanation(
      tr("These accounts remember their password, kept in your encrypted profile, so that they "
         "connect without asking. If you forget one here, Sotto asks for it the next time the "
         "account connects.")));
  saved_passwords_ = new QListWidget;
  saved_passwords_->setObjectName(QStringLiteral("savedPasswords"));
  saved_passwords_->setMaximumHeight(110);
  no_saved_passwords_ = new QLabel(tr("No account remembers its password."));
  forget_password_ = new QPushButton(tr("Forget password…"));
  forget_password_->setObjectName(QStringLiteral("forgetPassword"));
  saved_layout->addWidget(saved_passwords_);
  saved_layout->addWidget(no_saved_passwords_);
  saved_layout->addWidget(forget_password_, 0, Qt::AlignLeft);
  connect(saved_passwords_, &QListWidget::itemSelectionChanged, this,
          [this] { forget_password_->setEnabled(saved_passwords_->currentItem() != nullptr); });
  connect(forget_password_, &QPushButton::clicked, this, &OptionsDialog::forget_saved_password);
  layout->addWidget(saved);
  layout->addStretch(1);
  return page;
}

void OptionsDialog::read_policy() {
  QSignalBlocker block(otr_policy_);
  const auto policy = core_.sync([](app::Engine& e) { return e.otr_policy(); });
  otr_policy_->setCurrentIndex(otr_policy_->findData(static_cast<int>(policy)));
}

void OptionsDialog::fill_keys() {
  key_accounts_.clear();
  for (const auto& account : state_.accounts()) key_accounts_.push_back(account.address);
  key_rows_.clear();
  delete keys_;
  keys_ = new QWidget;
  auto* rows = new QVBoxLayout(keys_);
  rows->setContentsMargins(0, 0, 0, 0);
  keys_layout_->addWidget(keys_);
  if (key_accounts_.empty()) {
    rows->addWidget(new QLabel(tr("No accounts yet.")));
    return;
  }
  for (const std::string& address : key_accounts_) {
    const QString account = QString::fromStdString(address);
    KeyRow key;
    auto* name = new QLabel;
    name->setTextFormat(Qt::PlainText);
    name->setText(account);
    QFont bold = name->font();
    bold.setBold(true);
    name->setFont(bold);
    key.fingerprint = selectable(new QLabel);
    key.fingerprint->setObjectName(QStringLiteral("ownFingerprint"));
    key.fingerprint->setProperty("account", account);
    key.fingerprint->setWordWrap(true);
    key.generate = new QPushButton;
    key.generate->setObjectName(QStringLiteral("generateKey"));
    key.generate->setProperty("account", account);
    key.import = new QPushButton(tr("Import from Pidgin…"));
    key.import->setObjectName(QStringLiteral("importPidgin"));
    key.import->setProperty("account", account);
    key.progress = new QProgressBar;
    key.progress->setRange(0, 0);
    key.progress->setTextVisible(false);
    key.progress->setMaximumHeight(8);
    key.progress->hide();
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(key.generate);
    buttons->addWidget(key.import);
    buttons->addStretch(1);
    rows->addSpacing(4);
    rows->addWidget(name);
    rows->addWidget(key.fingerprint);
    rows->addWidget(key.progress);
    rows->addLayout(buttons);
    connect(key.generate, &QPushButton::clicked, this, [this, address] { generate_key(address); });
    connect(key.import, &QPushButton::clicked, this, [this, address] { import_pidgin(address); });
    key_rows_[address] = key;

    auto fingerprint = core_.sync([address](app::Engine& e) { return e.otr_fingerprint(address); });
    if (fingerprint) {
      show_key(address, *fingerprint);
    } else {
      show_key(address, std::nullopt, error_sentence(fingerprint.error()));
    }
  }
}

void OptionsDialog::show_key(const std::string& account,
                             const std::optional<std::string>& fingerprint,
                             const QString& problem) {
  auto it = key_rows_.find(account);
  if (it == key_rows_.end()) return;
  KeyRow& key = it->second;
  const bool busy = generating_.count(account) > 0;
  key.progress->setVisible(busy);
  key.generate->setEnabled(!busy);
  key.import->setEnabled(!busy);
  key.fingerprint->setFont(font());
  if (busy) {
    key.fingerprint->setStyleSheet({});
    key.fingerprint->setText(tr("Making a new key; this takes a moment…"));
    return;
  }
  std::optional<std::string> shown = fingerprint;
  if (!shown && problem.isEmpty()) {
    // The engine knows better than the event that came without one.
    auto read = core_.sync([account](app::Engine& e) { return e.otr_fingerprint(account); });
    if (read) shown = *read;
  }
  key.generate->setProperty("hasKey", shown.has_value());
  key.generate->setText(shown ? tr("Generate new key…") : tr("Generate key"));
  if (!problem.isEmpty()) {
    key.fingerprint->setStyleSheet(QStringLiteral("color: #c0392b;"));
    key.fingerprint->setText(problem);
  } else if (shown) {
    key.fingerprint->setStyleSheet({});
    key.fingerprint->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    key.fingerprint->setText(grouped_fingerprint(*shown));
  } else {
    key.fingerprint->setStyleSheet({});
    key.fingerprint->setText(tr("No key yet: one is made when the account first goes online."));
  }
}

void OptionsDialog::generate_key(const std::string& account) {
  auto it = key_rows_.find(account);
  if (it == key_rows_.end() || generating_.count(account) > 0) return;
  if (it->second.generate->property("hasKey").toBool()) {
    QMessageBox box(
        QMessageBox::Warning, tr("Generate a new key?"),
        tr("Replace the key of %1 with a new one?").arg(QString::fromStdString(account)),
        QMessageBox::Cancel, this);
    box.setTextFormat(Qt::PlainText);
    box.setInformativeText(
        tr("Your contacts will see a changed key: whoever verified you has to verify you again. "
           "Private conversations going on now keep the old key until they are refreshed."));
    QPushButton* confirm = box.addButton(tr("Generate new key"), QMessageBox::DestructiveRole);
    box.setDefaultButton(QMessageBox::Cancel);
    box.exec();
    if (box.clickedButton() != confirm) return;
  }
  generating_.insert(account);
  show_key(account, std::nullopt);
  auto done = core_.back<Result<std::string>>(this, [this, account](Result<std::string> result) {
    generating_.erase(account);
    if (!result) {
      show_key(account, std::nullopt, error_sentence(result.error()));
      QMessageBox::warning(
          this, tr("Generate key"),
          tr("The key of %1 could not be made: %2")
              .arg(QString::fromStdString(account), error_sentence(result.error())));
      return;
    }
    show_key(account, *result);
  });
  core_.post(
      [account, done = std::move(done)](app::Engine& e) { e.generate_otr_key(account, done); });
}

void OptionsDialog::import_pidgin(const std::string& account) {
  auto it = key_rows_.find(account);
  const bool has_key = it != key_rows_.end() && it->second.generate->property("hasKey").toBool();
  const QString name = QString::fromStdString(account);
  auto files = ask_pidgin_files(this, name, has_key);
  if (!files) return;
  core_.call(
      this,
      [account, files = *files](app::Engine& e) {
        return e.import_pidgin_otr(account, files.keys, files.fingerprints);
      },
      [this, account, name](Result<app::OtrImported> imported) {
        if (!imported) {
          QMessageBox::warning(
              this, tr("Import from Pidgin"),
              tr("Nothing was imported: %1").arg(error_sentence(imported.error())));
          return;
        }
        if (imported->keys == 0 && imported->fingerprints == 0) {
          QMessageBox::information(this, tr("Import from Pidgin"),
                                   tr("Nothing in these files belongs to %1.").arg(name));
          return;
        }
        show_key(account, std::nullopt);
        reload_fingerprints();
        QMessageBox::information(this, tr("Import from Pidgin"),
                                 tr("Imported for %1: keys: %2, fingerprints: %3.")
                                     .arg(name, QString::number(imported->keys),
                                          QString::number(imported->fingerprints)));
      });
}

void OptionsDialog::reload_fingerprints() {
  auto known = core_.sync([](app::Engine& e) { return e.otr_fingerprints({}); });
  known_ = known ? std::move(*known) : std::vector<app::OtrFingerprint>{};
  fill_fingerprints();
}

void OptionsDialog::fill_fingerprints() {
  // Keep the selection across a refresh.
  std::optional<app::OtrFingerprint> selected;
  if (const auto* current = selected_fingerprint()) selected = *current;
  QSignalBlocker block(fingerprints_);
  fingerprints_->clearContents();
  fingerprints_->setRowCount(static_cast<int>(known_.size()));
  const QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
  int selected_row = -1;
  for (int row = 0; row < static_cast<int>(known_.size()); ++row) {
    const auto& fp = known_[static_cast<std::size_t>(row)];
    const QString peer = QString::fromStdString(fp.peer);
    const QString name = state_.display_name(fp.account, fp.peer);
    auto* account = new QTableWidgetItem(QString::fromStdString(fp.account));
    auto* contact = new QTableWidgetItem(name == peer ? peer : tr("%1 (%2)").arg(name, peer));
    auto* fingerprint = new QTableWidgetItem(grouped_fingerprint(fp.fingerprint));
    fingerprint->setFont(mono);
    auto* verified = new QTableWidgetItem(fp.verified ? tr("Yes") : tr("No"));
    auto* active = new QTableWidgetItem(fp.active ? tr("Yes") : QString());
    fingerprints_->setItem(row, 0, account);
    fingerprints_->setItem(row, 1, contact);
    fingerprints_->setItem(row, 2, fingerprint);
    fingerprints_->setItem(row, 3, verified);
    fingerprints_->setItem(row, 4, active);
    if (selected && selected->account == fp.account && selected->peer == fp.peer &&
        selected->fingerprint == fp.fingerprint) {
      selected_row = row;
    }
  }
  fingerprints_->setColumnHidden(0, key_accounts_.size() <= 1);
  if (selected_row >= 0) fingerprints_->selectRow(selected_row);
  fingerprints_->setVisible(!known_.empty());
  no_fingerprints_->setVisible(known_.empty());
  update_fingerprint_buttons();
}

const app::OtrFingerprint* OptionsDialog::selected_fingerprint() const {
  const auto rows = fingerprints_->selectionModel()->selectedRows();
  if (rows.isEmpty()) return nullptr;
  const int row = rows.front().row();
  if (row < 0 || row >= static_cast<int>(known_.size())) return nullptr;
  return &known_[static_cast<std::size_t>(row)];
}

void OptionsDialog::update_fingerprint_buttons() {
  const app::OtrFingerprint* fp = selected_fingerprint();
  verify_->setEnabled(fp != nullptr && !fp->verified);
  unverify_->setEnabled(fp != nullptr && fp->verified);
  forget_->setEnabled(fp != nullptr);
  forget_->setToolTip(fp != nullptr && fp->active
                          ? tr("In use by a private conversation: end it first.")
                          : QString());
}

void OptionsDialog::verify_selected(bool verified) {
  const app::OtrFingerprint* selected = selected_fingerprint();
  if (selected == nullptr) return;
  const app::OtrFingerprint fp = *selected;
  const QString name = state_.display_name(fp.account, fp.peer);
  if (verified) {
    QMessageBox box(QMessageBox::Question, tr("Verify fingerprint"),
                    tr("Is this the fingerprint of %1?").arg(name), QMessageBox::Cancel, this);
    box.setTextFormat(Qt::PlainText);
    box.setInformativeText(
        tr("%1\n\nSay yes only if %2 read you the same fingerprint over a channel you trust, in "
           "person or on the phone. Private conversations with this key then show as \"%3\".")
            .arg(grouped_fingerprint(fp.fingerprint), name, privacy_text(app::Privacy::verified)));
    QPushButton* confirm = box.addButton(tr("It is, verify"), QMessageBox::AcceptRole);
    box.setDefaultButton(QMessageBox::Cancel);
    box.exec();
    if (box.clickedButton() != confirm) return;
  }
  auto set = core_.sync([&fp, verified](app::Engine& e) {
    return e.set_fingerprint_verified(fp.account, fp.peer, fp.fingerprint, verified);
  });
  if (!set) {
    QMessageBox::warning(
        this, tr("Fingerprints"),
        tr("The fingerprint could not be changed: %1").arg(error_sentence(set.error())));
  }
  reload_fingerprints();
}

void OptionsDialog::forget_selected() {
  const app::OtrFingerprint* selected = selected_fingerprint();
  if (selected == nullptr) return;
  const app::OtrFingerprint fp = *selected;
  const QString name = state_.display_name(fp.account, fp.peer);
  QMessageBox box(
      QMessageBox::Question, tr("Forget fingerprint"),
      tr("Forget this fingerprint of %1?\n\n%2").arg(name, grouped_fingerprint(fp.fingerprint)),
      QMessageBox::Cancel, this);
  box.setTextFormat(Qt::PlainText);
  box.setInformativeText(
      tr("A private conversation with this key will show it as new and unverified."));
  QPushButton* confirm = box.addButton(tr("Forget"), QMessageBox::DestructiveRole);
  box.setDefaultButton(QMessageBox::Cancel);
  box.exec();
  if (box.clickedButton() != confirm) return;
  auto forgotten = core_.sync(
      [&fp](app::Engine& e) { return e.forget_fingerprint(fp.account, fp.peer, fp.fingerprint); });
  if (!forgotten) {
    QMessageBox::warning(
        this, tr("Forget fingerprint"),
        tr("The fingerprint was not forgotten. %1").arg(error_sentence(forgotten.error())));
  }
  reload_fingerprints();
}

void OptionsDialog::update_protection() {
  const auto protection = core_.sync([](app::Engine& e) { return e.protection(); });
  protection_->setText(protection_sentence(protection));
  master_password_->setText(protection == app::ProfileProtection::master_password
                                ? tr("Change or remove master password…")
                                : tr("Set master password…"));
}

void OptionsDialog::fill_saved_passwords() {
  QString current;
  if (const auto* item = saved_passwords_->currentItem()) current = item->text();
  QSignalBlocker block(saved_passwords_);
  saved_passwords_->clear();
  for (const auto& account : state_.accounts()) {
    if (!account.remember_password) continue;
    auto* item = new QListWidgetItem(QString::fromStdString(account.address), saved_passwords_);
    if (item->text() == current) saved_passwords_->setCurrentItem(item);
  }
  const bool any = saved_passwords_->count() > 0;
  saved_passwords_->setVisible(any);
  no_saved_passwords_->setVisible(!any);
  forget_password_->setVisible(any);
  forget_password_->setEnabled(saved_passwords_->currentItem() != nullptr);
}

void OptionsDialog::forget_saved_password() {
  const auto* item = saved_passwords_->currentItem();
  if (item == nullptr) return;
  const std::string address = item->text().toStdString();
  const app::AccountSettings* account = state_.account(address);
  if (account == nullptr) return;
  QMessageBox box(QMessageBox::Question, tr("Forget password"),
                  tr("Forget the saved password of %1?").arg(item->text()), QMessageBox::Cancel,
                  this);
  box.setTextFormat(Qt::PlainText);
  box.setInformativeText(
      tr("Sotto will ask for it the next time the account connects; make sure you know it. The "
         "account stays connected for now."));
  QPushButton* confirm = box.addButton(tr("Forget password"), QMessageBox::DestructiveRole);
  box.setDefaultButton(QMessageBox::Cancel);
  box.exec();
  if (box.clickedButton() != confirm) return;
  // Looked up again: the list may have changed while the question was open.
  account = state_.account(address);
  if (account == nullptr) return;
  app::AccountSettings settings = *account;
  settings.remember_password = false;
  auto updated = core_.sync([&settings](app::Engine& e) { return e.update_account(settings); });
  if (!updated) {
    QMessageBox::warning(
        this, tr("Forget password"),
        tr("The password was not forgotten: %1").arg(error_sentence(updated.error())));
  }
  state_.reload();  // the accounts changed; this dialog follows accountsChanged
}

// ---------------------------------------------------------------------------
// Accounts

QWidget* OptionsDialog::make_accounts() {
  auto* page = new QWidget;
  auto* layout = new QVBoxLayout(page);
  accounts_ = new QTreeWidget;
  accounts_->setObjectName(QStringLiteral("accounts"));
  accounts_->setHeaderLabels({tr("Account"), tr("State")});
  accounts_->setRootIsDecorated(false);
  accounts_->setAllColumnsShowFocus(true);
  accounts_->header()->setSectionResizeMode(0, QHeaderView::Stretch);
  accounts_->header()->setStretchLastSection(false);
  accounts_->header()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
  layout->addWidget(accounts_, 1);

  add_account_ = new QPushButton(tr("Add…"));
  add_account_->setObjectName(QStringLiteral("addAccount"));
  edit_account_ = new QPushButton(tr("Edit…"));
  edit_account_->setObjectName(QStringLiteral("editAccount"));
  change_password_ = new QPushButton(tr("Change password…"));
  change_password_->setObjectName(QStringLiteral("changePassword"));
  remove_account_ = new QPushButton(tr("Remove…"));
  remove_account_->setObjectName(QStringLiteral("removeAccount"));
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(add_account_);
  buttons->addWidget(edit_account_);
  buttons->addWidget(change_password_);
  buttons->addWidget(remove_account_);
  buttons->addStretch(1);
  layout->addLayout(buttons);

  connect(accounts_, &QTreeWidget::itemSelectionChanged, this,
          &OptionsDialog::update_account_buttons);
  connect(accounts_, &QTreeWidget::itemActivated, this, [this] { edit_account(); });
  connect(add_account_, &QPushButton::clicked, this, &OptionsDialog::addAccountRequested);
  connect(edit_account_, &QPushButton::clicked, this, &OptionsDialog::edit_account);
  connect(change_password_, &QPushButton::clicked, this, &OptionsDialog::change_account_password);
  connect(remove_account_, &QPushButton::clicked, this, &OptionsDialog::remove_account);
  return page;
}

void OptionsDialog::fill_accounts() {
  const std::string current = selected_account();
  QSignalBlocker block(accounts_);
  accounts_->clear();
  QTreeWidgetItem* select = nullptr;
  for (const auto& account : state_.accounts()) {
    const app::AccountState state = state_.account_state(account.address);
    QString state_text = account_state_text(state, account.protocol);
    auto* item = new QTreeWidgetItem(accounts_);
    item->setText(0, QString::fromStdString(account.address));
    item->setData(0, kAccountRole, QString::fromStdString(account.address));
    if (auto error = state_.account_error(account.address)) {
      item->setToolTip(1,
                       QStringLiteral("<qt>%1</qt>").arg(error_sentence(*error).toHtmlEscaped()));
      state_text += QStringLiteral(": ") + error_sentence(*error);
    }
    item->setText(1, state_text);
    if (account.address == current) select = item;
  }
  if (select == nullptr && accounts_->topLevelItemCount() > 0) select = accounts_->topLevelItem(0);
  if (select != nullptr) accounts_->setCurrentItem(select);
  update_account_buttons();
}

std::string OptionsDialog::selected_account() const {
  const auto* item = accounts_->currentItem();
  if (item == nullptr) return {};
  return item->data(0, kAccountRole).toString().toStdString();
}

void OptionsDialog::update_account_buttons() {
  const bool selected = !selected_account().empty();
  edit_account_->setEnabled(selected);
  // SIP has no way to change a password on the server: that is the provider's.
  const app::AccountSettings* account = state_.account(selected_account());
  const bool sip = account != nullptr && account->protocol == "sip";
  change_password_->setEnabled(selected && !sip);
  change_password_->setToolTip(
      sip ? tr("A SIP account's password is changed with your provider, not from Sotto.")
          : QString());
  remove_account_->setEnabled(selected);
}

void OptionsDialog::edit_account() {
  const std::string account = selected_account();
  if (account.empty()) return;
  EditAccountDialog dialog(core_, account, this);
  dialog.set_availability(state_.my_availability());
  if (dialog.exec() == QDialog::Accepted) state_.reload();
}

void OptionsDialog::change_account_password() {
  const std::string account = selected_account();
  if (account.empty()) return;
  ChangePasswordDialog dialog(core_, account, this);
  dialog.exec();
}

void OptionsDialog::remove_account() {
  const std::string account = selected_account();
  if (account.empty()) return;
  const QString name = QString::fromStdString(account);
  QMessageBox box(QMessageBox::Warning, tr("Remove account"), tr("Remove %1 from Sotto?").arg(name),
                  QMessageBox::Cancel, this);
  box.setTextFormat(Qt::PlainText);
  box.setInformativeText(
      tr("The account itself stays on its server, with its contact list. From this computer, "
         "its saved password, its private-conversation (OTR) key and its contacts' "
         "fingerprints are deleted: if you add it again, it gets a new key and your contacts "
         "will see a changed key. Its chat history stays; delete it in the History window if "
         "you wish."));
  QPushButton* confirm = box.addButton(tr("Remove"), QMessageBox::DestructiveRole);
  box.setDefaultButton(QMessageBox::Cancel);
  box.exec();
  if (box.clickedButton() != confirm) return;
  auto removed = core_.sync([&account](app::Engine& e) { return e.remove_account(account); });
  if (!removed) {
    QMessageBox::warning(this, tr("Remove account"),
                         tr("%1 was not removed: %2").arg(name, error_sentence(removed.error())));
  }
  generating_.erase(account);
  state_.reload();
}

// ---------------------------------------------------------------------------
// Calls

QWidget* OptionsDialog::make_calls() {
  auto* page = new QWidget;
  auto* layout = new QVBoxLayout(page);

  auto* devices = new QGroupBox(tr("Devices"));
  auto* form = new QFormLayout(devices);
  microphone_ = new QComboBox;
  microphone_->setObjectName(QStringLiteral("microphone"));
  microphone_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  microphone_->setMinimumContentsLength(28);
  speaker_ = new QComboBox;
  speaker_->setObjectName(QStringLiteral("speaker"));
  speaker_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  speaker_->setMinimumContentsLength(28);
  auto* microphone_label = new QLabel(tr("&Microphone:"));
  microphone_label->setBuddy(microphone_);
  auto* speaker_label = new QLabel(tr("&Speaker:"));
  speaker_label->setBuddy(speaker_);
  form->addRow(microphone_label, microphone_);
  form->addRow(speaker_label, speaker_);
  no_audio_devices_ = explanation(
      tr("No sound server answered, so only the system default is offered. Sotto uses whatever "
         "the system chooses."));
  no_audio_devices_->setObjectName(QStringLiteral("noAudioDevices"));
  form->addRow(no_audio_devices_);
  layout->addWidget(devices);

  auto* processing = new QGroupBox(tr("Voice processing"));
  auto* processing_layout = new QVBoxLayout(processing);
  echo_cancellation_ = new QCheckBox(tr("&Echo cancellation"));
  echo_cancellation_->setObjectName(QStringLiteral("echoCancellation"));
  noise_suppression_ = new QCheckBox(tr("&Noise suppression"));
  noise_suppression_->setObjectName(QStringLiteral("noiseSuppression"));
  processing_layout->addWidget(echo_cancellation_);
  processing_layout->addWidget(explanation(
      tr("Keeps your partner from hearing themselves when you talk without a headset.")));
  processing_layout->addWidget(noise_suppression_);
  processing_layout->addWidget(
      explanation(tr("Quiets steady background noise, such as a fan, in what you send.")));
  layout->addWidget(processing);
  layout->addWidget(explanation(tr("Changes apply to calls that start from now on.")));
  layout->addStretch(1);

  connect(microphone_, &QComboBox::currentIndexChanged, this, &OptionsDialog::save_audio);
  connect(speaker_, &QComboBox::currentIndexChanged, this, &OptionsDialog::save_audio);
  connect(echo_cancellation_, &QCheckBox::toggled, this, &OptionsDialog::save_audio);
  connect(noise_suppression_, &QCheckBox::toggled, this, &OptionsDialog::save_audio);
  return page;
}

void OptionsDialog::read_require_encryption() {
  const bool on = core_.sync([](app::Engine& e) { return e.require_call_encryption(); });
  QSignalBlocker block(require_encryption_);
  require_encryption_->setChecked(on);
}

void OptionsDialog::read_audio() {
  struct Read {
    app::AudioSettings settings;
    std::vector<app::AudioDevice> devices;
  };
  const Read read = core_.sync([](app::Engine& e) {
    return Read{e.audio_settings(), e.audio_devices()};
  });
  const auto fill = [&](QComboBox* box, bool input, const std::string& chosen) {
    QSignalBlocker block(box);
    box->clear();
    box->addItem(tr("System default"), QString());
    for (const auto& device : read.devices) {
      if (device.input != input) continue;
      const QString name = QString::fromStdString(device.name);
      box->addItem(device.description.empty() ? name : QString::fromStdString(device.description),
                   name);
      box->setItemData(box->count() - 1, name, Qt::ToolTipRole);
    }
    int index = box->findData(QString::fromStdString(chosen));
    if (index < 0) {
      // Chosen before, not there now (unplugged): kept, and said so.
      box->addItem(tr("%1 (not connected)").arg(QString::fromStdString(chosen)),
                   QString::fromStdString(chosen));
      index = box->count() - 1;
    }
    box->setCurrentIndex(index);
  };
  fill(microphone_, true, read.settings.input_device);
  fill(speaker_, false, read.settings.output_device);
  no_audio_devices_->setVisible(read.devices.empty());
  QSignalBlocker block_echo(echo_cancellation_);
  QSignalBlocker block_noise(noise_suppression_);
  echo_cancellation_->setChecked(read.settings.echo_cancellation);
  noise_suppression_->setChecked(read.settings.noise_suppression);
}

void OptionsDialog::save_audio() {
  // The backend and the file backend's paths stay as they are.
  app::AudioSettings settings = core_.sync([](app::Engine& e) { return e.audio_settings(); });
  settings.input_device = microphone_->currentData().toString().toStdString();
  settings.output_device = speaker_->currentData().toString().toStdString();
  settings.echo_cancellation = echo_cancellation_->isChecked();
  settings.noise_suppression = noise_suppression_->isChecked();
  auto set = core_.sync([&](app::Engine& e) { return e.set_audio_settings(settings); });
  if (!set) {
    QMessageBox::warning(
        this, tr("Options"),
        tr("The audio settings could not be saved: %1").arg(error_sentence(set.error())));
    read_audio();
  }
}

// ---------------------------------------------------------------------------
// Advanced

QWidget* OptionsDialog::make_advanced() {
  auto* page = new QWidget;
  auto* layout = new QVBoxLayout(page);
  packet_logging_ = new QCheckBox(tr("Log network packets (for troubleshooting)"));
  packet_logging_->setObjectName(QStringLiteral("packetLogging"));
  layout->addWidget(packet_logging_);
  layout->addWidget(explanation(
      tr("Writes everything your accounts send and receive to files, in plain text, outside "
         "your encrypted profile. Keep it off unless you are tracking down a connection "
         "problem.")));
  packet_warning_ = new QLabel(
      tr("<b>Packets are being logged in plain text.</b> Turn this off when you are done, and "
         "delete the files."));
  packet_warning_->setWordWrap(true);
  packet_warning_->setStyleSheet(QStringLiteral("color: #c0392b;"));
  layout->addWidget(packet_warning_);

  auto* folder = new QHBoxLayout;
  folder->addWidget(new QLabel(tr("Folder:")));
  packet_dir_ = selectable(new QLabel);
  packet_dir_->setObjectName(QStringLiteral("packetLogDir"));
  packet_dir_->setTextFormat(Qt::PlainText);
  folder->addWidget(packet_dir_, 1);
  open_packet_dir_ = new QPushButton(tr("Open folder"));
  open_packet_dir_->setObjectName(QStringLiteral("openPacketLogDir"));
  folder->addWidget(open_packet_dir_);
  layout->addLayout(folder);
  layout->addStretch(1);

  connect(packet_logging_, &QCheckBox::toggled, this, &OptionsDialog::set_packet_logging);
  connect(open_packet_dir_, &QPushButton::clicked, this,
          [this] { QDesktopServices::openUrl(QUrl::fromLocalFile(packet_dir_->text())); });
  return page;
}

void OptionsDialog::read_packet_logging() {
  struct Read {
    bool on = false;
    std::filesystem::path dir;
  };
  const Read read = core_.sync([](app::Engine& e) {
    return Read{e.packet_logging(), e.packet_log_dir()};
  });
  {
    QSignalBlocker block(packet_logging_);
    packet_logging_->setChecked(read.on);
  }
  const QString dir = QString::fromStdString(read.dir.string());
  packet_dir_->setText(dir);
  open_packet_dir_->setEnabled(QFileInfo(dir).isDir());
  packet_warning_->setVisible(read.on);
}

void OptionsDialog::set_packet_logging(bool on) {
  if (on) {
    QMessageBox box(
        QMessageBox::Warning, tr("Log network packets?"),
        tr("The log is written in PLAIN TEXT, not encrypted, to:\n%1").arg(packet_dir_->text()),
        QMessageBox::Cancel, this);
    box.setTextFormat(Qt::PlainText);
    box.setInformativeText(
        tr("It shows who you talk to, your contact list and presence, and the text of every "
           "message that is not private. Messages in private (OTR) conversations stay "
           "encrypted; passwords are left out. Anyone who can read your files can read the "
           "log.\n\nTurn it on only for troubleshooting, and off again afterwards."));
    QPushButton* confirm = box.addButton(tr("Log packets"), QMessageBox::DestructiveRole);
    box.setDefaultButton(QMessageBox::Cancel);
    box.exec();
    if (box.clickedButton() != confirm) {
      read_packet_logging();
      return;
    }
  }
  auto set = core_.sync([on](app::Engine& e) { return e.set_packet_logging(on); });
  if (!set) {
    QMessageBox::warning(
        this, tr("Options"),
        tr("Packet logging could not be changed: %1").arg(error_sentence(set.error())));
  }
  read_packet_logging();
}

}  // namespace sotto::desktop
