#include "authenticate_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFontDatabase>
#include <QGridLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QStackedWidget>
#include <QStandardItemModel>
#include <QVBoxLayout>

#include <algorithm>
#include <optional>
#include <utility>

#include "look.h"

namespace sotto::desktop {
namespace {

// "Bob (bob@example.org)", or the address alone when that is the name.
QString who(const QString& name, const std::string& address) {
  const QString text = QString::fromStdString(address);
  return name == text ? text : QStringLiteral("%1 (%2)").arg(name, text);
}

QLabel* wrapped(QWidget* parent) {
  auto* label = new QLabel(parent);
  label->setWordWrap(true);
  label->setTextFormat(Qt::PlainText);
  return label;
}

QLabel* fingerprint_label(QWidget* parent) {
  auto* label = new QLabel(parent);
  label->setTextFormat(Qt::PlainText);
  label->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  label->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
  label->setFocusPolicy(Qt::StrongFocus);  // reachable by Tab, to select and copy
  label->setContentsMargins(12, 0, 0, 0);
  return label;
}

void mark_sensitive(QLineEdit* edit) {
  edit->setInputMethodHints(Qt::ImhSensitiveData | Qt::ImhNoPredictiveText |
                            Qt::ImhNoAutoUppercase);
}

}  // namespace

AuthenticateDialog::AuthenticateDialog(State& state, std::string account, std::string peer,
                                       QWidget* parent)
    : QDialog(parent), state_(state), account_(std::move(account)), peer_(std::move(peer)) {
  build();
  refresh();
  method_->setCurrentIndex(static_cast<int>(private_ ? Method::question : Method::fingerprint));
  update_controls();
  connect(&state_, &State::privacyChanged, this,
          [this](const QString& account, const QString& peer) {
            if (account.toStdString() != account_ || peer.toStdString() != peer_) return;
            refresh();
            update_controls();
          });
}

AuthenticateDialog::~AuthenticateDialog() {
  if (running_) {
    state_.core().post([a = account_, p = peer_](app::Engine& e) { (void)e.smp_abort(a, p); });
  }
}

void AuthenticateDialog::build() {
  const QString name = state_.display_name(account_, peer_);
  setWindowTitle(tr("Authenticate contact"));
  setMinimumWidth(520);

  auto* layout = new QVBoxLayout(this);
  intro_ = wrapped(this);
  intro_->setText(tr("Authenticating %1 makes sure that you are talking to them, and not to "
                     "someone who stands in between and pretends to be them.")
                      .arg(who(name, peer_)));
  layout->addWidget(intro_);

  auto* how = new QLabel(tr("&How would you like to authenticate?"), this);
  method_ = new QComboBox(this);
  method_->setObjectName(QStringLiteral("method"));
  method_->addItem(tr("Question and answer"));
  method_->addItem(tr("Shared secret"));
  method_->addItem(tr("Manual fingerprint verification"));
  how->setBuddy(method_);
  layout->addWidget(how);
  layout->addWidget(method_);

  not_private_ = wrapped(this);
  not_private_->setObjectName(QStringLiteral("notPrivate"));
  not_private_->setStyleSheet(QStringLiteral("color: #a04000;"));
  layout->addWidget(not_private_);

  pages_ = new QStackedWidget(this);
  layout->addWidget(pages_);

  // Question and answer.
  auto* qa = new QWidget(pages_);
  auto* qa_layout = new QVBoxLayout(qa);
  qa_layout->setContentsMargins(0, 0, 0, 0);
  question_help_ = wrapped(qa);
  qa_layout->addWidget(question_help_);
  question_label_ = new QLabel(qa);
  question_label_->setTextFormat(Qt::PlainText);  // it quotes the contact's name
  question_ = new QLineEdit(qa);
  question_->setObjectName(QStringLiteral("question"));
  question_label_->setBuddy(question_);
  question_error_ = new FieldError(qa);
  auto* answer_label = new QLabel(tr("A&nswer:"), qa);
  answer_ = new QLineEdit(qa);
  answer_->setObjectName(QStringLiteral("answer"));
  mark_sensitive(answer_);
  answer_label->setBuddy(answer_);
  answer_error_ = new FieldError(qa);
  for (QWidget* w : std::initializer_list<QWidget*>{question_label_, question_, question_error_,
                                                    answer_label, answer_, answer_error_}) {
    qa_layout->addWidget(w);
  }
  qa_layout->addStretch();
  pages_->addWidget(qa);

  // Shared secret.
  auto* secret_page = new QWidget(pages_);
  auto* secret_layout = new QVBoxLayout(secret_page);
  secret_layout->setContentsMargins(0, 0, 0, 0);
  secret_help_ = wrapped(secret_page);
  secret_layout->addWidget(secret_help_);
  auto* secret_label = new QLabel(tr("&Secret:"), secret_page);
  secret_ = new QLineEdit(secret_page);
  secret_->setObjectName(QStringLiteral("secret"));
  secret_->setEchoMode(QLineEdit::Password);
  mark_sensitive(secret_);
  secret_label->setBuddy(secret_);
  show_secret_ = new QCheckBox(tr("Sho&w the secret"), secret_page);
  show_secret_->setObjectName(QStringLiteral("showSecret"));
  secret_error_ = new FieldError(secret_page);
  secret_layout->addWidget(secret_label);
  auto* secret_row = new QHBoxLayout;
  secret_row->addWidget(secret_, 1);
  secret_row->addWidget(show_secret_);
  secret_layout->addLayout(secret_row);
  secret_layout->addWidget(secret_error_);
  secret_layout->addStretch();
  pages_->addWidget(secret_page);

  // Fingerprints.
  auto* fp_page = new QWidget(pages_);
  auto* fp_layout = new QVBoxLayout(fp_page);
  fp_layout->setContentsMargins(0, 0, 0, 0);
  auto* fp_help = wrapped(fp_page);
  fp_help->setText(tr("Compare the fingerprints over another channel you trust: in person or by "
                      "phone, not in this chat. If %1 reads you the same fingerprint as the one "
                      "below, mark it verified.")
                       .arg(name));
  fp_layout->addWidget(fp_help);
  mine_label_ = wrapped(fp_page);
  mine_label_->setText(tr("Your fingerprint for %1:").arg(QString::fromStdString(account_)));
  mine_ = fingerprint_label(fp_page);
  mine_->setObjectName(QStringLiteral("ownFingerprint"));
  theirs_label_ = wrapped(fp_page);
  theirs_label_->setText(tr("Purported fingerprint for %1:").arg(who(name, peer_)));
  theirs_ = fingerprint_label(fp_page);
  theirs_->setObjectName(QStringLiteral("theirFingerprint"));
  theirs_choice_ = new QComboBox(fp_page);
  theirs_choice_->setObjectName(QStringLiteral("fingerprintChoice"));
  theirs_choice_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  theirs_choice_->setAccessibleName(tr("Fingerprint"));
  verified_ = new QComboBox(fp_page);
  verified_->setObjectName(QStringLiteral("verified"));
  verified_->addItem(tr("I have not verified that this is in fact the correct fingerprint"));
  verified_->addItem(tr("I have verified that this is in fact the correct fingerprint"));
  auto* verified_label = new QLabel(tr("&Trust:"), fp_page);
  verified_label->setBuddy(verified_);
  for (QWidget* w : std::initializer_list<QWidget*>{mine_label_, mine_, theirs_label_, theirs_,
                                                    theirs_choice_, verified_label, verified_}) {
    fp_layout->addWidget(w);
  }
  fp_layout->addStretch();
  pages_->addWidget(fp_page);

  progress_ = new QProgressBar(this);
  progress_->setObjectName(QStringLiteral("progress"));
  progress_->setRange(0, 100);
  progress_->setValue(0);
  progress_->hide();
  layout->addWidget(progress_);
  result_ = wrapped(this);
  result_->setObjectName(QStringLiteral("result"));
  layout->addWidget(result_);

  auto* buttons = new QDialogButtonBox(this);
  ok_ = buttons->addButton(tr("&Authenticate"), QDialogButtonBox::AcceptRole);
  ok_->setObjectName(QStringLiteral("ok"));
  ok_->setDefault(true);
  cancel_ = buttons->addButton(tr("&Cancel"), QDialogButtonBox::RejectRole);
  cancel_->setObjectName(QStringLiteral("cancel"));
  layout->addWidget(buttons);

  connect(method_, &QComboBox::currentIndexChanged, this, [this](int index) {
    pages_->setCurrentIndex(std::max(index, 0));
    update_controls();
  });
  connect(show_secret_, &QCheckBox::toggled, this, [this](bool shown) {
    secret_->setEchoMode(shown ? QLineEdit::Normal : QLineEdit::Password);
  });
  connect(question_, &QLineEdit::textEdited, question_error_,
          [this] { question_error_->show_error({}); });
  connect(answer_, &QLineEdit::textEdited, answer_error_,
          [this] { answer_error_->show_error({}); });
  connect(secret_, &QLineEdit::textEdited, secret_error_,
          [this] { secret_error_->show_error({}); });
  connect(theirs_choice_, &QComboBox::currentIndexChanged, this, [this](int index) {
    if (index >= 0 && static_cast<std::size_t>(index) < purported_verified_.size()) {
      verified_->setCurrentIndex(purported_verified_[static_cast<std::size_t>(index)] ? 1 : 0);
    }
  });
  connect(ok_, &QPushButton::clicked, this, &AuthenticateDialog::on_ok);
  connect(cancel_, &QPushButton::clicked, this, &AuthenticateDialog::reject);
}

void AuthenticateDialog::refresh() {
  struct Snapshot {
    Result<app::OtrStatus> status;
    Result<std::optional<std::string>> mine;
    Result<std::vector<app::OtrFingerprint>> known;
  };
  Snapshot s = state_.core().sync([&](app::Engine& e) {
    Snapshot out;
    out.status = e.otr_status(account_, peer_);
    out.mine = e.otr_fingerprint(account_);
    out.known = e.otr_fingerprints(account_);
    return out;
  });
  private_ = s.status && is_private(s.status->privacy);

  if (!s.mine) {
    mine_->setText(QString::fromStdString(s.mine.error().message));
  } else if (!*s.mine) {
    mine_->setText(tr("No key yet: the account gets one when it first goes online."));
  } else {
    mine_->setText(QString::fromStdString(**s.mine));
  }

  std::vector<std::string> fingerprints;
  std::vector<bool> verified;
  if (s.status && s.status->fingerprint) {
    fingerprints.push_back(*s.status->fingerprint);
    verified.push_back(s.status->privacy == app::Privacy::verified);
  } else if (s.known) {
    for (const auto& f : *s.known) {
      if (f.peer != peer_) continue;
      fingerprints.push_back(f.fingerprint);
      verified.push_back(f.verified);
    }
  }
  if (fingerprints != purported_ || verified != purported_verified_) {
    purported_ = std::move(fingerprints);
    purported_verified_ = std::move(verified);
    show_purported();
  }
}

void AuthenticateDialog::show_purported() {
  const QSignalBlocker block(theirs_choice_);
  theirs_choice_->clear();
  for (const auto& f : purported_) theirs_choice_->addItem(QString::fromStdString(f));
  theirs_choice_->setVisible(purported_.size() > 1);
  theirs_->setVisible(purported_.size() <= 1);
  if (purported_.empty()) {
    theirs_->setFont(font());
    theirs_->setText(
        tr("Not known yet: Sotto learns it in a private conversation. Start one from "
           "the padlock in the chat."));
  } else {
    theirs_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    theirs_->setText(QString::fromStdString(purported_.front()));
  }
  verified_->setCurrentIndex(!purported_verified_.empty() && purported_verified_.front() ? 1 : 0);
}

AuthenticateDialog::Method AuthenticateDialog::method() const {
  return static_cast<Method>(std::clamp(method_->currentIndex(), 0, 2));
}

void AuthenticateDialog::update_controls() {
  const QString name = state_.display_name(account_, peer_);
  const bool answering = mode_ != Mode::ask;
  const bool smp_possible = private_ || answering;

  if (auto* model = qobject_cast<QStandardItemModel*>(method_->model())) {
    for (Method m : {Method::question, Method::secret}) {
      if (QStandardItem* item = model->item(static_cast<int>(m))) item->setEnabled(smp_possible);
    }
  }
  if (!smp_possible && method() != Method::fingerprint && !running_) {
    const QSignalBlocker block(method_);
    method_->setCurrentIndex(static_cast<int>(Method::fingerprint));
    pages_->setCurrentIndex(static_cast<int>(Method::fingerprint));
  }
  const Method m = method();

  if (!smp_possible) {
    not_private_->setText(
        purported_.empty()
            ? tr("You are not in a private conversation with %1. Start one from the padlock in "
                 "the chat, then authenticate %1.")
                  .arg(name)
            : tr("You are not in a private conversation with %1, so a question or a shared "
                 "secret cannot be used now. Start one from the padlock in the chat; comparing "
                 "fingerprints works at any time.")
                  .arg(name));
  }
  not_private_->setVisible(!smp_possible);

  switch (mode_) {
    case Mode::ask:
      question_label_->setText(tr("&Question:"));
      question_help_->setText(
          tr("Ask %1 a question whose answer only the two of you know. %1 sees the question and "
             "must type exactly the same answer: capital letters, spaces and punctuation count. "
             "Neither answer is revealed to the other side or to the server.")
              .arg(name));
      secret_help_->setText(
          tr("Agree on a secret with %1 beforehand, in person or over a channel you trust (not "
             "this chat). You both type it, and it must match exactly. It is not revealed to the "
             "other side or to the server.")
              .arg(name));
      break;
    case Mode::answering_question:
      question_label_->setText(tr("%1's &question:").arg(name));
      question_help_->setText(tr("%1 wants to make sure that it is really you and asks you a "
                                 "question. Type the answer; it must be exactly the answer %1 "
                                 "expects.")
                                  .arg(name));
      break;
    case Mode::answering_secret:
      secret_help_->setText(tr("%1 wants to make sure that it is really you, with the secret you "
                               "share. Type it; it must match exactly.")
                                .arg(name));
      break;
  }
  question_->setReadOnly(answering);

  const bool inputs = !busy_ && !submitted_ && (m == Method::fingerprint || smp_possible);
  method_->setEnabled(!answering && !running_ && !busy_);
  question_->setEnabled(inputs || answering);
  answer_->setEnabled(inputs);
  secret_->setEnabled(inputs);
  show_secret_->setEnabled(inputs);
  theirs_choice_->setEnabled(!busy_ && !purported_.empty());
  verified_->setEnabled(!busy_ && !purported_.empty());

  ok_->setEnabled(inputs && (m != Method::fingerprint || !purported_.empty()));
  if (m == Method::fingerprint) {
    ok_->setText(tr("Sa&ve"));
  } else if (answering) {
    ok_->setText(tr("Sen&d answer"));
  } else {
    ok_->setText(tr("&Authenticate"));
  }
  cancel_->setText(finished_ && !running_ ? tr("&Close") : tr("&Cancel"));
  progress_->setVisible(running_ || finished_);
}

void AuthenticateDialog::answer_question(const QString& question) {
  mode_ = Mode::answering_question;
  running_ = true;
  submitted_ = false;
  finished_ = false;
  {
    const QSignalBlocker block(method_);
    method_->setCurrentIndex(static_cast<int>(Method::question));
    pages_->setCurrentIndex(static_cast<int>(Method::question));
  }
  question_->setText(question);
  question_->setCursorPosition(0);
  answer_->clear();
  question_error_->show_error({});
  answer_error_->show_error({});
  progress_->setValue(0);
  show_result({}, Tone::neutral);
  update_controls();
  answer_->setFocus();
}

void AuthenticateDialog::answer_secret() {
  mode_ = Mode::answering_secret;
  running_ = true;
  submitted_ = false;
  finished_ = false;
  {
    const QSignalBlocker block(method_);
    method_->setCurrentIndex(static_cast<int>(Method::secret));
    pages_->setCurrentIndex(static_cast<int>(Method::secret));
  }
  secret_->clear();
  secret_error_->show_error({});
  progress_->setValue(0);
  show_result({}, Tone::neutral);
  update_controls();
  secret_->setFocus();
}

void AuthenticateDialog::on_progress(const app::SmpProgress& progress) {
  const QString name = state_.display_name(account_, peer_);
  switch (progress.stage) {
    case app::SmpStage::asked_question:
      return answer_question(QString::fromStdString(progress.question));
    case app::SmpStage::asked_secret:
      return answer_secret();
    case app::SmpStage::in_progress:
      running_ = true;
      finished_ = false;
      progress_->setValue(std::max(progress_->value(), progress.percent));
      if (submitted_) show_result(tr("Authenticating…"), Tone::neutral);
      return update_controls();
    case app::SmpStage::succeeded:
      progress_->setValue(100);
      switch (mode_) {
        case Mode::ask:
          return finish(tr("Authentication successful: %1 is verified.").arg(name), Tone::good);
        case Mode::answering_question:
          return finish(tr("Authentication successful: %1 has verified you. To verify %1 too, "
                           "ask your own question.")
                            .arg(name),
                        Tone::good);
        case Mode::answering_secret:
          return finish(
              tr("Authentication successful: you and %1 have verified each other.").arg(name),
              Tone::good);
      }
      return;
    case app::SmpStage::failed:
      return finish(tr("Authentication failed: the answers did not match. It may be a typo, or "
                       "someone else is answering."),
                    Tone::bad);
    case app::SmpStage::aborted:
      return finish(tr("Authentication aborted."), Tone::bad);
    case app::SmpStage::error:
      return finish(tr("Authentication failed: a protocol error stopped it. Try again."),
                    Tone::bad);
  }
}

void AuthenticateDialog::reject() {
  if (running_) {
    running_ = false;
    state_.core().post([a = account_, p = peer_](app::Engine& e) { (void)e.smp_abort(a, p); });
  }
  QDialog::reject();
}

void AuthenticateDialog::on_ok() {
  if (busy_) return;
  if (method() == Method::fingerprint) return save_fingerprint();
  if (mode_ == Mode::ask) return ask();
  answer();
}

void AuthenticateDialog::ask() {
  const QString name = state_.display_name(account_, peer_);
  const bool with_question = method() == Method::question;
  QLineEdit* secret_field = with_question ? answer_ : secret_;
  QWidget* first_bad = nullptr;
  if (with_question && question_->text().trimmed().isEmpty()) {
    question_error_->show_error(tr("Type a question that only %1 can answer.").arg(name));
    first_bad = question_;
  }
  if (secret_field->text().trimmed().isEmpty()) {
    (with_question ? answer_error_ : secret_error_)
        ->show_error(with_question ? tr("Type the answer %1 must give.").arg(name)
                                   : tr("Type the secret you share with %1.").arg(name));
    if (first_bad == nullptr) first_bad = secret_field;
  }
  if (first_bad != nullptr) {
    first_bad->setFocus();
    return;
  }
  std::optional<std::string> question;
  if (with_question) question = question_->text().toStdString();
  std::string secret = secret_field->text().toStdString();
  busy_ = true;
  show_result({}, Tone::neutral);
  update_controls();
  state_.core().call(
      this,
      [a = account_, p = peer_, question = std::move(question),
       secret = std::move(secret)](app::Engine& e) mutable {
        // The engine gets a copy; ours is wiped (a moved-from short string
        // would keep its bytes).
        auto asked = e.smp_ask(a, p, std::move(question), std::string(secret));
        secure_wipe(secret);
        return asked;
      },
      [this, secret_field, name](Result<void> asked) {
        busy_ = false;
        if (!asked) {
          show_result(tr("Could not start the authentication: %1")
                          .arg(QString::fromStdString(asked.error().message)),
                      Tone::bad);
          return update_controls();
        }
        secret_field->clear();
        started(tr("Waiting for %1 to answer…").arg(name));
      });
}

void AuthenticateDialog::answer() {
  const QString name = state_.display_name(account_, peer_);
  const bool question = mode_ == Mode::answering_question;
  QLineEdit* field = question ? answer_ : secret_;
  if (field->text().trimmed().isEmpty()) {
    (question ? answer_error_ : secret_error_)
        ->show_error(question ? tr("Type your answer to %1's question.").arg(name)
                              : tr("Type the secret you share with %1.").arg(name));
    field->setFocus();
    return;
  }
  std::string secret = field->text().toStdString();
  busy_ = true;
  show_result({}, Tone::neutral);
  update_controls();
  state_.core().call(
      this,
      [a = account_, p = peer_, secret = std::move(secret)](app::Engine& e) mutable {
        auto answered = e.smp_answer(a, p, std::string(secret));
        secure_wipe(secret);
        return answered;
      },
      [this, field](Result<void> answered) {
        busy_ = false;
        if (!answered) {
          show_result(tr("Could not send the answer: %1")
                          .arg(QString::fromStdString(answered.error().message)),
                      Tone::bad);
          return update_controls();
        }
        field->clear();
        started(tr("Answer sent; authenticating…"));
      });
}

void AuthenticateDialog::save_fingerprint() {
  if (purported_.empty()) return;
  std::size_t index = 0;
  if (purported_.size() > 1) {
    index = static_cast<std::size_t>(std::max(theirs_choice_->currentIndex(), 0));
  }
  const std::string fingerprint = purported_.at(std::min(index, purported_.size() - 1));
  const bool verified = verified_->currentIndex() == 1;
  Result<void> saved = state_.core().sync([&](app::Engine& e) {
    return e.set_fingerprint_verified(account_, peer_, fingerprint, verified);
  });
  if (!saved) {
    show_result(tr("Could not save it: %1").arg(QString::fromStdString(saved.error().message)),
                Tone::bad);
    return;
  }
  accept();
}

void AuthenticateDialog::started(const QString& waiting) {
  running_ = true;
  submitted_ = true;
  finished_ = false;
  progress_->setValue(0);
  show_result(waiting, Tone::neutral);
  update_controls();
  cancel_->setFocus();
}

void AuthenticateDialog::finish(const QString& text, Tone tone) {
  const bool was_answering = mode_ == Mode::answering_question;
  running_ = false;
  submitted_ = false;
  busy_ = false;
  finished_ = true;
  mode_ = Mode::ask;
  if (was_answering) question_->clear();
  show_result(text, tone);
  refresh();
  update_controls();
}

void AuthenticateDialog::show_result(const QString& text, Tone tone) {
  switch (tone) {
    case Tone::neutral:
      result_->setStyleSheet({});
      break;
    case Tone::good:
      result_->setStyleSheet(QStringLiteral("color: #27864a; font-weight: bold;"));
      break;
    case Tone::bad:
      result_->setStyleSheet(QStringLiteral("color: #c0392b; font-weight: bold;"));
      break;
  }
  result_->setText(text);
}

}  // namespace sotto::desktop
