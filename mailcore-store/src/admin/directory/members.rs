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
        let mut out = Vec::new();
        for acc in self.store.list_accounts(Some(org)).await? {
            if recycled.contains(&acc.id.0) {
                continue;
            }
            let m = self.member_view(&acc).await?;
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

    /// Validates a new member (`check_free`: also that the address is free) and returns the
    /// account to create.
    pub(super) async fn validate_member(
        &self,
        caller: &Caller,
        org: OrgId,
        new: &NewMember,
        settings: &OrgSettings,
    ) -> AdminResult<(NewAccount, MemberProfile)> {
        self.require_scope(caller, org, &new.departments).await?;
        let limits = self.limits(org).await?;
        let address = self
            .address_for(org, &new.local_part, new.domain.as_deref())
            .await?;
        if new.local_part.trim().is_empty() {
            return Err(AdminError::invalid("empty local part"));
        }
        self.check_departments(org, &new.departments).await?;
        let employee_id = clean(new.employee_id.clone());
        self.check_employee_id(org, employee_id.as_deref(), None)
            .await?;
        if let Some(max) = settings.max_members {
            let info = self.org_info(&Caller::operator(), org).await?;
            if info.members >= max as usize {
                return Err(AdminError::limit(format!(
                    "the organisation allows {max} members"
                )));
            }
        }
        if new.vip && self.vip_seats_used(org).await? >= settings.vip_seats {
            return Err(AdminError::limit("no VIP seat is free"));
        }
        let quota = if new.vip {
            new.quota_bytes.or(limits.vip_quota_bytes)
        } else {
            match new.quota_bytes {
                Some(q) if q > limits.member_quota_bytes => {
                    return Err(AdminError::limit(format!(
                        "a normal member's quota is at most {} bytes",
                        limits.member_quota_bytes
                    )));
                }
                Some(q) => Some(q),
                None => Some(limits.member_quota_bytes),
            }
        };
        let password_hash = match &new.password {
            Some(p) => Some(crate::password::hash_password(p)?),
            None => None,
        };
        Ok((
            NewAccount {
                org,
                address,
                display_name: clean(new.display_name.clone()),
                password_hash,
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

    pub(super) async fn create_member_unchecked(
        &self,
        caller: &Caller,
        org: OrgId,
        new: NewMember,
    ) -> AdminResult<(Account, Option<String>)> {
        let settings = self.settings_versioned(org).await?.value;
        let (account, mut profile) = self.validate_member(caller, org, &new, &settings).await?;
        let needs_activation = account.password_hash.is_none();
        let account = self.store.create_account(account).await?;
        self.store.ensure_default_mailboxes(account.id).await?;
        profile.account = account.id.0;
        self.store
            .put_record(
                MEMBER_KIND,
                &account_key(account.id),
                Some(org),
                &crate::admin::encode(&profile)?,
                Expect::Any,
            )
            .await?;
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
            acc.password_hash = Some(crate::password::hash_password(p)?);
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
