#include "history_window.h"

#include <QDateTime>
#include <QEvent>
#include <QFrame>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMessageBox>
#include <QPushButton>
#include <QScrollBar>
#include <QSignalBlocker>
#include <QSplitter>
#include <QStackedWidget>
#include <QTabWidget>
#include <QTextBrowser>
#include <QTimer>
#include <QTreeWidget>
#include <QUrl>
#include <QVBoxLayout>

#include <algorithm>
#include <chrono>
#include <iterator>

#include "look.h"
#include "profile_dialogs.h"

namespace sotto::desktop {
namespace {

constexpr std::size_t kPage = 100;
constexpr std::size_t kSearchLimit = 200;
constexpr std::size_t kCallLimit = 500;
constexpr int kSearchDelayMs = 250;
constexpr int kRefreshDelayMs = 400;
constexpr int kAccountRole = Qt::UserRole;
constexpr int kPeerRole = Qt::UserRole + 1;

QDateTime local_time(std::chrono::system_clock::time_point time) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  return QDateTime::fromMSecsSinceEpoch(ms);
}

QString day_text(const QDate& day) {
  const QDate today = QDate::currentDate();
  if (day == today) return HistoryWindow::tr("Today");
  if (day == today.addDays(-1)) return HistoryWindow::tr("Yesterday");
  return QLocale().toString(day, QLocale::LongFormat);
}

// The time today, else the date.
QString when_text(const QDateTime& time) {
  if (time.date() == QDate::currentDate()) {
    return QLocale().toString(time.time(), QLocale::ShortFormat);
  }
  return QLocale().toString(time.date(), QLocale::ShortFormat);
}

QString messages_text(std::int64_t count) {
  if (count == 1) return HistoryWindow::tr("1 message");
  return HistoryWindow::tr("%1 messages").arg(QLocale().toString(static_cast<qlonglong>(count)));
}

QString conversations_text(std::size_t count) {
  if (count == 1) return HistoryWindow::tr("1 conversation");
  return HistoryWindow::tr("%1 conversations")
      .arg(QLocale().toString(static_cast<qulonglong>(count)));
}

QString placeholder_html(const QString& text) {
  return QStringLiteral("<p align=\"center\" style=\"color:#808080; margin-top:24px\">%1</p>")
      .arg(text.toHtmlEscaped());
}

// The words as FTS5 matches them (unicode61: runs of letters and digits,
// each a prefix here), for highlighting what a search found.
QRegularExpression words_pattern(const QString& text) {
  static const QRegularExpression separators(QStringLiteral("[^\\p{L}\\p{N}]+"));
  QStringList words = text.split(separators, Qt::SkipEmptyParts);
  if (words.isEmpty()) return {};
  std::sort(words.begin(), words.end(),
            [](const QString& a, const QString& b) { return a.size() > b.size(); });
  for (QString& word : words) word = QRegularExpression::escape(word);
  return QRegularExpression(
      QStringLiteral("(?<![\\p{L}\\p{N}])(?:%1)[\\p{L}\\p{N}]*").arg(words.join(QLatin1Char('|'))),
      QRegularExpression::CaseInsensitiveOption | QRegularExpression::UseUnicodePropertiesOption);
}

}  // namespace

HistoryWindow::HistoryWindow(State& state, QWidget* parent)
    : QWidget(parent, Qt::Window), state_(state), core_(state.core()) {
  setWindowTitle(tr("History"));
  setWindowIcon(app_icon());
  resize(920, 620);

  notice_ = new QFrame;
  notice_->setObjectName(QStringLiteral("notRecorded"));
  notice_->setStyleSheet(QStringLiteral(
      "QFrame#notRecorded { background: #fff4d6; border: 1px solid #e0c060; border-radius: 4px; }"
      "QFrame#notRecorded QLabel { background: transparent; border: none; }"));
  auto* notice_text =
      new QLabel(tr("<b>History is not being recorded.</b> New messages are not saved; what is "
                    "already here stays until you delete it."));
  notice_text->setWordWrap(true);
  auto* turn_on = new QPushButton(tr("Turn on"));
  turn_on->setObjectName(QStringLiteral("turnOnHistory"));
  turn_on->setToolTip(tr("The same as Options › General › Log chat history"));
  auto* notice_layout = new QHBoxLayout(notice_);
  notice_layout->addWidget(notice_text, 1);
  notice_layout->addWidget(turn_on);
  notice_->hide();
  connect(turn_on, &QPushButton::clicked, this, [this] {
    auto set = core_.sync([](app::Engine& e) { return e.set_log_history(true); });
    if (!set) {
      QMessageBox::warning(
          this, tr("History"),
          tr("History could not be turned on: %1").arg(error_sentence(set.error())));
    }
    update_notice();
  });

  // Left: the conversations, or what a search found.
  search_ = new QLineEdit;
  search_->setObjectName(QStringLiteral("search"));
  search_->setPlaceholderText(tr("Search all conversations"));
  search_->setClearButtonEnabled(true);

  conversations_ = new QTreeWidget;
  conversations_->setObjectName(QStringLiteral("conversations"));
  conversations_->setHeaderLabels({tr("Contact"), tr("Account"), tr("Messages"), tr("Last")});
  conversations_->setRootIsDecorated(false);
  conversations_->setUniformRowHeights(true);
  conversations_->setAllColumnsShowFocus(true);
  conversations_->header()->setStretchLastSection(false);
  conversations_->header()->setSectionResizeMode(0, QHeaderView::Stretch);
  conversations_->header()->setSectionResizeMode(1, QHeaderView::Interactive);
  conversations_->header()->resizeSection(1, 110);
  conversations_->header()->setSectionResizeMode(2, QHeaderView::ResizeToContents);
  conversations_->header()->setSectionResizeMode(3, QHeaderView::ResizeToContents);

  results_ = new QTextBrowser;
  results_->setObjectName(QStringLiteral("results"));
  results_->setOpenLinks(false);

  left_ = new QStackedWidget;
  left_->addWidget(conversations_);
  left_->addWidget(results_);

  auto* left = new QWidget;
  auto* left_layout = new QVBoxLayout(left);
  left_layout->setContentsMargins(0, 0, 0, 0);
  left_layout->addWidget(search_);
  left_layout->addWidget(left_, 1);

  // Right: one conversation.
  title_ = new QLabel;
  title_->setObjectName(QStringLiteral("title"));
  title_->setTextFormat(Qt::RichText);
  title_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  older_ = new QPushButton(tr("Load older messages"));
  older_->setObjectName(QStringLiteral("loadOlder"));
  older_->hide();
  messages_ = new QTextBrowser;
  messages_->setObjectName(QStringLiteral("messages"));
  messages_->setOpenLinks(false);

  auto* right = new QWidget;
  auto* right_layout = new QVBoxLayout(right);
  right_layout->setContentsMargins(0, 0, 0, 0);
  right_layout->addWidget(title_);
  right_layout->addWidget(older_, 0, Qt::AlignHCenter);
  right_layout->addWidget(messages_, 1);

  auto* splitter = new QSplitter;
  splitter->addWidget(left);
  splitter->addWidget(right);
  splitter->setStretchFactor(1, 1);
  splitter->setSizes({380, 540});
  splitter->setChildrenCollapsible(false);

  delete_conversation_ = new QPushButton(tr("Delete this conversation…"));
  delete_conversation_->setObjectName(QStringLiteral("deleteConversation"));
  delete_all_ = new QPushButton(tr("Delete all history…"));
  delete_all_->setObjectName(QStringLiteral("deleteAll"));
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(delete_conversation_);
  buttons->addWidget(delete_all_);
  buttons->addStretch(1);

  auto* messages_page = new QWidget;
  auto* messages_layout = new QVBoxLayout(messages_page);
  messages_layout->addWidget(splitter, 1);
  messages_layout->addLayout(buttons);

  // The Calls tab: the call log, newest first.
  calls_ = new QTreeWidget;
  calls_->setObjectName(QStringLiteral("calls"));
  calls_->setHeaderLabels({tr("When"), tr("Direction"), tr("Contact"), tr("Account"),
                           tr("Duration"), tr("How it ended")});
  calls_->setRootIsDecorated(false);
  calls_->setUniformRowHeights(true);
  calls_->setAllColumnsShowFocus(true);
  calls_->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
  calls_->header()->setStretchLastSection(true);
  calls_summary_ = new QLabel;
  calls_summary_->setTextFormat(Qt::PlainText);
  delete_calls_ = new QPushButton(tr("Delete all &calls…"));
  delete_calls_->setObjectName(QStringLiteral("deleteCalls"));
  auto* calls_buttons = new QHBoxLayout;
  calls_buttons->addWidget(calls_summary_, 1);
  calls_buttons->addWidget(delete_calls_);
  calls_page_ = new QWidget;
  auto* calls_layout = new QVBoxLayout(calls_page_);
  calls_layout->addWidget(calls_, 1);
  calls_layout->addLayout(calls_buttons);

  tabs_ = new QTabWidget;
  tabs_->setObjectName(QStringLiteral("historyTabs"));
  tabs_->addTab(messages_page, tr("&Messages"));
  tabs_->addTab(calls_page_, tr("C&alls"));

  auto* layout = new QVBoxLayout(this);
  layout->addWidget(notice_);
  layout->addWidget(tabs_, 1);

  search_timer_ = new QTimer(this);
  search_timer_->setSingleShot(true);
  search_timer_->setInterval(kSearchDelayMs);
  refresh_timer_ = new QTimer(this);
  refresh_timer_->setSingleShot(true);
  refresh_timer_->setInterval(kRefreshDelayMs);

  connect(search_timer_, &QTimer::timeout, this, &HistoryWindow::search_now);
  connect(refresh_timer_, &QTimer::timeout, this, &HistoryWindow::refresh);
  connect(search_, &QLineEdit::textChanged, this, [this](const QString& text) {
    if (text.trimmed().isEmpty()) {
      search_timer_->stop();
      search_now();
    } else {
      search_timer_->start();
    }
  });
  connect(search_, &QLineEdit::returnPressed, this, [this] {
    search_timer_->stop();
    search_now();
  });
  connect(results_, &QTextBrowser::anchorClicked, this, &HistoryWindow::show_result);
  connect(conversations_, &QTreeWidget::currentItemChanged, this, [this](QTreeWidgetItem* item) {
    if (item == nullptr) return;
    marked_.reset();
    open(item->data(0, kAccountRole).toString().toStdString(),
         item->data(0, kPeerRole).toString().toStdString(), std::nullopt, Scroll::bottom);
  });
  connect(older_, &QPushButton::clicked, this, &HistoryWindow::load_older);
  connect(delete_conversation_, &QPushButton::clicked, this, &HistoryWindow::delete_conversation);
  connect(delete_all_, &QPushButton::clicked, this, &HistoryWindow::delete_all);
  connect(delete_calls_, &QPushButton::clicked, this, &HistoryWindow::delete_calls);
  connect(tabs_, &QTabWidget::currentChanged, this, [this] {
    if (tabs_->currentWidget() == calls_page_ && calls_stale_) reload_calls();
  });
  connect(&core_, &Core::event, this, &HistoryWindow::on_event);
  connect(&state_, &State::contactsChanged, this, [this] {
    // Names may have changed (this also fires with every presence: wait for
    // the burst to pass).
    names_stale_ = true;
    if (isVisible() && !refresh_timer_->isActive()) refresh_timer_->start();
  });

  clear_conversation(tr("Choose a conversation on the left."));
}

void HistoryWindow::show_conversation(const std::string& account, const std::string& peer) {
  if (!search_->text().isEmpty()) search_->clear();
  {
    QSignalBlocker block(conversations_);
    QTreeWidgetItem* found = nullptr;
    for (int i = 0; i < conversations_->topLevelItemCount(); ++i) {
      QTreeWidgetItem* item = conversations_->topLevelItem(i);
      if (item->data(0, kAccountRole).toString().toStdString() == account &&
          item->data(0, kPeerRole).toString().toStdString() == peer) {
        found = item;
      }
    }
    conversations_->setCurrentItem(found);
  }
  marked_.reset();
  open(account, peer, std::nullopt, Scroll::bottom);
  update_notice();
  show();
  raise();
  activateWindow();
}

void HistoryWindow::show_calls() {
  tabs_->setCurrentWidget(calls_page_);
  reload_calls();
  update_notice();
  show();
  raise();
  activateWindow();
}

void HistoryWindow::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  catch_up();
}

void HistoryWindow::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  // Options may have switched logging meanwhile.
  if (event->type() == QEvent::ActivationChange && isActiveWindow()) update_notice();
}

void HistoryWindow::on_event(const app::Event& event) {
  const std::string* account = nullptr;
  const std::string* peer = nullptr;
  if (const auto* e = std::get_if<app::MessageReceived>(&event)) {
    account = &e->account;
    peer = &e->peer;
  } else if (const auto* e = std::get_if<app::MessageStateChanged>(&event)) {
    account = &e->account;
    peer = &e->peer;
  } else if (const auto* e = std::get_if<app::CallChanged>(&event)) {
    // Calls are logged as they start and end.
    if (e->call.state != app::CallState::incoming && e->call.state != app::CallState::calling &&
        e->call.state != app::CallState::ended) {
      return;
    }
    calls_stale_ = true;
    if (!refresh_timer_->isActive()) refresh_timer_->start();
    return;
  } else {
    return;
  }
  stale_ = true;
  if (*account == account_ && *peer == peer_) conversation_stale_ = true;
  // A burst of messages is read once.
  if (!refresh_timer_->isActive()) refresh_timer_->start();
}

void HistoryWindow::refresh() {
  if (isVisible()) catch_up();  // else showEvent() does
}

void HistoryWindow::catch_up() {
  update_notice();
  if (calls_stale_ && tabs_->currentWidget() == calls_page_) reload_calls();
  if (stale_) {
    reload_conversations();
  } else if (names_stale_) {
    fill_conversations();
  }
  if (conversation_stale_ && !account_.empty()) {
    conversation_stale_ = false;
    open(account_, peer_,
         loaded_.messages.empty() ? std::nullopt : std::optional(loaded_.messages.front().row),
         Scroll::keep);
  }
}

void HistoryWindow::reload_conversations() {
  stale_ = false;
  core_.call(
      this, [](app::Engine& e) { return e.conversations(); },
      [this](Result<std::vector<app::ConversationSummary>> result) {
        if (!result) {
          summaries_.clear();
          fill_conversations();
          clear_conversation(tr("History cannot be read: %1").arg(error_sentence(result.error())));
          return;
        }
        summaries_ = std::move(*result);
        std::stable_sort(summaries_.begin(), summaries_.end(),
                         [](const auto& a, const auto& b) { return a.last > b.last; });
        fill_conversations();
      });
}

void HistoryWindow::fill_conversations() {
  names_stale_ = false;
  QSignalBlocker block(conversations_);
  conversations_->clear();
  bool several_accounts = false;
  QTreeWidgetItem* current = nullptr;
  for (const auto& summary : summaries_) {
    several_accounts |= summary.account != summaries_.front().account;
    const QString peer = QString::fromStdString(summary.peer);
    const QString account = QString::fromStdString(summary.account);
    auto* item = new QTreeWidgetItem(conversations_);
    item->setText(0, state_.display_name(summary.account, summary.peer));
    item->setText(1, account);
    item->setText(2, QLocale().toString(static_cast<qlonglong>(summary.messages)));
    item->setText(3, when_text(local_time(summary.last)));
    item->setTextAlignment(2, Qt::AlignRight | Qt::AlignVCenter);
    item->setToolTip(0, tr("%1 (with your account %2)").arg(peer, account));
    item->setToolTip(3, QLocale().toString(local_time(summary.last), QLocale::LongFormat));
    item->setData(0, kAccountRole, account);
    item->setData(0, kPeerRole, peer);
    if (summary.account == account_ && summary.peer == peer_) {
      current = item;
    }
  }
  conversations_->setColumnHidden(1, !several_accounts);
  if (current != nullptr) conversations_->setCurrentItem(current);
  if (summaries_.empty() && account_.empty()) {
    clear_conversation(tr("No conversations have been saved yet."));
  }
  update_buttons();
}

void HistoryWindow::update_notice() {
  const bool logging = core_.sync([](app::Engine& e) { return e.log_history(); });
  notice_->setVisible(!logging);
}

void HistoryWindow::update_buttons() {
  delete_conversation_->setEnabled(!busy_ && !account_.empty() && !loaded_.messages.empty());
  delete_all_->setEnabled(!busy_ && !summaries_.empty());
  delete_calls_->setEnabled(!busy_ && call_count_ > 0);
}

void HistoryWindow::search_now() {
  const QString text = search_->text().trimmed();
  const auto generation = ++search_generation_;
  if (text.isEmpty()) {
    const bool had_words = !words_.pattern().isEmpty();
    words_ = QRegularExpression();
    hits_.clear();
    results_->clear();
    left_->setCurrentWidget(conversations_);
    fill_conversations();
    if (had_words && !account_.empty()) render();
    return;
  }
  words_ = words_pattern(text);
  left_->setCurrentWidget(results_);
  core_.call(
      this,
      [words = text.toStdString()](app::Engine& e) {
        return e.search_history(words, kSearchLimit);
      },
      [this, generation](Result<std::vector<app::HistoryMessage>> result) {
        if (generation != search_generation_) return;
        hits_.clear();
        if (!result) {
          results_->setHtml(placeholder_html(
              tr("The search did not work: %1").arg(error_sentence(result.error()))));
          return;
        }
        hits_ = std::move(*result);
        if (hits_.empty()) {
          results_->setHtml(placeholder_html(tr("No message contains these words.")));
          if (!account_.empty()) render();
          return;
        }
        bool several_accounts = false;
        for (const auto& hit : hits_) several_accounts |= hit.account != hits_.front().account;
        QString html;
        if (hits_.size() >= kSearchLimit) {
          html +=
              QStringLiteral("<p style=\"color:#808080\">%1</p>")
                  .arg(tr("The newest %1 found:").arg(messages_text(kSearchLimit)).toHtmlEscaped());
        } else {
          html += QStringLiteral("<p style=\"color:#808080\">%1</p>")
                      .arg(tr("%1 found:")
                               .arg(messages_text(static_cast<std::int64_t>(hits_.size())))
                               .toHtmlEscaped());
        }
        for (std::size_t i = 0; i < hits_.size(); ++i) {
          const auto& hit = hits_[i];
          const QDateTime time = local_time(hit.time);
          QString where = QLocale().toString(time, QLocale::ShortFormat);
          if (several_accounts)
            where += QStringLiteral(" · ") + QString::fromStdString(hit.account);
          html += QStringLiteral(
                      "<p style=\"margin-bottom:8px\"><a href=\"hit:%1\"><b>%2</b></a> "
                      "<span style=\"color:#808080\">%3%4</span><br>%5</p>")
                      .arg(QString::number(i),
                           state_.display_name(hit.account, hit.peer).toHtmlEscaped(),
                           where.toHtmlEscaped(),
                           hit.outgoing ? QStringLiteral(" · ") + tr("sent by me").toHtmlEscaped()
                                        : QString(),
                           snippet(hit.body));
        }
        results_->setHtml(html);
        if (!account_.empty()) render();
      });
}

void HistoryWindow::show_result(const QUrl& link) {
  if (link.scheme() != QLatin1String("hit")) return;
  bool ok = false;
  const qulonglong index = link.path().toULongLong(&ok);
  if (!ok || index >= hits_.size()) return;
  const app::HistoryMessage hit = hits_[index];
  {
    QSignalBlocker block(conversations_);
    for (int i = 0; i < conversations_->topLevelItemCount(); ++i) {
      QTreeWidgetItem* item = conversations_->topLevelItem(i);
      if (item->data(0, kAccountRole).toString().toStdString() == hit.account &&
          item->data(0, kPeerRole).toString().toStdString() == hit.peer) {
        conversations_->setCurrentItem(item);
      }
    }
  }
  marked_ = hit.row;
  open(hit.account, hit.peer, hit.row, Scroll::mark);
}

void HistoryWindow::open(const std::string& account, const std::string& peer,
                         std::optional<std::int64_t> back_to, Scroll scroll) {
  if (account != account_ || peer != peer_) loaded_ = {};
  account_ = account;
  peer_ = peer;
  conversation_stale_ = false;
  const QString name = state_.display_name(account, peer);
  const QString address = QString::fromStdString(peer);
  const QString with =
      name == address ? tr("with your account %1") : tr("%1, with your account %2").arg(address);
  title_->setText(
      QStringLiteral("<b style=\"font-size:large\">%1</b><br>"
                     "<span style=\"color:#808080\">%2</span>")
          .arg(name.toHtmlEscaped(), with.arg(QString::fromStdString(account)).toHtmlEscaped()));
  update_buttons();

  std::optional<int> keep_value;
  if (scroll == Scroll::keep) {
    const QScrollBar* bar = messages_->verticalScrollBar();
    if (bar->value() < bar->maximum() - 4) keep_value = bar->value();
  }
  const auto generation = ++generation_;
  core_.call(
      this,
      [account, peer, back_to](app::Engine& e) -> Result<Loaded> {
        Loaded loaded;
        std::optional<std::int64_t> before;
        for (;;) {
          auto page = e.history(account, peer, before, kPage);
          if (!page) return tl::unexpected(page.error());
          const bool full = page->size() == kPage;
          page->insert(page->end(), std::make_move_iterator(loaded.messages.begin()),
                       std::make_move_iterator(loaded.messages.end()));
          loaded.messages = std::move(*page);
          loaded.more = full;
          if (!back_to || !full || loaded.messages.front().row <= *back_to) return loaded;
          before = loaded.messages.front().row;
        }
      },
      [this, generation, scroll, keep_value](Result<Loaded> result) {
        if (generation != generation_) return;
        if (!result) {
          clear_conversation(
              tr("This conversation cannot be read: %1").arg(error_sentence(result.error())));
          return;
        }
        loaded_ = std::move(*result);
        render();
        update_buttons();
        if (scroll == Scroll::mark && marked_) {
          scroll_later(marked_, std::nullopt);
        } else {
          scroll_later(std::nullopt, keep_value);
        }
      });
}

void HistoryWindow::load_older() {
  if (account_.empty() || loaded_.messages.empty()) return;
  const std::int64_t first = loaded_.messages.front().row;
  const auto generation = generation_;
  older_->setEnabled(false);
  core_.call(
      this,
      [account = account_, peer = peer_, first](app::Engine& e) {
        return e.history(account, peer, first, kPage);
      },
      [this, generation, first](Result<std::vector<app::HistoryMessage>> page) {
        older_->setEnabled(true);
        if (generation != generation_ || loaded_.messages.empty() ||
            loaded_.messages.front().row != first) {
          return;
        }
        if (!page) {
          QMessageBox::warning(
              this, tr("History"),
              tr("Older messages cannot be read: %1").arg(error_sentence(page.error())));
          return;
        }
        loaded_.more = page->size() == kPage;
        page->insert(page->end(), std::make_move_iterator(loaded_.messages.begin()),
                     std::make_move_iterator(loaded_.messages.end()));
        loaded_.messages = std::move(*page);
        render();
        scroll_later(first, std::nullopt);
      });
}

void HistoryWindow::render() {
  older_->setVisible(loaded_.more);
  if (loaded_.messages.empty()) {
    messages_->setHtml(placeholder_html(
        tr("No messages with %1 are saved.").arg(state_.display_name(account_, peer_))));
    return;
  }
  const QString me = tr("Me").toHtmlEscaped();
  const QString them = state_.display_name(account_, peer_).toHtmlEscaped();
  const QString private_marker = QStringLiteral(" <small style=\"color:#27964a\">%1</small>")
                                     .arg(tr("private").toHtmlEscaped());
  QString html;
  html.reserve(static_cast<qsizetype>(loaded_.messages.size()) * 200);
  QDate day;
  for (const auto& message : loaded_.messages) {
    const QDateTime time = local_time(message.time);
    if (time.date() != day) {
      day = time.date();
      html += QStringLiteral(
                  "<p align=\"center\" style=\"color:#808080; margin-top:14px; "
                  "margin-bottom:6px\"><b>%1</b></p>")
                  .arg(day_text(day).toHtmlEscaped());
    }
    QString state;
    if (message.outgoing && message.state) {
      const bool failed = *message.state == app::DeliveryState::failed;
      state = QStringLiteral(" <small style=\"color:%1\">(%2)</small>")
                  .arg(failed ? QStringLiteral("#c0392b") : QStringLiteral("#808080"),
                       delivery_text(*message.state).toHtmlEscaped());
    }
    const bool marked = marked_ && *marked_ == message.row;
    html +=
        QStringLiteral(
            "<p style=\"margin-top:2px; margin-bottom:2px;%1\"><a name=\"m%2\"></a>"
            "<span style=\"color:#808080\">%3</span>&nbsp;&nbsp;"
            "<b style=\"color:%4\">%5:</b> %6%7%8</p>")
            .arg(marked ? QStringLiteral(" background-color:#fff6c4") : QString(),
                 QString::number(message.row),
                 QLocale().toString(time.time(), QLocale::ShortFormat).toHtmlEscaped(),
                 message.outgoing ? QStringLiteral("#2c5d9e") : QStringLiteral("#a0401e"),
                 message.outgoing ? me : them, highlighted(QString::fromStdString(message.body)),
                 message.encrypted ? private_marker : QString(), state);
  }
  messages_->setHtml(html);
}

void HistoryWindow::scroll_later(std::optional<std::int64_t> anchor, std::optional<int> value) {
  // The document is laid out once the event loop has run.
  QTimer::singleShot(0, messages_, [this, anchor, value] {
    QScrollBar* bar = messages_->verticalScrollBar();
    if (anchor) {
      messages_->scrollToAnchor(QStringLiteral("m%1").arg(*anchor));
      if (marked_ && *marked_ == *anchor) {
        bar->setValue(bar->value() - messages_->viewport()->height() / 3);
      }
    } else if (value) {
      bar->setValue(*value);
    } else {
      bar->setValue(bar->maximum());
    }
  });
}

void HistoryWindow::clear_conversation(const QString& placeholder) {
  ++generation_;
  account_.clear();
  peer_.clear();
  loaded_ = {};
  marked_.reset();
  conversation_stale_ = false;
  title_->clear();
  older_->hide();
  messages_->setHtml(placeholder_html(placeholder));
  {
    QSignalBlocker block(conversations_);
    conversations_->setCurrentItem(nullptr);
  }
  update_buttons();
}

bool HistoryWindow::confirm_erase(const QString& title, const QString& text,
                                  const QString& button) {
  QMessageBox box(QMessageBox::Warning, title, text, QMessageBox::Cancel, this);
  box.setTextFormat(Qt::PlainText);
  box.setInformativeText(tr("They are erased from this computer. This cannot be undone."));
  QPushButton* confirm = box.addButton(button, QMessageBox::DestructiveRole);
  box.setDefaultButton(QMessageBox::Cancel);
  box.exec();
  return box.clickedButton() == confirm;
}

void HistoryWindow::delete_conversation() {
  if (account_.empty()) return;
  std::int64_t count = static_cast<std::int64_t>(loaded_.messages.size());
  for (const auto& summary : summaries_) {
    if (summary.account == account_ && summary.peer == peer_) count = summary.messages;
  }
  const QString name = state_.display_name(account_, peer_);
  if (!confirm_erase(tr("Delete this conversation?"),
                     tr("Delete your conversation with %1 (%2)?").arg(name, messages_text(count)),
                     tr("Delete"))) {
    return;
  }

  busy_ = true;
  update_buttons();
  core_.call(
      this,
      [account = account_, peer = peer_](app::Engine& e) {
        return e.delete_history(account, peer);
      },
      [this](Result<std::int64_t> deleted) {
        busy_ = false;
        if (!deleted) {
          QMessageBox::warning(
              this, tr("History"),
              tr("The conversation could not be deleted: %1").arg(error_sentence(deleted.error())));
          update_buttons();
          return;
        }
        clear_conversation(tr("The conversation is deleted."));
        reload_conversations();
        if (!words_.pattern().isEmpty()) search_now();
      });
}

void HistoryWindow::delete_all() {
  std::int64_t count = 0;
  for (const auto& summary : summaries_) count += summary.messages;
  if (!confirm_erase(tr("Delete all history?"),
                     tr("Delete all history: %1 in %2?")
                         .arg(messages_text(count), conversations_text(summaries_.size())),
                     tr("Delete all"))) {
    return;
  }

  busy_ = true;
  update_buttons();
  core_.call(
      this, [](app::Engine& e) { return e.delete_all_history(); },
      [this](Result<std::int64_t> deleted) {
        busy_ = false;
        if (!deleted) {
          QMessageBox::warning(
              this, tr("History"),
              tr("History could not be deleted: %1").arg(error_sentence(deleted.error())));
          update_buttons();
          return;
        }
        summaries_.clear();
        if (!search_->text().isEmpty()) search_->clear();
        clear_conversation(tr("All history is deleted."));
        reload_conversations();
      });
}

void HistoryWindow::reload_calls() {
  calls_stale_ = false;
  core_.call(
      this, [](app::Engine& e) { return e.call_history(kCallLimit); },
      [this](Result<std::vector<app::CallEntry>> result) {
        calls_->clear();
        if (!result) {
          call_count_ = 0;
          calls_summary_->setText(
              tr("The call log cannot be read: %1").arg(error_sentence(result.error())));
          update_buttons();
          return;
        }
        std::vector<app::CallEntry> entries = std::move(*result);
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& a, const auto& b) { return a.start > b.start; });
        call_count_ = entries.size();
        bool several_accounts = false;
        for (const auto& entry : entries) several_accounts |= entry.account != entries[0].account;
        for (const auto& entry : entries) {
          const QDateTime start = local_time(entry.start);
          QString duration;
          if (entry.end) {
            duration = duration_text(
                std::chrono::duration_cast<std::chrono::seconds>(*entry.end - entry.start));
          }
          auto* item = new QTreeWidgetItem({QLocale().toString(start, QLocale::ShortFormat),
                                            entry.outgoing ? tr("↗ Outgoing") : tr("↙ Incoming"),
                                            state_.display_name(entry.account, entry.peer),
                                            QString::fromStdString(entry.account), duration,
                                            QString::fromStdString(entry.reason)});
          item->setToolTip(2, QString::fromStdString(entry.peer));
          calls_->addTopLevelItem(item);
        }
        calls_->setColumnHidden(3, !several_accounts);
        calls_summary_->setText(entries.empty()       ? tr("No calls are saved.")
                                : entries.size() == 1 ? tr("1 call")
                                                      : tr("%1 calls").arg(entries.size()));
        update_buttons();
      });
}

void HistoryWindow::delete_calls() {
  if (call_count_ == 0) return;
  if (!confirm_erase(tr("Delete all calls?"),
                     call_count_ == 1 ? tr("Delete the call log: 1 call?")
                                      : tr("Delete the call log: %1 calls?").arg(call_count_),
                     tr("Delete all calls"))) {
    return;
  }
  busy_ = true;
  update_buttons();
  core_.call(
      this, [](app::Engine& e) { return e.delete_call_history(); },
      [this](Result<std::int64_t> deleted) {
        busy_ = false;
        if (!deleted) {
          QMessageBox::warning(
              this, tr("History"),
              tr("The call log could not be deleted: %1").arg(error_sentence(deleted.error())));
          update_buttons();
          return;
        }
        reload_calls();
      });
}

QString HistoryWindow::highlighted(const QString& text) const {
  QString html;
  if (words_.pattern().isEmpty()) {
    html = text.toHtmlEscaped();
  } else {
    qsizetype at = 0;
    auto matches = words_.globalMatch(text);
    while (matches.hasNext()) {
      const QRegularExpressionMatch match = matches.next();
      if (match.capturedLength() == 0) continue;
      html += text.mid(at, match.capturedStart() - at).toHtmlEscaped();
      html += QStringLiteral("<span style=\"background-color:#ffe27a\">%1</span>")
                  .arg(match.captured().toHtmlEscaped());
      at = match.capturedEnd();
    }
    html += text.mid(at).toHtmlEscaped();
  }
  html.replace(QLatin1Char('\n'), QStringLiteral("<br>"));
  return html;
}

QString HistoryWindow::snippet(const std::string& body) const {
  constexpr qsizetype kBefore = 40;
  constexpr qsizetype kLength = 160;
  const QString text = QString::fromStdString(body).simplified();
  qsizetype start = 0;
  if (!words_.pattern().isEmpty()) {
    const QRegularExpressionMatch match = words_.match(text);
    if (match.hasMatch()) start = std::max<qsizetype>(0, match.capturedStart() - kBefore);
  }
  if (start > 0) {
    // Begin at a word.
    const qsizetype space = text.indexOf(QLatin1Char(' '), start);
    if (space >= 0 && space < start + kBefore / 2) start = space + 1;
  }
  QString html = highlighted(text.mid(start, kLength));
  if (start > 0) html.prepend(QStringLiteral("… "));
  if (start + kLength < text.size()) html += QStringLiteral(" …");
  return html;
}

}  // namespace sotto::desktop
