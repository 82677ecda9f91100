#include "certificate_dialog.h"

#include <QCoreApplication>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QStyle>
#include <QVBoxLayout>

#include <algorithm>

#include "sotto/base/base.h"

namespace sotto::desktop {
namespace {

QString tr(const char* text) {
  return QCoreApplication::translate("sotto::desktop::CertificateDialog", text);
}

// "AB:CD:…" whatever spelling came in; as given when it is not hex.
QString formatted(const QString& fingerprint) {
  auto normalized = normalize_fingerprint(fingerprint.toStdString());
  if (!normalized) return fingerprint.trimmed();
  return QString::fromStdString(format_fingerprint(*normalized));
}

// The engine's message as a sentence.
QString sentence(const QString& text) {
  QString out = text.trimmed();
  if (out.isEmpty()) return out;
  if (out.at(0).isLower() && !out.section(QLatin1Char(' '), 0, 0).contains(QLatin1Char('.'))) {
    out[0] = out.at(0).toUpper();
  }
  if (!out.endsWith(QLatin1Char('.'))) out += QLatin1Char('.');
  return out;
}

QLabel* paragraph(const QString& text, QWidget* parent) {
  auto* label = new QLabel(text, parent);
  label->setTextFormat(Qt::PlainText);
  label->setWordWrap(true);
  return label;
}

}  // namespace

bool ask_to_trust_certificate(QWidget* parent, const QString& account, const QString& server,
                              const QString& fingerprint_hex, const QString& why) {
  QDialog dialog(parent);
  dialog.setObjectName(QStringLiteral("certificateDialog"));
  dialog.setWindowTitle(tr("Untrusted certificate"));
  auto* layout = new QVBoxLayout(&dialog);

  auto* top = new QHBoxLayout;
  auto* icon = new QLabel(&dialog);
  const int size = dialog.style()->pixelMetric(QStyle::PM_MessageBoxIconSize);
  icon->setPixmap(dialog.style()->standardIcon(QStyle::SP_MessageBoxWarning).pixmap(size, size));
  icon->setAlignment(Qt::AlignTop);
  top->addWidget(icon);
  auto* heading = new QLabel(tr("The server's certificate is not trusted"), &dialog);
  heading->setObjectName(QStringLiteral("heading"));
  QFont bold = heading->font();
  bold.setBold(true);
  bold.setPointSizeF(bold.pointSizeF() * 1.2);
  heading->setFont(bold);
  heading->setWordWrap(true);
  top->addWidget(heading, 1);
  layout->addLayout(top);

  layout->addWidget(paragraph(
      tr("Sotto could not confirm that it is really talking to %1, the server of your account "
         "%2, and did not connect.")
          .arg(server, account),
      &dialog));
  if (!why.trimmed().isEmpty()) {
    auto* reason = paragraph(sentence(why), &dialog);
    reason->setObjectName(QStringLiteral("why"));
    reason->setTextFormat(Qt::PlainText);
    reason->setContentsMargins(12, 0, 0, 0);
    layout->addWidget(reason);
  }

  layout->addWidget(new QLabel(tr("The certificate's SHA-256 fingerprint:"), &dialog));
  auto* fingerprint = new QLabel(formatted(fingerprint_hex), &dialog);
  fingerprint->setObjectName(QStringLiteral("fingerprint"));
  fingerprint->setTextFormat(Qt::PlainText);
  fingerprint->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  fingerprint->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
  fingerprint->setFocusPolicy(Qt::StrongFocus);
  fingerprint->setFrameShape(QFrame::StyledPanel);
  fingerprint->setMargin(6);
  layout->addWidget(fingerprint);

  layout->addWidget(paragraph(
      tr("Compare it, character by character, with a fingerprint you obtained another way: from "
         "the server's administrator in person, by phone, or from a page you trust. Trust the "
         "certificate only if they match. If you cannot check it, cancel: someone may be "
         "listening in on the connection."),
      &dialog));
  layout->addWidget(paragraph(tr("If you trust it, Sotto accepts exactly this certificate for "
                                 "this account from now on, and refuses any other."),
                              &dialog));

  auto* buttons = new QDialogButtonBox(&dialog);
  QPushButton* trust =
      buttons->addButton(tr("&Trust this certificate"), QDialogButtonBox::AcceptRole);
  trust->setObjectName(QStringLiteral("trust"));
  trust->setAutoDefault(false);
  trust->setDefault(false);
  QPushButton* cancel = buttons->addButton(QDialogButtonBox::Cancel);
  cancel->setObjectName(QStringLiteral("cancel"));
  cancel->setText(tr("Cancel"));
  cancel->setAutoDefault(true);
  cancel->setDefault(true);
  QObject::connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  QObject::connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  layout->addWidget(buttons);

  cancel->setFocus();
  dialog.setMinimumWidth(
      std::max(520, fingerprint->fontMetrics().horizontalAdvance(fingerprint->text()) + 60));
  return dialog.exec() == QDialog::Accepted;
}

}  // namespace sotto::desktop
