#include "contact_list.h"

#include <QHeaderView>
#include <QKeyEvent>

#include <algorithm>
#include <map>
#include <vector>

#include "look.h"

namespace sotto::desktop {
namespace {

int order(app::Availability availability) {
  switch (availability) {
    case app::Availability::chat:
    case app::Availability::available:
      return 0;
    case app::Availability::away:
    case app::Availability::dnd:
    case app::Availability::xa:
      return 1;
    case app::Availability::offline:
      return 2;
  }
  return 2;
}

}  // namespace

ContactList::ContactList(desktop::State& state, QWidget* parent)
    : QTreeView(parent), state_(state) {
  setObjectName(QStringLiteral("contacts"));
  proxy_.setSourceModel(&model_);
  proxy_.setRecursiveFilteringEnabled(true);
  proxy_.setFilterCaseSensitivity(Qt::CaseInsensitive);
  proxy_.setFilterRole(kFilterRole);  // name, address, group and status
  setModel(&proxy_);
  setHeaderHidden(true);
  setRootIsDecorated(true);
  setUniformRowHeights(true);
  setEditTriggers(QAbstractItemView::NoEditTriggers);
  setSelectionMode(QAbstractItemView::SingleSelection);
  setAccessibleName(tr("Contacts"));
  rebuild_timer_.setSingleShot(true);
  rebuild_timer_.setInterval(0);
  connect(&rebuild_timer_, &QTimer::timeout, this, &ContactList::rebuild);
  connect(&state_, &desktop::State::contactsChanged, this, &ContactList::schedule_rebuild);
  connect(&state_, &desktop::State::unreadChanged, this, &ContactList::schedule_rebuild);
  connect(&state_, &desktop::State::accountsChanged, this, &ContactList::schedule_rebuild);
  connect(this, &QTreeView::collapsed, this, [this](const QModelIndex& index) {
    collapsed_.insert(index.data(kGroupRole).toString());
  });
  connect(this, &QTreeView::expanded, this, [this](const QModelIndex& index) {
    collapsed_.erase(index.data(kGroupRole).toString());
  });
  connect(this, &QTreeView::activated, this, [this](const QModelIndex& index) {
    const QString address = index.data(kAddressRole).toString();
    if (!address.isEmpty()) Q_EMIT contactActivated(index.data(kAccountRole).toString(), address);
  });
  rebuild();
}

void ContactList::set_filter(const QString& text) {
  proxy_.setFilterFixedString(text.trimmed());
  if (!text.trimmed().isEmpty()) expandAll();
}

void ContactList::add_empty_group(const QString& name) {
  empty_groups_.insert(name);
  rebuild_now();
}

std::set<QString> ContactList::group_names() const {
  std::set<QString> names(empty_groups_.begin(), empty_groups_.end());
  for (const auto& group : state_.groups()) names.insert(QString::fromStdString(group));
  return names;
}

std::pair<std::string, std::string> ContactList::selected_contact() const {
  const QModelIndex index = currentIndex();
  if (!index.isValid() || index.data(kAddressRole).toString().isEmpty()) return {};
  return {index.data(kAccountRole).toString().toStdString(),
          index.data(kAddressRole).toString().toStdString()};
}

int ContactList::visible_contacts() const {
  int count = 0;
  for (int g = 0; g < proxy_.rowCount(); ++g) count += proxy_.rowCount(proxy_.index(g, 0));
  return count;
}

void ContactList::rebuild_now() {
  rebuild_timer_.stop();
  rebuild();
}

void ContactList::schedule_rebuild() {
  if (!rebuild_timer_.isActive()) rebuild_timer_.start();
}

void ContactList::keyPressEvent(QKeyEvent* event) {
  if (event->key() == Qt::Key_Return || event->key() == Qt::Key_Enter) {
    const QModelIndex index = currentIndex();
    if (index.isValid() && !index.data(kAddressRole).toString().isEmpty()) {
      Q_EMIT contactActivated(index.data(kAccountRole).toString(),
                              index.data(kAddressRole).toString());
      return;
    }
  }
  QTreeView::keyPressEvent(event);
}

void ContactList::rebuild() {
  const auto selected = selected_contact();
  const bool several_accounts = state_.accounts().size() > 1;
  const QString ungrouped = tr("Contacts");

  struct Row {
    app::Contact contact;
    Presence presence;
    int unread;
    QString name;
  };
  std::map<QString, std::vector<Row>> groups;
  for (const QString& name : empty_groups_) groups[name];
  for (auto& contact : state_.contacts()) {
    Row row{contact, state_.presence(contact.account, contact.address),
            state_.unread(contact.account, contact.address),
            state_.display_name(contact.account, contact.address)};
    if (contact.groups.empty()) {
      groups[ungrouped].push_back(row);
    } else {
      for (const auto& group : contact.groups) groups[QString::fromStdString(group)].push_back(row);
    }
  }

  model_.clear();
  QModelIndex select;
  for (auto& [group, rows] : groups) {
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
      const int oa = order(a.presence.availability);
      const int ob = order(b.presence.availability);
      if (oa != ob) return oa < ob;
      return a.name.localeAwareCompare(b.name) < 0;
    });
    const int online = static_cast<int>(std::count_if(rows.begin(), rows.end(), [](const Row& r) {
      return r.presence.availability != app::Availability::offline;
    }));
    auto* group_item = new QStandardItem(
        tr("%1 (%2/%3)").arg(group).arg(online).arg(static_cast<int>(rows.size())));
    group_item->setData(group, kGroupRole);
    group_item->setToolTip(QStringLiteral("<qt>%1</qt>").arg(group.toHtmlEscaped()));
    group_item->setData(group, kFilterRole);
    QFont bold = group_item->font();
    bold.setBold(true);
    group_item->setFont(bold);
    group_item->setSelectable(false);
    for (const Row& row : rows) {
      const app::Contact& c = row.contact;
      QString text = row.name;
      if (row.unread > 0) text += QStringLiteral(" (%1)").arg(row.unread);
      if (c.waiting_for_authorization) text += tr(" — waiting for authorization");
      auto* item = new QStandardItem(presence_icon(row.presence.availability), text);
      item->setData(QString::fromStdString(c.account), kAccountRole);
      item->setData(QString::fromStdString(c.address), kAddressRole);
      item->setData(group, kGroupRole);
      QStringList tip{row.name, QString::fromStdString(c.address)};
      tip << availability_text(row.presence.availability);
      if (!row.presence.status.empty()) tip << QString::fromStdString(row.presence.status);
      if (c.waiting_for_authorization) {
        tip << tr("Waiting for authorization: this contact has not yet accepted your request.");
      } else if (c.subscription == "none" || c.subscription == "from") {
        tip << tr("You do not see this contact's presence.");
      }
      if (several_accounts) tip << tr("Account: %1").arg(QString::fromStdString(c.account));
      tip << group;
      // Forced rich text with every line escaped: a tooltip guesses the
      // format, and names and statuses are the contacts' to choose.
      item->setData(tip.join(QLatin1Char('\n')), kFilterRole);
      QStringList escaped;
      for (const QString& line : tip) escaped << line.toHtmlEscaped();
      item->setToolTip(QStringLiteral("<qt>%1</qt>").arg(escaped.join(QStringLiteral("<br>"))));
      QFont font = item->font();
      if (row.unread > 0) font.setBold(true);
      if (c.waiting_for_authorization) font.setItalic(true);
      item->setFont(font);
      if (row.presence.availability == app::Availability::offline) {
        item->setForeground(palette().brush(QPalette::Disabled, QPalette::Text));
      }
      group_item->appendRow(item);
    }
    model_.appendRow(group_item);
  }
  for (int g = 0; g < proxy_.rowCount(); ++g) {
    const QModelIndex group = proxy_.index(g, 0);
    setExpanded(group, !collapsed_.count(group.data(kGroupRole).toString()) ||
                           !proxy_.filterRegularExpression().pattern().isEmpty());
    for (int r = 0; r < proxy_.rowCount(group); ++r) {
      const QModelIndex index = proxy_.index(r, 0, group);
      if (!selected.second.empty() &&
          index.data(kAccountRole).toString().toStdString() == selected.first &&
          index.data(kAddressRole).toString().toStdString() == selected.second &&
          !select.isValid()) {
        select = index;
      }
    }
  }
  if (select.isValid()) setCurrentIndex(select);
}

}  // namespace sotto::desktop
