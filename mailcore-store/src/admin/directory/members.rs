//! Members: create, update (VIP seats, quota, enable/disable), rename once, aliases.

use super::*;

impl Admin {
    // ---------------------------------------------------------------------------------------
    // Members

    /// Members (and business mailboxes) of the organisation that the caller may see, recycle
    /// bin excluded.
    pub async fn list_members(&self, caller: &Caller, org: OrgId) -> AdminResult<Vec<Member>> {
        caller.require_org(org)?;
        let recycled = self.recycled_ids(org).await?;
        let allowed = match caller.scope() {
            Some(scope) => Some(descendants(&self.departments(org).await?, scope)),
            None => None,
        };
        let mut profiles: HashMap<i64, MemberProfile> =
            list::<MemberProfile>(self.store.as_ref(), MEMBER_KIND, Some(org))
                .await?
                .into_iter()
                .map(|p| (p.account, p))
                .collect();
        let mut out = Vec::new();
        for acc in self.store.list_accounts(Some(org)).await? {
            if recycled.contains(&acc.id.0) {
                continue;
            }
            let profile = profiles
                .remove(&acc.id.0)
                .unwrap_or_else(|| MemberProfile::unrecorded(acc.id.0));
            let m = self.member_view_with(&acc, profile).await?;
            if let Some(allowed) = &allowed
                && !m.departments.iter().any(|d| allowed.contains(d))
            {
                continue;
            }
            out.push(m);
        }
        Ok(out)
    }

    /// One member.
    pub async fn member(&self, caller: &Caller, account: AccountId) -> AdminResult<Member> {
        let acc = self
            .store
            .account(account)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("account {}", account.0)))?;
        caller.require_org(acc.org)?;
        if caller.scope().is_some() {
            let profile = self.profile(account).await?.value;
            self.require_scope(caller, acc.org, &profile.departments)
                .await?;
        }
        self.member_view(&acc).await
    }

    /// Creates a member with default mailboxes.
    pub async fn create_member(
        &self,
        caller: &Caller,
        org: OrgId,
        new: NewMember,
    ) -> AdminResult<CreatedMember> {
        caller.require(org, Right::Members)?;
        let (account, token) = self.create_member_unchecked(caller, org, new).await?;
        let member = self.member_view(&account).await?;
        self.op_log(
            caller,
            org,
            "member.create",
            &member.address,
            None,
            Some(crate::admin::encode(&member)?),
        )
        .await?;
        Ok(CreatedMember {
            member,
            activation_token: token,
        })
    }

    /// Everything member validation needs about an organisation, read once (a CSV import
    /// validates thousands of rows against it).
    pub(super) async fn member_context(
        &self,
        caller: &Caller,
        org: OrgId,
    ) -> AdminResult<MemberContext> {
        let settings = self.settings_versioned(org).await?.value;
        let departments = self.departments(org).await?;
        let profiles: Vec<MemberProfile> =
            list(self.store.as_ref(), MEMBER_KIND, Some(org)).await?;
        let recycled = self.recycled_ids(org).await?;
        let members = self
            .store
            .list_accounts(Some(org))
            .await?
            .iter()
            .filter(|a| a.kind == AccountKind::Member && !recycled.contains(&a.id.0))
            .count();
        let scope = caller.scope().map(|s| descendants(&departments, s));
        Ok(MemberContext {
            org,
            limits: self.limits(org).await?,
            default_domain: self.default_domain(org).await?,
            domains: self
                .store
                .list_domains(Some(org))
                .await?
                .into_iter()
                .map(|d| d.name.as_ascii().to_owned())
                .collect(),
            employee_ids: profiles
                .iter()
                .filter_map(|p| p.employee_id.clone())
                .collect(),
            vip_used: profiles
                .iter()
                .filter(|p| p.vip && !recycled.contains(&p.account))
                .count() as u32,
            members,
            departments: departments.iter().map(|d| d.id).collect(),
            scope,
            settings,
        })
    }

    pub(super) async fn create_member_unchecked(
        &self,
        caller: &Caller,
        org: OrgId,
        new: NewMember,
    ) -> AdminResult<(Account, Option<String>)> {
        let mut ctx = self.member_context(caller, org).await?;
        let (account, profile) = ctx.admit(&new)?;
        let hash = match &new.password {
            Some(p) => Some(crate::password::hash_password_async(p).await?),
            None => None,
        };
        self.create_validated(org, account, profile, hash).await
    }

    /// Creates a member validated by [`MemberContext::admit`] with its password hash: the
    /// account, its mailboxes, its profile and, without a password, its activation token.
    pub(super) async fn create_validated(
        &self,
        org: OrgId,
        mut account: NewAccount,
        mut profile: MemberProfile,
        password_hash: Option<String>,
    ) -> AdminResult<(Account, Option<String>)> {
        account.password_hash = password_hash;
        let needs_activation = account.password_hash.is_none();
        let account = self.store.create_account(account).await?;
        self.store.ensure_default_mailboxes(account.id).await?;
        profile.account = account.id.0;
        self.put_profile(org, &profile).await?;
        let token = if needs_activation {
            let token = crate::admin::random_token(16);
            self.store
                .put_record(
                    ACTIVATION_KIND,
                    &secret_digest(&token),
                    Some(org),
                    &serde_json::json!({ "account": account.id.0 }),
                    Expect::Absent,
                )
                .await?;
            Some(token)
        } else {
            None
        };
        Ok((account, token))
    }

    /// Applies a patch to a member.
    pub async fn update_member(
        &self,
        caller: &Caller,
        account: AccountId,
        patch: MemberPatch,
    ) -> AdminResult<Member> {
        let mut acc = self
            .account_in_scope(caller, account, Right::Members)
            .await?;
        let org = acc.org;
        if patch.protocols.is_some() {
            caller.require(org, Right::Security)?;
        }
        let before = self.member_view(&acc).await?;
        let mut profile = self.profile(account).await?;
        let limits = self.limits(org).await?;
        if let Some(d) = &patch.departments {
            self.require_scope(caller, org, d).await?;
            self.check_departments(org, d).await?;
            profile.value.departments = d.clone();
        }
        if let Some(e) = patch.employee_id.clone() {
            let e = clean(Some(e));
            self.check_employee_id(org, e.as_deref(), Some(account))
                .await?;
            profile.value.employee_id = e;
        }
        if let Some(p) = patch.phone.clone() {
            profile.value.phone = clean(Some(p));
        }
        if let Some(p) = patch.protocols {
            profile.value.protocols = Some(p);
        }
        if let Some(vip) = patch.vip
            && vip != profile.value.vip
        {
            if vip {
                let settings = self.settings_versioned(org).await?.value;
                if self.vip_seats_used(org).await? >= settings.vip_seats {
                    return Err(AdminError::limit("no VIP seat is free"));
                }
                acc.quota_bytes = limits.vip_quota_bytes;
            } else {
                acc.quota_bytes = Some(limits.member_quota_bytes);
            }
            profile.value.vip = vip;
        }
        if let Some(q) = patch.quota_bytes {
            let q = if q == 0 { None } else { Some(q) };
            match q {
                Some(q) if !profile.value.vip && q > limits.member_quota_bytes => {
                    return Err(AdminError::limit(format!(
                        "a normal member's quota is at most {} bytes",
                        limits.member_quota_bytes
                    )));
                }
                Some(q) => acc.quota_bytes = Some(q),
                None if profile.value.vip => acc.quota_bytes = limits.vip_quota_bytes,
                None => acc.quota_bytes = Some(limits.member_quota_bytes),
            }
        }
        if let Some(n) = patch.display_name {
            acc.display_name = clean(Some(n));
        }
        if let Some(p) = &patch.password {
            acc.password_hash = Some(crate::password::hash_password_async(p).await?);
        }
        if let Some(e) = patch.enabled {
            if !e
                && self
                    .role_of(account)
                    .await?
                    .is_some_and(|g| g.role == crate::admin::Role::Creator)
            {
                return Err(AdminError::new(
                    ErrorCode::Conflict,
                    "the creator cannot be disabled",
                ));
            }
            acc.enabled = e;
        }
        save(
            self.store.as_ref(),
            MEMBER_KIND,
            &account_key(account),
            Some(org),
            &profile,
        )
        .await?;
        self.store.update_account(&acc).await?;
        let after = self.member_view(&acc).await?;
        let action = match patch.enabled {
            Some(false) if before.enabled => "member.disable",
            Some(true) if !before.enabled => "member.enable",
            _ => "member.update",
        };
        self.op_log(
            caller,
            org,
            action,
            &after.address,
            Some(crate::admin::encode(&before)?),
            Some(crate::admin::encode(&after)?),
        )
        .await?;
        Ok(after)
    }

    /// Renames a member's local part; allowed once per member.
    pub async fn rename_member(
        &self,
        caller: &Caller,
        account: AccountId,
        local_part: &str,
    ) -> AdminResult<Member> {
        let acc = self
            .account_in_scope(caller, account, Right::Members)
            .await?;
        let mut profile = self.profile(account).await?;
        if profile.value.renamed {
            return Err(AdminError::new(
                ErrorCode::Conflict,
                "the local part was renamed once already",
            ));
        }
        let new = parse_address(&format!("{}@{}", local_part.trim(), acc.address.domain()))?;
        let renamed = self.store.rename_account(account, &new).await?;
        profile.value.renamed = true;
        save(
            self.store.as_ref(),
            MEMBER_KIND,
            &account_key(account),
            Some(acc.org),
            &profile,
        )
        .await?;
        if let Some(mut grant) = load::<crate::admin::AdminGrant>(
            self.store.as_ref(),
            crate::admin::roles::ADMIN_KIND,
            &account_key(account),
        )
        .await?
        {
            grant.value.address = new.to_string();
            save(
                self.store.as_ref(),
                crate::admin::roles::ADMIN_KIND,
                &account_key(account),
                Some(acc.org),
                &grant,
            )
            .await?;
        }
        self.op_log(
            caller,
            acc.org,
            "member.rename",
            &new.to_string(),
            Some(serde_json::json!(acc.address.to_string())),
            Some(serde_json::json!(new.to_string())),
        )
        .await?;
        self.member_view(&renamed).await
    }

    /// Adds an alias (at most [`crate::admin::AdminConfig::max_aliases`] per account).
    pub async fn add_alias(
        &self,
        caller: &Caller,
        account: AccountId,
        alias: &str,
    ) -> AdminResult<Member> {
        let acc = self
            .account_in_scope(caller, account, Right::Members)
            .await?;
        let alias = parse_address(alias)?;
        let existing = self.store.aliases(account).await?;
        if existing.len() >= self.config.max_aliases {
            return Err(AdminError::limit(format!(
                "an account has at most {} aliases",
                self.config.max_aliases
            )));
        }
        match self.store.domain(alias.domain()).await? {
            Some(d) if d.org == acc.org => {}
            _ => {
                return Err(AdminError::invalid(format!(
                    "{} is not a domain of this organisation",
                    alias.domain()
                )));
            }
        }
        self.store.add_alias(&alias, account).await?;
        self.op_log(
            caller,
            acc.org,
            "alias.add",
            &acc.address.to_string(),
            None,
            Some(serde_json::json!(alias.to_string())),
        )
        .await?;
        self.member_view(&acc).await
    }

    /// Removes an alias.
    pub async fn remove_alias(
        &self,
        caller: &Caller,
        account: AccountId,
        alias: &str,
    ) -> AdminResult<Member> {
        let acc = self
            .account_in_scope(caller, account, Right::Members)
            .await?;
        let alias = parse_address(alias)?;
        if !self
            .store
            .aliases(account)
            .await?
            .iter()
            .any(|a| address_key(a) == address_key(&alias))
        {
            return Err(AdminError::not_found(format!("alias {alias}")));
        }
        self.store.remove_alias(&alias).await?;
        self.op_log(
            caller,
            acc.org,
            "alias.remove",
            &acc.address.to_string(),
            Some(serde_json::json!(alias.to_string())),
            None,
        )
        .await?;
        self.member_view(&acc).await
    }
}

/// An organisation's state as member validation sees it; [`MemberContext::admit`] checks one
/// new member against it and counts them in, so that a whole file is checked consistently.
pub(super) struct MemberContext {
    org: OrgId,
    limits: crate::admin::EditionLimits,
    settings: OrgSettings,
    default_domain: Domain,
    /// A-labels of the organisation's domains.
    domains: HashSet<String>,
    employee_ids: HashSet<String>,
    vip_used: u32,
    members: usize,
    departments: HashSet<DepartmentId>,
    /// Departments a tiered administrator may act on (`None`: unrestricted).
    scope: Option<HashSet<DepartmentId>>,
}

impl MemberContext {
    /// Checks a new member (the password is not hashed here) and counts them in.
    pub(super) fn admit(&mut self, new: &NewMember) -> AdminResult<(NewAccount, MemberProfile)> {
        if let Some(scope) = &self.scope
            && (new.departments.is_empty() || new.departments.iter().any(|d| !scope.contains(d)))
        {
            return Err(AdminError::forbidden(
                "the member is outside your department scope",
            ));
        }
        if new.local_part.trim().is_empty() {
            return Err(AdminError::invalid("empty local part"));
        }
        let domain = match new
            .domain
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            Some(d) => d
                .parse::<Domain>()
                .map_err(|e| AdminError::invalid(format!("domain {d:?}: {e}")))?,
            None => self.default_domain.clone(),
        };
        if !self.domains.contains(domain.as_ascii()) {
            return Err(AdminError::invalid(format!(
                "{domain} is not a domain of this organisation"
            )));
        }
        let address = parse_address(&format!("{}@{domain}", new.local_part.trim()))?;
        if let Some(d) = new
            .departments
            .iter()
            .find(|d| !self.departments.contains(d))
        {
            return Err(AdminError::not_found(format!("department {d}")));
        }
        let employee_id = clean(new.employee_id.clone());
        if let Some(e) = &employee_id
            && self.employee_ids.contains(e)
        {
            return Err(AdminError::new(
                ErrorCode::AlreadyExists,
                format!("employee id {e:?} is already used in the organisation"),
            ));
        }
        if let Some(max) = self.settings.max_members
            && self.members >= max as usize
        {
            return Err(AdminError::limit(format!(
                "the organisation allows {max} members"
            )));
        }
        if new.vip && self.vip_used >= self.settings.vip_seats {
            return Err(AdminError::limit("no VIP seat is free"));
        }
        let quota = if new.vip {
            new.quota_bytes.or(self.limits.vip_quota_bytes)
        } else {
            match new.quota_bytes {
                Some(q) if q > self.limits.member_quota_bytes => {
                    return Err(AdminError::limit(format!(
                        "a normal member's quota is at most {} bytes",
                        self.limits.member_quota_bytes
                    )));
                }
                Some(q) => Some(q),
                None => Some(self.limits.member_quota_bytes),
            }
        };
        if let Some(p) = &new.password
            && (p.is_empty() || p.len() > crate::password::MAX_PASSWORD_LEN)
        {
            return Err(AdminError::invalid("password must be 1 to 1024 bytes"));
        }
        if let Some(e) = &employee_id {
            self.employee_ids.insert(e.clone());
        }
        self.members += 1;
        if new.vip {
            self.vip_used += 1;
        }
        Ok((
            NewAccount {
                org: self.org,
                address,
                display_name: clean(new.display_name.clone()),
                password_hash: None,
                quota_bytes: quota,
                kind: AccountKind::Member,
            },
            MemberProfile {
                account: 0,
                employee_id,
                phone: clean(new.phone.clone()),
                departments: new.departments.clone(),
                vip: new.vip,
                renamed: false,
                protocols: None,
                activated: false,
                shared_users: Vec::new(),
            },
        ))
    }
}
