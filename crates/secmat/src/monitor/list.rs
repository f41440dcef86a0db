//! The *Security Material* list: Name, Type, Status, Deployed By, Deployed On; filter by name,
//! sort, page.
//!
//! # Staying fast at 100,000 entries
//!
//! Each page costs one count (the total the page shows) and one indexed read of a page:
//!
//! - **Name, ascending** (the default) pages by keyset: "names after the last one shown", which
//!   the store answers from the primary-key index however deep the page. *Previous* needs the
//!   page's own starting point, which a keyset cannot give backwards, so the links carry the
//!   starting points of the pages before (`back=`, the newest [`MAX_BACK`] of them; further back
//!   there is *First page*).
//! - **Name, descending** needs "names before", which [`secmat_store::ListQuery`] does not offer
//!   (it only orders ascending). It is served as an ascending page counted from the end
//!   (`offset = total − page × size`), so it is correct, but the store walks the index up to that
//!   offset: a few milliseconds at 100,000 names. A `before` keyset in `ListQuery` would make it
//!   as cheap as ascending.
//! - **Deployed By, Deployed On** sort *within the page* (pages still follow the names), and the
//!   page says so: a true order by these columns would need an index per column and a keyset
//!   over them in the store, or reading every row for every page.
//! - **Type** and **Status** are the same for every entry today (only OAuth2 Client Credentials
//!   exist, and they are deployed when stored), so they are not sortable.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use maud::{Markup, html};
use secmat_store::{CredentialRecord, ListQuery, STATUS_DEPLOYED};

use super::layout::{self, Frame, Nav};
use super::overview::runtime;
use super::{Fields, RUNTIMES, Visitor, query};
use crate::auth::Role;
use crate::state::AppState;

/// Entries per page.
pub const PAGE: u32 = 25;
/// Starting points of earlier pages kept in *Previous* links (bounds the URL's length).
pub const MAX_BACK: usize = 30;
/// How the UI names the only type there is.
pub const TYPE_LABEL: &str = "OAuth2 Client Credentials";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    DeployedBy,
    DeployedOn,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Sort {
    column: Column,
    descending: bool,
}

impl Sort {
    fn parse(s: Option<&str>) -> Self {
        let s = s.unwrap_or("name");
        let (descending, key) = match s.strip_prefix('-') {
            Some(k) => (true, k),
            None => (false, s),
        };
        let column = match key {
            "deployedBy" => Column::DeployedBy,
            "deployedOn" => Column::DeployedOn,
            _ => Column::Name,
        };
        Sort { column, descending }
    }

    fn param(self) -> String {
        let key = match self.column {
            Column::Name => "name",
            Column::DeployedBy => "deployedBy",
            Column::DeployedOn => "deployedOn",
        };
        if self.descending {
            format!("-{key}")
        } else {
            key.to_owned()
        }
    }
}

/// Where the list stands: everything its links must carry.
#[derive(Clone)]
struct View {
    runtime: &'static str,
    filter: Option<String>,
    sort: Sort,
    /// Keyset: the last name before this page.
    after: Option<String>,
    /// Keyset: the `after` of earlier pages, oldest first ("" = the first page).
    back: Vec<String>,
    /// 1-based page number.
    page: u64,
}

impl View {
    fn from_query(q: &Fields, runtime: &'static str) -> Self {
        let filter = q
            .get("q")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        View {
            runtime,
            filter,
            sort: Sort::parse(q.get("sort")),
            after: q.get("after").filter(|s| !s.is_empty()).map(str::to_owned),
            back: q.all("back").map(str::to_owned).collect(),
            page: q.get("p").and_then(|p| p.parse().ok()).unwrap_or(1).max(1),
        }
    }

    /// The list URL for `sort`, starting at `after` with `back` behind it, as page `page`.
    fn href(&self, sort: Sort, after: Option<&str>, back: &[String], page: u64) -> String {
        let sort = sort.param();
        let page = page.to_string();
        let mut pairs = vec![("runtime", self.runtime)];
        if let Some(f) = &self.filter {
            pairs.push(("q", f));
        }
        if sort != "name" {
            pairs.push(("sort", &sort));
        }
        if let Some(a) = after {
            pairs.push(("after", a));
        }
        for b in back {
            pairs.push(("back", b));
        }
        if page != "1" {
            pairs.push(("p", &page));
        }
        format!("/ui/security-material?{}", query(&pairs))
    }

    fn first(&self, sort: Sort) -> String {
        self.href(sort, None, &[], 1)
    }
}

/// One page of records, and whether there are pages before and after it.
struct Page {
    records: Vec<CredentialRecord>,
    total: u64,
    next: Option<String>,
    prev: Option<String>,
}

async fn fetch(state: &AppState, v: &View) -> Result<Page, secmat_store::StoreError> {
    let total = state.store.count_credentials(v.filter.as_deref()).await?;
    let mut q = ListQuery {
        after: None,
        offset: 0,
        limit: PAGE,
        name_contains: v.filter.clone(),
    };
    if v.sort.column == Column::Name && v.sort.descending {
        // Counted from the end; see the module docs.
        let end = total.saturating_sub((v.page - 1).saturating_mul(u64::from(PAGE)));
        let start = end.saturating_sub(u64::from(PAGE));
        q.offset = start;
        q.limit = u32::try_from(end - start).unwrap_or(PAGE);
        let mut records = if q.limit == 0 {
            Vec::new()
        } else {
            state.store.list_credentials(&q).await?
        };
        records.reverse();
        return Ok(Page {
            records,
            total,
            next: (start > 0).then(|| v.href(v.sort, None, &[], v.page + 1)),
            prev: (v.page > 1).then(|| v.href(v.sort, None, &[], v.page - 1)),
        });
    }
    q.after = v.after.clone();
    q.limit = PAGE + 1; // one more tells whether there is a next page
    let mut records = state.store.list_credentials(&q).await?;
    let more = records.len() > PAGE as usize;
    records.truncate(PAGE as usize);
    let next = match records.last() {
        Some(last) if more => {
            let mut back = v.back.clone();
            back.push(v.after.clone().unwrap_or_default());
            let drop = back.len().saturating_sub(MAX_BACK);
            back.drain(..drop);
            Some(v.href(v.sort, Some(&last.spec.name), &back, v.page + 1))
        }
        _ => None,
    };
    let prev = v.after.as_ref().map(|_| match v.back.split_last() {
        Some((start, rest)) => v.href(
            v.sort,
            Some(start.as_str()).filter(|s| !s.is_empty()),
            rest,
            v.page.saturating_sub(1).max(1),
        ),
        None => v.first(v.sort),
    });
    match (v.sort.column, v.sort.descending) {
        (Column::DeployedBy, d) => records.sort_by(|a, b| {
            let o = a.deployed_by.cmp(&b.deployed_by);
            if d { o.reverse() } else { o }.then_with(|| a.spec.name.cmp(&b.spec.name))
        }),
        (Column::DeployedOn, d) => records.sort_by(|a, b| {
            let o = a.deployed_on.cmp(&b.deployed_on);
            if d { o.reverse() } else { o }.then_with(|| a.spec.name.cmp(&b.spec.name))
        }),
        (Column::Name, _) => {}
    }
    Ok(Page {
        records,
        total,
        next,
        prev,
    })
}

/// `GET /ui/security-material?runtime=cloud[&q=…][&sort=…][&after=…&back=…][&p=N]`
pub async fn list(State(state): State<Arc<AppState>>, visitor: Visitor, uri: Uri) -> Response {
    if let Err(r) = visitor.require(Role::MonitoringDataRead, "read security material") {
        return r;
    }
    let q = Fields::of_query(&uri);
    let runtime = runtime(&q).unwrap_or(RUNTIMES[0].0);
    let view = View::from_query(&q, runtime);
    let page = match fetch(&state, &view).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "store failed");
            return layout::unavailable(Some(&visitor));
        }
    };
    let crumbs = [
        ("Home", "/ui/".to_owned()),
        (
            "Integrations and APIs",
            format!(
                "/ui/monitor/integrations?{}",
                query(&[("runtime", runtime)])
            ),
        ),
    ];
    let frame = Frame {
        title: "Security Material",
        visitor: Some(&visitor),
        nav: Nav::Integrations,
        crumbs: &crumbs,
    };
    let content = render(&visitor, &view, &page);
    layout::respond(StatusCode::OK, layout::page(&frame, content))
}

fn render(visitor: &Visitor, v: &View, page: &Page) -> Markup {
    let pages = page.total.div_ceil(u64::from(PAGE)).max(1);
    let can_edit = visitor.may(Role::CredentialsEdit);
    let within_page = v.sort.column != Column::Name;
    html! {
        div.toolbar {
            form.search method="get" action="/ui/security-material" role="search" {
                input type="hidden" name="runtime" value=(v.runtime);
                @if v.sort != Sort::parse(None) {
                    input type="hidden" name="sort" value=(v.sort.param());
                }
                div.field.inline {
                    label for="filter" { "Filter by name" }
                    input #filter type="search" name="q" value=[v.filter.as_deref()] autocomplete="off";
                }
                button.button type="submit" { "Filter" }
                @if v.filter.is_some() {
                    a.button.transparent href=(View { filter: None, ..v.clone() }.first(v.sort)) { "Clear filter" }
                }
            }
            @if can_edit {
                (add_menu())
            }
        }
        div.card.table-card {
            p.table-summary #list-summary {
                strong { (page.total) } @if page.total == 1 { " artifact" } @else { " artifacts" }
                @if let Some(f) = &v.filter { " whose name contains “" (f) "”" }
                " · runtime " (v.runtime)
                @if page.total > 0 { " · page " (v.page) " of " (pages) }
            }
            @if within_page {
                p.note #sort-note {
                    "Sorted by " (column_label(v.sort.column)) " within this page only; pages follow the names in alphabetical order."
                }
            }
            @if page.records.is_empty() {
                p.empty {
                    @if v.filter.is_some() { "No security material matches this filter." }
                    @else { "No security material is deployed yet." @if can_edit { " Choose Add to deploy OAuth2 client credentials." } }
                }
            } @else {
                div.table-scroll {
                    table.list.stack #material-table aria-describedby="list-summary" {
                        caption.sr-only { "Security material, sorted by " (column_label(v.sort.column)) (if v.sort.descending { ", descending" } else { ", ascending" }) }
                        thead {
                            tr {
                                (sort_header(v, Column::Name))
                                th.unsortable scope="col" { "Type" }
                                th.unsortable scope="col" { "Status" }
                                (sort_header(v, Column::DeployedBy))
                                (sort_header(v, Column::DeployedOn))
                                @if can_edit { th.unsortable scope="col" { span.sr-only { "Actions" } } }
                            }
                        }
                        tbody {
                            @for r in &page.records {
                                (row(r, can_edit))
                            }
                        }
                    }
                }
            }
            @if page.prev.is_some() || page.next.is_some() {
                nav.pager aria-label="Pages" {
                    @if v.page > 2 || (page.prev.is_some() && v.back.is_empty() && v.after.is_some()) {
                        a.button.transparent href=(v.first(v.sort)) { "First page" }
                    }
                    @if let Some(p) = &page.prev { a.button href=(p) rel="prev" { "Previous" } }
                    @if let Some(n) = &page.next { a.button href=(n) rel="next" { "Next" } }
                }
            }
        }
    }
}

fn column_label(c: Column) -> &'static str {
    match c {
        Column::Name => "Name",
        Column::DeployedBy => "Deployed By",
        Column::DeployedOn => "Deployed On",
    }
}

fn sort_header(v: &View, column: Column) -> Markup {
    let current = v.sort.column == column;
    let next = Sort {
        column,
        // A click on the current column flips it; a new column starts ascending.
        descending: current && !v.sort.descending,
    };
    let aria = current.then_some(if v.sort.descending {
        "descending"
    } else {
        "ascending"
    });
    let arrow = match (current, v.sort.descending) {
        (false, _) => "",
        (true, false) => " ▲",
        (true, true) => " ▼",
    };
    html! {
        th scope="col" aria-sort=[aria] {
            a.sort href=(v.first(next)) {
                (column_label(column))
                span aria-hidden="true" { (arrow) }
                span.sr-only { ", sort " (if next.descending { "descending" } else { "ascending" }) }
            }
        }
    }
}

fn row(r: &CredentialRecord, can_edit: bool) -> Markup {
    let name = &r.spec.name;
    let q = query(&[("name", name)]);
    html! {
        tr {
            th scope="row" { a href={ "/ui/security-material/view?" (q) } { (name) } }
            td data-label="Type" { (TYPE_LABEL) }
            td data-label="Status" {
                @if r.status == STATUS_DEPLOYED {
                    span.status.deployed { "Deployed" }
                } @else {
                    span.status { (r.status) }
                }
            }
            td data-label="Deployed By" { (r.deployed_by) }
            td data-label="Deployed On" { (layout::time(r.deployed_on)) }
            @if can_edit {
                td.actions {
                    a.link-button href={ "/ui/security-material/edit?" (q) } { "Edit" span.sr-only { " " (name) } }
                    a.link-button.danger href={ "/ui/security-material/delete?" (q) } { "Delete" span.sr-only { " " (name) } }
                }
            }
        }
    }
}

/// The *Add* button: a disclosure listing the types that can be added (one today).
fn add_menu() -> Markup {
    html! {
        details.menu #add-menu {
            summary.button.primary { "Add" }
            div.menu-panel {
                p.menu-title #add-type { "Type" }
                ul aria-labelledby="add-type" {
                    li { a #add-oauth2 href="/ui/security-material/add/oauth2-client-credentials" { (TYPE_LABEL) } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_parameters_round_trip() {
        for s in [
            "name",
            "-name",
            "deployedBy",
            "-deployedBy",
            "deployedOn",
            "-deployedOn",
        ] {
            assert_eq!(Sort::parse(Some(s)).param(), s);
        }
        assert_eq!(Sort::parse(Some("bogus")).param(), "name");
    }

    #[test]
    fn links_keep_filter_and_runtime_and_cap_the_back_stack() {
        let q = Fields::parse(b"runtime=cloud&q=a%26b&after=x&back=&back=m&p=3");
        let v = View::from_query(&q, "cloud");
        assert_eq!(v.back, vec!["".to_owned(), "m".to_owned()]);
        let href = v.href(v.sort, Some("y"), &v.back, 4);
        assert_eq!(
            href,
            "/ui/security-material?runtime=cloud&q=a%26b&after=y&back=&back=m&p=4"
        );
    }
}
