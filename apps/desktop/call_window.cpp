#include "call_window.h"

#include <QCloseEvent>
#include <QDialogButtonBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QTimer>
#include <QVBoxLayout>

#include "look.h"
#include "profile_dialogs.h"

namespace sotto::desktop {

QString call_peer_name(const State& state, const app::CallInfo& call) {
  if (const app::Contact* contact = state.contact(call.account, call.peer);
      contact != nullptr && !contact->name.empty()) {
    return QString::fromStdString(contact->name);
  }
  if (!call.peer_name.empty()) return QString::fromStdString(call.peer_name);
  return QString::fromStdString(call.peer);
}

namespace {

// "Name" over "address", or just the address.
QString who_html(const State& state, const app::CallInfo& call) {
  const QString name = call_peer_name(state, call);
  const QString address = QString::fromStdString(call.peer);
  if (name == address) {
    return QStringLiteral("<b style=\"font-size:large\">%1</b>").arg(address.toHtmlEscaped());
  }
  return QStringLiteral(
             "<b style=\"font-size:large\">%1</b><br><span style=\"color:#808080\">%2</span>")
      .arg(name.toHtmlEscaped(), address.toHtmlEscaped());
}

}  // namespace

// ---------------------------------------------------------------------------
// CallWindow

CallWindow::CallWindow(State& state, std::string id, QWidget* parent)
    : QWidget(parent, Qt::Window), state_(state), id_(std::move(id)) {
  setObjectName(QStringLiteral("callWindow"));
  setWindowIcon(app_icon());
  if (const app::CallInfo* call = state_.call(id_)) call_ = *call;

  auto* layout = new QVBoxLayout(this);
  peer_ = new QLabel(this);
  peer_->setObjectName(QStringLiteral("peer"));
  peer_->setTextFormat(Qt::RichText);  // every piece escaped
  peer_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(peer_);

  state_label_ = new QLabel(this);
  state_label_->setObjectName(QStringLiteral("callState"));
  state_label_->setTextFormat(Qt::PlainText);
  QFont bigger = state_label_->font();
  bigger.setPointSizeF(bigger.pointSizeF() * 1.2);
  state_label_->setFont(bigger);
  layout->addWidget(state_label_);

  codec_ = new QLabel(this);
  codec_->setObjectName(QStringLiteral("codec"));
  codec_->setTextFormat(Qt::PlainText);
  layout->addWidget(codec_);

  auto* security_row = new QHBoxLayout;
  auto* padlock = new QLabel(this);
  padlock->setPixmap(call_security_icon().pixmap(16, 16));
  security_row->addWidget(padlock);
  security_ = new QLabel(call_security_text(), this);
  security_->setObjectName(QStringLiteral("security"));
  security_->setTextFormat(Qt::PlainText);
  security_->setToolTip(call_security_explanation());
  padlock->setToolTip(call_security_explanation());
  security_row->addWidget(security_, 1);
  layout->addLayout(security_row);
  auto* zrtp_note = note(tr("Encryption (ZRTP) comes with Sotto's audio support."), this);
  QFont small = zrtp_note->font();
  small.setPointSizeF(small.pointSizeF() * 0.9);
  zrtp_note->setFont(small);
  zrtp_note->setForegroundRole(QPalette::PlaceholderText);
  layout->addWidget(zrtp_note);

  error_ = field_error(QStringLiteral("callError"), this);
  layout->addWidget(error_);
  layout->addStretch(1);

  auto* buttons = new QHBoxLayout;
  hold_ = new QPushButton(tr("&Hold"), this);
  hold_->setObjectName(QStringLiteral("hold"));
  hold_->setAutoDefault(false);
  hang_up_ = new QPushButton(tr("Hang &up"), this);
  hang_up_->setObjectName(QStringLiteral("hangUp"));
  hang_up_->setAutoDefault(false);
  QPalette red = hang_up_->palette();
  red.setColor(QPalette::Button, QColor(0xe7, 0x4c, 0x3c));
  red.setColor(QPalette::ButtonText, Qt::white);
  hang_up_->setPalette(red);
  close_ = new QPushButton(tr("&Close"), this);
  close_->setObjectName(QStringLiteral("close"));
  close_->hide();
  buttons->addWidget(hold_);
  buttons->addStretch(1);
  buttons->addWidget(hang_up_);
  buttons->addWidget(close_);
  layout->addLayout(buttons);

  tick_ = new QTimer(this);
  tick_->setInterval(1000);
  linger_ = new QTimer(this);
  linger_->setSingleShot(true);
  linger_->setInterval(kLingerMs);

  connect(hold_, &QPushButton::clicked, this, &CallWindow::toggle_hold);
  connect(hang_up_, &QPushButton::clicked, this, &CallWindow::hang_up);
  connect(close_, &QPushButton::clicked, this, &QWidget::close);
  connect(tick_, &QTimer::timeout, this, &CallWindow::update_view);
  connect(linger_, &QTimer::timeout, this, &QWidget::close);
  connect(&state_, &State::callChanged, this, [this](const QString& changed) {
    if (changed.toStdString() != id_) return;
    if (const app::CallInfo* call = state_.call(id_)) call_ = *call;
    update_view();
  });
  connect(&state_, &State::contactsChanged, this, &CallWindow::update_view);

  setMinimumWidth(340);
  update_view();
  hang_up_->setFocus();
}

QString CallWindow::state_text() const { return state_label_->text(); }

void CallWindow::update_view() {
  const QString name = call_peer_name(state_, call_);
  setWindowTitle(tr("Call with %1").arg(name));
  peer_->setText(who_html(state_, call_));
  state_label_->setText(call_state_text(call_, std::chrono::system_clock::now()));
  codec_->setText(call_.codec.empty()
                      ? QString()
                      : tr("Audio format: %1").arg(QString::fromStdString(call_.codec)));
  codec_->setVisible(!call_.codec.empty());

  const bool active = call_.state == app::CallState::active;
  hold_->setEnabled(active);
  hold_->setText(call_.on_hold ? tr("&Resume") : tr("&Hold"));
  hold_->setToolTip(call_.on_hold ? tr("Take the call off hold") : tr("Put the call on hold"));
  if (active && !call_.on_hold && !call_.remote_hold) {
    if (!tick_->isActive()) tick_->start();
  } else {
    tick_->stop();
  }

  if (call_.state == app::CallState::ended && !ended_) {
    ended_ = true;
    tick_->stop();
    hold_->setEnabled(false);
    hang_up_->hide();
    close_->show();
    close_->setDefault(true);
    close_->setFocus();
    linger_->start();
  }
}

void CallWindow::toggle_hold() {
  error_->show_error({});
  const bool on = !call_.on_hold;
  auto held = state_.core().sync([&](app::Engine& engine) { return engine.hold_call(id_, on); });
  if (!held) {
    error_->show_error(
        on ? tr("The call could not be put on hold: %1").arg(error_sentence(held.error()))
           : tr("The call could not be resumed: %1").arg(error_sentence(held.error())));
  }
}

void CallWindow::hang_up() {
  error_->show_error({});
  auto done = state_.core().sync([&](app::Engine& engine) { return engine.hang_up(id_); });
  if (!done) {
    error_->show_error(tr("Hanging up did not work: %1").arg(error_sentence(done.error())));
  }
}

void CallWindow::closeEvent(QCloseEvent* event) {
  if (!ended_) {
    const std::string id = id_;
    state_.core().post([id](app::Engine& engine) { (void)engine.hang_up(id); });
  }
  QWidget::closeEvent(event);
}

// ---------------------------------------------------------------------------
// IncomingCallDialog

IncomingCallDialog::IncomingCallDialog(State& state, std::string id, QWidget* parent)
    : QDialog(parent), state_(state), id_(std::move(id)) {
  setObjectName(QStringLiteral("incomingCall"));
  setModal(false);
  setWindowIcon(app_icon());
  // Ringing must not take the keyboard from a chat: Enter there would answer.
  setAttribute(Qt::WA_ShowWithoutActivating);
  app::CallInfo call;
  if (const app::CallInfo* known = state_.call(id_)) call = *known;
  const QString name = call_peer_name(state_, call);
  setWindowTitle(tr("Call from %1").arg(name));

  auto* layout = new QVBoxLayout(this);
  auto* heading = new QLabel(tr("Incoming call"), this);
  heading->setTextFormat(Qt::PlainText);
  layout->addWidget(heading);
  auto* caller = new QLabel(who_html(state_, call), this);
  caller->setObjectName(QStringLiteral("caller"));
  caller->setTextFormat(Qt::RichText);  // escaped in who_html()
  caller->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(caller);
  int sip_accounts = 0;
  for (const auto& account : state_.accounts()) sip_accounts += account.protocol == "sip";
  if (sip_accounts > 1) {
    auto* callee =
        new QLabel(tr("To your account %1").arg(QString::fromStdString(call.account)), this);
    callee->setObjectName(QStringLiteral("callee"));
    callee->setTextFormat(Qt::PlainText);
    layout->addWidget(callee);
  }
  auto* security = new QHBoxLayout;
  auto* padlock = new QLabel(this);
  padlock->setPixmap(call_security_icon().pixmap(16, 16));
  padlock->setToolTip(call_security_explanation());
  security->addWidget(padlock);
  auto* security_text = new QLabel(call_security_text(), this);
  security_text->setToolTip(call_security_explanation());
  security->addWidget(security_text, 1);
  layout->addLayout(security);
  error_ = field_error(QStringLiteral("callError"), this);
  layout->addWidget(error_);

  auto* buttons = new QDialogButtonBox(this);
  auto* answer = buttons->addButton(tr("&Answer"), QDialogButtonBox::AcceptRole);
  answer->setObjectName(QStringLiteral("answer"));
  auto* busy = buttons->addButton(tr("&Busy"), QDialogButtonBox::ActionRole);
  busy->setObjectName(QStringLiteral("busy"));
  busy->setToolTip(tr("Tell the caller you are busy"));
  auto* reject = buttons->addButton(tr("&Reject"), QDialogButtonBox::RejectRole);
  reject->setObjectName(QStringLiteral("reject"));
  for (QPushButton* b : {answer, busy, reject}) b->setAutoDefault(false);
  layout->addWidget(buttons);
  connect(answer, &QPushButton::clicked, this, &IncomingCallDialog::answer);
  connect(busy, &QPushButton::clicked, this, &IncomingCallDialog::busy);
  connect(reject, &QPushButton::clicked, this, &IncomingCallDialog::reject);
  connect(&state_, &State::callChanged, this, &IncomingCallDialog::on_call_changed);
  setMinimumWidth(320);
}

void IncomingCallDialog::answer() {
  error_->show_error({});
  auto answered = state_.core().sync([&](app::Engine& engine) { return engine.answer_call(id_); });
  if (!answered) {
    error_->show_error(
        tr("The call could not be answered: %1").arg(error_sentence(answered.error())));
    return;
  }
  // Closes when the call is no longer ringing here.
}

void IncomingCallDialog::reject() { refuse(false); }

void IncomingCallDialog::busy() { refuse(true); }

void IncomingCallDialog::refuse(bool busy) {
  const app::CallInfo* call = state_.call(id_);
  if (call == nullptr || call->state != app::CallState::incoming) {
    QDialog::reject();
    return;
  }
  auto refused =
      state_.core().sync([&](app::Engine& engine) { return engine.reject_call(id_, busy); });
  if (!refused) {
    error_->show_error(
        tr("The call could not be rejected: %1").arg(error_sentence(refused.error())));
    return;
  }
  QDialog::reject();
}

void IncomingCallDialog::on_call_changed(const QString& id) {
  if (id.toStdString() != id_) return;
  const app::CallInfo* call = state_.call(id_);
  if (call == nullptr || call->state != app::CallState::incoming) done(QDialog::Accepted);
}

}  // namespace sotto::desktop
