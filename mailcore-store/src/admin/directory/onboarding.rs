//! Invitations (with optional approval), first-login activation and the welcome letter.

use super::*;

/// The built-in welcome letter.
const WELCOME_SUBJECT: &str = "Welcome to {org}";
const WELCOME_BODY: &str = "Hello {name},\r\n\r\nyour mailbox {address} at {org} is ready.\r\n\
Use any IMAP, POP3 or SMTP client, or ask your administrator for client settings.\r\n";

fn fill(template: &str, name: &str, address: &str, org: &str) -> String {
    template
        .replace("{name}", name)
        .replace("{address}", address)
        .replace("{org}", org)
}

impl Admin {
    // ---------------------------------------------------------------------------------------
    // Invitations, activation, welcome letter

    /// Creates an invitation; its token is in the result (and only there).
    pub async fn create_invitation(
        &self,
        caller: &Caller,
        org: OrgId,
        domain: Option<&str>,
        department: Option<DepartmentId>,
        approval: Option<bool>,
    ) -> AdminResult<Invitation> {
        caller.require(org, Right::Members)?;
        if let Some(d) = department {
            self.check_departments(org, &[d]).await?;
            self.require_scope(caller, org, &[d]).await?;
        } else if caller.scope().is_some() {
            return Err(AdminError::forbidden(
                "choose a department inside your scope",
            ));
        }
        let domain = self
            .address_for(org, "x", domain)
            .await?
            .domain()
            .to_string();
        let settings = self.settings_versioned(org).await?.value;
        let id = crate::admin::next_id(self.store.as_ref(), Some(org), "invitation").await?;
        let token = crate::admin::random_token(16);
        let inv = Invitation {
            id,
            org: org.0,
            domain,
            department,
            approval: approval.unwrap_or(settings.invitation_approval),
            expires: crate::now() + i64::from(self.config.invitation_days) * 86_400,
            token: None,
        };
        self.store
            .put_record(
                INVITATION_KIND,
                &secret_digest(&token),
                Some(org),
                &crate::admin::encode(&inv)?,
                Expect::Absent,
            )
            .await?;
        self.op_log(
            caller,
            org,
            "invitation.create",
            &id.to_string(),
            None,
            Some(crate::admin::encode(&inv)?),
        )
        .await?;
        Ok(Invitation {
            token: Some(token),
            ..inv
        })
    }

    /// Uses an invitation: creates the member at once, or files a join request when the
    /// invitation needs approval. Returns the member, or `None` while approval is pending.
    pub async fn accept_invitation(
        &self,
        token: &str,
        local_part: &str,
        display_name: Option<&str>,
        password: &str,
    ) -> AdminResult<Option<Member>> {
        let inv: Invitation = load(self.store.as_ref(), INVITATION_KIND, &secret_digest(token))
            .await?
            .ok_or_else(|| AdminError::new(ErrorCode::Unauthenticated, "invalid invitation"))?
            .value;
        if inv.expires < crate::now() {
            return Err(AdminError::new(
                ErrorCode::Unauthenticated,
                "the invitation has expired",
            ));
        }
        let org = OrgId(inv.org);
        let system = Caller {
            name: format!("invitation {}", inv.id),
            ..Caller::operator()
        };
        let new = NewMember {
            local_part: local_part.to_owned(),
            domain: Some(inv.domain.clone()),
            display_name: display_name.map(str::to_owned),
            password: Some(password.to_owned()),
            departments: inv.department.into_iter().collect(),
            ..NewMember::default()
        };
        if inv.approval {
            let (account, _) = self.member_context(&system, org).await?.admit(&new)?;
            if self.store.resolve(&account.address).await? != Resolved::Unknown {
                return Err(AdminError::new(
                    ErrorCode::AlreadyExists,
                    format!("{} is taken", account.address),
                ));
            }
            let id = crate::admin::next_id(self.store.as_ref(), Some(org), "join_request").await?;
            let req = JoinRequest {
                id,
                org: org.0,
                address: account.address.to_string(),
                display_name: account.display_name,
                department: inv.department,
                created: crate::now(),
            };
            // The password hash stays in the record, beside (not inside) the request the
            // API shows.
            let record = serde_json::json!({
                "request": crate::admin::encode(&req)?,
                "password_hash": crate::password::hash_password_async(password).await?,
            });
            self.store
                .put_record(
                    JOIN_KIND,
                    &format!("{}:{id}", org.0),
                    Some(org),
                    &record,
                    Expect::Absent,
                )
                .await?;
            return Ok(None);
        }
        let (acc, _) = self.create_member_unchecked(&system, org, new).await?;
        self.op_log(
            &system,
            org,
            "member.join",
            &acc.address.to_string(),
            None,
            None,
        )
        .await?;
        Ok(Some(self.member_view(&acc).await?))
    }

    /// Pending join requests.
    pub async fn list_join_requests(
        &self,
        caller: &Caller,
        org: OrgId,
    ) -> AdminResult<Vec<JoinRequest>> {
        caller.require(org, Right::Members)?;
        let mut out = Vec::new();
        for r in self.store.list_records(JOIN_KIND, Some(org)).await? {
            if let Some(req) = r.value.get("request") {
                out.push(crate::admin::decode_value(req)?);
            }
        }
        Ok(out)
    }

    /// Approves (creating the member) or rejects a join request.
    pub async fn decide_join_request(
        &self,
        caller: &Caller,
        org: OrgId,
        id: i64,
        approve: bool,
    ) -> AdminResult<Option<Member>> {
        caller.require(org, Right::Members)?;
        let key = format!("{}:{id}", org.0);
        let rec = self
            .store
            .get_record(JOIN_KIND, &key)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("join request {id}")))?;
        let req: JoinRequest = rec
            .value
            .get("request")
            .and_then(|r| serde_json::from_value(r.clone()).ok())
            .ok_or_else(|| AdminError::not_found(format!("join request {id}")))?;
        let hash = rec
            .value
            .get("password_hash")
            .and_then(|h| h.as_str())
            .unwrap_or_default()
            .to_owned();
        if let Some(d) = req.department {
            self.require_scope(caller, org, &[d]).await?;
        }
        self.store.delete_record(JOIN_KIND, &key).await?;
        if !approve {
            self.op_log(caller, org, "member.join_reject", &req.address, None, None)
                .await?;
            return Ok(None);
        }
        // Checked again now: limits and seats may have changed since the request.
        let address = parse_address(&req.address)?;
        let (account, profile) =
            self.member_context(&Caller::operator(), org)
                .await?
                .admit(&NewMember {
                    local_part: address.local_part().to_string(),
                    domain: Some(address.domain().to_string()),
                    display_name: req.display_name.clone(),
                    departments: req.department.into_iter().collect(),
                    ..NewMember::default()
                })?;
        let (acc, _) = self
            .create_validated(org, account, profile, (!hash.is_empty()).then_some(hash))
            .await?;
        self.op_log(caller, org, "member.join_approve", &req.address, None, None)
            .await?;
        Ok(Some(self.member_view(&acc).await?))
    }

    /// First-login activation: the member sets a password with the activation token, the
    /// account is activated and the welcome letter delivered.
    pub async fn activate(&self, token: &str, password: &str) -> AdminResult<Member> {
        let digest = secret_digest(token);
        let rec = self
            .store
            .get_record(ACTIVATION_KIND, &digest)
            .await?
            .ok_or_else(|| {
                AdminError::new(ErrorCode::Unauthenticated, "invalid activation token")
            })?;
        let id = rec
            .value
            .get("account")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| {
                AdminError::new(ErrorCode::Unauthenticated, "invalid activation token")
            })?;
        let mut acc = self.store.account(AccountId(id)).await?.ok_or_else(|| {
            AdminError::new(ErrorCode::Unauthenticated, "invalid activation token")
        })?;
        acc.password_hash = Some(crate::password::hash_password_async(password).await?);
        self.store.update_account(&acc).await?;
        self.store.delete_record(ACTIVATION_KIND, &digest).await?;
        first_login(self.store.as_ref(), &acc).await?;
        self.member_view(&acc).await
    }
}

/// Marks a member activated on first login and delivers the welcome letter when the
/// organisation has it on. Returns whether this was the first login.
pub async fn first_login(store: &dyn Backend, account: &Account) -> crate::error::Result<bool> {
    let key = account_key(account.id);
    let Some(rec) = store.get_record(MEMBER_KIND, &key).await? else {
        return Ok(false);
    };
    let Ok(mut profile) = serde_json::from_value::<MemberProfile>(rec.value.clone()) else {
        return Ok(false);
    };
    if profile.activated || account.kind != AccountKind::Member {
        return Ok(false);
    }
    profile.activated = true;
    let value = serde_json::to_value(&profile)
        .map_err(|e| crate::error::StoreError::Invalid(e.to_string()))?;
    match store
        .put_record(
            MEMBER_KIND,
            &key,
            Some(account.org),
            &value,
            Expect::Version(rec.version),
        )
        .await
    {
        Ok(_) => {}
        // Another login of the same member got there first.
        Err(crate::error::StoreError::Conflict(_)) => return Ok(false),
        Err(e) => return Err(e),
    }
    let settings: OrgSettings = store
        .get_record(crate::admin::org::SETTINGS_KIND, &account.org.0.to_string())
        .await?
        .and_then(|r| serde_json::from_value(r.value).ok())
        .unwrap_or_default();
    if settings.welcome.enabled {
        let org = store
            .org(account.org)
            .await?
            .map(|o| o.name)
            .unwrap_or_default();
        let name = account
            .display_name
            .clone()
            .unwrap_or_else(|| account.address.local_part().to_string());
        let address = account.address.to_string();
        let subject = fill(
            settings
                .welcome
                .subject
                .as_deref()
                .unwrap_or(WELCOME_SUBJECT),
            &name,
            &address,
            &org,
        );
        let body = fill(
            settings.welcome.body.as_deref().unwrap_or(WELCOME_BODY),
            &name,
            &address,
            &org,
        );
        let raw = welcome_message(&subject, &body, &address, crate::now());
        store.ensure_default_mailboxes(account.id).await?;
        if let Some(inbox) = store.mailbox(account.id, INBOX).await? {
            store
                .deliver(
                    Bytes::from(raw),
                    crate::now(),
                    &[DeliveryTarget {
                        mailbox: inbox.id,
                        flags: Default::default(),
                    }],
                )
                .await?;
        }
    }
    Ok(true)
}

/// Builds the welcome message (RFC 5322, UTF-8 with encoded-word subject when needed).
fn welcome_message(subject: &str, body: &str, to: &str, now: i64) -> Vec<u8> {
    let subject = if subject.is_ascii() {
        subject.to_owned()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(subject.as_bytes())
        )
    };
    let body = body.replace("\r\n", "\n").replace('\n', "\r\n");
    let date = mailcore::message::date::DateTime {
        timestamp: now,
        offset_minutes: 0,
    }
    .to_rfc5322();
    format!(
        "From: postmaster <postmaster@{domain}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {date}\r\n\
         Message-ID: <welcome.{now}.{rand}@{domain}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}",
        domain = to.rsplit('@').next().unwrap_or("localhost"),
        rand = crate::admin::random_token(4),
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn welcome_message_parses_back_with_a_unicode_subject() {
        let raw = welcome_message("欢迎 {x}", "第一行\n second", "张三@example.com", 0);
        let msg = mailcore::message::Message::parse(Bytes::from(raw.clone()));
        assert_eq!(msg.subject().as_deref(), Some("欢迎 {x}"));
        let text = String::from_utf8(raw).unwrap();
        assert!(text.contains("\r\n\r\n第一行\r\n second"), "{text}");
        assert!(
            text.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000"),
            "{text}"
        );
    }
}
