// Icons and words shared by every window: padlocks, presence dots, the app
// icon with its unread badge, and what each state is called. Icons are
// painted, so the app needs no icon theme and no image files.
#pragma once

#include <QIcon>
#include <QLabel>
#include <QLineEdit>
#include <QString>

#include <chrono>
#include <optional>
#include <string>

#include "sotto/app/app.h"

namespace sotto::desktop {

// Encrypted (unverified or verified).
bool is_private(app::Privacy privacy);
QIcon privacy_icon(app::Privacy privacy);
QString privacy_text(app::Privacy privacy);         // "Not private", "Private, unverified", ...
QString privacy_explanation(app::Privacy privacy);  // one sentence for a tooltip

QIcon presence_icon(app::Availability availability);
QString availability_text(app::Availability availability);
QString account_state_text(app::AccountState state);
// The same for an account of `protocol`: a SIP account is "Registered",
// "Registering…", "Could not register".
QString account_state_text(app::AccountState state, const std::string& protocol);
QString delivery_text(app::DeliveryState state);  // "sending", "sent", "delivered", "failed"
QString policy_text(app::OtrPolicy policy);

// Sotto's icon; with a count above zero, a red badge carrying it.
QIcon app_icon(int unread = 0);

// An error message for a form field: red, hidden until there is something
// to say, meant to sit right under (or beside) the field it is about.
class FieldError : public QLabel {
  Q_OBJECT
 public:
  explicit FieldError(QWidget* parent = nullptr);
  void show_error(const QString& text);  // empty: hide
};

// Small pieces every form uses: a paragraph of plain explanatory text; a
// password field; a FieldError; a field with its error right under it.
QLabel* note(const QString& text, QWidget* parent);
QLineEdit* password_field(const QString& name, QWidget* parent);
FieldError* field_error(const QString& name, QWidget* parent);
QWidget* with_error(QWidget* field, FieldError* error, QWidget* parent);

// nullopt when `text` is a usable bare XMPP address (user@domain), else why
// not, in words.
std::optional<QString> address_problem(const QString& text);

// nullopt when `text` is a usable SIP address of record (user@domain, a
// leading "sip:" allowed), else why not, in words.
std::optional<QString> sip_address_problem(const QString& text);
// "sip:Alice@Example.org " as accounts and calls use it: "Alice@example.org"
// (the user part of a SIP address is case-sensitive, the domain is not).
QString normalized_sip_address(const QString& text);

// Calls: what a call is doing, for people ("Ringing…", "Connected 00:12",
// "On hold", "Call ended: busy"), at `now`.
QString call_state_text(const app::CallInfo& call, std::chrono::system_clock::time_point now);
// Why a call ended ("busy", "declined", "no answer", ...).
QString call_end_text(const app::CallInfo& call);
// 0:07, 12:34, 1:02:03.
QString duration_text(std::chrono::seconds duration);
// An open (red) padlock: a call that is not encrypted.
QIcon call_security_icon();

// 0..4 for a password's strength (for the meter), with a word for it.
int password_strength(const QString& password);
QString password_strength_text(int strength);

}  // namespace sotto::desktop
