#include "chat_window.h"

#include <QAction>
#include <QActionGroup>
#include <QDesktopServices>
#include <QEvent>
#include <QFontDatabase>
#include <QFrame>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLocale>
#include <QMenu>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QScrollBar>
#include <QShortcut>
#include <QTabWidget>
#include <QTextBlockFormat>
#include <QTextBrowser>
#include <QTextCharFormat>
#include <QTextCursor>
#include <QTimer>
#include <QToolButton>
#include <QUrl>
#include <QVBoxLayout>

#include <algorithm>
#include <chrono>
#include <utility>
#include <variant>

#include "authenticate_dialog.h"
#include "look.h"

namespace sotto::desktop {
namespace {

constexpr std::size_t kHistoryOnOpen = 50;
constexpr std::size_t kMaxEntries = 500;  // older lines leave the transcript (not history)
constexpr std::size_t kMaxEarly = 256;
const QUrl kPadlockImage(QStringLiteral("sotto:padlock"));

QDateTime to_qt(std::chrono::system_clock::time_point time) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  return QDateTime::fromMSecsSinceEpoch(static_cast<qint64>(ms));
}

// "14:03" today, with the date before that.
QString time_text(const QDateTime& time) {
  const QDateTime local = time.toLocalTime();
  const QString hours = local.toString(QStringLiteral("HH:mm"));
  if (local.date() == QDate::currentDate()) return hours;
  return QLocale().toString(local.date(), QLocale::ShortFormat) + QLatin1Char(' ') + hours;
}

// Plain text as HTML: escaped, line breaks and runs of spaces kept.
QString escaped(const QString& text) {
  QString html = text.toHtmlEscaped();
  html.remove(QLatin1Char('\r'));
  html.replace(QLatin1Char('\n'), QStringLiteral("<br>"));
  html.replace(QStringLiteral("  "), QStringLiteral("&nbsp; "));
  return html;
}

// A message body as HTML with its web, mail and XMPP addresses as links.
// Links are only followed when clicked (ChatView opens them).
QString linked(const QString& body) {
  static const QRegularExpression kLink(QStringLiteral(R"((?:https?://|mailto:|xmpp:)[^\s<>"]+)"),
                                        QRegularExpression::CaseInsensitiveOption);
  QString html;
  qsizetype done = 0;
  for (auto it = kLink.globalMatch(body); it.hasNext();) {
    const QRegularExpressionMatch match = it.next();
    if (match.capturedStart() < done) continue;
    QString link = match.captured();
    // Punctuation after an address belongs to the sentence ("see https://x.org.").
    while (!link.isEmpty()) {
      const QChar last = link.back();
      if (QStringLiteral(".,;:!?'").contains(last) ||
          (last == QLatin1Char(')') && link.count(QLatin1Char('(')) < link.count(last))) {
        link.chop(1);
      } else {
        break;
      }
    }
    const QUrl url(link, QUrl::TolerantMode);
    const bool bare_scheme =
        link.indexOf(QLatin1Char(':')) + 1 >= link.size() || link.endsWith(QLatin1String("://"));
    if (!url.isValid() || bare_scheme) continue;
    html += escaped(body.mid(done, match.capturedStart() - done));
    html += QStringLiteral("<a href=\"") + QString::fromUtf8(url.toEncoded()).toHtmlEscaped() +
            QStringLiteral("\">") + link.toHtmlEscaped() + QStringLiteral("</a>");
    done = match.capturedStart() + link.size();
  }
  html += escaped(body.mid(done));
  return html;
}

bool followable(const QUrl& url) {
  const QString scheme = url.scheme().toLower();
  return scheme == QLatin1String("http") || scheme == QLatin1String("https") ||
         scheme == QLatin1String("mailto") || scheme == QLatin1String("xmpp");
}

}  // namespace

// ---------------------------------------------------------------------------
// ChatView

ChatView::ChatView(State& state, std::string account, std::string peer, QWidget* parent)
    : QWidget(parent), state_(state), account_(std::move(account)), peer_(std::move(peer)) {
  build();
  load();
  update_header();
  update_padlock();
  update_logging_notice();
  connect(&state_.core(), &Core::event, this, &ChatView::on_event);
  connect(&state_, &State::contactsChanged, this, [this] {
    update_header();
    render_later();  // the contact's name in the transcript
  });
}

ChatView::~ChatView() = default;

AuthenticateDialog* ChatView::authenticate_dialog() const { return dialog_; }

void ChatView::build() {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);

  // Who, and the padlock.
  auto* header = new QHBoxLayout;
  auto* who = new QVBoxLayout;
  who->setSpacing(0);
  name_ = new QLabel(this);
  name_->setTextFormat(Qt::PlainText);
  QFont big = name_->font();
  big.setBold(true);
  big.setPointSizeF(big.pointSizeF() * 1.2);
  name_->setFont(big);
  who->addWidget(name_);
  auto* second = new QHBoxLayout;
  address_ = new QLabel(this);
  address_->setTextFormat(Qt::PlainText);
  address_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  address_->setStyleSheet(QStringLiteral("color: #666666;"));
  presence_icon_ = new QLabel(this);
  presence_ = new QLabel(this);
  presence_->setTextFormat(Qt::PlainText);
  presence_->setStyleSheet(QStringLiteral("color: #666666;"));
  second->addWidget(address_);
  second->addSpacing(8);
  second->addWidget(presence_icon_);
  second->addWidget(presence_, 1);
  who->addLayout(second);
  header->addLayout(who, 1);

  menu_ = new QMenu(this);
  start_action_ = menu_->addAction(tr("&Start private conversation"));
  end_action_ = menu_->addAction(tr("&End private conversation"));
  authenticate_action_ = menu_->addAction(tr("&Authenticate contact…"));
  menu_->addSeparator();
  policy_menu_ = menu_->addMenu(tr("&Policy for this contact"));
  policy_group_ = new QActionGroup(this);
  policy_group_->setExclusive(true);
  policy_default_ = policy_menu_->addAction(tr("&Default"));
  policy_default_->setCheckable(true);
  policy_group_->addAction(policy_default_);
  connect(policy_default_, &QAction::triggered, this, [this] { set_policy(std::nullopt); });
  policy_menu_->addSeparator();
  for (app::OtrPolicy policy : {app::OtrPolicy::manual, app::OtrPolicy::opportunistic,
                                app::OtrPolicy::always, app::OtrPolicy::require}) {
    QString text = policy_text(policy);
    QAction* action = policy_menu_->addAction(text.replace(QLatin1Char('&'), QStringLiteral("&&")));
    action->setCheckable(true);
    policy_group_->addAction(action);
    policy_actions_[policy] = action;
    connect(action, &QAction::triggered, this, [this, policy] { set_policy(policy); });
  }
  log_action_ = menu_->addAction(tr("&Log this conversation"));
  log_action_->setCheckable(true);
  connect(start_action_, &QAction::triggered, this, &ChatView::start_otr);
  connect(end_action_, &QAction::triggered, this, &ChatView::end_otr);
  connect(authenticate_action_, &QAction::triggered, this, [this] { open_authenticate(); });
  connect(log_action_, &QAction::triggered, this, &ChatView::set_logging);
  connect(menu_, &QMenu::aboutToShow, this, &ChatView::update_menu);

  padlock_ = new QToolButton(this);
  padlock_->setObjectName(QStringLiteral("padlock"));
  padlock_->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  padlock_->setPopupMode(QToolButton::MenuButtonPopup);
  padlock_->setMenu(menu_);
  padlock_->setIconSize(QSize(22, 22));
  padlock_->setFocusPolicy(Qt::StrongFocus);
  padlock_->installEventFilter(this);
  connect(padlock_, &QToolButton::clicked, this, &ChatView::on_padlock_clicked);
  header->addWidget(padlock_, 0, Qt::AlignTop);
  layout->addLayout(header);

  // The contact's key changed: loud, and there until dismissed or verified.
  auto* banner = new QFrame(this);
  banner->setObjectName(QStringLiteral("keyChangedBanner"));
  banner->setStyleSheet(QStringLiteral(
      "QFrame#keyChangedBanner { background: #fdecea; border: 2px solid #c0392b; "
      "border-radius: 4px; } QFrame#keyChangedBanner QLabel { color: #6e1a10; border: none; }"));
  auto* banner_layout = new QVBoxLayout(banner);
  auto* banner_title = new QLabel(banner);
  banner_title->setTextFormat(Qt::PlainText);
  banner_title->setObjectName(QStringLiteral("keyChangedTitle"));
  QFont title_font = banner_title->font();
  title_font.setBold(true);
  title_font.setPointSizeF(title_font.pointSizeF() * 1.15);
  banner_title->setFont(title_font);
  banner_text_ = new QLabel(banner);
  banner_text_->setTextFormat(Qt::PlainText);
  banner_text_->setWordWrap(true);
  const QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
  banner_new_ = new QLabel(banner);
  banner_new_->setObjectName(QStringLiteral("newFingerprint"));
  banner_known_ = new QLabel(banner);
  banner_known_->setObjectName(QStringLiteral("knownFingerprints"));
  for (QLabel* label : {banner_new_, banner_known_}) {
    label->setTextFormat(Qt::PlainText);
    label->setFont(mono);
    label->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
    label->setFocusPolicy(Qt::StrongFocus);
  }
  auto* banner_buttons = new QHBoxLayout;
  auto* banner_authenticate = new QPushButton(tr("&Authenticate…"), banner);
  banner_authenticate->setObjectName(QStringLiteral("bannerAuthenticate"));
  auto* banner_dismiss = new QPushButton(tr("&Dismiss"), banner);
  banner_dismiss->setObjectName(QStringLiteral("bannerDismiss"));
  banner_buttons->addStretch();
  banner_buttons->addWidget(banner_authenticate);
  banner_buttons->addWidget(banner_dismiss);
  banner_layout->addWidget(banner_title);
  banner_layout->addWidget(banner_text_);
  banner_layout->addWidget(new QLabel(tr("New fingerprint:"), banner));
  banner_layout->addWidget(banner_new_);
  banner_layout->addWidget(new QLabel(tr("Known before:"), banner));
  banner_layout->addWidget(banner_known_);
  banner_layout->addLayout(banner_buttons);
  banner->hide();
  banner_ = banner;
  connect(banner_authenticate, &QPushButton::clicked, this, [this] { open_authenticate(); });
  connect(banner_dismiss, &QPushButton::clicked, this, [this] {
    banner_->hide();
    input_->setFocus();
  });
  layout->addWidget(banner_);

  // "This conversation is being logged".
  auto* notice = new QFrame(this);
  notice->setObjectName(QStringLiteral("loggingNotice"));
  notice->setStyleSheet(QStringLiteral(
      "QFrame#loggingNotice { background: #fff8dc; border: 1px solid #e0c97f; border-radius: 3px; "
      "} QFrame#loggingNotice QLabel { border: none; }"));
  auto* notice_layout = new QHBoxLayout(notice);
  notice_layout->setContentsMargins(6, 2, 6, 2);
  auto* notice_text =
      new QLabel(tr("This conversation is being logged (encrypted on this computer)."), notice);
  notice_text->setWordWrap(true);
  auto* turn_off = new QPushButton(tr("T&urn off"), notice);
  turn_off->setObjectName(QStringLiteral("turnOffLogging"));
  turn_off->setFlat(true);
  turn_off->setCursor(Qt::PointingHandCursor);
  turn_off->setStyleSheet(QStringLiteral("color: #1f5fa8; text-decoration: underline;"));
  notice_layout->addWidget(notice_text, 1);
  notice_layout->addWidget(turn_off);
  notice->hide();
  logging_notice_ = notice;
  connect(turn_off, &QPushButton::clicked, this, [this] { set_logging(false); });
  layout->addWidget(logging_notice_);

  transcript_ = new QTextBrowser(this);
  transcript_->setObjectName(QStringLiteral("transcript"));
  transcript_->setOpenLinks(false);
  transcript_->setOpenExternalLinks(false);
  transcript_->setAccessibleName(tr("Conversation"));
  connect(transcript_, &QTextBrowser::anchorClicked, this, [](const QUrl& url) {
    if (followable(url)) QDesktopServices::openUrl(url);
  });
  layout->addWidget(transcript_, 1);

  input_ = new QPlainTextEdit(this);
  input_->setObjectName(QStringLiteral("input"));
  input_->setTabChangesFocus(true);
  input_->setPlaceholderText(tr("Type a message. Enter sends, Shift+Enter starts a new line."));
  input_->setAccessibleName(tr("Message"));
  input_->setMaximumHeight(input_->fontMetrics().lineSpacing() * 4 + 16);
  input_->installEventFilter(this);
  layout->addWidget(input_);
  setFocusProxy(input_);
}

void ChatView::load() {
  struct Initial {
    Result<app::OtrStatus> status;
    Result<std::vector<app::HistoryMessage>> history;
  };
  Initial initial = state_.core().sync([this](app::Engine& e) {
    Initial out;
    out.status = e.otr_status(account_, peer_);
    out.history = e.history(account_, peer_, std::nullopt, kHistoryOnOpen);
    return out;
  });
  if (initial.status) {
    privacy_ = initial.status->privacy;
    logging_ = initial.status->logging;
  } else if (auto known = state_.privacy(account_, peer_)) {
    privacy_ = known->privacy;
    instance_ = known->instance;
    logging_ = known->logging;
  }
  if (initial.status) instance_ = initial.status->instance;
  if (initial.history) {
    for (auto& row : *initial.history) {
      Entry entry;
      entry.kind = row.outgoing ? Entry::Kind::outgoing : Entry::Kind::incoming;
      entry.time = to_qt(row.time);
      entry.text = QString::fromStdString(row.body);
      secure_wipe(row.body);
      entry.id = row.id;
      entry.encrypted = row.encrypted;
      entry.state = row.state;
      if (!row.id.empty()) seen_.insert((row.outgoing ? "out:" : "in:") + row.id);
      entries_.push_back(std::move(entry));
    }
  } else {
    Entry entry;
    entry.time = QDateTime::currentDateTime();
    entry.text = tr("The history of this conversation could not be read: %1")
                     .arg(QString::fromStdString(initial.history.error().message));
    entries_.push_back(std::move(entry));
  }
  render_all();
}

void ChatView::update_header() {
  name_->setText(state_.display_name(account_, peer_));
  address_->setText(QString::fromStdString(peer_));
  const Presence presence = state_.presence(account_, peer_);
  presence_icon_->setPixmap(presence_icon(presence.availability).pixmap(12, 12));
  QString text = availability_text(presence.availability);
  if (!presence.status.empty()) text += tr(" — %1").arg(QString::fromStdString(presence.status));
  if (const app::Contact* contact = state_.contact(account_, peer_);
      contact != nullptr && contact->waiting_for_authorization) {
    text += tr(" (waiting for authorization)");
  }
  presence_->setText(text);
}

void ChatView::update_padlock() {
  padlock_->setIcon(privacy_icon(privacy_));
  padlock_->setText(privacy_text(privacy_));
  padlock_->setToolTip(privacy_explanation(privacy_));
  padlock_->setAccessibleName(tr("Privacy: %1").arg(privacy_text(privacy_)));
  padlock_->setAccessibleDescription(privacy_explanation(privacy_));
  start_action_->setText(is_private(privacy_) ? tr("&Refresh private conversation")
                                              : tr("&Start private conversation"));
  end_action_->setEnabled(privacy_ != app::Privacy::not_private);
}

void ChatView::update_logging_notice() {
  logging_notice_->setVisible(is_private(privacy_) && logging_);
}

void ChatView::update_menu() {
  struct Settings {
    Result<std::optional<app::OtrPolicy>> policy;
    app::OtrPolicy global = app::OtrPolicy::opportunistic;
    Result<bool> logging;
  };
  Settings s = state_.core().sync([this](app::Engine& e) {
    Settings out;
    out.policy = e.contact_otr_policy(account_, peer_);
    out.global = e.otr_policy();
    out.logging = e.contact_log_history(account_, peer_);
    return out;
  });
  QString global = policy_text(s.global);
  policy_default_->setText(
      tr("&Default (%1)").arg(global.replace(QLatin1Char('&'), QStringLiteral("&&"))));
  policy_menu_->setEnabled(s.policy.has_value());
  if (s.policy) {
    if (!*s.policy) {
      policy_default_->setChecked(true);
    } else if (QAction* action = policy_actions_[**s.policy]) {
      action->setChecked(true);
    }
  }
  log_action_->setEnabled(s.logging.has_value());
  log_action_->setChecked(s.logging.value_or(false));
  update_padlock();
}

// --- events -----------------------------------------------------------------

bool ChatView::ours(const std::string& account, const std::string& peer) const {
  return account == account_ && peer == peer_;
}

void ChatView::on_event(const app::Event& event) {
  std::visit([this](const auto& e) { handle(e); }, event);
}

void ChatView::handle(const app::MessageReceived& e) {
  if (ours(e.account, e.peer) && !e.body.empty()) add_message(e);
}

void ChatView::add_message(const app::MessageReceived& message) {
  if (!ours(message.account, message.peer) || message.body.empty()) return;
  if (!message.id.empty() &&
      !seen_.insert((message.outgoing ? "out:" : "in:") + message.id).second) {
    return;
  }
  Entry entry;
  entry.kind = message.outgoing ? Entry::Kind::other_device : Entry::Kind::incoming;
  entry.time = to_qt(message.time);
  entry.text = QString::fromStdString(message.body);
  entry.encrypted = message.encrypted;
  append(std::move(entry));
}

void ChatView::handle(const app::MessageStateChanged& e) {
  if (!ours(e.account, e.peer)) return;
  Early news;
  news.state = e.state;
  if (e.error) news.error = QString::fromStdString(e.error->message);
  if (Entry* entry = outgoing(e.id)) {
    apply(*entry, news);
    return render_later();
  }
  // The engine reports a message's first states before send_message returns.
  const bool sending =
      std::any_of(entries_.begin(), entries_.end(), [](const Entry& x) { return x.serial != 0; });
  if (!sending) return;
  if (early_.size() >= kMaxEarly) early_.clear();
  Early& early = early_[e.id];
  early.state = news.state;
  early.error = news.error;
  if (e.state != app::DeliveryState::queued) early.held = false;
}

void ChatView::handle(const app::MessageHeld& e) {
  if (!ours(e.account, e.peer)) return;
  if (Entry* entry = outgoing(e.id)) {
    entry->held = true;
    render_later();
  } else {
    if (early_.size() >= kMaxEarly) early_.clear();
    early_[e.id].held = true;
  }
  QString reason = QString::fromStdString(e.reason);
  if (reason.startsWith(QLatin1String("not sent yet: "))) reason.remove(0, 14);
  const QString waiting = e.held == 1
                              ? tr("1 message waiting")
                              : tr("%1 messages waiting").arg(static_cast<qulonglong>(e.held));
  say(tr("Not sent yet: %1 (%2).").arg(reason, waiting));
}

void ChatView::handle(const app::PrivacyChanged& e) {
  if (!ours(e.account, e.peer)) return;
  const app::Privacy before = privacy_;
  // Private with another of the contact's clients is news too.
  const bool news =
      e.privacy != before || (is_private(e.privacy) && e.instance != 0 && e.instance != instance_);
  privacy_ = e.privacy;
  instance_ = e.instance;
  logging_ = e.logging;
  update_padlock();
  update_logging_notice();
  if (privacy_ == app::Privacy::verified) banner_->hide();
  if (news) {
    warned_plain_ = false;
    const QString name = state_.display_name(account_, peer_);
    switch (privacy_) {
      case app::Privacy::not_private:
        say(before == app::Privacy::not_private
                ? tr("The conversation is not private.")
                : tr("The private conversation has ended: messages are no longer encrypted."));
        break;
      case app::Privacy::unverified:
        say(before == privacy_
                ? tr("The private conversation was refreshed.")
                : tr("The conversation is now private, but %1 is not verified yet. Use "
                     "“Authenticate contact…” in the padlock menu to make sure that no one is "
                     "pretending to be them.")
                      .arg(name));
        break;
      case app::Privacy::verified:
        say(before == privacy_ ? tr("The private conversation was refreshed.")
                               : tr("The conversation is private and %1 is verified.").arg(name));
        break;
      case app::Privacy::finished:
        say(tr("%1 has ended the private conversation. Nothing more is sent until you end it too "
               "or start it again (padlock menu).")
                .arg(name),
            true);
        break;
    }
  }
  emit changed();
}

void ChatView::handle(const app::OtrNewFingerprint& e) {
  if (!ours(e.account, e.peer)) return;
  const QString name = state_.display_name(account_, peer_);
  say(tr("First private conversation with %1. Their fingerprint is %2. Check it with %1 over "
         "another channel (phone, in person), then use “Authenticate contact…” in the padlock "
         "menu.")
          .arg(name, QString::fromStdString(e.fingerprint)));
}

void ChatView::handle(const app::OtrKeyChanged& e) {
  if (!ours(e.account, e.peer)) return;
  const QString name = state_.display_name(account_, peer_);
  if (auto* title = banner_->findChild<QLabel*>(QStringLiteral("keyChangedTitle"))) {
    title->setText(tr("⚠ Warning: %1's key has changed").arg(name));
  }
  banner_text_->setText(
      tr("%1 is using a new key for private conversations. This could be a new device or a "
         "reinstall, or someone pretending to be %1. The conversation is not verified until you "
         "authenticate the new key: ask %1 over another channel (phone, in person).")
          .arg(name));
  banner_new_->setText(QString::fromStdString(e.fingerprint));
  QStringList known;
  for (const auto& fingerprint : e.known) known << QString::fromStdString(fingerprint);
  banner_known_->setText(known.isEmpty() ? tr("(none)") : known.join(QLatin1Char('\n')));
  banner_->show();
  say(tr("Warning: %1 is using a new key (%2). It may be another device, or someone pretending to "
         "be them.")
          .arg(name, QString::fromStdString(e.fingerprint)),
      true);
}

void ChatView::handle(const app::SmpProgress& e) {
  if (!ours(e.account, e.peer)) return;
  const QString name = state_.display_name(account_, peer_);
  switch (e.stage) {
    case app::SmpStage::asked_question:
    case app::SmpStage::asked_secret: {
      const bool question = e.stage == app::SmpStage::asked_question;
      smp_role_ = question ? SmpRole::answering_question : SmpRole::answering_secret;
      smp_shown_ = false;
      say(question ? tr("%1 asks you a question to verify you: “%2”")
                         .arg(name, QString::fromStdString(e.question))
                   : tr("%1 asks for the secret you share, to verify you.").arg(name));
      make_dialog();
      if (question) {
        dialog_->answer_question(QString::fromStdString(e.question));
      } else {
        dialog_->answer_secret();
      }
      dialog_->show();
      dialog_->raise();
      return;
    }
    case app::SmpStage::in_progress:
      if (!smp_shown_) {
        smp_shown_ = true;
        say(tr("Authentication in progress…"));
      }
      break;
    case app::SmpStage::succeeded:
      switch (std::exchange(smp_role_, SmpRole::none)) {
        case SmpRole::none:
          say(tr("Authentication successful: %1 is verified.").arg(name));
          banner_->hide();
          break;
        case SmpRole::answering_question:
          say(tr("Authentication successful: %1 has verified you. To verify %1 too, ask your own "
                 "question (Authenticate contact…).")
                  .arg(name));
          break;
        case SmpRole::answering_secret:
          say(tr("Authentication successful: you and %1 have verified each other.").arg(name));
          banner_->hide();
          break;
      }
      smp_shown_ = false;
      break;
    case app::SmpStage::failed:
      smp_role_ = SmpRole::none;
      smp_shown_ = false;
      say(tr("Authentication failed: the answers did not match (a typo, or someone else is "
             "answering)."),
          true);
      break;
    case app::SmpStage::aborted:
      smp_role_ = SmpRole::none;
      smp_shown_ = false;
      say(tr("Authentication aborted."));
      break;
    case app::SmpStage::error:
      smp_role_ = SmpRole::none;
      smp_shown_ = false;
      say(tr("Authentication failed with a protocol error and was aborted."), true);
      break;
  }
  if (dialog_) dialog_->on_progress(e);
}

void ChatView::handle(const app::OtrProblem& e) {
  // ended_by_peer comes with a refused send, which says so itself.
  if (!ours(e.account, e.peer) || e.code == "ended_by_peer") return;
  say(tr("Private conversation problem: %1")
          .arg(QString::fromStdString(e.message.empty() ? e.code : e.message)));
}

// --- actions ----------------------------------------------------------------

void ChatView::on_padlock_clicked() {
  if (privacy_ == app::Privacy::not_private) return start_otr();
  show_menu();
}

void ChatView::show_menu() { menu_->popup(padlock_->mapToGlobal(QPoint(0, padlock_->height()))); }

void ChatView::start_otr() {
  const bool was_private = is_private(privacy_);
  state_.core().call(
      this, [a = account_, p = peer_](app::Engine& e) { return e.start_otr(a, p); },
      [this, was_private](Result<void> started) {
        if (!started) {
          return say(tr("Could not start a private conversation: %1")
                         .arg(QString::fromStdString(started.error().message)),
                     true);
        }
        say(was_private ? tr("Refreshing the private conversation…")
                        : tr("Asking %1 for a private conversation…")
                              .arg(state_.display_name(account_, peer_)));
      });
}

void ChatView::end_otr() {
  const bool was_private = privacy_ != app::Privacy::not_private;
  state_.core().call(
      this, [a = account_, p = peer_](app::Engine& e) { return e.end_otr(a, p); },
      [this, was_private](Result<void> ended) {
        if (!ended) {
          return say(tr("Could not end the private conversation: %1")
                         .arg(QString::fromStdString(ended.error().message)),
                     true);
        }
        if (!was_private) say(tr("There was no private conversation to end."));
      });
}

void ChatView::make_dialog() {
  if (dialog_) return;
  auto* dialog = new AuthenticateDialog(state_, account_, peer_, this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  // Closed is gone, even before it is deleted: the next one starts afresh.
  connect(dialog, &QDialog::finished, this, [this, dialog] {
    if (dialog_ == dialog) dialog_ = nullptr;
  });
  dialog_ = dialog;
}

AuthenticateDialog* ChatView::open_authenticate() {
  make_dialog();
  dialog_->show();
  dialog_->raise();
  dialog_->activateWindow();
  return dialog_;
}

void ChatView::set_policy(std::optional<app::OtrPolicy> policy) {
  struct Outcome {
    Result<void> set;
    app::OtrPolicy global = app::OtrPolicy::opportunistic;
  };
  Outcome outcome = state_.core().sync([&](app::Engine& e) {
    Outcome out;
    out.set = e.set_contact_otr_policy(account_, peer_, policy);
    out.global = e.otr_policy();
    return out;
  });
  const QString name = state_.display_name(account_, peer_);
  if (!outcome.set) {
    return say(tr("Could not change the policy: %1")
                   .arg(QString::fromStdString(outcome.set.error().message)),
               true);
  }
  say(policy ? tr("Private conversations with %1: %2.").arg(name, policy_text(*policy))
             : tr("Private conversations with %1 follow the default again: %2.")
                   .arg(name, policy_text(outcome.global)));
}

void ChatView::set_logging(bool on) {
  struct Outcome {
    Result<void> set;
    bool global = true;
  };
  Outcome outcome = state_.core().sync([&](app::Engine& e) {
    Outcome out;
    out.set = e.set_contact_log_history(account_, peer_, on);
    out.global = e.log_history();
    return out;
  });
  if (!outcome.set) {
    return say(tr("Could not change whether this conversation is logged: %1")
                   .arg(QString::fromStdString(outcome.set.error().message)),
               true);
  }
  logging_ = on && outcome.global;
  update_logging_notice();
  if (!on) {
    say(
        tr("This conversation is no longer logged: nothing more of it is written to this "
           "computer."));
  } else if (outcome.global) {
    say(tr("This conversation is logged (encrypted on this computer)."));
  } else {
    say(tr("This conversation will be logged once chat history is turned on in the options."));
  }
}

// --- sending ----------------------------------------------------------------

void ChatView::send_text(const QString& text) {
  QString body = text;
  body.replace(QChar::ParagraphSeparator, QLatin1Char('\n'));
  body.replace(QChar::LineSeparator, QLatin1Char('\n'));
  while (!body.isEmpty() && body.back().isSpace()) body.chop(1);
  while (!body.isEmpty() &&
         (body.front() == QLatin1Char('\n') || body.front() == QLatin1Char('\r'))) {
    body.remove(0, 1);
  }
  if (body.trimmed().isEmpty()) return;
  if (input_->toPlainText() == text) input_->clear();

  Entry entry;
  entry.kind = Entry::Kind::outgoing;
  entry.time = QDateTime::currentDateTime();
  entry.text = body;
  entry.encrypted = is_private(privacy_);
  entry.state = app::DeliveryState::queued;
  entry.serial = ++serial_;
  const std::uint64_t serial = entry.serial;
  append(std::move(entry));
  state_.core().call(
      this,
      [a = account_, p = peer_, b = body.toStdString()](app::Engine& e) mutable {
        return e.send_message(a, p, std::move(b));
      },
      [this, serial, text](Result<app::SentMessage> sent) {
        on_sent(serial, text, std::move(sent));
      });
}

void ChatView::on_sent(std::uint64_t serial, const QString& text, Result<app::SentMessage> sent) {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [serial](const Entry& e) { return e.serial == serial; });
  if (!sent) {
    if (it != entries_.end()) {
      entries_.erase(it);
      render_later();
    }
    QString why = QString::fromStdString(sent.error().message);
    if (why.startsWith(QLatin1String("not sent: "))) why.remove(0, 10);
    say(tr("Not sent: %1").arg(why), true);
    if (input_->toPlainText().isEmpty()) {
      input_->setPlainText(text);
      input_->moveCursor(QTextCursor::End);
    }
    return;
  }
  if (it != entries_.end()) {
    it->serial = 0;
    it->id = sent->id;
    it->encrypted = sent->encrypted;
    it->held = sent->held;
    seen_.insert("out:" + sent->id);
    if (auto early = early_.find(sent->id); early != early_.end()) {
      apply(*it, early->second);
      early_.erase(early);
    }
    render_later();
  }
  if (!sent->encrypted && !sent->held && !warned_plain_) {
    warned_plain_ = true;
    say(
        tr("Sent in plain text: this conversation is not private. Click the padlock to make it "
           "private."));
  }
}

void ChatView::apply(Entry& entry, const Early& news) {
  if (news.state) {
    entry.state = news.state;
    entry.error = news.error;
  }
  if (news.held) entry.held = true;
  if (entry.state && *entry.state != app::DeliveryState::queued) entry.held = false;
}

ChatView::Entry* ChatView::outgoing(const std::string& id) {
  if (id.empty()) return nullptr;
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->kind == Entry::Kind::outgoing && it->id == id) return &*it;
  }
  return nullptr;
}

bool ChatView::eventFilter(QObject* watched, QEvent* event) {
  if (event->type() == QEvent::KeyPress) {
    const auto* key = static_cast<QKeyEvent*>(event);
    if (watched == input_ && (key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter)) {
      if (key->modifiers() & Qt::ShiftModifier) {
        input_->insertPlainText(QStringLiteral("\n"));
      } else {
        send_text(input_->toPlainText());
      }
      return true;
    }
    if (watched == padlock_ &&
        (key->key() == Qt::Key_Down || key->key() == Qt::Key_Menu || key->key() == Qt::Key_F4)) {
      show_menu();
      return true;
    }
  }
  return QWidget::eventFilter(watched, event);
}

// --- the transcript ---------------------------------------------------------

void ChatView::say(const QString& text, bool warning) {
  Entry entry;
  entry.kind = warning ? Entry::Kind::warning : Entry::Kind::system;
  entry.time = QDateTime::currentDateTime();
  entry.text = text;
  append(std::move(entry));
}

void ChatView::append(Entry entry) {
  entries_.push_back(std::move(entry));
  if (entries_.size() > kMaxEntries) {
    entries_.pop_front();
    return render_later();
  }
  if (render_pending_) return;
  QScrollBar* bar = transcript_->verticalScrollBar();
  const bool at_bottom = bar->value() >= bar->maximum() - 4;
  QTextCursor cursor(transcript_->document());
  cursor.movePosition(QTextCursor::End);
  if (!transcript_->document()->isEmpty())
    cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());
  cursor.insertHtml(entry_html(entries_.back()));
  if (at_bottom) bar->setValue(bar->maximum());
}

void ChatView::render_later() {
  if (render_pending_) return;
  render_pending_ = true;
  QTimer::singleShot(0, this, [this] {
    if (render_pending_) render_all();
  });
}

void ChatView::render_all() {
  render_pending_ = false;
  QScrollBar* bar = transcript_->verticalScrollBar();
  const bool at_bottom = bar->value() >= bar->maximum() - 4;
  const int position = bar->value();
  transcript_->clear();
  add_resources();
  QTextCursor cursor(transcript_->document());
  bool first = true;
  for (const Entry& entry : entries_) {
    if (!first) cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());
    first = false;
    cursor.insertHtml(entry_html(entry));
  }
  bar->setValue(at_bottom ? bar->maximum() : position);
}

void ChatView::add_resources() {
  transcript_->document()->addResource(QTextDocument::ImageResource, kPadlockImage,
                                       privacy_icon(app::Privacy::unverified).pixmap(12, 12));
}

QString ChatView::entry_html(const Entry& entry) const {
  const QString time = time_text(entry.time).toHtmlEscaped();
  switch (entry.kind) {
    case Entry::Kind::system:
      return QStringLiteral("<span style=\"color:#777777; font-style:italic;\">") + time +
             QStringLiteral(" — ") + escaped(entry.text) + QStringLiteral("</span>");
    case Entry::Kind::warning:
      return QStringLiteral(
                 "<span style=\"color:#c0392b; font-style:italic; font-weight:bold;\">") +
             time + QStringLiteral(" — ") + escaped(entry.text) + QStringLiteral("</span>");
    case Entry::Kind::incoming:
    case Entry::Kind::outgoing:
    case Entry::Kind::other_device:
      break;
  }
  QString who;
  QString color = QStringLiteral("#1f5fa8");
  switch (entry.kind) {
    case Entry::Kind::outgoing:
      who = tr("Me");
      break;
    case Entry::Kind::other_device:
      who = tr("Me (other device)");
      break;
    default:
      who = state_.display_name(account_, peer_);
      color = QStringLiteral("#b03a2e");
      break;
  }
  QString html = QStringLiteral("<span style=\"color:#8a8a8a;\">") + time +
                 QStringLiteral("</span>&nbsp; <span style=\"color:") + color +
                 QStringLiteral("; font-weight:bold;\">") + who.toHtmlEscaped() +
                 QStringLiteral("</span>");
  if (entry.encrypted) {
    html += QStringLiteral("&nbsp;<img src=\"") + kPadlockImage.toString() +
            QStringLiteral("\" width=\"12\" height=\"12\">");
  }
  html += QStringLiteral(": <span>") + linked(entry.text) + QStringLiteral("</span>");
  if (entry.kind != Entry::Kind::outgoing) return html;

  QString delivery;
  bool bad = false;
  if (entry.state == app::DeliveryState::failed) {
    delivery = entry.error.isEmpty() ? tr("failed ✗") : tr("failed ✗: %1").arg(entry.error);
    bad = true;
  } else if (entry.state == app::DeliveryState::delivered) {
    delivery = tr("delivered ✓✓");
  } else if (entry.state == app::DeliveryState::sent) {
    delivery = tr("sent ✓");
  } else if (entry.held) {
    delivery = tr("waiting for a private conversation");
  } else if (entry.state == app::DeliveryState::queued) {
    delivery = tr("sending…");
  }
  if (!delivery.isEmpty()) {
    html += QStringLiteral("&nbsp;&nbsp;<span style=\"color:") +
            (bad ? QStringLiteral("#c0392b") : QStringLiteral("#8a8a8a")) +
            QStringLiteral("; font-size:small;\">") + delivery.toHtmlEscaped() +
            QStringLiteral("</span>");
  }
  return html;
}

// ---------------------------------------------------------------------------
// ChatWindow

ChatWindow::ChatWindow(State& state, QWidget* parent) : QWidget(parent), state_(state) {
  setWindowTitle(tr("Chats"));
  setWindowIcon(app_icon(state_.total_unread()));
  resize(680, 560);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  tabs_ = new QTabWidget(this);
  tabs_->setObjectName(QStringLiteral("tabs"));
  tabs_->setTabsClosable(true);
  tabs_->setMovable(true);
  tabs_->setDocumentMode(true);
  tabs_->setElideMode(Qt::ElideRight);
  tabs_->setUsesScrollButtons(true);
  layout->addWidget(tabs_);

  connect(tabs_, &QTabWidget::tabCloseRequested, this, &ChatWindow::close_tab);
  connect(tabs_, &QTabWidget::currentChanged, this, [this] {
    update_tabs();
    update_title();
    mark_current_read();
  });

  auto* close = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_W), this);
  connect(close, &QShortcut::activated, this, [this] { close_tab(tabs_->currentIndex()); });
  auto* next = new QShortcut(this);
  next->setKeys({QKeySequence(Qt::CTRL | Qt::Key_Tab), QKeySequence(Qt::CTRL | Qt::Key_PageDown)});
  connect(next, &QShortcut::activated, this, [this] {
    if (tabs_->count() > 1) tabs_->setCurrentIndex((tabs_->currentIndex() + 1) % tabs_->count());
  });
  auto* previous = new QShortcut(this);
  previous->setKeys({QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Backtab),
                     QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Tab),
                     QKeySequence(Qt::CTRL | Qt::Key_PageUp)});
  connect(previous, &QShortcut::activated, this, [this] {
    const int count = tabs_->count();
    if (count > 1) tabs_->setCurrentIndex((tabs_->currentIndex() + count - 1) % count);
  });

  connect(&state_.core(), &Core::event, this, &ChatWindow::on_event);
  connect(&state_, &State::unreadChanged, this, [this] {
    setWindowIcon(app_icon(state_.total_unread()));
    update_tabs();
    mark_current_read();
  });
  connect(&state_, &State::contactsChanged, this, [this] {
    update_tabs();
    update_title();
  });
}

void ChatWindow::open_chat(const std::string& account, const std::string& peer, bool activate) {
  ChatView* chat = view(account, peer);
  if (chat == nullptr) chat = add_view(account, peer);
  if (!activate) {
    if (isHidden()) {
      setAttribute(Qt::WA_ShowWithoutActivating, true);
      show();
      setAttribute(Qt::WA_ShowWithoutActivating, false);
    }
    return update_tabs();
  }
  tabs_->setCurrentWidget(chat);
  if (isMinimized()) {
    showNormal();
  } else {
    show();
  }
  raise();
  activateWindow();
  chat->input()->setFocus();
  update_tabs();
  update_title();
  mark_current_read();
}

ChatView* ChatWindow::view(const std::string& account, const std::string& peer) const {
  for (int i = 0; i < tabs_->count(); ++i) {
    auto* chat = qobject_cast<ChatView*>(tabs_->widget(i));
    if (chat != nullptr && chat->account() == account && chat->peer() == peer) return chat;
  }
  return nullptr;
}

ChatView* ChatWindow::current_view() const {
  return qobject_cast<ChatView*>(tabs_->currentWidget());
}

void ChatWindow::close_tab(int index) {
  QWidget* page = tabs_->widget(index);
  if (page == nullptr) return;
  tabs_->removeTab(index);
  page->hide();
  page->deleteLater();
  if (tabs_->count() == 0) hide();
  update_title();
}

ChatView* ChatWindow::add_view(const std::string& account, const std::string& peer) {
  auto* chat = new ChatView(state_, account, peer);
  const int index = tabs_->addTab(chat, privacy_icon(chat->privacy()), QString());
  connect(chat, &ChatView::changed, this, [this, chat] {
    update_tab(tabs_->indexOf(chat));
    update_title();
  });
  update_tab(index);
  update_title();
  return chat;
}

void ChatWindow::on_event(const app::Event& event) {
  const auto* message = std::get_if<app::MessageReceived>(&event);
  if (message == nullptr || message->outgoing || message->body.empty()) return;
  if (view(message->account, message->peer) != nullptr) return;
  ChatView* chat = add_view(message->account, message->peer);
  chat->add_message(*message);
  if (isHidden()) {
    setAttribute(Qt::WA_ShowWithoutActivating, true);
    show();
    setAttribute(Qt::WA_ShowWithoutActivating, false);
  }
  update_tabs();
  mark_current_read();
}

void ChatWindow::update_tab(int index) {
  auto* chat = qobject_cast<ChatView*>(tabs_->widget(index));
  if (chat == nullptr) return;
  const QString name = state_.display_name(chat->account(), chat->peer());
  QString label = name;
  label.replace(QLatin1Char('&'), QStringLiteral("&&"));
  const int unread = state_.unread(chat->account(), chat->peer());
  const bool seen = index == tabs_->currentIndex() && isVisible() && !isMinimized();
  if (unread > 0 && !seen) label += QStringLiteral(" (%1)").arg(unread);
  tabs_->setTabText(index, label);
  tabs_->setTabIcon(index, privacy_icon(chat->privacy()));
  const QString address = QString::fromStdString(chat->peer());
  // Forced rich text with the name escaped: a tooltip guesses the format.
  const QString tip = name == address
                          ? tr("%1: %2").arg(address, privacy_text(chat->privacy()))
                          : tr("%1 (%2): %3").arg(name, address, privacy_text(chat->privacy()));
  tabs_->setTabToolTip(index, QStringLiteral("<qt>%1</qt>").arg(tip.toHtmlEscaped()));
}

void ChatWindow::update_tabs() {
  for (int i = 0; i < tabs_->count(); ++i) update_tab(i);
}

void ChatWindow::update_title() {
  if (ChatView* chat = current_view()) {
    setWindowTitle(tr("%1 — Sotto").arg(state_.display_name(chat->account(), chat->peer())));
  } else {
    setWindowTitle(tr("Chats"));
  }
}

void ChatWindow::mark_current_read() {
  if (!isVisible() || isMinimized() || !isActiveWindow()) return;
  if (ChatView* chat = current_view()) state_.mark_read(chat->account(), chat->peer());
}

void ChatWindow::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::ActivationChange || event->type() == QEvent::WindowStateChange) {
    update_tabs();
    mark_current_read();
  }
}

void ChatWindow::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  update_tabs();
  mark_current_read();
}

}  // namespace sotto::desktop
