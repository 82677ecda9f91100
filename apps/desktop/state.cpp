#include "state.h"

#include <algorithm>
#include <set>

namespace sotto::desktop {
namespace {

int rank(app::Availability availability) {
  switch (availability) {
    case app::Availability::chat:
      return 5;
    case app::Availability::available:
      return 4;
    case app::Availability::away:
      return 3;
    case app::Availability::dnd:
      return 2;
    case app::Availability::xa:
      return 1;
    case app::Availability::offline:
      return 0;
  }
  return 0;
}

}  // namespace

State::State(Core& core, QObject* parent) : QObject(parent), core_(core) {
  connect(&core_, &Core::event, this, &State::on_event);
}

void State::reload() {
  struct Snapshot {
    std::vector<app::AccountSettings> accounts;
    std::map<std::string, app::AccountState> states;
    std::vector<app::Contact> contacts;
    std::vector<app::CallInfo> calls;
  };
  Snapshot snapshot = core_.sync([](app::Engine& engine) {
    Snapshot s;
    if (!engine.unlocked()) return s;
    s.accounts = engine.accounts();
    for (const auto& account : s.accounts) {
      s.states[account.address] = engine.state(account.address);
      if (auto contacts = engine.contacts(account.address)) {
        s.contacts.insert(s.contacts.end(), contacts->begin(), contacts->end());
      }
    }
    s.calls = engine.calls();
    return s;
  });
  accounts_ = std::move(snapshot.accounts);
  states_ = std::move(snapshot.states);
  std::map<Key, app::Contact> contacts;
  for (auto& contact : snapshot.contacts) {
    Key key{contact.account, contact.address};
    contacts[key] = std::move(contact);
  }
  contacts_ = std::move(contacts);
  std::vector<std::string> changed_calls;
  for (auto& call : snapshot.calls) {
    changed_calls.push_back(call.id);
    calls_[call.id] = std::move(call);
  }
  emit accountsChanged();
  emit contactsChanged();
  for (const auto& id : changed_calls) emit callChanged(QString::fromStdString(id));
}

const app::AccountSettings* State::account(const std::string& address) const {
  for (const auto& account : accounts_) {
    if (account.address == address) return &account;
  }
  return nullptr;
}

app::AccountState State::account_state(const std::string& account) const {
  auto it = states_.find(account);
  return it == states_.end() ? app::AccountState::offline : it->second;
}

std::optional<Error> State::account_error(const std::string& account) const {
  auto it = errors_.find(account);
  if (it == errors_.end()) return std::nullopt;
  return it->second;
}

std::vector<app::Contact> State::contacts() const {
  std::vector<app::Contact> out;
  out.reserve(contacts_.size());
  for (const auto& [key, contact] : contacts_) out.push_back(contact);
  return out;
}

const app::Contact* State::contact(const std::string& account, const std::string& address) const {
  auto it = contacts_.find({account, address});
  return it == contacts_.end() ? nullptr : &it->second;
}

Presence State::presence(const std::string& account, const std::string& address) const {
  Presence best;
  auto it = resources_.find({account, address});
  if (it == resources_.end()) return best;
  for (const auto& [resource, presence] : it->second) {
    if (rank(presence.availability) > rank(best.availability)) best = presence;
  }
  return best;
}

QString State::display_name(const std::string& account, const std::string& address) const {
  const app::Contact* c = contact(account, address);
  if (c != nullptr && !c->name.empty()) return QString::fromStdString(c->name);
  return QString::fromStdString(address);
}

std::vector<std::string> State::groups() const {
  std::set<std::string> groups;
  for (const auto& [key, contact] : contacts_)
    groups.insert(contact.groups.begin(), contact.groups.end());
  return {groups.begin(), groups.end()};
}

int State::unread(const std::string& account, const std::string& peer) const {
  auto it = unread_.find({account, peer});
  return it == unread_.end() ? 0 : it->second;
}

int State::total_unread() const {
  int total = 0;
  for (const auto& [key, count] : unread_) total += count;
  return total;
}

void State::mark_read(const std::string& account, const std::string& peer) {
  if (unread_.erase({account, peer}) > 0) emit unreadChanged();
}

std::optional<app::PrivacyChanged> State::privacy(const std::string& account,
                                                  const std::string& peer) const {
  auto it = privacy_.find({account, peer});
  if (it == privacy_.end()) return std::nullopt;
  return it->second;
}

std::vector<app::CallInfo> State::calls() const {
  std::vector<app::CallInfo> out;
  for (const auto& [id, call] : calls_) out.push_back(call);
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.start < b.start; });
  return out;
}

const app::CallInfo* State::call(const std::string& id) const {
  if (auto it = calls_.find(id); it != calls_.end()) return &it->second;
  for (auto it = ended_calls_.rbegin(); it != ended_calls_.rend(); ++it) {
    if (it->id == id) return &*it;
  }
  return nullptr;
}

void State::drop_request(const std::string& account, const std::string& address) {
  auto it = std::remove_if(requests_.begin(), requests_.end(), [&](const auto& request) {
    return request.account == account && request.address == address;
  });
  if (it == requests_.end()) return;
  requests_.erase(it, requests_.end());
  emit requestsChanged();
}

void State::on_event(const app::Event& event) {
  if (const auto* e = std::get_if<app::AccountStateChanged>(&event)) {
    states_[e->account] = e->state;
    if (e->error) {
      errors_[e->account] = *e->error;
    } else if (e->state == app::AccountState::online || e->state == app::AccountState::offline) {
      errors_.erase(e->account);
    }
    if (e->state != app::AccountState::online) {
      bool changed = false;
      for (auto it = resources_.begin(); it != resources_.end();) {
        if (it->first.first == e->account) {
          it = resources_.erase(it);
          changed = true;
        } else {
          ++it;
        }
      }
      if (changed) emit contactsChanged();
    }
    // Accounts are added and removed through the engine: read them again.
    accounts_ = core_.sync([](app::Engine& engine) { return engine.accounts(); });
    emit accountsChanged();
  } else if (const auto* e = std::get_if<app::ContactsLoaded>(&event)) {
    for (auto it = contacts_.begin(); it != contacts_.end();) {
      it = it->first.first == e->account ? contacts_.erase(it) : std::next(it);
    }
    for (const auto& contact : e->contacts) contacts_[{contact.account, contact.address}] = contact;
    emit contactsChanged();
  } else if (const auto* e = std::get_if<app::ContactChanged>(&event)) {
    contacts_[{e->contact.account, e->contact.address}] = e->contact;
    emit contactsChanged();
  } else if (const auto* e = std::get_if<app::ContactRemoved>(&event)) {
    contacts_.erase({e->account, e->address});
    resources_.erase({e->account, e->address});
    emit contactsChanged();
  } else if (const auto* e = std::get_if<app::PresenceChanged>(&event)) {
    auto& resources = resources_[{e->account, e->address}];
    if (e->availability == app::Availability::offline) {
      resources.erase(e->resource);
    } else {
      resources[e->resource] = Presence{e->availability, e->status};
    }
    emit contactsChanged();
  } else if (const auto* e = std::get_if<app::AuthorizationRequested>(&event)) {
    for (const auto& request : requests_) {
      if (request.account == e->account && request.address == e->address) return;
    }
    requests_.push_back(*e);
    emit requestsChanged();
  } else if (const auto* e = std::get_if<app::MessageReceived>(&event)) {
    if (e->outgoing || e->body.empty()) return;
    ++unread_[{e->account, e->peer}];
    emit unreadChanged();
  } else if (const auto* e = std::get_if<app::PrivacyChanged>(&event)) {
    privacy_[{e->account, e->peer}] = *e;
    emit privacyChanged(QString::fromStdString(e->account), QString::fromStdString(e->peer));
  } else if (const auto* e = std::get_if<app::CallChanged>(&event)) {
    if (e->call.state == app::CallState::ended) {
      calls_.erase(e->call.id);
      constexpr std::size_t kEndedKept = 32;
      ended_calls_.push_back(e->call);
      if (ended_calls_.size() > kEndedKept) ended_calls_.erase(ended_calls_.begin());
    } else {
      calls_[e->call.id] = e->call;
    }
    emit callChanged(QString::fromStdString(e->call.id));
  }
}

}  // namespace sotto::desktop
