// Icons and words shared by every window: padlocks, presence dots, the app
// icon with its unread badge, and what each state is called. Icons are
// painted, so the app needs no icon theme and no image files.
#pragma once

#include <QIcon>
#include <QLabel>
#include <QLineEdit>
#include <QString>

#include <optional>

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

// 0..4 for a password's strength (for the meter), with a word for it.
int password_strength(const QString& password);
QString password_strength_text(int strength);

}  // namespace sotto::desktop
