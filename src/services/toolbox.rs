//! An agent's toolbox: the active tools its budget enables, as
//! `GET /products/fetch` pages them and MCP's `tools/list` lists them.

use std::sync::Arc;

use crate::app::AppInner;
use crate::catalog::Product;
use crate::id::BudgetId;
use crate::store::StoreError;

/// The active tools `budget_id` enables, in catalog order. Read from the
/// budget cache (see `cache`), so a change made on another node shows
/// within its poll interval. A budget that no longer exists enables none.
pub async fn enabled(app: &AppInner, budget_id: BudgetId) -> Result<Vec<Arc<Product>>, StoreError> {
    let Some(policy) = app.caches.budget(budget_id).await? else {
        return Ok(Vec::new());
    };
    Ok(app
        .catalog
        .snapshot()
        .products
        .iter()
        .filter(|p| p.is_active() && policy.enables(p.id()))
        .cloned()
        .collect())
}
