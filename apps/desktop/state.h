// What the windows show, kept on the GUI thread from the engine's events:
// accounts and their state, contacts with presence per resource, unread
// counts, the padlock of each conversation, pending authorization
// requests and the calls going on. Widgets read it and listen to its signals; they change the
// engine through Core.
#pragma once

#include <QObject>
#include <QString>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core.h"

namespace sotto::desktop {

struct Presence {
  app::Availability availability = app::Availability::offline;
  std::string status;
};

class State : public QObject {
  Q_OBJECT

 public:
  explicit State(Core& core, QObject* parent = nullptr);

  Core& core() { return core_; }

  // Reads accounts and contacts from the engine (after the profile is unlocked).
  void reload();

  const std::vector<app::AccountSettings>& accounts() const { return accounts_; }
  const app::AccountSettings* account(const std::string& address) const;
  app::AccountState account_state(const std::string& account) const;
  // Why the account last failed, while it is failed or reconnecting.
  std::optional<Error> account_error(const std::string& account) const;
  // The status the user chose (what accounts connect with).
  app::Availability my_availability() const { return my_availability_; }
  void set_my_availability(app::Availability availability) { my_availability_ = availability; }

  std::vector<app::Contact> contacts() const;  // of every account
  const app::Contact* contact(const std::string& account, const std::string& address) const;
  // The best presence over the contact's resources.
  Presence presence(const std::string& account, const std::string& address) const;
  // The contact's name, else its address.
  QString display_name(const std::string& account, const std::string& address) const;
  std::vector<std::string> groups() const;  // every group in use, sorted

  int unread(const std::string& account, const std::string& peer) const;
  int total_unread() const;
  void mark_read(const std::string& account, const std::string& peer);

  // The last padlock event of a conversation (none: not private).
  std::optional<app::PrivacyChanged> privacy(const std::string& account,
                                             const std::string& peer) const;

  // Calls not ended yet, oldest first.
  std::vector<app::CallInfo> calls() const;
  // A call by id: going on, or among the last few that ended (their final
  // state, with the reason). Null when unknown. Valid until the next event:
  // copy what you keep.
  const app::CallInfo* call(const std::string& id) const;

  const std::vector<app::AuthorizationRequested>& requests() const { return requests_; }
  // Answered (or ignored for now): forget the request.
  void drop_request(const std::string& account, const std::string& address);

 signals:
  void accountsChanged();
  void contactsChanged();
  void unreadChanged();
  void privacyChanged(const QString& account, const QString& peer);
  void requestsChanged();
  // A call began, changed or ended (read it with call(id)).
  void callChanged(const QString& id);

 private:
  using Key = std::pair<std::string, std::string>;  // account, address
  void on_event(const app::Event& event);

  Core& core_;
  std::vector<app::AccountSettings> accounts_;
  std::map<std::string, app::AccountState> states_;
  std::map<std::string, Error> errors_;
  std::map<Key, app::Contact> contacts_;
  std::map<Key, std::map<std::string, Presence>> resources_;
  std::map<Key, int> unread_;
  std::map<Key, app::PrivacyChanged> privacy_;
  std::vector<app::AuthorizationRequested> requests_;
  std::map<std::string, app::CallInfo> calls_;  // not ended
  std::vector<app::CallInfo> ended_calls_;      // the last few, oldest first
  app::Availability my_availability_ = app::Availability::available;
};

}  // namespace sotto::desktop
