#include "sotto/store/keyring.h"

#include <dlfcn.h>
#include <libsecret/secret.h>
#include <sodium.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sotto::store::keyring {
namespace {

// Every GLib, GIO and libsecret function this file calls, as (member, symbol).
// Members drop the prefix because some GLib names are also function-like
// macros (g_object_ref).
#define SOTTO_KEYRING_FUNCTIONS(X)                                        \
  X(main_context_new, g_main_context_new)                                 \
  X(main_context_unref, g_main_context_unref)                             \
  X(main_context_push_thread_default, g_main_context_push_thread_default) \
  X(main_context_pop_thread_default, g_main_context_pop_thread_default)   \
  X(main_context_iteration, g_main_context_iteration)                     \
  X(timeout_source_new, g_timeout_source_new)                             \
  X(source_set_callback, g_source_set_callback)                           \
  X(source_attach, g_source_attach)                                       \
  X(source_destroy, g_source_destroy)                                     \
  X(source_unref, g_source_unref)                                         \
  X(hash_table_new, g_hash_table_new)                                     \
  X(hash_table_insert, g_hash_table_insert)                               \
  X(hash_table_unref, g_hash_table_unref)                                 \
  X(str_hash, g_str_hash)                                                 \
  X(str_equal, g_str_equal)                                               \
  X(list_free_full, g_list_free_full)                                     \
  X(error_free, g_error_free)                                             \
  X(object_ref, g_object_ref)                                             \
  X(object_unref, g_object_unref)                                         \
  X(cancellable_new, g_cancellable_new)                                   \
  X(cancellable_cancel, g_cancellable_cancel)                             \
  X(bus_get, g_bus_get)                                                   \
  X(bus_get_finish, g_bus_get_finish)                                     \
  X(connection_set_exit_on_close, g_dbus_connection_set_exit_on_close)    \
  X(service_get_type, secret_service_get_type)                            \
  X(service_open, secret_service_open)                                    \
  X(service_open_finish, secret_service_open_finish)                      \
  X(service_search, secret_service_search)                                \
  X(service_search_finish, secret_service_search_finish)                  \
  X(collection_for_alias, secret_collection_for_alias)                    \
  X(collection_for_alias_finish, secret_collection_for_alias_finish)      \
  X(collection_get_locked, secret_collection_get_locked)                  \
  X(item_create, secret_item_create)                                      \
  X(item_create_finish, secret_item_create_finish)                        \
  X(item_delete, secret_item_delete)                                      \
  X(item_delete_finish, secret_item_delete_finish)                        \
  X(item_get_locked, secret_item_get_locked)                              \
  X(item_get_secret, secret_item_get_secret)                              \
  X(value_new, secret_value_new)                                          \
  X(value_get, secret_value_get)                                          \
  X(value_unref, secret_value_unref)

struct Api {
#define SOTTO_DECLARE(member, symbol) decltype(&::symbol) member = nullptr;
  SOTTO_KEYRING_FUNCTIONS(SOTTO_DECLARE)
#undef SOTTO_DECLARE
};

// Loaded on first use, never unloaded (GLib cannot be); nullptr when
// libsecret is not installed.
const Api* api() {
  static const Api* const loaded = []() -> const Api* {
    void* handle = ::dlopen("libsecret-1.so.0", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) return nullptr;
    static Api table;
    bool complete = true;
#define SOTTO_LOAD(member, symbol)                                                   \
  table.member = reinterpret_cast<decltype(table.member)>(::dlsym(handle, #symbol)); \
  complete = complete && table.member != nullptr;
    SOTTO_KEYRING_FUNCTIONS(SOTTO_LOAD)
#undef SOTTO_LOAD
    return complete ? &table : nullptr;
  }();
  return loaded;
}

#undef SOTTO_KEYRING_FUNCTIONS

std::mutex& keyring_mutex() {
  static std::mutex mutex;
  return mutex;
}

struct ObjectUnref {
  void operator()(void* object) const {
    if (object != nullptr) api()->object_unref(object);
  }
};
template <class T>
using Object = std::unique_ptr<T, ObjectUnref>;

Unexpected unavailable(std::string why) { return fail(Errc::not_supported, std::move(why)); }

// One keyring operation: a private main context, pushed as this thread's
// default so that every callback runs here, and a deadline that cancels
// whatever is still pending.
class Session {
 public:
  explicit Session(const Api& g)
      : g_(g), context_(g.main_context_new()), cancellable_(g.cancellable_new()) {
    g_.main_context_push_thread_default(context_);
    deadline_ = g_.timeout_source_new(static_cast<guint>(kKeyringDeadline.count()));
    g_.source_set_callback(deadline_, &Session::on_deadline, this, nullptr);
    g_.source_attach(deadline_, context_);
  }
  ~Session() {
    g_.source_destroy(deadline_);
    g_.source_unref(deadline_);
    while (g_.main_context_iteration(context_, FALSE)) {
    }
    g_.main_context_pop_thread_default(context_);
    g_.main_context_unref(context_);
    g_.object_unref(cancellable_);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Calls start(cancellable, callback, data) and runs the context until the
  // callback has fired (with a cancellation error past the deadline).
  template <class Start>
  Object<GAsyncResult> run(Start&& start) {
    GAsyncResult* result = nullptr;
    start(cancellable_, &Session::on_ready, &result);
    while (result == nullptr) g_.main_context_iteration(context_, TRUE);
    return Object<GAsyncResult>(result);
  }

  // Takes `error` (may be null) and words it for a person.
  std::string reason(GError* error) const {
    std::string text = timed_out_ ? "the desktop keyring did not answer within " +
                                        std::to_string(kKeyringDeadline.count()) + " ms"
                       : error != nullptr ? std::string(error->message)
                                          : std::string("unknown error");
    if (error != nullptr) g_.error_free(error);
    return text;
  }

 private:
  static void on_ready(GObject*, GAsyncResult* result, gpointer data) {
    *static_cast<GAsyncResult**>(data) = static_cast<GAsyncResult*>(api()->object_ref(result));
  }
  static gboolean on_deadline(gpointer self) {
    auto* session = static_cast<Session*>(self);
    session->timed_out_ = true;
    session->g_.cancellable_cancel(session->cancellable_);
    return G_SOURCE_REMOVE;
  }

  const Api& g_;
  GMainContext* context_;
  GCancellable* cancellable_;
  GSource* deadline_ = nullptr;
  bool timed_out_ = false;
};

const SecretSchema& schema() {
  static const SecretSchema value = [] {
    SecretSchema s{};
    s.name = "sotto.ProfileKey";
    s.flags = SECRET_SCHEMA_NONE;
    s.attributes[0] = {"application", SECRET_SCHEMA_ATTRIBUTE_STRING};
    s.attributes[1] = {"vault", SECRET_SCHEMA_ATTRIBUTE_STRING};
    return s;
  }();
  return value;
}

// The attributes that name one item; `id_hex` must outlive the table.
class Attributes {
 public:
  Attributes(const Api& g, const std::string& id_hex)
      : g_(g), table_(g.hash_table_new(g.str_hash, g.str_equal)) {
    g_.hash_table_insert(table_, const_cast<char*>("application"), const_cast<char*>("sotto"));
    g_.hash_table_insert(table_, const_cast<char*>("vault"), const_cast<char*>(id_hex.c_str()));
  }
  ~Attributes() { g_.hash_table_unref(table_); }
  Attributes(const Attributes&) = delete;
  Attributes& operator=(const Attributes&) = delete;
  GHashTable* get() const { return table_; }

 private:
  const Api& g_;
  GHashTable* table_;
};

std::string to_hex(const VaultId& id) {
  char hex[kVaultIdBytes * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, id.data(), id.size());
  return hex;
}

// libsecret, if a keyring could answer at all. Without a session bus address
// GIO would try to autolaunch a bus; we never do.
Result<const Api*> load() {
  const char* address = std::getenv("DBUS_SESSION_BUS_ADDRESS");
  if (address == nullptr || *address == '\0')
    return unavailable("there is no desktop session bus (DBUS_SESSION_BUS_ADDRESS is not set)");
  const Api* g = api();
  if (g == nullptr) return unavailable("libsecret-1.so.0 is not installed");
  return g;
}

// The Secret Service on the session bus, with a session for moving secrets.
Result<Object<SecretService>> open_service(const Api& g, Session& session) {
  auto bus_result = session.run([&](GCancellable* c, GAsyncReadyCallback cb, gpointer data) {
    g.bus_get(G_BUS_TYPE_SESSION, c, cb, data);
  });
  GError* error = nullptr;
  Object<GDBusConnection> bus(g.bus_get_finish(bus_result.get(), &error));
  if (!bus) return unavailable("could not reach the session bus: " + session.reason(error));
  // GLib's shared connection raises SIGTERM in this process when the bus goes
  // away; losing the keyring must not end the program.
  g.connection_set_exit_on_close(bus.get(), FALSE);
  auto service_result = session.run([&](GCancellable* c, GAsyncReadyCallback cb, gpointer data) {
    g.service_open(g.service_get_type(), nullptr, SECRET_SERVICE_OPEN_SESSION, c, cb, data);
  });
  Object<SecretService> service(g.service_open_finish(service_result.get(), &error));
  if (!service) return unavailable("no desktop keyring answers: " + session.reason(error));
  return service;
}

Result<std::vector<Object<SecretItem>>> search(const Api& g, Session& session,
                                               SecretService* service, const VaultId& id,
                                               bool load_secrets) {
  const std::string id_hex = to_hex(id);
  Attributes attributes(g, id_hex);
  const auto flags = static_cast<SecretSearchFlags>(
      SECRET_SEARCH_ALL | (load_secrets ? SECRET_SEARCH_LOAD_SECRETS : 0));
  auto result = session.run([&](GCancellable* c, GAsyncReadyCallback cb, gpointer data) {
    g.service_search(service, &schema(), attributes.get(), flags, c, cb, data);
  });
  GError* error = nullptr;
  GList* list = g.service_search_finish(service, result.get(), &error);
  if (error != nullptr) return unavailable("the desktop keyring failed: " + session.reason(error));
  std::vector<Object<SecretItem>> items;
  for (GList* node = list; node != nullptr; node = node->next)
    items.emplace_back(static_cast<SecretItem*>(g.object_ref(node->data)));
  g.list_free_full(list, g.object_unref);
  return items;
}

}  // namespace

std::string item_label(std::string_view profile_name) {
  return "Sotto profile key (" + std::string(profile_name) + ")";
}

// Runs body(g, session, service) under the keyring mutex, with libsecret
// loaded and the Secret Service open.
template <class Body>
Result<void> with_service(Body body) {
  std::lock_guard lock(keyring_mutex());
  auto loaded = load();
  if (!loaded) return tl::unexpected(loaded.error());
  const Api* g = *loaded;
  Session session(*g);
  auto service = open_service(*g, session);
  if (!service) return tl::unexpected(service.error());
  return body(g, session, service->get());
}

Result<void> store(const VaultId& id, std::string_view label,
                   std::span<const unsigned char, kDataKeyBytes> key) {
  return with_service([&](const Api* g, Session& session, SecretService* service) -> Result<void> {
    auto collection_result =
        session.run([&](GCancellable* c, GAsyncReadyCallback cb, gpointer data) {
          g->collection_for_alias(service, SECRET_COLLECTION_DEFAULT, SECRET_COLLECTION_NONE, c, cb,
                                  data);
        });
    GError* error = nullptr;
    Object<SecretCollection> collection(
        g->collection_for_alias_finish(collection_result.get(), &error));
    if (error != nullptr)
      return unavailable("the desktop keyring failed: " + session.reason(error));
    if (!collection) return unavailable("the desktop keyring has no default collection");
    // Creating an item in a locked collection would pop up an unlock prompt.
    if (g->collection_get_locked(collection.get()))
      return unavailable("the desktop keyring is locked");

    constexpr std::size_t kHexBytes = kDataKeyBytes * 2;
    auto* hex = static_cast<char*>(sodium_malloc(kHexBytes + 1));
    if (hex == nullptr) return fail(Errc::io, "out of secure memory");
    sodium_bin2hex(hex, kHexBytes + 1, key.data(), key.size());
    // libsecret copies the secret into its own wiped memory.
    SecretValue* value = g->value_new(hex, static_cast<gssize>(kHexBytes), "text/plain");
    sodium_free(hex);

    const std::string id_hex = to_hex(id);
    Attributes attributes(*g, id_hex);
    const std::string label_text(label);
    auto item_result = session.run([&](GCancellable* c, GAsyncReadyCallback cb, gpointer data) {
      g->item_create(collection.get(), &schema(), attributes.get(), label_text.c_str(), value,
                     SECRET_ITEM_CREATE_NONE, c, cb, data);
    });
    g->value_unref(value);
    Object<SecretItem> item(g->item_create_finish(item_result.get(), &error));
    if (!item)
      return fail(Errc::io,
                  "the desktop keyring did not store the profile's key: " + session.reason(error));
    return {};
  });
}

Result<void> lookup(const VaultId& id, std::span<unsigned char, kDataKeyBytes> key_out) {
  return with_service([&](const Api* g, Session& session, SecretService* service) -> Result<void> {
    auto items = search(*g, session, service, id, true);
    if (!items) return tl::unexpected(items.error());
    if (items->empty()) return fail(Errc::not_found, "the desktop keyring has no such item");
    bool locked = false;
    for (const auto& item : *items) {
      if (g->item_get_locked(item.get())) {
        locked = true;
        continue;
      }
      SecretValue* value = g->item_get_secret(item.get());
      if (value == nullptr) continue;
      gsize length = 0;
      const gchar* hex = g->value_get(value, &length);
      std::size_t bin_length = 0;
      const bool parsed = length == kDataKeyBytes * 2 &&
                          sodium_hex2bin(key_out.data(), key_out.size(), hex, length, nullptr,
                                         &bin_length, nullptr) == 0 &&
                          bin_length == kDataKeyBytes;
      // Wipes libsecret's copy (egg secure memory).
      g->value_unref(value);
      if (parsed) return {};
      sodium_memzero(key_out.data(), key_out.size());
    }
    if (locked) return unavailable("the desktop keyring is locked");
    return fail(Errc::io, "the desktop keyring's copy of the profile's key is damaged");
  });
}

Result<void> erase(const VaultId& id) {
  return with_service([&](const Api* g, Session& session, SecretService* service) -> Result<void> {
    auto items = search(*g, session, service, id, false);
    if (!items) return tl::unexpected(items.error());
    for (const auto& item : *items) {
      if (g->item_get_locked(item.get())) return unavailable("the desktop keyring is locked");
      auto result = session.run([&](GCancellable* c, GAsyncReadyCallback cb, gpointer data) {
        g->item_delete(item.get(), c, cb, data);
      });
      GError* error = nullptr;
      if (!g->item_delete_finish(item.get(), result.get(), &error))
        return unavailable("the desktop keyring did not delete the item: " + session.reason(error));
    }
    return {};
  });
}

}  // namespace sotto::store::keyring
