//! Departments: a tree per organisation, with optional protocol switches.

use super::*;

impl Admin {
    // ---------------------------------------------------------------------------------------
    // Departments

    /// The organisation's departments.
    pub async fn list_departments(
        &self,
        caller: &Caller,
        org: OrgId,
    ) -> AdminResult<Vec<Department>> {
        caller.require_org(org)?;
        self.departments(org).await
    }

    /// Creates a department under `parent` (or at the top).
    pub async fn create_department(
        &self,
        caller: &Caller,
        org: OrgId,
        name: &str,
        parent: Option<DepartmentId>,
    ) -> AdminResult<Department> {
        caller.require(org, Right::Departments)?;
        self.org_record(org).await?;
        if let Some(scope) = caller.scope() {
            let all = self.departments(org).await?;
            if !parent.is_some_and(|p| descendants(&all, scope).contains(&p)) {
                return Err(AdminError::forbidden(
                    "departments can only be created inside your scope",
                ));
            }
        }
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(AdminError::invalid(
                "a department needs a name (1–200 characters)",
            ));
        }
        let all = self.departments(org).await?;
        if let Some(p) = parent {
            if !all.iter().any(|d| d.id == p) {
                return Err(AdminError::not_found(format!("department {p}")));
            }
            if depth(&all, p) + 1 >= MAX_DEPARTMENT_DEPTH {
                return Err(AdminError::limit(format!(
                    "departments nest at most {MAX_DEPARTMENT_DEPTH} deep"
                )));
            }
        }
        if all
            .iter()
            .any(|d| d.parent == parent && d.name.eq_ignore_ascii_case(name))
        {
            return Err(AdminError::new(
                ErrorCode::AlreadyExists,
                format!("department {name:?} already exists there"),
            ));
        }
        let id = crate::admin::next_id(self.store.as_ref(), Some(org), "department").await?;
        let d = Department {
            id,
            org: org.0,
            name: name.to_owned(),
            parent,
            protocols: None,
        };
        self.store
            .put_record(
                DEPARTMENT_KIND,
                &dept_key(org, id),
                Some(org),
                &crate::admin::encode(&d)?,
                Expect::Absent,
            )
            .await?;
        self.op_log(
            caller,
            org,
            "department.create",
            name,
            None,
            Some(crate::admin::encode(&d)?),
        )
        .await?;
        Ok(d)
    }

    /// Renames, moves or sets the protocol switches of a department.
    pub async fn update_department(
        &self,
        caller: &Caller,
        org: OrgId,
        id: DepartmentId,
        name: Option<String>,
        parent: Option<Option<DepartmentId>>,
        protocols: Option<Option<ProtocolSwitches>>,
    ) -> AdminResult<Department> {
        caller.require(org, Right::Departments)?;
        if protocols.is_some() {
            caller.require(org, Right::Security)?;
        }
        self.require_scope(caller, org, &[id]).await?;
        let key = dept_key(org, id);
        let mut current: Versioned<Department> = load(self.store.as_ref(), DEPARTMENT_KIND, &key)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("department {id}")))?;
        let before = current.value.clone();
        let all = self.departments(org).await?;
        if let Some(name) = name {
            let name = name.trim().to_owned();
            if name.is_empty() || name.len() > 200 {
                return Err(AdminError::invalid(
                    "a department needs a name (1–200 characters)",
                ));
            }
            current.value.name = name;
        }
        if let Some(parent) = parent {
            if let Some(p) = parent {
                if !all.iter().any(|d| d.id == p) {
                    return Err(AdminError::not_found(format!("department {p}")));
                }
                let subtree = descendants(&all, &[id]);
                if subtree.contains(&p) {
                    return Err(AdminError::invalid("a department cannot move below itself"));
                }
                // The moved subtree's deepest department must stay within the limit.
                let height = subtree
                    .iter()
                    .map(|d| depth(&all, *d).saturating_sub(depth(&all, id)))
                    .max()
                    .unwrap_or(0);
                if depth(&all, p) + 1 + height >= MAX_DEPARTMENT_DEPTH {
                    return Err(AdminError::limit(format!(
                        "departments nest at most {MAX_DEPARTMENT_DEPTH} deep"
                    )));
                }
            }
            current.value.parent = parent;
        }
        if let Some(p) = protocols {
            current.value.protocols = p;
        }
        save(
            self.store.as_ref(),
            DEPARTMENT_KIND,
            &key,
            Some(org),
            &current,
        )
        .await?;
        self.op_log(
            caller,
            org,
            "department.update",
            &before.name,
            Some(crate::admin::encode(&before)?),
            Some(crate::admin::encode(&current.value)?),
        )
        .await?;
        Ok(current.value)
    }

    /// Deletes an empty department (no sub-departments, no members).
    pub async fn delete_department(
        &self,
        caller: &Caller,
        org: OrgId,
        id: DepartmentId,
    ) -> AdminResult<()> {
        caller.require(org, Right::Departments)?;
        self.require_scope(caller, org, &[id]).await?;
        let all = self.departments(org).await?;
        let Some(d) = all.iter().find(|d| d.id == id) else {
            return Err(AdminError::not_found(format!("department {id}")));
        };
        if all.iter().any(|c| c.parent == Some(id)) {
            return Err(AdminError::new(
                ErrorCode::Conflict,
                "the department has sub-departments",
            ));
        }
        let profiles: Vec<MemberProfile> =
            list(self.store.as_ref(), MEMBER_KIND, Some(org)).await?;
        if profiles.iter().any(|p| p.departments.contains(&id)) {
            return Err(AdminError::new(
                ErrorCode::Conflict,
                "the department has members",
            ));
        }
        self.store
            .delete_record(DEPARTMENT_KIND, &dept_key(org, id))
            .await?;
        self.op_log(
            caller,
            org,
            "department.delete",
            &d.name,
            Some(crate::admin::encode(d)?),
            None,
        )
        .await
    }
}
