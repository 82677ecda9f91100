// The main window: the status selector, the dial field (with a SIP account),
// the accounts with their state, the contact list with a filter box, pending
// authorization requests, the menus, the tray icon with its unread badge and
// desktop notifications. It opens a window for each call and a ringing
// dialog for each incoming one (see call_window.h).
#pragma once

#include <QComboBox>
#include <QLineEdit>
#include <QListWidget>
#include <QMainWindow>
#include <QPointer>
#include <QPushButton>
#include <QSystemTrayIcon>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "state.h"

namespace sotto::desktop {

class CallWindow;
class ChatWindow;
class ContactList;
class DialBar;
class IncomingCallDialog;
class HistoryWindow;
class OptionsDialog;
class AuthorizationDialog;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(State& state, QWidget* parent = nullptr);
  ~MainWindow() override;

  // Connects every account: those that remember their password at once, the
  // others after asking for it.
  void connect_accounts();
  // xmpp:address[?message|?roster|?subscribe] (RFC 5122): opens a chat or
  // offers to add the contact.
  void open_uri(const QString& uri);
  // Ends the session in order (acknowledgements, then disconnects) and quits.
  void quit();

  // Called once, when the window is first painted.
  void on_first_paint(std::function<void()> callback) { first_paint_ = std::move(callback); }

  ChatWindow& chats() { return *chats_; }
  ContactList* contact_list() const { return contacts_; }
  QLineEdit* filter() const { return filter_; }
  QComboBox* status_selector() const { return status_; }
  QListWidget* accounts_view() const { return accounts_; }
  QPushButton* requests_button() const { return requests_; }
  QSystemTrayIcon* tray() const { return tray_; }
  DialBar* dial_bar() const { return dial_; }
  // The window of a call, or its ringing dialog, while open (else null).
  CallWindow* call_window(const std::string& id) const;
  IncomingCallDialog* incoming_call_dialog(const std::string& id) const;
  // Opens (or raises) the window of a call.
  CallWindow* show_call(const std::string& id);
  // At most this many incoming calls ring at once; more get "busy".
  static constexpr std::size_t kMaxRinging = 3;
  // The authorization dialogs now open, by "account\naddress".
  AuthorizationDialog* authorization_dialog(const std::string& account,
                                            const std::string& address) const;

 public Q_SLOTS:
  void add_account();
  void add_contact();
  void create_group();
  void show_history();
  void show_options();
  void show_requests();

 protected:
  void closeEvent(QCloseEvent* event) override;
  void changeEvent(QEvent* event) override;
  bool event(QEvent* event) override;

 private:
  void build_menus();
  void on_event(const app::Event& event);
  void refresh_accounts();
  void refresh_unread();
  void change_status(int index);
  // By value: asking for a password runs a nested event loop, during which
  // State may replace the list the caller iterates.
  void connect_account(std::string account, bool ask_password);
  void account_failed(std::string account, Error error);
  void contact_menu(const QPoint& pos);
  void on_call_changed(const QString& id);
  // `clicked`: what clicking the notification does (default: show the chats).
  void notify(const QString& title, const QString& text, std::function<void()> clicked = {});
  void toggle_visible();

  State& state_;
  ChatWindow* chats_ = nullptr;
  ContactList* contacts_ = nullptr;
  QLineEdit* filter_ = nullptr;
  QComboBox* status_ = nullptr;
  QListWidget* accounts_ = nullptr;
  QPushButton* requests_ = nullptr;
  QSystemTrayIcon* tray_ = nullptr;
  DialBar* dial_ = nullptr;
  std::function<void()> tray_clicked_;
  std::map<std::string, QPointer<CallWindow>> call_windows_;
  std::map<std::string, QPointer<IncomingCallDialog>> ringing_;
  QPointer<HistoryWindow> history_;
  QPointer<OptionsDialog> options_;
  std::map<std::string, QPointer<AuthorizationDialog>> authorization_dialogs_;
  std::map<std::string, bool> asking_;  // accounts whose password or certificate is being asked
  std::function<void()> first_paint_;
  bool quitting_ = false;
};

}  // namespace sotto::desktop
