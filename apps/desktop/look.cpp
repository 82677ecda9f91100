#include "look.h"

#include <QCoreApplication>
#include <QPainter>
#include <QPainterPath>
#include <QPixmap>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <set>

namespace sotto::desktop {
namespace {

QString tr(const char* text) { return QCoreApplication::translate("sotto", text); }

// A padlock, closed or open, in `color`, drawn at a few sizes so it stays crisp.
QIcon padlock(QColor color, bool closed, bool tick) {
  QIcon icon;
  for (int size : {16, 24, 32, 48}) {
    QPixmap pixmap(size, size);
    pixmap.fill(Qt::transparent);
    QPainter p(&pixmap);
    p.setRenderHint(QPainter::Antialiasing);
    const double s = size / 16.0;
    QPen pen(color, 1.6 * s);
    p.setPen(pen);
    p.setBrush(Qt::NoBrush);
    QPainterPath shackle;
    const double left = 4.5 * s;
    const double right = 11.5 * s;
    const double top = 1.5 * s;
    const double bottom = 7.5 * s;
    if (closed) {
      shackle.moveTo(left, bottom);
      shackle.lineTo(left, 5 * s);
      shackle.arcTo(left, top, right - left, 7 * s, 180, -180);
      shackle.lineTo(right, bottom);
    } else {
      shackle.moveTo(right, bottom);
      shackle.lineTo(right, 5 * s);
      shackle.arcTo(right, top, right - left, 7 * s, 180, -180);
    }
    p.drawPath(shackle);
    p.setPen(Qt::NoPen);
    p.setBrush(color);
    p.drawRoundedRect(QRectF(2.5 * s, 7 * s, 11 * s, 8 * s), 1.5 * s, 1.5 * s);
    if (tick) {
      QPen white(Qt::white, 1.6 * s);
      p.setPen(white);
      p.drawPolyline(
          QPolygonF({QPointF(5 * s, 11 * s), QPointF(7.2 * s, 13 * s), QPointF(11 * s, 9 * s)}));
    }
    p.end();
    icon.addPixmap(pixmap);
  }
  return icon;
}

QIcon dot(QColor color, bool ring = false) {
  QIcon icon;
  for (int size : {12, 16, 24}) {
    QPixmap pixmap(size, size);
    pixmap.fill(Qt::transparent);
    QPainter p(&pixmap);
    p.setRenderHint(QPainter::Antialiasing);
    const double r = size * 0.35;
    const QPointF c(size / 2.0, size / 2.0);
    if (ring) {
      p.setPen(QPen(color, size / 8.0));
      p.setBrush(Qt::NoBrush);
    } else {
      p.setPen(QPen(color.darker(130), 1));
      p.setBrush(color);
    }
    p.drawEllipse(c, r, r);
    p.end();
    icon.addPixmap(pixmap);
  }
  return icon;
}

}  // namespace

bool is_private(app::Privacy privacy) {
  return privacy == app::Privacy::unverified || privacy == app::Privacy::verified;
}

QIcon privacy_icon(app::Privacy privacy) {
  switch (privacy) {
    case app::Privacy::not_private:
      return padlock(QColor(150, 150, 150), false, false);
    case app::Privacy::unverified:
      return padlock(QColor(214, 137, 16), true, false);
    case app::Privacy::verified:
      return padlock(QColor(39, 150, 72), true, true);
    case app::Privacy::finished:
      return padlock(QColor(192, 57, 43), false, false);
  }
  return {};
}

QString privacy_text(app::Privacy privacy) {
  switch (privacy) {
    case app::Privacy::not_private:
      return tr("Not private");
    case app::Privacy::unverified:
      return tr("Private, unverified");
    case app::Privacy::verified:
      return tr("Private and verified");
    case app::Privacy::finished:
      return tr("Private conversation ended");
  }
  return {};
}

QString privacy_explanation(app::Privacy privacy) {
  switch (privacy) {
    case app::Privacy::not_private:
      return tr("Messages are not encrypted end to end: the server can read them.");
    case app::Privacy::unverified:
      return tr(
          "Messages are encrypted, but you have not yet made sure that the key belongs to "
          "your contact. Authenticate the contact to rule out an impostor.");
    case app::Privacy::verified:
      return tr("Messages are encrypted and you have verified your contact's key.");
    case app::Privacy::finished:
      return tr(
          "Your contact ended the private conversation. Nothing more is sent until you "
          "end it too or start it again.");
  }
  return {};
}

QIcon presence_icon(app::Availability availability) {
  switch (availability) {
    case app::Availability::available:
      return dot(QColor(46, 174, 82));
    case app::Availability::chat:
      return dot(QColor(46, 174, 82), true);
    case app::Availability::away:
      return dot(QColor(241, 180, 30));
    case app::Availability::xa:
      return dot(QColor(230, 126, 34));
    case app::Availability::dnd:
      return dot(QColor(211, 47, 47));
    case app::Availability::offline:
      return dot(QColor(170, 170, 170), true);
  }
  return {};
}

QString availability_text(app::Availability availability) {
  switch (availability) {
    case app::Availability::available:
      return tr("Available");
    case app::Availability::chat:
      return tr("Free for chat");
    case app::Availability::away:
      return tr("Away");
    case app::Availability::xa:
      return tr("Extended away");
    case app::Availability::dnd:
      return tr("Do not disturb");
    case app::Availability::offline:
      return tr("Offline");
  }
  return {};
}

QString account_state_text(app::AccountState state) {
  switch (state) {
    case app::AccountState::offline:
      return tr("Offline");
    case app::AccountState::connecting:
      return tr("Connecting…");
    case app::AccountState::online:
      return tr("Online");
    case app::AccountState::reconnecting:
      return tr("Connection lost, trying again…");
    case app::AccountState::failed:
      return tr("Could not connect");
  }
  return {};
}

QString account_state_text(app::AccountState state, const std::string& protocol) {
  if (protocol != "sip") return account_state_text(state);
  switch (state) {
    case app::AccountState::offline:
      return tr("Offline");
    case app::AccountState::connecting:
      return tr("Registering…");
    case app::AccountState::online:
      return tr("Registered");
    case app::AccountState::reconnecting:
      return tr("Registration lost, trying again…");
    case app::AccountState::failed:
      return tr("Could not register");
  }
  return {};
}

QString delivery_text(app::DeliveryState state) {
  switch (state) {
    case app::DeliveryState::queued:
      return tr("sending");
    case app::DeliveryState::sent:
      return tr("sent");
    case app::DeliveryState::delivered:
      return tr("delivered");
    case app::DeliveryState::failed:
      return tr("failed");
  }
  return {};
}

QString policy_text(app::OtrPolicy policy) {
  switch (policy) {
    case app::OtrPolicy::manual:
      return tr("Only when I start it");
    case app::OtrPolicy::opportunistic:
      return tr("Automatically, when the contact supports it");
    case app::OtrPolicy::always:
      return tr("Always try to start it");
    case app::OtrPolicy::require:
      return tr("Require it: never send unencrypted messages");
  }
  return {};
}

QIcon app_icon(int unread) {
  QIcon icon;
  for (int size : {16, 22, 24, 32, 48, 64, 128}) {
    QPixmap pixmap(size, size);
    pixmap.fill(Qt::transparent);
    QPainter p(&pixmap);
    p.setRenderHint(QPainter::Antialiasing);
    const double s = size / 32.0;
    // A speech bubble with a small padlock: a private conversation.
    p.setPen(Qt::NoPen);
    p.setBrush(QColor(44, 62, 80));
    p.drawRoundedRect(QRectF(1 * s, 3 * s, 30 * s, 21 * s), 6 * s, 6 * s);
    p.drawPolygon(
        QPolygonF({QPointF(7 * s, 22 * s), QPointF(7 * s, 30 * s), QPointF(15 * s, 22 * s)}));
    p.setBrush(QColor(46, 174, 82));
    p.drawRoundedRect(QRectF(11 * s, 12 * s, 10 * s, 8 * s), 1.5 * s, 1.5 * s);
    p.setPen(QPen(QColor(46, 174, 82), 2 * s));
    p.setBrush(Qt::NoBrush);
    p.drawArc(QRectF(12.5 * s, 6.5 * s, 7 * s, 9 * s), 0, 180 * 16);
    if (unread > 0) {
      const QString text = unread > 99 ? QStringLiteral("99+") : QString::number(unread);
      const QRectF badge(size * 0.45, 0, size * 0.55, size * 0.45);
      p.setPen(Qt::NoPen);
      p.setBrush(QColor(211, 47, 47));
      p.drawRoundedRect(badge, badge.height() / 2, badge.height() / 2);
      QFont font = p.font();
      font.setBold(true);
      font.setPixelSize(std::max(6, static_cast<int>(badge.height() * 0.75)));
      p.setFont(font);
      p.setPen(Qt::white);
      p.drawText(badge, Qt::AlignCenter, text);
    }
    p.end();
    icon.addPixmap(pixmap);
  }
  return icon;
}

FieldError::FieldError(QWidget* parent) : QLabel(parent) {
  QPalette red = palette();
  red.setColor(QPalette::WindowText, QColor(0xc0, 0x39, 0x2b));
  setPalette(red);
  setTextFormat(Qt::PlainText);  // errors quote names and servers' words
  setWordWrap(true);
  hide();
}

void FieldError::show_error(const QString& text) {
  setText(text);
  setVisible(!text.isEmpty());
}

QLabel* note(const QString& text, QWidget* parent) {
  auto* label = new QLabel(text, parent);
  label->setTextFormat(Qt::PlainText);
  label->setWordWrap(true);
  return label;
}

QLineEdit* password_field(const QString& name, QWidget* parent) {
  auto* field = new QLineEdit(parent);
  field->setObjectName(name);
  field->setEchoMode(QLineEdit::Password);
  return field;
}

FieldError* field_error(const QString& name, QWidget* parent) {
  auto* error = new FieldError(parent);
  error->setObjectName(name);
  return error;
}

QWidget* with_error(QWidget* field, FieldError* error, QWidget* parent) {
  auto* box = new QWidget(parent);
  auto* layout = new QVBoxLayout(box);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(2);
  layout->addWidget(field);
  layout->addWidget(error);
  return box;
}

std::optional<QString> address_problem(const QString& text) {
  const QString trimmed = text.trimmed();
  if (trimmed.isEmpty()) return tr("Enter an address, such as name@example.org.");
  if (!trimmed.contains(QLatin1Char('@'))) {
    return tr("An address has a name and a server, such as name@example.org.");
  }
  auto jid = Jid::parse(trimmed.toStdString());
  if (!jid)
    return tr("This is not a valid address: %1").arg(QString::fromStdString(jid.error().message));
  if (jid->local().empty()) return tr("The part before the @ is missing.");
  if (!jid->is_bare())
    return tr("Leave out the part after the slash (/%1).")
        .arg(QString::fromStdString(jid->resource()));
  return std::nullopt;
}

std::optional<QString> sip_address_problem(const QString& text) {
  QString address = text.trimmed();
  if (address.isEmpty()) return tr("Enter a SIP address, such as name@sip.example.org.");
  if (address.startsWith(QLatin1String("sips:"), Qt::CaseInsensitive)) {
    return tr(
        "Leave out \"sips:\". For a secure connection, choose TLS as the transport under "
        "Advanced.");
  }
  if (address.startsWith(QLatin1String("sip:"), Qt::CaseInsensitive)) address = address.mid(4);
  if (!address.contains(QLatin1Char('@'))) {
    return tr("A SIP address has a name and a domain, such as name@sip.example.org.");
  }
  if (address.count(QLatin1Char('@')) > 1) return tr("A SIP address has only one @.");
  const QString user = address.section(QLatin1Char('@'), 0, 0);
  const QString domain = address.section(QLatin1Char('@'), 1);
  if (user.isEmpty()) return tr("The name before the @ is missing.");
  if (domain.isEmpty()) return tr("The domain after the @ is missing.");
  // RFC 3261 §25.1: unreserved and user-unreserved characters (escapes and
  // the URI delimiters ';' '?' are left out of an address typed by hand).
  static const QString user_marks = QStringLiteral("-_.!~*'()&=+$,");
  for (QChar c : user) {
    if (c.isSpace()) return tr("The name before the @ cannot contain spaces.");
    const bool ascii_alnum = c.unicode() < 128 && c.isLetterOrNumber();
    if (!ascii_alnum && !user_marks.contains(c)) {
      return tr("The name before the @ cannot contain \"%1\".").arg(c);
    }
  }
  if (domain.contains(QLatin1Char(':'))) {
    return tr("Leave out the port (:%1); if your provider gave you one, enter it under Advanced.")
        .arg(domain.section(QLatin1Char(':'), 1));
  }
  bool host_ok = !domain.startsWith(QLatin1Char('.')) && !domain.endsWith(QLatin1Char('.')) &&
                 !domain.startsWith(QLatin1Char('-')) && !domain.contains(QLatin1String(".."));
  for (QChar c : domain) {
    const bool ascii_alnum = c.unicode() < 128 && c.isLetterOrNumber();
    if (!ascii_alnum && c != QLatin1Char('.') && c != QLatin1Char('-')) host_ok = false;
  }
  if (!host_ok) {
    return tr("\"%1\" is not a valid domain: use letters, digits, dots and hyphens, such as "
              "sip.example.org.")
        .arg(domain);
  }
  return std::nullopt;
}

QString normalized_sip_address(const QString& text) {
  QString address = text.trimmed();
  if (address.startsWith(QLatin1String("sip:"), Qt::CaseInsensitive)) address = address.mid(4);
  const qsizetype at = address.indexOf(QLatin1Char('@'));
  if (at < 0) return address;
  return address.left(at) + QLatin1Char('@') + address.mid(at + 1).toLower();
}

QString duration_text(std::chrono::seconds duration) {
  const long long total = std::max<long long>(0, duration.count());
  const long long hours = total / 3600;
  const long long minutes = (total / 60) % 60;
  const long long seconds = total % 60;
  const QChar zero(QLatin1Char('0'));
  if (hours > 0) {
    return QStringLiteral("%1:%2:%3")
        .arg(hours)
        .arg(minutes, 2, 10, zero)
        .arg(seconds, 2, 10, zero);
  }
  return QStringLiteral("%1:%2").arg(minutes, 2, 10, zero).arg(seconds, 2, 10, zero);
}

QString call_end_text(const app::CallInfo& call) {
  if (!call.end_reason)
    return call.end_text.empty() ? tr("ended") : QString::fromStdString(call.end_text);
  switch (*call.end_reason) {
    case app::CallEndReason::hung_up:
      return tr("you hung up");
    case app::CallEndReason::remote_hung_up:
      return tr("they hung up");
    case app::CallEndReason::cancelled:
      return call.outgoing ? tr("cancelled") : tr("missed call");
    case app::CallEndReason::busy:
      return tr("busy");
    case app::CallEndReason::declined:
      return tr("declined");
    case app::CallEndReason::no_answer:
      return tr("no answer");
    case app::CallEndReason::not_found:
      return tr("not found, or not reachable now");
    case app::CallEndReason::unacceptable:
      return tr("no audio format in common");
    case app::CallEndReason::failed:
      return call.end_text.empty() ? tr("failed") : QString::fromStdString(call.end_text);
  }
  return {};
}

QString call_state_text(const app::CallInfo& call, std::chrono::system_clock::time_point now) {
  switch (call.state) {
    case app::CallState::calling:
      return tr("Calling…");
    case app::CallState::ringing:
      return tr("Ringing…");
    case app::CallState::incoming:
      return tr("Incoming call…");
    case app::CallState::active: {
      if (call.on_hold && call.remote_hold) return tr("On hold (both of you)");
      if (call.on_hold) return tr("On hold");
      if (call.remote_hold) return tr("They put the call on hold");
      const auto since = call.connected.value_or(call.start);
      return tr("Connected %1")
          .arg(duration_text(std::chrono::duration_cast<std::chrono::seconds>(now - since)));
    }
    case app::CallState::ended:
      return tr("Call ended: %1").arg(call_end_text(call));
  }
  return {};
}

QIcon call_security_icon() { return padlock(QColor(192, 57, 43), false, false); }

int password_strength(const QString& password) {
  if (password.isEmpty()) return 0;
  std::set<int> classes;
  std::set<QChar> distinct;
  for (QChar c : password) {
    distinct.insert(c);
    classes.insert(c.isLower() ? 0 : c.isUpper() ? 1 : c.isDigit() ? 2 : c.isSpace() ? 3 : 4);
  }
  // Rough entropy: distinct characters' alphabet size to the length.
  const int alphabet = classes.count(0) * 26 + classes.count(1) * 26 + classes.count(2) * 10 +
                       classes.count(3) * 1 + classes.count(4) * 32;
  const double bits =
      std::min<double>(password.size(), distinct.size() * 2.0) * std::log2(std::max(alphabet, 2));
  if (bits < 28) return 0;
  if (bits < 40) return 1;
  if (bits < 60) return 2;
  if (bits < 80) return 3;
  return 4;
}

QString password_strength_text(int strength) {
  switch (strength) {
    case 0:
      return tr("Very weak");
    case 1:
      return tr("Weak");
    case 2:
      return tr("Fair");
    case 3:
      return tr("Strong");
    default:
      return tr("Very strong");
  }
}

}  // namespace sotto::desktop
