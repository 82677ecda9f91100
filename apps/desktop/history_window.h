// The History window: every logged conversation, full-text search across
// them, one conversation's messages paged back from the newest, and deleting
// a conversation or all history; on its Calls tab, the call log (time,
// direction, peer, duration, how it ended) with "delete all calls".
// Object names: "historyTabs", "calls" (the call list), "deleteCalls".
#pragma once

#include <QRegularExpression>
#include <QWidget>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "state.h"

class QFrame;
class QLabel;
class QLineEdit;
class QPushButton;
class QStackedWidget;
class QTabWidget;
class QTextBrowser;
class QTimer;
class QTreeWidget;
class QUrl;

namespace sotto::desktop {

class HistoryWindow : public QWidget {
  Q_OBJECT

 public:
  explicit HistoryWindow(State& state, QWidget* parent = nullptr);

  // Selects the conversation, shows its newest messages and brings the
  // window to the front.
  void show_conversation(const std::string& account, const std::string& peer);
  // Shows the Calls tab, read afresh, and brings the window to the front.
  void show_calls();

 protected:
  void showEvent(QShowEvent* event) override;
  void changeEvent(QEvent* event) override;

 private:
  enum class Scroll { bottom, mark, keep };
  struct Loaded {
    std::vector<app::HistoryMessage> messages;  // oldest first
    bool more = false;                          // older ones are left
  };

  void on_event(const app::Event& event);
  void refresh();
  void catch_up();
  void reload_conversations();
  void fill_conversations();
  void update_notice();
  void update_buttons();
  void search_now();
  void show_result(const QUrl& link);
  // Loads the conversation's newest messages, and back to row `back_to`
  // when given, then shows them.
  void open(const std::string& account, const std::string& peer,
            std::optional<std::int64_t> back_to, Scroll scroll);
  void load_older();
  void render();
  void scroll_later(std::optional<std::int64_t> anchor, std::optional<int> value);
  void clear_conversation(const QString& placeholder);
  // Asks before erasing, with Cancel the default.
  bool confirm_erase(const QString& title, const QString& text, const QString& button);
  void delete_conversation();
  void delete_all();
  void reload_calls();
  void delete_calls();
  QString highlighted(const QString& text) const;
  QString snippet(const std::string& body) const;

  State& state_;
  Core& core_;

  QFrame* notice_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QWidget* calls_page_ = nullptr;
  QTreeWidget* calls_ = nullptr;
  QLabel* calls_summary_ = nullptr;
  QPushButton* delete_calls_ = nullptr;
  QLineEdit* search_ = nullptr;
  QStackedWidget* left_ = nullptr;
  QTreeWidget* conversations_ = nullptr;
  QTextBrowser* results_ = nullptr;
  QLabel* title_ = nullptr;
  QPushButton* older_ = nullptr;
  QTextBrowser* messages_ = nullptr;
  QPushButton* delete_conversation_ = nullptr;
  QPushButton* delete_all_ = nullptr;
  QTimer* search_timer_ = nullptr;
  QTimer* refresh_timer_ = nullptr;

  std::vector<app::ConversationSummary> summaries_;
  std::vector<app::HistoryMessage> hits_;
  QRegularExpression words_;  // what the last search matched; empty: none

  std::string account_;  // the conversation shown; empty: none
  std::string peer_;
  Loaded loaded_;
  std::optional<std::int64_t> marked_;  // the message a search result points at
  std::uint64_t generation_ = 0;        // answers for an older open() are dropped
  std::uint64_t search_generation_ = 0;
  bool stale_ = true;                // the list needs reading when shown
  bool conversation_stale_ = false;  // so does the open conversation
  bool names_stale_ = false;         // contacts changed: fill the list again
  bool busy_ = false;                // deleting
  bool calls_stale_ = true;          // the call log needs reading when shown
  std::size_t call_count_ = 0;
};

}  // namespace sotto::desktop
