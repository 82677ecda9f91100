#include "sotto/app/xmpp_provider.h"

#include <algorithm>

namespace sotto::app {
namespace {

xmpp::Show to_show(Availability availability) {
  switch (availability) {
    case Availability::available:
      return xmpp::Show::available;
    case Availability::chat:
      return xmpp::Show::chat;
    case Availability::away:
      return xmpp::Show::away;
    case Availability::xa:
      return xmpp::Show::xa;
    case Availability::dnd:
      return xmpp::Show::dnd;
    case Availability::offline:
      return xmpp::Show::unavailable;
  }
  return xmpp::Show::available;
}

Availability from_show(xmpp::Show show) {
  switch (show) {
    case xmpp::Show::available:
      return Availability::available;
    case xmpp::Show::chat:
      return Availability::chat;
    case xmpp::Show::away:
      return Availability::away;
    case xmpp::Show::xa:
      return Availability::xa;
    case xmpp::Show::dnd:
      return Availability::dnd;
    case xmpp::Show::unavailable:
      return Availability::offline;
  }
  return Availability::offline;
}

AccountState from_state(xmpp::ConnectionState state) {
  switch (state) {
    case xmpp::ConnectionState::offline:
      return AccountState::offline;
    case xmpp::ConnectionState::connecting:
      return AccountState::connecting;
    case xmpp::ConnectionState::online:
      return AccountState::online;
    case xmpp::ConnectionState::reconnecting:
      return AccountState::reconnecting;
    case xmpp::ConnectionState::failed:
      return AccountState::failed;
  }
  return AccountState::offline;
}

// Lower is better: the resource a person most likely reads.
int rank(Availability availability) {
  switch (availability) {
    case Availability::chat:
      return 0;
    case Availability::available:
      return 1;
    case Availability::away:
      return 2;
    case Availability::dnd:
      return 3;
    case Availability::xa:
      return 4;
    case Availability::offline:
      return 5;
  }
  return 5;
}

Result<Jid> parse_contact(const std::string& address) {
  auto jid = Jid::parse(address);
  if (!jid) return jid;
  if (!jid->is_bare()) return jid->bare();
  return jid;
}

}  // namespace

namespace {

xmpp::ServerSettings server_settings(const AccountSettings& settings) {
  xmpp::ServerSettings server;
  server.host = settings.host;
  server.port = settings.port;
  server.direct_tls = settings.direct_tls;
  server.pinned_sha256 = settings.pinned_cert_sha256;
  return server;
}

}  // namespace

XmppProvider::XmppProvider(asio::any_io_executor executor, const AccountSettings& settings,
                           std::string password, Emit emit)
    : account_(settings.address), emit_(std::move(emit)) {
  xmpp::Credentials credentials;
  credentials.jid = Jid::parse(settings.address).value_or(Jid());
  credentials.password = std::move(password);
  xmpp::ServerSettings server = server_settings(settings);
  client_ = std::make_unique<xmpp::Client>(executor, std::move(credentials), std::move(server),
                                           static_cast<xmpp::ClientListener&>(*this));
}

XmppProvider::~XmppProvider() = default;

void* XmppProvider::capability(std::type_index type) {
  if (type == typeid(InstantMessaging)) return static_cast<InstantMessaging*>(this);
  if (type == typeid(Roster)) return static_cast<Roster*>(this);
  if (type == typeid(PresenceCapability)) return static_cast<PresenceCapability*>(this);
  if (type == typeid(PasswordChange)) return static_cast<PasswordChange*>(this);
  if (type == typeid(PacketCapture)) return static_cast<PacketCapture*>(this);
  return nullptr;
}

AccountState XmppProvider::state() const { return from_state(client_->state()); }

void XmppProvider::connect(Availability availability, std::string status) {
  client_->connect(to_show(availability), std::move(status));
}

void XmppProvider::disconnect() { client_->disconnect(); }

void XmppProvider::reconfigure(const AccountSettings& settings, std::string password) {
  client_->reconfigure(server_settings(settings), std::move(password));
}

std::string XmppProvider::server_certificate() const { return client_->server_cert_sha256(); }

std::string XmppProvider::send_message(const std::string& to, std::string body, std::string id) {
  auto jid = Jid::parse(to);
  id = client_->send_message(*jid, std::move(body), std::move(id));
  emit_(MessageStateChanged{account_, jid->bare_str(), id, DeliveryState::queued, std::nullopt});
  return id;
}

std::size_t XmppProvider::unacknowledged_messages() const {
  return client_->unacknowledged_messages();
}

Contact XmppProvider::to_contact(const xmpp::RosterItem& item) const {
  Contact contact;
  contact.account = account_;
  contact.address = item.jid.bare_str();
  contact.name = item.name;
  contact.groups = item.groups;
  contact.subscription = std::string(xmpp::to_string(item.subscription));
  contact.waiting_for_authorization = item.waiting_for_authorization;
  for (const xmpp::Presence& presence : client_->presences(item.jid)) {
    Availability availability = from_show(presence.show);
    if (rank(availability) < rank(contact.availability)) {
      contact.availability = availability;
      contact.status = presence.status;
    }
  }
  return contact;
}

std::vector<Contact> XmppProvider::contacts() const {
  std::vector<Contact> out;
  for (const xmpp::RosterItem& item : client_->roster()) out.push_back(to_contact(item));
  return out;
}

void XmppProvider::add_contact(const std::string& address, std::string name,
                               std::vector<std::string> groups,
                               std::function<void(Result<void>)> done) {
  auto jid = parse_contact(address);
  if (!jid) return done(tl::unexpected(jid.error()));
  if (*jid == client_->jid())
    return done(fail(Errc::invalid_argument, "that is this account's own address"));
  client_->add_contact(*jid, std::move(name), std::move(groups), std::move(done));
}

void XmppProvider::update_contact(const std::string& address, std::string name,
                                  std::vector<std::string> groups,
                                  std::function<void(Result<void>)> done) {
  auto jid = parse_contact(address);
  if (!jid) return done(tl::unexpected(jid.error()));
  if (client_->roster_item(*jid) == nullptr)
    return done(fail(Errc::not_found, address + " is not in your contact list"));
  client_->update_contact(*jid, std::move(name), std::move(groups), std::move(done));
}

void XmppProvider::remove_contact(const std::string& address,
                                  std::function<void(Result<void>)> done) {
  auto jid = parse_contact(address);
  if (!jid) return done(tl::unexpected(jid.error()));
  if (client_->roster_item(*jid) == nullptr)
    return done(fail(Errc::not_found, address + " is not in your contact list"));
  client_->remove_contact(*jid, std::move(done));
}

void XmppProvider::authorize(const std::string& address) {
  if (auto jid = parse_contact(address)) client_->authorize(*jid);
}

void XmppProvider::deny(const std::string& address) {
  if (auto jid = parse_contact(address)) client_->deny(*jid);
}

std::vector<std::string> XmppProvider::pending_requests() const {
  std::vector<std::string> out;
  for (const Jid& jid : client_->pending_requests()) out.push_back(jid.bare_str());
  return out;
}

void XmppProvider::set_presence(Availability availability, std::string status) {
  client_->set_presence(to_show(availability), std::move(status));
}

void XmppProvider::change_password(std::string new_password,
                                   std::function<void(Result<void>)> done) {
  std::string copy = new_password;
  client_->change_password(
      std::move(new_password),
      [this, copy = std::move(copy), done = std::move(done)](Result<void> result) mutable {
        if (result && on_password_changed) on_password_changed(copy);
        secure_wipe(copy);
        done(std::move(result));
      });
}

void XmppProvider::set_packet_observer(Observer observer) {
  if (!observer) return client_->set_traffic_observer(nullptr);
  client_->set_traffic_observer([observer = std::move(observer)](xmpp::Direction direction,
                                                                 std::string_view text) {
    observer(direction == xmpp::Direction::send ? PacketDirection::send : PacketDirection::receive,
             text);
  });
}

// --- listener ----------------------------------------------------------------

void XmppProvider::on_state(xmpp::ConnectionState state, const std::optional<Error>& error) {
  emit_(AccountStateChanged{account_, from_state(state), error});
}

void XmppProvider::on_roster(const std::vector<xmpp::RosterItem>& roster) {
  ContactsLoaded loaded{account_, {}};
  for (const auto& item : roster) loaded.contacts.push_back(to_contact(item));
  emit_(std::move(loaded));
}

void XmppProvider::on_roster_item(const xmpp::RosterItem& item) {
  emit_(ContactChanged{to_contact(item)});
}

void XmppProvider::on_roster_removed(const Jid& jid) {
  emit_(ContactRemoved{account_, jid.bare_str()});
}

void XmppProvider::on_presence(const xmpp::Presence& presence) {
  emit_(PresenceChanged{account_, presence.from.bare_str(), presence.from.resource(),
                        from_show(presence.show), presence.status});
}

void XmppProvider::on_subscription_request(const Jid& from, const std::string& nick) {
  emit_(AuthorizationRequested{account_, from.bare_str(), nick});
}

void XmppProvider::on_subscription_denied(const Jid& from) {
  emit_(AuthorizationDenied{account_, from.bare_str()});
}

void XmppProvider::on_message(const xmpp::Message& message) {
  const Jid& peer = message.outgoing ? message.to : message.from;
  emit_(MessageReceived{account_, peer.bare_str(), peer.resource(), message.id, message.body,
                        message.time, message.outgoing, message.delayed, message.from_archive,
                        message.carbon, false});
}

void XmppProvider::on_message_sent(const Jid& to, const std::string& id) {
  emit_(MessageStateChanged{account_, to.bare_str(), id, DeliveryState::sent, std::nullopt});
}

void XmppProvider::on_message_delivered(const Jid& from, const std::string& id) {
  emit_(MessageStateChanged{account_, from.bare_str(), id, DeliveryState::delivered, std::nullopt});
}

void XmppProvider::on_message_error(const Jid& to, const std::string& id, const Error& error) {
  emit_(MessageStateChanged{account_, to.bare_str(), id, DeliveryState::failed, error});
}

}  // namespace sotto::app
