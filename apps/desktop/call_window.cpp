#include "call_window.h"

#include <QAccessible>
#include <QApplication>
#include <QCloseEvent>
#include <QDialogButtonBox>
#include <QFontDatabase>
#include <QFrame>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QKeySequence>
#include <QLabel>
#include <QLocale>
#include <QPushButton>
#include <QStringList>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>
#include <variant>

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

  // The contact's keys changed: loud, and there until the letters are
  // confirmed again.
  keys_banner_ = new QFrame(this);
  keys_banner_->setObjectName(QStringLiteral("keysChangedBanner"));
  keys_banner_->setStyleSheet(QStringLiteral(
      "QFrame#keysChangedBanner { background: #fdecea; border: 2px solid #c0392b; "
      "border-radius: 4px; } QFrame#keysChangedBanner QLabel { color: #6e1a10; border: none; }"));
  keys_banner_->setAccessibleName(tr("Warning"));
  auto* banner_layout = new QVBoxLayout(keys_banner_);
  auto* banner_title = new QLabel(tr("Warning: possible eavesdropper"), keys_banner_);
  banner_title->setObjectName(QStringLiteral("keysChangedTitle"));
  banner_title->setTextFormat(Qt::PlainText);
  QFont title_font = banner_title->font();
  title_font.setBold(true);
  title_font.setPointSizeF(title_font.pointSizeF() * 1.15);
  banner_title->setFont(title_font);
  keys_banner_text_ = new QLabel(keys_banner_);
  keys_banner_text_->setObjectName(QStringLiteral("keysChangedText"));
  keys_banner_text_->setTextFormat(Qt::PlainText);
  keys_banner_text_->setWordWrap(true);
  banner_layout->addWidget(banner_title);
  banner_layout->addWidget(keys_banner_text_);
  keys_banner_->hide();
  layout->addWidget(keys_banner_);

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
  quality_ = new QLabel(this);
  quality_->setObjectName(QStringLiteral("quality"));
  quality_->setTextFormat(Qt::PlainText);
  QFont small = quality_->font();
  small.setPointSizeF(small.pointSizeF() * 0.9);
  quality_->setFont(small);
  quality_->setForegroundRole(QPalette::PlaceholderText);
  quality_->setToolTip(
      tr("Loss: how much of what they say does not arrive. Round trip: how long the sound "
         "takes there and back. Jitter: how unevenly it arrives."));
  layout->addWidget(quality_);

  // The padlock.
  auto* security_row = new QHBoxLayout;
  padlock_ = new QLabel(this);
  padlock_->setObjectName(QStringLiteral("padlock"));
  security_row->addWidget(padlock_, 0, Qt::AlignTop);
  auto* security_text = new QVBoxLayout;
  security_ = new QLabel(this);
  security_->setObjectName(QStringLiteral("security"));
  security_->setTextFormat(Qt::PlainText);
  security_->setWordWrap(true);
  security_detail_ = new QLabel(this);
  security_detail_->setObjectName(QStringLiteral("securityDetail"));
  security_detail_->setTextFormat(Qt::PlainText);
  security_detail_->setWordWrap(true);
  security_detail_->setFont(small);
  security_text->addWidget(security_);
  security_text->addWidget(security_detail_);
  security_row->addLayout(security_text, 1);
  compare_again_ = new QPushButton(tr("Compare a&gain"), this);
  compare_again_->setObjectName(QStringLiteral("sasCompareAgain"));
  compare_again_->setFlat(true);
  compare_again_->setFont(small);
  compare_again_->setAutoDefault(false);
  compare_again_->setToolTip(tr("Show the letters again to compare them in this call"));
  security_row->addWidget(compare_again_, 0, Qt::AlignTop);
  layout->addLayout(security_row);

  // The letters to compare aloud.
  sas_box_ = new QFrame(this);
  sas_box_->setObjectName(QStringLiteral("sasBox"));
  sas_box_->setFrameShape(QFrame::StyledPanel);
  auto* sas_layout = new QVBoxLayout(sas_box_);
  sas_ = new QLabel(sas_box_);
  sas_->setObjectName(QStringLiteral("sas"));
  sas_->setTextFormat(Qt::PlainText);
  sas_->setAlignment(Qt::AlignCenter);
  sas_->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
  sas_->setFocusPolicy(Qt::StrongFocus);
  QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
  mono.setPointSizeF(std::max(mono.pointSizeF(), 10.0) * 2.6);
  mono.setBold(true);
  mono.setLetterSpacing(QFont::PercentageSpacing, 130);
  sas_->setFont(mono);
  auto* sas_prompt =
      new QLabel(tr("Read these letters to your partner and compare them with theirs"), sas_box_);
  sas_prompt->setObjectName(QStringLiteral("sasPrompt"));
  sas_prompt->setTextFormat(Qt::PlainText);
  sas_prompt->setWordWrap(true);
  sas_prompt->setAlignment(Qt::AlignCenter);
  auto* sas_buttons = new QHBoxLayout;
  sas_match_ = new QPushButton(tr("They m&atch"), sas_box_);
  sas_match_->setObjectName(QStringLiteral("sasMatch"));
  sas_match_->setAutoDefault(false);
  sas_mismatch_ = new QPushButton(tr("They &don't match"), sas_box_);
  sas_mismatch_->setObjectName(QStringLiteral("sasMismatch"));
  sas_mismatch_->setAutoDefault(false);
  sas_buttons->addStretch(1);
  sas_buttons->addWidget(sas_match_);
  sas_buttons->addWidget(sas_mismatch_);
  sas_buttons->addStretch(1);
  sas_layout->addWidget(sas_);
  sas_layout->addWidget(sas_prompt);
  sas_layout->addLayout(sas_buttons);
  sas_prompt->setBuddy(sas_);
  layout->addWidget(sas_box_);

  // "They don't match": what it means and what to do.
  sas_warning_ = new QFrame(this);
  sas_warning_->setObjectName(QStringLiteral("sasWarning"));
  sas_warning_->setStyleSheet(QStringLiteral(
      "QFrame#sasWarning { background: #fdecea; border: 2px solid #c0392b; "
      "border-radius: 4px; } QFrame#sasWarning QLabel { color: #6e1a10; border: none; }"));
  sas_warning_->setAccessibleName(tr("Warning"));
  auto* warning_layout = new QVBoxLayout(sas_warning_);
  auto* warning_text = new QLabel(
      tr("Different letters mean that someone may be listening between the two of you, "
         "decrypting and re-encrypting what you say. Do not say anything private in this call. "
         "Hang up, and compare the letters again in a new call."),
      sas_warning_);
  warning_text->setObjectName(QStringLiteral("sasWarningText"));
  warning_text->setTextFormat(Qt::PlainText);
  warning_text->setWordWrap(true);
  auto* warning_buttons = new QHBoxLayout;
  auto* warning_hang_up = new QPushButton(tr("Hang up &now"), sas_warning_);
  warning_hang_up->setObjectName(QStringLiteral("sasWarningHangUp"));
  warning_hang_up->setAutoDefault(false);
  auto* warning_keep = new QPushButton(tr("&Stay on the call"), sas_warning_);
  warning_keep->setObjectName(QStringLiteral("sasWarningStay"));
  warning_keep->setAutoDefault(false);
  warning_buttons->addStretch(1);
  warning_buttons->addWidget(warning_hang_up);
  warning_buttons->addWidget(warning_keep);
  warning_layout->addWidget(warning_text);
  warning_layout->addLayout(warning_buttons);
  sas_warning_->hide();
  layout->addWidget(sas_warning_);

  error_ = field_error(QStringLiteral("callError"), this);
  layout->addWidget(error_);
  audio_problem_ = new QLabel(this);
  audio_problem_->setObjectName(QStringLiteral("audioProblem"));
  audio_problem_->setTextFormat(Qt::PlainText);
  audio_problem_->setWordWrap(true);
  audio_problem_->hide();
  layout->addWidget(audio_problem_);
  dtmf_received_ = new QLabel(this);
  dtmf_received_->setObjectName(QStringLiteral("dtmfReceived"));
  dtmf_received_->setTextFormat(Qt::PlainText);
  dtmf_received_->hide();
  layout->addWidget(dtmf_received_);

  // The keypad (RFC 4733 keys), shown on demand.
  dtmf_pad_ = new QWidget(this);
  dtmf_pad_->setObjectName(QStringLiteral("dtmfPad"));
  dtmf_pad_->setAccessibleName(tr("Keypad"));
  auto* pad_layout = new QVBoxLayout(dtmf_pad_);
  pad_layout->setContentsMargins(0, 0, 0, 0);
  auto* grid = new QGridLayout;
  const char keys[] = "123456789*0#";
  for (int i = 0; i < 12; ++i) {
    const char key = keys[i];
    const QString text = QString(QLatin1Char(key));
    auto* button = new QPushButton(text, dtmf_pad_);
    const QString name = key == '*'   ? QStringLiteral("keyStar")
                         : key == '#' ? QStringLiteral("keyHash")
                                      : QStringLiteral("key") + text;
    button->setObjectName(name);
    button->setAutoDefault(false);
    button->setFocusPolicy(Qt::TabFocus);
    // Typing the key while the pad is open presses it.
    button->setShortcut(QKeySequence(text));
    button->setAccessibleName(key == '*'   ? tr("Star")
                              : key == '#' ? tr("Hash")
                                           : tr("Key %1").arg(text));
    button->setMinimumHeight(32);
    grid->addWidget(button, i / 3, i % 3);
    connect(button, &QPushButton::clicked, this, [this, key] { send_key(key); });
  }
  pad_layout->addLayout(grid);
  dtmf_sent_ = new QLabel(dtmf_pad_);
  dtmf_sent_->setObjectName(QStringLiteral("dtmfSent"));
  dtmf_sent_->setTextFormat(Qt::PlainText);
  dtmf_sent_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  pad_layout->addWidget(dtmf_sent_);
  dtmf_pad_->hide();
  layout->addWidget(dtmf_pad_);
  layout->addStretch(1);

  auto* buttons = new QHBoxLayout;
  mute_ = new QPushButton(tr("&Mute"), this);
  mute_->setObjectName(QStringLiteral("mute"));
  mute_->setCheckable(true);
  mute_->setAutoDefault(false);
  hold_ = new QPushButton(tr("&Hold"), this);
  hold_->setObjectName(QStringLiteral("hold"));
  hold_->setAutoDefault(false);
  keypad_ = new QPushButton(tr("&Keypad"), this);
  keypad_->setObjectName(QStringLiteral("keypad"));
  keypad_->setCheckable(true);
  keypad_->setAutoDefault(false);
  keypad_->setToolTip(tr("Show the keys to press for a voice menu"));
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
  buttons->addWidget(mute_);
  buttons->addWidget(hold_);
  buttons->addWidget(keypad_);
  buttons->addStretch(1);
  buttons->addWidget(hang_up_);
  buttons->addWidget(close_);
  layout->addLayout(buttons);

  tick_ = new QTimer(this);
  tick_->setInterval(1000);
  linger_ = new QTimer(this);
  linger_->setSingleShot(true);
  linger_->setInterval(kLingerMs);

  connect(mute_, &QPushButton::clicked, this, &CallWindow::toggle_mute);
  connect(hold_, &QPushButton::clicked, this, &CallWindow::toggle_hold);
  connect(keypad_, &QPushButton::toggled, dtmf_pad_, &QWidget::setVisible);
  connect(hang_up_, &QPushButton::clicked, this, &CallWindow::hang_up);
  connect(close_, &QPushButton::clicked, this, &QWidget::close);
  connect(sas_match_, &QPushButton::clicked, this, [this] { confirm_sas(true); });
  connect(sas_mismatch_, &QPushButton::clicked, this, [this] {
    sas_warning_->show();
    QAccessibleEvent alert(sas_warning_, QAccessible::Alert);
    QAccessible::updateAccessibility(&alert);
  });
  connect(compare_again_, &QPushButton::clicked, this, [this] { confirm_sas(false); });
  connect(warning_hang_up, &QPushButton::clicked, this, &CallWindow::hang_up);
  connect(warning_keep, &QPushButton::clicked, sas_warning_, &QWidget::hide);
  connect(tick_, &QTimer::timeout, this, &CallWindow::update_view);
  connect(linger_, &QTimer::timeout, this, &QWidget::close);
  connect(&state_, &State::callChanged, this, [this](const QString& changed) {
    if (changed.toStdString() != id_) return;
    if (const app::CallInfo* call = state_.call(id_)) call_ = *call;
    update_view();
  });
  connect(&state_, &State::contactsChanged, this, &CallWindow::update_view);
  connect(&state_.core(), &Core::event, this, &CallWindow::on_event);

  setMinimumWidth(380);
  update_view();
  hang_up_->setFocus();
}

QString CallWindow::state_text() const { return state_label_->text(); }

void CallWindow::on_event(const app::Event& event) {
  if (const auto* e = std::get_if<app::CallDtmf>(&event)) {
    if (e->id != id_) return;
    dtmf_received_->setText(tr("They pressed %1").arg(QChar::fromLatin1(e->digit)));
    dtmf_received_->show();
  } else if (const auto* e = std::get_if<app::AudioDeviceEvent>(&event)) {
    if (ended_) return;
    audio_problem_->setText(QString::fromStdString(e->text));
    audio_problem_->setVisible(!e->text.empty());
  }
}

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
  mute_->setEnabled(active);
  mute_->setChecked(call_.muted);
  mute_->setText(call_.muted ? tr("Un&mute") : tr("&Mute"));
  mute_->setToolTip(call_.muted ? tr("They cannot hear you: turn your microphone back on")
                                : tr("Turn your microphone off"));
  mute_->setAccessibleName(call_.muted ? tr("Microphone off; unmute") : tr("Mute microphone"));
  keypad_->setEnabled(active);
  if (!active && keypad_->isChecked()) keypad_->setChecked(false);
  if (active && !call_.on_hold && !call_.remote_hold) {
    if (!tick_->isActive()) tick_->start();
  } else {
    tick_->stop();
  }
  update_quality();
  update_security();

  if (call_.state == app::CallState::ended && !ended_) {
    ended_ = true;
    tick_->stop();
    hold_->setEnabled(false);
    mute_->setEnabled(false);
    keypad_->setEnabled(false);
    hang_up_->hide();
    close_->show();
    close_->setDefault(true);
    close_->setFocus();
    linger_->start();
  }
}

void CallWindow::update_quality() {
  const bool active = call_.state == app::CallState::active;
  const app::CallQuality& q = call_.quality;
  if (!active || (q.packets_received == 0 && q.packets_sent == 0)) {
    quality_->hide();
    return;
  }
  const QLocale locale;
  const QString rtt = q.rtt_ms ? tr("%1 ms").arg(locale.toString(*q.rtt_ms, 'f', 0)) : tr("–");
  quality_->setText(
      tr("Loss %1 %, round trip %2, jitter %3 ms")
          .arg(locale.toString(q.loss * 100, 'f', 1), rtt, locale.toString(q.jitter_ms, 'f', 0)));
  quality_->setAccessibleName(tr("Call quality: %1").arg(quality_->text()));
  quality_->show();
}

void CallWindow::update_security() {
  const QString name = call_peer_name(state_, call_);
  const bool active = call_.state == app::CallState::active;
  const bool ended = call_.state == app::CallState::ended;
  const bool secure = call_.encryption == app::CallEncryption::secure;

  // The banner: up with the first sign of changed keys; down only once the
  // letters were confirmed again (here) and the engine says so.
  if (call_.cache_mismatch && !keys_changed_) {
    keys_changed_ = true;
    confirmed_since_warning_ = false;
    keys_banner_text_->setText(
        tr("Warning: the encryption keys of %1 changed since your last call. Someone may be "
           "listening. Compare the letters before you say anything private.")
            .arg(name));
    keys_banner_->setAccessibleDescription(keys_banner_text_->text());
    keys_banner_->show();
    QAccessibleEvent alert(keys_banner_, QAccessible::Alert);
    QAccessible::updateAccessibility(&alert);
    QApplication::alert(this);
  } else if (keys_changed_ && confirmed_since_warning_ && call_.sas_verified &&
             !call_.cache_mismatch) {
    keys_changed_ = false;
    keys_banner_->hide();
  }

  QIcon icon;
  QString text;
  QString detail;
  QString explanation;
  bool show_sas = false;
  bool verified = false;
  if (ended && call_.encryption != app::CallEncryption::failed) {
    icon = privacy_icon(app::Privacy::not_private);
    text = tr("The call is over");
  } else if (!active && !ended) {
    icon = privacy_icon(app::Privacy::not_private);
    text = tr("Encryption starts when the call connects");
    explanation =
        tr("Sotto encrypts calls end to end (ZRTP) when the other side's app can. You will see "
           "here whether it is.");
  } else {
    switch (call_.encryption) {
      case app::CallEncryption::negotiating:
        icon = privacy_icon(app::Privacy::not_private);
        text = tr("Securing the call…");
        detail = tr("You will hear each other once the keys are agreed.");
        break;
      case app::CallEncryption::secure:
        if (call_.sas_verified && !keys_changed_) {
          icon = privacy_icon(app::Privacy::verified);
          text = tr("Encrypted; partner verified");
          verified = true;
          explanation =
              tr("You compared the letters with %1 in this or an earlier call: nobody can "
                 "listen in between.")
                  .arg(name);
        } else {
          icon = privacy_icon(app::Privacy::unverified);
          text = tr("Encrypted; compare the letters to be sure nobody listens in between");
          show_sas = true;
          explanation =
              tr("The call is encrypted end to end. If the letters you see are the same as the "
                 "ones %1 sees, nobody is in between.")
                  .arg(name);
        }
        if (!call_.cipher.empty()) {
          explanation +=
              QLatin1Char(' ') + tr("Cipher: %1.").arg(QString::fromStdString(call_.cipher));
        }
        break;
      case app::CallEncryption::none:
        icon = call_security_icon();
        text = tr("This call is not encrypted");
        detail = QString::fromStdString(call_.encryption_text);
        explanation =
            tr("Anybody on the way could listen. With \"Require encrypted calls\" in the options, "
               "such calls end instead.");
        break;
      case app::CallEncryption::failed:
        icon = call_security_icon();
        text = tr("The call could not be encrypted");
        detail = QString::fromStdString(call_.encryption_text);
        explanation = tr("Encrypted calls are required: a call that cannot be encrypted ends.");
        break;
    }
  }
  padlock_->setPixmap(icon.pixmap(20, 20));
  padlock_->setToolTip(explanation);
  padlock_->setAccessibleName(text);
  security_->setText(text);
  security_->setToolTip(explanation);
  security_->setAccessibleName(tr("Encryption: %1").arg(text));
  security_->setAccessibleDescription(explanation);
  security_detail_->setText(detail);
  security_detail_->setVisible(!detail.isEmpty());
  compare_again_->setVisible(verified && secure && active);

  show_sas = show_sas && secure && active && !call_.sas.empty();
  if (show_sas) {
    const QString letters = QString::fromStdString(call_.sas);
    sas_->setText(letters);
    QStringList spelled;
    for (QChar c : letters) spelled << QString(c);
    sas_->setAccessibleName(tr("Letters to compare: %1").arg(spelled.join(QLatin1Char(' '))));
  }
  sas_box_->setVisible(show_sas);
  if (!show_sas) sas_warning_->hide();

  // Encryption is required and failed: never go on in the clear.
  if (call_.encryption == app::CallEncryption::failed && !ended && !failed_hung_up_) {
    failed_hung_up_ = true;
    const std::string id = id_;
    state_.core().post([id](app::Engine& engine) { (void)engine.hang_up(id); });
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

void CallWindow::toggle_mute() {
  error_->show_error({});
  const bool on = !call_.muted;
  // The button shows what the engine says, once it says it.
  mute_->setChecked(call_.muted);
  auto muted = state_.core().sync([&](app::Engine& engine) { return engine.mute_call(id_, on); });
  if (!muted) {
    error_->show_error(
        on ? tr("The microphone could not be muted: %1").arg(error_sentence(muted.error()))
           : tr("The microphone could not be turned back on: %1")
                 .arg(error_sentence(muted.error())));
  }
}

void CallWindow::confirm_sas(bool verified) {
  error_->show_error({});
  if (verified) {
    confirmed_since_warning_ = true;
    sas_warning_->hide();
  }
  auto done =
      state_.core().sync([&](app::Engine& engine) { return engine.confirm_sas(id_, verified); });
  if (!done) {
    error_->show_error(
        verified
            ? tr("Sotto could not note that the letters match: %1")
                  .arg(error_sentence(done.error()))
            : tr("The letters could not be shown again: %1").arg(error_sentence(done.error())));
  }
}

void CallWindow::send_key(char key) {
  error_->show_error({});
  auto sent = state_.core().sync(
      [&](app::Engine& engine) { return engine.send_dtmf(id_, std::string(1, key)); });
  if (!sent) {
    error_->show_error(tr("The key %1 could not be sent: %2")
                           .arg(QChar::fromLatin1(key), error_sentence(sent.error())));
    return;
  }
  QString shown = dtmf_sent_->property("keys").toString() + QChar::fromLatin1(key);
  if (shown.size() > 24) shown = shown.right(24);
  dtmf_sent_->setProperty("keys", shown);
  dtmf_sent_->setText(tr("Sent: %1").arg(shown));
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
  const QString security_explanation =
      tr("Sotto encrypts calls end to end (ZRTP) when the other side's app can. The call window "
         "shows whether this one is.");
  auto* padlock = new QLabel(this);
  padlock->setPixmap(privacy_icon(app::Privacy::not_private).pixmap(16, 16));
  padlock->setToolTip(security_explanation);
  security->addWidget(padlock);
  auto* security_text = new QLabel(tr("Encryption starts when you answer"), this);
  security_text->setObjectName(QStringLiteral("security"));
  security_text->setTextFormat(Qt::PlainText);
  security_text->setToolTip(security_explanation);
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
