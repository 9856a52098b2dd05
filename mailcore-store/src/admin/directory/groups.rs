//! Mail groups (members, departments, external addresses, representatives) and business
//! mailboxes.

use super::*;

/// The account ids of the users of a business mailbox.
pub async fn shared_mailbox_users(
    store: &dyn Backend,
    mailbox: &Account,
) -> crate::error::Result<Vec<i64>> {
    Ok(store
        .get_record(MEMBER_KIND, &account_key(mailbox.id))
        .await?
        .and_then(|r| serde_json::from_value::<MemberProfile>(r.value).ok())
        .map(|p| p.shared_users)
        .unwrap_or_default())
}

/// Expands the departments of a group to their members' addresses (sub-departments
/// included), for delivery.
pub async fn group_department_members(
    store: &dyn Backend,
    group: &Group,
) -> crate::error::Result<Vec<EmailAddress>> {
    let key = address_key(&group.address);
    let Some(rec) = store.get_record(GROUP_EXT_KIND, &key).await? else {
        return Ok(Vec::new());
    };
    let departments: Vec<DepartmentId> = rec
        .value
        .get("departments")
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .unwrap_or_default();
    if departments.is_empty() {
        return Ok(Vec::new());
    }
    let all: Vec<Department> = store
        .list_records(DEPARTMENT_KIND, Some(group.org))
        .await?
        .into_iter()
        .filter_map(|r| serde_json::from_value(r.value).ok())
        .collect();
    let wanted = descendants(&all, &departments);
    let profiles: HashMap<i64, MemberProfile> = store
        .list_records(MEMBER_KIND, Some(group.org))
        .await?
        .into_iter()
        .filter_map(|r| serde_json::from_value::<MemberProfile>(r.value).ok())
        .map(|p| (p.account, p))
        .collect();
    let mut out = Vec::new();
    for account in store.list_accounts(Some(group.org)).await? {
        if profiles
            .get(&account.id.0)
            .is_some_and(|p| p.departments.iter().any(|d| wanted.contains(d)))
        {
            out.push(account.address);
        }
    }
    Ok(out)
}

impl Admin {
    // ---------------------------------------------------------------------------------------
    // Groups

    /// Creates a group of member addresses, external addresses and departments.
    pub async fn create_group(&self, caller: &Caller, spec: GroupSpec) -> AdminResult<GroupInfo> {
        let address = parse_address(&spec.address)?;
        let org = self.domain_org(caller, address.domain()).await?;
        caller.require(org, Right::Groups)?;
        let (group, departments) = self.build_group(org, address, &spec).await?;
        self.store.create_group(&group).await?;
        self.put_group_departments(org, &group, &departments)
            .await?;
        let info = group_info(&group, departments);
        self.op_log(
            caller,
            org,
            "group.create",
            &info.address,
            None,
            Some(crate::admin::encode(&info)?),
        )
        .await?;
        Ok(info)
    }

    async fn build_group(
        &self,
        org: OrgId,
        address: EmailAddress,
        spec: &GroupSpec,
    ) -> AdminResult<(Group, Vec<DepartmentId>)> {
        let members = spec
            .members
            .iter()
            .map(|m| parse_address(m))
            .collect::<AdminResult<Vec<_>>>()?;
        let mut representatives = Vec::new();
        for r in &spec.representatives {
            let r = parse_address(r)?;
            match self.store.resolve(&r).await? {
                Resolved::Account(a) | Resolved::Alias(a) if a.org == org => {
                    representatives.push(a.address)
                }
                _ => return Err(AdminError::not_found(format!("representative account {r}"))),
            }
        }
        self.check_departments(org, &spec.departments).await?;
        let departments: Vec<DepartmentId> = spec
            .departments
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok((
            Group {
                address,
                org,
                name: clean(spec.name.clone()),
                members,
                representatives,
            },
            departments,
        ))
    }

    /// Replaces a group's name, members, departments and representatives.
    pub async fn update_group(&self, caller: &Caller, spec: GroupSpec) -> AdminResult<GroupInfo> {
        let address = parse_address(&spec.address)?;
        let org = self.domain_org(caller, address.domain()).await?;
        caller.require(org, Right::Groups)?;
        let before = self.group_info_unchecked(&address).await?;
        let (group, departments) = self.build_group(org, address, &spec).await?;
        self.store.update_group(&group).await?;
        self.put_group_departments(org, &group, &departments)
            .await?;
        let info = group_info(&group, departments);
        self.op_log(
            caller,
            org,
            "group.update",
            &info.address,
            Some(crate::admin::encode(&before)?),
            Some(crate::admin::encode(&info)?),
        )
        .await?;
        Ok(info)
    }

    /// Stores the departments of a group (kept beside the directory's group record).
    async fn put_group_departments(
        &self,
        org: OrgId,
        group: &Group,
        departments: &[DepartmentId],
    ) -> AdminResult<()> {
        self.store
            .put_record(
                GROUP_EXT_KIND,
                &address_key(&group.address),
                Some(org),
                &serde_json::json!({ "departments": departments }),
                Expect::Any,
            )
            .await?;
        Ok(())
    }

    async fn group_info_unchecked(&self, address: &EmailAddress) -> AdminResult<GroupInfo> {
        let group = self
            .store
            .group(address)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("group {address}")))?;
        let departments = self
            .store
            .get_record(GROUP_EXT_KIND, &address_key(address))
            .await?
            .and_then(|r| {
                r.value
                    .get("departments")
                    .and_then(|d| serde_json::from_value(d.clone()).ok())
            })
            .unwrap_or_default();
        Ok(group_info(&group, departments))
    }

    /// One group.
    pub async fn group(&self, caller: &Caller, address: &str) -> AdminResult<GroupInfo> {
        let address = parse_address(address)?;
        let info = self.group_info_unchecked(&address).await?;
        caller.require_org(OrgId(info.org))?;
        Ok(info)
    }

    /// The organisation's groups.
    pub async fn list_groups(&self, caller: &Caller, org: OrgId) -> AdminResult<Vec<GroupInfo>> {
        caller.require_org(org)?;
        let mut out = Vec::new();
        for g in self.store.list_groups(Some(org)).await? {
            out.push(self.group_info_unchecked(&g.address).await?);
        }
        Ok(out)
    }

    /// Deletes a group.
    pub async fn delete_group(&self, caller: &Caller, address: &str) -> AdminResult<()> {
        let address = parse_address(address)?;
        let org = self.domain_org(caller, address.domain()).await?;
        caller.require(org, Right::Groups)?;
        let before = self.group_info_unchecked(&address).await?;
        self.store.delete_group(&address).await?;
        self.store
            .delete_record(GROUP_EXT_KIND, &address_key(&address))
            .await?;
        self.op_log(
            caller,
            org,
            "group.delete",
            &before.address,
            Some(crate::admin::encode(&before)?),
            None,
        )
        .await
    }

    // ---------------------------------------------------------------------------------------
    // Business mailboxes

    /// How many business mailboxes the organisation may have.
    pub async fn shared_mailbox_limit(&self, org: OrgId) -> AdminResult<usize> {
        let limits = self.limits(org).await?;
        let mut limit = limits.base_shared_mailboxes;
        if limits.shared_mailboxes_use_vip_seats {
            let settings = self.settings_versioned(org).await?.value;
            limit += settings
                .vip_seats
                .saturating_sub(self.vip_seats_used(org).await?) as usize;
        }
        Ok(limit)
    }

    /// Creates a business mailbox and its first client password (returned once).
    pub async fn create_shared_mailbox(
        &self,
        caller: &Caller,
        org: OrgId,
        new: NewSharedMailbox,
    ) -> AdminResult<(SharedMailbox, NewAppPassword)> {
        caller.require(org, Right::SharedMailboxes)?;
        let limit = self.shared_mailbox_limit(org).await?;
        let info = self.org_info(&Caller::operator(), org).await?;
        if info.shared_mailboxes >= limit {
            return Err(AdminError::limit(format!(
                "the organisation may have {limit} business mailboxes"
            )));
        }
        let address = self
            .address_for(org, &new.local_part, new.domain.as_deref())
            .await?;
        let users = self.check_users(org, &new.users).await?;
        let limits = self.limits(org).await?;
        let acc = self
            .store
            .create_account(NewAccount {
                org,
                address,
                display_name: clean(new.display_name),
                password_hash: None,
                quota_bytes: limits.shared_quota_bytes,
                kind: AccountKind::Shared,
            })
            .await?;
        self.store.ensure_default_mailboxes(acc.id).await?;
        let profile = MemberProfile {
            shared_users: new.users.clone(),
            ..MemberProfile::unrecorded(acc.id.0)
        };
        self.put_profile(org, &profile).await?;
        let password = self
            .create_app_password(&Caller::operator(), acc.id, "business mailbox")
            .await?;
        let shared = SharedMailbox {
            mailbox: self.member_view(&acc).await?,
            users,
        };
        self.op_log(
            caller,
            org,
            "shared.create",
            &shared.mailbox.address,
            None,
            Some(crate::admin::encode(&shared)?),
        )
        .await?;
        Ok((shared, password))
    }

    async fn check_users(&self, org: OrgId, users: &[i64]) -> AdminResult<Vec<String>> {
        let mut out = Vec::new();
        for u in users {
            match self.store.account(AccountId(*u)).await? {
                Some(a) if a.org == org && a.kind == AccountKind::Member => {
                    out.push(a.address.to_string())
                }
                _ => return Err(AdminError::not_found(format!("member {u}"))),
            }
        }
        Ok(out)
    }

    /// Business mailboxes and their users.
    pub async fn list_shared_mailboxes(
        &self,
        caller: &Caller,
        org: OrgId,
    ) -> AdminResult<Vec<SharedMailbox>> {
        caller.require_org(org)?;
        let recycled = self.recycled_ids(org).await?;
        let mut out = Vec::new();
        for acc in self.store.list_accounts(Some(org)).await? {
            if acc.kind != AccountKind::Shared || recycled.contains(&acc.id.0) {
                continue;
            }
            let profile = self.profile(acc.id).await?.value;
            let users = self
                .check_users(org, &profile.shared_users)
                .await
                .unwrap_or_default();
            out.push(SharedMailbox {
                mailbox: self.member_view(&acc).await?,
                users,
            });
        }
        Ok(out)
    }

    /// Replaces the users of a business mailbox.
    pub async fn set_shared_users(
        &self,
        caller: &Caller,
        account: AccountId,
        users: Vec<i64>,
    ) -> AdminResult<SharedMailbox> {
        let acc = self
            .account_in_scope(caller, account, Right::SharedMailboxes)
            .await?;
        if acc.kind != AccountKind::Shared {
            return Err(AdminError::invalid(format!(
                "{} is not a business mailbox",
                acc.address
            )));
        }
        let names = self.check_users(acc.org, &users).await?;
        let mut profile = self.profile(account).await?;
        let before = profile.value.shared_users.clone();
        profile.value.shared_users = users;
        save(
            self.store.as_ref(),
            MEMBER_KIND,
            &account_key(account),
            Some(acc.org),
            &profile,
        )
        .await?;
        self.op_log(
            caller,
            acc.org,
            "shared.users",
            &acc.address.to_string(),
            Some(serde_json::json!(before)),
            Some(serde_json::json!(names)),
        )
        .await?;
        Ok(SharedMailbox {
            mailbox: self.member_view(&acc).await?,
            users: names,
        })
    }
}
