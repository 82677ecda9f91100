// Private to sotto/app: the Provider for an XMPP account.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "sotto/app/app.h"
#include "sotto/app/packet_log.h"
#include "sotto/xmpp/xmpp.h"

namespace sotto::app {

class XmppProvider final : public Provider,
                           public InstantMessaging,
                           public Roster,
                           public PresenceCapability,
                           public PasswordChange,
                           public PacketCapture,
                           private xmpp::ClientListener {
 public:
  using Emit = std::function<void(Event)>;

  XmppProvider(asio::any_io_executor executor, const AccountSettings& settings,
               std::string password, Emit emit);
  ~XmppProvider() override;

  const std::string& account() const override { return account_; }
  AccountState state() const override;
  void connect(Availability availability, std::string status) override;
  void disconnect() override;
  void reconfigure(const AccountSettings& settings, std::string password) override;
  std::string server_certificate() const override;

  std::string send_message(const std::string& to, std::string body, std::string id) override;
  std::size_t unacknowledged_messages() const override;

  std::vector<Contact> contacts() const override;
  void add_contact(const std::string& address, std::string name, std::vector<std::string> groups,
                   std::function<void(Result<void>)> done) override;
  void update_contact(const std::string& address, std::string name, std::vector<std::string> groups,
                      std::function<void(Result<void>)> done) override;
  void remove_contact(const std::string& address, std::function<void(Result<void>)> done) override;
  void authorize(const std::string& address) override;
  void deny(const std::string& address) override;
  std::vector<std::string> pending_requests() const override;

  void set_presence(Availability availability, std::string status) override;
  void change_password(std::string new_password, std::function<void(Result<void>)> done) override;

  void set_packet_observer(Observer observer) override;

  // Called after a successful password change, so reconnects use the new one.
  std::function<void(const std::string& new_password)> on_password_changed;

 protected:
  void* capability(std::type_index type) override;

 private:
  void on_state(xmpp::ConnectionState state, const std::optional<Error>& error) override;
  void on_roster(const std::vector<xmpp::RosterItem>& roster) override;
  void on_roster_item(const xmpp::RosterItem& item) override;
  void on_roster_removed(const Jid& jid) override;
  void on_presence(const xmpp::Presence& presence) override;
  void on_subscription_request(const Jid& from, const std::string& nick) override;
  void on_subscription_denied(const Jid& from) override;
  void on_message(const xmpp::Message& message) override;
  void on_message_sent(const Jid& to, const std::string& id) override;
  void on_message_delivered(const Jid& from, const std::string& id) override;
  void on_message_error(const Jid& to, const std::string& id, const Error& error) override;

  Contact to_contact(const xmpp::RosterItem& item) const;

  std::string account_;
  Emit emit_;
  std::unique_ptr<xmpp::Client> client_;
};

}  // namespace sotto::app
