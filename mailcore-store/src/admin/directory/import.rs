//! Bulk import of members from CSV, all or nothing per file.

use super::*;

impl Admin {
    // ---------------------------------------------------------------------------------------
    // CSV import

    /// Imports members from CSV with the header
    /// `local_part,domain,display_name,password,employee_id,phone,department,vip,quota_mb`
    /// (only `local_part` is required; `department` is a department name, `vip` is
    /// `yes`/`no`). All or nothing: if any row is invalid, no member is created and every
    /// invalid row is reported.
    pub async fn import_members_csv(
        &self,
        caller: &Caller,
        org: OrgId,
        csv_text: &str,
    ) -> AdminResult<ImportReport> {
        caller.require(org, Right::Members)?;
        let mut ctx = self.member_context(caller, org).await?;
        let departments = self.departments(org).await?;
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(csv_text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| AdminError::invalid(format!("CSV header: {e}")))?
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        const KNOWN: [&str; 9] = [
            "local_part",
            "domain",
            "display_name",
            "password",
            "employee_id",
            "phone",
            "department",
            "vip",
            "quota_mb",
        ];
        if let Some(h) = headers.iter().find(|h| !KNOWN.contains(&h.as_str())) {
            return Err(AdminError::invalid(format!("unknown CSV column {h:?}")));
        }
        if !headers.iter().any(|h| h == "local_part") {
            return Err(AdminError::invalid("the CSV needs a local_part column"));
        }
        let mut errors = Vec::new();
        let mut rows: Vec<(usize, NewAccount, MemberProfile, Option<String>)> = Vec::new();
        let mut seen_addresses = HashSet::new();
        for (i, record) in reader.records().enumerate() {
            let row = i + 2;
            if rows.len() + errors.len() >= self.config.max_import_rows {
                return Err(AdminError::limit(format!(
                    "at most {} rows per import",
                    self.config.max_import_rows
                )));
            }
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    errors.push(ImportRowError {
                        row,
                        error: format!("unreadable row: {e}"),
                    });
                    continue;
                }
            };
            let field = |name: &str| -> Option<String> {
                headers
                    .iter()
                    .position(|h| h == name)
                    .and_then(|i| record.get(i))
                    .map(str::to_owned)
                    .filter(|s| !s.is_empty())
            };
            let department = match field("department") {
                Some(name) => match departments
                    .iter()
                    .find(|d| d.name.eq_ignore_ascii_case(&name))
                {
                    Some(d) => vec![d.id],
                    None => {
                        errors.push(ImportRowError {
                            row,
                            error: format!("unknown department {name:?}"),
                        });
                        continue;
                    }
                },
                None => Vec::new(),
            };
            let vip = match field("vip")
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None | Some("no" | "false" | "0") => false,
                Some("yes" | "true" | "1") => true,
                Some(other) => {
                    errors.push(ImportRowError {
                        row,
                        error: format!("vip must be yes or no, not {other:?}"),
                    });
                    continue;
                }
            };
            let quota_bytes = match field("quota_mb") {
                None => None,
                Some(q) => match q.parse::<u64>() {
                    Ok(mb) => Some(mb.saturating_mul(1 << 20)),
                    Err(_) => {
                        errors.push(ImportRowError {
                            row,
                            error: format!("quota_mb {q:?} is not a number"),
                        });
                        continue;
                    }
                },
            };
            let new = NewMember {
                local_part: field("local_part").unwrap_or_default(),
                domain: field("domain"),
                display_name: field("display_name"),
                password: field("password"),
                employee_id: field("employee_id"),
                phone: field("phone"),
                departments: department,
                vip: false,
                quota_bytes,
            };
            // The context counts every admitted row in: VIP seats, the member limit and
            // employee ids hold over the whole file.
            match ctx.admit(&NewMember { vip, ..new.clone() }) {
                Err(e) => errors.push(ImportRowError {
                    row,
                    error: e.message,
                }),
                Ok((account, profile)) => {
                    let key = address_key(&account.address);
                    if self.store.resolve(&account.address).await? != Resolved::Unknown {
                        errors.push(ImportRowError {
                            row,
                            error: format!("{} is already taken", account.address),
                        });
                        continue;
                    }
                    if !seen_addresses.insert(key) {
                        errors.push(ImportRowError {
                            row,
                            error: format!("{} appears twice in the file", account.address),
                        });
                        continue;
                    }
                    rows.push((row, account, profile, new.password));
                }
            }
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.row);
            return Ok(ImportReport {
                imported: false,
                created: Vec::new(),
                errors,
            });
        }
        let mut created: Vec<Account> = Vec::new();
        for (row, account, profile, password) in rows {
            let hash = match &password {
                Some(p) => Some(crate::password::hash_password_async(p).await?),
                None => None,
            };
            match self.create_validated(org, account, profile, hash).await {
                Ok((acc, _)) => created.push(acc),
                Err(e) => {
                    // Something changed under us: undo this file's members.
                    for acc in &created {
                        let _ = self.store.delete_account(acc.id).await;
                        let _ = self
                            .store
                            .delete_record(MEMBER_KIND, &account_key(acc.id))
                            .await;
                    }
                    return Ok(ImportReport {
                        imported: false,
                        created: Vec::new(),
                        errors: vec![ImportRowError {
                            row,
                            error: e.message,
                        }],
                    });
                }
            }
        }
        let names: Vec<String> = created.iter().map(|a| a.address.to_string()).collect();
        self.op_log(
            caller,
            org,
            "member.import",
            &format!("{} members", names.len()),
            None,
            Some(serde_json::json!(names)),
        )
        .await?;
        Ok(ImportReport {
            imported: true,
            created: names,
            errors: Vec::new(),
        })
    }
}
