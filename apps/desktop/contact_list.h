// The contact list: groups, contacts with presence, unread counts and
// "waiting for authorization", filtered by a search box. Rebuilt from State
// at most once per turn of the event loop, so a burst of presences at login
// costs one rebuild.
#pragma once

#include <QSortFilterProxyModel>
#include <QStandardItemModel>
#include <QTimer>
#include <QTreeView>

#include <set>
#include <string>

#include "state.h"

namespace sotto::desktop {

class ContactList : public QTreeView {
  Q_OBJECT

 public:
  // Item data roles.
  static constexpr int kAccountRole = Qt::UserRole + 1;
  static constexpr int kAddressRole = Qt::UserRole + 2;
  static constexpr int kGroupRole = Qt::UserRole + 3;
  static constexpr int kFilterRole = Qt::UserRole + 4;  // what the filter box searches

  explicit ContactList(desktop::State& state, QWidget* parent = nullptr);

  void set_filter(const QString& text);
  // Shown although no contact is in it yet (File > Create group).
  void add_empty_group(const QString& name);
  std::set<QString> group_names() const;
  // The selected contact (account, address), or empty strings.
  std::pair<std::string, std::string> selected_contact() const;
  // How many contacts are listed after filtering (tests).
  int visible_contacts() const;
  // Rebuilds now instead of at the next turn of the loop (tests).
  void rebuild_now();

 Q_SIGNALS:
  void contactActivated(const QString& account, const QString& address);

 protected:
  void keyPressEvent(QKeyEvent* event) override;

 private:
  void schedule_rebuild();
  void rebuild();

  desktop::State& state_;
  QStandardItemModel model_;
  QSortFilterProxyModel proxy_;
  QTimer rebuild_timer_;
  std::set<QString> empty_groups_;
  std::set<QString> collapsed_;
};

}  // namespace sotto::desktop
