// The question asked when a server's certificate is not trusted: its SHA-256
// fingerprint, why it was refused, and "Trust this certificate" / "Cancel".
#pragma once

#include <QString>

class QWidget;

namespace sotto::desktop {

// A modal dialog (object name "certificateDialog"; buttons "trust" and
// "cancel", Cancel the default; the fingerprint in the selectable label
// "fingerprint" as colon-separated upper-case pairs). `fingerprint_hex` in
// any common spelling; `why` is the error message. True when the user trusts
// the certificate; pinning it is then up to the caller.
bool ask_to_trust_certificate(QWidget* parent, const QString& account, const QString& server,
                              const QString& fingerprint_hex, const QString& why);

}  // namespace sotto::desktop
