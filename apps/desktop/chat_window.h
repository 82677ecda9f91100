// The chat window: one tab per conversation (ChatView), each with the
// padlock of its private conversation (OTR) the user can click to start,
// refresh or end it, a banner when the contact's key changed, the "being
// logged" notice, the transcript with delivery states, and the input.
#pragma once

#include <QDateTime>
#include <QPointer>
#include <QString>
#include <QWidget>

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "state.h"

class QAction;
class QActionGroup;
class QLabel;
class QMenu;
class QPlainTextEdit;
class QTabWidget;
class QTextBrowser;
class QToolButton;

namespace sotto::desktop {

class AuthenticateDialog;

// One conversation: `account` with `peer` (a bare address).
class ChatView : public QWidget {
  Q_OBJECT

 public:
  ChatView(State& state, std::string account, std::string peer, QWidget* parent = nullptr);
  ~ChatView() override;

  const std::string& account() const { return account_; }
  const std::string& peer() const { return peer_; }
  app::Privacy privacy() const { return privacy_; }

  QToolButton* padlock() const { return padlock_; }
  QPlainTextEdit* input() const { return input_; }
  QTextBrowser* transcript() const { return transcript_; }
  QWidget* key_changed_banner() const { return banner_; }
  QWidget* logging_notice() const { return logging_notice_; }
  QAction* start_action() const { return start_action_; }
  QAction* end_action() const { return end_action_; }
  QAction* authenticate_action() const { return authenticate_action_; }
  QAction* log_action() const { return log_action_; }
  // The open "Authenticate contact" dialog, if any.
  AuthenticateDialog* authenticate_dialog() const;

  // What Enter does: sends `text` (nothing when it is blank). On an error
  // the text goes back to the input and a line says why.
  void send_text(const QString& text);
  // Opens (or raises) the "Authenticate contact" dialog.
  AuthenticateDialog* open_authenticate();
  // A message the chat window opened this view for: shown unless the
  // history read at opening already has it.
  void add_message(const app::MessageReceived& message);

 signals:
  // The contact's name or the padlock changed (the tab follows).
  void changed();

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  struct Entry {
    enum class Kind { incoming, outgoing, other_device, system, warning };
    Kind kind = Kind::system;
    QDateTime time;
    QString text;
    std::string id;  // outgoing: the engine's message id, once known
    bool encrypted = false;
    std::optional<app::DeliveryState> state;
    bool held = false;  // "require": waits for a private conversation
    QString error;
    std::uint64_t serial = 0;  // outgoing, while the send is under way
  };
  // Delivery news for a message whose send has not returned yet.
  struct Early {
    std::optional<app::DeliveryState> state;
    QString error;
    bool held = false;
  };

  void build();
  void load();
  void update_header();
  void update_padlock();
  void update_logging_notice();
  void update_menu();

  void on_event(const app::Event& event);
  template <class E>
  void handle(const E&) {}
  void handle(const app::MessageReceived& e);
  void handle(const app::MessageStateChanged& e);
  void handle(const app::PrivacyChanged& e);
  void handle(const app::OtrNewFingerprint& e);
  void handle(const app::OtrKeyChanged& e);
  void handle(const app::SmpProgress& e);
  void handle(const app::MessageHeld& e);
  void handle(const app::OtrProblem& e);
  bool ours(const std::string& account, const std::string& peer) const;

  void on_padlock_clicked();
  void show_menu();  // without waiting for it to close
  void start_otr();
  void end_otr();
  void make_dialog();
  void set_policy(std::optional<app::OtrPolicy> policy);
  void set_logging(bool on);
  void on_sent(std::uint64_t serial, const QString& text, Result<app::SentMessage> sent);
  void apply(Entry& entry, const Early& news);
  Entry* outgoing(const std::string& id);

  void say(const QString& text, bool warning = false);
  void append(Entry entry);
  void render_later();
  void render_all();
  QString entry_html(const Entry& entry) const;
  void add_resources();

  State& state_;
  const std::string account_;
  const std::string peer_;
  app::Privacy privacy_ = app::Privacy::not_private;
  std::uint32_t instance_ = 0;
  bool logging_ = true;
  bool warned_plain_ = false;
  bool smp_shown_ = false;
  enum class SmpRole { none, answering_question, answering_secret } smp_role_ = SmpRole::none;

  std::deque<Entry> entries_;
  std::set<std::string> seen_;  // "in:" / "out:" + id of messages shown
  std::map<std::string, Early> early_;
  std::uint64_t serial_ = 0;
  bool render_pending_ = false;

  QLabel* name_ = nullptr;
  QLabel* address_ = nullptr;
  QLabel* presence_icon_ = nullptr;
  QLabel* presence_ = nullptr;
  QToolButton* padlock_ = nullptr;
  QMenu* menu_ = nullptr;
  QAction* start_action_ = nullptr;
  QAction* end_action_ = nullptr;
  QAction* authenticate_action_ = nullptr;
  QAction* log_action_ = nullptr;
  QMenu* policy_menu_ = nullptr;
  QActionGroup* policy_group_ = nullptr;
  QAction* policy_default_ = nullptr;
  std::map<app::OtrPolicy, QAction*> policy_actions_;
  QWidget* banner_ = nullptr;
  QLabel* banner_text_ = nullptr;
  QLabel* banner_new_ = nullptr;
  QLabel* banner_known_ = nullptr;
  QWidget* logging_notice_ = nullptr;
  QTextBrowser* transcript_ = nullptr;
  QPlainTextEdit* input_ = nullptr;
  QPointer<AuthenticateDialog> dialog_;
};

// The top-level "Chats" window. Construct one, after State.
class ChatWindow : public QWidget {
  Q_OBJECT

 public:
  explicit ChatWindow(State& state, QWidget* parent = nullptr);

  // Finds or creates the conversation's tab. `activate`: show and raise the
  // window, select the tab and put the cursor in its input.
  void open_chat(const std::string& account, const std::string& peer, bool activate);
  ChatView* view(const std::string& account, const std::string& peer) const;  // null: no tab
  ChatView* current_view() const;
  QTabWidget* tabs() const { return tabs_; }
  void close_tab(int index);

 protected:
  void changeEvent(QEvent* event) override;
  void showEvent(QShowEvent* event) override;

 private:
  ChatView* add_view(const std::string& account, const std::string& peer);
  void on_event(const app::Event& event);
  void update_tab(int index);
  void update_tabs();
  void update_title();
  void mark_current_read();

  State& state_;
  QTabWidget* tabs_ = nullptr;
};

}  // namespace sotto::desktop
